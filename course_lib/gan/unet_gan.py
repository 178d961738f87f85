r"""U-Net GAN (Schönfeld, Schiele and Khoreva 2020): a discriminator that judges the whole image *and* every pixel,
with a CutMix consistency regulariser.

The discriminator is a U-Net: the encoder ends in the usual image logit :math:`D_{enc}(x)`, the decoder (with skip
connections) in a logit per pixel :math:`D_{dec}(x)_{ij}`. Its loss is :math:`L_D = L_{D_{enc}} + L_{D_{dec}}`, the
decoder's the per-pixel version of the same GAN loss, averaged over pixels. For a CutMix image

.. math::

    \mathrm{mix}(x, \hat x, M) = M \odot x + (1 - M) \odot \hat x,\qquad M \in \{0, 1\}^{H \times W}

(real where :math:`M = 1`), the decoder's target is :math:`M` itself, the encoder's target "fake", and the
consistency loss asks the decoder to commute with mixing:

.. math::

    L_{cons} = \big\lVert D_{dec}(\mathrm{mix}(x, \hat x, M)) - \mathrm{mix}(D_{dec}(x), D_{dec}(\hat x), M)
    \big\rVert^2 .

Here the logits are used with the non-saturating (binary cross-entropy) loss, as in the paper's BigGAN-based model.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from course_lib.registry import register_model

__all__ = ["UNetDiscriminator", "cutmix_mask", "cutmix", "consistency_loss", "unet_d_loss", "unet_g_loss",
           "UNetGANObjective", "zoo_recipe"]


def _int(value: object, name: str, low: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}.")
    if value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}.")
    return value


@register_model(
    "unet_discriminator",
    kind="discriminator",
    example_kwargs={"channels": 1, "resolution": 16, "width": 8, "depth": 2},
    example_input=lambda model, n: torch.randn(n, model.channels, model.resolution, model.resolution),
    expected_shape=lambda model, n: (n,),
)
class UNetDiscriminator(nn.Module):
    """A small U-Net discriminator: ``depth`` encoder stages (conv3x3 stride 2 + LeakyReLU 0.2, widths doubling),
    a global sum-pooled linear logit at the bottleneck, and a decoder (upsample, concatenate the skip, conv3x3) ending
    in a 1x1 conv to one logit per pixel.

    ``forward(x)`` returns the image logits ``(N,)``; :meth:`both` returns ``(image (N,), pixels (N, H, W))``.
    The resolution must be divisible by ``2**depth``.
    """

    def __init__(self, channels: int = 1, resolution: int = 16, width: int = 16, depth: int = 2) -> None:
        super().__init__()
        self.channels, self.resolution = _int(channels, "channels"), _int(resolution, "resolution", 2)
        self.depth = _int(depth, "depth")
        if resolution % 2 ** depth:
            raise ValueError(f"resolution {resolution} is not divisible by 2**depth = {2 ** depth}.")
        widths = [_int(width, "width") * 2 ** k for k in range(depth)]
        self.stem = nn.Conv2d(channels, widths[0], 3, padding=1)
        self.down = nn.ModuleList(nn.Conv2d(widths[max(k - 1, 0)], widths[k], 4, stride=2, padding=1)
                                  for k in range(depth))
        self.head = nn.Linear(widths[-1], 1)
        ups = []
        for k in reversed(range(depth)):
            skip = widths[k - 1] if k > 0 else widths[0]
            ups.append(nn.Conv2d(widths[k] + skip, skip, 3, padding=1))
        self.up = nn.ModuleList(ups)
        self.pixel_head = nn.Conv2d(widths[0], 1, 1)

    def both(self, x: Tensor) -> tuple[Tensor, Tensor]:
        if not isinstance(x, Tensor) or x.dim() != 4 or x.shape[1] != self.channels:
            raise ValueError(f"x must be a Tensor of shape (N, {self.channels}, H, W).")
        if x.shape[-1] % 2 ** self.depth or x.shape[-2] % 2 ** self.depth:
            raise ValueError(f"H and W must be divisible by {2 ** self.depth}, got {tuple(x.shape[-2:])}.")
        h = F.leaky_relu(self.stem(x), 0.2)
        skips = [h]
        for conv in self.down:
            h = F.leaky_relu(conv(h), 0.2)
            skips.append(h)
        image = self.head(h.sum(dim=(2, 3))).squeeze(1)
        for conv, skip in zip(self.up, reversed(skips[:-1])):
            h = F.interpolate(h, size=skip.shape[-2:], mode="nearest")
            h = F.leaky_relu(conv(torch.cat([h, skip], dim=1)), 0.2)
        pixels = self.pixel_head(h).squeeze(1)
        return image, pixels

    def forward(self, x: Tensor) -> Tensor:
        return self.both(x)[0]


def cutmix_mask(n: int, height: int, width: int, generator: torch.Generator | None = None,
                device: torch.device | str | None = None) -> Tensor:
    r"""``n`` CutMix masks ``(n, H, W)`` of 0/1 floats: a rectangle of area ratio :math:`r \sim U(0, 1)` (sides
    :math:`\sqrt r H` and :math:`\sqrt r W`, centre uniform, cut at the border) set to 0 (the fake part) in a mask of 1
    (real), or the reverse with probability 1/2."""
    for value, name in ((n, "n"), (height, "height"), (width, "width")):
        _int(value, name)
    g = generator
    masks = torch.ones(n, height, width, device=device)
    r = torch.rand(n, generator=g)
    cy, cx = torch.rand(n, generator=g) * height, torch.rand(n, generator=g) * width
    flip = torch.rand(n, generator=g) < 0.5
    for k in range(n):
        hh, ww = math.sqrt(float(r[k])) * height, math.sqrt(float(r[k])) * width
        y0, y1 = int(max(0, round(float(cy[k]) - hh / 2))), int(min(height, round(float(cy[k]) + hh / 2)))
        x0, x1 = int(max(0, round(float(cx[k]) - ww / 2))), int(min(width, round(float(cx[k]) + ww / 2)))
        masks[k, y0:y1, x0:x1] = 0.0
        if flip[k]:
            masks[k] = 1.0 - masks[k]
    return masks


def cutmix(real: Tensor, fake: Tensor, mask: Tensor) -> Tensor:
    r""":math:`M \odot x + (1 - M) \odot \hat x` with ``mask (N, H, W)`` broadcast over channels; works for images
    ``(N, C, H, W)`` and per-pixel maps ``(N, H, W)``."""
    if real.shape != fake.shape:
        raise ValueError(f"real and fake must have the same shape, got {tuple(real.shape)} and {tuple(fake.shape)}.")
    m = mask if real.dim() == mask.dim() else mask.unsqueeze(1)
    if m.shape[-2:] != real.shape[-2:] or m.shape[0] != real.shape[0]:
        raise ValueError(f"mask shape {tuple(mask.shape)} does not fit {tuple(real.shape)}.")
    return m * real + (1 - m) * fake


def consistency_loss(D: UNetDiscriminator, real: Tensor, fake: Tensor, mask: Tensor) -> Tensor:
    r""":math:`\lVert D_{dec}(\mathrm{mix}(x, \hat x, M)) - \mathrm{mix}(D_{dec}(x), D_{dec}(\hat x), M)\rVert^2`,
    the squared norm averaged over pixels and samples."""
    _, pix_mixed = D.both(cutmix(real, fake, mask))
    _, pix_real = D.both(real)
    _, pix_fake = D.both(fake)
    return (pix_mixed - cutmix(pix_real, pix_fake, mask)).square().mean()


def unet_d_loss(D: UNetDiscriminator, real: Tensor, fake: Tensor, mask: Tensor | None = None,
                consistency_weight: float = 1.0) -> tuple[Tensor, dict[str, float]]:
    """``L_enc + L_dec`` on real (1) and fake (0), plus, with ``mask``, the CutMix terms: the mixed image's encoder
    target 0 and decoder target ``mask``, and ``consistency_weight`` times :func:`consistency_loss`."""
    img_r, pix_r = D.both(real)
    img_f, pix_f = D.both(fake)
    bce = F.binary_cross_entropy_with_logits
    enc = bce(img_r, torch.ones_like(img_r)) + bce(img_f, torch.zeros_like(img_f))
    dec = bce(pix_r, torch.ones_like(pix_r)) + bce(pix_f, torch.zeros_like(pix_f))
    loss = enc + dec
    logs = {"d_enc": enc.item(), "d_dec": dec.item()}
    if mask is not None:
        img_m, pix_m = D.both(cutmix(real, fake, mask))
        mix = bce(img_m, torch.zeros_like(img_m)) + bce(pix_m, mask)
        cons = (pix_m - cutmix(pix_r, pix_f, mask)).square().mean()
        loss = loss + mix + consistency_weight * cons
        logs.update(d_mix=mix.item(), consistency=cons.item())
    return loss, logs


def unet_g_loss(D: UNetDiscriminator, fake: Tensor) -> Tensor:
    """The generator's non-saturating loss on both outputs: ``-log sigmoid`` of the image logit and of every pixel
    logit (averaged), summed."""
    img, pix = D.both(fake)
    return F.softplus(-img).mean() + F.softplus(-pix).mean()


# ----------------------------------------------------------------------------------------------------------------------
# Training with the one trainer, and the Appendix A card
# ----------------------------------------------------------------------------------------------------------------------
from course_lib.train.objective import Objective  # noqa: E402  (after the networks: nothing above depends on it)


class UNetGANObjective(Objective):
    """U-Net GAN's game for the one trainer: :func:`unet_d_loss` with a fresh CutMix mask per minibatch drawn with
    probability ``mix_prob`` (the masks come from the objective's own seeded generator, saved in checkpoints), and
    :func:`unet_g_loss` for the generator."""

    def __init__(self, mix_prob: float = 0.5, consistency_weight: float = 1.0, seed: int = 0) -> None:
        if not 0 <= mix_prob <= 1:
            raise ValueError(f"mix_prob must be in [0, 1], got {mix_prob!r}.")
        self.mix_prob, self.consistency_weight = float(mix_prob), float(consistency_weight)
        self.generator = torch.Generator().manual_seed(int(seed))

    def d_loss(self, G: nn.Module, D: nn.Module, batch: Tensor, z: Tensor) -> tuple[Tensor, dict[str, float]]:
        real = batch[0] if isinstance(batch, (tuple, list)) else batch
        fake = G(z)
        mask = None
        if float(torch.rand((), generator=self.generator)) < self.mix_prob:
            mask = cutmix_mask(real.shape[0], real.shape[-2], real.shape[-1], generator=self.generator).to(real)
        return unet_d_loss(D, real, fake, mask, self.consistency_weight)

    def g_loss(self, G: nn.Module, D: nn.Module, batch: Tensor, z: Tensor) -> tuple[Tensor, dict[str, float]]:
        return unet_g_loss(D, G(z)), {}

    def state_dict(self) -> dict[str, Tensor]:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        self.generator.set_state(state["generator"])


def zoo_recipe(steps: int, seed: int, device: object) -> object:
    """The fast recipe of the Appendix A card: a small SAGAN-style generator against the U-Net discriminator on the
    8x8 digits."""
    from course_lib.data.digits import load_digits_8x8
    from course_lib.gan.sagan import SAGANGenerator
    from course_lib.train import AdversarialTrainer, TrainerConfig

    x, _ = load_digits_8x8(verbose=False)
    G = SAGANGenerator(16, 1, 8, widths=8, n_blocks=1, attention_after=None)
    D = UNetDiscriminator(1, 8, width=8, depth=2)
    config = TrainerConfig(steps=steps, batch_size=32, z_dim=16, lr_g=2e-4, lr_d=2e-4, betas=(0.0, 0.9), seed=seed,
                           log_every=max(1, steps // 20), sample_every=0, progress=False, amp="off")
    return AdversarialTrainer(G, D, x, config, objective=UNetGANObjective(seed=seed), device=device)


def _register_zoo() -> None:
    from course_lib.zoo import ZooEntry, register_variant

    register_variant(ZooEntry(
        "unet_gan", "U-Net GAN",
        "A U-Net discriminator judges every pixel as well as the whole image, with CutMix images as mixed examples "
        "and a consistency loss that makes its per-pixel decisions commute with mixing.",
        r"L_D = L_{D_{enc}} + L_{D_{dec}} + \big\lVert D_{dec}(\mathrm{mix}(x, G(z), M)) - "
        r"\mathrm{mix}(D_{dec}(x), D_{dec}(G(z)), M)\big\rVert^2",
        ("schonfeld2020unetgan",),
        ("course_lib.gan.unet_gan.UNetDiscriminator", "course_lib.gan.unet_gan.UNetGANObjective",
         "course_lib.gan.unet_gan.cutmix_mask", "course_lib.gan.unet_gan.consistency_loss"),
        "chapters/08_attention_and_scale/theory",
        zoo_recipe,
    ))


_register_zoo()
