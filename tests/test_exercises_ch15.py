"""Chapter 15's checks: references and independent correct solutions pass (fixed and fresh cases), stubs say "not
implemented yet", the classic wrong answers fail and lose most of the points, cases validate and are deterministic,
records survive torch.save."""

from __future__ import annotations

import io

import pytest
import torch
import torch.nn.functional as F

from course_lib.detection import yolo_v2 as Y
from course_lib.detection.anchors import wh_iou
from course_lib.detection.boxes import box_iou
from course_lib.exercises import ch15, not_implemented
from course_lib.exercises.core import STARS

SEEDS = [0, 1, 7, 123]


def _stub(*args, **kwargs):
    raise not_implemented("15.x")


# ----------------------------------------------------------------------------------------------------------------------
# Independent correct solutions (every standard formulation) and the classic wrong ones
# ----------------------------------------------------------------------------------------------------------------------
def wh_iou_loop(a, b):
    out = torch.empty(a.shape[0], b.shape[0], dtype=torch.promote_types(a.dtype, b.dtype))
    for i in range(a.shape[0]):
        for j in range(b.shape[0]):
            inter = torch.minimum(a[i, 0], b[j, 0]) * torch.minimum(a[i, 1], b[j, 1])
            out[i, j] = inter / (a[i, 0] * a[i, 1] + b[j, 0] * b[j, 1] - inter)
    return out


def wh_iou_corner_boxes(a, b):  # box_iou of boxes placed at the origin (aligned at a corner)
    return box_iou(torch.cat([torch.zeros_like(a), a], 1), torch.cat([torch.zeros_like(b), b], 1))


def wh_iou_centred_boxes(a, b):  # the same boxes sharing a centre: the same IoU
    return box_iou(torch.cat([-a / 2, a / 2], 1), torch.cat([-b / 2, b / 2], 1))


def wh_iou_union_no_minus(a, b):
    inter = torch.minimum(a[:, None, 0], b[None, :, 0]) * torch.minimum(a[:, None, 1], b[None, :, 1])
    return inter / (a.prod(1)[:, None] + b.prod(1)[None, :])


def wh_iou_area_ratio(a, b):  # right only when one box fits inside the other
    area_a, area_b = a.prod(1)[:, None], b.prod(1)[None, :]
    return torch.minimum(area_a, area_b) / torch.maximum(area_a, area_b)


def wh_iou_not_aligned(a, b):  # one box at the corner, the other centred on that corner
    return box_iou(torch.cat([torch.zeros_like(a), a], 1), torch.cat([-b / 2, b / 2], 1))


def wh_iou_paired(a, b):  # the diagonal only, broadcast
    inter = torch.minimum(a[:, 0], b[: a.shape[0], 0] if b.shape[0] >= a.shape[0] else b[:, 0]) * torch.minimum(
        a[:, 1], b[: a.shape[0], 1] if b.shape[0] >= a.shape[0] else b[:, 1])
    return inter / (a.prod(1) + b[: a.shape[0]].prod(1) - inter)


def decode_formula(t, cell_xy, anchor_wh):
    bx = 1 / (1 + torch.exp(-t[..., 0])) + cell_xy[..., 0]
    by = 1 / (1 + torch.exp(-t[..., 1])) + cell_xy[..., 1]
    bw = anchor_wh[..., 0] * torch.exp(t[..., 2])
    bh = anchor_wh[..., 1] * torch.exp(t[..., 3])
    return torch.stack(torch.broadcast_tensors(bx, by, bw, bh), dim=-1)


def decode_no_sigmoid(t, cell_xy, anchor_wh):  # centres leave their cell (Faster R-CNN-style unconstrained)
    return torch.cat(torch.broadcast_tensors(t[..., :2] + cell_xy, anchor_wh * torch.exp(t[..., 2:])), -1)


def decode_clamped(t, cell_xy, anchor_wh):  # stays in the cell, but not the paper's sigmoid
    return torch.cat(torch.broadcast_tensors(t[..., :2].clamp(0, 1) + cell_xy, anchor_wh * torch.exp(t[..., 2:])), -1)


def decode_no_exp(t, cell_xy, anchor_wh):
    return torch.cat(torch.broadcast_tensors(torch.sigmoid(t[..., :2]) + cell_xy, anchor_wh * t[..., 2:]), -1)


def decode_swapped_cell(t, cell_xy, anchor_wh):  # (row, col) where (col, row) is meant
    return torch.cat(torch.broadcast_tensors(torch.sigmoid(t[..., :2]) + cell_xy.flip(-1),
                                             anchor_wh * torch.exp(t[..., 2:])), -1)


def decode_sigmoid_everything(t, cell_xy, anchor_wh):
    return torch.cat(torch.broadcast_tensors(torch.sigmoid(t[..., :2]) + cell_xy,
                                             anchor_wh * torch.sigmoid(t[..., 2:])), -1)


def reorg_port(x, stride):  # a loop port of reorg_cpu(forward=0), tensors only
    B, c, h, w = x.shape
    s, out_c = stride, c // (stride * stride)
    src = x.reshape(-1)
    out = torch.empty_like(src)
    for b in range(B):
        for k in range(c):
            for j in range(h):
                for i in range(w):
                    c2, offset = k % out_c, k // out_c
                    w2, h2 = i * s + offset % s, j * s + offset // s
                    out[i + w * (j + h * (k + c * b))] = src[w2 + w * s * (h2 + h * s * (c2 + out_c * b))]
    return out.reshape(B, c * s * s, h // s, w // s)


def reorg_via_tf(x, stride):  # TF space_to_depth of the buffer read as (C/s^2, Hs, Ws), read back
    B, C, H, W = x.shape
    s = stride
    v = x.reshape(B, C // (s * s), H * s, W * s)
    v = v.reshape(B, C // (s * s), H, s, W, s).permute(0, 3, 5, 1, 2, 4)  # space_to_depth, TF channel order
    return v.reshape(B, C, H, W).reshape(B, C * s * s, H // s, W // s)


def reorg_einops_style(x, stride):  # the same permutation written with unflatten/movedim
    B, C, H, W = x.shape
    s = stride
    y = x.flatten(1).unflatten(1, (C // (s * s), H, s, W, s))  # (B, C', H, s_i, W, s_j)
    return y.movedim((3, 5), (1, 2)).reshape(B, C * s * s, H // s, W // s)  # (B, s_i, s_j, C', H, W)


def reorg_pixel_unshuffle(x, stride):
    return F.pixel_unshuffle(x, stride)


def reorg_tf(x, stride):
    return Y.space_to_depth_tf(x, stride)


def reorg_forward_1(x, stride):  # reorg_cpu(forward=1): the other direction
    B, c, h, w = x.shape
    s = stride
    out_c = c // (s * s)
    y = x.reshape(B, s, s, out_c, h, w).permute(0, 3, 4, 1, 5, 2)  # the inverse permutation
    return y.reshape(B, c * s * s, h // s, w // s)


CORRECT = {
    "15.1": [wh_iou_loop, wh_iou_corner_boxes, wh_iou_centred_boxes],
    "15.2": [decode_formula],
    "15.3": [reorg_port, reorg_via_tf, reorg_einops_style],
}
WRONG = {
    "15.1": [wh_iou_union_no_minus, wh_iou_area_ratio, wh_iou_not_aligned, wh_iou_paired],
    "15.2": [decode_no_sigmoid, decode_clamped, decode_no_exp, decode_swapped_cell, decode_sigmoid_everything],
    "15.3": [reorg_pixel_unshuffle, reorg_tf, reorg_forward_1],
}
REFERENCES = {"15.1": wh_iou, "15.2": Y.decode_offsets, "15.3": Y.reorg}


def test_exercise_table():
    assert set(ch15.EXERCISES) == set(ch15.SPECS) == {"15.1", "15.2", "15.3"}
    for key, ex in ch15.EXERCISES.items():
        assert ex.badge.startswith(f"{ex.points:g} points · difficulty {STARS[ex.difficulty]}")


def test_reorg_forward_1_is_the_inverse():
    x = torch.randn(2, 8, 4, 6)
    y = Y.reorg(x)
    assert not torch.equal(reorg_forward_1(x, 2), y)
    # forward=1 undoes forward=0: reading its output as the input's shape gives x back
    assert torch.equal(reorg_forward_1(y.reshape(x.shape), 2).reshape(x.shape), x)


@pytest.mark.parametrize("key", sorted(ch15.SPECS))
def test_reference_passes(key, capsys):
    v = ch15.SPECS[key].check(REFERENCES[key])
    assert v.status == "passed" and v.points == ch15.EXERCISES[key].points
    assert "PASSED" in capsys.readouterr().out


@pytest.mark.parametrize("key", sorted(ch15.SPECS))
def test_independent_correct_solutions_pass_fixed_and_fresh(key):
    for fn in CORRECT[key]:
        for seed in [None, *SEEDS]:
            v = ch15.SPECS[key].check(fn, quiet=True, seed=seed)
            assert v.status == "passed", (fn.__name__, seed, str(v))


@pytest.mark.parametrize("key", sorted(ch15.SPECS))
def test_wrong_answers_fail_and_lose_most_points(key):
    maximum = ch15.EXERCISES[key].points
    for fn in WRONG[key]:
        for seed in [None, *SEEDS]:
            v = ch15.SPECS[key].check(fn, quiet=True, seed=seed)
            assert v.status == "failed", (fn.__name__, seed, str(v))
            assert v.points <= 0.4 * maximum + 1e-9, (fn.__name__, seed, str(v))


@pytest.mark.parametrize("key", sorted(ch15.SPECS))
def test_stub_is_not_implemented(key, capsys):
    v = ch15.SPECS[key].check(_stub)
    assert v.status == "not implemented" and v.points == 0
    assert "not implemented yet" in capsys.readouterr().out


def test_failure_messages_explain_without_the_answer(capsys):
    ch15.check_decode_offsets(decode_no_sigmoid)
    assert "FAILED" in capsys.readouterr().out
    spec = ch15.SPECS["15.2"]
    key_case = spec.cases()[2].inputs
    problem = spec.compare(spec.call((decode_no_sigmoid,), key_case), spec.reference(key_case))
    assert "leave their cell" in problem
    ch15.check_reorg(reorg_pixel_unshuffle)
    out = capsys.readouterr().out
    assert "FAILED" in out and "another order" in out
    ch15.check_wh_iou(lambda a, b: wh_iou(a, b).float())  # float32 for float64 input
    assert "FAILED" in capsys.readouterr().out
    ch15.check_wh_iou(lambda a, b: wh_iou(a, b).T)  # [K, N]
    assert "shape" in capsys.readouterr().out


def test_look_alikes_and_errors_are_refused():
    class Fake(torch.Tensor):
        pass

    v = ch15.SPECS["15.3"].check(lambda x, s: Y.reorg(x, s).as_subclass(Fake), quiet=True)
    assert v.status == "failed" and v.points == 0
    v = ch15.SPECS["15.1"].check(lambda a, b: wh_iou(a, b).tolist(), quiet=True)
    assert v.status == "failed" and v.points == 0

    def boom(*args):
        raise RuntimeError("oops")

    assert ch15.SPECS["15.2"].check(boom, quiet=True).status == "failed"


@pytest.mark.parametrize("key", sorted(ch15.SPECS))
def test_cases_validate_are_deterministic_and_have_weighted_key_cases(key):
    spec = ch15.SPECS[key]
    for seed in [None, *SEEDS]:
        cases = spec.cases(seed)
        assert any(c.hidden for c in cases) and any(not c.hidden for c in cases)
        assert max(c.weight for c in cases) >= 2  # a key case weighs more
        for case in cases:
            spec.validate(case.inputs)
    a, b = spec.cases(5), spec.cases(5)
    assert all(torch.equal(x.inputs[k], y.inputs[k]) if isinstance(x.inputs[k], torch.Tensor)
               else x.inputs[k] == y.inputs[k] for x, y in zip(a, b) for k in x.inputs)
    state = torch.random.get_rng_state()
    spec.cases(3)
    assert torch.equal(torch.random.get_rng_state(), state)


def test_fresh_key_cases_keep_their_edge():
    for seed in [None, *SEEDS]:
        wide = ch15.SPECS["15.1"].cases(seed)[2].inputs
        a, b = wide["wh_a"], wide["wh_b"]
        assert torch.all(a[:, None, 0] > b[None, :, 0]) and torch.all(a[:, None, 1] < b[None, :, 1])  # crossing
        big = ch15.SPECS["15.2"].cases(seed)[2].inputs["t"]
        assert (big[..., :2].abs() > 3).float().mean() > 0.5
        grid = ch15.SPECS["15.2"].cases(seed)[3].inputs["cell_xy"]
        assert grid.shape[0] != grid.shape[1]
        assert ch15.SPECS["15.3"].cases(seed)[3].inputs["stride"] == 3


def test_validate_rejects_malformed_cases():
    with pytest.raises(ValueError):
        ch15.SPECS["15.1"].validate({"wh_a": torch.ones(2, 3), "wh_b": torch.ones(1, 2)})
    with pytest.raises(ValueError):
        ch15.SPECS["15.1"].validate({"wh_a": -torch.ones(2, 2), "wh_b": torch.ones(1, 2)})
    with pytest.raises(ValueError):
        ch15.SPECS["15.3"].validate({"x": torch.ones(1, 6, 4, 4), "stride": 2})
    with pytest.raises(ValueError):
        ch15.SPECS["15.2"].validate({"t": torch.ones(3), "cell_xy": torch.ones(2), "anchor_wh": torch.ones(2)})


@pytest.mark.parametrize("key", sorted(ch15.SPECS))
def test_records_survive_a_round_trip_through_torch_save(key):
    spec = ch15.SPECS[key]
    for case in spec.cases(3):
        record = spec.call((REFERENCES[key],), case.inputs)
        buffer = io.BytesIO()
        torch.save(record, buffer)
        buffer.seek(0)
        loaded = torch.load(buffer, weights_only=True)
        assert spec.compare(loaded, spec.reference(case.inputs)) is None, case.name
