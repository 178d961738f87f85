"""Chapter 7's answers for the wrong-answer suite (see ``tests/exercise_suite.py``)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from exercise_suite import correct, wrong


# ----------------------------------------------------------------------------------------------------------------------
# 7.1 conditional batch norm
# ----------------------------------------------------------------------------------------------------------------------
def _dims(x):
    return (0,) if x.dim() == 2 else (0, 2, 3)


def _per_sample(t, x):
    return t.view(x.shape[0], x.shape[1], *([1] * (x.dim() - 2)))


def cbn_functional(x, y, gain, bias, eps=1e-5):
    """F.batch_norm in training mode without running statistics, then the class's affine part."""
    h = F.batch_norm(x, None, None, training=True, eps=eps)
    return _per_sample(gain[y], x) * h + _per_sample(bias[y], x)


def cbn_one_hot(x, y, gain, bias, eps=1e-5):
    """The gains selected by a one-hot matrix product; the variance as E[x^2] - E[x]^2 in float64."""
    onehot = F.one_hot(y, gain.shape[0]).to(gain.dtype)
    g, b = onehot @ gain, onehot @ bias
    xd = x.double()
    mu = xd.mean(_dims(x), keepdim=True)
    var = (xd.square().mean(_dims(x), keepdim=True) - mu.square()).clamp_min(0)
    h = ((xd - mu) / torch.sqrt(var + eps)).to(x.dtype)
    return _per_sample(g, x) * h + _per_sample(b, x)


def cbn_module(x, y, gain, bias, eps=1e-5):
    """nn.BatchNorm2d(affine=False) in training mode (an (N, C) input seen as (N, C, 1, 1))."""
    bn = torch.nn.BatchNorm2d(x.shape[1], eps=eps, affine=False).to(x.dtype)
    h = bn(x if x.dim() == 4 else x[..., None, None]).view_as(x)
    return _per_sample(gain[y], x) * h + _per_sample(bias[y], x)


def cbn_eps_1e8(x, y, gain, bias, eps=1e-8):
    return cbn_functional(x, y, gain, bias, eps=1e-8)


def cbn_per_class_stats(x, y, gain, bias, eps=1e-5):
    """Normalises each class with its own statistics."""
    out = torch.empty_like(x)
    for k in y.unique():
        m = y == k
        xs = x[m]
        mu, var = xs.mean(_dims(x), keepdim=True), xs.var(_dims(x), keepdim=True, unbiased=False)
        out[m] = _per_sample(gain[y[m]], xs) * (xs - mu) / torch.sqrt(var + eps) + _per_sample(bias[y[m]], xs)
    return out


def cbn_unbiased(x, y, gain, bias, eps=1e-5):
    mu, var = x.mean(_dims(x), keepdim=True), x.var(_dims(x), keepdim=True, unbiased=True)
    return _per_sample(gain[y], x) * (x - mu) / torch.sqrt(var + eps) + _per_sample(bias[y], x)


def cbn_no_eps(x, y, gain, bias, eps=1e-5):
    mu, var = x.mean(_dims(x), keepdim=True), x.var(_dims(x), keepdim=True, unbiased=False)
    return _per_sample(gain[y], x) * (x - mu) / torch.sqrt(var) + _per_sample(bias[y], x)


def cbn_instance_stats(x, y, gain, bias, eps=1e-5):
    dims = tuple(range(1, x.dim())) if x.dim() == 2 else (2, 3)
    mu, var = x.mean(dims, keepdim=True), x.var(dims, keepdim=True, unbiased=False)
    return _per_sample(gain[y], x) * (x - mu) / torch.sqrt(var + eps) + _per_sample(bias[y], x)


def cbn_one_plus_gain(x, y, gain, bias, eps=1e-5):
    h = F.batch_norm(x, None, None, training=True, eps=eps)
    return _per_sample(1 + gain[y], x) * h + _per_sample(bias[y], x)


def cbn_swapped(x, y, gain, bias, eps=1e-5):
    h = F.batch_norm(x, None, None, training=True, eps=eps)
    return _per_sample(bias[y], x) * h + _per_sample(gain[y], x)


def cbn_first_class(x, y, gain, bias, eps=1e-5):
    """Ignores the labels: the gain and bias of class 0 for everyone."""
    h = F.batch_norm(x, None, None, training=True, eps=eps)
    return gain[0].view(1, -1, *([1] * (x.dim() - 2))) * h + bias[0].view(1, -1, *([1] * (x.dim() - 2)))


# ----------------------------------------------------------------------------------------------------------------------
# 7.2 ACGAN's losses
# ----------------------------------------------------------------------------------------------------------------------
def _nll(logits, y):
    return -(logits.log_softmax(1).gather(1, y[:, None])).mean()


def ac_d_logsigmoid(src_real, src_fake, cls_real, cls_fake, y_real, y_fake, classify_fakes=True):
    loss = -F.logsigmoid(src_real).mean() - F.logsigmoid(-src_fake).mean() + _nll(cls_real, y_real)
    return loss + _nll(cls_fake, y_fake) if classify_fakes else loss


def ac_g_logsigmoid(src_fake, cls_fake, y_fake):
    return -F.logsigmoid(src_fake).mean() + _nll(cls_fake, y_fake)


def ac_d_softplus(src_real, src_fake, cls_real, cls_fake, y_real, y_fake, classify_fakes=True):
    cls = F.cross_entropy(cls_real, y_real)
    if classify_fakes:
        cls = cls + F.nll_loss(F.log_softmax(cls_fake, dim=1), y_fake)
    return F.softplus(-src_real).mean() + F.softplus(src_fake).mean() + cls


def ac_g_softplus(src_fake, cls_fake, y_fake):
    return F.softplus(-src_fake).mean() + (torch.logsumexp(cls_fake, 1) - cls_fake[torch.arange(len(y_fake)), y_fake]).mean()


def ac_d_always_fakes(src_real, src_fake, cls_real, cls_fake, y_real, y_fake, classify_fakes=True):
    return ac_d_logsigmoid(src_real, src_fake, cls_real, cls_fake, y_real, y_fake, True)


def ac_d_never_fakes(src_real, src_fake, cls_real, cls_fake, y_real, y_fake, classify_fakes=True):
    return ac_d_logsigmoid(src_real, src_fake, cls_real, cls_fake, y_real, y_fake, False)


def ac_g_no_class(src_fake, cls_fake, y_fake):
    return -F.logsigmoid(src_fake).mean()


def ac_g_saturating(src_fake, cls_fake, y_fake):
    return F.logsigmoid(-src_fake).mean() + _nll(cls_fake, y_fake)


def ac_d_naive(src_real, src_fake, cls_real, cls_fake, y_real, y_fake, classify_fakes=True):
    """sigmoid then log: -inf/NaN for large logits."""
    loss = -torch.log(torch.sigmoid(src_real)).mean() - torch.log(1 - torch.sigmoid(src_fake)).mean()
    loss = loss - torch.log(torch.softmax(cls_real, 1).gather(1, y_real[:, None])).mean()
    if classify_fakes:
        loss = loss - torch.log(torch.softmax(cls_fake, 1).gather(1, y_fake[:, None])).mean()
    return loss


def ac_d_fake_class_against_real_labels(src_real, src_fake, cls_real, cls_fake, y_real, y_fake, classify_fakes=True):
    """The fakes' class term scored against the real labels (only possible when N == M)."""
    loss = -F.logsigmoid(src_real).mean() - F.logsigmoid(-src_fake).mean() + _nll(cls_real, y_real)
    return loss + _nll(cls_fake, y_real[: len(y_fake)]) if classify_fakes else loss


def ac_d_sum(src_real, src_fake, cls_real, cls_fake, y_real, y_fake, classify_fakes=True):
    loss = -F.logsigmoid(src_real).sum() - F.logsigmoid(-src_fake).sum() + F.cross_entropy(cls_real, y_real, reduction="sum")
    return loss + F.cross_entropy(cls_fake, y_fake, reduction="sum") if classify_fakes else loss


# ----------------------------------------------------------------------------------------------------------------------
# 7.3 InfoGAN's lower bound
# ----------------------------------------------------------------------------------------------------------------------
def _check_codes(codes):
    if not (((codes == 0) | (codes == 1)).all() and (codes.sum(1) == 1).all()):
        raise ValueError("codes must be one-hot rows")


def _entropy(prior, k, like):
    if prior is None:
        return math.log(k)
    p = prior.to(like.dtype)
    return -torch.special.xlogy(p, p).sum()


def mi_gather(logits, codes, prior=None):
    _check_codes(codes)
    idx = codes.argmax(1)
    log_q = logits.log_softmax(1).gather(1, idx[:, None]).squeeze(1)
    return log_q.mean() + _entropy(prior, logits.shape[1], logits)


def mi_cross_entropy(logits, codes, prior=None):
    """-CE(Q, c) + H(c), via F.cross_entropy on the indices; 0 log 0 through a mask."""
    if codes.dim() != 2 or not torch.equal(codes, F.one_hot(codes.argmax(1), codes.shape[1]).to(codes.dtype)):
        raise ValueError("codes must be one-hot")
    h = math.log(logits.shape[1]) if prior is None else -(prior[prior > 0] * prior[prior > 0].log()).sum().to(logits.dtype)
    return -F.cross_entropy(logits, codes.argmax(1)) + h


def mi_entropy_subtracted(logits, codes, prior=None):
    _check_codes(codes)
    return (codes * logits.log_softmax(1)).sum(1).mean() - _entropy(prior, logits.shape[1], logits)


def mi_no_entropy(logits, codes, prior=None):
    _check_codes(codes)
    return (codes * logits.log_softmax(1)).sum(1).mean()


def mi_no_validation(logits, codes, prior=None):
    return (codes * logits.log_softmax(1)).sum(1).mean() + _entropy(prior, logits.shape[1], logits)


def mi_naive_entropy(logits, codes, prior=None):
    """p log p without the 0 log 0 = 0 convention: NaN for a zero prior probability."""
    _check_codes(codes)
    h = math.log(logits.shape[1]) if prior is None else -(prior * prior.log()).sum().to(logits.dtype)
    return (codes * logits.log_softmax(1)).sum(1).mean() + h


def mi_log_softmax_naive(logits, codes, prior=None):
    """log(softmax): 0 * log(0) = NaN when Q is certain."""
    _check_codes(codes)
    return (codes * torch.log(torch.softmax(logits, 1))).sum(1).mean() + _entropy(prior, logits.shape[1], logits)


def mi_uniform_entropy_always(logits, codes, prior=None):
    _check_codes(codes)
    return (codes * logits.log_softmax(1)).sum(1).mean() + math.log(logits.shape[1])


def mi_loss_sign(logits, codes, prior=None):
    """Returns the loss -L_I instead of the bound."""
    return -mi_gather(logits, codes, prior)


ANSWERS = {
    "7.1": [
        correct("F.batch_norm, training statistics", cbn_functional),
        correct("one-hot matrix product, E[x^2] - E[x]^2 in float64", cbn_one_hot),
        correct("nn.BatchNorm2d(affine=False)", cbn_module),
        correct("eps = 1e-8", cbn_eps_1e8),
        wrong("statistics per class", cbn_per_class_stats),
        wrong("unbiased variance", cbn_unbiased),
        wrong("no epsilon", cbn_no_eps),
        wrong("instance statistics", cbn_instance_stats),
        wrong("gain 1 + gamma", cbn_one_plus_gain),
        wrong("gain and bias swapped", cbn_swapped),
        wrong("labels ignored", cbn_first_class),
    ],
    "7.2": [
        correct("log-sigmoid and gathered log-softmax", ac_d_logsigmoid, ac_g_logsigmoid),
        correct("softplus and nll_loss / logsumexp", ac_d_softplus, ac_g_softplus),
        wrong("class term of fakes always in D's loss", ac_d_always_fakes, ac_g_logsigmoid),
        wrong("class term of fakes never in D's loss", ac_d_never_fakes, ac_g_logsigmoid),
        wrong("G without the class term", ac_d_logsigmoid, ac_g_no_class),
        wrong("saturating G loss", ac_d_logsigmoid, ac_g_saturating),
        wrong("sigmoid then log", ac_d_naive, ac_g_logsigmoid, max_fraction=0.9),
        wrong("fakes scored against the real labels", ac_d_fake_class_against_real_labels, ac_g_logsigmoid),
        wrong("sums instead of means", ac_d_sum, ac_g_logsigmoid),
    ],
    "7.3": [
        correct("gathered log_softmax, xlogy entropy", mi_gather),
        correct("-cross_entropy on the indices, masked entropy", mi_cross_entropy),
        wrong("entropy subtracted", mi_entropy_subtracted),
        wrong("entropy left out", mi_no_entropy),
        wrong("codes not validated", mi_no_validation),
        wrong("p log p with 0 log 0 = NaN", mi_naive_entropy),
        wrong("log of softmax", mi_log_softmax_naive, max_fraction=0.9),
        wrong("log K whatever the prior", mi_uniform_entropy_always),
        wrong("the loss -L_I instead of the bound", mi_loss_sign),
    ],
}
