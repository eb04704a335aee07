"""A day's OPRA trades or quotes with only the wanted rows parsed: ``readers``' results at about half the CPU.

A full OPRA trades day is ~6 M rows, a fifth of them SPY; ``readers.read_trades`` parses every row, which costs
several times the gzip decompression itself. Here the file inflates on a worker thread in line-aligned 8 MB
pieces (small enough to stay in cache) while the main thread scans each piece as plain lines and keeps those
starting with the wanted ticker (Polars pushes that test into the scan); only the kept lines are parsed as CSV,
and the selection and drop counts are decided per contract, not per row. The frames and counts equal
``readers``' row for row; a file this path does not expect (a missing column, a null, a malformed SPY ticker, a
line it cannot parse) goes to ``readers`` whole, whose error names the file, line and field. Unlike ``readers``,
rows of other underlyings are never parsed, so a damaged row of another root no longer stops the day.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Collection, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from itertools import groupby
from pathlib import Path

import numpy as np
import polars as pl
from isal import igzip, igzip_lib

from spy_gamma.quant.contracts import ROOT, TICKER_PATTERN, parse_tickers
from spy_gamma.sources import readers
from spy_gamma.sources.readers import QUOTES_SCHEMA, SPY_TRADES_COLUMNS, TRADES_SCHEMA, TradesRead

log = logging.getLogger(__name__)

PIECE_BYTES = 8 * 1024 * 1024  # inflated text per piece: 32 MB pieces cost ~60% more (cache misses, page faults)
SPY_PREFIX = "O:SPY"  # also SPYI/SPYG, which the strict ticker parse removes
_WHOLE_LINE = "\x1f"  # ASCII unit separator, absent from Polygon files: each line reads as one field
_NEWLINE = ord("\n")


class _Unexpected(Exception):
    """A file shape only the strict reader should judge."""


_HAND_TO_READERS = (_Unexpected, pl.exceptions.PolarsError, OSError, EOFError, igzip_lib.IsalError)


def read_spy_trades(path: Path, expiries: Collection[date] | None = None) -> TradesRead:
    """``readers.read_trades`` of one trades_v1 file, parsing only the rows whose ticker starts with ``O:SPY``."""
    try:
        table, rows_in_file = prefiltered_table(path, TRADES_SCHEMA, pl.col("line").str.starts_with(SPY_PREFIX))
        return _spy_trades(table, rows_in_file, expiries)
    except _HAND_TO_READERS:
        return readers.read_trades(path, expiries)


def read_spy_quotes(path: Path, tickers: Collection[str] | None = None) -> pl.DataFrame:
    """``readers.read_quotes`` of one quotes_v1 file, parsing only the rows of ``tickers`` (every SPY row if None)."""
    keep = pl.col("line").str.starts_with(SPY_PREFIX) if tickers is None else first_field_in(tickers)
    try:
        table, _ = prefiltered_table(path, QUOTES_SCHEMA, keep)
        spy = table.join(_spy_contracts(table), on="ticker")
        _require_values(spy, [name for name in QUOTES_SCHEMA if name != "ticker"])
    except _HAND_TO_READERS:
        return readers.read_quotes(path, tickers)
    sane = spy.filter(pl.min_horizontal("bid_price", "ask_price", "bid_size", "ask_size") >= 0)
    if sane.height < spy.height:
        log.warning("%s: dropped %d quotes with negative prices or sizes", path, spy.height - sane.height)
    return sane.sort(["contract_rank", "sip_timestamp", "sequence_number"]).select(list(QUOTES_SCHEMA))


def _spy_trades(table: pl.DataFrame, rows_in_file: int, expiries: Collection[date] | None) -> TradesRead:
    """``readers.read_trades``' frame and drop counts (same order of drops), counted per contract."""
    _require_values(table, ["sip_timestamp", "price", "size", "exchange", "conditions"])
    prints = table.group_by("ticker").agg(pl.len().alias("prints"),
                                          (pl.col("correction").fill_null(0) != 0).sum().alias("corrected"))
    spy = prints.join(_spy_contracts(prints), on="ticker")
    wanted = spy if expiries is None else spy.filter(pl.col("expiry").is_in(sorted(expiries)))
    current = (table.join(wanted.drop("prints", "corrected"), on="ticker")
               .with_columns(pl.col("correction").fill_null(0)).filter(pl.col("correction") == 0))
    valid = current.filter((pl.col("price") > 0) & (pl.col("size") > 0))
    frame = valid.sort(["contract_rank", "sip_timestamp", "file_row"]).select(SPY_TRADES_COLUMNS)
    spy_rows, corrected = int(spy["prints"].sum()), int(spy["corrected"].sum())
    return TradesRead(frame=frame, rows_in_file=rows_in_file, spy_rows=spy_rows, kept=frame.height,
                      dropped_corrections=corrected, dropped_other_expiries=spy_rows - corrected - current.height,
                      dropped_invalid=current.height - valid.height)


def _spy_contracts(table: pl.DataFrame) -> pl.DataFrame:
    """``ticker, expiry, right, strike, contract_rank`` of the SPY-root tickers (rank = ticker order); a malformed
    ticker goes to the strict reader, which names its line."""
    contracts = table.select(pl.col("ticker").unique().sort()).with_columns(parse_tickers(pl.col("ticker")))
    malformed = ~pl.col("ticker").str.contains(TICKER_PATTERN) | ((pl.col("root") == ROOT) & pl.col("expiry").is_null())
    if contracts.select(malformed.any()).item():
        raise _Unexpected("malformed option ticker")
    return contracts.filter(pl.col("root") == ROOT).drop("root").with_row_index("contract_rank")


def _require_values(frame: pl.DataFrame, columns: list[str]) -> None:
    if any(frame.select(pl.col(columns).null_count()).row(0)):
        raise _Unexpected("missing value")


def first_field_in(tickers: Collection[str]) -> pl.Expr:
    """Lines whose first CSV field is one of ``tickers``: a prefix test per ticker length, nothing parsed."""
    by_length = groupby(sorted(set(tickers), key=len), key=len)
    tests = [pl.col("line").str.slice(0, length + 1).is_in([f"{t}," for t in group]) for length, group in by_length]
    return pl.any_horizontal(tests) if tests else pl.lit(False)


def prefiltered_table(path: Path, schema: dict[str, pl.DataType], keep: pl.Expr) -> tuple[pl.DataFrame, int]:
    """The ``schema`` columns of the rows whose line passes ``keep``, with ``file_row`` (0-based data row of the
    file, as ``readers``), and the number of data rows in the file."""
    header: list[str] | None = None
    kept, rows = [], 0
    for piece, lines_in_piece in inflated_pieces(path, PIECE_BYTES):
        if header is None:
            header, piece = _header(piece, schema)
            lines_in_piece -= 1
        if b"\r" in piece:
            raise _Unexpected("CR line ends")
        kept.append(_lines(piece, keep, rows))
        rows += lines_in_piece
    if header is None:
        raise _Unexpected("empty file")
    return _parse(pl.concat(kept), header, schema), rows


def inflated_pieces(path: Path, piece_bytes: int = PIECE_BYTES) -> Iterator[tuple[bytes, int]]:
    """The decompressed file in pieces ending at a line break, with their line counts; the next piece inflates
    on a worker thread (isal and NumPy release the GIL) while the caller works on the current one."""
    with igzip.open(path, "rb") as stream, ThreadPoolExecutor(max_workers=1) as inflater:
        carry = [b""]

        def next_piece() -> tuple[bytes, int]:
            """The carried partial line plus the next block up to its last line break (at the end: what is left)."""
            block = stream.read(piece_bytes)
            cut = block.rfind(b"\n") + 1 if block else 0
            if block and not cut:
                raise _Unexpected("a line longer than a piece")
            piece = b"".join((carry[0], memoryview(block)[:cut]))
            carry[0] = block[cut:]
            lines = int(np.count_nonzero(np.frombuffer(piece, np.uint8) == _NEWLINE))
            return piece, lines + (bool(piece) and not piece.endswith(b"\n"))

        pending = inflater.submit(next_piece)
        while (done := pending.result())[0]:
            pending = inflater.submit(next_piece)
            yield done


def _header(piece: bytes, schema: dict[str, pl.DataType]) -> tuple[list[str], bytes]:
    """The header's column names and the rest of the piece; files lacking a column are the strict reader's."""
    end = piece.find(b"\n")
    if end < 0:
        raise _Unexpected("no data row")
    names = piece[:end].decode("utf-8").split(",")
    if not set(schema) <= set(names):
        raise _Unexpected("missing column")
    return names, piece[end + 1:]


def _lines(piece: bytes, keep: pl.Expr, first_row: int) -> pl.DataFrame:
    """``file_row, line`` of the piece's lines that pass ``keep``."""
    scan = pl.scan_csv(io.BytesIO(piece), has_header=False, separator=_WHOLE_LINE, quote_char=None,
                       schema={"line": pl.String}, row_index_name="file_row", row_index_offset=first_row)
    return scan.filter(keep).collect()


def _parse(lines: pl.DataFrame, header: list[str], schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """Parse the kept lines as the file's CSV (columns by header name) and keep the ``schema`` columns."""
    types = {name: schema.get(name, pl.String) for name in header}
    if lines.is_empty():
        parsed = pl.DataFrame(schema=types)
    else:
        body = io.BytesIO()
        lines.select("line").write_csv(body, include_header=False, quote_style="never")
        parsed = pl.read_csv(body.getvalue(), has_header=False, new_columns=header, schema=types)
    if parsed.height != lines.height:
        raise _Unexpected("line count changed in the parse")
    return parsed.select(list(schema)).with_columns(lines["file_row"].cast(pl.Int64))
