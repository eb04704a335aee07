"""The dark risk-screen look shared by the page, the standalone panels and the PNGs."""

from __future__ import annotations

import plotly.graph_objects as go

BACKGROUND = "#0b0f14"
PANEL = "#111821"
GRID = "#1c2631"
TEXT = "#d6dde6"
MUTED = "#7d8a99"
POSITIVE = "#22c55e"  # dealers long gamma / dealers buy
NEGATIVE = "#ef4444"  # dealers short gamma / dealers sell
SPOT_COLOR = "#f5f5f4"
FLIP_COLOR = "#c084fc"
CALL_WALL_COLOR = "#38bdf8"
PUT_WALL_COLOR = "#fb923c"
HIGHLIGHT = "#facc15"
EXPIRY_COLORS = ("#60a5fa", "#f472b6", "#facc15", "#34d399", "#a78bfa", "#f97316")
FONT = "Inter, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif"
DIVERGING = [[0.0, "#ef4444"], [0.3, "#991b1b"], [0.5, "#334155"], [0.7, "#15803d"], [1.0, "#4ade80"]]
PLOTLY_CONFIG = {
    "displaylogo": False,
    "responsive": True,
    "modeBarButtonsToRemove": ["lasso2d", "select2d", "autoScale2d"],
}


def _axis() -> dict:
    return {
        "gridcolor": GRID,
        "zerolinecolor": "#334155",
        "linecolor": GRID,
        "tickcolor": GRID,
        "title": {"font": {"color": MUTED, "size": 11}},
        "tickfont": {"color": MUTED, "size": 10},
    }


def _scene_axis() -> dict:
    return _axis() | {"backgroundcolor": PANEL, "showbackground": True}


def dealer_template() -> go.layout.Template:
    """Plotly template: dark panels, muted grid, compact margins, horizontal legend on top."""
    return go.layout.Template(
        layout={
            "paper_bgcolor": PANEL,
            "plot_bgcolor": PANEL,
            "font": {"family": FONT, "color": TEXT, "size": 12},
            "title": {"font": {"size": 14, "color": TEXT}, "x": 0.01, "xanchor": "left"},
            "xaxis": _axis(),
            "yaxis": _axis(),
            "scene": {"xaxis": _scene_axis(), "yaxis": _scene_axis(), "zaxis": _scene_axis()},
            "legend": {
                "orientation": "h",
                "yanchor": "bottom",
                "y": 1.01,
                "x": 0,
                "font": {"size": 11},
                "bgcolor": "rgba(0,0,0,0)",
            },
            "hoverlabel": {
                "bgcolor": "#0f172a",
                "bordercolor": "#334155",
                "font": {"family": FONT, "size": 12, "color": TEXT},
            },
            "margin": {"l": 60, "r": 60, "t": 56, "b": 44},
            "colorway": list(EXPIRY_COLORS),
            "bargap": 0.15,
        }
    )


def sign_colors(values) -> list[str]:
    """Green where dealers are long the exposure, red where short."""
    return [POSITIVE if v >= 0 else NEGATIVE for v in values]
