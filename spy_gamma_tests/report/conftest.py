"""Report fixtures: the production bundle built from the shared pipeline run's lake, and one report run."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from spy_gamma.defs.reports.bundle import build_bundle
from spy_gamma.lake import Lake
from spy_gamma.report.exports import write_reports
from spy_gamma.settings import DEFAULT_DIVIDEND_YIELD, DEFAULT_RATE
from spy_gamma_tests.conftest import AS_OF_DATE
from spy_gamma_tests.report.hand_bsm import hand_gex

ANALYSIS_DATE = dt.date.fromisoformat(AS_OF_DATE)  # 2025-10-05, a Sunday
AS_OF = dt.date(2025, 10, 3)  # the Friday close before it: positions carry over the weekend


@pytest.fixture(scope="session")
def lake(pipeline_run) -> Lake:
    return Lake(pipeline_run["data"])


@pytest.fixture(scope="session")
def bundle(lake):
    """What the dashboard asset shows for the default analysis, built by the production ``build_bundle``."""
    return build_bundle(lake, AS_OF, ANALYSIS_DATE, DEFAULT_RATE, DEFAULT_DIVIDEND_YIELD, "simulated")


@pytest.fixture(scope="session")
def report_dir(bundle, tmp_path_factory):
    """All outputs of one write_reports run, with kaleido's browser hidden so the run stays fast."""
    out = tmp_path_factory.mktemp("reports")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BROWSER_PATH", str(out / "no-such-browser"))
        written = write_reports(bundle, out)
    return out, written


@pytest.fixture(scope="session")
def by_hand(report_dir, lake, bundle) -> pl.DataFrame:
    """Every contract of the written dealer_positions.csv with its dealer GEX worked by hand (see hand_bsm)."""
    out, _ = report_dir
    positions = pl.read_csv(out / "dealer_positions.csv", try_parse_dates=True)
    return hand_gex(positions, lake.read("dealer_exposures", AS_OF), bundle.summary["spot"], DEFAULT_RATE)
