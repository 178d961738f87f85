r"""Low-/high-resolution pairs for super-resolution, from the real photos of :mod:`course_lib.data.photos`.

The degradation is the one of the SRGAN and ESRGAN papers: **bicubic downsampling by** :math:`r = 4`.
:func:`bicubic_downsample` uses ``torch.nn.functional.interpolate(mode="bicubic", antialias=True)`` (the
anti-aliased bicubic kernel widened by :math:`r`, as MATLAB's ``imresize`` and PIL do), clamped to [0, 1].

- :func:`sr_pairs`: random high-resolution crops of the training photos (mirrored with probability 1/2) and their
  low-resolution versions, ``(lr [n, 3, s/r, s/r], hr [n, 3, s, s])`` in [0, 1];
- :func:`heldout_sr_pairs`: the same from the held-out photos (scenes never cropped for training), one fixed
  tensor per seed;
- :func:`heldout_photo_pair`: one whole held-out photo (cropped to a multiple of :math:`r`);
- :func:`load_sr_benchmark` (Colab): the images of a folder such as Set5, Set14 or DIV2K's validation HR set,
  with a one-line fallback to the held-out photos when the folder is missing (the course downloads nothing
  itself; tests never touch the network).
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from course_lib.data.photos import heldout_crops, load_photos, random_crops

__all__ = ["bicubic_downsample", "bicubic_upsample", "sr_pairs", "heldout_sr_pairs", "heldout_photo_pair",
           "load_sr_benchmark", "fetch_div2k_valid", "DIV2K_VALID_URL", "SR_SCALE"]

#: DIV2K's 100 validation images at full resolution (Agustsson and Timofte, NTIRE 2017), about 0.4 GB.
DIV2K_VALID_URL = "http://data.vision.ee.ethz.ch/cvl/DIV2K/DIV2K_valid_HR.zip"

#: The upscaling factor of SRGAN and ESRGAN.
SR_SCALE = 4


def _check_images(x: object, name: str = "images") -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}.")
    if x.dim() != 4 or not x.is_floating_point():
        raise ValueError(f"{name} must be floating [N, C, H, W], got {x.dtype} {tuple(x.shape)}.")
    return x


def _check_scale(scale: object) -> int:
    if isinstance(scale, bool) or not isinstance(scale, int):
        raise TypeError(f"scale must be an int, got {type(scale).__name__}.")
    if scale < 2:
        raise ValueError(f"scale must be >= 2, got {scale}.")
    return scale


def bicubic_downsample(hr: Tensor, scale: int = SR_SCALE) -> Tensor:
    r"""``[N, C, H, W] -> [N, C, H/r, W/r]``: anti-aliased bicubic downsampling, clamped to [0, 1].

    ``H`` and ``W`` must be multiples of ``scale``.
    """
    hr = _check_images(hr, "hr")
    r = _check_scale(scale)
    h, w = hr.shape[-2:]
    if h % r or w % r:
        raise ValueError(f"height and width ({h}, {w}) must be multiples of scale = {r}.")
    lr = F.interpolate(hr, size=(h // r, w // r), mode="bicubic", align_corners=False, antialias=True)
    return lr.clamp(0.0, 1.0)


def bicubic_upsample(lr: Tensor, scale: int = SR_SCALE) -> Tensor:
    """``[N, C, h, w] -> [N, C, h r, w r]``: the bicubic baseline every super-resolution table starts with."""
    lr = _check_images(lr, "lr")
    r = _check_scale(scale)
    return F.interpolate(lr, scale_factor=r, mode="bicubic", align_corners=False).clamp(0.0, 1.0)


def _check_size(size: object, r: int) -> int:
    if isinstance(size, bool) or not isinstance(size, int):
        raise TypeError(f"size must be an int, got {type(size).__name__}.")
    if size < r or size % r:
        raise ValueError(f"size must be a positive multiple of scale = {r}, got {size}.")
    return size


def sr_pairs(n: int, size: int = 32, *, scale: int = SR_SCALE, photo_scale: float = 0.25,
             generator: torch.Generator | None = None, seed: int = 0) -> tuple[Tensor, Tensor]:
    r"""``n`` training pairs ``(lr [n, 3, size/r, size/r], hr [n, 3, size, size])`` in [0, 1].

    High-resolution crops of side ``size`` from the training photos, shrunk first by ``photo_scale`` (so that a
    small crop holds more than a patch of texture), mirrored with probability 1/2; ``lr`` is their bicubic
    downsampling. The draws come from ``generator`` (default: a fresh one seeded with ``seed``).
    """
    r = _check_scale(scale)
    size = _check_size(size, r)
    g = torch.Generator().manual_seed(seed) if generator is None else generator
    hr = random_crops(load_photos("train", photo_scale), n, size, generator=g, augment=True)
    return bicubic_downsample(hr, r), hr


def heldout_sr_pairs(n: int, size: int = 32, *, scale: int = SR_SCALE, photo_scale: float = 0.25,
                     seed: int = 0) -> tuple[Tensor, Tensor]:
    """``n`` held-out pairs from the test photos (never cropped for training), the same tensors for a seed."""
    r = _check_scale(scale)
    size = _check_size(size, r)
    hr = heldout_crops(n, size, seed, scale=photo_scale)
    return bicubic_downsample(hr, r), hr


def heldout_photo_pair(index: int = 0, *, scale: int = SR_SCALE, photo_scale: float = 0.5,
                       max_side: int | None = 256) -> tuple[Tensor, Tensor]:
    """One whole held-out photo: ``(lr [1, 3, h, w], hr [1, 3, h r, w r])``, the photo's top-left part cropped
    to a multiple of ``scale`` (and to ``max_side`` pixels per side, ``None``: no limit)."""
    r = _check_scale(scale)
    photos = load_photos("test", photo_scale)
    if not 0 <= index < len(photos):
        raise ValueError(f"index must lie in [0, {len(photos)}), got {index}.")
    p = photos[index]
    h, w = p.shape[-2:]
    if max_side is not None:
        h, w = min(h, max_side), min(w, max_side)
    h, w = h - h % r, w - w % r
    hr = p[None, :, :h, :w].contiguous()
    return bicubic_downsample(hr, r), hr


def fetch_div2k_valid(root: str | Path, *, verbose: bool = True) -> Path | None:
    """Download and unpack DIV2K's validation HR images under ``root`` (Colab); the folder, or ``None`` with one
    line saying why when the download fails (then :func:`load_sr_benchmark` falls back to the held-out photos).
    Nothing is downloaded when ``root/DIV2K_valid_HR`` already holds images."""
    import urllib.request
    import zipfile

    root = Path(root)
    folder = root / "DIV2K_valid_HR"
    if folder.is_dir() and any(folder.glob("*.png")):
        return folder
    try:
        root.mkdir(parents=True, exist_ok=True)
        archive = root / "DIV2K_valid_HR.zip"
        urllib.request.urlretrieve(DIV2K_VALID_URL, archive)
        with zipfile.ZipFile(archive) as z:
            z.extractall(root)
        archive.unlink()
    except Exception as err:  # no network, a moved file, a full disk
        if verbose:
            print(f"DIV2K download failed ({type(err).__name__}): using the held-out scikit-image photos instead.")
        return None
    return folder


def load_sr_benchmark(root: str | Path | None, *, scale: int = SR_SCALE, max_images: int | None = None,
                      verbose: bool = True) -> tuple[list[Tensor], list[Tensor], str]:
    r"""The images of a benchmark folder (Set5, Set14, DIV2K validation HR, ...) as ``(lrs, hrs, source)``.

    Every ``*.png`` / ``*.jpg`` / ``*.bmp`` under ``root`` is read as RGB in [0, 1], cropped to a multiple of
    ``scale`` and downsampled bicubically (one ``[1, 3, h, w]`` / ``[1, 3, h r, w r]`` pair per image). On Colab,
    download e.g. Set5 into ``root`` first. When ``root`` is ``None`` or holds no image: one line says so and the two
    held-out photos are used instead.
    """
    r = _check_scale(scale)
    files: list[Path] = []
    if root is not None and Path(root).is_dir():
        files = sorted(p for p in Path(root).rglob("*") if p.suffix.lower() in (".png", ".jpg", ".jpeg", ".bmp"))
    if max_images is not None:
        files = files[:max_images]
    if not files:
        if verbose:
            where = "no benchmark folder given" if root is None else f"no images in {root}"
            print(f"Super-resolution benchmark: {where}; using the two held-out scikit-image photos instead.")
        pairs = [heldout_photo_pair(i, scale=r) for i in range(2)]
        return [p[0] for p in pairs], [p[1] for p in pairs], "held-out scikit-image photos"
    import numpy as np
    from skimage import io

    lrs, hrs = [], []
    for f in files:
        a = io.imread(str(f))
        if a.ndim == 2:
            a = np.stack([a] * 3, axis=-1)
        t = torch.from_numpy(np.ascontiguousarray(a[..., :3])).permute(2, 0, 1).float() / 255.0
        h, w = t.shape[-2:]
        hr = t[None, :, : h - h % r, : w - w % r].contiguous()
        lrs.append(bicubic_downsample(hr, r))
        hrs.append(hr)
    if verbose:
        print(f"Super-resolution benchmark: {len(files)} images from {root}.")
    return lrs, hrs, str(root)
