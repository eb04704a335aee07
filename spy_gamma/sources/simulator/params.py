"""The microstructure and customer books of one simulated market, drawn at random so methods meet many markets.

``MarketParams.default()`` is the embedded demo market; ``MarketParams.draw(seed)`` samples every field
independently over a wide range, and each non-quote signal (trade size, depth, tick, inside lean) is switched off
entirely in about a third of draws, so a method can be measured where that signal carries no information. One
constraint: at the touch, customers' market orders outnumber their resting limits filled there, so the quote rule
at the touch is right more often than wrong (every published study of option trades finds 60-85%). Without it
no method reading these files can tell a book from its mirror image (docs/METHODOLOGY.md, section 5).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

UNINFORMATIVE_SHARE = 0.3  # chance a draw switches one signal off: ~1/3 of markets test each method without it
DRAW_STREAM = 0x5EED  # keeps the params' random stream apart from the days' streams of the same seed


@dataclass(frozen=True)
class MarketParams:
    """One market. Shares are of SPY prints unless said otherwise; ``*_share`` fields of the single-leg mix sum to 1."""

    # quote ages: the prevailing quote in the file, at the print
    old_quote_share: float  # prints whose quote is >= 1 s old
    old_quote_age_median_s: float  # their median age before far strikes and quiet moments stretch it (cap 60 s)
    fresh_quote_age_median_ms: float  # median age of the other prints' quotes (all under 1 s)
    # where single-leg prints against a dealer land: customer market orders at the touch, customer limits
    # resting at the NBBO filled there (they print at the opposite touch), inside, mid, price-improvement auctions
    aggressor_share: float
    resting_limit_share: float
    inside_share: float
    mid_share: float
    auction_share: float
    inside_lean: float  # chance an inside or auction print sits on the initiator's half (0.5: no information)
    # other signals
    full_display_share: float  # resting limit fills that print the full displayed size (0: size uninformative)
    depth_informative_prob: float  # at the mid: chance the deeper side is the initiator's (GSU; 0.5: none)
    impact_spreads: float  # fair-value move toward the initiator after each print, in quoted spreads (0: none)
    stale_share: float  # prints that execute against a quote that has moved since the one in the file
    # customer-to-customer crosses
    cross_share: float  # of orders (single-leg and packages)
    cross_code_share: float  # crosses that carry a cross condition code; the rest print as regular
    # customer books
    book_sign: int  # +1: customers net buy puts and sell calls; -1: net buy calls and sell puts
    book_strength: float  # how directional the hedging themes are (0: 50/50 churn, 1: one-way)
    warmup_sessions: int  # sessions simulated before ``start`` (no files written): inventory already open

    @classmethod
    def default(cls) -> MarketParams:
        """The demo market: the microstructure the simulator had before randomization, plus a little impact."""
        return cls(old_quote_share=0.03, old_quote_age_median_s=1.5, fresh_quote_age_median_ms=30.0,
                   aggressor_share=0.20, resting_limit_share=0.10, inside_share=0.37, mid_share=0.25,
                   auction_share=0.08, inside_lean=0.72, full_display_share=0.7, depth_informative_prob=0.8,
                   impact_spreads=0.1, stale_share=0.05, cross_share=0.05, cross_code_share=0.95,
                   book_sign=1, book_strength=0.7, warmup_sessions=10)

    @classmethod
    def draw(cls, seed: int) -> MarketParams:
        """A market drawn at random: wide independent ranges, each signal off in ~30% of draws."""
        rng = np.random.default_rng([DRAW_STREAM, seed])
        mix = rng.dirichlet(np.ones(5))  # uniform over the single-leg mixes...
        mix[:2] = max(mix[:2]), min(mix[:2])  # ...where market orders outnumber resting limits filled at the touch

        def maybe_off(low: float, high: float, off: float) -> float:
            return off if rng.random() < UNINFORMATIVE_SHARE else float(rng.uniform(low, high))

        return cls(
            old_quote_share=float(rng.uniform(0.0, 0.4)),
            old_quote_age_median_s=float(np.exp(rng.uniform(np.log(1.5), np.log(20.0)))),
            fresh_quote_age_median_ms=float(np.exp(rng.uniform(np.log(3.0), np.log(300.0)))),
            aggressor_share=float(mix[0]), resting_limit_share=float(mix[1]), inside_share=float(mix[2]),
            mid_share=float(mix[3]), auction_share=float(mix[4]),
            inside_lean=maybe_off(0.5, 0.9, 0.5),
            full_display_share=maybe_off(0.0, 0.9, 0.0),
            depth_informative_prob=maybe_off(0.5, 0.9, 0.5),
            impact_spreads=maybe_off(0.02, 0.4, 0.0),
            stale_share=float(rng.uniform(0.0, 0.15)),
            cross_share=float(rng.uniform(0.0, 0.15)),
            cross_code_share=float(rng.uniform(0.3, 1.0)),
            book_sign=int(rng.choice([-1, 1])),
            book_strength=float(rng.uniform(0.0, 1.0)),
            warmup_sessions=int(rng.integers(0, 31)),
        )

    @property
    def single_leg_mix(self) -> np.ndarray:
        """Probabilities of the single-leg mechanisms: aggressor, resting limit, inside, mid, auction."""
        mix = np.array([self.aggressor_share, self.resting_limit_share, self.inside_share, self.mid_share,
                        self.auction_share])
        return mix / mix.sum()

    def describe(self) -> dict:
        """Every field plus whether each signal carries information (``truth/market.json``)."""
        return {**dataclasses.asdict(self),
                "size_informative": self.full_display_share > 0,
                "depth_informative": self.depth_informative_prob != 0.5,
                "tick_informative": self.impact_spreads > 0,
                "inside_informative": self.inside_lean != 0.5}
