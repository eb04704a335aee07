"""Blocking checks on ingested days: schema, duplicates and timestamps inside the session."""


import dagster as dg
import polars as pl

from spy_gamma.defs.ingest.assets import spy_quotes, spy_trades
from spy_gamma.defs.partitions import partition_day, trading_days
from spy_gamma.defs.resources import LakeResource
from spy_gamma.quant.expiry_time import session_close_ns

TRADE_TYPES = {"ticker": pl.String, "expiry": pl.Date, "right": pl.String, "strike": pl.Float64,
               "sip_timestamp": pl.Int64, "price": pl.Float64, "size": pl.Int64, "file_row": pl.Int64}
SESSION_NS = int(6.5 * 3600 * 1e9)
MAX_OUTSIDE_SESSION_PCT = 0.5
MAX_DUPLICATE_PCT = 1.0
MAX_CROSSED_QUOTES_PCT = 2.0
CHECK = dict(partitions_def=trading_days, blocking=True)


@dg.asset_check(asset=spy_trades, **CHECK)
def trades_schema(context: dg.AssetCheckExecutionContext, lake: LakeResource) -> dg.AssetCheckResult:
    """Every contract column present with its type (downstream joins and Greeks rely on them)."""
    schema = lake.lake.read("spy_trades", partition_day(context)).schema
    wrong = {c: str(schema.get(c)) for c, t in TRADE_TYPES.items() if schema.get(c) != t}
    return dg.AssetCheckResult(passed=not wrong, metadata={"wrong_or_missing": wrong or "none"})


@dg.asset_check(asset=spy_trades, **CHECK)
def trades_not_duplicated(context: dg.AssetCheckExecutionContext, lake: LakeResource) -> dg.AssetCheckResult:
    """Identical prints (same contract, ns, price, size, exchange, condition) stay under 1% of the day."""
    trades = lake.lake.read("spy_trades", partition_day(context))
    key = ["ticker", "sip_timestamp", "price", "size", "exchange", "conditions"]
    duplicates = len(trades) - trades.select(key).n_unique() if len(trades) else 0
    pct = 100 * duplicates / max(len(trades), 1)
    return dg.AssetCheckResult(passed=pct <= MAX_DUPLICATE_PCT, metadata={"duplicates": duplicates, "pct": pct})


@dg.asset_check(asset=spy_trades, **CHECK)
def trades_inside_session(context: dg.AssetCheckExecutionContext, lake: LakeResource) -> dg.AssetCheckResult:
    """Prints stamped between 09:30 and 16:00 ET of the partition day (a wrong-day file fails this)."""
    day = partition_day(context)
    close = session_close_ns(day)
    ts = lake.lake.read("spy_trades", day)["sip_timestamp"]
    outside = int(((ts < close - SESSION_NS) | (ts > close)).sum())
    pct = 100 * outside / max(len(ts), 1)
    return dg.AssetCheckResult(passed=pct <= MAX_OUTSIDE_SESSION_PCT, metadata={"outside": outside, "pct": pct})


@dg.asset_check(asset=spy_quotes, **CHECK)
def quotes_rarely_crossed(context: dg.AssetCheckExecutionContext, lake: LakeResource) -> dg.AssetCheckResult:
    """Crossed NBBO updates (bid > ask) stay a small share: more means a broken quote feed."""
    quotes = lake.lake.read("spy_quotes", partition_day(context))
    crossed = int((quotes["bid_price"] > quotes["ask_price"]).sum())
    pct = 100 * crossed / max(len(quotes), 1)
    return dg.AssetCheckResult(passed=pct <= MAX_CROSSED_QUOTES_PCT, metadata={"crossed": crossed, "pct": pct})
