"""Chapter 14's checks: the references pass, independent correct solutions pass, stubs say "not implemented yet",
plausible wrong answers fail (with partial credit where the cases differ) without the answer being printed, and
look-alike objects are refused. The check references are pinned to course_lib.detection.yolo_v1."""

from __future__ import annotations

import io
import math
import re

import pytest
import torch

from course_lib.detection import yolo_v1 as Y
from course_lib.detection.nms import batched_nms
from course_lib.exercises import ch14, not_implemented
from course_lib.exercises.core import STARS
from exercise_suite import rescored

F64 = torch.float64


def _numbers(text: str) -> list[str]:
    return re.findall(r"-?\d+\.\d+(?:e[-+]?\d+)?", text)


def _stub(*args, **kwargs):
    raise not_implemented("14.x")


# ----------------------------------------------------------------------------------------------------------------------
# Independent solutions, written the way a learner would (loops, plain formulas); ``variant`` switches on one mistake
# ----------------------------------------------------------------------------------------------------------------------
def _encode_loop(boxes, labels, S, B, C, variant=None):
    target = torch.zeros(S, S, C + 5 * B, dtype=boxes.dtype)
    order = sorted(range(len(boxes)), key=lambda k: -float((boxes[k, 2] - boxes[k, 0]) * (boxes[k, 3] - boxes[k, 1])))
    if variant in ("last_wins", "first_wins"):
        order = list(range(len(boxes)))
    for k in order:
        x1, y1, x2, y2 = boxes[k].tolist()
        cx, cy, w, h = (x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1
        col, row = min(int(math.floor(cx * S)), S - 1), min(int(math.floor(cy * S)), S - 1)
        if variant == "round":
            col, row = min(int(round(cx * S)), S - 1), min(int(round(cy * S)), S - 1)
        if variant == "swap":
            row, col = col, row
        if target[row, col, C] > 0 and variant != "last_wins":
            continue  # the cell is taken by a larger (or equal, earlier) box
        x, y = cx * S - col, cy * S - row
        if variant == "image_centre":
            x, y = cx, cy
        if variant == "sqrt":
            w, h = math.sqrt(w), math.sqrt(h)
        target[row, col, :C] = 0.0
        target[row, col, int(labels[k])] = 1.0
        slots = range(1) if variant == "first_slot_only" else range(B)
        for j in slots:
            target[row, col, C + j] = 1.0
            target[row, col, C + B + 4 * j : C + B + 4 * j + 4] = torch.tensor([x, y, w, h], dtype=boxes.dtype)
    return target


def _responsible_loop(pred, target, S, B, C, variant=None):
    N = pred.shape[0]
    responsible = torch.zeros(N, S, S, B, dtype=torch.bool)
    iou = torch.zeros(N, S, S, B, dtype=pred.dtype)
    for n in range(N):
        for row in range(S):
            for col in range(S):
                t = target[n, row, col, C + B : C + B + 4].tolist()
                tb = [(col + t[0]) / S - t[2] / 2, (row + t[1]) / S - t[3] / 2,
                      (col + t[0]) / S + t[2] / 2, (row + t[1]) / S + t[3] / 2]
                for j in range(B):
                    x, y, w, h = pred[n, row, col, C + B + 4 * j : C + B + 4 * j + 4].tolist()
                    w, h = max(w, 0.0), max(h, 0.0)
                    cx, cy = (col + x) / S, (row + y) / S
                    if variant == "cell_frame":  # forgets that (x, y) are offsets in the cell
                        cx, cy = x, y
                    pb = [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]
                    inter = max(0.0, min(pb[2], tb[2]) - max(pb[0], tb[0])) * max(
                        0.0, min(pb[3], tb[3]) - max(pb[1], tb[1]))
                    union = (pb[2] - pb[0]) * (pb[3] - pb[1]) + (tb[2] - tb[0]) * (tb[3] - tb[1]) - inter
                    if variant == "no_guard":
                        value = inter / union if union != 0 else float("nan")
                    else:
                        value = inter / union if union > 0 else 0.0
                    iou[n, row, col, j] = value
                has_object = target[n, row, col, C] > 0
                if has_object or variant == "every_cell":
                    values = iou[n, row, col].tolist()
                    if variant == "last_on_ties":
                        best = max(range(B), key=lambda j: (values[j], j))
                    else:
                        best = max(range(B), key=lambda j: (values[j], -j))
                    responsible[n, row, col, best] = True
    return responsible, iou


def _ssqrt(v):
    return torch.sign(v) * torch.sqrt(v.abs().clamp(min=1e-8))


def _terms_written_out(pred, target, responsible, iou, S, B, C, lambda_coord=5.0, lambda_noobj=0.5, variant=None):
    """The four terms with explicit sums over predictors (a loop over j), as a learner might write them."""
    N = pred.shape[0]
    obj = (target[..., C] > 0).to(pred.dtype)  # (N, S, S)
    t_box = target[..., C + B : C + B + 4]
    coord = conf_obj = conf_noobj = pred.new_zeros(())
    sqrt = torch.sqrt if variant == "plain_sqrt" else _ssqrt
    lc, ln = (5.0, 0.5) if variant == "hard_coded" else (lambda_coord, lambda_noobj)
    for j in range(B):
        r = responsible[..., j].to(pred.dtype)
        box = pred[..., C + B + 4 * j : C + B + 4 * j + 4]
        conf = pred[..., C + j]
        d = (box[..., 0] - t_box[..., 0]) ** 2 + (box[..., 1] - t_box[..., 1]) ** 2
        if variant == "no_sqrt":
            d = d + (box[..., 2] - t_box[..., 2]) ** 2 + (box[..., 3] - t_box[..., 3]) ** 2
        else:
            d_wh = (sqrt(box[..., 2]) - sqrt(t_box[..., 2])) ** 2 + (sqrt(box[..., 3]) - sqrt(t_box[..., 3])) ** 2
            d = d + torch.where(r > 0, d_wh, torch.zeros_like(d_wh))
        coord = coord + lc * (r * d).sum()
        conf_target = torch.ones_like(iou[..., j]) if variant == "no_rescore" else iou[..., j]
        conf_obj = conf_obj + (r * (conf - conf_target) ** 2).sum()
        noobj = (1 - obj) if variant == "empty_cells_only" else (1 - r)
        conf_noobj = conf_noobj + ln * (noobj * conf**2).sum()
    cls = (obj.unsqueeze(-1) * (pred[..., :C] - target[..., :C]) ** 2).sum()
    if variant == "cls_per_predictor":
        cls = B * cls
    divide = 1.0 if variant == "no_batch_mean" else N
    return {"coord": coord / divide, "conf_obj": conf_obj / divide, "conf_noobj": conf_noobj / divide,
            "cls": cls / divide}


def _decode_written_out(pred, S, B, C, conf_threshold, iou_threshold, variant=None):
    """Filter then NMS, as a learner might write it (torch ops, course_lib's batched_nms)."""
    N = pred.shape[0]
    out = []
    rows = torch.arange(S, dtype=pred.dtype).view(S, 1, 1)
    cols = torch.arange(S, dtype=pred.dtype).view(1, S, 1)
    for n in range(N):
        p = pred[n]
        box = p[..., C + B :].reshape(S, S, B, 4)
        cx, cy = (cols + box[..., 0]) / S, (rows + box[..., 1]) / S
        w, h = box[..., 2].clamp(min=0), box[..., 3].clamp(min=0)
        xyxy = torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], -1)
        if variant != "no_clip":
            xyxy = xyxy.clamp(0, 1)
        xyxy = xyxy.reshape(-1, 4)
        conf = p[..., C : C + B].reshape(-1)
        probs = p[..., :C].unsqueeze(2).expand(S, S, B, C).reshape(-1, C)
        best, labels = probs.max(dim=1)
        scores = conf if variant == "confidence_only" else conf * best
        keep = scores >= conf_threshold if variant == "at_least" else scores > conf_threshold
        xyxy, scores, labels = xyxy[keep], scores[keep], labels[keep]
        idxs = torch.zeros_like(labels) if variant == "class_agnostic" else labels
        kept = batched_nms(xyxy, scores, idxs, iou_threshold)
        if variant == "unsorted":
            kept = kept.sort().values  # back in cell order
        out.append({"boxes": xyxy[kept], "scores": scores[kept], "labels": labels[kept]})
    return out


# ----------------------------------------------------------------------------------------------------------------------
# The exercise table and the references
# ----------------------------------------------------------------------------------------------------------------------
def test_exercise_table():
    assert sorted(ch14.EXERCISES, key=lambda k: int(k.split(".")[1])) == ["14.1", "14.2", "14.3", "14.4"]
    assert sorted(ch14.SPECS) == sorted(ch14.EXERCISES)
    for key, ex in ch14.EXERCISES.items():
        assert ex.id == key
        assert 10 <= ex.minutes <= 30
        assert ex.badge == f"{ex.points:g} points · difficulty {STARS[ex.difficulty]} · about {ex.minutes} min"
        assert ch14.SPECS[key].exercise is ex
    assert [ch14.SPECS[k].names for k in sorted(ch14.SPECS)] == [
        ("encode_targets",), ("responsible_predictor",), ("yolo_loss_terms",), ("decode_filter_then_nms",)]


@pytest.mark.parametrize("seed, S, B, C, dtype", [(0, 7, 2, 20, torch.float32), (1, 5, 3, 4, F64), (2, 7, 2, 10, F64)])
@pytest.mark.parametrize("activated", [True, False])
def test_reference_halves_reproduce_the_library_loss(seed, S, B, C, dtype, activated):
    """responsible + terms, as two functions, give yolo_v1_loss term by term, and the same gradient."""
    g = torch.Generator().manual_seed(seed)
    target = ch14._random_targets(g, 3, S, B, C, dtype=dtype)
    pred = ch14._near_targets(g, target, B, C)
    if not activated:  # raw linear outputs: negative widths, confidences outside [0, 1]
        pred = pred + 0.5 * torch.randn(pred.shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)
    a = pred.clone().requires_grad_(True)
    b = pred.clone().requires_grad_(True)
    resp, iou = ch14.reference_responsible_predictor(a, target, S, B, C)
    mine = ch14.reference_loss_terms(a, target, resp, iou, S, B, C)
    loss, terms = Y.yolo_v1_loss(b, target, S, B, C, return_terms=True)
    tol = dict(rtol=1e-10, atol=1e-12) if dtype == F64 else dict(rtol=1e-5, atol=1e-6)
    for key in ch14.LOSS_TERMS:
        torch.testing.assert_close(mine[key], terms[key], **tol)
    (ga,) = torch.autograd.grad(sum(mine.values()), a)
    (gb,) = torch.autograd.grad(loss, b)
    torch.testing.assert_close(ga, gb, **tol)
    assert int(resp.sum()) == int((target[..., C] > 0).sum())  # one responsible predictor per object cell


def test_reference_responsible_predictor_hand_worked():
    """One object, cell (row 1, col 2) of a 4 x 4 grid, offsets (0.5, 0.5), size 0.25 x 0.25: image box
    [0.5, 0.25, 0.75, 0.5]. Predictor 2, centre (2.6/4, 1.4/4) = (0.65, 0.35), size 0.2 x 0.3: box
    [0.55, 0.2, 0.75, 0.5], intersection 0.2 x 0.25 = 0.05, union 0.0625 + 0.06 - 0.05 = 0.0725, IoU 0.6897."""
    target = Y.encode_targets(torch.tensor([[0.5, 0.25, 0.75, 0.5]], dtype=F64), torch.tensor([1]), 4, 2, 3)[None]
    pred = torch.zeros(1, 4, 4, 13, dtype=F64)
    pred[0, 1, 2, 5:9] = torch.tensor([0.1, 0.1, 0.5, 0.5])  # box [0.4, 0.025, 0.9, 0.525]
    pred[0, 1, 2, 9:13] = torch.tensor([0.6, 0.4, 0.2, 0.3])
    resp, iou = ch14.reference_responsible_predictor(pred, target, 4, 2, 3)
    assert resp.sum() == 1 and bool(resp[0, 1, 2, 1])
    inter1 = 0.25 * 0.25  # the object lies inside predictor 1's box
    torch.testing.assert_close(iou[0, 1, 2], torch.tensor([inter1 / 0.25, 0.05 / 0.0725], dtype=F64))
    assert float(iou.sum() - iou[0, 1, 2].sum()) == 0.0  # empty boxes elsewhere: IoU 0, not NaN


# ----------------------------------------------------------------------------------------------------------------------
# 14.1 encode_targets
# ----------------------------------------------------------------------------------------------------------------------
def test_encode_reference_passes(capsys):
    v = ch14.check_encode_targets(Y.encode_targets)
    assert (v.status, v.passed, v.total, v.points) == ("passed", 7, 7, 3)
    assert capsys.readouterr().out.strip() == (
        "[Exercise 14.1] Encoding the targets of one image: PASSED 7/7 cases, 3/3 points")


def test_encode_independent_loop_passes():
    assert ch14.check_encode_targets(_encode_loop, quiet=True).status == "passed"


def test_encode_stub():
    v = ch14.check_encode_targets(_stub, quiet=True)
    assert v.status == "not implemented" and v.points == 0
    assert str(v) == "[Exercise 14.1] Encoding the targets of one image: not implemented yet, 0/3 points"


@pytest.mark.parametrize(
    "variant, passed",
    [
        ("first_slot_only", 1),  # confidence and box only in predictor slot 0: only the empty image passes
        ("image_centre", 1),  # (x, y) relative to the image instead of offsets in the cell
        ("swap", 2),  # row and col exchanged: right only where row == col (and the empty image)
        ("last_wins", 4),  # a shared cell keeps the last object instead of the largest (or the first of equals)
        ("first_wins", 6),  # a shared cell keeps the first object (darknet's rule): wrong when a larger one follows
        ("round", 4),  # round instead of floor for the cell index (right where every offset is below 0.5)
        ("sqrt", 1),  # stores sqrt(w), sqrt(h): the slots mean what the target means, w and h
    ],
)
def test_encode_wrong(variant, passed):
    v = ch14.check_encode_targets(lambda *a: _encode_loop(*a, variant=variant), quiet=True)
    assert v.status == "failed" and v.passed == passed, (variant, v.passed, v.messages)
    assert v.points == rescored(ch14.SPECS["14.1"], lambda *a: _encode_loop(*a, variant=variant))
    assert len(_numbers("\n".join(v.messages))) <= 2  # one wrong entry at most, never the whole target


def test_encode_wrong_dtype_and_shape():
    v = ch14.check_encode_targets(lambda *a: _encode_loop(*a).float(), quiet=True)
    assert v.passed == 6 and "dtype" in v.messages[0]  # the float64 case
    v = ch14.check_encode_targets(lambda *a: _encode_loop(*a).reshape(-1), quiet=True)
    assert v.passed == 0 and "shape" in v.messages[0]


def test_encode_refuses_look_alikes_and_survives_errors():
    class Sneaky(torch.Tensor):
        def __eq__(self, other):  # noqa: D105 - claims to equal everything
            return True

    v = ch14.check_encode_targets(lambda *a: Y.encode_targets(*a).as_subclass(Sneaky), quiet=True)
    assert v.passed == 0 and "torch.Tensor" in v.messages[0]
    v = ch14.check_encode_targets(lambda *a: Y.encode_targets(*a).tolist(), quiet=True)
    assert v.passed == 0
    v = ch14.check_encode_targets(lambda *a: 1 / 0, quiet=True)
    assert v.passed == 0 and "ZeroDivisionError" in v.messages[0]


def test_encode_learner_cannot_spoil_cases():
    def vandal(boxes, labels, S, B, C):
        out = Y.encode_targets(boxes, labels, S, B, C)
        boxes.fill_(0.5)
        labels.zero_()
        return out

    assert ch14.check_encode_targets(vandal, quiet=True).status == "passed"


# ----------------------------------------------------------------------------------------------------------------------
# 14.2 the responsible predictor
# ----------------------------------------------------------------------------------------------------------------------
def test_responsible_reference_passes(capsys):
    v = ch14.check_responsible_predictor(ch14.reference_responsible_predictor)
    assert (v.status, v.passed, v.total, v.points) == ("passed", 7, 7, 3)
    assert "PASSED 7/7 cases, 3/3 points" in capsys.readouterr().out


def test_responsible_independent_loop_passes():
    assert ch14.check_responsible_predictor(_responsible_loop, quiet=True).status == "passed"


def test_responsible_stub():
    assert ch14.check_responsible_predictor(_stub, quiet=True).status == "not implemented"


@pytest.mark.parametrize(
    "variant, passed",
    [
        ("cell_frame", 2),  # compares boxes in the cell's frame with boxes in the image's (passes where all IoU = 0)
        ("last_on_ties", 4),  # the last maximum: wrong on ties (identical boxes, all IoUs 0, two empty boxes)
        ("no_guard", 4),  # 0/0 = NaN for empty boxes
        ("every_cell", 0),  # a responsible predictor in empty cells too
    ],
)
def test_responsible_wrong(variant, passed):
    v = ch14.check_responsible_predictor(lambda *a: _responsible_loop(*a, variant=variant), quiet=True)
    assert v.status == "failed" and v.passed == passed, (variant, v.passed, v.messages)
    assert v.points == rescored(ch14.SPECS["14.2"], lambda *a: _responsible_loop(*a, variant=variant))
    assert len(_numbers("\n".join(v.messages))) <= 2


def test_responsible_messages_and_look_alikes():
    v = ch14.check_responsible_predictor(lambda *a: _responsible_loop(*a, variant="no_guard"), quiet=True)
    assert "NaN" in v.messages[0]
    v = ch14.check_responsible_predictor(lambda *a: ch14.reference_responsible_predictor(*a)[0], quiet=True)
    assert v.passed == 0 and "pair" in v.messages[0]
    v = ch14.check_responsible_predictor(
        lambda *a: (ch14.reference_responsible_predictor(*a)[0].float(), ch14.reference_responsible_predictor(*a)[1]),
        quiet=True)
    assert v.passed == 0 and "bool" in v.messages[0]

    class Sneaky(torch.Tensor):
        pass

    v = ch14.check_responsible_predictor(
        lambda *a: tuple(t.as_subclass(Sneaky) for t in ch14.reference_responsible_predictor(*a)), quiet=True)
    assert v.passed == 0


# ----------------------------------------------------------------------------------------------------------------------
# 14.3 the loss, term by term
# ----------------------------------------------------------------------------------------------------------------------
def test_loss_reference_passes(capsys):
    v = ch14.check_loss_terms(ch14.reference_loss_terms)
    assert (v.status, v.passed, v.total, v.points) == ("passed", 6, 6, 4)
    assert "PASSED 6/6 cases, 4/4 points" in capsys.readouterr().out


def test_loss_independent_solution_passes():
    assert ch14.check_loss_terms(_terms_written_out, quiet=True).status == "passed"


def test_loss_stub():
    assert ch14.check_loss_terms(_stub, quiet=True).status == "not implemented"


@pytest.mark.parametrize(
    "variant, passed",
    [
        ("empty_cells_only", 1),  # 1^noobj misses the non-responsible predictors of object cells
        ("no_sqrt", 1),  # (w - w^)^2 instead of (sqrt w - sqrt w^)^2
        ("no_rescore", 1),  # confidence target 1 instead of the IoU
        ("cls_per_predictor", 1),  # the class term counted once per predictor
        ("no_batch_mean", 1),  # summed over the batch: right only for the one-image case
        ("plain_sqrt", 5),  # torch.sqrt: NaN for the negative widths of a linear output
        ("hard_coded", 5),  # lambda_coord, lambda_noobj ignored
    ],
)
def test_loss_wrong(variant, passed):
    v = ch14.check_loss_terms(lambda *a: _terms_written_out(*a, variant=variant), quiet=True)
    assert v.status == "failed" and v.passed == passed, (variant, v.passed, v.messages)
    assert v.points == rescored(ch14.SPECS["14.3"], lambda *a: _terms_written_out(*a, variant=variant))
    assert len(_numbers("\n".join(v.messages))) <= 2


def test_loss_messages_do_not_leak_the_answer():
    v = ch14.check_loss_terms(lambda *a: _terms_written_out(*a, variant="no_sqrt"), quiet=True)
    message = v.messages[0]
    assert message.startswith("case 'two images, the weights of the paper': the 'coord' term is wrong")
    expected = ch14.SPECS["14.3"].reference(ch14.SPECS["14.3"].cases()[0].inputs)["terms"]["coord"]
    assert f"{expected:.6g}" not in message and f"{expected:.4g}" not in message


def test_loss_refuses_non_tensors_and_detached_results():
    v = ch14.check_loss_terms(lambda *a: {k: float(t.detach()) for k, t in ch14.reference_loss_terms(*a).items()},
                              quiet=True)
    assert v.passed == 0 and "torch.Tensor" in v.messages[0]
    v = ch14.check_loss_terms(lambda *a: {k: t.detach() for k, t in ch14.reference_loss_terms(*a).items()},
                              quiet=True)
    assert v.passed == 0 and "differentiable" in v.messages[0]
    v = ch14.check_loss_terms(lambda *a: sum(ch14.reference_loss_terms(*a).values()), quiet=True)
    assert v.passed == 0 and "dict" in v.messages[0]
    v = ch14.check_loss_terms(lambda *a: {"coord": ch14.reference_loss_terms(*a)["coord"]}, quiet=True)
    assert v.passed == 0 and "conf_obj" in v.messages[0]
    v = ch14.check_loss_terms(lambda *a: {k: t.float() for k, t in ch14.reference_loss_terms(*a).items()},
                              quiet=True)
    assert v.passed == 5 and "dtype" in v.messages[0]  # the float64 case


# ----------------------------------------------------------------------------------------------------------------------
# 14.4 decoding
# ----------------------------------------------------------------------------------------------------------------------
def test_decode_reference_passes(capsys):
    v = ch14.check_decode(Y.decode)
    assert (v.status, v.passed, v.total, v.points) == ("passed", 7, 7, 3)
    assert "PASSED 7/7 cases, 3/3 points" in capsys.readouterr().out


def test_decode_independent_solution_passes():
    assert ch14.check_decode(_decode_written_out, quiet=True).status == "passed"


def test_decode_torchvision_nms_passes():
    torchvision = pytest.importorskip("torchvision")

    def with_torchvision(pred, S, B, C, conf_threshold, iou_threshold):
        out = []
        boxes, conf, probs = Y.decode_predictions(pred, S, B, C)
        for n in range(pred.shape[0]):
            best, labels = probs[n].max(dim=1)
            scores = conf[n] * best
            keep = scores > conf_threshold
            b, s, lab = boxes[n][keep], scores[keep], labels[keep]
            kept = torchvision.ops.batched_nms(b, s, lab, iou_threshold)
            out.append({"boxes": b[kept], "scores": s[kept], "labels": lab[kept]})
        return out

    assert ch14.check_decode(with_torchvision, quiet=True).status == "passed"


def test_decode_stub():
    assert ch14.check_decode(_stub, quiet=True).status == "not implemented"


@pytest.mark.parametrize(
    "variant, passed",
    [
        ("class_agnostic", 3),  # NMS across classes
        ("at_least", 6),  # keeps scores equal to the threshold
        ("no_clip", 2),  # boxes not clipped to the image
        ("confidence_only", 1),  # the box confidence alone, not times the class probability
        ("unsorted", 3),  # detections in cell order
    ],
)
def test_decode_wrong(variant, passed):
    v = ch14.check_decode(lambda *a: _decode_written_out(*a, variant=variant), quiet=True)
    assert v.status == "failed" and v.passed == passed, (variant, v.passed, v.messages)
    assert v.points == rescored(ch14.SPECS["14.4"], lambda *a: _decode_written_out(*a, variant=variant))
    assert len(_numbers("\n".join(v.messages))) <= 2


def test_decode_result_shape_errors():
    v = ch14.check_decode(lambda *a: Y.decode(*a)[0], quiet=True)  # one dict, not a list
    assert v.passed == 0
    v = ch14.check_decode(lambda *a: Y.decode(*a)[:1], quiet=True)
    assert v.passed == 2 and "one dict per image" in v.messages[0]  # right for the two one-image cases
    v = ch14.check_decode(lambda *a: [{**d, "labels": d["labels"].int()} for d in Y.decode(*a)], quiet=True)
    assert v.passed == 0 and "dtype" in v.messages[0]  # even an empty result has int64 labels


# ----------------------------------------------------------------------------------------------------------------------
# Fresh cases (the grader's), validation, records
# ----------------------------------------------------------------------------------------------------------------------
SEEDS = [0, 1, 17, 123456]
KEYS = ["14.1", "14.2", "14.3", "14.4"]
REFERENCES = {"14.1": Y.encode_targets, "14.2": ch14.reference_responsible_predictor,
              "14.3": ch14.reference_loss_terms, "14.4": Y.decode}
INDEPENDENT = {"14.1": _encode_loop, "14.2": _responsible_loop, "14.3": _terms_written_out,
               "14.4": _decode_written_out}
WRONG = {
    "14.1": ["first_slot_only", "image_centre", "swap", "last_wins", "first_wins", "round", "sqrt"],
    "14.2": ["cell_frame", "last_on_ties", "no_guard", "every_cell"],
    "14.3": ["empty_cells_only", "no_sqrt", "no_rescore", "cls_per_predictor", "no_batch_mean", "plain_sqrt",
             "hard_coded"],
    "14.4": ["class_agnostic", "at_least", "no_clip", "confidence_only", "unsorted"],
}


@pytest.mark.parametrize("key", KEYS)
def test_fresh_cases_pass_the_reference_and_the_independent_solution(key):
    spec = ch14.SPECS[key]
    for seed in SEEDS:
        for fn in (REFERENCES[key], INDEPENDENT[key]):
            v = spec.check(fn, quiet=True, seed=seed)
            assert v.status == "passed", (seed, str(v))


@pytest.mark.parametrize("key", KEYS)
def test_wrong_answers_fail_on_fresh_cases_too(key):
    spec = ch14.SPECS[key]
    for variant in WRONG[key]:
        for seed in SEEDS:
            v = spec.check(lambda *a, variant=variant: INDEPENDENT[key](*a, variant=variant), quiet=True, seed=seed)
            assert v.status == "failed", (variant, seed, str(v))


def _same(x, y) -> bool:
    if isinstance(x, torch.Tensor):
        return isinstance(y, torch.Tensor) and x.shape == y.shape and x.dtype == y.dtype and torch.equal(x, y)
    if isinstance(x, dict):
        return isinstance(y, dict) and x.keys() == y.keys() and all(_same(x[k], y[k]) for k in x)
    return x == y


@pytest.mark.parametrize("key", KEYS)
def test_cases_validate_and_are_deterministic(key):
    spec = ch14.SPECS[key]
    fixed = spec.cases()
    for seed in [None, *SEEDS]:
        cases = spec.cases(seed)
        assert len(cases) == len(fixed)
        assert [c.hidden for c in cases] == [c.hidden for c in fixed]
        for case in cases:
            spec.validate(case.inputs)
    a, b = spec.cases(5), spec.cases(5)
    assert all(_same(x.inputs, y.inputs) for x, y in zip(a, b))
    assert not all(_same(x.inputs, y.inputs) for x, y in zip(a, fixed))


def test_validate_rejects_malformed_cases():
    good = ch14.SPECS["14.1"].cases()[0].inputs
    with pytest.raises(ValueError):
        ch14.SPECS["14.1"].validate({**good, "S": 7.0})
    with pytest.raises(ValueError):  # a box outside the image: the reference refuses it
        ch14.SPECS["14.1"].validate({**good, "boxes": torch.tensor([[0.5, 0.5, 1.5, 0.9]])})
    good = ch14.SPECS["14.2"].cases()[0].inputs
    with pytest.raises(ValueError):
        ch14.SPECS["14.2"].validate({**good, "pred": good["pred"][..., :-1]})
    with pytest.raises(ValueError):
        ch14.SPECS["14.2"].validate({**good, "target": good["target"][:1]})
    good = ch14.SPECS["14.3"].cases()[0].inputs
    with pytest.raises(ValueError):
        ch14.SPECS["14.3"].validate({**good, "responsible": good["responsible"].float()})
    with pytest.raises(ValueError):
        ch14.SPECS["14.3"].validate({**good, "lambda_coord": 5})
    good = ch14.SPECS["14.4"].cases()[0].inputs
    with pytest.raises(ValueError):
        ch14.SPECS["14.4"].validate({**good, "pred": good["pred"].clone().fill_(float("nan"))})
    tied = torch.zeros(1, 2, 2, 3 + 5)
    tied[..., 0], tied[..., 3] = 1.0, 0.5  # four boxes, all of score 0.5: their order is ambiguous
    with pytest.raises(ValueError, match="equal scores"):
        ch14.SPECS["14.4"].validate({**good, "pred": tied, "S": 2, "B": 1, "C": 3})


def _cell(box, S):
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    return min(int(math.floor(cx * S)), S - 1), min(int(math.floor(cy * S)), S - 1)


@pytest.mark.parametrize("seed", [None, *SEEDS])
def test_fresh_cases_keep_their_edges(seed):
    enc = ch14.SPECS["14.1"].cases(seed)
    # three centres in one cell, of three different areas, the largest neither first nor last
    inp = enc[2].inputs
    boxes, S = inp["boxes"][:3].double(), inp["S"]
    assert len({_cell(b.tolist(), S) for b in boxes}) == 1
    area = ((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])).tolist()
    assert area[1] > area[2] > area[0]
    # two boxes of exactly the same area in one cell
    inp = enc[3].inputs
    b = inp["boxes"]
    a = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    assert a[0] == a[1] and _cell(b[0].tolist(), inp["S"]) == _cell(b[1].tolist(), inp["S"])
    # centres exactly on cell borders
    inp = enc[4].inputs
    centres = (inp["boxes"][:, :2] + inp["boxes"][:, 2:]) / 2 * inp["S"]
    assert torch.equal(centres, centres.round())
    # a centre on the image's right edge
    assert bool((enc[6].inputs["boxes"][:, 0] == 1.0).any())
    resp = ch14.SPECS["14.2"].cases(seed)
    # the second predictor is the closer one
    r, _ = ch14.reference_responsible_predictor(*(resp[1].inputs[k] for k in ("pred", "target", "S", "B", "C")))
    assert int(r.sum()) == 1 and bool(r[..., 1].any())
    # a tie inside an object cell
    inp = resp[2].inputs
    r, iou = ch14.reference_responsible_predictor(*(inp[k] for k in ("pred", "target", "S", "B", "C")))
    obj = inp["target"][..., 10] > 0
    assert bool(obj.any()) and torch.equal(iou[..., 0][obj], iou[..., 1][obj]) and bool(r[..., 0][obj].all())
    # no predicted box overlaps its object
    inp = resp[3].inputs
    _, iou = ch14.reference_responsible_predictor(*(inp[k] for k in ("pred", "target", "S", "B", "C")))
    assert bool((inp["target"][..., 2] > 0).any()) and float(iou.abs().max()) == 0.0
    # negative widths
    assert bool((resp[4].inputs["pred"][..., [14, 15, 18, 19]] < 0).any())
    # every cell holds an object
    inp = ch14.SPECS["14.3"].cases(seed)[3].inputs
    assert bool((inp["target"][..., inp["C"]] > 0).all())
    dec = ch14.SPECS["14.4"].cases(seed)
    # a score exactly at the threshold
    inp = dec[2].inputs
    _, conf, probs = Y.decode_predictions(inp["pred"], inp["S"], inp["B"], inp["C"])
    scores = conf * probs.max(-1).values
    assert bool((scores == inp["conf_threshold"]).any())
    args = [inp[k] for k in ("pred", "S", "B", "C", "conf_threshold", "iou_threshold")]
    assert len(Y.decode(*args)[0]["scores"]) == 1
    # class-aware NMS keeps two boxes that class-agnostic NMS would merge
    inp = dec[3].inputs
    args = [inp[k] for k in ("pred", "S", "B", "C", "conf_threshold", "iou_threshold")]
    assert len(Y.decode(*args)[0]["scores"]) == 2
    assert len(_decode_written_out(*args, variant="class_agnostic")[0]["scores"]) == 1


@pytest.mark.parametrize("key", KEYS)
def test_records_survive_a_round_trip_through_torch_save(key):
    """The grader saves the record of the learner's kernel and loads it with weights_only=True in its own."""
    spec = ch14.SPECS[key]
    for case in spec.cases(3):
        record = spec.call((REFERENCES[key],), case.inputs)
        buffer = io.BytesIO()
        torch.save(record, buffer)
        buffer.seek(0)
        loaded = torch.load(buffer, weights_only=True)
        assert spec.compare(loaded, spec.reference(case.inputs)) is None, case.name


def test_verdicts_do_not_depend_on_the_global_rng():
    wrong = lambda *a: _encode_loop(*a, variant="last_wins")  # noqa: E731
    torch.manual_seed(123)
    first = str(ch14.check_encode_targets(wrong, quiet=True))
    torch.manual_seed(456)
    torch.rand(1000)
    assert str(ch14.check_encode_targets(wrong, quiet=True)) == first
