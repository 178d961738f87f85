"""Chapter 3's answers for the wrong-answer suite (see ``tests/exercise_suite.py``)."""

from __future__ import annotations

import math

import torch

from exercise_suite import correct, wrong


# ----------------------------------------------------------------------------------------------------------------------
# 3.1 KL, JS, TV
# ----------------------------------------------------------------------------------------------------------------------
def kl(p, q):
    return (torch.xlogy(p, p) - torch.xlogy(p, q)).sum()


def js(p, q):
    m = 0.5 * (p + q)
    return 0.5 * kl(p, m) + 0.5 * kl(q, m)


def tv(p, q):
    return 0.5 * (p - q).abs().sum()


def kl_masked(p, q):
    s = p > 0
    if bool((q[s] == 0).any()):
        return torch.tensor(math.inf, dtype=p.dtype)
    return (p[s] * (p[s].log() - q[s].log())).sum()


def js_entropy(p, q):
    """JS = H(m) - (H(p) + H(q)) / 2, each entropy with 0 log 0 = 0."""
    def h(r):
        return -torch.xlogy(r, r).sum()
    return h(0.5 * (p + q)) - 0.5 * (h(p) + h(q))


def tv_max(p, q):
    """TV = sum of the positive parts of p - q (the largest difference of probability of an event)."""
    return (p - q).clamp_min(0).sum()


def kl_naive(p, q):
    return (p * torch.log(p / q)).sum()


def js_naive(p, q):
    m = 0.5 * (p + q)
    return 0.5 * kl_naive(p, m) + 0.5 * kl_naive(q, m)


def kl_eps(p, q):
    return (p * torch.log((p + 1e-12) / (q + 1e-12))).sum()


def tv_no_half(p, q):
    return (p - q).abs().sum()


def js_kl_pq(p, q):
    """The symmetrised KL instead of JS: infinite on disjoint supports."""
    return 0.5 * (kl(p, q) + kl(q, p))


# ----------------------------------------------------------------------------------------------------------------------
# 3.2 W1
# ----------------------------------------------------------------------------------------------------------------------
def w1_sorted(x, y):
    return (torch.sort(x).values - torch.sort(y).values).abs().mean()


def w1_cdf(x, y):
    """The area between the two empirical CDFs, integrated exactly over the merged sample."""
    z = torch.sort(torch.cat([x, y])).values
    fx = torch.searchsorted(torch.sort(x).values, z[:-1], right=True).to(x.dtype) / x.numel()
    fy = torch.searchsorted(torch.sort(y).values, z[:-1], right=True).to(x.dtype) / y.numel()
    return ((fx - fy).abs() * torch.diff(z)).sum()


def w1_unsorted(x, y):
    return (x - y).abs().mean()


def w1_means(x, y):
    return (x.mean() - y.mean()).abs()


def w1_one_sorted(x, y):
    return (torch.sort(x).values - y).abs().mean()


def w1_squared(x, y):
    return ((torch.sort(x).values - torch.sort(y).values) ** 2).mean().sqrt()


# ----------------------------------------------------------------------------------------------------------------------
# 3.3 chi2
# ----------------------------------------------------------------------------------------------------------------------
def chi2_where(p, q):
    both_zero = (p == 0) & (q == 0)
    terms = torch.where(both_zero, torch.zeros_like(p), (p - q) ** 2 / q)
    return terms.sum()


def chi2_identity(p, q):
    """sum p^2 / q - 1 over the support of q (inf if p has mass where q has none)."""
    s = q > 0
    if bool((p[~s] > 0).any()):
        return torch.tensor(math.inf, dtype=p.dtype)
    return (p[s] ** 2 / q[s]).sum() - 1


def chi2_naive(p, q):
    return ((p - q) ** 2 / q).sum()


def chi2_eps(p, q):
    return ((p - q) ** 2 / (q + 1e-12)).sum()


def chi2_swapped(p, q):
    return chi2_where(q, p)


def chi2_nan_to_num(p, q):
    return torch.nan_to_num((p - q) ** 2 / q, nan=0.0, posinf=0.0).sum()


ANSWERS = {
    "3.1": [
        correct("xlogy", kl, js, tv),
        correct("masked KL, JS from entropies, TV as the positive part", kl_masked, js_entropy, tv_max),
        wrong("p log(p / q): NaN for 0 log 0", kl_naive, js_naive, tv),
        wrong("an epsilon in the logs", kl_eps, js, tv),
        wrong("the symmetrised KL instead of JS", kl, js_kl_pq, tv),
        wrong("TV without the 1/2", kl, js, tv_no_half, max_fraction=0.4),
    ],
    "3.2": [
        correct("sorted samples", w1_sorted),
        correct("the area between the empirical CDFs", w1_cdf),
        wrong("pairing by index (no sort)", w1_unsorted),
        wrong("the difference of the means", w1_means),
        wrong("only one sample sorted", w1_one_sorted),
        wrong("W2 instead of W1", w1_squared),
    ],
    "3.3": [
        correct("torch.where on 0/0", chi2_where),
        correct("sum p^2 / q - 1", chi2_identity),
        wrong("the plain ratio (0/0 outside both supports)", chi2_naive),
        wrong("an epsilon in the denominator", chi2_eps),
        wrong("Neyman's chi2 (arguments swapped)", chi2_swapped),
        wrong("nan_to_num hides the infinity", chi2_nan_to_num),
    ],
}
