"""``spy-gamma run`` as a process: Ctrl-C exits 130, SIGKILL leaves no process and no visible half-file behind and a
re-run gives the reference results, and two identical runs at once both succeed with the reference results."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import polars as pl
import pytest

from spy_gamma.lake import Lake
from spy_gamma_tests.reliability.conftest import (
    RUN_TIMEOUT_S,
    WINDOW,
    assert_same_results,
    command,
    lake_tables,
    leftovers,
    spy_gamma,
    start,
)

pytestmark = pytest.mark.slow  # whole pipeline runs in subprocesses

STALL_DAY = WINDOW[1]


def session_members(session_id: int) -> list[int]:
    """Every live process of a session (the CLI was started as a session leader: its workers inherit it)."""
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:  # exited meanwhile
                continue
            if int(fields[3]) == session_id and fields[0] != "Z":  # field 6 of stat: the session id
                members.append(int(entry.name))
    return members


def wait_until(ready, process: subprocess.Popen, what: str, timeout_s: float = RUN_TIMEOUT_S) -> None:
    """Poll ``ready()`` until true; fail with the run's stderr if it exits first."""
    deadline = time.monotonic() + timeout_s
    while not ready():
        if process.poll() is not None:
            pytest.fail(f"run exited {process.returncode} before {what}:\n{process.stderr.read()[-3000:]}")
        if time.monotonic() > deadline:
            os.killpg(process.pid, signal.SIGKILL)
            pytest.fail(f"run never reached {what}")
        time.sleep(0.05)


def test_ctrl_c_exits_130_with_one_line(reference, tmp_path):
    workspace = reference.workspace.clone(tmp_path)
    process = start(workspace)
    wait_until(lambda: any(workspace.lake.glob("*/*.parquet")), process, "its first partition")
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr[-3000:]
    assert "interrupted" in stderr and "Traceback" not in stderr, stderr[-3000:]
    assert leftovers(workspace) == []


def test_sigkill_mid_write_leaves_no_process_nor_visible_half_file_and_the_rerun_gives_the_reference(
        reference, tmp_path):
    workspace = reference.workspace.clone(tmp_path)
    marker = tmp_path / "stalled"
    process = start(workspace, fault=("--stall", "classified_trades", STALL_DAY.isoformat(), str(marker)))
    wait_until(marker.exists, process, "the stall point")
    os.kill(process.pid, signal.SIGKILL)  # the main process only: whatever it started must not outlive it
    assert process.wait(timeout=30) == -signal.SIGKILL
    deadline = time.monotonic() + 30
    while session_members(process.pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert session_members(process.pid) == []

    (orphan,) = (workspace.lake / "classified_trades").glob(f".{STALL_DAY}.*.tmp")  # killed mid-write...
    with pytest.raises(pl.exceptions.PolarsError):
        pl.read_parquet(orphan)  # ...of a half-written file
    assert STALL_DAY not in Lake(workspace.data).keys("classified_trades")  # unseen by the lake's readers
    visible = lake_tables(workspace)
    rows = Lake(workspace.data).query("select count(*) from classified_trades").item()
    assert rows == sum(len(f) for n, f in visible.items() if n.startswith("classified_trades/"))  # nor by views

    assert spy_gamma(workspace).returncode == 0
    assert not orphan.exists()  # the dead writer's temp file is swept by the next write
    assert leftovers(workspace) == []
    assert_same_results(workspace, reference.workspace)


def test_two_identical_runs_at_once_on_a_fresh_data_dir_both_give_the_reference(reference, tmp_path):
    workspace = reference.workspace.clone(tmp_path)
    runs = [start(workspace) for _ in range(2)]
    finished = [run.communicate(timeout=RUN_TIMEOUT_S) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], [stderr[-3000:] for _, stderr in finished]
    assert leftovers(workspace) == []
    assert_same_results(workspace, reference.workspace)


def test_a_concurrent_writers_temporary_report_file_never_reaches_the_output(reference, tmp_path):
    """What two runs at once race on, made deterministic: the lake's report folder holds another writer's temp file."""
    workspace = reference.workspace.clone(tmp_path, with_state=True)
    stray = workspace.data / "reports" / WINDOW[-1].isoformat() / ".plotly.min.js.k3x9q2ab"
    stray.write_bytes(b"half of another run's write")
    finished = spy_gamma(workspace)
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert leftovers(workspace) == []
    assert_same_results(workspace, reference.workspace)


def test_a_run_launched_with_sigterm_ignored_finishes_and_leaves_no_helper_behind(reference, tmp_path):
    """``nohup``-style launchers can leave SIGTERM ignored; Dagster's compute-log ``tail``s would inherit it, survive
    the run and hold its output open (the reader then waits forever)."""
    workspace = reference.workspace.clone(tmp_path)
    process = subprocess.Popen(command(*workspace.run_args()), cwd=workspace.root, env=workspace.environment(),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                               preexec_fn=lambda: signal.signal(signal.SIGTERM, signal.SIG_IGN))
    try:
        _, stderr = process.communicate(timeout=180)  # a clean run takes well under a minute
    finally:
        if session_members(process.pid):  # a hung run's whole session, helpers included
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == 0, stderr[-3000:]
    assert session_members(process.pid) == []
