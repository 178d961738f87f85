"""Chapter 16 exercises: YOLOv3 (Redmon & Farhadi, *YOLOv3: An Incremental Improvement*, 2018).

Three graded exercises, each checked on visible and hidden cases (the declarative form of
:class:`~course_lib.exercises.core.ExerciseSpec`), against :mod:`course_lib.detection.yolo_v3`:

- **16.1** :func:`check_assign_scales`: which scale and which anchor slot each object goes to: the best of *all*
  anchors by (w, h)-IoU, then the mask holding it. Reference: :func:`course_lib.detection.yolo_v3.assign_scales`.
  The cases mix boxes whose nearest anchor by width and height (Euclidean) or by area is not their best by IoU,
  and masks in other orders than the paper's (so that ``2 - k // 3`` is not the scale).
- **16.2** :func:`check_encode_box`: the target of one box: scale, slot, cell and :math:`(\\hat x, \\hat y,
  \\hat t_w, \\hat t_h)` with :math:`\\hat t_w = \\log(w / p_w)` for the anchor of that slot of that scale.
  Reference: :func:`reference_encode_box`, one box of :func:`course_lib.detection.yolo_v3.build_targets`.
- **16.3** :func:`check_class_loss`: the class term, independent logistic classifiers with binary cross-entropy
  summed over boxes and classes, and its gradient :math:`\\sigma(z) - y`. Reference: :func:`reference_class_loss`
  (the ``"cls"`` term of :func:`course_lib.detection.yolo_v3.yolo_v3_loss` for given positives).

Every input comes from its own ``torch.Generator`` (or is written out), so a verdict does not depend on the
notebook's random state; the grader draws fresh cases of the same kinds from its seed. Case weights are fixed per
kind (:data:`WEIGHTS`) and stated in the lab.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from course_lib.detection.anchors import wh_iou
from course_lib.detection.yolo_v3 import YOLOV3_ANCHORS, YOLOV3_MASKS, YOLOV3_STRIDES
from course_lib.detection.yolo_v3 import assign_scales as _ref_assign_scales
from course_lib.detection.yolo_v3 import build_targets as _ref_build_targets
from course_lib.detection.yolo_v3 import yolo_v3_loss as _ref_yolo_v3_loss
from course_lib.exercises._random import gen as _gen, randint as _randint, sub_seed as _sub_seed, uniform as _uniform
from course_lib.exercises.core import (
    CaseInput,
    Exercise,
    ExerciseSpec,
    Raised,
    Verdict,
    capture,
    compare_tensors,
    plain,
)
from course_lib.exercises.core import require_inputs as _require, type_name as _type_name

__all__ = [
    "EXERCISES",
    "SPECS",
    "WEIGHTS",
    "reference_encode_box",
    "reference_class_loss",
    "check_assign_scales",
    "check_encode_box",
    "check_class_loss",
]

EXERCISES: dict[str, Exercise] = {
    "16.1": Exercise("16.1", "Which scale and which anchor", points=3, difficulty=2, minutes=20),
    "16.2": Exercise("16.2", "The target of one box", points=3, difficulty=2, minutes=20),
    "16.3": Exercise("16.3", "Independent logistic class scores", points=3, difficulty=2, minutes=15),
}

#: the weight of each case kind, in the order of the cases (stated in the lab's exercise statements).
WEIGHTS: dict[str, tuple[float, ...]] = {
    "16.1": (1.0, 2.0, 3.0, 3.0, 1.0, 1.0, 1.0),
    "16.2": (1.0, 1.0, 2.0, 2.0, 1.0, 1.0),
    "16.3": (1.0, 3.0, 3.0, 1.0, 1.0, 1.0),
}


# ----------------------------------------------------------------------------------------------------------------------
# Exercise 16.1: assign_scales
# ----------------------------------------------------------------------------------------------------------------------
def _traps(g: torch.Generator, anchors: Tensor, n: int, dtype: torch.dtype) -> Tensor:
    """``n`` box sizes whose best anchor by (w, h)-IoU is neither the nearest by Euclidean distance on (w, h), nor the
    nearest by area, nor the best by intersection over the larger area (drawn at random, kept if they are such traps),
    with a clear margin between the two best IoUs."""
    out: list[list[float]] = []
    a = anchors.to(torch.float64)
    lo, hi = math.log(float(a.min()) * 0.6), math.log(float(a.max()) * 1.3)
    while len(out) < n:
        wh = torch.exp(lo + (hi - lo) * torch.rand(64, 2, generator=g, dtype=torch.float64))
        iou = wh_iou(wh, a)
        top = iou.topk(2, dim=1).values
        best = iou.argmax(1)
        euclid = torch.cdist(wh, a).argmin(1)
        by_area = (wh.prod(1, keepdim=True).log() - a.prod(1).log()).abs().argmin(1)
        inter = torch.minimum(wh[:, None], a[None]).prod(-1)
        by_max_area = (inter / torch.maximum(wh.prod(1, keepdim=True), a.prod(1)[None])).argmax(1)
        keep = (best != euclid) & (best != by_area) & (best != by_max_area) & (top[:, 0] - top[:, 1] > 0.02)
        out += wh[keep].tolist()
    return torch.tensor(out[:n], dtype=torch.float64).round(decimals=2).to(dtype)


def _plain_sizes(g: torch.Generator, anchors: Tensor, n: int, dtype: torch.dtype) -> Tensor:
    a = anchors.to(torch.float64)
    lo, hi = math.log(float(a.min()) * 0.5), math.log(float(a.max()) * 1.5)
    return torch.exp(lo + (hi - lo) * torch.rand(n, 2, generator=g, dtype=torch.float64)).round(decimals=2).to(dtype)


def _assign_case(name: str, wh: Tensor, anchors: Tensor, masks: Sequence[Sequence[int]], hidden: bool,
                 weight: float) -> CaseInput:
    return CaseInput(name, {"wh": wh, "anchors": anchors, "masks": [list(m) for m in masks]}, hidden, weight)


def _cases_assign(seed: int | None = None) -> list[CaseInput]:
    """Every case of exercise 16.1: the notebook's fixed ones (``seed=None``) or fresh ones of the same kinds."""
    gs = [_gen(1601 + k) if seed is None else _gen(_sub_seed(seed, k)) for k in range(7)]
    w = WEIGHTS["16.1"]
    A = YOLOV3_ANCHORS.to(torch.float32)
    paper = torch.tensor([[100.0, 80.0], [12.0, 12.0], [50.0, 50.0], [400.0, 400.0], [30.0, 60.0]])
    first = paper if seed is None else _plain_sizes(gs[0], A, 5, torch.float32)
    first = torch.cat([first, _traps(gs[0], A, 2, torch.float32)])
    reversed_masks = [list(m) for m in reversed(YOLOV3_MASKS)]  # stride 8's anchors first
    interleaved = [[0, 3, 6], [1, 4, 7], [2, 5, 8]]
    if seed is not None:  # fresh cases: the same kinds of mask orders, permuted
        order = torch.randperm(3, generator=gs[3]).tolist()
        interleaved = [interleaved[k] for k in order]
    # Six anchors in two scales (YOLOv4-tiny-sized), in grid units of a 13 x 13 grid.
    six = (torch.tensor([[10, 14], [23, 27], [37, 58], [81, 82], [135, 169], [344, 319]], dtype=torch.float32) / 32)
    if seed is not None:
        six = six * _uniform(gs[4], 0.8, 1.25)
    two_scales = [[3, 4, 5], [0, 1, 2]]
    a64 = YOLOV3_ANCHORS * (1.0 if seed is None else _uniform(gs[5], 0.2, 1.0))
    perm = torch.randperm(9, generator=gs[5]).tolist()
    masks64 = [perm[0:3], perm[3:6], perm[6:9]]
    return [
        _assign_case("the paper's anchors and masks, seven boxes", first, A, YOLOV3_MASKS, False, w[0]),
        _assign_case("boxes whose nearest anchor in (w, h) or in area is not the best by IoU",
                     _traps(gs[1], A, 6, torch.float32), A, YOLOV3_MASKS, False, w[1]),
        _assign_case("masks listed from stride 8 to stride 32", torch.cat([_traps(gs[2], A, 3, torch.float32),
                     _plain_sizes(gs[2], A, 5, torch.float32)]), A, reversed_masks, True, w[2]),
        _assign_case("masks that interleave small and large anchors", torch.cat([_traps(gs[3], A, 3, torch.float32),
                     _plain_sizes(gs[3], A, 5, torch.float32)]), A, interleaved, True, w[3]),
        _assign_case("six anchors in grid units, two scales", torch.cat([_traps(gs[4], six, 2, torch.float32),
                     _plain_sizes(gs[4], six, 4, torch.float32)]), six, two_scales, True, w[4]),
        _assign_case("float64, 40 boxes, masks in another order", torch.cat([_traps(gs[5], a64, 10, torch.float64),
                     _plain_sizes(gs[5], a64, 30, torch.float64)]), a64, masks64, True, w[5]),
        _assign_case("no boxes", torch.zeros(0, 2), A, YOLOV3_MASKS, True, w[6]),
    ]


def _masks_tuple(masks: Any) -> tuple[tuple[int, ...], ...]:
    return tuple(tuple(int(k) for k in m) for m in masks)


def _call_assign(fns: Sequence[Callable[..., Any]], inputs: Mapping[str, Any]) -> Any:
    (fn,) = fns
    got = capture(fn, inputs["wh"].clone(), inputs["anchors"].clone(), _masks_tuple(inputs["masks"]))
    if type(got) is Raised:
        return got
    if type(got) not in (tuple, list) or len(got) != 2:
        return {"pair": False, "type": type(got).__name__}
    return {"pair": True, "scale": plain(got[0]), "slot": plain(got[1])}


def _reference_assign(inputs: Mapping[str, Any]) -> dict[str, Tensor]:
    scale, slot = _ref_assign_scales(inputs["wh"], inputs["anchors"], _masks_tuple(inputs["masks"]))
    return {"scale": scale, "slot": slot}


def _compare_int_tensor(got: Any, expected: Tensor, what: str) -> str | None:
    if type(got) is not torch.Tensor:
        return f"{what} should be a torch.Tensor, got {_type_name(got)}"
    if got.dtype != torch.int64:
        return f"{what} should be int64 (indices), got {got.dtype}"
    return compare_tensors(got, expected, rtol=0, atol=0, what=what)


def _compare_assign(record: Any, expected: Mapping[str, Tensor]) -> str | None:
    if type(record) is Raised:
        return record.problem()
    if not record["pair"]:
        return f"the result should be a pair (scale, slot) of tensors, got {record['type']}"
    return (_compare_int_tensor(record["scale"], expected["scale"], "scale")
            or _compare_int_tensor(record["slot"], expected["slot"], "slot"))


def _validate_assign(inputs: Mapping[str, Any]) -> None:
    _require(inputs, {"wh": Tensor, "anchors": Tensor, "masks": list})
    try:
        _reference_assign(inputs)
    except (TypeError, ValueError) as err:
        raise ValueError(f"the reference rejects this case: {err}") from err


def check_assign_scales(fn: Callable[..., Any], *, quiet: bool = False) -> Verdict:
    """Check a learner's ``assign_scales(wh, anchors, masks) -> (scale, slot)``, 7 cases (5 hidden), int64 indices
    compared exactly with :func:`course_lib.detection.yolo_v3.assign_scales`."""
    return SPECS["16.1"].check(fn, quiet=quiet)


# ----------------------------------------------------------------------------------------------------------------------
# Exercise 16.2: the target of one box
# ----------------------------------------------------------------------------------------------------------------------
def reference_encode_box(box: Tensor, anchors: Tensor, masks: Sequence[Sequence[int]],
                         strides: Sequence[int]) -> tuple[int, int, int, int, Tensor]:
    """The YOLOv3 target of one box, as :func:`course_lib.detection.yolo_v3.build_targets` writes it.

    .. math::
        (s, j) = \\text{assign\\_scales}(w, h), \\quad (p_w, p_h) = \\text{anchors}[\\text{masks}[s][j]], \\quad
        \\text{col} = \\lfloor b_x / \\sigma_s \\rfloor, \\quad \\text{row} = \\lfloor b_y / \\sigma_s \\rfloor,

    .. math::
        \\hat x = b_x / \\sigma_s - \\text{col}, \\quad \\hat y = b_y / \\sigma_s - \\text{row}, \\quad
        \\hat t_w = \\log(w / p_w), \\quad \\hat t_h = \\log(h / p_h).

    Args:
        box: ``(4,)`` xyxy in pixels, positive width and height.
        anchors: ``(K, 2)`` pixel anchors; masks, strides: per scale.

    Returns:
        ``(scale, slot, row, col, t)`` with four ints and ``t`` ``(4,)`` in the dtype of ``box``.
    """
    x1, y1, x2, y2 = box.to(torch.float64).tolist()
    w, h = x2 - x1, y2 - y1
    scale, slot = (int(v[0]) for v in _ref_assign_scales(torch.tensor([[w, h]], dtype=torch.float64),
                                                         anchors.to(torch.float64), masks))
    stride = strides[scale]
    pw, ph = anchors.to(torch.float64)[masks[scale][slot]].tolist()
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    col, row = math.floor(cx / stride), math.floor(cy / stride)
    t = torch.tensor([cx / stride - col, cy / stride - row, math.log(w / pw), math.log(h / ph)], dtype=box.dtype)
    return scale, slot, row, col, t


def _box_for(g: torch.Generator, anchors: Tensor, masks: Sequence[Sequence[int]], strides: Sequence[int],
             size: int, scale: int, wider: bool | None = None) -> list[float]:
    """A box inside a ``size`` image whose best anchor lies in ``masks[scale]`` (drawn until one does)."""
    for _ in range(1000):
        k = masks[scale][_randint(g, 0, len(masks[scale]) - 1)]
        pw, ph = anchors[k].tolist()
        f = _uniform(g, 1.05, 1.3) if wider else _uniform(g, 0.75, 0.95) if wider is False else _uniform(g, 0.8, 1.2)
        w, h = pw * f, ph * _uniform(g, 0.85, 1.15)
        if w >= size or h >= size:
            continue
        cx, cy = _uniform(g, w / 2, size - w / 2), _uniform(g, h / 2, size - h / 2)
        box = [round(cx - w / 2, 2), round(cy - h / 2, 2), round(cx + w / 2, 2), round(cy + h / 2, 2)]
        found = reference_encode_box(torch.tensor(box, dtype=torch.float64), anchors, masks, strides)
        if found[0] == scale and (wider is None or (float(found[4][2]) > 0) == wider):
            return box
    raise RuntimeError("no box found for this scale")  # pragma: no cover


def _encode_case(name: str, box: list[float], anchors: Tensor, masks: Any, strides: Any, hidden: bool,
                 weight: float, dtype: torch.dtype = torch.float32) -> CaseInput:
    return CaseInput(name, {"box": torch.tensor(box, dtype=torch.float64).to(dtype), "anchors": anchors.to(dtype),
                            "masks": [list(m) for m in masks], "strides": list(strides)}, hidden, weight)


def _cases_encode(seed: int | None = None) -> list[CaseInput]:
    """Every case of exercise 16.2 (box, anchors, masks, strides)."""
    gs = [_gen(1621 + k) if seed is None else _gen(_sub_seed(seed, k)) for k in range(6)]
    w = WEIGHTS["16.2"]
    A, M, S = YOLOV3_ANCHORS, YOLOV3_MASKS, YOLOV3_STRIDES
    first = [150.0, 80.0, 250.0, 160.0] if seed is None else _box_for(gs[0], A, M, S, 416, 0)
    second = [203.0, 301.0, 216.0, 318.0] if seed is None else _box_for(gs[1], A, M, S, 416, 2)
    # The middle scale, a box wider than its anchor (a positive t_w) and one narrower (negative).
    mid_wide = _box_for(gs[2], A, M, S, 416, 1, wider=True)
    mid_narrow = _box_for(gs[3], A, M, S, 416, 1, wider=False)
    # A centre exactly on a cell border (x = 5 strides, y = 7 strides of the middle scale): the cell to its right.
    k = 4 if seed is None else M[1][_randint(gs[4], 0, 2)]
    pw, ph = A[k].tolist()
    c5, c7 = (5, 7) if seed is None else (_randint(gs[4], 4, 18), _randint(gs[4], 4, 18))
    border = [16 * c5 - pw / 2, 16 * c7 - ph / 2, 16 * c5 + pw / 2, 16 * c7 + ph / 2]
    # Two scales of another network (strides 32 and 16, six anchors), float64.
    six = torch.tensor([[10, 14], [23, 27], [37, 58], [81, 82], [135, 169], [344, 319]], dtype=torch.float64)
    masks2, strides2 = [[3, 4, 5], [0, 1, 2]], [32, 16]
    other = _box_for(gs[5], six, masks2, strides2, 416, _randint(gs[5], 0, 1) if seed is not None else 1)
    return [
        _encode_case("a box at stride 32 (the worked example at 416)" if seed is None else "a box at stride 32",
                     first, A, M, S, False, w[0]),
        _encode_case("a small box at stride 8", second, A, M, S, False, w[1]),
        _encode_case("stride 16, a box wider than its anchor", mid_wide, A, M, S, True, w[2]),
        _encode_case("stride 16, a box narrower than its anchor", mid_narrow, A, M, S, True, w[3]),
        _encode_case("a centre exactly on a cell border", border, A, M, S, True, w[4]),
        _encode_case("float64, six anchors on two scales", other, six, masks2, strides2, True, w[5], torch.float64),
    ]


def _as_int(x: Any) -> int | None:
    if type(x) is int:
        return x
    if type(x) is torch.Tensor and x.numel() == 1 and not x.is_floating_point() and x.dtype != torch.bool:
        return int(x.reshape(()).item())
    return None


def _call_encode(fns: Sequence[Callable[..., Any]], inputs: Mapping[str, Any]) -> Any:
    (fn,) = fns
    got = capture(fn, inputs["box"].clone(), inputs["anchors"].clone(), _masks_tuple(inputs["masks"]),
                  tuple(inputs["strides"]))
    if type(got) is Raised:
        return got
    if type(got) not in (tuple, list) or len(got) != 5:
        return {"five": False, "type": type(got).__name__}
    return {"five": True, "ints": [plain(v) for v in got[:4]], "t": plain(got[4])}


def _reference_encode(inputs: Mapping[str, Any]) -> dict[str, Any]:
    scale, slot, row, col, t = reference_encode_box(inputs["box"], inputs["anchors"], _masks_tuple(inputs["masks"]),
                                                    tuple(inputs["strides"]))
    return {"ints": [scale, slot, row, col], "t": t}


def _compare_encode(record: Any, expected: Mapping[str, Any]) -> str | None:
    if type(record) is Raised:
        return record.problem()
    if not record["five"]:
        return f"the result should be a tuple (scale, slot, row, col, t), got {record['type']}"
    for name, got, want in zip(("scale", "slot", "row", "col"), record["ints"], expected["ints"]):
        value = _as_int(got)
        if value is None:
            return f"{name} should be an int, got {_type_name(got)}"
        if value != want:
            return f"{name} is {value}, which is not right for this box"
    t = expected["t"]
    tol = 1e-9 if t.dtype == torch.float64 else 2e-6
    problem = compare_tensors(record["t"], t, rtol=tol, atol=tol, what="t = (x^, y^, t_w, t_h)")
    if problem is not None and type(record["t"]) is torch.Tensor and record["t"].shape == t.shape:
        names = ("x^", "y^", "t_w", "t_h")
        bad = next(i for i in range(4) if abs(float(record["t"][i]) - float(t[i])) > tol * (1 + abs(float(t[i]))))
        return f"{names[bad]} is wrong: got {float(record['t'][bad]):.6g}"
    return problem


def _validate_encode(inputs: Mapping[str, Any]) -> None:
    _require(inputs, {"box": Tensor, "anchors": Tensor, "masks": list, "strides": list})
    try:
        _reference_encode(inputs)
    except (TypeError, ValueError, IndexError) as err:
        raise ValueError(f"the reference rejects this case: {err}") from err


def check_encode_box(fn: Callable[..., Any], *, quiet: bool = False) -> Verdict:
    """Check a learner's ``encode_box(box, anchors, masks, strides) -> (scale, slot, row, col, t)``, 6 cases
    (4 hidden): the four ints exactly, ``t`` within 2e-6 in float32 (1e-9 in float64), in the dtype of ``box``."""
    return SPECS["16.2"].check(fn, quiet=quiet)


# ----------------------------------------------------------------------------------------------------------------------
# Exercise 16.3: the class loss with independent logistic classifiers
# ----------------------------------------------------------------------------------------------------------------------
def reference_class_loss(logits: Tensor, targets: Tensor) -> Tensor:
    """Binary cross-entropy of independent logistic classifiers, summed over boxes and classes.

    .. math::
        \\mathcal L_\\text{cls} = -\\sum_{p} \\sum_{c=1}^C \\big[\\hat p_c \\log \\sigma(s_c) +
        (1 - \\hat p_c) \\log(1 - \\sigma(s_c))\\big], \\qquad
        \\frac{\\partial \\mathcal L_\\text{cls}}{\\partial s_c} = \\sigma(s_c) - \\hat p_c,

    computed from the logits (``binary_cross_entropy_with_logits``), finite for any logit. It is the ``"cls"`` term
    of :func:`course_lib.detection.yolo_v3.yolo_v3_loss` (times the batch size) for these positives.

    Args:
        logits: ``(P, C)`` class logits of the predictions responsible for objects.
        targets: ``(P, C)`` in [0, 1]: 1 for each class the object has (several for multi-label data).

    Returns:
        a 0-d tensor in the dtype of ``logits``.
    """
    return F.binary_cross_entropy_with_logits(logits, targets.to(logits.dtype), reduction="sum")


def _one_hot(g: torch.Generator, P: int, C: int, dtype: torch.dtype) -> Tensor:
    return F.one_hot(torch.randint(0, C, (P,), generator=g), C).to(dtype)


def _cls_case(name: str, logits: Tensor, targets: Tensor, hidden: bool, weight: float) -> CaseInput:
    return CaseInput(name, {"logits": logits, "targets": targets.to(logits.dtype)}, hidden, weight)


def _cases_class(seed: int | None = None) -> list[CaseInput]:
    """Every case of exercise 16.3 (logits, targets)."""
    gs = [_gen(1631 + k) if seed is None else _gen(_sub_seed(seed, k)) for k in range(6)]
    w = WEIGHTS["16.3"]
    cases = []
    # Three boxes, one class each, C = 5; one confidently wrong logit (+25 for a class the box is not).
    z = 2.0 * torch.randn(3, 5, generator=gs[0])
    y = _one_hot(gs[0], 3, 5, torch.float32)
    wrong = int((y[0] == 0).nonzero()[0, 0])
    z[0, wrong] = 25.0
    cases.append(_cls_case("three boxes, one class each", z, y, False, w[0]))
    # Multi-label: boxes with two classes at once ("person" and "woman"); softmax cannot say yes to both.
    z = 2.0 * torch.randn(4, 6, generator=gs[1])
    y = _one_hot(gs[1], 4, 6, torch.float32)
    for p in range(4):
        second = (int(y[p].argmax()) + 1 + _randint(gs[1], 0, 4)) % 6
        y[p, second] = 1.0
    z[y > 0] += 2.0
    z[2, int((y[2] == 0).nonzero()[0, 0])] = 32.0  # one confident false positive
    cases.append(_cls_case("boxes with two labels each (multi-label)", z, y, False, w[1]))
    # Saturated logits in float32: sigma(30) rounds to 1, so log(1 - sigma) of the naive formula is -inf.
    z = torch.tensor([[30.0, -30.0, 4.0], [-40.0, 40.0, 0.3]])  # no logit exactly 0 (a kink of max(z, 0))
    y = torch.tensor([[0.0, 1.0, 1.0], [1.0, 0.0, 0.0]])
    if seed is not None:
        z = z * _uniform(gs[2], 0.8, 1.3)
        z[:, 2] = torch.randn(2, generator=gs[2])
    cases.append(_cls_case("confident logits (|z| >= 30), right and wrong", z, y, True, w[2]))
    z = 3.0 * torch.randn(8, 20, generator=gs[3], dtype=torch.float64)
    z[0, 0] = 45.0
    cases.append(_cls_case("float64, 8 boxes, 20 classes", z, _one_hot(gs[3], 8, 20, torch.float64), True, w[3]))
    # Soft targets (label smoothing 0.1 over C = 4, as chapter 17 uses): y in {0.025, 0.925}.
    y = _one_hot(gs[4], 5, 4, torch.float32) * 0.9 + 0.1 / 4
    z = 2.0 * torch.randn(5, 4, generator=gs[4])
    z[1, int(y[1].argmin())] = 28.0  # confidently wrong, in float32 sigma(28) rounds to 1
    cases.append(_cls_case("soft targets (label smoothing)", z, y, True, w[4]))
    cases.append(_cls_case("no box responsible for an object", torch.zeros(0, 7), torch.zeros(0, 7), True, w[5]))
    return cases


def _call_class(fns: Sequence[Callable[..., Any]], inputs: Mapping[str, Any]) -> Any:
    (fn,) = fns
    leaf = inputs["logits"].clone().requires_grad_(True)
    got = capture(fn, leaf, inputs["targets"].clone())
    if type(got) is Raised:
        return got
    record: dict[str, Any] = {"value": plain(got)}
    if type(got) is torch.Tensor and got.numel() == 1:
        record["requires_grad"] = bool(got.requires_grad)
        if got.requires_grad:
            grads = capture(torch.autograd.grad, torch.Tensor.reshape(got, ()), leaf, allow_unused=True)
            record["grad"] = grads if type(grads) is Raised else plain(grads[0])
    return record


def _reference_class(inputs: Mapping[str, Any]) -> dict[str, Any]:
    leaf = inputs["logits"].clone().requires_grad_(True)
    loss = reference_class_loss(leaf, inputs["targets"])
    (grad,) = torch.autograd.grad(loss, leaf) if leaf.numel() else (torch.zeros_like(leaf),)
    return {"value": float(loss.detach()), "grad": grad, "dtype": leaf.dtype, "empty": leaf.numel() == 0}


def _compare_class(record: Any, expected: Mapping[str, Any]) -> str | None:
    if type(record) is Raised:
        return record.problem()
    got = record["value"]
    dtype = expected["dtype"]
    if type(got) is not torch.Tensor:
        return f"the loss should be a torch.Tensor (0-d), got {_type_name(got)}"
    if got.numel() != 1:
        return f"the loss should be a single number (a 0-d tensor), got shape {tuple(got.shape)}"
    if got.dtype != dtype:
        return f"the loss should have the logits' dtype {dtype}, got {got.dtype}"
    value = float(got.reshape(()).to(torch.float64))
    if math.isnan(value) or math.isinf(value):
        return f"the loss is {value}: compute it from the logits so that it stays finite for confident logits"
    want = expected["value"]
    rtol, atol = (1e-10, 1e-12) if dtype == torch.float64 else (1e-5, 1e-5)
    if abs(value - want) > atol + rtol * abs(want):
        rel = abs(value - want) / max(abs(want), 1e-12)
        return f"the loss is wrong: got {value:.6g}, a relative error of {rel:.2g}"
    if expected["empty"]:
        return None
    if not record.get("requires_grad", False):
        return "the loss is not differentiable with respect to the logits (no grad_fn)"
    grad = record.get("grad")
    if type(grad) is Raised:
        return grad.problem()
    if type(grad) is not torch.Tensor:
        return "the loss does not depend on the logits in autograd's eyes"
    g_tol = (1e-9, 1e-12) if dtype == torch.float64 else (1e-4, 1e-6)
    return compare_tensors(grad, expected["grad"], rtol=g_tol[0], atol=g_tol[1],
                           what="gradient of the loss w.r.t. the logits")


def _validate_class(inputs: Mapping[str, Any]) -> None:
    _require(inputs, {"logits": Tensor, "targets": Tensor})
    z, y = inputs["logits"], inputs["targets"]
    if not z.is_floating_point() or z.ndim != 2 or y.shape != z.shape or y.dtype != z.dtype:
        raise ValueError("logits and targets must be floating tensors of the same shape (P, C) and dtype.")
    if not bool(torch.isfinite(z).all()) or bool(((y < 0) | (y > 1)).any()):
        raise ValueError("logits must be finite and targets in [0, 1].")


def check_class_loss(fn: Callable[..., Any], *, quiet: bool = False) -> Verdict:
    """Check a learner's ``class_loss(logits, targets) -> 0-d tensor``, 6 cases (4 hidden): the value (rtol 1e-5 in
    float32) and the gradient with respect to the logits (rtol 1e-4)."""
    return SPECS["16.3"].check(fn, quiet=quiet)


SPECS: dict[str, ExerciseSpec] = {
    "16.1": ExerciseSpec(EXERCISES["16.1"], ("assign_scales",), _cases_assign, _call_assign, _reference_assign,
                         _compare_assign, references=(_ref_assign_scales, _ref_build_targets),
                         forbidden_modules=("course_lib.detection.yolo_v3",), validate=_validate_assign),
    "16.2": ExerciseSpec(EXERCISES["16.2"], ("encode_box",), _cases_encode, _call_encode, _reference_encode,
                         _compare_encode, references=(_ref_build_targets, reference_encode_box),
                         validate=_validate_encode),
    "16.3": ExerciseSpec(EXERCISES["16.3"], ("class_loss",), _cases_class, _call_class, _reference_class,
                         _compare_class, references=(_ref_yolo_v3_loss, reference_class_loss),
                         forbidden_modules=("course_lib.detection.yolo_v3",), validate=_validate_class),
}
