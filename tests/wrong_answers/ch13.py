"""Chapter 13's answers for the wrong-answer suite (see ``tests/exercise_suite.py``)."""

from __future__ import annotations

import numpy as np
import torch

from exercise_suite import correct, wrong


# ----------------------------------------------------------------------------------------------------------------------
# 13.1 IoU
# ----------------------------------------------------------------------------------------------------------------------
def _area(b):
    return (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])


def iou(b1, b2):
    lt = torch.maximum(b1[:, None, :2], b2[None, :, :2])
    rb = torch.minimum(b1[:, None, 2:], b2[None, :, 2:])
    inter = (rb - lt).clamp(min=0).prod(-1)
    return inter / (_area(b1)[:, None] + _area(b2)[None, :] - inter)


def iou_per_axis(b1, b2):
    """Overlap widths per axis with relu, written coordinate by coordinate."""
    x1 = torch.max(b1[:, None, 0], b2[None, :, 0])
    y1 = torch.max(b1[:, None, 1], b2[None, :, 1])
    x2 = torch.min(b1[:, None, 2], b2[None, :, 2])
    y2 = torch.min(b1[:, None, 3], b2[None, :, 3])
    inter = torch.relu(x2 - x1) * torch.relu(y2 - y1)
    union = _area(b1)[:, None] + _area(b2)[None, :] - inter
    return inter / union


def iou_no_clamp(b1, b2):
    lt = torch.maximum(b1[:, None, :2], b2[None, :, :2])
    rb = torch.minimum(b1[:, None, 2:], b2[None, :, 2:])
    inter = (rb - lt).prod(-1)
    return inter / (_area(b1)[:, None] + _area(b2)[None, :] - inter)


def iou_plus_one(b1, b2):
    """The old pixel convention: +1 on every side."""
    lt = torch.maximum(b1[:, None, :2], b2[None, :, :2])
    rb = torch.minimum(b1[:, None, 2:], b2[None, :, 2:])
    inter = (rb - lt + 1).clamp(min=0).prod(-1)
    a1 = (b1[:, 2] - b1[:, 0] + 1) * (b1[:, 3] - b1[:, 1] + 1)
    a2 = (b2[:, 2] - b2[:, 0] + 1) * (b2[:, 3] - b2[:, 1] + 1)
    return inter / (a1[:, None] + a2[None, :] - inter)


def iou_union_sum(b1, b2):
    """The union as the sum of the areas (the intersection counted twice)."""
    lt = torch.maximum(b1[:, None, :2], b2[None, :, :2])
    rb = torch.minimum(b1[:, None, 2:], b2[None, :, 2:])
    inter = (rb - lt).clamp(min=0).prod(-1)
    return inter / (_area(b1)[:, None] + _area(b2)[None, :])


# ----------------------------------------------------------------------------------------------------------------------
# 13.2 NMS
# ----------------------------------------------------------------------------------------------------------------------
def _greedy(boxes, order, threshold, strict=True):
    keep, suppressed = [], torch.zeros(len(boxes), dtype=torch.bool)
    ious = iou(boxes, boxes) if len(boxes) else torch.zeros(0, 0)
    for i in order.tolist():
        if suppressed[i]:
            continue
        keep.append(i)
        over = ious[i] > threshold if strict else ious[i] >= threshold
        suppressed |= over
    return torch.tensor(keep, dtype=torch.int64)


def nms_stable(boxes, scores, threshold):
    return _greedy(boxes, torch.sort(scores, descending=True, stable=True).indices, threshold)


def nms_lexsort(boxes, scores, threshold):
    """Ties broken explicitly by index: numpy's lexsort on (index, -score)."""
    order = np.lexsort((np.arange(len(scores)), -scores.double().numpy()))
    return _greedy(boxes, torch.from_numpy(order.copy()), threshold)


def nms_unstable(boxes, scores, threshold):
    return _greedy(boxes, torch.sort(scores, descending=True).indices, threshold)


def nms_argsort(boxes, scores, threshold):
    return _greedy(boxes, torch.argsort(scores, descending=True), threshold)


def nms_reversed_ties(boxes, scores, threshold):
    return _greedy(boxes, torch.sort(scores, stable=True).indices.flip(0), threshold)


def nms_ge(boxes, scores, threshold):
    return _greedy(boxes, torch.sort(scores, descending=True, stable=True).indices, threshold, strict=False)


def nms_suppressed_suppress(boxes, scores, threshold):
    """Every box suppresses its overlaps, kept or not: keep a box only if no better-scored box overlaps it."""
    order = torch.sort(scores, descending=True, stable=True).indices
    if len(order) == 0:
        return order
    ious = iou(boxes[order], boxes[order])
    earlier = torch.tril(ious > threshold, diagonal=-1).any(dim=1)
    return order[~earlier]


# ----------------------------------------------------------------------------------------------------------------------
# 13.3 AP
# ----------------------------------------------------------------------------------------------------------------------
def _envelope(precision):
    return torch.flip(torch.cummax(torch.flip(precision, [0]), 0).values, [0])


def ap(recall, precision, method):
    if recall.numel() == 0:
        return 0.0
    if method == "voc07":
        total = 0.0
        for k in range(11):
            at = recall >= k / 10
            total += float(precision[at].max()) if bool(at.any()) else 0.0
        return total / 11
    r = torch.cat([recall.new_zeros(1), recall])
    return float((torch.diff(r) * _envelope(precision)).sum())


def ap_numpy_devkit(recall, precision, method):
    """The VOC devkit's shape: sentinels, a right-to-left maximum, the sum where recall changes."""
    rec, prec = recall.numpy(), precision.numpy()
    if rec.size == 0:
        return 0.0
    if method == "voc07":
        return float(np.mean([prec[rec >= k / 10].max() if (rec >= k / 10).any() else 0.0 for k in range(11)]))
    mrec = np.concatenate(([0.0], rec, [1.0]))
    mpre = np.concatenate(([0.0], prec, [0.0]))
    for i in range(mpre.size - 1, 0, -1):
        mpre[i - 1] = max(mpre[i - 1], mpre[i])
    i = np.where(mrec[1:] != mrec[:-1])[0]
    return float(np.sum((mrec[i + 1] - mrec[i]) * mpre[i + 1]))


def ap_no_envelope(recall, precision, method):
    if recall.numel() == 0:
        return 0.0
    if method == "voc07":
        total = 0.0
        for k in range(11):
            at = recall >= k / 10
            total += float(precision[at][0]) if bool(at.any()) else 0.0  # the precision at the first such point
        return total / 11
    r = torch.cat([recall.new_zeros(1), recall])
    return float((torch.diff(r) * precision).sum())


def ap_strict(recall, precision, method):
    if method != "voc07" or recall.numel() == 0:
        return ap(recall, precision, method)
    total = 0.0
    for k in range(11):
        at = recall > k / 10
        total += float(precision[at].max()) if bool(at.any()) else 0.0
    return total / 11


def ap_last_precision(recall, precision, method):
    """Points past the end of the curve take its last precision instead of 0."""
    if recall.numel() == 0:
        return 0.0
    if method == "voc07":
        env = _envelope(precision)
        total = 0.0
        for k in range(11):
            at = recall >= k / 10
            total += float(precision[at].max()) if bool(at.any()) else float(env[-1])
        return total / 11
    return ap(recall, precision, method)


# ----------------------------------------------------------------------------------------------------------------------
# 13.4 VOC matching
# ----------------------------------------------------------------------------------------------------------------------
def _voc(det, scores, gt, difficult, threshold, order, ge=False, taken_rule="voc"):
    out = torch.zeros(len(det), dtype=torch.int64)
    if len(det) == 0 or len(gt) == 0:
        return out
    ious = iou(det.double(), gt.double())
    matched = torch.zeros(len(gt), dtype=torch.bool)
    for i in order.tolist():
        if taken_rule == "coco":
            free = ious[i].clone()
            free[matched] = -1
            best = int(free.argmax())
        else:
            best = int(ious[i].argmax())
        value = float(ious[i, best])
        if (value >= threshold) if ge else (value > threshold):
            if bool(difficult[best]):
                out[i] = -1
            elif not matched[best]:
                out[i] = 1
                matched[best] = True
    return out


def voc_strict(det, scores, gt, difficult, threshold):
    return _voc(det, scores, gt, difficult, threshold, torch.sort(scores, descending=True, stable=True).indices)


def voc_devkit_ge(det, scores, gt, difficult, threshold):
    """The devkit's ovmax >= minoverlap (continuous coordinates)."""
    return _voc(det, scores, gt, difficult, threshold, torch.sort(scores, descending=True, stable=True).indices,
                ge=True)


def voc_unstable(det, scores, gt, difficult, threshold):
    return _voc(det, scores, gt, difficult, threshold, torch.sort(scores, descending=True).indices)


def voc_input_order(det, scores, gt, difficult, threshold):
    return _voc(det, scores, gt, difficult, threshold, torch.arange(len(det)))


def voc_coco_rule(det, scores, gt, difficult, threshold):
    """Falls back to the best *unmatched* object (COCO's rule), not VOC's."""
    return _voc(det, scores, gt, difficult, threshold, torch.sort(scores, descending=True, stable=True).indices,
                taken_rule="coco")


def voc_difficult_fp(det, scores, gt, difficult, threshold):
    """Difficult objects treated like the others."""
    return _voc(det, scores, gt, torch.zeros_like(difficult), threshold,
                torch.sort(scores, descending=True, stable=True).indices)


ANSWERS = {
    "13.1": [
        correct("broadcast corners, clamp", iou),
        correct("per axis with relu", iou_per_axis),
        wrong("overlaps not clamped at 0", iou_no_clamp),
        wrong("the +1 pixel convention", iou_plus_one),
        wrong("the union as the sum of the areas", iou_union_sum),
    ],
    "13.2": [
        correct("a stable sort and a loop", nms_stable),
        correct("numpy lexsort by (score, index)", nms_lexsort),
        wrong("torch.sort's default (unstable) order", nms_unstable),
        wrong("argsort (unstable)", nms_argsort),
        wrong("ties reversed (ascending sort flipped)", nms_reversed_ties),
        wrong("IoU >= threshold suppresses", nms_ge),
        wrong("suppressed boxes suppress too", nms_suppressed_suppress),
    ],
    "13.3": [
        correct("a loop over the 11 thresholds, a cummax envelope", ap),
        correct("the devkit's sentinels and right-to-left maximum", ap_numpy_devkit),
        wrong("no envelope", ap_no_envelope),
        wrong("recall > t instead of >= t", ap_strict),
        wrong("past the end of the curve, its last precision", ap_last_precision),
    ],
    "13.4": [
        correct("IoU > threshold (the paper)", voc_strict),
        correct("IoU >= threshold (the devkit)", voc_devkit_ge),
        wrong("torch.sort's default (unstable) order", voc_unstable),
        wrong("detections in input order", voc_input_order),
        wrong("the best unmatched object (COCO's rule)", voc_coco_rule),
        wrong("difficult objects counted", voc_difficult_fp),
    ],
}
