"""Black-Scholes-Merton price and Greeks per one share, vectorized (ARCHITECTURE §4 units).

Time derivatives (theta, charm, color) are taken with respect to calendar time passing, i.e. minus the
derivative with respect to time to expiry; many published charm/color formulas use the latter.
Formulas: Haug, "The Complete Guide to Option Pricing Formulas" (2nd ed.), ch. 2, written with the sign
``w = +1`` (call) / ``-1`` (put) so each Greek needs one N(w d1) and one N(w d2): no cancellation in
``1 - N(d)`` for out-of-the-money puts, and no branch evaluated twice.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
from scipy.special import ndtr

GREEK_NAMES = ("price", "delta", "gamma", "vega", "theta", "vanna", "charm", "vomma", "speed", "zomma", "color")
_INV_SQRT_2PI = 0.3989422804014327
_CHUNK = 8192  # elements per block: a block's ~20 temporaries stay in L2 cache
_PARALLEL_MIN = 16 * _CHUNK  # below this, threads cost more than they save
_POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="greeks")  # numpy/scipy ufuncs release the GIL


def _pdf(x: np.ndarray) -> np.ndarray:
    return _INV_SQRT_2PI * np.exp(-0.5 * x * x)


def _flat_inputs(*arrays) -> tuple[tuple[np.ndarray, ...], tuple[int, ...]]:
    """Float64 inputs broadcast to one shape and raveled; size-1 inputs stay size-1 (cheap scalar broadcast)."""
    arrays = [np.asarray(x, dtype=np.float64) for x in arrays]
    shape = np.broadcast_shapes(*(x.shape for x in arrays))
    flat = tuple(x.reshape(1) if x.size == 1 else np.broadcast_to(x, shape).ravel() for x in arrays)
    return flat, shape


def _call_sign(is_call) -> np.ndarray:
    """+1.0 for calls, -1.0 for puts: the ``w`` of the unified call/put formulas."""
    return np.where(np.asarray(is_call, dtype=bool), 1.0, -1.0)


def _block(x: np.ndarray, lo: int, hi: int) -> np.ndarray:
    return x if x.size == 1 else x[lo:hi]


def _run_blocks(kernel, inputs: tuple[np.ndarray, ...], out: np.ndarray) -> None:
    """Apply ``kernel(*input_blocks, out_block)`` over cache-sized blocks, on two threads for large inputs."""
    n = out.shape[-1]
    bounds = [(lo, min(lo + _CHUNK, n)) for lo in range(0, n, _CHUNK)]

    def run(lo_hi: tuple[int, int]) -> None:
        lo, hi = lo_hi
        kernel(*(_block(x, lo, hi) for x in inputs), out[..., lo:hi])

    if n < _PARALLEL_MIN:
        for lo_hi in bounds:
            run(lo_hi)
    else:
        list(_POOL.map(run, bounds))


def _fill_greeks(S, K, T, r, q, sigma, w, out: np.ndarray) -> None:
    """Write the 11 Greeks of one block into ``out`` (rows in GREEK_NAMES order), reusing shared terms."""
    price, delta, gamma, vega, theta, vanna, charm, vomma, speed, zomma, color = out
    sqrt_t = np.sqrt(T)
    vol_t = sigma * sqrt_t
    d1 = np.log(S / K)
    d1 += (r - q + 0.5 * sigma * sigma) * T
    d1 /= vol_t
    d2 = d1 - vol_t
    df_q = np.exp(-q * T)
    fwd_s = S * df_q  # S e^{-qT}
    pv_k = K * np.exp(-r * T)
    n_d1 = _pdf(d1)
    cdf_1 = ndtr(w * d1)
    cdf_2 = ndtr(w * d2)

    np.multiply(fwd_s, cdf_1, out=price)
    price -= pv_k * cdf_2
    price *= w
    np.multiply(w * df_q, cdf_1, out=delta)
    np.multiply(df_q, n_d1, out=vanna)  # e^{-qT} n(d1): scratch for the sigma/time derivatives below
    np.divide(vanna, S * vol_t, out=gamma)
    np.multiply(fwd_s * n_d1, sqrt_t, out=vega)
    # BSM PDE: theta = r V - (r - q) S delta - sigma^2 S^2 gamma / 2
    np.multiply(r, price, out=theta)
    theta -= (r - q) * S * delta
    theta -= 0.5 * vega * sigma / T
    d1_drift = (r - q) / vol_t - d2 / (2.0 * T)  # d(d1)/d(time to expiry)
    np.multiply(q, delta, out=charm)
    charm -= vanna * d1_drift
    np.multiply(vanna, d2, out=vanna)
    vanna /= -sigma
    d1_d2 = d1 * d2
    np.multiply(vega, d1_d2, out=vomma)
    vomma /= sigma
    np.divide(d1, vol_t, out=speed)
    speed += 1.0
    speed *= gamma
    speed /= -S
    np.subtract(d1_d2, 1.0, out=zomma)
    zomma *= gamma
    zomma /= sigma
    np.multiply(d1, d1_drift, out=color)
    color += 0.5 / T + q
    color *= gamma


def bsm_greeks(S, K, T, r, q, sigma, is_call) -> dict[str, np.ndarray]:
    """Price and Greeks of European options; all inputs broadcast (T in years > 0, sigma decimal > 0, is_call bool)."""
    (S, K, T, r, q, sigma, w), shape = _flat_inputs(S, K, T, r, q, sigma, _call_sign(is_call))
    out = np.empty((len(GREEK_NAMES), int(np.prod(shape))))
    with np.errstate(divide="ignore", invalid="ignore"):
        _run_blocks(_fill_greeks, (S, K, T, r, q, sigma, w), out)
    return {name: row.reshape(shape) for name, row in zip(GREEK_NAMES, out)}


def bsm_price(S, K, T, r, q, sigma, is_call) -> np.ndarray:
    """BSM price only (the cheap path the simulator and the IV solver need)."""
    S, K, T, r, q, sigma = (np.asarray(x, dtype=np.float64) for x in (S, K, T, r, q, sigma))
    w = _call_sign(is_call)
    vol_t = sigma * np.sqrt(T)
    d1 = (np.log(S / K) + (r - q + 0.5 * sigma * sigma) * T) / vol_t
    return w * (S * np.exp(-q * T) * ndtr(w * d1) - K * np.exp(-r * T) * ndtr(w * (d1 - vol_t)))


def bsm_gamma(S, K, T, r, q, sigma) -> np.ndarray:
    """BSM gamma only, for re-pricing a book's gamma across a spot grid."""
    S, K, T, r, q, sigma = (np.asarray(x, dtype=np.float64) for x in (S, K, T, r, q, sigma))
    vol_t = sigma * np.sqrt(T)
    d1 = (np.log(S / K) + (r - q + 0.5 * sigma * sigma) * T) / vol_t
    return np.exp(-q * T) * _pdf(d1) / (S * vol_t)
