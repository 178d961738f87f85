r"""StarGAN (Choi et al., CVPR 2018): one generator for many domains, told the target domain by a label.

``G(x, c)`` takes an image and the target domain's one-hot label, tiled over the image and concatenated as extra
input channels. The discriminator has two heads on one body: ``D_src`` (real or fake, per patch) and ``D_cls`` (the
domain of the image, :math:`K` logits). With :math:`c'` the original domain and :math:`c` a random target:

.. math::
   \mathcal L_D = -\mathcal L_{adv} + \lambda_{cls}\,\mathcal L^r_{cls},\quad
   \mathcal L^r_{cls} = \mathbb E[-\log D_{cls}(c' \mid x)]\quad\text{(real images, their own domain)}

   \mathcal L_G = \mathcal L_{adv} + \lambda_{cls}\,\mathcal L^f_{cls} + \lambda_{rec}\,\mathcal L_{rec},\quad
   \mathcal L^f_{cls} = \mathbb E[-\log D_{cls}(c \mid G(x, c))],\quad
   \mathcal L_{rec} = \mathbb E\lVert x - G(G(x, c), c')\rVert_1

with :math:`\lambda_{cls} = 1`, :math:`\lambda_{rec} = 10` and the WGAN-GP adversarial loss (:math:`\lambda_{gp} = 10`)
of the paper (Sec. 3 and 4). The classifier is trained on *real* images only, with their original labels; the
generator is trained to make *fakes* classified as the *target*. The reconstruction is StarGAN's cycle: translate to
:math:`c`, back to :math:`c'`. Here the domains are single labels (cross-entropy, as the paper's RaFD experiments;
CelebA's attributes use a binary cross-entropy per attribute instead).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from course_lib.registry import register_model
from course_lib.train.objective import Objective

__all__ = ["StarGANGenerator", "StarGANDiscriminator", "stargan_classification_losses", "StarGANObjective",
           "translate_to_all_domains"]


def _int(value: Any, name: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}.")
    if value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}.")
    return value


def _labels(labels: Any, n: int, n_domains: int, name: str) -> Tensor:
    if not isinstance(labels, Tensor) or labels.dtype != torch.int64 or labels.shape != (n,):
        raise TypeError(f"{name} must be an int64 Tensor of shape ({n},).")
    if n and (int(labels.min()) < 0 or int(labels.max()) >= n_domains):
        raise ValueError(f"{name} must lie in [0, {n_domains}).")
    return labels


class _Residual(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.block = nn.Sequential(nn.Conv2d(c, c, 3, 1, 1, bias=False), nn.InstanceNorm2d(c, affine=True),
                                   nn.ReLU(True), nn.Conv2d(c, c, 3, 1, 1, bias=False),
                                   nn.InstanceNorm2d(c, affine=True))

    def forward(self, x: Tensor) -> Tensor:
        return x + self.block(x)


def _example_gen_input(model: nn.Module, n: int) -> Tensor:
    return torch.rand(n, model.in_channels, 16, 16) * 2 - 1


@register_model(
    "stargan_generator",
    kind="translator",
    example_kwargs={"in_channels": 3, "n_domains": 3, "base_channels": 8, "n_blocks": 1},
    example_input=_example_gen_input,
    expected_shape=lambda model, n: (n, model.in_channels, 16, 16),
)
class StarGANGenerator(nn.Module):
    r"""StarGAN's generator (the authors' ``Generator``): ``Conv7x7(C + K -> F) -> IN -> ReLU``, two ``Conv4x4 s2``
    downsamplings (F -> 2F -> 4F), ``n_blocks`` residual blocks (6 in the paper), two ``ConvTranspose4x4 s2``
    upsamplings, ``Conv7x7 -> tanh``; instance norm with affine parameters, zero padding.

    ``forward(x[N, C, H, W], c[N] int64 or [N, K] one-hot) -> [N, C, H, W]``; ``c`` defaults to domain 0.
    """

    def __init__(self, in_channels: int = 3, n_domains: int = 5, base_channels: int = 64, n_blocks: int = 6) -> None:
        super().__init__()
        self.in_channels = _int(in_channels, "in_channels", 1)
        self.n_domains = _int(n_domains, "n_domains", 2)
        f = _int(base_channels, "base_channels", 1)
        _int(n_blocks, "n_blocks", 0)
        layers: list[nn.Module] = [nn.Conv2d(in_channels + n_domains, f, 7, 1, 3, bias=False),
                                   nn.InstanceNorm2d(f, affine=True), nn.ReLU(True)]
        for mult in (1, 2):
            layers += [nn.Conv2d(f * mult, f * mult * 2, 4, 2, 1, bias=False),
                       nn.InstanceNorm2d(f * mult * 2, affine=True), nn.ReLU(True)]
        layers += [_Residual(4 * f) for _ in range(n_blocks)]
        for mult in (4, 2):
            layers += [nn.ConvTranspose2d(f * mult, f * mult // 2, 4, 2, 1, bias=False),
                       nn.InstanceNorm2d(f * mult // 2, affine=True), nn.ReLU(True)]
        layers += [nn.Conv2d(f, in_channels, 7, 1, 3, bias=False), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def one_hot(self, c: Tensor, n: int) -> Tensor:
        if c.dim() == 1:
            return F.one_hot(_labels(c, n, self.n_domains, "c"), self.n_domains)
        if c.shape != (n, self.n_domains):
            raise ValueError(f"c must be (N,) int64 labels or (N, {self.n_domains}) one-hot, got {tuple(c.shape)}.")
        return c

    def forward(self, x: Tensor, c: Tensor | None = None) -> Tensor:
        if not isinstance(x, Tensor) or x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"x must be (N, {self.in_channels}, H, W).")
        n = x.shape[0]
        if c is None:
            c = torch.zeros(n, dtype=torch.int64, device=x.device)
        onehot = self.one_hot(c, n).to(x.dtype)  # (N, K)
        tiled = onehot[:, :, None, None].expand(-1, -1, *x.shape[-2:])  # (N, K, H, W): the label on every pixel
        return self.model(torch.cat([x, tiled], dim=1))


@register_model(
    "stargan_discriminator",
    kind="discriminator",
    example_kwargs={"in_channels": 3, "n_domains": 3, "image_size": 16, "base_channels": 8, "repeat_num": 2},
    example_input=_example_gen_input,
    expected_shape=lambda model, n: (n, 1, 4, 4),
)
class StarGANDiscriminator(nn.Module):
    r"""StarGAN's discriminator: ``repeat_num`` ``Conv4x4 s2 -> LeakyReLU(0.01)`` layers (F, 2F, 4F, ...; 6 at 128),
    then two heads: ``D_src`` a ``Conv3x3`` to one logit per patch and ``D_cls`` a convolution over the whole
    remaining map (kernel ``image_size / 2^repeat_num``) to :math:`K` domain logits. No normalisation.

    ``forward(x) -> D_src [N, 1, h, w]``; :meth:`both` returns ``(src, cls[N, K])``.
    """

    def __init__(self, in_channels: int = 3, n_domains: int = 5, image_size: int = 128, base_channels: int = 64,
                 repeat_num: int = 6) -> None:
        super().__init__()
        self.in_channels = _int(in_channels, "in_channels", 1)
        self.n_domains = _int(n_domains, "n_domains", 2)
        self.image_size = _int(image_size, "image_size", 2)
        f = _int(base_channels, "base_channels", 1)
        _int(repeat_num, "repeat_num", 1)
        if image_size % (2 ** repeat_num):
            raise ValueError(f"image_size {image_size} must be divisible by 2^repeat_num = {2 ** repeat_num}.")
        layers: list[nn.Module] = [nn.Conv2d(in_channels, f, 4, 2, 1), nn.LeakyReLU(0.01)]
        c = f
        for _ in range(1, repeat_num):
            layers += [nn.Conv2d(c, 2 * c, 4, 2, 1), nn.LeakyReLU(0.01)]
            c *= 2
        self.body = nn.Sequential(*layers)
        self.src = nn.Conv2d(c, 1, 3, 1, 1, bias=False)
        self.cls = nn.Conv2d(c, n_domains, image_size // 2 ** repeat_num, bias=False)

    def both(self, x: Tensor) -> tuple[Tensor, Tensor]:
        if not isinstance(x, Tensor) or x.dim() != 4 or tuple(x.shape[1:]) != (self.in_channels, self.image_size,
                                                                                 self.image_size):
            raise ValueError(f"x must be (N, {self.in_channels}, {self.image_size}, {self.image_size}), got "
                             f"{tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__}.")
        h = self.body(x)
        return self.src(h), self.cls(h).flatten(1)

    def forward(self, x: Tensor) -> Tensor:
        return self.both(x)[0]


def stargan_classification_losses(cls_real: Tensor, cls_fake: Tensor, label_org: Tensor, label_trg: Tensor,
                                  x_real: Tensor, x_rec: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    r"""StarGAN's domain-classification and reconstruction terms.

    Args:
        cls_real: ``(N, K)`` logits of ``D_cls`` on the real images.
        cls_fake: ``(N, K)`` logits of ``D_cls`` on the translations ``G(x, c)``.
        label_org: ``(N,)`` int64, the real images' domains :math:`c'`.
        label_trg: ``(N,)`` int64, the target domains :math:`c`.
        x_real: ``(N, C, H, W)``; x_rec: ``(N, C, H, W)``, :math:`G(G(x, c), c')`.

    Returns:
        ``(d_cls, g_cls, g_rec)``: :math:`\mathcal L^r_{cls} = \mathrm{CE}(D_{cls}(x), c')` (the discriminator's
        term), :math:`\mathcal L^f_{cls} = \mathrm{CE}(D_{cls}(G(x, c)), c)` (the generator's) and
        :math:`\mathcal L_{rec} = \operatorname{mean}|x - x_{rec}|`, cross-entropies averaged over the batch.
    """
    for name, t in (("cls_real", cls_real), ("cls_fake", cls_fake), ("x_real", x_real), ("x_rec", x_rec)):
        if not isinstance(t, Tensor) or not t.is_floating_point():
            raise TypeError(f"{name} must be a floating Tensor.")
    if cls_real.dim() != 2 or cls_fake.shape != cls_real.shape:
        raise ValueError(f"cls_real and cls_fake must both be (N, K), got {tuple(cls_real.shape)} and "
                         f"{tuple(cls_fake.shape)}.")
    n, k = cls_real.shape
    _labels(label_org, n, k, "label_org")
    _labels(label_trg, n, k, "label_trg")
    if x_rec.shape != x_real.shape or x_real.shape[0] != n:
        raise ValueError(f"x_real and x_rec must have the same shape (N = {n}, ...).")
    d_cls = F.cross_entropy(cls_real, label_org)  # real images, their own domain: trains D_cls
    g_cls = F.cross_entropy(cls_fake, label_trg)  # fakes, the domain asked for: trains G
    g_rec = (x_real - x_rec).abs().mean()
    return d_cls, g_cls, g_rec


class StarGANObjective(Objective):
    r"""StarGAN's losses for the one trainer: data ``(x, label)`` with int64 domain labels; ``G`` a
    :class:`StarGANGenerator`, ``D`` a :class:`StarGANDiscriminator`. A random target domain per image is drawn
    from the objective's own generator (different from the original one). ``adversarial``: ``"wgan_gp"`` (the
    paper: :math:`-\mathbb E D_{src}(x) + \mathbb E D_{src}(G(x, c)) + \lambda_{gp} R`) or ``"lsgan"`` (cheaper: no
    gradient penalty, fit for a CPU)."""

    needs_noise = False

    def __init__(self, n_domains: int, *, lambda_cls: float = 1.0, lambda_rec: float = 10.0, lambda_gp: float = 10.0,
                 adversarial: str = "wgan_gp", seed: int = 0, sample_images: Tensor | None = None) -> None:
        self.n_domains = _int(n_domains, "n_domains", 2)
        if adversarial not in ("wgan_gp", "lsgan"):
            raise ValueError(f"adversarial must be 'wgan_gp' or 'lsgan', got {adversarial!r}.")
        self.lambda_cls, self.lambda_rec, self.lambda_gp = float(lambda_cls), float(lambda_rec), float(lambda_gp)
        self.adversarial = adversarial
        self.rng = torch.Generator().manual_seed(int(seed))
        self.sample_images = sample_images

    def _targets(self, label_org: Tensor) -> Tensor:
        shift = torch.randint(1, self.n_domains, label_org.shape, generator=self.rng).to(label_org.device)
        return (label_org + shift) % self.n_domains  # a domain other than the image's own

    def _batch(self, batch: Any) -> tuple[Tensor, Tensor]:
        if not isinstance(batch, (tuple, list)) or len(batch) != 2:
            raise TypeError("StarGAN's minibatch must be (images, int64 domain labels).")
        return batch[0], batch[1]

    def d_loss(self, G: nn.Module, D: nn.Module, batch: Any, z: Tensor | None) -> tuple[Tensor, dict[str, Any]]:
        x, label_org = self._batch(batch)
        label_trg = self._targets(label_org)
        with torch.no_grad():
            fake = G(x, label_trg)
        src_real, cls_real = D.both(x)
        src_fake, _ = D.both(fake)
        d_cls = F.cross_entropy(cls_real, label_org)
        if self.adversarial == "wgan_gp":
            from course_lib.gan.penalties import gradient_penalty

            adv = src_fake.mean() - src_real.mean()
            gp = gradient_penalty(lambda t: D.both(t)[0].flatten(1).mean(1), x, fake, generator=None)
            loss = adv + self.lambda_cls * d_cls + self.lambda_gp * gp
        else:
            adv = 0.5 * ((src_real - 1).square().mean() + src_fake.square().mean())
            loss = adv + self.lambda_cls * d_cls
        acc = (cls_real.argmax(1) == label_org).float().mean()
        return loss, {"d_adv": adv.detach(), "d_cls": d_cls.detach(), "d_cls_acc": acc}

    def g_loss(self, G: nn.Module, D: nn.Module, batch: Any, z: Tensor | None) -> tuple[Tensor, dict[str, Any]]:
        x, label_org = self._batch(batch)
        label_trg = self._targets(label_org)
        fake = G(x, label_trg)
        src_fake, cls_fake = D.both(fake)
        rec = G(fake, label_org)
        g_cls = F.cross_entropy(cls_fake, label_trg)  # the fakes must be classified as the target domain
        g_rec = (x - rec).abs().mean()  # there and back: G(G(x, c), c') = x
        adv = -src_fake.mean() if self.adversarial == "wgan_gp" else (src_fake - 1).square().mean()
        loss = adv + self.lambda_cls * g_cls + self.lambda_rec * g_rec
        return loss, {"g_adv": adv.detach(), "g_cls": g_cls.detach(), "g_rec": g_rec.detach()}

    def sample(self, G: nn.Module, z: Tensor | None, batch: Any = None) -> Tensor:
        x = batch[0] if isinstance(batch, (tuple, list)) else (batch if batch is not None else self.sample_images)
        if x is None:
            raise ValueError("StarGANObjective.sample needs images: batch=(x, labels) or sample_images.")
        return translate_to_all_domains(G, x)[:, -1]

    def state_dict(self) -> dict[str, Any]:
        return {"rng": self.rng.get_state()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.rng.set_state(state["rng"])


@torch.no_grad()
def translate_to_all_domains(G: StarGANGenerator, x: Tensor) -> Tensor:
    """``(N, C, H, W) -> (N, K, C, H, W)``: each image translated to every domain (eval mode, no gradients)."""
    was = G.training
    G.eval()
    try:
        device = next(G.parameters()).device
        x = x.to(device)
        outs = [G(x, torch.full((x.shape[0],), k, dtype=torch.int64, device=device)) for k in range(G.n_domains)]
        return torch.stack(outs, dim=1)
    finally:
        G.train(was)


def _zoo_recipe(steps: int, seed: int, device: Any) -> Any:
    from course_lib.data.photos import load_photos, random_crops
    from course_lib.data.unpaired import apply_style, heldout_unpaired
    from course_lib.translation.cyclegan import _zoo_trainer

    photos = load_photos("train", 0.125)
    xs, ys = [], []
    for k, style in enumerate(("photo", "night", "painterly")):
        crops = random_crops(photos, 64, 16, generator=torch.Generator().manual_seed(seed + 10 + k))
        xs.append((crops if style == "photo" else apply_style(crops, style)) * 2 - 1)
        ys.append(torch.full((64,), k, dtype=torch.int64))
    shown = heldout_unpaired(16, 16, "night", scale=0.125)[0]
    objective = StarGANObjective(3, adversarial="lsgan", seed=seed, sample_images=shown)
    return _zoo_trainer(StarGANGenerator(3, 3, 4, 1), StarGANDiscriminator(3, 3, 16, 8, 2), objective,
                        (torch.cat(xs), torch.cat(ys)), steps, seed, device)


def _register_zoo() -> None:
    from course_lib.translation.cyclegan import _ZooRecipe
    from course_lib.zoo import ZooEntry, register_variant

    register_variant(ZooEntry(
        "stargan", "StarGAN",
        "One generator conditioned on a target domain label translates between many domains, with a domain "
        "classifier in the discriminator and a reconstruction back to the original domain.",
        r"\mathcal L_D = -\mathcal L_{adv} + \lambda_{cls}\mathcal L^r_{cls},\quad \mathcal L_G = \mathcal "
        r"L_{adv} + \lambda_{cls}\mathcal L^f_{cls} + \lambda_{rec}\mathcal L_{rec}",
        ("choi2018stargan",),
        ("course_lib.translation.stargan.StarGANGenerator", "course_lib.translation.stargan.StarGANDiscriminator",
         "course_lib.translation.stargan.stargan_classification_losses",
         "course_lib.translation.stargan.StarGANObjective"),
        "chapters/11_unpaired_translation/theory",
        _ZooRecipe(_zoo_recipe, 200, "objective `StarGANObjective` (least squares instead of WGAN-GP, cls 1, rec 10), "
                   "3 domains (photo, night, painterly) of 16x16 crops, width 4, batch 4"),
    ))


_register_zoo()
