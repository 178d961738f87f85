"""Chapter 14 exercises: YOLOv1 (Redmon et al., *You Only Look Once*, CVPR 2016).

Four graded exercises, each checked on visible and hidden cases (see :mod:`course_lib.exercises.core` for the
declarative form of a check, :class:`~course_lib.exercises.core.ExerciseSpec`), against
:mod:`course_lib.detection.yolo_v1` (the layout of SPEC.md section 8: ``[N, S, S, C + 5B]`` indexed
``[n, row, col]``, per cell ``[C class scores | B confidences | B x (x, y, w, h)]``):

- **14.1** :func:`check_encode_targets`: the target tensor of one image (the cell that holds the centre, the offsets
  inside it, one-hot class, confidence 1 and the box in every predictor slot; the largest box wins a shared cell).
  Reference: :func:`course_lib.detection.yolo_v1.encode_targets`.
- **14.2** :func:`check_responsible_predictor`: which of the B predictors of an object's cell is responsible (the
  highest IoU with the object's box, the first on ties), and those IoUs. Reference:
  :func:`reference_responsible_predictor`, the assignment inside :func:`course_lib.detection.yolo_v1.yolo_v1_loss`
  written as a function of its own.
- **14.3** :func:`check_loss_terms`: the four terms of Eq. (3) given that assignment, and their gradient. Reference:
  :func:`reference_loss_terms`; with :func:`reference_responsible_predictor` it reproduces
  :func:`course_lib.detection.yolo_v1.yolo_v1_loss` term by term (pinned by the unit tests).
- **14.4** :func:`check_decode`: class-specific scores, threshold, class-aware NMS. Reference:
  :func:`course_lib.detection.yolo_v1.decode` with ``strategy="filter_then_nms"``.

Every input is built from its own ``torch.Generator`` (or written out), so a verdict does not depend on the
notebook's random state. A notebook's check runs the fixed cases (``make_cases(None)``); the grader draws fresh cases
of the same kinds from its secret seed, and each kind keeps its edge in fresh cases (three centres in one cell, areas
exactly equal, centres exactly on cell borders, two predictors with the same box, scores exactly at the threshold,
boxes of two classes that only class-aware NMS keeps apart). Failure messages say what is wrong (shape, dtype, which
term, the first wrong entry) without printing the whole expected answer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from course_lib.detection.boxes import box_iou_pairwise
from course_lib.detection.nms import filter_then_nms as _ref_filter_then_nms
from course_lib.detection.nms import nms_then_classify as _ref_nms_then_classify
from course_lib.detection.yolo_v1 import cell_boxes_to_xyxy as _ref_cell_boxes_to_xyxy
from course_lib.detection.yolo_v1 import decode as _ref_decode
from course_lib.detection.yolo_v1 import decode_predictions as _ref_decode_predictions
from course_lib.detection.yolo_v1 import encode_batch as _ref_encode_batch
from course_lib.detection.yolo_v1 import encode_targets as _ref_encode_targets
from course_lib.detection.yolo_v1 import signed_sqrt
from course_lib.detection.yolo_v1 import yolo_v1_loss as _ref_yolo_v1_loss
from course_lib.exercises.core import CaseInput, Exercise, ExerciseSpec, Opaque, Raised, Verdict, capture
from course_lib.exercises.core import compare_tensors, gen as _gen, plain, randint as _randint, scalar_problem
from course_lib.exercises.core import require_inputs as _require, sub_seed as _sub_seed, type_name as _type_name
from course_lib.exercises.core import uniform as _uniform

__all__ = [
    "EXERCISES",
    "SPECS",
    "LOSS_TERMS",
    "reference_responsible_predictor",
    "reference_loss_terms",
    "check_encode_targets",
    "check_responsible_predictor",
    "check_loss_terms",
    "check_decode",
]

EXERCISES: dict[str, Exercise] = {
    "14.1": Exercise("14.1", "Encoding the targets of one image", points=3, difficulty=2, minutes=20),
    "14.2": Exercise("14.2", "The responsible predictor", points=3, difficulty=2, minutes=20),
    "14.3": Exercise("14.3", "The loss, term by term", points=4, difficulty=3, minutes=30),
    "14.4": Exercise("14.4", "Decoding: class-specific scores, threshold, NMS", points=3, difficulty=2, minutes=20),
}

#: The names of the four terms of Eq. (3), in the order of the paper (and of ``yolo_v1_loss(return_terms=True)``).
LOSS_TERMS: tuple[str, ...] = ("coord", "conf_obj", "conf_noobj", "cls")


# ----------------------------------------------------------------------------------------------------------------------
# References for 14.2 and 14.3 (the two halves of yolo_v1_loss, as functions of their own)
# ----------------------------------------------------------------------------------------------------------------------
def _grid_slices(t: Tensor, B: int, C: int) -> tuple[Tensor, Tensor, Tensor]:
    """Class scores ``(..., C)``, confidences ``(..., B)`` and boxes ``(..., B, 4)`` of a ``(..., C + 5B)`` tensor."""
    return t[..., :C], t[..., C : C + B], t[..., C + B :].unflatten(-1, (B, 4))


def reference_responsible_predictor(pred: Tensor, target: Tensor, S: int, B: int, C: int) -> tuple[Tensor, Tensor]:
    """Which predictor of each cell is responsible for the cell's object, and the IoU of every predicted box.

    With every box moved from its cell to the image (:func:`course_lib.detection.yolo_v1.cell_boxes_to_xyxy`,
    negative widths and heights counting as 0),

    .. math::
        \\mathrm{IoU}_{ij} = \\mathrm{IoU}(\\text{box}_{ij}, \\widehat{\\text{box}}_i), \\qquad
        \\mathbb{1}^\\text{obj}_{ij} = \\mathbb{1}^\\text{obj}_i
        \\cdot [\\, j = \\arg\\max_{j'} \\mathrm{IoU}_{ij'} \\,]

    (Section 2.2 of the paper: the predictor "which has the highest current IOU with the ground truth"), the first
    predictor on ties, and an IoU of 0 where the union of the two boxes is empty. :math:`\\mathbb{1}^\\text{obj}_i`
    is "the target confidence of cell :math:`i` is positive"; the target box is the target's first box slot.
    Computed without gradient, exactly as inside :func:`course_lib.detection.yolo_v1.yolo_v1_loss`.

    Args:
        pred, target: ``(N, S, S, C + 5B)``.
        S, B, C: grid size, boxes per cell, number of classes.

    Returns:
        ``responsible`` ``(N, S, S, B)`` bool and ``iou`` ``(N, S, S, B)`` in the dtype of ``pred``.
    """
    with torch.no_grad():
        _, _, p_box = _grid_slices(pred.detach(), B, C)  # (N, S, S, B, 4)
        t_box = target[..., C + B : C + B + 4].unsqueeze(-2).to(pred.dtype)  # (N, S, S, 1, 4)
        p_box = torch.nan_to_num(p_box, nan=0.0)
        iou = box_iou_pairwise(_ref_cell_boxes_to_xyxy(p_box), _ref_cell_boxes_to_xyxy(t_box))  # (N, S, S, B)
        iou = torch.nan_to_num(iou, nan=0.0)  # an empty union: IoU 0
        obj = target[..., C] > 0  # (N, S, S)
        best = iou.argmax(dim=-1)  # (N, S, S): the first maximum on ties
        responsible = F.one_hot(best, B).bool() & obj.unsqueeze(-1)  # (N, S, S, B)
    return responsible, iou


def reference_loss_terms(
    pred: Tensor,
    target: Tensor,
    responsible: Tensor,
    iou: Tensor,
    S: int,
    B: int,
    C: int,
    lambda_coord: float = 5.0,
    lambda_noobj: float = 0.5,
) -> dict[str, Tensor]:
    """The four terms of Eq. (3), each summed over cells and predictors and averaged over the batch.

    .. math::
        \\text{coord} = \\frac{\\lambda_\\text{coord}}{N} \\sum \\mathbb{1}^\\text{obj}_{ij} \\big[(x - \\hat x)^2 +
            (y - \\hat y)^2 + (\\sqrt w - \\sqrt{\\hat w})^2 + (\\sqrt h - \\sqrt{\\hat h})^2\\big], \\quad
        \\text{conf\\_obj} = \\frac1N \\sum \\mathbb{1}^\\text{obj}_{ij} (C_{ij} - \\mathrm{IoU}_{ij})^2,

    .. math::
        \\text{conf\\_noobj} = \\frac{\\lambda_\\text{noobj}}{N} \\sum (1 - \\mathbb{1}^\\text{obj}_{ij}) C_{ij}^2,
        \\quad \\text{cls} = \\frac1N \\sum_i \\mathbb{1}^\\text{obj}_i \\sum_c (p_i(c) - \\hat p_i(c))^2,

    with the square roots of :func:`course_lib.detection.yolo_v1.signed_sqrt` and the rescore target
    :math:`\\hat C_{ij} = \\mathrm{IoU}_{ij}` (detached).

    Args:
        pred, target: ``(N, S, S, C + 5B)``.
        responsible: ``(N, S, S, B)`` bool, :math:`\\mathbb{1}^\\text{obj}_{ij}`.
        iou: ``(N, S, S, B)``, the confidence target of a responsible predictor.
        S, B, C: grid size, boxes per cell, number of classes.
        lambda_coord, lambda_noobj: the weights of the coordinate and the no-object confidence terms.

    Returns:
        ``{"coord", "conf_obj", "conf_noobj", "cls"}``: 0-d tensors in the dtype of ``pred``.
    """
    N = pred.shape[0]
    target = target.to(pred.dtype)
    p_cls, p_conf, p_box = _grid_slices(pred, B, C)
    t_cls, _, t_box_all = _grid_slices(target, B, C)
    t_box = t_box_all[..., :1, :]  # (N, S, S, 1, 4): the first slot (all slots are equal)
    obj = target[..., C] > 0  # (N, S, S) 1^obj_i
    zero = pred.new_zeros(())
    d_xy = (p_box[..., :2] - t_box[..., :2]).square().sum(-1)  # (N, S, S, B)
    d_wh = (signed_sqrt(p_box[..., 2:]) - signed_sqrt(t_box[..., 2:])).square().sum(-1)  # (N, S, S, B)
    coord = lambda_coord * torch.where(responsible, d_xy + d_wh, zero).sum()
    conf_obj = torch.where(responsible, (p_conf - iou.detach().to(pred.dtype)).square(), zero).sum()
    conf_noobj = lambda_noobj * torch.where(responsible, zero, p_conf.square()).sum()
    cls = torch.where(obj.unsqueeze(-1), (p_cls - t_cls).square(), zero).sum()
    return {"coord": coord / N, "conf_obj": conf_obj / N, "conf_noobj": conf_noobj / N, "cls": cls / N}


# ----------------------------------------------------------------------------------------------------------------------
# Helpers shared by the checks
# ----------------------------------------------------------------------------------------------------------------------

def _require_grid(inputs: Mapping[str, Any]) -> tuple[int, int, int]:
    _require(inputs, {"S": int, "B": int, "C": int})
    S, B, C = inputs["S"], inputs["B"], inputs["C"]
    if min(S, B, C) < 1:
        raise ValueError(f"S, B and C must be positive, got S={S}, B={B}, C={C}.")
    return S, B, C


def _require_grid_tensor(t: Tensor, name: str, S: int, B: int, C: int) -> None:
    if not t.is_floating_point() or t.ndim != 4 or tuple(t.shape[1:]) != (S, S, C + 5 * B) or t.shape[0] < 1:
        raise ValueError(f"{name} must be a floating tensor of shape (N >= 1, {S}, {S}, {C + 5 * B}), "
                         f"got {t.dtype} {tuple(t.shape)}.")
    if not bool(torch.isfinite(t).all()):
        raise ValueError(f"{name} must be finite.")


def _validated_by_reference(reference: Callable[[Mapping[str, Any]], Any], inputs: Mapping[str, Any]) -> None:
    try:
        reference(inputs)
    except (TypeError, ValueError) as err:
        raise ValueError(f"the reference rejects this case: {err}") from err


def _box(cx: float, cy: float, w: float, h: float) -> list[float]:
    """xyxy of a box given by its centre and size."""
    return [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]


def _random_boxes(g: torch.Generator, M: int, dtype: torch.dtype = torch.float32, lo: float = 0.08,
                  hi: float = 0.45) -> Tensor:
    """``M`` xyxy boxes inside the unit square, sides in ``[lo, hi]``."""
    wh = lo + (hi - lo) * torch.rand(M, 2, generator=g, dtype=torch.float64)
    xy = torch.rand(M, 2, generator=g, dtype=torch.float64) * (1 - wh)
    return torch.cat([xy, xy + wh], dim=1).to(dtype)


def _in_cell_box(g: torch.Generator, S: int, row: int, col: int, min_side: float = 0.05,
                 max_side: float = 0.4) -> list[float]:
    """A box inside the image whose centre lies strictly inside cell ``(row, col)``."""
    cx = (col + _uniform(g, 0.1, 0.9)) / S
    cy = (row + _uniform(g, 0.1, 0.9)) / S
    w = min(_uniform(g, min_side, max_side), 2 * min(cx, 1 - cx))
    h = min(_uniform(g, min_side, max_side), 2 * min(cy, 1 - cy))
    return _box(cx, cy, w, h)


def _distinct_cells(g: torch.Generator, S: int, k: int) -> list[tuple[int, int]]:
    """``k`` different cells of an ``S x S`` grid, in random order."""
    flat = torch.randperm(S * S, generator=g)[:k].tolist()
    return [(i // S, i % S) for i in flat]


def _random_targets(g: torch.Generator, N: int, S: int, B: int, C: int, max_objects: int = 4,
                    dtype: torch.dtype = torch.float32) -> Tensor:
    """A target batch ``(N, S, S, C + 5B)`` from random boxes and labels (library encoding)."""
    items = []
    for _ in range(N):
        M = _randint(g, 1, max_objects)
        items.append((_random_boxes(g, M, dtype), torch.randint(0, C, (M,), generator=g)))
    return _ref_encode_batch(items, S, B, C)


def _activated(g: torch.Generator, N: int, S: int, B: int, C: int, dtype: torch.dtype = torch.float32) -> Tensor:
    """Predictions like YoloV1Tiny's: softmax class scores, everything else in (0, 1)."""
    raw = 2.0 * torch.randn(N, S, S, C + 5 * B, generator=g, dtype=torch.float64)
    out = torch.cat([raw[..., :C].softmax(-1), torch.sigmoid(raw[..., C:])], dim=-1)
    return out.to(dtype)


def _near_targets(g: torch.Generator, target: Tensor, B: int, C: int, spread: float = 0.15) -> Tensor:
    """Predictions whose boxes lie near the targets' (so that IoUs are mostly positive and predictors differ)."""
    pred = _activated(g, target.shape[0], target.shape[1], B, C, target.dtype)
    box = target[..., C + B :].clone()
    noise = spread * torch.randn(box.shape, generator=g, dtype=torch.float64).to(target.dtype)
    box = (box + noise).clamp(0.02, 0.98)
    obj = (target[..., C] > 0).unsqueeze(-1)
    pred[..., C + B :] = torch.where(obj, box, pred[..., C + B :])
    return pred


def _relative_problem(got: Any, expected: float, dtype: torch.dtype, what: str, rtol: float,
                      atol: float) -> str | None:
    """A real one-element tensor of ``dtype`` close to ``expected`` (the message never shows ``expected``)."""
    return scalar_problem(got, expected, what=what, rtol=rtol, atol=atol, dtype=dtype)


# ----------------------------------------------------------------------------------------------------------------------
# Exercise 14.1: encode_targets
# ----------------------------------------------------------------------------------------------------------------------
def _encode_case(name: str, boxes: Any, labels: Any, S: int, B: int, C: int, hidden: bool,
                 dtype: torch.dtype = torch.float32) -> CaseInput:
    b = boxes if isinstance(boxes, Tensor) else torch.tensor(boxes, dtype=torch.float64).reshape(-1, 4)
    lab = labels if isinstance(labels, Tensor) else torch.tensor(labels, dtype=torch.int64)
    return CaseInput(name, {"boxes": b.to(dtype), "labels": lab.to(torch.int64), "S": S, "B": B, "C": C}, hidden)


def _cases_encode(seed: int | None = None) -> list[CaseInput]:
    """Every case of exercise 14.1 (boxes, labels, S, B, C): the notebook's fixed ones or fresh ones."""
    if seed is None:
        g = _gen(1401)
        # The fixed cases, written out: one object; three objects in three cells; three centres in the cell
        # [0.25, 0.5)^2 of a 4 x 4 grid (small, large, medium: neither "first" nor "last" wins); two boxes of equal
        # area in one cell; centres exactly on cell borders (S = 4, exact in binary); no object; float64.
        one = ([[0.20, 0.30, 0.45, 0.70]], [3])
        three = ([[0.05, 0.05, 0.30, 0.35], [0.50, 0.10, 0.90, 0.40], [0.30, 0.60, 0.60, 0.95]], [7, 0, 19])
        shared = ([[0.30, 0.30, 0.40, 0.40], [0.20, 0.20, 0.60, 0.60], [0.25, 0.25, 0.50, 0.50],
                   [0.70, 0.05, 0.95, 0.20]], [1, 2, 0, 1])
        equal = ([[0.5625, 0.5, 0.6875, 0.75], [0.5, 0.5625, 0.75, 0.6875]], [4, 1])
        border = ([[0.375, 0.125, 0.625, 0.375], [0.625, 0.625, 0.875, 0.875]], [0, 2])
        grid64 = (5, 3, 4)
        edge = torch.cat([_random_boxes(g, 3, torch.float64), torch.tensor([[1.0, 0.30, 1.0, 0.50]],
                                                                           dtype=torch.float64)])
        edge_labels = [0, 3, 2, 1]
        S_one, S_three, S_shared, S_border = 7, 7, 4, 4
    else:
        gs = [_gen(_sub_seed(seed, k)) for k in range(7)]
        S_one = S_three = 7
        S_shared = _randint(gs[2], 3, 6)
        S_border = 2 ** _randint(gs[4], 1, 3)  # 2, 4 or 8: every border k / S is exact in binary
        one = ([_in_cell_box(gs[0], 7, _randint(gs[0], 0, 6), _randint(gs[0], 0, 6))], [_randint(gs[0], 0, 9)])
        cells = _distinct_cells(gs[1], 7, 3)
        three = ([_in_cell_box(gs[1], 7, r, c) for r, c in cells], [_randint(gs[1], 0, 19) for _ in range(3)])
        # Three centres in one cell with three different areas, listed small, large, medium; plus one elsewhere.
        r, c = _distinct_cells(gs[2], S_shared, 1)[0]
        sizes = sorted(_uniform(gs[2], 0.1, 0.4) / S_shared for _ in range(3))  # inside the image from any cell
        shared_boxes = []
        for side in (sizes[0], sizes[2], sizes[1]):
            cx, cy = (c + _uniform(gs[2], 0.2, 0.8)) / S_shared, (r + _uniform(gs[2], 0.2, 0.8)) / S_shared
            shared_boxes.append(_box(cx, cy, side, side))
        other = next(cell for cell in _distinct_cells(gs[2], S_shared, 2) if cell != (r, c))
        shared_boxes.append(_in_cell_box(gs[2], S_shared, *other))
        shared = (shared_boxes, [_randint(gs[2], 0, 2) for _ in range(4)])
        # Two boxes of exactly equal area (a w x h box and an h x w box, dyadic sizes) centred in one cell.
        S_equal = 4
        r, c = _distinct_cells(gs[3], S_equal, 1)[0]
        w, h = _randint(gs[3], 2, 7) / 64, _randint(gs[3], 8, 15) / 64
        cx, cy = (c + 0.5) / S_equal, (r + 0.5) / S_equal
        equal = ([_box(cx + 1 / 64, cy, w, h), _box(cx, cy - 1 / 64, h, w)], [_randint(gs[3], 0, 4), 5])
        # Centres exactly on cell borders: (k / S, m / S) with 0 < k, m < S, dyadic sizes.
        border_boxes = []
        for _ in range(2):
            k, m = _randint(gs[4], 1, S_border - 1), _randint(gs[4], 1, S_border - 1)
            side = min(k, m, S_border - k, S_border - m) / S_border
            border_boxes.append(_box(k / S_border, m / S_border, side, side / 2))
        border = (border_boxes, [_randint(gs[4], 0, 2), _randint(gs[4], 0, 2)])
        grid64 = (_randint(gs[6], 4, 6), _randint(gs[6], 1, 3) * 2 - 1, _randint(gs[6], 3, 6))  # B = 1, 3 or 5
        y = _uniform(gs[6], 0.1, 0.8)
        edge = torch.cat([_random_boxes(gs[6], _randint(gs[6], 1, 4), torch.float64),
                          torch.tensor([[1.0, y, 1.0, y + 0.1]], dtype=torch.float64)])
        edge_labels = torch.randint(0, grid64[2], (edge.shape[0],), generator=gs[6]).tolist()
    S64, B64, C64 = grid64
    empty_grid = (7, 2, 10) if seed is None else (_randint(gs[5], 3, 9), _randint(gs[5], 1, 3), _randint(gs[5], 2, 20))
    return [
        _encode_case("one object (S=7, B=2, C=10)", *one, S_one, 2, 10, False),
        _encode_case("three objects in three cells (S=7, B=2, C=20)", *three, S_three, 2, 20, False),
        _encode_case("three centres in one cell", *shared, S_shared, 2, 3, True),
        _encode_case("two boxes of equal area in one cell", *equal, 4, 2, 6, True),
        _encode_case("centres exactly on cell borders", *border, S_border, 2, 3, True),
        _encode_case("an image without objects", torch.zeros(0, 4), torch.zeros(0, dtype=torch.int64), *empty_grid,
                     True),
        _encode_case(f"float64, S={S64}, B={B64}, C={C64}, a centre on the image's right edge", edge, edge_labels,
                     S64, B64, C64, True, dtype=torch.float64),
    ]


def _call_encode(fns: Sequence[Callable[..., Any]], inputs: Mapping[str, Any]) -> Any:
    (fn,) = fns
    return plain(capture(fn, inputs["boxes"].clone(), inputs["labels"].clone(), inputs["S"], inputs["B"],
                         inputs["C"]))


def _reference_encode(inputs: Mapping[str, Any]) -> Tensor:
    return _ref_encode_targets(inputs["boxes"], inputs["labels"], inputs["S"], inputs["B"], inputs["C"])


def _compare_encode(got: Any, expected: Tensor) -> str | None:
    if type(got) is Raised:
        return got.problem()
    tol = 1e-12 if expected.dtype == torch.float64 else 1e-6
    return compare_tensors(got, expected, rtol=tol, atol=tol, what="target")


def _validate_encode(inputs: Mapping[str, Any]) -> None:
    _require(inputs, {"boxes": Tensor, "labels": Tensor})
    _require_grid(inputs)
    _validated_by_reference(_reference_encode, inputs)


def check_encode_targets(fn: Callable[..., Tensor], *, quiet: bool = False) -> Verdict:
    """Check a learner's ``encode_targets(boxes, labels, S, B, C) -> Tensor (S, S, C + 5B)``, 7 cases (5 hidden).

    Compared with :func:`course_lib.detection.yolo_v1.encode_targets` (rtol 1e-6 in float32), including the dtype
    (that of ``boxes``): every slot of every cell.
    """
    return SPECS["14.1"].check(fn, quiet=quiet)


# ----------------------------------------------------------------------------------------------------------------------
# Exercise 14.2: the responsible predictor
# ----------------------------------------------------------------------------------------------------------------------
def _closer_second(g: torch.Generator | None) -> tuple[Tensor, Tensor]:
    """One object in a 4 x 4 grid, C = 3, B = 2; the second predictor overlaps it better than the first; every
    other predicted box is empty (zeros), so empty cells have two empty boxes (IoU 0/0 -> 0)."""
    S, C = 4, 3
    if g is None:
        row, col, x, y, w, h, label = 1, 2, 0.5, 0.5, 0.25, 0.25, 1
        first, second = [0.1, 0.1, 0.5, 0.5], [0.6, 0.4, 0.2, 0.3]
    else:
        row, col = _randint(g, 0, 3), _randint(g, 0, 3)
        x, y = _uniform(g, 0.2, 0.8), _uniform(g, 0.2, 0.8)
        cx, cy = (col + x) / S, (row + y) / S
        w = min(_uniform(g, 0.15, 0.4), 2 * min(cx, 1 - cx))
        h = min(_uniform(g, 0.15, 0.4), 2 * min(cy, 1 - cy))
        label = _randint(g, 0, 2)
        second = [x + _uniform(g, -0.1, 0.1), y + _uniform(g, -0.1, 0.1), w * _uniform(g, 0.8, 1.2),
                  h * _uniform(g, 0.8, 1.2)]  # close to the object
        first = [x + _uniform(g, 0.35, 0.5) * (1 if x < 0.5 else -1), y, 2.0 * w, 0.5 * h]  # off and misshapen
    cx, cy = (col + x) / S, (row + y) / S
    target = _ref_encode_targets(torch.tensor([_box(cx, cy, w, h)]), torch.tensor([label]), S, 2, C).unsqueeze(0)
    pred = torch.zeros(1, S, S, C + 10)
    pred[0, row, col, C + 2 : C + 6] = torch.tensor(first)
    pred[0, row, col, C + 6 : C + 10] = torch.tensor(second)
    return pred, target


def _no_overlap(g: torch.Generator | None) -> tuple[Tensor, Tensor]:
    """Small objects inside their cells; tiny predicted boxes in two corners of every cell: every IoU is 0."""
    S, B, C = 7, 2, 2
    if g is None:
        boxes = torch.tensor([[0.05, 0.05, 0.09, 0.09], [0.60, 0.60, 0.65, 0.65]])
        labels = torch.tensor([0, 1])
        g = _gen(1425)
    else:
        cells = _distinct_cells(g, S, _randint(g, 1, 3))
        side = 0.4 / S  # the object fills the middle 40% of its cell at most
        boxes = torch.tensor([_box((c + 0.5) / S, (r + 0.5) / S, side * _uniform(g, 0.5, 1.0),
                                   side * _uniform(g, 0.5, 1.0)) for r, c in cells])
        labels = torch.randint(0, C, (len(cells),), generator=g)
    target = _ref_encode_targets(boxes, labels, S, B, C).unsqueeze(0)
    pred = _activated(g, 1, S, B, C)
    pred[..., 6:8] = 0.02  # tiny boxes ...
    pred[..., 10:12] = 0.03
    pred[..., 4:6] = torch.tensor([0.05, 0.95])  # ... in two corners of the cell, away from the object
    pred[..., 8:10] = torch.tensor([0.95, 0.05])
    return pred, target


def _cases_responsible(seed: int | None = None) -> list[CaseInput]:
    """Every case of exercise 14.2 (pred, target, S, B, C): the notebook's fixed ones or fresh ones."""
    gs: list[Any] = [_gen(1420 + k) for k in range(7)] if seed is None else \
        [_gen(_sub_seed(seed, k)) for k in range(7)]
    cases: list[tuple[str, Tensor, Tensor, int, int, int, bool]] = []
    target = _random_targets(gs[0], 2, 7, 2, 10)
    cases.append(("predicted boxes near the objects of two images (S=7, B=2, C=10)",
                  _near_targets(gs[0], target, 2, 10), target, 7, 2, 10, False))
    pred, target = _closer_second(None if seed is None else gs[1])
    cases.append(("one object, the second predictor is closer", pred, target, 4, 2, 3, False))
    # Both predictors of a cell predict the same box: a tie, the first one is responsible.
    target = _random_targets(gs[2], 2, 7, 2, 10)
    pred = _near_targets(gs[2], target, 2, 10)
    pred[..., 16:20] = pred[..., 12:16]
    cases.append(("two predictors with the same box (a tie)", pred, target, 7, 2, 10, True))
    pred, target = _no_overlap(None if seed is None else gs[3])
    cases.append(("no predicted box overlaps its object", pred, target, 7, 2, 2, True))
    # Raw outputs of a linear layer: negative widths are empty boxes (IoU 0, never NaN).
    target = _random_targets(gs[4], 2, 7, 2, 10)
    pred = _near_targets(gs[4], target, 2, 10)
    wh = torch.zeros(20)
    wh[[14, 15, 18, 19]] = 1.0  # the w, h slots of the two boxes
    pred = pred + 0.5 * torch.randn(2, 7, 7, 20, generator=gs[4]) * wh  # some widths and heights < 0
    cases.append(("linear outputs with negative widths", pred, target, 7, 2, 10, True))
    # Nothing to detect: no predictor is responsible.
    n_empty = 3 if seed is None else _randint(gs[5], 1, 4)
    pred = _activated(gs[5], n_empty, 7, 2, 10)
    pred[0, ..., 12:20] = -0.1  # empty predicted boxes in empty cells: IoU 0/0
    cases.append(("images without objects", pred, torch.zeros(n_empty, 7, 7, 20), 7, 2, 10, True))
    S64, B64, C64 = (5, 3, 4) if seed is None else (_randint(gs[6], 4, 7), 3, _randint(gs[6], 2, 6))
    target = _random_targets(gs[6], 3, S64, B64, C64, dtype=torch.float64)
    cases.append((f"float64, S={S64}, B={B64}, C={C64}", _near_targets(gs[6], target, B64, C64), target, S64, B64,
                  C64, True))
    return [CaseInput(name, {"pred": p, "target": t, "S": S, "B": B, "C": C}, hidden)
            for name, p, t, S, B, C, hidden in cases]


def _call_responsible(fns: Sequence[Callable[..., Any]], inputs: Mapping[str, Any]) -> Any:
    (fn,) = fns
    got = capture(fn, inputs["pred"].clone(), inputs["target"].clone(), inputs["S"], inputs["B"], inputs["C"])
    if type(got) is Raised:
        return got
    if type(got) not in (tuple, list) or len(got) != 2:
        return {"pair": False, "type": type(got).__name__}
    return {"pair": True, "responsible": plain(got[0]), "iou": plain(got[1])}


def _reference_responsible(inputs: Mapping[str, Any]) -> dict[str, Tensor]:
    resp, iou = reference_responsible_predictor(inputs["pred"], inputs["target"], inputs["S"], inputs["B"],
                                                inputs["C"])
    return {"responsible": resp, "iou": iou}


def _compare_responsible(record: Any, expected: Mapping[str, Tensor]) -> str | None:
    if type(record) is Raised:
        return record.problem()
    if not record["pair"]:
        return f"the result should be a pair (responsible, iou), got {record['type']}"
    resp, iou = record["responsible"], record["iou"]
    if type(resp) is torch.Tensor and resp.dtype != torch.bool:
        return f"responsible should be a bool tensor, got dtype {resp.dtype}"
    problem = compare_tensors(resp, expected["responsible"], what="responsible mask")
    if problem is not None:
        return problem
    if type(iou) is torch.Tensor and bool(torch.isnan(iou).any()):
        return "the IoU contains NaN: an empty predicted box has IoU 0 with anything (guard the division)"
    tol = 1e-12 if expected["iou"].dtype == torch.float64 else 1e-6
    return compare_tensors(iou, expected["iou"], rtol=tol, atol=tol, what="IoU")


def _validate_responsible(inputs: Mapping[str, Any]) -> None:
    _require(inputs, {"pred": Tensor, "target": Tensor})
    S, B, C = _require_grid(inputs)
    _require_grid_tensor(inputs["pred"], "pred", S, B, C)
    _require_grid_tensor(inputs["target"], "target", S, B, C)
    if inputs["pred"].shape != inputs["target"].shape:
        raise ValueError("pred and target must have the same shape.")


def check_responsible_predictor(fn: Callable[..., Any], *, quiet: bool = False) -> Verdict:
    """Check a learner's ``responsible_predictor(pred, target, S, B, C) -> (responsible, iou)``, 7 cases (5 hidden).

    Expected: :func:`reference_responsible_predictor`: a bool ``(N, S, S, B)`` mask with exactly one ``True`` per
    object cell (the highest IoU, the first on ties) and the IoUs ``(N, S, S, B)`` of every predicted box with its
    cell's target box, 0 when the union is empty, in the predictions' dtype (atol 1e-6 in float32).
    """
    return SPECS["14.2"].check(fn, quiet=quiet)


# ----------------------------------------------------------------------------------------------------------------------
# Exercise 14.3: the loss, term by term
# ----------------------------------------------------------------------------------------------------------------------
def _loss_case(name: str, pred: Tensor, target: Tensor, S: int, B: int, C: int, l_coord: float, l_noobj: float,
               hidden: bool) -> CaseInput:
    resp, iou = reference_responsible_predictor(pred, target, S, B, C)
    return CaseInput(name, {"pred": pred, "target": target, "responsible": resp, "iou": iou, "S": S, "B": B, "C": C,
                            "lambda_coord": float(l_coord), "lambda_noobj": float(l_noobj)}, hidden)


def _cases_loss(seed: int | None = None) -> list[CaseInput]:
    """Every case of exercise 14.3 (pred, target, responsible, iou, S, B, C, lambdas): fixed ones or fresh ones."""
    gs: list[torch.Generator] = [_gen(1430 + k) for k in range(6)] if seed is None else \
        [_gen(_sub_seed(seed, k)) for k in range(6)]
    cases = []
    target = _random_targets(gs[0], 2, 7, 2, 10)
    cases.append(_loss_case("two images, the weights of the paper", _near_targets(gs[0], target, 2, 10), target,
                            7, 2, 10, 5.0, 0.5, False))
    target = _random_targets(gs[1], 3, 7, 2, 10)
    l_coord, l_noobj = (1.0, 2.0) if seed is None else (round(_uniform(gs[1], 0.5, 3.0), 2),
                                                        round(_uniform(gs[1], 1.5, 4.0), 2))
    cases.append(_loss_case(f"other weights (lambda_coord={l_coord:g}, lambda_noobj={l_noobj:g})",
                            _near_targets(gs[1], target, 2, 10), target, 7, 2, 10, l_coord, l_noobj, False))
    n_empty = 2 if seed is None else _randint(gs[2], 1, 4)
    cases.append(_loss_case("images without objects", _activated(gs[2], n_empty, 7, 2, 10),
                            torch.zeros(n_empty, 7, 7, 20), 7, 2, 10, 5.0, 0.5, True))
    # Every cell of a 3 x 3 grid holds an object (a single image: a loss summed over the batch passes only here).
    g = gs[3]
    boxes = torch.tensor([_in_cell_box(g, 3, r, c, 0.1, 0.3) for r in range(3) for c in range(3)])
    target = _ref_encode_targets(boxes, torch.randint(0, 4, (9,), generator=g), 3, 2, 4).unsqueeze(0)
    cases.append(_loss_case("every cell holds an object", _near_targets(g, target, 2, 4), target, 3, 2, 4, 5.0, 0.5,
                            True))
    # Linear outputs: negative widths, confidences outside [0, 1].
    target = _random_targets(gs[4], 2, 7, 2, 10)
    pred = _near_targets(gs[4], target, 2, 10) + 0.4 * torch.randn(2, 7, 7, 20, generator=gs[4])
    cases.append(_loss_case("linear outputs (negative widths)", pred, target, 7, 2, 10, 5.0, 0.5, True))
    S64, B64, C64 = (5, 3, 4) if seed is None else (_randint(gs[5], 4, 7), 3, _randint(gs[5], 2, 6))
    target = _random_targets(gs[5], 3, S64, B64, C64, dtype=torch.float64)
    cases.append(_loss_case(f"float64, S={S64}, B={B64}, C={C64}", _near_targets(gs[5], target, B64, C64), target,
                            S64, B64, C64, 5.0, 0.5, True))
    return cases


def _call_loss(fns: Sequence[Callable[..., Any]], inputs: Mapping[str, Any]) -> Any:
    (fn,) = fns
    leaf = inputs["pred"].clone().requires_grad_(True)
    got = capture(fn, leaf, inputs["target"].clone(), inputs["responsible"].clone(), inputs["iou"].clone(),
                  inputs["S"], inputs["B"], inputs["C"], inputs["lambda_coord"], inputs["lambda_noobj"])
    if type(got) is Raised:
        return got
    if not isinstance(got, Mapping):
        return {"mapping": False, "type": type(got).__name__}
    values = {key: capture(got.__getitem__, key) for key in LOSS_TERMS if capture(got.__contains__, key) is True}
    record: dict[str, Any] = {"mapping": True, "terms": {key: plain(v) for key, v in values.items()}}
    if len(values) == len(LOSS_TERMS) and all(type(v) is torch.Tensor and v.numel() == 1 for v in values.values()):
        record["requires_grad"] = all(v.requires_grad for v in values.values())
        if record["requires_grad"]:
            total = sum(torch.Tensor.reshape(v, ()) for v in values.values())
            grads = capture(torch.autograd.grad, total, leaf, allow_unused=True)
            record["grad"] = grads if type(grads) is Raised else plain(grads[0])
    return record


def _reference_loss(inputs: Mapping[str, Any]) -> dict[str, Any]:
    leaf = inputs["pred"].clone().requires_grad_(True)
    terms = reference_loss_terms(leaf, inputs["target"], inputs["responsible"], inputs["iou"], inputs["S"],
                                 inputs["B"], inputs["C"], inputs["lambda_coord"], inputs["lambda_noobj"])
    (grad,) = torch.autograd.grad(sum(terms.values()), leaf)
    return {"terms": {k: float(v.detach()) for k, v in terms.items()}, "grad": grad, "dtype": leaf.dtype}


def _compare_loss(record: Any, expected: Mapping[str, Any]) -> str | None:
    if type(record) is Raised:
        return record.problem()
    if not record["mapping"]:
        return f"the result should be a dict of the four terms {list(LOSS_TERMS)}, got {record['type']}"
    missing = [k for k in LOSS_TERMS if k not in record["terms"]]
    if missing:
        return f"the result has no term(s) {missing}: expected keys {list(LOSS_TERMS)}"
    dtype = expected["dtype"]
    rtol, atol = (1e-10, 1e-12) if dtype == torch.float64 else (2e-5, 1e-6)
    for key in LOSS_TERMS:
        problem = _relative_problem(record["terms"][key], expected["terms"][key], dtype, f"'{key}' term", rtol, atol)
        if problem is not None:
            return problem
    if not record.get("requires_grad", False):
        return "the loss is not differentiable with respect to pred (no grad_fn): keep every term a tensor"
    grad = record["grad"]
    if type(grad) is Raised:
        return grad.problem()
    if grad is None:
        return "the loss does not depend on pred in autograd's eyes"
    if type(grad) is not torch.Tensor or not bool(torch.isfinite(grad).all()):
        return "the gradient with respect to pred is not finite (NaN or inf): check the square roots"
    g_rtol, g_atol = (1e-9, 1e-12) if dtype == torch.float64 else (1e-4, 1e-6)
    return compare_tensors(grad, expected["grad"], rtol=g_rtol, atol=g_atol, what="gradient of the loss w.r.t. pred")


def _validate_loss(inputs: Mapping[str, Any]) -> None:
    _require(inputs, {"pred": Tensor, "target": Tensor, "responsible": Tensor, "iou": Tensor,
                      "lambda_coord": float, "lambda_noobj": float})
    S, B, C = _require_grid(inputs)
    _require_grid_tensor(inputs["pred"], "pred", S, B, C)
    _require_grid_tensor(inputs["target"], "target", S, B, C)
    shape = (*inputs["pred"].shape[:3], B)
    if inputs["responsible"].dtype != torch.bool or tuple(inputs["responsible"].shape) != shape:
        raise ValueError(f"responsible must be a bool tensor of shape {shape}.")
    if tuple(inputs["iou"].shape) != shape or inputs["iou"].dtype != inputs["pred"].dtype:
        raise ValueError(f"iou must have shape {shape} and the dtype of pred.")
    _validated_by_reference(_reference_loss, inputs)


def check_loss_terms(fn: Callable[..., Any], *, quiet: bool = False) -> Verdict:
    """Check a learner's ``yolo_loss_terms(pred, target, responsible, iou, S, B, C, lambda_coord, lambda_noobj)``,
    6 cases (4 hidden).

    ``responsible`` and ``iou`` are given (from :func:`reference_responsible_predictor`), so this check does not
    depend on exercise 14.2. Expected: a dict with the 0-d tensors ``"coord"``, ``"conf_obj"``, ``"conf_noobj"``,
    ``"cls"`` of :func:`reference_loss_terms` (rtol 2e-5 in float32), and the gradient of their sum with respect to
    ``pred`` (rtol 1e-4, atol 1e-6 in float32).
    """
    return SPECS["14.3"].check(fn, quiet=quiet)


# ----------------------------------------------------------------------------------------------------------------------
# Exercise 14.4: decoding, filter then NMS
# ----------------------------------------------------------------------------------------------------------------------
def _at_threshold(g: torch.Generator | None) -> tuple[Tensor, float]:
    """A 4 x 4 grid (B = 2, C = 2) whose scores are all exactly ``a * b`` (the threshold) or below, but one above.

    ``a`` (a confidence) and ``b`` (a class probability) are multiples of 1/8, so their product is exact."""
    a, b = (0.5, 0.5) if g is None else (_randint(g, 3, 7) / 8, _randint(g, 3, 6) / 8)
    pred = torch.zeros(1, 4, 4, 12)
    pred[..., 0], pred[..., 1] = b, b / 2  # the best class is 0, with probability b
    pred[..., 2:4] = torch.tensor([a, a / 2])  # scores a b (= the threshold: dropped) and a b / 2
    pred[..., 4:12] = torch.tensor([0.5, 0.5, 0.2, 0.2, 0.5, 0.5, 0.1, 0.1])
    row, col = (2, 1) if g is None else (_randint(g, 0, 3), _randint(g, 0, 3))
    pred[0, row, col, 2] = min(1.0, a + 0.125)  # one predictor clearly above the threshold
    return pred, a * b


def _two_classes(g: torch.Generator | None) -> Tensor:
    """A 2 x 2 grid, B = 1, C = 3: box A (class 0, score 0.81), box B of another class with IoU 0.64 with A, box C
    of A's class with IoU 0.62 with A. Class-aware NMS keeps A and B; class-agnostic NMS would keep A alone. Fresh
    cases flip the grid, permute the classes and scale the scores (the IoUs do not change)."""
    pred = torch.zeros(1, 2, 2, 3 + 5)
    pred[0, 0, 0] = torch.tensor([0.9, 0.05, 0.05, 0.9, 0.5, 0.5, 0.9, 0.9])
    pred[0, 0, 1] = torch.tensor([0.1, 0.8, 0.1, 0.8, 0.05, 0.5, 0.9, 0.9])
    pred[0, 1, 0] = torch.tensor([0.85, 0.1, 0.05, 0.7, 0.55, 0.05, 0.9, 0.9])
    if g is None:
        return pred
    if _randint(g, 0, 1):  # mirror left-right: col -> 1 - col, x -> 1 - x
        pred = pred.flip(2)
        pred[..., 4] = torch.where(pred[..., 3] > 0, 1 - pred[..., 4], pred[..., 4])
    if _randint(g, 0, 1):  # mirror top-bottom
        pred = pred.flip(1)
        pred[..., 5] = torch.where(pred[..., 3] > 0, 1 - pred[..., 5], pred[..., 5])
    pred[..., :3] = pred[..., :3][..., torch.randperm(3, generator=g)]
    pred[..., 3] = pred[..., 3] * _uniform(g, 0.8, 1.1)
    return pred


def _cases_decode(seed: int | None = None) -> list[CaseInput]:
    """Every case of exercise 14.4 (pred, S, B, C, thresholds): the notebook's fixed ones or fresh ones."""
    gs: list[torch.Generator] = [_gen(1450 + k) for k in range(7)] if seed is None else \
        [_gen(_sub_seed(seed, k)) for k in range(7)]
    fresh = seed is not None
    cases = []
    target = _random_targets(gs[0], 2, 7, 2, 10)
    pred = _near_targets(gs[0], target, 2, 10, spread=0.05)
    pred[..., 10:12] = torch.where(target[..., 10:12] > 0, 0.5 + 0.5 * pred[..., 10:12], 0.3 * pred[..., 10:12])
    cases.append(("predictions near the objects of two images", pred, 7, 2, 10, 0.2, 0.4, False))
    low = round(_uniform(gs[1], 0.03, 0.08), 3) if fresh else 0.05
    cases.append((f"random predictions, a low threshold ({low:g})", _activated(gs[1], 2, 7, 2, 10), 7, 2, 10, low,
                  0.5, False))
    pred, threshold = _at_threshold(gs[2] if fresh else None)
    cases.append(("scores exactly at the threshold", pred, 4, 2, 2, threshold, 0.5, True))
    cases.append(("overlapping boxes of different classes (B=1)", _two_classes(gs[3] if fresh else None), 2, 1, 3,
                  0.2, 0.5, True))
    cases.append(("nothing above the threshold", 0.1 * _activated(gs[4], 2, 7, 2, 10), 7, 2, 10, 0.2, 0.4, True))
    pred = _activated(gs[5], 2, 7, 2, 10) + 0.6 * torch.randn(2, 7, 7, 20, generator=gs[5])
    cases.append(("linear outputs (negative widths, boxes leaving the image)", pred, 7, 2, 10, 0.2, 0.4, True))
    S64, B64, C64 = (5, 3, 4) if not fresh else (_randint(gs[6], 4, 7), 3, _randint(gs[6], 2, 6))
    iou64 = 0.3 if not fresh else round(_uniform(gs[6], 0.2, 0.6), 2)
    cases.append((f"float64, S={S64}, B={B64}, C={C64}", _activated(gs[6], 3, S64, B64, C64, torch.float64), S64,
                  B64, C64, 0.1, iou64, True))
    return [CaseInput(name, {"pred": p, "S": S, "B": B, "C": C, "conf_threshold": float(ct),
                             "iou_threshold": float(it)}, hidden) for name, p, S, B, C, ct, it, hidden in cases]


def _call_decode(fns: Sequence[Callable[..., Any]], inputs: Mapping[str, Any]) -> Any:
    (fn,) = fns
    got = capture(fn, inputs["pred"].clone(), inputs["S"], inputs["B"], inputs["C"], inputs["conf_threshold"],
                  inputs["iou_threshold"])
    if type(got) is Raised:
        return got
    if type(got) not in (list, tuple):
        return {"list": False, "type": type(got).__name__}
    items = []
    for item in got:
        if not isinstance(item, Mapping):
            items.append({"mapping": False, "type": type(item).__name__})
            continue
        entry: dict[str, Any] = {"mapping": True}
        for key in ("boxes", "scores", "labels"):
            has = capture(item.__contains__, key) is True
            entry[key] = plain(capture(item.__getitem__, key)) if has else Opaque("missing")
        items.append(entry)
    return {"list": True, "items": items}


def _reference_decode(inputs: Mapping[str, Any]) -> list[dict[str, Tensor]]:
    return _ref_decode(inputs["pred"], inputs["S"], inputs["B"], inputs["C"], inputs["conf_threshold"],
                       inputs["iou_threshold"], strategy="filter_then_nms")


def _compare_decode(record: Any, expected: list[dict[str, Tensor]]) -> str | None:
    if type(record) is Raised:
        return record.problem()
    if not record["list"]:
        return f"the result should be a list of dicts (one per image), got {record['type']}"
    items = record["items"]
    if len(items) != len(expected):
        return f"the result should have one dict per image ({len(expected)}), got {len(items)}"
    for n, (g, e) in enumerate(zip(items, expected)):
        if not g["mapping"] or any(type(g[k]) is Opaque and g[k].type_name == "missing"
                                   for k in ("boxes", "scores", "labels")):
            return f"image {n}: each result should be a dict with 'boxes', 'scores' and 'labels'"
        for key in ("boxes", "scores", "labels"):
            if type(g[key]) is Raised:
                return g[key].problem()
            if type(g[key]) is not torch.Tensor:
                return f"image {n}: '{key}' should be a torch.Tensor, got {_type_name(g[key])}"
        if g["scores"].shape[:1] != e["scores"].shape[:1]:
            return (f"image {n}: {g['scores'].shape[0] if g['scores'].ndim else 1} detections, expected "
                    f"{e['scores'].shape[0]} (check the threshold, strictly above it, and that NMS runs per class)")
        tol = 1e-12 if e["scores"].dtype == torch.float64 else 1e-6
        for key in ("labels", "scores", "boxes"):
            problem = compare_tensors(g[key], e[key], rtol=tol, atol=tol, what=f"'{key}' of image {n}")
            if problem is not None:
                sorted_hint = key != "boxes" and "at index" in problem
                return problem + (" (detections are sorted by decreasing score)" if sorted_hint else "")
    return None


def _validate_decode(inputs: Mapping[str, Any]) -> None:
    _require(inputs, {"pred": Tensor, "conf_threshold": float, "iou_threshold": float})
    S, B, C = _require_grid(inputs)
    _require_grid_tensor(inputs["pred"], "pred", S, B, C)
    _, confidences, class_probs = _ref_decode_predictions(inputs["pred"], S, B, C)
    s = confidences * class_probs.max(dim=-1).values  # (N, P): the score of each box's best class
    for n in range(s.shape[0]):
        kept = s[n][s[n] > inputs["conf_threshold"]]
        if kept.unique().numel() != kept.numel():
            raise ValueError("two kept detections of one image have equal scores: their order would be ambiguous.")
    _validated_by_reference(_reference_decode, inputs)


def check_decode(fn: Callable[..., Any], *, quiet: bool = False) -> Verdict:
    """Check a learner's ``decode_filter_then_nms(pred, S, B, C, conf_threshold, iou_threshold)``, 7 cases (5 hidden).

    Expected: :func:`course_lib.detection.yolo_v1.decode` with ``strategy="filter_then_nms"``: per image a dict of
    ``boxes`` ``(K, 4)`` xyxy in [0, 1] (clipped), ``scores`` ``(K,)`` and ``labels`` ``(K,)`` int64, sorted by
    decreasing score (no ties among kept scores in these cases), compared entry by entry (atol 1e-6 in float32).
    """
    return SPECS["14.4"].check(fn, quiet=quiet)


SPECS: dict[str, ExerciseSpec] = {
    "14.1": ExerciseSpec(EXERCISES["14.1"], ("encode_targets",), _cases_encode, _call_encode, _reference_encode,
                         _compare_encode, references=(_ref_encode_targets, _ref_encode_batch),
                         forbidden_modules=("course_lib.detection.yolo_v1",), validate=_validate_encode,
                         weights={2: 2, 3: 2, 4: 2}, keys=(2, 3, 4)),
    "14.2": ExerciseSpec(EXERCISES["14.2"], ("responsible_predictor",), _cases_responsible, _call_responsible,
                         _reference_responsible, _compare_responsible,
                         references=(reference_responsible_predictor, _ref_yolo_v1_loss),
                         forbidden_modules=("course_lib.detection.yolo_v1",), validate=_validate_responsible,
                         weights={1: 2, 2: 2, 4: 2, 5: 2}, keys=(1, 2, 4, 5)),
    "14.3": ExerciseSpec(EXERCISES["14.3"], ("yolo_loss_terms",), _cases_loss, _call_loss, _reference_loss,
                         _compare_loss, references=(reference_loss_terms, _ref_yolo_v1_loss),
                         validate=_validate_loss, weights={1: 2, 3: 2, 4: 2}, keys=(1, 3, 4)),
    "14.4": ExerciseSpec(EXERCISES["14.4"], ("decode_filter_then_nms",), _cases_decode, _call_decode,
                         _reference_decode, _compare_decode,
                         references=(_ref_decode, _ref_decode_predictions, _ref_cell_boxes_to_xyxy,
                                     _ref_filter_then_nms, _ref_nms_then_classify),
                         validate=_validate_decode, weights={2: 2, 3: 2}, keys=(2, 3)),
}
