"""Output contract of write_reports (ARCHITECTURE §5) on the production bundle: files, modes, CSVs checked
against hand-worked BSM GEX, the JSON's bands, the written analysis, size and atomicity."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import math
import os
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from spy_gamma.report import exports
from spy_gamma.report.bundle import SUMMARY_KEYS
from spy_gamma.report.dashboard import PLOTLY_JS_FILE, render_dashboard
from spy_gamma.report.figures import FIGURES, intraday_buckets
from spy_gamma.report.formatting import fmt_level, fmt_usd
from spy_gamma.report.markdown import MAX_THEME_PATTERNS, evolution_section
from spy_gamma.report.render_timing import folder_bytes
from spy_gamma_tests.conftest import EXPIRIES
from spy_gamma_tests.report.conftest import AS_OF

CONTRACT_FILES = (
    "dashboard.html",
    "gamma_profile.html",
    "greeks_panel.html",
    "volatility_smile.html",
    "gamma_surface.html",
    "executive_summary.md",
    "comprehensive_report.md",
    "analysis_summary.json",
    "dealer_positions.csv",
    "exposures_by_strike.csv",
    "gamma_profile.csv",
)
MAX_FOLDER_BYTES = 8 * 1024 * 1024


def _header(path) -> list[str]:
    return path.read_text().splitlines()[0].split(",")


def test_every_contract_file_is_written_whole_with_the_umask_mode(report_dir):
    out, written = report_dir
    mask = os.umask(0)
    os.umask(mask)
    for name in (*CONTRACT_FILES, PLOTLY_JS_FILE, "levels_history.html"):
        path = out / name
        assert path.stat().st_size > 0, name
        assert written[name] == path
        assert path.stat().st_mode & 0o777 == 0o666 & ~mask, name  # as open(path, "w") would create it
    assert not list(out.glob(".*")), "temporary files left behind"


def test_atomic_write_takes_the_users_umask(tmp_path):
    previous = os.umask(0o027)
    try:
        exports.write_atomic(tmp_path / "a.md", "text")
    finally:
        os.umask(previous)
    assert (tmp_path / "a.md").stat().st_mode & 0o777 == 0o640  # 0o666 less group-write and all of other


def test_csv_headers_follow_the_contract(report_dir):
    out, _ = report_dir
    assert _header(out / "dealer_positions.csv") == [
        "ticker", "expiry", "strike", "right", "dealer_position", "customer_buy_open", "customer_sell_open",
        "customer_buy_close", "customer_sell_close", "open_interest",
    ]
    assert _header(out / "exposures_by_strike.csv")[:10] == [
        "expiry", "strike", "call_gex", "put_gex", "net_gex", "dex", "vex", "cex", "iv_call", "iv_put",
    ]
    assert _header(out / "gamma_profile.csv")[:2] == ["spot", "total_gex"]


def test_the_profile_csv_carries_the_band_and_each_expirys_profile_as_the_lake_holds_them(report_dir, lake):
    out, _ = report_dir
    written = pl.read_csv(out / "gamma_profile.csv")
    stored = lake.read("gamma_profile", AS_OF).drop("as_of")
    assert {"total_gex_p05", "total_gex_p50", "total_gex_p95"} <= set(written.columns)
    assert any(name.startswith("gex_20") for name in written.columns)
    assert set(written.columns) == set(stored.columns)
    for name in stored.columns:
        assert np.allclose(written[name], stored[name], rtol=1e-9, equal_nan=True), name


def test_exposures_csv_adds_up_to_the_total_gex_worked_by_hand(report_dir, bundle, by_hand):
    """Sum of the CSV's net_gex = the summary's total GEX = sum of positions x 100 x hand BSM gamma x S^2 x 1%."""
    out, _ = report_dir
    exposures = pl.read_csv(out / "exposures_by_strike.csv")
    total = bundle.summary["total_gex"]
    assert exposures["net_gex"].sum() == pytest.approx(total, rel=1e-9)
    assert by_hand["hand_gex"].sum() == pytest.approx(total, rel=1e-9, abs=1.0)
    assert {str(e) for e in by_hand["expiry"].unique()} == set(EXPIRIES)


def test_heaviest_strike_row_is_its_calls_and_puts_worked_by_hand(report_dir, by_hand):
    out, _ = report_dir
    exposures = pl.read_csv(out / "exposures_by_strike.csv", try_parse_dates=True)
    row = exposures.sort(pl.col("net_gex").abs(), descending=True).row(0, named=True)
    contracts = by_hand.filter((pl.col("expiry") == row["expiry"]) & (pl.col("strike") == row["strike"]))
    calls, puts = (contracts.filter(pl.col("right") == side)["hand_gex"].sum() for side in ("C", "P"))
    assert row["call_gex"] == pytest.approx(calls, rel=1e-9, abs=1e-6)
    assert row["put_gex"] == pytest.approx(puts, rel=1e-9, abs=1e-6)
    assert row["net_gex"] == pytest.approx(calls + puts, rel=1e-9, abs=1e-6)


def test_summary_json_bands_regime_and_dates(report_dir):
    out, _ = report_dir
    text = (out / "analysis_summary.json").read_text()
    summary = json.loads(text)
    assert set(SUMMARY_KEYS) <= set(summary)
    assert "NaN" not in text and "Infinity" not in text
    assert summary["analysis_date"] == "2025-10-05" and summary["as_of"] == "2025-10-03"  # Sunday -> Friday close
    assert summary["expiries"] == EXPIRIES
    for band in (summary["total_gex_band"], summary["gamma_flip_band"]):
        assert band["p05"] <= band["p50"] <= band["p95"]
    assert 0.0 <= summary["prob_dealers_long_gamma"] <= 1.0
    low, high = summary["total_gex_band"]["p05"], summary["total_gex_band"]["p95"]
    assert summary["regime"]["label"].startswith("uncertain") == (low < 0 < high)  # ARCHITECTURE §4's rule
    assert summary["regime"]["perspective"] == "dealer"
    assert {c["status"] for c in summary["data_quality"]["checks"]} <= {"OK", "WARN", "n/a"}


def test_json_ready_handles_nested_values():
    value = {"a": [math.nan, np.float64(1.5), dt.date(2025, 10, 6)], "b": {"c": math.inf, 3: np.int64(2)}}
    assert exports.json_ready(value) == {"a": [None, 1.5, "2025-10-06"], "b": {"c": None, "3": 2}}


class _References(HTMLParser):
    """Collects every src/href attribute of the page's own tags (script bodies are not parsed as HTML)."""

    def __init__(self):
        super().__init__()
        self.refs = []

    def handle_starttag(self, tag, attrs):
        self.refs += [value for name, value in attrs if name in ("src", "href")]


def _references(page: str) -> list[str]:
    parser = _References()
    parser.feed(page)
    return parser.refs


def test_pages_share_one_plotly_js_and_need_nothing_online(report_dir):
    out, _ = report_dir
    assert (out / PLOTLY_JS_FILE).read_text().count("* plotly.js v") == 1
    for name in ("dashboard", *FIGURES):
        page = (out / f"{name}.html").read_text()
        assert "* plotly.js v" not in page, name  # referenced, not inlined
        assert _references(page) == [PLOTLY_JS_FILE], name  # the folder's own copy: works offline from file://
    assert folder_bytes(out) < MAX_FOLDER_BYTES


def test_executive_summary_states_the_bands_in_words(report_dir, bundle):
    out, _ = report_dir
    text = (out / "executive_summary.md").read_text()
    s = bundle.summary
    gex, flip = s["total_gex_band"], s["gamma_flip_band"]
    assert (f"total GEX {fmt_usd(s['total_gex'])}, 90% band {fmt_usd(gex['p05'])} to {fmt_usd(gex['p95'])}"
            in text)
    assert f"flip {fmt_level(s['gamma_flip'])}, 90% band {fmt_level(flip['p05'])} to {fmt_level(flip['p95'])}" in text
    assert f"P(dealers long gamma) {100 * s['prob_dealers_long_gamma']:.0f}%" in text
    side = "above" if s["spot"] > s["gamma_flip"] else "below"
    assert re.search(rf"spot [+-]\d+\.\d\d% {side} flip", text)
    if s["regime"]["label"].startswith("uncertain"):
        assert "**Regime: uncertain.**" in text
    for key, value in s["hedging_flows"].items():
        hedge = s["hedging_flows_band"][key]
        assert f"{fmt_usd(value)} | {fmt_usd(hedge['p05'])} to {fmt_usd(hedge['p95'])}" in text
    assert "Gamma flip (zero-gamma level)" in text and "90% band" in text


def test_the_summarys_pattern_themes_name_their_strikes_and_expiry(report_dir, bundle):
    out, _ = report_dir
    text = (out / "executive_summary.md").read_text()
    patterns = bundle.summary["patterns"][:MAX_THEME_PATTERNS]
    assert any(p.get("expiry") for p in patterns) and any(not p.get("expiry") for p in bundle.summary["patterns"])
    for p in patterns:
        strikes = ", ".join(fmt_level(k) for k in p["strikes"])
        assert f"({strikes}; expiry {p['expiry']}):" in text if p.get("expiry") else f"({strikes}):" in text


def test_both_reports_list_every_quality_check_with_its_status(report_dir, bundle):
    out, _ = report_dir
    quality = bundle.summary["data_quality"]
    for name in ("executive_summary.md", "comprehensive_report.md"):
        text = (out / name).read_text()
        for check in quality["checks"]:
            assert re.search(rf"\| {check['check'].replace('_', ' ')} \|[^\n]*\| {check['status']} \|", text), check
        for warning in quality["warnings"]:
            assert f"- WARN {warning}" in text


def test_comprehensive_report_sections_and_history(report_dir, bundle):
    out, _ = report_dir
    text = (out / "comprehensive_report.md").read_text()
    for heading in ("Strike by strike", "Expiry comparison", "How positioning evolved", "Trading implications",
                    "Methodology", "Data quality"):
        assert f"## {heading}" in text
    for as_of in bundle.levels_history["as_of"]:
        assert f"| {as_of.isoformat()} |" in text
    assert "only proves the plumbing" in text  # the source is the simulated market


def test_a_history_of_one_close_says_so_not_that_it_moved(bundle):
    history = bundle.levels_history.sort("as_of").head(1)
    one = history.row(0, named=True)
    two = pl.concat([history, history.with_columns(pl.col("as_of") + dt.timedelta(days=1))])
    text = evolution_section(dataclasses.replace(bundle, levels_history=history))
    assert text.startswith(f"The history holds one close ({one['as_of'].isoformat()}): total dealer GEX "
                           f"{fmt_usd(one['total_gex'])}, the gamma flip {fmt_level(one['gamma_flip'])}.")
    assert evolution_section(dataclasses.replace(bundle, levels_history=two)).startswith("Over 2 as-of closes")


def test_hidden_browser_skips_pngs_with_one_warning(bundle, tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("BROWSER_PATH", str(tmp_path / "missing-chromium"))
    figures = {"gamma_profile": FIGURES["gamma_profile"](bundle)}
    with caplog.at_level(logging.WARNING, logger=exports.__name__):
        assert exports.write_pngs(figures, tmp_path) == {}
    assert len(caplog.records) == 1 and "PNG export skipped" in caplog.text
    assert not list(tmp_path.glob("*.png"))


def test_a_failed_render_is_tried_once_more(bundle, tmp_path, monkeypatch):
    # kaleido under load can evaluate before its page has loaded ("kaleido_scopes is not defined"); the export
    # goes once more with the same options, and only a second failure skips the PNGs.
    import kaleido

    fake_browser = tmp_path / "chromium"
    fake_browser.write_text("")
    fake_browser.chmod(0o755)
    monkeypatch.setenv("BROWSER_PATH", str(fake_browser))
    calls = []

    def flaky(jobs, **session):
        calls.append(session)
        if len(calls) == 1:
            return [RuntimeError("ReferenceError: kaleido_scopes is not defined")]
        for job in jobs:
            Path(job["path"]).write_bytes(b"\x89PNG\r\n\x1a\n")
        return []

    monkeypatch.setattr(kaleido, "write_fig_from_object_sync", flaky)
    written = exports.write_pngs({"gamma_profile": FIGURES["gamma_profile"](bundle)}, tmp_path)
    assert list(written) == ["gamma_profile.png"] and len(calls) == 2 and calls[0] == calls[1]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["chromium", "gamma_profile.png"]  # no staging file left


def test_atomic_write_replaces_whole_file(tmp_path):
    target = tmp_path / "a.json"
    exports.write_atomic(target, "old")
    exports.write_atomic(target, "new")
    assert target.read_text() == "new" and [p.name for p in tmp_path.iterdir()] == ["a.json"]


@pytest.mark.slow
@pytest.mark.browser
def test_pngs_rendered_in_one_session_with_local_chromium(chromium, bundle, tmp_path, monkeypatch):
    monkeypatch.setenv("BROWSER_PATH", chromium)
    figures = {name: build(bundle) for name, build in list(FIGURES.items())[:2]}
    written = exports.write_pngs(figures, tmp_path)
    assert sorted(written) == ["gamma_profile.png", "greeks_panel.png"]
    for path in written.values():
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_page_stays_lean_with_a_full_day_of_prints(bundle):
    """A busy SPY day: 300,000 prints over the 6.5 h session shrink to one point per 30 s bucket."""
    start = int(dt.datetime(2025, 10, 3, 13, 30, tzinfo=dt.UTC).timestamp() * 1e9)
    rng = np.random.default_rng(3)
    stamps = np.sort(rng.integers(start, start + int(6.5 * 3600 * 1e9), 300_000))
    busy = dataclasses.replace(bundle, intraday_flow=pl.DataFrame({
        "sip_timestamp": stamps,
        "cum_dealer_delta_usd": np.cumsum(rng.normal(0, 2e5, stamps.size)),
        "cum_dealer_gamma_usd": np.cumsum(rng.normal(0, 1e4, stamps.size)),
    }))
    assert len(render_dashboard(busy).encode()) < 2 * 1024 * 1024  # the page without its shared plotly.min.js
    assert len(intraday_buckets(busy.intraday_flow)) <= 6.5 * 3600 / 30 + 1


@pytest.mark.slow
@pytest.mark.browser
def test_one_png_session_serves_every_export_inside_it(chromium, bundle, tmp_path, monkeypatch):
    monkeypatch.setenv("BROWSER_PATH", chromium)
    figures = {"levels_history": FIGURES["levels_history"](bundle)}
    days = [tmp_path / "d1", tmp_path / "d2"]
    with exports.png_session():
        for day in days:
            day.mkdir()
            exports.write_pngs(figures, day)
    for day in days:
        assert (day / "levels_history.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert exports.write_pngs(figures, tmp_path) != {}  # after the session: a one-shot session again


def test_each_hedging_chip_on_the_dashboard_shows_its_flow_and_90_percent_band(report_dir, bundle):
    page = (report_dir[0] / "dashboard.html").read_text()
    for key, value in bundle.summary["hedging_flows"].items():
        band = bundle.summary["hedging_flows_band"][key]
        assert (f"{fmt_usd(value)}</b><small>{fmt_usd(band['p05'])} to {fmt_usd(band['p95'])}</small>"
                in page), key
