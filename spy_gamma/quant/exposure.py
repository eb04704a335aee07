"""Dealer dollar exposures (gex, dex, vex, cex ...), the gamma profile and flip, walls, max pain, hedging flows.

Units and signs follow ARCHITECTURE §4: positions in contracts (x100 shares), ``dealer_position > 0`` = dealers
long, every $ figure from the dealer's perspective. A *book* is one row per contract with
``ticker, expiry, strike, right (C/P), dealer_position, open_interest, iv, tte_years``; spot, r, q are scalars.
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


def _live(book: pl.DataFrame) -> pl.DataFrame:
    """Contracts that carry a position and a usable vol and time (the others have no Greeks to speak of)."""
    return book.filter(
        (pl.col("dealer_position") != 0) & (pl.col("iv") > 0) & (pl.col("tte_years") > 0)
        & pl.col("iv").is_finite() & pl.col("tte_years").is_finite()
    )


def _columns(book: pl.DataFrame) -> tuple[np.ndarray, ...]:
    """Share units (position x 100), strike, tte, iv and the call flag as arrays."""
    return (
        book["dealer_position"].cast(pl.Float64).to_numpy() * MULTIPLIER,
        book["strike"].cast(pl.Float64).to_numpy(),
        book["tte_years"].cast(pl.Float64).to_numpy(),
        book["iv"].cast(pl.Float64).to_numpy(),
        (book["right"] == "C").to_numpy(),
    )


def contract_exposures(book: pl.DataFrame, spot: float, r: float, q: float) -> pl.DataFrame:
    """The book plus per-share BSM Greeks and the dealer $ exposures of each contract at ``spot``.

    gex = pos*100*gamma*S^2*1%  ($ delta change per 1% move)   dex = pos*100*delta*S  ($ delta notional)
    vex = pos*100*vanna*S*1%    ($ delta change per vol point) cex = pos*100*charm*S/365 ($ delta change per day)
    vomma_ex = pos*100*vomma*1%*1%: $ change of the book's vega-per-vol-point per vol point.
    speed_ex = pos*100*speed*S*1% * S^2*1%: $ change in gex per 1% up-move from gamma's own change, the S^2
    scale held at today's spot (the gamma profile's full slope per 1% adds 2*gex*1% for that rescaling).
    """
    units, strike, tte, iv, is_call = _columns(book)
    with np.errstate(divide="ignore", invalid="ignore"):  # unusable iv/tte give NaN Greeks and zero exposure
        greeks = bsm_greeks(spot, strike, tte, r, q, iv, is_call)
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


def _gex_matrix(units, strike, tte, iv, grid: np.ndarray, r: float, q: float) -> np.ndarray:
    """Dealer gex of each contract (rows) re-priced at each grid spot (columns), own iv and time held fixed."""
    gamma = bsm_gamma(grid[None, :], strike[:, None], tte[:, None], r, q, iv[:, None])
    return units[:, None] * gamma * grid[None, :] ** 2 * ONE_PCT


def gamma_profile(book: pl.DataFrame, spot: float, r: float, q: float,
                  grid_pct: float = 0.07, step: float = 0.25) -> pl.DataFrame:
    """Total dealer gex re-priced across a spot grid: columns ``spot, total_gex`` and one ``gex_<expiry>`` each.

    Each contract keeps its own iv and time to expiry; S^2 in gex uses the grid spot. Computed as a
    (contracts x grid) matrix in chunks of PROFILE_CHUNK contracts, folded into expiries by a one-hot product.
    """
    live = _live(book)
    grid = spot_grid(spot, grid_pct, step)
    expiries = sorted(live["expiry"].unique().to_list())
    expiry_index = live["expiry"].replace_strict(expiries, list(range(len(expiries))),
                                                 return_dtype=pl.Int64).to_numpy()
    columns = _columns(live)
    per_expiry = np.zeros((len(expiries), grid.size))
    for start in range(0, live.height, PROFILE_CHUNK):
        chunk = slice(start, start + PROFILE_CHUNK)
        one_hot = np.eye(len(expiries))[expiry_index[chunk]]
        per_expiry += one_hot.T @ _gex_matrix(*(c[chunk] for c in columns[:4]), grid, r, q)
    return pl.DataFrame({
        "spot": grid,
        "total_gex": per_expiry.sum(axis=0),
        **{f"gex_{expiry}": per_expiry[i] for i, expiry in enumerate(expiries)},
    })


def total_gex_at(book: pl.DataFrame, spot: float, r: float, q: float) -> float:
    """Total dealer gex of the book re-priced at one spot (own iv and time fixed): the flip's exact function."""
    units, strike, tte, iv, _ = _columns(_live(book))
    return float(_gex_matrix(units, strike, tte, iv, np.array([spot]), r, q).sum())


def gamma_flip(book: pl.DataFrame, spot: float, r: float, q: float, profile: pl.DataFrame) -> float | None:
    """Zero-gamma level: the spot where total dealer gex crosses zero, nearest to ``spot``; None if none on the grid.

    The profile's sign changes bracket the crossings; each is refined with Brent's method on the exact
    re-priced total (not a linear interpolation between grid points).
    """
    grid, total = profile["spot"].to_numpy(), profile["total_gex"].to_numpy()
    if not np.any(total):
        return None  # an empty or gamma-free book has no flip
    sign = np.sign(total)
    crossings = list(grid[sign == 0])
    for i in np.flatnonzero(sign[:-1] * sign[1:] < 0):
        crossings.append(brentq(lambda s: total_gex_at(book, s, r, q), grid[i], grid[i + 1], xtol=1e-8))
    if not crossings:
        return None
    return float(min(crossings, key=lambda s: abs(s - spot)))


def walls(by_strike: pl.DataFrame) -> dict[str, float | None]:
    """Call wall, put wall, absolute gamma strike and gamma centroid from dealer gex by strike (all expiries summed).

    call_wall / put_wall: strike with the largest |dealer gex| from calls / from puts, reported with that gex
    (positive: dealers long gamma there and dampen moves; negative: they amplify). abs_gamma_strike: largest
    |net gex| of calls and puts together. gamma_centroid: the |net gex|-weighted mean strike, where the book's
    gamma sits on average.
    """
    strikes = by_strike.group_by("strike").agg(pl.col("call_gex", "put_gex", "net_gex").sum())
    call_wall, call_wall_gex = _largest_abs(strikes, "call_gex")
    put_wall, put_wall_gex = _largest_abs(strikes, "put_gex")
    abs_gamma_strike, abs_gamma_gex = _largest_abs(strikes, "net_gex")
    weight = strikes["net_gex"].abs()
    centroid = float((strikes["strike"] * weight).sum() / weight.sum()) if weight.sum() > 0 else None
    return {"call_wall": call_wall, "call_wall_gex": call_wall_gex, "put_wall": put_wall,
            "put_wall_gex": put_wall_gex, "abs_gamma_strike": abs_gamma_strike, "abs_gamma_gex": abs_gamma_gex,
            "gamma_centroid": centroid}


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


def _dealer_delta_shares(book: pl.DataFrame, spot: float, r: float, q: float,
                         vol_shift: float = 0.0, days: float = 0.0) -> float:
    """Option delta dealers hold, in shares, re-priced at ``spot`` with vols shifted and ``days`` of time elapsed.

    Contracts that expire within ``days`` carry their exercise delta (1 call / -1 put in the money, else 0).
    """
    units, strike, tte, iv, is_call = _columns(_live(book))
    tte_after = tte - days / DAYS_PER_YEAR
    alive = tte_after > 0
    delta = bsm_greeks(spot, strike, np.where(alive, tte_after, 1.0), r, q, iv + vol_shift, is_call)["delta"]
    exercised = np.where(is_call, spot > strike, -(spot < strike).astype(float))
    return float(units @ np.where(alive, delta, exercised))


def hedging_flows(book: pl.DataFrame, spot: float, r: float, q: float) -> pl.DataFrame:
    """Underlying dealers must trade to stay delta neutral, in shares and $ (+ = dealers buy), per scenario.

    Scenarios: spot +-0.5/1/2% (delta fully re-priced at the new spot, not the gamma approximation), +-1 vol
    point, one calendar day of decay. Hedge = -(change in the dealers' option delta); dealers long gamma
    therefore sell into rallies and buy dips.
    """
    held = _dealer_delta_shares(book, spot, r, q)
    scenarios = [(f"spot {move:+g}%", spot * (1 + move / 100), 0.0, 0.0) for move in HEDGE_SPOT_MOVES_PCT]
    scenarios += [("vol -1pt", spot, -ONE_VOL_POINT, 0.0), ("vol +1pt", spot, ONE_VOL_POINT, 0.0),
                  ("1 day decay", spot, 0.0, 1.0)]
    rows = []
    for name, spot_after, vol_shift, days in scenarios:
        hedge_shares = -(_dealer_delta_shares(book, spot_after, r, q, vol_shift, days) - held)
        rows.append({"scenario": name, "spot_after": spot_after, "vol_shift_pts": vol_shift / ONE_VOL_POINT,
                     "days": days, "hedge_shares": hedge_shares, "hedge_usd": hedge_shares * spot_after})
    return pl.DataFrame(rows)


def naive_oi_book(book: pl.DataFrame) -> pl.DataFrame:
    """The market's common shortcut: dealers long every call and short every put, position = +-open_interest."""
    sign = pl.when(pl.col("right") == "C").then(1).otherwise(-1)
    return book.with_columns((sign * pl.col("open_interest").fill_null(0)).alias("dealer_position"))


def naive_oi_gex(book: pl.DataFrame, spot: float, r: float, q: float, per_expiry: bool = False) -> pl.DataFrame:
    """Exposures by strike under the naive open-interest convention, to contrast with flow-based positions."""
    return exposures_by_strike(contract_exposures(naive_oi_book(book), spot, r, q), per_expiry)


def gex_surface(daily_books: pl.DataFrame, spots: Mapping[dt.date, float], r: float, q: float) -> pl.DataFrame:
    """Dealer net gex by (date, strike) over several days, each day's book priced at that day's spot."""
    days = []
    for (date,), book in sorted(daily_books.partition_by("date", as_dict=True).items()):
        by_strike = exposures_by_strike(contract_exposures(book, spots[date], r, q), per_expiry=False)
        days.append(by_strike.select(pl.lit(date).alias("date"), "strike", "net_gex"))
    return pl.concat(days) if days else pl.DataFrame(schema={"date": pl.Date, "strike": pl.Float64,
                                                             "net_gex": pl.Float64})
