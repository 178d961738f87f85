r"""BigGAN's parts (Brock et al. 2019): the truncation trick, orthogonal regularization, the shared class embedding,
the hierarchical latent (skip-z) feeding class-conditional batch norm, and BigGAN-deep's bottleneck block.

- **Truncation trick** (Sec. 3.1): at sampling time draw :math:`z \sim \mathcal N(0, I)` and *resample* every entry
  with :math:`|z_k| > t`; the result has the truncated normal density
  :math:`\varphi(z_k)\,\mathbf 1[|z_k| \le t] / (2\Phi(t) - 1)`. Clipping to :math:`[-t, t]` is not the same: it
  puts a point mass of :math:`2\Phi(-t)` on :math:`\pm t`.
- **Orthogonal regularization** (Sec. 3.1, Eq. 3): :math:`R_\beta(W) = \beta\,\lVert W W^\top \odot (\mathbf 1 - I)
  \rVert_F^2` with ``W`` the weight viewed as ``out x rest`` (one row per filter): only the inner products of
  *different* filters are penalised, their norms are left free (the full :math:`\lVert W W^\top - I\rVert_F^2` of
  Brock et al. 2017 also pins every norm to 1, which they found too limiting). The paper's :math:`\beta = 10^{-4}`.
- **Shared embedding and hierarchical latent** (Sec. 3, Appendix B): one class embedding :math:`e_y` shared by all
  blocks; ``z`` split into ``n_blocks + 1`` chunks, the first to the input linear layer, chunk ``k`` concatenated
  with :math:`e_y` into ``c_k = [e_y, z_k]``, from which each block's batch norms take their gains and biases by a
  linear map, :math:`\mathrm{BN}(x \mid c) = (1 + W_\gamma c)\,\hat x + W_\beta c`.
- **BigGAN-deep** (Appendix B): residual blocks with 1x1 bottlenecks that cut the channels 4x and two blocks per
  resolution (FACTS.md); the skip path drops channels instead of a 1x1 convolution.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from course_lib.gan.attention import SelfAttention2d
from course_lib.gan.resnet_blocks import GBlock
from course_lib.gan.sagan import SAGANDiscriminator, _bottom, _int, _widths
from course_lib.registry import register_model
from course_lib.train.objective import Objective

__all__ = ["truncated_noise", "truncated_normal_cdf", "orthogonal_regularization", "model_orthogonal_regularization",
           "LinearConditionalBatchNorm2d", "DeepGBlock", "BigGANGenerator", "BigGANDiscriminator",
           "BigGANObjective", "split_latent"]


# ----------------------------------------------------------------------------------------------------------------------
# The truncation trick
# ----------------------------------------------------------------------------------------------------------------------
def _check_truncation(truncation: object) -> float:
    if isinstance(truncation, bool) or not isinstance(truncation, (int, float)):
        raise TypeError(f"truncation must be a number, got {type(truncation).__name__}.")
    if not math.isfinite(truncation) or truncation <= 0:
        raise ValueError(f"truncation must be finite and > 0, got {truncation}.")
    return float(truncation)


def truncated_noise(n: int, dim: int, truncation: float, generator: torch.Generator | None = None,
                    device: torch.device | str | None = None, dtype: torch.dtype = torch.float32) -> Tensor:
    r"""``(n, dim)`` samples of :math:`\mathcal N(0, 1)` truncated to :math:`[-t, t]` by *resampling* the entries
    that fall outside (BigGAN's truncation trick), drawn from ``generator`` (on its device unless ``device``).

    Density per entry: :math:`\varphi(z)\,\mathbf 1[|z|\le t]/(2\Phi(t) - 1)`. Each round redraws only the
    offending entries, so it ends after about :math:`\log(n\,dim)/\log(1/(2\Phi(-t)))` rounds.
    """
    for value, name in ((n, "n"), (dim, "dim")):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{name} must be an int, got {type(value).__name__}.")
        if value < 0:
            raise ValueError(f"{name} must be >= 0, got {value}.")
    t = _check_truncation(truncation)
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator or None, got {type(generator).__name__}.")
    if device is None:
        device = generator.device if generator is not None else torch.device("cpu")
    z = torch.randn(n, dim, generator=generator, device=device, dtype=dtype)
    outside = z.abs() > t
    while bool(outside.any()):
        redraw = torch.randn(int(outside.sum()), generator=generator, device=device, dtype=dtype)
        z[outside] = redraw
        outside = z.abs() > t
    return z


def truncated_normal_cdf(x: Tensor, truncation: float) -> Tensor:
    r"""The CDF of :math:`\mathcal N(0, 1)` truncated to :math:`[-t, t]`:
    :math:`(\Phi(x) - \Phi(-t)) / (\Phi(t) - \Phi(-t))`, clamped to [0, 1] (float64)."""
    t = _check_truncation(truncation)
    x = torch.as_tensor(x, dtype=torch.float64)
    lo, hi = torch.special.ndtr(torch.tensor(-t, dtype=torch.float64)), torch.special.ndtr(
        torch.tensor(t, dtype=torch.float64))
    return ((torch.special.ndtr(x) - lo) / (hi - lo)).clamp(0.0, 1.0)


# ----------------------------------------------------------------------------------------------------------------------
# Orthogonal regularization
# ----------------------------------------------------------------------------------------------------------------------
def orthogonal_regularization(weight: Tensor, beta: float = 1e-4) -> Tensor:
    r"""BigGAN's orthogonal regularization of one weight, a scalar tensor (differentiable):
    :math:`\beta\,\lVert W W^\top \odot (\mathbf 1 - I)\rVert_F^2`, ``W = weight.reshape(out, -1)``.

    Only the off-diagonal entries count (inner products of different filters); the filters' norms are free.
    """
    if not isinstance(weight, Tensor):
        raise TypeError(f"weight must be a Tensor, got {type(weight).__name__}.")
    if weight.dim() < 2 or not weight.is_floating_point():
        raise ValueError(f"weight must be a floating tensor with at least 2 dimensions (out, ...), got "
                         f"{weight.dtype} of shape {tuple(weight.shape)}.")
    if isinstance(beta, bool) or not isinstance(beta, (int, float)) or not math.isfinite(beta) or beta < 0:
        raise ValueError(f"beta must be a finite number >= 0, got {beta!r}.")
    w = weight.reshape(weight.shape[0], -1)  # (out, rest)
    gram = w @ w.T  # (out, out): <w_a, w_b>
    off = gram * (1 - torch.eye(w.shape[0], dtype=w.dtype, device=w.device))
    return beta * off.square().sum()


def model_orthogonal_regularization(module: nn.Module, beta: float = 1e-4) -> Tensor:
    """The sum of :func:`orthogonal_regularization` over the weights of every ``Linear`` and ``Conv2d`` layer of
    ``module`` (the spectrally normalised weight where spectral norm is on); embeddings and norms are left out."""
    if not isinstance(module, nn.Module):
        raise TypeError(f"module must be an nn.Module, got {type(module).__name__}.")
    terms = [orthogonal_regularization(m.weight, beta) for m in module.modules() if isinstance(m, (nn.Linear,
                                                                                                    nn.Conv2d))]
    if not terms:
        raise ValueError("module has no Linear or Conv2d layer to regularise.")
    return torch.stack(terms).sum()


# ----------------------------------------------------------------------------------------------------------------------
# Conditional batch norm from a vector, hierarchical latent
# ----------------------------------------------------------------------------------------------------------------------
class LinearConditionalBatchNorm2d(nn.Module):
    r"""Batch norm whose gain and bias are linear maps of a conditioning vector ``c`` (BigGAN: ``c = [e_y, z_k]``):
    :math:`y = (1 + W_\gamma c)\,\frac{x - \mu_B}{\sqrt{\sigma_B^2 + \epsilon}} + W_\beta c`. The maps start at zero,
    so the layer starts as plain batch norm with gain 1 and bias 0. ``x (N, C, H, W)``, ``c (N, cond_dim)``."""

    def __init__(self, channels: int, cond_dim: int, eps: float = 1e-5, momentum: float = 0.1) -> None:
        super().__init__()
        self.channels, self.cond_dim = _int(channels, "channels"), _int(cond_dim, "cond_dim")
        self.bn = nn.BatchNorm2d(channels, eps=eps, momentum=momentum, affine=False)
        self.gain = nn.Linear(cond_dim, channels, bias=False)
        self.bias = nn.Linear(cond_dim, channels, bias=False)
        nn.init.zeros_(self.gain.weight)
        nn.init.zeros_(self.bias.weight)

    def forward(self, x: Tensor, c: Tensor) -> Tensor:
        if not isinstance(c, Tensor) or c.shape != (x.shape[0], self.cond_dim):
            raise ValueError(f"c must be a Tensor of shape ({x.shape[0]}, {self.cond_dim}), got "
                             f"{tuple(c.shape) if isinstance(c, Tensor) else type(c).__name__}.")
        gamma = 1 + self.gain(c)
        return gamma[:, :, None, None] * self.bn(x) + self.bias(c)[:, :, None, None]


def split_latent(z: Tensor, n_chunks: int) -> list[Tensor]:
    """BigGAN's hierarchical latent: ``z (N, D)`` split into ``n_chunks`` equal chunks along dim 1 (``D`` must be a
    multiple of ``n_chunks``)."""
    if not isinstance(z, Tensor) or z.dim() != 2:
        raise ValueError("z must be a Tensor of shape (N, D).")
    if z.shape[1] % n_chunks:
        raise ValueError(f"z's {z.shape[1]} dimensions do not split into {n_chunks} equal chunks.")
    return list(torch.chunk(z, n_chunks, dim=1))


class DeepGBlock(nn.Module):
    r"""BigGAN-deep's residual block with bottlenecks, ``(N, C_in, H, W) -> (N, C_out, 2H, 2W)``
    (``upsample=False``: same size): ``BN-ReLU-conv1x1 (C_in -> C_in/4) - BN-ReLU-up-conv3x3 - BN-ReLU-conv3x3 -
    BN-ReLU-conv1x1 (-> C_out)``; the skip path keeps the first ``C_out`` channels (``C_out <= C_in``) and
    upsamples. Every BN is a :class:`LinearConditionalBatchNorm2d` on ``c``."""

    def __init__(self, in_channels: int, out_channels: int, cond_dim: int, upsample: bool = True,
                 bottleneck_ratio: int = 4) -> None:
        super().__init__()
        self.in_channels, self.out_channels = _int(in_channels, "in_channels"), _int(out_channels, "out_channels")
        if out_channels > in_channels:
            raise ValueError(f"BigGAN-deep's skip drops channels: out_channels ({out_channels}) must be <= "
                             f"in_channels ({in_channels}).")
        mid = max(1, in_channels // _int(bottleneck_ratio, "bottleneck_ratio"))
        self.mid = mid
        self.norms = nn.ModuleList(LinearConditionalBatchNorm2d(c, cond_dim) for c in (in_channels, mid, mid, mid))
        self.conv1 = nn.Conv2d(in_channels, mid, 1)
        self.conv2 = nn.Conv2d(mid, mid, 3, padding=1)
        self.conv3 = nn.Conv2d(mid, mid, 3, padding=1)
        self.conv4 = nn.Conv2d(mid, out_channels, 1)
        self.upsample = bool(upsample)

    def forward(self, x: Tensor, c: Tensor) -> Tensor:
        if not isinstance(x, Tensor) or x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"x must have shape (N, {self.in_channels}, H, W).")
        h = self.conv1(F.relu(self.norms[0](x, c)))
        h = F.relu(self.norms[1](h, c))
        skip = x[:, : self.out_channels]
        if self.upsample:
            h, skip = F.interpolate(h, scale_factor=2, mode="nearest"), F.interpolate(skip, scale_factor=2,
                                                                                      mode="nearest")
        h = self.conv2(h)
        h = self.conv3(F.relu(self.norms[2](h, c)))
        h = self.conv4(F.relu(self.norms[3](h, c)))
        return h + skip


# ----------------------------------------------------------------------------------------------------------------------
# The networks
# ----------------------------------------------------------------------------------------------------------------------
def _example_z(model: nn.Module, batch_size: int) -> Tensor:
    return torch.randn(batch_size, model.z_dim)


def _example_images(model: nn.Module, batch_size: int) -> Tensor:
    return torch.randn(batch_size, model.channels, model.resolution, model.resolution)


@register_model(
    "biggan_generator",
    kind="generator",
    example_kwargs={"z_dim": 15, "n_classes": 10, "channels": 1, "resolution": 8, "widths": 16, "n_blocks": 2,
                    "embed_dim": 8},
    example_input=_example_z,
    expected_shape=lambda model, n: (n, model.channels, model.resolution, model.resolution),
)
class BigGANGenerator(nn.Module):
    r"""A small BigGAN generator: shared class embedding ``e_y`` (``embed_dim``), hierarchical latent (``z`` in
    ``n_blocks + 1`` chunks), :class:`~course_lib.gan.resnet_blocks.GBlock` with
    :class:`LinearConditionalBatchNorm2d` on ``[e_y, z_k]``, self-attention after block ``attention_after``,
    ``BN-ReLU-conv3x3-tanh``, spectral norm on the convolutions and linear layers (Brock et al. 2019, Appendix B).
    ``deep=True`` uses :class:`DeepGBlock` (two per resolution: one at the same size, one upsampling).

    ``forward(z, y)``: ``z (N, z_dim)``, ``y`` int64 ``(N,)``; ``y=None`` gives a zero embedding (no class).
    """

    def __init__(self, z_dim: int = 60, n_classes: int = 10, channels: int = 1, resolution: int = 28,
                 widths: Sequence[int] | int = 32, n_blocks: int = 2, embed_dim: int = 16,
                 attention_after: int | None = 0, deep: bool = False, spectral_norm: bool = True) -> None:
        super().__init__()
        self.z_dim, self.n_classes = _int(z_dim, "z_dim"), _int(n_classes, "n_classes")
        self.channels, self.resolution = _int(channels, "channels"), resolution
        self.bottom = _bottom(resolution, n_blocks)
        self.n_chunks = n_blocks + 1
        if z_dim % self.n_chunks:
            raise ValueError(f"z_dim ({z_dim}) must be a multiple of n_blocks + 1 = {self.n_chunks} (one chunk for "
                             f"the input layer, one per block).")
        chunk = z_dim // self.n_chunks
        w = _widths(widths, n_blocks + 1)
        if attention_after is not None and not 0 <= attention_after < n_blocks:
            raise ValueError(f"attention_after must be in [0, {n_blocks}) or None, got {attention_after}.")
        self.widths, self.attention_after, self.deep = w, attention_after, bool(deep)
        self.embed_dim = _int(embed_dim, "embed_dim")
        self.shared = nn.Embedding(n_classes, embed_dim)
        cond = embed_dim + chunk
        self.linear = nn.Linear(chunk, w[0] * self.bottom ** 2)
        if deep:
            self.blocks = nn.ModuleList(nn.ModuleList([DeepGBlock(w[k], w[k], cond, upsample=False),
                                                       DeepGBlock(w[k], w[k + 1], cond, upsample=True)])
                                        for k in range(n_blocks))
        else:
            self.blocks = nn.ModuleList(
                GBlock(w[k], w[k + 1], norm=lambda c, d=cond: LinearConditionalBatchNorm2d(c, d))
                for k in range(n_blocks))
        self.attention = SelfAttention2d(w[attention_after + 1]) if attention_after is not None else None
        self.out_norm = nn.BatchNorm2d(w[-1])
        self.out_conv = nn.Conv2d(w[-1], channels, 3, padding=1)
        if spectral_norm:  # not on the BN gain/bias maps: they start at zero (and sigma(0) = 0)
            cbn = {id(m) for n in self.modules() if isinstance(n, LinearConditionalBatchNorm2d)
                   for m in (n.gain, n.bias)}
            for m in [m for m in self.modules() if isinstance(m, (nn.Linear, nn.Conv2d)) and id(m) not in cbn]:
                nn.utils.parametrizations.spectral_norm(m)

    def forward(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        """``(N, z_dim), (N,) -> (N, channels, resolution, resolution)`` in [-1, 1]."""
        if not isinstance(z, Tensor) or z.dim() != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"z must be a Tensor of shape (N, {self.z_dim}).")
        if y is None:
            e = z.new_zeros(z.shape[0], self.embed_dim)
        else:
            if not isinstance(y, Tensor) or y.dtype != torch.int64 or y.shape != (z.shape[0],):
                raise ValueError(f"y must be an int64 Tensor of shape ({z.shape[0]},).")
            if bool(((y < 0) | (y >= self.n_classes)).any()):
                raise ValueError(f"labels must lie in [0, {self.n_classes}).")
            e = self.shared(y)
        chunks = split_latent(z, self.n_chunks)
        h = self.linear(chunks[0]).view(z.shape[0], self.widths[0], self.bottom, self.bottom)
        for k, block in enumerate(self.blocks):
            c = torch.cat([e, chunks[k + 1]], dim=1)  # [e_y, z_k]
            if self.deep:
                h = block[1](block[0](h, c), c)
            else:
                h = block(h, c)
            if k == self.attention_after:
                h = self.attention(h)
        return torch.tanh(self.out_conv(F.relu(self.out_norm(h))))

    def sample_z(self, n: int, generator: torch.Generator | None = None, device: Any = None) -> Tensor:
        device = next(self.parameters()).device if device is None else device
        return torch.randn(n, self.z_dim, generator=generator, device=device)


@register_model(
    "biggan_discriminator",
    kind="discriminator",
    example_kwargs={"channels": 1, "resolution": 8, "widths": 16, "n_blocks": 2, "n_classes": 10},
    example_input=_example_images,
    expected_shape=lambda model, n: (n,),
)
class BigGANDiscriminator(SAGANDiscriminator):
    """BigGAN's discriminator: the ResNet discriminator of :class:`~course_lib.gan.sagan.SAGANDiscriminator` with a
    projection class term (``n_classes`` > 0), spectral norm and self-attention."""

    def __init__(self, channels: int = 1, resolution: int = 28, widths: Sequence[int] | int = 32, n_blocks: int = 2,
                 attention_after: int | None = 0, n_classes: int = 10, spectral_norm: bool = True) -> None:
        super().__init__(channels, resolution, widths, n_blocks, attention_after, _int(n_classes, "n_classes"),
                         spectral_norm)


# ----------------------------------------------------------------------------------------------------------------------
# Training: a class-conditional objective on (x, y) data
# ----------------------------------------------------------------------------------------------------------------------
class BigGANObjective(Objective):
    r"""The class-conditional hinge objective of SAGAN/BigGAN for the one trainer, on data ``(x, y)`` (int64 labels):
    :math:`L_D = \mathbb E\max(0, 1 - D(x, y)) + \mathbb E\max(0, 1 + D(G(z, y), y))`,
    :math:`L_G = -\mathbb E D(G(z, y), y) + \sum_W R_\beta(W)` over G's weights (``ortho_beta = 0``: off).
    Fakes take the labels of the real minibatch; :meth:`sample` without a batch shows the classes in turn."""

    def __init__(self, ortho_beta: float = 0.0, n_classes: int = 10) -> None:
        if isinstance(ortho_beta, bool) or not isinstance(ortho_beta, (int, float)) or ortho_beta < 0:
            raise ValueError(f"ortho_beta must be a number >= 0, got {ortho_beta!r}.")
        self.ortho_beta, self.n_classes = float(ortho_beta), _int(n_classes, "n_classes")

    @staticmethod
    def _unpack(batch: Any) -> tuple[Tensor, Tensor]:
        if not isinstance(batch, (tuple, list)) or len(batch) != 2:
            raise TypeError("BigGANObjective needs (x, y) minibatches: give the trainer data=(images, labels).")
        return batch[0], batch[1]

    def d_loss(self, G: nn.Module, D: nn.Module, batch: Any, z: Tensor) -> tuple[Tensor, dict[str, float]]:
        x, y = self._unpack(batch)
        real_logits, fake_logits = D(x, y), D(G(z, y), y)
        loss = F.relu(1 - real_logits).mean() + F.relu(1 + fake_logits).mean()
        return loss, {"d_real": real_logits.mean().item(), "d_fake": fake_logits.mean().item()}

    def g_loss(self, G: nn.Module, D: nn.Module, batch: Any, z: Tensor) -> tuple[Tensor, dict[str, float]]:
        x, y = self._unpack(batch)
        loss = -D(G(z, y), y).mean()
        logs = {"g_adv": loss.item()}
        if self.ortho_beta > 0:
            ortho = model_orthogonal_regularization(G, self.ortho_beta)
            logs["ortho"] = ortho.item()
            loss = loss + ortho
        return loss, logs

    def sample(self, G: nn.Module, z: Tensor | None, batch: Any = None) -> Tensor:
        if z is None:
            raise ValueError("BigGANObjective.sample needs z.")
        y = self._unpack(batch)[1][: z.shape[0]] if batch is not None else \
            torch.arange(z.shape[0], device=z.device) % self.n_classes
        return G(z, y)

    def describe(self) -> str:
        return f"BigGANObjective(hinge, ortho_beta={self.ortho_beta:g})"


# ----------------------------------------------------------------------------------------------------------------------
# Appendix A
# ----------------------------------------------------------------------------------------------------------------------
def zoo_recipe(steps: int, seed: int, device: Any) -> Any:
    """The fast recipe of the Appendix A card: the one trainer on the 8x8 digits (CPU, a few seconds)."""
    from course_lib.data.digits import load_digits_8x8
    from course_lib.train import AdversarialTrainer, TrainerConfig

    x, y = load_digits_8x8(verbose=False)
    # the zoo's budget (~3 s for the default 200 steps): one block 8 wide, no attention (SAGAN's entry has it)
    G = BigGANGenerator(z_dim=10, n_classes=10, channels=1, resolution=8, widths=8, n_blocks=1, embed_dim=6,
                        attention_after=None)
    D = BigGANDiscriminator(channels=1, resolution=8, widths=8, n_blocks=1, n_classes=10, attention_after=None)
    config = TrainerConfig(steps=steps, batch_size=32, z_dim=10, lr_g=1e-4, lr_d=4e-4, betas=(0.0, 0.9), seed=seed,
                           log_every=max(1, steps // 20), sample_every=0, progress=False, amp="off")
    return AdversarialTrainer(G, D, (x, y), config, objective=BigGANObjective(1e-4), device=device)


def _register_zoo() -> None:
    from course_lib.zoo import ZooEntry, register_variant

    register_variant(ZooEntry(
        "biggan", "BigGAN",
        "Large batches, wide networks, a shared class embedding with a hierarchical latent feeding conditional "
        "batch norm, orthogonal regularization and the truncation trick scale GANs to ImageNet.",
        r"R_\beta(W) = \beta\,\lVert W W^\top \odot (\mathbf 1 - I)\rVert_F^2,\quad z \sim "
        r"\mathcal N(0, I)\ \text{resampled outside } [-t, t]",
        ("brock2019biggan",),
        ("course_lib.gan.biggan.BigGANGenerator", "course_lib.gan.biggan.BigGANDiscriminator",
         "course_lib.gan.biggan.truncated_noise", "course_lib.gan.biggan.orthogonal_regularization",
         "course_lib.gan.biggan.LinearConditionalBatchNorm2d", "course_lib.gan.biggan.DeepGBlock",
         "course_lib.gan.biggan.BigGANObjective"),
        "chapters/08_attention_and_scale/theory",
        zoo_recipe,
    ))


_register_zoo()
