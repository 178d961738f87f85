r"""Chapter 8 exercises: attention and scale.

Three graded exercises, each a declarative :class:`~course_lib.exercises.core.ExerciseSpec` checked on visible and
hidden cases against :mod:`course_lib.gan.attention` and :mod:`course_lib.gan.biggan`:

- **8.1** :func:`check_self_attention`: SAGAN's self-attention block as a module ``SelfAttention(channels)`` with
  1x1 convolutions ``f``, ``g`` (``C -> C/8``), ``h`` (``C -> C``) and a scalar parameter ``gamma``. The check builds
  the learner's module, loads the same weights into it as into the reference and compares the outputs. Key cases:
  the fresh module is the identity (``gamma`` starts at 0), and the attention weights are a softmax over the *key*
  positions ``i`` for every query ``j`` (a softmax over the queries gives other numbers everywhere).
- **8.2** :func:`check_truncated_noise`: BigGAN's truncation trick. Samples are tested for their shape, dtype and
  range, and for their *distribution* with a Kolmogorov-Smirnov distance to the truncated normal CDF (32,000 values,
  a threshold of 0.012: a correct sampler exceeds it with probability about 2e-4). Key cases: the distributions at
  ``t = 0.5`` and ``t = 2`` (clipping piles the tail's mass onto :math:`\pm t`; rescaling or uniform noise have the
  wrong shape). Drawing from the given ``torch.Generator`` is checked too.
- **8.3** :func:`check_orthogonal_regularization`: :math:`\beta\lVert W W^\top \odot (\mathbf 1 - I)\rVert_F^2` with
  ``W`` the weight as ``out x rest``, value and gradient. Key case: filters that are orthogonal but of different
  norms (the penalty is 0; the full :math:`\lVert W W^\top - I\rVert_F^2` is not).

Every input is built from its own ``torch.Generator`` (:func:`~course_lib.exercises.core.case_generators`), so a
verdict does not depend on the notebook's random state; the grader draws fresh cases of the same kinds from its
seed. Messages say what is wrong without printing the answer.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Callable

import torch
from torch import Tensor, nn

from course_lib.exercises._random import randint as _randint, uniform as _uniform
from course_lib.exercises.core import (
    record_call,
    CaseInput,
    Exercise,
    ExerciseSpec,
    Opaque,
    Raised,
    Verdict,
    capture,
    case_generators,
    compare_tensors,
    plain,
    scalar_problem,
)
from course_lib.gan.attention import SelfAttention2d as _RefSelfAttention
from course_lib.gan.biggan import orthogonal_regularization as _ref_ortho
from course_lib.gan.biggan import truncated_noise as _ref_truncated_noise
from course_lib.gan.biggan import truncated_normal_cdf

__all__ = ["EXERCISES", "SPECS", "check_self_attention", "check_truncated_noise", "check_orthogonal_regularization",
           "ks_distance", "KS_THRESHOLD"]

EXERCISES: dict[str, Exercise] = {
    "8.1": Exercise("8.1", "The self-attention block", points=4, difficulty=3, minutes=30),
    "8.2": Exercise("8.2", "The truncation trick", points=2, difficulty=1, minutes=15),
    "8.3": Exercise("8.3", "Orthogonal regularization", points=3, difficulty=2, minutes=15),
}

#: The largest Kolmogorov-Smirnov distance accepted between 32,000 samples and the truncated normal CDF.
KS_THRESHOLD = 0.012


_record = record_call  # capture, then plain (core)


# ----------------------------------------------------------------------------------------------------------------------
# 8.1 self-attention
# ----------------------------------------------------------------------------------------------------------------------
def _attention_params(g: torch.Generator, c: int, scale: float) -> dict[str, Tensor]:
    k = max(1, c // 8)
    out = {}
    for name, rows in (("f", k), ("g", k), ("h", c)):
        out[f"{name}.weight"] = torch.randn(rows, c, 1, 1, generator=g) * (scale / math.sqrt(c))
        out[f"{name}.bias"] = torch.randn(rows, generator=g) * 0.1
    return out


def _cases_attention(seed: int | None = None) -> list[CaseInput]:
    gs = case_generators(seed, 6, fixed=811)
    fixed = seed is None
    cases = []
    g = gs[0]
    c = 16 if fixed else 8 * _randint(g, 1, 3)
    cases.append(("a fresh module is the identity (gamma = 0)", c, torch.randn(2, c, 4, 4, generator=g), None, 0.0,
                  False))
    g = gs[1]
    c = 16
    cases.append(("loaded weights, gamma = 0.7, 4x4 maps", c, torch.randn(2, c, 4, 4, generator=g),
                  _attention_params(g, c, 2.0), 0.7, False))
    g = gs[2]
    c = 8
    gamma = -1.3 if fixed else _uniform(g, -2.0, -0.5)
    cases.append(("one key channel (C = 8), negative gamma", c, torch.randn(3, c, 3, 3, generator=g),
                  _attention_params(g, c, 3.0), gamma, False))
    g = gs[3]
    c = 16 if fixed else 8 * _randint(g, 2, 4)
    h, w = (3, 5) if fixed else (_randint(g, 2, 4), _randint(g, 5, 7))
    cases.append(("non-square maps (H != W)", c, torch.randn(2, c, h, w, generator=g), _attention_params(g, c, 2.5),
                  1.0, True))
    g = gs[4]
    c = 24
    cases.append(("a batch of one, sharp attention", c, torch.randn(1, c, 4, 4, generator=g),
                  _attention_params(g, c, 6.0), 0.5, True))
    g = gs[5]
    c = 32
    cases.append(("a fresh module on larger maps", c, torch.randn(2, c, 6, 6, generator=g) * 3, None, 0.0, True))
    return [CaseInput(name, {"channels": c, "x": x, "params": p, "gamma": gm}, hidden)
            for name, c, x, p, gm, hidden in cases]


def _load(module: nn.Module, params: Mapping[str, Tensor], gamma: float) -> str | None:
    """Copy ``params`` and ``gamma`` into the learner's module; a message if its structure does not fit."""
    with torch.no_grad():
        for key, value in params.items():
            conv_name, what = key.split(".")
            conv = getattr(module, conv_name, None)
            if not isinstance(conv, nn.Conv2d):
                return f"self.{conv_name} should be an nn.Conv2d with kernel_size=1, got {type(conv).__name__}"
            target = getattr(conv, what, None)
            if not isinstance(target, Tensor):
                return f"self.{conv_name}.{what} is missing (use nn.Conv2d's default bias=True)"
            if tuple(target.shape) != tuple(value.shape):
                return (f"self.{conv_name}.{what} should have shape {tuple(value.shape)} (C = {module_channels(params)}"
                        f"), got {tuple(target.shape)}")
            target.copy_(value)
        gm = getattr(module, "gamma", None)
        if not isinstance(gm, Tensor) or gm.numel() != 1:
            return "self.gamma should be an nn.Parameter holding one number"
        gm.fill_(gamma)
    return None


def module_channels(params: Mapping[str, Tensor]) -> int:
    return int(params["h.weight"].shape[1])


def _call_attention(fns: Sequence[Callable[..., Any]], inputs: Mapping[str, Any]) -> Any:
    cls = fns[0]
    module = capture(cls, inputs["channels"])
    if type(module) is Raised:
        return {"error": module}
    if not isinstance(module, nn.Module):
        return {"error": Opaque(type(module).__name__)}
    gm = getattr(module, "gamma", None)
    record: dict[str, Any] = {"fresh": inputs["params"] is None, "is_parameter": isinstance(gm, nn.Parameter),
                              "gamma": plain(gm.detach().clone() if isinstance(gm, Tensor) else gm)}
    if inputs["params"] is not None:
        problem = capture(_load, module, inputs["params"], inputs["gamma"])
        if type(problem) is Raised:
            problem = f"loading the weights raised {problem.type_name}: {problem.message[:120]}"
        if problem:
            record["structure"] = problem
            return record
    record["out"] = _record(module, inputs["x"].clone())
    return record


def _reference_attention(inputs: Mapping[str, Any]) -> Tensor:
    module = _RefSelfAttention(inputs["channels"])
    if inputs["params"] is not None:
        problem = _load(module, inputs["params"], inputs["gamma"])
        if problem:
            raise ValueError(problem)
    with torch.no_grad():
        return module(inputs["x"])


def _compare_attention(got: Any, expected: Tensor) -> str | None:
    if type(got) is not dict:
        return f"the check could not read the module ({type(got).__name__})"
    if "error" in got:
        err = got["error"]
        if type(err) is Raised:
            return "building SelfAttention(channels) " + err.problem()
        return f"SelfAttention(channels) should build an nn.Module, got {err.type_name}"
    if not got["is_parameter"]:
        return "self.gamma should be an nn.Parameter (a learned scalar), e.g. nn.Parameter(torch.zeros(1))"
    if "structure" in got:
        return got["structure"]
    out = got["out"]
    if type(out) is Raised:
        return out.problem()
    if type(out) is torch.Tensor and out.is_floating_point() and bool(torch.isnan(out).any()):
        return "the output contains NaN"
    return compare_tensors(out, expected, rtol=1e-4, atol=1e-5, what="output")


def _compare_attention_cases(got: Any, expected: Tensor) -> str | None:
    if type(got) is dict and "error" not in got and got.get("is_parameter") and got.get("fresh"):
        gm = got["gamma"]
        if type(gm) is not torch.Tensor or bool((gm != 0).any()):
            return "a fresh block should start as the identity: gamma should start at 0"
    return _compare_attention(got, expected)


def check_self_attention(cls: Callable[[int], nn.Module], *, quiet: bool = False) -> Verdict:
    r"""Check a learner's ``SelfAttention(channels)`` module: ``f``, ``g`` (1x1, ``C -> C/8``), ``h`` (1x1,
    ``C -> C``), ``gamma`` (starting at 0); ``forward(x)`` :math:`= \gamma\, o + x` with
    :math:`o_j = \sum_i \operatorname{softmax}_i(f(x_i)^\top g(x_j))\, h(x_i)` (6 cases, 2 hidden)."""
    return SPECS["8.1"].check(cls, quiet=quiet)


# ----------------------------------------------------------------------------------------------------------------------
# 8.2 truncation trick
# ----------------------------------------------------------------------------------------------------------------------
def ks_distance(samples: Tensor, truncation: float) -> float:
    """The Kolmogorov-Smirnov distance between the empirical CDF of ``samples`` (any shape) and the CDF of the
    standard normal truncated to ``[-truncation, truncation]``."""
    x = torch.sort(samples.detach().reshape(-1).to(torch.float64)).values
    n = x.numel()
    cdf = truncated_normal_cdf(x, truncation)
    k = torch.arange(1, n + 1, dtype=torch.float64)
    return float(torch.maximum(k / n - cdf, cdf - (k - 1) / n).max())


def _cases_truncation(seed: int | None = None) -> list[CaseInput]:
    gs = case_generators(seed, 6, fixed=821)
    fixed = seed is None

    def s(g: torch.Generator) -> int:
        return int(torch.randint(0, 2**31 - 1, (), generator=g))

    cases = [
        ("shape, dtype and range, t = 1", 8, 16, 1.0, s(gs[0]), "range", False),
        ("the distribution for t = 0.5", 4000, 8, 0.5, s(gs[1]), "distribution", False),
        ("the distribution for t = 2", 4000, 8, 2.0, s(gs[2]), "distribution", False),
        ("a small threshold, t = 0.1", 2000, 16, 0.1 if fixed else round(_uniform(gs[3], 0.05, 0.15), 3), s(gs[3]),
         "distribution", True),
        ("the same generator state gives the same samples", 64, 5, 1.5, s(gs[4]), "generator", True),
        ("one sample of 7 dimensions, t = 0.8", 1, 7, 0.8, s(gs[5]), "range", True),
    ]
    return [CaseInput(name, {"n": n, "dim": d, "truncation": t, "seed": sd, "kind": kind}, hidden)
            for name, n, d, t, sd, kind, hidden in cases]


def _call_truncation(fns: Sequence[Callable[..., Any]], inputs: Mapping[str, Any]) -> Any:
    fn = fns[0]
    n, d, t, sd = inputs["n"], inputs["dim"], inputs["truncation"], inputs["seed"]
    if inputs["kind"] == "generator":
        a = _record(fn, n, d, t, generator=torch.Generator().manual_seed(sd))
        b = _record(fn, n, d, t, generator=torch.Generator().manual_seed(sd))
        c = _record(fn, n, d, t, generator=torch.Generator().manual_seed(sd + 1))
        return {"a": a, "b": b, "c": c}
    return {"a": _record(fn, n, d, t, generator=torch.Generator().manual_seed(sd))}


def _reference_truncation(inputs: Mapping[str, Any]) -> dict[str, Any]:
    _ref_truncated_noise(inputs["n"], inputs["dim"], inputs["truncation"])  # rejects bad cases
    return {"n": inputs["n"], "dim": inputs["dim"], "truncation": inputs["truncation"], "kind": inputs["kind"]}


def _samples_problem(z: Any, n: int, d: int, t: float) -> str | None:
    if type(z) is Raised:
        return z.problem()
    if type(z) is not torch.Tensor:
        return f"the samples should be a torch.Tensor, got {z.type_name if type(z) is Opaque else type(z).__name__}"
    if tuple(z.shape) != (n, d):
        return f"the samples should have shape ({n}, {d}), got {tuple(z.shape)}"
    if z.dtype != torch.float32:
        return f"the samples should be float32 (torch.randn's default), got {z.dtype}"
    if not bool(torch.isfinite(z).all()):
        return "the samples contain NaN or inf"
    if bool((z.abs() > t).any()):
        share = float((z.abs() > t).double().mean())
        return f"{share:.1%} of the values lie outside [-t, t]: every value beyond the threshold must be redrawn"
    return None


def _compare_truncation(got: Any, expected: Mapping[str, Any]) -> str | None:
    if type(got) is not dict:
        return "the check could not read the samples"
    n, d, t = expected["n"], expected["dim"], expected["truncation"]
    problem = _samples_problem(got["a"], n, d, t)
    if problem:
        return problem
    z = got["a"]
    if expected["kind"] == "distribution":
        edge = float((z.abs() >= t * (1 - 1e-6)).double().mean())
        if edge > 0.005:
            return (f"{edge:.1%} of the values sit exactly on +-t: clipping puts the tails' mass on the threshold "
                    "instead of redrawing those values")
        ks = ks_distance(z, t)
        if ks > KS_THRESHOLD:
            return (f"the values do not follow a normal distribution truncated to [-t, t] (Kolmogorov-Smirnov distance "
                    f"{ks:.3f} > {KS_THRESHOLD}): draw from N(0, 1) and redraw what falls outside")
    if expected["kind"] == "generator":
        for key in ("b", "c"):
            problem = _samples_problem(got[key], n, d, t)
            if problem:
                return problem
        if not torch.equal(got["a"], got["b"]):
            return "two calls with generators in the same state gave different samples: draw from `generator`"
        if torch.equal(got["a"], got["c"]):
            return "generators with different seeds gave the same samples"
    return None


def check_truncated_noise(fn: Callable[..., Tensor], *, quiet: bool = False) -> Verdict:
    r"""Check a learner's ``truncated_noise(n, dim, truncation, generator=None)``: float32 ``(n, dim)`` samples of
    :math:`\mathcal N(0, 1)` with every value outside ``[-t, t]`` redrawn, from ``generator`` (6 cases, 2 hidden)."""
    return SPECS["8.2"].check(fn, quiet=quiet)


# ----------------------------------------------------------------------------------------------------------------------
# 8.3 orthogonal regularization
# ----------------------------------------------------------------------------------------------------------------------
def _orthogonal_rows(g: torch.Generator, rows: int, cols: int, norms: Sequence[float]) -> Tensor:
    q, _ = torch.linalg.qr(torch.randn(cols, rows, generator=g, dtype=torch.float64))  # (cols, rows), orthonormal
    return torch.tensor(list(norms), dtype=torch.float64)[:, None] * q.T  # rows orthogonal, norms given


def _cases_ortho(seed: int | None = None) -> list[CaseInput]:
    gs = case_generators(seed, 6, fixed=831)
    fixed = seed is None
    cases = []
    g = gs[0]
    rows, cols = (6, 10) if fixed else (_randint(g, 4, 7), _randint(g, 8, 12))
    cases.append(("a linear layer's weight (6 x 10), beta = 1e-2", torch.randn(rows, cols, generator=g) * 0.5, 1e-2,
                  False))
    g = gs[1]
    norms = [0.5, 1.0, 2.0, 3.0] if fixed else [_uniform(g, 0.3, 3.0) for _ in range(4)]
    cases.append(("orthogonal filters of different norms, beta = 1", _orthogonal_rows(g, 4, 7, norms), 1.0, False))
    g = gs[2]
    cases.append(("a conv weight (8, 3, 3, 3), beta = 0.1", torch.randn(8, 3, 3, 3, generator=g) * 0.3, 0.1, False))
    g = gs[3]
    cases.append(("the default beta", torch.randn(5, 9, generator=g), None, True))
    g = gs[4]
    cases.append(("more filters than inputs (10 x 4), float64",
                  torch.randn(10, 4, generator=g, dtype=torch.float64), 1e-3, True))
    g = gs[5]
    w = torch.randn(3, 6, generator=g)
    w[2] = w[0]  # two identical filters
    cases.append(("two identical filters, beta = 0.5", w, 0.5, True))
    return [CaseInput(name, {"weight": w, "beta": b}, hidden) for name, w, b, hidden in cases]


def _call_ortho(fns: Sequence[Callable[..., Any]], inputs: Mapping[str, Any]) -> Any:
    w = inputs["weight"].clone().requires_grad_(True)
    out = capture(fns[0], w) if inputs["beta"] is None else capture(fns[0], w, inputs["beta"])
    if type(out) is Raised:
        return {"value": out}
    record: dict[str, Any] = {"value": plain(out)}
    if type(out) is torch.Tensor and out.numel() == 1 and out.requires_grad:
        grad = capture(torch.autograd.grad, out.sum(), w, allow_unused=True)
        record["grad"] = grad if type(grad) is Raised else plain(grad[0])
    return record


def _reference_ortho(inputs: Mapping[str, Any]) -> dict[str, Tensor]:
    w = inputs["weight"].clone().requires_grad_(True)
    out = _ref_ortho(w) if inputs["beta"] is None else _ref_ortho(w, inputs["beta"])
    (grad,) = torch.autograd.grad(out, w)
    return {"value": out.detach(), "grad": grad}


def _compare_ortho(got: Any, expected: Mapping[str, Tensor]) -> str | None:
    if type(got) is not dict:
        return "the check could not read the result"
    value = got["value"]
    e = expected["value"]
    # the sum of squares of W W^T's entries: round-off at the scale of its largest terms
    scale = float(expected["grad"].abs().max()) + float(e.abs()) + 1e-30
    atol = 64 * torch.finfo(e.dtype).eps * scale
    problem = scalar_problem(value, float(e), what="penalty", rtol=1e-4 if e.dtype == torch.float32 else 1e-9,
                             atol=atol, dtype=e.dtype)
    if problem:
        return problem
    if "grad" not in got:
        return "the penalty should be a differentiable tensor of the weight (no .item(), no detach)"
    grad = got["grad"]
    if type(grad) is Raised:
        return "back-propagating through the penalty " + grad.problem()
    if type(grad) is not torch.Tensor:
        return "the penalty's gradient with respect to the weight is missing: keep it a function of the weight"
    return compare_tensors(grad, expected["grad"], rtol=1e-4, atol=atol, what="gradient of the penalty")


def check_orthogonal_regularization(fn: Callable[..., Tensor], *, quiet: bool = False) -> Verdict:
    r"""Check a learner's ``orthogonal_regularization(weight, beta=1e-4)``:
    :math:`\beta\lVert W W^\top \odot (\mathbf 1 - I)\rVert_F^2`, ``W = weight.reshape(out, -1)``, a differentiable
    0-d tensor (value and gradient compared; 6 cases, 3 hidden)."""
    return SPECS["8.3"].check(fn, quiet=quiet)


# ----------------------------------------------------------------------------------------------------------------------
# The specs
# ----------------------------------------------------------------------------------------------------------------------
SPECS: dict[str, ExerciseSpec] = {
    "8.1": ExerciseSpec(EXERCISES["8.1"], ("SelfAttention",), _cases_attention, _call_attention,
                        _reference_attention, _compare_attention_cases, references=(),
                        forbidden_modules=("course_lib.gan.attention",),
                        input_types={"channels": int, "x": Tensor, "params": (dict, type(None)), "gamma": float},
                        weights={0: 2, 1: 2}, keys=(0, 1)),
    "8.2": ExerciseSpec(EXERCISES["8.2"], ("truncated_noise",), _cases_truncation, _call_truncation,
                        _reference_truncation, _compare_truncation, references=(_ref_truncated_noise,),
                        forbidden_modules=("course_lib.gan.biggan",),
                        input_types={"n": int, "dim": int, "truncation": float, "seed": int, "kind": str},
                        weights={1: 3, 2: 3}, keys=(1, 2)),
    "8.3": ExerciseSpec(EXERCISES["8.3"], ("orthogonal_regularization",), _cases_ortho, _call_ortho,
                        _reference_ortho, _compare_ortho, references=(_ref_ortho,),
                        forbidden_modules=("course_lib.gan.biggan",),
                        input_types={"weight": Tensor, "beta": (float, type(None))}, weights={1: 3}, keys=(1,)),
}
