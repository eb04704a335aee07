"""What a print's prevailing quote says about its customer's side: the quote and depth votes, the stratum each
quote vote is read in (where the print sits, how old the quote is, what kind of print it is), and the evidence
groups the signing model (:mod:`spy_gamma.quant.signing`) is fitted on."""

from __future__ import annotations

import polars as pl

from spy_gamma.quant.classify import PRICE_TOLERANCE
from spy_gamma.quant.conditions import AUCTION, CROSS, MULTI_LEG

AGE_BUCKETS_NS = (1_000_000_000, 10_000_000_000)  # quote age classes: under 1 s, under 10 s, older
REFERENCE_STRATUM = "touch|age0|plain"  # fresh quote, at or through the touch, plain print: the quote rule
VOTE_COLUMNS = ["quote_vote", "depth_vote"]
# A quote's spread in ticks ($0.01 for every SPY series), capped: in a spread of a tick or two a print that improves
# on the quote has nowhere to go but a touch or the mid, so a vote's structural lean depends on the width; a
# contract keeps its width from day to day, so votes are centred per stratum *and* width, or that lean would read as
# a book direction. 0: no usable quote (or evidence stored before widths were kept).
SPREAD_TICKS = "spread_ticks"
MAX_SPREAD_TICKS = 10  # beyond ten ticks the price grid no longer constrains where a print can sit
GROUP_KEY = ["ticker", "date", "stratum", *VOTE_COLUMNS, "p_dealer", SPREAD_TICKS]


def vote_features(paired: pl.DataFrame) -> pl.DataFrame:
    """Per print: ``quote_vote`` (+1/-1/0) and its ``quote_stratum``, ``depth_vote`` at the mid, ``p_dealer``
    (0 for a print whose condition marks a customer-to-customer cross), ``print_location`` and ``spread_ticks``.

    ``paired`` holds prints with their prevailing quote (:func:`spy_gamma.quant.pairing.pair_with_quotes`).
    """
    price, bid, ask = pl.col("price"), pl.col("bid_price"), pl.col("ask_price")
    usable = (pl.col("quote_state").is_in(["normal", "zero_bid"]) & (ask > bid)).fill_null(False)
    from_mid = price - (bid + ask) / 2
    at_mid = usable & (from_mid.abs() <= PRICE_TOLERANCE)
    at_or_through = (price >= ask - PRICE_TOLERANCE) | (price <= bid + PRICE_TOLERANCE)
    location = (pl.when(~usable).then(pl.lit("unquoted")).when(at_mid).then(pl.lit("mid"))
                .when(at_or_through).then(pl.lit("touch")).otherwise(pl.lit("inside")))
    hit_size = pl.when(from_mid > 0).then(pl.col("ask_size")).otherwise(pl.col("bid_size"))
    size_match = ((pl.col("size") == hit_size) & (pl.col("bid_size") != pl.col("ask_size"))).fill_null(False)
    kind = (pl.when(pl.col("conditions").is_in(MULTI_LEG)).then(pl.lit("multileg"))
            .when(pl.col("conditions").is_in(AUCTION)).then(pl.lit("auction"))
            .when(size_match).then(pl.lit("size_match")).otherwise(pl.lit("plain")))
    age = pl.col("quote_age_ns").fill_null(0)
    age_class = pl.concat_str(pl.lit("age"), pl.sum_horizontal((age >= edge).cast(pl.Int8) for edge in AGE_BUCKETS_NS)
                              .cast(pl.String))
    return paired.with_columns(
        pl.when(usable & ~at_mid).then(from_mid.sign()).otherwise(0).cast(pl.Int8).alias("quote_vote"),
        pl.concat_str(location, age_class, kind, separator="|").alias("quote_stratum"),
        pl.when(at_mid).then((pl.col("ask_size") - pl.col("bid_size")).sign()).otherwise(0)
        .fill_null(0).cast(pl.Int8).alias("depth_vote"),
        pl.when(pl.col("conditions").is_in(CROSS)).then(0.0).otherwise(1.0).alias("p_dealer"),
        location.alias("print_location"),
        pl.when(usable).then(((ask - bid) * 100).round().clip(1, MAX_SPREAD_TICKS)).otherwise(0)
        .cast(pl.Int8).alias(SPREAD_TICKS))


def vote_groups(features: pl.DataFrame) -> pl.DataFrame:
    """Prints of one contract and day with identical evidence collapsed: count, size sums and the largest size.

    ``features`` carry ``date`` (or are one session's prints) and the columns of :func:`vote_features`.
    """
    sized = keyed(features).with_columns(pl.col("size").cast(pl.Float64))
    return (sized.group_by(GROUP_KEY)
            .agg(pl.len().alias("count"), pl.col("size").sum().alias("size_sum"),
                 (pl.col("size") ** 2).sum().alias("size_square_sum"), pl.col("size").max().alias("size_max"))
            .sort(GROUP_KEY))


def keyed(features: pl.DataFrame) -> pl.DataFrame:
    """The group key columns: ``date`` (null for a lone session without one) and ``stratum`` of voting prints."""
    dated = features if "date" in features.columns else features.with_columns(pl.lit(None, dtype=pl.Date).alias("date"))
    return dated.with_columns(
        pl.when(pl.col("quote_vote") != 0).then(pl.col("quote_stratum")).otherwise(pl.lit("")).alias("stratum"))


def pool_key(stratum: str) -> str:
    """A stratum's pool: its location and kind, whatever the quote's age (``touch|age2|size_match`` ->
    ``touch|size_match``). Age changes how stale the vote's quote is, not the mechanism that put the print there."""
    location, *_, kind = stratum.split("|")
    return f"{location}|{kind}"
