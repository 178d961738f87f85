r"""Conditional GANs: the label enters both networks (Mirza & Osindero 2014), by concatenation, by conditional
batch norm (de Vries et al. 2017; Dumoulin et al. 2017) or by projection (Miyato & Koyama 2018).

* **Concatenation** (CGAN): :math:`G(z, y) = G([z; e(y)])`, :math:`D(x, y) = D([x; e(y)])`, with :math:`e(y)` the
  one-hot vector of the label (:func:`one_hot`) or a learned embedding. In a convolutional discriminator the one-hot
  vector is broadcast to :math:`K` constant feature maps and concatenated to the image channels.
* **Conditional batch norm** (:func:`conditional_batch_norm`, :class:`ConditionalBatchNorm2d`): the features are
  normalised with the statistics of the whole minibatch, then given a gain and a bias *per class*,
  :math:`\mathrm{CBN}(h, y) = \gamma_y \odot (h - \mu_B) / \sqrt{\sigma_B^2 + \epsilon} + \beta_y`, the gains starting
  at 1 and the biases at 0 (so the layer starts as plain batch norm).
* **Projection discriminator** (:func:`projection_logit`, :class:`ConditionalConvDiscriminator` with
  ``conditioning="projection"``): :math:`D(x, y) = \psi(\phi(x)) + \langle E_y, \phi(x) \rangle`, the form the
  log-likelihood ratio :math:`\log q(x, y) / p(x, y)` takes when :math:`p(y \mid x)` and :math:`q(y \mid x)` are
  log-linear in :math:`\phi(x)` (the chapter's theory page derives it).

:class:`ConditionalObjective` trains any of these with the one trainer, :class:`course_lib.train.AdversarialTrainer`:
the data are ``(x, y)`` (images and int64 labels), fakes are ``G(z, y_fake)`` with ``y_fake`` drawn uniformly over
the classes, and the discriminator sees ``D(x, y)`` and ``D(G(z, y_fake), y_fake)``.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from course_lib.registry import register_model
from course_lib.train.objective import Objective

__all__ = [
    "one_hot",
    "check_labels",
    "conditional_batch_norm",
    "ConditionalBatchNorm2d",
    "projection_logit",
    "LabelEncoder",
    "CGANGenerator",
    "CGANDiscriminator",
    "ConditionalDCGANGenerator",
    "ConditionalConvDiscriminator",
    "ConditionalObjective",
    "uniform_labels",
    "class_grid_labels",
]


# ----------------------------------------------------------------------------------------------------------------
# Validation helpers (shared by the chapter's modules)
# ----------------------------------------------------------------------------------------------------------------
def _int(value: object, name: str, low: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}.")
    if value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}.")
    return value


def _float_tensor(x: object, name: str, dims: tuple[int, ...] | None = None) -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}.")
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {x.dtype}.")
    if dims is not None and x.dim() not in dims:
        raise ValueError(f"{name} must have {' or '.join(map(str, dims))} dimensions, got shape {tuple(x.shape)}.")
    return x


def check_labels(y: object, num_classes: int, n: int | None = None, name: str = "y") -> Tensor:
    """Check integer class labels: an int64 (or other integer) tensor of shape ``(N,)`` with values in
    ``0..num_classes-1`` (and ``N == n`` when given). Returns ``y``; raises ``TypeError``/``ValueError``."""
    if not isinstance(y, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of integer labels, got {type(y).__name__}.")
    if y.is_floating_point() or y.is_complex() or y.dtype == torch.bool:
        raise TypeError(f"{name} must hold integer class labels (int64), got dtype {y.dtype}; one-hot or float "
                        "labels are not class indices.")
    if y.dim() != 1:
        raise ValueError(f"{name} must have shape (N,), got {tuple(y.shape)}.")
    if n is not None and y.shape[0] != n:
        raise ValueError(f"{name} has {y.shape[0]} labels for a batch of {n}.")
    if y.numel() and (int(y.min()) < 0 or int(y.max()) >= num_classes):
        raise ValueError(f"{name} must lie in 0..{num_classes - 1}, got values in [{int(y.min())}, {int(y.max())}].")
    return y


def one_hot(y: Tensor, num_classes: int, dtype: torch.dtype = torch.float32) -> Tensor:
    r"""``(N,)`` int64 labels -> ``(N, K)`` one-hot rows, :math:`e(y)_k = [k = y]`, in ``dtype`` on ``y``'s device."""
    _int(num_classes, "num_classes")
    check_labels(y, num_classes)
    return F.one_hot(y.long(), num_classes).to(dtype)


def uniform_labels(n: int, num_classes: int, generator: torch.Generator | None = None,
                   device: torch.device | str | None = None) -> Tensor:
    """``n`` labels drawn uniformly from ``0..num_classes-1`` (int64, on ``device``), from ``generator`` (CPU)."""
    _int(n, "n", 0)
    _int(num_classes, "num_classes")
    return torch.randint(num_classes, (n,), generator=generator).to(device or "cpu")


def class_grid_labels(num_classes: int, per_class: int, device: torch.device | str | None = None) -> Tensor:
    """Labels for a grid with one row per class: ``[0]*per_class + [1]*per_class + ...`` (int64)."""
    _int(num_classes, "num_classes")
    _int(per_class, "per_class")
    return torch.arange(num_classes, device=device).repeat_interleave(per_class)


# ----------------------------------------------------------------------------------------------------------------
# Conditional batch norm
# ----------------------------------------------------------------------------------------------------------------
def conditional_batch_norm(x: Tensor, y: Tensor, gain: Tensor, bias: Tensor, eps: float = 1e-5) -> Tensor:
    r"""Conditional batch norm in training mode (batch statistics).

    .. math::
        \mathrm{CBN}(x, y)_{n,c} = \gamma_{y_n, c}\, \frac{x_{n,c} - \mu_c}{\sqrt{\sigma_c^2 + \epsilon}}
        + \beta_{y_n, c}

    with :math:`\mu_c, \sigma^2_c` the mean and the *population* (biased) variance of channel :math:`c` over the
    whole minibatch and its positions (what ``BatchNorm`` uses to normalise), not per class.

    Args:
        x: ``(N, C)`` or ``(N, C, H, W)`` features, floating point.
        y: ``(N,)`` int64 labels in ``0..K-1``.
        gain, bias: ``(K, C)`` per-class gains :math:`\gamma` and biases :math:`\beta`.
        eps: added to the variance under the root.

    Returns:
        a tensor shaped like ``x``.
    """
    x = _float_tensor(x, "x", (2, 4))
    gain = _float_tensor(gain, "gain", (2,))
    bias = _float_tensor(bias, "bias", (2,))
    if gain.shape != bias.shape or gain.shape[1] != x.shape[1]:
        raise ValueError(f"gain and bias must both have shape (K, C) with C = {x.shape[1]}, got "
                         f"{tuple(gain.shape)} and {tuple(bias.shape)}.")
    check_labels(y, gain.shape[0], x.shape[0])
    dims = (0,) if x.dim() == 2 else (0, 2, 3)
    mu = x.mean(dim=dims, keepdim=True)
    var = x.var(dim=dims, keepdim=True, unbiased=False)
    x_hat = (x - mu) / torch.sqrt(var + eps)
    shape = (x.shape[0], x.shape[1]) + (1,) * (x.dim() - 2)
    return gain[y].view(shape) * x_hat + bias[y].view(shape)  # (N, C[, 1, 1]) broadcast over positions


class ConditionalBatchNorm2d(nn.Module):
    r"""Batch norm without its own affine part, followed by a per-class gain and bias (embeddings of the label):
    :math:`\gamma_y \odot \hat h + \beta_y`. The gains start at 1 and the biases at 0 (plain batch norm at init).

    Shapes: ``x`` ``(N, C, H, W)`` (or ``(N, C)``), ``y`` ``(N,)`` int64 -> like ``x``. In eval mode the running
    statistics are used, as in ``nn.BatchNorm2d``.
    """

    def __init__(self, num_features: int, num_classes: int, eps: float = 1e-5, momentum: float = 0.1) -> None:
        super().__init__()
        self.num_features, self.num_classes = _int(num_features, "num_features"), _int(num_classes, "num_classes")
        # affine=False: the class-dependent gain and bias replace BN's own; keyword arguments (eps is not momentum)
        self.bn = nn.BatchNorm2d(num_features, eps=eps, momentum=momentum, affine=False)
        self.gain = nn.Embedding(num_classes, num_features)
        self.bias = nn.Embedding(num_classes, num_features)
        nn.init.ones_(self.gain.weight)
        nn.init.zeros_(self.bias.weight)

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        x = _float_tensor(x, "x", (2, 4))
        check_labels(y, self.num_classes, x.shape[0])
        h = self.bn(x[..., None, None] if x.dim() == 2 else x)
        h = h.view_as(x)
        shape = (x.shape[0], self.num_features) + (1,) * (x.dim() - 2)
        return self.gain(y).view(shape) * h + self.bias(y).view(shape)


# ----------------------------------------------------------------------------------------------------------------
# Projection
# ----------------------------------------------------------------------------------------------------------------
def projection_logit(features: Tensor, y: Tensor, psi_weight: Tensor, psi_bias: Tensor | None,
                     embed: Tensor) -> Tensor:
    r"""The projection discriminator's logit (Miyato & Koyama 2018, Eq. 3):

    .. math:: D(x, y) = \underbrace{w_\psi^\top \phi(x) + b_\psi}_{\psi(\phi(x))} + E_y^\top \phi(x)

    Args:
        features: ``(N, F)`` :math:`\phi(x)`.
        y: ``(N,)`` int64 labels.
        psi_weight: ``(1, F)`` or ``(F,)``; psi_bias: ``(1,)``, a 0-d tensor or ``None``.
        embed: ``(K, F)`` class embeddings :math:`E`.

    Returns:
        ``(N,)`` logits.
    """
    features = _float_tensor(features, "features", (2,))
    embed = _float_tensor(embed, "embed", (2,))
    if embed.shape[1] != features.shape[1]:
        raise ValueError(f"embed must have shape (K, {features.shape[1]}), got {tuple(embed.shape)}.")
    check_labels(y, embed.shape[0], features.shape[0])
    w = psi_weight.reshape(-1)
    if w.shape[0] != features.shape[1]:
        raise ValueError(f"psi_weight must hold {features.shape[1]} numbers, got shape {tuple(psi_weight.shape)}.")
    out = features @ w + (embed[y] * features).sum(dim=1)  # (N,)
    return out if psi_bias is None else out + psi_bias.reshape(())


# ----------------------------------------------------------------------------------------------------------------
# Networks
# ----------------------------------------------------------------------------------------------------------------
class LabelEncoder(nn.Module):
    """The label as a vector: one-hot (``"concat"``, no parameters) or a learned embedding (``"embed"``)."""

    def __init__(self, num_classes: int, mode: str = "concat", dim: int | None = None) -> None:
        super().__init__()
        self.num_classes = _int(num_classes, "num_classes")
        if mode not in ("concat", "embed"):
            raise ValueError(f"conditioning must be 'concat' (one-hot) or 'embed', got {mode!r}.")
        self.mode = mode
        self.dim = num_classes if mode == "concat" else _int(dim if dim is not None else num_classes, "embed_dim")
        self.embedding = nn.Embedding(num_classes, self.dim) if mode == "embed" else None

    def forward(self, y: Tensor, dtype: torch.dtype = torch.float32) -> Tensor:
        check_labels(y, self.num_classes)
        if self.embedding is None:
            return one_hot(y, self.num_classes, dtype)
        return self.embedding(y).to(dtype)


def _example_zy(model: nn.Module, n: int) -> tuple[Tensor, Tensor]:
    g = torch.Generator().manual_seed(0)
    return torch.randn(n, model.z_dim, generator=g), torch.arange(n) % model.num_classes


def _example_xy(model: nn.Module, n: int) -> tuple[Tensor, Tensor]:
    g = torch.Generator().manual_seed(0)
    return torch.rand(n, *model.in_shape, generator=g) * 2 - 1, torch.arange(n) % model.num_classes


class _SampleZ:
    z_dim: int

    def sample_z(self, n: int, generator: torch.Generator | None = None,
                 device: torch.device | str | None = None) -> Tensor:
        """``n`` codes :math:`z \\sim \\mathcal N(0, I)`, shape ``(n, z_dim)``, in the model's dtype/device."""
        p = next(self.parameters())  # type: ignore[attr-defined]
        z = torch.randn(n, self.z_dim, generator=generator, dtype=p.dtype)
        return z.to(device if device is not None else p.device)


@register_model("cgan_generator", kind="generator",
                example_kwargs={"z_dim": 8, "num_classes": 3, "out_shape": (1, 6, 6), "hidden": (16,)},
                example_input=_example_zy, expected_shape=lambda m, n: (n, *m.out_shape))
class CGANGenerator(_SampleZ, nn.Module):
    r"""MLP conditional generator (Mirza & Osindero 2014): :math:`G(z, y) = \tanh(\mathrm{MLP}([z; e(y)]))`,
    hidden layers ``Linear -> BatchNorm1d -> LeakyReLU(0.2)``.

    Shapes: ``z`` ``(N, z_dim)``, ``y`` ``(N,)`` int64 -> ``(N, *out_shape)``.
    """

    def __init__(self, z_dim: int = 32, num_classes: int = 10, out_shape: tuple[int, ...] = (1, 28, 28),
                 hidden: tuple[int, ...] = (128, 256), conditioning: str = "concat", embed_dim: int | None = None
                 ) -> None:
        super().__init__()
        self.z_dim, self.num_classes = _int(z_dim, "z_dim"), _int(num_classes, "num_classes")
        self.out_shape = tuple(out_shape)
        self.label = LabelEncoder(num_classes, conditioning, embed_dim)
        layers: list[nn.Module] = []
        width = z_dim + self.label.dim
        for h in hidden:
            layers += [nn.Linear(width, h, bias=False), nn.BatchNorm1d(h, eps=1e-5, momentum=0.1), nn.LeakyReLU(0.2)]
            width = h
        layers += [nn.Linear(width, math.prod(self.out_shape)), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: Tensor, y: Tensor) -> Tensor:
        z = _float_tensor(z, "z", (2,))
        if z.shape[1] != self.z_dim:
            raise ValueError(f"z must have shape (N, {self.z_dim}), got {tuple(z.shape)}.")
        check_labels(y, self.num_classes, z.shape[0])
        h = torch.cat([z, self.label(y, z.dtype)], dim=1)  # (N, z_dim + label dim)
        return self.net(h).view(z.shape[0], *self.out_shape)


@register_model("cgan_discriminator", kind="discriminator",
                example_kwargs={"num_classes": 3, "in_shape": (1, 6, 6), "hidden": (16,)},
                example_input=_example_xy, expected_shape=lambda m, n: (n,))
class CGANDiscriminator(nn.Module):
    r"""MLP conditional discriminator: :math:`D(x, y) = \mathrm{MLP}([\mathrm{vec}(x); e(y)])`, one logit per sample
    (``Linear -> LeakyReLU(0.2)`` hidden layers, no batch norm).

    Shapes: ``x`` ``(N, *in_shape)``, ``y`` ``(N,)`` -> ``(N,)``.
    """

    def __init__(self, num_classes: int = 10, in_shape: tuple[int, ...] = (1, 28, 28),
                 hidden: tuple[int, ...] = (256, 128), conditioning: str = "concat", embed_dim: int | None = None
                 ) -> None:
        super().__init__()
        self.num_classes, self.in_shape = _int(num_classes, "num_classes"), tuple(in_shape)
        self.label = LabelEncoder(num_classes, conditioning, embed_dim)
        layers: list[nn.Module] = []
        width = math.prod(self.in_shape) + self.label.dim
        for h in hidden:
            layers += [nn.Linear(width, h), nn.LeakyReLU(0.2)]
            width = h
        layers.append(nn.Linear(width, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        x = _float_tensor(x, "x")
        if tuple(x.shape[1:]) != self.in_shape:
            raise ValueError(f"x must have shape (N, {', '.join(map(str, self.in_shape))}), got {tuple(x.shape)}.")
        check_labels(y, self.num_classes, x.shape[0])
        h = torch.cat([x.flatten(1), self.label(y, x.dtype)], dim=1)
        return self.net(h).squeeze(1)


def _check_image_size(image_size: int) -> int:
    _int(image_size, "image_size", 4)
    if image_size % 4:
        raise ValueError(f"image_size must be a multiple of 4 (two stride-2 stages), got {image_size}.")
    return image_size


@register_model("conditional_dcgan_generator", kind="generator",
                example_kwargs={"z_dim": 8, "num_classes": 3, "image_size": 8, "base": 8},
                example_input=_example_zy, expected_shape=lambda m, n: (n, m.channels, m.image_size, m.image_size))
class ConditionalDCGANGenerator(_SampleZ, nn.Module):
    r"""DCGAN-style conditional generator with conditional batch norm in every hidden stage:

    ``[z; e(y)] -> Linear -> (2b, s/4, s/4) -> CBN -> ReLU -> ConvT 4/2/1 -> (b, s/2, s/2) -> CBN -> ReLU ->
    ConvT 4/2/1 -> (C, s, s) -> tanh``; ``e(y)`` is the one-hot label (``concat_label=True``) or nothing, the
    label then entering only through the CBN layers (the BigGAN/SNGAN way).
    """

    def __init__(self, z_dim: int = 32, num_classes: int = 10, image_size: int = 28, channels: int = 1,
                 base: int = 32, concat_label: bool = True) -> None:
        super().__init__()
        self.z_dim, self.num_classes = _int(z_dim, "z_dim"), _int(num_classes, "num_classes")
        self.image_size, self.channels, self.base = _check_image_size(image_size), _int(channels, "channels"), base
        self.concat_label, self.s0 = bool(concat_label), image_size // 4
        in_dim = z_dim + (num_classes if concat_label else 0)
        self.fc = nn.Linear(in_dim, 2 * base * self.s0 * self.s0, bias=False)
        self.cbn0 = ConditionalBatchNorm2d(2 * base, num_classes)
        self.up1 = nn.ConvTranspose2d(2 * base, base, 4, 2, 1, bias=False)
        self.cbn1 = ConditionalBatchNorm2d(base, num_classes)
        self.up2 = nn.ConvTranspose2d(base, channels, 4, 2, 1)

    def forward(self, z: Tensor, y: Tensor) -> Tensor:
        z = _float_tensor(z, "z", (2,))
        if z.shape[1] != self.z_dim:
            raise ValueError(f"z must have shape (N, {self.z_dim}), got {tuple(z.shape)}.")
        check_labels(y, self.num_classes, z.shape[0])
        h = torch.cat([z, one_hot(y, self.num_classes, z.dtype)], 1) if self.concat_label else z
        h = self.fc(h).view(z.shape[0], 2 * self.base, self.s0, self.s0)  # (N, 2b, s/4, s/4)
        h = F.relu(self.cbn0(h, y))
        h = F.relu(self.cbn1(self.up1(h), y))  # (N, b, s/2, s/2)
        return torch.tanh(self.up2(h))  # (N, C, s, s)


@register_model("conditional_conv_discriminator", kind="discriminator",
                example_kwargs={"num_classes": 3, "image_size": 8, "base": 8, "conditioning": "projection"},
                example_input=_example_xy, expected_shape=lambda m, n: (n,))
class ConditionalConvDiscriminator(nn.Module):
    r"""DCGAN-style conditional discriminator, the label entering by concatenation or by projection.

    Body :math:`\phi`: ``Conv 4/2/1 -> LReLU(0.2) -> Conv 4/2/1 -> LReLU -> sum over positions`` to ``2b`` features.

    * ``"concat"``: the one-hot label is broadcast to ``K`` constant maps and concatenated to the image channels
      (Mirza & Osindero's CGAN in convolutional form); logit :math:`\psi(\phi([x; e(y)]))`.
    * ``"projection"``: :math:`D(x, y) = \psi(\phi(x)) + \langle E_y, \phi(x)\rangle` (:func:`projection_logit`).
    * ``"none"``: :math:`\psi(\phi(x))`, unconditional (for comparisons).

    ``spectral_norm=True`` wraps every layer in ``torch.nn.utils.parametrizations.spectral_norm`` (as Miyato &
    Koyama do). Shapes: ``x`` ``(N, C, s, s)``, ``y`` ``(N,)`` -> ``(N,)``.
    """

    def __init__(self, num_classes: int = 10, image_size: int = 28, channels: int = 1, base: int = 32,
                 conditioning: str = "projection", spectral_norm: bool = False) -> None:
        super().__init__()
        if conditioning not in ("concat", "projection", "none"):
            raise ValueError(f"conditioning must be 'concat', 'projection' or 'none', got {conditioning!r}.")
        self.num_classes, self.conditioning = _int(num_classes, "num_classes"), conditioning
        self.image_size, self.channels = _check_image_size(image_size), _int(channels, "channels")
        self.in_shape = (channels, image_size, image_size)
        sn = nn.utils.parametrizations.spectral_norm if spectral_norm else (lambda m: m)
        c_in = channels + (num_classes if conditioning == "concat" else 0)
        self.conv1 = sn(nn.Conv2d(c_in, base, 4, 2, 1))
        self.conv2 = sn(nn.Conv2d(base, 2 * base, 4, 2, 1))
        self.psi = sn(nn.Linear(2 * base, 1))
        self.embed = sn(nn.Embedding(num_classes, 2 * base)) if conditioning == "projection" else None
        self.n_features = 2 * base

    def features(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        r""":math:`\phi(x)`: ``(N, 2b)`` (sum pooling over positions, as in the projection paper's ResNets)."""
        if self.conditioning == "concat":
            if y is None:
                raise ValueError("a 'concat' discriminator needs the labels y.")
            maps = one_hot(y, self.num_classes, x.dtype)[:, :, None, None].expand(-1, -1, *x.shape[2:])
            x = torch.cat([x, maps], dim=1)  # (N, C + K, s, s)
        h = F.leaky_relu(self.conv1(x), 0.2)
        h = F.leaky_relu(self.conv2(h), 0.2)
        return h.sum(dim=(2, 3))

    def forward(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        x = _float_tensor(x, "x", (4,))
        if tuple(x.shape[1:]) != self.in_shape:
            raise ValueError(f"x must have shape (N, {', '.join(map(str, self.in_shape))}), got {tuple(x.shape)}.")
        if y is not None or self.conditioning != "none":
            if y is None:
                raise ValueError(f"a '{self.conditioning}' discriminator needs the labels y.")
            check_labels(y, self.num_classes, x.shape[0])
        phi = self.features(x, y)
        if self.conditioning == "projection":
            return projection_logit(phi, y, self.psi.weight, self.psi.bias, self.embed.weight)
        return self.psi(phi).squeeze(1)


# ----------------------------------------------------------------------------------------------------------------
# The objective for the one trainer
# ----------------------------------------------------------------------------------------------------------------
def _xy(batch: Any, num_classes: int) -> tuple[Tensor, Tensor]:
    if not isinstance(batch, (tuple, list)) or len(batch) < 2:
        raise TypeError("a conditional objective needs data (x, y): images and int64 labels, given to the trainer "
                        "as a tuple of tensors.")
    x, y = batch[0], batch[1]
    check_labels(y, num_classes, x.shape[0])
    return x, y


class _LabelStream:
    """The fake labels' own random stream (saved in checkpoints, so a resumed run draws the same labels)."""

    def __init__(self, num_classes: int, seed: int) -> None:
        self.num_classes = _int(num_classes, "num_classes")
        self.generator = torch.Generator().manual_seed(seed)

    def draw(self, n: int, device: torch.device) -> Tensor:
        return uniform_labels(n, self.num_classes, self.generator, device)

    def state_dict(self) -> dict[str, Any]:
        return {"label_rng": self.generator.get_state()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.generator.set_state(state["label_rng"])


class ConditionalObjective(_LabelStream, Objective):
    r"""A conditional GAN on the one trainer: data ``(x, y)``; fakes ``G(z, y_f)``, :math:`y_f \sim U\{0..K-1\}`;

    .. math:: L_D = \ell_D(D(x, y), D(G(z, y_f), y_f)), \qquad L_G = \ell_G(D(G(z, y_f), y_f))

    with :math:`(\ell_D, \ell_G)` a registered GAN loss (:func:`course_lib.gan.losses.get_gan_loss`). ``sample``
    uses the labels of ``batch`` when given, else the classes in turn (``0, 1, ..., K-1, 0, ...``).
    """

    def __init__(self, num_classes: int = 10, loss: Any = "non_saturating", seed: int = 0) -> None:
        from course_lib.gan.losses import get_gan_loss

        super().__init__(num_classes, seed)
        self.loss = get_gan_loss(loss)

    def describe(self) -> str:
        return f"ConditionalObjective(K={self.num_classes}, loss={getattr(self.loss, 'name', self.loss)})"

    def d_loss(self, G, D, batch, z):
        x, y = _xy(batch, self.num_classes)
        y_fake = self.draw(x.shape[0], x.device)
        real, fake = D(x, y), D(G(z, y_fake), y_fake)
        return self.loss.d_loss(real, fake), {"d_real": real.mean(), "d_fake": fake.mean()}

    def g_loss(self, G, D, batch, z):
        x, _ = _xy(batch, self.num_classes)
        y_fake = self.draw(x.shape[0], x.device)
        fake = D(G(z, y_fake), y_fake)
        real = D(*_xy(batch, self.num_classes)) if getattr(self.loss, "needs_real_logits", False) else None
        return self.loss.g_loss(fake, real), {}

    def sample(self, G, z, batch=None):
        if z is None:
            raise ValueError("ConditionalObjective.sample needs noise z.")
        if batch is not None:
            y = _xy(batch, self.num_classes)[1][: z.shape[0]]
        else:
            y = torch.arange(z.shape[0], device=z.device) % self.num_classes
        return G(z, y)


# ----------------------------------------------------------------------------------------------------------------
# GAN zoo (Appendix A): fast recipes on the 8x8 digits, shared by the chapter's modules
# ----------------------------------------------------------------------------------------------------------------
CHAPTER = "chapters/07_conditional_gans/theory"


def digits8_with_labels() -> tuple[Tensor, Tensor]:
    """The zoo's ``digits8`` images ``(1797, 1, 8, 8)`` in [-1, 1] with their int64 labels (no message)."""
    from course_lib.data import load_digits_8x8

    return load_digits_8x8(verbose=False)


def zoo_trainer(G: nn.Module, D: nn.Module, data: Any, objective: Objective | None, *, steps: int, seed: int,
                device: Any, z_dim: int, batch_size: int = 64, loss: str = "non_saturating", **config: Any) -> Any:
    """An :class:`~course_lib.train.AdversarialTrainer` (not fitted) with the zoo's conventions: silent, no AMP,
    no intermediate samples, 20 log points."""
    from course_lib.train import AdversarialTrainer, TrainerConfig

    cfg = TrainerConfig(steps=steps, batch_size=batch_size, z_dim=z_dim, seed=seed, log_every=max(1, steps // 20),
                        sample_every=0, n_samples=64, progress=False, amp="off",
                        **({} if objective is not None else {"loss": loss}), **config)
    return AdversarialTrainer(G, D, data, cfg, device=device, objective=objective)


def _cgan_recipe(steps: int, seed: int, device: Any) -> Any:
    torch.manual_seed(seed)
    x, y = digits8_with_labels()
    G = ConditionalDCGANGenerator(z_dim=16, num_classes=10, image_size=8, base=32)
    D = ConditionalConvDiscriminator(num_classes=10, image_size=8, base=32, conditioning="concat")
    return zoo_trainer(G, D, (x, y), ConditionalObjective(10, seed=seed), steps=steps, seed=seed, device=device,
                       z_dim=16)


def _projection_recipe(steps: int, seed: int, device: Any) -> Any:
    torch.manual_seed(seed)
    x, y = digits8_with_labels()
    G = ConditionalDCGANGenerator(z_dim=16, num_classes=10, image_size=8, base=32, concat_label=False)
    D = ConditionalConvDiscriminator(num_classes=10, image_size=8, base=32, conditioning="projection",
                                     spectral_norm=True)
    return zoo_trainer(G, D, (x, y), ConditionalObjective(10, loss="hinge", seed=seed), steps=steps, seed=seed,
                       device=device, z_dim=16, lr_d=4e-4, lr_g=1e-4, betas=(0.0, 0.9))


def _register_zoo() -> None:
    from course_lib.zoo import ZooEntry, register_variant

    name = "course_lib.gan.conditional."
    register_variant(ZooEntry(
        "cgan", "Conditional GAN", "Both networks receive the label, so the generator learns p(x | y) and one can "
        "ask it for a given class.",
        r"\min_G\max_D\; \mathbb E_{x,y}[\log D(x, y)] + \mathbb E_{z,y}[\log(1 - D(G(z, y), y))]",
        ("mirza2014cgan",),
        (name + "CGANGenerator", name + "CGANDiscriminator", name + "ConditionalDCGANGenerator",
         name + "ConditionalConvDiscriminator", name + "ConditionalObjective", name + "conditional_batch_norm"),
        CHAPTER, _cgan_recipe))
    register_variant(ZooEntry(
        "projection_gan", "Projection discriminator (cGAN with projection)", "The label enters the discriminator "
        "as an inner product of a class embedding with the image features, the form of a log-likelihood ratio of "
        "log-linear class posteriors, and the generator through conditional batch norm.",
        r"D(x, y) = \psi(\phi(x)) + \langle E_y, \phi(x)\rangle,\quad \mathrm{CBN}(h, y) = \gamma_y \odot "
        r"\tfrac{h - \mu_B}{\sqrt{\sigma_B^2 + \epsilon}} + \beta_y",
        ("miyato2018cgans",),
        (name + "projection_logit", name + "ConditionalConvDiscriminator", name + "ConditionalBatchNorm2d",
         name + "ConditionalDCGANGenerator"),
        CHAPTER, _projection_recipe))


_register_zoo()
