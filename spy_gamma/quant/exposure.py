"""Dealer dollar exposures (gex, dex, vex, cex ...), the gamma profile and flip, walls, max pain, hedging flows.

Units and signs follow ARCHITECTURE §4: positions in contracts (x100 shares), ``dealer_position > 0`` = dealers
long, every $ figure from the dealer's perspective. A *book* is one row per contract with
``ticker, expiry, strike, right (C/P), dealer_position, open_interest, iv, tte_years`` and optionally ``carry_q``,
the continuous carry that puts spot on the forward the contract's vol was implied against (``book.dealer_book``):
each contract is priced at its own carry where the book has one, at the scalar q otherwise, so the forward moves
with spot at that carry when a profile re-prices the book. spot, r, q are scalars.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import numpy as np
import polars as pl
from scipy.optimize import brentq

from spy_gamma.quant.contracts import MULTIPLIER
from spy_gamma.quant.greeks import bsm_gamma, bsm_greeks

ONE_PCT = 0.01
ONE_VOL_POINT = 0.01
DAYS_PER_YEAR = 365.0
PROFILE_CHUNK = 2048  # contracts per (contracts x grid) block: ~7 MB per float64 block at 450 grid points
HEDGE_SPOT_MOVES_PCT = (-2.0, -1.0, -0.5, 0.5, 1.0, 2.0)
MIN_VOL = 1e-4  # the lowest vol a shifted scenario prices at
FLIP_SEARCH_PCT = 0.25  # the flip is looked for up to +-25% from spot (beyond the +-7% profile): SPY's largest
#                         multi-day moves (2020, 2008) stay inside it, so "no flip" means none within a crash


def _live(book: pl.DataFrame) -> pl.DataFrame:
    """Contracts that carry a position and a usable vol and time (the others have no Greeks to speak of)."""
    return book.filter(
        (pl.col("dealer_position") != 0) & (pl.col("iv") > 0) & (pl.col("tte_years") > 0)
        & pl.col("iv").is_finite() & pl.col("tte_years").is_finite()
    )


def _columns(book: pl.DataFrame, q: float) -> tuple[np.ndarray, ...]:
    """Share units (position x 100), strike, tte, iv, carry (``carry_q`` where present, else q), call flag."""
    carry = (book["carry_q"].cast(pl.Float64).fill_null(q).to_numpy() if "carry_q" in book.columns
             else np.full(book.height, q, dtype=np.float64))
    return (
        book["dealer_position"].cast(pl.Float64).to_numpy() * MULTIPLIER,
        book["strike"].cast(pl.Float64).to_numpy(),
        book["tte_years"].cast(pl.Float64).to_numpy(),
        book["iv"].cast(pl.Float64).to_numpy(),
        carry,
        (book["right"] == "C").to_numpy(),
    )


def contract_exposures(book: pl.DataFrame, spot: float, r: float, q: float) -> pl.DataFrame:
    """The book plus per-share BSM Greeks and the dealer $ exposures of each contract at ``spot`` (own carry).

    gex = pos*100*gamma*S^2*1%  ($ delta change per 1% move)   dex = pos*100*delta*S  ($ delta notional)
    vex = pos*100*vanna*S*1%    ($ delta change per vol point) cex = pos*100*charm*S/365 ($ delta change per day)
    vomma_ex = pos*100*vomma*1%*1%: $ change of the book's vega-per-vol-point per vol point.
    speed_ex = pos*100*speed*S*1% * S^2*1%: $ change in gex per 1% up-move from gamma's own change, the S^2
    scale held at today's spot (the gamma profile's full slope per 1% adds 2*gex*1% for that rescaling).
    """
    units, strike, tte, iv, carry, is_call = _columns(book, q)
    with np.errstate(divide="ignore", invalid="ignore"):  # unusable iv/tte give NaN Greeks and zero exposure
        greeks = bsm_greeks(spot, strike, tte, r, carry, iv, is_call)
    return book.with_columns(
        *(pl.Series(name, greeks[name]) for name in ("delta", "gamma", "vanna", "charm", "vomma", "speed")),
        pl.Series("gex", units * greeks["gamma"] * spot**2 * ONE_PCT),
        pl.Series("dex", units * greeks["delta"] * spot),
        pl.Series("vex", units * greeks["vanna"] * spot * ONE_VOL_POINT),
        pl.Series("cex", units * greeks["charm"] * spot / DAYS_PER_YEAR),
        pl.Series("vomma_ex", units * greeks["vomma"] * ONE_VOL_POINT * ONE_VOL_POINT),
        pl.Series("speed_ex", units * greeks["speed"] * spot**3 * ONE_PCT * ONE_PCT),
    ).with_columns(pl.col(c).fill_nan(0.0) for c in ("gex", "dex", "vex", "cex", "vomma_ex", "speed_ex"))


def exposures_by_strike(exposures: pl.DataFrame, per_expiry: bool = True) -> pl.DataFrame:
    """Dealer exposures summed by (expiry, strike), the ARCHITECTURE §5 ``exposures_by_strike`` table.

    Columns: expiry, strike, call_gex, put_gex, net_gex, dex, vex, cex, iv_call, iv_put, call_position,
    put_position, vomma_ex, speed_ex. With ``per_expiry=False`` every expiry is summed into one row per strike
    (expiry null) and iv_call/iv_put are the plain mean across expiries listing that strike (indicative only).
    """
    call, put = pl.col("right") == "C", pl.col("right") == "P"
    keys = ["expiry", "strike"] if per_expiry else ["strike"]
    by_strike = exposures.group_by(keys).agg(
        pl.col("gex").filter(call).sum().alias("call_gex"),
        pl.col("gex").filter(put).sum().alias("put_gex"),
        pl.col("gex").sum().alias("net_gex"),
        *(pl.col(c).sum() for c in ("dex", "vex", "cex")),
        pl.col("iv").filter(call).mean().alias("iv_call"),
        pl.col("iv").filter(put).mean().alias("iv_put"),
        pl.col("dealer_position").filter(call).sum().alias("call_position"),
        pl.col("dealer_position").filter(put).sum().alias("put_position"),
        *(pl.col(c).sum() for c in ("vomma_ex", "speed_ex")),
    )
    if not per_expiry:
        by_strike = by_strike.with_columns(pl.lit(None, dtype=exposures.schema["expiry"]).alias("expiry"))
    return by_strike.select("expiry", pl.exclude("expiry")).sort("expiry", "strike", nulls_last=True)


def spot_grid(spot: float, grid_pct: float = 0.07, step: float = 0.25) -> np.ndarray:
    """Spot levels on multiples of ``step`` covering spot*(1 +- grid_pct)."""
    low = np.ceil(spot * (1.0 - grid_pct) / step) * step
    high = np.floor(spot * (1.0 + grid_pct) / step) * step
    return np.round(np.arange(low, high + step / 2, step), 10)


def _gex_matrix(units, strike, tte, iv, carry, grid: np.ndarray, r: float) -> np.ndarray:
    """Dealer gex of each contract (rows) re-priced at each grid spot (columns), own iv, carry and time held fixed."""
    gamma = bsm_gamma(grid[None, :], strike[:, None], tte[:, None], r, carry[:, None], iv[:, None])
    return units[:, None] * gamma * grid[None, :] ** 2 * ONE_PCT


def unit_gex_matrix(book: pl.DataFrame, spots: np.ndarray, r: float, q: float) -> np.ndarray:
    """(contracts x spots) dealer gex of a position of one contract in each row of ``book``, re-priced at each
    spot (own iv, carry and time held fixed); 0 where a row has no usable vol or time."""
    one = book.with_columns(pl.lit(1).alias("dealer_position"))
    _, strike, tte, iv, carry, _ = _columns(one, q)
    with np.errstate(divide="ignore", invalid="ignore"):
        matrix = _gex_matrix(np.full(one.height, float(MULTIPLIER)), strike, tte, iv, carry, np.asarray(spots), r)
    return np.where(_usable(tte, iv)[:, None] & np.isfinite(matrix), matrix, 0.0)


def _usable(tte: np.ndarray, iv: np.ndarray) -> np.ndarray:
    """Rows with a usable vol and time to expiry (the others have no Greeks to speak of)."""
    return (iv > 0) & (tte > 0) & np.isfinite(iv) & np.isfinite(tte)


def _gex_by_expiry(live: pl.DataFrame, grid: np.ndarray, r: float, q: float) -> tuple[list, np.ndarray]:
    """(sorted expiries, their dealer gex at each grid spot): (contracts x grid) blocks of PROFILE_CHUNK contracts
    folded into expiries by a one-hot product."""
    expiries = sorted(live["expiry"].unique().to_list())
    expiry_index = live["expiry"].replace_strict(expiries, list(range(len(expiries))),
                                                 return_dtype=pl.Int64).to_numpy()
    columns = _columns(live, q)
    per_expiry = np.zeros((len(expiries), grid.size))
    for start in range(0, live.height, PROFILE_CHUNK):
        chunk = slice(start, start + PROFILE_CHUNK)
        one_hot = np.eye(len(expiries))[expiry_index[chunk]]
        per_expiry += one_hot.T @ _gex_matrix(*(c[chunk] for c in columns[:5]), grid, r)
    return expiries, per_expiry


def gamma_profile(book: pl.DataFrame, spot: float, r: float, q: float,
                  grid_pct: float = 0.07, step: float = 0.25) -> pl.DataFrame:
    """Total dealer gex re-priced across a spot grid: columns ``spot, total_gex`` and one ``gex_<expiry>`` each.

    Each contract keeps its own iv, carry and time to expiry (its forward moves with the grid spot); S^2 in gex
    uses the grid spot.
    """
    grid = spot_grid(spot, grid_pct, step)
    expiries, per_expiry = _gex_by_expiry(_live(book), grid, r, q)
    return pl.DataFrame({
        "spot": grid,
        "total_gex": per_expiry.sum(axis=0),
        **{f"gex_{expiry}": per_expiry[i] for i, expiry in enumerate(expiries)},
    })


def total_gex_at(book: pl.DataFrame, spot: float, r: float, q: float) -> float:
    """Total dealer gex of the book re-priced at one spot (own iv, carry and time fixed): the flip's exact function."""
    units, strike, tte, iv, carry, _ = _columns(_live(book), q)
    return float(_gex_matrix(units, strike, tte, iv, carry, np.array([spot]), r).sum())


def gamma_flip(book: pl.DataFrame, spot: float, r: float, q: float, profile: pl.DataFrame,
               search_pct: float = FLIP_SEARCH_PCT) -> float | None:
    """Zero-gamma level: the spot where total dealer gex crosses zero, nearest to ``spot``.

    Looked for on the profile's grid first, then (when it holds no crossing) on a grid of the same step out to
    spot*(1 +- search_pct); None means no crossing within that range (``flip_search_range``). Sign changes
    bracket the crossings; each is refined with Brent's method on the exact re-priced total.
    """
    grid, total = profile["spot"].to_numpy(), profile["total_gex"].to_numpy()
    if not np.any(total):
        return None  # an empty or gamma-free book has no flip
    crossing = _nearest_crossing(book, spot, r, q, grid, total)
    if crossing is None and grid.size > 1:
        wide = spot_grid(spot, search_pct, float(grid[1] - grid[0]))
        crossing = _nearest_crossing(book, spot, r, q, wide, _gex_by_expiry(_live(book), wide, r, q)[1].sum(axis=0))
    return crossing


def flip_search_range(spot: float, search_pct: float = FLIP_SEARCH_PCT) -> tuple[float, float]:
    """(low, high) spot range :func:`gamma_flip` searches: a None flip means no crossing inside it."""
    return spot * (1.0 - search_pct), spot * (1.0 + search_pct)


def _nearest_crossing(book: pl.DataFrame, spot: float, r: float, q: float, grid: np.ndarray,
                      total: np.ndarray) -> float | None:
    """The zero of total gex nearest ``spot`` among the grid's sign changes (Brent-refined), or None."""
    sign = np.sign(total)
    crossings = list(grid[sign == 0])
    for i in np.flatnonzero(sign[:-1] * sign[1:] < 0):
        crossings.append(brentq(lambda s: total_gex_at(book, s, r, q), grid[i], grid[i + 1], xtol=1e-8))
    return float(min(crossings, key=lambda s: abs(s - spot))) if crossings else None


def walls(by_strike: pl.DataFrame) -> dict[str, float | None]:
    """Call wall, put wall, absolute gamma strikes and gamma centroid from dealer gex by strike (all expiries).

    call_wall / put_wall: strike with the largest |dealer gex| from calls / from puts, reported with that gex
    (positive: dealers long gamma there and dampen moves; negative: they amplify). abs_gamma_strike: largest
    |net gex| of calls and puts together (ARCHITECTURE §4). abs_gamma_strike_gross: largest gross gamma
    |call gex| + |put gex|, the way practitioners read "absolute gamma" (where the most gamma sits, whoever is
    long it), reported with that gross (``abs_gamma_gross_gex``, >= 0). gamma_centroid: the |net gex|-weighted
    mean strike, where the book's gamma sits on average.
    """
    strikes = by_strike.group_by("strike").agg(pl.col("call_gex", "put_gex", "net_gex").sum()).with_columns(
        (pl.col("call_gex").abs() + pl.col("put_gex").abs()).alias("gross_gex"))
    call_wall, call_wall_gex = _largest_abs(strikes, "call_gex")
    put_wall, put_wall_gex = _largest_abs(strikes, "put_gex")
    abs_gamma_strike, abs_gamma_gex = _largest_abs(strikes, "net_gex")
    gross_strike, gross_gex = _largest_abs(strikes, "gross_gex")
    weight = strikes["net_gex"].abs()
    centroid = float((strikes["strike"] * weight).sum() / weight.sum()) if weight.sum() > 0 else None
    return {"call_wall": call_wall, "call_wall_gex": call_wall_gex, "put_wall": put_wall,
            "put_wall_gex": put_wall_gex, "abs_gamma_strike": abs_gamma_strike, "abs_gamma_gex": abs_gamma_gex,
            "abs_gamma_strike_gross": gross_strike, "abs_gamma_gross_gex": gross_gex, "gamma_centroid": centroid}


def _largest_abs(strikes: pl.DataFrame, column: str) -> tuple[float | None, float | None]:
    """(strike, signed value) of the row with the largest |column|; Nones when everything is zero."""
    values = strikes[column].to_numpy()
    if values.size == 0 or not np.any(values):
        return None, None
    i = int(np.argmax(np.abs(values)))
    return float(strikes["strike"][i]), float(values[i])


def max_pain(oi_frame: pl.DataFrame) -> dict[dt.date, float]:
    """Per expiry, the listed strike that as settlement price minimizes the total intrinsic value owed.

    Pain(P) = sum over contracts of weight * 100 * max(+-(P - K), 0), evaluated at every listed strike of the
    expiry; weight = open_interest, falling back to |dealer_position| (flow-based) where open interest is null.
    Ties go to the lowest strike; expiries with nothing open are left out.
    """
    weight = pl.col("open_interest").cast(pl.Float64)
    if "dealer_position" in oi_frame.columns:
        weight = weight.fill_null(pl.col("dealer_position").abs().cast(pl.Float64))
    frame = oi_frame.with_columns(weight.fill_null(0.0).alias("pain_weight")).filter(
        pl.col("pain_weight").sum().over("expiry") > 0)
    return {expiry: _settlement_of_least_pain(contracts)
            for (expiry,), contracts in sorted(frame.partition_by("expiry", as_dict=True).items())}


def _settlement_of_least_pain(contracts: pl.DataFrame) -> float:
    """Listed strike minimizing the intrinsic value owed on one expiry's contracts."""
    strike = contracts["strike"].to_numpy()
    sign = np.where(contracts["right"].to_numpy() == "C", 1.0, -1.0)
    settlements = np.unique(strike)
    intrinsic = np.maximum(sign[None, :] * (settlements[:, None] - strike[None, :]), 0.0)
    pain = intrinsic @ (contracts["pain_weight"].to_numpy() * MULTIPLIER)
    return float(settlements[np.argmin(pain)])


def hedge_scenarios(spot: float) -> list[tuple[str, float, float, float]]:
    """``(scenario, spot_after, vol_shift, days)``: spot +-0.5/1/2%, +-1 vol point, one calendar day of decay."""
    moves = [(f"spot {move:+g}%", spot * (1 + move / 100), 0.0, 0.0) for move in HEDGE_SPOT_MOVES_PCT]
    return moves + [("vol -1pt", spot, -ONE_VOL_POINT, 0.0), ("vol +1pt", spot, ONE_VOL_POINT, 0.0),
                    ("1 day decay", spot, 0.0, 1.0)]


def unit_hedge_matrix(book: pl.DataFrame, spot: float, r: float, q: float) -> np.ndarray:
    """(contracts x hedge_scenarios) shares a dealer long one contract of each row trades to stay delta neutral
    after each scenario: -(its delta after - now), fully re-priced; 0 where a row has no usable vol or time."""
    columns = _columns(book.with_columns(pl.lit(1).alias("dealer_position")), q)
    now = _unit_deltas(columns, spot, r)
    return np.column_stack([-(_unit_deltas(columns, after, r, vol_shift, days) - now)
                            for _, after, vol_shift, days in hedge_scenarios(spot)])


def _unit_deltas(columns: tuple[np.ndarray, ...], spot: float, r: float, vol_shift: float = 0.0,
                 days: float = 0.0) -> np.ndarray:
    """Delta in shares of one contract per row (``columns`` of :func:`_columns` for one contract), re-priced at
    ``spot`` with vols shifted and ``days`` elapsed; contracts that expire within ``days`` carry their exercise delta
    (1 call / -1 put in the money, else 0)."""
    units, strike, tte, iv, carry, is_call = columns
    usable = _usable(tte, iv)
    tte_after = tte - days / DAYS_PER_YEAR
    alive = tte_after > 0
    # unusable rows are priced at any valid vol and time and then dropped; a vol shifted to 0 or below stays above it
    sigma = np.maximum(np.where(usable, iv, 1.0) + vol_shift, MIN_VOL)
    with np.errstate(divide="ignore", invalid="ignore"):
        delta = bsm_greeks(spot, strike, np.where(alive & usable, tte_after, 1.0), r, carry, sigma, is_call)["delta"]
    exercised = np.where(is_call, spot > strike, -(spot < strike).astype(float))
    return np.where(usable, units * np.where(alive, delta, exercised), 0.0)


def hedging_flows(book: pl.DataFrame, spot: float, r: float, q: float) -> pl.DataFrame:
    """Underlying dealers trade to stay delta neutral per :func:`hedge_scenarios`, in shares and $ (+ = dealers buy):
    -(change in their option delta), fully re-priced, so dealers long gamma sell into rallies and buy dips."""
    _, _, tte, iv, _, _ = _columns(book, q)
    positions = np.where(_usable(tte, iv), book["dealer_position"].cast(pl.Float64).fill_null(0.0).to_numpy(), 0.0)
    shares = positions @ unit_hedge_matrix(book, spot, r, q)
    return pl.DataFrame([{"scenario": name, "spot_after": after, "vol_shift_pts": vol_shift / ONE_VOL_POINT,
                          "days": days, "hedge_shares": float(hedge), "hedge_usd": float(hedge) * after}
                         for (name, after, vol_shift, days), hedge in zip(hedge_scenarios(spot), shares)])


def naive_oi_book(book: pl.DataFrame) -> pl.DataFrame:
    """The market's common shortcut: dealers long every call and short every put, position = +-open_interest."""
    sign = pl.when(pl.col("right") == "C").then(1).otherwise(-1)
    return book.with_columns((sign * pl.col("open_interest").fill_null(0)).alias("dealer_position"))


def naive_oi_gex(book: pl.DataFrame, spot: float, r: float, q: float, per_expiry: bool = False) -> pl.DataFrame:
    """Exposures by strike under the naive open-interest convention, to contrast with flow-based positions."""
    return exposures_by_strike(contract_exposures(naive_oi_book(book), spot, r, q), per_expiry)


def gex_surface(daily_books: pl.DataFrame, spots: Mapping[dt.date, float], r: float, q: float) -> pl.DataFrame:
    """Dealer net gex by (date, strike) over several days, each day's book priced at that day's spot and carry.

    Contracts expiring on or before a date have settled at that close and are left out of that day.
    """
    days = []
    for (date,), book in sorted(daily_books.partition_by("date", as_dict=True).items()):
        book = book.filter(pl.col("expiry") > date)
        by_strike = exposures_by_strike(contract_exposures(book, spots[date], r, q), per_expiry=False)
        days.append(by_strike.select(pl.lit(date).alias("date"), "strike", "net_gex"))
    return pl.concat(days) if days else pl.DataFrame(schema={"date": pl.Date, "strike": pl.Float64,
                                                             "net_gex": pl.Float64})
