"""Lake reads the stages share: a day's table if materialized, the window's days, the session after a day."""

from __future__ import annotations

import datetime as dt

import polars as pl

from spy_gamma.lake import Lake
from spy_gamma.trading_calendar import next_trading_day


def read_if_present(lake: Lake, table: str, day: dt.date) -> pl.DataFrame | None:
    """A day's partition, or None when it was never materialized (e.g. next day's OI not yet published)."""
    return lake.read(table, day) if lake.exists(table, day) else None


def open_interest_around(lake: Lake, day: dt.date) -> tuple[pl.DataFrame | None, pl.DataFrame | None]:
    """Start-of-day open interest of ``day`` and of the next session (None where not materialized)."""
    return read_if_present(lake, "open_interest", day), read_if_present(lake, "open_interest", next_trading_day(day))


def open_interest_panel(lake: Lake, day: dt.date) -> pl.DataFrame | None:
    """``date, ticker, open_interest`` for ``day`` and the next session: the pair open/close inference needs."""
    days = [day, next_trading_day(day)]
    panel = lake.read_days("open_interest", days, missing_ok=True)
    return None if panel.is_empty() else panel.select("date", "ticker", "open_interest")
