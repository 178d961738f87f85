"""Chapter 16's checks: the references pass, independent correct solutions pass on the notebook's cases and on
grading seeds, stubs say "not implemented yet", and the classic wrong answers fail and lose most of the points."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from course_lib.detection import yolo_v3 as Y
from course_lib.exercises import ch16, not_implemented
from course_lib.exercises.core import STARS

SEEDS = (0, 1, 7, 123)


def _stub(*args, **kwargs):
    raise not_implemented("16.x")


def _max_points(key):
    return ch16.EXERCISES[key].points


# ----------------------------------------------------------------------------------------------------------------------
# Independent solutions (written differently from the library), with one mistake switched on by ``variant``
# ----------------------------------------------------------------------------------------------------------------------
def _assign_loop(wh, anchors, masks, variant=None):
    scales, slots = [], []
    anchor_list = anchors.tolist()
    for w, h in wh.tolist():
        if variant == "euclidean":
            score = [-math.hypot(w - aw, h - ah) for aw, ah in anchor_list]
        elif variant == "area":
            score = [-abs(math.log(w * h / (aw * ah))) for aw, ah in anchor_list]
        elif variant == "iou_over_max_area":
            score = [min(w, aw) * min(h, ah) / max(w * h, aw * ah) for aw, ah in anchor_list]
        else:  # centre-aligned IoU (the same number as corner-aligned)
            score = []
            for aw, ah in anchor_list:
                ix = min(w / 2, aw / 2) - max(-w / 2, -aw / 2)
                iy = min(h / 2, ah / 2) - max(-h / 2, -ah / 2)
                inter = ix * iy
                score.append(inter / (w * h + aw * ah - inter))
        best = max(range(len(score)), key=lambda k: (score[k], -k))
        if variant == "k_div_3":
            scale, slot = best // 3, best % 3
        elif variant == "paper_order":
            scale, slot = 2 - best // 3, best % 3
        else:
            scale, slot = next((s, m.index(best)) for s, m in enumerate(masks) if best in m)
        if variant == "anchor_index":
            slot = best
        scales.append(scale)
        slots.append(slot)
    return torch.tensor(scales, dtype=torch.int64), torch.tensor(slots, dtype=torch.int64)


def _assign_vectorized(wh, anchors, masks):
    """Broadcasting, corner-aligned IoU, a lookup table."""
    a = anchors.to(wh.dtype)
    inter = torch.min(wh[:, None, :], a[None]).prod(-1)
    iou = inter / (wh.prod(-1)[:, None] + a.prod(-1)[None] - inter)
    best = iou.argmax(1)
    table = {k: (s, j) for s, m in reversed(list(enumerate(masks))) for j, k in enumerate(m)}
    pairs = [table[int(k)] for k in best]
    return (torch.tensor([p[0] for p in pairs], dtype=torch.long),
            torch.tensor([p[1] for p in pairs], dtype=torch.long))


def _encode_box(box, anchors, masks, strides, variant=None):
    x1, y1, x2, y2 = box.tolist()
    w, h = x2 - x1, y2 - y1
    scale, slot = (int(v[0]) for v in _assign_loop(torch.tensor([[w, h]]), anchors.double(), masks))
    stride = strides[scale]
    pw, ph = anchors[masks[scale][slot]].tolist()
    if variant == "anchors_by_slot":
        pw, ph = anchors[slot].tolist()
    if variant == "grid_anchor":  # the anchor divided by the stride, the box in pixels
        pw, ph = pw / stride, ph / stride
    cx, cy = (x1 + x2) / 2 / stride, (y1 + y2) / 2 / stride
    col, row = int(math.floor(cx)), int(math.floor(cy))
    if variant == "round":
        col, row = int(round(cx)), int(round(cy))
    x, y = cx - col, cy - row
    tw, th = math.log(w / pw), math.log(h / ph)
    if variant == "no_log":
        tw, th = w / pw, h / ph
    if variant == "swap":
        row, col = col, row
    if variant == "centre_in_grid_units":
        x, y = cx, cy
    t = torch.tensor([x, y, tw, th], dtype=box.dtype)
    if variant == "tensor_ints":
        return (torch.tensor(scale), torch.tensor(slot), torch.tensor(row), torch.tensor(col), t)
    return scale, slot, row, col, t


def _class_softplus(logits, targets):
    return (targets * F.softplus(-logits) + (1 - targets) * F.softplus(logits)).sum()


def _class_logsigmoid(logits, targets):
    return -(targets * F.logsigmoid(logits) + (1 - targets) * F.logsigmoid(-logits)).sum()


def _class_max_form(logits, targets):
    """max(z, 0) - z y + log(1 + e^{-|z|}), the classic stable form."""
    return (logits.clamp(min=0) - logits * targets + torch.log1p(torch.exp(-logits.abs()))).sum()


def _class_wrong(logits, targets, variant):
    if variant == "softmax":
        return -(targets * torch.log_softmax(logits, dim=-1)).sum()
    if variant == "mean":
        return F.binary_cross_entropy_with_logits(logits, targets, reduction="mean")
    if variant == "naive":
        p = torch.sigmoid(logits)
        return -(targets * torch.log(p) + (1 - targets) * torch.log(1 - p)).sum()
    if variant == "positives_only":
        return -(targets * F.logsigmoid(logits)).sum()
    if variant == "mse":
        return (torch.sigmoid(logits) - targets).square().sum()
    raise ValueError(variant)


# ----------------------------------------------------------------------------------------------------------------------
# The table
# ----------------------------------------------------------------------------------------------------------------------
def test_exercise_table():
    assert sorted(ch16.EXERCISES) == ["16.1", "16.2", "16.3"] == sorted(ch16.SPECS)
    for key, ex in ch16.EXERCISES.items():
        assert ex.id == key and 10 <= ex.minutes <= 30
        assert ex.badge == f"{ex.points:g} points · difficulty {STARS[ex.difficulty]} · about {ex.minutes} min"
        assert ch16.SPECS[key].exercise is ex
        for seed in (None, *SEEDS):
            cases = ch16.SPECS[key].cases(seed)
            assert tuple(c.weight for c in cases) == ch16.WEIGHTS[key]
            for c in cases:
                ch16.SPECS[key].validate(c.inputs)


# ----------------------------------------------------------------------------------------------------------------------
# 16.1
# ----------------------------------------------------------------------------------------------------------------------
def test_assign_reference_passes(capsys):
    v = ch16.check_assign_scales(Y.assign_scales)
    assert (v.status, v.passed, v.total, v.points) == ("passed", 7, 7, 3)
    assert capsys.readouterr().out.strip() == (
        "[Exercise 16.1] Which scale and which anchor: PASSED 7/7 cases, 3/3 points")


@pytest.mark.parametrize("fn", [_assign_loop, _assign_vectorized])
@pytest.mark.parametrize("seed", [None, *SEEDS])
def test_assign_independent_solutions_pass(fn, seed):
    assert ch16.SPECS["16.1"].check(fn, quiet=True, seed=seed).status == "passed"


def test_assign_stub():
    v = ch16.check_assign_scales(_stub, quiet=True)
    assert v.status == "not implemented" and v.points == 0


@pytest.mark.parametrize("variant", ["euclidean", "area", "iou_over_max_area", "k_div_3", "paper_order",
                                     "anchor_index"])
@pytest.mark.parametrize("seed", [None, 0, 1])
def test_assign_wrong_answers_lose_most_points(variant, seed):
    v = ch16.SPECS["16.1"].check(lambda *a: _assign_loop(*a, variant=variant), quiet=True, seed=seed)
    assert v.status == "failed" and v.points <= 0.4 * _max_points("16.1"), (variant, seed, v.points, v.messages)


# ----------------------------------------------------------------------------------------------------------------------
# 16.2
# ----------------------------------------------------------------------------------------------------------------------
def test_encode_reference_passes(capsys):
    ref = lambda box, anchors, masks, strides: ch16.reference_encode_box(box, anchors, masks, strides)  # noqa: E731
    v = ch16.check_encode_box(ref)
    assert (v.status, v.points) == ("passed", 3)
    assert capsys.readouterr().out.strip().endswith("PASSED 6/6 cases, 3/3 points")


def test_encode_reference_agrees_with_build_targets():
    for case in ch16.SPECS["16.2"].cases(None) + ch16.SPECS["16.2"].cases(5):
        inp = case.inputs
        if inp["strides"] != list(Y.YOLOV3_STRIDES):
            continue
        box = inp["box"].double()
        built = Y.build_targets([{"boxes": box[None] / 416, "labels": torch.tensor([0])}], 416, 1,
                                inp["anchors"].double())["target"][0]
        p = int((built[:, 4] > 0).nonzero()[0, 0])
        scale, slot, row, col, t = ch16.reference_encode_box(box, inp["anchors"].double(), Y.YOLOV3_MASKS,
                                                             Y.YOLOV3_STRIDES)
        grid = Y.prediction_grid(416)
        assert (int(grid["scale"][p]), int(grid["slot"][p]), int(grid["row"][p]), int(grid["col"][p])) == (
            scale, slot, row, col)
        torch.testing.assert_close(built[p, :4], t, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("variant", [None, "tensor_ints"])
@pytest.mark.parametrize("seed", [None, *SEEDS])
def test_encode_independent_solution_passes(variant, seed):
    v = ch16.SPECS["16.2"].check(lambda *a: _encode_box(*a, variant=variant), quiet=True, seed=seed)
    assert v.status == "passed", v.messages


def test_encode_stub():
    assert ch16.check_encode_box(_stub, quiet=True).status == "not implemented"


@pytest.mark.parametrize("variant", ["no_log", "anchors_by_slot", "grid_anchor", "round", "swap",
                                     "centre_in_grid_units"])
@pytest.mark.parametrize("seed", [None, 0, 1])
def test_encode_wrong_answers_lose_most_points(variant, seed):
    v = ch16.SPECS["16.2"].check(lambda *a: _encode_box(*a, variant=variant), quiet=True, seed=seed)
    assert v.status == "failed" and v.points <= 0.4 * _max_points("16.2"), (variant, seed, v.points, v.messages)


def test_encode_failure_message_names_the_slot():
    v = ch16.check_encode_box(lambda *a: _encode_box(*a, variant="no_log"), quiet=True)
    assert "t_w is wrong" in v.messages[0]


# ----------------------------------------------------------------------------------------------------------------------
# 16.3
# ----------------------------------------------------------------------------------------------------------------------
def test_class_reference_passes(capsys):
    v = ch16.check_class_loss(ch16.reference_class_loss)
    assert (v.status, v.points) == ("passed", 3)
    assert capsys.readouterr().out.strip() == (
        "[Exercise 16.3] Independent logistic class scores: PASSED 6/6 cases, 3/3 points")


def test_class_reference_is_the_loss_cls_term():
    g = torch.Generator().manual_seed(0)
    built = Y.build_targets([{"boxes": torch.tensor([[0.1, 0.1, 0.5, 0.6], [0.6, 0.6, 0.8, 0.9]]),
                              "labels": torch.tensor([1, 3])}], 96, 4)
    pred = torch.randn(built["target"].shape, generator=g)
    _, terms = Y.yolo_v3_loss(pred, built, 96, return_terms=True)
    pos = built["target"][0, :, 4] > 0
    torch.testing.assert_close(terms["cls"], ch16.reference_class_loss(pred[0, pos, 5:], built["target"][0, pos, 5:]))


@pytest.mark.parametrize("fn", [F.binary_cross_entropy_with_logits.__name__, "softplus", "logsigmoid", "max_form"])
@pytest.mark.parametrize("seed", [None, *SEEDS])
def test_class_independent_solutions_pass(fn, seed):
    impl = {"softplus": _class_softplus, "logsigmoid": _class_logsigmoid, "max_form": _class_max_form,
            "binary_cross_entropy_with_logits":
                lambda z, y: F.binary_cross_entropy_with_logits(z, y, reduction="sum")}[fn]
    v = ch16.SPECS["16.3"].check(impl, quiet=True, seed=seed)
    assert v.status == "passed", v.messages


def test_class_stub():
    assert ch16.check_class_loss(_stub, quiet=True).status == "not implemented"


@pytest.mark.parametrize("variant", ["softmax", "mean", "naive", "positives_only", "mse"])
@pytest.mark.parametrize("seed", [None, 0, 1])
def test_class_wrong_answers_lose_most_points(variant, seed):
    v = ch16.SPECS["16.3"].check(lambda z, y: _class_wrong(z, y, variant), quiet=True, seed=seed)
    assert v.status == "failed" and v.points <= 0.4 * _max_points("16.3"), (variant, seed, v.points, v.messages)


def test_class_softmax_message_does_not_leak_the_answer():
    v = ch16.check_class_loss(lambda z, y: _class_wrong(z, y, "softmax"), quiet=True)
    assert "relative error" in v.messages[0]


def test_checks_refuse_look_alikes():
    class Fake:
        def __eq__(self, other):
            return True

    assert ch16.check_class_loss(lambda z, y: Fake(), quiet=True).points == 0
    assert ch16.check_assign_scales(lambda *a: (Fake(), Fake()), quiet=True).points == 0
    assert ch16.check_encode_box(lambda *a: Fake(), quiet=True).points == 0
