"""The signing model against tapes whose true sides are drawn in the test: what it learns, and what it must not."""

import datetime as dt
import json

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from spy_gamma.quant.conditions import MULTI_LEG_ELECTRONIC, REGULAR, SINGLE_LEG_CROSS
from spy_gamma.quant.signing import (
    SigningFit,
    SigningModel,
    _ContractPairs,
    _Ratio,
    fit_model,
    gate_z,
    sign_session,
)
from spy_gamma.quant.votes import vote_features, vote_groups

BID, ASK = 1.00, 1.10
DAYS = 4


def tape(sides: np.ndarray, contract: np.ndarray, where: np.ndarray, *, vote_right: np.ndarray | None = None,
         depth_vote: np.ndarray | None = None, size_match: np.ndarray | None = None,
         conditions: np.ndarray | None = None) -> pl.DataFrame:
    """Paired prints over DAYS sessions: ``where`` is "touch", "inside" or "mid"; a touch print sits at the ask
    when its quote vote is +1 (an inside print 2 cents below it). The quote vote is the true side where ``vote_right``, the opposite elsewhere; at the mid the
    deeper side is ``depth_vote`` (+1: the ask is deeper). ``size_match`` prints trade the size they hit."""
    n = sides.size
    vote = np.where(vote_right if vote_right is not None else True, sides, -sides)
    depth = depth_vote if depth_vote is not None else np.zeros(n, dtype=int)
    match = size_match if size_match is not None else np.zeros(n, dtype=bool)
    touch = np.where(vote > 0, ASK, BID)
    price = np.where(where == "mid", (BID + ASK) / 2, np.where(where == "inside", touch - 0.02 * vote, touch))
    ask_size = np.where(where == "mid", np.where(depth > 0, 50, 10), np.where(match & (vote > 0), 5, 40))
    bid_size = np.where(where == "mid", np.where(depth < 0, 50, 10), np.where(match & (vote < 0), 5, 30))
    return pl.DataFrame({
        "ticker": [f"O:SPY251010C{600 + c:05d}000" for c in contract], "sip_timestamp": np.arange(n, dtype=np.int64),
        "date": [dt.date(2025, 10, 1 + i % DAYS) for i in range(n)],
        "price": price, "size": np.full(n, 5), "conditions": conditions if conditions is not None else np.full(n, REGULAR),
        "bid_price": np.full(n, BID), "ask_price": np.full(n, ASK), "bid_size": bid_size, "ask_size": ask_size,
        "quote_age_ns": np.zeros(n, dtype=np.int64), "quote_state": ["normal"] * n,
        "expiry": [dt.date(2025, 10, 10)] * n, "strike": 600.0 + contract, "right": ["C"] * n,
        "true_side": sides})


def window(paired: pl.DataFrame) -> tuple[pl.DataFrame, SigningModel]:
    """The window model fitted on the tape's days, and its prints signed."""
    features = vote_features(paired)
    model = SigningModel(vote_groups(features))
    model.fit()
    return model.sign(features), model


def read_later(paired: pl.DataFrame, fit: SigningFit) -> dict[str, float]:
    """Per stratum, the quote accuracy a stored ``fit`` gives the tape's prints once every quote is 30 s old."""
    later = SigningModel(vote_groups(vote_features(paired.with_columns(pl.lit(30_000_000_000).alias("quote_age_ns")))))
    later.use(fit)
    return dict(zip(later.strata, later.quote_accuracy))


def directional_market(rng: np.random.Generator, contracts: int = 300, prints: int = 24, strength: float = 0.4):
    """Contracts whose customers mostly buy or mostly sell (direction 0.5 +- strength), sides drawn from it."""
    direction = 0.5 + strength * rng.choice([-1, 1], contracts)
    contract = np.repeat(np.arange(contracts), prints)
    sides = np.where(rng.random(contract.size) < direction[contract], 1, -1)
    return contract, sides


def test_uninformative_evidence_leaves_mid_prints_a_coin_flip_and_touch_prints_the_quote_rule():
    # Sides 50/50 in every contract, depth votes random: nothing beyond the quote carries information.
    rng = np.random.default_rng(1)
    contract = np.repeat(np.arange(300), 24)
    sides = np.where(rng.random(contract.size) < 0.5, 1, -1)
    where = np.where(rng.random(contract.size) < 0.3, "mid", "touch")
    prints, model = window(tape(sides, contract, where, depth_vote=rng.choice([-1, 1], contract.size)))
    p = prints["p_customer_buy"].to_numpy()
    at_mid = prints["print_location"].to_numpy() == "mid"
    assert model.depth_accuracy == pytest.approx(0.5, abs=0.05)
    assert np.abs(p[at_mid] - 0.5).max() < 0.1  # no contract looks directional enough to lean on
    assert np.all((p[~at_mid] > 0.99) == (prints["quote_vote"].to_numpy()[~at_mid] > 0))  # the quote rule


def test_a_contracts_direction_signs_its_mid_prints():
    rng = np.random.default_rng(2)
    contract, sides = directional_market(rng)
    prints, model = window(tape(sides, contract, np.where(rng.random(contract.size) < 0.3, "mid", "touch")))
    mid = prints.filter(pl.col("print_location") == "mid")
    hard = np.where(mid["p_customer_buy"].to_numpy() > 0.5, 1, -1)
    # 90% of a contract's prints follow its direction: reading it off the touch prints signs most mid prints
    # right (a coin flip would be 50%), and the spread of directions (0.4) is found
    assert (hard == mid["true_side"].to_numpy()).mean() > 0.8
    assert model.fit().book_direction_sd == pytest.approx(0.4, abs=0.05)


def test_the_book_wide_lean_of_the_votes_does_not_sign_the_prints_of_contracts_without_votes():
    # Directional contracts whose touch votes lean to "buy" book-wide (a third of the sales print at the ask, as
    # resting limits would), and 40 contracts that print only at the mid. The lean is the votes', not the
    # customers' (the tape cannot tell which): a contract without a vote of its own stays a coin flip.
    rng = np.random.default_rng(11)
    contract, sides = directional_market(rng)
    quiet = contract >= 260
    right = (sides > 0) | (rng.random(contract.size) > 1 / 3)
    prints, model = window(tape(sides, contract, np.where(quiet, "mid", "touch"), vote_right=right))
    assert model.fit().identified
    assert prints.filter(pl.col("quote_vote") != 0)["quote_vote"].mean() > 0.2
    p = prints["p_customer_buy"].to_numpy()
    assert np.abs(p[quiet] - 0.5).max() < 1e-9


def test_a_print_that_outweighs_the_rest_of_its_contract_is_read_as_the_quote_rule_reads_it():
    # A 200-lot carries 40000 / (40000 + 23 x 25) of its contract's volume squared: the calibration, read on 5-lots
    # counted one each, says nothing about it. At the mid it stays a coin flip, its contract's direction and a depth
    # vote that agrees with it notwithstanding; inside, where 5-lots vote right 3 times in 4 and are read with their
    # contract's direction, its quote vote counts at face value. The contracts' other mid prints keep their reading.
    rng = np.random.default_rng(7)
    contract, sides = directional_market(rng)
    where = np.where(rng.random(contract.size) < 0.3, "mid", np.where(rng.random(contract.size) < 0.5, "inside", "touch"))
    vote_right = (where != "inside") | (rng.random(contract.size) < 0.75)
    mid_print = int(np.flatnonzero((contract == 0) & (where == "mid"))[0])
    inside_print = int(np.flatnonzero((contract == 1) & (where == "inside") & vote_right)[0])
    depth = np.zeros(contract.size, dtype=int)
    depth[mid_print] = 1 if sides[contract == 0].sum() > 0 else -1
    size = np.where(np.isin(np.arange(contract.size), [mid_print, inside_print]), 200, 5)
    prints, model = window(tape(sides, contract, where, vote_right=vote_right, depth_vote=depth)
                           .with_columns(pl.Series("size", size)))
    p = prints["p_customer_buy"].to_numpy()
    assert model.fit().quote_accuracy["inside|age0|plain"] == pytest.approx(0.75, abs=0.05)
    assert p[mid_print] == pytest.approx(0.5, abs=1e-12)
    assert p[inside_print] == pytest.approx(1.0 if prints["quote_vote"][inside_print] > 0 else 0.0, abs=1e-5)
    others = (contract == 0) & (where == "mid") & (np.arange(contract.size) != mid_print)
    assert np.abs(p[others] - 0.5).min() > 0.2


def opening_and_closing_market(rng: np.random.Generator, closing_follows: float):
    """Contracts with a direction (0.5 +- 0.4) on their opening days (odd days of the month); on closing days (even)
    customers buy with probability 1/2 + closing_follows x (direction - 1/2). 30% of prints at the mid."""
    direction = 0.5 + 0.4 * rng.choice([-1, 1], 300)
    contract = np.repeat(np.arange(300), 24)
    closing = np.arange(contract.size) % DAYS % 2 == 1  # the tape's day of the month is 1 + i % DAYS
    p_buy = 0.5 + np.where(closing, closing_follows, 1.0) * (direction[contract] - 0.5)
    sides = np.where(rng.random(contract.size) < p_buy, 1, -1)
    features = vote_features(tape(sides, contract, np.where(rng.random(contract.size) < 0.3, "mid", "touch")))
    day_class = pl.when(pl.col("date").dt.day() % 2 == 0).then(pl.lit("closing")).otherwise(pl.lit("opening"))
    return features, vote_groups(features).with_columns(day_class.alias("day_class"))


def mid_hits(model: SigningModel, features: pl.DataFrame, closing: bool) -> float:
    """Share of the mid prints of opening (or closing) days whose hard side is the true one."""
    mid = model.sign(features).filter((pl.col("print_location") == "mid")
                                      & ((pl.col("date").dt.day() % 2 == 0) == closing))
    return float((np.where(mid["p_customer_buy"].to_numpy() > 0.5, 1, -1) == mid["true_side"].to_numpy()).mean())


def test_closing_days_that_reverse_the_opening_direction_are_learned_and_sign_their_mid_prints_against_it():
    features, groups = opening_and_closing_market(np.random.default_rng(11), closing_follows=-1.0)
    model = SigningModel(groups)
    fit = model.fit()
    assert fit.identified and fit.day_class_link["closing"] < -0.8
    # a print whose day is not known yet (live, or before the next OI file) takes the links' mix: half the window's
    # prints are on opening days, half on closing days
    assert fit.day_class_link["unknown"] == pytest.approx((1 + fit.day_class_link["closing"]) / 2, abs=1e-5)
    # 90% of a contract-day's prints follow the day's side: mid prints are signed right 80%+ on both kinds of day
    assert mid_hits(model, features, closing=False) > 0.8 and mid_hits(model, features, closing=True) > 0.8
    # without the days' classes each contract's directions cancel over the window: nothing to sign mid prints by
    unclassed = SigningModel(groups.drop("day_class"))
    unclassed.fit()
    assert mid_hits(unclassed, features, closing=True) < 0.6


def test_closing_days_that_carry_no_direction_get_no_link_and_leave_their_mid_prints_a_coin_flip():
    features, groups = opening_and_closing_market(np.random.default_rng(12), closing_follows=0.0)
    model = SigningModel(groups)
    fit = model.fit()
    assert abs(fit.day_class_link["closing"]) < 0.15 and fit.day_class_link["unclassed"] == 0.0
    closing_mid = model.sign(features).filter((pl.col("print_location") == "mid") & (pl.col("date").dt.day() % 2 == 0))
    assert np.abs(closing_mid["p_customer_buy"].to_numpy() - 0.5).mean() < 0.06
    assert mid_hits(model, features, closing=False) > 0.8


def test_a_window_whose_opening_days_alone_identify_nothing_is_fitted_as_one_class():
    # Every day shares the direction, but the OI files mark a single contract-day "opening" and all others
    # "closing": opening days alone give no cross-day pair, the whole window identifies the direction.
    features, groups = opening_and_closing_market(np.random.default_rng(14), closing_follows=1.0)
    first = (pl.col("ticker") == groups["ticker"].min()) & (pl.col("date").dt.day() == 1)
    model, fit = fit_model(groups.with_columns(pl.when(first).then(pl.lit("opening")).otherwise(pl.lit("closing"))
                                               .alias("day_class")))
    assert fit.identified and fit.day_class_link is None
    assert mid_hits(model, features, closing=True) > 0.8


def test_without_an_opening_day_the_classes_change_nothing():
    features, groups = opening_and_closing_market(np.random.default_rng(13), closing_follows=1.0)
    plain, nulls = SigningModel(groups.drop("day_class")), SigningModel(groups.with_columns(pl.lit(None, pl.String).alias("day_class")))
    assert plain.fit() == nulls.fit() and nulls.fit().day_class_link is None
    assert np.array_equal(plain.group_probabilities(), nulls.group_probabilities())


def one_tick_spread(paired: pl.DataFrame, narrow: pl.Expr) -> pl.DataFrame:
    """The ``narrow`` contracts' quotes a tick wide (1.00 x 1.01), their touch prints moved to the new ask."""
    at_ask = pl.col("price") >= ASK - 1e-9
    return paired.with_columns(pl.when(narrow & at_ask).then(BID + 0.01).otherwise(pl.col("price")).alias("price"),
                               pl.when(narrow).then(BID + 0.01).otherwise(pl.col("ask_price")).alias("ask_price"))


def test_a_vote_lean_that_comes_with_a_one_tick_spread_is_not_read_as_a_book_direction():
    # No contract has a direction (every side a coin flip). Touch prints in the 150 contracts quoted a tick wide
    # land at the ask 80% of the time whatever the side (where improving orders can go in a one-tick market);
    # elsewhere the vote is the side. Centred over all widths the narrow contracts' votes lean "buy" day after
    # day, which reads as a direction; centred per width nothing is left to read.
    rng = np.random.default_rng(21)
    contract = np.repeat(np.arange(300), 24)
    sides = np.where(rng.random(contract.size) < 0.5, 1, -1)
    narrow = contract < 150
    vote = np.where(narrow, np.where(rng.random(contract.size) < 0.8, 1, -1), sides)
    paired = one_tick_spread(tape(sides, contract, np.full(contract.size, "touch"), vote_right=vote == sides),
                             pl.col("strike") < 750)
    groups = vote_groups(vote_features(paired))
    assert set(groups.filter(pl.col("ticker").str.contains("C00[67]"))["spread_ticks"].to_list()) == {1, 10}
    assert not SigningModel(groups).fit().identified
    assert SigningModel(groups.drop("spread_ticks")).fit().identified  # what the width keeps out


def test_directions_are_read_alike_in_contracts_of_any_spread_width():
    rng = np.random.default_rng(22)
    contract, sides = directional_market(rng, contracts=400)
    paired = one_tick_spread(tape(sides, contract, np.full(contract.size, "touch")), pl.col("strike") < 800)
    fit = SigningModel(vote_groups(vote_features(paired))).fit()
    assert fit.identified and fit.book_direction_sd == pytest.approx(0.4, abs=0.05)


def test_a_stratum_that_reverses_the_quote_rule_is_learned_from_contract_directions():
    # Size-matched prints are resting customer limit orders filled at the opposite touch: their quote vote is
    # wrong 90% of the time. The contracts' directions (from plain touch prints on other days) reveal it.
    rng = np.random.default_rng(3)
    contract, sides = directional_market(rng, contracts=400)
    matched = rng.random(contract.size) < 0.25
    right = np.where(matched, rng.random(contract.size) < 0.1, True)
    _, model = window(tape(sides, contract, np.full(contract.size, "touch"), vote_right=right, size_match=matched))
    fit = model.fit()
    assert fit.quote_accuracy["touch|age0|size_match"] == pytest.approx(0.1, abs=0.08)
    assert fit.quote_accuracy["touch|age0|plain"] == pytest.approx(1.0, abs=1e-5)  # face value


def test_a_stratum_of_few_prints_reads_as_its_kind_reads_at_other_quote_ages():
    # As above, and 1 print in 125 trades against a quote 30 s old. Alone, the twenty-odd old size-matched prints
    # stand out from face value too little to move all the way (0.25, not 0.1); their pool (size-matched touch
    # prints at any age) does not, so they read as reversed as the fresh ones. The old plain prints' pool holds
    # nothing but them: face value.
    rng = np.random.default_rng(3)
    contract, sides = directional_market(rng, contracts=400)
    matched = rng.random(contract.size) < 0.25
    right = np.where(matched, rng.random(contract.size) < 0.1, True)
    old = rng.random(contract.size) < 0.008
    paired = tape(sides, contract, np.full(contract.size, "touch"), vote_right=right, size_match=matched)
    _, model = window(paired.with_columns(pl.Series("quote_age_ns", np.where(old, 30_000_000_000, 0))))
    accuracy = model.fit().quote_accuracy
    assert (old & matched).sum() < 30
    assert accuracy["touch|age2|size_match"] == pytest.approx(accuracy["touch|age0|size_match"], abs=0.05)
    assert accuracy["touch|age0|size_match"] == pytest.approx(0.1, abs=0.08)
    assert accuracy["touch|age2|plain"] == pytest.approx(1.0, abs=2e-3)


def test_a_pool_leaves_the_reference_out_so_old_plain_prints_read_as_plain_prints_read_at_other_ages():
    # Plain touch prints: fresh ones (the reference) right, those against quotes 1-10 s old (1 in 4) and 30 s old
    # (1 in 1,000) right 1 time in 10. The ten-odd old ones alone stay at face value; their pool is the old and the
    # 1-10 s prints, not the reference, which would hold it near face value.
    rng = np.random.default_rng(5)
    contract, sides = directional_market(rng, contracts=400)
    age = np.where(rng.random(contract.size) < 0.25, 3_000_000_000, 0)
    age = np.where(rng.random(contract.size) < 0.001, 30_000_000_000, age)
    right = np.where(age > 0, rng.random(contract.size) < 0.1, True)
    paired = tape(sides, contract, np.full(contract.size, "touch"), vote_right=right)
    fit = window(paired.with_columns(pl.Series("quote_age_ns", age)))[1].fit()
    assert (age > 10_000_000_000).sum() < 15
    assert fit.pool_accuracy["touch|plain"] == pytest.approx(0.1, abs=0.08)
    assert fit.quote_accuracy["touch|age2|plain"] == pytest.approx(fit.quote_accuracy["touch|age1|plain"], abs=0.05)
    assert fit.quote_accuracy["touch|age0|plain"] == pytest.approx(1.0, abs=1e-5)


def test_each_member_of_a_pool_is_centred_on_its_own_lean_so_leans_that_differ_are_not_read_as_information():
    # Inside prints vote 9 times in 10 one way whatever the side: up against quotes 1-10 s old, which only the
    # contracts customers buy have, down against quotes 30 s old, only in the contracts they sell; 1 in 100 of them,
    # against fresh quotes, vote at random. Each lean is its stratum's own, no information; centred on the pool's
    # mean they would co-move with the book directions, and the few fresh ones, too few to stand out from their
    # pool, would read as it.
    rng = np.random.default_rng(9)
    contract, sides = directional_market(rng, contracts=400)
    bought = np.repeat(np.bincount(contract, sides > 0) > 12, 24)
    inside = rng.random(contract.size) < 0.3
    fresh = rng.random(contract.size) < 1 / 100
    lean = np.where(rng.random(contract.size) < 0.9, 1, -1) * np.where(bought, 1, -1)
    lean = np.where(fresh, rng.choice([-1, 1], contract.size), lean)
    age = np.where(inside & ~fresh, np.where(bought, 3_000_000_000, 30_000_000_000), 0)
    paired = tape(sides, contract, np.where(inside, "inside", "touch"),
                  vote_right=np.where(inside, lean == sides, True))
    fit = window(paired.with_columns(pl.Series("quote_age_ns", age)))[1].fit()
    assert fit.identified
    assert fit.quote_accuracy["inside|age0|plain"] == pytest.approx(0.5, abs=0.1)
    assert fit.quote_accuracy["inside|age1|plain"] == pytest.approx(0.5, abs=0.1)
    assert fit.quote_accuracy["inside|age2|plain"] == pytest.approx(0.5, abs=0.1)
    assert fit.pool_accuracy["inside|plain"] == pytest.approx(0.5, abs=0.1)


def test_an_estimate_moves_from_its_prior_only_beyond_the_gate_and_then_part_of_the_way():
    # Hand-worked with a gate of 2 sd: 1.5 sd from the prior stays; 4 sd moves 1 - (2/4)^2 = 3/4 of the way
    # (1 - 0.75 x 1.2 = 0.1).
    assert _Ratio(estimate=0.55, error=0.3).shrunk(1.0, 2.0) == 1.0
    assert _Ratio(estimate=-0.2, error=0.3).shrunk(1.0, 2.0) == pytest.approx(0.1)
    assert _Ratio(estimate=0.5, error=float("inf")).shrunk(0.0, 2.0) == 0.0


def test_the_gate_keeps_every_estimate_of_a_fit_without_information_in_place_19_times_in_20():
    # Bonferroni: 25 estimates, each two-sided at 0.05 / 25: the normal quantile of 1 - 0.001 is 3.0902 (tables)
    assert gate_z(25) == pytest.approx(3.0902, abs=1e-4) and gate_z(1) == pytest.approx(1.9600, abs=1e-4)
    # and by simulation: 25 pure-noise estimates (z-scores), how often any one passes the gate
    noise = np.random.default_rng(0).standard_normal((20_000, 25))
    assert (np.abs(noise) > gate_z(25)).any(axis=1).mean() == pytest.approx(0.049, abs=0.005)


def test_the_gate_is_set_over_every_estimate_of_the_fit_that_can_move_each_counted_once():
    # Plain touch prints against fresh quotes (the reference), 1-10 s and 30 s old quotes (two strata, one pool),
    # size-matched ones against fresh quotes only (a stratum whose pool is itself: one estimate) and mid prints with
    # depth votes (no quote vote). Without day classes the links have no pairs and cannot move.
    # K = 3 strata + 1 pool + depth = 5.
    rng = np.random.default_rng(5)
    contract, sides = directional_market(rng, contracts=400)
    age = np.where(rng.random(contract.size) < 0.25, 3_000_000_000, 0)
    age = np.where(rng.random(contract.size) < 0.01, 30_000_000_000, age)
    matched = (age == 0) & (rng.random(contract.size) < 0.2)
    where = np.where(~matched & (age == 0) & (rng.random(contract.size) < 0.2), "mid", "touch")
    paired = tape(sides, contract, where, size_match=matched, depth_vote=rng.choice([-1, 1], contract.size))
    fit = window(paired.with_columns(pl.Series("quote_age_ns", age)))[1].fit()
    assert set(fit.quote_accuracy) == {"touch|age0|plain", "touch|age1|plain", "touch|age2|plain",
                                       "touch|age0|size_match"}
    assert fit.gate == {"estimates": 5, "z": pytest.approx(gate_z(5), abs=1e-4)}
    assert SigningFit.from_dict(fit.as_dict()).gate == fit.gate


def test_cross_day_pairs_between_two_contracts_of_a_unit_leave_out_same_day_pairs():
    # Hand-worked: one unit, contracts 0 and 1, days 0 and 1; votes (1, 2) and (3, -1), one print each.
    # Across the two contracts: 1 x -1 + 2 x 3 = 5 over 2 pairs; within contract 0: 1 x 2 + 2 x 1 = 4 over 2.
    pairs = _ContractPairs((np.zeros(4, dtype=np.int64), np.array([0, 0, 1, 1]), np.array([0, 1, 0, 1])), (1, 2, 2))
    sums = pairs.day_sums(np.ones(4, dtype=bool), np.array([1.0, 2.0, 3.0, -1.0]), np.ones(4))
    products, counts = pairs.cross_day(sums, sums)
    assert products[0].tolist() == [[4.0, 5.0], [5.0, -6.0]]
    assert counts[0].tolist() == [[2.0, 2.0], [2.0, 2.0]]


def across_expiries(paired: pl.DataFrame, expiries: int) -> pl.DataFrame:
    """The tape's contract c re-listed as strike c // expiries of expiry c % expiries (Oct 10, 11, ...)."""
    c = pl.col("ticker").str.slice(12, 5).cast(pl.Int64) - 600
    return paired.with_columns(pl.concat_str(pl.lit("O:SPY2510"), (10 + c % expiries).cast(pl.String), pl.lit("C"),
                                             (600 + c // expiries).cast(pl.String).str.zfill(5), pl.lit("000"))
                               .alias("ticker"))


def test_a_direction_shared_by_a_strike_across_expiries_is_found_and_signs_the_mid_prints():
    # 120 strikes x 4 expiries, 8 prints a contract over 4 days: customers keep buying or selling a strike
    # (0.5 +- 0.4) whatever the expiry. Each contract alone has few cross-day pairs; the strike pools four.
    rng = np.random.default_rng(11)
    contract = np.repeat(np.arange(480), 8)
    direction = 0.5 + 0.4 * rng.choice([-1, 1], 120)
    sides = np.where(rng.random(contract.size) < direction[contract // 4], 1, -1)
    features = vote_features(across_expiries(tape(sides, contract, np.where(rng.random(contract.size) < 0.3, "mid",
                                                                            "touch")), 4))
    model, fit = fit_model(vote_groups(features))
    mid = model.sign(features).filter(pl.col("print_location") == "mid")
    assert fit.identified and fit.direction_unit == "strike"
    assert (np.where(mid["p_customer_buy"] > 0.5, 1, -1) == mid["true_side"].to_numpy()).mean() > 0.75


def test_a_stratum_in_other_expiries_is_not_discounted_because_they_share_the_direction_only_in_part():
    # 200 strikes x 2 expiries. The first expiry (16 touch prints a contract) follows the strike's direction; the
    # second (48 prints, nearly all inside, votes right 85% of the time) follows it on half the strikes only.
    # Against the whole strike the inside votes covary less with the reference prints for that reason alone
    # (calibrated per strike they would read about 0.7). Each pair of expiries is set against the reference votes'
    # own covariance in the same two contracts, which is as much lower, so the inside votes are not discounted.
    rng = np.random.default_rng(14)
    contract = np.repeat(np.arange(400), np.where(np.arange(400) % 2 == 0, 16, 48))
    strike_dir = 0.5 + 0.4 * rng.choice([-1, 1], 200)
    own_dir = np.where(rng.random(200) < 0.5, strike_dir, 0.5 + 0.4 * rng.choice([-1, 1], 200))
    direction = np.where(contract % 2 == 0, strike_dir[contract // 2], own_dir[contract // 2])
    sides = np.where(rng.random(contract.size) < direction, 1, -1)
    inside = (contract % 2 == 1) & (rng.random(contract.size) < 0.97)
    right = np.where(inside, rng.random(contract.size) < 0.85, True)
    paired = across_expiries(tape(sides, contract, np.where(inside, "inside", "touch"), vote_right=right), 2)
    fit = SigningModel(vote_groups(vote_features(paired)), "strike").fit()
    assert fit.identified and fit.quote_accuracy["inside|age0|plain"] >= 0.85


def test_a_stratum_that_trades_in_other_expiries_than_the_reference_is_calibrated_against_the_strikes_pairs():
    # 80 strikes x 2 expiries sharing the strike's direction, 16 prints a contract: the first expiry trades plain
    # touch prints, the second nearly only size-matched ones (resting limits: the vote right 10% of the time). In
    # their own contracts the size-matched prints have about one reference print to compare with, too few to move
    # the stratum from face value; with the strike's other expiry's reference votes as well it is measured.
    rng = np.random.default_rng(17)
    contract = np.repeat(np.arange(160), 16)
    direction = (0.5 + 0.4 * rng.choice([-1, 1], 80))[contract // 2]
    sides = np.where(rng.random(contract.size) < direction, 1, -1)
    matched = (contract % 2 == 1) & (rng.random(contract.size) >= 0.06)
    right = np.where(matched, rng.random(contract.size) < 0.1, True)
    groups = vote_groups(vote_features(across_expiries(tape(sides, contract, np.full(contract.size, "touch"),
                                                            vote_right=right, size_match=matched), 2)))
    by_strike, by_contract = (SigningModel(groups, unit).fit() for unit in ("strike", "contract"))
    assert by_strike.identified and by_strike.quote_accuracy["touch|age0|size_match"] < 0.25
    assert by_contract.identified and by_contract.quote_accuracy["touch|age0|size_match"] > 0.9


def test_directions_of_single_contracts_are_not_pooled_across_expiries():
    # The same tape shape, but each contract has its own direction: pooling a strike's four expiries would
    # average independent directions away, so the data choose contracts.
    rng = np.random.default_rng(12)
    contract, sides = directional_market(rng, contracts=480, prints=16)
    features = vote_features(across_expiries(tape(sides, contract, np.where(rng.random(contract.size) < 0.3, "mid",
                                                                            "touch")), 4))
    _, fit = fit_model(vote_groups(features))
    assert fit.identified and fit.direction_unit == "contract"
    assert SigningFit.from_dict({**fit.as_dict(), "direction_unit": "strike"}).direction_unit == "strike"
    legacy = {k: v for k, v in fit.as_dict().items() if k != "direction_unit"}  # stored before units were chosen
    assert SigningFit.from_dict(legacy).direction_unit == "contract"


def test_legs_of_packages_are_read_at_face_value_not_against_the_contracts_direction():
    # A directional market where a quarter of the prints are legs of packages traded against the outright flow
    # (the short leg of a customer's call spread), their quote votes right. A leg's side is the package's: the
    # model must neither learn their stratum as reversed nor sign them with the contract's direction.
    rng = np.random.default_rng(13)
    contract, sides = directional_market(rng, contracts=400)
    leg = rng.random(contract.size) < 0.25
    sides = np.where(leg, -sides, sides)
    paired = tape(sides, contract, np.full(contract.size, "touch"),
                  conditions=np.where(leg, MULTI_LEG_ELECTRONIC, REGULAR))
    prints, model = window(paired)
    fit = model.fit()
    assert fit.identified and fit.quote_accuracy["touch|age0|multileg"] > 0.99
    legs = prints.filter(pl.col("conditions") == MULTI_LEG_ELECTRONIC)
    assert ((legs["p_customer_buy"] > 0.99) == (legs["quote_vote"] > 0)).all()  # each leg's own vote, as read
    # nor do they form a pool: a stored fit reads legs against older quotes at face value too
    assert "touch|multileg" not in fit.pool_accuracy
    assert read_later(paired, fit)["touch|age2|multileg"] > 0.99


def test_one_session_identifies_nothing_and_is_the_quote_rule():
    # Within a day votes also co-move with the option's price drift, whatever the sides: one day alone is never
    # taken as evidence of a direction, so every mid print stays a coin flip, even in a directional market.
    rng = np.random.default_rng(4)
    contract, sides = directional_market(rng, contracts=100)
    paired = tape(sides, contract, np.where(rng.random(contract.size) < 0.3, "mid", "touch")).drop("date")
    signed = sign_session(paired)
    mid = signed.prints.filter(pl.col("print_location") == "mid")
    assert not signed.fit.identified
    assert (mid["p_customer_buy"] == 0.5).all()  # exactly: no direction is read, however many prints a contract has


def test_a_window_without_a_single_reference_vote_leaves_every_mid_print_a_coin_flip():
    # A day without quotes (or a tape all at the mid) gives the calibration no reference votes at all: nothing is
    # identified and nothing fails.
    rng = np.random.default_rng(5)
    contract, sides = directional_market(rng, contracts=50)
    signed, model = window(tape(sides, contract, np.full(contract.size, "mid")))
    assert not model.fit().identified
    assert (signed["p_customer_buy"] == 0.5).all()


def test_a_session_without_prints_signs_nothing_and_fails_nowhere():
    empty = tape(np.array([1]), np.array([0]), np.array(["touch"])).head(0)
    signed = sign_session(empty)
    assert signed.prints.height == 0 and signed.contracts.height == 0 and not signed.fit.identified


def test_crosses_carry_no_dealer_flow():
    rng = np.random.default_rng(5)
    contract, sides = directional_market(rng, contracts=50)
    cross = rng.random(contract.size) < 0.2
    signed = sign_session(tape(sides, contract, np.full(contract.size, "touch"),
                               conditions=np.where(cross, SINGLE_LEG_CROSS, REGULAR)).drop("date"))
    crossed = signed.prints.filter(pl.col("conditions") == SINGLE_LEG_CROSS)
    assert (crossed["expected_dealer_flow"] == 0).all() and (crossed["dealer_sign"] == 0).all()


def test_contract_flow_moments_sum_the_prints_and_add_the_shared_direction():
    rng = np.random.default_rng(6)
    contract, sides = directional_market(rng, contracts=80)
    prints, model = window(tape(sides, contract, np.where(rng.random(contract.size) < 0.5, "mid", "touch")))
    by_contract = prints.group_by("ticker").agg(pl.col("expected_dealer_flow").sum(),
                                                (pl.col("p_customer_buy") * (1 - pl.col("p_customer_buy"))
                                                 * 4 * pl.col("size") ** 2).sum().alias("independent_var"))
    joined = by_contract.join(model.contract_moments(), on="ticker")
    # the mean is the sum of the prints' expectations; mid prints move together through the contract's
    # direction, so the variance exceeds the sum of independent Bernoulli variances
    assert np.allclose(joined["expected_dealer_flow"], joined["dealer_flow"], atol=1e-6)
    assert (joined["dealer_flow_variance"] >= joined["independent_var"] - 1e-6).all()
    assert (joined["dealer_flow_variance"] > 1.2 * joined["independent_var"]).mean() > 0.5


@pytest.mark.parametrize("classed", [False, True])
def test_a_stored_fit_signs_exactly_as_the_fresh_one(classed):
    rng = np.random.default_rng(7)
    if classed:
        features, groups = opening_and_closing_market(rng, closing_follows=-1.0)
    else:
        contract, sides = directional_market(rng, contracts=150)
        features = vote_features(tape(sides, contract, np.where(rng.random(contract.size) < 0.3, "mid", "touch")))
        groups = vote_groups(features)
    fresh = SigningModel(groups)
    fit = fresh.fit()
    stored = SigningModel(groups, fit.direction_unit)
    stored.use(SigningFit.from_dict(json.loads(json.dumps(fit.as_dict()))))  # as the lake keeps it, as live reads it
    assert_frame_equal(stored.sign(features), fresh.sign(features))
    assert_frame_equal(stored.contract_moments(), fresh.contract_moments())
    # kept unrounded: at 4 decimals (as fits were stored before) the reference would read as exactly 1
    assert fit.identified and fit.quote_accuracy["touch|age0|plain"] < 1.0 and (fit.day_class_link is not None) == classed


def test_a_stored_fit_reads_a_stratum_it_never_saw_as_its_pool_reads():
    # Fitted where size-matched prints (1 in 4) are right 1 time in 10, every quote fresh; later every quote is 30 s
    # old: strata the fit never saw read as their location and kind read, not at face value.
    rng = np.random.default_rng(3)
    contract, sides = directional_market(rng, contracts=400)
    matched = rng.random(contract.size) < 0.25
    paired = tape(sides, contract, np.full(contract.size, "touch"), size_match=matched,
                  vote_right=np.where(matched, rng.random(contract.size) < 0.1, True))
    fit = SigningFit.from_dict(window(paired)[1].fit().as_dict())
    accuracy = read_later(paired, fit)
    assert "touch|age2|size_match" not in fit.quote_accuracy
    assert accuracy["touch|age2|size_match"] == pytest.approx(0.1, abs=0.08)
    assert accuracy["touch|age2|plain"] == pytest.approx(1.0, abs=2e-3)  # its pool has no members: face value


def test_votes_taken_at_face_value_carry_the_misclassification_variance_of_the_stated_accuracy_prior():
    # One contract, 24 touch prints of 5 (all at face value: one session identifies nothing) and 6 mid prints of 5.
    # Hand-worked: touch prints 24 x 25 x E[4a(1-a)] for a ~ U(1/2, 1) = 600 x 2/3 = 400; mid prints are coin
    # flips, 6 x 25 = 150; the "no direction" prior adds almost nothing.
    contract = np.zeros(30, dtype=int)
    sides = np.where(np.arange(30) % 3 == 0, -1, 1)
    where = np.where(np.arange(30) < 24, "touch", "mid")
    model = SigningModel(vote_groups(vote_features(tape(sides, contract, where).drop("date"))))
    assert not model.fit().identified
    assert model.contract_moments()["dealer_flow_variance"][0] == pytest.approx(400 + 150, rel=0.01)


def test_a_print_that_dominates_its_contract_is_a_block_drawn_whole_not_part_of_a_normal_sum():
    # One session: a 100-lot bought at the ask and ten 1-lots. Hand-worked: the 100-lot carries 10000 / 10010 of
    # the contract's face-value variance (> 5%): a block, dealer flow -100; the 1-lots keep 2/3 x 10 of variance.
    sides = np.ones(11, dtype=int)
    paired = tape(sides, np.zeros(11, dtype=int), np.full(11, "touch")).drop("date").with_columns(
        pl.Series("size", [100] + [1] * 10))
    moments = SigningModel(vote_groups(vote_features(paired))).contract_moments().row(0, named=True)
    assert moments["block_flows"] == pytest.approx([-100.0], abs=1e-3)
    assert moments["dealer_flow_variance"] == pytest.approx(10 * 2 / 3, rel=0.01)


def test_the_book_lean_the_band_draws_is_scaled_by_each_contracts_reference_votes():
    # One session (nothing identified). Calls: contract 0 has 4 prints at the ask, 1 at the bid and 2 at the mid,
    # contract 1 one print at the bid; the put two at the ask; all of 5. Hand-worked: reference votes x size 15 of
    # 25, -5 of 5 and 10 of 10; unsigned: the 2 mid prints (10); face value: the touch prints.
    sides = np.array([1, 1, 1, 1, -1, 1, -1, -1, 1, 1])
    contract = np.array([0, 0, 0, 0, 0, 0, 0, 1, 2, 2])
    where = np.array(["touch"] * 5 + ["mid"] * 2 + ["touch"] * 3)
    paired = tape(sides, contract, where).drop("date").with_columns(
        pl.when(pl.Series(contract) == 2).then(pl.col("ticker").str.replace("C", "P", literal=True))
        .otherwise(pl.col("ticker")).alias("ticker"))
    moments = {row["ticker"]: row for row in SigningModel(vote_groups(vote_features(paired))).contract_moments()
               .iter_rows(named=True)}
    call, other_call, put = (moments[f"O:SPY251010{right}{600 + c:05d}000"] for c, right in ((0, "C"), (1, "C"), (2, "P")))
    assert (call["reference_votes"], other_call["reference_votes"], put["reference_votes"]) == (15.0, -5.0, 10.0)
    assert (call["reference_volume"], other_call["reference_volume"], put["reference_volume"]) == (25.0, 5.0, 10.0)
    assert call["unsigned_volume"] == pytest.approx(10.0, rel=0.01)  # mid prints at 1/2 (up to the "no direction" prior)
    assert put["unsigned_volume"] == pytest.approx(0.0, abs=1e-3)
    assert (call["face_value_volume"], other_call["face_value_volume"], put["face_value_volume"]) == (25.0, 5.0, 10.0)


def test_the_share_of_a_flow_that_comes_from_its_units_direction_is_reported_for_the_band():
    # One strike, two expiries, only mid prints (no vote): given mu each contract's dealer flow is -(2 mu - 1) V.
    # With a Beta(2, 2) direction on the model's grid, its sd is 2 V sd(mu), shared by both contracts.
    sides = np.ones(12, dtype=int)
    contract = np.array([0] * 8 + [1] * 4)
    paired = across_expiries(tape(sides, contract, np.full(12, "mid")), 2)
    model = SigningModel(vote_groups(vote_features(paired)), "strike")
    model.alpha = model.beta = 2.0
    model.directed = True
    grid = np.linspace(0.0125, 0.9875, 40)
    weight = grid * (1 - grid) / (grid * (1 - grid)).sum()
    sd_mu = np.sqrt((weight * grid ** 2).sum() - (weight * grid).sum() ** 2)
    moments = model.contract_moments().sort("ticker")
    assert moments["direction_key"].to_list() == ["C00600000", "C00600000"]
    # signed: one sd more buying is a dealer sale of 2 V sd(mu) in each contract
    assert moments["direction_sd"].to_list() == pytest.approx([-2 * 40 * sd_mu, -2 * 20 * sd_mu], rel=1e-9)
    assert (moments["dealer_flow_variance"] >= moments["direction_sd"] ** 2).all()
    # the second expiry traded only on closing days that reverse the book (link -1): it loads the other way
    model.day_class = np.where(model.groups["ticker"].str.contains("251011").to_numpy(), 1, 0)
    model.class_link = np.array([1.0, -1.0, 0.0, 1.0])
    reversed_second = model.contract_moments().sort("ticker")["direction_sd"].to_list()
    assert reversed_second == pytest.approx([-2 * 40 * sd_mu, 2 * 20 * sd_mu], rel=1e-9)
    model.directed = False  # unidentified: no direction, nothing shared
    assert (model.contract_moments()["direction_sd"] == 0).all()
