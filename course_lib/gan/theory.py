"""Closed forms of GAN theory: the optimal discriminator, the divergences, and the virtual training criterion.

Everything here works on *discrete* distributions given as 1-D tensors of probabilities (a histogram, or a density
evaluated on a grid and normalised), except :func:`optimal_discriminator`, which is elementwise and accepts any shape,
and :func:`wasserstein_1d`, which takes two samples. Logarithms are natural, so divergences are in nats.

Conventions, the standard ones of information theory:

- :math:`0 \\log(0 / q) = 0` for every :math:`q \\ge 0` (the limit of :math:`t \\log t` at 0);
- :math:`p \\log(p / 0) = +\\infty` for :math:`p > 0`, so :math:`\\mathrm{KL}(p \\| q) = +\\infty` as soon as
  :math:`p` puts mass where :math:`q` does not.

These are computed with :func:`torch.xlogy` (which returns exactly 0 when its first argument is 0), never with
``p * log(p / q)``, which would give ``0 * -inf = nan``.

References: Goodfellow et al., *Generative Adversarial Nets*, NeurIPS 2014 (Proposition 1, Theorem 1);
Arjovsky, Chintala and Bottou, *Wasserstein GAN*, ICML 2017 (Section 2, Example 1).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = [
    "SUM_TOLERANCE",
    "optimal_discriminator",
    "kl_divergence",
    "reverse_kl",
    "js_divergence",
    "total_variation",
    "wasserstein_1d",
    "gan_value",
    "virtual_training_criterion",
]

#: How far from 1 the sum of a probability vector may be (absolute, which is relative to the total 1). Half
#: precision inputs get ``4 * eps`` of their dtype when that is larger.
SUM_TOLERANCE: float = 1e-4

_LOG2 = math.log(2.0)


# --------------------------------------------------------------------------------------------------------------
# Input checks (shared by every function below)
# --------------------------------------------------------------------------------------------------------------
def _as_float_tensor(x: object, name: str) -> Tensor:
    """Return ``x`` as a floating-point tensor: integer/bool tensors are promoted to the default float dtype."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}.")
    if x.is_complex():
        raise TypeError(f"{name} must be a real tensor, got dtype {x.dtype}.")
    if not x.is_floating_point():
        x = x.to(torch.get_default_dtype())
    return x


def _promote_pair(a: Tensor, b: Tensor, names: tuple[str, str]) -> tuple[Tensor, Tensor]:
    """Put two tensors on a common floating dtype; refuse tensors on different devices."""
    if a.device != b.device:
        raise ValueError(f"{names[0]} and {names[1]} must be on the same device, got {a.device} and {b.device}.")
    dtype = torch.promote_types(a.dtype, b.dtype)
    return a.to(dtype), b.to(dtype)


def _first_index(mask: Tensor) -> tuple[int, ...]:
    """Index (as a tuple) of the first True entry of ``mask``."""
    return tuple(int(i) for i in mask.nonzero()[0].tolist())


def _check_values(x: Tensor, name: str, *, upper: float | None = None) -> None:
    """Refuse NaN, infinite and negative entries (and entries above ``upper`` when it is given)."""
    bad = torch.isnan(x)
    if bad.any():
        raise ValueError(f"{name} contains NaN (first at index {_first_index(bad)}).")
    bad = torch.isinf(x)
    if bad.any():
        raise ValueError(f"{name} contains an infinite value (first at index {_first_index(bad)}).")
    bad = x < 0
    if bad.any():
        idx = _first_index(bad)
        raise ValueError(f"{name} must be non-negative, but {name}[{', '.join(map(str, idx))}] = {x[idx].item():g}.")
    if upper is not None:
        bad = x > upper
        if bad.any():
            idx = _first_index(bad)
            raise ValueError(
                f"{name} must be at most {upper:g}, but {name}[{', '.join(map(str, idx))}] = {x[idx].item():g}."
            )


def _sum_tolerance(dtype: torch.dtype) -> float:
    return max(SUM_TOLERANCE, 4.0 * torch.finfo(dtype).eps)


def _check_distribution(p: Tensor, name: str) -> None:
    """A probability vector: 1-D, non-empty, finite, non-negative, summing to 1 within the tolerance."""
    if p.ndim != 1:
        raise ValueError(f"{name} must be a 1-D tensor of probabilities, got shape {tuple(p.shape)}.")
    if p.numel() == 0:
        raise ValueError(f"{name} is empty; a distribution needs at least one outcome.")
    _check_values(p, name)
    # Sum in float64 where the device has it (MPS does not), so a long float32 vector is judged fairly.
    acc = torch.float32 if p.device.type == "mps" else torch.float64
    total = float(p.detach().sum(dtype=acc))
    tol = _sum_tolerance(p.dtype)
    if abs(total - 1.0) > tol:
        raise ValueError(f"{name} must sum to 1 (within {tol:g}), but it sums to {total:.8g}.")


def _distributions(p: object, q: object, names: tuple[str, str] = ("p", "q")) -> tuple[Tensor, Tensor]:
    """Validate two probability vectors of the same length and give them a common dtype."""
    p = _as_float_tensor(p, names[0])
    q = _as_float_tensor(q, names[1])
    _check_distribution(p, names[0])
    _check_distribution(q, names[1])
    if p.shape != q.shape:
        raise ValueError(
            f"{names[0]} and {names[1]} must have the same length, got {p.shape[0]} and {q.shape[0]} outcomes."
        )
    return _promote_pair(p, q, names)


# --------------------------------------------------------------------------------------------------------------
# Proposition 1: the optimal discriminator
# --------------------------------------------------------------------------------------------------------------
def optimal_discriminator(p_data: Tensor, p_g: Tensor) -> Tensor:
    """The discriminator that maximises :math:`V(D, G)` for a fixed generator (Goodfellow et al. 2014, Prop. 1).

    .. math::
        D^*(x) = \\frac{p_{\\text{data}}(x)}{p_{\\text{data}}(x) + p_g(x)}

    Pointwise: for each :math:`x`, :math:`a \\log y + b \\log(1 - y)` is maximised over :math:`y \\in [0, 1]` at
    :math:`y = a / (a + b)`. Where :math:`p_{\\text{data}}(x) + p_g(x) = 0`, :math:`x` lies outside both supports,
    :math:`V` does not depend on :math:`D(x)` and any value is optimal; this function returns :math:`1/2` there, the
    value the symmetry between the two densities suggests (and the one :math:`D^*` takes everywhere when
    :math:`p_g = p_{\\text{data}}`).

    Args:
        p_data: density values or probabilities of the data, any shape, non-negative and finite. They need not
            sum to 1 (densities evaluated on a grid are fine).
        p_g: the generator's, same shape as ``p_data``.

    Returns:
        Tensor of the same shape, values in :math:`[0, 1]`, in the promoted floating dtype of the inputs (integer
        inputs are promoted to the default float dtype) on their device.
    """
    p_data = _as_float_tensor(p_data, "p_data")
    p_g = _as_float_tensor(p_g, "p_g")
    if p_data.shape != p_g.shape:
        raise ValueError(
            f"p_data and p_g must have the same shape, got {tuple(p_data.shape)} and {tuple(p_g.shape)}."
        )
    p_data, p_g = _promote_pair(p_data, p_g, ("p_data", "p_g"))
    _check_values(p_data, "p_data")
    _check_values(p_g, "p_g")
    total = p_data + p_g
    off_support = total == 0
    # A safe denominator keeps the unused branch of `where` finite (no 0/0, so no NaN in gradients either).
    safe_total = torch.where(off_support, torch.ones_like(total), total)
    half = torch.full_like(total, 0.5)
    return torch.where(off_support, half, p_data / safe_total)  # D*(x) = p_data / (p_data + p_g)


# --------------------------------------------------------------------------------------------------------------
# Divergences between discrete distributions
# --------------------------------------------------------------------------------------------------------------
def _kl(p: Tensor, q: Tensor) -> Tensor:
    """KL(p || q) on validated inputs: sum_i p_i log p_i - p_i log q_i, with xlogy's 0 log 0 = 0."""
    kl = (torch.xlogy(p, p) - torch.xlogy(p, q)).sum()  # +inf where p_i > 0 = q_i, since xlogy(p_i, 0) = -inf
    # Non-negative by Gibbs' inequality; clamp away rounding below zero (inf stays inf).
    return kl.clamp_min(0.0)


def kl_divergence(p: Tensor, q: Tensor) -> Tensor:
    """Kullback-Leibler divergence of two discrete distributions, in nats.

    .. math::
        \\mathrm{KL}(p \\| q) = \\sum_i p_i \\log \\frac{p_i}{q_i}

    with :math:`0 \\log(0/q_i) = 0` and :math:`\\mathrm{KL} = +\\infty` when some :math:`p_i > 0 = q_i`.
    Not symmetric; :math:`\\mathrm{KL}(p \\| q) \\ge 0` with equality iff :math:`p = q`.

    Args:
        p, q: ``Tensor[K]`` probability vectors of the same length: finite, non-negative, each summing to 1 within
            :data:`SUM_TOLERANCE`. Integer tensors are promoted to the default float dtype.

    Returns:
        0-d tensor in the inputs' (promoted) dtype and device; ``inf`` when the divergence is infinite.
    """
    p, q = _distributions(p, q)
    return _kl(p, q)


def reverse_kl(p: Tensor, q: Tensor) -> Tensor:
    """The reverse KL divergence :math:`\\mathrm{KL}(q \\| p)`, the KL with its arguments swapped.

    .. math::
        \\mathrm{KL}(q \\| p) = \\sum_i q_i \\log \\frac{q_i}{p_i}

    With :math:`p = p_{\\text{data}}` and :math:`q = p_g`, the forward KL :math:`\\mathrm{KL}(p_{\\text{data}} \\| p_g)`
    (maximum likelihood) is infinite when :math:`p_g` misses a mode of the data ("mode covering"), while this reverse
    KL is infinite when :math:`p_g` puts mass where there is no data ("mode seeking").

    Args and return value as in :func:`kl_divergence`.
    """
    p, q = _distributions(p, q)
    return _kl(q, p)


def js_divergence(p: Tensor, q: Tensor) -> Tensor:
    """Jensen-Shannon divergence of two discrete distributions, in nats.

    .. math::
        \\mathrm{JS}(p \\| q) = \\tfrac12 \\mathrm{KL}(p \\| m) + \\tfrac12 \\mathrm{KL}(q \\| m),
        \\qquad m = \\tfrac12 (p + q)

    Symmetric, always finite (:math:`m_i \\ge p_i / 2`), :math:`0 \\le \\mathrm{JS} \\le \\log 2`, with
    :math:`\\log 2` exactly when the supports are disjoint. Its square root is SciPy's
    ``scipy.spatial.distance.jensenshannon``.

    Args:
        p, q: ``Tensor[K]`` probability vectors, as in :func:`kl_divergence`.

    Returns:
        0-d tensor in the inputs' (promoted) dtype and device.
    """
    p, q = _distributions(p, q)
    m = 0.5 * (p + q)  # (K,) the mixture; m_i > 0 wherever p_i > 0 or q_i > 0
    js = 0.5 * (torch.xlogy(p, p) - torch.xlogy(p, m)).sum() + 0.5 * (torch.xlogy(q, q) - torch.xlogy(q, m)).sum()
    return js.clamp(0.0, _LOG2)  # the bounds hold exactly; clamp away rounding


def total_variation(p: Tensor, q: Tensor) -> Tensor:
    """Total variation distance of two discrete distributions.

    .. math::
        \\delta(p, q) = \\sup_A |p(A) - q(A)| = \\tfrac12 \\sum_i |p_i - q_i|

    (the supremum is reached at :math:`A = \\{i : p_i > q_i\\}`). Symmetric, in :math:`[0, 1]`, equal to 1 exactly
    when the supports are disjoint.

    Args:
        p, q: ``Tensor[K]`` probability vectors, as in :func:`kl_divergence`.

    Returns:
        0-d tensor in the inputs' (promoted) dtype and device.
    """
    p, q = _distributions(p, q)
    return 0.5 * (p - q).abs().sum()


def wasserstein_1d(x: Tensor, y: Tensor) -> Tensor:
    """Wasserstein-1 (Earth Mover's) distance between the empirical distributions of two 1-D samples.

    For two samples of the same size :math:`n`, each point carrying mass :math:`1/n`, the optimal transport plan in
    one dimension matches the order statistics (sorted values) of the two samples, so

    .. math::
        W_1(\\hat P_x, \\hat P_y) = \\frac1n \\sum_{i=1}^n |x_{(i)} - y_{(i)}|

    where :math:`x_{(i)}` is the :math:`i`-th smallest value. Equals ``scipy.stats.wasserstein_distance(x, y)``.

    Args:
        x: ``Tensor[n]`` sample, finite.
        y: ``Tensor[n]`` sample of the same length, finite. Integer samples are promoted to the default float dtype.

    Returns:
        0-d tensor in the inputs' (promoted) dtype and device. Differentiable with respect to the samples.
    """
    x = _as_float_tensor(x, "x")
    y = _as_float_tensor(y, "y")
    for t, name in ((x, "x"), (y, "y")):
        if t.ndim != 1:
            raise ValueError(f"{name} must be a 1-D tensor of samples, got shape {tuple(t.shape)}.")
        if t.numel() == 0:
            raise ValueError(f"{name} is empty; W1 needs at least one sample.")
        bad = ~torch.isfinite(t)
        if bad.any():
            raise ValueError(f"{name} contains a non-finite value (NaN or inf), first at index {_first_index(bad)[0]}.")
    if x.shape != y.shape:
        raise ValueError(
            f"x and y must have the same number of samples, got {x.shape[0]} and {y.shape[0]} "
            "(this closed form matches sorted samples one to one)."
        )
    x, y = _promote_pair(x, y, ("x", "y"))
    x_sorted = torch.sort(x).values  # (n,) order statistics x_(1) <= ... <= x_(n)
    y_sorted = torch.sort(y).values  # (n,)
    return (x_sorted - y_sorted).abs().mean()  # (1/n) sum_i |x_(i) - y_(i)|


# --------------------------------------------------------------------------------------------------------------
# The value function and Theorem 1
# --------------------------------------------------------------------------------------------------------------
def gan_value(p_data: Tensor, p_g: Tensor, d: Tensor) -> Tensor:
    """The GAN value function :math:`V(D, G)` for discrete distributions (Goodfellow et al. 2014, Eq. 1).

    .. math::
        V(D, G) = \\sum_i p_{\\text{data}, i} \\log D_i + \\sum_i p_{g, i} \\log(1 - D_i)

    i.e. :math:`\\mathbb{E}_{x \\sim p_{\\text{data}}} \\log D(x) + \\mathbb{E}_{x \\sim p_g} \\log(1 - D(x))` on a
    finite set of outcomes, with :math:`0 \\log 0 = 0` (an outcome of probability 0 contributes nothing, whatever
    :math:`D` says there) and :math:`-\\infty` when :math:`D_i = 0` where :math:`p_{\\text{data}, i} > 0` (or
    :math:`D_i = 1` where :math:`p_{g, i} > 0`).

    Args:
        p_data: ``Tensor[K]`` probability vector of the data.
        p_g: ``Tensor[K]`` probability vector of the generator.
        d: ``Tensor[K]`` discriminator outputs :math:`D_i \\in [0, 1]` (probabilities, not logits).

    Returns:
        0-d tensor in the inputs' (promoted) dtype and device, in :math:`[-\\infty, 0]`.
    """
    p_data, p_g = _distributions(p_data, p_g, ("p_data", "p_g"))
    d = _as_float_tensor(d, "d")
    if d.shape != p_data.shape:
        raise ValueError(f"d must have the shape of p_data, {tuple(p_data.shape)}, got {tuple(d.shape)}.")
    _check_values(d, "d", upper=1.0)
    p_data, d = _promote_pair(p_data, d, ("p_data", "d"))
    p_g = p_g.to(d.dtype)
    return torch.xlogy(p_data, d).sum() + torch.xlogy(p_g, 1.0 - d).sum()


def virtual_training_criterion(p_data: Tensor, p_g: Tensor) -> Tensor:
    """The virtual training criterion :math:`C(G) = \\max_D V(D, G) = V(D^*, G)` (Goodfellow et al. 2014, Thm. 1).

    Computed from the definition, by evaluating :func:`gan_value` at :func:`optimal_discriminator`. Theorem 1 states

    .. math::
        C(G) = -\\log 4 + \\mathrm{KL}\\Big(p_{\\text{data}} \\Big\\| \\frac{p_{\\text{data}} + p_g}{2}\\Big)
             + \\mathrm{KL}\\Big(p_g \\Big\\| \\frac{p_{\\text{data}} + p_g}{2}\\Big)
             = -\\log 4 + 2\\,\\mathrm{JS}(p_{\\text{data}} \\| p_g),

    so :math:`C(G) \\ge -\\log 4`, with equality iff :math:`p_g = p_{\\text{data}}` (the tests check this identity
    against :func:`js_divergence`).

    Args:
        p_data, p_g: ``Tensor[K]`` probability vectors.

    Returns:
        0-d tensor in :math:`[-\\log 4, 0]`, in the inputs' (promoted) dtype and device.
    """
    p_data, p_g = _distributions(p_data, p_g, ("p_data", "p_g"))
    return gan_value(p_data, p_g, optimal_discriminator(p_data, p_g))  # V(D*, G)
