"""The simulated underlying: the SPY path per second (regular and extended hours), minute bars, the listed chain,
the vol surface."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import polars as pl

from spy_gamma.quant.expiry_time import MIN_TTE_YEARS, NS_PER_YEAR, expiry_close_ns
from spy_gamma.trading_calendar import session_close_ns, session_open_ns

RATE = 0.043
DIVIDEND_YIELD = 0.011
SPOT_START = 648.0
SPOT_BAND = (0.99, 1.035)  # soft walls relative to the start level: SPY traded ~645-670 in Sep-Oct 2025
INTRADAY_VOL = 0.14  # annualized diffusion vol of the per-second path
OVERNIGHT_GAP_SD = 0.004
MEAN_REVERSION_PER_DAY = 0.15  # pull of the anchor; keeps a month-long path in a realistic range
DAILY_LISTING_DAYS = 40  # Mon/Wed/Fri dailies appear ~5-6 weeks before expiry
MONTHLY_LISTING_DAYS = 150  # third-Friday monthlies are listed months ahead
STRIKE_COVERAGE = 0.13  # listed strikes cover at least +-12% of spot, $1 apart
SSVI_RHO, SSVI_ETA, SSVI_GAMMA = -0.7, 0.8, 0.5  # SSVI (Gatheral & Jacquier 2014) power-law skew
PRE_MARKET_MINUTES = 330  # 04:00-09:30 ET
AFTER_HOURS_MINUTES = 240  # 16:00-20:00 ET; 13:00-17:00 on early-close days
EXTENDED_VOL_SCALE = 0.45  # extended-hours moves per second vs the regular session's average (thin, news-driven)
EXTENDED_VOLUME_SHARE = 0.015  # an extended-hours minute trades ~1-2% of a regular minute's shares
SHARES_PER_PRINT = 120  # average stock print size, for the count of prints in a thin minute


def intraday_activity(seconds: np.ndarray, session_seconds: int) -> np.ndarray:
    """U-shaped intensity over the session (busy open and close), mean ~1."""
    from_open, to_close = seconds / 1800.0, (session_seconds - seconds) / 2400.0
    shape = 0.55 + 1.6 * np.exp(-from_open) + 1.1 * np.exp(-to_close)
    return shape / shape.mean()


@dataclass(frozen=True)
class SpotDay:
    """One day of SPY at each second: pre-market (04:00-09:30 ET), the regular session (index 0 = 09:30:00,
    ending at the 16:00 or 13:00 close) and after-hours (4 hours from the close)."""

    day: dt.date
    open_ns: int
    path: np.ndarray
    pre_market: np.ndarray
    after_hours: np.ndarray

    @property
    def seconds(self) -> int:
        """Length of the regular session in seconds (23,400; 12,600 on an early close)."""
        return self.path.size

    @property
    def close_ns(self) -> int:
        return self.open_ns + self.seconds * 1_000_000_000

    def at(self, timestamp_ns: np.ndarray) -> np.ndarray:
        """Spot prevailing at each timestamp in the regular session (the last whole second)."""
        second = (np.asarray(timestamp_ns) - self.open_ns) // 1_000_000_000
        return self.path[np.clip(second, 0, self.seconds - 1)]

    @property
    def close(self) -> float:
        """The regular-session close (the last second before the closing bell)."""
        return float(self.path[-1])

    @property
    def last(self) -> float:
        """The last after-hours price: where the next day's pre-market starts."""
        return float(self.after_hours[-1])


def simulate_spot_day(day: dt.date, previous: SpotDay | None, anchor: float, rng: np.random.Generator) -> SpotDay:
    """GBM with U-shaped intraday variance, an overnight gap from the previous after-hours price and a
    mean-reverting pull toward ``anchor``; pre-market bridges to the open, after-hours wanders from the close."""
    open_ns = session_open_ns(day)
    seconds = (session_close_ns(day) - open_ns) // 1_000_000_000
    last = SPOT_START if previous is None else previous.last
    gap = 0.0 if previous is None else (MEAN_REVERSION_PER_DAY * np.log(anchor / last)
                                        + OVERNIGHT_GAP_SD * rng.standard_normal())
    per_second = INTRADAY_VOL * np.sqrt(1.0 / (252 * 23_400))
    sigma = per_second * np.sqrt(intraday_activity(np.arange(seconds - 1), seconds))
    log_path = np.log(last) + gap + np.concatenate([[0.0], np.cumsum(sigma * rng.standard_normal(seconds - 1))])
    low_wall, high_wall = np.log(np.array(SPOT_BAND) * SPOT_START)
    # soft walls: reflect the excursion beyond the band (keeps returns' variance, bounds the level)
    log_path = np.where(log_path > high_wall, 2 * high_wall - log_path, log_path)
    log_path = np.where(log_path < low_wall, 2 * low_wall - log_path, log_path)
    path = np.exp(log_path)
    extended = EXTENDED_VOL_SCALE * per_second
    pre = brownian_bridge(np.log(last), log_path[0], PRE_MARKET_MINUTES * 60, extended, rng)
    after = log_path[-1] + np.cumsum(extended * rng.standard_normal(AFTER_HOURS_MINUTES * 60))
    return SpotDay(day, open_ns, path, np.exp(pre), np.exp(after))


def brownian_bridge(start: float, end: float, steps: int, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """``steps`` values of a Brownian bridge from ``start`` (first value) toward ``end`` (reached one step later)."""
    walk = np.concatenate([[0.0], np.cumsum(sigma * rng.standard_normal(steps))])
    fraction = np.arange(steps + 1) / steps
    return (start + fraction * (end - start) + walk - fraction * walk[-1])[:-1]


def extended_activity(minutes: np.ndarray, pre_market: bool) -> np.ndarray:
    """Relative trading in extended-hours minutes: thin overnight, rising into the open, fading after the close."""
    if pre_market:
        return 0.2 + 2.5 * np.exp(-(PRE_MARKET_MINUTES - minutes) / 40.0)
    return 0.2 + 3.0 * np.exp(-minutes / 20.0)


def minute_bars(spot: SpotDay, ticker: str, beta: float, level: float, volume_per_min: float,
                rng: np.random.Generator) -> pl.DataFrame:
    """1-minute aggregates 04:00-20:00 ET (16:00 -> 13:00 close and 17:00 end on early closes) for ``ticker``:
    a price ``level`` x (SPY move) ** ``beta``. Extended-hours minutes without a print have no bar."""
    def scaled(path: np.ndarray) -> np.ndarray:
        return level * (path / spot.path[0]) ** beta

    regular_minutes = spot.seconds // 60
    activity = intraday_activity(np.arange(regular_minutes) * 60.0 + 30.0, spot.seconds)
    volume = np.maximum(1, rng.lognormal(np.log(volume_per_min * activity), 0.35)).astype(np.int64)
    transactions = np.maximum(1, volume // rng.integers(80, 160, size=regular_minutes))
    regular = bars_frame(scaled(spot.path), spot.open_ns, volume, transactions)
    extended = []
    for path, first_ns, is_pre in ((spot.pre_market, spot.open_ns - PRE_MARKET_MINUTES * 60_000_000_000, True),
                                   (spot.after_hours, spot.close_ns, False)):
        minutes = path.size // 60
        shares = volume_per_min * EXTENDED_VOLUME_SHARE * extended_activity(np.arange(minutes), is_pre)
        prints = rng.poisson(shares / SHARES_PER_PRINT)
        sizes = np.maximum(1, np.round(prints * SHARES_PER_PRINT * rng.lognormal(0.0, 0.5, minutes)))
        extended.append(bars_frame(scaled(path), first_ns, sizes.astype(np.int64), prints)
                        .filter(pl.col("transactions") > 0))
    return pl.concat([extended[0], regular, extended[1]]).with_columns(pl.lit(ticker).alias("ticker")).select(
        "ticker", "volume", "open", "close", "high", "low", "window_start", "transactions")


def bars_frame(path: np.ndarray, first_ns: int, volume: np.ndarray, transactions: np.ndarray) -> pl.DataFrame:
    """OHLC of each whole minute of a per-second ``path`` starting at ``first_ns``."""
    minutes = path.reshape(-1, 60)
    return pl.DataFrame({
        "volume": volume, "open": np.round(minutes[:, 0], 2), "close": np.round(minutes[:, -1], 2),
        "high": np.round(minutes.max(axis=1), 2), "low": np.round(minutes.min(axis=1), 2),
        "window_start": first_ns + np.arange(minutes.shape[0], dtype=np.int64) * 60_000_000_000,
        "transactions": transactions.astype(np.int64),
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


def occ_tickers(expiry: pl.Expr, right: pl.Expr, strike: pl.Expr, root: pl.Expr) -> pl.Expr:
    """Vectorized ``quant.contracts.occ_ticker``: ``O:`` + root + YYMMDD + C/P + strike x1000 in 8 digits."""
    strike_mills = (strike * 1000).round().cast(pl.Int64).cast(pl.String).str.zfill(8)
    return pl.concat_str([pl.lit("O:"), root, expiry.dt.strftime("%y%m%d"), right, strike_mills])


def listed_chain(day: dt.date, reference_spot: float, expiries: list[dt.date],
                 held: pl.DataFrame) -> pl.DataFrame:
    """Contracts listed on ``day``: $1 strikes over +-13% of spot for each expiry, plus any still held."""
    strikes = np.arange(np.floor(reference_spot * (1 - STRIKE_COVERAGE)),
                        np.ceil(reference_spot * (1 + STRIKE_COVERAGE)) + 1)
    grid = pl.DataFrame({"expiry": expiries}, schema={"expiry": pl.Date}).join(
        pl.DataFrame({"right": ["C", "P"]}), how="cross").join(pl.DataFrame({"strike": strikes}), how="cross")
    chain = pl.concat([grid, held.select("expiry", "right", "strike").filter(pl.col("expiry") >= day)])
    return chain.unique().sort("expiry", "right", "strike").with_columns(
        occ_tickers(pl.col("expiry"), pl.col("right"), pl.col("strike"), pl.lit("SPY")).alias("ticker"))


def tte_years(timestamp_ns: np.ndarray, expiry_close: np.ndarray) -> np.ndarray:
    """ACT/365 years to the expiry close, floored at one minute (spy_gamma.quant.expiry_time)."""
    return np.maximum((expiry_close - timestamp_ns) / NS_PER_YEAR, MIN_TTE_YEARS)


def expiry_close_array(expiries: list[dt.date]) -> np.ndarray:
    """When each expiry stops trading (epoch ns), one calendar lookup per distinct date."""
    closes = {e: expiry_close_ns(e) for e in set(expiries)}
    return np.array([closes[e] for e in expiries], dtype=np.int64)


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
