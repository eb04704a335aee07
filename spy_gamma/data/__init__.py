"""Reference data shipped with spy-gamma (SPY ex-dividend dates and amounts), read by ``spy_gamma.sources``."""
