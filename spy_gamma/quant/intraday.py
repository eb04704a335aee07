"""The session's dealer flow through the day: cumulative $ delta and $ gamma, each print valued without look-ahead."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from spy_gamma.quant.contracts import MULTIPLIER
from spy_gamma.quant.greeks import bsm_greeks
from spy_gamma.quant.spot import spot_at


def intraday_dealer_flow(classified: pl.DataFrame, spot_bars: pl.DataFrame, chain: pl.DataFrame,
                         day: dt.date, r: float, q: float) -> pl.DataFrame:
    """Per trade in time order: ``sip_timestamp, spot, cum_dealer_delta_usd, cum_dealer_gamma_usd``.

    Each print is valued at :func:`spot_at` its own time (the last completed minute bar, never the bar it
    falls in) with the contract's closing vol and the scalar q (the chain's ``carry_q`` is measured over each
    expiry's life at the close, ill-conditioned for the same-day expiries that dominate the tape); dealer units are ``dealer_sign * size * 100``; $ delta = units*delta*S, $ gamma = units*gamma*S^2*1%
    (ARCHITECTURE §4).
    """
    vols = chain.select("ticker", "iv")
    flow = (classified.filter(pl.col("dealer_sign") != 0).sort("sip_timestamp")
            .join(vols, on="ticker", how="left").filter(pl.col("iv").is_not_null()))
    if flow.is_empty():
        return pl.DataFrame(schema={"sip_timestamp": pl.Int64, "spot": pl.Float64, "cum_dealer_delta_usd": pl.Float64,
                                    "cum_dealer_gamma_usd": pl.Float64})
    spot = spot_at(spot_bars, flow["sip_timestamp"], day)
    greeks = bsm_greeks(spot, flow["strike"].to_numpy(), flow["tte_years"].to_numpy(), r, q,
                        flow["iv"].to_numpy(), (flow["right"] == "C").to_numpy())
    units = (flow["dealer_sign"].cast(pl.Float64) * flow["size"].cast(pl.Float64)).to_numpy() * MULTIPLIER
    return pl.DataFrame({"sip_timestamp": flow["sip_timestamp"], "spot": spot,
                         "cum_dealer_delta_usd": np.cumsum(units * greeks["delta"] * spot),
                         "cum_dealer_gamma_usd": np.cumsum(units * greeks["gamma"] * spot ** 2 * 0.01)})
