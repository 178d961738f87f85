"""Evaluating a detector: matching detections to ground truth, precision/recall curves, AP and mAP (VOC and COCO).

The pipeline, for one class :math:`c`:

1. **Match** (:func:`match_detections`, per image): every detection of class :math:`c` becomes a true positive (TP),
   a false positive (FP), or is ignored, by its IoU with the ground-truth boxes of class :math:`c`.
2. **Curve** (:func:`precision_recall_curve`): sort the detections of all images by decreasing score; after the
   :math:`k` best, :math:`\\text{precision}_k = \\mathrm{TP}_k / k` and :math:`\\text{recall}_k = \\mathrm{TP}_k / P`,
   with :math:`P` the number of (non-difficult) ground-truth boxes of class :math:`c`.
3. **AP** (:func:`average_precision`): a number summarising the curve, by one of three interpolations.
4. **mAP** (:func:`mean_average_precision`, :func:`coco_map`): the mean of the per-class APs.

The matching rules (they differ between benchmarks; both are implemented, and the choice follows ``method``):

- **VOC** (Everingham et al., IJCV 2010, Section 4.4; ``"voc07"`` and ``"voc"``): detections are visited by decreasing
  score; each is compared with the ground-truth box of highest IoU (among *all* boxes of its class in its image,
  matched or not). It is a TP when that IoU **exceeds** the threshold (:math:`> 0.5`, "must exceed 50%") and the box
  was not matched before; a second detection of an already matched box is a FP (a duplicate); a detection whose best
  box is marked *difficult* is ignored (neither TP nor FP), and difficult boxes do not count in :math:`P`. A
  detection whose best IoU is at most the threshold is a FP. (The official MATLAB devkit compares with ``>=``; the
  paper says "exceed", and so do py-faster-rcnn's ``voc_eval.py`` and this module.)
- **COCO** (pycocotools' ``COCOeval.evaluateImg``; ``"coco"``): each detection, by decreasing score, takes the
  *still unmatched* ground-truth box of highest IoU among those with IoU :math:`\\ge` the threshold, preferring
  non-ignored boxes; a detection matched to an ignored box (here: a *difficult* one, as COCO's area-range ignores) is
  ignored; a detection with no such box is a FP. Only the ``max_detections`` best detections per image and class
  count (COCO: 100).

Equal scores are visited in input order (image by image, then detection by detection): a stable sort, as
pycocotools' ``mergesort``. IoU uses continuous coordinates (no "+1 pixel" of the VOC devkit). A pair of zero-area
boxes, whose IoU is 0/0, counts as IoU 0. Evaluation runs on the CPU in float64 and returns Python floats.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from course_lib.detection.boxes import box_iou, check_boxes

__all__ = [
    "TP",
    "FP",
    "IGNORED",
    "AP_METHODS",
    "precision_recall_curve",
    "average_precision",
    "match_detections",
    "mean_average_precision",
    "coco_map",
    "COCO_IOU_THRESHOLDS",
]

#: Outcome codes of :func:`match_detections`.
TP: int = 1
FP: int = 0
IGNORED: int = -1

#: The AP interpolations of :func:`average_precision`.
AP_METHODS: tuple[str, ...] = ("voc07", "voc", "coco")

#: COCO's IoU thresholds 0.50, 0.55, ..., 0.95, written as exact ratios (k / 100).
COCO_IOU_THRESHOLDS: tuple[float, ...] = tuple((50 + 5 * k) / 100 for k in range(10))


# --------------------------------------------------------------------------------------------------------------
# Input checks
# --------------------------------------------------------------------------------------------------------------
def _as_1d(x: object, name: str, dtype: torch.dtype = torch.float64) -> Tensor:
    """A 1-D CPU tensor (from a tensor, array or sequence) in ``dtype``; NaN refused for floats."""
    if isinstance(x, Tensor):
        t = x.detach().cpu()
    else:
        try:
            t = torch.as_tensor(x)
        except (TypeError, ValueError, RuntimeError) as err:
            raise TypeError(f"{name} must be a 1-D tensor or sequence of numbers, got {type(x).__name__}.") from err
    if t.is_complex():
        raise TypeError(f"{name} must be real, got dtype {t.dtype}.")
    if t.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {tuple(t.shape)}.")
    t = t.to(dtype)
    if t.is_floating_point() and bool(torch.isnan(t).any()):
        raise ValueError(f"{name} contains NaN (first at index {int(torch.isnan(t).nonzero()[0, 0])}).")
    return t


def _check_method(method: str) -> str:
    if method not in AP_METHODS:
        raise ValueError(f"method must be one of {AP_METHODS}, got {method!r}.")
    return method


def _check_iou_threshold(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"iou_threshold must be a float, got {type(value).__name__}.")
    value = float(value)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"iou_threshold must be in [0, 1], got {value}.")
    return value


# --------------------------------------------------------------------------------------------------------------
# Precision/recall and AP
# --------------------------------------------------------------------------------------------------------------
def precision_recall_curve(scores: Tensor, tp: Tensor, num_positives: int) -> tuple[Tensor, Tensor, Tensor]:
    """The precision/recall curve of ranked detections.

    Sort the detections by decreasing score (stable: ties keep their input order); after the :math:`k` best,

    .. math::
        \\text{precision}_k = \\frac{\\sum_{i \\le k} \\mathrm{tp}_i}{k}, \\qquad
        \\text{recall}_k = \\frac{\\sum_{i \\le k} \\mathrm{tp}_i}{P}

    Ignored detections (matched to *difficult* boxes) must be left out before the call.

    Args:
        scores: ``Tensor[D]`` (or a sequence) detection scores.
        tp: ``Tensor[D]`` bool (or 0/1): whether each detection is a true positive; the others are false positives.
        num_positives: :math:`P \\ge 1`, the number of ground-truth boxes; at least the number of true positives.

    Returns:
        ``(precision, recall, sorted_scores)``, each ``Tensor[D]`` float64 on the CPU, in decreasing score order.
        Recall is non-decreasing; precision is not monotone.
    """
    scores = _as_1d(scores, "scores")
    tp = _as_1d(tp, "tp")  # float64: 0/1 or booleans
    if not bool(((tp == 0) | (tp == 1)).all()):
        raise ValueError("tp must hold only 0/1 (or booleans).")
    if tp.shape != scores.shape:
        raise ValueError(f"scores and tp must have the same length, got {scores.shape[0]} and {tp.shape[0]}.")
    if isinstance(num_positives, bool) or not isinstance(num_positives, int):
        raise TypeError(f"num_positives must be an int, got {type(num_positives).__name__}.")
    if num_positives < 1:
        raise ValueError(f"num_positives must be at least 1 (recall is undefined without positives), got {num_positives}.")
    n_tp = int(tp.sum())
    if n_tp > num_positives:
        raise ValueError(f"there are {n_tp} true positives but only num_positives = {num_positives} ground-truth boxes.")
    order = torch.sort(scores, descending=True, stable=True).indices
    hits = tp[order]  # (D,) 1 for TP, 0 for FP, best first
    cum_tp = torch.cumsum(hits, dim=0)  # TP_k
    rank = torch.arange(1, hits.numel() + 1, dtype=torch.float64)  # k = TP_k + FP_k
    precision = cum_tp / rank
    recall = cum_tp / num_positives
    return precision, recall, scores[order]


def _envelope(precision: Tensor) -> Tensor:
    """Monotone (non-increasing) envelope: p_interp(k) = max_{k' >= k} p(k')."""
    return torch.flip(torch.cummax(torch.flip(precision, dims=[0]), dim=0).values, dims=[0])


def average_precision(recall: Tensor, precision: Tensor, method: str = "voc") -> float:
    """Average precision of a precision/recall curve, by one of three interpolations.

    With :math:`p_{\\text{interp}}(r) = \\max_{r' \\ge r} p(r')` (0 when no point reaches recall :math:`r`):

    - ``"voc07"`` (PASCAL VOC 2007, 11 points):
      :math:`\\mathrm{AP} = \\frac{1}{11} \\sum_{t \\in \\{0, 0.1, \\ldots, 1\\}} p_{\\text{interp}}(t)`.
    - ``"voc"`` (VOC 2010 onwards, all points): the area under the monotone envelope,
      :math:`\\mathrm{AP} = \\sum_k (r_k - r_{k-1})\\, p_{\\text{interp}}(r_k)`, with :math:`r_0 = 0`.
    - ``"coco"`` (101 points): :math:`\\mathrm{AP} = \\frac{1}{101} \\sum_{t \\in \\{0, 0.01, \\ldots, 1\\}} p_{\\text{interp}}(t)`,
      where, as in pycocotools, :math:`p_{\\text{interp}}(t)` is the envelope at the *first* point with recall
      :math:`\\ge t` (``searchsorted``), and 0 past the last point.

    The thresholds are the exact ratios :math:`k/10` and :math:`k/100`: a recall of exactly 0.3 reaches the
    threshold 0.3. (The ``np.arange(0, 1.1, 0.1)`` of py-faster-rcnn's ``voc_eval.py``, the widely copied Python
    port of the VOC devkit, and pycocotools' ``np.linspace`` produce a few thresholds one ulp above the ratio, e.g.
    ``0.30000000000000004``, which a recall of exactly 0.3 then misses.)

    Args:
        recall: ``Tensor[D]`` (or a sequence) non-decreasing values in :math:`[0, 1]`.
        precision: ``Tensor[D]`` values in :math:`[0, 1]`, same length.
        method: ``"voc07"``, ``"voc"`` or ``"coco"``.

    Returns:
        AP in :math:`[0, 1]` as a Python float; 0.0 for an empty curve.
    """
    method = _check_method(method)
    recall = _as_1d(recall, "recall")
    precision = _as_1d(precision, "precision")
    if recall.shape != precision.shape:
        raise ValueError(f"recall and precision must have the same length, got {recall.shape[0]} and {precision.shape[0]}.")
    for t, name in ((recall, "recall"), (precision, "precision")):
        if bool(((t < 0) | (t > 1)).any()):
            raise ValueError(f"{name} must lie in [0, 1], got values from {float(t.min()):g} to {float(t.max()):g}.")
    if recall.numel() > 1 and bool((recall[1:] < recall[:-1]).any()):
        raise ValueError("recall must be non-decreasing (the points of a precision/recall curve, best score first).")
    if recall.numel() == 0:
        return 0.0
    if method == "voc":
        mrec = torch.cat([recall.new_zeros(1), recall, recall.new_ones(1)])  # sentinels r = 0 and r = 1
        mpre = _envelope(torch.cat([precision.new_zeros(1), precision, precision.new_zeros(1)]))
        return float(((mrec[1:] - mrec[:-1]) * mpre[1:]).sum())  # sum_k (r_k - r_{k-1}) p_interp(r_k)
    num = 11 if method == "voc07" else 101
    thresholds = torch.arange(num, dtype=torch.float64) / (num - 1)  # k / 10 or k / 100, exactly rounded
    envelope = _envelope(precision)
    first = torch.searchsorted(recall, thresholds, side="left")  # first point with recall >= t
    reached = first < recall.numel()
    p_at_t = torch.where(reached, envelope[first.clamp(max=recall.numel() - 1)], torch.zeros_like(thresholds))
    # For voc07 this is max(precision[recall >= t]): recall is sorted, so the envelope at the first such point.
    return float(p_at_t.mean())


# --------------------------------------------------------------------------------------------------------------
# Matching detections to ground truth (one image)
# --------------------------------------------------------------------------------------------------------------
def _pair_iou(det_boxes: Tensor, gt_boxes: Tensor, det_labels: Tensor | None, gt_labels: Tensor | None) -> Tensor:
    """IoU [D, G] in float64; -1 between different classes; NaN (0/0) -> 0."""
    iou = torch.nan_to_num(box_iou(det_boxes.to(torch.float64), gt_boxes.to(torch.float64)), nan=0.0)
    if det_labels is not None and gt_labels is not None:
        iou = torch.where(det_labels[:, None] == gt_labels[None, :], iou, torch.full_like(iou, -1.0))
    return iou


def _match_voc(iou: Tensor, scores: Tensor, difficult: Tensor, threshold: float) -> Tensor:
    """VOC outcomes [D] from the IoU matrix [D, G] (vectorized: each detection's candidate box is fixed)."""
    d, g = iou.shape
    out = torch.full((d,), FP, dtype=torch.int64)
    if d == 0 or g == 0:
        return out
    best_gt = torch.argmax(iou, dim=1)  # (D,) the box of highest IoU (first one on ties)
    best_iou = iou.gather(1, best_gt[:, None]).squeeze(1)
    hit = best_iou > threshold  # VOC: the overlap must exceed the threshold
    ignored = hit & difficult[best_gt]
    candidate = hit & ~ignored
    # Among the detections whose best box is the same, only the best-scored one (earliest on ties) is a TP.
    order = torch.sort(scores, descending=True, stable=True).indices
    rank = torch.empty_like(order)
    rank[order] = torch.arange(d)  # rank of each detection in score order
    first = torch.full((g,), d, dtype=torch.int64)
    first = first.scatter_reduce(0, best_gt[candidate], rank[candidate], reduce="amin")  # best rank per box
    tp = candidate & (rank == first[best_gt])
    out[tp] = TP
    out[ignored] = IGNORED
    return out


def _match_coco(iou: Tensor, scores: Tensor, ignore: Tensor, thresholds: Tensor) -> Tensor:
    """COCO outcomes [T, D] for each threshold (a loop over detections in score order, vectorized over T and G)."""
    d, g = iou.shape
    t = thresholds.numel()
    out = torch.full((t, d), FP, dtype=torch.int64)
    if d == 0 or g == 0:
        return out
    matched = torch.zeros((t, g), dtype=torch.bool)  # (T, G)
    flip = torch.arange(g - 1, -1, -1)
    order = torch.sort(scores, descending=True, stable=True).indices
    for i in order.tolist():  # greedy: each detection sees the matches of the better ones
        row = iou[i][None, :]  # (1, G)
        free = ~matched & (row >= thresholds[:, None])  # (T, G) unmatched boxes above the threshold
        regular = free & ~ignore  # prefer boxes that are not ignored
        pool = torch.where(regular.any(dim=1, keepdim=True), regular, free & ignore)
        score = torch.where(pool, row.expand(t, g), torch.full((t, g), -2.0, dtype=iou.dtype))
        best = (g - 1) - torch.argmax(score[:, flip], dim=1)  # (T,) highest IoU, the last one on ties (pycocotools)
        found = pool.any(dim=1)  # (T,)
        ts = torch.nonzero(found).flatten()
        matched[ts, best[ts]] = True
        out[ts, i] = torch.where(ignore[best[ts]], torch.full_like(ts, IGNORED), torch.full_like(ts, TP))
    return out


def _image_inputs(
    det_boxes: object,
    det_scores: object,
    gt_boxes: object,
    gt_difficult: object,
    det_labels: object,
    gt_labels: object,
    where: str = "",
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor | None, Tensor | None]:
    det_boxes = check_boxes(det_boxes, f"{where}det boxes").detach().cpu()
    gt_boxes = check_boxes(gt_boxes, f"{where}ground-truth boxes").detach().cpu()
    if det_boxes.ndim != 2 or gt_boxes.ndim != 2:
        raise ValueError(
            f"{where}boxes must have shape [K, 4], got {tuple(det_boxes.shape)} and {tuple(gt_boxes.shape)}."
        )
    scores = _as_1d(det_scores, f"{where}scores")
    if scores.numel() != det_boxes.shape[0]:
        raise ValueError(f"{where}scores must have one entry per detection ({det_boxes.shape[0]}), got {scores.numel()}.")
    g = gt_boxes.shape[0]
    if gt_difficult is None:
        difficult = torch.zeros(g, dtype=torch.bool)
    else:
        difficult = _as_1d(gt_difficult, f"{where}difficult", torch.int64)
        if not bool(((difficult == 0) | (difficult == 1)).all()):
            raise ValueError(f"{where}difficult must hold booleans (or 0/1).")
        difficult = difficult.bool()
        if difficult.numel() != g:
            raise ValueError(f"{where}difficult must have one entry per ground-truth box ({g}), got {difficult.numel()}.")
    if (det_labels is None) != (gt_labels is None):
        raise ValueError(f"{where}give both det_labels and gt_labels, or neither.")
    dl = gl = None
    if det_labels is not None:
        dl = _labels(det_labels, det_boxes.shape[0], f"{where}det labels")
        gl = _labels(gt_labels, g, f"{where}ground-truth labels")
    return det_boxes, scores, gt_boxes, difficult, dl, gl


def _labels(x: object, n: int, name: str) -> Tensor:
    if isinstance(x, Tensor) and (x.is_floating_point() or x.is_complex()):
        raise TypeError(f"{name} must be integers, got dtype {x.dtype}.")
    t = _as_1d(x, name, torch.int64)
    if t.numel() != n:
        raise ValueError(f"{name} must have one entry per box ({n}), got {t.numel()}.")
    return t


def match_detections(
    det_boxes: Tensor,
    det_scores: Tensor,
    gt_boxes: Tensor,
    gt_difficult: Tensor | None = None,
    iou_threshold: float = 0.5,
    rule: str = "voc",
    det_labels: Tensor | None = None,
    gt_labels: Tensor | None = None,
) -> Tensor:
    """Label each detection of one image TP (1), FP (0) or ignored (-1), by the VOC or the COCO rule.

    ``rule="voc"``: with :math:`g^*(d) = \\arg\\max_g \\mathrm{IoU}(d, g)` over all boxes, detection :math:`d`
    (in decreasing score order) is

    .. math::
        \\begin{cases}
        \\text{ignored} & \\mathrm{IoU}(d, g^*) > \\tau,\\ g^* \\text{ difficult} \\\\
        \\text{TP} & \\mathrm{IoU}(d, g^*) > \\tau,\\ g^* \\text{ not matched by a better-scored detection} \\\\
        \\text{FP} & \\text{otherwise (no overlap above } \\tau \\text{, or a duplicate)}
        \\end{cases}

    ``rule="coco"``: :math:`d` takes :math:`\\arg\\max_g \\mathrm{IoU}(d, g)` over the *unmatched* boxes with
    :math:`\\mathrm{IoU} \\ge \\tau` (non-difficult boxes first); TP, or ignored if that box is difficult; FP if there
    is none. See the module docstring for the sources of both rules.

    Args:
        det_boxes: ``Tensor[D, 4]`` xyxy detections.
        det_scores: ``Tensor[D]`` their scores.
        gt_boxes: ``Tensor[G, 4]`` xyxy ground truth.
        gt_difficult: ``Tensor[G]`` bool, optional (default: none difficult).
        iou_threshold: :math:`\\tau` in :math:`[0, 1]`.
        rule: ``"voc"`` or ``"coco"``.
        det_labels, gt_labels: optional ``Tensor[D]``/``Tensor[G]`` integer classes; when given, a detection is
            only compared with boxes of its class (otherwise all boxes are taken to be of one class).

    Returns:
        ``Tensor[D]`` int64 outcomes (:data:`TP`, :data:`FP`, :data:`IGNORED`), in the input order.
    """
    if rule not in ("voc", "coco"):
        raise ValueError(f"rule must be 'voc' or 'coco', got {rule!r}.")
    threshold = _check_iou_threshold(iou_threshold)
    det_boxes, scores, gt_boxes, difficult, dl, gl = _image_inputs(
        det_boxes, det_scores, gt_boxes, gt_difficult, det_labels, gt_labels
    )
    iou = _pair_iou(det_boxes, gt_boxes, dl, gl)
    if rule == "voc":
        return _match_voc(iou, scores, difficult, threshold)
    return _match_coco(iou, scores, difficult, torch.tensor([threshold], dtype=torch.float64))[0]


# --------------------------------------------------------------------------------------------------------------
# mAP over a data set
# --------------------------------------------------------------------------------------------------------------
def _dataset(detections: object, targets: object) -> list[tuple[Tensor, ...]]:
    """Validate the SPEC format; per image (det_boxes, scores, det_labels, gt_boxes, gt_labels, difficult)."""
    if not isinstance(detections, Sequence) or not isinstance(targets, Sequence):
        raise TypeError("detections and targets must be lists (one dict per image).")
    if len(detections) != len(targets):
        raise ValueError(f"detections and targets must have one entry per image, got {len(detections)} and {len(targets)}.")
    images = []
    for i, (det, tgt) in enumerate(zip(detections, targets)):
        for what, d, keys in (("detections", det, ("boxes", "scores", "labels")), ("targets", tgt, ("boxes", "labels"))):
            if not isinstance(d, dict):
                raise TypeError(f"{what}[{i}] must be a dict, got {type(d).__name__}.")
            missing = [k for k in keys if k not in d]
            if missing:
                raise ValueError(f"{what}[{i}] is missing the key(s) {missing}.")
        db, sc, gb, diff, dl, gl = _image_inputs(
            det["boxes"], det["scores"], tgt["boxes"], tgt.get("difficult"), det["labels"], tgt["labels"],
            where=f"image {i}: ",
        )
        images.append((db, sc, dl, gb, gl, diff))
    return images


def _cap_per_class(scores: Tensor, labels: Tensor, max_detections: int | None) -> Tensor:
    """Mask of the detections among the ``max_detections`` best of their class in one image (COCO's maxDets)."""
    keep = torch.ones_like(labels, dtype=torch.bool)
    if max_detections is None:
        return keep
    order = torch.sort(scores, descending=True, stable=True).indices
    sorted_labels = labels[order]
    # rank of each detection within its class: count the earlier detections of the same class
    same = sorted_labels[:, None] == sorted_labels[None, :]
    rank_in_class = torch.tril(same, diagonal=-1).sum(dim=1)
    keep[order] = rank_in_class < max_detections
    return keep


def _evaluate(
    images: list[tuple[Tensor, ...]],
    thresholds: Tensor,
    method: str,
    classes: Sequence[int] | None,
    max_detections: int | None,
) -> tuple[list[int], dict[int, int], list[dict[int, float]], list[dict[int, tuple[Tensor, Tensor]]]]:
    """Per threshold, per class: AP and the curve. Matching by the VOC rule for voc/voc07, COCO's for coco."""
    t = thresholds.numel()
    all_scores, all_labels, all_codes = [], [], []
    num_pos: dict[int, int] = {}
    for db, sc, dl, gb, gl, diff in images:
        keep = _cap_per_class(sc, dl, max_detections)
        db, sc, dl = db[keep], sc[keep], dl[keep]
        iou = _pair_iou(db, gb, dl, gl)
        if method == "coco":
            codes = _match_coco(iou, sc, diff, thresholds)  # (T, D)
        else:
            codes = torch.stack([_match_voc(iou, sc, diff, float(th)) for th in thresholds])  # (T, D)
        all_scores.append(sc)
        all_labels.append(dl)
        all_codes.append(codes)
        for c, n in zip(*torch.unique(gl[~diff], return_counts=True)):
            num_pos[int(c)] = num_pos.get(int(c), 0) + int(n)
        for c in torch.unique(gl[diff]).tolist():
            num_pos.setdefault(int(c), 0)
    scores = torch.cat(all_scores)
    labels = torch.cat(all_labels)
    codes = torch.cat(all_codes, dim=1)  # (T, total detections)
    if classes is None:
        class_list = sorted(set(num_pos) | set(labels.tolist()))
    else:
        class_list = [int(c) for c in classes]
    aps: list[dict[int, float]] = [{} for _ in range(t)]
    curves: list[dict[int, tuple[Tensor, Tensor]]] = [{} for _ in range(t)]
    for c in class_list:
        npos = num_pos.get(c, 0)
        in_class = labels == c
        for k in range(t):
            if npos == 0:  # AP undefined without positives (VOC and COCO leave such classes out of the mean)
                aps[k][c] = math.nan
                continue
            sel = in_class & (codes[k] != IGNORED)
            precision, recall, _ = precision_recall_curve(scores[sel], codes[k][sel] == TP, npos)
            aps[k][c] = average_precision(recall, precision, method)
            curves[k][c] = (precision, recall)
    return class_list, {c: num_pos.get(c, 0) for c in class_list}, aps, curves


def _nanmean(values: Sequence[float]) -> float:
    finite = [v for v in values if not math.isnan(v)]
    return sum(finite) / len(finite) if finite else math.nan


def mean_average_precision(
    detections: Sequence[dict[str, Tensor]],
    targets: Sequence[dict[str, Tensor]],
    iou_threshold: float = 0.5,
    method: str = "voc",
    *,
    classes: Sequence[int] | None = None,
    max_detections: int | None = None,
) -> dict[str, object]:
    """Mean average precision at one IoU threshold.

    .. math::
        \\mathrm{mAP} = \\frac{1}{|\\mathcal{C}|} \\sum_{c \\in \\mathcal{C}} \\mathrm{AP}_c

    over the classes :math:`\\mathcal{C}` that have at least one non-difficult ground-truth box. Matching follows the
    VOC rule for ``"voc07"``/``"voc"`` and the COCO rule for ``"coco"`` (module docstring); AP as
    :func:`average_precision`.

    Args:
        detections: one dict per image: ``boxes`` ``Tensor[K, 4]`` xyxy, ``scores`` ``Tensor[K]``, ``labels``
            ``Tensor[K]`` int.
        targets: one dict per image: ``boxes`` ``Tensor[G, 4]`` xyxy, ``labels`` ``Tensor[G]`` int, optional
            ``difficult`` ``Tensor[G]`` bool.
        iou_threshold: the matching threshold (VOC: IoU must exceed it; COCO: reach it).
        method: ``"voc07"``, ``"voc"`` (default) or ``"coco"``.
        classes: the classes to report (default: every label seen in the targets or the detections).
        max_detections: keep only the best this many detections per image and class (COCO uses 100; default: all).

    Returns:
        ``{"map": float, "ap": {class: float}, "num_positives": {class: int}, "precision": {class: Tensor},
        "recall": {class: Tensor}, "iou_threshold": float, "method": str}``. A class without non-difficult ground
        truth has AP ``nan`` and is left out of the mean (even if it has detections, which are then false
        positives with nothing to recall); ``map`` is ``nan`` when no class has ground truth.
    """
    method = _check_method(method)
    threshold = _check_iou_threshold(iou_threshold)
    images = _dataset(detections, targets)
    class_list, num_pos, aps, curves = _evaluate(
        images, torch.tensor([threshold], dtype=torch.float64), method, classes, max_detections
    )
    return {
        "map": _nanmean([aps[0][c] for c in class_list]),
        "ap": aps[0],
        "num_positives": num_pos,
        "precision": {c: pr[0] for c, pr in curves[0].items()},
        "recall": {c: pr[1] for c, pr in curves[0].items()},
        "iou_threshold": threshold,
        "method": method,
    }


def coco_map(
    detections: Sequence[dict[str, Tensor]],
    targets: Sequence[dict[str, Tensor]],
    *,
    iou_thresholds: Sequence[float] = COCO_IOU_THRESHOLDS,
    max_detections: int | None = 100,
    classes: Sequence[int] | None = None,
) -> dict[str, object]:
    """COCO's mAP@[.5:.95]: 101-point AP averaged over the classes and the IoU thresholds 0.50, 0.55, ..., 0.95.

    .. math::
        \\mathrm{mAP}_{[.5:.95]} = \\frac{1}{10} \\sum_{\\tau \\in \\{0.50, 0.55, \\ldots, 0.95\\}}
        \\frac{1}{|\\mathcal{C}|} \\sum_{c \\in \\mathcal{C}} \\mathrm{AP}^{101}_c(\\tau)

    with COCO's matching (IoU :math:`\\ge \\tau`, best unmatched box), at most ``max_detections`` per image and class,
    and the classes with ground truth. This is COCO's "AP" for boxes without its area ranges and crowd regions
    (difficult boxes play the part of ignored regions).

    Args:
        detections, targets: as :func:`mean_average_precision`.
        iou_thresholds: the thresholds (default COCO's ten, as exact ratios).
        max_detections: per image and class (COCO's ``maxDets = 100``); ``None`` keeps all.
        classes: as :func:`mean_average_precision`.

    Returns:
        ``{"map": float, "map_50": float, "map_75": float, "ap": {class: float averaged over the thresholds},
        "map_per_iou": {threshold: float}, "iou_thresholds": tuple}``; ``map_50``/``map_75`` are ``nan`` when 0.5 /
        0.75 are not among the thresholds.
    """
    thresholds = tuple(_check_iou_threshold(t) for t in iou_thresholds)
    if not thresholds:
        raise ValueError("iou_thresholds must not be empty.")
    images = _dataset(detections, targets)
    class_list, _, aps, _ = _evaluate(
        images, torch.tensor(thresholds, dtype=torch.float64), "coco", classes, max_detections
    )
    per_iou = {t: _nanmean([aps[k][c] for c in class_list]) for k, t in enumerate(thresholds)}
    ap_class = {c: _nanmean([aps[k][c] for k in range(len(thresholds))]) for c in class_list}
    return {
        "map": _nanmean(list(ap_class.values())),
        "map_50": per_iou.get(0.5, math.nan),
        "map_75": per_iou.get(0.75, math.nan),
        "ap": ap_class,
        "map_per_iou": per_iou,
        "iou_thresholds": thresholds,
    }
