"""The real Dagster UI and daemon: `dagster dev` on 127.0.0.1, `spy-gamma backfill` of five as-of closes through
GraphQL, the same closes run one by one in another order, and a browser screenshot of the asset graph."""

import datetime as dt
import os
import shutil
from pathlib import Path

import pytest

from spy_gamma.dagster_server import DagsterServer, graphql
from spy_gamma.lake import Lake

pytestmark = pytest.mark.slow
CLOSES = [dt.date(2025, 9, 29), dt.date(2025, 9, 30), dt.date(2025, 10, 1), dt.date(2025, 10, 2), dt.date(2025, 10, 3)]
SCALE = "0.002"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("dagster")
    env = {"SPY_GAMMA_DATA_DIR": str(root / "data"), "SPY_GAMMA_SIM_SCALE": SCALE, "SPY_GAMMA_SOURCE": "simulated"}
    with DagsterServer(root / "data" / "dagster_home", env=env) as running:
        running.data_dir = root / "data"
        yield running


@pytest.fixture(scope="module")
def backfilled(server, monkeypatch_module):
    """`spy-gamma backfill --start 2025-09-29 --end 2025-10-03 --url ...` against the running server."""
    from spy_gamma.cli import main

    monkeypatch_module.setenv("SPY_GAMMA_SIM_SCALE", SCALE)
    code = main(["--data-dir", str(server.data_dir), "backfill", "--start", "2025-09-29", "--end", "2025-10-03",
                 "--url", server.url])
    assert code == 0
    return Lake(server.data_dir)


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def test_a_backfill_of_five_closes_leaves_five_levels_history_rows(backfilled):
    history = backfilled.read_days("levels_history", CLOSES)
    assert history["as_of"].to_list() == CLOSES
    assert history["total_gex"].is_finite().all() and history["spot"].is_between(500, 800).all()


def test_five_separate_runs_in_another_order_give_the_same_rows(backfilled, tmp_path):
    """The same closes re-run one by one, newest first, on a copy of the lake's sessions."""
    from spy_gamma.pipeline import SPYPositioningPipeline

    copy = tmp_path / "data"
    shutil.copytree(backfilled.data_dir, copy, ignore=shutil.ignore_patterns("dagster_home", "reports"))
    for table in ("levels_history", "dealer_positions", "gamma_levels", "target_expiries"):
        shutil.rmtree(copy / "lake" / table)
    for close in reversed(CLOSES):
        SPYPositioningPipeline(output_dir=tmp_path / f"out-{close}", source="simulated", data_dir=copy,
                               simulation_scale=float(SCALE)).run_full_analysis(close, [], skip_download=True)
    separate = Lake(copy).read_days("levels_history", CLOSES)
    assert separate.equals(backfilled.read_days("levels_history", CLOSES))


def test_the_backfills_materializations_are_per_partition_in_the_instance(server, backfilled):
    data = graphql(server.url, '{ assetOrError(assetKey: {path: ["levels_history"]}) { ... on Asset { '
                               'assetMaterializations(limit: 20) { partition } } } }')
    partitions = {m["partition"] for m in data["assetOrError"]["assetMaterializations"]}
    assert {close.isoformat() for close in CLOSES} <= partitions


@pytest.mark.browser
def test_ui_asset_graph_shows_the_assets(server, chromium, tmp_path):
    from playwright.sync_api import sync_playwright

    from spy_gamma.report.browser import LAUNCH_ARGS

    shot = tmp_path / "dagster_asset_graph.png"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=LAUNCH_ARGS)
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        page.goto(f"{server.url}/assets/contract_flows?view=lineage&lineageScope=neighbors&lineageDepth=3",
                  wait_until="networkidle")
        page.get_by_text("dealer_positions").first.wait_for(timeout=60_000)
        skip = page.get_by_role("button", name="Skip")       # Dagster's one-time community prompt
        if skip.count():
            skip.first.click()
        page.screenshot(path=str(shot))
        text = page.inner_text("body")
        browser.close()
    assert "spy_trades" in text and "dealer_positions" in text
    assert shot.stat().st_size > 10_000
    if os.environ.get("SPY_GAMMA_SCREENSHOT_DIR"):
        shutil.copy(shot, Path(os.environ["SPY_GAMMA_SCREENSHOT_DIR"]) / shot.name)

