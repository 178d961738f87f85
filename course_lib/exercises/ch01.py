"""Chapter 1 exercises: generative models and sampling.

Three graded exercises, each checked on visible and hidden cases (see :mod:`course_lib.exercises.core` for the
declarative form of a check, :class:`~course_lib.exercises.core.ExerciseSpec`):

- **1.1** :func:`check_inverse_cdf`: inverse-transform sampling on a grid. The learner maps given uniforms
  :math:`u` through the inverse of the numeric CDF; the map is deterministic, so the check is too (no statistical
  test). Reference: :func:`inverse_cdf`, which agrees bit for bit with
  :func:`course_lib.data.sampling.inverse_transform_sample` when fed the same uniforms.
- **1.2** :func:`check_kl_divergence`: the discrete KL divergence with its two conventions,
  :math:`0 \\log 0 = 0` and :math:`p \\log(p / 0) = +\\infty`. Reference:
  :func:`course_lib.gan.theory.kl_divergence`.
- **1.3** :func:`check_conditional_mean`: the empirical conditional mean (Nadaraya-Watson kernel regression), the
  predictor that minimises the mean squared error, and the reason MSE-trained models are blurry. Reference:
  :func:`conditional_mean`.

A notebook's check runs the fixed cases (``make_cases(None)``, built from fixed seeds); the grader draws fresh cases
of the same kinds from its secret seed (``make_cases(seed)``): same structure (a zero-density gap, ``u = 1``, a
query far from the data, ...), new numbers. Cases whose correctness hinges on exact ties (a ``u`` lying exactly on a
flat stretch of the CDF) use dyadic numbers in both forms, so every correct implementation sees the same ties.

The references of 1.1 and 1.3 live in this module because the library has no other use for them; the notebook uses
them as fallbacks (``use(fn, fallback=ch01.inverse_cdf, exercise_id="1.1")``) so an untouched learner notebook runs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Callable

import torch
from torch import Tensor

from course_lib.data.sampling import inverse_cdf, numeric_cdf
from course_lib.exercises.core import CaseInput, Exercise, ExerciseSpec, Verdict, compare_tensors, plain, tolerances
from course_lib.exercises.core import gen as _gen, randint as _randint, sub_seed as _sub_seed, uniform as _uniform
from course_lib.exercises.core import type_name as _type_name
from course_lib.gan.theory import kl_divergence as _reference_kl

__all__ = [
    "EXERCISES",
    "SPECS",
    "inverse_cdf",
    "conditional_mean",
    "check_inverse_cdf",
    "check_kl_divergence",
    "check_conditional_mean",
]

EXERCISES: dict[str, Exercise] = {
    "1.1": Exercise("1.1", "Inverse-transform sampling on a grid", points=3, difficulty=2, minutes=20),
    "1.2": Exercise("1.2", "The KL divergence and its edge cases", points=2, difficulty=1, minutes=15),
    "1.3": Exercise("1.3", "The MSE-optimal predictor is a conditional mean", points=3, difficulty=2, minutes=20),
}


# ----------------------------------------------------------------------------------------------------------------------
# Reference implementations
# ----------------------------------------------------------------------------------------------------------------------
def conditional_mean(x_train: Tensor, y_train: Tensor, x_query: Tensor, bandwidth: float) -> Tensor:
    r"""Empirical conditional mean :math:`\hat{\mathbb E}[y \mid x = q]` by Gaussian-kernel (Nadaraya-Watson) weights.

    .. math::
        w_{mi} = \frac{\exp\!\big(-\lVert q_m - x_i \rVert^2 / (2h^2)\big)}
                      {\sum_{k} \exp\!\big(-\lVert q_m - x_k \rVert^2 / (2h^2)\big)}
               = \operatorname{softmax}_i\Big(-\frac{\lVert q_m - x_i \rVert^2}{2h^2}\Big), \qquad
        \hat y_m = \sum_i w_{mi} \, y_i .

    Among all functions of :math:`x`, :math:`\mathbb E[y \mid x]` minimises the mean squared error
    :math:`\mathbb E \lVert y - f(x) \rVert^2`; this is its kernel estimate from samples, with bandwidth :math:`h`
    (:math:`h \to 0`: the nearest neighbour's target, :math:`h \to \infty`: the mean of all targets). Computing the
    weights with a softmax (the maximum logit subtracted first) keeps queries far from every training input finite:
    the plain ratio of exponentials would be :math:`0 / 0` there.

    Args:
        x_train: ``(N, D_in)`` inputs, :math:`N \ge 1`.
        y_train: ``(N, D_out)`` targets.
        x_query: ``(M, D_in)`` query inputs.
        bandwidth: the kernel width :math:`h > 0` (a Python number).

    Returns:
        ``(M, D_out)`` predictions in ``y_train``'s dtype, on its device. Memory :math:`O(MN)`.

    Raises:
        TypeError: an argument that is not a floating tensor, or a bandwidth that is not a number.
        ValueError: wrong shapes, mismatched devices, non-finite values, or :math:`h \le 0`.
    """
    for t, name in ((x_train, "x_train"), (y_train, "y_train"), (x_query, "x_query")):
        if not isinstance(t, Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}.")
        if not t.is_floating_point():
            raise TypeError(f"{name} must be a floating-point tensor, got dtype {t.dtype}.")
        if t.dim() != 2:
            raise ValueError(f"{name} must be 2-D, got shape {tuple(t.shape)}.")
        if not bool(torch.isfinite(t).all()):
            raise ValueError(f"{name} must be finite (no NaN or inf).")
    if x_train.shape[0] == 0:
        raise ValueError("x_train is empty: need at least one training point.")
    if y_train.shape[0] != x_train.shape[0]:
        raise ValueError(f"x_train and y_train must have the same number of rows, got {x_train.shape[0]} and "
                         f"{y_train.shape[0]}.")
    if x_query.shape[1] != x_train.shape[1]:
        raise ValueError(f"x_query must have {x_train.shape[1]} columns like x_train, got {x_query.shape[1]}.")
    if not (x_train.device == y_train.device == x_query.device):
        raise ValueError("x_train, y_train and x_query must be on the same device.")
    if isinstance(bandwidth, bool) or not isinstance(bandwidth, (int, float)):
        raise TypeError(f"bandwidth must be a number, got {type(bandwidth).__name__}.")
    if not math.isfinite(bandwidth) or bandwidth <= 0:
        raise ValueError(f"bandwidth must be a finite number > 0, got {bandwidth!r}.")
    dtype = torch.promote_types(torch.promote_types(x_train.dtype, x_query.dtype), y_train.dtype)
    xq, xt = x_query.to(dtype), x_train.to(dtype)
    # Exact pairwise distances (no ||a||^2 - 2ab + ||b||^2 shortcut, which cancels badly for close points).
    d2 = torch.cdist(xq, xt, compute_mode="donot_use_mm_for_euclid_dist").square()   # (M, N)
    w = torch.softmax(-d2 / (2.0 * float(bandwidth) ** 2), dim=1)                    # (M, N), rows sum to 1
    return (w @ y_train.to(dtype)).to(y_train.dtype)                                  # (M, D_out)


def inverse_cdf_left(pdf_values: Tensor, grid: Tensor, u: Tensor) -> Tensor:
    r"""The other standard convention of the inverse CDF, :math:`F^{-1}(u) = \min\{x : F(x) \ge u\}` (the
    left-continuous generalised inverse), on the same piecewise-linear numeric CDF as :func:`inverse_cdf`.

    It differs from :func:`inverse_cdf` (:math:`\min\{x : F(x) > u\}`) only where ``u`` is exactly the height of a
    flat stretch of :math:`F` (it returns the stretch's left end, :func:`inverse_cdf` its right end) and at
    :math:`u = 0` (the first grid point instead of the left end of the support). Exercise 1.1 accepts both.
    """
    cdf = numeric_cdf(pdf_values, grid)                                # (M,)
    g = grid.detach().to(device=cdf.device, dtype=cdf.dtype)           # (M,)
    v = u.detach().to(cdf.dtype).reshape(-1)                           # (n,)
    j = torch.searchsorted(cdf, v, right=False).clamp(1, cdf.numel() - 1)  # first F_j >= u (u = 0: j = 0 -> 1)
    f_lo, f_hi = cdf[j - 1], cdf[j]
    t = torch.where(f_hi > f_lo, (v - f_lo) / (f_hi - f_lo).clamp_min(torch.finfo(cdf.dtype).tiny), 1.0)
    x = g[j - 1] + t.clamp(0.0, 1.0) * (g[j] - g[j - 1])
    return torch.where(v <= cdf[0], g[0], x).reshape(u.shape)          # u = 0 = F_0: the first grid point


# ----------------------------------------------------------------------------------------------------------------------
# Exercise 1.1: inverse-transform sampling
# ----------------------------------------------------------------------------------------------------------------------
def _case_11(name: str, pdf: Tensor, grid: Tensor, u: Tensor, hidden: bool, rtol: float, atol: float) -> CaseInput:
    return CaseInput(name, {"pdf_values": pdf, "grid": grid, "u": u, "rtol": rtol, "atol": atol}, hidden)


def _cases_inverse_cdf(seed: int | None = None) -> list[CaseInput]:
    """Every case of exercise 1.1: the notebook's fixed ones (``seed=None``) or fresh ones of the same kinds."""
    f64 = torch.float64
    if seed is None:
        cases = []
        # A flat density on [0, 2]: the inverse CDF is x = 2u.
        grid = torch.linspace(0.0, 2.0, 5)
        cases.append(_case_11("uniform density on [0, 2]", torch.ones(5), grid, torch.tensor([0.1, 0.25, 0.5, 0.8]),
                              False, 1e-5, 1e-6))
        # The triangle p(x) = 2x on [0, 1] (close to x = sqrt(u), exactly the piecewise-linear inverse).
        grid = torch.linspace(0.0, 1.0, 101, dtype=f64)
        cases.append(_case_11("triangle density on [0, 1]", 2.0 * grid, grid,
                              torch.tensor([0.01, 0.25, 0.5, 0.81, 0.99], dtype=f64), False, 1e-9, 1e-12))
        # A bimodal density, unnormalised, with uniforms drawn from a fixed seed.
        grid = torch.linspace(-4.0, 4.0, 201)
        pdf = torch.exp(-0.5 * ((grid + 1.5) / 0.6) ** 2) + 0.5 * torch.exp(-0.5 * ((grid - 2.0) / 0.4) ** 2)
        cases.append(_case_11("bimodal density, u from a fixed seed", pdf, grid, torch.rand(64, generator=_gen(101)),
                              False, 1e-5, 1e-5))
        # Hidden: a zero-density gap between two bumps. Every CDF value is a dyadic fraction, exact in any summation
        # order: F = [0, 1/8, 3/8, 1/2, 1/2, 1/2, 5/8, 7/8, 1]; u = 1/2 sits exactly on the flat stretch.
        grid = torch.arange(9, dtype=f64)
        pdf = torch.tensor([0, 1, 1, 0, 0, 0, 1, 1, 0], dtype=f64)
        cases.append(_case_11("zero-density gap", pdf, grid, torch.tensor([0.2, 0.45, 0.5, 0.55, 0.9], dtype=f64),
                              True, 1e-9, 1e-12))
        # Hidden: a non-uniform (geometric) grid under an exponential density.
        grid = 0.01 * 1.08 ** torch.arange(80, dtype=f64)
        cases.append(_case_11("non-uniform grid", torch.exp(-grid), grid,
                              torch.rand(50, generator=_gen(102), dtype=f64), True, 1e-9, 1e-12))
        # Hidden: u exactly 0 and exactly 1, with zero density at both ends: F = [0, 0, 1/8, 1/2, 7/8, 1, 1].
        grid = torch.arange(7, dtype=torch.float32)
        pdf = torch.tensor([0, 0, 1, 2, 1, 0, 0], dtype=torch.float32)
        cases.append(_case_11("u = 0 and u = 1 with zero density at both ends", pdf, grid,
                              torch.tensor([0.0, 1.0, 0.5, 0.3]), True, 1e-5, 1e-6))
        # Hidden: u of shape (3, 4); the result keeps u's shape.
        grid = torch.linspace(-1.0, 3.0, 41, dtype=f64)
        cases.append(_case_11("u of shape (3, 4)", 1.0 + grid.abs(), grid,
                              torch.rand(3, 4, generator=_gen(103), dtype=f64), True, 1e-9, 1e-12))
        return cases

    gs = [_gen(_sub_seed(seed, k)) for k in range(7)]
    cases = []
    g = gs[0]
    lo, width, n = _uniform(g, -3.0, 3.0), _uniform(g, 0.5, 4.0), _randint(g, 3, 12)
    grid = torch.linspace(lo, lo + width, n)
    cases.append(_case_11("uniform density on an interval", torch.full((n,), _uniform(g, 0.2, 5.0)), grid,
                          torch.rand(_randint(g, 3, 8), generator=g), False, 1e-5, 1e-6))
    g = gs[1]
    n = _randint(g, 40, 160)
    grid = torch.linspace(0.0, _uniform(g, 0.5, 2.0), n, dtype=f64)
    cases.append(_case_11("triangle density", _uniform(g, 0.5, 3.0) * grid, grid,
                          torch.rand(_randint(g, 4, 10), generator=g, dtype=f64), False, 1e-9, 1e-12))
    g = gs[2]
    grid = torch.linspace(-4.0, 4.0, _randint(g, 120, 240))
    m1, m2 = _uniform(g, -2.5, -0.5), _uniform(g, 0.5, 2.5)
    s1, s2, w2 = _uniform(g, 0.3, 0.8), _uniform(g, 0.3, 0.8), _uniform(g, 0.2, 2.0)
    pdf = torch.exp(-0.5 * ((grid - m1) / s1) ** 2) + w2 * torch.exp(-0.5 * ((grid - m2) / s2) ** 2)
    cases.append(_case_11("bimodal density", pdf, grid, torch.rand(64, generator=g), False, 1e-5, 1e-5))
    # Hidden: two flat-topped bumps of integer heights h1, h2 with h1 + h2 a power of two, separated by a gap of z
    # zero-density points, on an integer grid: every CDF value is a dyadic fraction (exact in any summation order).
    g = gs[3]
    h1, h2 = [(1, 1), (1, 3), (3, 1), (2, 2)][_randint(g, 0, 3)]
    z = _randint(g, 2, 4)                                        # two zeros at least: a cell of zero mass
    pdf = torch.tensor([0.0, h1, h1] + [0.0] * z + [h2, h2, 0.0], dtype=f64)
    grid = torch.arange(pdf.numel(), dtype=f64) + float(_randint(g, -5, 5))
    flat = 2.0 * h1 / (2.0 * (h1 + h2))                          # F on the gap: exactly representable
    u = torch.tensor([flat] + [_randint(g, 1, 63) / 64.0 for _ in range(5)], dtype=f64)
    cases.append(_case_11("zero-density gap", pdf, grid, u, True, 1e-9, 1e-12))
    g = gs[4]
    ratio, rate = _uniform(g, 1.04, 1.12), _uniform(g, 0.5, 2.0)
    grid = _uniform(g, 0.005, 0.05) * ratio ** torch.arange(_randint(g, 50, 90), dtype=f64)
    cases.append(_case_11("non-uniform grid", torch.exp(-rate * grid), grid,
                          torch.rand(50, generator=g, dtype=f64), True, 1e-9, 1e-12))
    # Hidden: u = 0 and u = 1 with zero density at both ends (a triangle or a trapezoid of mass 4 or 8: dyadic F).
    g = gs[5]
    middle = [[1.0, 2.0, 1.0], [1.0, 3.0, 3.0, 1.0]][_randint(g, 0, 1)]
    pdf = torch.tensor([0.0] * _randint(g, 2, 3) + middle + [0.0] * _randint(g, 2, 3), dtype=torch.float32)
    grid = torch.arange(pdf.numel(), dtype=torch.float32)
    u = torch.tensor([0.0, 1.0] + [_randint(g, 1, 15) / 16.0 for _ in range(3)])
    cases.append(_case_11("u = 0 and u = 1 with zero density at both ends", pdf, grid, u, True, 1e-5, 1e-6))
    g = gs[6]
    grid = torch.linspace(-1.0, 3.0, _randint(g, 21, 61), dtype=f64)
    shape = (_randint(g, 2, 4), _randint(g, 2, 5))
    cases.append(_case_11(f"u of shape {shape}", 1.0 + grid.abs(), grid,
                          torch.rand(*shape, generator=g, dtype=f64), True, 1e-9, 1e-12))
    return cases


def _call_inverse_cdf(fns: Sequence[Callable[..., Any]], inputs: Mapping[str, Any]) -> Any:
    (fn,) = fns
    return plain(fn(inputs["pdf_values"], inputs["grid"], inputs["u"]))


def _reference_inverse_cdf(inputs: Mapping[str, Any]) -> dict[str, Any]:
    x = inverse_cdf(inputs["pdf_values"], inputs["grid"], inputs["u"])
    left = inverse_cdf_left(inputs["pdf_values"], inputs["grid"], inputs["u"])
    rtol, atol = tolerances(x.dtype, loose=(1e-5, 1e-6), tight=(1e-9, 1e-12), inputs=inputs)
    return {"x": x, "left": left, "rtol": rtol, "atol": atol}


def _compare_inverse_cdf(got: Any, expected: Mapping[str, Any]) -> str | None:
    """Each value may follow either convention (``F(x) > u`` or ``F(x) >= u``), which differ only at ties."""
    return compare_tensors(got, expected["x"], rtol=expected["rtol"], atol=expected["atol"], what="samples x",
                           also=expected.get("left"))


def check_inverse_cdf(fn: Callable[[Tensor, Tensor, Tensor], Tensor], *, quiet: bool = False) -> Verdict:
    """Check exercise 1.1: ``fn(pdf_values, grid, u)`` must equal :func:`inverse_cdf` (values, shape and dtype)."""
    return SPECS["1.1"].check(fn, quiet=quiet)


# ----------------------------------------------------------------------------------------------------------------------
# Exercise 1.2: the KL divergence
# ----------------------------------------------------------------------------------------------------------------------
def _close(a: float, b: float, rtol: float, atol: float) -> bool:
    if math.isinf(a) or math.isinf(b):
        return a == b
    return abs(a - b) <= atol + rtol * abs(b)


def _naive_kl(p: Tensor, q: Tensor, log: Callable[[Tensor], Tensor] = torch.log) -> float:
    """sum_i p_i log(p_i / q_i) over the support of p (a diagnosis helper: used to recognise common mistakes)."""
    mask = p > 0
    return float((p[mask].double() * (log(p[mask].double()) - log(q[mask].double()))).sum())


def _normalised(x: Tensor) -> Tensor:
    return x / x.sum()


def _cases_kl_divergence(seed: int | None = None) -> list[CaseInput]:
    """Every case of exercise 1.2 (p, q): the notebook's fixed ones (``seed=None``) or fresh ones of the same kinds."""
    f64 = torch.float64
    tiny = 1e-300
    if seed is None:
        rand = torch.rand(2, 50, generator=_gen(201))
        p50, q50 = rand[0] + 0.05, rand[1] + 0.05
        specs = [
            ("two coins", torch.tensor([0.5, 0.5], dtype=f64), torch.tensor([0.9, 0.1], dtype=f64), False),
            ("identical distributions", torch.tensor([0.2, 0.3, 0.5], dtype=f64),
             torch.tensor([0.2, 0.3, 0.5], dtype=f64), False),
            ("p has zeros (0 log 0 = 0)", torch.tensor([0.5, 0.5, 0.0], dtype=f64),
             torch.tensor([0.25, 0.25, 0.5], dtype=f64), False),
            ("q misses an outcome of p", torch.tensor([0.5, 0.5], dtype=f64), torch.tensor([1.0, 0.0], dtype=f64),
             False),
            # hidden
            ("50 outcomes in float32", p50 / p50.sum(), q50 / q50.sum(), True),
            ("zeros in both, at the same outcomes", torch.tensor([0.0, 0.4, 0.6, 0.0], dtype=f64),
             torch.tensor([0.0, 0.5, 0.25, 0.25], dtype=f64), True),
            ("a one-hot p against a tiny q", torch.tensor([1.0, 0.0, 0.0], dtype=f64),
             torch.tensor([tiny, 0.5, 0.5 - tiny], dtype=f64), True),
            ("zeros in p, and q misses p's mass", torch.tensor([0.0, 0.3, 0.0, 0.7], dtype=f64),
             torch.tensor([0.0, 0.5, 0.5, 0.0], dtype=f64), True),
        ]
        return [CaseInput(name, {"p": p, "q": q}, hidden) for name, p, q, hidden in specs]

    gs = [_gen(_sub_seed(seed, k)) for k in range(8)]
    specs = []
    g = gs[0]
    a, b = _uniform(g, 0.05, 0.95), _uniform(g, 0.05, 0.95)
    specs.append(("two coins", torch.tensor([a, 1 - a], dtype=f64), torch.tensor([b, 1 - b], dtype=f64), False))
    g = gs[1]
    p = _normalised(torch.rand(_randint(g, 3, 8), generator=g, dtype=f64) + 0.05)
    specs.append(("identical distributions", p, p.clone(), False))
    g = gs[2]
    k = _randint(g, 4, 9)
    p = torch.rand(k, generator=g, dtype=f64) + 0.05
    p[torch.randperm(k, generator=g)[: _randint(g, 1, k - 2)]] = 0.0
    specs.append(("p has zeros (0 log 0 = 0)", _normalised(p),
                  _normalised(torch.rand(k, generator=g, dtype=f64) + 0.05), False))
    g = gs[3]
    k = _randint(g, 2, 7)
    q = torch.rand(k, generator=g, dtype=f64) + 0.05
    q[_randint(g, 0, k - 1)] = 0.0
    specs.append(("q misses an outcome of p", _normalised(torch.rand(k, generator=g, dtype=f64) + 0.05),
                  _normalised(q), False))
    g = gs[4]
    k = _randint(g, 30, 80)
    rand = torch.rand(2, k, generator=g) + 0.05
    specs.append((f"{k} outcomes in float32", _normalised(rand[0]), _normalised(rand[1]), True))
    g = gs[5]
    k = _randint(g, 4, 9)
    zeros = torch.randperm(k, generator=g)[: _randint(g, 1, k - 2)]
    p, q = torch.rand(k, generator=g, dtype=f64) + 0.05, torch.rand(k, generator=g, dtype=f64) + 0.05
    p[zeros], q[zeros] = 0.0, 0.0
    specs.append(("zeros in both, at the same outcomes", _normalised(p), _normalised(q), True))
    g = gs[6]
    k = _randint(g, 3, 7)
    at = _randint(g, 0, k - 1)
    p = torch.zeros(k, dtype=f64)
    p[at] = 1.0
    q = torch.rand(k, generator=g, dtype=f64) + 0.05
    q[at] = 0.0
    q = _normalised(q)
    q[at] = 10.0 ** -_uniform(g, 250.0, 300.0)                    # so small that any epsilon would swamp it
    specs.append(("a one-hot p against a tiny q", p, q, True))
    g = gs[7]
    k = _randint(g, 4, 9)
    perm = torch.randperm(k, generator=g)
    p, q = torch.rand(k, generator=g, dtype=f64) + 0.05, torch.rand(k, generator=g, dtype=f64) + 0.05
    p[perm[0]] = 0.0                                              # a zero of p (q > 0 there)
    q[perm[1]] = 0.0                                              # q misses some of p's mass
    specs.append(("zeros in p, and q misses p's mass", _normalised(p), _normalised(q), True))
    return [CaseInput(name, {"p": p, "q": q}, hidden) for name, p, q, hidden in specs]


def _call_kl_divergence(fns: Sequence[Callable[..., Any]], inputs: Mapping[str, Any]) -> Any:
    (fn,) = fns
    return plain(fn(inputs["p"], inputs["q"]))


def _reference_kl_divergence(inputs: Mapping[str, Any]) -> dict[str, Any]:
    p, q = inputs["p"], inputs["q"]
    expected = _reference_kl(p, q)
    rtol, atol = (1e-4, 1e-5) if p.dtype == torch.float32 else (1e-7, 1e-9)
    return {"value": float(expected), "dtype": expected.dtype, "p": p, "q": q,
            "rtol": float(inputs.get("rtol", rtol)), "atol": float(inputs.get("atol", atol))}


def _compare_kl_divergence(got: Any, expected: Mapping[str, Any]) -> str | None:
    """The explanation never states the expected number; it names the likely mistake."""
    if type(got) is not torch.Tensor:
        return f"the result should be a torch.Tensor (0-d), got {_type_name(got)}"
    if got.dim() != 0:
        return f"the result should be a 0-d tensor (a single number), got shape {tuple(got.shape)}"
    if got.dtype != expected["dtype"]:
        return f"the result should have the dtype of p and q ({expected['dtype']}), got {got.dtype}"
    value = float(torch.Tensor.item(torch.Tensor.detach(got)))
    want, rtol, atol = expected["value"], expected["rtol"], expected["atol"]
    p, q = expected["p"], expected["q"]
    if not math.isnan(value) and _close(value, want, rtol, atol):
        return None
    if math.isnan(value):
        return "got nan: an outcome with p_i = 0 must contribute exactly 0 (0 log 0 = 0), whatever q_i is"
    if math.isinf(want) and not math.isinf(value):
        return (f"got the finite value {value:.6g}, but p puts mass on an outcome that q gives probability 0: "
                "no small epsilon, the divergence is infinite there")
    if math.isinf(value):
        return "got inf, but q > 0 wherever p > 0 here, so the divergence is finite"
    if _close(value, _naive_kl(q, p), 1e-4, 1e-6):
        return f"got {value:.6g}, which is KL(q || p): check the order of the arguments"
    if _close(value, _naive_kl(p, q, torch.log2), 1e-4, 1e-6):
        return f"got {value:.6g}, which is in bits: use the natural logarithm"
    return f"got {value:.6g}, which is not KL(p || q) for this case"


def check_kl_divergence(fn: Callable[[Tensor, Tensor], Tensor], *, quiet: bool = False) -> Verdict:
    """Check exercise 1.2: ``fn(p, q)`` must return :math:`\\mathrm{KL}(p \\| q)` as a 0-d tensor in p's dtype."""
    return SPECS["1.2"].check(fn, quiet=quiet)


# ----------------------------------------------------------------------------------------------------------------------
# Exercise 1.3: the conditional mean
# ----------------------------------------------------------------------------------------------------------------------
def _u_shape(n: int, generator: torch.Generator, dtype: torch.dtype = torch.float64) -> tuple[Tensor, Tensor]:
    """Points on the lower half of the unit circle (a U): returns heights ``(n, 1)`` and points ``(n, 2)``."""
    theta = math.pi + math.pi * torch.rand(n, generator=generator, dtype=dtype)      # (n,) in [pi, 2 pi)
    pts = torch.stack([torch.cos(theta), torch.sin(theta)], dim=1)                   # (n, 2)
    return pts[:, 1:], pts


def _case_13(name: str, args: tuple[Any, ...], hidden: bool, rtol: float, atol: float) -> CaseInput:
    x_train, y_train, x_query, bandwidth = args
    return CaseInput(name, {"x_train": x_train, "y_train": y_train, "x_query": x_query, "bandwidth": bandwidth,
                            "rtol": rtol, "atol": atol}, hidden)


def _cases_conditional_mean(seed: int | None = None) -> list[CaseInput]:
    """Every case of exercise 1.3: the notebook's fixed ones (``seed=None``) or fresh ones of the same kinds."""
    f64 = torch.float64
    cases = []
    if seed is None:
        cases.append(_case_13("two training points", (torch.tensor([[-1.0], [1.0]]),
                              torch.tensor([[1.0, 2.0], [3.0, 4.0]]), torch.tensor([[0.0], [1.0]]), 1.0),
                              False, 1e-5, 1e-6))
        heights, points = _u_shape(40, _gen(301))
        cases.append(_case_13("the U-shaped toy: height -> point", (heights, points,
                              torch.tensor([[-0.9], [-0.6], [-0.3], [-0.1], [0.0]], dtype=f64), 0.1),
                              False, 1e-7, 1e-9))
        g = _gen(302)
        cases.append(_case_13("3-D inputs, 4-D targets", (torch.randn(30, 3, generator=g, dtype=f64),
                              torch.randn(30, 4, generator=g, dtype=f64), torch.randn(6, 3, generator=g, dtype=f64),
                              0.7), False, 1e-7, 1e-9))
        g = _gen(303)
        cases.append(_case_13("a huge bandwidth", (torch.randn(25, 2, generator=g, dtype=f64),
                              torch.randn(25, 3, generator=g, dtype=f64), torch.randn(4, 2, generator=g, dtype=f64),
                              1e4), False, 1e-7, 1e-9))
        # hidden: every exp(-d^2 / 2h^2) underflows to 0 for this query
        cases.append(_case_13("a query far from every training point", (torch.tensor([[0.0], [1.0], [3.0]], dtype=f64),
                              torch.tensor([[1.0, -1.0], [2.0, -2.0], [3.0, -3.0]], dtype=f64),
                              torch.tensor([[50.0], [1.2]], dtype=f64), 0.5), True, 1e-7, 1e-9))
        # hidden: the same input with different targets: the prediction averages them
        cases.append(_case_13("repeated inputs with different targets", (torch.tensor([[0.0], [0.0], [5.0]], dtype=f64),
                              torch.tensor([[1.0], [3.0], [100.0]], dtype=f64), torch.tensor([[0.0]], dtype=f64), 0.3),
                              True, 1e-7, 1e-9))
        # hidden: float32 and a narrow kernel, exp underflows in single precision
        x = torch.arange(6, dtype=torch.float32).unsqueeze(1)                             # (6, 1)
        cases.append(_case_13("a narrow bandwidth in float32", (x, torch.linspace(-1.0, 1.0, 12).reshape(6, 2),
                              torch.tensor([[0.3], [2.5], [4.9]]), 0.02), True, 1e-5, 1e-6))
        return cases

    gs = [_gen(_sub_seed(seed, k)) for k in range(7)]
    g = gs[0]
    a, b = _uniform(g, -2.0, -0.5), _uniform(g, 0.5, 2.0)
    cases.append(_case_13("two training points", (torch.tensor([[a], [b]]), torch.randn(2, 2, generator=g),
                          torch.tensor([[_uniform(g, a, b)], [b]]), _uniform(g, 0.5, 2.0)), False, 1e-5, 1e-6))
    g = gs[1]
    heights, points = _u_shape(_randint(g, 20, 24), g)
    cases.append(_case_13("the U-shaped toy: height -> point", (heights, points,
                          -torch.rand(5, 1, generator=g, dtype=f64), _uniform(g, 0.05, 0.3)), False, 1e-7, 1e-9))
    g = gs[2]
    n, m = _randint(g, 10, 24), _randint(g, 3, 8)
    cases.append(_case_13("3-D inputs, 4-D targets", (torch.randn(n, 3, generator=g, dtype=f64),
                          torch.randn(n, 4, generator=g, dtype=f64), torch.randn(m, 3, generator=g, dtype=f64),
                          _uniform(g, 0.4, 1.5)), False, 1e-7, 1e-9))
    g = gs[3]
    n = _randint(g, 10, 24)
    cases.append(_case_13("a huge bandwidth", (torch.randn(n, 2, generator=g, dtype=f64),
                          torch.randn(n, 3, generator=g, dtype=f64), torch.randn(4, 2, generator=g, dtype=f64),
                          10.0 ** _uniform(g, 3.0, 5.0)), False, 1e-7, 1e-9))
    # hidden: a query so far that every weight underflows (distinct training inputs: a unique nearest one)
    g = gs[4]
    x = torch.sort(torch.randperm(20, generator=g)[:4].to(f64)).values.unsqueeze(1)      # (4, 1) distinct
    far = float(x.max()) + _uniform(g, 30.0, 80.0)
    cases.append(_case_13("a query far from every training point", (x, torch.randn(4, 2, generator=g, dtype=f64),
                          torch.tensor([[far], [_uniform(g, 0.0, 3.0)]], dtype=f64), 0.5), True, 1e-7, 1e-9))
    # hidden: the same input with different targets: the prediction averages them
    g = gs[5]
    x0 = _uniform(g, -2.0, 2.0)
    cases.append(_case_13("repeated inputs with different targets",
                          (torch.tensor([[x0], [x0], [x0 + 5.0]], dtype=f64),
                           torch.tensor([[_uniform(g, -3, 3)], [_uniform(g, -3, 3)], [100.0]], dtype=f64),
                           torch.tensor([[x0]], dtype=f64), _uniform(g, 0.2, 0.4)), True, 1e-7, 1e-9))
    # hidden: float32 and a narrow kernel: every weight underflows in single precision (queries at least 0.3 from
    # the integer inputs, h = 0.02 as in the notebook's case), one query exactly half-way between two inputs (the
    # answer: their mean), the others at least 0.1 from a midpoint (a near-tie would make the answer hinge on float32
    # rounding, and a smaller h would make the tie itself hinge on how the log-sum-exp is rounded)
    g = gs[6]
    n = _randint(g, 4, 8)
    x = torch.arange(n, dtype=torch.float32).unsqueeze(1)                                  # (n, 1)
    q = [_randint(g, 0, n - 2) + 0.5] + [_randint(g, 0, n - 2) + _randint(g, 0, 1) * 0.3 + _uniform(g, 0.3, 0.4)
                                          for _ in range(2)]   # clear of the midpoints: no near-ties
    cases.append(_case_13("a narrow bandwidth in float32", (x, torch.randn(n, 2, generator=g),
                          torch.tensor(q).unsqueeze(1), 0.02), True, 1e-5, 1e-6))
    return cases


def _call_conditional_mean(fns: Sequence[Callable[..., Any]], inputs: Mapping[str, Any]) -> Any:
    (fn,) = fns
    return plain(fn(inputs["x_train"], inputs["y_train"], inputs["x_query"], inputs["bandwidth"]))


def _reference_conditional_mean(inputs: Mapping[str, Any]) -> dict[str, Any]:
    y = conditional_mean(inputs["x_train"], inputs["y_train"], inputs["x_query"], inputs["bandwidth"])
    rtol, atol = tolerances(y.dtype, loose=(1e-5, 1e-6), tight=(1e-7, 1e-9), inputs=inputs)
    return {"y": y, "rtol": rtol, "atol": atol}


def _compare_conditional_mean(got: Any, expected: Mapping[str, Any]) -> str | None:
    return compare_tensors(got, expected["y"], rtol=expected["rtol"], atol=expected["atol"], what="prediction")


def check_conditional_mean(fn: Callable[[Tensor, Tensor, Tensor, float], Tensor], *, quiet: bool = False) -> Verdict:
    """Check exercise 1.3: ``fn(x_train, y_train, x_query, bandwidth)`` must equal :func:`conditional_mean`."""
    return SPECS["1.3"].check(fn, quiet=quiet)


# ----------------------------------------------------------------------------------------------------------------------
# The specs: what the notebook's checks run, and what the grader runs
# ----------------------------------------------------------------------------------------------------------------------
SPECS: dict[str, ExerciseSpec] = {
    "1.1": ExerciseSpec(EXERCISES["1.1"], ("inverse_cdf",), _cases_inverse_cdf, _call_inverse_cdf,
                        _reference_inverse_cdf, _compare_inverse_cdf, references=(inverse_cdf,),
                        input_types={"pdf_values": Tensor, "grid": Tensor, "u": Tensor}, weights={3: 2, 5: 2},
                        keys=(3, 5)),
    "1.2": ExerciseSpec(EXERCISES["1.2"], ("kl_divergence",), _cases_kl_divergence, _call_kl_divergence,
                        _reference_kl_divergence, _compare_kl_divergence, references=(_reference_kl,),
                        forbidden_modules=("course_lib.gan.theory",), input_types={"p": Tensor, "q": Tensor},
                        weights={2: 2, 3: 2, 6: 2, 7: 2}, keys=(2, 3, 6, 7)),
    "1.3": ExerciseSpec(EXERCISES["1.3"], ("conditional_mean",), _cases_conditional_mean, _call_conditional_mean,
                        _reference_conditional_mean, _compare_conditional_mean, references=(conditional_mean,),
                        input_types={"x_train": Tensor, "y_train": Tensor, "x_query": Tensor,
                                     "bandwidth": (float, int)}, weights={4: 2, 6: 2}, keys=(4, 6)),
}
