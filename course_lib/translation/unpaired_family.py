r"""CycleGAN's family, each written as its difference from :mod:`course_lib.translation.cyclegan`.

- **DiscoGAN** (Kim et al. 2017): :class:`DiscoGANGenerator` (a convolutional encoder-decoder, no residual blocks),
  :class:`DiscoGANDiscriminator` (one logit per image) and :class:`DiscoGANObjective`: the non-saturating GAN loss
  (logits, ``BCEWithLogits``), a squared-error reconstruction with weight 1, no identity term, no buffer.
- **DualGAN** (Yi et al. 2017): :class:`DualGANObjective`: WGAN critics (``E D(fake) - E D(real)``, weights clipped to
  ``[-c, c]`` by :func:`clip_weights` after each critic update) and L1 reconstructions weighted
  :math:`\lambda_U = \lambda_V` (in the hundreds in the paper; 100 here).
- **CSGAN** (Kancharagunta and Dubey 2019), for paired data: :func:`cyclic_synthesized_loss`
  :math:`\lVert G_{BA}(b) - G_{BA}(G_{AB}(a))\rVert_1 + \lVert G_{AB}(a) - G_{AB}(G_{BA}(b))\rVert_1` (the synthesized
  image of a domain against the cycled image of the same domain) and :class:`CSGANObjective`, CycleGAN's objective
  plus the paired L1 terms and that loss.
- **UNIT** (Liu et al. 2017): :class:`UNITNetworks`, two VAE encoders sharing their last layer and two decoders
  sharing their first, so both domains meet in one latent space; :class:`UNITObjective` with the paper's weights
  (GAN 10, KL 0.1, reconstruction 100, cycle KL 0.1, cycle reconstruction 100).
- **MUNIT** (Huang et al. 2018): :class:`MUNITAutoencoder` (content encoder, style encoder, decoder whose residual
  blocks take the style through AdaIN, :func:`course_lib.gan.stylegan.adain`) and :class:`MUNITObjective`
  (image reconstruction 10, content 1, style 1, least-squares GAN); new styles give many outputs for one input.
- **BicycleGAN** (Zhu et al. 2017): :class:`BicycleGenerator` ``G(a, z)``, :class:`LatentEncoder` ``E(b) -> (mu,
  logvar)`` and :class:`BicycleGANObjective`: cVAE-GAN (``z = E(b)``, L1 weight 10, KL 0.01) plus cLR-GAN (random
  ``z``, recovered by ``E`` with L1 weight 0.5), one discriminator for each.

All run with the one trainer; CoGAN's weight sharing is chapter 7's :mod:`course_lib.gan.cogan`.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from course_lib.gan.stylegan import adain
from course_lib.registry import register_model
from course_lib.train.objective import Objective
from course_lib.translation.cyclegan import CycleGANConfig, CycleGANObjective, _check_pairs, _pair, lsgan_loss

__all__ = [
    "DiscoGANGenerator", "DiscoGANDiscriminator", "DiscoGANObjective",
    "clip_weights", "DualGANObjective",
    "cyclic_synthesized_loss", "CSGANObjective",
    "UNITNetworks", "UNITObjective",
    "MUNITAutoencoder", "MUNITObjective",
    "BicycleGenerator", "LatentEncoder", "BicycleGANObjective",
]


def _int(value: Any, name: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}.")
    if value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}.")
    return value


def _example(model: nn.Module, n: int) -> Tensor:
    return torch.rand(n, model.in_channels, 16, 16) * 2 - 1


# ----------------------------------------------------------------------------------------------------------------------
# DiscoGAN
# ----------------------------------------------------------------------------------------------------------------------
@register_model("discogan_generator", kind="translator", example_kwargs={"in_channels": 3, "base_channels": 8,
                "n_down": 2}, example_input=_example, expected_shape=lambda m, n: (n, m.in_channels, 16, 16))
class DiscoGANGenerator(nn.Module):
    r"""DiscoGAN's generator: ``n_down`` ``Conv4x4 s2 -> BN -> LeakyReLU(0.2)`` (no BN on the first), then as many
    ``ConvTranspose4x4 s2 -> BN -> ReLU``, the last to ``C`` channels with ``tanh``: an encoder-decoder without
    skips or residual blocks (4 each way at 64x64 in the paper). ``(N, C, H, W) -> (N, C, H, W)``."""

    def __init__(self, in_channels: int = 3, base_channels: int = 64, n_down: int = 4) -> None:
        super().__init__()
        self.in_channels = _int(in_channels, "in_channels", 1)
        f, n = _int(base_channels, "base_channels", 1), _int(n_down, "n_down", 1)
        layers: list[nn.Module] = []
        c_in = in_channels
        for i in range(n):
            c_out = f * 2 ** i
            layers += [nn.Conv2d(c_in, c_out, 4, 2, 1, bias=i == 0)]
            layers += [nn.BatchNorm2d(c_out)] if i else []
            layers += [nn.LeakyReLU(0.2, True)]
            c_in = c_out
        for i in reversed(range(n)):
            c_out = f * 2 ** (i - 1) if i else in_channels
            layers += [nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=i == 0)]
            layers += [nn.BatchNorm2d(c_out), nn.ReLU(True)] if i else [nn.Tanh()]
            c_in = c_out
        self.model = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x)


@register_model("discogan_discriminator", kind="discriminator", example_kwargs={"in_channels": 3,
                "base_channels": 8, "n_down": 2}, example_input=_example, expected_shape=lambda m, n: (n, 1))
class DiscoGANDiscriminator(nn.Module):
    """DiscoGAN's discriminator: ``n_down`` ``Conv4x4 s2 -> BN -> LeakyReLU(0.2)`` layers, global average pooling and a
    linear layer to one logit per image (``(N, C, H, W) -> (N, 1)``)."""

    def __init__(self, in_channels: int = 3, base_channels: int = 64, n_down: int = 4) -> None:
        super().__init__()
        self.in_channels = _int(in_channels, "in_channels", 1)
        f, n = _int(base_channels, "base_channels", 1), _int(n_down, "n_down", 1)
        layers: list[nn.Module] = []
        c_in = in_channels
        for i in range(n):
            layers += [nn.Conv2d(c_in, f * 2 ** i, 4, 2, 1)] + ([nn.BatchNorm2d(f * 2 ** i)] if i else [])
            layers += [nn.LeakyReLU(0.2, True)]
            c_in = f * 2 ** i
        self.body = nn.Sequential(*layers)
        self.out = nn.Linear(c_in, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.out(self.body(x).mean(dim=(2, 3)))


def _bce(logits: Tensor, real: bool) -> Tensor:
    target = torch.ones_like(logits) if real else torch.zeros_like(logits)
    return F.binary_cross_entropy_with_logits(logits, target)


class DiscoGANObjective(CycleGANObjective):
    r"""DiscoGAN as CycleGAN's objective with three changes: non-saturating GAN losses on logits
    (:math:`-\log\sigma(D(G(a)))` for the generator), a squared-error reconstruction :math:`\lVert G_{BA}(G_{AB}(a))
    - a\rVert_2^2` (mean) with weight ``lambda_rec`` (1), and neither identity term nor buffer."""

    def __init__(self, lambda_rec: float = 1.0, sample_images: Tensor | None = None) -> None:
        super().__init__(CycleGANConfig(lambda_cyc=1.0, lambda_id=0.0, pool_size=0), sample_images=sample_images)
        self.lambda_rec = float(lambda_rec)

    def d_loss(self, G: nn.Module, D: nn.Module, batch: Any, z: Tensor | None) -> tuple[Tensor, dict[str, Any]]:
        _check_pairs(G, D)
        a, b = _pair(batch)
        with torch.no_grad():
            fake_b, fake_a = G["ab"](a), G["ba"](b)
        loss = _bce(D["b"](b), True) + _bce(D["b"](fake_b), False) + _bce(D["a"](a), True) + _bce(D["a"](fake_a),
                                                                                                   False)
        return loss, {}

    def g_loss(self, G: nn.Module, D: nn.Module, batch: Any, z: Tensor | None) -> tuple[Tensor, dict[str, Any]]:
        _check_pairs(G, D)
        a, b = _pair(batch)
        fake_b, fake_a = G["ab"](a), G["ba"](b)
        adv = _bce(D["b"](fake_b), True) + _bce(D["a"](fake_a), True)
        rec = F.mse_loss(G["ba"](fake_b), a) + F.mse_loss(G["ab"](fake_a), b)
        return adv + self.lambda_rec * rec, {"g_adv": adv.detach(), "reconstruction": rec.detach()}


# ----------------------------------------------------------------------------------------------------------------------
# DualGAN
# ----------------------------------------------------------------------------------------------------------------------
def clip_weights(module: nn.Module, c: float = 0.01) -> None:
    """WGAN's weight clipping: every parameter of ``module`` clamped to ``[-c, c]`` in place."""
    with torch.no_grad():
        for p in module.parameters():
            p.clamp_(-c, c)


class DualGANObjective(CycleGANObjective):
    r"""DualGAN as CycleGAN's objective with WGAN critics: ``d_loss`` :math:`\mathbb E D(\text{fake}) - \mathbb E
    D(\text{real})` per domain, ``g_loss`` :math:`-\mathbb E D_B(G_{AB}(a)) - \mathbb E D_A(G_{BA}(b)) + \lambda_U
    \lVert G_{BA}(G_{AB}(a)) - a\rVert_1 + \lambda_V\lVert G_{AB}(G_{BA}(b)) - b\rVert_1`; no identity, no buffer.
    Use it with ``after_d_step=[objective.clip]`` (weights clipped to ``[-c, c]``) and RMSProp, as WGAN."""

    def __init__(self, lambda_u: float = 100.0, lambda_v: float = 100.0, clip_value: float = 0.01,
                 sample_images: Tensor | None = None) -> None:
        super().__init__(CycleGANConfig(lambda_cyc=1.0, lambda_id=0.0, pool_size=0), sample_images=sample_images)
        self.lambda_u, self.lambda_v, self.clip_value = float(lambda_u), float(lambda_v), float(clip_value)

    def clip(self, trainer: Any) -> None:
        """The ``after_d_step`` hook: clip both critics."""
        clip_weights(trainer.D, self.clip_value)

    def d_loss(self, G: nn.Module, D: nn.Module, batch: Any, z: Tensor | None) -> tuple[Tensor, dict[str, Any]]:
        _check_pairs(G, D)
        a, b = _pair(batch)
        with torch.no_grad():
            fake_b, fake_a = G["ab"](a), G["ba"](b)
        loss = D["b"](fake_b).mean() - D["b"](b).mean() + D["a"](fake_a).mean() - D["a"](a).mean()
        return loss, {}

    def g_loss(self, G: nn.Module, D: nn.Module, batch: Any, z: Tensor | None) -> tuple[Tensor, dict[str, Any]]:
        _check_pairs(G, D)
        a, b = _pair(batch)
        fake_b, fake_a = G["ab"](a), G["ba"](b)
        adv = -D["b"](fake_b).mean() - D["a"](fake_a).mean()
        rec = self.lambda_u * (G["ba"](fake_b) - a).abs().mean() + self.lambda_v * (G["ab"](fake_a) - b).abs().mean()
        return adv + rec, {"g_adv": adv.detach(), "reconstruction": rec.detach()}


# ----------------------------------------------------------------------------------------------------------------------
# CSGAN
# ----------------------------------------------------------------------------------------------------------------------
def cyclic_synthesized_loss(G_ab: Any, G_ba: Any, real_a: Tensor, real_b: Tensor) -> Tensor:
    r"""CSGAN's cyclic-synthesized loss for *paired* ``(a, b)``: the synthesized image of a domain against the cycled
    image of the same domain, :math:`\operatorname{mean}|G_{BA}(b) - G_{BA}(G_{AB}(a))| + \operatorname{mean}|G_{AB}(a)
    - G_{AB}(G_{BA}(b))|`."""
    syn_a, syn_b = G_ba(real_b), G_ab(real_a)  # synthesized: translated from the partner
    cyc_a, cyc_b = G_ba(syn_b), G_ab(syn_a)  # cycled: there and back
    return (syn_a - cyc_a).abs().mean() + (syn_b - cyc_b).abs().mean()


class CSGANObjective(CycleGANObjective):
    r"""CSGAN: CycleGAN's objective on *paired* data ``(a, b)``, plus the synthesized L1 terms
    :math:`\lVert G_{AB}(a) - b\rVert_1 + \lVert G_{BA}(b) - a\rVert_1` and the cyclic-synthesized loss, each weighted
    ``lambda_syn`` and ``lambda_cs`` (course defaults 10 and 10, the cycle's weight)."""

    def __init__(self, lambda_syn: float = 10.0, lambda_cs: float = 10.0, config: CycleGANConfig | None = None,
                 sample_images: Tensor | None = None) -> None:
        super().__init__(config or CycleGANConfig(lambda_id=0.0, pool_size=0), sample_images=sample_images)
        self.lambda_syn, self.lambda_cs = float(lambda_syn), float(lambda_cs)

    def g_loss(self, G: nn.Module, D: nn.Module, batch: Any, z: Tensor | None) -> tuple[Tensor, dict[str, Any]]:
        loss, logs = super().g_loss(G, D, batch, z)
        a, b = _pair(batch)
        syn = (G["ab"](a) - b).abs().mean() + (G["ba"](b) - a).abs().mean()
        cs = cyclic_synthesized_loss(G["ab"], G["ba"], a, b)
        return loss + self.lambda_syn * syn + self.lambda_cs * cs, {**logs, "synthesized": syn.detach(),
                                                                    "cyclic_synthesized": cs.detach()}


# ----------------------------------------------------------------------------------------------------------------------
# UNIT
# ----------------------------------------------------------------------------------------------------------------------
def _down(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 4, 2, 1), nn.InstanceNorm2d(c_out), nn.LeakyReLU(0.2, True))


def _up(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.ConvTranspose2d(c_in, c_out, 4, 2, 1), nn.InstanceNorm2d(c_out), nn.ReLU(True))


class UNITNetworks(nn.Module):
    r"""UNIT's two VAEs with a shared latent space: ``E_d = shared_enc o enc[d]`` and ``G_d = dec[d] o shared_dec``
    for the domains ``d in {"a", "b"}``; the latent code :math:`z` is ``(N, 4F, H/4, W/4)`` with unit variance, the
    encoder giving its mean (as the authors' code). Translation A -> B is ``G_b(E_a(a))``."""

    def __init__(self, channels: int = 3, base_channels: int = 64) -> None:
        super().__init__()
        f = _int(base_channels, "base_channels", 1)
        self.channels = _int(channels, "channels", 1)
        self.enc = nn.ModuleDict({d: _down(channels, f) for d in ("a", "b")})
        self.shared_enc = nn.Sequential(_down(f, 2 * f), nn.Conv2d(2 * f, 4 * f, 3, 1, 1))  # the shared last layers
        self.shared_dec = _up(4 * f, 2 * f)  # the shared first layer
        self.dec = nn.ModuleDict({d: nn.Sequential(_up(2 * f, f), nn.Conv2d(f, channels, 3, 1, 1), nn.Tanh())
                                  for d in ("a", "b")})

    def encode(self, x: Tensor, domain: str) -> Tensor:
        """The mean of :math:`q(z \\mid x)`, ``(N, 4F, H/4, W/4)``."""
        return self.shared_enc(self.enc[domain](x))

    def decode(self, z: Tensor, domain: str) -> Tensor:
        return self.dec[domain](self.shared_dec(z))

    def forward(self, x: Tensor, source: str = "a", target: str = "b") -> Tensor:
        return self.decode(self.encode(x, source), target)


class UNITObjective(Objective):
    r"""UNIT's losses: for each domain, a VAE (:math:`\lambda_1 \operatorname{mean}\mu^2` KL for a unit-variance
    posterior, :math:`\lambda_2 \lVert G_d(z) - x\rVert_1` with :math:`z = \mu + \epsilon`), a GAN on the translation
    (:math:`\lambda_0`, least squares), and the cycle through the other domain (:math:`\lambda_3` KL of the re-encoded
    code, :math:`\lambda_4` L1 of the cycle). ``G`` a :class:`UNITNetworks`, ``D = ModuleDict({"a", "b"})``, data
    ``(a, b)``. Weights of the paper: :math:`\lambda_0 = 10, \lambda_1 = \lambda_3 = 0.1, \lambda_2 = \lambda_4 =
    100`."""

    needs_noise = False

    def __init__(self, lambdas: tuple[float, float, float, float, float] = (10.0, 0.1, 100.0, 0.1, 100.0),
                 seed: int = 0, sample_images: Tensor | None = None) -> None:
        self.l0, self.l1, self.l2, self.l3, self.l4 = (float(v) for v in lambdas)
        self.rng = torch.Generator().manual_seed(int(seed))
        self.sample_images = sample_images

    def _noisy(self, mu: Tensor) -> Tensor:
        return mu + torch.randn(mu.shape, generator=self.rng).to(mu.device, mu.dtype)

    def d_loss(self, G: nn.Module, D: nn.Module, batch: Any, z: Tensor | None) -> tuple[Tensor, dict[str, Any]]:
        a, b = _pair(batch)
        with torch.no_grad():
            fake_b, fake_a = G(a, "a", "b"), G(b, "b", "a")
        loss = 0.5 * (lsgan_loss(D["b"](b), True) + lsgan_loss(D["b"](fake_b), False)
                      + lsgan_loss(D["a"](a), True) + lsgan_loss(D["a"](fake_a), False))
        return self.l0 * loss, {}

    def g_loss(self, G: nn.Module, D: nn.Module, batch: Any, z: Tensor | None) -> tuple[Tensor, dict[str, Any]]:
        a, b = _pair(batch)
        mu_a, mu_b = G.encode(a, "a"), G.encode(b, "b")
        z_a, z_b = self._noisy(mu_a), self._noisy(mu_b)
        rec = (G.decode(z_a, "a") - a).abs().mean() + (G.decode(z_b, "b") - b).abs().mean()
        kl = mu_a.square().mean() + mu_b.square().mean()
        fake_b, fake_a = G.decode(z_a, "b"), G.decode(z_b, "a")
        adv = lsgan_loss(D["b"](fake_b), True) + lsgan_loss(D["a"](fake_a), True)
        mu_ab, mu_ba = G.encode(fake_b, "b"), G.encode(fake_a, "a")
        cyc = (G.decode(self._noisy(mu_ab), "a") - a).abs().mean() + (G.decode(self._noisy(mu_ba), "b") - b).abs().mean()
        kl_cyc = mu_ab.square().mean() + mu_ba.square().mean()
        loss = self.l0 * adv + self.l1 * kl + self.l2 * rec + self.l3 * kl_cyc + self.l4 * cyc
        return loss, {"g_adv": adv.detach(), "reconstruction": rec.detach(), "cycle": cyc.detach()}

    def sample(self, G: nn.Module, z: Tensor | None, batch: Any = None) -> Tensor:
        x = batch[0] if isinstance(batch, (tuple, list)) else (batch if batch is not None else self.sample_images)
        if x is None:
            raise ValueError("UNITObjective.sample needs images of domain A.")
        return G(x.to(next(G.parameters()).device), "a", "b")


# ----------------------------------------------------------------------------------------------------------------------
# MUNIT
# ----------------------------------------------------------------------------------------------------------------------
class _AdaINResidual(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(c, c, 3, 1, 1), nn.Conv2d(c, c, 3, 1, 1)

    def forward(self, x: Tensor, styles: Tensor) -> Tensor:  # styles: (N, 4C) = two (scale, bias) pairs
        s1, b1, s2, b2 = styles.chunk(4, dim=1)
        h = F.relu(adain(self.conv1(x), 1 + s1, b1))
        return x + adain(self.conv2(h), 1 + s2, b2)


class MUNITAutoencoder(nn.Module):
    r"""One domain's MUNIT autoencoder: a content encoder ``E^c`` (two stride-2 convolutions with instance norm, a
    residual block: ``(N, 4F, H/4, W/4)``), a style encoder ``E^s`` (convolutions, global average pooling, a linear
    layer to ``style_dim = 8``), and a decoder whose residual blocks take the style through AdaIN (an MLP maps the
    style to their scales and biases), then two upsamplings and ``tanh``."""

    def __init__(self, channels: int = 3, base_channels: int = 64, style_dim: int = 8, n_res: int = 1) -> None:
        super().__init__()
        f = _int(base_channels, "base_channels", 1)
        self.channels, self.style_dim = _int(channels, "channels", 1), _int(style_dim, "style_dim", 1)
        self.content = nn.Sequential(nn.Conv2d(channels, f, 7, 1, 3), nn.InstanceNorm2d(f), nn.ReLU(True),
                                     _down(f, 2 * f), _down(2 * f, 4 * f))
        self.style = nn.Sequential(nn.Conv2d(channels, f, 7, 1, 3), nn.ReLU(True), nn.Conv2d(f, 2 * f, 4, 2, 1),
                                   nn.ReLU(True), nn.Conv2d(2 * f, 4 * f, 4, 2, 1), nn.ReLU(True),
                                   nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4 * f, style_dim))
        self.blocks = nn.ModuleList([_AdaINResidual(4 * f) for _ in range(_int(n_res, "n_res", 1))])
        self.mlp = nn.Sequential(nn.Linear(style_dim, 4 * f), nn.ReLU(True), nn.Linear(4 * f, 16 * f * len(self.blocks)))
        self.up = nn.Sequential(nn.Upsample(scale_factor=2), nn.Conv2d(4 * f, 2 * f, 5, 1, 2), nn.ReLU(True),
                                nn.Upsample(scale_factor=2), nn.Conv2d(2 * f, f, 5, 1, 2), nn.ReLU(True),
                                nn.Conv2d(f, channels, 7, 1, 3), nn.Tanh())

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``(content (N, 4F, H/4, W/4), style (N, style_dim))``."""
        return self.content(x), self.style(x)

    def decode(self, content: Tensor, style: Tensor) -> Tensor:
        params = self.mlp(style).chunk(len(self.blocks), dim=1)  # one (N, 16F) chunk per block
        h = content
        for block, p in zip(self.blocks, params):
            h = block(h, p)
        return self.up(h)

    def forward(self, x: Tensor) -> Tensor:
        return self.decode(*self.encode(x))


class MUNITObjective(Objective):
    r"""MUNIT's losses: ``G = ModuleDict({"a", "b"})`` of :class:`MUNITAutoencoder`, ``D = ModuleDict({"a", "b"})``,
    data ``(a, b)``. Translation A -> B decodes ``a``'s content with a style :math:`s_b \sim \mathcal N(0, I)`.
    ``g_loss`` = least-squares GAN on both translations + :math:`\lambda_x` (10) L1 image reconstruction from the
    image's own codes + :math:`\lambda_c` (1) content and :math:`\lambda_s` (1) style reconstruction from the
    translations."""

    needs_noise = False

    def __init__(self, lambda_x: float = 10.0, lambda_c: float = 1.0, lambda_s: float = 1.0, seed: int = 0,
                 sample_images: Tensor | None = None) -> None:
        self.lambda_x, self.lambda_c, self.lambda_s = float(lambda_x), float(lambda_c), float(lambda_s)
        self.rng = torch.Generator().manual_seed(int(seed))
        self.sample_images = sample_images

    def _styles(self, n: int, G: nn.Module, like: Tensor) -> Tensor:
        return torch.randn(n, G["a"].style_dim, generator=self.rng).to(like.device, like.dtype)

    def d_loss(self, G: nn.Module, D: nn.Module, batch: Any, z: Tensor | None) -> tuple[Tensor, dict[str, Any]]:
        _check_pairs(G, D, ("a", "b"))
        a, b = _pair(batch)
        with torch.no_grad():
            fake_b = G["b"].decode(G["a"].encode(a)[0], self._styles(a.shape[0], G, a))
            fake_a = G["a"].decode(G["b"].encode(b)[0], self._styles(b.shape[0], G, b))
        loss = 0.5 * (lsgan_loss(D["b"](b), True) + lsgan_loss(D["b"](fake_b), False)
                      + lsgan_loss(D["a"](a), True) + lsgan_loss(D["a"](fake_a), False))
        return loss, {}

    def g_loss(self, G: nn.Module, D: nn.Module, batch: Any, z: Tensor | None) -> tuple[Tensor, dict[str, Any]]:
        _check_pairs(G, D, ("a", "b"))
        a, b = _pair(batch)
        c_a, s_a = G["a"].encode(a)
        c_b, s_b = G["b"].encode(b)
        rec_x = (G["a"].decode(c_a, s_a) - a).abs().mean() + (G["b"].decode(c_b, s_b) - b).abs().mean()
        r_a, r_b = self._styles(a.shape[0], G, a), self._styles(b.shape[0], G, b)
        fake_b, fake_a = G["b"].decode(c_a, r_b), G["a"].decode(c_b, r_a)
        c_ab, s_ab = G["b"].encode(fake_b)
        c_ba, s_ba = G["a"].encode(fake_a)
        rec_c = (c_ab - c_a).abs().mean() + (c_ba - c_b).abs().mean()
        rec_s = (s_ab - r_b).abs().mean() + (s_ba - r_a).abs().mean()
        adv = lsgan_loss(D["b"](fake_b), True) + lsgan_loss(D["a"](fake_a), True)
        loss = adv + self.lambda_x * rec_x + self.lambda_c * rec_c + self.lambda_s * rec_s
        return loss, {"g_adv": adv.detach(), "rec_x": rec_x.detach(), "rec_c": rec_c.detach(),
                      "rec_s": rec_s.detach()}

    def sample(self, G: nn.Module, z: Tensor | None, batch: Any = None) -> Tensor:
        x = batch[0] if isinstance(batch, (tuple, list)) else (batch if batch is not None else self.sample_images)
        if x is None:
            raise ValueError("MUNITObjective.sample needs images of domain A.")
        x = x.to(next(G.parameters()).device)
        return G["b"].decode(G["a"].encode(x)[0], self._styles(x.shape[0], G, x))


# ----------------------------------------------------------------------------------------------------------------------
# BicycleGAN
# ----------------------------------------------------------------------------------------------------------------------
class BicycleGenerator(nn.Module):
    """``G(a, z)``: the latent code tiled over the image and concatenated to it (the paper's "add to input"), then an
    encoder-decoder (two stride-2 convolutions down, two transposed up, ``tanh``). ``(N, C, H, W), (N, z_dim) ->
    (N, C, H, W)``."""

    def __init__(self, channels: int = 3, z_dim: int = 8, base_channels: int = 64) -> None:
        super().__init__()
        f = _int(base_channels, "base_channels", 1)
        self.channels, self.z_dim = _int(channels, "channels", 1), _int(z_dim, "z_dim", 1)
        self.net = nn.Sequential(_down(channels + z_dim, f), _down(f, 2 * f), _up(2 * f, f),
                                 nn.ConvTranspose2d(f, channels, 4, 2, 1), nn.Tanh())

    def forward(self, a: Tensor, z: Tensor) -> Tensor:
        tiled = z[:, :, None, None].expand(-1, -1, *a.shape[-2:])
        return self.net(torch.cat([a, tiled], dim=1))


class LatentEncoder(nn.Module):
    """``E(b) -> (mu, logvar)``, each ``(N, z_dim)``: stride-2 convolutions, global average pooling, two linear heads."""

    def __init__(self, channels: int = 3, z_dim: int = 8, base_channels: int = 64) -> None:
        super().__init__()
        f = _int(base_channels, "base_channels", 1)
        self.body = nn.Sequential(nn.Conv2d(channels, f, 4, 2, 1), nn.LeakyReLU(0.2, True),
                                  nn.Conv2d(f, 2 * f, 4, 2, 1), nn.LeakyReLU(0.2, True), nn.AdaptiveAvgPool2d(1),
                                  nn.Flatten())
        self.mu, self.logvar = nn.Linear(2 * f, z_dim), nn.Linear(2 * f, z_dim)

    def forward(self, b: Tensor) -> tuple[Tensor, Tensor]:
        h = self.body(b)
        return self.mu(h), self.logvar(h)


class BicycleGANObjective(Objective):
    r"""BicycleGAN on paired data ``(a, b)``: ``G = ModuleDict({"g": BicycleGenerator, "e": LatentEncoder})``,
    ``D = ModuleDict({"vae", "lr"})``; the trainer's noise is the cLR-GAN's code.

    - cVAE-GAN: :math:`z = \mu + \sigma\epsilon` from ``E(b)``, :math:`\mathcal L_{GAN}^{VAE}` on ``G(a, z)`` (least
      squares, D ``"vae"``), :math:`\lambda \lVert b - G(a, z)\rVert_1` (:math:`\lambda = 10`), :math:`\lambda_{KL}
      \mathrm{KL}(q(z\mid b)\,\|\,\mathcal N(0, I))` (0.01);
    - cLR-GAN: :math:`z \sim \mathcal N(0, I)`, :math:`\mathcal L_{GAN}` on ``G(a, z)`` (D ``"lr"``) and
      :math:`\lambda_{latent}\lVert z - \mu(G(a, z))\rVert_1` (0.5), which the paper trains into ``G`` only.
    """

    def __init__(self, lambda_l1: float = 10.0, lambda_kl: float = 0.01, lambda_latent: float = 0.5, seed: int = 0,
                 sample_images: Tensor | None = None) -> None:
        self.lambda_l1, self.lambda_kl, self.lambda_latent = float(lambda_l1), float(lambda_kl), float(lambda_latent)
        self.rng = torch.Generator().manual_seed(int(seed))
        self.sample_images = sample_images

    def _encode(self, G: nn.Module, b: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        mu, logvar = G["e"](b)
        eps = torch.randn(mu.shape, generator=self.rng).to(mu.device, mu.dtype)
        return mu + torch.exp(0.5 * logvar) * eps, mu, logvar

    def d_loss(self, G: nn.Module, D: nn.Module, batch: Any, z: Tensor | None) -> tuple[Tensor, dict[str, Any]]:
        a, b = _pair(batch)
        with torch.no_grad():
            z_enc, _, _ = self._encode(G, b)
            fake_vae, fake_lr = G["g"](a, z_enc), G["g"](a, z)
        loss = 0.5 * (lsgan_loss(D["vae"](b), True) + lsgan_loss(D["vae"](fake_vae), False)
                      + lsgan_loss(D["lr"](b), True) + lsgan_loss(D["lr"](fake_lr), False))
        return loss, {}

    def g_loss(self, G: nn.Module, D: nn.Module, batch: Any, z: Tensor | None) -> tuple[Tensor, dict[str, Any]]:
        a, b = _pair(batch)
        z_enc, mu, logvar = self._encode(G, b)
        fake_vae = G["g"](a, z_enc)
        l1 = (fake_vae - b).abs().mean()
        kl = 0.5 * (mu.square() + logvar.exp() - 1 - logvar).sum(1).mean()
        fake_lr = G["g"](a, z)
        adv = lsgan_loss(D["vae"](fake_vae), True) + lsgan_loss(D["lr"](fake_lr), True)
        mu_rec, _ = G["e"](fake_lr)
        latent = (mu_rec - z).abs().mean()
        loss = adv + self.lambda_l1 * l1 + self.lambda_kl * kl + self.lambda_latent * latent
        return loss, {"g_adv": adv.detach(), "l1": l1.detach(), "kl": kl.detach(), "latent": latent.detach()}

    def sample(self, G: nn.Module, z: Tensor | None, batch: Any = None) -> Tensor:
        x = batch[0] if isinstance(batch, (tuple, list)) else (batch if batch is not None else self.sample_images)
        if x is None or z is None:
            raise ValueError("BicycleGANObjective.sample needs images of domain A and codes z.")
        n = min(x.shape[0], z.shape[0])
        return G["g"](x[:n].to(z.device), z[:n])


# ----------------------------------------------------------------------------------------------------------------------
# Appendix A: zoo entries with fast recipes
# ----------------------------------------------------------------------------------------------------------------------
_CHAPTER = "chapters/11_unpaired_translation/theory"


def _discogan_recipe(steps: int, seed: int, device: Any) -> Any:
    from course_lib.translation.cyclegan import _zoo_trainer, _zoo_unpaired

    sampler, shown = _zoo_unpaired()
    G = nn.ModuleDict({k: DiscoGANGenerator(3, 4, 2) for k in ("ab", "ba")})
    D = nn.ModuleDict({k: DiscoGANDiscriminator(3, 4, 2) for k in ("a", "b")})
    return _zoo_trainer(G, D, DiscoGANObjective(sample_images=shown), sampler, steps, seed, device)


def _dualgan_recipe(steps: int, seed: int, device: Any) -> Any:
    from course_lib.translation.cyclegan import _zoo_trainer, _zoo_unpaired
    from course_lib.translation.pix2pix import PatchDiscriminator, UNetGenerator

    sampler, shown = _zoo_unpaired()
    G = nn.ModuleDict({k: UNetGenerator(3, 3, num_downs=4, base_channels=4, norm="instance") for k in ("ab", "ba")})
    D = nn.ModuleDict({k: PatchDiscriminator(3, 4, n_layers=1, norm="instance") for k in ("a", "b")})
    objective = DualGANObjective(sample_images=shown)
    trainer = _zoo_trainer(G, D, objective, sampler, steps, seed, device, lr=5e-4, optimizer="rmsprop")
    trainer.after_d_step.append(objective.clip)
    return trainer


def _unit_recipe(steps: int, seed: int, device: Any) -> Any:
    from course_lib.translation.cyclegan import _zoo_trainer, _zoo_unpaired
    from course_lib.translation.pix2pix import PatchDiscriminator

    sampler, shown = _zoo_unpaired()
    D = nn.ModuleDict({k: PatchDiscriminator(3, 4, n_layers=1, norm="instance") for k in ("a", "b")})
    return _zoo_trainer(UNITNetworks(3, 4), D, UNITObjective(seed=seed, sample_images=shown), sampler, steps, seed,
                        device, lr=2e-4)


def _munit_recipe(steps: int, seed: int, device: Any) -> Any:
    from course_lib.translation.cyclegan import _zoo_trainer, _zoo_unpaired
    from course_lib.translation.pix2pix import PatchDiscriminator

    sampler, shown = _zoo_unpaired()
    G = nn.ModuleDict({k: MUNITAutoencoder(3, 4, 8, 1) for k in ("a", "b")})
    D = nn.ModuleDict({k: PatchDiscriminator(3, 4, n_layers=1, norm="instance") for k in ("a", "b")})
    return _zoo_trainer(G, D, MUNITObjective(seed=seed, sample_images=shown), sampler, steps, seed, device)


def _bicyclegan_recipe(steps: int, seed: int, device: Any) -> Any:
    from course_lib.data.unpaired import apply_style, heldout_unpaired
    from course_lib.data.photos import load_photos, random_crops
    from course_lib.translation.cyclegan import _zoo_trainer
    from course_lib.translation.pix2pix import PatchDiscriminator

    a = random_crops(load_photos("train", 0.125), 256, 16, generator=torch.Generator().manual_seed(seed))
    b = apply_style(a, "painterly")  # paired: the painterly version of the same crop
    G = nn.ModuleDict({"g": BicycleGenerator(3, 8, 4), "e": LatentEncoder(3, 8, 4)})
    D = nn.ModuleDict({k: PatchDiscriminator(3, 4, n_layers=1, norm="instance") for k in ("vae", "lr")})
    shown = heldout_unpaired(16, 16, "painterly", scale=0.125)[0]
    return _zoo_trainer(G, D, BicycleGANObjective(seed=seed, sample_images=shown), (a * 2 - 1, b * 2 - 1), steps,
                        seed, device, z_dim=8)


def _register_zoo() -> None:
    from course_lib.translation.cyclegan import _ZooRecipe as R
    from course_lib.zoo import ZooEntry, register_variant

    mod = "course_lib.translation.unpaired_family."
    register_variant(ZooEntry(
        "discogan", "DiscoGAN",
        "Two coupled GANs with a reconstruction loss in each direction discover relations between unpaired "
        "domains: CycleGAN's loop with a non-saturating loss, a squared-error reconstruction and encoder-decoders.",
        r"L_G = L_{GAN_B} + L_{CONST_A} + L_{GAN_A} + L_{CONST_B},\quad L_{CONST_A} = d(G_{BA}(G_{AB}(x_A)), x_A)",
        ("kim2017discogan",), (mod + "DiscoGANGenerator", mod + "DiscoGANDiscriminator", mod + "DiscoGANObjective"),
        _CHAPTER, R(_discogan_recipe, 200, "objective `DiscoGANObjective` (non-saturating, squared-error reconstruction), photo -> night 16x16, encoder-decoders width 4, batch 4")))
    register_variant(ZooEntry(
        "dualgan", "DualGAN",
        "Dual learning: a primal and a dual translator trained with WGAN critics (weights clipped) and L1 "
        "reconstruction errors in both directions.",
        r"l_g = \lambda_U\lVert u - G_B(G_A(u))\rVert_1 + \lambda_V\lVert v - G_A(G_B(v))\rVert_1 - D_V(G_A(u)) - "
        r"D_U(G_B(v))",
        ("yi2017dualgan",), (mod + "DualGANObjective", mod + "clip_weights"), _CHAPTER, R(_dualgan_recipe, 150, "objective `DualGANObjective` (WGAN, clipping 0.01, L1 weights 100), RMSProp 5e-4, U-Nets width 4, photo -> night 16x16, batch 4")))
    register_variant(ZooEntry(
        "unit", "UNIT",
        "Two VAE-GANs with a shared latent space (shared last encoder and first decoder layers): an image of either "
        "domain is encoded to a common code and decoded into the other.",
        r"\min_{E,G}\max_D\; \mathcal L_{VAE_1} + \mathcal L_{GAN_1} + \mathcal L_{CC_1} + \mathcal L_{VAE_2} "
        r"+ \mathcal L_{GAN_2} + \mathcal L_{CC_2}",
        ("liu2017unit",), (mod + "UNITNetworks", mod + "UNITObjective"), _CHAPTER, R(_unit_recipe, 150, "objective `UNITObjective` (weights 10, 0.1, 100, 0.1, 100), shared-latent VAEs width 4, photo -> night 16x16, batch 4")))
    register_variant(ZooEntry(
        "munit", "MUNIT",
        "Images split into a shared content code and a domain-specific style code injected by AdaIN, so one input "
        "translates into many outputs.",
        r"\mathcal L = \mathcal L_{GAN}^{x_1} + \mathcal L_{GAN}^{x_2} + \lambda_x(\mathcal L_{recon}^{x_1} + "
        r"\mathcal L_{recon}^{x_2}) + \lambda_c(\mathcal L_{recon}^{c}) + \lambda_s(\mathcal L_{recon}^{s})",
        ("huang2018munit",), (mod + "MUNITAutoencoder", mod + "MUNITObjective", "course_lib.gan.stylegan.adain"),
        _CHAPTER, R(_munit_recipe, 100, "objective `MUNITObjective` (image 10, content 1, style 1), autoencoders width 4 with 1 AdaIN block, photo -> night 16x16, batch 4")))
    register_variant(ZooEntry(
        "bicyclegan", "BicycleGAN",
        "A latent code tied to the output in both directions (cVAE-GAN and cLR-GAN) makes paired translation "
        "multimodal without mode collapse.",
        r"G^* = \arg\min_{G,E}\max_D\; \mathcal L_{GAN}^{VAE} + \lambda\mathcal L_1^{VAE} + \mathcal L_{GAN} "
        r"+ \lambda_{latent}\mathcal L_1^{latent} + \lambda_{KL}\mathcal L_{KL}",
        ("zhu2017bicyclegan",), (mod + "BicycleGenerator", mod + "LatentEncoder", mod + "BicycleGANObjective"),
        _CHAPTER, R(_bicyclegan_recipe, 200, "objective `BicycleGANObjective` (L1 10, KL 0.01, latent 0.5), paired photo -> painterly 16x16, width 4, batch 4")))


_register_zoo()
