r"""SAGAN (Zhang et al. 2019) as one recipe: ResNet generator and discriminator with a self-attention block
(:class:`~course_lib.gan.attention.SelfAttention2d`), spectral norm in *both* networks, the hinge loss and the
two time-scale update rule (TTUR) with Adam.

The recipe (FACTS.md; Zhang et al. 2019, Section 5): hinge loss,

.. math::

    L_D = \mathbb E_x[\max(0, 1 - D(x))] + \mathbb E_z[\max(0, 1 + D(G(z)))],\qquad L_G = -\mathbb E_z[D(G(z))],

spectral norm on every convolution and linear layer of G and D, Adam with :math:`\beta = (0, 0.9)`, learning
rates :math:`4\cdot10^{-4}` for D and :math:`10^{-4}` for G, one D step per G step.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from course_lib.gan.attention import SelfAttention2d
from course_lib.gan.resnet_blocks import DBlock, GBlock
from course_lib.gan.spectral import apply_spectral_norm
from course_lib.registry import register_model

__all__ = ["SAGAN_RECIPE", "sagan_config", "SAGANGenerator", "SAGANDiscriminator"]

#: The paper's training settings (Zhang et al. 2019, Sec. 5; FACTS.md), as ``TrainerConfig`` fields.
SAGAN_RECIPE: dict[str, Any] = {"loss": "hinge", "lr_d": 4e-4, "lr_g": 1e-4, "betas": (0.0, 0.9), "n_critic": 1}


def sagan_config(**overrides: Any) -> Any:
    """A :class:`~course_lib.train.TrainerConfig` with :data:`SAGAN_RECIPE`, the other fields from ``overrides``
    (``steps``, ``batch_size``, ...; overriding a recipe field is allowed and should be said where it is done)."""
    from course_lib.train import TrainerConfig

    return TrainerConfig(**{**SAGAN_RECIPE, **overrides})


def _int(value: object, name: str, low: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}.")
    if value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}.")
    return value


def _widths(widths: Sequence[int] | int, n: int) -> list[int]:
    if isinstance(widths, int) and not isinstance(widths, bool):
        return [_int(widths, "widths")] * n
    ws = [_int(w, "widths") for w in widths]
    if len(ws) != n:
        raise ValueError(f"widths must be one int or {n} ints, got {len(ws)}.")
    return ws


def _bottom(resolution: int, n_blocks: int) -> int:
    _int(resolution, "resolution", 2)
    _int(n_blocks, "n_blocks")
    if resolution % (2 ** n_blocks):
        raise ValueError(f"resolution {resolution} is not divisible by 2**n_blocks = {2 ** n_blocks}.")
    return resolution // 2 ** n_blocks


def _example_z(model: nn.Module, batch_size: int) -> Tensor:
    return torch.randn(batch_size, model.z_dim)


def _example_images(model: nn.Module, batch_size: int) -> Tensor:
    return torch.randn(batch_size, model.channels, model.resolution, model.resolution)


@register_model(
    "sagan_generator",
    kind="generator",
    example_kwargs={"z_dim": 16, "channels": 1, "resolution": 8, "widths": 16, "n_blocks": 2},
    example_input=_example_z,
    expected_shape=lambda model, n: (n, model.channels, model.resolution, model.resolution),
)
class SAGANGenerator(nn.Module):
    r"""SAGAN's ResNet generator: ``z -> linear -> (w_0, r_0, r_0)``, ``n_blocks`` :class:`GBlock` (x2 each), the
    self-attention block after block ``attention_after`` (0-based; ``None``: none), then ``BN -> ReLU -> conv3x3 ->
    tanh``. ``r_0 = resolution / 2^{n_blocks}`` (28: 7 -> 14 -> 28). Spectral norm on every layer unless
    ``spectral_norm=False``.
    """

    def __init__(self, z_dim: int = 64, channels: int = 1, resolution: int = 28, widths: Sequence[int] | int = 32,
                 n_blocks: int = 2, attention_after: int | None = 0, spectral_norm: bool = True) -> None:
        super().__init__()
        self.z_dim, self.channels = _int(z_dim, "z_dim"), _int(channels, "channels")
        self.resolution, self.bottom = resolution, _bottom(resolution, n_blocks)
        w = _widths(widths, n_blocks + 1)
        if attention_after is not None and not 0 <= attention_after < n_blocks:
            raise ValueError(f"attention_after must be in [0, {n_blocks}) or None, got {attention_after}.")
        self.widths, self.attention_after = w, attention_after
        self.linear = nn.Linear(z_dim, w[0] * self.bottom ** 2)
        self.blocks = nn.ModuleList(GBlock(w[k], w[k + 1]) for k in range(n_blocks))
        self.attention = SelfAttention2d(w[attention_after + 1]) if attention_after is not None else None
        self.out_norm = nn.BatchNorm2d(w[-1])
        self.out_conv = nn.Conv2d(w[-1], channels, 3, padding=1)
        if spectral_norm:
            apply_spectral_norm(self)

    def forward(self, z: Tensor) -> Tensor:
        """``(N, z_dim) -> (N, channels, resolution, resolution)`` in [-1, 1]."""
        if not isinstance(z, Tensor) or z.dim() != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"z must be a Tensor of shape (N, {self.z_dim}), got "
                             f"{tuple(z.shape) if isinstance(z, Tensor) else type(z).__name__}.")
        h = self.linear(z).view(z.shape[0], self.widths[0], self.bottom, self.bottom)
        for k, block in enumerate(self.blocks):
            h = block(h)
            if k == self.attention_after:
                h = self.attention(h)
        return torch.tanh(self.out_conv(F.relu(self.out_norm(h))))

    def sample_z(self, n: int, generator: torch.Generator | None = None, device: Any = None) -> Tensor:
        """``z ~ N(0, I)``, shape ``(n, z_dim)``."""
        device = next(self.parameters()).device if device is None else device
        return torch.randn(n, self.z_dim, generator=generator, device=device)


@register_model(
    "sagan_discriminator",
    kind="discriminator",
    example_kwargs={"channels": 1, "resolution": 8, "widths": 16, "n_blocks": 2},
    example_input=_example_images,
    expected_shape=lambda model, n: (n,),
)
class SAGANDiscriminator(nn.Module):
    r"""SAGAN's ResNet discriminator: ``n_blocks`` downsampling :class:`DBlock` (the first without pre-activation),
    the self-attention block after block ``attention_after``, one more block at the same size, ReLU, a sum over
    positions and a linear logit: ``(N, C, r, r) -> (N,)``.

    With ``n_classes > 0`` it is a projection discriminator (Miyato & Koyama 2018, as in SAGAN's and BigGAN's
    class-conditional models): :math:`D(x, y) = \psi(\phi(x)) + \langle e_y, \phi(x)\rangle`, ``y`` int64 ``(N,)``;
    ``y=None`` leaves the projection term out. Spectral norm on every layer (the embedding too) unless
    ``spectral_norm=False``.
    """

    def __init__(self, channels: int = 1, resolution: int = 28, widths: Sequence[int] | int = 32, n_blocks: int = 2,
                 attention_after: int | None = 0, n_classes: int = 0, spectral_norm: bool = True) -> None:
        super().__init__()
        self.channels, self.resolution = _int(channels, "channels"), resolution
        _bottom(resolution, n_blocks)
        w = _widths(widths, n_blocks + 1)
        if attention_after is not None and not 0 <= attention_after < n_blocks:
            raise ValueError(f"attention_after must be in [0, {n_blocks}) or None, got {attention_after}.")
        self.n_classes = _int(n_classes, "n_classes", 0)
        self.widths, self.attention_after = w, attention_after
        ins = [channels] + w[:-1]
        self.blocks = nn.ModuleList(DBlock(ins[k], w[k], downsample=True, preactivation=k > 0)
                                    for k in range(n_blocks))
        self.attention = SelfAttention2d(w[attention_after]) if attention_after is not None else None
        self.last = DBlock(w[n_blocks - 1], w[n_blocks], downsample=False)
        self.linear = nn.Linear(w[-1], 1)
        self.embed = nn.Embedding(n_classes, w[-1]) if n_classes else None
        if spectral_norm:
            apply_spectral_norm(self, layer_types=(nn.Linear, nn.Conv2d, nn.Embedding))

    def features(self, x: Tensor) -> Tensor:
        r""":math:`\phi(x)`: ``(N, C, r, r) -> (N, w_last)``, the ReLU'd features summed over positions."""
        if not isinstance(x, Tensor) or x.dim() != 4 or x.shape[1] != self.channels:
            raise ValueError(f"x must be a Tensor of shape (N, {self.channels}, H, W), got "
                             f"{tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__}.")
        h = x
        for k, block in enumerate(self.blocks):
            h = block(h)
            if k == self.attention_after:
                h = self.attention(h)
        return F.relu(self.last(h)).sum(dim=(2, 3))

    def forward(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """Logits ``(N,)``; with ``y`` (int64 ``(N,)``) the projection term is added."""
        phi = self.features(x)
        out = self.linear(phi).squeeze(1)
        if y is not None:
            if self.embed is None:
                raise ValueError("this discriminator has no classes (n_classes=0); call it without y.")
            if not isinstance(y, Tensor) or y.dtype != torch.int64 or y.shape != (x.shape[0],):
                raise ValueError(f"y must be an int64 Tensor of shape ({x.shape[0]},).")
            out = out + (self.embed(y) * phi).sum(dim=1)
        return out


# ----------------------------------------------------------------------------------------------------------------------
# Appendix A: the zoo card and its fast recipe
# ----------------------------------------------------------------------------------------------------------------------
def _zoo_models(sample_shape: tuple[int, ...], z_dim: int) -> tuple[nn.Module, nn.Module]:
    c, size = sample_shape[0], sample_shape[-1]
    return (SAGANGenerator(z_dim, c, size, widths=16, n_blocks=2, attention_after=0),
            SAGANDiscriminator(c, size, widths=16, n_blocks=2, attention_after=0))


def _register_zoo() -> None:
    from course_lib.zoo import FastRecipe, ZooEntry, register_variant

    register_variant(ZooEntry(
        "sagan", "Self-attention GAN",
        "Self-attention blocks in both networks let distant parts of an image agree, with spectral norm in both "
        "networks, the hinge loss and two learning rates (TTUR).",
        r"\begin{aligned} y_j &= \gamma \textstyle\sum_i \operatorname{softmax}_i\big(f(x_i)^\top g(x_j)\big)\, h(x_i) "
        r"+ x_j,\quad \gamma_0 = 0, \\ L_D &= \mathbb E\max(0, 1 - D(x)) + \mathbb E\max(0, 1 + D(G(z))) "
        r"\end{aligned}",
        ("zhang2019sagan",),
        ("course_lib.gan.attention.SelfAttention2d", "course_lib.gan.sagan.SAGANGenerator",
         "course_lib.gan.sagan.SAGANDiscriminator", "course_lib.gan.sagan.sagan_config",
         "course_lib.gan.resnet_blocks.GBlock", "course_lib.gan.resnet_blocks.DBlock"),
        "chapters/08_attention_and_scale/theory",
        FastRecipe(_zoo_models, loss="hinge", steps=60, batch_size=32,
                   config={"lr_d": 4e-4, "lr_g": 1e-4, "betas": (0.0, 0.9)},
                   note="the paper's hinge loss, spectral norm and TTUR; ResNet blocks 16 wide, attention at 4x4 "
                        "on the 8x8 digits."),
    ))


_register_zoo()
