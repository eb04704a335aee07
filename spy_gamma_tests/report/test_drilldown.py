"""The strike detail embedded in the page: the lake's positions for that strike, and daily flows that add up to
the window's cumulative dealer flow."""

import polars as pl
import pytest

from spy_gamma.report.drilldown import strike_details, strike_key
from spy_gamma.report.figures import exposures_per_strike
from spy_gamma_tests.report.conftest import AS_OF


def test_strike_key_matches_the_javascript_spelling():
    # JS: Number(x).toFixed(3).replace(/\.?0+$/, "")
    assert [strike_key(k) for k in (670.0, 672.5, 600.0, 1000.125)] == ["670", "672.5", "600", "1000.125"]


def _heaviest(bundle) -> float:
    return exposures_per_strike(bundle).sort(pl.col("net_gex").abs(), descending=True)["strike"][0]


def test_detail_positions_are_the_lakes_rows_for_the_strike(bundle, lake):
    strike = _heaviest(bundle)
    table = strike_details(bundle)[strike_key(strike)]["positions"]
    embedded = pl.DataFrame(table["rows"], schema=table["columns"], orient="row")
    targets = [dt.isoformat() for dt in lake.read("target_expiries", AS_OF)["expiry"]]
    stored = (lake.read("dealer_positions", AS_OF)
              .filter((pl.col("strike") == strike) & pl.col("expiry").cast(pl.String).is_in(targets))
              .sort("expiry", "right"))
    assert embedded["dealer_position"].to_list() == pytest.approx(stored["dealer_position"].to_list(), rel=1e-5)
    assert embedded["right"].to_list() == stored["right"].to_list()


def test_daily_flows_add_up_to_the_windows_dealer_flow(bundle, lake):
    """Per contract, the days' net dealer flow sums to the cumulative net_dealer_flow stored with the position."""
    strike = _heaviest(bundle)
    table = strike_details(bundle)[strike_key(strike)]["flow"]
    flow = pl.DataFrame(table["rows"], schema=table["columns"], orient="row")
    built = flow.group_by("expiry", "right").agg(pl.col("net_dealer_flow").sum()).sort("expiry", "right")
    stored = (lake.read("dealer_positions", AS_OF).filter(pl.col("strike") == strike)
              .with_columns(pl.col("expiry").cast(pl.String)).join(built.select("expiry", "right"),
                                                                  on=["expiry", "right"]).sort("expiry", "right"))
    assert len(built) == len(stored) > 0
    assert built["net_dealer_flow"].to_list() == pytest.approx(stored["net_dealer_flow"].to_list(), rel=1e-5,
                                                               abs=1e-3)


def test_every_drawn_strike_has_a_detail(bundle):
    drawn = {strike_key(k) for k in exposures_per_strike(bundle)["strike"]}
    assert drawn == set(strike_details(bundle))
