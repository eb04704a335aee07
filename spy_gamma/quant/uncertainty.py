"""How sure we are: draws of the dealer book from the signing model, propagated to every headline figure.

Each draw takes a contract's start inventory from its uniform prior (the open-interest-feasible interval) and its
window flow from a normal with the signing model's posterior mean and variance; blocks (prints that dominate a
contract) are read right or wrong whole; the votes the data could not calibrate get one reliability per draw,
common to the whole book (size-matched touch prints: either side; other face-value strata: the quote's side by an
unknown amount); the flow is scaled by a factor common to the whole book (the unknown scale of directional flow);
each right's customers get one book lean per draw, which moves the flow the votes leave unsigned and the misread
share of the flow read at face value (the tape cannot tell the lean's direction); a share of each contract's
reference votes, drawn from Uniform(0, 1), is its customers' own net, de-attenuated by 1 / (2a - 1) the votes' way;
and the sum is kept inside the open interest at the close. Exposures are linear in positions, so a draw's GEX,
profile, walls and flip are matrix products of the draws with per-contract unit exposures: a thousand draws of a
thousand contracts take a tenth of a second.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from spy_gamma.quant.exposure import hedge_scenarios, unit_gex_matrix, unit_hedge_matrix
from spy_gamma.quant.signing import ACCURACY_PRIOR, BLOCK_FLOWS, FACE_VALUE_FLOWS, LEAN_COLUMNS

N_DRAWS = 1000  # the band's edges are tail percentiles: their sd over seeds is 2.4% of the width here, 5% at 200
BAND = (5, 50, 95)  # the percentiles every band reports
FLOW_SCALE_SPAN = 2.0  # stated prior: directional flow may be up to 2x larger or smaller than read at face value
# stated priors of the reliability (2a - 1) of votes the data could not calibrate, one draw per book
SIZE_MATCH_RELIABILITY = (-1.0, 1.0)  # a resting limit filled at the touch prints there: the vote may reverse
UNSURE_RELIABILITY = (0.0, 1.0)  # stale quote, inside, multi-leg, auction: the quote's side, by an unknown amount
NUMERIC_DRAW_COLUMNS = ["start_inventory", "start_inventory_sd", "window_flow", "window_flow_sd", *FACE_VALUE_FLOWS,
                        *LEAN_COLUMNS, "direction_sd"]
DRAW_COLUMNS = [*NUMERIC_DRAW_COLUMNS, "direction_key", BLOCK_FLOWS]


@dataclass(frozen=True)
class Bands:
    """p05 / p50 / p95 of the headline figures over the draws, and the probability dealers are long gamma."""

    total_gex: dict[str, float]
    prob_dealers_long_gamma: float
    gamma_flip: dict[str, float | None]
    flip_found_share: float
    no_flip_long_share: float  # draws without a flip whose dealers are long gamma over the whole searched range
    call_wall: dict[str, float | None]
    put_wall: dict[str, float | None]
    profile: pl.DataFrame  # spot, total_gex_p05, total_gex_p50, total_gex_p95


def position_draws(book: pl.DataFrame, n_draws: int = N_DRAWS, seed: int = 0) -> np.ndarray:
    """(draws x contracts) dealer positions for the book's rows (``DRAW_COLUMNS``, ``open_interest``; an absent or
    null numeric column counts as 0), each within +-open interest where it is known.

    A draw takes one accuracy a of face-value votes (ACCURACY_PRIOR), reads each block (``block_flows``) right or
    wrong whole with it, gives the uncalibrated votes' flows (``size_match_flow``, ``unsure_flow``, read at face
    value in the point estimate) one reliability each from their stated priors, draws the flow's normal part with
    the share that comes from a direction unit's book direction (``direction_sd``) common to the unit's contracts,
    and scales every contract's window flow by one common factor, log-uniform within FLOW_SCALE_SPAN either way:
    the signing model reads reliabilities relative to at-the-touch votes taken at face value, so the scale of
    directional flow is what the data cannot fix (docs/METHODOLOGY.md, "what the method cannot know"). Then it adds
    each right's book lean (:func:`_book_lean`): the votes' lean read through the same draw's reliability 2a - 1
    (votes right with probability a show only 2a - 1 of their customers' lean), at most one-way, and the flow the
    misread votes hide (:func:`_hidden_by_misreads`).
    """
    rng = np.random.default_rng(seed)
    n = book.height
    column = {name: book[name].cast(pl.Float64).fill_null(0.0).to_numpy() if name in book.columns else np.zeros(n)
              for name in NUMERIC_DRAW_COLUMNS}
    flow, flow_sd, direction_sd = column["window_flow"], column["window_flow_sd"], column["direction_sd"]
    reference_votes, face_value = column["reference_votes"], column["face_value_volume"]
    lean_scale = _lean_scale(book, reference_votes, column["reference_volume"])
    half_width = np.sqrt(3.0) * column["start_inventory_sd"]  # a uniform with this sd
    scale = np.exp(rng.uniform(-1.0, 1.0, (n_draws, 1)) * np.log(FLOW_SCALE_SPAN))
    size_match_r = rng.uniform(*SIZE_MATCH_RELIABILITY, (n_draws, 1))
    unsure_r = rng.uniform(*UNSURE_RELIABILITY, (n_draws, 1))
    accuracy = rng.uniform(*ACCURACY_PRIOR, (n_draws, 1))
    calibrated = (flow + (size_match_r - 1.0) * column["size_match_flow"] + (unsure_r - 1.0) * column["unsure_flow"]
                  + _misread_blocks(book, accuracy, rng))
    reliability = 2.0 * accuracy - 1.0
    customers_lean = np.minimum(1.0, lean_scale / _off_zero(reliability))
    lean = _book_lean(book, rng.uniform(-1.0, 1.0, (n_draws, 2)),
                      customers_lean * (column["unsigned_volume"] + (1.0 - reliability) * face_value))
    hidden = _hidden_by_misreads(reference_votes, face_value, reliability, rng.uniform(0.0, 1.0, (n_draws, 1)))
    own_sd = np.sqrt(np.maximum(flow_sd ** 2 - direction_sd ** 2, 0.0))
    draws = (column["start_inventory"] + half_width * rng.uniform(-1.0, 1.0, (n_draws, n)) + lean
             + scale * (calibrated + hidden + own_sd * rng.standard_normal((n_draws, n))
                        + direction_sd * _shared_normals(book, n_draws, rng)))
    bound = book["open_interest"].cast(pl.Float64).fill_null(np.inf).to_numpy()
    return np.clip(draws, -bound, bound)


def _hidden_by_misreads(reference_votes: np.ndarray, face_value: np.ndarray, reliability: np.ndarray,
                        own_share: np.ndarray) -> np.ndarray:
    """(draws x contracts) the dealer flow the misread votes hide: votes right with probability a show only 2a - 1
    of their customers' net, so a net that is the customers' own lean was (1 - rel) / rel larger, the votes' way.
    ``own_share`` (draws x 1, Uniform(0, 1)) is the share of the votes' net that is the customers' lean rather than
    where resting orders sit or stale quotes drift, which the tape cannot tell; at most the face-value volume."""
    with np.errstate(over="ignore"):  # votes near a coin hide without bound: the clip holds it at the face value
        hidden = -(1.0 - reliability) / _off_zero(reliability) * reference_votes
    return own_share * np.clip(hidden, -face_value, face_value)


def _off_zero(reliability: np.ndarray) -> np.ndarray:
    """A draw's reliability 2a - 1 kept above 0 to divide by (a coin's votes show none of the customers' lean)."""
    return np.maximum(reliability, np.finfo(float).tiny)


def _shared_normals(book: pl.DataFrame, n_draws: int, rng: np.random.Generator) -> np.ndarray:
    """(draws x contracts) standard normals, one per draw and direction unit (``direction_key``; a contract
    without one is its own): contracts whose prints share a book direction move together with it."""
    keys = (book["direction_key"].fill_null(book["ticker"]) if "direction_key" in book.columns
            else pl.Series(range(book.height)).cast(pl.String))
    units = (keys.rank("dense") - 1).to_numpy().astype(np.int64)
    return rng.standard_normal((n_draws, int(units.max()) + 1 if units.size else 0))[:, units]


def _lean_scale(book: pl.DataFrame, reference_votes: np.ndarray, reference_volume: np.ndarray) -> np.ndarray:
    """Per contract, the reference votes' book lean in its right, |sum(g votes)| / sum(g volume), each contract
    weighted by its |gamma| (1 without a ``gamma`` column): the headline figures weigh the lean where gamma sits,
    and a right's customers may lean one way near the money and the other in the wings, which volume weights
    would average away."""
    weight = book["gamma"].cast(pl.Float64).fill_null(0.0).abs().to_numpy() if "gamma" in book.columns else 1.0
    puts = _puts(book)
    scale = np.zeros(book.height)
    for right in (puts, ~puts):
        volume = float((weight * reference_volume)[right].sum())
        scale[right] = abs(float((weight * reference_votes)[right].sum())) / volume if volume > 0 else 0.0
    return scale


def _puts(book: pl.DataFrame) -> np.ndarray:
    return (book["right"] == "P").to_numpy() if "right" in book.columns else np.zeros(book.height, dtype=bool)


def _book_lean(book: pl.DataFrame, lean: np.ndarray, volume: np.ndarray) -> np.ndarray:
    """(draws x contracts) flow changes from a book lean of each right's customers: ``lean`` (draws x 2: calls,
    puts, in [-1, 1]) times ``volume`` (draws x contracts: the customers' lean, min(1, the right's votes' lean
    (:func:`_lean_scale`) / (2a - 1)), x the unsigned volume plus twice the misread share 1 - a of the face-value
    volume, a misread print's error being twice its size).

    Customers' executions share their book: prints the quotes cannot sign, and resting limits misread at the
    touch, lean with the same customers' book, across contracts, which per-print errors treat as independent. The
    tape cannot tell the lean's direction (the votes' own book-wide mean also holds where resting orders sit and
    how stale quotes drift), so it is drawn either way, as large as the customers' lean that the votes'
    gamma-weighted book lean in that right implies.
    """
    return np.where(_puts(book)[None, :], lean[:, 1:2], lean[:, 0:1]) * volume


def _misread_blocks(book: pl.DataFrame, accuracy: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(draws x contracts) flow changes from blocks read the wrong way round: each block is misread with
    probability 1 - a, a the draw's accuracy of face-value votes (``accuracy``, draws x 1), and then adds minus
    twice its flow."""
    n_draws = accuracy.shape[0]
    if BLOCK_FLOWS not in book.columns:
        return np.zeros((n_draws, book.height))
    blocks = book.select(pl.int_range(pl.len()).alias("row"), BLOCK_FLOWS).explode(BLOCK_FLOWS).drop_nulls()
    rows, flows = blocks["row"].to_numpy(), blocks[BLOCK_FLOWS].cast(pl.Float64).to_numpy()
    misread = rng.random((n_draws, rows.size)) >= accuracy
    changes = np.zeros((n_draws, book.height))
    np.add.at(changes.T, rows, (-2.0 * flows * misread).T)
    return changes


def percentiles(values: np.ndarray) -> dict[str, float | None]:
    """``{p05, p50, p95}`` of the finite values (None when there are none)."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return dict.fromkeys((f"p{p:02d}" for p in BAND), None)
    return {f"p{p:02d}": float(v) for p, v in zip(BAND, np.percentile(finite, BAND))}


def exposure_bands(book: pl.DataFrame, draws: np.ndarray, spot: float, r: float, q: float,
                   grid: np.ndarray) -> Bands:
    """Bands of total GEX at spot, the gamma profile over ``grid``, the flip and the walls over the draws.

    ``book`` rows align with the draws' columns (``strike, right, iv, tte_years`` and optionally ``carry_q``).
    A draw's flip is the zero of its profile nearest to spot, linear between grid points.
    """
    unit = unit_gex_matrix(book, np.r_[spot, grid], r, q)  # contracts x (1 + grid): gex of one contract
    at_spot, on_grid = unit[:, 0], unit[:, 1:]
    total = draws @ at_spot
    profiles = draws @ on_grid
    flips = np.array([_nearest_zero(grid, profile, spot) for profile in profiles])
    return Bands(
        total_gex=percentiles(total), prob_dealers_long_gamma=float((total > 0).mean()),
        gamma_flip=percentiles(flips), flip_found_share=float(np.isfinite(flips).mean()),
        no_flip_long_share=float((~np.isfinite(flips) & (total > 0)).mean()),
        call_wall=_wall_band(book, draws * at_spot, "C"), put_wall=_wall_band(book, draws * at_spot, "P"),
        profile=pl.DataFrame({"spot": grid, **{f"total_gex_p{p:02d}": np.percentile(profiles, p, axis=0)
                                               for p in BAND}}))


def hedge_bands(book: pl.DataFrame, draws: np.ndarray, spot: float, r: float, q: float) -> pl.DataFrame:
    """``scenario, hedge_usd_p05, hedge_usd_p50, hedge_usd_p95``: the $ of the underlying dealers trade after each
    hedge scenario (exposure.hedge_scenarios) over the draws, whose columns align with ``book``'s rows."""
    hedges = (draws @ unit_hedge_matrix(book, spot, r, q)).T
    rows = [{"scenario": name, **{f"hedge_usd_{key}": value for key, value in percentiles(hedge * after).items()}}
            for (name, after, _, _), hedge in zip(hedge_scenarios(spot), hedges)]
    return pl.DataFrame(rows, schema={"scenario": pl.String, **{f"hedge_usd_p{p:02d}": pl.Float64 for p in BAND}})


def regime_label(point_label: str, total_gex_band: dict[str, float | None]) -> str:
    """The regime as read from the point estimate, unless the 90% band of GEX at spot contains zero."""
    low, high = total_gex_band["p05"], total_gex_band["p95"]
    if low is not None and high is not None and low < 0 < high:
        return "uncertain (the 90% band of dealer GEX at spot contains zero)"
    return point_label


def _nearest_zero(grid: np.ndarray, profile: np.ndarray, spot: float) -> float:
    """The profile's zero crossing nearest to spot (linear between grid points), NaN when it has none."""
    sign = np.sign(profile)
    crossings = list(grid[sign == 0])
    for i in np.flatnonzero(sign[:-1] * sign[1:] < 0):
        crossings.append(grid[i] - profile[i] * (grid[i + 1] - grid[i]) / (profile[i + 1] - profile[i]))
    return float(min(crossings, key=lambda s: abs(s - spot))) if crossings else np.nan


def _wall_band(book: pl.DataFrame, gex: np.ndarray, right: str) -> dict[str, float | None]:
    """Percentiles of a draw's wall strike (largest |gex| by strike of one right), and the modal wall's share."""
    rows = (book["right"] == right).to_numpy()
    if not rows.any():
        return {**percentiles(np.array([])), "modal": None, "modal_share": 0.0}
    strikes, index = np.unique(book["strike"].to_numpy()[rows], return_inverse=True)
    by_strike = np.zeros((gex.shape[0], strikes.size))
    np.add.at(by_strike.T, index, gex[:, rows].T)
    walls = strikes[np.argmax(np.abs(by_strike), axis=1)]
    values, counts = np.unique(walls, return_counts=True)
    return {**percentiles(walls), "modal": float(values[np.argmax(counts)]),
            "modal_share": float(counts.max() / walls.size)}

