"""Sentences and page blocks on hand-written summaries: signs of the flip distance, role-based level wording,
strength in [0, 1], the uncertain regime and the data-quality checks."""

import pytest

from spy_gamma.report.dashboard import data_quality_block, levels_table, metric_cards
from spy_gamma.report.wording import (
    band_range,
    flip_distance,
    flip_sentence,
    gex_sentence,
    level_action,
    level_strength,
    prob_long_text,
    quality_rows,
    regime_short,
    regime_tone,
    wall_band_text,
)

UNCERTAIN = {"label": "uncertain (the 90% band of dealer GEX at spot contains zero)",
             "point_label": "dealers short gamma (amplifying)", "perspective": "dealer", "gex_at_spot": -1.2e9}
SUMMARY = {
    "spot": 669.21, "gamma_flip": 666.55, "total_gex": -1.2e9,
    "total_gex_band": {"p05": -2.0e9, "p50": -1.2e9, "p95": 0.3e9},
    "gamma_flip_band": {"p05": 660.1, "p50": 666.55, "p95": 671.0}, "prob_dealers_long_gamma": 0.084,
    "regime": UNCERTAIN, "call_wall": {"strike": 680.0, "gex": 9e8, "band": {"p05": 675.0, "p95": 680.0}},
    "put_wall": {"strike": 650.0, "gex": -7e8, "band": {"p05": None, "p95": None}},
    "levels": {
        "support": [{"strike": 665.0, "kind": "pin", "role": "support", "side": "below", "strength": 1.3}],
        "acceleration": [{"strike": 650.0, "kind": "put_wall", "role": "acceleration", "side": "below",
                          "strength": float("nan")}],
    },
}


def test_flip_distance_sign_agrees_with_its_side():
    # 669.21 / 666.55 - 1 = +0.3991%: spot above the flip
    assert flip_distance(SUMMARY) == "spot +0.40% above flip"
    # 660.00 / 666.55 - 1 = -0.9827%: spot below the flip
    assert flip_distance({**SUMMARY, "spot": 660.0}) == "spot -0.98% below flip"
    assert flip_distance({**SUMMARY, "gamma_flip": None}) == "no flip found"


def test_bands_in_words():
    assert gex_sentence(SUMMARY) == "total GEX -$1.2B, 90% band -$2.0B to +$300.0M"
    assert band_range({"p05": None, "p95": 1.0}) == "n/a"
    assert prob_long_text(SUMMARY) == "P(dealers long gamma) 8%"


def test_a_flip_band_over_fewer_than_all_draws_says_over_how_many():
    assert flip_sentence(SUMMARY) == "flip 666.55, 90% band 660.10 to 671.00"
    assert flip_sentence({**SUMMARY, "flip_found_share": 0.751}) == (
        "flip 666.55, 90% band 660.10 to 671.00 (over the 75% of draws with a flip)")
    assert flip_sentence({**SUMMARY, "flip_found_share": 1.0}) == flip_sentence(SUMMARY)
    assert flip_sentence({**SUMMARY, "flip_found_share": 0.996}).endswith("(over the 99% of draws with a flip)")
    assert flip_sentence({**SUMMARY, "flip_found_share": 0.0}) == "flip 666.55, 90% band n/a (no draw has a flip)"
    # of the 24.9% of draws without a flip, 20% of all draws are long gamma across the range: 4.9% short
    assert flip_sentence({**SUMMARY, "flip_found_share": 0.751, "no_flip_long_share": 0.2}) == (
        "flip 666.55, 90% band 660.10 to 671.00 (over the 75% of draws with a flip); draws without a flip: long gamma"
        " across the range in 20%, short in 5%")


def test_a_walls_band_names_the_strike_most_draws_pick_even_where_it_is_not_the_points():
    wall = {"strike": 646.0, "gex": 1.07e7, "band": {"p05": 658.9, "p95": 674.0, "modal": 674.0, "modal_share": 0.778}}
    assert wall_band_text(wall) == ("90% band 658.90 to 674.00; the wall at 674.00 in 78% of draws; the point's 646.00"
                                    " lies outside the band")
    inside = {**wall, "strike": 674.0}
    assert wall_band_text(inside) == "90% band 658.90 to 674.00; the wall at 674.00 in 78% of draws"
    assert wall_band_text(SUMMARY["call_wall"]) == "90% band 675.00 to 680.00"  # no modal stored: the band alone


def test_a_level_is_described_by_what_dealers_do_there():
    below_short = {"role": "acceleration", "side": "below"}
    assert "amplifies" in level_action(below_short) and "support" not in level_action(below_short)
    assert "buy the dip" in level_action({"role": "support", "side": "below"})
    assert "sell the rally" in level_action({"role": "resistance", "side": "above"})
    assert "buy as price rallies" in level_action({"role": "acceleration", "side": "above"})


def test_strength_is_clipped_to_the_unit_interval():
    assert level_strength({"strength": 1.3}) == 1.0
    assert level_strength({"strength": -0.2}) == 0.0
    assert level_strength({"strength": float("nan")}) is None


def test_uncertain_regime_reads_uncertain_with_the_point_estimate_beside_it():
    assert regime_short(UNCERTAIN) == "uncertain" and regime_tone(UNCERTAIN) == "uncertain"
    cards = metric_cards(SUMMARY)
    assert ">uncertain<" in cards and "point estimate: dealers short gamma (amplifying)" in cards
    assert "90% band -$2.0B to +$300.0M" in cards and "P(dealers long gamma) 8%" in cards
    assert "spot +0.40% above flip" in cards and "90% band 660.10 to 671.00" in cards
    assert regime_short({"label": "dealers long gamma (dampening)"}) == "dealers long gamma (dampening)"


def test_levels_table_rows_by_role_with_clipped_strength():
    table = levels_table(SUMMARY)
    assert table.index("665.00") < table.index("650.00")  # nearest to spot first
    assert "1.00</td>" in table and "n/a" in table  # 1.3 clipped; NaN not computed
    assert "hedging amplifies" in table and "-2.87% from spot" in table  # 650 / 669.21 - 1 = -2.870%


def test_every_quality_check_is_shown_with_its_share_and_status():
    quality = {"checks": [
        {"check": "quote_coverage", "share_pct": 91.24, "warn_if": "< 95%", "status": "WARN"},
        {"check": "iv_solve_rate", "share_pct": None, "warn_if": "< 80%", "status": "n/a"},
    ], "mark_age_median_s": 42.4, "mark_age_p90_s": 610.0, "max_mark_age_s": 1800.0, "warnings": ["w1"]}
    assert quality_rows(quality) == [
        ("quote coverage", "91.2%", "warn if < 95%", "WARN"),
        ("iv solve rate", "n/a", "warn if < 80%", "n/a"),
        ("closing mark ages", "median 42 s, p90 610 s before the close", "stale after 1,800 s", "info"),
    ]
    block = data_quality_block({"data_quality": quality})
    assert '<tr class="warn"><td>quote coverage</td><td class="num">91.2%</td>' in block
    assert "<li>w1</li>" in block


@pytest.mark.parametrize("label", ["dealers long gamma (dampening)", "dealers short gamma (amplifying)"])
def test_a_known_regime_is_not_called_uncertain(label):
    assert regime_short({"label": label}) == label
