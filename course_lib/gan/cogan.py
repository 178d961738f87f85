r"""Coupled GANs (Liu & Tuzel, NeurIPS 2016): two GANs, one per domain, that share the weights of the generators'
first layers (the high-level semantics) and of the discriminators' last layers, so that without any paired data the
same :math:`z` gives a *corresponding* pair of images, one in each domain.

Plain API (chapter 11 reuses it):

* :class:`CoupledGenerators` ``(z) -> (N, 2, C, H, W)``: ``[:, 0]`` domain A, ``[:, 1]`` domain B; :meth:`pair`
  returns the two as a tuple.
* :class:`CoupledDiscriminators` ``(N, 2, C, H, W) -> (N, 2)``: the logit of each domain's discriminator on its own
  images.

Because both outputs are stacked along dimension 1, a CoGAN needs no objective of its own: the data are
``(N, 2, C, H, W)`` stacks of *unpaired* images (an image of A beside an unrelated image of B, :func:`unpaired_stack`)
and any GAN loss acts on the flattened ``(2N,)`` logits, i.e. the mean of the two GANs' losses
(:func:`cogan_losses`).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from course_lib.gan.conditional import _float_tensor, _int, _SampleZ
from course_lib.registry import register_model

__all__ = ["CoupledGenerators", "CoupledDiscriminators", "unpaired_stack", "cogan_losses"]


def _example_z(model: nn.Module, n: int) -> Tensor:
    return torch.randn(n, model.z_dim, generator=torch.Generator().manual_seed(0))


def _example_pairs(model: nn.Module, n: int) -> Tensor:
    return torch.rand(n, 2, *model.in_shape, generator=torch.Generator().manual_seed(0)) * 2 - 1


@register_model("cogan_generators", kind="generator",
                example_kwargs={"z_dim": 8, "out_shape": (1, 6, 6), "hidden": 16},
                example_input=_example_z, expected_shape=lambda m, n: (n, 2, *m.out_shape))
class CoupledGenerators(_SampleZ, nn.Module):
    r"""Shared trunk :math:`h = \mathrm{trunk}(z)` (two ``Linear -> BN -> LReLU`` layers), then one head per domain
    (``Linear -> BN -> LReLU -> Linear -> tanh``): :math:`(g_A(h), g_B(h))`. Shapes ``(N, z_dim) -> (N, 2, *out)``."""

    def __init__(self, z_dim: int = 32, out_shape: tuple[int, ...] = (1, 28, 28), hidden: int = 256) -> None:
        super().__init__()
        self.z_dim, self.out_shape = _int(z_dim, "z_dim"), tuple(out_shape)
        bn = lambda c: nn.BatchNorm1d(c, eps=1e-5, momentum=0.1)  # noqa: E731
        self.shared = nn.Sequential(nn.Linear(z_dim, hidden, bias=False), bn(hidden), nn.LeakyReLU(0.2),
                                    nn.Linear(hidden, hidden, bias=False), bn(hidden), nn.LeakyReLU(0.2))
        self.heads = nn.ModuleList(
            nn.Sequential(nn.Linear(hidden, 2 * hidden, bias=False), bn(2 * hidden), nn.LeakyReLU(0.2),
                          nn.Linear(2 * hidden, math.prod(self.out_shape)), nn.Tanh()) for _ in range(2))

    def pair(self, z: Tensor) -> tuple[Tensor, Tensor]:
        """``(x_A, x_B)``, each ``(N, *out_shape)``."""
        z = _float_tensor(z, "z", (2,))
        if z.shape[1] != self.z_dim:
            raise ValueError(f"z must have shape (N, {self.z_dim}), got {tuple(z.shape)}.")
        h = self.shared(z)
        a, b = (head(h).view(z.shape[0], *self.out_shape) for head in self.heads)
        return a, b

    def forward(self, z: Tensor) -> Tensor:
        return torch.stack(self.pair(z), dim=1)  # (N, 2, *out_shape)


@register_model("cogan_discriminators", kind="discriminator", example_kwargs={"in_shape": (1, 6, 6), "hidden": 16},
                example_input=_example_pairs, expected_shape=lambda m, n: (n, 2))
class CoupledDiscriminators(nn.Module):
    r"""One input layer per domain (``Linear -> LReLU``), then shared layers (``Linear -> LReLU -> Linear``) to a
    logit: :math:`(D_A(x_A), D_B(x_B)) = (s(f_A(x_A)), s(f_B(x_B)))`. Shapes ``(N, 2, *in_shape) -> (N, 2)``."""

    def __init__(self, in_shape: tuple[int, ...] = (1, 28, 28), hidden: int = 256) -> None:
        super().__init__()
        self.in_shape = tuple(in_shape)
        self.inputs = nn.ModuleList(nn.Sequential(nn.Linear(math.prod(self.in_shape), hidden), nn.LeakyReLU(0.2))
                                    for _ in range(2))
        self.shared = nn.Sequential(nn.Linear(hidden, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, 1))

    def forward(self, x: Tensor) -> Tensor:
        x = _float_tensor(x, "x")
        if tuple(x.shape[1:]) != (2, *self.in_shape):
            raise ValueError(f"x must have shape (N, 2, {', '.join(map(str, self.in_shape))}), got {tuple(x.shape)}.")
        logits = [self.shared(f(x[:, d].flatten(1))) for d, f in enumerate(self.inputs)]
        return torch.cat(logits, dim=1)  # (N, 2)


def unpaired_stack(a: Tensor, b: Tensor, seed: int = 0) -> Tensor:
    """``(N, 2, ...)``: each image of ``a`` beside a *random, unrelated* image of ``b`` (a fixed permutation from
    ``seed``), so that no correspondence is given. ``a`` and ``b`` must have the same shape."""
    a, b = _float_tensor(a, "a"), _float_tensor(b, "b")
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}.")
    perm = torch.randperm(b.shape[0], generator=torch.Generator().manual_seed(seed))
    return torch.stack([a, b[perm.to(b.device)]], dim=1)


def cogan_losses(D: nn.Module, real: Tensor | None, fake: Tensor, loss: object = "non_saturating"
                 ) -> tuple[Tensor | None, Tensor]:
    r"""``(L_D, L_G)`` of the two coupled GANs: a registered GAN loss on the flattened ``(2N,)`` logits of
    ``D(real)`` and ``D(fake)`` (``(N, 2, ...)`` stacks), i.e. :math:`\tfrac12 (L^A + L^B)`. ``real=None``: only
    :math:`L_G` (``L_D`` is ``None``)."""
    from course_lib.gan.losses import get_gan_loss

    pair = get_gan_loss(loss)
    fake_logits = D(fake).reshape(-1)  # (N, 2) -> (2N,): both domains' logits
    if real is None:
        return None, pair.g_loss(fake_logits, None)
    return pair.d_loss(D(real).reshape(-1), fake_logits), pair.g_loss(fake_logits, None)


# ----------------------------------------------------------------------------------------------------------------
# GAN zoo (Appendix A)
# ----------------------------------------------------------------------------------------------------------------
class _SideBySide(nn.Module):
    """For sample grids: ``G(z)`` as each pair side by side, ``(N, C, H, 2W)`` (domain A left, B right)."""

    def __init__(self, G: CoupledGenerators) -> None:
        super().__init__()
        self.G = G

    def forward(self, z: Tensor) -> Tensor:
        a, b = self.G.pair(z)
        return torch.cat([a, b], dim=-1)


def _cogan_recipe(steps: int, seed: int, device):
    from course_lib.gan.conditional import digits8_with_labels, zoo_trainer
    from course_lib.train.objective import Objective

    class _PlainWithPairs(Objective):
        """The plain GAN loss on the (N, 2) logits; samples shown as side-by-side pairs."""

        def __init__(self) -> None:
            from course_lib.gan.losses import get_gan_loss

            self.loss = get_gan_loss("non_saturating")

        def d_loss(self, G, D, batch, z):
            return cogan_losses(D, batch, G(z), self.loss)[0], {}

        def g_loss(self, G, D, batch, z):
            return cogan_losses(D, None, G(z), self.loss)[1], {}

        def sample(self, G, z, batch=None):
            return _SideBySide(G)(z)

    torch.manual_seed(seed)
    x, _ = digits8_with_labels()
    data = unpaired_stack(x, -x, seed=seed)  # domain B: the negative digits (Liu & Tuzel's MNIST pair), unpaired
    return zoo_trainer(CoupledGenerators(16, (1, 8, 8), hidden=64), CoupledDiscriminators((1, 8, 8), hidden=128),
                       data, _PlainWithPairs(), steps=steps, seed=seed, device=device, z_dim=16)


def _register_zoo() -> None:
    from course_lib.gan.conditional import CHAPTER
    from course_lib.zoo import ZooEntry, register_variant

    name = "course_lib.gan.cogan."
    register_variant(ZooEntry(
        "cogan", "Coupled GAN", "Two GANs share the weights of their first generator layers and last discriminator "
        "layers, so they learn a joint distribution of two domains without paired data.",
        r"\min_{G_1,G_2}\max_{D_1,D_2}\; V(D_1, G_1) + V(D_2, G_2)\quad\text{(shared high-level layers)}",
        ("liu2016cogan",), (name + "CoupledGenerators", name + "CoupledDiscriminators", name + "unpaired_stack"),
        CHAPTER, _cogan_recipe))


_register_zoo()
