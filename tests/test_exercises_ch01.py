"""Tests of chapter 1's exercises: the reference implementations against independent references, and the checks
against the reference (full points), a stub (not implemented yet), plausible wrong answers (partial credit, no leak of
the answer) and objects that lie."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch

from course_lib.data import GaussianMixture1D, inverse_transform_sample, numeric_cdf
from course_lib.exercises import ch01
from course_lib.exercises.core import not_implemented
from course_lib.gan.theory import kl_divergence


# ----------------------------------------------------------------------------------------------------------------------
# Exercise metadata
# ----------------------------------------------------------------------------------------------------------------------
def test_exercises_metadata() -> None:
    assert set(ch01.EXERCISES) == {"1.1", "1.2", "1.3"}
    for key, ex in ch01.EXERCISES.items():
        assert ex.id == key
        assert 10 <= ex.minutes <= 30
    assert ch01.EXERCISES["1.2"].badge == "2 points · difficulty ★☆☆ · about 15 min"


# ----------------------------------------------------------------------------------------------------------------------
# Reference: inverse_cdf
# ----------------------------------------------------------------------------------------------------------------------
def _slow_inverse_cdf(pdf: list[float], grid: list[float], u: float) -> float:
    """min{x : F(x) > u} for u < 1 and min{x_j : F_j = 1} for u = 1, by walking the cells one by one in float64."""
    cum = [0.0]
    for i in range(1, len(grid)):
        cum.append(cum[-1] + 0.5 * (pdf[i - 1] + pdf[i]) * (grid[i] - grid[i - 1]))
    f = [c / cum[-1] for c in cum]
    if u >= 1.0:
        for j, fj in enumerate(f):
            if fj >= 1.0:
                return grid[j]
    for j in range(1, len(grid)):
        if f[j - 1] <= u < f[j]:
            return grid[j - 1] + (u - f[j - 1]) / (f[j] - f[j - 1]) * (grid[j] - grid[j - 1])
    raise AssertionError("unreachable")


def test_inverse_cdf_matches_slow_loop_with_gaps_and_uneven_grid() -> None:
    g = torch.Generator().manual_seed(0)
    grid = torch.cumsum(torch.rand(40, generator=g, dtype=torch.float64) + 0.05, 0)  # uneven, increasing
    pdf = torch.rand(40, generator=g, dtype=torch.float64)
    pdf[:3] = 0.0            # leading zeros
    pdf[15:22] = 0.0         # a gap
    pdf[-4:] = 0.0           # trailing zeros
    u = torch.cat([torch.rand(200, generator=g, dtype=torch.float64), torch.tensor([0.0, 1.0], dtype=torch.float64)])
    got = ch01.inverse_cdf(pdf, grid, u)
    want = torch.tensor([_slow_inverse_cdf(pdf.tolist(), grid.tolist(), float(v)) for v in u], dtype=torch.float64)
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    # the ends of the support, and nothing inside the zero-density gap (cells 15..20 have no mass)
    assert got[-2].item() == grid[2].item() and got[-1].item() == grid[-4].item()
    assert not ((got > grid[15]) & (got < grid[21])).any()


def test_inverse_cdf_matches_numpy_interp_for_positive_density() -> None:
    grid = np.linspace(-3.0, 3.0, 301)
    pdf = np.exp(-grid**2) * (1.2 + np.sin(4 * grid))
    cdf = np.concatenate([[0.0], np.cumsum(0.5 * (pdf[1:] + pdf[:-1]) * np.diff(grid))])
    cdf /= cdf[-1]
    u = np.random.default_rng(0).random(500)
    want = np.interp(u, cdf, grid)    # F strictly increasing: the inverse is the interpolation with axes swapped
    got = ch01.inverse_cdf(torch.from_numpy(pdf), torch.from_numpy(grid), torch.from_numpy(u))
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-10, atol=1e-12)


def test_inverse_cdf_agrees_bitwise_with_library_sampler() -> None:
    grid = torch.linspace(-4.0, 4.0, 401)
    pdf = torch.exp(-grid**2) * (1 + torch.sin(3 * grid)) ** 2   # has zeros where sin(3x) = -1
    a = inverse_transform_sample(pdf, grid, 2000, torch.Generator().manual_seed(5))
    b = ch01.inverse_cdf(pdf, grid, torch.rand(2000, generator=torch.Generator().manual_seed(5)))
    assert torch.equal(a, b)


def test_inverse_cdf_samples_follow_the_density() -> None:
    mix = GaussianMixture1D([-1.5, 2.0], [0.5, 0.4], [0.6, 0.4])
    grid = torch.linspace(-5.0, 5.0, 2001, dtype=torch.float64)
    mix64 = GaussianMixture1D(mix.means.double(), mix.stds.double(), mix.weights.double())
    u = torch.rand(20000, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    x = torch.sort(ch01.inverse_cdf(mix64.pdf(grid), grid, u)).values
    n = x.numel()
    f = mix64.cdf(x)
    ks = torch.maximum(torch.arange(1, n + 1) / n - f, f - torch.arange(n) / n).max().item()
    assert ks < 1.36 / math.sqrt(n) * 1.5   # well inside the KS 5% band (deterministic seed)


def test_inverse_cdf_shape_dtype_and_exact_values() -> None:
    grid = torch.linspace(0.0, 2.0, 5)
    x = ch01.inverse_cdf(torch.ones(5), grid, torch.tensor([[0.0, 0.5], [0.75, 1.0]]))
    assert x.shape == (2, 2) and x.dtype == torch.float32
    torch.testing.assert_close(x, torch.tensor([[0.0, 1.0], [1.5, 2.0]]))
    x64 = ch01.inverse_cdf(torch.ones(5, dtype=torch.float64), grid.double(), torch.tensor([0.3], dtype=torch.float64))
    assert x64.dtype == torch.float64


@pytest.mark.parametrize("u, err", [
    (torch.tensor([0.5, 1.5]), ValueError),
    (torch.tensor([-0.1]), ValueError),
    (torch.tensor([float("nan")]), ValueError),
    (torch.tensor([0, 1]), TypeError),
    ([0.5], TypeError),
])
def test_inverse_cdf_rejects_bad_u(u, err) -> None:
    with pytest.raises(err):
        ch01.inverse_cdf(torch.ones(4), torch.arange(4.0), u)


def test_inverse_cdf_rejects_bad_density() -> None:
    with pytest.raises(ValueError):
        ch01.inverse_cdf(torch.zeros(4), torch.arange(4.0), torch.tensor([0.5]))
    with pytest.raises(ValueError):
        ch01.inverse_cdf(torch.ones(4), torch.tensor([0.0, 2.0, 1.0, 3.0]), torch.tensor([0.5]))


# ----------------------------------------------------------------------------------------------------------------------
# Reference: conditional_mean
# ----------------------------------------------------------------------------------------------------------------------
def _slow_conditional_mean(xt: torch.Tensor, yt: torch.Tensor, xq: torch.Tensor, h: float) -> torch.Tensor:
    """The formula with Python loops and math.exp in float64 (inputs chosen so that nothing underflows)."""
    out = []
    for q in xq.tolist():
        w = [math.exp(-sum((a - b) ** 2 for a, b in zip(q, x)) / (2 * h * h)) for x in xt.tolist()]
        s = sum(w)
        out.append([sum(wi * y[k] for wi, y in zip(w, yt.tolist())) / s for k in range(yt.shape[1])])
    return torch.tensor(out, dtype=torch.float64)


def test_conditional_mean_matches_slow_loop() -> None:
    g = torch.Generator().manual_seed(0)
    xt, yt, xq = (torch.randn(s, generator=g, dtype=torch.float64) for s in [(30, 3), (30, 2), (7, 3)])
    got = ch01.conditional_mean(xt, yt, xq, 0.8)
    torch.testing.assert_close(got, _slow_conditional_mean(xt, yt, xq, 0.8), rtol=1e-12, atol=1e-12)


def test_conditional_mean_limits_and_stability() -> None:
    g = torch.Generator().manual_seed(1)
    xt, yt = torch.randn(20, 2, generator=g, dtype=torch.float64), torch.randn(20, 3, generator=g, dtype=torch.float64)
    xq = torch.randn(5, 2, generator=g, dtype=torch.float64)
    # h -> infinity: the mean of all targets; h -> 0: the nearest neighbour's target
    torch.testing.assert_close(ch01.conditional_mean(xt, yt, xq, 1e6), yt.mean(0).expand(5, 3), rtol=1e-9, atol=1e-9)
    nearest = torch.cdist(xq, xt).argmin(1)
    torch.testing.assert_close(ch01.conditional_mean(xt, yt, xq, 1e-4), yt[nearest], rtol=0, atol=1e-12)
    # far from every point: finite, the nearest point's target
    far = ch01.conditional_mean(xt, yt, torch.full((1, 2), 1e3, dtype=torch.float64), 0.1)
    nearest_far = torch.cdist(torch.full((1, 2), 1e3, dtype=torch.float64), xt).argmin(1)
    assert torch.isfinite(far).all()
    torch.testing.assert_close(far, yt[nearest_far])
    # float32 in, float32 out
    out = ch01.conditional_mean(xt.float(), yt.float(), xq.float(), 0.5)
    assert out.dtype == torch.float32 and out.shape == (5, 3)


@pytest.mark.parametrize("args, err", [
    ((torch.zeros(3), torch.zeros(3, 1), torch.zeros(2, 1), 1.0), ValueError),         # x_train 1-D
    ((torch.zeros(3, 1), torch.zeros(4, 1), torch.zeros(2, 1), 1.0), ValueError),      # row mismatch
    ((torch.zeros(3, 1), torch.zeros(3, 1), torch.zeros(2, 2), 1.0), ValueError),      # column mismatch
    ((torch.zeros(3, 1), torch.zeros(3, 1), torch.zeros(2, 1), 0.0), ValueError),      # h = 0
    ((torch.zeros(3, 1), torch.zeros(3, 1), torch.zeros(2, 1), float("inf")), ValueError),
    ((torch.zeros(3, 1), torch.zeros(3, 1), torch.zeros(2, 1), True), TypeError),
    ((torch.zeros(3, 1), torch.zeros(3, 1), torch.zeros(2, 1), torch.tensor(1.0)), TypeError),
    ((torch.zeros(3, 1, dtype=torch.int64), torch.zeros(3, 1), torch.zeros(2, 1), 1.0), TypeError),
    ((torch.zeros(0, 1), torch.zeros(0, 1), torch.zeros(2, 1), 1.0), ValueError),
    ((torch.zeros(3, 1), torch.full((3, 1), float("nan")), torch.zeros(2, 1), 1.0), ValueError),
    (([[0.0]], torch.zeros(1, 1), torch.zeros(1, 1), 1.0), TypeError),
])
def test_conditional_mean_rejects_bad_input(args, err) -> None:
    with pytest.raises(err):
        ch01.conditional_mean(*args)


# ----------------------------------------------------------------------------------------------------------------------
# Helpers for the check tests
# ----------------------------------------------------------------------------------------------------------------------
def _stub(exercise_id: str):
    def fn(*args, **kwargs):
        raise not_implemented(exercise_id)
    return fn


def _numbers(text: str) -> list[str]:
    return re.findall(r"-?\d+\.\d+(?:e[-+]?\d+)?", text)


class _Liar(torch.Tensor):
    """A tensor subclass: a learner's object pretending to be a tensor."""


class _AlwaysEqual:
    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    def __float__(self):
        return 0.0


def _assert_liars_fail(check, reference) -> None:
    v = check(lambda *a: reference(*a).as_subclass(_Liar), quiet=True)
    assert v.status == "failed" and v.passed == 0
    v = check(lambda *a: _AlwaysEqual(), quiet=True)
    assert v.status == "failed" and v.passed == 0


def _assert_robust(check) -> None:
    """Garbage from the learner fails every case and never raises."""
    for bad in (lambda *a: None, lambda *a: "x", lambda *a: 1 / 0, lambda *a: torch.zeros(3, 3, 3)):
        v = check(bad, quiet=True)
        assert v.status == "failed" and v.passed == 0


# ----------------------------------------------------------------------------------------------------------------------
# Check 1.1
# ----------------------------------------------------------------------------------------------------------------------
def test_check_inverse_cdf_reference_stub_and_output(capsys) -> None:
    v = ch01.check_inverse_cdf(ch01.inverse_cdf)
    assert v.status == "passed" and v.points == 3
    assert capsys.readouterr().out.strip() == \
        "[Exercise 1.1] Inverse-transform sampling on a grid: PASSED 7/7 cases, 3/3 points"
    v = ch01.check_inverse_cdf(_stub("1.1"))
    assert "not implemented yet" in capsys.readouterr().out and v.points == 0


def _wrong_left_continuous(pdf, grid, u):
    """searchsorted(right=False) (the left-continuous convention, accepted) without a guard: 0/0 at u = 0 below the
    support."""
    cdf = numeric_cdf(pdf, grid)
    j = torch.searchsorted(cdf, u, right=False).clamp(1, cdf.numel() - 1)
    t = (u - cdf[j - 1]) / (cdf[j] - cdf[j - 1])
    return grid[j - 1] + t * (grid[j] - grid[j - 1])


def _wrong_no_top_guard(pdf, grid, u):
    """The library sampler's formula, fine on [0, 1), without a guard for u = 1 (0/0 with trailing zeros)."""
    cdf = numeric_cdf(pdf, grid)
    j = torch.searchsorted(cdf, u, right=True).clamp(1, cdf.numel() - 1)
    t = (u - cdf[j - 1]) / (cdf[j] - cdf[j - 1])
    return grid[j - 1] + t.clamp(0, 1) * (grid[j] - grid[j - 1])


def _wrong_nearest_grid_point(pdf, grid, u):
    cdf = numeric_cdf(pdf, grid)
    j = torch.searchsorted(cdf, u, right=True).clamp(max=cdf.numel() - 1)
    return grid[j]


def _wrong_cumsum_cdf(pdf, grid, u):
    """The rectangle rule F_j = sum_{i<=j} p_i / sum p, inverted by interpolation: off by half a cell."""
    cdf = torch.cumsum(pdf, 0) / pdf.sum()
    j = torch.searchsorted(cdf, u, right=True).clamp(1, cdf.numel() - 1)
    t = ((u - cdf[j - 1]) / (cdf[j] - cdf[j - 1])).clamp(0, 1)
    return grid[j - 1] + t * (grid[j] - grid[j - 1])


def test_check_inverse_cdf_accepts_the_left_continuous_convention() -> None:
    """min{x : F(x) >= u} (the theory page's definition) differs only at ties: accepted."""
    assert ch01.check_inverse_cdf(ch01.inverse_cdf_left, quiet=True).status == "passed"
    for seed in range(4):
        assert ch01.SPECS["1.1"].check(ch01.inverse_cdf_left, quiet=True, seed=seed).status == "passed"


@pytest.mark.parametrize("fn, passed", [
    (_wrong_no_top_guard, 6),
    (_wrong_left_continuous, 6),
    (_wrong_nearest_grid_point, 0),
    (_wrong_cumsum_cdf, 0),
])
def test_check_inverse_cdf_wrong_answers(fn, passed) -> None:
    v = ch01.check_inverse_cdf(fn, quiet=True)
    assert v.status == "failed" and v.passed == passed
    assert v.points <= 0.4 * 3  # a key case fails: at most 40% of the points
    msg = "\n".join(v.messages)
    assert len(_numbers(msg)) <= 2          # at most one expected and one obtained value


def test_check_inverse_cdf_dtype_and_liars() -> None:
    v = ch01.check_inverse_cdf(lambda p, g, u: ch01.inverse_cdf(p, g, u).double(), quiet=True)
    assert v.status == "failed" and "dtype" in v.messages[0]
    _assert_liars_fail(ch01.check_inverse_cdf, ch01.inverse_cdf)
    _assert_robust(ch01.check_inverse_cdf)


def test_check_inverse_cdf_deterministic_and_independent_of_global_rng() -> None:
    torch.manual_seed(123)
    a = str(ch01.check_inverse_cdf(_wrong_left_continuous, quiet=True))
    torch.manual_seed(456)
    torch.rand(10)
    b = str(ch01.check_inverse_cdf(_wrong_left_continuous, quiet=True))
    assert a == b


def test_check_inverse_cdf_survives_input_mutation() -> None:
    def vandal(pdf, grid, u):
        x = ch01.inverse_cdf(pdf, grid, u)
        pdf.zero_(); grid.zero_(); u.zero_()   # noqa: E702
        return x
    assert ch01.check_inverse_cdf(vandal, quiet=True).status == "passed"
    assert ch01.check_inverse_cdf(ch01.inverse_cdf, quiet=True).status == "passed"


# ----------------------------------------------------------------------------------------------------------------------
# Check 1.2
# ----------------------------------------------------------------------------------------------------------------------
def test_check_kl_reference_and_stub(capsys) -> None:
    v = ch01.check_kl_divergence(kl_divergence)
    assert v.status == "passed" and v.points == 2
    assert capsys.readouterr().out.strip() == \
        "[Exercise 1.2] The KL divergence and its edge cases: PASSED 8/8 cases, 2/2 points"
    v = ch01.check_kl_divergence(_stub("1.2"))
    assert v.status == "not implemented" and "not implemented yet, 0/2 points" in capsys.readouterr().out


@pytest.mark.parametrize("impl", [
    lambda p, q: (torch.xlogy(p, p) - torch.xlogy(p, q)).sum(),
    lambda p, q: torch.where(p > 0, p * (torch.log(p) - torch.log(q)), torch.zeros_like(p)).sum(),
    lambda p, q: (p[p > 0] * torch.log(p[p > 0] / q[p > 0])).sum(),
    lambda p, q: (torch.xlogy(p.double(), p.double()) - torch.xlogy(p.double(), q.double())).sum().to(p.dtype),
])
def test_check_kl_accepts_correct_variants(impl) -> None:
    assert ch01.check_kl_divergence(impl, quiet=True).status == "passed"


def _kl_naive(p, q):
    return (p * torch.log(p / q)).sum()


def _kl_epsilon(p, q):
    eps = 1e-10
    return (p * torch.log((p + eps) / (q + eps))).sum()


def _kl_swapped(p, q):
    return (torch.xlogy(q, q) - torch.xlogy(q, p)).sum()


def _kl_bits(p, q):
    return (torch.xlogy(p, p) - torch.xlogy(p, q)).sum() / math.log(2)


@pytest.mark.parametrize("fn, passed, hint", [
    (_kl_naive, 4, "0 log 0"),
    (_kl_epsilon, 5, "infinite"),
    (_kl_swapped, 2, "order of the arguments"),
    (_kl_bits, 3, "natural logarithm"),
    (lambda p, q: float(kl_divergence(p, q)), 0, "torch.Tensor"),
    (lambda p, q: kl_divergence(p, q).reshape(1), 0, "0-d"),
])
def test_check_kl_wrong_answers(fn, passed, hint) -> None:
    v = ch01.check_kl_divergence(fn, quiet=True)
    assert v.status == "failed" and v.passed == passed and v.points <= 0.4 * 2  # a key case fails
    assert hint in v.messages[0]


def test_check_kl_messages_never_state_the_expected_value() -> None:
    # every case's expected value, formatted as the checks format numbers
    expected = {f"{float(kl_divergence(p, q)):.6g}" for p, q in [
        (torch.tensor([0.5, 0.5], dtype=torch.float64), torch.tensor([0.9, 0.1], dtype=torch.float64)),
        (torch.tensor([0.5, 0.5, 0.0], dtype=torch.float64), torch.tensor([0.25, 0.25, 0.5], dtype=torch.float64)),
    ]}
    for fn in (_kl_swapped, _kl_bits, lambda p, q: kl_divergence(p, q) + 0.1):
        v = ch01.check_kl_divergence(fn, quiet=True)
        for m in v.messages:
            assert not any(e in m for e in expected), m
    v = ch01.check_kl_divergence(lambda p, q: kl_divergence(p, q) * 1.5, quiet=True)
    assert "not KL(p || q)" in v.messages[0]


def test_check_kl_liars_and_garbage() -> None:
    _assert_liars_fail(ch01.check_kl_divergence, kl_divergence)
    _assert_robust(ch01.check_kl_divergence)
    v = ch01.check_kl_divergence(lambda p, q: kl_divergence(p, q).float(), quiet=True)   # float64 in, float32 out
    assert v.status == "failed" and "dtype" in v.messages[0]


# ----------------------------------------------------------------------------------------------------------------------
# Check 1.3
# ----------------------------------------------------------------------------------------------------------------------
def test_check_conditional_mean_reference_and_stub(capsys) -> None:
    v = ch01.check_conditional_mean(ch01.conditional_mean)
    assert v.status == "passed" and v.points == 3
    assert "PASSED 7/7 cases, 3/3 points" in capsys.readouterr().out
    v = ch01.check_conditional_mean(_stub("1.3"))
    assert v.status == "not implemented" and "not implemented yet" in capsys.readouterr().out


def _cm_softmax_expanded(xt, yt, xq, h):
    d2 = (xq**2).sum(1, keepdim=True) - 2 * xq @ xt.T + (xt**2).sum(1)      # the ||a||^2 - 2ab + ||b||^2 shortcut
    return torch.softmax(-d2 / (2 * h * h), dim=1) @ yt


def _cm_logsumexp(xt, yt, xq, h):
    logits = -((xq[:, None, :] - xt[None, :, :]) ** 2).sum(-1) / (2 * h**2)
    return torch.exp(logits - torch.logsumexp(logits, 1, keepdim=True)) @ yt


@pytest.mark.parametrize("impl", [_cm_softmax_expanded, _cm_logsumexp])
def test_check_conditional_mean_accepts_correct_variants(impl) -> None:
    assert ch01.check_conditional_mean(impl, quiet=True).status == "passed"


def _cm_naive(xt, yt, xq, h):
    w = torch.exp(-torch.cdist(xq, xt) ** 2 / (2 * h**2))
    return (w @ yt) / w.sum(1, keepdim=True)


def _cm_unnormalised(xt, yt, xq, h):
    return torch.exp(-torch.cdist(xq, xt) ** 2 / (2 * h**2)) @ yt


def _cm_h_not_squared(xt, yt, xq, h):
    return torch.softmax(-torch.cdist(xq, xt) ** 2 / (2 * h), dim=1) @ yt


def _cm_nearest(xt, yt, xq, h):
    return yt[torch.cdist(xq, xt).argmin(1)]


@pytest.mark.parametrize("fn, passed", [
    (_cm_naive, 5),
    (_cm_unnormalised, 0),
    (_cm_h_not_squared, 2),
    (_cm_nearest, 0),
])
def test_check_conditional_mean_wrong_answers(fn, passed) -> None:
    v = ch01.check_conditional_mean(fn, quiet=True)
    assert v.status == "failed" and v.passed == passed and v.points <= 0.4 * 3  # a key case fails
    assert len(_numbers("\n".join(v.messages))) <= 2


def test_check_conditional_mean_liars_and_garbage() -> None:
    _assert_liars_fail(ch01.check_conditional_mean, ch01.conditional_mean)
    _assert_robust(ch01.check_conditional_mean)


def test_check_conditional_mean_deterministic() -> None:
    torch.manual_seed(0)
    a = str(ch01.check_conditional_mean(_cm_naive, quiet=True))
    torch.manual_seed(99)
    b = str(ch01.check_conditional_mean(_cm_naive, quiet=True))
    assert a == b


# ----------------------------------------------------------------------------------------------------------------------
# The specs: fresh cases for the grader
# ----------------------------------------------------------------------------------------------------------------------
SEEDS = (0, 777, 2**61 - 1)


@pytest.mark.parametrize("ex", ["1.1", "1.2", "1.3"])
def test_fresh_cases_have_the_notebooks_structure(ex):
    spec = ch01.SPECS[ex]
    public = spec.cases(None)
    for seed in SEEDS:
        drawn = spec.cases(seed)
        assert [c.hidden for c in drawn] == [c.hidden for c in public]
        assert repr([c.inputs for c in drawn]) == repr([c.inputs for c in spec.cases(seed)])
    assert repr(spec.cases(SEEDS[0])) != repr(spec.cases(SEEDS[1]))


def test_fresh_edge_cases_keep_their_edges():
    for seed in SEEDS:
        gap = ch01.SPECS["1.1"].cases(seed)[3].inputs
        cdf = numeric_cdf(gap["pdf_values"], gap["grid"])
        assert (cdf == gap["u"][0]).sum() >= 2       # u lies exactly on a flat stretch of the CDF
        ends = ch01.SPECS["1.1"].cases(seed)[5].inputs
        assert ends["u"][:2].tolist() == [0.0, 1.0] and ends["pdf_values"][:2].sum() == 0
        assert ends["pdf_values"][-2:].sum() == 0
        kl = ch01.SPECS["1.2"].cases(seed)
        assert math.isinf(float(kl_divergence(kl[3].inputs["p"], kl[3].inputs["q"])))
        assert math.isinf(float(kl_divergence(kl[7].inputs["p"], kl[7].inputs["q"])))
        assert kl[6].inputs["q"].min() < 1e-200                      # the tiny q
        far = ch01.SPECS["1.3"].cases(seed)[4].inputs
        w = torch.exp(-torch.cdist(far["x_query"][:1], far["x_train"]) ** 2 / (2 * far["bandwidth"] ** 2))
        assert w.sum() == 0                                          # every weight underflows


@pytest.mark.parametrize("ex, fn", [
    ("1.1", ch01.inverse_cdf),
    ("1.2", kl_divergence),
    ("1.2", lambda p, q: torch.where(p > 0, p * (torch.log(p) - torch.log(q)), torch.zeros_like(p)).sum()),
    ("1.3", ch01.conditional_mean),
    ("1.3", _cm_softmax_expanded),
    ("1.3", _cm_logsumexp),
])
def test_correct_solutions_pass_fresh_cases(ex, fn):
    for seed in SEEDS:
        v = ch01.SPECS[ex].check(fn, quiet=True, seed=seed)
        assert v.status == "passed", (seed, str(v))


@pytest.mark.parametrize("ex, fn", [
    ("1.1", _wrong_left_continuous), ("1.1", _wrong_no_top_guard), ("1.1", _wrong_cumsum_cdf),
    ("1.2", _kl_naive), ("1.2", _kl_epsilon), ("1.2", _kl_swapped),
    ("1.3", _cm_naive), ("1.3", _cm_nearest), ("1.3", _cm_h_not_squared),
])
def test_wrong_solutions_fail_fresh_cases(ex, fn):
    for seed in SEEDS:
        assert ch01.SPECS[ex].check(fn, quiet=True, seed=seed).status == "failed"


def test_validate_private_cases():
    with pytest.raises(ValueError, match="no input 'u'"):
        ch01.SPECS["1.1"].validate({"pdf_values": torch.ones(3), "grid": torch.arange(3.0)})
    with pytest.raises(ValueError, match="rejects this case"):
        ch01.SPECS["1.1"].validate({"pdf_values": torch.ones(3), "grid": torch.arange(3.0), "u": torch.tensor([2.0])})
    with pytest.raises(ValueError, match="must be a float or int"):
        ch01.SPECS["1.3"].validate({"x_train": torch.ones(2, 1), "y_train": torch.ones(2, 1),
                                    "x_query": torch.ones(1, 1), "bandwidth": "wide"})
    ch01.SPECS["1.2"].validate({"p": torch.tensor([0.5, 0.5]), "q": torch.tensor([0.5, 0.5])})
