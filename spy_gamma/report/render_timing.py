"""How fast the dashboard draws: navigation start to every chart drawn, in a real headless Chromium."""

from __future__ import annotations

from pathlib import Path

from spy_gamma.report.browser import open_dashboard


def dashboard_render_ms(path: Path | str, chromium: str) -> float:
    """Milliseconds from navigation start until the page's last Plotly chart is drawn (``spyGammaRenderedMs``,
    set by the page itself), opening ``path`` from file:// in ``chromium`` (an executable path)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser, page = open_dashboard(playwright, Path(path), chromium)
        try:
            return float(page.evaluate("window.spyGammaRenderedMs"))
        finally:
            browser.close()


def folder_bytes(folder: Path | str) -> int:
    """Bytes of every file in a report folder (the dashboard, its shared plotly.min.js, panels, PNGs, data)."""
    return sum(path.stat().st_size for path in Path(folder).iterdir() if path.is_file())
