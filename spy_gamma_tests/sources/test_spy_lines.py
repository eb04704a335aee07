"""The prefiltered reader gives ``readers``' frames, counts and errors, on hand-made, real and simulated files."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict

import pytest
from polars.testing import assert_frame_equal

from spy_gamma.sources import readers
from spy_gamma.sources.errors import DataError
from spy_gamma.sources.flatfiles import flatfile_key
from spy_gamma.sources.readers import read_quotes, read_trades
from spy_gamma.sources.simulator import simulate_market
from spy_gamma.sources.spy_lines import read_spy_quotes, read_spy_trades
from spy_gamma_tests.sources.test_readers import (
    MIXED_TRADES,
    QUOTES_HEADER,
    REAL,
    mixed_trades_file,
    write_gz,
)


def assert_same_read(path, expiries=None) -> None:
    """Frame and every count equal to the strict reader's."""
    strict, fast = asdict(read_trades(path, expiries)), asdict(read_spy_trades(path, expiries))
    assert_frame_equal(fast.pop("frame"), strict.pop("frame"))
    assert fast == strict


def test_hand_made_mixed_day_matches_the_strict_reader(tmp_path):
    path = mixed_trades_file(tmp_path)  # SPYI/SPYG/QQQ rows, a correction, an empty correction, bad sizes
    assert_same_read(path, [dt.date(2025, 10, 10)])
    assert_same_read(path)
    assert read_spy_trades(path, [dt.date(2025, 10, 10)]).frame["file_row"].to_list() == [9, 0, 2]


def test_real_legacy_layout_matches_the_strict_reader():
    """Polygon's older 8-column trades file (participant_timestamp, empty correction) and a CRLF quotes file."""
    assert_same_read(REAL / "options_trades_example.csv.gz")
    quotes = REAL / "options_quotes_example.csv.gz"
    assert_frame_equal(read_spy_quotes(quotes), read_quotes(quotes))


@pytest.fixture(scope="module")
def simulated_day(tmp_path_factory):
    root = tmp_path_factory.mktemp("opra")
    simulate_market(dt.date(2025, 10, 3), dt.date(2025, 10, 3), root, seed=5, scale=0.002)
    return {kind: root / flatfile_key(kind, dt.date(2025, 10, 3)) for kind in ("trades", "quotes")}


def test_simulated_day_in_many_pieces_matches_the_strict_reader(simulated_day, monkeypatch):
    """~12,000 rows in 64 KiB pieces: lines split across pieces and file_row offsets carried between them."""
    monkeypatch.setattr(readers, "PIECE_BYTES", 64 * 1024)
    expiries = [dt.date(2025, 10, 3), dt.date(2025, 10, 6), dt.date(2025, 10, 17)]
    assert_same_read(simulated_day["trades"], expiries)
    traded = read_trades(simulated_day["trades"], expiries).frame["ticker"].unique().to_list()
    assert len(traded) > 20
    assert_frame_equal(read_spy_quotes(simulated_day["quotes"], traded), read_quotes(simulated_day["quotes"], traded))
    assert_frame_equal(read_spy_quotes(simulated_day["quotes"]), read_quotes(simulated_day["quotes"]))


def test_quotes_filter_on_the_first_field_only(tmp_path):
    """A ticker that is a prefix of another, or appears in another field, must not select the line."""
    path = write_gz(tmp_path / "q.csv.gz", QUOTES_HEADER,
                    "O:SPY251010C00670000,301,2.60,5,302,2.50,4,7,30",
                    "O:SPY251010C006700001,301,2.60,5,302,2.50,4,8,31",  # longer (malformed) ticker
                    "O:SPY251010P00660000,301,1.80,5,302,1.70,3,6,20")
    quotes = read_spy_quotes(path, ["O:SPY251010C00670000"])
    assert quotes.select("ticker", "sequence_number").rows() == [("O:SPY251010C00670000", 7)]


@pytest.mark.parametrize(("row", "line", "field"), [
    ("O:SPY251010C00670000,209,0,312,abc,{t0},1", 4, "price"),
    ("O:SPY251010C00670000,209,0,312,2.5,,1", 4, "sip_timestamp"),
    ("O:SPY25101C00670000,209,0,312,2.5,{t0},1", 4, "ticker"),
    ("O:SPY251340C00670000,209,0,312,2.5,{t0},1", 4, "ticker"),
    ("O:SPY251010C00670000,209,0,312,2.5,{t0},1,99", 4, None),  # ragged
])
def test_damaged_spy_rows_raise_the_strict_readers_error(tmp_path, row, line, field):
    path = mixed_trades_file(tmp_path, rows=[MIXED_TRADES[0], MIXED_TRADES[2], row, MIXED_TRADES[4]])
    with pytest.raises(DataError) as strict:
        read_trades(path)
    with pytest.raises(DataError) as fast:
        read_spy_trades(path)
    assert (fast.value.line, fast.value.field, str(fast.value)) == (line, field, str(strict.value))


def test_header_only_and_missing_column_behave_as_the_strict_reader(tmp_path):
    empty = read_spy_trades(write_gz(tmp_path / "t.csv.gz", "ticker,conditions,correction,exchange,price,"
                                     "sip_timestamp,size"))
    assert (empty.rows_in_file, empty.kept) == (0, 0)
    with pytest.raises(DataError, match="missing required column"):
        read_spy_trades(write_gz(tmp_path / "m.csv.gz", "ticker,conditions,correction,exchange,price,size"))
    assert empty.frame.columns[-1] == "file_row"
