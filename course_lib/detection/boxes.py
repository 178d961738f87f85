"""Box maths for detection: formats, areas, and the IoU family (IoU, GIoU, DIoU, CIoU) with the CIoU loss.

Every other detection module imports its box maths from here; nothing here is defined twice.

Conventions (the ones of ``torchvision.ops``, which the tests use as the reference):

- A box is a row of 4 numbers. The default format is ``xyxy``: :math:`(x_1, y_1, x_2, y_2)` with
  :math:`x_1 \\le x_2` and :math:`y_1 \\le y_2` (top-left, bottom-right corner; image coordinates, y down).
  ``xywh`` is :math:`(x_1, y_1, w, h)` and ``cxcywh`` is :math:`(c_x, c_y, w, h)`.
- The *pairwise* functions (:func:`box_iou`, :func:`generalized_box_iou`, :func:`distance_box_iou`,
  :func:`complete_box_iou`) compare every box of a first set with every box of a second:
  ``Tensor[..., N, 4] x Tensor[..., M, 4] -> Tensor[..., N, M]``. Their *paired* versions
  (:func:`box_iou_pairwise` and friends) compare row :math:`i` with row :math:`i`:
  ``Tensor[..., 4] x Tensor[..., 4] -> Tensor[...]`` (broadcasting the leading dimensions), and equal the diagonal of
  the pairwise matrix. Losses use the paired versions.
- Products of coordinates are computed in a safe dtype (torchvision's ``_upcast``): ``float16``/``bfloat16`` become
  ``float32`` *before* any subtraction or product, integer tensors become ``int64`` (areas stay exact), and a true
  division then gives a floating result (the default dtype for integer inputs). ``float32``/``float64`` stay as they are.
- Edge cases follow torchvision: zero-area boxes are allowed; two boxes whose union has zero area (two identical
  points, or two collinear segments) have IoU :math:`0/0 = \\mathrm{NaN}`, as in ``torchvision.ops.box_iou``. DIoU and
  CIoU add :math:`\\varepsilon = 10^{-7}` to the squared diagonal of the enclosing box only, as torchvision does; the
  CIoU *loss* also adds it to the union (torchvision's ``complete_box_iou_loss``).
- Bad input gets a clear error, not a wrong answer: a last dimension other than 4, a NaN, or a box with
  :math:`x_2 < x_1` or :math:`y_2 < y_1` raises ``ValueError`` naming the first bad row. The check is one vectorized
  mask (one host synchronisation on a GPU); it never touches the autograd graph.

References: Rezatofighi et al., *Generalized Intersection over Union*, CVPR 2019 (GIoU); Zheng et al.,
*Distance-IoU Loss*, AAAI 2020 (DIoU, CIoU).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = [
    "BOX_FORMATS",
    "check_boxes",
    "box_convert",
    "box_area",
    "box_iou",
    "generalized_box_iou",
    "distance_box_iou",
    "complete_box_iou",
    "box_iou_pairwise",
    "generalized_box_iou_pairwise",
    "distance_box_iou_pairwise",
    "complete_box_iou_pairwise",
    "complete_box_iou_loss",
    "clip_boxes_to_image",
    "remove_small_boxes",
]

#: The supported box formats.
BOX_FORMATS: tuple[str, ...] = ("xyxy", "xywh", "cxcywh")

_DEFAULT_EPS = 1e-7  # torchvision's eps for DIoU/CIoU and the IoU losses


# --------------------------------------------------------------------------------------------------------------
# Input checks and upcasting
# --------------------------------------------------------------------------------------------------------------
def _check_tensor(boxes: object, name: str) -> Tensor:
    """A real, non-boolean tensor whose last dimension is 4."""
    if not isinstance(boxes, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of boxes, got {type(boxes).__name__}.")
    if boxes.is_complex() or boxes.dtype == torch.bool:
        raise TypeError(f"{name} must hold real box coordinates, got dtype {boxes.dtype}.")
    if boxes.ndim == 0 or boxes.shape[-1] != 4:
        raise ValueError(f"{name} must have shape [..., 4] (one box per row), got shape {tuple(boxes.shape)}.")
    return boxes


def _first(mask: Tensor) -> tuple[int, ...]:
    """Index (a tuple) of the first True entry of a boolean tensor."""
    return tuple(int(i) for i in mask.nonzero()[0].tolist())


def check_boxes(boxes: object, name: str = "boxes", fmt: str = "xyxy") -> Tensor:
    """Validate a tensor of boxes and return it unchanged.

    Checks, in one vectorized pass: a tensor of real numbers, shape ``[..., 4]``, no NaN, and a non-negative
    extent: :math:`x_2 \\ge x_1,\\ y_2 \\ge y_1` for ``xyxy``, :math:`w \\ge 0,\\ h \\ge 0` for ``xywh``/``cxcywh``.

    Args:
        boxes: ``Tensor[..., 4]``.
        name: what to call the tensor in an error message.
        fmt: its format, one of :data:`BOX_FORMATS`.

    Returns:
        ``boxes`` itself (so that the call can be chained).

    Raises:
        TypeError: not a tensor, or a complex/bool tensor.
        ValueError: wrong last dimension, a NaN, or a box with negative width or height; the message names the
            first bad row.
    """
    boxes = _check_tensor(boxes, name)
    if fmt not in BOX_FORMATS:
        raise ValueError(f"unknown box format {fmt!r}; expected one of {BOX_FORMATS}.")
    if boxes.numel() == 0:
        return boxes
    b = boxes.detach()
    nan_row = torch.isnan(b).any(dim=-1) if b.is_floating_point() else torch.zeros_like(b[..., 0], dtype=torch.bool)
    if fmt == "xyxy":
        bad_row = (b[..., 2] < b[..., 0]) | (b[..., 3] < b[..., 1])
    else:
        bad_row = (b[..., 2] < 0) | (b[..., 3] < 0)
    if bool((nan_row | bad_row).any()):  # a single synchronisation in the common (valid) case
        if bool(nan_row.any()):
            idx = _first(nan_row)
            raise ValueError(f"{name} contains NaN: {name}{list(idx)} = {b[idx].tolist()}.")
        idx = _first(bad_row)
        what = "x2 >= x1 and y2 >= y1" if fmt == "xyxy" else "w >= 0 and h >= 0"
        raise ValueError(
            f"{name} has an invalid {fmt} box: {name}{list(idx)} = {b[idx].tolist()}, but boxes need {what}."
        )
    return boxes


def _upcast(t: Tensor) -> Tensor:
    """Promote before products: half/bfloat16 -> float32, small integers -> int64; float32/64 and int64 unchanged."""
    if t.is_floating_point():
        return t if t.dtype in (torch.float32, torch.float64) else t.float()
    return t if t.dtype == torch.int64 else t.long()


def _upcast_float(t: Tensor) -> Tensor:
    """Promote to a float dtype of at least 32 bits (what torchvision's IoU losses do: integers become float32)."""
    return t if t.dtype in (torch.float32, torch.float64) else t.float()


def _same_device(a: Tensor, b: Tensor, names: tuple[str, str] = ("boxes1", "boxes2")) -> None:
    if a.device != b.device:
        raise ValueError(f"{names[0]} and {names[1]} must be on the same device, got {a.device} and {b.device}.")


def _check_pair(boxes1: object, boxes2: object) -> tuple[Tensor, Tensor]:
    b1 = check_boxes(boxes1, "boxes1")
    b2 = check_boxes(boxes2, "boxes2")
    _same_device(b1, b2)
    return _upcast(b1), _upcast(b2)


# --------------------------------------------------------------------------------------------------------------
# Formats and areas
# --------------------------------------------------------------------------------------------------------------
def box_convert(boxes: Tensor, in_fmt: str, out_fmt: str) -> Tensor:
    """Convert boxes between the ``xyxy``, ``xywh`` and ``cxcywh`` formats.

    .. math::
        (x_1, y_1, x_2, y_2) \\;\\leftrightarrow\\; (x_1, y_1, w, h) \\;\\leftrightarrow\\; (c_x, c_y, w, h),
        \\qquad w = x_2 - x_1,\\; h = y_2 - y_1,\\; c_x = \\tfrac{x_1 + x_2}{2},\\; c_y = \\tfrac{y_1 + y_2}{2}.

    Every conversion goes through ``xyxy``. The maps are affine, so the values are not validated beyond the shape
    (converting a box with a negative width is well defined and is allowed, as in torchvision).

    Args:
        boxes: ``Tensor[..., 4]`` in ``in_fmt``; any leading dimensions.
        in_fmt, out_fmt: each one of ``"xyxy"``, ``"xywh"``, ``"cxcywh"``.

    Returns:
        ``Tensor[..., 4]`` in ``out_fmt``, same device; same dtype for floating inputs (a copy when
        ``in_fmt == out_fmt``). Integer inputs give a float result where a halving is involved (``cxcywh``).
    """
    boxes = _check_tensor(boxes, "boxes")
    for fmt, arg in ((in_fmt, "in_fmt"), (out_fmt, "out_fmt")):
        if fmt not in BOX_FORMATS:
            raise ValueError(f"{arg} must be one of {BOX_FORMATS}, got {fmt!r}.")
    if in_fmt == out_fmt:
        return boxes.clone()
    # 1) to xyxy
    a, b, c, d = boxes.unbind(-1)
    if in_fmt == "xyxy":
        x1, y1, x2, y2 = a, b, c, d
    elif in_fmt == "xywh":
        x1, y1, x2, y2 = a, b, a + c, b + d  # x2 = x1 + w
    else:  # cxcywh
        x1, y1, x2, y2 = a - 0.5 * c, b - 0.5 * d, a + 0.5 * c, b + 0.5 * d  # x1 = cx - w / 2
    # 2) from xyxy
    if out_fmt == "xyxy":
        out = (x1, y1, x2, y2)
    elif out_fmt == "xywh":
        out = (x1, y1, x2 - x1, y2 - y1)
    else:  # cxcywh
        out = ((x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1)
    return torch.stack(out, dim=-1)  # (..., 4)


def box_area(boxes: Tensor, fmt: str = "xyxy") -> Tensor:
    """Area of each box.

    .. math::
        A = (x_2 - x_1)(y_2 - y_1) = w\\,h

    Args:
        boxes: ``Tensor[..., 4]`` in ``fmt`` (validated: no NaN, non-negative width and height).
        fmt: ``"xyxy"`` (default), ``"xywh"`` or ``"cxcywh"``.

    Returns:
        ``Tensor[...]``; float16/bfloat16 inputs give float32, integer inputs int64 (exact).
    """
    boxes = _upcast(check_boxes(boxes, "boxes", fmt))
    if fmt == "xyxy":
        return (boxes[..., 2] - boxes[..., 0]) * (boxes[..., 3] - boxes[..., 1])  # (x2 - x1)(y2 - y1)
    return boxes[..., 2] * boxes[..., 3]  # w h


# --------------------------------------------------------------------------------------------------------------
# The IoU family. The helpers work on the four coordinates as separate tensors that broadcast against each other:
# pairwise (every i with every j) they are (..., N, 1) and (..., 1, M), giving (..., N, M); paired (row i with
# row i) they keep the boxes' leading shape. One elementwise operation per formula term, on contiguous outputs,
# is about twice as fast on a CPU as operating on (..., N, M, 2) corner pairs.
# --------------------------------------------------------------------------------------------------------------
Coords = tuple[Tensor, Tensor, Tensor, Tensor]  # (x1, y1, x2, y2)


def _align(b1: Tensor, b2: Tensor, pairwise: bool) -> tuple[Coords, Coords]:
    """Split already validated, upcast boxes into coordinates: (..., N, 1) and (..., 1, M) views when pairwise."""
    c1, c2 = b1.unbind(-1), b2.unbind(-1)
    if pairwise:
        c1 = tuple(c[..., :, None] for c in c1)  # 4 x (..., N, 1)
        c2 = tuple(c[..., None, :] for c in c2)  # 4 x (..., 1, M)
    return c1, c2  # type: ignore[return-value]


def _inter_union(p: Coords, q: Coords) -> tuple[Tensor, Tensor]:
    """Intersection and union areas of two aligned sets of boxes."""
    area_p = (p[2] - p[0]) * (p[3] - p[1])
    area_q = (q[2] - q[0]) * (q[3] - q[1])
    w = (torch.minimum(p[2], q[2]) - torch.maximum(p[0], q[0])).clamp(min=0)  # an empty overlap has width 0
    h = (torch.minimum(p[3], q[3]) - torch.maximum(p[1], q[1])).clamp(min=0)
    inter = w * h  # |A ∩ B|
    union = area_p + area_q - inter  # |A ∪ B| = |A| + |B| - |A ∩ B|
    return inter, union


def _enclosing_wh(p: Coords, q: Coords) -> tuple[Tensor, Tensor]:
    """Width and height of the smallest box C enclosing both boxes."""
    w = torch.maximum(p[2], q[2]) - torch.minimum(p[0], q[0])
    h = torch.maximum(p[3], q[3]) - torch.minimum(p[1], q[1])
    return w, h


def _iou(p: Coords, q: Coords) -> Tensor:
    inter, union = _inter_union(p, q)
    return inter / union  # 0/0 = NaN when the union has zero area, as in torchvision


def _giou(p: Coords, q: Coords) -> Tensor:
    inter, union = _inter_union(p, q)
    iou = inter / union
    w_c, h_c = _enclosing_wh(p, q)
    area_c = w_c * h_c  # |C|
    return iou - (area_c - union) / area_c  # GIoU = IoU - (|C| - |A ∪ B|) / |C|


def _centre_dist2(p: Coords, q: Coords) -> Tensor:
    """rho^2: squared distance between the box centres."""
    dx = (p[0] + p[2]) / 2 - (q[0] + q[2]) / 2
    dy = (p[1] + p[3]) / 2 - (q[1] + q[3]) / 2
    return dx**2 + dy**2


def _diou_iou(p: Coords, q: Coords, eps: float) -> tuple[Tensor, Tensor]:
    """DIoU and IoU of aligned boxes."""
    iou = _iou(p, q)
    w_c, h_c = _enclosing_wh(p, q)
    c2 = w_c**2 + h_c**2 + eps  # c^2: squared diagonal of C (+ eps: never 0)
    return iou - _centre_dist2(p, q) / c2, iou  # DIoU = IoU - rho^2 / c^2


def _aspect_v(p: Coords, q: Coords) -> Tensor:
    """CIoU's aspect-ratio term v = 4 / pi^2 (atan(w_B / h_B) - atan(w_A / h_A))^2."""
    w_p, h_p = p[2] - p[0], p[3] - p[1]
    w_q, h_q = q[2] - q[0], q[3] - q[1]
    return (4 / math.pi**2) * (torch.atan(w_q / h_q) - torch.atan(w_p / h_p)) ** 2


def _ciou(p: Coords, q: Coords, eps: float) -> Tensor:
    diou, iou = _diou_iou(p, q, eps)
    v = _aspect_v(p, q)
    with torch.no_grad():  # alpha is a constant in the backward pass (Zheng et al. 2020, Section 3.3)
        alpha = v / (1 - iou + v + eps)
    return diou - alpha * v  # CIoU = DIoU - alpha v


def box_iou(boxes1: Tensor, boxes2: Tensor, fmt: str = "xyxy") -> Tensor:
    """Pairwise intersection over union (Jaccard index) of two sets of boxes (``xyxy`` by default).

    .. math::
        \\mathrm{IoU}(A, B) = \\frac{|A \\cap B|}{|A \\cup B|} = \\frac{|A \\cap B|}{|A| + |B| - |A \\cap B|},
        \\qquad |A \\cap B| = \\max(0, \\min(x_2, x_2') - \\max(x_1, x_1'))\\,\\max(0, \\min(y_2, y_2') - \\max(y_1, y_1'))

    Args:
        boxes1: ``Tensor[..., N, 4]`` xyxy.
        boxes2: ``Tensor[..., M, 4]`` xyxy (leading dimensions broadcast with those of ``boxes1``).
        fmt: the format of both sets, ``"xyxy"`` (default), ``"xywh"`` or ``"cxcywh"`` (converted to xyxy first,
            as torchvision's ``fmt`` argument).

    Returns:
        ``Tensor[..., N, M]`` in :math:`[0, 1]`; float32 for half/bfloat16/integer inputs. Boxes that only touch give
        0; a pair whose union has zero area gives NaN (as ``torchvision.ops.box_iou``).
    """
    if fmt != "xyxy":
        boxes1 = box_convert(check_boxes(boxes1, "boxes1", fmt), fmt, "xyxy")
        boxes2 = box_convert(check_boxes(boxes2, "boxes2", fmt), fmt, "xyxy")
    b1, b2 = _check_pair(boxes1, boxes2)
    return _iou(*_align(b1, b2, pairwise=True))


def generalized_box_iou(boxes1: Tensor, boxes2: Tensor) -> Tensor:
    """Pairwise generalized IoU (Rezatofighi et al. 2019) of two sets of ``xyxy`` boxes.

    .. math::
        \\mathrm{GIoU}(A, B) = \\mathrm{IoU}(A, B) - \\frac{|C| - |A \\cup B|}{|C|}

    where :math:`C` is the smallest box enclosing :math:`A` and :math:`B`. :math:`\\mathrm{GIoU} \\in (-1, 1]`; it
    keeps decreasing as disjoint boxes move apart, where the IoU stays at 0.

    Args:
        boxes1: ``Tensor[..., N, 4]`` xyxy.
        boxes2: ``Tensor[..., M, 4]`` xyxy.

    Returns:
        ``Tensor[..., N, M]``. NaN where :math:`|C| = 0` (as torchvision).
    """
    b1, b2 = _check_pair(boxes1, boxes2)
    return _giou(*_align(b1, b2, pairwise=True))


def distance_box_iou(boxes1: Tensor, boxes2: Tensor, eps: float = _DEFAULT_EPS) -> Tensor:
    """Pairwise distance IoU (Zheng et al. 2020) of two sets of ``xyxy`` boxes.

    .. math::
        \\mathrm{DIoU}(A, B) = \\mathrm{IoU}(A, B) - \\frac{\\rho^2(\\mathbf{c}_A, \\mathbf{c}_B)}{c^2 + \\varepsilon}

    with :math:`\\rho` the distance between the box centres and :math:`c` the diagonal of the smallest enclosing box.

    Args:
        boxes1: ``Tensor[..., N, 4]`` xyxy.
        boxes2: ``Tensor[..., M, 4]`` xyxy.
        eps: added to :math:`c^2` (torchvision's default :math:`10^{-7}`).

    Returns:
        ``Tensor[..., N, M]`` in :math:`[-1, 1]`.
    """
    b1, b2 = _check_pair(boxes1, boxes2)
    return _diou_iou(*_align(b1, b2, pairwise=True), eps)[0]


def complete_box_iou(boxes1: Tensor, boxes2: Tensor, eps: float = _DEFAULT_EPS) -> Tensor:
    """Pairwise complete IoU (Zheng et al. 2020) of two sets of ``xyxy`` boxes.

    .. math::
        \\mathrm{CIoU} = \\mathrm{DIoU} - \\alpha v, \\qquad
        v = \\frac{4}{\\pi^2}\\Big(\\arctan\\frac{w_B}{h_B} - \\arctan\\frac{w_A}{h_A}\\Big)^2, \\qquad
        \\alpha = \\frac{v}{1 - \\mathrm{IoU} + v + \\varepsilon}

    :math:`\\alpha` is computed without gradient (a constant in the backward pass), as in the paper and torchvision.

    Args:
        boxes1: ``Tensor[..., N, 4]`` xyxy (the predictions :math:`A`).
        boxes2: ``Tensor[..., M, 4]`` xyxy (the targets :math:`B`).
        eps: added to :math:`c^2` and to the denominator of :math:`\\alpha`.

    Returns:
        ``Tensor[..., N, M]``. A box with zero width *and* height has an undefined aspect ratio: NaN there (as
        torchvision).
    """
    b1, b2 = _check_pair(boxes1, boxes2)
    return _ciou(*_align(b1, b2, pairwise=True), eps)


# Paired ("row i with row i") versions, for losses and target assignment.
def box_iou_pairwise(boxes1: Tensor, boxes2: Tensor) -> Tensor:
    """IoU of row :math:`i` of ``boxes1`` with row :math:`i` of ``boxes2`` (the diagonal of :func:`box_iou`).

    Same formula as :func:`box_iou`. Shapes: ``Tensor[..., 4] x Tensor[..., 4] -> Tensor[...]``, the leading
    dimensions broadcast (e.g. ``[N, S, S, B, 4]`` predictions against ``[N, S, S, 1, 4]`` targets).
    """
    b1, b2 = _check_pair(boxes1, boxes2)
    return _iou(*_align(b1, b2, pairwise=False))


def generalized_box_iou_pairwise(boxes1: Tensor, boxes2: Tensor) -> Tensor:
    """GIoU of row :math:`i` with row :math:`i`; ``[..., 4] x [..., 4] -> [...]`` (see :func:`generalized_box_iou`)."""
    b1, b2 = _check_pair(boxes1, boxes2)
    return _giou(*_align(b1, b2, pairwise=False))


def distance_box_iou_pairwise(boxes1: Tensor, boxes2: Tensor, eps: float = _DEFAULT_EPS) -> Tensor:
    """DIoU of row :math:`i` with row :math:`i`; ``[..., 4] x [..., 4] -> [...]`` (see :func:`distance_box_iou`)."""
    b1, b2 = _check_pair(boxes1, boxes2)
    return _diou_iou(*_align(b1, b2, pairwise=False), eps)[0]


def complete_box_iou_pairwise(boxes1: Tensor, boxes2: Tensor, eps: float = _DEFAULT_EPS) -> Tensor:
    """CIoU of row :math:`i` with row :math:`i`; ``[..., 4] x [..., 4] -> [...]`` (see :func:`complete_box_iou`)."""
    b1, b2 = _check_pair(boxes1, boxes2)
    return _ciou(*_align(b1, b2, pairwise=False), eps)


# --------------------------------------------------------------------------------------------------------------
# The CIoU loss
# --------------------------------------------------------------------------------------------------------------
def complete_box_iou_loss(
    boxes1: Tensor,
    boxes2: Tensor,
    reduction: str = "none",
    eps: float = _DEFAULT_EPS,
    *,
    validate: bool = True,
) -> Tensor:
    """The CIoU loss (Zheng et al. 2020) of paired ``xyxy`` boxes, equal to ``torchvision.ops.complete_box_iou_loss``.

    .. math::
        \\mathcal{L}_{\\mathrm{CIoU}} = 1 - \\mathrm{IoU} + \\frac{\\rho^2(\\mathbf{c}_A, \\mathbf{c}_B)}{c^2 + \\varepsilon}
        + \\alpha v, \\qquad \\mathrm{IoU} = \\frac{|A \\cap B|}{|A \\cup B| + \\varepsilon}, \\qquad
        \\alpha = \\frac{v}{1 - \\mathrm{IoU} + v + \\varepsilon}

    with :math:`v` as in :func:`complete_box_iou`. Unlike the metric, the loss adds :math:`\\varepsilon` to the union
    too, so two zero-area boxes at the same place give a finite loss. :math:`\\alpha` is a constant in the backward
    pass (computed under ``torch.no_grad()``, as the paper prescribes and torchvision does): gradients flow through
    IoU, the distance term and :math:`v` only. The loss is symmetric in its two arguments.

    Args:
        boxes1: ``Tensor[..., 4]`` xyxy (predictions).
        boxes2: ``Tensor[..., 4]`` xyxy (targets), broadcastable with ``boxes1``.
        reduction: ``"none"`` (per pair, ``Tensor[...]``), ``"mean"`` or ``"sum"`` (a 0-d tensor). The mean of no
            pairs is 0 (with a gradient), as in torchvision.
        eps: the :math:`\\varepsilon` above.
        validate: check the boxes (shape, NaN, :math:`x_2 \\ge x_1`); ``False`` skips the check and its host
            synchronisation in a hot training loop (the shape is still checked).

    Returns:
        The loss, float32 for half/bfloat16/integer inputs, otherwise the input dtype.
    """
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(f"reduction must be 'none', 'mean' or 'sum', got {reduction!r}.")
    if validate:
        check_boxes(boxes1, "boxes1")
        check_boxes(boxes2, "boxes2")
    else:
        _check_tensor(boxes1, "boxes1")
        _check_tensor(boxes2, "boxes2")
    _same_device(boxes1, boxes2)
    p, q = _align(_upcast_float(boxes1), _upcast_float(boxes2), pairwise=False)
    inter, union = _inter_union(p, q)
    iou = inter / (union + eps)  # the loss keeps the union away from 0
    w_c, h_c = _enclosing_wh(p, q)
    c2 = w_c**2 + h_c**2 + eps  # c^2 + eps
    v = _aspect_v(p, q)
    with torch.no_grad():
        alpha = v / (1 - iou + v + eps)
    loss = 1 - iou + _centre_dist2(p, q) / c2 + alpha * v  # 1 - IoU + rho^2 / c^2 + alpha v
    if reduction == "mean":
        return loss.mean() if loss.numel() > 0 else 0.0 * loss.sum()
    if reduction == "sum":
        return loss.sum()
    return loss


# --------------------------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------------------------
def clip_boxes_to_image(boxes: Tensor, size: tuple[int, int]) -> Tensor:
    """Clip ``xyxy`` boxes to an image of ``size = (height, width)``.

    .. math::
        x_i \\leftarrow \\min(\\max(x_i, 0), W), \\qquad y_i \\leftarrow \\min(\\max(y_i, 0), H)

    A box entirely outside the image becomes a zero-area box on its border.

    Args:
        boxes: ``Tensor[..., 4]`` xyxy.
        size: ``(height, width)``, positive.

    Returns:
        ``Tensor[..., 4]``, same dtype and device.
    """
    boxes = check_boxes(boxes, "boxes")
    if len(size) != 2:
        raise ValueError(f"size must be (height, width), got {size!r}.")
    height, width = size
    if not (height > 0 and width > 0):
        raise ValueError(f"size must be positive, got (height, width) = {size!r}.")
    x = boxes[..., 0::2].clamp(min=0, max=width)  # (..., 2): x1, x2
    y = boxes[..., 1::2].clamp(min=0, max=height)  # (..., 2): y1, y2
    return torch.stack((x[..., 0], y[..., 0], x[..., 1], y[..., 1]), dim=-1)


def remove_small_boxes(boxes: Tensor, min_size: float) -> Tensor:
    """Indices (int64, increasing) of the ``xyxy`` boxes whose width and height are both at least ``min_size``.

    Args:
        boxes: ``Tensor[N, 4]`` xyxy.
        min_size: the smallest side kept.

    Returns:
        ``Tensor[K]`` int64.
    """
    boxes = check_boxes(boxes, "boxes")
    if boxes.ndim != 2:
        raise ValueError(f"boxes must have shape [N, 4], got {tuple(boxes.shape)}.")
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    return torch.nonzero((w >= min_size) & (h >= min_size)).flatten()
