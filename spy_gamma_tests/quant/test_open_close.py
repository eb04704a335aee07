"""Open/close inference: hand-worked OI splits and allocations, the running-holding fallback, and volume properties."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spy_gamma.quant.conditions import REGULAR, SINGLE_LEG_CROSS
from spy_gamma.quant.open_close import customer_holdings, infer_open_close, open_close_volumes, opening_volume

DAY = dt.date(2025, 10, 6)
CALL = "O:SPY251010C00670000"  # expires after DAY
ZERO_DTE = "O:SPY251006P00650000"  # expires on DAY


def prints(ticker: str, sizes: list[int], customer_side: list[int], conditions: list[int] | None = None) -> pl.DataFrame:
    n = len(sizes)
    return pl.DataFrame(
        {"ticker": [ticker] * n, "sip_timestamp": list(range(n)), "size": sizes, "customer_side": customer_side,
         "conditions": conditions or [REGULAR] * n},
        schema_overrides={"customer_side": pl.Int8, "conditions": pl.Int32},
    )


def oi(ticker: str, start: int, following: int, trusted: bool = True) -> pl.DataFrame:
    return pl.DataFrame({"ticker": [ticker], "oi_start": [start], "oi_next": [following], "oi_trusted": [trusted]})


@pytest.mark.parametrize(
    ("volume", "oi_change", "expected"),
    [
        (100, 40, 70.0),  # opens - closes = 40, opens + closes = 100
        (100, -30, 35.0),
        (100, 0, 50.0),
        (100, -100, 0.0),  # everything closed
        (100, 150, 100.0),  # OI grew more than the volume (data gap): clipped to V
        (100, -250, 0.0),
    ],
)
def test_opening_volume_by_hand(volume, oi_change, expected):
    assert pl.select(opening_volume(pl.lit(volume), pl.lit(oi_change))).item() == expected


def test_block_allocation_gives_the_dominant_direction_to_the_largest_prints():
    # V = 20, dOI = +10 -> opening 15, p = 0.75. Largest first: 10 (midpoint 5), 5 (12.5) open; 3 (16.5), 1, 1 close.
    trades = prints(CALL, [10, 1, 5, 1, 3], [1, -1, 1, 0, -1])
    out = infer_open_close(trades, DAY, oi(CALL, 100, 110))
    assert out["open_close"].to_list() == ["BTO", "STC", "BTO", "", "STC"]
    assert out["open_close_confidence"].to_list() == [0.75, 0.25, 0.75, 0.0, 0.25]
    assert out["open_close_method"].to_list() == ["oi_split"] * 3 + [""] + ["oi_split"]
    assert out["dealer_sign"].to_list() == [-1, 1, -1, 0, 1]


def test_block_allocation_when_closing_dominates():
    # V = 10, dOI = -6 -> opening 2, closing 8 dominant: 6 (midpoint 3) and 2 (7) close, 1 (8.5) and 1 (9.5) open.
    out = infer_open_close(prints(CALL, [1, 6, 1, 2], [1, -1, -1, 1]), DAY, oi(CALL, 50, 44))
    assert out["open_close"].to_list() == ["BTO", "STC", "STO", "BTC"]


def test_proportional_allocation_labels_the_likelier_direction():
    out = infer_open_close(prints(CALL, [10, 1, 5, 1, 3], [1, -1, 1, 1, -1]), DAY, oi(CALL, 100, 110),
                           allocation="proportional")
    assert out["open_close"].to_list() == ["BTO", "STO", "BTO", "BTO", "STO"]
    assert out["open_close_confidence"].to_list() == [0.75] * 5


def test_running_holding_fallback_on_expiry_day():
    # 0DTE: OI tomorrow is 0 by expiry, so the split is not used even if given. Customers buy 4 (open, holding 4),
    # sell 2 and 4 (closing: each reduces the long), a cross buy of 1 sees holding -2 (closing) and nets out.
    trades = prints(ZERO_DTE, [4, 2, 4, 1], [1, -1, -1, 1], [REGULAR, REGULAR, REGULAR, SINGLE_LEG_CROSS])
    out = infer_open_close(trades, DAY, oi(ZERO_DTE, 500, 0))
    assert out["open_close"].to_list() == ["BTO", "STC", "STC", "BTC"]
    assert out["open_close_method"].to_list() == ["running_holding"] * 4
    assert out["open_close_confidence"].to_list() == [0.5, 0.6, 0.6, 0.6]
    assert out["dealer_sign"].to_list() == [-1, 1, 1, 0]
    assert customer_holdings(trades)["customer_holding"].to_list() == [4, 2, -2, -2]


@pytest.mark.parametrize("oi_changes", [None, oi(CALL, 100, 110, trusted=False), oi(CALL, 100, None)])
def test_unknown_or_untrusted_oi_falls_back(oi_changes):
    out = infer_open_close(prints(CALL, [3, 3], [-1, 1]), DAY, oi_changes)
    assert out["open_close"].to_list() == ["STO", "BTC"]
    assert set(out["open_close_method"]) == {"running_holding"}


def test_seeded_holdings_close_the_known_position():
    # Customers are net short 5 at the open (dealers long 5): a buy of 3 is closing, then a buy of 4 still closes.
    start = pl.DataFrame({"ticker": [CALL], "customer_holding_start": [-5]})
    out = infer_open_close(prints(CALL, [3, 4, 1], [1, 1, 1]), DAY, holdings_start=start)
    assert out["open_close"].to_list() == ["BTC", "BTC", "BTO"]


def test_other_dates_in_oi_changes_are_ignored():
    changes = pl.concat([oi(CALL, 100, 90), oi(CALL, 100, 110)]).with_columns(
        pl.Series("date", [DAY - dt.timedelta(days=1), DAY]))
    out = infer_open_close(prints(CALL, [12, 8], [1, -1]), DAY, changes)
    # V = 20, dOI = +10 -> opening 15: the 12 (midpoint 6) opens, the 8 (midpoint 16) closes.
    # The previous day's dOI = -10 would have given the reverse.
    assert out["open_close"].to_list() == ["BTO", "STC"]
    assert out["open_close_confidence"].to_list() == [0.75, 0.25]


@st.composite
def days(draw):
    n = draw(st.integers(1, 40))
    sizes = draw(st.lists(st.integers(1, 50), min_size=n, max_size=n))
    sides = draw(st.lists(st.sampled_from([-1, 1]), min_size=n, max_size=n))
    oi_change = draw(st.integers(-3 * sum(sizes), 3 * sum(sizes)))
    return sizes, sides, oi_change


@settings(max_examples=60, deadline=None)
@given(days(), st.sampled_from(["block", "proportional"]))
def test_labelled_volumes_add_up_and_block_reproduces_the_split(day, allocation):
    sizes, sides, oi_change = day
    volume = sum(sizes)
    out = infer_open_close(prints(CALL, sizes, sides), DAY, oi(CALL, 10_000, 10_000 + oi_change), allocation=allocation)
    totals = open_close_volumes(out).row(0, named=True)
    opening = min(max((volume + oi_change) / 2, 0), volume)
    assert 0 <= opening <= volume
    assert sum(totals[c] for c in ("customer_buy_open", "customer_sell_open", "customer_buy_close",
                                   "customer_sell_close")) == volume
    assert totals["customer_buy_open"] + totals["customer_buy_close"] == sum(s for s, d in zip(sizes, sides) if d > 0)
    if allocation == "block":
        assert abs(totals["customer_buy_open"] + totals["customer_sell_open"] - opening) <= max(sizes) / 2
    assert out["open_close_confidence"].is_between(0, 1).all()
