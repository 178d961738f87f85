"""DCGAN (Radford, Metz and Chintala, ICLR 2016): the all-convolutional generator and discriminator, the paper's
initialisation, and "semantic masking" by dropping feature maps.

The architecture guidelines of the paper (Section 3), each visible in the code below:

1. no pooling: the discriminator downsamples with **strided convolutions**, the generator upsamples with
   **fractionally-strided (transposed) convolutions** (:mod:`course_lib.gan.conv_arithmetic` shows they are the same
   operation), so each network learns its own resampling;
2. **batch norm** in both networks, except at the generator's output and the discriminator's input (applying it
   there made samples oscillate and training unstable in the paper);
3. **no fully connected hidden layers**: :math:`z` is "projected and reshaped" by a first transposed convolution
   with kernel :math:`4` on a :math:`1 \\times 1` input, and the discriminator ends with a convolution to one logit;
4. **ReLU** in the generator, **Tanh** at its output (images in :math:`[-1, 1]`);
5. **LeakyReLU** (slope 0.2) in the discriminator.

For the 64x64 images of the paper (Figure 1), with ``base`` = 64 and :math:`z \\in \\mathbb{R}^{100}`::

    G: z (100, 1, 1) -> (512, 4, 4) -> (256, 8, 8) -> (128, 16, 16) -> (64, 32, 32) -> (3, 64, 64)
    D: x (3, 64, 64) -> (64, 32, 32) -> (128, 16, 16) -> (256, 8, 8) -> (512, 4, 4) -> logit (1, 1, 1)

the layer list of the reference implementation in ``pytorch/examples`` (all convolutions without bias, kernel 4). The
same recipe gives every ``image_size = 4 * 2**k`` (32: 4 -> 8 -> 16 -> 32) and ``7 * 2**k`` (28 for MNIST: a
7x7 projection, then 14 and 28): one stride-2 stage per doubling. The discriminator outputs a **logit** (no sigmoid):
the losses in :mod:`course_lib.gan.losses` take logits. With ``batch_norm=False`` it is a critic for WGAN-GP, whose
penalty is defined per sample and is wrong under batch norm (Gulrajani et al. 2017, Section 4).

Initialisation (Section 4 of the paper): weights from :math:`\\mathcal{N}(0, 0.02^2)`, batch-norm scales from
:math:`\\mathcal{N}(1, 0.02^2)`, biases 0: :func:`dcgan_init_`, applied by both constructors. Training: Adam with
learning rate 2e-4 and :math:`\\beta_1 = 0.5`, batch 128 (the trainer's config sets these).

Semantic masking (Section 6.3.1, "forgetting to draw certain objects"): zero some feature maps of one generator
layer during the forward pass and the objects those maps encode disappear from the samples.
:func:`drop_feature_maps` does it with a forward hook (no copy of the model); :func:`feature_maps` reads a layer's
output the same way.
"""

from __future__ import annotations

import contextlib
from typing import Iterator, Sequence

import torch
from torch import Tensor, nn

from course_lib.gan.models import MLPGenerator, init_weights_normal
from course_lib.registry import register_model

__all__ = [
    "DCGANGenerator",
    "DCGANDiscriminator",
    "dcgan_init_",
    "image_size_stages",
    "feature_maps",
    "drop_feature_maps",
    "dropped_feature_maps",
]

_MAX_IMAGE_SIZE = 1024


def _positive_int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}.")
    if value <= 0:
        raise ValueError(f"{name} must be positive, got {value}.")
    return value


def image_size_stages(image_size: int) -> tuple[int, int]:
    """Split ``image_size`` into the projection size and the number of stride-2 stages.

    .. math:: \\text{image\\_size} = s_0 \\cdot 2^{k}, \\qquad s_0 \\in \\{4, 7\\},\\ k \\ge 1

    64 -> ``(4, 4)``, 32 -> ``(4, 3)``, 28 -> ``(7, 2)``. The generator projects :math:`z` to
    :math:`s_0 \\times s_0` and doubles :math:`k` times; the discriminator halves :math:`k` times and ends with an
    :math:`s_0 \\times s_0` convolution.

    Raises:
        TypeError: ``image_size`` is not an int.
        ValueError: it is not of that form (e.g. 30 or 48), or above 1024.
    """
    _positive_int(image_size, "image_size")
    if image_size <= _MAX_IMAGE_SIZE:
        for start in (4, 7):
            ratio, rest = divmod(image_size, start)
            if rest == 0 and ratio >= 2 and ratio & (ratio - 1) == 0:  # ratio is a power of two, at least 2
                return start, ratio.bit_length() - 1
    raise ValueError(
        f"image_size must be 4 * 2**k or 7 * 2**k with k >= 1 and at most {_MAX_IMAGE_SIZE} (e.g. 28 for MNIST, "
        f"32, or 64 as in the paper), got {image_size}."
    )


def dcgan_init_(module: nn.Module) -> nn.Module:
    """The DCGAN initialisation, in place; returns ``module``.

    .. math::
        W \\sim \\mathcal{N}(0, 0.02^2) \\ \\text{(convolutions, linear layers)}, \\qquad
        \\gamma \\sim \\mathcal{N}(1, 0.02^2) \\ \\text{(batch norm)}, \\qquad b = \\beta = 0

    (Radford et al. 2016, Section 4; the batch-norm scale as in their reference code). This is
    :func:`course_lib.gan.models.init_weights_normal` with ``std = 0.02``, under the paper's name.
    """
    return init_weights_normal(module, std=0.02)


def _example_z(model: nn.Module, batch_size: int) -> Tensor:
    return model.sample_z(batch_size)


def _example_images(model: nn.Module, batch_size: int) -> Tensor:
    p = next(model.parameters())
    size = model.image_size
    return torch.randn(batch_size, model.channels, size, size, device=p.device, dtype=p.dtype)


@register_model(
    "dcgan_generator",
    kind="generator",
    example_kwargs={"z_dim": 16, "image_size": 32, "channels": 1, "base": 8},
    example_input=_example_z,
    expected_shape=lambda model, n: (n, model.channels, model.image_size, model.image_size),
)
class DCGANGenerator(nn.Module):
    """The DCGAN generator: a stack of transposed convolutions from :math:`z` to an image in :math:`[-1, 1]`.

    .. math::
        h_0 = \\operatorname{ReLU}(\\operatorname{BN}(\\operatorname{ConvT}_{s_0, 1, 0}(z))), \\quad
        h_i = \\operatorname{ReLU}(\\operatorname{BN}(\\operatorname{ConvT}_{4, 2, 1}(h_{i-1}))), \\quad
        G(z) = \\tanh(\\operatorname{ConvT}_{4, 2, 1}(h_{k-1}))

    where :math:`\\operatorname{ConvT}_{k, s, p}` is a transposed convolution with kernel :math:`k`, stride
    :math:`s`, padding :math:`p` (output size :math:`(n - 1)s - 2p + k`: :math:`1 \\to s_0`, then
    :math:`n \\to 2n`). Widths halve at each stage, ending at ``base`` before the output layer:
    ``base * 2**(k-1), ..., base``. No convolution has a bias (batch norm's shift replaces it; the output layer has
    none either, as in the reference implementation).

    Args:
        z_dim: latent dimension (100 in the paper).
        image_size: output height and width, ``4 * 2**k`` or ``7 * 2**k`` (see :func:`image_size_stages`):
            64 as in the paper, 32, or 28 for MNIST.
        channels: image channels (3 for colour, 1 for MNIST).
        base: width of the last hidden stage (``ngf`` in pytorch/examples, 64 there; 128 in the paper's Figure 1,
            whose first stage has 1024 maps).

    Attributes:
        blocks: ``nn.Sequential`` of the stages, ``blocks[0]`` the projection and ``blocks[-1]`` the output layer
            (ConvT + Tanh); each hidden stage is ``Sequential(ConvTranspose2d, BatchNorm2d, ReLU)``. Their names
            (``"blocks.0"``, ...) are what :func:`feature_maps` and :func:`drop_feature_maps` take.

    Shapes: ``z`` is ``(N, z_dim)`` or ``(N, z_dim, 1, 1)``; the output is ``(N, channels, image_size, image_size)``.
    """

    # z ~ N(0, I), as in pytorch/examples (the paper drew z uniformly from [-1, 1]^100); the same draw (and
    # generator/device rules) as the MLP's
    sample_z = MLPGenerator.sample_z

    def __init__(self, z_dim: int = 100, image_size: int = 64, channels: int = 3, base: int = 64) -> None:
        super().__init__()
        self.z_dim = _positive_int(z_dim, "z_dim")
        self.image_size = image_size
        self.channels = _positive_int(channels, "channels")
        self.base = _positive_int(base, "base")
        start, n_up = image_size_stages(image_size)
        widths = [base * 2 ** (n_up - 1 - i) for i in range(n_up)]  # e.g. 64: [8b, 4b, 2b, b]

        def stage(c_in: int, c_out: int, kernel: int, stride: int, padding: int) -> nn.Sequential:
            return nn.Sequential(
                nn.ConvTranspose2d(c_in, c_out, kernel, stride=stride, padding=padding, bias=False),
                nn.BatchNorm2d(c_out),
                nn.ReLU(),
            )

        blocks = [stage(z_dim, widths[0], start, 1, 0)]  # (N, z, 1, 1) -> (N, w0, s0, s0): "project and reshape"
        for c_in, c_out in zip(widths[:-1], widths[1:]):
            blocks.append(stage(c_in, c_out, 4, 2, 1))  # (N, c_in, n, n) -> (N, c_out, 2n, 2n)
        blocks.append(
            nn.Sequential(  # (N, b, n, n) -> (N, channels, 2n, 2n): no batch norm at the output (guideline 2)
                nn.ConvTranspose2d(widths[-1], channels, 4, stride=2, padding=1, bias=False),
                nn.Tanh(),
            )
        )
        self.blocks = nn.Sequential(*blocks)
        dcgan_init_(self)

    def forward(self, z: Tensor) -> Tensor:
        """``(N, z_dim)`` or ``(N, z_dim, 1, 1)`` -> ``(N, channels, image_size, image_size)`` in ``[-1, 1]``."""
        if not isinstance(z, Tensor):
            raise TypeError(f"z must be a torch.Tensor, got {type(z).__name__}.")
        if z.ndim == 4 and z.shape[2:] == (1, 1):
            z = z.flatten(1)  # (N, z_dim, 1, 1) -> (N, z_dim)
        if z.ndim != 2 or z.shape[1] != self.z_dim:
            raise ValueError(
                f"z must have shape (N, z_dim) or (N, z_dim, 1, 1) with z_dim = {self.z_dim}, got {tuple(z.shape)}."
            )
        return self.blocks(z[:, :, None, None])  # (N, z_dim, 1, 1) -> (N, C, H, W)

    def extra_repr(self) -> str:
        return f"z_dim={self.z_dim}, image_size={self.image_size}, channels={self.channels}, base={self.base}"


@register_model(
    "dcgan_discriminator",
    kind="discriminator",
    example_kwargs={"image_size": 28, "channels": 1, "base": 8},
    example_input=_example_images,
    expected_shape=lambda model, n: (n,),
)
class DCGANDiscriminator(nn.Module):
    """The DCGAN discriminator: strided convolutions down to one logit per image (no sigmoid).

    .. math::
        h_1 = \\operatorname{LReLU}_{0.2}(\\operatorname{Conv}_{4,2,1}(x)), \\quad
        h_i = \\operatorname{LReLU}_{0.2}(\\operatorname{BN}(\\operatorname{Conv}_{4,2,1}(h_{i-1}))), \\quad
        \\ell(x) = \\operatorname{Conv}_{s_0, 1, 0}(h_k)

    Each strided convolution halves the size (:math:`\\lfloor (n + 2 - 4)/2 \\rfloor + 1 = n/2`); widths double from
    ``base``; the last convolution covers the whole :math:`s_0 \\times s_0` map. No batch norm on the first layer
    (guideline 2).

    Args:
        image_size: input height and width, as for :class:`DCGANGenerator`.
        channels: image channels.
        base: width of the first stage (``ndf`` in pytorch/examples, 64 there).
        batch_norm: batch norm after every hidden convolution but the first (the paper). ``False`` gives a critic
            for WGAN-GP (no normalisation across the batch, Gulrajani et al. 2017); its convolutions then carry a
            bias, while with batch norm none does (as in the reference implementation).

    Attributes:
        blocks: ``nn.Sequential`` of the stages; ``blocks[-1]`` is the final convolution (the logit).

    Shapes: ``x`` is ``(N, channels, image_size, image_size)``; the output is ``(N,)`` logits.
    """

    def __init__(self, image_size: int = 64, channels: int = 3, base: int = 64, batch_norm: bool = True) -> None:
        super().__init__()
        if not isinstance(batch_norm, bool):
            raise TypeError(f"batch_norm must be a bool, got {type(batch_norm).__name__}.")
        self.image_size = image_size
        self.channels = _positive_int(channels, "channels")
        self.base = _positive_int(base, "base")
        self.batch_norm = batch_norm
        start, n_down = image_size_stages(image_size)
        widths = [base * 2**i for i in range(n_down)]  # e.g. 64: [b, 2b, 4b, 8b]
        bias = not batch_norm

        blocks = [  # (N, channels, n, n) -> (N, b, n/2, n/2): no batch norm on the input layer (guideline 2)
            nn.Sequential(nn.Conv2d(channels, widths[0], 4, stride=2, padding=1, bias=bias), nn.LeakyReLU(0.2))
        ]
        for c_in, c_out in zip(widths[:-1], widths[1:]):
            layers: list[nn.Module] = [nn.Conv2d(c_in, c_out, 4, stride=2, padding=1, bias=bias)]  # n -> n/2
            if batch_norm:
                layers.append(nn.BatchNorm2d(c_out))
            layers.append(nn.LeakyReLU(0.2))
            blocks.append(nn.Sequential(*layers))
        # (N, w_last, s0, s0) -> (N, 1, 1, 1): one logit per image, no sigmoid
        blocks.append(nn.Conv2d(widths[-1], 1, start, stride=1, padding=0, bias=bias))
        self.blocks = nn.Sequential(*blocks)
        dcgan_init_(self)

    def forward(self, x: Tensor) -> Tensor:
        """``(N, channels, image_size, image_size) -> (N,)`` logits."""
        if not isinstance(x, Tensor):
            raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}.")
        expected = (self.channels, self.image_size, self.image_size)
        if x.ndim != 4 or tuple(x.shape[1:]) != expected:
            raise ValueError(f"x must have shape (N, {', '.join(map(str, expected))}), got {tuple(x.shape)}.")
        return self.blocks(x).reshape(x.shape[0])  # (N, 1, 1, 1) -> (N,)

    def extra_repr(self) -> str:
        return (
            f"image_size={self.image_size}, channels={self.channels}, base={self.base}, batch_norm={self.batch_norm}"
        )


# --------------------------------------------------------------------------------------------------------------
# Reading and dropping feature maps with forward hooks
# --------------------------------------------------------------------------------------------------------------
def _resolve_layer(model: nn.Module, layer: str | int | nn.Module) -> nn.Module:
    """The submodule ``layer`` names: a name from ``model.named_modules()``, an index into ``model.blocks``, or a
    submodule itself."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"the model must be a torch.nn.Module, got {type(model).__name__}.")
    if isinstance(layer, nn.Module):
        if not any(m is layer for m in model.modules()):
            raise ValueError(f"layer {type(layer).__name__} is not a submodule of the model.")
        return layer
    if isinstance(layer, int) and not isinstance(layer, bool):
        blocks = getattr(model, "blocks", None)
        if not isinstance(blocks, (nn.Sequential, nn.ModuleList)):
            raise TypeError("an int layer indexes model.blocks, but this model has no `blocks`; pass a name.")
        if not -len(blocks) <= layer < len(blocks):
            raise ValueError(f"layer index {layer} is out of range for model.blocks of length {len(blocks)}.")
        return blocks[layer]
    if isinstance(layer, str):
        modules = dict(model.named_modules())
        if layer not in modules or layer == "":
            top = [name for name, _ in model.named_children()]
            blocks = getattr(model, "blocks", None)
            if isinstance(blocks, (nn.Sequential, nn.ModuleList)):
                top = [f"blocks.{i}" for i in range(len(blocks))]
            raise ValueError(f"no layer named {layer!r} in the model; e.g. {', '.join(top)}.")
        return modules[layer]
    raise TypeError(f"layer must be a module name (str), an index into model.blocks (int) or a module, got {layer!r}.")


def feature_maps(G: nn.Module, z: Tensor, layer: str | int | nn.Module) -> Tensor:
    """The output of one layer of ``G`` on ``z``, read with a forward hook during an ordinary forward pass.

    Args:
        G: any module (typically a :class:`DCGANGenerator`).
        z: its input, e.g. ``Tensor[N, z_dim]``.
        layer: ``"blocks.1"`` (a name from ``G.named_modules()``), ``1`` (an index into ``G.blocks``), or the
            submodule itself.

    Returns:
        the layer's output as the forward pass produced it, e.g. ``Tensor[N, C, H, W]`` (attached to the graph
        unless called under ``torch.no_grad()``). The hook is removed afterwards, also on error.
    """
    module = _resolve_layer(G, layer)
    captured: list[Tensor] = []

    def hook(_module: nn.Module, _inputs: tuple, output: Tensor) -> None:
        captured.append(output)

    handle = module.register_forward_hook(hook)
    try:
        G(z)
    finally:
        handle.remove()
    if not captured:
        raise RuntimeError(f"layer {layer!r} was not called during the forward pass.")
    return captured[-1]


def _channel_index(channels: Sequence[int] | Tensor) -> Tensor:
    """Validate the channels to drop and return them as an int64 index tensor."""
    if isinstance(channels, Tensor):
        if channels.is_floating_point() or channels.is_complex() or channels.dtype == torch.bool:
            raise TypeError(f"channels must hold integer indices, got dtype {channels.dtype}.")
        if channels.ndim > 1:
            raise ValueError(f"channels must be a 1-D list of indices, got shape {tuple(channels.shape)}.")
        idx = channels.reshape(-1).to("cpu", torch.int64)
    else:
        if isinstance(channels, (str, bytes)) or not isinstance(channels, Sequence):
            raise TypeError(f"channels must be a sequence of ints or an integer tensor, got {type(channels).__name__}.")
        if not all(isinstance(c, int) and not isinstance(c, bool) for c in channels):
            raise TypeError(f"channels must contain ints, got {list(channels)!r}.")
        idx = torch.tensor(list(channels), dtype=torch.int64)
    if idx.numel() and int(idx.min()) < 0:
        raise ValueError(f"channels must be non-negative indices, got {int(idx.min())}.")
    return idx


@contextlib.contextmanager
def dropped_feature_maps(
    G: nn.Module, layer: str | int | nn.Module, channels: Sequence[int] | Tensor
) -> Iterator[nn.Module]:
    """Context manager: inside it, every forward pass of ``G`` has ``channels`` of ``layer``'s output set to 0.

    .. code-block:: python

        with dropped_feature_maps(G, "blocks.2", [3, 17]):
            masked = G(z)   # the paper's "forgetting to draw" experiment

    The hook replaces the layer's output :math:`h \\in \\mathbb{R}^{N \\times C \\times H \\times W}` by
    :math:`h \\odot m` with :math:`m_c = 0` for the dropped channels and 1 elsewhere, at every spatial position; the
    layers after it see the masked maps. The model is not copied or modified; the hook is removed on exit.

    Yields:
        ``G`` itself.
    """
    module = _resolve_layer(G, layer)
    idx = _channel_index(channels)

    def hook(_module: nn.Module, _inputs: tuple, output: Tensor) -> Tensor:
        if not isinstance(output, Tensor) or output.ndim < 2:
            raise TypeError(f"layer {layer!r} must output a tensor (N, C, ...) to drop channels from.")
        n_channels = output.shape[1]
        if idx.numel() and int(idx.max()) >= n_channels:
            raise ValueError(f"channel {int(idx.max())} does not exist: layer {layer!r} has {n_channels} channels.")
        return output.index_fill(1, idx.to(output.device), 0.0)  # h[:, c] = 0 for c in channels, out of place

    handle = module.register_forward_hook(hook)
    try:
        yield G
    finally:
        handle.remove()


def drop_feature_maps(
    G: nn.Module, z: Tensor, layer: str | int | nn.Module, channels: Sequence[int] | Tensor
) -> Tensor:
    """``G(z)`` with the feature maps ``channels`` of ``layer`` set to zero (Radford et al. 2016, Section 6.3.1).

    The paper trained a logistic regression on the second-highest layer's features to find the maps that fire on
    windows, dropped them, and regenerated: the windows vanished or became other objects, the rest of the scene
    stayed. See :func:`dropped_feature_maps` for the mechanism.

    Args:
        G: the generator; z: its input ``Tensor[N, z_dim]``.
        layer: as in :func:`feature_maps`.
        channels: indices of the maps to drop, a sequence of ints or an integer tensor (may be empty: then the
            output equals ``G(z)``).

    Returns:
        ``G``'s output with the maps dropped, e.g. ``Tensor[N, C, H, W]``.
    """
    with dropped_feature_maps(G, layer, channels):
        return G(z)
