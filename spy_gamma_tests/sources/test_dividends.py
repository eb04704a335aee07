"""The shipped SPY ex-dividend table: totals against its sources' own yearly sums, dates, and a strict reader."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from spy_gamma.sources.dividends import read_ex_dividends
from spy_gamma.sources.errors import DataError


def test_yearly_totals_match_the_sources_stated_sums():
    # growbeansprout.com states calendar-year totals: 2024 $7.06504, 2023 $6.633813 (the latter from 5-decimal
    # amounts here, so to 1e-5).
    table = read_ex_dividends()
    totals = dict(table.group_by(pl.col("ex_date").dt.year()).agg(pl.col("amount").sum()).iter_rows())
    assert totals[2024] == pytest.approx(7.06504, abs=1e-6)
    assert totals[2023] == pytest.approx(6.633813, abs=1e-5)


def test_published_dates_are_quarterly_third_fridays_and_estimates_come_last():
    table = read_ex_dividends()
    published = table.filter(pl.col("status") == "published")
    assert published.height == 27 and published["ex_date"].min() == dt.date(2019, 3, 15)
    assert all(d.weekday() == 4 and 15 <= d.day <= 21 and d.month % 3 == 0 for d in published["ex_date"])
    assert published["amount"].is_between(1.2, 2.0).all()
    estimated = table.filter(pl.col("status") == "estimated")
    assert estimated["ex_date"].min() > published["ex_date"].max()
    assert dt.date(2023, 9, 15) in published["ex_date"].to_list()  # the ex-date right after the Cboe 2023 sample


@pytest.mark.parametrize(("rows", "field"), [
    ("2024-03-15,1.59,published\n2024-03-15,1.76,published\n", "ex_date"),   # repeated date
    ("2024-06-21,1.76,published\n2024-03-15,1.59,published\n", "ex_date"),   # out of order
    ("2024-03-15,-1.59,published\n", "amount"),
    ("2024-03-15,1.59,guessed\n", "status"),
])
def test_a_malformed_table_is_refused_naming_the_field(tmp_path, rows, field):
    path = tmp_path / "dividends.csv"
    path.write_text("# header\nex_date,amount,status\n" + rows)
    with pytest.raises(DataError) as error:
        read_ex_dividends(path)
    assert error.value.field == field


def test_an_unparsable_table_is_a_data_error(tmp_path):
    path = tmp_path / "dividends.csv"
    path.write_text("ex_date,amount,status\nMarch,lots,published\n")
    with pytest.raises(DataError):
        read_ex_dividends(path)
