"""How an asset materializes its partitions: one key or a single-run range, each day's metadata and checks.

Every partitioned asset has a single-run backfill policy, so a backfill of a month is one run whose step loops
over the days (no per-session process and import cost). Checks are the asset's own ``check_specs``, evaluated on
the frames it just wrote (never re-read); a data-quality threshold reports a WARN and never stops the run. Only
unreadable or invalid input stops it, with the file, row and field named.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import dagster as dg

from spy_gamma.defs.partitions import partition_days
from spy_gamma.sources.errors import DataError

SINGLE_RUN = dg.BackfillPolicy.single_run()
SOURCE_RETRIES = dg.RetryPolicy(max_retries=3, delay=5, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS)
DAY_WORKERS = 2  # sessions inflated and parsed side by side (isal, Polars and NumPy release the GIL)


@dataclass(frozen=True)
class Check:
    """One data-quality figure of one day: whether it is within its threshold, and what was measured."""

    passed: bool
    metadata: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class DayResult:
    """What materializing one partition reports: metadata for its materialization and its checks."""

    metadata: Mapping[str, object]
    checks: Mapping[str, Check] = field(default_factory=dict)


def table_specs(descriptions: Mapping[str, str], deps: Sequence, group_name: str, kinds: set[str],
                code_version: str, automation_condition: dg.AutomationCondition) -> list[dg.AssetSpec]:
    """One spec per table a multi-asset writes (name -> description), alike in everything else."""
    return [dg.AssetSpec(name, deps=deps, group_name=group_name, kinds=kinds, code_version=code_version,
                         owners=["team:spy-gamma"], description=text, automation_condition=automation_condition)
            for name, text in descriptions.items()]


def check_specs(asset: str, descriptions: Mapping[str, str]) -> list[dg.AssetCheckSpec]:
    """The asset's own checks (non-blocking: they report a WARN, they do not stop the run)."""
    return [dg.AssetCheckSpec(name, asset=asset, description=text) for name, text in descriptions.items()]


def materialize_days(context: dg.AssetExecutionContext, build: Callable[[dt.date], DayResult],
                     workers: int = 1, assets: Sequence[str] = ()) -> Iterator[dg.MaterializeResult]:
    """Run ``build`` for every partition of the run, attach each day's metadata, and fold the checks.

    ``assets`` names the outputs of a multi-asset (the first gets the metadata and the checks); a plain asset
    leaves it empty. A ``DataError`` (unreadable or invalid input) fails the step without retries: retrying
    cannot fix a file.
    """
    days = partition_days(context)
    try:
        results = _run(build, days, workers)
    except DataError as error:
        raise dg.Failure(description=str(error), allow_retries=False) from error
    primary = assets[0] if assets else None
    for day, result in zip(days, results):
        context.add_asset_metadata(dict(result.metadata), asset_key=primary, partition_key=day.isoformat())
    yield dg.MaterializeResult(asset_key=primary, check_results=fold_checks(days, results))
    for other in assets[1:]:
        yield dg.MaterializeResult(asset_key=other)


def _run(build: Callable[[dt.date], DayResult], days: list[dt.date], workers: int) -> list[DayResult]:
    if workers <= 1 or len(days) <= 1:
        return [build(day) for day in days]
    with ThreadPoolExecutor(max_workers=min(workers, len(days))) as pool:
        return list(pool.map(build, days))


def fold_checks(days: Iterable[dt.date], results: Iterable[DayResult]) -> list[dg.AssetCheckResult]:
    """One result per check over the run's days: passed when every day passed; failing days and figures listed."""
    by_check: dict[str, list[tuple[str, Check]]] = {}
    for day, result in zip(days, results):
        for name, check in result.checks.items():
            by_check.setdefault(name, []).append((day.isoformat(), check))
    folded = []
    for name, day_checks in by_check.items():
        failing = [day for day, check in day_checks if not check.passed]
        figures = {day: dict(check.metadata) for day, check in day_checks}
        folded.append(dg.AssetCheckResult(
            check_name=name, passed=not failing, severity=dg.AssetCheckSeverity.WARN,
            metadata={"days": len(day_checks), "failing_days": ", ".join(failing) or "none",
                      "figures": dg.MetadataValue.json(figures)}))
    return folded
