"""Assemble the presentation layer's one input (``ReportBundle``) from the lake's analytics tables."""

from __future__ import annotations

import json

import polars as pl

from spy_gamma.defs.resources import AnalysisConfig
from spy_gamma.lake import Lake
from spy_gamma.quant.closing_vols import out_of_the_money
from spy_gamma.quant.exposure import naive_oi_gex
from spy_gamma.quant.implied_vol import IvStatus
from spy_gamma.quant.structure import strike_span
from spy_gamma.quant.intraday import intraday_dealer_flow
from spy_gamma.quant.positions import daily_flows
from spy_gamma.report.bundle import POSITION_CSV_COLUMNS, ReportBundle

GREEK_COLUMNS = ["ticker", "expiry", "strike", "right", "iv", "delta", "gamma", "vega", "theta", "vanna", "charm",
                 "vomma", "speed", "zomma", "color", "gex", "dex", "vex", "cex"]
MIN_PATTERN_STRENGTH = 0.05  # weaker patterns are noise on a trader's screen (all remain in market_structure)
MAX_PATTERNS = 15
SCENARIO_KEYS = {"spot -2%": "spot_-2pct", "spot -1%": "spot_-1pct", "spot -0.5%": "spot_-0.5pct",
                 "spot +0.5%": "spot_+0.5pct", "spot +1%": "spot_+1pct", "spot +2%": "spot_+2pct",
                 "vol -1pt": "vol_-1pt", "vol +1pt": "vol_+1pt", "1 day decay": "one_day_decay"}


def build_bundle(lake: Lake, config: AnalysisConfig) -> ReportBundle:
    """Every table the dashboard and reports show, as of the configured analysis date."""
    as_of, r, q = config.as_of, config.rate, config.dividend_yield
    exposures = lake.read("dealer_exposures")
    levels = lake.read("gamma_levels").row(0, named=True)
    chain = lake.read("contract_iv", as_of)
    classified = lake.read_days("classified_trades", config.window)
    positions = lake.read("dealer_positions").filter(pl.col("date") == as_of)
    flow_by_strike = exposures.group_by("strike").agg(pl.col("gex").sum().alias("flow_gex"))
    naive = naive_oi_gex(exposures, levels["spot"], r, q).select("strike", pl.col("net_gex").alias("naive_oi_gex"))
    return ReportBundle(
        summary=summary(lake, config, levels, chain, classified),
        exposures_by_strike=lake.read("exposures_by_strike"),
        gamma_profile=lake.read("gamma_profile"),
        gex_surface=lake.read("gex_surface"),
        smile=chain.filter(out_of_the_money()).select("expiry", "strike", "right", "iv_market", "iv_fit", "rejected"),
        naive_gex=flow_by_strike.join(naive, on="strike", how="full", coalesce=True).fill_null(0.0).sort("strike"),
        intraday_flow=intraday_dealer_flow(classified.filter(pl.col("date") == as_of), lake.read("spy_spot", as_of),
                                           chain, r, q),
        positions=positions.select(POSITION_CSV_COLUMNS).sort("expiry", "strike", "right"),
        contract_greeks=_contract_greeks(exposures),
        strike_flow=_strike_flow(classified),
    )


def summary(lake: Lake, config: AnalysisConfig, levels: dict, chain: pl.DataFrame, classified: pl.DataFrame) -> dict:
    """``analysis_summary.json``: ARCHITECTURE §5 keys plus regime, levels, patterns, flows and data quality."""
    structure = json.loads(lake.read("market_structure")["structure_json"][0])
    pain = lake.read("max_pain")
    flows = lake.read("hedging_flows")
    return {
        "analysis_date": config.analysis_date, "as_of": config.as_of.isoformat(), "spot": levels["spot"],
        "expiries": config.expiries, "total_gex": levels["total_gex"], "gamma_flip": levels["gamma_flip"],
        "call_wall": {"strike": levels["call_wall"], "gex": levels["call_wall_gex"]},
        "put_wall": {"strike": levels["put_wall"], "gex": levels["put_wall_gex"]},
        "abs_gamma_strike": levels["abs_gamma_strike"], "gamma_centroid": levels["gamma_centroid"],
        "max_pain": {e.isoformat(): k for e, k in pain.iter_rows()},
        "regime": _regime(structure["regime"]),
        "levels": {side: [_level(lv) for lv in structure["levels"][side]] for side in ("support", "resistance")},
        "patterns": patterns_list(structure["patterns"]),
        "hedging_flows": {SCENARIO_KEYS.get(s, s): usd for s, usd in flows.select("scenario", "hedge_usd").iter_rows()},
        "data_quality": data_quality(lake, config, chain, classified),
        "methodology": methodology(config),
    }


def _regime(regime: dict) -> dict:
    return {"label": regime["label"], "perspective": regime["perspective"],
            "gex_at_spot": regime["dealer_gex_at_spot"], "distance_to_flip_pct": regime["flip_distance_pct"],
            "strength": regime["strength"], "gross_gex": regime["gross_gex"]}


def _level(level: dict) -> dict:
    return {"strike": level["strike"], "kind": level["kind"], "strength": level["strength"],
            "dealer_gex": level["dealer_gex"], "note": level["note"], "perspective": level["perspective"]}


def patterns_list(patterns: dict) -> list[dict]:
    """Flatten the structure's pattern groups into ``{kind, strength, strikes, expiry, note}`` rows."""
    rows = [{"kind": "butterfly", "strength": f["strength"], "strikes": [f["lower"], f["body"], f["upper"]],
             "expiry": f["expiry"], "note": f"{f['flies']:,.0f} flies, {f['perspective']}"}
            for f in patterns["butterflies"]]
    rows += [{"kind": "risk_reversal", "strength": abs(rr["strength"]), "strikes": [rr["put_strike"], rr["call_strike"]],
              "expiry": rr["expiry"], "note": rr["label"]} for rr in patterns["risk_reversals"]]
    rows += [{"kind": "acceleration_zone", "strength": z["strength"], "strikes": [z["low"], z["high"]],
              "expiry": None, "note": f"dealers short gamma {strike_span(z['low'], z['high'])}: hedging accelerates moves"}
             for z in patterns["acceleration_zones"]]
    calendar = patterns.get("calendar") or {"expiries": []}
    rows += [{"kind": "pin_risk", "strength": e["pin_concentration"], "strikes": [e["pin_strike"]] if e["pin_strike"] else [],
              "expiry": e["expiry"], "note": f"{e['weekday']} expiry holds {e['share_of_gross']:.0%} of dealer gross gamma"}
             for e in calendar["expiries"]]
    kept = [row for row in rows if (row["strength"] or 0.0) >= MIN_PATTERN_STRENGTH]
    return sorted(kept, key=lambda row: -row["strength"])[:MAX_PATTERNS]


def data_quality(lake: Lake, config: AnalysisConfig, chain: pl.DataFrame, classified: pl.DataFrame) -> dict:
    """Coverage figures the reports show: quoting, unknown sides, crossed quotes, IV solves, and warnings."""
    n = max(len(classified), 1)
    states = dict(classified.group_by("quote_state").len().iter_rows())
    missing_days = [d.isoformat() for d in config.window if not lake.exists("classified_trades", d)]
    warnings = [f"no classified trades for {d}" for d in missing_days]
    unquoted = states.get("unquoted", 0)
    if unquoted:
        warnings.append(f"{unquoted:,} prints had no quote within {config.quote_tolerance_ms} ms: signed without quotes")
    return {"trades": len(classified), "quoted_pct": 100 * (1 - unquoted / n),
            "unknown_side_pct": 100 * int((classified["customer_side"] == 0).sum()) / n,
            "crossed_quote_pct": 100 * states.get("crossed", 0) / n,
            "locked_quote_pct": 100 * states.get("locked", 0) / n,
            "iv_solved_pct": 100 * float((chain["iv_status"].drop_nulls() == IvStatus.OK).mean() or 0.0),
            "days": len(config.window) - len(missing_days), "warnings": warnings}


def methodology(config: AnalysisConfig) -> dict:
    return {
        "side": f"customer side by the '{config.side_rule}' rule stack at the prevailing NBBO (as-of join, "
                f"{config.quote_tolerance_ms} ms tolerance); crosses carry no dealer",
        "open_close": "opening volume from the day-over-day open-interest change, (V + dOI)/2, allocated to trades",
        "greeks": f"BSM, r={config.rate}, q={config.dividend_yield}, ACT/365 to 16:00 ET; vols from closing NBBO "
                  "mids, SVI-fitted per expiry",
        "gex_units": "dealer $ delta change per 1% spot move: position x 100 x gamma x S^2 x 0.01",
        "window": f"{config.window[0]} to {config.window[-1]} ({len(config.window)} sessions)",
    }


def _contract_greeks(exposures: pl.DataFrame) -> pl.DataFrame:
    present = [c for c in GREEK_COLUMNS if c in exposures.columns]
    return exposures.select(present)


def _strike_flow(classified: pl.DataFrame) -> pl.DataFrame:
    """Per day and contract: net dealer flow and customer buy/sell volume, for the strike drill-down."""
    flows = daily_flows(classified)
    return flows.select("date", "expiry", "strike", "right", "net_dealer_flow",
                        (pl.col("customer_buy_open") + pl.col("customer_buy_close")).alias("customer_buy"),
                        (pl.col("customer_sell_open") + pl.col("customer_sell_close")).alias("customer_sell"))
