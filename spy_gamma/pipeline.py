"""Run an analysis through the jobs the Definitions declare: the CLI's ``run`` and the Python entry point.

``run_full_analysis`` materializes the window's sessions (the daily job, one single-run backfill over the
range) and the as-of close (the as-of job) in this process, recorded in the Dagster instance under the data dir,
so the UI shows the same runs, materializations and checks a schedule or a backfill would produce.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import dagster as dg
from filelock import FileLock

from spy_gamma.lake import Lake
from spy_gamma.settings import Settings
from spy_gamma.trading_calendar import last_trading_day, next_trading_day, sessions_ending

REPO_DAGSTER_YAML = Path(__file__).resolve().parent.parent / "dagster.yaml"
Progress = Callable[[str, int, int], None]
# Step events still land in the instance's event log (the UI shows them); the terminal gets none of them: a
# failure is the CLI's one line, with the step's traceback in the log file it names.
QUIET_CONSOLE = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
# The daily job's last tables: a session that has them all (and is not stale) is not rebuilt.
SESSION_TABLES = ("spy_trades", "spy_quotes", "spy_spot", "open_interest", "classified_trades", "contract_flows",
                  "vote_groups", "session_quality", "contract_iv")
# A session classified by another code version of the classify step is rebuilt (its evidence tables changed shape
# or meaning); Dagster records the version on every materialization.
CLASSIFIED = dg.AssetKey("classified_trades")
CODE_VERSION_TAG = "dagster/code_version"
RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"


class PipelineError(RuntimeError):
    """A materialization failed; the message is the failing step's own error."""


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
    """Dealer positioning for SPY from flat files to the dashboard; ``run_full_analysis`` returns the summary.

    ``api_key`` is the Polygon REST key (else ``POLYGON_API_KEY``); it is only ever placed in this process's
    environment for the REST client, never logged or stored.
    """

    def __init__(self, output_dir: str | Path = "reports/spy_gamma_dashboard", spot_price: float | None = None,
                 source: str | None = None, flatfiles_dir: str | Path | None = None,
                 data_dir: str | Path | None = None, progress: Progress | None = None,
                 simulation_scale: float | None = None, api_key: str | None = None):
        if api_key:
            os.environ["POLYGON_API_KEY"] = api_key
        for name, value in (("SPY_GAMMA_DATA_DIR", data_dir), ("SPY_GAMMA_SOURCE", source),
                            ("SPY_GAMMA_FLATFILES", flatfiles_dir), ("SPY_GAMMA_SIM_SCALE", simulation_scale)):
            if value is not None:
                os.environ[name] = str(Path(value).resolve() if name in ("SPY_GAMMA_DATA_DIR", "SPY_GAMMA_FLATFILES")
                                       else value)
        self.settings = Settings.from_env()
        self.output_dir = Path(output_dir)
        self.spot_price = spot_price
        self.progress = progress or (lambda stage, done, total: None)
        self.run_ids: list[str] = []  # the Dagster runs of the last analysis, oldest first

    def run_full_analysis(self, target_date: str | dt.date, expiry_dates: list[str | dt.date],
                          skip_download: bool = False, refresh: bool = False) -> dict:
        """Materialize the window's sessions and the as-of close for ``target_date``; write the outputs.

        Sessions already in the lake are reused unless stale (see :meth:`_pending`); ``refresh`` rebuilds them all
        and ``skip_download`` reuses them all, recomputing only the as-of analysis.
        """
        analysis_date = dt.date.fromisoformat(str(target_date))
        as_of = last_trading_day(analysis_date)
        if self.settings.source == "simulated" and as_of > dt.date.today():  # a mistyped year: years of sessions
            raise PipelineError(f"{as_of} is after today: the embedded market is simulated up to today at most")
        # the partitions are read when the Definitions first load, so only after the simulated range is widened
        window, after = sessions_ending(as_of, self.settings.window_sessions), next_trading_day(as_of)
        settings = self._settings_covering(window[0], after)
        from spy_gamma.definitions import build_defs

        defs = build_defs(settings)
        self._require_partition(defs, as_of)
        instance = dagster_instance(settings.data_dir)
        tags = {"spy_gamma/as_of": as_of.isoformat(), "spy_gamma/source": settings.source,
                "spy_gamma/expiries": " ".join(map(str, expiry_dates)) or "rule"}
        if not skip_download:
            self.progress("sessions", 0, 2)
            first_key = dt.date.fromisoformat(self._partitions(defs).get_first_partition_key())
            days = [day for day in window if day >= first_key]
            days += [after] if self._published(defs, after) else []
            pending = days if refresh else self._pending(days, Lake(settings.data_dir), _outdated(defs, instance, days))
            if pending:
                self._execute(defs, instance, "daily_sessions", None,
                              {**tags, RANGE_START: pending[0].isoformat(), RANGE_END: pending[-1].isoformat()})
        self.progress("analysis", 1, 2)
        self._execute(defs, instance, "as_of_analysis", self._run_config(analysis_date, expiry_dates),
                      {**tags, "dagster/partition": as_of.isoformat()})
        self.progress("analysis", 2, 2)
        return json.loads((self.output_dir / "analysis_summary.json").read_text())

    def _settings_covering(self, first: dt.date, last: dt.date) -> Settings:
        """The settings, with the simulated market (when it is the source) extended to cover [first, last].

        The extended range goes to the environment before the Definitions load, so the partitions cover it.
        """
        settings = self.settings
        if settings.source != "simulated":
            return settings
        settings = replace(settings, sim_start=min(settings.sim_start, first), sim_end=max(settings.sim_end, last))
        from spy_gamma.defs.resources import resources_for

        self.progress("simulate", 0, 1)
        resources_for(settings)["flatfiles"].ensure_simulated(settings.sim_start, settings.sim_end)
        os.environ["SPY_GAMMA_SIM_START"], os.environ["SPY_GAMMA_SIM_END"] = (
            settings.sim_start.isoformat(), settings.sim_end.isoformat())
        return settings

    @staticmethod
    def _pending(days: list[dt.date], lake: Lake, outdated: set[dt.date]) -> list[dt.date]:
        """``days`` from the first one the lake lacks a session table for, whose classification is ``outdated``
        (another code version's), or predates the next session's open interest (it then split opens from closes
        without that evidence)."""
        for index, day in enumerate(days):
            missing = not all(lake.exists(table, day) for table in SESSION_TABLES)
            later_oi = index + 1 < len(days) and lake.exists("open_interest", days[index + 1]) and not missing and (
                lake.path("open_interest", days[index + 1]).stat().st_mtime
                > lake.path("classified_trades", day).stat().st_mtime)
            if missing or later_oi or day in outdated:
                return days[index:]
        return []

    @staticmethod
    def _partitions(defs: dg.Definitions) -> dg.PartitionsDefinition:
        return defs.resolve_asset_graph().get(dg.AssetKey("spy_trades")).partitions_def

    def _require_partition(self, defs: dg.Definitions, as_of: dt.date) -> None:
        """A clear error when the as-of close is not one of the partitions (outside where the data is)."""
        partitions = self._partitions(defs)
        if not partitions.has_partition_key(as_of.isoformat()):
            raise PipelineError(f"{as_of} is not a partition: the partitions run from "
                                f"{partitions.get_first_partition_key()} to {partitions.get_last_partition_key()} "
                                "(where the data starts and ends; see SPY_GAMMA_PARTITIONS_START)")

    def _published(self, defs: dg.Definitions, day: dt.date) -> bool:
        """Whether ``day`` is a partition and its trades file exists (its OI file is the OI at the as-of close)."""
        flatfiles = defs.resources["flatfiles"]
        return self._partitions(defs).has_partition_key(day.isoformat()) and flatfiles.open().available("trades", day)

    def _run_config(self, analysis_date: dt.date, expiry_dates: list) -> dict:
        scope = {"expiries": [str(e) for e in expiry_dates], "spot": self.spot_price}
        report = {"output_dir": str(self.output_dir.resolve()), "analysis_date": analysis_date.isoformat()}
        return {**QUIET_CONSOLE, "ops": {"target_expiries": {"config": scope}, "dashboard": {"config": report}}}

    def _execute(self, defs: dg.Definitions, instance: dg.DagsterInstance, job_name: str, run_config: dict | None,
                 tags: dict[str, str]) -> None:
        """Run a declared job in this process; PipelineError with the failing step's own message."""
        partition = tags.pop("dagster/partition", None)
        result = _off_the_main_thread(lambda: defs.resolve_job_def(job_name).execute_in_process(
            run_config=run_config or QUIET_CONSOLE, instance=instance, partition_key=partition, tags=tags,
            raise_on_error=False))
        self.run_ids.append(result.run_id)
        if not result.success:
            raise PipelineError(_first_failure(result))


def _off_the_main_thread(execute: Callable[[], dg.ExecuteInProcessResult]) -> dg.ExecuteInProcessResult:
    """Run ``execute`` on a worker thread while this one waits, so Ctrl-C raises KeyboardInterrupt here.

    On the main thread Dagster's in-process execution captures SIGINT and drops it: the run went on to exit 0.
    """
    outcome: dict[str, object] = {}

    def work() -> None:
        try:
            outcome["result"] = execute()
        except BaseException as error:  # noqa: BLE001 - re-raised on the waiting thread
            outcome["error"] = error

    worker = threading.Thread(target=work, name="spy-gamma-run", daemon=True)
    worker.start()
    worker.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]


def _first_failure(result: dg.ExecuteInProcessResult) -> str:
    """The failing step and its error on the first line; the step's whole traceback below it (for the log)."""
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data.error is not None:
            error = event.step_failure_data.error
            cause = error.cause.message if error.cause else error.message
            return f"{event.step_key}: {cause.strip()}\n\n{error.to_string()}"
    return "run failed"


def _outdated(defs: dg.Definitions, instance: dg.DagsterInstance, days: list[dt.date]) -> set[dt.date]:
    """Days whose latest ``classified_trades`` materialization was by another code version than the current one
    (a day never materialized through Dagster is not outdated: only what is recorded can be compared)."""
    current = defs.resolve_asset_graph().get(CLASSIFIED).code_version
    outdated = set()
    for day in days:
        records = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=CLASSIFIED, asset_partitions=[day.isoformat()]), limit=1).records
        if records and records[0].asset_materialization.tags.get(CODE_VERSION_TAG) != current:
            outdated.add(day)
    return outdated
