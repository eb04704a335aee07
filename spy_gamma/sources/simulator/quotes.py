"""The NBBO around prints: market-maker widths and sizes, how old the quote in the file is at each print,
background updates, the post-trade update, and stale quotes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from spy_gamma.sources.simulator.market import intraday_activity
from spy_gamma.sources.simulator.params import MarketParams
from spy_gamma.sources.simulator.pricing import OptionPricer, composite

SECOND_NS = 1_000_000_000
MAX_QUOTE_AGE_NS = 60 * SECOND_NS  # an NBBO older than a minute is rare even on far SPY strikes
FRESH_AGE_SPREAD = 1.0  # log-sd of sub-second quote ages
OLD_AGE_SPREAD = 0.7  # log-sd of seconds-old quote ages around their median
POST_TRADE_LAG_NS = 5_000_000  # median lag of the quote update that follows a print


def typical_width(fair_value: np.ndarray, wing: np.ndarray) -> np.ndarray:
    """Quoted width before rounding (cents): a penny or two for cheap near options, $0.05-0.30 for pricier or far ones."""
    return 1.0 + 1.4 * fair_value ** 0.9 * (1.0 + 0.15 * np.clip(wing - 2.0, 0.0, 4.0))


def spread_cents(fair_value: np.ndarray, wing: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return np.clip(np.round(typical_width(fair_value, wing)) + (rng.random(fair_value.size) < 0.3), 1, 30).astype(
        np.int64)


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


def fresh_quote_ages(n: int, median_ns: float, rng: np.random.Generator) -> np.ndarray:
    """Sub-second ages: lognormal around ``median_ns``, the tail past one second folded back log-uniformly into
    (median, 1 s), which keeps the median exact."""
    ages = median_ns * rng.lognormal(0.0, FRESH_AGE_SPREAD, n)
    folded = median_ns * (SECOND_NS / median_ns) ** rng.random(n)
    return np.where(ages < SECOND_NS, ages, folded)


def quote_gaps(key: np.ndarray, ts: np.ndarray, wing: np.ndarray, open_ns: int, session_seconds: int,
               params: MarketParams, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Age of each print's own pre-trade quote and lag of its post-trade quote (ns, 0 = none), prints sorted by
    (key, ts). ``old_quote_share`` of quotes are seconds old, older on far strikes and in quiet moments (at most a
    minute); each fits within 40% of the gap to the neighbouring print so it stays that print's own quote."""
    n = key.size
    same_prev = np.r_[False, key[1:] == key[:-1]]
    gap_prev = np.where(same_prev, np.diff(ts, prepend=ts[:1]), 10**15)
    gap_next = np.r_[gap_prev[1:], 10**15]
    quiet = 1.0 / intraday_activity((ts - open_ns) / SECOND_NS, session_seconds)
    far = 1.0 + 0.5 * np.clip(wing - 1.0, 0.0, 4.0)
    old = params.old_quote_age_median_s * SECOND_NS * rng.lognormal(0.0, OLD_AGE_SPREAD, n) * quiet * far
    is_old = rng.random(n) < params.old_quote_share
    lead = np.where(is_old, np.clip(old, SECOND_NS, MAX_QUOTE_AGE_NS),
                    fresh_quote_ages(n, params.fresh_quote_age_median_ms * 1e6, rng))
    lag = POST_TRADE_LAG_NS * rng.lognormal(0.0, 1.0, n)
    return np.minimum(lead, 0.4 * gap_prev).astype(np.int64), np.minimum(lag, 0.4 * gap_next).astype(np.int64)


def background_quotes(keys: np.ndarray, counts: np.ndarray, pricer: OptionPricer,
                      rng: np.random.Generator) -> Quotes:
    """Quote updates at random times, unrelated to prints; a few locked or crossed."""
    key = np.repeat(keys, counts)
    ts = pricer.spot.open_ns + rng.integers(0, pricer.spot.seconds * SECOND_NS, size=key.size)
    quotes = Quotes.natural(key, ts, *pricer.value(key, ts), rng)
    u = rng.random(key.size)
    quotes.ask = np.select([u < 0.002, (u < 0.004) & (quotes.bid >= 2)], [quotes.bid, quotes.bid - 1], quotes.ask)
    return quotes


def hides_pre_quote(background: Quotes, key: np.ndarray, ts: np.ndarray, lead: np.ndarray, open_ns: int) -> np.ndarray:
    """Background updates that would land between a print's own pre-trade quote and the print (dropped)."""
    print_ck = composite(key, ts, open_ns)
    nxt = np.searchsorted(print_ck, composite(background.key, background.ts, open_ns), "left")
    valid = nxt < key.size
    nxt = np.minimum(nxt, key.size - 1)
    return valid & (key[nxt] == background.key) & (lead[nxt] >= 1) & (background.ts > ts[nxt] - lead[nxt])


def prevailing_quotes(pre: Quotes, has_pre: np.ndarray, background: Quotes, key: np.ndarray, ts: np.ndarray,
                      open_ns: int) -> tuple[Quotes, Quotes]:
    """The time-ordered quote book (pre-trade plus background updates) and, as of each print, its prevailing quote."""
    book = Quotes.concat([pre.take(np.flatnonzero(has_pre)), background])
    book = book.take(np.argsort(composite(book.key, book.ts, open_ns), kind="stable"))
    latest = np.searchsorted(composite(book.key, book.ts, open_ns), composite(key, ts, open_ns), "right") - 1
    return book, book.take(np.maximum(latest, 0))  # every first print of a contract has its own pre-trade quote


def stale_shift(prevailing: Quotes, pricer: OptionPricer, key: np.ndarray, ts: np.ndarray, stale_share: float,
                rng: np.random.Generator) -> np.ndarray:
    """Cents the executable quote has moved past the displayed one (mostly with the last minute's drift)."""
    n = key.size
    direction = np.where(rng.random(n) < 0.7, pricer.recent_move(key, ts), rng.choice([-1, 1], n))
    width = prevailing.ask - prevailing.bid
    moved = np.where(direction == 0, 1, direction) * np.maximum(1, np.round(width * rng.uniform(0.2, 1.2, n)))
    return np.where(rng.random(n) < stale_share, moved, 0).astype(np.int64)


def post_trade_quotes(key: np.ndarray, ts: np.ndarray, lag: np.ndarray, shift: np.ndarray, exec_bid: np.ndarray,
                      exec_ask: np.ndarray, pricer: OptionPricer, rng: np.random.Generator) -> Quotes:
    """The update right after each print (none after the close); after a stale print it reveals the quote the trade
    executed against."""
    ids = np.flatnonzero((lag >= 1) & (ts + lag < pricer.spot.close_ns))
    post_ts = ts[ids] + lag[ids]
    post = Quotes.natural(key[ids], post_ts, *pricer.value(key[ids], post_ts), rng)
    moved = shift[ids] != 0
    post.bid = np.where(moved, exec_bid[ids], post.bid)
    post.ask = np.where(moved, exec_ask[ids], post.ask)
    return post
