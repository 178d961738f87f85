"""Chapter 8's answers for the wrong-answer suite (see ``tests/exercise_suite.py``)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from exercise_suite import correct, wrong


# ----------------------------------------------------------------------------------------------------------------------
# 8.1 self-attention
# ----------------------------------------------------------------------------------------------------------------------
class _Base(nn.Module):
    gamma_init = 0.0

    def __init__(self, channels):
        super().__init__()
        k = max(1, channels // 8)
        self.f = nn.Conv2d(channels, k, kernel_size=1)
        self.g = nn.Conv2d(channels, k, kernel_size=1)
        self.h = nn.Conv2d(channels, channels, kernel_size=1)
        self.gamma = nn.Parameter(torch.full((1,), self.gamma_init))


class SAEinsum(_Base):
    def forward(self, x):
        b, c, hh, ww = x.shape
        keys, queries, values = self.f(x).flatten(2), self.g(x).flatten(2), self.h(x).flatten(2)
        s = torch.einsum("bki,bkj->bji", keys, queries)  # s[b, j, i] = f(x_i) . g(x_j)
        beta = s.softmax(dim=2)  # over the keys i
        o = torch.einsum("bji,bci->bcj", beta, values).reshape(b, c, hh, ww)
        return self.gamma * o + x


class SASdpa(_Base):
    """PyTorch's fused attention with the scale set to 1 (SAGAN does not divide by sqrt(d))."""

    def forward(self, x):
        b, c, hh, ww = x.shape
        q = self.g(x).flatten(2).transpose(1, 2)  # (B, N, k)
        k = self.f(x).flatten(2).transpose(1, 2)
        v = self.h(x).flatten(2).transpose(1, 2)  # (B, N, C)
        o = F.scaled_dot_product_attention(q, k, v, scale=1.0)  # (B, N, C)
        return x + self.gamma * o.transpose(1, 2).reshape(b, c, hh, ww)


class SAManualSoftmax(nn.Module):
    """Scalar gamma as a 0-d parameter, softmax written out with the max subtracted."""

    def __init__(self, channels):
        super().__init__()
        self.f = nn.Conv2d(channels, channels // 8, 1)
        self.g = nn.Conv2d(channels, channels // 8, 1)
        self.h = nn.Conv2d(channels, channels, 1)
        self.gamma = nn.Parameter(torch.tensor(0.0))

    def forward(self, x):
        b, c, hh, ww = x.shape
        f = self.f(x).view(b, -1, hh * ww)
        g = self.g(x).view(b, -1, hh * ww)
        h = self.h(x).view(b, c, hh * ww)
        s = f.transpose(1, 2) @ g  # (B, N_i, N_j)
        e = torch.exp(s - s.max(dim=1, keepdim=True).values)
        beta = e / e.sum(dim=1, keepdim=True)  # columns sum to 1: over i
        return self.gamma * (h @ beta).view(b, c, hh, ww) + x


class SAWrongAxis(_Base):
    def forward(self, x):
        b, c, hh, ww = x.shape
        s = torch.bmm(self.g(x).flatten(2).transpose(1, 2), self.f(x).flatten(2))  # (B, N_j, N_i)
        beta = s.softmax(dim=1)  # over the queries j: wrong
        o = torch.bmm(self.h(x).flatten(2), beta.transpose(1, 2)).view(b, c, hh, ww)
        return self.gamma * o + x


class SAGammaOne(SAEinsum):
    gamma_init = 1.0


class SAScaled(_Base):
    def forward(self, x):
        b, c, hh, ww = x.shape
        keys, queries, values = self.f(x).flatten(2), self.g(x).flatten(2), self.h(x).flatten(2)
        s = torch.einsum("bki,bkj->bji", keys, queries) / math.sqrt(keys.shape[1])  # the Transformer's scale
        o = torch.einsum("bji,bci->bcj", s.softmax(2), values).reshape(b, c, hh, ww)
        return self.gamma * o + x


class SASwappedFG(_Base):
    def forward(self, x):
        b, c, hh, ww = x.shape
        keys, queries, values = self.g(x).flatten(2), self.f(x).flatten(2), self.h(x).flatten(2)  # roles swapped
        s = torch.einsum("bki,bkj->bji", keys, queries)
        o = torch.einsum("bji,bci->bcj", s.softmax(2), values).reshape(b, c, hh, ww)
        return self.gamma * o + x


class SANoResidual(SAEinsum):
    def forward(self, x):
        return super().forward(x) - x


class SAGammaBuffer(SAEinsum):
    """gamma as a plain tensor attribute: never learned."""

    def __init__(self, channels):
        super().__init__(channels)
        del self.gamma
        self.gamma = torch.zeros(1)


# ----------------------------------------------------------------------------------------------------------------------
# 8.2 truncation trick
# ----------------------------------------------------------------------------------------------------------------------
def tn_rejection(n, dim, truncation, generator=None):
    z = torch.randn(n, dim, generator=generator)
    while True:
        bad = z.abs() > truncation
        if not bad.any():
            return z
        z = torch.where(bad, torch.randn(n, dim, generator=generator), z)


def tn_inverse_cdf(n, dim, truncation, generator=None):
    """Inverse-CDF sampling of the truncated normal (an exact alternative to rejection)."""
    lo = torch.special.ndtr(torch.tensor(-truncation, dtype=torch.float64))
    u = torch.rand(n, dim, generator=generator, dtype=torch.float64)
    z = torch.special.ndtri(lo + u * (1 - 2 * lo))
    return z.clamp(-truncation, truncation).float()  # clamp only guards round-off at the ends


def tn_scipy(n, dim, truncation, generator=None):
    from scipy.stats import truncnorm

    state = int(torch.randint(0, 2**31 - 1, (), generator=generator))
    z = truncnorm.rvs(-truncation, truncation, size=(n, dim), random_state=state)
    return torch.from_numpy(z).float()


def tn_clip(n, dim, truncation, generator=None):
    return torch.randn(n, dim, generator=generator).clamp(-truncation, truncation)


def tn_rescale(n, dim, truncation, generator=None):
    z = torch.randn(n, dim, generator=generator)
    return z * (truncation / z.abs().max())


def tn_resample_once(n, dim, truncation, generator=None):
    z = torch.randn(n, dim, generator=generator)
    return torch.where(z.abs() > truncation, torch.randn(n, dim, generator=generator), z)


def tn_uniform(n, dim, truncation, generator=None):
    return (torch.rand(n, dim, generator=generator) * 2 - 1) * truncation


def tn_tanh(n, dim, truncation, generator=None):
    return truncation * torch.tanh(torch.randn(n, dim, generator=generator))


def tn_global_rng(n, dim, truncation, generator=None):
    z = torch.randn(n, dim)
    while (z.abs() > truncation).any():
        bad = z.abs() > truncation
        z[bad] = torch.randn(int(bad.sum()))
    return z


# ----------------------------------------------------------------------------------------------------------------------
# 8.3 orthogonal regularization
# ----------------------------------------------------------------------------------------------------------------------
def or_diag_subtract(weight, beta=1e-4):
    w = weight.flatten(1)
    gram = w @ w.t()
    off = gram - torch.diag_embed(torch.diagonal(gram))
    return beta * off.pow(2).sum()


def or_sum_minus_diag(weight, beta=1e-4):
    w = weight.reshape(len(weight), -1)
    gram = torch.mm(w, w.T)
    return beta * (gram.square().sum() - torch.diagonal(gram).square().sum())


def or_fro_norm(weight, beta=1e-4):
    w = weight.view(weight.size(0), -1)
    mask = ~torch.eye(w.shape[0], dtype=torch.bool)
    return beta * torch.linalg.matrix_norm(torch.where(mask, w @ w.T, 0.0)) ** 2


def or_full(weight, beta=1e-4):
    w = weight.reshape(weight.shape[0], -1)
    eye = torch.eye(w.shape[0], dtype=w.dtype)
    return beta * (w @ w.T - eye).square().sum()


def or_transposed(weight, beta=1e-4):
    w = weight.reshape(weight.shape[0], -1)
    gram = w.T @ w
    return beta * (gram * (1 - torch.eye(gram.shape[0], dtype=w.dtype))).square().sum()


def or_not_squared(weight, beta=1e-4):
    w = weight.reshape(weight.shape[0], -1)
    gram = w @ w.T
    return beta * torch.linalg.norm(gram * (1 - torch.eye(w.shape[0], dtype=w.dtype)))


def or_mean(weight, beta=1e-4):
    w = weight.reshape(weight.shape[0], -1)
    gram = w @ w.T
    return beta * (gram * (1 - torch.eye(w.shape[0], dtype=w.dtype))).square().mean()


def or_detached(weight, beta=1e-4):
    return torch.tensor(or_diag_subtract(weight.detach(), beta).item(), dtype=weight.dtype)


def or_no_beta(weight, beta=1e-4):
    return or_diag_subtract(weight, 1.0)


ANSWERS = {
    "8.1": [
        correct("einsum, softmax over the keys", SAEinsum),
        correct("scaled_dot_product_attention with scale=1", SASdpa),
        correct("softmax written out, 0-d gamma", SAManualSoftmax),
        wrong("softmax over the queries", SAWrongAxis),
        wrong("gamma initialised to 1", SAGammaOne),
        wrong("scores divided by sqrt(d)", SAScaled),
        wrong("f and g roles swapped", SASwappedFG),
        wrong("no residual connection", SANoResidual),
        wrong("gamma not a parameter", SAGammaBuffer),
    ],
    "8.2": [
        correct("rejection with torch.where", tn_rejection),
        correct("inverse CDF", tn_inverse_cdf),
        correct("scipy truncnorm", tn_scipy),
        wrong("clipping", tn_clip),
        wrong("rescaling by the largest value", tn_rescale),
        wrong("resampling only once", tn_resample_once),
        wrong("uniform noise", tn_uniform),
        wrong("tanh squashing", tn_tanh),
        wrong("ignores the generator", tn_global_rng, max_fraction=0.9),
    ],
    "8.3": [
        correct("diagonal subtracted", or_diag_subtract),
        correct("sum of squares minus the diagonal's", or_sum_minus_diag),
        correct("masked Frobenius norm squared", or_fro_norm),
        wrong("full ||W W^T - I||^2", or_full),
        wrong("W^T W instead of W W^T", or_transposed),
        wrong("norm not squared", or_not_squared),
        wrong("mean instead of sum", or_mean),
        wrong("detached from the weight", or_detached, max_fraction=0.0),
        wrong("beta ignored", or_no_beta),
    ],
}
