"""Shared fixtures: the real samples beside the repository and one full pipeline run per test session."""

from __future__ import annotations

from pathlib import Path

import pytest

REALDATA = Path(__file__).resolve().parents[1].parent / "shared" / "realdata"
TEST_SCALE = 0.003  # a third of the demo's market: same structure, faster


@pytest.fixture(scope="session")
def realdata() -> Path:
    """``../shared/realdata`` beside the repository (CI clones it there)."""
    if not REALDATA.exists():
        pytest.skip("../shared/realdata not found")
    return REALDATA


@pytest.fixture(scope="session")
def pipeline_run(tmp_path_factory) -> dict:
    """The default analysis (2025-10-05, expiries 10-06/08/10) on a small simulated market, run once."""
    from spy_gamma.pipeline import SPYPositioningPipeline

    root = tmp_path_factory.mktemp("pipeline")
    pipeline = SPYPositioningPipeline(output_dir=root / "out", source="simulated", data_dir=root / "data",
                                      simulation_scale=TEST_SCALE)
    summary = pipeline.run_full_analysis("2025-10-05", ["2025-10-06", "2025-10-08", "2025-10-10"])
    return {"summary": summary, "out": root / "out", "data": root / "data",
            "truth": root / "data" / "flatfiles" / "simulated" / "truth"}
