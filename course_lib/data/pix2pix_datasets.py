"""The pix2pix datasets (facades, maps, edges2shoes) from their public host, cached, checked, with an offline fallback.

Isola et al. released their datasets as ``<name>.tar.gz`` archives at :data:`PIX2PIX_URL` (the address their
``datasets/download_pix2pix_dataset.sh`` uses). Each archive holds ``<name>/<split>/*.jpg``; every image is a pair
side by side, ``A`` on the left and ``B`` on the right (width = 2 x height). The direction the paper trains differs:
facades go labels (B, right) -> photo (A, left); maps aerial photo (A) -> map (B); edges2shoes edges (A) -> shoe (B).
:data:`PIX2PIX_DATASETS` records it, so :func:`load_pix2pix` always returns ``(input, target)``.

Cache and checks: the archive is downloaded once to ``<root>/<name>.tar.gz`` (``root``: ``$COURSE_DATA_DIR/pix2pix``
or ``~/.cache/course_lib/pix2pix``) through a ``.part`` file renamed when complete; its SHA-256 is compared with the
``sha256`` given, else with the digest recorded in ``<name>.tar.gz.sha256`` at the first download (a truncated or
altered cache is caught; the course does not ship digests it has not measured). Extraction refuses members outside
``<name>/`` (absolute paths, ``..``, links). The layout check wants the dataset's split folders, at least one image
in each, and side-by-side pairs (width = 2 x height); each failure raises :class:`Pix2PixDatasetError` saying what
was expected and what was found.

Offline: with ``download=None`` nothing is downloaded in the ``fast`` profile or under ``COURSE_OFFLINE=1`` (the rule
of :func:`course_lib.data.mnist_downloads_allowed`); then, or when the download fails, :func:`load_pix2pix` prints one
line and returns the offline paired task of :mod:`course_lib.data.paired` instead (``FALLBACK_TASKS``).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["PIX2PIX_URL", "PIX2PIX_DATASETS", "Pix2PixDatasetInfo", "Pix2PixDatasetError", "default_pix2pix_root",
           "download_pix2pix", "check_layout", "split_pair", "load_pix2pix", "sha256_of"]

PIX2PIX_URL = "http://efrosgans.eecs.berkeley.edu/pix2pix/datasets/{name}.tar.gz"
_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


@dataclass(frozen=True)
class Pix2PixDatasetInfo:
    """One released dataset: its split folders, which half is the input, and the offline task that replaces it."""

    name: str
    splits: tuple[str, ...]
    input_side: str          # "left" (A -> B) or "right" (B -> A)
    fallback: str            # a key of course_lib.data.paired.PAIRED_TASKS
    description: str


PIX2PIX_DATASETS: dict[str, Pix2PixDatasetInfo] = {
    "facades": Pix2PixDatasetInfo("facades", ("train", "val", "test"), "right", "labels2photo",
                                  "CMP Facades: architectural label maps -> photos"),
    "maps": Pix2PixDatasetInfo("maps", ("train", "val"), "left", "labels2photo",
                               "Google Maps: aerial photos -> maps"),
    "edges2shoes": Pix2PixDatasetInfo("edges2shoes", ("train", "val"), "left", "edges2photo",
                                      "UT Zappos50K: HED edges -> shoe photos"),
}


class Pix2PixDatasetError(ValueError):
    """A pix2pix archive or folder is not what it should be (checksum, archive, layout)."""


def _info(name: object) -> Pix2PixDatasetInfo:
    if not isinstance(name, str):
        raise TypeError(f"name must be a string, got {type(name).__name__}.")
    if name not in PIX2PIX_DATASETS:
        raise ValueError(f"unknown pix2pix dataset {name!r}; valid: {', '.join(PIX2PIX_DATASETS)}.")
    return PIX2PIX_DATASETS[name]


def default_pix2pix_root() -> Path:
    """``$COURSE_DATA_DIR/pix2pix`` when ``COURSE_DATA_DIR`` is set, else ``~/.cache/course_lib/pix2pix``."""
    base = os.environ.get("COURSE_DATA_DIR", "").strip()
    if base:
        return Path(base).expanduser() / "pix2pix"
    return Path.home() / ".cache" / "course_lib" / "pix2pix"


def sha256_of(path: str | os.PathLike[str]) -> str:
    """The SHA-256 hex digest of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _urlretrieve(url: str, dest: Path) -> None:
    import urllib.request

    with urllib.request.urlopen(url, timeout=60) as response, open(dest, "wb") as out:   # noqa: S310 (public host)
        shutil.copyfileobj(response, out, 1 << 20)


def _safe_extract(archive: Path, root: Path, name: str) -> None:
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = tar.getmembers()
            for m in members:
                parts = Path(m.name).parts
                if m.name.startswith(("/", "\\")) or ".." in parts or not parts or parts[0] != name:
                    raise Pix2PixDatasetError(f"{archive}: member {m.name!r} is outside {name}/; refusing to extract.")
                if not (m.isfile() or m.isdir()):
                    raise Pix2PixDatasetError(f"{archive}: member {m.name!r} is a link or device; refusing to extract.")
            tar.extractall(root, members=members)
    except (tarfile.TarError, EOFError, OSError) as err:
        raise Pix2PixDatasetError(f"{archive} is not a readable .tar.gz ({type(err).__name__}: {err}); delete it and "
                                  "download again.") from err


def _images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in _IMAGE_SUFFIXES)


def check_layout(folder: str | os.PathLike[str], name: str) -> dict[str, int]:
    """Check an extracted dataset ``folder`` (``<root>/<name>``): every split folder of :data:`PIX2PIX_DATASETS`
    exists and holds images, and the first image of each is a side-by-side pair (width = 2 x height).

    Returns:
        ``{split: number of images}``.

    Raises:
        Pix2PixDatasetError: naming the missing folder, the empty split or the image of the wrong shape.
    """
    from PIL import Image

    info = _info(name)
    folder = Path(folder)
    if not folder.is_dir():
        raise Pix2PixDatasetError(f"{folder} is not a folder; expected the extracted {name}/ of {name}.tar.gz.")
    counts = {}
    for split in info.splits:
        d = folder / split
        if not d.is_dir():
            found = sorted(p.name for p in folder.iterdir())
            raise Pix2PixDatasetError(f"{name}: the split folder {d} is missing (expected {', '.join(info.splits)}; "
                                      f"found {', '.join(found) or 'nothing'}).")
        files = _images_in(d)
        if not files:
            raise Pix2PixDatasetError(f"{name}: {d} holds no .jpg/.png images.")
        with Image.open(files[0]) as im:
            w, h = im.size
        if w != 2 * h:
            raise Pix2PixDatasetError(f"{name}: {files[0]} is {w}x{h}; a pix2pix pair is two squares side by side "
                                      "(width = 2 x height).")
        counts[split] = len(files)
    return counts


def download_pix2pix(name: str, root: str | os.PathLike[str] | None = None, *, url: str | None = None,
                     sha256: str | None = None,
                     downloader: Callable[[str, Path], None] | None = None) -> Path:
    """Download (once), verify, extract and check one dataset; return its folder ``<root>/<name>``.

    Args:
        name: a key of :data:`PIX2PIX_DATASETS`.
        root: the cache folder (:func:`default_pix2pix_root`).
        url: the archive's address (:data:`PIX2PIX_URL`).
        sha256: the expected digest; None: the one recorded at the first download, if any.
        downloader: ``(url, destination) -> None`` (tests pass a local copy; default: ``urllib``).
    """
    info = _info(name)
    root = default_pix2pix_root() if root is None else Path(root)
    folder = root / name
    if folder.is_dir():
        try:
            check_layout(folder, name)
            return folder
        except Pix2PixDatasetError:
            shutil.rmtree(folder)                 # a half-extracted folder: extract again from the archive
    root.mkdir(parents=True, exist_ok=True)
    archive, record = root / f"{name}.tar.gz", root / f"{name}.tar.gz.sha256"
    if not archive.exists():
        part = archive.with_suffix(".gz.part")
        (downloader or _urlretrieve)(url or PIX2PIX_URL.format(name=info.name), part)
        part.replace(archive)
    digest = sha256_of(archive)
    expected = sha256 if sha256 is not None else (record.read_text().strip() if record.exists() else None)
    if expected is not None and digest != expected.lower():
        raise Pix2PixDatasetError(f"{archive}: SHA-256 {digest} differs from the expected {expected}; the file is "
                                  "truncated or not the released archive. Delete it and download again.")
    _safe_extract(archive, root, name)
    check_layout(folder, name)
    if not record.exists():
        record.write_text(digest + "\n")
    return folder


def split_pair(image: Tensor, input_side: str = "left") -> tuple[Tensor, Tensor]:
    """``(C, H, 2W)`` side-by-side pair -> ``(input, target)``, each ``(C, H, W)``; ``input_side`` is the half that is
    the input (``"left"``: A -> B, ``"right"``: B -> A)."""
    if not isinstance(image, Tensor) or image.dim() != 3 or image.shape[-1] % 2:
        raise ValueError(f"image must be a (C, H, 2W) tensor, got "
                         f"{tuple(image.shape) if isinstance(image, Tensor) else type(image).__name__}.")
    if input_side not in ("left", "right"):
        raise ValueError(f"input_side must be 'left' or 'right', got {input_side!r}.")
    w = image.shape[-1] // 2
    left, right = image[..., :w], image[..., w:]
    return (left, right) if input_side == "left" else (right, left)


def _decode_pairs(files: list[Path], size: int, input_side: str) -> tuple[Tensor, Tensor]:
    from PIL import Image

    a_list, b_list = [], []
    for f in files:
        with Image.open(f) as im:
            arr = np.asarray(im.convert("RGB"), dtype=np.uint8)
        t = torch.from_numpy(arr.copy()).permute(2, 0, 1).to(torch.float32) / 255.0
        a, b = split_pair(t, input_side)
        ab = torch.stack([a, b])
        if ab.shape[-2:] != (size, size):
            ab = F.interpolate(ab, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
        a_list.append(ab[0])
        b_list.append(ab[1])
    a, b = torch.stack(a_list).clamp(0, 1), torch.stack(b_list).clamp(0, 1)
    return a * 2 - 1, b * 2 - 1


def load_pix2pix(name: str = "facades", split: str = "train", size: int = 256, n: int | None = None,
                 root: str | os.PathLike[str] | None = None, download: bool | None = None, verbose: bool = True,
                 downloader: Callable[[str, Path], None] | None = None,
                 sha256: str | None = None) -> tuple[Tensor, Tensor]:
    """``(input, target)`` float32 ``(N, 3, size, size)`` in [-1, 1] of a pix2pix dataset, in the paper's direction;
    the offline paired task when the dataset cannot be had (one printed line says which and why).

    Args:
        name: ``"facades"``, ``"maps"`` or ``"edges2shoes"``.
        split: one of the dataset's splits (facades: train/val/test; the others train/val).
        size: output side (the paper trains at 256; resized bilinearly with anti-aliasing).
        n: the first ``n`` pairs in file order (None: all).
        root, download, downloader, sha256: as :func:`download_pix2pix`; ``download`` as
            :func:`course_lib.data.mnist_downloads_allowed` (None: not in the fast profile or offline).

    Fallback: ``make_paired_task(FALLBACK, size=size)`` of :mod:`course_lib.data.paired`: its ``train`` pairs for
    ``split="train"``, its held-out ``test`` pairs otherwise (``n`` of them, 512 / 64 when ``n`` is None).
    """
    from course_lib.data.mnist import mnist_downloads_allowed

    info = _info(name)
    if split not in info.splits:
        raise ValueError(f"{name} has the splits {', '.join(info.splits)}, not {split!r}.")
    if isinstance(size, bool) or not isinstance(size, int) or size < 8:
        raise ValueError(f"size must be an int >= 8, got {size!r}.")
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
        raise ValueError(f"n must be a positive int or None, got {n!r}.")
    root_path = default_pix2pix_root() if root is None else Path(root)
    folder = root_path / name
    allowed, why = mnist_downloads_allowed(download)
    reason = None
    if not folder.is_dir() and not (root_path / f"{name}.tar.gz").exists() and not allowed:
        reason = f"not on disk and no download ({why})"
    else:
        try:
            folder = download_pix2pix(name, root_path, downloader=downloader, sha256=sha256)
        except Pix2PixDatasetError:
            raise                                   # a wrong archive is an error, not a reason to fall back
        except Exception as err:                    # no network, host down, ...
            reason = f"download failed: {type(err).__name__}: {str(err)[:80]}"
    if reason is not None:
        from course_lib.data.paired import make_paired_task

        train = split == "train"
        n_train = n if (train and n is not None) else 512
        n_test = n if (not train and n is not None) else 64
        task = make_paired_task(info.fallback, n_train=n_train, n_test=n_test, size=min(size, 64), scale=0.25)
        a, b = task.train if train else task.test
        if verbose:
            print(f"pix2pix {name} not available ({reason}): using the offline task {info.fallback} "
                  f"({a.shape[0]} {'training' if train else 'held-out'} pairs {a.shape[-1]}x{a.shape[-1]}, "
                  f"{a.shape[1]} -> 3 channels) instead")
        return a, b
    files = _images_in(folder / split)
    if n is not None:
        files = files[:n]
    a, b = _decode_pairs(files, size, info.input_side)
    if verbose:
        side = "B -> A (right half is the input)" if info.input_side == "right" else "A -> B"
        print(f"pix2pix {name}: {a.shape[0]:,} {split} pairs from {folder} ({info.description}; {side}), "
              f"resized to {size}x{size}")
    return a, b
