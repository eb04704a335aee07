"""Flat-file readers on real Polygon samples and on small hand-made csv.gz fixtures in Polygon's layout."""

from __future__ import annotations

import csv
import gzip
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from spy_gamma.sources.errors import DataError
from spy_gamma.sources.readers import read_minute_aggs, read_open_interest, read_quotes, read_trades
from spy_gamma_tests.conftest import REALDATA

REAL = REALDATA / "polygon_flatfile_samples_spy_2023"
TRADES_HEADER = "ticker,conditions,correction,exchange,price,sip_timestamp,size"
T0 = 1_759_498_200_000_000_000  # 2025-10-03 13:30 UTC

# Current 7-column layout. Row index = file_row; line in the file = file_row + 2.
MIXED_TRADES = [
    "O:SPY251010C00670000,209,0,312,2.50,{t5},3",    # 0 kept
    "O:SPYI251010C00050000,209,0,312,1.10,{t1},1",   # 1 other underlying (SPYI)
    "O:SPY251010P00660000,232,0,325,1.75,{t2},10",   # 2 kept
    "O:SPY251010C00670000,209,1,312,2.40,{t3},2",    # 3 corrected print
    "O:SPYG251010C00080000,209,0,312,0.90,{t4},5",   # 4 other underlying (SPYG)
    "O:SPY251017C00680000,227,0,302,3.10,{t6},1",    # 5 other expiry
    "O:SPY251010C00670000,209,0,312,0.00,{t7},4",    # 6 zero price: counted skip
    "O:SPY251010C00670000,209,0,312,2.55,{t0},-1",   # 7 negative size: counted skip
    "O:QQQ251010C00600000,209,0,312,5.00,{t8},1",    # 8 other underlying
    "O:SPY251010C00670000,209,,312,2.45,{t1},7",     # 9 empty correction = 0: kept, earlier than row 0
]


def write_gz(path: Path, *lines: str) -> Path:
    """A csv.gz of the given lines (header first)."""
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    return path


def mixed_trades_file(tmp_path: Path, header: str = TRADES_HEADER, rows: list[str] = MIXED_TRADES) -> Path:
    stamps = {f"t{k}": T0 + k * 1_000_000_000 for k in range(9)}
    return write_gz(tmp_path / "trades.csv.gz", header, *(row.format(**stamps) for row in rows))


def csv_rows(path: Path) -> list[dict[str, str]]:
    """Independent parse with the standard library, for comparison."""
    with gzip.open(path, "rt", newline="") as handle:
        return list(csv.DictReader(handle))


def test_real_legacy_trades_file_reads_by_column_name():
    path = REAL / "options_trades_example.csv.gz"
    rows = csv_rows(path)
    assert "participant_timestamp" in rows[0] and {r["correction"] for r in rows} == {""}
    read = read_trades(path)
    assert (read.rows_in_file, read.spy_rows, read.kept, read.dropped_corrections) == (62, 62, 62, 0)
    frame = read.frame.sort("file_row")
    assert frame["file_row"].to_list() == list(range(62))
    assert frame["price"].to_list() == [float(r["price"]) for r in rows]
    assert frame["sip_timestamp"].to_list() == [int(r["sip_timestamp"]) for r in rows]
    assert frame["conditions"].to_list() == [int(r["conditions"]) for r in rows]
    assert set(frame["correction"]) == {0}
    # Polygon's documented first row: O:SPY230327P00390000, conditions 232, exchange 312, price 11.82.
    assert frame.select("expiry", "right", "strike", "conditions", "exchange", "price", "size").row(0) == (
        date(2023, 3, 27), "P", 390.0, 232, 312, 11.82, 1)
    assert read.frame["sip_timestamp"].is_sorted()


def test_real_quotes_file_matches_the_standard_library_parse():
    path = REAL / "options_quotes_example.csv.gz"
    rows = sorted(csv_rows(path), key=lambda r: (int(r["sip_timestamp"]), int(r["sequence_number"])))
    quotes = read_quotes(path)
    assert quotes.height == len(rows) == 99  # CRLF line ends; SOURCE.txt's "98" is off by one
    assert quotes["sip_timestamp"].to_list() == [int(r["sip_timestamp"]) for r in rows]
    assert quotes["bid_price"].to_list() == [float(r["bid_price"]) for r in rows]
    assert quotes["ask_exchange"].to_list() == [int(r["ask_exchange"]) for r in rows]
    assert read_quotes(path, tickers={"O:SPY251010C00670000"}).height == 0


def test_strict_root_versus_loose_prefix_and_drop_counts(tmp_path):
    path = mixed_trades_file(tmp_path)
    loose = pl.read_csv(path).filter(pl.col("ticker").str.starts_with("O:SPY"))
    assert loose.height == 9  # the naive filter keeps SPYI and SPYG too
    read = read_trades(path, expiries=[date(2025, 10, 10)])
    # By hand: SPY rows 0,2,3,5,6,7,9 = 7; row 3 corrected; row 5 other expiry; rows 6, 7 non-positive.
    assert (read.rows_in_file, read.spy_rows, read.kept) == (10, 7, 3)
    assert (read.dropped_corrections, read.dropped_other_expiries, read.dropped_invalid) == (1, 1, 2)
    assert read.frame.columns == ["ticker", "expiry", "right", "strike", "sip_timestamp", "price", "size",
                                  "exchange", "conditions", "correction", "file_row"]
    # Sorted by (ticker, sip_timestamp): the call's row 9 (t1) before row 0 (t5), then the put.
    assert read.frame.select("ticker", "file_row").rows() == [
        ("O:SPY251010C00670000", 9), ("O:SPY251010C00670000", 0), ("O:SPY251010P00660000", 2)]
    assert read.frame.schema == {"ticker": pl.String, "expiry": pl.Date, "right": pl.String,
                                 "strike": pl.Float64, "sip_timestamp": pl.Int64, "price": pl.Float64,
                                 "size": pl.Int64, "exchange": pl.Int32, "conditions": pl.Int32,
                                 "correction": pl.Int32, "file_row": pl.Int64}
    everything = read_trades(path)
    assert (everything.kept, everything.dropped_other_expiries) == (4, 0)


def test_columns_are_selected_by_name_not_position(tmp_path):
    reversed_header = ",".join(reversed(TRADES_HEADER.split(","))) + ",participant_timestamp"
    rows = [",".join(reversed(row.split(","))) + ",123" for row in MIXED_TRADES]
    straight = read_trades(mixed_trades_file(tmp_path)).frame
    (tmp_path / "other").mkdir()
    assert read_trades(mixed_trades_file(tmp_path / "other", reversed_header, rows)).frame.equals(straight)


def gz_damage(kind: str) -> bytes:
    good = gzip.compress((TRADES_HEADER + "\n" + "O:SPY251010C00670000,209,0,312,2.5,1,1\n" * 2000).encode())
    return {"corrupt": good[:40] + bytes(b ^ 0x5A for b in good[40:80]) + good[80:],
            "truncated": good[: len(good) // 2], "zero bytes": b"", "not gzip": b"ticker,price\n",
            "no header": gzip.compress(b"")}[kind]


@pytest.mark.parametrize(("kind", "message"), [
    ("corrupt", "corrupt gzip"), ("truncated", "truncated gzip"), ("zero bytes", "empty file"),
    ("not gzip", "not a gzip file"), ("no header", "empty file: no header row")])
def test_damaged_files_name_the_file(tmp_path, kind, message):
    path = tmp_path / "2025-10-03.csv.gz"
    path.write_bytes(gz_damage(kind))
    with pytest.raises(DataError, match=message) as raised:
        read_trades(path)
    assert str(path) in str(raised.value)


@pytest.mark.parametrize(("row", "line", "field", "message"), [
    ("O:SPY251010C00670000,209,0,312,abc,{t0},1", 4, "price", "cannot parse 'abc'"),
    ("O:SPY251010C00670000,209,0,312,2.5,{t0},1.5", 4, "size", "cannot parse '1.5'"),
    ("O:SPY251010C00670000,209,0,312,2.5,,1", 4, "sip_timestamp", "missing value"),
    ("O:SPY25101C00670000,209,0,312,2.5,{t0},1", 4, "ticker", "malformed option ticker 'O:SPY25101C"),
    ("O:SPY251340C00670000,209,0,312,2.5,{t0},1", 4, "ticker", "malformed option ticker"),
])
def test_bad_values_name_file_line_and_field(tmp_path, row, line, field, message):
    rows = [MIXED_TRADES[0], MIXED_TRADES[2], row, MIXED_TRADES[4]]  # the bad row is line 4
    path = mixed_trades_file(tmp_path, rows=rows)
    with pytest.raises(DataError, match=message) as raised:
        read_trades(path)
    assert (raised.value.source, raised.value.line, raised.value.field) == (str(path), line, field)
    assert f"{path}, line {line}, field '{field}'" in str(raised.value)


def test_ragged_line_is_located(tmp_path):
    rows = [MIXED_TRADES[0], MIXED_TRADES[2], MIXED_TRADES[4] + ",99"]
    with pytest.raises(DataError, match="8 fields where the header has 7") as raised:
        read_trades(mixed_trades_file(tmp_path, rows=rows))
    assert raised.value.line == 4


def test_missing_column_is_named(tmp_path):
    path = write_gz(tmp_path / "t.csv.gz", "ticker,conditions,correction,exchange,price,size")
    with pytest.raises(DataError, match="missing required column") as raised:
        read_trades(path)
    assert (raised.value.line, raised.value.field) == (1, "sip_timestamp")


def test_header_only_file_is_an_empty_day(tmp_path):
    read = read_trades(write_gz(tmp_path / "t.csv.gz", TRADES_HEADER))
    assert (read.rows_in_file, read.kept) == (0, 0) and read.frame.columns[-1] == "file_row"


QUOTES_HEADER = ("ticker,ask_exchange,ask_price,ask_size,bid_exchange,bid_price,bid_size,sequence_number,"
                 "sip_timestamp")


def test_quotes_keep_zero_bids_filter_tickers_and_drop_negatives(tmp_path):
    path = write_gz(
        tmp_path / "q.csv.gz",
        QUOTES_HEADER,
        "O:SPY251010C00670000,301,2.60,5,302,2.50,4,7,30",
        "O:SPY251010C00670000,301,0.05,5,302,0.00,0,5,10",   # zero bid: a real quote state, kept
        "O:SPYG251010C00080000,301,1.0,1,301,0.9,1,1,5",     # other root
        "O:SPY251010P00660000,301,1.80,5,302,-1.70,3,6,20",  # negative bid: dropped
        "O:SPY251017C00680000,301,3.0,1,302,2.9,1,8,40",     # not traded that day
    )
    quotes = read_quotes(path, tickers=["O:SPY251010C00670000", "O:SPY251010P00660000"])
    assert quotes.select("ticker", "sip_timestamp", "bid_price").rows() == [
        ("O:SPY251010C00670000", 10, 0.0), ("O:SPY251010C00670000", 30, 2.5)]
    assert read_quotes(path)["ticker"].n_unique() == 2


def test_minute_aggs_keep_only_the_exact_ticker(tmp_path):
    path = write_gz(
        tmp_path / "m.csv.gz",
        "ticker,volume,open,close,high,low,window_start,transactions",
        "SPY,2000,670.1,670.3,670.5,670.0,1759498260000000000,40",
        "SPYG,10,80.0,80.1,80.2,79.9,1759498200000000000,2",
        "SPY,1500,670.0,670.1,670.2,669.9,1759498200000000000,30")
    spot = read_minute_aggs(path)
    assert spot.columns == ["window_start", "open", "high", "low", "close", "volume", "transactions"]
    assert spot.select("window_start", "close", "volume").rows() == [
        (1759498200000000000, 670.1, 1500), (1759498260000000000, 670.3, 2000)]


def test_open_interest_parses_contracts_and_rejects_negatives(tmp_path):
    path = write_gz(tmp_path / "oi.csv.gz", "ticker,open_interest", "O:SPY251010P00660000,800",
                    "O:SPYI251010C00050000,9", "O:SPY251010C00670000,1200")
    oi = read_open_interest(path)
    assert oi.rows() == [("O:SPY251010C00670000", date(2025, 10, 10), "C", 670.0, 1200),
                         ("O:SPY251010P00660000", date(2025, 10, 10), "P", 660.0, 800)]
    bad = write_gz(tmp_path / "bad.csv.gz", "ticker,open_interest", "O:SPY251010P00660000,-3")
    with pytest.raises(DataError, match="negative open interest") as raised:
        read_open_interest(bad)
    assert (raised.value.line, raised.value.field) == (2, "open_interest")


BARS_HEADER = "ticker,volume,open,close,high,low,window_start,transactions"
GOOD_BAR = {"ticker": "SPY", "volume": "1500", "open": "670.0", "close": "670.1", "high": "670.2", "low": "669.9",
            "window_start": "1759498200000000000", "transactions": "30"}


@pytest.mark.parametrize(("field", "value", "problem"), [
    ("close", "inf", "non-finite price inf"),        # a SPY close of inf once zeroed the day's surface
    ("close", "1e309", "non-finite price inf"),      # overflows float64
    ("open", "NaN", "non-finite price nan"),
    ("low", "0", "non-positive price 0.0"),
    ("high", "100000.5", r"implausible price 100000.5 \(above 100,000\)"),
    ("volume", "-1", "negative volume -1"),
    ("transactions", str(2**63 - 1), "implausible transactions 9223372036854775807"),
])
def test_implausible_spy_bars_reject_the_file_naming_line_and_field(tmp_path, field, value, problem):
    bad = {**GOOD_BAR, field: value, "window_start": "1759498260000000000"}
    rows = [",".join(bar[c] for c in BARS_HEADER.split(",")) for bar in (GOOD_BAR, bad)]
    path = write_gz(tmp_path / "m.csv.gz", BARS_HEADER, *rows)
    with pytest.raises(DataError, match=problem) as raised:
        read_minute_aggs(path)
    assert (raised.value.line, raised.value.field) == (3, field)


def test_other_tickers_bars_are_not_judged(tmp_path):
    """Only the requested ticker's bars feed the spot; another ETF's damaged close does not stop SPY's day."""
    other = {**GOOD_BAR, "ticker": "SPYG", "close": "inf"}
    rows = [",".join(bar[c] for c in BARS_HEADER.split(",")) for bar in (GOOD_BAR, other)]
    spot = read_minute_aggs(write_gz(tmp_path / "m.csv.gz", BARS_HEADER, *rows))
    assert spot["close"].to_list() == [670.1]


def test_open_interest_beyond_the_whole_chain_is_rejected(tmp_path):
    path = write_gz(tmp_path / "oi.csv.gz", "ticker,open_interest", "O:SPY251010P00660000,800",
                    f"O:SPY251010C00670000,{2**63 - 1}")
    with pytest.raises(DataError, match=r"implausible open interest 9223372036854775807 \(above 100,000,000\)") as raised:
        read_open_interest(path)
    assert (raised.value.line, raised.value.field) == (3, "open_interest")


def test_the_earliest_unparseable_line_is_named_whatever_its_column(tmp_path):
    rows = [MIXED_TRADES[0], MIXED_TRADES[2].replace(",10", ",1.5"), MIXED_TRADES[4], MIXED_TRADES[0].replace("2.50", "x")]
    with pytest.raises(DataError, match="cannot parse '1.5' as Int64") as raised:
        read_trades(mixed_trades_file(tmp_path, rows=rows))  # size (last column) at line 3 before price at line 5
    assert (raised.value.line, raised.value.field) == (3, "size")
