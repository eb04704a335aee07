"""Ingest: the day's SPY option trades of the target expiries, their NBBO quotes, SPY minute bars and open interest."""


import dagster as dg
import polars as pl

from spy_gamma.defs.metadata import preview, share
from spy_gamma.defs.partitions import partition_day, trading_days
from spy_gamma.defs.resources import AnalysisConfig, FlatFilesResource, LakeResource
from spy_gamma.sources.day_files import quotes_for_day, require
from spy_gamma.sources.readers import read_minute_aggs, read_open_interest
from spy_gamma.sources.spy_lines import read_spy_trades

OWNERS = ["team:spy-gamma"]
INGEST = dict(partitions_def=trading_days, group_name="ingest", owners=OWNERS, kinds={"polars", "parquet", "s3"})


@dg.asset(**INGEST)
def spy_trades(context: dg.AssetExecutionContext, config: AnalysisConfig, lake: LakeResource,
               flatfiles: FlatFilesResource) -> dg.MaterializeResult:
    """SPY-root option trades of the target expiries with parsed expiry/right/strike, corrections dropped, sorted."""
    day = partition_day(context)
    read = read_spy_trades(require(flatfiles.open(), "trades", day), config.expiry_dates)
    lake.lake.write("spy_trades", day, read.frame)
    return dg.MaterializeResult(metadata={
        "rows": len(read.frame), "rows_in_file": read.rows_in_file, "spy_rows": read.spy_rows,
        "dropped_corrections": read.dropped_corrections, "dropped_other_expiries": read.dropped_other_expiries,
        "dropped_invalid": read.dropped_invalid, "contracts": read.frame["ticker"].n_unique(),
        "preview": preview(read.frame)})


@dg.asset(**INGEST, deps=[spy_trades])
def spy_quotes(context: dg.AssetExecutionContext, lake: LakeResource,
               flatfiles: FlatFilesResource) -> dg.MaterializeResult:
    """NBBO quotes for exactly the contracts traded that day: the quote flat file, else Polygon REST v3."""
    day = partition_day(context)
    trades = lake.lake.read("spy_trades", day)
    quotes = quotes_for_day(flatfiles.open(), day, trades)
    lake.lake.write("spy_quotes", day, quotes.frame)
    return dg.MaterializeResult(metadata={
        "rows": len(quotes.frame), "origin": quotes.origin, "contracts_quoted": quotes.frame["ticker"].n_unique(),
        "contracts_traded": trades["ticker"].n_unique(), "preview": preview(quotes.frame)})


@dg.asset(**INGEST)
def spy_spot(context: dg.AssetExecutionContext, lake: LakeResource,
             flatfiles: FlatFilesResource) -> dg.MaterializeResult:
    """SPY one-minute bars of the session (the spot for Greeks and the intraday flow clock)."""
    day = partition_day(context)
    bars = read_minute_aggs(require(flatfiles.open(), "minute_aggs", day), ticker="SPY")
    lake.lake.write("spy_spot", day, bars)
    return dg.MaterializeResult(metadata={
        "bars": len(bars), "close": float(bars["close"][-1]) if len(bars) else None,
        "low": float(bars["low"].min()) if len(bars) else None, "high": float(bars["high"].max()) if len(bars) else None})


@dg.asset(**INGEST)
def open_interest(context: dg.AssetExecutionContext, config: AnalysisConfig, lake: LakeResource,
                  flatfiles: FlatFilesResource) -> dg.MaterializeResult:
    """Start-of-day open interest of the target expiries' SPY contracts, when the day's file exists."""
    day = partition_day(context)
    path = flatfiles.open().fetch("open_interest", day)
    if path is None:
        context.log.warning(f"no open-interest file for {day}: open/close falls back to flow rules")
        frame = read_open_interest(None)
    else:
        frame = read_open_interest(path).filter(pl.col("expiry").is_in(config.expiry_dates))
    lake.lake.write("open_interest", day, frame)
    return dg.MaterializeResult(metadata={
        "contracts": len(frame), "total_open_interest": int(frame["open_interest"].sum()) if len(frame) else 0,
        "file_found": path is not None, "share_nonzero_pct": share(int((frame["open_interest"] > 0).sum()), len(frame))})
