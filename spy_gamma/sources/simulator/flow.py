"""Customer order flow on the SPY chain: who trades what, when, which way, in what size.

Themes that make dealer positioning non-trivial: 0DTE/1DTE churn near the money, OTM puts below spot and OTM
calls above it (bought and overwritten with ``book_sign`` +1: protective puts and covered calls; the other way
round with -1: put writing and call buying), and a persistent structure (call butterfly and put spread) around a
round strike, plus generic verticals and straddles. ``book_strength`` scales how one-way the themes are.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import polars as pl

from spy_gamma.sources.simulator.market import (
    SpotDay,
    VolSurface,
    intraday_activity,
    tte_years,
)
from spy_gamma.sources.simulator.params import MarketParams

CHURN, GENERAL, PROTECTIVE_PUT, OVERWRITE, STRUCTURE, SPREAD = range(6)
SINGLE_LEG_MIX = np.array([0.50, 0.30, 0.10, 0.10])  # churn, general, protective put, overwrite
PACKAGE_SHARE = 0.12  # of orders; legs make multi-leg prints ~12% of SPY prints
STRUCTURE_SHARE = 0.3  # of packages
# customer buy probability = 0.5 + book_strength x tilt (x book_sign for the OTM themes): at full strength hedgers
# trade 90/10 one way; short-dated churn leans slightly to buying (lottery tickets) whatever the book
THEME_TILT = np.array([0.03, 0.0, 0.4, -0.4])  # churn, general, OTM puts, OTM calls
# chance a customer means to close (if they hold the other side): (trading with, against) the theme's direction
CLOSE_INTENT = {CHURN: (0.5, 0.5), GENERAL: (0.35, 0.35), PROTECTIVE_PUT: (0.08, 0.75),
                OVERWRITE: (0.08, 0.75), STRUCTURE: (0.05, 0.6), SPREAD: (0.3, 0.3)}
CORRECTED_SHARE = 0.002


@dataclass(frozen=True)
class ChainIndex:
    """Row lookup of today's listed chain by (expiry position, right, strike)."""

    expiries: list[dt.date]
    expiry_close: np.ndarray
    min_strike: int
    table: np.ndarray  # [expiry, right (0 C, 1 P), strike - min_strike] -> chain row or -1

    @classmethod
    def build(cls, chain: pl.DataFrame, expiry_close: dict[dt.date, int]) -> ChainIndex:
        expiries = sorted(set(chain["expiry"].to_list()))
        position = {e: i for i, e in enumerate(expiries)}
        strikes = chain["strike"].to_numpy().round().astype(np.int64)
        table = np.full((len(expiries), 2, strikes.max() - strikes.min() + 1), -1, dtype=np.int64)
        e_idx = np.array([position[e] for e in chain["expiry"].to_list()])
        r_idx = (chain["right"] == "P").to_numpy().astype(np.int64)
        table[e_idx, r_idx, strikes - strikes.min()] = np.arange(chain.height)
        closes = np.array([expiry_close[e] for e in expiries], dtype=np.int64)
        return cls(expiries, closes, int(strikes.min()), table)

    def rows(self, expiry: np.ndarray, is_put: np.ndarray, strike: np.ndarray) -> np.ndarray:
        """Chain rows, -1 where the strike is not listed."""
        offset = strike - self.min_strike
        listed = (offset >= 0) & (offset < self.table.shape[2])
        found = self.table[expiry, is_put.astype(np.int64), np.clip(offset, 0, self.table.shape[2] - 1)]
        return np.where(listed, found, -1)


def order_times(n: int, spot: SpotDay, rng: np.random.Generator) -> np.ndarray:
    """Timestamps (ns) drawn from the U-shaped intraday activity profile."""
    weights = intraday_activity(np.arange(spot.seconds) + 0.5, spot.seconds)
    seconds = rng.choice(spot.seconds, size=n, p=weights / weights.sum())
    return spot.open_ns + seconds * 1_000_000_000 + rng.integers(0, 1_000_000_000, size=n)


def order_sizes(n: int, rng: np.random.Generator) -> np.ndarray:
    """Mostly 1-10 lots (lognormal), with a Pareto institutional tail up to thousands."""
    retail = np.ceil(rng.lognormal(0.6, 0.95, size=n))
    institutional = np.ceil(20 * (1 + rng.pareto(1.4, size=n)))
    sizes = np.where(rng.random(n) < 0.04, institutional, retail)
    return np.clip(sizes, 1, 5000).astype(np.int64)


def expiry_weights(flow: int, dte: np.ndarray, monthly: np.ndarray) -> np.ndarray:
    """Which listed expiries each theme trades (dte in calendar days)."""
    if flow == CHURN:
        return np.exp(-dte / 1.2)
    if flow == GENERAL:
        return np.exp(-dte / 6.0) + 0.05 * monthly
    if flow == PROTECTIVE_PUT:
        return np.exp(-(((dte - 21.0) / 14.0) ** 2)) + 0.3 * monthly
    if flow == OVERWRITE:
        return np.exp(-(((dte - 14.0) / 10.0) ** 2)) + 0.3 * monthly
    return np.exp(-dte / 8.0)


def pick_expiries(flows: np.ndarray, day: dt.date, index: ChainIndex, rng: np.random.Generator) -> np.ndarray:
    dte = np.array([(e - day).days for e in index.expiries], dtype=np.float64)
    monthly = np.array([15 <= e.day <= 21 and e.weekday() == 4 for e in index.expiries], dtype=np.float64)
    chosen = np.zeros(flows.size, dtype=np.int64)
    for flow in np.unique(flows):
        mask = flows == flow
        weights = expiry_weights(int(flow), dte, monthly)
        chosen[mask] = rng.choice(dte.size, size=int(mask.sum()), p=weights / weights.sum())
    return chosen


def pick_strikes(flows: np.ndarray, spot_now: np.ndarray, tte: np.ndarray, surface: VolSurface,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Strike and right per order: near the money for churn, OTM puts / calls for hedgers and overwriters."""
    n = flows.size
    spread = np.maximum(0.6 * surface.atm_vol(tte) * np.sqrt(tte), 0.003)
    near = rng.standard_t(4, size=n) * spread
    moneyness = np.select([flows == PROTECTIVE_PUT, flows == OVERWRITE],
                          [-(0.01 + rng.exponential(0.025, n)), 0.008 + rng.exponential(0.02, n)], near)
    otm_right_put = np.where(moneyness < 0, rng.random(n) < 0.75, rng.random(n) < 0.25)
    is_put = np.select([flows == PROTECTIVE_PUT, flows == OVERWRITE], [True, False], otm_right_put)
    strikes = np.round(spot_now * np.exp(moneyness)).astype(np.int64)
    return strikes, is_put


def theme_buys(params: MarketParams) -> np.ndarray:
    """Per theme: whether its customers open by buying (trading against the theme usually closes)."""
    return np.array([True, True, params.book_sign > 0, params.book_sign < 0, True, True])


def single_leg_orders(n: int, day: dt.date, spot: SpotDay, surface: VolSurface, index: ChainIndex,
                      params: MarketParams, rng: np.random.Generator) -> dict[str, np.ndarray]:
    flows = rng.choice(4, size=n, p=SINGLE_LEG_MIX)
    ts = order_times(n, spot, rng)
    expiry = pick_expiries(flows, day, index, rng)
    tte = tte_years(ts, index.expiry_close[expiry])
    strikes, is_put = pick_strikes(flows, spot.at(ts), tte, surface, rng)
    tilt = THEME_TILT * np.array([1, 1, params.book_sign, params.book_sign])
    side = np.where(rng.random(n) < 0.5 + params.book_strength * tilt[flows], 1, -1)
    return {"ts": ts, "row": index.rows(expiry, is_put, strikes), "side": side, "size": order_sizes(n, rng),
            "flow": flows, "package": np.full(n, -1), "cross": rng.random(n) < params.cross_share,
            "close_intent": close_intents(flows, side, theme_buys(params), rng)}


def package_legs(kind: np.ndarray, center: np.ndarray, width: np.ndarray) -> tuple[np.ndarray, ...]:
    """Leg table of packages: butterfly (1,-2,1 calls), put spread (+1 upper, -1 lower), vertical, straddle."""
    templates = {  # kind -> list of (strike offset in widths, is_put, ratio)
        0: [(-1, False, 1), (0, False, -2), (1, False, 1)],
        1: [(0, True, 1), (-1, True, -1)],
        2: [(0, False, 1), (1, False, -1)],
        3: [(0, True, 1), (-1, True, -1)],
        4: [(0, False, 1), (0, True, 1)],
    }
    pkg, strike, is_put, ratio = [], [], [], []
    for k, legs in templates.items():
        ids = np.flatnonzero(kind == k)
        for offset, put, leg_ratio in legs:
            pkg.append(ids)
            strike.append(center[ids] + offset * width[ids])
            is_put.append(np.full(ids.size, put))
            ratio.append(np.full(ids.size, leg_ratio))
    return tuple(np.concatenate(a) for a in (pkg, strike, is_put, ratio))


def package_orders(n: int, first_id: int, day: dt.date, spot: SpotDay, structure: tuple[dt.date, int] | None,
                   index: ChainIndex, params: MarketParams, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Multi-leg packages; the structure theme trades the fly / put spread around a round strike."""
    ts = order_times(n, spot, rng)
    tradable = structure is not None and structure[0] in index.expiries
    is_structure = (rng.random(n) < STRUCTURE_SHARE) & tradable
    expiry = pick_expiries(np.full(n, SPREAD), day, index, rng)
    center = np.round(spot.at(ts)).astype(np.int64)
    width = rng.integers(1, 6, size=n)
    kind = rng.choice([2, 3, 4], size=n, p=[0.4, 0.35, 0.25])
    side = np.where(rng.random(n) < 0.5, 1, -1)
    if is_structure.any():
        expiry[is_structure] = index.expiries.index(structure[0])
        center[is_structure] = structure[1]
        width[is_structure] = 10
        kind[is_structure] = rng.choice([0, 1], size=int(is_structure.sum()), p=[0.65, 0.35])
        side[is_structure] = np.where(rng.random(int(is_structure.sum())) < 0.85, 1, -1)
    pkg, strike, is_put, ratio = package_legs(kind, center, width)
    sizes = order_sizes(n, rng)
    leg_ts = ts[pkg] + rng.integers(0, 300_000, size=pkg.size)
    flows = np.where(is_structure, STRUCTURE, SPREAD)
    return {"ts": leg_ts, "row": index.rows(expiry[pkg], is_put, strike), "side": side[pkg] * np.sign(ratio),
            "size": sizes[pkg] * np.abs(ratio), "flow": flows[pkg], "package": first_id + pkg,
            "cross": (rng.random(n) < params.cross_share)[pkg],
            "close_intent": close_intents(flows, side, theme_buys(params), rng)[pkg]}


def customer_orders(n_prints: int, day: dt.date, spot: SpotDay, surface: VolSurface, index: ChainIndex,
                    structure: tuple[dt.date, int] | None, millisecond_clock: bool, params: MarketParams,
                    rng: np.random.Generator) -> pl.DataFrame:
    """The day's SPY prints before pricing: chain row, time, customer side, size, theme, package, cross flag."""
    n_packages = round(n_prints * PACKAGE_SHARE / 2.6)
    single = single_leg_orders(n_prints - int(2.6 * n_packages), day, spot, surface, index, params, rng)
    legs = package_orders(n_packages, 0, day, spot, structure, index, params, rng)
    orders = pl.DataFrame({k: np.concatenate([single[k], legs[k]]) for k in single})
    orders = orders.filter(pl.col("row") >= 0)  # drop strikes that fell outside the listed range
    if millisecond_clock:
        orders = orders.with_columns(pl.col("ts") // 1_000_000 * 1_000_000)
    n = orders.height
    return orders.with_columns(
        pl.col("side").cast(pl.Int8),
        pl.Series("contra_close_intent", rng.random(n) < 0.35),
        pl.Series("corrected", rng.random(n) < CORRECTED_SHARE),
        (pl.col("package") >= 0).alias("is_multileg"),
    ).sort("ts", "row")


def close_intents(flows: np.ndarray, side: np.ndarray, buys: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Whether each customer wants to close (if they hold the other side): themes open, reversals close."""
    against_theme = (side == 1) != buys[flows]
    with_p = np.array([CLOSE_INTENT[f][0] for f in range(6)])[flows]
    against_p = np.array([CLOSE_INTENT[f][1] for f in range(6)])[flows]
    return rng.random(flows.size) < np.where(against_theme, against_p, with_p)
