r"""Chapter 12 exercises: sub-pixel convolution, PSNR, class activation maps.

Three graded exercises, each an :class:`~course_lib.exercises.core.ExerciseSpec` checked on visible and hidden
cases against :mod:`course_lib.restoration`:

- **12.1** :func:`check_pixel_shuffle`: the periodic shuffle ``[B, C r^2, H, W] -> [B, C, H r, W r]`` with
  :math:`y_{c, rh+i, rw+j} = x_{c r^2 + i r + j, h, w}`, by reshapes and a permutation (``F.pixel_shuffle``'s
  layout). Key cases: several channels with :math:`r = 2` and :math:`r = 3` on non-square maps (the channel order
  ``(c, i, j)`` and the interleaving of rows and columns).
- **12.2** :func:`check_psnr`: PSNR per image, :math:`10\log_{10}(R^2/\mathrm{MSE}_b)`. Key cases: images with very
  different errors in one batch (the mean over the batch before the log is wrong) and a data range of 255.
- **12.3** :func:`check_cam_heatmap`: the class activation map of each sample's class, ReLU, divided by its maximum,
  upsampled bilinearly to the image size. Key cases: classes that are not the predicted ones (the row of
  ``class_idx``, not the argmax), a non-square output size whose ratio is not an integer (``size`` is ``(H, W)``),
  and a map with no positive value (0, not NaN). ReLU, normalisation and upsampling in the orders that the statement
  allows (ReLU before or after the upsampling, the maximum taken before or after it) all pass.

Every input is built from its own ``torch.Generator`` (:func:`~course_lib.exercises.core.case_generators`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Callable

import torch
import torch.nn.functional as F
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
)
from course_lib.restoration.cam import cam_heatmap as _ref_cam_heatmap
from course_lib.restoration.cam import class_activation_map as _ref_cam
from course_lib.restoration.metrics import psnr as _ref_psnr
from course_lib.restoration.subpixel import pixel_shuffle as _ref_pixel_shuffle

__all__ = ["EXERCISES", "SPECS", "check_pixel_shuffle", "check_psnr", "check_cam_heatmap"]

EXERCISES: dict[str, Exercise] = {
    "12.1": Exercise("12.1", "Sub-pixel convolution's periodic shuffle by reshapes", points=2, difficulty=1,
                     minutes=15),
    "12.2": Exercise("12.2", "PSNR per image", points=2, difficulty=1, minutes=10),
    "12.3": Exercise("12.3", "Class activation map as a heat map", points=3, difficulty=2, minutes=20),
}


_record = record_call  # capture, then plain (core)


# ----------------------------------------------------------------------------------------------------------------------
# 12.1 pixel shuffle
# ----------------------------------------------------------------------------------------------------------------------
def _cases_shuffle(seed: int | None = None) -> list[CaseInput]:
    gs = case_generators(seed, 6, fixed=1201)
    fixed = seed is None
    n = (lambda g, lo, hi: lo) if fixed else (lambda g, lo, hi: _randint(g, lo, hi))
    cases = []
    g = gs[0]
    cases.append(("3 channels, r = 2", torch.randn(2, 3 * 4, n(g, 3, 5), n(g, 3, 5), generator=g), 2, False))
    g = gs[1]
    c = n(g, 2, 4)
    cases.append(("r = 3 on non-square maps", torch.randn(2, c * 9, 2, n(g, 3, 5), generator=g), 3, False))
    g = gs[2]
    cases.append(("one channel", torch.randn(1, 4, n(g, 2, 4), 3, generator=g), 2, False))
    g = gs[3]
    cases.append(("r = 1 (nothing moves)", torch.randn(2, 3, 3, 4, generator=g), 1, True))
    g = gs[4]
    cases.append(("r = 4, float64", torch.randn(1, 2 * 16, n(g, 2, 3), 2, generator=g, dtype=torch.float64), 4, True))
    g = gs[5]
    cases.append(("an integer tensor", torch.randint(0, 100, (3, 2 * 4, 3, 2), generator=g), 2, True))
    return [CaseInput(name, {"x": x, "upscale": r}, hidden) for name, x, r, hidden in cases]


def _call_shuffle(fns: Sequence[Callable[..., Any]], inputs: Mapping[str, Any]) -> Any:
    return _record(fns[0], inputs["x"], inputs["upscale"])


def _reference_shuffle(inputs: Mapping[str, Any]) -> Tensor:
    return _ref_pixel_shuffle(inputs["x"], inputs["upscale"])


def _compare_shuffle(got: Any, expected: Tensor) -> str | None:
    if type(got) is Raised:
        return got.problem()
    return compare_tensors(got, expected, rtol=0.0, atol=0.0, what="shuffled tensor")


def check_pixel_shuffle(fn: Callable[[Tensor, int], Tensor], *, quiet: bool = False) -> Verdict:
    r"""Check a learner's ``pixel_shuffle(x, upscale)``: ``[B, C r^2, H, W] -> [B, C, H r, W r]``,
    :math:`y_{c, rh+i, rw+j} = x_{c r^2 + i r + j, h, w}`, exactly (6 cases, 3 hidden)."""
    return SPECS["12.1"].check(fn, quiet=quiet)


# ----------------------------------------------------------------------------------------------------------------------
# 12.2 PSNR
# ----------------------------------------------------------------------------------------------------------------------
def _noisy(g: torch.Generator, x: Tensor, sigmas: Sequence[float], high: float) -> Tensor:
    s = torch.tensor(list(sigmas), dtype=x.dtype).view(-1, 1, 1, 1) * high
    return (x + s * torch.randn(x.shape, generator=g, dtype=x.dtype)).clamp(0.0, high)


def _cases_psnr(seed: int | None = None) -> list[CaseInput]:
    gs = case_generators(seed, 6, fixed=1221)
    fixed = seed is None
    cases = []
    g = gs[0]
    x = torch.rand(3, 3, 8, 8, generator=g)
    cases.append(("three images, [0, 1]", x, _noisy(g, x, [0.05, 0.06, 0.055], 1.0), 1.0, False))
    g = gs[1]
    b = 4 if fixed else _randint(g, 3, 5)
    x = torch.rand(b, 3, 6, 7, generator=g)
    sig = [0.01 * 4.0**k for k in range(b)]  # errors of very different sizes in one batch
    cases.append(("images with very different errors", x, _noisy(g, x, sig, 1.0), 1.0, False))
    g = gs[2]
    x = torch.round(torch.rand(2, 3, 8, 6, generator=g) * 255)
    cases.append(("8-bit range, data_range = 255", x, torch.round(_noisy(g, x, [0.02, 0.1], 255.0)), 255.0, False))
    g = gs[3]
    x = torch.rand(2, 1, 9, 9, generator=g) * 2 - 1
    cases.append(("[-1, 1] images, data_range = 2", x, (x + 0.1 * torch.randn(x.shape, generator=g)).clamp(-1, 1),
                  2.0, True))
    g = gs[4]
    x = torch.rand(3, 3, 5, 5, generator=g, dtype=torch.float64)
    y = _noisy(g, x, [0.1, 0.0, 0.02], 1.0)
    cases.append(("an image equal to its reference (+inf)", x, y, 1.0, True))
    g = gs[5]
    x = torch.rand(1, 3, 10, 8, generator=g, dtype=torch.float64)
    cases.append(("a batch of one, float64", x, _noisy(g, x, [0.08], 1.0), 1.0, True))
    return [CaseInput(name, {"x": x, "y": y, "data_range": r}, hidden) for name, x, y, r, hidden in cases]


def _call_psnr(fns: Sequence[Callable[..., Any]], inputs: Mapping[str, Any]) -> Any:
    return _record(fns[0], inputs["x"], inputs["y"], data_range=inputs["data_range"])


def _reference_psnr(inputs: Mapping[str, Any]) -> Tensor:
    return _ref_psnr(inputs["x"], inputs["y"], data_range=inputs["data_range"]).double()


def _compare_psnr(got: Any, expected: Tensor) -> str | None:
    if type(got) is Raised:
        return got.problem()
    if type(got) is torch.Tensor and got.dim() == 0 and expected.numel() > 1:
        return f"the PSNR should be one value per image, shape {tuple(expected.shape)}, got a scalar"
    if type(got) is torch.Tensor and not got.is_floating_point():
        return f"the PSNR should be a floating-point tensor, got {got.dtype}"
    # float32 or float64 both fine; 1e-4 dB is far below any difference that matters
    return compare_tensors(got, expected, rtol=1e-6, atol=1e-4, check_dtype=False, what="PSNR (dB)")


def check_psnr(fn: Callable[..., Tensor], *, quiet: bool = False) -> Verdict:
    r"""Check a learner's ``psnr(x, y, data_range=1.0)``: ``[B]`` values :math:`10\log_{10}(R^2/\mathrm{MSE}_b)`,
    ``+inf`` for an image equal to its reference (6 cases, 3 hidden)."""
    return SPECS["12.2"].check(fn, quiet=quiet)


# ----------------------------------------------------------------------------------------------------------------------
# 12.3 CAM heat map
# ----------------------------------------------------------------------------------------------------------------------
def _not_argmax(g: torch.Generator, f: Tensor, w: Tensor) -> Tensor:
    """For each sample a class that is not the one its GAP + linear head predicts."""
    pred = (f.mean(dim=(2, 3)) @ w.T).argmax(dim=1)
    shift = torch.randint(1, w.shape[0], (f.shape[0],), generator=g)
    return (pred + shift) % w.shape[0]


def _cases_cam(seed: int | None = None) -> list[CaseInput]:
    gs = case_generators(seed, 6, fixed=1231)
    fixed = seed is None
    cases = []
    g = gs[0]
    f = torch.randn(2, 4, 4, 4, generator=g)
    w = torch.randn(3, 4, generator=g)
    cases.append(("4x4 maps to 16x16", f, w, torch.tensor([2, 0]), (16, 16), False))
    g = gs[1]
    b, k, c = (3, 5, 6) if fixed else (_randint(g, 2, 4), _randint(g, 4, 6), _randint(g, 6, 8))
    f = torch.randn(b, k, 3, 3, generator=g)
    w = torch.randn(c, k, generator=g)
    cases.append(("classes other than the predicted ones", f, w, _not_argmax(g, f, w), (12, 12), False))
    g = gs[2]
    f = torch.randn(2, 4, 3, 2, generator=g)
    w = torch.randn(5, 4, generator=g)
    size = (20, 14) if fixed else (_randint(g, 4, 8) * 3 + 1, _randint(g, 5, 9) * 2 + 1)
    if size[0] == size[1]:  # keep it non-square (and W / w not an integer)
        size = (size[0], size[1] + 2)
    cases.append(("non-square size, not an integer multiple", f, w, torch.tensor([4, 1]), size, False))
    g = gs[3]
    f = torch.rand(2, 3, 4, 4, generator=g)  # non-negative features (after a ReLU)
    w = torch.randn(2, 3, generator=g)
    w[1] = -w[1].abs() - 0.1  # class 1: every weight negative, so its map has no positive value
    cases.append(("a map with no positive value", f, w, torch.tensor([1, 0]), (8, 8), False))
    g = gs[4]
    f = torch.randn(2, 6, 5, 5, generator=g, dtype=torch.float64)
    w = torch.randn(4, 6, generator=g, dtype=torch.float64)
    cases.append(("float64", f, w, torch.tensor([3, 3]), (15, 15), True))
    g = gs[5]
    f = torch.randn(1, 1, 2, 3, generator=g).abs() + 0.1
    w = torch.tensor([[0.7], [-0.3]])
    cases.append(("one channel, one sample", f, w, torch.tensor([0]), (4, 6), True))
    return [CaseInput(name, {"features": f, "fc_weight": w, "class_idx": ci, "size": s}, hidden)
            for name, f, w, ci, s, hidden in cases]


def _call_cam(fns: Sequence[Callable[..., Any]], inputs: Mapping[str, Any]) -> Any:
    return _record(fns[0], inputs["features"], inputs["fc_weight"], inputs["class_idx"], inputs["size"])


def _by_max(m: Tensor) -> Tensor:
    peak = m.flatten(1).amax(dim=1).view(-1, 1, 1)
    return torch.where(peak > 0, m / torch.where(peak > 0, peak, torch.ones_like(peak)), torch.zeros_like(m))


def _up(m: Tensor, size: tuple[int, int]) -> Tensor:
    return F.interpolate(m.unsqueeze(1), size=size, mode="bilinear", align_corners=False).squeeze(1)


def _reference_cam(inputs: Mapping[str, Any]) -> tuple[Tensor, ...]:
    """The statement's order (ReLU, max, upsample) first, then the two other orders it allows."""
    raw = _ref_cam(inputs["features"], inputs["fc_weight"], inputs["class_idx"])
    size = tuple(inputs["size"])
    main = _ref_cam_heatmap(inputs["features"], inputs["fc_weight"], inputs["class_idx"], size)
    relu_up_max = _by_max(_up(F.relu(raw), size))
    up_relu_max = _by_max(F.relu(_up(raw, size)))
    return main, relu_up_max, up_relu_max


def _compare_cam(got: Any, expected: tuple[Tensor, ...]) -> str | None:
    if type(got) is Raised:
        return got.problem()
    if type(got) is torch.Tensor and got.is_floating_point() and bool(torch.isnan(got).any()):
        return "the heat map contains NaN: a map with no positive value has maximum 0; it should stay 0"
    first = None
    for option in expected:
        problem = compare_tensors(got, option, rtol=1e-4, atol=1e-5, what="heat map")
        if problem is None:
            return None
        first = first or problem
    return first


def check_cam_heatmap(fn: Callable[..., Tensor], *, quiet: bool = False) -> Verdict:
    r"""Check a learner's ``cam_heatmap(features, fc_weight, class_idx, size)``: per sample the map
    :math:`\sum_k w_{c_b,k} f_{b,k}`, ReLU, divided by its maximum (0 stays 0), bilinearly upsampled to
    ``size = (H, W)`` (6 cases, 2 hidden)."""
    return SPECS["12.3"].check(fn, quiet=quiet)


# ----------------------------------------------------------------------------------------------------------------------
# The specs
# ----------------------------------------------------------------------------------------------------------------------
SPECS: dict[str, ExerciseSpec] = {
    "12.1": ExerciseSpec(EXERCISES["12.1"], ("pixel_shuffle",), _cases_shuffle, _call_shuffle, _reference_shuffle,
                         _compare_shuffle, references=(_ref_pixel_shuffle,),
                         forbidden_modules=("course_lib.restoration.subpixel",),
                         input_types={"x": Tensor, "upscale": int}, weights={0: 2, 1: 2}, keys=(0, 1)),
    "12.2": ExerciseSpec(EXERCISES["12.2"], ("psnr",), _cases_psnr, _call_psnr, _reference_psnr, _compare_psnr,
                         references=(_ref_psnr,), forbidden_modules=("course_lib.restoration.metrics",),
                         input_types={"x": Tensor, "y": Tensor, "data_range": float}, weights={1: 2, 2: 2},
                         keys=(1, 2)),
    "12.3": ExerciseSpec(EXERCISES["12.3"], ("cam_heatmap",), _cases_cam, _call_cam, _reference_cam, _compare_cam,
                         references=(_ref_cam_heatmap, _ref_cam), forbidden_modules=("course_lib.restoration.cam",),
                         input_types={"features": Tensor, "fc_weight": Tensor, "class_idx": Tensor, "size": tuple},
                         weights={1: 2, 2: 2, 3: 2}, keys=(1, 2, 3)),
}
