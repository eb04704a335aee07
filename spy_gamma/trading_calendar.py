"""NYSE trading days (exchange-calendars' XNYS): the partitions, the analysis window and holidays."""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

import exchange_calendars as xcals
import pandas as pd

_FIRST, _LAST = dt.date(2020, 1, 2), dt.date(2027, 12, 31)


@lru_cache(maxsize=1)
def _session_set() -> frozenset[dt.date]:
    return frozenset(_sessions())


@lru_cache(maxsize=1)
def _sessions() -> tuple[dt.date, ...]:
    calendar = xcals.get_calendar("XNYS", start=_FIRST.isoformat(), end=_LAST.isoformat())
    return tuple(ts.date() for ts in calendar.sessions)


def trading_days(start: dt.date, end: dt.date) -> list[dt.date]:
    """NYSE sessions in [start, end]."""
    return [d for d in _sessions() if start <= d <= end]


def is_trading_day(day: dt.date) -> bool:
    """True when NYSE holds a regular or early-close session that day."""
    return day in _session_set()


def last_trading_day(on_or_before: dt.date) -> dt.date:
    """The latest session at or before a date (a weekend analysis date resolves to Friday)."""
    return max(d for d in _sessions() if d <= on_or_before)


def next_trading_day(after: dt.date) -> dt.date:
    """The first session strictly after a date."""
    return min(d for d in _sessions() if d > after)


def analysis_window(analysis_date: dt.date, calendar_days: int = 30) -> list[dt.date]:
    """Sessions in the ``calendar_days`` ending on the analysis date (inclusive), oldest first."""
    return trading_days(analysis_date - dt.timedelta(days=calendar_days), analysis_date)


def weekday_holidays(start: dt.date, end: dt.date) -> list[dt.date]:
    """Weekdays in [start, end] on which NYSE is closed (partition exclusions)."""
    weekdays = pd.bdate_range(start, end).date
    open_days = set(trading_days(start, end))
    return [d for d in weekdays if d not in open_days]
