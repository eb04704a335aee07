"""The lake: atomic partitions, DuckDB views over them, and concurrent writers that never collide."""

import datetime as dt
import multiprocessing

import duckdb
import polars as pl
import pytest

from spy_gamma.lake import Lake, LakeError

DAYS = [dt.date(2025, 9, d) for d in (8, 9, 10, 11, 12, 15)]


def frame(day: dt.date, rows: int = 1000) -> pl.DataFrame:
    return pl.DataFrame({"day": [day] * rows, "value": list(range(rows))})


def write_partition(args) -> str:
    root, table, day = args
    Lake(root).write(table, day, frame(day))
    return day.isoformat()


def test_write_then_read_roundtrip_and_view(tmp_path):
    lake = Lake(tmp_path)
    lake.write("spy_trades", DAYS[0], frame(DAYS[0]))
    assert lake.read("spy_trades", DAYS[0]).equals(frame(DAYS[0]))
    with duckdb.connect(str(lake.catalog_path), read_only=True) as con:
        assert con.execute("select count(*) from spy_trades").fetchone()[0] == 1000
    lake.write("spy_trades", DAYS[1], frame(DAYS[1]))    # the glob view sees new partitions without a write
    with duckdb.connect(str(lake.catalog_path), read_only=True) as con:
        assert con.execute("select count(*) from spy_trades").fetchone()[0] == 2000
    assert lake.days("spy_trades") == DAYS[:2]


def test_missing_partition_says_which(tmp_path):
    with pytest.raises(LakeError, match="spy_quotes has no partition 2025-09-08"):
        Lake(tmp_path).read("spy_quotes", DAYS[0])


def test_failed_write_keeps_the_previous_partition_whole(tmp_path):
    lake = Lake(tmp_path)
    lake.write("t", DAYS[0], frame(DAYS[0], rows=10))
    bad = pl.DataFrame({"value": [object()]}, schema={"value": pl.Object})
    with pytest.raises(Exception):
        lake.write("t", DAYS[0], bad)
    assert lake.read("t", DAYS[0]).height == 10
    assert not [p for p in (tmp_path / "lake" / "t").iterdir() if p.suffix == ".tmp"]


def test_concurrent_writers_across_processes_never_fail_on_duckdb_locks(tmp_path):
    """Six processes create three new tables' partitions at once while a reader keeps querying."""
    jobs = [(tmp_path, f"table_{i % 3}", day) for i, day in enumerate(DAYS)]
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        written = pool.map(write_partition, jobs)
    assert sorted(written) == sorted(d.isoformat() for d in DAYS)
    with duckdb.connect(str(Lake(tmp_path).catalog_path), read_only=True) as con:
        counts = [con.execute(f"select count(*) from table_{i}").fetchone()[0] for i in range(3)]
    assert counts == [2000, 2000, 2000]
