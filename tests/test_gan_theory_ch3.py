"""Tests of the chapter 3 additions to course_lib.gan.theory: W1 from CDFs and weighted samples (vs SciPy), WGAN's
Example 1 (vs the closed forms and an exact assignment solver), Pearson chi^2 and LSGAN's Theorem 1, and the
generator's gradient against an optimal discriminator (vs SciPy quadrature and finite differences)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import integrate
from scipy.optimize import linear_sum_assignment
from scipy.stats import chisquare, norm, wasserstein_distance

from course_lib.gan import theory as T

LOG2 = math.log(2.0)
DTYPES = [torch.float32, torch.float64]
TOL = {torch.float32: dict(rtol=1e-5, atol=1e-5), torch.float64: dict(rtol=1e-12, atol=1e-12)}


def _random_distribution(k: int, gen: torch.Generator, dtype: torch.dtype = torch.float64, zeros: int = 0):
    w = -torch.log(torch.rand(k, generator=gen, dtype=torch.float64))  # Dirichlet(1, ..., 1) after normalising
    if zeros:
        w[torch.randperm(k, generator=gen)[:zeros]] = 0.0
    return (w / w.sum()).to(dtype)


# ----------------------------------------------------------------------------------------------------------------
# wasserstein_1d_cdf and wasserstein_1d_weighted
# ----------------------------------------------------------------------------------------------------------------
class TestWasserstein1dCdf:
    @pytest.mark.parametrize("dtype", DTYPES)
    @pytest.mark.parametrize("seed", range(4))
    def test_against_scipy(self, dtype, seed):
        gen = torch.Generator().manual_seed(seed)
        k = 2 + 13 * seed
        support = torch.sort(torch.randn(k, generator=gen, dtype=torch.float64) * 3).values
        p = _random_distribution(k, gen, zeros=seed)
        q = _random_distribution(k, gen)
        ref = wasserstein_distance(support.numpy(), support.numpy(), p.numpy(), q.numpy())
        out = T.wasserstein_1d_cdf(p.to(dtype), q.to(dtype), support.to(dtype))
        assert out.shape == () and out.dtype == dtype
        torch.testing.assert_close(out, torch.tensor(ref, dtype=dtype), **TOL[dtype])

    def test_by_hand(self):
        # all mass at 0 vs all mass at 3 (support 0, 1, 3): |F_p - F_q| = 1 on [0, 3)
        p = torch.tensor([1.0, 0.0, 0.0])
        q = torch.tensor([0.0, 0.0, 1.0])
        x = torch.tensor([0.0, 1.0, 3.0])
        assert T.wasserstein_1d_cdf(p, q, x).item() == 3.0
        # half the mass moves from 0 to 1: W1 = 0.5 * 1
        assert T.wasserstein_1d_cdf(torch.tensor([1.0, 0.0, 0.0]), torch.tensor([0.5, 0.5, 0.0]), x).item() == 0.5

    def test_shift_of_a_histogram_is_the_shift(self):
        # the same histogram shifted by 5 bins of width 0.1 on a uniform grid: W1 = 0.5
        x = torch.arange(40, dtype=torch.float64) * 0.1
        p = torch.zeros(40, dtype=torch.float64)
        p[3:13] = torch.arange(1.0, 11.0, dtype=torch.float64)
        p /= p.sum()
        q = torch.roll(p, 5)
        torch.testing.assert_close(T.wasserstein_1d_cdf(p, q, x), torch.tensor(0.5, dtype=torch.float64))

    def test_symmetric_zero_and_repeated_points(self):
        gen = torch.Generator().manual_seed(1)
        p, q = _random_distribution(6, gen), _random_distribution(6, gen)
        x = torch.tensor([0.0, 1.0, 1.0, 2.0, 4.0, 4.0], dtype=torch.float64)  # repeated points are allowed
        assert T.wasserstein_1d_cdf(p, q, x).item() == pytest.approx(T.wasserstein_1d_cdf(q, p, x).item(), rel=1e-14)
        assert T.wasserstein_1d_cdf(p, p.clone(), x).item() == 0.0
        ref = wasserstein_distance(x.numpy(), x.numpy(), p.numpy(), q.numpy())
        assert T.wasserstein_1d_cdf(p, q, x).item() == pytest.approx(ref, rel=1e-12)

    def test_single_point(self):
        one = torch.tensor([1.0])
        assert T.wasserstein_1d_cdf(one, one, torch.tensor([2.0])).item() == 0.0

    def test_gradient_wrt_support(self):
        # d/dx_2 of W1 between delta_0 and delta_{x_2} (on support (0, x_2)) is 1
        x = torch.tensor([0.0, 2.0], dtype=torch.float64, requires_grad=True)
        T.wasserstein_1d_cdf(torch.tensor([1.0, 0.0], dtype=torch.float64), torch.tensor([0.0, 1.0],
                             dtype=torch.float64), x).backward()
        torch.testing.assert_close(x.grad, torch.tensor([-1.0, 1.0], dtype=torch.float64))

    @pytest.mark.parametrize(
        "support, err, match",
        [
            (torch.tensor([0.0, 2.0, 1.0]), ValueError, "non-decreasing"),
            (torch.tensor([0.0, 1.0]), ValueError, "one point per outcome"),
            (torch.tensor([[0.0, 1.0, 2.0]]), ValueError, "1-D"),
            (torch.tensor([0.0, float("nan"), 2.0]), ValueError, "non-finite"),
            ([0.0, 1.0, 2.0], TypeError, "support must be a torch.Tensor"),
        ],
    )
    def test_bad_support(self, support, err, match):
        p = torch.tensor([0.2, 0.3, 0.5])
        with pytest.raises(err, match=match):
            T.wasserstein_1d_cdf(p, p, support)

    def test_bad_distributions(self):
        x = torch.tensor([0.0, 1.0])
        with pytest.raises(ValueError, match="sum to 1"):
            T.wasserstein_1d_cdf(torch.tensor([0.5, 0.6]), torch.tensor([0.5, 0.5]), x)
        with pytest.raises(ValueError, match="non-negative"):
            T.wasserstein_1d_cdf(torch.tensor([1.5, -0.5]), torch.tensor([0.5, 0.5]), x)


class TestWasserstein1dWeighted:
    @pytest.mark.parametrize("seed", range(4))
    def test_against_scipy_unequal_sizes_and_weights(self, seed):
        gen = torch.Generator().manual_seed(seed)
        n, m = 5 + 7 * seed, 3 + 11 * seed
        x = torch.randn(n, generator=gen, dtype=torch.float64)
        y = torch.randn(m, generator=gen, dtype=torch.float64) * 2 + 1
        a = torch.rand(n, generator=gen, dtype=torch.float64) * 3
        b = torch.rand(m, generator=gen, dtype=torch.float64)
        ref = wasserstein_distance(x.numpy(), y.numpy(), a.numpy(), b.numpy())
        torch.testing.assert_close(T.wasserstein_1d_weighted(x, y, a, b), torch.tensor(ref, dtype=torch.float64))
        ref_unweighted = wasserstein_distance(x.numpy(), y.numpy())
        torch.testing.assert_close(T.wasserstein_1d_weighted(x, y), torch.tensor(ref_unweighted, dtype=torch.float64))

    def test_equal_sizes_matches_wasserstein_1d(self):
        gen = torch.Generator().manual_seed(3)
        x, y = torch.randn(50, generator=gen), torch.rand(50, generator=gen)
        torch.testing.assert_close(T.wasserstein_1d_weighted(x, y), T.wasserstein_1d(x, y))

    def test_ties_between_samples(self):
        x = torch.tensor([0.0, 1.0, 1.0], dtype=torch.float64)
        y = torch.tensor([1.0, 1.0], dtype=torch.float64)
        ref = wasserstein_distance(x.numpy(), y.numpy())
        assert T.wasserstein_1d_weighted(x, y).item() == pytest.approx(ref, rel=1e-14)  # 1/3

    @pytest.mark.parametrize(
        "x_weights, err, match",
        [
            (torch.tensor([1.0, -1.0, 1.0]), ValueError, "non-negative"),
            (torch.zeros(3), ValueError, "positive sum"),
            (torch.ones(2), ValueError, "one weight per sample"),
        ],
    )
    def test_bad_weights(self, x_weights, err, match):
        with pytest.raises(err, match=match):
            T.wasserstein_1d_weighted(torch.zeros(3), torch.ones(2), x_weights)

    def test_bad_samples(self):
        with pytest.raises(ValueError, match="empty"):
            T.wasserstein_1d_weighted(torch.zeros(0), torch.ones(2))
        with pytest.raises(ValueError, match="non-finite"):
            T.wasserstein_1d_weighted(torch.tensor([0.0, float("inf")]), torch.ones(2))


# ----------------------------------------------------------------------------------------------------------------
# WGAN Example 1
# ----------------------------------------------------------------------------------------------------------------
class TestWganExample1:
    THETAS = torch.cat(
        [torch.arange(-20, 21, dtype=torch.float64) / 10, torch.tensor([1e-6, -3e-9, 7.5], dtype=torch.float64)]
    )

    def test_closed_forms_over_theta(self):
        out = T.wgan_example1(self.THETAS, n_points=16)
        assert set(out) == {"theta", "w1", "w1_dual", "js", "kl", "reverse_kl", "tv"}
        nonzero = self.THETAS != 0
        assert nonzero.sum() == len(self.THETAS) - 1  # exactly one theta is 0
        torch.testing.assert_close(out["w1"], self.THETAS.abs(), rtol=1e-12, atol=1e-15)
        torch.testing.assert_close(out["w1_dual"], self.THETAS.abs(), rtol=1e-12, atol=1e-15)
        torch.testing.assert_close(out["js"][nonzero], torch.full((int(nonzero.sum()),), LOG2, dtype=torch.float64))
        assert torch.isinf(out["kl"][nonzero]).all() and (out["kl"][nonzero] > 0).all()
        assert torch.isinf(out["reverse_kl"][nonzero]).all()
        torch.testing.assert_close(out["tv"][nonzero], torch.ones(int(nonzero.sum()), dtype=torch.float64))
        for key in ("w1", "w1_dual", "js", "kl", "reverse_kl", "tv"):
            assert out[key][~nonzero].item() == 0.0, key

    def test_w1_against_exact_assignment(self):
        # the discretised problem has n atoms of mass 1/n on each line: W1 is an assignment problem
        n = 12
        y = (np.arange(n) + 0.5) / n
        for theta in (0.0, 0.05, -0.7, 2.5):
            a = np.stack([np.zeros(n), y], axis=1)
            b = np.stack([np.full(n, theta), y], axis=1)
            cost = np.linalg.norm(a[:, None, :] - b[None, :, :], axis=2)
            rows, cols = linear_sum_assignment(cost)
            ref = cost[rows, cols].mean()
            out = T.wgan_example1(torch.tensor(theta, dtype=torch.float64), n_points=n)
            assert out["w1"].item() == pytest.approx(ref, rel=1e-12, abs=1e-15)

    @pytest.mark.parametrize("n_points", [1, 7, 64])
    def test_independent_of_discretisation(self, n_points):
        out = T.wgan_example1(torch.tensor([0.0, 0.4], dtype=torch.float64), n_points=n_points)
        torch.testing.assert_close(out["w1"], torch.tensor([0.0, 0.4], dtype=torch.float64))
        torch.testing.assert_close(out["js"], torch.tensor([0.0, LOG2], dtype=torch.float64))

    def test_shapes_and_dtypes(self):
        out = T.wgan_example1(0.5)
        assert all(v.shape == () and v.dtype == torch.get_default_dtype() for v in out.values())
        out = T.wgan_example1(torch.tensor([[0.5, -1.0], [0.0, 2.0]], dtype=torch.float32))
        assert all(v.shape == (2, 2) and v.dtype == torch.float32 for v in out.values())
        torch.testing.assert_close(out["tv"], torch.tensor([[1.0, 1.0], [0.0, 1.0]]))
        out = T.wgan_example1(torch.tensor([1, 0]))  # integers promoted
        assert out["w1"].dtype == torch.get_default_dtype()

    @pytest.mark.parametrize(
        "theta, n_points, err, match",
        [
            ("1", 8, TypeError, "theta must be a number"),
            (True, 8, TypeError, "theta must be a number"),
            (float("nan"), 8, ValueError, "finite"),
            (torch.tensor([0.0, float("inf")]), 8, ValueError, "finite"),
            (0.5, 0, ValueError, "n_points"),
            (0.5, 2.0, ValueError, "n_points"),
        ],
    )
    def test_bad_inputs(self, theta, n_points, err, match):
        with pytest.raises(err, match=match):
            T.wgan_example1(theta, n_points=n_points)


# ----------------------------------------------------------------------------------------------------------------
# Pearson chi^2 and LSGAN
# ----------------------------------------------------------------------------------------------------------------
class TestPearsonChi2:
    @pytest.mark.parametrize("seed", range(5))
    def test_against_scipy_chisquare(self, seed):
        gen = torch.Generator().manual_seed(seed)
        k = 2 + 9 * seed
        p = _random_distribution(k, gen, zeros=min(seed, k - 1))
        q = _random_distribution(k, gen)
        ref = chisquare(p.numpy(), q.numpy()).statistic
        out = T.pearson_chi2(p, q)
        assert out.shape == () and out.dtype == torch.float64
        torch.testing.assert_close(out, torch.tensor(ref, dtype=torch.float64), rtol=1e-12, atol=1e-14)
        torch.testing.assert_close(T.pearson_chi2(p.float(), q.float()), torch.tensor(ref, dtype=torch.float32))

    @pytest.mark.parametrize("a, b", [(0.3, 0.6), (0.5, 0.1), (0.9, 0.2)])
    def test_two_bernoullis(self, a, b):
        p = torch.tensor([1 - a, a], dtype=torch.float64)
        q = torch.tensor([1 - b, b], dtype=torch.float64)
        expected = (a - b) ** 2 / (b * (1 - b))
        assert T.pearson_chi2(p, q).item() == pytest.approx(expected, rel=1e-13)

    def test_zeros_and_infinity(self):
        p = torch.tensor([0.5, 0.5, 0.0])
        q = torch.tensor([0.25, 0.25, 0.5])
        # (0.25^2 / 0.25) * 2 + (0 - 0.5)^2 / 0.5 = 1: an outcome with p_3 = 0 < q_3 contributes q_3
        assert T.pearson_chi2(p, q).item() == pytest.approx(1.0, rel=1e-6)
        assert T.pearson_chi2(q, p).item() == math.inf  # q_3 > 0 = p_3
        both_zero = torch.tensor([0.5, 0.5, 0.0])
        assert T.pearson_chi2(both_zero, both_zero.clone()).item() == 0.0

    @pytest.mark.parametrize("seed", range(3))
    def test_kl_bound_and_asymmetry(self, seed):
        gen = torch.Generator().manual_seed(10 + seed)
        p, q = _random_distribution(8, gen), _random_distribution(8, gen)
        chi2 = T.pearson_chi2(p, q)
        assert T.kl_divergence(p, q) <= torch.log1p(chi2) + 1e-12
        assert chi2 > 0 and T.pearson_chi2(p, q).item() != pytest.approx(T.pearson_chi2(q, p).item(), rel=1e-6)
        torch.testing.assert_close(chi2, (p**2 / q).sum() - 1)

    def test_gradient_finite_with_zeros(self):
        p = torch.tensor([0.0, 0.4, 0.6], dtype=torch.float64, requires_grad=True)
        q = torch.tensor([0.0, 0.5, 0.5], dtype=torch.float64, requires_grad=True)
        T.pearson_chi2(p, q).backward()
        assert torch.isfinite(p.grad).all() and torch.isfinite(q.grad).all()
        # d/dp_i = 2 (p_i - q_i) / q_i
        torch.testing.assert_close(p.grad[1:], torch.tensor([-0.4, 0.4], dtype=torch.float64))

    def test_bad_inputs(self):
        with pytest.raises(ValueError, match="same length"):
            T.pearson_chi2(torch.tensor([1.0]), torch.tensor([0.5, 0.5]))
        with pytest.raises(TypeError, match="torch.Tensor"):
            T.pearson_chi2([0.5, 0.5], torch.tensor([0.5, 0.5]))


class TestLSGAN:
    def test_optimal_discriminator_minimises_pointwise_loss(self):
        gen = torch.Generator().manual_seed(0)
        pd = torch.rand(15, generator=gen, dtype=torch.float64) + 0.01
        pg = torch.rand(15, generator=gen, dtype=torch.float64) + 0.01
        y = torch.linspace(-1.5, 1.5, 30001, dtype=torch.float64)[:, None]  # (G, 1)
        for a, b in [(-1.0, 1.0), (0.0, 1.0), (-0.5, 2.0)]:
            loss = pd * (y - b) ** 2 + pg * (y - a) ** 2  # (G, 15)
            best = y[loss.argmin(dim=0), 0]
            torch.testing.assert_close(T.lsgan_optimal_discriminator(pd, pg, a, b), best, atol=1e-4, rtol=0)

    def test_optimal_discriminator_off_support_and_shape(self):
        pd = torch.tensor([[0.0, 1.0], [3.0, 0.0]])
        pg = torch.tensor([[0.0, 1.0], [1.0, 0.0]])
        d = T.lsgan_optimal_discriminator(pd, pg, a=0.0, b=1.0)
        torch.testing.assert_close(d, torch.tensor([[0.5, 0.5], [0.75, 0.5]]))

    @pytest.mark.parametrize("seed", range(5))
    def test_theorem1_pearson_chi2(self, seed):
        gen = torch.Generator().manual_seed(seed)
        pd = _random_distribution(10, gen, zeros=seed % 3)
        pg = _random_distribution(10, gen, zeros=(seed + 1) % 3)
        m = 0.5 * (pd + pg)
        for a, b, c in [(-1.0, 1.0, 0.0), (0.0, 2.0, 1.0), (-3.0, -1.0, -2.0)]:  # b - c = 1, b - a = 2
            torch.testing.assert_close(T.lsgan_generator_criterion(pd, pg, a, b, c), T.pearson_chi2(pg, m))
        # Mao et al.'s form: 2 C(G) = sum (2 p_g - (p_d + p_g))^2 / (p_d + p_g)
        s = pd + pg
        mao = torch.where(s > 0, (2 * pg - s) ** 2 / torch.where(s > 0, s, 1), 0).sum()
        torch.testing.assert_close(2 * T.lsgan_generator_criterion(pd, pg), mao)

    def test_other_codings_not_chi2_and_zero_at_optimum(self):
        gen = torch.Generator().manual_seed(7)
        pd, pg = _random_distribution(6, gen), _random_distribution(6, gen)
        m = 0.5 * (pd + pg)
        # the 0-1 coding with c = 1 (b - c = 0) is not the Pearson chi^2 of Theorem 1
        assert not torch.allclose(T.lsgan_generator_criterion(pd, pg, 0.0, 1.0, 1.0), T.pearson_chi2(pg, m))
        assert T.lsgan_generator_criterion(pd, pd.clone()).item() == 0.0

    def test_bad_codings(self):
        p = torch.tensor([0.5, 0.5])
        with pytest.raises(TypeError, match="a must be a finite real number"):
            T.lsgan_optimal_discriminator(p, p, a="-1")
        with pytest.raises(TypeError, match="c must be a finite real number"):
            T.lsgan_generator_criterion(p, p, c=float("nan"))


# ----------------------------------------------------------------------------------------------------------------
# The generator's gradient against the optimal discriminator
# ----------------------------------------------------------------------------------------------------------------
def _js_gaussians_scipy(theta: float, sigma: float) -> float:
    """JS(N(0, s^2), N(theta, s^2)) by adaptive quadrature of its definition."""

    def integrand(x: float) -> float:
        p, q = norm.pdf(x, 0, sigma), norm.pdf(x, theta, sigma)
        m = 0.5 * (p + q)
        return 0.5 * (p * math.log(p / m) if p > 0 else 0.0) + 0.5 * (q * math.log(q / m) if q > 0 else 0.0)

    lo, hi = min(0.0, theta) - 12 * sigma, max(0.0, theta) + 12 * sigma
    return integrate.quad(integrand, lo, hi, points=[0.0, theta / 2, theta], limit=200, epsabs=1e-13)[0]


class TestGradientVsSeparation:
    THETAS = torch.tensor([-6.0, -2.0, -0.5, 0.0, 0.3, 1.0, 2.0, 4.0, 8.0, 10.0], dtype=torch.float64)

    @pytest.fixture(scope="class")
    @classmethod
    def out(cls):
        return T.js_gradient_vs_separation(cls.THETAS)

    def test_keys_shapes(self, out):
        keys = {"theta", "js", "w1", "d_fake", "loss_saturating", "loss_non_saturating", "loss_w1",
                "grad_saturating", "grad_non_saturating", "grad_w1"}
        assert set(out) == keys
        assert all(v.shape == self.THETAS.shape and v.dtype == torch.float64 and not v.requires_grad
                   for v in out.values())

    def test_js_against_scipy_quadrature(self, out):
        for i, theta in enumerate(self.THETAS.tolist()):
            assert out["js"][i].item() == pytest.approx(_js_gaussians_scipy(theta, 1.0), abs=1e-9)

    def test_d_fake_against_scipy_quadrature(self, out):
        for i, theta in enumerate(self.THETAS.tolist()):
            def integrand(x: float) -> float:
                p, q = norm.pdf(x), norm.pdf(x, theta)
                return p * q / (p + q) if p + q > 0 else 0.0

            ref = integrate.quad(integrand, min(0, theta) - 12, max(0, theta) + 12, points=[theta / 2], limit=200,
                                 epsabs=1e-14)[0]
            assert out["d_fake"][i].item() == pytest.approx(ref, rel=1e-7, abs=1e-14)

    def test_w1_is_abs_theta_and_its_gradient_has_magnitude_one(self, out):
        torch.testing.assert_close(out["w1"], self.THETAS.abs(), rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(out["grad_w1"], torch.sign(self.THETAS), rtol=1e-10, atol=0.0)
        torch.testing.assert_close(out["loss_w1"], self.THETAS.abs(), rtol=1e-10, atol=1e-12)  # -E f*(x) = |theta|

    def test_saturating_gradient_is_twice_the_js_derivative(self, out):
        # envelope theorem: d/dtheta V(D*, G_theta) with D* frozen = d/dtheta (-log 4 + 2 JS)
        h = 1e-4
        for theta in (-2.0, 0.3, 1.0, 2.0, 4.0):
            js = T.js_gradient_vs_separation(torch.tensor([theta - h, theta + h], dtype=torch.float64))["js"]
            derivative = (js[1] - js[0]).item() / (2 * h)
            i = int((self.THETAS == theta).nonzero()[0])
            assert out["grad_saturating"][i].item() == pytest.approx(2 * derivative, rel=1e-6, abs=1e-12)

    def test_gradient_formulas(self, out):
        # d L_sat / d theta = theta / s^2 * E_g D*,  d L_ns / d theta = theta / s^2 * E_g (1 - D*)
        torch.testing.assert_close(out["grad_saturating"], self.THETAS * out["d_fake"], rtol=1e-9, atol=1e-15)
        torch.testing.assert_close(out["grad_non_saturating"], self.THETAS * (1 - out["d_fake"]), rtol=1e-9,
                                   atol=1e-15)

    def test_limits_as_supports_separate(self, out):
        pos = self.THETAS >= 2.0
        g_sat = out["grad_saturating"][pos]
        assert (g_sat[1:] < g_sat[:-1]).all()  # decreasing beyond theta = 2 sigma (its peak is near 1.7 sigma)
        assert g_sat[-1] < 1e-5 * g_sat.max()  # vanished at theta = 10 sigma
        # JS saturates at log 2, and E_g D* is about Phi(-theta / 2)
        assert out["js"][-1].item() == pytest.approx(LOG2, abs=1e-5)
        # E_g D* = int p_d p_g / (p_d + p_g) ~ sqrt(pi / 2) / theta * exp(-theta^2 / 8) for large theta (sigma = 1)
        assert out["d_fake"][-1].item() == pytest.approx(math.sqrt(math.pi / 2) / 10 * math.exp(-12.5), rel=0.05)
        # the non-saturating gradient tends to theta / sigma^2 and the W1 gradient stays 1
        assert out["grad_non_saturating"][-1].item() == pytest.approx(10.0, rel=1e-5)
        assert (out["grad_w1"][pos] == 1.0).all()

    def test_zero_separation(self, out):
        i = int((self.THETAS == 0).nonzero()[0])
        for key in ("js", "w1", "grad_saturating", "grad_non_saturating", "grad_w1", "loss_w1"):
            assert out[key][i].item() == 0.0, key
        assert out["d_fake"][i].item() == pytest.approx(0.5, abs=1e-15)

    def test_sigma_scaling(self):
        # everything is a function of theta / sigma; gradients scale with 1 / sigma (W1 gradient excepted)
        a = T.js_gradient_vs_separation(torch.tensor([1.0, 3.0], dtype=torch.float64), sigma=1.0)
        b = T.js_gradient_vs_separation(torch.tensor([2.5, 7.5], dtype=torch.float64), sigma=2.5)
        torch.testing.assert_close(a["js"], b["js"])
        torch.testing.assert_close(a["grad_saturating"], 2.5 * b["grad_saturating"])
        torch.testing.assert_close(b["w1"], torch.tensor([2.5, 7.5], dtype=torch.float64))

    def test_works_under_no_grad_float32_and_scalar(self):
        with torch.no_grad():
            out = T.js_gradient_vs_separation(torch.tensor(2.0))
        assert out["grad_w1"].shape == () and out["grad_w1"].dtype == torch.float32 and out["grad_w1"].item() == 1.0
        assert out["grad_saturating"].item() == pytest.approx(0.4496, abs=1e-3)

    @pytest.mark.parametrize(
        "kwargs, err, match",
        [
            (dict(thetas=torch.tensor([13.0])), ValueError, "half_width"),
            (dict(thetas=torch.zeros(2, 2)), ValueError, "0-d or 1-D"),
            (dict(thetas=torch.tensor([float("nan")])), ValueError, "finite"),
            (dict(thetas=torch.zeros(1), sigma=0.0), ValueError, "sigma must be positive"),
            (dict(thetas=torch.zeros(1), n_quad=50), ValueError, "n_quad"),
            (dict(thetas=torch.zeros(1), half_width=5.0), ValueError, "half_width"),
            (dict(thetas=[1.0]), TypeError, "torch.Tensor"),
        ],
    )
    def test_bad_inputs(self, kwargs, err, match):
        with pytest.raises(err, match=match):
            T.js_gradient_vs_separation(**kwargs)
