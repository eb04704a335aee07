"""The accuracy bench's scoring, on tapes whose right answers are worked out by hand."""

import datetime as dt

import polars as pl
import pytest

from spy_gamma.bench.accuracy import (
    confidence_calibration,
    open_close_accuracy,
    position_recovery,
    print_location,
    side_accuracy,
)

DAY = dt.date(2025, 10, 3)


def tape() -> pl.DataFrame:
    """Four prints against a 1.00 x 1.10 quote: at the ask, at the bid, at the mid, inside near the ask."""
    prices = [1.10, 1.00, 1.05, 1.08]
    return pl.DataFrame({
        "date": [DAY] * 4, "file_row": [0, 1, 2, 3], "ticker": ["O:SPY251010C00660000"] * 4,
        "sip_timestamp": [1, 2, 3, 4], "price": prices, "size": [5, 7, 3, 9], "conditions": [209] * 4,
        "bid_price": [1.00] * 4, "ask_price": [1.10] * 4, "bid_size": [50] * 4, "ask_size": [40] * 4,
        "quote_age_ns": [0] * 4, "quote_state": ["normal"] * 4,
        "customer_side": [1, -1, 1, 1], "side_confidence": [0.8] * 4, "side_rule": ["quote"] * 4,
        "open_close": ["BTO", "STC", "BTO", "BTC"]})


def truth() -> pl.DataFrame:
    # true sides: buy, buy, sell, buy; true open/close: BTO, BTO, STO, BTC
    return pl.DataFrame({"date": [DAY] * 4, "file_row": [0, 1, 2, 3], "customer_side": [1, 1, -1, 1],
                         "open_close": ["BTO", "BTO", "STO", "BTC"]})


def test_print_location_buckets():
    frame = tape()
    assert frame.select(print_location().alias("at"))["at"].to_list() == ["at_or_outside", "at_or_outside", "mid",
                                                                          "inside"]


def test_quote_rule_scored_by_hand():
    quote = side_accuracy(tape(), truth())["quote"]
    # quote rule: ask -> buy (right), bid -> sell (wrong), mid -> undecided (wrong), near ask -> buy (right)
    assert quote["overall"] == pytest.approx(0.5)
    assert quote["decided_share"] == pytest.approx(0.75)
    assert quote["overall_coin_flip"] == pytest.approx(0.625)
    assert quote["at_or_outside"] == pytest.approx(0.5) and quote["mid"] == 0.0 and quote["inside"] == 1.0


def test_open_close_scored_by_hand():
    scores = open_close_accuracy(tape(), truth())
    # open vs close right on rows 0, 2 (STO vs BTO both opening) and 3; row 1 (STC vs BTO) wrong -> 3/4
    assert scores == {"open_vs_close": pytest.approx(0.75), "four_way": pytest.approx(0.5)}


def test_confidence_calibration_counts_right_answers_per_band():
    bands = confidence_calibration(tape(), truth())
    assert bands == [{"band": "0.8-0.9", "trades": 4, "stated": pytest.approx(0.8), "observed": pytest.approx(0.5)}]


def test_position_recovery_by_hand():
    true = pl.DataFrame({"ticker": ["a", "b", "c"], "expiry": [DAY] * 3, "dealer_position": [10, -5, 5]})
    estimated = pl.DataFrame({"ticker": ["a", "b", "d"], "dealer_position": [10, -5, 4]})
    scores = position_recovery(estimated, true)["all"]
    # errors: a 0, b 0, c 5 (missed), d 4 (not in truth: true 0) -> 9 / |true| 20
    assert scores["weighted_abs_error"] == pytest.approx(9 / 20)
    assert scores["contracts"] == 4 and scores["true_gross"] == 20 and scores["estimated_gross"] == 19
    perfect = position_recovery(true.select("ticker", "dealer_position"), true)["all"]
    assert perfect["correlation"] == pytest.approx(1.0) and perfect["weighted_abs_error"] == 0.0
