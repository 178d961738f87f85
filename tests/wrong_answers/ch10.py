"""Chapter 10's answers for the wrong-answer suite (see ``tests/exercise_suite.py``)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from exercise_suite import correct, wrong


# ----------------------------------------------------------------------------------------------------------------------
# 10.1 receptive field
# ----------------------------------------------------------------------------------------------------------------------
def rf_backward(layers):
    r = 1
    for k, s in reversed(layers):
        r = s * (r - 1) + k
    return r


def rf_forward_jump(layers):
    """From the input: each layer adds (k - 1) times the product of the strides before it (the 'jump')."""
    r, jump = 1, 1
    for k, s in layers:
        r += (k - 1) * jump
        jump *= s
    return r


def rf_closed_form(layers):
    """r = 1 + sum_l (k_l - 1) prod_{m < l} s_m, with a tensor product."""
    k = torch.tensor([p[0] for p in layers], dtype=torch.int64)
    s = torch.tensor([1] + [p[1] for p in layers[:-1]], dtype=torch.int64)
    return int(1 + ((k - 1) * torch.cumprod(s, 0)).sum())


def rf_ignore_strides(layers):
    return 1 + sum(k - 1 for k, _ in layers)


def rf_wrong_order(layers):
    """The backward recursion run from the first layer instead of the last."""
    r = 1
    for k, s in layers:
        r = s * (r - 1) + k
    return r


def rf_plus_k(layers):
    r = 1
    for k, s in reversed(layers):
        r = s * r + k
    return r


def rf_jump_after(layers):
    """Forward, but the stride multiplied in before the layer's own kernel is counted."""
    r, jump = 1, 1
    for k, s in layers:
        jump *= s
        r += (k - 1) * jump
    return r


def rf_product(layers):
    r = 1
    for k, s in layers:
        r *= k
    return r


# ----------------------------------------------------------------------------------------------------------------------
# 10.2 skip block and widths
# ----------------------------------------------------------------------------------------------------------------------
def sb_cat(x, down, inner, up):
    return torch.cat((x, up(inner(down(x)))), 1)


def sb_new_empty(x, down, inner, up):
    u = up(inner(down(x)))
    out = x.new_empty(x.shape[0], x.shape[1] + u.shape[1], *x.shape[2:])
    out[:, : x.shape[1]] = x
    out[:, x.shape[1]:] = u
    return out


def sb_swapped(x, down, inner, up):
    return torch.cat([up(inner(down(x))), x], dim=1)


def sb_added(x, down, inner, up):
    return x + up(inner(down(x)))


def sb_no_inner(x, down, inner, up):
    """Skipping the inner levels: up() gets the down features, half the channels it expects (an error)."""
    return torch.cat([x, up(down(x))], dim=1)


def sb_last_dim(x, down, inner, up):
    return torch.cat([x, up(inner(down(x)))], dim=-1)


def sb_down_skip(x, down, inner, up):
    """The skip taken after the down convolution: shapes do not even match."""
    d = down(x)
    return torch.cat([d, up(inner(d))], dim=1)


def dw_loop(num_downs, base_channels, out_channels):
    out = []
    for level in range(num_downs - 1, -1, -1):
        inner = base_channels * min(8, 2 ** level)
        outer = out_channels if level == 0 else base_channels * min(8, 2 ** (level - 1))
        out.append((inner * (1 if level == num_downs - 1 else 2), outer))
    return out


def dw_from_outside(num_downs, base_channels, out_channels):
    """Built outside in, then reversed."""
    widths = [base_channels]
    for _ in range(num_downs - 1):
        widths.append(min(widths[-1] * 2, 8 * base_channels))
    pairs = [(2 * widths[0], out_channels)] + [(2 * widths[k], widths[k - 1]) for k in range(1, num_downs)]
    pairs[-1] = (widths[-1], pairs[-1][1])
    return pairs[::-1]


def dw_no_doubling(num_downs, base_channels, out_channels):
    """The encoder-decoder's widths: no concatenation."""
    widths = [min(2 ** k, 8) * base_channels for k in range(num_downs)]
    return [(widths[k], out_channels if k == 0 else widths[k - 1]) for k in reversed(range(num_downs))]


def dw_double_innermost(num_downs, base_channels, out_channels):
    widths = [min(2 ** k, 8) * base_channels for k in range(num_downs)]
    return [(2 * widths[k], out_channels if k == 0 else widths[k - 1]) for k in reversed(range(num_downs))]


def dw_no_cap(num_downs, base_channels, out_channels):
    widths = [2 ** k * base_channels for k in range(num_downs)]
    return [(widths[k] if k == num_downs - 1 else 2 * widths[k], out_channels if k == 0 else widths[k - 1])
            for k in reversed(range(num_downs))]


def dw_outer_first(num_downs, base_channels, out_channels):
    return dw_loop(num_downs, base_channels, out_channels)[::-1]


# ----------------------------------------------------------------------------------------------------------------------
# 10.3 losses
# ----------------------------------------------------------------------------------------------------------------------
def _bce(logits, target):
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))


def g_bce(D, a, fake, b, lambda_l1=100.0):
    return _bce(D(torch.cat([a, fake], 1)), 1.0) + lambda_l1 * F.l1_loss(fake, b)


def g_logsigmoid(D, a, fake, b, lambda_l1=100.0):
    return -F.logsigmoid(D(torch.cat((a, fake), dim=1))).mean() + lambda_l1 * (b - fake).abs().mean()


def d_bce(D, a, fake, b):
    return (_bce(D(torch.cat([a, b], 1)), 1.0) + _bce(D(torch.cat([a, fake], 1)), 0.0)) / 2


def d_logsigmoid(D, a, fake, b):
    real, fake_l = D(torch.cat([a, b], 1)), D(torch.cat([a, fake], 1))
    return -0.5 * (F.logsigmoid(real).mean() + F.logsigmoid(-fake_l).mean())


def g_lambda_on_gan(D, a, fake, b, lambda_l1=100.0):
    return lambda_l1 * _bce(D(torch.cat([a, fake], 1)), 1.0) + F.l1_loss(fake, b)


def g_real_pair(D, a, fake, b, lambda_l1=100.0):
    """Scored on D's output for the real pair (a, b): no gradient would reach G through it."""
    return _bce(D(torch.cat([a, b], 1)), 1.0) + lambda_l1 * F.l1_loss(fake, b)


def g_saturating(D, a, fake, b, lambda_l1=100.0):
    return -_bce(D(torch.cat([a, fake], 1)), 0.0) + lambda_l1 * F.l1_loss(fake, b)


def g_l2(D, a, fake, b, lambda_l1=100.0):
    return _bce(D(torch.cat([a, fake], 1)), 1.0) + lambda_l1 * F.mse_loss(fake, b)


def g_cat_order(D, a, fake, b, lambda_l1=100.0):
    return _bce(D(torch.cat([fake, a], 1)), 1.0) + lambda_l1 * F.l1_loss(fake, b)


def g_halved(D, a, fake, b, lambda_l1=100.0):
    """Halving the generator's loss too."""
    return 0.5 * (_bce(D(torch.cat([a, fake], 1)), 1.0) + lambda_l1 * F.l1_loss(fake, b))


def d_not_halved(D, a, fake, b):
    return _bce(D(torch.cat([a, b], 1)), 1.0) + _bce(D(torch.cat([a, fake], 1)), 0.0)


def d_labels_swapped(D, a, fake, b):
    return 0.5 * (_bce(D(torch.cat([a, b], 1)), 0.0) + _bce(D(torch.cat([a, fake], 1)), 1.0))


def d_sigmoid_bce(D, a, fake, b):
    """Sigmoid then BCELoss: log(0) is clamped at -100, wrong for confident logits (FACTS: unstable)."""
    real, fake_l = torch.sigmoid(D(torch.cat([a, b], 1))), torch.sigmoid(D(torch.cat([a, fake], 1)))
    return 0.5 * (F.binary_cross_entropy(real, torch.ones_like(real))
                  + F.binary_cross_entropy(fake_l, torch.zeros_like(fake_l)))


def d_unconditional_real(D, a, fake, b):
    """The real pair built from (b, b): D must see the condition a with both."""
    return 0.5 * (_bce(D(torch.cat([a, fake], 1)), 1.0) + _bce(D(torch.cat([a, fake], 1)), 0.0))


ANSWERS = {
    "10.1": [
        correct("backward recursion", rf_backward),
        correct("forward with the jump (product of earlier strides)", rf_forward_jump),
        correct("closed form with cumprod", rf_closed_form),
        wrong("strides ignored", rf_ignore_strides),
        wrong("recursion run from the first layer", rf_wrong_order),
        wrong("s r + k instead of s (r - 1) + k", rf_plus_k),
        wrong("stride multiplied in too early", rf_jump_after),
        wrong("product of the kernels", rf_product),
    ],
    "10.2": [
        correct("torch.cat with a tuple + a loop over levels", sb_cat, dw_loop),
        correct("filled into new_empty + widths built outside in", sb_new_empty, dw_from_outside),
        wrong("concatenation order swapped", sb_swapped, dw_loop),
        wrong("added instead of concatenated", sb_added, dw_loop),
        wrong("inner levels skipped", sb_no_inner, dw_loop),
        wrong("concatenated along the width", sb_last_dim, dw_loop),
        wrong("skip taken after the down convolution", sb_down_skip, dw_loop),
        wrong("widths without the doubling (encoder-decoder)", sb_cat, dw_no_doubling),
        wrong("innermost doubled too", sb_cat, dw_double_innermost),
        wrong("widths not capped at 8 x base", sb_cat, dw_no_cap),
        wrong("listed from the outermost level", sb_cat, dw_outer_first),
    ],
    "10.3": [
        correct("BCE with logits and F.l1_loss", g_bce, d_bce),
        correct("logsigmoid", g_logsigmoid, d_logsigmoid),
        wrong("lambda on the GAN term", g_lambda_on_gan, d_bce),
        wrong("G scored on the real pair", g_real_pair, d_bce),
        wrong("saturating generator loss", g_saturating, d_bce),
        wrong("L2 instead of L1", g_l2, d_bce),
        wrong("D input concatenated as (fake, a)", g_cat_order, d_bce),
        wrong("generator loss halved too", g_halved, d_bce),
        wrong("D loss not halved", g_bce, d_not_halved),
        wrong("D's labels swapped", g_bce, d_labels_swapped),
        wrong("D never sees the real pair", g_bce, d_unconditional_real),
        # sigmoid + BCELoss is right except for confident logits: it fails that hidden case only
        wrong("sigmoid + BCELoss", g_bce, d_sigmoid_bce, max_fraction=0.9),
    ],
}
