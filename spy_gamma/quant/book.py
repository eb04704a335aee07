"""The dealer book at a close: positions joined with each contract's vol, carry and time to expiry."""

from __future__ import annotations

import datetime as dt

import polars as pl

KEYS = ["expiry", "right", "strike"]
BOOK_COLUMNS = ["ticker", "expiry", "strike", "right", "dealer_position", "open_interest", "iv", "tte_years"]


def dealer_book(positions: pl.DataFrame, chain: pl.DataFrame, as_of: dt.date) -> pl.DataFrame:
    """One row per live contract held: ``ticker, expiry, strike, right, dealer_position, open_interest, iv,
    tte_years`` plus the chain's ``carry_q`` and ``forward`` when it has them.

    At the close of ``as_of`` contracts expiring on or before that day have settled (ARCHITECTURE §3): they are
    not in the book. A contract whose strike lies outside its expiry's fitted ladder takes the vol of the nearest
    fitted strike of the same expiry and right (the smile's wing), so no held contract is dropped for want of a
    quote; its expiry's carry comes along, so it is priced at the forward its vol was read against.
    """
    carry = [c for c in ("carry_q", "forward") if c in chain.columns]
    vols = (chain.filter(pl.col("iv").is_not_null())
            .select(*KEYS, pl.col("strike").alias("vol_strike"), "iv", "tte_years", *carry).sort("strike"))
    held = (positions.filter(pl.col("expiry") > as_of)
            .select("ticker", "expiry", "strike", "right", "dealer_position", "open_interest").sort("strike"))
    return (held.join_asof(vols, on="strike", by=["expiry", "right"], strategy="nearest", check_sortedness=False)
            .drop("vol_strike").select(*BOOK_COLUMNS, *carry).sort("expiry", "strike", "right"))


def open_interest_book(positions: pl.DataFrame, open_interest: pl.DataFrame | None) -> pl.DataFrame:
    """Every listed contract with its open interest and (where held) dealer position, for max pain."""
    held = positions.select("ticker", "expiry", "strike", "right", "dealer_position")
    if open_interest is None or open_interest.is_empty():
        return held.with_columns(pl.lit(None, dtype=pl.Int64).alias("open_interest"))
    listed = open_interest.select("ticker", "expiry", "strike", "right", "open_interest")
    return listed.join(held, on=["ticker", "expiry", "strike", "right"], how="full", coalesce=True)


def with_open_interest(book: pl.DataFrame, open_interest: pl.DataFrame) -> pl.DataFrame:
    """``book`` with each contract's open interest from ``open_interest`` (``ticker, open_interest``: one OI file);
    a contract the file does not list has none (null)."""
    oi = open_interest.select("ticker", pl.col("open_interest").cast(pl.Int64)).unique("ticker", keep="first")
    return book.drop("open_interest", strict=False).join(oi, on="ticker", how="left")
