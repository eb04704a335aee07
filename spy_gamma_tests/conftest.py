"""Shared fixtures: the real samples beside the repository, and one small end-to-end run per test session.

Anything a test needs from outside (``../shared/realdata``, Chromium) fails the test under CI (``CI`` set) and
skips it, loudly, only on a developer's machine.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from spy_gamma.signals import restore_default_sigterm

restore_default_sigterm()  # in-process Dagster runs start compute-log helpers that must stay stoppable

REALDATA = Path(__file__).resolve().parents[1].parent / "shared" / "realdata"
TEST_SCALE = 0.003  # a third of the demo's market: same structure, faster
AS_OF_DATE, EXPIRIES = "2025-10-05", ["2025-10-06", "2025-10-08", "2025-10-10"]


def require(available: bool, what: str) -> None:
    """Fail under CI, skip with the reason elsewhere, when something a test needs is missing."""
    if available:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{what} is missing: CI must provide it", pytrace=False)
    pytest.skip(f"{what} is missing on this machine (CI fails instead)")


@pytest.fixture(scope="session")
def realdata() -> Path:
    """``../shared/realdata`` beside the repository (CI clones it there)."""
    require(REALDATA.exists(), f"{REALDATA}")
    return REALDATA


@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's Chromium (``.ci/run`` installs it), found the way the product finds it."""
    from spy_gamma.report.browser import find_chromium

    found = find_chromium()
    require(found is not None, "Chromium (apt-get install chromium)")
    return found


@pytest.fixture(scope="session")
def pipeline_run(tmp_path_factory) -> dict:
    """The default analysis (2025-10-05, expiries 10-06/08/10) on a small simulated market, run once through the
    declared Dagster jobs."""
    from spy_gamma.pipeline import SPYPositioningPipeline

    root = tmp_path_factory.mktemp("pipeline")
    pipeline = SPYPositioningPipeline(output_dir=root / "out", source="simulated", data_dir=root / "data",
                                      simulation_scale=TEST_SCALE)
    summary = pipeline.run_full_analysis(AS_OF_DATE, EXPIRIES)
    return {"summary": summary, "out": root / "out", "data": root / "data", "pipeline": pipeline,
            "truth": root / "data" / "flatfiles" / "simulated" / "truth"}
