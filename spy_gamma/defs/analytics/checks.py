"""Checks on exposures: every dollar figure finite before it reaches a report."""


import dagster as dg
import polars as pl

from spy_gamma.defs.analytics.assets import dealer_exposures, gamma_profile
from spy_gamma.defs.resources import LakeResource


@dg.asset_check(asset=dealer_exposures, blocking=True)
def exposures_finite(lake: LakeResource) -> dg.AssetCheckResult:
    """GEX, DEX, VEX and CEX finite for every contract (a NaN would poison every total)."""
    exposures = lake.lake.read("dealer_exposures")
    bad = exposures.filter(~pl.all_horizontal(pl.col("gex", "dex", "vex", "cex").is_finite()))
    return dg.AssetCheckResult(passed=bad.is_empty(), metadata={"non_finite_rows": len(bad)})


@dg.asset_check(asset=gamma_profile, blocking=True)
def profile_finite(lake: LakeResource) -> dg.AssetCheckResult:
    """The spot-grid profile covers +-7% of spot with finite totals."""
    profile, spot = lake.lake.read("gamma_profile"), lake.lake.read("gamma_levels")["spot"][0]
    finite = bool(profile["total_gex"].is_finite().all())
    covers = profile["spot"].min() <= spot * 0.93 + 0.25 and profile["spot"].max() >= spot * 1.07 - 0.25
    return dg.AssetCheckResult(passed=finite and covers, metadata={"points": len(profile), "finite": finite})
