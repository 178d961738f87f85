"""Chapter 1's answers for the wrong-answer suite (see ``tests/exercise_suite.py``)."""

from __future__ import annotations

import math

import torch

from course_lib.data import numeric_cdf
from exercise_suite import correct, wrong


# ----------------------------------------------------------------------------------------------------------------------
# 1.1 inverse CDF
# ----------------------------------------------------------------------------------------------------------------------
def _interpolate(F, x, v, j):
    f0, f1 = F[j - 1], F[j]
    t = (v - f0) / (f1 - f0)
    return x[j - 1] + t * (x[j] - x[j - 1])


def inverse_right_by_counting(pdf, grid, u):
    """min{x : F(x) > u}: count the F_j <= u with a comparison matrix; u = 1 -> the first F_j = 1."""
    F = numeric_cdf(pdf, grid)
    x = grid.to(F.dtype)
    v = u.reshape(-1).to(F.dtype)
    j = (F[None, :] <= v[:, None]).sum(dim=1)                   # index of the first F_j > u
    top = j == F.numel()
    jj = torch.where(top, torch.ones_like(j), j)
    out = _interpolate(F, x, v, jj)
    first_one = int((F < 1).sum())
    return torch.where(top, x[first_one], out).reshape(u.shape)


def inverse_left_theory(pdf, grid, u):
    """The theory page's definition, F^{-1}(u) = min{x : F(x) >= u} (u = 0 gives the first grid point)."""
    F = numeric_cdf(pdf, grid)
    x = grid.to(F.dtype)
    v = u.reshape(-1).to(F.dtype)
    j = (F[None, :] < v[:, None]).sum(dim=1)                    # index of the first F_j >= u
    zero = j == 0
    jj = torch.where(zero, torch.ones_like(j), j)
    out = _interpolate(F, x, v, jj)
    return torch.where(zero, x[0], out).reshape(u.shape)


def inverse_numpy_loop(pdf, grid, u):
    """A Python loop over u (slow but right), right-continuous, in float64 then cast."""
    F = numeric_cdf(pdf, grid)
    Fl, xl = F.tolist(), grid.to(F.dtype).tolist()
    out = []
    for value in u.reshape(-1).tolist():
        if value >= 1.0:
            out.append(xl[Fl.index(1.0)] if 1.0 in Fl else xl[-1])
            continue
        j = next(k for k, f in enumerate(Fl) if f > value)
        out.append(xl[j - 1] + (value - Fl[j - 1]) / (Fl[j] - Fl[j - 1]) * (xl[j] - xl[j - 1]))
    return torch.tensor(out, dtype=F.dtype).reshape(u.shape)


def inverse_nearest_grid_point(pdf, grid, u):
    """No interpolation: the grid point where F first exceeds u."""
    F = numeric_cdf(pdf, grid)
    j = torch.searchsorted(F, u.reshape(-1).to(F.dtype), right=True).clamp(max=F.numel() - 1)
    return grid.to(F.dtype)[j].reshape(u.shape)


def inverse_unguarded(pdf, grid, u):
    """searchsorted on the left, j clamped to [1, M-1], no care for u = 0 or u = 1: 0/0 on flat end cells."""
    F = numeric_cdf(pdf, grid)
    v = u.reshape(-1).to(F.dtype)
    j = torch.searchsorted(F, v, right=True).clamp(1, F.numel() - 1)
    return _interpolate(F, grid.to(F.dtype), v, j).reshape(u.shape)


def inverse_riemann_cdf(pdf, grid, u):
    """The CDF as a plain cumulative sum of the density (left Riemann sum), not the trapezoid rule."""
    p = pdf.to(torch.float64)
    F = torch.cat([p.new_zeros(1), torch.cumsum(p[:-1] * torch.diff(grid.to(torch.float64)), 0)])
    F = (F / F[-1]).to(numeric_cdf(pdf, grid).dtype)
    v = u.reshape(-1).to(F.dtype)
    j = torch.searchsorted(F, v, right=True).clamp(1, F.numel() - 1)
    t = ((v - F[j - 1]) / (F[j] - F[j - 1])).nan_to_num(1.0).clamp(0, 1)
    x = grid.to(F.dtype)
    return (x[j - 1] + t * (x[j] - x[j - 1])).reshape(u.shape)


# ----------------------------------------------------------------------------------------------------------------------
# 1.2 KL
# ----------------------------------------------------------------------------------------------------------------------
def kl_where(p, q):
    terms = torch.where(p > 0, p * (torch.log(p) - torch.log(q)), torch.zeros_like(p))
    return terms.sum()


def kl_xlogy(p, q):
    """x log x - x log y with torch.xlogy (0 log 0 = 0 built in); p log(p/0) = +inf."""
    return (torch.xlogy(p, p) - torch.xlogy(p, q)).sum()


def kl_masked(p, q):
    m = p > 0
    if bool((q[m] == 0).any()):
        return torch.tensor(math.inf, dtype=p.dtype)
    return (p[m] * torch.log(p[m] / q[m])).sum()


def kl_naive(p, q):
    return (p * torch.log(p / q)).sum()


def kl_epsilon(p, q):
    eps = 1e-10
    return (p * torch.log((p + eps) / (q + eps))).sum()


def kl_swapped(p, q):
    return kl_where(q, p)


def kl_nan_to_num(p, q):
    """Zeros the NaN of 0 log 0, and the inf too: a finite value where the divergence is infinite."""
    return torch.nan_to_num(p * torch.log(p / q), nan=0.0, posinf=0.0).sum()


# ----------------------------------------------------------------------------------------------------------------------
# 1.3 conditional mean
# ----------------------------------------------------------------------------------------------------------------------
def cm_logsumexp(x_train, y_train, x_query, h):
    d2 = ((x_query[:, None, :] - x_train[None, :, :]) ** 2).sum(-1)
    logits = -d2 / (2 * h * h)
    w = torch.exp(logits - torch.logsumexp(logits, dim=1, keepdim=True))
    return w @ y_train


def cm_shifted_exp(x_train, y_train, x_query, h):
    d2 = torch.cdist(x_query.double(), x_train.double()) ** 2
    logits = -d2 / (2 * h * h)
    e = torch.exp(logits - logits.max(dim=1, keepdim=True).values)
    return ((e / e.sum(1, keepdim=True)) @ y_train.double()).to(y_train.dtype)


def cm_plain_ratio(x_train, y_train, x_query, h):
    d2 = ((x_query[:, None, :] - x_train[None, :, :]) ** 2).sum(-1)
    k = torch.exp(-d2 / (2 * h * h))
    return (k @ y_train) / k.sum(1, keepdim=True)


def cm_nearest(x_train, y_train, x_query, h):
    return y_train[torch.cdist(x_query, x_train).argmin(dim=1)]


def cm_no_normalisation(x_train, y_train, x_query, h):
    d2 = ((x_query[:, None, :] - x_train[None, :, :]) ** 2).sum(-1)
    return torch.exp(-d2 / (2 * h * h)) @ y_train


def cm_bandwidth_not_squared(x_train, y_train, x_query, h):
    d2 = ((x_query[:, None, :] - x_train[None, :, :]) ** 2).sum(-1)
    return torch.softmax(-d2 / (2 * h), dim=1) @ y_train


ANSWERS = {
    "1.1": [
        correct("right-continuous, by counting", inverse_right_by_counting),
        correct("the theory's min{x : F(x) >= u}", inverse_left_theory),
        correct("a Python loop", inverse_numpy_loop),
        wrong("no interpolation (nearest grid point)", inverse_nearest_grid_point),
        wrong("no care for u = 1 on a flat end cell (0/0)", inverse_unguarded),
        wrong("a Riemann-sum CDF instead of the given numeric CDF", inverse_riemann_cdf),
    ],
    "1.2": [
        correct("torch.where on the support", kl_where),
        correct("torch.xlogy", kl_xlogy),
        correct("masked, inf by hand", kl_masked),
        wrong("plain p log(p / q): NaN for 0 log 0", kl_naive),
        wrong("an epsilon in the log", kl_epsilon),
        wrong("KL(q || p)", kl_swapped),
        wrong("nan_to_num hides the infinity", kl_nan_to_num),
    ],
    "1.3": [
        correct("logsumexp weights", cm_logsumexp),
        correct("max-shifted exponentials in float64", cm_shifted_exp),
        wrong("the plain ratio of exponentials (0/0 far away)", cm_plain_ratio),
        wrong("the nearest neighbour's target", cm_nearest),
        wrong("unnormalised kernel weights", cm_no_normalisation),
        wrong("h instead of h squared", cm_bandwidth_not_squared),
    ],
}
