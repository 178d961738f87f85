"""Anchor boxes (YOLOv2's *dimension clusters*): the (w, h)-IoU, k-means with the distance 1 - IoU, and darknet's anchors.

YOLOv2 (Redmon & Farhadi 2017, section "Dimension Clusters") picks its priors by running k-means on the widths and
heights of the training boxes, with the distance :math:`d(\\text{box}, \\text{centroid}) = 1 - \\mathrm{IoU}(\\text{box},
\\text{centroid})` instead of the Euclidean distance, so that large boxes do not produce larger errors than small
ones. The IoU here is that of two boxes *aligned at a corner* (or, equivalently, sharing their centre): only the
sizes matter,

.. math::

    \\mathrm{IoU}_{wh}\\big((w_1, h_1), (w_2, h_2)\\big)
      = \\frac{\\min(w_1, w_2)\\,\\min(h_1, h_2)}{w_1 h_1 + w_2 h_2 - \\min(w_1, w_2)\\,\\min(h_1, h_2)}.

The same quantity picks the responsible anchor of an object in YOLOv2 and YOLOv3 (``yolo_v2``, ``yolo_v3``).

Units: :data:`VOC_ANCHORS` and :data:`COCO_ANCHORS` are darknet's ``yolo-voc.cfg`` / ``yolo.cfg`` priors in *grid
units* (cells of a 13 x 13 grid at 416 x 416, one cell = 32 pixels). :func:`wh_iou`, :func:`kmeans_anchors` and
:func:`mean_best_iou` work in whatever unit they are given (IoU does not depend on the unit).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = [
    "VOC_ANCHORS",
    "COCO_ANCHORS",
    "wh_iou",
    "kmeans_anchors",
    "mean_best_iou",
    "assign_to_anchors",
    "KMEANS_METRICS",
]

#: darknet's YOLOv2 VOC priors (yolo-voc.cfg), (w, h) in grid units of a 13 x 13 grid; float64, shape [5, 2].
VOC_ANCHORS: Tensor = torch.tensor(
    [[1.3221, 1.73145], [3.19275, 4.00944], [5.05587, 8.09892], [9.47112, 4.84053], [11.2364, 10.0071]],
    dtype=torch.float64,
)
#: darknet's YOLOv2 COCO priors (yolo.cfg), (w, h) in grid units of a 13 x 13 grid; float64, shape [5, 2].
COCO_ANCHORS: Tensor = torch.tensor(
    [[0.57273, 0.677385], [1.87446, 2.06253], [3.33843, 5.47434], [7.88282, 3.52778], [9.77052, 9.16828]],
    dtype=torch.float64,
)


# --------------------------------------------------------------------------------------------------------------
# Input checks
# --------------------------------------------------------------------------------------------------------------
def _check_wh(wh: object, name: str, *, allow_empty: bool = True) -> Tensor:
    """A real floating/integer ``[N, 2]`` tensor of finite, non-negative widths and heights."""
    if not isinstance(wh, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of (w, h) rows, got {type(wh).__name__}.")
    if wh.is_complex() or wh.dtype == torch.bool:
        raise TypeError(f"{name} must hold real widths and heights, got dtype {wh.dtype}.")
    if wh.ndim != 2 or wh.shape[1] != 2:
        raise ValueError(f"{name} must have shape [N, 2] (one (w, h) per row), got shape {tuple(wh.shape)}.")
    if not allow_empty and wh.shape[0] == 0:
        raise ValueError(f"{name} is empty: it needs at least one (w, h) row.")
    if wh.numel():
        if wh.is_floating_point() and not bool(torch.isfinite(wh).all()):
            bad = int((~torch.isfinite(wh)).any(dim=1).nonzero()[0, 0])
            raise ValueError(f"{name} has a NaN or infinite value (row {bad}: {wh[bad].tolist()}).")
        if bool((wh < 0).any()):
            bad = int((wh < 0).any(dim=1).nonzero()[0, 0])
            raise ValueError(f"{name} has a negative width or height (row {bad}: {wh[bad].tolist()}).")
    return wh


def _as_float(wh: Tensor) -> Tensor:
    """Integer and half inputs become the default float / float32 (exact products, as in ``boxes``)."""
    if not wh.is_floating_point():
        return wh.to(torch.get_default_dtype())
    if wh.dtype in (torch.float16, torch.bfloat16):
        return wh.float()
    return wh


# --------------------------------------------------------------------------------------------------------------
# (w, h)-IoU
# --------------------------------------------------------------------------------------------------------------
def wh_iou(wh_a: Tensor, wh_b: Tensor) -> Tensor:
    """IoU of boxes that share a corner (only their widths and heights count): ``[N, 2] x [K, 2] -> [N, K]``.

    ``inter = min(w_a, w_b) * min(h_a, h_b)``, ``IoU = inter / (w_a h_a + w_b h_b - inter)``. Two boxes of zero area
    have IoU 0/0 = NaN, as ``torchvision.ops.box_iou`` gives for two identical points. The result has the common
    floating dtype of the inputs (float32 for half inputs, the default dtype for integer inputs).

    This is *not* ``box_iou`` of the boxes where they stand in the image: a 2 x 2 box and a 2 x 2 box far apart
    have ``wh_iou`` 1 (same shape) and ``box_iou`` 0.
    """
    wh_a = _as_float(_check_wh(wh_a, "wh_a"))
    wh_b = _as_float(_check_wh(wh_b, "wh_b"))
    dtype = torch.promote_types(wh_a.dtype, wh_b.dtype)
    wh_a, wh_b = wh_a.to(dtype), wh_b.to(dtype)
    inter = torch.minimum(wh_a[:, None, 0], wh_b[None, :, 0]) * torch.minimum(wh_a[:, None, 1], wh_b[None, :, 1])
    area_a = wh_a[:, 0] * wh_a[:, 1]
    area_b = wh_b[:, 0] * wh_b[:, 1]
    return inter / (area_a[:, None] + area_b[None, :] - inter)


def assign_to_anchors(wh: Tensor, anchors: Tensor) -> Tensor:
    """The k-means assignment step: each box goes to the anchor of highest (w, h)-IoU (the first on ties).

    ``argmin_k d(box, anchor_k) = argmax_k IoU_wh(box, anchor_k)``, ``[N, 2] x [K, 2] -> [N]`` int64. The same rule
    picks the anchor responsible for an object in YOLOv2 and YOLOv3.
    """
    iou = wh_iou(wh, anchors)  # (N, K)
    return torch.nan_to_num(iou, nan=0.0).argmax(dim=1)


def mean_best_iou(wh: Tensor, anchors: Tensor) -> float:
    """Average over the boxes of the (w, h)-IoU with their closest anchor: the y-axis of Figure 2 of the paper.

    .. math::
        \\overline{\\mathrm{IoU}} = \\frac{1}{N} \\sum_{n=1}^{N} \\max_k \\mathrm{IoU}_{wh}(\\text{box}_n, \\text{anchor}_k)

    Computed in float64. Boxes and anchors must have positive widths and heights.
    """
    wh = _check_positive(wh, "wh")
    anchors = _check_positive(anchors, "anchors")
    return float(wh_iou(wh.double(), anchors.double()).max(dim=1).values.mean())


def _check_positive(wh: object, name: str) -> Tensor:
    wh = _check_wh(wh, name, allow_empty=False)
    if bool((wh <= 0).any()):
        bad = int((wh <= 0).any(dim=1).nonzero()[0, 0])
        raise ValueError(f"{name} must have positive widths and heights (a zero-area box has no IoU); row {bad} is "
                         f"{wh[bad].tolist()}.")
    return wh


#: The distances :func:`kmeans_anchors` knows: the paper's ``"iou"`` (1 - IoU) and ``"euclidean"`` (for comparison).
KMEANS_METRICS: tuple[str, ...] = ("iou", "euclidean")


def _distance(wh: Tensor, centroids: Tensor, metric: str) -> Tensor:
    """``[N, 2] x [K, 2] -> [N, K]``: 1 - IoU_wh, or the Euclidean distance between (w, h) points."""
    if metric == "iou":
        return 1.0 - wh_iou(wh, centroids)
    return torch.cdist(wh, centroids)


def _plus_plus_seeds(wh: Tensor, k: int, metric: str, g: torch.Generator) -> Tensor:
    """k-means++ (Arthur & Vassilvitskii 2007): the first centre uniformly, each next one with probability
    proportional to the squared distance to the nearest centre chosen so far."""
    N = wh.shape[0]
    first = int(torch.randint(N, (), generator=g))
    centres = [wh[first]]
    nearest = _distance(wh, wh[first : first + 1], metric)[:, 0]  # (N,)
    for _ in range(1, k):
        weights = nearest.square()
        if float(weights.sum()) <= 0:  # every box coincides with a centre: any box will do
            nxt = int(torch.randint(N, (), generator=g))
        else:
            nxt = int(torch.multinomial(weights, 1, generator=g))
        centres.append(wh[nxt])
        nearest = torch.minimum(nearest, _distance(wh, wh[nxt : nxt + 1], metric)[:, 0])
    return torch.stack(centres)  # (k, 2)


def _lloyd(wh: Tensor, centroids: Tensor, metric: str, max_iter: int) -> tuple[Tensor, Tensor]:
    """Lloyd iterations until the assignment stops changing: assign to the nearest centroid, move each centroid to
    its members' mean. An empty cluster is moved onto the box farthest from its own centroid (so k stays k)."""
    k = centroids.shape[0]
    assign = None
    for _ in range(max_iter):
        d = _distance(wh, centroids, metric)  # (N, k)
        new_assign = d.argmin(dim=1)  # (N,)
        counts = torch.bincount(new_assign, minlength=k)  # (k,)
        if bool((counts == 0).any()):  # empty clusters: take the worst-served boxes
            worst = d.gather(1, new_assign[:, None])[:, 0].argsort(descending=True)
            for slot, box in zip((counts == 0).nonzero()[:, 0].tolist(), worst.tolist()):
                new_assign[box] = slot
            counts = torch.bincount(new_assign, minlength=k)
        if assign is not None and torch.equal(new_assign, assign):
            break
        assign = new_assign
        sums = torch.zeros_like(centroids).index_add_(0, assign, wh)  # (k, 2)
        centroids = sums / counts[:, None].to(wh.dtype)  # the members' mean
    return centroids, assign


def kmeans_anchors(
    wh: Tensor,
    k: int,
    *,
    seed: int = 0,
    n_init: int = 5,
    max_iter: int = 300,
    metric: str = "iou",
) -> Tensor:
    """YOLOv2's dimension clusters: k-means on box (w, h) with the distance :math:`d = 1 - \\mathrm{IoU}_{wh}`.

    .. math::
        \\text{assign: } a_n = \\arg\\max_k \\mathrm{IoU}_{wh}(\\text{box}_n, \\text{anchor}_k), \\qquad
        \\text{update: } \\text{anchor}_k = \\frac{1}{|\\{n: a_n = k\\}|} \\sum_{n: a_n = k} (w_n, h_n)

    ``n_init`` runs, each from k-means++ seeds (drawn with the same distance), each iterated until the assignment
    no longer changes (at most ``max_iter`` times); the run with the highest :func:`mean_best_iou` wins. An empty
    cluster takes the box farthest from its centroid. The centroid is the members' mean, as in the paper's
    standard k-means; the 1 - IoU distance only changes the assignment. ``metric="euclidean"`` runs the same
    algorithm with the Euclidean distance between (w, h) points, the baseline the paper argues against.

    Args:
        wh: ``(N, 2)`` positive widths and heights (any unit: pixels, grid cells, fractions of the image).
        k: number of clusters, ``1 <= k <= N``.
        seed: seeds a private ``torch.Generator`` (the global RNG is untouched): same input and seed, same anchors.
        n_init: number of k-means++ restarts (>= 1).
        max_iter: cap on the Lloyd iterations of one run (>= 1).
        metric: ``"iou"`` (the paper) or ``"euclidean"``.

    Returns:
        ``(k, 2)`` anchors sorted by increasing area (then width), in the dtype of ``wh`` (the default float dtype
        for integer input), computed in float64.
    """
    wh = _check_positive(wh, "wh")
    for value, name, low in ((k, "k", 1), (n_init, "n_init", 1), (max_iter, "max_iter", 1), (seed, "seed", 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"{name} must be an int >= {low}, got {value!r}.")
    if k > wh.shape[0]:
        raise ValueError(f"k = {k} clusters need at least k boxes, got {wh.shape[0]}.")
    if metric not in KMEANS_METRICS:
        raise ValueError(f"metric must be one of {KMEANS_METRICS}, got {metric!r}.")
    out_dtype = wh.dtype if wh.is_floating_point() else torch.get_default_dtype()
    x = wh.detach().to("cpu", torch.float64)
    g = torch.Generator().manual_seed(seed)
    best, best_score = None, -math.inf
    for _ in range(n_init):
        centroids, _ = _lloyd(x, _plus_plus_seeds(x, k, metric, g), metric, max_iter)
        score = float(wh_iou(x, centroids).max(dim=1).values.mean())
        if score > best_score + 1e-12:
            best, best_score = centroids, score
    order = sorted(range(k), key=lambda i: (float(best[i, 0] * best[i, 1]), float(best[i, 0])))
    return best[order].to(device=wh.device, dtype=out_dtype)
