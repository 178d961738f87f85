"""Chapter 5's answers for the wrong-answer suite (see ``tests/exercise_suite.py``)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from exercise_suite import correct, wrong


# ----------------------------------------------------------------------------------------------------------------------
# 5.1 the WGAN-GP penalty
# ----------------------------------------------------------------------------------------------------------------------
def _mix(real, fake, eps):
    e = eps.reshape(-1, *([1] * (real.dim() - 1)))
    return (e * real + (1 - e) * fake).requires_grad_(True)


def gp(D, real, fake, eps):
    x = _mix(real, fake, eps)
    (g,) = torch.autograd.grad(D(x).sum(), x, create_graph=True)
    return ((g.flatten(1).norm(dim=1) - 1) ** 2).mean()


def gp_ones_grad_outputs(D, real, fake, eps):
    """grad_outputs of ones on the critic's output, the norm from the sum of squares."""
    x = _mix(real, fake, eps)
    out = D(x)
    (g,) = torch.autograd.grad(out, x, grad_outputs=torch.ones_like(out), create_graph=True)
    norm = g.reshape(g.shape[0], -1).pow(2).sum(1).sqrt()
    return (norm - 1).pow(2).mean()


def gp_no_create_graph(D, real, fake, eps):
    x = _mix(real, fake, eps)
    (g,) = torch.autograd.grad(D(x).sum(), x)
    return ((g.flatten(1).norm(dim=1) - 1) ** 2).mean()


def gp_batch_norm(D, real, fake, eps):
    """One norm over the whole batch's gradient, not one per sample."""
    x = _mix(real, fake, eps)
    (g,) = torch.autograd.grad(D(x).sum(), x, create_graph=True)
    return (g.norm() - 1) ** 2


def gp_norm_dim1(D, real, fake, eps):
    """The norm along dim 1 only: per pixel for images."""
    x = _mix(real, fake, eps)
    (g,) = torch.autograd.grad(D(x).sum(), x, create_graph=True)
    return ((g.norm(dim=1) - 1) ** 2).mean()


def gp_squared_norm(D, real, fake, eps):
    x = _mix(real, fake, eps)
    (g,) = torch.autograd.grad(D(x).sum(), x, create_graph=True)
    return ((g.flatten(1).pow(2).sum(1) - 1) ** 2).mean()


def gp_eps_swapped(D, real, fake, eps):
    return gp(D, fake, real, eps)


# ----------------------------------------------------------------------------------------------------------------------
# 5.2 power iteration
# ----------------------------------------------------------------------------------------------------------------------
def _unit(a):
    return a / a.norm()


def pi_pytorch_order(W, u, n_iters):
    Wm = W.reshape(W.shape[0], -1)
    with torch.no_grad():
        v = F.normalize(Wm.mT @ u, dim=0)
        for _ in range(n_iters):
            u = F.normalize(Wm @ v, dim=0)
            v = F.normalize(Wm.mT @ u, dim=0)
    return torch.dot(u, Wm @ v), u, v


def pi_miyato(W, u, n_iters):
    """Miyato et al. (2018), Algorithm 1, literally: each round v then u; u last."""
    Wm = W.flatten(1)
    Wd = Wm.detach()
    for _ in range(n_iters):
        v = _unit(Wd.T @ u)
        u = _unit(Wd @ v)
    return u @ Wm @ v, u, v


def pi_no_detach(W, u, n_iters):
    """u and v keep their graph: the gradient flows through the iteration."""
    Wm = W.reshape(W.shape[0], -1)
    v = F.normalize(Wm.mT @ u, dim=0)
    for _ in range(n_iters):
        u = F.normalize(Wm @ v, dim=0)
        v = F.normalize(Wm.mT @ u, dim=0)
    return u @ Wm @ v, u.detach(), v.detach()


def pi_no_reshape(W, u, n_iters):
    """Treats a conv kernel by its last two axes (no reshape to (out, -1))."""
    Wm = W if W.dim() == 2 else W[:, :, 0, 0]
    return pi_pytorch_order(Wm, u, n_iters)


def pi_unnormalised(W, u, n_iters):
    Wm = W.reshape(W.shape[0], -1)
    with torch.no_grad():
        v = Wm.mT @ u
        for _ in range(n_iters):
            u = Wm @ v
            v = Wm.mT @ u
    return u @ Wm @ v, u, v


def pi_frobenius(W, u, n_iters):
    sigma, u, v = pi_pytorch_order(W, u, n_iters)
    return W.norm(), u, v


# ----------------------------------------------------------------------------------------------------------------------
# 5.3 RaGAN
# ----------------------------------------------------------------------------------------------------------------------
def d_ragan(real, fake):
    r, f = real.reshape(-1), fake.reshape(-1)
    return F.softplus(-(r - f.mean())).mean() + F.softplus(f - r.mean()).mean()


def g_ragan(fake, real):
    return d_ragan(fake, real)


def d_ragan_bce(real, fake):
    r, f = real.reshape(-1), fake.reshape(-1)
    a, b = r - f.mean(), f - r.mean()
    return (F.binary_cross_entropy_with_logits(a, torch.ones_like(a))
            + F.binary_cross_entropy_with_logits(b, torch.zeros_like(b)))


def g_ragan_bce(fake, real):
    return d_ragan_bce(fake, real)


def d_ragan_naive(real, fake):
    r, f = real.reshape(-1), fake.reshape(-1)
    return -(torch.log(torch.sigmoid(r - f.mean())).mean() + torch.log(1 - torch.sigmoid(f - r.mean())).mean())


def g_ragan_naive(fake, real):
    return d_ragan_naive(fake, real)


def d_rsgan(real, fake):
    """Standard relativistic GAN (pairs by index, no average): not RaGAN."""
    n = min(real.numel(), fake.numel())
    return F.softplus(-(real.reshape(-1)[:n] - fake.reshape(-1)[:n])).mean()


def g_rsgan(fake, real):
    return d_rsgan(fake, real)


def d_ragan_detached(real, fake):
    """The batch means detached: no gradient through the other batch."""
    r, f = real.reshape(-1), fake.reshape(-1)
    return F.softplus(-(r - f.mean().detach())).mean() + F.softplus(f - r.mean().detach()).mean()


def g_ragan_detached(fake, real):
    return d_ragan_detached(fake, real)


def g_ragan_non_relativistic(fake, real):
    return F.softplus(-fake.reshape(-1)).mean()


ANSWERS = {
    "5.1": [
        correct("autograd.grad of the sum, create_graph", gp),
        correct("grad_outputs of ones, the norm from the sum of squares", gp_ones_grad_outputs),
        wrong("no create_graph (not differentiable in the parameters)", gp_no_create_graph),
        wrong("one norm for the whole batch", gp_batch_norm),
        wrong("the norm along dim 1 only", gp_norm_dim1),
        wrong("the squared norm", gp_squared_norm),
        wrong("eps weighting the fakes", gp_eps_swapped),
    ],
    "5.2": [
        correct("PyTorch's order (the parametrization's)", pi_pytorch_order),
        correct("Miyato et al.'s Algorithm 1", pi_miyato),
        wrong("the gradient through the iteration (u, v not constants)", pi_no_detach),
        wrong("no reshape of a conv kernel", pi_no_reshape),
        wrong("no normalisation", pi_unnormalised),
        wrong("the Frobenius norm", pi_frobenius),
    ],
    "5.3": [
        correct("softplus", d_ragan, g_ragan),
        correct("BCE with logits", d_ragan_bce, g_ragan_bce),
        wrong("log(sigmoid) (overflows)", d_ragan_naive, g_ragan_naive),
        wrong("RSGAN: pairs, no averages", d_rsgan, g_rsgan),
        wrong("the averages detached", d_ragan_detached, g_ragan_detached),
        wrong("a non-relativistic generator loss", d_ragan, g_ragan_non_relativistic),
    ],
}
