"""Checks on vols: enough contracts invert to an implied vol for the Greeks to rest on market prices."""


import dagster as dg

from spy_gamma.defs.greeks.assets import contract_iv
from spy_gamma.defs.partitions import partition_day, trading_days
from spy_gamma.defs.resources import LakeResource
from spy_gamma.quant.implied_vol import IvStatus

MIN_SOLVED_PCT = 80.0


@dg.asset_check(asset=contract_iv, partitions_def=trading_days, blocking=True)
def iv_solve_rate(context: dg.AssetCheckExecutionContext, lake: LakeResource) -> dg.AssetCheckResult:
    """At least 80% of the contracts marked at the close invert to an implied vol (the rest break arbitrage bounds)."""
    status = lake.lake.read("contract_iv", partition_day(context))["iv_status"].drop_nulls()
    pct = 100 * int((status == IvStatus.OK).sum()) / max(len(status), 1)
    return dg.AssetCheckResult(passed=pct >= MIN_SOLVED_PCT, metadata={"solved_pct": pct, "contracts": len(status),
                                                                        "reasons": dict(status.value_counts().iter_rows())})
