"""Open/close inference: was each signed customer print opening (BTO/STO) or closing (BTC/STC) a position?

With trusted start-of-day OI for day d and d+1, a contract's day volume V splits into opening and closing
volume with dOI = opens - closes, so opening = clip((V + dOI) / 2, 0, V). That split is then allocated across
the day's prints (see :func:`_allocate`). Without usable OI (last day of the window, a contract expiring that
day whose next OI is 0 by expiry, a flagged OI glitch) the customers' running net holding decides.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

import polars as pl

from spy_gamma.quant.conditions import CROSS
from spy_gamma.quant.contracts import parse_tickers

Allocation = Literal["block", "proportional"]
RUNNING_CLOSE_CONFIDENCE = 0.6  # reducing the customers' net holding is usually closing it
RUNNING_OPEN_CONFIDENCE = 0.5  # adding to it (or no holding known) is "open" by default: a coin flip
LABELS = {(1, True): "BTO", (1, False): "BTC", (-1, True): "STO", (-1, False): "STC"}
VOLUME_COLUMNS = {"BTO": "customer_buy_open", "STO": "customer_sell_open",
                  "BTC": "customer_buy_close", "STC": "customer_sell_close"}


def dealer_sign(customer_side: pl.Expr, conditions: pl.Expr) -> pl.Expr:
    """-customer_side for dealer-intermediated prints; 0 for customer-to-customer crosses and unknown sides."""
    cross = conditions.is_in(CROSS).fill_null(False)
    return pl.when(cross).then(0).otherwise(-customer_side).cast(pl.Int8)


def customer_holdings(trades: pl.DataFrame, start: pl.DataFrame | None = None) -> pl.DataFrame:
    """Add ``customer_holding``: customers' net contracts per ticker after each print (crosses net to zero).

    ``start`` (``ticker, customer_holding_start``) seeds each ticker, e.g. minus the prior close's dealer_position;
    tickers without it start flat. ``trades`` must be sorted by ticker then time and carry ``customer_side``.
    """
    seeded = _seed_holdings(trades, start)
    flow = -dealer_sign(pl.col("customer_side"), pl.col("conditions")).cast(pl.Int64) * pl.col("size")
    return seeded.with_columns(
        (pl.col("customer_holding_start") + flow.cum_sum().over("ticker")).alias("customer_holding")
    ).drop("customer_holding_start")


def _seed_holdings(trades: pl.DataFrame, start: pl.DataFrame | None) -> pl.DataFrame:
    if start is None:
        return trades.with_columns(pl.lit(0, dtype=pl.Int64).alias("customer_holding_start"))
    seeds = start.select("ticker", pl.col("customer_holding_start").cast(pl.Int64))
    return trades.join(seeds, on="ticker", how="left", maintain_order="left").with_columns(
        pl.col("customer_holding_start").fill_null(0)
    )


def opening_volume(volume: pl.Expr, oi_change: pl.Expr) -> pl.Expr:
    """Opening volume implied by the OI change: (V + dOI) / 2, clipped to [0, V] (opens + closes = V)."""
    return ((volume + oi_change) / 2).clip(0, volume)


def _oi_inputs(trades: pl.DataFrame, day: dt.date, oi_changes: pl.DataFrame | None) -> pl.DataFrame:
    """Per-trade ``_opening_share`` (opening / V of its contract), null where OI cannot be used that day."""
    columns = ["ticker", "oi_start", "oi_next", "oi_trusted"]
    if oi_changes is None:
        oi_changes = pl.DataFrame(schema={"ticker": pl.String, "oi_start": pl.Int64, "oi_next": pl.Int64,
                                          "oi_trusted": pl.Boolean})
    elif "date" in oi_changes.columns:
        oi_changes = oi_changes.filter(pl.col("date") == day)
    expiry = parse_tickers(pl.col("ticker"))[1]
    volume = pl.col("size").sum().over("ticker")
    usable = pl.col("oi_trusted").fill_null(False) & pl.col("oi_next").is_not_null() & (expiry > day).fill_null(True)
    share = opening_volume(volume, pl.col("oi_next") - pl.col("oi_start")) / volume
    return (
        trades.join(oi_changes.select(columns), on="ticker", how="left", maintain_order="left")
        .with_columns(pl.when(usable).then(share).alias("_opening_share"))
        .drop(columns[1:])
    )


def _allocate(allocation: Allocation) -> pl.Expr:
    """Whether each print of an OI-split contract is opening.

    ``block``: the day's dominant direction (opening when opening >= V/2) goes to the largest prints first, until its
    volume is used up (a print counts when its midpoint falls inside). The OI change is driven by blocks while
    small prints churn, and labelled volumes reproduce the split within half a print, so the customer
    open/close columns reconcile with OI. ``proportional``: every print takes the likelier direction (opening when
    the share >= 0.5): per-print accuracy is max(p, 1 - p), but labelled volumes overstate the majority.
    """
    share = pl.col("_opening_share")
    opening_dominant = share >= 0.5
    if allocation == "proportional":
        return opening_dominant
    volume = pl.col("size").sum().over("ticker")
    dominant_volume = pl.when(opening_dominant).then(share).otherwise(1 - share) * volume
    rank = pl.col("_size_rank")  # 1 = largest print of its contract, ties in time order
    through = pl.col("size").sort_by(rank).cum_sum().gather(rank - 1).over("ticker")
    in_dominant = through - pl.col("size") / 2 <= dominant_volume
    return in_dominant == opening_dominant


def _running_is_open() -> pl.Expr:
    """Fallback: a print is closing when it reduces the customers' net holding before it, opening otherwise.

    On an expiry day this catches intraday round trips; with no seeded holding the first print of a contract opens.
    """
    held_before = pl.col("customer_holding") + dealer_sign(pl.col("customer_side"), pl.col("conditions")) * pl.col("size")
    return (pl.col("customer_side") * held_before) >= 0


def infer_open_close(
    trades: pl.DataFrame,
    day: dt.date,
    oi_changes: pl.DataFrame | None = None,
    *,
    holdings_start: pl.DataFrame | None = None,
    allocation: Allocation = "block",
) -> pl.DataFrame:
    """Add ``open_close`` (BTO/STO/BTC/STC, "" when the side is unknown), its confidence and method, ``dealer_sign``.

    ``trades`` are one day's signed prints sorted by ticker then time; ``oi_changes`` has ``ticker, oi_start, oi_next,
    oi_trusted`` (as from :func:`spy_gamma.quant.open_interest.daily_oi_changes`, rows of other dates ignored);
    ``holdings_start`` seeds the fallback (see :func:`customer_holdings`). The OI split uses every print of a
    contract, crosses and unsigned ones included, as all of them move OI. Confidence is the share of the
    contract's day volume in the labelled direction for ``oi_split``, fixed priors for ``running_holding``.
    """
    frame = customer_holdings(_oi_inputs(trades, day, oi_changes), holdings_start)
    share = pl.col("_opening_share")
    by_oi = share.is_not_null()
    is_open = pl.when(by_oi).then(_allocate(allocation)).otherwise(_running_is_open())
    signed = pl.col("customer_side") != 0
    size_rank = pl.col("size").rank("ordinal", descending=True).over("ticker").alias("_size_rank")
    return (
        frame.with_columns(size_rank)
        .with_columns(is_open.alias("_is_open"))
        .with_columns(
            pl.when(signed).then(_label()).otherwise(pl.lit("")).alias("open_close"),
            pl.when(~signed).then(0.0)
            .when(by_oi).then(pl.when(pl.col("_is_open")).then(share).otherwise(1 - share))
            .when(pl.col("_is_open")).then(RUNNING_OPEN_CONFIDENCE)
            .otherwise(RUNNING_CLOSE_CONFIDENCE).alias("open_close_confidence"),
            pl.when(~signed).then(pl.lit("")).when(by_oi).then(pl.lit("oi_split"))
            .otherwise(pl.lit("running_holding")).alias("open_close_method"),
            dealer_sign(pl.col("customer_side"), pl.col("conditions")).alias("dealer_sign"),
        )
        .drop("_opening_share", "_size_rank", "_is_open", "customer_holding")
    )


def _label() -> pl.Expr:
    """BTO/BTC/STO/STC from ``customer_side`` and ``_is_open``."""
    label = pl.lit(None, dtype=pl.String)
    for (side, opening), name in LABELS.items():
        label = pl.when((pl.col("customer_side") == side) & (pl.col("_is_open") == opening)).then(pl.lit(name)).otherwise(label)
    return label


def open_close_volumes(frame: pl.DataFrame) -> pl.DataFrame:
    """Contracts per ticker by label: ``customer_buy_open, customer_sell_open, customer_buy_close, customer_sell_close``."""
    return frame.group_by("ticker").agg(
        pl.col("size").filter(pl.col("open_close") == label).sum().alias(column) for label, column in VOLUME_COLUMNS.items()
    ).sort("ticker")
