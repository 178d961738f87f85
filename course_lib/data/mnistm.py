r"""An MNIST-M-like target domain built offline: the bundled MNIST digits blended over colour photo crops.

Ganin et al. (2016) made MNIST-M by blending MNIST digits over patches of BSDS500 photos, each output
pixel the absolute difference of the patch and the digit, :math:`t = |p - d|` per channel (a white stroke inverts the
photo's colours under it). Here the patches are random crops of the colour photos bundled in scikit-image
(:mod:`course_lib.data.photos`), so the domain has the same structure, but it is *not* the MNIST-M of the papers:
numbers on it are not comparable with theirs.

- :func:`load_mnistm_like` returns the target domain ``(x[N, 3, 28, 28] in [-1, 1], y[N])``; the training split
  blends training digits over training photos, the test split held-out digits over held-out photos;
- :func:`load_mnist_rgb` returns the source domain, the same digits as three equal channels.
"""

from __future__ import annotations

import torch
from torch import Tensor

from course_lib.data.mnist import load_bundled_mnist
from course_lib.data.photos import load_photos, random_crops

__all__ = ["blend_digits", "load_mnistm_like", "load_mnist_rgb"]


def blend_digits(digits: Tensor, patches: Tensor) -> Tensor:
    r"""Ganin et al.'s blend :math:`t = |p - d|` per channel.

    Args:
        digits: ``(N, 1, H, W)`` in [0, 1] (white stroke = 1).
        patches: ``(N, 3, H, W)`` in [0, 1], colour photo crops.

    Returns:
        ``(N, 3, H, W)`` in [0, 1].
    """
    for name, t, c in (("digits", digits, 1), ("patches", patches, 3)):
        if not isinstance(t, Tensor) or not t.is_floating_point():
            raise TypeError(f"{name} must be a floating Tensor.")
        if t.dim() != 4 or t.shape[1] != c:
            raise ValueError(f"{name} must be (N, {c}, H, W), got {tuple(t.shape)}.")
    if digits.shape[0] != patches.shape[0] or digits.shape[-2:] != patches.shape[-2:]:
        raise ValueError(f"digits {tuple(digits.shape)} and patches {tuple(patches.shape)} must have the same N, H, W.")
    return (patches - digits).abs()


def load_mnist_rgb(train: bool = True, n: int | None = None) -> tuple[Tensor, Tensor]:
    """The source domain: the bundled MNIST digits (4,000 train / 1,000 test) as ``(N, 3, 28, 28)`` in [-1, 1]
    (three equal channels) and int64 labels; the first ``n`` when given."""
    x, y = load_bundled_mnist(train)
    if n is not None:
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"n must be a positive int, got {n!r}.")
        x, y = x[:n], y[:n]
    return x.expand(-1, 3, -1, -1).contiguous(), y


def load_mnistm_like(train: bool = True, n: int | None = None, *, seed: int = 0, scale: float = 0.5,
                     verbose: bool = True) -> tuple[Tensor, Tensor]:
    r"""The MNIST-M-like domain: each bundled digit :math:`d` blended over its own random photo crop :math:`p`,
    :math:`|p - d|`, as ``(N, 3, 28, 28)`` in [-1, 1] with the digit's int64 label.

    ``train=True``: the training digits over crops of the training photos; ``False``: the held-out digits over the
    held-out photos (neither the digits nor the scenes are seen in training). ``seed`` picks the crops, ``scale``
    resizes the photos first. The target images of the *training* split are what an adaptation method may look at
    without labels.
    """
    x, y = load_bundled_mnist(train)
    if n is not None:
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"n must be a positive int, got {n!r}.")
        x, y = x[:n], y[:n]
    photos = load_photos("train" if train else "test", scale)
    offset = 0 if train else 1000  # different crop draws for the two splits
    patches = random_crops(photos, x.shape[0], 28, generator=torch.Generator().manual_seed(seed + offset))
    t = blend_digits((x + 1) / 2, patches)
    if verbose:
        print(f"MNIST-M-like ({'train' if train else 'test'}): {x.shape[0]} bundled MNIST digits blended |crop - "
              f"digit| over crops of the {'training' if train else 'held-out'} photos bundled in scikit-image "
              "(Ganin et al.'s recipe, not their MNIST-M).")
    return t * 2 - 1, y
