r"""pix2pix (Isola et al., CVPR 2017): a U-Net generator, a PatchGAN discriminator and the cGAN + L1 objective.

The networks are layer for layer those of the authors' PyTorch code (``pytorch-CycleGAN-and-pix2pix``,
``networks.py``: ``UnetGenerator`` built from nested ``UnetSkipConnectionBlock``\ s, ``NLayerDiscriminator`` and
``PixelDiscriminator``), written here from the paper's appendix and that code's structure, so their parameter counts
are the reference ones (FACTS.md): the 256 x 256 U-Net (``num_downs=8``) with batch norm has 54,413,955 parameters,
the ``n_layers=3`` PatchGAN on 6 channels with batch norm 2,768,705.

- :class:`UNetGenerator`: ``num_downs`` stride-2 4x4 convolutions down to a ``H / 2^num_downs`` bottleneck and as many
  stride-2 4x4 transposed convolutions up; each level returns ``cat([skip, up], dim=1)`` (the skip first, then the
  upsampled features), and dropout 0.5 follows the transposed convolutions of the ``num_downs - 5`` levels just
  outside the innermost (three at 256 x 256). ``skip=False`` gives the paper's encoder-decoder: the same layers
  without the concatenations (:class:`EncoderDecoderGenerator`).
- :class:`PatchDiscriminator`: ``n_layers`` stride-2 4x4 convolutions, one stride-1, then a 1-channel stride-1 4x4
  convolution: one logit per :func:`patch_receptive_field` ``(n_layers)`` square patch (70 x 70 for ``n_layers=3``,
  a 30 x 30 map on 256 x 256). ``n_layers=0`` is the PixelGAN (1 x 1 convolutions, receptive field 1); 1 is the
  16 x 16 PatchGAN; 5 reaches 286 >= 256, the ImageGAN.
- :class:`Pix2PixObjective`: for the one trainer (:class:`course_lib.train.AdversarialTrainer`), with paired data
  ``(a, b)`` (input, target):

  .. math::
      L_D = \tfrac12\big[\ell(D(a, b), 1) + \ell(D(a, G(a)), 0)\big],\qquad
      L_G = \ell(D(a, G(a)), 1) + \lambda\, \mathbb E\lVert b - G(a)\rVert_1,\quad \lambda = 100,

  where :math:`D(a, y)` is the discriminator applied to ``cat([a, y], dim=1)``, :math:`\ell` a GAN loss averaged
  over every patch (binary cross-entropy on logits, the non-saturating generator loss, by default) and the halved
  :math:`L_D` slows D down relative to G (Sec. 3.3 of the paper). No noise ``z``: dropout is pix2pix's noise.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from course_lib.registry import register_model

__all__ = [
    "UNetGenerator",
    "UNetSkipBlock",
    "EncoderDecoderGenerator",
    "PatchDiscriminator",
    "patch_receptive_field",
    "receptive_field",
    "conv_layers",
    "PATCH_SETTINGS",
    "Pix2PixObjective",
    "dropout_active",
    "count_parameters",
    "NORMS",
]

NORMS = ("batch", "instance", "none")

#: The discriminators of the paper's Table 3 / Figure 6 as ``n_layers`` settings: name -> (n_layers, patch side).
PATCH_SETTINGS: dict[str, tuple[int, int]] = {
    "PixelGAN": (0, 1),
    "PatchGAN 16x16": (1, 16),
    "PatchGAN 70x70": (3, 70),
    "ImageGAN 286x286": (5, 286),
}


# ----------------------------------------------------------------------------------------------------------------------
# Checks and small helpers
# ----------------------------------------------------------------------------------------------------------------------
def _int(value: object, name: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}.")
    if value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}.")
    return value


def _norm_name(norm: object) -> str:
    if not isinstance(norm, str):
        raise TypeError(f"norm must be one of {NORMS}, got {type(norm).__name__}.")
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {NORMS}, got {norm!r}.")
    return norm


def _norm(norm: str, channels: int) -> nn.Module:
    """The reference code's norm layers: batch norm (affine, running statistics), instance norm (no affine, no
    running statistics), or nothing."""
    if norm == "batch":
        return nn.BatchNorm2d(channels)
    if norm == "instance":
        return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)
    return nn.Identity()


def _uses_bias(norm: str) -> bool:
    """A convolution followed by batch norm has no bias (batch norm's shift replaces it); with instance norm
    (no affine) or no norm it keeps one. (The reference code also drops it for norm 'none'; here it is kept.)"""
    return norm != "batch"


def _images(x: object, name: str, channels: int | None = None) -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}.")
    if x.dim() != 4 or not x.is_floating_point():
        raise ValueError(f"{name} must be a floating (N, C, H, W) tensor, got {x.dtype} {tuple(x.shape)}.")
    if channels is not None and x.shape[1] != channels:
        raise ValueError(f"{name} must have {channels} channels, got {x.shape[1]} ({tuple(x.shape)}).")
    return x


def count_parameters(module: nn.Module) -> int:
    """The number of trainable scalars of ``module``."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


# ----------------------------------------------------------------------------------------------------------------------
# The U-Net generator
# ----------------------------------------------------------------------------------------------------------------------
class UNetSkipBlock(nn.Module):
    r"""One level of the U-Net: down, the inner levels (``submodule``), up, and the skip concatenation.

    For an input :math:`x` of shape ``(N, outer, H, W)`` (``in_channels`` at the outermost level):

    .. math::
        d = \mathrm{Norm}(\mathrm{Conv}_{4,2}(\mathrm{LReLU}_{0.2}(x))) \in \mathbb R^{N \times \text{inner}
        \times H/2 \times W/2},\quad u = \mathrm{Norm}(\mathrm{ConvT}_{4,2}(\mathrm{ReLU}(\text{sub}(d))))
        \in \mathbb R^{N \times \text{outer} \times H \times W},

    and the block returns :math:`\mathrm{cat}([\mathrm{LReLU}_{0.2}(x), u], 1)` (``2 * outer`` channels: the skip
    first; the reference's in-place LeakyReLU makes its skip carry :math:`\mathrm{LReLU}(x)`, not :math:`x`), so the
    next level up sees twice the channels. The innermost level has no submodule and no norm after its down
    convolution; the outermost has no LeakyReLU/norm around its down convolution, ends with ``Tanh`` and returns
    ``u`` alone.
    With ``skip=False`` (the encoder-decoder) every level returns ``u`` and the up convolutions take ``inner``
    channels instead of ``2 * inner``.
    """

    def __init__(self, outer_channels: int, inner_channels: int, in_channels: int | None = None,
                 submodule: nn.Module | None = None, *, outermost: bool = False, innermost: bool = False,
                 norm: str = "batch", dropout: bool = False, skip: bool = True) -> None:
        super().__init__()
        outer_channels = _int(outer_channels, "outer_channels", 1)
        inner_channels = _int(inner_channels, "inner_channels", 1)
        in_channels = outer_channels if in_channels is None else _int(in_channels, "in_channels", 1)
        norm = _norm_name(norm)
        if innermost == (submodule is not None):
            raise ValueError("the innermost block has no submodule; every other block needs one.")
        if outermost and innermost:
            raise ValueError("a block cannot be both outermost and innermost (num_downs >= 2).")
        self.outermost, self.innermost, self.skip = outermost, innermost, skip
        self.outer_channels, self.inner_channels, self.in_channels = outer_channels, inner_channels, in_channels
        bias = _uses_bias(norm)
        down_conv = nn.Conv2d(in_channels, inner_channels, 4, stride=2, padding=1, bias=bias)
        # what comes back up from below: the inner block's concatenation (2 x inner) unless innermost / no skips
        up_in = inner_channels if (innermost or not skip) else 2 * inner_channels
        if outermost:
            up_conv = nn.ConvTranspose2d(up_in, outer_channels, 4, stride=2, padding=1)   # bias kept
            layers: list[nn.Module] = [down_conv, submodule, nn.ReLU(True), up_conv, nn.Tanh()]
        elif innermost:
            up_conv = nn.ConvTranspose2d(up_in, outer_channels, 4, stride=2, padding=1, bias=bias)
            layers = [nn.LeakyReLU(0.2), down_conv, nn.ReLU(True), up_conv, _norm(norm, outer_channels)]
        else:
            up_conv = nn.ConvTranspose2d(up_in, outer_channels, 4, stride=2, padding=1, bias=bias)
            layers = [nn.LeakyReLU(0.2), down_conv, _norm(norm, inner_channels), submodule, nn.ReLU(True),
                      up_conv, _norm(norm, outer_channels)]
            if dropout:
                layers.append(nn.Dropout(0.5))
        self.model = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        if self.outermost or not self.skip:
            return self.model(x)
        # The skip carries LReLU(x), as the reference computes it: its first layer is an in-place LeakyReLU, which
        # rewrites x before ``torch.cat([x, model(x)])`` reads it. Written out here without the in-place trick.
        h = self.model[0](x)
        return torch.cat([h, self.model[1:](h)], dim=1)


def _example_images(model: nn.Module, batch_size: int) -> Tensor:
    side = 2 ** model.num_downs
    return torch.randn(batch_size, model.in_channels, side, side)


def _expected_images(model: nn.Module, batch_size: int) -> tuple[int, ...]:
    side = 2 ** model.num_downs
    return (batch_size, model.out_channels, side, side)


@register_model("unet_generator", kind="translator",
                example_kwargs={"in_channels": 3, "out_channels": 3, "num_downs": 5, "base_channels": 4},
                example_input=_example_images, expected_shape=_expected_images)
class UNetGenerator(nn.Module):
    r"""The pix2pix U-Net (the authors' ``UnetGenerator``): ``(N, in, H, W) -> (N, out, H, W)`` in [-1, 1].

    With ``c = base_channels`` the encoder widths are ``c, 2c, 4c, 8c, 8c, ...`` (``num_downs`` stride-2 levels,
    ``H`` and ``W`` must be divisible by ``2^num_downs``; 256 needs ``num_downs=8`` for a 1 x 1 bottleneck). The
    decoder mirrors them; decoder level ``i`` concatenates encoder level ``i``'s input (the skip) before its own
    output. Dropout 0.5 (``dropout=True``) sits in the ``num_downs - 5`` middle 8c levels, as in the reference.

    Args:
        in_channels, out_channels: image channels of the input ``a`` and of the output ``G(a)``.
        num_downs: number of downsamplings (>= 2 here; the reference builds >= 5 and so does ``num_downs=5``).
        base_channels: ``ngf``, the width of the outermost level (64).
        norm: ``"batch"`` (the paper), ``"instance"`` or ``"none"``.
        dropout: dropout 0.5 in the middle levels (the paper's noise).
        skip: the skip connections; ``False`` is the encoder-decoder of the paper's Figure 4.
    """

    def __init__(self, in_channels: int = 3, out_channels: int = 3, num_downs: int = 8, base_channels: int = 64,
                 norm: str = "batch", dropout: bool = True, skip: bool = True) -> None:
        super().__init__()
        self.in_channels = _int(in_channels, "in_channels", 1)
        self.out_channels = _int(out_channels, "out_channels", 1)
        self.num_downs = _int(num_downs, "num_downs", 2)
        c = _int(base_channels, "base_channels", 1)
        self.base_channels, self.norm = c, _norm_name(norm)
        if not isinstance(dropout, bool) or not isinstance(skip, bool):
            raise TypeError("dropout and skip must be bools.")
        self.dropout, self.skip = dropout, skip
        # level k (0 = outermost) downsamples to c min(2^k, 8) channels: c, 2c, 4c, 8c, 8c, ... (the reference's)
        widths = [min(2 ** k, 8) * c for k in range(self.num_downs)]
        block: nn.Module | None = None
        for k in reversed(range(self.num_downs)):
            inner = widths[k]
            outer = out_channels if k == 0 else widths[k - 1]
            innermost = k == self.num_downs - 1
            # dropout in the 8c levels between the innermost and the 4c->8c level (the reference's num_downs - 5)
            use_dropout = dropout and not innermost and k >= 4
            block = UNetSkipBlock(outer, inner, in_channels if k == 0 else None, block, outermost=k == 0,
                                  innermost=innermost, norm=self.norm, dropout=use_dropout, skip=skip)
        self.model = block
        self.widths = tuple(widths)

    def forward(self, a: Tensor) -> Tensor:
        a = _images(a, "a", self.in_channels)
        side = 2 ** self.num_downs
        if a.shape[-2] % side or a.shape[-1] % side:
            raise ValueError(f"H and W must be multiples of 2^num_downs = {side}, got {tuple(a.shape[-2:])}.")
        return self.model(a)

    def blocks(self) -> list[UNetSkipBlock]:
        """The levels from the outermost (index 0) to the innermost."""
        out, block = [], self.model
        while isinstance(block, UNetSkipBlock):
            out.append(block)
            block = next((m for m in block.model if isinstance(m, UNetSkipBlock)), None)
        return out


@register_model("encoder_decoder_generator", kind="translator",
                example_kwargs={"in_channels": 1, "out_channels": 3, "num_downs": 4, "base_channels": 4},
                example_input=_example_images, expected_shape=_expected_images)
class EncoderDecoderGenerator(UNetGenerator):
    """The paper's encoder-decoder: :class:`UNetGenerator` with ``skip=False`` (every bit of ``a`` must pass through
    the ``H / 2^num_downs`` bottleneck)."""

    def __init__(self, in_channels: int = 3, out_channels: int = 3, num_downs: int = 8, base_channels: int = 64,
                 norm: str = "batch", dropout: bool = True) -> None:
        super().__init__(in_channels, out_channels, num_downs, base_channels, norm, dropout, skip=False)


# ----------------------------------------------------------------------------------------------------------------------
# The PatchGAN discriminator and its receptive field
# ----------------------------------------------------------------------------------------------------------------------
def patch_receptive_field(n_layers: int) -> int:
    r"""The side of the input square one output logit of :class:`PatchDiscriminator` (``n_layers``) sees.

    Going back from one output unit, a layer with kernel :math:`k` and stride :math:`s` maps a field of side
    :math:`r` to :math:`r' = s (r - 1) + k`. The PatchGAN ends with two stride-1 4x4 convolutions
    (:math:`1 \to 4 \to 7`) after ``n_layers`` stride-2 4x4 ones (:math:`r \to 2r + 2`), so
    :math:`r(n) = 9 \cdot 2^n - 2`: 16, 34, 70, 142, 286 for ``n = 1..5``. ``n_layers=0`` is the PixelGAN (1x1
    convolutions): 1.
    """
    n_layers = _int(n_layers, "n_layers", 0)
    if n_layers == 0:
        return 1
    r = 1
    for k, s in reversed([(4, 2)] * n_layers + [(4, 1), (4, 1)]):
        r = s * (r - 1) + k
    return r


def conv_layers(module: nn.Module) -> list[tuple[int, int]]:
    """``(kernel, stride)`` of every ``Conv2d`` of ``module`` in forward (registration) order (square kernels)."""
    if not isinstance(module, nn.Module):
        raise TypeError(f"module must be an nn.Module, got {type(module).__name__}.")
    out = []
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            k, s = m.kernel_size, m.stride
            if k[0] != k[1] or s[0] != s[1]:
                raise ValueError(f"only square kernels and strides are supported, got {k}, {s}.")
            out.append((int(k[0]), int(s[0])))
    return out


def receptive_field(layers: Sequence[tuple[int, int]]) -> int:
    r"""The receptive field of a chain of convolutions ``[(kernel, stride), ...]`` (input to output order):
    :math:`r_L = 1,\ r_{l-1} = s_l (r_l - 1) + k_l`, returned for the input. Dilation 1."""
    if isinstance(layers, (str, bytes)) or not isinstance(layers, Sequence):
        raise TypeError("layers must be a sequence of (kernel, stride) pairs.")
    r = 1
    for pair in reversed(list(layers)):
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise TypeError(f"each layer must be a (kernel, stride) pair, got {pair!r}.")
        k, s = _int(pair[0], "kernel", 1), _int(pair[1], "stride", 1)
        r = s * (r - 1) + k
    return r


def _example_pairs(model: nn.Module, batch_size: int) -> Tensor:
    return torch.randn(batch_size, model.in_channels, 32, 32)


def _expected_patches(model: nn.Module, batch_size: int) -> tuple[int, ...]:
    return (batch_size, 1) + model.output_size(32, 32)


@register_model("patch_discriminator", kind="discriminator",
                example_kwargs={"in_channels": 6, "base_channels": 4, "n_layers": 2},
                example_input=_example_pairs, expected_shape=_expected_patches)
class PatchDiscriminator(nn.Module):
    r"""The pix2pix PatchGAN (the authors' ``NLayerDiscriminator``; ``n_layers=0``: their ``PixelDiscriminator``).

    ``(N, in_channels, H, W) -> (N, 1, H', W')`` logits, one per patch of side :func:`patch_receptive_field`
    ``(n_layers)``. Layers (``c = base_channels``, 4x4 kernels, padding 1, LeakyReLU 0.2):
    ``Conv(in, c, s2)`` (no norm), then for ``n = 1..n_layers-1`` ``Conv(c min(2^{n-1}, 8), c min(2^n, 8), s2) +
    Norm``, then ``Conv(., c min(2^{n_layers}, 8), s1) + Norm`` and ``Conv(., 1, s1)``. For pix2pix ``in_channels`` is
    the input plus the output channels: D judges ``cat([a, b], 1)``.

    Args:
        in_channels: 6 for RGB -> RGB pix2pix (3 for an unconditional D or CycleGAN's).
        base_channels: ``ndf`` (64).
        n_layers: 0 (PixelGAN, 1x1), 1 (16x16), 2 (34x34), 3 (70x70, the paper's), 4 (142), 5 (286, ImageGAN at 256).
        norm: ``"batch"``, ``"instance"`` or ``"none"``.
    """

    def __init__(self, in_channels: int = 6, base_channels: int = 64, n_layers: int = 3, norm: str = "batch") -> None:
        super().__init__()
        self.in_channels = _int(in_channels, "in_channels", 1)
        c = self.base_channels = _int(base_channels, "base_channels", 1)
        self.n_layers = _int(n_layers, "n_layers", 0)
        self.norm = _norm_name(norm)
        bias = _uses_bias(self.norm)
        if self.n_layers == 0:      # PixelGAN: 1x1 convolutions, every pixel judged alone
            layers: list[nn.Module] = [
                nn.Conv2d(in_channels, c, 1), nn.LeakyReLU(0.2, True),
                nn.Conv2d(c, 2 * c, 1, bias=bias), _norm(self.norm, 2 * c), nn.LeakyReLU(0.2, True),
                nn.Conv2d(2 * c, 1, 1, bias=bias),
            ]
        else:
            layers = [nn.Conv2d(in_channels, c, 4, stride=2, padding=1), nn.LeakyReLU(0.2, True)]
            mult = 1
            for n in range(1, self.n_layers):
                prev, mult = mult, min(2 ** n, 8)
                layers += [nn.Conv2d(c * prev, c * mult, 4, stride=2, padding=1, bias=bias), _norm(self.norm, c * mult),
                           nn.LeakyReLU(0.2, True)]
            prev, mult = mult, min(2 ** self.n_layers, 8)
            layers += [nn.Conv2d(c * prev, c * mult, 4, stride=1, padding=1, bias=bias), _norm(self.norm, c * mult),
                       nn.LeakyReLU(0.2, True), nn.Conv2d(c * mult, 1, 4, stride=1, padding=1)]
        self.model = nn.Sequential(*layers)

    @property
    def receptive_field(self) -> int:
        """The side of the square patch behind each output logit."""
        return patch_receptive_field(self.n_layers)

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        """The logit map's ``(H', W')`` for an ``H x W`` input: ``floor((x + 2 - 4) / 2) + 1`` per stride-2
        layer, then ``x - 1`` per stride-1 layer (256 -> 30 for ``n_layers=3``)."""
        h, w = _int(height, "height", 1), _int(width, "width", 1)
        if self.n_layers == 0:
            return h, w
        for _ in range(self.n_layers):
            h, w = (h - 2) // 2 + 1, (w - 2) // 2 + 1
        h, w = h - 2, w - 2
        if h < 1 or w < 1:
            raise ValueError(f"a {height}x{width} input is too small for n_layers={self.n_layers}.")
        return h, w

    def forward(self, x: Tensor) -> Tensor:
        x = _images(x, "x", self.in_channels)
        self.output_size(x.shape[-2], x.shape[-1])       # a clear error for inputs that are too small
        return self.model(x)


# ----------------------------------------------------------------------------------------------------------------------
# The objective
# ----------------------------------------------------------------------------------------------------------------------
@contextlib.contextmanager
def dropout_active(model: nn.Module) -> Iterator[nn.Module]:
    """Within the block, every ``nn.Dropout`` of ``model`` is in training mode (the rest as it was): pix2pix keeps
    dropout at test time, its only source of randomness. Modes are restored on exit."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}.")
    drops = [m for m in model.modules() if isinstance(m, nn.Dropout)]
    modes = [m.training for m in drops]
    try:
        for m in drops:
            m.train(True)
        yield model
    finally:
        for m, mode in zip(drops, modes):
            m.train(mode)


def _pair(batch: Any) -> tuple[Tensor, Tensor]:
    if not isinstance(batch, (tuple, list)) or len(batch) != 2:
        raise TypeError(f"pix2pix needs paired data (a, b): a tuple of two image tensors, got "
                        f"{type(batch).__name__}{'' if not isinstance(batch, (tuple, list)) else f' of {len(batch)}'}.")
    a, b = _images(batch[0], "a"), _images(batch[1], "b")
    if a.shape[0] != b.shape[0] or a.shape[-2:] != b.shape[-2:]:
        raise ValueError(f"a and b must have the same N, H, W, got {tuple(a.shape)} and {tuple(b.shape)}.")
    return a, b


class Pix2PixObjective:
    r"""The pix2pix objective for :class:`~course_lib.train.AdversarialTrainer` (data: the pair ``(a, b)``).

    .. math::
        L_D = \tfrac12\big[\ell_D(D(a, b), D(a, G(a)))\big],\qquad
        L_G = w_{\text{GAN}}\, \ell_G(D(a, G(a))) + \lambda\, \operatorname{mean}|b - G(a)|,

    with :math:`D(a, y) = D(\mathrm{cat}([a, y], 1))` (``conditional``; else :math:`D(y)`), the logits of every patch
    flattened into one batch (so the loss is the mean over patches and samples), and :math:`(\ell_D, \ell_G)` the
    named GAN loss (``"non_saturating"``: :math:`\ell_D = \operatorname{mean}\,\mathrm{softplus}(-r) +
    \operatorname{mean}\,\mathrm{softplus}(f)`, :math:`\ell_G = \operatorname{mean}\,\mathrm{softplus}(-f)`, the
    reference's BCE with targets 1 and 0). ``gan_weight=0`` gives "L1 only", ``lambda_l1=0`` "cGAN only".

    Args:
        lambda_l1: :math:`\lambda` (100 in the paper).
        gan_weight: weight of the adversarial term in :math:`L_G` (1; 0 for the L1-only ablation).
        conditional: D sees ``cat([a, y])`` (True, pix2pix) or ``y`` alone (the paper's "GAN" row).
        loss: a registered GAN loss name (:func:`course_lib.gan.losses.list_gan_losses`).
        d_factor: the factor on D's loss (0.5: "we divide the objective by 2 while optimizing D").
        sample_inputs: ``a`` images shown by ``trainer.sample()`` when no batch is given (the zoo's grids).
        test_dropout: keep dropout on when sampling (the paper's test-time noise).
    """

    needs_noise = False

    def __init__(self, lambda_l1: float = 100.0, *, gan_weight: float = 1.0, conditional: bool = True,
                 loss: str = "non_saturating", d_factor: float = 0.5, sample_inputs: Tensor | None = None,
                 test_dropout: bool = True) -> None:
        from course_lib.gan.losses import get_gan_loss

        for name, value in (("lambda_l1", lambda_l1), ("gan_weight", gan_weight), ("d_factor", d_factor)):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(f"{name} must be a number, got {type(value).__name__}.")
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be finite and >= 0, got {value}.")
        if lambda_l1 == 0 and gan_weight == 0:
            raise ValueError("lambda_l1 and gan_weight are both 0: the generator would have no loss.")
        if not isinstance(conditional, bool) or not isinstance(test_dropout, bool):
            raise TypeError("conditional and test_dropout must be bools.")
        if sample_inputs is not None:
            _images(sample_inputs, "sample_inputs")
        self.lambda_l1, self.gan_weight, self.d_factor = float(lambda_l1), float(gan_weight), float(d_factor)
        self.conditional, self.test_dropout = conditional, test_dropout
        self.loss_name = loss
        self.loss = get_gan_loss(loss)
        self.sample_inputs = sample_inputs

    def _judge(self, D: nn.Module, a: Tensor, y: Tensor) -> Tensor:
        x = torch.cat([a, y], dim=1) if self.conditional else y
        return D(x).reshape(-1)                     # every patch logit of every sample, one flat batch

    def d_loss(self, G: nn.Module, D: nn.Module, batch: Any, z: Tensor | None) -> tuple[Tensor, dict[str, Tensor]]:
        a, b = _pair(batch)
        fake = G(a).detach()
        real_logits, fake_logits = self._judge(D, a, b), self._judge(D, a, fake)
        loss = self.d_factor * self.loss.d_loss(real_logits, fake_logits)
        return loss, {"d_real": torch.sigmoid(real_logits.detach()).mean(),
                      "d_fake": torch.sigmoid(fake_logits.detach()).mean()}

    def g_loss(self, G: nn.Module, D: nn.Module, batch: Any, z: Tensor | None) -> tuple[Tensor, dict[str, Tensor]]:
        a, b = _pair(batch)
        fake = G(a)
        l1 = (fake - b).abs().mean()
        if self.gan_weight > 0:
            adv = self.loss.g_loss(self._judge(D, a, fake))
        else:
            adv = fake.new_zeros(())
        loss = self.gan_weight * adv + self.lambda_l1 * l1
        return loss, {"l1": l1.detach(), "g_adv": adv.detach()}

    def sample(self, G: nn.Module, z: Tensor | None, batch: Any = None) -> Tensor:
        """``G(a)`` for the ``a`` of ``batch`` (a pair or the input images), else of ``sample_inputs`` (the first
        ``len(z)`` of them when ``z`` is given); dropout on when ``test_dropout``."""
        if batch is None:
            if self.sample_inputs is None:
                raise ValueError("Pix2PixObjective.sample needs a batch (a, b) or a, or sample_inputs.")
            a = self.sample_inputs
            if z is not None:
                a = a[: len(z)]
            dev = next(G.parameters()).device
            a = a.to(dev)
        elif isinstance(batch, Tensor):
            a = _images(batch, "a")
        else:
            a = _pair(batch)[0]
        if self.test_dropout:
            with dropout_active(G):
                return G(a)
        return G(a)

    def describe(self) -> str:
        parts = [f"pix2pix: {self.gan_weight:g} x {'cGAN' if self.conditional else 'GAN'} ({self.loss_name})",
                 f"{self.lambda_l1:g} x L1", f"D loss x {self.d_factor:g}"]
        return ", ".join(parts)


# ----------------------------------------------------------------------------------------------------------------------
# The zoo entry
# ----------------------------------------------------------------------------------------------------------------------
class Pix2PixZooRecipe:
    """The zoo's fast pix2pix: 16x16 grey -> colour crops (256 training crops at scale 1/8), a U-Net with 4 levels
    of width 8 (a 1x1 bottleneck), a 16x16 PatchGAN (``n_layers=1``), lambda = 100, Adam(2e-4, (0.5, 0.999)), batch
    16. A callable ``(steps, seed, device) -> AdversarialTrainer`` with ``steps`` and ``describe()`` for the cards."""

    steps = 120

    def __init__(self) -> None:
        self.__qualname__ = type(self).__qualname__      # named on the card ("a trainer built by ...")

    def describe(self) -> str:
        return (f"objective `Pix2PixObjective(100)`, data `grey2colour` 16x16 crops, U-Net num_downs 4 width 8, "
                f"PatchGAN n_layers 1, batch 16, {self.steps} steps")

    def __call__(self, steps: int, seed: int, device: torch.device) -> Any:
        from course_lib.data.paired import make_paired_task
        from course_lib.train import AdversarialTrainer, TrainerConfig

        task = make_paired_task("grey2colour", n_train=256, n_test=16, size=16, scale=0.125, seed=seed)
        G = UNetGenerator(task.in_channels, task.out_channels, num_downs=4, base_channels=8)
        D = PatchDiscriminator(task.in_channels + task.out_channels, base_channels=8, n_layers=1)
        objective = Pix2PixObjective(100.0, sample_inputs=task.test[0])
        config = TrainerConfig(steps=steps, batch_size=16, z_dim=1, seed=seed, log_every=max(1, steps // 20),
                               sample_every=0, n_samples=16, progress=False, amp="off")
        return AdversarialTrainer(G, D, task.train, config, objective=objective, device=device)


_ZOO_RECIPE = Pix2PixZooRecipe()


def _register_zoo() -> None:
    from course_lib.zoo import ZooEntry, register_variant

    register_variant(ZooEntry(
        "pix2pix", "pix2pix",
        "A conditional GAN on paired images: a U-Net generator, a PatchGAN discriminator that judges the input and "
        "output together patch by patch, and an L1 term that gets the low frequencies right.",
        r"G^* = \arg\min_G\max_D\; \mathcal L_{cGAN}(G, D) + \lambda\,\mathbb E\lVert y - G(x)\rVert_1,"
        r"\quad\lambda = 100,\quad L_D \text{ halved}",
        ("isola2017pix2pix",),
        ("course_lib.translation.pix2pix.UNetGenerator", "course_lib.translation.pix2pix.PatchDiscriminator",
         "course_lib.translation.pix2pix.Pix2PixObjective", "course_lib.translation.pix2pix.patch_receptive_field",
         "course_lib.data.paired.make_paired_task"),
        "chapters/10_pix2pix/theory",
        _ZOO_RECIPE,
    ))


_register_zoo()
