"""Augmentations for detection: the boxes move with the pixels.

A detection sample is ``(image, target)``: ``image`` a ``Tensor[C, H, W]`` and ``target`` a dict whose ``boxes`` are
``Tensor[K, 4]`` xyxy in continuous pixel coordinates (pixel :math:`j` is :math:`[j, j + 1)`), with per-box entries
such as ``labels`` and ``difficult``. A geometric augmentation must apply *the same* map :math:`T` to the pixels and to
the boxes. For the maps used here (flip, scale, translation, resize) :math:`T` is axis-aligned,

.. math::
    T(x, y) = (a_x x + b_x,\\ a_y y + b_y),

so a box maps to the box spanned by its transformed corners (sorted, for a flip where :math:`a_x < 0`).

The pixel and box kernels are torchvision's (``torchvision.transforms.v2.functional`` acting on
``tv_tensors.Image`` and ``tv_tensors.BoundingBoxes``); this module draws the random parameters (from an optional
``torch.Generator``, so a pipeline can be replayed), and :class:`DetectionTransform` wraps a list of steps so that it
takes and returns ``(image, target)``, clips the boxes to the image and drops those that left it or became smaller
than ``min_size`` pixels, keeping ``labels`` and the other per-box entries aligned. Any ``torchvision.transforms.v2``
transform can be a step too (it is called as ``step(image, boxes)``).

Not every augmentation suits every data set: a horizontal flip turns a "2" into a mirrored "2", which is no digit,
so leave it out for :class:`course_lib.detection.datasets.MNISTDetection`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor

from course_lib.detection.boxes import check_boxes, clip_boxes_to_image, remove_small_boxes

__all__ = [
    "hflip",
    "scale_translate",
    "resize",
    "RandomHorizontalFlip",
    "RandomScaleTranslate",
    "ColorJitter",
    "Resize",
    "DetectionTransform",
    "PER_BOX_KEYS",
]

#: Target entries that hold one value per box and are filtered together with ``boxes``.
PER_BOX_KEYS: tuple[str, ...] = ("labels", "difficult", "truncated", "iscrowd", "scores", "names")


def _tv() -> tuple[Any, Any]:
    """torchvision's ``tv_tensors`` and ``transforms.v2.functional`` (imported lazily: slow to import)."""
    from torchvision import tv_tensors
    from torchvision.transforms.v2 import functional as TF

    return tv_tensors, TF


def _check_image(image: object, name: str = "image") -> Tensor:
    if not isinstance(image, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor [C, H, W], got {type(image).__name__}.")
    if image.ndim != 3 or image.shape[-1] < 1 or image.shape[-2] < 1:
        raise ValueError(f"{name} must have shape [C, H, W] with H, W >= 1, got {tuple(image.shape)}.")
    return image


def _check_xyxy(boxes: object) -> Tensor:
    boxes = check_boxes(boxes, "boxes", "xyxy")
    if boxes.ndim != 2:
        raise ValueError(f"boxes must have shape [K, 4], got {tuple(boxes.shape)}.")
    if not boxes.is_floating_point():
        raise TypeError(f"boxes must be a floating tensor (pixel coordinates), got {boxes.dtype}.")
    return boxes


def _wrap(image: Tensor, boxes: Tensor) -> tuple[Any, Any]:
    """Plain tensors -> ``(tv_tensors.Image, tv_tensors.BoundingBoxes)`` on the image's canvas."""
    tv_tensors, _ = _tv()
    h, w = image.shape[-2:]
    return (tv_tensors.Image(image),
            tv_tensors.BoundingBoxes(boxes, format="XYXY", canvas_size=(int(h), int(w))))


def _plain(t: Tensor) -> Tensor:
    return t.as_subclass(Tensor)


def _uniform(low: float, high: float, generator: torch.Generator | None) -> float:
    r""":math:`u \sim \mathcal{U}[\text{low}, \text{high}]` from ``generator`` (or the global RNG)."""
    return low + (high - low) * float(torch.rand((), generator=generator))


# ----------------------------------------------------------------------------------------------------------------------
# Deterministic operations on (image, boxes)
# ----------------------------------------------------------------------------------------------------------------------
def hflip(image: Tensor, boxes: Tensor) -> tuple[Tensor, Tensor]:
    r"""Mirror left-right: pixel column :math:`j \mapsto W - 1 - j`, box :math:`(x_1, y_1, x_2, y_2) \mapsto
    (W - x_2,\ y_1,\ W - x_1,\ y_2)`.

    Args:
        image: ``Tensor[C, H, W]``.
        boxes: ``Tensor[K, 4]`` float xyxy in pixels.

    Returns:
        ``(image, boxes)`` with the same shapes, dtypes and device.
    """
    image, boxes = _check_image(image), _check_xyxy(boxes)
    _, TF = _tv()
    img, bb = _wrap(image, boxes)
    return _plain(TF.horizontal_flip(img)), _plain(TF.horizontal_flip(bb))


def scale_translate(image: Tensor, boxes: Tensor, scale: float, translate: tuple[float, float] = (0.0, 0.0),
                    fill: float = 0.0, interpolation: str = "bilinear") -> tuple[Tensor, Tensor]:
    r"""Zoom by ``scale`` about the image centre :math:`c = (W/2, H/2)`, then shift by ``translate = (t_x, t_y)``.

    .. math::
        T(p) = s\,(p - c) + c + t

    for pixel positions and box corners alike; the boxes are then clipped to :math:`[0, W] \times [0, H]` (a box
    pushed out of the image becomes a zero-width box on the border, which :class:`DetectionTransform` drops).
    Uncovered pixels get ``fill``. Whole-pixel translations with ``scale = 1`` move the pixels exactly.

    Args:
        image: ``Tensor[C, H, W]``.
        boxes: ``Tensor[K, 4]`` float xyxy in pixels.
        scale: :math:`s > 0` (``> 1`` zooms in).
        translate: :math:`(t_x, t_y)` in pixels.
        fill: value of the pixels that come from outside the image.
        interpolation: ``"bilinear"`` or ``"nearest"``.

    Returns:
        ``(image, boxes)``, same shapes, dtypes and device.
    """
    image, boxes = _check_image(image), _check_xyxy(boxes)
    if not isinstance(scale, (int, float)) or isinstance(scale, bool) or not scale > 0:
        raise ValueError(f"scale must be a positive number, got {scale!r}.")
    if len(translate) != 2:
        raise ValueError(f"translate must be (tx, ty) in pixels, got {translate!r}.")
    if interpolation not in ("bilinear", "nearest"):
        raise ValueError(f"interpolation must be 'bilinear' or 'nearest', got {interpolation!r}.")
    if scale == 1 and translate[0] == 0 and translate[1] == 0:                 # the identity: no resampling error
        return image.clone(), clip_boxes_to_image(boxes, tuple(image.shape[-2:]))
    _, TF = _tv()
    mode = TF.InterpolationMode.BILINEAR if interpolation == "bilinear" else TF.InterpolationMode.NEAREST
    img, bb = _wrap(image, boxes)
    args = dict(angle=0.0, translate=[float(translate[0]), float(translate[1])], scale=float(scale), shear=[0.0, 0.0])
    out_img = TF.affine(img, interpolation=mode, fill=float(fill), **args)
    out_boxes = TF.affine(bb, **args)                          # T applied to the four corners, then clipped
    return _plain(out_img), clip_boxes_to_image(_plain(out_boxes), tuple(image.shape[-2:]))


def resize(image: Tensor, boxes: Tensor, size: int | tuple[int, int]) -> tuple[Tensor, Tensor]:
    r"""Resize to ``size = (H', W')`` (an int means square); boxes scale by :math:`(W'/W,\ H'/H)`:

    .. math::
        (x_1, y_1, x_2, y_2) \mapsto (x_1 W'/W,\ y_1 H'/H,\ x_2 W'/W,\ y_2 H'/H)

    Pixels are resampled bilinearly with antialiasing.

    Args:
        image: ``Tensor[C, H, W]``.
        boxes: ``Tensor[K, 4]`` float xyxy in pixels.
        size: the new ``(height, width)``, or one int for both.

    Returns:
        ``(Tensor[C, H', W'], Tensor[K, 4])``.
    """
    image, boxes = _check_image(image), _check_xyxy(boxes)
    hw = _check_size(size)
    _, TF = _tv()
    img, bb = _wrap(image, boxes)
    return (_plain(TF.resize(img, list(hw), antialias=True)),
            _plain(TF.resize(bb, list(hw))))


def _check_size(size: object) -> tuple[int, int]:
    if isinstance(size, int) and not isinstance(size, bool):
        size = (size, size)
    if (not isinstance(size, (tuple, list)) or len(size) != 2
            or not all(isinstance(s, int) and not isinstance(s, bool) for s in size)):
        raise TypeError(f"size must be an int or a pair of ints (height, width), got {size!r}.")
    if size[0] < 1 or size[1] < 1:
        raise ValueError(f"size must be positive, got {tuple(size)}.")
    return int(size[0]), int(size[1])


def _check_positive_range(value: object, name: str) -> tuple[float, float]:
    """A pair ``(low, high)`` with ``0 < low <= high``."""
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise TypeError(f"{name} must be a pair (low, high), got {value!r}.")
    lo, hi = float(value[0]), float(value[1])
    if not 0.0 < lo <= hi:
        raise ValueError(f"{name} must satisfy 0 < low <= high, got {value!r}.")
    return lo, hi


# ----------------------------------------------------------------------------------------------------------------------
# Random steps: each is called as step(image, boxes) -> (image, boxes)
# ----------------------------------------------------------------------------------------------------------------------
class RandomHorizontalFlip:
    """With probability ``p``, :func:`hflip` the image and its boxes.

    Args:
        p: probability of flipping, in [0, 1].
        generator: ``torch.Generator`` for the coin; None uses PyTorch's global RNG.
    """

    def __init__(self, p: float = 0.5, generator: torch.Generator | None = None) -> None:
        if not 0.0 <= float(p) <= 1.0:
            raise ValueError(f"p must be in [0, 1], got {p}.")
        self.p, self.generator = float(p), generator

    def __call__(self, image: Tensor, boxes: Tensor) -> tuple[Tensor, Tensor]:
        if float(torch.rand((), generator=self.generator)) < self.p:
            return hflip(image, boxes)
        return image, boxes

    def __repr__(self) -> str:
        return f"RandomHorizontalFlip(p={self.p})"


class RandomScaleTranslate:
    r"""Random zoom and shift (:func:`scale_translate`): :math:`s \sim \mathcal{U}[s_{lo}, s_{hi}]`,
    :math:`t_x \sim \mathcal{U}\{-\lfloor f_x W \rfloor, \dots, \lfloor f_x W \rfloor\}` whole pixels (likewise
    :math:`t_y` with :math:`f_y H`), where ``translate = (f_x, f_y)`` are fractions of the image size.

    The YOLOv1 paper (Redmon et al. 2016, section 2.2) augments with "random scaling and translations of up to 20%
    of the original image size", i.e. ``scale=(0.8, 1.2), translate=(0.2, 0.2)``.

    Args:
        scale: range of :math:`s`, ``0 < low <= high``.
        translate: maximal shifts as fractions of ``(W, H)``, each in [0, 1].
        fill: value of uncovered pixels.
        generator: ``torch.Generator`` for the draws; None uses the global RNG.
    """

    def __init__(self, scale: tuple[float, float] = (0.8, 1.2), translate: tuple[float, float] = (0.2, 0.2),
                 fill: float = 0.0, generator: torch.Generator | None = None) -> None:
        self.scale = _check_positive_range(scale, "scale")
        if not isinstance(translate, (tuple, list)) or len(translate) != 2 or not all(
                0.0 <= float(f) <= 1.0 for f in translate):
            raise ValueError(f"translate must be a pair of fractions in [0, 1], got {translate!r}.")
        self.translate = (float(translate[0]), float(translate[1]))
        self.fill, self.generator = float(fill), generator

    def __call__(self, image: Tensor, boxes: Tensor) -> tuple[Tensor, Tensor]:
        h, w = image.shape[-2:]
        s = _uniform(*self.scale, self.generator)
        max_tx, max_ty = int(self.translate[0] * w), int(self.translate[1] * h)
        tx = int(torch.randint(-max_tx, max_tx + 1, (), generator=self.generator))
        ty = int(torch.randint(-max_ty, max_ty + 1, (), generator=self.generator))
        return scale_translate(image, boxes, s, (tx, ty), fill=self.fill)

    def __repr__(self) -> str:
        return f"RandomScaleTranslate(scale={self.scale}, translate={self.translate}, fill={self.fill})"


class ColorJitter:
    r"""Random brightness, contrast, saturation and hue (pixels only; the boxes do not move).

    Factors :math:`b, c, s \sim \mathcal{U}[1 - \beta, 1 + \beta]` for ``brightness``, ``contrast``, ``saturation``
    and a hue shift :math:`\eta \sim \mathcal{U}[-h, h]` (a fraction of the colour wheel, :math:`h \le 0.5`) are
    applied in this order with torchvision's kernels (``adjust_brightness`` multiplies by :math:`b`;
    ``adjust_contrast`` blends with the mean grey level; ``adjust_saturation`` with the grey image), and the result is
    clipped to [0, 1] for float images. (The YOLOv1 paper jitters exposure and saturation by up to 1.5x in HSV.)

    Args:
        brightness, contrast, saturation: :math:`\beta \in [0, 1]`; 0 switches that jitter off.
        hue: :math:`h \in [0, 0.5]`.
        generator: ``torch.Generator`` for the draws; None uses the global RNG.
    """

    def __init__(self, brightness: float = 0.3, contrast: float = 0.3, saturation: float = 0.3, hue: float = 0.02,
                 generator: torch.Generator | None = None) -> None:
        for name, v, top in (("brightness", brightness, 1.0), ("contrast", contrast, 1.0),
                             ("saturation", saturation, 1.0), ("hue", hue, 0.5)):
            if not 0.0 <= float(v) <= top:
                raise ValueError(f"{name} must be in [0, {top}], got {v}.")
        self.brightness, self.contrast = float(brightness), float(contrast)
        self.saturation, self.hue = float(saturation), float(hue)
        self.generator = generator

    def __call__(self, image: Tensor, boxes: Tensor) -> tuple[Tensor, Tensor]:
        _, TF = _tv()
        g = self.generator
        b = _uniform(1 - self.brightness, 1 + self.brightness, g)
        c = _uniform(1 - self.contrast, 1 + self.contrast, g)
        s = _uniform(1 - self.saturation, 1 + self.saturation, g)
        eta = _uniform(-self.hue, self.hue, g)
        out = TF.adjust_brightness(image, b)
        out = TF.adjust_contrast(out, c)
        if out.shape[-3] == 3:                                    # saturation and hue need colour
            out = TF.adjust_saturation(out, s)
            if self.hue > 0:
                out = TF.adjust_hue(out, eta)
        return out, boxes

    def __repr__(self) -> str:
        return (f"ColorJitter(brightness={self.brightness}, contrast={self.contrast}, saturation={self.saturation}, "
                f"hue={self.hue})")


class Resize:
    """:func:`resize` to a fixed ``size`` (an int, or ``(height, width)``)."""

    def __init__(self, size: int | tuple[int, int]) -> None:
        self.size = _check_size(size)

    def __call__(self, image: Tensor, boxes: Tensor) -> tuple[Tensor, Tensor]:
        return resize(image, boxes, self.size)

    def __repr__(self) -> str:
        return f"Resize(size={self.size})"


# ----------------------------------------------------------------------------------------------------------------------
# The (image, target) wrapper
# ----------------------------------------------------------------------------------------------------------------------
Step = Callable[[Tensor, Tensor], tuple[Tensor, Tensor]]


class DetectionTransform:
    r"""Apply ``steps`` to ``(image, target)``; clip the boxes and drop those that left the image or became small.

    Each step is called as ``image, boxes = step(image, boxes)``, with ``image`` a ``tv_tensors.Image`` and ``boxes``
    a ``tv_tensors.BoundingBoxes`` (xyxy, canvas = the image), so torchvision v2 transforms work as steps too; a step
    must return as many boxes as it was given (one that drops boxes, like ``v2.SanitizeBoundingBoxes``, would
    misalign the labels and is refused). After
    the last step the boxes are clipped to :math:`[0, W] \times [0, H]` and a box is kept iff

    .. math::
        x_2 - x_1 \ge \text{min\_size} \quad\text{and}\quad y_2 - y_1 \ge \text{min\_size};

    the entries of :data:`PER_BOX_KEYS` present in ``target`` (``labels``, ``difficult``, ...) are filtered with the
    same index, other entries are passed through unchanged. The input target is not modified.

    Args:
        steps: the transforms, applied in order.
        min_size: smallest width and height kept, in pixels of the output image (> 0).

    Returns (when called):
        ``(image Tensor[C, H', W'], target)`` with plain tensors, ``boxes`` ``Tensor[K', 4]`` (``K' <= K``).
    """

    def __init__(self, steps: Sequence[Step], min_size: float = 2.0) -> None:
        if callable(steps):
            steps = [steps]
        if not isinstance(steps, Sequence) or not all(callable(s) for s in steps):
            raise TypeError("steps must be a sequence of callables step(image, boxes) -> (image, boxes).")
        if not float(min_size) > 0:
            raise ValueError(f"min_size must be > 0 pixels, got {min_size}.")
        self.steps, self.min_size = list(steps), float(min_size)

    def __call__(self, image: Tensor, target: dict[str, Any]) -> tuple[Tensor, dict[str, Any]]:
        image = _check_image(image)
        if not isinstance(target, dict) or "boxes" not in target:
            raise TypeError("target must be a dict with a 'boxes' entry (Tensor[K, 4] xyxy in pixels).")
        boxes = _check_xyxy(target["boxes"])
        k = boxes.shape[0]
        for key in PER_BOX_KEYS:
            if key in target and len(target[key]) != k:
                raise ValueError(f"target[{key!r}] has {len(target[key])} entries but there are {k} boxes.")
        img, bb = image, boxes
        for step in self.steps:
            out = step(*_wrap(img, bb))        # every step sees tv_tensors, whatever the previous step returned
            if not (isinstance(out, tuple) and len(out) == 2 and all(isinstance(t, Tensor) for t in out)):
                raise TypeError(f"step {step!r} must return (image, boxes) tensors, got {type(out).__name__}.")
            img, bb = _plain(out[0]), _plain(out[1])
            if img.ndim != 3 or bb.shape != (k, 4):
                raise ValueError(f"step {step!r} returned an image of shape {tuple(img.shape)} and boxes of shape "
                                 f"{tuple(bb.shape)}; expected [C, H, W] and [{k}, 4] (a step must move boxes, not "
                                 f"drop them: DetectionTransform drops them at the end, keeping labels aligned).")
        bb = clip_boxes_to_image(bb, tuple(img.shape[-2:]))            # (K, 4) inside [0, W] x [0, H]
        keep = remove_small_boxes(bb, self.min_size)                    # int64 indices of the boxes kept
        new_target = dict(target)
        new_target["boxes"] = bb[keep]
        for key in PER_BOX_KEYS:
            if key in target:
                v = target[key]
                new_target[key] = v[keep.to(v.device)] if isinstance(v, Tensor) else [v[i] for i in keep.tolist()]
        return img, new_target

    def __repr__(self) -> str:
        inner = ", ".join(repr(s) for s in self.steps)
        return f"DetectionTransform([{inner}], min_size={self.min_size})"
