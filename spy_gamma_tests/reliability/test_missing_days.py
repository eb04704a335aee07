"""A day's files missing: a holiday is not a partition, a trading day without its file is not published yet,
and a day without quotes stays unquoted (never invented) with the coverage warning on the dashboard."""

from __future__ import annotations

import json
import logging
from datetime import date

import dagster as dg
import polars as pl
import pytest

from spy_gamma.defs.partitions import trading_days_partitions
from spy_gamma.settings import Settings
from spy_gamma.sources.day_files import quotes_for_day, require
from spy_gamma.sources.errors import SourceError
from spy_gamma.sources.flatfiles import LocalFlatFiles, S3FlatFiles
from spy_gamma.trading_calendar import sessions_ending
from spy_gamma_tests.reliability.conftest import WINDOW, assert_one_line_error, leftovers, spy_gamma, wrote_no_output

LABOR_DAY = date(2025, 9, 1)  # Monday, NYSE closed


def test_a_holiday_is_neither_a_partition_nor_a_window_day(tmp_path):
    settings = Settings(data_dir=tmp_path, source="s3", partitions_start=date(2025, 8, 1))
    partitions = trading_days_partitions(settings, today=date(2025, 9, 30))
    # By hand: Fri 08-29, (Sat, Sun, Labor Day Mon), Tue 09-02, Wed 09-03.
    keys = partitions.get_partition_keys_in_range(dg.PartitionKeyRange("2025-08-29", "2025-09-03"))
    assert keys == ["2025-08-29", "2025-09-02", "2025-09-03"]
    assert not partitions.has_partition_key(LABOR_DAY.isoformat())
    assert sessions_ending(date(2025, 9, 3), 3) == [date(2025, 8, 29), date(2025, 9, 2), date(2025, 9, 3)]


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
def test_a_day_without_quotes_is_unquoted_never_invented_and_the_dashboard_says_so(reference, tmp_path):
    """No quote file and no REST key: the day's prints stay unquoted (never invented quotes); the run finishes
    and the summary's data-quality block carries the coverage warning (checks warn, they never stop a run)."""
    workspace = reference.workspace.clone(tmp_path)
    workspace.flatfile("quotes", WINDOW[0]).unlink()
    finished = spy_gamma(workspace, POLYGON_API_KEY="")
    assert finished.returncode == 0, finished.stderr[-3000:]
    classified = {day: pl.read_parquet(workspace.lake / "classified_trades" / f"{day}.parquet") for day in WINDOW}
    assert classified[WINDOW[0]].height > 0 and set(classified[WINDOW[0]]["quote_state"]) == {"unquoted"}
    quality = json.loads((workspace.output / "analysis_summary.json").read_text())["data_quality"]
    # At most the other two days' prints are quoted: by hand from the classified partitions' row counts.
    prints = {day: frame.height for day, frame in classified.items()}
    assert quality["prints"] == sum(prints.values())
    assert quality["quoted_pct"] <= 100 * (prints[WINDOW[1]] + prints[WINDOW[2]]) / sum(prints.values()) + 1e-9
    assert {check["check"]: check["status"] for check in quality["checks"]}["quote_coverage"] == "WARN"
    assert any(warning.startswith("quote coverage: ") for warning in quality["warnings"])


@pytest.mark.slow
def test_a_missing_session_in_the_window_says_which_file_and_writes_no_output(reference, tmp_path):
    workspace = reference.workspace.clone(tmp_path)
    missing = workspace.flatfile("minute_aggs", WINDOW[2])
    missing.unlink()
    failed = spy_gamma(workspace)
    assert_one_line_error(failed, f"{missing}: no minute_aggs flat file for trading day {WINDOW[2]}: "
                                  "not published yet")
    assert wrote_no_output(workspace) and leftovers(workspace) == []
    assert not (workspace.lake / "spy_spot" / f"{WINDOW[2]}.parquet").exists()
