r"""Improved precision and recall for generative models (Kynkäänniemi et al. 2019).

Each set of features defines a manifold estimate: the union of balls centred at its samples, the ball of sample
:math:`\phi` having as radius the distance from :math:`\phi` to its :math:`k`-th nearest neighbour in the same set
(the point itself not counted). Then

.. math::
    \text{precision} = \frac1M \sum_{j} \mathbb 1\big[\tilde\phi_j \in \mathcal M_{\text{real}}\big], \qquad
    \text{recall} = \frac1N \sum_{i} \mathbb 1\big[\phi_i \in \mathcal M_{\text{fake}}\big],

with :math:`\phi \in \mathcal M(\Phi)` iff :math:`\lVert \phi - \phi' \rVert_2 \le r_k(\phi')` for some
:math:`\phi' \in \Phi`. Precision: the share of generated samples that look real (quality); recall: the share of
real samples the generator can produce (coverage). Both are higher-better and lie in [0, 1].

Distances are computed in float64, in blocks of rows, so memory stays :math:`O(\text{block} \times N)`.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from course_lib.metrics._checks import as_matrix

__all__ = ["precision_recall", "knn_radii", "inside_manifold"]

BLOCK = 1024  # rows per distance block
_EXACT = "donot_use_mm_for_euclid_dist"  # direct differences: exact ties stay ties, blocks do not change bits


def knn_radii(features: Tensor, k: int = 3, block: int = BLOCK) -> Tensor:
    """``Tensor[N]``: the distance from each row of ``features`` (float64 ``[N, D]``) to its ``k``-th nearest
    neighbour among the *other* rows (the row itself is excluded by index, so duplicates count as neighbours)."""
    n = features.shape[0]
    radii = torch.empty(n, dtype=features.dtype, device=features.device)
    for start in range(0, n, block):
        rows = features[start:start + block]  # (b, D)
        d = torch.cdist(rows, features, compute_mode=_EXACT)  # (b, N)
        idx = torch.arange(start, start + rows.shape[0], device=features.device)
        d[torch.arange(rows.shape[0], device=features.device), idx] = float("inf")  # not its own neighbour
        radii[start:start + rows.shape[0]] = d.kthvalue(k, dim=1).values
    return radii


def inside_manifold(points: Tensor, centres: Tensor, radii: Tensor, block: int = BLOCK) -> Tensor:
    """``Tensor[M]`` bool: whether each of ``points`` (``[M, D]``) lies in some ball ``||p - c_i|| <= r_i``."""
    out = torch.empty(points.shape[0], dtype=torch.bool, device=points.device)
    for start in range(0, points.shape[0], block):
        d = torch.cdist(points[start:start + block], centres, compute_mode=_EXACT)  # (b, N)
        out[start:start + block] = (d <= radii.unsqueeze(0)).any(dim=1)
    return out


def precision_recall(real: Any, fake: Any, k: int = 3) -> dict[str, float]:
    """Kynkäänniemi et al.'s k-NN precision and recall of ``fake`` (``Tensor[M, D]``) against ``real``
    (``Tensor[N, D]``).

    Args:
        real, fake: feature matrices of the same dimension ``D``; each needs more than ``k`` rows.
        k: the neighbour whose distance sets each ball's radius (the paper uses 3).

    Returns:
        ``{"precision": float, "recall": float}``.
    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be a positive int, got {k!r}.")
    r = as_matrix(real, "real", min_rows=k + 1)
    f = as_matrix(fake, "fake", min_rows=k + 1)
    if r.shape[1] != f.shape[1]:
        raise ValueError(f"real and fake must have the same feature dimension, got {r.shape[1]} and {f.shape[1]}.")
    f = f.to(r.device)
    precision = inside_manifold(f, r, knn_radii(r, k)).double().mean()
    recall = inside_manifold(r, f, knn_radii(f, k)).double().mean()
    return {"precision": float(precision), "recall": float(recall)}
