"""Open-interest panel helpers against the real OCC SPY series (with its known scrape glitches) and hand panels."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import polars as pl
import pytest

from spy_gamma.quant.contracts import occ_ticker
from spy_gamma.quant.open_interest import daily_oi_changes, flag_oi_glitches
from spy_gamma_tests.conftest import REALDATA

OCC_JSON = REALDATA / "occ_open_interest_spy_2026-08" / "SPY_occ_oi.json"
GLITCH_DAY = dt.date(2026, 8, 24)
GLITCHED = [dt.date(2027, 1, 15), dt.date(2027, 3, 19), dt.date(2027, 6, 17)]


def read_occ_panel(path: Path) -> pl.DataFrame:
    """``date, ticker, open_interest`` from the OCC scrape (pull labels "D-M" are 2026 sessions; zero rows dropped)."""
    source = json.loads(path.read_text())
    dates = [dt.date(2026, int(label.split("-")[1]), int(label.split("-")[0])) for label in source["pull_dates"]]
    rows = [
        (date, occ_ticker(dt.date.fromisoformat(expiry), right, row["strike"]), oi)
        for expiry, chain in source["by_expiration"].items()
        for row in chain["rows"]
        for right, key in (("C", "calls"), ("P", "puts"))
        for date, oi in zip(dates, row[key])
        if oi
    ]
    return pl.DataFrame(rows, schema=["date", "ticker", "open_interest"], orient="row")


@pytest.fixture(scope="module")
def occ_panel() -> pl.DataFrame:
    return read_occ_panel(OCC_JSON)


def test_occ_glitches_are_exactly_the_three_2027_expiries_on_the_last_date(occ_panel):
    flags = flag_oi_glitches(occ_panel)
    flagged = flags.filter("glitch").sort("expiry")
    assert flagged["date"].to_list() == [GLITCH_DAY] * 3
    assert flagged["expiry"].to_list() == GLITCHED
    assert flagged["ratio"].to_list() == pytest.approx([2.1187, 2.3280, 2.2412], abs=1e-4)
    # Normal moves that a bare ratio test would catch: listings ramping up, expiry-day build-ups, the real
    # 75k/150k/75k put ladder that took 2026-10-30 from 248,478 to 552,186 on 2026-08-13, and expired series at 0.
    normal_jumps = flags.filter(~pl.col("glitch") & ((pl.col("ratio") > 1.6) | (pl.col("ratio") < 0.6)))
    assert normal_jumps.height > 20
    ladder = flags.filter(pl.col("date") == dt.date(2026, 8, 13), pl.col("expiry") == dt.date(2026, 10, 30))
    assert ladder.select("previous_total", "total", "glitch").row(0) == (248_478, 552_186, False)
    # OCC still lists an expired Friday series on the Monday pull; it reaches 0 on Tuesday.
    expired = flags.filter(pl.col("expiry") == dt.date(2026, 8, 14), pl.col("date") == dt.date(2026, 8, 18))
    assert expired.select("previous_total", "total", "glitch").row(0) == (1_045_213, 0, False)


def test_occ_changes_into_the_glitch_date_are_untrusted(occ_panel):
    changes = daily_oi_changes(occ_panel)
    last = changes.filter(pl.col("date") == dt.date(2026, 8, 21))
    untrusted = last.filter(~pl.col("oi_trusted"))
    assert sorted(untrusted["expiry"].unique().to_list()) == GLITCHED
    assert changes.filter(pl.col("date") < dt.date(2026, 8, 21))["oi_trusted"].all()
    # The glitch series itself: SPY 2027-06-17 460P went 418 -> 709,233.
    put = last.filter(pl.col("ticker") == occ_ticker(dt.date(2027, 6, 17), "P", 460))
    assert put.select("oi_start", "oi_next", "oi_change", "oi_trusted").row(0) == (418, 709_233, 708_815, False)


def test_daily_changes_by_hand():
    d1, d2, d3 = dt.date(2025, 10, 6), dt.date(2025, 10, 7), dt.date(2025, 10, 8)
    a, b, c = (occ_ticker(dt.date(2025, 10, 17), "C", k) for k in (670, 675, 680))
    panel = pl.DataFrame({"date": [d1, d1, d2, d2, d3], "ticker": [a, b, a, c, c], "open_interest": [100, 50, 130, 20, 25]})
    changes = daily_oi_changes(panel).select("date", "ticker", "oi_start", "oi_next", "oi_change", "oi_trusted")
    assert changes.rows() == [
        (d1, a, 100, 130, 30, True),  # grew by 30
        (d1, b, 50, 0, -50, True),  # absent on d2: closed out
        (d1, c, 0, 20, 20, True),  # new on d2
        (d2, a, 130, 0, -130, True),
        (d2, c, 20, 25, 5, True),
    ]


def test_isolated_drop_is_flagged_but_a_whole_chain_move_is_not():
    days = [dt.date(2025, 10, 6), dt.date(2025, 10, 7)]
    expiries = [dt.date(2025, 12, 19), dt.date(2026, 1, 16), dt.date(2026, 3, 20)]

    def panel(second_day: list[int]) -> pl.DataFrame:
        rows = [(day, occ_ticker(expiry, "P", 600), oi)
                for day, ois in zip(days, ([1000, 1000, 1000], second_day)) for expiry, oi in zip(expiries, ois)]
        return pl.DataFrame(rows, schema=["date", "ticker", "open_interest"], orient="row")

    # 1000 -> 500 is a 0.5x drop on 1/3 of the chain while the rest is flat: flagged. Everything halving is not
    # "isolated", and 1000 -> 1500 (1.5x) is inside the band.
    assert flag_oi_glitches(panel([500, 1000, 1000]))["glitch"].to_list() == [True, False, False]
    assert not flag_oi_glitches(panel([500, 500, 500]))["glitch"].any()
    assert not flag_oi_glitches(panel([1500, 1000, 1000]))["glitch"].any()
