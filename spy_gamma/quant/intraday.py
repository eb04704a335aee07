"""The latest session's dealer flow through the day: cumulative $ delta and $ gamma dealers took on."""

from __future__ import annotations

import numpy as np
import polars as pl

from spy_gamma.quant.contracts import MULTIPLIER
from spy_gamma.quant.greeks import bsm_greeks


def intraday_dealer_flow(classified: pl.DataFrame, spot_bars: pl.DataFrame, chain: pl.DataFrame,
                         r: float, q: float) -> pl.DataFrame:
    """Per trade in time order: ``sip_timestamp, cum_dealer_delta_usd, cum_dealer_gamma_usd``.

    Each print is valued at the minute bar's close before it and the contract's closing vol; dealer units are
    ``dealer_sign * size * 100``; $ delta = units*delta*S, $ gamma = units*gamma*S^2*1% (ARCHITECTURE §4).
    """
    bars = spot_bars.select(pl.col("window_start").alias("bar_start"), pl.col("close").alias("spot")).sort("bar_start")
    vols = chain.select("ticker", "iv")
    flow = (classified.filter(pl.col("dealer_sign") != 0).sort("sip_timestamp")
            .join_asof(bars, left_on="sip_timestamp", right_on="bar_start", strategy="backward")
            .with_columns(pl.col("spot").fill_null(strategy="forward").fill_null(strategy="backward"))
            .join(vols, on="ticker", how="left").filter(pl.col("iv").is_not_null()))
    if flow.is_empty():
        return pl.DataFrame(schema={"sip_timestamp": pl.Int64, "cum_dealer_delta_usd": pl.Float64,
                                    "cum_dealer_gamma_usd": pl.Float64})
    spot = flow["spot"].to_numpy()
    greeks = bsm_greeks(spot, flow["strike"].to_numpy(), flow["tte_years"].to_numpy(), r, q,
                        flow["iv"].to_numpy(), (flow["right"] == "C").to_numpy())
    units = (flow["dealer_sign"].cast(pl.Float64) * flow["size"].cast(pl.Float64)).to_numpy() * MULTIPLIER
    return pl.DataFrame({"sip_timestamp": flow["sip_timestamp"],
                         "cum_dealer_delta_usd": np.cumsum(units * greeks["delta"] * spot),
                         "cum_dealer_gamma_usd": np.cumsum(units * greeks["gamma"] * spot ** 2 * 0.01)})
