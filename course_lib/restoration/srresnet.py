r"""SRResNet (Ledig et al. 2017, Figure 4, generator): the network SRGAN trains, first with the MSE alone.

``conv 9x9 (64) -> PReLU`` | ``B`` residual blocks ``conv 3x3 -> BN -> PReLU -> conv 3x3 -> BN, + skip`` |
``conv 3x3 -> BN, + the long skip`` | ``log2 r`` sub-pixel blocks ``conv 3x3 (256) -> PixelShuffle(2) -> PReLU`` |
``conv 9x9 -> 3 channels``. No pooling anywhere: every layer but the upsampling works at the low resolution, so
the cost is that of the small image. The paper uses :math:`B = 16`, 64 channels, :math:`r = 4`.

Images are ``[B, 3, H, W]`` in [0, 1] (the low-resolution input) and the output ``[B, 3, rH, rW]`` is linear
(clamp it to [0, 1] to show or score it).
"""

from __future__ import annotations

import math

import torch

import torch.nn.functional as F
from torch import Tensor, nn

from course_lib.registry import register_model
from course_lib.restoration.subpixel import SubPixelConv2d

__all__ = ["ResidualBlock", "SRResNet", "upsampling_steps", "bicubic_residual_base"]


def upsampling_steps(upscale: int) -> int:
    """Number of x2 sub-pixel blocks for ``upscale`` (a power of two: 2 -> 1, 4 -> 2, 8 -> 3)."""
    if isinstance(upscale, bool) or not isinstance(upscale, int):
        raise TypeError(f"upscale must be an int, got {type(upscale).__name__}.")
    if upscale < 2 or upscale & (upscale - 1):
        raise ValueError(f"upscale must be a power of two >= 2, got {upscale}.")
    return int(math.log2(upscale))


class ResidualBlock(nn.Module):
    """``x + BN(conv(PReLU(BN(conv(x)))))`` with 3x3 convolutions (batch norm optional: ``norm=False``)."""

    def __init__(self, channels: int, norm: bool = True) -> None:
        super().__init__()
        bn = (lambda: nn.BatchNorm2d(channels)) if norm else (lambda: nn.Identity())
        self.body = nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1), bn(), nn.PReLU(),
                                  nn.Conv2d(channels, channels, 3, padding=1), bn())

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


@register_model(
    "srresnet", kind="translator", example_kwargs={"channels": 8, "n_blocks": 2, "upscale": 4},
    example_input=lambda model, n: torch.rand(n, 3, 6, 5),
    expected_shape=lambda model, n: (n, 3, 24, 20),
)
class SRResNet(nn.Module):
    r"""The SRGAN generator: ``[B, C, H, W] -> [B, C, rH, rW]``.

    Args:
        in_channels: image channels (3).
        channels: feature channels (64 in the paper).
        n_blocks: residual blocks :math:`B` (16 in the paper).
        upscale: :math:`r`, a power of two (4 in the paper).
        norm: batch norm in the blocks (the paper); ``False`` drops it.
        icnr: ICNR initialisation of the sub-pixel convolutions.
        bicubic_skip: add the bicubic upsampling of the input to the output, so that the network learns the
            residual (the global skip of VDSR, Kim et al. 2016), with the last convolution started at zero (the
            untrained network *is* bicubic). Not in the paper (``False``, the default); the course's ``fast``
            profile uses it so that a few hundred CPU steps are enough to beat bicubic.
    """

    def __init__(self, in_channels: int = 3, channels: int = 64, n_blocks: int = 16, upscale: int = 4,
                 norm: bool = True, icnr: bool = True, bicubic_skip: bool = False) -> None:
        super().__init__()
        if n_blocks < 0 or channels < 1:
            raise ValueError(f"need channels >= 1 and n_blocks >= 0, got {channels}, {n_blocks}.")
        self.upscale = upscale
        steps = upsampling_steps(upscale)
        self.head = nn.Sequential(nn.Conv2d(in_channels, channels, 9, padding=4), nn.PReLU())
        self.blocks = nn.Sequential(*[ResidualBlock(channels, norm) for _ in range(n_blocks)])
        self.post = nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1),
                                  nn.BatchNorm2d(channels) if norm else nn.Identity())
        self.upsample = nn.Sequential(*[nn.Sequential(SubPixelConv2d(channels, channels, 2, 3, icnr=icnr),
                                                      nn.PReLU()) for _ in range(steps)])
        self.tail = nn.Conv2d(channels, in_channels, 9, padding=4)
        self.bicubic_skip = bool(bicubic_skip)
        if self.bicubic_skip:
            nn.init.zeros_(self.tail.weight)
            nn.init.zeros_(self.tail.bias)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 4:
            raise ValueError(f"x must be [B, C, H, W], got {tuple(x.shape)}.")
        h = self.head(x)
        h = h + self.post(self.blocks(h))  # the long skip connection
        out = self.tail(self.upsample(h))
        return out + bicubic_residual_base(x, self.upscale) if self.bicubic_skip else out


def bicubic_residual_base(x: Tensor, upscale: int) -> Tensor:
    """The bicubic upsampling (``align_corners=False``) a ``bicubic_skip`` network adds its output to."""
    return F.interpolate(x, scale_factor=upscale, mode="bicubic", align_corners=False)
