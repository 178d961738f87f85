"""One discriminator update and one generator update: Algorithm 1 of Goodfellow et al. (2014), as code.

Algorithm 1 ("Minibatch stochastic gradient descent training of generative adversarial nets") alternates

* ``k`` times: sample a minibatch of noise :math:`z^{(1..m)} \\sim p_z` and of data :math:`x^{(1..m)} \\sim p_{data}`,
  and update the discriminator by *ascending* its stochastic gradient

  .. math:: \\nabla_{\\theta_d} \\frac{1}{m} \\sum_{i=1}^m \\big[\\log D(x^{(i)}) + \\log(1 - D(G(z^{(i)})))\\big],

* once: sample a fresh minibatch of noise and update the generator by *descending*

  .. math:: \\nabla_{\\theta_g} \\frac{1}{m} \\sum_{i=1}^m \\log(1 - D(G(z^{(i)}))).

Here both updates are written as the minimisation of a loss computed from the discriminator's *logits*
(its output before any sigmoid), so that every GAN variant of the course plugs in through a
:class:`~course_lib.gan.losses.GANLoss` object: ``loss.d_loss(real_logits, fake_logits)`` and
``loss.g_loss(fake_logits, real_logits)``. With the ``"minimax"`` loss the two functions below are exactly the
paper's two lines; ``"non_saturating"`` swaps the generator line for :math:`-\\log D(G(z))` (Section 3 of the paper).

:class:`~course_lib.train.trainer.AdversarialTrainer` calls these two functions and nothing else to change the
weights, so the formula in the book is the code that runs. The optional arguments (``penalty``, ``scaler``,
``autocast``, ``max_grad_norm``) are the GPU and regularisation extras; left at ``None`` the functions read like the
paper.

One safety rule is built in: when a loss is not finite (NaN or infinity) the update is *not* applied, so a NaN never
reaches the weights. The returned numbers show the non-finite value, and the trainer decides whether to raise or to
count the skipped update.
"""

from __future__ import annotations

import contextlib
import math
from typing import Any, Callable, ContextManager, Iterator

import torch
from torch import Tensor, nn

__all__ = ["discriminator_step", "generator_step", "objective_step", "as_logits"]

Penalty = Callable[[nn.Module, Tensor, Tensor], Tensor]


def as_logits(output: Tensor, n: int, who: str = "the discriminator") -> Tensor:
    """Check that a discriminator output holds one logit per sample and return it as a vector.

    Args:
        output: ``Tensor[N]`` or ``Tensor[N, 1]``, the raw scores (logits) for ``N`` samples.
        n: the batch size ``N`` the output must match.
        who: how to name the network in an error message.

    Returns:
        ``Tensor[N]``: the same values, viewed as a vector.

    Raises:
        TypeError: if ``output`` is not a tensor.
        ValueError: if its shape is neither ``(N,)`` nor ``(N, 1)``.
    """
    if not isinstance(output, Tensor):
        raise TypeError(f"{who} must return a Tensor of logits, got {type(output).__name__}.")
    if output.dim() == 2 and output.shape[1] == 1:
        output = output.reshape(-1)  # (N, 1) -> (N,)
    if output.dim() != 1 or output.shape[0] != n:
        raise ValueError(
            f"{who} must return one logit per sample, shape ({n},) or ({n}, 1), got {tuple(output.shape)}. "
            "A patch discriminator (one score per image region) needs a loss that averages over regions."
        )
    return output


@contextlib.contextmanager
def _frozen(module: nn.Module) -> Iterator[None]:
    """Turn off ``requires_grad`` of ``module``'s parameters for a block, then restore each flag."""
    flags = [p.requires_grad for p in module.parameters()]
    module.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in zip(module.parameters(), flags):
            p.requires_grad_(flag)


def _upcast(x: Tensor) -> Tensor:
    """Half precision (autocast's bfloat16/float16) to float32; float32 and float64 unchanged."""
    return x if x.dtype in (torch.float32, torch.float64) else x.float()


def _context(autocast: Callable[[], ContextManager[Any]] | None) -> ContextManager[Any]:
    return contextlib.nullcontext() if autocast is None else autocast()


def _apply_update(
    loss: Tensor,
    params_of: nn.Module,
    optimizer: torch.optim.Optimizer,
    scaler: "torch.amp.GradScaler | None",
    max_grad_norm: float | None,
) -> None:
    """``optimizer.zero_grad(); loss.backward(); optimizer.step()``, with optional loss scaling and clipping."""
    optimizer.zero_grad(set_to_none=True)
    if scaler is None:
        loss.backward()
        if max_grad_norm is not None:
            torch.nn.utils.clip_grad_norm_(params_of.parameters(), max_grad_norm)
        optimizer.step()
        return
    scaler.scale(loss).backward()  # fp16: scale up so small gradients do not underflow
    if max_grad_norm is not None:
        scaler.unscale_(optimizer)  # clip the true gradients, not the scaled ones
        torch.nn.utils.clip_grad_norm_(params_of.parameters(), max_grad_norm)
    scaler.step(optimizer)  # unscales, and skips the step if a gradient is inf/NaN
    scaler.update()


def discriminator_step(
    G: nn.Module,
    D: nn.Module,
    opt_d: torch.optim.Optimizer,
    real: Tensor,
    z: Tensor,
    loss: Any,
    penalty: Penalty | None = None,
    scaler: "torch.amp.GradScaler | None" = None,
    autocast: Callable[[], ContextManager[Any]] | None = None,
    *,
    penalty_weight: float = 1.0,
    max_grad_norm: float | None = None,
) -> dict[str, float]:
    """One discriminator update (the inner loop of Algorithm 1, Goodfellow et al. 2014).

    .. math::
        \\tilde x = G(z) \\text{ (no gradient to } G), \\qquad
        L_D = \\ell_D\\big(D(x), D(\\tilde x)\\big) + \\lambda\\, R(D, x, \\tilde x), \\qquad
        \\theta_d \\leftarrow \\operatorname{opt}(\\theta_d, \\nabla_{\\theta_d} L_D),

    where :math:`\\ell_D` is ``loss.d_loss`` (for the minimax loss
    :math:`-\\frac1m\\sum_i[\\log \\sigma(D(x_i)) + \\log(1-\\sigma(D(\\tilde x_i)))]`, the negative of the paper's
    ascent objective) and :math:`R` an optional penalty with weight :math:`\\lambda`.

    Args:
        G: the generator, ``(Tensor[N, z_dim]) -> Tensor[N, ...]``.
        D: the discriminator, ``(Tensor[N, ...]) -> Tensor[N]`` or ``Tensor[N, 1]`` logits.
        opt_d: the discriminator's optimizer (only ``D`` changes).
        real: ``Tensor[N, ...]``, a minibatch of data on ``D``'s device.
        z: ``Tensor[M, z_dim]``, a minibatch of noise on ``G``'s device.
        loss: an object with ``d_loss(real_logits, fake_logits) -> scalar Tensor``
            (a :class:`~course_lib.gan.losses.GANLoss`).
        penalty: optional ``penalty(D, real, fake) -> scalar Tensor`` (a gradient penalty, ...). It is computed in
            float32 outside ``autocast`` (a gradient penalty needs double backward) and added before loss scaling.
        scaler: optional ``torch.amp.GradScaler`` for float16 training.
        autocast: optional zero-argument callable returning a context manager, e.g.
            ``lambda: torch.autocast("cuda", dtype=torch.bfloat16)``.
        penalty_weight: :math:`\\lambda`, the penalty's weight (keyword only).
        max_grad_norm: if given, clip the norm of ``D``'s gradient to it before the step (keyword only).

    Returns:
        ``d_loss`` (the total loss, penalty included), ``d_real`` (mean :math:`\\sigma(D(x))`), ``d_fake`` (mean
        :math:`\\sigma(D(G(z)))`) and ``penalty`` (the unweighted :math:`R`, 0 without a penalty), as floats.
        If ``d_loss`` is not finite, the weights are left unchanged.
    """
    with _context(autocast):
        with torch.no_grad():
            fake = G(z)  # x~ = G(z), like G(z).detach(): the generator is held fixed in this step
        real_logits = _upcast(as_logits(D(real), real.shape[0]))  # (N,), the loss in float32 at least
        fake_logits = _upcast(as_logits(D(fake), fake.shape[0]))  # (M,)
        d_loss = loss.d_loss(real_logits, fake_logits)
    total = _upcast(d_loss)
    reg = torch.zeros((), device=total.device, dtype=total.dtype)
    if penalty is not None:
        # at least float32, outside autocast: correct under double backward and under loss scaling
        real_p = _upcast(real)
        reg = _upcast(penalty(D, real_p, fake.to(real_p.dtype)))
        total = total + penalty_weight * reg
    stats = torch.stack(
        [total.detach().double(), torch.sigmoid(real_logits.detach()).mean().double(),
         torch.sigmoid(fake_logits.detach()).mean().double(), reg.detach().double()]
    ).tolist()  # one device sync for all four numbers
    if math.isfinite(stats[0]):
        _apply_update(total, D, opt_d, scaler, max_grad_norm)
    return {"d_loss": stats[0], "d_real": stats[1], "d_fake": stats[2], "penalty": stats[3]}


def generator_step(
    G: nn.Module,
    D: nn.Module,
    opt_g: torch.optim.Optimizer,
    z: Tensor,
    loss: Any,
    real: Tensor | None = None,
    scaler: "torch.amp.GradScaler | None" = None,
    autocast: Callable[[], ContextManager[Any]] | None = None,
    *,
    max_grad_norm: float | None = None,
) -> dict[str, float]:
    """One generator update (the outer step of Algorithm 1, Goodfellow et al. 2014).

    .. math::
        L_G = \\ell_G\\big(D(G(z)),\\, D(x)\\big), \\qquad
        \\theta_g \\leftarrow \\operatorname{opt}(\\theta_g, \\nabla_{\\theta_g} L_G),

    where :math:`\\ell_G` is ``loss.g_loss`` (minimax: :math:`\\frac1m\\sum_i \\log(1-\\sigma(D(G(z_i))))`;
    non-saturating: :math:`-\\frac1m\\sum_i \\log \\sigma(D(G(z_i)))`). The real logits :math:`D(x)` are only
    computed when ``real`` is given (relativistic losses need them); otherwise ``None`` is passed.
    ``D``'s parameters are frozen during the step: the gradient flows *through* D into G, and D is not changed.

    Args:
        G: the generator, ``(Tensor[N, z_dim]) -> Tensor[N, ...]``.
        D: the discriminator, returning ``Tensor[N]`` or ``Tensor[N, 1]`` logits.
        opt_g: the generator's optimizer.
        z: ``Tensor[N, z_dim]``, a fresh minibatch of noise.
        loss: an object with ``g_loss(fake_logits, real_logits) -> scalar Tensor``.
        real: optional ``Tensor[N, ...]`` of data, for losses that compare with real logits.
        scaler: optional ``torch.amp.GradScaler`` for float16 training.
        autocast: optional zero-argument callable returning a context manager.
        max_grad_norm: if given, clip the norm of ``G``'s gradient to it before the step (keyword only).

    Returns:
        ``g_loss`` as a float. If it is not finite, the weights are left unchanged.
    """
    with _frozen(D), _context(autocast):
        fake_logits = _upcast(as_logits(D(G(z)), z.shape[0]))  # (N,), differentiable w.r.t. G's parameters
        real_logits = None if real is None else _upcast(as_logits(D(real), real.shape[0])).detach()
        g_loss = loss.g_loss(fake_logits, real_logits)
    total = _upcast(g_loss)
    value = total.item()
    if math.isfinite(value):
        _apply_update(total, G, opt_g, scaler, max_grad_norm)
    return {"g_loss": value}



def objective_step(
    which: str,
    G: nn.Module,
    D: nn.Module,
    optimizer: torch.optim.Optimizer,
    objective: Any,
    batch: Any,
    z: Tensor | None,
    scaler: "torch.amp.GradScaler | None" = None,
    autocast: Callable[[], ContextManager[Any]] | None = None,
    *,
    max_grad_norm: float | None = None,
) -> dict[str, float]:
    """One update of one side with a pluggable :class:`~course_lib.train.objective.Objective`.

    The discriminator side minimises ``objective.d_loss(G, D, batch, z)`` with ``G`` frozen; the generator side
    minimises ``objective.g_loss(G, D, batch, z)`` with ``D`` frozen (gradients flow through ``D`` into ``G``).

    Args:
        which: ``"discriminator"`` or ``"generator"``: the side that is updated (the other is frozen).
        G, D: the networks (or modules holding several networks).
        optimizer: the optimizer of the updated side.
        objective: an object with ``d_loss``/``g_loss(G, D, batch, z) -> (scalar loss, logs dict)``.
        batch: the minibatch (a tensor or a tuple of tensors) on the models' device.
        z: ``Tensor[N, z_dim]`` noise, or ``None``.
        scaler, autocast, max_grad_norm: as in :func:`discriminator_step`.

    Returns:
        ``d_loss`` or ``g_loss`` (the returned loss) and every number of the objective's logs, as floats (one
        device synchronisation). If the loss is not finite, the weights are left unchanged.
    """
    from course_lib.train.objective import check_loss, logs_to_floats

    if which == "discriminator":
        frozen, updated, method = G, D, "d_loss"
    elif which == "generator":
        frozen, updated, method = D, G, "g_loss"
    else:
        raise ValueError(f"which must be 'discriminator' or 'generator', got {which!r}.")
    with _frozen(frozen), _context(autocast):
        loss, logs = check_loss(getattr(objective, method)(G, D, batch, z), method, objective)
    total = _upcast(loss)
    out = logs_to_floats(logs, total, method)
    if math.isfinite(out[method]):
        _apply_update(total, updated, optimizer, scaler, max_grad_norm)
    return out
