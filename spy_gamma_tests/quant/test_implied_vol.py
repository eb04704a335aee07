"""implied_vol: round trips through bsm_price, no-arbitrage bounds with reasons, py_vollib and hand values."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy.special import ndtr

from spy_gamma.quant.greeks import bsm_greeks, bsm_price
from spy_gamma.quant.implied_vol import IvStatus, implied_vol, implied_vol_with_status

R, Q, SPOT = 0.045, 0.013, 580.0
MINUTE = 1.0 / (365.0 * 24 * 60)
EPS = np.finfo(float).eps


def _random_book(n: int, seed: int) -> dict[str, np.ndarray]:
    """0DTE (1 minute) to 3 years, 1%-300% vol, strikes to +-6 standard deviations, calls and puts."""
    rng = np.random.default_rng(seed)
    tte = np.exp(rng.uniform(np.log(MINUTE), np.log(3.0), n))
    sigma = np.exp(rng.uniform(np.log(0.01), np.log(3.0), n))
    strike = SPOT * np.exp((R - Q) * tte + rng.uniform(-6, 6, n) * sigma * np.sqrt(tte))
    return {"S": np.full(n, SPOT), "K": strike, "T": tte, "r": R, "q": Q, "sigma": sigma,
            "is_call": rng.random(n) < 0.5}


def _strike_elasticity(book: dict, price: np.ndarray) -> np.ndarray:
    """|d ln P / d ln K| = K e^{-rT} N(w d2) / P: how much input rounding alone moves the price (condition no.)."""
    w = np.where(book["is_call"], 1.0, -1.0)
    total_vol = book["sigma"] * np.sqrt(book["T"])
    d2 = (np.log(book["S"] / book["K"]) + (R - Q) * book["T"]) / total_vol - 0.5 * total_vol
    return book["K"] * np.exp(-R * book["T"]) * ndtr(w * d2) / price


def test_round_trip_reprices_to_machine_precision():
    book = _random_book(200_000, seed=11)
    price = bsm_price(**book)
    iv, status = implied_vol_with_status(price, book["S"], book["K"], book["T"], R, Q, book["is_call"])
    solved = status == IvStatus.OK
    assert solved.mean() > 0.99
    # Unsolved here only when the OTM part vanished below the ITM price's last bit (no time value in float64).
    assert set(np.unique(status[~solved])) <= {IvStatus.AT_INTRINSIC, IvStatus.BELOW_INTRINSIC}
    repriced = bsm_price(book["S"], book["K"], book["T"], R, Q, iv, book["is_call"])
    relative = np.abs(repriced - price)[solved] / price[solved]
    elasticity = _strike_elasticity(book, price)[solved]
    # Conditioning: an ulp of input moves the price by ~eps x elasticity (up to 1e5 for 0DTE near the money).
    well_conditioned = elasticity < 1e3
    assert np.max(relative[well_conditioned]) < 1e-12
    assert np.all(relative <= 1e-12 + 64 * EPS * elasticity)
    assert np.median(relative) < 1e-14


def test_recovers_the_vol_where_the_price_is_sensitive_to_it():
    book = _random_book(100_000, seed=12)
    price, vega = bsm_price(**book), bsm_greeks(**book)["vega"]
    iv = implied_vol(price, book["S"], book["K"], book["T"], R, Q, book["is_call"])
    # Vol is identified to ~eps / (vega sigma / price): require that elasticity >= 1e-3.
    sensitive = vega * book["sigma"] / price > 1e-3
    np.testing.assert_allclose(iv[sensitive], book["sigma"][sensitive], rtol=1e-9)


@pytest.mark.parametrize("minutes", [1, 5, 30, 390])
def test_zero_dte_near_the_money_strikes(minutes):
    tte = minutes * MINUTE
    strikes = SPOT + np.arange(-10.0, 10.5, 0.5)
    sigma = 0.12
    for is_call in (True, False):
        price = bsm_price(SPOT, strikes, tte, R, Q, sigma, is_call)
        iv, status = implied_vol_with_status(price, SPOT, strikes, tte, R, Q, is_call)
        intrinsic = np.maximum((1 if is_call else -1) * (SPOT * np.exp(-Q * tte) - strikes * np.exp(-R * tte)), 0)
        # Quotes go in cents: below half a cent of time value the vol is not identifiable. Deep enough in
        # the money a minute before expiry the time value is below float64 resolution: AT_INTRINSIC.
        tradable = price - intrinsic > 0.005
        assert np.all(np.isin(status[~tradable], [IvStatus.OK, IvStatus.AT_INTRINSIC]))
        assert np.all(status[tradable] == IvStatus.OK)
        np.testing.assert_allclose(iv[tradable], sigma, rtol=1e-8)


def test_hand_worked_at_the_money_price():
    # S = K = 100, T = 1, r = q = 0: price = 100 (2 N(sigma / 2) - 1); at sigma = 0.2, N(0.1) = 0.539827837277029
    # gives 7.965567455405804, and the inverse must return 0.2.
    assert implied_vol(7.965567455405804, 100.0, 100.0, 1.0, 0.0, 0.0, True) == pytest.approx(0.2, rel=1e-13)


def test_prices_outside_no_arbitrage_bounds_get_nan_and_their_reason():
    S, K, T = 580.0, np.array([560.0, 560.0, 560.0, 600.0, 600.0, 580.0, 580.0, 580.0]), 30 / 365
    is_call = np.array([True, True, True, False, True, False, True, True])
    forward, discount = S * np.exp((R - Q) * T), np.exp(-R * T)
    call_intrinsic = discount * (forward - 560.0)
    price = np.array([
        call_intrinsic - 0.01,  # below the discounted forward intrinsic
        call_intrinsic,  # exactly intrinsic: no time value
        S * np.exp(-Q * T),  # call at its upper bound S e^{-qT}
        600.0 * discount + 0.01,  # put above K e^{-rT}
        -1.0,  # negative price: below any intrinsic value
        np.nan,
        5.0,  # fine
        5.0,  # fine, but with T = 0 below
    ])
    tte = np.array([T] * 7 + [0.0])
    iv, status = implied_vol_with_status(price, S, K, tte, R, Q, is_call)
    assert status.tolist() == [IvStatus.BELOW_INTRINSIC, IvStatus.AT_INTRINSIC, IvStatus.ABOVE_UPPER_BOUND,
                               IvStatus.ABOVE_UPPER_BOUND, IvStatus.BELOW_INTRINSIC, IvStatus.INVALID_INPUT,
                               IvStatus.OK, IvStatus.INVALID_INPUT]
    assert np.isnan(iv[status != IvStatus.OK]).all() and np.isfinite(iv[6])


def test_broadcasts_scalars_and_keeps_shape():
    prices = bsm_price(SPOT, np.array([[570.0, 580.0], [590.0, 600.0]]), 0.1, R, Q, 0.2, True)
    iv = implied_vol(prices, SPOT, np.array([[570.0, 580.0], [590.0, 600.0]]), 0.1, R, Q, True)
    assert iv.shape == (2, 2)
    np.testing.assert_allclose(iv, 0.2, rtol=1e-12)


def test_agrees_with_py_vollib_on_a_sample():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from py_vollib.black_scholes_merton.implied_volatility import implied_volatility

    rng = np.random.default_rng(13)
    n = 300
    tte = np.exp(rng.uniform(np.log(1 / 365), np.log(2.0), n))
    sigma = rng.uniform(0.05, 1.0, n)
    strike = SPOT * np.exp(rng.uniform(-2.5, 2.5, n) * sigma * np.sqrt(tte))
    is_call = rng.random(n) < 0.5
    price = bsm_price(SPOT, strike, tte, R, Q, sigma, is_call)
    ours = implied_vol(price, SPOT, strike, tte, R, Q, is_call)
    theirs = np.array([implied_volatility(p, SPOT, k, t, R, Q, "c" if c else "p")
                       for p, k, t, c in zip(price, strike, tte, is_call)])
    np.testing.assert_allclose(ours, theirs, rtol=1e-8)
