"""The strike detail embedded in the page equals the bundle's rows for that strike."""

import polars as pl

from spy_gamma.report.drilldown import strike_details, strike_key
from spy_gamma.report.figures import exposures_per_strike


def test_strike_key_matches_the_javascript_spelling():
    # JS: Number(x).toFixed(3).replace(/\.?0+$/, "")
    assert [strike_key(k) for k in (670.0, 672.5, 600.0, 1000.125)] == ["670", "672.5", "600", "1000.125"]


def test_detail_positions_equal_the_strike_rows(bundle):
    details = strike_details(bundle)
    for strike in (670.0, 660.0, 645.0):
        table = details[strike_key(strike)]["positions"]
        embedded = pl.DataFrame(table["rows"], schema=table["columns"], orient="row")
        expected = (
            bundle.positions.filter(pl.col("strike") == strike)
            .sort("expiry", "right")
            .select(pl.col("expiry").cast(pl.String), *table["columns"][1:])
        )
        assert embedded.equals(expected)
        assert len(embedded) == 6  # three expiries x call/put


def test_detail_flow_sums_to_the_position(bundle):
    """Daily net dealer flow over the window adds up to the dealer position (positions start flat)."""
    table = strike_details(bundle)["670"]["flow"]
    flow = pl.DataFrame(table["rows"], schema=table["columns"], orient="row")
    built = flow.group_by("expiry", "right").agg(pl.col("net_dealer_flow").sum()).sort("expiry", "right")
    positions = bundle.positions.filter(pl.col("strike") == 670.0).sort("expiry", "right")
    assert built["net_dealer_flow"].to_list() == positions["dealer_position"].to_list()


def test_every_drawn_strike_has_a_detail(bundle):
    drawn = {strike_key(k) for k in exposures_per_strike(bundle)["strike"]}
    assert drawn == set(strike_details(bundle))
