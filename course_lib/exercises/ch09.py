r"""Chapter 9 exercises: progressive and style-based generators.

Three graded exercises, each a declarative :class:`~course_lib.exercises.core.ExerciseSpec` checked on visible and
hidden cases against :mod:`course_lib.gan.progan` and :mod:`course_lib.gan.stylegan`:

- **9.1** :func:`check_pixel_norm`: ProGAN's pixelwise feature normalisation,
  :math:`b = a / \sqrt{\frac1C\sum_j (a^j)^2 + \epsilon}` over the channels of every pixel. Key case: a pixel whose
  features are all zero (0, not NaN: the :math:`\epsilon` under the root).
- **9.2** :func:`check_adain`: adaptive instance normalisation, each feature map normalised over its own
  positions with the population variance, then given the style's scale and bias. Key case: a constant feature map
  (it becomes the bias, not NaN). :math:`\epsilon` of :math:`10^{-8}` (StyleGAN) and :math:`10^{-5}` (PyTorch's
  instance norm) are both accepted.
- **9.3** :func:`check_modulated_conv2d`: StyleGAN2's modulated convolution with demodulation, compared with a
  per-sample loop. Key cases: a sample whose style is zero (0 out, not NaN: the :math:`\epsilon` of the
  demodulation), and styles of very different sizes per sample (normalisation per sample and output channel over
  input channels and kernel positions). Modulating the output channels instead of the input ones fails every case
  (it gives other numbers, or the wrong shape when :math:`C_{in} \ne C_{out}`).

Every input is built from its own ``torch.Generator`` (:func:`~course_lib.exercises.core.case_generators`), so a
verdict does not depend on the notebook's random state; the grader draws fresh cases of the same kinds from its
seed. Messages say what is wrong (shape, dtype, a NaN, the first wrong entry) without printing the answer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from course_lib.exercises._random import randint as _randint, uniform as _uniform
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
)
from course_lib.gan.progan import pixel_norm as _ref_pixel_norm
from course_lib.gan.stylegan import adain as _ref_adain
from course_lib.gan.stylegan import modulated_conv2d as _ref_modulated_conv2d

__all__ = ["EXERCISES", "SPECS", "check_pixel_norm", "check_adain", "check_modulated_conv2d",
           "reference_modulated_conv2d_loop"]

EXERCISES: dict[str, Exercise] = {
    "9.1": Exercise("9.1", "Pixelwise feature normalisation", points=2, difficulty=1, minutes=10),
    "9.2": Exercise("9.2", "Adaptive instance normalisation (AdaIN)", points=3, difficulty=2, minutes=15),
    "9.3": Exercise("9.3", "Modulated convolution with weight demodulation", points=4, difficulty=3, minutes=30),
}


def _tols(dtype: torch.dtype, loose: tuple[float, float], tight: tuple[float, float]) -> tuple[float, float]:
    return tight if dtype == torch.float64 else loose


_record = record_call  # capture, then plain (core)


def _nan_problem(got: Any, what: str, hint: str) -> str | None:
    if type(got) is torch.Tensor and got.is_floating_point() and bool(torch.isnan(got).any()):
        return f"the {what} contains NaN: {hint}"
    return None


# ----------------------------------------------------------------------------------------------------------------------
# 9.1 pixel norm
# ----------------------------------------------------------------------------------------------------------------------
def _cases_pixel_norm(seed: int | None = None) -> list[CaseInput]:
    gs = case_generators(seed, 6, fixed=901)
    n = (lambda g, lo, hi: lo) if seed is None else (lambda g, lo, hi: _randint(g, lo, hi))
    cases = []
    g = gs[0]
    cases.append(("feature maps (N, C, H, W)", torch.randn(n(g, 4, 6), n(g, 8, 12), 3, 3, generator=g), False))
    g = gs[1]
    cases.append(("latent codes (N, C)", torch.randn(n(g, 5, 9), n(g, 16, 32), generator=g), False))
    g = gs[2]
    x = torch.randn(2, n(g, 4, 8), 2, 2, generator=g)
    x[0, :, 1, 1] = 0.0  # one pixel with all its features zero
    x[1, :, 0, 0] = 0.0
    cases.append(("a pixel whose features are all zero", x, False))
    g = gs[3]
    cases.append(("float64 feature maps", torch.randn(3, n(g, 16, 40), 4, 4, generator=g, dtype=torch.float64), True))
    g = gs[4]
    scales = torch.tensor([0.1, 1.0, 30.0]).view(1, 1, 3, 1)  # pixels of very different sizes
    cases.append(("pixels of very different magnitudes", torch.randn(2, 6, 3, 2, generator=g) * scales, True))
    g = gs[5]
    sign = torch.where(torch.rand(4, 1, 3, 3, generator=g) < 0.5, -1.0, 1.0)
    cases.append(("one channel (C = 1)", sign * (0.5 + torch.rand(4, 1, 3, 3, generator=g)), True))
    return [CaseInput(name, {"x": x}, hidden) for name, x, hidden in cases]


def _call_pixel_norm(fns: Sequence[Callable[..., Any]], inputs: Mapping[str, Any]) -> Any:
    return _record(fns[0], inputs["x"])


def _reference_pixel_norm(inputs: Mapping[str, Any]) -> Tensor:
    return _ref_pixel_norm(inputs["x"])


def _compare_pixel_norm(got: Any, expected: Tensor) -> str | None:
    if type(got) is Raised:
        return got.problem()
    nan = _nan_problem(got, "result", "a pixel with all features zero needs the epsilon under the square root")
    if nan:
        return nan
    rtol, atol = _tols(expected.dtype, (1e-5, 1e-6), (1e-7, 1e-10))
    return compare_tensors(got, expected, rtol=rtol, atol=atol, what="normalised tensor")


def check_pixel_norm(fn: Callable[[Tensor], Tensor], *, quiet: bool = False) -> Verdict:
    r"""Check a learner's ``pixel_norm(x, eps=1e-8)``: :math:`x / \sqrt{\operatorname{mean}_c x^2 + \epsilon}` over
    dimension 1, for ``(N, C)`` and ``(N, C, H, W)`` inputs, in the input's dtype (6 cases, 3 hidden)."""
    return SPECS["9.1"].check(fn, quiet=quiet)


# ----------------------------------------------------------------------------------------------------------------------
# 9.2 AdaIN
# ----------------------------------------------------------------------------------------------------------------------
def _cases_adain(seed: int | None = None) -> list[CaseInput]:
    gs = case_generators(seed, 5, fixed=921)
    fixed = seed is None
    cases = []

    def style(g: torch.Generator, n: int, c: int, dtype=torch.float32, negative: bool = False):
        scale = torch.rand(n, c, generator=g, dtype=dtype) * 2 + 0.2
        if negative:
            scale = scale * torch.where(torch.rand(n, c, generator=g) < 0.5, -1.0, 1.0).to(dtype)
        return scale, torch.randn(n, c, generator=g, dtype=dtype)

    g = gs[0]
    n, c = (2, 3) if fixed else (_randint(g, 2, 4), _randint(g, 2, 5))
    x = torch.randn(n, c, 4, 4, generator=g) * 2 + 1
    cases.append(("feature maps (N, C, 4, 4)", x, *style(g, n, c), False))
    g = gs[1]
    n, c = (3, 4) if fixed else (_randint(g, 2, 4), _randint(g, 3, 6))
    x = torch.randn(n, c, 5, 5, generator=g) * 3 - 2
    cases.append(("styles with negative scales", x, *style(g, n, c, negative=True), False))
    g = gs[2]
    n, c = 2, 3
    x = torch.randn(n, c, 4, 4, generator=g) * 2
    x[0, 1] = 0.75  # a constant feature map: zero variance
    x[1, 2] = -1.5
    cases.append(("a constant feature map", x, *style(g, n, c), False))
    g = gs[3]
    n, c = (2, 2) if fixed else (_randint(g, 1, 3), _randint(g, 2, 4))
    h, w = (3, 7) if fixed else (_randint(g, 3, 6), _randint(g, 6, 9))
    cases.append(("non-square maps (H != W)", torch.randn(n, c, h, w, generator=g) * 2 + 0.5,
                  *style(g, n, c), True))
    g = gs[4]
    x = torch.randn(2, 3, 6, 6, generator=g, dtype=torch.float64) * 4
    cases.append(("float64", x, *style(g, 2, 3, dtype=torch.float64), True))
    return [CaseInput(name, {"x": x, "scale": s, "bias": b}, hidden) for name, x, s, b, hidden in cases]


def _call_adain(fns: Sequence[Callable[..., Any]], inputs: Mapping[str, Any]) -> Any:
    return _record(fns[0], inputs["x"], inputs["scale"], inputs["bias"])


def _reference_adain(inputs: Mapping[str, Any]) -> Tensor:
    return _ref_adain(inputs["x"], inputs["scale"], inputs["bias"])


def _compare_adain(got: Any, expected: Tensor) -> str | None:
    if type(got) is Raised:
        return got.problem()
    nan = _nan_problem(got, "result", "a constant feature map has zero variance; put an epsilon under the root")
    if nan:
        return nan
    # eps between 1e-8 and 1e-5 is accepted (with feature-map variances of about 1 or more, the two differ by < 1e-5),
    # and the float32 round-off of fused instance-norm kernels on a constant map (a few 1e-5)
    return compare_tensors(got, expected, rtol=1e-4, atol=1e-4, what="AdaIN output")


def check_adain(fn: Callable[[Tensor, Tensor, Tensor], Tensor], *, quiet: bool = False) -> Verdict:
    r"""Check a learner's ``adain(x, scale, bias)``: each ``x[n, c]`` normalised over its positions (population
    variance, :math:`\epsilon` under the root), times ``scale[n, c]``, plus ``bias[n, c]`` (5 cases, 2 hidden)."""
    return SPECS["9.2"].check(fn, quiet=quiet)


# ----------------------------------------------------------------------------------------------------------------------
# 9.3 modulated convolution
# ----------------------------------------------------------------------------------------------------------------------
def reference_modulated_conv2d_loop(x: Tensor, weight: Tensor, styles: Tensor, demodulate: bool = True,
                                    padding: int = 0) -> Tensor:
    r"""The slow, obvious version: one ordinary convolution per sample with that sample's kernel
    :math:`w''_n` (StyleGAN2, Eqs. 1 and 3), for comparing with the grouped convolution."""
    outs = []
    for n in range(x.shape[0]):
        kernel = weight * styles[n].view(1, -1, 1, 1)  # (C_out, C_in, k, k): scale the input channels
        if demodulate:
            kernel = kernel / torch.sqrt(kernel.square().sum(dim=(1, 2, 3), keepdim=True) + 1e-8)
        outs.append(F.conv2d(x[n : n + 1], kernel, padding=padding))
    return torch.cat(outs)


def _cases_modconv(seed: int | None = None) -> list[CaseInput]:
    gs = case_generators(seed, 7, fixed=931)
    fixed = seed is None
    cases = []

    def make(g, n, c_in, c_out, k, size, dtype=torch.float32):
        return (torch.randn(n, c_in, size, size, generator=g, dtype=dtype),
                torch.randn(c_out, c_in, k, k, generator=g, dtype=dtype),
                torch.rand(n, c_in, generator=g, dtype=dtype) * 1.5 + 0.25)

    g = gs[0]
    n = 3 if fixed else _randint(g, 2, 4)
    x, w, s = make(g, n, 4, 5, 3, 6)
    cases.append(("3x3 kernel, padding 1", x, w, s, True, 1, False))
    g = gs[1]
    x, w, s = make(g, 2, 3, 3, 3, 5)
    cases.append(("modulation only (demodulate=False)", x, w, s, False, 1, False))
    g = gs[2]
    x, w, s = make(g, 3, 4, 6, 3, 5)
    s[1] = 0.0  # sample 1 has a zero style: its modulated kernel is all zeros
    cases.append(("a sample whose style is zero", x, w, s, True, 0, False))
    g = gs[3]
    x, w, s = make(g, 3, 5, 4, 3, 6)
    s = s * torch.tensor([[0.01], [1.0], [100.0]])  # styles of very different sizes per sample
    cases.append(("styles of very different sizes per sample", x, w, s, True, 1, True))
    g = gs[4]
    x, w, s = make(g, 2, 6, 3, 1, 4)
    cases.append(("1x1 kernel, more inputs than outputs", x, w, s, True, 0, True))
    g = gs[5]
    x, w, s = make(g, 1, 3, 4, 3, 5, dtype=torch.float64)
    cases.append(("a batch of one, float64", x, w, s, True, 1, True))
    g = gs[6]
    k = 3 if fixed else 2 * _randint(g, 0, 2) + 1
    x, w, s = make(g, 4, 2, 5, k, 7)
    s = s * _uniform(g, 0.5, 2.0)
    cases.append(("no padding, modulation only", x, w, s, False, 0, True))
    return [CaseInput(name, {"x": x, "weight": w, "styles": s, "demodulate": d, "padding": p}, hidden)
            for name, x, w, s, d, p, hidden in cases]


def _call_modconv(fns: Sequence[Callable[..., Any]], inputs: Mapping[str, Any]) -> Any:
    return _record(fns[0], inputs["x"], inputs["weight"], inputs["styles"], demodulate=inputs["demodulate"],
                   padding=inputs["padding"])


def _reference_modconv(inputs: Mapping[str, Any]) -> Tensor:
    return _ref_modulated_conv2d(inputs["x"], inputs["weight"], inputs["styles"], demodulate=inputs["demodulate"],
                                 padding=inputs["padding"])


def _compare_modconv(got: Any, expected: Tensor) -> str | None:
    if type(got) is Raised:
        return got.problem()
    nan = _nan_problem(got, "output", "a zero style makes sum(w'^2) = 0; the demodulation needs its epsilon")
    if nan:
        return nan
    rtol, atol = _tols(expected.dtype, (1e-4, 1e-5), (1e-9, 1e-11))
    return compare_tensors(got, expected, rtol=rtol, atol=atol, what="output")


def check_modulated_conv2d(fn: Callable[..., Tensor], *, quiet: bool = False) -> Verdict:
    r"""Check a learner's ``modulated_conv2d(x, weight, styles, demodulate=True, padding=0)`` against a
    per-sample loop (7 cases, 4 hidden)."""
    return SPECS["9.3"].check(fn, quiet=quiet)


# ----------------------------------------------------------------------------------------------------------------------
# The specs
# ----------------------------------------------------------------------------------------------------------------------
SPECS: dict[str, ExerciseSpec] = {
    "9.1": ExerciseSpec(EXERCISES["9.1"], ("pixel_norm",), _cases_pixel_norm, _call_pixel_norm,
                        _reference_pixel_norm, _compare_pixel_norm, references=(_ref_pixel_norm,),
                        forbidden_modules=("course_lib.gan.progan",), input_types={"x": Tensor},
                        weights={2: 3}, keys=(2,)),
    "9.2": ExerciseSpec(EXERCISES["9.2"], ("adain",), _cases_adain, _call_adain, _reference_adain, _compare_adain,
                        references=(_ref_adain,), forbidden_modules=("course_lib.gan.stylegan",),
                        input_types={"x": Tensor, "scale": Tensor, "bias": Tensor}, weights={2: 3}, keys=(2,)),
    "9.3": ExerciseSpec(EXERCISES["9.3"], ("modulated_conv2d",), _cases_modconv, _call_modconv, _reference_modconv,
                        _compare_modconv, references=(_ref_modulated_conv2d,),
                        forbidden_modules=("course_lib.gan.stylegan",),
                        input_types={"x": Tensor, "weight": Tensor, "styles": Tensor, "demodulate": bool,
                                     "padding": int},
                        weights={2: 3, 3: 2}, keys=(2, 3)),
}
