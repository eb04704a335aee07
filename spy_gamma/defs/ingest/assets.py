"""Ingest: a session's SPY option trades (every expiry), their NBBO quotes, SPY minute bars and open interest.

Daily assets: a partition holds every SPY contract of that session and is a pure function of its key.
"""

import datetime as dt

import dagster as dg
import polars as pl

from spy_gamma.defs.metadata import preview, share
from spy_gamma.defs.partitions import trading_days
from spy_gamma.defs.resources import FlatFilesResource, LakeResource
from spy_gamma.defs.runs import (
    DAY_WORKERS,
    SINGLE_RUN,
    SOURCE_RETRIES,
    Check,
    DayResult,
    check_specs,
    materialize_days,
)
from spy_gamma.quant.spot import close_spot, label_sessions
from spy_gamma.sources.day_files import quotes_for_day, require
from spy_gamma.sources.errors import DataError
from spy_gamma.sources.readers import read_minute_aggs, read_open_interest
from spy_gamma.sources.spy_lines import read_spy_trades
from spy_gamma.trading_calendar import session_close_ns, session_open_ns

INGEST = dict(partitions_def=trading_days, group_name="ingest", owners=["team:spy-gamma"],
              kinds={"polars", "parquet", "s3"}, backfill_policy=SINGLE_RUN, retry_policy=SOURCE_RETRIES)
MAX_DUPLICATE_PCT = 1.0
MAX_OUTSIDE_SESSION_PCT = 0.5
WRONG_DAY_PCT = 50.0  # more prints than this outside the session's date: the file is another day's (invalid input)
MAX_CROSSED_QUOTES_PCT = 2.0


@dg.asset(**INGEST, code_version="2", check_specs=check_specs("spy_trades", {
    "trades_not_duplicated": f"Identical prints (contract, ns, price, size, exchange, condition) <= {MAX_DUPLICATE_PCT}%",
    "trades_inside_session": f"Prints outside 09:30-16:00 ET of the session (13:00 early closes) <= "
                             f"{MAX_OUTSIDE_SESSION_PCT}%"}))
def spy_trades(context: dg.AssetExecutionContext, lake: LakeResource, flatfiles: FlatFilesResource):
    """Every SPY-root option print of the session (all expiries), parsed contract fields, corrections dropped."""
    source = flatfiles.open()

    def ingest(day: dt.date) -> DayResult:
        read = read_spy_trades(require(source, "trades", day))
        outside_pct = _outside_session_pct(read.frame, day)
        if outside_pct > WRONG_DAY_PCT:
            raise DataError(source.location("trades", day), f"{outside_pct:.0f}% of the SPY prints lie outside the "
                            f"{day} session: this is another day's file")
        lake.lake.write("spy_trades", day, read.frame)
        duplicates_pct = _duplicate_pct(read.frame)
        return DayResult(
            metadata={"rows": read.kept, "rows_in_file": read.rows_in_file, "spy_rows": read.spy_rows,
                      "dropped_corrections": read.dropped_corrections, "dropped_invalid": read.dropped_invalid,
                      "dropped_non_finite": read.dropped_non_finite, "dropped_implausible": read.dropped_implausible,
                      "contracts": read.frame["ticker"].n_unique(), "preview": preview(read.frame)},
            checks={"trades_not_duplicated": Check(duplicates_pct <= MAX_DUPLICATE_PCT, {"pct": duplicates_pct}),
                    "trades_inside_session": Check(outside_pct <= MAX_OUTSIDE_SESSION_PCT, {"pct": outside_pct})})

    yield from materialize_days(context, ingest, DAY_WORKERS)


def _outside_session_pct(trades: pl.DataFrame, day: dt.date) -> float:
    stamps = trades["sip_timestamp"]
    outside = int(((stamps < session_open_ns(day)) | (stamps > session_close_ns(day))).sum())
    return share(outside, len(stamps))


def _duplicate_pct(trades: pl.DataFrame) -> float:
    key = ["ticker", "sip_timestamp", "price", "size", "exchange", "conditions"]
    return share(len(trades) - trades.select(key).n_unique(), len(trades)) if len(trades) else 0.0


@dg.asset(**INGEST, code_version="2", deps=[spy_trades], check_specs=check_specs("spy_quotes", {
    "quotes_rarely_crossed": f"Crossed NBBO updates (bid > ask) <= {MAX_CROSSED_QUOTES_PCT}% (more: a broken feed)"}))
def spy_quotes(context: dg.AssetExecutionContext, lake: LakeResource, flatfiles: FlatFilesResource):
    """NBBO updates of exactly the contracts traded that session: the quote flat file, else Polygon REST v3."""
    source = flatfiles.open()

    def ingest(day: dt.date) -> DayResult:
        trades = lake.lake.read("spy_trades", day)
        quotes = quotes_for_day(source, day, trades, rest_cache=lake.lake.data_dir / "rest_cache")
        lake.lake.write("spy_quotes", day, quotes.frame)
        crossed_pct = share(int((quotes.frame["bid_price"] > quotes.frame["ask_price"]).sum()), len(quotes.frame))
        return DayResult(
            metadata={"rows": len(quotes.frame), "origin": quotes.origin, "rest_requests": quotes.requests,
                      "dropped_non_finite": quotes.dropped_non_finite, "dropped_implausible": quotes.dropped_implausible,
                      "contracts_quoted": quotes.frame["ticker"].n_unique(),
                      "contracts_traded": trades["ticker"].n_unique(), "preview": preview(quotes.frame)},
            checks={"quotes_rarely_crossed": Check(crossed_pct <= MAX_CROSSED_QUOTES_PCT, {"pct": crossed_pct})})

    yield from materialize_days(context, ingest, DAY_WORKERS)


@dg.asset(**INGEST, code_version="2")
def spy_spot(context: dg.AssetExecutionContext, lake: LakeResource, flatfiles: FlatFilesResource):
    """SPY minute bars of the day labelled pre / regular / post; the regular-session close is the day's spot."""
    source = flatfiles.open()

    def ingest(day: dt.date) -> DayResult:
        path = require(source, "minute_aggs", day)
        bars = label_sessions(read_minute_aggs(path, ticker="SPY"), day)
        if not (bars["session"] == "regular").any():
            raise DataError(path, f"no regular-session SPY minute bar on {day} (only pre-market or after-hours)")
        close = close_spot(bars, day)
        lake.lake.write("spy_spot", day, bars)
        return DayResult(metadata={"bars": len(bars), "regular_bars": int((bars["session"] == "regular").sum()),
                                   "regular_close": close, "last_bar_close": float(bars["close"][-1])})

    yield from materialize_days(context, ingest)


@dg.asset(**INGEST, code_version="2")
def open_interest(context: dg.AssetExecutionContext, lake: LakeResource, flatfiles: FlatFilesResource):
    """Start-of-day open interest of every SPY contract, when the session's file is published (else no rows)."""
    source = flatfiles.open()

    def ingest(day: dt.date) -> DayResult:
        path = source.fetch("open_interest", day)
        if path is None:
            context.log.warning(f"no open-interest file for {day}: open/close falls back to customers' holdings")
        frame = read_open_interest(path)
        lake.lake.write("open_interest", day, frame)
        return DayResult(metadata={"contracts": len(frame), "file_found": path is not None,
                                   "total_open_interest": int(frame["open_interest"].sum()) if len(frame) else 0})

    yield from materialize_days(context, ingest)
