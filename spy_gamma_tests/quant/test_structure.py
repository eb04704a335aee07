"""Market structure on hand-built dealer books: regimes, levels and planted patterns are found, empty books find none."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

import numpy as np
import polars as pl
import pytest

from spy_gamma.quant.exposure import (
    contract_exposures,
    exposures_by_strike,
    gamma_flip,
    gamma_profile,
    naive_oi_book,
)
from spy_gamma.quant.structure import acceleration_zones, levels, patterns, regime
from spy_gamma_tests.quant.test_exposure import (
    CBOE_2023_DIVIDEND,
    CBOE_2023_RATE,
    CBOE_2023_SPOT,
    EXPIRY,
    HAND_BOOK,
    cboe_book_2023,
    make_book,
)

FRIDAY, NEXT_MONDAY = dt.date(2025, 10, 10), dt.date(2025, 10, 13)


def exposures(rows: list[tuple], spot: float = 100.0, expiry: dt.date = EXPIRY) -> pl.DataFrame:
    return contract_exposures(make_book(rows, expiry), spot, 0.0, 0.0)


def test_regime_of_hand_book():
    # net gex +22,158.4 of gross 340,484.6 + 318,326.2 = 658,810.8 -> strength 0.033634 (outside the 2% band);
    # flip 94.39517 (analytic, see test_exposure) -> -0.60483 $ = -0.63666 % from 95; spot is above the flip:
    # 100 (95 / 94.39517 - 1) = +0.64074 %
    ex = contract_exposures(HAND_BOOK, 95.0, 0.0, 0.0)
    flip = gamma_flip(HAND_BOOK, 95.0, 0.0, 0.0, gamma_profile(HAND_BOOK, 95.0, 0.0, 0.0))
    state = regime(ex, 95.0, flip)
    assert state.label == "dealers long gamma (dampening)" and state.perspective == "dealer"
    assert state.strength == pytest.approx(22_158.4 / 658_810.8, rel=1e-5)
    assert state.flip_distance_usd == pytest.approx(-0.60483, abs=1e-5)
    assert state.flip_distance_pct == pytest.approx(-0.63666, abs=1e-5)
    assert state.spot_vs_flip_pct == pytest.approx(0.64074, abs=1e-5)
    assert (state.flip_search_low, state.flip_search_high) == pytest.approx((71.25, 118.75))  # 95 x (1 -+ 25%)


def test_a_net_of_a_fraction_of_a_percent_of_gross_is_neutral():
    # Long 2000 calls and short 1998 puts at one strike, same vol and time: net / gross = 2 / 3998 = 0.05%
    ex = exposures([("C", 100, 2000, 0.2, 0.1), ("P", 100, -1998, 0.2, 0.1)])
    state = regime(ex, 100.0, None)
    assert state.strength == pytest.approx(2 / 3998, rel=1e-9) and state.label.startswith("dealers near flat gamma")
    assert state.spot_vs_flip_pct is None and state.neutral_band_share == 0.02


def test_levels_of_hand_book_by_role_and_serialize():
    # At 95: call wall 100 (+340,484.6, dealers long: resistance), pin 100 (net +340,484.6: resistance), put wall 90
    # (-318,326.2: dealers short gamma below spot, an acceleration level, not support), the 90 zone (acceleration),
    # the flip (pivot). Scale = the largest candidate |gex| = 340,484.6 -> put wall strength 318,326.2/340,484.6.
    ex = contract_exposures(HAND_BOOK, 95.0, 0.0, 0.0)
    found = levels(ex, 95.0, 94.39517)
    by_role = {role: {(lv.kind, lv.strike) for lv in group} for role, group in found.items()}
    assert by_role == {"support": set(), "resistance": {("call_wall", 100.0), ("pin", 100.0)},
                       "acceleration": {("put_wall", 90.0), ("acceleration_zone", 90.0)},
                       "pivot": {("gamma_flip", 94.39517)}}
    put_wall = next(lv for lv in found["acceleration"] if lv.kind == "put_wall")
    assert put_wall.strength == pytest.approx(318_326.2 / 340_484.6, rel=1e-6) and put_wall.side == "below"
    assert "accelerates" in put_wall.note and put_wall.role == "acceleration"
    zone = next(lv for lv in found["acceleration"] if lv.kind == "acceleration_zone")
    assert zone.note == ("strike 90 carries short dealer gamma (its own; the total profile may read long): its "
                         "hedging accelerates moves through it")
    every = [lv for group in found.values() for lv in group]
    assert all(lv.perspective == "dealer" and 0 <= lv.strength <= 1 for lv in every)
    assert json.loads(json.dumps({role: [dataclasses.asdict(lv) for lv in group] for role, group in found.items()}))


def test_level_strength_is_scaled_by_the_largest_candidate():
    # One strike: dealers long 1000 calls (gex G) and short 600 puts (-0.6 G) at 100: net 0.4 G. Scaling by the
    # largest net gex (0.4 G) would give the call wall 2.5; by the largest candidate (the call wall's G): 1, 0.6, 0.4.
    ex = exposures([("C", 100, 1000, 0.2, 0.1), ("P", 100, -600, 0.2, 0.1)])
    found = levels(ex, 99.0, None)
    strengths = {(lv.kind, lv.role): lv.strength for group in found.values() for lv in group}
    assert strengths == pytest.approx({("call_wall", "resistance"): 1.0, ("pin", "resistance"): 0.4,
                                       ("put_wall", "acceleration"): 0.6})


def test_a_long_gamma_wall_below_spot_is_support():
    # Dealers long 800 puts K=95 at spot 100: put wall with positive gex below spot -> support
    found = levels(exposures([("P", 95, 800, 0.2, 0.1), ("C", 105, -100, 0.2, 0.1)]), 100.0, None)
    assert {(lv.kind, lv.strike) for lv in found["support"]} == {("put_wall", 95.0), ("pin", 95.0)}
    assert {(lv.kind, lv.strike) for lv in found["acceleration"]} == {("call_wall", 105.0),
                                                                     ("acceleration_zone", 105.0)}


def test_empty_book_finds_nothing():
    empty = contract_exposures(HAND_BOOK.clear(), 100.0, 0.0, 0.0)
    found = patterns(empty, 100.0)
    assert found == type(found)()  # no butterflies, risk reversals, calendar or zones
    assert levels(empty, 100.0, None) == {"support": [], "resistance": [], "acceleration": [], "pivot": []}
    assert regime(empty, 100.0, None).label.startswith("dealers near flat gamma")


def test_planted_butterfly_is_found_with_its_strikes():
    # dealers long 300 x 95 calls, short 600 x 100 calls, long 300 x 105 calls: 300 flies; plus small noise
    rng = np.random.default_rng(21)
    noise = [("C" if rng.random() < 0.5 else "P", float(k), int(rng.integers(-20, 20)), 0.2, 0.05)
             for k in range(90, 111)]
    planted = [("C", 95, 300, 0.2, 0.05), ("C", 100, -600, 0.2, 0.05), ("C", 105, 300, 0.2, 0.05)]
    found = patterns(exposures(noise + planted), 100.0).butterflies
    assert found, "planted butterfly not found"
    best = found[0]
    assert (best.lower, best.body, best.upper) == (95.0, 100.0, 105.0)
    net = dict.fromkeys(range(90, 111), 0)
    for _, k, pos, *_ in noise + planted:
        net[int(k)] += pos
    assert best.flies == pytest.approx(min(-net[100] / 2, net[95], net[105]))


def test_mirrored_butterfly_is_found_as_customers_long_the_fly():
    # customers bought 250 flies 95/100/105: dealers short 250 x 95, long 500 x 100, short 250 x 105 (puts this time)
    planted = [("P", 95, -250, 0.2, 0.05), ("P", 100, 500, 0.2, 0.05), ("P", 105, -250, 0.2, 0.05)]
    found = patterns(exposures(planted), 100.0).butterflies
    assert [(f.lower, f.body, f.upper, f.flies) for f in found] == [(95.0, 100.0, 105.0, 250.0)]
    assert found[0].perspective.startswith("dealer long body")


def test_long_only_book_has_no_butterfly_or_risk_reversal():
    book = exposures([("C", k, 100, 0.2, 0.05) for k in range(90, 111)] + [("P", 95, 50, 0.2, 0.05)])
    found = patterns(book, 100.0)
    assert found.butterflies == [] and found.risk_reversals == [] and found.acceleration_zones == []


def test_risk_reversal_dealers_short_puts_long_calls():
    # customers bought 95 puts (-800 for dealers) and sold 105 calls (+500 for dealers): one RR
    # strength = (500 - (-800)) / (500 + 800) = 1
    found = patterns(exposures([("P", 95, -800, 0.25, 0.1), ("C", 105, 500, 0.18, 0.1)]), 100.0).risk_reversals
    assert len(found) == 1
    rr = found[0]
    assert (rr.put_strike, rr.call_strike, rr.otm_put_position, rr.otm_call_position) == (95.0, 105.0, -800, 500)
    assert rr.strength == pytest.approx(1.0) and "dealers short OTM puts" in rr.label


def test_calendar_rolloff_and_pin_risk():
    # Friday 0DTE: dealers long 2000 ATM 100 calls (big long gamma, all of it at spot -> pin concentration 1)
    # Monday: dealers short 1500 100 puts and 1500 103 calls -> short gamma that remains after Friday settles
    friday = exposures([("C", 100, 2000, 0.15, 2 / (24 * 365))], expiry=FRIDAY)
    monday = exposures([("P", 100, -1500, 0.15, 3 / 365), ("C", 103, -1500, 0.15, 3 / 365)], expiry=NEXT_MONDAY)
    calendar = patterns(pl.concat([friday, monday]), 100.0).calendar
    by_expiry = {e.expiry: e for e in calendar.expiries}
    assert calendar.front_expiry == "2025-10-10" and by_expiry["2025-10-10"].weekday == "Fri"
    assert by_expiry["2025-10-13"].weekday == "Mon"
    assert by_expiry["2025-10-10"].pin_strike == 100.0 and by_expiry["2025-10-10"].pin_concentration == 1.0
    friday_gex, monday_gex = friday["gex"].sum(), monday["gex"].sum()
    assert friday_gex + monday_gex > 0 > monday_gex  # today dealers long gamma ...
    assert calendar.dealer_gex_after_front_rolloff == pytest.approx(monday_gex)
    assert calendar.regime_changes_after_rolloff  # ... short gamma once the 0DTE rolls off
    share = abs(friday_gex) / (abs(friday_gex) + monday["gex"].abs().sum())
    assert calendar.front_share_of_gross == pytest.approx(share)


def test_acceleration_zone_is_a_contiguous_negative_run():
    # net dealer gex by strike: 95 +, 96 -, 97 -, 98 -, 99 +, 100 -: zones 96-98 and 100-100
    rows = [("C", 95, 100, 0.2, 0.05), ("P", 96, -100, 0.2, 0.05), ("P", 97, -100, 0.2, 0.05),
            ("C", 98, -100, 0.2, 0.05), ("C", 99, 100, 0.2, 0.05), ("P", 100, -10, 0.2, 0.05)]
    ex = exposures(rows)
    zones = acceleration_zones(exposures_by_strike(ex, per_expiry=False))
    assert [(z.low, z.high) for z in zones] == [(96.0, 98.0), (100.0, 100.0)]
    peak = ex.filter(pl.col("strike").is_between(96, 98)).sort("gex")["strike"][0]
    assert zones[0].peak_strike == peak
    run_gex = ex.filter(pl.col("strike").is_between(96, 98))["gex"].sum()
    negative = ex.filter(pl.col("gex") < 0)["gex"].sum()
    assert zones[0].dealer_gex == pytest.approx(run_gex)
    assert zones[0].strength == pytest.approx(run_gex / negative)


def test_real_chain_structure_under_naive_oi_convention():
    # Cboe SPY 2023-09-14: naive OI convention (dealers long calls, short puts), Cboe's own OTM ivs
    spot, r, q = CBOE_2023_SPOT, CBOE_2023_RATE, CBOE_2023_DIVIDEND
    book = naive_oi_book(cboe_book_2023())
    ex = contract_exposures(book, spot, r, q)
    flip = gamma_flip(book, spot, r, q, gamma_profile(book, spot, r, q))
    state, found, seen = regime(ex, spot, flip), levels(ex, spot, flip), patterns(ex, spot)
    print(f"\nCboe 2023-09-14 naive-OI regime: {state}\n  support: {[(lv.kind, lv.strike) for lv in found['support']]}"
          f"\n  resistance: {[(lv.kind, lv.strike) for lv in found['resistance']]}"
          f"\n  front {seen.calendar.front_expiry} share {seen.calendar.front_share_of_gross:.2f}, "
          f"top zones {[(z.low, z.peak_strike, z.high, round(z.strength, 2)) for z in seen.acceleration_zones[:3]]}"
          f"\n  butterflies {[(b.expiry, b.body, b.flies) for b in seen.butterflies[:3]]}")
    assert state.dealer_gex_at_spot == pytest.approx(ex["gex"].sum())
    assert state.gamma_flip == flip and abs(state.flip_distance_pct) < 10
    assert found["support"] and found["resistance"]
    assert all(zone.low <= zone.peak_strike <= zone.high for zone in seen.acceleration_zones)
    assert json.loads(json.dumps(dataclasses.asdict(seen)))["calendar"]["front_expiry"] == "2023-09-15"
