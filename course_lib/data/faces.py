"""Real images bundled in scikit-image: the LFW subset (small grey faces) and a handful of photos.

``skimage/data/lfw_subset.npy`` ships inside the scikit-image wheel: 200 grey 25 x 25 crops from Labeled Faces in the
Wild (Huang et al.), values in [0, 1]. Only the **first 100 are faces**; the last 100 are non-face patches cut from the
backgrounds of the same photos (scikit-image's ``data.lfw_subset`` docstring). :func:`load_lfw_faces` therefore returns
the 100 faces, and all 200 only on request. The photos (astronaut, coffee, chelsea, rocket, ...) are the files in
``skimage/data``; none of this needs the network.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["load_lfw_faces", "load_photo", "PHOTO_NAMES", "resize_images"]

N_LFW_FACES = 100  # rows 0-99 of lfw_subset.npy are faces, rows 100-199 are not


def resize_images(images: Tensor, size: int) -> Tensor:
    r"""Bilinear resize of ``(N, C, H, W)`` images to ``(N, C, size, size)``.

    Each output pixel is a convex combination of input pixels, :math:`y = \sum_j w_j x_j` with :math:`w_j \ge 0`,
    :math:`\sum_j w_j = 1` (a triangle filter with pixel centres aligned as in ``align_corners=False``, widened when
    shrinking so that it anti-aliases, like PIL's ``BILINEAR``), so the value range is preserved. Dtype and device of
    ``images``.
    """
    if not isinstance(images, Tensor) or images.dim() != 4 or not images.is_floating_point():
        raise ValueError(f"images must be a floating (N, C, H, W) tensor, got "
                         f"{tuple(images.shape) if isinstance(images, Tensor) else type(images).__name__}.")
    size = _check_size(size)
    if images.shape[-2:] == (size, size):
        return images.clone()
    out = F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return out.clamp(images.amin(), images.amax())   # rounding only: a convex combination stays in range


def _check_size(size: object) -> int:
    if isinstance(size, bool) or not isinstance(size, int):
        raise TypeError(f"size must be an int or None, got {type(size).__name__}.")
    if size < 1:
        raise ValueError(f"size must be >= 1, got {size}.")
    return size


def load_lfw_faces(size: int | None = None, verbose: bool = True, include_non_faces: bool = False) -> Tensor:
    r"""The real LFW faces bundled in scikit-image, as float32 ``(100, 1, H, W)`` in [-1, 1].

    Pixels :math:`v \in [0, 1]` map to :math:`x = 2v - 1`. ``H = W = 25``, or ``size`` after a bilinear resize
    (:func:`resize_images`), e.g. 32 or 64 for a DCGAN.

    Args:
        size: output side in pixels; None keeps 25.
        verbose: print one line saying what was loaded.
        include_non_faces: return all 200 images of ``lfw_subset.npy`` (faces first, then 100 non-face background
            patches) instead of the 100 faces.

    Returns:
        float32 ``(100 | 200, 1, H, W)`` in [-1, 1].
    """
    if size is not None:
        size = _check_size(size)
    if not isinstance(include_non_faces, bool):
        raise TypeError(f"include_non_faces must be a bool, got {type(include_non_faces).__name__}.")
    from skimage import data as skdata  # lazy: only loaders need scikit-image

    raw = np.asarray(skdata.lfw_subset(), dtype=np.float64)          # (200, 25, 25) in [0, 1]
    if raw.shape != (200, 25, 25):
        raise RuntimeError(f"scikit-image's lfw_subset() should be (200, 25, 25), got {raw.shape}.")
    if not include_non_faces:
        raw = raw[:N_LFW_FACES]
    x = torch.from_numpy(raw).to(torch.float32).unsqueeze(1)         # (N, 1, 25, 25)
    x = x * 2.0 - 1.0                                                # [0, 1] -> [-1, 1]
    if size is not None:
        x = resize_images(x, size).clamp(-1.0, 1.0)
    if verbose:
        what = "200 LFW images (100 faces, then 100 non-face patches)" if include_non_faces else "100 real LFW faces"
        side = x.shape[-1]
        resized = f", resized bilinearly to {side}x{side}" if size is not None and size != 25 else ""
        print(f"LFW: {what}, 25x25 grey, bundled in scikit-image (no download){resized}")
    return x


# ----------------------------------------------------------------------------------------------------------------------
# Photos
# ----------------------------------------------------------------------------------------------------------------------
def _photo_loaders() -> dict[str, Callable[[], np.ndarray]]:
    """Name -> loader for the real photographs in ``skimage/data`` (colour or grey), all bundled in the wheel."""
    from skimage import data as d

    return {
        "astronaut": d.astronaut,          # 512 x 512 colour
        "brick": d.brick,                  # grey texture
        "camera": d.camera,                # grey
        "chelsea": d.chelsea,              # the cat, colour
        "cat": d.cat,                      # same photo as chelsea
        "clock": d.clock,                  # grey
        "coffee": d.coffee,                # colour
        "coins": d.coins,                  # grey
        "grass": d.grass,                  # grey texture
        "gravel": d.gravel,                # grey texture
        "hubble_deep_field": d.hubble_deep_field,   # colour
        "immunohistochemistry": d.immunohistochemistry,  # colour microscopy
        "moon": d.moon,                    # grey
        "motorcycle": lambda: d.stereo_motorcycle()[0],  # left view, colour
        "page": d.page,                    # grey scan
        "retina": d.retina,                # colour
        "rocket": d.rocket,                # colour
        "text": d.text,                    # grey
    }


PHOTO_NAMES: tuple[str, ...] = (
    "astronaut", "brick", "camera", "cat", "chelsea", "clock", "coffee", "coins", "grass", "gravel",
    "hubble_deep_field", "immunohistochemistry", "moon", "motorcycle", "page", "retina", "rocket", "text",
)


def load_photo(name: str) -> Tensor:
    r"""A real photo bundled in scikit-image, as float32 ``(3, H, W)`` in [0, 1].

    uint8 pixels :math:`v` map to :math:`v / 255`; grey photos are repeated over the three channels.

    Args:
        name: one of :data:`PHOTO_NAMES` (case-insensitive).

    Raises:
        TypeError: ``name`` is not a string. ValueError: unknown name (the message lists the valid ones).
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a string, got {type(name).__name__}.")
    key = name.strip().lower()
    loaders = _photo_loaders()
    if key not in loaders:
        raise ValueError(f"unknown photo {name!r}; valid names: {', '.join(PHOTO_NAMES)}.")
    img = np.asarray(loaders[key]())
    if img.dtype != np.uint8:
        raise RuntimeError(f"scikit-image's {key!r} should be uint8, got {img.dtype}.")
    t = torch.from_numpy(np.ascontiguousarray(img)).to(torch.float32) / 255.0
    if t.dim() == 2:                                                 # grey (H, W) -> (3, H, W)
        return t.unsqueeze(0).expand(3, -1, -1).contiguous()
    if t.dim() == 3 and t.shape[-1] == 3:                           # (H, W, 3) -> (3, H, W)
        return t.permute(2, 0, 1).contiguous()
    raise RuntimeError(f"scikit-image's {key!r} has an unexpected shape {tuple(img.shape)}.")
