"""What a run leaves for its user: output files with the user's umask, no temp file after a failed report write, the
note on how to get PNGs, folders created by the commands that write into them, the plan's Python entry point, and
test fixtures that fail under CI instead of skipping."""

from __future__ import annotations

import errno
import json
import os
import stat

import pytest

from spy_gamma import cli
from spy_gamma.report import exports
from spy_gamma.report.formatting import fmt_level, fmt_usd
from spy_gamma_tests.conftest import require
from spy_gamma_tests.reliability.conftest import PLANTED


def umask_mode() -> int:
    """What ``open(path, "w")`` gives a new file under this process's umask (the run inherited it)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


@pytest.mark.slow  # the shared reference run
def test_output_files_get_the_users_umask_not_0600(reference):
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in reference.workspace.output.iterdir() if p.is_file()}
    assert "dashboard.html" in modes and "analysis_summary.json" in modes
    assert modes == dict.fromkeys(modes, umask_mode())


def test_a_failed_report_write_names_the_file_and_leaves_no_temp_file(tmp_path, monkeypatch):
    (tmp_path / "dashboard.html").write_text("the previous run's page")

    def disk_full(source, target):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "replace", disk_full)  # the last step of every atomic write
    with pytest.raises(OSError, match=rf"No space left on device: '{tmp_path / 'dashboard.html'}'"):
        exports.write_atomic(tmp_path / "dashboard.html", "<html>new</html>")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dashboard.html"]  # no .dashboard.html.* temp file
    assert (tmp_path / "dashboard.html").read_text() == "the previous run's page"


@pytest.mark.slow  # the shared reference run
def test_without_chromium_the_run_says_once_how_to_get_the_pngs(reference):
    printed = " ".join(reference.finished.stderr.split())  # the console may wrap the note
    assert printed.count("sudo apt-get install chromium") == 1
    assert not list(reference.workspace.output.glob("*.png"))


@pytest.mark.slow  # the shared reference run
def test_the_console_summary_gives_each_levels_band_and_every_data_quality_warning(reference):
    printed = " ".join((reference.finished.stdout + reference.finished.stderr).split())
    summary = json.loads((reference.workspace.output / "analysis_summary.json").read_text())
    for band in (summary["gamma_flip_band"], summary["call_wall"]["band"], summary["put_wall"]["band"]):
        assert f"(90%: {fmt_level(band['p05'])} .. {fmt_level(band['p95'])})" in printed
    total = summary["total_gex_band"]
    assert f"(90%: {fmt_usd(total['p05'])} .. {fmt_usd(total['p95'])})" in printed
    warnings = summary["data_quality"]["warnings"]
    assert warnings and all(f"data quality WARN: {' '.join(w.split())}" in printed for w in warnings)


@pytest.mark.slow  # a small Greeks bench with its QuantLib references
def test_bench_greeks_creates_the_folder_it_writes_to(tmp_path, monkeypatch):
    """On a fresh clone ``reports/bench/`` does not exist; the bench used to fail with No such file or directory."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SPY_GAMMA_DATA_DIR", str(tmp_path / "data"))
    assert cli.main(["bench", "greeks", "--options", "2000"]) == 0
    assert (tmp_path / "reports" / "bench" / "greeks.json").is_file()


def test_the_plans_entry_point_takes_an_api_key_and_never_shows_it(tmp_path, monkeypatch):
    """``SPYPositioningPipeline(api_key=..., spot_price=..., output_dir=...)`` as the plan documents it."""
    from spy_gamma.pipeline import SPYPositioningPipeline

    for name in ("POLYGON_API_KEY", "SPY_GAMMA_DATA_DIR", "SPY_GAMMA_SOURCE", "SPY_GAMMA_FLATFILES",
                 "SPY_GAMMA_SIM_SCALE"):
        monkeypatch.delenv(name, raising=False)  # restored after the test, whatever the constructor sets
    secret = PLANTED["POLYGON_API_KEY"]
    pipeline = SPYPositioningPipeline(api_key=secret, spot_price=660.0, output_dir=tmp_path / "out",
                                      data_dir=tmp_path / "data", source="local", flatfiles_dir=tmp_path / "ff")
    assert os.environ["POLYGON_API_KEY"] == secret  # what the REST client reads
    assert pipeline.spot_price == 660.0 and pipeline.settings.source == "local"
    assert secret not in repr(pipeline.settings) and secret not in repr(vars(pipeline))


def test_a_missing_requirement_fails_under_ci_and_skips_loudly_elsewhere(monkeypatch):
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="Chromium is missing: CI must provide it"):
        require(False, "Chromium")
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match="Chromium is missing on this machine"):
        require(False, "Chromium")
    require(True, "Chromium")  # present: nothing happens
