"""Typed, validated reads of one day's flat file into the lake schemas of docs/DATA_MODEL.md.

One contract for both reading paths (this module parses every line; ``spy_lines`` parses only the lines that
can hold SPY), because both run this code and differ only in which raw lines reach the parse:

- Columns are selected by name from the header (older trades files carry an extra ``participant_timestamp`` and
  an empty ``correction``; unknown columns are ignored); fields may be quoted; CRLF line ends read as LF; a
  multi-member gzip reads as the concatenation of its members. SPY contracts are kept by a strict parse of the
  OCC ticker (root exactly ``SPY``: ``O:SPYI…``, ``O:SPYG…`` are other underlyings).
- Memory is bounded by the kept rows, not by the file: the file inflates in line-aligned pieces of PIECE_BYTES
  (the next on a worker thread) and only the wanted rows of each piece are kept; the working memory beyond them
  is about ten pieces (measured ~25 MB on a gzip bomb, ~80 MB on 64 MiB of other roots' rows). The read stops at the first
  line that cannot be a flat-file row: longer than LINE_BYTES (Polygon's rows are under 200 bytes), empty, with
  a NUL or other control character, not UTF-8, or a second header row (two files concatenated).
- A structural problem raises ``DataError`` "<file>, line N, field 'x': problem", quoting at most a short,
  escaped excerpt of the file's content.
- Plausibility, from what OPRA and OCC can carry, so no later sum or product can overflow or go non-finite:
  an option premium above MAX_PRICE (OCC's 8-digit strike field caps strikes below $100,000, and a put's premium
  is below its strike, a call's below its underlying's price), a size above MAX_CONTRACTS for one print or one
  quote side (the largest single option prints are of order 1e5 contracts; 1e6 x 100 x $1e5 = 1e13 stays far
  inside float64's exact integers), a NaN or infinite price (``1e309`` reads as inf), or a negative value.
  Trades and quotes drop such rows and count them (``TradesRead``, ``QuotesRead``; one bad print should not stop
  a day); minute bars and open interest, one row per bar or contract that everything downstream trusts, reject
  the file instead, naming the line and field. Bars: prices within (0, MAX_PRICE], volume and transactions
  within [0, MAX_BAR_SHARES] (ten times SPY's busiest full day, under 1e9 shares); open interest within
  [0, MAX_OPEN_INTEREST] (above the whole SPY chain's total, of order 1e7 contracts).
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Collection, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl
from isal import igzip, igzip_lib

from spy_gamma.quant.contracts import ROOT, TICKER_PATTERN, parse_tickers
from spy_gamma.sources.errors import DataError, excerpt

log = logging.getLogger(__name__)

MAX_PRICE = 100_000.0  # USD per share, options and bars
MAX_CONTRACTS = 1_000_000  # one print, or one side of one quote
MAX_OPEN_INTEREST = 100_000_000  # contracts of one series
MAX_BAR_SHARES = 10_000_000_000  # volume (and transactions) of one minute bar
LINE_BYTES = 4096  # longest accepted line; a longer one stops the read, so a line never outgrows a piece
PIECE_BYTES = 8 * 1024 * 1024  # inflated text per piece: 32 MB pieces cost ~60% more (cache misses, page faults)

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
OPTION_PREFIX = f"O:{ROOT}"  # candidate tickers; also SPYI/SPYG, which the strict ticker parse removes
_GZIP_MAGIC = b"\x1f\x8b"
_FIRST_DATA_LINE = 2  # line number of data row 0 (file_row 0): the header is line 1
_NEWLINE, _FIRST_PRINTABLE = ord("\n"), 0x20
_WHOLE_LINE = "\x1f"  # separator for reading each line as one field: control characters never pass the checks
_GZIP_DAMAGE = (EOFError, OSError, igzip_lib.IsalError)


@dataclass(frozen=True)
class TradesRead:
    """One day's SPY trades (``spy_trades`` schema) and how every SPY row of the file was accounted for.

    ``spy_rows = kept + dropped_corrections + dropped_other_expiries + dropped_non_finite + dropped_invalid
    + dropped_implausible``, drops applied in that order: a corrected print of another expiry counts as a
    correction, an infinite price as non-finite, a zero price as invalid (zero or negative price or size), a
    price above MAX_PRICE or a size above MAX_CONTRACTS as implausible.
    """

    frame: pl.DataFrame
    rows_in_file: int
    spy_rows: int
    kept: int
    dropped_corrections: int
    dropped_other_expiries: int
    dropped_invalid: int
    dropped_non_finite: int
    dropped_implausible: int


@dataclass(frozen=True)
class QuotesRead:
    """One day's SPY quotes (``spy_quotes`` schema) and how every SPY row of the wanted tickers was accounted for.

    ``spy_rows = kept + dropped_non_finite + dropped_negative + dropped_implausible``, in that order; zero bids,
    asks and sizes are quote states the classifier needs and are kept.
    """

    frame: pl.DataFrame
    rows_in_file: int
    spy_rows: int
    kept: int
    dropped_non_finite: int
    dropped_negative: int
    dropped_implausible: int


@dataclass(frozen=True)
class FileRows:
    """The wanted rows of one file (typed schema columns plus ``file_row``, 0-based data row) and its row count."""

    path: Path
    frame: pl.DataFrame
    rows_in_file: int


@dataclass(frozen=True)
class _Header:
    """The header row: its column names and its text, to recognise a repeat of it further down."""

    names: list[str]
    line: str


def read_trades(path: Path, expiries: Collection[date] | None = None) -> TradesRead:
    """SPY option trades of one trades_v1 file, corrections and implausible prints dropped, optionally only the
    given expiries; every line of the file is parsed."""
    return trades_of(file_rows(path, TRADES_SCHEMA, option_rows()), expiries)


def read_quotes(path: Path, tickers: Collection[str] | None = None) -> pl.DataFrame:
    """SPY option quotes (``spy_quotes`` schema) of one quotes_v1 file, only ``tickers`` when given."""
    return read_quotes_counted(path, tickers).frame


def read_quotes_counted(path: Path, tickers: Collection[str] | None = None) -> QuotesRead:
    """``read_quotes`` with the count of every kind of dropped quote."""
    return quotes_of(file_rows(path, QUOTES_SCHEMA, option_rows(tickers)))


def read_minute_aggs(path: Path, ticker: str = "SPY") -> pl.DataFrame:
    """One stock's minute bars (``spy_spot`` schema) from a minute_aggs_v1 file, by window start."""
    bars = file_rows(path, MINUTE_AGGS_SCHEMA, pl.col("ticker") == ticker).frame
    _require_values(bars, path, [name for name in MINUTE_AGGS_SCHEMA if name != "ticker"])
    for name in ("open", "high", "low", "close"):
        _reject_implausible(bars, path, name, "price", MAX_PRICE, positive=True)
    for name in ("volume", "transactions"):
        _reject_implausible(bars, path, name, name, MAX_BAR_SHARES, positive=False)
    return bars.select(["window_start", "open", "high", "low", "close", "volume", "transactions"]).sort(
        "window_start")


def read_open_interest(path: Path | None) -> pl.DataFrame:
    """SPY open interest at the start of the file's day (``open_interest`` schema); no rows without a file."""
    if path is None:
        return pl.DataFrame(schema=SPY_OPEN_INTEREST_SCHEMA)
    spy = _spy_contracts(file_rows(path, OPEN_INTEREST_SCHEMA, option_rows()))
    _require_values(spy, path, ["open_interest"])
    _reject_implausible(spy, path, "open_interest", "open interest", MAX_OPEN_INTEREST, positive=False)
    return _sorted(spy, ["contract_rank", "file_row"]).select(list(SPY_OPEN_INTEREST_SCHEMA))


def option_rows(tickers: Collection[str] | None = None) -> pl.Expr:
    """Rows worth keeping from an options file: ticker starts ``O:SPY``, and is one of ``tickers`` when given."""
    candidate = pl.col("ticker").str.starts_with(OPTION_PREFIX)
    return candidate if tickers is None else candidate & pl.col("ticker").is_in(sorted(set(tickers)))


def trades_of(rows: FileRows, expiries: Collection[date] | None) -> TradesRead:
    """``TradesRead`` of a trades file's candidate rows: SPY root, drops counted in the documented order."""
    spy = _spy_contracts(rows)
    _require_values(spy, rows.path, ["sip_timestamp", "price", "size", "exchange", "conditions"])
    price, size = pl.col("price"), pl.col("size")
    kept, drops = _sifted(spy.with_columns(pl.col("correction").fill_null(0)), {
        "dropped_corrections": pl.col("correction") != 0,
        "dropped_other_expiries": pl.lit(False) if expiries is None else ~pl.col("expiry").is_in(sorted(expiries)),
        "dropped_non_finite": ~price.is_finite(),
        "dropped_invalid": (price <= 0) | (size <= 0),
        "dropped_implausible": (price > MAX_PRICE) | (size > MAX_CONTRACTS)})
    frame = _sorted(kept, ["contract_rank", "sip_timestamp", "file_row"]).select(SPY_TRADES_COLUMNS)
    _log_drops(rows.path, "trades", drops, ["dropped_non_finite", "dropped_implausible"])
    return TradesRead(frame=frame, rows_in_file=rows.rows_in_file, spy_rows=spy.height, kept=frame.height, **drops)


def quotes_of(rows: FileRows) -> QuotesRead:
    """``QuotesRead`` of a quotes file's candidate rows: SPY root, drops counted in the documented order."""
    spy = _spy_contracts(rows)
    _require_values(spy, rows.path, [name for name in QUOTES_SCHEMA if name != "ticker"])
    prices, sizes = ["bid_price", "ask_price"], ["bid_size", "ask_size"]
    kept, drops = _sifted(spy, {
        "dropped_non_finite": ~pl.all_horizontal(pl.col(prices).is_finite()),
        "dropped_negative": pl.min_horizontal(*prices, *sizes) < 0,
        "dropped_implausible": (pl.max_horizontal(prices) > MAX_PRICE) | (pl.max_horizontal(sizes) > MAX_CONTRACTS)})
    frame = _sorted(kept, ["contract_rank", "sip_timestamp", "sequence_number"]).select(list(QUOTES_SCHEMA))
    _log_drops(rows.path, "quotes", drops, list(drops))
    return QuotesRead(frame=frame, rows_in_file=rows.rows_in_file, spy_rows=spy.height, kept=frame.height, **drops)


def _sorted(frame: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    """``frame`` sorted by the null-free integer ``keys``, first key first, ties in row order: NumPy's stable
    lexsort, ~2x Polars' multi-column sort on a day's trades."""
    return frame[np.lexsort([frame[key].to_numpy() for key in reversed(keys)])]


def _sifted(frame: pl.DataFrame, drops: dict[str, pl.Expr]) -> tuple[pl.DataFrame, dict[str, int]]:
    """The rows passing every test of ``drops``, and per test the rows it drops: a row counts under the first test
    it fails, in the order given (one pass, one filter)."""
    tests = list(drops.values())
    reason = pl.when(tests[0]).then(1)
    for code, test in enumerate(tests[1:], start=2):
        reason = reason.when(test).then(code)
    tagged = frame.with_columns(reason.otherwise(0).alias("_dropped_by"))
    counts = tagged.select((pl.col("_dropped_by") == code).sum().alias(name)
                           for code, name in enumerate(drops, start=1)).row(0, named=True)
    return tagged.filter(pl.col("_dropped_by") == 0).drop("_dropped_by"), counts


def file_rows(path: Path, schema: dict[str, pl.DataType], keep: pl.Expr,
              prefilter: pl.Expr | None = None) -> FileRows:
    """The rows passing ``keep`` of a csv.gz, typed by ``schema`` (columns by header name), read in pieces.

    ``prefilter``, a test on each raw ``line`` that every row passing ``keep`` also passes, skips the parse of the
    other lines (``spy_lines``); without it every line is parsed, so any malformed line of the file raises.
    """
    path = Path(path)
    _require_gzip(path)
    kept, header, rows = [], None, 0
    pieces = _inflated_pieces(path)
    try:
        for piece, lines in pieces:
            if header is None:
                header, piece = _header(path, piece, schema)
                lines -= 1
            kept.append(_parsed(path, piece, range(rows, rows + lines), header, schema, prefilter).filter(keep))
            rows += lines
    except _GZIP_DAMAGE as error:
        raise _gzip_damage(path, error) from None
    finally:
        pieces.close()
    if header is None:
        raise DataError(path, "empty file: no header row")
    empty = pl.DataFrame(schema={**schema, "file_row": pl.Int64})
    return FileRows(path=path, frame=pl.concat([empty, *kept]), rows_in_file=rows)


def _require_gzip(path: Path) -> None:
    """Fail fast on an empty file or one that is not gzip at all."""
    with path.open("rb") as handle:
        magic = handle.read(len(_GZIP_MAGIC))
    if not magic:
        raise DataError(path, "empty file (0 bytes)")
    if magic != _GZIP_MAGIC:
        raise DataError(path, "not a gzip file (bad magic bytes)")


def _gzip_damage(path: Path, error: Exception) -> DataError:
    if isinstance(error, EOFError):
        return DataError(path, "truncated gzip: the file ends before the end-of-stream marker "
                         "(an interrupted copy or download: fetch the file again)")
    return DataError(path, f"corrupt gzip: {error}")


def _inflated_pieces(path: Path) -> Iterator[tuple[bytes, int]]:
    """The inflated file in checked pieces ending at a line break (``_checked``: CRLF made LF) and their line
    counts; the next piece inflates and is checked on a worker thread (isal and NumPy release the GIL)."""
    with igzip.open(path, "rb") as stream, ThreadPoolExecutor(max_workers=1) as inflater:
        carry, line, masks = b"", 1, _Masks()

        def next_piece() -> tuple[bytes, int]:
            """The carried partial line plus the next block up to its last line break (at the end, or when the
            partial line outgrows LINE_BYTES: everything, which ``_checked`` then rejects)."""
            nonlocal carry, line
            while True:
                block = stream.read(PIECE_BYTES)
                cut = block.rfind(b"\n") + 1
                if not block or len(block) - cut + (0 if cut else len(carry)) > LINE_BYTES:
                    piece, carry = carry + block, b""
                    break
                if cut:  # one copy of the block, not two
                    piece, carry = b"".join((carry, memoryview(block)[:cut])), block[cut:]
                    break
                carry += block
            piece, lines = _checked(path, piece, line, masks) if piece else (piece, 0)
            line += lines
            return piece, lines

        pending = inflater.submit(next_piece)
        while (done := pending.result())[0]:
            pending = inflater.submit(next_piece)
            yield done


class _Masks:
    """Two byte masks reused from piece to piece: fresh 8 MB arrays for every piece cost page faults, ~2x the checks."""

    def __init__(self) -> None:
        self.breaks, self.spare = np.empty(0, bool), np.empty(0, bool)

    def sized(self, size: int) -> tuple[np.ndarray, np.ndarray]:
        if self.breaks.size < size:
            self.breaks, self.spare = np.empty(size, bool), np.empty(size, bool)
        return self.breaks[:size], self.spare[:size]


def _checked(path: Path, piece: bytes, first_line: int, masks: _Masks) -> tuple[bytes, int]:
    """The piece with CRLF made LF and its number of lines, or a DataError at its first line that holds a NUL or
    other control character, is longer than LINE_BYTES, is empty or is not UTF-8."""
    if b"\r" in piece:
        piece = piece.replace(b"\r\n", b"\n")
    codes = np.frombuffer(piece, np.uint8)
    breaks, spare = masks.sized(codes.size)
    lines = int(np.count_nonzero(np.equal(codes, _NEWLINE, out=breaks))) + (not piece.endswith(b"\n"))
    if _suspect(codes, breaks, spare):
        _reject_first_bad_line(path, piece, codes, first_line)
    return piece, lines


def _suspect(codes: np.ndarray, breaks: np.ndarray, spare: np.ndarray) -> bool:
    """A cheap screen (vectorised counts, no positions) every bad piece fails: a control byte other than LF, an
    aligned block of LINE_BYTES / 2 + 1 bytes without LF (a longer line always holds one), two LFs in a row (or
    one first), or a byte beyond ASCII. ``breaks`` marks the LFs; ``spare`` is scratch of the same size."""
    block = LINE_BYTES // 2 + 1
    whole = codes.size - codes.size % block
    return bool(np.count_nonzero(np.less(codes, _FIRST_PRINTABLE, out=spare)) != np.count_nonzero(breaks)
                or not breaks[:whole].reshape(-1, block).any(axis=1).all()
                or breaks[0] or np.logical_and(breaks[1:], breaks[:-1], out=spare[1:]).any()
                or codes.max() >= 0x80)


def _reject_first_bad_line(path: Path, piece: bytes, codes: np.ndarray, first_line: int) -> None:
    """Raise at the piece's first bad line, if any (a suspect piece may only hold a long valid UTF-8 line)."""
    def fail(at: int, problem: str) -> DataError:
        start, end = piece.rfind(b"\n", 0, at) + 1, piece.find(b"\n", at)
        line = piece[start:min(start + LINE_BYTES, len(piece) if end < 0 else end)].decode("utf-8", "replace")
        return DataError(path, f"{problem}: {excerpt(line)}", line=first_line + piece.count(b"\n", 0, start))

    if (nul := piece.find(b"\x00")) >= 0:  # before the control scan: a zero-filled file has nothing else
        raise fail(nul, "NUL byte (a binary, zero-filled or damaged file, not CSV text)")
    controls = np.flatnonzero(codes < _FIRST_PRINTABLE)
    stray = codes[controls] != _NEWLINE
    if stray.any():
        at = int(controls[np.argmax(stray)])
        raise fail(at, f"control character {chr(codes[at])!a} (not CSV text)")
    ends = controls if piece.endswith(b"\n") else np.append(controls, len(piece))
    lengths = ends - np.concatenate(([0], ends[:-1] + 1))
    if lengths.max() > LINE_BYTES:
        raise fail(int(ends[np.argmax(lengths > LINE_BYTES)]) - 1, f"line longer than {LINE_BYTES} bytes "
                   "(flat-file rows are short)")
    if lengths.min() == 0:
        raise fail(int(ends[np.argmax(lengths == 0)]), "empty line")
    try:
        piece.decode("utf-8")
    except UnicodeDecodeError as error:
        raise fail(error.start, f"byte {piece[error.start]:#04x} is not UTF-8 text") from None


def _header(path: Path, piece: bytes, schema: dict[str, pl.DataType]) -> tuple[_Header, bytes]:
    """The header row's column names and the rest of the piece; a missing or repeated column raises."""
    end = piece.find(b"\n")
    line = (piece if end < 0 else piece[:end]).decode("utf-8")
    if not line.strip():
        raise DataError(path, "empty file: no header row")
    names = next(csv.reader([line]))
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise DataError(path, f"column named twice in the header {excerpt(line)}", line=1, field=repeated[0])
    missing = [name for name in schema if name not in names]
    if missing:
        raise DataError(path, f"missing required column (header is {excerpt(line)})", line=1, field=missing[0])
    return _Header(names=names, line=line), b"" if end < 0 else piece[end + 1:]


def _parsed(path: Path, piece: bytes, file_rows: range, header: _Header, schema: dict[str, pl.DataType],
            prefilter: pl.Expr | None) -> pl.DataFrame:
    """The ``schema`` columns and ``file_row`` of the piece's lines (of those passing ``prefilter`` when given)."""
    if prefilter is None or not file_rows:
        return _typed(path, piece, pl.Series(file_rows, dtype=pl.Int64), header, schema)
    scan = pl.scan_csv(io.BytesIO(piece), has_header=False, separator=_WHOLE_LINE, quote_char=None,
                       schema={"line": pl.String}, row_index_name="file_row", row_index_offset=file_rows.start)
    lines = scan.filter(prefilter | (pl.col("line") == header.line)).collect()  # a repeated header must fail
    text = io.BytesIO()
    lines.select("line").write_csv(text, include_header=False, quote_style="never")
    return _typed(path, text.getvalue(), lines["file_row"].cast(pl.Int64), header, schema)


def _typed(path: Path, text: bytes, file_rows: pl.Series, header: _Header,
           schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """Parse CSV ``text`` (one row per line, named by the header) into the ``schema`` columns plus ``file_row``."""
    if not file_rows.len():
        return pl.DataFrame(schema={**schema, "file_row": pl.Int64})
    types = {name: schema.get(name, pl.String) for name in header.names}
    try:
        frame = pl.read_csv(text, has_header=False, new_columns=header.names, schema=types,
                            columns=[header.names.index(name) for name in schema])
    except pl.exceptions.PolarsError as error:
        raise _located(path, text, file_rows, header, schema, str(error)) from None
    if frame.height != file_rows.len():
        raise _located(path, text, file_rows, header, schema, "a quoted field spans lines")
    return frame.select(list(schema)).with_columns(file_rows.alias("file_row"))


def _located(path: Path, text: bytes, file_rows: pl.Series, header: _Header, schema: dict[str, pl.DataType],
             failure: str) -> DataError:
    """Slow path after a failed parse: the first line that repeats the header, is badly quoted or ragged, or holds
    a value not of its column's type (Python's csv module, independent of the parser that failed)."""
    fields = []
    for file_row, line in zip(file_rows, text.decode("utf-8").split("\n")):  # not splitlines: U+2028 is text
        number = file_row + _FIRST_DATA_LINE
        if line == header.line:
            return DataError(path, "the header row repeats (two files concatenated?)", line=number)
        try:
            values = next(csv.reader([line], strict=True))
        except csv.Error as error:
            return DataError(path, f"badly quoted line ({error}): {excerpt(line)}", line=number)
        if len(values) != len(header.names):
            return DataError(path, f"{len(values)} fields where the header has {len(header.names)}", line=number)
        fields.append([values[header.names.index(name)] for name in schema])
    raw = pl.DataFrame(fields, schema=dict.fromkeys(schema, pl.String), orient="row").with_columns(
        file_row=file_rows[:len(fields)])
    unparsed = [(bad["file_row"][0], order, name, bad[name][0]) for order, (name, dtype) in enumerate(schema.items())
                if (bad := raw.filter((pl.col(name) != "") & pl.col(name).cast(dtype, strict=False).is_null())).height]
    if unparsed:
        file_row, _, name, value = min(unparsed)  # the earliest line; on one line, the first column of the schema
        return DataError(path, f"cannot parse {excerpt(value)} as {schema[name]}", line=file_row + _FIRST_DATA_LINE,
                         field=name)
    return DataError(path, f"unreadable CSV: {excerpt(failure.splitlines()[0])}")


def _spy_contracts(rows: FileRows) -> pl.DataFrame:
    """The rows whose OCC root is exactly SPY, with ``expiry, right, strike`` and ``contract_rank``.

    Tickers are parsed once per contract, not per row (~4x faster); ``contract_rank``, the ticker's place among the
    file's sorted candidate tickers, is the physical code of an Enum over them, so contract fields are gathered by
    index instead of a string join (~4x faster) and sorts use integers. A candidate ticker that does not parse raises.
    """
    contracts = rows.frame.select(pl.col("ticker").unique().sort()).with_columns(parse_tickers(pl.col("ticker")))
    malformed = contracts.filter(~pl.col("ticker").str.contains(TICKER_PATTERN)
                                 | ((pl.col("root") == ROOT) & pl.col("expiry").is_null()))
    _reject_rows(rows.frame, pl.col("ticker").is_in(malformed["ticker"].implode()), rows.path, "ticker",
                 "malformed option ticker {value}")
    rank = rows.frame["ticker"].cast(pl.Enum(contracts["ticker"])).to_physical()
    spy = rows.frame.with_columns(contract_rank=rank).filter((contracts["root"] == ROOT).gather(rank))
    return spy.with_columns(contracts[name].gather(spy["contract_rank"]) for name in ("expiry", "right", "strike"))


def _require_values(frame: pl.DataFrame, path: Path, columns: list[str]) -> None:
    """Fail on the first empty value in a required column."""
    nulls = frame.select(pl.col(columns).null_count()).row(0)
    for name, count in zip(columns, nulls):
        if count:
            _reject_rows(frame, pl.col(name).is_null(), path, name, "missing value")


def _reject_implausible(frame: pl.DataFrame, path: Path, name: str, what: str, upper: float, *,
                        positive: bool) -> None:
    """Fail on the first non-finite, non-positive (or negative) or above-``upper`` value of a column."""
    column = pl.col(name)
    if frame.schema[name].is_float():
        _reject_rows(frame, ~column.is_finite(), path, name, f"non-finite {what} {{value}}")
    sign, below = ("non-positive", column <= 0) if positive else ("negative", column < 0)
    _reject_rows(frame, below, path, name, f"{sign} {what} {{value}}")
    _reject_rows(frame, column > upper, path, name, f"implausible {what} {{value}} (above {upper:,.0f})")


def _reject_rows(frame: pl.DataFrame, bad: pl.Expr, path: Path, field: str, problem: str) -> None:
    """Raise a DataError at the first row matching ``bad``; ``{value}`` in ``problem`` shows the offending value."""
    offenders = frame.filter(bad)
    if offenders.height:
        first = offenders.sort("file_row").row(0, named=True)
        value = first[field]
        shown = excerpt(value) if isinstance(value, str) else repr(value)
        raise DataError(path, f"{problem.format(value=shown)} ({offenders.height} rows)",
                        line=first["file_row"] + _FIRST_DATA_LINE, field=field)


_DROP_REASONS = {"dropped_non_finite": "non-finite prices", "dropped_negative": "negative prices or sizes",
                 "dropped_implausible": f"prices above {MAX_PRICE:,.0f} or sizes above {MAX_CONTRACTS:,}"}


def _log_drops(path: Path, kind: str, drops: dict[str, int], logged: list[str]) -> None:
    """Warn about the drops that mean damaged data (corrections and other expiries are routine)."""
    for name in logged:
        if drops[name]:
            log.warning("%s: dropped %d %s with %s", path, drops[name], kind, _DROP_REASONS[name])
