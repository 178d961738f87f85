r"""Inpainting as conditional generation: the Context Encoder (Pathak et al. 2016) and the context-conditional GAN
(CCGAN, Denton et al. 2016).

Masks are ``[B, 1, H, W]`` float tensors with **1 on the missing pixels** (Pathak's :math:`\hat M`) and 0 on the
context; the network sees :math:`(1 - \hat M) \odot x` (and the mask itself as a fourth channel here, so that it
knows where the hole is when holes move); the inpainted image is
:math:`\hat x = (1 - \hat M) \odot x + \hat M \odot G(\cdot)` (:func:`composite`).

- :class:`ContextEncoder`: a convolutional encoder down to ``[B, C, m, m]``, the **channel-wise fully connected**
  bottleneck (:class:`ChannelwiseFC`: one fully connected layer *per channel* from its :math:`m^2` positions to
  :math:`m^2` positions, :math:`C m^4` weights instead of :math:`C^2 m^4`, so that every output position sees the
  whole context), a 1x1 convolution that mixes the channels, and a decoder of transposed convolutions back to the
  image size. Loss (Pathak et al. Eq. 1-3): :math:`\lambda_{rec} \lVert \hat M \odot (x - F((1-\hat M) \odot x))
  \rVert_2^2 + \lambda_{adv} \mathcal L_{adv}` with :math:`\lambda_{rec} = 0.999`, :math:`\lambda_{adv} = 0.001`, the
  discriminator judging the **missing region** (:math:`\hat M \odot` real vs generated content).
- CCGAN: the same kind of generator, but the discriminator (:class:`InpaintDiscriminator`) sees the whole
  inpainted image **in its context**, :math:`\hat x` against :math:`x` (Denton et al. also use that discriminator
  as a semi-supervised classifier; the course keeps the inpainting part).

The objective for the one trainer is :class:`course_lib.restoration.objectives.InpaintingObjective`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from course_lib.registry import register_model

__all__ = ["ChannelwiseFC", "ContextEncoder", "InpaintDiscriminator", "center_mask", "random_block_masks",
           "composite", "masked_input", "box_mask", "PATHAK_LAMBDA_REC", "PATHAK_LAMBDA_ADV"]

#: Pathak et al. (2016): weights of the reconstruction and adversarial losses.
PATHAK_LAMBDA_REC = 0.999
PATHAK_LAMBDA_ADV = 0.001


class ChannelwiseFC(nn.Module):
    r"""A fully connected layer per channel: ``[B, C, m, m] -> [B, C, m, m]``,
    :math:`y_{b,c,:} = W_c\, x_{b,c,:} + b_c` with :math:`W_c \in \mathbb R^{m^2 \times m^2}` (flattened positions).

    No information flows between channels (Pathak et al. follow it with a stride-1 convolution for that).
    """

    def __init__(self, channels: int, size: int) -> None:
        super().__init__()
        self.channels, self.size = channels, size
        n = size * size
        self.weight = nn.Parameter(torch.empty(channels, n, n))
        self.bias = nn.Parameter(torch.zeros(channels, n))
        bound = 1.0 / math.sqrt(n)  # nn.Linear's default initialisation, per channel
        nn.init.uniform_(self.weight, -bound, bound)
        nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 4 or x.shape[1] != self.channels or tuple(x.shape[2:]) != (self.size, self.size):
            raise ValueError(f"x must be [B, {self.channels}, {self.size}, {self.size}], got {tuple(x.shape)}.")
        flat = x.flatten(2)  # (B, C, m^2)
        y = torch.einsum("cij,bcj->bci", self.weight, flat) + self.bias
        return y.view_as(x)


def _down(c_in: int, c_out: int, norm: bool) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 4, 2, 1), nn.BatchNorm2d(c_out) if norm else nn.Identity(),
                         nn.LeakyReLU(0.2))


def _up(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.ConvTranspose2d(c_in, c_out, 4, 2, 1), nn.BatchNorm2d(c_out), nn.ReLU())


class ContextEncoder(nn.Module):
    r"""Encoder -> channel-wise FC -> decoder: ``(x [B, C, S, S], mask [B, 1, S, S]) -> [B, C, S, S]`` in [0, 1].

    Args:
        in_channels: image channels.
        image_size: :math:`S`, a power of two times ``bottleneck_size``.
        channels: width of the first encoder layer (doubled per layer, capped at 8x).
        bottleneck_size: :math:`m`, the side of the encoder's last feature maps (4 in Pathak et al.).
        channelwise: use the channel-wise FC bottleneck (the Context Encoder); ``False`` gives the plain
            encoder-decoder used as the CCGAN generator here.
        mean_skip: fill the hole of the input with each image's mean context colour, and output that colour plus
            the decoder's (linear, zero-initialised) correction, so that the untrained network is a flat fill.
            Not in the paper (``False``: the hole is zeroed, the output a sigmoid); the course's ``fast`` profile
            uses it so that a few hundred CPU steps improve on a flat fill instead of first learning it.

    The input is :math:`(1 - \hat M)\odot x` with the mask as an extra channel; the output (sigmoid) is a whole
    image, of which only the hole is kept by :func:`composite`.
    """

    def __init__(self, in_channels: int = 3, image_size: int = 32, channels: int = 32, bottleneck_size: int = 4,
                 channelwise: bool = True, mean_skip: bool = False) -> None:
        super().__init__()
        ratio = image_size // bottleneck_size
        if image_size % bottleneck_size or ratio < 2 or ratio & (ratio - 1):
            raise ValueError(f"image_size / bottleneck_size must be a power of two >= 2, got {image_size} / "
                             f"{bottleneck_size}.")
        depth = int(math.log2(ratio))
        widths = [channels * min(2**i, 8) for i in range(depth)]
        self.image_size = image_size
        enc: list[nn.Module] = []
        c = in_channels + 1
        for i, w in enumerate(widths):
            enc.append(_down(c, w, norm=i > 0))
            c = w
        self.encoder = nn.Sequential(*enc)
        self.bottleneck = (nn.Sequential(ChannelwiseFC(c, bottleneck_size), nn.Conv2d(c, c, 1), nn.ReLU())
                           if channelwise else nn.Sequential(nn.Conv2d(c, c, 3, padding=1), nn.ReLU()))
        dec: list[nn.Module] = []
        for w in reversed(widths[:-1]):
            dec.append(_up(c, w))
            c = w
        last = nn.ConvTranspose2d(c, in_channels, 4, 2, 1)
        self.mean_skip = bool(mean_skip)
        if self.mean_skip:
            nn.init.zeros_(last.weight)
            nn.init.zeros_(last.bias)
            dec.append(last)
        else:
            dec += [last, nn.Sigmoid()]
        self.decoder = nn.Sequential(*dec)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        if x.dim() != 4 or x.shape[-1] != self.image_size or x.shape[-2] != self.image_size:
            raise ValueError(f"x must be [B, C, {self.image_size}, {self.image_size}], got {tuple(x.shape)}.")
        _check_mask(mask, x)
        m = mask.to(x.dtype)
        if not self.mean_skip:
            h = self.encoder(torch.cat([masked_input(x, mask), m], dim=1))
            return self.decoder(self.bottleneck(h))
        context = 1 - m
        mean = (x * context).sum(dim=(2, 3), keepdim=True) / context.sum(dim=(2, 3), keepdim=True).clamp_min(1.0)
        h = self.encoder(torch.cat([composite(x, mean.expand_as(x), mask), m], dim=1))
        return mean + self.decoder(self.bottleneck(h))


@register_model(
    "inpaint_discriminator", kind="discriminator", example_kwargs={"channels": 8, "n_layers": 3},
    example_input=lambda model, n: torch.rand(n, 3, 32, 32),
    expected_shape=lambda model, n: (n,),
)
class InpaintDiscriminator(nn.Module):
    r"""A DCGAN-style discriminator ``[B, C, S, S] -> [B]`` logits (strided 4x4 convolutions, then average pooling)."""

    def __init__(self, in_channels: int = 3, channels: int = 32, n_layers: int = 3) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c = in_channels
        for i in range(n_layers):
            w = channels * min(2**i, 8)
            layers.append(_down(c, w, norm=i > 0))
            c = w
        self.body = nn.Sequential(*layers)
        self.out = nn.Conv2d(c, 1, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        return self.out(self.body(x)).mean(dim=(1, 2, 3))


def _check_mask(mask: object, x: Tensor) -> Tensor:
    if not isinstance(mask, Tensor):
        raise TypeError(f"mask must be a tensor, got {type(mask).__name__}.")
    if mask.dim() != 4 or mask.shape[1] != 1 or mask.shape[0] != x.shape[0] or mask.shape[2:] != x.shape[2:]:
        raise ValueError(f"mask must be [B, 1, H, W] = [{x.shape[0]}, 1, {x.shape[2]}, {x.shape[3]}], got "
                         f"{tuple(mask.shape)}.")
    return mask


def masked_input(x: Tensor, mask: Tensor) -> Tensor:
    r""":math:`(1 - \hat M) \odot x`: the context, the hole set to 0."""
    _check_mask(mask, x)
    return x * (1 - mask.to(x.dtype))


def composite(x: Tensor, fill: Tensor, mask: Tensor) -> Tensor:
    r""":math:`\hat x = (1 - \hat M) \odot x + \hat M \odot \text{fill}`: the context kept, the hole filled."""
    _check_mask(mask, x)
    m = mask.to(x.dtype)
    return x * (1 - m) + fill * m


def center_mask(n: int, size: int, hole: int, *, device: torch.device | str | None = None) -> Tensor:
    """``[n, 1, size, size]``: ones on the central ``hole x hole`` square (Pathak's central region)."""
    if not 0 < hole < size:
        raise ValueError(f"need 0 < hole < size, got hole={hole}, size={size}.")
    m = torch.zeros(n, 1, size, size, device=device)
    a = (size - hole) // 2
    m[:, :, a : a + hole, a : a + hole] = 1.0
    return m


def random_block_masks(n: int, size: int, hole: int | tuple[int, int], *, generator: torch.Generator | None = None,
                       device: torch.device | str | None = None) -> Tensor:
    """``[n, 1, size, size]``: one square hole per image at a random place; ``hole`` a side or a range (lo, hi)."""
    lo, hi = (hole, hole) if isinstance(hole, int) else hole
    if not 0 < lo <= hi < size:
        raise ValueError(f"need 0 < hole < size, got {hole!r} for size {size}.")
    m = torch.zeros(n, 1, size, size)
    sides = torch.randint(lo, hi + 1, (n,), generator=generator)
    for i in range(n):
        s = int(sides[i])
        y, x = (int(v) for v in torch.randint(0, size - s + 1, (2,), generator=generator))
        m[i, :, y : y + s, x : x + s] = 1.0
    return m.to(device) if device is not None else m


def box_mask(boxes: Tensor, size: int | tuple[int, int]) -> Tensor:
    """``[B, 4]`` xyxy pixel boxes -> ``[B, 1, H, W]`` masks with 1 on the pixels whose centres lie in the box."""
    h, w = (size, size) if isinstance(size, int) else size
    if boxes.dim() != 2 or boxes.shape[1] != 4:
        raise ValueError(f"boxes must be [B, 4], got {tuple(boxes.shape)}.")
    ys = torch.arange(h, device=boxes.device, dtype=torch.float32) + 0.5
    xs = torch.arange(w, device=boxes.device, dtype=torch.float32) + 0.5
    b = boxes.float()
    inside_y = (ys[None, :] >= b[:, 1:2]) & (ys[None, :] <= b[:, 3:4])  # (B, H)
    inside_x = (xs[None, :] >= b[:, 0:1]) & (xs[None, :] <= b[:, 2:3])  # (B, W)
    return (inside_y[:, :, None] & inside_x[:, None, :]).unsqueeze(1).float()
