"""One reader contract: on every file of a shared corpus the strict reader (``readers``, every line parsed) and the
prefiltered one (``spy_lines``, only lines mentioning the wanted tickers parsed) return identical frames and counts,
or raise the same DataError; and each outcome matches a hand-worked expectation written beside the file."""

from __future__ import annotations

import gzip
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path

import pytest
from polars.testing import assert_frame_equal

from spy_gamma.sources import readers
from spy_gamma.sources.errors import DataError
from spy_gamma.sources.readers import read_quotes_counted, read_trades
from spy_gamma.sources.spy_lines import read_spy_quotes_counted, read_spy_trades
from spy_gamma_tests.sources.test_readers import MIXED_TRADES, QUOTES_HEADER, REAL, T0, TRADES_HEADER

HEADER = TRADES_HEADER.split(",")
STAMPS = {f"t{k}": str(T0 + k * 1_000_000_000) for k in range(9)}
ROWS = [dict(zip(HEADER, row.format(**STAMPS).split(","))) for row in MIXED_TRADES]
# MIXED_TRADES by hand (test_readers): 10 rows, 7 SPY-root, row 3 corrected, rows 6-7 zero price / negative size.
# Kept, sorted by (ticker, time): call 670 rows 9 (t1) and 0 (t5), put 660 row 2, the 10-17 call row 5.
MIXED_KEPT = [9, 0, 2, 5]
MIXED_COUNTS = {"rows_in_file": 10, "spy_rows": 7, "kept": 4, "dropped_corrections": 1,
                "dropped_other_expiries": 0, "dropped_invalid": 2, "dropped_non_finite": 0, "dropped_implausible": 0}


def table(columns: list[str], rows: list[dict[str, str]], quote: bool = False, newline: str = "\n") -> str:
    """CSV text of ``rows`` in the given column order, every field quoted when ``quote``."""
    def line(values: list[str]) -> str:
        return ",".join(f'"{v}"' for v in values) if quote else ",".join(values)
    return newline.join([line(columns), *(line([row.get(c, "") for c in columns]) for row in rows)]) + newline


def gz(text: str | bytes) -> bytes:
    return gzip.compress(text.encode() if isinstance(text, str) else text)


def spy_row(price: str, size: str, k: int = 0, correction: str = "0", ticker: str = "O:SPY251010C00670000") -> str:
    return f"{ticker},209,{correction},312,{price},{T0 + k},{size}"


@dataclass(frozen=True)
class Case:
    """A corpus file (``content``: gzip bytes, or a real sample's path) and what reading it must give."""

    name: str
    content: Callable[[], bytes] | Path
    kept_rows: list[int] | None = None  # file_row of the kept trades, in output order
    counts: dict[str, int] | None = None
    error: tuple[int | None, str | None, str] | None = None  # line, field, regex of the message

    def write(self, folder: Path) -> Path:
        if isinstance(self.content, Path):
            return self.content
        path = folder / f"{self.name}.csv.gz"
        path.write_bytes(self.content())
        return path


LEGACY = HEADER[:4] + ["participant_timestamp"] + HEADER[4:]
LEGACY_ROWS = [{**row, "participant_timestamp": row["sip_timestamp"],
                "correction": "" if row["correction"] == "0" else row["correction"]} for row in ROWS]
PLAIN = table(HEADER, ROWS)
LINES = PLAIN.splitlines()
TWO_MEMBERS_CUT = len(PLAIN) // 2 + 3  # inside a line: the second member starts mid-row
NON_FINITE_ROWS = [  # the reason each SPY row is dropped or kept, worked by hand from the documented order
    spy_row("NaN", "1", 0),                      # non-finite
    spy_row("inf", "1", 1),                      # non-finite
    spy_row("1e309", "1", 2),                    # overflows float64 to inf: non-finite
    spy_row("-inf", "1", 3),                     # non-finite before non-positive
    spy_row("2.50", str(2**63 - 1), 4),          # implausible size (would be a 9.2e18 dealer position)
    spy_row("2.50", "1000000000", 5),            # implausible: a 1e9-contract print
    spy_row("100000.01", "1", 6),                # implausible premium
    spy_row("100000", "1000000", 7),             # at both bounds: kept
    spy_row("0", "1", 8),                        # invalid (zero price)
    spy_row("NaN", "1", 9, correction="1"),      # a correction first
    "O:QQQ251010C00600000,209,0,312,NaN,1,1",    # another underlying: not counted
    spy_row("2.50", "3", 11),                    # kept
]

TRADE_CASES = [
    Case("plain", lambda: gz(PLAIN), MIXED_KEPT, MIXED_COUNTS),
    Case("reordered_with_unknown_first", lambda: gz(table(["vendor_note", *reversed(HEADER)],
                                                            [{**r, "vendor_note": "x"} for r in ROWS])),
         MIXED_KEPT, MIXED_COUNTS),
    Case("quoted_fields", lambda: gz(table(HEADER, ROWS, quote=True)), MIXED_KEPT, MIXED_COUNTS),
    Case("quoted_comma_in_unknown_column", lambda: gz("\n".join([LINES[0] + ",note", *(f'{line},"a,b"' for line in
                                                                                 LINES[1:])]) + "\n"),
         MIXED_KEPT, MIXED_COUNTS),
    Case("crlf", lambda: gz(table(HEADER, ROWS, newline="\r\n")), MIXED_KEPT, MIXED_COUNTS),
    Case("two_gzip_members", lambda: gz(PLAIN[:TWO_MEMBERS_CUT]) + gz(PLAIN[TWO_MEMBERS_CUT:]),
         MIXED_KEPT, MIXED_COUNTS),
    Case("legacy_8_columns", lambda: gz(table(LEGACY, LEGACY_ROWS)), MIXED_KEPT, MIXED_COUNTS),
    Case("real_legacy_sample", REAL / "options_trades_example.csv.gz", list(range(62)),
         {"rows_in_file": 62, "spy_rows": 62, "kept": 62, "dropped_corrections": 0}),
    Case("header_only", lambda: gz(TRADES_HEADER + "\n"), [], {"rows_in_file": 0, "spy_rows": 0, "kept": 0}),
    Case("header_only_no_newline", lambda: gz(TRADES_HEADER), [], {"rows_in_file": 0, "kept": 0}),
    Case("non_finite_and_implausible", lambda: gz("\n".join([TRADES_HEADER, *NON_FINITE_ROWS]) + "\n"), [7, 11],
         {"rows_in_file": 12, "spy_rows": 11, "kept": 2, "dropped_corrections": 1, "dropped_non_finite": 4,
          "dropped_invalid": 1, "dropped_implausible": 3}),
    # Concatenated copies of a day (each member with its header): the header reappears at line 2 + 10.
    Case("two_members_each_with_header", lambda: gz(PLAIN) + gz(PLAIN), error=(12, None, "header row repeats")),
    Case("bom_header", lambda: gz("\ufeff" + PLAIN), error=(1, "ticker", r"missing required column.*\\ufeffticker")),
    Case("ansi_escape_header", lambda: gz("\x1b[31m" + PLAIN), error=(1, None, r"control character '\\x1b'")),
    Case("latin1_byte_in_other_root", lambda: gz(PLAIN.encode() + b"O:QQQ\xff251010C00600000,209,0,312,1,1,1\n"),
         error=(12, None, "byte 0xff is not UTF-8")),
    Case("nul_bytes_after_header", lambda: gz(TRADES_HEADER.encode() + b"\n" + b"\0" * 100_000),
         error=(2, None, "NUL byte")),
    Case("cr_inside_a_row", lambda: gz(PLAIN.replace("312,2.50", "312\r,2.50")), error=(2, None, r"'\\r'")),
    Case("overlong_other_root_line", lambda: gz(PLAIN + "O:QQQ" + "9" * 5000 + ",209,0,312,1,1,1\n"),
         error=(12, None, "line longer than 4096 bytes")),
    Case("empty_line", lambda: gz("\n".join([*LINES[:4], "", *LINES[4:]]) + "\n"), error=(5, None, "empty line")),
    Case("missing_column", lambda: gz(table([c for c in HEADER if c != "sip_timestamp"], ROWS)),
         error=(1, "sip_timestamp", "missing required column")),
    Case("bad_spy_price", lambda: gz(PLAIN.replace("1.75", "abc")), error=(4, "price", "cannot parse 'abc' as Float64")),
    Case("malformed_spy_ticker", lambda: gz(PLAIN.replace("O:SPY251010P00660000", "O:SPY25101P00660000")),
         error=(4, "ticker", "malformed option ticker 'O:SPY25101P00660000'")),
    Case("ragged_spy_row", lambda: gz(PLAIN.replace(",10\n", ",10,99\n")), error=(4, None, "8 fields where the header has 7")),
    Case("unterminated_quote_in_spy_row", lambda: gz(PLAIN.replace("O:SPY251010P00660000", '"O:SPY251010P00660000')),
         error=(4, None, "badly quoted line")),
    Case("truncated_gzip", lambda: gz(PLAIN)[:-30], error=(None, None, "truncated gzip")),
]


def outcome(reader, path: Path, wanted) -> dict | DataError:
    try:
        return asdict(reader(path, wanted))
    except DataError as error:
        return error


def assert_same(strict: dict | DataError, fast: dict | DataError) -> None:
    """The same frame and counts, or the same error at the same place."""
    if isinstance(strict, DataError) or isinstance(fast, DataError):
        assert isinstance(strict, DataError) and isinstance(fast, DataError), (strict, fast)
        assert (str(fast), fast.line, fast.field) == (str(strict), strict.line, strict.field)
        return
    assert_frame_equal(fast.pop("frame"), strict.pop("frame"))
    assert fast == strict


def assert_expected(case: Case, result: dict | DataError, path: Path) -> None:
    if case.error is None:
        assert not isinstance(result, DataError), result
        assert result["frame"]["file_row"].to_list() == case.kept_rows
        assert {name: result[name] for name in case.counts} == case.counts
        return
    line, field, pattern = case.error
    assert isinstance(result, DataError), f"expected a DataError, read {result}"
    assert (result.source, result.line, result.field) == (str(path), line, field)
    assert re.search(pattern, str(result)), str(result)
    assert str(result).isprintable() and len(str(result)) < 700  # no escape, BOM or megabyte reaches a console


@pytest.mark.parametrize("case", TRADE_CASES, ids=[case.name for case in TRADE_CASES])
def test_both_trade_readers_agree_with_each_other_and_the_hand_worked_outcome(case, tmp_path):
    path = case.write(tmp_path)
    for expiries in (None, [date(2025, 10, 10)], [date(2023, 3, 27)]):
        assert_same(outcome(read_trades, path, expiries), outcome(read_spy_trades, path, expiries))
    assert_expected(case, outcome(read_trades, path, None), path)


@pytest.mark.parametrize("case", TRADE_CASES, ids=[case.name for case in TRADE_CASES])
def test_pieces_shorter_than_a_line_change_nothing(case, tmp_path, monkeypatch):
    """37-byte pieces: every line, CRLF and header straddles pieces; carried lines and row offsets must add up."""
    path = case.write(tmp_path)
    whole = outcome(read_trades, path, None)
    monkeypatch.setattr(readers, "PIECE_BYTES", 37)
    for reader in (read_trades, read_spy_trades):
        assert_same(dict(whole) if isinstance(whole, dict) else whole, outcome(reader, path, None))


QUOTE_COLUMNS = QUOTES_HEADER.split(",")
CALL, PUT = "O:SPY251010C00670000", "O:SPY251010P00660000"
# (ticker, bid, bid_size, ask, ask_size): the reason each is dropped or kept, by hand (order: non-finite, negative,
# implausible; zero bids and sizes are quote states and stay).
QUOTES = [(CALL, "2.50", "4", "2.60", "5"),            # 0 kept
          (CALL, "NaN", "4", "2.60", "5"),             # 1 non-finite
          (PUT, "1.70", "3", "inf", "5"),              # 2 non-finite
          (CALL, "-0.01", "4", "2.60", "5"),           # 3 negative
          (PUT, "1.70", "-1", "1.80", "5"),            # 4 negative
          (CALL, "2.50", "4", "2.60", str(2**63 - 1)),  # 5 implausible size
          (PUT, "1.70", "3", "1000000", "5"),          # 6 implausible price
          (CALL, "0.00", "0", "0.05", "5"),            # 7 kept: zero bid
          ("O:SPYG251010C00080000", "NaN", "1", "1.0", "1")]  # 8 other root: not counted


def quotes_file() -> bytes:
    rows = [{"ticker": t, "bid_price": b, "bid_size": bs, "ask_price": a, "ask_size": az, "bid_exchange": "301",
             "ask_exchange": "302", "sequence_number": str(k), "sip_timestamp": str(T0 + k)}
            for k, (t, b, bs, a, az) in enumerate(QUOTES)]
    return gz(table(["vendor_note", *reversed(QUOTE_COLUMNS)], rows, quote=True, newline="\r\n"))


@pytest.mark.parametrize(("tickers", "expected"), [
    (None, {"spy_rows": 8, "kept": 2, "dropped_non_finite": 2, "dropped_negative": 2, "dropped_implausible": 2}),
    ([CALL], {"spy_rows": 5, "kept": 2, "dropped_non_finite": 1, "dropped_negative": 1, "dropped_implausible": 1}),
    ([], {"spy_rows": 0, "kept": 0}),
])
def test_both_quote_readers_agree_and_count_every_drop(tmp_path, tickers, expected):
    path = tmp_path / "q.csv.gz"
    path.write_bytes(quotes_file())
    strict, fast = outcome(read_quotes_counted, path, tickers), outcome(read_spy_quotes_counted, path, tickers)
    assert_same(dict(strict), dict(fast))
    assert {name: strict[name] for name in expected} == expected and strict["rows_in_file"] == 9
    assert strict["frame"]["sequence_number"].to_list() == ([0, 7] if expected["kept"] else [])


def test_real_quotes_sample_reads_the_same_both_ways():
    """Polygon's CRLF quotes sample: 99 rows of one contract (see test_readers for the standard-library check)."""
    path = REAL / "options_quotes_example.csv.gz"
    strict, fast = outcome(read_quotes_counted, path, None), outcome(read_spy_quotes_counted, path, None)
    assert strict["kept"] == 99
    assert_same(strict, fast)
