"""Dealer GEX worked from first principles for the report tests: positions x 100 x BSM gamma x S^2 x 1%.

Gamma is written out here, not taken from ``spy_gamma.quant``: gamma = exp(-qT) n(d1) / (S sigma sqrt T),
d1 = (ln(S/K) + (r - q + sigma^2/2) T) / (sigma sqrt T) (Hull, Options, Futures and Other Derivatives, ch. 19).
"""

from __future__ import annotations

import numpy as np
import polars as pl


def bsm_gamma(spot: float, strike, tte_years, r: float, q, sigma) -> np.ndarray:
    """Per-share BSM gamma; NaN where sigma or T is unusable."""
    strike, tte, q, sigma = (np.asarray(v, dtype=np.float64) for v in (strike, tte_years, q, sigma))
    with np.errstate(divide="ignore", invalid="ignore"):
        root_t = sigma * np.sqrt(tte)
        d1 = (np.log(spot / strike) + (r - q + 0.5 * sigma**2) * tte) / root_t
        return np.exp(-q * tte) * np.exp(-0.5 * d1**2) / np.sqrt(2 * np.pi) / (spot * root_t)


def hand_gex(positions: pl.DataFrame, inputs: pl.DataFrame, spot: float, r: float) -> pl.DataFrame:
    """``positions`` (ticker, expiry, strike, right, dealer_position) joined to the pricing inputs the pipeline
    used (ticker -> iv, tte_years, carry_q), with ``hand_gex`` in $ per 1% move (0 where gamma is NaN)."""
    book = positions.join(inputs.select("ticker", "iv", "tte_years", "carry_q"), on="ticker", how="left")
    gamma = bsm_gamma(spot, book["strike"], book["tte_years"], r, book["carry_q"], book["iv"])
    gex = book["dealer_position"].to_numpy() * 100 * gamma * spot**2 * 0.01
    return book.with_columns(pl.Series("hand_gex", np.nan_to_num(gex, nan=0.0)))
