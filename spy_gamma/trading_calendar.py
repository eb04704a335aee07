"""NYSE trading days (exchange-calendars' XNYS): the partitions, the analysis window, holidays and session times."""

from __future__ import annotations

import bisect
import datetime as dt
from dataclasses import dataclass
from functools import lru_cache

import exchange_calendars as xcals
import numpy as np
import pandas as pd

# XNYS is unbounded in exchange-calendars; this range is what we build. It starts before SPY's listing (1993)
# and any OPRA history, and ends far beyond the longest listed expiry; later years are projected from today's rules.
SUPPORTED_FIRST, SUPPORTED_LAST = dt.date(1990, 1, 1), dt.date(2099, 12, 31)


class CalendarRangeError(ValueError):
    """A date outside the range of the NYSE calendar we build."""


@dataclass(frozen=True)
class _Sessions:
    """Every XNYS session in the supported range, oldest first, with its open and close (epoch ns UTC)."""

    days: tuple[dt.date, ...]
    index: dict[dt.date, int]
    open_ns: np.ndarray
    close_ns: np.ndarray
    early_close: frozenset[dt.date]


@lru_cache(maxsize=1)
def _calendar() -> _Sessions:
    calendar = xcals.get_calendar("XNYS", start=SUPPORTED_FIRST.isoformat(), end=SUPPORTED_LAST.isoformat())
    days = tuple(ts.date() for ts in calendar.sessions)
    return _Sessions(days=days, index={d: i for i, d in enumerate(days)},
                     open_ns=_epoch_ns(calendar.opens), close_ns=_epoch_ns(calendar.closes),
                     early_close=frozenset(ts.date() for ts in calendar.early_closes))


def _epoch_ns(times: pd.Series) -> np.ndarray:
    return times.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy().astype("datetime64[ns]").astype(np.int64)


def _check_range(day: dt.date) -> None:
    if not SUPPORTED_FIRST <= day <= SUPPORTED_LAST:
        raise CalendarRangeError(f"{day.isoformat()} is outside the NYSE calendar's supported range "
                                 f"{SUPPORTED_FIRST.isoformat()} to {SUPPORTED_LAST.isoformat()}")


def _session_index(day: dt.date) -> int:
    """Position of a session in the calendar; ValueError when the exchange is closed that day."""
    _check_range(day)
    position = _calendar().index.get(day)
    if position is None:
        raise ValueError(f"{day.isoformat()} is not an NYSE session")
    return position


def trading_days(start: dt.date, end: dt.date) -> list[dt.date]:
    """NYSE sessions in [start, end]."""
    _check_range(start)
    _check_range(end)
    days = _calendar().days
    return list(days[bisect.bisect_left(days, start):bisect.bisect_right(days, end)])


def is_trading_day(day: dt.date) -> bool:
    """True when NYSE holds a regular or early-close session that day."""
    _check_range(day)
    return day in _calendar().index


def last_trading_day(on_or_before: dt.date) -> dt.date:
    """The latest session at or before a date (a weekend analysis date resolves to Friday)."""
    _check_range(on_or_before)
    days = _calendar().days
    position = bisect.bisect_right(days, on_or_before) - 1
    if position < 0:
        raise CalendarRangeError(f"no NYSE session at or before {on_or_before.isoformat()} in the supported range")
    return days[position]


def previous_trading_day(before: dt.date) -> dt.date:
    """The latest session strictly before a date."""
    return last_trading_day(before - dt.timedelta(days=1))


def next_trading_day(after: dt.date) -> dt.date:
    """The first session strictly after a date."""
    _check_range(after)
    days = _calendar().days
    position = bisect.bisect_right(days, after)
    if position == len(days):
        raise CalendarRangeError(f"no NYSE session after {after.isoformat()} in the supported range")
    return days[position]


def sessions_ending(as_of: dt.date, n: int) -> list[dt.date]:
    """The ``n`` sessions ending at ``as_of`` (inclusive, the last session on or before it), oldest first."""
    days = _calendar().days
    last = bisect.bisect_right(days, last_trading_day(as_of))
    if n > last:
        raise CalendarRangeError(f"{n} sessions ending {as_of.isoformat()} start before {SUPPORTED_FIRST.isoformat()}")
    return list(days[last - n:last])


def analysis_window(analysis_date: dt.date, calendar_days: int = 30) -> list[dt.date]:
    """Sessions in the ``calendar_days`` ending on the analysis date (inclusive), oldest first."""
    return trading_days(analysis_date - dt.timedelta(days=calendar_days), analysis_date)


def weekday_holidays(start: dt.date, end: dt.date) -> list[dt.date]:
    """Weekdays in [start, end] on which NYSE is closed (partition exclusions)."""
    weekdays = pd.bdate_range(start, end).date
    open_days = set(trading_days(start, end))
    return [d for d in weekdays if d not in open_days]


def is_early_close(day: dt.date) -> bool:
    """True on sessions that close early (13:00 ET since 1993: July 3, the day after Thanksgiving, Dec 24)."""
    _check_range(day)
    return day in _calendar().early_close


def session_open_ns(day: dt.date) -> int:
    """Epoch nanoseconds (UTC) of a session's open, 09:30 ET."""
    return int(_calendar().open_ns[_session_index(day)])


def session_close_ns(day: dt.date) -> int:
    """Epoch nanoseconds (UTC) of a session's close: 16:00 ET, or the early close (13:00 ET) from exchange-calendars."""
    return int(_calendar().close_ns[_session_index(day)])


def early_close_times() -> dict[dt.date, dt.time]:
    """Every early close in the supported range and its time in New York (13:00 since 1993, 14:00 before)."""
    sessions = _calendar()
    return {day: _new_york_time(int(sessions.close_ns[sessions.index[day]])) for day in sorted(sessions.early_close)}


def _new_york_time(epoch_ns: int) -> dt.time:
    return pd.Timestamp(epoch_ns, tz="UTC").tz_convert("America/New_York").time()
