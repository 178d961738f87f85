r"""The Adversarial Autoencoder (Makhzani et al., ICLR workshop 2016): an autoencoder whose *code* distribution
:math:`q(z) = \int q(z \mid x)\, p_d(x)\, dx` is matched to a prior :math:`p(z)` by a GAN on the codes.

Two phases per minibatch (Section 2 of the paper), here the two players of the one trainer:

* **reconstruction and regularisation** (the "generator" side: encoder and decoder),
  :math:`L_G = \| x - \mathrm{dec}(\mathrm{enc}(x)) \|^2 + \lambda\, \ell_G(D(\mathrm{enc}(x)))`;
* **the code discriminator**, :math:`L_D = \ell_D(D(z_{\text{prior}}), D(\mathrm{enc}(x)))`, samples of the prior
  being the "real" codes (here the trainer's own noise :math:`z \sim \mathcal N(0, I)`).

After training, :math:`\mathrm{dec}(z)` with :math:`z \sim p(z)` generates (:meth:`AAEObjective.sample`).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from course_lib.gan.conditional import _float_tensor, _int, _SampleZ
from course_lib.registry import register_model
from course_lib.train.objective import Objective

__all__ = ["AAEEncoder", "AAEDecoder", "LatentDiscriminator", "AdversarialAutoencoder", "AAEObjective"]


def _mlp(sizes: list[int], out_act: nn.Module | None = None) -> nn.Sequential:
    layers: list[nn.Module] = []
    for a, b in zip(sizes[:-2], sizes[1:-1]):
        layers += [nn.Linear(a, b), nn.LeakyReLU(0.2)]
    layers.append(nn.Linear(sizes[-2], sizes[-1]))
    if out_act is not None:
        layers.append(out_act)
    return nn.Sequential(*layers)


def _example_x(model: nn.Module, n: int) -> Tensor:
    return torch.rand(n, *model.in_shape, generator=torch.Generator().manual_seed(0)) * 2 - 1


def _example_z(model: nn.Module, n: int) -> Tensor:
    return torch.randn(n, model.z_dim, generator=torch.Generator().manual_seed(0))


@register_model("aae_encoder", kind="encoder", example_kwargs={"in_shape": (1, 6, 6), "z_dim": 4, "hidden": 16},
                example_input=_example_x, expected_shape=lambda m, n: (n, m.z_dim))
class AAEEncoder(nn.Module):
    """Deterministic encoder :math:`q(z \\mid x) = \\delta(z - \\mathrm{enc}(x))`: MLP ``(N, *in_shape) -> (N, z_dim)``."""

    def __init__(self, in_shape: tuple[int, ...] = (1, 28, 28), z_dim: int = 8, hidden: int = 256) -> None:
        super().__init__()
        self.in_shape, self.z_dim = tuple(in_shape), _int(z_dim, "z_dim")
        self.net = _mlp([math.prod(self.in_shape), hidden, hidden, z_dim])

    def forward(self, x: Tensor) -> Tensor:
        return self.net(_float_tensor(x, "x").flatten(1))


@register_model("aae_decoder", kind="generator", example_kwargs={"out_shape": (1, 6, 6), "z_dim": 4, "hidden": 16},
                example_input=_example_z, expected_shape=lambda m, n: (n, *m.out_shape))
class AAEDecoder(_SampleZ, nn.Module):
    """Decoder (the generator): MLP ``(N, z_dim) -> (N, *out_shape)``, ``tanh`` output."""

    def __init__(self, out_shape: tuple[int, ...] = (1, 28, 28), z_dim: int = 8, hidden: int = 256) -> None:
        super().__init__()
        self.out_shape, self.z_dim = tuple(out_shape), _int(z_dim, "z_dim")
        self.net = _mlp([z_dim, hidden, hidden, math.prod(self.out_shape)], nn.Tanh())

    def forward(self, z: Tensor) -> Tensor:
        z = _float_tensor(z, "z", (2,))
        return self.net(z).view(z.shape[0], *self.out_shape)


@register_model("latent_discriminator", kind="discriminator", example_kwargs={"z_dim": 4, "hidden": 16},
                example_input=_example_z, expected_shape=lambda m, n: (n,))
class LatentDiscriminator(nn.Module):
    """A discriminator on codes: MLP ``(N, z_dim) -> (N,)`` logits (prior sample vs encoded image)."""

    def __init__(self, z_dim: int = 8, hidden: int = 128) -> None:
        super().__init__()
        self.z_dim = _int(z_dim, "z_dim")
        self.net = _mlp([z_dim, hidden, hidden, 1])

    def forward(self, z: Tensor) -> Tensor:
        return self.net(_float_tensor(z, "z", (2,))).squeeze(1)


class AdversarialAutoencoder(nn.Module):
    """The "generator" side of the trainer: ``encoder`` and ``decoder`` in one module (one optimizer).
    ``forward(z)`` decodes (so ``G.z_dim`` and ``G(z)`` behave as for any generator); ``reconstruct(x)``."""

    def __init__(self, encoder: AAEEncoder, decoder: AAEDecoder) -> None:
        super().__init__()
        if encoder.z_dim != decoder.z_dim:
            raise ValueError(f"encoder and decoder disagree on z_dim ({encoder.z_dim} vs {decoder.z_dim}).")
        self.encoder, self.decoder, self.z_dim = encoder, decoder, decoder.z_dim

    def forward(self, z: Tensor) -> Tensor:
        return self.decoder(z)

    def reconstruct(self, x: Tensor) -> Tensor:
        return self.decoder(self.encoder(x))


class AAEObjective(Objective):
    r"""The AAE's two phases for the one trainer (``G`` an :class:`AdversarialAutoencoder`, ``D`` a
    :class:`LatentDiscriminator`); the trainer's ``z`` are the prior samples. ``adv_weight`` is :math:`\lambda`."""

    def __init__(self, adv_weight: float = 1.0) -> None:
        self.adv_weight = float(adv_weight)

    @staticmethod
    def _x(batch) -> Tensor:
        return batch[0] if isinstance(batch, (tuple, list)) else batch

    def d_loss(self, G, D, batch, z):
        codes = G.encoder(self._x(batch))
        real, fake = D(z), D(codes)
        return F.softplus(-real).mean() + F.softplus(fake).mean(), {"d_prior": real.mean(), "d_code": fake.mean()}

    def g_loss(self, G, D, batch, z):
        x = self._x(batch)
        codes = G.encoder(x)
        recon = F.mse_loss(G.decoder(codes), x)
        adv = F.softplus(-D(codes)).mean()
        return recon + self.adv_weight * adv, {"recon": recon.detach()}


# ----------------------------------------------------------------------------------------------------------------
# GAN zoo (Appendix A)
# ----------------------------------------------------------------------------------------------------------------
def _aae_recipe(steps: int, seed: int, device):
    from course_lib.gan.conditional import digits8_with_labels, zoo_trainer

    torch.manual_seed(seed)
    x, _ = digits8_with_labels()
    G = AdversarialAutoencoder(AAEEncoder((1, 8, 8), z_dim=8, hidden=128), AAEDecoder((1, 8, 8), z_dim=8, hidden=128))
    D = LatentDiscriminator(z_dim=8, hidden=64)
    return zoo_trainer(G, D, x, AAEObjective(), steps=steps, seed=seed, device=device, z_dim=8, lr_g=1e-3)


def _register_zoo() -> None:
    from course_lib.gan.conditional import CHAPTER
    from course_lib.zoo import ZooEntry, register_variant

    name = "course_lib.gan.aae."
    register_variant(ZooEntry(
        "aae", "Adversarial Autoencoder", "An autoencoder whose code distribution is matched to a prior by a "
        "discriminator on the codes instead of a KL term.",
        r"\min_{\text{enc},\text{dec}}\ \mathbb E\lVert x - \text{dec}(\text{enc}(x))\rVert^2,\quad "
        r"\min_{\text{enc}}\max_D\ \mathbb E_{z\sim p(z)}[\log D(z)] + \mathbb E_x[\log(1 - D(\text{enc}(x)))]",
        ("makhzani2016aae",),
        (name + "AAEEncoder", name + "AAEDecoder", name + "LatentDiscriminator", name + "AAEObjective"),
        CHAPTER, _aae_recipe))


_register_zoo()
