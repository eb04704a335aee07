"""Dealer inventory accumulation, against positions worked out by hand."""

import datetime as dt

import polars as pl

from spy_gamma.quant.positions import accumulate_positions, attach_open_interest, daily_flows

D1, D2, D3, D4 = (dt.date(2025, 10, d) for d in (1, 2, 3, 6))
C = dict(ticker="O:SPY251003C00670000", expiry=dt.date(2025, 10, 3), strike=670.0, right="C")
P = dict(ticker="O:SPY251010P00650000", expiry=dt.date(2025, 10, 10), strike=650.0, right="P")


def tape() -> pl.DataFrame:
    rows = [  # contract, date, size, open_close, dealer_sign
        (C, D1, 10, "BTO", -1), (C, D1, 4, "STC", +1), (C, D3, 3, "STO", +1),
        (P, D2, 20, "BTO", -1), (P, D2, 5, "BTO", 0),   # a cross: customer volume, no dealer
        (P, D4, 7, "STC", +1),
    ]
    return pl.DataFrame([{**c, "date": d, "size": s, "open_close": oc, "dealer_sign": sign}
                         for c, d, s, oc, sign in rows])


def test_positions_accumulate_and_carry_forward_until_expiry():
    positions = accumulate_positions(daily_flows(tape()), [D1, D2, D3, D4])
    by_key = {(r["ticker"][-9], r["date"]): r for r in positions.iter_rows(named=True)}
    # call: day 1 dealer sold 10, bought 4 -> -6; day 2 no trade -> -6; day 3 bought 3 -> -3; expired after D3
    assert [by_key[("C", d)]["dealer_position"] for d in (D1, D2, D3)] == [-6, -6, -3]
    assert ("C", D4) not in by_key
    # put: first trades on D2 (20 from dealer, 5 crossed) -> -20; D4 customer sells 7 to close -> -13
    assert ("P", D1) not in by_key
    assert [by_key[("P", d)]["dealer_position"] for d in (D2, D3, D4)] == [-20, -20, -13]
    assert by_key[("P", D4)]["customer_buy_open"] == 25 and by_key[("P", D4)]["customer_sell_close"] == 7


def test_positions_do_not_depend_on_partition_order():
    shuffled = tape().sample(fraction=1.0, shuffle=True, seed=3)
    assert accumulate_positions(daily_flows(shuffled), [D1, D2, D3, D4]).equals(
        accumulate_positions(daily_flows(tape()), [D1, D2, D3, D4]))


def test_open_interest_at_close_is_next_sessions_start_of_day_figure():
    positions = accumulate_positions(daily_flows(tape()), [D1, D2, D3, D4])
    oi = pl.DataFrame({"date": [D2, D3, D3, D4], "ticker": [C["ticker"], C["ticker"], P["ticker"], P["ticker"]],
                       "open_interest": [6, 6, 20, 20]})
    with_oi = attach_open_interest(positions, oi, [D1, D2, D3, D4])
    got = {(r["ticker"][-9], r["date"]): r["open_interest"] for r in with_oi.iter_rows(named=True)}
    assert got[("C", D1)] == 6          # start of D2
    assert got[("P", D2)] == 20         # start of D3
    assert got[("P", D4)] == 20         # no later file: falls back to D4's own start-of-day figure
