"""The SVI fit's closed-form Jacobian against central finite differences of the model itself."""

import numpy as np
import pytest

from spy_gamma.quant.smile import _svi_iv, _svi_iv_jacobian


@pytest.mark.parametrize("x", [
    [0.002, 0.15, -0.6, 0.01, 0.05],   # typical equity skew
    [0.0005, 0.4, 0.3, -0.02, 0.2],    # positive rho, wide
    [0.01, 0.05, -0.95, 0.0, 0.001],   # steep, nearly kinked at m
])
def test_jacobian_matches_central_differences(x):
    k, tte, x = np.linspace(-0.25, 0.15, 41), 0.08, np.array(x)
    step = 1e-7
    numeric = np.stack([(_svi_iv(x + h, k, tte) - _svi_iv(x - h, k, tte)) / (2 * step)
                        for h in np.eye(5) * step], axis=1)
    np.testing.assert_allclose(_svi_iv_jacobian(x, k, tte), numeric, rtol=1e-5, atol=1e-6 * np.abs(numeric).max())
