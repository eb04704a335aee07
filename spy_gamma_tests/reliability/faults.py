"""Fault injection for the ``spy-gamma`` subprocesses the reliability tests start.

``python -m spy_gamma_tests.reliability.faults FAULT TABLE PARTITION [MARKER] -- <spy-gamma args>`` runs the
real CLI with one lake partition's write stopped halfway through its temp file:

- ``--stall TABLE PARTITION MARKER``: touch MARKER and hang, so the test can kill the process exactly mid-write;
- ``--fail TABLE PARTITION ERRNO``: raise the ``OSError`` a full (``ENOSPC``) or read-only (``EROFS``) disk raises.

Everything else is the production code path.
"""

from __future__ import annotations

import argparse
import errno
import io
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import polars as pl

WriteParquet = Callable[..., None]
_ORIGINAL_WRITE_PARQUET: WriteParquet = pl.DataFrame.write_parquet


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


def os_error(name: str) -> Callable[[], None]:
    """What ``write(2)`` raises for that errno name (``ENOSPC``: a full disk; ``EROFS``: a read-only one)."""
    code = getattr(errno, name)

    def fail() -> None:
        raise OSError(code, os.strerror(code))

    return fail


def stall_forever(marker: Path) -> Callable[[], None]:
    """Signal the test through ``marker``, then hang until killed."""

    def stall() -> None:
        marker.touch()
        time.sleep(600)

    return stall


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    faults = parser.add_mutually_exclusive_group(required=True)
    faults.add_argument("--stall", nargs=3, metavar=("TABLE", "PARTITION", "MARKER"))
    faults.add_argument("--fail", nargs=3, metavar=("TABLE", "PARTITION", "ERRNO"))
    parser.add_argument("cli", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    if args.stall:
        table, partition, marker = args.stall
        pl.DataFrame.write_parquet = partial_write(table, partition, stall_forever(Path(marker)))
    else:
        table, partition, name = args.fail
        pl.DataFrame.write_parquet = partial_write(table, partition, os_error(name))
    from spy_gamma.cli import main as spy_gamma

    return spy_gamma([a for a in args.cli if a != "--"])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
