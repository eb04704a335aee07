"""Time to expiry in ACT/365 years, measured from each timestamp to 16:00 ET on the expiry day (ARCHITECTURE §3)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import polars as pl

NEW_YORK = ZoneInfo("America/New_York")
NS_PER_YEAR = 365.0 * 86_400 * 1_000_000_000
MIN_TTE_YEARS = 60.0 / (365.0 * 86_400)  # one minute: the floor for prints in the last minute


def expiry_close_ns(expiry: dt.date) -> int:
    """Epoch nanoseconds of 16:00 America/New_York on the expiry date (SPY options stop trading then)."""
    close = dt.datetime.combine(expiry, dt.time(16, 0), tzinfo=NEW_YORK)
    return int(close.timestamp()) * 1_000_000_000


def session_close_ns(day: dt.date) -> int:
    """Epoch nanoseconds of the 16:00 ET close of a trading day."""
    return expiry_close_ns(day)


def tte_years_expr(timestamp_ns: pl.Expr, expiry: pl.Expr) -> pl.Expr:
    """Polars expression: years from ``timestamp_ns`` to 16:00 ET of ``expiry`` (a Date column), floored at 1 minute."""
    close = (expiry.cast(pl.Datetime("ns")) + pl.duration(hours=16)).dt.replace_time_zone(
        "America/New_York", ambiguous="earliest").dt.epoch("ns")
    return ((close - timestamp_ns) / NS_PER_YEAR).clip(lower_bound=MIN_TTE_YEARS)


def tte_years(timestamp_ns: int, expiry: dt.date) -> float:
    """Scalar version of :func:`tte_years_expr`."""
    return max((expiry_close_ns(expiry) - timestamp_ns) / NS_PER_YEAR, MIN_TTE_YEARS)
