"""Multi-layer perceptron GANs: the generator and discriminator of the 1-D/2-D toys and of MNIST (chapter 2).

The generator maps a latent code :math:`z \\in \\mathbb{R}^{d_z}` through ``Linear -> [BatchNorm1d] -> LeakyReLU(0.2)``
blocks to a vector reshaped to ``out_shape``; the discriminator flattens its input and maps it through
``Linear -> LeakyReLU(0.2) -> [Dropout]`` blocks to one logit per sample (no sigmoid: the losses in
:mod:`course_lib.gan.losses` take logits). Both are registered with :func:`course_lib.registry.register_model`.

:func:`init_weights_normal` is the DCGAN initialisation (Radford et al. 2016, Section 4: weights from
:math:`\\mathcal{N}(0, 0.02^2)`; batch-norm scales from :math:`\\mathcal{N}(1, 0.02^2)` as in their reference code).
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize

from course_lib.registry import register_model

__all__ = ["MLPGenerator", "MLPDiscriminator", "init_weights_normal"]

_OUT_ACTIVATIONS = {"tanh": nn.Tanh, "sigmoid": nn.Sigmoid}


def _shape_tuple(shape: object, name: str) -> tuple[int, ...]:
    """A non-empty tuple of positive ints from an int or a sequence of ints."""
    if isinstance(shape, int) and not isinstance(shape, bool):
        shape = (shape,)
    if not isinstance(shape, Sequence) or isinstance(shape, str):
        raise TypeError(f"{name} must be a tuple of ints, got {type(shape).__name__}.")
    shape = tuple(shape)
    if len(shape) == 0:
        raise ValueError(f"{name} must not be empty.")
    if not all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in shape):
        raise ValueError(f"{name} must contain positive ints, got {shape}.")
    return shape


def _hidden_tuple(hidden: object) -> tuple[int, ...]:
    """A (possibly empty) tuple of positive layer widths."""
    if not isinstance(hidden, Sequence) or isinstance(hidden, str):
        raise TypeError(f"hidden must be a tuple of ints, got {type(hidden).__name__}.")
    hidden = tuple(hidden)
    if not all(isinstance(h, int) and not isinstance(h, bool) and h > 0 for h in hidden):
        raise ValueError(f"hidden must contain positive ints (layer widths), got {hidden}.")
    return hidden


def _example_z(model: nn.Module, batch_size: int) -> Tensor:
    return model.sample_z(batch_size)


def _example_x(model: nn.Module, batch_size: int) -> Tensor:
    p = next(model.parameters())
    return torch.randn(batch_size, *model.in_shape, device=p.device, dtype=p.dtype)


@register_model(
    "mlp_generator",
    kind="generator",
    example_kwargs={"z_dim": 8, "out_shape": (1, 6, 6), "hidden": (16, 32)},
    example_input=_example_z,
    expected_shape=lambda model, n: (n, *model.out_shape),
)
class MLPGenerator(nn.Module):
    """MLP generator :math:`G: \\mathbb{R}^{d_z} \\to \\mathbb{R}^{\\text{out\\_shape}}`.

    .. math::
        h_0 = z, \\quad h_k = \\operatorname{LeakyReLU}_{0.2}(\\operatorname{BN}(W_k h_{k-1})), \\quad
        G(z) = a(W_{\\text{out}} h_K + b_{\\text{out}})

    with :math:`a` = ``out_activation`` (``tanh`` for images scaled to [-1, 1], ``sigmoid`` for [0, 1], ``None`` for
    the 1-D/2-D toys whose samples are unbounded). Without batch norm, the hidden ``Linear`` layers carry a bias;
    with it they do not (the norm's shift makes it redundant).

    Args:
        z_dim: latent dimension :math:`d_z > 0`.
        out_shape: the shape of one sample, e.g. ``(1, 28, 28)`` for MNIST or ``(2,)`` for a 2-D toy.
        hidden: widths of the hidden layers (may be empty: a linear/affine generator).
        out_activation: ``"tanh"``, ``"sigmoid"`` or ``None``.
        batch_norm: put ``BatchNorm1d`` (eps 1e-5, momentum 0.1, PyTorch's defaults, passed by keyword) after each
            hidden ``Linear``. In training mode it needs batches of at least 2 samples.

    Shapes: ``z`` is ``(N, z_dim)``; the output is ``(N, *out_shape)``.
    """

    def __init__(
        self,
        z_dim: int,
        out_shape: tuple[int, ...],
        hidden: tuple[int, ...] = (256, 512, 1024),
        out_activation: str | None = "tanh",
        batch_norm: bool = True,
    ) -> None:
        super().__init__()
        if not isinstance(z_dim, int) or isinstance(z_dim, bool) or z_dim <= 0:
            raise ValueError(f"z_dim must be a positive int, got {z_dim!r}.")
        if out_activation is not None and out_activation not in _OUT_ACTIVATIONS:
            raise ValueError(
                f"out_activation must be one of {sorted(_OUT_ACTIVATIONS)} or None, got {out_activation!r}."
            )
        if not isinstance(batch_norm, bool):
            raise TypeError(f"batch_norm must be a bool, got {type(batch_norm).__name__}.")
        self.z_dim = z_dim
        self.out_shape = _shape_tuple(out_shape, "out_shape")
        self.hidden = _hidden_tuple(hidden)
        self.out_activation = out_activation
        self.batch_norm = batch_norm

        layers: list[nn.Module] = []
        width = z_dim
        for h in self.hidden:
            layers.append(nn.Linear(width, h, bias=not batch_norm))
            if batch_norm:
                # Keyword arguments: BatchNorm1d(h, 0.8) would silently set eps = 0.8 (PyTorch-GAN issue #116).
                layers.append(nn.BatchNorm1d(h, eps=1e-5, momentum=0.1))
            layers.append(nn.LeakyReLU(0.2))
            width = h
        layers.append(nn.Linear(width, math.prod(self.out_shape)))
        if out_activation is not None:
            layers.append(_OUT_ACTIVATIONS[out_activation]())
        self.net = nn.Sequential(*layers)

    def forward(self, z: Tensor) -> Tensor:
        """``(N, z_dim) -> (N, *out_shape)``."""
        if not isinstance(z, Tensor):
            raise TypeError(f"z must be a torch.Tensor, got {type(z).__name__}.")
        if z.ndim != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"z must have shape (N, z_dim) = (N, {self.z_dim}), got {tuple(z.shape)}.")
        return self.net(z).view(z.shape[0], *self.out_shape)  # (N, prod(out_shape)) -> (N, *out_shape)

    def sample_z(
        self, n: int, generator: torch.Generator | None = None, device: torch.device | str | None = None
    ) -> Tensor:
        """Draw ``n`` latent codes :math:`z \\sim \\mathcal{N}(0, I_{d_z})`, shape ``(n, z_dim)``.

        The dtype is the model's; the device is ``device`` if given, else the model's. A ``generator`` living on
        another device (e.g. a CPU generator for reproducible draws) is used on its own device and the codes are
        then moved.
        """
        if not isinstance(n, int) or isinstance(n, bool) or n < 0:
            raise ValueError(f"n must be a non-negative int, got {n!r}.")
        param = next(self.parameters())
        device = param.device if device is None else torch.device(device)
        draw_device = device if generator is None else generator.device
        z = torch.randn(n, self.z_dim, generator=generator, device=draw_device, dtype=param.dtype)
        return z.to(device)

    def extra_repr(self) -> str:
        return f"z_dim={self.z_dim}, out_shape={self.out_shape}"


@register_model(
    "mlp_discriminator",
    kind="discriminator",
    example_kwargs={"in_shape": (1, 6, 6), "hidden": (16, 8), "dropout": 0.1},
    example_input=_example_x,
    expected_shape=lambda model, n: (n,),
)
class MLPDiscriminator(nn.Module):
    """MLP discriminator returning one logit per sample (no sigmoid).

    .. math::
        h_0 = \\operatorname{flatten}(x), \\quad
        h_k = \\operatorname{Dropout}(\\operatorname{LeakyReLU}_{0.2}(W_k h_{k-1} + b_k)), \\quad
        \\ell(x) = w_{\\text{out}}^\\top h_K + b_{\\text{out}}, \\quad D(x) = \\sigma(\\ell(x))

    Args:
        in_shape: the shape of one sample, e.g. ``(1, 28, 28)`` or ``(2,)``.
        hidden: widths of the hidden layers (may be empty: logistic regression).
        dropout: dropout probability after each hidden activation, in ``[0, 1)``; 0 adds no dropout layer.

    Shapes: ``x`` is ``(N, *in_shape)``; the output is ``(N,)`` logits.
    """

    def __init__(
        self, in_shape: tuple[int, ...], hidden: tuple[int, ...] = (512, 256), dropout: float = 0.0
    ) -> None:
        super().__init__()
        self.in_shape = _shape_tuple(in_shape, "in_shape")
        self.hidden = _hidden_tuple(hidden)
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be a probability in [0, 1), got {dropout!r}.")
        self.dropout = float(dropout)

        layers: list[nn.Module] = [nn.Flatten()]  # (N, *in_shape) -> (N, prod(in_shape))
        width = math.prod(self.in_shape)
        for h in self.hidden:
            layers += [nn.Linear(width, h), nn.LeakyReLU(0.2)]
            if self.dropout > 0:
                layers.append(nn.Dropout(self.dropout))
            width = h
        layers.append(nn.Linear(width, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        """``(N, *in_shape) -> (N,)`` logits."""
        if not isinstance(x, Tensor):
            raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}.")
        if x.ndim != 1 + len(self.in_shape) or tuple(x.shape[1:]) != self.in_shape:
            expected = ", ".join(map(str, self.in_shape))
            raise ValueError(f"x must have shape (N, *in_shape) = (N, {expected}), got {tuple(x.shape)}.")
        return self.net(x).squeeze(1)  # (N, 1) -> (N,)

    def extra_repr(self) -> str:
        return f"in_shape={self.in_shape}"


_NORMS = (nn.modules.batchnorm._BatchNorm, nn.modules.instancenorm._InstanceNorm, nn.GroupNorm)


def _param_for_init(module: nn.Module, name: str) -> Tensor | None:
    """The tensor to initialise for ``module.<name>``: the original one under a parametrization (spectral norm)."""
    if parametrize.is_parametrized(module, name):
        return getattr(module.parametrizations, name).original
    return getattr(module, name, None)


@torch.no_grad()
def init_weights_normal(module: nn.Module, std: float = 0.02) -> nn.Module:
    """DCGAN initialisation, applied to ``module`` and all its submodules; returns ``module``.

    .. math::
        W \\sim \\mathcal{N}(0, \\sigma^2) \\text{ for Linear, Conv*d and ConvTranspose*d}, \\qquad
        \\gamma \\sim \\mathcal{N}(1, \\sigma^2) \\text{ for affine BatchNorm, InstanceNorm and GroupNorm},

    with :math:`\\sigma` = ``std`` (0.02 in Radford et al. 2016) and every bias (and norm shift :math:`\\beta`) set
    to 0. Other modules (LayerNorm, Embedding, ...) keep their initialisation. Under a weight parametrization such
    as spectral norm, the underlying ``original`` weight is initialised. It recurses by itself: call
    ``init_weights_normal(G)`` once (``G.apply(init_weights_normal)`` also works, it just redraws).
    """
    if not isinstance(module, nn.Module):
        raise TypeError(f"module must be a torch.nn.Module, got {type(module).__name__}.")
    if isinstance(std, bool) or not isinstance(std, (int, float)) or not std > 0 or not math.isfinite(std):
        raise ValueError(f"std must be a positive finite float, got {std!r}.")
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.modules.conv._ConvNd)):
            mean = 0.0
        elif isinstance(m, _NORMS):
            mean = 1.0
        else:
            continue
        weight = _param_for_init(m, "weight")
        if weight is not None:
            nn.init.normal_(weight, mean=mean, std=std)
        bias = _param_for_init(m, "bias")
        if bias is not None:
            nn.init.zeros_(bias)
    return module
