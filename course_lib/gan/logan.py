r"""LOGAN's latent optimisation (Wu et al. 2019, "LOGAN: Latent Optimisation for Generative Adversarial Networks").

Before a sample is used, its latent is moved one step uphill on the discriminator's score
:math:`f(z) = D(G(z))`, with :math:`g = \nabla_z f(z)` per sample:

- plain gradient ascent: :math:`\Delta z = \alpha\, g`;
- natural gradient (LOGAN's preferred form, a Gauss-Newton approximation for a scalar output):
  :math:`\Delta z = \dfrac{\alpha}{\beta + \lVert g\rVert^2}\, g`, whose damping :math:`\beta` keeps the step bounded
  (:math:`\lVert\Delta z\rVert \le \alpha / (2\sqrt\beta)`) where the plain step would explode.

LOGAN was inspired by CS-GAN (Wu, Rosca and Lillicrap 2019, "Deep compressed sensing"), which optimises latents
with gradient steps inside training; it is not related to the cyclic CSGAN of chapter 11. In training, LOGAN feeds
:math:`z' = z + \Delta z` to both losses; :func:`latent_step` returns :math:`z'` detached (no gradient through the
step), the simpler of the paper's options.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

__all__ = ["latent_gradient", "latent_step", "step_report"]


def _number(value: object, name: str, positive: bool = True) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}.")
    if value < 0 or (positive and value == 0):
        raise ValueError(f"{name} must be {'> 0' if positive else '>= 0'}, got {value}.")
    return float(value)


def latent_gradient(G: nn.Module, D: nn.Module, z: Tensor, y: Tensor | None = None) -> tuple[Tensor, Tensor]:
    r"""``(scores (N,), g (N, z_dim))``: :math:`f(z_n) = D(G(z_n))` and :math:`\nabla_{z_n} f(z_n)` (the sum's gradient;
    per sample as long as the networks treat samples independently, e.g. batch norm in eval mode). With ``y`` the
    networks are called ``G(z, y)``, ``D(x, y)``. The networks' parameters get no gradient."""
    if not isinstance(G, nn.Module) or not isinstance(D, nn.Module):
        raise TypeError("G and D must be nn.Modules.")
    if not isinstance(z, Tensor) or z.dim() != 2 or not z.is_floating_point():
        raise ValueError("z must be a floating Tensor of shape (N, z_dim).")
    z = z.detach().requires_grad_(True)
    with torch.enable_grad():
        x = G(z) if y is None else G(z, y)
        scores = D(x) if y is None else D(x, y)
        scores = scores.reshape(z.shape[0], -1).sum(dim=1)
        (g,) = torch.autograd.grad(scores.sum(), z)
    return scores.detach(), g


def latent_step(G: nn.Module, D: nn.Module, z: Tensor, y: Tensor | None = None, *, step_size: float = 0.9,
                natural: bool = True, damping: float = 5.0, clip: float | None = None) -> Tensor:
    r"""One LOGAN step, :math:`z' = z + \Delta z` (detached), ``(N, z_dim)``.

    Args:
        G, D: the networks (called as in :func:`latent_gradient`).
        z: latents ``(N, z_dim)``; ``y``: labels for conditional networks.
        step_size: :math:`\alpha` (0.9 and damping 5 are this course's defaults for its small models).
        natural: the natural-gradient step :math:`\alpha g / (\beta + \lVert g\rVert^2)`; ``False``: :math:`\alpha g`.
        damping: :math:`\beta` of the natural-gradient step.
        clip: if given, :math:`z'` is clamped to ``[-clip, clip]`` (for latents drawn from a bounded prior).
    """
    a = _number(step_size, "step_size")
    b = _number(damping, "damping", positive=natural)
    _, g = latent_gradient(G, D, z, y)
    if natural:
        delta = a * g / (b + g.square().sum(dim=1, keepdim=True))
    else:
        delta = a * g
    out = z.detach() + delta
    if clip is not None:
        c = _number(clip, "clip")
        out = out.clamp(-c, c)
    return out


def step_report(G: nn.Module, D: nn.Module, z: Tensor, y: Tensor | None = None, **kwargs: Any) -> dict[str, float]:
    """The mean score ``D(G(z))`` before and after one :func:`latent_step` and the mean step length, for a batch."""
    before, _ = latent_gradient(G, D, z, y)
    z2 = latent_step(G, D, z, y, **kwargs)
    after, _ = latent_gradient(G, D, z2, y)
    return {"score_before": float(before.mean()), "score_after": float(after.mean()),
            "step_norm": float((z2 - z).norm(dim=1).mean())}
