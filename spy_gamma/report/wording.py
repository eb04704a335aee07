"""The sentences the page and the Markdown reports share: bands, the flip distance, what dealers do at a level,
the regime and the data-quality checks, all from the dealers' perspective."""

from __future__ import annotations

import math

from spy_gamma.report.formatting import MISSING, fmt_level, fmt_pct, fmt_usd, is_missing

UNCERTAIN = "uncertain"
SIMULATED_NOTE = (
    "On the embedded simulated market this history, and the backtest behind it, only proves the plumbing works; "
    "it says nothing about how the levels behave on SPY."
)
LEVEL_ACTIONS = {  # (role, side of spot) -> what dealer hedging does when price reaches the level
    ("support", "below"): "dealers long gamma: they buy the dip into it, hedging dampens the move",
    ("resistance", "above"): "dealers long gamma: they sell the rally into it, hedging dampens the move",
    ("acceleration", "below"): "dealers short gamma: they sell as price drops into it, hedging amplifies the move",
    ("acceleration", "above"): "dealers short gamma: they buy as price rallies into it, hedging amplifies the move",
}
PIVOT_ACTION = "gamma flip: dealer hedging switches between dampening and amplifying here"


def band_range(band: dict | None, fmt=fmt_usd) -> str:
    """``-$2.0B to -$0.3B`` from a ``{p05, p50, p95}`` band; n/a when either end is missing."""
    band = band or {}
    if is_missing(band.get("p05")) or is_missing(band.get("p95")):
        return MISSING
    return f"{fmt(band['p05'])} to {fmt(band['p95'])}"


def gex_sentence(summary: dict) -> str:
    """``total GEX -$1.2B, 90% band -$2.0B to -$0.3B`` (dealer $ per 1% move)."""
    return f"total GEX {fmt_usd(summary.get('total_gex'))}, 90% band {band_range(summary.get('total_gex_band'))}"


def flip_sentence(summary: dict) -> str:
    """``flip 665.20, 90% band 662.10 to 668.90`` (:func:`flip_band_text`, then :func:`no_flip_text`) or why there
    is none."""
    if is_missing(summary.get("gamma_flip")):
        return "no gamma flip within the searched spot range"
    others = no_flip_text(summary)
    return f"flip {fmt_level(summary['gamma_flip'])}, {flip_band_text(summary)}{'; ' + others if others else ''}"


def flip_band_text(summary: dict) -> str:
    """``90% band 662.10 to 668.90``: the band is over the draws whose profile has a flip, so their share is said
    when some have none (``... (over the 75% of draws with a flip)``)."""
    band = band_range(summary.get("gamma_flip_band"), fmt_level)
    found = summary.get("flip_found_share")
    if is_missing(found) or found >= 1:
        return f"90% band {band}"
    if found == 0:
        return "90% band n/a (no draw has a flip)"
    return f"90% band {band} (over the {math.floor(100 * found)}% of draws with a flip)"  # 99.6% is not all


def no_flip_text(summary: dict) -> str:
    """``draws without a flip: long gamma across the range in 20%, short in 5%`` (shares of all draws); empty when
    every draw has a flip or the split is not stored."""
    found, long_share = summary.get("flip_found_share"), summary.get("no_flip_long_share")
    if is_missing(found) or is_missing(long_share) or found >= 1:
        return ""
    return (f"draws without a flip: long gamma across the range in {100 * long_share:.0f}%, "
            f"short in {100 * (1 - found - long_share):.0f}%")


def wall_band_text(wall: dict) -> str:
    """``90% band 658.90 to 674.00; the wall at 674.00 in 78% of draws``: where the draws put a wall, and the
    strike most of them pick, which can differ from the point's (a strike whose gex sign is uncertain is large in
    |gex| in many draws while small at the point), and when the point's strike is outside the band."""
    band = wall.get("band") or {}
    parts = [f"90% band {band_range(band, fmt_level)}"]
    modal, share = band.get("modal"), band.get("modal_share")
    if not is_missing(modal) and not is_missing(share):
        parts.append(f"the wall at {fmt_level(modal)} in {100 * share:.0f}% of draws")
    low, high, strike = band.get("p05"), band.get("p95"), wall.get("strike")
    if not any(is_missing(v) for v in (low, high, strike)) and not low <= strike <= high:
        parts.append(f"the point's {fmt_level(strike)} lies outside the band")
    return "; ".join(parts)


def prob_long_text(summary: dict) -> str:
    """``P(dealers long gamma) 34%`` over the signing model's position draws."""
    prob = summary.get("prob_dealers_long_gamma")
    return f"P(dealers long gamma) {MISSING if is_missing(prob) else f'{100 * prob:.0f}%'}"


def flip_distance(summary: dict) -> str:
    """Where spot sits against the flip, sign and side agreeing: ``spot +0.40% above flip``."""
    spot, flip = summary.get("spot"), summary.get("gamma_flip")
    if is_missing(spot) or is_missing(flip):
        return "no flip found"
    pct = (spot / flip - 1) * 100
    side = "above" if pct > 0 else ("below" if pct < 0 else "at")
    return f"spot {fmt_pct(pct, 2, signed=True)} {side} flip"


def distance_from_spot(level, spot) -> str:
    """A level's distance from spot, signed: ``+1.20% from spot`` is above spot."""
    if is_missing(level) or is_missing(spot):
        return ""
    return f"{fmt_pct((level / spot - 1) * 100, 2, signed=True)} from spot"


def is_uncertain(regime: dict) -> bool:
    """True when the summary's regime is 'uncertain' (the 90% band of dealer GEX at spot contains zero)."""
    return str(regime.get("label", "")).startswith(UNCERTAIN)


def regime_short(regime: dict) -> str:
    """The regime as a badge reads it: ``uncertain``, ``dealers long gamma (dampening)``..."""
    return UNCERTAIN if is_uncertain(regime) else str(regime.get("label", MISSING))


def regime_tone(regime: dict) -> str:
    """CSS tone of the regime: uncertain, pos (long gamma) or neg (short gamma)."""
    if is_uncertain(regime):
        return UNCERTAIN
    gex = regime.get("gex_at_spot")
    return "" if is_missing(gex) else ("pos" if gex >= 0 else "neg")


def level_strength(level: dict) -> float | None:
    """The level's strength in [0, 1] (|gex| over the strongest candidate); None when not computed."""
    strength = level.get("strength")
    return None if is_missing(strength) else max(0.0, min(1.0, float(strength)))


def level_action(level: dict) -> str:
    """What dealers do when price reaches the level, from its role (support / resistance / acceleration / pivot)
    and side, never from its side alone."""
    if level.get("role") == "pivot":
        return PIVOT_ACTION
    return LEVEL_ACTIONS.get((level.get("role"), level.get("side")), str(level.get("note", "")))


def quality_rows(quality: dict) -> list[tuple[str, str, str, str]]:
    """(check, share, limit, status) for every data-quality check, then the mark ages, in desk words."""
    rows = [(check["check"].replace("_", " "), fmt_pct(check.get("share_pct")), f"warn if {check['warn_if']}",
             check["status"]) for check in quality.get("checks") or []]
    ages = (f"median {_seconds(quality.get('mark_age_median_s'))}, p90 {_seconds(quality.get('mark_age_p90_s'))} "
            f"before the close")
    return [*rows, ("closing mark ages", ages, f"stale after {_seconds(quality.get('max_mark_age_s'))}", "info")]


def _seconds(value) -> str:
    return MISSING if is_missing(value) else f"{value:,.0f} s"
