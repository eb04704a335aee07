"""Output contract of write_reports (ARCHITECTURE §5): file set, CSV headers, JSON keys, sizes, atomicity."""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
from html.parser import HTMLParser

import polars as pl
import pytest

from spy_gamma.report import exports
from spy_gamma.report.bundle import SUMMARY_KEYS
from spy_gamma.report.dashboard import render_dashboard
from spy_gamma.report.figures import intraday_buckets
from spy_gamma.report.formatting import fmt_level, fmt_usd
from spy_gamma_tests.report.sample_bundle import make_sample_bundle

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
MAX_DASHBOARD_BYTES = 8 * 1024 * 1024


def _header(path) -> list[str]:
    return path.read_text().splitlines()[0].split(",")


def test_every_contract_file_is_written(report_dir):
    out, written = report_dir
    for name in CONTRACT_FILES:
        assert (out / name).stat().st_size > 0, name
        assert written[name] == out / name
    assert not list(out.glob(".*")), "temporary files left behind"


def test_csv_headers_follow_the_contract(report_dir):
    out, _ = report_dir
    assert _header(out / "dealer_positions.csv") == [
        "ticker",
        "expiry",
        "strike",
        "right",
        "dealer_position",
        "customer_buy_open",
        "customer_sell_open",
        "customer_buy_close",
        "customer_sell_close",
        "open_interest",
    ]
    assert _header(out / "exposures_by_strike.csv")[:10] == [
        "expiry",
        "strike",
        "call_gex",
        "put_gex",
        "net_gex",
        "dex",
        "vex",
        "cex",
        "iv_call",
        "iv_put",
    ]
    assert _header(out / "gamma_profile.csv") == ["spot", "total_gex"]


def test_csv_values_round_trip(report_dir, bundle):
    out, _ = report_dir
    positions = pl.read_csv(out / "dealer_positions.csv", try_parse_dates=True)
    assert positions["dealer_position"].sum() == bundle.positions["dealer_position"].sum()
    exposures = pl.read_csv(out / "exposures_by_strike.csv")
    assert exposures["net_gex"].sum() == pytest.approx(bundle.exposures_by_strike["net_gex"].sum(), rel=1e-12)
    assert positions["expiry"].dtype == pl.Date  # dates written ISO


def test_summary_json_keys_nan_and_dates(report_dir, bundle):
    out, _ = report_dir
    text = (out / "analysis_summary.json").read_text()
    summary = json.loads(text)
    assert set(SUMMARY_KEYS) <= set(summary)
    assert "NaN" not in text
    # the sample's third pattern has strength NaN and no expiry: both must become null
    assert summary["patterns"][2]["strength"] is None and summary["patterns"][2]["expiry"] is None
    assert summary["analysis_date"] == "2025-10-05"
    assert summary["as_of"] == "2025-10-03T16:00:00"
    assert summary["expiries"] == ["2025-10-06", "2025-10-08", "2025-10-10"]
    assert summary["call_wall"]["strike"] == bundle.summary["call_wall"]["strike"]
    assert summary["regime"]["perspective"] == "dealer"


def test_json_ready_handles_nested_values():
    import numpy as np

    value = {"a": [math.nan, np.float64(1.5), dt.date(2025, 10, 6)], "b": {"c": math.inf, 3: np.int64(2)}}
    assert exports.json_ready(value) == {"a": [None, 1.5, "2025-10-06"], "b": {"c": None, "3": 2}}


class _ExternalRefs(HTMLParser):
    """Collects every src/href attribute of the page's own tags (script bodies are not parsed as HTML)."""

    def __init__(self):
        super().__init__()
        self.refs = []

    def handle_starttag(self, tag, attrs):
        self.refs += [value for name, value in attrs if name in ("src", "href")]


def test_dashboard_is_lean_and_self_contained(report_dir):
    out, _ = report_dir
    page = (out / "dashboard.html").read_text()
    assert len(page.encode()) < MAX_DASHBOARD_BYTES
    assert page.count("* plotly.js v") == 1  # the library inlined exactly once
    parser = _ExternalRefs()
    parser.feed(page)
    assert parser.refs == []  # nothing to fetch: the page works offline from file://


def test_executive_summary_numbers_match_the_bundle(report_dir, bundle):
    out, _ = report_dir
    text = (out / "executive_summary.md").read_text()
    s = bundle.summary
    # sample: total dealer GEX 4.01e9 -> "+$4.0B"; call wall strike 670 -> "670.00"
    assert fmt_usd(s["total_gex"]) == "+$4.0B" and "+$4.0B" in text
    assert fmt_level(s["call_wall"]["strike"]) in text and fmt_level(s["gamma_flip"]) in text
    for value in s["hedging_flows"].values():
        assert fmt_usd(value) in text
    assert "dealer" in text.lower() and "Gamma flip (zero-gamma level)" in text


def test_comprehensive_report_sections_and_numbers(report_dir, bundle):
    out, _ = report_dir
    text = (out / "comprehensive_report.md").read_text()
    for heading in (
        "Strike by strike",
        "Expiry comparison",
        "How positioning evolved",
        "Trading implications",
        "Methodology",
        "Data quality",
    ):
        assert f"## {heading}" in text
    heaviest = (
        bundle.exposures_by_strike.group_by("strike")
        .agg(pl.col("net_gex").sum())
        .sort(pl.col("net_gex").abs(), descending=True)
        .row(0, named=True)
    )
    assert f"| {fmt_level(heaviest['strike'])} |" in text and fmt_usd(heaviest["net_gex"]) in text
    last_close = bundle.gex_surface.filter(pl.col("date") == pl.col("date").max())["net_gex"].sum()
    assert fmt_usd(last_close) in text
    assert "1,284,551" in text and "97.8%" in text


def test_hidden_browser_skips_pngs_with_one_warning(bundle, tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("BROWSER_PATH", str(tmp_path / "missing-chromium"))
    figures = {"gamma_profile": exports.FIGURES["gamma_profile"](bundle)}
    with caplog.at_level(logging.WARNING, logger=exports.__name__):
        assert exports.write_pngs(figures, tmp_path) == {}
    assert len(caplog.records) == 1 and "PNG export skipped" in caplog.text
    assert not list(tmp_path.glob("*.png"))


def test_atomic_write_replaces_whole_file(tmp_path):
    target = tmp_path / "a.json"
    exports.write_atomic(target, "old")
    exports.write_atomic(target, "new")
    assert target.read_text() == "new" and [p.name for p in tmp_path.iterdir()] == ["a.json"]


@pytest.mark.slow
def test_pngs_rendered_with_local_chromium(bundle, tmp_path):
    if exports.find_browser() is None:
        pytest.skip("no Chrome/Chromium on this machine")
    figures = {name: build(bundle) for name, build in list(exports.FIGURES.items())[:2]}
    written = exports.write_pngs(figures, tmp_path)
    assert sorted(written) == ["gamma_profile.png", "greeks_panel.png"]
    for path in written.values():
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_page_stays_under_8mb_with_a_full_day_of_prints():
    """Realistic load: 3 expiries x 141 strikes, 30-close surface, 300k intraday prints (a busy SPY day)."""
    busy = make_sample_bundle(seed=11, intraday_prints=300_000)
    page = render_dashboard(busy)
    assert len(page.encode()) < MAX_DASHBOARD_BYTES
    assert len(intraday_buckets(busy.intraday_flow)) <= 6.5 * 3600 / 30 + 1  # one point per 30 s bucket
