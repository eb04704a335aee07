"""Shared fixtures: the seeded sample bundle and one full report run (PNGs off, browser hidden)."""

from __future__ import annotations

import pytest

from spy_gamma.report.exports import write_reports
from spy_gamma_tests.report.sample_bundle import make_sample_bundle


@pytest.fixture(scope="session")
def bundle():
    return make_sample_bundle(seed=7)


@pytest.fixture(scope="session")
def report_dir(bundle, tmp_path_factory):
    """All outputs of one write_reports run, with kaleido's browser hidden so the run stays fast."""
    out = tmp_path_factory.mktemp("reports")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BROWSER_PATH", str(out / "no-such-browser"))
        written = write_reports(bundle, out)
    return out, written
