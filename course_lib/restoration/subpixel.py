r"""Sub-pixel convolution (Shi et al. 2016): a convolution in low-resolution space followed by a periodic shuffle.

A convolution with :math:`C r^2` output channels computes, for every low-resolution pixel, the :math:`r \times r`
high-resolution pixels it is responsible for; :func:`pixel_shuffle` puts channel :math:`c r^2 + i r + j` of pixel
:math:`(h, w)` at high-resolution pixel :math:`(r h + i, r w + j)` of output channel :math:`c`:

.. math::  \mathrm{PS}(T)_{c,\, rh + i,\, rw + j} = T_{c r^2 + i r + j,\, h,\, w}.

That is exactly ``torch.nn.functional.pixel_shuffle``; this module writes it with reshapes so that the layout is
visible. :func:`subpixel_to_transposed_weight` rearranges the weight of a sub-pixel convolution into the kernel of
the *equivalent* transposed convolution of stride :math:`r` (the "stride 1/r" convolution of the paper; the
theory page proves the identity, a test checks it numerically).

ICNR (Aitken et al. 2017, *Checkerboard artifact free sub-pixel convolution*): initialise the :math:`C r^2` kernels
so that the :math:`r^2` kernels of one output channel are equal (:func:`icnr_`). Then the shuffled output starts as a
nearest-neighbour upsampling of one ordinary convolution, with no checkerboard at initialisation.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["pixel_shuffle", "pixel_unshuffle", "icnr_", "SubPixelConv2d", "subpixel_to_transposed_weight",
           "checkerboard_score"]


def _check_factor(r: object, name: str = "upscale") -> int:
    if isinstance(r, bool) or not isinstance(r, int):
        raise TypeError(f"{name} must be an int, got {type(r).__name__}.")
    if r < 1:
        raise ValueError(f"{name} must be >= 1, got {r}.")
    return r


def _check_4d(x: object, name: str = "x") -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}.")
    if x.dim() != 4:
        raise ValueError(f"{name} must have shape [B, C, H, W], got {tuple(x.shape)}.")
    return x


def pixel_shuffle(x: Tensor, upscale: int) -> Tensor:
    r"""Periodic shuffle: ``[B, C r^2, H, W] -> [B, C, H r, W r]``,
    :math:`y_{c, rh+i, rw+j} = x_{c r^2 + i r + j, h, w}`.

    Equal to ``torch.nn.functional.pixel_shuffle(x, r)``, written as a reshape, a permutation and a reshape.
    """
    x = _check_4d(x)
    r = _check_factor(upscale)
    b, cr2, h, w = x.shape
    if cr2 % (r * r):
        raise ValueError(f"the channels ({cr2}) must be a multiple of upscale^2 = {r * r}.")
    c = cr2 // (r * r)
    y = x.reshape(b, c, r, r, h, w)  # channel c r^2 + i r + j -> (c, i, j)
    y = y.permute(0, 1, 4, 2, 5, 3)  # (b, c, h, i, w, j)
    return y.reshape(b, c, h * r, w * r)  # row h r + i, column w r + j


def pixel_unshuffle(x: Tensor, downscale: int) -> Tensor:
    r"""The inverse of :func:`pixel_shuffle`: ``[B, C, H r, W r] -> [B, C r^2, H, W]``."""
    x = _check_4d(x)
    r = _check_factor(downscale, "downscale")
    b, c, hr, wr = x.shape
    if hr % r or wr % r:
        raise ValueError(f"height and width ({hr}, {wr}) must be multiples of downscale = {r}.")
    y = x.reshape(b, c, hr // r, r, wr // r, r).permute(0, 1, 3, 5, 2, 4)
    return y.reshape(b, c * r * r, hr // r, wr // r)


@torch.no_grad()
def icnr_(weight: Tensor, upscale: int, init: Callable[[Tensor], object] = nn.init.kaiming_normal_) -> Tensor:
    r"""ICNR initialisation, in place, of a sub-pixel convolution's weight ``[C r^2, C_in, k, k]``.

    Draw ``C`` kernels :math:`w_c` with ``init``, then set :math:`W_{c r^2 + s} = w_c` for every sub-pixel
    :math:`s < r^2`: after :func:`pixel_shuffle`, every :math:`r \times r` block repeats one value per channel (a
    nearest-neighbour upsampling of an ordinary convolution), so the layer starts without checkerboard artifacts.
    Returns ``weight``.
    """
    r = _check_factor(upscale)
    if not isinstance(weight, Tensor) or weight.dim() != 4:
        raise ValueError("weight must be a conv weight [C r^2, C_in, k, k].")
    if weight.shape[0] % (r * r):
        raise ValueError(f"the output channels ({weight.shape[0]}) must be a multiple of upscale^2 = {r * r}.")
    c = weight.shape[0] // (r * r)
    base = torch.empty((c, *weight.shape[1:]), dtype=weight.dtype, device=weight.device)
    init(base)
    weight.copy_(base.repeat_interleave(r * r, dim=0))  # rows c r^2 .. c r^2 + r^2 - 1 all equal w_c
    return weight


class SubPixelConv2d(nn.Module):
    r"""``conv(k x k, C_in -> C_out r^2)`` then :func:`pixel_shuffle`: ``[B, C_in, H, W] -> [B, C_out, H r, W r]``.

    Args:
        in_channels, out_channels: channels before and after.
        upscale: :math:`r`.
        kernel_size: odd :math:`k` (padding :math:`k // 2` keeps the low-resolution size).
        icnr: ICNR initialisation of the weight (default); ``False`` keeps PyTorch's default initialisation.
    """

    def __init__(self, in_channels: int, out_channels: int, upscale: int = 2, kernel_size: int = 3,
                 icnr: bool = True) -> None:
        super().__init__()
        self.upscale = _check_factor(upscale)
        if kernel_size % 2 != 1:
            raise ValueError(f"kernel_size must be odd, got {kernel_size}.")
        self.conv = nn.Conv2d(in_channels, out_channels * upscale**2, kernel_size, padding=kernel_size // 2)
        if icnr:
            icnr_(self.conv.weight, upscale)
            nn.init.zeros_(self.conv.bias)

    def forward(self, x: Tensor) -> Tensor:
        return pixel_shuffle(self.conv(x), self.upscale)


def subpixel_to_transposed_weight(weight: Tensor, upscale: int) -> tuple[Tensor, int]:
    r"""The transposed convolution equal to a sub-pixel convolution (Shi et al. 2016, Section 2.2).

    For ``weight`` :math:`W` of shape ``[C r^2, C_in, k, k]`` (odd :math:`k`, padding :math:`p = (k-1)/2`) return
    :math:`(T, P)` with ``T`` of shape ``[C_in, C, r k, r k]``,

    .. math::  T_{c_{in},\, c,\, r m + i,\, r n + j} = W_{c r^2 + i r + j,\, c_{in},\, k-1-m,\, k-1-n},

    and :math:`P = r (k - 1 - p)`, such that ``pixel_shuffle(conv2d(x, W, padding=p), r) ==
    conv_transpose2d(x, T, stride=r, padding=P)``.
    """
    r = _check_factor(upscale)
    if not isinstance(weight, Tensor) or weight.dim() != 4 or weight.shape[-1] != weight.shape[-2]:
        raise ValueError("weight must be a square conv weight [C r^2, C_in, k, k].")
    cr2, c_in, k, _ = weight.shape
    if k % 2 != 1:
        raise ValueError(f"the kernel size must be odd, got {k}.")
    if cr2 % (r * r):
        raise ValueError(f"the output channels ({cr2}) must be a multiple of upscale^2 = {r * r}.")
    c = cr2 // (r * r)
    w = weight.flip(-2, -1).reshape(c, r, r, c_in, k, k)  # (c, i, j, c_in, m, n), kernel flipped
    t = w.permute(3, 0, 4, 1, 5, 2).reshape(c_in, c, k * r, k * r)  # (c_in, c, m, i, n, j)
    return t, r * (k - 1 - k // 2)


def checkerboard_score(y: Tensor, upscale: int) -> Tensor:
    r"""How much an upsampled image varies *between the sub-pixel positions*: ``[B, C, H r, W r] -> [B]``.

    The mean over the :math:`r^2` sub-pixel phases :math:`(i, j)` of the image, per phase averaged over all blocks,
    has a spread (population standard deviation over the phases, averaged over channels) that is zero for a
    nearest-neighbour upsampling and large for a checkerboard pattern.
    """
    y = _check_4d(y, "y")
    r = _check_factor(upscale)
    phases = pixel_unshuffle(y, r)  # (B, C r^2, H, W), channel c r^2 + i r + j is phase (i, j)
    b, cr2 = phases.shape[:2]
    means = phases.mean(dim=(2, 3)).reshape(b, cr2 // (r * r), r * r)
    return means.std(dim=2, unbiased=False).mean(dim=1)
