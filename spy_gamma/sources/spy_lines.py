"""A day's OPRA trades or quotes with only the lines that can be SPY parsed: ``readers``' results at less CPU.

A full OPRA trades day is ~6 M rows, a fifth of them SPY. ``readers`` parses every line; here each inflated piece
is first scanned as plain lines and only the lines that mention ``O:SPY`` (or one of the wanted tickers) are parsed:
a superset of the wanted rows in any column order, quoted or not, which the same typed parse and strict ticker
parse then narrow. Everything else (streaming, limits, header, errors, plausibility, counts) is ``readers``' code,
so both return the same frames and counts or raise the same ``DataError``. By design, a damaged row of another
underlying is never parsed here, so it does not stop the day.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import date
from pathlib import Path

import polars as pl

from spy_gamma.sources.readers import (
    OPTION_PREFIX,
    QUOTES_SCHEMA,
    TRADES_SCHEMA,
    QuotesRead,
    TradesRead,
    file_rows,
    option_rows,
    quotes_of,
    trades_of,
)


def read_spy_trades(path: Path, expiries: Collection[date] | None = None) -> TradesRead:
    """``readers.read_trades`` of one trades_v1 file, parsing only the lines that mention ``O:SPY``."""
    return trades_of(file_rows(path, TRADES_SCHEMA, option_rows(), mentions([OPTION_PREFIX])), expiries)


def read_spy_quotes(path: Path, tickers: Collection[str] | None = None) -> pl.DataFrame:
    """``readers.read_quotes`` of one quotes_v1 file, parsing only the lines of ``tickers`` (every SPY line if None)."""
    return read_spy_quotes_counted(path, tickers).frame


def read_spy_quotes_counted(path: Path, tickers: Collection[str] | None = None) -> QuotesRead:
    """``readers.read_quotes_counted`` of one quotes_v1 file, parsing only the lines that can be wanted."""
    wanted = [OPTION_PREFIX] if tickers is None else tickers
    return quotes_of(file_rows(path, QUOTES_SCHEMA, option_rows(tickers), mentions(wanted)))


def mentions(needles: Collection[str]) -> pl.Expr:
    """Lines holding one of ``needles`` anywhere (Aho-Corasick): every row whose ticker is or starts with one."""
    return pl.col("line").str.contains_any(sorted(set(needles))) if needles else pl.lit(False)
