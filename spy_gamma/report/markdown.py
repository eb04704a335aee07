"""The written analysis: a one-page executive summary and the comprehensive report, for a trader."""

from __future__ import annotations

import datetime as dt
import re

import polars as pl

from spy_gamma.report.bundle import ReportBundle
from spy_gamma.report.figures import exposures_per_strike
from spy_gamma.report.formatting import MISSING, fmt_count, fmt_level, fmt_pct, fmt_usd, is_missing
from spy_gamma.report.glossary import LEVEL_DEFINITIONS, scenario_label

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
    """The three or four sentences a trader needs before the open."""
    regime, flip = summary.get("regime") or {}, summary.get("gamma_flip")
    call_wall, put_wall = summary.get("call_wall") or {}, summary.get("put_wall") or {}
    long_gamma = not is_missing(regime.get("gex_at_spot")) and regime["gex_at_spot"] >= 0
    hedging = (
        "hedging leans against moves, expect mean reversion and pinning"
        if long_gamma
        else "hedging chases moves, expect wider ranges and momentum"
    )
    flip_risk = (
        "a close below it turns dealers short gamma"
        if long_gamma
        else "a move back above it turns dealers long gamma"
    )
    themes = [
        (
            f"**Regime: {regime.get('label', MISSING)}.** Total dealer GEX is "
            f"{fmt_usd(summary.get('total_gex'))} per 1% move; {hedging}."
        ),
        (
            f"**Gamma flip at {fmt_level(flip)}** "
            f"(spot {fmt_pct(regime.get('distance_to_flip_pct'), 2, signed=True)} "
            f"vs flip): {flip_risk}."
        ),
        (
            f"**Call wall {fmt_level(call_wall.get('strike'))}** "
            f"({fmt_usd(call_wall.get('gex'))} dealer GEX) and "
            f"**put wall {fmt_level(put_wall.get('strike'))}** "
            f"({fmt_usd(put_wall.get('gex'))}) bracket the book; "
            f"absolute gamma strike {fmt_level(summary.get('abs_gamma_strike'))}, "
            f"centroid {fmt_level(summary.get('gamma_centroid'))}."
        ),
    ]
    themes += [
        f"**{str(p.get('kind', '')).replace('_', ' ').capitalize()}** "
        f"({', '.join(fmt_level(k) for k in p.get('strikes') or [])}): {p.get('note', '')}"
        for p in (summary.get("patterns") or [])[:MAX_THEME_PATTERNS]
    ]
    return themes


def levels_section(summary: dict) -> str:
    """Support and resistance with each level's definition."""
    levels = summary.get("levels") or {}
    rows = [
        [
            side,
            fmt_level(lv.get("strike")),
            str(lv.get("kind", "")).replace("_", " "),
            MISSING if is_missing(lv.get("strength")) else f"{lv['strength']:.2f}",
            str(lv.get("note", "")),
        ]
        for side in ("resistance", "support")
        for lv in levels.get(side, [])
    ]
    max_pain = ", ".join(f"{_text(e)}: {fmt_level(k)}" for e, k in (summary.get("max_pain") or {}).items())
    return (
        md_table(["Side", "Level", "Kind", "Strength", "Why (dealer view)"], rows)
        + f"\n\nMax pain by expiry: {max_pain}.\n"
    )


def scenarios_section(summary: dict) -> str:
    """Dollar hedging flows per shock, with the sign convention spelled out."""
    rows = [
        [scenario_label(k), fmt_usd(v), "dealers buy" if not is_missing(v) and v > 0 else "dealers sell"]
        for k, v in (summary.get("hedging_flows") or {}).items()
    ]
    return (
        md_table(["Scenario", "$ dealer hedge", "Direction"], rows)
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
    """How total dealer GEX and its heaviest strike moved over the window's closes."""
    daily = (
        bundle.gex_surface.group_by("date")
        .agg(
            pl.col("net_gex").sum().alias("total"),
            pl.col("strike").sort_by(pl.col("net_gex").abs(), descending=True).first().alias("top_strike"),
        )
        .sort("date")
    )
    if daily.is_empty():
        return "No window history in this run.\n"
    first, last = daily.row(0, named=True), daily.row(-1, named=True)
    picks = daily.gather_every(max(1, len(daily) // 8))
    if picks["date"][-1] != last["date"]:
        picks = pl.concat([picks, daily.tail(1)])
    rows = [
        [_text(r["date"]), fmt_usd(r["total"]), fmt_level(r["top_strike"])]
        for r in picks.iter_rows(named=True)
    ]
    return (
        f"Over {len(daily)} closes, total dealer GEX went from "
        f"{fmt_usd(first['total'])} ({_text(first['date'])}) "
        f"to {fmt_usd(last['total'])} ({_text(last['date'])}); the heaviest strike moved from "
        f"{fmt_level(first['top_strike'])} to {fmt_level(last['top_strike'])}.\n\n"
        + md_table(["Close", "Total GEX", "Heaviest strike"], rows)
        + "\n"
    )


def implications_section(summary: dict) -> str:
    """What the positioning suggests for the next session (not advice; a reading of dealer hedging)."""
    flows = summary.get("hedging_flows") or {}
    regime = summary.get("regime") or {}
    long_gamma = not is_missing(regime.get("gex_at_spot")) and regime["gex_at_spot"] >= 0
    lines = [
        (
            "Fade moves toward the walls while spot holds above the flip; dealer hedging sells strength into "
            f"{fmt_level((summary.get('call_wall') or {}).get('strike'))} and buys weakness."
            if long_gamma
            else "Respect momentum: dealer hedging adds to moves until spot recovers the flip."
        ),
        (
            f"A 1% drop would have dealers trade {fmt_usd(flows.get('spot_-1pct'))}, a 1% rally "
            f"{fmt_usd(flows.get('spot_+1pct'))} of SPY (+ = buy)."
        ),
        (
            f"Vol up 1 point: dealers trade {fmt_usd(flows.get('vol_+1pt'))}; one day of decay (charm): "
            f"{fmt_usd(flows.get('one_day_decay'))}."
        ),
    ]
    return "\n".join(f"- {line}" for line in lines) + "\n"


def data_quality_section(summary: dict) -> str:
    """Coverage figures and warnings of the run."""
    quality = summary.get("data_quality") or {}
    rows = [
        ["Trades classified", fmt_count(quality.get("trades"))],
        ["Trades with a quote", fmt_pct(quality.get("quoted_pct"))],
        ["Unknown customer side", fmt_pct(quality.get("unknown_side_pct"))],
        ["Crossed quotes", fmt_pct(quality.get("crossed_quote_pct"))],
        ["Implied vols solved", fmt_pct(quality.get("iv_solved_pct"))],
        ["Trading days", fmt_count(quality.get("days"))],
    ]
    warnings = "\n".join(f"- {w}" for w in quality.get("warnings") or []) or "- none"
    return md_table(["Coverage", "Value"], rows) + f"\n\nWarnings:\n{warnings}\n"


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
