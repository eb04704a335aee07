"""Run the whole analysis in-process through Dagster: the CLI's ``run`` and the notebook entry point."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from multiprocessing import get_context
from pathlib import Path

import dagster as dg
from filelock import FileLock

from spy_gamma.defs.resources import (
    SIMULATION_END,
    SIMULATION_START,
    AnalysisConfig,
    FlatFilesResource,
    LakeResource,
    default_source,
)
from spy_gamma.trading_calendar import next_trading_day

DAILY_STAGES = ("ingest", "classify", "greeks")
WINDOW_STAGES = ("classify", "greeks", "analytics", "reports")
REPO_DAGSTER_YAML = Path(__file__).resolve().parent.parent / "dagster.yaml"
DAY_WORKERS = 2  # sessions materialized side by side (this machine has 2 cores)
MIN_SESSIONS_PER_WORKER = 2  # a worker process costs ~4 s of imports: not worth it for a session or two

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
    with FileLock(str(home / ".instance.lock"), timeout=300):  # two first runs would race to create its tables
        return dg.DagsterInstance.get()


class SPYPositioningPipeline:
    """Dealer positioning for SPY from flat files to the dashboard; ``run_full_analysis`` returns the summary."""

    def __init__(self, output_dir: str | Path = "reports/spy_gamma_dashboard", spot_price: float | None = None,
                 source: str | None = None, flatfiles_dir: str | Path | None = None,
                 data_dir: str | Path | None = None, progress: Progress | None = None,
                 simulation_scale: float | None = None, window_calendar_days: int | None = None,
                 session_workers: int = DAY_WORKERS):
        self.output_dir = Path(output_dir)
        self.session_workers = session_workers  # 1: every session in this process
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
                start=min(config.window[0].isoformat(), SIMULATION_START),
                end=max(next_trading_day(config.as_of).isoformat(), SIMULATION_END))
            self.progress("simulate", 1, 1)
        if not skip_download:
            self._materialize_days(defs, instance, config)
        self._materialize(defs, instance, dg.AssetSelection.groups(*WINDOW_STAGES) - _daily(defs), None)
        self.progress("reports", 1, 1)
        return json.loads((self.output_dir / "analysis_summary.json").read_text())

    def _materialize_days(self, defs: dg.Definitions, instance: dg.DagsterInstance, config: AnalysisConfig) -> None:
        """Open interest of every session first (and of the one after the window, when published): classifying day d
        splits opens from closes with OI(d) and OI(d+1). Then the other daily assets, ``session_workers`` at once."""
        window, after = config.window, next_trading_day(config.as_of)
        oi_days = [*window, after] if self.flatfiles.open().available("open_interest", after) else window
        workers = min(self.session_workers, os.cpu_count() or 1, len(window) // MIN_SESSIONS_PER_WORKER)
        with _session_runs(workers, defs, instance, (config, self.flatfiles, self.data_dir)) as run:
            for job, days in (("open_interest", oi_days), ("sessions", window)):
                for done, (day, run_id) in enumerate(zip(days, run(job, days)), start=1):
                    self.run_ids.append(run_id)
                    self.progress(f"{job.replace('_', ' ')} {day}", done, len(days))

    def _materialize(self, defs, instance, selection, partition_key: str | None) -> None:
        job = dg.define_asset_job("spy_gamma_run", selection=selection)
        resolved = dg.Definitions.merge(defs, dg.Definitions(jobs=[job])).resolve_job_def("spy_gamma_run")
        self.run_ids.append(_execute(resolved, instance, partition_key))


class _SessionRunner:
    """The daily jobs resolved once per process: ``open_interest`` alone, and ``sessions`` (the other daily assets)."""

    def __init__(self, defs: dg.Definitions, instance: dg.DagsterInstance):
        open_interest = dg.AssetSelection.assets("open_interest")
        jobs = [dg.define_asset_job("open_interest", selection=open_interest),
                dg.define_asset_job("sessions", selection=_daily(defs) - open_interest)]
        resolved = dg.Definitions.merge(defs, dg.Definitions(jobs=jobs))
        self.jobs = {job.name: resolved.resolve_job_def(job.name) for job in jobs}
        self.instance = instance

    def run(self, job: str, day: dt.date) -> str:
        """Materialize one session; the run id."""
        return _execute(self.jobs[job], self.instance, day.isoformat())


_worker_runner: _SessionRunner | None = None  # one per pool process, built by its initializer


def _start_worker(config: dict, flatfiles: dict, data_dir: Path) -> None:
    """Pool initializer; the resources travel as their field values (Dagster resources do not pickle)."""
    from spy_gamma.definitions import build_defs

    global _worker_runner
    defs = build_defs(AnalysisConfig(**config), FlatFilesResource(**flatfiles), LakeResource(data_dir=str(data_dir)))
    _worker_runner = _SessionRunner(defs, dagster_instance(data_dir))


def _run_in_worker(job: str, day: dt.date) -> str:
    return _worker_runner.run(job, day)


@contextmanager
def _session_runs(workers: int, defs: dg.Definitions, instance: dg.DagsterInstance, resources: tuple):
    """``run(job, days)`` yielding run ids in day order: here, or ``workers`` sessions at a time in spawned processes
    (sessions are independent once their open interest is in the lake, and Dagster's storage takes concurrent runs;
    Dagster's in-process execution is not thread-safe). Scripts using processes need ``if __name__ == "__main__"``."""
    if workers <= 1:
        runner = _SessionRunner(defs, instance)
        yield lambda job, days: (runner.run(job, day) for day in days)
        return
    config, flatfiles, data_dir = resources
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn"), initializer=_start_worker,
                             initargs=(config.model_dump(), flatfiles.model_dump(), data_dir)) as pool:
        try:
            yield lambda job, days: pool.map(_run_in_worker, [job] * len(days), days)
        except BaseException:
            pool.shutdown(cancel_futures=True)  # a failed session stops the sessions not started yet
            raise


def _execute(job: dg.JobDefinition, instance: dg.DagsterInstance, partition_key: str | None) -> str:
    """Run a job in this process; its run id, or PipelineError with the failing step's own message."""
    result = job.execute_in_process(run_config=QUIET_CONSOLE, instance=instance, partition_key=partition_key,
                                    raise_on_error=False)
    if not result.success:
        raise PipelineError(_first_failure(result))
    return result.run_id


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
