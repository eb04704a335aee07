"""What each level and figure on the reports means, stated once (ARCHITECTURE §4) and shown everywhere."""

from __future__ import annotations

from spy_gamma.quant.uncertainty import N_DRAWS

LEVEL_DEFINITIONS = {
    "total_gex": (
        "Total dealer GEX: sum over contracts of dealer_position x 100 x gamma x S^2 x 0.01, the $ delta "
        "dealers gain per 1% spot move. Positive: dealers long gamma, they sell rallies and buy dips."
    ),
    "gamma_flip": (
        "Gamma flip (zero-gamma level): the spot where total dealer GEX, re-priced with each contract's own "
        "implied vol and time held fixed, crosses zero; nearest crossing to spot."
    ),
    "call_wall": (
        "Call wall: the strike with the largest |dealer GEX| from calls, with its sign "
        "(positive: dealers dampen moves there; negative: they amplify)."
    ),
    "put_wall": "Put wall: the strike with the largest |dealer GEX| from puts, with its sign.",
    "abs_gamma_strike": (
        "Absolute gamma strike: the strike with the largest |net dealer GEX|, calls and puts together."
    ),
    "gamma_centroid": (
        "Gamma centroid: the |net dealer GEX|-weighted mean strike, where dealer hedging concentrates."
    ),
    "max_pain": (
        "Max pain (per expiry): the settlement price minimizing the total intrinsic value owed on open "
        "contracts of that expiry."
    ),
    "regime": (
        "Regime (dealer perspective): long gamma at spot means hedging dampens moves (pinning); short gamma "
        "means hedging amplifies them (trending, breakout-prone)."
    ),
    "uncertainty_band": (
        f"90% band: positions are estimates, so every headline figure is recomputed over {N_DRAWS} draws of the dealer "
        "book from the signing model; the band runs from the 5th to the 95th percentile (p05-p95). The headline "
        "is the point estimate (the expected book), which can sit off the band's median p50. Shaded on the charts."
    ),
    "prob_dealers_long_gamma": (
        "P(dealers long gamma): the share of those draws in which total dealer GEX at spot is above zero."
    ),
    "uncertain_regime": (
        "Uncertain regime: the 90% band of dealer GEX at spot contains zero, so the data cannot tell whether "
        "dealer hedging dampens or amplifies moves; the point estimate is shown beside it."
    ),
    "level_roles": (
        "Level roles (dealer view): support / resistance where dealers are long gamma, their hedging dampens "
        "moves into the level (they buy dips below spot, sell rallies above); acceleration where they are short "
        "gamma, their hedging amplifies moves through it on either side; pivot is the flip. Strength: |dealer "
        "GEX| at the level over the strongest candidate level, from 0 to 1."
    ),
    "data_quality": (
        "Data-quality checks: each share is compared with a stated limit and marked WARN when outside it "
        "(quote coverage, old quotes, undecided sides, implied-vol solve rate, positions above open interest, "
        "stale closing marks). A WARN never stops the analysis; it says where to trust it less."
    ),
    "hedging_flows": (
        "Hedging flows: the $ of SPY dealers must trade to stay delta-neutral after the shock, re-pricing "
        "every contract (+ = dealers buy, - = dealers sell), with its 90% band over the same draws of the book."
    ),
}

HEDGING_SCENARIOS = {
    "spot_-2pct": "Spot -2%",
    "spot_-1pct": "Spot -1%",
    "spot_-0.5pct": "Spot -0.5%",
    "spot_+0.5pct": "Spot +0.5%",
    "spot_+1pct": "Spot +1%",
    "spot_+2pct": "Spot +2%",
    "vol_+1pt": "Vol +1 pt",
    "vol_-1pt": "Vol -1 pt",
    "one_day_decay": "One day passes",
}


def scenario_label(key: str) -> str:
    """Readable name of a hedging_flows key; unknown keys pass through unchanged."""
    return HEDGING_SCENARIOS.get(key, key.replace("_", " "))
