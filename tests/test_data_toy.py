"""Tests of course_lib.data.toy: Gaussian mixtures (against SciPy), the ring/grid benchmarks and mode coverage."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import integrate, stats
from scipy.special import logsumexp

from course_lib.data import (
    GaussianMixture1D,
    GaussianMixture2D,
    grid_of_gaussians,
    mode_coverage,
    ring_of_gaussians,
)

MEANS = [-2.0, 0.5, 3.0]
STDS = [0.5, 0.3, 1.2]
WEIGHTS = [1.0, 2.0, 1.0]          # unnormalised on purpose: [0.25, 0.5, 0.25]
PI = np.array(WEIGHTS) / sum(WEIGHTS)


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def scipy_pdf_1d(x: np.ndarray) -> np.ndarray:
    return sum(p * stats.norm(m, s).pdf(x) for p, m, s in zip(PI, MEANS, STDS))


def scipy_cdf_1d(x: np.ndarray) -> np.ndarray:
    return sum(p * stats.norm(m, s).cdf(x) for p, m, s in zip(PI, MEANS, STDS))


@pytest.fixture
def mix64() -> GaussianMixture1D:
    return GaussianMixture1D(torch.tensor(MEANS, dtype=torch.float64), torch.tensor(STDS, dtype=torch.float64),
                             torch.tensor(WEIGHTS, dtype=torch.float64))


# ----------------------------------------------------------------------------------------------------------------------
# GaussianMixture1D
# ----------------------------------------------------------------------------------------------------------------------
def test_1d_weights_normalised_and_defaults():
    m = GaussianMixture1D(MEANS, STDS, WEIGHTS)
    assert m.weights.dtype == torch.float32 and m.means.dtype == torch.float32
    torch.testing.assert_close(m.weights, torch.tensor(PI, dtype=torch.float32))
    eq = GaussianMixture1D(MEANS, STDS)
    torch.testing.assert_close(eq.weights, torch.full((3,), 1 / 3))
    assert m.n_components == 3
    assert "GaussianMixture1D" in repr(m)


def test_1d_pdf_integrates_to_one(mix64):
    total, _ = integrate.quad(lambda t: float(mix64.pdf(torch.tensor(t, dtype=torch.float64))), -np.inf, np.inf,
                              points=None, limit=200)
    assert total == pytest.approx(1.0, abs=1e-8)


def test_1d_pdf_log_prob_cdf_match_scipy(mix64):
    x = np.linspace(-6, 8, 301)
    xt = torch.tensor(x, dtype=torch.float64)
    np.testing.assert_allclose(mix64.pdf(xt).numpy(), scipy_pdf_1d(x), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(mix64.cdf(xt).numpy(), scipy_cdf_1d(x), rtol=1e-12, atol=1e-15)
    ref_log = logsumexp(np.stack([np.log(p) + stats.norm(m, s).logpdf(x) for p, m, s in zip(PI, MEANS, STDS)]), axis=0)
    np.testing.assert_allclose(mix64.log_prob(xt).numpy(), ref_log, rtol=1e-12)


def test_1d_log_prob_finite_where_pdf_underflows(mix64):
    x = torch.tensor([-80.0, 90.0], dtype=torch.float64)
    assert (mix64.pdf(x) == 0).all()                                   # the density underflows...
    ref = logsumexp(np.stack([np.log(p) + stats.norm(m, s).logpdf(x.numpy()) for p, m, s in zip(PI, MEANS, STDS)]),
                    axis=0)
    np.testing.assert_allclose(mix64.log_prob(x).numpy(), ref, rtol=1e-12)   # ...its log does not


def test_1d_shapes_and_dtypes():
    m = GaussianMixture1D(MEANS, STDS, WEIGHTS)                         # float32 parameters
    x = torch.linspace(-1, 1, 12).reshape(3, 4)
    for fn in (m.pdf, m.log_prob, m.cdf):
        assert fn(x).shape == (3, 4)
        assert fn(x).dtype == torch.float32
        assert fn(x.double()).dtype == torch.float64                   # dtype follows the input
        assert fn(0.5).shape == ()                                     # a Python float works
        assert fn(torch.tensor([0, 1])).dtype == torch.float32         # integer input -> parameter dtype
    torch.testing.assert_close(m.pdf(x.double()), torch.tensor(scipy_pdf_1d(x.double().numpy())), rtol=1e-6, atol=0)


def test_1d_cdf_limits(mix64):
    x = torch.tensor([-1e3, 1e3], dtype=torch.float64)
    torch.testing.assert_close(mix64.cdf(x), torch.tensor([0.0, 1.0], dtype=torch.float64))


def test_1d_sample_moments_and_distribution(mix64):
    n = 200_000
    x = mix64.sample(n, generator=gen(1))
    assert x.shape == (n,) and x.dtype == torch.float64
    mean = float((PI * np.array(MEANS)).sum())
    var = float((PI * (np.array(STDS) ** 2 + np.array(MEANS) ** 2)).sum() - mean**2)
    assert float(mix64.mean) == pytest.approx(mean, rel=1e-12)
    assert float(mix64.variance) == pytest.approx(var, rel=1e-12)
    se = math.sqrt(var / n)
    assert abs(float(x.mean()) - mean) < 5 * se
    assert float(x.var()) == pytest.approx(var, rel=0.02)
    ks = stats.kstest(x.numpy(), scipy_cdf_1d)
    assert ks.pvalue > 1e-3, ks


def test_1d_sample_default_dtype_and_reproducible():
    m = GaussianMixture1D(MEANS, STDS, WEIGHTS)
    a, b = m.sample(1000, gen(7)), m.sample(1000, gen(7))
    assert a.dtype == torch.float32 and a.shape == (1000,)
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert not torch.equal(a, m.sample(1000, gen(8)))
    assert m.sample(0, gen(0)).shape == (0,)
    assert m.sample(5).shape == (5,)                                   # global RNG when no generator


def test_1d_zero_weight_component_never_sampled():
    m = GaussianMixture1D([-10.0, 10.0], [0.1, 0.1], weights=[0.0, 3.0])
    x = m.sample(5000, gen(0))
    assert (x > 5).all()
    assert float(m.pdf(torch.tensor(-10.0))) == 0.0


@pytest.mark.parametrize(
    "kwargs, err",
    [
        (dict(means=[0.0, 1.0], stds=[1.0]), ValueError),                       # lengths differ
        (dict(means=[0.0, 1.0], stds=[1.0, 0.0]), ValueError),                  # std = 0
        (dict(means=[0.0, 1.0], stds=[1.0, -1.0]), ValueError),                 # std < 0
        (dict(means=[0.0, 1.0], stds=[1.0, 1.0], weights=[1.0, -0.5]), ValueError),
        (dict(means=[0.0, 1.0], stds=[1.0, 1.0], weights=[0.0, 0.0]), ValueError),
        (dict(means=[0.0, 1.0], stds=[1.0, 1.0], weights=[1.0]), ValueError),
        (dict(means=[], stds=[]), ValueError),
        (dict(means=[[0.0], [1.0]], stds=[1.0, 1.0]), ValueError),              # 2-D means
        (dict(means=[0.0, float("nan")], stds=[1.0, 1.0]), ValueError),
        (dict(means="abc", stds=[1.0]), TypeError),
        (dict(means=[0.0], stds=None), TypeError),
    ],
)
def test_1d_bad_parameters(kwargs, err):
    with pytest.raises(err):
        GaussianMixture1D(**kwargs)


def test_1d_bad_sample_args():
    m = GaussianMixture1D([0.0], [1.0])
    with pytest.raises(ValueError, match="n must be >= 0"):
        m.sample(-1)
    with pytest.raises(TypeError, match="n must be an int"):
        m.sample(2.0)
    with pytest.raises(TypeError, match="n must be an int"):
        m.sample(True)
    with pytest.raises(TypeError, match="generator"):
        m.sample(3, generator=0)
    with pytest.raises(TypeError):
        m.pdf("x")


# ----------------------------------------------------------------------------------------------------------------------
# GaussianMixture2D
# ----------------------------------------------------------------------------------------------------------------------
MEANS2 = [[-1.0, 0.0], [1.0, 0.5], [0.0, -1.5]]
STDS2 = [0.3, 0.5, 0.4]
W2 = [0.2, 0.5, 0.3]


@pytest.fixture
def mix2() -> GaussianMixture2D:
    return GaussianMixture2D(torch.tensor(MEANS2, dtype=torch.float64), torch.tensor(STDS2, dtype=torch.float64),
                             torch.tensor(W2, dtype=torch.float64))


def scipy_pdf_2d(xy: np.ndarray) -> np.ndarray:
    return sum(w * stats.multivariate_normal(m, s**2 * np.eye(2)).pdf(xy) for w, m, s in zip(W2, MEANS2, STDS2))


def test_2d_pdf_matches_scipy_and_shapes(mix2):
    rng = np.random.default_rng(0)
    xy = rng.normal(size=(4, 5, 2)) * 1.5
    out = mix2.pdf(torch.tensor(xy))
    assert out.shape == (4, 5) and out.dtype == torch.float64
    np.testing.assert_allclose(out.numpy(), scipy_pdf_2d(xy), rtol=1e-12)
    np.testing.assert_allclose(mix2.log_prob(torch.tensor(xy)).numpy(), np.log(scipy_pdf_2d(xy)), rtol=1e-12)
    assert mix2.pdf([0.0, 0.0]).shape == ()


def test_2d_pdf_integrates_to_one(mix2):
    t = torch.linspace(-5, 5, 801, dtype=torch.float64)
    gx, gy = torch.meshgrid(t, t, indexing="ij")
    p = mix2.pdf(torch.stack([gx, gy], dim=-1))                         # (801, 801)
    total = torch.trapezoid(torch.trapezoid(p, t, dim=1), t)
    assert float(total) == pytest.approx(1.0, abs=1e-7)


def test_2d_sample_weights_and_spread(mix2):
    n = 60_000
    xy = mix2.sample(n, gen(3))
    assert xy.shape == (n, 2) and xy.dtype == torch.float64
    # Component of origin is recoverable in expectation: the sample mean is sum_k pi_k mu_k.
    mean = (np.array(W2)[:, None] * np.array(MEANS2)).sum(0)
    np.testing.assert_allclose(xy.mean(0).numpy(), mean, atol=0.02)
    # Second moment: E||x||^2 = sum_k pi_k (||mu_k||^2 + 2 sigma_k^2).
    m2 = float((np.array(W2) * ((np.array(MEANS2) ** 2).sum(1) + 2 * np.array(STDS2) ** 2)).sum())
    assert float((xy**2).sum(1).mean()) == pytest.approx(m2, rel=0.02)


def test_2d_std_forms_and_modes():
    m = GaussianMixture2D(MEANS2, 0.1)
    assert m.stds.shape == (3,) and torch.all(m.stds == 0.1)
    assert m.modes.shape == (3, 2) and m.modes.dtype == torch.float32
    modes = m.modes
    modes += 1.0                                                        # a copy: the mixture is unchanged
    torch.testing.assert_close(m.means, torch.tensor(MEANS2))
    torch.testing.assert_close(m.weights, torch.full((3,), 1 / 3))


@pytest.mark.parametrize(
    "means, std, weights, err",
    [
        ([[0.0, 0.0, 0.0]], 0.1, None, ValueError),            # not (K, 2)
        ([0.0, 0.0], 0.1, None, ValueError),                   # 1-D
        (np.zeros((0, 2)), 0.1, None, ValueError),             # K = 0
        (MEANS2, 0.0, None, ValueError),
        (MEANS2, [0.1, 0.2], None, ValueError),                # wrong std length
        (MEANS2, [0.1, -0.2, 0.3], None, ValueError),
        (MEANS2, True, None, TypeError),
        (MEANS2, 0.1, [1.0, 1.0], ValueError),
        (MEANS2, 0.1, [1.0, -1.0, 1.0], ValueError),
    ],
)
def test_2d_bad_parameters(means, std, weights, err):
    with pytest.raises(err):
        GaussianMixture2D(means, std, weights)


def test_2d_bad_points(mix2):
    with pytest.raises(ValueError, match=r"\(\.\.\., 2\)"):
        mix2.pdf(torch.zeros(4, 3, dtype=torch.float64))
    with pytest.raises(ValueError):
        mix2.log_prob(torch.tensor(1.0))


# ----------------------------------------------------------------------------------------------------------------------
# Benchmarks
# ----------------------------------------------------------------------------------------------------------------------
def test_ring_geometry_and_samples():
    ring = ring_of_gaussians()
    assert ring.n_components == 8 and torch.all(ring.stds == 0.02)
    k = np.arange(8)
    expected = 2.0 * np.stack([np.cos(2 * np.pi * k / 8), np.sin(2 * np.pi * k / 8)], 1)
    np.testing.assert_allclose(ring.modes.numpy(), expected, atol=1e-6)
    xy = ring.sample(20_000, gen(0))
    r = xy.norm(dim=1)
    assert float(r.mean()) == pytest.approx(2.0, abs=2e-3)
    assert float((r - 2.0).abs().max()) < 6 * 0.02                     # nothing far from the circle
    ring2 = ring_of_gaussians(n_modes=5, radius=1.0, std=0.01)
    np.testing.assert_allclose(ring2.modes.norm(dim=1).numpy(), 1.0, atol=1e-6)
    assert ring_of_gaussians(radius=0.0).modes.abs().max() == 0


def test_grid_geometry():
    grid = grid_of_gaussians()
    assert grid.n_components == 25 and torch.all(grid.stds == 0.05)
    want = {(float(a), float(b)) for a in (-4, -2, 0, 2, 4) for b in (-4, -2, 0, 2, 4)}
    assert {tuple(row) for row in grid.modes.tolist()} == want
    torch.testing.assert_close(grid.modes[1], torch.tensor([-4.0, -2.0]))   # row-major: mode i*n+j at (x_i, y_j)
    g4 = grid_of_gaussians(n_side=4, spacing=1.0)
    assert sorted({x for x, _ in g4.modes.tolist()}) == [-1.5, -0.5, 0.5, 1.5]


@pytest.mark.parametrize("call", [
    lambda: ring_of_gaussians(n_modes=0), lambda: ring_of_gaussians(n_modes=2.5), lambda: ring_of_gaussians(radius=-1),
    lambda: ring_of_gaussians(std=0), lambda: grid_of_gaussians(n_side=0), lambda: grid_of_gaussians(spacing=0),
    lambda: grid_of_gaussians(std=-0.1), lambda: ring_of_gaussians(n_modes=True),
])
def test_benchmark_bad_args(call):
    with pytest.raises(ValueError):
        call()


# ----------------------------------------------------------------------------------------------------------------------
# mode_coverage
# ----------------------------------------------------------------------------------------------------------------------
def slow_mode_coverage(samples: np.ndarray, modes: np.ndarray, stds: np.ndarray, n_std: float, min_count: int):
    """Reference: the per-sample loop of PacGAN's MetricLogger (standardised distance, nearest mode, threshold)."""
    counts = np.zeros(len(modes), dtype=np.int64)
    good = 0
    for x in samples:
        best, best_k = math.inf, -1
        for k, (m, s) in enumerate(zip(modes, stds)):
            d = math.sqrt(((x - m) ** 2).sum()) / s
            if d < best:
                best, best_k = d, k
        if best <= n_std:
            counts[best_k] += 1
            good += 1
    return int((counts >= min_count).sum()), good / len(samples), counts


def test_coverage_all_modes_one_mode_and_junk():
    ring = ring_of_gaussians()
    exact = mode_coverage(ring.modes, ring)
    assert exact["modes_covered"] == 8 and exact["n_modes"] == 8
    assert exact["high_quality_fraction"] == 1.0
    assert exact["counts"].tolist() == [1] * 8 and exact["counts"].dtype == torch.int64

    collapsed = ring.modes[3] + 0.01 * torch.randn(500, 2, generator=gen(0))   # noise of sigma / 2 around mode 3
    res = mode_coverage(collapsed, ring)
    assert res["modes_covered"] == 1 and res["counts"][3] == res["counts"].sum()

    junk = torch.zeros(100, 2)                                          # the ring's centre: 100 sigma from every mode
    res = mode_coverage(junk, ring)
    assert res["modes_covered"] == 0 and res["high_quality_fraction"] == 0.0 and res["counts"].sum() == 0

    mixed = torch.cat([ring.modes.repeat(5, 1), torch.full((40, 2), 10.0)])   # 40 good, 40 junk
    res = mode_coverage(mixed, ring)
    assert res["modes_covered"] == 8 and res["high_quality_fraction"] == 0.5


def test_coverage_threshold_is_inclusive():
    mix = GaussianMixture2D(torch.tensor([[0.0, 0.0], [10.0, 0.0]], dtype=torch.float64), 0.25)
    at = torch.tensor([[0.75, 0.0]], dtype=torch.float64)               # exactly 3 sigma
    beyond = torch.tensor([[0.7500001, 0.0]], dtype=torch.float64)
    assert mode_coverage(at, mix)["modes_covered"] == 1
    assert mode_coverage(beyond, mix)["modes_covered"] == 0
    assert mode_coverage(beyond, mix, n_std=3.01)["modes_covered"] == 1


def test_coverage_min_count():
    ring = ring_of_gaussians()
    pts = torch.cat([ring.modes[0].repeat(3, 1), ring.modes[1].repeat(2, 1), ring.modes[2:3]])
    assert mode_coverage(pts, ring)["modes_covered"] == 3
    assert mode_coverage(pts, ring, min_count=2)["modes_covered"] == 2
    assert mode_coverage(pts, ring, min_count=3)["modes_covered"] == 1
    assert mode_coverage(pts, ring, min_count=4)["modes_covered"] == 0


def test_coverage_matches_slow_loop_with_unequal_stds():
    mix = GaussianMixture2D([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0]], [0.1, 1.0, 0.3])
    pts = torch.randn(400, 2, generator=gen(5)) * 1.2 + 0.5
    pts[0] = torch.tensor([0.45, 0.0])        # Euclidean-nearest is mode 0, standardised-nearest is mode 1
    for n_std, min_count in [(3.0, 1), (1.0, 1), (2.0, 5)]:
        res = mode_coverage(pts, mix, n_std=n_std, min_count=min_count)
        covered, frac, counts = slow_mode_coverage(pts.double().numpy(), mix.means.double().numpy(),
                                                   mix.stds.double().numpy(), n_std, min_count)
        assert res["modes_covered"] == covered
        assert res["high_quality_fraction"] == pytest.approx(frac, abs=1e-12)
        assert res["counts"].tolist() == counts.tolist()
    one = mode_coverage(pts[:1], mix)
    assert one["counts"].tolist() == [0, 1, 0]


def test_coverage_of_true_samples_matches_chi_square():
    # For an isotropic 2-D Gaussian, ||x - mu||^2 / sigma^2 ~ chi^2_2, so P(within 3 sigma) = 1 - exp(-9/2).
    grid = grid_of_gaussians()
    n = 100_000
    res = mode_coverage(grid.sample(n, gen(11)), grid)
    p = 1 - math.exp(-4.5)
    assert res["modes_covered"] == 25
    assert abs(res["high_quality_fraction"] - p) < 5 * math.sqrt(p * (1 - p) / n)
    assert stats.chisquare(res["counts"].numpy()).pvalue > 1e-3        # equal weights -> equal counts


def test_coverage_nonfinite_samples_are_low_quality():
    ring = ring_of_gaussians()
    pts = torch.cat([ring.modes, torch.full((8, 2), float("nan")), torch.full((8, 2), float("inf"))])
    res = mode_coverage(pts, ring)
    assert res["modes_covered"] == 8 and res["high_quality_fraction"] == pytest.approx(1 / 3)


def test_coverage_1d_mixture():
    m = GaussianMixture1D([-3.0, 0.0, 3.0], [0.1, 0.1, 0.1])
    res = mode_coverage(torch.tensor([-3.0, -2.95, 0.25, 5.0]), m)
    assert res["counts"].tolist() == [2, 1, 0] and res["modes_covered"] == 2
    assert res["high_quality_fraction"] == 0.75
    assert mode_coverage(torch.tensor([[-3.0]]), m)["modes_covered"] == 1


def test_coverage_bad_inputs():
    ring = ring_of_gaussians()
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        mode_coverage(torch.zeros(5, 3), ring)
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        mode_coverage(torch.zeros(10), ring)
    with pytest.raises(ValueError, match="empty"):
        mode_coverage(torch.zeros(0, 2), ring)
    with pytest.raises(ValueError, match="n_std"):
        mode_coverage(ring.modes, ring, n_std=0)
    with pytest.raises(ValueError, match="min_count"):
        mode_coverage(ring.modes, ring, min_count=0)
    with pytest.raises(TypeError, match="samples"):
        mode_coverage(ring.modes.numpy(), ring)
    with pytest.raises(TypeError, match="mixture"):
        mode_coverage(ring.modes, "ring")
    with pytest.raises(ValueError):
        mode_coverage(torch.zeros(4, 2), GaussianMixture1D([0.0], [1.0]))
