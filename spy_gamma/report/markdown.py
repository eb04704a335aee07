"""The written analysis: a one-page executive summary and the comprehensive report, for a trader."""

from __future__ import annotations

import datetime as dt
import re

import polars as pl

from spy_gamma.report.bundle import ReportBundle
from spy_gamma.report.figures import exposures_per_strike
from spy_gamma.report.formatting import MISSING, fmt_count, fmt_level, fmt_usd, is_missing
from spy_gamma.report.glossary import LEVEL_DEFINITIONS, scenario_label
from spy_gamma.report.wording import (
    SIMULATED_NOTE,
    band_range,
    distance_from_spot,
    flip_distance,
    flip_sentence,
    gex_sentence,
    is_uncertain,
    level_action,
    level_strength,
    prob_long_text,
    quality_rows,
    regime_short,
    wall_band_text,
)

MAX_THEME_PATTERNS = 6  # the strongest patterns; the comprehensive report lists them all
TOP_STRIKES = 25


def _text(value) -> str:
    if isinstance(value, dt.datetime):
        return f"{value:%Y-%m-%d %H:%M} ET"
    return value.isoformat() if isinstance(value, dt.date) else str(value)


NUMERIC_CELL = re.compile(r"^([+-]?\$?[\d,.]+[KMBT%]?|n/a)$")


def md_table(headers: list[str], rows: list[list[str]]) -> str:
    """A GitHub-flavoured Markdown table: numeric columns right-aligned, pipes inside cells escaped."""
    numeric = [bool(rows) and all(NUMERIC_CELL.match(row[i]) for row in rows) for i in range(len(headers))]
    lines = [
        "| " + " | ".join(headers) + " |",
        "| " + " | ".join("---:" if n else "---" for n in numeric) + " |",
    ]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |" for cells in rows]
    return "\n".join(lines)


def _title(summary: dict, kind: str) -> str:
    return (
        f"# SPY dealer gamma positioning: {kind}\n\nAnalysis date **{_text(summary.get('analysis_date'))}**, "
        f"positions as of **{_text(summary.get('as_of'))}** close, "
        f"spot **{fmt_level(summary.get('spot'))}**, "
        f"expiries {', '.join(_text(e) for e in summary.get('expiries') or [])}. "
        "All figures are from the **dealers'** perspective (market makers as counterparty to customers).\n"
    )


def _themes(summary: dict) -> list[str]:
    """The three or four sentences a trader needs before the open, each headline figure with its 90% band."""
    regime = summary.get("regime") or {}
    call_wall, put_wall = summary.get("call_wall") or {}, summary.get("put_wall") or {}
    long_gamma = not is_missing(regime.get("gex_at_spot")) and regime["gex_at_spot"] >= 0
    if is_uncertain(regime):
        hedging = ("the band contains zero, so whether dealer hedging dampens or amplifies moves is not known; "
                   f"the point estimate reads {regime.get('point_label', MISSING)}")
    else:
        hedging = ("hedging leans against moves, expect mean reversion and pinning" if long_gamma
                   else "hedging chases moves, expect wider ranges and momentum")
    if is_uncertain(regime):
        flip_risk = "crossing it flips the sign of dealer gamma at the point estimate"
    else:
        flip_risk = ("a close below it turns dealers short gamma" if long_gamma
                     else "a move back above it turns dealers long gamma")

    def wall(name: str, level: dict) -> str:
        return (f"**{name} {fmt_level(level.get('strike'))}** ({fmt_usd(level.get('gex'))} dealer GEX, "
                f"{wall_band_text(level)})")

    themes = [
        f"**Regime: {regime_short(regime)}.** Dealer {gex_sentence(summary)} per 1% move; "
        f"{prob_long_text(summary)}; {hedging}.",
        f"**Gamma {flip_sentence(summary)}** ({flip_distance(summary)}): {flip_risk}.",
        f"{wall('Call wall', call_wall)} and {wall('put wall', put_wall)} bracket the book; "
        f"absolute gamma strike {fmt_level(summary.get('abs_gamma_strike'))}, "
        f"centroid {fmt_level(summary.get('gamma_centroid'))}.",
    ]
    return themes + [_pattern_theme(p) for p in (summary.get("patterns") or [])[:MAX_THEME_PATTERNS]]


def _pattern_theme(pattern: dict) -> str:
    """``**Risk reversal** (654.00, 676.00; expiry 2025-10-10): note``: two patterns at one strike pair in
    different expiries read apart."""
    kind = str(pattern.get("kind", "")).replace("_", " ").capitalize()
    strikes = ", ".join(fmt_level(k) for k in pattern.get("strikes") or [])
    expiry = f"; expiry {_text(pattern['expiry'])}" if pattern.get("expiry") else ""
    return f"**{kind}** ({strikes}{expiry}): {pattern.get('note', '')}"


def levels_section(summary: dict) -> str:
    """Dealer-derived levels by role, nearest to spot first, with what dealers do there."""
    levels, spot = summary.get("levels") or {}, summary.get("spot")
    found = sorted((lv for group in levels.values() for lv in group),
                   key=lambda lv: abs((lv.get("strike") or spot or 0.0) - (spot or 0.0)))
    rows = [
        [
            str(lv.get("role", "")),
            fmt_level(lv.get("strike")),
            distance_from_spot(lv.get("strike"), spot) or MISSING,
            str(lv.get("kind", "")).replace("_", " "),
            MISSING if level_strength(lv) is None else f"{level_strength(lv):.2f}",
            level_action(lv),
        ]
        for lv in found
    ]
    max_pain = ", ".join(f"{_text(e)}: {fmt_level(k)}" for e, k in (summary.get("max_pain") or {}).items())
    return (
        md_table(["Role", "Level", "Vs spot", "Kind", "Strength (0-1)", "What dealers do there"], rows)
        + f"\n\nMax pain by expiry: {max_pain}.\n"
    )


def scenarios_section(summary: dict) -> str:
    """Dollar hedging flows per shock, with the sign convention spelled out."""
    bands = summary.get("hedging_flows_band") or {}
    rows = [
        [scenario_label(k), fmt_usd(v), band_range(bands.get(k)),
         "dealers buy" if not is_missing(v) and v > 0 else "dealers sell"]
        for k, v in (summary.get("hedging_flows") or {}).items()
    ]
    return (
        md_table(["Scenario", "$ dealer hedge", "90% band", "Direction"], rows)
        + f"\n\n{LEVEL_DEFINITIONS['hedging_flows']}\n"
    )


def definitions_section() -> str:
    """Every level's definition, as a bullet list."""
    return "\n".join(f"- {text}" for text in LEVEL_DEFINITIONS.values()) + "\n"


def executive_summary(bundle: ReportBundle) -> str:
    """Themes, levels to watch and risk scenarios on one page."""
    summary = bundle.summary
    return "\n".join(
        [
            _title(summary, "executive summary"),
            "## Themes\n",
            "\n".join(f"- {t}" for t in _themes(summary)) + "\n",
            "## Levels to watch\n",
            levels_section(summary),
            "## Risk scenarios: dealer hedging flows\n",
            scenarios_section(summary),
            "## Data quality\n",
            data_quality_section(summary),
            "## Definitions\n",
            definitions_section(),
        ]
    )


def strike_table(bundle: ReportBundle) -> str:
    """The strikes carrying the most |net dealer GEX|, in strike order."""
    by_strike = exposures_per_strike(bundle)
    positions = (
        bundle.exposures_by_strike.group_by("strike").agg(pl.col("call_position", "put_position").sum())
        if {"call_position", "put_position"} <= set(bundle.exposures_by_strike.columns)
        else None
    )
    top = by_strike.sort(pl.col("net_gex").abs(), descending=True).head(TOP_STRIKES).sort("strike")
    if positions is not None:
        top = top.join(positions, on="strike", how="left")
    rows = [
        [
            fmt_level(r["strike"]),
            fmt_usd(r["call_gex"]),
            fmt_usd(r["put_gex"]),
            fmt_usd(r["net_gex"]),
            fmt_usd(r["dex"]),
            fmt_usd(r["vex"]),
            fmt_usd(r["cex"]),
            fmt_count(r.get("call_position")),
            fmt_count(r.get("put_position")),
        ]
        for r in top.iter_rows(named=True)
    ]
    return md_table(
        ["Strike", "Call GEX", "Put GEX", "Net GEX", "$ DEX", "$ VEX", "$ CEX", "Call pos", "Put pos"], rows
    )


def expiry_table(bundle: ReportBundle) -> str:
    """Each expiry's share of the dealer book and where its own gamma concentrates."""
    by_expiry = (
        bundle.exposures_by_strike.group_by("expiry")
        .agg(
            pl.col("call_gex", "put_gex", "net_gex", "dex", "vex", "cex").sum(),
            pl.col("strike").sort_by(pl.col("net_gex").abs(), descending=True).first().alias("top_strike"),
        )
        .sort("expiry")
    )
    max_pain = bundle.summary.get("max_pain") or {}
    rows = [
        [
            _text(r["expiry"]),
            fmt_usd(r["net_gex"]),
            fmt_usd(r["call_gex"]),
            fmt_usd(r["put_gex"]),
            fmt_usd(r["dex"]),
            fmt_usd(r["vex"]),
            fmt_usd(r["cex"]),
            fmt_level(r["top_strike"]),
            fmt_level(max_pain.get(_text(r["expiry"]))),
        ]
        for r in by_expiry.iter_rows(named=True)
    ]
    return md_table(
        ["Expiry", "Net GEX", "Call GEX", "Put GEX", "$ DEX", "$ VEX", "$ CEX", "Top strike", "Max pain"],
        rows,
    )


def evolution_section(bundle: ReportBundle) -> str:
    """How total dealer GEX (with its band), the flip and the walls moved over the window's as-of closes."""
    history = bundle.levels_history.sort("as_of")
    if history.is_empty():
        return "No levels history in this run.\n"
    first, last = history.row(0, named=True), history.row(-1, named=True)
    rows = [
        [_text(r["as_of"]), fmt_level(r["spot"]), fmt_usd(r["total_gex"]),
         band_range({"p05": r["total_gex_p05"], "p95": r["total_gex_p95"]}), fmt_level(r["gamma_flip"]),
         fmt_level(r["call_wall"]), fmt_level(r["put_wall"])]
        for r in history.iter_rows(named=True)
    ]
    note = f" {SIMULATED_NOTE}" if bundle.summary.get("data_source") == "simulated" else ""
    moved = (f"The history holds one close ({_text(first['as_of'])}): total dealer GEX "
             f"{fmt_usd(first['total_gex'])}, the gamma flip {fmt_level(first['gamma_flip'])}." if history.height == 1
             else f"Over {history.height} as-of closes, total dealer GEX went from {fmt_usd(first['total_gex'])} "
             f"({_text(first['as_of'])}) to {fmt_usd(last['total_gex'])} ({_text(last['as_of'])}); the gamma flip "
             f"from {fmt_level(first['gamma_flip'])} to {fmt_level(last['gamma_flip'])}.")
    return (
        f"{moved}{note}\n\n"
        + md_table(["As of", "Spot", "Total GEX", "90% band", "Flip", "Call wall", "Put wall"], rows)
        + "\n"
    )


def implications_section(summary: dict) -> str:
    """What the positioning suggests for the next session (not advice; a reading of dealer hedging)."""
    flows = summary.get("hedging_flows") or {}
    regime = summary.get("regime") or {}
    long_gamma = not is_missing(regime.get("gex_at_spot")) and regime["gex_at_spot"] >= 0
    if is_uncertain(regime):
        stance = (f"The regime is uncertain ({prob_long_text(summary)}): do not lean on dealer hedging either way; "
                  f"the flip at {fmt_level(summary.get('gamma_flip'))} is the line that decides it.")
    elif long_gamma:
        stance = ("Fade moves toward the walls while spot holds above the flip; dealer hedging sells strength into "
                  f"{fmt_level((summary.get('call_wall') or {}).get('strike'))} and buys weakness.")
    else:
        stance = "Respect momentum: dealer hedging adds to moves until spot recovers the flip."
    bands = summary.get("hedging_flows_band") or {}

    def flow(key: str) -> str:
        return f"{fmt_usd(flows.get(key))} (90% band {band_range(bands.get(key))})"

    lines = [
        stance,
        f"A 1% drop would have dealers trade {flow('spot_-1pct')}, a 1% rally {flow('spot_+1pct')} of SPY (+ = buy).",
        f"Vol up 1 point: dealers trade {flow('vol_+1pt')}; one day of decay (charm): {flow('one_day_decay')}.",
    ]
    return "\n".join(f"- {line}" for line in lines) + "\n"


def data_quality_section(summary: dict) -> str:
    """Every data-quality check with its share and status, then the warnings of the run."""
    quality = summary.get("data_quality") or {}
    rows = [[name, share, limit, status] for name, share, limit, status in quality_rows(quality)]
    counts = (f"{fmt_count(quality.get('prints'))} prints over {fmt_count(quality.get('sessions'))} sessions; "
              f"{fmt_count(quality.get('contracts_opened_before_window'))} contracts opened before the window.")
    warnings = "\n".join(f"- WARN {w}" for w in quality.get("warnings") or []) or "- none"
    return counts + "\n\n" + md_table(["Check", "Share", "Limit", "Status"], rows) + f"\n\nWarnings:\n{warnings}\n"


def methodology_section(summary: dict) -> str:
    """How sides, open/close, Greeks and exposures were obtained, then the level definitions."""
    items = "\n".join(
        f"- **{k.replace('_', ' ')}**: {v}" for k, v in (summary.get("methodology") or {}).items()
    )
    return items + "\n\nLevel definitions:\n\n" + definitions_section()


def comprehensive_report(bundle: ReportBundle) -> str:
    """Strike-by-strike detail, expiry comparison, evolution, implications, methodology and data quality."""
    summary = bundle.summary
    return "\n".join(
        [
            _title(summary, "comprehensive report"),
            "## Summary\n",
            "\n".join(f"- {t}" for t in _themes(summary)) + "\n",
            "## Levels\n",
            levels_section(summary),
            f"## Strike by strike (top {TOP_STRIKES} by |net dealer GEX|; $ per 1% move, contracts)\n",
            strike_table(bundle) + "\n",
            "## Expiry comparison\n",
            expiry_table(bundle) + "\n",
            "## How positioning evolved over the window\n",
            evolution_section(bundle),
            "## Risk scenarios: dealer hedging flows\n",
            scenarios_section(summary),
            "## Trading implications\n",
            implications_section(summary),
            "## Methodology\n",
            methodology_section(summary),
            "## Data quality\n",
            data_quality_section(summary),
        ]
    )
