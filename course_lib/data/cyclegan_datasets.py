r"""CycleGAN's unpaired datasets (horse2zebra, monet2photo, ...) for Colab: downloaded from the authors' public host,
checked, cached, read; with a one-line fallback to the offline task (:mod:`course_lib.data.unpaired`).

The authors' script ``datasets/download_cyclegan_dataset.sh`` fetches ``<name>.zip`` from
:data:`CYCLEGAN_URL`; each archive holds ``<name>/trainA``, ``trainB``, ``testA``, ``testB`` with JPEG images
(Zhu et al. 2017). This module

1. downloads the zip to ``root`` (only when ``download=True``),
2. checks its SHA-256: against :data:`KNOWN_SHA256` when the course has recorded the value, otherwise against the
   digest written next to the archive at its first download (``<name>.zip.sha256``, trust on first use), so a
   truncated or replaced file is caught on every later run,
3. extracts it and checks the layout (the four folders, each non-empty),
4. reads ``n`` images per domain, resized to ``size``, as ``(N, 3, size, size)`` in [-1, 1].

:func:`load_cyclegan_or_offline` is the one line a notebook calls: the real dataset when it can be had, else the
offline task, with one printed line saying which and why. Tests use a fake archive and never the network.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import urllib.request
import zipfile
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["CYCLEGAN_URL", "CYCLEGAN_DATASETS", "KNOWN_SHA256", "DatasetError", "sha256_of", "download_archive",
           "check_layout", "read_domain", "load_cyclegan", "load_cyclegan_or_offline", "default_root"]

#: The authors' host (``datasets/download_cyclegan_dataset.sh`` of junyanz/pytorch-CycleGAN-and-pix2pix).
CYCLEGAN_URL = "https://efrosgans.eecs.berkeley.edu/cyclegan/datasets/{name}.zip"

#: The archives that script knows (cityscapes must be built from the Cityscapes site; it is left out).
CYCLEGAN_DATASETS = ("apple2orange", "summer2winter_yosemite", "horse2zebra", "monet2photo", "cezanne2photo",
                     "ukiyoe2photo", "vangogh2photo", "maps", "facades", "iphone2dslr_flower", "ae_photos")

#: SHA-256 digests recorded by the course (none yet: no download was made from this machine; the trust-on-first-use
#: digest protects every later run). Add ``name: hexdigest`` here after checking an archive.
KNOWN_SHA256: dict[str, str] = {}

_SPLITS = ("trainA", "trainB", "testA", "testB")
_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


class DatasetError(RuntimeError):
    """A dataset that cannot be used: no network, a bad checksum, a wrong layout (the message says which)."""


def default_root() -> Path:
    """``$COURSE_DATA`` or ``~/.cache/course_lib``, then ``cyclegan``."""
    return Path(os.environ.get("COURSE_DATA", Path.home() / ".cache" / "course_lib")) / "cyclegan"


def _check_name(name: str) -> str:
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, got {type(name).__name__}.")
    if name not in CYCLEGAN_DATASETS:
        raise ValueError(f"unknown CycleGAN dataset {name!r}; one of {', '.join(CYCLEGAN_DATASETS)}.")
    return name


def sha256_of(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """The hex SHA-256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def _fetch(url: str, dest: Path) -> None:
    tmp = dest.with_suffix(dest.suffix + ".part")
    with urllib.request.urlopen(url, timeout=60) as response, open(tmp, "wb") as out:  # noqa: S310 (fixed https host)
        shutil.copyfileobj(response, out)
    tmp.replace(dest)


def download_archive(name: str, root: str | os.PathLike | None = None, *, download: bool = True,
                     fetch: Callable[[str, Path], None] = _fetch, expected_sha256: str | None = None) -> Path:
    """The verified archive ``root/<name>.zip``: downloaded with ``fetch(url, dest)`` when absent and ``download``,
    then checked against ``expected_sha256`` (default :data:`KNOWN_SHA256`), else the recorded digest (written at
    the first download). Raises :class:`DatasetError` when absent and not downloadable, or on a digest mismatch."""
    name = _check_name(name)
    root = Path(root) if root is not None else default_root()
    root.mkdir(parents=True, exist_ok=True)
    archive = root / f"{name}.zip"
    record = root / f"{name}.zip.sha256"
    if not archive.is_file():
        if not download:
            raise DatasetError(f"{archive} is not there and download=False.")
        url = CYCLEGAN_URL.format(name=name)
        try:
            fetch(url, archive)
        except OSError as err:  # URLError, timeouts, DNS: no network
            raise DatasetError(f"could not download {url}: {err}") from err
        if not record.exists() and expected_sha256 is None and name not in KNOWN_SHA256:
            record.write_text(sha256_of(archive) + "\n")
    expected = expected_sha256 or KNOWN_SHA256.get(name)
    if expected is None and record.is_file():
        expected = record.read_text().strip()
    digest = sha256_of(archive)
    if expected is not None and digest != expected.lower():
        raise DatasetError(f"{archive}: SHA-256 {digest[:16]}... does not match the expected {expected[:16]}...; "
                           "the file is truncated or not the authors' archive: delete it and download again.")
    return archive


def check_layout(folder: str | os.PathLike) -> dict[str, list[Path]]:
    """The image files of ``folder/{trainA,trainB,testA,testB}`` (sorted); :class:`DatasetError` naming what is
    missing or empty."""
    folder = Path(folder)
    missing = [split for split in _SPLITS if not (folder / split).is_dir()]
    if missing:
        raise DatasetError(f"{folder} has no {', '.join(m + '/' for m in missing)} folder: expected "
                           f"{', '.join(_SPLITS)} (CycleGAN's layout).")
    files = {}
    for split in _SPLITS:
        d = folder / split
        images = sorted(p for p in d.iterdir() if p.suffix.lower() in _IMAGE_SUFFIXES)
        if not images:
            raise DatasetError(f"{d} holds no .jpg/.png images.")
        files[split] = images
    return files


def read_domain(paths: list[Path], n: int | None, size: int) -> Tensor:
    """The first ``n`` images of ``paths`` as ``(n, 3, size, size)`` in [-1, 1] (RGB, anti-aliased resize)."""
    from PIL import Image  # Pillow comes with matplotlib/torchvision

    chosen = paths if n is None else paths[:n]
    out = []
    for p in chosen:
        with Image.open(p) as im:
            arr = torch.frombuffer(bytearray(im.convert("RGB").tobytes()), dtype=torch.uint8)
            t = arr.view(im.size[1], im.size[0], 3).permute(2, 0, 1).float()[None] / 255.0
        out.append(F.interpolate(t, size=(size, size), mode="bilinear", antialias=True, align_corners=False)[0])
    return torch.stack(out).clamp(0, 1) * 2 - 1


def load_cyclegan(name: str = "horse2zebra", root: str | os.PathLike | None = None, *, split: str = "train",
                  n: int | None = None, size: int = 128, download: bool = True,
                  fetch: Callable[[str, Path], None] = _fetch) -> tuple[Tensor, Tensor]:
    """``(a, b)``: domain A and domain B images of a CycleGAN dataset's ``split`` ("train" or "test")."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}.")
    if isinstance(size, bool) or not isinstance(size, int) or size < 4:
        raise ValueError(f"size must be an int >= 4, got {size!r}.")
    name = _check_name(name)
    root = Path(root) if root is not None else default_root()
    folder = root / name
    if not folder.is_dir():
        archive = download_archive(name, root, download=download, fetch=fetch)
        try:
            with zipfile.ZipFile(archive) as z:
                z.extractall(root)
        except zipfile.BadZipFile as err:
            raise DatasetError(f"{archive} is not a zip archive: {err}") from err
    files = check_layout(folder)
    return read_domain(files[split + "A"], n, size), read_domain(files[split + "B"], n, size)


def load_cyclegan_or_offline(name: str = "horse2zebra", root: str | os.PathLike | None = None, *,
                             split: str = "train", n: int = 1000, size: int = 128, download: bool = True,
                             style: str = "night", fetch: Callable[[str, Path], None] = _fetch
                             ) -> tuple[Tensor, Tensor, str]:
    """The one-line loader: ``(a, b, source)`` from the CycleGAN dataset, or, when that fails (no network, a bad
    archive), the offline unpaired photos of :mod:`course_lib.data.unpaired` (``style``), with one printed line."""
    try:
        a, b = load_cyclegan(name, root, split=split, n=n, size=size, download=download, fetch=fetch)
        print(f"CycleGAN {name} ({split}): {a.shape[0]} A and {b.shape[0]} B images at {size}x{size}.")
        return a, b, name
    except DatasetError as err:
        from course_lib.data.unpaired import heldout_unpaired, unpaired_photos

        print(f"CycleGAN {name} unavailable ({err}); using the offline unpaired photos (photo -> {style}) instead.")
        if split == "train":
            a, b = unpaired_photos(n, size, style, verbose=False, scale=min(1.0, max(0.25, size / 128)))
        else:
            a, b = heldout_unpaired(n, size, style, scale=min(1.0, max(0.25, size / 128)))
        return a, b, f"offline-{style}"
