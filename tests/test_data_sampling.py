"""Tests of course_lib.data.sampling: the trapezoid CDF against SciPy, inverse transform sampling by KS tests."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import integrate, stats

from course_lib.data import inverse_transform_sample, numeric_cdf


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ----------------------------------------------------------------------------------------------------------------------
# numeric_cdf
# ----------------------------------------------------------------------------------------------------------------------
def test_numeric_cdf_matches_scipy_cumulative_trapezoid():
    rng = np.random.default_rng(0)
    grid = np.sort(rng.uniform(-3, 4, size=200))                       # non-uniform spacing
    pdf = np.exp(-grid**2) + 0.3 * np.exp(-((grid - 2) ** 2) / 0.1)
    ref = integrate.cumulative_trapezoid(pdf, grid, initial=0.0)
    ref /= ref[-1]
    out = numeric_cdf(torch.tensor(pdf), torch.tensor(grid))
    assert out.dtype == torch.float64 and out.shape == (200,)
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-13, atol=1e-15)


def test_numeric_cdf_properties_and_scale_invariance():
    grid = torch.linspace(0, 1, 50)
    pdf = torch.rand(50, generator=gen(1))
    out = numeric_cdf(pdf, grid)
    assert out.dtype == torch.float32
    assert out[0] == 0.0 and out[-1] == 1.0
    assert torch.all(out[1:] >= out[:-1])
    torch.testing.assert_close(numeric_cdf(123.0 * pdf, grid), out)


def test_numeric_cdf_two_points_and_integer_inputs():
    out = numeric_cdf(torch.tensor([1, 3]), torch.tensor([0, 2]))
    assert out.dtype == torch.get_default_dtype()
    assert out.tolist() == [0.0, 1.0]
    # A density that is zero on a middle cell gives a flat CDF there.
    out = numeric_cdf(torch.tensor([1.0, 0.0, 0.0, 1.0]), torch.tensor([0.0, 1.0, 2.0, 3.0]))
    torch.testing.assert_close(out, torch.tensor([0.0, 0.5, 0.5, 1.0]))
    assert numeric_cdf(np.array([1.0, 1.0, 1.0]), [0.0, 1.0, 3.0]).tolist() == [0.0, pytest.approx(1 / 3), 1.0]


@pytest.mark.parametrize(
    "pdf, grid, err, match",
    [
        (torch.ones(2, 3), torch.ones(2, 3), ValueError, "1-D"),
        (torch.ones(3), torch.arange(4.0), ValueError, "same length"),
        (torch.ones(1), torch.zeros(1), ValueError, "at least 2"),
        (torch.ones(3), torch.tensor([0.0, 1.0, 1.0]), ValueError, "strictly increasing"),
        (torch.ones(3), torch.tensor([0.0, 2.0, 1.0]), ValueError, "strictly increasing"),
        (torch.tensor([1.0, -0.1, 1.0]), torch.arange(3.0), ValueError, ">= 0"),
        (torch.tensor([1.0, float("nan"), 1.0]), torch.arange(3.0), ValueError, "finite"),
        (torch.tensor([1.0, 1.0]), torch.tensor([0.0, float("inf")]), ValueError, "finite"),
        (torch.zeros(5), torch.arange(5.0), ValueError, "zero total mass"),
        (torch.tensor([1.0, 0.0, 0.0]), torch.arange(3.0), ValueError, None),   # positive mass: fine -> no error
        ("abc", torch.arange(3.0), TypeError, "pdf_values"),
        (torch.ones(3, dtype=torch.bool), torch.arange(3.0), TypeError, "real numbers"),
    ],
)
def test_numeric_cdf_bad_inputs(pdf, grid, err, match):
    if match is None:
        numeric_cdf(pdf, grid)
        return
    with pytest.raises(err, match=match):
        numeric_cdf(pdf, grid)


# ----------------------------------------------------------------------------------------------------------------------
# inverse_transform_sample
# ----------------------------------------------------------------------------------------------------------------------
def test_uniform_density_returns_the_uniforms_themselves():
    # F(x) = x on [0, 1], so F^{-1}(u) = u: the samples are the very uniforms the generator draws.
    x = inverse_transform_sample(torch.ones(11), torch.linspace(0, 1, 11), 1000, generator=gen(3))
    u = torch.rand(1000, generator=gen(3))
    torch.testing.assert_close(x, u, rtol=0, atol=1e-6)


def test_normal_ks_against_scipy():
    grid = torch.linspace(-8, 8, 4001, dtype=torch.float64)
    pdf = torch.tensor(stats.norm.pdf(grid.numpy()))
    x = inverse_transform_sample(pdf, grid, 20_000, generator=gen(0))
    assert x.shape == (20_000,) and x.dtype == torch.float64
    ks = stats.kstest(x.numpy(), stats.norm.cdf)
    assert ks.pvalue > 1e-3, ks
    assert ks.statistic < 1.95 / np.sqrt(20_000)                         # the alpha = 0.001 critical value
    assert abs(float(x.mean())) < 5 / np.sqrt(20_000)


def test_hand_made_bimodal_ks():
    # p(x) proportional to 0.3 N(-2, 0.5^2) + 0.7 N(1.5, 0.8^2), given unnormalised on a grid.
    def ref_cdf(t):
        return 0.3 * stats.norm.cdf(t, -2, 0.5) + 0.7 * stats.norm.cdf(t, 1.5, 0.8)

    grid = torch.linspace(-6, 7, 2601, dtype=torch.float64)
    g = grid.numpy()
    pdf = 5.0 * (0.3 * stats.norm.pdf(g, -2, 0.5) + 0.7 * stats.norm.pdf(g, 1.5, 0.8))
    x = inverse_transform_sample(torch.tensor(pdf), grid, 20_000, generator=gen(4))
    ks = stats.kstest(x.numpy(), ref_cdf)
    assert ks.pvalue > 1e-3, ks
    assert float((x < 0).double().mean()) == pytest.approx(ref_cdf(0.0), abs=0.015)


def test_piecewise_density_with_gap_exact_cdf_and_no_samples_in_gap():
    # p = tri(x + 2) + 2 tri(x - 2), tri(t) = max(0, 1 - |t|): two triangles of mass 1 and 2, zero on (-1, 1).
    # p is piecewise linear with its kinks on grid points, so the trapezoid rule integrates it exactly.
    def tri_cdf(t):
        t = np.asarray(t, dtype=np.float64)
        left = 0.5 * np.clip(t + 1, 0, 1) ** 2                         # CDF of tri on [-1, 0]
        right = 0.5 - 0.5 * np.clip(1 - t, 0, 1) ** 2                  # ... plus its mass on [0, 1]
        return np.where(t < 0, left, 0.5 + right)

    def ref_cdf(t):
        return (tri_cdf(np.asarray(t) + 2) + 2 * tri_cdf(np.asarray(t) - 2)) / 3

    grid = torch.linspace(-4, 4, 801, dtype=torch.float64)
    g = grid.numpy()
    pdf = np.clip(1 - np.abs(g + 2), 0, None) + 2 * np.clip(1 - np.abs(g - 2), 0, None)
    np.testing.assert_allclose(numeric_cdf(torch.tensor(pdf), grid).numpy(), ref_cdf(g), atol=1e-12)
    x = inverse_transform_sample(torch.tensor(pdf), grid, 30_000, generator=gen(9)).numpy()
    assert not np.any((x > -1) & (x < 1)), "samples in the zero-density gap"
    assert not np.any(x < -3) and not np.any(x > 3), "samples outside the support"
    ks = stats.kstest(x, ref_cdf)
    assert ks.pvalue > 1e-3, ks
    assert float(np.mean(x > 0)) == pytest.approx(2 / 3, abs=0.015)


def test_single_spike_only_samples_its_two_cells():
    grid = torch.tensor([0.0, 1.0, 2.0, 3.0, 4.0, 5.0])
    pdf = torch.tensor([0.0, 0.0, 0.0, 2.0, 0.0, 0.0])
    x = inverse_transform_sample(pdf, grid, 5000, generator=gen(2))
    assert torch.all((x >= 2.0) & (x <= 4.0))
    frac_left = float((x < 3.0).float().mean())
    assert frac_left == pytest.approx(0.5, abs=0.03)                   # each cell carries half of the mass


def test_reproducible_and_range():
    grid = torch.linspace(-1, 2, 31)
    pdf = torch.rand(31, generator=gen(0)) + 0.1
    a = inverse_transform_sample(pdf, grid, 500, generator=gen(5))
    b = inverse_transform_sample(pdf, grid, 500, generator=gen(5))
    c = inverse_transform_sample(pdf, grid, 500, generator=gen(6))
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert not torch.equal(a, c)
    assert a.dtype == torch.float32
    assert float(a.min()) >= -1.0 and float(a.max()) <= 2.0
    assert inverse_transform_sample(pdf, grid, 0).shape == (0,)
    assert inverse_transform_sample(pdf, grid, 7).shape == (7,)        # global RNG


def test_inverse_sample_bad_inputs():
    grid, pdf = torch.arange(4.0), torch.ones(4)
    with pytest.raises(ValueError, match="n must be >= 0"):
        inverse_transform_sample(pdf, grid, -1)
    with pytest.raises(TypeError, match="n must be an int"):
        inverse_transform_sample(pdf, grid, 10.0)
    with pytest.raises(TypeError, match="n must be an int"):
        inverse_transform_sample(pdf, grid, True)
    with pytest.raises(TypeError, match="generator"):
        inverse_transform_sample(pdf, grid, 10, generator=np.random.default_rng(0))
    with pytest.raises(ValueError, match="zero total mass"):
        inverse_transform_sample(torch.zeros(4), grid, 10)
    with pytest.raises(ValueError, match="strictly increasing"):
        inverse_transform_sample(pdf, grid.flip(0), 10)
