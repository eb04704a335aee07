"""Quotes (NBBO) and trade prints around customer orders: where each print lands relative to the quote.

Mechanisms make the classic signing rules informative for the right reasons, never by fiat:
customer market orders hit the quote; customer limit orders resting at the quote get lifted by market makers
(trade size = displayed size: the GSU trade-size rule, Grauer, Schuster & Uhrig-Homburg 2023); mid prints
carry a depth imbalance (GSU depth rule); inside prints lean toward the initiator; price-improvement auctions
print near the mid; multi-leg legs price off the package; some quotes are stale when the trade prints.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from spy_gamma.quant import conditions as cond
from spy_gamma.quant.greeks import bsm_price
from spy_gamma.sources.simulator.market import (
    DIVIDEND_YIELD,
    RATE,
    SESSION_SECONDS,
    SpotDay,
    VolSurface,
    tte_years,
)

AGGRESSOR, RESTING, INSIDE, MID, AUCTION, MULTILEG, CROSS = range(7)
# single-leg dealer prints: market orders, resting customer limits, inside, mid, price-improvement auction
SINGLE_LEG_MECHANISMS = np.array([0.20, 0.10, 0.37, 0.25, 0.08])
INSIDE_TOWARD_INITIATOR = 0.72
DEPTH_INFORMATIVE = 0.8
FULL_FILL_OF_RESTING = 0.7
AGGRESSOR_TAKES_LEVEL = 0.08
STALE_SHARE = 0.05  # prints whose displayed quote lags the executable one
THROUGH_SHARE = 0.03
OPTION_EXCHANGES = np.array([300, 301, 302, 303, 304, 307, 308, 309, 312, 313, 315, 316, 319, 322, 323, 325])
REL_TS_BITS = 45  # session-relative ns fit in 45 bits; contract key goes above


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

    def underlying(self, keys: np.ndarray, ts: np.ndarray) -> np.ndarray:
        return self.level[keys] * (self.spot.at(ts) / self.spot.path[0]) ** self.beta[keys]

    def value(self, keys: np.ndarray, ts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Fair value ($) and wing distance (|log-moneyness| in ATM standard deviations)."""
        s, k, tte = self.underlying(keys, ts), self.strike[keys], tte_years(ts, self.expiry_close[keys])
        vol = self.vol_scale[keys] * self.surface.implied_vol(s, k, tte)
        wing = np.abs(np.log(k / s)) / (self.surface.atm_vol(tte) * np.sqrt(tte))
        return bsm_price(s, k, tte, RATE, DIVIDEND_YIELD, vol, self.is_call[keys]), wing

    def recent_move(self, keys: np.ndarray, ts: np.ndarray) -> np.ndarray:
        """Sign of the option's fair-value drift over the last minute (delta sign x spot move)."""
        move = np.sign(self.spot.at(ts) - self.spot.at(ts - 60_000_000_000))
        return np.where(self.is_call[keys], move, -move)


def spread_cents(fair_value: np.ndarray, wing: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Quoted width: a penny or two for cheap near options, $0.05-0.30 for pricier or far ones."""
    width = 1.0 + 1.4 * fair_value ** 0.9 * (1.0 + 0.15 * np.clip(wing - 2.0, 0.0, 4.0))
    return np.clip(np.round(width) + (rng.random(fair_value.size) < 0.3), 1, 30).astype(np.int64)


def quote_sizes(n: int, rng: np.random.Generator) -> np.ndarray:
    return np.clip(np.round(rng.lognormal(np.log(60), 1.0, size=n)), 1, 5000).astype(np.int64)


@dataclass
class Quotes:
    """Quote events (cents, contracts) for a set of (key, timestamp)."""

    key: np.ndarray
    ts: np.ndarray
    bid: np.ndarray
    ask: np.ndarray
    bid_size: np.ndarray
    ask_size: np.ndarray

    @classmethod
    def natural(cls, key: np.ndarray, ts: np.ndarray, fair_value: np.ndarray, wing: np.ndarray,
                rng: np.random.Generator) -> Quotes:
        """Market-maker quotes centred near fair value; cheap far options get a zero bid."""
        width = spread_cents(fair_value, wing, rng)
        bid = np.maximum(0, np.round(fair_value * 100 - width / 2 + rng.uniform(-0.5, 0.5, key.size)))
        bid = bid.astype(np.int64)
        return cls(key, ts, bid, bid + width, quote_sizes(key.size, rng), quote_sizes(key.size, rng))

    def take(self, index: np.ndarray) -> Quotes:
        return Quotes(*(getattr(self, f)[index] for f in ("key", "ts", "bid", "ask", "bid_size", "ask_size")))

    @staticmethod
    def concat(parts: list[Quotes]) -> Quotes:
        return Quotes(*(np.concatenate([getattr(p, f) for p in parts])
                        for f in ("key", "ts", "bid", "ask", "bid_size", "ask_size")))


def assign_mechanisms(is_multileg: np.ndarray, cross: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    drawn = rng.choice(SINGLE_LEG_MECHANISMS.size, size=cross.size, p=SINGLE_LEG_MECHANISMS)
    return np.select([cross, is_multileg], [CROSS, MULTILEG], drawn)


def quote_gaps(key: np.ndarray, ts: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Lead of each print's own pre-trade quote and lag of its post-trade quote (ns, 0 = none), prints sorted by
    (key, ts): each fits within 40% of the gap to the neighbouring print so it stays that print's own quote."""
    n = key.size
    same_prev = np.r_[False, key[1:] == key[:-1]]
    gap_prev = np.where(same_prev, np.diff(ts, prepend=ts[:1]), 10**15)
    gap_next = np.r_[gap_prev[1:], 10**15]
    slow = rng.random(n) < 0.03  # quotes older than ~1 s at the print: rare for SPY options
    lead = np.where(slow, rng.lognormal(np.log(1.5e9), 0.8, n), rng.lognormal(np.log(3e7), 1.2, n))
    lag = rng.lognormal(np.log(5e6), 1.0, n)
    lead = np.minimum(lead, 0.4 * gap_prev).astype(np.int64)
    lag = np.minimum(lag, 0.4 * gap_next).astype(np.int64)
    return lead, lag


def shape_pre_quotes(pre: Quotes, mechanism: np.ndarray, side: np.ndarray, size: np.ndarray,
                     wants_mid: np.ndarray, rng: np.random.Generator) -> None:
    """Pre-trade quote as the mechanism needs it: resting customer size on display, depth imbalance at mid."""
    n = side.size
    odd = (pre.ask - pre.bid) % 2 == 1
    pre.ask = np.where(wants_mid & odd, pre.ask + 1, pre.ask)
    displayed = np.where(rng.random(n) < FULL_FILL_OF_RESTING, size,
                         size + np.ceil(rng.lognormal(np.log(10), 1.0, n)).astype(np.int64))
    resting_ask = (mechanism == RESTING) & (side == -1)
    resting_bid = (mechanism == RESTING) & (side == 1)
    takes_level = (mechanism == AGGRESSOR) & (rng.random(n) < AGGRESSOR_TAKES_LEVEL)
    pre.ask_size = np.where(resting_ask | (takes_level & (side == 1)), displayed, pre.ask_size)
    pre.bid_size = np.where(resting_bid | (takes_level & (side == -1)), displayed, pre.bid_size)
    deep, thin = np.maximum(pre.bid_size, pre.ask_size) + 1, np.minimum(pre.bid_size, pre.ask_size)
    informative = rng.random(n) < DEPTH_INFORMATIVE
    ask_deep = (side == 1) == informative
    at_mid = mechanism == MID
    pre.ask_size = np.where(at_mid, np.where(ask_deep, deep, thin), pre.ask_size)
    pre.bid_size = np.where(at_mid, np.where(ask_deep, thin, deep), pre.bid_size)


def strictly_inside(bid: np.ndarray, ask: np.ndarray, toward: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A cent strictly between bid and ask on ``toward``'s half, excluding the mid; -1 where none exists."""
    low = np.where(toward == 1, (bid + ask) // 2 + 1, bid + 1)
    high = np.where(toward == 1, ask - 1, (bid + ask + 1) // 2 - 1)
    pick = low + np.floor(rng.random(bid.size) * np.maximum(high - low + 1, 1)).astype(np.int64)
    return np.where(high >= low, pick, -1)


def print_prices(mechanism: np.ndarray, side: np.ndarray, bid: np.ndarray, ask: np.ndarray,
                 fair_value: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Price (cents) per mechanism against the executable quote; also whether the print went through it."""
    n = side.size
    width = ask - bid
    at_own = np.where(side == 1, ask, bid)
    through = (mechanism == AGGRESSOR) & (rng.random(n) < THROUGH_SHARE)
    extra = 1 + (rng.random(n) < 0.3)
    toward = np.where(rng.random(n) < INSIDE_TOWARD_INITIATOR, side, -side)
    inside = strictly_inside(bid, ask, toward, rng)
    even_mid = np.where(width % 2 == 0, (bid + ask) // 2, -1)
    near_mid = np.where(width % 2 == 0, (bid + ask) // 2, (bid + ask) // 2 + (toward == 1))
    fallback = np.where(width == 2, bid + 1, at_own)  # too narrow to print strictly inside
    inside_or_fallback = np.where(inside >= 0, inside, fallback)
    mid_or_inside = np.where(even_mid >= 0, even_mid, np.where(width == 1, at_own, near_mid))
    auction = np.where(rng.random(n) < 0.5, mid_or_inside, np.clip(near_mid + toward * (rng.random(n) < 0.4), bid, ask))
    package = np.round(fair_value * 100 + side * 0.15 * width + rng.normal(0, 0.35, n) * width)
    cross_draw = rng.random(n)
    crossed = np.where(cross_draw < 0.5, mid_or_inside, np.where(cross_draw < 0.9, inside_or_fallback,
                                                                 np.where(rng.random(n) < 0.5, bid, ask)))
    price = np.select(
        [mechanism == AGGRESSOR, mechanism == RESTING, mechanism == INSIDE, mechanism == MID,
         mechanism == AUCTION, mechanism == MULTILEG],
        [at_own + np.where(through, side * extra, 0), np.where(side == 1, bid, ask), inside_or_fallback,
         mid_or_inside, auction, package], crossed)
    return np.maximum(price, 1).astype(np.int64), through


def print_location(price: np.ndarray, bid: np.ndarray, ask: np.ndarray) -> np.ndarray:
    """Truth label of where the print sits against the prevailing quote in the file."""
    outside = (price >= ask) | (price <= bid)
    return np.where(outside, "at_or_outside", np.where(2 * price == bid + ask, "mid", "inside"))


def trade_conditions(mechanism: np.ndarray, is_multileg: np.ndarray, through: np.ndarray,
                     rng: np.random.Generator) -> np.ndarray:
    """OPRA condition ids: 209 regular, 219 ISO, 227/228 auction, 232/233/236 legs, 229/230/234 crosses
    (5% of crosses print without a cross code, so a condition filter is imperfect)."""
    u = rng.random(mechanism.size)
    single_cross = np.select([u < 0.9, u < 0.95], [cond.SINGLE_LEG_CROSS, cond.SINGLE_LEG_CROSS_ISO], cond.REGULAR)
    multi_cross = np.where(u < 0.95, cond.MULTI_LEG_CROSS, cond.MULTI_LEG_ELECTRONIC)
    legs = np.select([u < 0.65, u < 0.85], [cond.MULTI_LEG_ELECTRONIC, cond.MULTI_LEG_AUCTION], cond.MULTI_LEG_VS_SINGLE)
    auction = np.where(u < 0.9, cond.SINGLE_LEG_AUCTION, cond.SINGLE_LEG_AUCTION_ISO)
    regular = np.where(through | ((mechanism == AGGRESSOR) & (u < 0.08)), cond.INTERMARKET_SWEEP, cond.REGULAR)
    return np.select([(mechanism == CROSS) & is_multileg, mechanism == CROSS, mechanism == MULTILEG,
                      mechanism == AUCTION], [multi_cross, single_cross, legs, auction], regular).astype(np.int64)


def composite(key: np.ndarray, ts: np.ndarray, open_ns: int) -> np.ndarray:
    """One sortable int64 per (contract key, session-relative time)."""
    return (key.astype(np.int64) << REL_TS_BITS) | (ts - open_ns + 10**12)


def background_quotes(keys: np.ndarray, counts: np.ndarray, pricer: OptionPricer,
                      rng: np.random.Generator) -> Quotes:
    """Quote updates at random times, unrelated to prints; a few locked or crossed."""
    key = np.repeat(keys, counts)
    ts = pricer.spot.open_ns + rng.integers(0, SESSION_SECONDS * 1_000_000_000, size=key.size)
    quotes = Quotes.natural(key, ts, *pricer.value(key, ts), rng)
    u = rng.random(key.size)
    quotes.ask = np.select([u < 0.002, (u < 0.004) & (quotes.bid >= 2)], [quotes.bid, quotes.bid - 1], quotes.ask)
    return quotes


def prevailing_quotes(pre: Quotes, has_pre: np.ndarray, background: Quotes, key: np.ndarray, ts: np.ndarray,
                      open_ns: int) -> tuple[Quotes, Quotes]:
    """The time-ordered quote book (pre-trade plus background updates) and, as of each print, its prevailing quote."""
    book = Quotes.concat([pre.take(np.flatnonzero(has_pre)), background])
    book = book.take(np.argsort(composite(book.key, book.ts, open_ns), kind="stable"))
    latest = np.searchsorted(composite(book.key, book.ts, open_ns), composite(key, ts, open_ns), "right") - 1
    return book, book.take(np.maximum(latest, 0))  # every first print of a contract has its own pre-trade quote


def stale_shift(prevailing: Quotes, pricer: OptionPricer, key: np.ndarray, ts: np.ndarray,
                rng: np.random.Generator) -> np.ndarray:
    """Cents the executable quote has moved past the displayed one (mostly with the last minute's drift)."""
    n = key.size
    direction = np.where(rng.random(n) < 0.7, pricer.recent_move(key, ts), rng.choice([-1, 1], n))
    width = prevailing.ask - prevailing.bid
    moved = np.where(direction == 0, 1, direction) * np.maximum(1, np.round(width * rng.uniform(0.2, 1.2, n)))
    return np.where(rng.random(n) < STALE_SHARE, moved, 0).astype(np.int64)


def post_trade_quotes(key: np.ndarray, ts: np.ndarray, lag: np.ndarray, shift: np.ndarray, exec_bid: np.ndarray,
                      exec_ask: np.ndarray, pricer: OptionPricer, rng: np.random.Generator) -> Quotes:
    """The update right after each print; after a stale print it reveals the quote the trade executed against."""
    ids = np.flatnonzero(lag >= 1)
    post_ts = ts[ids] + lag[ids]
    post = Quotes.natural(key[ids], post_ts, *pricer.value(key[ids], post_ts), rng)
    moved = shift[ids] != 0
    post.bid = np.where(moved, exec_bid[ids], post.bid)
    post.ask = np.where(moved, exec_ask[ids], post.ask)
    return post


def build_tape(prints: pl.DataFrame, pricer: OptionPricer, quoted_keys: np.ndarray,
               rng: np.random.Generator) -> tuple[pl.DataFrame, Quotes]:
    """Price every print (columns ``key, ts, side, size, is_multileg, cross``); return the prints with
    ``price_cents, conditions, exchange, print_location, mechanism`` and the quotes emitted for ``quoted_keys``."""
    order = np.lexsort((prints["ts"].to_numpy(), prints["key"].to_numpy()))
    key, ts, side, size, is_multileg, cross = (prints[c].to_numpy()[order] for c in
                                               ("key", "ts", "side", "size", "is_multileg", "cross"))
    side, open_ns = side.astype(np.int64), pricer.spot.open_ns
    mechanism = assign_mechanisms(is_multileg, cross, rng)
    fair_value, wing = pricer.value(key, ts)
    lead, lag = quote_gaps(key, ts, rng)

    pre = Quotes.natural(key, ts - lead, fair_value, wing, rng)
    wants_mid = (mechanism == MID) | (np.isin(mechanism, [AUCTION, CROSS]) & (rng.random(key.size) < 0.5))
    shape_pre_quotes(pre, mechanism, side, size, wants_mid, rng)
    quoted = np.isin(key, quoted_keys)
    traded, counts = np.unique(key[quoted], return_counts=True)
    background = background_quotes(traded, rng.poisson(3 + 0.5 * counts), pricer, rng)
    background = background.take(np.flatnonzero(~hides_pre_quote(background, key, ts, lead, open_ns)))
    book, prevailing = prevailing_quotes(pre, lead >= 1, background, key, ts, open_ns)

    shift = stale_shift(prevailing, pricer, key, ts, rng)
    exec_bid = np.maximum(prevailing.bid + shift, 0)
    exec_ask = np.maximum(prevailing.ask + shift, exec_bid + 1)
    price, through = print_prices(mechanism, side, exec_bid, exec_ask, fair_value, rng)
    post = post_trade_quotes(key, ts, np.where(quoted, lag, 0), shift, exec_bid, exec_ask, pricer, rng)
    emitted = Quotes.concat([book.take(np.flatnonzero(np.isin(book.key, quoted_keys))), post])

    restore = np.empty(key.size, dtype=np.int64)
    restore[order] = np.arange(key.size)
    priced = pl.DataFrame({
        "price_cents": price, "conditions": trade_conditions(mechanism, is_multileg, through, rng),
        "exchange": rng.choice(OPTION_EXCHANGES, size=key.size),
        "print_location": print_location(price, prevailing.bid, prevailing.ask), "mechanism": mechanism,
    })[restore]
    return pl.concat([prints, priced], how="horizontal"), emitted


def hides_pre_quote(background: Quotes, key: np.ndarray, ts: np.ndarray, lead: np.ndarray, open_ns: int) -> np.ndarray:
    """Background updates that would land between a print's own pre-trade quote and the print (dropped)."""
    print_ck = composite(key, ts, open_ns)
    nxt = np.searchsorted(print_ck, composite(background.key, background.ts, open_ns), "left")
    valid = nxt < key.size
    nxt = np.minimum(nxt, key.size - 1)
    return valid & (key[nxt] == background.key) & (lead[nxt] >= 1) & (background.ts > ts[nxt] - lead[nxt])
