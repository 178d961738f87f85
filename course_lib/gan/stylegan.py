r"""StyleGAN (Karras, Laine and Aila, CVPR 2019) and StyleGAN2's weight demodulation (Karras et al., CVPR 2020).

The style-based generator replaces the input layer of a GAN by a **learned constant** and feeds the latent code in
at every layer instead:

- a **mapping network** :math:`f: \mathcal Z \to \mathcal W` (8 equalized fully connected layers with a learning
  rate multiplier of 0.01, :class:`MappingNetwork`) turns :math:`z` into an intermediate latent :math:`w`;
- per layer, a learned affine map :math:`A` turns :math:`w` into a style :math:`(y_s, y_b)` and **AdaIN**
  (:func:`adain`, Huang and Belongie 2017) replaces each feature map's mean and standard deviation by them;
- per layer, **noise** (one Gaussian image, scaled per channel by learned factors, :class:`NoiseInjection`) adds the
  stochastic detail (hair, freckles) that the styles need not encode;
- **style mixing**: the layers before a crossover point take their styles from :math:`w_1`, the others from
  :math:`w_2` (:func:`style_mix`), during training (mixing regularisation, probability 0.9) and to show what each
  scale controls (coarse 4^2-8^2: pose and face shape; middle 16^2-32^2: features; fine 64^2-1024^2: colours);
- **truncation in** :math:`\mathcal W` (:func:`truncate`): :math:`w' = \bar w + \psi (w - \bar w)`, with
  :math:`\bar w` tracked during training as an exponential moving average with :math:`\beta = 0.998`.

StyleGAN2 folds AdaIN into the convolution weights, :func:`modulated_conv2d`: scale the input channels of the
weights by the style, :math:`w'_{ijk} = s_i w_{ijk}`, and **demodulate**, :math:`w''_{ijk} = w'_{ijk} / \sqrt{\sum_{i,k}
{w'_{ijk}}^2 + \epsilon}`, which restores unit expected output variance from the weights' statistics instead of the
feature maps' actual statistics. AdaIN normalises each feature map by its own mean and variance, which lets the
generator sneak information past it in a strong local spike (the "droplet" artifacts); demodulation never looks at
the feature maps, so there is nothing to sneak past. :class:`StyleGANGenerator` (AdaIN) and
:class:`StyleGAN2Generator` (modulation, demodulation, skip connections to the output) share everything else.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from course_lib.gan.progan import EqualizedConv2d, EqualizedLinear, ProGANDiscriminator, pixel_norm
from course_lib.gan.models import MLPGenerator
from course_lib.registry import register_model

__all__ = [
    "adain",
    "truncate",
    "modulated_conv2d",
    "style_mix",
    "MappingNetwork",
    "NoiseInjection",
    "StyleGANGenerator",
    "StyleGAN2Generator",
    "W_AVG_BETA",
    "MIXING_PROB",
]

W_AVG_BETA = 0.998  # the decay of the running average of w (StyleGAN's training code)
MIXING_PROB = 0.9  # mixing regularisation: the share of training batches with two latents (Section 3.1)
_NOISE_MODES = ("random", "const", "none")


def _float_tensor(x: object, name: str) -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}.")
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {x.dtype}.")
    return x


def _finite(x: Tensor, name: str) -> None:
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name} contains NaN or inf.")


def _number(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise TypeError(f"{name} must be a finite number, got {value!r}.")
    return float(value)


# ----------------------------------------------------------------------------------------------------------------
# The operators
# ----------------------------------------------------------------------------------------------------------------
def adain(x: Tensor, scale: Tensor, bias: Tensor, eps: float = 1e-8) -> Tensor:
    r"""Adaptive instance normalisation (Huang and Belongie 2017; StyleGAN's Eq. 1):

    .. math:: \mathrm{AdaIN}(x_{n,c}, y) = y_{s,n,c}\, \frac{x_{n,c} - \mu(x_{n,c})}{\sigma(x_{n,c})} + y_{b,n,c},
        \qquad \sigma(x_{n,c}) = \sqrt{\tfrac{1}{HW}\textstyle\sum_{h,w} (x_{n,c,h,w} - \mu(x_{n,c}))^2 + \epsilon}

    Each feature map (one sample, one channel) is normalised over its own positions with the *population* variance,
    then given the style's standard deviation ``scale`` and mean ``bias``. A constant feature map becomes ``bias``.

    Args:
        x: ``Tensor[N, C, H, W]``.
        scale, bias: ``Tensor[N, C]`` (one style per sample and channel).
        eps: :math:`\epsilon` under the root (:math:`10^{-8}` in StyleGAN's code).

    Returns:
        ``Tensor[N, C, H, W]``.
    """
    x = _float_tensor(x, "x")
    if x.dim() != 4:
        raise ValueError(f"x must have shape (N, C, H, W), got {tuple(x.shape)}.")
    for name, t in (("scale", scale), ("bias", bias)):
        _float_tensor(t, name)
        if tuple(t.shape) != tuple(x.shape[:2]):
            raise ValueError(f"{name} must have shape (N, C) = {tuple(x.shape[:2])}, got {tuple(t.shape)}.")
    centred = x - x.mean(dim=(2, 3), keepdim=True)  # (N, C, H, W)
    normed = centred * torch.rsqrt(centred.square().mean(dim=(2, 3), keepdim=True) + eps)
    return scale[:, :, None, None] * normed + bias[:, :, None, None]


def truncate(w: Tensor, w_avg: Tensor, psi: float | Tensor) -> Tensor:
    r"""The truncation trick in :math:`\mathcal W` (StyleGAN, Section 3.1 / Appendix B):
    :math:`w' = \bar w + \psi\,(w - \bar w)`.

    :math:`\psi = 1` leaves :math:`w`, :math:`\psi = 0` gives the mean :math:`\bar w` (the "average face"),
    :math:`\psi < 0` the "anti-face".

    Args:
        w: ``Tensor[..., D]``, e.g. ``(N, D)`` or ``(N, L, D)`` per-layer latents.
        w_avg: ``Tensor[D]`` (broadcast against ``w``).
        psi: a number, or a tensor broadcastable to ``w`` (per-layer :math:`\psi`).
    """
    w = _float_tensor(w, "w")
    w_avg = _float_tensor(w_avg, "w_avg")
    if w_avg.shape[-1] != w.shape[-1]:
        raise ValueError(f"w_avg's last dimension ({w_avg.shape[-1]}) must match w's ({w.shape[-1]}).")
    if not isinstance(psi, Tensor):
        psi = _number(psi, "psi")
    return w_avg + psi * (w - w_avg)


def modulated_conv2d(x: Tensor, weight: Tensor, styles: Tensor, demodulate: bool = True, padding: int = 0) -> Tensor:
    r"""StyleGAN2's modulated convolution with weight demodulation (Karras et al. 2020, Eqs. 1-3), one grouped
    convolution for the whole batch (no loop over samples).

    .. math::
        w'_{n,j,i,k} = s_{n,i}\, w_{j,i,k}, \qquad
        w''_{n,j,i,k} = \frac{w'_{n,j,i,k}}{\sqrt{\sum_{i,k} {w'_{n,j,i,k}}^2 + 10^{-8}}}, \qquad
        y_n = w''_n * x_n

    with :math:`i` the input channel, :math:`j` the output channel and :math:`k` the kernel position: the style
    scales the *input* channels, demodulation normalises each *output* channel of each sample's kernel.

    Args:
        x: ``Tensor[N, C_in, H, W]``.
        weight: ``Tensor[C_out, C_in, k, k]`` (shared by the batch).
        styles: ``Tensor[N, C_in]``.
        demodulate: apply the demodulation (``False``: modulation only, as in the toRGB layers).
        padding: zero padding of the convolution.

    Returns:
        ``Tensor[N, C_out, H', W']``.
    """
    x, weight, styles = _float_tensor(x, "x"), _float_tensor(weight, "weight"), _float_tensor(styles, "styles")
    if x.dim() != 4 or weight.dim() != 4:
        raise ValueError(f"x must be (N, C_in, H, W) and weight (C_out, C_in, k, k), got {tuple(x.shape)} and "
                         f"{tuple(weight.shape)}.")
    n, c_in, h, w = x.shape
    c_out = weight.shape[0]
    if weight.shape[1] != c_in:
        raise ValueError(f"weight has {weight.shape[1]} input channels, x has {c_in}.")
    if tuple(styles.shape) != (n, c_in):
        raise ValueError(f"styles must have shape (N, C_in) = ({n}, {c_in}), got {tuple(styles.shape)}.")
    if not isinstance(demodulate, bool):
        raise TypeError(f"demodulate must be a bool, got {type(demodulate).__name__}.")
    if isinstance(padding, bool) or not isinstance(padding, int) or padding < 0:
        raise ValueError(f"padding must be an int >= 0, got {padding!r}.")
    wgt = weight.unsqueeze(0) * styles[:, None, :, None, None]  # (N, C_out, C_in, k, k): w' = s_i w
    if demodulate:
        d = torch.rsqrt(wgt.square().sum(dim=(2, 3, 4)) + 1e-8)  # (N, C_out)
        wgt = wgt * d[:, :, None, None, None]  # w'' = w' / sqrt(sum w'^2 + eps)
    out = F.conv2d(x.reshape(1, n * c_in, h, w), wgt.reshape(n * c_out, c_in, *weight.shape[2:]),
                   padding=padding, groups=n)  # (1, N C_out, H', W'): sample n sees only its own kernel
    return out.reshape(n, c_out, *out.shape[2:])


def style_mix(w1: Tensor, w2: Tensor, crossover: int) -> Tensor:
    r"""Per-layer latents ``(N, L, D)``: layers ``< crossover`` from ``w1``, the others from ``w2`` (StyleGAN,
    Section 3.1). ``w1``/``w2`` may be ``(N, D)`` (broadcast to every layer) or ``(N, L, D)``; ``L`` is taken from
    whichever is 3-D (both 2-D: give ``(N, L, D)`` inputs)."""
    w1, w2 = _float_tensor(w1, "w1"), _float_tensor(w2, "w2")
    layers = next((t.shape[1] for t in (w1, w2) if t.dim() == 3), None)
    if layers is None:
        raise ValueError("at least one of w1, w2 must be per-layer latents (N, L, D).")
    w1 = w1.unsqueeze(1).expand(-1, layers, -1) if w1.dim() == 2 else w1
    w2 = w2.unsqueeze(1).expand(-1, layers, -1) if w2.dim() == 2 else w2
    if w1.shape != w2.shape:
        raise ValueError(f"w1 and w2 must have matching shapes, got {tuple(w1.shape)} and {tuple(w2.shape)}.")
    if isinstance(crossover, bool) or not isinstance(crossover, int) or not 0 <= crossover <= layers:
        raise ValueError(f"crossover must be an int in [0, {layers}], got {crossover!r}.")
    use_first = (torch.arange(layers, device=w1.device) < crossover).view(1, layers, 1)  # (1, L, 1)
    return torch.where(use_first, w1, w2)


# ----------------------------------------------------------------------------------------------------------------
# The building blocks
# ----------------------------------------------------------------------------------------------------------------
class MappingNetwork(nn.Module):
    r"""The mapping network :math:`f: z \mapsto w`: pixel norm of :math:`z`, then ``n_layers`` equalized fully
    connected layers with leaky ReLU (slope 0.2) and the learning rate multiplier ``lr_mul`` (StyleGAN: 8 layers of
    512, :math:`\mu = 0.01`, Appendix C)."""

    def __init__(self, z_dim: int = 64, w_dim: int = 64, n_layers: int = 8, lr_mul: float = 0.01,
                 hidden: int | None = None) -> None:
        super().__init__()
        if isinstance(n_layers, bool) or not isinstance(n_layers, int) or n_layers < 1:
            raise ValueError(f"n_layers must be a positive int, got {n_layers!r}.")
        hidden = w_dim if hidden is None else hidden
        sizes = [z_dim] + [hidden] * (n_layers - 1) + [w_dim]
        self.layers = nn.ModuleList(EqualizedLinear(a, b, lr_mul=lr_mul) for a, b in zip(sizes[:-1], sizes[1:]))
        self.z_dim, self.w_dim, self.n_layers, self.lr_mul = z_dim, w_dim, n_layers, lr_mul

    def forward(self, z: Tensor) -> Tensor:
        """``(N, z_dim) -> (N, w_dim)``."""
        h = pixel_norm(z)
        for layer in self.layers:
            h = F.leaky_relu(layer(h), 0.2)
        return h


class NoiseInjection(nn.Module):
    r"""Per-layer noise: :math:`x + b_c\, \nu`, with one Gaussian image :math:`\nu` per sample, ``(N, 1, H, W)``,
    shared by all channels and scaled per channel by learned factors :math:`b_c`, initialised to 0 (StyleGAN,
    Section 3.2, Figure 1 "B")."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(channels))

    def forward(self, x: Tensor, noise: Tensor | None) -> Tensor:
        if noise is None:
            return x
        return x + self.weight.view(1, -1, 1, 1) * noise  # noise: (N or 1, 1, H, W)


def _check_stack(z_dim: int, w_dim: int, resolution: int, widths: Sequence[int] | int) -> tuple[list[int], list[int]]:
    for name, v in (("z_dim", z_dim), ("w_dim", w_dim), ("resolution", resolution)):
        if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
            raise ValueError(f"{name} must be a positive int, got {v!r}.")
    if resolution < 4 or resolution & (resolution - 1):
        raise ValueError(f"resolution must be a power of 2 >= 4, got {resolution}.")
    res = [4 * 2**k for k in range(int(math.log2(resolution)) - 1)]
    if isinstance(widths, int) and not isinstance(widths, bool):
        widths = [widths] * len(res)
    widths = list(widths)
    if len(widths) != len(res) or not all(isinstance(c, int) and c > 0 for c in widths):
        raise ValueError(f"widths must be one positive int or {len(res)} (one per resolution {res}), got {widths!r}.")
    return res, widths


class _StyleBase(nn.Module):
    """What both generators share: mapping, learned constant, per-layer noise, w_avg, mixing, truncation."""

    resolutions: list[int]
    num_ws: int

    def _init_common(self, z_dim: int, w_dim: int, channels: int, resolution: int, widths: Sequence[int] | int,
                     mapping_layers: int, lr_mul: float, mixing_prob: float) -> list[int]:
        self.resolutions, w = _check_stack(z_dim, w_dim, resolution, widths)
        if isinstance(channels, bool) or not isinstance(channels, int) or channels <= 0:
            raise ValueError(f"channels must be a positive int, got {channels!r}.")
        if isinstance(mixing_prob, bool) or not isinstance(mixing_prob, (int, float)) or not 0 <= mixing_prob <= 1:
            raise ValueError(f"mixing_prob must be in [0, 1], got {mixing_prob!r}.")
        self.z_dim, self.w_dim, self.channels, self.resolution = z_dim, w_dim, channels, resolution
        self.mixing_prob = float(mixing_prob)
        self.widths = w
        self.mapping = MappingNetwork(z_dim, w_dim, mapping_layers, lr_mul)
        self.const = nn.Parameter(torch.ones(1, w[0], 4, 4))  # the learned constant input
        self.num_ws = 2 * len(self.resolutions)  # two style layers per resolution
        self.register_buffer("w_avg", torch.zeros(w_dim))
        self.noise = nn.ModuleList()
        fixed = torch.Generator().manual_seed(2019)
        for k, r in enumerate(self.resolutions):
            for j in range(2):
                self.noise.append(NoiseInjection(w[k]))
                self.register_buffer(f"noise_const_{2 * k + j}", torch.randn(1, 1, r, r, generator=fixed))
        self.noise_mode: str | None = None  # None: "random" in training mode, "const" in eval mode
        return w

    # --- latents ---------------------------------------------------------------------------------------------
    # z ~ N(0, I), shape (n, z_dim), on the model's device (or `device`): the MLP generator's method, shared
    sample_z = MLPGenerator.sample_z

    def map(self, z: Tensor, psi: float = 1.0) -> Tensor:
        """Per-layer latents ``(N, num_ws, w_dim)`` of ``z`` (truncated towards ``w_avg`` by ``psi``)."""
        if not isinstance(z, Tensor) or z.dim() != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"z must be a tensor of shape (N, {self.z_dim}).")
        w = self.mapping(z)  # (N, w_dim)
        if psi != 1.0:
            w = truncate(w, self.w_avg, psi)
        return w.unsqueeze(1).expand(-1, self.num_ws, -1)

    @torch.no_grad()
    def update_w_avg(self, w: Tensor, beta: float = W_AVG_BETA) -> None:
        """:math:`\\bar w \\leftarrow \\beta\\,\\bar w + (1 - \\beta)\\,\\operatorname{mean}_n w_n`."""
        self.w_avg.copy_(torch.lerp(w.detach().mean(dim=0).to(self.w_avg.dtype), self.w_avg, beta))

    def _noise(self, index: int, x: Tensor) -> Tensor | None:
        mode = self.noise_mode or ("random" if self.training else "const")
        if mode not in _NOISE_MODES:
            raise ValueError(f"noise_mode must be one of {_NOISE_MODES} or None, got {mode!r}.")
        if mode == "none":
            return None
        if mode == "const":
            return getattr(self, f"noise_const_{index}").to(x.dtype)
        return torch.randn(x.shape[0], 1, *x.shape[2:], device=x.device, dtype=x.dtype)

    def forward(self, z: Tensor) -> Tensor:
        """``(N, z_dim) -> (N, channels, resolution, resolution)``. In training mode: track ``w_avg`` and, with
        probability ``mixing_prob``, mix in the styles of a second latent from a random crossover on."""
        if not isinstance(z, Tensor) or z.dim() != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"z must be a tensor of shape (N, {self.z_dim}), got "
                             f"{tuple(z.shape) if isinstance(z, Tensor) else type(z).__name__}.")
        w = self.mapping(z)  # (N, w_dim)
        ws = w.unsqueeze(1).expand(-1, self.num_ws, -1)
        if self.training:
            self.update_w_avg(w)
            if self.mixing_prob > 0 and float(torch.rand(())) < self.mixing_prob:
                w2 = self.mapping(torch.randn_like(z))
                crossover = int(torch.randint(1, self.num_ws, ()))
                ws = style_mix(ws, w2, crossover)
        return self.synthesis(ws)

    def generate(self, z: Tensor, psi: float = 1.0) -> Tensor:
        """Images from ``z`` with truncation ``psi`` (no mixing, no ``w_avg`` update)."""
        return self.synthesis(self.map(z, psi))

    def mix(self, z_dst: Tensor, z_src: Tensor, layers: Sequence[int] | range, psi: float = 1.0) -> Tensor:
        """Images with the styles of ``z_dst`` except the layers in ``layers``, taken from ``z_src``: the style
        mixing grid's cells (coarse layers ``range(0, 4)``, ...)."""
        ws = self.map(z_dst, psi).clone()
        src = self.map(z_src, psi)
        idx = list(layers)
        if any(not 0 <= i < self.num_ws for i in idx):
            raise ValueError(f"layers must be in [0, {self.num_ws}), got {idx}.")
        ws[:, idx] = src[:, idx]
        return self.synthesis(ws)

    def layer_ranges(self) -> dict[str, range]:
        """The style layers of the coarse (4^2-8^2), middle (16^2-32^2) and fine (from 64^2) resolutions, as in the
        paper's Figure 3; below 64x64 the finest existing resolution stands in for "fine"."""
        def layers_of(lo: int, hi: int) -> list[int]:
            return [2 * k + j for k, r in enumerate(self.resolutions) if lo <= r <= hi for j in range(2)]

        coarse, middle, fine = layers_of(4, 8), layers_of(16, 32), layers_of(64, 1 << 30)
        if not fine:  # a small model: the last resolution plays "fine", the ones between play "middle"
            last = self.resolutions[-1]
            fine, middle = layers_of(last, last), [i for i in middle if i not in layers_of(last, last)]
        return {"coarse": range(min(coarse), max(coarse) + 1),
                "middle": range(min(middle), max(middle) + 1) if middle else range(0),
                "fine": range(min(fine), max(fine) + 1)}

    def _check_ws(self, ws: Tensor) -> None:
        if not isinstance(ws, Tensor) or ws.dim() != 3 or ws.shape[1:] != (self.num_ws, self.w_dim):
            raise ValueError(f"ws must have shape (N, {self.num_ws}, {self.w_dim}).")


def _example_z(model: nn.Module, batch_size: int) -> Tensor:
    return model.sample_z(batch_size)


@register_model(
    "stylegan_generator",
    kind="generator",
    example_kwargs={"z_dim": 16, "w_dim": 16, "channels": 1, "resolution": 16, "widths": 8, "mapping_layers": 2},
    example_input=_example_z,
    expected_shape=lambda model, n: (n, model.channels, model.resolution, model.resolution),
)
class StyleGANGenerator(_StyleBase):
    r"""StyleGAN's style-based generator (Figure 1 (b) of the paper) at small widths.

    Per resolution two layers; each: [upsample + conv3x3 (the first layer of 4x4 is the constant)] -> noise -> bias
    -> leaky ReLU -> AdaIN with the style :math:`(1 + y_s, y_b) = A(w)` (the ``+ 1`` as in the authors' code, so a
    zero style is the identity scale). A 1x1 ``toRGB`` on the last resolution.

    Args:
        z_dim, w_dim: latent sizes (512 in the paper).
        channels: image channels.
        resolution: output side, a power of 2 >= 4.
        widths: feature maps per resolution (one int, or one per resolution from 4x4).
        mapping_layers: depth of the mapping network (8).
        lr_mul: the mapping network's learning-rate multiplier (0.01).
        mixing_prob: share of training batches with style mixing (0.9).
    """

    def __init__(self, z_dim: int = 64, w_dim: int = 64, channels: int = 1, resolution: int = 32,
                 widths: Sequence[int] | int = 32, mapping_layers: int = 8, lr_mul: float = 0.01,
                 mixing_prob: float = MIXING_PROB) -> None:
        super().__init__()
        w = self._init_common(z_dim, w_dim, channels, resolution, widths, mapping_layers, lr_mul, mixing_prob)
        self.convs = nn.ModuleList()
        self.styles = nn.ModuleList()
        self.biases = nn.ParameterList()
        for k in range(len(self.resolutions)):
            c_prev = w[max(k - 1, 0)]
            self.convs.append(nn.Identity() if k == 0 else EqualizedConv2d(c_prev, w[k], 3, padding=1))
            self.convs.append(EqualizedConv2d(w[k], w[k], 3, padding=1))
            for _ in range(2):
                self.styles.append(EqualizedLinear(w_dim, 2 * w[k], gain=1.0))
                self.biases.append(nn.Parameter(torch.zeros(w[k])))
        self.to_rgb = EqualizedConv2d(w[-1], channels, 1, gain=1.0)

    def synthesis(self, ws: Tensor) -> Tensor:
        """``(N, num_ws, w_dim) -> (N, channels, resolution, resolution)``."""
        self._check_ws(ws)
        x = self.const.expand(ws.shape[0], -1, -1, -1)  # (N, C_0, 4, 4)
        for i in range(self.num_ws):
            if i % 2 == 0 and i > 0:
                x = F.interpolate(x, scale_factor=2, mode="nearest")
            x = self.convs[i](x)
            x = self.noise[i](x, self._noise(i, x))
            x = F.leaky_relu(x + self.biases[i].view(1, -1, 1, 1), 0.2)
            ys, yb = self.styles[i](ws[:, i]).chunk(2, dim=1)  # (N, C) each
            x = adain(x, 1 + ys, yb)
        return self.to_rgb(x)


@register_model(
    "stylegan2_generator",
    kind="generator",
    example_kwargs={"z_dim": 16, "w_dim": 16, "channels": 1, "resolution": 16, "widths": 8, "mapping_layers": 2},
    example_input=_example_z,
    expected_shape=lambda model, n: (n, model.channels, model.resolution, model.resolution),
)
class StyleGAN2Generator(_StyleBase):
    r"""StyleGAN2's generator (Figure 2 (d) and the "skip" output architecture of Figure 7) at small widths.

    Per layer: :func:`modulated_conv2d` with the style :math:`s = A(w)` (bias initialised to 1) and demodulation,
    then noise, bias, leaky ReLU; the first layer of 4x4 convolves the constant. Per resolution a modulated 1x1
    ``toRGB`` without demodulation; the RGB outputs are summed across resolutions, each upsampled (bilinear) to the
    next: the skip generator.

    Args: as for :class:`StyleGANGenerator`; ``demodulate`` (True) switches the demodulation off for ablations.
    """

    def __init__(self, z_dim: int = 64, w_dim: int = 64, channels: int = 1, resolution: int = 32,
                 widths: Sequence[int] | int = 32, mapping_layers: int = 8, lr_mul: float = 0.01,
                 mixing_prob: float = MIXING_PROB, demodulate: bool = True) -> None:
        super().__init__()
        w = self._init_common(z_dim, w_dim, channels, resolution, widths, mapping_layers, lr_mul, mixing_prob)
        if not isinstance(demodulate, bool):
            raise TypeError(f"demodulate must be a bool, got {type(demodulate).__name__}.")
        self.demodulate = demodulate
        self.weights = nn.ParameterList()
        self.styles = nn.ModuleList()
        self.biases = nn.ParameterList()
        for k in range(len(self.resolutions)):
            for j in range(2):
                c_in = w[k] if (j == 1 or k == 0) else w[k - 1]
                self.weights.append(nn.Parameter(torch.randn(w[k], c_in, 3, 3)))
                self.styles.append(EqualizedLinear(w_dim, c_in, gain=1.0, bias_init=1.0))
                self.biases.append(nn.Parameter(torch.zeros(w[k])))
        self.rgb_weights = nn.ParameterList(nn.Parameter(torch.randn(channels, c, 1, 1)) for c in w)
        self.rgb_styles = nn.ModuleList(EqualizedLinear(w_dim, c, gain=1.0, bias_init=1.0) for c in w)
        self.rgb_biases = nn.Parameter(torch.zeros(len(w), channels))

    def synthesis(self, ws: Tensor) -> Tensor:
        """``(N, num_ws, w_dim) -> (N, channels, resolution, resolution)``."""
        self._check_ws(ws)
        x = self.const.expand(ws.shape[0], -1, -1, -1)  # (N, C_0, 4, 4)
        rgb = None
        for i in range(self.num_ws):
            k = i // 2
            if i % 2 == 0 and i > 0:
                x = F.interpolate(x, scale_factor=2, mode="nearest")
            weight = self.weights[i] / math.sqrt(self.weights[i][0].numel())  # equalized lr: 1/sqrt(fan-in)
            x = modulated_conv2d(x, weight, self.styles[i](ws[:, i]), demodulate=self.demodulate, padding=1)
            x = self.noise[i](x, self._noise(i, x))
            x = F.leaky_relu(x + self.biases[i].view(1, -1, 1, 1), 0.2) * math.sqrt(2)  # gain of lrelu
            if i % 2 == 1:  # end of a resolution: its RGB contribution (the skip architecture)
                rgb_w = self.rgb_weights[k] / math.sqrt(self.rgb_weights[k][0].numel())
                y = modulated_conv2d(x, rgb_w, self.rgb_styles[k](ws[:, i]), demodulate=False)
                y = y + self.rgb_biases[k].view(1, -1, 1, 1)
                rgb = y if rgb is None else y + F.interpolate(rgb, scale_factor=2, mode="bilinear",
                                                              align_corners=False)
        return rgb


def _zoo_models(version: int):
    def build(sample_shape: tuple[int, ...], z_dim: int) -> tuple[nn.Module, nn.Module]:
        c, size = sample_shape[0], sample_shape[-1]
        cls = StyleGANGenerator if version == 1 else StyleGAN2Generator
        return (cls(z_dim, 32, c, size, widths=16, mapping_layers=8),
                ProGANDiscriminator(c, size, widths=16))

    build.__qualname__ = build.__name__ = f"stylegan{'' if version == 1 else '2'}_models"
    return build


def _register_zoo() -> None:
    from course_lib.zoo import FastRecipe, ZooEntry, register_variant

    chapter = "chapters/09_progressive_and_style/theory"
    register_variant(ZooEntry(
        "stylegan", "StyleGAN",
        "A mapping network turns z into w, and a learned constant is turned into an image by layers whose "
        "feature statistics are set by AdaIN from w, with per-layer noise for the stochastic detail.",
        r"\mathrm{AdaIN}(x_i, y) = y_{s,i}\,\frac{x_i - \mu(x_i)}{\sigma(x_i)} + y_{b,i},\quad y = A(f(z)),\quad "
        r"w' = \bar w + \psi(w - \bar w)",
        ("karras2019stylegan", "huang2017adain"),
        ("course_lib.gan.stylegan.StyleGANGenerator", "course_lib.gan.stylegan.MappingNetwork",
         "course_lib.gan.stylegan.adain", "course_lib.gan.stylegan.NoiseInjection",
         "course_lib.gan.stylegan.style_mix", "course_lib.gan.stylegan.truncate"),
        chapter,
        FastRecipe(_zoo_models(1), loss="non_saturating", steps=80, batch_size=32,
                   config={"lr_g": 1e-3, "lr_d": 1e-3, "betas": (0.0, 0.99)},
                   note="ProGAN's discriminator, the paper's Adam(1e-3, (0, 0.99)); no R1 penalty, to fit the "
                        "budget."),
    ))
    register_variant(ZooEntry(
        "stylegan2", "StyleGAN2",
        "AdaIN is replaced by modulating the convolution weights with the style and demodulating them by their "
        "expected output scale, which removes the droplet artifacts.",
        r"w'_{ijk} = s_i\, w_{ijk},\qquad w''_{ijk} = w'_{ijk} \Big/ \sqrt{\textstyle\sum_{i,k} {w'_{ijk}}^2 + "
        r"\epsilon}",
        ("karras2020stylegan2",),
        ("course_lib.gan.stylegan.StyleGAN2Generator", "course_lib.gan.stylegan.modulated_conv2d"),
        chapter,
        FastRecipe(_zoo_models(2), loss="non_saturating", steps=80, batch_size=32,
                   config={"lr_g": 1e-3, "lr_d": 1e-3, "betas": (0.0, 0.99)},
                   note="ProGAN's discriminator instead of the residual one; no R1 or path length penalty."),
    ))


_register_zoo()
