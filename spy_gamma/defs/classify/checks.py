"""Checks on classification and inventory: quote coverage, unknown sides, positions within open interest."""


import dagster as dg
import polars as pl

from spy_gamma.defs.classify.assets import classified_trades, dealer_positions
from spy_gamma.defs.partitions import partition_day, trading_days
from spy_gamma.defs.resources import LakeResource

MIN_QUOTED_PCT = 95.0
MAX_UNKNOWN_SIDE_PCT = 20.0


@dg.asset_check(asset=classified_trades, partitions_def=trading_days, blocking=True)
def quote_coverage(context: dg.AssetCheckExecutionContext, lake: LakeResource) -> dg.AssetCheckResult:
    """At least 95% of the day's trades paired with a real prevailing quote."""
    trades = lake.lake.read("classified_trades", partition_day(context))
    quoted = 100 * float((trades["quote_state"] != "unquoted").mean() or 0.0)
    return dg.AssetCheckResult(passed=quoted >= MIN_QUOTED_PCT, metadata={"quoted_pct": quoted})


@dg.asset_check(asset=classified_trades, partitions_def=trading_days)
def unknown_side_share(context: dg.AssetCheckExecutionContext, lake: LakeResource) -> dg.AssetCheckResult:
    """Trades no rule could sign stay under 20% (warning: positions then rest on fewer trades)."""
    trades = lake.lake.read("classified_trades", partition_day(context))
    unknown = 100 * float((trades["customer_side"] == 0).mean() or 0.0)
    return dg.AssetCheckResult(passed=unknown <= MAX_UNKNOWN_SIDE_PCT, metadata={"unknown_side_pct": unknown},
                               severity=dg.AssetCheckSeverity.WARN)


@dg.asset_check(asset=dealer_positions)
def positions_within_open_interest(lake: LakeResource) -> dg.AssetCheckResult:
    """|dealer position| <= open interest at the close wherever open interest is known (before expiry day)."""
    positions = lake.lake.read("dealer_positions").filter(
        pl.col("open_interest").is_not_null() & (pl.col("date") < pl.col("expiry")))
    breaches = positions.filter(pl.col("dealer_position").abs() > pl.col("open_interest"))
    share = 100 * len(breaches) / max(len(positions), 1)
    return dg.AssetCheckResult(passed=len(breaches) == 0, severity=dg.AssetCheckSeverity.WARN,
                               metadata={"checked": len(positions), "breaches": len(breaches), "breach_pct": share})
