"""Pair every trade with the prevailing NBBO: the latest quote of the same contract at or before the print."""

from __future__ import annotations

import polars as pl

QUOTE_STATES = ("normal", "locked", "crossed", "zero_bid", "unquoted")


def pair_with_quotes(trades: pl.DataFrame, quotes: pl.DataFrame, tolerance_ns: int | None = None) -> pl.DataFrame:
    """As-of join by ticker on ``sip_timestamp`` (backward, ties included): the last NBBO at or before the print.

    An NBBO stands until it changes, so by default a quote of any age prevails; its age is kept
    (``quote_age_ns``) for the signing model to weigh. Adds ``bid_price, ask_price, bid_size, ask_size,
    quote_timestamp, quote_age_ns, quote_state``; a trade with no earlier quote (or none within ``tolerance_ns``
    when given) keeps null quote fields and state ``unquoted``: it is never priced off an invented quote.
    """
    prevailing = (quotes.select("ticker", pl.col("sip_timestamp").alias("quote_timestamp"), "bid_price",
                                "ask_price", "bid_size", "ask_size", "sequence_number")
                  .sort("quote_timestamp", "sequence_number").drop("sequence_number"))
    paired = trades.sort("sip_timestamp").join_asof(
        prevailing, left_on="sip_timestamp", right_on="quote_timestamp", by="ticker", strategy="backward",
        tolerance=tolerance_ns, check_sortedness=False)
    return paired.with_columns(
        (pl.col("sip_timestamp") - pl.col("quote_timestamp")).alias("quote_age_ns"),
        quote_state(pl.col("bid_price"), pl.col("ask_price")).alias("quote_state"),
    ).sort("ticker", "sip_timestamp")


def quote_state(bid: pl.Expr, ask: pl.Expr) -> pl.Expr:
    """``unquoted`` (no quote), ``zero_bid`` (bid <= 0), ``crossed`` (bid > ask), ``locked`` (bid == ask), else ``normal``."""
    return (pl.when(bid.is_null() | ask.is_null()).then(pl.lit("unquoted"))
            .when(bid <= 0).then(pl.lit("zero_bid"))
            .when(bid > ask).then(pl.lit("crossed"))
            .when(bid == ask).then(pl.lit("locked"))
            .otherwise(pl.lit("normal")))


def quote_state_counts(paired: pl.DataFrame) -> dict[str, int]:
    """How many trades met each quote state (every state listed, zeros included)."""
    counts = dict(paired.group_by("quote_state").len().iter_rows())
    return {state: int(counts.get(state, 0)) for state in QUOTE_STATES}
