"""Dealer inventory over a window, against positions, bounds and labels worked out by hand."""

import datetime as dt

import polars as pl
import pytest

from spy_gamma.quant.positions import (
    START_FROM_OPEN_INTEREST,
    START_KNOWN_FLAT,
    START_UNKNOWN,
    day_classes,
    positions_at,
    window_positions,
)

D1, D2, D3, D4 = (dt.date(2025, 10, d) for d in (1, 2, 3, 6))
AFTER = dt.date(2025, 10, 7)
C = dict(ticker="O:SPY251003C00670000", expiry=dt.date(2025, 10, 3), strike=670.0, right="C")
P = dict(ticker="O:SPY251010P00650000", expiry=dt.date(2025, 10, 10), strike=650.0, right="P")
LABELS = ("customer_buy_open", "customer_sell_open", "customer_buy_close", "customer_sell_close")


def flows(rows) -> pl.DataFrame:
    """rows: (contract, date, dealer flow, BTO, STO, BTC, STC, method); expected buy/sell volume from the labels."""
    return pl.DataFrame([{**c, "date": d, "dealer_flow": float(f), **dict(zip(LABELS, map(float, v))),
                          "customer_buy_volume": float(v[0] + v[2]), "customer_sell_volume": float(v[1] + v[3]),
                          "open_close_method": m}
                         for c, d, f, *v, m in ((r[0], r[1], r[2], *r[3:7], r[7]) for r in rows)])


def oi(rows) -> pl.DataFrame:
    return pl.DataFrame([{**c, "date": d, "open_interest": n} for c, d, n in rows])


TAPE = [(C, D1, -6, 10, 0, 0, 4, "oi_split"), (C, D3, 3, 0, 3, 0, 0, "oi_split"),
        (P, D2, -20, 20, 0, 0, 0, "oi_split"), (P, D4, 7, 0, 0, 0, 7, "oi_split")]


def by_key(path: pl.DataFrame) -> dict:
    return {(r["ticker"][-9], r["date"]): r for r in path.iter_rows(named=True)}


def test_positions_accumulate_carry_forward_and_leave_at_expiry_without_open_interest():
    rows = by_key(window_positions(flows(TAPE), pl.DataFrame(), [D1, D2, D3, D4], AFTER))
    # call: dealer sold 10, bought 4 -> -6; untraded D2 -> -6; bought 3 on D3 -> -3; gone after its expiry D3
    assert [rows[("C", d)]["dealer_position"] for d in (D1, D2, D3)] == [-6, -6, -3]
    assert ("C", D4) not in rows and ("P", D1) not in rows
    assert [rows[("P", d)]["dealer_position"] for d in (D2, D3, D4)] == [-20, -20, -13]
    assert rows[("P", D4)]["customer_sell_close"] == 7 and rows[("P", D4)]["customer_buy_open"] == 20
    assert rows[("P", D4)]["start_method"] == START_UNKNOWN  # no OI files at all: assumed flat, flagged


def test_start_inventory_is_the_middle_of_the_open_interest_feasible_interval():
    # P open before the window with 100 contracts (OI at the start of D1); OI at the closes D1..D4 (the next
    # session's files): 100, 120, 120, 113. Cumulative flow F: 0, -20, -20, -13. Feasible D0: |D0| <= 100 and
    # |D0 + F_t| <= OI_t: D0 in [max(-100, -120+20, -113+13), min(100, 120+20, 113+13)] = [-100, 100] -> 0
    # with sd 200/sqrt(12). Then the OI at D2's close binds nothing: mid 0.
    panel = oi([(P, D1, 100), (P, D2, 100), (P, D3, 120), (P, D4, 120), (P, AFTER, 113), (C, D2, 6)])
    rows = by_key(window_positions(flows(TAPE), panel, [D1, D2, D3, D4], AFTER))
    assert rows[("P", D1)]["start_method"] == START_FROM_OPEN_INTEREST
    assert rows[("P", D1)]["start_inventory"] == pytest.approx(0.0)
    assert rows[("P", D1)]["start_inventory_sd"] == pytest.approx(200 / 12 ** 0.5)
    # C was not open at the window start although the file exists: it starts flat, exactly
    assert rows[("C", D1)]["start_method"] == START_KNOWN_FLAT and rows[("C", D1)]["start_inventory"] == 0


def test_without_the_window_starts_open_interest_the_start_is_flagged_unknown_not_flat():
    # later files exist (D3's close onwards), the start's (D1) does not: what was open before is unknown
    panel = oi([(P, D3, 20), (P, D4, 20), (P, AFTER, 13), (C, D2, 6)])
    rows = by_key(window_positions(flows(TAPE), panel, [D1, D2, D3, D4], AFTER))
    assert rows[("P", D2)]["start_method"] == START_UNKNOWN and rows[("C", D1)]["start_method"] == START_UNKNOWN


def test_a_tight_open_interest_pins_the_start_inventory():
    # P open with 50 at the start; customers bought 20 on D2 from dealers; OI at D2's close is 30 only.
    # |D0 - 20| <= 30 and |D0| <= 50 -> D0 in [-10, 50]; OI 30 at D3's close too; at D4's close (after +7): 23:
    # |D0 - 13| <= 23 -> D0 in [-10, 36]. Interval [-10, 36] -> mean 13, sd 46/sqrt(12).
    panel = oi([(P, D1, 50), (P, D2, 50), (P, D3, 30), (P, D4, 30), (P, AFTER, 23)])
    rows = by_key(window_positions(flows(TAPE[2:]), panel, [D1, D2, D3, D4], AFTER))
    assert rows[("P", D1)]["start_inventory"] == pytest.approx(13.0)
    assert rows[("P", D1)]["start_inventory_sd"] == pytest.approx(46 / 12 ** 0.5)
    assert rows[("P", D4)]["dealer_position"] == pytest.approx(13.0 - 13.0)


def test_as_of_positions_stay_within_open_interest_and_carry_their_uncertainty():
    panel = oi([(P, D1, 0), (P, D2, 0), (P, D3, 15), (P, D4, 15), (P, AFTER, 10)])
    path = window_positions(flows(TAPE[2:]), panel, [D1, D2, D3, D4], AFTER)
    variance = pl.DataFrame({"ticker": [P["ticker"]], "dealer_flow_variance": [9.0], "size_match_flow": [-2.0],
                             "unsure_flow": [-4.0], "reference_votes": [4.0], "reference_volume": [20.0],
                             "unsigned_volume": [30.0],
                             "face_value_volume": [12.0], "direction_key": ["P00600000"], "direction_sd": [2.0],
                             "block_flows": [[-6.0]]})
    at = positions_at(path, D4, variance).row(0, named=True)
    # the path says -13 but only 10 are open at the close: held at -10, flagged; sd sqrt(0 + 9) = 3
    assert at["dealer_position"] == -10 and at["clipped_to_open_interest"]
    assert at["window_flow_sd"] == pytest.approx(3.0) and at["position_sd"] == pytest.approx(3.0)
    assert (at["size_match_flow"], at["unsure_flow"], at["block_flows"]) == (-2.0, -4.0, [-6.0])  # for the band
    assert (at["reference_votes"], at["reference_volume"]) == (4.0, 20.0)
    assert (at["unsigned_volume"], at["face_value_volume"]) == (30.0, 12.0)
    assert (at["direction_key"], at["direction_sd"]) == ("P00600000", 2.0)


def test_positions_at_an_expiry_day_close_leave_the_settled_contract_out():
    path = window_positions(flows(TAPE), pl.DataFrame(), [D1, D2, D3, D4], AFTER)
    empty = pl.DataFrame(schema={"ticker": pl.String, "dealer_flow_variance": pl.Float64, "size_match_flow": pl.Float64,
                                 "unsure_flow": pl.Float64, "reference_votes": pl.Float64,
                                 "reference_volume": pl.Float64, "unsigned_volume": pl.Float64,
                                 "face_value_volume": pl.Float64, "direction_key": pl.String, "direction_sd": pl.Float64,
                                 "block_flows": pl.List(pl.Float64)})
    assert positions_at(path, D3, empty)["ticker"].to_list() == [P["ticker"]]  # C expired at D3's close


def test_a_fallback_session_closes_what_customers_held_at_the_previous_close():
    # Customers bought 20 P on D2 (dealer -20). On D4 the open/close split could not use OI: customers sell 7.
    # Holding before D4: +20 long -> the 7 sold are STC, none STO, whatever the session's own labels said.
    tape = [TAPE[2], (P, D4, 7, 0, 7, 0, 0, "running_holding")]
    rows = by_key(window_positions(flows(tape), pl.DataFrame(), [D1, D2, D3, D4], AFTER))
    assert rows[("P", D4)]["customer_sell_close"] == 7 and rows[("P", D4)]["customer_sell_open"] == 0


def test_positions_do_not_depend_on_the_order_of_the_sessions():
    shuffled = flows(TAPE).sample(fraction=1.0, shuffle=True, seed=3)
    assert window_positions(shuffled, pl.DataFrame(), [D1, D2, D3, D4], AFTER).equals(
        window_positions(flows(TAPE), pl.DataFrame(), [D1, D2, D3, D4], AFTER))


def test_a_contract_days_class_is_the_sign_of_its_open_interest_change_over_the_session():
    # C (expires D3): 10 -> 15 -> 12 (opening, closing), then gone from D4's file by expiring on D3: unclassed, not
    # closing. P: not listed on D1, 5 at D2, 3 at D3 and D4 (opening from 0, closing, flat: unclassed). D4's next
    # file (AFTER) is missing: no row on D4 (unknown). A row repeated in a file counts once.
    rows = [(C, D1, 10), (C, D2, 15), (C, D2, 15), (C, D3, 12), (P, D2, 5), (P, D3, 3), (P, D4, 3)]
    classes = day_classes(oi(rows), [D1, D2, D3, D4], AFTER)
    got = {(r["ticker"][-9:], r["date"]): r["day_class"] for r in classes.iter_rows(named=True)}
    assert classes.height == len(got) == 6
    assert got == {("C00670000", D1): "opening", ("C00670000", D2): "closing", ("C00670000", D3): "unclassed",
                   ("P00650000", D1): "opening", ("P00650000", D2): "closing", ("P00650000", D3): "unclassed"}
    assert day_classes(oi(rows).clear(), [D1, D2, D3], D4).is_empty()
