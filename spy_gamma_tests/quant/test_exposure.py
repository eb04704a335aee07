"""Dealer exposures checked against hand-worked books, finite differences, vollib and the real Cboe SPY chain."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import polars as pl
import pytest
from scipy.optimize import brentq
from vollib.black_scholes_merton.greeks import analytical as vollib

from spy_gamma.quant import exposure
from spy_gamma.quant.expiry_time import tte_years_expr
from spy_gamma.quant.exposure import (
    contract_exposures,
    exposures_by_strike,
    flip_search_range,
    gamma_flip,
    gamma_profile,
    gex_surface,
    hedging_flows,
    max_pain,
    naive_oi_book,
    naive_oi_gex,
    total_gex_at,
    walls,
)
from spy_gamma.quant.greeks import bsm_greeks, bsm_price
from spy_gamma.sources.cboe_chain import read_cboe_chain
from spy_gamma_tests.conftest import REALDATA

EXPIRY = dt.date(2025, 10, 10)
CBOE_2023 = REALDATA / "cboe_delayed_quotes_chains" \
    / "spy_quotedata_2023-09-14_1631ET_full.csv"
CBOE_2023_SPOT = 450.81
CBOE_2023_RATE, CBOE_2023_DIVIDEND = 0.053, 0.015  # Sep 2023: ~5.3% T-bills, SPY ~1.5% yield (assumed)


def make_book(rows: list[tuple], expiry: dt.date = EXPIRY) -> pl.DataFrame:
    """Book frame from (right, strike, dealer_position, iv, tte_years[, open_interest]) tuples."""
    return pl.DataFrame({
        "ticker": [f"O:SPY{expiry:%y%m%d}{r[0]}{round(r[1] * 1000):08d}" for r in rows],
        "expiry": [expiry] * len(rows),
        "strike": [float(r[1]) for r in rows],
        "right": [r[0] for r in rows],
        "dealer_position": [r[2] for r in rows],
        "open_interest": [r[5] if len(r) > 5 else abs(r[2]) for r in rows],
        "iv": [float(r[3]) for r in rows],
        "tte_years": [float(r[4]) for r in rows],
    }, schema_overrides={"expiry": pl.Date, "open_interest": pl.Int64})


def random_book(seed: int, n: int = 400, spot: float = 100.0) -> pl.DataFrame:
    """Seeded book with mixed rights, strikes around spot, vols and times (two expiries)."""
    rng = np.random.default_rng(seed)
    rights = rng.choice(["C", "P"], n)
    strikes = np.round(spot * rng.uniform(0.85, 1.15, n))
    rows = [(rights[i], strikes[i], int(rng.integers(-500, 500)), rng.uniform(0.1, 0.45), rng.uniform(0.02, 0.5))
            for i in range(n)]
    book = make_book(rows)
    later = rng.random(n) < 0.5
    return book.with_columns(pl.when(pl.Series(later)).then(pl.lit(EXPIRY + dt.timedelta(days=7)))
                             .otherwise(pl.col("expiry")).alias("expiry"))


# Hand book: dealers long 1000 calls K=100, short 1000 puts K=90; sigma 0.2, T 0.25, r = q = 0, spot 95.
#   call: d1 = (ln(95/100) + 0.02*0.25)/(0.2*0.5) = -0.46293, n(d1) = 0.358405, gamma = n/(95*0.1) = 0.0377268
#         gex = 1000*100*0.0377268*95^2*0.01 = +340,484.6
#   put:  d1 = (ln(95/90) + 0.005)/0.1 = 0.59067, n(d1) = 0.335080, gamma = 0.0352716, gex = -318,326.2
#   net = +22,158.4 (dealers long gamma at 95).
# Flip: with equal sigma and T, gamma(K1) = gamma(K2) <=> n(d1(K1)) = n(d1(K2)) <=> d1(K1) = -d1(K2)
#   <=> ln(S/K1) + ln(S/K2) + sigma^2 T = 0 <=> S* = sqrt(K1 K2) exp(-sigma^2 T / 2) = sqrt(9000) e^-0.005 = 94.39517
HAND_BOOK = make_book([("C", 100, 1000, 0.2, 0.25), ("P", 90, -1000, 0.2, 0.25)])


def test_hand_book_gex_by_strike_and_walls():
    by_strike = exposures_by_strike(contract_exposures(HAND_BOOK, 95.0, 0.0, 0.0))
    rows = {row["strike"]: row for row in by_strike.iter_rows(named=True)}
    assert rows[100.0]["call_gex"] == pytest.approx(340_484.6, rel=1e-6)
    assert rows[90.0]["put_gex"] == pytest.approx(-318_326.2, rel=1e-6)
    assert by_strike["net_gex"].sum() == pytest.approx(22_158.4, abs=0.5)
    assert list(by_strike.columns[:10]) == ["expiry", "strike", "call_gex", "put_gex", "net_gex", "dex", "vex",
                                            "cex", "iv_call", "iv_put"]
    found = walls(by_strike)
    assert (found["call_wall"], found["put_wall"], found["abs_gamma_strike"]) == (100.0, 90.0, 100.0)
    assert found["put_wall_gex"] < 0 < found["call_wall_gex"]
    # centroid = (100*340484.6 + 90*318326.2) / (340484.6 + 318326.2) = 95.168
    assert found["gamma_centroid"] == pytest.approx(95.1682, abs=1e-3)


def test_hand_book_flip_is_analytic():
    profile = gamma_profile(HAND_BOOK, 95.0, 0.0, 0.0)
    assert gamma_flip(HAND_BOOK, 95.0, 0.0, 0.0, profile) == pytest.approx(math.sqrt(9000) * math.exp(-0.005),
                                                                           abs=1e-6)


def test_exposures_match_finite_differences_of_price():
    book, spot, r, q = random_book(1, n=60), 100.0, 0.04, 0.012
    ex = contract_exposures(book, spot, r, q)
    units = ex["dealer_position"].to_numpy() * 100.0
    strike, tte, iv = (ex[c].to_numpy() for c in ("strike", "tte_years", "iv"))
    call = (ex["right"] == "C").to_numpy()

    def price(s=spot, t=tte, vol=iv):
        return bsm_price(s, strike, t, r, q, vol, call)

    def delta(s=spot, t=tte, vol=iv):
        return bsm_greeks(s, strike, t, r, q, vol, call)["delta"]

    h, dv, dt_years = 1e-4 * spot, 1e-4, 1e-5
    gamma_fd = (price(spot + h) - 2 * price() + price(spot - h)) / h**2
    # gex = change in dealer $delta for a 1% move: d(delta)/dS * 1% S * S
    assert ex["gex"].to_numpy() == pytest.approx(units * gamma_fd * spot**2 * 0.01, rel=1e-4, abs=1e-3)
    assert ex["dex"].to_numpy() == pytest.approx(units * (price(spot + h) - price(spot - h)) / (2 * h) * spot,
                                                 rel=1e-4, abs=1e-3)
    vanna_fd = (delta(vol=iv + dv) - delta(vol=iv - dv)) / (2 * dv)
    assert ex["vex"].to_numpy() == pytest.approx(units * vanna_fd * spot * 0.01, rel=1e-4, abs=1e-3)
    charm_fd = (delta(t=tte - dt_years) - delta(t=tte + dt_years)) / (2 * dt_years)  # calendar time passing
    assert ex["cex"].to_numpy() == pytest.approx(units * charm_fd * spot / 365, rel=1e-4, abs=1e-3)
    one_day = units * (delta(t=tte - 1 / 365) - delta()) * spot  # the literal one-day bump, to first order
    assert np.sum(np.abs(ex["cex"].to_numpy() - one_day)) < 0.05 * np.sum(np.abs(one_day))
    def vega(vol):
        return bsm_greeks(spot, strike, tte, r, q, vol, call)["vega"]

    vomma_fd = (vega(iv + dv) - vega(iv - dv)) / (2 * dv)
    assert ex["vomma_ex"].to_numpy() == pytest.approx(units * vomma_fd * 1e-4, rel=1e-4, abs=1e-6)
    def gamma(s):
        return bsm_greeks(s, strike, tte, r, q, iv, call)["gamma"]

    speed_fd = (gamma(spot * 1.0001) - gamma(spot * 0.9999)) / (2 * 0.0001 * spot)
    assert ex["speed_ex"].to_numpy() == pytest.approx(units * speed_fd * spot**3 * 1e-4, rel=1e-4, abs=1e-3)


def test_speed_ex_plus_rescaling_is_the_profile_slope():
    # d(total gex)/d(1% move) = sum speed_ex + 2 * gex * 1% (the S^2 factor moves with the grid spot)
    book, spot, r, q = random_book(2), 100.0, 0.03, 0.01
    ex = contract_exposures(book, spot, r, q)
    slope = (total_gex_at(book, spot * 1.0001, r, q) - total_gex_at(book, spot * 0.9999, r, q)) / 0.0002 * 0.01
    assert slope == pytest.approx(ex["speed_ex"].sum() + 0.02 * ex["gex"].sum(), rel=1e-5)


def _vollib_total_gex(book: pl.DataFrame, s: float, r: float, q: float) -> float:
    """Independent dealer gex at spot s from vollib's analytical gamma, contract by contract."""
    return sum(pos * 100 * vollib.gamma(right.lower(), s, k, t, r, vol, q) * s * s * 0.01
               for right, k, pos, vol, t in book.select("right", "strike", "dealer_position", "iv", "tte_years")
               .iter_rows())


def test_gamma_profile_matches_vollib_and_chunking(monkeypatch):
    book, spot, r, q = random_book(3, n=150), 100.0, 0.04, 0.012
    profile = gamma_profile(book, spot, r, q, grid_pct=0.05, step=0.5)
    assert profile["spot"].min() == pytest.approx(95.0) and profile["spot"].max() == pytest.approx(105.0)
    expiry_columns = [c for c in profile.columns if c.startswith("gex_")]
    assert len(expiry_columns) == 2
    assert profile.select(pl.sum_horizontal(expiry_columns)).to_series().to_numpy() == pytest.approx(
        profile["total_gex"].to_numpy())
    for s, total in profile.select("spot", "total_gex").gather_every(5).iter_rows():
        assert total == pytest.approx(_vollib_total_gex(book, s, r, q), rel=1e-9)
    monkeypatch.setattr(exposure, "PROFILE_CHUNK", 7)
    chunked = gamma_profile(book, spot, r, q, grid_pct=0.05, step=0.5)
    assert chunked["total_gex"].to_numpy() == pytest.approx(profile["total_gex"].to_numpy(), rel=1e-12)


def test_gamma_flip_matches_brentq_on_vollib_gamma():
    # dealers long upside calls, short downside puts + noise: one crossing below spot
    rng = np.random.default_rng(4)
    rows = [("C", k, int(rng.integers(200, 400)), 0.18, 0.08) for k in range(101, 111)]
    rows += [("P", k, -int(rng.integers(200, 400)), 0.24, 0.08) for k in range(90, 100)]
    book, spot, r, q = make_book(rows), 100.0, 0.04, 0.012
    flip = gamma_flip(book, spot, r, q, gamma_profile(book, spot, r, q))
    expected = brentq(lambda s: _vollib_total_gex(book, s, r, q), 95.0, 105.0, xtol=1e-10)
    assert flip == pytest.approx(expected, abs=1e-6)


def test_gamma_flip_picks_the_crossing_nearest_spot_and_none_without_crossing():
    # short 100-strike body, long 95/105 wings: gex > 0 far out, < 0 near 100 -> crossings both sides of spot
    book = make_book([("C", 95, 1000, 0.2, 0.1), ("C", 100, -2000, 0.2, 0.1), ("C", 105, 1000, 0.2, 0.1)])
    crossings = []
    for spot in (99.0, 101.0):
        flip = gamma_flip(book, spot, 0.0, 0.0, gamma_profile(book, spot, 0.0, 0.0, grid_pct=0.1))
        crossings.append(flip)
        assert total_gex_at(book, flip, 0.0, 0.0) == pytest.approx(0.0, abs=1e-3)
    assert crossings[0] < 100.0 < crossings[1]
    for no_crossing in (make_book([("C", 100, 1000, 0.2, 0.1)]), HAND_BOOK.clear()):
        assert gamma_flip(no_crossing, 100.0, 0.0, 0.0, gamma_profile(no_crossing, 100.0, 0.0, 0.0)) is None


def test_max_pain_hand_example_and_fallback():
    # calls: 95 x 500, 100 x 300; puts: 90 x 400, 95 x 200.  Intrinsic owed (x100) at settlement P:
    #   P=90: puts 95: 200*5 = 1000 -> 100,000;   P=95: nothing ITM -> 0;   P=100: calls 95: 500*5 -> 250,000
    book = make_book([("C", 95, 0, 0.2, 0.1, 500), ("C", 100, 0, 0.2, 0.1, 300),
                      ("P", 90, 0, 0.2, 0.1, 400), ("P", 95, 0, 0.2, 0.1, 200)])
    assert max_pain(book) == {EXPIRY: 95.0}
    # fallback: 100 calls OI 1000; 110 puts with unknown OI and dealer_position -3000 -> weight 3000.
    #   P=100: puts 3000*10 = 30,000 (x100);  P=110: calls 1000*10 = 10,000 -> 110
    #   (ignoring the unknown OI instead would give P=100: 0 -> 100)
    fallback = make_book([("C", 100, 0, 0.2, 0.1, 1000), ("P", 110, -3000, 0.2, 0.1, None)])
    assert max_pain(fallback) == {EXPIRY: 110.0}
    assert max_pain(book.with_columns(pl.lit(0).alias("open_interest"))) == {}  # nothing open, no max pain


def _owed(contracts: list[tuple], settle: float) -> float:
    """Intrinsic value owed (x100) on (right, strike, open_interest) contracts settling at ``settle``."""
    return sum(oi * 100 * max(settle - k if right == "C" else k - settle, 0.0) for right, k, oi in contracts)


def test_max_pain_matches_brute_force():
    rng = np.random.default_rng(5)
    book = random_book(6, n=120).with_columns(pl.Series("open_interest", rng.integers(0, 3000, 120)))
    for expiry, strike in max_pain(book).items():
        contracts = book.filter(pl.col("expiry") == expiry).select("right", "strike", "open_interest").rows()
        owed = {settle: _owed(contracts, settle) for settle in sorted({k for _, k, _ in contracts})}
        least = min(owed.values())
        assert owed[strike] == pytest.approx(least)
        assert strike == min(settle for settle, value in owed.items() if value == pytest.approx(least))


def test_hedging_flows_reprice_delta_and_sign():
    spot, r, q = 95.0, 0.0, 0.0
    flows = {row["scenario"]: row for row in hedging_flows(HAND_BOOK, spot, r, q).iter_rows(named=True)}
    # independent full re-pricing with vollib: hedge = -(dealer delta after - before) * spot after
    def dealer_delta(s, vol_shift=0.0):
        return 1000 * 100 * (vollib.delta("c", s, 100, 0.25, r, 0.2 + vol_shift, q)
                             - vollib.delta("p", s, 90, 0.25, r, 0.2 + vol_shift, q))

    for move in (-2, -1, -0.5, 0.5, 1, 2):
        after = spot * (1 + move / 100)
        assert flows[f"spot {move:+g}%"]["hedge_usd"] == pytest.approx(
            -(dealer_delta(after) - dealer_delta(spot)) * after, rel=1e-9)
    assert flows["vol +1pt"]["hedge_shares"] == pytest.approx(-(dealer_delta(spot, 0.01) - dealer_delta(spot)))
    # dealers are long gamma at 95 (net gex +22,158): they sell a rally and buy a dip; the symmetric part of the
    # +-0.5% hedges is the gamma term, -gex * 0.5 = -11,079 $ (odd higher orders are O(move^3))
    assert flows["spot +0.5%"]["hedge_usd"] < 0 < flows["spot -0.5%"]["hedge_usd"]
    symmetric = (flows["spot +0.5%"]["hedge_shares"] - flows["spot -0.5%"]["hedge_shares"]) * spot / 2
    assert symmetric == pytest.approx(-22_158.4 * 0.5, rel=0.01)


def test_hedging_flow_of_expiring_contract_uses_exercise_delta():
    # dealer long 100 calls at 95, spot 100, expiring in 2 hours: after one day the call is exercised
    # (delta 1 per share, was ~1 already): hedge ~ 0.  Deep-ish OTM put at 99.5 short 100: delta ~ -0.03 -> 0
    book = make_book([("C", 95, 100, 0.2, 2 / (24 * 365)), ("P", 99.5, -100, 0.2, 2 / (24 * 365))])
    before = bsm_greeks(100.0, np.array([95.0, 99.5]), 2 / (24 * 365), 0, 0, 0.2, np.array([True, False]))["delta"]
    held = 100 * 100 * (before[0] - before[1])
    after = 100 * 100 * (1.0 - 0.0)
    decay = hedging_flows(book, 100.0, 0.0, 0.0).filter(pl.col("scenario") == "1 day decay")
    assert decay["hedge_shares"][0] == pytest.approx(-(after - held))


def test_naive_oi_gex_signs_and_totals():
    book = make_book([("C", 100, -7, 0.2, 0.1, 1000), ("P", 95, 3, 0.2, 0.1, 500)])
    naive = naive_oi_book(book)
    assert naive["dealer_position"].to_list() == [1000, -500]
    by_strike = naive_oi_gex(book, 100.0, 0.0, 0.0)
    assert by_strike["expiry"].null_count() == by_strike.height
    assert by_strike.filter(pl.col("strike") == 100)["call_gex"][0] > 0
    assert by_strike.filter(pl.col("strike") == 95)["put_gex"][0] < 0
    expected = _vollib_total_gex(naive, 100.0, 0.0, 0.0)
    assert by_strike["net_gex"].sum() == pytest.approx(expected, rel=1e-9)


def test_gex_surface_per_day():
    monday, tuesday = dt.date(2025, 10, 6), dt.date(2025, 10, 7)
    books = pl.concat([HAND_BOOK.with_columns(pl.lit(monday).alias("date")),
                       HAND_BOOK.with_columns(pl.lit(tuesday).alias("date"),
                                              pl.col("dealer_position") * 2)])
    surface = gex_surface(books, {monday: 95.0, tuesday: 96.0}, 0.0, 0.0)
    assert surface.columns == ["date", "strike", "net_gex"] and surface.height == 4
    monday_100 = surface.filter((pl.col("date") == monday) & (pl.col("strike") == 100))["net_gex"][0]
    assert monday_100 == pytest.approx(340_484.6, rel=1e-6)  # the hand figure above
    tuesday_total = surface.filter(pl.col("date") == tuesday)["net_gex"].sum()
    assert tuesday_total == pytest.approx(_vollib_total_gex(books.filter(pl.col("date") == tuesday), 96.0, 0, 0))


def test_exposures_by_strike_all_expiries_sums_each_expiry():
    ex = contract_exposures(random_book(7), 100.0, 0.03, 0.01)
    per_expiry, total = exposures_by_strike(ex), exposures_by_strike(ex, per_expiry=False)
    summed = per_expiry.group_by("strike").agg(pl.col("net_gex", "dex", "call_position").sum()).sort("strike")
    assert total["strike"].to_list() == summed["strike"].to_list()
    for column in ("net_gex", "dex", "call_position"):
        assert total[column].to_numpy() == pytest.approx(summed[column].to_numpy())
    assert ex["gex"].sum() == pytest.approx(total["net_gex"].sum())


# ---- the real Cboe SPY chain, 2023-09-14 16:31 ET ----

def cboe_book_2023() -> pl.DataFrame:
    """The chain as a book: OTM-side Cboe iv at each strike (ITM ivs are often 0), time to 16:00 ET on expiry."""
    chain = read_cboe_chain(CBOE_2023)
    assert chain["spot"][0] == CBOE_2023_SPOT
    otm_iv = chain.filter((pl.col("right") == "P") == (pl.col("strike") < CBOE_2023_SPOT)).select(
        "expiry", "strike", pl.col("iv").alias("otm_iv"))
    return (chain.filter(pl.col("expiry") > pl.col("snapshot").dt.date())
            .join(otm_iv, on=["expiry", "strike"], how="left")
            .with_columns(pl.when(pl.col("otm_iv") > 0).then("otm_iv").otherwise("iv").alias("iv"),
                          tte_years_expr(pl.col("snapshot").dt.epoch("ns"), pl.col("expiry")).alias("tte_years"),
                          pl.lit(0).alias("dealer_position"))
            .drop("otm_iv"))


@pytest.fixture(scope="module")
def cboe_book() -> pl.DataFrame:
    return cboe_book_2023()


def test_real_chain_naive_oi_gex_flip_walls_max_pain(cboe_book):
    spot, r, q = CBOE_2023_SPOT, CBOE_2023_RATE, CBOE_2023_DIVIDEND
    book = naive_oi_book(cboe_book)
    profile = gamma_profile(book, spot, r, q)
    flip = gamma_flip(book, spot, r, q, profile)
    by_strike = naive_oi_gex(cboe_book, spot, r, q)
    found = walls(by_strike)
    pain = max_pain(cboe_book)
    front = min(pain)
    near_spot = cboe_book.filter((pl.col("strike") / spot - 1).abs() < 0.05)
    oi_by_strike = near_spot.group_by("strike", "right").agg(pl.col("open_interest").sum())
    top_call_oi = oi_by_strike.filter(pl.col("right") == "C").sort("open_interest", descending=True)
    top_put_oi = oi_by_strike.filter(pl.col("right") == "P").sort("open_interest", descending=True)
    print(f"\nCboe SPY 2023-09-14 naive-OI: contracts {book.height}, total gex at spot "
          f"{by_strike['net_gex'].sum() / 1e9:+.2f} $bn per 1%, flip {flip}, walls {found}, "
          f"front max pain {front}: {pain[front]}, next {sorted(pain.items())[1:4]}")
    assert flip is not None and abs(flip / spot - 1) < 0.10
    assert found["call_wall_gex"] > 0 > found["put_wall_gex"]  # naive convention: dealers long calls, short puts
    # walls sit at strikes among the ten largest open interests of their side within 5% of spot
    assert found["call_wall"] in top_call_oi["strike"].head(10).to_list()
    assert found["put_wall"] in top_put_oi["strike"].head(10).to_list()
    # front (Sep 15, quarterly expiry) max pain 440 lags the rally to 450.81; the following weeklies sit closer
    assert abs(pain[front] / spot - 1) < 0.03
    assert all(abs(strike / spot - 1) < 0.02 for _, strike in sorted(pain.items())[1:4])
    assert total_gex_at(book, flip, r, q) == pytest.approx(0.0, abs=1e-3 * by_strike["net_gex"].abs().sum())
    flows = hedging_flows(book, spot, r, q)
    print("naive-OI dealer hedge flows ($m):", {name: round(usd / 1e6) for name, usd in
                                                flows.select("scenario", "hedge_usd").iter_rows()})
    assert flows.filter(pl.col("scenario") == "spot +1%")["hedge_usd"][0] < 0  # long gamma at spot: sell rallies


# ---- pricing at the forward each vol was implied against (carry_q) ----

def _ql_black(right: str, strike: float, forward: float, vol: float, tte: float, r: float, spot: float):
    """QuantLib's Black-76 calculator at an explicit forward: (delta, gamma) per share w.r.t. spot."""
    import QuantLib as ql

    payoff = ql.PlainVanillaPayoff(ql.Option.Call if right == "C" else ql.Option.Put, strike)
    calc = ql.BlackCalculator(payoff, forward, vol * math.sqrt(tte), math.exp(-r * tte))
    return calc.delta(spot), calc.gamma(spot)


def test_greeks_are_priced_at_the_parity_forward_via_carry_q():
    # Spot 100, r = 4%, T = 0.05. The parity forward is 98.2 (a $2 dividend inside the expiry), so
    # carry_q = r - ln(98.2/100)/0.05 = 0.04 + 0.36325 = 0.40325, while the scalar q = 1.2% would put the forward
    # at the carry 100 e^{0.028*0.05} = 100.14. Dealers long 1000 calls K=98, short 1000 calls K=100, vol 10%:
    # at 98.2 the 98 strike is near the money (net long gamma); at 100.14 the 100 strike is (net short gamma).
    spot, r, q, tte, forward = 100.0, 0.04, 0.012, 0.05, 98.2
    carry_q = r - math.log(forward / spot) / tte
    book = make_book([("C", 98, 1000, 0.1, tte), ("C", 100, -1000, 0.1, tte)]).with_columns(
        pl.lit(carry_q).alias("carry_q"))
    ex = contract_exposures(book, spot, r, q)
    for row in ex.iter_rows(named=True):
        delta, gamma = _ql_black(row["right"], row["strike"], forward, row["iv"], tte, r, spot)
        assert row["delta"] == pytest.approx(delta, rel=1e-9) and row["gamma"] == pytest.approx(gamma, rel=1e-9)
    carry_only = contract_exposures(book.drop("carry_q"), spot, r, q)
    assert ex["gex"].sum() > 0 > carry_only["gex"].sum()  # the forward alone flips the sign of total gex
    # On the profile the forward moves with spot at that carry: at 97, F = 97 e^{(r - carry_q) T} = 95.254
    profile = gamma_profile(book, spot, r, q, grid_pct=0.05, step=1.0)
    at_97 = profile.filter(pl.col("spot") == 97.0)["total_gex"][0]
    expected = sum(pos * 100 * _ql_black("C", k, 97.0 * forward / spot, 0.1, tte, r, 97.0)[1] * 97.0**2 * 0.01
                   for k, pos in ((98, 1000), (100, -1000)))
    assert at_97 == pytest.approx(expected, rel=1e-9)
    assert total_gex_at(book, 97.0, r, q) == pytest.approx(expected, rel=1e-9)


def test_flip_beyond_the_profile_is_found_or_reported_absent():
    # Long 1000 calls K=100, short 1000 puts K=80, sigma 0.2, T 0.25, r = q = 0: equal sigma and T put the flip at
    # S* = sqrt(K1 K2) e^{-sigma^2 T/2} = sqrt(8000) e^{-0.005} = 88.9968 (see HAND_BOOK), -11% from 100:
    # outside the +-7% profile, inside the +-25% search.
    book = make_book([("C", 100, 1000, 0.2, 0.25), ("P", 80, -1000, 0.2, 0.25)])
    profile = gamma_profile(book, 100.0, 0.0, 0.0)
    assert (profile["total_gex"] > 0).all()
    flip = gamma_flip(book, 100.0, 0.0, 0.0, profile)
    assert flip == pytest.approx(math.sqrt(8000) * math.exp(-0.005), abs=1e-6)
    assert gamma_flip(book, 100.0, 0.0, 0.0, profile, search_pct=0.07) is None
    assert flip_search_range(100.0) == pytest.approx((75.0, 125.0))


def test_absolute_gamma_strike_by_gross_and_by_net():
    # At 100 dealers are long 1000 calls and short 1000 puts (same strike, vol, time: same gamma), net 0 and gross
    # 2 x 1000 x 100 x gamma x S^2 x 1%; at 105 long 300 calls. Net largest at 105, gross largest at 100.
    book = make_book([("C", 100, 1000, 0.2, 0.1), ("P", 100, -1000, 0.2, 0.1), ("C", 105, 300, 0.2, 0.1)])
    found = walls(exposures_by_strike(contract_exposures(book, 100.0, 0.0, 0.0)))
    gamma_100 = vollib.gamma("c", 100.0, 100.0, 0.1, 0.0, 0.2, 0.0)
    assert found["abs_gamma_strike"] == 105.0 and found["abs_gamma_strike_gross"] == 100.0
    assert found["abs_gamma_gross_gex"] == pytest.approx(2 * 1000 * 100 * gamma_100 * 100.0**2 * 0.01, rel=1e-9)


def test_gex_surface_leaves_out_contracts_settled_by_each_date():
    # The hand book expires 2025-10-10: on that date its contracts have settled and the day has nothing.
    books = pl.concat([HAND_BOOK.with_columns(pl.lit(EXPIRY - dt.timedelta(days=1)).alias("date")),
                       HAND_BOOK.with_columns(pl.lit(EXPIRY).alias("date"))])
    surface = gex_surface(books, {EXPIRY - dt.timedelta(days=1): 95.0, EXPIRY: 95.0}, 0.0, 0.0)
    assert surface["date"].unique().to_list() == [EXPIRY - dt.timedelta(days=1)]
