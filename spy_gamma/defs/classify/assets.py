"""Classify: pair trades with the prevailing NBBO, sign them, split opens from closes; accumulate dealer inventory."""


import dagster as dg
import polars as pl

from spy_gamma.defs.ingest.assets import open_interest, spy_quotes, spy_trades
from spy_gamma.defs.lake_io import open_interest_panel
from spy_gamma.defs.metadata import preview, share
from spy_gamma.defs.partitions import partition_day, trading_days
from spy_gamma.defs.resources import AnalysisConfig, LakeResource
from spy_gamma.quant.classify import sign_trades
from spy_gamma.quant.expiry_time import tte_years_expr
from spy_gamma.quant.open_close import infer_open_close
from spy_gamma.quant.open_interest import daily_oi_changes
from spy_gamma.quant.pairing import pair_with_quotes, quote_state_counts
from spy_gamma.quant.positions import accumulate_positions, attach_open_interest, daily_flows
from spy_gamma.trading_calendar import next_trading_day

OWNERS = ["team:spy-gamma"]


@dg.asset(partitions_def=trading_days, group_name="classify", owners=OWNERS, kinds={"polars", "parquet"},
          deps=[spy_trades, spy_quotes, open_interest])
def classified_trades(context: dg.AssetExecutionContext, config: AnalysisConfig,
                      lake: LakeResource) -> dg.MaterializeResult:
    """Each trade with its prevailing quote, customer side, BTO/STO/BTC/STC, dealer sign and confidences."""
    day, store = partition_day(context), lake.lake
    paired = pair_with_quotes(store.read("spy_trades", day), store.read("spy_quotes", day),
                              tolerance_ns=config.quote_tolerance_ms * 1_000_000)
    signed = sign_trades(paired, config.side_rule)
    panel = open_interest_panel(store, day)
    oi_changes = daily_oi_changes(panel) if panel is not None else None
    classified = infer_open_close(signed, day, oi_changes).with_columns(
        tte_years_expr(pl.col("sip_timestamp"), pl.col("expiry")).alias("tte_years"))
    store.write("classified_trades", day, classified)
    states, n = quote_state_counts(classified), len(classified)
    return dg.MaterializeResult(metadata={
        "rows": n, "quoted_pct": share(n - states["unquoted"], n), "unknown_side_pct":
        share(int((classified["customer_side"] == 0).sum()), n), **{f"quote_{k}": v for k, v in states.items()},
        "open_close_methods": dict(classified.group_by("open_close_method").len().iter_rows()),
        "preview": preview(classified, columns=["ticker", "price", "bid_price", "ask_price", "customer_side",
                                                "open_close", "dealer_sign"])})


@dg.asset(group_name="classify", owners=OWNERS, kinds={"polars", "parquet"}, deps=[classified_trades, open_interest])
def dealer_positions(context: dg.AssetExecutionContext, config: AnalysisConfig,
                     lake: LakeResource) -> dg.MaterializeResult:
    """Dealer position per contract at every close of the window, from all daily flows in one pass."""
    store, window = lake.lake, config.window
    flows = daily_flows(store.read_days("classified_trades", window))
    oi_days = [*window, next_trading_day(window[-1])]
    positions = attach_open_interest(accumulate_positions(flows, window),
                                     store.read_days("open_interest", oi_days, missing_ok=True), oi_days)
    store.write("dealer_positions", "window", positions)
    latest = positions.filter(pl.col("date") == config.as_of)
    return dg.MaterializeResult(metadata={
        "rows": len(positions), "contracts_at_as_of": len(latest), "as_of": str(config.as_of),
        "gross_dealer_contracts": int(latest["dealer_position"].abs().sum()),
        "net_dealer_contracts": int(latest["dealer_position"].sum()),
        "preview": preview(latest.sort(pl.col("dealer_position").abs(), descending=True),
                           columns=["ticker", "dealer_position", "open_interest"])})
