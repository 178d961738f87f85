r"""Chapter 7 exercises: conditional and representation GANs.

Three graded exercises, each a declarative :class:`~course_lib.exercises.core.ExerciseSpec` checked on visible and
hidden cases against :mod:`course_lib.gan.conditional`, :mod:`course_lib.gan.acgan` and :mod:`course_lib.gan.infogan`:

- **7.1** :func:`check_conditional_batch_norm`: conditional batch norm, the features normalised with the statistics
  of the *whole minibatch* (population variance), then the gain and bias of each sample's class. Key cases: classes
  with very different statistics (normalising class by class is wrong) and a constant channel (0 variance: the
  :math:`\epsilon` under the root, not NaN).
- **7.2** :func:`check_acgan_losses`: ACGAN's discriminator and generator losses from the logits of both heads.
  Key cases: ``classify_fakes=False``, where the class term of the fakes must be left out of D's loss (the classifier
  learns from real data only) while G's loss keeps it, and the paper's ``classify_fakes=True``, where it is in.
- **7.3** :func:`check_mi_lower_bound`: InfoGAN's lower bound for a categorical code,
  :math:`\frac1N\sum_n \log Q(c_n \mid x_n) + H(c)`. Key cases: codes that are not one-hot rows (a ``ValueError``
  is expected) and a prior with a zero probability (:math:`0 \log 0 = 0`). The entropy with the wrong sign (or left
  out) fails every case.

Every input is built from its own ``torch.Generator`` (:func:`~course_lib.exercises.core.case_generators`), so a
verdict does not depend on the notebook's random state; the grader draws fresh cases of the same kinds from its seed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Callable

import torch
from torch import Tensor

from course_lib.exercises._random import randint as _randint
from course_lib.exercises.core import (
    record_call,
    CaseInput,
    Exercise,
    ExerciseSpec,
    Raised,
    Verdict,
    capture,
    case_generators,
    compare_tensors,
    plain,
    scalar_problem,
)
from course_lib.gan.acgan import acgan_d_loss as _ref_acgan_d_loss
from course_lib.gan.acgan import acgan_g_loss as _ref_acgan_g_loss
from course_lib.gan.conditional import conditional_batch_norm as _ref_cbn
from course_lib.gan.infogan import categorical_mi_lower_bound as _ref_mi

__all__ = ["EXERCISES", "SPECS", "check_conditional_batch_norm", "check_acgan_losses", "check_mi_lower_bound"]

EXERCISES: dict[str, Exercise] = {
    "7.1": Exercise("7.1", "Conditional batch norm", points=3, difficulty=2, minutes=15),
    "7.2": Exercise("7.2", "ACGAN's two losses", points=3, difficulty=2, minutes=20),
    "7.3": Exercise("7.3", "InfoGAN's mutual-information lower bound", points=3, difficulty=2, minutes=20),
}


def _tols(dtype: torch.dtype, loose: tuple[float, float], tight: tuple[float, float]) -> tuple[float, float]:
    return tight if dtype == torch.float64 else loose


_record = record_call  # capture, then plain (core)


# ----------------------------------------------------------------------------------------------------------------------
# 7.1 conditional batch norm
# ----------------------------------------------------------------------------------------------------------------------
def _cases_cbn(seed: int | None = None) -> list[CaseInput]:
    gs = case_generators(seed, 6, fixed=701)
    fixed = seed is None
    cases = []

    def params(g: torch.Generator, k: int, c: int, dtype=torch.float32) -> tuple[Tensor, Tensor]:
        return 0.5 + torch.rand(k, c, generator=g, dtype=dtype) * 1.5, torch.randn(k, c, generator=g, dtype=dtype)

    def labels(g: torch.Generator, n: int, k: int) -> Tensor:
        y = torch.randint(k, (n,), generator=g)
        y[:k] = torch.randperm(k, generator=g)  # every class present
        return y

    g = gs[0]
    n, k, c = (6, 3, 4) if fixed else (_randint(g, 5, 8), _randint(g, 2, 4), _randint(g, 3, 6))
    cases.append(("feature maps (N, C, H, W), K = 3 classes, C = 4 channels",
                  torch.randn(n, c, 4, 4, generator=g) * 2 + 1, labels(g, n, k), *params(g, k, c), False))
    g = gs[1]
    n, k, c = (8, 5, 3) if fixed else (_randint(g, 6, 10), _randint(g, 4, 7), _randint(g, 2, 4))
    cases.append(("vectors (N, C), more classes than channels", torch.randn(n, c, generator=g) * 3 - 1,
                  labels(g, n, k), *params(g, k, c), False))
    g = gs[2]
    k, c, per = 3, 4, 3
    y = torch.arange(k).repeat_interleave(per)
    shift = torch.tensor([-4.0, 0.0, 5.0])[y].view(-1, 1, 1, 1)
    scale = torch.tensor([0.5, 1.0, 3.0])[y].view(-1, 1, 1, 1)
    x = torch.randn(k * per, c, 3, 3, generator=g) * scale + shift
    cases.append(("classes with very different statistics", x, y, *params(g, k, c), False))
    g = gs[3]
    n, k, c = 5, 2, 3
    x = torch.randn(n, c, 2, 2, generator=g)
    x[:, 1] = 0.75  # channel 1 constant (0.75: the mean is exact in float32) over the whole batch: zero variance
    cases.append(("a channel that is constant over the batch", x, labels(g, n, k), *params(g, k, c), False))
    g = gs[4]
    n, k, c = (4, 3, 5) if fixed else (_randint(g, 3, 6), _randint(g, 2, 4), _randint(g, 3, 6))
    cases.append(("float64, non-square maps", torch.randn(n, c, 3, 5, generator=g, dtype=torch.float64) * 2,
                  labels(g, n, k), *params(g, k, c, torch.float64), True))
    g = gs[5]
    k, c = 4, 2
    y = torch.tensor([3, 3, 1, 3])  # classes 0 and 2 absent: their rows must not be used
    cases.append(("a batch in which some classes are absent", torch.randn(4, c, 2, 2, generator=g) + 2, y,
                  *params(g, k, c), True))
    return [CaseInput(name, {"x": x, "y": y, "gain": gn, "bias": b}, hidden) for name, x, y, gn, b, hidden in cases]


def _call_cbn(fns: Sequence[Callable[..., Any]], inputs: Mapping[str, Any]) -> Any:
    return _record(fns[0], inputs["x"], inputs["y"], inputs["gain"], inputs["bias"])


def _reference_cbn(inputs: Mapping[str, Any]) -> Tensor:
    return _ref_cbn(inputs["x"], inputs["y"], inputs["gain"], inputs["bias"])


def _compare_cbn(got: Any, expected: Tensor) -> str | None:
    if type(got) is Raised:
        return got.problem()
    if type(got) is Tensor and got.is_floating_point() and bool(torch.isnan(got).any()):
        return "the output contains NaN: a channel with zero variance needs the epsilon under the square root"
    # eps from 1e-8 to 1e-5 accepted (variances of order 1 here)
    rtol, atol = _tols(expected.dtype, (1e-4, 1e-4), (1e-4, 1e-4))
    return compare_tensors(got, expected, rtol=rtol, atol=atol, what="conditional batch norm output")


def check_conditional_batch_norm(fn: Callable[..., Tensor], *, quiet: bool = False) -> Verdict:
    r"""Check a learner's ``conditional_batch_norm(x, y, gain, bias, eps=1e-5)``: batch statistics over dims
    ``(0, 2, 3)`` (or ``0`` for ``(N, C)``), population variance, then ``gain[y]`` and ``bias[y]`` per sample
    (6 cases, 2 hidden)."""
    return SPECS["7.1"].check(fn, quiet=quiet)


# ----------------------------------------------------------------------------------------------------------------------
# 7.2 ACGAN's losses
# ----------------------------------------------------------------------------------------------------------------------
def _cases_acgan(seed: int | None = None) -> list[CaseInput]:
    gs = case_generators(seed, 7, fixed=721)
    fixed = seed is None
    cases = []

    def batch(g: torch.Generator, n: int, m: int, k: int, scale: float = 2.0, dtype=torch.float32):
        return (torch.randn(n, generator=g, dtype=dtype) * scale, torch.randn(m, generator=g, dtype=dtype) * scale,
                torch.randn(n, k, generator=g, dtype=dtype) * scale, torch.randn(m, k, generator=g, dtype=dtype) * scale,
                torch.randint(k, (n,), generator=g), torch.randint(k, (m,), generator=g))

    g = gs[0]
    n = 8 if fixed else _randint(g, 6, 12)
    cases.append(("reals and fakes, K = 10, classify_fakes=True", *batch(g, n, n, 10), True, False))
    g = gs[1]
    n = 8 if fixed else _randint(g, 6, 12)
    sr, sf, cr, cf, yr, yf = batch(g, n, n, 10)
    cf = cf - 6.0 * torch.nn.functional.one_hot(yf, 10)  # the fakes' class logits point away from their labels
    cases.append(("classify_fakes=False: D's class term on real data only", sr, sf, cr, cf, yr, yf, False, False))
    g = gs[2]
    n, m = (6, 10) if fixed else (_randint(g, 4, 8), _randint(g, 9, 14))
    cases.append(("different numbers of reals and fakes", *batch(g, n, m, 4), True, False))
    g = gs[3]
    cases.append(("logits of large magnitude", *batch(g, 6, 6, 5, scale=40.0), True, True))
    g = gs[4]
    cases.append(("float64, classify_fakes=False", *batch(g, 5, 7, 3, dtype=torch.float64), False, True))
    g = gs[5]
    cases.append(("two classes", *batch(g, 9, 9, 2), True, True))
    g = gs[6]
    sr, sf, cr, cf, yr, yf = batch(g, 6, 6, 6, scale=3.0)
    cases.append(("classify_fakes=False, confident fakes", sr, sf, cr, cf * 3, yr, yf, False, True))
    return [CaseInput(name, {"src_real": sr, "src_fake": sf, "cls_real": cr, "cls_fake": cf, "y_real": yr,
                             "y_fake": yf, "classify_fakes": flag}, hidden)
            for name, sr, sf, cr, cf, yr, yf, flag, hidden in cases]


def _call_acgan(fns: Sequence[Callable[..., Any]], inputs: Mapping[str, Any]) -> Any:
    d = _record(fns[0], inputs["src_real"], inputs["src_fake"], inputs["cls_real"], inputs["cls_fake"],
                inputs["y_real"], inputs["y_fake"], classify_fakes=inputs["classify_fakes"])
    if type(d) is Raised:
        return d
    g = _record(fns[1], inputs["src_fake"], inputs["cls_fake"], inputs["y_fake"])
    return g if type(g) is Raised else {"d": d, "g": g}


def _reference_acgan(inputs: Mapping[str, Any]) -> dict[str, Any]:
    d = _ref_acgan_d_loss(inputs["src_real"], inputs["src_fake"], inputs["cls_real"], inputs["cls_fake"],
                          inputs["y_real"], inputs["y_fake"], classify_fakes=inputs["classify_fakes"])
    g = _ref_acgan_g_loss(inputs["src_fake"], inputs["cls_fake"], inputs["y_fake"])
    return {"d": float(d), "g": float(g), "dtype": inputs["src_real"].dtype}


def _compare_acgan(got: Any, expected: Mapping[str, Any]) -> str | None:
    if type(got) is Raised:
        return got.problem()
    dtype = expected["dtype"]
    rtol, atol = _tols(dtype, (1e-5, 1e-5), (1e-10, 1e-10))
    for key, what in (("d", "discriminator's loss"), ("g", "generator's loss")):
        problem = scalar_problem(got[key], expected[key], what=what, rtol=rtol, atol=atol, dtype=dtype,
                                 nan_hint=" (use log-sigmoid/log-softmax forms: large logits overflow exp)")
        if problem is not None:
            return problem
    return None


def check_acgan_losses(d_fn: Callable[..., Tensor], g_fn: Callable[..., Tensor], *, quiet: bool = False) -> Verdict:
    r"""Check a learner's ``acgan_d_loss(src_real, src_fake, cls_real, cls_fake, y_real, y_fake,
    classify_fakes=True)`` and ``acgan_g_loss(src_fake, cls_fake, y_fake)`` (7 cases, 4 hidden)."""
    return SPECS["7.2"].check(d_fn, g_fn, quiet=quiet)


# ----------------------------------------------------------------------------------------------------------------------
# 7.3 InfoGAN's lower bound
# ----------------------------------------------------------------------------------------------------------------------
def _cases_mi(seed: int | None = None) -> list[CaseInput]:
    gs = case_generators(seed, 7, fixed=731)
    fixed = seed is None
    F = torch.nn.functional
    cases = []

    def onehot(g: torch.Generator, n: int, k: int, dtype=torch.float32, probs: Tensor | None = None) -> Tensor:
        idx = torch.randint(k, (n,), generator=g) if probs is None else torch.multinomial(probs, n, True, generator=g)
        return F.one_hot(idx, k).to(dtype)

    g = gs[0]
    n, k = (12, 10) if fixed else (_randint(g, 8, 16), 10)
    cases.append(("a uniform code over K = 10 categories", torch.randn(n, k, generator=g) * 2, onehot(g, n, k),
                  None, False))
    g = gs[1]
    k = 4
    prior = torch.tensor([0.1, 0.2, 0.3, 0.4])
    n = 10 if fixed else _randint(g, 8, 14)
    cases.append(("a prior that is not uniform", torch.randn(n, k, generator=g), onehot(g, n, k, probs=prior),
                  prior, False))
    g = gs[2]
    prior = torch.tensor([0.5, 0.0, 0.25, 0.25])
    n = 9 if fixed else _randint(g, 6, 12)
    cases.append(("a prior with a zero probability", torch.randn(n, 4, generator=g), onehot(g, n, 4, probs=prior),
                  prior, False))
    g = gs[3]
    n, k = 6, 5
    soft = torch.softmax(torch.randn(n, k, generator=g), dim=1)
    cases.append(("codes that are not one-hot (soft probabilities)", torch.randn(n, k, generator=g), soft, None,
                  False))
    g = gs[4]
    n, k = 5, 3
    codes = onehot(g, n, k)
    codes[2] = torch.tensor([1.0, 1.0, 0.0])  # two ones in a row
    cases.append(("a code row with two ones", torch.randn(n, k, generator=g), codes, None, True))
    g = gs[5]
    n, k = 7, 6
    codes = onehot(g, n, k, dtype=torch.float64)
    cases.append(("float64", torch.randn(n, k, generator=g, dtype=torch.float64), codes, None, True))
    g = gs[6]
    n, k = 8, 10
    codes = onehot(g, n, k)
    logits = torch.randn(n, k, generator=g) + 120.0 * codes  # Q is sure and right: softmax underflows elsewhere
    cases.append(("Q certain of every code", logits, codes, None, True))
    return [CaseInput(name, {"logits": lg, "codes": c, "prior": p}, hidden) for name, lg, c, p, hidden in cases]


def _call_mi(fns: Sequence[Callable[..., Any]], inputs: Mapping[str, Any]) -> Any:
    out = capture(fns[0], inputs["logits"], inputs["codes"], inputs["prior"])
    if type(out) is Raised and not out.not_implemented:
        return {"raised": out.type_name, "message": out.message[:300]}
    return out if type(out) is Raised else plain(out)


def _reference_mi(inputs: Mapping[str, Any]) -> dict[str, Any]:
    try:
        value = float(_ref_mi(inputs["logits"], inputs["codes"], inputs["prior"]))
    except ValueError:
        return {"raises": "ValueError"}
    return {"value": value, "dtype": inputs["logits"].dtype}


def _compare_mi(got: Any, expected: Mapping[str, Any]) -> str | None:
    if type(got) is Raised:
        return got.problem()
    raised = got.get("raised") if type(got) is dict else None
    if "raises" in expected:
        if raised == "ValueError":
            return None
        if raised is not None:
            return f"raised {raised}; codes that are not one-hot rows should raise ValueError"
        return ("returned a value for codes that are not one-hot rows: check that every row has a single 1 and zeros "
                "elsewhere, and raise ValueError otherwise")
    if raised is not None:
        return f"raised {raised}: {got.get('message', '')[:160]}"
    dtype = expected["dtype"]
    rtol, atol = _tols(dtype, (1e-5, 1e-5), (1e-10, 1e-10))
    return scalar_problem(got, expected["value"], what="lower bound", rtol=rtol, atol=atol, dtype=dtype,
                          nan_hint=" (0 log 0 is 0; and the log of a softmax that underflows is -inf: use "
                                   "log_softmax)")


def check_mi_lower_bound(fn: Callable[..., Tensor], *, quiet: bool = False) -> Verdict:
    r"""Check a learner's ``mi_lower_bound(logits, codes, prior=None)``: the mean log-probability Q gives the
    one-hot codes plus the prior's entropy; a ``ValueError`` for codes that are not one-hot (7 cases, 3 hidden)."""
    return SPECS["7.3"].check(fn, quiet=quiet)


# ----------------------------------------------------------------------------------------------------------------------
# The specs
# ----------------------------------------------------------------------------------------------------------------------
SPECS: dict[str, ExerciseSpec] = {
    "7.1": ExerciseSpec(EXERCISES["7.1"], ("conditional_batch_norm",), _cases_cbn, _call_cbn, _reference_cbn,
                        _compare_cbn, references=(_ref_cbn,), forbidden_modules=("course_lib.gan.conditional",),
                        input_types={"x": Tensor, "y": Tensor, "gain": Tensor, "bias": Tensor},
                        weights={2: 2, 3: 2}, keys=(2, 3)),
    "7.2": ExerciseSpec(EXERCISES["7.2"], ("acgan_d_loss", "acgan_g_loss"), _cases_acgan, _call_acgan,
                        _reference_acgan, _compare_acgan, references=(_ref_acgan_d_loss, _ref_acgan_g_loss),
                        forbidden_modules=("course_lib.gan.acgan",),
                        input_types={"src_real": Tensor, "src_fake": Tensor, "cls_real": Tensor, "cls_fake": Tensor,
                                     "y_real": Tensor, "y_fake": Tensor, "classify_fakes": bool},
                        weights={0: 2, 1: 2}, keys=(0, 1)),
    "7.3": ExerciseSpec(EXERCISES["7.3"], ("mi_lower_bound",), _cases_mi, _call_mi, _reference_mi, _compare_mi,
                        references=(_ref_mi,), forbidden_modules=("course_lib.gan.infogan",),
                        input_types={"logits": Tensor, "codes": Tensor, "prior": (Tensor, type(None))},
                        weights={2: 2, 3: 2}, keys=(2, 3)),
}
