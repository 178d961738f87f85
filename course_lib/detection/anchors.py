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
    # kmeans_anchors, mean_best_iou: coming in the next commit
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
