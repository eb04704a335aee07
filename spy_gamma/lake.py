"""The Parquet lake (one file per table and partition, written atomically) and its DuckDB catalog of views.

``data/lake/<table>/<YYYY-MM-DD>.parquet``: a daily table's partition is a session (column ``date``), an as-of
table's partition is the close its analysis is as of (column ``as_of``); the key is also a column of the file, so
views and readers never need the file name. Writers never hold DuckDB open: the catalog only holds views over
``lake/<table>/*.parquet`` globs, relative to the data dir, so concurrent runs never contend for DuckDB's
single-writer lock, readers keep working during runs, and a moved or copied data dir keeps working.
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

from spy_gamma.files import publish

_TMP_SUFFIX = ".tmp"
CATALOG = "spy_gamma.duckdb"
# Older DuckDB CLIs (e.g. the duckdb-cli package) can open the catalog: it holds nothing but views.
CATALOG_STORAGE_VERSION = "v1.0.0"
QUERY_STATEMENTS = ("SELECT", "EXPLAIN")
log = logging.getLogger(__name__)


class LakeError(RuntimeError):
    """A partition the pipeline needs is not in the lake, cannot be read, or could not be written."""


class QueryError(ValueError):
    """A query the read-only catalog refuses: more than one statement, or anything but a SELECT."""


class Lake:
    """Parquet files under ``data_dir/lake/<table>/<key>.parquet`` plus ``data_dir/spy_gamma.duckdb`` views.

    ``reads`` records every ``(table, key)`` read, so a test can compare what an asset read with what it declares.
    """

    def __init__(self, data_dir: Path | str):
        self.data_dir = Path(data_dir)
        self.root = self.data_dir / "lake"
        self.catalog_path = self.data_dir / CATALOG
        self.reads: list[tuple[str, dt.date]] = []

    def path(self, table: str, key: dt.date) -> Path:
        """Where a table's partition lives."""
        return self.root / table / f"{key.isoformat()}.parquet"

    def exists(self, table: str, key: dt.date) -> bool:
        return self.path(table, key).exists()

    def write(self, table: str, key: dt.date, frame: pl.DataFrame, key_column: str = "date") -> Path:
        """Write one partition atomically (``key_column`` first) and register its view.

        On failure the previous partition stays whole; a disk-full or permission error becomes a ``LakeError``
        naming the partition and its file.
        """
        target = self.path(table, key)
        keyed = frame.select(pl.lit(key, dtype=pl.Date).alias(key_column), pl.exclude(key_column))
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            _discard_orphans(target)
            _write_atomically(keyed, target)
        except OSError as error:
            raise LakeError(f"{target}: could not write {table} partition {key} "
                            f"({error.strerror or error}); the previous partition, if any, is unchanged") from error
        self._ensure_view(table)
        return target

    def read(self, table: str, key: dt.date) -> pl.DataFrame:
        """One partition; a clear error when it was never materialized or cannot be read."""
        path = self.path(table, key)
        self.reads.append((table, key))
        if not path.exists():
            raise LakeError(f"{table} has no partition {key} in {self.root} (materialize it first)")
        try:
            return pl.read_parquet(path)
        except (OSError, pl.exceptions.PolarsError) as error:
            raise LakeError(f"{path}: {table} partition {key} is unreadable ({str(error).splitlines()[0]}); "
                            "materialize it again") from error

    def read_if_present(self, table: str, key: dt.date) -> pl.DataFrame | None:
        """A partition, or None when it was never materialized (e.g. the next session's OI not yet published)."""
        if self.exists(table, key):
            return self.read(table, key)
        self.reads.append((table, key))
        return None

    def read_days(self, table: str, keys: list[dt.date], missing_ok: bool = False) -> pl.DataFrame:
        """Several partitions stacked (each carries its key column); missing ones error unless ``missing_ok``."""
        frames = [self.read_if_present(table, key) if missing_ok else self.read(table, key) for key in keys]
        present = [frame for frame in frames if frame is not None]
        return pl.concat(present, how="diagonal_relaxed") if present else pl.DataFrame()

    def keys(self, table: str) -> list[dt.date]:
        """Partition keys materialized for a table, oldest first."""
        folder = self.root / table
        names = [p.stem for p in folder.glob("*.parquet")] if folder.exists() else []
        return sorted(dt.date.fromisoformat(name) for name in names)

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
                        glob = f"lake/{table}/*.parquet"
                        connection.execute(f"create or replace view {_identifier(table)} as select * from "
                                           f"read_parquet({_literal(glob)}, union_by_name = true)")
            finally:
                connection.close()

    def query(self, sql: str) -> pl.DataFrame:
        """Run one SELECT (or EXPLAIN) on the catalog, confined to reading the lake: no writes, no other files,
        no extensions, no network; the result as a frame."""
        statements = duckdb.extract_statements(sql)
        if len(statements) != 1:
            raise QueryError(f"one statement per query, got {len(statements)}")
        if statements[0].type.name not in QUERY_STATEMENTS:
            raise QueryError(f"only SELECT queries run on the catalog, not {statements[0].type.name}")
        if not self.catalog_path.exists():
            raise LakeError(f"{self.catalog_path}: no catalog yet (run spy-gamma run or demo first)")
        connection = self.reader()
        try:
            return connection.sql(sql).pl()
        finally:
            connection.close()

    def reader(self) -> duckdb.DuckDBPyConnection:
        """A read-only catalog connection that can read the lake and nothing else, its configuration locked."""
        connection = duckdb.connect(str(self.catalog_path), read_only=True, config={
            "file_search_path": str(self.data_dir.resolve()), "autoload_known_extensions": False,
            "autoinstall_known_extensions": False})
        lake = self.root.resolve().as_posix()
        connection.execute(f"set allowed_directories = [{_literal(lake + '/')}, 'lake/']")
        connection.execute("set enable_external_access = false")
        connection.execute("set lock_configuration = true")
        return connection


def _identifier(name: str) -> str:
    """A double-quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    """A single-quoted SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def _write_atomically(frame: pl.DataFrame, target: Path) -> None:
    """Temp file beside ``target`` (named after the writing process), fsync, then published (user's mode, rename,
    folder fsync).

    Readers only ever see ``*.parquet`` names, so a writer killed mid-write leaves an invisible ``.tmp``.
    """
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.stem}.{os.getpid()}.", suffix=_TMP_SUFFIX, dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            frame.write_parquet(handle, compression="zstd", statistics=True)
            handle.flush()
            os.fsync(handle.fileno())
        publish(tmp_name, target)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


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
    config = {"storage_compatibility_version": CATALOG_STORAGE_VERSION,
              "file_search_path": str(path.parent.resolve())}
    for _ in range(attempts - 1):
        try:
            return duckdb.connect(str(path), config=config)
        except duckdb.IOException:
            time.sleep(0.25)
    return duckdb.connect(str(path), config=config)
