"""Which OI file the as-of close reads: the next session's once published, else the session's own, else none."""

from __future__ import annotations

import datetime as dt

import polars as pl

from spy_gamma.defs.analytics.assets import closing_open_interest
from spy_gamma.lake import Lake

AS_OF, NEXT = dt.date(2025, 10, 3), dt.date(2025, 10, 6)  # a Friday and the Monday after


def oi_file(open_interest: int) -> pl.DataFrame:
    return pl.DataFrame({"ticker": ["O:SPY251010C00670000"], "open_interest": [open_interest]})


def test_the_next_sessions_file_is_the_close_and_wins_once_published(tmp_path):
    lake = Lake(tmp_path)
    lake.write("open_interest", AS_OF, oi_file(100))
    lake.write("open_interest", NEXT, oi_file(250))
    day, frame = closing_open_interest(lake, AS_OF)
    assert (day, frame["open_interest"].to_list()) == (NEXT, [250])


def test_before_it_is_published_the_previous_closes_oi_stands_and_says_so(tmp_path):
    lake = Lake(tmp_path)
    lake.write("open_interest", AS_OF, oi_file(100))
    day, frame = closing_open_interest(lake, AS_OF)
    assert (day, frame["open_interest"].to_list()) == (AS_OF, [100])


def test_no_oi_file_is_none_not_zero(tmp_path):
    assert closing_open_interest(Lake(tmp_path), AS_OF) is None
