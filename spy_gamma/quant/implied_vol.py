"""Black-Scholes-Merton implied volatility, vectorized, with a reason code for every price it cannot invert.

Method after P. Jäckel, "Let's be rational" (Wilmott, 2015): the price is reduced to the normalized
out-of-the-money Black call b(x, s) = e^{x/2} N(x/s + s/2) - e^{-x/2} N(x/s - s/2), x = ln(F/K) <= 0,
s = sigma sqrt(T) (in-the-money prices pass through put-call parity first), and solved with third-order
Householder steps on one of three objectives split around the inflection point s_c = sqrt(2|x|): 1/ln b in
the low wing, b itself in the middle and ln(b_max - b) near the upper bound, each close to linear in s.
Our own starting guesses (within ~2% in the wings) make two steps typical; a bracket kept from the sign of
every residual makes each step safe.
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np
from scipy.special import ndtri

from spy_gamma.quant.greeks import call_sign, flat_inputs, map_blocks, normalized_otm_black

_MAX_STEPS = 16
_STEP_TOLERANCE = 1e-5  # quartic convergence: after a step this small the error is ~1e-20
_TINY_S = 1e-300
_CHUNK = 16384  # measured fastest per core (8192-32768 tried): the solver has more Python steps per block


class IvStatus(IntEnum):
    """Why an implied vol is (or is not) available."""

    OK = 0
    BELOW_INTRINSIC = 1  # price below the discounted forward intrinsic value: arbitrage
    AT_INTRINSIC = 2  # no time value left (in float64): any small vol reprices it, none is implied
    ABOVE_UPPER_BOUND = 3  # price at or above S e^{-qT} (call) / K e^{-rT} (put): arbitrage
    INVALID_INPUT = 4  # NaN input, or non-positive spot, strike or time to expiry
    NOT_CONVERGED = 5  # the solver ran out of steps (not expected; reported rather than hidden)


def _householder_step(x, s, beta, gap_beta, ln_beta, low, high):
    """One third-order Householder step on the branch objective g; returns (new s, +1 where b(s) > beta else -1).

    From k2 = b''/b' and k3 = b'''/b' of the normalized price (Jäckel 2015), the ratios g''/g' and
    g'''/g' follow by the chain rule for g = 1/ln b (low), b (middle) and -ln(b_max - b) (high).
    """
    b, gap, vega = normalized_otm_black(x, s)
    k2 = x * x / (s * s * s) - 0.25 * s
    k3 = k2 * k2 - 3.0 * x * x / (s * s * s * s) - 0.25
    ln_b = np.log(b)
    lam, mu = vega / b, vega / gap  # (ln b)' and -(ln gap)'
    newton = np.where(low, ln_b * (ln_beta - ln_b) / (ln_beta * lam),
                      np.where(high, np.log(gap / gap_beta) / mu, (beta - b) / vega))
    h2 = np.where(low, k2 - lam - 2.0 * lam / ln_b, np.where(high, k2 + mu, k2))
    h3 = np.where(low, k3 - 3.0 * k2 * lam + 2.0 * lam * lam - 6.0 * lam * (k2 - lam) / ln_b
                  + 6.0 * lam * lam / (ln_b * ln_b),
                  np.where(high, k3 + 3.0 * k2 * mu + 2.0 * mu * mu, k3))
    denominator = 1.0 + newton * (h2 + h3 * newton / 6.0)
    step = newton * (1.0 + 0.5 * h2 * newton) / denominator
    step = np.where((denominator > 0.25) & np.isfinite(step), step, newton)
    return s + step, np.where(np.where(high, gap < gap_beta, b > beta), 1.0, -1.0)


def _low_wing_guess(x, s_low, b_low, v_low, ln_beta):
    """Solve ln b = -x^2/(2 s^2) + c ln s + e s + d, the asymptotic form fitted to ln b's value, slope and
    curvature at s_low; Newton in y = 1/s^2 from s_low lands within ~2% of the root.
    """
    x2, inv_s2 = x * x, 1.0 / (s_low * s_low)
    slope = v_low / b_low  # (ln b)'
    curvature = slope * (x2 * inv_s2 / s_low - 0.25 * s_low) - slope * slope  # (ln b)'' = slope (b''/b') - slope^2
    c = -curvature / inv_s2 - 3.0 * x2 * inv_s2
    e = slope - x2 * inv_s2 / s_low - c / s_low
    d = np.log(b_low) + 0.5 * x2 * inv_s2 - c * np.log(s_low) - e * s_low
    y, offset = inv_s2, d - ln_beta
    for _ in range(3):
        s = 1.0 / np.sqrt(y)
        residual = offset - 0.5 * (x2 * y + c * np.log(y)) + e * s
        y += residual / (0.5 * (x2 + (c + e * s) / y))
    return 1.0 / np.sqrt(y)


def _hermite_inverse(beta, b0, s0, v0, b1, s1, v1):
    """Cubic Hermite interpolation of the inverse s(b) between two points, using ds/db = 1/vega."""
    width = b1 - b0
    u = (beta - b0) / width
    u2, u3 = u * u, u * u * u
    return ((2 * u3 - 3 * u2 + 1) * s0 + (u3 - 2 * u2 + u) * width / v0
            + (3 * u2 - 2 * u3) * s1 + (u3 - u2) * width / v1)


def _initial_guess(x, beta, gap_beta, ln_beta):
    """Branch masks, bracket and starting s around the inflection point s_c = sqrt(2|x|) (Jäckel 2015).

    The tangent at s_c meets 0 at s_low and the upper bound at s_high; only the side holding the root is
    evaluated. Start: the asymptotic low-wing model below s_low, Hermite interpolation of s(b) between
    s_low, s_c and s_high, and 2 cosh(x/2) N(-s/2) ~ b_max - b above s_high.
    """
    s_c = np.maximum(np.sqrt(-2.0 * x), _TINY_S)
    b_c, _, v_c = normalized_otm_black(x, s_c)
    left = beta < b_c
    s_side = np.where(left, np.maximum(s_c - b_c / v_c, _TINY_S), s_c + (np.exp(0.5 * x) - b_c) / v_c)
    b_side, gap_side, v_side = normalized_otm_black(x, s_side)
    low = left & (beta < b_side)
    high = ~left & (gap_beta < gap_side)
    middle = _hermite_inverse(beta, b_c, s_c, v_c, b_side, s_side, v_side)
    guess_low = _low_wing_guess(x, s_side, b_side, v_side, ln_beta)
    guess_high = -2.0 * ndtri(0.5 * gap_beta / np.cosh(0.5 * x))
    guess = np.where(low, guess_low, np.where(high, guess_high, middle))
    lower = np.where(low, 0.0, np.where(high, s_side, np.minimum(s_side, s_c)))
    upper = np.where(low, s_side, np.where(high, np.inf, np.maximum(s_side, s_c)))
    guess = np.where(np.isfinite(guess), guess, np.where(np.isfinite(upper), 0.5 * (lower + upper), 2 * lower))
    return low, high, np.clip(guess, lower, upper), lower, upper


def _solve_total_vol(x, beta, gap_beta):
    """Total vol s = sigma sqrt(T) with b(x, s) = beta, for x <= 0 and 0 < beta < e^{x/2}; NaN if unconverged."""
    ln_beta = np.log(beta)
    low, high, s, lower, upper = _initial_guess(x, beta, gap_beta, ln_beta)
    active = np.arange(s.size)
    for _ in range(_MAX_STEPS):
        args = (x[active], s[active], beta[active], gap_beta[active], ln_beta[active], low[active], high[active])
        s_new, above = _householder_step(*args)
        lo = np.where(above < 0, args[1], lower[active])
        hi = np.where(above > 0, args[1], upper[active])
        outside = ~((s_new >= lo) & (s_new <= hi))
        s_new = np.where(outside, np.where(np.isfinite(hi), 0.5 * (lo + hi), 2.0 * lo), s_new)
        done = np.abs(s_new - args[1]) <= _STEP_TOLERANCE * args[1]
        s[active], lower[active], upper[active] = s_new, lo, hi
        if done.all():
            return s
        active = active[~done | outside]
    s[active] = np.nan
    return s


def _fill_implied_vol(price, S, K, T, r, q, w, out: np.ndarray) -> None:
    """Write implied vols and IvStatus codes of one block into ``out`` (rows: iv, status)."""
    iv, status = out
    discount = np.exp(-r * T)
    forward = S * np.exp((r - q) * T)
    x = np.log(forward / K)
    itm = w * x > 0
    intrinsic = np.where(itm, w * (forward - K), 0.0)
    scale = np.sqrt(forward * K)
    beta = (price / discount - intrinsic) / scale  # normalized OTM price via put-call parity
    otm_bound = np.minimum(forward, K) / scale  # = e^{-|x|/2}
    gap_beta = otm_bound - beta
    beta, gap_beta, x_otm, T = np.broadcast_arrays(beta, gap_beta, -np.abs(x), T)

    status[:] = IvStatus.OK
    status[beta == 0] = IvStatus.AT_INTRINSIC
    status[beta < 0] = IvStatus.BELOW_INTRINSIC
    status[gap_beta <= 0] = IvStatus.ABOVE_UPPER_BOUND
    valid = (S > 0) & (K > 0) & (T > 0) & np.isfinite(beta) & np.isfinite(x)
    status[~valid] = IvStatus.INVALID_INPUT
    solvable = status == IvStatus.OK
    iv[:] = np.nan
    total_vol = _solve_total_vol(x_otm[solvable], beta[solvable], gap_beta[solvable])
    iv[solvable] = total_vol / np.sqrt(T[solvable])
    status[np.flatnonzero(solvable)[np.isnan(total_vol)]] = IvStatus.NOT_CONVERGED


def implied_vol_with_status(price, S, K, T, r, q, is_call) -> tuple[np.ndarray, np.ndarray]:
    """Implied vols (NaN where not solvable) and their IvStatus codes (int8), inputs broadcast like bsm_greeks."""
    inputs, shape = flat_inputs(price, S, K, T, r, q, call_sign(is_call))
    out = np.empty((2, int(np.prod(shape))))
    map_blocks(_fill_implied_vol, inputs, out, _CHUNK)
    return out[0].reshape(shape), out[1].astype(np.int8).reshape(shape)


def implied_vol(price, S, K, T, r, q, is_call) -> np.ndarray:
    """Black-Scholes-Merton implied volatility, vectorized; NaN where the price breaks no-arbitrage bounds."""
    return implied_vol_with_status(price, S, K, T, r, q, is_call)[0]
