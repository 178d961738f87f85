r"""Supervised fitting for the non-adversarial parts of the chapter: SRResNet-MSE (SRGAN's first stage, ESRGAN's
PSNR-oriented pre-training) and the GAP classifier behind the class activation maps.

This is plain empirical risk minimisation with Adam, not a GAN loop (there is no discriminator): the adversarial
stages use :class:`course_lib.train.AdversarialTrainer` with the objectives of
:mod:`course_lib.restoration.objectives`.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor, nn

__all__ = ["fit_supervised"]


def fit_supervised(model: nn.Module, inputs: Tensor, targets: Tensor, loss_fn: Callable[[Tensor, Tensor], Tensor],
                   *, steps: int = 200, batch_size: int = 16, lr: float = 1e-3, seed: int = 0) -> list[float]:
    r"""Minimise :math:`\frac1m\sum_i \ell(f(x_i), y_i)` over random minibatches with Adam; returns the losses.

    ``inputs[N, ...]`` and ``targets[N, ...]`` (floats, or int64 labels) on the model's device; minibatches are
    drawn with replacement by a generator seeded with ``seed`` (so a run is a function of its arguments and the
    model's initial weights). The model is left in eval mode.
    """
    if not isinstance(inputs, Tensor) or not isinstance(targets, Tensor) or inputs.shape[0] != targets.shape[0]:
        raise ValueError("inputs and targets must be tensors with the same first dimension.")
    if steps < 1 or batch_size < 1:
        raise ValueError(f"steps and batch_size must be >= 1, got {steps}, {batch_size}.")
    device = next(model.parameters()).device
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    losses = []
    n = inputs.shape[0]
    for _ in range(steps):
        idx = torch.randint(n, (min(batch_size, n),), generator=g)
        x, y = inputs[idx].to(device), targets[idx].to(device)
        loss = loss_fn(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    model.eval()
    return losses
