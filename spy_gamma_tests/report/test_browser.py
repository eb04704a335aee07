"""The dashboard in a real headless Chromium: every panel drawn, no console errors, drill-down works."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import polars as pl
import pytest

from spy_gamma.report.browser import CHROMIUM_PATH, open_dashboard
from spy_gamma.report.figures import FIGURES

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM_PATH.exists(), reason=f"{CHROMIUM_PATH} not installed"),
]


def _save_screenshot(page, tmp_path: Path, name: str) -> None:
    shot = tmp_path / name
    page.screenshot(path=str(shot), full_page=True)
    if target := os.environ.get("SPY_GAMMA_SCREENSHOT_DIR"):
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(target) / name)


def _click_tallest_gamma_bar(page) -> None:
    """A real mouse click on the bar drawn tallest: Plotly turns it into plotly_click."""
    bars = page.locator("#chart-gamma_profile .barlayer .point path")
    boxes = [bars.nth(i).bounding_box() for i in range(bars.count())]
    box = max(boxes, key=lambda b: b["height"])
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.click(x, y)


def test_dashboard_renders_and_drills_down(report_dir, bundle, tmp_path):
    from playwright.sync_api import sync_playwright

    out, _ = report_dir
    with sync_playwright() as playwright:
        console_errors: list[str] = []
        browser, page = open_dashboard(
            playwright, out / "dashboard.html", on_console_error=console_errors.append
        )
        try:
            trace_counts = page.evaluate("""() => Object.fromEntries([...document.querySelectorAll('.chart')]
                .map(el => [el.id, el.classList.contains('js-plotly-plot') ? el.data.length : 0]))""")
            assert {f"chart-{name}" for name in FIGURES} == set(trace_counts)
            assert all(count > 0 for count in trace_counts.values()), trace_counts
            assert page.locator("#panel-levels tbody tr").count() >= 4

            _click_tallest_gamma_bar(page)
            page.wait_for_selector("#drilldown.open", timeout=5_000)
            page.wait_for_function("document.querySelector('#drilldown-flow-chart').data !== undefined")
            strike = float(page.get_attribute("#drilldown", "data-strike"))
            heaviest = (
                bundle.exposures_by_strike.group_by("strike")
                .agg(pl.col("net_gex").sum())
                .sort(pl.col("net_gex").abs(), descending=True)["strike"][0]
            )
            assert strike == heaviest
            shown = (
                page.locator("#drilldown-body table")
                .first.locator("tbody tr td:nth-child(3)")
                .all_inner_texts()
            )
            expected = bundle.positions.filter(pl.col("strike") == strike).sort("expiry", "right")[
                "dealer_position"
            ]
            assert [int(t.replace(",", "")) for t in shown] == expected.to_list()
            _save_screenshot(page, tmp_path, "dashboard_drilldown.png")
        finally:
            browser.close()
        assert console_errors == []
