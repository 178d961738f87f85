"""Inverse transform sampling through a numeric CDF.

Chapter 1's first sampler: tabulate a density :math:`p` on a grid, integrate it numerically into a CDF :math:`F`, then
push uniform noise through :math:`F^{-1}`. If :math:`U \\sim \\mathcal U(0, 1)` then :math:`F^{-1}(U)` has CDF
:math:`F`, because :math:`P(F^{-1}(U) \\le x) = P(U \\le F(x)) = F(x)`. A GAN generator learns such a map from noise
to data when no density is written down.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

__all__ = ["numeric_cdf", "inverse_cdf", "inverse_transform_sample"]


def _as_1d_float(x: Any, name: str) -> Tensor:
    if isinstance(x, (str, bytes)) or x is None:
        raise TypeError(f"{name} must be a 1-D tensor of numbers, got {type(x).__name__}.")
    if not isinstance(x, Tensor):
        try:
            x = torch.as_tensor(x)
        except (TypeError, ValueError, RuntimeError) as err:
            raise TypeError(f"{name} must be a 1-D tensor of numbers, got {x!r}.") from err
    if x.dtype == torch.bool or x.is_complex():
        raise TypeError(f"{name} must hold real numbers, got dtype {x.dtype}.")
    if x.dim() != 1:
        raise ValueError(f"{name} must be 1-D, got shape {tuple(x.shape)}.")
    return x.detach()


def _validate(pdf_values: Any, grid: Any) -> tuple[Tensor, Tensor]:
    """Check the tabulated density and return both as tensors of one floating dtype on the grid's device."""
    p = _as_1d_float(pdf_values, "pdf_values")
    g = _as_1d_float(grid, "grid")
    if p.numel() != g.numel():
        raise ValueError(f"pdf_values and grid must have the same length, got {p.numel()} and {g.numel()}.")
    if g.numel() < 2:
        raise ValueError(f"need at least 2 grid points to integrate, got {g.numel()}.")
    dtype = torch.promote_types(p.dtype, g.dtype)
    if not dtype.is_floating_point:
        dtype = torch.get_default_dtype()
    p, g = p.to(device=g.device, dtype=dtype), g.to(dtype)
    if not (torch.isfinite(p).all() and torch.isfinite(g).all()):
        raise ValueError("pdf_values and grid must be finite (no NaN or inf).")
    if not (g[1:] > g[:-1]).all():
        i = int(torch.nonzero(g[1:] <= g[:-1])[0].item())
        raise ValueError(f"grid must be strictly increasing, but grid[{i + 1}] = {g[i + 1].item()} <= "
                         f"grid[{i}] = {g[i].item()}.")
    if (p < 0).any():
        i = int(torch.nonzero(p < 0)[0].item())
        raise ValueError(f"pdf_values must be >= 0, but pdf_values[{i}] = {p[i].item()}.")
    return p, g


def numeric_cdf(pdf_values: Tensor, grid: Tensor) -> Tensor:
    r"""Cumulative integral of a tabulated density by the trapezoid rule, normalised to end at 1.

    .. math::
        \tilde F_0 = 0, \qquad
        \tilde F_j = \sum_{i=1}^{j} \tfrac12 \,(p_{i-1} + p_i)\,(x_i - x_{i-1}), \qquad
        F_j = \tilde F_j / \tilde F_{M-1}.

    Normalising makes an unnormalised density (any :math:`p \ge 0` with positive mass) fine.

    Args:
        pdf_values: ``(M,)`` density values :math:`p_j \ge 0` at the grid points.
        grid: ``(M,)`` strictly increasing points :math:`x_j`, :math:`M \ge 2`.

    Returns:
        ``(M,)`` non-decreasing, :math:`F_0 = 0`, :math:`F_{M-1} = 1`; dtype the promoted floating dtype of the inputs,
        on ``grid``'s device.

    Raises:
        ValueError: not 1-D, different lengths, fewer than 2 points, a grid that is not strictly increasing, a
            negative or non-finite value, or zero total mass.
    """
    p, g = _validate(pdf_values, grid)
    increments = 0.5 * (p[1:] + p[:-1]) * (g[1:] - g[:-1])            # (M-1,) mass of each cell
    cum = torch.cat([torch.zeros(1, dtype=p.dtype, device=p.device), torch.cumsum(increments, 0)])  # (M,)
    total = cum[-1]
    if not total > 0:
        raise ValueError("pdf_values has zero total mass on the grid: there is nothing to sample from.")
    if not torch.isfinite(total):
        raise ValueError("the total mass overflows: rescale pdf_values.")
    cdf = cum / total
    cdf[-1] = 1.0                                                     # exact, whatever the rounding
    return cdf


def inverse_transform_sample(pdf_values: Tensor, grid: Tensor, n: int,
                             generator: torch.Generator | None = None) -> Tensor:
    r"""Draw ``n`` samples from a tabulated density by inverting its numeric CDF.

    With :math:`F` from :func:`numeric_cdf` and :math:`u \sim \mathcal U[0, 1)`, find the cell :math:`j` with
    :math:`F_{j-1} \le u < F_j` (``torch.searchsorted(..., right=True)``) and interpolate linearly inside it:

    .. math::
        x = x_{j-1} + \frac{u - F_{j-1}}{F_j - F_{j-1}}\,(x_j - x_{j-1}).

    That is exact sampling from the piecewise-linear CDF through the grid points (uniform density inside each cell,
    each cell carrying its trapezoid mass). Cells of zero mass (flat CDF, zero density at both ends) have
    :math:`F_{j-1} = F_j`, so no :math:`u` satisfies :math:`F_{j-1} \le u < F_j` there: samples never land in a
    zero-density gap, and there is never a division by zero.

    Args:
        pdf_values: ``(M,)`` density values (unnormalised is fine), >= 0.
        grid: ``(M,)`` strictly increasing grid.
        n: number of samples (>= 0).
        generator: optional ``torch.Generator``; the same seed gives the same samples. The uniforms are drawn on its
            device, then moved to the grid's.

    Returns:
        ``(n,)`` samples in ``[grid[0], grid[-1]]``, dtype and device of the numeric CDF.
    """
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"n must be an int, got {type(n).__name__}.")
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}.")
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator or None, got {type(generator).__name__}.")
    cdf = numeric_cdf(pdf_values, grid)                                # (M,) validates the density
    gen_device = generator.device if generator is not None else cdf.device
    u = torch.rand(n, generator=generator, device=gen_device, dtype=cdf.dtype).to(cdf.device)  # (n,) in [0, 1)
    return inverse_cdf(pdf_values, grid, u)


def inverse_cdf(pdf_values: Tensor, grid: Tensor, u: Tensor) -> Tensor:
    r"""Map uniforms :math:`u \in [0, 1]` through the inverse of the numeric CDF of a tabulated density.

    With :math:`F` = :func:`course_lib.data.sampling.numeric_cdf` (trapezoid rule, :math:`F_0 = 0`,
    :math:`F_{M-1} = 1`), the CDF between grid points is the straight line through :math:`(x_j, F_j)`. For
    :math:`u < 1`, find the cell :math:`j` with :math:`F_{j-1} \le u < F_j` and interpolate:

    .. math::
        x = x_{j-1} + \frac{u - F_{j-1}}{F_j - F_{j-1}} \, (x_j - x_{j-1}),

    i.e. :math:`x = \min\{x : F(x) > u\}`, the point where the piecewise-linear CDF first rises above :math:`u`. Since
    :math:`F_j > u \ge F_{j-1}`, the denominator is positive: flat stretches of :math:`F` (zero-density gaps) are
    jumped over and never sampled, and :math:`u = 0` gives the left end of the support. At :math:`u = 1` no
    :math:`F_j` exceeds :math:`u`; the answer there is :math:`\min\{x_j : F_j = 1\}`, the right end of the support.
    If :math:`U \sim \mathcal U[0, 1)`, then :math:`x(U)` has the piecewise-linear CDF :math:`F`.

    Args:
        pdf_values: ``(M,)`` density values at the grid points, >= 0, any positive total mass (unnormalised is fine).
        grid: ``(M,)`` strictly increasing points, :math:`M \ge 2`.
        u: uniforms of any shape, every value in :math:`[0, 1]`.

    Returns:
        Tensor of ``u``'s shape with values in ``[grid[0], grid[-1]]``, in the dtype of the numeric CDF (the promoted
        floating dtype of ``pdf_values`` and ``grid``), on ``grid``'s device. With ``u = torch.rand(n, generator=g)``
        it equals ``inverse_transform_sample(pdf_values, grid, n, g')`` for ``g'`` seeded like ``g``.

    Raises:
        TypeError: ``u`` is not a real floating tensor.
        ValueError: ``u`` has a value outside :math:`[0, 1]` or NaN, or the density is invalid (see ``numeric_cdf``).
    """
    cdf = numeric_cdf(pdf_values, grid)                                # (M,) F_0 = 0 <= ... <= F_{M-1} = 1
    if not isinstance(u, Tensor):
        raise TypeError(f"u must be a torch.Tensor of uniforms, got {type(u).__name__}.")
    if not u.is_floating_point():
        raise TypeError(f"u must be a floating-point tensor, got dtype {u.dtype}.")
    if u.device != cdf.device:
        raise ValueError(f"u must be on the grid's device ({cdf.device}), got {u.device}.")
    if bool(torch.isnan(u).any()) or bool((u < 0).any()) or bool((u > 1).any()):
        raise ValueError("u must hold values in [0, 1] (no NaN).")
    g = grid.detach().to(device=cdf.device, dtype=cdf.dtype) if isinstance(grid, Tensor) else \
        torch.as_tensor(grid, dtype=cdf.dtype, device=cdf.device)   # (M,)
    m = cdf.numel()
    shape = u.shape
    v = u.detach().to(cdf.dtype).reshape(-1)                           # (n,) flattened uniforms
    j = torch.searchsorted(cdf, v, right=True)                         # (n,) first index with F_j > u
    at_top = j >= m                                                    # u = 1: no F_j exceeds it
    j = j.clamp(1, m - 1)
    f_lo, f_hi = cdf[j - 1], cdf[j]
    t = (v - f_lo) / (f_hi - f_lo)                                     # in [0, 1) where u < 1
    x = g[j - 1] + t.clamp(0.0, 1.0) * (g[j] - g[j - 1])               # linear inside the cell
    j_top = torch.searchsorted(cdf, torch.ones_like(v), right=False)   # first index with F_j = 1
    x = torch.where(at_top, g[j_top.clamp(max=m - 1)], x)              # u = 1: the right end of the support
    return x.reshape(shape)
