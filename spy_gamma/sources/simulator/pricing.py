"""Fair values of the simulated option universe: BSM on the simulated surface plus the price impact of prints."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from spy_gamma.quant.greeks import bsm_price
from spy_gamma.sources.simulator.market import DIVIDEND_YIELD, RATE, SpotDay, VolSurface, tte_years

REL_TS_BITS = 45  # session-relative ns (plus a 1,000 s margin before the open) fit in 45 bits; the key goes above
REL_TS_MARGIN_NS = 10**12
IMPACT_DECAY_NS = 60 * 10**9  # market makers re-centre on the model value within about a minute


def composite(key: np.ndarray, ts: np.ndarray, open_ns: int) -> np.ndarray:
    """One sortable int64 per (contract key, session-relative time)."""
    return (key.astype(np.int64) << REL_TS_BITS) | (ts - open_ns + REL_TS_MARGIN_NS)


@dataclass(frozen=True)
class PriceImpact:
    """Fair-value moves (cents) left by prints on their own contract, each fading linearly to zero over
    ``IMPACT_DECAY_NS``: impact(t) = sum over earlier prints j of a_j (1 - (t - t_j) / decay)."""

    open_ns: int
    order: np.ndarray  # composite (key, ts) of the prints, sorted
    cum_cents: np.ndarray  # running sums with a leading zero: a_j, and a_j * t_j (t in decay units)
    cum_cents_time: np.ndarray

    @classmethod
    def build(cls, key: np.ndarray, ts: np.ndarray, cents: np.ndarray, open_ns: int) -> PriceImpact:
        order = np.argsort(composite(key, ts, open_ns), kind="stable")
        t = (ts[order] - open_ns) / IMPACT_DECAY_NS
        return cls(open_ns, composite(key, ts, open_ns)[order], np.r_[0.0, np.cumsum(cents[order])],
                   np.r_[0.0, np.cumsum(cents[order] * t)])

    def at(self, key: np.ndarray, ts: np.ndarray) -> np.ndarray:
        """Impact in cents on each (key, ts) from the prints strictly before it within the decay window."""
        hi = np.searchsorted(self.order, composite(key, ts, self.open_ns), "left")
        lo = np.searchsorted(self.order, composite(key, ts - IMPACT_DECAY_NS, self.open_ns), "right")
        amount = self.cum_cents[hi] - self.cum_cents[lo]
        weighted_time = self.cum_cents_time[hi] - self.cum_cents_time[lo]
        return amount * (1.0 - (ts - self.open_ns) / IMPACT_DECAY_NS) + weighted_time


@dataclass(frozen=True)
class OptionPricer:
    """Fair values of a universe of contracts whose underlying moves as ``level * (SPY / SPY_open) ** beta``."""

    spot: SpotDay
    surface: VolSurface
    strike: np.ndarray
    is_call: np.ndarray
    expiry_close: np.ndarray
    level: np.ndarray
    beta: np.ndarray
    vol_scale: np.ndarray
    impact: PriceImpact | None = None

    def underlying(self, keys: np.ndarray, ts: np.ndarray) -> np.ndarray:
        return self.level[keys] * (self.spot.at(ts) / self.spot.path[0]) ** self.beta[keys]

    def value(self, keys: np.ndarray, ts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Fair value ($, impact included) and wing distance (|log-moneyness| in ATM standard deviations)."""
        s, k, tte = self.underlying(keys, ts), self.strike[keys], tte_years(ts, self.expiry_close[keys])
        vol = self.vol_scale[keys] * self.surface.implied_vol(s, k, tte)
        wing = np.abs(np.log(k / s)) / (self.surface.atm_vol(tte) * np.sqrt(tte))
        model = bsm_price(s, k, tte, RATE, DIVIDEND_YIELD, vol, self.is_call[keys])
        moved = 0.0 if self.impact is None else self.impact.at(keys, ts) / 100.0
        return np.maximum(model + moved, 0.0), wing

    def with_impact(self, impact: PriceImpact) -> OptionPricer:
        return dataclasses.replace(self, impact=impact)

    def recent_move(self, keys: np.ndarray, ts: np.ndarray) -> np.ndarray:
        """Sign of the option's fair-value drift over the last minute (delta sign x spot move)."""
        move = np.sign(self.spot.at(ts) - self.spot.at(ts - 60_000_000_000))
        return np.where(self.is_call[keys], move, -move)
