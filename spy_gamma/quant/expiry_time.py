"""Time to expiry in ACT/365 years, measured from each timestamp to the expiry day's close (ARCHITECTURE §3).

SPY options stop trading at the session close: 16:00 ET, 13:00 ET on NYSE early-close days.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from zoneinfo import ZoneInfo

import polars as pl

from spy_gamma.trading_calendar import early_close_times, is_early_close, session_close_ns

__all__ = ["MIN_TTE_YEARS", "NEW_YORK", "NS_PER_YEAR", "expiry_close_ns", "session_close_ns", "tte_years",
           "tte_years_expr"]

NEW_YORK = ZoneInfo("America/New_York")
NS_PER_YEAR = 365.0 * 86_400 * 1_000_000_000
MIN_TTE_YEARS = 60.0 / (365.0 * 86_400)  # one minute: the floor for prints in the last minute
REGULAR_CLOSE = dt.time(16, 0)


def expiry_close_ns(expiry: dt.date) -> int:
    """Epoch nanoseconds when options expiring on ``expiry`` stop trading: that session's close (13:00 ET on an
    early close), 16:00 ET when the date is not a session (e.g. a Saturday expiry)."""
    if is_early_close(expiry):
        return session_close_ns(expiry)
    close = dt.datetime.combine(expiry, REGULAR_CLOSE, tzinfo=NEW_YORK)
    return int(close.timestamp()) * 1_000_000_000


@lru_cache(maxsize=1)
def _early_close_minutes() -> tuple[list[dt.date], list[int]]:
    closes = early_close_times()
    return list(closes), [t.hour * 60 + t.minute for t in closes.values()]


def tte_years_expr(timestamp_ns: pl.Expr, expiry: pl.Expr) -> pl.Expr:
    """Polars expression: years from ``timestamp_ns`` to the close of ``expiry`` (a Date column), as
    :func:`expiry_close_ns`, floored at 1 minute."""
    days, minutes = _early_close_minutes()
    close_minute = expiry.replace_strict(days, minutes, default=REGULAR_CLOSE.hour * 60, return_dtype=pl.Int64)
    close = (expiry.cast(pl.Datetime("ns")) + pl.duration(minutes=close_minute)).dt.replace_time_zone(
        "America/New_York", ambiguous="earliest").dt.epoch("ns")
    return ((close - timestamp_ns) / NS_PER_YEAR).clip(lower_bound=MIN_TTE_YEARS)


def tte_years(timestamp_ns: int, expiry: dt.date) -> float:
    """Scalar version of :func:`tte_years_expr`."""
    return max((expiry_close_ns(expiry) - timestamp_ns) / NS_PER_YEAR, MIN_TTE_YEARS)
