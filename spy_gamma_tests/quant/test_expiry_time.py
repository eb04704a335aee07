"""Time to expiry against hours counted by hand, on regular and early-close expiry days."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from spy_gamma.quant.expiry_time import MIN_TTE_YEARS, NEW_YORK, expiry_close_ns, tte_years, tte_years_expr

HOUR_YEARS = 1 / (365 * 24)


def new_york_ns(*fields: int) -> int:
    return int(dt.datetime(*fields, tzinfo=NEW_YORK).timestamp()) * 1_000_000_000


CASES = [  # (timestamp ET, expiry, hours to expiry counted by hand)
    ((2025, 11, 28, 12, 0), dt.date(2025, 11, 28), 1.0),  # 0DTE on the day after Thanksgiving: closes 13:00
    ((2025, 10, 10, 12, 0), dt.date(2025, 10, 10), 4.0),  # 0DTE on a normal Friday: 16:00
    ((2025, 7, 2, 16, 0), dt.date(2025, 7, 3), 21.0),  # to the 13:00 close of July 3
    ((2025, 12, 23, 9, 30), dt.date(2025, 12, 24), 27.5),  # Christmas Eve closes 13:00
    ((2025, 10, 31, 16, 0), dt.date(2025, 11, 3), 73.0),  # over the weekend DST ends: 72 h + 1 h
    ((2014, 12, 19, 15, 0), dt.date(2014, 12, 20), 25.0),  # a Saturday expiry date (pre-2015 monthlies): 16:00
    ((2025, 11, 28, 13, 30), dt.date(2025, 11, 28), 1 / 60),  # after the close: floored at one minute
]


@pytest.mark.parametrize(("when", "expiry", "hours"), CASES)
def test_scalar_tte_in_hours(when, expiry, hours):
    assert tte_years(new_york_ns(*when), expiry) == pytest.approx(hours * HOUR_YEARS, rel=1e-12)


def test_expression_matches_the_hand_counts():
    frame = pl.DataFrame({"ts": [new_york_ns(*w) for w, _, _ in CASES], "expiry": [e for _, e, _ in CASES]})
    got = frame.select(tte_years_expr(pl.col("ts"), pl.col("expiry")).alias("tte"))["tte"].to_list()
    assert got == pytest.approx([h * HOUR_YEARS for _, _, h in CASES], rel=1e-12)
    assert min(got) == pytest.approx(MIN_TTE_YEARS)


def test_expiry_close_instants():
    assert expiry_close_ns(dt.date(2025, 11, 28)) == new_york_ns(2025, 11, 28, 13, 0)
    assert expiry_close_ns(dt.date(2025, 10, 10)) == new_york_ns(2025, 10, 10, 16, 0)
    assert expiry_close_ns(dt.date(1999, 12, 31)) == new_york_ns(1999, 12, 31, 13, 0)  # the Y2K early close
