"""Chapter 1 exercises: generative models and sampling.

Three graded exercises, each checked on visible and hidden cases built here with fixed seeds:

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

The references of 1.1 and 1.3 live in this module because the library has no other use for them; the notebook uses
them as fallbacks (``use(fn, fallback=ch01.inverse_cdf, exercise_id="1.1")``) so an untouched learner notebook runs.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import torch
from torch import Tensor

from course_lib.data.sampling import inverse_cdf, numeric_cdf
from course_lib.exercises.core import Case, Exercise, Verdict, compare_tensors, run_check
from course_lib.gan.theory import kl_divergence as _reference_kl

__all__ = [
    "EXERCISES",
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


# ----------------------------------------------------------------------------------------------------------------------
# Helpers shared by the checks
# ----------------------------------------------------------------------------------------------------------------------
def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _clone_all(args: tuple[Any, ...]) -> tuple[Any, ...]:
    """Fresh copies of tensor arguments, so a learner function that writes into its inputs cannot corrupt a case."""
    return tuple(a.clone() if isinstance(a, Tensor) else a for a in args)


def _tensor_case(fn: Callable, args: tuple[Any, ...], expected: Tensor, *, rtol: float, atol: float,
                 what: str) -> Callable[[], str | None]:
    """A case that calls ``fn(*args)`` and compares the result with ``expected`` (shape, dtype, values)."""
    def run() -> str | None:
        got = fn(*_clone_all(args))
        return compare_tensors(got, expected, rtol=rtol, atol=atol, what=what)
    return run


# ----------------------------------------------------------------------------------------------------------------------
# Exercise 1.1: inverse-transform sampling
# ----------------------------------------------------------------------------------------------------------------------
def _cases_inverse_cdf() -> list[tuple[str, tuple[Tensor, Tensor, Tensor], bool, float, float]]:
    """(name, (pdf_values, grid, u), hidden, rtol, atol) for every case of exercise 1.1."""
    cases = []
    # A flat density on [0, 2]: the inverse CDF is x = 2u.
    grid = torch.linspace(0.0, 2.0, 5)
    cases.append(("uniform density on [0, 2]", (torch.ones(5), grid, torch.tensor([0.1, 0.25, 0.5, 0.8])),
                  False, 1e-5, 1e-6))
    # The triangle p(x) = 2x on [0, 1] (close to x = sqrt(u), exactly the piecewise-linear inverse).
    grid = torch.linspace(0.0, 1.0, 101, dtype=torch.float64)
    cases.append(("triangle density on [0, 1]", (2.0 * grid, grid,
                  torch.tensor([0.01, 0.25, 0.5, 0.81, 0.99], dtype=torch.float64)), False, 1e-9, 1e-12))
    # A bimodal density, unnormalised, with uniforms drawn from a fixed seed.
    grid = torch.linspace(-4.0, 4.0, 201)
    pdf = torch.exp(-0.5 * ((grid + 1.5) / 0.6) ** 2) + 0.5 * torch.exp(-0.5 * ((grid - 2.0) / 0.4) ** 2)
    cases.append(("bimodal density, u from a fixed seed", (pdf, grid, torch.rand(64, generator=_gen(101))),
                  False, 1e-5, 1e-5))
    # Hidden: a zero-density gap between two bumps. Every CDF value is a dyadic fraction, exact in any summation
    # order: F = [0, 1/8, 3/8, 1/2, 1/2, 1/2, 5/8, 7/8, 1]; u = 1/2 sits exactly on the flat stretch.
    grid = torch.arange(9, dtype=torch.float64)
    pdf = torch.tensor([0, 1, 1, 0, 0, 0, 1, 1, 0], dtype=torch.float64)
    cases.append(("zero-density gap", (pdf, grid, torch.tensor([0.2, 0.45, 0.5, 0.55, 0.9], dtype=torch.float64)),
                  True, 1e-9, 1e-12))
    # Hidden: a non-uniform (geometric) grid under an exponential density.
    grid = 0.01 * 1.08 ** torch.arange(80, dtype=torch.float64)
    cases.append(("non-uniform grid", (torch.exp(-grid), grid, torch.rand(50, generator=_gen(102),
                  dtype=torch.float64)), True, 1e-9, 1e-12))
    # Hidden: u exactly 0 and exactly 1, with zero density at both ends: F = [0, 0, 1/8, 1/2, 7/8, 1, 1].
    grid = torch.arange(7, dtype=torch.float32)
    pdf = torch.tensor([0, 0, 1, 2, 1, 0, 0], dtype=torch.float32)
    cases.append(("u = 0 and u = 1 with zero density at both ends", (pdf, grid, torch.tensor([0.0, 1.0, 0.5, 0.3])),
                  True, 1e-5, 1e-6))
    # Hidden: u of shape (3, 4); the result keeps u's shape.
    grid = torch.linspace(-1.0, 3.0, 41, dtype=torch.float64)
    cases.append(("u of shape (3, 4)", (1.0 + grid.abs(), grid,
                  torch.rand(3, 4, generator=_gen(103), dtype=torch.float64)), True, 1e-9, 1e-12))
    return cases


def check_inverse_cdf(fn: Callable[[Tensor, Tensor, Tensor], Tensor], *, quiet: bool = False) -> Verdict:
    """Check exercise 1.1: ``fn(pdf_values, grid, u)`` must equal :func:`inverse_cdf` (values, shape and dtype)."""
    cases = []
    for name, args, hidden, rtol, atol in _cases_inverse_cdf():
        expected = inverse_cdf(*_clone_all(args))
        cases.append(Case(name, _tensor_case(fn, args, expected, rtol=rtol, atol=atol, what="samples x"), hidden))
    return run_check(EXERCISES["1.1"], cases, quiet=quiet)


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


def _kl_case(fn: Callable, p: Tensor, q: Tensor, rtol: float, atol: float) -> Callable[[], str | None]:
    """A case for exercise 1.2. The explanation never states the expected number; it names the likely mistake."""
    expected = _reference_kl(p, q)

    def run() -> str | None:
        got = fn(p.clone(), q.clone())
        if type(got) is not torch.Tensor:
            return f"the result should be a torch.Tensor (0-d), got {type(got).__name__}"
        if got.dim() != 0:
            return f"the result should be a 0-d tensor (a single number), got shape {tuple(got.shape)}"
        if got.dtype != expected.dtype:
            return f"the result should have the dtype of p and q ({expected.dtype}), got {got.dtype}"
        value = float(torch.Tensor.item(torch.Tensor.detach(got)))
        want = float(expected)
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

    return run


def check_kl_divergence(fn: Callable[[Tensor, Tensor], Tensor], *, quiet: bool = False) -> Verdict:
    """Check exercise 1.2: ``fn(p, q)`` must return :math:`\\mathrm{KL}(p \\| q)` as a 0-d tensor in p's dtype."""
    f64 = torch.float64
    rand = torch.rand(2, 50, generator=_gen(201))
    p50, q50 = rand[0] + 0.05, rand[1] + 0.05
    tiny = 1e-300
    specs = [
        ("two coins", torch.tensor([0.5, 0.5], dtype=f64), torch.tensor([0.9, 0.1], dtype=f64), False),
        ("identical distributions", torch.tensor([0.2, 0.3, 0.5], dtype=f64),
         torch.tensor([0.2, 0.3, 0.5], dtype=f64), False),
        ("p has zeros (0 log 0 = 0)", torch.tensor([0.5, 0.5, 0.0], dtype=f64),
         torch.tensor([0.25, 0.25, 0.5], dtype=f64), False),
        ("q misses an outcome of p", torch.tensor([0.5, 0.5], dtype=f64), torch.tensor([1.0, 0.0], dtype=f64), False),
        # hidden
        ("50 outcomes in float32", p50 / p50.sum(), q50 / q50.sum(), True),
        ("zeros in both, at the same outcomes", torch.tensor([0.0, 0.4, 0.6, 0.0], dtype=f64),
         torch.tensor([0.0, 0.5, 0.25, 0.25], dtype=f64), True),
        ("a one-hot p against a tiny q", torch.tensor([1.0, 0.0, 0.0], dtype=f64),
         torch.tensor([tiny, 0.5, 0.5 - tiny], dtype=f64), True),
        ("zeros in p, and q misses p's mass", torch.tensor([0.0, 0.3, 0.0, 0.7], dtype=f64),
         torch.tensor([0.0, 0.5, 0.5, 0.0], dtype=f64), True),
    ]
    cases = []
    for name, p, q, hidden in specs:
        rtol, atol = (1e-4, 1e-5) if p.dtype == torch.float32 else (1e-7, 1e-9)
        cases.append(Case(name, _kl_case(fn, p, q, rtol, atol), hidden))
    return run_check(EXERCISES["1.2"], cases, quiet=quiet)


# ----------------------------------------------------------------------------------------------------------------------
# Exercise 1.3: the conditional mean
# ----------------------------------------------------------------------------------------------------------------------
def _u_shape(n: int, generator: torch.Generator, dtype: torch.dtype = torch.float64) -> tuple[Tensor, Tensor]:
    """Points on the lower half of the unit circle (a U): returns heights ``(n, 1)`` and points ``(n, 2)``."""
    theta = math.pi + math.pi * torch.rand(n, generator=generator, dtype=dtype)      # (n,) in [pi, 2 pi)
    pts = torch.stack([torch.cos(theta), torch.sin(theta)], dim=1)                   # (n, 2)
    return pts[:, 1:], pts


def _cases_conditional_mean() -> list[tuple[str, tuple[Any, ...], bool, float, float]]:
    """(name, (x_train, y_train, x_query, bandwidth), hidden, rtol, atol) for every case of exercise 1.3."""
    f64 = torch.float64
    cases = []
    cases.append(("two training points", (torch.tensor([[-1.0], [1.0]]), torch.tensor([[1.0, 2.0], [3.0, 4.0]]),
                  torch.tensor([[0.0], [1.0]]), 1.0), False, 1e-5, 1e-6))
    heights, points = _u_shape(40, _gen(301))
    cases.append(("the U-shaped toy: height -> point", (heights, points,
                  torch.tensor([[-0.9], [-0.6], [-0.3], [-0.1], [0.0]], dtype=f64), 0.1), False, 1e-7, 1e-9))
    g = _gen(302)
    cases.append(("3-D inputs, 4-D targets", (torch.randn(30, 3, generator=g, dtype=f64),
                  torch.randn(30, 4, generator=g, dtype=f64), torch.randn(6, 3, generator=g, dtype=f64), 0.7),
                  False, 1e-7, 1e-9))
    g = _gen(303)
    cases.append(("a huge bandwidth", (torch.randn(25, 2, generator=g, dtype=f64),
                  torch.randn(25, 3, generator=g, dtype=f64), torch.randn(4, 2, generator=g, dtype=f64), 1e4),
                  False, 1e-7, 1e-9))
    # hidden: every exp(-d^2 / 2h^2) underflows to 0 for this query
    cases.append(("a query far from every training point", (torch.tensor([[0.0], [1.0], [3.0]], dtype=f64),
                  torch.tensor([[1.0, -1.0], [2.0, -2.0], [3.0, -3.0]], dtype=f64),
                  torch.tensor([[50.0], [1.2]], dtype=f64), 0.5), True, 1e-7, 1e-9))
    # hidden: the same input with different targets: the prediction averages them
    cases.append(("repeated inputs with different targets", (torch.tensor([[0.0], [0.0], [5.0]], dtype=f64),
                  torch.tensor([[1.0], [3.0], [100.0]], dtype=f64), torch.tensor([[0.0]], dtype=f64), 0.3),
                  True, 1e-7, 1e-9))
    # hidden: float32 and a narrow kernel, exp underflows in single precision
    x = torch.arange(6, dtype=torch.float32).unsqueeze(1)                             # (6, 1)
    cases.append(("a narrow bandwidth in float32", (x, torch.linspace(-1.0, 1.0, 12).reshape(6, 2),
                  torch.tensor([[0.3], [2.5], [4.9]]), 0.02), True, 1e-5, 1e-6))
    return cases


def check_conditional_mean(fn: Callable[[Tensor, Tensor, Tensor, float], Tensor], *, quiet: bool = False) -> Verdict:
    """Check exercise 1.3: ``fn(x_train, y_train, x_query, bandwidth)`` must equal :func:`conditional_mean`."""
    cases = []
    for name, args, hidden, rtol, atol in _cases_conditional_mean():
        expected = conditional_mean(*_clone_all(args))
        cases.append(Case(name, _tensor_case(fn, args, expected, rtol=rtol, atol=atol, what="prediction"), hidden))
    return run_check(EXERCISES["1.3"], cases, quiet=quiet)
