"""Spot through the session without look-ahead, and the intraday dealer flow valued at it (hand-built bars)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest
from vollib.black_scholes_merton.greeks import analytical as vollib

from spy_gamma.quant.expiry_time import session_close_ns
from spy_gamma.quant.intraday import intraday_dealer_flow
from spy_gamma.quant.spot import close_spot, spot_at

DAY = dt.date(2025, 10, 3)
CLOSE = session_close_ns(DAY)
MINUTE = 60 * 10**9
OPEN = CLOSE - 390 * MINUTE  # 09:30 ET


def et(hour: int, minute: int, second: int = 0) -> int:
    """Epoch ns of a New York wall-clock time on DAY (EDT, UTC-4)."""
    return OPEN + ((hour - 9) * 3600 + (minute - 30) * 60 + second) * 10**9


def bars() -> pl.DataFrame:
    """Bar i of the session (09:30 + i min) opens at 600 + i - 0.5 and closes at 600 + i; 09:00 pre-market and
    16:00 post-market bars at 555 and 700 that a regular-session spot must ignore."""
    rows = [(OPEN + i * MINUTE, 600.0 + i - 0.5, 600.0 + i) for i in range(390)]
    rows += [(et(9, 0), 555.0, 555.0), (CLOSE, 700.0, 700.0)]
    return pl.DataFrame(rows, schema=["window_start", "open", "close"], orient="row")


def test_spot_is_the_last_completed_regular_bar():
    moments = pl.Series([et(9, 30, 20), et(10, 0, 30), et(10, 1), et(16, 5), et(9, 0, 30)])
    # 09:30:20: no bar has completed -> the 09:30 bar's open, 599.5
    # 10:00:30: inside the 10:00 bar (i = 30, close 630); the last completed is 09:59 (i = 29) -> 629
    # 10:01:00: the 10:00 bar completes exactly then -> 630
    # 16:05: after the close -> the 15:59 bar (i = 389) -> 989; the 16:00 post-market bar (700) is ignored
    # 09:00:30: pre-market -> the session's opening price 599.5, never the 09:00 pre-market bar's 555
    assert spot_at(bars(), moments, DAY).tolist() == [599.5, 629.0, 630.0, 989.0, 599.5]
    assert close_spot(bars(), DAY) == 989.0
    with pytest.raises(ValueError, match="no regular-session"):
        close_spot(bars().filter(pl.col("window_start") < OPEN), DAY)


def test_intraday_flow_values_each_print_at_the_spot_before_it():
    # Dealers sell 10 calls K=630 at 10:00:30 (spot 629, not the 630 of the bar that holds the print) and buy
    # 5 puts K=625 at 10:01:00 (spot 630). Expected $ delta from vollib's BSM delta at those spots.
    tte1, tte2 = 0.02, 0.0199
    classified = pl.DataFrame({
        "ticker": ["O:SPY251010C00630000", "O:SPY251010P00625000"],
        "sip_timestamp": [et(10, 0, 30), et(10, 1)], "dealer_sign": [-1, 1], "size": [10, 5],
        "strike": [630.0, 625.0], "right": ["C", "P"], "tte_years": [tte1, tte2]})
    chain = pl.DataFrame({"ticker": ["O:SPY251010C00630000", "O:SPY251010P00625000"], "iv": [0.15, 0.18]})
    r, q = 0.04, 0.01
    flow = intraday_dealer_flow(classified, bars(), chain, DAY, r, q)
    assert flow["spot"].to_list() == [629.0, 630.0]
    first = -10 * 100 * vollib.delta("c", 629.0, 630.0, tte1, r, 0.15, q) * 629.0
    second = 5 * 100 * vollib.delta("p", 630.0, 625.0, tte2, r, 0.18, q) * 630.0
    assert flow["cum_dealer_delta_usd"].to_numpy() == pytest.approx(np.cumsum([first, second]), rel=1e-9)
    gamma = -10 * 100 * vollib.gamma("c", 629.0, 630.0, tte1, r, 0.15, q) * 629.0**2 * 0.01
    assert flow["cum_dealer_gamma_usd"][0] == pytest.approx(gamma, rel=1e-9)
