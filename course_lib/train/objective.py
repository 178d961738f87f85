"""The trainer's pluggable objective: what one step computes, when it is more than ``loss(D(x), D(G(z)))``.

Algorithm 1 of Goodfellow et al. (2014) needs two numbers per step, the discriminator's loss and the generator's
loss. :func:`~course_lib.train.steps.discriminator_step` and :func:`~course_lib.train.steps.generator_step` compute
them for the plain case, ``D(x)`` against ``D(G(z))``. Conditional GANs (labels ``y`` into both networks), paired
translation (``G(a)`` judged with ``a``), two generator/discriminator pairs (CycleGAN), super-resolution or an
encoder trained beside ``G`` change *what* is computed, not the loop. An :class:`Objective` says what is computed;
:class:`~course_lib.train.trainer.AdversarialTrainer` keeps everything else: ``n_critic``, the optimizers, mixed
precision, gradient clipping, the non-finite guard, logs, samples, checkpoints, exact resume and callbacks.

The data given to the trainer may then be a tuple of tensors with the same first dimension (``(x, y)`` images
and integer labels, ``(a, b)`` paired images), shuffled together; the objective receives the minibatch as it was
stored, a tensor or a tuple of tensors, on the models' device.
"""

from __future__ import annotations

from typing import Any, Mapping, Union

import torch
from torch import Tensor, nn

__all__ = ["Objective", "Batch", "batch_size_of", "check_loss", "logs_to_floats"]

#: A minibatch as the data source stores it: one tensor, or a tuple of tensors with the same first dimension.
Batch = Union[Tensor, tuple]


def batch_size_of(batch: Batch) -> int:
    """The number of samples in a minibatch: the first dimension of the tensor (of the first tensor of a tuple)."""
    first = batch[0] if isinstance(batch, (tuple, list)) else batch
    if not isinstance(first, Tensor) or first.dim() == 0:
        raise TypeError(f"a minibatch must be a Tensor (N, ...) or a tuple of them, got {type(first).__name__}.")
    return int(first.shape[0])


class Objective:
    """What one training step computes: the discriminator's and the generator's scalar losses.

    Subclass it and implement :meth:`d_loss` and :meth:`g_loss`; each returns ``(loss, logs)`` with ``loss`` a
    scalar tensor to minimise and ``logs`` a dict of numbers to record (``d_real``, ``d_fake``, a reconstruction
    error, ...). The trainer

    * draws ``z`` (``Tensor[N, z_dim]``, ``N`` the minibatch size) from its own noise stream, unless
      ``needs_noise`` is ``False`` (then ``z`` is ``None``: pix2pix's noise is dropout);
    * freezes ``G``'s parameters while it calls :meth:`d_loss` (no graph through ``G``'s weights, as
      ``G(z).detach()``) and ``D``'s while it calls :meth:`g_loss` (gradients flow *through* ``D`` into ``G``);
    * then zeroes the gradients, back-propagates, clips and steps that side's optimizer.

    ``G`` and ``D`` may be modules holding several networks (``nn.ModuleDict``): one optimizer per side over all
    their parameters, as the reference CycleGAN code does. An objective with state of its own (an image pool, a
    schedule) defines ``state_dict``/``load_state_dict`` and is saved in checkpoints.
    """

    #: Draw a noise minibatch for every update (``False``: ``z`` is ``None``).
    needs_noise: bool = True

    def d_loss(self, G: nn.Module, D: nn.Module, batch: Batch, z: Tensor | None) -> tuple[Tensor, Mapping[str, Any]]:
        """The discriminator's loss on one minibatch (``G`` is frozen). Returns ``(scalar loss, logs)``."""
        raise NotImplementedError(f"{type(self).__name__} must implement d_loss(G, D, batch, z).")

    def g_loss(self, G: nn.Module, D: nn.Module, batch: Batch, z: Tensor | None) -> tuple[Tensor, Mapping[str, Any]]:
        """The generator's loss on one minibatch (``D`` is frozen). Returns ``(scalar loss, logs)``."""
        raise NotImplementedError(f"{type(self).__name__} must implement g_loss(G, D, batch, z).")

    def sample(self, G: nn.Module, z: Tensor | None, batch: Batch | None = None) -> Tensor:
        """What :meth:`~course_lib.train.trainer.AdversarialTrainer.sample` shows: ``G(z)`` by default. Override it
        for labels (``G(z, y)``) or conditioning images (``G(a)`` for the ``a`` of ``batch``)."""
        if z is None:
            raise ValueError(f"{type(self).__name__}.sample needs noise z (or override sample for conditioning).")
        return G(z)

    def describe(self) -> str:
        """One line for the printed config."""
        return type(self).__name__


def check_loss(value: Any, which: str, objective: Any) -> tuple[Tensor, Mapping[str, Any]]:
    """Check what ``objective.d_loss``/``g_loss`` returned: ``(scalar tensor, dict)``."""
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise TypeError(f"{type(objective).__name__}.{which} must return (loss, logs), got {type(value).__name__}.")
    loss, logs = value
    if not isinstance(loss, Tensor) or loss.numel() != 1:
        shape = tuple(loss.shape) if isinstance(loss, Tensor) else type(loss).__name__
        raise TypeError(f"{type(objective).__name__}.{which} must return a scalar loss tensor first, got {shape}.")
    if not isinstance(logs, Mapping):
        raise TypeError(f"{type(objective).__name__}.{which} must return a dict of logs second, got "
                        f"{type(logs).__name__}.")
    if not loss.is_floating_point():
        raise TypeError(f"{type(objective).__name__}.{which} returned a {loss.dtype} loss; it must be floating point.")
    return loss.reshape(()), logs


def logs_to_floats(logs: Mapping[str, Any], loss: Tensor, key: str) -> dict[str, float]:
    """``{key: loss, **logs}`` as Python floats, read with one device synchronisation."""
    names = [key] + [k for k in logs if k != key]
    values = [loss.detach()] + [logs[k] for k in names[1:]]
    tensors = [v.detach().reshape(()).double() if isinstance(v, Tensor) else torch.tensor(float(v),
               dtype=torch.float64, device=loss.device) for v in values]
    numbers = torch.stack([t.to(loss.device) for t in tensors]).tolist()
    return dict(zip(names, numbers))
