"""Market structure read from the dealer book: gamma regime, price levels by role and positioning patterns.

Every label is from the DEALER's perspective (dealer_position > 0 = dealers long, gex > 0 = dealers long gamma,
hedging against moves). A level is support or resistance only where dealers are long gamma; where they are short
it is an acceleration level, whichever side of spot it sits. Inputs are contract exposures (``exposure.contract_exposures``); outputs are
dataclasses of plain values (strings, floats, lists) so ``dataclasses.asdict`` serializes them to JSON.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import polars as pl

from spy_gamma.quant.exposure import FLIP_SEARCH_PCT, exposures_by_strike, flip_search_range, walls

PERSPECTIVE = "dealer"
# Net dealer gex within +-2% of gross gamma reads as neutral: calls and puts each carry about half the gross, so a
# 2-4% error in the estimated dealer share of either side (the signing model's own uncertainty is larger) moves
# the net by 1-2% of gross. Inside that band the sign says nothing about pinning or trending.
NEUTRAL_GEX_SHARE = 0.02
PIN_BAND_PCT = 1.0  # pin risk: share of an expiry's |gex| within +-1% of spot
RISK_REVERSAL_BAND_PCT = (1.0, 10.0)  # OTM legs: 1% to 10% away from spot
MAX_BUTTERFLY_WING_STEPS = 10  # wings up to this many listed strikes from the body
MIN_PATTERN_SHARE = 0.05  # a butterfly must hold this share of its expiry's gross |position|
ONE_DAY_YEARS = 1.0 / 365.0


@dataclass(frozen=True)
class Regime:
    """Dealer gamma at spot: sign, distance to the flip and how one-sided the book is.

    Neutral when |gex at spot| <= neutral_band_share x gross gex; None flip: no crossing in the searched range.
    """

    label: str  # "dealers long gamma (dampening)" / "dealers short gamma (amplifying)" / "dealers near flat ..."
    dealer_gex_at_spot: float  # $ per 1% move
    gross_gex: float  # sum of |call gex| + |put gex| over strikes
    strength: float  # gex at spot / gross |gex|, in [-1, 1]
    gamma_flip: float | None
    flip_distance_usd: float | None  # flip - spot
    flip_distance_pct: float | None  # 100 (flip - spot) / spot: negative when the flip is below spot
    spot_vs_flip_pct: float | None  # 100 (spot / flip - 1): positive when spot is above the flip
    flip_search_low: float  # the spot range searched for the flip
    flip_search_high: float
    neutral_band_share: float = NEUTRAL_GEX_SHARE
    perspective: str = PERSPECTIVE


@dataclass(frozen=True)
class Level:
    """A price level where dealer hedging changes behaviour, and what it does there.

    kind: call_wall / put_wall (strike of the largest |dealer gex| from calls / puts, signed), pin (a largest
    positive net-gex strike), acceleration_zone (the most negative strike of a run of negative net gex),
    gamma_flip (where total dealer gex changes sign). role: support / resistance (dealers long gamma there,
    gex > 0, at-or-below / above spot: their hedging leans against moves into it), acceleration (dealers short
    gamma, gex < 0, either side: hedging chases moves through it), pivot (the flip). strength: |gex| over the
    largest |gex| among all candidate levels, in [0, 1] (the flip: 1).
    """

    strike: float
    kind: str  # put_wall, call_wall, pin, acceleration_zone, gamma_flip
    strength: float
    dealer_gex: float | None
    note: str
    role: str  # support, resistance, acceleration, pivot
    side: str  # "below" (at or below spot) or "above"
    perspective: str = PERSPECTIVE


@dataclass(frozen=True)
class Butterfly:
    """Dealers short the body, long both wings (equal width) within one expiry; size in complete flies."""

    expiry: str
    lower: float
    body: float
    upper: float
    flies: float
    strength: float  # flies / the expiry's gross |dealer position|
    perspective: str = "dealer short body, long wings"


@dataclass(frozen=True)
class RiskReversal:
    """Opposite dealer positions in OTM puts vs OTM calls of one expiry (customers' skew trade, mirrored)."""

    expiry: str
    otm_put_position: float
    otm_call_position: float
    put_strike: float  # largest |position| among the OTM puts
    call_strike: float
    strength: float  # (call - put) / (|call| + |put|): +1 dealers long calls & short puts
    label: str
    perspective: str = PERSPECTIVE


@dataclass(frozen=True)
class ExpiryGamma:
    """Where dealer gamma sits by expiry (0DTE, Mon/Wed/Fri weeklies, monthlies)."""

    expiry: str
    weekday: str
    dealer_gex: float
    gross_gex: float
    share_of_gross: float
    pin_strike: float | None  # strike with the largest |gex| within PIN_BAND_PCT of spot
    pin_concentration: float  # share of this expiry's gross |gex| within PIN_BAND_PCT of spot
    perspective: str = PERSPECTIVE


@dataclass(frozen=True)
class CalendarEffects:
    """Gamma by expiry and what rolls off when the front (0DTE) expiry settles."""

    expiries: list[ExpiryGamma]
    front_expiry: str | None
    front_share_of_gross: float
    dealer_gex_after_front_rolloff: float
    regime_changes_after_rolloff: bool
    perspective: str = PERSPECTIVE


@dataclass(frozen=True)
class AccelerationZone:
    """Contiguous strikes where dealers are net short gamma: their hedging chases the move through the range."""

    low: float
    high: float
    peak_strike: float  # most negative dealer gex in the run: where hedging accelerates hardest
    dealer_gex: float
    strength: float  # share of the book's total negative gex
    perspective: str = PERSPECTIVE


@dataclass(frozen=True)
class Patterns:
    """All positioning patterns found in the dealer book."""

    butterflies: list[Butterfly] = field(default_factory=list)
    risk_reversals: list[RiskReversal] = field(default_factory=list)
    calendar: CalendarEffects | None = None
    acceleration_zones: list[AccelerationZone] = field(default_factory=list)


def regime(exposures: pl.DataFrame, spot: float, gamma_flip: float | None,
           flip_search_pct: float = FLIP_SEARCH_PCT) -> Regime:
    """Dealer gamma regime at spot: long gamma dampens moves (pinning), short gamma amplifies them (trending).

    Within the neutral band (|gex| <= NEUTRAL_GEX_SHARE x gross) the book is called near flat, not either.
    """
    by_strike = exposures_by_strike(exposures, per_expiry=False)
    gex = float(by_strike["net_gex"].sum())
    gross = float(by_strike["call_gex"].abs().sum() + by_strike["put_gex"].abs().sum())
    distance = None if gamma_flip is None else gamma_flip - spot
    low, high = flip_search_range(spot, flip_search_pct)
    return Regime(
        label=_regime_label(gex, gross),
        dealer_gex_at_spot=gex, gross_gex=gross, strength=gex / gross if gross > 0 else 0.0,
        gamma_flip=gamma_flip, flip_distance_usd=distance,
        flip_distance_pct=None if distance is None else 100.0 * distance / spot,
        spot_vs_flip_pct=None if gamma_flip is None else 100.0 * (spot / gamma_flip - 1.0),
        flip_search_low=low, flip_search_high=high)


def _regime_label(dealer_gex: float, gross_gex: float) -> str:
    if abs(dealer_gex) <= NEUTRAL_GEX_SHARE * gross_gex:
        return f"dealers near flat gamma (neutral: |net| within {NEUTRAL_GEX_SHARE:.0%} of gross)"
    return "dealers long gamma (dampening)" if dealer_gex > 0 else "dealers short gamma (amplifying)"


def levels(exposures: pl.DataFrame, spot: float, gamma_flip: float | None,
           top_n: int = 3) -> dict[str, list[Level]]:
    """Dealer-derived levels by role, strongest first: ``support, resistance, acceleration, pivot``.

    Candidates: the call and put walls, the top_n largest positive net-gex strikes (pins), the peak strikes of
    the top_n most negative-gex zones, and the gamma flip (pivot). Support (at or below spot) and resistance
    (above) are only levels where dealers are long gamma (gex > 0); a negative-gex wall or zone is an
    acceleration level on either side, never support or resistance. Strength: |gex| over the largest |gex| among
    all candidates (see :class:`Level`).
    """
    by_strike = exposures_by_strike(exposures, per_expiry=False)
    found = {"support": [], "resistance": [], "acceleration": [], "pivot": []}
    candidates = _wall_candidates(walls(by_strike)) + _pin_candidates(by_strike, top_n)
    candidates += [("acceleration_zone", zone.peak_strike, zone.dealer_gex,
                    acceleration_note(zone.low, zone.high))
                   for zone in acceleration_zones(by_strike)[:top_n]]
    scale = max((abs(gex) for _, _, gex, _ in candidates), default=0.0)
    if scale == 0:
        return found
    for kind, strike, gex, note in candidates:
        level = _level(kind, strike, gex, note, abs(gex) / scale, spot)
        found[level.role].append(level)
    if gamma_flip is not None:
        found["pivot"].append(Level(strike=gamma_flip, kind="gamma_flip", strength=1.0, dealer_gex=0.0,
                                    note="dealer gamma changes sign: dampening on the long-gamma side, amplifying "
                                         "on the other", role="pivot", side=_side(gamma_flip, spot)))
    return {role: sorted(group, key=lambda level: -level.strength) for role, group in found.items()}


def _side(strike: float, spot: float) -> str:
    return "below" if strike <= spot else "above"


def _level(kind: str, strike: float, gex: float, note: str, strength: float, spot: float) -> Level:
    """A candidate placed by sign and side: long gamma below/above spot = support/resistance, short = acceleration."""
    side = _side(strike, spot)
    role = "acceleration" if gex < 0 else ("support" if side == "below" else "resistance")
    return Level(strike=strike, kind=kind, strength=strength, dealer_gex=gex, note=note, role=role, side=side)


def _wall_candidates(wall: dict) -> list[tuple[str, float, float, str]]:
    """(kind, strike, gex, note) of the call and put walls, signed gex kept: positive dampens, negative amplifies."""
    return [(kind, wall[kind], wall[f"{kind}_gex"],
             f"largest |dealer gex| from {kind[:-5]}s: dealers "
             + ("long gamma, hedging dampens moves into it" if wall[f"{kind}_gex"] > 0
                else "short gamma, hedging accelerates moves through it (not support/resistance)"))
            for kind in ("call_wall", "put_wall") if wall[kind] is not None]


def _pin_candidates(by_strike: pl.DataFrame, top_n: int) -> list[tuple[str, float, float, str]]:
    """Largest positive net-gex strikes: dealers long gamma there sell rallies into and buy dips onto them."""
    pins = by_strike.filter(pl.col("net_gex") > 0).sort("net_gex", descending=True).head(top_n)
    return [("pin", strike, gex, "dealers long gamma: hedging pins price here")
            for strike, gex in pins.select("strike", "net_gex").iter_rows()]


def acceleration_note(low: float, high: float) -> str:
    """What an acceleration zone is: strikes whose own dealer gamma is short. The total gamma profile at those
    spots sums every strike, so it can read long gamma there."""
    if low == high:
        return (f"strike {low:g} carries short dealer gamma (its own; the total profile may read long): its hedging "
                "accelerates moves through it")
    return (f"strikes {low:g}-{high:g} carry short dealer gamma (their own; the total profile may read long): their "
            "hedging accelerates moves through them")


def acceleration_zones(by_strike: pl.DataFrame) -> list[AccelerationZone]:
    """Runs of consecutive listed strikes with negative dealer net gex, strongest (most negative) first."""
    strikes = by_strike.group_by("strike").agg(pl.col("net_gex").sum()).sort("strike")
    strike, gex = strikes["strike"].to_numpy(), strikes["net_gex"].to_numpy()
    negative = gex < 0
    total_negative = -gex[negative].sum()
    starts = np.flatnonzero(negative & ~np.r_[False, negative[:-1]])
    ends = np.flatnonzero(negative & ~np.r_[negative[1:], False])
    zones = [AccelerationZone(low=float(strike[s]), high=float(strike[e]),
                              peak_strike=float(strike[s + np.argmin(gex[s:e + 1])]),
                              dealer_gex=float(gex[s:e + 1].sum()), strength=float(-gex[s:e + 1].sum() / total_negative))
             for s, e in zip(starts, ends, strict=True)]
    return sorted(zones, key=lambda zone: zone.dealer_gex)


def patterns(exposures: pl.DataFrame, spot: float) -> Patterns:
    """Butterflies, risk reversals, calendar/0DTE effects with pin risk, and acceleration zones in the dealer book."""
    by_expiry = exposures_by_strike(exposures, per_expiry=True)
    return Patterns(
        butterflies=butterflies(by_expiry),
        risk_reversals=risk_reversals(by_expiry, spot),
        calendar=calendar_effects(exposures, spot) if exposures.height else None,
        acceleration_zones=acceleration_zones(by_expiry),
    )


FLY_ORIENTATIONS = {1.0: "dealer short body, long wings (customers sold the fly)",
                    -1.0: "dealer long body, short wings (customers bought the fly)"}


def butterflies(by_expiry: pl.DataFrame) -> list[Butterfly]:
    """Per expiry, equal-width butterflies in the dealer book, either way round (calls and puts pooled).

    Dealers short the body and long both wings (customers sold the fly), or the mirror image (customers bought it:
    dealers long the body, short the wings). Calls and puts at one strike share gamma, so the net position per
    strike is what shapes the gamma profile. Size = min(|body|/2, |lower wing|, |upper wing|); one (largest) fly
    per body, noise below MIN_PATTERN_SHARE of the expiry's gross |position| ignored.
    """
    found = []
    for (expiry,), rows in sorted(by_expiry.partition_by("expiry", as_dict=True).items()):
        rows = rows.sort("strike")
        strike = rows["strike"].to_numpy()
        net = (rows["call_position"] + rows["put_position"]).to_numpy().astype(float)
        gross = np.abs(net).sum()
        for orientation, perspective in FLY_ORIENTATIONS.items():
            position = orientation * net  # short-body orientation: body < 0, wings > 0
            for body in np.flatnonzero(position < 0):
                fly = _best_fly(strike, position, body)
                if fly is not None and fly[2] >= MIN_PATTERN_SHARE * gross:
                    lower, upper, flies = fly
                    found.append(Butterfly(expiry=str(expiry), lower=float(strike[lower]), body=float(strike[body]),
                                           upper=float(strike[upper]), flies=flies, strength=float(flies / gross),
                                           perspective=perspective))
    return sorted(found, key=lambda fly: -fly.strength)


def _best_fly(strike: np.ndarray, position: np.ndarray, body: int) -> tuple[int, int, float] | None:
    """(lower index, upper index, flies) of the largest equal-width fly around ``body``, or None."""
    best = None
    for step in range(1, MAX_BUTTERFLY_WING_STEPS + 1):
        if body - step < 0:
            break
        lower = body - step
        upper = np.flatnonzero(np.isclose(strike, 2 * strike[body] - strike[lower]))
        if upper.size == 0 or position[lower] <= 0 or position[upper[0]] <= 0:
            continue
        flies = float(min(-position[body] / 2, position[lower], position[upper[0]]))
        if best is None or flies > best[2]:
            best = (lower, int(upper[0]), flies)
    return best


def risk_reversals(by_expiry: pl.DataFrame, spot: float) -> list[RiskReversal]:
    """Per expiry, OTM puts and OTM calls (1-10% from spot) with opposite net dealer positions."""
    low_pct, high_pct = RISK_REVERSAL_BAND_PCT
    distance_pct = 100.0 * (pl.col("strike") / spot - 1.0)
    otm_puts = (distance_pct <= -low_pct) & (distance_pct >= -high_pct)
    otm_calls = (distance_pct >= low_pct) & (distance_pct <= high_pct)
    found = []
    for (expiry,), rows in sorted(by_expiry.partition_by("expiry", as_dict=True).items()):
        puts, calls = rows.filter(otm_puts), rows.filter(otm_calls)
        put_position, call_position = float(puts["put_position"].sum()), float(calls["call_position"].sum())
        if put_position * call_position >= 0:
            continue
        found.append(RiskReversal(
            expiry=str(expiry), otm_put_position=put_position, otm_call_position=call_position,
            put_strike=_largest_position_strike(puts, "put_position"),
            call_strike=_largest_position_strike(calls, "call_position"),
            strength=(call_position - put_position) / (abs(call_position) + abs(put_position)),
            label="dealers short OTM puts, long OTM calls (customers hedge downside)" if put_position < 0
            else "dealers long OTM puts, short OTM calls (customers chase upside)"))
    return sorted(found, key=lambda rr: -abs(rr.strength))


def _largest_position_strike(rows: pl.DataFrame, column: str) -> float:
    return float(rows["strike"][int(np.argmax(rows[column].abs().to_numpy()))])


def calendar_effects(exposures: pl.DataFrame, spot: float) -> CalendarEffects:
    """Dealer gex by expiry with its pin risk, and the book's gex once the front expiry rolls off."""
    by_expiry = exposures_by_strike(exposures, per_expiry=True)
    gross_total = float(by_expiry["call_gex"].abs().sum() + by_expiry["put_gex"].abs().sum())
    expiries = [_expiry_gamma(rows, spot, gross_total)
                for (_,), rows in sorted(by_expiry.partition_by("expiry", as_dict=True).items())]
    front = min(exposures.filter(pl.col("dealer_position") != 0)["expiry"].to_list(), default=None)
    total = sum(e.dealer_gex for e in expiries)
    front_gex = sum(e.dealer_gex for e in expiries if e.expiry == str(front))
    after = total - front_gex
    return CalendarEffects(
        expiries=expiries, front_expiry=None if front is None else str(front),
        front_share_of_gross=sum(e.share_of_gross for e in expiries if e.expiry == str(front)),
        dealer_gex_after_front_rolloff=after, regime_changes_after_rolloff=bool(np.sign(after) != np.sign(total)))


def _expiry_gamma(rows: pl.DataFrame, spot: float, gross_total: float) -> ExpiryGamma:
    """One expiry's dealer gex, its share of the book and how concentrated its |gex| is near spot."""
    expiry = rows["expiry"][0]
    gross_by_strike = rows["call_gex"].abs() + rows["put_gex"].abs()
    gross = float(gross_by_strike.sum())
    near = (100.0 * (rows["strike"] / spot - 1.0)).abs() <= PIN_BAND_PCT
    near_gross = gross_by_strike.filter(near)
    return ExpiryGamma(
        expiry=str(expiry), weekday=expiry.strftime("%a"), dealer_gex=float(rows["net_gex"].sum()),
        gross_gex=gross, share_of_gross=gross / gross_total if gross_total > 0 else 0.0,
        pin_strike=float(rows["strike"].filter(near)[int(np.argmax(near_gross.to_numpy()))]) if near.any() else None,
        pin_concentration=float(near_gross.sum()) / gross if gross > 0 else 0.0)
