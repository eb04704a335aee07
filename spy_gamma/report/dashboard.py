"""The single-page dashboard: header, metric cards, chart panels, level tables and the strike drill-down."""

from __future__ import annotations

import datetime as dt
import html
import json
from importlib import resources
from string import Template

import plotly.graph_objects as go

from spy_gamma.report import theme
from spy_gamma.report.bundle import ReportBundle
from spy_gamma.report.drilldown import strike_details
from spy_gamma.report.figures import DASHBOARD_FIGURES
from spy_gamma.report.formatting import MISSING, fmt_count, fmt_level, fmt_usd, is_missing
from spy_gamma.report.glossary import LEVEL_DEFINITIONS, scenario_label
from spy_gamma.report.wording import (
    SIMULATED_NOTE,
    band_range,
    distance_from_spot,
    flip_band_text,
    flip_distance,
    level_action,
    level_strength,
    no_flip_text,
    prob_long_text,
    quality_rows,
    regime_short,
    regime_tone,
    wall_band_text,
)

PLOTLY_JS_FILE = "plotly.min.js"  # one copy per report folder, shared by the dashboard and every panel page

PANEL_LAYOUT = {  # chart -> (panel heading, css class: full or half width)
    "gamma_profile": ("Gamma profile by strike", "full"),
    "greeks_panel": ("Second-order Greeks", "half"),
    "dealer_flow_vs_oi": ("Signed flow vs naive OI convention", "half"),
    "gamma_surface": ("How the book was built", "half"),
    "volatility_smile": ("Volatility smile", "half"),
    "intraday_flow": ("Intraday dealer flow", "half"),
    "levels_history": ("Levels over the window's closes", "half"),
}
CLICKABLE_CHARTS = ("gamma_profile", "greeks_panel", "dealer_flow_vs_oi")


def _template(name: str) -> str:
    return resources.files("spy_gamma.report").joinpath("templates", name).read_text(encoding="utf-8")


def _esc(value) -> str:
    return html.escape(str(value), quote=True)


def _as_text(value) -> str:
    """Dates and datetimes as the desk reads them; anything else as is."""
    if isinstance(value, dt.datetime):
        return f"{value:%Y-%m-%d %H:%M} ET"
    return value.isoformat() if isinstance(value, dt.date) else str(value)


def embed_json(payload) -> str:
    """JSON safe inside a <script> element (no '</script>' can close it early)."""
    return json.dumps(payload, separators=(",", ":"), allow_nan=False, default=str).replace("</", "<\\/")


def _sign_class(value) -> str:
    return "" if is_missing(value) else ("pos" if value >= 0 else "neg")


def _card(title: str, value: str, detail: str, definition_key: str, tone: str = "") -> str:
    return (
        f'<div class="card" title="{_esc(LEVEL_DEFINITIONS.get(definition_key, ""))}">'
        f'<div class="card-title">{_esc(title)}</div><div class="card-value {tone}">{_esc(value)}</div>'
        f'<div class="card-detail">{detail}</div></div>'
    )


def metric_cards(summary: dict) -> str:
    """Key levels and the regime with their 90% bands, each card titled with whose perspective it is (dealers')."""
    spot, regime = summary.get("spot"), summary.get("regime") or {}
    call_wall, put_wall = summary.get("call_wall") or {}, summary.get("put_wall") or {}
    max_pain = "".join(
        f"<span>{_esc(str(e)[5:])} <b>{fmt_level(k)}</b></span>"
        for e, k in (summary.get("max_pain") or {}).items()
    )
    total = summary.get("total_gex")

    def wall_detail(wall: dict) -> str:
        return f"{fmt_usd(wall.get('gex'))} dealer GEX · {wall_band_text(wall)}"

    cards = [
        _card("Total dealer GEX", fmt_usd(total),
              f"per 1% move · 90% band {band_range(summary.get('total_gex_band'))}<br>{prob_long_text(summary)}",
              "total_gex", _sign_class(total)),
        _card("Gamma flip", fmt_level(summary.get("gamma_flip")),
              f"{flip_distance(summary)}<br>{flip_band_text(summary)}<br>{no_flip_text(summary)}",
              "gamma_flip", "flip"),
        _card("Dealer call wall", fmt_level(call_wall.get("strike")), wall_detail(call_wall), "call_wall", "callwall"),
        _card("Dealer put wall", fmt_level(put_wall.get("strike")), wall_detail(put_wall), "put_wall", "putwall"),
        _card("Abs gamma strike", fmt_level(summary.get("abs_gamma_strike")),
              distance_from_spot(summary.get("abs_gamma_strike"), spot), "abs_gamma_strike"),
        _card("Gamma centroid", fmt_level(summary.get("gamma_centroid")),
              distance_from_spot(summary.get("gamma_centroid"), spot), "gamma_centroid"),
        _card("Max pain by expiry", "", f'<div class="maxpain">{max_pain}</div>', "max_pain"),
        _card(f"Regime ({regime.get('perspective', 'dealer')} view)", regime_short(regime),
              f"GEX at spot {fmt_usd(regime.get('gex_at_spot'))} · {prob_long_text(summary)}"
              f"<br>point estimate: {_esc(regime.get('point_label', MISSING))}",
              "regime", "regime " + regime_tone(regime)),
    ]
    return "\n".join(cards)


def hedging_strip(summary: dict) -> str:
    """One chip per shock: the $ dealers trade to re-hedge (+ buy / - sell), with its 90% band."""
    bands = summary.get("hedging_flows_band") or {}
    chips = [
        f'<div class="chip"><span>{_esc(scenario_label(key))}</span>'
        f'<b class="{_sign_class(value)}">{fmt_usd(value)}</b>'
        f'<small>{_esc(band_range(bands.get(key)))}</small></div>'
        for key, value in (summary.get("hedging_flows") or {}).items()
    ]
    return "\n".join(chips)


def _strength_meter(strength) -> str:
    if is_missing(strength):
        return f'<span class="muted">{MISSING}</span>'
    return f'<span class="meter"><i style="width:{strength * 100:.0f}%"></i></span> {strength:.2f}'


ROLE_TONES = {"support": "pos", "resistance": "pos", "acceleration": "neg", "pivot": "flip"}


def levels_table(summary: dict) -> str:
    """Dealer-derived levels by role (support, resistance, acceleration, pivot), nearest to spot first, each with
    what dealers do there."""
    levels, spot = summary.get("levels") or {}, summary.get("spot") or 0.0
    found = [level for group in levels.values() for level in group]
    rows = [
        f'<tr><td class="{ROLE_TONES.get(level.get("role"), "")}">{_esc(level.get("role", ""))}</td>'
        f'<td class="num">{fmt_level(level.get("strike"))}</td>'
        f'<td class="num">{_esc(distance_from_spot(level.get("strike"), spot))}</td>'
        f"<td>{_esc(str(level.get('kind', '')).replace('_', ' '))}</td>"
        f"<td>{_strength_meter(level_strength(level))}</td>"
        f"<td>{_esc(level_action(level))}</td></tr>"
        for level in sorted(found, key=lambda lv: abs((lv.get("strike") or spot) - spot))
    ]
    return (
        '<table class="grid-table"><thead><tr><th>Role</th><th>Level</th><th>Vs spot</th><th>Kind</th>'
        f"<th>Strength</th><th>What dealers do there</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def patterns_table(summary: dict) -> str:
    """Positioning patterns the structure step detected."""
    rows = [
        f"<tr><td>{_esc(str(p.get('kind', '')).replace('_', ' '))}</td>"
        f'<td class="num">{_esc(", ".join(fmt_level(k) for k in p.get("strikes") or []))}</td>'
        f"<td>{_esc(p.get('expiry') or 'all')}</td><td>{_strength_meter(level_strength(p))}</td>"
        f"<td>{_esc(p.get('note', ''))}</td></tr>"
        for p in summary.get("patterns") or []
    ]
    return (
        '<table class="grid-table"><thead><tr><th>Pattern</th><th>Strikes</th><th>Expiry</th>'
        f"<th>Strength</th><th>Note</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def data_quality_block(summary: dict) -> str:
    """Every data-quality check with its share and status (WARN first in colour), the warnings, the methodology
    and the definitions, so a trader knows how far to trust the picture."""
    quality = summary.get("data_quality") or {}
    figures = [("Prints", fmt_count(quality.get("prints"))), ("Sessions", fmt_count(quality.get("sessions"))),
               ("Positions opened before the window", fmt_count(quality.get("contracts_opened_before_window")))]
    stats = "".join(f"<span>{_esc(k)} <b>{_esc(v)}</b></span>" for k, v in figures)
    checks = "".join(
        f'<tr class="{status.lower()}"><td>{_esc(name)}</td><td class="num">{_esc(share)}</td>'
        f'<td class="muted">{_esc(limit)}</td><td class="status">{_esc(status)}</td></tr>'
        for name, share, limit, status in quality_rows(quality)
    )
    warnings = "".join(f"<li>{_esc(w)}</li>" for w in quality.get("warnings") or [])
    method = "".join(
        f"<dt>{_esc(k.replace('_', ' '))}</dt><dd>{_esc(v)}</dd>"
        for k, v in (summary.get("methodology") or {}).items()
    )
    definitions = "".join(
        f"<dt>{_esc(k.replace('_', ' '))}</dt><dd>{_esc(v)}</dd>" for k, v in LEVEL_DEFINITIONS.items()
    )
    return (
        f'<div class="dq-stats">{stats}</div><table class="grid-table dq-checks"><thead><tr><th>Check</th>'
        f'<th class="num">Share</th><th>Limit</th><th>Status</th></tr></thead><tbody>{checks}</tbody></table>'
        f'<ul class="warnings">{warnings}</ul><div class="defs"><dl>{method}</dl><dl>{definitions}</dl></div>'
    )


def panel(name: str, simulated: bool = False) -> str:
    """One chart's frame; Plotly draws into its .chart div from the embedded spec. The history panel says what a
    simulated market's history proves."""
    heading, width = PANEL_LAYOUT[name]
    hint = '<span class="hint">click a strike bar for its detail</span>' if name in CLICKABLE_CHARTS else ""
    note = f'<p class="note">{_esc(SIMULATED_NOTE)}</p>' if simulated and name == "levels_history" else ""
    return (
        f'<section class="panel {width}" id="panel-{name}"><h2>{_esc(heading)}{hint}</h2>'
        f'<div class="chart" id="chart-{name}"></div>{note}</section>'
    )


def figure_payload(figures: dict[str, go.Figure]) -> str:
    """All chart specs as one JSON object (Plotly's own encoder: compact typed arrays for numbers)."""
    return (
        "{"
        + ",".join(f'"{name}":{fig.to_json()}' for name, fig in figures.items()).replace("</", "<\\/")
        + "}"
    )


def header_line(summary: dict) -> str:
    """When the picture is from: analysis date, the close positions are as of, expiries covered."""
    expiries = ", ".join(_as_text(e) for e in summary.get("expiries") or [])
    return (
        f"Analysis date <b>{_esc(_as_text(summary.get('analysis_date', MISSING)))}</b> · positions as of "
        f"<b>{_esc(_as_text(summary.get('as_of', MISSING)))}</b> close · expiries {_esc(expiries)}"
    )


def render_dashboard(bundle: ReportBundle, figures: dict[str, go.Figure] | None = None) -> str:
    """The whole page as one HTML string (``figures``: DASHBOARD_FIGURES already built, else built here): data
    embedded as JSON, Plotly JS from the folder's shared ``plotly.min.js`` (works offline from file://)."""
    figures = figures if figures is not None else {name: build(bundle) for name, build in DASHBOARD_FIGURES.items()}
    summary = bundle.summary
    regime = summary.get("regime") or {}
    return Template(_template("dashboard.html")).substitute(
        title=_esc(f"SPY dealer gamma · {_as_text(summary.get('analysis_date', ''))}"),
        css=_template("dashboard.css"),
        header=header_line(summary),
        spot=fmt_level(summary.get("spot")),
        regime_class=regime_tone(regime),
        regime=_esc(regime_short(regime)),
        headline_band=_esc(f"GEX {fmt_usd(summary.get('total_gex'))} · 90% band "
                           f"{band_range(summary.get('total_gex_band'))} · {prob_long_text(summary)}"),
        cards=metric_cards(summary),
        hedging=hedging_strip(summary),
        panels="\n".join(panel(name, summary.get("data_source") == "simulated") for name in figures
                          if name in PANEL_LAYOUT),
        levels=levels_table(summary),
        patterns=patterns_table(summary),
        data_quality=data_quality_block(summary),
        plotly_src=PLOTLY_JS_FILE,
        figures_json=figure_payload(figures),
        details_json=embed_json(strike_details(bundle)),
        config_json=embed_json(
            {
                "plot": theme.PLOTLY_CONFIG,
                "clickable": list(CLICKABLE_CHARTS),
                "colors": {
                    "pos": theme.POSITIVE,
                    "neg": theme.NEGATIVE,
                    "expiries": list(theme.EXPIRY_COLORS),
                },
            }
        ),
        app_js=_template("dashboard.js"),
    )
