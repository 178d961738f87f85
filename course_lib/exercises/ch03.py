"""Chapter 3 exercises: divergences and the Wasserstein distance.

Three graded exercises, each checked on visible and hidden cases (the declarative form of a check is
:class:`~course_lib.exercises.core.ExerciseSpec`, see :mod:`course_lib.exercises.core`):

- **3.1** :func:`check_divergences`: :math:`\\mathrm{KL}(p \\| q)`, :math:`\\mathrm{JS}(p \\| q)` and the total
  variation :math:`\\tfrac12 \\sum_i |p_i - q_i|` of two discrete distributions, with the edge cases that matter
  (zeros in :math:`p`, zeros in :math:`q` only, disjoint supports, identical distributions). References:
  :func:`course_lib.gan.theory.kl_divergence`, :func:`~course_lib.gan.theory.js_divergence`,
  :func:`~course_lib.gan.theory.total_variation`.
- **3.2** :func:`check_wasserstein_1d`: :math:`W_1` between two 1-D samples of equal size by sorting,
  :math:`\\frac1n \\sum_i |x_{(i)} - y_{(i)}|`. Reference: :func:`course_lib.gan.theory.wasserstein_1d`.
- **3.3** :func:`check_pearson_chi2`: the Pearson :math:`\\chi^2` divergence
  :math:`\\sum_i (p_i - q_i)^2 / q_i` that LSGAN minimises, :math:`+\\infty` where :math:`p_i > 0 = q_i`.
  Reference: :func:`course_lib.gan.theory.pearson_chi2`.

Every input is built from its own ``torch.Generator``; ``make_cases(None)`` gives the notebook's fixed cases and an
``int`` seed draws fresh cases of the same kinds (the grader's). A failure message gives the learner's value and its
relative error, never the expected value.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Callable

import torch
from torch import Tensor

from course_lib.exercises.core import CaseInput, Exercise, ExerciseSpec, Raised, Verdict, capture, plain, scalar_problem
from course_lib.exercises.core import gen as _gen, randint as _randint, sub_seed as _sub_seed
from course_lib.gan.theory import js_divergence as _ref_js
from course_lib.gan.theory import kl_divergence as _ref_kl
from course_lib.gan.theory import pearson_chi2 as _ref_chi2
from course_lib.gan.theory import total_variation as _ref_tv
from course_lib.gan.theory import wasserstein_1d as _ref_w1

__all__ = [
    "EXERCISES",
    "SPECS",
    "check_divergences",
    "check_wasserstein_1d",
    "check_pearson_chi2",
]

EXERCISES: dict[str, Exercise] = {
    "3.1": Exercise("3.1", "KL, JS and total variation", points=3, difficulty=2, minutes=20),
    "3.2": Exercise("3.2", "W1 between two 1-D samples", points=2, difficulty=1, minutes=10),
    "3.3": Exercise("3.3", "The Pearson chi-squared divergence", points=2, difficulty=2, minutes=15),
}


# ----------------------------------------------------------------------------------------------------------------------
# Helpers
# ----------------------------------------------------------------------------------------------------------------------

def _simplex(g: torch.Generator, k: int, dtype: torch.dtype = torch.float32, zeros: Tensor | None = None) -> Tensor:
    """A random probability vector of length ``k`` (float64 arithmetic), exactly 0 where ``zeros`` is True."""
    w = torch.rand(k, generator=g, dtype=torch.float64) + 0.05
    if zeros is not None:
        w = torch.where(zeros, torch.zeros_like(w), w)
    return (w / w.sum()).to(dtype)


def _scalar_problem(got: Any, expected: Tensor, *, what: str) -> str | None:
    """A real 0-d tensor in ``expected``'s dtype, close to it (infinite values matched exactly)."""
    rtol, atol = (1e-9, 1e-12) if expected.dtype == torch.float64 else (1e-5, 1e-6)
    return scalar_problem(got, float(expected), what=what, rtol=rtol, atol=atol, dtype=expected.dtype, zero_d=True,
                          nan_hint=" (is there a 0 * log(0) or a 0/0 somewhere?)",
                          inf_hint=": look again at outcomes where p is positive but q is 0")


# ----------------------------------------------------------------------------------------------------------------------
# Exercise 3.1: KL, JS and TV of discrete distributions
# ----------------------------------------------------------------------------------------------------------------------
def _cases_divergences(seed: int | None = None) -> list[CaseInput]:
    """Every case of exercise 3.1 (p, q): the notebook's fixed ones (``seed=None``) or fresh ones."""
    cases: list[tuple[str, Tensor, Tensor, bool]] = []
    if seed is None:
        cases.append(("two distributions on 4 outcomes", torch.tensor([0.1, 0.4, 0.3, 0.2]),
                      torch.tensor([0.25, 0.25, 0.25, 0.25]), False))
        g = _gen(31)
        cases.append(("random distributions on 10 outcomes", _simplex(g, 10), _simplex(g, 10), False))
        # zeros in p only: 0 log 0 = 0, everything finite
        cases.append(("zeros in p only", torch.tensor([0.0, 0.5, 0.0, 0.5]), torch.tensor([0.1, 0.2, 0.3, 0.4]), True))
        # zeros in q where p > 0: KL is infinite, JS and TV are finite
        cases.append(("q misses an outcome of p", torch.tensor([0.3, 0.3, 0.4]), torch.tensor([0.5, 0.5, 0.0]), True))
        # disjoint supports: KL = inf, JS = log 2, TV = 1
        cases.append(("disjoint supports", torch.tensor([0.5, 0.5, 0.0, 0.0, 0.0]),
                      torch.tensor([0.0, 0.0, 0.2, 0.3, 0.5]), True))
        p = _simplex(g, 7, torch.float64)
        cases.append(("identical float64 distributions", p, p.clone(), True))
        return [CaseInput(name, {"p": p, "q": q}, hidden) for name, p, q, hidden in cases]

    gs = [_gen(_sub_seed(seed, k)) for k in range(6)]
    g = gs[0]
    k = _randint(g, 3, 6)
    cases.append((f"two distributions on {k} outcomes", _simplex(g, k), _simplex(g, k), False))
    g = gs[1]
    k = _randint(g, 8, 16)
    cases.append((f"random distributions on {k} outcomes", _simplex(g, k), _simplex(g, k), False))
    g = gs[2]
    k = _randint(g, 4, 10)
    zeros = torch.rand(k, generator=g) < 0.4
    zeros[0], zeros[-1] = True, False
    cases.append(("zeros in p only", _simplex(g, k, zeros=zeros), _simplex(g, k), True))
    g = gs[3]
    k = _randint(g, 4, 10)
    zeros = torch.zeros(k, dtype=torch.bool)
    zeros[_randint(g, 0, k - 1)] = True
    cases.append(("q misses an outcome of p", _simplex(g, k), _simplex(g, k, zeros=zeros), True))
    g = gs[4]
    k = _randint(g, 4, 10)
    side = torch.rand(k, generator=g) < 0.5
    side[0], side[-1] = True, False
    cases.append(("disjoint supports", _simplex(g, k, zeros=~side), _simplex(g, k, zeros=side), True))
    g = gs[5]
    p = _simplex(g, _randint(g, 3, 12), torch.float64)
    cases.append(("identical float64 distributions", p, p.clone(), True))
    return [CaseInput(name, {"p": p, "q": q}, hidden) for name, p, q, hidden in cases]


_DIVERGENCE_LABELS = ("KL divergence", "JS divergence", "total variation")


def _call_divergences(fns: Sequence[Callable[..., Any]], inputs: Mapping[str, Any]) -> dict[str, Any]:
    # each function gets its own copy of the inputs, so one that writes into them cannot spoil the next
    return {label: plain(capture(fn, inputs["p"].clone(), inputs["q"].clone()))
            for label, fn in zip(_DIVERGENCE_LABELS, fns)}


def _reference_divergences(inputs: Mapping[str, Any]) -> dict[str, Tensor]:
    p, q = inputs["p"], inputs["q"]
    return {"KL divergence": _ref_kl(p, q), "JS divergence": _ref_js(p, q), "total variation": _ref_tv(p, q)}


def _compare_divergences(record: Mapping[str, Any], expected: Mapping[str, Tensor]) -> str | None:
    # A stub anywhere makes the whole exercise "not implemented yet" only when all three are stubs; a learner
    # who has written KL but not yet JS gets the cases judged (and failed) on JS.
    raised = [record[label] for label in _DIVERGENCE_LABELS]
    if all(type(r) is Raised and r.not_implemented for r in raised):
        raised[0].problem()  # raises NotImplementedError
    for label in _DIVERGENCE_LABELS:
        got = record[label]
        if type(got) is Raised and got.not_implemented:
            return f"the {label} is not implemented yet"
        problem = _scalar_problem(got, expected[label], what=label)
        if problem is not None:
            return problem
    return None


def check_divergences(kl_divergence: Callable[[Tensor, Tensor], Tensor],
                      js_divergence: Callable[[Tensor, Tensor], Tensor],
                      total_variation: Callable[[Tensor, Tensor], Tensor], *, quiet: bool = False) -> Verdict:
    """Check a learner's ``kl_divergence``, ``js_divergence`` and ``total_variation`` (each ``(p, q) -> Tensor``),
    6 cases (4 hidden), all three functions in every case.

    Expected: 0-d tensors in the inputs' dtype; :math:`\\sum p_i \\log(p_i/q_i)` with :math:`0 \\log 0 = 0` and
    ``inf`` where some :math:`p_i > 0 = q_i`; :math:`\\tfrac12 \\mathrm{KL}(p \\| m) + \\tfrac12 \\mathrm{KL}(q \\| m)`;
    :math:`\\tfrac12 \\sum |p_i - q_i|`. Compared with :mod:`course_lib.gan.theory` (rtol 1e-5 in float32).
    """
    return SPECS["3.1"].check(kl_divergence, js_divergence, total_variation, quiet=quiet)


# ----------------------------------------------------------------------------------------------------------------------
# Exercise 3.2: W1 between two 1-D samples
# ----------------------------------------------------------------------------------------------------------------------
def _cases_wasserstein(seed: int | None = None) -> list[CaseInput]:
    """Every case of exercise 3.2 (x, y): fixed ones (``seed=None``) or fresh ones."""
    cases: list[tuple[str, Tensor, Tensor, bool]] = []
    if seed is None:
        cases.append(("three points each", torch.tensor([0.0, 1.0, 3.0]), torch.tensor([2.0, -1.0, 6.0]), False))
        g = _gen(32)
        x = torch.randn(50, generator=g)
        cases.append(("unsorted Gaussian samples", x, 0.5 * torch.randn(50, generator=g) + 1.0, False))
        # y is a permutation of x: the empirical distributions are equal, W1 = 0 (pairing by index is wrong)
        cases.append(("the same points in another order", x[:20], x[:20].flip(0), True))
        # one sample shifted by a constant c: W1 = |c| exactly
        y = torch.randn(30, generator=g, dtype=torch.float64)
        cases.append(("a float64 shift", y, y[torch.randperm(30, generator=g)] - 2.5, True))
        cases.append(("a single point each", torch.tensor([-1.5]), torch.tensor([2.0]), True))
        cases.append(("ties and crossing samples", torch.tensor([0.0, 0.0, 2.0, 2.0, 5.0]),
                      torch.tensor([1.0, 3.0, 1.0, -1.0, 1.0]), True))
        return [CaseInput(name, {"x": x, "y": y}, hidden) for name, x, y, hidden in cases]

    gs = [_gen(_sub_seed(seed, k)) for k in range(6)]
    g = gs[0]
    n = _randint(g, 3, 5)
    cases.append((f"{n} points each", torch.randint(-5, 6, (n,), generator=g).float(),
                  torch.randint(-5, 6, (n,), generator=g).float(), False))
    g = gs[1]
    n = _randint(g, 30, 80)
    cases.append(("unsorted Gaussian samples", torch.randn(n, generator=g),
                  torch.rand((), generator=g) + torch.randn(n, generator=g) * 0.7, False))
    g = gs[2]
    x = torch.randn(_randint(g, 10, 30), generator=g)
    cases.append(("the same points in another order", x, x[torch.randperm(x.numel(), generator=g)], True))
    g = gs[3]
    n = _randint(g, 10, 40)
    y = torch.randn(n, generator=g, dtype=torch.float64)
    shift = float(4.0 * torch.rand((), generator=g, dtype=torch.float64) - 2.0)
    cases.append(("a float64 shift", y, y[torch.randperm(n, generator=g)] + shift, True))
    g = gs[4]
    cases.append(("a single point each", 3.0 * torch.randn(1, generator=g), 3.0 * torch.randn(1, generator=g), True))
    # ties, and empirical CDFs that cross: y's smallest point lies below every x and its largest above every x, so
    # the sorted differences take both signs and W1 exceeds |mean(x) - mean(y)|
    g = gs[5]
    n = _randint(g, 5, 12)
    x = torch.randint(0, 3, (n,), generator=g).float()
    y = torch.randint(-1, 4, (n,), generator=g).float()
    y[torch.randperm(n, generator=g)[:2]] = torch.tensor([-1.0, 3.0])
    cases.append(("ties and crossing samples", x, y, True))
    return [CaseInput(name, {"x": x, "y": y}, hidden) for name, x, y, hidden in cases]


def _call_wasserstein(fns: Sequence[Callable[..., Any]], inputs: Mapping[str, Any]) -> Any:
    (fn,) = fns
    return plain(fn(inputs["x"], inputs["y"]))


def _reference_wasserstein(inputs: Mapping[str, Any]) -> Tensor:
    return _ref_w1(inputs["x"], inputs["y"])


def _compare_wasserstein(got: Any, expected: Tensor) -> str | None:
    return _scalar_problem(got, expected, what="W1 distance")


def check_wasserstein_1d(fn: Callable[[Tensor, Tensor], Tensor], *, quiet: bool = False) -> Verdict:
    """Check a learner's ``wasserstein_1d(x, y) -> Tensor`` (two 1-D samples of equal size), 6 cases (4 hidden).

    Expected: :math:`\\frac1n \\sum_i |x_{(i)} - y_{(i)}|` on the sorted samples, a 0-d tensor in the inputs'
    dtype. Compared with :func:`course_lib.gan.theory.wasserstein_1d` (which equals SciPy's).
    """
    return SPECS["3.2"].check(fn, quiet=quiet)


# ----------------------------------------------------------------------------------------------------------------------
# Exercise 3.3: the Pearson chi^2 divergence
# ----------------------------------------------------------------------------------------------------------------------
def _cases_chi2(seed: int | None = None) -> list[CaseInput]:
    """Every case of exercise 3.3 (p, q): fixed ones (``seed=None``) or fresh ones."""
    cases: list[tuple[str, Tensor, Tensor, bool]] = []
    if seed is None:
        cases.append(("two distributions on 4 outcomes", torch.tensor([0.1, 0.4, 0.3, 0.2]),
                      torch.tensor([0.25, 0.25, 0.25, 0.25]), False))
        g = _gen(33)
        cases.append(("random distributions on 12 outcomes", _simplex(g, 12), _simplex(g, 12), False))
        # p_i = q_i = 0: the term is 0, not 0/0
        cases.append(("an outcome outside both supports", torch.tensor([0.5, 0.0, 0.5]),
                      torch.tensor([0.25, 0.0, 0.75]), True))
        # p_i > 0 = q_i: infinite
        cases.append(("q misses an outcome of p", torch.tensor([0.2, 0.3, 0.5]), torch.tensor([0.6, 0.4, 0.0]), True))
        # q_i > 0 = p_i: finite (contributes q_i); the argument order matters
        cases.append(("p misses an outcome of q", torch.tensor([0.6, 0.4, 0.0]), torch.tensor([0.2, 0.3, 0.5]), True))
        p = _simplex(g, 6, torch.float64)
        cases.append(("identical float64 distributions", p, p.clone(), True))
        return [CaseInput(name, {"p": p, "q": q}, hidden) for name, p, q, hidden in cases]

    gs = [_gen(_sub_seed(seed, k)) for k in range(6)]
    g = gs[0]
    k = _randint(g, 3, 6)
    cases.append((f"two distributions on {k} outcomes", _simplex(g, k), _simplex(g, k), False))
    g = gs[1]
    k = _randint(g, 8, 16)
    cases.append((f"random distributions on {k} outcomes", _simplex(g, k), _simplex(g, k), False))
    g = gs[2]
    k = _randint(g, 4, 10)
    zeros = torch.zeros(k, dtype=torch.bool)
    zeros[_randint(g, 0, k - 1)] = True
    cases.append(("an outcome outside both supports", _simplex(g, k, zeros=zeros), _simplex(g, k, zeros=zeros), True))
    g = gs[3]
    k = _randint(g, 3, 8)
    zeros = torch.zeros(k, dtype=torch.bool)
    zeros[_randint(g, 0, k - 1)] = True
    cases.append(("q misses an outcome of p", _simplex(g, k), _simplex(g, k, zeros=zeros), True))
    g = gs[4]
    k = _randint(g, 3, 8)
    zeros = torch.zeros(k, dtype=torch.bool)
    zeros[_randint(g, 0, k - 1)] = True
    cases.append(("p misses an outcome of q", _simplex(g, k, zeros=zeros), _simplex(g, k), True))
    g = gs[5]
    p = _simplex(g, _randint(g, 3, 12), torch.float64)
    cases.append(("identical float64 distributions", p, p.clone(), True))
    return [CaseInput(name, {"p": p, "q": q}, hidden) for name, p, q, hidden in cases]


def _call_chi2(fns: Sequence[Callable[..., Any]], inputs: Mapping[str, Any]) -> Any:
    (fn,) = fns
    return plain(fn(inputs["p"], inputs["q"]))


def _reference_chi2(inputs: Mapping[str, Any]) -> Tensor:
    return _ref_chi2(inputs["p"], inputs["q"])


def _compare_chi2(got: Any, expected: Tensor) -> str | None:
    return _scalar_problem(got, expected, what="chi-squared divergence")


def check_pearson_chi2(fn: Callable[[Tensor, Tensor], Tensor], *, quiet: bool = False) -> Verdict:
    """Check a learner's ``pearson_chi2(p, q) -> Tensor``, 6 cases (4 hidden).

    Expected: :math:`\\sum_i (p_i - q_i)^2 / q_i`, 0 for terms with :math:`p_i = q_i = 0`, ``inf`` when some
    :math:`p_i > 0 = q_i`, a 0-d tensor in the inputs' dtype. Compared with
    :func:`course_lib.gan.theory.pearson_chi2`.
    """
    return SPECS["3.3"].check(fn, quiet=quiet)


# ----------------------------------------------------------------------------------------------------------------------
# The specs: what the notebook's checks run, and what the grader runs
# ----------------------------------------------------------------------------------------------------------------------
SPECS: dict[str, ExerciseSpec] = {
    "3.1": ExerciseSpec(EXERCISES["3.1"], ("kl_divergence", "js_divergence", "total_variation"), _cases_divergences,
                        _call_divergences, _reference_divergences, _compare_divergences,
                        references=(_ref_kl, _ref_js, _ref_tv), forbidden_modules=("course_lib.gan.theory",),
                        input_types={"p": Tensor, "q": Tensor}, weights={2: 2, 3: 2, 4: 2}, keys=(2, 3, 4)),
    "3.2": ExerciseSpec(EXERCISES["3.2"], ("wasserstein_1d",), _cases_wasserstein, _call_wasserstein,
                        _reference_wasserstein, _compare_wasserstein, references=(_ref_w1,),
                        forbidden_modules=("course_lib.gan.theory",), input_types={"x": Tensor, "y": Tensor},
                        weights={2: 2, 5: 2}, keys=(2, 5)),
    "3.3": ExerciseSpec(EXERCISES["3.3"], ("pearson_chi2",), _cases_chi2, _call_chi2, _reference_chi2, _compare_chi2,
                        references=(_ref_chi2,), forbidden_modules=("course_lib.gan.theory",),
                        input_types={"p": Tensor, "q": Tensor}, weights={2: 2, 3: 2, 4: 2}, keys=(2, 3, 4)),
}
