"""YOLOv4-tiny (darknet's ``yolov4-tiny.cfg``, after Bochkovskiy et al. 2020): the network, targets, loss, decoding.

Read top to bottom, this module is chapter 17 of the course:

1. The constants: :data:`YOLOV4_TINY_ANCHORS` (6 x 2 pixels at 416), :data:`YOLOV4_TINY_MASKS` = ``((3, 4, 5),
   (1, 2, 3))`` exactly as darknet ships them (anchor 0 is in no mask, anchor 3 in both), :data:`YOLOV4_TINY_STRIDES`.
2. :func:`route_split`: darknet's ``[route] groups=2 group_id=1``, the *second* half of the channels.
3. The network: :class:`CSPTinyBlock` (split, two 3 x 3 convolutions, concat, 1 x 1 transition, concat with the
   input), the CSPDarknet53-tiny backbone and the FPN-lite neck of :class:`YoloV4Tiny` with its two heads (13 x 13 and
   26 x 26 at 416), and a CPU-sized variant :class:`YoloV4TinyCPU`.
4. :func:`prediction_grid` / :func:`decode_boxes`: every prediction's cell, anchor and box, with darknet's
   ``scale_x_y = 1.05``: :math:`b_x = (1.05\\,\\sigma(t_x) - 0.025 + c_x) / W`.
5. :func:`encode_batch`: targets (best of the six anchors by :func:`course_lib.detection.anchors.wh_iou`, every mask
   slot holding it) as dense tensors aligned with the predictions.
6. :func:`smooth_labels` and :func:`yolo_v4_tiny_loss`: CIoU on the boxes
   (:func:`course_lib.detection.boxes.complete_box_iou_loss`), binary cross-entropy on objectness (with the ignore
   rule) and on the classes (with label smoothing).
7. :func:`decode`: one dict of detections per image, like :func:`course_lib.detection.yolo_v1.decode`.

**The output layout.** ``YoloV4Tiny(x)`` returns one tensor ``(N, P, 5 + C)``: the raw outputs of both heads,
flattened in the order (scale, anchor slot, row, col), scale 0 the stride-32 head. Each row is darknet's
``[t_x, t_y, t_w, t_h, t_o, t_c1 .. t_cC]``. :func:`prediction_grid` gives, for the same ``P`` rows, the cell, the
grid size and the anchor, so every later step is one vectorized expression over all predictions of both scales.
Boxes outside the network are ``xyxy`` fractions of the image (as in :mod:`course_lib.detection.yolo_v1`).

References: A. Bochkovskiy, C.-Y. Wang, H.-Y. M. Liao, *YOLOv4: Optimal Speed and Accuracy of Object Detection*,
arXiv:2004.10934 (2020); the tiny network is darknet's ``cfg/yolov4-tiny.cfg`` (AlexeyAB/darknet), whose README
reports 40.2% AP50 at 371 FPS (416 x 416, GTX 1080 Ti); C.-Y. Wang et al., *CSPNet* (CVPRW 2020); Z. Zheng et al.,
*Distance-IoU Loss* (AAAI 2020) for CIoU.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from course_lib.detection._common import conv_bn_leaky
from course_lib.detection.anchors import wh_iou
from course_lib.detection.boxes import box_iou, complete_box_iou_loss
from course_lib.detection.nms import filter_then_nms, nms_then_classify
from course_lib.registry import register_model

__all__ = [
    "YOLOV4_TINY_ANCHORS",
    "YOLOV4_TINY_MASKS",
    "YOLOV4_TINY_STRIDES",
    "YOLOV4_TINY_SCALE_X_Y",
    "route_split",
    "conv_bn_leaky",
    "CSPTinyBlock",
    "YoloV4TinyConfig",
    "cpu_config",
    "YoloV4Tiny",
    "YoloV4TinyCPU",
    "PredictionGrid",
    "prediction_grid",
    "decode_boxes",
    "best_anchors",
    "encode_batch",
    "smooth_labels",
    "yolo_v4_tiny_loss",
    "decode",
    "DECODE_STRATEGIES",
]

# ----------------------------------------------------------------------------------------------------------------------
# 1. Constants (FACTS.md; darknet's cfg/yolov4-tiny.cfg)
# ----------------------------------------------------------------------------------------------------------------------

#: darknet's YOLOv4-tiny anchors, (w, h) in pixels of a 416 x 416 input; float64, shape [6, 2].
YOLOV4_TINY_ANCHORS: Tensor = torch.tensor(
    [[10, 14], [23, 27], [37, 58], [81, 82], [135, 169], [344, 319]], dtype=torch.float64
)
#: Which anchors each head uses, as darknet ships them: the 13 x 13 head (stride 32) anchors 3, 4, 5; the 26 x 26
#: head (stride 16) anchors 1, 2, 3. Anchor 0 belongs to no head and anchor 3 to both (see :func:`encode_batch`).
YOLOV4_TINY_MASKS: tuple[tuple[int, ...], ...] = ((3, 4, 5), (1, 2, 3))
#: The strides of the two heads, in the order of :data:`YOLOV4_TINY_MASKS`.
YOLOV4_TINY_STRIDES: tuple[int, ...] = (32, 16)
#: darknet's ``scale_x_y`` of both ``[yolo]`` layers: the centre offset is 1.05 sigma(t) - 0.025, so that the
#: centre can reach the border of its cell (sigma(t) = 0 or 1) with a finite t.
YOLOV4_TINY_SCALE_X_Y: float = 1.05


def _positive_int(value: object, name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"{name} must be a positive int, got {value!r}.")
    return value


def _check_float_tensor(t: object, name: str) -> Tensor:
    if not isinstance(t, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}.")
    if not t.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {t.dtype}.")
    return t


# ----------------------------------------------------------------------------------------------------------------------
# 2. The channel split of CSPDarknet53-tiny
# ----------------------------------------------------------------------------------------------------------------------


def route_split(x: Tensor, groups: int = 2, group_id: int = 1) -> Tensor:
    """darknet's ``[route] layers=-1 groups=G group_id=g``: the ``g``-th of ``G`` equal slices of the channels.

    .. math::
        \\operatorname{route\\_split}(x)_{:, k} = x_{:, g C / G + k}, \\qquad k = 0, \\dots, C / G - 1

    With darknet's ``groups=2 group_id=1`` (every CSP block of YOLOv4-tiny) that is the **second** half of the
    channels, ``x[:, C/2:]``, not the first. The result is a view (no copy), like darknet's route layer, which
    copies that contiguous block of channels.

    Args:
        x: ``(N, C, H, W)`` (any tensor with channels in dimension 1 and at least 2 dimensions).
        groups: ``G``, a positive int dividing ``C``.
        group_id: ``g`` in ``[0, G)``.

    Returns:
        ``(N, C / G, H, W)``.
    """
    if not isinstance(x, Tensor):
        raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}.")
    if x.ndim < 2:
        raise ValueError(f"x must have a channel dimension (shape (N, C, ...)), got shape {tuple(x.shape)}.")
    groups = _positive_int(groups, "groups")
    if not isinstance(group_id, int) or isinstance(group_id, bool) or not 0 <= group_id < groups:
        raise ValueError(f"group_id must be an int in [0, groups) = [0, {groups}), got {group_id!r}.")
    channels = x.shape[1]
    if channels % groups:
        raise ValueError(f"the {channels} channels of x do not split into {groups} equal groups.")
    size = channels // groups
    return x[:, group_id * size : (group_id + 1) * size]  # (N, C / G, ...)


# ----------------------------------------------------------------------------------------------------------------------
# 3. The network
# ----------------------------------------------------------------------------------------------------------------------


class CSPTinyBlock(nn.Module):
    """One CSP block of CSPDarknet53-tiny (darknet layers route-split ... route -6,-1), for ``c`` input channels.

    .. code-block:: text

        x (c) --route_split (second half)--> p (c/2) --3x3--> a (c/2) --3x3--> b (c/2)
        t = 1x1( cat[b, a] )          (c)     darknet: [route] layers = -1,-2
        out = cat[x, t]               (2c)    darknet: [route] layers = -6,-1

    Only half the channels go through the two 3 x 3 convolutions (the cross-stage partial idea of CSPNet): the
    other half reaches the output through ``x`` itself. ``forward`` returns ``(out, t)``: the 26 x 26 head of
    YOLOv4-tiny reads ``t`` of the third block (darknet's layer 23).

    Shapes: ``(N, c, H, W) -> ((N, 2c, H, W), (N, c, H, W))``; ``c`` must be even.
    """

    def __init__(self, channels: int, slope: float = 0.1) -> None:
        super().__init__()
        c = _positive_int(channels, "channels")
        if c % 2:
            raise ValueError(f"a CSP block splits its channels in two: channels must be even, got {c}.")
        self.channels = c
        self.conv_a = conv_bn_leaky(c // 2, c // 2, 3, slope=slope)
        self.conv_b = conv_bn_leaky(c // 2, c // 2, 3, slope=slope)
        self.transition = conv_bn_leaky(c, c, 1, slope=slope)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        a = self.conv_a(route_split(x, groups=2, group_id=1))  # (N, c/2, H, W)
        b = self.conv_b(a)  # (N, c/2, H, W)
        t = self.transition(torch.cat([b, a], dim=1))  # (N, c, H, W): route -1,-2 then 1x1
        return torch.cat([x, t], dim=1), t  # (N, 2c, H, W): route -6,-1


@dataclass
class YoloV4TinyConfig:
    """YOLOv4-tiny as darknet's ``yolov4-tiny.cfg`` defines it (COCO: 80 classes, 416 x 416).

    ``width_mult`` and ``anchors=None`` are the course's additions: ``width_mult`` scales every channel count (1.0 =
    darknet's; each width is rounded to an even number so that the CSP split stays exact), and ``anchors=None``
    means darknet's anchors scaled by ``image_size / 416`` (the same shapes relative to the image).
    """

    C: int = 80  # classes (COCO)
    image_size: int = 416  # the cfg's width = height = 416; any multiple of 32 works
    width_mult: float = 1.0  # course addition: channel multiplier (1.0 = darknet's widths)
    anchors: tuple[tuple[float, float], ...] | None = None  # (w, h) pixels at image_size; None: darknet's, scaled
    masks: tuple[tuple[int, ...], ...] = YOLOV4_TINY_MASKS  # anchors per head (stride 32, then stride 16)
    scale_x_y: float = YOLOV4_TINY_SCALE_X_Y  # both [yolo] layers of the cfg
    leaky_slope: float = 0.1  # darknet's leaky activation

    def anchor_tensor(self) -> Tensor:
        """The anchors as a float64 ``[A, 2]`` tensor of pixels at ``image_size``."""
        if self.anchors is None:
            return YOLOV4_TINY_ANCHORS * (self.image_size / 416)
        return torch.tensor(self.anchors, dtype=torch.float64).reshape(-1, 2)


def cpu_config(**overrides: Any) -> YoloV4TinyConfig:
    """The CPU-sized YOLOv4-tiny of the course: 10 digit classes, 96 x 96 inputs (3 x 3 and 6 x 6 grids), a quarter
    of darknet's channels (8 ... 128), darknet's anchors scaled to 96 pixels; the architecture is unchanged."""
    return dataclasses.replace(YoloV4TinyConfig(C=10, image_size=96, width_mult=0.25), **overrides)


def _resolve_config(config: Any, overrides: dict[str, Any], default: YoloV4TinyConfig) -> YoloV4TinyConfig:
    if config is None:
        config = default
    if not isinstance(config, YoloV4TinyConfig):
        raise TypeError(f"config must be a YoloV4TinyConfig, got {type(config).__name__}.")
    known = {f.name for f in dataclasses.fields(YoloV4TinyConfig)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise TypeError(f"unknown YoloV4TinyConfig field(s) {unknown}; the fields are {sorted(known)}.")
    return dataclasses.replace(config, **overrides)


def _check_masks(masks: object, n_anchors: int) -> tuple[tuple[int, ...], ...]:
    if not isinstance(masks, (tuple, list)) or len(masks) == 0:
        raise ValueError(f"masks must be a non-empty sequence of anchor-index tuples, got {masks!r}.")
    out = []
    for m in masks:
        if not isinstance(m, (tuple, list)) or len(m) == 0 or not all(
            isinstance(i, int) and not isinstance(i, bool) and 0 <= i < n_anchors for i in m
        ):
            raise ValueError(f"each mask must be a non-empty tuple of anchor indices in [0, {n_anchors}), got {m!r}.")
        out.append(tuple(m))
    return tuple(out)


def _example_images(model: nn.Module, batch_size: int) -> Tensor:
    p = next(model.parameters())
    size = model.config.image_size
    return torch.rand(batch_size, 3, size, size, device=p.device, dtype=p.dtype)


def _expected_shape(model: nn.Module, batch_size: int) -> tuple[int, ...]:
    return (batch_size, model.num_predictions, 5 + model.config.C)


@register_model(
    "yolo_v4_tiny",
    kind="detector",
    # darknet's network at 416 (6 M parameters) is a fraction of a second per CPU forward; the smoke test runs every
    # layer at 1/8 of the channels and 128 x 128 inputs.
    example_kwargs={"width_mult": 0.125, "image_size": 128},
    example_input=_example_images,
    expected_shape=_expected_shape,
)
class YoloV4Tiny(nn.Module):
    """YOLOv4-tiny: CSPDarknet53-tiny, an FPN-lite neck and two ``[yolo]`` heads (darknet's ``yolov4-tiny.cfg``).

    Layers (darknet's indices in brackets; widths at ``width_mult = 1``; every conv is :func:`conv_bn_leaky` but the
    two 1 x 1 output convolutions, which are linear with a bias):

    .. code-block:: text

        [0]  3x3/2  32      416 -> 208          [1]  3x3/2  64      208 -> 104
        [2]  3x3    64      [3-8]   CSP(64)  -> 128 ch, [9]  maxpool  104 -> 52
        [10] 3x3    128     [11-16] CSP(128) -> 256 ch, [17] maxpool   52 -> 26
        [18] 3x3    256     [19-24] CSP(256) -> 512 ch (t = [23], 256 ch at 26 x 26), [25] maxpool 26 -> 13
        [26] 3x3    512     [27] 1x1 256 (the lateral feature)
        head 13x13: [28] 3x3 512, [29] 1x1 3(5 + C) linear, [30] yolo mask 3,4,5
        head 26x26: [31] route [27], [32] 1x1 128, [33] upsample x2, [34] route -1,[23] (128 + 256),
                    [35] 3x3 256, [36] 1x1 3(5 + C) linear, [37] yolo mask 1,2,3

    The neck is "FPN-lite": one top-down path (upsample the 13 x 13 feature, concatenate with the 26 x 26 one), no
    bottom-up path and no SPP, unlike full YOLOv4's PANet + SPP.

    Args:
        config: a :class:`YoloV4TinyConfig` (darknet's COCO network when ``None``).
        **overrides: fields to change, e.g. ``YoloV4Tiny(C=20)``.

    Shapes: input ``(N, 3, image_size, image_size)``; output ``(N, P, 5 + C)`` raw, ``P = 3 (s^2 + (2 s)^2)`` with
    ``s = image_size / 32`` (2,535 at 416), rows in the order of :func:`prediction_grid`.
    """

    default_config = YoloV4TinyConfig()

    def __init__(self, config: YoloV4TinyConfig | None = None, **overrides: Any) -> None:
        super().__init__()
        cfg = self.config = _resolve_config(config, overrides, self.default_config)
        C = _positive_int(cfg.C, "C")
        size = _positive_int(cfg.image_size, "image_size")
        if size % 32:
            raise ValueError(f"image_size must be a multiple of 32 (the network's total stride), got {size}.")
        if not (isinstance(cfg.width_mult, (int, float)) and cfg.width_mult > 0):
            raise ValueError(f"width_mult must be positive, got {cfg.width_mult!r}.")
        anchors = cfg.anchor_tensor()
        if anchors.ndim != 2 or anchors.shape[1] != 2 or not bool((anchors > 0).all()):
            raise ValueError(f"anchors must be positive (w, h) pairs, got {cfg.anchors!r}.")
        self.masks = _check_masks(cfg.masks, anchors.shape[0])
        if len(self.masks) != 2:
            raise ValueError(f"YOLOv4-tiny has two heads: masks must hold two tuples, got {len(self.masks)}.")
        if not (isinstance(cfg.scale_x_y, (int, float)) and cfg.scale_x_y >= 1.0):
            raise ValueError(f"scale_x_y must be a number >= 1, got {cfg.scale_x_y!r}.")
        self.register_buffer("anchors", anchors.float(), persistent=False)  # (A, 2) pixels at image_size

        def w(channels: int) -> int:  # an even width, >= 2
            return max(2, 2 * round(channels * cfg.width_mult / 2))

        s = cfg.leaky_slope
        self.stem = nn.Sequential(conv_bn_leaky(3, w(32), 3, 2, s), conv_bn_leaky(w(32), w(64), 3, 2, s))  # [0-1]
        self.conv2, self.csp1 = conv_bn_leaky(w(64), w(64), 3, 1, s), CSPTinyBlock(w(64), s)  # [2], [3-8]
        self.conv10, self.csp2 = conv_bn_leaky(2 * w(64), w(128), 3, 1, s), CSPTinyBlock(w(128), s)  # [10], [11-16]
        self.conv18, self.csp3 = conv_bn_leaky(2 * w(128), w(256), 3, 1, s), CSPTinyBlock(w(256), s)  # [18], [19-24]
        self.conv26 = conv_bn_leaky(2 * w(256), w(512), 3, 1, s)  # [26]
        self.lateral = conv_bn_leaky(w(512), w(256), 1, 1, s)  # [27]
        depth13, depth26 = len(self.masks[0]) * (5 + C), len(self.masks[1]) * (5 + C)
        self.head13 = nn.Sequential(conv_bn_leaky(w(256), w(512), 3, 1, s), nn.Conv2d(w(512), depth13, 1))  # [28-29]
        self.reduce = conv_bn_leaky(w(256), w(128), 1, 1, s)  # [32]
        self.head26 = nn.Sequential(
            conv_bn_leaky(w(128) + w(256), w(256), 3, 1, s), nn.Conv2d(w(256), depth26, 1)
        )  # [35-36]
        g = size // 32
        self.grid_sizes = (g, 2 * g)
        self.num_predictions = len(self.masks[0]) * g * g + len(self.masks[1]) * 4 * g * g

    def feature_maps(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """The two raw head outputs, ``(N, 3(5 + C), s, s)`` and ``(N, 3(5 + C), 2s, 2s)`` (darknet's layout)."""
        size = self.config.image_size
        if not isinstance(x, Tensor):
            raise TypeError(f"the input must be a torch.Tensor of images, got {type(x).__name__}.")
        if x.ndim != 4 or x.shape[1] != 3 or x.shape[2] != size or x.shape[3] != size:
            raise ValueError(f"the input must have shape (N, 3, {size}, {size}) (config.image_size), "
                             f"got {tuple(x.shape)}.")
        h = self.conv2(self.stem(x))  # (N, 64, s/4 ...): 104 x 104 at 416
        h, _ = self.csp1(h)  # (N, 128, 104, 104)
        h = self.conv10(F.max_pool2d(h, 2, 2))  # (N, 128, 52, 52)
        h, _ = self.csp2(h)  # (N, 256, 52, 52)
        h = self.conv18(F.max_pool2d(h, 2, 2))  # (N, 256, 26, 26)
        h, t26 = self.csp3(h)  # (N, 512, 26, 26), t26 (N, 256, 26, 26): darknet's layer 23
        h = self.conv26(F.max_pool2d(h, 2, 2))  # (N, 512, 13, 13)
        lat = self.lateral(h)  # (N, 256, 13, 13)
        out13 = self.head13(lat)  # (N, 3 (5 + C), 13, 13)
        up = F.interpolate(self.reduce(lat), scale_factor=2, mode="nearest")  # (N, 128, 26, 26)
        out26 = self.head26(torch.cat([up, t26], dim=1))  # (N, 3 (5 + C), 26, 26): route -1, 23
        return out13, out26

    def forward(self, x: Tensor) -> Tensor:
        """Raw predictions ``(N, P, 5 + C)`` of both heads, rows ordered (scale, anchor slot, row, col)."""
        depth = 5 + self.config.C
        flat = []
        for out, mask in zip(self.feature_maps(x), self.masks):
            n, _, h, w = out.shape
            out = out.view(n, len(mask), depth, h, w).permute(0, 1, 3, 4, 2)  # (N, A_s, H, W, 5 + C)
            flat.append(out.reshape(n, len(mask) * h * w, depth))  # (N, A_s H W, 5 + C)
        return torch.cat(flat, dim=1)  # (N, P, 5 + C)

    def grid(self, device: torch.device | str | None = None, dtype: torch.dtype = torch.float32) -> "PredictionGrid":
        """:func:`prediction_grid` for this network (on ``device``, default: the parameters' device)."""
        device = self.anchors.device if device is None else device
        return prediction_grid(self.config.image_size, self.anchors, self.masks, YOLOV4_TINY_STRIDES,
                               device=device, dtype=dtype)


@register_model(
    "yolo_v4_tiny_cpu",
    kind="detector",
    example_kwargs={},
    example_input=_example_images,
    expected_shape=_expected_shape,
)
class YoloV4TinyCPU(YoloV4Tiny):
    """:class:`YoloV4Tiny` with :func:`cpu_config`'s defaults (10 classes, 96 x 96, a quarter of the channels)."""

    default_config = cpu_config()


# ----------------------------------------------------------------------------------------------------------------------
# 4. The grid of predictions and the decoding of boxes
# ----------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PredictionGrid:
    """What each of the ``P`` prediction rows is: all tensors have ``P`` rows, aligned with the model's output.

    Attributes:
        cell: ``(P, 2)`` float, the cell's ``(col, row)`` = :math:`(c_x, c_y)`.
        size: ``(P, 2)`` float, the grid's ``(W, H)`` of that row's head.
        anchor_wh: ``(P, 2)`` float, the anchor's ``(w, h)`` in pixels.
        anchor: ``(P,)`` int64, the anchor's index in the anchor list.
        scale: ``(P,)`` int64, the head (index into the masks).
        slot: ``(P,)`` int64, the anchor's place in its head's mask.
        offsets: where each head's rows start, and the total ``P`` at the end.
        image_size: the input side in pixels.
    """

    cell: Tensor
    size: Tensor
    anchor_wh: Tensor
    anchor: Tensor
    scale: Tensor
    slot: Tensor
    offsets: tuple[int, ...]
    image_size: int
    masks: tuple[tuple[int, ...], ...] = field(default=YOLOV4_TINY_MASKS)

    @property
    def num_predictions(self) -> int:
        return self.offsets[-1]


def prediction_grid(
    image_size: int,
    anchors: Tensor,
    masks: Sequence[Sequence[int]] = YOLOV4_TINY_MASKS,
    strides: Sequence[int] = YOLOV4_TINY_STRIDES,
    *,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> PredictionGrid:
    """The cell, grid size and anchor of every prediction row, in the order (scale, slot, row, col).

    Row :math:`p` of head :math:`s` with ``H = W = image_size / stride_s`` and offset ``o_s`` is
    :math:`p = o_s + (j H + \\text{row}) W + \\text{col}` for the ``j``-th anchor of ``masks[s]``.
    """
    image_size = _positive_int(image_size, "image_size")
    anchors = _check_float_tensor(anchors, "anchors")
    if anchors.ndim != 2 or anchors.shape[1] != 2:
        raise ValueError(f"anchors must have shape (A, 2), got {tuple(anchors.shape)}.")
    masks = _check_masks(masks, anchors.shape[0])
    if len(strides) != len(masks):
        raise ValueError(f"there must be one stride per mask, got {len(strides)} strides for {len(masks)} masks.")
    parts: dict[str, list[Tensor]] = {k: [] for k in ("cell", "size", "anchor", "scale", "slot")}
    offsets = [0]
    for s, (mask, stride) in enumerate(zip(masks, strides)):
        stride = _positive_int(stride, "stride")
        if image_size % stride:
            raise ValueError(f"image_size {image_size} is not a multiple of the stride {stride}.")
        g = image_size // stride
        slot, row, col = torch.meshgrid(torch.arange(len(mask)), torch.arange(g), torch.arange(g), indexing="ij")
        parts["cell"].append(torch.stack([col, row], dim=-1).reshape(-1, 2))  # (A_s g g, 2)
        parts["size"].append(torch.full((len(mask) * g * g, 2), g))
        parts["anchor"].append(torch.tensor(mask)[slot.reshape(-1)])
        parts["scale"].append(torch.full((len(mask) * g * g,), s))
        parts["slot"].append(slot.reshape(-1))
        offsets.append(offsets[-1] + len(mask) * g * g)
    cat = {k: torch.cat(v).to(device) for k, v in parts.items()}
    anchor_idx = cat["anchor"].long()
    return PredictionGrid(
        cell=cat["cell"].to(dtype), size=cat["size"].to(dtype),
        anchor_wh=anchors.to(device=device, dtype=dtype)[anchor_idx], anchor=anchor_idx,
        scale=cat["scale"].long(), slot=cat["slot"].long(), offsets=tuple(offsets), image_size=image_size,
        masks=masks,
    )


def _check_raw(raw: object, grid: PredictionGrid) -> Tensor:
    raw = _check_float_tensor(raw, "raw")
    if raw.ndim != 3 or raw.shape[1] != grid.num_predictions or raw.shape[2] < 6:
        raise ValueError(f"raw must have shape (N, P, 5 + C) with P = {grid.num_predictions} (the grid's "
                         f"predictions) and C >= 1, got {tuple(raw.shape)}.")
    return raw


def decode_boxes(raw: Tensor, grid: PredictionGrid, scale_x_y: float = YOLOV4_TINY_SCALE_X_Y,
                 max_log_wh: float = math.log(1e3)) -> Tensor:
    """Boxes of every prediction, ``xyxy`` fractions of the image (darknet's ``get_yolo_box`` with ``scale_x_y``).

    .. math::
        b_x = \\frac{s\\,\\sigma(t_x) - \\tfrac{s - 1}{2} + c_x}{W}, \\quad
        b_y = \\frac{s\\,\\sigma(t_y) - \\tfrac{s - 1}{2} + c_y}{H}, \\quad
        b_w = \\frac{p_w e^{t_w}}{\\text{image\\_size}}, \\quad b_h = \\frac{p_h e^{t_h}}{\\text{image\\_size}}

    with :math:`s` = ``scale_x_y`` (1.05: the offset ranges over :math:`(-0.025, 1.025)`, so a centre on the cell's
    border is reached with a finite :math:`t`) and :math:`(p_w, p_h)` the anchor in pixels. ``t_w, t_h`` are clamped
    at ``max_log_wh`` (a box at most 1000 anchors wide) so that an early, wild prediction cannot overflow ``exp``.

    Args:
        raw: ``(N, P, 5 + C)`` (or ``(N, P, >= 4)``): only the first four entries are read.
        grid: from :func:`prediction_grid` / :meth:`YoloV4Tiny.grid`.

    Returns:
        ``(N, P, 4)`` xyxy, same dtype as ``raw``; not clipped (the loss needs the unclipped box).
    """
    t = raw[..., :4]
    xy = (scale_x_y * torch.sigmoid(t[..., :2]) - (scale_x_y - 1) / 2 + grid.cell) / grid.size  # (N, P, 2)
    wh = grid.anchor_wh * torch.exp(t[..., 2:4].clamp(max=max_log_wh)) / grid.image_size  # (N, P, 2)
    return torch.cat([xy - wh / 2, xy + wh / 2], dim=-1)  # (N, P, 4)


# ----------------------------------------------------------------------------------------------------------------------
# 5. Targets
# ----------------------------------------------------------------------------------------------------------------------


def best_anchors(wh: Tensor, anchors: Tensor) -> Tensor:
    """Index of the best anchor of each box by :func:`~course_lib.detection.anchors.wh_iou` (first on ties).

    Args:
        wh: ``(M, 2)`` box sizes, anchors: ``(A, 2)``, in the same unit.

    Returns:
        ``(M,)`` int64.
    """
    if wh.shape[0] == 0:
        return torch.zeros(0, dtype=torch.int64, device=wh.device)
    return wh_iou(wh, anchors.to(wh.device)).argmax(dim=1)


def _gather_targets(targets: Sequence[dict[str, Tensor]], C: int, device: torch.device) -> tuple[Tensor, ...]:
    """All ground truth of a batch: image index (M,), boxes (M, 4) and labels (M,), checked."""
    if not isinstance(targets, (list, tuple)) or len(targets) == 0:
        raise ValueError("targets must be a non-empty list of dicts with 'boxes' (K, 4) xyxy in [0, 1] and 'labels'.")
    b_idx, boxes, labels = [], [], []
    for n, t in enumerate(targets):
        if not isinstance(t, dict) or "boxes" not in t or "labels" not in t:
            raise TypeError(f"targets[{n}] must be a dict with 'boxes' and 'labels'.")
        bx, lb = t["boxes"], t["labels"]
        if not isinstance(bx, Tensor) or bx.ndim != 2 or bx.shape[1] != 4 or not bx.is_floating_point():
            raise ValueError(f"targets[{n}]['boxes'] must be a float tensor (K, 4) xyxy in [0, 1].")
        if not isinstance(lb, Tensor) or lb.shape != (bx.shape[0],) or lb.is_floating_point():
            raise ValueError(f"targets[{n}]['labels'] must be an integer tensor of shape ({bx.shape[0]},).")
        if bx.numel() and (bx.min() < -1e-6 or bx.max() > 1 + 1e-6 or bool((bx[:, 2:] < bx[:, :2]).any())):
            raise ValueError(f"targets[{n}]['boxes'] must be xyxy fractions of the image in [0, 1] with x2 >= x1 and "
                             "y2 >= y1 (normalize pixel boxes with course_lib.detection.datasets.normalize_target).")
        if lb.numel() and (lb.min() < 0 or lb.max() >= C):
            raise ValueError(f"targets[{n}]['labels'] must lie in [0, {C}), got {lb.tolist()}.")
        b_idx.append(torch.full((bx.shape[0],), n, dtype=torch.int64))
        boxes.append(bx.detach().float().cpu())
        labels.append(lb.long().cpu())
    return torch.cat(b_idx).to(device), torch.cat(boxes).to(device), torch.cat(labels).to(device)


def encode_batch(targets: Sequence[dict[str, Tensor]], grid: PredictionGrid, anchors: Tensor, C: int,
                 *, device: torch.device | str | None = None) -> dict[str, Tensor]:
    """Dense targets aligned with the ``P`` prediction rows: which rows are responsible, for which box and class.

    Darknet's rule (``forward_yolo_layer``): each object takes the **best of all anchors** by
    :func:`~course_lib.detection.anchors.wh_iou` (its size against each anchor's, aligned at a corner); every head
    whose mask holds that anchor makes the row (cell of the centre, that anchor's slot) responsible. With darknet's
    masks ``(3, 4, 5), (1, 2, 3)``, an object whose best anchor is 3 has a responsible row in **both** heads, and
    one whose best anchor is 0 (the smallest, in no mask) has **none**: darknet does not learn it (keep the
    anchors matched to the data so that this is rare). When two objects claim the same row, the later one in the
    image's target list keeps it (as darknet, which overwrites).

    Args:
        targets: one dict per image, ``"boxes"`` ``(K, 4)`` xyxy fractions of the image, ``"labels"`` ``(K,)`` int.
        grid: the prediction grid; anchors: ``(A, 2)`` pixels at ``grid.image_size``; C: number of classes.

    Returns:
        ``{"obj": (N, P) bool, "boxes": (N, P, 4) xyxy (0 where not responsible), "labels": (N, P) int64 (-1 where
        not responsible), "gt_boxes": (N, G, 4) every image's boxes padded with zeros, "gt_valid": (N, G) bool}``,
        ``G`` the largest number of boxes of an image (at least 1).
    """
    C = _positive_int(C, "C")
    device = grid.cell.device if device is None else torch.device(device)
    b, boxes, labels = _gather_targets(targets, C, device)  # (M,), (M, 4), (M,)
    N, P, M = len(targets), grid.num_predictions, b.shape[0]
    obj = torch.zeros(N * P, dtype=torch.bool, device=device)
    out_boxes = torch.zeros(N * P, 4, device=device)
    out_labels = torch.full((N * P,), -1, dtype=torch.int64, device=device)
    if M:
        centre = (boxes[:, :2] + boxes[:, 2:]) / 2  # (M, 2) fractions
        wh = (boxes[:, 2:] - boxes[:, :2]) * grid.image_size  # (M, 2) pixels
        best = best_anchors(wh, anchors)  # (M,)
        # one candidate row per (object, head slot): the slot's anchor must be the object's best
        slots = [(s, j, a) for s, mask in enumerate(grid.masks) for j, a in enumerate(mask)]
        slot_anchor = torch.tensor([a for _, _, a in slots], device=device)  # (Q,)
        slot_scale = torch.tensor([s for s, _, _ in slots], device=device)  # (Q,)
        slot_j = torch.tensor([j for _, j, _ in slots], device=device)  # (Q,)
        g = torch.tensor([int(grid.size[grid.offsets[s], 0]) for s in range(len(grid.masks))], device=device)
        offs = torch.tensor(grid.offsets[:-1], device=device)
        match = best[:, None] == slot_anchor[None, :]  # (M, Q)
        m_idx, q_idx = match.nonzero(as_tuple=True)  # (R,), (R,) responsible (object, slot) pairs
        gs = g[slot_scale[q_idx]]  # (R,) grid side of that head
        col = (centre[m_idx, 0] * gs).floor().long().clamp(0, None).minimum(gs - 1)
        row = (centre[m_idx, 1] * gs).floor().long().clamp(0, None).minimum(gs - 1)
        p = offs[slot_scale[q_idx]] + (slot_j[q_idx] * gs + row) * gs + col  # (R,) row index in [0, P)
        flat = b[m_idx] * P + p  # (R,) index into N * P
        # the last object wins a contested row: keep, per flat index, the pair with the largest object index
        winner = torch.full((N * P,), -1, dtype=torch.int64, device=device)
        winner.scatter_reduce_(0, flat, m_idx, reduce="amax")
        keep = winner[flat] == m_idx
        flat, m_keep = flat[keep], m_idx[keep]
        obj[flat] = True
        out_boxes[flat] = boxes[m_keep]
        out_labels[flat] = labels[m_keep]
    counts = torch.bincount(b, minlength=N) if M else torch.zeros(N, dtype=torch.int64, device=device)
    G = max(1, int(counts.max()) if N else 1)
    rank = torch.arange(M, device=device) - torch.cumsum(counts, 0).sub(counts)[b] if M else b  # place in its image
    gt_boxes = torch.zeros(N, G, 4, device=device)
    gt_valid = torch.zeros(N, G, dtype=torch.bool, device=device)
    if M:
        gt_boxes[b, rank] = boxes
        gt_valid[b, rank] = True
    return {"obj": obj.view(N, P), "boxes": out_boxes.view(N, P, 4), "labels": out_labels.view(N, P),
            "gt_boxes": gt_boxes, "gt_valid": gt_valid}


# ----------------------------------------------------------------------------------------------------------------------
# 6. The loss
# ----------------------------------------------------------------------------------------------------------------------


def smooth_labels(labels: Tensor, num_classes: int, eps: float) -> Tensor:
    """One-hot class targets with label smoothing (Szegedy et al. 2016), toward the uniform distribution.

    .. math::
        q_c = (1 - \\varepsilon)\\,\\mathbb{1}[c = y] + \\frac{\\varepsilon}{C}

    so the true class gets :math:`1 - \\varepsilon + \\varepsilon / C`, every other class :math:`\\varepsilon / C`,
    and each row still sums to 1 (:math:`\\varepsilon = 0`: the plain one-hot vector). YOLOv4 lists class label
    smoothing among its "bag of freebies" for the backbone; here it softens the targets of the independent
    logistic class scores of the heads.

    Args:
        labels: ``(M,)`` int64 in ``[0, C)``.
        num_classes: ``C``; eps: :math:`\\varepsilon` in ``[0, 1]``.

    Returns:
        ``(M, C)`` float32 (on the labels' device).
    """
    if not isinstance(labels, Tensor) or labels.is_floating_point() or labels.dtype == torch.bool:
        raise TypeError("labels must be an integer tensor (M,).")
    C = _positive_int(num_classes, "num_classes")
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not 0.0 <= eps <= 1.0:
        raise ValueError(f"eps must be a number in [0, 1], got {eps!r}.")
    if labels.numel() and (labels.min() < 0 or labels.max() >= C):
        raise ValueError(f"labels must lie in [0, {C}).")
    onehot = F.one_hot(labels.long(), C).float()  # (M, C)
    return onehot * (1.0 - eps) + eps / C


def yolo_v4_tiny_loss(
    raw: Tensor,
    target: dict[str, Tensor],
    grid: PredictionGrid,
    *,
    scale_x_y: float = YOLOV4_TINY_SCALE_X_Y,
    ignore_thresh: float = 0.7,
    label_smoothing: float = 0.0,
    box_weight: float = 1.0,
    obj_weight: float = 1.0,
    cls_weight: float = 1.0,
    return_terms: bool = False,
) -> Tensor | tuple[Tensor, dict[str, Tensor]]:
    """The YOLOv4-tiny loss: CIoU on the responsible boxes, BCE on objectness and on the classes.

    .. math::
        \\mathcal{L} = \\frac{1}{N}\\Big[\\lambda_\\text{box} \\sum_{p \\in \\text{obj}}
            \\mathcal{L}_\\text{CIoU}(\\hat b_p, b_p)
          + \\lambda_\\text{obj} \\Big(\\sum_{p \\in \\text{obj}} \\operatorname{BCE}(t_{o,p}, 1)
          + \\sum_{p \\in \\text{noobj}} \\operatorname{BCE}(t_{o,p}, 0)\\Big)
          + \\lambda_\\text{cls} \\sum_{p \\in \\text{obj}} \\sum_{c=1}^{C} \\operatorname{BCE}(t_{c,p}, q_{c,p})\\Big]

    - obj: the responsible rows of :func:`encode_batch`; :math:`\\hat b_p` the box of :func:`decode_boxes`
      (gradients through :math:`\\sigma(t_{x,y})` and :math:`e^{t_{w,h}}`), :math:`b_p` its object's box;
      :math:`\\mathcal{L}_\\text{CIoU} = 1 - \\mathrm{IoU} + \\rho^2 / c^2 + \\alpha v`
      (:func:`~course_lib.detection.boxes.complete_box_iou_loss`, :math:`\\alpha` constant in the backward pass);
    - noobj: rows that are not responsible **and** whose predicted box overlaps no ground-truth box of the image by
      more than ``ignore_thresh`` (darknet's ignore rule, YOLOv3's 0.7: a good box of a non-responsible anchor is
      neither rewarded nor punished);
    - :math:`q_{c,p}` the class target with label smoothing (:func:`smooth_labels`), each class an independent
      logistic (BCE), as in YOLOv3.

    The sums are divided by the batch size ``N`` (a loss per image). The weights :math:`\\lambda` are the course's
    choice (1, 1, 1), not darknet's normalizers.

    Args:
        raw: ``(N, P, 5 + C)`` model output; target: from :func:`encode_batch`; grid: the prediction grid.
        return_terms: also return ``{"box", "obj", "noobj", "cls"}`` (each already weighted and divided by N).

    Returns:
        the scalar loss (and the terms).
    """
    raw = _check_raw(raw, grid)
    N, P, depth = raw.shape
    C = depth - 5
    for key in ("obj", "boxes", "labels", "gt_boxes", "gt_valid"):
        if key not in target:
            raise ValueError(f"target must come from encode_batch (missing {key!r}).")
    if target["obj"].shape != (N, P):
        raise ValueError(f"target['obj'] has shape {tuple(target['obj'].shape)}, the predictions ({N}, {P}).")
    if not 0.0 <= ignore_thresh <= 1.0:
        raise ValueError(f"ignore_thresh must be in [0, 1], got {ignore_thresh!r}.")
    obj = target["obj"]
    pred_boxes = decode_boxes(raw, grid, scale_x_y)  # (N, P, 4)
    with torch.no_grad():  # the ignore rule: the best IoU of each predicted box with the image's ground truth
        iou = box_iou(pred_boxes.detach().float(), target["gt_boxes"].float())  # (N, P, G)
        iou = torch.where(target["gt_valid"][:, None, :], torch.nan_to_num(iou, nan=0.0), 0.0)
        noobj = ~obj & (iou.amax(dim=-1) <= ignore_thresh)  # (N, P)
    t_obj = raw[..., 4]  # (N, P) objectness logits
    obj_term = F.binary_cross_entropy_with_logits(t_obj[obj], torch.ones_like(t_obj[obj]), reduction="sum")
    noobj_term = F.binary_cross_entropy_with_logits(t_obj[noobj], torch.zeros_like(t_obj[noobj]), reduction="sum")
    box_term = complete_box_iou_loss(pred_boxes[obj], target["boxes"][obj].to(raw.dtype), reduction="sum",
                                     validate=False)
    q = smooth_labels(target["labels"][obj], C, label_smoothing).to(raw.dtype)  # (R, C)
    cls_term = F.binary_cross_entropy_with_logits(raw[..., 5:][obj], q, reduction="sum")
    terms = {"box": box_weight * box_term / N, "obj": obj_weight * obj_term / N,
             "noobj": obj_weight * noobj_term / N, "cls": cls_weight * cls_term / N}
    loss = terms["box"] + terms["obj"] + terms["noobj"] + terms["cls"]
    return (loss, terms) if return_terms else loss


# ----------------------------------------------------------------------------------------------------------------------
# 7. Decoding
# ----------------------------------------------------------------------------------------------------------------------

DECODE_STRATEGIES: tuple[str, ...] = ("filter_then_nms", "nms_then_classify")


def decode(
    raw: Tensor,
    grid: PredictionGrid,
    *,
    scale_x_y: float = YOLOV4_TINY_SCALE_X_Y,
    conf_threshold: float = 0.25,
    iou_threshold: float = 0.45,
    strategy: str = "filter_then_nms",
) -> list[dict[str, Tensor]]:
    """Detections of a batch: one dict per image, as :func:`course_lib.detection.yolo_v1.decode` returns them.

    Each row's box is :func:`decode_boxes` clipped to the image, its objectness :math:`\\sigma(t_o)`, its class
    probabilities :math:`\\sigma(t_c)` (independent logistics); the score of class ``c`` is
    :math:`\\sigma(t_o)\\,\\sigma(t_c)`, then the chosen post-processing order of :mod:`course_lib.detection.nms`.
    The defaults 0.25 / 0.45 are the course's (common darknet demo values are of this order; tune on held-out data).

    Returns:
        ``N`` dicts ``{"boxes": (K, 4) xyxy in [0, 1], "scores": (K,), "labels": (K,) int64}`` by decreasing score.
    """
    if strategy not in DECODE_STRATEGIES:
        raise ValueError(f"strategy must be one of {DECODE_STRATEGIES}, got {strategy!r}.")
    postprocess = filter_then_nms if strategy == "filter_then_nms" else nms_then_classify
    with torch.no_grad():
        raw = _check_raw(raw, grid)
        boxes = decode_boxes(raw, grid, scale_x_y).clamp(0.0, 1.0)  # (N, P, 4)
        conf = torch.sigmoid(raw[..., 4])  # (N, P)
        probs = torch.sigmoid(raw[..., 5:])  # (N, P, C)
        return [postprocess(boxes[n], conf[n], probs[n], conf_threshold, iou_threshold) for n in range(raw.shape[0])]
