"""scikit-learn's 1,797 handwritten 8 x 8 digits (UCI optical digits, bundled in the wheel: no download).

Tiny enough for a GAN that trains in seconds on a CPU. The file ``sklearn/datasets/data/digits.csv.gz`` is read
directly (64 pixel counts, then the label, per row), which spares a notebook the seconds that importing scikit-learn
costs; if a scikit-learn version ever moves the file, ``sklearn.datasets.load_digits`` is used instead.
"""

from __future__ import annotations

import gzip
import importlib.util
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

__all__ = ["load_digits_8x8"]

N_DIGITS = 1797


def _read_digits() -> tuple[np.ndarray, np.ndarray]:
    """float64 ``(1797, 8, 8)`` pixel counts in 0..16 and int64 ``(1797,)`` labels, as scikit-learn ships them."""
    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("load_digits_8x8 needs scikit-learn (pip install scikit-learn); it is not installed.")
    for location in spec.submodule_search_locations:
        path = Path(location) / "datasets" / "data" / "digits.csv.gz"
        if path.is_file():
            with gzip.open(path, "rt") as f:
                table = np.loadtxt(f, delimiter=",", dtype=np.float64)
            if table.shape == (N_DIGITS, 65):
                return table[:, :64].reshape(-1, 8, 8), table[:, 64].astype(np.int64)
    from sklearn.datasets import load_digits  # the file moved: let scikit-learn find it

    bunch = load_digits()
    return np.asarray(bunch.images, dtype=np.float64), np.asarray(bunch.target, dtype=np.int64)


def load_digits_8x8(verbose: bool = True) -> tuple[Tensor, Tensor]:
    r"""The 1,797 digits of ``sklearn.datasets.load_digits`` as images in [-1, 1] and labels.

    Pixels are counts :math:`v \in \{0, \dots, 16\}` (the number of "on" pixels in a 4 x 4 block of the original 32 x 32
    bitmap); they map to :math:`x = v / 8 - 1`.

    Args:
        verbose: print one line saying what was loaded.

    Returns:
        ``(images, labels)``: float32 ``(1797, 1, 8, 8)`` in [-1, 1] and int64 ``(1797,)`` in 0..9, in scikit-learn's
        order.
    """
    if not isinstance(verbose, bool):
        raise TypeError(f"verbose must be a bool, got {type(verbose).__name__}.")
    images, labels = _read_digits()
    if images.shape != (N_DIGITS, 8, 8) or images.min() < 0 or images.max() > 16 or labels.min() < 0 \
            or labels.max() > 9:
        raise RuntimeError(f"scikit-learn's digits look wrong: images {images.shape}, labels {labels.shape}.")
    x = torch.from_numpy(images / 8.0 - 1.0).to(torch.float32).unsqueeze(1)   # (1797, 1, 8, 8) in [-1, 1]
    y = torch.from_numpy(labels)                                               # (1797,) int64
    if verbose:
        print(f"digits: {x.shape[0]:,} 8x8 handwritten digits bundled in scikit-learn (no download)")
    return x, y
