"""Reports: the dashboard, panels, PNGs, Markdown reports, CSV and JSON of ARCHITECTURE §5, per as-of close.

Each close's files are kept under ``<data dir>/reports/<as_of>/`` (a history by day); a run can also ask for a
copy in an output folder of its choice (``spy-gamma run --output DIR``).
"""

import datetime as dt
from collections.abc import Iterable
from pathlib import Path

import dagster as dg

from spy_gamma.defs.automation import follows_inputs
from spy_gamma.defs.metadata import path_value
from spy_gamma.defs.partitions import LOOKBACK, OPEN_INTEREST_AROUND, trading_days
from spy_gamma.defs.reports.bundle import build_bundle
from spy_gamma.defs.resources import FlatFilesResource, LakeResource, MarketSettings
from spy_gamma.defs.runs import SINGLE_RUN, DayResult, materialize_days
from spy_gamma.report.exports import png_session, write_atomic, write_reports

REPORT_DEPS = ["dealer_exposures", "exposures_by_strike", "gamma_profile", "gamma_levels", "max_pain",
               "hedging_flows", "gex_surface", "market_structure", "dealer_positions", "position_path",
               "signing_fit", "target_expiries", "contract_iv", "classified_trades", "spy_spot",
               dg.AssetDep("open_interest", partition_mapping=OPEN_INTEREST_AROUND),
               dg.AssetDep("session_quality", partition_mapping=LOOKBACK),
               dg.AssetDep("levels_history", partition_mapping=LOOKBACK)]


class ReportOutput(dg.Config):
    """Where else to write the files (empty: only the lake's report folder) and the analysis date they state."""

    output_dir: str = ""
    analysis_date: str = ""


@dg.asset(partitions_def=trading_days, group_name="reports", owners=["team:spy-gamma"], kinds={"plotly", "html"},
          deps=REPORT_DEPS, code_version="3", backfill_policy=SINGLE_RUN,
          automation_condition=follows_inputs(optional=dg.AssetSelection.assets("open_interest", "session_quality", "levels_history")))
def dashboard(context: dg.AssetExecutionContext, config: ReportOutput, lake: LakeResource, market: MarketSettings,
              flatfiles: FlatFilesResource):
    """dashboard.html and every output file of ARCHITECTURE §5 for the as-of close."""
    store = lake.lake

    def build(as_of: dt.date) -> DayResult:
        analysis_date = dt.date.fromisoformat(config.analysis_date) if config.analysis_date else as_of
        bundle = build_bundle(store, as_of, analysis_date, market.rate, market.dividend_yield, flatfiles.source)
        folder = store.data_dir / "reports" / as_of.isoformat()
        written = write_reports(bundle, folder)
        if config.output_dir:
            copy_reports(written.values(), Path(config.output_dir))
        page = written["dashboard.html"]
        return DayResult(metadata={
            "dashboard": path_value(page), "dashboard_mb": round(page.stat().st_size / 1e6, 2), "files": len(written),
            "regime": bundle.summary["regime"]["label"], "total_gex_usd": bundle.summary["total_gex"],
            "gamma_flip": bundle.summary["gamma_flip"]})

    with png_session():  # one Chromium renders the PNGs of every day this run materializes
        yield from materialize_days(context, build)


def copy_reports(written: Iterable[Path], output_dir: Path) -> None:
    """Copy the files this run wrote (never whatever else is in the folder: a concurrent run's temporary files are
    there too) into ``output_dir``, each through a temporary file of its own then a rename."""
    for path in written:
        write_atomic(output_dir / path.name, path.read_bytes())
