"""Chapter 4 exercises: DCGAN (Radford, Metz and Chintala, ICLR 2016).

Three graded exercises, each checked on visible and hidden cases with the declarative checks of
:mod:`course_lib.exercises.core` (:class:`~course_lib.exercises.core.ExerciseSpec`):

- **4.1** :func:`check_conv_transpose_output_size`: the output size of ``nn.ConvTranspose2d`` along one dimension,
  :math:`o = (n - 1)s - 2p + k + \\text{output\\_padding}`. Reference:
  :func:`course_lib.gan.conv_arithmetic.conv_transpose_output_size`.
- **4.2** :func:`check_fractionally_strided_conv`: a transposed convolution computed as an ordinary convolution
  over a zero-stuffed, padded input with the flipped kernel. Reference:
  :func:`course_lib.gan.conv_arithmetic.fractionally_strided_conv` (itself tested against ``F.conv_transpose2d``).
  The check runs the learner's function with every route to a transposed convolution refused at the operator level
  (``F.conv_transpose2d``, ``nn.ConvTranspose2d``, ``torch.convolution(..., transposed=True)``,
  ``torch.nn.grad.conv2d_input`` and any other gradient of a convolution), so that calling one does not pass.
- **4.3** :func:`check_slerp`: spherical linear interpolation between latent codes,
  :math:`\\frac{\\sin((1-t)\\omega)}{\\sin\\omega} z_0 + \\frac{\\sin(t\\omega)}{\\sin\\omega} z_1`, with the
  straight line where the angle vanishes. Reference: :func:`course_lib.gan.latent.slerp`.

Every input is built from its own ``torch.Generator``; messages say what is wrong (a type, a shape, the first wrong
value, which parameters) without printing the expected answer. ``make_cases(None)`` gives the notebook's fixed cases,
an ``int`` seed fresh cases of the same kinds (the grader's).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Mapping, Sequence
from typing import Any, Callable, Iterator

import torch
from torch import Tensor
from torch.utils._python_dispatch import TorchDispatchMode

from course_lib.exercises.core import CaseInput, Exercise, ExerciseSpec, Raised, Verdict, capture, compare_tensors
from course_lib.exercises.core import gen as _gen, plain, randint as _randint, sub_seed as _sub_seed
from course_lib.exercises.core import uniform as _uniform
from course_lib.exercises.core import require_inputs as _require, type_name as _type_name
from course_lib.gan.conv_arithmetic import conv_transpose_output_size as _ref_output_size
from course_lib.gan.conv_arithmetic import fractionally_strided_conv as _ref_fractional
from course_lib.gan.latent import slerp as _ref_slerp

__all__ = [
    "EXERCISES",
    "SPECS",
    "check_conv_transpose_output_size",
    "check_slerp",
    "check_fractionally_strided_conv",
]

EXERCISES: dict[str, Exercise] = {
    "4.1": Exercise("4.1", "The output size of a transposed convolution", points=2, difficulty=1, minutes=10),
    "4.2": Exercise("4.2", "A transposed convolution as a fractionally-strided one", points=4, difficulty=3,
                    minutes=30),
    "4.3": Exercise("4.3", "Spherical interpolation (slerp)", points=3, difficulty=2, minutes=20),
}


# ----------------------------------------------------------------------------------------------------------------------
# Exercise 4.1: the output size of ConvTranspose2d
# ----------------------------------------------------------------------------------------------------------------------
_SIZE_KEYS = ("n", "k", "s", "p", "output_padding")


def _size_case(name: str, settings: list[tuple[int, int, int, int, int]], hidden: bool) -> CaseInput:
    return CaseInput(name, {"settings": [dict(zip(_SIZE_KEYS, row)) for row in settings]}, hidden)


def _cases_output_size(seed: int | None = None) -> list[CaseInput]:
    """Every case of exercise 4.1: lists of (n, k, s, p, output_padding) settings."""
    if seed is None:
        return [
            # DCGAN's generator: project 1x1 -> 4x4 (k = 4, s = 1, p = 0), then double (k = 4, s = 2, p = 1).
            _size_case("DCGAN's 64x64 generator, layer by layer",
                       [(1, 4, 1, 0, 0), (4, 4, 2, 1, 0), (8, 4, 2, 1, 0), (16, 4, 2, 1, 0), (32, 4, 2, 1, 0)], False),
            _size_case("the 28x28 MNIST generator (7x7 projection)", [(1, 7, 1, 0, 0), (7, 4, 2, 1, 0),
                                                                      (14, 4, 2, 1, 0)], False),
            _size_case("stride 1 (no zeros inserted)", [(5, 3, 1, 0, 0), (5, 3, 1, 1, 0), (10, 5, 1, 2, 0)], True),
            _size_case("kernel 3, stride 2, with and without output_padding",
                       [(7, 3, 2, 1, 0), (7, 3, 2, 1, 1), (16, 3, 2, 1, 1)], True),
            _size_case("stride 3 and 4", [(5, 3, 3, 0, 0), (6, 4, 4, 0, 2), (9, 5, 3, 1, 2)], True),
            _size_case("padding larger than the kernel", [(10, 2, 2, 3, 0), (6, 3, 1, 2, 0), (4, 1, 5, 4, 0)], True),
        ]
    cases = []
    names = ["DCGAN-like layers (kernel 4, stride 2, padding 1)", "projections from 1x1 (stride 1, padding 0)",
             "stride 1 (no zeros inserted)", "kernel 3, stride 2, with and without output_padding",
             "stride 3 and 4", "padding larger than the kernel"]
    for j, name in enumerate(names):
        g = _gen(_sub_seed(seed, j))
        rows = []
        while len(rows) < 3:
            if j == 0:
                row = (_randint(g, 1, 64), 4, 2, 1, 0)
            elif j == 1:
                row = (1, _randint(g, 2, 8), 1, 0, 0)
            elif j == 2:
                k = _randint(g, 1, 7)
                row = (_randint(g, 1, 20), k, 1, _randint(g, 0, k - 1), 0)
            elif j == 3:
                row = (_randint(g, 1, 32), 3, 2, 1, _randint(g, 0, 1))
            elif j == 4:
                s = _randint(g, 3, 4)
                row = (_randint(g, 1, 12), _randint(g, 1, 6), s, _randint(g, 0, 2), _randint(g, 0, s - 1))
            else:
                k = _randint(g, 1, 4)
                row = (_randint(g, 3, 12), k, _randint(g, 1, 4), _randint(g, k, k + 3), 0)
                row = (*row[:4], _randint(g, 0, row[2] - 1))
            try:
                _ref_output_size(*row)
            except ValueError:  # the padding removes the whole output: not a valid setting, draw again
                continue
            rows.append(row)
        cases.append(_size_case(name, rows, j >= 2))
    return cases


def _call_output_size(fns: Sequence[Callable[..., Any]], inputs: Mapping[str, Any]) -> list[Any]:
    (fn,) = fns
    records = []
    for setting in inputs["settings"]:
        got = capture(fn, setting["n"], setting["k"], setting["s"], setting["p"], setting["output_padding"])
        records.append(plain(got))
        if type(got) is Raised:
            break
    return records


def _reference_output_size(inputs: Mapping[str, Any]) -> list[dict[str, int]]:
    return [{**s, "o": _ref_output_size(s["n"], s["k"], s["s"], s["p"], s["output_padding"])}
            for s in inputs["settings"]]


def _compare_output_size(records: Sequence[Any], expected: Sequence[Mapping[str, int]]) -> str | None:
    for got, exp in zip(records, expected):
        where = ", ".join(f"{key}={exp[key]}" for key in _SIZE_KEYS)
        if type(got) is Raised:
            return f"for {where}: " + got.problem()
        if type(got) is not int:  # bool, float, tensors and look-alikes are refused
            return f"for {where}: the size should be a Python int, got {_type_name(got)}"
        if got != exp["o"]:
            return f"for {where}: got {got}, which is not the size nn.ConvTranspose2d returns"
    if len(records) < len(expected):
        return "the check stopped before every setting had run"
    return None


def _validate_output_size(inputs: Mapping[str, Any]) -> None:
    _require(inputs, {"settings": (list, tuple)})
    if not inputs["settings"]:
        raise ValueError("a case of exercise 4.1 needs at least one setting.")
    for setting in inputs["settings"]:
        _require(setting, {key: int for key in _SIZE_KEYS})
        try:
            _ref_output_size(*(setting[key] for key in _SIZE_KEYS))
        except (TypeError, ValueError) as err:
            raise ValueError(f"the reference rejects the setting {setting}: {err}") from err


def check_conv_transpose_output_size(fn: Callable[[int, int, int, int, int], int], *, quiet: bool = False) -> Verdict:
    """Check a learner's ``conv_transpose_output_size(n, k, s, p, output_padding) -> int``, 6 cases (4 hidden).

    Expected: :math:`(n - 1)s - 2p + k + \\text{output\\_padding}`, a Python ``int``, for 3-5 settings per case
    (DCGAN's layers, stride 1, kernel 3 with ``output_padding``, strides 3 and 4, padding larger than the kernel).
    Compared exactly with :func:`course_lib.gan.conv_arithmetic.conv_transpose_output_size`.
    """
    return SPECS["4.1"].check(fn, quiet=quiet)


# ----------------------------------------------------------------------------------------------------------------------
# Exercise 4.3: slerp
# ----------------------------------------------------------------------------------------------------------------------
def _cases_slerp(seed: int | None = None) -> list[CaseInput]:
    """Every case of exercise 4.3 (z0, z1, t)."""
    gs = [_gen(_sub_seed(seed, k) if seed is not None else 40 + k) for k in range(7)]
    fixed = seed is None
    t = [0.5, 0.3, 0.0, 0.7, 0.25, 0.6, 0.8] if fixed else [_uniform(g, 0.05, 0.95) for g in gs]
    d = [2, 100, 64, 32, 16, 100, 50] if fixed else [2] + [_randint(g, 8, 128) for g in gs[1:]]
    cases: list[tuple[str, Tensor, Tensor, float, bool]] = []
    # Two orthogonal unit vectors in the plane: the midpoint is (cos 45, sin 45), on the unit circle.
    angle = 0.0 if fixed else _uniform(gs[0], 0.0, 2 * math.pi)
    u = torch.tensor([math.cos(angle), math.sin(angle)])
    v = torch.tensor([-math.sin(angle), math.cos(angle)])
    cases.append(("two orthogonal unit vectors in the plane", u, v, t[0], False))
    cases.append(("two codes z ~ N(0, I) in 100 dimensions" if fixed else "two codes z ~ N(0, I)",
                  torch.randn(d[1], generator=gs[1]), torch.randn(d[1], generator=gs[1]), t[1], False))
    # The endpoints: t = 0 gives z0 and t = 1 gives z1.
    cases.append(("an endpoint (t = 0 gives z0, t = 1 gives z1)", torch.randn(d[2], generator=gs[2]),
                  torch.randn(d[2], generator=gs[2]), 0.0 if fixed else float(_randint(gs[2], 0, 1)), True))
    # A batch: each row is its own pair with its own angle.
    rows = 5 if fixed else _randint(gs[3], 2, 8)
    cases.append(("a batch of pairs, shape (N, D)", torch.randn(rows, d[3], generator=gs[3]),
                  torch.randn(rows, d[3], generator=gs[3]), t[3], True))
    # Codes of different norms: the formula uses z0 and z1 themselves, not their directions.
    z0 = torch.randn(d[4], generator=gs[4])
    z1 = 3.0 * torch.randn(d[4], generator=gs[4])
    cases.append(("codes of different norms", z0, z1, t[4], True))
    # Parallel codes: the angle is exactly 0, sin(omega) = 0, and the answer is the straight line. Four entries of
    # +-1.5 * 2**a give a norm of exactly 3 * 2**a, so the cosine is exactly 1 in floating point.
    g = gs[5]
    a, b = (0, 1) if fixed else (_randint(g, -2, 2), _randint(g, -2, 2))
    signs = torch.where(torch.rand(4, generator=g) < 0.5, -1.0, 1.0).to(torch.float64)
    z0 = torch.zeros(d[5], dtype=torch.float64)
    z0[torch.randperm(d[5], generator=g)[:4]] = signs * 1.5 * 2.0**a
    cases.append(("parallel codes (angle 0)", z0, 2.0**b * z0, t[5], True))
    cases.append(("float64 codes", torch.randn(d[6], generator=gs[6], dtype=torch.float64),
                  torch.randn(d[6], generator=gs[6], dtype=torch.float64), t[6], True))
    return [CaseInput(name, {"z0": a, "z1": b, "t": float(tt)}, hidden) for name, a, b, tt, hidden in cases]


def _call_slerp(fns: Sequence[Callable[..., Any]], inputs: Mapping[str, Any]) -> Any:
    (fn,) = fns
    return plain(fn(inputs["z0"], inputs["z1"], inputs["t"]))


def _reference_slerp(inputs: Mapping[str, Any]) -> Tensor:
    return _ref_slerp(inputs["z0"], inputs["z1"], inputs["t"])


def _compare_slerp(got: Any, expected: Tensor) -> str | None:
    if type(got) is torch.Tensor and got.is_floating_point() and bool(torch.isnan(got).any()):
        return "the result contains NaN: what is sin(omega) when the two codes point the same way?"
    rtol, atol = (1e-9, 1e-11) if expected.dtype == torch.float64 else (1e-5, 1e-5)
    return compare_tensors(got, expected, rtol=rtol, atol=atol, what="interpolated code")


def check_slerp(fn: Callable[[Tensor, Tensor, float], Tensor], *, quiet: bool = False) -> Verdict:
    """Check a learner's ``slerp(z0, z1, t) -> Tensor``, 7 cases (5 hidden).

    Expected: :math:`\\frac{\\sin((1-t)\\omega)}{\\sin\\omega} z_0 + \\frac{\\sin(t\\omega)}{\\sin\\omega} z_1` per
    pair (rows of ``(N, D)`` codes), :math:`\\omega` the angle between the codes, the straight line
    :math:`(1-t) z_0 + t z_1` for parallel codes, in the codes' shape and dtype. Compared with
    :func:`course_lib.gan.latent.slerp` (float32: rtol 1e-5, atol 1e-5; float64: rtol 1e-9).
    """
    return SPECS["4.3"].check(fn, quiet=quiet)


# ----------------------------------------------------------------------------------------------------------------------
# Exercise 4.2: the fractionally-strided convolution
# ----------------------------------------------------------------------------------------------------------------------
class _Forbidden(RuntimeError):
    pass


_FORBIDDEN_MESSAGE = ("this exercise computes the transposed convolution itself: do not call conv_transpose2d "
                      "(nor nn.ConvTranspose2d, torch.convolution(..., transposed=True), torch.nn.grad.conv2d_input "
                      "or another gradient of a convolution)")


class _NoTransposedConvolution(TorchDispatchMode):
    """Refuses, at the operator level, every way to a transposed convolution: ``aten.convolution`` (and
    ``aten._convolution``) with ``transposed=True``, which ``F.conv_transpose2d``, ``torch.conv_transpose2d``,
    ``nn.ConvTranspose2d`` and ``torch.convolution(..., transposed=True)`` all reach, and the backward of a
    convolution (``torch.nn.grad.conv2d_input``, ``torch.autograd.grad`` through ``F.conv2d``), which computes the
    same thing. An alias bound before the check runs reaches the same operators, so it is refused too."""

    _OPS = {torch.ops.aten.convolution.default: 6, torch.ops.aten._convolution.default: 6}
    _BACKWARD = {torch.ops.aten.convolution_backward.default}

    def __torch_dispatch__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        kwargs = kwargs or {}
        position = self._OPS.get(func)
        if func in self._BACKWARD or (position is not None and bool(
                args[position] if len(args) > position else kwargs.get("transposed", False))):
            raise _Forbidden(_FORBIDDEN_MESSAGE)
        return func(*args, **kwargs)


@contextlib.contextmanager
def _no_transposed_convolution() -> Iterator[None]:
    """Inside: every route to a transposed convolution raises (see :class:`_NoTransposedConvolution`)."""
    with _NoTransposedConvolution():
        yield


def _conv_case(name: str, g: torch.Generator, n: int, c_in: int, c_out: int, hw: tuple[int, int],
               k: tuple[int, int], stride: int, padding: int, hidden: bool,
               dtype: torch.dtype = torch.float32) -> CaseInput:
    x = torch.randn(n, c_in, *hw, generator=g, dtype=dtype)
    w = torch.randn(c_in, c_out, *k, generator=g, dtype=dtype)
    return CaseInput(name, {"x": x, "weight": w, "stride": stride, "padding": padding}, hidden)


def _cases_fractional(seed: int | None = None) -> list[CaseInput]:
    """Every case of exercise 4.2 (x, weight, stride, padding)."""
    gs = [_gen(_sub_seed(seed, k) if seed is not None else 60 + k) for k in range(7)]
    if seed is None:
        return [
            _conv_case("a DCGAN layer: kernel 4, stride 2, padding 1 (doubles the size)", gs[0], 2, 3, 2, (4, 4),
                       (4, 4), 2, 1, False),
            _conv_case("the projection: 1x1 input, kernel 4, stride 1, padding 0", gs[1], 3, 5, 4, (1, 1), (4, 4), 1,
                       0, False),
            _conv_case("stride 1, padding 1", gs[2], 1, 2, 3, (5, 5), (3, 3), 1, 1, True),
            _conv_case("kernel 3, stride 2 (the checkerboard setting)", gs[3], 2, 2, 2, (5, 5), (3, 3), 2, 1, True),
            _conv_case("a non-square kernel, a rectangular input and stride 3", gs[4], 1, 3, 2, (3, 5), (2, 4), 3, 0,
                       True),
            _conv_case("padding larger than the kernel (the output is cropped)", gs[5], 1, 2, 2, (6, 6), (3, 3), 2,
                       3, True),
            _conv_case("float64", gs[6], 2, 2, 3, (4, 3), (4, 4), 2, 1, True, torch.float64),
        ]
    g = gs[0]
    cases = [
        _conv_case("a DCGAN layer: kernel 4, stride 2, padding 1 (doubles the size)", g, _randint(g, 1, 3),
                   _randint(g, 1, 4), _randint(g, 1, 4), (_randint(g, 2, 6),) * 2, (4, 4), 2, 1, False),
    ]
    g = gs[1]
    k = _randint(g, 2, 7)
    cases.append(_conv_case("the projection: 1x1 input, stride 1, padding 0", g, _randint(g, 1, 3), _randint(g, 2, 6),
                            _randint(g, 1, 4), (1, 1), (k, k), 1, 0, False))
    g = gs[2]
    k = _randint(g, 1, 5)
    cases.append(_conv_case("stride 1", g, 1, _randint(g, 1, 3), _randint(g, 1, 3), (_randint(g, 3, 7),) * 2, (k, k),
                            1, _randint(g, 0, k - 1), True))
    g = gs[3]
    cases.append(_conv_case("kernel 3, stride 2 (the checkerboard setting)", g, _randint(g, 1, 2), _randint(g, 1, 3),
                            _randint(g, 1, 3), (_randint(g, 3, 7),) * 2, (3, 3), 2, _randint(g, 0, 1), True))
    g = gs[4]  # never square: a solution that reads one kernel size for both axes must fail here
    kh, dk = _randint(g, 1, 3), _randint(g, 1, 2)
    hh, dh = _randint(g, 2, 4), _randint(g, 1, 2)
    kernel, size = ((kh, kh + dk), (hh + dh, hh)) if _randint(g, 0, 1) else ((kh + dk, kh), (hh, hh + dh))
    cases.append(_conv_case("a non-square kernel, a rectangular input and stride 3", g, 1, _randint(g, 1, 3),
                            _randint(g, 1, 3), size, kernel, 3, 0, True))
    g = gs[5]
    k = _randint(g, 2, 3)
    cases.append(_conv_case("padding larger than the kernel (the output is cropped)", g, 1, _randint(g, 1, 3),
                            _randint(g, 1, 3), (_randint(g, 6, 8),) * 2, (k, k), 2, k, True))
    g = gs[6]
    cases.append(_conv_case("float64", g, _randint(g, 1, 2), _randint(g, 1, 3), _randint(g, 1, 3),
                            (_randint(g, 2, 5), _randint(g, 2, 5)), (4, 4), 2, 1, True, torch.float64))
    return cases


def _call_fractional(fns: Sequence[Callable[..., Any]], inputs: Mapping[str, Any]) -> Any:
    (fn,) = fns
    with _no_transposed_convolution():
        got = capture(fn, inputs["x"], inputs["weight"], inputs["stride"], inputs["padding"])
    if type(got) is Raised and got.type_name == _Forbidden.__name__:
        return Raised("RuntimeError", got.message)
    return plain(got)


def _reference_fractional(inputs: Mapping[str, Any]) -> Tensor:
    return _ref_fractional(inputs["x"], inputs["weight"], stride=inputs["stride"], padding=inputs["padding"])


def _compare_fractional(got: Any, expected: Tensor) -> str | None:
    if type(got) is Raised:
        return got.problem()
    rtol, atol = (1e-10, 1e-10) if expected.dtype == torch.float64 else (1e-4, 1e-4)
    return compare_tensors(got, expected, rtol=rtol, atol=atol, what="output of the transposed convolution")


def check_fractionally_strided_conv(fn: Callable[[Tensor, Tensor, int, int], Tensor], *,
                                    quiet: bool = False) -> Verdict:
    """Check a learner's ``fractionally_strided_conv(x, weight, stride, padding) -> Tensor``, 7 cases (5 hidden).

    Expected: ``F.conv_transpose2d(x, weight, stride=stride, padding=padding)``, computed without it (the check
    switches ``conv_transpose2d`` off while the learner's function runs): zeros inserted between pixels, padding
    :math:`k - 1 - p` (a crop where negative), and ``F.conv2d`` with the kernel flipped and its channel axes swapped.
    Compared with :func:`course_lib.gan.conv_arithmetic.fractionally_strided_conv` (float32: rtol and atol 1e-4).
    """
    return SPECS["4.2"].check(fn, quiet=quiet)


# ----------------------------------------------------------------------------------------------------------------------
# The specs
# ----------------------------------------------------------------------------------------------------------------------
SPECS: dict[str, ExerciseSpec] = {
    "4.1": ExerciseSpec(EXERCISES["4.1"], ("conv_transpose_output_size",), _cases_output_size, _call_output_size,
                        _reference_output_size, _compare_output_size, references=(_ref_output_size,),
                        forbidden_modules=("course_lib.gan.conv_arithmetic",), validate=_validate_output_size,
                        weights={3: 2, 4: 2, 5: 2}, keys=(3, 4, 5)),
    "4.2": ExerciseSpec(EXERCISES["4.2"], ("fractionally_strided_conv",), _cases_fractional, _call_fractional,
                        _reference_fractional, _compare_fractional, references=(_ref_fractional,),
                        forbidden_modules=("course_lib.gan.conv_arithmetic",),
                        input_types={"x": Tensor, "weight": Tensor, "stride": int, "padding": int},
                        weights={3: 2, 4: 2, 5: 2}, keys=(3, 4, 5)),
    "4.3": ExerciseSpec(EXERCISES["4.3"], ("slerp",), _cases_slerp, _call_slerp, _reference_slerp, _compare_slerp,
                        references=(_ref_slerp,), forbidden_modules=("course_lib.gan.latent",),
                        input_types={"z0": Tensor, "z1": Tensor, "t": (float, int)}, weights={3: 2, 4: 2, 5: 2},
                        keys=(3, 4, 5)),
}
