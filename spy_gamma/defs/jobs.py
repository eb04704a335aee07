"""Jobs: a session's daily assets, and an as-of close's analysis (each partitioned by NYSE trading day)."""

from __future__ import annotations

import dagster as dg

DAILY_GROUPS = ("ingest", "classify", "greeks")
AS_OF_GROUPS = ("analytics", "reports")

daily_job = dg.define_asset_job(
    "daily_sessions", selection=dg.AssetSelection.groups(*DAILY_GROUPS),
    description="Sessions: ingest trades, quotes, minute bars and open interest; classify prints; closing vols.")

as_of_job = dg.define_asset_job(
    "as_of_analysis", selection=dg.AssetSelection.groups(*AS_OF_GROUPS),
    description="An as-of close: positions over its window, exposures, levels with bands, history and the dashboard.")
