"""Analytics: dealer $ exposures at the as-of close, the gamma profile and its levels, the GEX surface, structure."""


import json

import dagster as dg
import polars as pl

from spy_gamma.defs.classify.assets import dealer_positions
from spy_gamma.defs.greeks.assets import contract_iv
from spy_gamma.defs.lake_io import open_interest_around
from spy_gamma.defs.metadata import preview
from spy_gamma.defs.resources import AnalysisConfig, LakeResource
from spy_gamma.quant.book import dealer_book, open_interest_book
from spy_gamma.quant.exposure import (
    contract_exposures,
    exposures_by_strike,
    gamma_flip,
    hedging_flows,
    max_pain,
    walls,
)
from spy_gamma.quant.exposure import gamma_profile as profile_over_grid
from spy_gamma.quant.exposure import gex_surface as surface_over_days
from spy_gamma.quant.structure import levels, patterns, regime

ANALYTICS = dict(group_name="analytics", owners=["team:spy-gamma"], kinds={"numpy", "parquet"})


def as_of_spot(config: AnalysisConfig, chain: pl.DataFrame) -> float:
    """The spot the book is priced at: the user's override, else SPY's close on the as-of day."""
    return config.spot_override or float(chain["spot"][0])


@dg.asset(**ANALYTICS, deps=[dealer_positions, contract_iv])
def dealer_exposures(config: AnalysisConfig, lake: LakeResource) -> dg.MaterializeResult:
    """Per-contract Greeks and dealer GEX/DEX/VEX/CEX at the as-of close, and their sums by expiry and strike."""
    store = lake.lake
    chain = store.read("contract_iv", config.as_of)
    positions = store.read("dealer_positions").filter(pl.col("date") == config.as_of)
    spot = as_of_spot(config, chain)
    exposures = contract_exposures(dealer_book(positions, chain), spot, config.rate, config.dividend_yield)
    by_strike = exposures_by_strike(exposures)
    store.write("dealer_exposures", "window", exposures)
    store.write("exposures_by_strike", "window", by_strike)
    return dg.MaterializeResult(metadata={
        "contracts": len(exposures), "spot": spot, "total_gex_usd": float(exposures["gex"].sum()),
        "total_dex_usd": float(exposures["dex"].sum()), "missing_iv": int(exposures["iv"].is_null().sum()),
        "preview": preview(by_strike.sort(pl.col("net_gex").abs(), descending=True),
                           columns=["expiry", "strike", "call_gex", "put_gex", "net_gex"])})


@dg.asset(**ANALYTICS, deps=[dealer_exposures])
def gamma_profile(config: AnalysisConfig, lake: LakeResource) -> dg.MaterializeResult:
    """Total dealer GEX re-priced over a +-7% spot grid; the flip, walls, max pain and hedging flows."""
    store = lake.lake
    exposures, by_strike = store.read("dealer_exposures"), store.read("exposures_by_strike")
    spot = as_of_spot(config, store.read("contract_iv", config.as_of))
    r, q = config.rate, config.dividend_yield
    profile = profile_over_grid(exposures, spot, r, q)
    oi_today, oi_next = open_interest_around(store, config.as_of)
    pain = max_pain(open_interest_book(exposures, oi_next if oi_next is not None else oi_today))
    levels_row = {"spot": spot, "total_gex": float(exposures["gex"].sum()),
                  "gamma_flip": gamma_flip(exposures, spot, r, q, profile), **walls(by_strike)}
    store.write("gamma_profile", "window", profile)
    store.write("gamma_levels", "window", pl.DataFrame([levels_row]))
    store.write("max_pain", "window", pl.DataFrame({"expiry": list(pain), "max_pain": list(pain.values())}))
    store.write("hedging_flows", "window", hedging_flows(exposures, spot, r, q))
    return dg.MaterializeResult(metadata={
        **{k: v for k, v in levels_row.items() if v is not None},
        "max_pain": {str(k): v for k, v in pain.items()}, "grid_points": len(profile)})


@dg.asset(**ANALYTICS, deps=[dealer_positions, contract_iv])
def gex_surface(config: AnalysisConfig, lake: LakeResource) -> dg.MaterializeResult:
    """Dealer net GEX by strike at every close of the window (positions and vols as of each close)."""
    store = lake.lake
    positions = store.read("dealer_positions")
    days = [d for d in config.window if store.exists("contract_iv", d)]
    chains = {day: store.read("contract_iv", day) for day in days}
    books = pl.concat([dealer_book(positions.filter(pl.col("date") == day), chain).with_columns(pl.lit(day).alias("date"))
                       for day, chain in chains.items()], how="diagonal_relaxed")
    surface = surface_over_days(books, {day: float(chain["spot"][0]) for day, chain in chains.items()},
                                config.rate, config.dividend_yield)
    store.write("gex_surface", "window", surface)
    return dg.MaterializeResult(metadata={"days": len(days), "rows": len(surface)})


@dg.asset(**ANALYTICS, deps=[dealer_exposures, gamma_profile])
def market_structure(config: AnalysisConfig, lake: LakeResource) -> dg.MaterializeResult:
    """Dealer-perspective regime, support/resistance levels and positioning patterns, as JSON."""
    store = lake.lake
    exposures, levels_row = store.read("dealer_exposures"), store.read("gamma_levels").row(0, named=True)
    spot, flip = levels_row["spot"], levels_row["gamma_flip"]
    structure = {"regime": regime(exposures, spot, flip), "levels": levels(exposures, spot, flip),
                 "patterns": patterns(exposures, spot)}
    payload = json.dumps(structure, default=_jsonable)
    store.write("market_structure", "window", pl.DataFrame({"as_of": [config.as_of], "structure_json": [payload]}))
    return dg.MaterializeResult(metadata={"regime": json.loads(payload)["regime"].get("label", ""),
                                          "structure": dg.MetadataValue.json(json.loads(payload))})


def _jsonable(value):
    """Dataclasses, dates and numpy scalars as JSON."""
    import dataclasses
    import datetime as dt

    if dataclasses.is_dataclass(value):
        return dataclasses.asdict(value)
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")
