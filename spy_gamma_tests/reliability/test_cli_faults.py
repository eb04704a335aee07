"""Faults during ``spy-gamma run``: a damaged day file, SIGKILL mid-write, a full disk, two runs at once.

Each case checks the exit code and message, that nothing stored before is lost or half-written, and that
re-running once the fault is gone gives the results of the run that never faulted (``reference``). The SIGKILL
and disk-full cases start from a copy of the reference's data dir, so the SIGKILL re-run also proves
idempotence: a run over earlier state gives the same results as a run from nothing.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import time
from pathlib import Path

import duckdb
import polars as pl
import pytest

from spy_gamma.lake import Lake
from spy_gamma.pipeline import dagster_instance
from spy_gamma_tests.reliability.conftest import (
    WINDOW,
    assert_same_results,
    lake_tables,
    leftovers,
    output_files,
    run_cli,
    start_cli,
)
from spy_gamma_tests.reliability.faults import disk_full, partial_write

pytestmark = pytest.mark.slow  # whole pipeline runs

CUT_DAY = dt.date(2025, 9, 17)


def test_half_cut_trades_file_fails_naming_it_and_the_restored_file_reproduces_the_reference(
        reference, tmp_path, monkeypatch, capsys):
    workspace = reference.clone(tmp_path, with_state=False)
    trades = workspace.flatfile("trades", CUT_DAY)
    whole = trades.read_bytes()
    trades.write_bytes(whole[: len(whole) // 2])

    assert run_cli(monkeypatch, workspace) == 1
    message = capsys.readouterr().err
    assert f"{trades}: truncated gzip" in message
    assert leftovers(workspace) == []
    assert not workspace.output.exists()
    for table in ("spy_trades", "spy_quotes", "classified_trades", "contract_iv"):
        assert not (workspace.lake / table / f"{CUT_DAY}.parquet").exists(), table
    lake_tables(workspace)  # whatever the failed run did write reads back whole

    trades.write_bytes(whole)
    assert run_cli(monkeypatch, workspace) == 0
    assert_same_results(workspace, reference)


def wait_for(marker: Path, process: subprocess.Popen, timeout_s: float = 300) -> None:
    """Until the subprocess reaches its stall point (fails with its stderr if it exits first)."""
    deadline = time.monotonic() + timeout_s
    while not marker.exists():
        if process.poll() is not None:
            pytest.fail(f"run exited {process.returncode} before the stall point:\n{process.stderr.read()}")
        if time.monotonic() > deadline:
            os.killpg(process.pid, signal.SIGKILL)
            pytest.fail("run never reached the stall point")
        time.sleep(0.1)


def test_sigkill_mid_partition_write_loses_nothing_and_rerun_reproduces_the_reference(
        reference, tmp_path, monkeypatch):
    workspace = reference.clone(tmp_path)
    marker = tmp_path / "stalled"
    process = start_cli(workspace, "--stall", "open_interest", CUT_DAY.isoformat(), str(marker))
    wait_for(marker, process)
    os.killpg(process.pid, signal.SIGKILL)
    assert process.wait(timeout=30) == -signal.SIGKILL

    (orphan,) = (workspace.lake / "open_interest").glob(f".{CUT_DAY}.*.tmp")  # killed mid-write...
    with pytest.raises(pl.exceptions.PolarsError):
        pl.read_parquet(orphan)  # ...of a half-written file
    assert Lake(workspace.data).days("open_interest") == Lake(reference.data).days("open_interest")  # unseen
    visible = lake_tables(workspace)
    for name, frame in lake_tables(reference).items():  # every partition stored before is intact
        assert visible[name].equals(frame), name
    with duckdb.connect(str(workspace.data / "spy_gamma.duckdb"), read_only=True) as catalog:
        rows = catalog.execute("select count(*) from open_interest").fetchone()[0]
    assert rows == sum(len(f) for n, f in visible.items() if n.startswith("open_interest/"))
    assert output_files(workspace) == output_files(reference)

    assert run_cli(monkeypatch, workspace) == 0
    assert not orphan.exists()  # the dead writer's temp file is swept by the next write
    assert leftovers(workspace) == []
    assert_same_results(workspace, reference)


def test_disk_full_mid_write_names_the_partition_and_leaves_the_reference_state(reference, tmp_path, monkeypatch,
                                                                                capsys):
    """The failed write leaves exactly the reference's lake and outputs: the state the SIGKILL test re-runs from."""
    workspace = reference.clone(tmp_path)
    day = WINDOW[1]
    partition = workspace.lake / "classified_trades" / f"{day}.parquet"
    before = partition.read_bytes()
    monkeypatch.setattr(pl.DataFrame, "write_parquet", partial_write("classified_trades", day.isoformat(), disk_full))
    assert run_cli(monkeypatch, workspace) == 1
    message = capsys.readouterr().err
    assert f"{partition}: could not write classified_trades partition {day} (No space left on device)" in message
    assert partition.read_bytes() == before
    assert leftovers(workspace) == []
    assert_same_results(workspace, reference)


def test_two_runs_of_the_same_partitions_at_once_both_succeed_with_the_reference_results(
        reference, tmp_path, monkeypatch):
    workspace = reference.clone(tmp_path, with_state=False)
    monkeypatch.setenv("DAGSTER_HOME", str(workspace.data / "dagster_home"))
    dagster_instance(workspace.data)  # created beforehand: two first runs race on its schema (Known gaps)
    runs = [start_cli(workspace) for _ in range(2)]
    finished = [run.communicate(timeout=900) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], [stderr[-3000:] for _, stderr in finished]
    assert leftovers(workspace) == []
    assert_same_results(workspace, reference)
