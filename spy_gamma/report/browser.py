"""The one place that finds and drives a local Chromium: PNG export, the render-time bench and the browser tests."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

BROWSER_CANDIDATES = ("/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
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


def find_chromium() -> str | None:
    """Chromium/Chrome on this machine: ``BROWSER_PATH`` when set (kaleido's own override), else the usual names;
    None when there is none."""
    override = os.environ.get("BROWSER_PATH")
    for candidate in (override,) if override else BROWSER_CANDIDATES:
        found = shutil.which(candidate)
        if found:
            return found
    return None


def open_dashboard(playwright, path: Path, chromium: str, on_console_error: Callable[[str], None] | None = None):
    """Launch ``chromium`` headless, open the page from file:// and wait until every chart is drawn;
    (browser, page)."""
    browser = playwright.chromium.launch(executable_path=chromium, args=LAUNCH_ARGS)
    page = browser.new_page(viewport=VIEWPORT)
    if on_console_error is not None:
        page.on("console", lambda message: message.type == "error" and on_console_error(message.text))
        page.on("pageerror", lambda error: on_console_error(str(error)))
    page.goto(Path(path).resolve().as_uri())
    page.wait_for_function("document.body.dataset.rendered === 'true'", timeout=RENDER_TIMEOUT_MS)
    return browser, page


def measure_dashboard(path: Path | str) -> dict[str, float]:
    """Render time (ms, see ``render_timing.dashboard_render_ms``) and bytes of the page and of its folder;
    raises when no Chromium is found."""
    from spy_gamma.report.render_timing import dashboard_render_ms, folder_bytes

    chromium = find_chromium()
    if chromium is None:
        raise FileNotFoundError("no Chromium/Chrome found (set BROWSER_PATH)")
    path = Path(path)
    return {"render_ms": dashboard_render_ms(path, chromium), "bytes": path.stat().st_size,
            "folder_bytes": folder_bytes(path.parent)}
