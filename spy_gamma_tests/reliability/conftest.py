"""A small simulated market, one clean reference run of ``spy-gamma run`` on it, and helpers to fault copies.

Every end-to-end case runs the real CLI (``spy_gamma.cli.main``, or the console script in a subprocess) on the
window ending 2025-09-19 with expiries 2025-09-22/24, shortened to three sessions (see ``faults.py``).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from spy_gamma.sources.flatfiles import flatfile_key
from spy_gamma_tests.reliability.faults import short_analysis_window

REPO = Path(__file__).resolve().parents[2]
ANALYSIS = ["--date", "2025-09-19", "--expiry", "2025-09-22", "2025-09-24"]
WINDOW = [dt.date(2025, 9, 17), dt.date(2025, 9, 18), dt.date(2025, 9, 19)]
SIMULATED = (dt.date(2025, 9, 15), dt.date(2025, 9, 22))  # two sessions of history, the window, next day's OI
SCALE = 0.002
PLOTLY_DIV_ID = re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
FLOAT_NOISE = 1e-12
CREDENTIAL_VARIABLES = ("POLYGON_API_KEY", "POLYGON_S3_ACCESS_KEY", "POLYGON_S3_SECRET_KEY", "SPY_GAMMA_SOURCE")


@dataclass(frozen=True)
class Workspace:
    """One isolated installation: flat files, the data dir (lake, catalog, Dagster home) and the output folder."""

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

    def run_args(self, source: str = "local") -> list[str]:
        """``spy-gamma`` arguments for the test window: this workspace's flat files, or S3 into its data dir."""
        where = ["--flatfiles", str(self.flatfiles)] if source == "local" else []
        return ["--data-dir", str(self.data), "run", "--source", source, *where, *ANALYSIS,
                "--output", str(self.output)]

    def clone(self, root: Path, with_state: bool = True) -> Workspace:
        """A copy with its own flat files and, when ``with_state``, this one's data dir and outputs."""
        shutil.copytree(self.flatfiles, root / "flatfiles")
        if with_state:
            shutil.copytree(self.data, root / "data")
            shutil.copytree(self.output, root / "out")
        return Workspace(root)


def quiet_environment(monkeypatch: pytest.MonkeyPatch, workspace: Workspace) -> None:
    """No credentials, no Chromium (PNG export is skipped with a warning), the short window, isolated state."""
    for name in CREDENTIAL_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("BROWSER_PATH", str(workspace.root / "no-browser"))
    monkeypatch.setenv("SPY_GAMMA_DATA_DIR", str(workspace.data))
    monkeypatch.setenv("DAGSTER_HOME", str(workspace.data / "dagster_home"))
    monkeypatch.setattr("spy_gamma.defs.resources.analysis_window", short_analysis_window)


def run_cli(monkeypatch: pytest.MonkeyPatch, workspace: Workspace) -> int:
    """``spy-gamma run`` on the workspace's local flat files, in this process; returns the exit code."""
    from spy_gamma.cli import main

    quiet_environment(monkeypatch, workspace)
    return main(workspace.run_args())


def start_cli(workspace: Workspace, *fault: str) -> subprocess.Popen:
    """``spy-gamma run`` on the workspace in its own process group (``faults.py`` options first)."""
    variables = {k: v for k, v in os.environ.items() if k not in CREDENTIAL_VARIABLES}
    variables |= {"BROWSER_PATH": str(workspace.root / "no-browser"), "PYTHONPATH": str(REPO),
                  "DAGSTER_HOME": str(workspace.data / "dagster_home")}
    command = [sys.executable, "-m", "spy_gamma_tests.reliability.faults", *fault, "--",
               *workspace.run_args()]
    return subprocess.Popen(command, cwd=REPO, env=variables, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)


def output_files(workspace: Workspace) -> dict[str, bytes]:
    """Every file the run wrote to the output folder, by name."""
    return {p.name: p.read_bytes() for p in sorted(workspace.output.iterdir()) if p.is_file()}


def lake_tables(workspace: Workspace) -> dict[str, pl.DataFrame]:
    """Every partition a reader can see (``<table>/<partition>.parquet``), as frames."""
    return {f"{p.parent.name}/{p.name}": pl.read_parquet(p) for p in sorted(workspace.lake.glob("*/*.parquet"))}


def leftovers(workspace: Workspace) -> list[Path]:
    """Temp files of interrupted writes: ``*.tmp`` in the lake, any hidden file in the output folder."""
    in_lake = list(workspace.lake.rglob("*.tmp")) if workspace.lake.exists() else []
    in_output = [p for p in workspace.output.iterdir() if p.name.startswith(".")] if workspace.output.exists() else []
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


@pytest.fixture(scope="session")
def market(tmp_path_factory) -> Path:
    """Polygon-layout flat files for 2025-09-15..22 (scale 0.002), written once."""
    from spy_gamma.sources.simulator import simulate_market

    root = tmp_path_factory.mktemp("market")
    simulate_market(*SIMULATED, root, seed=7, scale=SCALE)
    return root


@pytest.fixture(scope="session")
def reference(market, tmp_path_factory) -> Workspace:
    """The run that never faulted: every run after a fault must reproduce its outputs and lake."""
    workspace = Workspace(tmp_path_factory.mktemp("reference"))
    shutil.copytree(market, workspace.flatfiles)
    with pytest.MonkeyPatch.context() as monkeypatch:
        assert run_cli(monkeypatch, workspace) == 0
    return workspace
