"""YOLOv1 (Redmon et al., CVPR 2016): the grid, the network, target encoding, the loss term by term, decoding.

Read top to bottom, this module is chapter 14 of the course:

1. :class:`YoloV1Config`: the paper's numbers (:math:`S = 7`, :math:`B = 2`, :math:`C = 20`,
   :math:`\\lambda_\\text{coord} = 5`, :math:`\\lambda_\\text{noobj} = 0.5`, 448 x 448 inputs).
2. The networks: :class:`YoloV1`, the paper's 24 convolutional + 2 fully connected layers, and
   :class:`YoloV1Tiny`, a small variant that trains on a CPU in a minute (MNIST digits on a canvas).
3. :func:`encode_targets` / :func:`encode_batch`: boxes and labels -> the ``[N, S, S, C + 5B]`` target tensor.
4. :func:`yolo_v1_loss`: equation (3) of the paper, one term per line, vectorized over batch, cells and predictors.
5. :func:`decode_predictions` / :func:`decode`: the ``[N, S, S, C + 5B]`` prediction -> boxes, scores and labels,
   with the two post-processing orders of :mod:`course_lib.detection.nms`.
6. :func:`fit_detector`: the training loop, defined in :mod:`course_lib.detection.train` (progress bar, history, a
   guard against non-finite losses, checkpoints and exact resume) and re-exported here.

**The tensor layout** (SPEC.md section 8). Predictions and targets are ``[N, S, S, C + 5B]``, indexed
``[n, row, col]`` with ``row`` the cell along y and ``col`` the cell along x. Each cell holds

.. code-block:: text

    [ p(1) ... p(C) | C_1 ... C_B | x_1 y_1 w_1 h_1 | ... | x_B y_B w_B h_B ]
      class scores    confidences   box of predictor 1      box of predictor B

where :math:`(x, y) \\in [0, 1]^2` is the box centre as an offset inside its cell and :math:`(w, h)` are the box
width and height relative to the image (Section 2.2: "we normalize the bounding box width and height by the image
width and height ... we parametrize the bounding box x and y coordinates to be offsets of a particular grid cell
location"). Prediction and target give every slot the same meaning: a predicted ``w`` is a width, not its square
root. (Darknet's ``detection_layer`` stores :math:`\\sqrt w` in the slot instead; the loss of equation (3) is the same
either way, only the slot's meaning differs.) The centre of the box in image coordinates is

.. math::
    c_x = \\frac{\\text{col} + x}{S}, \\qquad c_y = \\frac{\\text{row} + y}{S}.

**Outputs are used as they come** for :class:`YoloV1`: the paper's final layer is linear (Section 2.2, "we use a
linear activation function for the final layer"), and the loss of equation (3) compares those raw numbers with the
targets, so a predicted confidence may leave [0, 1] and a predicted width may be negative. The loss takes a signed
square root of widths and heights for that reason (:func:`signed_sqrt`). :class:`YoloV1Tiny` instead ends with
:func:`yolo_v1_activation` (softmax over the class scores, a sigmoid on confidences and boxes), which keeps every slot
in its range and makes the :math:`\\sqrt w` gradient bounded; its outputs mean the same as the targets too, and the
same loss and decoding apply unchanged.

Reference: J. Redmon, S. Divvala, R. Girshick, A. Farhadi, *You Only Look Once: Unified, Real-Time Object
Detection*, CVPR 2016 (Section 2: the grid and confidences; 2.1: the network; 2.2: training and the loss, Eq. 3;
2.3: inference).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from course_lib.detection._common import unpack_targets
from course_lib.detection.boxes import box_iou_pairwise
from course_lib.detection.datasets import normalize_boxes
from course_lib.detection.nms import filter_then_nms, nms_then_classify
from course_lib.registry import register_model

__all__ = [
    "YoloV1Config",
    "YoloV1TinyConfig",
    "PAPER_ARCHITECTURE",
    "YoloV1",
    "YoloV1Tiny",
    "yolo_v1_activation",
    "encode_targets",
    "encode_batch",
    "signed_sqrt",
    "cell_boxes_to_xyxy",
    "yolo_v1_loss",
    "decode_predictions",
    "decode",
    "DECODE_STRATEGIES",
    "fit_detector",
]


# ----------------------------------------------------------------------------------------------------------------------
# 1. Configuration
# ----------------------------------------------------------------------------------------------------------------------


@dataclass
class YoloV1Config:
    """Everything that defines YOLOv1 in the paper: the grid, the network and the loss weights.

    The defaults are the paper's PASCAL VOC setting (Redmon et al. 2016). ``width_mult`` is the course's addition: it
    scales every convolution's channel count (1.0 is the paper's network) so that the same 24-layer architecture can
    be run cheaply in tests.
    """

    S: int = 7  # grid cells per side (Section 2, "we use S = 7, B = 2")
    B: int = 2  # boxes predicted per cell (Section 2)
    C: int = 20  # classes: PASCAL VOC has 20 (Section 2)
    lambda_coord: float = 5.0  # weight of the box-coordinate terms (Section 2.2)
    lambda_noobj: float = 0.5  # weight of the confidence term of predictors without an object (Section 2.2)
    image_size: int = 448  # detection input resolution, "from 224 x 224 to 448 x 448" (Section 2.2)
    fc_hidden: int = 4096  # width of the first fully connected layer (Figure 3)
    dropout: float = 0.5  # "a dropout layer with rate = .5 after the first connected layer" (Section 2.2)
    leaky_slope: float = 0.1  # leaky ReLU, phi(x) = x if x > 0 else 0.1 x (Section 2.2, Eq. 2)
    width_mult: float = 1.0  # course addition: channel multiplier of every conv (1.0 = the paper's widths)


@dataclass
class YoloV1TinyConfig:
    """A small YOLOv1 for CPUs: MNIST digits (10 classes) on a 112 x 112 canvas, still a 7 x 7 grid with 2 boxes.

    Departures from the paper, all to learn in a minute on two CPU cores: five 3 x 3 convolutions (the first four
    with stride 2, each followed by batch norm, which YOLOv2 added) instead of 24; a convolutional head by default
    (the same small predictor slid over every cell, as YOLOv2 later did) instead of the two fully connected layers;
    and :func:`yolo_v1_activation` on the output. ``head="fc"`` restores the paper's fully connected head (narrower).
    """

    S: int = 7  # grid cells per side, as in the paper
    B: int = 2  # boxes per cell, as in the paper
    C: int = 10  # classes: the ten digits
    lambda_coord: float = 5.0  # the paper's loss weights (Section 2.2)
    lambda_noobj: float = 0.5
    image_size: int = 112  # 112 = 7 x 2^4: four stride-2 convolutions bring the image to the 7 x 7 grid
    widths: tuple[int, ...] = (16, 32, 64, 128, 128)  # channels of the 3 x 3 backbone convolutions
    head: str = "conv"  # "conv": 3 x 3 conv + 1 x 1 conv per cell; "fc": the paper's flatten + 2 Linear layers
    head_width: int = 128  # channels of the head's 3 x 3 conv ("conv"), or units of its first Linear ("fc")
    dropout: float = 0.0  # after the head's hidden layer; the paper's 0.5 slows a one-minute CPU run down
    leaky_slope: float = 0.1  # as in the paper (Eq. 2)
    batch_norm: bool = True  # course departure (YOLOv2, Section 2 "Batch Normalization"): trains faster
    activation: str = "sigmoid"  # "sigmoid": yolo_v1_activation on the output; "linear": the paper's raw output


def _positive_int(value: object, name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"{name} must be a positive int, got {value!r}.")
    return value


def _check_grid(S: object, B: object, C: object) -> tuple[int, int, int]:
    return _positive_int(S, "S"), _positive_int(B, "B"), _positive_int(C, "C")


def _check_grid_tensor(t: object, name: str, S: int, B: int, C: int) -> Tensor:
    """A floating tensor of shape (N, S, S, C + 5B)."""
    if not isinstance(t, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}.")
    if not t.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {t.dtype}.")
    depth = C + 5 * B
    if t.ndim != 4 or tuple(t.shape[1:]) != (S, S, depth):
        raise ValueError(
            f"{name} must have shape (N, S, S, C + 5B) = (N, {S}, {S}, {depth}) for S={S}, B={B}, C={C}, "
            f"got {tuple(t.shape)}."
        )
    return t


def _resolve_config(config: Any, cls: type, overrides: dict[str, Any]) -> Any:
    """``config`` (or the defaults of ``cls``) with the keyword ``overrides`` applied."""
    if config is None:
        config = cls()
    if not isinstance(config, cls):
        raise TypeError(f"config must be a {cls.__name__}, got {type(config).__name__}.")
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise TypeError(f"unknown {cls.__name__} field(s) {unknown}; the fields are {sorted(known)}.")
    return dataclasses.replace(config, **overrides)


# ----------------------------------------------------------------------------------------------------------------------
# 2. The networks
# ----------------------------------------------------------------------------------------------------------------------

# Figure 3 of the paper, top to bottom: (kernel, output channels, stride) for a convolution, "M" for a 2 x 2 max-pool
# with stride 2. Every convolution is padded to keep its size ("same" padding, kernel // 2).
PAPER_ARCHITECTURE: tuple[tuple[int, int, int] | str, ...] = (
    (7, 64, 2), "M",  # 448 -> 224 -> 112
    (3, 192, 1), "M",  # 112 -> 56
    (1, 128, 1), (3, 256, 1), (1, 256, 1), (3, 512, 1), "M",  # 56 -> 28
    *((1, 256, 1), (3, 512, 1)) * 4, (1, 512, 1), (3, 1024, 1), "M",  # 28 -> 14
    *((1, 512, 1), (3, 1024, 1)) * 2, (3, 1024, 1), (3, 1024, 2),  # 14 -> 7
    (3, 1024, 1), (3, 1024, 1),  # 7 -> 7
)  # 24 convolutions, total stride 64


def _example_images(model: nn.Module, batch_size: int) -> Tensor:
    p = next(model.parameters())
    size = model.config.image_size
    return torch.rand(batch_size, 3, size, size, device=p.device, dtype=p.dtype)


def _expected_grid_shape(model: nn.Module, batch_size: int) -> tuple[int, ...]:
    cfg = model.config
    return (batch_size, cfg.S, cfg.S, cfg.C + 5 * cfg.B)


def _check_images(x: object, image_size: int) -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"the input must be a torch.Tensor of images, got {type(x).__name__}.")
    if x.ndim != 4 or x.shape[1] != 3 or x.shape[2] != image_size or x.shape[3] != image_size:
        raise ValueError(
            f"the input must have shape (N, 3, {image_size}, {image_size}) (config.image_size: the network "
            f"maps exactly that size to the S x S grid), got {tuple(x.shape)}."
        )
    return x


@register_model(
    "yolo_v1",
    kind="detector",
    # The paper's 24 + 2 layers at 448 x 448 weigh 272M parameters (seconds per CPU forward): the smoke test runs the
    # same architecture (every layer, every stride) at 1/16 of the channels and a 64-wide first FC layer.
    example_kwargs={"width_mult": 1 / 16, "fc_hidden": 64},
    example_input=_example_images,
    expected_shape=_expected_grid_shape,
)
class YoloV1(nn.Module):
    """The YOLOv1 network of Figure 3: 24 convolutions, 2 fully connected layers, a ``[N, S, S, C + 5B]`` output.

    .. math::
        \\phi(x) = \\begin{cases} x & x > 0 \\\\ 0.1\\,x & \\text{otherwise} \\end{cases}
        \\qquad \\text{(Eq. 2, after every layer but the last)}

    Layers: the convolutions of :data:`PAPER_ARCHITECTURE` (each followed by :math:`\\phi`, no batch norm: that came
    with YOLOv2), flatten, ``Linear(1024 (image_size / 64)^2, 4096)``, :math:`\\phi`, dropout 0.5,
    ``Linear(4096, S S (C + 5B))`` with a linear (identity) activation, reshaped to ``(N, S, S, C + 5B)``. The
    outputs are raw: see the module docstring for how the loss and the decoding read them.

    Args:
        config: a :class:`YoloV1Config` (the paper's defaults when ``None``).
        **overrides: fields of the config to change, e.g. ``YoloV1(C=10, image_size=448)``.

    Shapes: input ``(N, 3, image_size, image_size)`` with ``image_size`` a multiple of 64 (448 in the paper);
    output ``(N, S, S, C + 5B)``.
    """

    def __init__(self, config: YoloV1Config | None = None, **overrides: Any) -> None:
        super().__init__()
        cfg = self.config = _resolve_config(config, YoloV1Config, overrides)
        self.S, self.B, self.C = _check_grid(cfg.S, cfg.B, cfg.C)
        size = _positive_int(cfg.image_size, "image_size")
        if size % 64:
            raise ValueError(f"image_size must be a multiple of 64 (the network's total stride), got {size}.")
        _positive_int(cfg.fc_hidden, "fc_hidden")
        if not 0.0 <= cfg.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {cfg.dropout}.")
        if not cfg.width_mult > 0:
            raise ValueError(f"width_mult must be positive, got {cfg.width_mult}.")

        layers: list[nn.Module] = []
        channels = 3
        for spec in PAPER_ARCHITECTURE:
            if spec == "M":
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
                continue
            kernel, out, stride = spec
            out = max(1, round(out * cfg.width_mult))
            layers.append(nn.Conv2d(channels, out, kernel_size=kernel, stride=stride, padding=kernel // 2))
            layers.append(nn.LeakyReLU(cfg.leaky_slope))
            channels = out
        self.features = nn.Sequential(*layers)
        grid = size // 64  # (N, channels, grid, grid) after the convolutions: 7 x 7 at 448
        depth = cfg.C + 5 * cfg.B
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Linear(channels * grid * grid, cfg.fc_hidden),
            nn.LeakyReLU(cfg.leaky_slope),
            nn.Dropout(p=cfg.dropout),
            nn.Linear(cfg.fc_hidden, cfg.S * cfg.S * depth),  # linear output (Section 2.2)
        )

    def forward(self, x: Tensor) -> Tensor:
        """Raw predictions ``(N, S, S, C + 5B)`` for images ``(N, 3, image_size, image_size)``."""
        x = _check_images(x, self.config.image_size)
        out = self.head(self.features(x))  # (N, S * S * (C + 5B))
        return out.view(x.shape[0], self.S, self.S, self.C + 5 * self.B)  # (N, S, S, C + 5B)


def yolo_v1_activation(raw: Tensor, S: int, B: int, C: int) -> Tensor:
    """Map raw network outputs to the meaning of the target slots (used by :class:`YoloV1Tiny`).

    .. math::
        p(c) = \\operatorname{softmax}(z_{1..C})_c, \\qquad C_j = \\sigma(z_{C + j}), \\qquad
        (x, y, w, h)_j = \\sigma(z_{(x, y, w, h)_j})

    so that class scores are probabilities summing to one, confidences lie in (0, 1), offsets in their cell lie in
    (0, 1) and widths and heights, relative to the image, lie in (0, 1). The paper's network has no such layer
    (its output is linear); with it the :math:`\\sqrt w` of the loss never sees a negative width and its gradient
    with respect to the logit, :math:`\\sqrt{\\sigma}(1 - \\sigma) / 2`, stays bounded.

    Args:
        raw: ``(N, S, S, C + 5B)`` raw outputs.

    Returns:
        ``(N, S, S, C + 5B)``, same layout, same dtype and device.
    """
    S, B, C = _check_grid(S, B, C)
    _check_grid_tensor(raw, "raw", S, B, C)
    classes = raw[..., :C].softmax(dim=-1)  # (N, S, S, C)
    rest = torch.sigmoid(raw[..., C:])  # (N, S, S, 5B): B confidences then B x (x, y, w, h)
    return torch.cat([classes, rest], dim=-1)


@register_model(
    "yolo_v1_tiny",
    kind="detector",
    example_kwargs={},
    example_input=_example_images,
    expected_shape=_expected_grid_shape,
)
class YoloV1Tiny(nn.Module):
    """A small YOLOv1 that trains on a CPU: strided 3 x 3 convolutions down to the S x S grid, a per-cell head, and
    :func:`yolo_v1_activation` on the output.

    .. math::
        h_k = \\phi(\\operatorname{BN}(W_k * h_{k-1})), \\qquad
        y_{\\text{row}, \\text{col}} = \\operatorname{act}\\big(V\\, \\phi(\\operatorname{BN}(U * h_K))_{\\text{row},
        \\text{col}}\\big)

    with :math:`\\phi` the leaky ReLU of the paper, the first :math:`\\log_2(\\text{image\\_size} / S)` convolutions
    of stride 2 (so the last feature map is S x S), :math:`U` a 3 x 3 and :math:`V` a 1 x 1 convolution
    (``head="conv"``, the default), or the paper's ``flatten -> Linear -> phi -> dropout -> Linear`` (``head="fc"``).

    Why a convolutional head here: it applies the same small predictor to every cell, so each image gives it 49
    training examples, while the fully connected head must learn each cell's output separately. In one-minute CPU
    runs on :class:`course_lib.detection.datasets.MNISTDetection` (2,000 training images, batch 16, Adam 3e-3, about
    250 steps each, one thread) the convolutional head reached mAP@0.5 = 0.41 on 200 held-out images, the fully
    connected one (``head_width=256``) 0.01. The paper's choice gives every cell a view of the whole image; with
    enough data and steps both work.

    Args:
        config: a :class:`YoloV1TinyConfig` (MNIST defaults: ``C = 10``, 112 x 112 inputs).
        **overrides: fields of the config to change, e.g. ``YoloV1Tiny(image_size=224, head="fc")``.

    Shapes: input ``(N, 3, image_size, image_size)`` with ``image_size = S * 2^k``, ``k <= len(widths)``;
    output ``(N, S, S, C + 5B)``.
    """

    def __init__(self, config: YoloV1TinyConfig | None = None, **overrides: Any) -> None:
        super().__init__()
        cfg = self.config = _resolve_config(config, YoloV1TinyConfig, overrides)
        self.S, self.B, self.C = _check_grid(cfg.S, cfg.B, cfg.C)
        size = _positive_int(cfg.image_size, "image_size")
        widths = tuple(cfg.widths)
        if not widths or not all(isinstance(w, int) and not isinstance(w, bool) and w > 0 for w in widths):
            raise ValueError(f"widths must be a non-empty tuple of positive ints, got {cfg.widths!r}.")
        ratio = size // cfg.S
        halvings = ratio.bit_length() - 1
        if size % cfg.S or ratio != 2**halvings or halvings > len(widths):
            raise ValueError(
                f"image_size must be S * 2^k with k <= len(widths) = {len(widths)} (one stride-2 convolution per "
                f"halving), got image_size={size}, S={cfg.S}."
            )
        if cfg.head not in ("conv", "fc"):
            raise ValueError(f"head must be 'conv' or 'fc', got {cfg.head!r}.")
        if cfg.activation not in ("sigmoid", "linear"):
            raise ValueError(f"activation must be 'sigmoid' or 'linear', got {cfg.activation!r}.")
        if not 0.0 <= cfg.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {cfg.dropout}.")
        hidden = _positive_int(cfg.head_width, "head_width")

        def conv_block(c_in: int, c_out: int, stride: int) -> list[nn.Module]:
            layers = [nn.Conv2d(c_in, c_out, kernel_size=3, stride=stride, padding=1, bias=not cfg.batch_norm)]
            if cfg.batch_norm:
                layers.append(nn.BatchNorm2d(c_out))
            return layers + [nn.LeakyReLU(cfg.leaky_slope)]

        layers: list[nn.Module] = []
        channels = 3
        for k, width in enumerate(widths):
            layers += conv_block(channels, width, stride=2 if k < halvings else 1)  # the first `halvings` halve
            channels = width
        self.features = nn.Sequential(*layers)  # (N, widths[-1], S, S)
        depth = cfg.C + 5 * cfg.B
        if cfg.head == "conv":
            self.head = nn.Sequential(
                *conv_block(channels, hidden, stride=1),
                nn.Dropout(p=cfg.dropout),
                nn.Conv2d(hidden, depth, kernel_size=1),  # linear: one (C + 5B)-vector per cell
            )  # (N, C + 5B, S, S)
        else:
            self.head = nn.Sequential(
                nn.Flatten(),
                nn.Linear(channels * cfg.S * cfg.S, hidden),
                nn.LeakyReLU(cfg.leaky_slope),
                nn.Dropout(p=cfg.dropout),
                nn.Linear(hidden, cfg.S * cfg.S * depth),
            )  # (N, S * S * (C + 5B))

    def forward(self, x: Tensor) -> Tensor:
        """Predictions ``(N, S, S, C + 5B)`` (activated unless ``activation="linear"``) for ``(N, 3, H, W)`` images."""
        x = _check_images(x, self.config.image_size)
        out = self.head(self.features(x))
        depth = self.C + 5 * self.B
        if self.config.head == "conv":
            out = out.permute(0, 2, 3, 1)  # (N, C + 5B, S, S) -> (N, S, S, C + 5B): channels last = the cell vector
        else:
            out = out.view(x.shape[0], self.S, self.S, depth)  # (N, S, S, C + 5B)
        if self.config.activation == "sigmoid":
            out = yolo_v1_activation(out, self.S, self.B, self.C)
        return out


# ----------------------------------------------------------------------------------------------------------------------
# 3. Target encoding
# ----------------------------------------------------------------------------------------------------------------------


def _check_boxes_labels(boxes: object, labels: object, C: int, where: str = "") -> tuple[Tensor, Tensor]:
    """Boxes (M, 4) xyxy inside [0, 1] and integer labels (M,) in [0, C)."""
    if not isinstance(boxes, Tensor):
        raise TypeError(f"boxes{where} must be a torch.Tensor, got {type(boxes).__name__}.")
    if not isinstance(labels, Tensor):
        raise TypeError(f"labels{where} must be a torch.Tensor, got {type(labels).__name__}.")
    if not boxes.is_floating_point():
        raise TypeError(f"boxes{where} must be a floating-point tensor (xyxy in [0, 1]), got dtype {boxes.dtype}.")
    if labels.dtype == torch.bool or labels.is_floating_point() or labels.is_complex():
        raise TypeError(f"labels{where} must be an integer tensor (int64), got dtype {labels.dtype}.")
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f"boxes{where} must have shape (M, 4) (xyxy), got {tuple(boxes.shape)}.")
    if labels.ndim != 1 or labels.shape[0] != boxes.shape[0]:
        raise ValueError(
            f"labels{where} must have shape (M,) = ({boxes.shape[0]},) (one per box), got {tuple(labels.shape)}."
        )
    if labels.device != boxes.device:
        raise ValueError(f"boxes{where} and labels{where} must be on the same device, got {boxes.device} and "
                         f"{labels.device}.")
    if boxes.shape[0] == 0:
        return boxes, labels
    b = boxes.detach()
    if not bool(torch.isfinite(b).all()):
        raise ValueError(f"boxes{where} contain NaN or infinite values.")
    if bool(((b < 0) | (b > 1)).any()):
        row = int(((b < 0) | (b > 1)).any(dim=1).nonzero()[0, 0])
        raise ValueError(
            f"boxes{where} must be xyxy coordinates relative to the image, in [0, 1]; box {row} is "
            f"{b[row].tolist()} (divide pixel boxes by the image width and height, or use "
            "encode_batch(image_size=...))."
        )
    bad = (b[:, 2] < b[:, 0]) | (b[:, 3] < b[:, 1])
    if bool(bad.any()):
        row = int(bad.nonzero()[0, 0])
        raise ValueError(f"boxes{where} must have x2 >= x1 and y2 >= y1 (xyxy); box {row} is {b[row].tolist()}.")
    out_of_range = (labels < 0) | (labels >= C)
    if bool(out_of_range.any()):
        row = int(out_of_range.nonzero()[0, 0])
        raise ValueError(f"labels{where} must lie in [0, C) = [0, {C}); label {row} is {int(labels[row])}.")
    return boxes, labels


def _encode(boxes: Tensor, labels: Tensor, image: Tensor, N: int, S: int, B: int, C: int) -> Tensor:
    """Targets ``(N, S, S, C + 5B)`` from validated boxes ``(M, 4)``, labels ``(M,)`` and image indices ``(M,)``."""
    depth = C + 5 * B
    target = boxes.new_zeros(N * S * S, depth)  # one row per cell, flattened (n, row, col)
    M = boxes.shape[0]
    if M == 0:
        return target.view(N, S, S, depth)
    x1, y1, x2, y2 = boxes.unbind(dim=1)  # (M,) each
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2  # centre, relative to the image
    w, h = x2 - x1, y2 - y1  # size, relative to the image
    col = (cx * S).floor().long().clamp_(max=S - 1)  # the x cell; a centre at exactly 1.0 goes to the last cell
    row = (cy * S).floor().long().clamp_(max=S - 1)  # the y cell
    x, y = cx * S - col, cy * S - row  # offsets of the centre inside its cell, in [0, 1]
    cell = (image * S + row) * S + col  # (M,) flat index of the responsible cell

    # One object per cell (the paper's cells predict one set of class probabilities, Section 2.4): the largest box
    # wins, and among boxes of equal area the first in the input order. Two scatter-reductions pick the winners
    # without a loop, deterministically (each cell then receives exactly one write).
    area = w * h
    best_area = torch.full((N * S * S,), -1.0, dtype=area.dtype, device=area.device)
    best_area = best_area.scatter_reduce(0, cell, area, reduce="amax")  # largest area in each cell
    order = torch.arange(M, device=boxes.device)
    candidate = torch.where(area == best_area[cell], order, M)  # boxes of the largest area keep their index
    first = torch.full((N * S * S,), M, dtype=torch.long, device=boxes.device)
    first = first.scatter_reduce(0, cell, candidate, reduce="amin")  # first such box in each cell
    win = first[cell] == order  # (M,) the boxes written into the target

    cell, label = cell[win], labels[win].long()
    box = torch.stack([x[win], y[win], w[win], h[win]], dim=1)  # (K, 4): (x, y, w, h)
    target[cell, label] = 1.0  # class one-hot: p(c) = 1 for the object's class
    target[cell, C : C + B] = 1.0  # Pr(object) = 1 in all B confidence slots
    target[cell, C + B :] = box.repeat(1, B)  # the same (x, y, w, h) in all B box slots
    return target.view(N, S, S, depth)  # (N, S, S, C + 5B)


def encode_targets(boxes: Tensor, labels: Tensor, S: int = 7, B: int = 2, C: int = 20) -> Tensor:
    """The YOLOv1 target of one image: each object written into the cell that contains its centre.

    For an object with box :math:`(x_1, y_1, x_2, y_2)` (relative to the image) and class :math:`c`:

    .. math::
        c_x = \\tfrac{x_1 + x_2}{2}, \\quad c_y = \\tfrac{y_1 + y_2}{2}, \\qquad
        \\text{col} = \\min(\\lfloor S c_x \\rfloor, S - 1), \\quad \\text{row} = \\min(\\lfloor S c_y \\rfloor, S - 1),

    .. math::
        x = S c_x - \\text{col}, \\quad y = S c_y - \\text{row}, \\quad w = x_2 - x_1, \\quad h = y_2 - y_1,

    and cell ``[row, col]`` receives: the one-hot class vector in the C class slots, 1 in **all** B confidence slots
    (:math:`\\Pr(\\text{object}) = 1`; the loss replaces it by the IoU of the responsible predictor when it rescores),
    and the same :math:`(x, y, w, h)` in **all** B box slots (prediction and target give every slot the same
    meaning; which predictor is responsible is decided by the loss). All other cells are zero.

    Conventions. A centre exactly on a cell border belongs to the cell to its right/below; a centre at exactly 1.0
    belongs to the last cell (offset 1.0). A cell holds one object (Section 2.4 of the paper: each cell predicts one
    set of class probabilities): when several centres fall into one cell, the **largest** box (by area) wins, and
    among equal areas the first in the input order. The other objects are left out of the target.

    Args:
        boxes: ``(M, 4)`` float, xyxy, relative to the image (in [0, 1]); ``M`` may be 0.
        labels: ``(M,)`` integer (int64) class indices in ``[0, C)``.
        S, B, C: grid size, boxes per cell, number of classes.

    Returns:
        ``(S, S, C + 5B)`` with the dtype and device of ``boxes``, indexed ``[row, col]``.

    Raises:
        TypeError: non-tensor input, integer boxes, non-integer labels.
        ValueError: wrong shapes, NaN or infinite coordinates, coordinates outside [0, 1], ``x2 < x1`` or
            ``y2 < y1``, labels outside ``[0, C)``, or tensors on different devices.
    """
    S, B, C = _check_grid(S, B, C)
    boxes, labels = _check_boxes_labels(boxes, labels, C)
    image = torch.zeros(boxes.shape[0], dtype=torch.long, device=boxes.device)
    return _encode(boxes, labels, image, 1, S, B, C)[0]


def encode_batch(
    targets: Sequence[Any],
    S: int = 7,
    B: int = 2,
    C: int = 20,
    image_size: int | tuple[int, int] | None = None,
) -> Tensor:
    """Encode the targets of a batch of images at once (one vectorized :func:`encode_targets` for all images).

    Args:
        targets: a sequence of ``N >= 1`` dicts with ``"boxes"`` ``(M_i, 4)`` xyxy and ``"labels"`` ``(M_i,)``
            int64 (the format of :mod:`course_lib.detection` datasets), or of ``(boxes, labels)`` pairs.
        S, B, C: grid size, boxes per cell, number of classes.
        image_size: ``None`` when the boxes are already relative to the image (in [0, 1]); otherwise the image size
            in pixels, ``(H, W)`` or one int for a square image: the boxes are divided by ``(W, H, W, H)`` first
            (:func:`course_lib.detection.datasets.normalize_boxes`; integer boxes become float32).

    Returns:
        ``(N, S, S, C + 5B)``, dtype and device of the first image's boxes.
    """
    S, B, C = _check_grid(S, B, C)
    all_boxes, all_labels, all_images = [], [], []
    for n, (boxes, labels) in enumerate(unpack_targets(targets)):
        if image_size is not None:
            boxes = normalize_boxes(boxes, image_size)  # pixels -> fractions of the image: / (W, H, W, H)
        if n > 0 and isinstance(boxes, Tensor) and boxes.is_floating_point():
            if boxes.device != all_boxes[0].device:
                raise ValueError(f"the boxes of targets[{n}] are on {boxes.device}, those of targets[0] on "
                                 f"{all_boxes[0].device}.")
            boxes = boxes.to(all_boxes[0].dtype)
        boxes, labels = _check_boxes_labels(boxes, labels, C, where=f" of targets[{n}]")
        all_boxes.append(boxes)
        all_labels.append(labels.long())
        all_images.append(torch.full((boxes.shape[0],), n, dtype=torch.long, device=boxes.device))
    return _encode(torch.cat(all_boxes), torch.cat(all_labels), torch.cat(all_images), len(targets), S, B, C)


# ----------------------------------------------------------------------------------------------------------------------
# 4. The loss (Eq. 3)
# ----------------------------------------------------------------------------------------------------------------------

_SQRT_EPS = 1e-8  # |w| below this counts as 1e-8 inside the square root (see signed_sqrt)


def signed_sqrt(v: Tensor, eps: float = _SQRT_EPS) -> Tensor:
    """The square root of the loss, extended to the negative widths a linear output layer can predict.

    .. math::
        \\operatorname{ssqrt}(v) = \\operatorname{sign}(v) \\sqrt{\\max(|v|, \\varepsilon)}

    For :math:`v \\ge \\varepsilon` this is exactly :math:`\\sqrt v` (every valid target, and every sensible
    prediction); for a negative prediction it is odd and increasing, so the loss still pulls a negative width up
    towards the target. The gradient :math:`1 / (2\\sqrt{|v|})` is at most :math:`1/(2\\sqrt\\varepsilon)` (5000 for
    :math:`\\varepsilon = 10^{-8}`), and it is 0 (not infinite or NaN) for :math:`|v| < \\varepsilon`, including
    :math:`v = 0`.

    Args:
        v: any shape, floating.
        eps: the floor :math:`\\varepsilon > 0` of :math:`|v|` under the root.

    Returns:
        same shape, dtype and device.
    """
    return torch.sign(v) * torch.sqrt(v.abs().clamp(min=eps))


def cell_boxes_to_xyxy(boxes: Tensor, clip: bool = False) -> Tensor:
    """Boxes in the cell parametrization :math:`(x, y, w, h)` -> xyxy relative to the image.

    .. math::
        c_x = \\frac{\\text{col} + x}{S}, \\quad c_y = \\frac{\\text{row} + y}{S}, \\qquad
        (x_1, y_1, x_2, y_2) = \\left(c_x - \\tfrac{w^+}{2},\\; c_y - \\tfrac{h^+}{2},\\;
        c_x + \\tfrac{w^+}{2},\\; c_y + \\tfrac{h^+}{2}\\right), \\quad w^+ = \\max(w, 0),

    a negative predicted width or height counting as 0 (an empty box, IoU 0 with anything).

    Args:
        boxes: ``(..., S, S, K, 4)``: the K boxes of every cell of an S x S grid, cell ``[row, col]`` at dims -4, -3.
        clip: clip the corners to the image, [0, 1].

    Returns:
        ``(..., S, S, K, 4)`` xyxy, same dtype and device.
    """
    if not isinstance(boxes, Tensor) or boxes.ndim < 4 or boxes.shape[-1] != 4 or boxes.shape[-4] != boxes.shape[-3]:
        shape = tuple(boxes.shape) if isinstance(boxes, Tensor) else type(boxes).__name__
        raise ValueError(f"boxes must have shape (..., S, S, K, 4), got {shape}.")
    S = boxes.shape[-3]
    idx = torch.arange(S, device=boxes.device, dtype=boxes.dtype)
    col = idx.view(1, S, 1)  # broadcasts over (S rows, S cols, K boxes)
    row = idx.view(S, 1, 1)
    cx = (col + boxes[..., 0]) / S  # (..., S, S, K)
    cy = (row + boxes[..., 1]) / S
    half_w = boxes[..., 2].clamp(min=0) / 2
    half_h = boxes[..., 3].clamp(min=0) / 2
    xyxy = torch.stack([cx - half_w, cy - half_h, cx + half_w, cy + half_h], dim=-1)  # (..., S, S, K, 4)
    return xyxy.clamp(0.0, 1.0) if clip else xyxy


def yolo_v1_loss(
    pred: Tensor,
    target: Tensor,
    S: int = 7,
    B: int = 2,
    C: int = 20,
    lambda_coord: float = 5.0,
    lambda_noobj: float = 0.5,
    *,
    rescore: bool = True,
    return_terms: bool = False,
) -> Tensor | tuple[Tensor, dict[str, Tensor]]:
    """The YOLOv1 loss, Eq. (3) of Redmon et al. (2016), summed over cells and averaged over the batch.

    .. math::
        \\mathcal{L} = \\frac{1}{N} \\sum_{n=1}^{N} \\Big[
          \\lambda_\\text{coord} \\sum_{i=1}^{S^2} \\sum_{j=1}^{B} \\mathbb{1}^\\text{obj}_{ij}
            \\big[(x_i - \\hat x_i)^2 + (y_i - \\hat y_i)^2\\big]
        + \\lambda_\\text{coord} \\sum_{i} \\sum_{j} \\mathbb{1}^\\text{obj}_{ij}
            \\big[(\\sqrt{w_i} - \\sqrt{\\hat w_i})^2 + (\\sqrt{h_i} - \\sqrt{\\hat h_i})^2\\big]
        + \\sum_{i} \\sum_{j} \\mathbb{1}^\\text{obj}_{ij} (C_{ij} - \\hat C_{ij})^2
        + \\lambda_\\text{noobj} \\sum_{i} \\sum_{j} \\mathbb{1}^\\text{noobj}_{ij} C_{ij}^2
        + \\sum_{i} \\mathbb{1}^\\text{obj}_{i} \\sum_{c} (p_i(c) - \\hat p_i(c))^2 \\Big]

    (unhatted: prediction; hatted: target, as in the paper). The indicators, computed without gradient:

    - :math:`\\mathbb{1}^\\text{obj}_i`: cell :math:`i` holds an object (its target confidence is > 0);
    - :math:`\\mathbb{1}^\\text{obj}_{ij}`: predictor :math:`j` of such a cell is *responsible* for the object: of
      the B predicted boxes, the one with the highest IoU with the target box, both converted to image coordinates
      (:func:`cell_boxes_to_xyxy`; the first one on ties, e.g. when all IoUs are 0, where darknet would pick the
      box with the smallest RMSE instead). Section 2.2: "We assign one predictor to be 'responsible' for predicting
      an object based on which prediction has the highest current IOU with the ground truth."
    - :math:`\\mathbb{1}^\\text{noobj}_{ij} = 1 - \\mathbb{1}^\\text{obj}_{ij}`: every predictor that is not responsible
      for an object, in empty cells **and** the non-responsible predictors of object cells, whose confidence target
      is 0 (the reading of darknet's ``detection_layer``, which first pushes every confidence towards 0 with the
      no-object scale, then overwrites the responsible one).

    Confidence target :math:`\\hat C_{ij}` of a responsible predictor: with ``rescore=True`` (the paper, Section 2:
    "we want the confidence score to equal the intersection over union (IOU) between the predicted box and the
    ground truth", darknet's ``rescore=1``) the IoU of that predictor's box with the target box, detached;
    with ``rescore=False`` the target's own confidence slot (1).

    Square roots: :func:`signed_sqrt` on both predicted and target w and h (exactly :math:`\\sqrt{\\cdot}` for
    :math:`w \\ge 10^{-8}`; odd for negative predictions; finite gradient everywhere, 0 at :math:`w = 0`). The target
    box is read from the target's first box slot (all B slots hold the same box, :func:`encode_targets`).

    Args:
        pred: ``(N, S, S, C + 5B)`` predictions in the layout of the module docstring (raw outputs of
            :class:`YoloV1`, or activated outputs of :class:`YoloV1Tiny`).
        target: ``(N, S, S, C + 5B)`` from :func:`encode_targets` / :func:`encode_batch`.
        S, B, C: grid size, boxes per cell, number of classes.
        lambda_coord, lambda_noobj: the weights of the coordinate and the no-object confidence terms.
        rescore: the confidence target of a responsible predictor is its IoU (``True``) or 1 (``False``).
        return_terms: also return the four terms.

    Returns:
        the scalar loss (dtype of ``pred``); with ``return_terms=True`` a pair ``(loss, terms)`` where ``terms``
        has the scalars ``"coord"`` (lines 1-2 of Eq. 3, with :math:`\\lambda_\\text{coord}`), ``"conf_obj"``
        (line 3), ``"conf_noobj"`` (line 4, with :math:`\\lambda_\\text{noobj}`) and ``"cls"`` (line 5), each
        averaged over the batch, so that ``loss == sum(terms.values())``.
    """
    S, B, C = _check_grid(S, B, C)
    pred = _check_grid_tensor(pred, "pred", S, B, C)
    target = _check_grid_tensor(target, "target", S, B, C)
    if pred.shape != target.shape:
        raise ValueError(
            f"pred and target must have the same shape, got {tuple(pred.shape)} and {tuple(target.shape)}."
        )
    if pred.device != target.device:
        raise ValueError(f"pred and target must be on the same device, got {pred.device} and {target.device}.")
    for value, name in ((lambda_coord, "lambda_coord"), (lambda_noobj, "lambda_noobj")):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
            raise ValueError(f"{name} must be a non-negative number, got {value!r}.")
    if pred.shape[0] == 0:
        raise ValueError("pred must hold at least one image (N >= 1): the loss averages over the batch.")
    N = pred.shape[0]
    target = target.to(pred.dtype)

    p_cls = pred[..., :C]  # (N, S, S, C) p_i(c)
    p_conf = pred[..., C : C + B]  # (N, S, S, B) C_ij
    p_box = pred[..., C + B :].unflatten(-1, (B, 4))  # (N, S, S, B, 4) (x, y, w, h)_ij
    t_cls = target[..., :C]  # (N, S, S, C) p^_i(c)
    t_box = target[..., C + B : C + B + 4].unsqueeze(-2)  # (N, S, S, 1, 4): slot 0 (all slots are equal)
    obj = target[..., C] > 0  # (N, S, S) 1^obj_i

    with torch.no_grad():  # which predictor is responsible: no gradient through the choice (nor the rescore target)
        p_safe = torch.nan_to_num(p_box.detach(), nan=0.0)  # a NaN prediction makes the loss NaN, not the IoU raise
        iou = box_iou_pairwise(cell_boxes_to_xyxy(p_safe), cell_boxes_to_xyxy(t_box))  # (N, S, S, B)
        iou = torch.nan_to_num(iou, nan=0.0).to(pred.dtype)  # 0/0 (two empty boxes) counts as IoU 0
        best = iou.argmax(dim=-1)  # (N, S, S): the first maximum on ties
        responsible = F.one_hot(best, B).bool() & obj.unsqueeze(-1)  # (N, S, S, B) 1^obj_ij
        not_responsible = ~responsible  # (N, S, S, B) 1^noobj_ij
        conf_target = iou if rescore else target[..., C : C + B]  # (N, S, S, B) C^_ij of a responsible predictor

    zero = pred.new_zeros(())
    # lines 1-2: lambda_coord 1^obj_ij [(x - x^)^2 + (y - y^)^2 + (sqrt w - sqrt w^)^2 + (sqrt h - sqrt h^)^2]
    d_xy = (p_box[..., :2] - t_box[..., :2]).square().sum(dim=-1)  # (N, S, S, B)
    d_wh = (signed_sqrt(p_box[..., 2:]) - signed_sqrt(t_box[..., 2:])).square().sum(dim=-1)  # (N, S, S, B)
    coord = lambda_coord * torch.where(responsible, d_xy + d_wh, zero).sum()
    # line 3: 1^obj_ij (C_ij - C^_ij)^2, with C^_ij = IoU (rescore)
    conf_obj = torch.where(responsible, (p_conf - conf_target).square(), zero).sum()
    # line 4: lambda_noobj 1^noobj_ij (C_ij - 0)^2
    conf_noobj = lambda_noobj * torch.where(not_responsible, p_conf.square(), zero).sum()
    # line 5: 1^obj_i sum_c (p_i(c) - p^_i(c))^2
    cls = torch.where(obj.unsqueeze(-1), (p_cls - t_cls).square(), zero).sum()

    terms = {"coord": coord / N, "conf_obj": conf_obj / N, "conf_noobj": conf_noobj / N, "cls": cls / N}
    loss = terms["coord"] + terms["conf_obj"] + terms["conf_noobj"] + terms["cls"]
    return (loss, terms) if return_terms else loss


# ----------------------------------------------------------------------------------------------------------------------
# 5. Decoding
# ----------------------------------------------------------------------------------------------------------------------

DECODE_STRATEGIES: tuple[str, ...] = ("filter_then_nms", "nms_then_classify")


def decode_predictions(pred: Tensor, S: int = 7, B: int = 2, C: int = 20) -> tuple[Tensor, Tensor, Tensor]:
    """Split a ``(N, S, S, C + 5B)`` prediction into boxes, confidences and class probabilities, every predictor
    of every cell at once.

    .. math::
        \\text{box}_{ij} = \\text{xyxy}\\Big(\\frac{\\text{col} + x_{ij}}{S}, \\frac{\\text{row} + y_{ij}}{S},
        w_{ij}^+, h_{ij}^+\\Big) \\cap [0, 1]^2, \\qquad
        \\Pr(\\text{class}_c) \\cdot \\mathrm{IoU} = p_i(c)\\, C_{ij} \\;\\; \\text{(Eq. 1, computed by the caller)}

    Negative widths count as 0 and boxes are clipped to the image (:func:`cell_boxes_to_xyxy`).

    Args:
        pred: ``(N, S, S, C + 5B)``.

    Returns:
        ``boxes`` ``(N, S*S*B, 4)`` xyxy in [0, 1], ``confidences`` ``(N, S*S*B)`` and ``class_probs``
        ``(N, S*S*B, C)`` (a cell's class scores repeated for each of its B predictors); the predictors are ordered
        by ``(row, col, j)``.
    """
    S, B, C = _check_grid(S, B, C)
    pred = _check_grid_tensor(pred, "pred", S, B, C)
    N = pred.shape[0]
    boxes = cell_boxes_to_xyxy(pred[..., C + B :].unflatten(-1, (B, 4)), clip=True)  # (N, S, S, B, 4)
    confidences = pred[..., C : C + B]  # (N, S, S, B)
    class_probs = pred[..., :C].unsqueeze(-2).expand(N, S, S, B, C)  # (N, S, S, B, C)
    return boxes.reshape(N, S * S * B, 4), confidences.reshape(N, S * S * B), class_probs.reshape(N, S * S * B, C)


def decode(
    pred: Tensor,
    S: int = 7,
    B: int = 2,
    C: int = 20,
    conf_threshold: float = 0.2,
    iou_threshold: float = 0.4,
    strategy: str = "filter_then_nms",
) -> list[dict[str, Tensor]]:
    """Detections of a batch of YOLOv1 predictions: one dict per image.

    Every predictor of every cell is a candidate: its box from :func:`decode_predictions`, its class-specific
    confidence :math:`p_i(c)\\, C_{ij}` (Eq. 1 of the paper, Section 2.3). Then, per image:

    - ``"filter_then_nms"``: each box takes its best class, boxes whose score is :math:`\\le` ``conf_threshold`` are
      dropped, and NMS runs per class (:func:`course_lib.detection.nms.filter_then_nms`);
    - ``"nms_then_classify"``: darknet's order, per-class NMS on all class-specific scores, then each box takes its
      best surviving class (:func:`course_lib.detection.nms.nms_then_classify`).

    The defaults ``conf_threshold = 0.2`` and ``iou_threshold = 0.4`` are those of darknet's YOLOv1 demo
    (``test_yolo`` in ``yolo.c``: ``-thresh`` 0.2, ``nms`` 0.4); the paper gives neither. The predictions are used
    as they are: for a linear output layer (:class:`YoloV1`) scores are not probabilities and may be negative (they
    are then below any non-negative threshold).

    Args:
        pred: ``(N, S, S, C + 5B)`` predictions (or targets: decoding a target gives its objects back).
        S, B, C: grid size, boxes per cell, number of classes.
        conf_threshold: keep class-specific scores strictly above it.
        iou_threshold: NMS suppresses a box whose IoU with a kept box of the same class is strictly above it.
        strategy: one of :data:`DECODE_STRATEGIES`.

    Returns:
        ``N`` dicts with ``"boxes"`` ``(K, 4)`` xyxy in [0, 1], ``"scores"`` ``(K,)`` and ``"labels"`` ``(K,)``
        int64, sorted by decreasing score (the ``detections`` of :func:`course_lib.detection.metrics.
        mean_average_precision`; multiply the boxes by the image size for pixels).
    """
    if strategy not in DECODE_STRATEGIES:
        raise ValueError(f"strategy must be one of {DECODE_STRATEGIES}, got {strategy!r}.")
    postprocess = filter_then_nms if strategy == "filter_then_nms" else nms_then_classify
    with torch.no_grad():
        boxes, confidences, class_probs = decode_predictions(pred, S, B, C)  # (N, P, 4), (N, P), (N, P, C)
        return [
            postprocess(boxes[n], confidences[n], class_probs[n], conf_threshold, iou_threshold)
            for n in range(boxes.shape[0])  # NMS is per image
        ]


# ----------------------------------------------------------------------------------------------------------------------
# 6. Training: fit_detector lives in course_lib.detection.train (checkpoints, exact resume, Ctrl-C) and is re-exported
# here, so ``from course_lib.detection.yolo_v1 import fit_detector`` keeps working.
# ----------------------------------------------------------------------------------------------------------------------

from course_lib.detection.train import fit_detector  # noqa: E402  (re-exported; see __all__)
