r"""Image quality: PSNR (written here) and SSIM (scikit-image's implementation, not written twice).

PSNR of image :math:`b`, with :math:`R` the data range (1 for [0, 1] images, 255 for 8-bit, 2 for [-1, 1]):

.. math::  \mathrm{PSNR}_b = 10 \log_{10} \frac{R^2}{\mathrm{MSE}_b}, \qquad
           \mathrm{MSE}_b = \frac{1}{CHW} \sum_{c,h,w} (x_{bchw} - y_{bchw})^2 .

One number **per image**: the mean over a data set is the mean of these, never
:math:`10\log_{10}(R^2 / \overline{\mathrm{MSE}})` (by Jensen's inequality the log of the mean MSE is larger than the
mean of the logs, and one bad image dominates). Identical images give :math:`+\infty`.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

__all__ = ["psnr", "masked_psnr", "ssim"]


def _pair(x: object, y: object) -> tuple[Tensor, Tensor]:
    if not isinstance(x, Tensor) or not isinstance(y, Tensor):
        raise TypeError(f"x and y must be tensors, got {type(x).__name__} and {type(y).__name__}.")
    if not x.is_floating_point() or not y.is_floating_point():
        raise TypeError(f"x and y must be floating point, got {x.dtype} and {y.dtype}.")
    if x.shape != y.shape:
        raise ValueError(f"x and y must have one shape, got {tuple(x.shape)} and {tuple(y.shape)}.")
    if x.dim() != 4 or x.shape[0] == 0:
        raise ValueError(f"x and y must be non-empty [B, C, H, W], got {tuple(x.shape)}.")
    if not bool(torch.isfinite(x).all()) or not bool(torch.isfinite(y).all()):
        raise ValueError("x and y must be finite (no NaN or inf).")
    return x, y


def _range(data_range: object) -> float:
    if isinstance(data_range, bool) or not isinstance(data_range, (int, float)):
        raise TypeError(f"data_range must be a number, got {type(data_range).__name__}.")
    if not data_range > 0:
        raise ValueError(f"data_range must be positive, got {data_range}.")
    return float(data_range)


def psnr(x: Tensor, y: Tensor, data_range: float = 1.0) -> Tensor:
    r"""Peak signal-to-noise ratio per image: ``[B, C, H, W], [B, C, H, W] -> [B]`` (dB, ``+inf`` where equal).

    :math:`10 \log_{10}(R^2 / \mathrm{MSE}_b)`, computed in float64 and returned in the inputs' dtype, on their
    device.
    """
    x, y = _pair(x, y)
    r = _range(data_range)
    mse = (x.double() - y.double()).square().flatten(1).mean(dim=1)  # MSE_b, one per image
    return (10.0 * torch.log10(r * r / mse)).to(torch.promote_types(x.dtype, y.dtype))


def masked_psnr(x: Tensor, y: Tensor, mask: Tensor, data_range: float = 1.0) -> Tensor:
    r"""PSNR per image over the pixels where ``mask [B, 1, H, W]`` is 1 (e.g. the hole of an inpainting):
    :math:`10\log_{10}(R^2 / \mathrm{MSE}_b)` with :math:`\mathrm{MSE}_b = \sum m (x - y)^2 / (C \sum m)`.
    ``[B]``; NaN for an image whose mask is empty."""
    x, y = _pair(x, y)
    r = _range(data_range)
    if not isinstance(mask, Tensor) or mask.dim() != 4 or mask.shape[1] != 1 or mask.shape[0] != x.shape[0] \
            or mask.shape[2:] != x.shape[2:]:
        raise ValueError(f"mask must be [B, 1, H, W] matching x {tuple(x.shape)}.")
    m = mask.double()
    sq = ((x.double() - y.double()).square() * m).flatten(1).sum(dim=1)
    count = m.flatten(1).sum(dim=1) * x.shape[1]
    mse = torch.where(count > 0, sq / count.clamp_min(1.0), torch.full_like(sq, float("nan")))
    return (10.0 * torch.log10(r * r / mse)).to(torch.promote_types(x.dtype, y.dtype))


def ssim(x: Tensor, y: Tensor, data_range: float = 1.0) -> Tensor:
    r"""Structural similarity per image, ``[B, C, H, W] x 2 -> [B]`` float64, by scikit-image.

    ``skimage.metrics.structural_similarity(x_b, y_b, data_range=R, channel_axis=0)``: Wang et al. (2004) with a
    7x7 uniform window and the sample covariance (scikit-image's defaults), averaged over the channels. (Papers
    often use an 11x11 Gaussian window on the luminance only: their numbers are not comparable with these.)
    """
    from skimage.metrics import structural_similarity

    x, y = _pair(x, y)
    r = _range(data_range)
    if min(x.shape[-2:]) < 7:
        raise ValueError(f"SSIM's 7x7 window needs images of at least 7x7 pixels, got {tuple(x.shape[-2:])}.")
    a = x.detach().double().cpu().numpy()
    b = y.detach().double().cpu().numpy()
    values = [structural_similarity(a[i], b[i], data_range=r, channel_axis=0) for i in range(a.shape[0])]
    return torch.tensor(np.asarray(values, dtype=np.float64), device=x.device)
