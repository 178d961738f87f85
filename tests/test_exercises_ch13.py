"""Chapter 13's checks: the references (and independent solutions) pass, stubs say "not implemented yet", plausible
wrong answers fail with partial credit and without the answer being printed, look-alike objects are refused, and the
fresh cases drawn from a seed keep their edge cases."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
import torchvision.ops as tvops

from course_lib.detection import boxes as B
from course_lib.detection import metrics as M
from course_lib.detection import nms as N
from course_lib.exercises import ch13, not_implemented
from course_lib.exercises.core import STARS
from exercise_suite import rescored


def _verdict(check, fn):
    return check(fn, quiet=True)


def _numbers(text: str) -> list[str]:
    return re.findall(r"-?\d+\.\d+(?:e[-+]?\d+)?", text)


def test_exercise_table():
    assert sorted(ch13.EXERCISES) == ["13.1", "13.2", "13.3", "13.4"]
    assert sorted(ch13.SPECS) == sorted(ch13.EXERCISES)
    for key, ex in ch13.EXERCISES.items():
        assert ex.id == key
        assert 10 <= ex.minutes <= 30
        assert ex.badge == f"{ex.points:g} points · difficulty {STARS[ex.difficulty]} · about {ex.minutes} min"
        assert ch13.SPECS[key].exercise is ex
    assert [ch13.SPECS[k].names for k in sorted(ch13.SPECS)] == [("box_iou",), ("nms",), ("average_precision",),
                                                                 ("voc_match",)]


# ----------------------------------------------------------------------------------------------------------------------
# Independent solutions, written differently from the library (plain loops, NumPy)
# ----------------------------------------------------------------------------------------------------------------------
def py_iou(a: list[float], b: list[float]) -> float:
    """IoU of two xyxy boxes given as Python lists (plain float arithmetic)."""
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def loop_iou(b1: torch.Tensor, b2: torch.Tensor) -> torch.Tensor:
    """IoU with Python loops over the pairs (float64 arithmetic, cast back to the input dtype)."""
    rows = [[py_iou(a, b) for b in b2.double().tolist()] for a in b1.double().tolist()]
    return torch.tensor(rows, dtype=torch.float64).reshape(b1.shape[0], b2.shape[0]).to(b1.dtype)


def loop_nms(boxes: torch.Tensor, scores: torch.Tensor, thr: float) -> torch.Tensor:
    b, s = boxes.double().tolist(), scores.tolist()
    order = sorted(range(len(s)), key=lambda i: -s[i])  # Python's sort is stable
    kept: list[int] = []
    for i in order:
        if all(py_iou(b[k], b[i]) <= thr for k in kept):
            kept.append(i)
    return torch.tensor(kept, dtype=torch.int64)


def numpy_ap(recall: torch.Tensor, precision: torch.Tensor, method: str) -> float:
    r, p = recall.numpy(), precision.numpy()
    if r.size == 0:
        return 0.0
    if method == "voc07":
        return float(np.mean([p[r >= k / 10].max() if (r >= k / 10).any() else 0.0 for k in range(11)]))
    mrec = np.concatenate([[0.0], r, [1.0]])
    mpre = np.concatenate([[0.0], p, [0.0]])
    for i in range(mpre.size - 2, -1, -1):
        mpre[i] = max(mpre[i], mpre[i + 1])
    return float(np.sum((mrec[1:] - mrec[:-1]) * mpre[1:]))


def loop_voc_match(det, scores, gt, difficult, thr):
    out = torch.zeros(det.shape[0], dtype=torch.int64)
    if det.shape[0] == 0:
        return out
    taken = [False] * gt.shape[0]
    order = sorted(range(det.shape[0]), key=lambda i: -float(scores[i]))
    for i in order:
        if gt.shape[0] == 0:
            continue
        ious = loop_iou(det[i:i + 1].double(), gt.double())[0].tolist()
        j = max(range(len(ious)), key=lambda k: (ious[k], -k))  # first maximum
        if ious[j] > thr:
            if bool(difficult[j]):
                out[i] = -1
            elif not taken[j]:
                taken[j] = True
                out[i] = 1
    return out


@pytest.mark.parametrize("check, reference, independent", [
    (ch13.check_box_iou, B.box_iou, loop_iou),
    (ch13.check_nms, N.nms, loop_nms),
    (ch13.check_average_precision, M.average_precision, numpy_ap),
    (ch13.check_voc_match, lambda *a: M.match_detections(*a, rule="voc"), loop_voc_match),
])
def test_reference_and_independent_solutions_pass(check, reference, independent, capsys):
    v = check(reference)
    assert v.status == "passed" and v.passed == v.total and v.points == v.exercise.points
    line = capsys.readouterr().out.strip()
    assert line == f"[Exercise {v.exercise.id}] {v.exercise.title}: PASSED {v.total}/{v.total} cases, " \
                   f"{v.exercise.points:g}/{v.exercise.points:g} points"
    assert _verdict(check, independent).status == "passed"


SEEDS = [0, 1, 17, 123456]


@pytest.mark.parametrize("key, independent", [("13.1", loop_iou), ("13.2", loop_nms), ("13.3", numpy_ap),
                                              ("13.4", loop_voc_match)])
def test_fresh_cases_pass_the_independent_solutions(key, independent):
    spec = ch13.SPECS[key]
    for seed in SEEDS:
        v = spec.check(independent, quiet=True, seed=seed)
        assert v.status == "passed", (seed, str(v))


@pytest.mark.parametrize("key", ["13.1", "13.2", "13.3", "13.4"])
def test_cases_validate_and_are_deterministic(key):
    spec = ch13.SPECS[key]
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


def _same(x, y) -> bool:
    if isinstance(x, torch.Tensor):
        return isinstance(y, torch.Tensor) and x.shape == y.shape and x.dtype == y.dtype and torch.equal(x, y)
    if isinstance(x, dict):
        return isinstance(y, dict) and x.keys() == y.keys() and all(_same(x[k], y[k]) for k in x)
    if isinstance(x, (list, tuple)):
        return isinstance(y, (list, tuple)) and len(x) == len(y) and all(_same(a, b) for a, b in zip(x, y))
    return x == y


def test_validate_rejects_malformed_cases():
    with pytest.raises(ValueError):
        ch13.SPECS["13.1"].validate({"boxes1": torch.zeros(2, 4), "boxes2": [1, 2, 3, 4], "both_ways": False})
    with pytest.raises(ValueError):  # x2 < x1: the reference refuses it
        ch13.SPECS["13.1"].validate({"boxes1": torch.tensor([[5.0, 0, 1, 1]]), "boxes2": torch.zeros(1, 4) + 1,
                                     "both_ways": False})
    with pytest.raises(ValueError):  # two points: IoU 0/0
        ch13.SPECS["13.1"].validate({"boxes1": torch.zeros(1, 4), "boxes2": torch.zeros(1, 4), "both_ways": False})
    with pytest.raises(ValueError):
        ch13.SPECS["13.2"].validate({"runs": []})
    with pytest.raises(ValueError):
        ch13.SPECS["13.2"].validate({"runs": [{"boxes": torch.zeros(2, 4), "scores": torch.zeros(3),
                                               "iou_threshold": 0.5}]})
    with pytest.raises(ValueError):
        ch13.SPECS["13.3"].validate({"recall": torch.tensor([0.5, 0.2], dtype=torch.float64),
                                     "precision": torch.tensor([1.0, 1.0], dtype=torch.float64)})
    with pytest.raises(ValueError):
        ch13.SPECS["13.4"].validate({"runs": [{"det_boxes": torch.zeros(1, 4), "det_scores": torch.zeros(1),
                                               "gt_boxes": torch.zeros(1, 4), "gt_difficult": torch.zeros(1),
                                               "iou_threshold": "0.5"}]})


@pytest.mark.parametrize("seed", [None, *SEEDS])
def test_fresh_cases_keep_their_edges(seed):
    # 13.1: the disjoint case has pairs apart on both axes, and every IoU there is exactly 0.
    disjoint = ch13.SPECS["13.1"].cases(seed)[2].inputs
    assert float(B.box_iou(disjoint["boxes1"], disjoint["boxes2"]).abs().max()) == 0.0
    a, b = disjoint["boxes1"][0], disjoint["boxes2"][0]
    assert float(torch.minimum(a[2], b[2]) - torch.maximum(a[0], b[0])) < 0
    assert float(torch.minimum(a[3], b[3]) - torch.maximum(a[1], b[1])) < 0
    # 13.2: IoU exactly 0.5 (kept); the chain is kept as A and C; the tie case depends on the order of ties.
    nms_cases = ch13.SPECS["13.2"].cases(seed)
    run = nms_cases[2].inputs["runs"][0]
    assert float(B.box_iou(run["boxes"][:1], run["boxes"][1:2])) == 0.5
    assert N.nms(run["boxes"], run["scores"], 0.5).tolist() == [0, 1, 2]
    run = nms_cases[3].inputs["runs"][0]
    assert N.nms(run["boxes"], run["scores"], run["iou_threshold"]).tolist() == [0, 2]
    assert nms_not_greedy(run["boxes"], run["scores"], run["iou_threshold"]).tolist() == [0]
    run = nms_cases[4].inputs["runs"][0]
    assert not torch.equal(N.nms(run["boxes"], run["scores"], 0.5), nms_unstable(run["boxes"], run["scores"], 0.5))
    runs = nms_cases[5].inputs["runs"]
    assert len(N.nms(runs[0]["boxes"], runs[0]["scores"], 1.0)) == 4
    assert N.nms(runs[1]["boxes"], runs[1]["scores"], 0.0).tolist() == [0, 2]
    # 13.3: a recall of exactly 0.3, reached with precision 1.
    exact = ch13.SPECS["13.3"].cases(seed)[3].inputs
    assert (exact["recall"] == 0.3).any() and float(exact["precision"][exact["recall"] == 0.3].max()) == 1.0
    assert ap_linspace_thresholds(exact["recall"], exact["precision"], "voc07") != pytest.approx(
        M.average_precision(exact["recall"], exact["precision"], "voc07"))
    assert float(ch13.SPECS["13.3"].cases(seed)[5].inputs["recall"].max()) < 0.45
    # 13.4: IoU exactly 0.5 is a FP; the taken-object case differs from COCO's rule.
    match_cases = ch13.SPECS["13.4"].cases(seed)
    run = match_cases[2].inputs["runs"][0]
    assert float(B.box_iou(run["det_boxes"][:1], run["gt_boxes"])) == 0.5
    assert M.match_detections(run["det_boxes"], run["det_scores"], run["gt_boxes"], rule="voc").tolist() == [0, 1]
    run = match_cases[4].inputs["runs"][0]
    args = (run["det_boxes"], run["det_scores"], run["gt_boxes"], run["gt_difficult"])
    assert M.match_detections(*args, rule="voc").tolist() == [1, 0]
    assert M.match_detections(*args, rule="coco").tolist() == [1, 1]
    scene = [M.match_detections(r["det_boxes"], r["det_scores"], r["gt_boxes"], r["gt_difficult"],
                                r["iou_threshold"]) for r in match_cases[1].inputs["runs"]]
    assert (scene[0] == -1).any()                    # a detection on the difficult object


def test_torchvision_solutions_pass():
    assert _verdict(ch13.check_box_iou, tvops.box_iou).status == "passed"
    # torchvision's NMS does not promise an order for equal scores: it may fail the tie case, and nothing else.
    v = _verdict(ch13.check_nms, tvops.nms)
    assert v.passed >= v.total - 1


@pytest.mark.parametrize("check, exercise_id, n_cases", [
    (ch13.check_box_iou, "13.1", 7), (ch13.check_nms, "13.2", 8),
    (ch13.check_average_precision, "13.3", 7), (ch13.check_voc_match, "13.4", 8),
])
def test_stub_is_not_implemented(check, exercise_id, n_cases):
    def stub(*args):
        raise not_implemented(exercise_id)

    v = _verdict(check, stub)
    assert v.status == "not implemented" and v.points == 0 and v.total == n_cases
    assert str(v).endswith(f"not implemented yet, 0/{ch13.EXERCISES[exercise_id].points:g} points")


def _assert_partial(check, wrong, passed: int):
    v = _verdict(check, wrong)
    assert v.status == "failed", str(v)
    assert v.passed == passed, str(v)
    spec = next(sp for sp in ch13.SPECS.values() if sp.exercise is v.exercise)
    assert v.points == rescored(spec, wrong)
    assert len(v.messages) == 1
    return v


# ----------------------------------------------------------------------------------------------------------------------
# 13.1 pairwise IoU
# ----------------------------------------------------------------------------------------------------------------------
def _iou_parts(b1, b2):
    a1 = (b1[:, 2] - b1[:, 0]) * (b1[:, 3] - b1[:, 1])
    a2 = (b2[:, 2] - b2[:, 0]) * (b2[:, 3] - b2[:, 1])
    w = torch.minimum(b1[:, None, 2], b2[None, :, 2]) - torch.maximum(b1[:, None, 0], b2[None, :, 0])
    h = torch.minimum(b1[:, None, 3], b2[None, :, 3]) - torch.maximum(b1[:, None, 1], b2[None, :, 1])
    return a1[:, None], a2[None, :], w, h


def iou_no_clamp(b1, b2):  # forgets that an empty overlap has width 0
    a1, a2, w, h = _iou_parts(b1, b2)
    return w * h / (a1 + a2 - w * h)


def iou_union_is_sum(b1, b2):  # forgets to subtract the intersection from the union
    a1, a2, w, h = _iou_parts(b1, b2)
    inter = w.clamp(min=0) * h.clamp(min=0)
    return inter / (a1 + a2)


def iou_voc_plus_one(b1, b2):  # the VOC devkit's "+1 pixel" on inclusive integer coordinates
    shifted1 = b1 + torch.tensor([0.0, 0.0, 1.0, 1.0], dtype=b1.dtype)
    shifted2 = b2 + torch.tensor([0.0, 0.0, 1.0, 1.0], dtype=b2.dtype)
    return B.box_iou(shifted1, shifted2)


def iou_float32(b1, b2):  # always answers in float32
    return B.box_iou(b1, b2).float()


def iou_transposed(b1, b2):  # [M, N] instead of [N, M]
    return B.box_iou(b2, b1)


@pytest.mark.parametrize("wrong, passed", [
    (iou_no_clamp, 2),          # two negative overlap widths make a positive "intersection"
    (iou_union_is_sum, 3),      # right only where nothing overlaps (and on empty inputs)
    (iou_voc_plus_one, 3),      # right only where nothing overlaps (and on empty inputs)
    (iou_float32, 6),           # only the float64 case fails
    (iou_transposed, 0),        # [M, N]: every case has N != M
])
def test_box_iou_wrong(wrong, passed):
    v = _assert_partial(ch13.check_box_iou, wrong, passed)
    assert len(_numbers(v.messages[0])) <= 2


def test_box_iou_message_does_not_leak_the_answer():
    v = _verdict(ch13.check_box_iou, iou_voc_plus_one)
    first_case = ch13.SPECS["13.1"].cases()[0].inputs
    expected = {f"{x:.6g}" for x in ch13.SPECS["13.1"].reference(first_case)[0].flatten().tolist()}
    assert "case 'random boxes, 5 x 7'" in v.messages[0]
    assert len(expected & set(_numbers(v.messages[0]))) <= 1  # the first wrong value at most


def test_box_iou_refuses_look_alikes():
    class Sneaky(torch.Tensor):
        def __eq__(self, other):  # noqa: D105 - claims to equal everything
            return True

    class Yes:
        shape = (5, 7)

        def __eq__(self, other):
            return True

    assert _verdict(ch13.check_box_iou, lambda a, b: B.box_iou(a, b).as_subclass(Sneaky)).passed == 0
    assert _verdict(ch13.check_box_iou, lambda a, b: Yes()).passed == 0
    assert _verdict(ch13.check_box_iou, lambda a, b: B.box_iou(a, b).tolist()).passed == 0
    assert _verdict(ch13.check_box_iou, lambda a, b: B.box_iou(a, b).numpy()).passed == 0


def test_box_iou_vandal_cannot_spoil_cases():
    def vandal(a, b):
        out = B.box_iou(a, b)
        a.zero_()
        b.fill_(3.0)
        return out

    assert _verdict(ch13.check_box_iou, vandal).status == "passed"


# ----------------------------------------------------------------------------------------------------------------------
# 13.2 NMS
# ----------------------------------------------------------------------------------------------------------------------
def nms_greater_equal(boxes, scores, thr):  # suppresses at IoU == threshold too
    order = torch.sort(scores, descending=True, stable=True).indices
    iou = B.box_iou(boxes, boxes).tolist()
    kept = []
    for i in order.tolist():
        if all(iou[k][i] < thr for k in kept):
            kept.append(i)
    return torch.tensor(kept, dtype=torch.int64)


def nms_not_greedy(boxes, scores, thr):  # a box is removed by ANY better box, kept or not
    order = torch.sort(scores, descending=True, stable=True).indices
    iou = B.box_iou(boxes[order], boxes[order])
    better = torch.triu(iou > thr, diagonal=1)  # better[i, j]: i outranks j and overlaps it
    return order[~better.any(dim=0)]


def nms_input_order(boxes, scores, thr):  # the right boxes, in the input order
    return N.nms(boxes, scores, thr).sort().values


def nms_unstable(boxes, scores, thr):  # visits equal scores in reverse index order
    flipped = torch.arange(len(scores) - 1, -1, -1)
    return flipped[N.nms(boxes[flipped], scores[flipped], thr)]


def nms_mask(boxes, scores, thr):  # a boolean mask instead of indices
    mask = torch.zeros(len(scores), dtype=torch.bool)
    mask[N.nms(boxes, scores, thr)] = True
    return mask


def nms_int32(boxes, scores, thr):
    return N.nms(boxes, scores, thr).int()


@pytest.mark.parametrize("wrong, passed", [
    (nms_greater_equal, 6),     # fails only IoU == threshold and the threshold-0/1 case
    (nms_not_greedy, 4),        # fails the chain, and wherever a suppressed box overlaps a later one
    (nms_input_order, 5),       # right sets, wrong order (cases already in score order pass)
    (nms_unstable, 7),          # only the tie case
    (nms_mask, 0),              # a boolean mask is refused, even an empty one
    (nms_int32, 0),
])
def test_nms_wrong(wrong, passed):
    _assert_partial(ch13.check_nms, wrong, passed)


def test_nms_messages():
    v = _verdict(ch13.check_nms, nms_input_order)
    assert "wrong order" in v.messages[0]
    v = _verdict(ch13.check_nms, nms_mask)
    assert "boolean mask" in v.messages[0]
    v = _verdict(ch13.check_nms, nms_int32)
    assert "dtype torch.int64" in v.messages[0]


def test_nms_refuses_look_alikes():
    class Sneaky(torch.Tensor):
        def __eq__(self, other):  # noqa: D105
            return True

    assert _verdict(ch13.check_nms, lambda b, s, t: N.nms(b, s, t).as_subclass(Sneaky)).passed == 0
    assert _verdict(ch13.check_nms, lambda b, s, t: N.nms(b, s, t).tolist()).passed == 0


# ----------------------------------------------------------------------------------------------------------------------
# 13.3 AP
# ----------------------------------------------------------------------------------------------------------------------
def ap_no_envelope(recall, precision, method):  # uses raw precision instead of the max over higher recall
    r, p = recall.tolist(), precision.tolist()
    if not r:
        return 0.0
    if method == "voc07":
        vals = []
        for k in range(11):
            idx = [i for i, x in enumerate(r) if x >= k / 10]
            vals.append(p[idx[0]] if idx else 0.0)
        return sum(vals) / 11
    prev, total = 0.0, 0.0
    for x, y in zip(r, p):
        total += (x - prev) * y
        prev = x
    return total


def ap_linspace_thresholds(recall, precision, method):  # thresholds from linspace: 0.30000000000000004 etc.
    if method == "voc07" and recall.numel() > 0:
        ts = torch.linspace(0, 1, 11, dtype=torch.float64)
        return float(torch.stack([precision[recall >= t].max() if bool((recall >= t).any())
                                  else torch.tensor(0.0, dtype=torch.float64) for t in ts]).mean())
    return M.average_precision(recall, precision, method)


def ap_ten_points(recall, precision, method):  # 0.1, ..., 1.0 only: forgets t = 0
    if method == "voc07" and recall.numel() > 0:
        vals = [float(precision[recall >= k / 10].max()) if bool((recall >= k / 10).any()) else 0.0
                for k in range(1, 11)]
        return sum(vals) / 10
    return M.average_precision(recall, precision, method)


def ap_mean_precision(recall, precision, method):  # "average precision" read literally
    return float(precision.mean()) if precision.numel() else 0.0


def ap_swapped_methods(recall, precision, method):
    other = {"voc07": "voc", "voc": "voc07"}[method]
    return M.average_precision(recall, precision, other)


@pytest.mark.parametrize("wrong, passed", [
    (ap_no_envelope, 3),            # right only where precision never rises again (perfect, empty, recall < 0.45)
    (ap_linspace_thresholds, 6),    # fails only the exact-0.3 recall
    (ap_ten_points, 2),
    (ap_mean_precision, 2),         # perfect detector and empty curve
    (ap_swapped_methods, 2),
])
def test_average_precision_wrong(wrong, passed):
    v = _assert_partial(ch13.check_average_precision, wrong, passed)
    assert len(_numbers(v.messages[0])) <= 1  # the learner's own value only


def test_average_precision_message_hides_the_expected_value():
    v = _verdict(ch13.check_average_precision, ap_swapped_methods)
    ex = ch13.worked_example()
    p, r, _ = M.precision_recall_curve(ex["scores"], ex["tp"], ex["num_positives"])
    expected = f"{M.average_precision(r, p, 'voc07'):.6g}"
    assert "case 'the worked example of the theory page'" in v.messages[0]
    assert expected not in v.messages[0] and "too low" in v.messages[0]


def test_average_precision_worked_example_by_fractions():
    ex = ch13.worked_example()
    p, r, _ = M.precision_recall_curve(ex["scores"], ex["tp"], ex["num_positives"])
    assert M.average_precision(r, p, "voc07") == pytest.approx(107 / 154, abs=1e-12)
    assert M.average_precision(r, p, "voc") == pytest.approx(93 / 140, abs=1e-12)
    assert M.average_precision(r, p, "coco") == pytest.approx(472 / 707, abs=1e-12)


def test_average_precision_accepts_numbers_and_refuses_look_alikes():
    class FloatLike:
        def __float__(self):
            return 0.5

        def __eq__(self, other):
            return True

    assert _verdict(ch13.check_average_precision,
                    lambda r, p, m: torch.tensor(M.average_precision(r, p, m))).status == "passed"
    assert _verdict(ch13.check_average_precision,
                    lambda r, p, m: np.float64(M.average_precision(r, p, m))).status == "passed"
    assert _verdict(ch13.check_average_precision, lambda r, p, m: FloatLike()).passed == 0
    assert _verdict(ch13.check_average_precision, lambda r, p, m: [0.5]).passed == 0


# ----------------------------------------------------------------------------------------------------------------------
# 13.4 VOC matching
# ----------------------------------------------------------------------------------------------------------------------
def _with(**changes):
    """A loop matcher with one rule changed."""

    def match(det, scores, gt, difficult, thr):
        out = torch.zeros(det.shape[0], dtype=torch.int64)
        if det.shape[0] == 0 or gt.shape[0] == 0:
            return out
        iou = B.box_iou(det.double(), gt.double())
        taken = torch.zeros(gt.shape[0], dtype=torch.bool)
        if changes.get("input_order"):
            order = range(det.shape[0])
        else:
            order = torch.sort(scores, descending=True, stable=not changes.get("unstable")).indices.tolist()
            if changes.get("unstable"):
                order = sorted(range(det.shape[0]), key=lambda i: (-float(scores[i]), -i))
        for i in order:
            row = iou[i].clone()
            if changes.get("coco"):  # best *unmatched* box
                row[taken] = -1.0
            j = int(torch.argmax(row))
            hit = row[j] >= thr if changes.get("ge") else row[j] > thr
            if not hit:
                continue
            if bool(difficult[j]) and not changes.get("no_difficult"):
                out[i] = 0 if (changes.get("difficult_dup_fp") and taken[j]) else -1
                taken[j] = True
            elif not taken[j]:
                taken[j] = True
                out[i] = 1
        return out

    return match


@pytest.mark.parametrize("changes, passed", [
    ({"no_difficult": True}, 6),        # difficult objects treated as ordinary ones (scene and difficult case)
    ({"difficult_dup_fp": True}, 7),    # a second detection of a difficult object counted as a FP
    ({"coco": True}, 6),                # COCO's rule: the best unmatched object (taken and difficult cases)
    ({"input_order": True}, 5),         # detections visited in the input order, not by score
    ({"unstable": True}, 7),            # equal scores in reverse index order
])
def test_voc_match_wrong(changes, passed):
    v = _assert_partial(ch13.check_voc_match, _with(**changes), passed)
    assert "should be" in v.messages[0]


def test_voc_match_sanity_of_the_variant_helper():
    assert _verdict(ch13.check_voc_match, _with()).status == "passed"


def test_voc_match_accepts_the_devkits_ge():
    """IoU >= threshold (VOCevaldet.m) and IoU > threshold (the paper, py-faster-rcnn) both get full marks."""
    for seed in (None, 0, 1, 2):
        assert ch13.SPECS["13.4"].check(_with(ge=True), quiet=True, seed=seed).status == "passed"


def test_voc_match_message_names_the_detection():
    v = _verdict(ch13.check_voc_match, _with(input_order=True))
    assert "detection " in v.messages[0] and "should be a" in v.messages[0] and ", got " in v.messages[0]


def test_voc_match_refuses_wrong_types():
    ref = lambda *a: M.match_detections(*a, rule="voc")  # noqa: E731
    assert _verdict(ch13.check_voc_match, lambda *a: ref(*a).tolist()).passed == 0
    v = _verdict(ch13.check_voc_match, lambda *a: ref(*a).float())
    assert v.passed == 0 and "dtype torch.int64" in v.messages[0]


def test_checks_survive_anything_the_learner_raises():
    def boom(*args):
        raise ZeroDivisionError("boom")

    for check in (ch13.check_box_iou, ch13.check_nms, ch13.check_average_precision, ch13.check_voc_match):
        v = _verdict(check, boom)
        assert v.status == "failed" and v.passed == 0 and "ZeroDivisionError" in v.messages[0]
        v = _verdict(check, None)
        assert v.status == "failed" and v.passed == 0


def test_verdicts_do_not_depend_on_the_global_rng():
    torch.manual_seed(123)
    a = str(_verdict(ch13.check_nms, nms_not_greedy))
    torch.manual_seed(456)
    torch.rand(1000)
    assert str(_verdict(ch13.check_nms, nms_not_greedy)) == a


@pytest.mark.parametrize("key, wrong", [
    ("13.1", iou_no_clamp), ("13.1", iou_union_is_sum), ("13.1", iou_voc_plus_one), ("13.1", iou_float32),
    ("13.1", iou_transposed),
    ("13.2", nms_greater_equal), ("13.2", nms_not_greedy), ("13.2", nms_input_order), ("13.2", nms_unstable),
    ("13.3", ap_no_envelope), ("13.3", ap_linspace_thresholds), ("13.3", ap_ten_points), ("13.3", ap_swapped_methods),
    ("13.4", _with(no_difficult=True)), ("13.4", _with(difficult_dup_fp=True)),
    ("13.4", _with(coco=True)), ("13.4", _with(input_order=True)), ("13.4", _with(unstable=True)),
])
def test_wrong_answers_fail_on_fresh_cases_too(key, wrong):
    for seed in SEEDS:
        v = ch13.SPECS[key].check(wrong, quiet=True, seed=seed)
        assert v.status == "failed" and 0 < v.total, (seed, str(v))


REFERENCES = {
    "13.1": B.box_iou,
    "13.2": N.nms,
    "13.3": M.average_precision,
    "13.4": lambda *a: M.match_detections(*a, rule="voc"),
}


@pytest.mark.parametrize("key", sorted(REFERENCES))
def test_records_survive_the_graders_round_trip(key):
    """The grader saves the record made in the learner's kernel and loads it with weights_only=True in its own."""
    import io

    records = pytest.importorskip("course_lib.grading.records")
    encode, decode = records.encode, records.decode
    spec = ch13.SPECS[key]

    def boom(*args):
        raise ZeroDivisionError("boom")

    for case in spec.cases(3):
        for fn, ok in ((REFERENCES[key], True), (boom, False)):
            buffer = io.BytesIO()
            torch.save(encode(spec.call((fn,), case.inputs)), buffer)
            buffer.seek(0)
            record = decode(torch.load(buffer, weights_only=True))
            problem = spec.compare(record, spec.reference(case.inputs))
            assert (problem is None) == ok, (case.name, problem)
            if not ok:
                assert "ZeroDivisionError" in problem
