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

Chapter 3 adds the Wasserstein-1 distance from CDFs and from weighted samples, WGAN's Example 1 computed on a
discretisation, the Pearson :math:`\\chi^2` divergence with the LSGAN criterion it comes from, and a measurement of the
generator's gradient against an optimal discriminator (or critic) as two distributions move apart.

References: Goodfellow et al., *Generative Adversarial Nets*, NeurIPS 2014 (Proposition 1, Theorem 1);
Arjovsky, Chintala and Bottou, *Wasserstein GAN*, ICML 2017 (Section 2, Example 1);
Arjovsky and Bottou, *Towards Principled Methods for Training Generative Adversarial Networks*, ICLR 2017
(Section 2.2, the vanishing and the unstable generator gradients);
Mao et al., *Least Squares Generative Adversarial Networks*, ICCV 2017 (Section 3.2, Theorem 1).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
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
    # chapter 3
    "wasserstein_1d_cdf",
    "wasserstein_1d_weighted",
    "wgan_example1",
    "pearson_chi2",
    "lsgan_optimal_discriminator",
    "lsgan_generator_criterion",
    "js_gradient_vs_separation",
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


# --------------------------------------------------------------------------------------------------------------
# Chapter 3: the Wasserstein-1 distance from CDFs
# --------------------------------------------------------------------------------------------------------------
def _check_support(support: object, k: int, like: Tensor) -> Tensor:
    """A sorted (non-decreasing), finite 1-D support of ``k`` points, on ``like``'s device."""
    x = _as_float_tensor(support, "support")
    if x.ndim != 1:
        raise ValueError(f"support must be a 1-D tensor of points, got shape {tuple(x.shape)}.")
    if x.shape[0] != k:
        raise ValueError(f"support must have one point per outcome ({k}), got {x.shape[0]} points.")
    bad = ~torch.isfinite(x)
    if bad.any():
        raise ValueError(f"support contains a non-finite value (NaN or inf), first at index {_first_index(bad)[0]}.")
    if x.device != like.device:
        raise ValueError(f"support must be on the device of p and q ({like.device}), got {x.device}.")
    steps = x[1:] - x[:-1]
    if (steps < 0).any():
        i = _first_index(steps < 0)[0]
        raise ValueError(
            f"support must be sorted in non-decreasing order, but support[{i}] = {x[i].item():g} > "
            f"support[{i + 1}] = {x[i + 1].item():g}."
        )
    return x


def wasserstein_1d_cdf(p: Tensor, q: Tensor, support: Tensor) -> Tensor:
    """Wasserstein-1 distance between two discrete distributions on a common sorted 1-D support, from their CDFs.

    In one dimension the Earth Mover's distance is the area between the two cumulative distribution functions,

    .. math::
        W_1(p, q) = \\int_{-\\infty}^{\\infty} |F_p(x) - F_q(x)| \\, dx
                  = \\sum_{i=1}^{K-1} |F_p(x_i) - F_q(x_i)| \\, (x_{i+1} - x_i),
        \\qquad F_p(x_i) = \\sum_{j \\le i} p_j,

    since both CDFs are step functions that are constant between consecutive support points (and equal, 0 or 1,
    outside :math:`[x_1, x_K]`). Unlike KL and JS, it grows with *how far* mass must move, not only with how much
    of it sits where the other distribution has none. Equals
    ``scipy.stats.wasserstein_distance(support, support, p, q)``.

    Args:
        p, q: ``Tensor[K]`` probability vectors, as in :func:`kl_divergence`.
        support: ``Tensor[K]`` the points :math:`x_1 \\le \\dots \\le x_K` the probabilities sit on (sorted,
            finite; a repeated point is allowed and simply contributes no width).

    Returns:
        0-d tensor in the promoted dtype of the three inputs, on their device. Differentiable with respect to
        ``p``, ``q`` and ``support``.
    """
    p, q = _distributions(p, q)
    x = _check_support(support, p.shape[0], p)
    dtype = torch.promote_types(p.dtype, x.dtype)
    p, q, x = p.to(dtype), q.to(dtype), x.to(dtype)
    cdf_gap = (torch.cumsum(p, 0) - torch.cumsum(q, 0))[:-1]  # (K-1,) F_p(x_i) - F_q(x_i), i < K
    widths = x[1:] - x[:-1]  # (K-1,) x_{i+1} - x_i
    return (cdf_gap.abs() * widths).sum()  # sum_i |F_p - F_q| (x_{i+1} - x_i)


def _sample_weights(w: object, n: int, like: Tensor, name: str) -> Tensor:
    """Normalised non-negative weights of ``n`` samples (uniform when ``w`` is None)."""
    if w is None:
        return torch.full((n,), 1.0 / n, dtype=like.dtype, device=like.device)
    w = _as_float_tensor(w, name)
    if w.ndim != 1 or w.shape[0] != n:
        raise ValueError(f"{name} must be a 1-D tensor with one weight per sample ({n}), got shape {tuple(w.shape)}.")
    if w.device != like.device:
        raise ValueError(f"{name} must be on the samples' device ({like.device}), got {w.device}.")
    _check_values(w, name)
    total = w.sum()
    if not total > 0:
        raise ValueError(f"{name} must have a positive sum; all weights are 0.")
    return w / total


def wasserstein_1d_weighted(
    x: Tensor, y: Tensor, x_weights: Tensor | None = None, y_weights: Tensor | None = None
) -> Tensor:
    """Wasserstein-1 distance between two weighted 1-D samples of any sizes (the general case of
    :func:`wasserstein_1d`).

    The samples define the discrete distributions :math:`\\hat P = \\sum_i a_i \\delta_{x_i}` and
    :math:`\\hat Q = \\sum_j b_j \\delta_{y_j}` with weights normalised to sum to 1 (uniform when not given). Both
    are placed on the merged, sorted support :math:`x \\cup y` and :func:`wasserstein_1d_cdf` integrates
    :math:`|F_{\\hat P} - F_{\\hat Q}|`:

    .. math::
        W_1(\\hat P, \\hat Q) = \\int |F_{\\hat P}(t) - F_{\\hat Q}(t)| \\, dt.

    Same arguments and value as ``scipy.stats.wasserstein_distance(x, y, x_weights, y_weights)``.

    Args:
        x: ``Tensor[n]`` finite sample; y: ``Tensor[m]`` finite sample (``m`` may differ from ``n``).
        x_weights: ``Tensor[n]`` non-negative weights with a positive sum, or None for :math:`1/n` each.
        y_weights: ``Tensor[m]`` likewise.

    Returns:
        0-d tensor in the promoted dtype of the samples, on their device.
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
    x, y = _promote_pair(x, y, ("x", "y"))
    a = _sample_weights(x_weights, x.shape[0], x, "x_weights").to(x.dtype)  # (n,)
    b = _sample_weights(y_weights, y.shape[0], y, "y_weights").to(x.dtype)  # (m,)
    values = torch.cat([x, y])  # (n + m,) the merged support, unsorted
    p = torch.cat([a, torch.zeros_like(b)])  # (n + m,) P's mass on the merged support
    q = torch.cat([torch.zeros_like(a), b])  # (n + m,) Q's mass
    order = torch.argsort(values, stable=True)
    return wasserstein_1d_cdf(p[order], q[order], values[order])


# --------------------------------------------------------------------------------------------------------------
# Chapter 3: WGAN's Example 1 (parallel lines), computed on a discretisation
# --------------------------------------------------------------------------------------------------------------
def _parallel_lines(theta: float, n: int, dtype: torch.dtype, device: torch.device) -> tuple[Tensor, ...]:
    """Atoms and probability vectors of P_0 and P_theta discretised with ``n`` points per line.

    Returns ``(atoms_0, atoms_theta, p_0, p_theta)``: the atoms ``Tensor[n, 2]`` of each line and the two
    probability vectors over the union of the atoms (``2n`` outcomes, or ``n`` when ``theta == 0`` and the lines
    coincide).
    """
    y = (torch.arange(n, dtype=dtype, device=device) + 0.5) / n  # (n,) midpoints of n equal cells of [0, 1]
    atoms_0 = torch.stack([torch.zeros_like(y), y], dim=1)  # (n, 2) the points (0, y_j)
    atoms_t = torch.stack([torch.full_like(y, theta), y], dim=1)  # (n, 2) the points (theta, y_j)
    mass = torch.full((n,), 1.0 / n, dtype=dtype, device=device)  # Z ~ U[0, 1] -> mass 1/n per cell
    if theta == 0.0:
        return atoms_0, atoms_t, mass, mass.clone()  # one line: the same n outcomes
    zeros = torch.zeros_like(mass)
    return atoms_0, atoms_t, torch.cat([mass, zeros]), torch.cat([zeros, mass])  # outcomes: line 0, then line theta


def wgan_example1(theta: float | Tensor, n_points: int = 64) -> dict[str, Tensor]:
    """WGAN's Example 1 (Arjovsky et al. 2017): the distances between two parallel lines, computed, not quoted.

    Let :math:`Z \\sim U[0, 1]`, :math:`P_0` the distribution of :math:`(0, Z) \\in \\mathbb{R}^2` and
    :math:`P_\\theta` that of :math:`(\\theta, Z)`. The paper shows

    .. math::
        W_1(P_0, P_\\theta) = |\\theta|, \\quad
        \\mathrm{JS}(P_0, P_\\theta) = \\log 2 \\cdot [\\theta \\ne 0], \\quad
        \\mathrm{KL}(P_0 \\| P_\\theta) = \\mathrm{KL}(P_\\theta \\| P_0) = +\\infty \\cdot [\\theta \\ne 0], \\quad
        \\delta(P_0, P_\\theta) = [\\theta \\ne 0],

    and all four vanish at :math:`\\theta = 0`: only :math:`W_1` is continuous in :math:`\\theta`, so only it
    gives a gradient that says which way to move the generator's line.

    Here :math:`Z` is discretised into the ``n_points`` midpoints :math:`y_j = (j + \\tfrac12)/n` (mass
    :math:`1/n` each), and every quantity is computed from its definition on the resulting discrete distributions:
    KL, reverse KL, JS and TV by :func:`kl_divergence`, :func:`reverse_kl`, :func:`js_divergence` and
    :func:`total_variation` on the union of the atoms of both lines; :math:`W_1` by both sides of the
    Kantorovich-Rubinstein duality,

    .. math::
        \\underbrace{\\sum_{j} \\tfrac1n \\,\\|(0, y_j) - (\\theta, y_j)\\|}_{\\text{cost of the plan }
        (0, y_j) \\mapsto (\\theta, y_j)}
        \\;\\ge\\; W_1(P_0, P_\\theta) \\;\\ge\\;
        \\underbrace{\\mathbb{E}_{P_0} f - \\mathbb{E}_{P_\\theta} f}_{f(u, v) = -\\operatorname{sign}(\\theta)\\, u,
        \\ \\|f\\|_L = 1}.

    The plan's cost is returned as ``w1`` and the critic's value as ``w1_dual``; when they agree (they do, up to
    rounding) the plan is optimal and the value is :math:`W_1` exactly.

    Args:
        theta: the horizontal offset of the second line; a Python number or a real tensor of any shape (e.g. a
            grid of offsets for a plot). Integer tensors are promoted to the default float dtype.
        n_points: number of atoms per line, at least 1. The values do not depend on it (the discretisation is
            exact for these distances); it is there to show that.

    Returns:
        dict with keys ``"theta"``, ``"w1"``, ``"w1_dual"``, ``"js"``, ``"kl"``, ``"reverse_kl"``, ``"tv"``, each a
        tensor shaped like ``theta`` (0-d for a number) in its floating dtype (the default dtype for a number) and on
        its device. ``kl`` and ``reverse_kl`` are ``inf`` for every :math:`\\theta \\ne 0`.
    """
    if isinstance(theta, bool) or not isinstance(theta, (int, float, Tensor)):
        raise TypeError(f"theta must be a number or a torch.Tensor, got {type(theta).__name__}.")
    if isinstance(theta, Tensor):
        theta_t = _as_float_tensor(theta, "theta")
    else:
        theta_t = torch.tensor(float(theta), dtype=torch.get_default_dtype())
    bad = ~torch.isfinite(theta_t)
    if bad.any():
        raise ValueError("theta must be finite, got a NaN or an infinite value.")
    if isinstance(n_points, bool) or not isinstance(n_points, int) or n_points < 1:
        raise ValueError(f"n_points must be a positive int, got {n_points!r}.")
    dtype, device = theta_t.dtype, theta_t.device
    keys = ("w1", "w1_dual", "js", "kl", "reverse_kl", "tv")
    values: dict[str, list[Tensor]] = {k: [] for k in keys}
    for th in theta_t.detach().reshape(-1).tolist():
        atoms_0, atoms_t, p_0, p_t = _parallel_lines(th, n_points, dtype, device)
        values["kl"].append(kl_divergence(p_0, p_t))
        values["reverse_kl"].append(reverse_kl(p_0, p_t))
        values["js"].append(js_divergence(p_0, p_t))
        values["tv"].append(total_variation(p_0, p_t))
        # primal: the plan that moves each atom horizontally, gamma = diag(1/n)
        values["w1"].append(torch.linalg.vector_norm(atoms_0 - atoms_t, dim=1).mean())  # sum_j (1/n) |theta|
        # dual: the 1-Lipschitz critic f(u, v) = -sign(theta) u
        sign = math.copysign(1.0, th) if th != 0.0 else 0.0
        values["w1_dual"].append((-sign * atoms_0[:, 0]).mean() - (-sign * atoms_t[:, 0]).mean())
    out = {k: torch.stack(v).reshape(theta_t.shape) for k, v in values.items()}
    return {"theta": theta_t.detach().clone(), **out}


# --------------------------------------------------------------------------------------------------------------
# Chapter 3: the Pearson chi^2 divergence and LSGAN
# --------------------------------------------------------------------------------------------------------------
def pearson_chi2(p: Tensor, q: Tensor) -> Tensor:
    """Pearson :math:`\\chi^2` divergence of two discrete distributions.

    .. math::
        \\chi^2(p \\| q) = \\sum_i \\frac{(p_i - q_i)^2}{q_i} = \\sum_i \\frac{p_i^2}{q_i} - 1,

    the :math:`f`-divergence :math:`\\sum_i q_i f(p_i / q_i)` with :math:`f(t) = (t - 1)^2`. Terms with
    :math:`p_i = q_i = 0` are 0; it is :math:`+\\infty` as soon as some :math:`p_i > 0 = q_i`. Not symmetric,
    :math:`\\ge 0` with equality iff :math:`p = q`, and :math:`\\mathrm{KL}(p \\| q) \\le \\log(1 + \\chi^2(p \\| q))`.
    It is the statistic of Pearson's test, ``scipy.stats.chisquare(p, q).statistic``.

    LSGAN minimises it (Mao et al. 2017, Theorem 1): see :func:`lsgan_generator_criterion`. Mao et al. write the
    divergence with its arguments in the other order, :math:`\\chi^2_{\\text{Pearson}}(P \\| Q) = \\int (Q - P)^2 / P`;
    this function uses the :math:`f`-divergence order above, with the second argument in the denominator.

    Args:
        p, q: ``Tensor[K]`` probability vectors, as in :func:`kl_divergence`.

    Returns:
        0-d tensor in the inputs' (promoted) dtype and device; ``inf`` when the divergence is infinite.
    """
    p, q = _distributions(p, q)
    positive = q > 0
    safe_q = torch.where(positive, q, torch.ones_like(q))  # keeps the unused branch finite (no 0/0 in gradients)
    off_support = torch.where(p > 0, torch.full_like(p, math.inf), torch.zeros_like(p))  # p_i / 0: inf, 0 / 0: 0
    terms = torch.where(positive, (p - q) ** 2 / safe_q, off_support)  # (K,) (p_i - q_i)^2 / q_i
    return terms.sum()


def _coding(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise TypeError(f"{name} must be a finite real number, got {value!r}.")
    return float(value)


def lsgan_optimal_discriminator(p_data: Tensor, p_g: Tensor, a: float = -1.0, b: float = 1.0) -> Tensor:
    """The optimal least-squares discriminator for a fixed generator (Mao et al. 2017, Eq. 4).

    The LSGAN discriminator minimises
    :math:`\\tfrac12 \\mathbb{E}_{p_{\\text{data}}}[(D(x) - b)^2] + \\tfrac12 \\mathbb{E}_{p_g}[(D(x) - a)^2]`
    (real coded :math:`b`, fake coded :math:`a`); pointwise, the minimiser of
    :math:`p_{\\text{data}} (y - b)^2 + p_g (y - a)^2` is

    .. math::
        D^*(x) = \\frac{b\\, p_{\\text{data}}(x) + a\\, p_g(x)}{p_{\\text{data}}(x) + p_g(x)}.

    Where both densities are 0 any value is optimal; this function returns :math:`(a + b)/2` there (the value it
    takes everywhere when :math:`p_g = p_{\\text{data}}`).

    Args:
        p_data, p_g: non-negative finite density values or probabilities, any (equal) shape, as in
            :func:`optimal_discriminator`.
        a, b: the codings of fake and real samples (Mao et al.'s Eq. 8 uses :math:`a = -1`, :math:`b = 1`).

    Returns:
        Tensor of the inputs' shape, in their promoted floating dtype and on their device.
    """
    a, b = _coding(a, "a"), _coding(b, "b")
    p_data = _as_float_tensor(p_data, "p_data")
    p_g = _as_float_tensor(p_g, "p_g")
    if p_data.shape != p_g.shape:
        raise ValueError(f"p_data and p_g must have the same shape, got {tuple(p_data.shape)} and {tuple(p_g.shape)}.")
    p_data, p_g = _promote_pair(p_data, p_g, ("p_data", "p_g"))
    _check_values(p_data, "p_data")
    _check_values(p_g, "p_g")
    total = p_data + p_g
    off_support = total == 0
    safe_total = torch.where(off_support, torch.ones_like(total), total)
    middle = torch.full_like(total, 0.5 * (a + b))
    return torch.where(off_support, middle, (b * p_data + a * p_g) / safe_total)  # (b p_data + a p_g) / (p_data + p_g)


def lsgan_generator_criterion(
    p_data: Tensor, p_g: Tensor, a: float = -1.0, b: float = 1.0, c: float = 0.0
) -> Tensor:
    """The LSGAN generator's objective against the optimal discriminator, :math:`C(G)` (Mao et al. 2017, Thm. 1).

    Computed from the definition: with :math:`D^*` from :func:`lsgan_optimal_discriminator`,

    .. math::
        C(G) = \\tfrac12 \\sum_i p_{\\text{data}, i} (D^*_i - c)^2 + \\tfrac12 \\sum_i p_{g, i} (D^*_i - c)^2

    (the first term does not depend on :math:`G`; Mao et al. add it to state the theorem). Theorem 1: when
    :math:`b - c = 1` and :math:`b - a = 2` (e.g. :math:`a, b, c = -1, 1, 0`),

    .. math::
        2 C(G) = \\sum_i \\frac{\\big(2 p_{g,i} - (p_{\\text{data},i} + p_{g,i})\\big)^2}{p_{\\text{data},i} + p_{g,i}}
        \\quad\\Longleftrightarrow\\quad
        C(G) = \\chi^2\\Big(p_g \\,\\Big\\|\\, \\frac{p_{\\text{data}} + p_g}{2}\\Big)

    (in the order of :func:`pearson_chi2`), so minimising :math:`C(G)` minimises a Pearson :math:`\\chi^2`
    divergence, with minimum 0 iff :math:`p_g = p_{\\text{data}}`. The tests check this identity.

    Args:
        p_data, p_g: ``Tensor[K]`` probability vectors.
        a, b, c: the fake coding, the real coding, and the value the generator wants :math:`D` to output on fakes.

    Returns:
        0-d tensor, non-negative, in the inputs' (promoted) dtype and device.
    """
    a, b, c = _coding(a, "a"), _coding(b, "b"), _coding(c, "c")
    p_data, p_g = _distributions(p_data, p_g, ("p_data", "p_g"))
    d_star = lsgan_optimal_discriminator(p_data, p_g, a, b)  # (K,)
    return 0.5 * (p_data * (d_star - c) ** 2).sum() + 0.5 * (p_g * (d_star - c) ** 2).sum()


# --------------------------------------------------------------------------------------------------------------
# Chapter 3: the generator's gradient against an optimal discriminator, as the distributions move apart
# --------------------------------------------------------------------------------------------------------------
def js_gradient_vs_separation(
    thetas: Tensor, sigma: float = 1.0, n_quad: int = 2001, half_width: float = 12.0
) -> dict[str, Tensor]:
    """Measure the generator's gradient against the *optimal* discriminator (or critic) as :math:`p_g` moves away.

    The setting: :math:`p_{\\text{data}} = \\mathcal{N}(0, \\sigma^2)`, and a generator
    :math:`G_\\theta(\\varepsilon) = \\theta + \\sigma \\varepsilon`, :math:`\\varepsilon \\sim \\mathcal{N}(0, 1)`, so
    :math:`p_g = \\mathcal{N}(\\theta, \\sigma^2)`. For each :math:`\\theta` the discriminator is the optimal one for
    the current generator, held fixed while the generator's gradient is taken (as in training, where the generator
    step does not move :math:`D`). Its logit is the log density ratio

    .. math::
        \\ell^*(x) = \\log \\frac{p_{\\text{data}}(x)}{p_g(x)}
                  = \\frac{\\theta}{\\sigma^2}\\Big(\\frac{\\theta}{2} - x\\Big),
        \\qquad D^*(x) = \\sigma(\\ell^*(x)),

    and the optimal 1-Lipschitz critic of :math:`W_1 = \\sup_f \\mathbb{E}_{p_{\\text{data}}} f - \\mathbb{E}_{p_g} f`
    has slope :math:`f'(x) = \\operatorname{sign}(F_g(x) - F_{\\text{data}}(x))`, here
    :math:`f^*(x) = -\\operatorname{sign}(\\theta)\\, x`. The three generator losses, and their gradients in
    :math:`\\theta` by autograd through :math:`x = G_\\theta(\\varepsilon)`:

    .. math::
        L_{\\text{sat}} = \\mathbb{E}_\\varepsilon \\log(1 - D^*(x)) = -\\mathbb{E} \\operatorname{softplus}(\\ell^*),
        \\quad
        L_{\\text{ns}} = -\\mathbb{E}_\\varepsilon \\log D^*(x) = \\mathbb{E} \\operatorname{softplus}(-\\ell^*),
        \\quad
        L_{W} = -\\mathbb{E}_\\varepsilon f^*(x).

    What the numbers show (the tests pin each):

    - :math:`\\partial L_{\\text{sat}} / \\partial\\theta = 2\\, d\\mathrm{JS}/d\\theta` (envelope theorem applied to
      :math:`C(G) = -\\log 4 + 2\\mathrm{JS}`), and it equals
      :math:`\\tfrac{\\theta}{\\sigma^2} \\mathbb{E}_{p_g} D^*(x)`, where
      :math:`\\mathbb{E}_{p_g} D^* = \\int \\frac{p_{\\text{data}}\\, p_g}{p_{\\text{data}} + p_g}
      \\sim \\sqrt{\\pi/2}\\, \\frac{\\sigma}{|\\theta|}\\, e^{-\\theta^2 / 8\\sigma^2}` for large
      :math:`|\\theta|`: it *vanishes* as the distributions separate, because JS saturates at :math:`\\log 2`
      (Arjovsky and Bottou 2017, Section 2.2);
    - :math:`\\partial L_{\\text{ns}} / \\partial\\theta = \\tfrac{\\theta}{\\sigma^2} \\mathbb{E}_{p_g}(1 - D^*)
      \\to \\theta / \\sigma^2`: it does not vanish, it *grows* with the separation (against a sharp, near-optimal
      discriminator its updates become large and unstable, ibid.);
    - :math:`\\partial L_W / \\partial\\theta = \\operatorname{sign}(\\theta)`: magnitude 1 at every separation,
      pointing back to the data, because :math:`W_1 = |\\theta|` here.

    Expectations are computed by quadrature on a fixed grid of ``n_quad`` points of :math:`\\varepsilon \\in`
    ``[-half_width, half_width]`` with normalised Gaussian weights (deterministic; no sampling noise).

    Args:
        thetas: ``Tensor[T]`` (or 0-d) offsets of the generator's mean; real, finite, with
            :math:`|\\theta| \\le 2\\sigma(\\text{half\\_width} - 6)` so that the quadrature covers the region where
            the two densities cross.
        sigma: the common standard deviation :math:`\\sigma > 0`.
        n_quad: number of quadrature points (at least 101).
        half_width: the grid covers :math:`\\varepsilon \\in [-h, h]`; at least 7.

    Returns:
        dict of tensors shaped like ``thetas``, detached, in its floating dtype and on its device: ``"theta"``,
        ``"js"`` (:math:`\\mathrm{JS}(p_{\\text{data}}, p_g)`, from :math:`V(D^*, G) = -\\log 4 + 2\\mathrm{JS}`),
        ``"w1"`` (:math:`\\mathbb{E}_{p_{\\text{data}}} f^* - \\mathbb{E}_{p_g} f^*`, which is :math:`|\\theta|`),
        ``"d_fake"`` (:math:`\\mathbb{E}_{p_g} D^*`), ``"loss_saturating"``, ``"loss_non_saturating"``,
        ``"loss_w1"``, ``"grad_saturating"``, ``"grad_non_saturating"``, ``"grad_w1"``.
    """
    thetas = _as_float_tensor(thetas, "thetas")
    if thetas.ndim > 1:
        raise ValueError(f"thetas must be a 0-d or 1-D tensor of offsets, got shape {tuple(thetas.shape)}.")
    if not torch.isfinite(thetas).all():
        raise ValueError("thetas must be finite, got a NaN or an infinite value.")
    sigma = _coding(sigma, "sigma")
    if not sigma > 0:
        raise ValueError(f"sigma must be positive, got {sigma}.")
    if isinstance(n_quad, bool) or not isinstance(n_quad, int) or n_quad < 101:
        raise ValueError(f"n_quad must be an int of at least 101, got {n_quad!r}.")
    half_width = _coding(half_width, "half_width")
    if not half_width >= 7.0:
        raise ValueError(f"half_width must be at least 7, got {half_width}.")
    limit = 2.0 * sigma * (half_width - 6.0)
    if thetas.numel() and float(thetas.detach().abs().max()) > limit:
        raise ValueError(
            f"|theta| must be at most 2 * sigma * (half_width - 6) = {limit:g} for an accurate quadrature, got "
            f"{float(thetas.detach().abs().max()):g}; raise half_width (and n_quad) or reduce theta."
        )
    shape, dtype, device = thetas.shape, thetas.dtype, thetas.device
    eps = torch.linspace(-half_width, half_width, n_quad, dtype=dtype, device=device)  # (Q,) quadrature nodes
    w = torch.exp(-0.5 * eps**2)
    w = w / w.sum()  # (Q,) weights of E_{eps ~ N(0, 1)}, normalised so that E[1] = 1
    with torch.enable_grad():  # a notebook may call this inside torch.no_grad()
        theta = thetas.detach().reshape(-1).clone().requires_grad_(True)  # (T,)
        th_d = theta.detach()[:, None]  # (T, 1) the frozen discriminator's view of theta
        x_fake = theta[:, None] + sigma * eps[None, :]  # (T, Q) x = G_theta(eps), differentiable in theta
        x_real = (sigma * eps)[None, :].expand_as(x_fake)  # (T, Q) data samples, independent of theta

        def logit(x: Tensor) -> Tensor:
            return (th_d / sigma**2) * (0.5 * th_d - x)  # l*(x) = log p_data(x) - log p_g(x)

        def critic(x: Tensor) -> Tensor:
            return -torch.sign(th_d) * x  # f*(x) = -sign(theta) x, 1-Lipschitz

        loss_sat = -(w * F.softplus(logit(x_fake))).sum(1)  # E log(1 - D*(x)) = -E softplus(l*), (T,)
        loss_ns = (w * F.softplus(-logit(x_fake))).sum(1)  # -E log D*(x) = E softplus(-l*), (T,)
        loss_w = -(w * critic(x_fake)).sum(1) + 0.0  # -E f*(G(eps)), (T,); "+ 0.0" turns -0.0 at theta = 0 into 0.0
        # each loss_t depends on theta_t only, so the gradient of the sum is the vector of per-theta gradients
        grads = [
            torch.autograd.grad(loss.sum(), theta, retain_graph=True)[0] for loss in (loss_sat, loss_ns, loss_w)
        ]
    with torch.no_grad():
        e_log_d_real = -(w * F.softplus(-logit(x_real))).sum(1)  # E_data log D*(x), (T,)
        js = 0.5 * (e_log_d_real + loss_sat) + _LOG2  # V(D*, G) = -log 4 + 2 JS
        w1 = (w * critic(x_real)).sum(1) - (w * critic(x_fake)).sum(1)  # E_data f* - E_g f*, (T,)
        d_fake = (w * torch.sigmoid(logit(x_fake))).sum(1)  # E_g D*(x), (T,)
    out = {
        "theta": theta.detach(),
        "js": js.clamp(0.0, _LOG2),
        "w1": w1,
        "d_fake": d_fake,
        "loss_saturating": loss_sat.detach(),
        "loss_non_saturating": loss_ns.detach(),
        "loss_w1": loss_w.detach(),
        "grad_saturating": grads[0],
        "grad_non_saturating": grads[1],
        "grad_w1": grads[2],
    }
    return {k: v.reshape(shape) for k, v in out.items()}
