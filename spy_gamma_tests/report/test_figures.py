"""Charts carry the bundle's numbers, coloured by dealer sign, with zeros aligned across twin axes."""

import numpy as np
import polars as pl
import pytest

from spy_gamma.report import theme
from spy_gamma.report.figures import (
    FIGURES,
    aligned_zero_ranges,
    exposures_per_strike,
    flow_vs_naive_figure,
    gamma_profile_figure,
    usd_ticks,
)


def test_every_figure_has_traces(bundle):
    for name, build in FIGURES.items():
        assert len(build(bundle).data) > 0, name


def test_gamma_bars_are_net_gex_per_strike(bundle):
    bars = gamma_profile_figure(bundle).data[0]
    totals = bundle.exposures_by_strike.group_by("strike").agg(pl.col("net_gex").sum()).sort("strike")
    at_670 = totals.filter(pl.col("strike") == 670.0)["net_gex"][0]
    x, y = np.asarray(bars.x), np.asarray(bars.y)
    assert y[x == 670.0][0] == pytest.approx(at_670, abs=500)  # rounded to the nearest $1,000
    assert all(c == (theme.POSITIVE if v >= 0 else theme.NEGATIVE) for c, v in zip(bars.marker.color, y))


def test_strike_window_keeps_bars_near_spot(bundle):
    strikes = exposures_per_strike(bundle)["strike"]
    spot = bundle.summary["spot"]
    assert strikes.min() >= spot * 0.93 and strikes.max() <= spot * 1.07


def test_aligned_zero_ranges_put_zero_at_same_height():
    left, right = aligned_zero_ranges([-2.0, 10.0], [-50.0, 20.0])
    zero_height = [-lo / (hi - lo) for lo, hi in (left, right)]
    assert zero_height[0] == pytest.approx(zero_height[1])


def test_usd_ticks_on_round_steps():
    # span 0..1e9 over ~6 ticks -> raw step 1.67e8 -> nice step 2e8
    ticks = usd_ticks(0.0, 1e9)
    assert ticks["tickvals"] == [0.0, 2e8, 4e8, 6e8, 8e8, 1e9]
    assert ticks["ticktext"] == ["$0", "$200M", "$400M", "$600M", "$800M", "$1B"]


def test_disagreement_bands_cover_sign_flips(bundle):
    """Sample: dealers are long 663-669 calls+puts (flow) where the OI convention says short -> one band."""
    fig = flow_vs_naive_figure(bundle)
    bands = [(s.x0, s.x1) for s in fig.layout.shapes if s.type == "rect"]
    assert (662.5, 669.5) in bands
