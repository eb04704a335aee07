"""Dealer inventory per contract: a session's flows, and positions at an as-of close consistent with open interest.

A session's ``contract_flows`` hold, per contract, the *expected* dealer flow of its prints (the signing model's
expectation, not hard labels) and its variance. Positions at the as-of close are the start inventory plus the
window's cumulative flow (as re-estimated by the signing model fitted over the whole window). Open interest is evidence: |dealer position| <= OI at every close (customers hold the
rest), so a contract already open when the window starts gets the start inventory that keeps its whole path
feasible, the mean of a uniform prior over that feasible interval (a stated, wide prior, flagged as such).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import polars as pl

from spy_gamma.quant.signing import (
    BLOCK_FLOWS,
    DAY_CLASS,
    DIRECTION_COLUMNS,
    FACE_VALUE_FLOWS,
    LEAN_COLUMNS,
    SigningFit,
    fit_model,
)

CONTRACT = ["ticker", "expiry", "strike", "right"]
VOLUME_COLUMNS = ["customer_buy_open", "customer_sell_open", "customer_buy_close", "customer_sell_close"]
LABELS = {"BTO": "customer_buy_open", "STO": "customer_sell_open", "BTC": "customer_buy_close",
          "STC": "customer_sell_close"}
START_KNOWN_FLAT = "flat"  # no open interest at the window start: nothing was open
START_FROM_OPEN_INTEREST = "oi_feasible"  # open before the window: uniform prior over the OI-feasible interval
START_UNKNOWN = "no_open_interest_data"  # no OI file for the window start: assumed flat, band unknown
DAY_CLASS_SCHEMA = {"date": pl.Date, "ticker": pl.String, DAY_CLASS: pl.String}


def contract_flows(prints: pl.DataFrame, moments: pl.DataFrame) -> pl.DataFrame:
    """Per contract of one session: prints, volume, expected customer buy/sell volume, customer volume by
    BTO/STO/BTC/STC label, and the expected dealer flow with its variance (contracts, from ``moments``:
    ``ticker, dealer_flow, dealer_flow_variance`` of the signing model)."""
    size = pl.col("size").cast(pl.Float64)
    volumes = (prints.group_by(CONTRACT)
               .agg(pl.len().alias("prints"), pl.col("size").sum().alias("volume"),
                    (pl.col("p_customer_buy") * size).sum().alias("customer_buy_volume"),
                    ((1 - pl.col("p_customer_buy")) * size).sum().alias("customer_sell_volume"),
                    *(pl.col("size").filter(pl.col("open_close") == label).sum().alias(column)
                      for label, column in LABELS.items()),
                    pl.col("open_close_method").mode().sort().first().alias("open_close_method")))
    return volumes.join(moments.select("ticker", "dealer_flow", "dealer_flow_variance"), on="ticker", how="left").sort(CONTRACT)


def window_positions(flows: pl.DataFrame, open_interest: pl.DataFrame, days: list[dt.date],
                     session_after: dt.date) -> pl.DataFrame:
    """Dealer position of every contract at each close of ``days``, from the start inventory and the flows.

    ``flows`` hold per session ``date, CONTRACT, dealer_flow``, the customer volume columns by label, expected
    ``customer_buy_volume, customer_sell_volume`` and ``open_close_method``; ``open_interest`` holds start-of-day
    OI (``date, ticker, expiry, strike, right, open_interest``) for the window's sessions and ``session_after``
    (whose start-of-day figure is the OI at the last close). Returns one row per (date, contract) from the window
    start (or the first trade) until expiry, with ``dealer_position, start_inventory, start_inventory_sd,
    start_method, net_dealer_flow, open_interest`` (OI at that close, null when unknown) and cumulative customer
    volumes by label. A session whose open/close split could not use open interest (an expiry day, the next OI
    not published) is relabelled against the customers' holding at the previous close (see :func:`_relabel`).
    """
    start_oi = _start_open_interest(open_interest, days[0])
    contracts = _window_contracts(flows, start_oi, days[0])
    daily = (_daily_grid(contracts, flows, days)
             .join(_open_interest_at_close(open_interest, [*days, session_after]), on=["date", "ticker"], how="left")
             .sort(*CONTRACT, "date"))
    start = _start_inventory(daily.with_columns(pl.col("dealer_flow").cum_sum().over(CONTRACT)), start_oi,
                             oi_known=_has_day(open_interest, days[0]))
    positioned = daily.join(start, on="ticker", how="left").with_columns(
        (pl.col("start_inventory") + pl.col("dealer_flow").cum_sum().over(CONTRACT)).alias("dealer_position"))
    return (_relabel(positioned)
            .with_columns(pl.col("dealer_flow", *VOLUME_COLUMNS).cum_sum().over(CONTRACT))
            .rename({"dealer_flow": "net_dealer_flow"})
            .select("date", *CONTRACT, "dealer_position", "start_inventory", "start_inventory_sd", "start_method",
                    "net_dealer_flow", *VOLUME_COLUMNS, "open_interest")
            .sort("date", "expiry", "strike", "right"))


def _relabel(path: pl.DataFrame) -> pl.DataFrame:
    """Open/close volumes of fallback sessions from the customers' holding at the previous close (-dealer).

    Customers long H > 0 contracts close them first when they sell (STC up to H), customers short close first
    when they buy (BTC up to -H); the rest opens. So an expiry-day sale of a contract bought earlier is STC.
    """
    held = -(pl.col("dealer_position") - pl.col("dealer_flow"))  # customers' net holding before the session
    buys, sells = pl.col("customer_buy_volume"), pl.col("customer_sell_volume")
    buy_close = pl.min_horizontal(buys, (-held).clip(lower_bound=0))
    sell_close = pl.min_horizontal(sells, held.clip(lower_bound=0))
    fallback = pl.col("open_close_method") == "running_holding"
    relabelled = {"customer_buy_close": buy_close, "customer_buy_open": buys - buy_close,
                  "customer_sell_close": sell_close, "customer_sell_open": sells - sell_close}
    return path.with_columns(pl.when(fallback).then(expr).otherwise(pl.col(name)).alias(name)
                             for name, expr in relabelled.items())


def within_open_interest(position: pl.Expr) -> pl.Expr:
    """``position`` kept inside the frame's ``open_interest`` (|D| <= OI), unchanged where the OI is unknown."""
    bound = pl.col("open_interest").cast(pl.Float64)
    return pl.when(bound.is_null()).then(position).otherwise(position.clip(-bound, bound))


def positions_at(path: pl.DataFrame, as_of: dt.date, flow_variance: pl.DataFrame) -> pl.DataFrame:
    """The as-of close of a position path, contracts still alive after it (expiring after ``as_of``) only.

    The reported position is the path's, kept inside the open interest at that close (|D| <= OI).
    ``flow_variance`` (``ticker, dealer_flow_variance``: the signing model's variance of the window's flow, and
    the parts of the flow the band treats apart, ``FACE_VALUE_FLOWS`` and ``block_flows``, and what its book
    lean acts on, ``LEAN_COLUMNS``, and the part its contracts' direction unit shares, ``DIRECTION_COLUMNS``) gives
    ``window_flow_sd`` and ``position_sd`` (with the start inventory's) and carries those parts along.
    """
    alive = path.filter((pl.col("date") == as_of) & (pl.col("expiry") > as_of))
    clipped = within_open_interest(pl.col("dealer_position"))
    flow_sd = pl.col("dealer_flow_variance").fill_null(0.0).sqrt()
    carried = ["dealer_flow_variance", *FACE_VALUE_FLOWS, *LEAN_COLUMNS, *DIRECTION_COLUMNS, BLOCK_FLOWS]
    return (alive.join(flow_variance.select("ticker", *carried), on="ticker", how="left")
            .with_columns(pl.col(*FACE_VALUE_FLOWS, *LEAN_COLUMNS, "direction_sd").fill_null(0.0),
                          pl.col("direction_key").fill_null(pl.col("ticker")))
            .with_columns((clipped != pl.col("dealer_position")).alias("clipped_to_open_interest"),
                          clipped.alias("dealer_position"), pl.col("net_dealer_flow").alias("window_flow"),
                          flow_sd.alias("window_flow_sd"),
                          (pl.col("start_inventory_sd") ** 2 + flow_sd ** 2).sqrt().alias("position_sd"))
            .drop("date", "dealer_flow_variance"))


def _has_day(open_interest: pl.DataFrame, day: dt.date) -> bool:
    """Whether ``day``'s open-interest file is among the rows: without the window start's, nobody can say what was
    open before the window, whatever later files show."""
    return not open_interest.is_empty() and bool((open_interest["date"] == day).any())


def _start_open_interest(open_interest: pl.DataFrame, first_day: dt.date) -> pl.DataFrame:
    """``CONTRACT + start_oi`` of the contracts open at the start of the window (OI > 0)."""
    if open_interest.is_empty():
        return pl.DataFrame(schema={"ticker": pl.String, "expiry": pl.Date, "strike": pl.Float64,
                                    "right": pl.String, "start_oi": pl.Int64})
    return (open_interest.filter((pl.col("date") == first_day) & (pl.col("open_interest") > 0))
            .select(*CONTRACT, pl.col("open_interest").cast(pl.Int64).alias("start_oi")))


def _window_contracts(flows: pl.DataFrame, start_oi: pl.DataFrame, first_day: dt.date) -> pl.DataFrame:
    """Contracts traded in the window or open at its start, each with the first close it is in the book."""
    traded = flows.group_by(CONTRACT).agg(pl.col("date").min().alias("first_day"))
    open_at_start = start_oi.select(*CONTRACT, pl.lit(first_day).alias("first_day"))
    return pl.concat([traded, open_at_start]).group_by(CONTRACT).agg(pl.col("first_day").min())


def _daily_grid(contracts: pl.DataFrame, flows: pl.DataFrame, days: list[dt.date]) -> pl.DataFrame:
    """One row per contract and close from its first day to its expiry, the session's flows (0 when untraded)."""
    calendar = pl.DataFrame({"date": days}, schema={"date": pl.Date})
    numeric = ["dealer_flow", *VOLUME_COLUMNS, "customer_buy_volume", "customer_sell_volume"]
    return (contracts.join(calendar, how="cross")
            .filter((pl.col("date") >= pl.col("first_day")) & (pl.col("date") <= pl.col("expiry")))
            .drop("first_day")
            .join(flows.select("date", *CONTRACT, *numeric, "open_close_method"), on=["date", *CONTRACT], how="left")
            .with_columns(pl.col(numeric).fill_null(0).cast(pl.Float64)))


def _open_interest_at_close(open_interest: pl.DataFrame, sessions: list[dt.date]) -> pl.DataFrame:
    """OI at each close of ``sessions[:-1]``: the next session's start-of-day figure (OCC publishes it overnight).

    A close whose next session has no OI file has unknown OI (no row), never another day's figure.
    """
    schema = {"date": pl.Date, "ticker": pl.String, "open_interest": pl.Int64}
    if open_interest.is_empty():
        return pl.DataFrame(schema=schema)
    pairs = pl.DataFrame({"date": sessions[:-1], "file_date": sessions[1:]},
                         schema={"date": pl.Date, "file_date": pl.Date})
    return (pairs.join(open_interest.rename({"date": "file_date"}), on="file_date")
            .select("date", "ticker", pl.col("open_interest").cast(pl.Int64)))


def _start_inventory(path: pl.DataFrame, start_oi: pl.DataFrame, oi_known: bool) -> pl.DataFrame:
    """Per contract, the start inventory's mean and sd under a uniform prior over its feasible interval.

    Feasible D0: |D0| <= start OI and |D0 + F_t| <= OI_t at every close t with known OI, F_t the cumulative
    expected flow. An empty interval (flows no start inventory reconciles) takes its midpoint, the point that
    breaks the bounds least, with the sd of a uniform over [-start OI, start OI]. A contract not open at the
    window start starts flat (exactly 0) when the start's OI file exists.
    """
    oi = pl.col("open_interest").cast(pl.Float64)
    bounds = (path.filter(oi.is_not_null()).group_by("ticker")
              .agg((-oi - pl.col("dealer_flow")).max().alias("low"), (oi - pl.col("dealer_flow")).min().alias("high")))
    frame = (path.select("ticker").unique().join(start_oi.select("ticker", "start_oi"), on="ticker", how="left")
             .join(bounds, on="ticker", how="left").with_columns(pl.col("start_oi").fill_null(0).cast(pl.Float64)))
    low = pl.max_horizontal(pl.col("low").fill_null(-pl.col("start_oi")), -pl.col("start_oi"))
    high = pl.min_horizontal(pl.col("high").fill_null(pl.col("start_oi")), pl.col("start_oi"))
    width = pl.when(low <= high).then(high - low).otherwise(2 * pl.col("start_oi"))
    opened = pl.col("start_oi") > 0
    method = (pl.when(opened).then(pl.lit(START_FROM_OPEN_INTEREST))
              .otherwise(pl.lit(START_KNOWN_FLAT if oi_known else START_UNKNOWN)))
    return frame.select(
        "ticker",
        pl.when(opened).then((low + high) / 2).otherwise(0.0).alias("start_inventory"),
        pl.when(opened).then(width / np.sqrt(12.0)).otherwise(0.0).alias("start_inventory_sd"),
        method.alias("start_method"))


@dataclass(frozen=True)
class WindowPositions:
    """Dealer positions at the as-of close, their path over the window's closes, and the window's signing fit."""

    at_close: pl.DataFrame
    path: pl.DataFrame
    fit: SigningFit


def estimate_positions(groups: pl.DataFrame, flows: pl.DataFrame, open_interest: pl.DataFrame,
                       days: list[dt.date], session_after: dt.date) -> WindowPositions:
    """Fit the signing model on the window's evidence (``vote_groups`` of every session, with ``date``), take
    each contract-day's expected dealer flow from it, and build positions consistent with open interest.

    ``flows`` are the sessions' ``contract_flows`` (customer volumes by label); the model's re-estimated
    ``dealer_flow`` replaces each session's own, so a contract's book direction is read over the whole window.
    Each contract-day's class (:func:`day_classes`) tells the model its opening days from its closing days.
    """
    model, fit = fit_model(groups.join(day_classes(open_interest, days, session_after), on=["date", "ticker"],
                                           how="left"))
    window_flows = flows.drop("dealer_flow", "dealer_flow_variance", strict=False).join(
        model.contract_day_flows(), on=["date", "ticker"], how="left").with_columns(pl.col("dealer_flow").fill_null(0.0))
    path = window_positions(window_flows, open_interest, days, session_after)
    at_close = positions_at(path, days[-1], model.contract_moments())
    return WindowPositions(at_close, path, fit)


def day_classes(open_interest: pl.DataFrame, days: list[dt.date], session_after: dt.date) -> pl.DataFrame:
    """``date, ticker, day_class`` for the contract-days of ``days`` whose start-of-day and next-morning OI files
    both exist: "opening" where the contract's OI rose over the session, "closing" where it fell (a contract
    missing from one of the two files had none there), "unclassed" where it stayed, or on the contract's expiry
    day, whose OI leaves the next file by expiring, not by customers closing. No row where a file is missing (the
    class is unknown)."""
    if open_interest.is_empty():
        return pl.DataFrame(schema=DAY_CLASS_SCHEMA)
    published = set(open_interest["date"].to_list())
    sessions = [*days, session_after]
    pairs = [(day, after) for day, after in zip(sessions[:-1], sessions[1:]) if day in published and after in published]
    if not pairs:
        return pl.DataFrame(schema=DAY_CLASS_SCHEMA)
    frame = pl.DataFrame(pairs, schema={"date": pl.Date, "next": pl.Date}, orient="row")
    oi = (open_interest.select("date", "ticker", "expiry", pl.col("open_interest").cast(pl.Int64))
          .unique(["date", "ticker"], keep="first"))
    start = frame.join(oi, on="date").select("date", "ticker", "expiry", pl.col("open_interest").alias("start"))
    close = frame.join(oi.rename({"date": "next"}), on="next").select(
        "date", "ticker", "expiry", pl.col("open_interest").alias("close"))
    change = pl.col("close").fill_null(0) - pl.col("start").fill_null(0)
    day_class = (pl.when(pl.col("expiry") <= pl.col("date")).then(pl.lit("unclassed"))
                 .when(change > 0).then(pl.lit("opening")).when(change < 0).then(pl.lit("closing"))
                 .otherwise(pl.lit("unclassed")))
    return (start.join(close, on=["date", "ticker", "expiry"], how="full", coalesce=True)
            .select("date", "ticker", day_class.alias(DAY_CLASS)))
