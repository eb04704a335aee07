"""Dealer inventory per contract at each close of the window, accumulated from signed, open/close-tagged flow.

Computed from all daily flows in one pass (a cumulative sum per contract), so the result is the same
whatever order the daily partitions were materialized in.
"""

from __future__ import annotations

import datetime as dt
from itertools import pairwise

import polars as pl

CONTRACT = ["ticker", "expiry", "strike", "right"]
FLOW_COLUMNS = ["customer_buy_open", "customer_sell_open", "customer_buy_close", "customer_sell_close",
                "net_dealer_flow"]


def daily_flows(classified: pl.DataFrame) -> pl.DataFrame:
    """Per (date, contract): customer volume by BTO/STO/BTC/STC and the net dealer flow in contracts.

    ``dealer_sign`` is -1 when a customer bought from a dealer and +1 when a customer sold to one, so the
    dealer's flow is ``dealer_sign * size`` (crosses and unknown sides contribute 0).
    """
    def volume(tag: str) -> pl.Expr:
        return pl.col("size").filter(pl.col("open_close") == tag).sum()

    return (classified.group_by(["date", *CONTRACT])
            .agg(volume("BTO").alias("customer_buy_open"), volume("STO").alias("customer_sell_open"),
                 volume("BTC").alias("customer_buy_close"), volume("STC").alias("customer_sell_close"),
                 (pl.col("dealer_sign").cast(pl.Int64) * pl.col("size")).sum().alias("net_dealer_flow"))
            .sort("date", *CONTRACT))


def accumulate_positions(flows: pl.DataFrame, days: list[dt.date]) -> pl.DataFrame:
    """Dealer position of every contract at each close from its first traded day until it expires.

    Days without trades carry the position forward; after the expiry day the contract has settled and leaves
    the book. Customer volume columns are cumulative over the window too.
    """
    if flows.is_empty():
        return pl.DataFrame(schema={"date": pl.Date, **{c: flows.schema.get(c, pl.String) for c in CONTRACT},
                                    "dealer_position": pl.Int64, **{c: pl.Int64 for c in FLOW_COLUMNS}})
    first_day = flows.group_by(CONTRACT).agg(pl.col("date").min().alias("first_day"))
    calendar = pl.DataFrame({"date": days}, schema={"date": pl.Date})
    grid = (first_day.join(calendar, how="cross")
            .filter((pl.col("date") >= pl.col("first_day")) & (pl.col("date") <= pl.col("expiry")))
            .drop("first_day"))
    daily = grid.join(flows, on=["date", *CONTRACT], how="left").with_columns(pl.col(FLOW_COLUMNS).fill_null(0))
    return (daily.sort(*CONTRACT, "date")
            .with_columns(pl.col(FLOW_COLUMNS).cum_sum().over(CONTRACT))
            .with_columns(pl.col("net_dealer_flow").alias("dealer_position"))
            .select("date", *CONTRACT, "dealer_position", *FLOW_COLUMNS[:4], "net_dealer_flow")
            .sort("date", "expiry", "strike", "right"))


def attach_open_interest(positions: pl.DataFrame, open_interest: pl.DataFrame, days: list[dt.date]) -> pl.DataFrame:
    """Add the open interest at each close: the next session's start-of-day figure, else that day's own.

    ``open_interest`` holds start-of-day figures with a ``date`` column; OI at the close of day d is the
    start-of-day OI of the next session d+1 (OCC publishes it overnight).
    """
    if open_interest.is_empty():
        return positions.with_columns(pl.lit(None, dtype=pl.Int64).alias("open_interest"))
    previous = {later: earlier for earlier, later in pairwise(days)}
    at_close = (open_interest.with_columns(pl.col("date").replace_strict(previous, default=None, return_dtype=pl.Date))
                .drop_nulls("date").select("date", "ticker", pl.col("open_interest").alias("oi_close")))
    at_open = open_interest.select("date", "ticker", pl.col("open_interest").alias("oi_open"))
    return (positions.join(at_close, on=["date", "ticker"], how="left")
            .join(at_open, on=["date", "ticker"], how="left")
            .with_columns(pl.coalesce("oi_close", "oi_open").cast(pl.Int64).alias("open_interest"))
            .drop("oi_close", "oi_open"))
