"""The session as received: prints and quotes deduplicated, closed step by step (a minute by default) in event time, each print paired
with its prevailing NBBO by the batch pairing and collapsed into the batch signing model's evidence groups.

Event time, not arrival time, decides what a minute holds, so a replay at any speed (or a feed that delivers out of
order within ``lateness_ns``) closes the same minutes with the same prints. A print older than the last closed
minute is still counted (``late_prints``) and paired with the quotes known then.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from spy_gamma.quant.pairing import pair_with_quotes
from spy_gamma.quant.votes import GROUP_KEY, vote_features, vote_groups

MINUTE_NS = 60 * 1_000_000_000
DEFAULT_LATENESS_NS = 2 * 1_000_000_000
SUMS = ["count", "size_sum", "size_square_sum"]


class SessionTape:
    """Everything received for one session, and what has been closed (paired and grouped) so far."""

    def __init__(self, day: dt.date, lateness_ns: int = DEFAULT_LATENESS_NS, step_ns: int = MINUTE_NS):
        self.day, self.lateness_ns, self.step_ns = day, lateness_ns, step_ns
        self._trades: list[pl.DataFrame] = []
        self._quotes: list[pl.DataFrame] = []
        self._seen: set[tuple[str, int]] = set()
        self.prevailing = pl.DataFrame()  # last NBBO per ticker at the closed boundary
        self.groups = pl.DataFrame()  # vote groups of every closed print
        self.prints: list[pl.DataFrame] = []  # closed prints with quote fields and vote features
        self.closed_ns: int | None = None  # prints stamped before this are closed
        self.latest_ns: int | None = None
        self.duplicates = 0
        self.late_prints = 0

    def add(self, trades: pl.DataFrame, quotes: pl.DataFrame) -> None:
        """Take a message's prints and quotes; a print seen before (same ticker and sequence) is a duplicate."""
        if trades.height:
            fresh = []
            for key in zip(trades["ticker"].to_list(), trades["sequence"].to_list()):
                fresh.append(key not in self._seen)
                self._seen.add(key)
            self.duplicates += fresh.count(False)
            trades = trades.filter(pl.Series(fresh))
            if self.closed_ns is not None:
                self.late_prints += int((trades["sip_timestamp"] < self.closed_ns).sum())
            self._trades.append(trades)
        if quotes.height:
            self._quotes.append(quotes)
        stamps = [int(f["sip_timestamp"].max()) for f in (trades, quotes) if f.height]
        if stamps:
            self.latest_ns = max([*stamps, *([self.latest_ns] if self.latest_ns is not None else [])])

    def closable_steps(self, through_ns: int | None = None) -> list[int]:
        """Ends of the whole steps (``step_ns``, a minute by default) now complete: before the latest event less the lateness (or ``through_ns``)."""
        horizon = through_ns if through_ns is not None else (
            None if self.latest_ns is None else self.latest_ns - self.lateness_ns)
        start = self.closed_ns + self.step_ns if self.closed_ns is not None else self._first_minute_end()
        if horizon is None or start is None:
            return []
        return list(range(start, horizon // self.step_ns * self.step_ns + 1, self.step_ns))

    def _first_minute_end(self) -> int | None:
        stamps = [int(f["sip_timestamp"].min()) for f in (*self._trades, *self._quotes) if f.height]
        return (min(stamps) // self.step_ns + 1) * self.step_ns if stamps else None

    def close_through(self, end_ns: int) -> pl.DataFrame:
        """Close every print stamped before ``end_ns``: pair it (prevailing NBBO at or before it, any age), add
        its vote features and fold it into the groups; returns the newly closed prints."""
        trades, self._trades = _split(self._trades, end_ns)
        quotes, self._quotes = _split(self._quotes, end_ns)
        known = pl.concat([self.prevailing, quotes], how="diagonal_relaxed") if self.prevailing.height else quotes
        self.closed_ns = end_ns
        if known.height:
            self.prevailing = (known.sort("sip_timestamp", "sequence_number")
                               .group_by("ticker", maintain_order=True).last())
        if not trades.height:
            return trades
        paired = pair_with_quotes(trades, known) if known.height else pair_with_quotes(trades, _no_quotes())
        features = vote_features(paired.with_columns(pl.lit(self.day).alias("date")))
        self.prints.append(features)
        added = vote_groups(features)
        self.groups = added if not self.groups.height else (
            pl.concat([self.groups, added]).group_by(GROUP_KEY).agg(pl.col(SUMS).sum(), pl.col("size_max").max()))
        return features

    def all_prints(self) -> pl.DataFrame:
        """Every closed print of the session, in ticker and time order."""
        return pl.concat(self.prints, how="diagonal_relaxed").sort("ticker", "sip_timestamp", "sequence") \
            if self.prints else pl.DataFrame()


def _split(frames: list[pl.DataFrame], end_ns: int) -> tuple[pl.DataFrame, list[pl.DataFrame]]:
    """(rows stamped before ``end_ns``, the remaining rows as one frame in a list)."""
    if not frames:
        return pl.DataFrame(), []
    every = pl.concat(frames, how="diagonal_relaxed")
    before = every["sip_timestamp"] < end_ns
    rest = every.filter(~before)
    return every.filter(before), [rest] if rest.height else []


def _no_quotes() -> pl.DataFrame:
    return pl.DataFrame(schema={"ticker": pl.String, "sip_timestamp": pl.Int64, "bid_price": pl.Float64,
                                "ask_price": pl.Float64, "bid_size": pl.Int64, "ask_size": pl.Int64,
                                "sequence_number": pl.Int64})
