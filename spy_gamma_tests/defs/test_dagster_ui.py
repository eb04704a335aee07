"""The real Dagster UI: `dagster dev` on 127.0.0.1, a GraphQL backfill over 5 partitions, a browser screenshot."""

import os
import shutil
from pathlib import Path

import pytest

from spy_gamma.dagster_server import DagsterServer, graphql, launch_backfill, wait_for_backfill
from spy_gamma.lake import Lake

pytestmark = pytest.mark.slow
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DAYS = ["2025-09-08", "2025-09-09", "2025-09-10", "2025-09-11", "2025-09-12"]
DAILY = ["spy_trades", "spy_quotes", "spy_spot", "open_interest", "classified_trades", "contract_iv"]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("dagster")
    env = {"SPY_GAMMA_DATA_DIR": str(root / "data"), "SPY_GAMMA_SIM_SCALE": "0.002", "SPY_GAMMA_SOURCE": "simulated"}
    with DagsterServer(root / "data" / "dagster_home", env=env) as running:
        running.data_dir = root / "data"
        yield running


def test_graphql_backfill_materializes_five_partitions(server):
    backfill_id = launch_backfill(server.url, DAYS, DAILY)
    status = wait_for_backfill(server.url, backfill_id, timeout_s=900)
    assert status["status"] in ("COMPLETED", "COMPLETED_SUCCESS"), status
    counts = {tuple(c["assetKey"]["path"]): c for c in status["assetBackfillData"]["assetBackfillStatuses"]}
    assert all(counts[(key,)]["numPartitionsMaterialized"] == 5 for key in DAILY)
    lake = Lake(server.data_dir)
    assert [d.isoformat() for d in lake.days("classified_trades")] == DAYS
    data = graphql(server.url, '{ assetOrError(assetKey: {path: ["spy_trades"]}) { ... on Asset { '
                               'assetMaterializations(limit: 10) { partition } } } }')
    assert {m["partition"] for m in data["assetOrError"]["assetMaterializations"]} == set(DAYS)


@pytest.mark.browser
def test_ui_asset_graph_shows_the_assets(server, tmp_path):
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian chromium not installed")
    from playwright.sync_api import sync_playwright

    shot = tmp_path / "dagster_asset_graph.png"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        page.goto(f"{server.url}/assets/classified_trades?view=lineage&lineageScope=neighbors&lineageDepth=3",
                  wait_until="networkidle")
        page.get_by_text("dealer_exposures").first.wait_for(timeout=60_000)
        skip = page.get_by_role("button", name="Skip")       # Dagster's one-time community prompt
        if skip.count():
            skip.first.click()
        page.screenshot(path=str(shot))
        text = page.inner_text("body")
        browser.close()
    assert "spy_trades" in text and "dealer_exposures" in text
    assert shot.stat().st_size > 10_000
    if os.environ.get("SPY_GAMMA_SCREENSHOT_DIR"):
        shutil.copy(shot, Path(os.environ["SPY_GAMMA_SCREENSHOT_DIR"]) / shot.name)
