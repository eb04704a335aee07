"""The dashboard in a real headless Chromium: every panel drawn, bands on the page, no console errors, the
drill-down opens the hand-worked heaviest strike, and the render timer the bench calls."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import polars as pl
import pytest

from spy_gamma.report.browser import RENDER_TIMEOUT_MS, open_dashboard
from spy_gamma.report.figures import DASHBOARD_FIGURES
from spy_gamma.report.render_timing import dashboard_render_ms

pytestmark = [pytest.mark.browser, pytest.mark.slow]


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


def test_dashboard_renders_and_drills_down(chromium, report_dir, bundle, by_hand, tmp_path):
    from playwright.sync_api import sync_playwright

    out, _ = report_dir
    with sync_playwright() as playwright:
        console_errors: list[str] = []
        browser, page = open_dashboard(playwright, out / "dashboard.html", chromium,
                                       on_console_error=console_errors.append)
        try:
            trace_counts = page.evaluate("""() => Object.fromEntries([...document.querySelectorAll('.chart')]
                .map(el => [el.id, el.classList.contains('js-plotly-plot') ? el.data.length : 0]))""")
            assert {f"chart-{name}" for name in DASHBOARD_FIGURES} == set(trace_counts)
            assert all(count > 0 for count in trace_counts.values()), trace_counts
            assert page.locator("#chart-gamma_profile .js-fill").count() >= 1  # the shaded 90% band
            assert "P(dealers long gamma)" in page.inner_text(".topbar")
            assert page.locator(".dq-checks tbody tr").count() == len(bundle.summary["data_quality"]["checks"]) + 1
            assert page.locator("#panel-levels tbody tr").count() >= 2

            _click_tallest_gamma_bar(page)
            page.wait_for_selector("#drilldown.open", timeout=5_000)
            page.wait_for_function("document.querySelector('#drilldown-flow-chart').data !== undefined")
            strike = float(page.get_attribute("#drilldown", "data-strike"))
            heaviest = (by_hand.group_by("strike").agg(pl.col("hand_gex").sum())
                        .sort(pl.col("hand_gex").abs(), descending=True)["strike"][0])
            assert strike == heaviest
            shown = page.locator("#drilldown-body table").first.locator("tbody tr td:nth-child(3)").all_inner_texts()
            expected = by_hand.filter(pl.col("strike") == strike).sort("expiry", "right")["dealer_position"]
            assert [float(t.replace(",", "")) for t in shown] == pytest.approx(expected.to_list(), abs=0.5)
            _save_screenshot(page, tmp_path, "dashboard_drilldown.png")
        finally:
            browser.close()
        assert console_errors == []


def test_render_timer_reports_the_pages_own_draw_time(chromium, report_dir):
    out, _ = report_dir
    assert 0.0 < dashboard_render_ms(out / "dashboard.html", chromium) < RENDER_TIMEOUT_MS
