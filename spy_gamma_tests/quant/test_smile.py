"""SVI smile fits: known parameters recovered from noisy quotes, planted outliers rejected, real Cboe smiles fitted."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import polars as pl
import pytest

from spy_gamma.quant.smile import SmileFit, fit_smile, fit_smiles
from spy_gamma_tests.quant.test_exposure import (
    CBOE_2023_DIVIDEND,
    CBOE_2023_RATE,
    CBOE_2023_SPOT,
    cboe_book_2023,
)

TRUE_SVI = {"a": 0.01, "b": 0.1, "rho": -0.5, "m": 0.02, "sigma": 0.15}  # min w = a + b*sigma*sqrt(1-rho^2)
FORWARD, TTE = 100.0, 0.5


def true_smile(n: int) -> SmileFit:
    return SmileFit(**TRUE_SVI, forward=FORWARD, tte_years=TTE, rejected=np.zeros(n, dtype=bool), rmse_vol=0.0)


def noisy_quotes(seed: int, n: int = 60, noise_vol: float = 0.002) -> tuple[np.ndarray, np.ndarray]:
    strikes = FORWARD * np.exp(np.linspace(-0.5, 0.4, n))
    return strikes, true_smile(n).iv(strikes) + np.random.default_rng(seed).normal(0.0, noise_vol, n)


def test_svi_formula_by_hand():
    # at k = m: w = a + b*sigma = 0.01 + 0.1*0.15 = 0.025 -> iv = sqrt(0.025/0.5) = 0.223607
    assert true_smile(1).iv(np.array([FORWARD * math.exp(0.02)]))[0] == pytest.approx(math.sqrt(0.05))


def test_recovers_known_svi_parameters_from_noisy_quotes():
    strikes, ivs = noisy_quotes(seed=11)
    fit = fit_smile(strikes, ivs, FORWARD, TTE)
    assert (fit.a, fit.b, fit.rho, fit.m, fit.sigma) == pytest.approx(
        tuple(TRUE_SVI.values()), abs=0.03)
    assert fit.rho == pytest.approx(TRUE_SVI["rho"], abs=0.05)
    gaps = FORWARD * np.exp(np.linspace(-0.45, 0.35, 17))  # between and beyond the quoted strikes
    assert fit.iv(gaps) == pytest.approx(true_smile(1).iv(gaps), abs=0.002)
    assert fit.rmse_vol < 0.003 and not fit.rejected.any()
    assert fit.butterfly_free(np.linspace(-1.0, 1.0, 201))


def test_rejects_planted_outliers_and_ignores_them():
    strikes, ivs = noisy_quotes(seed=12)
    planted = [5, 30, 50]
    ivs[planted] += [0.05, -0.04, 0.08]
    ivs[40] = np.nan  # a missing quote is not used and gets filled
    fit = fit_smile(strikes, ivs, FORWARD, TTE)
    assert np.flatnonzero(fit.rejected).tolist() == sorted([*planted, 40])
    # within 2 noise sigmas everywhere (wing ends included): the 4-8 vol-point outliers do not pull the fit
    assert fit.iv(strikes) == pytest.approx(true_smile(1).iv(strikes), abs=0.004)


def test_too_few_quotes_raise():
    with pytest.raises(ValueError):
        fit_smile([90.0, 100.0, 110.0], [0.2, 0.18, 0.19], FORWARD, TTE)


def test_frame_fit_has_contract_columns_and_flags():
    strikes, ivs = noisy_quotes(seed=13, n=30)
    ivs[7] += 0.1
    expiry = dt.date(2025, 10, 17)
    quotes = pl.DataFrame({"expiry": [expiry] * 30, "strike": strikes, "right": ["C"] * 30, "iv": ivs,
                           "tte_years": [TTE] * 30, "forward": [FORWARD] * 30})
    thin = quotes.head(3).with_columns(pl.lit(expiry + dt.timedelta(days=7)).alias("expiry"))
    fitted = fit_smiles(pl.concat([quotes, thin]))
    assert fitted.columns == ["expiry", "strike", "right", "iv_market", "iv_fit", "rejected"]
    main = fitted.filter(pl.col("expiry") == expiry)
    assert main["rejected"].arg_true().to_list() == [7]
    assert main["iv_fit"].to_numpy() == pytest.approx(true_smile(1).iv(strikes), abs=0.003)
    unfit = fitted.filter(pl.col("expiry") != expiry)
    assert unfit["iv_fit"].null_count() == 3 and unfit["rejected"].all()


def test_real_cboe_smiles_fit_their_own_ivs():
    # OTM Cboe ivs of the nearest expiries after 2023-09-14 16:31 ET, within 10% of spot; F = S e^{(r-q)T}
    book = cboe_book_2023()
    nearest = sorted(book["expiry"].unique().to_list())[:4]
    quotes = (book.filter(pl.col("expiry").is_in(nearest) & ((pl.col("strike") / CBOE_2023_SPOT - 1).abs() < 0.10)
                          & ((pl.col("right") == "P") == (pl.col("strike") < CBOE_2023_SPOT)))
              .with_columns((CBOE_2023_SPOT * ((CBOE_2023_RATE - CBOE_2023_DIVIDEND) * pl.col("tte_years")).exp())
                            .alias("forward")))
    fitted = fit_smiles(quotes).filter(pl.col("iv_market") > 0)
    stats = fitted.group_by("expiry").agg(
        ((pl.col("iv_fit") - pl.col("iv_market")).abs().filter(~pl.col("rejected")).median() * 100)
        .alias("median_abs_resid_pts"),
        pl.col("rejected").mean().alias("rejected_share"), pl.len().alias("quotes")).sort("expiry")
    print("\nCboe 2023-09-14 SVI fits:\n", stats)
    assert stats.height == 4
    assert (stats["median_abs_resid_pts"] < 0.5).all()
    assert (stats["rejected_share"] < 0.2).all()
