r"""IC-GAN's instance conditioning (Casanova et al. 2021).

Every training image :math:`x_i` has a feature vector :math:`h_i` (2,048-d self-supervised features in the paper,
:math:`\ell_2`-normalised). Its neighbourhood :math:`\mathcal A_i` is the set of its :math:`k` nearest neighbours by
cosine similarity (the image itself included: its similarity is 1). The generator is conditioned on :math:`h_i`,
:math:`G(z, h_i)`, and the discriminator judges real images drawn *from the neighbourhood*,
:math:`D(x_j, h_i)` with :math:`x_j \in \mathcal A_i`, against :math:`D(G(z, h_i), h_i)`: the model learns a mixture
of local densities :math:`p(x) \approx \frac1M \sum_i p(x \mid h_i)`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["l2_normalise", "knn_neighbourhoods", "sample_instance_pairs"]


def _features(features: object) -> Tensor:
    if not isinstance(features, Tensor):
        raise TypeError(f"features must be a Tensor, got {type(features).__name__}.")
    if features.dim() != 2 or not features.is_floating_point() or features.shape[0] == 0:
        raise ValueError(f"features must be a non-empty floating Tensor of shape (M, D), got {tuple(features.shape)}.")
    if not bool(torch.isfinite(features).all()):
        raise ValueError("features contain NaN or inf.")
    return features


def l2_normalise(features: Tensor, eps: float = 1e-12) -> Tensor:
    r""":math:`h / \max(\lVert h\rVert_2, \epsilon)` row by row, ``(M, D) -> (M, D)``."""
    return F.normalize(_features(features), dim=1, eps=eps)


def knn_neighbourhoods(features: Tensor, k: int, chunk: int = 4096) -> Tensor:
    r"""The indices ``(M, k)`` of each row's ``k`` nearest rows by cosine similarity of the :math:`\ell_2`-normalised
    features, most similar first (each row's own index comes first unless it has exact duplicates). Computed in
    chunks of ``chunk`` rows (memory ``chunk x M``)."""
    h = l2_normalise(features)
    if isinstance(k, bool) or not isinstance(k, int):
        raise TypeError(f"k must be an int, got {type(k).__name__}.")
    if not 1 <= k <= h.shape[0]:
        raise ValueError(f"k must be in [1, {h.shape[0]}], got {k}.")
    out = []
    for start in range(0, h.shape[0], chunk):
        sim = h[start:start + chunk] @ h.T  # (c, M) cosine similarities
        rows = torch.arange(start, min(start + chunk, h.shape[0]), device=h.device)
        sim[torch.arange(len(rows)), rows] = float("inf")  # the instance itself first (ties with duplicates)
        out.append(sim.topk(k, dim=1).indices)
    return torch.cat(out)


def sample_instance_pairs(neighbourhoods: Tensor, n: int, generator: torch.Generator | None = None
                          ) -> tuple[Tensor, Tensor]:
    """``n`` training pairs ``(instance i, neighbour j)`` as two int64 tensors ``(n,)``: ``i`` uniform over the
    instances, ``j`` uniform over ``i``'s neighbourhood (a row of :func:`knn_neighbourhoods`). The generator is
    conditioned on ``h_i``; the real image shown to the discriminator with ``h_i`` is ``x_j``."""
    if not isinstance(neighbourhoods, Tensor) or neighbourhoods.dim() != 2 or neighbourhoods.dtype != torch.int64:
        raise ValueError("neighbourhoods must be an int64 Tensor of shape (M, k).")
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be an int >= 1, got {n!r}.")
    m, k = neighbourhoods.shape
    i = torch.randint(0, m, (n,), generator=generator)
    slot = torch.randint(0, k, (n,), generator=generator)
    return i.to(neighbourhoods.device), neighbourhoods[i.to(neighbourhoods.device), slot.to(neighbourhoods.device)]
