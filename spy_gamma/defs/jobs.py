"""Jobs: the daily partitioned stages and the window analytics that follow them."""

from __future__ import annotations

import dagster as dg

daily_job = dg.define_asset_job(
    "daily_ingest_classify", selection=dg.AssetSelection.groups("ingest", "classify", "greeks")
    - dg.AssetSelection.assets("dealer_positions"),
    description="One trading day: ingest, pair and classify trades, closing vols.")

window_job = dg.define_asset_job(
    "window_analytics", selection=dg.AssetSelection.assets("dealer_positions")
    | dg.AssetSelection.groups("analytics", "reports"),
    description="Positions over the window, exposures, gamma profile, structure and the dashboard.")
