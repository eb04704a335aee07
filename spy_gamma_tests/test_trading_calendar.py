"""The NYSE calendar against dates checked by hand on NYSE's published holiday and early-close lists."""

from __future__ import annotations

import datetime as dt

import pytest

from spy_gamma.trading_calendar import (
    CalendarRangeError,
    analysis_window,
    is_early_close,
    is_trading_day,
    last_trading_day,
    next_trading_day,
    previous_trading_day,
    session_close_ns,
    session_open_ns,
    sessions_ending,
    trading_days,
    weekday_holidays,
)

UTC = dt.UTC


def utc_ns(*fields: int) -> int:
    """Epoch ns of a UTC wall-clock time (ET = UTC-4 in summer, UTC-5 in winter)."""
    return int(dt.datetime(*fields, tzinfo=UTC).timestamp()) * 1_000_000_000


def test_2025_holidays_and_session_count():
    # NYSE 2025: New Year, the Jan 9 closure for President Carter, MLK, Presidents, Good Friday, Memorial,
    # Juneteenth, Independence, Labor, Thanksgiving, Christmas. 261 weekdays - 11 = 250 sessions.
    holidays = [dt.date(2025, m, d) for m, d in ((1, 1), (1, 9), (1, 20), (2, 17), (4, 18), (5, 26), (6, 19),
                                                (7, 4), (9, 1), (11, 27), (12, 25))]
    assert weekday_holidays(dt.date(2025, 1, 1), dt.date(2025, 12, 31)) == holidays
    assert len(trading_days(dt.date(2025, 1, 1), dt.date(2025, 12, 31))) == 250
    assert not is_trading_day(dt.date(2025, 4, 18)) and is_trading_day(dt.date(2025, 4, 17))


def test_default_simulated_window_has_26_sessions():
    # 2025-09-05..2025-10-10: Friday Sep 5 plus five full weeks, no holiday in between
    assert len(trading_days(dt.date(2025, 9, 5), dt.date(2025, 10, 10))) == 26


def test_years_beyond_the_old_hard_coded_list():
    # 2027-12-31 is a Friday session (New Year 2028 falls on a Saturday and is not observed); the next is Mon Jan 3
    assert last_trading_day(dt.date(2027, 12, 31)) == dt.date(2027, 12, 31)
    assert next_trading_day(dt.date(2027, 12, 31)) == dt.date(2028, 1, 3)
    # 1999: Dec 31 closed at 13:00 (Y2K); Jan 1 2000 was a Saturday, Jan 3 the first session of 2000
    assert last_trading_day(dt.date(2000, 1, 2)) == dt.date(1999, 12, 31) and is_early_close(dt.date(1999, 12, 31))
    assert next_trading_day(dt.date(1999, 12, 31)) == dt.date(2000, 1, 3)
    # 9/11: closed Sep 11-14 2001, reopened Monday Sep 17
    assert next_trading_day(dt.date(2001, 9, 10)) == dt.date(2001, 9, 17)


def test_neighbouring_sessions_and_windows():
    # Labor Day Monday 2025-09-01: the session before Tuesday Sep 2 is Friday Aug 29
    assert previous_trading_day(dt.date(2025, 9, 2)) == dt.date(2025, 8, 29)
    assert previous_trading_day(dt.date(2025, 8, 29)) == dt.date(2025, 8, 28)
    assert last_trading_day(dt.date(2025, 10, 5)) == dt.date(2025, 10, 3)  # Sunday -> Friday
    assert next_trading_day(dt.date(2025, 10, 3)) == dt.date(2025, 10, 6)
    assert sessions_ending(dt.date(2025, 10, 5), 3) == [dt.date(2025, 10, d) for d in (1, 2, 3)]
    assert sessions_ending(dt.date(2025, 9, 2), 2) == [dt.date(2025, 8, 29), dt.date(2025, 9, 2)]
    assert sessions_ending(dt.date(2025, 10, 3), 1) == [dt.date(2025, 10, 3)]
    assert analysis_window(dt.date(2025, 10, 5), 7) == [dt.date(2025, 9, d) for d in (29, 30)] + [
        dt.date(2025, 10, d) for d in (1, 2, 3)]


def test_open_and_close_times_including_early_closes():
    assert session_open_ns(dt.date(2025, 10, 10)) == utc_ns(2025, 10, 10, 13, 30)  # 09:30 EDT
    assert session_close_ns(dt.date(2025, 10, 10)) == utc_ns(2025, 10, 10, 20, 0)  # 16:00 EDT
    assert session_open_ns(dt.date(2025, 3, 7)) == utc_ns(2025, 3, 7, 14, 30)  # 09:30 EST, before DST (Mar 9)
    assert session_open_ns(dt.date(2025, 3, 10)) == utc_ns(2025, 3, 10, 13, 30)
    # early closes at 13:00 ET: Thursday July 3, the Friday after Thanksgiving, Christmas Eve
    assert session_close_ns(dt.date(2025, 7, 3)) == utc_ns(2025, 7, 3, 17, 0)
    assert session_close_ns(dt.date(2025, 11, 28)) == utc_ns(2025, 11, 28, 18, 0)
    assert session_close_ns(dt.date(2025, 12, 24)) == utc_ns(2025, 12, 24, 18, 0)
    early = [d for d in trading_days(dt.date(2025, 1, 1), dt.date(2025, 12, 31)) if is_early_close(d)]
    assert early == [dt.date(2025, 7, 3), dt.date(2025, 11, 28), dt.date(2025, 12, 24)]
    with pytest.raises(ValueError, match="not an NYSE session"):
        session_close_ns(dt.date(2025, 10, 4))


@pytest.mark.parametrize("call", [
    lambda: last_trading_day(dt.date(1985, 6, 3)), lambda: next_trading_day(dt.date(2150, 1, 1)),
    lambda: trading_days(dt.date(1989, 12, 1), dt.date(1990, 2, 1)), lambda: is_trading_day(dt.date(1900, 1, 2)),
    lambda: previous_trading_day(dt.date(1990, 1, 2)), lambda: sessions_ending(dt.date(1990, 1, 5), 10),
])
def test_outside_the_supported_range_is_a_clear_error(call):
    with pytest.raises(CalendarRangeError, match=r"1990-01-01.*2099-12-31|before 1990-01-01|supported range"):
        call()
    assert issubclass(CalendarRangeError, ValueError)
