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

__all__ = ["latent_gradient", "latent_step", "step_report", "LOGANObjective", "zoo_recipe"]


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


# ----------------------------------------------------------------------------------------------------------------------
# Training with the latent step, and the Appendix A card
# ----------------------------------------------------------------------------------------------------------------------
from course_lib.train.objective import Objective  # noqa: E402


class LOGANObjective(Objective):
    r"""A GAN loss (``course_lib.gan.losses`` name, default hinge) on latents improved by one :func:`latent_step`:
    both networks see :math:`G(z')`, :math:`z' = z + \Delta z` (detached), as LOGAN trains them. The step runs with
    the networks as they are (in training mode), so batch norm couples the samples of a minibatch a little."""

    def __init__(self, loss: str = "hinge", step_size: float = 0.9, natural: bool = True, damping: float = 5.0) -> None:
        from course_lib.gan.losses import get_gan_loss

        self.loss = get_gan_loss(loss)
        self.kwargs = {"step_size": step_size, "natural": natural, "damping": damping}

    def d_loss(self, G: nn.Module, D: nn.Module, batch: Any, z: Tensor) -> tuple[Tensor, dict[str, float]]:
        real = batch[0] if isinstance(batch, (tuple, list)) else batch
        z2 = latent_step(G, D, z, **self.kwargs)
        real_logits, fake_logits = D(real), D(G(z2))
        return self.loss.d_loss(real_logits, fake_logits), {"step_norm": float((z2 - z).norm(dim=1).mean())}

    def g_loss(self, G: nn.Module, D: nn.Module, batch: Any, z: Tensor) -> tuple[Tensor, dict[str, float]]:
        z2 = latent_step(G, D, z, **self.kwargs)
        real = batch[0] if isinstance(batch, (tuple, list)) else batch
        return self.loss.g_loss(D(G(z2)), D(real)), {}


def zoo_recipe(steps: int, seed: int, device: Any) -> Any:
    """The fast recipe of the Appendix A card: SAGAN's small networks on the 8x8 digits, trained on latents moved by
    one natural-gradient step."""
    from course_lib.data.digits import load_digits_8x8
    from course_lib.gan.sagan import SAGANDiscriminator, SAGANGenerator
    from course_lib.train import AdversarialTrainer, TrainerConfig

    x, _ = load_digits_8x8(verbose=False)
    # the zoo's budget: spectral norm in D only, minibatches of 16 (each step costs two extra passes)
    G = SAGANGenerator(16, 1, 8, widths=8, n_blocks=1, attention_after=None, spectral_norm=False)
    D = SAGANDiscriminator(1, 8, widths=8, n_blocks=1, attention_after=None)
    config = TrainerConfig(steps=steps, batch_size=16, z_dim=16, lr_g=1e-4, lr_d=4e-4, betas=(0.0, 0.9), seed=seed,
                           log_every=max(1, steps // 20), sample_every=0, progress=False, amp="off")
    return AdversarialTrainer(G, D, x, config, objective=LOGANObjective(), device=device)


def _register_zoo() -> None:
    from course_lib.zoo import ZooEntry, register_variant

    register_variant(ZooEntry(
        "logan", "LOGAN",
        "Each latent is moved one (natural-)gradient step uphill on the discriminator's score before both networks "
        "use it.",
        r"z' = z + \frac{\alpha}{\beta + \lVert g\rVert^2}\, g,\quad g = \nabla_z D(G(z))",
        ("wu2019logan",),
        ("course_lib.gan.logan.latent_step", "course_lib.gan.logan.LOGANObjective"),
        "chapters/08_attention_and_scale/theory",
        zoo_recipe,
    ))


_register_zoo()
