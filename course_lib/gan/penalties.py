r"""Penalties on the discriminator's input gradient, as callables ``penalty(D, real, fake) -> Tensor[]``, by name.

A penalty :math:`R(D, x, \tilde x)` is added to the discriminator's loss, :math:`L_D + \lambda R`. The ones here
constrain the gradient of :math:`D` with respect to its *input*, which is what makes a critic (approximately)
Lipschitz (chapter 5). Registered (with the paper's weight):

- ``wgan_gp``: :math:`\mathbb{E}[(\lVert\nabla D(\hat x)\rVert_2 - 1)^2]` with :math:`\hat x` between paired real
  and fake samples; :math:`\lambda = 10` (Gulrajani et al. 2017);
- ``dragan``: the same at :math:`\hat x` between :math:`x` and a perturbed :math:`x + \delta`; :math:`\lambda = 10`
  (Kodali et al. 2017);
- ``wgan_div``: :math:`\mathbb{E}[\lVert\nabla D(\hat x)\rVert_2^p]`, :math:`p = 6`; :math:`k = 2` (Wu et al. 2018);
- ``r1``: :math:`\tfrac12\mathbb{E}_{x \sim p_{data}}[\lVert\nabla D(x)\rVert_2^2]`; :math:`\gamma = 10`
  (Mescheder et al. 2018); ``r2``: the same on the fakes.

(``historical_averaging`` joins the registry from :mod:`course_lib.gan.regularizers`.)

How it plugs into the trainer: ``TrainerConfig(penalty="wgan_gp")`` looks the name up with :func:`get_penalty`
(a fresh :class:`Penalty` per trainer); ``TrainerConfig.penalty_weight`` is :math:`\lambda`, and when it is left at
``None`` the penalty's ``default_weight`` (the paper's value, listed above) is used. The trainer logs the
*unweighted* :math:`R` as ``penalty``. A plain function ``penalty(D, real, fake)`` works too (weight 1 by default).

Double backward. Each penalty differentiates :math:`D(\hat x)` with respect to :math:`\hat x` with
``torch.autograd.grad(..., create_graph=True)``, so that the discriminator's update can differentiate the penalty
again (a second-order term). This is why the discriminator step must not run under ``torch.compile``
(aot_autograd has no double backward), and why :func:`~course_lib.train.steps.discriminator_step` evaluates the
penalty in float32 *outside* autocast: the inner gradient is then computed in full precision and needs no loss
scaling; the outer gradient is scaled together with the rest of the loss by the ``GradScaler``.

Contract on ``D``: :math:`\nabla_{\hat x_i} \sum_j D(\hat x_j) = \nabla D(\hat x_i)` only if ``D`` treats the samples
of a batch independently. Batch norm (in training mode) and minibatch discrimination mix samples; WGAN-GP therefore
recommends no batch norm in the critic (layer norm instead). Each penalty runs one more forward pass of ``D``: a
spectrally normalised ``D`` does one more power iteration, and dropout draws more masks.

Randomness. :math:`\epsilon` (and DRAGAN's perturbation) come from the ``generator`` given to the penalty, or from
PyTorch's global generator when it is ``None`` (the default). The trainer saves the global CPU and CUDA generators
and each penalty's ``state_dict()`` (which holds its own generator's state) in every checkpoint, so a resumed run
draws the same numbers either way.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import torch
from torch import Tensor, nn

__all__ = [
    "interpolate",
    "input_gradients",
    "gradient_norms",
    "gradient_penalty",
    "dragan_penalty",
    "wgan_div_penalty",
    "r1_penalty",
    "r2_penalty",
    "Penalty",
    "register_penalty",
    "get_penalty",
    "list_penalties",
    "penalty_description",
]

PenaltyFn = Callable[..., Tensor]


# ----------------------------------------------------------------------------------------------------------------
# Validation and randomness
# ----------------------------------------------------------------------------------------------------------------
def _check_module(D: object) -> None:
    if not callable(D):
        raise TypeError(f"D must be a callable discriminator (an nn.Module), got {type(D).__name__}.")


def _check_batch(x: object, name: str) -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}.")
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {x.dtype}.")
    if x.ndim < 1 or x.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty batch (N, ...), got shape {tuple(x.shape)}.")
    return x


def _check_real_fake(real: object, fake: object) -> tuple[Tensor, Tensor]:
    real = _check_batch(real, "real")
    fake = _check_batch(fake, "fake")
    if real.shape != fake.shape:
        raise ValueError(
            f"real and fake must have the same shape to be paired, got {tuple(real.shape)} and {tuple(fake.shape)}."
        )
    if real.device != fake.device:
        raise ValueError(f"real and fake must be on the same device, got {real.device} and {fake.device}.")
    return real, fake.to(real.dtype)


def _check_generator(generator: object) -> torch.Generator | None:
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator or None, got {type(generator).__name__}.")
    return generator


def _uniform(shape: tuple[int, ...], like: Tensor, generator: torch.Generator | None) -> Tensor:
    """``U[0, 1)`` numbers of ``shape`` in ``like``'s dtype and device, drawn with ``generator`` (on its own device,
    then moved) or with the global generator of ``like``'s device."""
    device = like.device if generator is None else generator.device
    return torch.rand(shape, generator=generator, device=device, dtype=like.dtype).to(like.device)


def _per_sample(eps: Tensor, like: Tensor) -> Tensor:
    """``(N,) -> (N, 1, ..., 1)``, broadcastable against ``like`` of shape ``(N, ...)``."""
    return eps.view(eps.shape[0], *([1] * (like.ndim - 1)))


def _check_positive(value: object, name: str, allow_zero: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}.")
    value = float(value)
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"{name} must be a finite number {'>=' if allow_zero else '>'} 0, got {value!r}.")
    return value


# ----------------------------------------------------------------------------------------------------------------
# Building blocks
# ----------------------------------------------------------------------------------------------------------------
def interpolate(real: Tensor, fake: Tensor, eps: Tensor) -> Tensor:
    r"""Points on the segments between paired real and fake samples, :math:`\hat x_i = \epsilon_i x_i +
    (1 - \epsilon_i) \tilde x_i` (Gulrajani et al. 2017, Algorithm 1, line 6).

    Args:
        real: ``Tensor[N, ...]``.
        fake: ``Tensor[N, ...]``, same shape.
        eps: ``Tensor[N]``, one weight per sample (:math:`\epsilon = 1` gives the real sample).

    Returns:
        ``Tensor[N, ...]``.
    """
    real, fake = _check_real_fake(real, fake)
    if not isinstance(eps, Tensor) or eps.shape != (real.shape[0],):
        shape = tuple(eps.shape) if isinstance(eps, Tensor) else type(eps).__name__
        raise ValueError(f"eps must be a Tensor of shape ({real.shape[0]},), one weight per sample, got {shape}.")
    e = _per_sample(eps.to(real), real)  # (N, 1, ..., 1)
    return e * real + (1.0 - e) * fake


def input_gradients(D: nn.Module | Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
    r""":math:`\nabla_x D(x)` for every sample, with the graph kept for a second backward pass.

    .. math:: g_i = \frac{\partial}{\partial x_i} \sum_j D(x_j) = \nabla D(x_i)
        \quad \text{(samples processed independently)}

    ``x`` is detached first, so the gradient is taken with respect to the points themselves (not to the generator
    that made them); the result stays differentiable with respect to ``D``'s parameters (``create_graph=True``).

    Args:
        D: the discriminator, ``(Tensor[N, ...]) -> Tensor[N]`` or ``Tensor[N, 1]``.
        x: ``Tensor[N, ...]``, floating point.

    Returns:
        ``Tensor[N, ...]``, the shape of ``x``.
    """
    _check_module(D)
    x = _check_batch(x, "x").detach().requires_grad_(True)
    out = D(x)
    if not isinstance(out, Tensor) or out.shape[0] != x.shape[0] or out.numel() != x.shape[0]:
        got = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
        raise ValueError(f"D must return one value per sample, shape ({x.shape[0]},) or ({x.shape[0]}, 1), got {got}.")
    (grad,) = torch.autograd.grad(out.sum(), x, create_graph=True)  # double backward: keep the graph
    return grad


def gradient_norms(D: nn.Module | Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
    r"""Per-sample Euclidean norms of the input gradient, :math:`\lVert \nabla D(x_i) \rVert_2`, ``Tensor[N]``.

    The gradient of a sample is flattened over all its entries (channels and pixels of an image).
    """
    grad = input_gradients(D, x)
    return torch.linalg.vector_norm(grad.flatten(1), dim=1)  # (N, D) -> (N,)


def _squared_norms(D: nn.Module | Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
    """:math:`\\lVert \\nabla D(x_i) \\rVert_2^2`, ``Tensor[N]`` (no square root: smooth at a zero gradient)."""
    return input_gradients(D, x).flatten(1).square().sum(dim=1)


# ----------------------------------------------------------------------------------------------------------------
# The penalties (unweighted)
# ----------------------------------------------------------------------------------------------------------------
def gradient_penalty(
    D: nn.Module | Callable[[Tensor], Tensor],
    real: Tensor,
    fake: Tensor,
    *,
    generator: torch.Generator | None = None,
    target: float = 1.0,
) -> Tensor:
    r"""The WGAN-GP gradient penalty (unweighted).

    .. math::
        \hat x = \epsilon x + (1 - \epsilon)\tilde x, \quad \epsilon \sim U[0, 1] \text{ per sample}, \qquad
        R = \mathbb{E}_{\hat x}\big[(\lVert \nabla_{\hat x} D(\hat x) \rVert_2 - 1)^2\big]

    The optimal critic has gradient norm 1 almost everywhere on the segments between coupled real and fake points,
    so the constraint is enforced softly there (two-sided, towards 1). The paper weighs it with :math:`\lambda = 10`
    (``default_weight`` of the registered ``"wgan_gp"``). Gulrajani et al., *Improved Training of Wasserstein GANs*,
    NeurIPS 2017, Algorithm 1.

    For a linear critic :math:`D(x) = w^\top x + b` the gradient is :math:`w` everywhere, so
    :math:`R = (\lVert w \rVert - 1)^2` whatever the points.

    Args:
        D: the critic; real/fake: ``Tensor[N, ...]`` of one shape (vectors or images).
        generator: the source of :math:`\epsilon` (``None``: the global generator of ``real``'s device).
        target: the norm the gradient is pulled to (1 in the paper).

    Returns:
        0-d tensor, differentiable with respect to ``D``'s parameters.
    """
    real, fake = _check_real_fake(real, fake)
    generator = _check_generator(generator)
    target = _check_positive(target, "target", allow_zero=True)
    eps = _uniform((real.shape[0],), real, generator)  # (N,), one draw per sample
    x_hat = interpolate(real.detach(), fake.detach(), eps)
    norms = gradient_norms(D, x_hat)  # (N,)
    return (norms - target).square().mean()


def dragan_penalty(
    D: nn.Module | Callable[[Tensor], Tensor],
    real: Tensor,
    fake: Tensor | None = None,
    *,
    generator: torch.Generator | None = None,
    c: float = 0.5,
    target: float = 1.0,
) -> Tensor:
    r"""DRAGAN's gradient penalty around the real data (unweighted); the fakes are not used.

    .. math::
        x^{p} = x + c\, \sigma_x\, u, \quad u \sim U[0, 1)^{\dim x}, \qquad
        \hat x = x + \alpha (x^{p} - x), \quad \alpha \sim U[0, 1] \text{ per sample}, \qquad
        R = \mathbb{E}\big[(\lVert \nabla D(\hat x) \rVert_2 - 1)^2\big]

    with :math:`\sigma_x` the standard deviation of *all* entries of the real minibatch (population form) and
    :math:`c = 0.5`, as in the authors' reference code (``get_perturbed_batch`` in ``kodalinaveen3/DRAGAN``,
    ``DRAGAN.ipynb``: ``minibatch + 0.5 * minibatch.std() * np.random.random(minibatch.shape)``, with
    :math:`\lambda = 10`); the paper states the penalty with Gaussian noise :math:`\delta` around the data instead.
    Penalising sharp gradients near the data manifold avoids the sharp local equilibria that the authors link to
    mode collapse. Kodali et al., *On Convergence and Stability of GANs*, 2017. The perturbation is drawn
    first, then :math:`\alpha`.

    Args:
        D: the discriminator; real: ``Tensor[N, ...]``; fake: ignored (accepted for the common signature).
        generator: the source of :math:`u` and :math:`\alpha` (``None``: the global generator).
        c: the perturbation scale in units of :math:`\sigma_x`.
        target: the gradient norm pulled to.
    """
    real = _check_batch(real, "real").detach()
    if fake is not None:
        _check_batch(fake, "fake")
    generator = _check_generator(generator)
    c = _check_positive(c, "c", allow_zero=True)
    target = _check_positive(target, "target", allow_zero=True)
    sigma = real.std(correction=0) if real.numel() > 1 else real.new_zeros(())  # population std of the batch
    perturbed = real + c * sigma * _uniform(tuple(real.shape), real, generator)  # x^p = x + c sigma u
    alpha = _per_sample(_uniform((real.shape[0],), real, generator), real)  # (N, 1, ..., 1)
    x_hat = real + alpha * (perturbed - real)
    norms = gradient_norms(D, x_hat)
    return (norms - target).square().mean()


_DIV_SAMPLES = ("interpolates", "real_and_fake")


def wgan_div_penalty(
    D: nn.Module | Callable[[Tensor], Tensor],
    real: Tensor,
    fake: Tensor,
    *,
    p: float = 6.0,
    samples: str = "interpolates",
    generator: torch.Generator | None = None,
) -> Tensor:
    r"""The gradient term of WGAN-div (unweighted): a power of the gradient norm, with no target of 1.

    .. math::
        R = \mathbb{E}_{\hat x \sim P_u}\big[\lVert \nabla D(\hat x) \rVert_2^{\,p}\big], \qquad p = 6,

    weighted by :math:`k = 2` in the paper's objective
    :math:`\mathbb{E}[D(\tilde x)] - \mathbb{E}[D(x)] + k\, \mathbb{E}[\lVert\nabla D\rVert^p]` (the sign of the
    critic does not matter here). Unlike WGAN-GP it needs no 1-Lipschitz constraint: the Wasserstein divergence is
    a true divergence for any :math:`k > 0, p > 1`. :math:`P_u`: ``"interpolates"`` (the default) draws
    :math:`\hat x` on real-fake segments as WGAN-GP does; ``"real_and_fake"`` averages the term over the real and
    the fake points, :math:`\tfrac12(\mathbb{E}_x + \mathbb{E}_{\tilde x})`. Wu et al., *Wasserstein Divergence for
    GANs*, ECCV 2018.

    Args:
        D: the critic; real/fake: ``Tensor[N, ...]`` of one shape.
        p: the power :math:`p > 0`; samples: ``"interpolates"`` or ``"real_and_fake"``.
        generator: the source of :math:`\epsilon` for interpolates (``None``: the global generator).
    """
    real, fake = _check_real_fake(real, fake)
    generator = _check_generator(generator)
    p = _check_positive(p, "p")
    if samples not in _DIV_SAMPLES:
        raise ValueError(f"samples must be one of {_DIV_SAMPLES}, got {samples!r}.")
    if samples == "interpolates":
        eps = _uniform((real.shape[0],), real, generator)
        sq = _squared_norms(D, interpolate(real.detach(), fake.detach(), eps))  # (N,) squared norms
        return sq.pow(p / 2).mean()  # ||g||^p = (||g||^2)^(p/2)
    return 0.5 * (_squared_norms(D, real).pow(p / 2).mean() + _squared_norms(D, fake).pow(p / 2).mean())


def r1_penalty(D: nn.Module | Callable[[Tensor], Tensor], real: Tensor, fake: Tensor | None = None) -> Tensor:
    r"""The R1 regulariser (unweighted by :math:`\gamma`): the squared gradient norm on the *real* data.

    .. math:: R_1 = \frac{\gamma}{2}\, \mathbb{E}_{x \sim p_{data}}\big[\lVert \nabla D(x) \rVert_2^2\big]
        \quad\text{(this function returns it for } \gamma = 1)

    At the equilibrium :math:`p_g = p_{data}` the discriminator should be flat on the data; R1 penalises any slope
    there, which makes the GAN dynamics locally convergent. Mescheder, Geiger & Nowozin, *Which Training Methods for
    GANs do actually Converge?*, ICML 2018 (:math:`\gamma = 10` in many of their experiments; the registered
    ``"r1"`` uses it as ``default_weight``).

    Args:
        D: the discriminator; real: ``Tensor[N, ...]``; fake: ignored.
    """
    real = _check_batch(real, "real")
    return 0.5 * _squared_norms(D, real).mean()


def r2_penalty(D: nn.Module | Callable[[Tensor], Tensor], real: Tensor, fake: Tensor) -> Tensor:
    r"""The R2 regulariser (unweighted by :math:`\gamma`): R1 on the generated samples,
    :math:`\tfrac12\, \mathbb{E}_{\tilde x \sim p_g}[\lVert \nabla D(\tilde x)\rVert_2^2]` (Mescheder et al. 2018).
    ``real`` is ignored."""
    _check_batch(real, "real")
    fake = _check_batch(fake, "fake")
    return 0.5 * _squared_norms(D, fake).mean()


# ----------------------------------------------------------------------------------------------------------------
# Configured penalties and the registry
# ----------------------------------------------------------------------------------------------------------------
class Penalty:
    """A penalty function with its settings: ``penalty(D, real, fake)`` returns the *unweighted* value.

    Args:
        name: the registry name (shown in the trainer's printed config and checkpoints).
        fn: one of the functions above.
        default_weight: the paper's :math:`\\lambda`, used by the trainer when ``TrainerConfig.penalty_weight`` is
            ``None``.
        generator: optional ``torch.Generator`` for the random points (only for penalties that draw any).
        **kwargs: keyword arguments for ``fn`` (``target``, ``c``, ``p``, ``samples``).

    ``weighted(D, real, fake)`` returns ``default_weight * penalty(D, real, fake)``, for a loop of one's own.
    ``state_dict()`` holds the generator's state (empty without one).
    """

    def __init__(
        self,
        name: str,
        fn: PenaltyFn,
        default_weight: float = 1.0,
        generator: torch.Generator | None = None,
        **kwargs: Any,
    ) -> None:
        if not isinstance(name, str) or not name:
            raise TypeError(f"name must be a non-empty str, got {name!r}.")
        if not callable(fn):
            raise TypeError(f"fn must be callable, got {type(fn).__name__}.")
        self.name = name
        self.fn = fn
        self.default_weight = _check_positive(default_weight, "weight", allow_zero=True)
        self.generator = _check_generator(generator)
        self.kwargs = dict(kwargs)
        if self.generator is not None:
            self.kwargs["generator"] = self.generator

    def __call__(self, D: nn.Module | Callable[[Tensor], Tensor], real: Tensor, fake: Tensor) -> Tensor:
        return self.fn(D, real, fake, **self.kwargs)

    def weighted(self, D: nn.Module | Callable[[Tensor], Tensor], real: Tensor, fake: Tensor) -> Tensor:
        """:math:`\\lambda R` with :math:`\\lambda` = ``default_weight``."""
        return self.default_weight * self(D, real, fake)

    def state_dict(self) -> dict[str, Any]:
        return {} if self.generator is None else {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self.generator is not None and "generator" in state:
            self.generator.set_state(state["generator"])

    def __repr__(self) -> str:
        extra = "".join(f", {k}={v!r}" for k, v in self.kwargs.items() if k != "generator")
        gen = ", generator=<torch.Generator>" if self.generator is not None else ""
        return f"Penalty({self.name!r}, weight={self.default_weight:g}{extra}{gen})"


_PENALTIES: dict[str, tuple[Callable[..., Any], str]] = {}


def register_penalty(name: str, factory: Callable[..., Any], description: str = "") -> None:
    """Register ``factory(**kwargs) -> penalty`` under ``name``; :func:`get_penalty` calls it for every lookup,
    so each trainer gets its own object (its own generator or running averages). Registering the same factory
    again is allowed; another one under a taken name raises ``ValueError``."""
    if not isinstance(name, str) or not name:
        raise TypeError(f"name must be a non-empty str, got {name!r}.")
    if not callable(factory):
        raise TypeError(f"factory must be callable, got {type(factory).__name__}.")
    old = _PENALTIES.get(name)
    if old is not None and old[0] is not factory:
        raise ValueError(f"a penalty named {name!r} is already registered with a different factory.")
    _PENALTIES[name] = (factory, description)


def _import_all() -> None:
    """Import the modules that register more penalties (no import-time side effects elsewhere)."""
    import importlib

    importlib.import_module("course_lib.gan.regularizers")


def get_penalty(name_or_penalty: str | Callable[..., Tensor], **kwargs: Any) -> Callable[..., Tensor]:
    """A new penalty object for a registered name, e.g. ``get_penalty("wgan_gp")`` or
    ``get_penalty("wgan_div", p=2.0, weight=1.0)`` (``weight`` sets ``default_weight``; the other keywords go to
    the function); a callable passed in is returned unchanged."""
    if isinstance(name_or_penalty, str):
        if name_or_penalty not in _PENALTIES:
            _import_all()
        if name_or_penalty not in _PENALTIES:
            raise ValueError(f"unknown penalty {name_or_penalty!r}; registered: {', '.join(list_penalties())}.")
        return _PENALTIES[name_or_penalty][0](**kwargs)
    if callable(name_or_penalty):
        if kwargs:
            raise TypeError("keyword arguments only apply to a penalty looked up by name.")
        return name_or_penalty
    raise TypeError(
        f"expected a penalty name (str) or a callable penalty(D, real, fake), got {type(name_or_penalty).__name__}."
    )


def list_penalties() -> list[str]:
    """The registered penalty names, sorted."""
    _import_all()
    return sorted(_PENALTIES)


def penalty_description(name: str) -> str:
    """The one-line description a penalty was registered with."""
    if name not in _PENALTIES:
        _import_all()
    if name not in _PENALTIES:
        raise ValueError(f"unknown penalty {name!r}; registered: {', '.join(list_penalties())}.")
    return _PENALTIES[name][1]


def _builtin(name: str, fn: PenaltyFn, weight: float) -> Callable[..., Penalty]:
    def factory(weight: float = weight, generator: torch.Generator | None = None, **kwargs: Any) -> Penalty:
        return Penalty(name, fn, weight, generator, **kwargs)

    factory.__name__ = factory.__qualname__ = f"make_{name}_penalty"
    return factory


def _builtin_no_rng(name: str, fn: PenaltyFn, weight: float) -> Callable[..., Penalty]:
    def factory(weight: float = weight, **kwargs: Any) -> Penalty:
        return Penalty(name, fn, weight, None, **kwargs)

    factory.__name__ = factory.__qualname__ = f"make_{name}_penalty"
    return factory


register_penalty(
    "wgan_gp", _builtin("wgan_gp", gradient_penalty, 10.0),
    "Gulrajani et al. (2017): E (||grad D(x_hat)|| - 1)^2 on real-fake interpolates, lambda = 10.",
)
register_penalty(
    "dragan", _builtin("dragan", dragan_penalty, 10.0),
    "Kodali et al. (2017): E (||grad D(x_hat)|| - 1)^2 around x + 0.5 std(x) U[0,1), lambda = 10.",
)
register_penalty(
    "wgan_div", _builtin("wgan_div", wgan_div_penalty, 2.0),
    "Wu et al. (2018): E ||grad D(x_hat)||^p on interpolates, p = 6, k = 2.",
)
register_penalty(
    "r1", _builtin_no_rng("r1", r1_penalty, 10.0),
    "Mescheder et al. (2018): gamma/2 E ||grad D(x)||^2 on real data, gamma = 10.",
)
register_penalty(
    "r2", _builtin_no_rng("r2", r2_penalty, 10.0),
    "Mescheder et al. (2018): gamma/2 E ||grad D(G(z))||^2 on generated data, gamma = 10.",
)
