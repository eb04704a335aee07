"""As-of quote pairing, checked on a tape whose prevailing quotes are known by hand."""

import polars as pl

from spy_gamma.quant.pairing import pair_with_quotes, quote_state_counts

A, B = "O:SPY251010C00670000", "O:SPY251010P00650000"
SECOND = 1_000_000_000


def quotes() -> pl.DataFrame:
    rows = [  # ticker, ts, bid, ask, bid size, ask size, seq
        (A, 10 * SECOND, 1.00, 1.05, 10, 20, 1),
        (A, 12 * SECOND, 1.02, 1.02, 5, 5, 4),      # locked
        (A, 12 * SECOND, 1.03, 1.06, 7, 8, 5),      # same instant, later sequence: this one prevails
        (B, 11 * SECOND, 0.00, 0.05, 0, 50, 2),     # zero bid
        (B, 15 * SECOND, 2.10, 2.00, 9, 9, 6),      # crossed
    ]
    return pl.DataFrame(rows, schema=["ticker", "sip_timestamp", "bid_price", "ask_price", "bid_size", "ask_size",
                                      "sequence_number"], orient="row")


def trades() -> pl.DataFrame:
    rows = [(A, 9 * SECOND), (A, 10 * SECOND), (A, 11 * SECOND + 5), (A, 12 * SECOND), (A, 14 * SECOND),
            (B, 11 * SECOND + 500_000_000), (B, 15 * SECOND)]
    return pl.DataFrame(rows, schema=["ticker", "sip_timestamp"], orient="row").with_columns(file_row=pl.int_range(7))


def test_prevailing_quote_is_latest_at_or_before_within_tolerance():
    paired = pair_with_quotes(trades(), quotes(), tolerance_ns=SECOND).sort("file_row")
    # by hand: before any quote -> unquoted; at 10 s exactly -> the 10 s quote (ties count as prevailing);
    # 11 s + 5 ns -> 10 s quote is 1 s + 5 ns old, outside 1 s tolerance -> unquoted; at 12 s -> seq 5;
    # 14 s -> 12 s quote 2 s old -> unquoted; B at 11.5 s -> zero-bid quote; B at 15 s -> crossed quote.
    assert paired["bid_price"].to_list() == [None, 1.00, None, 1.03, None, 0.00, 2.10]
    assert paired["quote_age_ns"].to_list() == [None, 0, None, 0, None, 500_000_000, 0]
    assert paired["quote_state"].to_list() == ["unquoted", "normal", "unquoted", "normal", "unquoted",
                                               "zero_bid", "crossed"]


def test_wider_tolerance_reaches_older_quotes_and_counts_states():
    paired = pair_with_quotes(trades(), quotes(), tolerance_ns=3 * SECOND).sort("file_row")
    assert paired["bid_price"].to_list() == [None, 1.00, 1.00, 1.03, 1.03, 0.00, 2.10]
    counts = quote_state_counts(paired)
    assert counts == {"normal": 4, "locked": 0, "crossed": 1, "zero_bid": 1, "unquoted": 1}


def test_an_nbbo_prevails_until_it_changes_whatever_its_age():
    paired = pair_with_quotes(trades(), quotes()).sort("file_row")
    # by hand: only the print before any quote is unquoted; 11 s + 5 ns keeps the 10 s quote (1 s + 5 ns old),
    # 14 s keeps the 12 s seq-5 quote (2 s old)
    assert paired["bid_price"].to_list() == [None, 1.00, 1.00, 1.03, 1.03, 0.00, 2.10]
    assert paired["quote_age_ns"].to_list() == [None, 0, SECOND + 5, 0, 2 * SECOND, 500_000_000, 0]


def test_locked_quote_is_reported_when_it_prevails():
    q = quotes().filter(pl.col("sequence_number") != 5)
    paired = pair_with_quotes(trades(), q, tolerance_ns=SECOND).sort("file_row")
    assert paired["quote_state"][3] == "locked"
