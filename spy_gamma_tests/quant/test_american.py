"""American early exercise: the CRR tree against QuantLib's American engines, hand-worked flags, a real Cboe chain."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import polars as pl
import pytest
import QuantLib as ql

from spy_gamma.quant.american import MATERIAL_PREMIUM_USD, crr_prices, dividends_in_life, early_exercise
from spy_gamma.quant.expiry_time import session_close_ns, tte_years, tte_years_expr
from spy_gamma.quant.forwards import parity_forwards
from spy_gamma.quant.greeks import bsm_price
from spy_gamma.sources.cboe_chain import read_cboe_chain
from spy_gamma.sources.dividends import read_ex_dividends
from spy_gamma_tests.conftest import REALDATA

TODAY = ql.Date(15, 1, 2025)
CBOE_2023 = REALDATA / "cboe_delayed_quotes_chains" \
    / "spy_quotedata_2023-09-14_1631ET_full.csv"


def quantlib_option(spot, strike, days, r, q, vol, call, engine, dividends=()):
    """NPV of a QuantLib vanilla (American unless engine == 'european_dividend'), ACT/365, expiry in whole days."""
    ql.Settings.instance().evaluationDate = TODAY
    dc = ql.Actual365Fixed()
    payoff = ql.PlainVanillaPayoff(ql.Option.Call if call else ql.Option.Put, strike)
    expiry = TODAY + days
    exercise = ql.EuropeanExercise(expiry) if engine == "european_dividend" else ql.AmericanExercise(TODAY, expiry)
    option = ql.VanillaOption(payoff, exercise)
    process = ql.BlackScholesMertonProcess(
        ql.QuoteHandle(ql.SimpleQuote(spot)), ql.YieldTermStructureHandle(ql.FlatForward(TODAY, q, dc)),
        ql.YieldTermStructureHandle(ql.FlatForward(TODAY, r, dc)),
        ql.BlackVolTermStructureHandle(ql.BlackConstantVol(TODAY, ql.NullCalendar(), vol, dc)))
    schedule = ql.DividendVector([TODAY + d for d, _ in dividends], [a for _, a in dividends])
    option.setPricingEngine({
        "crr": lambda: ql.BinomialVanillaEngine(process, "crr", 200),
        "baw": lambda: ql.BaroneAdesiWhaleyApproximationEngine(process),
        "fd_escrowed": lambda: ql.FdBlackScholesVanillaEngine(process, schedule, 800, 800, 0, ql.FdmSchemeDesc.Douglas(),
                                                              False, -ql.nullDouble(),
                                                              ql.FdBlackScholesVanillaEngine.Escrowed),
        "european_dividend": lambda: ql.AnalyticDividendEuropeanEngine(process, schedule),
    }[engine]())
    return option.NPV()


@pytest.mark.parametrize(("strike", "call", "r", "q"), [
    (110.0, False, 0.05, 0.0), (120.0, False, 0.05, 0.01), (100.0, False, 0.03, 0.0),
    (85.0, True, 0.02, 0.06), (100.0, True, 0.05, 0.0)])
def test_crr_matches_quantlib_binomial_and_baw(strike, call, r, q):
    american, european = crr_prices(100.0, strike, 91 / 365, r, q, 0.2, call)
    assert american[0] == pytest.approx(quantlib_option(100.0, strike, 91, r, q, 0.2, call, "crr"), abs=2e-3)
    assert american[0] == pytest.approx(quantlib_option(100.0, strike, 91, r, q, 0.2, call, "baw"), rel=0.01)
    assert european[0] == pytest.approx(float(bsm_price(100.0, strike, 91 / 365, r, q, 0.2, call)), abs=0.01)


@pytest.mark.parametrize(("strike", "call"), [(80.0, True), (95.0, True), (100.0, True), (110.0, False)])
def test_crr_with_a_cash_dividend_matches_quantlib_escrowed_engines(strike, call):
    # $2 going ex in 30 days, expiry in 91: QuantLib's finite-difference American with the escrowed cash-dividend
    # model and its analytic European with dividends (the same escrowed model).
    args = (100.0, strike, 91, 0.05, 0.0, 0.2, call)
    american, european = crr_prices(100.0, strike, 91 / 365, 0.05, 0.0, 0.2, call, [30 / 365], [2.0])
    assert american[0] == pytest.approx(quantlib_option(*args, "fd_escrowed", [(30, 2.0)]), abs=0.01)
    assert european[0] == pytest.approx(quantlib_option(*args, "european_dividend", [(30, 2.0)]), abs=0.01)


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("q", [5000.0, -5000.0, 1e5])
def test_a_tree_minutes_from_expiry_with_a_carry_too_large_for_its_step_is_not_priced_and_warns_nothing(q):
    # one minute to expiry (as on an expiry day's close), a forward a few cents from spot: a yield of thousands
    american, european = crr_prices(600.0, [590.0, 610.0], 1.9e-6, 0.04, q, [0.01, 0.01], [True, False])
    assert np.isnan(american).all() and np.isnan(european).all()


def test_dividends_in_life_count_ex_dates_after_today_up_to_the_expiry():
    table = pl.DataFrame({"ex_date": [dt.date(2025, 9, 18), dt.date(2025, 9, 19), dt.date(2025, 12, 19)],
                          "amount": [9.0, 1.831114, 1.97]})
    # From the 2025-09-18 close (16:00 EDT) to 2025-09-19 00:00 EDT: 8 hours = 8 / (24 * 365) years. Today's own
    # ex-date is already in the price; December's is after the expiry.
    times, amounts = dividends_in_life(table, dt.date(2025, 9, 18), dt.date(2025, 9, 19))
    assert times == pytest.approx([8 / (24 * 365)]) and amounts.tolist() == [1.831114]
    assert dividends_in_life(table, dt.date(2025, 9, 19), dt.date(2025, 10, 17))[0].size == 0


def test_early_exercise_flags_on_a_hand_chain():
    # Close of Thu 2025-09-18, spot 661, r 4.3%; SPY goes ex $1.831114 at Friday's open (t = 8 h); expiry Fri
    # 2025-09-26 (T = 8 days). No other carry: F = (661 - 1.831114 e^{-r t}) e^{rT}.
    day, expiry, spot, r = dt.date(2025, 9, 18), dt.date(2025, 9, 26), 661.0, 0.043
    dividends = pl.DataFrame({"ex_date": [dt.date(2025, 9, 19)], "amount": [1.831114]})
    tte, t_div = tte_years(session_close_ns(day), expiry), 8 / (24 * 365)
    forward = (spot - 1.831114 * math.exp(-r * t_div)) * math.exp(r * tte)
    chain = pl.DataFrame({"expiry": [expiry] * 5, "strike": [550.0, 700.0, 780.0, 650.0, 620.0],
                          "right": ["C", "C", "P", "C", "C"], "tte_years": [tte] * 5, "forward": [forward] * 5,
                          "iv": [0.15, 0.15, 0.15, 0.2, None]})
    flagged = {(row["right"], row["strike"]): row for row in
               early_exercise(chain, spot, r, dividends, day).iter_rows(named=True)}
    # Deep ITM call K=550 (8 sd in the money: no time value): exercising before the ex-date beats holding, American =
    # S - K = 111 (plus at most the interest on K until the ex-date midnight, K r 8h = $0.022, which the calendar-time
    # tree lets a holder earn); European = e^{-rT}(F - K). Premium = 1.831114 e^{-r t} - 550 (1 - e^{-rT}) = 1.3127
    premium = 111.0 - math.exp(-r * tte) * (forward - 550.0)
    assert flagged[("C", 550.0)]["early_exercise_premium"] == pytest.approx(premium + 0.011, abs=0.012)
    assert flagged[("C", 550.0)]["early_exercise_check"] == "itm_material_flagged"
    otm = flagged[("C", 700.0)]
    assert otm["early_exercise_check"] == "otm_european" and otm["early_exercise_premium"] is None
    assert flagged[("C", 620.0)]["early_exercise_check"] == "not_priced"  # no vol
    # Without the dividend (F = S e^{rT}): an ITM call is never exercised early (r > 0), premium ~0, immaterial;
    # the deep ITM put K=780 is exercised at once, American = K - S = 119, European = e^{-rT}(K - F) = e^{-rT} K - S:
    # premium = 780 (1 - e^{-rT}) = 0.7349, material.
    no_dividend = early_exercise(chain.with_columns(pl.lit(spot * math.exp(r * tte)).alias("forward")), spot, r,
                                 dividends.clear(), day)
    rows = {(row["right"], row["strike"]): row for row in no_dividend.iter_rows(named=True)}
    assert abs(rows[("C", 650.0)]["early_exercise_premium"]) < 1e-3
    assert rows[("C", 650.0)]["early_exercise_check"] == "itm_immaterial"
    assert rows[("P", 780.0)]["early_exercise_premium"] == pytest.approx(780 * (1 - math.exp(-r * tte)), abs=1e-6)
    assert rows[("P", 780.0)]["early_exercise_material"] and MATERIAL_PREMIUM_USD == 0.05


def test_real_deep_itm_calls_before_an_ex_date_trade_at_the_american_value():
    # Cboe 2023-09-14 after the close: SPY went ex $1.58317 on 2023-09-15, the expiry day of the front weekly. Its
    # deep ITM calls are quoted around S - K (exercise tonight), not the European e^{-rT}(F - K) ~$1.4 lower.
    day, r = dt.date(2023, 9, 14), 0.053
    chain = read_cboe_chain(CBOE_2023)
    marks = chain.filter((pl.col("expiry") > day) & (pl.col("bid") > 0)).with_columns(
        tte_years_expr(pl.lit(session_close_ns(day)), pl.col("expiry")).alias("tte_years"),
        ((pl.col("bid") + pl.col("ask")) / 2).alias("mark"))
    put_vols = marks.filter(pl.col("right") == "P").select("expiry", "strike", pl.col("iv").alias("put_iv"))
    front = (marks.filter((pl.col("expiry") == dt.date(2023, 9, 15)) & (pl.col("right") == "C")
                          & pl.col("strike").is_between(420, 440))
             .join(parity_forwards(marks, r), on="expiry").join(put_vols, on=["expiry", "strike"])
             .with_columns(pl.col("put_iv").alias("iv")))  # the OTM side's vol, as the Greeks use
    priced = early_exercise(front, chain["spot"][0], r, read_ex_dividends(), day)
    european = (np.exp(-r * priced["tte_years"]) * (priced["forward"] - priced["strike"])).to_numpy()
    mid = priced["mark"].to_numpy()
    american = european + priced["early_exercise_premium"].to_numpy()
    print(f"\nCboe 2023-09-14 Sep-15 calls 420-440: median premium {np.median(american - european):.3f}, "
          f"median |mid - American| {np.median(np.abs(mid - american)):.3f}, |mid - European| "
          f"{np.median(np.abs(mid - european)):.3f}")
    assert priced.height == 21 and priced["early_exercise_material"].all()
    assert np.median(np.abs(mid - american)) < 0.1 and np.median(mid - european) > 1.3
