"""The lake under faults: a full disk mid-write, temp files of dead writers, an unreadable partition, a lost catalog."""

from __future__ import annotations

import datetime as dt
import os
import subprocess

import polars as pl
import pytest

from spy_gamma.lake import Lake, LakeError
from spy_gamma_tests.reliability.faults import os_error, partial_write

DAY = dt.date(2025, 9, 17)


def day_frame(rows: int) -> pl.DataFrame:
    return pl.DataFrame({"ticker": ["O:SPY250922C00660000"] * rows, "size": list(range(rows))})


def test_disk_full_mid_write_is_a_lake_error_and_the_partition_stays_whole(tmp_path, monkeypatch):
    lake = Lake(tmp_path)
    stored = lake.write("spy_trades", DAY, day_frame(10))
    before = stored.read_bytes()
    monkeypatch.setattr(pl.DataFrame, "write_parquet", partial_write("spy_trades", DAY.isoformat(), os_error("ENOSPC")))
    with pytest.raises(LakeError) as raised:
        lake.write("spy_trades", DAY, day_frame(50_000))
    assert str(raised.value) == (f"{stored}: could not write spy_trades partition {DAY} (No space left on device); "
                                 "the previous partition, if any, is unchanged")
    assert stored.read_bytes() == before and lake.read("spy_trades", DAY).drop("date").equals(day_frame(10))
    assert sorted(p.name for p in stored.parent.iterdir()) == [".view", f"{DAY}.parquet"]


def test_temp_files_of_dead_writers_are_swept_and_live_writers_left_alone(tmp_path):
    lake = Lake(tmp_path)
    folder = lake.path("spy_trades", DAY).parent
    folder.mkdir(parents=True)
    process = subprocess.Popen(["true"])
    process.wait()
    dead = folder / f".{DAY}.{process.pid}.k3x9.tmp"
    live = folder / f".{DAY}.{os.getpid()}.a1b2.tmp"  # a concurrent writer still busy with its file
    other_day = folder / f".2025-09-18.{process.pid}.q7w2.tmp"
    for orphan in (dead, live, other_day):
        orphan.write_bytes(b"PAR1 half a file")
    lake.write("spy_trades", DAY, day_frame(3))
    assert not dead.exists()
    assert live.exists() and other_day.exists()  # another partition's orphans wait for that partition's write
    assert lake.keys("spy_trades") == [DAY]


def test_an_unreadable_partition_is_named(tmp_path):
    lake = Lake(tmp_path)
    path = lake.write("spy_quotes", DAY, day_frame(1000))
    path.write_bytes(path.read_bytes()[:300])  # e.g. a copy cut short outside the lake's writer
    with pytest.raises(LakeError, match=rf"^{path}: spy_quotes partition {DAY} is unreadable .*materialize it again"):
        lake.read("spy_quotes", DAY)


def test_views_come_back_after_the_catalog_is_deleted(tmp_path):
    lake = Lake(tmp_path)
    lake.write("spy_spot", DAY, day_frame(4))
    lake.catalog_path.unlink()
    lake.write("spy_spot", DAY + dt.timedelta(days=1), day_frame(6))
    assert lake.query("select count(*) from spy_spot").rows() == [(10,)]
