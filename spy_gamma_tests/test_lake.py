"""The lake: atomic partitions keyed by date or as-of, relative DuckDB views, a confined read-only query, and
concurrent writers that never collide."""

import datetime as dt
import multiprocessing
import shutil
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from spy_gamma.lake import Lake, LakeError, QueryError

DAYS = [dt.date(2025, 9, d) for d in (8, 9, 10, 11, 12, 15)]


def frame(rows: int = 1000) -> pl.DataFrame:
    return pl.DataFrame({"value": list(range(rows))})


def write_partition(args) -> str:
    root, table, day = args
    Lake(root).write(table, day, frame())
    return day.isoformat()


def test_partitions_carry_their_key_and_the_view_sees_new_ones(tmp_path):
    lake = Lake(tmp_path)
    lake.write("spy_trades", DAYS[0], frame())
    assert lake.read("spy_trades", DAYS[0]).columns == ["date", "value"]
    lake.write("levels_history", DAYS[0], frame(1), key_column="as_of")
    assert lake.read("levels_history", DAYS[0])["as_of"].to_list() == [DAYS[0]]
    lake.write("spy_trades", DAYS[1], frame())    # the glob view sees new partitions without a catalog write
    rows = lake.query("select date, count(*) from spy_trades group by date order by date").rows()
    assert rows == [(DAYS[0], 1000), (DAYS[1], 1000)]
    assert lake.keys("spy_trades") == DAYS[:2]


def test_missing_partition_says_which(tmp_path):
    with pytest.raises(LakeError, match="spy_quotes has no partition 2025-09-08"):
        Lake(tmp_path).read("spy_quotes", DAYS[0])


def test_failed_write_keeps_the_previous_partition_whole(tmp_path):
    lake = Lake(tmp_path)
    lake.write("t", DAYS[0], frame(10))
    bad = pl.DataFrame({"value": [object()]}, schema={"value": pl.Object})
    with pytest.raises((pl.exceptions.PolarsError, TypeError, ValueError)):
        lake.write("t", DAYS[0], bad)
    assert lake.read("t", DAYS[0]).height == 10
    assert not [p for p in (tmp_path / "lake" / "t").iterdir() if p.suffix == ".tmp"]


def test_a_moved_data_dir_reads_its_own_lake(tmp_path):
    old = tmp_path / "old"
    Lake(old).write("t", DAYS[0], frame(3))
    moved = tmp_path / "it's moved"  # a quote in the path once broke view creation
    shutil.copytree(old, moved)
    shutil.rmtree(old)
    Lake(moved).write("u", DAYS[0], frame(2))
    assert Lake(moved).query("select count(*) from t").rows() == [(3,)]
    assert Lake(moved).query("select count(*) from u").rows() == [(2,)]


@pytest.mark.parametrize("sql, refusal", [
    ("copy (select 1) to 'lake/t/2025-09-08.parquet'", "only SELECT"),
    ("select 1; select 2", "one statement"),
    ("install httpfs", "only SELECT"),
    ("attach '/tmp/elsewhere.duckdb'", "only SELECT"),
    ("set enable_external_access = true", "only SELECT"),
])
def test_query_runs_one_select_and_nothing_else(tmp_path, sql, refusal):
    lake = Lake(tmp_path)
    lake.write("t", DAYS[0], frame(3))
    with pytest.raises(QueryError, match=refusal):
        lake.query(sql)
    assert lake.read("t", DAYS[0]).height == 3


@pytest.mark.parametrize("sql", ["select * from read_text('/etc/passwd')",
                                 "select * from read_csv('/etc/hostname')",
                                 "select * from read_parquet('lake/../spy_gamma.duckdb')",
                                 "select * from read_text('https://example.com/')"])
def test_query_cannot_read_outside_the_lake_or_loosen_its_limits(tmp_path, sql):
    lake = Lake(tmp_path)
    lake.write("t", DAYS[0], frame(3))
    with pytest.raises(Exception, match="(?i)permission|disabled|locked|not allowed|does not exist|catalog"):
        lake.query(sql).rows()


def test_the_documented_duckdb_cli_reads_the_catalog(tmp_path):
    """README: `cd data && duckdb -readonly spy_gamma.duckdb`, with the duckdb-cli package `make` installs."""
    Lake(tmp_path).write("t", DAYS[0], frame(4))
    cli = Path(sys.executable).with_name("duckdb")
    result = subprocess.run([str(cli), "-readonly", "spy_gamma.duckdb", "-csv", "-c", "select count(*) from t"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "4"


def test_concurrent_writers_across_processes_never_fail_on_duckdb_locks(tmp_path):
    """Six processes create three new tables' partitions at once."""
    jobs = [(tmp_path, f"table_{i % 3}", day) for i, day in enumerate(DAYS)]
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        written = pool.map(write_partition, jobs)
    assert sorted(written) == sorted(d.isoformat() for d in DAYS)
    counts = [Lake(tmp_path).query(f"select count(*) from table_{i}").item() for i in range(3)]
    assert counts == [2000, 2000, 2000]


def test_partitions_get_the_users_umask_not_0600(tmp_path):
    import os
    import stat

    previous = os.umask(0o022)
    try:
        path = Lake(tmp_path).write("t", DAYS[0], frame(1))
    finally:
        os.umask(previous)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
