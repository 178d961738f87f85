"""YOLOv3 (Redmon & Farhadi, 2018): Darknet-53, three scales, anchors across scales, the loss term by term, decoding.

Read top to bottom, this module is chapter 16 of the course:

1. The paper's constants: :data:`YOLOV3_ANCHORS` (9 (w, h) priors in pixels at 416 x 416), :data:`YOLOV3_MASKS`
   (which anchors each scale uses) and :data:`YOLOV3_STRIDES`; :func:`scale_anchors` for other input sizes.
2. :func:`assign_scales`: each object goes to the best of the 9 anchors by (w, h)-IoU, hence to one scale.
3. The networks: :class:`Darknet53` (52 convolutions with residual blocks 1-2-8-8-4) and :class:`YoloV3` (the
   FPN-style head: predictions at strides 32, 16 and 8, upsample + concatenate), and :class:`YoloV3Small`, the same
   architecture narrowed and shortened to train on a CPU in a minute.
4. :func:`prediction_grid` / :func:`build_targets`: where every prediction sits (scale, anchor, cell) and the
   target tensor of a batch.
5. :func:`yolo_v3_loss`: box (sum of squared errors scaled by 2 - w h), objectness (logistic, with the ignore rule)
   and independent logistic classes (binary cross-entropy), vectorized over the batch and every prediction.
6. :func:`decode_predictions` / :func:`decode`: the three scales -> one set of detections per image.

**The tensor layout.** A network maps ``(N, 3, size, size)`` images to one tensor ``(N, P, 5 + C)``: the raw
outputs of every prediction of the three scales, flattened in darknet's order, scale by scale (stride 32, then 16,
then 8, the order of :data:`YOLOV3_MASKS`), within a scale anchor by anchor (the mask's order), then row by row and
column by column. With ``G_s = size / stride_s`` and 3 anchors per scale, ``P = 3 (G_32^2 + G_16^2 + G_8^2)``
(10,647 at 416). Each prediction holds

.. code-block:: text

    [ t_x  t_y  t_w  t_h | t_o | s_1 ... s_C ]
      box (raw)            objectness logit, class logits

and means, for its cell ``(row, col)``, its anchor ``(p_w, p_h)`` (pixels) and its stride ``s`` (Section 2.1 of the
paper, as in YOLOv2):

.. math::
    b_x = s\\,(\\text{col} + \\sigma(t_x)), \\quad b_y = s\\,(\\text{row} + \\sigma(t_y)), \\quad
    b_w = p_w e^{t_w}, \\quad b_h = p_h e^{t_h}, \\qquad
    \\Pr(\\text{object}) = \\sigma(t_o), \\quad \\Pr(\\text{class } c) = \\sigma(s_c).

The target (:func:`build_targets`) has the same shape; in a prediction responsible for an object it holds
``[x^, y^, t^_w, t^_h | 1 | one-hot class]`` with ``x^ = b_x / s - col`` in [0, 1] (the target of
:math:`\\sigma(t_x)`) and ``t^_w = log(b_w / p_w)`` (the target of :math:`t_w`); everywhere else zeros.

Reference: J. Redmon, A. Farhadi, *YOLOv3: An Incremental Improvement*, arXiv:1804.02767, 2018 (Section 2.1:
bounding-box prediction and objectness; 2.2: class prediction; 2.3: predictions across scales; 2.4: Darknet-53).
Darknet's ``yolov3.cfg`` and ``yolo_layer.c`` give what the paper leaves out (``ignore_thresh = .7``, the 2 - w h
box scale).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from course_lib.detection._common import conv_bn_leaky, unpack_targets
from course_lib.detection.anchors import wh_iou
from course_lib.detection.boxes import box_iou_pairwise
from course_lib.detection.nms import filter_then_nms, nms_then_classify
from course_lib.detection.yolo_v1 import _example_images, _resolve_config  # shared with YOLOv1
from course_lib.registry import register_model

__all__ = [
    "YOLOV3_ANCHORS",
    "YOLOV3_MASKS",
    "YOLOV3_STRIDES",
    "YOLOV3_IMAGE_SIZE",
    "YOLOV3_IGNORE_THRESH",
    "DARKNET53_BLOCKS",
    "LOSS_TERMS",
    "DECODE_STRATEGIES",
    "scale_anchors",
    "assign_scales",
    "Darknet53",
    "YoloV3Config",
    "YoloV3SmallConfig",
    "YoloV3",
    "YoloV3Small",
    "prediction_grid",
    "build_targets",
    "yolo_v3_loss",
    "decode_predictions",
    "decode",
]

# ----------------------------------------------------------------------------------------------------------------------
# 1. The paper's constants
# ----------------------------------------------------------------------------------------------------------------------

#: darknet's ``yolov3.cfg`` priors: 9 (w, h) in pixels of a 416 x 416 input, sorted by area; float64, shape [9, 2].
YOLOV3_ANCHORS: Tensor = torch.tensor(
    [[10, 13], [16, 30], [33, 23], [30, 61], [62, 45], [59, 119], [116, 90], [156, 198], [373, 326]],
    dtype=torch.float64,
)
#: which anchors each scale predicts with, in the order of :data:`YOLOV3_STRIDES`: the 3 largest at stride 32.
YOLOV3_MASKS: tuple[tuple[int, ...], ...] = ((6, 7, 8), (3, 4, 5), (0, 1, 2))
#: the strides of the three output scales (13 x 13, 26 x 26 and 52 x 52 at 416).
YOLOV3_STRIDES: tuple[int, ...] = (32, 16, 8)
#: the input size the anchors are given for.
YOLOV3_IMAGE_SIZE: int = 416
#: darknet's ``ignore_thresh`` (yolov3.cfg); the paper's text says .5.
YOLOV3_IGNORE_THRESH: float = 0.7
#: residual blocks per stage of Darknet-53 (Table 1 of the paper): 1, 2, 8, 8, 4.
DARKNET53_BLOCKS: tuple[int, ...] = (1, 2, 8, 8, 4)
#: the terms of :func:`yolo_v3_loss` (``return_terms=True``), in this order.
LOSS_TERMS: tuple[str, ...] = ("xy", "wh", "obj", "noobj", "cls")
DECODE_STRATEGIES: tuple[str, ...] = ("filter_then_nms", "nms_then_classify")


def scale_anchors(image_size: int, anchors: Tensor = YOLOV3_ANCHORS,
                  reference_size: int = YOLOV3_IMAGE_SIZE) -> Tensor:
    """The anchors for another input size, as the same fractions of the image: ``anchors * image_size / reference``.

    .. math::
        (p_w, p_h)_{\\text{size}} = (p_w, p_h)_{416} \\cdot \\frac{\\text{size}}{416}

    Args:
        image_size: the new input side in pixels (> 0).
        anchors: ``(K, 2)`` pixel anchors at ``reference_size``.
        reference_size: the input side the anchors are given for.

    Returns:
        ``(K, 2)`` float64 (the dtype of ``anchors`` if floating) pixel anchors at ``image_size``.
    """
    _positive_int(image_size, "image_size")
    _positive_int(reference_size, "reference_size")
    anchors = _check_anchors(anchors)
    return anchors * (image_size / reference_size)


def _positive_int(value: object, name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"{name} must be a positive int, got {value!r}.")
    return value


def _check_anchors(anchors: object) -> Tensor:
    if not isinstance(anchors, Tensor):
        raise TypeError(f"anchors must be a torch.Tensor of (w, h) rows, got {type(anchors).__name__}.")
    if anchors.ndim != 2 or anchors.shape[1] != 2 or anchors.shape[0] == 0:
        raise ValueError(f"anchors must have shape (K, 2) with K >= 1, got {tuple(anchors.shape)}.")
    if anchors.is_complex() or anchors.dtype == torch.bool:
        raise TypeError(f"anchors must be real, got dtype {anchors.dtype}.")
    anchors = anchors if anchors.is_floating_point() else anchors.to(torch.float64)
    if not bool(torch.isfinite(anchors).all()) or bool((anchors <= 0).any()):
        raise ValueError("anchors must be finite and positive.")
    return anchors


def _check_masks(masks: object, n_anchors: int) -> tuple[tuple[int, ...], ...]:
    if isinstance(masks, (str, bytes, Tensor)) or not isinstance(masks, Sequence) or len(masks) == 0:
        raise TypeError(f"masks must be a non-empty sequence of sequences of anchor indices, got {masks!r}.")
    out = []
    for s, mask in enumerate(masks):
        if isinstance(mask, (str, bytes, Tensor)) or not isinstance(mask, Sequence) or len(mask) == 0:
            raise TypeError(f"masks[{s}] must be a non-empty sequence of anchor indices, got {mask!r}.")
        for k in mask:
            if not isinstance(k, int) or isinstance(k, bool) or not 0 <= k < n_anchors:
                raise ValueError(f"masks[{s}] holds {k!r}: anchor indices must be ints in [0, {n_anchors}).")
        out.append(tuple(mask))
    return tuple(out)


# ----------------------------------------------------------------------------------------------------------------------
# 2. Which scale and which anchor an object goes to
# ----------------------------------------------------------------------------------------------------------------------


def assign_scales(
    wh: Tensor,
    anchors: Tensor = YOLOV3_ANCHORS,
    masks: Sequence[Sequence[int]] = YOLOV3_MASKS,
) -> tuple[Tensor, Tensor]:
    """The scale and the anchor of each object: the best of **all** anchors by (w, h)-IoU, then the mask holding it.

    .. math::
        k^\\star = \\arg\\max_{k} \\mathrm{IoU}_{wh}\\big((w, h), (p_{w,k}, p_{h,k})\\big), \\qquad
        \\text{scale} = s \\text{ with } k^\\star \\in \\text{masks}[s], \\qquad \\text{slot} = \\text{position of }
        k^\\star \\text{ in masks}[s]

    with :func:`course_lib.detection.anchors.wh_iou`, the IoU of two boxes sharing a corner (or their centre: the
    same number), so only the shapes count, not where the object is. Darknet's ``yolo_layer`` does the same: the
    truth box and every anchor are moved to the origin before their IoU is taken, and a layer trains an object only
    if the winning anchor is in its mask. Ties go to the lower anchor index. An anchor in several masks goes to the
    first; an anchor in none gives scale and slot -1 (the object is trained nowhere, as in darknet).

    Args:
        wh: ``(N, 2)`` widths and heights of the objects, in the unit of ``anchors`` (pixels); ``N`` may be 0.
        anchors: ``(K, 2)`` anchor widths and heights (the paper's 9 at 416 by default).
        masks: per scale, the anchor indices it uses (:data:`YOLOV3_MASKS`: stride 32 first).

    Returns:
        ``scale`` ``(N,)`` and ``slot`` ``(N,)``, int64 on the device of ``wh``.

    Example: a 100 x 80 box at 416 has its best IoU with anchor 6 (116 x 90), so it goes to scale 0 (stride 32),
    slot 0.
    """
    anchors = _check_anchors(anchors)
    masks = _check_masks(masks, anchors.shape[0])
    if not isinstance(wh, Tensor):
        raise TypeError(f"wh must be a torch.Tensor of (w, h) rows, got {type(wh).__name__}.")
    iou = wh_iou(wh, anchors.to(wh.device))  # (N, K); validates wh: (N, 2), finite, non-negative
    best = torch.nan_to_num(iou, nan=0.0).argmax(dim=1)  # (N,): the first maximum on ties
    K = anchors.shape[0]
    scale_of, slot_of = [-1] * K, [-1] * K
    for s in reversed(range(len(masks))):  # so that the first mask holding an anchor wins
        for j, k in enumerate(masks[s]):
            scale_of[k], slot_of[k] = s, j
    scale_of_t = torch.tensor(scale_of, dtype=torch.int64, device=wh.device)
    slot_of_t = torch.tensor(slot_of, dtype=torch.int64, device=wh.device)
    return scale_of_t[best], slot_of_t[best]


# ----------------------------------------------------------------------------------------------------------------------
# 3. The networks
# ----------------------------------------------------------------------------------------------------------------------


class _Residual(nn.Module):
    """One residual block of Darknet-53: ``x + conv3x3(conv1x1(x))``, the 1 x 1 halving the channels."""

    def __init__(self, channels: int, leaky: float) -> None:
        super().__init__()
        self.reduce = conv_bn_leaky(channels, channels // 2, 1, slope=leaky)
        self.expand = conv_bn_leaky(channels // 2, channels, 3, slope=leaky)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.expand(self.reduce(x))  # darknet's [shortcut] activation=linear


class Darknet53(nn.Module):
    """Darknet-53 (Table 1 of the paper): a 3 x 3 convolution, then five stages, each a stride-2 3 x 3 convolution
    followed by residual blocks (1, 2, 8, 8 and 4 of them). 1 + 5 + 2 (1 + 2 + 8 + 8 + 4) = 52 convolutions, plus
    the classifier's connected layer: 53.

    .. math::
        h_0 = \\phi(\\mathrm{BN}(W_0 * x)), \\qquad
        h_k = R_k^{(n_k)} \\circ \\cdots \\circ R_k^{(1)}\\big(\\phi(\\mathrm{BN}(W_k *_2 h_{k-1}))\\big), \\qquad
        R(x) = x + \\phi(\\mathrm{BN}(V_3 * \\phi(\\mathrm{BN}(V_1 * x))))

    Stage :math:`k = 1..5` has :math:`2^k` ``base_channels`` channels (64 ... 1024 for the paper's 32) at stride
    :math:`2^k`. :meth:`forward` returns the outputs of stages 3, 4 and 5 (strides 8, 16, 32), which the YOLOv3 head
    reads (darknet's layers 36, 61 and 74), or, with ``num_classes``, ImageNet-style logits (global average pooling
    and a connected layer, the 53rd layer, as pretrained on ImageNet in the paper).

    Args:
        base_channels: channels of the first convolution (32 in the paper).
        blocks: residual blocks per stage (:data:`DARKNET53_BLOCKS`).
        leaky_slope: the leaky ReLU's slope (0.1, as in every darknet since YOLOv1).
        num_classes: ``None`` for the feature extractor; an int adds the classifier.
    """

    def __init__(self, base_channels: int = 32, blocks: Sequence[int] = DARKNET53_BLOCKS, leaky_slope: float = 0.1,
                 num_classes: int | None = None) -> None:
        super().__init__()
        b = _positive_int(base_channels, "base_channels")
        blocks = tuple(blocks)
        if len(blocks) != 5 or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in blocks):
            raise ValueError(f"blocks must be 5 non-negative ints (one per stage), got {blocks!r}.")
        if b % 2:
            raise ValueError(f"base_channels must be even (the residual blocks halve the channels), got {b}.")
        self.blocks = blocks
        self.stem = conv_bn_leaky(3, b, 3, slope=leaky_slope)
        stages = []
        channels = b
        for k, n in enumerate(blocks, start=1):
            out = b * 2**k
            layers = [conv_bn_leaky(channels, out, 3, stride=2, slope=leaky_slope)]  # downsample: 3 x 3, stride 2
            layers += [_Residual(out, leaky_slope) for _ in range(n)]
            stages.append(nn.Sequential(*layers))
            channels = out
        self.stages = nn.ModuleList(stages)
        self.out_channels: tuple[int, int, int] = (b * 8, b * 16, b * 32)  # strides 8, 16, 32
        self.classifier = None
        if num_classes is not None:
            self.classifier = nn.Linear(channels, _positive_int(num_classes, "num_classes"))

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor] | Tensor:
        """``(c3, c4, c5)`` features at strides 8, 16 and 32, or ``(N, num_classes)`` logits with a classifier."""
        h = self.stem(x)
        features = []
        for stage in self.stages:
            h = stage(h)
            features.append(h)
        if self.classifier is not None:
            return self.classifier(h.mean(dim=(2, 3)))  # global average pooling, then the connected layer
        return features[2], features[3], features[4]


@dataclass
class YoloV3Config:
    """YOLOv3 as in the paper and ``yolov3.cfg``. ``base_channels``, ``blocks`` and ``head_depth`` are the course's
    knobs to build smaller versions of the same architecture (the defaults are the paper's)."""

    num_classes: int = 80  # COCO (Section 2.3: "3 * (4 + 1 + 80)" channels per scale)
    image_size: int = 416  # input side; a multiple of 32 (the coarsest stride)
    base_channels: int = 32  # Darknet-53's first convolution (Table 1)
    blocks: tuple[int, ...] = DARKNET53_BLOCKS  # residual blocks per stage (Table 1)
    head_depth: int = 5  # alternating 1x1 / 3x3 convolutions before each scale's branch point (yolov3.cfg: 5)
    leaky_slope: float = 0.1  # leaky ReLU slope
    anchors: tuple[tuple[float, float], ...] | None = None  # (w, h) pixels at image_size; None: scale_anchors(...)
    masks: tuple[tuple[int, ...], ...] = YOLOV3_MASKS  # anchors per scale, stride 32 first
    strides: tuple[int, ...] = YOLOV3_STRIDES
    # course addition: start every predictor at sigma(t_o) = prior and sigma(s_c) = 1/C (the biases of the last
    # 1 x 1 convolutions; the prior initialisation of Lin et al. 2017), so that the thousands of empty predictions do
    # not dominate the first steps with log 2 each. None: PyTorch's default initialisation (darknet starts at 0).
    objectness_prior: float | None = None


@dataclass
class YoloV3SmallConfig(YoloV3Config):
    """A YOLOv3 for CPUs: ten digit classes on a 96 x 96 canvas (grids 3 x 3, 6 x 6 and 12 x 12), Darknet-53's
    stages at a quarter of the width with one residual block each, and a shorter head. Same outputs, same loss."""

    num_classes: int = 10
    image_size: int = 96
    base_channels: int = 8
    blocks: tuple[int, ...] = (1, 1, 1, 1, 1)
    head_depth: int = 3
    objectness_prior: float | None = 0.01


def _expected_shape(model: nn.Module, batch_size: int) -> tuple[int, ...]:
    return (batch_size, model.num_predictions, 5 + model.config.num_classes)


@register_model(
    "yolo_v3",
    kind="detector",
    # The paper's network (62M parameters at 80 classes) takes seconds per CPU forward: the smoke test runs every
    # layer of the same architecture at 1/8 of the width on 64 x 64 inputs.
    example_kwargs={"base_channels": 4, "image_size": 64, "num_classes": 3},
    example_input=_example_images,
    expected_shape=_expected_shape,
)
class YoloV3(nn.Module):
    """YOLOv3: Darknet-53 and a head that predicts at three scales (Section 2.3, in the manner of feature pyramids).

    From the stride-32 features :math:`c_5` (13 x 13 at 416):

    - **scale 1, stride 32**: ``head_depth`` alternating 1 x 1 / 3 x 3 convolutions (1 x 1 first and last) give the
      branch :math:`u_5`; a 3 x 3 convolution and a linear 1 x 1 convolution to :math:`3 (5 + C)` channels predict.
    - **scale 2, stride 16**: a 1 x 1 convolution of :math:`u_5`, upsampled 2x (nearest), **concatenated** with the
      backbone's stride-16 features :math:`c_4`; then the same pattern at half the width.
    - **scale 3, stride 8**: the same from the scale-2 branch and :math:`c_3`.

    With the defaults this is ``yolov3.cfg`` layer for layer (75 convolutions). :meth:`forward` returns the raw
    outputs of the three scales flattened into one ``(N, P, 5 + C)`` tensor (module docstring);
    :meth:`split_scales` views it as one ``(N, 3, G, G, 5 + C)`` tensor per scale.

    Args:
        config: a :class:`YoloV3Config` (the paper's defaults when ``None``).
        **overrides: fields of the config to change, e.g. ``YoloV3(num_classes=20)``.
    """

    config_class: type = YoloV3Config

    def __init__(self, config: YoloV3Config | None = None, **overrides: Any) -> None:
        super().__init__()
        cfg = self.config = _resolve_config(config, self.config_class, overrides)
        C = _positive_int(cfg.num_classes, "num_classes")
        size = _positive_int(cfg.image_size, "image_size")
        strides = tuple(cfg.strides)
        if strides != YOLOV3_STRIDES:
            raise ValueError(f"strides must be {YOLOV3_STRIDES} (the outputs of Darknet-53's stages 5, 4, 3), "
                             f"got {strides}.")
        if size % 32:
            raise ValueError(f"image_size must be a multiple of 32 (the coarsest stride), got {size}.")
        depth = _positive_int(cfg.head_depth, "head_depth")
        if depth % 2 == 0:
            raise ValueError(f"head_depth must be odd (1 x 1 convolutions first and last), got {depth}.")
        anchors = scale_anchors(size) if cfg.anchors is None else _check_anchors(
            torch.tensor(cfg.anchors, dtype=torch.float64))
        masks = _check_masks(cfg.masks, anchors.shape[0])
        if len(masks) != 3:
            raise ValueError(f"masks must give the anchors of 3 scales, got {len(masks)}.")
        self.register_buffer("anchors", anchors.to(torch.get_default_dtype()), persistent=False)
        self.masks, self.strides = masks, strides
        self.grids = tuple(size // s for s in strides)  # (G_32, G_16, G_8)
        self.num_predictions = sum(len(m) * g * g for m, g in zip(masks, self.grids))
        leaky = cfg.leaky_slope

        self.backbone = Darknet53(cfg.base_channels, cfg.blocks, leaky)
        c3, c4, c5 = self.backbone.out_channels

        def conv_set(c_in: int, mid: int) -> nn.Sequential:
            layers, c = [], c_in
            for i in range(depth):  # 1x1 mid, 3x3 2 mid, 1x1 mid, ... (1 x 1 first and last)
                out = mid if i % 2 == 0 else 2 * mid
                layers.append(conv_bn_leaky(c, out, 1 if i % 2 == 0 else 3, slope=leaky))
                c = out
            return nn.Sequential(*layers)

        def predictor(mid: int, n_anchors: int) -> nn.Sequential:
            return nn.Sequential(conv_bn_leaky(mid, 2 * mid, 3, slope=leaky),
                                 nn.Conv2d(2 * mid, n_anchors * (5 + C), 1))  # linear, with bias

        self.set5, self.pred5 = conv_set(c5, c5 // 2), predictor(c5 // 2, len(masks[0]))  # 512 at the paper's width
        self.lateral4 = conv_bn_leaky(c5 // 2, c4 // 2, 1, slope=leaky)  # 256, before the upsampling
        self.set4, self.pred4 = conv_set(c4 // 2 + c4, c4 // 2), predictor(c4 // 2, len(masks[1]))  # 768 in
        self.lateral3 = conv_bn_leaky(c4 // 2, c3 // 2, 1, slope=leaky)  # 128
        self.set3, self.pred3 = conv_set(c3 // 2 + c3, c3 // 2), predictor(c3 // 2, len(masks[2]))  # 384 in
        if cfg.objectness_prior is not None:
            prior = cfg.objectness_prior
            if isinstance(prior, bool) or not isinstance(prior, (int, float)) or not 0 < prior < 1:
                raise ValueError(f"objectness_prior must be a probability in (0, 1) or None, got {prior!r}.")
            with torch.no_grad():
                for pred, mask in ((self.pred5, masks[0]), (self.pred4, masks[1]), (self.pred3, masks[2])):
                    bias = pred[1].bias.view(len(mask), 5 + C)  # (A, 5 + C): darknet's channel blocks
                    bias[:, 4] = math.log(prior / (1 - prior))  # sigma(t_o) = prior
                    bias[:, 5:] = -math.log(C - 1) if C > 1 else 0.0  # sigma(s_c) = 1 / C

    def forward(self, x: Tensor) -> Tensor:
        """Raw predictions ``(N, P, 5 + C)`` for images ``(N, 3, image_size, image_size)``."""
        size = self.config.image_size
        if not isinstance(x, Tensor):
            raise TypeError(f"the input must be a torch.Tensor of images, got {type(x).__name__}.")
        if x.ndim != 4 or x.shape[1] != 3 or x.shape[2] != size or x.shape[3] != size:
            raise ValueError(f"the input must have shape (N, 3, {size}, {size}) (config.image_size), "
                             f"got {tuple(x.shape)}.")
        c3, c4, c5 = self.backbone(x)
        u5 = self.set5(c5)  # (N, c5/2, G32, G32)
        u4 = self.set4(torch.cat([F.interpolate(self.lateral4(u5), scale_factor=2.0, mode="nearest"), c4], 1))
        u3 = self.set3(torch.cat([F.interpolate(self.lateral3(u4), scale_factor=2.0, mode="nearest"), c3], 1))
        outs = []
        for raw, mask in zip((self.pred5(u5), self.pred4(u4), self.pred3(u3)), self.masks):
            N, _, G, _ = raw.shape  # (N, A (5 + C), G, G): darknet's anchor-major channel blocks
            raw = raw.view(N, len(mask), 5 + self.config.num_classes, G, G).permute(0, 1, 3, 4, 2)  # (N, A, G, G, 5+C)
            outs.append(raw.reshape(N, len(mask) * G * G, 5 + self.config.num_classes))
        return torch.cat(outs, dim=1)  # (N, P, 5 + C)

    def split_scales(self, pred: Tensor) -> list[Tensor]:
        """``(N, P, 5 + C)`` -> one ``(N, A, G, G, 5 + C)`` view per scale (stride 32 first)."""
        sizes = [len(m) * g * g for m, g in zip(self.masks, self.grids)]
        return [p.view(p.shape[0], len(m), g, g, p.shape[-1])
                for p, m, g in zip(pred.split(sizes, dim=1), self.masks, self.grids)]


@register_model(
    "yolo_v3_small",
    kind="detector",
    example_kwargs={},
    example_input=_example_images,
    expected_shape=_expected_shape,
)
class YoloV3Small(YoloV3):
    """The CPU-sized YOLOv3 of the lab (:class:`YoloV3SmallConfig`): every part of the architecture (residual stages,
    three scales, upsample + concatenate, linear 3 (5 + C) predictors), a fraction of the channels and depth.

    Its anchors are the paper's scaled to its input size (:func:`scale_anchors`): at 96 x 96 each is 96/416 of its
    size at 416, the same fraction of the image. Not darknet's "YOLOv3-tiny" (two scales, max-pooling backbone).
    """

    config_class = YoloV3SmallConfig


# ----------------------------------------------------------------------------------------------------------------------
# 4. Where each prediction sits, and the targets
# ----------------------------------------------------------------------------------------------------------------------


def _geometry(image_size: int, anchors: Tensor | None, masks: Sequence[Sequence[int]],
              strides: Sequence[int]) -> tuple[Tensor, tuple[tuple[int, ...], ...], tuple[int, ...], tuple[int, ...]]:
    size = _positive_int(image_size, "image_size")
    anchors = scale_anchors(size) if anchors is None else _check_anchors(anchors)
    masks = _check_masks(masks, anchors.shape[0])
    strides = tuple(strides)
    if len(strides) != len(masks) or not all(isinstance(s, int) and not isinstance(s, bool) and s > 0
                                              for s in strides):
        raise ValueError(f"strides must be {len(masks)} positive ints (one per mask), got {strides!r}.")
    if any(size % s for s in strides):
        raise ValueError(f"image_size ({size}) must be a multiple of every stride {strides}.")
    return anchors, masks, strides, tuple(size // s for s in strides)


def prediction_grid(image_size: int, anchors: Tensor | None = None, masks: Sequence[Sequence[int]] = YOLOV3_MASKS,
                    strides: Sequence[int] = YOLOV3_STRIDES, *, device: torch.device | str | None = None,
                    dtype: torch.dtype = torch.float32) -> dict[str, Tensor]:
    """Where each of the P predictions sits, in the flattened order of :class:`YoloV3` (scale, anchor, row, col).

    Args:
        image_size: input side in pixels.
        anchors: ``(K, 2)`` pixel anchors at ``image_size`` (default: :func:`scale_anchors` of the paper's).
        masks, strides: per scale, the anchor indices and the stride.
        device, dtype: of the float outputs.

    Returns:
        a dict of ``(P,)`` tensors: ``"col"``, ``"row"``, ``"stride"``, ``"anchor_w"``, ``"anchor_h"`` (pixels)
        in ``dtype``, and ``"scale"``, ``"slot"``, ``"anchor"`` (the index into ``anchors``) as int64.
    """
    anchors, masks, strides, grids = _geometry(image_size, anchors, masks, strides)
    parts: dict[str, list[Tensor]] = {k: [] for k in ("col", "row", "stride", "anchor", "scale", "slot")}
    for s, (mask, stride, G) in enumerate(zip(masks, strides, grids)):
        A = len(mask)
        slot = torch.arange(A).view(A, 1, 1).expand(A, G, G)  # (A, G, G)
        row = torch.arange(G).view(1, G, 1).expand(A, G, G)
        col = torch.arange(G).view(1, 1, G).expand(A, G, G)
        parts["slot"].append(slot.reshape(-1))
        parts["row"].append(row.reshape(-1))
        parts["col"].append(col.reshape(-1))
        parts["anchor"].append(torch.tensor(mask)[slot.reshape(-1)])
        parts["scale"].append(torch.full((A * G * G,), s))
        parts["stride"].append(torch.full((A * G * G,), stride))
    cat = {k: torch.cat(v).to(device) for k, v in parts.items()}
    a = anchors.to(device=device, dtype=dtype)[cat["anchor"]]  # (P, 2)
    return {"col": cat["col"].to(dtype), "row": cat["row"].to(dtype), "stride": cat["stride"].to(dtype),
            "anchor_w": a[:, 0], "anchor_h": a[:, 1], "scale": cat["scale"], "slot": cat["slot"],
            "anchor": cat["anchor"]}


def _boxes_labels(targets: Sequence[Any], num_classes: int) -> tuple[list[Tensor], list[Tensor]]:
    all_boxes, all_labels = [], []
    for n, (boxes, labels) in enumerate(unpack_targets(targets)):
        if not isinstance(boxes, Tensor) or not boxes.is_floating_point() or boxes.ndim != 2 or boxes.shape[1] != 4:
            raise ValueError(f"targets[{n}]['boxes'] must be a float tensor (M, 4) xyxy relative to the image.")
        if not isinstance(labels, Tensor) or labels.is_floating_point() or labels.dtype == torch.bool \
                or labels.shape != (boxes.shape[0],):
            raise ValueError(f"targets[{n}]['labels'] must be an integer tensor ({boxes.shape[0]},).")
        if boxes.numel():
            if not bool(torch.isfinite(boxes).all()) or bool(((boxes < 0) | (boxes > 1)).any()):
                raise ValueError(f"targets[{n}]['boxes'] must be finite xyxy in [0, 1] (relative to the image).")
            if bool(((boxes[:, 2] <= boxes[:, 0]) | (boxes[:, 3] <= boxes[:, 1])).any()):
                raise ValueError(f"targets[{n}]['boxes'] must have x2 > x1 and y2 > y1: a box of zero width or "
                                 "height has no log-size target.")
            if bool(((labels < 0) | (labels >= num_classes)).any()):
                raise ValueError(f"targets[{n}]['labels'] must lie in [0, {num_classes}).")
        all_boxes.append(boxes)
        all_labels.append(labels.long())
    device, dtype = all_boxes[0].device, all_boxes[0].dtype
    return [b.to(device, dtype) for b in all_boxes], [lab.to(device) for lab in all_labels]


def build_targets(
    targets: Sequence[Any],
    image_size: int,
    num_classes: int,
    anchors: Tensor | None = None,
    masks: Sequence[Sequence[int]] = YOLOV3_MASKS,
    strides: Sequence[int] = YOLOV3_STRIDES,
) -> dict[str, Tensor]:
    """The YOLOv3 targets of a batch, across the three scales, without a loop over boxes.

    For an object with box :math:`(x_1, y_1, x_2, y_2)` (relative to the image) and class :math:`c`, in pixels
    :math:`b_x, b_y` (centre) and :math:`b_w, b_h` (size):

    1. scale :math:`s` and slot :math:`j` from :func:`assign_scales` (the best of all anchors by (w, h)-IoU), so the
       anchor :math:`(p_w, p_h)` = ``anchors[masks[s][j]]`` and the stride :math:`\\sigma_s`;
    2. the cell: :math:`\\text{col} = \\min(\\lfloor b_x / \\sigma_s \\rfloor, G_s - 1)`, row likewise;
    3. that prediction's target: :math:`\\hat x = b_x / \\sigma_s - \\text{col}`, :math:`\\hat y = b_y / \\sigma_s -
       \\text{row}`, :math:`\\hat t_w = \\log(b_w / p_w)`, :math:`\\hat t_h = \\log(b_h / p_h)`, objectness 1, the
       class one-hot.

    One object per (scale, anchor, cell): when two objects land on the same one, the larger box wins (the first of
    equal areas); darknet keeps the last one written instead. Every other prediction's target is zero: whether its
    objectness is trained towards 0 or ignored depends on the prediction (:func:`yolo_v3_loss`).

    Args:
        targets: ``N`` dicts with ``"boxes"`` ``(M_i, 4)`` xyxy relative to the image (in [0, 1], positive width
            and height) and ``"labels"`` ``(M_i,)`` integer classes in ``[0, num_classes)``.
        image_size: input side in pixels (the anchors are pixels at this size).
        num_classes: C.
        anchors: ``(K, 2)`` pixel anchors (default: the paper's, :func:`scale_anchors` to ``image_size``).
        masks, strides: per scale, the anchor indices and the stride.

    Returns:
        ``{"target": (N, P, 5 + C), "boxes": (N, M, 4), "valid": (N, M) bool}``: the target in the layout of the
        predictions, and the ground-truth boxes padded to ``M = max M_i`` (for the ignore rule of the loss).
    """
    C = _positive_int(num_classes, "num_classes")
    anchors, masks, strides, grids = _geometry(image_size, anchors, masks, strides)
    boxes_list, labels_list = _boxes_labels(targets, C)
    N = len(boxes_list)
    device, dtype = boxes_list[0].device, boxes_list[0].dtype
    sizes = [len(m) * g * g for m, g in zip(masks, grids)]
    P = sum(sizes)
    target = torch.zeros(N * P, 5 + C, dtype=dtype, device=device)
    M = max(b.shape[0] for b in boxes_list)
    padded = torch.zeros(N, M, 4, dtype=dtype, device=device)
    valid = torch.zeros(N, M, dtype=torch.bool, device=device)
    for n, b in enumerate(boxes_list):  # a loop over images (not boxes) to pad
        padded[n, : b.shape[0]] = b
        valid[n, : b.shape[0]] = True
    out = {"target": target.view(N, P, 5 + C), "boxes": padded, "valid": valid}
    boxes = torch.cat(boxes_list)  # (T, 4)
    if boxes.shape[0] == 0:
        return out
    labels = torch.cat(labels_list)
    image = torch.cat([torch.full((b.shape[0],), n, dtype=torch.long, device=device)
                       for n, b in enumerate(boxes_list)])

    size = float(image_size)
    b64 = boxes.to(torch.float64) * size  # pixels, float64 for the cell arithmetic
    cx, cy = (b64[:, 0] + b64[:, 2]) / 2, (b64[:, 1] + b64[:, 3]) / 2
    w, h = b64[:, 2] - b64[:, 0], b64[:, 3] - b64[:, 1]
    scale, slot = assign_scales(torch.stack([w, h], 1), anchors.to(device), masks)  # (T,), (T,)
    keep = scale >= 0  # an anchor outside every mask: trained nowhere
    mask_table = torch.full((len(masks), max(len(m) for m in masks)), 0, dtype=torch.long, device=device)
    for s, m in enumerate(masks):
        mask_table[s, : len(m)] = torch.tensor(m, device=device)
    s_safe, j_safe = scale.clamp(min=0), slot.clamp(min=0)
    stride = torch.tensor(strides, dtype=torch.float64, device=device)[s_safe]  # (T,)
    G = torch.tensor(grids, dtype=torch.long, device=device)[s_safe]
    A = torch.tensor([len(m) for m in masks], dtype=torch.long, device=device)[s_safe]
    offset = torch.tensor([0] + sizes[:-1], dtype=torch.long, device=device).cumsum(0)[s_safe]
    anchor = anchors.to(device=device, dtype=torch.float64)[mask_table[s_safe, j_safe]]  # (T, 2): p_w, p_h
    col = torch.minimum((cx / stride).floor().long(), G - 1)
    row = torch.minimum((cy / stride).floor().long(), G - 1)
    flat = image * P + offset + (j_safe * G + row) * G + col  # (T,) index into (N * P)
    t = torch.stack([cx / stride - col, cy / stride - row, torch.log(w / anchor[:, 0]), torch.log(h / anchor[:, 1])],
                    dim=1)  # (T, 4): x^, y^, t^_w, t^_h

    # One object per prediction: the largest area wins, then the first (two scatter-reductions, deterministic).
    area = torch.where(keep, w * h, torch.full_like(w, -1.0))
    T = boxes.shape[0]
    best_area = torch.full((N * P,), -2.0, dtype=torch.float64, device=device).scatter_reduce(
        0, flat, area, reduce="amax")
    order = torch.arange(T, device=device)
    first = torch.full((N * P,), T, dtype=torch.long, device=device).scatter_reduce(
        0, flat, torch.where(area == best_area[flat], order, T), reduce="amin")
    win = keep & (first[flat] == order)
    idx = flat[win]
    target[idx, :4] = t[win].to(dtype)
    target[idx, 4] = 1.0
    target[idx, 5 + labels[win]] = 1.0
    return out


# ----------------------------------------------------------------------------------------------------------------------
# 5. The loss
# ----------------------------------------------------------------------------------------------------------------------


def _check_pred(pred: object, P: int, C: int | None = None) -> Tensor:
    if not isinstance(pred, Tensor):
        raise TypeError(f"pred must be a torch.Tensor, got {type(pred).__name__}.")
    if not pred.is_floating_point():
        raise TypeError(f"pred must be a floating-point tensor, got dtype {pred.dtype}.")
    if pred.ndim != 3 or pred.shape[1] != P or pred.shape[2] < 6 or (C is not None and pred.shape[2] != 5 + C):
        want = f"(N, {P}, 5 + C)" if C is None else f"(N, {P}, {5 + C})"
        raise ValueError(f"pred must have shape {want} for this image size, anchors and masks, got "
                         f"{tuple(pred.shape)}.")
    if pred.shape[0] == 0:
        raise ValueError("pred must hold at least one image.")
    return pred


def _decode_boxes(pred: Tensor, grid: dict[str, Tensor], image_size: int) -> Tensor:
    """``(N, P, 4)`` xyxy relative to the image from raw ``(N, P, >= 4)`` outputs (exp clamped against overflow)."""
    cx = (grid["col"] + torch.sigmoid(pred[..., 0])) * grid["stride"] / image_size  # b_x / size
    cy = (grid["row"] + torch.sigmoid(pred[..., 1])) * grid["stride"] / image_size
    w = grid["anchor_w"] * torch.exp(pred[..., 2].clamp(max=20.0)) / image_size  # p_w e^{t_w} / size
    h = grid["anchor_h"] * torch.exp(pred[..., 3].clamp(max=20.0)) / image_size
    return torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], dim=-1)


def yolo_v3_loss(
    pred: Tensor,
    targets: dict[str, Tensor],
    image_size: int,
    anchors: Tensor | None = None,
    masks: Sequence[Sequence[int]] = YOLOV3_MASKS,
    strides: Sequence[int] = YOLOV3_STRIDES,
    ignore_thresh: float = YOLOV3_IGNORE_THRESH,
    *,
    return_terms: bool = False,
) -> Tensor | tuple[Tensor, dict[str, Tensor]]:
    """The YOLOv3 loss, summed over all predictions of the three scales and averaged over the batch.

    With :math:`\\mathbb 1^\\text{obj}_p` = "prediction :math:`p` is responsible for an object" (its target
    objectness is 1, :func:`build_targets`), :math:`\\hat w, \\hat h` that object's size relative to the image, and
    :math:`\\mathbb 1^\\text{ign}_p` = "the box predicted by :math:`p` has IoU > ``ignore_thresh`` with some
    ground-truth box of its image":

    .. math::
        \\mathcal L = \\frac1N \\sum_p \\Big[
          \\mathbb 1^\\text{obj}_p (2 - \\hat w \\hat h)
            \\big((\\sigma(t_x) - \\hat x)^2 + (\\sigma(t_y) - \\hat y)^2\\big)
        + \\mathbb 1^\\text{obj}_p (2 - \\hat w \\hat h) \\big((t_w - \\hat t_w)^2 + (t_h - \\hat t_h)^2\\big)
        + \\mathbb 1^\\text{obj}_p\\, \\mathrm{BCE}(t_o, 1)
        + (1 - \\mathbb 1^\\text{obj}_p)(1 - \\mathbb 1^\\text{ign}_p)\\, \\mathrm{BCE}(t_o, 0)
        + \\mathbb 1^\\text{obj}_p \\sum_{c=1}^C \\mathrm{BCE}(s_c, \\hat p_c) \\Big]

    with :math:`\\mathrm{BCE}(z, y) = -y \\log \\sigma(z) - (1 - y) \\log(1 - \\sigma(z))` (computed stably from the
    logit). The terms, in the order of :data:`LOSS_TERMS`: ``"xy"``, ``"wh"`` (sum of squared errors, Section 2.1;
    the :math:`2 - \\hat w \\hat h` scale of darknet's ``yolo_layer`` weighs small boxes up to twice as much),
    ``"obj"``, ``"noobj"`` (logistic objectness; a prediction that is not responsible but already overlaps an object
    well is ignored instead of pushed to 0, Section 2.1) and ``"cls"`` (independent logistic classifiers with binary
    cross-entropy, Section 2.2). Darknet's gradients are exactly these: :math:`\\sigma(z) - y` for objectness and
    classes. The ignore mask is computed without gradient from the current predictions.

    Args:
        pred: ``(N, P, 5 + C)`` raw network outputs (:class:`YoloV3`).
        targets: :func:`build_targets`' dict (``"target"``, ``"boxes"``, ``"valid"``).
        image_size, anchors, masks, strides: as given to :func:`build_targets`.
        ignore_thresh: the IoU above which a non-responsible prediction's objectness is not trained.
        return_terms: also return the five terms.

    Returns:
        the scalar loss; with ``return_terms=True``, ``(loss, terms)`` with ``loss == sum(terms.values())``.
    """
    anchors, masks, strides, grids = _geometry(image_size, anchors, masks, strides)
    P = sum(len(m) * g * g for m, g in zip(masks, grids))
    if not isinstance(targets, dict) or not {"target", "boxes", "valid"} <= set(targets):
        raise TypeError("targets must be the dict of build_targets (keys 'target', 'boxes', 'valid').")
    pred = _check_pred(pred, P)
    target, gt, valid = targets["target"], targets["boxes"], targets["valid"]
    if tuple(target.shape) != tuple(pred.shape):
        raise ValueError(f"targets['target'] has shape {tuple(target.shape)}, pred {tuple(pred.shape)}: they must "
                         "match (same image size, anchors, masks and number of classes).")
    if isinstance(ignore_thresh, bool) or not isinstance(ignore_thresh, (int, float)) or not 0 <= ignore_thresh <= 1:
        raise ValueError(f"ignore_thresh must be a number in [0, 1], got {ignore_thresh!r}.")
    N = pred.shape[0]
    target = target.to(pred.dtype)
    grid = prediction_grid(image_size, anchors, masks, strides, device=pred.device, dtype=pred.dtype)
    obj = target[..., 4] > 0  # (N, P) 1^obj

    with torch.no_grad():  # the ignore rule: IoU of each predicted box with every ground-truth box of its image
        boxes = _decode_boxes(torch.nan_to_num(pred.detach(), nan=0.0), grid, image_size)  # (N, P, 4)
        iou = box_iou_pairwise(boxes.unsqueeze(2), gt.to(pred.dtype).unsqueeze(1))  # (N, P, M)
        iou = torch.where(valid.unsqueeze(1), torch.nan_to_num(iou, nan=0.0), torch.zeros((), dtype=pred.dtype,
                                                                                          device=pred.device))
        best = iou.amax(dim=2) if iou.shape[2] else torch.zeros_like(obj, dtype=pred.dtype)  # (N, P)
        noobj = ~obj & ~(best > ignore_thresh)  # (N, P)
        w_hat = grid["anchor_w"] * torch.exp(target[..., 2]) / image_size  # the object's size / image size
        h_hat = grid["anchor_h"] * torch.exp(target[..., 3]) / image_size
        box_scale = torch.where(obj, 2.0 - w_hat * h_hat, torch.zeros_like(w_hat))  # (N, P): 2 - w h

    zero = pred.new_zeros(())
    d_xy = (torch.sigmoid(pred[..., :2]) - target[..., :2]).square().sum(-1)  # (N, P)
    d_wh = (pred[..., 2:4] - target[..., 2:4]).square().sum(-1)
    xy = torch.where(obj, box_scale * d_xy, zero).sum()
    wh = torch.where(obj, box_scale * d_wh, zero).sum()
    obj_term = torch.where(obj, F.softplus(-pred[..., 4]), zero).sum()  # BCE(t_o, 1) = -log sigma(t_o)
    noobj_term = torch.where(noobj, F.softplus(pred[..., 4]), zero).sum()  # BCE(t_o, 0) = -log(1 - sigma(t_o))
    bce = F.binary_cross_entropy_with_logits(pred[..., 5:], target[..., 5:], reduction="none").sum(-1)  # (N, P)
    cls = torch.where(obj, bce, zero).sum()
    terms = {"xy": xy / N, "wh": wh / N, "obj": obj_term / N, "noobj": noobj_term / N, "cls": cls / N}
    loss = terms["xy"] + terms["wh"] + terms["obj"] + terms["noobj"] + terms["cls"]
    return (loss, terms) if return_terms else loss


# ----------------------------------------------------------------------------------------------------------------------
# 6. Decoding
# ----------------------------------------------------------------------------------------------------------------------


def decode_predictions(pred: Tensor, image_size: int, anchors: Tensor | None = None,
                       masks: Sequence[Sequence[int]] = YOLOV3_MASKS,
                       strides: Sequence[int] = YOLOV3_STRIDES) -> tuple[Tensor, Tensor, Tensor]:
    """Boxes, objectness and class probabilities of every prediction of the three scales.

    .. math::
        \\text{box} = \\text{xyxy}\\big(s(\\text{col} + \\sigma(t_x)),\\ s(\\text{row} + \\sigma(t_y)),\\
        p_w e^{t_w},\\ p_h e^{t_h}\\big) / \\text{size} \\cap [0, 1]^2, \\qquad
        \\Pr(\\text{object}) = \\sigma(t_o), \\qquad \\Pr(c) = \\sigma(s_c)

    Args:
        pred: ``(N, P, 5 + C)`` raw outputs.
        image_size, anchors, masks, strides: the geometry of the network.

    Returns:
        ``boxes`` ``(N, P, 4)`` xyxy in [0, 1] (clipped), ``objectness`` ``(N, P)`` and ``class_probs``
        ``(N, P, C)``: independent probabilities, which need not sum to 1.
    """
    anchors, masks, strides, grids = _geometry(image_size, anchors, masks, strides)
    pred = _check_pred(pred, sum(len(m) * g * g for m, g in zip(masks, grids)))
    grid = prediction_grid(image_size, anchors, masks, strides, device=pred.device, dtype=pred.dtype)
    boxes = _decode_boxes(pred, grid, image_size).clamp(0.0, 1.0)
    return boxes, torch.sigmoid(pred[..., 4]), torch.sigmoid(pred[..., 5:])


def decode(
    pred: Tensor,
    image_size: int,
    anchors: Tensor | None = None,
    masks: Sequence[Sequence[int]] = YOLOV3_MASKS,
    strides: Sequence[int] = YOLOV3_STRIDES,
    conf_threshold: float = 0.25,
    iou_threshold: float = 0.45,
    strategy: str = "filter_then_nms",
) -> list[dict[str, Tensor]]:
    """Detections of a batch: the predictions of the three scales pooled into one set per image.

    Every prediction of every scale is a candidate with the score :math:`\\sigma(t_o)\\,\\sigma(s_c)` for class
    :math:`c`; the post-processing (:mod:`course_lib.detection.nms`, class-aware NMS) runs once over all scales
    together, so a digit found at two scales is reported once. ``"filter_then_nms"``: each box takes its best class,
    scores :math:`\\le` ``conf_threshold`` are dropped, then per-class NMS; ``"nms_then_classify"``: darknet's order.
    The thresholds are the course's defaults, not the paper's.

    Args:
        pred: ``(N, P, 5 + C)`` raw outputs (a target from :func:`build_targets` is *not* in this form).
        image_size, anchors, masks, strides: the geometry of the network.
        conf_threshold: keep scores strictly above it.
        iou_threshold: NMS suppresses IoU strictly above it.
        strategy: one of :data:`DECODE_STRATEGIES`.

    Returns:
        ``N`` dicts with ``"boxes"`` ``(K, 4)`` xyxy in [0, 1], ``"scores"`` ``(K,)``, ``"labels"`` ``(K,)`` int64,
        by decreasing score (the ``detections`` of :func:`course_lib.detection.metrics.mean_average_precision`).
    """
    if strategy not in DECODE_STRATEGIES:
        raise ValueError(f"strategy must be one of {DECODE_STRATEGIES}, got {strategy!r}.")
    postprocess = filter_then_nms if strategy == "filter_then_nms" else nms_then_classify
    with torch.no_grad():
        boxes, objectness, class_probs = decode_predictions(pred, image_size, anchors, masks, strides)
        return [postprocess(boxes[n], objectness[n], class_probs[n], conf_threshold, iou_threshold)
                for n in range(boxes.shape[0])]  # NMS is per image
