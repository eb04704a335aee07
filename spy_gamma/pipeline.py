"""Run the whole analysis in-process through Dagster: the CLI's ``run`` and the notebook entry point."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import dagster as dg

from spy_gamma.defs.resources import AnalysisConfig, FlatFilesResource, LakeResource, default_source
from spy_gamma.trading_calendar import next_trading_day

DAILY_STAGES = ("ingest", "classify", "greeks")
WINDOW_STAGES = ("classify", "greeks", "analytics", "reports")
REPO_DAGSTER_YAML = Path(__file__).resolve().parent.parent / "dagster.yaml"

Progress = Callable[[str, int, int], None]
# Step events still land in the instance's event log (the UI shows them); the terminal keeps warnings only.
QUIET_CONSOLE = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def dagster_instance(data_dir: Path) -> dg.DagsterInstance:
    """The persistent instance under ``data/dagster_home`` so ``dagster dev`` shows what a run materialized."""
    home = (data_dir / "dagster_home").resolve()
    home.mkdir(parents=True, exist_ok=True)
    if REPO_DAGSTER_YAML.exists() and not (home / "dagster.yaml").exists():
        shutil.copyfile(REPO_DAGSTER_YAML, home / "dagster.yaml")
    os.environ["DAGSTER_HOME"] = str(home)
    return dg.DagsterInstance.get()


class SPYPositioningPipeline:
    """Dealer positioning for SPY from flat files to the dashboard; ``run_full_analysis`` returns the summary."""

    def __init__(self, output_dir: str | Path = "reports/spy_gamma_dashboard", spot_price: float | None = None,
                 source: str | None = None, flatfiles_dir: str | Path | None = None,
                 data_dir: str | Path | None = None, progress: Progress | None = None,
                 simulation_scale: float | None = None, window_calendar_days: int | None = None):
        self.output_dir = Path(output_dir)
        self.window_calendar_days = window_calendar_days
        self.spot_price = spot_price
        self.data_dir = Path(data_dir or os.environ.get("SPY_GAMMA_DATA_DIR", "data"))
        scale = {} if simulation_scale is None else {"simulation_scale": simulation_scale}
        self.flatfiles = FlatFilesResource(source=source or default_source(), root=str(flatfiles_dir or ""),
                                           data_dir=str(self.data_dir), **scale)
        self.progress = progress or (lambda stage, done, total: None)
        self.run_ids: list[str] = []  # every Dagster run of the last analysis, oldest first (timings per step)

    def run_full_analysis(self, target_date: str | dt.date, expiry_dates: list[str | dt.date],
                          skip_download: bool = False) -> dict:
        """Materialize every asset for the window ending at ``target_date`` and write the outputs."""
        window = {} if self.window_calendar_days is None else {"window_calendar_days": self.window_calendar_days}
        config = AnalysisConfig(analysis_date=str(target_date), expiries=[str(e) for e in expiry_dates],
                                output_dir=str(self.output_dir), spot_override=self.spot_price, **window)
        from spy_gamma.definitions import build_defs

        defs = build_defs(config, self.flatfiles, LakeResource(data_dir=str(self.data_dir)))
        instance = dagster_instance(self.data_dir)
        if self.flatfiles.source == "simulated" and not skip_download:
            self.progress("simulate", 0, 1)
            self.flatfiles.ensure_simulated(
                start=min(config.window[0], dt.date(2025, 9, 5)).isoformat(),
                end=max(next_trading_day(config.as_of), dt.date(2025, 10, 10)).isoformat())
            self.progress("simulate", 1, 1)
        if not skip_download:
            self._materialize_days(defs, instance, config.window)
            self._materialize_next_open_interest(defs, instance, config.as_of)
        self._materialize(defs, instance, dg.AssetSelection.groups(*WINDOW_STAGES) - _daily(defs), None)
        self.progress("reports", 1, 1)
        return json.loads((self.output_dir / "analysis_summary.json").read_text())

    def _materialize_days(self, defs: dg.Definitions, instance: dg.DagsterInstance, days: list[dt.date]) -> None:
        selection = _daily(defs)
        for done, day in enumerate(days):
            self.progress(f"day {day}", done, len(days))
            self._materialize(defs, instance, selection, day.isoformat())
        self.progress("days", len(days), len(days))

    def _materialize_next_open_interest(self, defs, instance, as_of: dt.date) -> None:
        """Start-of-day OI of the session after the window closes the last day's open/close split, when published."""
        day = next_trading_day(as_of)
        if self.flatfiles.open().available("open_interest", day):
            self._materialize(defs, instance, dg.AssetSelection.assets("open_interest"), day.isoformat())

    @staticmethod
    def _materialize(defs, instance, selection, partition_key: str | None) -> None:
        job = dg.define_asset_job("spy_gamma_run", selection=selection)
        resolved = dg.Definitions.merge(defs, dg.Definitions(jobs=[job])).resolve_job_def("spy_gamma_run")
        result = resolved.execute_in_process(run_config=QUIET_CONSOLE, instance=instance, partition_key=partition_key,
                                             raise_on_error=False)
        if not result.success:
            raise PipelineError(_first_failure(result))


def _daily(defs: dg.Definitions) -> dg.AssetSelection:
    """Assets partitioned by trading day."""
    graph = defs.resolve_asset_graph()
    return dg.AssetSelection.assets(*[key for key in graph.get_all_asset_keys()
                                      if graph.get(key).partitions_def is not None])


class PipelineError(RuntimeError):
    """A materialization failed; the message is the failing step's own error."""


def _first_failure(result: dg.ExecuteInProcessResult) -> str:
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data.error is not None:
            error = event.step_failure_data.error
            cause = error.cause.message if error.cause else error.message
            return f"{event.step_key}: {cause.strip()}"
    return "run failed"
