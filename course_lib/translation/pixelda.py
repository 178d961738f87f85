r"""PixelDA (Bousmalis et al., CVPR 2017): unsupervised domain adaptation in pixel space.

A generator :math:`G(x_s, z)` turns a labelled *source* image (an MNIST digit) into one that looks like the
*target* domain (MNIST-M: digits over photo patches), keeping its content, so its label still holds. A
discriminator :math:`D` tells real target images from adapted ones; a task classifier :math:`T` learns the labels
from source and adapted images. The objective (the paper's Eq. 1, without the optional content-similarity term):

.. math::
   \min_{G, T}\max_D\; \alpha\,\mathcal L_d(D, G) + \beta\,\mathcal L_t(G, T),\qquad
   \mathcal L_t = \mathbb E_{x_s, y_s, z}\big[-y_s^\top \log T(G(x_s, z)) - y_s^\top \log T(x_s)\big]

:math:`\mathcal L_d` is the GAN loss of :math:`D` on target images vs adapted ones (here least squares). Because
:math:`T` sees target-looking digits with their source labels, it classifies real target digits far better than a
classifier trained on the plain digits: PyTorch-GAN's runs report about 55% (naive) against 95% (PixelDA) on
MNIST-M, its own numbers, not the paper's table.

Here: :class:`PixelDAGenerator` (noise through a linear layer to an extra image channel, residual blocks),
:class:`PixelDADiscriminator`, :class:`DigitClassifier` (:math:`T`, also the naive classifier), :func:`task_loss`,
:class:`PixelDAObjective` for the one trainer, and :func:`train_classifier` / :func:`accuracy` for the table.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from course_lib.registry import register_model
from course_lib.train.objective import Objective

__all__ = ["PixelDAGenerator", "PixelDADiscriminator", "DigitClassifier", "task_loss", "PixelDAObjective",
           "train_classifier", "accuracy", "adapt"]


def _int(value: Any, name: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}.")
    if value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}.")
    return value


def _images(x: Any, name: str, channels: int) -> Tensor:
    if not isinstance(x, Tensor) or not x.is_floating_point():
        raise TypeError(f"{name} must be a floating Tensor (N, {channels}, H, W).")
    if x.dim() != 4 or x.shape[1] != channels:
        raise ValueError(f"{name} must be (N, {channels}, H, W), got {tuple(x.shape)}.")
    return x


class _Residual(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.block = nn.Sequential(nn.Conv2d(c, c, 3, 1, 1), nn.BatchNorm2d(c), nn.ReLU(True),
                                   nn.Conv2d(c, c, 3, 1, 1), nn.BatchNorm2d(c))

    def forward(self, x: Tensor) -> Tensor:
        return x + self.block(x)


@register_model(
    "pixelda_generator",
    kind="translator",
    example_kwargs={"channels": 3, "image_size": 28, "z_dim": 10, "base_channels": 8, "n_blocks": 1},
    example_input=lambda model, n: torch.rand(n, model.channels, model.image_size, model.image_size) * 2 - 1,
    expected_shape=lambda model, n: (n, model.channels, model.image_size, model.image_size),
)
class PixelDAGenerator(nn.Module):
    r"""``G(x_s, z)``: :math:`z \in \mathbb R^{10}` through a linear layer to one ``H x W`` channel, concatenated
    with the source image, ``Conv3x3 -> ReLU``, ``n_blocks`` residual blocks (conv-BN-ReLU-conv-BN), ``Conv3x3 ->
    tanh`` (the paper's Figure 2 at a small width). Resolution preserved: ``(N, C, H, W) -> (N, C, H, W)``.
    Without ``z`` a zero code is used (the mean of the noise)."""

    def __init__(self, channels: int = 3, image_size: int = 28, z_dim: int = 10, base_channels: int = 64,
                 n_blocks: int = 6) -> None:
        super().__init__()
        self.channels = _int(channels, "channels", 1)
        self.image_size = _int(image_size, "image_size", 1)
        self.z_dim = _int(z_dim, "z_dim", 1)
        f = _int(base_channels, "base_channels", 1)
        _int(n_blocks, "n_blocks", 0)
        self.fc = nn.Linear(z_dim, image_size * image_size)
        self.head = nn.Sequential(nn.Conv2d(channels + 1, f, 3, 1, 1), nn.ReLU(True))
        self.blocks = nn.Sequential(*[_Residual(f) for _ in range(n_blocks)])
        self.tail = nn.Sequential(nn.Conv2d(f, channels, 3, 1, 1), nn.Tanh())

    def forward(self, x: Tensor, z: Tensor | None = None) -> Tensor:
        x = _images(x, "x", self.channels)
        n, s = x.shape[0], self.image_size
        if tuple(x.shape[-2:]) != (s, s):
            raise ValueError(f"x must be {s}x{s}, got {tuple(x.shape[-2:])}.")
        if z is None:
            z = torch.zeros(n, self.z_dim, device=x.device, dtype=x.dtype)
        if not isinstance(z, Tensor) or z.shape != (n, self.z_dim):
            raise ValueError(f"z must be (N, {self.z_dim}).")
        noise = self.fc(z).view(n, 1, s, s)  # (N, 1, H, W): the noise as an image channel
        return self.tail(self.blocks(self.head(torch.cat([x, noise], dim=1))))


@register_model(
    "pixelda_discriminator",
    kind="discriminator",
    example_kwargs={"channels": 3, "base_channels": 8},
    example_input=lambda model, n: torch.rand(n, model.channels, 28, 28) * 2 - 1,
    expected_shape=lambda model, n: (n, 1),
)
class PixelDADiscriminator(nn.Module):
    """``D(x) -> (N, 1)`` logits: three ``Conv3x3 s2 -> LeakyReLU(0.2)`` layers (F, 2F, 4F, instance norm after the
    first), global average pooling, a linear layer."""

    def __init__(self, channels: int = 3, base_channels: int = 64) -> None:
        super().__init__()
        self.channels = _int(channels, "channels", 1)
        f = _int(base_channels, "base_channels", 1)
        self.body = nn.Sequential(
            nn.Conv2d(channels, f, 3, 2, 1), nn.LeakyReLU(0.2, True),
            nn.Conv2d(f, 2 * f, 3, 2, 1), nn.InstanceNorm2d(2 * f, affine=True), nn.LeakyReLU(0.2, True),
            nn.Conv2d(2 * f, 4 * f, 3, 2, 1), nn.InstanceNorm2d(4 * f, affine=True), nn.LeakyReLU(0.2, True))
        self.out = nn.Linear(4 * f, 1)

    def forward(self, x: Tensor) -> Tensor:
        x = _images(x, "x", self.channels)
        return self.out(self.body(x).mean(dim=(2, 3)))


@register_model(
    "digit_classifier",
    kind="classifier",
    example_kwargs={"channels": 3, "base_channels": 8},
    example_input=lambda model, n: torch.rand(n, model.channels, 28, 28) * 2 - 1,
    expected_shape=lambda model, n: (n, model.n_classes),
)
class DigitClassifier(nn.Module):
    """The task network ``T(x) -> (N, 10)`` logits for 28x28 images: three ``Conv3x3 s2 -> BN -> LeakyReLU`` layers
    (28 -> 14 -> 7 -> 4), flattened, a linear layer (the layout of the strokes matters: no global pooling). The same
    architecture serves as the naive classifier (trained on plain digits)."""

    def __init__(self, channels: int = 3, n_classes: int = 10, base_channels: int = 32) -> None:
        super().__init__()
        self.channels = _int(channels, "channels", 1)
        self.n_classes = _int(n_classes, "n_classes", 2)
        f = _int(base_channels, "base_channels", 1)
        self.body = nn.Sequential(
            nn.Conv2d(channels, f, 3, 2, 1), nn.BatchNorm2d(f), nn.LeakyReLU(0.2, True),
            nn.Conv2d(f, 2 * f, 3, 2, 1), nn.BatchNorm2d(2 * f), nn.LeakyReLU(0.2, True),
            nn.Conv2d(2 * f, 4 * f, 3, 2, 1), nn.BatchNorm2d(4 * f), nn.LeakyReLU(0.2, True))
        self.out = nn.Linear(4 * f * 4 * 4, n_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = _images(x, "x", self.channels)
        if tuple(x.shape[-2:]) != (28, 28):
            raise ValueError(f"DigitClassifier takes 28x28 images, got {tuple(x.shape[-2:])}.")
        return self.out(self.body(x).flatten(1))  # (N, 4F * 4 * 4) -> (N, K)


def task_loss(logits_adapted: Tensor, logits_source: Tensor, labels: Tensor) -> Tensor:
    r"""PixelDA's task loss :math:`\mathcal L_t`: the cross-entropy of ``T`` on the adapted images *and* on the source
    images, both with the *source* labels, averaged: :math:`\tfrac12[\mathrm{CE}(T(G(x_s, z)), y_s) +
    \mathrm{CE}(T(x_s), y_s)]` (``(N, K), (N, K), (N,) int64 -> scalar``)."""
    for name, t in (("logits_adapted", logits_adapted), ("logits_source", logits_source)):
        if not isinstance(t, Tensor) or not t.is_floating_point() or t.dim() != 2:
            raise TypeError(f"{name} must be a floating (N, K) Tensor.")
    if logits_adapted.shape != logits_source.shape:
        raise ValueError("logits_adapted and logits_source must have the same shape.")
    if not isinstance(labels, Tensor) or labels.dtype != torch.int64 or labels.shape != logits_source.shape[:1]:
        raise TypeError(f"labels must be an int64 Tensor of shape ({logits_source.shape[0]},).")
    return 0.5 * (F.cross_entropy(logits_adapted, labels) + F.cross_entropy(logits_source, labels))


class PixelDAObjective(Objective):
    r"""PixelDA for the one trainer. ``G = nn.ModuleDict({"g": PixelDAGenerator, "t": DigitClassifier})`` (``T`` is
    minimised with ``G``, in the generator's optimizer), ``D`` a :class:`PixelDADiscriminator`; data
    ``(x_s, y_s, x_t)``: source digits, their labels, unlabelled target images (unpaired with the digits).

    - ``d_loss``: :math:`\tfrac12[(D(x_t) - 1)^2 + D(G(x_s, z))^2]` (least squares);
    - ``g_loss``: :math:`\alpha (D(G(x_s, z)) - 1)^2 + \beta\,\mathcal L_t` (:func:`task_loss`), with
      :math:`\alpha = 1`, :math:`\beta = 0.1` by default.
    """

    def __init__(self, alpha: float = 1.0, beta: float = 0.1, sample_images: Tensor | None = None) -> None:
        for name, v in (("alpha", alpha), ("beta", beta)):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0:
                raise ValueError(f"{name} must be a number >= 0, got {v!r}.")
        self.alpha, self.beta = float(alpha), float(beta)
        self.sample_images = sample_images

    @staticmethod
    def _batch(batch: Any) -> tuple[Tensor, Tensor, Tensor]:
        if not isinstance(batch, (tuple, list)) or len(batch) != 3:
            raise TypeError("PixelDA's minibatch must be (x_source, y_source, x_target).")
        return batch[0], batch[1], batch[2]

    def d_loss(self, G: nn.Module, D: nn.Module, batch: Any, z: Tensor | None) -> tuple[Tensor, dict[str, Any]]:
        x_s, _, x_t = self._batch(batch)
        with torch.no_grad():
            fake = G["g"](x_s, z)
        real_out, fake_out = D(x_t), D(fake)
        loss = 0.5 * ((real_out - 1).square().mean() + fake_out.square().mean())
        return loss, {"d_real": real_out.mean().detach(), "d_fake": fake_out.mean().detach()}

    def g_loss(self, G: nn.Module, D: nn.Module, batch: Any, z: Tensor | None) -> tuple[Tensor, dict[str, Any]]:
        x_s, y_s, _ = self._batch(batch)
        fake = G["g"](x_s, z)
        adv = (D(fake) - 1).square().mean()
        task = task_loss(G["t"](fake), G["t"](x_s), y_s)
        return self.alpha * adv + self.beta * task, {"g_adv": adv.detach(), "task": task.detach()}

    def sample(self, G: nn.Module, z: Tensor | None, batch: Any = None) -> Tensor:
        x = batch[0] if isinstance(batch, (tuple, list)) else (batch if batch is not None else self.sample_images)
        if x is None:
            raise ValueError("PixelDAObjective.sample needs source images: batch=(x_s, ...) or sample_images.")
        x = x.to(next(G.parameters()).device)
        if z is not None:
            z = z[: x.shape[0]]
            x = x[: z.shape[0]]
        return G["g"](x, z)


@torch.no_grad()
def adapt(G: PixelDAGenerator, x: Tensor, seed: int = 0, batch_size: int = 256) -> Tensor:
    """Source images translated to the target domain, ``G(x, z)`` with fresh noise from ``seed`` (eval mode)."""
    was = G.training
    G.eval()
    try:
        gen = torch.Generator().manual_seed(seed)
        device = next(G.parameters()).device
        outs = []
        for i in range(0, x.shape[0], batch_size):
            xb = x[i:i + batch_size]
            z = torch.rand(xb.shape[0], G.z_dim, generator=gen) * 2 - 1
            outs.append(G(xb.to(device), z.to(device)).cpu())
        return torch.cat(outs)
    finally:
        G.train(was)


def train_classifier(x: Tensor, y: Tensor, *, steps: int = 300, batch_size: int = 64, lr: float = 2e-3,
                     seed: int = 0, base_channels: int = 32, model: nn.Module | None = None) -> DigitClassifier:
    """A :class:`DigitClassifier` trained with Adam on ``(x, y)`` for ``steps`` minibatches (seeded; CPU-sized).
    The naive baseline of the PixelDA table: trained on the plain source digits, tested on the target."""
    x = _images(x, "x", x.shape[1] if isinstance(x, Tensor) and x.dim() == 4 else 3)
    if not isinstance(y, Tensor) or y.dtype != torch.int64 or y.shape != x.shape[:1]:
        raise TypeError("y must be an int64 Tensor with one label per image.")
    _int(steps, "steps", 1)
    torch.manual_seed(seed)
    clf = model if model is not None else DigitClassifier(x.shape[1], int(y.max()) + 1 if y.numel() else 10,
                                                          base_channels)
    if model is None and clf.n_classes < 10:
        clf = DigitClassifier(x.shape[1], 10, base_channels)
    opt = torch.optim.Adam(clf.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    clf.train()
    for _ in range(steps):
        idx = torch.randint(0, x.shape[0], (batch_size,), generator=gen)
        loss = F.cross_entropy(clf(x[idx]), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return clf.eval()


@torch.no_grad()
def accuracy(model: nn.Module, x: Tensor, y: Tensor, batch_size: int = 500) -> float:
    """The fraction of ``x`` that ``model`` (eval mode) labels ``y``."""
    if not isinstance(y, Tensor) or y.shape != x.shape[:1]:
        raise ValueError("x and y must have the same number of samples.")
    was = model.training
    model.eval()
    try:
        correct = sum(int((model(x[i:i + batch_size]).argmax(1) == y[i:i + batch_size]).sum())
                      for i in range(0, x.shape[0], batch_size))
        return correct / max(1, x.shape[0])
    finally:
        model.train(was)


def _zoo_recipe(steps: int, seed: int, device: Any) -> Any:
    from course_lib.data.mnistm import load_mnist_rgb, load_mnistm_like
    from course_lib.translation.cyclegan import _zoo_trainer

    x_s, y_s = load_mnist_rgb(True, n=512)
    x_t, _ = load_mnistm_like(True, n=1024, verbose=False)
    G = nn.ModuleDict({"g": PixelDAGenerator(3, 28, 10, 4, 1), "t": DigitClassifier(3, 10, 4)})
    objective = PixelDAObjective(alpha=1.0, beta=1.0, sample_images=x_s[:16])
    return _zoo_trainer(G, PixelDADiscriminator(3, 4), objective, (x_s, y_s, x_t[512:]), steps, seed, device,
                        z_dim=10, batch_size=16)


def _register_zoo() -> None:
    from course_lib.translation.cyclegan import _ZooRecipe
    from course_lib.zoo import ZooEntry, register_variant

    register_variant(ZooEntry(
        "pixelda", "PixelDA",
        "A generator translates labelled source images so that they look like the target domain, and a "
        "classifier trained on them (and on the source) works on the target.",
        r"\min_{G,T}\max_D\; \alpha\,\mathcal L_d(D, G) + \beta\,\mathcal L_t(G, T)",
        ("bousmalis2017pixelda",),
        ("course_lib.translation.pixelda.PixelDAGenerator", "course_lib.translation.pixelda.PixelDAObjective",
         "course_lib.translation.pixelda.task_loss", "course_lib.data.mnistm.load_mnistm_like"),
        "chapters/11_unpaired_translation/theory",
        _ZooRecipe(_zoo_recipe, 150, "objective `PixelDAObjective` (least squares, alpha 1, beta 1), 512 bundled "
                   "digits -> MNIST-M-like images, widths 4, batch 16"),
    ))


_register_zoo()
