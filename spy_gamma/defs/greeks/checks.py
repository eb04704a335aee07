"""Checks on vols: enough contracts invert to an implied vol for the Greeks to rest on market prices."""


import dagster as dg

from spy_gamma.defs.greeks.assets import contract_iv
from spy_gamma.defs.partitions import partition_day, trading_days
from spy_gamma.defs.resources import LakeResource

MIN_SOLVED_PCT = 80.0


@dg.asset_check(asset=contract_iv, partitions_def=trading_days, blocking=True)
def iv_solve_rate(context: dg.AssetCheckExecutionContext, lake: LakeResource) -> dg.AssetCheckResult:
    """At least 80% of marked contracts give a market implied vol the smile fit keeps."""
    chain = lake.lake.read("contract_iv", partition_day(context))
    marked = chain.filter(chain["iv_market"].is_not_null() | ~chain["rejected"])
    kept = int((chain["iv_market"].is_not_null() & ~chain["rejected"]).sum())
    pct = 100 * kept / max(len(marked), 1)
    return dg.AssetCheckResult(passed=pct >= MIN_SOLVED_PCT, metadata={"solved_kept_pct": pct, "contracts": len(marked)})
