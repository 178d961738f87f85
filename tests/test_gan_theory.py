"""Tests of course_lib.gan.theory against closed forms, SciPy, and the properties the theorems state."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.spatial.distance import jensenshannon
from scipy.stats import entropy, wasserstein_distance

from course_lib.gan import theory as T

LOG2 = math.log(2.0)
DTYPES = [torch.float32, torch.float64]
TOL = {torch.float32: dict(rtol=1e-5, atol=1e-6), torch.float64: dict(rtol=1e-12, atol=1e-13)}


def _random_distribution(k: int, gen: torch.Generator, dtype: torch.dtype, zeros: int = 0) -> torch.Tensor:
    """A random probability vector (Dirichlet(1)-like), with ``zeros`` entries set to exactly 0."""
    w = -torch.log(torch.rand(k, generator=gen, dtype=torch.float64))  # Exp(1) -> normalised = Dirichlet(1, ..., 1)
    if zeros:
        w[torch.randperm(k, generator=gen)[:zeros]] = 0.0
    return (w / w.sum()).to(dtype)


def _bernoulli(a: float, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    return torch.tensor([1.0 - a, a], dtype=dtype)


# ----------------------------------------------------------------------------------------------------------------
# optimal_discriminator
# ----------------------------------------------------------------------------------------------------------------
class TestOptimalDiscriminator:
    @pytest.mark.parametrize("dtype", DTYPES)
    def test_closed_form_on_grid_densities(self, dtype):
        # two Gaussian densities on a grid (not normalised as probabilities): D* = p / (p + q)
        x = torch.linspace(-4, 4, 101, dtype=dtype)
        p = torch.exp(-0.5 * x**2) / math.sqrt(2 * math.pi)
        q = torch.exp(-0.5 * (x - 1) ** 2) / math.sqrt(2 * math.pi)
        d = T.optimal_discriminator(p, q)
        assert d.dtype == dtype and d.shape == x.shape
        # for these two, log(p/q) = 1/2 - x, so D* = sigmoid(1/2 - x)
        torch.testing.assert_close(d, torch.sigmoid(0.5 - x), **TOL[dtype])

    def test_values_and_off_support_half(self):
        p = torch.tensor([[0.0, 1.0], [3.0, 0.0]], dtype=torch.float64)
        q = torch.tensor([[0.0, 3.0], [1.0, 2.0]], dtype=torch.float64)
        d = T.optimal_discriminator(p, q)
        expected = torch.tensor([[0.5, 0.25], [0.75, 0.0]], dtype=torch.float64)
        assert torch.equal(d, expected)

    def test_equal_densities_give_half_everywhere(self):
        p = torch.tensor([0.1, 0.0, 0.6, 0.3])
        assert torch.equal(T.optimal_discriminator(p, p.clone()), torch.full((4,), 0.5))

    def test_maximises_pointwise_value(self):
        # a log y + b log(1 - y) is maximal at y = a / (a + b): compare with a fine grid search
        gen = torch.Generator().manual_seed(0)
        a = torch.rand(20, generator=gen, dtype=torch.float64) + 0.01
        b = torch.rand(20, generator=gen, dtype=torch.float64) + 0.01
        y = torch.linspace(1e-4, 1 - 1e-4, 20001, dtype=torch.float64)[:, None]  # (G, 1)
        values = a * torch.log(y) + b * torch.log1p(-y)  # (G, 20)
        best = y[values.argmax(dim=0), 0]
        torch.testing.assert_close(T.optimal_discriminator(a, b), best, atol=1e-4, rtol=0)

    def test_integer_inputs_promoted(self):
        d = T.optimal_discriminator(torch.tensor([1, 0, 0]), torch.tensor([3, 2, 0]))
        assert d.dtype == torch.get_default_dtype()
        torch.testing.assert_close(d, torch.tensor([0.25, 0.0, 0.5]))

    def test_mixed_float_dtypes_promote(self):
        d = T.optimal_discriminator(torch.tensor([1.0], dtype=torch.float32), torch.tensor([1.0], dtype=torch.float64))
        assert d.dtype == torch.float64

    def test_gradient_finite_at_zero_total(self):
        p = torch.tensor([0.0, 1.0], dtype=torch.float64, requires_grad=True)
        q = torch.tensor([0.0, 1.0], dtype=torch.float64, requires_grad=True)
        T.optimal_discriminator(p, q).sum().backward()
        assert torch.isfinite(p.grad).all() and torch.isfinite(q.grad).all()
        # d/dp [p / (p + q)] = q / (p + q)^2 = 1/4 at p = q = 1
        torch.testing.assert_close(p.grad, torch.tensor([0.0, 0.25], dtype=torch.float64))

    @pytest.mark.parametrize(
        "p, q, err, match",
        [
            ([0.5, 0.5], torch.tensor([0.5, 0.5]), TypeError, "p_data must be a torch.Tensor"),
            (torch.tensor([0.5, 0.5]), np.array([0.5, 0.5]), TypeError, "p_g must be a torch.Tensor"),
            (torch.tensor([0.5, 0.5]), torch.tensor([0.5, 0.5, 0.0]), ValueError, "same shape"),
            (torch.tensor([0.5, -0.1]), torch.tensor([0.5, 0.5]), ValueError, "non-negative"),
            (torch.tensor([0.5, 0.5]), torch.tensor([float("nan"), 0.5]), ValueError, "NaN"),
            (torch.tensor([float("inf"), 0.5]), torch.tensor([0.5, 0.5]), ValueError, "infinite"),
            (torch.tensor([0.5 + 0j]), torch.tensor([0.5 + 0j]), TypeError, "real"),
        ],
    )
    def test_bad_inputs(self, p, q, err, match):
        with pytest.raises(err, match=match):
            T.optimal_discriminator(p, q)


# ----------------------------------------------------------------------------------------------------------------
# KL, reverse KL, JS, TV: closed forms
# ----------------------------------------------------------------------------------------------------------------
class TestClosedForms:
    @pytest.mark.parametrize("dtype", DTYPES)
    @pytest.mark.parametrize("a, b", [(0.3, 0.6), (0.5, 0.1), (0.9, 0.2)])
    def test_two_bernoullis(self, dtype, a, b):
        p, q = _bernoulli(a, dtype), _bernoulli(b, dtype)
        kl = a * math.log(a / b) + (1 - a) * math.log((1 - a) / (1 - b))
        rkl = b * math.log(b / a) + (1 - b) * math.log((1 - b) / (1 - a))
        m = (a + b) / 2
        js = 0.5 * (a * math.log(a / m) + (1 - a) * math.log((1 - a) / (1 - m))) + 0.5 * (
            b * math.log(b / m) + (1 - b) * math.log((1 - b) / (1 - m))
        )
        for fn, expected in [
            (T.kl_divergence, kl),
            (T.reverse_kl, rkl),
            (T.js_divergence, js),
            (T.total_variation, abs(a - b)),
        ]:
            out = fn(p, q)
            assert out.dtype == dtype and out.shape == ()
            torch.testing.assert_close(out, torch.tensor(expected, dtype=dtype), **TOL[dtype])

    @pytest.mark.parametrize("dtype", DTYPES)
    def test_disjoint_supports(self, dtype):
        # WGAN Example 1 in discrete form: JS = log 2, KL = +inf (both ways), TV = 1
        p = torch.tensor([0.2, 0.3, 0.0, 0.5, 0.0], dtype=dtype)
        q = torch.tensor([0.0, 0.0, 0.6, 0.0, 0.4], dtype=dtype)
        assert T.kl_divergence(p, q).item() == math.inf
        assert T.reverse_kl(p, q).item() == math.inf
        torch.testing.assert_close(T.js_divergence(p, q), torch.tensor(LOG2, dtype=dtype), **TOL[dtype])
        torch.testing.assert_close(T.total_variation(p, q), torch.tensor(1.0, dtype=dtype), **TOL[dtype])

    def test_kl_infinite_only_where_p_has_mass_outside_q(self):
        p = torch.tensor([0.5, 0.5, 0.0], dtype=torch.float64)
        q = torch.tensor([0.25, 0.25, 0.5], dtype=torch.float64)
        # supp p inside supp q: KL(p||q) finite = log 2, KL(q||p) infinite
        torch.testing.assert_close(T.kl_divergence(p, q), torch.tensor(LOG2, dtype=torch.float64))
        assert T.kl_divergence(q, p).item() == math.inf
        assert T.reverse_kl(p, q).item() == math.inf
        torch.testing.assert_close(T.reverse_kl(q, p), torch.tensor(LOG2, dtype=torch.float64))

    @pytest.mark.parametrize("dtype", DTYPES)
    def test_identical_is_zero(self, dtype):
        p = torch.tensor([0.1, 0.0, 0.4, 0.5], dtype=dtype)
        for fn in (T.kl_divergence, T.reverse_kl, T.js_divergence, T.total_variation):
            out = fn(p, p.clone())
            assert not torch.isnan(out)
            assert out.item() == 0.0, fn.__name__

    def test_point_masses(self):
        p = torch.tensor([1.0, 0.0])
        q = torch.tensor([0.0, 1.0])
        assert T.kl_divergence(p, p).item() == 0.0
        torch.testing.assert_close(T.js_divergence(p, q), torch.tensor(LOG2))

    def test_single_outcome(self):
        one = torch.tensor([1.0])
        for fn in (T.kl_divergence, T.js_divergence, T.total_variation):
            assert fn(one, one).item() == 0.0

    def test_integer_inputs_promoted(self):
        p = torch.tensor([1, 0])
        q = torch.tensor([0, 1])
        out = T.total_variation(p, q)
        assert out.dtype == torch.get_default_dtype() and out.item() == 1.0

    def test_mixed_dtypes_promote(self):
        p = _bernoulli(0.3, torch.float32)
        q = _bernoulli(0.6, torch.float64)
        assert T.kl_divergence(p, q).dtype == torch.float64


# ----------------------------------------------------------------------------------------------------------------
# SciPy on random cases, and the properties
# ----------------------------------------------------------------------------------------------------------------
class TestAgainstScipy:
    @pytest.mark.parametrize("dtype", DTYPES)
    @pytest.mark.parametrize("seed", range(5))
    def test_kl_js_random(self, dtype, seed):
        gen = torch.Generator().manual_seed(seed)
        k = 3 + 7 * seed
        p = _random_distribution(k, gen, dtype, zeros=seed % 3)
        q = _random_distribution(k, gen, dtype)  # full support, so KL(p||q) is finite
        p64, q64 = p.double().numpy(), q.double().numpy()
        # SciPy normalises its inputs; ours sum to 1 up to rounding, so compare with the dtype's tolerance
        kl_ref = entropy(p64, q64)
        rkl_ref = entropy(q64, p64)
        js_ref = jensenshannon(p64, q64) ** 2  # SciPy returns the JS *distance*, the square root
        tv_ref = 0.5 * np.abs(p64 - q64).sum()
        torch.testing.assert_close(T.kl_divergence(p, q), torch.tensor(kl_ref, dtype=dtype), **TOL[dtype])
        torch.testing.assert_close(T.js_divergence(p, q), torch.tensor(js_ref, dtype=dtype), **TOL[dtype])
        torch.testing.assert_close(T.total_variation(p, q), torch.tensor(tv_ref, dtype=dtype), **TOL[dtype])
        out = T.reverse_kl(p, q)
        if math.isinf(rkl_ref):
            assert out.item() == math.inf
        else:
            torch.testing.assert_close(out, torch.tensor(rkl_ref, dtype=dtype), **TOL[dtype])
        assert math.isinf(rkl_ref) == (seed % 3 > 0)

    @pytest.mark.parametrize("seed", range(10))
    def test_properties(self, seed):
        gen = torch.Generator().manual_seed(100 + seed)
        k = 2 + seed
        p = _random_distribution(k, gen, torch.float64, zeros=min(seed % 3, k - 1))
        q = _random_distribution(k, gen, torch.float64, zeros=min(seed % 2, k - 1))
        kl_pq, kl_qp = T.kl_divergence(p, q), T.kl_divergence(q, p)
        js, tv = T.js_divergence(p, q), T.total_variation(p, q)
        assert kl_pq >= 0 and kl_qp >= 0
        assert T.reverse_kl(p, q).item() == kl_qp.item()
        torch.testing.assert_close(js, T.js_divergence(q, p), rtol=1e-12, atol=1e-15)  # symmetric
        assert tv.item() == T.total_variation(q, p).item()
        assert 0 <= js <= LOG2 and 0 <= tv <= 1
        # Pinsker's inequality, TV <= sqrt(KL / 2), and the JS/TV bounds JS <= TV log 2
        assert tv <= torch.sqrt(kl_pq / 2) + 1e-12
        assert js <= tv * LOG2 + 1e-12
        # JS from its definition with the mixture, computed through kl_divergence itself
        m = (p + q) / 2
        torch.testing.assert_close(js, 0.5 * T.kl_divergence(p, m) + 0.5 * T.kl_divergence(q, m))

    def test_no_nan_with_many_zeros_float32(self):
        p = torch.zeros(1000)
        p[::7] = 1.0
        p /= p.sum()
        q = torch.zeros(1000)
        q[::5] = 1.0
        q /= q.sum()
        for fn in (T.kl_divergence, T.reverse_kl, T.js_divergence, T.total_variation):
            assert not torch.isnan(fn(p, q)), fn.__name__
        ref = jensenshannon(p.double().numpy(), q.double().numpy()) ** 2
        torch.testing.assert_close(T.js_divergence(p, q), torch.tensor(ref, dtype=torch.float32))

    def test_gradients_finite_with_zeros(self):
        p = torch.tensor([0.0, 0.25, 0.75], dtype=torch.float64)
        q = torch.tensor([0.5, 0.5, 0.0], dtype=torch.float64, requires_grad=True)
        T.js_divergence(p, q).backward()
        assert torch.isfinite(q.grad[:2]).all()
        # d JS / d q_i = 0.5 log(2 q_i / (p_i + q_i)) (the other terms cancel); at i = 0, 0.5 log 2
        torch.testing.assert_close(q.grad[0], torch.tensor(0.5 * LOG2, dtype=torch.float64))
        torch.testing.assert_close(q.grad[1], torch.tensor(0.5 * math.log(2 * 0.5 / 0.75), dtype=torch.float64))


class TestDistributionValidation:
    @pytest.mark.parametrize("fn", [T.kl_divergence, T.reverse_kl, T.js_divergence, T.total_variation])
    @pytest.mark.parametrize(
        "p, q, err, match",
        [
            ([0.5, 0.5], torch.tensor([0.5, 0.5]), TypeError, "p must be a torch.Tensor"),
            (torch.tensor([0.5, 0.5]), None, TypeError, "q must be a torch.Tensor"),
            (torch.tensor([[0.5, 0.5]]), torch.tensor([0.5, 0.5]), ValueError, "1-D"),
            (torch.tensor(1.0), torch.tensor([1.0]), ValueError, "1-D"),
            (torch.tensor([]), torch.tensor([]), ValueError, "empty"),
            (torch.tensor([0.5, 0.5]), torch.tensor([0.5, 0.25, 0.25]), ValueError, "same length"),
            (torch.tensor([0.6, 0.6]), torch.tensor([0.5, 0.5]), ValueError, "sum to 1"),
            (torch.tensor([0.5, 0.5]), torch.tensor([0.25, 0.25]), ValueError, "q must sum to 1"),
            (torch.tensor([1.5, -0.5]), torch.tensor([0.5, 0.5]), ValueError, "non-negative"),
            (torch.tensor([float("nan"), 1.0]), torch.tensor([0.5, 0.5]), ValueError, "NaN"),
            (torch.tensor([0.5, 0.5]), torch.tensor([float("inf"), 0.0]), ValueError, "infinite"),
        ],
    )
    def test_bad_inputs(self, fn, p, q, err, match):
        with pytest.raises(err, match=match):
            fn(p, q)

    def test_sum_tolerance_boundary(self):
        # within 1e-4 of 1 is accepted (float32 rounding), beyond it is refused
        ok = torch.tensor([0.5, 0.5 + 5e-5], dtype=torch.float64)
        bad = torch.tensor([0.5, 0.5 + 5e-4], dtype=torch.float64)
        T.total_variation(ok, torch.tensor([0.5, 0.5], dtype=torch.float64))
        with pytest.raises(ValueError, match="sums to 1.0005"):
            T.total_variation(bad, torch.tensor([0.5, 0.5], dtype=torch.float64))

    def test_float32_normalised_vector_accepted(self):
        # a long float32 vector normalised in float32 sums to 1 only up to rounding
        gen = torch.Generator().manual_seed(3)
        w = torch.rand(100_000, generator=gen)
        p = w / w.sum()
        q = torch.full((100_000,), 1e-5)
        assert T.kl_divergence(p, q) >= 0


# ----------------------------------------------------------------------------------------------------------------
# wasserstein_1d
# ----------------------------------------------------------------------------------------------------------------
class TestWasserstein1d:
    @pytest.mark.parametrize("dtype", DTYPES)
    @pytest.mark.parametrize("seed", range(5))
    def test_against_scipy(self, dtype, seed):
        gen = torch.Generator().manual_seed(seed)
        n = 1 + 37 * seed
        x = torch.randn(n, generator=gen, dtype=torch.float64).to(dtype)
        y = (2.0 * torch.rand(n, generator=gen, dtype=torch.float64) + 0.5).to(dtype)
        ref = wasserstein_distance(x.double().numpy(), y.double().numpy())
        out = T.wasserstein_1d(x, y)
        assert out.shape == () and out.dtype == dtype
        torch.testing.assert_close(out, torch.tensor(ref, dtype=dtype), **TOL[dtype])

    def test_parallel_lines_is_abs_theta(self):
        # WGAN Example 1 projected on the horizontal axis: the same sample shifted by theta
        x = torch.linspace(0, 1, 50, dtype=torch.float64)
        for theta in (-1.5, 0.0, 0.3, 2.0):
            torch.testing.assert_close(T.wasserstein_1d(x, x + theta), torch.tensor(abs(theta), dtype=torch.float64))

    def test_order_invariance_and_symmetry(self):
        gen = torch.Generator().manual_seed(0)
        x, y = torch.randn(30, generator=gen), torch.randn(30, generator=gen)
        perm = torch.randperm(30, generator=gen)
        assert T.wasserstein_1d(x, y).item() == T.wasserstein_1d(x[perm], y).item()
        assert T.wasserstein_1d(x, y).item() == T.wasserstein_1d(y, x).item()
        assert T.wasserstein_1d(x, x[perm]).item() == 0.0

    def test_by_hand(self):
        x = torch.tensor([3.0, 0.0, 1.0])
        y = torch.tensor([1.0, 5.0, 2.0])
        # sorted: (0, 1, 3) vs (1, 2, 5): |0-1| + |1-2| + |3-5| = 4, mean 4/3
        torch.testing.assert_close(T.wasserstein_1d(x, y), torch.tensor(4.0 / 3.0))

    def test_integer_samples_promoted(self):
        out = T.wasserstein_1d(torch.tensor([0, 2]), torch.tensor([1, 1]))
        assert out.dtype == torch.get_default_dtype() and out.item() == 1.0

    def test_gradient(self):
        x = torch.tensor([0.0, 1.0, 2.0], dtype=torch.float64, requires_grad=True)
        y = torch.tensor([3.0, 4.0, 5.0], dtype=torch.float64)
        T.wasserstein_1d(x, y).backward()
        # every sorted x is below its partner: d/dx_i = -1/n
        torch.testing.assert_close(x.grad, torch.full((3,), -1.0 / 3.0, dtype=torch.float64))

    @pytest.mark.parametrize(
        "x, y, err, match",
        [
            ([0.0, 1.0], torch.tensor([0.0, 1.0]), TypeError, "x must be a torch.Tensor"),
            (torch.tensor([0.0, 1.0]), torch.tensor([0.0, 1.0, 2.0]), ValueError, "same number of samples"),
            (torch.tensor([]), torch.tensor([]), ValueError, "empty"),
            (torch.zeros(2, 2), torch.zeros(2, 2), ValueError, "1-D"),
            (torch.tensor([0.0, float("nan")]), torch.tensor([0.0, 1.0]), ValueError, "non-finite"),
            (torch.tensor([0.0, 1.0]), torch.tensor([float("inf"), 1.0]), ValueError, "y contains a non-finite"),
        ],
    )
    def test_bad_inputs(self, x, y, err, match):
        with pytest.raises(err, match=match):
            T.wasserstein_1d(x, y)


# ----------------------------------------------------------------------------------------------------------------
# gan_value and Theorem 1
# ----------------------------------------------------------------------------------------------------------------
class TestValueAndTheorem1:
    def test_gan_value_by_hand(self):
        p = torch.tensor([0.5, 0.5, 0.0], dtype=torch.float64)
        g = torch.tensor([0.0, 0.5, 0.5], dtype=torch.float64)
        d = torch.tensor([0.8, 0.5, 0.0], dtype=torch.float64)  # d = 0 where only G has mass: log(1 - 0) = 0
        expected = 0.5 * math.log(0.8) + 0.5 * math.log(0.5) + 0.5 * math.log(0.5) + 0.5 * math.log(1.0)
        torch.testing.assert_close(T.gan_value(p, g, d), torch.tensor(expected, dtype=torch.float64))

    def test_gan_value_infinite(self):
        p = torch.tensor([0.5, 0.5])
        assert T.gan_value(p, p, torch.tensor([0.0, 0.5])).item() == -math.inf
        assert T.gan_value(p, p, torch.tensor([1.0, 0.5])).item() == -math.inf

    @pytest.mark.parametrize("dtype", DTYPES)
    @pytest.mark.parametrize("seed", range(6))
    def test_criterion_equals_minus_log4_plus_2js(self, dtype, seed):
        gen = torch.Generator().manual_seed(seed)
        k = 2 + 3 * seed
        p = _random_distribution(k, gen, dtype, zeros=seed % 2)
        g = _random_distribution(k, gen, dtype, zeros=(seed // 2) % 2)
        c = T.virtual_training_criterion(p, g)
        assert c.dtype == dtype and c.shape == ()
        torch.testing.assert_close(c, -math.log(4.0) + 2 * T.js_divergence(p, g), **TOL[dtype])
        # D* is the maximiser: any other discriminator gives a value no larger
        for _ in range(5):
            d = torch.rand(k, generator=gen, dtype=torch.float64).to(dtype)
            assert T.gan_value(p, g, d) <= c + 1e-6

    def test_criterion_minimum_iff_equal(self):
        p = torch.tensor([0.2, 0.0, 0.8], dtype=torch.float64)
        minimum = torch.tensor(-math.log(4.0), dtype=torch.float64)
        torch.testing.assert_close(T.virtual_training_criterion(p, p.clone()), minimum)
        g = torch.tensor([0.25, 0.0, 0.75], dtype=torch.float64)
        assert T.virtual_training_criterion(p, g) > -math.log(4.0) + 1e-6
        # disjoint supports: C(G) = -log 4 + 2 log 2 = 0
        q = torch.tensor([0.0, 1.0, 0.0], dtype=torch.float64)
        assert abs(T.virtual_training_criterion(p, q).item()) < 1e-15

    @pytest.mark.parametrize(
        "d, err, match",
        [
            ([0.5, 0.5], TypeError, "d must be a torch.Tensor"),
            (torch.tensor([0.5, 0.5, 0.5]), ValueError, "shape"),
            (torch.tensor([0.5, 1.5]), ValueError, "at most 1"),
            (torch.tensor([-0.1, 0.5]), ValueError, "non-negative"),
            (torch.tensor([float("nan"), 0.5]), ValueError, "NaN"),
        ],
    )
    def test_gan_value_bad_d(self, d, err, match):
        p = torch.tensor([0.5, 0.5])
        with pytest.raises(err, match=match):
            T.gan_value(p, p, d)

    def test_gan_value_bad_distribution(self):
        with pytest.raises(ValueError, match="p_g must sum to 1"):
            T.gan_value(torch.tensor([0.5, 0.5]), torch.tensor([0.5, 0.6]), torch.tensor([0.5, 0.5]))
        with pytest.raises(ValueError, match="p_data must be non-negative"):
            T.virtual_training_criterion(torch.tensor([1.5, -0.5]), torch.tensor([0.5, 0.5]))
