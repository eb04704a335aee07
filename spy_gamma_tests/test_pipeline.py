"""End to end on the simulated market: every output of ARCHITECTURE §5, the DuckDB catalog, and the truth."""

import csv
import datetime as dt
import json

import duckdb
import numpy as np
import polars as pl
import pytest

pytestmark = pytest.mark.slow

OUTPUTS = ["dashboard.html", "gamma_profile.html", "greeks_panel.html", "volatility_smile.html", "gamma_surface.html",
           "executive_summary.md", "comprehensive_report.md", "analysis_summary.json", "dealer_positions.csv",
           "exposures_by_strike.csv", "gamma_profile.csv"]


def header(path) -> list[str]:
    with open(path) as handle:
        return next(csv.reader(handle))


def test_every_output_file_is_written(pipeline_run):
    missing = [name for name in OUTPUTS if not (pipeline_run["out"] / name).exists()]
    assert not missing


def test_csv_columns_follow_the_contract(pipeline_run):
    out = pipeline_run["out"]
    assert header(out / "dealer_positions.csv")[:10] == [
        "ticker", "expiry", "strike", "right", "dealer_position", "customer_buy_open", "customer_sell_open",
        "customer_buy_close", "customer_sell_close", "open_interest"]
    assert header(out / "exposures_by_strike.csv")[:10] == [
        "expiry", "strike", "call_gex", "put_gex", "net_gex", "dex", "vex", "cex", "iv_call", "iv_put"]
    assert header(out / "gamma_profile.csv")[:2] == ["spot", "total_gex"]


def test_summary_keys_and_as_of(pipeline_run):
    summary = json.loads((pipeline_run["out"] / "analysis_summary.json").read_text())
    for key in ("analysis_date", "as_of", "spot", "expiries", "total_gex", "gamma_flip", "call_wall", "put_wall",
                "max_pain", "regime", "levels"):
        assert key in summary
    assert summary["as_of"] == "2025-10-03"          # Sunday analysis date -> Friday's close
    assert set(summary["max_pain"]) == {"2025-10-06", "2025-10-08", "2025-10-10"}
    assert 600 < summary["spot"] < 720


def test_lake_is_queryable_read_only(pipeline_run):
    with duckdb.connect(str(pipeline_run["data"] / "spy_gamma.duckdb"), read_only=True) as con:
        trades = con.execute("select count(*), count(distinct expiry) from spy_trades").fetchone()
        roots = con.execute("select count(*) from spy_trades where ticker not like 'O:SPY2%'").fetchone()[0]
    assert trades[0] > 1000 and trades[1] <= 3
    assert roots == 0


def test_positions_track_the_simulators_truth(pipeline_run):
    """Flow-based positions must recover the true dealer book far better than chance."""
    truth = pl.read_parquet(pipeline_run["truth"] / "positions" / "2025-10-03.parquet").filter(
        pl.col("expiry").is_in([dt.date(2025, 10, 6), dt.date(2025, 10, 8), dt.date(2025, 10, 10)]))
    estimated = pl.read_csv(pipeline_run["out"] / "dealer_positions.csv")
    joined = truth.select("ticker", pl.col("dealer_position").alias("true")).join(
        estimated.select("ticker", "dealer_position"), on="ticker", how="inner")
    corr = np.corrcoef(joined["true"].to_numpy(), joined["dealer_position"].to_numpy())[0, 1]
    assert corr > 0.5
