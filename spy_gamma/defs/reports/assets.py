"""Reports: the dashboard, panels, PNGs, Markdown reports, CSV and JSON of ARCHITECTURE §5."""


from pathlib import Path

import dagster as dg

from spy_gamma.defs.analytics.assets import dealer_exposures, gamma_profile, gex_surface, market_structure
from spy_gamma.defs.metadata import path_value
from spy_gamma.defs.reports.bundle import build_bundle
from spy_gamma.defs.resources import AnalysisConfig, LakeResource
from spy_gamma.report.exports import write_reports


@dg.asset(group_name="reports", owners=["team:spy-gamma"], kinds={"plotly", "html"},
          deps=[dealer_exposures, gamma_profile, gex_surface, market_structure])
def dashboard(config: AnalysisConfig, lake: LakeResource) -> dg.MaterializeResult:
    """dashboard.html and every output file of ARCHITECTURE §5 in the configured output folder."""
    bundle = build_bundle(lake.lake, config)
    written = write_reports(bundle, Path(config.output_dir))
    page = written["dashboard.html"]
    return dg.MaterializeResult(metadata={
        "dashboard": path_value(page), "dashboard_mb": round(page.stat().st_size / 1e6, 2),
        "files": len(written), "regime": bundle.summary["regime"]["label"],
        "total_gex_usd": bundle.summary["total_gex"], "gamma_flip": bundle.summary["gamma_flip"]})
