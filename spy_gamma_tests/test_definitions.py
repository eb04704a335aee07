"""The Dagster graph: it loads, its partitions follow the calendar and the data, and every table an asset reads is a
declared dependency mapped to the partitions it reads."""

import datetime as dt
import inspect
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from spy_gamma.definitions import defs
from spy_gamma_tests.conftest import TEST_SCALE

REPO = Path(__file__).resolve().parents[1]
DAILY = {"spy_trades", "spy_quotes", "spy_spot", "open_interest", "classified_trades", "contract_flows",
         "vote_groups", "session_quality", "contract_iv"}
AS_OF = {"target_expiries", "dealer_positions", "position_path", "signing_fit", "dealer_exposures",
         "exposures_by_strike", "gamma_profile", "gamma_levels", "max_pain", "hedging_flows", "gex_surface",
         "market_structure", "levels_history", "level_backtest", "dashboard"}


def test_definitions_load():
    dg.Definitions.validate_loadable(defs)


def test_every_table_is_an_asset_in_its_stage_group():
    graph = defs.resolve_asset_graph()
    keys = {key.to_user_string() for key in graph.get_all_asset_keys()}
    assert keys == DAILY | AS_OF
    groups = {name: graph.get(dg.AssetKey(name)).group_name for name in keys}
    assert {groups[name] for name in DAILY} == {"ingest", "classify", "greeks"}
    assert {groups[name] for name in AS_OF} == {"analytics", "reports"}


def test_partitions_are_nyse_sessions_from_where_the_data_starts():
    graph = defs.resolve_asset_graph()
    keys = graph.get(dg.AssetKey("dealer_positions")).partitions_def.get_partition_keys()
    assert keys == graph.get(dg.AssetKey("spy_trades")).partitions_def.get_partition_keys()
    assert keys[0] == "2025-09-02" and keys[-1] >= "2025-10-10"  # the embedded market's range, not 378 days
    assert "2025-09-01" not in keys and "2025-09-06" not in keys  # Labor Day, a Saturday
    assert {"2025-09-05", "2025-10-03", "2025-10-06"} <= set(keys)


def test_checks_jobs_schedules_and_sensors_are_declared():
    check_names = {key.name for key in defs.resolve_asset_graph().asset_check_keys}
    assert {"quote_coverage", "unknown_side_share", "iv_solve_rate", "exposures_finite",
            "positions_within_open_interest", "trades_inside_session"} <= check_names
    assert {job.name for job in defs.jobs} >= {"daily_sessions", "as_of_analysis"}
    assert {s.name for s in defs.schedules} == {"morning_daily"}
    assert {s.name for s in defs.sensors} == {"new_flat_files", "follow_inputs"}


def test_the_morning_schedules_cron_is_a_setting(tmp_path):
    from spy_gamma.settings import Settings

    (schedule,) = defs.schedules
    assert schedule.cron_schedule == os.environ.get("SPY_GAMMA_SCHEDULE_CRON", "30 6 * * 1-5")
    assert schedule.execution_timezone == "America/New_York"
    moved = Settings.from_env({"SPY_GAMMA_DATA_DIR": str(tmp_path), "SPY_GAMMA_SCHEDULE_CRON": "0 7 * * 1-5"})
    assert moved.schedule_cron == "0 7 * * 1-5"


def test_no_resource_is_named_config_and_analysis_choices_are_run_config():
    # a resource called "config" makes the launchpad offer a config section the code would ignore
    assert "config" not in defs.resources
    dashboard = defs.resolve_asset_graph().get(dg.AssetKey("target_expiries"))
    assert dashboard.partitions_def is not None


def test_dagster_cli_validates_the_workspace(tmp_path):
    """`dagster definitions validate`, exactly as an operator (and CI) runs it against workspace.yaml."""
    dagster = Path(sys.executable).with_name("dagster")
    result = subprocess.run([str(dagster), "definitions", "validate", "-w", "workspace.yaml"], cwd=REPO,
                            env={**os.environ, "DAGSTER_HOME": str(tmp_path)}, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Validation successful for code location spy_gamma" in result.stdout + result.stderr


def test_dg_lists_the_projects_definitions(tmp_path):
    dg_cli = Path(sys.executable).with_name("dg")
    result = subprocess.run([str(dg_cli), "list", "defs", "--json"], cwd=REPO, capture_output=True, text=True,
                            env={**os.environ, "DAGSTER_HOME": str(tmp_path)}, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "dealer_positions" in result.stdout and "morning_daily" in result.stdout


@pytest.mark.slow
def test_every_table_an_asset_reads_is_a_declared_dependency(pipeline_run, monkeypatch, tmp_path):
    """Re-run a session and an as-of close with the lake's reads recorded, then check each read against the graph:
    the table is a parent of the reading asset and the partition is one its partition mapping maps to. The re-run
    works on a copy of the shared run's data dir, which other tests compare with the simulator's truth."""
    from spy_gamma.definitions import build_defs
    from spy_gamma.lake import Lake
    from spy_gamma.pipeline import dagster_instance
    from spy_gamma.settings import Settings

    data = tmp_path / "data"
    shutil.copytree(pipeline_run["data"], data, ignore=shutil.ignore_patterns("dagster_home"))
    checked = build_defs(Settings.from_env({"SPY_GAMMA_DATA_DIR": str(data), "SPY_GAMMA_SOURCE": "simulated",
                                            "SPY_GAMMA_SIM_SCALE": str(TEST_SCALE)}))
    graph = checked.resolve_asset_graph()
    op_assets = {checked.get_assets_def(key).node_def.name: checked.get_assets_def(key).keys
                 for key in graph.get_all_asset_keys()}
    reads: list[tuple[str, str, dt.date]] = []
    for method in ("read", "read_if_present"):
        original = getattr(Lake, method)

        def recording(self, table, key, _original=original):
            reads.append((_reading_op(op_assets), table, key))
            return _original(self, table, key)

        monkeypatch.setattr(Lake, method, recording)
    monkeypatch.setenv("DAGSTER_HOME", str(data / "dagster_home"))  # restored after the test
    instance = dagster_instance(data)
    day = dt.date(2025, 10, 3)
    for job in ("daily_sessions", "as_of_analysis"):
        result = checked.resolve_job_def(job).execute_in_process(instance=instance, partition_key=day.isoformat())
        assert result.success
    undeclared = [(op, table, key) for op, table, key in reads
                  if op is not None and not _declared(graph, op_assets[op], table, key, day)]
    assert reads and undeclared == []


def _reading_op(op_assets: dict) -> str | None:
    """The asset function on the call stack (the op doing the read)."""
    for frame in inspect.stack():
        if frame.function in op_assets:
            return frame.function
    return None


def _declared(graph, asset_keys, table: str, key: dt.date, run_day: dt.date) -> bool:
    """Whether one of the op's assets declares ``table`` upstream and maps ``run_day`` onto partition ``key``."""
    parent = dg.AssetKey(table)
    for child in asset_keys:
        if parent not in graph.get(child).parent_keys:
            continue
        partitions = graph.get(child).partitions_def
        mapped = graph.get_partition_mapping(child, parent).get_upstream_mapped_partitions_result_for_partitions(
            partitions.subset_with_partition_keys([run_day.isoformat()]), partitions, partitions)
        allowed = set(mapped.partitions_subset.get_partition_keys()) | set(
            mapped.required_but_nonexistent_subset.get_partition_keys())
        if key.isoformat() in allowed:
            return True
    return False


def test_no_code_or_test_imports_dagsters_private_modules():
    private = re.compile(r"^\s*(from|import)\s+dagster\._", re.MULTILINE)
    root = Path(__file__).resolve().parents[1]
    offenders = [str(path) for folder in ("spy_gamma", "spy_gamma_tests") for path in (root / folder).rglob("*.py")
                 if private.search(path.read_text())]
    assert offenders == []


def test_a_session_classified_by_another_code_version_is_outdated():
    from spy_gamma.pipeline import CLASSIFIED, CODE_VERSION_TAG, _outdated

    current = defs.resolve_asset_graph().get(CLASSIFIED).code_version
    days = [dt.date(2025, 9, 15), dt.date(2025, 9, 16), dt.date(2025, 9, 17)]
    with dg.DagsterInstance.ephemeral() as instance:
        for day, version in ((days[0], current), (days[1], f"{current}-old")):  # the third: never materialized
            instance.report_runless_asset_event(dg.AssetMaterialization(
                CLASSIFIED, partition=day.isoformat(), tags={CODE_VERSION_TAG: version}))
        assert _outdated(defs, instance, days) == {days[1]}
