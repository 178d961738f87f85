"""Mosaic augmentation (Bochkovskiy et al. 2020, YOLOv4 Section 3.3): four training images and their boxes in one.

The output canvas (``size x size`` pixels) is cut into four quadrants by a centre point :math:`(x_c, y_c)`:

.. code-block:: text

      0 ------ x_c ------ size
      |  image 0  |  image 1  |      quadrant 0: [0, x_c) x [0, y_c)      quadrant 1: [x_c, size) x [0, y_c)
     y_c ---------+---------- |      quadrant 2: [0, x_c) x [y_c, size)   quadrant 3: [x_c, size) x [y_c, size)
      |  image 2  |  image 3  |
     size ---------------------

Image :math:`k` (``h_k x w_k`` pixels) is placed with one of its corners on the centre, the corner that faces it:
image 0 its bottom-right corner, image 1 its bottom-left, image 2 its top-right, image 3 its top-left. So image
:math:`k` is shifted by

.. math::
    (d_x, d_y) = (x_c - w_0,\\ y_c - h_0),\\ (x_c,\\ y_c - h_1),\\ (x_c - w_2,\\ y_c),\\ (x_c,\\ y_c)

and only the part of it that falls inside its own quadrant is kept (a crop; the quadrant's pixels it does not cover
are ``fill``). A box moves with its pixels, :math:`(x_1 + d_x, y_1 + d_y, x_2 + d_x, y_2 + d_y)`, is **clipped to
the quadrant** (not just to the canvas: beyond the quadrant the pixels belong to another image), and is **dropped**
when what remains is thinner than ``min_size`` pixels in width or height (a sliver of an object is not an object).

Why: every mosaic shows objects of four contexts at once, and the batch-norm statistics of one image cover four,
which the paper says "significantly reduces the need for a large mini-batch size". Darknet also rescales and
jitters the four crops; this module keeps the geometry above (one scale) so that every step can be checked by hand.

:func:`mosaic_boxes` is the box transform, :func:`mosaic` the whole sample, :class:`MosaicDataset` a dataset wrapper
drawing the three partners and the centre from a seeded generator per index.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from course_lib.detection.transforms import PER_BOX_KEYS

__all__ = ["quadrants", "mosaic_offsets", "mosaic_boxes", "mosaic", "MosaicDataset"]


def _number(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}.")
    return float(value)


def _check_centre(centre: object, size: int) -> tuple[float, float]:
    if not isinstance(centre, (tuple, list)) or len(centre) != 2:
        raise ValueError(f"centre must be a pair (x_c, y_c), got {centre!r}.")
    xc, yc = _number(centre[0], "centre[0]"), _number(centre[1], "centre[1]")
    if not (0 < xc < size and 0 < yc < size):
        raise ValueError(f"the centre must lie strictly inside the canvas (0, {size})^2, got {centre!r}.")
    return xc, yc


def _check_size(size: object) -> int:
    if not isinstance(size, int) or isinstance(size, bool) or size < 2:
        raise ValueError(f"size must be an int >= 2 (the canvas side in pixels), got {size!r}.")
    return size


def quadrants(centre: tuple[float, float], size: int) -> list[tuple[float, float, float, float]]:
    """The four quadrants ``(x1, y1, x2, y2)`` of the canvas around ``centre``, in the order 0..3 of the module."""
    size = _check_size(size)
    xc, yc = _check_centre(centre, size)
    return [(0.0, 0.0, xc, yc), (xc, 0.0, size, yc), (0.0, yc, xc, size), (xc, yc, size, size)]


def mosaic_offsets(centre: tuple[float, float], image_sizes: Sequence[tuple[int, int]]) -> list[tuple[float, float]]:
    """The shift ``(d_x, d_y)`` of each of the four images, whose sizes are ``(h_k, w_k)`` (module docstring)."""
    if len(image_sizes) != 4:
        raise ValueError(f"a mosaic has four images, got {len(image_sizes)} sizes.")
    xc, yc = float(centre[0]), float(centre[1])
    (h0, w0), (h1, _), (_, w2), _ = image_sizes
    return [(xc - w0, yc - h0), (xc, yc - h1), (xc - w2, yc), (xc, yc)]


def mosaic_boxes(
    boxes: Sequence[Tensor],
    labels: Sequence[Tensor],
    centre: tuple[float, float],
    size: int,
    *,
    image_sizes: Sequence[tuple[int, int]] | None = None,
    min_size: float = 2.0,
) -> tuple[Tensor, Tensor, Tensor]:
    """The boxes of a mosaic: shift each image's boxes, clip them to its quadrant, drop the slivers.

    .. math::
        b' = \\operatorname{clip}_{Q_k}(b + (d_x, d_y, d_x, d_y)), \\qquad
        \\text{keep } b' \\iff x'_2 - x'_1 \\ge \\text{min\\_size} \\ \\text{and}\\ y'_2 - y'_1 \\ge \\text{min\\_size}

    Args:
        boxes: four ``(K_k, 4)`` xyxy pixel boxes, one tensor per image (in the order of the quadrants).
        labels: four ``(K_k,)`` label tensors.
        centre: ``(x_c, y_c)`` strictly inside the canvas.
        size: the canvas side in pixels.
        image_sizes: the ``(h_k, w_k)`` of the four images; default: all ``(size, size)``.
        min_size: smallest width and height kept, in pixels (> 0).

    Returns:
        ``(boxes (M, 4), labels (M,), source (M,) int64)``: the kept boxes in image order (image 0's first, each
        image's in its own order), their labels, and the index of the image each came from.
    """
    size = _check_size(size)
    quads = quadrants(centre, size)
    if not isinstance(boxes, (list, tuple)) or not isinstance(labels, (list, tuple)):
        raise TypeError("boxes and labels must be sequences of four tensors (one per image).")
    if len(boxes) != 4 or len(labels) != 4:
        raise ValueError(f"a mosaic has four images: got {len(boxes)} box tensors and {len(labels)} label tensors.")
    min_size = _number(min_size, "min_size")
    if not min_size > 0:
        raise ValueError(f"min_size must be > 0 pixels, got {min_size}.")
    sizes = [(size, size)] * 4 if image_sizes is None else list(image_sizes)
    offsets = mosaic_offsets(centre, sizes)
    for k, (bx, lb) in enumerate(zip(boxes, labels)):
        if not isinstance(bx, Tensor) or bx.ndim != 2 or bx.shape[1] != 4 or not bx.is_floating_point():
            raise ValueError(f"boxes[{k}] must be a float tensor (K, 4) xyxy in pixels.")
        if not isinstance(lb, Tensor) or lb.shape != (bx.shape[0],):
            raise ValueError(f"labels[{k}] must be a tensor of shape ({bx.shape[0]},), got {getattr(lb, 'shape', lb)}.")
    ref = boxes[0]
    shift = torch.tensor([[dx, dy, dx, dy] for dx, dy in offsets], dtype=ref.dtype, device=ref.device)  # (4, 4)
    quad = torch.tensor(quads, dtype=ref.dtype, device=ref.device)  # (4, 4)
    source = torch.cat([torch.full((len(b),), k, dtype=torch.int64, device=ref.device) for k, b in enumerate(boxes)])
    moved = torch.cat(list(boxes)).to(ref.dtype) + shift[source]  # (K, 4) in canvas pixels
    lo, hi = quad[source, :2].repeat(1, 2), quad[source, 2:].repeat(1, 2)  # (K, 4): (x1, y1, x1, y1), (x2, y2, ...)
    clipped = torch.minimum(torch.maximum(moved, lo), hi)  # clip to the box's own quadrant
    keep = ((clipped[:, 2] - clipped[:, 0]) >= min_size) & ((clipped[:, 3] - clipped[:, 1]) >= min_size)
    return clipped[keep], torch.cat(list(labels))[keep], source[keep]


def mosaic(
    images: Sequence[Tensor],
    targets: Sequence[dict[str, Any]],
    centre: tuple[int, int],
    size: int | None = None,
    *,
    min_size: float = 2.0,
    fill: float = 0.0,
) -> tuple[Tensor, dict[str, Any]]:
    """One mosaic sample from four ``(image, target)`` pairs (pixel boxes), as the module docstring draws it.

    Args:
        images: four ``(C, h_k, w_k)`` tensors with the same ``C`` and dtype.
        targets: four dicts with ``"boxes"`` ``(K_k, 4)`` xyxy pixels and ``"labels"``; the other per-box entries
            of :data:`course_lib.detection.transforms.PER_BOX_KEYS` present in all four are carried along.
        centre: integer ``(x_c, y_c)`` strictly inside the canvas.
        size: the canvas side (default: the side of the first image, which must then be square).
        min_size: see :func:`mosaic_boxes`; fill: the value of canvas pixels no image covers.

    Returns:
        ``(image (C, size, size), target)`` with pixel boxes, ``labels``, the carried entries and ``"source"``.
    """
    if len(images) != 4 or len(targets) != 4:
        raise ValueError(f"a mosaic needs four images and four targets, got {len(images)} and {len(targets)}.")
    for k, im in enumerate(images):
        if not isinstance(im, Tensor) or im.ndim != 3:
            raise ValueError(f"images[{k}] must be a tensor (C, H, W).")
    if size is None:
        if images[0].shape[1] != images[0].shape[2]:
            raise ValueError("give size when the first image is not square.")
        size = int(images[0].shape[1])
    size = _check_size(size)
    if not all(isinstance(c, int) and not isinstance(c, bool) for c in centre):
        raise TypeError(f"the centre of a mosaic image must be integer pixels, got {centre!r}.")
    quads = quadrants(centre, size)
    sizes = [(int(im.shape[1]), int(im.shape[2])) for im in images]
    offsets = mosaic_offsets(centre, sizes)
    channels = images[0].shape[0]
    canvas = torch.full((channels, size, size), float(fill), dtype=images[0].dtype, device=images[0].device)
    for im, (qx1, qy1, qx2, qy2), (dx, dy), (h, w) in zip(images, quads, offsets, sizes):  # four quadrants
        # the part of the quadrant the shifted image covers, in canvas pixels
        x1, y1 = int(max(qx1, dx)), int(max(qy1, dy))
        x2, y2 = int(min(qx2, dx + w)), int(min(qy2, dy + h))
        if x2 > x1 and y2 > y1:
            canvas[:, y1:y2, x1:x2] = im[:, y1 - int(dy) : y2 - int(dy), x1 - int(dx) : x2 - int(dx)]
    counts = [len(t["boxes"]) for t in targets]
    starts = [sum(counts[:k]) for k in range(4)]
    index = [torch.arange(s, s + c) for s, c in zip(starts, counts)]  # each box's place in the concatenation
    boxes, kept, source = mosaic_boxes([t["boxes"].float() for t in targets], index, centre, size,
                                       image_sizes=sizes, min_size=min_size)
    out: dict[str, Any] = {"boxes": boxes}
    for key in PER_BOX_KEYS:  # the per-box entries, filtered like the boxes
        if all(key in t for t in targets):
            if isinstance(targets[0][key], Tensor):
                out[key] = torch.cat([t[key] for t in targets])[kept.to(targets[0][key].device)]
            else:
                values = [v for t in targets for v in t[key]]
                out[key] = [values[i] for i in kept.tolist()]
    out["source"] = source
    return canvas, out


class MosaicDataset(Dataset):
    """A dataset of mosaics: item ``i`` is image ``i`` and three partners drawn at random, around a random centre.

    The partners (uniform over the dataset) and the centre (uniform integers in ``centre_range`` times the side)
    come from ``numpy.random.default_rng([seed, epoch, i])``, so an item is the same every time it is read in
    one epoch, and :meth:`set_epoch` changes all of them. With probability ``1 - p`` an item is the plain image.

    Args:
        dataset: yields ``(image (C, S, S), target)`` with pixel boxes, every image of the same side ``S``.
        p: the probability of a mosaic.
        centre_range: the range of :math:`x_c / S` and :math:`y_c / S`.
        min_size: see :func:`mosaic_boxes`; seed: the seed; fill: the uncovered pixels' value.
    """

    def __init__(self, dataset: Any, p: float = 1.0, centre_range: tuple[float, float] = (0.25, 0.75),
                 min_size: float = 2.0, seed: int = 0, fill: float = 0.0) -> None:
        if not hasattr(dataset, "__len__") or not hasattr(dataset, "__getitem__") or len(dataset) == 0:
            raise TypeError("dataset must be a non-empty map-style dataset of (image, target) pairs.")
        p = _number(p, "p")
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"p must be in [0, 1], got {p}.")
        lo, hi = (_number(v, "centre_range") for v in centre_range)
        if not 0.0 < lo <= hi < 1.0:
            raise ValueError(f"centre_range must satisfy 0 < low <= high < 1, got {centre_range!r}.")
        if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
            raise ValueError(f"seed must be a non-negative int, got {seed!r}.")
        self.dataset, self.p, self.centre_range, self.min_size, self.seed, self.fill = (
            dataset, p, (lo, hi), float(min_size), seed, float(fill))
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Draw new partners and centres (call once per epoch)."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> tuple[Tensor, dict[str, Any]]:
        n = len(self.dataset)
        if not isinstance(index, (int, np.integer)) or not -n <= index < n:
            raise IndexError(f"index {index!r} out of range for {n} items.")
        index = int(index) % n
        rng = np.random.default_rng([self.seed, self.epoch, index])
        image, target = self.dataset[index]
        if rng.random() >= self.p:
            return image, target
        partners = rng.integers(0, n, size=3)
        side = int(image.shape[-1])
        lo, hi = self.centre_range
        xc, yc = (int(v) for v in rng.integers(max(1, round(lo * side)), min(side - 1, round(hi * side)) + 1, size=2))
        pairs = [(image, target)] + [self.dataset[int(j)] for j in partners]
        return mosaic([p[0] for p in pairs], [p[1] for p in pairs], (xc, yc), side, min_size=self.min_size,
                      fill=self.fill)
