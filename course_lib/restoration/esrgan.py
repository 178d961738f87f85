r"""ESRGAN (Wang et al. 2018): residual-in-residual dense blocks without batch norm, a relativistic average
discriminator, and the perceptual loss on features *before* the activation.

- :class:`DenseBlock`: five 3x3 convolutions, each seeing the block input and every earlier output (growth
  ``gc`` channels, LeakyReLU 0.2 after the first four), the last back to ``nf`` channels; the block returns
  :math:`x + \beta\, F(x)` with residual scaling :math:`\beta = 0.2`.
- :class:`RRDB`: three dense blocks in sequence, again :math:`x + \beta\, F(x)`.
- :class:`RRDBNet`: ``conv -> RRDB x nb -> conv, + skip -> (nearest x2 -> conv -> LReLU) x log2 r -> conv ->
  LReLU -> conv``. The paper: ``nf = 64``, ``nb = 23``, ``gc = 32``, :math:`r = 4`. There is **no batch norm**:
  Wang et al. found that it brings artifacts when train and test statistics differ.

The losses (paper, Section 3): :math:`L_G = L_{percep} + \lambda L_G^{Ra} + \eta L_1` with :math:`\lambda = 5
\cdot 10^{-3}`, :math:`\eta = 10^{-2}`; the relativistic average losses are
:func:`course_lib.gan.losses.d_loss_ragan` / :func:`~course_lib.gan.losses.g_loss_ragan` (reused, not rewritten);
the objective is :class:`course_lib.restoration.objectives.ESRGANObjective`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from course_lib.registry import register_model
from course_lib.restoration.srresnet import bicubic_residual_base, upsampling_steps

__all__ = ["DenseBlock", "RRDB", "RRDBNet", "ESRGAN_LAMBDA", "ESRGAN_ETA"]

#: Weight of the relativistic adversarial loss in ESRGAN's generator loss (Wang et al. 2018).
ESRGAN_LAMBDA = 5e-3
#: Weight of the L1 content loss in ESRGAN's generator loss.
ESRGAN_ETA = 1e-2


class DenseBlock(nn.Module):
    r"""Five densely connected 3x3 convolutions, :math:`x + \beta F(x)`: ``[B, nf, H, W] -> [B, nf, H, W]``."""

    def __init__(self, nf: int = 64, gc: int = 32, beta: float = 0.2) -> None:
        super().__init__()
        self.beta = beta
        self.convs = nn.ModuleList(nn.Conv2d(nf + i * gc, gc if i < 4 else nf, 3, padding=1) for i in range(5))

    def forward(self, x: Tensor) -> Tensor:
        feats = [x]
        for i, conv in enumerate(self.convs):
            out = conv(torch.cat(feats, dim=1))
            if i < 4:
                feats.append(F.leaky_relu(out, 0.2))
        return x + self.beta * out


class RRDB(nn.Module):
    r"""Residual in residual dense block: three :class:`DenseBlock` s, :math:`x + \beta F(x)`."""

    def __init__(self, nf: int = 64, gc: int = 32, beta: float = 0.2) -> None:
        super().__init__()
        self.beta = beta
        self.blocks = nn.Sequential(*[DenseBlock(nf, gc, beta) for _ in range(3)])

    def forward(self, x: Tensor) -> Tensor:
        return x + self.beta * self.blocks(x)


@register_model(
    "rrdbnet", kind="translator", example_kwargs={"nf": 8, "nb": 1, "gc": 4, "upscale": 4},
    example_input=lambda model, n: torch.rand(n, 3, 5, 6),
    expected_shape=lambda model, n: (n, 3, 20, 24),
)
class RRDBNet(nn.Module):
    r"""ESRGAN's generator: ``[B, C, H, W] -> [B, C, rH, rW]`` (no batch norm, nearest-neighbour upsampling + conv).

    Args:
        in_channels: image channels.
        nf: feature channels (64). nb: RRDB blocks (23). gc: growth channels (32). upscale: :math:`r` (4).
        bicubic_skip: learn the residual over bicubic upsampling, last convolution started at zero (not in the
            paper; see :class:`~course_lib.restoration.srresnet.SRResNet`).
    """

    def __init__(self, in_channels: int = 3, nf: int = 64, nb: int = 23, gc: int = 32, upscale: int = 4,
                 bicubic_skip: bool = False) -> None:
        super().__init__()
        self.upscale = upscale
        steps = upsampling_steps(upscale)
        self.conv_first = nn.Conv2d(in_channels, nf, 3, padding=1)
        self.body = nn.Sequential(*[RRDB(nf, gc) for _ in range(nb)])
        self.conv_body = nn.Conv2d(nf, nf, 3, padding=1)
        self.ups = nn.ModuleList(nn.Conv2d(nf, nf, 3, padding=1) for _ in range(steps))
        self.conv_hr = nn.Conv2d(nf, nf, 3, padding=1)
        self.conv_last = nn.Conv2d(nf, in_channels, 3, padding=1)
        self.bicubic_skip = bool(bicubic_skip)
        if self.bicubic_skip:
            nn.init.zeros_(self.conv_last.weight)
            nn.init.zeros_(self.conv_last.bias)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 4:
            raise ValueError(f"x must be [B, C, H, W], got {tuple(x.shape)}.")
        h = self.conv_first(x)
        h = h + self.conv_body(self.body(h))
        for conv in self.ups:
            h = F.leaky_relu(conv(F.interpolate(h, scale_factor=2, mode="nearest")), 0.2)
        out = self.conv_last(F.leaky_relu(self.conv_hr(h), 0.2))
        return out + bicubic_residual_base(x, self.upscale) if self.bicubic_skip else out
