r"""Spectral normalisation: the power iteration from scratch (for teaching) and PyTorch's parametrization (to use).

A layer :math:`x \mapsto Wx + b` is :math:`\sigma(W)`-Lipschitz in the Euclidean norm, with :math:`\sigma(W)` the
largest singular value (the spectral norm). Dividing the weight by it, :math:`\bar W = W / \sigma(W)`, makes every
layer 1-Lipschitz, and a network of such layers with 1-Lipschitz activations (ReLU, leaky ReLU) is 1-Lipschitz:

.. math:: \lVert f \rVert_{Lip} \le \prod_l \sigma(\bar W_l) = 1.

Computing :math:`\sigma(W)` exactly (an SVD) at every step is expensive; Miyato et al. estimate it with **one step
of power iteration per training step**, reusing the singular vectors of the previous step, which change little
because the weights change little (Miyato et al., *Spectral Normalization for Generative Adversarial Networks*,
ICLR 2018, Algorithm 1). With :math:`W` reshaped to a matrix ``(out, -1)`` (convolution kernels included: this is
their approximation of a convolution's operator norm) and :math:`N(a) = a / \lVert a \rVert`:

.. math::
    u \leftarrow N(W v), \qquad v \leftarrow N(W^\top u), \qquad \sigma(W) \approx u^\top W v,

and gradients flow through :math:`W` in :math:`u^\top W v` only (:math:`u, v` are constants).

This module gives the iteration as a function (:func:`spectral_norm_power_iteration`), two from-scratch modules
built on it (:class:`SpectralNorm`, a parametrization for any layer, and :class:`SpectralNormLinear`), and
:func:`apply_spectral_norm`, which puts PyTorch's ``torch.nn.utils.parametrizations.spectral_norm`` on every
linear and convolutional layer of a model: the production path. The from-scratch versions follow PyTorch's
algorithm step for step (random :math:`u, v` from the global generator, 15 iterations at registration, then
``n_power_iterations`` per forward in training mode and none in eval mode), so that with the same seed they give
the same numbers; the tests check it.

A detail the tests revealed: ``register_parametrization`` evaluates the new parametrization once to check its
output shape and dtype. For a module in training mode that check is a training forward, hence one more power
iteration: a freshly registered layer has had 15 + 1 = 16 (15 if the module was in eval mode).
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils import parametrize

__all__ = [
    "weight_as_matrix",
    "spectral_norm_power_iteration",
    "spectral_norm_exact",
    "SpectralNorm",
    "spectral_norm_scratch",
    "SpectralNormLinear",
    "apply_spectral_norm",
    "layer_spectral_norms",
]

_INIT_ITERATIONS = 15  # PyTorch's parametrization runs 15 power iterations when it is registered
_LAYERS: tuple[type[nn.Module], ...] = (nn.Linear, nn.modules.conv._ConvNd)


def _check_iters(n: object, name: str, allow_zero: bool) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or n < 0 or (n == 0 and not allow_zero):
        raise ValueError(f"{name} must be an int {'>= 0' if allow_zero else '> 0'}, got {n!r}.")
    return n


def _check_eps(eps: object) -> float:
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not (eps > 0 and math.isfinite(eps)):
        raise ValueError(f"eps must be a finite number > 0, got {eps!r}.")
    return float(eps)


def weight_as_matrix(W: Tensor, dim: int = 0) -> Tensor:
    """A weight as the matrix whose spectral norm is normalised: dimension ``dim`` first, the rest flattened.

    ``Linear``: ``(out, in)`` as is; ``Conv2d``: ``(out, in, kh, kw) -> (out, in*kh*kw)``; ``ConvTranspose2d``
    (whose weight is ``(in, out, kh, kw)``) uses ``dim=1``: ``(out, in*kh*kw)``. Returns a view when possible.
    """
    if not isinstance(W, Tensor):
        raise TypeError(f"W must be a torch.Tensor, got {type(W).__name__}.")
    if not W.is_floating_point():
        raise TypeError(f"W must be a floating-point tensor, got dtype {W.dtype}.")
    if W.ndim < 2:
        raise ValueError(f"W must have at least 2 dimensions (a matrix or a kernel), got shape {tuple(W.shape)}.")
    if isinstance(dim, bool) or not isinstance(dim, int) or not -W.ndim <= dim < W.ndim:
        raise ValueError(f"dim must be an int in [{-W.ndim}, {W.ndim - 1}], got {dim!r}.")
    dim = dim % W.ndim
    if dim != 0:
        W = W.permute(dim, *(d for d in range(W.ndim) if d != dim))
    return W.flatten(1)  # (out, -1)


def _check_vector(x: object, name: str, size: int, like: Tensor) -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}.")
    if x.shape != (size,):
        raise ValueError(f"{name} must have shape ({size},) for this weight, got {tuple(x.shape)}.")
    return x.to(device=like.device, dtype=like.dtype)


def spectral_norm_power_iteration(
    W: Tensor,
    u: Tensor,
    n_iters: int = 1,
    *,
    v: Tensor | None = None,
    dim: int = 0,
    eps: float = 1e-12,
) -> tuple[Tensor, Tensor, Tensor]:
    r"""Estimate the spectral norm :math:`\sigma(W)` by power iteration, as PyTorch's spectral norm does.

    With :math:`W` as a matrix of shape ``(h, w)`` (:func:`weight_as_matrix`) and :math:`N(a) = a / \max(\lVert a
    \rVert_2, \epsilon)`:

    .. math::
        v \leftarrow N(W^\top u) \ \text{(only if } v \text{ is not given)}, \qquad
        \text{repeat } n \text{ times: } u \leftarrow N(W v),\ v \leftarrow N(W^\top u), \qquad
        \sigma = u^\top W v.

    Each round multiplies by :math:`W W^\top` (for :math:`u`), so :math:`u` and :math:`v` turn towards the top
    left and right singular vectors at the rate :math:`(\sigma_2/\sigma_1)^2` and :math:`\sigma` rises to
    :math:`\sigma_1` from below. PyTorch keeps :math:`u` and :math:`v` between calls, :math:`v` computed from
    :math:`u`; given PyTorch's stored ``_u`` (and ``_v``), one iteration here reproduces one training forward of
    ``torch.nn.utils.parametrizations.spectral_norm``. ``n_iters = 0`` with both vectors given is its eval mode.

    :math:`u, v` are computed without gradient; ``sigma`` is differentiable with respect to ``W`` (through
    :math:`u^\top W v` only, as in Miyato et al. 2018, Algorithm 1). The order of a round is PyTorch's (:math:`u`
    then :math:`v`); Miyato et al.'s Algorithm 1 computes :math:`v` then :math:`u`, so its :math:`n` rounds end half
    a round earlier and give :math:`\lVert W v \rVert`, at most this function's :math:`\lVert W^\top u \rVert`.

    Args:
        W: the weight, ``Tensor[out, ...]`` (at least 2-D).
        u: ``Tensor[h]``, the current estimate of the top left singular vector (need not be normalised, not zero).
        n_iters: the number of rounds, :math:`n \ge 0`.
        v: optional ``Tensor[w]``, the current right vector (PyTorch's ``_v``); ``None``: :math:`N(W^\top u)`.
        dim: the output dimension of ``W`` (1 for transposed convolutions).
        eps: the :math:`\epsilon` of the normalisation.

    Returns:
        ``(sigma, u, v)``: a 0-d tensor and the two unit vectors ``Tensor[h]``, ``Tensor[w]``, in ``W``'s dtype and
        on its device.
    """
    n_iters = _check_iters(n_iters, "n_iters", allow_zero=True)
    eps = _check_eps(eps)
    W_mat = weight_as_matrix(W, dim)  # (h, w)
    h, w = W_mat.shape
    u = _check_vector(u, "u", h, W_mat)
    with torch.no_grad():
        if not torch.linalg.vector_norm(u) > 0:
            raise ValueError("u must not be the zero vector (or contain NaN).")
        if v is None:
            v = F.normalize(torch.mv(W_mat.detach().H, u), dim=0, eps=eps)  # v = N(W^T u)
        else:
            v = _check_vector(v, "v", w, W_mat)
        u, v = u.clone(), v.clone()
        W_nograd = W_mat.detach()
        for _ in range(n_iters):
            u = F.normalize(torch.mv(W_nograd, v), dim=0, eps=eps)  # u = N(W v)
            v = F.normalize(torch.mv(W_nograd.H, u), dim=0, eps=eps)  # v = N(W^T u)
    sigma = torch.vdot(u, torch.mv(W_mat, v))  # u^T W v, differentiable in W
    return sigma, u, v


def spectral_norm_exact(W: Tensor, dim: int = 0) -> Tensor:
    r"""The exact spectral norm :math:`\sigma_1` of :func:`weight_as_matrix` ``(W, dim)``, from an SVD
    (``torch.linalg.matrix_norm(..., ord=2)``): the reference the power iteration converges to."""
    return torch.linalg.matrix_norm(weight_as_matrix(W, dim), ord=2)


# ----------------------------------------------------------------------------------------------------------------
# From scratch: a parametrization and a linear layer
# ----------------------------------------------------------------------------------------------------------------
class SpectralNorm(nn.Module):
    r"""Spectral normalisation written from scratch as a parametrization: ``forward(W) = W / sigma(W)``.

    Register it with :func:`spectral_norm_scratch` (or ``torch.nn.utils.parametrize.register_parametrization``).
    It keeps the buffers ``_u`` (``Tensor[h]``) and ``_v`` (``Tensor[w]``), drawn from
    :math:`\mathcal{N}(0, I)` with the global generator and normalised, then runs 15 power iterations, exactly like
    PyTorch's (registration adds one more in training mode, see the module docstring). In training mode each
    forward first runs ``n_power_iterations`` more (updating the buffers in place); in eval mode it uses the stored
    vectors.

    Args:
        weight: the weight to normalise (used for its shape and the warm-up iterations).
        n_power_iterations: rounds per training forward (1, Miyato et al.).
        dim: the output dimension (1 for transposed convolutions).
        eps: the normalisation's :math:`\epsilon`.
    """

    def __init__(self, weight: Tensor, n_power_iterations: int = 1, dim: int = 0, eps: float = 1e-12) -> None:
        super().__init__()
        self.n_power_iterations = _check_iters(n_power_iterations, "n_power_iterations", allow_zero=False)
        self.eps = _check_eps(eps)
        W_mat = weight_as_matrix(weight, dim).detach()  # (h, w)
        self.dim = dim % weight.ndim
        h, w = W_mat.shape
        u = W_mat.new_empty(h).normal_(0, 1)  # same draws, in the same order, as PyTorch's
        v = W_mat.new_empty(w).normal_(0, 1)
        self.register_buffer("_u", F.normalize(u, dim=0, eps=self.eps))
        self.register_buffer("_v", F.normalize(v, dim=0, eps=self.eps))
        self._iterate(W_mat, _INIT_ITERATIONS)

    @torch.no_grad()
    def _iterate(self, W_mat: Tensor, n: int) -> None:
        _, u, v = spectral_norm_power_iteration(W_mat, self._u, n, v=self._v, eps=self.eps)
        self._u.copy_(u)
        self._v.copy_(v)

    def forward(self, weight: Tensor) -> Tensor:
        """:math:`\\bar W = W / \\sigma`, same shape as ``weight``."""
        if self.training:
            self._iterate(weight_as_matrix(weight, self.dim), self.n_power_iterations)
        # u, v are copies: the buffers may change in place in a later forward, this graph must not see it
        sigma, _, _ = spectral_norm_power_iteration(weight, self._u.clone(), 0, v=self._v.clone(), dim=self.dim,
                                                    eps=self.eps)
        return weight / sigma

    def right_inverse(self, value: Tensor) -> Tensor:
        """Assigning ``module.weight = W`` stores ``W`` itself (as PyTorch's does)."""
        return value

    def extra_repr(self) -> str:
        return f"n_power_iterations={self.n_power_iterations}, dim={self.dim}, eps={self.eps:g}"


def _default_dim(module: nn.Module) -> int:
    return 1 if isinstance(module, nn.modules.conv._ConvTransposeNd) else 0


def spectral_norm_scratch(
    module: nn.Module, name: str = "weight", n_power_iterations: int = 1, eps: float = 1e-12, dim: int | None = None
) -> nn.Module:
    """Register the from-scratch :class:`SpectralNorm` on ``module.<name>`` and return ``module`` (the same call
    signature as PyTorch's ``spectral_norm``; ``dim=None``: 1 for transposed convolutions, else 0)."""
    if not isinstance(module, nn.Module):
        raise TypeError(f"module must be a torch.nn.Module, got {type(module).__name__}.")
    weight = getattr(module, name, None)
    if not isinstance(weight, Tensor):
        raise ValueError(f"module {type(module).__name__} has no tensor attribute {name!r}.")
    dim = _default_dim(module) if dim is None else dim
    parametrize.register_parametrization(module, name, SpectralNorm(weight, n_power_iterations, dim, eps))
    return module


class SpectralNormLinear(nn.Module):
    r"""A linear layer with a spectrally normalised weight, written out: :math:`y = x (W/\sigma(W))^\top + b`.

    The weight and bias are initialised as ``nn.Linear``'s; then :math:`u, v` as in :class:`SpectralNorm`, with the
    16 warm-up rounds a freshly registered layer in training mode has had (so
    ``torch.manual_seed(s); SpectralNormLinear(a, b)`` and ``torch.manual_seed(s); spectral_norm(nn.Linear(a, b))``
    hold the same numbers). ``sigma`` is the current estimate (in eval mode, the one the forward uses).

    Shapes: ``(N, *, in_features) -> (N, *, out_features)``.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, n_power_iterations: int = 1,
                 eps: float = 1e-12) -> None:
        super().__init__()
        for name, value in (("in_features", in_features), ("out_features", out_features)):
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name} must be a positive int, got {value!r}.")
        self.in_features, self.out_features = in_features, out_features
        self.n_power_iterations = _check_iters(n_power_iterations, "n_power_iterations", allow_zero=False)
        self.eps = _check_eps(eps)
        plain = nn.Linear(in_features, out_features, bias=bias)  # nn.Linear's initialisation
        self.weight = plain.weight  # (out, in)
        self.bias = plain.bias  # (out,) or None
        with torch.no_grad():
            u = F.normalize(self.weight.new_empty(out_features).normal_(0, 1), dim=0, eps=self.eps)
            v = F.normalize(self.weight.new_empty(in_features).normal_(0, 1), dim=0, eps=self.eps)
            # 15 warm-up rounds, + 1 for the training-mode check forward of PyTorch's registration (module doc)
            _, u, v = spectral_norm_power_iteration(self.weight, u, _INIT_ITERATIONS + 1, v=v, eps=self.eps)
        self.register_buffer("u", u)  # (out,)
        self.register_buffer("v", v)  # (in,)

    def normalized_weight(self) -> Tensor:
        """:math:`W / \\sigma(W)`; in training mode, after ``n_power_iterations`` rounds that update ``u``, ``v``."""
        n = self.n_power_iterations if self.training else 0
        sigma, u, v = spectral_norm_power_iteration(self.weight, self.u, n, v=self.v, eps=self.eps)
        if self.training:
            with torch.no_grad():
                self.u.copy_(u)
                self.v.copy_(v)
        return self.weight / sigma

    @property
    def sigma(self) -> Tensor:
        """The stored estimate :math:`u^\\top W v` (no iteration, no gradient)."""
        with torch.no_grad():
            return spectral_norm_power_iteration(self.weight, self.u, 0, v=self.v, eps=self.eps)[0]

    def forward(self, x: Tensor) -> Tensor:
        if not isinstance(x, Tensor):
            raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}.")
        if x.ndim < 1 or x.shape[-1] != self.in_features:
            raise ValueError(f"x must have shape (..., {self.in_features}), got {tuple(x.shape)}.")
        return F.linear(x, self.normalized_weight(), self.bias)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}, "
                f"n_power_iterations={self.n_power_iterations}")


# ----------------------------------------------------------------------------------------------------------------
# Production path: PyTorch's parametrization on every layer
# ----------------------------------------------------------------------------------------------------------------
def apply_spectral_norm(
    module: nn.Module,
    n_power_iterations: int = 1,
    eps: float = 1e-12,
    layer_types: Sequence[type[nn.Module]] = _LAYERS,
) -> nn.Module:
    """Put ``torch.nn.utils.parametrizations.spectral_norm`` on the ``weight`` of every ``Linear`` and
    convolutional layer (``Conv*d`` and ``ConvTranspose*d``, with PyTorch's ``dim`` choice) of ``module``, in place;
    layers that already have a ``weight`` parametrization are left alone. Returns ``module``.

    SN-GAN normalises every layer of the discriminator; SAGAN also the generator's (Miyato et al. 2018; Zhang et al.
    2019). Normalisation layers and embeddings are not touched. Call it *before* building the optimizer: the
    parameter is then ``parametrizations.weight.original``.
    """
    if not isinstance(module, nn.Module):
        raise TypeError(f"module must be a torch.nn.Module, got {type(module).__name__}.")
    _check_iters(n_power_iterations, "n_power_iterations", allow_zero=False)
    _check_eps(eps)
    layer_types = tuple(layer_types)
    if not layer_types or not all(isinstance(t, type) and issubclass(t, nn.Module) for t in layer_types):
        raise TypeError("layer_types must be a non-empty sequence of nn.Module subclasses.")
    targets = [
        m for m in module.modules()
        if isinstance(m, layer_types) and isinstance(getattr(m, "weight", None), Tensor)
        and not parametrize.is_parametrized(m, "weight")
    ]  # collected first: registering changes the modules' classes
    for m in targets:
        nn.utils.parametrizations.spectral_norm(m, n_power_iterations=n_power_iterations, eps=eps)
    return module


@torch.no_grad()
def layer_spectral_norms(module: nn.Module, layer_types: Sequence[type[nn.Module]] = _LAYERS) -> dict[str, float]:
    r"""The exact spectral norm of the *effective* weight of every linear/convolutional layer, by name.

    For a spectrally normalised layer this is :math:`\sigma(W) / \hat\sigma`, 1 up to the power-iteration error
    (:math:`\ge 1` since :math:`\hat\sigma \le \sigma`). The product over the layers of a chain of linear layers and
    1-Lipschitz activations bounds the network's Lipschitz constant (for a convolution, the reshaped-matrix norm is
    Miyato et al.'s approximation of the operator norm, not a bound). The weights are read in eval mode, so no power
    iteration runs; the modes are restored after.
    """
    if not isinstance(module, nn.Module):
        raise TypeError(f"module must be a torch.nn.Module, got {type(module).__name__}.")
    modes = {m: m.training for m in module.modules()}
    module.eval()
    try:
        out = {}
        for name, m in module.named_modules():
            if isinstance(m, tuple(layer_types)) and isinstance(getattr(m, "weight", None), Tensor):
                out[name] = float(spectral_norm_exact(m.weight, _default_dim(m)))
        return out
    finally:
        for m, mode in modes.items():
            m.training = mode
