"""GAN losses as pure functions of discriminator LOGITS, and a registry of (discriminator, generator) loss pairs.

The discriminator outputs a logit :math:`\\ell`; its probability that the input is real is
:math:`D = \\sigma(\\ell)`. Every loss here is written with two numerically stable identities,

.. math::
    -\\log \\sigma(\\ell) = \\operatorname{softplus}(-\\ell), \\qquad
    -\\log(1 - \\sigma(\\ell)) = \\operatorname{softplus}(\\ell),

(because :math:`1 - \\sigma(\\ell) = \\sigma(-\\ell)`), never as ``log(sigmoid(l))``: at :math:`\\ell = -100` in
float32, ``sigmoid`` underflows to 0 and its log is ``-inf``, while ``softplus(100) = 100`` exactly.

Logits may be shaped ``(N,)`` or ``(N, 1)``; a patch discriminator's ``(N, 1, H, W)`` output should be flattened
first (the mean over all patches is then the mean of the flattened vector). The real and the fake batch may have
different sizes. Each loss is a mean over its batch.

A :class:`GANLoss` pairs a discriminator loss ``d_loss(real_logits, fake_logits)`` with a generator loss
``g_loss(fake_logits, real_logits)``; the generator's ``real_logits`` argument is unused by the losses of this
module and there for the relativistic losses of chapter 5. Registered pairs: ``"minimax"`` and ``"non_saturating"``.

Reference: Goodfellow et al., *Generative Adversarial Nets*, NeurIPS 2014 (Eq. 1 and the remark after it, on
maximising :math:`\\log D(G(z))` instead of minimising :math:`\\log(1 - D(G(z)))`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "d_loss_minimax",
    "g_loss_saturating",
    "g_loss_non_saturating",
    "generator_gradient_wrt_logit",
    "GANLoss",
    "register_gan_loss",
    "get_gan_loss",
    "list_gan_losses",
]

DLoss = Callable[[Tensor, Tensor], Tensor]
GLoss = Callable[..., Tensor]


def _check_logits(logits: object, name: str) -> Tensor:
    """Validate a batch of logits, ``(N,)`` or ``(N, 1)`` with ``N >= 1``, and return it as ``(N,)``."""
    if not isinstance(logits, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of logits, got {type(logits).__name__}.")
    if not logits.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor of logits, got dtype {logits.dtype}.")
    if logits.ndim == 2 and logits.shape[1] == 1:
        logits = logits[:, 0]  # (N, 1) -> (N,)
    elif logits.ndim != 1:
        raise ValueError(
            f"{name} must have shape (N,) or (N, 1), got {tuple(logits.shape)}; "
            "flatten a patch discriminator's output first."
        )
    if logits.shape[0] == 0:
        raise ValueError(f"{name} is an empty batch; a mean over zero samples is undefined.")
    return logits


def _check_pair(real_logits: Tensor, fake_logits: Tensor) -> None:
    if real_logits.device != fake_logits.device:
        raise ValueError(
            f"real_logits and fake_logits must be on the same device, got {real_logits.device} and "
            f"{fake_logits.device}."
        )


# --------------------------------------------------------------------------------------------------------------
# The losses
# --------------------------------------------------------------------------------------------------------------
def d_loss_minimax(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """The discriminator's loss of the original GAN: minus the value function :math:`V(D, G)` on a batch.

    .. math::
        L_D = -\\mathbb{E}_{x}[\\log D(x)] - \\mathbb{E}_{z}[\\log(1 - D(G(z)))]
            = \\operatorname{mean}\\, \\operatorname{softplus}(-\\ell_{\\text{real}})
            + \\operatorname{mean}\\, \\operatorname{softplus}(\\ell_{\\text{fake}})

    This is binary cross-entropy with label 1 on real and 0 on fake samples, each batch averaged separately.

    Args:
        real_logits: ``Tensor[N]`` or ``Tensor[N, 1]``, logits of :math:`D` on real samples.
        fake_logits: ``Tensor[M]`` or ``Tensor[M, 1]``, logits on generated samples (``M`` may differ from ``N``).

    Returns:
        0-d tensor, in the promoted dtype of the logits.
    """
    real_logits = _check_logits(real_logits, "real_logits")
    fake_logits = _check_logits(fake_logits, "fake_logits")
    _check_pair(real_logits, fake_logits)
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()  # -E log D(x) - E log(1 - D(G(z)))


def g_loss_saturating(fake_logits: Tensor, real_logits: Tensor | None = None) -> Tensor:
    """The generator's loss of the minimax game, which saturates early in training.

    .. math::
        L_G^{\\text{sat}} = \\mathbb{E}_{z}[\\log(1 - D(G(z)))]
                          = -\\operatorname{mean}\\, \\operatorname{softplus}(\\ell_{\\text{fake}})

    The generator minimises it. Its gradient with respect to a logit is :math:`-D(G(z)) / M` (see
    :func:`generator_gradient_wrt_logit`), which vanishes when the discriminator confidently rejects the fakes
    (:math:`D(G(z)) \\to 0`), exactly when the generator most needs a signal.

    Args:
        fake_logits: ``Tensor[M]`` or ``Tensor[M, 1]``, logits of :math:`D` on generated samples.
        real_logits: unused (accepted for a uniform signature with relativistic losses); validated if given.

    Returns:
        0-d tensor in ``(-inf, 0]``, in the dtype of ``fake_logits``.
    """
    fake_logits = _check_logits(fake_logits, "fake_logits")
    if real_logits is not None:
        _check_pair(_check_logits(real_logits, "real_logits"), fake_logits)
    return -F.softplus(fake_logits).mean()  # E log(1 - D(G(z))) = -E softplus(l)


def g_loss_non_saturating(fake_logits: Tensor, real_logits: Tensor | None = None) -> Tensor:
    """The non-saturating generator loss ("maximise :math:`\\log D(G(z))`" instead).

    .. math::
        L_G^{\\text{ns}} = -\\mathbb{E}_{z}[\\log D(G(z))]
                         = \\operatorname{mean}\\, \\operatorname{softplus}(-\\ell_{\\text{fake}})

    It has the same fixed point as the saturating loss but a gradient :math:`-(1 - D(G(z))) / M` with respect to
    each logit, which is largest when the discriminator rejects the fakes. This is binary cross-entropy of the fake
    logits with label 1.

    Args:
        fake_logits: ``Tensor[M]`` or ``Tensor[M, 1]``, logits of :math:`D` on generated samples.
        real_logits: unused (accepted for a uniform signature with relativistic losses); validated if given.

    Returns:
        0-d tensor in ``[0, inf)``, in the dtype of ``fake_logits``.
    """
    fake_logits = _check_logits(fake_logits, "fake_logits")
    if real_logits is not None:
        _check_pair(_check_logits(real_logits, "real_logits"), fake_logits)
    return F.softplus(-fake_logits).mean()  # -E log D(G(z)) = E softplus(-l)


_GRADIENT_KINDS = {"saturating": "saturating", "minimax": "saturating", "non_saturating": "non_saturating"}


def generator_gradient_wrt_logit(kind: str, d_values: Tensor) -> Tensor:
    """Derivative of the per-sample generator loss with respect to the discriminator's logit, as a function of D.

    With :math:`D = \\sigma(\\ell)` and :math:`\\sigma'(\\ell) = D (1 - D)`:

    .. math::
        \\frac{\\partial}{\\partial \\ell} \\log(1 - \\sigma(\\ell)) = -\\frac{D(1 - D)}{1 - D} = -D
        \\qquad \\text{(saturating)},

    .. math::
        \\frac{\\partial}{\\partial \\ell} \\big(-\\log \\sigma(\\ell)\\big) = -\\frac{D(1 - D)}{D} = -(1 - D)
        \\qquad \\text{(non-saturating)}.

    Early in training :math:`D(G(z)) \\approx 0`: the saturating gradient vanishes, the non-saturating one is
    about :math:`-1`. (For the batch mean, divide by the batch size.)

    Args:
        kind: ``"saturating"`` (alias ``"minimax"``) or ``"non_saturating"``.
        d_values: ``Tensor[*]`` of discriminator probabilities :math:`D(G(z)) \\in [0, 1]`, any shape.

    Returns:
        Tensor of the shape, dtype and device of ``d_values`` (integers promoted to the default float dtype).
    """
    if not isinstance(kind, str) or kind not in _GRADIENT_KINDS:
        raise ValueError(f"kind must be one of {sorted(_GRADIENT_KINDS)}, got {kind!r}.")
    if not isinstance(d_values, Tensor):
        raise TypeError(f"d_values must be a torch.Tensor, got {type(d_values).__name__}.")
    if not d_values.is_floating_point():
        d_values = d_values.to(torch.get_default_dtype())
    if torch.isnan(d_values).any():
        raise ValueError("d_values contains NaN.")
    if ((d_values < 0) | (d_values > 1)).any():
        raise ValueError(
            f"d_values must be probabilities in [0, 1] (apply a sigmoid to logits first), got values in "
            f"[{d_values.min().item():g}, {d_values.max().item():g}]."
        )
    if _GRADIENT_KINDS[kind] == "saturating":
        return -d_values  # d/dl log(1 - sigmoid(l)) = -D
    return -(1.0 - d_values)  # d/dl -log sigmoid(l) = -(1 - D)


# --------------------------------------------------------------------------------------------------------------
# The registry
# --------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class GANLoss:
    """A named pair of losses: ``d_loss(real_logits, fake_logits)`` and ``g_loss(fake_logits, real_logits)``.

    Both return a 0-d tensor that their player minimises.
    """

    name: str
    d_loss: DLoss
    g_loss: GLoss
    description: str = ""


_LOSSES: dict[str, GANLoss] = {}


def register_gan_loss(name: str, d_loss: DLoss, g_loss: GLoss, description: str = "") -> GANLoss:
    """Register a (discriminator, generator) loss pair under ``name`` and return the :class:`GANLoss`.

    Registering the same functions again under the same name is allowed (a module re-import); registering
    different functions under a taken name raises ``ValueError``.
    """
    if not isinstance(name, str) or not name:
        raise TypeError(f"name must be a non-empty str, got {name!r}.")
    if not callable(d_loss) or not callable(g_loss):
        raise TypeError(
            f"d_loss and g_loss must be callable, got {type(d_loss).__name__} and {type(g_loss).__name__}."
        )
    entry = GANLoss(name, d_loss, g_loss, description)
    old = _LOSSES.get(name)
    if old is not None and (old.d_loss is not d_loss or old.g_loss is not g_loss):
        raise ValueError(f"a GAN loss named {name!r} is already registered with different functions.")
    _LOSSES[name] = entry
    return entry


def get_gan_loss(name_or_object: str | GANLoss) -> GANLoss:
    """Look a loss pair up by name; a :class:`GANLoss` passed in is returned unchanged."""
    if isinstance(name_or_object, GANLoss):
        return name_or_object
    if not isinstance(name_or_object, str):
        raise TypeError(f"expected a loss name (str) or a GANLoss, got {type(name_or_object).__name__}.")
    if name_or_object not in _LOSSES:
        raise ValueError(f"unknown GAN loss {name_or_object!r}; registered: {', '.join(list_gan_losses())}.")
    return _LOSSES[name_or_object]


def list_gan_losses() -> list[str]:
    """The names of the registered loss pairs, sorted."""
    return sorted(_LOSSES)


register_gan_loss(
    "minimax",
    d_loss_minimax,
    g_loss_saturating,
    "Goodfellow et al. (2014) Eq. 1: D maximises V, G minimises E log(1 - D(G(z))) (saturates).",
)
register_gan_loss(
    "non_saturating",
    d_loss_minimax,
    g_loss_non_saturating,
    "Goodfellow et al. (2014): D as in the minimax game, G maximises E log D(G(z)) instead.",
)
