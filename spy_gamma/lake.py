"""The Parquet lake (one file per table and trading day, written atomically) and its DuckDB catalog of views.

Writers never hold DuckDB open: partitions land as Parquet files and the catalog only holds views over
``<table>/*.parquet`` globs, so concurrent backfills never contend for DuckDB's single-writer lock and
readers (``duckdb -readonly data/spy_gamma.duckdb``) keep working while Dagster runs.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import tempfile
import time
from pathlib import Path

import duckdb
import polars as pl
from filelock import FileLock

WINDOW = "window"
_TMP_SUFFIX = ".tmp"
log = logging.getLogger(__name__)


class LakeError(RuntimeError):
    """A partition the pipeline needs is not in the lake, cannot be read, or could not be written."""


class Lake:
    """Parquet files under ``root/lake/<table>/<partition>.parquet`` plus ``root/spy_gamma.duckdb`` views."""

    def __init__(self, data_dir: Path | str):
        self.data_dir = Path(data_dir)
        self.root = self.data_dir / "lake"
        self.catalog_path = self.data_dir / "spy_gamma.duckdb"

    def path(self, table: str, partition: dt.date | str = WINDOW) -> Path:
        """Where a table's partition (a trading day, or ``window`` for whole-window tables) lives."""
        name = partition.isoformat() if isinstance(partition, dt.date) else partition
        return self.root / table / f"{name}.parquet"

    def exists(self, table: str, partition: dt.date | str = WINDOW) -> bool:
        return self.path(table, partition).exists()

    def write(self, table: str, partition: dt.date | str, frame: pl.DataFrame) -> Path:
        """Write one partition atomically and register its view; on failure the previous partition stays whole.

        A disk-full or permission error becomes a ``LakeError`` naming the partition and its file.
        """
        target = self.path(table, partition)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            _discard_orphans(target)
            _write_atomically(frame, target)
        except OSError as error:
            raise LakeError(f"{target}: could not write {table} partition {target.stem} "
                            f"({error.strerror or error}); the previous partition, if any, is unchanged") from error
        self._ensure_view(table)
        return target

    def read(self, table: str, partition: dt.date | str = WINDOW) -> pl.DataFrame:
        """One partition; a clear error when it was never materialized."""
        path = self.path(table, partition)
        if not path.exists():
            raise LakeError(f"{table} has no partition {partition} in {self.root} (materialize it first)")
        try:
            return pl.read_parquet(path)
        except (OSError, pl.exceptions.PolarsError) as error:
            raise LakeError(f"{path}: {table} partition {path.stem} is unreadable ({str(error).splitlines()[0]}); "
                            "materialize it again") from error

    def read_days(self, table: str, days: list[dt.date], missing_ok: bool = False) -> pl.DataFrame:
        """Several daily partitions stacked, with a ``date`` column; missing days error unless ``missing_ok``."""
        frames = [self.read(table, day).with_columns(pl.lit(day).alias("date"))
                  for day in days if not (missing_ok and not self.exists(table, day))]
        return pl.concat(frames, how="diagonal_relaxed") if frames else pl.DataFrame()

    def days(self, table: str) -> list[dt.date]:
        """Trading days materialized for a daily table."""
        folder = self.root / table
        names = [p.stem for p in folder.glob("*.parquet")] if folder.exists() else []
        return sorted(dt.date.fromisoformat(n) for n in names if n != WINDOW)

    def _ensure_view(self, table: str) -> None:
        """Create the table's DuckDB view once; the glob picks up later partitions without a write.

        The marker only counts while the catalog exists: a deleted or fresh catalog gets its views back.
        """
        marker = self.root / table / ".view"
        if marker.exists() and self.catalog_path.exists():
            return
        try:
            self.refresh_views([table])
        except (duckdb.IOException, TimeoutError) as busy:  # a long-lived reader holds the catalog: retry next write
            log.warning("DuckDB catalog busy, view %s not created yet: %s", table, busy)
            return
        marker.touch()

    def refresh_views(self, tables: list[str] | None = None) -> None:
        """(Re)create views over every table folder that holds Parquet, under a cross-process file lock."""
        if tables is None:
            tables = sorted(p.name for p in self.root.iterdir() if p.is_dir()) if self.root.exists() else []
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with FileLock(str(self.catalog_path) + ".lock", timeout=60):
            connection = _connect_with_retry(self.catalog_path)
            try:
                for table in tables:
                    if any((self.root / table).glob("*.parquet")):
                        glob = (self.root / table / "*.parquet").as_posix()
                        connection.execute(f"create or replace view {table} as select * from "
                                           f"read_parquet('{glob}', union_by_name = true)")
            finally:
                connection.close()


def _write_atomically(frame: pl.DataFrame, target: Path) -> None:
    """Temp file beside ``target`` (named after the writing process), fsync, rename, fsync the folder.

    Readers only ever see ``*.parquet`` names, so a writer killed mid-write leaves an invisible ``.tmp``.
    """
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.stem}.{os.getpid()}.", suffix=_TMP_SUFFIX, dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            frame.write_parquet(handle, compression="zstd", statistics=True)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, target)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    folder = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(folder)  # the rename itself survives a power cut
    finally:
        os.close(folder)


def _discard_orphans(target: Path) -> None:
    """Delete temp files of ``target`` left by writers that died mid-write (SIGKILL, OOM, power cut)."""
    for orphan in target.parent.glob(f".{target.stem}.*{_TMP_SUFFIX}"):
        pid = orphan.name[len(target.stem) + 2:].split(".")[0]
        if pid.isdigit() and not _process_alive(int(pid)):
            orphan.unlink(missing_ok=True)


def _process_alive(pid: int) -> bool:
    """True when a process with this id exists (a concurrent writer whose temp file must be left alone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        pass
    return True


def _connect_with_retry(path: Path, attempts: int = 40) -> duckdb.DuckDBPyConnection:
    """Open the catalog read-write, waiting out a reader outside our lock (e.g. a user's duckdb shell)."""
    for _ in range(attempts - 1):
        try:
            return duckdb.connect(str(path))
        except duckdb.IOException:
            time.sleep(0.25)
    return duckdb.connect(str(path))
