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
different sizes (except for RSGAN, which pairs them). Each loss is a mean over its batch.

A :class:`GANLoss` pairs a discriminator loss ``d_loss(real_logits, fake_logits)`` with a generator loss
``g_loss(fake_logits, real_logits)``. Most generator losses ignore ``real_logits``; the relativistic and Softmax GAN
losses need them and say so with ``needs_real_logits = True``, which makes the trainer compute :math:`D(x)` in the
generator step too.

Registered pairs (chapter 2, then chapter 5's zoo; ``list_gan_losses()`` is the authority):

=====================  ==========================================================================================
``minimax``            Goodfellow et al. (2014), Eq. 1
``non_saturating``     Goodfellow et al. (2014), Section 3
``non_saturating_ls``  the same with one-sided label smoothing, real target 0.9 (Salimans et al. 2016, Sec. 3.4)
``wgan``               Arjovsky et al. (2017): a critic, no sigmoid, no log (needs a Lipschitz constraint)
``hinge``              Lim & Ye (2017), Miyato et al. (2018), SAGAN (Zhang et al. 2019)
``lsgan``              Mao et al. (2017), 0-1-1 coding; ``lsgan_pearson``: the -1-1-0 coding (Pearson chi^2)
``rsgan``, ``ragan``   Jolicoeur-Martineau (2019): relativistic standard and relativistic average GAN
``softmax_gan``        Lin (2017)
``bgan``               Hjelm et al. (2018), boundary-seeking GAN
``ebgan``              Zhao et al. (2017), margin loss on an autoencoder energy (margin 1)
``began``              Berthelot et al. (2017), a *stateful* loss object (:class:`BEGANLoss`): a fresh one per lookup
=====================  ==========================================================================================

Discriminator contracts. Every loss except EBGAN and BEGAN works with the plain discriminator of the course, one
real number per sample (a logit, or a critic value for ``wgan``/``hinge``/``lsgan``). EBGAN and BEGAN need an
*energy*: the discriminator is an autoencoder and returns, per sample, its reconstruction error
(:class:`AutoencoderEnergy` wraps an autoencoder into such a ``D``). The trainer passes whatever ``D`` returns to the
loss, so nothing else changes; only ``d_real``/``d_fake`` in its logs (``sigmoid`` of the outputs) lose their
meaning of probabilities.

Stateful losses. BEGAN's control variable :math:`k_t` changes after every discriminator update. A loss object may
therefore carry state and an ``after_d_step(trainer)`` method: the trainer runs it after each discriminator update
(before any other ``after_d_step`` hook), and saves and restores the object's ``state_dict()`` in its checkpoints.

Reference: Goodfellow et al., *Generative Adversarial Nets*, NeurIPS 2014 (Eq. 1 and the remark after it, on
maximising :math:`\\log D(G(z))` instead of minimising :math:`\\log(1 - D(G(z)))`); the chapter 5 papers are cited
at each function.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "d_loss_minimax",
    "g_loss_saturating",
    "g_loss_non_saturating",
    "generator_gradient_wrt_logit",
    # chapter 5
    "d_loss_one_sided_smoothing",
    "d_loss_wasserstein",
    "g_loss_wasserstein",
    "d_loss_hinge",
    "g_loss_hinge",
    "d_loss_least_squares",
    "g_loss_least_squares",
    "d_loss_lsgan_pearson",
    "g_loss_lsgan_pearson",
    "d_loss_rsgan",
    "g_loss_rsgan",
    "d_loss_ragan",
    "g_loss_ragan",
    "d_loss_softmax_gan",
    "g_loss_softmax_gan",
    "g_loss_boundary_seeking",
    "d_loss_ebgan",
    "g_loss_ebgan",
    "ebgan_loss",
    "pulling_away_term",
    "autoencoder_energy",
    "AutoencoderEnergy",
    "d_loss_began",
    "g_loss_began",
    "began_k_update",
    "began_convergence",
    "BEGANLoss",
    # registry
    "GANLoss",
    "register_gan_loss",
    "register_gan_loss_factory",
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
# Chapter 5: the loss zoo
# --------------------------------------------------------------------------------------------------------------
def _check_pair_logits(real_logits: object, fake_logits: object) -> tuple[Tensor, Tensor]:
    """Validate both batches, check they share a device, and return them as ``(N,)``, ``(M,)`` in one dtype."""
    real = _check_logits(real_logits, "real_logits")
    fake = _check_logits(fake_logits, "fake_logits")
    _check_pair(real, fake)
    dtype = torch.promote_types(real.dtype, fake.dtype)
    return real.to(dtype), fake.to(dtype)


def _check_same_batch(real: Tensor, fake: Tensor, who: str) -> None:
    if real.shape[0] != fake.shape[0]:
        raise ValueError(
            f"{who} pairs each real sample with one fake sample: real_logits and fake_logits must have the same "
            f"batch size, got {real.shape[0]} and {fake.shape[0]}."
        )


def _check_number(value: object, name: str, low: float = -math.inf, high: float = math.inf,
                  low_open: bool = False) -> float:
    """A finite real number in ``[low, high]`` (``(low, high]`` with ``low_open``), returned as a float."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}.")
    value = float(value)
    if not math.isfinite(value) or value > high or value < low or (low_open and value == low):
        interval = f"{'(' if low_open else '['}{low:g}, {high:g}]"
        raise ValueError(f"{name} must be a finite number in {interval}, got {value!r}.")
    return value


def _generator_side(fake_logits: object, real_logits: object | None) -> Tensor:
    """Validate the fake logits (and the real ones if given, for a uniform signature) and return the fake ones."""
    fake = _check_logits(fake_logits, "fake_logits")
    if real_logits is not None:
        _check_pair(_check_logits(real_logits, "real_logits"), fake)
    return fake


def _needs_real(real_logits: object | None, who: str) -> None:
    if real_logits is None:
        raise ValueError(
            f"the {who} generator loss compares fakes with reals: pass real_logits (the trainer does so when the "
            "loss has needs_real_logits = True)."
        )


# --- one-sided label smoothing (Salimans et al. 2016) -----------------------------------------------------------
def d_loss_one_sided_smoothing(real_logits: Tensor, fake_logits: Tensor, real_label: float = 0.9) -> Tensor:
    r"""The discriminator's binary cross-entropy with the *real* targets smoothed from 1 to :math:`\alpha`.

    .. math::
        L_D = -\mathbb{E}_x\big[\alpha \log D(x) + (1 - \alpha) \log(1 - D(x))\big]
              - \mathbb{E}_z\big[\log(1 - D(G(z)))\big]
            = \operatorname{mean}\big[\alpha\, \operatorname{softplus}(-\ell_{\text{real}})
              + (1 - \alpha)\, \operatorname{softplus}(\ell_{\text{real}})\big]
              + \operatorname{mean}\, \operatorname{softplus}(\ell_{\text{fake}})

    Only the positive targets are smoothed (hence *one-sided*): smoothing the fake targets to :math:`\beta > 0` would
    make the optimal discriminator :math:`(\alpha p_{data} + \beta p_g)/(p_{data} + p_g)`, which keeps rewarding
    the generator for samples where :math:`p_{data} = 0`. With smoothing, :math:`D^* = \alpha\, p_{data} /
    (p_{data} + p_g)` and its logit saturates less. Salimans et al., *Improved Techniques for Training GANs*,
    NeurIPS 2016, Section 3.4 (the value 0.9 is the common choice).

    Args:
        real_logits: ``Tensor[N]`` or ``Tensor[N, 1]``.
        fake_logits: ``Tensor[M]`` or ``Tensor[M, 1]``.
        real_label: :math:`\alpha \in (0, 1]`; 1 gives :func:`d_loss_minimax` exactly.

    Returns:
        0-d tensor.
    """
    alpha = _check_number(real_label, "real_label", 0.0, 1.0, low_open=True)
    real, fake = _check_pair_logits(real_logits, fake_logits)
    real_term = alpha * F.softplus(-real) + (1.0 - alpha) * F.softplus(real)  # BCE(l, alpha), per sample
    return real_term.mean() + F.softplus(fake).mean()


# --- WGAN (Arjovsky et al. 2017) --------------------------------------------------------------------------------
def d_loss_wasserstein(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    r"""The WGAN critic's loss: minus the Kantorovich-Rubinstein estimate of :math:`W_1`.

    .. math::
        L_C = \mathbb{E}_z[C(G(z))] - \mathbb{E}_x[C(x)]

    :math:`C` is a *critic*: a real-valued score with no sigmoid and no log. Minimising :math:`L_C` over
    1-Lipschitz critics gives :math:`-W_1(p_{data}, p_g)`, so the critic needs a Lipschitz constraint: weight
    clipping (:class:`course_lib.gan.regularizers.WeightClipping`), a gradient penalty
    (:mod:`course_lib.gan.penalties`) or spectral normalisation. Arjovsky, Chintala & Bottou, *Wasserstein
    Generative Adversarial Networks*, ICML 2017, Algorithm 1.

    Args:
        real_logits: ``Tensor[N]`` or ``Tensor[N, 1]``, critic values on real samples.
        fake_logits: ``Tensor[M]`` or ``Tensor[M, 1]``, critic values on generated samples.

    Returns:
        0-d tensor (any sign).
    """
    real, fake = _check_pair_logits(real_logits, fake_logits)
    return fake.mean() - real.mean()  # E C(G(z)) - E C(x)


def g_loss_wasserstein(fake_logits: Tensor, real_logits: Tensor | None = None) -> Tensor:
    r"""The WGAN generator's loss, :math:`L_G = -\mathbb{E}_z[C(G(z))]` (Arjovsky et al. 2017, Algorithm 1).

    Its gradient with respect to each critic value is the constant :math:`-1/M`: it never saturates.

    Args:
        fake_logits: ``Tensor[M]`` or ``Tensor[M, 1]``, critic values on generated samples.
        real_logits: unused; validated if given.
    """
    fake = _generator_side(fake_logits, real_logits)
    return -fake.mean()


# --- hinge (Lim & Ye 2017; Miyato et al. 2018; SAGAN) ----------------------------------------------------------
def d_loss_hinge(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    r"""The hinge discriminator loss of Geometric GAN, SN-GAN and SAGAN.

    .. math::
        L_D = \mathbb{E}_x[\max(0, 1 - D(x))] + \mathbb{E}_z[\max(0, 1 + D(G(z)))]

    A real sample stops contributing once its score is above 1, a fake one once it is below -1 (a margin, as in an
    SVM). Lim & Ye, *Geometric GAN*, 2017; Miyato et al., *Spectral Normalization for GANs*, ICLR 2018;
    Zhang et al., *Self-Attention Generative Adversarial Networks*, ICML 2019.

    Args:
        real_logits: ``Tensor[N]`` or ``Tensor[N, 1]``, raw scores (no sigmoid).
        fake_logits: ``Tensor[M]`` or ``Tensor[M, 1]``.

    Returns:
        0-d tensor, :math:`\ge 0`.
    """
    real, fake = _check_pair_logits(real_logits, fake_logits)
    return F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean()


def g_loss_hinge(fake_logits: Tensor, real_logits: Tensor | None = None) -> Tensor:
    r"""The generator's loss paired with the hinge loss: :math:`L_G = -\mathbb{E}_z[D(G(z))]` (SAGAN).

    Args:
        fake_logits: ``Tensor[M]`` or ``Tensor[M, 1]``.
        real_logits: unused; validated if given.
    """
    fake = _generator_side(fake_logits, real_logits)
    return -fake.mean()


# --- least squares (Mao et al. 2017) ----------------------------------------------------------------------------
def d_loss_least_squares(real_logits: Tensor, fake_logits: Tensor, a: float = 0.0, b: float = 1.0) -> Tensor:
    r"""The LSGAN discriminator loss with the a-b-c coding (fake label :math:`a`, real label :math:`b`).

    .. math::
        L_D = \tfrac12\, \mathbb{E}_x[(D(x) - b)^2] + \tfrac12\, \mathbb{E}_z[(D(G(z)) - a)^2]

    :math:`D` is the raw, linear output (no sigmoid). Defaults: the 0-1-1 coding (:math:`a = 0, b = c = 1`).
    With :math:`b - c = 1` and :math:`b - a = 2`, e.g. the -1-1-0 coding (:func:`d_loss_lsgan_pearson`), minimising
    the generator's loss against the optimal :math:`D` minimises the Pearson :math:`\chi^2` divergence
    :math:`\chi^2_{\text{Pearson}}(p_{data} + p_g \,\|\, 2 p_g)`. Mao et al., *Least Squares Generative Adversarial
    Networks*, ICCV 2017.

    Args:
        real_logits: ``Tensor[N]`` or ``Tensor[N, 1]``.
        fake_logits: ``Tensor[M]`` or ``Tensor[M, 1]``.
        a: the target for fake samples; b: the target for real samples.

    Returns:
        0-d tensor, :math:`\ge 0`.
    """
    a = _check_number(a, "a")
    b = _check_number(b, "b")
    real, fake = _check_pair_logits(real_logits, fake_logits)
    return 0.5 * (real - b).square().mean() + 0.5 * (fake - a).square().mean()


def g_loss_least_squares(fake_logits: Tensor, real_logits: Tensor | None = None, c: float = 1.0) -> Tensor:
    r"""The LSGAN generator loss, :math:`L_G = \tfrac12\, \mathbb{E}_z[(D(G(z)) - c)^2]` (Mao et al. 2017).

    :math:`c` is the value the generator wants :math:`D` to believe for fake data (1 in the 0-1-1 coding, 0 in
    the -1-1-0 one).

    Args:
        fake_logits: ``Tensor[M]`` or ``Tensor[M, 1]``.
        real_logits: unused; validated if given.
        c: the generator's target.
    """
    c = _check_number(c, "c")
    fake = _generator_side(fake_logits, real_logits)
    return 0.5 * (fake - c).square().mean()


def d_loss_lsgan_pearson(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    r"""LSGAN's discriminator loss in the -1-1-0 coding (:math:`a = -1, b = 1`), the Pearson :math:`\chi^2` case:
    :math:`\tfrac12 \mathbb{E}_x[(D(x) - 1)^2] + \tfrac12 \mathbb{E}_z[(D(G(z)) + 1)^2]` (Mao et al. 2017)."""
    return d_loss_least_squares(real_logits, fake_logits, a=-1.0, b=1.0)


def g_loss_lsgan_pearson(fake_logits: Tensor, real_logits: Tensor | None = None) -> Tensor:
    r"""LSGAN's generator loss in the -1-1-0 coding (:math:`c = 0`): :math:`\tfrac12 \mathbb{E}_z[D(G(z))^2]`."""
    return g_loss_least_squares(fake_logits, real_logits, c=0.0)


# --- relativistic GANs (Jolicoeur-Martineau 2019) ---------------------------------------------------------------
def d_loss_rsgan(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    r"""The relativistic standard GAN (RSGAN) discriminator loss: how much more real is a real sample than a fake one.

    .. math::
        L_D = -\mathbb{E}_{(x_r, x_f)}\big[\log \sigma(C(x_r) - C(x_f))\big]
            = \operatorname{mean}_i \operatorname{softplus}\big(-(\ell^{\text{real}}_i - \ell^{\text{fake}}_i)\big)

    Real and fake samples are *paired* (sample :math:`i` of each batch), so both batches must have the same size.
    Jolicoeur-Martineau, *The relativistic discriminator: a key element missing from standard GAN*, ICLR 2019.

    Args:
        real_logits: ``Tensor[N]`` or ``Tensor[N, 1]``, the critic :math:`C` before any sigmoid.
        fake_logits: ``Tensor[N]`` or ``Tensor[N, 1]``.
    """
    real, fake = _check_pair_logits(real_logits, fake_logits)
    _check_same_batch(real, fake, "RSGAN")
    return F.softplus(-(real - fake)).mean()  # -E log sigmoid(C(x_r) - C(x_f))


def g_loss_rsgan(fake_logits: Tensor, real_logits: Tensor | None = None) -> Tensor:
    r"""The RSGAN generator loss: the discriminator's loss with the roles of real and fake swapped.

    .. math::
        L_G = -\mathbb{E}_{(x_r, x_f)}\big[\log \sigma(C(x_f) - C(x_r))\big]
            = \operatorname{mean}_i \operatorname{softplus}\big(-(\ell^{\text{fake}}_i - \ell^{\text{real}}_i)\big)

    Unlike the standard generator losses it needs the real logits (Jolicoeur-Martineau 2019).

    Args:
        fake_logits: ``Tensor[N]`` or ``Tensor[N, 1]``.
        real_logits: ``Tensor[N]`` or ``Tensor[N, 1]`` (required).
    """
    _needs_real(real_logits, "RSGAN")
    real, fake = _check_pair_logits(real_logits, fake_logits)
    _check_same_batch(real, fake, "RSGAN")
    return F.softplus(-(fake - real)).mean()


def d_loss_ragan(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    r"""The relativistic average GAN (RaGAN) discriminator loss.

    With :math:`\tilde D(x_r) = \sigma(C(x_r) - \mathbb{E}_{x_f} C(x_f))` and
    :math:`\tilde D(x_f) = \sigma(C(x_f) - \mathbb{E}_{x_r} C(x_r))`:

    .. math::
        L_D = -\mathbb{E}_{x_r}[\log \tilde D(x_r)] - \mathbb{E}_{x_f}[\log(1 - \tilde D(x_f))]
            = \operatorname{mean}\operatorname{softplus}\big(-(\ell^{\text{real}} - \overline{\ell^{\text{fake}}})\big)
            + \operatorname{mean}\operatorname{softplus}\big(\ell^{\text{fake}} - \overline{\ell^{\text{real}}}\big)

    Each sample is compared with the *average* of the other batch, so batch sizes may differ.
    Jolicoeur-Martineau (2019).

    Args:
        real_logits: ``Tensor[N]`` or ``Tensor[N, 1]``.
        fake_logits: ``Tensor[M]`` or ``Tensor[M, 1]``.
    """
    real, fake = _check_pair_logits(real_logits, fake_logits)
    return F.softplus(-(real - fake.mean())).mean() + F.softplus(fake - real.mean()).mean()


def g_loss_ragan(fake_logits: Tensor, real_logits: Tensor | None = None) -> Tensor:
    r"""The RaGAN generator loss (Jolicoeur-Martineau 2019): the discriminator's with the labels swapped.

    .. math::
        L_G = -\mathbb{E}_{x_f}[\log \tilde D(x_f)] - \mathbb{E}_{x_r}[\log(1 - \tilde D(x_r))]
            = \operatorname{mean}\operatorname{softplus}\big(-(\ell^{\text{fake}} - \overline{\ell^{\text{real}}})\big)
            + \operatorname{mean}\operatorname{softplus}\big(\ell^{\text{real}} - \overline{\ell^{\text{fake}}}\big)

    Both terms depend on the generator: the second through the fake average. The real logits are required.

    Args:
        fake_logits: ``Tensor[M]`` or ``Tensor[M, 1]``.
        real_logits: ``Tensor[N]`` or ``Tensor[N, 1]`` (required).
    """
    _needs_real(real_logits, "RaGAN")
    real, fake = _check_pair_logits(real_logits, fake_logits)
    return F.softplus(-(fake - real.mean())).mean() + F.softplus(real - fake.mean()).mean()


# --- Softmax GAN (Lin 2017) -------------------------------------------------------------------------------------
def d_loss_softmax_gan(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    r"""The Softmax GAN discriminator loss: a softmax over the whole batch :math:`B = B_+ \cup B_-`.

    Lin writes the discriminator as an energy :math:`E(x)`; here :math:`\ell = -E`. With
    :math:`Z_B = \sum_{x \in B} e^{-E(x)} = \sum_{x \in B} e^{\ell(x)}`, the discriminator's target puts probability
    :math:`1/|B_+|` on each real sample and 0 on the fakes, and its loss is the cross-entropy

    .. math::
        L_D = \sum_{x \in B_+} \tfrac{1}{|B_+|} E(x) + \log Z_B
            = -\overline{\ell^{\text{real}}} + \operatorname{logsumexp}_{x \in B}\, \ell(x).

    Lin, *Softmax GAN*, 2017 (``logsumexp`` keeps it finite for any logits).

    Args:
        real_logits: ``Tensor[N]`` or ``Tensor[N, 1]``.
        fake_logits: ``Tensor[M]`` or ``Tensor[M, 1]``.
    """
    real, fake = _check_pair_logits(real_logits, fake_logits)
    log_z = torch.logsumexp(torch.cat([real, fake]), dim=0)  # log Z_B, (N + M,) -> ()
    return -real.mean() + log_z


def g_loss_softmax_gan(fake_logits: Tensor, real_logits: Tensor | None = None) -> Tensor:
    r"""The Softmax GAN generator loss: the target is uniform over the whole batch, :math:`1/|B|` per sample.

    .. math::
        L_G = \sum_{x \in B} \tfrac{1}{|B|} E(x) + \log Z_B
            = -\overline{\ell^{B}} + \operatorname{logsumexp}_{x \in B}\, \ell(x)

    (Lin 2017). A cross-entropy against the uniform target, it is at least the target's entropy
    :math:`\log |B|`, with equality exactly when all the batch's logits are equal. The real logits are required.

    Args:
        fake_logits: ``Tensor[M]`` or ``Tensor[M, 1]``.
        real_logits: ``Tensor[N]`` or ``Tensor[N, 1]`` (required).
    """
    _needs_real(real_logits, "Softmax GAN")
    real, fake = _check_pair_logits(real_logits, fake_logits)
    batch = torch.cat([real, fake])  # (N + M,)
    return -batch.mean() + torch.logsumexp(batch, dim=0)


# --- boundary-seeking GAN (Hjelm et al. 2018) ------------------------------------------------------------------
def g_loss_boundary_seeking(fake_logits: Tensor, real_logits: Tensor | None = None) -> Tensor:
    r"""The boundary-seeking generator loss for a binary discriminator.

    .. math::
        L_G = \tfrac12\, \mathbb{E}_z\big[(\log D(G(z)) - \log(1 - D(G(z))))^2\big]
            = \tfrac12\, \operatorname{mean}\, (\ell^{\text{fake}})^2,

    because :math:`\log \sigma(\ell) - \log(1 - \sigma(\ell)) = \ell`. It pulls the fakes to the decision boundary
    :math:`D = 1/2`, where :math:`p_g = p_{data}` for the optimal :math:`D`. The discriminator keeps the standard
    loss (:func:`d_loss_minimax`). Hjelm et al., *Boundary-Seeking Generative Adversarial Networks*, ICLR 2018.

    Args:
        fake_logits: ``Tensor[M]`` or ``Tensor[M, 1]``.
        real_logits: unused; validated if given.
    """
    fake = _generator_side(fake_logits, real_logits)
    return 0.5 * fake.square().mean()


# --- EBGAN (Zhao et al. 2017) -----------------------------------------------------------------------------------
def d_loss_ebgan(real_logits: Tensor, fake_logits: Tensor, margin: float = 1.0) -> Tensor:
    r"""The EBGAN discriminator loss: low energy on data, energy of at least ``margin`` on fakes.

    .. math::
        L_D = \mathbb{E}_x[E(x)] + \mathbb{E}_z\big[\max(0,\ m - E(G(z)))\big]

    The "logits" here are *energies* :math:`E \ge 0`, the reconstruction errors of an autoencoder discriminator
    (:class:`AutoencoderEnergy`). A fake whose energy already exceeds :math:`m` gives no gradient. The margin sets
    the energy scale and is tuned per dataset. Zhao, Mathieu & LeCun, *Energy-based Generative Adversarial
    Network*, ICLR 2017.

    Args:
        real_logits: ``Tensor[N]`` or ``Tensor[N, 1]``, energies of real samples.
        fake_logits: ``Tensor[M]`` or ``Tensor[M, 1]``, energies of generated samples.
        margin: :math:`m > 0`.
    """
    m = _check_number(margin, "margin", 0.0, math.inf, low_open=True)
    real, fake = _check_pair_logits(real_logits, fake_logits)
    return real.mean() + F.relu(m - fake).mean()


def g_loss_ebgan(fake_logits: Tensor, real_logits: Tensor | None = None) -> Tensor:
    r"""The EBGAN generator loss, :math:`L_G = \mathbb{E}_z[E(G(z))]` (Zhao et al. 2017): make the
    autoencoder reconstruct the fakes well.

    Args:
        fake_logits: ``Tensor[M]`` or ``Tensor[M, 1]``, energies of generated samples.
        real_logits: unused; validated if given.
    """
    fake = _generator_side(fake_logits, real_logits)
    return fake.mean()


def pulling_away_term(embeddings: Tensor) -> Tensor:
    r"""EBGAN's pulling-away term: the mean squared cosine similarity between distinct encodings of a batch.

    .. math::
        f_{PT}(S) = \frac{1}{N(N-1)} \sum_{i} \sum_{j \ne i}
                    \left(\frac{S_i^\top S_j}{\lVert S_i\rVert\, \lVert S_j\rVert}\right)^2

    Added (with a weight, 0.1 in the paper) to the generator's loss on the encoder's codes of generated samples,
    it pushes them apart: a repelling regulariser against mode collapse (Zhao et al. 2017, "EBGAN-PT").

    Args:
        embeddings: ``Tensor[N, ...]`` with ``N >= 2``, flattened to ``(N, F)``; a zero vector counts as orthogonal
            to everything.

    Returns:
        0-d tensor in ``[0, 1]``.
    """
    if not isinstance(embeddings, Tensor):
        raise TypeError(f"embeddings must be a torch.Tensor, got {type(embeddings).__name__}.")
    if not embeddings.is_floating_point():
        raise TypeError(f"embeddings must be a floating-point tensor, got dtype {embeddings.dtype}.")
    if embeddings.ndim < 2 or embeddings.shape[0] < 2:
        raise ValueError(
            f"embeddings must have shape (N, F) with N >= 2 (pairs of samples), got {tuple(embeddings.shape)}."
        )
    n = embeddings.shape[0]
    s = F.normalize(embeddings.reshape(n, -1), dim=1)  # (N, F), unit rows (zero rows stay zero)
    cos = s @ s.T  # (N, N) cosine similarities
    off_diagonal = cos.square().sum() - cos.diagonal().square().sum()
    return off_diagonal / (n * (n - 1))


def ebgan_loss(margin: float = 1.0) -> "GANLoss":
    """An (unregistered) EBGAN :class:`GANLoss` with another margin than the registered ``"ebgan"`` (margin 1)."""
    m = _check_number(margin, "margin", 0.0, math.inf, low_open=True)

    def d_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
        return d_loss_ebgan(real_logits, fake_logits, margin=m)

    return GANLoss(f"ebgan(margin={m:g})", d_loss, g_loss_ebgan, f"Zhao et al. (2017), margin {m:g}.")


# --- autoencoder energies (the discriminator contract of EBGAN and BEGAN) -------------------------------------
_ENERGY_KINDS = ("l1", "mse", "l2")


def autoencoder_energy(x: Tensor, reconstruction: Tensor, kind: str = "l1") -> Tensor:
    r"""Per-sample reconstruction energy of an autoencoder discriminator.

    .. math::
        E_{\text{l1}}(x) = \operatorname{mean}_j |x_j - \hat x_j| \ \text{(BEGAN, } \eta = 1), \quad
        E_{\text{mse}}(x) = \operatorname{mean}_j (x_j - \hat x_j)^2, \quad
        E_{\text{l2}}(x) = \lVert x - \hat x \rVert_2 \ \text{(EBGAN's } \lVert Dec(Enc(x)) - x \rVert)

    with :math:`j` running over all the non-batch entries.

    Args:
        x: ``Tensor[N, ...]``, the input.
        reconstruction: ``Tensor[N, ...]``, the autoencoder's output, same shape.
        kind: ``"l1"``, ``"mse"`` or ``"l2"``.

    Returns:
        ``Tensor[N]`` of energies, :math:`\ge 0`.
    """
    if kind not in _ENERGY_KINDS:
        raise ValueError(f"kind must be one of {_ENERGY_KINDS}, got {kind!r}.")
    for name, t in (("x", x), ("reconstruction", reconstruction)):
        if not isinstance(t, Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}.")
        if not t.is_floating_point():
            raise TypeError(f"{name} must be a floating-point tensor, got dtype {t.dtype}.")
    if x.shape != reconstruction.shape or x.ndim < 2:
        raise ValueError(
            f"x and reconstruction must have the same shape (N, ...) with at least 2 dims, got {tuple(x.shape)} "
            f"and {tuple(reconstruction.shape)}."
        )
    diff = (x - reconstruction).flatten(1)  # (N, D)
    if kind == "l1":
        return diff.abs().mean(dim=1)
    if kind == "mse":
        return diff.square().mean(dim=1)
    return torch.linalg.vector_norm(diff, dim=1)


class AutoencoderEnergy(nn.Module):
    """Turns an autoencoder into an energy discriminator for EBGAN/BEGAN: ``D(x) = energy(x, AE(x))``, ``(N,)``.

    The trainer treats the energies like logits: pass ``AutoencoderEnergy(ae)`` as the discriminator with the loss
    ``"ebgan"`` or ``"began"``.

    Args:
        autoencoder: a module mapping ``Tensor[N, ...]`` to a reconstruction of the same shape.
        kind: the energy, see :func:`autoencoder_energy` (``"l1"`` for BEGAN, ``"mse"``/``"l2"`` for EBGAN).
    """

    def __init__(self, autoencoder: nn.Module, kind: str = "l1") -> None:
        super().__init__()
        if not isinstance(autoencoder, nn.Module):
            raise TypeError(f"autoencoder must be a torch.nn.Module, got {type(autoencoder).__name__}.")
        if kind not in _ENERGY_KINDS:
            raise ValueError(f"kind must be one of {_ENERGY_KINDS}, got {kind!r}.")
        self.autoencoder = autoencoder
        self.kind = kind

    def forward(self, x: Tensor) -> Tensor:
        """``(N, ...) -> (N,)`` energies."""
        return autoencoder_energy(x, self.autoencoder(x), self.kind)

    def extra_repr(self) -> str:
        return f"kind={self.kind!r}"


# --- BEGAN (Berthelot et al. 2017) ------------------------------------------------------------------------------
def d_loss_began(real_logits: Tensor, fake_logits: Tensor, k: float = 0.0) -> Tensor:
    r"""The BEGAN discriminator loss, :math:`L_D = \mathcal{L}(x) - k_t\, \mathcal{L}(G(z))`.

    :math:`\mathcal{L}(v) = |v - AE(v)|` is the autoencoder's reconstruction loss (the energies given here, e.g.
    from :class:`AutoencoderEnergy` with ``kind="l1"``), averaged over the batch. :math:`k_t \in [0, 1]` sets how
    much the discriminator pushes fakes away; it is adapted by :func:`began_k_update`. Berthelot, Schumm & Metz,
    *BEGAN: Boundary Equilibrium Generative Adversarial Networks*, 2017.

    Args:
        real_logits: ``Tensor[N]`` or ``Tensor[N, 1]``, energies :math:`\mathcal{L}(x)`.
        fake_logits: ``Tensor[M]`` or ``Tensor[M, 1]``, energies :math:`\mathcal{L}(G(z))`.
        k: :math:`k_t \in [0, 1]`.
    """
    k = _check_number(k, "k", 0.0, 1.0)
    real, fake = _check_pair_logits(real_logits, fake_logits)
    return real.mean() - k * fake.mean()


def g_loss_began(fake_logits: Tensor, real_logits: Tensor | None = None) -> Tensor:
    r"""The BEGAN generator loss, :math:`L_G = \mathcal{L}(G(z))` (Berthelot et al. 2017).

    Args:
        fake_logits: ``Tensor[M]`` or ``Tensor[M, 1]``, energies of generated samples.
        real_logits: unused; validated if given.
    """
    fake = _generator_side(fake_logits, real_logits)
    return fake.mean()


def _as_float(value: object, name: str) -> float:
    if isinstance(value, Tensor):
        if value.numel() != 1:
            raise ValueError(f"{name} must be a number or a one-element tensor, got shape {tuple(value.shape)}.")
        value = value.item()
    return _check_number(value, name)


def began_k_update(k: float, real_energy: float | Tensor, fake_energy: float | Tensor, gamma: float = 0.5,
                   lambda_k: float = 1e-3) -> float:
    r"""One step of BEGAN's proportional control of :math:`k_t`.

    .. math::
        k_{t+1} = \operatorname{clip}_{[0, 1]}\Big(k_t + \lambda_k\big(\gamma\, \mathcal{L}(x) -
                  \mathcal{L}(G(z))\big)\Big)

    It keeps :math:`\mathbb{E}[\mathcal{L}(G(z))] \approx \gamma\, \mathbb{E}[\mathcal{L}(x)]`: when the fakes are
    reconstructed too well (too little energy), :math:`k` grows and the discriminator pushes them away harder.
    :math:`\gamma` (the *diversity ratio*) trades diversity for quality. Paper defaults: :math:`k_0 = 0`,
    :math:`\lambda_k = 0.001`; :math:`\gamma = 0.5` is a common choice (Berthelot et al. 2017).

    Args:
        k: :math:`k_t \in [0, 1]`.
        real_energy: batch mean :math:`\mathcal{L}(x)` (a float or a one-element tensor).
        fake_energy: batch mean :math:`\mathcal{L}(G(z))`.
        gamma: :math:`\gamma \in [0, 1]`.
        lambda_k: :math:`\lambda_k \ge 0`, the gain.

    Returns:
        :math:`k_{t+1}` as a float.
    """
    k = _check_number(k, "k", 0.0, 1.0)
    gamma = _check_number(gamma, "gamma", 0.0, 1.0)
    lambda_k = _check_number(lambda_k, "lambda_k", 0.0)
    real_energy = _as_float(real_energy, "real_energy")
    fake_energy = _as_float(fake_energy, "fake_energy")
    return min(max(k + lambda_k * (gamma * real_energy - fake_energy), 0.0), 1.0)


def began_convergence(real_energy: float | Tensor, fake_energy: float | Tensor, gamma: float = 0.5) -> float:
    r"""BEGAN's global convergence measure, :math:`M = \mathcal{L}(x) + |\gamma \mathcal{L}(x) - \mathcal{L}(G(z))|`
    (Berthelot et al. 2017): it falls as training converges, unlike the two losses."""
    gamma = _check_number(gamma, "gamma", 0.0, 1.0)
    real_energy = _as_float(real_energy, "real_energy")
    fake_energy = _as_float(fake_energy, "fake_energy")
    return real_energy + abs(gamma * real_energy - fake_energy)


class BEGANLoss:
    r"""BEGAN as a *stateful* loss object: the two losses of :func:`d_loss_began`/:func:`g_loss_began` with the
    control variable :math:`k_t` kept between steps.

    How it plugs into :class:`~course_lib.train.trainer.AdversarialTrainer` (``TrainerConfig(loss="began")`` makes a
    fresh one; ``trainer.loss`` is that object):

    1. the discriminator must return energies :math:`\mathcal{L}(v) = |v - AE(v)|`, e.g.
       ``AutoencoderEnergy(ae, kind="l1")``;
    2. ``d_loss(real, fake)`` computes :math:`\mathcal{L}(x) - k_t \mathcal{L}(G(z))` and remembers the two batch
       means;
    3. the trainer calls ``after_d_step(trainer)`` after each discriminator update, which applies
       :func:`began_k_update` with those means (and leaves :math:`k_t` alone after a non-finite step) and records
       :func:`began_convergence` in ``convergence``;
    4. checkpoints store ``state_dict()`` (:math:`k_t` included), so a resumed run continues exactly.

    The paper updates both networks at once and uses the generator step's :math:`\mathcal{L}(G(z_G))` in the
    :math:`k` update; this alternating version uses the fakes of the discriminator step, drawn from the same
    generator.

    Args:
        gamma: the diversity ratio :math:`\gamma \in [0, 1]` (0.5).
        lambda_k: the gain :math:`\lambda_k` (0.001 in the paper).
        k: the initial :math:`k_0` (0 in the paper).
    """

    needs_real_logits = False

    def __init__(self, gamma: float = 0.5, lambda_k: float = 1e-3, k: float = 0.0) -> None:
        self.gamma = _check_number(gamma, "gamma", 0.0, 1.0)
        self.lambda_k = _check_number(lambda_k, "lambda_k", 0.0)
        self.k = _check_number(k, "k", 0.0, 1.0)
        self.name = "began"
        self.description = (
            f"Berthelot et al. (2017): L(x) - k_t L(G(z)) on autoencoder energies, gamma={self.gamma:g}, "
            f"lambda_k={self.lambda_k:g} (stateful: k_t)."
        )
        self.convergence = math.nan
        self._last: tuple[Tensor, Tensor] | None = None

    def d_loss(self, real_logits: Tensor, fake_logits: Tensor) -> Tensor:
        """:math:`\\mathcal{L}(x) - k_t \\mathcal{L}(G(z))`; remembers the batch means for :meth:`after_d_step`."""
        loss = d_loss_began(real_logits, fake_logits, self.k)
        real, fake = _check_pair_logits(real_logits, fake_logits)
        self._last = (real.detach().mean(), fake.detach().mean())
        return loss

    def g_loss(self, fake_logits: Tensor, real_logits: Tensor | None = None) -> Tensor:
        """:math:`\\mathcal{L}(G(z))`."""
        return g_loss_began(fake_logits, real_logits)

    def after_d_step(self, trainer: Any = None) -> None:
        """Update :math:`k_t` from the last discriminator step's energies (once per ``d_loss`` call)."""
        if self._last is None:
            return
        real, fake = (float(v) for v in torch.stack(self._last).double().tolist())
        self._last = None
        if not (math.isfinite(real) and math.isfinite(fake)):
            return  # a skipped, non-finite step changes nothing
        self.k = began_k_update(self.k, real, fake, self.gamma, self.lambda_k)
        self.convergence = began_convergence(real, fake, self.gamma)

    def state_dict(self) -> dict[str, float]:
        return {"k": self.k, "gamma": self.gamma, "lambda_k": self.lambda_k, "convergence": self.convergence}

    def load_state_dict(self, state: dict[str, float]) -> None:
        self.k = _check_number(state["k"], "k", 0.0, 1.0)
        self.gamma = _check_number(state["gamma"], "gamma", 0.0, 1.0)
        self.lambda_k = _check_number(state["lambda_k"], "lambda_k", 0.0)
        self.convergence = float(state.get("convergence", math.nan))
        self._last = None

    def __repr__(self) -> str:
        return f"BEGANLoss(gamma={self.gamma:g}, lambda_k={self.lambda_k:g}, k={self.k:g})"


# --------------------------------------------------------------------------------------------------------------
# The registry
# --------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class GANLoss:
    """A named pair of losses: ``d_loss(real_logits, fake_logits)`` and ``g_loss(fake_logits, real_logits)``.

    Both return a 0-d tensor that their player minimises. ``needs_real_logits`` tells the trainer to compute
    :math:`D(x)` in the generator step too (relativistic and Softmax GAN losses); otherwise ``real_logits`` is
    ``None`` there.
    """

    name: str
    d_loss: DLoss
    g_loss: GLoss
    description: str = ""
    needs_real_logits: bool = False


_LOSSES: dict[str, GANLoss] = {}
_LOSS_FACTORIES: dict[str, tuple[Callable[[], Any], str]] = {}


def register_gan_loss(
    name: str, d_loss: DLoss, g_loss: GLoss, description: str = "", needs_real_logits: bool = False
) -> GANLoss:
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
    if not isinstance(needs_real_logits, bool):
        raise TypeError(f"needs_real_logits must be a bool, got {type(needs_real_logits).__name__}.")
    if name in _LOSS_FACTORIES:
        raise ValueError(f"a GAN loss named {name!r} is already registered (as a factory of stateful losses).")
    entry = GANLoss(name, d_loss, g_loss, description, needs_real_logits)
    old = _LOSSES.get(name)
    if old is not None and (
        old.d_loss is not d_loss or old.g_loss is not g_loss or old.needs_real_logits != needs_real_logits
    ):
        raise ValueError(f"a GAN loss named {name!r} is already registered with different functions.")
    _LOSSES[name] = entry
    return entry


def register_gan_loss_factory(name: str, factory: Callable[[], Any], description: str = "") -> None:
    """Register a *stateful* loss under ``name``: ``get_gan_loss(name)`` returns ``factory()``, a fresh object
    with ``d_loss``/``g_loss`` methods (and optionally ``after_d_step``, ``state_dict``, ``load_state_dict``), so
    that two trainers never share state. Same conflict rules as :func:`register_gan_loss`."""
    if not isinstance(name, str) or not name:
        raise TypeError(f"name must be a non-empty str, got {name!r}.")
    if not callable(factory):
        raise TypeError(f"factory must be callable, got {type(factory).__name__}.")
    if name in _LOSSES:
        raise ValueError(f"a GAN loss named {name!r} is already registered with different functions.")
    old = _LOSS_FACTORIES.get(name)
    if old is not None and old[0] is not factory:
        raise ValueError(f"a GAN loss named {name!r} is already registered with a different factory.")
    _LOSS_FACTORIES[name] = (factory, description)


def _is_loss_object(obj: object) -> bool:
    return callable(getattr(obj, "d_loss", None)) and callable(getattr(obj, "g_loss", None))


def get_gan_loss(name_or_object: str | GANLoss | Any) -> Any:
    """Look a loss pair up by name; a :class:`GANLoss` (or any object with ``d_loss`` and ``g_loss`` methods,
    such as a :class:`BEGANLoss`) passed in is returned unchanged. A name registered with
    :func:`register_gan_loss_factory` gives a new object at every call."""
    if isinstance(name_or_object, GANLoss):
        return name_or_object
    if isinstance(name_or_object, str):
        if name_or_object in _LOSSES:
            return _LOSSES[name_or_object]
        if name_or_object in _LOSS_FACTORIES:
            return _LOSS_FACTORIES[name_or_object][0]()
        raise ValueError(f"unknown GAN loss {name_or_object!r}; registered: {', '.join(list_gan_losses())}.")
    if _is_loss_object(name_or_object):
        return name_or_object
    raise TypeError(
        "expected a loss name (str), a GANLoss or an object with d_loss and g_loss methods, "
        f"got {type(name_or_object).__name__}."
    )


def list_gan_losses() -> list[str]:
    """The names of the registered loss pairs (and stateful loss factories), sorted."""
    return sorted(set(_LOSSES) | set(_LOSS_FACTORIES))


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
# --- chapter 5 ---
register_gan_loss(
    "non_saturating_ls",
    d_loss_one_sided_smoothing,
    g_loss_non_saturating,
    "Salimans et al. (2016), Sec. 3.4: non-saturating GAN with one-sided label smoothing (real target 0.9).",
)
register_gan_loss(
    "wgan",
    d_loss_wasserstein,
    g_loss_wasserstein,
    "Arjovsky et al. (2017): critic E C(G(z)) - E C(x), generator -E C(G(z)); needs a Lipschitz constraint.",
)
register_gan_loss(
    "hinge",
    d_loss_hinge,
    g_loss_hinge,
    "Lim & Ye (2017), SN-GAN, SAGAN: E max(0, 1 - D(x)) + E max(0, 1 + D(G(z))), generator -E D(G(z)).",
)
register_gan_loss(
    "lsgan",
    d_loss_least_squares,
    g_loss_least_squares,
    "Mao et al. (2017): least squares, 0-1-1 coding (a=0, b=1, c=1).",
)
register_gan_loss(
    "lsgan_pearson",
    d_loss_lsgan_pearson,
    g_loss_lsgan_pearson,
    "Mao et al. (2017): least squares, -1-1-0 coding (a=-1, b=1, c=0), the Pearson chi^2 divergence.",
)
register_gan_loss(
    "rsgan",
    d_loss_rsgan,
    g_loss_rsgan,
    "Jolicoeur-Martineau (2019): relativistic standard GAN, sigma(C(x_r) - C(x_f)) on paired samples.",
    needs_real_logits=True,
)
register_gan_loss(
    "ragan",
    d_loss_ragan,
    g_loss_ragan,
    "Jolicoeur-Martineau (2019): relativistic average GAN, sigma(C(x_r) - E C(x_f)).",
    needs_real_logits=True,
)
register_gan_loss(
    "softmax_gan",
    d_loss_softmax_gan,
    g_loss_softmax_gan,
    "Lin (2017): cross-entropy of a softmax over the batch; D targets the reals, G a uniform distribution.",
    needs_real_logits=True,
)
register_gan_loss(
    "bgan",
    d_loss_minimax,
    g_loss_boundary_seeking,
    "Hjelm et al. (2018): boundary-seeking GAN, G minimises 0.5 E (log D - log(1 - D))^2 = 0.5 E l^2.",
)
register_gan_loss(
    "ebgan",
    d_loss_ebgan,
    g_loss_ebgan,
    "Zhao et al. (2017): energies E of an autoencoder D; E(x) + max(0, m - E(G(z))), m = 1; G: E(G(z)).",
)
register_gan_loss_factory(
    "began",
    BEGANLoss,
    "Berthelot et al. (2017): L(x) - k_t L(G(z)) on autoencoder energies, k_t by proportional control (stateful).",
)
