r"""The Fréchet distance between Gaussians, and FID.

Fit a Gaussian to each set of features, :math:`\mathcal N(\mu_1, \Sigma_1)` and :math:`\mathcal N(\mu_2,
\Sigma_2)`, and measure the 2-Wasserstein (Fréchet) distance between them (Dowson and Landau 1982):

.. math::
    d^2 = \lVert \mu_1 - \mu_2 \rVert_2^2 + \operatorname{Tr}\Sigma_1 + \operatorname{Tr}\Sigma_2
          - 2 \operatorname{Tr}\big((\Sigma_1 \Sigma_2)^{1/2}\big).

With Inception-v3 pool features this is the FID of Heusel et al. (2017); with the course's MNIST features it is an
FID *of its own kind*, not comparable with papers' numbers (see :mod:`course_lib.metrics.features`).

**The trace of the square root without a matrix square root.** :math:`\Sigma_1 \Sigma_2` is similar to the
symmetric positive semi-definite :math:`\Sigma_1^{1/2} \Sigma_2 \Sigma_1^{1/2}`, so its eigenvalues
:math:`\lambda_i` are real and :math:`\ge 0`, and :math:`\operatorname{Tr}((\Sigma_1\Sigma_2)^{1/2}) = \sum_i
\sqrt{\lambda_i}`. We compute the eigenvalues of :math:`\Sigma_1\Sigma_2` in float64, keep their real parts (round-off
leaves imaginary parts of order :math:`10^{-10}`), clamp the tiny negative ones to 0 and sum their roots. This needs
no SciPy (whose ``sqrtm(disp=...)``, on which pytorch-fid relied, SciPy 1.18 removed), has no imaginary part to throw
away with a warning, runs on a GPU, and stays finite when a covariance is singular (fewer samples than dimensions).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from course_lib.metrics._checks import as_float64, as_matrix, as_vector

__all__ = ["gaussian_statistics", "frechet_distance", "fid_from_features", "trace_sqrt_product"]

SYMMETRY_RTOL = 1e-6  # |S - S^T| allowed, relative to the largest |entry| of S (float32 covariances pass)


def gaussian_statistics(features: Any) -> tuple[Tensor, Tensor]:
    r"""Mean and unbiased covariance of ``features`` (``Tensor[N, D]``, one row per sample), in float64.

    .. math::
        \mu = \frac1N \sum_i x_i, \qquad \Sigma = \frac{1}{N - 1} \sum_i (x_i - \mu)(x_i - \mu)^\top

    the same as ``np.mean(x, axis=0)`` and ``np.cov(x, rowvar=False)``. Needs ``N >= 2``.

    Returns:
        ``(mu[D], sigma[D, D])``, float64, on the device of ``features``.
    """
    x = as_matrix(features, "features", min_rows=2)
    mu = x.mean(dim=0)  # (D,)
    centred = x - mu  # (N, D)
    sigma = centred.T @ centred / (x.shape[0] - 1)  # (D, D), unbiased
    return mu, sigma


def _covariance(sigma: Any, name: str, dim: int) -> Tensor:
    s = as_float64(sigma, name)
    if s.dim() != 2 or s.shape[0] != s.shape[1]:
        raise ValueError(f"{name} must be a square matrix [D, D], got shape {tuple(s.shape)}.")
    if s.shape[0] != dim:
        raise ValueError(f"{name} is {s.shape[0]} x {s.shape[1]} but the mean has {dim} entries.")
    scale = float(s.abs().max()) if s.numel() else 0.0
    asym = float((s - s.T).abs().max())
    if asym > SYMMETRY_RTOL * max(scale, 1e-300):
        raise ValueError(f"{name} is not symmetric (max |S - S^T| = {asym:.3g}, max |S| = {scale:.3g}): "
                         f"a covariance matrix must be.")
    if bool((torch.diagonal(s) < -SYMMETRY_RTOL * max(scale, 1e-300)).any()):
        raise ValueError(f"{name} has a negative diagonal entry: it is not a covariance matrix.")
    return s


def trace_sqrt_product(sigma1: Tensor, sigma2: Tensor) -> Tensor:
    r""":math:`\operatorname{Tr}((\Sigma_1\Sigma_2)^{1/2}) = \sum_i \sqrt{\max(0, \operatorname{Re}\lambda_i)}`,
    :math:`\lambda_i` the eigenvalues of :math:`\Sigma_1 \Sigma_2` (float64 ``[D, D]`` inputs, 0-d float64 out)."""
    eigenvalues = torch.linalg.eigvals(sigma1 @ sigma2)  # (D,) complex128; real and >= 0 up to round-off
    return eigenvalues.real.clamp_min(0.0).sqrt().sum()


def frechet_distance(mu1: Any, sigma1: Any, mu2: Any, sigma2: Any) -> float:
    r"""The squared Fréchet (2-Wasserstein) distance between :math:`\mathcal N(\mu_1, \Sigma_1)` and
    :math:`\mathcal N(\mu_2, \Sigma_2)`:

    .. math::
        \lVert \mu_1 - \mu_2 \rVert^2 + \operatorname{Tr}\Sigma_1 + \operatorname{Tr}\Sigma_2
        - 2 \operatorname{Tr}\big((\Sigma_1\Sigma_2)^{1/2}\big)

    Args:
        mu1, mu2: ``Tensor[D]`` means.
        sigma1, sigma2: ``Tensor[D, D]`` symmetric positive semi-definite covariances (singular ones are fine).

    Returns:
        a Python float ``>= 0`` (round-off below 0 is clamped), computed in float64 on the inputs' device.

    Raises:
        TypeError: not tensors/arrays; ValueError: NaN/inf, mismatched shapes, non-square or non-symmetric
        covariances.
    """
    m1, m2 = as_vector(mu1, "mu1"), as_vector(mu2, "mu2")
    if m1.shape != m2.shape:
        raise ValueError(f"mu1 and mu2 must have the same length, got {m1.shape[0]} and {m2.shape[0]}.")
    if m1.device != m2.device:
        raise ValueError(f"mu1 is on {m1.device} and mu2 on {m2.device}: put them on one device.")
    s1 = _covariance(sigma1, "sigma1", m1.shape[0]).to(m1.device)
    s2 = _covariance(sigma2, "sigma2", m1.shape[0]).to(m1.device)
    diff = m1 - m2
    value = diff @ diff + torch.trace(s1) + torch.trace(s2) - 2.0 * trace_sqrt_product(s1, s2)
    return max(float(value), 0.0)


def fid_from_features(features_a: Any, features_b: Any) -> float:
    """The Fréchet distance between Gaussians fitted to two feature sets ``Tensor[N, D]`` and ``Tensor[M, D]``
    (:func:`gaussian_statistics` then :func:`frechet_distance`). Lower is better; 0 for identical statistics."""
    a = as_matrix(features_a, "features_a", min_rows=2)
    b = as_matrix(features_b, "features_b", min_rows=2)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"the two feature sets must have the same dimension, got {a.shape[1]} and {b.shape[1]}.")
    mu_a, sigma_a = gaussian_statistics(a)
    mu_b, sigma_b = gaussian_statistics(b.to(a.device))
    return frechet_distance(mu_a, sigma_a, mu_b, sigma_b)
