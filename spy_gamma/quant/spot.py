"""SPY's price from its minute bars: the regular session, the spot known at any instant, the closing spot.

Polygon's ``minute_aggs_v1`` files also carry pre-market (04:00-09:30 ET) and after-hours (16:00-20:00 ET) bars.
A minute bar (``window_start`` ns, 1 minute) is known only once it has closed, so the spot at a moment t is the
close of the last regular-session bar with window_start + 60 s <= t: no print or mark is valued at a price from
its own future. The spot at a close is the last bar that starts before it (16:00 ET, 13:00 on early closes).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from spy_gamma.trading_calendar import session_close_ns, session_open_ns

BAR_NS = 60 * 1_000_000_000


def label_sessions(bars: pl.DataFrame, day: dt.date) -> pl.DataFrame:
    """Add ``session``: ``pre`` before the open, ``regular`` for bars starting in [open, close), ``post`` after."""
    start = pl.col("window_start")
    return bars.with_columns(
        pl.when(start < session_open_ns(day)).then(pl.lit("pre"))
        .when(start < session_close_ns(day)).then(pl.lit("regular"))
        .otherwise(pl.lit("post")).alias("session"))


def regular_session_bars(bars: pl.DataFrame, day: dt.date) -> pl.DataFrame:
    """The bars starting in [open, close) on ``day`` in time order, with ``bar_end`` (when each is known)."""
    start = pl.col("window_start")
    return (bars.filter((start >= session_open_ns(day)) & (start < session_close_ns(day)))
            .sort("window_start")
            .with_columns((start + BAR_NS).alias("bar_end")))


def spot_at(bars: pl.DataFrame, timestamps_ns: pl.Series, day: dt.date) -> np.ndarray:
    """SPY spot at each timestamp: the close of the last completed regular-session bar at or before it.

    Before the first bar completes (09:30-09:31) the session's opening price stands in. Raises ValueError
    when the day has no regular-session bar.
    """
    regular = regular_session_bars(bars, day)
    if regular.is_empty():
        raise ValueError(f"no regular-session SPY minute bars on {day}")
    moments = pl.DataFrame({"moment": timestamps_ns.cast(pl.Int64)}).with_row_index("order")
    joined = (moments.sort("moment")
              .join_asof(regular, left_on="moment", right_on="bar_end", strategy="backward")
              .sort("order"))
    return joined["close"].fill_null(regular["open"][0]).to_numpy()


def close_spot(bars: pl.DataFrame, day: dt.date) -> float:
    """SPY spot at the session close: the close of the last regular-session minute bar (ARCHITECTURE §3)."""
    return float(spot_at(bars, pl.Series([session_close_ns(day)]), day)[0])
