r"""Stabilisation tricks that are not a loss of their own: weight clipping, TTUR, and the "Improved Techniques".

Each one plugs into the one trainer (:class:`~course_lib.train.trainer.AdversarialTrainer`) without a new loop:

- **weight clipping** (Arjovsky et al. 2017): :class:`WeightClipping` is an ``after_d_step`` hook,
  ``AdversarialTrainer(..., after_d_step=[WeightClipping(0.01)])``;
- **two time-scale update rule** (Heusel et al. 2017; SAGAN): :func:`ttur_overrides` returns ``TrainerConfig``
  fields, ``TrainerConfig(**ttur_overrides(), ...)``; :func:`wgan_overrides` and :func:`wgan_gp_overrides` do the
  same for the two WGAN recipes;
- **one-sided label smoothing** (Salimans et al. 2016): the registered loss ``"non_saturating_ls"``, or
  :func:`one_sided_label_smoothing` for another target;
- **feature matching** (Salimans et al. 2016): :class:`FeatureMatchingLoss`, a loss object that reads an
  intermediate layer of ``D`` through a forward hook (``TrainerConfig(loss=FeatureMatchingLoss(D.features))``);
- **minibatch discrimination** (Salimans et al. 2016): :class:`MinibatchDiscrimination`, a layer to put in ``D``;
- **historical averaging** (Salimans et al. 2016): :class:`HistoricalAveraging`, a penalty on ``D``'s parameters
  (``TrainerConfig(penalty="historical_averaging")``), and :class:`HistoricalAveragingLoss` for ``G``'s.

Salimans et al. propose five techniques; the fifth, virtual batch normalization (Section 3.5: each example
normalised with the statistics of a fixed reference batch and of itself), is not implemented here.

Reference: Salimans et al., *Improved Techniques for Training GANs*, NeurIPS 2016, Section 3.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import torch
from torch import Tensor, nn

from course_lib.gan.losses import (
    GANLoss,
    d_loss_minimax,
    d_loss_one_sided_smoothing,
    g_loss_non_saturating,
    get_gan_loss,
)
from course_lib.gan.penalties import register_penalty

__all__ = [
    "clip_weights_",
    "WeightClipping",
    "ttur_overrides",
    "wgan_overrides",
    "wgan_gp_overrides",
    "one_sided_label_smoothing",
    "feature_matching_loss",
    "FeatureMatchingLoss",
    "MinibatchDiscrimination",
    "minibatch_features",
    "HistoricalAverage",
    "HistoricalAveraging",
    "HistoricalAveragingLoss",
]


def _check_positive(value: object, name: str, allow_zero: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}.")
    value = float(value)
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"{name} must be a finite number {'>=' if allow_zero else '>'} 0, got {value!r}.")
    return value


def _check_int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name} must be a positive int, got {value!r}.")
    return value


# ----------------------------------------------------------------------------------------------------------------
# Weight clipping (WGAN)
# ----------------------------------------------------------------------------------------------------------------
@torch.no_grad()
def clip_weights_(module: nn.Module, c: float = 0.01) -> nn.Module:
    r"""Clamp every parameter of ``module`` into :math:`[-c, c]`, in place, and return ``module``.

    .. math:: w \leftarrow \operatorname{clip}(w, -c, c) \quad \text{for every parameter } w

    WGAN's crude way of keeping the critic in a compact set of functions, hence :math:`K`-Lipschitz for some
    :math:`K` (Arjovsky et al., *Wasserstein GAN*, ICML 2017, Algorithm 1, line 7: :math:`c = 0.01`). All
    parameters are clipped, biases and normalisation scales included, as in the paper's code. Under a weight
    parametrization (spectral norm) the stored ``original`` is what gets clipped.
    """
    if not isinstance(module, nn.Module):
        raise TypeError(f"module must be a torch.nn.Module, got {type(module).__name__}.")
    c = _check_positive(c, "c")
    for p in module.parameters():
        p.clamp_(-c, c)
    return module


class WeightClipping:
    """An ``after_d_step`` hook that clips the discriminator's weights to :math:`[-c, c]` after every update.

    ``AdversarialTrainer(G, D, data, TrainerConfig(**wgan_overrides()), after_d_step=[WeightClipping(0.01)])``.
    Called with a trainer it clips ``trainer.D``; called with a module it clips that module.
    """

    def __init__(self, c: float = 0.01) -> None:
        self.c = _check_positive(c, "c")

    def __call__(self, trainer_or_module: Any) -> None:
        module = trainer_or_module
        if not isinstance(module, nn.Module):
            module = getattr(trainer_or_module, "D", None)
        if not isinstance(module, nn.Module):
            raise TypeError(
                "WeightClipping must be called with a trainer (having a .D module) or a module, got "
                f"{type(trainer_or_module).__name__}."
            )
        clip_weights_(module, self.c)

    def __repr__(self) -> str:
        return f"WeightClipping(c={self.c:g})"


# ----------------------------------------------------------------------------------------------------------------
# Optimizer recipes: TrainerConfig overrides
# ----------------------------------------------------------------------------------------------------------------
def _check_betas(betas: object) -> tuple[float, float]:
    if (
        not isinstance(betas, (tuple, list))
        or len(betas) != 2
        or not all(isinstance(b, (int, float)) and not isinstance(b, bool) and 0 <= b < 1 for b in betas)
    ):
        raise ValueError(f"betas must be two numbers in [0, 1), got {betas!r}.")
    return float(betas[0]), float(betas[1])


def ttur_overrides(lr_d: float = 4e-4, lr_g: float = 1e-4, betas: tuple[float, float] = (0.0, 0.9)) -> dict[str, Any]:
    r"""The two time-scale update rule as ``TrainerConfig`` fields: a faster discriminator.

    With separate learning rates :math:`a(n) = o(b(n))` for the generator (:math:`a`) and the discriminator
    (:math:`b`), the discriminator tracks its optimum and training converges to a local Nash equilibrium
    (Heusel et al., *GANs Trained by a Two Time-Scale Update Rule Converge to a Local Nash Equilibrium*, NeurIPS
    2017, Theorem 1). The defaults are SAGAN's (Zhang et al. 2019): Adam, :math:`lr_D = 4\cdot10^{-4}`,
    :math:`lr_G = 10^{-4}`, :math:`\beta = (0, 0.9)`.

    Returns:
        ``{"optimizer": "adam", "lr_d": ..., "lr_g": ..., "betas": ...}``, for ``TrainerConfig(**overrides, ...)`` or
        ``dataclasses.replace(config, **overrides)``.
    """
    return {
        "optimizer": "adam",
        "lr_d": _check_positive(lr_d, "lr_d"),
        "lr_g": _check_positive(lr_g, "lr_g"),
        "betas": _check_betas(betas),
    }


def wgan_overrides() -> dict[str, Any]:
    """WGAN's Algorithm 1 as ``TrainerConfig`` fields: loss ``"wgan"``, RMSProp with learning rate 5e-5, 5 critic
    updates per generator update (Arjovsky et al. 2017). Add the clipping hook yourself:
    ``after_d_step=[WeightClipping(0.01)]`` (batch size 64 in the paper)."""
    return {"loss": "wgan", "optimizer": "rmsprop", "lr_d": 5e-5, "lr_g": 5e-5, "n_critic": 5}


def wgan_gp_overrides() -> dict[str, Any]:
    """WGAN-GP's Algorithm 1 as ``TrainerConfig`` fields: loss ``"wgan"``, penalty ``"wgan_gp"`` (lambda 10),
    ``n_critic = 5``, Adam(1e-4, betas (0, 0.9)) (Gulrajani et al. 2017). No batch norm in the critic."""
    return {
        "loss": "wgan",
        "penalty": "wgan_gp",
        "n_critic": 5,
        "optimizer": "adam",
        "lr_d": 1e-4,
        "lr_g": 1e-4,
        "betas": (0.0, 0.9),
    }


# ----------------------------------------------------------------------------------------------------------------
# One-sided label smoothing
# ----------------------------------------------------------------------------------------------------------------
def one_sided_label_smoothing(real_label: float = 0.9, g_loss: Callable[..., Tensor] = g_loss_non_saturating
                              ) -> GANLoss:
    r"""A :class:`~course_lib.gan.losses.GANLoss` whose discriminator uses real targets :math:`\alpha` (0.9), fakes 0.

    .. math:: L_D = \operatorname{BCE}(\ell_{\text{real}}, \alpha) + \operatorname{BCE}(\ell_{\text{fake}}, 0)

    (see :func:`~course_lib.gan.losses.d_loss_one_sided_smoothing`; Salimans et al. 2016, Section 3.4). With the
    defaults it is the registered ``"non_saturating_ls"``; other values give an unregistered loss of that name with
    the value in brackets.
    """
    if isinstance(real_label, bool) or not isinstance(real_label, (int, float)):
        raise TypeError(f"real_label must be a number, got {type(real_label).__name__}.")
    if not 0.0 < real_label <= 1.0:
        raise ValueError(f"real_label must be in (0, 1], got {real_label!r}.")
    if not callable(g_loss):
        raise TypeError(f"g_loss must be callable, got {type(g_loss).__name__}.")
    if real_label == 0.9 and g_loss is g_loss_non_saturating:
        return get_gan_loss("non_saturating_ls")
    alpha = float(real_label)

    def d_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
        return d_loss_one_sided_smoothing(real_logits, fake_logits, alpha)

    return GANLoss(f"non_saturating_ls({alpha:g})", d_loss, g_loss,
                   f"Salimans et al. (2016): one-sided label smoothing, real target {alpha:g}.")


# ----------------------------------------------------------------------------------------------------------------
# Feature matching
# ----------------------------------------------------------------------------------------------------------------
def feature_matching_loss(real_features: Tensor, fake_features: Tensor) -> Tensor:
    r"""The feature-matching generator loss: squared distance between mean intermediate features.

    .. math::
        L_G = \big\lVert \mathbb{E}_{x} f(x) - \mathbb{E}_{z} f(G(z)) \big\rVert_2^2

    with :math:`f` an intermediate layer of the discriminator (Salimans et al. 2016, Section 3.1). The generator
    matches the statistics the discriminator finds most telling instead of maximising its output. The real features
    are treated as constants (no gradient flows into them).

    Args:
        real_features: ``Tensor[N, ...]`` (flattened to ``(N, F)``).
        fake_features: ``Tensor[M, ...]`` with the same per-sample shape.

    Returns:
        0-d tensor, :math:`\ge 0`.
    """
    for name, t in (("real_features", real_features), ("fake_features", fake_features)):
        if not isinstance(t, Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}.")
        if not t.is_floating_point():
            raise TypeError(f"{name} must be a floating-point tensor, got dtype {t.dtype}.")
        if t.ndim < 1 or t.shape[0] == 0:
            raise ValueError(f"{name} must be a non-empty batch (N, ...), got shape {tuple(t.shape)}.")
    if real_features.shape[1:] != fake_features.shape[1:]:
        raise ValueError(
            "real_features and fake_features must have the same per-sample shape, got "
            f"{tuple(real_features.shape[1:])} and {tuple(fake_features.shape[1:])}."
        )
    mean_real = real_features.detach().flatten(1).mean(dim=0)  # (F,)
    mean_fake = fake_features.flatten(1).mean(dim=0)  # (F,)
    return (mean_real.to(mean_fake.dtype) - mean_fake).square().sum()


class FeatureMatchingLoss:
    r"""Feature matching as a loss object for the trainer: the discriminator keeps ``d_loss``; the generator
    minimises :func:`feature_matching_loss` on the output of ``feature_layer``.

    The contract on ``D``: ``feature_layer`` is a submodule that ``D.forward`` calls exactly once per forward pass
    (for instance ``D.features``, the layers up to the last hidden one), returning ``(N, ...)``. The object registers
    a forward hook on it that remembers what it returned. In the generator step the trainer computes
    ``D(G(z))`` and then, because ``needs_real_logits = True``, ``D(x)``: the last two captures are the fake and the
    real features, in that order, and ``g_loss`` uses them (the logits are not used). Call :meth:`remove` to detach
    the hook.

    Args:
        feature_layer: the submodule of ``D`` whose output is :math:`f`.
        d_loss: the discriminator's loss (the standard one, :func:`~course_lib.gan.losses.d_loss_minimax`).
    """

    needs_real_logits = True

    def __init__(self, feature_layer: nn.Module, d_loss: Callable[[Tensor, Tensor], Tensor] = d_loss_minimax) -> None:
        if not isinstance(feature_layer, nn.Module):
            raise TypeError(f"feature_layer must be a torch.nn.Module, got {type(feature_layer).__name__}.")
        if not callable(d_loss):
            raise TypeError(f"d_loss must be callable, got {type(d_loss).__name__}.")
        self.name = "feature_matching"
        self.description = "Salimans et al. (2016): G matches the mean features of an intermediate D layer."
        self._d_loss = d_loss
        self._captured: list[Tensor] = []
        self._handle = feature_layer.register_forward_hook(self._capture)

    def _capture(self, module: nn.Module, inputs: Any, output: Tensor) -> None:
        if not isinstance(output, Tensor):
            raise TypeError(f"the feature layer must return a Tensor, got {type(output).__name__}.")
        self._captured = (self._captured + [output])[-2:]  # only the last two are ever needed

    def d_loss(self, real_logits: Tensor, fake_logits: Tensor) -> Tensor:
        """The discriminator's loss, unchanged (it also forgets the captured features)."""
        self._captured = []
        return self._d_loss(real_logits, fake_logits)

    def g_loss(self, fake_logits: Tensor, real_logits: Tensor | None = None) -> Tensor:
        """:math:`\\lVert \\overline{f(x)} - \\overline{f(G(z))} \\rVert^2` from the last two forward passes of D."""
        if len(self._captured) < 2 or real_logits is None:
            raise RuntimeError(
                "feature matching needs the features of D(G(z)) and then of D(x): call D on the fakes, then on the "
                "reals, before g_loss (the trainer does this because needs_real_logits = True)."
            )
        fake_features, real_features = self._captured
        self._captured = []
        return feature_matching_loss(real_features, fake_features)

    def remove(self) -> None:
        """Remove the forward hook from the feature layer."""
        self._handle.remove()
        self._captured = []


# ----------------------------------------------------------------------------------------------------------------
# Minibatch discrimination
# ----------------------------------------------------------------------------------------------------------------
def minibatch_features(m: Tensor, exclude_self: bool = False) -> Tensor:
    r"""The minibatch features :math:`o(x_i)_b = \sum_j \exp(-\lVert M_{i,b} - M_{j,b} \rVert_{L_1})`.

    Args:
        m: ``Tensor[N, B, C]``, the rows :math:`M_i = f(x_i)\, T` reshaped to ``B`` kernels of dimension ``C``.
        exclude_self: drop the :math:`j = i` term (which is always :math:`e^0 = 1`); the paper sums over all
            :math:`j`.

    Returns:
        ``Tensor[N, B]``.
    """
    if not isinstance(m, Tensor) or m.ndim != 3:
        shape = tuple(m.shape) if isinstance(m, Tensor) else type(m).__name__
        raise ValueError(f"m must be a Tensor of shape (N, B, C), got {shape}.")
    l1 = (m.unsqueeze(1) - m.unsqueeze(0)).abs().sum(dim=3)  # (N, N, B): ||M_i,b - M_j,b||_1
    o = torch.exp(-l1).sum(dim=1)  # (N, B): sum over j
    return o - 1.0 if exclude_self else o


class MinibatchDiscrimination(nn.Module):
    r"""Minibatch discrimination: let the discriminator see how close a sample is to the rest of its batch.

    .. math::
        M_i = f(x_i)\, T \in \mathbb{R}^{B \times C}, \quad
        c_b(x_i, x_j) = \exp\big(-\lVert M_{i,b} - M_{j,b}\rVert_{L_1}\big), \quad
        o(x_i)_b = \sum_{j=1}^{N} c_b(x_i, x_j), \quad
        \text{output}_i = [f(x_i),\ o(x_i)] \in \mathbb{R}^{A + B}

    with :math:`T \in \mathbb{R}^{A \times B \times C}` learned. A collapsed generator makes every :math:`o(x_i)`
    large, which the next layer can detect (Salimans et al. 2016, Section 3.2). :math:`T` starts at
    :math:`\mathcal{N}(0, 0.05^2)` here (a choice: it keeps the first distances of order 1). It mixes the samples of
    a batch: do not combine it with a gradient penalty, and evaluate it on batches of similar size.

    Args:
        in_features: :math:`A`; out_features: :math:`B` (number of kernels); kernel_dims: :math:`C`.
        exclude_self: drop the :math:`j = i` term (a constant 1).

    Shapes: ``(N, A) -> (N, A + B)``.
    """

    def __init__(self, in_features: int, out_features: int, kernel_dims: int, exclude_self: bool = False) -> None:
        super().__init__()
        self.in_features = _check_int(in_features, "in_features")
        self.out_features = _check_int(out_features, "out_features")
        self.kernel_dims = _check_int(kernel_dims, "kernel_dims")
        if not isinstance(exclude_self, bool):
            raise TypeError(f"exclude_self must be a bool, got {type(exclude_self).__name__}.")
        self.exclude_self = exclude_self
        self.T = nn.Parameter(torch.empty(in_features, out_features, kernel_dims))  # (A, B, C)
        nn.init.normal_(self.T, mean=0.0, std=0.05)

    def forward(self, x: Tensor) -> Tensor:
        """``(N, A) -> (N, A + B)``."""
        if not isinstance(x, Tensor):
            raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}.")
        if x.ndim != 2 or x.shape[1] != self.in_features:
            raise ValueError(f"x must have shape (N, {self.in_features}), got {tuple(x.shape)}.")
        m = (x @ self.T.flatten(1)).view(x.shape[0], self.out_features, self.kernel_dims)  # (N, A)@(A, BC) -> (N, B, C)
        return torch.cat([x, minibatch_features(m, self.exclude_self)], dim=1)  # (N, A + B)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, kernel_dims={self.kernel_dims}, "
                f"exclude_self={self.exclude_self}")


# ----------------------------------------------------------------------------------------------------------------
# Historical averaging
# ----------------------------------------------------------------------------------------------------------------
class HistoricalAverage:
    r"""The running mean of a module's past parameter values and the distance to it.

    .. math::
        R(\theta_t) = \Big\lVert \theta_t - \frac{1}{t} \sum_{i=0}^{t-1} \theta_i \Big\rVert_2^2, \qquad
        \bar\theta_{t+1} = \bar\theta_t + \frac{\theta_t - \bar\theta_t}{t + 1}

    (Salimans et al. 2016, Section 3.3; :math:`R = 0` before any value was recorded). The sum runs over all
    trainable parameters of the module. :meth:`term` computes :math:`R` (differentiable in :math:`\theta_t`);
    :meth:`update` records :math:`\theta_t` (detached).
    """

    def __init__(self) -> None:
        self.count = 0
        self.means: list[Tensor] = []

    @staticmethod
    def _params(module: nn.Module) -> list[Tensor]:
        if not isinstance(module, nn.Module):
            raise TypeError(f"module must be a torch.nn.Module, got {type(module).__name__}.")
        return [p for p in module.parameters() if p.requires_grad]

    def term(self, module: nn.Module) -> Tensor:
        params = self._params(module)
        if not params:
            raise ValueError("the module has no trainable parameters to average.")
        if self.count == 0:  # nothing recorded yet: R = 0, written so that it still has a (zero) gradient
            return sum((p - p.detach()).square().sum() for p in params)
        if len(params) != len(self.means) or any(p.shape != m.shape for p, m in zip(params, self.means)):
            raise ValueError("the module's parameters changed shape since the average was started.")
        return sum((p - m).square().sum() for p, m in zip(params, self.means))

    @torch.no_grad()
    def update(self, module: nn.Module) -> None:
        params = self._params(module)
        if self.count == 0:
            self.means = [p.detach().clone() for p in params]
        else:
            for m, p in zip(self.means, params):
                m.add_(p.detach() - m, alpha=1.0 / (self.count + 1))
        self.count += 1

    def state_dict(self) -> dict[str, Any]:
        return {"count": self.count, "means": [m.clone() for m in self.means]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.count = int(state["count"])
        self.means = [m.clone() for m in state["means"]]


class HistoricalAveraging(HistoricalAverage):
    """Historical averaging of the *discriminator* as a penalty: ``penalty(D, real, fake)`` returns :math:`R` for
    ``D``'s parameters and then records them. Use ``TrainerConfig(penalty="historical_averaging")`` (its
    ``default_weight`` is ``weight``, 1 unless given); ``real`` and ``fake`` are not used. Its running average is
    saved in the trainer's checkpoints (``state_dict``)."""

    name = "historical_averaging"

    def __init__(self, weight: float = 1.0) -> None:
        super().__init__()
        self.default_weight = _check_positive(weight, "weight", allow_zero=True)

    def __call__(self, D: nn.Module, real: Tensor | None = None, fake: Tensor | None = None) -> Tensor:
        value = self.term(D)
        self.update(D)
        return value

    def __repr__(self) -> str:
        return f"HistoricalAveraging(weight={self.default_weight:g}, count={self.count})"


class HistoricalAveragingLoss:
    """Historical averaging of the *generator*: wraps a loss so that ``g_loss`` adds ``weight * R(G)``.

    ``TrainerConfig(loss=HistoricalAveragingLoss("non_saturating", G, weight=1.0))``. ``d_loss`` and
    ``needs_real_logits`` are the wrapped loss's. :math:`R` uses ``G``'s parameters at the time of the call, then
    records them (once per generator step).
    """

    def __init__(self, loss: Any, generator: nn.Module, weight: float = 1.0) -> None:
        self.base = get_gan_loss(loss)
        if not isinstance(generator, nn.Module):
            raise TypeError(f"generator must be a torch.nn.Module, got {type(generator).__name__}.")
        self.generator = generator
        self.weight = _check_positive(weight, "weight", allow_zero=True)
        self.average = HistoricalAverage()
        self.name = f"{getattr(self.base, 'name', 'loss')}+historical_averaging"
        self.needs_real_logits = bool(getattr(self.base, "needs_real_logits", False))

    def d_loss(self, real_logits: Tensor, fake_logits: Tensor) -> Tensor:
        return self.base.d_loss(real_logits, fake_logits)

    def g_loss(self, fake_logits: Tensor, real_logits: Tensor | None = None) -> Tensor:
        loss = self.base.g_loss(fake_logits, real_logits)
        reg = self.average.term(self.generator)
        self.average.update(self.generator)
        return loss + self.weight * reg.to(loss.dtype)

    def state_dict(self) -> dict[str, Any]:
        return self.average.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.average.load_state_dict(state)


register_penalty(
    "historical_averaging",
    HistoricalAveraging,
    "Salimans et al. (2016): ||theta_D - mean of past theta_D||^2 on the discriminator's parameters.",
)
