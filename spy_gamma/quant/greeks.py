"""Black-Scholes-Merton price and Greeks per one share, vectorized (ARCHITECTURE §4 units).

Time derivatives (theta, charm, color) are taken with respect to calendar time passing, i.e. minus the
derivative with respect to time to expiry; many published charm/color formulas use the latter.
Formulas: Haug, "The Complete Guide to Option Pricing Formulas" (2nd ed.), ch. 2, written with the sign
``w = +1`` (call) / ``-1`` (put) so each Greek needs one N(w d1) and one N(w d2): no cancellation in
``1 - N(d)`` for out-of-the-money puts, and no branch evaluated twice.

Speed: large inputs run in cache-sized blocks (``map_blocks``, shared with the IV solver), in place, on two
threads. ``bsm_price`` uses Jäckel's normalized out-of-the-money form instead, for full relative precision in
the wings and at 0DTE (``normalized_otm_black``, also the IV solver's objective).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
from scipy.special import erfcx, ndtr

GREEK_NAMES = ("price", "delta", "gamma", "vega", "theta", "vanna", "charm", "vomma", "speed", "zomma", "color")
_INV_SQRT_2PI = 0.3989422804014327
_SQRT_HALF_PI = 1.2533141373155003
_SMALL_HALF_VOL = 0.1  # below this t = s/2 the OTM price comes from a Taylor series in t (no cancellation)
_GREEKS_CHUNK = 8192  # elements per block: a block's ~20 temporaries stay in L2 cache
_POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="greeks")  # numpy/scipy ufuncs release the GIL


def _pdf(x: np.ndarray) -> np.ndarray:
    """Standard normal density."""
    return _INV_SQRT_2PI * np.exp(-0.5 * x * x)


def flat_inputs(*arrays) -> tuple[tuple[np.ndarray, ...], tuple[int, ...]]:
    """Float64 inputs broadcast to one shape and raveled; size-1 inputs stay size-1 (cheap scalar broadcast)."""
    arrays = [np.asarray(x, dtype=np.float64) for x in arrays]
    shape = np.broadcast_shapes(*(x.shape for x in arrays))
    flat = tuple(x.reshape(1) if x.size == 1 else np.broadcast_to(x, shape).ravel() for x in arrays)
    return flat, shape


def call_sign(is_call) -> np.ndarray:
    """+1.0 for calls, -1.0 for puts: the ``w`` of the unified call/put formulas."""
    return np.where(np.asarray(is_call, dtype=bool), 1.0, -1.0)


def _block(x: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """Slice ``[lo:hi]`` of a raveled input; size-1 inputs broadcast as they are."""
    return x if x.size == 1 else x[lo:hi]


def map_blocks(kernel, inputs: tuple[np.ndarray, ...], out: np.ndarray, chunk: int) -> None:
    """Apply ``kernel(*input_blocks, out_block)`` over blocks of ``chunk`` elements, on two threads from 4 blocks.

    Float warnings are silenced in every thread (numpy's errstate is per thread): invalid inputs come out NaN.
    """
    n = out.shape[-1]
    bounds = [(lo, min(lo + chunk, n)) for lo in range(0, n, chunk)]

    def run(lo_hi: tuple[int, int]) -> None:
        lo, hi = lo_hi
        with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
            kernel(*(_block(x, lo, hi) for x in inputs), out[..., lo:hi])

    if len(bounds) < 4:
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
    # charm = q delta - e^{-qT} n(d1) d(d1)/dT;  vanna = -e^{-qT} n(d1) d2 / sigma;  vomma = vega d1 d2 / sigma
    np.multiply(q, delta, out=charm)
    charm -= vanna * d1_drift
    np.multiply(vanna, d2, out=vanna)
    vanna /= -sigma
    d1_d2 = d1 * d2
    np.multiply(vega, d1_d2, out=vomma)
    vomma /= sigma
    # speed = -gamma (1 + d1 / (sigma sqrt T)) / S;  zomma = gamma (d1 d2 - 1) / sigma;
    # color = -d gamma / dT = gamma (q + 1 / (2T) + d1 d(d1)/dT)
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
    (S, K, T, r, q, sigma, w), shape = flat_inputs(S, K, T, r, q, sigma, call_sign(is_call))
    out = np.empty((len(GREEK_NAMES), int(np.prod(shape))))
    map_blocks(_fill_greeks, (S, K, T, r, q, sigma, w), out, _GREEKS_CHUNK)
    return {name: row.reshape(shape) for name, row in zip(GREEK_NAMES, out)}


def _mills_difference(h: np.ndarray, t: np.ndarray) -> np.ndarray:
    """M(h+t) - M(h-t) for the Mills ratio M = N/n, by its odd Taylor terms in t (exact to ~1e-16 for t < 0.1).

    Derivatives from M' = 1 + h M, hence M^(k+1) = h M^(k) + k M^(k-1); after Jäckel (2015).
    """
    previous = _SQRT_HALF_PI * erfcx(h * -np.sqrt(0.5))  # M
    current = h * previous
    current += 1.0  # M'
    odd_derivatives = [current]  # M', M^(3), M^(5), M^(7), M^(9)
    for k in range(1, 9):
        following = h * current
        following += k * previous
        previous, current = current, following
        if k % 2 == 0:
            odd_derivatives.append(current)
    # Horner in t^2: M' + t^2/3! (M^(3) + t^2/(4*5) (M^(5) + t^2/(6*7) (M^(7) + t^2/(8*9) M^(9))))
    first, third, fifth, seventh, ninth = odd_derivatives
    t2 = t * t
    total = ninth / 72.0
    for derivative, ratio in ((seventh, 1 / 42.0), (fifth, 1 / 20.0), (third, 1 / 6.0)):
        total *= t2
        total += derivative
        total *= ratio
    total *= t2
    total += first
    total *= 2.0 * t
    return total


def _taylor_otm_black(h, t, e_half, vega):
    """(b, b_max - b) for small t from the Mills-ratio series: exact where the two N() terms would cancel."""
    b = vega * _mills_difference(h, t)  # b = vega (M(h+t) - M(h-t)), since e^{x/2} n(h+t) = vega
    return b, e_half - b


def _direct_otm_black(h, t, e_half, vega):
    """(b, b_max - b) from the two N() terms, each side taken from the smaller tail so neither loses digits."""
    tail = ndtr(-np.abs(h + t))  # min(N(h+t), 1 - N(h+t)) to full relative precision
    below = h + t < 0
    n_plus, n_plus_complement = np.where(below, tail, 1.0 - tail), np.where(below, 1.0 - tail, tail)
    n_minus = ndtr(h - t) / e_half  # e^{-x/2} N(h - t)
    return e_half * n_plus - n_minus, e_half * n_plus_complement + n_minus


def normalized_otm_black(x, s) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Jäckel's normalized out-of-the-money call b(x, s) = e^{x/2} N(x/s + s/2) - e^{-x/2} N(x/s - s/2), x <= 0.

    Returns ``(b, e^{x/2} - b, db/ds)``: price over sqrt(F K) for log-moneyness x = ln(F/K) and total vol
    s = sigma sqrt(T), its distance to the upper bound (computed without cancellation) and its vega.
    """
    x, s = np.broadcast_arrays(np.asarray(x, dtype=np.float64), np.asarray(s, dtype=np.float64))
    h, t = x / s, 0.5 * s
    e_half = np.exp(0.5 * x)
    vega = _INV_SQRT_2PI * np.exp(-0.5 * (h * h + t * t))
    small = t < _SMALL_HALF_VOL
    if small.all() or not small.any():
        b, upper_gap = (_taylor_otm_black if small.all() else _direct_otm_black)(h, t, e_half, vega)
        return b, upper_gap, vega
    b, upper_gap = np.empty_like(h), np.empty_like(h)
    for branch, mask in ((_taylor_otm_black, small), (_direct_otm_black, ~small)):
        b[mask], upper_gap[mask] = branch(h[mask], t[mask], e_half[mask], vega[mask])
    return b, upper_gap, vega


def bsm_price(S, K, T, r, q, sigma, is_call) -> np.ndarray:
    """BSM price only, accurate to a few ulps even for 0DTE and far wings (the IV solver's reference).

    Priced as the normalized OTM option plus the forward intrinsic value (put-call parity), so out-of-the-money
    prices keep full relative precision where the textbook difference of two N() terms cancels.
    """
    S, K, T, r, q, sigma = (np.asarray(x, dtype=np.float64) for x in (S, K, T, r, q, sigma))
    w = call_sign(is_call)
    carry = (r - q) * T
    x = np.log(S / K) + carry
    with np.errstate(divide="ignore", invalid="ignore"):
        b, _, _ = normalized_otm_black(-np.abs(x), sigma * np.sqrt(T))
    discount = np.exp(-r * T)
    intrinsic = np.maximum(w * (S * np.exp(carry) - K), 0.0)
    return discount * (np.sqrt(S * K) * np.exp(0.5 * carry) * b + intrinsic)


def bsm_gamma(S, K, T, r, q, sigma) -> np.ndarray:
    """BSM gamma only, for re-pricing a book's gamma across a spot grid."""
    S, K, T, r, q, sigma = (np.asarray(x, dtype=np.float64) for x in (S, K, T, r, q, sigma))
    vol_t = sigma * np.sqrt(T)
    d1 = (np.log(S / K) + (r - q + 0.5 * sigma * sigma) * T) / vol_t
    return np.exp(-q * T) * _pdf(d1) / (S * vol_t)
