"""Per-strike detail embedded in the dashboard: what a click on a strike bar shows, without a server."""

from __future__ import annotations

import polars as pl

from spy_gamma.report.bundle import POSITION_CSV_COLUMNS, ReportBundle
from spy_gamma.report.figures import exposures_per_strike

DETAIL_POSITION_COLUMNS = tuple(c for c in POSITION_CSV_COLUMNS if c not in ("ticker", "strike"))
DETAIL_GREEK_COLUMNS = ("expiry", "right", "iv", "delta", "gamma", "gex", "dex", "vex", "cex")
DETAIL_FLOW_COLUMNS = ("date", "expiry", "right", "net_dealer_flow", "customer_buy", "customer_sell")
SIGNIFICANT_DIGITS = 6


def strike_key(strike: float) -> str:
    """Strike as the page's JavaScript spells it: 670.0 -> '670', 672.5 -> '672.5'."""
    return f"{strike:.3f}".rstrip("0").rstrip(".")


def _table(frame: pl.DataFrame, columns: tuple[str, ...]) -> dict:
    """Compact column/rows form; dates ISO, floats to SIGNIFICANT_DIGITS so the page stays lean."""
    present = [c for c in columns if c in frame.columns]
    lean = frame.select(present).with_columns(
        pl.col(pl.Date).dt.to_string("%Y-%m-%d"),
        pl.col(pl.Float64, pl.Float32).round_sig_figs(SIGNIFICANT_DIGITS),
    )
    return {"columns": present, "rows": [list(row) for row in lean.iter_rows()]}


def strike_details(bundle: ReportBundle) -> dict[str, dict]:
    """For each strike drawn on the page: positions per expiry and right, their Greeks, daily flow."""
    strikes = exposures_per_strike(bundle)["strike"]
    sort_keys = ("expiry", "right")
    tables = {
        "positions": (bundle.positions.sort(*sort_keys), DETAIL_POSITION_COLUMNS),
        "greeks": (bundle.contract_greeks.sort(*sort_keys), DETAIL_GREEK_COLUMNS),
        "flow": (bundle.strike_flow.sort("date", *sort_keys), DETAIL_FLOW_COLUMNS),
    }
    partitions = {
        name: frame.filter(pl.col("strike").is_in(strikes.implode())).partition_by("strike", as_dict=True)
        for name, (frame, _) in tables.items()
    }
    return {
        strike_key(strike): {
            name: _table(partitions[name].get((strike,), tables[name][0].clear()), tables[name][1])
            for name in tables
        }
        for strike in strikes
    }
