"""CelebA faces for the DCGAN experiments on Colab, with the bundled LFW faces as the offline fallback.

CelebA (Liu et al., 2015) has 202,599 aligned 178 x 218 colour photos of celebrities. torchvision can download it
(from Google Drive, which often refuses with a quota error); :func:`load_celeba` reads the files itself from the
layout torchvision writes::

    ROOT/celeba/img_align_celeba/000001.jpg ... 202599.jpg
    ROOT/celeba/list_eval_partition.txt          # "000001.jpg 0" per line: 0 train, 1 valid, 2 test

so a copy put there by hand (from the official site or a Kaggle mirror) works as well as a download. Preprocessing
follows the usual DCGAN recipe: a centred square crop (``crop`` pixels; 178, the whole width, by default as in the
PyTorch DCGAN tutorial's resize-then-centre-crop; the DCGAN-tensorflow code used 108 for tighter faces), resized to
``size`` with antialiasing, scaled to [-1, 1].

Decoding 200,000 JPEGs takes minutes, so the processed images are cached as one uint8 tensor next to the files
(``ROOT/celeba/course_lib_cache/...pt``); the next call loads that in seconds.

When CelebA is not there and cannot be downloaded (offline, the ``fast`` profile, ``COURSE_OFFLINE=1``, a failed
download), :func:`load_celeba` falls back to the 100 real LFW faces bundled in scikit-image (grey, repeated over
three channels so that the models built for CelebA run unchanged) and prints one line saying so and why, unless
``fallback=False``, in which case it raises.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from course_lib.data.faces import _check_size, load_lfw_faces, resize_images
from course_lib.data.mnist import DATA_DIR_ENV, mnist_downloads_allowed

__all__ = ["load_celeba", "default_celeba_root", "CELEBA_SPLITS", "CelebAMissing"]

CELEBA_SPLITS = {"train": 0, "valid": 1, "test": 2, "all": None}
CELEBA_SIZE = (218, 178)        # (H, W) of img_align_celeba
CELEBA_COUNTS = {"train": 162_770, "valid": 19_867, "test": 19_962, "all": 202_599}


class CelebAMissing(RuntimeError):
    """CelebA's files are not where they should be (and could not be downloaded)."""


def default_celeba_root() -> Path:
    """``$COURSE_DATA_DIR`` when it is set, else ``~/.cache/course_lib`` (CelebA goes in its ``celeba/`` folder)."""
    base = os.environ.get(DATA_DIR_ENV, "").strip()
    return Path(base).expanduser() if base else Path.home() / ".cache" / "course_lib"


def _read_partition(folder: Path) -> list[tuple[str, int]]:
    path = folder / "list_eval_partition.txt"
    if not path.is_file():
        raise CelebAMissing(f"{path} is missing")
    rows = []
    for lineno, line in enumerate(path.read_text().splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 2 or parts[1] not in ("0", "1", "2"):
            raise ValueError(f"{path}, line {lineno}: expected '<file>.jpg <0|1|2>', got {line!r}.")
        rows.append((parts[0], int(parts[1])))
    if not rows:
        raise CelebAMissing(f"{path} lists no image")
    return rows


def _crop_box(width: int, height: int, crop: int) -> tuple[int, int, int, int]:
    """The centred ``crop`` x ``crop`` square of a ``width`` x ``height`` image, as PIL's (left, top, right, bottom)."""
    left, top = (width - crop) // 2, (height - crop) // 2
    return left, top, left + crop, top + crop


def _decode(folder: Path, files: list[str], crop: int, size: int) -> Tensor:
    """uint8 ``(N, 3, size, size)``: each file centre-cropped to ``crop`` then resized (antialiased bilinear)."""
    from PIL import Image  # lazy: only this loader needs Pillow

    out = torch.empty(len(files), 3, size, size, dtype=torch.uint8)
    chunk = 256
    for start in range(0, len(files), chunk):
        batch = []
        for name in files[start:start + chunk]:
            with Image.open(folder / "img_align_celeba" / name) as img:
                img = img.convert("RGB")
                w, h = img.size
                if crop > min(w, h):
                    raise ValueError(f"crop={crop} is larger than {name} ({w}x{h}); use crop <= {min(w, h)}.")
                arr = np.asarray(img.crop(_crop_box(w, h, crop)), dtype=np.uint8)   # (crop, crop, 3)
            batch.append(torch.from_numpy(arr.copy()).permute(2, 0, 1))
        x = torch.stack(batch).to(torch.float32)                                    # (B, 3, crop, crop) in 0..255
        x = resize_images(x, size) if size != crop else x
        out[start:start + len(batch)] = x.round().clamp(0, 255).to(torch.uint8)
    return out


def _download(root: Path) -> None:
    import torchvision  # lazy

    torchvision.datasets.CelebA(str(root), split="all", target_type="attr", download=True)


def load_celeba(size: int = 64, n: int | None = None, split: str = "train", root: str | os.PathLike[str] | None = None,
                download: bool | None = None, crop: int = 178, fallback: bool = True, cache: bool = True,
                verbose: bool = True) -> Tensor:
    r"""CelebA faces as float32 ``(N, 3, size, size)`` in [-1, 1]; the LFW faces when CelebA cannot be had.

    Pixels :math:`v \in \{0, \dots, 255\}` map to :math:`x = (v - 127.5) / 127.5`, the range of a ``tanh`` generator.

    1. If ``ROOT/celeba`` holds the images and ``list_eval_partition.txt`` (see the module docstring), read them.
    2. Else, if downloads are allowed (``download``; None: allowed unless ``COURSE_OFFLINE=1`` or the ``fast``
       profile), download them with torchvision, then read them.
    3. Else, or if the download fails: with ``fallback`` the 100 LFW faces (grey, three equal channels, resized to
       ``size``), otherwise :class:`CelebAMissing`.

    Prints one line saying what it loaded and, for the fallback, why.

    Args:
        size: output side in pixels (64 for the paper's DCGAN).
        n: the first ``n`` images of the split in file order (None: all of it; 162,770 for ``train``). The fallback
            returns at most its 100 faces.
        split: ``"train"``, ``"valid"``, ``"test"`` or ``"all"`` (the official partition).
        root: folder whose ``celeba/`` sub-folder holds the files; default :func:`default_celeba_root`.
        download: True: may download; False: never; None: decided by ``COURSE_OFFLINE`` and the profile.
        crop: side of the centred square cut from each 178 x 218 photo before resizing.
        fallback: fall back to LFW (True) or raise :class:`CelebAMissing` (False).
        cache: keep the processed images as a uint8 tensor under ``ROOT/celeba/course_lib_cache`` and reuse it.
        verbose: print the one-line summary.

    Raises:
        TypeError / ValueError: bad arguments. CelebAMissing: no CelebA and ``fallback=False``.
    """
    size = _check_size(size)
    crop = _check_size(crop)
    if split not in CELEBA_SPLITS:
        raise ValueError(f"split must be one of {', '.join(map(repr, CELEBA_SPLITS))}, got {split!r}.")
    if n is not None:
        if isinstance(n, bool) or not isinstance(n, int):
            raise TypeError(f"n must be an int or None, got {type(n).__name__}.")
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}.")
    if download is not None and not isinstance(download, bool):
        raise TypeError(f"download must be True, False or None, got {download!r}.")
    for name, flag in (("fallback", fallback), ("cache", cache), ("verbose", verbose)):
        if not isinstance(flag, bool):
            raise TypeError(f"{name} must be a bool, got {type(flag).__name__}.")
    if root is not None and not isinstance(root, (str, os.PathLike)):
        raise TypeError(f"root must be a path (str or os.PathLike) or None, got {type(root).__name__}.")
    root_path = Path(root).expanduser() if root is not None else default_celeba_root()
    folder = root_path / "celeba"

    why = ""
    try:
        rows = _read_partition(folder)
    except CelebAMissing as missing:
        allowed, reason = mnist_downloads_allowed(download)
        why = f"{missing}; no download ({reason})"
        rows = []
        if allowed:
            try:
                _download(root_path)
                rows = _read_partition(folder)
            except Exception as err:  # noqa: BLE001 - any failure of the download means: fall back, and say why
                why = f"{missing}; the download failed ({type(err).__name__}: {str(err).splitlines()[0][:200]})"
    if not rows:
        if not fallback:
            raise CelebAMissing(f"CelebA is not available: {why}. Put the files in {folder} (see "
                                f"course_lib.data.celeba) or pass fallback=True for the bundled LFW faces.")
        faces = load_lfw_faces(size=size, verbose=False)[: n or None].expand(-1, 3, -1, -1).contiguous()
        if verbose:
            print(f"CelebA not available ({why}): using the {faces.shape[0]} bundled LFW faces instead "
                  f"(grey as 3 channels, {size}x{size})")
        return faces

    wanted = CELEBA_SPLITS[split]
    files = [f for f, part in rows if wanted is None or part == wanted]
    if n is not None:
        if n > len(files):
            raise ValueError(f"n={n} is larger than CelebA's {split!r} split ({len(files)} images).")
        files = files[:n]
    cache_path = folder / "course_lib_cache" / f"{split}_{len(files)}_crop{crop}_{size}.pt"
    images = None
    if cache and cache_path.is_file():
        images = torch.load(cache_path, weights_only=True)
        if not (isinstance(images, Tensor) and images.dtype == torch.uint8 and images.shape == (len(files), 3, size,
                                                                                                size)):
            images = None  # a stale or foreign file: decode again
    source = "cached"
    if images is None:
        missing_files = [f for f in files[:1] + files[-1:] if not (folder / "img_align_celeba" / f).is_file()]
        if missing_files:
            raise CelebAMissing(f"{folder / 'img_align_celeba'} lacks {missing_files[0]}: the CelebA copy is "
                                f"incomplete (unzip img_align_celeba.zip there).")
        images = _decode(folder, files, crop, size)
        source = "decoded"
        if cache:
            cache_path.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache_path.with_suffix(".tmp")
            torch.save(images, tmp)
            os.replace(tmp, cache_path)
    x = images.to(torch.float32).sub_(127.5).div_(127.5)
    if verbose:
        print(f"CelebA: {x.shape[0]:,} {split} faces from {folder} ({source}), centre crop {crop}, "
              f"{size}x{size} colour")
    return x
