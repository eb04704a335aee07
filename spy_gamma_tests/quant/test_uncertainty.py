"""Bands over draws of the book, against hand-worked books and figures computed here from BSM directly."""

import datetime as dt
import math

import numpy as np
import polars as pl
import pytest
from scipy.stats import norm

from spy_gamma.quant.uncertainty import (
    FLOW_SCALE_SPAN,
    exposure_bands,
    hedge_bands,
    percentiles,
    position_draws,
    regime_label,
)

R = 0.04
MEAN_SCALE = (FLOW_SCALE_SPAN - 1 / FLOW_SCALE_SPAN) / (2 * math.log(FLOW_SCALE_SPAN))  # E of the log-uniform scale
MEAN_SQUARED_SCALE = (FLOW_SCALE_SPAN ** 2 - FLOW_SCALE_SPAN ** -2) / (4 * math.log(FLOW_SCALE_SPAN))  # E[scale^2]


def book(rows) -> pl.DataFrame:
    """rows: (strike, right, start, start_sd, flow, flow_sd, open_interest)."""
    return pl.DataFrame([{"ticker": f"O:SPY251010{right}{int(strike * 1000):08d}", "expiry": dt.date(2025, 10, 10),
                          "strike": float(strike), "right": right, "iv": 0.2, "tte_years": 0.05, "carry_q": 0.0,
                          "dealer_position": start + flow, "start_inventory": float(start),
                          "start_inventory_sd": float(start_sd), "window_flow": float(flow),
                          "window_flow_sd": float(flow_sd), "open_interest": oi}
                         for strike, right, start, start_sd, flow, flow_sd, oi in rows])


def lean_factor(lean: float) -> float:
    """E min(1, lean / u) for the reliability u = 2a - 1 ~ U(0, 1) of a ~ U(1/2, 1), hand-integrated for a lean
    at most 1: one-way below u = lean, then lean / u: lean x (1 + ln(1 / lean))."""
    assert lean <= 1
    return lean * (1 + math.log(1 / lean))


def gex_per_contract(spot: float, strike: float) -> float:
    """100 x BSM gamma x S^2 x 1% for iv 0.2, T 0.05, q 0 (Hull's formula, written out)."""
    t, sigma = 0.05, 0.2
    d1 = (math.log(spot / strike) + (R + sigma ** 2 / 2) * t) / (sigma * math.sqrt(t))
    return 100 * norm.pdf(d1) / (spot * sigma * math.sqrt(t)) * spot ** 2 * 0.01


def test_draws_scale_the_flow_within_the_stated_span_and_respect_open_interest():
    draws = position_draws(book([(600, "C", 0, 0, 100, 0, None), (610, "P", 0, 0, -300, 0, 250)]), seed=1)
    call, put = draws[:, 0], draws[:, 1]
    # no sd anywhere: each draw is the flow times one common factor within [1/2, 2], log-symmetric about 1
    assert call.min() >= 100 / FLOW_SCALE_SPAN - 1e-9 and call.max() <= 100 * FLOW_SCALE_SPAN + 1e-9
    assert np.median(call) == pytest.approx(100, rel=0.15)
    assert put.min() >= -250 - 1e-9  # -300 x factor, held at the 250 open
    assert np.allclose(np.where(put > -250, put / call, -3.0), -3.0)  # one factor for the whole book


def test_uncalibrated_votes_take_one_reliability_per_draw_from_their_stated_priors():
    # Three contracts of flow 10 read at face value: all size-matched (twice) or all from an unsure stratum.
    rows = book([(600, "C", 0, 0, 10, 0, None), (605, "C", 0, 0, 10, 0, None), (610, "C", 0, 0, 10, 0, None)])
    rows = rows.with_columns(pl.Series("size_match_flow", [10.0, 10.0, 0.0]), pl.Series("unsure_flow", [0.0, 0.0, 10.0]))
    draws = position_draws(rows, n_draws=4000, seed=3)
    matched, twin, unsure = draws[:, 0], draws[:, 1], draws[:, 2]
    # size-matched: reliability uniform on [-1, 1], so either side, half the time each, up to 2x 10 either way
    assert np.mean(matched < 0) == pytest.approx(0.5, abs=0.03) and np.abs(matched).max() <= 20 + 1e-9
    assert np.array_equal(matched, twin)  # one reliability for the whole book: no averaging away across contracts
    # unsure: the quote's side by an unknown amount, reliability uniform on [0, 1], times the common scale
    assert unsure.min() >= 0 and unsure.max() <= 20 + 1e-9 and np.median(unsure) == pytest.approx(5, rel=0.2)


def test_a_block_is_read_right_or_wrong_as_a_whole_a_quarter_of_the_time_wrong_under_the_stated_prior():
    rows = book([(600, "C", 0, 0, -100, 0, None)]).with_columns(pl.Series("block_flows", [[-100.0]]))
    draws = position_draws(rows, n_draws=8000, seed=4)[:, 0]
    # misread with probability 1 - a, a ~ U(1/2, 1): E = 1/4; then +100 instead of -100, times the common scale
    assert np.mean(draws > 0) == pytest.approx(0.25, abs=0.02)
    assert np.abs(draws).min() >= 100 / FLOW_SCALE_SPAN - 1e-9 and np.abs(draws).max() <= 100 * FLOW_SCALE_SPAN + 1e-9


def test_a_book_lean_moves_every_contract_of_a_right_together_and_the_two_rights_apart():
    # Nothing signed; two calls and a put with unsigned volume 100, 50, 100 and a votes' book lean of 0.2.
    rows = book([(600, "C", 0, 0, 0, 0, None), (605, "C", 0, 0, 0, 0, None), (610, "P", 0, 0, 0, 0, None)])
    rows = rows.with_columns(pl.lit(20.0).alias("reference_votes"), pl.lit(100.0).alias("reference_volume"),
                             pl.Series("unsigned_volume", [100.0, 50.0, 100.0]))
    draws = position_draws(rows, n_draws=4000, seed=5)
    call, twin, put = draws[:, 0], draws[:, 1], draws[:, 2]
    assert np.allclose(call, 2 * twin)  # one lean for the right's customers: never averaged away across strikes
    assert abs(np.corrcoef(call, put)[0, 1]) < 0.05  # the puts' customers lean on their own
    # the customers' lean is uniform on +-min(1, 0.2 / u) of the unsigned volume, u = 2a - 1 ~ U(0, 1) the draw's
    # reliability: E|flow| = 100 x 1/2 x E min(1, 0.2 / u) (lean_factor); one-way at most, when u < 0.2
    assert np.mean(call > 0) == pytest.approx(0.5, abs=0.03) and np.abs(call).max() <= 100 + 1e-9
    assert np.abs(call).mean() == pytest.approx(100 * 0.5 * lean_factor(0.2), rel=0.05)


def test_the_book_lean_is_scaled_by_the_votes_where_gamma_sits():
    # Near the money (gamma 0.04) the calls' reference votes lean +10 of 50; in the wings (gamma 0.001) -100 of 100.
    # Weighted by gamma the right leans |0.04 x 10 - 0.001 x 100| / (0.04 x 50 + 0.001 x 100) = 1/7; by volume it
    # would be 0.6. The near contract's 100 unsigned contracts move by the customers' lean that 1/7 implies.
    rows = book([(600, "C", 0, 0, 0, 0, None), (700, "C", 0, 0, 0, 0, None)]).with_columns(
        pl.Series("gamma", [0.04, 0.001]), pl.Series("reference_votes", [10.0, -100.0]),
        pl.Series("reference_volume", [50.0, 100.0]), pl.Series("unsigned_volume", [100.0, 0.0]))
    near = position_draws(rows, n_draws=4000, seed=8)[:, 0]
    assert np.abs(near).mean() == pytest.approx(100 * 0.5 * lean_factor(1 / 7), rel=0.05)


def test_contracts_of_one_direction_unit_draw_its_direction_together():
    # Three calls whose flow sd (10, 5, 10) is all their unit's direction: the first two share a strike across
    # expiries, the third is its own unit.
    rows = book([(600, "C", 0, 0, 0, 10, None), (600, "C", 0, 0, 0, 5, None), (610, "C", 0, 0, 0, 10, None)])
    rows = rows.with_columns(pl.Series("direction_sd", [10.0, 5.0, 10.0]),
                             pl.Series("direction_key", ["C00600000", "C00600000", "C00610000"]))
    draws = position_draws(rows, n_draws=4000, seed=7)
    assert np.allclose(draws[:, 0], 2 * draws[:, 1])  # one direction, each contract by its own sd
    assert abs(np.corrcoef(draws[:, 0], draws[:, 2])[0, 1]) < 0.05
    assert draws[:, 0].std() == pytest.approx(10 * np.sqrt(MEAN_SQUARED_SCALE), rel=0.05)


def test_the_misread_share_of_face_value_volume_carries_the_lean_twice():
    # 90 contracts read at face value, none unsigned: a misread share 1 - a (a ~ U(1/2, 1)) is wrong, by twice
    # its size, so the customers' lean min(1, 0.1 / u) (u = 2a - 1 ~ U(0, 1)) moves the flow by (1 - u) x 90 x it:
    # E|flow| = 90 x 1/2 x (integral of (1 - u) over [0, 0.1] + 0.1 (1 - u) / u over [0.1, 1])
    #         = 45 x (0.095 + 0.1 (ln 10 - 0.9)), at most 90 (votes no better than a coin: all of it one-way)
    # The right's votes sit on a second contract with nothing read at face value, so neither hides flow.
    rows = book([(600, "C", 0, 0, 0, 0, None), (605, "C", 0, 0, 0, 0, None)]).with_columns(
        pl.Series("reference_votes", [0.0, -1.0]), pl.Series("reference_volume", [0.0, 10.0]),
        pl.Series("face_value_volume", [90.0, 0.0]))
    draws = position_draws(rows, n_draws=4000, seed=6)[:, 0]
    assert np.abs(draws).max() <= 90 + 1e-9 and np.abs(draws).max() > 80
    assert np.abs(draws).mean() == pytest.approx(45 * (0.095 + 0.1 * (math.log(10) - 0.9)), rel=0.05)


def test_a_share_of_the_votes_net_is_the_customers_and_hides_more_flow_the_votes_way():
    # Votes: customers bought 100 net of 100 (dealers sold 100), 200 contracts at face value. Votes right with
    # probability a show 2a - 1 = u ~ U(0, 1) of their customers' net, so a net that is the customers' own hid
    # 100 (1 - u) / u more, at most the 200 at face value (u <= 1/3); a share w ~ U(0, 1) of the net is theirs.
    # E[hidden] = 200 x 1/3 + 100 x (ln 3 - 2/3); E[draw] = E[scale] (-100 - E[w] E[hidden]).
    # The book lean (either way, mean zero) only widens it.
    rows = book([(600, "C", 0, 0, -100, 0, None)]).with_columns(
        pl.lit(100.0).alias("reference_votes"), pl.lit(100.0).alias("reference_volume"),
        pl.lit(200.0).alias("face_value_volume"))
    draws = position_draws(rows, n_draws=200_000, seed=9)[:, 0]
    hidden = 200 / 3 + 100 * (math.log(3) - 2 / 3)
    assert draws.mean() == pytest.approx(MEAN_SCALE * (-100 - 0.5 * hidden), rel=0.01)
    votes_only = position_draws(rows.with_columns(pl.lit(0.0).alias("face_value_volume")), n_draws=4000, seed=9)
    # nothing at face value: nothing hidden, each draw the flow times the common scale
    assert votes_only.max() <= -100 / FLOW_SCALE_SPAN + 1e-9 and votes_only.min() >= -100 * FLOW_SCALE_SPAN - 1e-9


def test_start_inventory_draws_are_uniform_over_the_feasible_interval():
    draws = position_draws(book([(600, "C", 40, 20, 0, 0, None)]), n_draws=20_000, seed=2)[:, 0]
    half = 20 * math.sqrt(3)
    assert draws.min() >= 40 - half - 1e-9 and draws.max() <= 40 + half + 1e-9
    assert draws.std() == pytest.approx(20, rel=0.03)


def test_the_default_number_of_draws_puts_the_band_edges_near_their_exact_values():
    # A start inventory uniform on 40 +- h alone: the exact p05 / p95 are 40 -+ 0.9 h. With the default draws each
    # edge lands within 0.04 h of them whatever the seed (its standard error is 0.014 h at 1,000 draws, 0.031 h at 200).
    half = 20 * math.sqrt(3)
    for seed in range(5):
        low, high = np.percentile(position_draws(book([(600, "C", 40, 20, 0, 0, None)]), seed=seed)[:, 0], [5, 95])
        assert abs(low - (40 - 0.9 * half)) < 0.04 * half and abs(high - (40 + 0.9 * half)) < 0.04 * half


def test_bands_of_total_gex_are_the_draws_times_each_contracts_gamma_dollars():
    rows = book([(600, "C", 0, 0, 100, 0, None), (620, "P", 0, 0, -50, 0, None)])
    draws = np.array([[100.0, -50.0], [200.0, -100.0], [50.0, -25.0]])
    bands = exposure_bands(rows, draws, 610.0, R, 0.0, np.arange(590.0, 630.25, 0.25))
    per_draw = draws @ np.array([gex_per_contract(610.0, 600), gex_per_contract(610.0, 620)])
    assert bands.total_gex["p50"] == pytest.approx(np.percentile(per_draw, 50), rel=1e-6)
    assert bands.total_gex["p05"] == pytest.approx(np.percentile(per_draw, 5), rel=1e-6)
    assert bands.prob_dealers_long_gamma == pytest.approx(np.mean(per_draw > 0))
    # the call wall is 600 in every draw (the only call), the put wall 620
    assert bands.call_wall["modal"] == 600 and bands.call_wall["modal_share"] == 1.0
    assert bands.put_wall["p50"] == 620


def delta_per_contract(spot: float, strike: float, right: str, sigma: float = 0.2, t: float = 0.05) -> float:
    """100 x BSM delta, q 0: N(d1) for a call, N(d1) - 1 for a put (Hull, written out)."""
    d1 = (math.log(spot / strike) + (R + sigma ** 2 / 2) * t) / (sigma * math.sqrt(t))
    return 100 * (norm.cdf(d1) - (right == "P"))


@pytest.mark.parametrize(("scenario", "spot_after", "sigma", "t"), [
    ("spot +1%", 610.0 * 1.01, 0.2, 0.05), ("vol +1pt", 610.0, 0.21, 0.05), ("1 day decay", 610.0, 0.2, 0.05 - 1 / 365)])
def test_bands_of_hedging_flows_are_the_draws_times_each_contracts_repriced_delta_change(scenario, spot_after, sigma,
                                                                                          t):
    rows = book([(600, "C", 0, 0, 100, 0, None), (620, "P", 0, 0, -50, 0, None)])
    draws = np.array([[100.0, -50.0], [200.0, -100.0], [-50.0, 25.0], [10.0, 80.0]])
    bands = hedge_bands(rows, draws, 610.0, R, 0.0).filter(pl.col("scenario") == scenario)
    change = np.array([delta_per_contract(spot_after, k, right, sigma, t) - delta_per_contract(610.0, k, right)
                       for k, right in ((600, "C"), (620, "P"))])
    per_draw = -(draws @ change) * spot_after  # $ of SPY dealers trade after the scenario (+ = buy)
    for p in (5, 50, 95):
        assert bands[f"hedge_usd_p{p:02d}"].item() == pytest.approx(np.percentile(per_draw, p), rel=1e-9)


def test_a_draws_flip_is_where_its_profile_crosses_zero():
    # dealers long the 600 call and short the same number of 620 puts: gex is zero where both gammas are
    # equal, at the spot whose log-distance to each strike matches: sqrt(600 x 620) up to the drift term
    rows = book([(600, "C", 0, 0, 100, 0, None), (620, "P", 0, 0, -100, 0, None)])
    grid = np.arange(590.0, 630.25, 0.25)
    bands = exposure_bands(rows, np.array([[100.0, -100.0]]), 610.0, R, 0.0, grid)

    def total(s):
        return gex_per_contract(s, 600) - gex_per_contract(s, 620)

    low, high = 600.0, 620.0
    for _ in range(60):  # bisection on the hand-written total
        middle = (low + high) / 2
        low, high = (middle, high) if total(middle) > 0 else (low, middle)
    assert bands.gamma_flip["p50"] == pytest.approx(low, abs=0.01)


def test_draws_without_a_flip_are_split_by_the_sign_of_their_gamma_across_the_range():
    # long the call and short as many puts: a flip (as above); long the call alone: long gamma everywhere;
    # short it alone: short everywhere
    rows = book([(600, "C", 0, 0, 100, 0, None), (620, "P", 0, 0, -100, 0, None)])
    draws = np.array([[100.0, -100.0], [100.0, 0.0], [-100.0, 0.0], [50.0, 0.0]])
    bands = exposure_bands(rows, draws, 610.0, R, 0.0, np.arange(590.0, 630.25, 0.25))
    assert bands.flip_found_share == 0.25 and bands.no_flip_long_share == 0.5


def test_the_regime_is_uncertain_when_the_band_straddles_zero():
    assert regime_label("dealers long gamma (dampening)", {"p05": -1.0, "p50": 2.0, "p95": 3.0}).startswith("uncertain")
    assert regime_label("dealers long gamma (dampening)", {"p05": 1.0, "p50": 2.0, "p95": 3.0}) == \
        "dealers long gamma (dampening)"


def test_percentiles_ignore_draws_without_a_value():
    assert percentiles(np.array([np.nan, 1.0, 2.0, 3.0]))["p50"] == 2.0
    assert percentiles(np.array([np.nan]))["p50"] is None
