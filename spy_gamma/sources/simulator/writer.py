"""Atomic writes of the flat-file layout (ARCHITECTURE §2) and the truth folder."""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import polars as pl
from isal import igzip

from spy_gamma.files import publish

GZIP_LEVEL = 1  # isal's fast levels (0-3); output is standard gzip
FLATFILE_PREFIX = {
    "trades": "us_options_opra/trades_v1",
    "quotes": "us_options_opra/quotes_v1",
    "minute_aggs": "us_stocks_sip/minute_aggs_v1",
    "open_interest": "open_interest",
}


def cents_text(cents: pl.Expr) -> pl.Expr:
    """Dollar text from integer cents (``351`` -> ``3.51``): exact, no binary float noise in the file."""
    return pl.format("{}.{}", cents // 100, (cents % 100).cast(pl.String).str.zfill(2))


def flatfile_path(root: Path, kind: str, day: dt.date) -> Path:
    """``<root>/<prefix>/YYYY/MM/YYYY-MM-DD.csv.gz``, Polygon's key layout."""
    return root / FLATFILE_PREFIX[kind] / f"{day:%Y}" / f"{day:%m}" / f"{day:%Y-%m-%d}.csv.gz"


def truth_path(root: Path, kind: str, day: dt.date) -> Path:
    return root / "truth" / kind / f"{day:%Y-%m-%d}.parquet"


def replace_atomically(path: Path, payload: bytes) -> None:
    """Write ``payload`` whole or not at all (see :func:`_write_whole`)."""
    _write_whole(path, lambda temp: temp.write_bytes(payload))


def _write_whole(path: Path, write: Callable[[Path], object]) -> None:
    """``write`` a temp file in the same folder, then publish it with the user's umask: readers never see a
    partial file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    os.close(handle)
    try:
        write(Path(temp))
        publish(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def write_csv_gz(frame: pl.DataFrame, path: Path) -> None:
    """CSV with header, gzip with a zero mtime so the same frame gives the same bytes."""
    replace_atomically(path, igzip.compress(frame.write_csv().encode(), GZIP_LEVEL, mtime=0))


def write_parquet(frame: pl.DataFrame, path: Path) -> None:
    _write_whole(path, lambda temp: frame.write_parquet(temp, statistics=False))


def write_json(payload: dict, path: Path) -> None:
    replace_atomically(path, json.dumps(payload, indent=2, sort_keys=True, default=str).encode())
