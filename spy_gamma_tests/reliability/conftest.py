"""A small simulated market, one clean ``spy-gamma run`` on it (shared by the whole session), and helpers to run
the real CLI in a subprocess on copies of it, faulted.

Every end-to-end case runs ``python -m spy_gamma.cli`` (the console script's code) with the settings the product
reads at run time: ``SPY_GAMMA_WINDOW_SESSIONS=3`` (sessions 09-17..09-19 for ``--date 2025-09-19``) and the
market's flat files through ``--source local``. Planted credentials ride along in every run's environment, so
``test_secrets.py`` can scan everything each run wrote or printed.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from spy_gamma.sources.flatfiles import flatfile_key

REPO = Path(__file__).resolve().parents[2]
DATE, EXPIRIES = "2025-09-19", ["2025-09-22", "2025-09-24"]
ANALYSIS = ["--date", DATE, "--expiry", *EXPIRIES]
WINDOW = [dt.date(2025, 9, 17), dt.date(2025, 9, 18), dt.date(2025, 9, 19)]
SIMULATED = (dt.date(2025, 9, 15), dt.date(2025, 9, 22))  # two sessions of history, the window, next day's OI
SCALE = 0.002
RUN_TIMEOUT_S = 600
# Planted in every run: recognisable, so a scan finds them wherever they land.
PLANTED = {"POLYGON_API_KEY": "sk-test-SECRET-api-7f3e9a", "POLYGON_S3_ACCESS_KEY": "AKIATESTSECRETACCESS",
           "POLYGON_S3_SECRET_KEY": "sk-test-SECRET/s3+key=Zq81"}
PLOTLY_DIV_ID = re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
FLOAT_NOISE = 1e-12


@dataclass(frozen=True)
class Workspace:
    """One isolated installation: flat files, the data dir (lake, catalog, Dagster home, logs) and the output."""

    root: Path

    @property
    def flatfiles(self) -> Path:
        return self.root / "flatfiles"

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def output(self) -> Path:
        return self.root / "out"

    @property
    def lake(self) -> Path:
        return self.data / "lake"

    def flatfile(self, kind: str, day: dt.date) -> Path:
        return self.flatfiles / flatfile_key(kind, day)

    def run_args(self, *analysis: str) -> list[str]:
        """``spy-gamma`` arguments: ``run`` on this workspace's flat files (the test analysis by default)."""
        return ["--data-dir", str(self.data), "run", "--source", "local", "--flatfiles", str(self.flatfiles),
                *(analysis or ANALYSIS), "--output", str(self.output)]

    def environment(self, **extra: str) -> dict[str, str]:
        """The run's environment: no outside ``SPY_GAMMA_*`` or credentials, the short window, planted secrets."""
        kept = {k: v for k, v in os.environ.items()
                if not k.startswith(("SPY_GAMMA_", "POLYGON_", "DAGSTER_")) and k != "BROWSER_PATH"}
        return {**kept, **PLANTED, "PYTHONPATH": str(REPO), "SPY_GAMMA_WINDOW_SESSIONS": "3",
                "BROWSER_PATH": str(self.root / "no-browser"), **extra}

    def clone(self, root: Path, with_state: bool = False) -> Workspace:
        """A copy with its own flat files and, when ``with_state``, this one's data dir and outputs."""
        shutil.copytree(self.flatfiles, root / "flatfiles")
        if with_state:
            shutil.copytree(self.data, root / "data")
            shutil.copytree(self.output, root / "out")
        return Workspace(root)


@dataclass(frozen=True)
class Finished:
    """A finished CLI process: its exit code and everything it printed."""

    returncode: int
    stdout: str
    stderr: str


def command(*args: str, fault: tuple[str, ...] = ()) -> list[str]:
    """The CLI, or with ``fault`` the CLI under ``faults.py``'s injection."""
    if fault:
        return [sys.executable, "-m", "spy_gamma_tests.reliability.faults", *fault, "--", *args]
    return [sys.executable, "-m", "spy_gamma.cli", *args]


def spy_gamma(workspace: Workspace, *args: str, fault: tuple[str, ...] = (), timeout: float = RUN_TIMEOUT_S,
              **env: str) -> Finished:
    """Run ``spy-gamma <args>`` (default: the test analysis) to its end."""
    done = subprocess.run(command(*(args or workspace.run_args()), fault=fault), cwd=workspace.root,
                          env=workspace.environment(**env), capture_output=True, text=True, timeout=timeout)
    return Finished(done.returncode, done.stdout, done.stderr)


def start(workspace: Workspace, *args: str, fault: tuple[str, ...] = (), **env: str) -> subprocess.Popen:
    """Start ``spy-gamma <args>`` in its own session (so its whole process tree can be found and checked), with
    the signal dispositions of a terminal, whatever launched the tests (a background job ignores SIGINT)."""
    return subprocess.Popen(command(*(args or workspace.run_args()), fault=fault), cwd=workspace.root,
                            env=workspace.environment(**env), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True, preexec_fn=_terminal_signals)


def _terminal_signals() -> None:
    """In the child before exec: SIGINT and SIGTERM at their defaults, as in a shell's foreground job."""
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, signal.SIG_DFL)


def output_files(workspace: Workspace) -> dict[str, bytes]:
    """Every file the run wrote to the output folder, by name."""
    return {p.name: p.read_bytes() for p in sorted(workspace.output.iterdir()) if p.is_file()}


def lake_tables(workspace: Workspace) -> dict[str, pl.DataFrame]:
    """Every partition a reader can see (``<table>/<partition>.parquet``), as frames."""
    return {f"{p.parent.name}/{p.name}": pl.read_parquet(p) for p in sorted(workspace.lake.glob("*/*.parquet"))}


def wrote_no_output(workspace: Workspace) -> bool:
    """No output folder, or only the marker the argument check leaves in it (it is claimed before work starts)."""
    return not workspace.output.exists() or [p.name for p in workspace.output.iterdir()] == [".spy-gamma-output"]


def leftovers(workspace: Workspace) -> list[Path]:
    """Temp files of interrupted writes: ``*.tmp`` in the lake, hidden files but the marker in the output."""
    in_lake = list(workspace.lake.rglob("*.tmp")) if workspace.lake.exists() else []
    in_output = [p for p in workspace.output.iterdir() if p.name.startswith(".") and p.name != ".spy-gamma-output"
                 ] if workspace.output.exists() else []
    return sorted(in_lake + in_output)


def assert_same_results(run: Workspace, reference: Workspace) -> None:
    """Same output files with the same content, same lake partitions with the same rows.

    Two clean runs already differ in two ways this comparison forgives (RELIABILITY.md, "Determinism"): the
    random div ids Plotly gives the standalone panels, and last-bit float noise from summation order.
    """
    ours, theirs = output_files(run), output_files(reference)
    assert sorted(ours) == sorted(theirs)
    for name, content in theirs.items():
        if name.endswith(".html"):
            assert PLOTLY_DIV_ID.sub(b"", ours[name]) == PLOTLY_DIV_ID.sub(b"", content), name
        elif name.endswith(".json"):
            assert_close(json.loads(ours[name]), json.loads(content), name)
        else:
            assert ours[name] == content, name
    ours_lake, theirs_lake = lake_tables(run), lake_tables(reference)
    assert sorted(ours_lake) == sorted(theirs_lake)
    for name, frame in theirs_lake.items():
        assert_frame_equal(ours_lake[name], frame, rel_tol=FLOAT_NOISE, abs_tol=0.0)


def assert_close(ours, theirs, where: str) -> None:
    """Equal JSON values, floats within ``FLOAT_NOISE`` relative."""
    if isinstance(theirs, dict):
        assert isinstance(ours, dict) and sorted(ours) == sorted(theirs), where
        for key in theirs:
            assert_close(ours[key], theirs[key], f"{where}.{key}")
    elif isinstance(theirs, list):
        assert isinstance(ours, list) and len(ours) == len(theirs), where
        for i, (mine, other) in enumerate(zip(ours, theirs)):
            assert_close(mine, other, f"{where}[{i}]")
    elif isinstance(theirs, float) and isinstance(ours, float):
        assert math.isclose(ours, theirs, rel_tol=FLOAT_NOISE), where
    else:
        assert ours == theirs, where


def assert_one_line_error(finished: Finished, *expected: str) -> Path:
    """Exit 1, an ``error:`` line holding ``expected``, a ``details:`` line naming the log, and no traceback on
    the console; returns the log file (which holds the traceback)."""
    assert finished.returncode == 1, finished.stderr[-3000:]
    lines = [line for line in finished.stderr.splitlines() if line.strip()]
    (error,) = [line for line in lines if line.startswith("error: ")]
    for text in expected:
        assert text in error, error
    assert "Traceback" not in finished.stderr and "dagster._" not in finished.stderr, finished.stderr[-3000:]
    (details,) = [line for line in lines if line.startswith("details: ")]
    log = Path(details.removeprefix("details: "))
    assert log.is_file() and "Traceback (most recent call last)" in log.read_text()
    return log


@pytest.fixture(scope="session")
def market(tmp_path_factory) -> Path:
    """Polygon-layout flat files for 2025-09-15..22 (scale 0.002), written once."""
    from spy_gamma.sources.simulator import simulate_market

    root = tmp_path_factory.mktemp("market")
    simulate_market(*SIMULATED, root, seed=7, scale=SCALE)
    return root


@dataclass(frozen=True)
class Reference:
    """The run that never faulted, and what it printed: every run after a fault must reproduce its results."""

    workspace: Workspace
    finished: Finished


@pytest.fixture(scope="session")
def reference(market, tmp_path_factory) -> Reference:
    """One clean ``spy-gamma run`` of the test analysis, shared by every test that compares with it."""
    workspace = Workspace(tmp_path_factory.mktemp("reference"))
    shutil.copytree(market, workspace.flatfiles)
    finished = spy_gamma(workspace)
    assert finished.returncode == 0, finished.stderr[-3000:]
    return Reference(workspace, finished)
