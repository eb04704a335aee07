"""Fault injection shared by the in-process tests and the ``spy-gamma`` subprocesses they start.

``python -m spy_gamma_tests.reliability.faults [--stall TABLE PARTITION MARKER] -- <spy-gamma args>`` runs the
CLI on the short test window; with ``--stall`` the write of that lake partition stops halfway through its temp
file and touches MARKER, so the test can SIGKILL the process exactly mid-write.
"""

from __future__ import annotations

import argparse
import datetime as dt
import errno
import io
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import polars as pl

from spy_gamma.defs import resources
from spy_gamma.trading_calendar import analysis_window

WINDOW_CALENDAR_DAYS = 2  # 2025-09-19 -> sessions 09-17, 09-18, 09-19 (the production default is 30)

WriteParquet = Callable[..., None]
_ORIGINAL_WRITE_PARQUET: WriteParquet = pl.DataFrame.write_parquet


def short_analysis_window(analysis_date: dt.date, calendar_days: int = 30) -> list[dt.date]:
    """The sessions of the last ``WINDOW_CALENDAR_DAYS`` calendar days: same code path, a fraction of the run."""
    return analysis_window(analysis_date, WINDOW_CALENDAR_DAYS)


def written_path(handle) -> str:
    """The file a handle writes to (the lake hands ``write_parquet`` an ``os.fdopen`` handle, named by fd)."""
    return os.readlink(f"/proc/self/fd/{handle.fileno()}")


def partial_write(table: str, partition: str, then: Callable[[], None]) -> WriteParquet:
    """A ``DataFrame.write_parquet`` that, for one lake partition, writes half its bytes and calls ``then``."""

    def write_parquet(frame: pl.DataFrame, handle, *args, **kwargs) -> None:
        target = written_path(handle) if hasattr(handle, "fileno") else str(handle)
        folder, name = os.path.split(target)
        if os.path.basename(folder) != table or not name.startswith(f".{partition}."):
            return _ORIGINAL_WRITE_PARQUET(frame, handle, *args, **kwargs)
        whole = io.BytesIO()
        _ORIGINAL_WRITE_PARQUET(frame, whole, *args, **kwargs)
        handle.write(whole.getvalue()[: len(whole.getvalue()) // 2])
        handle.flush()
        os.fsync(handle.fileno())
        then()

    return write_parquet


def disk_full() -> None:
    """What ``write(2)`` raises on a full file system."""
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def stall_forever(marker: Path) -> Callable[[], None]:
    """Signal the test through ``marker``, then hang until killed."""

    def stall() -> None:
        marker.touch()
        time.sleep(600)

    return stall


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--stall", nargs=3, metavar=("TABLE", "PARTITION", "MARKER"))
    parser.add_argument("cli", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    resources.analysis_window = short_analysis_window
    if args.stall:
        table, partition, marker = args.stall
        pl.DataFrame.write_parquet = partial_write(table, partition, stall_forever(Path(marker)))
    from spy_gamma.cli import main as spy_gamma

    return spy_gamma([a for a in args.cli if a != "--"])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
