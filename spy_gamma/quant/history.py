"""Levels against what the next session did: a plain backtest of the as-of levels.

On the embedded simulated market prices do not react to dealer hedging, so there this only proves the plumbing;
on real data it shows whether walls held, price closed near max pain, and long-gamma days ranged less.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from spy_gamma.quant.spot import regular_session_bars


def backtest_row(levels: dict, next_bars: pl.DataFrame | None, next_session: dt.date) -> dict:
    """The next session's regular-session open/high/low/close beside the levels set at the close before it.

    ``put_wall_held``: the low stayed at or above the put wall; ``call_wall_held``: the high stayed at or below
    the call wall; ``range_pct``: (high - low) / previous close; ``close_vs_max_pain_pct``: close against the
    front expiry's max pain; all null when the next session is not known yet.
    """
    base = {"next_session": next_session, "regime": levels["regime"], "spot": levels["spot"],
            "put_wall": levels["put_wall"], "call_wall": levels["call_wall"], "gamma_flip": levels["gamma_flip"],
            "front_max_pain": levels["front_max_pain"]}
    regular = regular_session_bars(next_bars, next_session) if next_bars is not None else None
    if regular is None or regular.is_empty():
        return {**base, **dict.fromkeys(("next_open", "next_high", "next_low", "next_close", "range_pct",
                                         "put_wall_held", "call_wall_held", "close_vs_max_pain_pct",
                                         "close_above_flip"))}
    high, low = float(regular["high"].max()), float(regular["low"].min())
    close, spot = float(regular["close"][-1]), levels["spot"]
    pain, flip = levels["front_max_pain"], levels["gamma_flip"]
    return {**base, "next_open": float(regular["open"][0]), "next_high": high, "next_low": low, "next_close": close,
            "range_pct": 100.0 * (high - low) / spot,
            "put_wall_held": None if levels["put_wall"] is None else low >= levels["put_wall"],
            "call_wall_held": None if levels["call_wall"] is None else high <= levels["call_wall"],
            "close_vs_max_pain_pct": None if pain is None else 100.0 * (close / pain - 1.0),
            "close_above_flip": None if flip is None else close > flip}
