"""Headless Chromium watches the served live page update while a simulated session replays."""

import datetime as dt
import shutil
import socket
import threading
import time

import pytest
import uvicorn

from spy_gamma.api.app import create_app
from spy_gamma.lake import Lake
from spy_gamma.live.morning import target_expiries
from spy_gamma.live.run import replay_session
from spy_gamma.live.session import LiveSettings

DAY = dt.date(2025, 10, 3)

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_the_live_page_updates_during_a_replay(pipeline_run, chromium, tmp_path):
    from playwright.sync_api import sync_playwright

    shutil.copytree(pipeline_run["data"] / "lake", tmp_path / "lake")
    shutil.copy(pipeline_run["data"] / "spy_gamma.duckdb", tmp_path / "spy_gamma.duckdb")
    for earlier in (tmp_path / "lake").glob("live_*"):  # the page must start with no live session
        shutil.rmtree(earlier)
    lake = Lake(tmp_path)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(tmp_path), host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    replay = threading.Thread(target=replay_session, daemon=True, kwargs=dict(
        lake=lake, flatfiles=pipeline_run["data"] / "flatfiles" / "simulated", day=DAY,
        expiries=target_expiries(lake, DAY), speed=600, settings=LiveSettings(step_ns=600 * 10 ** 9),
        hindsight=True))
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
            page = browser.new_page()
            page.goto(f"http://127.0.0.1:{port}/live")
            assert "no live session yet" in page.wait_for_selector("#updated:has-text('no live session')").inner_text()
            replay.start()
            page.wait_for_selector("#updated:has-text('ET')", timeout=180_000)
            first = page.inner_text("#market-time")
            page.wait_for_function(f"document.getElementById('market-time').textContent !== {first!r}",
                                   timeout=180_000)
            assert page.inner_text("#spot") != "-" and page.inner_text("#market-time") != first
            page.screenshot(path=str(tmp_path / "live.png"), full_page=True)
            browser.close()
        assert (tmp_path / "live.png").stat().st_size > 10_000
    finally:
        if replay.is_alive():
            replay.join(120)
        server.should_exit = True
