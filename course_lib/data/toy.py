"""Toy distributions with known densities: 1-D and 2-D Gaussian mixtures, and the mode-coverage metric.

The 1-D mixture is the data distribution of chapter 2's live "(a)-(d)" picture of GAN training; the 2-D ring and grid
are the standard mode-collapse benchmarks:

- **ring**: 8 isotropic Gaussians, standard deviation 0.02, means evenly spaced on a circle of radius 2 (Metz et al.,
  *Unrolled Generative Adversarial Networks*, ICLR 2017, appendix A; reused by VEEGAN, Srivastava et al. 2017). PacGAN's
  code uses a smaller variant (radius 1, std 0.01): pass ``radius=1.0, std=0.01`` for it.
- **grid**: 25 isotropic Gaussians, standard deviation 0.05, means on the 5 x 5 grid {-4, -2, 0, 2, 4}^2 (PacGAN, Lin et
  al. 2018, ``synthetic_data_experiments/2DGrid_GAN&PacGAN/config.py``; VEEGAN uses the same grid).

:func:`mode_coverage` is the metric of VEEGAN and PacGAN: a generated sample is *high quality* when it lies within
three standard deviations of its nearest mode; a mode is *covered* when it received at least one high-quality sample.

Every random draw goes through an optional ``torch.Generator``, so a seeded generator reproduces the same samples.
Parameters given as Python sequences become tensors of the default dtype (float32); tensors keep their dtype and device.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

__all__ = [
    "GaussianMixture1D",
    "GaussianMixture2D",
    "ring_of_gaussians",
    "grid_of_gaussians",
    "mode_coverage",
]

_LOG_2PI = math.log(2.0 * math.pi)


# ----------------------------------------------------------------------------------------------------------------------
# Shared validation helpers
# ----------------------------------------------------------------------------------------------------------------------
def _as_param(value: Any, name: str, like: Tensor | None = None) -> Tensor:
    """Turn a parameter (tensor, NumPy array, sequence or scalar) into a finite floating tensor.

    Without ``like``, tensors keep a floating dtype and their device, and everything else becomes the default dtype.
    With ``like``, the result takes ``like``'s dtype and device (secondary parameters follow the means).
    """
    if isinstance(value, (str, bytes)) or value is None:
        raise TypeError(f"{name} must be a tensor or a sequence of numbers, got {type(value).__name__}.")
    if isinstance(value, Tensor):
        t = value.detach()
        if not t.is_floating_point():
            t = t.to(torch.get_default_dtype())
    else:
        try:
            t = torch.as_tensor(value, dtype=torch.get_default_dtype())
        except (TypeError, ValueError, RuntimeError) as err:
            raise TypeError(f"{name} must be a tensor or a sequence of numbers, got {value!r}.") from err
    if like is not None:
        t = t.to(device=like.device, dtype=like.dtype)
    if not torch.isfinite(t).all():
        raise ValueError(f"{name} must be finite, got {t.tolist()}.")
    return t


def _weights(weights: Any, k: int, like: Tensor) -> Tensor:
    r"""Validate mixture weights and normalise them: :math:`\pi_k = w_k / \sum_j w_j`."""
    if weights is None:
        return torch.full((k,), 1.0 / k, dtype=like.dtype, device=like.device)
    w = _as_param(weights, "weights", like)
    if w.dim() != 1 or w.numel() != k:
        raise ValueError(f"weights must have one entry per component ({k}), got shape {tuple(w.shape)}.")
    if (w < 0).any():
        raise ValueError(f"weights must be >= 0, got {w.tolist()}.")
    total = w.sum()
    if total <= 0:
        raise ValueError("weights must have a positive sum (at least one component with weight > 0).")
    return w / total


def _fmt(t: Tensor) -> str:
    """A short, readable list for ``repr``: 4 significant digits; rows of a 2-D tensor as tuples."""
    if t.dim() == 2:
        return "[" + ", ".join("(" + ", ".join(f"{v:.4g}" for v in row) + ")" for row in t.tolist()) + "]"
    return "[" + ", ".join(f"{v:.4g}" for v in t.reshape(-1).tolist()) + "]"


def _check_n(n: Any) -> int:
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"n must be an int, got {type(n).__name__}.")
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}.")
    return n


def _check_generator(generator: Any) -> torch.Generator | None:
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator or None, got {type(generator).__name__}.")
    return generator


def _draw_components(weights: Tensor, n: int, generator: torch.Generator | None) -> Tensor:
    """Component index of each of ``n`` samples, :math:`k_i \\sim \\mathrm{Categorical}(\\pi)`; int64 ``(n,)``."""
    gen_device = generator.device if generator is not None else weights.device
    if n == 0:
        return torch.zeros(0, dtype=torch.int64, device=weights.device)
    k = torch.multinomial(weights.to(gen_device, torch.float64), n, replacement=True, generator=generator)
    return k.to(weights.device)


def _standard_normal(shape: tuple[int, ...], like: Tensor, generator: torch.Generator | None) -> Tensor:
    """:math:`\\varepsilon \\sim \\mathcal N(0, I)` drawn on the generator's device, returned on ``like``'s device."""
    gen_device = generator.device if generator is not None else like.device
    eps = torch.randn(shape, generator=generator, device=gen_device, dtype=like.dtype)
    return eps.to(like.device)


def _as_input(x: Any, like: Tensor, name: str = "x") -> Tensor:
    """Evaluation points: a floating tensor keeps its dtype/device (the parameters follow it); anything else becomes a
    tensor with the parameters' dtype and device."""
    if isinstance(x, Tensor):
        return x if x.is_floating_point() else x.to(like.dtype)
    if isinstance(x, (str, bytes)) or x is None:
        raise TypeError(f"{name} must be a tensor or numbers, got {type(x).__name__}.")
    try:
        return torch.as_tensor(x, dtype=like.dtype, device=like.device)
    except (TypeError, ValueError, RuntimeError) as err:
        raise TypeError(f"{name} must be a tensor or numbers, got {x!r}.") from err


# ----------------------------------------------------------------------------------------------------------------------
# 1-D mixture
# ----------------------------------------------------------------------------------------------------------------------
class GaussianMixture1D:
    r"""A mixture of :math:`K` univariate Gaussians.

    .. math::
        p(x) = \sum_{k=1}^{K} \pi_k \, \mathcal N(x;\ \mu_k, \sigma_k^2), \qquad
        \mathcal N(x; \mu, \sigma^2) = \frac{1}{\sigma\sqrt{2\pi}} e^{-(x-\mu)^2 / (2\sigma^2)}.

    Args:
        means: ``(K,)`` component means :math:`\mu_k`.
        stds: ``(K,)`` component standard deviations :math:`\sigma_k > 0`.
        weights: ``(K,)`` non-negative weights, normalised to :math:`\pi_k = w_k / \sum_j w_j`; ``None`` for
            equal weights.

    Sequences become default-dtype (float32) tensors; tensors keep their dtype and device.

    Example::

        p = GaussianMixture1D([-2.0, 2.0], [0.5, 0.5], weights=[0.3, 0.7])
        x = p.sample(1000, generator=torch.Generator().manual_seed(0))   # (1000,)
    """

    def __init__(self, means: Tensor | Sequence[float], stds: Tensor | Sequence[float],
                 weights: Tensor | Sequence[float] | None = None) -> None:
        mu = _as_param(means, "means")
        if mu.dim() != 1 or mu.numel() == 0:
            raise ValueError(f"means must be a non-empty 1-D sequence, got shape {tuple(mu.shape)}.")
        sigma = _as_param(stds, "stds", mu)
        if sigma.shape != mu.shape:
            raise ValueError(f"stds must have the same length as means ({mu.numel()}), got shape {tuple(sigma.shape)}.")
        if (sigma <= 0).any():
            raise ValueError(f"stds must all be > 0, got {sigma.tolist()}.")
        self.means: Tensor = mu          # (K,)
        self.stds: Tensor = sigma        # (K,)
        self.weights: Tensor = _weights(weights, mu.numel(), mu)  # (K,), sums to 1

    def __repr__(self) -> str:
        return (f"GaussianMixture1D(means={_fmt(self.means)}, stds={_fmt(self.stds)}, "
                f"weights={_fmt(self.weights)})")

    @property
    def n_components(self) -> int:
        return self.means.numel()

    @property
    def mean(self) -> Tensor:
        r"""Mixture mean :math:`\mathbb E[x] = \sum_k \pi_k \mu_k` (0-d tensor)."""
        return (self.weights * self.means).sum()

    @property
    def variance(self) -> Tensor:
        r"""Mixture variance :math:`\sum_k \pi_k (\sigma_k^2 + \mu_k^2) - \mathbb E[x]^2` (0-d tensor)."""
        return (self.weights * (self.stds**2 + self.means**2)).sum() - self.mean**2

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        r"""Draw ``n`` samples: :math:`k \sim \mathrm{Categorical}(\pi)`, then :math:`x = \mu_k + \sigma_k \varepsilon`,
        :math:`\varepsilon \sim \mathcal N(0, 1)`.

        Returns ``(n,)`` with the parameters' dtype and device. The same seeded ``generator`` gives the same samples.
        """
        n = _check_n(n)
        generator = _check_generator(generator)
        k = _draw_components(self.weights, n, generator)              # (n,) int64
        eps = _standard_normal((n,), self.means, generator)           # (n,)
        return self.means[k] + self.stds[k] * eps

    def log_prob(self, x: Tensor | float | Sequence[float]) -> Tensor:
        r""":math:`\log p(x) = \operatorname{logsumexp}_k \big[\log \pi_k - \tfrac12 ((x-\mu_k)/\sigma_k)^2
        - \log \sigma_k - \tfrac12 \log 2\pi\big]`, elementwise; same shape as ``x`` (computed in ``x``'s dtype)."""
        x = _as_input(x, self.means)
        mu, sigma, w = (t.to(device=x.device, dtype=x.dtype) for t in (self.means, self.stds, self.weights))
        z = (x.unsqueeze(-1) - mu) / sigma                            # (..., K)
        log_comp = -0.5 * z**2 - torch.log(sigma) - 0.5 * _LOG_2PI    # (..., K)
        return torch.logsumexp(torch.log(w) + log_comp, dim=-1)       # (...)

    def pdf(self, x: Tensor | float | Sequence[float]) -> Tensor:
        r""":math:`p(x) = \sum_k \pi_k \mathcal N(x; \mu_k, \sigma_k^2)`, elementwise; same shape as ``x``."""
        return self.log_prob(x).exp()

    def cdf(self, x: Tensor | float | Sequence[float]) -> Tensor:
        r""":math:`F(x) = \sum_k \pi_k \, \Phi\big((x - \mu_k)/\sigma_k\big)` with :math:`\Phi` the standard normal CDF
        (``torch.special.ndtr``), elementwise; same shape as ``x``."""
        x = _as_input(x, self.means)
        mu, sigma, w = (t.to(device=x.device, dtype=x.dtype) for t in (self.means, self.stds, self.weights))
        return (w * torch.special.ndtr((x.unsqueeze(-1) - mu) / sigma)).sum(-1)


# ----------------------------------------------------------------------------------------------------------------------
# 2-D mixture of isotropic Gaussians
# ----------------------------------------------------------------------------------------------------------------------
class GaussianMixture2D:
    r"""A mixture of :math:`K` isotropic 2-D Gaussians.

    .. math::
        p(\mathbf x) = \sum_{k=1}^{K} \pi_k \, \mathcal N(\mathbf x;\ \boldsymbol\mu_k, \sigma_k^2 I_2), \qquad
        \log \mathcal N(\mathbf x; \boldsymbol\mu, \sigma^2 I_2) = -\frac{\lVert \mathbf x - \boldsymbol\mu\rVert^2}
        {2\sigma^2} - 2\log\sigma - \log 2\pi.

    Args:
        means: ``(K, 2)`` component means (the modes).
        std: one standard deviation for all components (float) or ``(K,)``, all > 0.
        weights: ``(K,)`` non-negative weights, normalised; ``None`` for equal weights.
    """

    def __init__(self, means: Tensor | Sequence[Sequence[float]], std: float | Tensor | Sequence[float],
                 weights: Tensor | Sequence[float] | None = None) -> None:
        mu = _as_param(means, "means")
        if mu.dim() != 2 or mu.shape[-1] != 2 or mu.shape[0] == 0:
            raise ValueError(f"means must have shape (K, 2) with K >= 1, got {tuple(mu.shape)}.")
        k = mu.shape[0]
        if isinstance(std, bool):
            raise TypeError("std must be a positive number or a (K,) tensor, got a bool.")
        sigma = _as_param(std, "std", mu)
        if sigma.dim() == 0:
            sigma = sigma.expand(k).clone()
        if sigma.shape != (k,):
            raise ValueError(f"std must be a number or have shape ({k},), got shape {tuple(sigma.shape)}.")
        if (sigma <= 0).any():
            raise ValueError(f"std must be > 0, got {sigma.tolist()}.")
        self.means: Tensor = mu          # (K, 2)
        self.stds: Tensor = sigma        # (K,)
        self.weights: Tensor = _weights(weights, k, mu)  # (K,)

    def __repr__(self) -> str:
        return (f"GaussianMixture2D(K={self.n_components}, means={_fmt(self.means)}, stds={_fmt(self.stds)}, "
                f"weights={_fmt(self.weights)})")

    @property
    def n_components(self) -> int:
        return self.means.shape[0]

    @property
    def modes(self) -> Tensor:
        """The component means, ``(K, 2)`` (a copy)."""
        return self.means.clone()

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        r"""Draw ``n`` points: :math:`k \sim \mathrm{Categorical}(\pi)`, :math:`\mathbf x = \boldsymbol\mu_k + \sigma_k
        \boldsymbol\varepsilon`, :math:`\boldsymbol\varepsilon \sim \mathcal N(0, I_2)`. Returns ``(n, 2)``."""
        n = _check_n(n)
        generator = _check_generator(generator)
        k = _draw_components(self.weights, n, generator)              # (n,)
        eps = _standard_normal((n, 2), self.means, generator)         # (n, 2)
        return self.means[k] + self.stds[k, None] * eps               # (n, 2)

    def log_prob(self, xy: Tensor | Sequence[Sequence[float]]) -> Tensor:
        r""":math:`\log p(\mathbf x)` for points ``xy`` of shape ``(..., 2)``; returns ``(...)``."""
        xy = _as_input(xy, self.means, "xy")
        if xy.dim() == 0 or xy.shape[-1] != 2:
            raise ValueError(f"xy must have shape (..., 2), got {tuple(xy.shape)}.")
        mu, sigma, w = (t.to(device=xy.device, dtype=xy.dtype) for t in (self.means, self.stds, self.weights))
        sq = ((xy.unsqueeze(-2) - mu) ** 2).sum(-1)                   # (..., K) squared distances
        log_comp = -0.5 * sq / sigma**2 - 2.0 * torch.log(sigma) - _LOG_2PI
        return torch.logsumexp(torch.log(w) + log_comp, dim=-1)       # (...)

    def pdf(self, xy: Tensor | Sequence[Sequence[float]]) -> Tensor:
        r""":math:`p(\mathbf x)` for ``xy`` of shape ``(..., 2)``; returns ``(...)``."""
        return self.log_prob(xy).exp()


# ----------------------------------------------------------------------------------------------------------------------
# The standard benchmarks
# ----------------------------------------------------------------------------------------------------------------------
def ring_of_gaussians(n_modes: int = 8, radius: float = 2.0, std: float = 0.02) -> GaussianMixture2D:
    r"""``n_modes`` equal-weight Gaussians on a circle: :math:`\boldsymbol\mu_k = r(\cos\theta_k, \sin\theta_k)`,
    :math:`\theta_k = 2\pi k / K`, :math:`k = 0, \dots, K-1`.

    Defaults: the 8-mode ring of Metz et al. (2017, appendix A) and VEEGAN (radius 2, std 0.02).
    """
    if isinstance(n_modes, bool) or not isinstance(n_modes, int) or n_modes < 1:
        raise ValueError(f"n_modes must be a positive int, got {n_modes!r}.")
    if isinstance(radius, bool) or not isinstance(radius, (int, float)) or not math.isfinite(radius) or radius < 0:
        raise ValueError(f"radius must be a finite number >= 0, got {radius!r}.")
    theta = 2.0 * math.pi * torch.arange(n_modes, dtype=torch.float64) / n_modes
    means = radius * torch.stack([torch.cos(theta), torch.sin(theta)], dim=1)   # (K, 2)
    means[means.abs() < 1e-12 * max(radius, 1.0)] = 0.0              # cos(pi/2) = 6e-17 in floating point: make it 0
    return GaussianMixture2D(means.to(torch.get_default_dtype()), std)


def grid_of_gaussians(n_side: int = 5, spacing: float = 2.0, std: float = 0.05) -> GaussianMixture2D:
    r"""``n_side**2`` equal-weight Gaussians on a square grid centred on the origin:
    :math:`\boldsymbol\mu_{ij} = s\,(i - \tfrac{n-1}{2},\ j - \tfrac{n-1}{2})`, :math:`i, j = 0, \dots, n-1`.

    Defaults: PacGAN's 5 x 5 grid with means in {-4, -2, 0, 2, 4}^2 and std 0.05. Modes are ordered row-major in
    ``(x, y)``: mode ``i * n_side + j`` sits at ``(x_i, y_j)``.
    """
    if isinstance(n_side, bool) or not isinstance(n_side, int) or n_side < 1:
        raise ValueError(f"n_side must be a positive int, got {n_side!r}.")
    if isinstance(spacing, bool) or not isinstance(spacing, (int, float)) or not math.isfinite(spacing) or spacing <= 0:
        raise ValueError(f"spacing must be a finite number > 0, got {spacing!r}.")
    coords = spacing * (torch.arange(n_side, dtype=torch.float64) - (n_side - 1) / 2.0)   # (n_side,)
    gx, gy = torch.meshgrid(coords, coords, indexing="ij")
    means = torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=1)                        # (n_side**2, 2)
    return GaussianMixture2D(means.to(torch.get_default_dtype()), std)


# ----------------------------------------------------------------------------------------------------------------------
# Mode coverage (VEEGAN / PacGAN)
# ----------------------------------------------------------------------------------------------------------------------
def mode_coverage(samples: Tensor, mixture: GaussianMixture2D | GaussianMixture1D, n_std: float = 3.0,
                  min_count: int = 1) -> dict[str, Any]:
    r"""How many modes of a known mixture a set of generated samples covers, and how many samples are good.

    Each sample :math:`\mathbf x_i` is assigned to the mode with the smallest standardised distance
    :math:`d_{ik} = \lVert \mathbf x_i - \boldsymbol\mu_k \rVert / \sigma_k` (the Euclidean nearest mode when all
    :math:`\sigma_k` are equal), :math:`k_i = \arg\min_k d_{ik}`. It is *high quality* when
    :math:`d_{i k_i} \le n_\text{std}`. Then

    .. math::
        c_k = \#\{i : k_i = k,\ d_{ik_i} \le n_\text{std}\}, \quad
        \text{modes covered} = \#\{k : c_k \ge \text{min\_count}\}, \quad
        \text{high-quality fraction} = \tfrac1N \textstyle\sum_k c_k.

    This is the metric of VEEGAN (Srivastava et al. 2017) and PacGAN (Lin et al. 2018), both with :math:`n_\text{std}=3`
    and ``min_count = 1``. Non-finite samples (a diverged generator) count as low quality. Vectorised: memory
    :math:`O(NK)`.

    Args:
        samples: ``(N, 2)`` points for a :class:`GaussianMixture2D`; ``(N,)`` or ``(N, 1)`` for a
            :class:`GaussianMixture1D`.
        mixture: the true distribution.
        n_std: the quality radius in standard deviations (> 0).
        min_count: a mode counts as covered once it has at least this many high-quality samples (>= 1).

    Returns:
        dict with ``modes_covered`` (int), ``n_modes`` (int, K), ``high_quality_fraction`` (float in [0, 1]),
        ``counts`` (int64 ``(K,)`` high-quality samples per mode, on ``samples``' device).
    """
    if not isinstance(samples, Tensor):
        raise TypeError(f"samples must be a torch.Tensor, got {type(samples).__name__}.")
    if isinstance(mixture, GaussianMixture2D):
        if samples.dim() != 2 or samples.shape[1] != 2:
            raise ValueError(f"samples must have shape (N, 2) for a 2-D mixture, got {tuple(samples.shape)}.")
        modes = mixture.means                                          # (K, 2)
    elif isinstance(mixture, GaussianMixture1D):
        if samples.dim() == 1:
            samples = samples.unsqueeze(1)
        if samples.dim() != 2 or samples.shape[1] != 1:
            raise ValueError(f"samples must have shape (N,) or (N, 1) for a 1-D mixture, got {tuple(samples.shape)}.")
        modes = mixture.means.unsqueeze(1)                             # (K, 1)
    else:
        raise TypeError(f"mixture must be a GaussianMixture2D or GaussianMixture1D, got {type(mixture).__name__}.")
    if samples.shape[0] == 0:
        raise ValueError("samples is empty: mode coverage needs at least one sample.")
    if isinstance(n_std, bool) or not isinstance(n_std, (int, float)) or not math.isfinite(n_std) or n_std <= 0:
        raise ValueError(f"n_std must be a finite number > 0, got {n_std!r}.")
    if isinstance(min_count, bool) or not isinstance(min_count, int) or min_count < 1:
        raise ValueError(f"min_count must be an int >= 1, got {min_count!r}.")

    x = samples.detach()
    dtype = x.dtype if x.is_floating_point() else torch.get_default_dtype()
    x = x.to(dtype)
    mu = modes.to(device=x.device, dtype=dtype)
    sigma = mixture.stds.to(device=x.device, dtype=dtype)
    k = mu.shape[0]
    # d_ik = ||x_i - mu_k|| / sigma_k                                 # (N, K)
    d = torch.linalg.vector_norm(x.unsqueeze(1) - mu.unsqueeze(0), dim=-1) / sigma
    d = torch.nan_to_num(d, nan=math.inf)                              # a NaN sample is nowhere near any mode
    d_min, nearest = d.min(dim=1)                                      # (N,), (N,)
    good = d_min <= n_std                                              # (N,) bool
    counts = torch.bincount(nearest[good], minlength=k)                # (K,) int64
    return {
        "modes_covered": int((counts >= min_count).sum().item()),
        "n_modes": k,
        "high_quality_fraction": float(good.to(torch.float64).mean().item()),
        "counts": counts,
    }
