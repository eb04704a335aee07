"""Desk number formats, checked against values written out by hand."""

import math

import pytest

from spy_gamma.report.formatting import fmt_count, fmt_level, fmt_pct, fmt_usd, fmt_usd_tick


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1.23e9, "+$1.2B"),
        (-3.5e8, "-$350.0M"),
        (4_012_963_475.9, "+$4.0B"),
        (12_345.0, "+$12.3K"),
        (999.0, "+$999"),
        (0.0, "$0"),
        (2.5e12, "+$2.5T"),
        (None, "n/a"),
        (math.nan, "n/a"),
    ],
)
def test_fmt_usd(value, text):
    assert fmt_usd(value) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [(2.5e9, "$2.5B"), (-4e8, "-$400M"), (1e9, "$1B"), (1.25e9, "$1.25B"), (250e3, "$250K"), (0.0, "$0")],
)
def test_fmt_usd_tick_trims_zeros_and_says_b_not_g(value, text):
    assert fmt_usd_tick(value) == text


def test_levels_percents_counts():
    assert fmt_level(669.5) == "669.50"
    assert fmt_level(1234.567) == "1,234.57"
    assert fmt_pct(0.84) == "0.8%"
    assert fmt_pct(-1.016, 2, signed=True) == "-1.02%"
    assert fmt_count(1_284_551) == "1,284,551"
