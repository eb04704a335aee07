"""Votes and strata of single prints, worked by hand from each print's place against its prevailing quote."""

import datetime as dt

import polars as pl

from spy_gamma.quant.conditions import MULTI_LEG_ELECTRONIC, REGULAR, SINGLE_LEG_AUCTION, SINGLE_LEG_CROSS
from spy_gamma.quant.votes import pool_key, vote_features, vote_groups

SECOND = 1_000_000_000
# price, size, bid, ask, bid size, ask size, quote age (ns), quote state, condition;
# then quote_vote, quote_stratum, depth_vote, p_dealer, print_location, spread_ticks
PRINTS = [
    (1.10, 5, 1.00, 1.10, 30, 40, SECOND // 5, "normal", REGULAR, 1, "touch|age0|plain", 0, 1.0, "touch", 10),
    (1.10, 40, 1.00, 1.10, 30, 40, 0, "normal", REGULAR, 1, "touch|age0|size_match", 0, 1.0, "touch", 10),
    (1.10, 40, 1.00, 1.10, 40, 40, 0, "normal", REGULAR, 1, "touch|age0|plain", 0, 1.0, "touch", 10),  # equal sizes
    (0.99, 3, 1.00, 1.10, 30, 40, SECOND, "normal", REGULAR, -1, "touch|age1|plain", 0, 1.0, "touch", 10),
    (1.07, 3, 1.00, 1.10, 30, 40, 30 * SECOND, "normal", SINGLE_LEG_AUCTION, 1, "inside|age2|auction", 0, 1.0,
     "inside", 10),
    (1.02, 3, 1.00, 1.10, 30, 40, 0, "normal", MULTI_LEG_ELECTRONIC, -1, "inside|age0|multileg", 0, 1.0, "inside", 10),
    (1.05, 3, 1.00, 1.10, 30, 40, 0, "normal", REGULAR, 0, "mid|age0|plain", 1, 1.0, "mid", 10),  # the ask deeper
    (1.05, 3, 1.00, 1.10, 40, 30, 0, "normal", REGULAR, 0, "mid|age0|plain", -1, 1.0, "mid", 10),
    (1.10, 5, 1.00, 1.10, 30, 40, 0, "normal", SINGLE_LEG_CROSS, 1, "touch|age0|plain", 0, 0.0, "touch", 10),
    (1.03, 5, 1.00, 1.03, 30, 40, 0, "normal", REGULAR, 1, "touch|age0|plain", 0, 1.0, "touch", 3),
    (1.01, 5, 1.00, 1.01, 30, 40, 0, "normal", REGULAR, 1, "touch|age0|plain", 0, 1.0, "touch", 1),
    (1.90, 5, 1.00, 1.90, 30, 40, 0, "normal", REGULAR, 1, "touch|age0|plain", 0, 1.0, "touch", 10),  # 90, capped
    (1.05, 5, 1.10, 1.00, 30, 40, 0, "crossed", REGULAR, 0, "unquoted|age0|plain", 0, 1.0, "unquoted", 0),
]
INPUTS = ["price", "size", "bid_price", "ask_price", "bid_size", "ask_size", "quote_age_ns", "quote_state",
          "conditions"]
VOTES = ["quote_vote", "quote_stratum", "depth_vote", "p_dealer", "print_location", "spread_ticks"]


def paired(rows: list[tuple]) -> pl.DataFrame:
    """Prints of one contract on one day with their prevailing quotes."""
    frame = pl.DataFrame([row[:len(INPUTS)] for row in rows], schema=INPUTS, orient="row")
    return frame.with_columns(ticker=pl.lit("O:SPY251010C00600000"), date=pl.lit(dt.date(2025, 10, 1)))


def test_each_print_votes_and_is_stratified_by_where_it_sits_how_old_its_quote_is_and_its_kind():
    features = vote_features(paired(PRINTS))
    assert features.select(VOTES).rows() == [row[len(INPUTS):] for row in PRINTS]


def test_prints_with_identical_evidence_collapse_into_one_group_with_their_sizes_summed():
    # two plain touch prints at the ask, 5 and 7 lots: count 2, size 12, size squared 25 + 49, largest 7
    groups = vote_groups(vote_features(paired([PRINTS[0], PRINTS[0][:1] + (7,) + PRINTS[0][2:]])))
    assert groups.select("stratum", "count", "size_sum", "size_square_sum", "size_max").rows() == [
        ("touch|age0|plain", 2, 12.0, 74.0, 7.0)]


def test_a_print_without_a_quote_vote_has_no_stratum_in_its_group():
    groups = vote_groups(vote_features(paired([PRINTS[6], PRINTS[-1]])))
    assert groups["stratum"].to_list() == ["", ""]


def test_a_pool_is_a_strata_location_and_kind_at_every_quote_age():
    assert pool_key("touch|age2|size_match") == "touch|size_match"
    assert pool_key("inside|age0|plain") == "inside|plain"
