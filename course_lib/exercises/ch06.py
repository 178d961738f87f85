r"""Chapter 6 exercises: evaluating GANs.

Three graded exercises, each a declarative :class:`~course_lib.exercises.core.ExerciseSpec` checked on visible and
hidden cases:

- **6.1** :func:`check_fid`: ``fid(features_a, features_b)``, the Fréchet distance between Gaussians fitted to two
  feature sets (mean, *unbiased* covariance), with a matrix square root that stays finite when the covariances are
  singular (fewer samples than dimensions: the key cases). Compared with :func:`course_lib.metrics.fid_from_features`.
- **6.2** :func:`check_inception_score`: ``inception_score(probs, splits)`` -> ``(mean, std)``, the marginal taken
  per split (the key case), ``torch.tensor_split`` order, population standard deviation, :math:`0 \log 0 = 0`.
  Compared with :func:`course_lib.metrics.inception_score`.
- **6.3** :func:`check_precision_recall`: ``precision_recall(real, fake, k)`` -> ``{"precision", "recall"}``, the
  k-NN radii of Kynkäänniemi et al. (2019) with the point itself excluded (the key cases: ``k = 1`` and points at
  integer positions where a ball's radius is reached exactly). Compared with
  :func:`course_lib.metrics.precision_recall`.

Every input comes from its own ``torch.Generator``; messages show the learner's value and a relative error, never
the expected value.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Callable

import torch
from torch import Tensor

from course_lib.exercises._random import gen as _gen, randint as _randint, sub_seed as _sub_seed
from course_lib.exercises.core import CaseInput, Exercise, ExerciseSpec, Raised, Verdict, capture, plain
from course_lib.exercises.core import scalar_problem
from course_lib.exercises.core import require_inputs as _require, type_name as _type_name
from course_lib.metrics.frechet import fid_from_features as _ref_fid
from course_lib.metrics.frechet import frechet_distance as _ref_frechet
from course_lib.metrics.frechet import gaussian_statistics as _ref_stats
from course_lib.metrics.inception_score import inception_score as _ref_is
from course_lib.metrics.precision_recall import precision_recall as _ref_pr

__all__ = ["EXERCISES", "SPECS", "check_fid", "check_inception_score", "check_precision_recall"]

EXERCISES: dict[str, Exercise] = {
    "6.1": Exercise("6.1", "FID with a stable matrix square root", points=3, difficulty=2, minutes=25),
    "6.2": Exercise("6.2", "The Inception Score", points=2, difficulty=1, minutes=15),
    "6.3": Exercise("6.3", "k-NN precision and recall", points=3, difficulty=2, minutes=25),
}

_FORBIDDEN = ("course_lib.metrics.frechet", "course_lib.metrics.inception_score",
              "course_lib.metrics.precision_recall", "course_lib.metrics.features", "course_lib.metrics.kid")


# ----------------------------------------------------------------------------------------------------------------------
# Helpers
# ----------------------------------------------------------------------------------------------------------------------
def _close(got: Any, expected: float, what: str, rtol: float, atol: float) -> str | None:
    """A float, an int or a one-element real tensor close to ``expected`` (core's message: value and error only)."""
    return scalar_problem(got, expected, what=what, rtol=rtol, atol=atol, numbers=True)


def _correlated(g: torch.Generator, n: int, d: int, shift: float, scale: float) -> Tensor:
    """``n`` float64 samples in ``R^d`` with correlated coordinates: ``shift + scale * z A``."""
    a = torch.randn(d, d, generator=g, dtype=torch.float64) / math.sqrt(d)
    mean = shift * torch.randn(d, generator=g, dtype=torch.float64)
    return mean + scale * torch.randn(n, d, generator=g, dtype=torch.float64) @ a


# ----------------------------------------------------------------------------------------------------------------------
# Exercise 6.1: FID from features
# ----------------------------------------------------------------------------------------------------------------------
_SINGULAR_WEIGHT = 3.0


def _cases_fid(seed: int | None = None) -> list[CaseInput]:
    plan = [  # name, n_a, n_b, d, mean shift, kind, hidden, weight
        ("full covariances, different means", 60, 60, 5, 1.0, "general", False, 1.0),
        ("different sample sizes", 40, 75, 4, 0.5, "general", False, 1.0),
        ("fewer samples than dimensions: singular covariances", 9, 12, 16, 0.7, "general", False, _SINGULAR_WEIGHT),
        ("equal means, different covariances", 50, 50, 6, 0.0, "same_mean", True, 1.0),
        ("a set against itself: FID 0", 30, 30, 4, 1.0, "identical", True, 1.0),
        ("rank-deficient features (N > D, rank 3 of 10)", 80, 70, 10, 1.0, "low_rank", True, _SINGULAR_WEIGHT),
    ]
    cases = []
    for k, (name, n_a, n_b, d, shift, kind, hidden, weight) in enumerate(plan):
        g = _gen(600 + 13 * k if seed is None else _sub_seed(seed, k))
        if seed is not None and kind in ("general", "same_mean") and d < 10:
            n_a, n_b, d = _randint(g, 20, 80), _randint(g, 20, 80), _randint(g, 2, 8)
        if kind == "low_rank":  # features that live on a 3-dimensional subspace of R^d
            basis = torch.randn(3, d, generator=g, dtype=torch.float64)
            a = 2.0 + _correlated(g, n_a, 3, shift, 1.0) @ basis
            b = _correlated(g, n_b, 3, shift, 1.5) @ basis
        else:
            a = _correlated(g, n_a, d, shift, 1.0)
            b = a.clone() if kind == "identical" else _correlated(g, n_b, d, shift, 1.4)
            if kind == "same_mean":
                b = b - b.mean(0) + a.mean(0)
        cases.append(CaseInput(name, {"features_a": a, "features_b": b}, hidden, weight))
    return cases


def _call_fid(fns: Sequence[Callable[..., Any]], inputs: Mapping[str, Any]) -> Any:
    (fn,) = fns
    return plain(capture(fn, inputs["features_a"], inputs["features_b"]))


def _reference_fid(inputs: Mapping[str, Any]) -> float:
    return _ref_fid(inputs["features_a"], inputs["features_b"])


def _compare_fid(record: Any, expected: float) -> str | None:
    return _close(record, expected, "FID", rtol=1e-6, atol=1e-6)


def _validate_fid(inputs: Mapping[str, Any]) -> None:
    _require(inputs, {"features_a": torch.Tensor, "features_b": torch.Tensor})
    a, b = inputs["features_a"], inputs["features_b"]
    if a.dim() != 2 or b.dim() != 2 or a.shape[1] != b.shape[1] or min(a.shape[0], b.shape[0]) < 2:
        raise ValueError("features_a and features_b must be [N, D] and [M, D] with N, M >= 2.")


def check_fid(fn: Callable[[Tensor, Tensor], Any], *, quiet: bool = False) -> Verdict:
    r"""Check a learner's ``fid(features_a, features_b) -> float``, 6 cases (3 hidden); the two singular cases
    weigh 3 each, the others 1.

    Expected: :math:`\lVert\mu_a - \mu_b\rVert^2 + \operatorname{Tr}\Sigma_a + \operatorname{Tr}\Sigma_b - 2
    \operatorname{Tr}((\Sigma_a\Sigma_b)^{1/2})` with unbiased covariances, finite when they are singular;
    relative tolerance 1e-6.
    """
    return SPECS["6.1"].check(fn, quiet=quiet)


# ----------------------------------------------------------------------------------------------------------------------
# Exercise 6.2: the Inception Score
# ----------------------------------------------------------------------------------------------------------------------
_PER_SPLIT_WEIGHT = 3.0


def _softmax_rows(g: torch.Generator, n: int, k: int, sharpness: float) -> Tensor:
    return torch.softmax(sharpness * torch.randn(n, k, generator=g, dtype=torch.float64), dim=1)


def _cases_inception_score(seed: int | None = None) -> list[CaseInput]:
    cases = []
    g0 = _gen(620 if seed is None else _sub_seed(seed, 0))
    n, k = (100, 10) if seed is None else (_randint(g0, 40, 120), _randint(g0, 3, 12))
    cases.append(CaseInput("random softmax predictions, 10 splits", {"probs": _softmax_rows(g0, n, k, 2.0),
                                                                      "splits": 10}))
    g1 = _gen(621 if seed is None else _sub_seed(seed, 1))
    n1, s1 = (53, 5) if seed is None else (_randint(g1, 21, 67), _randint(g1, 3, 7))
    if n1 % s1 == 0:
        n1 += 1
    cases.append(CaseInput(f"{n1} samples in {s1} splits (unequal sizes)", {"probs": _softmax_rows(g1, n1, 6, 3.0),
                                                                           "splits": s1}))
    # the key case: each split has its own marginal. Split 1 predicts mostly classes 0-4, split 2 classes 5-9.
    g2 = _gen(622 if seed is None else _sub_seed(seed, 2))
    m = 20 if seed is None else _randint(g2, 10, 30)
    logits = 2.0 * torch.randn(2 * m, 10, generator=g2, dtype=torch.float64)
    logits[:m, :5] += 4.0
    logits[m:, 5:] += 4.0
    cases.append(CaseInput("two splits with different class marginals", {"probs": torch.softmax(logits, dim=1),
                                                                         "splits": 2}, weight=_PER_SPLIT_WEIGHT))
    g3 = _gen(623 if seed is None else _sub_seed(seed, 3))
    k3 = 10 if seed is None else _randint(g3, 2, 12)
    onehot = torch.eye(k3, dtype=torch.float64).repeat(4, 1)  # every split of 4 uses every class once: IS = K
    cases.append(CaseInput(f"confident one-hot predictions over {k3} classes", {"probs": onehot, "splits": 4},
                           hidden=True))
    cases.append(CaseInput("uniform predictions: IS = 1", {"probs": torch.full((30, 7), 1 / 7, dtype=torch.float64),
                                                          "splits": 3}, hidden=True))
    g5 = _gen(625 if seed is None else _sub_seed(seed, 5))
    p = _softmax_rows(g5, 40, 8, 2.0)
    p[p < 0.08] = 0.0  # exact zeros: 0 log 0 = 0
    p = p / p.sum(dim=1, keepdim=True)
    cases.append(CaseInput("predictions with exact zeros", {"probs": p, "splits": 4}, hidden=True, weight=2.0))
    return cases


def _call_inception_score(fns: Sequence[Callable[..., Any]], inputs: Mapping[str, Any]) -> Any:
    (fn,) = fns
    got = capture(fn, inputs["probs"], inputs["splits"])
    if type(got) is Raised:
        return got
    if type(got) is not tuple or len(got) != 2:
        return {"pair": False, "type": _type_name(plain(got))}
    return {"pair": True, "mean": plain(got[0]), "std": plain(got[1])}


def _reference_inception_score(inputs: Mapping[str, Any]) -> tuple[float, float]:
    return _ref_is(inputs["probs"], inputs["splits"])


def _compare_inception_score(record: Any, expected: tuple[float, float]) -> str | None:
    if type(record) is Raised:
        return record.problem()
    if not record["pair"]:
        return f"the result should be a tuple (mean, std), got {record['type']}"
    problem = _close(record["mean"], expected[0], "mean score", rtol=1e-6, atol=1e-9)
    if problem is not None:
        return problem
    problem = _close(record["std"], expected[1], "standard deviation over the splits", rtol=1e-5, atol=1e-9)
    return problem


def _validate_inception_score(inputs: Mapping[str, Any]) -> None:
    _require(inputs, {"probs": torch.Tensor, "splits": int})
    p = inputs["probs"]
    if p.dim() != 2 or not 1 <= inputs["splits"] <= p.shape[0]:
        raise ValueError("probs must be [N, K] and 1 <= splits <= N.")


def check_inception_score(fn: Callable[[Tensor, int], tuple[float, float]], *, quiet: bool = False) -> Verdict:
    r"""Check a learner's ``inception_score(probs, splits) -> (mean, std)``, 6 cases (3 hidden); the case with
    different marginals per split weighs 3, the one with exact zeros 2, the others 1.

    Expected: per split (``torch.tensor_split``) :math:`\exp(\operatorname{mean}_x \mathrm{KL}(p(y|x) \Vert p_S(y)))`,
    the mean and the population standard deviation over the splits.
    """
    return SPECS["6.2"].check(fn, quiet=quiet)


# ----------------------------------------------------------------------------------------------------------------------
# Exercise 6.3: k-NN precision and recall
# ----------------------------------------------------------------------------------------------------------------------
_KEY_PR_WEIGHT = 2.0


def _cases_precision_recall(seed: int | None = None) -> list[CaseInput]:
    plan = [  # name, n, m, d, k, kind, hidden, weight
        ("two clouds, the fakes shifted and narrower", 60, 50, 3, 3, "clouds", False, 1.0),
        ("k = 1: the nearest other point", 40, 45, 2, 1, "clouds", False, _KEY_PR_WEIGHT),
        ("points on an integer grid: radii reached exactly", 30, 30, 2, 2, "grid", False, _KEY_PR_WEIGHT),
        ("k = 5, 8 dimensions", 70, 60, 8, 5, "clouds", True, 1.0),
        ("fakes covering one half of the data", 60, 60, 2, 3, "half", True, 1.0),
        ("k = 1 on an integer grid", 25, 35, 3, 1, "grid", True, _KEY_PR_WEIGHT),
    ]
    cases = []
    for i, (name, n, m, d, k, kind, hidden, weight) in enumerate(plan):
        g = _gen(630 + 7 * i if seed is None else _sub_seed(seed, i))
        if seed is not None:
            n, m = _randint(g, 20, 70), _randint(g, 20, 70)
        if kind == "grid":  # integer coordinates: many distances tie, and fakes sit exactly on ball boundaries
            real = torch.randint(0, 6, (n, d), generator=g).to(torch.float64)
            fake = torch.randint(0, 7, (m, d), generator=g).to(torch.float64)
        elif kind == "half":
            real = torch.randn(n, d, generator=g, dtype=torch.float64)
            fake = torch.randn(m, d, generator=g, dtype=torch.float64) * 0.6
            fake[:, 0] = fake[:, 0].abs() + 0.3
        else:
            real = torch.randn(n, d, generator=g, dtype=torch.float64)
            fake = 0.5 + 0.7 * torch.randn(m, d, generator=g, dtype=torch.float64)
        cases.append(CaseInput(name, {"real": real, "fake": fake, "k": k}, hidden, weight))
    return cases


def _call_precision_recall(fns: Sequence[Callable[..., Any]], inputs: Mapping[str, Any]) -> Any:
    (fn,) = fns
    got = capture(fn, inputs["real"], inputs["fake"], inputs["k"])
    if type(got) is Raised:
        return got
    if type(got) is not dict or set(got) != {"precision", "recall"}:
        keys = sorted(str(key) for key in got) if type(got) is dict else None
        return {"dict": False, "type": _type_name(plain(got)), "keys": keys}
    return {"dict": True, "precision": plain(got["precision"]), "recall": plain(got["recall"])}


def _reference_precision_recall(inputs: Mapping[str, Any]) -> dict[str, float]:
    return _ref_pr(inputs["real"], inputs["fake"], inputs["k"])


def _compare_precision_recall(record: Any, expected: Mapping[str, float]) -> str | None:
    if type(record) is Raised:
        return record.problem()
    if not record["dict"]:
        if record["keys"] is not None:
            return f"the result should be a dict with keys 'precision' and 'recall', got keys {record['keys']}"
        return f"the result should be a dict {{'precision': ..., 'recall': ...}}, got {record['type']}"
    for key in ("precision", "recall"):
        problem = _close(record[key], expected[key], key, rtol=0.0, atol=1e-9)
        if problem is not None:
            return problem
    return None


def _validate_precision_recall(inputs: Mapping[str, Any]) -> None:
    _require(inputs, {"real": torch.Tensor, "fake": torch.Tensor, "k": int})
    r, f, k = inputs["real"], inputs["fake"], inputs["k"]
    if r.dim() != 2 or f.dim() != 2 or r.shape[1] != f.shape[1] or k < 1 or min(r.shape[0], f.shape[0]) <= k:
        raise ValueError("real and fake must be [N, D] and [M, D] with N, M > k >= 1.")


def check_precision_recall(fn: Callable[[Tensor, Tensor, int], dict[str, float]], *, quiet: bool = False) -> Verdict:
    r"""Check a learner's ``precision_recall(real, fake, k) -> {"precision", "recall"}``, 6 cases (3 hidden); the
    ``k = 1`` and integer-grid cases weigh 2 each, the others 1. Values must match exactly (they are fractions)."""
    return SPECS["6.3"].check(fn, quiet=quiet)


# ----------------------------------------------------------------------------------------------------------------------
# The specs
# ----------------------------------------------------------------------------------------------------------------------
SPECS: dict[str, ExerciseSpec] = {
    "6.1": ExerciseSpec(EXERCISES["6.1"], ("fid",), _cases_fid, _call_fid, _reference_fid, _compare_fid,
                        references=(_ref_fid, _ref_frechet, _ref_stats), forbidden_modules=_FORBIDDEN,
                        validate=_validate_fid, keys=(2, 5)),
    "6.2": ExerciseSpec(EXERCISES["6.2"], ("inception_score",), _cases_inception_score, _call_inception_score,
                        _reference_inception_score, _compare_inception_score, references=(_ref_is,),
                        forbidden_modules=_FORBIDDEN, validate=_validate_inception_score, keys=(2,)),
    "6.3": ExerciseSpec(EXERCISES["6.3"], ("precision_recall",), _cases_precision_recall, _call_precision_recall,
                        _reference_precision_recall, _compare_precision_recall, references=(_ref_pr,),
                        forbidden_modules=_FORBIDDEN, validate=_validate_precision_recall, keys=(1, 2, 5)),
}
