"""bsm_greeks / bsm_price against QuantLib's Black calculator, finite differences of it, mpmath and parity."""

from __future__ import annotations

import itertools

import mpmath
import numpy as np
import pytest
import QuantLib as ql

from spy_gamma.quant.greeks import bsm_gamma, bsm_greeks, bsm_price, normalized_otm_black

R, Q, SPOT = 0.045, 0.013, 580.0
MINUTE = 1.0 / (365.0 * 24 * 60)
TENORS = [1 * MINUTE, 5 * MINUTE, 30 * MINUTE, 390 * MINUTE, 1 / 365, 7 / 365, 30 / 365, 0.5, 2.0, 5.0]
VOLS = [0.05, 0.2, 1.5]
STANDARD_MONEYNESS = [-6.0, -3.0, -1.0, -0.2, 0.0, 0.5, 2.0, 4.0, 6.0]  # ln(K/F) in units of sigma sqrt(T)


def _grid() -> dict[str, np.ndarray]:
    """0DTE minutes to 5 years, 5%-150% vol, strikes out to +-6 standard deviations (deep ITM/OTM)."""
    rows = list(itertools.product(TENORS, VOLS, STANDARD_MONEYNESS, (True, False)))
    tte, vol, z, is_call = (np.array(column) for column in zip(*rows))
    strike = SPOT * np.exp((R - Q) * tte + z * vol * np.sqrt(tte))
    return {"S": np.full(tte.size, SPOT), "K": strike, "T": tte, "r": R, "q": Q, "sigma": vol, "is_call": is_call}


def _quantlib(S, K, T, r, q, sigma, is_call) -> dict[str, float]:
    """Analytic Black-formula price and first-order Greeks of one option (forward and discount form)."""
    kind = ql.Option.Call if is_call else ql.Option.Put
    forward, discount = S * np.exp((r - q) * T), np.exp(-r * T)
    black = ql.BlackCalculator(ql.PlainVanillaPayoff(kind, float(K)), float(forward), float(sigma * np.sqrt(T)),
                               float(discount))
    return {"price": black.value(), "delta": black.delta(float(S)), "gamma": black.gamma(float(S)),
            "vega": black.vega(float(T)), "theta": black.theta(float(S), float(T))}


def _richardson(first_order, point: dict, key: str, h: float) -> float:
    """Central difference of a QuantLib first-order Greek in ``key``, Richardson-extrapolated (error O(h^4))."""
    def central(bump: float) -> float:
        up = first_order(**{**point, key: point[key] + bump})
        down = first_order(**{**point, key: point[key] - bump})
        return (up - down) / (2.0 * bump)

    return (4.0 * central(h / 2.0) - central(h)) / 3.0


def _higher_order_reference(point: dict) -> dict[str, float]:
    """Second/third-order Greeks as finite differences of QuantLib's analytic delta, vega and gamma.

    Bumps are 1% of each input's own scale (spot's is one standard deviation S sigma sqrt(T), minutes for
    0DTE), shrunk by 1 + z^2 in the wings (z = standardized moneyness) where the Greeks bend faster.
    Smaller bumps drown in QuantLib's rounding, amplified by 1/(sigma sqrt(T)) near expiry.
    """
    def greek(name):
        return lambda **p: _quantlib(**p)[name]

    total_vol = point["sigma"] * np.sqrt(point["T"])
    z = np.log(point["K"] / point["S"]) / total_vol
    relative = 0.01 / (1.0 + z * z)
    vol_bump, time_bump = relative * point["sigma"], relative * point["T"]
    spot_bump = relative * point["S"] * total_vol
    return {
        "vanna": _richardson(greek("delta"), point, "sigma", vol_bump),
        "charm": -_richardson(greek("delta"), point, "T", time_bump),  # calendar time passing = -d/dT
        "vomma": _richardson(greek("vega"), point, "sigma", vol_bump),
        "speed": _richardson(greek("gamma"), point, "S", spot_bump),
        "zomma": _richardson(greek("gamma"), point, "sigma", vol_bump),
        "color": -_richardson(greek("gamma"), point, "T", time_bump),
    }


def _assert_close(ours: np.ndarray, reference: np.ndarray, scale: np.ndarray, name: str,
                  floor: float = 1e-6) -> None:
    """Relative error <= 1e-6 on the well-conditioned set: |reference| above ``floor`` x the Greek's own scale.

    Below that (wings where the Greek decays towards 0, and a finite difference of a first-order Greek near
    its limit keeps only ~eps/bump absolute digits), require absolute agreement to 1e-6 of the scale.
    """
    well_conditioned = np.abs(reference) > floor * scale
    relative = np.abs(ours - reference) / np.abs(reference)
    assert well_conditioned.sum() > 0.5 * reference.size, name
    assert np.max(relative[well_conditioned]) <= 1e-6, (name, np.max(relative[well_conditioned]))
    assert np.all(np.abs(ours - reference)[~well_conditioned] <= 1e-6 * scale[~well_conditioned]), name


def _scales(grid: dict) -> dict[str, np.ndarray]:
    """Each Greek's natural size at the money for its (T, sigma): the yardstick of the conditioning mask."""
    S, T, sigma = grid["S"], grid["T"], grid["sigma"]
    atm = bsm_greeks(S, S * np.exp((R - Q) * T), T, R, Q, sigma, True)
    return {"price": atm["price"], "delta": np.ones_like(S), "gamma": atm["gamma"], "vega": atm["vega"],
            "theta": atm["price"] / T, "vanna": 1.0 / sigma, "charm": 1.0 / T, "vomma": atm["vega"] / sigma,
            "speed": atm["gamma"] / (S * sigma * np.sqrt(T)), "zomma": atm["gamma"] / sigma,
            "color": atm["gamma"] / T}


def test_first_order_greeks_match_quantlib_black_calculator():
    grid = _grid()
    ours = bsm_greeks(**grid)
    columns = [_quantlib(*args) for args in zip(grid["S"], grid["K"], grid["T"], itertools.repeat(R),
                                                 itertools.repeat(Q), grid["sigma"], grid["is_call"])]
    scales = _scales(grid)
    for name in ("price", "delta", "gamma", "vega", "theta"):
        reference = np.array([column[name] for column in columns])
        _assert_close(ours[name], reference, scales[name], name)


def test_higher_order_greeks_match_finite_differences_of_quantlib():
    grid = _grid()
    ours = bsm_greeks(**grid)
    points = [{"S": s, "K": k, "T": t, "r": R, "q": Q, "sigma": v, "is_call": c}
              for s, k, t, v, c in zip(grid["S"], grid["K"], grid["T"], grid["sigma"], grid["is_call"])]
    references = [_higher_order_reference(point) for point in points]
    scales = _scales(grid)
    for name in ("vanna", "charm", "vomma", "speed", "zomma", "color"):
        reference = np.array([row[name] for row in references])
        _assert_close(ours[name], reference, scales[name], name, floor=1e-3)


def _price_second_difference(point: dict, first: str, h1: float, second: str, h2: float) -> float:
    """d2 P / (d first d second) from QuantLib prices alone (4-point stencil, Richardson-extrapolated)."""
    def price(**bumps) -> float:
        return _quantlib(**{**point, **{key: point[key] + bump for key, bump in bumps.items()}})["price"]

    def stencil(a: float, b: float) -> float:
        if first == second:
            return (price(**{first: 2 * a}) - 2 * price() + price(**{first: -2 * a})) / (4 * a * a)
        return (price(**{first: a, second: b}) - price(**{first: a, second: -b})
                - price(**{first: -a, second: b}) + price(**{first: -a, second: -b})) / (4 * a * b)

    return (4.0 * stencil(h1 / 2, h2 / 2) - stencil(h1, h2)) / 3.0


def test_second_order_greeks_match_second_differences_of_quantlib_prices():
    # Second differences of prices keep ~eps P / h^2 of noise: checked where that is small (|z| <= 2.5, T >= 1 h)
    # and to 1e-5, their honest resolution here; the 1e-6 checks above difference QuantLib's analytic Greeks.
    grid = _grid()
    ours, scales = bsm_greeks(**grid), _scales(grid)
    total_vol = grid["sigma"] * np.sqrt(grid["T"])
    z = np.log(grid["K"] / (grid["S"] * np.exp((R - Q) * grid["T"]))) / total_vol
    checked = (np.abs(z) <= 2.5) & (grid["T"] >= 60 * MINUTE)
    for name, first, second in (("gamma", "S", "S"), ("vomma", "sigma", "sigma"), ("vanna", "S", "sigma")):
        reference, ours_checked, scale = [], ours[name][checked], scales[name][checked]
        for i in np.flatnonzero(checked):
            point = {"S": grid["S"][i], "K": grid["K"][i], "T": grid["T"][i], "r": R, "q": Q,
                     "sigma": grid["sigma"][i], "is_call": grid["is_call"][i]}
            relative = 0.01 / (1.0 + z[i] ** 2)
            bump = {"S": relative * point["S"] * min(total_vol[i], 1.0), "sigma": relative * point["sigma"]}
            reference.append(_price_second_difference(point, first, bump[first], second, bump[second]))
        reference = np.array(reference)
        material = np.abs(reference) > 1e-2 * scale
        assert material.mean() > 0.5, name
        relative_error = np.abs(ours_checked - reference)[material] / np.abs(reference[material])
        assert np.max(relative_error) <= 1e-5, (name, np.max(relative_error))


def test_put_call_parity_of_price_and_greeks():
    rng = np.random.default_rng(7)
    n = 5_000
    S, T = rng.uniform(300, 700, n), np.exp(rng.uniform(np.log(MINUTE), np.log(3.0), n))
    K, sigma = S * np.exp(rng.normal(0, 0.15, n)), rng.uniform(0.05, 1.5, n)
    call, put = bsm_greeks(S, K, T, R, Q, sigma, True), bsm_greeks(S, K, T, R, Q, sigma, False)
    df_q, df_r = np.exp(-Q * T), np.exp(-R * T)
    # C - P = S e^{-qT} - K e^{-rT}; its S-derivative e^{-qT}; sigma-derivatives vanish; -d/dT gives the rest.
    np.testing.assert_allclose(call["price"] - put["price"], S * df_q - K * df_r, rtol=0, atol=1e-10 * 700)
    np.testing.assert_allclose(call["delta"] - put["delta"], df_q, rtol=0, atol=1e-13)
    np.testing.assert_allclose(call["theta"] - put["theta"], Q * S * df_q - R * K * df_r, rtol=0, atol=1e-9 * 700)
    np.testing.assert_allclose(call["charm"] - put["charm"], Q * df_q, rtol=0, atol=1e-9)
    for name in ("gamma", "vega", "vanna", "vomma", "speed", "zomma", "color"):
        np.testing.assert_allclose(call[name], put[name], rtol=1e-12, atol=0, err_msg=name)


def test_hand_worked_at_the_money_call():
    # S = K = 100, T = 1, r = q = 0, sigma = 0.2: d1 = 0.1, d2 = -0.1, N(0.1) = 0.539827837277029,
    # n(0.1) = 0.396952547477012: price = 100 (2 N(0.1) - 1) = 7.965567455405804, delta = N(0.1),
    # gamma = n(0.1) / 20 = 0.0198476273738506, vega = 100 n(0.1) = 39.6952547477012, theta = -vega 0.2 / 2.
    greeks = bsm_greeks(100.0, 100.0, 1.0, 0.0, 0.0, 0.2, True)
    expected = {"price": 7.965567455405804, "delta": 0.539827837277029, "gamma": 0.0198476273738506,
                "vega": 39.6952547477012, "theta": -3.96952547477012}
    for name, value in expected.items():
        assert greeks[name] == pytest.approx(value, rel=1e-13), name


def test_bsm_price_and_gamma_agree_with_the_full_greek_set():
    grid = _grid()
    ours = bsm_greeks(**grid)
    price = bsm_price(**grid)
    material = ours["price"] > 1e-6 * grid["S"]  # the textbook difference formula loses digits below this
    np.testing.assert_allclose(price[material], ours["price"][material], rtol=1e-10)
    np.testing.assert_allclose(bsm_gamma(grid["S"], grid["K"], grid["T"], R, Q, grid["sigma"]), ours["gamma"],
                               rtol=1e-13)


def _mp_normalized_black(x: float, s: float) -> mpmath.mpf:
    with mpmath.workdps(60):
        x, s = mpmath.mpf(x), mpmath.mpf(s)
        return mpmath.exp(x / 2) * mpmath.ncdf(x / s + s / 2) - mpmath.exp(-x / 2) * mpmath.ncdf(x / s - s / 2)


@pytest.mark.parametrize("x", [0.0, -1e-4, -0.01, -0.1, -1.0])
def test_normalized_otm_price_keeps_full_relative_precision_for_tiny_total_vol(x):
    # 0DTE: s = sigma sqrt(T) down to 1e-5 (one minute at 0.7% vol), where e^{x/2}N(.) - e^{-x/2}N(.) cancels.
    s = np.array([1e-5, 1e-4, 1e-3, 0.01, 0.05, 0.15, 0.19, 0.21, 0.5, 2.0])
    s = s[-x / s < 30]  # keep prices above ~e^{-450}: beyond, values underflow towards 0
    b, gap, _ = normalized_otm_black(np.full(s.size, x), s)
    reference = np.array([float(_mp_normalized_black(x, v)) for v in s])
    np.testing.assert_allclose(b, reference, rtol=3e-13)
    np.testing.assert_allclose(gap, np.exp(x / 2) - reference, rtol=3e-13)
