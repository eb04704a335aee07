"""Bad input files: what the readers reject (naming file, line and field), what they count and skip, and
what stops a run through the CLI. Damaged gzip, empty files and most bad values are covered in
``sources/test_readers.py``; this file adds the cases it lacks, on the simulated market's real-layout files."""

from __future__ import annotations

import gzip
import io
import logging
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest

from spy_gamma.sources.errors import DataError
from spy_gamma.sources.flatfiles import flatfile_key
from spy_gamma.sources.readers import read_minute_aggs, read_open_interest, read_quotes, read_trades
from spy_gamma_tests.reliability.conftest import WINDOW, assert_one_line_error, leftovers, spy_gamma, wrote_no_output

DAY = WINDOW[0]
NS_PER_DAY = 86_400 * 10**9


def rewrite(path: Path, change: Callable[[pl.DataFrame], pl.DataFrame], target: Path | None = None) -> Path:
    """Apply ``change`` to a flat file's rows (all read as text) and write it back as csv.gz."""
    rows = pl.read_csv(path, infer_schema=False)
    buffer = io.BytesIO()
    change(rows).write_csv(buffer)
    target = target or path
    target.write_bytes(gzip.compress(buffer.getvalue()))
    return target


@pytest.fixture
def day_files(market, tmp_path) -> dict[str, Path]:
    """Copies of the market's 2025-09-17 files, free to damage."""
    copies = {}
    for kind in ("trades", "quotes", "minute_aggs", "open_interest"):
        copies[kind] = tmp_path / f"{kind}.csv.gz"
        copies[kind].write_bytes((market / flatfile_key(kind, DAY)).read_bytes())
    return copies


def shuffle(rows: pl.DataFrame) -> pl.DataFrame:
    return rows.sample(fraction=1.0, shuffle=True, seed=11)


def test_rows_out_of_order_read_the_same(day_files, tmp_path):
    quotes = read_quotes(day_files["quotes"])
    assert read_quotes(rewrite(day_files["quotes"], shuffle, tmp_path / "q.csv.gz")).equals(quotes)
    bars = read_minute_aggs(day_files["minute_aggs"])
    assert read_minute_aggs(rewrite(day_files["minute_aggs"], shuffle, tmp_path / "m.csv.gz")).equals(bars)
    # Trades keep their file row (the key into the truth): map it back, then compare row for row.
    rows = pl.read_csv(day_files["trades"], infer_schema=False).with_row_index("original_row")
    shuffled = shuffle(rows)
    rewrite(day_files["trades"], lambda _: shuffled.drop("original_row"), tmp_path / "t.csv.gz")
    moved = read_trades(tmp_path / "t.csv.gz").frame.with_columns(
        pl.col("file_row").replace_strict(pl.Series(range(shuffled.height)),
                                          shuffled["original_row"].cast(pl.Int64)))
    key = ["ticker", "sip_timestamp", "file_row"]
    assert moved.sort(key).equals(read_trades(day_files["trades"]).frame.sort(key))


def test_extra_and_reordered_columns_are_ignored(day_files, tmp_path):
    def scramble(rows: pl.DataFrame) -> pl.DataFrame:
        return rows.with_columns(pl.lit("x").alias("vendor_note")).select(reversed(rows.columns + ["vendor_note"]))

    assert read_quotes(rewrite(day_files["quotes"], scramble, tmp_path / "q.csv.gz")).equals(
        read_quotes(day_files["quotes"]))
    assert read_open_interest(rewrite(day_files["open_interest"], scramble, tmp_path / "o.csv.gz")).equals(
        read_open_interest(day_files["open_interest"]))


def set_value(row: int, column: str, value: str) -> Callable[[pl.DataFrame], pl.DataFrame]:
    return lambda rows: rows.with_columns(
        pl.when(pl.int_range(pl.len()) == row).then(pl.lit(value)).otherwise(pl.col(column)).alias(column))


@pytest.mark.parametrize(("kind", "column", "value", "problem"), [
    ("quotes", "bid_size", "1.5", "cannot parse '1.5' as Int64"),
    ("quotes", "sip_timestamp", "", "missing value"),
    ("quotes", "ticker", "O:SPY2509X2C00660000", "malformed option ticker 'O:SPY2509X2C00660000'"),
    ("minute_aggs", "close", "n/a", "cannot parse 'n/a' as Float64"),
    ("open_interest", "open_interest", "-5", "negative open interest -5"),
])
def test_bad_value_names_file_line_and_field(day_files, kind, column, value, problem):
    reader = {"quotes": read_quotes, "minute_aggs": read_minute_aggs, "open_interest": read_open_interest}[kind]
    spy_row = pl.read_csv(day_files[kind], infer_schema=False)["ticker"].str.starts_with("O:SPY2").arg_true()
    row = int(spy_row[3]) if kind != "minute_aggs" else 7
    path = rewrite(day_files[kind], set_value(row, column, value))
    with pytest.raises(DataError, match=problem) as raised:
        reader(path)
    assert (raised.value.source, raised.value.line, raised.value.field) == (str(path), row + 2, column)


def test_missing_quote_column_is_named(day_files):
    path = rewrite(day_files["quotes"], lambda rows: rows.drop("ask_price"))
    with pytest.raises(DataError, match="missing required column") as raised:
        read_quotes(path)
    assert (raised.value.line, raised.value.field) == (1, "ask_price")


def test_non_positive_trades_and_negative_quotes_are_counted_skips(day_files, tmp_path, caplog):
    trades = read_trades(day_files["trades"])
    # Rows 0-3 of the file: zero price, negative price, zero size, negative size (SPY rows or not).
    damaged = rewrite(day_files["trades"], lambda rows: rows.with_columns(
        pl.when(pl.int_range(pl.len()) == 0).then(pl.lit("0")).when(pl.int_range(pl.len()) == 1)
        .then(pl.lit("-0.05")).otherwise(pl.col("price")).alias("price"),
        pl.when(pl.int_range(pl.len()) == 2).then(pl.lit("0")).when(pl.int_range(pl.len()) == 3)
        .then(pl.lit("-1")).otherwise(pl.col("size")).alias("size")), tmp_path / "t.csv.gz")
    spy_first_four = int(pl.read_csv(damaged, infer_schema=False).head(4)["ticker"]
                         .str.contains(r"^O:SPY\d{6}[CP]\d{8}$").sum())
    skipped = read_trades(damaged)
    assert skipped.dropped_invalid == trades.dropped_invalid + spy_first_four
    assert skipped.kept == trades.kept - spy_first_four
    assert skipped.frame.filter((pl.col("price") <= 0) | (pl.col("size") <= 0)).is_empty()

    negative = rewrite(day_files["quotes"], set_value(5, "ask_size", "-3"), tmp_path / "q.csv.gz")
    with caplog.at_level(logging.WARNING):
        assert read_quotes(negative).height == read_quotes(day_files["quotes"]).height - 1
    assert f"{negative}: dropped 1 quotes with negative prices or sizes" in caplog.text


def test_duplicate_rows_are_kept_for_the_check_to_count(day_files, tmp_path):
    doubled = rewrite(day_files["trades"], lambda rows: pl.concat([rows, rows]), tmp_path / "doubled.csv.gz")
    assert read_trades(doubled).kept == 2 * read_trades(day_files["trades"]).kept  # no silent de-duplication


def test_a_day_without_an_open_interest_file_is_an_empty_table():
    frame = read_open_interest(None)
    assert frame.is_empty() and frame.schema == {"ticker": pl.String, "expiry": pl.Date, "right": pl.String,
                                                 "strike": pl.Float64, "open_interest": pl.Int64}


def shift_timestamps(rows: pl.DataFrame) -> pl.DataFrame:
    return rows.with_columns((pl.col("sip_timestamp").cast(pl.Int64) + NS_PER_DAY).cast(pl.String))


@pytest.mark.slow
def test_another_days_file_stops_the_run_naming_it(reference, tmp_path):
    """Every print a day late: not a data-quality warning but invalid input, named, exit 1, nothing stored."""
    workspace = reference.workspace.clone(tmp_path)
    trades = rewrite(workspace.flatfile("trades", DAY), shift_timestamps)
    failed = spy_gamma(workspace)
    assert_one_line_error(failed, f"{trades}: 100% of the SPY prints lie outside the {DAY} session: "
                                  "this is another day's file")
    assert wrote_no_output(workspace) and leftovers(workspace) == []
    assert not (workspace.lake / "spy_trades" / f"{DAY}.parquet").exists()
