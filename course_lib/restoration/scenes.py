r"""Damaged photos for the CAM -> inpainting pipeline: real MNIST digits scribbled over real photo crops.

A *damaged* image is a crop of a scikit-image photo with one MNIST digit pasted on it as white ink,
:math:`\text{pixel} \leftarrow (1 - a)\,\text{pixel} + a`, :math:`a \in [0, 1]` the digit's intensity resized to
``digit_range`` pixels; a *clean* one is the crop alone. The label says only *whether* the image is damaged (an
image-level label: no box is ever shown to the classifier), the box (tight around the ink, :math:`a > 0.1`) and the
clean crop are kept to score the localisation and the restoration. The training split uses the training photos and
training digits, the held-out split the test photos (:data:`course_lib.data.photos.PHOTO_SPLIT`) and test digits.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from course_lib.data.photos import load_photos, random_crops

__all__ = ["DamagedPhotos", "damaged_photos"]


@dataclass
class DamagedPhotos:
    """``images [N, 3, S, S]`` (what the models see), ``clean [N, 3, S, S]`` (the truth under the ink), ``labels
    [N]`` int64 (1 damaged, 0 clean), ``boxes [N, 4]`` xyxy pixels of the ink (zeros for clean images), ``ink [N, 1,
    S, S]`` the opacity :math:`a` (0 for clean images). All in [0, 1]."""

    images: Tensor
    clean: Tensor
    labels: Tensor
    boxes: Tensor
    ink: Tensor


def damaged_photos(n: int, size: int = 32, *, split: str = "train", seed: int = 0, p_damaged: float = 0.5,
                   digit_range: tuple[int, int] = (12, 18), photo_scale: float = 0.25,
                   verbose: bool = False) -> DamagedPhotos:
    r"""``n`` photo crops of side ``size``, a fraction ``p_damaged`` of them with a digit pasted on (see the module).

    Deterministic for ``(n, size, split, seed, ...)``. ``digit_range``: the digit's side in pixels, uniform in
    ``[lo, hi]``; its position uniform over the image.
    """
    from course_lib.data.mnist import load_mnist

    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}.")
    lo, hi = digit_range
    if not 4 <= lo <= hi <= size:
        raise ValueError(f"digit_range must satisfy 4 <= lo <= hi <= size, got {digit_range} for size {size}.")
    if not 0 <= p_damaged <= 1:
        raise ValueError(f"p_damaged must lie in [0, 1], got {p_damaged}.")
    g = torch.Generator().manual_seed(seed)
    clean = random_crops(load_photos(split, photo_scale), n, size, generator=g, augment=split == "train")
    digits, _ = load_mnist(train=split == "train", verbose=verbose)
    alpha = (digits + 1) / 2  # [N, 1, 28, 28] in [0, 1]
    damaged = torch.rand(n, generator=g) < p_damaged
    which = torch.randint(alpha.shape[0], (n,), generator=g)
    sides = torch.randint(lo, hi + 1, (n,), generator=g)
    u = torch.rand(n, 2, generator=g)
    ink = torch.zeros(n, 1, size, size)
    boxes = torch.zeros(n, 4)
    for i in torch.nonzero(damaged).flatten().tolist():
        s = int(sides[i])
        a = F.interpolate(alpha[which[i]][None], size=(s, s), mode="bilinear", align_corners=False,
                          antialias=True)[0].clamp(0, 1)
        y0, x0 = int(u[i, 0] * (size - s + 1)), int(u[i, 1] * (size - s + 1))
        ink[i, :, y0 : y0 + s, x0 : x0 + s] = a
        ys, xs = torch.nonzero(ink[i, 0] > 0.1, as_tuple=True)
        boxes[i] = torch.tensor([float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)])
    images = clean * (1 - ink) + ink  # white ink
    return DamagedPhotos(images, clean, damaged.long(), boxes, ink)
