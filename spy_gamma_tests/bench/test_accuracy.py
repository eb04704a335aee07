"""The accuracy bench's scoring, on positions and markets whose right answers are worked out by hand."""

import polars as pl
import pytest

from spy_gamma.bench.accuracy import (
    AS_OF,
    Z90,
    aggregate,
    band_rms_z,
    coverage_interval,
    informative,
    markdown_table,
    read_at_truth,
    recovery,
    reference_accuracy,
    top_contract_share,
    truth_sided_prints,
    with_open_interest_evidence,
)
from spy_gamma.defs.partitions import window_sessions
from spy_gamma.lake import Lake


def positions(values: dict[str, float]) -> pl.DataFrame:
    return pl.DataFrame({"ticker": list(values), "dealer_position": list(values.values())})


def test_recovery_scores_over_the_union_of_contracts():
    truth = positions({"A": 10, "B": -20, "C": 5})
    estimated = positions({"A": 8, "B": -10, "D": 4})  # C missed (0), D invented (true 0)
    score = recovery(estimated, truth)
    # errors |8-10| + |-10+20| + |0-5| + |4-0| = 21 over sum|true| 35; slope sum(e t)/sum(t^2) = (80+200)/525
    assert score["contracts"] == 4
    assert score["wape"] == pytest.approx(21 / 35)
    assert score["slope"] == pytest.approx(280 / 525)
    est, true = [8, -10, 0, 4], [10, -20, 5, 0]
    mean_e, mean_t = sum(est) / 4, sum(true) / 4
    cov = sum((e - mean_e) * (t - mean_t) for e, t in zip(est, true))
    var_e, var_t = sum((e - mean_e) ** 2 for e in est), sum((t - mean_t) ** 2 for t in true)
    assert score["correlation"] == pytest.approx(cov / (var_e * var_t) ** 0.5)


def market(corr_ours, corr_quote, wape_ours, wape_quote, covers, sign_right, excludes_zero, signals, direction=None,
           with_oi=(0.0, 1.0), oracle=0.0, reference=0.8):
    return {"ours": {"correlation": corr_ours, "wape": wape_ours}, "direction": direction, "reference_accuracy": reference,
            "oracle": {"correlation": oracle, "wape": 1.0},
            "absolute_oracle": {"correlation": oracle + 0.02, "wape": 1.0},
            "quote_rule": {"correlation": corr_quote, "wape": wape_quote},
            "quote_rule_with_oi": {"correlation": with_oi[0], "wape": with_oi[1]},
            "band_covers_truth": covers, "gex_sign_right": sign_right, "band_excludes_zero": excludes_zero,
            "gex_relative_error": 0.5, "flip_error_usd": 1.0, "params": {"depth_informative": signals},
            "true_total_gex": 0.0, "band": {"p05": -1.0, "p50": 0.0, "p95": 1.0}}


def test_aggregate_states_the_goals_plainly():
    # the oracle over the quote rule with OI: +0.2, +0.005 (within the allowed loss: no usable information), +0.3, +0.1
    rows = [market(0.8, 0.7, 0.5, 0.6, True, True, True, True, "strike", (0.75, 0.55), 0.95),  # gains 0.1 / 0.1, informative
            market(0.6, 0.605, 0.71, 0.70, True, True, False, False, None, (0.61, 0.70), 0.615),  # losses 0.005 / 0.01, nothing informative
            # a wrong sign with the band off zero, votes worse than the band assumes (below a coin)
            market(0.5, 0.4, 0.8, 0.9, False, False, True, True, None, (0.5, 0.8), 0.8, 0.45),
            market(0.5, 0.52, 0.8, 0.775, True, True, False, True, "contract", (0.49, 0.79), 0.59)]  # losses 0.02 / 0.025: past both margins
    summary = aggregate(rows)
    # over the quote rule with our OI evidence: corr gains 0.05, -0.01, 0, 0.01 (median 0.005); WAPE 0.05, -0.01, 0, -0.01
    assert summary["median_signing_corr_gain"] == pytest.approx(0.005)
    assert summary["median_signing_wape_gain"] == pytest.approx(-0.005)
    assert summary["markets_losing_corr"] == 1 and summary["markets_losing_wape"] == 1
    assert summary["directions_identified"] == 2
    assert summary["median_corr_gain"] == pytest.approx((0.1 - 0.005) / 2) and summary["worst_corr_gain"] == pytest.approx(-0.02)
    assert summary["worst_wape_gain"] == pytest.approx(-0.025)
    assert summary["informative_markets"] == 3 and not summary["beats_on_every_informative_market"]
    assert aggregate(rows[:3])["beats_on_every_informative_market"]
    assert summary["median_oracle_corr_gain"] == pytest.approx(0.15)
    assert summary["median_absolute_oracle_corr_gain"] == pytest.approx(0.17)
    assert summary["oracle_informative_markets"] == 3 and summary["oracle_informative_markets_beaten"] == 2
    # of those three, the signing beats the quote rule given the same evidence on corr and WAPE on the first alone
    assert summary["oracle_informative_markets_signing_beats"] == 1
    assert summary["median_reference_accuracy"] == pytest.approx(0.8)
    assert summary["markets_within_the_accuracy_prior"] == 3 and summary["band_coverage_within_the_accuracy_prior"] == 1.0
    assert summary["band_coverage"] == pytest.approx(3 / 4)
    assert summary["band_coverage_interval"] == pytest.approx(coverage_interval(3, 4))
    assert summary["sign_right_where_band_excludes_zero"] == pytest.approx(0.5)


def test_the_hedging_bands_coverage_is_over_the_markets_that_score_it():
    rows = [{**market(0.5, 0.5, 1.0, 1.0, True, True, False, False), "hedge_band_covers_truth": covers}
            for covers in (True, False, True)]
    assert aggregate(rows)["hedge_band_coverage"] == pytest.approx(2 / 3)
    assert aggregate([*rows, market(0.5, 0.5, 1.0, 1.0, True, True, False, False)])["hedge_band_coverage"] == \
        pytest.approx(2 / 3)  # a market scored before hedging bands counts nowhere
    assert aggregate(rows[:0] + [market(0.5, 0.5, 1.0, 1.0, True, True, False, False)])["hedge_band_coverage"] is None


def test_the_band_is_judged_on_the_markets_whose_votes_are_right_by_volume_at_least_as_often_as_a_coin():
    # the accuracy prior's floor is a coin: 0.55 and 0.5 are within it (0.6, the per-trade floor, would leave both out)
    rows = [market(0.5, 0.5, 1.0, 1.0, covers, True, False, False, reference=reference)
            for covers, reference in ((False, 0.45), (True, 0.5), (True, 0.55), (False, 0.8))]
    summary = aggregate(rows)
    assert summary["markets_within_the_accuracy_prior"] == 3
    assert summary["band_coverage_within_the_accuracy_prior"] == pytest.approx(2 / 3)


def test_the_coverage_interval_is_clopper_pearsons():
    # closed forms of the exact binomial bounds: all covered, none covered, and one of two
    assert coverage_interval(40, 40) == pytest.approx([0.05 ** (1 / 40), 1.0])
    assert coverage_interval(0, 10) == pytest.approx([0.0, 1 - 0.05 ** (1 / 10)])
    assert coverage_interval(1, 2) == pytest.approx([1 - 0.95 ** 0.5, 0.95 ** 0.5])
    low, high = coverage_interval(39, 40)
    assert low < 0.90 < high  # 39 of 40 does not tell a 90% band from a wider one


def test_band_rms_z_reads_the_truths_distance_in_the_bands_implied_sds():
    def row(true, p05, p50, p95):
        return {"true_total_gex": true, "band": {"p05": p05, "p50": p50, "p95": p95}}

    rows = [row(1.0, -Z90, 0.0, Z90),                  # one sd above the median
            row(3.0, -1 - 2 * Z90, -1.0, -1 + 2 * Z90),  # 4 above the median of a band with an implied sd of 2: z 2
            row(5.0, 2.0, 2.0, 2.0)]                     # a band of zero width says nothing: left out
    assert band_rms_z(rows) == pytest.approx((2.5) ** 0.5)


def test_top_contract_share_is_the_largest_contracts_part_of_the_true_variance():
    # mean 0 by construction: squares 100, 25, 25, 0 of a total 150
    assert top_contract_share(positions({"A": 10, "B": -5, "C": -5, "D": 0})) == pytest.approx(100 / 150)
    assert top_contract_share(positions({"A": 3, "B": 3})) == 0.0  # no variance: nothing dominates


def test_the_markdown_table_shows_every_market_and_goal():
    rows = [market(0.8, 0.7, 0.5, 0.6, True, True, True, True, "strike") | {"seed": 7, "true_total_gex": 2e9,
            "total_gex": 1e9, "gex_sign_right": True, "top_contract_share": 0.25}]
    table = markdown_table({"as_of": "2025-10-03", "scale": 0.004, "markets": rows, "aggregate": aggregate(rows)})
    assert ("| 7 | yes | strike | 0.25 | 0.800 | 0.800 | 0.700 | 0.000 | 0.000 | 0.500 | 0.600 | 1.000 | 2.00 | 1.00 | "
            "-0.00 .. 0.00 | "
            "yes | right | 1.00 |") in table
    assert "| band_coverage_interval | 0.050 .. 1.000 |" in table


def test_the_quote_rule_with_open_interest_evidence_adds_our_start_and_keeps_inside_the_oi():
    quote = positions({"A": -250.0, "B": 40.0, "C": 30.0, "E": 5.0})
    ours = pl.DataFrame({"ticker": ["A", "B", "C", "D"], "start_inventory": [51.0, -10.0, 0.0, 7.0],
                         "open_interest": [148, 100, None, 20]})
    result = dict(with_open_interest_evidence(quote, ours).iter_rows())
    # A: -250 + 51 = -199, clipped to -148; B: 30 inside 100; C: no OI known, unclipped; D: untraded, its start
    # alone; E: not in our book, the quote rule's own
    assert result == {"A": -148.0, "B": 30.0, "C": 30.0, "D": 7.0, "E": 5.0}


def test_a_market_is_informative_when_any_signal_beyond_the_quote_is():
    assert not informative({"size_informative": False, "depth_informative": False, "tick_informative": False,
                            "inside_informative": False})
    assert informative({"size_informative": False, "inside_informative": True})


def test_the_oracle_reads_each_print_at_its_classs_accuracy_over_the_other_prints():
    prints = pl.DataFrame(
        {"ticker": ["X", "X", "X", "X", "Y", "Y", "Z"],
         "quote_stratum": ["S", "S", "S", "S", "mid", "mid", "mid"],
         "quote_vote": [1, 1, -1, 1, 0, 0, 0], "depth_vote": [0, 0, 0, 0, -1, 1, 0],
         "size": [10, 20, 30, 40, 5, 7, 100], "p_dealer": [1.0, 1.0, 1.0, 0.0, 1.0, 1.0, 1.0],
         "true_side": [1, -1, -1, 1, -1, 1, 1], "dealer_involved": [True, True, True, False, True, True, True]})
    flows = dict(read_at_truth(prints, relative=True).iter_rows())  # no reference class: nothing to scale by
    # S, over the other dealer prints (the cross neither counts nor flows): the first and third are right half the
    # time, (1 + 1) / (2 + 2), so read as coin flips; the second at (2 + 1) / (2 + 2) = 3/4, side +1/2, flow -10.
    # Depth: each at (1 + 1) / (1 + 2) = 2/3, sides -1/3 and +1/3: flows +5/3 and -7/3. No vote: nothing.
    assert flows["X"] == pytest.approx(-10.0)
    assert flows["Y"] == pytest.approx(-2 / 3)
    assert flows["Z"] == 0.0


def test_the_relative_oracle_reads_the_reference_at_face_value_and_each_class_over_its_reliability():
    prints = pl.DataFrame(
        {"ticker": ["R"] * 4 + ["S"] * 3, "quote_stratum": ["touch|age0|plain"] * 4 + ["inside|age0|plain"] * 3,
         "quote_vote": [1] * 7, "depth_vote": [0] * 7, "size": [10] * 4 + [5, 7, 100], "p_dealer": [1.0] * 7,
         "true_side": [1, 1, 1, -1, 1, -1, 1], "dealer_involved": [True] * 6 + [False]})
    absolute, relative = (dict(read_at_truth(prints, relative=flag).iter_rows()) for flag in (False, True))
    # The reference, leave-one-out: right prints at (2 + 1) / (3 + 2) = 3/5 (reliability 1/5), the wrong one at 4/5
    # (3/5); as a whole (3 + 1) / (4 + 2) = 2/3, reliability 1/3, and read at face value when relative.
    assert absolute["R"] == pytest.approx(-(3 * 2 + 6)) and relative["R"] == pytest.approx(-40)
    # S, over its other dealer prints: the first at (0 + 1) / (1 + 2) (reliability -1/3: -1 relative), the second
    # at (1 + 1) / (1 + 2) (+1/3: +1), the non-dealer third at (1 + 1) / (2 + 2) (0): flows +5, -7 and 0;
    # absolute +5/3, -7/3 and 0.
    assert absolute["S"] == pytest.approx(-2 / 3) and relative["S"] == pytest.approx(-2.0)


def test_prints_of_a_session_without_its_truth_file_count_nowhere(tmp_path):
    first, second = window_sessions(AS_OF)[:2]
    lake = Lake(tmp_path / "lake")
    for day in (first, second):
        lake.write("classified_trades", day, pl.DataFrame({"date": [day], "file_row": [0], "expiry": [AS_OF]}))
    (tmp_path / "truth" / "trades").mkdir(parents=True)
    pl.DataFrame({"file_row": [0], "customer_side": [1], "dealer_involved": [True]}).write_parquet(
        tmp_path / "truth" / "trades" / f"{first}.parquet")
    sided = truth_sided_prints(lake, tmp_path / "truth", [AS_OF]).sort("date")
    assert sided.select("date", "true_side", "dealer_involved").rows() == [(first, 1, True), (second, 0, False)]


def test_the_reference_accuracy_is_the_share_of_the_reference_votes_dealer_volume_the_truth_agrees_with():
    prints = pl.DataFrame(
        {"quote_stratum": ["touch|age0|plain"] * 4 + ["touch|age2|plain", "mid|age0|plain"],
         "quote_vote": [1, -1, 1, 1, 1, 0], "size": [30, 10, 60, 500, 100, 100],
         "true_side": [1, -1, -1, -1, -1, 1], "dealer_involved": [True, True, True, False, True, True]})
    # right: 30 + 10 of 100 dealer lots (the 500-lot cross and the other strata left out)
    assert reference_accuracy(prints) == pytest.approx(0.4)
    assert reference_accuracy(prints.filter(pl.col("quote_vote") == 0)) is None
