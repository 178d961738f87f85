r"""LAPGAN (Denton, Chintala, Szlam and Fergus, *Deep Generative Image Models using a Laplacian Pyramid of
Adversarial Networks*, NeurIPS 2015): generate an image coarse to fine, one band of the Laplacian pyramid at a time.

The **Laplacian pyramid** of an image :math:`I` with :math:`K` levels: :math:`I_0 = I`, :math:`I_{k+1} = d(I_k)`
(downsample), and the band-pass images

.. math:: h_k = I_k - u(I_{k+1}), \quad k = 0, \dots, K - 1, \qquad \text{with the low-pass } I_K \text{ kept.}

Reconstruction runs backwards, :math:`I_k = u(I_{k+1}) + h_k`, and is **exact for any** :math:`d` and :math:`u`
(the residual stores exactly what :math:`u(I_{k+1})` misses). Here :math:`d` is 2x2 average pooling and
:math:`u` bilinear upsampling; Denton et al. blur and decimate. LAPGAN replaces every :math:`h_k` by a sample of a
*conditional* generator, :math:`\tilde h_k = G_k(z_k, u(\tilde I_{k+1}))`, and the coarsest image by an unconditional
one, :math:`\tilde I_K = G_K(z_K)`: :class:`LaplacianLevelGenerator` is one such level, :class:`LapGANGenerator`
the whole stack. In the paper each level is trained as its own conditional GAN on the real pyramid (its
discriminator sees :math:`(h_k, l_k)` pairs); :func:`level_training_pairs` gives those pairs. The zoo's fast recipe
trains the stack end to end through the one trainer instead (see its card).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from course_lib.gan.models import MLPGenerator
from course_lib.registry import register_model

__all__ = [
    "downsample",
    "upsample",
    "laplacian_pyramid",
    "reconstruct_pyramid",
    "level_training_pairs",
    "LaplacianLevelGenerator",
    "LapGANGenerator",
]


def _images(x: object, name: str = "x") -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}.")
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {x.dtype}.")
    if x.dim() != 4:
        raise ValueError(f"{name} must have shape (N, C, H, W), got {tuple(x.shape)}.")
    return x


def downsample(x: Tensor) -> Tensor:
    """:math:`d`: 2x2 average pooling, ``(N, C, H, W) -> (N, C, H/2, W/2)`` (H and W even)."""
    x = _images(x)
    if x.shape[-1] % 2 or x.shape[-2] % 2:
        raise ValueError(f"downsample needs an even height and width, got {tuple(x.shape[-2:])}.")
    return F.avg_pool2d(x, 2)


def upsample(x: Tensor) -> Tensor:
    """:math:`u`: bilinear upsampling by 2, ``(N, C, H, W) -> (N, C, 2H, 2W)``."""
    return F.interpolate(_images(x), scale_factor=2, mode="bilinear", align_corners=False)


def laplacian_pyramid(x: Tensor, levels: int) -> list[Tensor]:
    r"""The Laplacian pyramid ``[h_0, ..., h_{K-1}, I_K]`` of ``x``: ``levels`` = :math:`K` band-pass images, finest
    first, then the low-pass image. :math:`h_k` has the side of ``x`` divided by :math:`2^k`.

    Raises:
        ValueError: the side is not divisible by :math:`2^K`.
    """
    x = _images(x)
    if isinstance(levels, bool) or not isinstance(levels, int) or levels < 0:
        raise ValueError(f"levels must be an int >= 0, got {levels!r}.")
    if x.shape[-1] % 2**levels or x.shape[-2] % 2**levels:
        raise ValueError(f"the image side {tuple(x.shape[-2:])} must be divisible by 2**levels = {2**levels}.")
    pyramid, current = [], x
    for _ in range(levels):
        low = downsample(current)  # I_{k+1}
        pyramid.append(current - upsample(low))  # h_k = I_k - u(I_{k+1})
        current = low
    pyramid.append(current)  # I_K
    return pyramid


def reconstruct_pyramid(pyramid: list[Tensor]) -> Tensor:
    """The image of a pyramid from :func:`laplacian_pyramid`: :math:`I_k = u(I_{k+1}) + h_k`, coarse to fine."""
    if not isinstance(pyramid, (list, tuple)) or not pyramid:
        raise ValueError("pyramid must be a non-empty list [h_0, ..., h_{K-1}, I_K].")
    image = _images(pyramid[-1], "pyramid[-1]")
    for k in range(len(pyramid) - 2, -1, -1):
        band = _images(pyramid[k], f"pyramid[{k}]")
        if band.shape[-1] != 2 * image.shape[-1] or band.shape[-2] != 2 * image.shape[-2]:
            raise ValueError(f"pyramid[{k}] has side {tuple(band.shape[-2:])}, expected twice "
                             f"{tuple(image.shape[-2:])}.")
        image = upsample(image) + band
    return image


def level_training_pairs(x: Tensor, level: int) -> tuple[Tensor, Tensor]:
    """``(h_level, l_level)``: the band-pass image of ``x`` at ``level`` and its condition
    :math:`l = u(I_{level+1})`, the pair a level's discriminator sees in the paper's per-level training."""
    if isinstance(level, bool) or not isinstance(level, int) or level < 0:
        raise ValueError(f"level must be an int >= 0, got {level!r}.")
    current = _images(x)
    for _ in range(level):
        current = downsample(current)  # I_level
    low = upsample(downsample(current))  # l = u(I_{level+1})
    return current - low, low


class LaplacianLevelGenerator(nn.Module):
    r"""One conditional level of LAPGAN: :math:`\tilde I_k = l + G_k(z, l)`, :math:`l = u(\tilde I_{k+1})`.

    The noise enters as an extra input plane (a linear map of :math:`z` reshaped to one channel, as in the paper's
    CIFAR-10 models), concatenated with :math:`l`; three 3x3 convolutions with ReLU produce the residual
    :math:`\tilde h_k` (linear output).

    Args:
        channels: image channels; z_dim: noise size; side: the level's output side; width: hidden channels.
    """

    def __init__(self, channels: int, z_dim: int, side: int, width: int = 32) -> None:
        super().__init__()
        self.channels, self.z_dim, self.side = channels, z_dim, side
        self.noise_plane = nn.Linear(z_dim, side * side)
        self.net = nn.Sequential(
            nn.Conv2d(channels + 1, width, 3, padding=1), nn.ReLU(),
            nn.Conv2d(width, width, 3, padding=1), nn.ReLU(),
            nn.Conv2d(width, channels, 3, padding=1),
        )

    def forward(self, z: Tensor, coarse: Tensor) -> Tensor:
        """``z (N, z_dim)``, ``coarse (N, C, side/2, side/2)`` -> the image ``(N, C, side, side)``."""
        low = upsample(coarse)  # l = u(I_{k+1})
        if low.shape[-1] != self.side:
            raise ValueError(f"coarse must have side {self.side // 2}, got {coarse.shape[-1]}.")
        plane = self.noise_plane(z).view(-1, 1, self.side, self.side)  # (N, 1, side, side)
        return low + self.net(torch.cat([low, plane], dim=1))  # I_k = l + h~_k


def _example_z(model: nn.Module, batch_size: int) -> Tensor:
    return model.sample_z(batch_size)


@register_model(
    "lapgan_generator",
    kind="generator",
    example_kwargs={"z_dim": 8, "channels": 1, "resolution": 16, "levels": 2, "width": 8},
    example_input=_example_z,
    expected_shape=lambda model, n: (n, model.channels, model.resolution, model.resolution),
)
class LapGANGenerator(nn.Module):
    r"""The LAPGAN sampling chain: an MLP :math:`G_K` for the low-pass image at ``resolution / 2**levels``, then
    ``levels`` conditional levels, each doubling the side. ``z`` of size ``z_dim`` is split into one code per
    generator by independent linear maps (so the chain takes one noise vector, as the trainer expects).

    ``forward(z, return_pyramid=True)`` also returns the generated images of every level, coarse to fine.
    """

    def __init__(self, z_dim: int = 16, channels: int = 1, resolution: int = 8, levels: int = 1,
                 width: int = 32) -> None:
        super().__init__()
        for name, v in (("z_dim", z_dim), ("channels", channels), ("resolution", resolution), ("width", width)):
            if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
                raise ValueError(f"{name} must be a positive int, got {v!r}.")
        if isinstance(levels, bool) or not isinstance(levels, int) or levels < 1:
            raise ValueError(f"levels must be an int >= 1, got {levels!r}.")
        base = resolution // 2**levels
        if base < 2 or base * 2**levels != resolution:
            raise ValueError(f"resolution ({resolution}) must be 2**levels ({2**levels}) times a side >= 2.")
        self.z_dim, self.channels, self.resolution, self.levels, self.base = z_dim, channels, resolution, levels, base
        self.coarse = nn.Sequential(nn.Linear(z_dim, 128), nn.ReLU(), nn.Linear(128, channels * base * base),
                                    nn.Tanh())
        self.codes = nn.ModuleList(nn.Linear(z_dim, z_dim) for _ in range(levels))
        self.level_generators = nn.ModuleList(
            LaplacianLevelGenerator(channels, z_dim, base * 2 ** (k + 1), width) for k in range(levels)
        )

    def forward(self, z: Tensor, return_pyramid: bool = False) -> Tensor | tuple[Tensor, list[Tensor]]:
        if not isinstance(z, Tensor) or z.dim() != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"z must be a tensor of shape (N, {self.z_dim}).")
        image = self.coarse(z).view(-1, self.channels, self.base, self.base)  # I~_K
        images = [image]
        for code, level in zip(self.codes, self.level_generators):
            image = level(code(z), image)
            images.append(image)
        return (image, images) if return_pyramid else image

    # z ~ N(0, I), shape (n, z_dim), on the model's device (or `device`): the MLP generator's method, shared
    sample_z = MLPGenerator.sample_z


def _zoo_models(sample_shape: tuple[int, ...], z_dim: int) -> tuple[nn.Module, nn.Module]:
    from course_lib.gan.dcgan import DCGANDiscriminator

    c, size = sample_shape[0], sample_shape[-1]
    return LapGANGenerator(z_dim, c, size, levels=1), DCGANDiscriminator(image_size=size, channels=c, base=32)


def _register_zoo() -> None:
    from course_lib.zoo import FastRecipe, ZooEntry, register_variant

    register_variant(ZooEntry(
        "lapgan", "LAPGAN",
        "Generate the coarsest image of a Laplacian pyramid, then each finer band with a generator conditioned on "
        "the upsampled image so far.",
        r"\tilde I_K = G_K(z_K),\qquad \tilde I_k = u(\tilde I_{k+1}) + G_k\big(z_k, u(\tilde I_{k+1})\big),\qquad "
        r"h_k = I_k - u(d(I_k))",
        ("denton2015lapgan",),
        ("course_lib.gan.lapgan.laplacian_pyramid", "course_lib.gan.lapgan.reconstruct_pyramid",
         "course_lib.gan.lapgan.LaplacianLevelGenerator", "course_lib.gan.lapgan.LapGANGenerator"),
        "chapters/09_progressive_and_style/theory",
        FastRecipe(_zoo_models, loss="non_saturating", steps=150, config={"lr_g": 1e-3, "lr_d": 1e-3},
                   note="4x4 then one 8x8 level, trained end to end against one DCGAN discriminator (the paper "
                        "trains each level as its own conditional GAN); Adam at 1e-3."),
    ))


_register_zoo()
