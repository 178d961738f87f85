r"""ClusterGAN (Mukherjee, Asnani, Lin & Kannan, AAAI 2019): a latent space that is a mixture of a continuous part
and a one-hot part, :math:`z = (z_n, z_c)` with :math:`z_n \sim \mathcal N(0, \sigma^2 I)` (:math:`\sigma = 0.1`)
and :math:`z_c` a one-hot vector of :math:`K` classes, and an encoder :math:`E` trained to invert the generator, so
that images *cluster* by :math:`z_c` and :math:`E` clusters real images.

Losses (Section 3 of the paper, the generator and encoder minimising together):

.. math::
    L_{G,E} = \ell_G(D(G(z))) + \beta_n \| z_n - E_n(G(z)) \|_2^2 + \beta_c\, \mathrm{CE}(E_c(G(z)), z_c),
    \qquad L_D = \ell_D(D(x), D(G(z)))

(:math:`\beta_n = \beta_c = 10` in the paper's MNIST runs). :func:`clustergan_latent` draws :math:`z`;
:class:`ClusterGANObjective` trains with the one trainer, ``G`` an ``nn.ModuleDict(generator=..., encoder=...)``.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from course_lib.gan.conditional import _float_tensor, _int
from course_lib.registry import register_model
from course_lib.train.objective import Objective

__all__ = ["clustergan_latent", "ClusterGANEncoder", "ClusterGANObjective", "ClusterGAN"]


def clustergan_latent(n: int, n_continuous: int, n_clusters: int, sigma: float = 0.1,
                      generator: torch.Generator | None = None, clusters: Tensor | None = None
                      ) -> tuple[Tensor, Tensor, Tensor]:
    """``(z (n, d + K), z_n (n, d), cluster labels (n,))``: :math:`z_n \\sim \\mathcal N(0, \\sigma^2 I)`, the one-hot
    :math:`z_c` of ``clusters`` (uniform draws when ``None``) concatenated after it."""
    _int(n, "n", 0)
    _int(n_continuous, "n_continuous")
    _int(n_clusters, "n_clusters")
    if not sigma > 0:
        raise ValueError(f"sigma must be > 0, got {sigma}.")
    c = torch.randint(n_clusters, (n,), generator=generator) if clusters is None else clusters.long().cpu()
    z_n = sigma * torch.randn(n, n_continuous, generator=generator)
    return torch.cat([z_n, F.one_hot(c, n_clusters).float()], 1), z_n, c


def _example_x(model: nn.Module, n: int) -> Tensor:
    return torch.rand(n, *model.in_shape, generator=torch.Generator().manual_seed(0)) * 2 - 1


@register_model("clustergan_encoder", kind="encoder",
                example_kwargs={"in_shape": (1, 6, 6), "n_continuous": 3, "n_clusters": 4, "hidden": 16},
                example_input=_example_x, expected_shape=lambda m, n: (n, m.n_continuous + m.n_clusters))
class ClusterGANEncoder(nn.Module):
    """MLP encoder ``(N, *in_shape) -> (N, d + K)``: the continuous estimate :math:`E_n` then the cluster logits
    :math:`E_c` (:meth:`split`)."""

    def __init__(self, in_shape: tuple[int, ...] = (1, 28, 28), n_continuous: int = 8, n_clusters: int = 10,
                 hidden: int = 256) -> None:
        super().__init__()
        self.in_shape = tuple(in_shape)
        self.n_continuous, self.n_clusters = _int(n_continuous, "n_continuous"), _int(n_clusters, "n_clusters")
        self.net = nn.Sequential(nn.Linear(math.prod(self.in_shape), hidden), nn.LeakyReLU(0.2),
                                 nn.Linear(hidden, hidden), nn.LeakyReLU(0.2),
                                 nn.Linear(hidden, n_continuous + n_clusters))

    def forward(self, x: Tensor) -> Tensor:
        return self.net(_float_tensor(x, "x").flatten(1))

    def split(self, out: Tensor) -> tuple[Tensor, Tensor]:
        return out[:, : self.n_continuous], out[:, self.n_continuous:]

    @torch.no_grad()
    def cluster(self, x: Tensor) -> Tensor:
        """The cluster of each image, ``argmax E_c(x)`` (int64 ``(N,)``)."""
        return self.split(self(x))[1].argmax(1)


class ClusterGAN(nn.Module):
    """The generator side: ``generator`` (any ``G(z)`` with ``z_dim = d + K``) and ``encoder`` in one module."""

    def __init__(self, generator: nn.Module, encoder: ClusterGANEncoder) -> None:
        super().__init__()
        if generator.z_dim != encoder.n_continuous + encoder.n_clusters:
            raise ValueError("the generator's z_dim must be n_continuous + n_clusters of the encoder.")
        self.generator, self.encoder, self.z_dim = generator, encoder, generator.z_dim

    def forward(self, z: Tensor) -> Tensor:
        return self.generator(z)


class ClusterGANObjective(Objective):
    r"""ClusterGAN's losses for the one trainer (``G`` a :class:`ClusterGAN`, ``D`` any ``D(x)``). The trainer's
    noise is ignored; the latent comes from :func:`clustergan_latent` on the objective's own stream."""

    def __init__(self, n_continuous: int, n_clusters: int, sigma: float = 0.1, beta_n: float = 10.0,
                 beta_c: float = 10.0, seed: int = 0) -> None:
        self.n_continuous, self.n_clusters, self.sigma = n_continuous, n_clusters, sigma
        self.beta_n, self.beta_c = float(beta_n), float(beta_c)
        self.generator = torch.Generator().manual_seed(seed)

    def state_dict(self) -> dict[str, Any]:
        return {"latent_rng": self.generator.get_state()}

    def load_state_dict(self, state) -> None:
        self.generator.set_state(state["latent_rng"])

    def _draw(self, n: int, like: Tensor):
        z, z_n, c = clustergan_latent(n, self.n_continuous, self.n_clusters, self.sigma, self.generator)
        return z.to(like), z_n.to(like), c.to(like.device)

    @staticmethod
    def _x(batch) -> Tensor:
        return batch[0] if isinstance(batch, (tuple, list)) else batch

    def d_loss(self, G, D, batch, z):
        x = self._x(batch)
        zz, _, _ = self._draw(x.shape[0], x)
        real, fake = D(x), D(G.generator(zz))
        return F.softplus(-real).mean() + F.softplus(fake).mean(), {}

    def g_loss(self, G, D, batch, z):
        x = self._x(batch)
        zz, z_n, c = self._draw(x.shape[0], x)
        fake = G.generator(zz)
        e_n, e_c = G.encoder.split(G.encoder(fake))
        rec_n, rec_c = (z_n - e_n).square().sum(1).mean(), F.cross_entropy(e_c, c)
        loss = F.softplus(-D(fake)).mean() + self.beta_n * rec_n + self.beta_c * rec_c
        return loss, {"rec_n": rec_n.detach(), "rec_c": rec_c.detach()}

    def sample(self, G, z, batch=None):
        n = z.shape[0] if z is not None else 64
        clusters = torch.arange(n) % self.n_clusters
        zz, _, _ = clustergan_latent(n, self.n_continuous, self.n_clusters, self.sigma,
                                     torch.Generator().manual_seed(0), clusters)
        p = next(G.parameters())
        return G.generator(zz.to(p))


# ----------------------------------------------------------------------------------------------------------------
# GAN zoo (Appendix A)
# ----------------------------------------------------------------------------------------------------------------
def _clustergan_recipe(steps: int, seed: int, device):
    from course_lib.gan.conditional import digits8_with_labels, zoo_trainer
    from course_lib.gan.models import MLPDiscriminator, MLPGenerator

    torch.manual_seed(seed)
    x, _ = digits8_with_labels()
    G = ClusterGAN(MLPGenerator(6 + 10, (1, 8, 8), hidden=(128, 128)),
                   ClusterGANEncoder((1, 8, 8), n_continuous=6, n_clusters=10, hidden=128))
    D = MLPDiscriminator((1, 8, 8), hidden=(128, 128))
    return zoo_trainer(G, D, x, ClusterGANObjective(6, 10, seed=seed), steps=steps, seed=seed, device=device,
                       z_dim=16)


def _register_zoo() -> None:
    from course_lib.gan.conditional import CHAPTER
    from course_lib.zoo import ZooEntry, register_variant

    name = "course_lib.gan.clustergan."
    register_variant(ZooEntry(
        "cluster_gan", "ClusterGAN", "A latent space mixing a one-hot and a continuous part, with an encoder "
        "trained to recover both, makes the generator's modes clusters of the data.",
        r"\min_{G,E}\max_D\; V(D, G) + \beta_n \mathbb E\lVert z_n - E(G(z))_n\rVert^2 + \beta_c\, "
        r"\mathbb E\, \mathrm{CE}(z_c, E(G(z))_c)",
        ("mukherjee2019clustergan",),
        (name + "clustergan_latent", name + "ClusterGANEncoder", name + "ClusterGANObjective"),
        CHAPTER, _clustergan_recipe))


_register_zoo()
