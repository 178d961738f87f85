"""Chapter 2's answers for the wrong-answer suite (see ``tests/exercise_suite.py``)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from exercise_suite import correct, wrong


# ----------------------------------------------------------------------------------------------------------------------
# 2.1 D*
# ----------------------------------------------------------------------------------------------------------------------
def d_star_where(p, q):
    s = p + q
    return torch.where(s > 0, p / torch.where(s > 0, s, torch.ones_like(s)), torch.full_like(p, 0.5))


def d_star_nan_to_num(p, q):
    return torch.nan_to_num(p / (p + q), nan=0.5)


def d_star_plain(p, q):
    return p / (p + q)


def d_star_eps(p, q):
    return p / (p + q + 1e-8)


def d_star_zero_outside(p, q):
    return torch.nan_to_num(p / (p + q), nan=0.0)


def d_star_swapped(p, q):
    return torch.nan_to_num(q / (p + q), nan=0.5)


# ----------------------------------------------------------------------------------------------------------------------
# 2.2 generator losses
# ----------------------------------------------------------------------------------------------------------------------
def sat_logsigmoid(l):
    return F.logsigmoid(-l).mean()


def ns_logsigmoid(l):
    return -F.logsigmoid(l).mean()


def sat_bce(l):
    """log(1 - sigmoid(l)) = -BCE(l, target 0)."""
    return -F.binary_cross_entropy_with_logits(l, torch.zeros_like(l))


def ns_bce(l):
    return F.binary_cross_entropy_with_logits(l, torch.ones_like(l))


def sat_softplus(l):
    return -F.softplus(l).mean()


def ns_softplus(l):
    return F.softplus(-l).mean()


def sat_naive(l):
    return torch.log(1 - torch.sigmoid(l)).mean()


def ns_naive(l):
    return -torch.log(torch.sigmoid(l)).mean()


def sat_clamped(l):
    return torch.log((1 - torch.sigmoid(l)).clamp_min(1e-7)).mean()


def ns_clamped(l):
    return -torch.log(torch.sigmoid(l).clamp_min(1e-7)).mean()


def ns_detached(l):
    return F.softplus(-l.detach()).mean()


# ----------------------------------------------------------------------------------------------------------------------
# 2.3 the two steps of Algorithm 1
# ----------------------------------------------------------------------------------------------------------------------
def _d_stats(d_loss, real_logits, fake_logits):
    return {"d_loss": float(d_loss), "d_real": float(torch.sigmoid(real_logits).mean()),
            "d_fake": float(torch.sigmoid(fake_logits).mean())}


def d_step(G, D, opt_d, real, z, loss):
    with torch.no_grad():
        fake = G(z)
    opt_d.zero_grad(set_to_none=True)
    real_logits, fake_logits = D(real).reshape(-1), D(fake).reshape(-1)
    d_loss = loss.d_loss(real_logits, fake_logits)
    d_loss.backward()
    opt_d.step()
    return _d_stats(d_loss.detach(), real_logits.detach(), fake_logits.detach())


def g_step(G, D, opt_g, z, loss):
    for p in D.parameters():
        p.requires_grad_(False)
    try:
        g_loss = loss.g_loss(D(G(z)).reshape(-1), None)
        opt_g.zero_grad()
        g_loss.backward()
        opt_g.step()
    finally:
        for p in D.parameters():
            p.requires_grad_(True)
    return {"g_loss": g_loss.item()}


def d_step_no_detach(G, D, opt_d, real, z, loss):
    fake = G(z)
    opt_d.zero_grad()
    real_logits, fake_logits = D(real), D(fake)
    d_loss = loss.d_loss(real_logits, fake_logits)
    d_loss.backward()
    opt_d.step()
    return _d_stats(d_loss.detach(), real_logits.detach(), fake_logits.detach())


def d_step_no_zero_grad(G, D, opt_d, real, z, loss):
    fake = G(z).detach()
    real_logits, fake_logits = D(real), D(fake)
    d_loss = loss.d_loss(real_logits, fake_logits)
    d_loss.backward()
    opt_d.step()
    return _d_stats(d_loss.detach(), real_logits.detach(), fake_logits.detach())


def g_step_no_zero_grad(G, D, opt_g, z, loss):
    g_loss = loss.g_loss(D(G(z)), None)
    g_loss.backward()
    opt_g.step()
    return {"g_loss": g_loss.item()}


def d_step_own_bce(G, D, opt_d, real, z, loss):
    """Ignores the loss it is given: the BCE of the paper, always."""
    fake = G(z).detach()
    opt_d.zero_grad()
    real_logits, fake_logits = D(real).reshape(-1), D(fake).reshape(-1)
    d_loss = F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()
    d_loss.backward()
    opt_d.step()
    return _d_stats(d_loss.detach(), real_logits.detach(), fake_logits.detach())


def g_step_own_bce(G, D, opt_g, z, loss):
    g_loss = F.softplus(-D(G(z)).reshape(-1)).mean()
    opt_g.zero_grad()
    g_loss.backward()
    opt_g.step()
    return {"g_loss": g_loss.item()}


ANSWERS = {
    "2.1": [
        correct("torch.where on p + q > 0", d_star_where),
        correct("nan_to_num(p / (p + q), nan=0.5)", d_star_nan_to_num),
        wrong("the plain ratio (NaN outside both supports)", d_star_plain),
        wrong("an epsilon in the denominator", d_star_eps),
        wrong("0 outside both supports", d_star_zero_outside),
        wrong("q / (p + q)", d_star_swapped),
    ],
    "2.2": [
        correct("logsigmoid", sat_logsigmoid, ns_logsigmoid),
        correct("binary_cross_entropy_with_logits", sat_bce, ns_bce),
        correct("softplus", sat_softplus, ns_softplus),
        wrong("log(sigmoid) (overflows to log 0)", sat_naive, ns_naive),
        wrong("log of a clamped sigmoid", sat_clamped, ns_clamped),
        wrong("the two losses swapped", ns_logsigmoid, sat_logsigmoid),
        wrong("the non-saturating loss detached from the logits", sat_logsigmoid, ns_detached),
    ],
    "2.3": [
        correct("no_grad fake, zero_grad, requires_grad toggled on D", d_step, g_step),
        wrong("no detach: gradients reach G in the discriminator step", d_step_no_detach, g_step),
        wrong("no zero_grad in the discriminator step", d_step_no_zero_grad, g_step),
        wrong("no zero_grad in the generator step", d_step, g_step_no_zero_grad),
        wrong("the steps ignore the loss they are given", d_step_own_bce, g_step_own_bce),
    ],
}
