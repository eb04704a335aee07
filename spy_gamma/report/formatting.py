"""How numbers read on the desk: $1.2B, -$350M, 669.50, 0.8%; one place so the page and the reports agree."""

from __future__ import annotations

import math
import re

_SCALES = ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K"))
MISSING = "n/a"


def is_missing(value) -> bool:
    """True for None and NaN, the two ways an upstream step says 'not computed'."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def fmt_usd(value: float | None, signed: bool = True, decimals: int = 1) -> str:
    """Dollars with a magnitude suffix: 1.23e9 -> '+$1.2B', -3.5e8 -> '-$350.0M'."""
    if is_missing(value):
        return MISSING
    sign = "-" if value < 0 else ("+" if signed and value > 0 else "")
    size = abs(value)
    for scale, suffix in _SCALES:
        if size >= scale:
            return f"{sign}${size / scale:,.{decimals}f}{suffix}"
    return f"{sign}${size:,.0f}"


def fmt_usd_tick(value: float) -> str:
    """Axis tick in desk units, trailing zeros trimmed: 2.5e9 -> '$2.5B', -4e8 -> '-$400M' (not d3's G)."""
    return re.sub(r"\.?0+(?=[KMBT]$)", "", fmt_usd(value, signed=False, decimals=2))


def fmt_level(value: float | None) -> str:
    """A price level (spot, strike, flip) with two decimals: 669.5 -> '669.50'."""
    return MISSING if is_missing(value) else f"{value:,.2f}"


def fmt_pct(value: float | None, decimals: int = 1, signed: bool = False) -> str:
    """A percentage already in percent units: 0.84 -> '0.8%'."""
    if is_missing(value):
        return MISSING
    return f"{value:+.{decimals}f}%" if signed else f"{value:.{decimals}f}%"


def fmt_count(value: float | None) -> str:
    """A contract or trade count with thousands separators."""
    return MISSING if is_missing(value) else f"{value:,.0f}"
