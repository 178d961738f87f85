"""YOLOv2 (Redmon & Farhadi, *YOLO9000: Better, Faster, Stronger*, CVPR 2017): reorg, direct location prediction,
target encoding, the loss term by term, Darknet-19 and the detector, decoding, multi-scale training.

Read top to bottom, this module is chapter 15 of the course (the anchors themselves, k-means with 1 - IoU, are in
:mod:`course_lib.detection.anchors`; the WordTree of YOLO9000 in :mod:`course_lib.detection.wordtree`):

1. :func:`reorg`, darknet's reorg layer (the *passthrough* of Section 2 "Fine-Grained Features"), next to
   :func:`darknet_reorg_loop` (a slow port of darknet's ``reorg_cpu(..., forward=0)``, the test reference),
   :func:`space_to_depth_tf` and :func:`torch.nn.functional.pixel_unshuffle`, which order channels differently.
2. :func:`decode_offsets`: direct location prediction, :math:`b_x = \\sigma(t_x) + c_x`,
   :math:`b_w = p_w e^{t_w}` (Section 2 "Direct location prediction").
3. :func:`encode_targets` / :func:`encode_batch`: boxes -> the per-anchor targets (the inverse of
   :func:`decode_offsets` at the best anchor of each object, by :func:`course_lib.detection.anchors.wh_iou`).
4. :func:`yolo_v2_loss` (and :class:`YoloV2Loss`, which counts the images seen for the prior warm-up): the terms
   of darknet's ``region`` layer, one per line, vectorized over batch, cells and anchors.
5. The networks: :class:`Darknet19` (the classifier of Table 6: 19 convolutions, 5 max-pools), :class:`YoloV2`
   (the detector of Section 3 with the passthrough) and :class:`YoloV2Tiny` (a CPU-sized one, same parts).
6. :func:`decode`: the prediction -> boxes, scores, labels, one dict per image (as ``yolo_v1.decode``).
7. :class:`MultiScaleBatches`: a new input size every 10 batches (Section 2 "Multi-Scale Training").

**The tensor layout.** The networks output raw numbers ``(N, H, W, A, 5 + C)``, indexed ``[n, row, col, anchor]``
(row = the y cell, col = the x cell), each anchor's vector laid out as

.. code-block:: text

    [ t_x  t_y  t_w  t_h  t_o | C class logits ]

with the box :math:`(\\sigma(t_x) + c_x, \\sigma(t_y) + c_y, p_w e^{t_w}, p_h e^{t_h})` (centre and size in grid
units, :func:`decode_offsets`), the objectness :math:`\\sigma(t_o)` and the class probabilities
:math:`\\operatorname{softmax}(\\text{logits})`. Anchors :math:`(p_w, p_h)` are in grid units (cells), as darknet's
``anchors=`` line (:data:`course_lib.detection.anchors.VOC_ANCHORS`): a cell is ``stride`` pixels whatever the input
size, so an anchor keeps its size in pixels when multi-scale training changes the grid.

References: J. Redmon, A. Farhadi, *YOLO9000: Better, Faster, Stronger*, CVPR 2017 (Section 2 "Better": batch norm,
high-resolution classifier, anchors, dimension clusters, direct location prediction, fine-grained features,
multi-scale training; Section 3 "Faster": Darknet-19; Section 4 "Stronger": YOLO9000). The loss is not written in
the paper; this module writes the one of darknet's ``region`` layer (``forward_region_layer`` in ``region_layer.c``)
and its ``yolo-voc.cfg`` weights (``object_scale=5``, ``noobject_scale=1``, ``class_scale=1``, ``coord_scale=1``,
``thresh=.6``, ``rescore=1``).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Iterable, Iterator, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from course_lib.detection._common import conv_bn_leaky, unpack_targets
from course_lib.detection.anchors import VOC_ANCHORS, wh_iou
from course_lib.detection.boxes import box_convert, box_iou, box_iou_pairwise
from course_lib.detection.datasets import normalize_boxes
from course_lib.detection.nms import filter_then_nms, nms_then_classify
from course_lib.registry import register_model

__all__ = [
    "reorg",
    "darknet_reorg_loop",
    "space_to_depth_tf",
    "decode_offsets",
    "grid_cells",
    "pred_boxes",
    "encode_targets",
    "encode_batch",
    "yolo_v2_loss",
    "YoloV2Loss",
    "LOSS_TERMS",
    "DARKNET19_STAGES",
    "DARKNET19_CLASSIFIER_CONVS",
    "Darknet19",
    "YoloV2Config",
    "YoloV2",
    "YoloV2TinyConfig",
    "YoloV2Tiny",
    "decode_predictions",
    "decode",
    "DECODE_STRATEGIES",
    "PAPER_MULTI_SCALE_SIZES",
    "MultiScaleBatches",
]


def _positive_int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name} must be a positive int, got {value!r}.")
    return value


def _non_negative(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0 or math.isinf(value):
        raise ValueError(f"{name} must be a finite non-negative number, got {value!r}.")
    return float(value)


# ----------------------------------------------------------------------------------------------------------------------
# 1. reorg: darknet's passthrough, and its two look-alikes
# ----------------------------------------------------------------------------------------------------------------------
def _check_reorg_input(x: object, stride: object) -> tuple[Tensor, int]:
    if not isinstance(x, Tensor):
        raise TypeError(f"x must be a torch.Tensor (B, C, H, W), got {type(x).__name__}.")
    s = _positive_int(stride, "stride")
    if x.ndim != 4:
        raise ValueError(f"x must have shape (B, C, H, W), got {tuple(x.shape)}.")
    B, C, H, W = x.shape
    if H % s or W % s:
        raise ValueError(f"H and W must be multiples of stride={s}, got H={H}, W={W}.")
    if C % (s * s):
        raise ValueError(f"darknet's reorg needs C divisible by stride^2 = {s * s}, got C={C}.")
    return x, s


def reorg(x: Tensor, stride: int = 2) -> Tensor:
    """Darknet's reorg layer: ``(B, C, H, W) -> (B, C s^2, H/s, W/s)``, in darknet's element order.

    What darknet's ``reorg_layer`` computes (it calls ``reorg_cpu(input, w, h, c, batch, stride, forward=0,
    output)``) is this reshape and permutation, for a stride :math:`s`:

    .. math::
        \\text{out}[b,\\; (i s + j) \\tfrac{C}{s^2} + c',\\; y,\\; x]
          = \\tilde x[b,\\; c',\\; y s + i,\\; x s + j], \\qquad
        \\tilde x = x \\text{ read as } (B, \\tfrac{C}{s^2}, H s, W s) \\text{ (same memory)}

    i.e. ``x.reshape(B, C/s^2, H, s, W, s).permute(0, 3, 5, 1, 2, 4).reshape(B, C s^2, H/s, W/s)``. Because darknet
    reads the ``C x H x W`` input buffer as a ``C/s^2 x Hs x Ws`` image, this is *not* a rearrangement of
    :math:`s \\times s` spatial blocks: it equals :func:`space_to_depth_tf` applied to that reinterpreted buffer,
    whose ``C x H x W`` result is read again as ``C s^2 x H/s x W/s``. It is neither
    ``torch.nn.functional.pixel_unshuffle`` (channel ``c s^2 + i s + j`` holds pixel ``(ys + i, xs + j)`` of channel
    ``c``) nor TensorFlow's ``space_to_depth`` (channel ``(i s + j) C + c``). A network trained with darknet's
    weights needs darknet's order; a network trained from scratch learns with any of the three (each is a fixed
    permutation of the same numbers).

    On ``torch.arange(16.).reshape(1, 4, 2, 2)`` (stride 2) it gives 0, 2, 8, 10, 1, 3, 9, 11, 4, 6, 12, 14, 5, 7,
    13, 15 (FACTS.md; pinned by the tests against :func:`darknet_reorg_loop`).

    Args:
        x: ``(B, C, H, W)`` with ``C`` divisible by ``stride^2`` and ``H``, ``W`` by ``stride``.
        stride: the block side :math:`s` (2 in YOLOv2: 26 x 26 x 512 -> 13 x 13 x 2048).

    Returns:
        ``(B, C s^2, H/s, W/s)``, same dtype and device; differentiable (a view-and-copy).
    """
    x, s = _check_reorg_input(x, stride)
    B, C, H, W = x.shape
    out = x.reshape(B, C // (s * s), H, s, W, s)  # (B, C/s^2, H, s, W, s): the buffer as (C/s^2, Hs, Ws)
    out = out.permute(0, 3, 5, 1, 2, 4)  # (B, s_i, s_j, C/s^2, H, W)
    return out.reshape(B, C * s * s, H // s, W // s)  # (B, C s^2, H/s, W/s)


def darknet_reorg_loop(x: Tensor, stride: int = 2) -> Tensor:
    """A slow, literal port of darknet's ``reorg_cpu(x, w, h, c, batch, stride, forward=0, out)`` (the test
    reference for :func:`reorg`). Written for clarity; never used on the hot path.

    Darknet's loop, with ``w, h, c`` the *input* width, height and channels and ``out_c = c / stride^2``:

    .. code-block:: text

        for b, k < c, j < h, i < w:
            in_index  = i + w * (j + h * (k + c * b))
            c2 = k % out_c;  offset = k / out_c
            w2 = i * stride + offset % stride;  h2 = j * stride + offset / stride
            out_index = w2 + w * stride * (h2 + h * stride * (c2 + out_c * b))
            forward ? out[out_index] = x[in_index] : out[in_index] = x[out_index]

    With ``forward = 0`` (what the reorg layer calls) the output buffer, read as ``(B, C s^2, H/s, W/s)``, is the
    layer's output.
    """
    x, s = _check_reorg_input(x, stride)
    B, c, h, w = x.shape
    flat_in = x.reshape(-1).tolist()
    flat_out = [0.0] * len(flat_in)
    out_c = c // (s * s)
    for b in range(B):
        for k in range(c):
            for j in range(h):
                for i in range(w):
                    in_index = i + w * (j + h * (k + c * b))
                    c2 = k % out_c
                    offset = k // out_c
                    w2 = i * s + offset % s
                    h2 = j * s + offset // s
                    out_index = w2 + w * s * (h2 + h * s * (c2 + out_c * b))
                    flat_out[in_index] = flat_in[out_index]  # forward = 0
    return torch.tensor(flat_out, dtype=x.dtype).reshape(B, c * s * s, h // s, w // s).to(x.device)


def space_to_depth_tf(x: Tensor, stride: int = 2) -> Tensor:
    """TensorFlow's ``tf.nn.space_to_depth`` in NCHW: ``(B, C, H, W) -> (B, C s^2, H/s, W/s)``.

    .. math::
        \\text{out}[b, (i s + j) C + c, y, x] = x[b, c, y s + i, x s + j]

    (TensorFlow works in NHWC, where the output depth index is ``(i s + j) C + c``.) The same numbers as
    ``pixel_unshuffle`` (``out[b, c s^2 + i s + j, y, x]``), with the channels permuted: TF puts the block offset
    first, PyTorch the input channel first.
    """
    if not isinstance(x, Tensor) or x.ndim != 4:
        raise ValueError(f"x must be a (B, C, H, W) tensor, got {getattr(x, 'shape', type(x).__name__)}.")
    s = _positive_int(stride, "stride")
    B, C, H, W = x.shape
    if H % s or W % s:
        raise ValueError(f"H and W must be multiples of stride={s}, got H={H}, W={W}.")
    out = x.reshape(B, C, H // s, s, W // s, s).permute(0, 3, 5, 1, 2, 4)  # (B, i, j, C, H/s, W/s)
    return out.reshape(B, s * s * C, H // s, W // s)


# ----------------------------------------------------------------------------------------------------------------------
# 2. Direct location prediction
# ----------------------------------------------------------------------------------------------------------------------
def decode_offsets(t: Tensor, cell_xy: Tensor, anchor_wh: Tensor) -> Tensor:
    """Direct location prediction (Section 2 of the paper): raw offsets -> box centre and size in grid units.

    .. math::
        b_x = \\sigma(t_x) + c_x, \\qquad b_y = \\sigma(t_y) + c_y, \\qquad
        b_w = p_w e^{t_w}, \\qquad b_h = p_h e^{t_h}

    with :math:`(c_x, c_y)` the top-left corner of the cell (its column and row) and :math:`(p_w, p_h)` the anchor.
    Since :math:`\\sigma(t) \\in (0, 1)`, the centre never leaves its cell, whatever the network outputs: the
    instability of the unconstrained :math:`x = x_a + t_x w_a` of region-proposal networks is gone.

    Args:
        t: ``(..., 4)`` raw :math:`(t_x, t_y, t_w, t_h)`.
        cell_xy: ``(..., 2)`` :math:`(c_x, c_y)` = (column, row), broadcastable against ``t[..., :2]``.
        anchor_wh: ``(..., 2)`` :math:`(p_w, p_h)` in grid units, broadcastable against ``t[..., 2:]``.

    Returns:
        ``(..., 4)`` :math:`(b_x, b_y, b_w, b_h)` (centre and size, ``cxcywh``) in grid units, in the promoted
        floating dtype of the inputs; differentiable in ``t``.
    """
    for value, name, last in ((t, "t", 4), (cell_xy, "cell_xy", 2), (anchor_wh, "anchor_wh", 2)):
        if not isinstance(value, Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}.")
        if value.ndim == 0 or value.shape[-1] != last:
            raise ValueError(f"{name} must have shape (..., {last}), got {tuple(value.shape)}.")
    if not t.is_floating_point():
        raise TypeError(f"t must be a floating-point tensor, got dtype {t.dtype}.")
    try:
        xy = torch.sigmoid(t[..., :2]) + cell_xy  # (..., 2): sigma(t_x) + c_x, sigma(t_y) + c_y
        wh = anchor_wh * torch.exp(t[..., 2:])  # (..., 2): p_w e^{t_w}, p_h e^{t_h}
        return torch.cat(torch.broadcast_tensors(xy, wh), dim=-1)  # (..., 4)
    except RuntimeError as err:
        raise ValueError(f"t {tuple(t.shape)}, cell_xy {tuple(cell_xy.shape)} and anchor_wh "
                         f"{tuple(anchor_wh.shape)} do not broadcast: {err}") from err


def grid_cells(H: int, W: int, *, device: torch.device | str | None = None,
               dtype: torch.dtype = torch.float32) -> Tensor:
    """``(H, W, 1, 2)`` cell corners :math:`(c_x, c_y)` = (column, row), to broadcast against ``(N, H, W, A, 2)``."""
    rows = torch.arange(H, device=device, dtype=dtype).view(H, 1).expand(H, W)
    cols = torch.arange(W, device=device, dtype=dtype).view(1, W).expand(H, W)
    return torch.stack([cols, rows], dim=-1).unsqueeze(-2)  # (H, W, 1, 2)


def _check_anchors(anchors: object) -> Tensor:
    if not isinstance(anchors, Tensor) or anchors.ndim != 2 or anchors.shape[1] != 2 or anchors.shape[0] == 0:
        raise ValueError(f"anchors must be a (A >= 1, 2) tensor of (w, h) in grid units, got "
                         f"{getattr(anchors, 'shape', type(anchors).__name__)}.")
    if not anchors.is_floating_point() or not bool((anchors > 0).all()) or not bool(torch.isfinite(anchors).all()):
        raise ValueError("anchors must be positive, finite floating-point widths and heights.")
    return anchors


def _check_pred(pred: object, A: int | None = None) -> Tensor:
    if not isinstance(pred, Tensor):
        raise TypeError(f"pred must be a torch.Tensor (N, H, W, A, 5 + C), got {type(pred).__name__}.")
    if not pred.is_floating_point():
        raise TypeError(f"pred must be a floating-point tensor, got dtype {pred.dtype}.")
    if pred.ndim != 5 or pred.shape[-1] < 6 or pred.shape[0] == 0:
        raise ValueError(f"pred must have shape (N >= 1, H, W, A, 5 + C) with C >= 1, got {tuple(pred.shape)}.")
    if A is not None and pred.shape[3] != A:
        raise ValueError(f"pred has {pred.shape[3]} anchors per cell (dim 3) but {A} anchors were given.")
    return pred


def pred_boxes(pred: Tensor, anchors: Tensor) -> Tensor:
    """``(N, H, W, A, 4)`` predicted boxes ``cxcywh`` in grid units (:func:`decode_offsets` at every anchor)."""
    H, W = pred.shape[1], pred.shape[2]
    cells = grid_cells(H, W, device=pred.device, dtype=pred.dtype)  # (H, W, 1, 2)
    return decode_offsets(pred[..., :4], cells, anchors.to(pred.dtype))  # (N, H, W, A, 4)


# ----------------------------------------------------------------------------------------------------------------------
# 3. Target encoding
# ----------------------------------------------------------------------------------------------------------------------
def _targets_list(targets: object, image_size: Any) -> list[tuple[Tensor, Tensor]]:
    out = []
    for n, (boxes, labels) in enumerate(unpack_targets(targets)):
        if not isinstance(boxes, Tensor) or not isinstance(labels, Tensor):
            raise TypeError(f"targets[{n}]: boxes and labels must be tensors.")
        if image_size is not None:
            boxes = normalize_boxes(boxes, image_size)
        if not boxes.is_floating_point() or boxes.ndim != 2 or boxes.shape[1] != 4:
            raise ValueError(f"targets[{n}]: boxes must be a floating (M, 4) xyxy tensor, got {boxes.dtype} "
                             f"{tuple(boxes.shape)}.")
        if labels.is_floating_point() or labels.dtype == torch.bool or labels.shape != (boxes.shape[0],):
            raise ValueError(f"targets[{n}]: labels must be an integer (M,) tensor, got {labels.dtype} "
                             f"{tuple(labels.shape)}.")
        if boxes.numel():
            if not bool(torch.isfinite(boxes).all()) or bool(((boxes < 0) | (boxes > 1)).any()):
                raise ValueError(f"targets[{n}]: boxes must be xyxy fractions of the image in [0, 1] (pass "
                                 "image_size=... for pixel boxes).")
            if bool(((boxes[:, 2] <= boxes[:, 0]) | (boxes[:, 3] <= boxes[:, 1])).any()):
                raise ValueError(f"targets[{n}]: every box needs x2 > x1 and y2 > y1 (a positive size).")
        out.append((boxes, labels.long()))
    return out


def encode_batch(
    targets: Sequence[Any],
    anchors: Tensor,
    grid_size: int | tuple[int, int],
    C: int,
    *,
    image_size: int | tuple[int, int] | None = None,
) -> dict[str, Tensor]:
    """The YOLOv2 targets of a batch: each object goes to the cell holding its centre and, there, to the anchor of
    highest (w, h)-IoU; the target offsets invert :func:`decode_offsets`.

    For an object with centre :math:`(g_x, g_y)` and size :math:`(g_w, g_h)` in grid units
    (:math:`g_x = W c_x` for a centre :math:`c_x` relative to the image):

    .. math::
        \\text{col} = \\min(\\lfloor g_x \\rfloor, W - 1), \\quad \\text{row} = \\min(\\lfloor g_y \\rfloor, H - 1),
        \\quad a^\\star = \\arg\\max_a \\mathrm{IoU}_{wh}\\big((g_w, g_h), (p_{w,a}, p_{h,a})\\big),

    .. math::
        \\hat\\sigma_x = g_x - \\text{col}, \\quad \\hat\\sigma_y = g_y - \\text{row}, \\quad
        \\hat t_w = \\log \\frac{g_w}{p_{w,a^\\star}}, \\quad \\hat t_h = \\log \\frac{g_h}{p_{h,a^\\star}},

    so that :func:`decode_offsets` of :math:`(\\operatorname{logit} \\hat\\sigma_x, \\operatorname{logit}
    \\hat\\sigma_y, \\hat t_w, \\hat t_h)` at that cell and anchor gives the box back. (The centre's targets are
    the *sigmoid's* values, which the loss compares with :math:`\\sigma(t_x)`; their logits may be infinite on a
    cell border.) When two objects want the same cell and anchor, the larger box wins (the first of equal areas),
    as in ``yolo_v1.encode_targets``; the other one is still in ``gt`` (the ignore rule sees it).

    Args:
        targets: ``N`` dicts with ``"boxes"`` ``(M_n, 4)`` xyxy and ``"labels"`` ``(M_n,)`` int, or
            ``(boxes, labels)`` pairs (a ``(images, targets)`` batch of :mod:`course_lib.detection.datasets`).
        anchors: ``(A, 2)`` anchors in grid units.
        grid_size: ``H`` (square) or ``(H, W)``, the output grid of the network.
        C: number of classes (labels must lie in ``[0, C)``).
        image_size: ``None`` when the boxes are fractions of the image (in [0, 1]); else the image size in pixels,
            ``(H, W)`` or an int: the boxes are divided by it first.

    Returns:
        a dict of tensors (dtype of the boxes, device of the anchors... of the boxes):
        ``"obj"`` ``(N, H, W, A)`` bool, the responsible anchors; ``"xy"`` ``(N, H, W, A, 2)`` the target
        :math:`\\hat\\sigma`; ``"twh"`` ``(N, H, W, A, 2)`` the target :math:`\\hat t_w, \\hat t_h`; ``"box"``
        ``(N, H, W, A, 4)`` the target box ``cxcywh`` in grid units; ``"scale"`` ``(N, H, W, A)`` darknet's box weight
        :math:`2 - w h` (w, h relative to the image); ``"labels"`` ``(N, H, W, A)`` int64 (-1 where no object);
        ``"gt"`` ``(N, M, 4)`` every object's box ``cxcywh`` in grid units and ``"gt_mask"`` ``(N, M)`` bool
        (``M`` = the most objects of one image).
    """
    anchors = _check_anchors(anchors)
    H, W = (grid_size, grid_size) if isinstance(grid_size, int) else tuple(grid_size)
    _positive_int(H, "grid height")
    _positive_int(W, "grid width")
    C = _positive_int(C, "C")
    items = _targets_list(targets, image_size)
    N, A = len(items), anchors.shape[0]
    device = items[0][0].device
    dtype = items[0][0].dtype
    boxes = torch.cat([b.to(device, dtype) for b, _ in items])  # (T, 4) all objects of the batch
    labels = torch.cat([lab.to(device) for _, lab in items])  # (T,)
    image = torch.cat([torch.full((b.shape[0],), n, dtype=torch.long, device=device) for n, (b, _) in enumerate(items)])
    if labels.numel() and bool(((labels < 0) | (labels >= C)).any()):
        raise ValueError(f"labels must lie in [0, C) = [0, {C}).")
    anchors = anchors.to(device, dtype)

    out = {
        "obj": torch.zeros(N * H * W * A, dtype=torch.bool, device=device),
        "xy": torch.zeros(N * H * W * A, 2, dtype=dtype, device=device),
        "twh": torch.zeros(N * H * W * A, 2, dtype=dtype, device=device),
        "box": torch.zeros(N * H * W * A, 4, dtype=dtype, device=device),
        "scale": torch.zeros(N * H * W * A, dtype=dtype, device=device),
        "labels": torch.full((N * H * W * A,), -1, dtype=torch.long, device=device),
    }
    T = boxes.shape[0]
    if T:
        cxcywh = box_convert(boxes, "xyxy", "cxcywh")  # (T, 4) relative to the image
        g = cxcywh * torch.tensor([W, H, W, H], dtype=dtype, device=device)  # (T, 4) in grid units
        col = g[:, 0].floor().long().clamp_(0, W - 1)
        row = g[:, 1].floor().long().clamp_(0, H - 1)
        best = wh_iou(g[:, 2:], anchors).argmax(dim=1)  # (T,) the anchor of highest (w, h)-IoU (first on ties)
        slot = ((image * H + row) * W + col) * A + best  # (T,) flat (n, row, col, anchor)
        # One object per slot: the largest box wins, the first of equal areas (two scatter-reductions, no loop).
        area = cxcywh[:, 2] * cxcywh[:, 3]
        top = torch.full((N * H * W * A,), -1.0, dtype=dtype, device=device).scatter_reduce(0, slot, area, "amax")
        order = torch.arange(T, device=device)
        first = torch.full((N * H * W * A,), T, dtype=torch.long, device=device)
        first = first.scatter_reduce(0, slot, torch.where(area == top[slot], order, T), "amin")
        win = first[slot] == order  # (T,)
        s, gw = slot[win], g[win]
        out["obj"][s] = True
        out["xy"][s] = gw[:, :2] - torch.stack([col[win], row[win]], dim=1).to(dtype)  # offsets in the cell
        out["twh"][s] = torch.log(gw[:, 2:] / anchors[best[win]])  # log(g_w / p_w), log(g_h / p_h)
        out["box"][s] = gw
        out["scale"][s] = 2.0 - area[win]  # 2 - w h, w and h relative to the image
        out["labels"][s] = labels[win]
    shaped = {k: v.view(N, H, W, A, *v.shape[1:]) for k, v in out.items()}
    M = max(1, max(b.shape[0] for b, _ in items))
    gt = torch.zeros(N, M, 4, dtype=dtype, device=device)
    gt_mask = torch.zeros(N, M, dtype=torch.bool, device=device)
    if T:
        rank = order - torch.cat([torch.zeros(1, dtype=torch.long, device=device),
                                  torch.bincount(image, minlength=N).cumsum(0)[:-1]])[image]  # index in its image
        gt[image, rank] = g
        gt_mask[image, rank] = True
    shaped["gt"], shaped["gt_mask"] = gt, gt_mask
    return shaped


def encode_targets(boxes: Tensor, labels: Tensor, anchors: Tensor, grid_size: int | tuple[int, int],
                   C: int) -> dict[str, Tensor]:
    """:func:`encode_batch` for one image (boxes xyxy in [0, 1]): the same dict, with a batch dimension of 1."""
    return encode_batch([{"boxes": boxes, "labels": labels}], anchors, grid_size, C)


# ----------------------------------------------------------------------------------------------------------------------
# 4. The loss
# ----------------------------------------------------------------------------------------------------------------------

#: The names of the terms of :func:`yolo_v2_loss` (``return_terms=True``).
LOSS_TERMS: tuple[str, ...] = ("coord", "obj", "noobj", "prior", "cls")

_ENCODED_KEYS = ("obj", "xy", "twh", "box", "scale", "labels", "gt", "gt_mask")


def yolo_v2_loss(
    pred: Tensor,
    targets: Sequence[Any] | Mapping[str, Tensor],
    anchors: Tensor,
    *,
    lambda_coord: float = 1.0,
    lambda_obj: float = 5.0,
    lambda_noobj: float = 1.0,
    lambda_cls: float = 1.0,
    lambda_prior: float = 0.01,
    ignore_thresh: float = 0.6,
    prior_warmup: bool = False,
    rescore: bool = True,
    image_size: int | tuple[int, int] | None = None,
    return_terms: bool = False,
) -> Tensor | tuple[Tensor, dict[str, Tensor]]:
    """The YOLOv2 loss: darknet's ``region`` layer written as a loss, term by term, summed over cells and anchors
    and averaged over the batch.

    With :math:`\\mathbb 1^\\text{obj}_{ia}` the responsible anchors of :func:`encode_batch`, :math:`b_{ia}` the
    predicted box (:func:`decode_offsets`), :math:`\\hat b` the target box, :math:`s = 2 - \\hat w \\hat h`:

    .. math::
        \\mathcal L = \\frac1N \\sum_{n} \\Big[
          \\tfrac12 \\lambda_\\text{coord} \\sum_{ia} \\mathbb 1^\\text{obj}_{ia}\\, s_{ia}
            \\big[(\\sigma(t_x) - \\hat\\sigma_x)^2 + (\\sigma(t_y) - \\hat\\sigma_y)^2
                 + (t_w - \\hat t_w)^2 + (t_h - \\hat t_h)^2\\big]
          + \\tfrac12 \\lambda_\\text{obj} \\sum_{ia} \\mathbb 1^\\text{obj}_{ia}
            \\big(\\sigma(t_o) - \\mathrm{IoU}(b_{ia}, \\hat b_{ia})\\big)^2

    .. math::
          + \\tfrac12 \\lambda_\\text{noobj} \\sum_{ia} \\mathbb 1^\\text{noobj}_{ia}\\, \\sigma(t_o)^2
          + \\tfrac12 \\lambda_\\text{prior} [\\text{warm-up}] \\sum_{ia} (1 - \\mathbb 1^\\text{obj}_{ia})
            \\big[(\\sigma(t_x) - \\tfrac12)^2 + (\\sigma(t_y) - \\tfrac12)^2 + t_w^2 + t_h^2\\big]
          + \\lambda_\\text{cls} \\sum_{ia} \\mathbb 1^\\text{obj}_{ia}
            \\big(-\\log \\operatorname{softmax}(\\text{logits}_{ia})_{\\hat c}\\big) \\Big]

    - **coord**: the offsets of the responsible anchor against the inverse of :func:`decode_offsets`, in the
      sigmoid's range for the centre and in log space for the size (scale invariant), weighted by darknet's
      :math:`2 - w h` (small boxes count up to twice as much);
    - **obj**: its objectness pulled to the IoU of its current box with the object (``rescore``; else to 1),
      the IoU computed without gradient;
    - **noobj**: every other anchor's objectness pulled to 0, *except* the ones whose box already overlaps some
      object with IoU :math:`>` ``ignore_thresh`` (the ignore rule: a good second box is not punished);
      :math:`\\mathbb 1^\\text{noobj}_{ia} = (1 - \\mathbb 1^\\text{obj}_{ia})\\,[\\max_m \\mathrm{IoU}(b_{ia},
      \\hat b_m) \\le \\text{ignore\\_thresh}]`;
    - **prior**: during the warm-up (darknet: the first 12,800 images) every anchor without an object is pulled to
      its prior, centred in its cell with the anchor's size, with a small weight: the predictions start from the
      dimension clusters;
    - **cls**: cross-entropy of the responsible anchor's classes (darknet's softmax delta ``onehot - p`` is exactly
      its negative gradient with respect to the logits).

    The halves make the gradient equal darknet's deltas: :math:`\\partial \\mathcal L / \\partial \\sigma(t_o) =
    -\\lambda_\\text{obj} (\\mathrm{IoU} - \\sigma(t_o)) / N` and so on (pinned by a test against a loop).

    Args:
        pred: ``(N, H, W, A, 5 + C)`` raw network outputs (the module's layout).
        targets: a list of ``N`` target dicts (boxes xyxy, fractions of the image unless ``image_size`` is given),
            encoded here at the grid of ``pred``; or the dict :func:`encode_batch` returned for that grid.
        anchors: ``(A, 2)`` in grid units.
        lambda_coord, lambda_obj, lambda_noobj, lambda_cls, lambda_prior: the weights (darknet's ``yolo-voc.cfg``:
            ``coord_scale=1``, ``object_scale=5``, ``noobject_scale=1``, ``class_scale=1``; prior ``.01``).
        ignore_thresh: darknet's ``thresh=.6``.
        prior_warmup: add the prior term (:class:`YoloV2Loss` switches it on for the first images).
        rescore: objectness target IoU (``True``, darknet's ``rescore=1``) or 1.
        image_size: passed to :func:`encode_batch` for pixel boxes.
        return_terms: also return the terms (0-d tensors, each averaged over the batch; they sum to the loss).
    """
    anchors = _check_anchors(anchors)
    pred = _check_pred(pred, anchors.shape[0])
    for value, name in ((lambda_coord, "lambda_coord"), (lambda_obj, "lambda_obj"), (lambda_noobj, "lambda_noobj"),
                        (lambda_cls, "lambda_cls"), (lambda_prior, "lambda_prior")):
        _non_negative(value, name)
    if isinstance(ignore_thresh, bool) or not isinstance(ignore_thresh, (int, float)) or not 0 <= ignore_thresh <= 1:
        raise ValueError(f"ignore_thresh must be in [0, 1], got {ignore_thresh!r}.")
    N, H, W, A, depth = pred.shape
    C = depth - 5
    if isinstance(targets, Mapping):
        missing = [k for k in _ENCODED_KEYS if k not in targets]
        if missing:
            raise ValueError(f"encoded targets miss the keys {missing} (use encode_batch).")
        enc = targets
        if tuple(enc["obj"].shape) != (N, H, W, A):
            raise ValueError(f"the encoded targets are for a grid {tuple(enc['obj'].shape)}, pred is {(N, H, W, A)}.")
    else:
        enc = encode_batch(targets, anchors.to(pred.device), (H, W), C, image_size=image_size)
        if len(targets) != N:
            raise ValueError(f"pred has {N} images but targets {len(targets)}.")
    enc = {k: v.to(pred.device) for k, v in enc.items()}
    obj = enc["obj"]  # (N, H, W, A) 1^obj
    zero = pred.new_zeros(())

    sig_xy = torch.sigmoid(pred[..., :2])  # (N, H, W, A, 2)
    t_wh = pred[..., 2:4]  # (N, H, W, A, 2)
    conf = torch.sigmoid(pred[..., 4])  # (N, H, W, A) sigma(t_o)
    logits = pred[..., 5:]  # (N, H, W, A, C)

    with torch.no_grad():  # the IoUs that choose targets and ignored anchors: no gradient
        boxes = box_convert(torch.nan_to_num(pred_boxes(pred.detach(), anchors), nan=0.0, posinf=1e4), "cxcywh",
                            "xyxy")  # (N, H, W, A, 4) grid units
        gt = box_convert(enc["gt"].to(pred.dtype), "cxcywh", "xyxy")  # (N, M, 4)
        iou_gt = torch.nan_to_num(box_iou(boxes.reshape(N, H * W * A, 4), gt), nan=0.0)  # (N, HWA, M)
        iou_gt = torch.where(enc["gt_mask"][:, None, :], iou_gt, torch.zeros_like(iou_gt))
        best_iou = iou_gt.max(dim=-1).values.view(N, H, W, A)  # max_m IoU(b_ia, b^_m)
        noobj = ~obj & (best_iou <= ignore_thresh)  # 1^noobj: the ignore rule
        t_box = box_convert(enc["box"].to(pred.dtype), "cxcywh", "xyxy")
        iou_resp = torch.nan_to_num(box_iou_pairwise(boxes, t_box), nan=0.0)  # (N, H, W, A)
        conf_target = iou_resp if rescore else torch.ones_like(iou_resp)

    scale = enc["scale"].to(pred.dtype)
    d_coord = (sig_xy - enc["xy"].to(pred.dtype)).square().sum(-1) + (t_wh - enc["twh"].to(pred.dtype)).square().sum(-1)
    coord = 0.5 * lambda_coord * torch.where(obj, scale * d_coord, zero).sum()
    obj_term = 0.5 * lambda_obj * torch.where(obj, (conf - conf_target).square(), zero).sum()
    noobj_term = 0.5 * lambda_noobj * torch.where(noobj, conf.square(), zero).sum()
    if prior_warmup and lambda_prior > 0:
        d_prior = (sig_xy - 0.5).square().sum(-1) + t_wh.square().sum(-1)  # centred in the cell, the anchor's size
        prior = 0.5 * lambda_prior * torch.where(obj, zero, d_prior).sum()
    else:
        prior = zero
    labels = enc["labels"].clamp(min=0)  # (N, H, W, A); -1 (no object) masked below
    ce = -torch.log_softmax(logits, dim=-1).gather(-1, labels.unsqueeze(-1)).squeeze(-1)  # (N, H, W, A)
    cls = lambda_cls * torch.where(obj, ce, zero).sum()

    terms = {"coord": coord / N, "obj": obj_term / N, "noobj": noobj_term / N, "prior": prior / N, "cls": cls / N}
    loss = terms["coord"] + terms["obj"] + terms["noobj"] + terms["prior"] + terms["cls"]
    return (loss, terms) if return_terms else loss


class YoloV2Loss:
    """:func:`yolo_v2_loss` with darknet's image counter: the prior warm-up is on while fewer than
    ``warmup_images`` images have been seen (darknet: ``if (*(net.seen) < 12800)``).

    ``loss_fn = YoloV2Loss(model.anchors)`` is a ``loss_fn(pred, targets)`` for ``fit_detector``; ``targets`` is the
    list of target dicts of a batch (boxes as fractions of the image), encoded at each batch's grid, so multi-scale
    training needs nothing more. ``history`` keeps the terms of every call (floats), when ``record=True``.
    """

    def __init__(self, anchors: Tensor, *, warmup_images: int = 12_800, record: bool = True, **loss_kwargs: Any) -> None:
        self.anchors = _check_anchors(anchors)
        if isinstance(warmup_images, bool) or not isinstance(warmup_images, int) or warmup_images < 0:
            raise ValueError(f"warmup_images must be an int >= 0, got {warmup_images!r}.")
        bad = set(loss_kwargs) & {"prior_warmup", "return_terms"}
        if bad:
            raise TypeError(f"{sorted(bad)} are set by YoloV2Loss itself.")
        self.warmup_images, self.record, self.loss_kwargs = warmup_images, record, loss_kwargs
        self.seen = 0
        self.history: list[dict[str, float]] = []

    def __call__(self, pred: Tensor, targets: Any) -> Tensor:
        loss, terms = yolo_v2_loss(pred, targets, self.anchors.to(pred.device), prior_warmup=self.seen <
                                   self.warmup_images, return_terms=True, **self.loss_kwargs)
        self.seen += pred.shape[0]
        if self.record:
            self.history.append({k: float(v.detach()) for k, v in terms.items()})
        return loss


# ----------------------------------------------------------------------------------------------------------------------
# 5. The networks
# ----------------------------------------------------------------------------------------------------------------------

#: Darknet-19 (Table 6 of the paper) as stages of (kernel, filters) convolutions; a 2 x 2 max-pool of stride 2
#: follows each stage but the last. 18 convolutions here, plus the classifier's 1 x 1 to 1000 = 19; 5 max-pools.
DARKNET19_STAGES: tuple[tuple[tuple[int, int], ...], ...] = (
    ((3, 32),),
    ((3, 64),),
    ((3, 128), (1, 64), (3, 128)),
    ((3, 256), (1, 128), (3, 256)),
    ((3, 512), (1, 256), (3, 512), (1, 256), (3, 512)),  # its output is the passthrough (26 x 26 x 512 at 416)
    ((3, 1024), (1, 512), (3, 1024), (1, 512), (3, 1024)),
)
#: Darknet-19 has 19 convolutions: the 18 of the stages and the classifier's 1 x 1.
DARKNET19_CLASSIFIER_CONVS = sum(len(s) for s in DARKNET19_STAGES) + 1


class _Backbone(nn.Module):
    """Stages of ``conv_bn_leaky`` layers with a 2 x 2 max-pool between stages; returns every stage's output."""

    def __init__(self, stages: Sequence[Sequence[tuple[int, int]]], width_mult: float = 1.0, in_channels: int = 3,
                 leaky_slope: float = 0.1) -> None:
        super().__init__()
        if not width_mult > 0:
            raise ValueError(f"width_mult must be positive, got {width_mult}.")
        self.stages = nn.ModuleList()
        self.out_channels: list[int] = []
        c = in_channels
        for stage in stages:
            layers = []
            for kernel, filters in stage:
                out = max(1, round(filters * width_mult))
                layers.append(conv_bn_leaky(c, out, kernel, slope=leaky_slope))
                c = out
            self.stages.append(nn.Sequential(*layers))
            self.out_channels.append(c)
        self.pools = nn.ModuleList(nn.MaxPool2d(2, 2) for _ in range(len(stages) - 1))  # between the stages
        self.stride = 2 ** (len(stages) - 1)

    def forward(self, x: Tensor) -> list[Tensor]:
        outs = []
        for k, stage in enumerate(self.stages):
            if k > 0:
                x = self.pools[k - 1](x)
            x = stage(x)
            outs.append(x)
        return outs


def _example_images(model: nn.Module, batch_size: int) -> Tensor:
    p = next(model.parameters())
    size = model.config.image_size
    return torch.rand(batch_size, 3, size, size, device=p.device, dtype=p.dtype)


@register_model(
    "darknet19",
    kind="classifier",
    example_kwargs={"width_mult": 1 / 16, "num_classes": 10, "image_size": 64},
    example_input=_example_images,
    expected_shape=lambda model, n: (n, model.num_classes),
)
class Darknet19(nn.Module):
    """Darknet-19, the classifier of Table 6: 19 convolutions (batch norm and leaky ReLU after each but the last),
    5 max-pools, a 1 x 1 convolution to the classes and global average pooling. The paper reports 72.9% top-1 and
    91.2% top-5 on ImageNet with 5.58 billion operations per 224 x 224 image (VGG-16: 30.69; YOLOv1's network:
    8.52).

    Args:
        num_classes: 1000 on ImageNet.
        width_mult: channel multiplier (1.0: the paper's widths).
        image_size: the input side the smoke test uses (any multiple of 32 works).

    Shapes: ``(N, 3, H, W)`` -> logits ``(N, num_classes)``.
    """

    @dataclass
    class _Cfg:
        image_size: int

    def __init__(self, num_classes: int = 1000, width_mult: float = 1.0, image_size: int = 224) -> None:
        super().__init__()
        self.num_classes = _positive_int(num_classes, "num_classes")
        self.config = self._Cfg(_positive_int(image_size, "image_size"))
        self.backbone = _Backbone(DARKNET19_STAGES, width_mult)
        self.classifier = nn.Conv2d(self.backbone.out_channels[-1], num_classes, kernel_size=1)  # conv 19, linear

    def forward(self, x: Tensor) -> Tensor:
        _check_images(x, 32)
        features = self.backbone(x)[-1]  # (N, 1024, H/32, W/32)
        return self.classifier(features).mean(dim=(2, 3))  # (N, num_classes): global average pool


def _check_images(x: object, stride: int) -> Tensor:
    if not isinstance(x, Tensor) or x.ndim != 4 or x.shape[1] != 3:
        raise ValueError(f"the input must be a (N, 3, H, W) tensor of images, got "
                         f"{getattr(x, 'shape', type(x).__name__)}.")
    if x.shape[2] % stride or x.shape[3] % stride:
        raise ValueError(f"H and W must be multiples of the network's stride {stride}, got {tuple(x.shape[2:])} "
                         "(multi-scale training picks sizes that are).")
    return x


@dataclass
class YoloV2Config:
    """YOLOv2 for detection (Section 3 "Training for detection"): Darknet-19 without its classifier, three 3 x 3
    convolutions of 1024 filters, the passthrough from the last 26 x 26 x 512 layer (reorg to 13 x 13 x 2048,
    concatenated before the third) and a 1 x 1 convolution to A (5 + C) outputs. Defaults: VOC, 5 anchors, 416."""

    C: int = 20  # classes (VOC)
    anchors: tuple[tuple[float, float], ...] = tuple(tuple(a) for a in VOC_ANCHORS.tolist())  # grid units, k = 5
    image_size: int = 416  # "we want an odd number of locations ... 416 -> 13 x 13" (Section 2)
    head_width: int = 1024  # the three added 3 x 3 convolutions (Section 3)
    passthrough_reduce: int | None = None  # None: reorg the 512 channels as the paper says; int: a 1 x 1 conv first
    width_mult: float = 1.0  # course addition: channel multiplier (1.0: the paper's widths)
    leaky_slope: float = 0.1


@dataclass
class YoloV2TinyConfig:
    """A CPU-sized YOLOv2 with the same parts: batch norm everywhere, stride 8, a passthrough from stride 4 through
    :func:`reorg`, anchors in grid units, any input size that is a multiple of 8 (multi-scale training)."""

    C: int = 10  # the ten digits
    anchors: tuple[tuple[float, float], ...] = ((1.0, 1.0), (2.0, 2.0), (3.0, 3.0))  # replace by k-means anchors
    image_size: int = 64  # 8 x 8 grid of 8-pixel cells
    stages: tuple[tuple[tuple[int, int], ...], ...] = (
        ((3, 16),),
        ((3, 32),),
        ((3, 64), (1, 32), (3, 64)),  # stride 4: the passthrough's source
        ((3, 128), (1, 64), (3, 128)),  # stride 8
    )
    head_width: int = 128
    passthrough_reduce: int | None = 16  # 1 x 1 conv to 16 channels, then reorg -> 64 channels at stride 8
    leaky_slope: float = 0.1


def _resolve(config: Any, cls: type, overrides: dict[str, Any]) -> Any:
    config = cls() if config is None else config
    if not isinstance(config, cls):
        raise TypeError(f"config must be a {cls.__name__}, got {type(config).__name__}.")
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise TypeError(f"unknown {cls.__name__} field(s) {unknown}; the fields are {sorted(known)}.")
    return dataclasses.replace(config, **overrides)


class _YoloV2Net(nn.Module):
    """Backbone -> two 3 x 3 convs -> concat(reorg(passthrough)) -> 3 x 3 conv -> 1 x 1 conv to A (5 + C)."""

    def _build(self, stages: Sequence[Sequence[tuple[int, int]]], width_mult: float, head_width: int,
               reduce: int | None, C: int, anchors: Sequence[Sequence[float]], leaky: float) -> None:
        self.C = _positive_int(C, "C")
        rows = [tuple(float(v) for v in a) for a in anchors]
        if not rows or any(len(r) != 2 or not (math.isfinite(r[0]) and math.isfinite(r[1]) and min(r) > 0)
                           for r in rows):
            raise ValueError(f"anchors must be a non-empty sequence of positive (w, h) pairs, got {anchors!r}.")
        anchor_t = torch.tensor(rows, dtype=torch.float32, device="cpu")
        self.register_buffer("anchors", anchor_t)  # (A, 2) grid units
        self.A = anchor_t.shape[0]
        self.backbone = _Backbone(stages, width_mult, leaky_slope=leaky)
        self.stride = self.backbone.stride
        c_pass, c_deep = self.backbone.out_channels[-2], self.backbone.out_channels[-1]
        hw = max(1, round(head_width * width_mult))
        self.head1 = nn.Sequential(conv_bn_leaky(c_deep, hw, 3, slope=leaky), conv_bn_leaky(hw, hw, 3, slope=leaky))
        self.reduce = None if reduce is None else conv_bn_leaky(c_pass, _positive_int(reduce, "passthrough_reduce"),
                                                                1, slope=leaky)
        c_reorg = 4 * (c_pass if reduce is None else reduce)
        self.head2 = conv_bn_leaky(hw + c_reorg, hw, 3, slope=leaky)
        self.out = nn.Conv2d(hw, self.A * (5 + self.C), kernel_size=1)  # linear output

    def forward(self, x: Tensor) -> Tensor:
        """Raw predictions ``(N, H/stride, W/stride, A, 5 + C)`` for images ``(N, 3, H, W)``."""
        _check_images(x, self.stride)
        *_, fine, deep = self.backbone(x)  # (N, c_pass, 2h, 2w), (N, c_deep, h, w)
        if self.reduce is not None:
            fine = self.reduce(fine)
        y = torch.cat([reorg(fine, 2), self.head1(deep)], dim=1)  # passthrough: (N, 4 c_pass + hw, h, w)
        y = self.out(self.head2(y))  # (N, A (5 + C), h, w)
        N, _, h, w = y.shape
        return y.view(N, self.A, 5 + self.C, h, w).permute(0, 3, 4, 1, 2)  # (N, h, w, A, 5 + C)


def _expected_shape(model: nn.Module, n: int) -> tuple[int, ...]:
    g = model.config.image_size // model.stride
    return (n, g, g, model.A, 5 + model.C)


@register_model(
    "yolo_v2",
    kind="detector",
    example_kwargs={"width_mult": 1 / 16, "image_size": 64},
    example_input=_example_images,
    expected_shape=_expected_shape,
)
class YoloV2(_YoloV2Net):
    """The YOLOv2 detector of the paper (Section 3): 18 Darknet-19 convolutions, three 3 x 3 x 1024 convolutions with
    the passthrough (26 x 26 x 512 -> reorg -> 13 x 13 x 2048, concatenated to 13 x 13 x 3072 before the third),
    and a 1 x 1 convolution to 5 x (5 + 20) = 125 channels at 416 x 416 for VOC. 22 convolutions in all, every one
    but the last with batch norm and leaky ReLU.

    Shapes: ``(N, 3, H, W)`` with H, W multiples of 32 -> ``(N, H/32, W/32, A, 5 + C)`` raw.
    """

    def __init__(self, config: YoloV2Config | None = None, **overrides: Any) -> None:
        super().__init__()
        cfg = self.config = _resolve(config, YoloV2Config, overrides)
        _positive_int(cfg.image_size, "image_size")
        self._build(DARKNET19_STAGES, cfg.width_mult, cfg.head_width, cfg.passthrough_reduce, cfg.C, cfg.anchors,
                    cfg.leaky_slope)


@register_model(
    "yolo_v2_tiny",
    kind="detector",
    example_kwargs={},
    example_input=_example_images,
    expected_shape=_expected_shape,
)
class YoloV2Tiny(_YoloV2Net):
    """A CPU-sized YOLOv2 (:class:`YoloV2TinyConfig`): the same parts as :class:`YoloV2` at a fraction of the width
    and depth, stride 8.

    Shapes: ``(N, 3, H, W)`` with H, W multiples of 8 -> ``(N, H/8, W/8, A, 5 + C)`` raw.
    """

    def __init__(self, config: YoloV2TinyConfig | None = None, **overrides: Any) -> None:
        super().__init__()
        cfg = self.config = _resolve(config, YoloV2TinyConfig, overrides)
        _positive_int(cfg.image_size, "image_size")
        if len(cfg.stages) < 2:
            raise ValueError("stages needs at least two stages (the passthrough comes from the second to last).")
        self._build(cfg.stages, 1.0, cfg.head_width, cfg.passthrough_reduce, cfg.C, cfg.anchors, cfg.leaky_slope)


# ----------------------------------------------------------------------------------------------------------------------
# 6. Decoding
# ----------------------------------------------------------------------------------------------------------------------
DECODE_STRATEGIES: tuple[str, ...] = ("filter_then_nms", "nms_then_classify")


def decode_predictions(pred: Tensor, anchors: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Every anchor of every cell as a candidate: boxes ``(N, H W A, 4)`` xyxy as fractions of the image (clipped to
    [0, 1]), objectness :math:`\\sigma(t_o)` ``(N, H W A)`` and class probabilities ``(N, H W A, C)``
    (softmax), ordered by ``(row, col, anchor)``."""
    anchors = _check_anchors(anchors)
    pred = _check_pred(pred, anchors.shape[0])
    N, H, W, A, depth = pred.shape
    b = pred_boxes(pred, anchors)  # (N, H, W, A, 4) cxcywh grid units
    b = b / torch.tensor([W, H, W, H], dtype=b.dtype, device=b.device)  # fractions of the image
    xyxy = box_convert(b, "cxcywh", "xyxy").clamp(0.0, 1.0)
    conf = torch.sigmoid(pred[..., 4])
    probs = pred[..., 5:].softmax(dim=-1)
    return xyxy.reshape(N, -1, 4), conf.reshape(N, -1), probs.reshape(N, -1, depth - 5)


def decode(
    pred: Tensor,
    anchors: Tensor,
    conf_threshold: float = 0.2,
    iou_threshold: float = 0.4,
    strategy: str = "filter_then_nms",
) -> list[dict[str, Tensor]]:
    """Detections of a batch of YOLOv2 predictions, one dict per image (the format of ``yolo_v1.decode`` and of
    :func:`course_lib.detection.metrics.mean_average_precision`).

    Score of anchor :math:`a` of cell :math:`i` for class :math:`c`: :math:`\\sigma(t_o)\\,
    \\operatorname{softmax}(\\text{logits})_c` (objectness times the conditional class probability); then the
    threshold and per-class NMS in one of the two orders of :mod:`course_lib.detection.nms`. The default thresholds
    are those of ``yolo_v1.decode``, so the two versions are decoded alike in comparisons.

    Args:
        pred: ``(N, H, W, A, 5 + C)`` raw outputs.
        anchors: ``(A, 2)`` in grid units (``model.anchors``).
        conf_threshold: keep scores strictly above it. iou_threshold: the NMS threshold.
        strategy: one of :data:`DECODE_STRATEGIES`.

    Returns:
        ``N`` dicts with ``"boxes"`` ``(K, 4)`` xyxy in [0, 1], ``"scores"`` ``(K,)``, ``"labels"`` ``(K,)`` int64,
        by decreasing score (multiply the boxes by the image size for pixels).
    """
    if strategy not in DECODE_STRATEGIES:
        raise ValueError(f"strategy must be one of {DECODE_STRATEGIES}, got {strategy!r}.")
    post = filter_then_nms if strategy == "filter_then_nms" else nms_then_classify
    with torch.no_grad():
        boxes, conf, probs = decode_predictions(pred, anchors.to(pred.device))
        return [post(boxes[n], conf[n], probs[n], conf_threshold, iou_threshold) for n in range(boxes.shape[0])]


# ----------------------------------------------------------------------------------------------------------------------
# 7. Multi-scale training
# ----------------------------------------------------------------------------------------------------------------------

#: The paper's input sizes: "multiples of 32: {320, 352, ..., 608}" (Section 2 "Multi-Scale Training").
PAPER_MULTI_SCALE_SIZES: tuple[int, ...] = tuple(range(320, 609, 32))


class MultiScaleBatches:
    """Wrap an iterable of ``(images, targets)`` batches: every ``every`` batches a new square input size is drawn
    from ``sizes`` and the images are resized to it (bilinear). "Every 10 batches our network randomly chooses a new
    image dimension size" (Section 2); the network is fully convolutional, so the grid follows the size.

    Targets pass through unchanged, so their boxes must be fractions of the image (as :class:`YoloV2Loss` takes
    them). Iterating restarts the underlying iterable; the size sequence continues from a private generator.

    Args:
        batches: e.g. a ``DataLoader`` with ``detection_collate`` and boxes normalised, or the lab's in-memory
            batches.
        sizes: candidate sides (each a multiple of the network's stride).
        every: batches per size (10 in the paper).
        seed: seeds the size draws.
    """

    def __init__(self, batches: Iterable[tuple[Tensor, Any]], sizes: Sequence[int], every: int = 10,
                 seed: int = 0) -> None:
        if not sizes or not all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in sizes):
            raise ValueError(f"sizes must be a non-empty sequence of positive ints, got {sizes!r}.")
        self.batches, self.sizes, self.every = batches, tuple(sizes), _positive_int(every, "every")
        self.generator = torch.Generator().manual_seed(seed)
        self.count = 0
        self.size = self.sizes[0]
        self.sizes_used: list[int] = []

    def __iter__(self) -> Iterator[tuple[Tensor, Any]]:
        for images, targets in self.batches:
            if self.count % self.every == 0:
                self.size = self.sizes[int(torch.randint(len(self.sizes), (), generator=self.generator))]
            self.count += 1
            self.sizes_used.append(self.size)
            if images.shape[-2:] != (self.size, self.size):
                images = F.interpolate(images, size=(self.size, self.size), mode="bilinear", align_corners=False)
            yield images, targets
