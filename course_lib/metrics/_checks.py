"""Input checks shared by the metrics: one place for "a finite float matrix of shape [N, D]" and its messages."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

__all__ = ["as_matrix", "as_vector", "as_float64"]


def as_float64(x: Any, name: str) -> Tensor:
    """``x`` (a ``torch.Tensor`` or a NumPy array of real numbers) as a float64 tensor on its own device.

    Raises ``TypeError`` for anything else (lists, complex or boolean data) and ``ValueError`` for NaN/inf.
    """
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(np.ascontiguousarray(x))
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor (or a NumPy array), got {type(x).__name__}.")
    if x.is_complex() or x.dtype == torch.bool:
        raise TypeError(f"{name} must hold real numbers, got dtype {x.dtype}.")
    x = x.detach().to(torch.float64)
    if x.numel() and not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name} contains NaN or inf: a metric of non-finite features is meaningless "
                         f"(did the generator diverge?).")
    return x


def as_matrix(x: Any, name: str, *, min_rows: int = 1) -> Tensor:
    """``x`` as a float64 ``[N, D]`` tensor with ``N >= min_rows`` and ``D >= 1``."""
    x = as_float64(x, name)
    if x.dim() != 2:
        raise ValueError(f"{name} must be a 2-D tensor [N, D] (one row per sample), got shape {tuple(x.shape)}.")
    if x.shape[1] < 1:
        raise ValueError(f"{name} has no feature columns (shape {tuple(x.shape)}).")
    if x.shape[0] < min_rows:
        raise ValueError(f"{name} needs at least {min_rows} rows (samples), got {x.shape[0]}.")
    return x


def as_vector(x: Any, name: str) -> Tensor:
    """``x`` as a float64 ``[D]`` tensor."""
    x = as_float64(x, name)
    if x.dim() != 1 or x.numel() == 0:
        raise ValueError(f"{name} must be a non-empty 1-D tensor [D], got shape {tuple(x.shape)}.")
    return x
