"""Assemble the presentation layer's one input (``ReportBundle``) from one as-of close's tables in the lake."""

from __future__ import annotations

import datetime as dt
import json

import polars as pl

from spy_gamma.defs.analytics.assets import closing_open_interest
from spy_gamma.defs.partitions import window_sessions
from spy_gamma.lake import Lake
from spy_gamma.quant.book import with_open_interest
from spy_gamma.quant.closing_vols import mark_ages, out_of_the_money
from spy_gamma.quant.exposure import naive_oi_gex
from spy_gamma.quant.intraday import intraday_dealer_flow
from spy_gamma.quant.structure import PIN_BAND_PCT, acceleration_note
from spy_gamma.quant.uncertainty import N_DRAWS
from spy_gamma.report.bundle import POSITION_CSV_COLUMNS, ReportBundle

GREEK_COLUMNS = ["ticker", "expiry", "strike", "right", "iv", "delta", "gamma", "vega", "theta", "vanna", "charm",
                 "vomma", "speed", "zomma", "color", "gex", "dex", "vex", "cex"]
MIN_PATTERN_STRENGTH = 0.05  # weaker patterns are noise on a trader's screen (all remain in market_structure)
MAX_PATTERNS = 15
SCENARIO_KEYS = {"spot -2%": "spot_-2pct", "spot -1%": "spot_-1pct", "spot -0.5%": "spot_-0.5pct",
                 "spot +0.5%": "spot_+0.5pct", "spot +1%": "spot_+1pct", "spot +2%": "spot_+2pct",
                 "vol -1pt": "vol_-1pt", "vol +1pt": "vol_+1pt", "1 day decay": "one_day_decay"}
BAND_KEYS = ("p05", "p50", "p95")


def build_bundle(lake: Lake, as_of: dt.date, analysis_date: dt.date, r: float, q: float,
                 source: str | None = None) -> ReportBundle:
    """Every table the dashboard and reports show, as of one close; ``source`` (simulated, local, s3) is stated
    in the summary so the reports can say what a simulated market proves."""
    exposures = lake.read("dealer_exposures", as_of)
    levels = lake.read("gamma_levels", as_of).row(0, named=True)
    chain = lake.read("contract_iv", as_of)
    targets = pl.col("expiry").is_in(lake.read("target_expiries", as_of)["expiry"].to_list())
    positions = lake.read("dealer_positions", as_of).filter(targets)
    flow_by_strike = exposures.group_by("strike").agg(pl.col("gex").sum().alias("flow_gex"))
    latest_oi = closing_open_interest(lake, as_of)
    naive = naive_oi_gex(with_open_interest(exposures, latest_oi[1]) if latest_oi else exposures, levels["spot"], r, q)
    naive_total = {"naive_oi_total_gex": float(naive["net_gex"].sum()) if latest_oi else None,
                   "naive_oi_date": latest_oi[0].isoformat() if latest_oi else None}
    return ReportBundle(
        summary=summary(lake, as_of, analysis_date, levels, chain, naive_total, r, q) | {"data_source": source},
        exposures_by_strike=lake.read("exposures_by_strike", as_of).drop("as_of"),
        gamma_profile=lake.read("gamma_profile", as_of).drop("as_of"),
        gex_surface=lake.read("gex_surface", as_of).drop("as_of"),
        smile=chain.filter(out_of_the_money() & targets).select("expiry", "strike", "right", "iv_market", "iv_fit",
                                                                "rejected"),
        naive_gex=flow_by_strike.join(naive.select("strike", pl.col("net_gex").alias("naive_oi_gex")), on="strike",
                                      how="full", coalesce=True).fill_null(0.0).sort("strike"),
        intraday_flow=intraday_dealer_flow(lake.read("classified_trades", as_of), lake.read("spy_spot", as_of),
                                           chain, as_of, r, q),
        positions=positions.select(POSITION_CSV_COLUMNS).sort("expiry", "strike", "right"),
        contract_greeks=exposures.select([c for c in GREEK_COLUMNS if c in exposures.columns]),
        strike_flow=strike_flow(lake.read("position_path", as_of).filter(targets)),
        levels_history=lake.read_days("levels_history", window_sessions(as_of), missing_ok=True),
    )


def summary(lake: Lake, as_of: dt.date, analysis_date: dt.date, levels: dict, chain: pl.DataFrame,
            naive_total: dict, r: float, q: float) -> dict:
    """``analysis_summary.json``: ARCHITECTURE §5 keys (point estimates, bands beside them) plus regime, levels,
    patterns, hedging flows, the signing model's fit, data quality and methodology. ``naive_total`` holds
    ``naive_oi_total_gex`` and ``naive_oi_date``, the OI file it read (None: no OI file)."""
    structure = json.loads(lake.read("market_structure", as_of)["structure_json"][0])
    pain = lake.read("max_pain", as_of)
    flows = lake.read("hedging_flows", as_of)
    expiries = lake.read("target_expiries", as_of)["expiry"].to_list()
    fit = json.loads(lake.read("signing_fit", as_of)["fit_json"][0])
    return {
        "analysis_date": analysis_date.isoformat(), "as_of": as_of.isoformat(), "spot": levels["spot"],
        "expiries": [e.isoformat() for e in expiries],
        "total_gex": levels["total_gex"], "total_gex_band": band(levels, "total_gex"),
        "gamma_flip": levels["gamma_flip"], "gamma_flip_band": band(levels, "gamma_flip"),
        "flip_found_share": levels["flip_found_share"], "no_flip_long_share": levels.get("no_flip_long_share"),
        "prob_dealers_long_gamma": levels["prob_dealers_long_gamma"],
        **naive_total,
        "call_wall": _wall(levels, "call_wall"), "put_wall": _wall(levels, "put_wall"),
        "abs_gamma_strike": levels["abs_gamma_strike"], "abs_gamma_strike_gross": levels["abs_gamma_strike_gross"],
        "gamma_centroid": levels["gamma_centroid"],
        "max_pain": {e.isoformat(): k for e, k in pain.filter(pl.col("expiry").is_in(expiries))
                     .select("expiry", "max_pain").iter_rows()},
        "regime": _regime(structure["regime"]),
        "levels": {role: [_level(lv) for lv in found] for role, found in structure["levels"].items()},
        "patterns": patterns_list(structure["patterns"]),
        "hedging_flows": {SCENARIO_KEYS.get(s, s): usd for s, usd in flows.select("scenario", "hedge_usd").iter_rows()},
        "hedging_flows_band": {SCENARIO_KEYS.get(row["scenario"], row["scenario"]): band(row, "hedge_usd")
                               for row in flows.iter_rows(named=True)},
        "signing_model": fit,
        "data_quality": data_quality(lake, as_of, chain),
        "methodology": methodology(as_of, r, q),
    }


def band(row: dict, figure: str) -> dict[str, float | None]:
    """``{p05, p50, p95}`` of a figure from its flat ``<figure>_pNN`` columns."""
    return {key: row.get(f"{figure}_{key}") for key in BAND_KEYS}


def _wall(levels: dict, wall: str) -> dict:
    return {"strike": levels[wall], "gex": levels[f"{wall}_gex"],
            "band": {**band(levels, wall), "modal": levels.get(f"{wall}_modal"),
                     "modal_share": levels.get(f"{wall}_modal_share")}}


def _regime(regime: dict) -> dict:
    return {"label": regime["label"], "point_label": regime["point_label"], "perspective": regime["perspective"],
            "gex_at_spot": regime["dealer_gex_at_spot"], "spot_vs_flip_pct": regime["spot_vs_flip_pct"],
            "strength": regime["strength"], "gross_gex": regime["gross_gex"],
            "neutral_band_share": regime["neutral_band_share"],
            "flip_search_low": regime["flip_search_low"], "flip_search_high": regime["flip_search_high"]}


def _level(level: dict) -> dict:
    return {key: level[key] for key in ("strike", "kind", "role", "side", "strength", "dealer_gex", "note",
                                        "perspective")}


def _pin_note(expiry: dict) -> str:
    """What an expiry's pin risk is: its share of the book's gross gamma, the share of it near spot (the pattern's
    strength) and the strike holding the most there (not the book's largest-GEX pin level, which spans expiries)."""
    near = f"{expiry['pin_concentration']:.0%} of it within {PIN_BAND_PCT:g}% of spot"
    most = f", the most at {expiry['pin_strike']:g}" if expiry["pin_strike"] else ""
    return f"{expiry['weekday']} expiry holds {expiry['share_of_gross']:.0%} of dealer gross gamma, {near}{most}"


def patterns_list(patterns: dict) -> list[dict]:
    """Flatten the structure's pattern groups into ``{kind, strength, strikes, expiry, note}`` rows."""
    rows = [{"kind": "butterfly", "strength": f["strength"], "strikes": [f["lower"], f["body"], f["upper"]],
             "expiry": f["expiry"], "note": f"{f['flies']:,.0f} flies, {f['perspective']}"}
            for f in patterns["butterflies"]]
    rows += [{"kind": "risk_reversal", "strength": abs(rr["strength"]), "strikes": [rr["put_strike"], rr["call_strike"]],
              "expiry": rr["expiry"], "note": rr["label"]} for rr in patterns["risk_reversals"]]
    rows += [{"kind": "acceleration_zone", "strength": z["strength"], "strikes": [z["low"], z["high"]],
              "expiry": None, "note": acceleration_note(z["low"], z["high"])}
             for z in patterns["acceleration_zones"]]
    calendar = patterns.get("calendar") or {"expiries": []}
    rows += [{"kind": "pin_risk", "strength": e["pin_concentration"], "strikes": [e["pin_strike"]] if e["pin_strike"] else [],
              "expiry": e["expiry"], "note": _pin_note(e)} for e in calendar["expiries"]]
    kept = [row for row in rows if (row["strength"] or 0.0) >= MIN_PATTERN_STRENGTH]
    return sorted(kept, key=lambda row: -row["strength"])[:MAX_PATTERNS]


def data_quality(lake: Lake, as_of: dt.date, chain: pl.DataFrame) -> dict:
    """What the figures rest on: sessions present, quote coverage and ages, undecided sides, OI-based splits,
    solved vols and mark ages, positions opened before the window, clipped to OI; each check OK/WARN with its
    share, and the warnings as sentences."""
    window = window_sessions(as_of)
    quality = lake.read_days("session_quality", window, missing_ok=True)
    positions = lake.read("dealer_positions", as_of)
    missing = [d.isoformat() for d in window if not lake.exists("session_quality", d)]
    prints = int(quality["prints"].sum()) if quality.height else 0

    def weighted(column: str) -> float | None:
        return float((quality[column] * quality["prints"]).sum() / prints) if prints else None

    clipped = int(positions["clipped_to_open_interest"].sum())
    marks = chain["mark_age_s"].drop_nulls()
    figures = {"sessions": len(window) - len(missing), "missing_sessions": missing, "prints": prints,
               **{c: weighted(c) for c in ("quoted_pct", "locked_pct", "crossed_pct", "zero_bid_pct", "old_quote_pct",
                                           "unknown_side_pct", "crossed_condition_pct", "oi_split_pct")},
               "iv_solved_pct": _solved_pct(chain), **mark_ages(chain),
               "early_exercise_material": int(chain["early_exercise_material"].sum()),
               "contracts_opened_before_window": int((positions["start_method"] == "oi_feasible").sum()),
               "positions_clipped_to_open_interest": clipped,
               "positions_clipped_pct": 100.0 * clipped / positions.height if positions.height else None}
    figures["stale_mark_pct"] = (100.0 * figures["marks_refused_stale"] / len(marks)) if len(marks) else None
    checks = quality_checks(figures)
    return {**figures, "checks": checks, "warnings": _warnings(figures, checks)}


# (check, what the share measures, figure in percent, WARN when above (">") or below ("<") the limit, limit %).
# The limits are what a trader should be told about, not tuned to any market.
QUALITY_CHECKS = (
    ("quote_coverage", "prints with a prevailing NBBO (unquoted ones are signed from their contract's flow)",
     "quoted_pct", "<", 95.0),
    ("old_quotes", "prints that met a quote older than 10 s (weighed down)", "old_quote_pct", ">", 25.0),
    ("unknown_sides", "prints whose side stays undecided (P(buy) within 0.4-0.6)", "unknown_side_pct", ">", 40.0),
    ("iv_solve_rate", "fresh closing marks that invert to an implied vol", "iv_solved_pct", "<", 80.0),
    ("positions_above_oi", "positions held at their open interest, which their flows exceeded", "positions_clipped_pct",
     ">", 0.0),
    ("mark_ages", "closing marks refused as older than the stale limit", "stale_mark_pct", ">", 25.0),
)


def quality_checks(figures: dict) -> list[dict]:
    """Every data-quality check with its share (percent), its limit and status WARN / OK / n/a."""
    def status(value: float | None, direction: str, limit: float) -> str:
        if value is None:
            return "n/a"
        breached = value < limit if direction == "<" else value > limit
        return "WARN" if breached else "OK"

    return [{"check": name, "measures": text, "share_pct": figures.get(key), "warn_if": f"{direction} {limit:g}%",
             "status": status(figures.get(key), direction, limit)}
            for name, text, key, direction, limit in QUALITY_CHECKS]


def _solved_pct(chain: pl.DataFrame) -> float | None:
    fresh = chain.filter(pl.col("mark").is_not_null() & ~pl.col("stale").fill_null(False))
    return 100.0 * float((fresh["iv_status"] == 0).mean()) if fresh.height else None


def _warnings(figures: dict, checks: list[dict]) -> list[str]:
    """Plain sentences for every missing session and WARN check (they never stop the analysis)."""
    notes = [f"no classified prints for {day}" for day in figures["missing_sessions"]]
    notes += [f"{check['check'].replace('_', ' ')}: {check['share_pct']:.1f}% of {check['measures']} "
              f"(warn if {check['warn_if']})" for check in checks if check["status"] == "WARN"]
    return notes


def methodology(as_of: dt.date, r: float, q: float) -> dict:
    window = window_sessions(as_of)
    return {
        "side": "P(customer bought) per print from a latent-class model fitted to the window's prints: quote votes "
                "weighed by stratum (location, quote age, size match, multi-leg, auction), depth at the mid, and "
                "the book direction of each contract or of each strike across expiries (the data choose), read on "
                "its opening days (OI rose) and linked to closing days as far as the data show; the "
                "dealer flow is the expectation -(2p-1) x size "
                "(docs/METHODOLOGY.md)",
        "open_close": "opening volume from the day-over-day open-interest change, (V + dOI)/2, allocated to prints",
        "positions": "start inventory from the open interest at the window start (uniform over the feasible "
                     "interval) plus the window's expected dealer flow, kept within open interest",
        "uncertainty": f"p05/p50/p95 over {N_DRAWS} draws of the positions (signing model's posterior, start inventory, "
                       "priors on the votes the data could not calibrate, a book lean per right weighted by "
                       "gamma and read through the draw's reliability)",
        "greeks": f"BSM, r={r}, carry from each expiry's put-call-parity forward (q={q} where none), ACT/365 to the "
                  "session close; vols from fresh out-of-the-money closing marks, SVI-fitted per expiry",
        "gex_units": "dealer $ delta change per 1% spot move: position x 100 x gamma x S^2 x 0.01",
        "hedging_units": "$ of SPY dealers trade to stay delta neutral after each scenario (+ = buy), fully re-priced; "
                         "hedging_flows_band over the same draws",
        "window": f"{window[0]} to {window[-1]} ({len(window)} sessions)",
    }


def strike_flow(path: pl.DataFrame) -> pl.DataFrame:
    """Per day and contract: the dealer flow and customer buy/sell volume traded that day, for the drill-down."""
    keys = ["ticker", "expiry", "strike", "right"]
    cumulative = ["net_dealer_flow", "customer_buy_open", "customer_buy_close", "customer_sell_open",
                  "customer_sell_close"]
    daily = path.sort(*keys, "date").with_columns(
        (pl.col(c) - pl.col(c).shift(1, fill_value=0).over(keys)).alias(c) for c in cumulative)
    return daily.select("date", "expiry", "strike", "right", "net_dealer_flow",
                        (pl.col("customer_buy_open") + pl.col("customer_buy_close")).alias("customer_buy"),
                        (pl.col("customer_sell_open") + pl.col("customer_sell_close")).alias("customer_sell"))
