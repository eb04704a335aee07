"""Trade prints around customer orders: where each print lands relative to the quote, and its condition code.

Mechanisms make the classic signing rules informative for the right reasons, never by fiat, and each can be
switched off by the market's parameters: customer market orders hit the quote; customer limit orders resting at
the quote get lifted by market makers (trade size = displayed size: the GSU trade-size rule, Grauer, Schuster &
Uhrig-Homburg 2023); mid prints carry a depth imbalance (GSU depth rule); inside prints lean toward the
initiator; price-improvement auctions print near the mid; multi-leg legs price off the package; prints move the
contract's fair value toward the initiator (tick rule); some quotes are stale when the trade prints.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from spy_gamma.quant import conditions as cond
from spy_gamma.sources.simulator.params import MarketParams
from spy_gamma.sources.simulator.pricing import OptionPricer, PriceImpact
from spy_gamma.sources.simulator.quotes import (
    Quotes,
    background_quotes,
    hides_pre_quote,
    post_trade_quotes,
    prevailing_quotes,
    quote_gaps,
    stale_shift,
    typical_width,
)

AGGRESSOR, RESTING, INSIDE, MID, AUCTION, MULTILEG, CROSS = range(7)
MECHANISM_NAMES = pl.Series(["aggressor", "resting_limit", "inside", "mid", "auction", "multileg", "cross"])
LOCATION_NAMES = pl.Series(["at_or_outside", "inside", "mid"])
SIZE_COINCIDENCE = 0.08  # non-resting prints whose size equals one side's displayed size (chance or a level swept)
THROUGH_SHARE = 0.03  # market orders that sweep through the touch
CROSS_ISO_SHARE = 0.05  # of coded single-leg crosses: the ISO variant
OPTION_EXCHANGES = np.array([300, 301, 302, 303, 304, 307, 308, 309, 312, 313, 315, 316, 319, 322, 323, 325])


def assign_mechanisms(is_multileg: np.ndarray, cross: np.ndarray, mix: np.ndarray,
                      rng: np.random.Generator) -> np.ndarray:
    drawn = rng.choice(mix.size, size=cross.size, p=mix)
    return np.select([cross, is_multileg], [CROSS, MULTILEG], drawn)


def shape_pre_quotes(pre: Quotes, mechanism: np.ndarray, side: np.ndarray, size: np.ndarray,
                     wants_mid: np.ndarray, params: MarketParams, rng: np.random.Generator) -> None:
    """Pre-trade quote as the mechanism needs it: resting customer size on display, depth imbalance at mid.
    Size matches on other prints fall on either side at random, so they carry no side information."""
    n = side.size
    odd = (pre.ask - pre.bid) % 2 == 1
    pre.ask = np.where(wants_mid & odd, pre.ask + 1, pre.ask)
    displayed = np.where(rng.random(n) < params.full_display_share, size,
                         size + np.ceil(rng.lognormal(np.log(10), 1.0, n)).astype(np.int64))
    resting = mechanism == RESTING
    coincide = ~resting & (rng.random(n) < SIZE_COINCIDENCE)
    on_ask = rng.random(n) < 0.5
    pre.ask_size = np.select([resting & (side == -1), coincide & on_ask], [displayed, size], pre.ask_size)
    pre.bid_size = np.select([resting & (side == 1), coincide & ~on_ask], [displayed, size], pre.bid_size)
    deep, thin = np.maximum(pre.bid_size, pre.ask_size) + 1, np.minimum(pre.bid_size, pre.ask_size)
    ask_deep = (side == 1) == (rng.random(n) < params.depth_informative_prob)
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
                 fair_value: np.ndarray, inside_lean: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Price (cents) per mechanism against the executable quote; also whether the print went through it."""
    n = side.size
    width = ask - bid
    at_own = np.where(side == 1, ask, bid)
    through = (mechanism == AGGRESSOR) & (rng.random(n) < THROUGH_SHARE)
    extra = 1 + (rng.random(n) < 0.3)
    toward = np.where(rng.random(n) < inside_lean, side, -side)
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


def print_location(price: np.ndarray, bid: np.ndarray, ask: np.ndarray) -> pl.Series:
    """Truth label of where the print sits against the prevailing quote in the file."""
    outside = (price >= ask) | (price <= bid)
    return LOCATION_NAMES.gather(np.where(outside, 0, np.where(2 * price == bid + ask, 2, 1)))


def trade_conditions(mechanism: np.ndarray, is_multileg: np.ndarray, through: np.ndarray, cross_code_share: float,
                     rng: np.random.Generator) -> np.ndarray:
    """OPRA condition ids: 209 regular, 219 ISO, 227/228 auction, 232/233/236 legs, 229/230/234 crosses
    (``cross_code_share`` of crosses carry a cross code; the rest print as regular or electronic legs)."""
    u = rng.random(mechanism.size)
    coded = rng.random(mechanism.size) < cross_code_share
    single_cross = np.where(coded, np.where(u < CROSS_ISO_SHARE, cond.SINGLE_LEG_CROSS_ISO, cond.SINGLE_LEG_CROSS),
                            cond.REGULAR)
    multi_cross = np.where(coded, cond.MULTI_LEG_CROSS, cond.MULTI_LEG_ELECTRONIC)
    legs = np.select([u < 0.65, u < 0.85], [cond.MULTI_LEG_ELECTRONIC, cond.MULTI_LEG_AUCTION], cond.MULTI_LEG_VS_SINGLE)
    auction = np.where(u < 0.9, cond.SINGLE_LEG_AUCTION, cond.SINGLE_LEG_AUCTION_ISO)
    regular = np.where(through | ((mechanism == AGGRESSOR) & (u < 0.08)), cond.INTERMARKET_SWEEP, cond.REGULAR)
    return np.select([(mechanism == CROSS) & is_multileg, mechanism == CROSS, mechanism == MULTILEG,
                      mechanism == AUCTION], [multi_cross, single_cross, legs, auction], regular).astype(np.int64)


def with_price_impact(pricer: OptionPricer, key: np.ndarray, ts: np.ndarray, side: np.ndarray, mechanism: np.ndarray,
                      fair_value: np.ndarray, wing: np.ndarray,
                      impact_spreads: float) -> tuple[OptionPricer, np.ndarray]:
    """Each dealer print (crosses excluded) moves its contract's fair value toward the initiator by
    ``impact_spreads`` of a typical quoted width: the pricer carrying that impact, and the prints' fair values
    with the impact of the prints before them."""
    cents = np.where(mechanism == CROSS, 0.0, side * impact_spreads * typical_width(fair_value, wing))
    impact = PriceImpact.build(key, ts, cents, pricer.spot.open_ns)
    return pricer.with_impact(impact), np.maximum(fair_value + impact.at(key, ts) / 100.0, 0.0)


def build_tape(prints: pl.DataFrame, pricer: OptionPricer, quoted_keys: np.ndarray, params: MarketParams,
               rng: np.random.Generator) -> tuple[pl.DataFrame, Quotes]:
    """Price every print (columns ``key, ts, side, size, is_multileg, cross``); return the prints with
    ``price_cents, conditions, exchange, print_location, mechanism, quote_age_ns`` and the quotes emitted for
    ``quoted_keys``."""
    order = np.lexsort((prints["ts"].to_numpy(), prints["key"].to_numpy()))
    key, ts, side, size, is_multileg, cross = (prints[c].to_numpy()[order] for c in
                                               ("key", "ts", "side", "size", "is_multileg", "cross"))
    side, open_ns = side.astype(np.int64), pricer.spot.open_ns
    mechanism = assign_mechanisms(is_multileg, cross, params.single_leg_mix, rng)
    fair_value, wing = pricer.value(key, ts)
    if params.impact_spreads > 0:
        pricer, fair_value = with_price_impact(pricer, key, ts, side, mechanism, fair_value, wing,
                                               params.impact_spreads)
    lead, lag = quote_gaps(key, ts, wing, open_ns, pricer.spot.seconds, params, rng)

    pre = Quotes.natural(key, ts - lead, fair_value, wing, rng)
    wants_mid = (mechanism == MID) | (np.isin(mechanism, [AUCTION, CROSS]) & (rng.random(key.size) < 0.5))
    shape_pre_quotes(pre, mechanism, side, size, wants_mid, params, rng)
    quoted = np.isin(key, quoted_keys)
    traded, counts = np.unique(key[quoted], return_counts=True)
    background = background_quotes(traded, rng.poisson(3 + 0.5 * counts), pricer, rng)
    background = background.take(np.flatnonzero(~hides_pre_quote(background, key, ts, lead, open_ns)))
    book, prevailing = prevailing_quotes(pre, lead >= 1, background, key, ts, open_ns)

    shift = stale_shift(prevailing, pricer, key, ts, params.stale_share, rng)
    exec_bid = np.maximum(prevailing.bid + shift, 0)
    exec_ask = np.maximum(prevailing.ask + shift, exec_bid + 1)
    price, through = print_prices(mechanism, side, exec_bid, exec_ask, fair_value, params.inside_lean, rng)
    post = post_trade_quotes(key, ts, np.where(quoted, lag, 0), shift, exec_bid, exec_ask, pricer, rng)
    emitted = Quotes.concat([book.take(np.flatnonzero(np.isin(book.key, quoted_keys))), post])

    restore = np.empty(key.size, dtype=np.int64)
    restore[order] = np.arange(key.size)
    priced = pl.DataFrame({
        "price_cents": price,
        "conditions": trade_conditions(mechanism, is_multileg, through, params.cross_code_share, rng),
        "exchange": rng.choice(OPTION_EXCHANGES, size=key.size),
        "print_location": print_location(price, prevailing.bid, prevailing.ask),
        "mechanism": MECHANISM_NAMES.gather(mechanism), "quote_age_ns": ts - prevailing.ts,
    })[restore]
    return pl.concat([prints, priced], how="horizontal"), emitted
