"""Other underlyings in the same OPRA files: prints a careless ``O:SPY`` prefix filter or a root mix-up keeps.

Each root's underlying moves as ``level * (SPY / SPY_open) ** beta``; no book is kept for them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import polars as pl

from spy_gamma.sources.simulator.flow import order_sizes, order_times
from spy_gamma.sources.simulator.market import SpotDay, VolSurface, occ_tickers, tte_years


@dataclass(frozen=True)
class NoiseRoot:
    root: str
    share: float  # of noise prints
    level: float
    beta: float
    vol_scale: float
    strike_step: float
    minute_bars: bool = False


NOISE_ROOTS = (
    NoiseRoot("SPYI", 0.01, 51.0, 0.9, 0.9, 1.0), NoiseRoot("SPYG", 0.01, 101.0, 1.1, 1.1, 1.0),
    NoiseRoot("SPXW", 0.14, 6480.0, 1.0, 1.0, 5.0), NoiseRoot("QQQ", 0.20, 585.0, 1.25, 1.3, 1.0, True),
    NoiseRoot("IWM", 0.08, 238.0, 1.3, 1.5, 1.0, True), NoiseRoot("DIA", 0.01, 455.0, 0.9, 1.0, 1.0, True),
    NoiseRoot("TSLA", 0.12, 345.0, 2.0, 3.5, 5.0), NoiseRoot("NVDA", 0.12, 170.0, 1.7, 2.6, 1.0),
    NoiseRoot("AAPL", 0.07, 238.0, 1.2, 1.8, 5.0), NoiseRoot("AMZN", 0.05, 230.0, 1.3, 2.2, 5.0),
    NoiseRoot("META", 0.04, 760.0, 1.4, 2.3, 5.0), NoiseRoot("AMD", 0.05, 160.0, 1.8, 3.0, 1.0),
    NoiseRoot("PLTR", 0.05, 175.0, 2.2, 4.0, 1.0), NoiseRoot("GLD", 0.03, 330.0, 0.1, 1.1, 1.0),
    NoiseRoot("TLT", 0.02, 88.0, -0.3, 0.9, 1.0),
)
ROOT_NAMES = [r.root for r in NOISE_ROOTS]
QUOTED_NOISE_ROOTS = ("SPYI", "SPYG")  # the roots whose quotes the quotes file carries
QUOTED_ROOT = np.array([r.root in QUOTED_NOISE_ROOTS for r in NOISE_ROOTS])


@dataclass(frozen=True)
class NoiseContracts:
    """The noise universe traded today, one row per contract (its key is the row position)."""

    tickers: pl.Series
    roots: np.ndarray  # index into NOISE_ROOTS
    strike: np.ndarray
    is_call: np.ndarray
    expiry_close: np.ndarray
    level: np.ndarray
    beta: np.ndarray
    vol_scale: np.ndarray

    @property
    def quoted(self) -> np.ndarray:
        """Contracts whose root's quotes are in the quotes file."""
        return QUOTED_ROOT[self.roots]


def noise_prints(n: int, spot: SpotDay, surface: VolSurface, expiries: list[dt.date], expiry_close: np.ndarray,
                 millisecond_clock: bool, rng: np.random.Generator) -> tuple[pl.DataFrame, NoiseContracts]:
    """Random-walk-side prints on other roots, near their money, on the listed expiries."""
    roots = rng.choice(len(NOISE_ROOTS), size=n, p=np.array([r.share for r in NOISE_ROOTS]) / sum(r.share for r in NOISE_ROOTS))
    spec = {f: np.array([getattr(r, f) for r in NOISE_ROOTS])[roots] for f in ("level", "beta", "vol_scale", "strike_step")}
    ts = order_times(n, spot, rng)
    if millisecond_clock:
        ts = ts // 1_000_000 * 1_000_000
    dte = np.array([(e - spot.day).days for e in expiries], dtype=np.float64)
    weights = np.exp(-dte / 5.0)
    expiry = rng.choice(dte.size, size=n, p=weights / weights.sum())
    tte = tte_years(ts, expiry_close[expiry])
    underlying = spec["level"] * (spot.at(ts) / spot.path[0]) ** spec["beta"]
    spread = np.maximum(0.6 * spec["vol_scale"] * surface.atm_vol(tte) * np.sqrt(tte), 0.004)
    moneyness = rng.standard_t(4, size=n) * spread
    # a heavy-tailed wing of a volatile root can round to a strike of 0, which no chain lists (and prices NaN)
    strike = np.maximum(np.round(underlying * np.exp(moneyness) / spec["strike_step"]), 1) * spec["strike_step"]
    is_call = np.where(moneyness > 0, rng.random(n) < 0.75, rng.random(n) < 0.25)
    strike_mills = np.round(strike * 1000).astype(np.int64)
    code = ((roots.astype(np.int64) * 64 + expiry) * 2 + is_call) << 32 | strike_mills  # one int per contract
    _, first, key = np.unique(code, return_index=True, return_inverse=True)
    r, e, c = roots[first], expiry[first], is_call[first]
    tickers = pl.DataFrame({"expiry": np.array(expiries, dtype="datetime64[D]")[e], "strike": strike_mills[first] / 1000.0,
                            "right": pl.Series(["P", "C"]).gather(c.astype(np.int64)),
                            "root": pl.Series(list(ROOT_NAMES)).gather(r)}).select(
        occ_tickers(pl.col("expiry").cast(pl.Date), pl.col("right"), pl.col("strike"), pl.col("root")).alias("ticker"))
    contracts = NoiseContracts(
        tickers=tickers.to_series(), roots=r, strike=strike_mills[first] / 1000.0, is_call=c,
        expiry_close=expiry_close[e], level=spec["level"][first], beta=spec["beta"][first],
        vol_scale=spec["vol_scale"][first])
    prints = pl.DataFrame({"key": key.ravel(), "ts": ts, "side": np.where(rng.random(n) < 0.5, 1, -1).astype(np.int8),
                           "size": order_sizes(n, rng), "is_multileg": rng.random(n) < 0.1, "cross": rng.random(n) < 0.03})
    return prints.sort("ts", "key"), contracts
