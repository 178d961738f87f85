"""Chapter 4's checks: the references and independent solutions pass, stubs say "not implemented yet", plausible
wrong answers fail (with partial credit) without the answer being printed, and look-alike objects are refused."""

from __future__ import annotations

import math
import re

import pytest
import torch
import torch.nn.functional as F

from course_lib.exercises import ch04, not_implemented
from course_lib.exercises.core import STARS
from course_lib.gan import conv_arithmetic, latent
from exercise_suite import rescored


def _verdict(check, *fns):
    return check(*fns, quiet=True)


def _numbers(text: str) -> list[str]:
    return re.findall(r"-?\d+\.\d+(?:e[-+]?\d+)?", text)


def test_exercise_table():
    assert sorted(ch04.EXERCISES) == ["4.1", "4.2", "4.3"]
    for key, ex in ch04.EXERCISES.items():
        assert ex.id == key
        assert 10 <= ex.minutes <= 30
        assert ex.badge == f"{ex.points:g} points · difficulty {STARS[ex.difficulty]} · about {ex.minutes} min"
        assert ch04.SPECS[key].exercise is ex


@pytest.mark.parametrize("key", ["4.1", "4.2", "4.3"])
@pytest.mark.parametrize("seed", [None, 0, 1, 12345])
def test_reference_passes_fixed_and_drawn_cases(key, seed):
    spec = ch04.SPECS[key]
    cases = spec.cases(seed)
    assert 4 <= len(cases) <= 8 and any(c.hidden for c in cases) and any(not c.hidden for c in cases)
    for case in cases:
        spec.validate(case.inputs)
    v = spec.check(spec.references[0], quiet=True, seed=seed)
    assert v.status == "passed" and v.points == spec.exercise.points


def test_drawn_cases_are_deterministic_and_differ_from_the_fixed_ones():
    for spec in ch04.SPECS.values():
        a, b, fixed = spec.cases(7), spec.cases(7), spec.cases(None)
        assert [c.name for c in a] == [c.name for c in b]
        assert repr([c.inputs for c in a]) == repr([c.inputs for c in b])
        assert repr([c.inputs for c in a]) != repr([c.inputs for c in fixed])


def test_validate_rejects_malformed_cases():
    with pytest.raises(ValueError):
        ch04.SPECS["4.1"].validate({"settings": [{"n": 1, "k": 1, "s": 1, "p": 5, "output_padding": 0}]})
    with pytest.raises(ValueError):
        ch04.SPECS["4.1"].validate({"settings": []})
    with pytest.raises(ValueError):
        ch04.SPECS["4.3"].validate({"z0": torch.zeros(3), "z1": torch.zeros(4), "t": 0.5})
    with pytest.raises(ValueError):
        ch04.SPECS["4.2"].validate({"x": torch.zeros(1, 2, 3, 3), "weight": torch.zeros(3, 1, 2, 2), "stride": 1,
                                    "padding": 0})


# ----------------------------------------------------------------------------------------------------------------------
# 4.1 the output size
# ----------------------------------------------------------------------------------------------------------------------
def test_output_size_reference_passes_and_prints_the_verdict(capsys):
    v = ch04.check_conv_transpose_output_size(conv_arithmetic.conv_transpose_output_size)
    assert (v.status, v.passed, v.total, v.points) == ("passed", 6, 6, 2)
    assert capsys.readouterr().out.strip() == (
        "[Exercise 4.1] The output size of a transposed convolution: PASSED 6/6 cases, 2/2 points")


def test_output_size_independent_solution_passes():
    """The size read off an actual nn.ConvTranspose2d: an independent reference."""

    def measured(n, k, s, p, output_padding):
        layer = torch.nn.ConvTranspose2d(1, 1, k, stride=s, padding=p, output_padding=output_padding, bias=False)
        return int(layer(torch.zeros(1, 1, n, n)).shape[-1])

    assert _verdict(ch04.check_conv_transpose_output_size, measured).status == "passed"


def test_output_size_stub():
    def stub(n, k, s, p, output_padding):
        raise not_implemented("4.1")

    v = _verdict(ch04.check_conv_transpose_output_size, stub)
    assert v.status == "not implemented" and v.points == 0
    assert str(v) == "[Exercise 4.1] The output size of a transposed convolution: not implemented yet, 0/2 points"


@pytest.mark.parametrize(
    "wrong, passed",
    [
        (lambda n, k, s, p, op: (n - 1) * s - 2 * p + k, 4),  # forgets output_padding
        (lambda n, k, s, p, op: (n - 1) * s - p + k + op, 0),  # padding counted once
        (lambda n, k, s, p, op: n * s - 2 * p + k + op, 0),  # n instead of n - 1
        (lambda n, k, s, p, op: (n + 2 * p - k) // s + 1, 0),  # the convolution's formula
        (lambda n, k, s, p, op: float((n - 1) * s - 2 * p + k + op), 0),  # right value, wrong type
    ],
)
def test_output_size_wrong(wrong, passed):
    v = _verdict(ch04.check_conv_transpose_output_size, wrong)
    assert v.status == "failed" and v.passed == passed
    assert v.points == rescored(ch04.SPECS["4.1"], wrong)


def test_output_size_message_gives_the_setting_not_the_answer():
    v = _verdict(ch04.check_conv_transpose_output_size, lambda n, k, s, p, op: n * s)
    message = v.messages[0]
    assert "n=1, k=4, s=1, p=0, output_padding=0" in message and "got 1," in message
    assert "4" not in message.split("got")[1]  # the expected 4 is not printed


def test_output_size_refuses_look_alikes():
    class AlwaysEqual(int):
        def __eq__(self, other):
            return True

        __hash__ = int.__hash__

    v = _verdict(ch04.check_conv_transpose_output_size, lambda *args: AlwaysEqual(0))
    assert v.status == "failed" and v.passed == 0
    v = _verdict(ch04.check_conv_transpose_output_size, lambda n, k, s, p, op: torch.tensor((n - 1) * s - 2 * p + k + op))
    assert v.passed == 0 and "Python int" in v.messages[0]
    v = _verdict(ch04.check_conv_transpose_output_size, lambda *args: True)
    assert v.passed == 0


def test_output_size_learner_error_is_a_failure_not_a_crash():
    def broken(n, k, s, p, op):
        if op:
            raise ZeroDivisionError("oops")
        return (n - 1) * s - 2 * p + k

    v = _verdict(ch04.check_conv_transpose_output_size, broken)
    assert v.status == "failed" and v.passed == 4


# ----------------------------------------------------------------------------------------------------------------------
# 4.3 slerp
# ----------------------------------------------------------------------------------------------------------------------
def _slerp_loop(z0, z1, t):
    """An independent slerp: one pair at a time, the angle from acos of the clipped cosine, lerp when parallel."""
    single = z0.ndim == 1
    a, b = (z0[None], z1[None]) if single else (z0, z1)
    rows = []
    for u, v in zip(a, b):
        cos = float(torch.dot(u, v) / (u.norm() * v.norm()))
        omega = math.acos(max(-1.0, min(1.0, cos)))
        if omega < 1e-6:
            rows.append((1 - t) * u + t * v)
        else:
            rows.append(math.sin((1 - t) * omega) / math.sin(omega) * u + math.sin(t * omega) / math.sin(omega) * v)
    out = torch.stack(rows)
    return out[0] if single else out


def test_slerp_reference_passes(capsys):
    v = ch04.check_slerp(latent.slerp)
    assert (v.status, v.passed, v.total, v.points) == ("passed", 7, 7, 3)
    assert capsys.readouterr().out.strip() == "[Exercise 4.3] Spherical interpolation (slerp): PASSED 7/7 cases, 3/3 points"


def test_slerp_independent_solution_passes():
    assert _verdict(ch04.check_slerp, _slerp_loop).status == "passed"


def test_slerp_closed_form_of_the_first_case():
    """The visible plane case: the midpoint of two orthogonal unit vectors is (cos 45, sin 45), a closed form."""
    case = ch04.SPECS["4.3"].cases(None)[0]
    got = latent.slerp(case.inputs["z0"], case.inputs["z1"], case.inputs["t"])
    assert torch.allclose(got, torch.tensor([math.sqrt(0.5), math.sqrt(0.5)]), atol=1e-6)


def test_slerp_stub():
    def stub(z0, z1, t):
        raise not_implemented("4.3")

    assert _verdict(ch04.check_slerp, stub).status == "not implemented"


def _slerp_no_guard(z0, z1, t):
    cos = (z0 * z1).sum(-1, keepdim=True) / (z0.norm(dim=-1, keepdim=True) * z1.norm(dim=-1, keepdim=True))
    omega = torch.acos(cos.clamp(-1, 1))
    return (torch.sin((1 - t) * omega) * z0 + torch.sin(t * omega) * z1) / torch.sin(omega)


def _slerp_flat_dot(z0, z1, t):
    """Treats a batch (N, D) as one long vector: one angle for all rows."""
    cos = (z0 * z1).sum() / (z0.norm() * z1.norm())
    omega = torch.acos(cos.clamp(-1, 1))
    if float(omega) < 1e-6:
        return (1 - t) * z0 + t * z1
    return (torch.sin((1 - t) * omega) * z0 + torch.sin(t * omega) * z1) / torch.sin(omega)


def _slerp_unit(z0, z1, t):
    """Interpolates the directions and forgets the norms."""
    u0, u1 = z0 / z0.norm(dim=-1, keepdim=True), z1 / z1.norm(dim=-1, keepdim=True)
    return _slerp_loop(u0, u1, t)


@pytest.mark.parametrize(
    "wrong, passed",
    [
        (lambda z0, z1, t: (1 - t) * z0 + t * z1, 2),  # lerp: right only at an endpoint and for parallel codes
        (_slerp_no_guard, 6),  # NaN for parallel codes
        (_slerp_flat_dot, 6),  # one angle for the whole batch
        (_slerp_unit, 1),  # the unit-norm path (right only for the unit vectors in the plane)
        (lambda z0, z1, t: _slerp_loop(z0, z1, 1 - t), 1),  # t reversed (right only at the midpoint t = 0.5)
        (lambda z0, z1, t: _slerp_loop(z0.float(), z1.float(), t), 5),  # float64 (two cases) comes back as float32
    ],
)
def test_slerp_wrong(wrong, passed):
    v = _verdict(ch04.check_slerp, wrong)
    assert v.status == "failed" and v.passed == passed, (v.passed, v.messages)
    assert v.points == rescored(ch04.SPECS["4.3"], wrong)
    assert len(_numbers("\n".join(v.messages))) <= 2


def test_slerp_nan_message_points_at_the_angle():
    v = _verdict(ch04.check_slerp, _slerp_no_guard)
    assert "NaN" in v.messages[0] and "sin(omega)" in v.messages[0]


def test_slerp_refuses_look_alikes():
    class Liar(torch.Tensor):
        def __eq__(self, other):
            return True

    v = _verdict(ch04.check_slerp, lambda z0, z1, t: latent.slerp(z0, z1, t).as_subclass(Liar))
    assert v.passed == 0
    v = _verdict(ch04.check_slerp, lambda z0, z1, t: latent.slerp(z0, z1, t).tolist())
    assert v.passed == 0 and "torch.Tensor" in v.messages[0]


# ----------------------------------------------------------------------------------------------------------------------
# 4.2 the fractionally-strided convolution
# ----------------------------------------------------------------------------------------------------------------------
def _fractional_loop(x, weight, stride, padding):
    """An independent transposed convolution: every input pixel paints a weighted copy of the kernel (scatter)."""
    n, c_in, h, w = x.shape
    _, c_out, kh, kw = weight.shape
    full = torch.zeros(n, c_out, (h - 1) * stride + kh, (w - 1) * stride + kw, dtype=x.dtype)
    for i in range(h):
        for j in range(w):
            patch = torch.einsum("nc,cokl->nokl", x[:, :, i, j], weight)  # (N, C_out, kh, kw)
            full[:, :, i * stride:i * stride + kh, j * stride:j * stride + kw] += patch
    return full[:, :, padding:full.shape[2] - padding, padding:full.shape[3] - padding]


def _fractional_plain(x, weight, stride, padding):
    """The exercise's intended solution, written out: zeros, pad (or crop), conv2d with the flipped kernel."""
    n, c, h, w = x.shape
    k_h, k_w = weight.shape[2:]
    u = x.new_zeros(n, c, (h - 1) * stride + 1, (w - 1) * stride + 1)
    u[:, :, ::stride, ::stride] = x
    u = F.pad(u, (k_w - 1 - padding, k_w - 1 - padding, k_h - 1 - padding, k_h - 1 - padding))
    return F.conv2d(u, weight.transpose(0, 1).flip(-2, -1))


def test_fractional_reference_passes(capsys):
    v = ch04.check_fractionally_strided_conv(conv_arithmetic.fractionally_strided_conv)
    assert (v.status, v.passed, v.total, v.points) == ("passed", 7, 7, 4)
    assert "PASSED 7/7 cases, 4/4 points" in capsys.readouterr().out


@pytest.mark.parametrize("fn", [_fractional_loop, _fractional_plain])
def test_fractional_independent_solutions_pass(fn):
    assert _verdict(ch04.check_fractionally_strided_conv, fn).status == "passed"


def test_fractional_loop_matches_torch():
    """The scatter loop used above is itself right: it equals F.conv_transpose2d."""
    g = torch.Generator().manual_seed(3)
    x, w = torch.randn(2, 3, 4, 5, generator=g), torch.randn(3, 2, 3, 4, generator=g)
    for s, p in [(1, 0), (2, 1), (3, 2)]:
        assert torch.allclose(_fractional_loop(x, w, s, p), F.conv_transpose2d(x, w, stride=s, padding=p), atol=1e-5)


def test_fractional_stub():
    def stub(x, weight, stride, padding):
        raise not_implemented("4.2")

    assert _verdict(ch04.check_fractionally_strided_conv, stub).status == "not implemented"


def test_fractional_calling_conv_transpose2d_does_not_pass():
    v = _verdict(ch04.check_fractionally_strided_conv,
                 lambda x, w, s, p: F.conv_transpose2d(x, w, stride=s, padding=p))
    assert v.passed == 0 and "conv_transpose2d" in v.messages[0]
    v = _verdict(ch04.check_fractionally_strided_conv,
                 lambda x, w, s, p: torch.conv_transpose2d(x, w, stride=s, padding=p))
    assert v.passed == 0
    assert F.conv_transpose2d(torch.ones(1, 1, 1, 1), torch.ones(1, 1, 2, 2)).shape == (1, 1, 2, 2)  # restored


def _no_flip(x, weight, stride, padding):
    u = conv_arithmetic.insert_zeros(x, stride)
    k = weight.shape[-1]
    u = F.pad(u, (k - 1 - padding,) * 4)
    return F.conv2d(u, weight.transpose(0, 1))


def _pad_ignores_p(x, weight, stride, padding):
    u = conv_arithmetic.insert_zeros(x, stride)
    k = weight.shape[-1]
    u = F.pad(u, (k - 1,) * 4)
    return F.conv2d(u, weight.transpose(0, 1).flip(-2, -1))


def _strided_conv(x, weight, stride, padding):
    """Zeros placed after each pixel instead of between them: one extra row and column of zeros at the end."""
    n, c, h, w = x.shape
    u = x.new_zeros(n, c, h * stride, w * stride)
    u[:, :, ::stride, ::stride] = x
    k = weight.shape[-1]
    u = F.pad(u, (k - 1 - padding,) * 4)
    return F.conv2d(u, weight.transpose(0, 1).flip(-2, -1))


@pytest.mark.parametrize(
    "wrong, passed",
    [
        (_no_flip, 0),  # the kernel not flipped
        (_pad_ignores_p, 1),  # padding k - 1 whatever p: right only where p = 0 and the stride is 1
        (_strided_conv, 2),  # right only for stride 1 (the projection and the stride-1 case)
    ],
)
def test_fractional_wrong(wrong, passed):
    v = _verdict(ch04.check_fractionally_strided_conv, wrong)
    assert v.status == "failed" and v.passed == passed, (v.passed, v.messages)
    assert v.points == rescored(ch04.SPECS["4.2"], wrong)
    assert len(_numbers("\n".join(v.messages))) <= 2


def test_fractional_refuses_look_alikes():
    class Liar(torch.Tensor):
        def __eq__(self, other):
            return True

    v = _verdict(ch04.check_fractionally_strided_conv,
                 lambda x, w, s, p: conv_arithmetic.fractionally_strided_conv(x, w, s, p).as_subclass(Liar))
    assert v.passed == 0
