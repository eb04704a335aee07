"""The simulated underlying: NYSE sessions, the SPY path per second, minute bars, the listed chain, the vol surface."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import polars as pl

from spy_gamma.quant.contracts import occ_ticker
from spy_gamma.quant.expiry_time import NEW_YORK, NS_PER_YEAR, expiry_close_ns

RATE = 0.043
DIVIDEND_YIELD = 0.011
SESSION_SECONDS = 23_400  # 09:30-16:00 ET
SPOT_START = 648.0
SPOT_BAND = (0.99, 1.035)  # soft walls relative to the start level: SPY traded ~645-670 in Sep-Oct 2025
INTRADAY_VOL = 0.14  # annualized diffusion vol of the per-second path
OVERNIGHT_GAP_SD = 0.004
MEAN_REVERSION_PER_DAY = 0.15  # pull of the anchor; keeps a month-long path in a realistic range
DAILY_LISTING_DAYS = 40  # Mon/Wed/Fri dailies appear ~5-6 weeks before expiry
MONTHLY_LISTING_DAYS = 150  # third-Friday monthlies are listed months ahead
STRIKE_COVERAGE = 0.13  # listed strikes cover at least +-12% of spot, $1 apart
SSVI_RHO, SSVI_ETA, SSVI_GAMMA = -0.7, 0.8, 0.5  # SSVI (Gatheral & Jacquier 2014) power-law skew


def session_open_ns(day: dt.date) -> int:
    """Epoch nanoseconds of the 09:30 ET open."""
    return int(dt.datetime.combine(day, dt.time(9, 30), tzinfo=NEW_YORK).timestamp()) * 1_000_000_000


def intraday_activity(seconds: np.ndarray) -> np.ndarray:
    """U-shaped intensity over the session (busy open and close), mean ~1."""
    from_open, to_close = seconds / 1800.0, (SESSION_SECONDS - seconds) / 2400.0
    shape = 0.55 + 1.6 * np.exp(-from_open) + 1.1 * np.exp(-to_close)
    return shape / shape.mean()


@dataclass(frozen=True)
class SpotDay:
    """One session of SPY: the price at each second from the open (index 0 = 09:30:00)."""

    day: dt.date
    open_ns: int
    path: np.ndarray

    def at(self, timestamp_ns: np.ndarray) -> np.ndarray:
        """Spot prevailing at each timestamp (the last whole second)."""
        second = (np.asarray(timestamp_ns) - self.open_ns) // 1_000_000_000
        return self.path[np.clip(second, 0, SESSION_SECONDS - 1)]

    @property
    def close(self) -> float:
        return float(self.path[-1])


def simulate_spot_day(day: dt.date, previous_close: float | None, anchor: float,
                      rng: np.random.Generator) -> SpotDay:
    """GBM with U-shaped intraday variance, an overnight gap and a mean-reverting pull toward ``anchor``."""
    if previous_close is None:
        opening = SPOT_START
    else:
        pull = MEAN_REVERSION_PER_DAY * np.log(anchor / previous_close)
        opening = previous_close * np.exp(pull + OVERNIGHT_GAP_SD * rng.standard_normal())
    dt_years = 1.0 / (252 * SESSION_SECONDS)
    seconds = np.arange(SESSION_SECONDS - 1)
    sigma = INTRADAY_VOL * np.sqrt(intraday_activity(seconds))
    shocks = sigma * np.sqrt(dt_years) * rng.standard_normal(seconds.size)
    log_path = np.log(opening) + np.concatenate([[0.0], np.cumsum(shocks)])
    low_wall, high_wall = np.log(np.array(SPOT_BAND) * SPOT_START)
    # soft walls: reflect the excursion beyond the band (keeps returns' variance, bounds the level)
    log_path = np.where(log_path > high_wall, 2 * high_wall - log_path, log_path)
    log_path = np.where(log_path < low_wall, 2 * low_wall - log_path, log_path)
    return SpotDay(day, session_open_ns(day), np.exp(log_path))


def minute_bars(spot: SpotDay, ticker: str, beta: float, level: float, volume_per_min: float,
                rng: np.random.Generator) -> pl.DataFrame:
    """1-minute aggregates 09:30-15:59 for ``ticker``: a price ``level`` x (SPY move) ** ``beta``."""
    path = level * (spot.path / spot.path[0]) ** beta
    minutes = path.reshape(390, 60)
    opens, closes = np.round(minutes[:, 0], 2), np.round(minutes[:, -1], 2)
    highs, lows = np.round(minutes.max(axis=1), 2), np.round(minutes.min(axis=1), 2)
    activity = intraday_activity(np.arange(390) * 60.0 + 30.0)
    volume = np.maximum(1, rng.lognormal(np.log(volume_per_min * activity), 0.35)).astype(np.int64)
    trades = np.maximum(1, volume // rng.integers(80, 160, size=390))
    return pl.DataFrame({
        "ticker": [ticker] * 390, "volume": volume, "open": opens, "close": closes, "high": highs,
        "low": lows, "window_start": spot.open_ns + np.arange(390, dtype=np.int64) * 60_000_000_000,
        "transactions": trades,
    })


def third_friday(year: int, month: int) -> dt.date:
    first = dt.date(year, month, 1)
    return first + dt.timedelta(days=(4 - first.weekday()) % 7 + 14)


def listed_expiries(day: dt.date, sessions: set[dt.date]) -> list[dt.date]:
    """Expiries trading on ``day``: Mon/Wed/Fri dailies within ~6 weeks, third-Friday monthlies within ~5 months."""
    horizon = [day + dt.timedelta(days=k) for k in range(MONTHLY_LISTING_DAYS + 1)]
    dailies = {d for d in horizon[: DAILY_LISTING_DAYS + 1] if d.weekday() in (0, 2, 4)}
    monthlies = {d for d in horizon if d == third_friday(d.year, d.month)}
    return sorted(d for d in dailies | monthlies if d in sessions)


def listed_chain(day: dt.date, reference_spot: float, expiries: list[dt.date],
                 held: pl.DataFrame) -> pl.DataFrame:
    """Contracts listed on ``day``: $1 strikes over +-13% of spot for each expiry, plus any still held."""
    strikes = np.arange(np.floor(reference_spot * (1 - STRIKE_COVERAGE)),
                        np.ceil(reference_spot * (1 + STRIKE_COVERAGE)) + 1)
    grid = pl.DataFrame({"expiry": expiries}).join(
        pl.DataFrame({"right": ["C", "P"]}), how="cross").join(pl.DataFrame({"strike": strikes}), how="cross")
    chain = pl.concat([grid, held.select("expiry", "right", "strike").filter(pl.col("expiry") >= day)])
    chain = chain.unique().sort("expiry", "right", "strike")
    tickers = [occ_ticker(e, r, k) for e, r, k in chain.select("expiry", "right", "strike").iter_rows()]
    return chain.with_columns(pl.Series("ticker", tickers))


def tte_years(timestamp_ns: np.ndarray, expiry_close: np.ndarray) -> np.ndarray:
    """ACT/365 years to the 16:00 ET expiry close, floored at one minute (spy_gamma.quant.expiry_time)."""
    return np.maximum((expiry_close - timestamp_ns) / NS_PER_YEAR, 60.0 / (365.0 * 86_400))


def expiry_close_array(expiries: list[dt.date]) -> np.ndarray:
    return np.array([expiry_close_ns(e) for e in expiries], dtype=np.int64)


@dataclass(frozen=True)
class VolSurface:
    """SSVI implied-vol surface (Gatheral & Jacquier 2014) with an ATM term structure scaled by a daily level."""

    level: float

    def atm_vol(self, tte: np.ndarray) -> np.ndarray:
        """ATM vol: elevated at the very short end, ~13-14% at a month, drifting up with maturity."""
        days = tte * 365.0
        return self.level * (0.125 + 0.03 * np.exp(-days / 10.0) + 0.012 * (1.0 - np.exp(-days / 60.0)))

    def implied_vol(self, spot: np.ndarray, strike: np.ndarray, tte: np.ndarray) -> np.ndarray:
        """Vol at log-moneyness k = ln(K/F): w(k) = theta/2 (1 + rho phi k + sqrt((phi k + rho)^2 + 1 - rho^2))."""
        forward = spot * np.exp((RATE - DIVIDEND_YIELD) * tte)
        k = np.log(strike / forward)
        theta = self.atm_vol(tte) ** 2 * tte
        phi = SSVI_ETA / (theta ** SSVI_GAMMA * (1.0 + theta) ** (1.0 - SSVI_GAMMA))
        total_variance = 0.5 * theta * (1.0 + SSVI_RHO * phi * k
                                        + np.sqrt((phi * k + SSVI_RHO) ** 2 + 1.0 - SSVI_RHO ** 2))
        return np.minimum(np.sqrt(total_variance / tte), 3.0)

    def describe(self) -> dict[str, float]:
        return {"level": self.level, "rho": SSVI_RHO, "eta": SSVI_ETA, "gamma": SSVI_GAMMA}


def next_vol_level(previous_log_level: float, overnight_return: float, rng: np.random.Generator) -> float:
    """AR(1) log vol level that rises when spot falls (leverage effect)."""
    return 0.75 * previous_log_level - 4.0 * overnight_return + 0.05 * rng.standard_normal()
