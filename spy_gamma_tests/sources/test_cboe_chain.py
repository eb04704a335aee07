"""Cboe delayed-quote chains: reader shape/totals against SOURCE.txt, and our IVs/Greeks against Cboe's own.

Conventions (why our figures differ from Cboe's at all): Cboe prices SPY off an implied forward, not the
header's last price; we back it out per expiry from put-call parity at the strike where call and put mids
are closest, which also absorbs discrete dividends (SPY went ex-dividend on 2023-09-15, the day after the
2023 snapshot) and the 2025 header's last price, ~$4.8 below the forward its options imply. Time to expiry
is ACT/365 from the 16:00 ET close of the snapshot day to 16:00 ET on expiry; r is a flat short rate for that
date. Only out-of-the-money sides are inverted: SPY options are American, so in-the-money premiums carry an
early-exercise value a European inversion would read as vol. Cboe's IV is the inversion of its own ``theo``,
not of the mid: in the 2022 JSON the theo sits outside its own bid/ask for most short-dated strikes (theo and
quotes are from different moments), which is why that file is the loosest match on mids.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from spy_gamma.quant.expiry_time import session_close_ns, tte_years_expr
from spy_gamma.quant.forwards import parity_forwards
from spy_gamma.quant.greeks import bsm_greeks
from spy_gamma.quant.implied_vol import IvStatus, implied_vol_with_status
from spy_gamma.sources.cboe_chain import _csv_snapshot, read_cboe_chain
from spy_gamma_tests.conftest import REALDATA

CHAINS = REALDATA / "cboe_delayed_quotes_chains"
SEPT_2023 = CHAINS / "spy_quotedata_2023-09-14_1631ET_full.csv"
MAY_2025 = CHAINS / "spy_quotedata_2025-05-16_1923ET_2wk.csv"
JULY_2022 = CHAINS / "spy_cboe_delayed_2022-07-12_full.json"
# Flat short rates on the snapshot dates (3-month T-bill, rounded): 2.3%, 5.3%, 4.3%.
SHORT_RATE = {JULY_2022: 0.023, SEPT_2023: 0.053, MAY_2025: 0.043}

pytestmark = pytest.mark.usefixtures("realdata")  # fails under CI when ../shared is missing


@pytest.mark.parametrize(("path", "rows", "expiries", "open_interest", "spot", "snapshot"), [
    (SEPT_2023, 2 * 3_646, 31, 21_573_172, 450.81, dt.datetime(2023, 9, 14, 16, 31)),
    (MAY_2025, 2 * 1_580, 10, 6_751_000, 589.25, dt.datetime(2025, 5, 16, 19, 23)),
    (JULY_2022, 9_208, 34, 17_381_443, 380.88, dt.datetime(2022, 7, 12, 22, 57, 33)),
])
def test_reader_matches_the_source_description(path, rows, expiries, open_interest, spot, snapshot):
    chain = read_cboe_chain(path)
    assert chain.height == rows and chain["expiry"].n_unique() == expiries
    assert chain["open_interest"].sum() == open_interest  # SOURCE.txt: 21.57 M, 6.75 M, 17.38 M
    assert chain["spot"].unique().to_list() == [spot]
    assert chain["snapshot"][0].replace(tzinfo=None) == snapshot
    assert chain["ticker"].str.contains(r"^O:SPY\d{6}[CP]\d{8}$").all()
    assert set(chain["right"].unique()) == {"C", "P"}
    assert chain.null_count().sum_horizontal().item() == 0


def test_reader_puts_each_side_in_its_own_row():
    chain = read_cboe_chain(SEPT_2023)
    # Line 5 of the file: Sep 14 360 call bid 90.7 ask 90.86, OI 3; the put bid 0 ask 0.01, OI 26.
    first = chain.filter((pl.col("expiry") == dt.date(2023, 9, 14)) & (pl.col("strike") == 360.0))
    call, put = first.filter(pl.col("right") == "C").row(0, named=True), first.filter(pl.col("right") == "P").row(
        0, named=True)
    assert (call["bid"], call["ask"], call["open_interest"]) == (90.7, 90.86, 3)
    assert (put["bid"], put["ask"], put["open_interest"]) == (0.0, 0.01, 26)


def _with_parity_forward(chain: pl.DataFrame, rate: float) -> pl.DataFrame:
    """Add ``tte_years``, ``mid`` and the per-expiry put-call-parity ``forward`` (expiries after the snapshot day)."""
    day = chain["snapshot"][0].date()
    chain = chain.filter(pl.col("expiry") > day).with_columns(
        tte_years_expr(pl.lit(session_close_ns(day)), pl.col("expiry")).alias("tte_years"),
        ((pl.col("bid") + pl.col("ask")) / 2).alias("mid"))
    forwards = parity_forwards(chain.with_columns(pl.col("mid").alias("mark"), (pl.col("bid") > 0).alias("two_sided")),
                               rate)
    return chain.join(forwards, on="expiry")


def _liquid_out_of_the_money(chain: pl.DataFrame) -> pl.DataFrame:
    """Liquid: both sides quoted with bid >= 0.05, volume >= 10 or OI >= 100, |ln(K/F)| < 0.1, OTM side only."""
    otm = ((pl.col("right") == "C") & (pl.col("strike") >= pl.col("forward"))) | (
        (pl.col("right") == "P") & (pl.col("strike") <= pl.col("forward")))
    return chain.filter((pl.col("bid") >= 0.05) & (pl.col("ask") > pl.col("bid"))
                        & ((pl.col("volume") >= 10) | (pl.col("open_interest") >= 100))
                        & ((pl.col("strike") / pl.col("forward")).log().abs() < 0.1) & (pl.col("iv") > 0) & otm)


def _compare_with_cboe(path: Path, price_column: str = "mid") -> dict[str, float]:
    """Solve IVs from mids (or another price column) on the liquid OTM set; gaps to Cboe's IV and Greeks."""
    rate = SHORT_RATE[path]
    liquid = _liquid_out_of_the_money(_with_parity_forward(read_cboe_chain(path), rate))
    # Spot consistent with the forward: S = F e^{-rT} with q = 0 (the forward already carries the dividend).
    spot, strike, tte = ((liquid["forward"] * (-rate * liquid["tte_years"]).exp()).to_numpy(),
                         liquid["strike"].to_numpy(), liquid["tte_years"].to_numpy())
    is_call = (liquid["right"] == "C").to_numpy()
    iv, status = implied_vol_with_status(liquid[price_column].to_numpy(), spot, strike, tte, rate, 0.0, is_call)
    greeks = bsm_greeks(spot, strike, tte, rate, 0.0, iv, is_call)
    vol_points = 100 * np.abs(iv - liquid["iv"].to_numpy())
    delta_gap = np.abs(greeks["delta"] - liquid["delta"].to_numpy())
    gamma_ratio = np.abs(greeks["gamma"] / liquid["gamma"].to_numpy() - 1)
    return {"contracts": liquid.height, "solved": float(np.mean(status == IvStatus.OK)),
            "iv_median": float(np.median(vol_points)), "iv_p95": float(np.percentile(vol_points, 95)),
            "delta_median": float(np.median(delta_gap)), "delta_p95": float(np.percentile(delta_gap, 95)),
            "gamma_rel_median": float(np.median(gamma_ratio))}


# Measured (see the report): 2023-09-14 IV median 0.08 / p95 0.79 vol pts, 2025-05-16 0.02 / 0.08,
# 2022-07-12 0.55 / 1.57. Bounds leave room for rate choices, not for a broken solver or a spot-based
# forward (3+ vol points off on 2025-05-16).
@pytest.mark.parametrize(("path", "iv_median_bound", "iv_p95_bound"), [
    (SEPT_2023, 0.25, 1.5), (MAY_2025, 0.1, 0.3), (JULY_2022, 0.8, 2.5)])
def test_implied_vols_match_cboe_on_liquid_strikes(path, iv_median_bound, iv_p95_bound):
    figures = _compare_with_cboe(path)
    assert figures["contracts"] > 400 and figures["solved"] == 1.0
    assert figures["iv_median"] < iv_median_bound, figures
    assert figures["iv_p95"] < iv_p95_bound, figures


@pytest.mark.parametrize("path", [SEPT_2023, MAY_2025, JULY_2022])
def test_delta_and_gamma_loosely_match_cboe(path):
    figures = _compare_with_cboe(path)
    assert figures["delta_median"] < 0.01 and figures["delta_p95"] < 0.05, figures
    assert figures["gamma_rel_median"] < 0.05, figures


def test_inverting_cboe_theo_reproduces_its_published_iv():
    # The 2022 JSON carries Cboe's theoretical value: inverting it isolates our conventions from quote noise.
    figures = _compare_with_cboe(JULY_2022, price_column="theo")
    assert figures["solved"] == 1.0
    assert figures["iv_median"] < 0.1, figures  # measured 0.05 vol points


@pytest.mark.parametrize(("line", "expected"), [
    ('"Date: September 14, 2023 at 4:31 PM EDT",Bid: 450.81', dt.datetime(2023, 9, 14, 16, 31)),
    ('"Date: July 9, 2022 at 5:28 p.m. EDT",Bid: 388.6', dt.datetime(2022, 7, 9, 17, 28)),  # older page style
])
def test_snapshot_line_formats(line, expected):
    assert _csv_snapshot(line).replace(tzinfo=None) == expected
