r"""The residual blocks of the ResNet GAN backbone (Gulrajani et al. 2017; Miyato et al. 2018), which SAGAN and
BigGAN build their networks from.

Generator block (``GBlock``, upsampling by 2):

.. math::

    y = \mathrm{conv}_{3\times3}\big(\mathrm{relu}(\mathrm{BN}_2(\mathrm{conv}_{3\times3}(\mathrm{up}(
        \mathrm{relu}(\mathrm{BN}_1(x))))))\big) + \mathrm{conv}_{1\times1}(\mathrm{up}(x))

Discriminator block (``DBlock``, downsampling by 2, no normalisation, spectral norm applied from outside):

.. math::

    y = \mathrm{avgpool}\big(\mathrm{conv}_{3\times3}(\mathrm{relu}(\mathrm{conv}_{3\times3}(\mathrm{relu}(x))))\big)
        + \mathrm{avgpool}(\mathrm{conv}_{1\times1}(x))

The first block of a discriminator (``preactivation=False``) skips the leading ReLU (it sees the image) and pools
before its shortcut convolution, as SN-GAN's "optimized" block. The normalisation of a ``GBlock`` is pluggable:
``norm(channels)`` builds a module, called ``norm(x)`` or, when the block is given a vector ``cond``,
``norm(x, cond)`` (BigGAN's conditional BN, :mod:`course_lib.gan.biggan`; self-modulation,
:mod:`course_lib.gan.self_modulation`).
"""

from __future__ import annotations

from typing import Callable

import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["GBlock", "DBlock"]


def _channels(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}.")
    if value <= 0:
        raise ValueError(f"{name} must be > 0, got {value}.")
    return value


def _check_input(x: object, channels: int, who: str) -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"{who}: x must be a Tensor, got {type(x).__name__}.")
    if x.dim() != 4 or x.shape[1] != channels:
        raise ValueError(f"{who}: x must have shape (B, {channels}, H, W), got {tuple(x.shape)}.")
    return x


class GBlock(nn.Module):
    """A residual generator block ``(B, C_in, H, W) -> (B, C_out, 2H, 2W)`` (``upsample=False``: same size).

    Args:
        in_channels, out_channels: ``C_in``, ``C_out``.
        norm: ``channels -> module``; default ``nn.BatchNorm2d``. With ``cond`` given to :meth:`forward`, each norm
            is called ``norm(x, cond)``.
        upsample: nearest-neighbour x2 on both paths.
    """

    def __init__(self, in_channels: int, out_channels: int, norm: Callable[[int], nn.Module] | None = None,
                 upsample: bool = True) -> None:
        super().__init__()
        self.in_channels, self.out_channels = _channels(in_channels, "in_channels"), _channels(out_channels,
                                                                                               "out_channels")
        norm = nn.BatchNorm2d if norm is None else norm
        self.norm1, self.norm2 = norm(in_channels), norm(out_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        self.shortcut = nn.Conv2d(in_channels, out_channels, 1) if (in_channels != out_channels or upsample) \
            else nn.Identity()
        self.upsample = bool(upsample)

    def _norm(self, norm: nn.Module, x: Tensor, cond: Tensor | None) -> Tensor:
        return norm(x) if cond is None else norm(x, cond)

    def forward(self, x: Tensor, cond: Tensor | None = None) -> Tensor:
        x = _check_input(x, self.in_channels, "GBlock")
        h = F.relu(self._norm(self.norm1, x, cond))
        if self.upsample:
            h, x = F.interpolate(h, scale_factor=2, mode="nearest"), F.interpolate(x, scale_factor=2, mode="nearest")
        h = self.conv1(h)
        h = self.conv2(F.relu(self._norm(self.norm2, h, cond)))
        return h + self.shortcut(x)


class DBlock(nn.Module):
    """A residual discriminator block ``(B, C_in, H, W) -> (B, C_out, H/2, W/2)`` (``downsample=False``: same size).

    Args:
        in_channels, out_channels: ``C_in``, ``C_out``.
        downsample: 2x2 average pooling on both paths.
        preactivation: start with a ReLU (``False`` for the first block, which sees the image).
    """

    def __init__(self, in_channels: int, out_channels: int, downsample: bool = True,
                 preactivation: bool = True) -> None:
        super().__init__()
        self.in_channels, self.out_channels = _channels(in_channels, "in_channels"), _channels(out_channels,
                                                                                               "out_channels")
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        self.shortcut = nn.Conv2d(in_channels, out_channels, 1) if (in_channels != out_channels or downsample) \
            else nn.Identity()
        self.downsample, self.preactivation = bool(downsample), bool(preactivation)

    def forward(self, x: Tensor) -> Tensor:
        x = _check_input(x, self.in_channels, "DBlock")
        h = F.relu(x) if self.preactivation else x
        h = self.conv2(F.relu(self.conv1(h)))
        if self.downsample:
            h = F.avg_pool2d(h, 2)
        if self.preactivation:  # conv then pool
            s = self.shortcut(x)
            s = F.avg_pool2d(s, 2) if self.downsample else s
        else:  # the first block: pool then conv
            s = self.shortcut(F.avg_pool2d(x, 2) if self.downsample else x)
        return h + s
