"""Non-maximum suppression, and the two ways of turning a detector's per-box class probabilities into detections.

Greedy NMS (the rule of ``torchvision.ops.nms``): visit the boxes by decreasing score; keep a box unless a box kept
before it overlaps it with IoU **strictly greater** than the threshold (IoU equal to the threshold is kept).

How this module computes it without a Python loop over boxes. Sort the boxes by score and write

.. math::
    O_{ij} = [\\, i < j \\text{ and } \\mathrm{IoU}(b_i, b_j) > \\tau \\,]

("box :math:`i` outranks box :math:`j` and overlaps it too much"). The greedy result is the unique vector
:math:`k \\in \\{0, 1\\}^N` with

.. math::
    k_j = 1 \\iff \\text{no } i \\text{ has } k_i = 1 \\text{ and } O_{ij} = 1,

unique because :math:`O` is strictly upper triangular: :math:`k_0 = 1`, and each :math:`k_j` is fixed by the
:math:`k_i` with :math:`i < j`. So the fixed-point iteration :math:`k \\leftarrow \\lnot (O^\\top k > 0)`, started
from all ones, is exact once it stops changing: after :math:`t` sweeps every box whose decision depends on a chain
of at most :math:`t` earlier decisions is final. Each sweep is one vectorized boolean matrix-vector product.

To bound the memory, the sorted boxes are processed in blocks of ``block_size`` rows (the idea of torchvision's
CUDA kernel). For each block: the boxes of the block that earlier blocks already removed are dropped (a removed box
suppresses nothing); the IoU of the remaining ones with every box from the block on is computed once; the block's
own decisions are settled by the fixed-point iteration above; and the block's kept boxes then remove the later boxes
they overlap.

Complexity, :math:`N` boxes, :math:`K` kept, block size :math:`T`: at most :math:`N^2/2` IoU evaluations (each pair
once), about :math:`K N` when most boxes are removed before their block comes; :math:`O(T N)` memory;
:math:`\\lceil N/T \\rceil` blocks, each settled in :math:`d + 1` sweeps of :math:`O(T^2)`, where :math:`d \\le T` is
the longest chain of dependent decisions inside the block (a handful in practice; a row of boxes each overlapping
only the next is the worst case, tested). The Python loop runs over blocks, never over boxes. torchvision's C++
kernel does the same pair work in a tight sequential loop and is faster on a CPU (``benchmarks/bench_nms.py``
measures by how much); this version is for reading.

The post-processing orders of YOLO are :func:`filter_then_nms` (class-specific scores, threshold, class-aware NMS)
and :func:`nms_then_classify` (darknet: per-class NMS on the class-specific scores, then each box takes its best
remaining class); :func:`orders_differ_example` gives a small input on which they disagree.

References: torchvision ``ops.nms``/``ops.batched_nms``; Redmon et al., *You Only Look Once*, CVPR 2016 (Section 2,
class-specific confidence scores); darknet ``do_nms_sort`` (per-class NMS that zeroes the suppressed scores).
"""

from __future__ import annotations

import torch
from torch import Tensor

from course_lib.detection.boxes import box_iou, check_boxes

__all__ = [
    "nms",
    "batched_nms",
    "filter_then_nms",
    "nms_then_classify",
    "orders_differ_example",
]

# Rows per block. Small blocks let the removals of one block skip more rows of the next (measured best on a CPU,
# 2 cores: 128); on a GPU each block costs a few kernel launches and a synchronisation, so larger blocks pay.
_BLOCK_SIZE_CPU = 128
_BLOCK_SIZE_GPU = 512
# batched_nms: above this many boxes, one NMS per category beats the offset trick (torchvision's thresholds).
_OFFSET_MAX_BOXES_CPU = 1_000
_OFFSET_MAX_BOXES_GPU = 25_000


# --------------------------------------------------------------------------------------------------------------
# Input checks
# --------------------------------------------------------------------------------------------------------------
def _check_threshold(value: object, name: str) -> float:
    if isinstance(value, Tensor):
        if value.numel() != 1:
            raise ValueError(f"{name} must be a number, got a tensor of shape {tuple(value.shape)}.")
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a float, got {type(value).__name__}.")
    value = float(value)
    if value != value:  # NaN
        raise ValueError(f"{name} must not be NaN.")
    return value


def _check_scores(scores: object, n: int, name: str = "scores") -> Tensor:
    if not isinstance(scores, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(scores).__name__}.")
    if not scores.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {scores.dtype}.")
    if scores.ndim != 1 or scores.shape[0] != n:
        raise ValueError(f"{name} must have shape [N] = [{n}] (one per box), got {tuple(scores.shape)}.")
    nan = torch.isnan(scores)
    if bool(nan.any()):
        raise ValueError(f"{name} contains NaN (first at index {int(nan.nonzero()[0, 0])}).")
    return scores


def _check_nms_inputs(boxes: object, scores: object, iou_threshold: object) -> tuple[Tensor, Tensor, float]:
    boxes = check_boxes(boxes, "boxes")
    if boxes.ndim != 2:
        raise ValueError(f"boxes must have shape [N, 4], got {tuple(boxes.shape)}.")
    scores = _check_scores(scores, boxes.shape[0])
    if scores.device != boxes.device:
        raise ValueError(f"boxes and scores must be on the same device, got {boxes.device} and {scores.device}.")
    return boxes, scores, _check_threshold(iou_threshold, "iou_threshold")


# --------------------------------------------------------------------------------------------------------------
# Greedy NMS, vectorized
# --------------------------------------------------------------------------------------------------------------
def _settle(overlap: Tensor, alive: Tensor) -> Tensor:
    """Greedy decisions inside one block by the fixed-point iteration.

    Args:
        overlap: ``Tensor[T, T]`` bool, strictly upper triangular: ``overlap[i, j]`` = box i outranks box j and
            their IoU exceeds the threshold.
        alive: ``Tensor[T]`` bool, the boxes not already removed by earlier blocks.

    Returns:
        ``Tensor[T]`` bool, the kept boxes: :math:`k_j = a_j \\wedge \\lnot \\exists i: k_i \\wedge O_{ij}`.
    """
    keep = alive.clone()
    while True:
        hit = (overlap & keep[:, None]).any(dim=0)  # (T,): some currently-kept box above j overlaps j
        new_keep = alive & ~hit
        if torch.equal(new_keep, keep):  # a fixed point, hence the unique (greedy) one
            return keep
        keep = new_keep


def _greedy_keep(sorted_boxes: Tensor, iou_threshold: float, block_size: int | None = None) -> Tensor:
    """Keep mask (``Tensor[N]`` bool) of greedy NMS on boxes already sorted by decreasing score."""
    n = sorted_boxes.shape[0]
    device = sorted_boxes.device
    if block_size is None:
        block_size = _BLOCK_SIZE_CPU if device.type == "cpu" else _BLOCK_SIZE_GPU
    keep = torch.zeros(n, dtype=torch.bool, device=device)
    removed = torch.zeros(n, dtype=torch.bool, device=device)
    for start in range(0, n, block_size):
        stop = min(start + block_size, n)
        # Only the block's boxes not yet removed can still be kept (and suppress others): their IoU with every box
        # from the block on is computed once; higher-ranked boxes were settled by the earlier blocks.
        rows = start + torch.nonzero(~removed[start:stop]).flatten()  # (A,) indices, A <= T
        if rows.numel() == 0:
            continue
        iou = box_iou(sorted_boxes[rows], sorted_boxes[start:])  # (A, N - start)
        cols = torch.arange(start, n, device=device)
        overlap = (iou > iou_threshold) & (cols[None, :] > rows[:, None])  # i outranks j and IoU_ij > tau
        alive = torch.ones(rows.numel(), dtype=torch.bool, device=device)
        rows_keep = _settle(overlap[:, rows - start], alive)  # (A,): greedy decisions among the alive rows
        keep[rows] = rows_keep
        # The block's kept boxes remove every later box they overlap too much.
        removed[start:] |= (overlap & rows_keep[:, None]).any(dim=0)
    return keep


def nms(boxes: Tensor, scores: Tensor, iou_threshold: float) -> Tensor:
    """Greedy non-maximum suppression, with ``torchvision.ops.nms``'s semantics.

    Visit the boxes by decreasing score; box :math:`j` is suppressed when a box :math:`i` kept before it has

    .. math::
        \\mathrm{IoU}(b_i, b_j) > \\tau

    (strictly: an IoU equal to :math:`\\tau` does not suppress). Computed without a loop over boxes (see the module
    docstring: blocks of an IoU matrix and a fixed-point iteration).

    Args:
        boxes: ``Tensor[N, 4]`` xyxy (validated: no NaN, :math:`x_2 \\ge x_1`, :math:`y_2 \\ge y_1`).
        scores: ``Tensor[N]`` floating point, no NaN.
        iou_threshold: :math:`\\tau`; :math:`\\tau \\ge 1` keeps every box (an IoU never exceeds 1), :math:`\\tau < 0`
            keeps only the best (every pair has IoU :math:`\\ge 0`), except that a pair of zero-area boxes has
            IoU NaN, which suppresses nothing (as in torchvision).

    Returns:
        ``Tensor[K]`` int64 on ``boxes.device``: indices of the kept boxes, sorted by decreasing score. Equal scores
        are visited in index order (a stable sort); torchvision does not promise an order for ties.
    """
    boxes, scores, iou_threshold = _check_nms_inputs(boxes, scores, iou_threshold)
    if boxes.shape[0] == 0:
        return torch.empty(0, dtype=torch.int64, device=boxes.device)
    order = torch.sort(scores, descending=True, stable=True).indices  # (N,) int64
    keep = _greedy_keep(boxes[order], iou_threshold)  # (N,) bool, in score order
    return order[keep]


def batched_nms(
    boxes: Tensor, scores: Tensor, idxs: Tensor, iou_threshold: float, *, strategy: str | None = None
) -> Tensor:
    """Class-aware NMS: boxes of different categories never suppress each other (``torchvision.ops.batched_nms``).

    The coordinate trick (``strategy="offset"``): shift every box of category :math:`c` by :math:`c \\cdot s` on both axes, with
    :math:`s` larger than the extent of all the boxes, so boxes of different categories cannot overlap, then run one
    :func:`nms`:

    .. math::
        b' = b + c\\,s\\,(1, 1, 1, 1), \\qquad s = \\max(0, \\max b) - \\min(0, \\min b) + 1

    For non-negative coordinates :math:`s = \\max b + 1`, torchvision's offset (so the shifted boxes, and their
    rounding, are the same); the :math:`\\min` term also separates boxes with negative coordinates, where
    torchvision's offset does not. The shifted coordinates are computed in at least float32; with very large
    offsets (many categories and large coordinates) their rounding can move an IoU that sits exactly at the
    threshold by one ulp.

    One NMS over all the boxes still compares boxes of different categories, only to find IoU 0: wasted work when
    there are many boxes and categories. ``strategy="per_class"`` runs one :func:`nms` per category instead (a
    Python loop over the categories, not the boxes) and merges the results. The default picks as torchvision does:
    the offset trick up to 1,000 boxes on a CPU (25,000 elsewhere), one NMS per category above.

    Args:
        boxes: ``Tensor[N, 4]`` xyxy.
        scores: ``Tensor[N]``.
        idxs: ``Tensor[N]`` integer category of each box (any integers).
        iou_threshold: as in :func:`nms`.
        strategy: ``"offset"``, ``"per_class"`` or ``None`` (choose by size). Both give the same boxes.

    Returns:
        ``Tensor[K]`` int64 indices into ``boxes``, sorted by decreasing score.
    """
    boxes, scores, iou_threshold = _check_nms_inputs(boxes, scores, iou_threshold)
    if not isinstance(idxs, Tensor):
        raise TypeError(f"idxs must be a torch.Tensor of category indices, got {type(idxs).__name__}.")
    if idxs.is_floating_point() or idxs.is_complex() or idxs.dtype == torch.bool:
        raise TypeError(f"idxs must be an integer tensor, got dtype {idxs.dtype}.")
    if idxs.shape != scores.shape:
        raise ValueError(f"idxs must have shape [N] = [{boxes.shape[0]}], got {tuple(idxs.shape)}.")
    if idxs.device != boxes.device:
        raise ValueError(f"boxes and idxs must be on the same device, got {boxes.device} and {idxs.device}.")
    if strategy not in (None, "offset", "per_class"):
        raise ValueError(f"strategy must be 'offset', 'per_class' or None, got {strategy!r}.")
    n = boxes.shape[0]
    if n == 0:
        return torch.empty(0, dtype=torch.int64, device=boxes.device)
    if strategy is None:
        limit = _OFFSET_MAX_BOXES_CPU if boxes.device.type == "cpu" else _OFFSET_MAX_BOXES_GPU
        strategy = "offset" if n <= limit else "per_class"
    if strategy == "per_class":
        keep = torch.zeros(n, dtype=torch.bool, device=boxes.device)
        for c in torch.unique(idxs):  # a loop over categories
            members = torch.nonzero(idxs == c).flatten()
            keep[members[nms(boxes[members], scores[members], iou_threshold)]] = True
        kept = torch.nonzero(keep).flatten()
        return kept[torch.sort(scores[kept], descending=True, stable=True).indices]
    b = boxes if boxes.dtype in (torch.float32, torch.float64) else boxes.float()
    span = b.max().clamp(min=0) - b.min().clamp(max=0) + 1  # s: wider than every box, on both axes
    shifted = b + (idxs.to(b.dtype) * span)[:, None]  # (N, 4): category c moved by c * s
    return nms(shifted, scores, iou_threshold)


# --------------------------------------------------------------------------------------------------------------
# From per-box class probabilities to detections: the two orders
# --------------------------------------------------------------------------------------------------------------
def _check_postprocess_inputs(
    boxes: object, confidences: object, class_probs: object, conf_threshold: object, iou_threshold: object
) -> tuple[Tensor, Tensor, Tensor, float, float]:
    boxes = check_boxes(boxes, "boxes")
    if boxes.ndim != 2:
        raise ValueError(f"boxes must have shape [N, 4], got {tuple(boxes.shape)}.")
    n = boxes.shape[0]
    confidences = _check_scores(confidences, n, "confidences")
    if not isinstance(class_probs, Tensor):
        raise TypeError(f"class_probs must be a torch.Tensor, got {type(class_probs).__name__}.")
    if not class_probs.is_floating_point():
        raise TypeError(f"class_probs must be a floating-point tensor, got dtype {class_probs.dtype}.")
    if class_probs.ndim != 2 or class_probs.shape[0] != n or class_probs.shape[1] == 0:
        raise ValueError(f"class_probs must have shape [N, C] = [{n}, C] with C >= 1, got {tuple(class_probs.shape)}.")
    if bool(torch.isnan(class_probs).any()):
        raise ValueError("class_probs contains NaN.")
    for t, name in ((confidences, "confidences"), (class_probs, "class_probs")):
        if t.device != boxes.device:
            raise ValueError(f"boxes and {name} must be on the same device, got {boxes.device} and {t.device}.")
    return (
        boxes,
        confidences,
        class_probs,
        _check_threshold(conf_threshold, "conf_threshold"),
        _check_threshold(iou_threshold, "iou_threshold"),
    )


def _detections(boxes: Tensor, scores: Tensor, labels: Tensor) -> dict[str, Tensor]:
    """Detections sorted by decreasing score (stable), as a dict of boxes [K, 4], scores [K], labels [K] int64."""
    order = torch.sort(scores, descending=True, stable=True).indices
    return {"boxes": boxes[order], "scores": scores[order], "labels": labels[order].to(torch.int64)}


def filter_then_nms(
    boxes: Tensor,
    confidences: Tensor,
    class_probs: Tensor,
    conf_threshold: float,
    iou_threshold: float,
) -> dict[str, Tensor]:
    """Detections by "classify, filter, then class-aware NMS" (the common order for YOLOv1).

    Each box takes its best class and the class-specific confidence of YOLOv1 (Redmon et al. 2016, Section 2):

    .. math::
        c^\\star = \\arg\\max_c P(c \\mid \\text{object}), \\qquad
        s = \\Pr(\\text{object}) \\cdot \\mathrm{IoU} \\cdot P(c^\\star \\mid \\text{object})
          = \\text{confidence} \\times P(c^\\star \\mid \\text{object});

    boxes with :math:`s > ` ``conf_threshold`` are kept, then :func:`batched_nms` runs per class on :math:`s`.
    A box's second-best class is never reported.

    Args:
        boxes: ``Tensor[N, 4]`` xyxy.
        confidences: ``Tensor[N]`` objectness confidence of each box.
        class_probs: ``Tensor[N, C]`` class probabilities of each box.
        conf_threshold: keep :math:`s` strictly above it.
        iou_threshold: NMS threshold (suppress IoU strictly above it).

    Returns:
        ``{"boxes": Tensor[K, 4], "scores": Tensor[K], "labels": Tensor[K] int64}``, by decreasing score.
    """
    boxes, confidences, class_probs, conf_threshold, iou_threshold = _check_postprocess_inputs(
        boxes, confidences, class_probs, conf_threshold, iou_threshold
    )
    best_prob, labels = class_probs.max(dim=1)  # (N,), (N,): first maximum on ties
    scores = confidences * best_prob  # class-specific confidence of the best class
    mask = scores > conf_threshold
    boxes, scores, labels = boxes[mask], scores[mask], labels[mask]
    keep = batched_nms(boxes, scores, labels, iou_threshold)
    return _detections(boxes[keep], scores[keep], labels[keep])


def nms_then_classify(
    boxes: Tensor,
    confidences: Tensor,
    class_probs: Tensor,
    conf_threshold: float,
    iou_threshold: float,
) -> dict[str, Tensor]:
    """Detections in darknet's order: per-class NMS on all class-specific scores, then each box picks its class.

    1. Class-specific scores :math:`S_{nc} = \\text{confidence}_n \\, P(c \\mid \\text{object})_n`, and scores
       :math:`\\le` ``conf_threshold`` are set to 0 (darknet zeroes them before NMS, so they suppress nothing).
    2. For each class :math:`c` separately: greedy NMS over the boxes with :math:`S_{nc} > 0`, sorted by
       :math:`S_{nc}`; a suppressed box gets :math:`S_{nc} = 0` *for that class only* (darknet's ``do_nms_sort``).
    3. Each box takes :math:`c^\\star_n = \\arg\\max_c S_{nc}` and is reported when :math:`S_{nc^\\star} > `
       ``conf_threshold``.

    A box suppressed for its best class can survive with another class, which is how this order differs from
    :func:`filter_then_nms` (see :func:`orders_differ_example`). Step 2 runs every class at once as one
    :func:`batched_nms` over the (box, class) pairs still above zero.

    Args and Returns: as :func:`filter_then_nms`.
    """
    boxes, confidences, class_probs, conf_threshold, iou_threshold = _check_postprocess_inputs(
        boxes, confidences, class_probs, conf_threshold, iou_threshold
    )
    scores = confidences[:, None] * class_probs  # (N, C): S_nc
    scores = torch.where(scores > conf_threshold, scores, torch.zeros_like(scores))  # 1. threshold
    box_idx, cls_idx = torch.nonzero(scores > 0, as_tuple=True)  # (P,), (P,): the (box, class) pairs in play
    keep = batched_nms(boxes[box_idx], scores[box_idx, cls_idx], cls_idx, iou_threshold)  # 2. per-class NMS
    after = torch.zeros_like(scores)  # (N, C): suppressed pairs stay 0
    after[box_idx[keep], cls_idx[keep]] = scores[box_idx[keep], cls_idx[keep]]
    best, labels = after.max(dim=1)  # 3. each box's best remaining class (first maximum on ties)
    mask = best > conf_threshold
    return _detections(boxes[mask], best[mask], labels[mask])


def orders_differ_example() -> dict[str, object]:
    """A two-box input on which :func:`filter_then_nms` and :func:`nms_then_classify` disagree.

    Boxes A and B overlap with IoU :math:`0.8 > 0.5`. A is a sure cat; B is a cat or a dog:

    ============  ==========  ===========  ===========  ==================  ==================
    box           confidence  P(cat)       P(dog)       score cat           score dog
    ============  ==========  ===========  ===========  ==================  ==================
    A             0.9         0.9          0.1          0.81                0.09
    B             0.8         0.6          0.4          0.48                0.32
    ============  ==========  ===========  ===========  ==================  ==================

    With ``conf_threshold = 0.2``: ``filter_then_nms`` labels B a cat (its best class), and NMS among cats removes
    it, leaving A (cat, 0.81). ``nms_then_classify`` removes B from the *cat* list only; its dog score 0.32 has no
    competitor (A's 0.09 was zeroed by the threshold), so B is reported as a dog (0.32) next to A (cat, 0.81).

    Returns:
        keyword arguments for both functions: ``boxes`` (``Tensor[2, 4]``, float64), ``confidences``,
        ``class_probs``, ``conf_threshold``, ``iou_threshold``.
    """
    return {
        # A = [0, 0, 10, 10] (area 100); B = [0, 0, 10, 8] (area 80) inside A: IoU = 80 / 100 = 0.8.
        "boxes": torch.tensor([[0.0, 0.0, 10.0, 10.0], [0.0, 0.0, 10.0, 8.0]], dtype=torch.float64),
        "confidences": torch.tensor([0.9, 0.8], dtype=torch.float64),
        "class_probs": torch.tensor([[0.9, 0.1], [0.6, 0.4]], dtype=torch.float64),
        "conf_threshold": 0.2,
        "iou_threshold": 0.5,
    }
