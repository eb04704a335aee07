"""The dashboard's charts as Plotly figures, each built from the ReportBundle alone (dealer perspective)."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import plotly.graph_objects as go
import polars as pl
from plotly.subplots import make_subplots

from spy_gamma.report import theme
from spy_gamma.report.bundle import ReportBundle
from spy_gamma.report.formatting import fmt_level, fmt_usd, fmt_usd_tick, is_missing
from spy_gamma.report.wording import flip_band_text

STRIKE_WINDOW_PCT = 7.0  # strikes shown: spot +- this; keeps the page lean and the bars readable
USD_DECIMALS = -3  # exposures rounded to the nearest $1,000 before embedding
FINE_USD_BELOW = 1e6  # ... or to the dollar when the largest of them is below this (a small Greek's panel)
INTRADAY_BUCKET = "30s"  # intraday flow drawn at this resolution
DISAGREEMENT_SHARE = 0.05  # flow vs naive sign disagreements shaded only above this share of the largest bar
EXPOSURE_COLUMNS = ("net_gex", "call_gex", "put_gex", "dex", "vex", "cex", "vomma_ex", "speed_ex")


def round_usd(values) -> np.ndarray:
    """Dollar amounts to the nearest $1,000 (ample for a $-billions book, and it halves the page size), or to the
    dollar when none reaches FINE_USD_BELOW: $1,000 steps would flatten a panel that peaks at a few thousand."""
    amounts = np.asarray(values, dtype=np.float64)
    finite = np.abs(amounts[np.isfinite(amounts)])
    fine = finite.size == 0 or finite.max() < FINE_USD_BELOW
    return np.round(amounts, 0 if fine else USD_DECIMALS)


def strike_window(bundle: ReportBundle, frame: pl.DataFrame) -> pl.DataFrame:
    """Rows of a by-strike frame within STRIKE_WINDOW_PCT of spot."""
    spot = bundle.summary["spot"]
    half_width = spot * STRIKE_WINDOW_PCT / 100
    return frame.filter(pl.col("strike").is_between(spot - half_width, spot + half_width))


def exposures_per_strike(bundle: ReportBundle) -> pl.DataFrame:
    """Dealer exposures summed over expiries, one row per strike of the window that carries any exposure."""
    present = [c for c in EXPOSURE_COLUMNS if c in bundle.exposures_by_strike.columns]
    totals = bundle.exposures_by_strike.group_by("strike").agg(pl.col(present).sum()).sort("strike")
    return strike_window(bundle, totals).filter(pl.any_horizontal(pl.col(present).abs() > 0))


def usd_ticks(low: float, high: float, count: int = 6) -> dict:
    """Tick values on a 1/2/2.5/5 step labelled in desk units ($1.2B), spanning [low, high]."""
    raw_step = (high - low) / count if high > low else max(abs(high), 1.0)
    magnitude = 10.0 ** math.floor(math.log10(raw_step))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw_step)
    values = np.arange(math.ceil(low / step) * step, high + step / 2, step)
    return {"tickmode": "array", "tickvals": values.tolist(), "ticktext": [fmt_usd_tick(v) for v in values]}


def usd_axis(title: str, values, value_range: list[float] | None = None) -> dict:
    """A y axis in dollars: padded range around the values (or the range given) and desk-unit ticks."""
    finite = np.asarray(values, dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    low, high = value_range or _padded(
        float(min(finite.min(initial=0), 0)), float(max(finite.max(initial=0), 0))
    )
    return {"title": {"text": title}, "range": [low, high], **usd_ticks(low, high)}


def _padded(low: float, high: float, pad: float = 0.08) -> list[float]:
    span = (high - low) or 1.0
    return [low - pad * span * (low < 0), high + pad * span]


def aligned_zero_ranges(primary, secondary) -> tuple[list[float], list[float]]:
    """Ranges for two y axes that put both zeros at the same height, so bars and curve share one zero line."""

    def extent(values) -> tuple[float, float]:
        v = np.asarray(values, dtype=np.float64)
        return max(-float(np.nanmin(v)), 0.0), max(float(np.nanmax(v)), 0.0)

    (p_down, p_up), (s_down, s_up) = extent(primary), extent(secondary)
    p_scale, s_scale = max(p_down, p_up) or 1.0, max(s_down, s_up) or 1.0
    down, up = max(p_down / p_scale, s_down / s_scale), max(p_up / p_scale, s_up / s_scale)
    return (_padded(-down * p_scale, up * p_scale), _padded(-down * s_scale, up * s_scale))


def usd_text(values) -> list[str]:
    """Hover labels in desk units (Plotly's own SI format would print $1.2G)."""
    return [fmt_usd(v) for v in np.asarray(values, dtype=np.float64).ravel()]


def add_legend_keys(fig: go.Figure, keys: list[tuple[str, str]], opacity: float = 1.0) -> None:
    """Legend-only colour keys (a sign-coloured bar trace's own key would show just one colour)."""
    for label, color in keys:
        fig.add_scatter(
            x=[None],
            y=[None],
            mode="markers",
            name=label,
            hoverinfo="skip",
            marker={"symbol": "square", "size": 11, "color": color, "opacity": opacity},
        )


INSET_LEGEND = {"orientation": "v", "x": 0.01, "y": 0.98, "yanchor": "top", "bgcolor": "rgba(17,24,33,0.85)"}
# a legend of several keys under the x axis: on top it wraps into a second row over the title
BELOW_LEGEND = {"legend": {"orientation": "h", "x": 0, "y": -0.16, "yanchor": "top"}, "margin": {"b": 96}}
SIGN_KEYS = [("dealers long gamma", theme.POSITIVE), ("dealers short gamma", theme.NEGATIVE)]


def _level_markers(summary: dict) -> list[tuple[str, float, str]]:
    """(label, level, color) of the vertical lines every strike chart carries."""
    levels = [
        ("Spot", summary.get("spot"), theme.SPOT_COLOR),
        ("Flip", summary.get("gamma_flip"), theme.FLIP_COLOR),
        ("Call wall", (summary.get("call_wall") or {}).get("strike"), theme.CALL_WALL_COLOR),
        ("Put wall", (summary.get("put_wall") or {}).get("strike"), theme.PUT_WALL_COLOR),
    ]
    return [(label, float(level), color) for label, level, color in levels if not is_missing(level)]


def add_spot_line(fig: go.Figure, spot: float, **where) -> None:
    """A thin solid line at spot, labelled with its level at the top (``where``: a subplot's row and col)."""
    fig.add_vline(x=spot, line={"color": theme.SPOT_COLOR, "width": 1}, annotation_text=f"Spot {fmt_level(spot)}",
                  annotation_position="top right", annotation_font={"color": theme.SPOT_COLOR, "size": 11}, **where)


def _add_level_lines(fig: go.Figure, summary: dict, label_rows: bool = True) -> None:
    """Dashed vertical lines for spot, flip and walls; labels staggered so close levels stay legible."""
    for row, (label, level, color) in enumerate(_level_markers(summary)):
        fig.add_shape(
            type="line",
            xref="x",
            yref="paper",
            x0=level,
            x1=level,
            y0=0,
            y1=1,
            line={"color": color, "width": 1.4, "dash": "solid" if label == "Spot" else "dash"},
        )
        if label_rows:
            fig.add_annotation(
                x=level,
                xref="x",
                yref="paper",
                y=1.0 - 0.075 * row,
                yanchor="top",
                text=f"{label} {fmt_level(level)}",
                showarrow=False,
                xanchor="left",
                xshift=3,
                font={"color": color, "size": 11},
                bgcolor="rgba(17,24,33,0.8)",
            )


BAND_FILL = "rgba(226,232,240,0.16)"
FLIP_BAND_FILL = "rgba(192,132,252,0.16)"


def add_band(fig: go.Figure, x, low, high, name: str, fill: str = BAND_FILL, **where) -> None:
    """A shaded p05-p95 band: the upper edge, then the lower edge filled up to it (hover shows both ends)."""
    hover = [f"{fmt_usd(lo)} to {fmt_usd(hi)}" for lo, hi in zip(low, high)]
    fig.add_scatter(x=x, y=high, mode="lines", line={"width": 0}, showlegend=False, hoverinfo="skip",
                    legendgroup=name, **where)
    fig.add_scatter(x=x, y=low, mode="lines", line={"width": 0}, fill="tonexty", fillcolor=fill, name=name,
                    legendgroup=name, hovertext=hover, hovertemplate="90% band %{hovertext}<extra></extra>", **where)


def _add_flip_band(fig: go.Figure, summary: dict) -> None:
    """The flip's 90% band (p05-p95 over the position draws that have a flip) shaded behind the strike bars, its key
    saying that share of the draws, as the cards and reports do."""
    band = summary.get("gamma_flip_band") or {}
    if is_missing(band.get("p05")) or is_missing(band.get("p95")):
        return
    fig.add_vrect(x0=band["p05"], x1=band["p95"], fillcolor=FLIP_BAND_FILL, line_width=0, layer="below")
    add_legend_keys(fig, [(f"flip {flip_band_text(summary)}", theme.FLIP_COLOR)], opacity=0.35)


def gamma_profile_figure(bundle: ReportBundle) -> go.Figure:
    """Net dealer GEX by strike (green long / red short gamma bars) under the spot-grid gamma profile."""
    by_strike = exposures_per_strike(bundle)
    per_expiry = (
        strike_window(bundle, bundle.exposures_by_strike)
        .pivot(on="expiry", index="strike", values="net_gex", aggregate_function="sum")
        .sort("strike")
    )
    per_expiry = by_strike.select("strike").join(per_expiry, on="strike", how="left").fill_null(0.0)
    expiries = [c for c in per_expiry.columns if c != "strike"]
    hover = [
        f"<b>Strike {fmt_level(row[0])}</b><br>Net dealer GEX {fmt_usd(total)}"
        + "".join(f"<br>  {e}: {fmt_usd(v)}" for e, v in zip(expiries, row[1:]))
        + "<br><i>click for the strike's detail</i>"
        for row, total in zip(per_expiry.iter_rows(), by_strike["net_gex"])
    ]
    bars = round_usd(by_strike["net_gex"])
    curve, low_band, high_band = round_usd(bundle.gamma_profile.select("total_gex", "total_gex_p05", "total_gex_p95")
                                           .to_numpy().T)  # the curve and its band at one precision
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_bar(
        x=by_strike["strike"],
        y=bars,
        name="Net dealer GEX at strike",
        showlegend=False,
        marker={"color": theme.sign_colors(bars), "line": {"width": 0}},
        hovertext=hover,
        hovertemplate="%{hovertext}<extra></extra>",
    )
    add_legend_keys(fig, [(f"Net dealer GEX at strike: {label}", color) for label, color in SIGN_KEYS])
    add_band(fig, bundle.gamma_profile["spot"], low_band, high_band,
             "90% band of total dealer GEX (position draws, right axis)", secondary_y=True)
    fig.add_scatter(
        x=bundle.gamma_profile["spot"],
        y=curve,
        secondary_y=True,
        name="Total dealer GEX if spot moved there (right axis)",
        mode="lines",
        line={"color": "#e2e8f0", "width": 2},
        hovertext=usd_text(curve),
        hovertemplate="Spot %{x:.2f}<br>Total dealer GEX %{hovertext}<extra>profile</extra>",
    )
    _add_flip_band(fig, bundle.summary)
    _add_level_lines(fig, bundle.summary)
    low, high = by_strike["strike"].min(), by_strike["strike"].max()
    bar_range, curve_range = aligned_zero_ranges(bars, np.concatenate([curve, low_band, high_band]))
    fig.update_layout(
        template=theme.dealer_template(),
        hovermode="closest",
        height=510,
        title="Dealer gamma exposure by strike ($ per 1% move) and the gamma profile",
        xaxis={"title": {"text": "Strike / spot"}, "range": [low - 1, high + 1]},
        **BELOW_LEGEND,
    )
    fig.update_yaxes(usd_axis("Net dealer GEX at strike", bars, bar_range), secondary_y=False)
    fig.update_yaxes(
        usd_axis("Total dealer GEX vs spot", curve, curve_range) | {"showgrid": False}, secondary_y=True
    )
    return fig


GREEK_PANELS = (
    ("cex", "Dealer charm exposure", "$ delta per day"),
    ("vex", "Dealer vanna exposure", "$ delta per vol pt"),
    ("vomma_ex", "Dealer vomma exposure", "$ vega per vol pt, per vol pt"),
    ("speed_ex", "Dealer speed exposure", "$ GEX change per 1% move"),
)


def greeks_figure(bundle: ReportBundle) -> go.Figure:
    """Small multiples of the second-order dealer exposures (charm, vanna, vomma, speed) by strike."""
    by_strike = exposures_per_strike(bundle)
    panels = [p for p in GREEK_PANELS if p[0] in by_strike.columns]
    fig = make_subplots(
        rows=2,
        cols=2,
        shared_xaxes=True,
        vertical_spacing=0.16,
        horizontal_spacing=0.1,
        subplot_titles=[
            f"{title} <span style='color:{theme.MUTED}'>({unit})</span>" for _, title, unit in panels
        ],
    )
    for i, (column, title, unit) in enumerate(panels):
        values = round_usd(by_strike[column])
        fig.add_bar(
            x=by_strike["strike"],
            y=values,
            name=title,
            showlegend=False,
            marker={"color": theme.sign_colors(values), "line": {"width": 0}},
            hovertext=usd_text(values),
            hovertemplate=f"Strike %{{x}}<br>{title}: %{{hovertext}} ({unit})<extra></extra>",
            row=i // 2 + 1,
            col=i % 2 + 1,
        )
        fig.update_yaxes(usd_axis("", values), row=i // 2 + 1, col=i % 2 + 1)
    fig.update_layout(
        template=theme.dealer_template(),
        height=470,
        bargap=0.1,
        title="Dealer second-order exposures by strike",
    )
    fig.update_annotations(font={"size": 11, "color": theme.TEXT})  # the panels' titles
    for i in range(len(panels)):
        add_spot_line(fig, bundle.summary["spot"], row=i // 2 + 1, col=i % 2 + 1)
    return fig


def surface_grid(bundle: ReportBundle) -> tuple[list[float], list[str], np.ndarray]:
    """(strikes, closes, net dealer GEX closes x strikes) of the window, strikes near spot, $1,000 rounded."""
    surface = (
        strike_window(bundle, bundle.gex_surface)
        .pivot(on="strike", index="date", values="net_gex", aggregate_function="sum")
        .sort("date")
        .fill_null(0.0)
    )
    strikes = [float(s) for s in surface.columns[1:]]
    return strikes, [d.isoformat() for d in surface["date"]], round_usd(surface.drop("date").to_numpy())


def gex_heatmap_figure(bundle: ReportBundle) -> go.Figure:
    """Net dealer GEX over strike x close as a heatmap: the dashboard's view of how the book was built (2D, so
    the page needs no WebGL and draws fast)."""
    strikes, closes, z = surface_grid(bundle)
    limit = float(np.abs(z).max(initial=0.0)) or 1.0
    fig = go.Figure(
        go.Heatmap(
            x=strikes,
            y=closes,
            z=z,
            colorscale=theme.DIVERGING,
            zmin=-limit,
            zmax=limit,
            colorbar={"title": {"text": "Dealer GEX"}, "len": 0.9, "thickness": 12, **usd_ticks(-limit, limit, 4)},
            hovertext=np.array(usd_text(z)).reshape(z.shape),
            hovertemplate="Strike %{x}<br>Close %{y}<br>Net dealer GEX %{hovertext}<extra></extra>",
        )
    )
    add_spot_line(fig, bundle.summary["spot"])
    fig.update_layout(
        template=theme.dealer_template(),
        height=470,
        title="Net dealer GEX by strike over the window (each close)",
        xaxis={"title": {"text": "Strike"}},
        yaxis={"title": {"text": "Close"}, "type": "category"},
    )
    return fig


def gex_surface_figure(bundle: ReportBundle) -> go.Figure:
    """3D surface of net dealer GEX over strike x close of the window: how the book was built (its own page and
    PNG; the dashboard draws the same grid as a heatmap)."""
    strikes, closes, z = surface_grid(bundle)
    limit = float(np.abs(z).max(initial=0.0)) or 1.0
    fig = go.Figure(
        go.Surface(
            x=strikes,
            y=closes,
            z=z,
            colorscale=theme.DIVERGING,
            cmin=-limit,
            cmax=limit,
            colorbar={
                "title": {"text": "Dealer GEX"},
                "len": 0.7,
                "thickness": 12,
                **usd_ticks(-limit, limit, 4),
            },
            hovertext=np.array(usd_text(z)).reshape(z.shape),
            hovertemplate="Strike %{x}<br>Close %{y}<br>Net dealer GEX %{hovertext}<extra></extra>",
            contours={"z": {"show": True, "usecolormap": True, "project": {"z": False}, "width": 1}},
        )
    )
    fig.update_layout(
        template=theme.dealer_template(),
        height=470,
        margin={"l": 0, "r": 0, "t": 48, "b": 0},
        title="Net dealer GEX by strike over the window (each close)",
        scene={
            "xaxis": {"title": {"text": "Strike"}},
            "yaxis": {"title": {"text": "Close"}},
            "zaxis": {"title": {"text": "Dealer GEX"}, **usd_ticks(float(z.min()), float(z.max()), 4)},
            "camera": {"eye": {"x": -1.15, "y": -1.35, "z": 0.55}, "center": {"x": 0, "y": 0, "z": -0.12}},
            "aspectmode": "manual",
            "aspectratio": {"x": 1.5, "y": 1.1, "z": 0.6},
            "domain": {"x": [0.04, 0.9]},
        },
    )
    return fig


def smile_figure(bundle: ReportBundle) -> go.Figure:
    """Implied vol by strike per expiry: market points, fitted smile, rejected points marked x."""
    smile = strike_window(bundle, bundle.smile).sort("expiry", "strike")
    fig = go.Figure()
    rejected_keyed = False  # the legend's "rejected by fit" entry, once, where a rejected point is drawn
    for i, ((expiry,), rows) in enumerate(smile.group_by("expiry", maintain_order=True)):
        color = theme.EXPIRY_COLORS[i % len(theme.EXPIRY_COLORS)]
        kept = rows.filter(~pl.col("rejected"))
        rejected = rows.filter(pl.col("rejected") & pl.col("iv_market").is_finite())  # a mark without a vol: no point
        fig.add_scatter(
            x=rows["strike"],
            y=(rows["iv_fit"] * 100).round(2),
            mode="lines",
            name=f"{expiry} fit",
            line={"color": color, "width": 2},
            legendgroup=str(expiry),
            hovertemplate=f"{expiry} fit<br>Strike %{{x}}: %{{y:.2f}}%<extra></extra>",
        )
        fig.add_scatter(
            x=kept["strike"],
            y=(kept["iv_market"] * 100).round(2),
            mode="markers",
            name=f"{expiry} market",
            legendgroup=str(expiry),
            showlegend=False,
            marker={"color": color, "size": 5, "opacity": 0.75},
            customdata=kept["right"],
            hovertemplate=f"{expiry} %{{customdata}}<br>Strike %{{x}}: %{{y:.2f}}%<extra>market</extra>",
        )
        if len(rejected):
            fig.add_scatter(
                x=rejected["strike"],
                y=(rejected["iv_market"] * 100).round(2),
                mode="markers",
                name="rejected by fit",
                legendgroup="rejected",
                showlegend=not rejected_keyed,
                marker={"symbol": "x", "size": 8, "color": theme.NEGATIVE, "line": {"width": 1}},
                hovertemplate=f"{expiry} rejected<br>Strike %{{x}}: %{{y:.2f}}%<extra></extra>",
            )
            rejected_keyed = True
    add_spot_line(fig, bundle.summary["spot"])
    fig.update_layout(
        template=theme.dealer_template(),
        height=470,
        title="Implied volatility smile per expiry",
        xaxis={"title": {"text": "Strike"}},
        yaxis={"title": {"text": "Implied vol"}, "ticksuffix": "%"},
    )
    return fig


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(first, last) index of each run of True in a boolean array."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.nonzero(edges == 1)[0], np.nonzero(edges == -1)[0] - 1))


def flow_vs_naive_figure(bundle: ReportBundle) -> go.Figure:
    """Trade-signed dealer GEX against the naive OI convention; strikes where their signs disagree shaded."""
    naive = strike_window(bundle, bundle.naive_gex).sort("strike")
    strikes = naive["strike"].to_numpy()
    flow, oi = round_usd(naive["flow_gex"]), round_usd(naive["naive_oi_gex"])
    fig = go.Figure()
    material = np.maximum(np.abs(flow), np.abs(oi)) > DISAGREEMENT_SHARE * max(
        np.abs(flow).max(), np.abs(oi).max()
    )
    for first, last in _runs((np.sign(flow) * np.sign(oi) < 0) & material):
        fig.add_vrect(
            x0=strikes[first] - 0.5,
            x1=strikes[last] + 0.5,
            fillcolor=theme.HIGHLIGHT,
            opacity=0.13,
            line_width=0,
            layer="below",
        )
    fig.add_bar(
        x=strikes,
        y=flow,
        name="Dealer GEX from signed trades (ours)",
        showlegend=False,
        marker={"color": theme.sign_colors(flow), "line": {"width": 0}},
        hovertext=usd_text(flow),
        hovertemplate="Signed flow (ours): %{hovertext}<extra></extra>",
    )
    fig.add_scatter(
        x=strikes,
        y=oi,
        name=f"naive OI ({bundle.summary.get('naive_oi_date') or 'no OI file'}): dealers long calls, short puts",
        mode="lines",
        line={"color": "#e2e8f0", "width": 1.6, "shape": "hvh"},
        hovertext=usd_text(oi),
        hovertemplate="Naive OI convention: %{hovertext}<extra></extra>",
    )
    add_legend_keys(fig, [(f"ours: {label}", color) for label, color in SIGN_KEYS])
    add_legend_keys(fig, [("signs disagree", theme.HIGHLIGHT)], opacity=0.4)
    add_spot_line(fig, bundle.summary["spot"])
    fig.update_layout(
        template=theme.dealer_template(),
        height=470,
        hovermode="x unified",
        title="Dealer GEX: signed trade flow vs the naive open-interest convention",
        legend=INSET_LEGEND,
        xaxis={"title": {"text": "Strike"}},
        yaxis=usd_axis("Dealer GEX ($ per 1% move)", np.concatenate([flow, oi])),
    )
    return fig


def intraday_buckets(flow: pl.DataFrame) -> pl.DataFrame:
    """Cumulative flow at the end of each INTRADAY_BUCKET on the New York clock: a full day of prints
    (hundreds of thousands on SPY) shrinks to at most 780 points."""
    new_york = (
        pl.from_epoch("sip_timestamp", time_unit="ns")
        .dt.replace_time_zone("UTC")
        .dt.convert_time_zone("America/New_York")
    )
    return (
        flow.sort("sip_timestamp")
        .with_columns(new_york.alias("et"))
        .group_by_dynamic("et", every=INTRADAY_BUCKET, label="right")
        .agg(pl.col("cum_dealer_delta_usd", "cum_dealer_gamma_usd").last())
        .with_columns(pl.col("et").dt.strftime("%Y-%m-%d %H:%M:%S"))
    )


def intraday_flow_figure(bundle: ReportBundle) -> go.Figure:
    """Cumulative dealer delta and gamma acquired through the latest session, New York clock."""
    flow = intraday_buckets(bundle.intraday_flow)
    day = flow["et"][0][:10] if len(flow) else ""
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    delta, gamma = round_usd(flow["cum_dealer_delta_usd"]), round_usd(flow["cum_dealer_gamma_usd"])
    fig.add_scatter(
        x=flow["et"],
        y=delta,
        mode="lines",
        name="Cumulative dealer delta ($, left)",
        line={"color": theme.CALL_WALL_COLOR, "width": 1.8},
        hovertext=usd_text(delta),
        hovertemplate="Dealer delta %{hovertext}<extra></extra>",
    )
    fig.add_scatter(
        x=flow["et"],
        y=gamma,
        mode="lines",
        secondary_y=True,
        name="Cumulative dealer GEX ($ per 1%, right)",
        line={"color": theme.FLIP_COLOR, "width": 1.8},
        hovertext=usd_text(gamma),
        hovertemplate="Dealer GEX %{hovertext}<extra></extra>",
    )
    delta_range, gamma_range = aligned_zero_ranges(delta, gamma)
    fig.update_layout(
        template=theme.dealer_template(),
        height=470,
        hovermode="x unified",
        title=f"Intraday dealer flow from classified trades, {day} (ET)",
        xaxis={
            "title": {"text": "Time (America/New_York)"},
            "tickformat": "%H:%M",
            "hoverformat": "%H:%M:%S ET",
        },
    )
    fig.update_yaxes(usd_axis("Dealer delta acquired", delta, delta_range), secondary_y=False)
    fig.update_yaxes(
        usd_axis("Dealer GEX acquired", gamma, gamma_range) | {"showgrid": False}, secondary_y=True
    )
    return fig


HISTORY_LEVELS = (
    ("spot", "Spot", theme.SPOT_COLOR, "solid"),
    ("gamma_flip", "Gamma flip", theme.FLIP_COLOR, "dash"),
    ("call_wall", "Call wall", theme.CALL_WALL_COLOR, "dot"),
    ("put_wall", "Put wall", theme.PUT_WALL_COLOR, "dot"),
)


def levels_history_figure(bundle: ReportBundle) -> go.Figure:
    """Spot, flip (with its 90% band) and the walls at each as-of close of the window, over total dealer GEX (the
    point estimate every headline shows) and its 90% band (right axis)."""
    history = bundle.levels_history.sort("as_of")
    as_of = [d.isoformat() for d in history["as_of"]]
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    columns = {"p05": "total_gex_p05", "point": "total_gex", "p95": "total_gex_p95"}
    drawn = round_usd(np.vstack([history[c].fill_null(np.nan).to_numpy() for c in columns.values()]))  # one precision
    gex = dict(zip(columns, drawn))
    add_band(fig, as_of, gex["p05"], gex["p95"], "90% band of total dealer GEX (right axis)", secondary_y=True)
    fig.add_scatter(x=as_of, y=gex["point"], mode="lines+markers", secondary_y=True, marker={"size": 4},
                    name="Total dealer GEX (right axis)",
                    line={"color": "#94a3b8", "width": 1.4}, hovertext=usd_text(gex["point"]),
                    hovertemplate="Total dealer GEX %{hovertext}<extra></extra>")
    flip_low, flip_high = (history[f"gamma_flip_{p}"].fill_null(np.nan).to_numpy() for p in ("p05", "p95"))
    fig.add_scatter(x=as_of, y=flip_high, mode="lines", line={"width": 0}, showlegend=False, hoverinfo="skip")
    fig.add_scatter(x=as_of, y=flip_low, mode="lines", line={"width": 0}, fill="tonexty", fillcolor=FLIP_BAND_FILL,
                    name="flip 90% band", hoverinfo="skip")
    for column, label, color, dash in HISTORY_LEVELS:
        fig.add_scatter(x=as_of, y=history[column], mode="lines+markers", name=label,
                        line={"color": color, "width": 1.8, "dash": dash}, marker={"size": 5},
                        hovertemplate=f"{label} %{{y:.2f}}<extra>%{{x}}</extra>")
    if len(as_of) == 1:  # one point has no area to shade
        fig.add_annotation(text="one close so far: the 90% bands shade from the second close on",
                           xref="paper", yref="paper", x=0.5, y=1.0, showarrow=False, font={"color": theme.MUTED})
    _, gex_range = aligned_zero_ranges([0.0], np.concatenate(list(gex.values())))
    fig.update_layout(
        template=theme.dealer_template(),
        height=430,
        hovermode="x unified",
        title="Spot, gamma flip and walls at each close, over total dealer GEX",
        **BELOW_LEGEND,
        xaxis={"title": {"text": "As-of close"}, "type": "category"},
    )
    fig.update_yaxes({"title": {"text": "Price level"}}, secondary_y=False)
    fig.update_yaxes(usd_axis("Total dealer GEX", np.concatenate(list(gex.values())), gex_range)
                     | {"showgrid": False}, secondary_y=True)
    return fig


# Chart name (file stem of its standalone page and PNG) -> builder; the dashboard shows them in this order.
FIGURES: dict[str, Callable[[ReportBundle], go.Figure]] = {
    "gamma_profile": gamma_profile_figure,
    "greeks_panel": greeks_figure,
    "gamma_surface": gex_surface_figure,
    "volatility_smile": smile_figure,
    "dealer_flow_vs_oi": flow_vs_naive_figure,
    "intraday_flow": intraday_flow_figure,
    "levels_history": levels_history_figure,
}
# What the dashboard draws instead of a panel's own figure: no WebGL on the page, so it renders in well under 1 s.
DASHBOARD_FIGURES: dict[str, Callable[[ReportBundle], go.Figure]] = {**FIGURES, "gamma_surface": gex_heatmap_figure}
