r"""Chapter 10 exercises: pix2pix.

Three graded exercises, each a declarative :class:`~course_lib.exercises.core.ExerciseSpec` checked on visible and
hidden cases against :mod:`course_lib.translation.pix2pix`:

- **10.1** :func:`check_receptive_field`: ``receptive_field(layers)`` of a chain of convolutions given as
  ``[(kernel, stride), ...]`` from the input to the output, by the recursion :math:`r_{l-1} = s_l (r_l - 1) + k_l`
  from :math:`r_L = 1`. Key case: the pix2pix PatchGAN (``n_layers=3``: three stride-2 and two stride-1 4x4
  convolutions). Ignoring the strides, multiplying in the wrong order or adding :math:`k` instead of :math:`k - 1`
  give other numbers.
- **10.2** :func:`check_unet_skip`: the U-Net's skip block ``skip_block(x, down, inner, up)`` returns
  ``cat([x, up(inner(down(x)))], dim=1)`` (the skip first), and ``decoder_widths(num_downs, base_channels,
  out_channels)`` lists the ``(in, out)`` channels of the transposed convolutions from the innermost level out:
  every level but the innermost receives the concatenation, twice its inner width. Key cases: the concatenation
  order and the doubled widths of the 256 x 256 U-Net.
- **10.3** :func:`check_pix2pix_losses`: ``generator_loss(D, a, fake, b, lambda_l1=100.0)`` and
  ``discriminator_loss(D, a, fake, b)``: D judges ``cat([a, y], dim=1)``, the generator is scored on D's logits
  for ``(a, fake)`` with the non-saturating loss plus :math:`\lambda` times the mean absolute error, and D's loss is
  halved. Key cases: ``lambda`` on the L1 term (not on the GAN term) and the halved D loss.

D is given as a callable built, inside the check, from plain-tensor weights of each case (a small PatchGAN), so that
every case stays plain data for the grader. Messages say what is wrong without printing the answer.
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
    scalar_problem,
    type_name,
)
from course_lib.translation.pix2pix import receptive_field as _ref_receptive_field

__all__ = ["EXERCISES", "SPECS", "check_receptive_field", "check_unet_skip", "check_pix2pix_losses",
           "reference_skip_block", "reference_decoder_widths", "reference_generator_loss",
           "reference_discriminator_loss", "make_patch_critic"]

EXERCISES: dict[str, Exercise] = {
    "10.1": Exercise("10.1", "The receptive field of a PatchGAN", points=2, difficulty=1, minutes=10),
    "10.2": Exercise("10.2", "The U-Net skip block and its widths", points=3, difficulty=2, minutes=15),
    "10.3": Exercise("10.3", "The pix2pix losses", points=3, difficulty=2, minutes=20),
}


_record = record_call  # capture, then plain (core)


# ----------------------------------------------------------------------------------------------------------------------
# 10.1 receptive field
# ----------------------------------------------------------------------------------------------------------------------
def _patchgan_layers(n_layers: int) -> list[tuple[int, int]]:
    return [(4, 2)] * n_layers + [(4, 1), (4, 1)]


def _cases_receptive_field(seed: int | None = None) -> list[CaseInput]:
    gs = case_generators(seed, 7, fixed=1001)
    fixed = seed is None
    cases = []
    cases.append(CaseInput("one 3x3 convolution, stride 1", {"layers": [(3, 1)]}))
    g = gs[1]
    n = 3 if fixed else _randint(g, 2, 5)
    cases.append(CaseInput(f"{n} stride-1 3x3 convolutions (VGG-like)", {"layers": [(3, 1)] * n}))
    cases.append(CaseInput("the pix2pix PatchGAN (n_layers = 3)", {"layers": _patchgan_layers(3)}, weight=3, key=True))
    cases.append(CaseInput("a PatchGAN with n_layers = 1", {"layers": _patchgan_layers(1)}))
    g = gs[4]
    mixed = [(7, 2), (3, 2), (3, 1), (1, 1)] if fixed else \
        [(2 * _randint(g, 0, 3) + 1, _randint(g, 1, 3)) for _ in range(_randint(g, 3, 6))]
    cases.append(CaseInput("mixed kernels and strides", {"layers": mixed}, hidden=True))
    cases.append(CaseInput("a PatchGAN with n_layers = 5", {"layers": _patchgan_layers(5)}, hidden=True))
    g = gs[6]
    k = 5 if fixed else 2 * _randint(g, 1, 4) + 1
    cases.append(CaseInput("a strided 1x1 then a kxk", {"layers": [(1, 2), (1, 2), (k, 1)]}, hidden=True))
    return cases


def _call_receptive_field(fns: Sequence[Callable[..., Any]], inputs: Mapping[str, Any]) -> Any:
    return _record(fns[0], [tuple(p) for p in inputs["layers"]])


def _reference_receptive_field(inputs: Mapping[str, Any]) -> int:
    return _ref_receptive_field([tuple(p) for p in inputs["layers"]])


def _compare_receptive_field(got: Any, expected: int) -> str | None:
    if type(got) is Raised:
        return got.problem()
    if type(got) is torch.Tensor and got.numel() == 1 and not got.is_floating_point() and got.dtype != torch.bool:
        got = int(torch.Tensor.item(got))
    if type(got) is float and got.is_integer():
        got = int(got)
    if type(got) is not int:
        return f"the receptive field should be an int (pixels), got {type_name(got)}"
    if got != expected:
        return (f"the receptive field is {got} pixels, which is wrong: go back from one output unit, "
                "r <- stride * (r - 1) + kernel, from the last layer to the first")
    return None


def check_receptive_field(fn: Callable[[list[tuple[int, int]]], int], *, quiet: bool = False) -> Verdict:
    r"""Check a learner's ``receptive_field(layers)`` (``layers``: ``(kernel, stride)`` pairs from the input to the
    output; returns the side in input pixels of what one output unit sees) (7 cases, 3 hidden)."""
    return SPECS["10.1"].check(fn, quiet=quiet)


# ----------------------------------------------------------------------------------------------------------------------
# 10.2 the skip block and the decoder widths
# ----------------------------------------------------------------------------------------------------------------------
def reference_skip_block(x: Tensor, down: Callable[[Tensor], Tensor], inner: Callable[[Tensor], Tensor],
                         up: Callable[[Tensor], Tensor]) -> Tensor:
    """``cat([x, up(inner(down(x)))], dim=1)``: the skip (the block's input) first, then the decoder's output."""
    return torch.cat([x, up(inner(down(x)))], dim=1)


def reference_decoder_widths(num_downs: int, base_channels: int, out_channels: int) -> list[tuple[int, int]]:
    """``(in, out)`` channels of the U-Net's transposed convolutions from the innermost level to the outermost."""
    widths = [min(2 ** k, 8) * base_channels for k in range(num_downs)]
    out = []
    for k in reversed(range(num_downs)):
        inner = widths[k]
        outer = out_channels if k == 0 else widths[k - 1]
        out.append((inner if k == num_downs - 1 else 2 * inner, outer))
    return out


def _block_fns(inputs: Mapping[str, Any]) -> tuple[Callable, Callable, Callable]:
    w_down, w_up = inputs["w_down"], inputs["w_up"]

    def down(t: Tensor) -> Tensor:
        return F.conv2d(F.leaky_relu(t, 0.2), w_down, stride=2, padding=1)

    def inner(t: Tensor) -> Tensor:           # an inner level returns its input and its own output: 2x channels
        return torch.cat([t, torch.tanh(t)], dim=1)

    def up(t: Tensor) -> Tensor:
        return F.conv_transpose2d(F.relu(t), w_up, stride=2, padding=1)

    return down, inner, up


def _cases_unet(seed: int | None = None) -> list[CaseInput]:
    gs = case_generators(seed, 6, fixed=1021)
    fixed = seed is None
    cases = []

    def block(g: torch.Generator, n: int, outer: int, inner: int, side: int, dtype=torch.float32) -> dict[str, Any]:
        return {"kind": "block", "x": torch.randn(n, outer, side, side, generator=g, dtype=dtype),
                "w_down": torch.randn(inner, outer, 4, 4, generator=g, dtype=dtype) * 0.3,
                "w_up": torch.randn(2 * inner, outer, 4, 4, generator=g, dtype=dtype) * 0.3}

    g = gs[0]
    cases.append(CaseInput("a skip block (outer 3, inner 5)", block(g, 2, 3, 5, 8), weight=3, key=True))
    g = gs[1]
    o, i = (4, 4) if fixed else (_randint(g, 2, 5), _randint(g, 2, 6))
    cases.append(CaseInput("a skip block, non-square batch", block(g, 3, o, i, 16)))
    cases.append(CaseInput("the widths of the 256x256 U-Net (num_downs 8, 64, RGB)",
                           {"kind": "widths", "num_downs": 8, "base_channels": 64, "out_channels": 3},
                           weight=3, key=True))
    g = gs[3]
    c = 16 if fixed else 4 * _randint(g, 1, 8)
    cases.append(CaseInput("the widths of a small U-Net (num_downs 4)",
                           {"kind": "widths", "num_downs": 4, "base_channels": c, "out_channels": 1}))
    g = gs[4]
    cases.append(CaseInput("a skip block in float64", block(g, 1, 2, 3, 4, torch.float64), hidden=True))
    g = gs[5]
    n = 6 if fixed else _randint(g, 5, 9)
    cases.append(CaseInput("the widths of a deep U-Net (capped at 8 x base)",
                           {"kind": "widths", "num_downs": n, "base_channels": 8, "out_channels": 2}, hidden=True))
    return cases


def _call_unet(fns: Sequence[Callable[..., Any]], inputs: Mapping[str, Any]) -> Any:
    if inputs["kind"] == "block":
        down, inner, up = _block_fns(inputs)
        return _record(fns[0], inputs["x"], down, inner, up)
    out = capture(fns[1], inputs["num_downs"], inputs["base_channels"], inputs["out_channels"])
    if type(out) is Raised:
        return out
    if isinstance(out, (list, tuple)) and all(isinstance(p, (list, tuple)) for p in out):
        return [tuple(plain(v) for v in p) for p in out]
    return plain(out)


def _reference_unet(inputs: Mapping[str, Any]) -> Any:
    if inputs["kind"] == "block":
        return reference_skip_block(inputs["x"], *_block_fns(inputs))
    return reference_decoder_widths(inputs["num_downs"], inputs["base_channels"], inputs["out_channels"])


def _compare_unet(got: Any, expected: Any) -> str | None:
    if type(got) is Raised:
        return got.problem()
    if type(expected) is torch.Tensor:
        problem = compare_tensors(got, expected, rtol=1e-5, atol=1e-6 if expected.dtype == torch.float32 else 1e-12,
                                  what="block output")
        if problem and type(got) is torch.Tensor and got.shape == expected.shape:
            problem += " (which comes first in the concatenation, and along which dimension?)"
        return problem
    if type(got) is not list or not all(type(p) is tuple and len(p) == 2 for p in got):
        return f"decoder_widths should return a list of (in, out) pairs, got {type_name(got)}"
    if len(got) != len(expected):
        return f"decoder_widths should list {len(expected)} transposed convolutions (one per level), got {len(got)}"
    for k, (g, e) in enumerate(zip(got, expected)):
        if g != e:
            return (f"level {k} from the innermost: got (in, out) = {g}, which is wrong (what does that level "
                    "receive from the level below it?)")
    return None


def check_unet_skip(skip_block: Callable[..., Tensor], decoder_widths: Callable[[int, int, int], list],
                    *, quiet: bool = False) -> Verdict:
    """Check a learner's ``skip_block(x, down, inner, up)`` and ``decoder_widths(num_downs, base_channels,
    out_channels)`` (6 cases, 2 hidden)."""
    return SPECS["10.2"].check(skip_block, decoder_widths, quiet=quiet)


# ----------------------------------------------------------------------------------------------------------------------
# 10.3 the pix2pix losses
# ----------------------------------------------------------------------------------------------------------------------
def make_patch_critic(weights: Sequence[Tensor]) -> Callable[[Tensor], Tensor]:
    """A small PatchGAN from plain weights ``[w1, b1, w2, b2]``: 4x4 stride-2 convolution, LeakyReLU 0.2, 4x4
    stride-1 convolution to one logit per patch (padding 1). Returns ``D(x) -> (N, 1, H', W')``."""
    w1, b1, w2, b2 = weights

    def D(x: Tensor) -> Tensor:
        h = F.leaky_relu(F.conv2d(x, w1, b1, stride=2, padding=1), 0.2)
        return F.conv2d(h, w2, b2, stride=1, padding=1)

    return D


def reference_generator_loss(D: Callable[[Tensor], Tensor], a: Tensor, fake: Tensor, b: Tensor,
                             lambda_l1: float = 100.0) -> Tensor:
    r""":math:`\operatorname{mean}\,\mathrm{softplus}(-D(\mathrm{cat}[a, G(a)])) +
    \lambda\,\operatorname{mean}|G(a) - b|`."""
    return F.softplus(-D(torch.cat([a, fake], 1))).mean() + lambda_l1 * (fake - b).abs().mean()


def reference_discriminator_loss(D: Callable[[Tensor], Tensor], a: Tensor, fake: Tensor, b: Tensor) -> Tensor:
    r""":math:`\tfrac12[\operatorname{mean}\,\mathrm{softplus}(-D(a, b)) + \operatorname{mean}\,\mathrm{softplus}(D(a,
    G(a)))]`."""
    return 0.5 * (F.softplus(-D(torch.cat([a, b], 1))).mean() + F.softplus(D(torch.cat([a, fake], 1))).mean())


def _cases_losses(seed: int | None = None) -> list[CaseInput]:
    gs = case_generators(seed, 6, fixed=1041)
    fixed = seed is None
    cases = []

    def make(g: torch.Generator, n: int, ca: int, cb: int, side: int, *, lam: float, which: str,
             scale: float = 1.0, dtype=torch.float32) -> dict[str, Any]:
        width = 4
        weights = [torch.randn(width, ca + cb, 4, 4, generator=g, dtype=dtype) * 0.2,
                   torch.randn(width, generator=g, dtype=dtype) * 0.1,
                   torch.randn(1, width, 4, 4, generator=g, dtype=dtype) * 0.2 * scale,
                   torch.randn(1, generator=g, dtype=dtype) * 0.1]
        b = torch.rand(n, cb, side, side, generator=g, dtype=dtype) * 2 - 1
        return {"which": which, "a": torch.rand(n, ca, side, side, generator=g, dtype=dtype) * 2 - 1,
                "fake": (b + 0.3 * torch.randn(n, cb, side, side, generator=g, dtype=dtype)).clamp(-1, 1),
                "b": b, "weights": weights, "lambda_l1": lam}

    g = gs[0]
    cases.append(CaseInput("generator loss, lambda = 100", make(g, 2, 1, 3, 8, lam=100.0, which="g"),
                           weight=3, key=True))
    g = gs[1]
    cases.append(CaseInput("discriminator loss", make(g, 2, 1, 3, 8, lam=100.0, which="d"), weight=3, key=True))
    g = gs[2]
    lam = 10.0 if fixed else float(_randint(g, 2, 50))
    cases.append(CaseInput("generator loss, another lambda", make(g, 3, 3, 3, 12, lam=lam, which="g")))
    g = gs[3]
    cases.append(CaseInput("generator loss, lambda = 0 (cGAN only)", make(g, 2, 3, 3, 8, lam=0.0, which="g")))
    g = gs[4]
    cases.append(CaseInput("discriminator loss with confident logits", make(g, 2, 1, 3, 8, lam=100.0, which="d",
                                                                             scale=60.0), hidden=True))
    g = gs[5]
    cases.append(CaseInput("generator loss in float64", make(g, 1, 2, 3, 8, lam=100.0, which="g",
                                                          dtype=torch.float64), hidden=True))
    return cases


def _call_losses(fns: Sequence[Callable[..., Any]], inputs: Mapping[str, Any]) -> Any:
    D = make_patch_critic(inputs["weights"])
    if inputs["which"] == "g":
        return _record(fns[0], D, inputs["a"], inputs["fake"], inputs["b"], lambda_l1=inputs["lambda_l1"])
    return _record(fns[1], D, inputs["a"], inputs["fake"], inputs["b"])


def _reference_losses(inputs: Mapping[str, Any]) -> Tensor:
    D = make_patch_critic(inputs["weights"])
    with torch.no_grad():
        if inputs["which"] == "g":
            return reference_generator_loss(D, inputs["a"], inputs["fake"], inputs["b"], inputs["lambda_l1"])
        return reference_discriminator_loss(D, inputs["a"], inputs["fake"], inputs["b"])


def _compare_losses(got: Any, expected: Tensor) -> str | None:
    rtol, atol = (1e-5, 1e-6) if expected.dtype == torch.float32 else (1e-10, 1e-12)
    return scalar_problem(got, float(expected), what="loss", rtol=rtol, atol=atol, dtype=expected.dtype,
                          nan_hint=" (use softplus on the logits, not log of a sigmoid)")


def check_pix2pix_losses(generator_loss: Callable[..., Tensor], discriminator_loss: Callable[..., Tensor],
                         *, quiet: bool = False) -> Verdict:
    """Check a learner's ``generator_loss(D, a, fake, b, lambda_l1=100.0)`` and ``discriminator_loss(D, a, fake,
    b)`` (6 cases, 2 hidden)."""
    return SPECS["10.3"].check(generator_loss, discriminator_loss, quiet=quiet)


# ----------------------------------------------------------------------------------------------------------------------
# The specs
# ----------------------------------------------------------------------------------------------------------------------
def _validate_layers(inputs: Mapping[str, Any]) -> None:
    layers = inputs.get("layers") if isinstance(inputs, Mapping) else None
    if type(layers) is not list or not layers:
        raise ValueError("a case needs 'layers', a non-empty list of (kernel, stride) pairs.")
    _ref_receptive_field([tuple(p) for p in layers])


def _validate_unet(inputs: Mapping[str, Any]) -> None:
    if not isinstance(inputs, Mapping) or inputs.get("kind") not in ("block", "widths"):
        raise ValueError("a case needs kind 'block' or 'widths'.")
    try:
        _reference_unet(inputs)
    except (TypeError, ValueError, KeyError, RuntimeError) as err:
        raise ValueError(f"the reference rejects this case: {err}") from err


def _validate_losses(inputs: Mapping[str, Any]) -> None:
    if not isinstance(inputs, Mapping) or inputs.get("which") not in ("g", "d"):
        raise ValueError("a case needs which 'g' or 'd'.")
    try:
        _reference_losses(inputs)
    except (TypeError, ValueError, KeyError, RuntimeError) as err:
        raise ValueError(f"the reference rejects this case: {err}") from err


SPECS: dict[str, ExerciseSpec] = {
    "10.1": ExerciseSpec(EXERCISES["10.1"], ("receptive_field",), _cases_receptive_field, _call_receptive_field,
                         _reference_receptive_field, _compare_receptive_field,
                         references=(_ref_receptive_field,),
                         forbidden_modules=("course_lib.translation.pix2pix",), validate=_validate_layers,
                         keys=(2,)),
    "10.2": ExerciseSpec(EXERCISES["10.2"], ("skip_block", "decoder_widths"), _cases_unet, _call_unet,
                         _reference_unet, _compare_unet, references=(reference_skip_block, reference_decoder_widths),
                         forbidden_modules=("course_lib.translation.pix2pix",), validate=_validate_unet,
                         keys=(0, 2)),
    "10.3": ExerciseSpec(EXERCISES["10.3"], ("generator_loss", "discriminator_loss"), _cases_losses, _call_losses,
                         _reference_losses, _compare_losses,
                         references=(reference_generator_loss, reference_discriminator_loss),
                         forbidden_modules=("course_lib.translation.pix2pix",), validate=_validate_losses,
                         keys=(0, 1)),
}
