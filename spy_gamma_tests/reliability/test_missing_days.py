"""A day's files missing: a holiday is not a partition, a trading day without its file is not published yet,
and a day without quotes stays unquoted until the blocking quote-coverage check stops the run."""

from __future__ import annotations

import logging
from datetime import date

import dagster as dg
import polars as pl
import pytest

from spy_gamma.defs.partitions import trading_days
from spy_gamma.defs.resources import AnalysisConfig
from spy_gamma.sources.day_files import quotes_for_day, require
from spy_gamma.sources.errors import SourceError
from spy_gamma.sources.flatfiles import LocalFlatFiles, S3FlatFiles
from spy_gamma_tests.reliability.conftest import WINDOW, leftovers, run_cli

LABOR_DAY = date(2025, 9, 1)  # Monday, NYSE closed


def test_a_holiday_is_neither_a_partition_nor_a_window_day():
    # By hand: Fri 08-29, (Sat, Sun, Labor Day Mon), Tue 09-02, Wed 09-03.
    keys = trading_days.get_partition_keys_in_range(dg.PartitionKeyRange("2025-08-29", "2025-09-03"))
    assert keys == ["2025-08-29", "2025-09-02", "2025-09-03"]
    assert not trading_days.has_partition_key(LABOR_DAY.isoformat())
    window = AnalysisConfig(analysis_date="2025-09-03", window_calendar_days=5).window
    assert window == [date(2025, 8, 29), date(2025, 9, 2), date(2025, 9, 3)]


def test_missing_file_says_holiday_or_not_published_with_where_it_was_looked_for(tmp_path):
    empty = LocalFlatFiles(tmp_path)
    with pytest.raises(SourceError, match="2025-09-01 is not an NYSE trading day"):
        require(empty, "trades", LABOR_DAY)
    with pytest.raises(SourceError) as missing:
        require(empty, "minute_aggs", date(2025, 9, 2))
    path = tmp_path / "us_stocks_sip/minute_aggs_v1/2025/09/2025-09-02.csv.gz"
    assert str(missing.value).startswith(f"{path}: no minute_aggs flat file for trading day 2025-09-02: "
                                         "not published yet")
    s3 = S3FlatFiles(client=None, cache_dir=tmp_path)
    assert s3.location("trades", date(2025, 9, 2)) == (
        "s3://flatfiles/us_options_opra/trades_v1/2025/09/2025-09-02.csv.gz")


def test_no_quote_file_and_no_api_key_leaves_the_day_unquoted_with_a_warning(tmp_path, monkeypatch, caplog):
    monkeypatch.delenv("POLYGON_API_KEY", raising=False)
    trades = pl.DataFrame({"ticker": ["O:SPY250922C00660000", "O:SPY250922P00650000"]})
    with caplog.at_level(logging.WARNING):
        quotes = quotes_for_day(LocalFlatFiles(tmp_path), WINDOW[0], trades)
    assert (quotes.origin, quotes.frame.height) == ("none", 0)
    assert "quotes_v1/2025/09/2025-09-17.csv.gz: no quote flat file and no POLYGON_API_KEY" in caplog.text
    assert "the 2 trades of 2025-09-17 stay unquoted" in caplog.text


@pytest.mark.slow
def test_trading_day_without_its_trades_file_stops_the_run_naming_the_file(reference, tmp_path, monkeypatch,
                                                                          capsys):
    workspace = reference.clone(tmp_path, with_state=False)
    missing = workspace.flatfile("trades", WINDOW[1])
    missing.unlink()
    assert run_cli(monkeypatch, workspace) == 1
    message = capsys.readouterr().err
    assert f"{missing}: no trades flat file for trading day {WINDOW[1]}: not published yet" in message
    assert not workspace.output.exists() and leftovers(workspace) == []
    assert not (workspace.lake / "classified_trades" / f"{WINDOW[1]}.parquet").exists()


@pytest.mark.slow
def test_day_without_quotes_is_unquoted_and_quote_coverage_stops_everything_downstream(
        reference, tmp_path, monkeypatch, capsys):
    workspace = reference.clone(tmp_path, with_state=False)
    workspace.flatfile("quotes", WINDOW[0]).unlink()
    assert run_cli(monkeypatch, workspace) == 1
    assert "blocking asset check failed" in capsys.readouterr().err.replace("\n", " ")
    classified = pl.read_parquet(workspace.lake / "classified_trades" / f"{WINDOW[0]}.parquet")
    assert classified.height > 0 and set(classified["quote_state"]) == {"unquoted"}  # never invented quotes
    assert not (workspace.lake / "classified_trades" / f"{WINDOW[1]}.parquet").exists()
    assert not (workspace.lake / "dealer_positions").exists() and not workspace.output.exists()
