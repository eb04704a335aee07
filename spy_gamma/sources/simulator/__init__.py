"""The embedded simulated market: Polygon-layout flat files plus a ``truth/`` folder (ARCHITECTURE §6)."""

from spy_gamma.sources.simulator.simulate import SimulationSummary, simulate_market

__all__ = ["SimulationSummary", "simulate_market"]
