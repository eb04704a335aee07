"""Headless Chromium for looking at the dashboard: the render-time bench and the browser test share it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

CHROMIUM_PATH = Path("/usr/bin/chromium")
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT = {"width": 1680, "height": 1050}
RENDER_TIMEOUT_MS = 60_000


def open_dashboard(playwright, path: Path, on_console_error: Callable[[str], None] | None = None):
    """Launch Chromium, open the page from file:// and wait until every chart is drawn; (browser, page)."""
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM_PATH), args=LAUNCH_ARGS)
    page = browser.new_page(viewport=VIEWPORT)
    if on_console_error is not None:
        page.on("console", lambda message: message.type == "error" and on_console_error(message.text))
        page.on("pageerror", lambda error: on_console_error(str(error)))
    page.goto(Path(path).resolve().as_uri())
    page.wait_for_function("document.body.dataset.rendered === 'true'", timeout=RENDER_TIMEOUT_MS)
    return browser, page


def measure_dashboard(path: Path | str) -> dict[str, float]:
    """Time from navigation start until every chart is drawn (ms), and the page's size on disk (bytes)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser, page = open_dashboard(playwright, Path(path))
        render_ms = page.evaluate("window.spyGammaRenderedMs")
        browser.close()
    return {"render_ms": float(render_ms), "bytes": Path(path).stat().st_size}
