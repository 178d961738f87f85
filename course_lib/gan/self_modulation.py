r"""Self-modulation (Chen, Lucic, Houlsby and Gelly 2019): an *unconditional* generator whose batch norms take
their gains and biases from the latent itself,

.. math::

    \mathrm{BN}(x \mid z) = \gamma(z) \odot \frac{x - \mu_B}{\sqrt{\sigma_B^2 + \epsilon}} + \beta(z),

with :math:`\gamma(\cdot)` and :math:`\beta(\cdot)` small MLPs of :math:`z` (one hidden layer with ReLU). Here
:math:`\gamma(z) = 1 + \mathrm{MLP}_\gamma(z)` and the last layers start at zero, so the generator starts as its
plain batch-norm version.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from course_lib.gan.resnet_blocks import GBlock
from course_lib.gan.sagan import _bottom, _int, _widths
from course_lib.gan.models import MLPGenerator
from course_lib.registry import register_model

__all__ = ["SelfModulatedBatchNorm2d", "SelfModulatedGenerator"]


class SelfModulatedBatchNorm2d(nn.Module):
    """Batch norm (no affine) with ``gamma(z) = 1 + MLP(z)`` and ``beta(z) = MLP(z)``; ``x (N, C, H, W)``,
    ``z (N, z_dim)``."""

    def __init__(self, channels: int, z_dim: int, hidden: int = 32) -> None:
        super().__init__()
        self.channels, self.z_dim = _int(channels, "channels"), _int(z_dim, "z_dim")
        self.bn = nn.BatchNorm2d(channels, affine=False)
        self.gamma = nn.Sequential(nn.Linear(z_dim, _int(hidden, "hidden")), nn.ReLU(), nn.Linear(hidden, channels))
        self.beta = nn.Sequential(nn.Linear(z_dim, hidden), nn.ReLU(), nn.Linear(hidden, channels))
        for mlp in (self.gamma, self.beta):
            nn.init.zeros_(mlp[2].weight)
            nn.init.zeros_(mlp[2].bias)

    def forward(self, x: Tensor, z: Tensor) -> Tensor:
        if not isinstance(z, Tensor) or z.shape != (x.shape[0], self.z_dim):
            raise ValueError(f"z must be a Tensor of shape ({x.shape[0]}, {self.z_dim}).")
        g = 1 + self.gamma(z)
        return g[:, :, None, None] * self.bn(x) + self.beta(z)[:, :, None, None]


@register_model(
    "self_modulated_generator",
    kind="generator",
    example_kwargs={"z_dim": 16, "channels": 1, "resolution": 8, "widths": 8, "n_blocks": 2},
    example_input=lambda model, n: torch.randn(n, model.z_dim),
    expected_shape=lambda model, n: (n, model.channels, model.resolution, model.resolution),
)
class SelfModulatedGenerator(nn.Module):
    """A ResNet generator (:class:`~course_lib.gan.resnet_blocks.GBlock`) whose every batch norm is a
    :class:`SelfModulatedBatchNorm2d` on ``z``: ``(N, z_dim) -> (N, channels, resolution, resolution)``."""

    def __init__(self, z_dim: int = 32, channels: int = 1, resolution: int = 16, widths: Sequence[int] | int = 16,
                 n_blocks: int = 2, hidden: int = 32) -> None:
        super().__init__()
        self.z_dim, self.channels = _int(z_dim, "z_dim"), _int(channels, "channels")
        self.resolution, self.bottom = resolution, _bottom(resolution, n_blocks)
        w = _widths(widths, n_blocks + 1)
        self.widths = w
        self.linear = nn.Linear(z_dim, w[0] * self.bottom ** 2)
        self.blocks = nn.ModuleList(
            GBlock(w[k], w[k + 1], norm=lambda c: SelfModulatedBatchNorm2d(c, z_dim, hidden)) for k in range(n_blocks))
        self.out_norm = SelfModulatedBatchNorm2d(w[-1], z_dim, hidden)
        self.out_conv = nn.Conv2d(w[-1], channels, 3, padding=1)

    def forward(self, z: Tensor) -> Tensor:
        if not isinstance(z, Tensor) or z.dim() != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"z must be a Tensor of shape (N, {self.z_dim}).")
        h = self.linear(z).view(z.shape[0], self.widths[0], self.bottom, self.bottom)
        for block in self.blocks:
            h = block(h, z)
        return torch.tanh(self.out_conv(F.relu(self.out_norm(h, z))))

    # z ~ N(0, I), shape (n, z_dim), on the model's device: the MLP generator's method, shared
    sample_z = MLPGenerator.sample_z
