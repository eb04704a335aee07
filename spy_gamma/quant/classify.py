"""Trade signing: did the customer behind each option print buy (+1) or sell (-1)? 0 when no rule can tell.

Rules follow Grauer, Schuster & Uhrig-Homburg (2023) "Option trade classification" (GSU) and the definitions
of the ``tclf`` package. Each rule is a function returning a :class:`Vote` of Polars expressions, so rules
stack like the paper's layers and run vectorized over a whole day. Confidence is the probability the side
is right (0.5 = coin flip, 0 = no side): it falls with distance from the touch, quote age and multi-leg
prints, quote-based rules abstain on locked, crossed or missing quotes, and agreeing rules raise it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import NamedTuple

import polars as pl

from spy_gamma.quant.conditions import MULTI_LEG
from spy_gamma.quant.pairing import quote_state

PRICE_TOLERANCE = 1e-6  # dollars; option prices live on a 0.01 grid, so this only absorbs float noise
CLNV_ZONE = 0.3  # CLNV: the quote rule decides in the 30% of the spread nearest each touch
# The confidences below are the rule stack's stated per-print accuracies, for its hard labels only: the pipeline
# signs with quant/signing.py, whose reliabilities are estimated from the data being analysed. The stack stays as
# the published rules' reference (tested on the real LiveVol tape) and as the pandas peer's rule in the speed bench.
QUOTE_EDGE = 0.3  # quote-rule confidence above a coin flip for a fresh quote at (or beyond) the touch
QUOTE_EDGE_OFF_MID = 0.15  # ... and for a print just off the mid: even small price improvement leans the right way
TICK_CONFIDENCE = 0.52  # GSU find tick tests barely better than chance on options
TRADE_SIZE_CONFIDENCE = 0.82
DEPTH_CONFIDENCE = 0.66
QUOTE_HALF_LIFE_NS = 1_000_000_000  # a quote this old keeps half its information
MULTI_LEG_WEIGHT = 0.5  # a leg's price relates to its package, not to this leg's quote
AGREEMENT_STEP = 0.03  # confidence added (removed) per other panel rule that agrees (disagrees)
USABLE_QUOTE_STATES = ("normal", "zero_bid")  # and a positive spread: a 0/0 "zero_bid" quote is no quote


class Vote(NamedTuple):
    """One rule's answer as expressions: customer side (+1/-1/0), confidence, and the deciding rule's name."""

    side: pl.Expr
    confidence: pl.Expr
    rule: pl.Expr


Rule = Callable[[], Vote]


def _features() -> list[pl.Expr]:
    """Per-trade inputs shared by the rules; ticks use the previous/next *different* price of the same ticker."""
    price = pl.col("price")
    mid = (pl.col("bid_price") + pl.col("ask_price")) / 2
    return [
        (pl.col("quote_state").is_in(USABLE_QUOTE_STATES) & (pl.col("ask_price") > pl.col("bid_price")))
        .fill_null(False).alias("_quoted"),
        (price - mid).alias("_from_mid"),
        ((pl.col("ask_price") - pl.col("bid_price")) / 2).alias("_half_spread"),
        pl.when(price != price.shift(1)).then(price.shift(1)).forward_fill().over("ticker").alias("_prev_price"),
        pl.when(price != price.shift(-1)).then(price.shift(-1)).backward_fill().over("ticker").alias("_next_price"),
        (1 / (1 + pl.col("quote_age_ns").fill_null(0).clip(0) / QUOTE_HALF_LIFE_NS)).alias("_freshness"),
        pl.col("conditions").is_in(MULTI_LEG).fill_null(False).alias("_multi_leg"),
    ]


def _vote(name: str, buy: pl.Expr, sell: pl.Expr, confidence: pl.Expr) -> Vote:
    """Turn buy/sell conditions into a Vote; nulls (missing inputs) abstain."""
    side = pl.when(buy.fill_null(False)).then(1).when(sell.fill_null(False)).then(-1).otherwise(0).cast(pl.Int8)
    decided = side != 0
    return Vote(
        side,
        pl.when(decided).then(confidence).otherwise(0.0).cast(pl.Float64),
        pl.when(decided).then(pl.lit(name)).otherwise(pl.lit(None, dtype=pl.String)),
    )


def _fresh(edge: float | pl.Expr) -> pl.Expr:
    """Confidence of a quote-based answer: its edge over a coin flip, shrunk as the quote ages."""
    return 0.5 + edge * pl.col("_freshness")


def _at_mid() -> pl.Expr:
    return pl.col("_from_mid").abs() <= PRICE_TOLERANCE


def quote_rule() -> Vote:
    """Quote rule (Harris 1989): above the mid is a customer buy, below a sell; the mid is undecided."""
    above = pl.col("_quoted") & (pl.col("_from_mid") > PRICE_TOLERANCE)
    below = pl.col("_quoted") & (pl.col("_from_mid") < -PRICE_TOLERANCE)
    depth_in_spread = (pl.col("_from_mid").abs() / pl.col("_half_spread")).clip(upper_bound=1.0)
    return _vote("quote", above, below,
                 _fresh(QUOTE_EDGE_OFF_MID + (QUOTE_EDGE - QUOTE_EDGE_OFF_MID) * depth_in_spread))


def tick_rule() -> Vote:
    """Tick test: above the previous different price is a buy, below a sell; no earlier different price abstains."""
    return _vote("tick", pl.col("price") > pl.col("_prev_price"), pl.col("price") < pl.col("_prev_price"),
                 pl.lit(TICK_CONFIDENCE))


def reverse_tick_rule() -> Vote:
    """Reverse tick test (Hasbrouck 1988): a trade below the next different price is a sell, above it a buy."""
    return _vote("reverse_tick", pl.col("price") > pl.col("_next_price"), pl.col("price") < pl.col("_next_price"),
                 pl.lit(TICK_CONFIDENCE))


def trade_size_rule() -> Vote:
    """GSU trade-size rule: size equal to the bid (ask) size alone means a customer limit buy (sell) was filled."""
    size, bid_size, ask_size = pl.col("size"), pl.col("bid_size"), pl.col("ask_size")
    eligible = pl.col("_quoted") & (bid_size != ask_size)
    return _vote("trade_size", eligible & (size == bid_size), eligible & (size == ask_size),
                 _fresh(TRADE_SIZE_CONFIDENCE - 0.5))


def depth_rule() -> Vote:
    """GSU depth rule: a mid-spread print is a buy (sell) when the ask (bid) shows the larger size."""
    eligible = pl.col("_quoted") & _at_mid()
    return _vote("depth", eligible & (pl.col("ask_size") > pl.col("bid_size")),
                 eligible & (pl.col("ask_size") < pl.col("bid_size")), _fresh(DEPTH_CONFIDENCE - 0.5))


def _first(votes: Sequence[Vote]) -> Vote:
    """The first vote that decides wins, as in GSU's stacked layers."""
    side, confidence, rule = votes[-1]
    for vote in reversed(votes[:-1]):
        decided = vote.side != 0
        side = pl.when(decided).then(vote.side).otherwise(side)
        confidence = pl.when(decided).then(vote.confidence).otherwise(confidence)
        rule = pl.when(decided).then(vote.rule).otherwise(rule)
    return Vote(side, confidence, rule)


def _quote_where(zone: pl.Expr, fallback: Rule) -> Vote:
    """Hybrid rule: the quote rule inside ``zone`` of a usable quote, ``fallback`` (a tick test) elsewhere."""
    quote, other = quote_rule(), fallback()
    in_zone = (pl.col("_quoted") & zone).fill_null(False)
    return Vote(*(pl.when(in_zone).then(q).otherwise(o) for q, o in zip(quote, other)))


def _at_touch() -> pl.Expr:
    """EMO's zone: the print equals the ask or the bid (not both)."""
    at_ask = (pl.col("price") - pl.col("ask_price")).abs() <= PRICE_TOLERANCE
    at_bid = (pl.col("price") - pl.col("bid_price")).abs() <= PRICE_TOLERANCE
    return at_ask ^ at_bid


def _near_touch() -> pl.Expr:
    """CLNV's zone: within 30% of the spread from either touch, both boundaries included (as ``tclf``)."""
    inner = (1 - 2 * CLNV_ZONE) * pl.col("_half_spread") - PRICE_TOLERANCE
    outer = pl.col("_half_spread") + PRICE_TOLERANCE
    distance = pl.col("_from_mid").abs()
    return (distance >= inner) & (distance <= outer)


def lee_ready(tick: Rule = tick_rule) -> Vote:
    """Lee-Ready (1991): quote rule, and the tick test for prints at the mid or without a usable quote."""
    return _first([quote_rule(), tick()])


def emo(tick: Rule = tick_rule) -> Vote:
    """Ellis-Michaely-O'Hara (2000): quote rule at the touch, tick test inside and outside the spread."""
    return _quote_where(_at_touch(), tick)


def clnv(tick: Rule = tick_rule) -> Vote:
    """Chakrabarty-Li-Nguyen-Van Ness (2007): quote rule in the 30% nearest each touch, tick test elsewhere."""
    return _quote_where(_near_touch(), tick)


PRIMITIVES: dict[str, Rule] = {
    "quote": quote_rule,
    "tick": tick_rule,
    "reverse_tick": reverse_tick_rule,
    "trade_size": trade_size_rule,
    "depth": depth_rule,
}


def stack(layers: Sequence[str | Rule]) -> Rule:
    """Compose rules GSU-style: each trade takes the answer of the first layer that decides it."""
    rules = [RULES[layer] if isinstance(layer, str) else layer for layer in layers]
    return lambda: _first([rule() for rule in rules])


# GSU's recommended stack: trade size, quote, depth at the mid, then the reverse tick test.
GSU_LAYERS = ("trade_size", "quote", "depth", "reverse_tick")

RULES: dict[str, Rule] = {
    **PRIMITIVES,
    "lee_ready": lee_ready,
    "reverse_lee_ready": partial(lee_ready, reverse_tick_rule),
    "emo": emo,
    "reverse_emo": partial(emo, reverse_tick_rule),
    "clnv": clnv,
    "reverse_clnv": partial(clnv, reverse_tick_rule),
}
RULES["gsu"] = stack(GSU_LAYERS)
RULES["default"] = RULES["gsu"]


def _agreement(side: pl.Expr, deciding_rule: pl.Expr) -> pl.Expr:
    """Net count of the other primitive rules agreeing (+1) or disagreeing (-1) with the chosen side."""
    votes = [pl.when(deciding_rule == name).then(0).otherwise(rule().side * side).fill_null(0)
             for name, rule in PRIMITIVES.items()]
    return pl.sum_horizontal(votes)


def _final_confidence(vote: Vote) -> pl.Expr:
    """Rule confidence adjusted for agreement and multi-leg prints, kept in [0.5, 1] for decided trades."""
    adjusted = (vote.confidence + AGREEMENT_STEP * _agreement(vote.side, vote.rule)).clip(0.5, 1.0)
    discounted = pl.when(pl.col("_multi_leg")).then(0.5 + (adjusted - 0.5) * MULTI_LEG_WEIGHT).otherwise(adjusted)
    return pl.when(vote.side != 0).then(discounted).otherwise(0.0)


def resolve_rule(rule: str | Rule | Sequence[str | Rule]) -> Rule:
    """A registry name, a rule function, or a list of layers to stack."""
    if isinstance(rule, str):
        return RULES[rule]
    return rule if callable(rule) else stack(rule)


def sign_trades(frame: pl.DataFrame, rule: str | Rule | Sequence[str | Rule] = "default") -> pl.DataFrame:
    """Add ``customer_side`` (i8), ``side_confidence`` (P(side right), 0 if unknown) and ``side_rule``.

    ``frame`` holds paired trades sorted by ticker then ``sip_timestamp``; ``quote_state`` is derived from the
    quote when absent. ``side_rule`` names the primitive rule that decided ("" when none did).
    """
    if "quote_state" not in frame.columns:
        frame = frame.with_columns(quote_state(pl.col("bid_price"), pl.col("ask_price")).alias("quote_state"))
    vote = resolve_rule(rule)()
    features = _features()
    return (
        frame.with_columns(features)
        .with_columns(
            vote.side.alias("customer_side"),
            _final_confidence(vote).alias("side_confidence"),
            vote.rule.fill_null("").alias("side_rule"),
        )
        .drop([feature.meta.output_name() for feature in features])
    )
