"""The Dagster graph loads, and every stage, check, schedule and sensor is in it."""

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg

from spy_gamma.definitions import defs

ASSETS = {"spy_trades", "spy_quotes", "spy_spot", "open_interest", "classified_trades", "dealer_positions",
          "contract_iv", "dealer_exposures", "gamma_profile", "gex_surface", "market_structure", "dashboard"}


def test_definitions_load():
    dg.Definitions.validate_loadable(defs)


def test_every_stage_is_an_asset_in_its_group():
    graph = defs.resolve_asset_graph()
    keys = {key.to_user_string() for key in graph.get_all_asset_keys()}
    assert ASSETS <= keys
    groups = {graph.get(dg.AssetKey(name)).group_name for name in ASSETS}
    assert groups == {"ingest", "classify", "greeks", "analytics", "reports"}


def test_daily_assets_are_partitioned_by_trading_day():
    graph = defs.resolve_asset_graph()
    partitions = graph.get(dg.AssetKey("spy_trades")).partitions_def
    keys = partitions.get_partition_keys()
    assert "2025-09-01" not in keys          # Labor Day
    assert "2025-09-06" not in keys          # Saturday
    assert {"2025-09-05", "2025-10-03", "2025-10-06"} <= set(keys)


def test_checks_schedules_and_sensors_present():
    check_names = {key.name for key in defs.resolve_asset_graph().asset_check_keys}
    assert {"quote_coverage", "trades_schema", "iv_solve_rate", "exposures_finite"} <= check_names
    assert {s.name for s in defs.schedules} == {"morning_daily", "morning_window"}
    assert {s.name for s in defs.sensors} == {"new_flat_files"}


def test_dagster_cli_validates_the_workspace(tmp_path):
    """`dagster definitions validate`, exactly as an operator (and CI) runs it against workspace.yaml."""
    repo = Path(__file__).resolve().parents[1]
    dagster = Path(sys.executable).with_name("dagster")
    result = subprocess.run([str(dagster), "definitions", "validate", "-w", "workspace.yaml"], cwd=repo,
                            env={**os.environ, "DAGSTER_HOME": str(tmp_path)},
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Validation successful for code location spy_gamma" in result.stdout + result.stderr
