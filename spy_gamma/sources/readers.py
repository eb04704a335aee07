"""Typed, validated reads of one day's flat file into the lake schemas of docs/DATA_MODEL.md.

Columns are selected by name (older trades files carry an extra ``participant_timestamp`` and an empty
``correction``), SPY contracts are kept by a strict parse of the OCC ticker (root exactly ``SPY``), and
every structural problem raises a ``DataError`` naming the file, the 1-based line and the field.
Row-level nonsense in trades (a zero or negative price or size) is counted and skipped instead: one bad
print should not stop a day, but a file that does not parse should.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import polars as pl
from isal import igzip, igzip_lib

from spy_gamma.quant.contracts import ROOT, TICKER_PATTERN, parse_tickers
from spy_gamma.sources.errors import DataError

log = logging.getLogger(__name__)

TRADES_SCHEMA = {"ticker": pl.String, "conditions": pl.Int32, "correction": pl.Int32, "exchange": pl.Int32,
                 "price": pl.Float64, "sip_timestamp": pl.Int64, "size": pl.Int64}
QUOTES_SCHEMA = {"ticker": pl.String, "sip_timestamp": pl.Int64, "bid_price": pl.Float64, "bid_size": pl.Int64,
                 "ask_price": pl.Float64, "ask_size": pl.Int64, "bid_exchange": pl.Int32,
                 "ask_exchange": pl.Int32, "sequence_number": pl.Int64}
MINUTE_AGGS_SCHEMA = {"ticker": pl.String, "window_start": pl.Int64, "open": pl.Float64, "high": pl.Float64,
                      "low": pl.Float64, "close": pl.Float64, "volume": pl.Int64, "transactions": pl.Int64}
OPEN_INTEREST_SCHEMA = {"ticker": pl.String, "open_interest": pl.Int64}
SPY_OPEN_INTEREST_SCHEMA = {"ticker": pl.String, "expiry": pl.Date, "right": pl.String, "strike": pl.Float64,
                            "open_interest": pl.Int64}

SPY_TRADES_COLUMNS = ["ticker", "expiry", "right", "strike", "sip_timestamp", "price", "size", "exchange",
                      "conditions", "correction", "file_row"]
_GZIP_MAGIC = b"\x1f\x8b"
_HEADER_LINES = 1  # line number of data row i (0-based) is i + 2
_SPY_PREFIX = f"O:{ROOT}"


@dataclass(frozen=True)
class TradesRead:
    """One day's SPY trades (``spy_trades`` schema) and how every SPY row of the file was accounted for.

    ``spy_rows = kept + dropped_corrections + dropped_other_expiries + dropped_invalid``; the drops are
    applied in that order (a corrected print of another expiry counts as a correction).
    """

    frame: pl.DataFrame
    rows_in_file: int
    spy_rows: int
    kept: int
    dropped_corrections: int
    dropped_other_expiries: int
    dropped_invalid: int


def read_trades(path: Path, expiries: Collection[date] | None = None) -> TradesRead:
    """SPY option trades of one trades_v1 file, corrections dropped, optionally only the given expiries."""
    table = _read_table(path, TRADES_SCHEMA)
    spy = _spy_contracts(table, path)
    _require_values(spy, path, ["sip_timestamp", "price", "size", "exchange", "conditions"])
    spy = spy.with_columns(pl.col("correction").fill_null(0))
    corrected = spy.filter(pl.col("correction") != 0).height
    current = spy.filter(pl.col("correction") == 0)
    wanted = current if expiries is None else current.filter(pl.col("expiry").is_in(sorted(expiries)))
    valid = wanted.filter((pl.col("price") > 0) & (pl.col("size") > 0))
    frame = valid.sort(["contract_rank", "sip_timestamp", "file_row"]).select(SPY_TRADES_COLUMNS)
    return TradesRead(frame=frame, rows_in_file=table.height, spy_rows=spy.height, kept=frame.height,
                      dropped_corrections=corrected, dropped_other_expiries=current.height - wanted.height,
                      dropped_invalid=wanted.height - valid.height)


def read_quotes(path: Path, tickers: Collection[str] | None = None) -> pl.DataFrame:
    """SPY option quotes (``spy_quotes`` schema) of one quotes_v1 file, only ``tickers`` when given.

    Zero bids and asks are kept (they are quote states the classifier needs); negative prices or sizes are
    impossible on OPRA and are dropped with a warning.
    """
    table = _read_table(path, QUOTES_SCHEMA)
    spy = _spy_contracts(table, path)
    if tickers is not None:
        spy = spy.filter(pl.col("ticker").is_in(sorted(set(tickers))))
    _require_values(spy, path, [name for name in QUOTES_SCHEMA if name != "ticker"])
    sane = spy.filter(pl.min_horizontal("bid_price", "ask_price", "bid_size", "ask_size") >= 0)
    if sane.height < spy.height:
        log.warning("%s: dropped %d quotes with negative prices or sizes", path, spy.height - sane.height)
    return sane.sort(["contract_rank", "sip_timestamp", "sequence_number"]).select(list(QUOTES_SCHEMA))


def read_minute_aggs(path: Path, ticker: str = "SPY") -> pl.DataFrame:
    """One stock's minute bars (``spy_spot`` schema) from a minute_aggs_v1 file, by window start."""
    table = _read_table(path, MINUTE_AGGS_SCHEMA)
    bars = table.filter(pl.col("ticker") == ticker)
    _require_values(bars, path, [name for name in MINUTE_AGGS_SCHEMA if name != "ticker"])
    return bars.select(["window_start", "open", "high", "low", "close", "volume", "transactions"]).sort(
        "window_start")


def read_open_interest(path: Path | None) -> pl.DataFrame:
    """SPY open interest at the start of the file's day (``open_interest`` schema); no rows without a file."""
    if path is None:
        return pl.DataFrame(schema=SPY_OPEN_INTEREST_SCHEMA)
    table = _read_table(path, OPEN_INTEREST_SCHEMA)
    spy = _spy_contracts(table, path)
    _require_values(spy, path, ["open_interest"])
    _reject_rows(spy, pl.col("open_interest") < 0, path, "open_interest", "negative open interest")
    return spy.sort("contract_rank").select(list(SPY_OPEN_INTEREST_SCHEMA))


def _read_table(path: Path, schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """The named columns of a csv.gz, typed, plus ``file_row`` (0-based data row before any filtering)."""
    text = _decompress(path)
    _require_columns(text, path, list(schema))
    try:
        table = pl.read_csv(text, columns=list(schema), schema_overrides=schema, row_index_name="file_row")
    except pl.exceptions.PolarsError:
        raise _locate_unparseable(text, path, schema) from None
    return table.with_columns(pl.col("file_row").cast(pl.Int64))


def _decompress(path: Path) -> bytes:
    """The whole decompressed file, with gzip damage reported as a DataError (isal: ~2-3x zlib speed)."""
    compressed = Path(path).read_bytes()
    if not compressed:
        raise DataError(path, "empty file (0 bytes)")
    if not compressed.startswith(_GZIP_MAGIC):
        raise DataError(path, "not a gzip file (bad magic bytes)")
    try:
        text = igzip.decompress(compressed)
    except EOFError:
        raise DataError(path, "truncated gzip: the file ends before the end-of-stream marker "
                        "(an interrupted copy or download: fetch the file again)") from None
    except (igzip_lib.IsalError, OSError) as error:
        raise DataError(path, f"corrupt gzip: {error}") from None
    if not text or text.isspace():
        raise DataError(path, "empty file: no header row")
    return text


def _require_columns(text: bytes, path: Path, columns: list[str]) -> None:
    """Fail naming the first missing column of the header row."""
    end = text.find(b"\n")
    header = (text if end < 0 else text[:end]).decode("utf-8", "replace").strip().split(",")
    missing = [name for name in columns if name not in header]
    if missing:
        raise DataError(path, f"missing required column (header has {', '.join(header)})", line=1,
                        field=missing[0])


def _locate_unparseable(text: bytes, path: Path, schema: dict[str, pl.DataType]) -> DataError:
    """Slow path after a failed typed read: the first ragged line, or the first value not of its type."""
    try:
        raw = pl.read_csv(text, columns=list(schema), infer_schema=False, row_index_name="file_row")
    except pl.exceptions.PolarsError as error:
        return _ragged_line(text, path) or DataError(path, f"unreadable CSV: {str(error).splitlines()[0]}")
    for name, dtype in schema.items():
        parsed = raw.select("file_row", name, pl.col(name).cast(dtype, strict=False).alias("parsed"))
        bad = parsed.filter(pl.col(name).is_not_null() & pl.col("parsed").is_null())
        if bad.height:
            line = int(bad["file_row"][0]) + _HEADER_LINES + 1
            return DataError(path, f"cannot parse {bad[name][0]!r} as {dtype}", line=line, field=name)
    return DataError(path, "unreadable CSV")


def _ragged_line(text: bytes, path: Path) -> DataError | None:
    """The first line whose field count differs from the header's (Polygon files have no quoted commas)."""
    lines = text.decode("utf-8", "replace").splitlines()
    width = lines[0].count(",")
    for number, line in enumerate(lines[1:], start=2):
        if line and line.count(",") != width:
            return DataError(path, f"{line.count(',') + 1} fields where the header has {width + 1}",
                             line=number)
    return None


def _spy_contracts(table: pl.DataFrame, path: Path) -> pl.DataFrame:
    """Rows whose OCC root is exactly SPY, with ``expiry, right, strike`` and ``contract_rank``.

    ``starts_with("O:SPY")`` is only a cheap prefilter: it also matches SPYI/SPYG (other underlyings),
    which the strict parse removes. Tickers are parsed once per contract, not per row (~4x faster), and
    ``contract_rank`` (ticker order) lets the caller sort by integers instead of strings. Malformed SPY
    tickers raise.
    """
    _require_values(table, path, ["ticker"])
    candidates = table.filter(pl.col("ticker").str.starts_with(_SPY_PREFIX))
    contracts = (candidates.select(pl.col("ticker").unique().sort())
                 .with_columns(parse_tickers(pl.col("ticker")))
                 .with_row_index("contract_rank"))
    malformed = contracts.filter(~pl.col("ticker").str.contains(TICKER_PATTERN)
                                 | ((pl.col("root") == ROOT) & pl.col("expiry").is_null()))
    _reject_rows(candidates, pl.col("ticker").is_in(malformed["ticker"].implode()), path, "ticker",
                 "malformed option ticker")
    spy = contracts.filter(pl.col("root") == ROOT).drop("root")
    return candidates.join(spy, on="ticker", how="inner")


def _require_values(frame: pl.DataFrame, path: Path, columns: list[str]) -> None:
    """Fail on the first empty value in a required column."""
    nulls = frame.select(pl.col(columns).null_count()).row(0)
    for name, count in zip(columns, nulls):
        if count:
            _reject_rows(frame, pl.col(name).is_null(), path, name, "missing value")


def _reject_rows(frame: pl.DataFrame, bad: pl.Expr, path: Path, field: str, problem: str) -> None:
    """Raise a DataError at the first row matching ``bad``, quoting the offending value."""
    offenders = frame.filter(bad)
    if offenders.height:
        first = offenders.sort("file_row").row(0, named=True)
        value = "" if first[field] is None else f" {first[field]!r}"
        raise DataError(path, f"{problem}{value} ({offenders.height} rows)",
                        line=first["file_row"] + _HEADER_LINES + 1, field=field)
