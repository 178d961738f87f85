"""Chapter 9's answers for the wrong-answer suite (see ``tests/exercise_suite.py``)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from exercise_suite import correct, wrong


# ----------------------------------------------------------------------------------------------------------------------
# 9.1 pixel norm
# ----------------------------------------------------------------------------------------------------------------------
def pn_rsqrt(x, eps=1e-8):
    return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + eps)


def pn_normalize(x, eps=1e-8):
    """F.normalize divides by max(||x||, 1e-12); times sqrt(C) turns the norm into a root mean square."""
    return F.normalize(x, dim=1) * math.sqrt(x.shape[1])


def pn_eps_outside(x, eps=1e-8):
    return x / (x.square().mean(1, keepdim=True).sqrt() + eps)


def pn_no_eps(x, eps=1e-8):
    return x / x.square().mean(dim=1, keepdim=True).sqrt()


def pn_sum(x, eps=1e-8):
    return x / torch.sqrt(x.square().sum(dim=1, keepdim=True) + eps)


def pn_whole_sample(x, eps=1e-8):
    dims = tuple(range(1, x.dim()))
    return x / torch.sqrt(x.square().mean(dim=dims, keepdim=True) + eps)


def pn_over_batch(x, eps=1e-8):
    return x / torch.sqrt(x.square().mean(dim=0, keepdim=True) + eps)


# ----------------------------------------------------------------------------------------------------------------------
# 9.2 AdaIN
# ----------------------------------------------------------------------------------------------------------------------
def adain_manual(x, scale, bias):
    mu = x.mean(dim=(2, 3), keepdim=True)
    var = x.var(dim=(2, 3), keepdim=True, unbiased=False)
    return scale[..., None, None] * (x - mu) / torch.sqrt(var + 1e-8) + bias[..., None, None]


def adain_instance_norm(x, scale, bias):
    return F.instance_norm(x) * scale[:, :, None, None] + bias[:, :, None, None]  # eps 1e-5


def adain_flatten(x, scale, bias):
    n, c = x.shape[:2]
    flat = x.reshape(n, c, -1)
    std = (flat.var(-1, correction=0) + 1e-5).sqrt()
    out = (flat - flat.mean(-1, keepdim=True)) / std.unsqueeze(-1)
    return (out * scale.unsqueeze(-1) + bias.unsqueeze(-1)).reshape(x.shape)


def adain_no_eps(x, scale, bias):
    mu = x.mean(dim=(2, 3), keepdim=True)
    return scale[..., None, None] * (x - mu) / x.std(dim=(2, 3), keepdim=True, correction=0) + bias[..., None, None]


def adain_unbiased(x, scale, bias):
    mu = x.mean(dim=(2, 3), keepdim=True)
    return scale[..., None, None] * (x - mu) / torch.sqrt(x.var(dim=(2, 3), keepdim=True) + 1e-8) \
        + bias[..., None, None]


def adain_over_channels(x, scale, bias):
    mu = x.mean(dim=(1, 2, 3), keepdim=True)
    var = x.var(dim=(1, 2, 3), keepdim=True, unbiased=False)
    return scale[..., None, None] * (x - mu) / torch.sqrt(var + 1e-8) + bias[..., None, None]


def adain_batch_stats(x, scale, bias):
    mu = x.mean(dim=(0, 2, 3), keepdim=True)
    var = x.var(dim=(0, 2, 3), keepdim=True, unbiased=False)
    return scale[..., None, None] * (x - mu) / torch.sqrt(var + 1e-8) + bias[..., None, None]


def adain_swapped(x, scale, bias):
    return adain_manual(x, bias, scale)


# ----------------------------------------------------------------------------------------------------------------------
# 9.3 modulated convolution
# ----------------------------------------------------------------------------------------------------------------------
def mc_grouped(x, weight, styles, demodulate=True, padding=0):
    n, c_in, h, w = x.shape
    c_out, _, k, _ = weight.shape
    wt = weight[None] * styles[:, None, :, None, None]  # (N, C_out, C_in, k, k)
    if demodulate:
        wt = wt * (wt.pow(2).sum(dim=[2, 3, 4], keepdim=True) + 1e-8).rsqrt()
    y = F.conv2d(x.view(1, n * c_in, h, w), wt.view(n * c_out, c_in, k, k), padding=padding, groups=n)
    return y.view(n, c_out, y.shape[-2], y.shape[-1])


def mc_einsum_input_scaling(x, weight, styles, demodulate=True, padding=0):
    """Modulate the input instead of the weights, then demodulate the output with the per-sample scale."""
    y = F.conv2d(x * styles[:, :, None, None], weight, padding=padding)
    if demodulate:
        d = torch.einsum("oikl,ni->no", weight.square(), styles.square()).add(1e-8).rsqrt()
        y = y * d[:, :, None, None]
    return y


def mc_loop(x, weight, styles, demodulate=True, padding=0):
    outs = []
    for n in range(x.shape[0]):
        k = weight * styles[n][None, :, None, None]
        if demodulate:
            k = k / (k.flatten(1).square().sum(1) + 1e-8).sqrt()[:, None, None, None]
        outs.append(F.conv2d(x[n : n + 1], k, padding=padding))
    return torch.cat(outs)


def mc_no_eps(x, weight, styles, demodulate=True, padding=0):
    n, c_in, h, w = x.shape
    wt = weight[None] * styles[:, None, :, None, None]
    if demodulate:
        wt = wt / wt.square().sum(dim=(2, 3, 4), keepdim=True).sqrt()
    y = F.conv2d(x.reshape(1, -1, h, w), wt.reshape(-1, c_in, *weight.shape[2:]), padding=padding, groups=n)
    return y.reshape(n, weight.shape[0], *y.shape[2:])


def mc_modulate_outputs(x, weight, styles, demodulate=True, padding=0):
    n, c_in, h, w = x.shape
    wt = weight[None] * styles[:, :, None, None, None]  # scales the OUTPUT channels (needs C_out == C_in)
    if demodulate:
        wt = wt * (wt.square().sum(dim=(2, 3, 4), keepdim=True) + 1e-8).rsqrt()
    y = F.conv2d(x.reshape(1, -1, h, w), wt.reshape(-1, c_in, *weight.shape[2:]), padding=padding, groups=n)
    return y.reshape(n, weight.shape[0], *y.shape[2:])


def mc_wrong_axes(x, weight, styles, demodulate=True, padding=0):
    """Normalise over the output channels (dim 1) instead of the inputs and kernel positions."""
    n, c_in, h, w = x.shape
    wt = weight[None] * styles[:, None, :, None, None]
    if demodulate:
        wt = wt * (wt.square().sum(dim=1, keepdim=True) + 1e-8).rsqrt()
    y = F.conv2d(x.reshape(1, -1, h, w), wt.reshape(-1, c_in, *weight.shape[2:]), padding=padding, groups=n)
    return y.reshape(n, weight.shape[0], *y.shape[2:])


def mc_batch_norm(x, weight, styles, demodulate=True, padding=0):
    """One normalisation for the whole batch (per output channel), not per sample."""
    n, c_in, h, w = x.shape
    wt = weight[None] * styles[:, None, :, None, None]
    if demodulate:
        wt = wt * (wt.square().sum(dim=(0, 2, 3, 4), keepdim=True) / n + 1e-8).rsqrt()
    y = F.conv2d(x.reshape(1, -1, h, w), wt.reshape(-1, c_in, *weight.shape[2:]), padding=padding, groups=n)
    return y.reshape(n, weight.shape[0], *y.shape[2:])


def mc_always_demodulate(x, weight, styles, demodulate=True, padding=0):
    return mc_grouped(x, weight, styles, True, padding)


ANSWERS = {
    "9.1": [
        correct("rsqrt of the channel mean of squares", pn_rsqrt),
        correct("F.normalize times sqrt(C)", pn_normalize),
        correct("epsilon outside the root", pn_eps_outside),
        wrong("no epsilon (NaN at a zero pixel)", pn_no_eps),
        wrong("sum instead of mean over the channels", pn_sum),
        wrong("normalised over the whole sample", pn_whole_sample),
        wrong("normalised over the batch", pn_over_batch),
    ],
    "9.2": [
        correct("mean and population variance over (H, W), eps 1e-8", adain_manual),
        correct("F.instance_norm (eps 1e-5)", adain_instance_norm),
        correct("flattened positions, eps 1e-5", adain_flatten),
        wrong("no epsilon (NaN on a constant map)", adain_no_eps),
        wrong("unbiased variance", adain_unbiased),
        wrong("statistics over (C, H, W): layer norm", adain_over_channels),
        wrong("statistics over the batch: batch norm", adain_batch_stats),
        wrong("scale and bias swapped", adain_swapped),
    ],
    "9.3": [
        correct("grouped convolution", mc_grouped),
        correct("input scaling then output demodulation (einsum)", mc_einsum_input_scaling),
        correct("a loop over samples", mc_loop),
        wrong("no epsilon in the demodulation", mc_no_eps),
        wrong("modulating the output channels", mc_modulate_outputs),
        wrong("normalised over the output channels", mc_wrong_axes),
        wrong("one normalisation for the whole batch", mc_batch_norm),
        # ignoring the flag is a slip, not the point of the exercise: it fails, and loses the two cases without it
        wrong("always demodulates", mc_always_demodulate, max_fraction=0.85),
    ],
}
