r"""ProGAN (Karras, Aila, Laine and Lehtinen, *Progressive Growing of GANs for Improved Quality, Stability, and
Variation*, ICLR 2018): progressive growing with fade-in and its three stabilising tricks.

1. **Pixelwise feature normalisation** in the generator (Section 4.2), :func:`pixel_norm`: every feature vector
   is scaled to unit mean square, :math:`b_{x,y} = a_{x,y} / \sqrt{\frac1C \sum_j (a^j_{x,y})^2 + \epsilon}`,
   :math:`\epsilon = 10^{-8}`, so that no magnitude escalates in the G/D competition.
2. **Minibatch standard deviation** in the discriminator (Section 3), :func:`minibatch_stddev`: one extra feature
   map holding the average over features and positions of the standard deviation over a group of samples, so that
   the discriminator can see a lack of variation and the generator is pushed to vary.
3. **Equalized learning rate** (Section 4.1), :class:`EqualizedLinear` and :class:`EqualizedConv2d`: weights are
   drawn from :math:`\mathcal N(0, 1)` and multiplied at run time by He's constant :math:`c = g/\sqrt{\text{fan-in}}`;
   because Adam's step is invariant to a parameter's scale, every layer then learns at the same relative speed.

**Progressive growing** (Section 2): :class:`ProGANGenerator` and :class:`ProGANDiscriminator` hold every
resolution from :math:`4\times4` to the final one from the start, but use only the blocks up to their ``level``.
When a new block enters, its output is blended with the upsampled output of the previous resolution,
:math:`(1 - \alpha)\, \mathrm{up}(\mathrm{toRGB}_{k-1}(h_{k-1})) + \alpha\, \mathrm{toRGB}_k(h_k)`, with
:math:`\alpha` growing linearly from 0 to 1 (the discriminator mirrors it on its input side). The schedule is a
:class:`ProgressiveGrowing` callback of the one trainer, :class:`course_lib.train.AdversarialTrainer`: it sets
``level`` and ``alpha`` of both networks before every step, from the step number alone, so a resumed run picks up
the right phase. The generator always returns images at the final size (the current resolution upsampled by
nearest neighbour) and the discriminator average-pools its input to its current resolution, so the trainer, the
data and the sample grids never change shape; average pooling of the nearest-upsampled fake gives back the
low-resolution fake exactly.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from course_lib.gan.models import MLPGenerator
from course_lib.registry import register_model
from course_lib.train.callbacks import Callback

__all__ = [
    "pixel_norm",
    "minibatch_stddev",
    "PixelNorm",
    "MinibatchStdDev",
    "EqualizedLinear",
    "EqualizedConv2d",
    "ProGANGenerator",
    "ProGANDiscriminator",
    "ProgressiveGrowing",
    "growth_stage",
]


def _tensor(x: object, name: str, min_dim: int = 2) -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}.")
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {x.dtype}.")
    if x.dim() < min_dim:
        raise ValueError(f"{name} must have at least {min_dim} dimensions (N, C, ...), got shape {tuple(x.shape)}.")
    return x


def _positive(value: object, name: str, allow_zero: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}.")
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"{name} must be a finite number {'>=' if allow_zero else '>'} 0, got {value!r}.")
    return float(value)


def _int(value: object, name: str, low: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}.")
    if value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}.")
    return value


# ----------------------------------------------------------------------------------------------------------------
# Trick 1: pixelwise feature normalisation
# ----------------------------------------------------------------------------------------------------------------
def pixel_norm(x: Tensor, eps: float = 1e-8) -> Tensor:
    r"""Pixelwise feature vector normalisation (Karras et al. 2018, Section 4.2, Eq. in the text):

    .. math:: b_{n,\cdot,h,w} = \frac{a_{n,\cdot,h,w}}{\sqrt{\frac1C \sum_{j=1}^{C} (a_{n,j,h,w})^2 + \epsilon}}

    Args:
        x: ``Tensor[N, C, ...]`` (``(N, C)`` latent codes or ``(N, C, H, W)`` feature maps); the mean is over the
            channel dimension 1 only, separately for every sample and position.
        eps: :math:`\epsilon` under the root (the paper's :math:`10^{-8}`).

    Returns:
        a tensor of ``x``'s shape, dtype and device; an all-zero vector stays 0.
    """
    x = _tensor(x, "x")
    eps = _positive(eps, "eps", allow_zero=True)
    return x * torch.rsqrt(x.square().mean(dim=1, keepdim=True) + eps)  # (N, C, ...) / (N, 1, ...)


class PixelNorm(nn.Module):
    """:func:`pixel_norm` as a layer."""

    def __init__(self, eps: float = 1e-8) -> None:
        super().__init__()
        self.eps = _positive(eps, "eps", allow_zero=True)

    def forward(self, x: Tensor) -> Tensor:
        return pixel_norm(x, self.eps)


# ----------------------------------------------------------------------------------------------------------------
# Trick 2: the minibatch standard deviation
# ----------------------------------------------------------------------------------------------------------------
def minibatch_stddev(x: Tensor, group_size: int = 4) -> Tensor:
    r"""ProGAN's minibatch standard deviation layer (Karras et al. 2018, Section 3): append one feature map.

    The batch of :math:`N` samples is split into :math:`N/G` groups of :math:`G = \min(\text{group\_size}, N)`
    samples, sample :math:`n` belonging to group :math:`n \bmod (N/G)` (the authors' ``reshape([G, -1, ...])``).
    Per group :math:`g`, the population standard deviation of every feature at every position over the group's
    samples, averaged over channels and positions:

    .. math::
        \sigma_{c,h,w}(g) = \sqrt{\frac1G \sum_{n \in g} \big(x_{n,c,h,w} - \bar x_{g,c,h,w}\big)^2 + 10^{-8}},
        \qquad s_g = \frac{1}{CHW} \sum_{c,h,w} \sigma_{c,h,w}(g),

    and :math:`s_g` is broadcast to an extra constant feature map of every sample of group :math:`g`.

    Args:
        x: ``Tensor[N, C, H, W]`` (or ``(N, C)`` features: then the extra feature is one column).
        group_size: :math:`G` before the ``min`` with :math:`N` (4 in the paper); :math:`N` must be a multiple of
            :math:`\min(G, N)`.

    Returns:
        ``Tensor[N, C + 1, H, W]``: ``x`` with the statistic appended as the last channel.

    Raises:
        ValueError: ``N`` is not a multiple of the group size, or the shape is not ``(N, C[, H, W])``.
    """
    x = _tensor(x, "x")
    group_size = _int(group_size, "group_size")
    if x.dim() not in (2, 4):
        raise ValueError(f"x must be (N, C, H, W) or (N, C), got shape {tuple(x.shape)}.")
    n = x.shape[0]
    g = min(group_size, n)
    if n % g:
        raise ValueError(f"the batch size {n} must be a multiple of the group size min({group_size}, {n}) = {g}.")
    y = x.reshape(g, n // g, *x.shape[1:])  # (G, M, C, ...): sample n = i*M + m is in group m
    y = y - y.mean(dim=0, keepdim=True)  # deviations from the group mean
    y = torch.sqrt(y.square().mean(dim=0) + 1e-8)  # (M, C, ...), population std over the group
    s = y.reshape(n // g, -1).mean(dim=1)  # (M,), averaged over C, H, W
    s = s.repeat(g)  # (N,): sample i*M + m gets s_m
    extra = s.view(n, 1, *([1] * (x.dim() - 2))).expand(n, 1, *x.shape[2:])  # (N, 1, H, W)
    return torch.cat([x, extra.to(x.dtype)], dim=1)


class MinibatchStdDev(nn.Module):
    """:func:`minibatch_stddev` as a layer."""

    def __init__(self, group_size: int = 4) -> None:
        super().__init__()
        self.group_size = _int(group_size, "group_size")

    def forward(self, x: Tensor) -> Tensor:
        return minibatch_stddev(x, self.group_size)

    def extra_repr(self) -> str:
        return f"group_size={self.group_size}"


# ----------------------------------------------------------------------------------------------------------------
# Trick 3: the equalized learning rate
# ----------------------------------------------------------------------------------------------------------------
class EqualizedLinear(nn.Module):
    r"""A linear layer with the equalized learning rate (Karras et al. 2018, Section 4.1).

    .. math:: y = x\, (c\, \hat W)^\top + \mu\, \hat b, \qquad \hat W \sim \mathcal N(0, 1/\mu^2),
        \quad c = \mu\, \frac{g}{\sqrt{\text{fan-in}}}

    The stored weight :math:`\hat W` has the same scale in every layer; He's constant :math:`c` is applied at run
    time. Adam divides each update by a running estimate of the gradient's scale, so its steps on :math:`\hat W`
    are about ``lr`` whatever the layer: the effective weight :math:`c \hat W` then moves by the same fraction of its
    own scale in every layer. The learning-rate multiplier :math:`\mu` (``lr_mul``, 0.01 in StyleGAN's mapping
    network) slows a layer down by that factor while keeping its effective initial weights (the stored ones are
    drawn :math:`1/\mu` larger).

    Args:
        in_features, out_features: sizes.
        bias: add a bias (initialised to ``bias_init``).
        gain: :math:`g`, :math:`\sqrt 2` before a (leaky) ReLU, 1 before a linear output.
        lr_mul: :math:`\mu > 0`.
        bias_init: the bias's initial *effective* value.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, gain: float = math.sqrt(2),
                 lr_mul: float = 1.0, bias_init: float = 0.0) -> None:
        super().__init__()
        self.in_features, self.out_features = _int(in_features, "in_features"), _int(out_features, "out_features")
        self.lr_mul = _positive(lr_mul, "lr_mul")
        gain = _positive(gain, "gain")
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / self.lr_mul)
        self.scale = gain / math.sqrt(in_features) * self.lr_mul  # c, applied at run time
        self.bias = nn.Parameter(torch.full((out_features,), float(bias_init) / self.lr_mul)) if bias else None

    def effective_weight(self) -> Tensor:
        """:math:`c \\hat W`, the weight the layer computes with."""
        return self.weight * self.scale

    def forward(self, x: Tensor) -> Tensor:
        bias = None if self.bias is None else self.bias * self.lr_mul
        return F.linear(x, self.effective_weight(), bias)

    def extra_repr(self) -> str:
        return f"{self.in_features} -> {self.out_features}, scale={self.scale:.4g}, lr_mul={self.lr_mul:g}"


class EqualizedConv2d(nn.Module):
    r"""A 2-D convolution with the equalized learning rate: weights :math:`\mathcal N(0, 1)`, multiplied at run time
    by :math:`c = g / \sqrt{C_{in} k^2}` (see :class:`EqualizedLinear`). Bias initialised to 0."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, padding: int = 0,
                 bias: bool = True, gain: float = math.sqrt(2)) -> None:
        super().__init__()
        self.in_channels, self.out_channels = _int(in_channels, "in_channels"), _int(out_channels, "out_channels")
        self.kernel_size = _int(kernel_size, "kernel_size")
        self.stride, self.padding = _int(stride, "stride"), _int(padding, "padding", low=0)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.scale = _positive(gain, "gain") / math.sqrt(in_channels * kernel_size**2)
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None

    def effective_weight(self) -> Tensor:
        return self.weight * self.scale

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(x, self.effective_weight(), self.bias, self.stride, self.padding)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding}, scale={self.scale:.4g}")


# ----------------------------------------------------------------------------------------------------------------
# Progressive growing
# ----------------------------------------------------------------------------------------------------------------
def _resolutions(max_resolution: int, start_resolution: int) -> list[int]:
    _int(max_resolution, "max_resolution", low=4)
    _int(start_resolution, "start_resolution", low=4)
    levels = math.log2(max_resolution / start_resolution)
    if start_resolution & (start_resolution - 1) or not levels.is_integer() or levels < 0:
        raise ValueError(f"max_resolution ({max_resolution}) must be start_resolution ({start_resolution}, a power of "
                         "2) times a power of 2.")
    return [start_resolution * 2**k for k in range(int(levels) + 1)]


def _widths(widths: Sequence[int] | int, n: int) -> list[int]:
    if isinstance(widths, int) and not isinstance(widths, bool):
        return [_int(widths, "widths")] * n
    widths = list(widths)
    if len(widths) != n or not all(isinstance(w, int) and not isinstance(w, bool) and w > 0 for w in widths):
        raise ValueError(f"widths must be one positive int or {n} of them (one per resolution), got {widths!r}.")
    return widths


class _StageMixin:
    """``level`` (index of the highest active resolution) and ``alpha`` (the fade-in weight of that level)."""

    resolutions: list[int]

    def set_stage(self, level: int, alpha: float = 1.0) -> None:
        """Use the blocks up to ``level`` (0: the start resolution), the last one faded in by ``alpha`` in [0, 1]."""
        _int(level, "level", low=0)
        if level >= len(self.resolutions):
            raise ValueError(f"level must be < {len(self.resolutions)} (resolutions {self.resolutions}), got {level}.")
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must be a number in [0, 1], got {alpha!r}.")
        self.level, self.alpha = level, float(alpha)

    @property
    def resolution(self) -> int:
        """The current resolution."""
        return self.resolutions[self.level]


def _lrelu(x: Tensor) -> Tensor:
    return F.leaky_relu(x, 0.2)


def _example_z(model: nn.Module, batch_size: int) -> Tensor:
    return model.sample_z(batch_size)


def _example_images(model: nn.Module, batch_size: int) -> Tensor:
    return torch.randn(batch_size, model.channels, model.max_resolution, model.max_resolution)


@register_model(
    "progan_generator",
    kind="generator",
    example_kwargs={"z_dim": 16, "channels": 1, "max_resolution": 16, "widths": 8, "level": 2, "alpha": 0.5},
    example_input=_example_z,
    expected_shape=lambda model, n: (n, model.channels, model.max_resolution, model.max_resolution),
)
class ProGANGenerator(_StageMixin, nn.Module):
    r"""ProGAN's generator, all resolutions built, the active ones chosen by :meth:`set_stage` (Table 2 of the paper,
    at small widths).

    ``z -> pixel_norm -> EqualizedLinear to (C_0, 4, 4) -> lrelu -> PN -> conv3x3 -> lrelu -> PN``, then per
    resolution ``upsample x2 -> (conv3x3 -> lrelu -> PN) x 2``; a 1x1 ``toRGB`` per resolution (linear output). In
    a fade-in (``alpha < 1``) the output is :math:`(1 - \alpha)\,\mathrm{up}(\mathrm{toRGB}_{k-1}(h_{k-1})) + \alpha\,
    \mathrm{toRGB}_k(h_k)`. The result is upsampled (nearest) to ``max_resolution``.

    Args:
        z_dim: latent size (512 in the paper).
        channels: image channels.
        max_resolution: final side (a power of 2 times ``start_resolution``).
        widths: feature maps per resolution (one int for all, or one per resolution from 4x4 up).
        start_resolution: 4 in the paper.
        level, alpha: the initial stage (default: all blocks, fully faded in).
    """

    def __init__(self, z_dim: int = 64, channels: int = 1, max_resolution: int = 32,
                 widths: Sequence[int] | int = 32, start_resolution: int = 4, level: int | None = None,
                 alpha: float = 1.0) -> None:
        super().__init__()
        self.z_dim, self.channels = _int(z_dim, "z_dim"), _int(channels, "channels")
        self.max_resolution = max_resolution
        self.resolutions = _resolutions(max_resolution, start_resolution)
        w = _widths(widths, len(self.resolutions))
        s = start_resolution
        self.project = EqualizedLinear(z_dim, w[0] * s * s, gain=math.sqrt(2) / 4)  # the paper's 4x4 "conv"
        self.start_conv = EqualizedConv2d(w[0], w[0], 3, padding=1)
        self.blocks = nn.ModuleList(
            nn.ModuleList([EqualizedConv2d(w[k - 1], w[k], 3, padding=1), EqualizedConv2d(w[k], w[k], 3, padding=1)])
            for k in range(1, len(self.resolutions))
        )
        self.to_rgb = nn.ModuleList(EqualizedConv2d(c, channels, 1, gain=1.0) for c in w)
        self.widths = w
        self.set_stage(len(self.resolutions) - 1 if level is None else level, alpha)

    def features(self, z: Tensor, level: int) -> list[Tensor]:
        """The feature maps ``h_0 .. h_level`` (one per resolution)."""
        s = self.resolutions[0]
        h = _lrelu(self.project(pixel_norm(z))).view(z.shape[0], self.widths[0], s, s)  # (N, C_0, 4, 4)
        h = pixel_norm(_lrelu(self.start_conv(pixel_norm(h))))
        out = [h]
        for conv1, conv2 in self.blocks[:level]:
            h = F.interpolate(h, scale_factor=2, mode="nearest")  # (N, C, 2H, 2W)
            h = pixel_norm(_lrelu(conv1(h)))
            h = pixel_norm(_lrelu(conv2(h)))
            out.append(h)
        return out

    def forward(self, z: Tensor) -> Tensor:
        """``(N, z_dim) -> (N, channels, max_resolution, max_resolution)`` at the current stage."""
        z = _tensor(z, "z")
        if z.dim() != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"z must have shape (N, {self.z_dim}), got {tuple(z.shape)}.")
        hs = self.features(z, self.level)
        img = self.to_rgb[self.level](hs[-1])  # (N, channels, r, r)
        if self.level > 0 and self.alpha < 1.0:
            old = F.interpolate(self.to_rgb[self.level - 1](hs[-2]), scale_factor=2, mode="nearest")
            img = torch.lerp(old, img, self.alpha)  # (1 - alpha) old + alpha new
        factor = self.max_resolution // self.resolution
        return img if factor == 1 else F.interpolate(img, scale_factor=factor, mode="nearest")

    # z ~ N(0, I), shape (n, z_dim), on the model's device (or `device`): the MLP generator's method, shared
    sample_z = MLPGenerator.sample_z

    def extra_repr(self) -> str:
        return f"resolutions={self.resolutions}, level={self.level}, alpha={self.alpha:g}"


@register_model(
    "progan_discriminator",
    kind="discriminator",
    example_kwargs={"channels": 1, "max_resolution": 16, "widths": 8, "level": 1, "alpha": 0.3},
    example_input=_example_images,
    expected_shape=lambda model, n: (n,),
)
class ProGANDiscriminator(_StageMixin, nn.Module):
    r"""ProGAN's discriminator, the mirror of :class:`ProGANGenerator`: ``fromRGB`` (1x1) at the current resolution,
    per resolution ``(conv3x3 -> lrelu) x 2 -> avg-pool /2``, and at 4x4 ``minibatch_stddev -> conv3x3 -> lrelu ->
    conv4x4 -> lrelu -> linear`` to one logit. In a fade-in the input also enters one level lower,
    :math:`h = (1 - \alpha)\,\mathrm{fromRGB}_{k-1}(\mathrm{down}(x)) + \alpha\, \mathrm{block}_k(\mathrm{fromRGB}_k
    (x))`. The input, of side ``max_resolution``, is first average-pooled to the current resolution. No batch norm.

    Args:
        channels, max_resolution, widths, start_resolution, level, alpha: as for the generator.
        group_size: of the minibatch standard deviation (4).
    """

    def __init__(self, channels: int = 1, max_resolution: int = 32, widths: Sequence[int] | int = 32,
                 start_resolution: int = 4, level: int | None = None, alpha: float = 1.0,
                 group_size: int = 4) -> None:
        super().__init__()
        self.channels, self.max_resolution = _int(channels, "channels"), max_resolution
        self.resolutions = _resolutions(max_resolution, start_resolution)
        w = _widths(widths, len(self.resolutions))
        self.widths = w
        self.from_rgb = nn.ModuleList(EqualizedConv2d(channels, c, 1) for c in w)
        # blocks[k-1] takes resolution k down to k-1
        self.blocks = nn.ModuleList(
            nn.ModuleList([EqualizedConv2d(w[k], w[k], 3, padding=1), EqualizedConv2d(w[k], w[k - 1], 3, padding=1)])
            for k in range(1, len(self.resolutions))
        )
        self.mbstd = MinibatchStdDev(group_size)
        s = start_resolution
        self.final_conv = EqualizedConv2d(w[0] + 1, w[0], 3, padding=1)
        self.final_dense = EqualizedConv2d(w[0], w[0], s)  # the 4x4 "dense" as a valid convolution
        self.out = EqualizedLinear(w[0], 1, gain=1.0)
        self.set_stage(len(self.resolutions) - 1 if level is None else level, alpha)

    def forward(self, x: Tensor) -> Tensor:
        """``(N, channels, max_resolution, max_resolution) -> (N,)`` logits at the current stage."""
        x = _tensor(x, "x")
        if x.dim() != 4 or x.shape[1] != self.channels or x.shape[-1] != self.max_resolution \
                or x.shape[-2] != self.max_resolution:
            raise ValueError(f"x must have shape (N, {self.channels}, {self.max_resolution}, {self.max_resolution}),"
                             f" got {tuple(x.shape)}.")
        factor = self.max_resolution // self.resolution
        if factor > 1:
            x = F.avg_pool2d(x, factor)  # (N, C, r, r)
        k = self.level
        h = _lrelu(self.from_rgb[k](x))
        if k > 0:
            conv1, conv2 = self.blocks[k - 1]
            h = F.avg_pool2d(_lrelu(conv2(_lrelu(conv1(h)))), 2)  # resolution k -> k-1
            if self.alpha < 1.0:
                old = _lrelu(self.from_rgb[k - 1](F.avg_pool2d(x, 2)))
                h = torch.lerp(old, h, self.alpha)
            for conv1, conv2 in reversed(self.blocks[: k - 1]):
                h = F.avg_pool2d(_lrelu(conv2(_lrelu(conv1(h)))), 2)
        h = self.mbstd(h)  # (N, C_0 + 1, 4, 4)
        h = _lrelu(self.final_conv(h))
        h = _lrelu(self.final_dense(h)).flatten(1)  # (N, C_0)
        return self.out(h).squeeze(1)  # (N,)

    def extra_repr(self) -> str:
        return f"resolutions={self.resolutions}, level={self.level}, alpha={self.alpha:g}"


def growth_stage(step: int, n_levels: int, fade_steps: int, stable_steps: int) -> tuple[int, float]:
    r"""``(level, alpha)`` at generator update ``step`` (0-based) of a progressive schedule.

    Level 0 trains ``stable_steps``; every next level first fades in over ``fade_steps`` (:math:`\alpha` rising
    linearly from :math:`1/\text{fade\_steps}` to 1), then trains ``stable_steps`` at :math:`\alpha = 1`. After the
    last phase the stage stays at the top level with :math:`\alpha = 1`.
    """
    _int(step, "step", low=0)
    _int(n_levels, "n_levels")
    _int(fade_steps, "fade_steps", low=0)
    _int(stable_steps, "stable_steps", low=0)
    if step < stable_steps or n_levels == 1:
        return 0, 1.0
    t = step - stable_steps
    for level in range(1, n_levels):
        if t < fade_steps:
            return level, (t + 1) / fade_steps
        t -= fade_steps
        if t < stable_steps:
            return level, 1.0
        t -= stable_steps
    return n_levels - 1, 1.0


class ProgressiveGrowing(Callback):
    """The growing schedule as a callback of the one trainer: before each step, set both networks' stage.

    ``AdversarialTrainer(G, D, data, config, callbacks=[ProgressiveGrowing(fade_steps=100, stable_steps=100)])``:
    the stage is a function of ``trainer.step`` (:func:`growth_stage`), so a run resumed from a checkpoint continues
    in the right phase. ``total_steps(n_levels)`` gives the length of the whole schedule. ``history`` records
    ``(step, level, alpha)`` at every change of level.
    """

    def __init__(self, fade_steps: int, stable_steps: int) -> None:
        self.fade_steps = _int(fade_steps, "fade_steps", low=0)
        self.stable_steps = _int(stable_steps, "stable_steps", low=0)
        if fade_steps + stable_steps == 0:
            raise ValueError("fade_steps + stable_steps must be positive.")
        self.history: list[tuple[int, int, float]] = []

    def total_steps(self, n_levels: int) -> int:
        """Steps from the first level to the end of the last stable phase."""
        return self.stable_steps + (n_levels - 1) * (self.fade_steps + self.stable_steps)

    def _apply(self, trainer: Any) -> None:
        G, D = trainer.G, trainer.D
        n = len(G.resolutions)
        if len(getattr(D, "resolutions", [])) != n:
            raise ValueError("ProgressiveGrowing needs a generator and a discriminator with the same resolutions "
                             "(ProGANGenerator and ProGANDiscriminator).")
        level, alpha = growth_stage(trainer.step, n, self.fade_steps, self.stable_steps)
        if not self.history or self.history[-1][1] != level:
            self.history.append((trainer.step, level, alpha))
        G.set_stage(level, alpha)
        D.set_stage(level, alpha)

    def on_fit_start(self, trainer: Any) -> None:
        self._apply(trainer)

    def on_step_end(self, trainer: Any, step: int, logs: Mapping[str, float]) -> None:
        self._apply(trainer)  # trainer.step == step: the stage of the next update


def _zoo_models(sample_shape: tuple[int, ...], z_dim: int) -> tuple[nn.Module, nn.Module]:
    c, size = sample_shape[0], sample_shape[-1]
    return (ProGANGenerator(z_dim, c, size, widths=16, level=0),
            ProGANDiscriminator(c, size, widths=16, level=0))


def _register_zoo() -> None:
    from course_lib.zoo import FastRecipe, ZooEntry, register_variant

    register_variant(ZooEntry(
        "progan", "ProGAN",
        "Grow both networks from 4x4 up, fading each new resolution in, with pixel norm, the minibatch standard "
        "deviation and the equalized learning rate keeping the G/D competition in check.",
        r"\begin{aligned} x_{\text{out}} &= (1 - \alpha)\,\mathrm{up}(\mathrm{toRGB}_{k-1}(h_{k-1})) + \alpha\,"
        r"\mathrm{toRGB}_k(h_k), \\ b &= a \big/ \sqrt{\tfrac1C\textstyle\sum_j (a^j)^2 + \epsilon},\quad "
        r"\hat w = w \cdot \tfrac{\sqrt2}{\sqrt{\text{fan-in}}} \end{aligned}",
        ("karras2018progan",),
        ("course_lib.gan.progan.ProGANGenerator", "course_lib.gan.progan.ProGANDiscriminator",
         "course_lib.gan.progan.ProgressiveGrowing", "course_lib.gan.progan.pixel_norm",
         "course_lib.gan.progan.minibatch_stddev", "course_lib.gan.progan.EqualizedConv2d"),
        "chapters/09_progressive_and_style/theory",
        FastRecipe(_zoo_models, loss="non_saturating", steps=90, batch_size=32,
                   config={"lr_g": 1e-3, "lr_d": 1e-3, "betas": (0.0, 0.99)},
                   callbacks=lambda steps: [ProgressiveGrowing(fade_steps=steps // 3, stable_steps=steps // 3)],
                   note="4x4 then 8x8 with a fade-in; the paper's Adam(1e-3, (0, 0.99)) but the non-saturating "
                        "loss instead of WGAN-GP, to fit the budget."),
    ))


_register_zoo()
