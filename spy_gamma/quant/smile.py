"""Per-expiry implied-vol smile fits: raw SVI in log-moneyness, robust to bad quotes, evaluable at any strike.

Raw SVI (Gatheral 2004): total variance w(k) = a + b * (rho * (k - m) + sqrt((k - m)^2 + sigma^2)), k = ln(K/F),
w = iv^2 * T. The fit is parameterized so its box bounds enforce w >= 0 everywhere and Lee's (2004) wing bound
b * (1 + |rho|) <= 2; Durrleman's density condition g(k) >= 0 is checked, not imposed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl
from scipy.optimize import least_squares

MIN_POINTS = 5  # five SVI parameters
OUTLIER_MADS = 5.0  # residuals further than this many robust sigmas from the median are rejected
MIN_OUTLIER_VOL = 0.005  # ... but never closer than half a vol point (a near-perfect fit has a tiny MAD)
MAX_REFITS = 5
QUASI_EXPLICIT_GRID = 9  # (m, sigma) points per axis of the starting-point search
_MAD_TO_SIGMA = 1.4826


@dataclass(frozen=True)
class SmileFit:
    """One expiry's raw SVI parameters, its forward and time, and which input quotes the fit rejected."""

    a: float
    b: float
    rho: float
    m: float
    sigma: float
    forward: float
    tte_years: float
    rejected: np.ndarray
    rmse_vol: float

    def total_variance(self, k: np.ndarray) -> np.ndarray:
        """SVI total implied variance at log-moneyness k."""
        x = np.asarray(k, dtype=np.float64) - self.m
        return self.a + self.b * (self.rho * x + np.sqrt(x * x + self.sigma**2))

    def iv(self, strikes: np.ndarray) -> np.ndarray:
        """Fitted implied vol (decimal) at any strike."""
        k = np.log(np.asarray(strikes, dtype=np.float64) / self.forward)
        return np.sqrt(np.maximum(self.total_variance(k), 0.0) / self.tte_years)

    def butterfly_free(self, k: np.ndarray) -> bool:
        """Durrleman's condition g(k) >= 0 on the given log-moneyness points (a non-negative implied density)."""
        x = np.asarray(k, dtype=np.float64) - self.m
        root = np.sqrt(x * x + self.sigma**2)
        w = self.total_variance(k)
        w1 = self.b * (self.rho + x / root)
        w2 = self.b * self.sigma**2 / root**3
        g = (1 - np.asarray(k) * w1 / (2 * w)) ** 2 - w1**2 / 4 * (1 / w + 0.25) + w2 / 2
        return bool(np.all(g >= -1e-10))


def _svi_params(x: np.ndarray) -> tuple[float, float, float, float, float]:
    """Raw (a, b, rho, m, sigma) from the fit's box-bounded variables (w_min, wing_share, rho, m, sigma)."""
    w_min, wing_share, rho, m, sigma = x
    b = 2.0 * wing_share / (1.0 + abs(rho))
    return w_min - b * sigma * np.sqrt(1.0 - rho * rho), b, rho, m, sigma


def _svi_iv(x: np.ndarray, k: np.ndarray, tte_years: float) -> np.ndarray:
    a, b, rho, m, sigma = _svi_params(x)
    w = a + b * (rho * (k - m) + np.sqrt((k - m) ** 2 + sigma**2))
    return np.sqrt(np.maximum(w, 0.0) / tte_years)


def _svi_iv_jacobian(x: np.ndarray, k: np.ndarray, tte_years: float) -> np.ndarray:
    """d iv / d (w_min, wing_share, rho, m, sigma) in closed form: ~5x fewer model calls than finite differences.

    With root = sqrt((k - m)^2 + sigma^2) and a = w_min - b sigma sqrt(1 - rho^2), b = 2 wing_share / (1 + |rho|),
    the chain rule through w = a + b (rho (k - m) + root) and iv = sqrt(w / T) gives each column.
    """
    _, wing_share, rho, m, sigma = x
    a, b, _, _, _ = _svi_params(x)
    shifted = k - m
    root = np.sqrt(shifted * shifted + sigma * sigma)
    tilt = np.sqrt(1.0 - rho * rho)
    wing = rho * shifted + root
    w = a + b * wing
    db_dshare = 2.0 / (1.0 + abs(rho))
    db_drho = -wing_share * db_dshare * np.sign(rho) / (1.0 + abs(rho))
    dw = np.stack([np.ones_like(k),
                   db_dshare * (wing - sigma * tilt),
                   db_drho * (wing - sigma * tilt) + b * (shifted + sigma * rho / tilt),
                   -b * (rho + shifted / root),
                   b * (sigma / root - tilt)], axis=1)
    positive = w > 0
    div_dw = np.where(positive, 0.5 / np.sqrt(np.where(positive, w, 1.0) * tte_years), 0.0)
    return dw * div_dw[:, None]


def _least_squares_svi(k: np.ndarray, iv: np.ndarray, weights: np.ndarray, tte_years: float,
                       start: np.ndarray | None = None) -> np.ndarray:
    """Best of a few starting points (or one warm start); residuals in vol units so the wings do not dominate as
    they would in total-variance units."""
    w_floor = float(np.min(iv) ** 2 * tte_years)
    k_span = float(np.ptp(k)) + 1e-3
    lower = np.array([0.0, 0.0, -0.999, float(k.min()) - k_span, 1e-4])
    upper = np.array([np.inf, 1.0, 0.999, float(k.max()) + k_span, 2.0 * k_span + 1.0])
    if start is None:
        start = _quasi_explicit_start(k, iv, weights, tte_years, w_floor, k_span)
    fit = least_squares(lambda x: weights * (_svi_iv(x, k, tte_years) - iv), np.clip(start, lower, upper),
                        jac=lambda x: weights[:, None] * _svi_iv_jacobian(x, k, tte_years),
                        bounds=(lower, upper), loss="soft_l1", f_scale=MIN_OUTLIER_VOL)
    return fit.x


def _quasi_explicit_start(k: np.ndarray, iv: np.ndarray, weights: np.ndarray, tte_years: float, w_floor: float,
                          k_span: float) -> np.ndarray:
    """A global starting point: for each (m, sigma) on a grid, total variance w = a + d y + c sqrt(y^2 + 1) with
    y = (k - m) / sigma is linear in (a, d, c) (the quasi-explicit SVI of Zeliade / De Marco & Martini 2009);
    the best admissible grid point (c > 0, |d| <= c) in vol-weighted residuals, in the fit's variables."""
    total = iv * iv * tte_years
    scale = weights / (2.0 * np.maximum(iv, 1e-4) * tte_years)  # dw ~ 2 iv T d(iv): residuals in vol units
    best, best_x = np.inf, np.array([0.9 * w_floor, 0.1, -0.5, float(k[np.argmin(iv)]), 0.1 * k_span])
    for m in np.linspace(k.min(), k.max(), QUASI_EXPLICIT_GRID):
        for sigma in np.geomspace(0.02, 1.0, QUASI_EXPLICIT_GRID) * k_span:
            y = (k - m) / sigma
            design = np.stack([np.ones_like(y), y, np.sqrt(y * y + 1.0)], axis=1) * scale[:, None]
            (a, d, c), *_ = np.linalg.lstsq(design, total * scale, rcond=None)
            if c <= 0 or abs(d) > c:
                continue
            cost = float(np.sum((design @ np.array([a, d, c]) - total * scale) ** 2))
            if cost < best:
                b, rho = c / sigma, d / c
                best, best_x = cost, np.array([a + c * np.sqrt(1 - rho * rho), b * (1 + abs(rho)) / 2, rho, m, sigma])
    return best_x


def _outliers(residual: np.ndarray) -> np.ndarray:
    """Residuals further than OUTLIER_MADS robust sigmas (floored at MIN_OUTLIER_VOL) from their median."""
    centre = np.median(residual)
    spread = _MAD_TO_SIGMA * np.median(np.abs(residual - centre))
    return np.abs(residual - centre) > max(OUTLIER_MADS * spread, MIN_OUTLIER_VOL)


def fit_smile(strikes, ivs, forward: float, tte_years: float, weights=None) -> SmileFit:
    """Robust raw-SVI fit of one expiry's implied vols (decimals); quotes without a positive iv are rejected.

    Iteratively refits on the quotes kept after rejecting residuals beyond OUTLIER_MADS robust sigmas.
    Raises ValueError with fewer than MIN_POINTS usable quotes.
    """
    strikes, ivs = np.asarray(strikes, dtype=np.float64), np.asarray(ivs, dtype=np.float64)
    weights = np.ones_like(ivs) if weights is None else np.asarray(weights, dtype=np.float64)
    k = np.log(strikes / forward)
    usable = np.isfinite(ivs) & (ivs > 0) & np.isfinite(k) & (weights > 0)
    kept, x = usable.copy(), None
    for _ in range(MAX_REFITS):
        if kept.sum() < MIN_POINTS:
            raise ValueError(f"SVI needs {MIN_POINTS} usable quotes, got {int(kept.sum())}")
        x = _least_squares_svi(k[kept], ivs[kept], weights[kept], tte_years, start=x)  # refits start warm
        residual = _svi_iv(x, k, tte_years) - ivs
        inliers = usable.copy()
        inliers[usable] = ~_outliers(residual[usable])
        if np.array_equal(inliers, kept):
            break
        kept = inliers
    rmse = float(np.sqrt(np.mean(residual[inliers] ** 2)))
    return SmileFit(*_svi_params(x), forward=forward, tte_years=tte_years, rejected=~inliers, rmse_vol=rmse)


def fit_smiles(quotes: pl.DataFrame) -> pl.DataFrame:
    """Fit every expiry's smile: ``expiry, strike, right, iv_market, iv_fit, rejected`` per input row.

    ``quotes`` has ``expiry, strike, right, iv, tte_years, forward`` (one forward and time per expiry) and an
    optional ``weight``. iv_fit fills gaps (defined wherever the expiry could be fitted, null otherwise);
    rejected marks quotes the fit did not use (no positive iv, or an outlier).
    """
    if "weight" not in quotes.columns:
        quotes = quotes.with_columns(pl.lit(1.0).alias("weight"))
    fitted = [_fit_expiry(rows) for _, rows in sorted(quotes.partition_by("expiry", as_dict=True).items())]
    columns = {"expiry": quotes.schema["expiry"], "strike": pl.Float64, "right": pl.String,
               "iv_market": pl.Float64, "iv_fit": pl.Float64, "rejected": pl.Boolean}
    return pl.concat(fitted) if fitted else pl.DataFrame(schema=columns)


def _fit_expiry(rows: pl.DataFrame) -> pl.DataFrame:
    """One expiry's rows with the fitted vol; an expiry with too few quotes gets a null fit, all quotes rejected."""
    ivs, strikes = rows["iv"].cast(pl.Float64).fill_null(np.nan).to_numpy(), rows["strike"].to_numpy()
    try:
        fit = fit_smile(strikes, ivs, rows["forward"][0], rows["tte_years"][0],
                        rows["weight"].cast(pl.Float64).fill_null(0.0).to_numpy())
        iv_fit, rejected = fit.iv(strikes), fit.rejected
    except ValueError:
        iv_fit, rejected = np.full(rows.height, np.nan), np.ones(rows.height, dtype=bool)
    return rows.select("expiry", pl.col("strike").cast(pl.Float64), "right",
                       pl.col("iv").cast(pl.Float64).alias("iv_market")).with_columns(
        pl.Series("iv_fit", iv_fit).fill_nan(None), pl.Series("rejected", rejected))
