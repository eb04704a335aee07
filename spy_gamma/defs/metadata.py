"""Materialization metadata an operator reads in the Dagster UI: row counts, shares, previews, timings."""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import polars as pl


def preview(frame: pl.DataFrame, rows: int = 5, columns: list[str] | None = None) -> dg.MetadataValue:
    """A small markdown table of the first rows (floats rounded) for the asset page."""
    head = frame.select(columns or frame.columns[:10]).head(rows)
    head = head.with_columns(pl.col(pl.Float64).round(4))
    header = "| " + " | ".join(head.columns) + " |\n|" + "---|" * len(head.columns) + "\n"
    body = "".join("| " + " | ".join(str(v) for v in row) + " |\n" for row in head.iter_rows())
    return dg.MetadataValue.md(header + body)


def share(numerator: float, denominator: float) -> float:
    """A percentage rounded for display (0 when the denominator is 0)."""
    return round(100.0 * numerator / denominator, 2) if denominator else 0.0


def path_value(path: Path) -> dg.MetadataValue:
    return dg.MetadataValue.path(str(path.resolve()))


@contextmanager
def stopwatch(timings: dict[str, float], name: str):
    """Record the seconds a block takes into ``timings[name]``."""
    start = time.perf_counter()
    yield
    timings[name] = round(time.perf_counter() - start, 3)


def jsonable(value):
    """Dataclasses, dates and NumPy scalars as JSON values (a ``json.dumps`` default)."""
    if dataclasses.is_dataclass(value):
        return dataclasses.asdict(value)
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")
