"""Charts carry the production bundle's numbers (checked against hand-worked BSM GEX), its bands, dealer-sign
colours and aligned zeros."""

from dataclasses import replace

import numpy as np
import polars as pl
import pytest

from spy_gamma.report import theme
from spy_gamma.report.figures import (
    DASHBOARD_FIGURES,
    FIGURES,
    aligned_zero_ranges,
    exposures_per_strike,
    flow_vs_naive_figure,
    gamma_profile_figure,
    levels_history_figure,
    round_usd,
    smile_figure,
    usd_ticks,
)


def test_every_figure_has_traces(bundle):
    for name, build in {**FIGURES, **DASHBOARD_FIGURES}.items():
        assert len(build(bundle).data) > 0, name


def test_every_strike_chart_labels_its_spot_line_with_the_level(bundle):
    label = f"Spot {bundle.summary['spot']:.2f}"
    for name in ("gamma_profile", "greeks_panel", "gamma_surface", "volatility_smile", "dealer_flow_vs_oi"):
        texts = [annotation.text for annotation in DASHBOARD_FIGURES[name](bundle).layout.annotations]  # surface: 2-D
        assert label in texts, name


def test_dashboard_draws_no_webgl_trace(bundle):
    for name, build in DASHBOARD_FIGURES.items():
        assert not {trace.type for trace in build(bundle).data} & {"surface", "scatter3d", "mesh3d"}, name


def test_heaviest_gamma_bar_is_the_hand_worked_net_gex(bundle, by_hand):
    per_strike = by_hand.group_by("strike").agg(pl.col("hand_gex").sum()).sort(pl.col("hand_gex").abs(),
                                                                                descending=True)
    strike, hand = per_strike.row(0)
    bars = gamma_profile_figure(bundle).data[0]
    x, y = np.asarray(bars.x), np.asarray(bars.y)
    assert y[x == strike][0] == pytest.approx(hand, abs=500.0 + 1e-9 * abs(hand))  # bars rounded to $1,000
    assert np.abs(y).max() == pytest.approx(abs(hand), abs=500.0 + 1e-9 * abs(hand))
    assert all(c == (theme.POSITIVE if v >= 0 else theme.NEGATIVE) for c, v in zip(bars.marker.color, y))


def test_profile_band_and_flip_band_are_shaded(bundle):
    fig = gamma_profile_figure(bundle)
    filled = [trace for trace in fig.data if trace.type == "scatter" and trace.fill == "tonexty"]
    assert len(filled) == 1 and "90% band" in filled[0].name
    low, high = np.asarray(filled[0].y), np.asarray(fig.data[fig.data.index(filled[0]) - 1].y)
    assert (low <= high).all()
    assert len(low) == bundle.gamma_profile.height
    band = bundle.summary["gamma_flip_band"]
    rects = [(shape.x0, shape.x1) for shape in fig.layout.shapes if shape.type == "rect"]
    assert (band["p05"], band["p95"]) in rects


def test_the_flip_band_key_says_over_which_share_of_the_draws_it_is_taken(bundle):
    summary = {**bundle.summary, "gamma_flip_band": {"p05": 660.1, "p50": 666.5, "p95": 671.0},
               "flip_found_share": 0.751}
    fig = gamma_profile_figure(replace(bundle, summary=summary))
    assert "flip 90% band 660.10 to 671.00 (over the 75% of draws with a flip)" in {trace.name for trace in fig.data}


def test_strike_window_keeps_bars_near_spot(bundle):
    strikes = exposures_per_strike(bundle)["strike"]
    spot = bundle.summary["spot"]
    assert strikes.min() >= spot * 0.93 and strikes.max() <= spot * 1.07


def test_aligned_zero_ranges_put_zero_at_same_height():
    left, right = aligned_zero_ranges([-2.0, 10.0], [-50.0, 20.0])
    zero_height = [-lo / (hi - lo) for lo, hi in (left, right)]
    assert zero_height[0] == pytest.approx(zero_height[1])


def test_dollar_amounts_are_drawn_to_the_1000_unless_none_reaches_a_million():
    # a $-millions book keeps $1,000 steps; a vomma panel that peaks at $5.8K keeps its $451 strike (not $0)
    assert round_usd([2_345_678.9, 451.2, np.nan]).tolist()[:2] == [2_346_000.0, 0.0]
    assert round_usd([5_812.4, 451.2, -12.6]).tolist() == [5_812.0, 451.0, -13.0]
    assert np.isnan(round_usd([np.nan])).all()


def test_usd_ticks_on_round_steps():
    # span 0..1e9 over ~6 ticks -> raw step 1.67e8 -> nice step 2e8
    ticks = usd_ticks(0.0, 1e9)
    assert ticks["tickvals"] == [0.0, 2e8, 4e8, 6e8, 8e8, 1e9]
    assert ticks["ticktext"] == ["$0", "$200M", "$400M", "$600M", "$800M", "$1B"]


def test_disagreement_bands_cover_only_sign_flips(bundle):
    """Every shaded strike has signed-flow and naive-OI GEX of opposite signs."""
    fig = flow_vs_naive_figure(bundle)
    naive = bundle.naive_gex
    for shape in (s for s in fig.layout.shapes if s.type == "rect"):
        inside = naive.filter(pl.col("strike").is_between(shape.x0, shape.x1))
        assert inside.height and (inside["flow_gex"] * inside["naive_oi_gex"] < 0).all(), (shape.x0, shape.x1)


def test_history_panel_ends_at_the_as_of_close(bundle):
    fig = levels_history_figure(bundle)
    by_name = {trace.name: trace for trace in fig.data}
    closes = sorted(d.isoformat() for d in bundle.levels_history["as_of"])
    assert list(by_name["Spot"].x) == closes and closes[-1] == bundle.summary["as_of"]
    assert by_name["Spot"].y[-1] == pytest.approx(bundle.summary["spot"])
    assert by_name["Gamma flip"].y[-1] == pytest.approx(bundle.summary["gamma_flip"])
    assert by_name["Call wall"].y[-1] == bundle.summary["call_wall"]["strike"]
    assert {"flip 90% band", "90% band of total dealer GEX (right axis)"} <= set(by_name)
    # the same total GEX as every headline (the point estimate, not the band's median), to the $1K it is drawn at
    assert by_name["Total dealer GEX (right axis)"].y[-1] == pytest.approx(bundle.summary["total_gex"], abs=500)


def test_a_history_of_one_close_says_its_bands_shade_from_the_second_close_on(bundle):
    one = bundle.levels_history.sort("as_of").tail(1)
    two = pl.concat([one.with_columns(pl.col("as_of") - pl.duration(days=1)), one])
    notes = {n: [a.text for a in levels_history_figure(replace(bundle, levels_history=h)).layout.annotations]
             for n, h in (("one", one), ("two", two))}
    assert any("one close so far" in text for text in notes["one"])
    assert not any("one close so far" in text for text in notes["two"])


def test_the_smile_keys_rejected_marks_once_and_only_where_one_has_a_vol_to_draw(bundle):
    def rejected_traces(smile: pl.DataFrame) -> list:
        fig = smile_figure(replace(bundle, smile=smile))
        return [trace for trace in fig.data if trace.name == "rejected by fit"]

    # one rejected mark with a vol, at the strike nearest spot of the last expiry: drawn, and keyed in the legend
    last = bundle.smile.filter(pl.col("expiry") == bundle.smile["expiry"].max())
    strike = last["strike"][int((last["strike"] - bundle.summary["spot"]).abs().arg_min())]
    marked = (pl.col("expiry") == last["expiry"][0]) & (pl.col("strike") == strike)
    one = bundle.smile.with_columns(marked.alias("rejected"),
                                    pl.when(marked).then(0.2).otherwise(pl.col("iv_market")).alias("iv_market"))
    drawn = rejected_traces(one)
    assert drawn and [trace.showlegend for trace in drawn] == [True] and all(np.isfinite(drawn[0].y))
    # rejected marks without a vol (stale, or no inversion) draw nothing, so the legend does not list them
    assert rejected_traces(bundle.smile.with_columns(
        pl.when(pl.col("rejected")).then(None).otherwise(pl.col("iv_market")).alias("iv_market"))) == []
