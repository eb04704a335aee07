"""The report bundle's pattern rows, on a hand-written market structure."""

from spy_gamma.defs.reports.bundle import patterns_list


def test_a_pin_risk_row_says_how_much_gamma_sits_near_spot_and_at_which_strike():
    calendar = {"expiries": [
        {"expiry": "2025-10-10", "weekday": "Friday", "pin_strike": 659.0, "pin_concentration": 0.4,
         "share_of_gross": 0.55},
        {"expiry": "2025-10-08", "weekday": "Wednesday", "pin_strike": None, "pin_concentration": 0.01,
         "share_of_gross": 0.2}]}  # below the strength a trader's screen shows
    rows = patterns_list({"butterflies": [], "risk_reversals": [], "acceleration_zones": [], "calendar": calendar})
    assert rows == [{"kind": "pin_risk", "strength": 0.4, "strikes": [659.0], "expiry": "2025-10-10",
                     "note": "Friday expiry holds 55% of dealer gross gamma, 40% of it within 1% of spot, "
                             "the most at 659"}]
