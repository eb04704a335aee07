"""Aggregate customer holdings per contract and the dealer position they imply.

Per contract: customer_long L, customer_short S, dealer_position D with D = -(L - S) (every dealer-intermediated
trade moves D against the customer). Open interest = L + max(D, 0) = S + max(-D, 0). Customers can only close
what they hold: a closing order is accepted while the running closed quantity stays within the holding at the
start of its intraday block (blocks let 0DTE positions open and close the same day).
"""

from __future__ import annotations

import numpy as np
import polars as pl

INTRADAY_BLOCKS = 6
BOOK_COLUMNS = ("customer_long", "customer_short", "dealer_position")


def empty_book() -> pl.DataFrame:
    """The world starts flat: no open interest before the first simulated session."""
    return pl.DataFrame(schema={"ticker": pl.String, "expiry": pl.Date, "right": pl.String, "strike": pl.Float64,
                                **dict.fromkeys(BOOK_COLUMNS, pl.Int64)})


def align_book(book: pl.DataFrame, chain: pl.DataFrame) -> pl.DataFrame:
    """Today's listed chain with yesterday's holdings (zero for newly listed contracts)."""
    return chain.join(book.select("ticker", *BOOK_COLUMNS), on="ticker", how="left").with_columns(
        pl.col(c).fill_null(0) for c in BOOK_COLUMNS)


def open_interest(book: pl.DataFrame) -> pl.Expr:
    return pl.col("customer_long") + pl.col("dealer_position").clip(lower_bound=0)


def group_cumsum(groups: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Running sum of ``values`` restarting at each new group (``groups`` sorted)."""
    total = np.cumsum(values)
    starts = np.flatnonzero(np.r_[True, groups[1:] != groups[:-1]])
    before_group = np.repeat(total[starts] - values[starts], np.diff(np.r_[starts, groups.size]))
    return total - before_group


def accept_closes(rows: np.ndarray, sides: np.ndarray, sizes: np.ndarray, intents: np.ndarray,
                  long_: np.ndarray, short: np.ndarray) -> np.ndarray:
    """Close intents that fit in the holdings (buyers close shorts, sellers close longs); legs sorted by time."""
    accepted = np.zeros(rows.size, dtype=bool)
    for side, holding in ((1, short), (-1, long_)):
        legs = np.flatnonzero((sides == side) & intents)
        order = legs[np.argsort(rows[legs], kind="stable")]
        used = group_cumsum(rows[order], sizes[order])
        accepted[order] = used <= holding[rows[order]]
    return accepted


def trade_book(book: pl.DataFrame, legs: pl.DataFrame) -> tuple[pl.DataFrame, np.ndarray]:
    """Apply customer legs (``row, ts, side, size, close_intent, dealer``) in time blocks; return the new book
    and each leg's closing flag."""
    long_, short, dealer = (book[c].to_numpy().copy() for c in BOOK_COLUMNS)
    rows, sides, sizes = (legs[c].to_numpy() for c in ("row", "side", "size"))
    intents, via_dealer = legs["close_intent"].to_numpy(), legs["dealer"].to_numpy()
    ts = legs["ts"].to_numpy()
    edges = np.quantile(ts, np.linspace(0, 1, INTRADAY_BLOCKS + 1)[1:-1]) if ts.size else []
    block = np.searchsorted(edges, ts, side="right")
    closing = np.zeros(rows.size, dtype=bool)
    for b in range(INTRADAY_BLOCKS):
        ids = np.flatnonzero(block == b)
        closing[ids] = accept_closes(rows[ids], sides[ids], sizes[ids], intents[ids], long_, short)
        buy, close = sides[ids] == 1, closing[ids]
        r, n = rows[ids], sizes[ids]
        np.add.at(long_, r, np.where(buy & ~close, n, 0) - np.where(~buy & close, n, 0))
        np.add.at(short, r, np.where(~buy & ~close, n, 0) - np.where(buy & close, n, 0))
        np.add.at(dealer, r, np.where(via_dealer[ids], -sides[ids] * n, 0))
    updated = book.with_columns(pl.Series(c, v) for c, v in zip(BOOK_COLUMNS, (long_, short, dealer)))
    return updated, closing


OPEN_CLOSE_LABELS = pl.Series(["BTO", "BTC", "STO", "STC"])


def open_close_labels(sides: np.ndarray, closing: np.ndarray) -> pl.Series:
    """BTO/STO/BTC/STC from side and closing flag."""
    return OPEN_CLOSE_LABELS.gather(2 * (sides != 1) + closing.astype(np.int64))
