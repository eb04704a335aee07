"""The dealer book at a close: settled contracts leave it, held contracts take their smile vol and carry."""

from __future__ import annotations

import datetime as dt

import polars as pl

from spy_gamma.quant.book import dealer_book, with_open_interest

AS_OF = dt.date(2025, 10, 10)  # a Friday expiry day
BEFORE, NEXT = dt.date(2025, 10, 8), dt.date(2025, 10, 13)


def test_contracts_expiring_on_or_before_the_as_of_day_leave_the_book():
    # Held: one 2025-10-08 contract (settled two days ago), one 2025-10-10 (settled at today's 16:00 close),
    # two 2025-10-13. Only the last two are in the book at the close of 2025-10-10.
    positions = pl.DataFrame({
        "ticker": ["O:SPY251008C00660000", "O:SPY251010C00660000", "O:SPY251013C00660000", "O:SPY251013P00600000"],
        "expiry": [BEFORE, AS_OF, NEXT, NEXT], "strike": [660.0, 660.0, 660.0, 600.0],
        "right": ["C", "C", "C", "P"], "dealer_position": [500, -4000, 300, -200], "open_interest": [900, 9000, 700, 400]})
    # The 13 Oct smile only spans 640-680: the 600 put takes the vol of its nearest fitted strike (640), and
    # every contract carries its expiry's carry and forward.
    chain = pl.DataFrame({
        "expiry": [AS_OF, AS_OF, NEXT, NEXT, NEXT, NEXT], "strike": [660.0, 660.0, 640.0, 660.0, 640.0, 680.0],
        "right": ["C", "P", "P", "C", "C", "P"], "iv": [0.3, 0.3, 0.19, 0.15, 0.17, 0.14],
        "tte_years": [1.9e-6, 1.9e-6, 3 / 365, 3 / 365, 3 / 365, 3 / 365],
        "carry_q": [-2.0, -2.0, 0.012, 0.012, 0.012, 0.012], "forward": [661.0, 661.0, 661.2, 661.2, 661.2, 661.2]})
    book = dealer_book(positions, chain, AS_OF)
    assert book["ticker"].to_list() == ["O:SPY251013P00600000", "O:SPY251013C00660000"]
    assert book["iv"].to_list() == [0.19, 0.15] and book["carry_q"].to_list() == [0.012, 0.012]
    assert book.columns == ["ticker", "expiry", "strike", "right", "dealer_position", "open_interest", "iv",
                            "tte_years", "carry_q", "forward"]


def test_open_interest_comes_from_the_file_given_and_a_contract_it_omits_has_none():
    book = pl.DataFrame({"ticker": ["O:SPY251013C00660000", "O:SPY251013P00600000"], "dealer_position": [300, -200],
                         "open_interest": [None, 400]})
    oi = pl.DataFrame({"ticker": ["O:SPY251013C00660000", "O:SPY251013C00700000"], "open_interest": [1200, 50]})
    filled = with_open_interest(book, oi)
    assert filled.select("ticker", "dealer_position", "open_interest").rows() == [
        ("O:SPY251013C00660000", 300, 1200), ("O:SPY251013P00600000", -200, None)]
