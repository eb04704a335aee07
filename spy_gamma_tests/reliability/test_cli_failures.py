"""A failing ``spy-gamma run``: one line saying what and where, the traceback in a log file whose path is printed,
exit 1; a failed day is never visible in the lake, a later run does not reuse it, and once the fault is gone a
run gives the results of the run that never faulted (``reference``)."""

from __future__ import annotations

import datetime as dt
import gzip
import json

import pytest
from polars.testing import assert_frame_equal

from spy_gamma.lake import Lake
from spy_gamma.settings import SIM_END
from spy_gamma.trading_calendar import last_trading_day, next_trading_day
from spy_gamma_tests.reliability.conftest import (
    FLOAT_NOISE,
    WINDOW,
    Workspace,
    assert_one_line_error,
    assert_same_results,
    lake_tables,
    leftovers,
    spy_gamma,
    wrote_no_output,
)

pytestmark = pytest.mark.slow  # whole pipeline runs in subprocesses

CUT_DAY = WINDOW[1]
# The cut file's asset and every daily asset built on it (spy_spot and open_interest read their own files).
FROM_TRADES = ("spy_trades", "spy_quotes", "classified_trades", "contract_flows", "vote_groups", "session_quality",
               "contract_iv")


def catalog_days(workspace, table: str) -> set[dt.date]:
    """The days a DuckDB reader of the catalog sees in a table's view (none when the view does not exist)."""
    lake = Lake(workspace.data)
    if table not in lake.query("select view_name from duckdb_views()")["view_name"].to_list():
        return set()
    return set(lake.query(f'select distinct date from "{table}"')["date"])


def test_a_cut_day_file_fails_in_one_line_is_never_reused_and_the_restored_file_gives_the_reference(
        reference, tmp_path):
    workspace = reference.workspace.clone(tmp_path)
    trades = workspace.flatfile("trades", CUT_DAY)
    whole = trades.read_bytes()
    trades.write_bytes(whole[: len(whole) // 2])

    failed = spy_gamma(workspace)
    log = assert_one_line_error(failed, "error: spy_trades: ", f"{trades}: truncated gzip")
    assert log.parent == workspace.data / "logs" and "DataError" in log.read_text()
    assert wrote_no_output(workspace) and leftovers(workspace) == []
    for table in FROM_TRADES:  # the failed day is nowhere: no file, no row in a view
        assert not (workspace.lake / table / f"{CUT_DAY}.parquet").exists(), table
        assert CUT_DAY not in catalog_days(workspace, table), table
    stored, clean = lake_tables(workspace), lake_tables(reference.workspace)
    assert stored and set(stored) < set(clean)
    for name, frame in stored.items():  # what the failed run did store is what a clean run stores
        assert_frame_equal(frame, clean[name], rel_tol=FLOAT_NOISE, abs_tol=0.0)

    reusing = spy_gamma(workspace, *workspace.run_args(), "--skip-download")  # the as-of alone, on what is there
    assert_one_line_error(reusing, f"contract_flows has no partition in the window {WINDOW[0]}..{WINDOW[-1]}")
    assert wrote_no_output(workspace)

    trades.write_bytes(whole)
    assert spy_gamma(workspace).returncode == 0
    assert_same_results(workspace, reference.workspace)


def test_a_date_outside_the_data_is_a_clear_error_not_a_calendar_crash(reference, tmp_path):
    """2027-12-31 used to fail with ``min() arg is an empty sequence`` (a hard-coded session list ending in 2027)."""
    workspace = reference.workspace.clone(tmp_path)
    failed = spy_gamma(workspace, *workspace.run_args("--date", "2027-12-31", "--expiry", "2028-01-03"))
    assert_one_line_error(failed, "2027-12-31 is not a partition: the partitions run from 2025-09-15")
    assert wrote_no_output(workspace)


@pytest.mark.parametrize(("header", "shown"), [
    (b"\xef\xbb\xbfticker", r"\ufeffticker"),  # a UTF-8 byte-order mark
    (b"tick\x1b[31mer", r"\x1b[31m"),  # an ANSI colour escape
    (b"tick\xe9r", r"0xe9 is not UTF-8"),  # Latin-1, not UTF-8
], ids=["BOM", "ANSI escape", "non-UTF-8"])
def test_a_strange_header_is_shown_escaped_with_file_and_line(reference, tmp_path, header, shown):
    workspace = reference.workspace.clone(tmp_path)
    trades = workspace.flatfile("trades", WINDOW[0])
    rows = gzip.decompress(trades.read_bytes())
    trades.write_bytes(gzip.compress(header + rows[rows.index(b","):]))
    failed = spy_gamma(workspace)
    log = assert_one_line_error(failed, f"{trades}, line 1", shown)
    assert "\x1b" not in failed.stderr and "\x1b" not in log.read_text()  # no raw escape reaches a terminal


@pytest.mark.parametrize(("errno_name", "reason"), [("ENOSPC", "No space left on device"),
                                                     ("EROFS", "Read-only file system")])
def test_a_full_or_read_only_disk_names_the_partition_and_changes_nothing(reference, tmp_path, errno_name, reason):
    """The failed write leaves exactly the reference's lake and outputs (it started from a copy of them)."""
    workspace = reference.workspace.clone(tmp_path, with_state=True)
    partition = workspace.lake / "classified_trades" / f"{CUT_DAY}.parquet"
    before = partition.read_bytes()
    failed = spy_gamma(workspace, *workspace.run_args(), "--refresh",  # rebuild the sessions the lake holds
                       fault=("--fail", "classified_trades", CUT_DAY.isoformat(), errno_name))
    assert_one_line_error(failed, f"{partition}: could not write classified_trades partition {CUT_DAY} ({reason})")
    assert partition.read_bytes() == before
    assert leftovers(workspace) == []
    assert_same_results(workspace, reference.workspace)


def test_a_date_after_today_on_the_embedded_market_fails_before_simulating_anything(tmp_path):
    """A mistyped year used to simulate every session up to it (years: gigabytes, minutes) and only then fail."""
    workspace = Workspace(tmp_path)
    later = last_trading_day(dt.date.today() + dt.timedelta(days=3 * 365))
    failed = spy_gamma(workspace, "--data-dir", str(workspace.data), "run", "--source", "simulated",
                       "--date", later.isoformat(), "--output", str(workspace.output))
    assert_one_line_error(failed, f"{later} is after today: the embedded market is simulated up to today at most")
    assert not (workspace.data / "flatfiles").exists() and wrote_no_output(workspace)


def test_a_date_past_the_embedded_markets_range_extends_it_on_the_first_run(tmp_path):
    """The partitions used to be read before the simulated range was widened: the first such run simulated the
    sessions and then failed with "is not a partition" (the second run worked)."""
    workspace = Workspace(tmp_path)
    later = next_trading_day(next_trading_day(SIM_END))
    finished = spy_gamma(workspace, "--data-dir", str(workspace.data), "run", "--source", "simulated",
                         "--date", later.isoformat(), "--output", str(workspace.output))
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert json.loads((workspace.output / "analysis_summary.json").read_text())["as_of"] == later.isoformat()
