"""Accuracy bench on the simulator's truth: trade signing per rule, open/close, dealer position recovery."""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
from pathlib import Path

import numpy as np
import polars as pl

from spy_gamma.defs.resources import AnalysisConfig, FlatFilesResource
from spy_gamma.lake import Lake
from spy_gamma.quant.classify import RULES, sign_trades

PUBLISHED = "quote rule ~62-64% (modern ISE/CBOE), Lee-Ready ~64%, GSU stack 73-75%, ML 74-76%"


def print_location() -> pl.Expr:
    """Where a print sat against its prevailing NBBO: at_or_outside, mid, inside, or unquoted."""
    bid, ask, price = pl.col("bid_price"), pl.col("ask_price"), pl.col("price")
    mid = (bid + ask) / 2
    return (pl.when(pl.col("quote_state") == "unquoted").then(pl.lit("unquoted"))
            .when((price >= ask - 1e-9) | (price <= bid + 1e-9)).then(pl.lit("at_or_outside"))
            .when((price - mid).abs() < 1e-9).then(pl.lit("mid"))
            .otherwise(pl.lit("inside")))


def side_accuracy(classified: pl.DataFrame, truth: pl.DataFrame) -> dict[str, dict]:
    """Per rule: share of all trades signed correctly (unknown counts as wrong), overall and by print location."""
    base = classified.drop("customer_side", "side_confidence", "side_rule").join(
        truth.select("date", "file_row", pl.col("customer_side").alias("true_side")), on=["date", "file_row"])
    base = base.with_columns(print_location().alias("location")).sort("ticker", "sip_timestamp")
    results = {}
    for name in RULES:
        signed = sign_trades(base, name).with_columns((pl.col("customer_side") == pl.col("true_side")).alias("ok"))
        by_location = dict(signed.group_by("location").agg(pl.col("ok").mean()).iter_rows())
        decided = float((signed["customer_side"] != 0).mean())
        # Published studies count an undecided trade as a coin flip; "overall" counts it as wrong.
        results[name] = {"overall": float(signed["ok"].mean()), "decided_share": decided,
                         "overall_coin_flip": float(signed["ok"].mean()) + 0.5 * (1.0 - decided),
                         **{loc: float(v) for loc, v in sorted(by_location.items())}}
    return results


def confidence_calibration(classified: pl.DataFrame, truth: pl.DataFrame) -> list[dict]:
    """The default rule's stated confidence against its observed accuracy, by confidence decile band."""
    joined = classified.join(truth.select("date", "file_row", pl.col("customer_side").alias("true_side")),
                             on=["date", "file_row"]).filter(pl.col("customer_side") != 0)
    bands = (joined.with_columns((pl.col("side_confidence") * 10).floor().clip(5, 9).alias("band"))
             .group_by("band").agg(pl.len().alias("trades"), pl.col("side_confidence").mean().alias("stated"),
                                   (pl.col("customer_side") == pl.col("true_side")).mean().alias("observed"))
             .sort("band"))
    return [{"band": f"{b / 10:.1f}-{(b + 1) / 10:.1f}", "trades": n, "stated": stated, "observed": observed}
            for b, n, stated, observed in bands.iter_rows()]


def open_close_accuracy(classified: pl.DataFrame, truth: pl.DataFrame) -> dict[str, float]:
    """Share of trades whose open/close tag (and whose BTO/STO/BTC/STC) matches the truth."""
    joined = classified.join(truth.select("date", "file_row", pl.col("open_close").alias("true_oc")),
                             on=["date", "file_row"])
    opening = joined["open_close"].is_in(["BTO", "STO"])
    true_opening = joined["true_oc"].is_in(["BTO", "STO"])
    return {"open_vs_close": float((opening == true_opening).mean()),
            "four_way": float((joined["open_close"] == joined["true_oc"]).mean())}


def position_recovery(estimated: pl.DataFrame, truth: pl.DataFrame) -> dict[str, dict]:
    """Per expiry (and all): correlation and |error|-weighted error of dealer positions against the truth."""
    joined = truth.select("ticker", "expiry", pl.col("dealer_position").alias("true_position")).join(
        estimated.select("ticker", "dealer_position"), on="ticker", how="full", coalesce=True).fill_null(0)
    groups = {"all": joined, **{str(e): g for (e,), g in joined.partition_by("expiry", as_dict=True).items() if e}}
    return {name: _recovery(g) for name, g in sorted(groups.items())}


def _recovery(frame: pl.DataFrame) -> dict:
    est, true = frame["dealer_position"].to_numpy().astype(float), frame["true_position"].to_numpy().astype(float)
    corr = float(np.corrcoef(est, true)[0, 1]) if len(est) > 2 and est.std() > 0 and true.std() > 0 else float("nan")
    return {"contracts": len(frame), "correlation": corr,
            "weighted_abs_error": float(np.abs(est - true).sum() / max(np.abs(true).sum(), 1.0)),
            "true_gross": float(np.abs(true).sum()), "estimated_gross": float(np.abs(est).sum())}


def run_accuracy_bench(json_path: Path | None = None, data_dir: Path | None = None) -> dict:
    """Run the default analysis on the simulated market, then score it against the truth; write JSON + Markdown."""
    from spy_gamma.pipeline import SPYPositioningPipeline

    data_dir = Path(data_dir or os.environ.get("SPY_GAMMA_DATA_DIR", "data"))
    config = AnalysisConfig()
    with tempfile.TemporaryDirectory() as output:
        SPYPositioningPipeline(output_dir=output, source="simulated", data_dir=data_dir).run_full_analysis(
            config.analysis_date, config.expiries)
    lake, truth_root = Lake(data_dir), FlatFilesResource(source="simulated", data_dir=str(data_dir)).local_root / "truth"
    classified = lake.read_days("classified_trades", config.window)
    truth = _truth_trades(truth_root, config.window)
    true_positions = pl.read_parquet(truth_root / "positions" / f"{config.as_of}.parquet").filter(
        pl.col("expiry").is_in(config.expiry_dates))
    estimated = lake.read("dealer_positions").filter(pl.col("date") == config.as_of)
    result = {"as_of": str(config.as_of), "trades": len(classified), "published_reference": PUBLISHED,
              "side_accuracy": side_accuracy(classified, truth),
              "confidence_calibration": confidence_calibration(classified, truth),
              "open_close_accuracy": open_close_accuracy(classified, truth),
              "position_recovery": position_recovery(estimated, true_positions)}
    _write(result, json_path or Path("reports/bench/accuracy.json"))
    return result


def _truth_trades(truth_root: Path, days: list[dt.date]) -> pl.DataFrame:
    return pl.concat([pl.read_parquet(truth_root / "trades" / f"{d}.parquet").with_columns(pl.lit(d).alias("date"))
                      for d in days])


def _write(result: dict, json_path: Path) -> None:
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(result, indent=2, default=str))
    json_path.with_suffix(".md").write_text(markdown_table(result))


def markdown_table(result: dict) -> str:
    """The bench as Markdown: one row per signing rule, then open/close and position recovery."""
    locations = ["at_or_outside", "inside", "mid", "unquoted"]
    lines = [f"# Accuracy on the simulated market (as of {result['as_of']}, {result['trades']:,} trades)", "",
             f"Published reference: {result['published_reference']}.", "",
             "| rule | overall | undecided as coin flip | decided | " + " | ".join(locations) + " |",
             "|---" * (4 + len(locations)) + "|"]
    for rule, acc in sorted(result["side_accuracy"].items(), key=lambda kv: -kv[1]["overall"]):
        cells = [f"{100 * acc.get(loc, float('nan')):.1f}%" for loc in locations]
        lines.append(f"| {rule} | {100 * acc['overall']:.1f}% | {100 * acc['overall_coin_flip']:.1f}% | "
                     f"{100 * acc['decided_share']:.1f}% | " + " | ".join(cells) + " |")
    lines += ["", "Default rule: stated confidence vs observed accuracy", "",
              "| confidence | trades | stated | observed |", "|---|---|---|---|"]
    lines += [f"| {c['band']} | {c['trades']:,} | {100 * c['stated']:.1f}% | {100 * c['observed']:.1f}% |"
              for c in result["confidence_calibration"]]
    oc = result["open_close_accuracy"]
    lines += ["", (f"Open/close: {100 * oc['open_vs_close']:.1f}% right (open vs close), "
                   f"{100 * oc['four_way']:.1f}% right on BTO/STO/BTC/STC."), "",
              "| expiry | contracts | correlation | weighted abs error |", "|---|---|---|---|"]
    lines += [f"| {e} | {r['contracts']} | {r['correlation']:.3f} | {100 * r['weighted_abs_error']:.1f}% |"
              for e, r in result["position_recovery"].items()]
    return "\n".join(lines) + "\n"
