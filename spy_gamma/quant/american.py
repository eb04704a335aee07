"""Early exercise of SPY's American options: the premium of the American over the European price, and a flag.

Priced on a Cox-Ross-Rubinstein (1979) binomial tree with SPY's discrete cash dividends in the escrowed-dividend
model (Hull, "Options, Futures, and Other Derivatives", ch. 21): the tree carries S* = S - PV(dividends going ex
in the option's life) and a node's share price is S* plus the PV of the dividends still to come, so a call holder
can exercise just before an ex-date. A residual continuous yield on S* puts the tree on the expiry's parity
forward, whatever the dividend table misses (borrow, rounding). The premium is American minus European on the same
tree, so the tree's discretization error cancels. The Greeks stay European (smile vols from out-of-the-money
marks); in-the-money contracts whose premium is material are flagged, not re-priced.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from spy_gamma.quant.closing_vols import out_of_the_money
from spy_gamma.quant.expiry_time import NEW_YORK, NS_PER_YEAR, session_close_ns

CRR_STEPS = 200  # premium (same-tree European as control variate) vs 1600 steps, SPY-like $450, 18% vol, r 5.3%:
#                  within $0.005 at one month, $0.01 at six months, $0.04 on two-year puts; ~4 s for a full chain
MATERIAL_PREMIUM_USD = 0.05  # per share: five $0.01 ticks, wider than a liquid SPY strike's half-spread, so the
#                              American value shows in the market's own quotes and its Greeks differ visibly


def crr_prices(spot: float, strike, tte_years: float, r: float, q: float, sigma, is_call,
               dividend_times=(), dividend_amounts=(), steps: int = CRR_STEPS) -> tuple[np.ndarray, np.ndarray]:
    """(American, European) CRR prices per share for options of one expiry (strike, sigma, is_call broadcast).

    ``spot`` is the cum-dividend share price, ``q`` a continuous yield on the escrowed price S*, dividends are cash
    amounts going ex at ``dividend_times`` (years from now, inside (0, tte_years)). NaN where the tree's
    risk-neutral probability leaves (0, 1) (a carry too large for the step: a contract minutes from expiry whose
    forward implies a yield of thousands) or its prices overflow; such a tree is rolled back without warnings, its
    result discarded.
    """
    strike, sigma = np.atleast_1d(np.asarray(strike, float)), np.atleast_1d(np.asarray(sigma, float))
    strike, sigma, sign = np.broadcast_arrays(strike, sigma, np.where(np.asarray(is_call, bool), 1.0, -1.0))
    times, amounts = np.asarray(dividend_times, float), np.asarray(dividend_amounts, float)
    dt_step = tte_years / steps
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        american, european, prob = _rolled_back(spot, strike, sigma, sign, times, amounts, r, q, dt_step, steps)
    stable = ((prob > 0) & (prob < 1))[:, 0] & np.isfinite(american) & np.isfinite(european)
    return np.where(stable, american, np.nan), np.where(stable, european, np.nan)


def _rolled_back(spot: float, strike: np.ndarray, sigma: np.ndarray, sign: np.ndarray, times: np.ndarray,
                 amounts: np.ndarray, r: float, q: float, dt_step: float, steps: int
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The tree rolled back to today: American and European values per option, and each tree's up probability."""
    up = np.exp(sigma * np.sqrt(dt_step))[:, None]
    prob = (np.exp((r - q) * dt_step) - 1.0 / up) / (up - 1.0 / up)
    discount = np.exp(-r * dt_step)
    escrowed = spot - float(np.sum(amounts * np.exp(-r * times)))

    def pending(step: int) -> float:
        """PV at the step's time of the dividends still to go ex."""
        t = step * dt_step
        return float(np.sum(np.where(times > t, amounts * np.exp(-r * (times - t)), 0.0)))

    nodes = escrowed * up ** (2.0 * np.arange(steps + 1) - steps)  # S* at expiry, i up-moves
    payoff = np.maximum(sign[:, None] * (nodes - strike[:, None]), 0.0)
    american, european = payoff, payoff.copy()
    for step in range(steps - 1, -1, -1):
        nodes = nodes[:, 1:] / up  # S*_{j,i} = S*_{j+1,i+1} d
        european = discount * (prob * european[:, 1:] + (1.0 - prob) * european[:, :-1])
        held = discount * (prob * american[:, 1:] + (1.0 - prob) * american[:, :-1])
        american = np.maximum(held, sign[:, None] * (nodes + pending(step) - strike[:, None]))
    return american[:, 0], european[:, 0], prob


def dividends_in_life(dividends: pl.DataFrame, day: dt.date, expiry: dt.date) -> tuple[np.ndarray, np.ndarray]:
    """(years from ``day``'s close to each ex-date's midnight ET, amounts) for ex-dates in (day, expiry].

    An ex-date on the expiry day counts: the share goes ex at that morning's open, before the 16:00 expiry.
    """
    close_ns = session_close_ns(day)
    inside = dividends.filter((pl.col("ex_date") > day) & (pl.col("ex_date") <= expiry))
    times = [(int(dt.datetime.combine(d, dt.time(0), tzinfo=NEW_YORK).timestamp()) * 10**9 - close_ns) / NS_PER_YEAR
             for d in inside["ex_date"]]
    return np.array(times, dtype=float), inside["amount"].cast(pl.Float64).to_numpy()


def early_exercise(chain: pl.DataFrame, spot: float, r: float, dividends: pl.DataFrame, day: dt.date,
                   steps: int = CRR_STEPS) -> pl.DataFrame:
    """The chain plus ``early_exercise_premium`` ($/share), ``early_exercise_material``, ``early_exercise_check``.

    ``chain`` has ``expiry, strike, right, tte_years, forward, iv`` (``closing_vols.fitted_chain``); ``dividends``
    has ``ex_date, amount`` (``sources.dividends``). In-the-money contracts (vs the forward) are priced American and
    European at their Greeks' vol; material means premium >= MATERIAL_PREMIUM_USD. early_exercise_check says what
    was done: otm_european (out of the money: early exercise not worth checking, European), itm_immaterial,
    itm_material_flagged (Greeks stay European, flagged), not_priced (no vol, or an unstable tree).
    """
    parts = [_expiry_premiums(rows, spot, r, dividends, day, steps)
             for _, rows in chain.with_row_index("_row").partition_by("expiry", as_dict=True).items()]
    premiums = (pl.concat(parts) if parts else
                pl.DataFrame(schema={"_row": pl.UInt32, "early_exercise_premium": pl.Float64}))
    itm = ~out_of_the_money()
    material = pl.col("early_exercise_premium") >= MATERIAL_PREMIUM_USD
    return (chain.with_row_index("_row").join(premiums, on="_row", how="left").drop("_row")
            .with_columns(material.fill_null(False).alias("early_exercise_material"),
                          pl.when(~itm).then(pl.lit("otm_european"))
                          .when(pl.col("early_exercise_premium").is_null()).then(pl.lit("not_priced"))
                          .when(material).then(pl.lit("itm_material_flagged")).otherwise(pl.lit("itm_immaterial"))
                          .alias("early_exercise_check")))


def _expiry_premiums(rows: pl.DataFrame, spot: float, r: float, dividends: pl.DataFrame, day: dt.date,
                     steps: int) -> pl.DataFrame:
    """``_row, early_exercise_premium`` for one expiry's in-the-money contracts with a usable vol."""
    priced = rows.filter((pl.col("iv") > 0) & ~out_of_the_money())
    if priced.is_empty():
        return pl.DataFrame(schema={"_row": pl.UInt32, "early_exercise_premium": pl.Float64})
    tte, forward = float(priced["tte_years"][0]), float(priced["forward"][0])
    times, amounts = dividends_in_life(dividends, day, priced["expiry"][0])
    escrowed = spot - float(np.sum(amounts * np.exp(-r * times)))
    residual_q = r - np.log(forward / escrowed) / tte
    american, european = crr_prices(spot, priced["strike"].to_numpy(), tte, r, residual_q, priced["iv"].to_numpy(),
                                     (priced["right"] == "C").to_numpy(), times, amounts, steps)
    return priced.select("_row", pl.Series("early_exercise_premium", american - european).fill_nan(None))
