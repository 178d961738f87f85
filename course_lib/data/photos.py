"""Colour photos bundled in scikit-image, split by photo, and random crops of them (the offline image-to-image data).

API (stable; chapters 10-12 build on it). :data:`PHOTO_NAMES` are the colour photographs that ship inside the
scikit-image wheel (no pooch, no network). :data:`PHOTO_SPLIT` holds whole photos out: ``"train"`` and ``"test"``
share no photo, so a test crop is a scene the model never saw. ``load_photos(split="train", scale=1.0,
verbose=False)`` returns a list of float32 ``(3, H, W)`` tensors in [0, 1] (``scale`` < 1 shrinks each photo with an
anti-aliased bilinear resize, so a small crop holds more of the scene).
``random_crops(photos, n, size, *, generator, augment=True)`` returns float32 ``(n, C, size, size)`` (``C = 3`` for the photos) in [0, 1]: photo uniformly at random, position uniformly at random, and with
``augment`` a left-right mirror with probability 1/2; the result is a function of the generator's state only.
``heldout_crops(n, size, seed=0, *, scale=1.0)`` draws ``n`` crops from the test photos with its own generator
seeded by ``seed`` (no augmentation), the same tensor on every call. Values stay in [0, 1]; the paired and unpaired
tasks (:mod:`course_lib.data.paired`, ...) map them to [-1, 1] themselves.

Note: :data:`course_lib.data.PHOTO_NAMES` (from :mod:`course_lib.data.faces`) lists every photo of ``skimage/data``
including the grey ones, for :func:`course_lib.data.load_photo`; this module's :data:`PHOTO_NAMES` is only the colour
photographs of natural scenes and objects used for translation.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["PHOTO_NAMES", "PHOTO_SPLIT", "PHOTO_FILES", "load_photos", "random_crops", "heldout_crops"]

# name -> file inside skimage/data (all RGB uint8; sizes H x W as shipped in scikit-image 0.26)
PHOTO_FILES: dict[str, str] = {
    "astronaut": "astronaut.png",                 # 512 x 512, Eileen Collins (NASA)
    "chelsea": "chelsea.png",                     # 300 x 451, a cat
    "coffee": "coffee.png",                       # 400 x 600, a cup of coffee
    "rocket": "rocket.jpg",                       # 427 x 640, a launch (NASA)
    "motorcycle_left": "motorcycle_left.png",     # 500 x 741, left view of the Middlebury stereo pair
    "hubble_deep_field": "hubble_deep_field.jpg", # 872 x 1000, galaxies (NASA)
    "immunohistochemistry": "ihc.png",            # 512 x 512, stained tissue (microscopy)
}

PHOTO_NAMES: tuple[str, ...] = tuple(PHOTO_FILES)

# Whole photos held out: the test scenes (a cup on a table, a launch pad) are never cropped for training.
PHOTO_SPLIT: dict[str, tuple[str, ...]] = {
    "train": ("astronaut", "chelsea", "motorcycle_left", "hubble_deep_field", "immunohistochemistry"),
    "test": ("coffee", "rocket"),
}
_SPLITS = ("train", "test", "all")


@functools.lru_cache(maxsize=None)
def _read_photo(name: str) -> np.ndarray:
    """The uint8 ``(H, W, 3)`` array of one photo, read once from the scikit-image wheel (read-only copy)."""
    import os

    from skimage import data as skdata
    from skimage import io as skio

    path = os.path.join(skdata.data_dir, PHOTO_FILES[name])
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path} is missing: the photo {name!r} should ship inside the scikit-image wheel.")
    img = np.asarray(skio.imread(path))
    if img.dtype != np.uint8 or img.ndim != 3 or img.shape[-1] != 3:
        raise RuntimeError(f"{path} should be an RGB uint8 image, got {img.dtype} {tuple(img.shape)}.")
    img.setflags(write=False)
    return img


def _check_names(split: object) -> tuple[str, ...]:
    if not isinstance(split, str):
        raise TypeError(f"split must be a string ('train', 'test' or 'all'), got {type(split).__name__}.")
    if split not in _SPLITS:
        raise ValueError(f"unknown split {split!r}; valid: 'train', 'test', 'all'.")
    return PHOTO_NAMES if split == "all" else PHOTO_SPLIT[split]


def _check_scale(scale: object) -> float:
    if isinstance(scale, bool) or not isinstance(scale, (int, float)):
        raise TypeError(f"scale must be a number in (0, 1], got {type(scale).__name__}.")
    if not 0.0 < float(scale) <= 1.0:
        raise ValueError(f"scale must be in (0, 1], got {scale}.")
    return float(scale)


def _check_int(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}.")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}.")
    return value


def load_photos(split: str = "train", scale: float = 1.0, verbose: bool = False) -> list[Tensor]:
    r"""The colour photos of one split as float32 ``(3, H, W)`` tensors in [0, 1] (CPU).

    uint8 pixels :math:`v` map to :math:`v / 255`. With ``scale`` :math:`s < 1` each photo is resized to
    :math:`(\lfloor sH \rceil, \lfloor sW \rceil)` by an anti-aliased bilinear filter (a convex combination of pixels,
    so values stay in [0, 1]).

    Args:
        split: ``"train"`` (:data:`PHOTO_SPLIT` ``["train"]``), ``"test"`` (the held-out photos) or ``"all"``.
        scale: resize factor in (0, 1].
        verbose: print one line saying what was loaded (off by default: labs call this inside data builders).

    Returns:
        one tensor per photo, in the order of :data:`PHOTO_SPLIT` (or :data:`PHOTO_NAMES` for ``"all"``).
    """
    names = _check_names(split)
    scale = _check_scale(scale)
    if not isinstance(verbose, bool):
        raise TypeError(f"verbose must be a bool, got {type(verbose).__name__}.")
    out = []
    for name in names:
        t = torch.from_numpy(np.array(_read_photo(name))).permute(2, 0, 1).to(torch.float32) / 255.0
        if scale != 1.0:
            h, w = t.shape[-2:]
            hw = (max(1, round(scale * h)), max(1, round(scale * w)))
            t = F.interpolate(t[None], size=hw, mode="bilinear", align_corners=False, antialias=True)[0]
            t = t.clamp(0.0, 1.0)
        out.append(t.contiguous())
    if verbose:
        sides = ", ".join(f"{n} {t.shape[-2]}x{t.shape[-1]}" for n, t in zip(names, out))
        print(f"Photos ({split}): {len(out)} colour photos bundled in scikit-image (no download), scale {scale:g}: "
              f"{sides}")
    return out


def random_crops(photos: Sequence[Tensor], n: int, size: int, *, generator: torch.Generator,
                 augment: bool = True) -> Tensor:
    r"""``n`` random square crops of side ``size`` from ``photos``, as ``(n, C, size, size)`` (``C = 3`` for photos;
    any channel count works, e.g. a photo stacked with an edge map so that both are cut and mirrored together).

    For each crop :math:`k`: a photo index :math:`p_k \sim U\{0..P-1\}`, a top-left corner
    :math:`(i_k, j_k) \sim U\{0..H_p-\text{size}\} \times U\{0..W_p-\text{size}\}`, and with ``augment`` a left-right
    mirror with probability 1/2. Every draw comes from ``generator`` (CPU), in that order, so the same generator state
    gives the same crops. Dtype and device of the photos.

    Raises:
        TypeError / ValueError: photos not a non-empty sequence of ``(C, H, W)`` float tensors, ``n`` or ``size`` not
        a positive int, ``size`` larger than a photo, ``generator`` not a ``torch.Generator``.
    """
    if isinstance(photos, Tensor) or not isinstance(photos, Sequence) or len(photos) == 0:
        raise TypeError("photos must be a non-empty list of (C, H, W) tensors (e.g. load_photos('train')).")
    for k, p in enumerate(photos):
        if not isinstance(p, Tensor) or p.dim() != 3 or not p.is_floating_point():
            raise ValueError(f"photos[{k}] must be a floating (C, H, W) tensor, got "
                             f"{tuple(p.shape) if isinstance(p, Tensor) else type(p).__name__}.")
        if p.shape[0] != photos[0].shape[0]:
            raise ValueError(f"every photo must have the same channels; photos[0] has {photos[0].shape[0]}, "
                             f"photos[{k}] has {p.shape[0]}.")
    n = _check_int("n", n, 1)
    size = _check_int("size", size, 1)
    if not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator, got {type(generator).__name__}.")
    if not isinstance(augment, bool):
        raise TypeError(f"augment must be a bool, got {type(augment).__name__}.")
    smallest = min(min(p.shape[-2:]) for p in photos)
    if size > smallest:
        raise ValueError(f"size {size} is larger than the smallest photo side {smallest}; use a smaller size or a "
                         f"larger scale in load_photos.")
    which = torch.randint(len(photos), (n,), generator=generator).tolist()
    u = torch.rand(n, 2, generator=generator, dtype=torch.float64)
    flip = (torch.rand(n, generator=generator) < 0.5).tolist() if augment else [False] * n
    crops = []
    for k in range(n):
        p = photos[which[k]]
        h, w = p.shape[-2:]
        i = min(int(u[k, 0] * (h - size + 1)), h - size)
        j = min(int(u[k, 1] * (w - size + 1)), w - size)
        c = p[:, i:i + size, j:j + size]
        crops.append(c.flip(-1) if flip[k] else c)
    return torch.stack(crops).contiguous()


def heldout_crops(n: int, size: int, seed: int = 0, *, scale: float = 1.0) -> Tensor:
    r"""``n`` crops of side ``size`` from the held-out photos (:data:`PHOTO_SPLIT` ``["test"]``), float32
    ``(n, 3, size, size)`` in [0, 1], no augmentation.

    Equal to ``random_crops(load_photos("test", scale), n, size, generator=torch.Generator().manual_seed(seed),
    augment=False)``: the same tensor for the same arguments, and from photos that ``"train"`` never contains.
    """
    n = _check_int("n", n, 1)
    size = _check_int("size", size, 1)
    seed = _check_int("seed", seed, 0)
    g = torch.Generator().manual_seed(seed)
    return random_crops(load_photos("test", scale), n, size, generator=g, augment=False)
