"""Greeks and implied-vol throughput on a random realistic SPY book, against QuantLib and py_vollib.

The references price one option per Python call, so they run on a subsample and are extrapolated per option.
QuantLib's Black calculator has price and first-order Greeks only: its "full set" here is that smaller set.
"""

from __future__ import annotations

import json
import os
import platform
import time
import warnings
from pathlib import Path

import numpy as np

from spy_gamma.quant.greeks import bsm_greeks, bsm_price
from spy_gamma.quant.implied_vol import IvStatus, implied_vol_with_status

RATE, DIVIDEND_YIELD, SPOT = 0.043, 0.013, 580.0
_MINUTE = 1.0 / (365.0 * 24 * 60)


def random_spy_book(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    """SPY-like options: 0DTE minutes to a year (mostly short-dated), $1 strikes within ~4 standard deviations
    (at most +-15%), a skewed smile."""
    rng = np.random.default_rng(seed)
    tte = np.exp(rng.uniform(np.log(_MINUTE), np.log(1.0), n))
    log_moneyness = rng.uniform(-1.0, 1.0, n) * np.minimum(0.15, 0.7 * np.sqrt(tte) + 0.002)
    sigma = 0.15 - 0.6 * log_moneyness + 2.0 * log_moneyness**2 + rng.normal(0.0, 0.01, n)
    return {"S": np.full(n, SPOT), "K": np.round(SPOT * np.exp(log_moneyness)), "T": tte,
            "sigma": np.clip(sigma, 0.05, None), "is_call": rng.random(n) < 0.5}


def _best_seconds(run, repeats: int = 3) -> float:
    """Fastest of a few timed runs after one warm-up (first-touch page faults excluded)."""
    run()
    timings = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        timings.append(time.perf_counter() - start)
    return min(timings)


def _quantlib_rates(book: dict[str, np.ndarray], prices: np.ndarray, sample: int) -> dict[str, float]:
    """Options per second for QuantLib's BlackCalculator (price + 4 Greeks) and blackFormulaImpliedStdDev."""
    import QuantLib as ql

    rows = list(zip(book["K"][:sample], book["T"][:sample], book["sigma"][:sample], book["is_call"][:sample],
                    prices[:sample]))

    def greeks() -> None:
        for strike, tte, sigma, is_call, _ in rows:
            payoff = ql.PlainVanillaPayoff(ql.Option.Call if is_call else ql.Option.Put, float(strike))
            forward = SPOT * np.exp((RATE - DIVIDEND_YIELD) * tte)
            black = ql.BlackCalculator(payoff, forward, float(sigma * np.sqrt(tte)), float(np.exp(-RATE * tte)))
            black.value(), black.delta(SPOT), black.gamma(SPOT), black.vega(tte), black.theta(SPOT, tte)

    def implied() -> None:
        for strike, tte, _, is_call, price in rows:
            forward = SPOT * np.exp((RATE - DIVIDEND_YIELD) * tte)
            ql.blackFormulaImpliedStdDev(ql.Option.Call if is_call else ql.Option.Put, float(strike), forward,
                                         float(price), float(np.exp(-RATE * tte)))

    return {"greek_sets_per_s": sample / _best_seconds(greeks, 1), "ivs_per_s": sample / _best_seconds(implied, 1)}


def _py_vollib_rates(book: dict[str, np.ndarray], prices: np.ndarray, sample: int) -> dict[str, float]:
    """Options per second for py_vollib's scalar BSM price + analytical Greeks and its implied volatility."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from py_vollib.black_scholes_merton import black_scholes_merton
        from py_vollib.black_scholes_merton.greeks import analytical
        from py_vollib.black_scholes_merton.implied_volatility import implied_volatility

    rows = [("c" if c else "p", float(k), float(t), float(v), float(p)) for k, t, v, c, p in
            zip(book["K"][:sample], book["T"][:sample], book["sigma"][:sample], book["is_call"][:sample],
                prices[:sample])]

    def greeks() -> None:
        for flag, strike, tte, sigma, _ in rows:
            args = (flag, SPOT, strike, tte, RATE, sigma, DIVIDEND_YIELD)
            black_scholes_merton(*args)
            analytical.delta(*args), analytical.gamma(*args), analytical.vega(*args), analytical.theta(*args)

    def implied() -> None:
        for flag, strike, tte, _, price in rows:
            implied_volatility(price, SPOT, strike, tte, RATE, DIVIDEND_YIELD, flag)

    return {"greek_sets_per_s": sample / _best_seconds(greeks, 1), "ivs_per_s": sample / _best_seconds(implied, 1)}


def run_greeks_bench(n: int = 2_000_000, json_path: Path | None = None, reference_sample: int = 5_000) -> dict:
    """Full Greek sets/s and implied vols/s on ``n`` random SPY options; references on a subsample."""
    book = random_spy_book(n)
    args = (book["S"], book["K"], book["T"], RATE, DIVIDEND_YIELD)
    greek_seconds = _best_seconds(lambda: bsm_greeks(*args, book["sigma"], book["is_call"]))
    prices = bsm_price(*args, book["sigma"], book["is_call"])
    iv_seconds = _best_seconds(lambda: implied_vol_with_status(prices, *args, book["is_call"]))
    iv, status = implied_vol_with_status(prices, *args, book["is_call"])
    solved = status == IvStatus.OK
    repriced = bsm_price(*args, np.where(solved, iv, book["sigma"]), book["is_call"])
    # The vol is identified only where the price moves with it: vega sigma / price > 1e-3.
    identified = solved & (bsm_greeks(*args, book["sigma"], book["is_call"])["vega"] * book["sigma"] > 1e-3 * prices)
    # References see only prices with time value left (they raise on the rest), a subsample of those.
    reference_book = {name: column[solved] for name, column in book.items()}
    sample = min(reference_sample, int(solved.sum()))
    report = {
        "n": n,
        "machine": {"cpus": os.cpu_count(), "processor": platform.processor() or platform.machine(),
                    "numpy": np.__version__},
        "spy_gamma": {"greek_sets_per_s": n / greek_seconds, "ivs_per_s": n / iv_seconds,
                      "iv_solved_fraction": float(solved.mean()),
                      "iv_reprice_rel_error_median": float(np.median(np.abs(repriced / prices - 1)[solved])),
                      "iv_reprice_rel_error_max": float(np.max(np.abs(repriced / prices - 1)[solved])),
                      "iv_vol_rel_error_max_where_identified": float(
                          np.max(np.abs(iv / book["sigma"] - 1)[identified]))},
        "quantlib": _quantlib_rates(reference_book, prices[solved], sample),
        "py_vollib": _py_vollib_rates(reference_book, prices[solved], min(sample, 2_000)),
        "reference_sample": sample,
    }
    if json_path is not None:
        Path(json_path).write_text(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    print(json.dumps(run_greeks_bench(), indent=2))
