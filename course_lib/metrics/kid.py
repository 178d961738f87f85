r"""The kernel inception distance (Bińkowski et al. 2018): an unbiased MMD with a cubic polynomial kernel.

.. math::
    k(x, y) = \Big(\frac{x^\top y}{d} + 1\Big)^3, \qquad
    \widehat{\mathrm{MMD}}^2_u = \frac{1}{m(m-1)} \sum_{i \ne j} k(x_i, x_j) + \frac{1}{n(n-1)} \sum_{i \ne j}
    k(y_i, y_j) - \frac{2}{mn} \sum_{i, j} k(x_i, y_j).

Unlike FID, this estimator is unbiased: its expectation does not depend on the sample size, so KIDs of sets of
different sizes can be compared (it can be slightly negative). As in the paper, it is averaged over random subsets
of ``subset_size`` samples from each set; the mean and the (population) standard deviation over subsets are returned.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from course_lib.metrics._checks import as_matrix

__all__ = ["polynomial_kernel", "mmd2_unbiased", "kernel_inception_distance"]


def polynomial_kernel(x: Tensor, y: Tensor, degree: int = 3, coef0: float = 1.0) -> Tensor:
    r""":math:`k(x_i, y_j) = (x_i^\top y_j / d + c_0)^{\text{degree}}` for ``x[m, d]``, ``y[n, d]`` -> ``[m, n]``."""
    return (x @ y.T / x.shape[1] + coef0) ** degree


def mmd2_unbiased(x: Tensor, y: Tensor, degree: int = 3, coef0: float = 1.0) -> Tensor:
    """The unbiased estimate of MMD^2 between samples ``x[m, d]`` and ``y[n, d]`` (``m, n >= 2``), a 0-d tensor."""
    m, n = x.shape[0], y.shape[0]
    k_xx = polynomial_kernel(x, x, degree, coef0)  # (m, m)
    k_yy = polynomial_kernel(y, y, degree, coef0)  # (n, n)
    k_xy = polynomial_kernel(x, y, degree, coef0)  # (m, n)
    term_xx = (k_xx.sum() - torch.diagonal(k_xx).sum()) / (m * (m - 1))  # i != j only
    term_yy = (k_yy.sum() - torch.diagonal(k_yy).sum()) / (n * (n - 1))
    return term_xx + term_yy - 2.0 * k_xy.mean()


def kernel_inception_distance(features_a: Any, features_b: Any, subsets: int = 100, subset_size: int = 1000,
                              *, degree: int = 3, coef0: float = 1.0, seed: int = 0) -> tuple[float, float]:
    """KID between two feature sets (``[N, D]``, ``[M, D]``) as ``(mean, std)`` over ``subsets`` random subsets.

    Each subset draws ``min(subset_size, N, M)`` rows of each set without replacement, from a
    ``torch.Generator`` seeded with ``seed`` (the global random state is not touched). Computed in float64.
    Lower is better; 0 in expectation for samples of one distribution.
    """
    for name, value in (("subsets", subsets), ("subset_size", subset_size), ("degree", degree)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}.")
    a = as_matrix(features_a, "features_a", min_rows=2)
    b = as_matrix(features_b, "features_b", min_rows=2)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"the two feature sets must have the same dimension, got {a.shape[1]} and {b.shape[1]}.")
    b = b.to(a.device)
    m = min(subset_size, a.shape[0], b.shape[0])
    g = torch.Generator().manual_seed(int(seed))
    values = []
    for _ in range(subsets):
        ia = torch.randperm(a.shape[0], generator=g)[:m].to(a.device)
        ib = torch.randperm(b.shape[0], generator=g)[:m].to(a.device)
        values.append(mmd2_unbiased(a[ia], b[ib], degree, coef0))
    v = torch.stack(values)
    return float(v.mean()), float(v.std(unbiased=False))
