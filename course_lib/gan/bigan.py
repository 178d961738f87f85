r"""A small BiGAN (Donahue, Krähenbühl and Darrell 2017; ALI, Dumoulin et al. 2017, is the same game): an encoder
:math:`E` trained beside the generator, and a discriminator on *pairs*,

.. math::

    \min_{G, E}\max_D\; \mathbb E_{x}\big[\log D(x, E(x))\big] + \mathbb E_{z}\big[\log(1 - D(G(z), z))\big].

At the optimum the two joint distributions of :math:`(x, E(x))` and :math:`(G(z), z)` are equal, and Donahue et al.
show that :math:`E = G^{-1}` then (almost everywhere). BigBiGAN (Donahue and Simonyan 2019) uses a BigGAN generator,
a ResNet encoder and extra unary terms; O-GAN (Su 2019) reads the encoder off the discriminator. Both are explained
on the chapter's page; this module is the runnable core: MLPs on flattened images, trained with the one trainer
through :class:`BiGANObjective` (``E`` lives in ``G``'s module, so one optimizer updates both).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from course_lib.gan.models import MLPGenerator
from course_lib.registry import register_model
from course_lib.train.objective import Objective

__all__ = ["BiGANGenerator", "BiGANDiscriminator", "BiGANObjective"]


def _int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}.")
    if value <= 0:
        raise ValueError(f"{name} must be > 0, got {value}.")
    return value


def _mlp(sizes: list[int], out_act: nn.Module | None) -> nn.Sequential:
    layers: list[nn.Module] = []
    for k in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[k], sizes[k + 1]))
        if k < len(sizes) - 2:
            layers.append(nn.LeakyReLU(0.2))
    if out_act is not None:
        layers.append(out_act)
    return nn.Sequential(*layers)


@register_model(
    "bigan_generator",
    kind="generator",
    example_kwargs={"z_dim": 8, "image_shape": (1, 8, 8), "hidden": 32},
    example_input=lambda model, n: torch.randn(n, model.z_dim),
    expected_shape=lambda model, n: (n, *model.image_shape),
)
class BiGANGenerator(nn.Module):
    """The generator ``G: z -> x`` (tanh output, shape ``image_shape``) and the encoder ``E: x -> z`` of a BiGAN.
    ``forward(z)`` is ``G``; :meth:`encode` is ``E``."""

    def __init__(self, z_dim: int = 16, image_shape: tuple[int, ...] = (1, 8, 8), hidden: int = 128) -> None:
        super().__init__()
        self.z_dim, self.image_shape = _int(z_dim, "z_dim"), tuple(int(s) for s in image_shape)
        self.x_dim = int(torch.tensor(self.image_shape).prod())
        self.generator = _mlp([z_dim, _int(hidden, "hidden"), hidden, self.x_dim], nn.Tanh())
        self.encoder = _mlp([self.x_dim, hidden, hidden, z_dim], None)

    def forward(self, z: Tensor) -> Tensor:
        if not isinstance(z, Tensor) or z.dim() != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"z must be a Tensor of shape (N, {self.z_dim}).")
        return self.generator(z).view(z.shape[0], *self.image_shape)

    # z ~ N(0, I), shape (n, z_dim), on the model's device: the MLP generator's method, shared
    sample_z = MLPGenerator.sample_z

    def encode(self, x: Tensor) -> Tensor:
        """``E(x)``: ``(N, *image_shape) -> (N, z_dim)``."""
        if not isinstance(x, Tensor) or tuple(x.shape[1:]) != self.image_shape:
            raise ValueError(f"x must be a Tensor of shape (N, {', '.join(map(str, self.image_shape))}).")
        return self.encoder(x.reshape(x.shape[0], -1))


@register_model(
    "bigan_discriminator",
    kind="discriminator",
    example_kwargs={"z_dim": 8, "image_shape": (1, 8, 8), "hidden": 32},
    example_input=lambda model, n: torch.randn(n, model.x_dim + model.z_dim),
    expected_shape=lambda model, n: (n,),
)
class BiGANDiscriminator(nn.Module):
    """The joint discriminator ``D(x, z)``: an MLP on ``[x flattened, z]`` with dropout 0.2, one logit per pair.
    ``forward(x, z)``, or ``forward(pairs)`` with the pairs already concatenated ``(N, x_dim + z_dim)``."""

    def __init__(self, z_dim: int = 16, image_shape: tuple[int, ...] = (1, 8, 8), hidden: int = 128) -> None:
        super().__init__()
        self.z_dim, self.image_shape = _int(z_dim, "z_dim"), tuple(int(s) for s in image_shape)
        self.x_dim = int(torch.tensor(self.image_shape).prod())
        self.net = nn.Sequential(nn.Linear(self.x_dim + z_dim, _int(hidden, "hidden")), nn.LeakyReLU(0.2),
                                 nn.Dropout(0.2), nn.Linear(hidden, hidden), nn.LeakyReLU(0.2), nn.Dropout(0.2),
                                 nn.Linear(hidden, 1))

    def forward(self, x: Tensor, z: Tensor | None = None) -> Tensor:
        pairs = x if z is None else torch.cat([x.reshape(x.shape[0], -1), z], dim=1)
        if pairs.dim() != 2 or pairs.shape[1] != self.x_dim + self.z_dim:
            raise ValueError(f"pairs must have shape (N, {self.x_dim + self.z_dim}) (x flattened, then z).")
        return self.net(pairs).squeeze(1)


class BiGANObjective(Objective):
    r"""BiGAN's game for the one trainer, with the non-saturating form for ``G`` and ``E`` (labels flipped):
    :math:`L_D = \mathrm{BCE}(D(x, E(x)), 1) + \mathrm{BCE}(D(G(z), z), 0)`,
    :math:`L_{G,E} = \mathrm{BCE}(D(x, E(x)), 0) + \mathrm{BCE}(D(G(z), z), 1)`. ``G`` is a :class:`BiGANGenerator`
    (holding ``E``)."""

    def d_loss(self, G: nn.Module, D: nn.Module, batch: Any, z: Tensor) -> tuple[Tensor, dict[str, float]]:
        x = batch[0] if isinstance(batch, (tuple, list)) else batch
        real, fake = D(x, G.encode(x)), D(G(z), z)
        loss = F.softplus(-real).mean() + F.softplus(fake).mean()
        return loss, {"d_real": torch.sigmoid(real).mean().item(), "d_fake": torch.sigmoid(fake).mean().item()}

    def g_loss(self, G: nn.Module, D: nn.Module, batch: Any, z: Tensor) -> tuple[Tensor, dict[str, float]]:
        x = batch[0] if isinstance(batch, (tuple, list)) else batch
        real, fake = D(x, G.encode(x)), D(G(z), z)
        loss = F.softplus(real).mean() + F.softplus(-fake).mean()
        with torch.no_grad():
            recon = (G(G.encode(x)) - x).abs().mean().item()
        return loss, {"recon_l1": recon}


def zoo_recipe(steps: int, seed: int, device: Any) -> Any:
    """The fast recipe of the Appendix A card: the one trainer on the 8x8 digits (CPU, a few seconds)."""
    from course_lib.data.digits import load_digits_8x8
    from course_lib.train import AdversarialTrainer, TrainerConfig

    x, _ = load_digits_8x8(verbose=False)
    G, D = BiGANGenerator(16, (1, 8, 8), 64), BiGANDiscriminator(16, (1, 8, 8), 64)
    config = TrainerConfig(steps=steps, batch_size=64, z_dim=16, lr_g=2e-4, lr_d=2e-4, betas=(0.5, 0.999),
                           seed=seed, log_every=max(1, steps // 20), sample_every=0, progress=False, amp="off")
    return AdversarialTrainer(G, D, x, config, objective=BiGANObjective(), device=device)


def _register_zoo() -> None:
    from course_lib.zoo import ZooEntry, register_variant

    register_variant(ZooEntry(
        "bigan", "BiGAN",
        "An encoder trained beside the generator and a discriminator on (image, latent) pairs make the encoder "
        "invert the generator.",
        r"\min_{G,E}\max_D\; \mathbb E_x \log D(x, E(x)) + \mathbb E_z \log\big(1 - D(G(z), z)\big)",
        ("donahue2017bigan",),
        ("course_lib.gan.bigan.BiGANGenerator", "course_lib.gan.bigan.BiGANDiscriminator",
         "course_lib.gan.bigan.BiGANObjective"),
        "chapters/08_attention_and_scale/theory",
        zoo_recipe,
    ))


_register_zoo()
