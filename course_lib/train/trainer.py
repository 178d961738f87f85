"""The one adversarial trainer every chapter reuses.

A GAN variant differs from another by its loss, its penalty and its models, never by a copied training loop. So
there is one loop, :class:`AdversarialTrainer`, configured by a :class:`TrainerConfig`:

.. code-block:: python

    cfg = TrainerConfig(steps=2_000, loss="non_saturating", checkpoint_dir="runs/mlp_gan", checkpoint_every=200)
    trainer = AdversarialTrainer(G, D, data, cfg)
    history = trainer.fit()              # Algorithm 1 of Goodfellow et al. (2014), with a progress bar
    history = trainer.fit(resume=True)   # after a Colab disconnect: rebuild G, D, trainer, and go on

What it does, step by step (one *step* = one generator update, as in Algorithm 1):

1. ``n_critic`` times (the paper's :math:`k`): draw a data minibatch and a noise minibatch and call
   :func:`~course_lib.train.steps.discriminator_step`; then run the ``after_d_step`` hooks (weight clipping, ...);
2. once: draw fresh noise and call :func:`~course_lib.train.steps.generator_step`;
3. check both losses are finite (raise :class:`NonFiniteLossError`, or skip and count, ``config.nonfinite``);
4. every ``log_every`` steps append to ``history``; every ``sample_every`` steps store ``G(fixed noise)`` in
   ``samples``; every ``checkpoint_every`` steps write a checkpoint; call the callbacks.

Reproducibility. All randomness the trainer adds comes from its own ``torch.Generator`` objects, seeded with
``config.seed``: the data shuffling (tensor data), the draws of a sampler (callable data), and the noise ``z``.
Dropout and other randomness inside the models use PyTorch's global generator, whose state (CPU and CUDA) is saved in
every checkpoint too, as is the state of the stateful parts (a loss with ``state_dict()`` such as BEGAN's k_t, a
penalty with its own generator, an ``after_d_step`` hook object with a ``state_dict()``). On a CPU, a run interrupted and resumed from its last checkpoint therefore ends *bit for bit*
where the uninterrupted run ends (for tensor and callable data; a ``DataLoader`` keeps its own iteration order, so
resuming one restarts its epoch).

An interrupt (Ctrl-C, Jupyter's stop button) during :meth:`AdversarialTrainer.fit` lets the current step finish,
saves a checkpoint when ``checkpoint_dir`` is set, prints how to resume, and returns the history: no traceback,
no lost hour. A second interrupt stops at once.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import inspect
import math
import os
import random
import re
import signal
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, ContextManager, Iterator, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from course_lib.train.callbacks import Callback
from course_lib.train.steps import discriminator_step, generator_step

__all__ = [
    "TrainerConfig",
    "AdversarialTrainer",
    "NonFiniteLossError",
    "latest_checkpoint",
    "build_optimizer",
    "HISTORY_KEYS",
]

HISTORY_KEYS = ("step", "d_loss", "g_loss", "d_real", "d_fake", "penalty", "seconds")
_OPTIMIZERS = ("adam", "rmsprop", "sgd")
_AMP_MODES = ("auto", "bf16", "fp16", "off")
_NONFINITE_MODES = ("raise", "skip")
_CKPT_PATTERN = re.compile(r"^ckpt_(\d+)\.pt$")
_CHECKPOINT_FORMAT = 1


class NonFiniteLossError(RuntimeError):
    """A loss became NaN or infinite during :meth:`AdversarialTrainer.fit`.

    Attributes:
        step: the generator update (counted from 1) during which it happened.
        which: ``"discriminator"`` or ``"generator"``.
        value: the offending value.
    """

    def __init__(self, step: int, which: str, value: float, hint: str) -> None:
        self.step, self.which, self.value = step, which, value
        super().__init__(
            f"the {which} loss is {value} at step {step}; the update was not applied. {hint}"
        )


# ----------------------------------------------------------------------------------------------------------------
# Configuration
# ----------------------------------------------------------------------------------------------------------------
@dataclass
class TrainerConfig:
    """Everything that defines a training run; printed at the start of every run (``print(config)``).

    Defaults follow the papers: Algorithm 1 of Goodfellow et al. (2014) for the loop, the Adam settings of DCGAN
    (Radford et al. 2016, Section 4) for the optimizers.
    """

    # --- the loop: Algorithm 1 of Goodfellow et al. (2014) ---
    steps: int = 1000  # number of generator updates (the outer loop of Algorithm 1)
    batch_size: int = 64  # m, the minibatch size of data and of noise (DCGAN used 128, WGAN 64)
    n_critic: int = 1  # k, discriminator updates per generator update (k = 1 in the paper's experiments)
    z_dim: int | None = None  # noise dimension; None: taken from the generator's `z_dim` attribute
    loss: Any = "non_saturating"  # a registered GAN loss name, a GANLoss or a loss object; Goodfellow Sec. 3
    # penalty(D, real, fake) -> scalar, a registered name ("wgan_gp", "r1", ...: course_lib.gan.penalties), or None
    penalty: Callable[[nn.Module, Tensor, Tensor], Tensor] | str | None = None
    penalty_weight: float | None = None  # lambda; None: the penalty's `default_weight` (WGAN-GP: 10), else 1
    # --- the optimizers: Adam as in DCGAN (Radford et al. 2016, Sec. 4: lr 2e-4, beta1 0.5) ---
    optimizer: str = "adam"  # "adam", "rmsprop" (WGAN: lr 5e-5) or "sgd" (Goodfellow et al. used momentum SGD)
    lr_g: float = 2e-4  # generator learning rate
    lr_d: float = 2e-4  # discriminator learning rate (TTUR, Heusel et al. 2017, uses lr_d > lr_g)
    betas: tuple[float, float] = (0.5, 0.999)  # Adam's (beta1, beta2); DCGAN lowered beta1 from 0.9 to 0.5
    max_grad_norm: float | None = None  # clip each network's gradient norm to this; None: no clipping
    # --- the GPU ---
    amp: str = "auto"  # "auto": bf16 autocast on CUDA if supported, else fp16 + GradScaler; off on CPU
    channels_last: bool = False  # NHWC memory layout for convolutional models on CUDA
    # --- bookkeeping ---
    seed: int = 0  # seeds the trainer's own generators (data order, noise, fixed noise)
    log_every: int = 10  # append the latest losses to `history` every this many steps
    sample_every: int = 100  # store G(fixed noise) in `samples` every this many steps (and at step 0); 0: never
    n_samples: int = 64  # size of the fixed noise batch used for sample grids
    checkpoint_every: int = 0  # write a checkpoint every this many steps; 0: only at the end and on interrupt
    checkpoint_dir: str | None = None  # where checkpoints go; None: no checkpoints
    keep_last: int = 2  # number of checkpoint files kept in checkpoint_dir
    progress: bool = True  # tqdm progress bar and the printed config; False: silent
    nonfinite: str = "raise"  # on a NaN/inf loss: "raise" NonFiniteLossError, or "skip" the update and count it

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise ``TypeError``/``ValueError`` naming the first field that holds an impossible value."""

        def positive_int(name: str, allow_zero: bool = False) -> None:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise TypeError(f"TrainerConfig.{name} must be an int, got {type(value).__name__}.")
            if value < 0 or (value == 0 and not allow_zero):
                bound = ">= 0" if allow_zero else "> 0"
                raise ValueError(f"TrainerConfig.{name} must be {bound}, got {value}.")

        def positive_float(name: str, allow_zero: bool = False) -> None:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(f"TrainerConfig.{name} must be a number, got {type(value).__name__}.")
            if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
                bound = ">= 0" if allow_zero else "> 0"
                raise ValueError(f"TrainerConfig.{name} must be finite and {bound}, got {value}.")

        for name in ("steps", "batch_size", "n_critic", "log_every", "n_samples", "keep_last"):
            positive_int(name)
        for name in ("sample_every", "checkpoint_every", "seed"):
            positive_int(name, allow_zero=True)
        if self.z_dim is not None:
            positive_int("z_dim")
        positive_float("lr_g")
        positive_float("lr_d")
        if self.penalty_weight is not None:
            positive_float("penalty_weight", allow_zero=True)
        if self.max_grad_norm is not None:
            positive_float("max_grad_norm")
        if (
            not isinstance(self.betas, (tuple, list))
            or len(self.betas) != 2
            or not all(isinstance(b, (int, float)) and not isinstance(b, bool) and 0 <= b < 1 for b in self.betas)
        ):
            raise ValueError(f"TrainerConfig.betas must be two numbers in [0, 1), got {self.betas!r}.")
        self.betas = (float(self.betas[0]), float(self.betas[1]))
        if not isinstance(self.optimizer, str) or self.optimizer.lower() not in _OPTIMIZERS:
            raise ValueError(f"TrainerConfig.optimizer must be one of {_OPTIMIZERS}, got {self.optimizer!r}.")
        if isinstance(self.amp, bool):  # True/False are accepted as "auto"/"off"
            self.amp = "auto" if self.amp else "off"
        if not isinstance(self.amp, str) or self.amp not in _AMP_MODES:
            raise ValueError(f"TrainerConfig.amp must be one of {_AMP_MODES}, got {self.amp!r}.")
        if self.nonfinite not in _NONFINITE_MODES:
            raise ValueError(f"TrainerConfig.nonfinite must be one of {_NONFINITE_MODES}, got {self.nonfinite!r}.")
        if isinstance(self.penalty, str):
            from course_lib.gan.penalties import list_penalties  # here: the gan package imports nothing from train

            if self.penalty not in list_penalties():
                raise ValueError(
                    f"TrainerConfig.penalty {self.penalty!r} is not a registered penalty; registered: "
                    f"{', '.join(list_penalties())}."
                )
        elif self.penalty is not None and not callable(self.penalty):
            raise TypeError(
                f"TrainerConfig.penalty must be a callable penalty(D, real, fake) -> Tensor, a registered name or "
                f"None, got {type(self.penalty).__name__}."
            )
        if self.checkpoint_dir is not None and not isinstance(self.checkpoint_dir, (str, os.PathLike)):
            raise TypeError(
                f"TrainerConfig.checkpoint_dir must be a path or None, got {type(self.checkpoint_dir).__name__}."
            )
        if self.checkpoint_every and self.checkpoint_dir is None:
            raise ValueError("TrainerConfig.checkpoint_every > 0 needs a checkpoint_dir to write to.")
        for name in ("channels_last", "progress"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"TrainerConfig.{name} must be a bool, got {type(getattr(self, name)).__name__}.")

    def to_dict(self) -> dict[str, Any]:
        """The config as plain values (the penalty and a loss object by name), as stored in checkpoints."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "penalty" and value is not None and not isinstance(value, str):
                value = str(getattr(value, "name", None) or _callable_name(value))
            elif f.name == "loss" and not isinstance(value, str):
                value = str(getattr(value, "name", _callable_name(value)))
            elif f.name == "checkpoint_dir" and value is not None:
                value = str(value)
            elif f.name == "betas":
                value = tuple(value)
            out[f.name] = value
        return out

    def summary(self) -> str:
        """A readable multi-line listing of every field."""
        lines = ["TrainerConfig("]
        for name, value in self.to_dict().items():
            lines.append(f"    {name:<16} = {value!r},")
        lines.append(")")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


def _callable_name(fn: Any) -> str:
    return getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or type(fn).__name__


# ----------------------------------------------------------------------------------------------------------------
# Data sources: a tensor (shuffled by the trainer), a sampler (the toy distributions), a DataLoader
# ----------------------------------------------------------------------------------------------------------------
class _TensorSource:
    """Minibatches from a tensor ``(N, ...)`` or a tuple of tensors with the same ``N`` (``(x, y)``, ``(a, b)``),
    reshuffled together every epoch with the trainer's generator (drop-last)."""

    exact_resume = True

    def __init__(self, data: Tensor | tuple, batch_size: int, device: torch.device, dtype: torch.dtype) -> None:
        parts = tuple(data) if isinstance(data, (tuple, list)) else (data,)
        if not parts or not all(isinstance(t, Tensor) for t in parts):
            raise TypeError("tuple data must hold tensors only, got "
                            f"({', '.join(type(t).__name__ for t in parts)}).")
        n = parts[0].shape[0] if parts[0].dim() >= 1 else 0
        for i, t in enumerate(parts):
            if t.dim() < 1 or t.shape[0] == 0:
                what = "data" if len(parts) == 1 else f"data[{i}]"
                raise ValueError(f"{what} must be a non-empty tensor of samples (N, ...), got shape {tuple(t.shape)}.")
            if t.shape[0] != n:
                raise ValueError("the tensors of tuple data must have the same number of samples (first dimension), "
                                 f"got {[tuple(p.shape) for p in parts]}.")
        if not parts[0].is_floating_point():
            what = "data" if len(parts) == 1 else "data[0] (the samples)"
            raise TypeError(
                f"{what} must be a floating-point tensor (scaled like the generator's output), got dtype "
                f"{parts[0].dtype}."
            )
        if batch_size > n:
            raise ValueError(
                f"batch_size={batch_size} is larger than the dataset ({n} samples); lower batch_size."
            )
        # small datasets live on the training device once, so a batch is one index operation there
        parts = tuple(t.to(device) if t.device != device and t.numel() * t.element_size() <= 2**30 else t
                      for t in parts)
        self.parts, self.is_tuple = parts, isinstance(data, (tuple, list))
        self.data, self.device, self.dtype = parts[0], device, dtype
        self.n = n
        self.perm: Tensor | None = None  # (N,) int64, the order of the current epoch
        self.pos = 0  # next index into perm
        self.epoch = 0  # epochs started so far

    def next(self, batch_size: int, rng: torch.Generator) -> Tensor:
        if self.perm is None or self.pos + batch_size > self.n:  # new epoch (the incomplete tail is dropped)
            self.perm = torch.randperm(self.n, generator=rng)
            self.pos = 0
            self.epoch += 1
        idx = self.perm[self.pos : self.pos + batch_size]  # (B,)
        self.pos += batch_size
        batch = tuple(self._take(t, idx) for t in self.parts)
        return batch if self.is_tuple else batch[0]

    def _take(self, t: Tensor, idx: Tensor) -> Tensor:
        part = t[idx.to(t.device)]  # (B, ...)
        if part.device != self.device:
            if self.device.type == "cuda":
                part = part.pin_memory()
            part = part.to(self.device, non_blocking=True)
        return part.to(self.dtype) if part.is_floating_point() else part

    def state_dict(self) -> dict[str, Any]:
        return {"kind": "tensor", "n": self.n, "perm": self.perm, "pos": self.pos, "epoch": self.epoch}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("kind") != "tensor" or state.get("n") != self.n:
            raise ValueError(
                f"the checkpoint's data position is for {state.get('kind')} data with n={state.get('n')}, "
                f"this trainer has tensor data with n={self.n}: pass the same data to resume."
            )
        self.perm, self.pos, self.epoch = state["perm"], int(state["pos"]), int(state["epoch"])


class _SamplerSource:
    """Minibatches from a callable ``sample(n, generator) -> Tensor[n, ...]`` (an endless distribution)."""

    exact_resume = True

    def __init__(self, sample: Callable[[int, torch.Generator], Tensor], device: torch.device, dtype: torch.dtype,
                 allow_tuple: bool = False):
        self.sample, self.device, self.dtype = sample, device, dtype
        self.allow_tuple = allow_tuple
        self.epoch = 0

    def next(self, batch_size: int, rng: torch.Generator) -> Tensor:
        batch = self.sample(batch_size, rng)
        parts = tuple(batch) if self.allow_tuple and isinstance(batch, (tuple, list)) else (batch,)
        for part in parts:
            if not isinstance(part, Tensor):
                kind = "a Tensor or a tuple of Tensors" if self.allow_tuple else "a Tensor"
                raise TypeError(f"the data sampler must return {kind}, got {type(part).__name__}.")
            if part.dim() < 1 or part.shape[0] != batch_size:
                raise ValueError(
                    f"the data sampler was asked for {batch_size} samples and returned shape {tuple(part.shape)}."
                )
        if not isinstance(batch, (tuple, list)):
            return batch.to(self.device, self.dtype, non_blocking=True)
        return tuple(p.to(self.device, self.dtype if p.is_floating_point() else p.dtype, non_blocking=True)
                     for p in parts)

    def state_dict(self) -> dict[str, Any]:
        return {"kind": "sampler"}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("kind") != "sampler":
            raise ValueError(f"the checkpoint was made with {state.get('kind')} data, this trainer has a sampler.")


class _LoaderSource:
    """Minibatches from a ``DataLoader``, epoch after epoch; ``(x, y)`` batches give ``x``."""

    exact_resume = False

    def __init__(self, loader: torch.utils.data.DataLoader, device: torch.device, dtype: torch.dtype,
                 keep_tuple: bool = False) -> None:
        self.loader, self.device, self.dtype = loader, device, dtype
        self.keep_tuple = keep_tuple  # with an objective the whole (x, y, ...) batch is passed on
        self.iterator: Iterator[Any] | None = None
        self.epoch = 0

    def next(self, batch_size: int, rng: torch.Generator) -> Tensor:
        for _ in range(2):
            if self.iterator is None:
                sampler = getattr(self.loader, "sampler", None)
                if callable(getattr(sampler, "set_epoch", None)):  # DistributedSampler: a new shuffle per epoch
                    sampler.set_epoch(self.epoch)
                self.iterator = iter(self.loader)
                self.epoch += 1
            try:
                batch = next(self.iterator)
                break
            except StopIteration:
                self.iterator = None
        else:
            raise ValueError("the DataLoader yielded no batch: is its dataset empty (or drop_last with too few items)?")
        if isinstance(batch, (tuple, list)) and self.keep_tuple:
            if not all(isinstance(t, Tensor) for t in batch):
                raise TypeError("the DataLoader must yield tuples of Tensors, got "
                                f"({', '.join(type(t).__name__ for t in batch)}).")
            return tuple(t.to(self.device, self.dtype if t.is_floating_point() else t.dtype, non_blocking=True)
                         for t in batch)
        if isinstance(batch, (tuple, list)):
            batch = batch[0]  # (x, y) -> x
        if not isinstance(batch, Tensor):
            raise TypeError(f"the DataLoader must yield Tensors or (Tensor, ...) tuples, got {type(batch).__name__}.")
        return batch.to(self.device, self.dtype, non_blocking=True)

    def state_dict(self) -> dict[str, Any]:
        return {"kind": "loader", "epoch": self.epoch}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("kind") != "loader":
            raise ValueError(f"the checkpoint was made with {state.get('kind')} data, this trainer has a DataLoader.")
        self.epoch = int(state.get("epoch", 0))
        self.iterator = None  # a DataLoader cannot be rewound: the resumed run starts a new pass


# ----------------------------------------------------------------------------------------------------------------
# Helpers
# ----------------------------------------------------------------------------------------------------------------
def _first_param(module: nn.Module, name: str) -> Tensor:
    for p in module.parameters():
        return p
    raise ValueError(f"the {name} has no parameters to train.")


def build_optimizer(
    name: str, params: Any, lr: float, betas: tuple[float, float], device: torch.device
) -> torch.optim.Optimizer:
    """``adam`` (fused on CUDA when this PyTorch supports it), ``rmsprop`` or ``sgd`` with learning rate ``lr``."""
    name = name.lower()
    if name == "adam":
        kwargs: dict[str, Any] = {}
        if device.type == "cuda" and "fused" in inspect.signature(torch.optim.Adam).parameters:
            kwargs["fused"] = True  # one kernel for all parameters instead of several per tensor
        return torch.optim.Adam(params, lr=lr, betas=betas, **kwargs)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr)
    raise ValueError(f"unknown optimizer {name!r}; use one of {_OPTIMIZERS}.")


def _resolve_amp(mode: str, device: torch.device) -> tuple[torch.dtype | None, bool]:
    """(autocast dtype or None, whether a GradScaler is needed)."""
    if mode == "off" or (mode == "auto" and device.type != "cuda"):
        return None, False
    if mode == "auto":
        return (torch.bfloat16, False) if torch.cuda.is_bf16_supported() else (torch.float16, True)
    if mode == "bf16":
        return torch.bfloat16, False
    if device.type != "cuda":  # fp16
        raise ValueError(f"amp='fp16' needs a CUDA device, the models are on {device}; use 'bf16' or 'off'.")
    return torch.float16, True


def latest_checkpoint(directory: str | os.PathLike) -> Path | None:
    """The checkpoint ``ckpt_<step>.pt`` with the largest step in ``directory``, or ``None`` if there is none."""
    directory = Path(directory)
    if not directory.is_dir():
        return None
    found = [(int(m.group(1)), p) for p in directory.iterdir() if (m := _CKPT_PATTERN.match(p.name))]
    return max(found)[1] if found else None


@contextlib.contextmanager
def _deferred_interrupt() -> Iterator[dict[str, bool]]:
    """While active, a first SIGINT only sets ``flag["requested"]`` (the loop stops after the current step);
    a second one raises ``KeyboardInterrupt`` at once. Outside the main thread this does nothing."""
    flag = {"requested": False}
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return
    previous = signal.getsignal(signal.SIGINT)

    def handler(signum: int, frame: Any) -> None:
        if flag["requested"]:
            raise KeyboardInterrupt
        flag["requested"] = True
        print("\nInterrupt received: finishing the current step, then stopping (interrupt again to stop at once).")

    try:
        signal.signal(signal.SIGINT, handler)
    except (ValueError, OSError):  # not allowed here (embedded interpreter): keep the default behaviour
        yield flag
        return
    try:
        yield flag
    finally:
        signal.signal(signal.SIGINT, previous)


def _numpy_state_to_torch(state: tuple) -> tuple:
    name, keys, pos, has_gauss, cached = state
    return (str(name), torch.from_numpy(np.asarray(keys, dtype=np.int64)), int(pos), int(has_gauss), float(cached))


def _numpy_state_from_torch(state: Sequence[Any]) -> tuple:
    name, keys, pos, has_gauss, cached = state
    return (name, keys.numpy().astype(np.uint32), pos, has_gauss, cached)


# ----------------------------------------------------------------------------------------------------------------
# The trainer
# ----------------------------------------------------------------------------------------------------------------
class AdversarialTrainer:
    """Algorithm 1 of Goodfellow et al. (2014) with pluggable losses, penalties, optimizers and callbacks.

    Args:
        generator: ``G``, mapping ``Tensor[N, z_dim]`` to samples ``Tensor[N, ...]``.
        discriminator: ``D``, mapping samples to logits ``Tensor[N]`` or ``Tensor[N, 1]``.
        data: the real samples, one of
            (a) a floating-point ``Tensor[N, ...]``: shuffled by the trainer, epoch by epoch (incomplete last
            minibatch dropped); (b) a callable ``sample(n, generator) -> Tensor[n, ...]`` drawing from a known
            distribution with the given ``torch.Generator``; (c) a ``torch.utils.data.DataLoader`` yielding
            tensors or ``(x, y)`` pairs. Resuming is exact for (a) and (b) only. With an ``objective``, (a) may be
            a tuple of tensors with the same first dimension (``(x, y)``, ``(a, b)``), shuffled together, (b) may
            return such a tuple, and (c)'s whole batch tuple is passed on.
        config: a :class:`TrainerConfig` (defaults if ``None``).
        callbacks: :class:`~course_lib.train.callbacks.Callback` objects.
        device: move both models there; ``None``: use the device of the generator's parameters.
        optimizers: optional ``(opt_g, opt_d)`` to use instead of building them from the config.
        after_d_step: callables ``(trainer) -> None`` run after every discriminator update (e.g. WGAN's weight
            clipping); more can be appended to ``trainer.after_d_step`` later.
        objective: an :class:`~course_lib.train.objective.Objective` that computes both losses from a minibatch
            (labels, paired images, several networks); ``None``: Algorithm 1's ``loss(D(x), D(G(z)))`` with
            ``config.loss`` and ``config.penalty``.
        distributed: a :class:`~course_lib.train.distributed.DistributedContext` (or ``True``: from torchrun's
            environment) to train data-parallel on several processes (Appendix B): ``config.batch_size`` is then
            the batch of each rank, gradients are averaged by DDP, only rank 0 prints, samples and writes
            checkpoints. ``None``: one process. See :meth:`distribute`.

    Attributes:
        G, D, opt_g, opt_d: the networks and their optimizers. ``step``: generator updates done so far.
        history: dict of lists, keys ``HISTORY_KEYS``; ``samples``: list of ``(step, Tensor on CPU)``.
        fixed_noise: ``Tensor[n_samples, z_dim]``, the noise behind every sample grid.
        nonfinite_skips: ``{"discriminator": int, "generator": int}`` updates skipped (``nonfinite="skip"``).
    """

    def __init__(
        self,
        generator: nn.Module,
        discriminator: nn.Module,
        data: Tensor | Callable[[int, torch.Generator], Tensor] | torch.utils.data.DataLoader,
        config: TrainerConfig | None = None,
        callbacks: Sequence[Callback] = (),
        device: torch.device | str | None = None,
        *,
        optimizers: tuple[torch.optim.Optimizer, torch.optim.Optimizer] | None = None,
        after_d_step: Sequence[Callable[["AdversarialTrainer"], Any]] = (),
        objective: Any = None,
        distributed: Any = None,
    ) -> None:
        if not isinstance(generator, nn.Module) or not isinstance(discriminator, nn.Module):
            raise TypeError(
                f"generator and discriminator must be torch.nn.Module objects, got "
                f"{type(generator).__name__} and {type(discriminator).__name__}."
            )
        config = TrainerConfig() if config is None else config
        if not isinstance(config, TrainerConfig):
            raise TypeError(f"config must be a TrainerConfig, got {type(config).__name__}.")
        config.validate()
        self.config = config
        if objective is not None:
            missing = [m for m in ("d_loss", "g_loss", "sample") if not callable(getattr(objective, m, None))]
            if missing:
                raise TypeError(f"objective must define d_loss, g_loss and sample (subclass "
                                f"course_lib.train.Objective); {type(objective).__name__} lacks {', '.join(missing)}.")
            if config.penalty is not None:
                raise ValueError("config.penalty is not used with an objective: add the penalty inside the "
                                 "objective's d_loss (course_lib.gan.penalties.get_penalty(name)).")
        self.objective = objective
        if distributed is True:
            from course_lib.train.distributed import init_distributed

            distributed = init_distributed()
        if distributed is not None and device is None:
            device = getattr(distributed, "device", None)  # each rank's own device (cuda:LOCAL_RANK or cpu)

        # --- models, device, dtype (taken from the models) ---
        if device is not None:
            device = torch.device(device)
            generator.to(device)
            discriminator.to(device)
        g_param = _first_param(generator, "generator")
        d_param = _first_param(discriminator, "discriminator")
        if g_param.device != d_param.device:
            raise ValueError(
                f"the generator is on {g_param.device} and the discriminator on {d_param.device}; "
                "put both on one device (or pass device=...)."
            )
        self.device = g_param.device
        self.dtype = g_param.dtype
        if config.channels_last and self.device.type == "cuda":
            generator.to(memory_format=torch.channels_last)
            discriminator.to(memory_format=torch.channels_last)
        self.G, self.D = generator, discriminator

        z_dim = config.z_dim if config.z_dim is not None else getattr(generator, "z_dim", None)
        if z_dim is None and objective is not None and not getattr(objective, "needs_noise", True):
            z_dim = 1  # an objective that draws no noise (pix2pix): the fixed noise is a placeholder
        if not isinstance(z_dim, int) or isinstance(z_dim, bool) or z_dim <= 0:
            raise ValueError(
                "the noise dimension is unknown: set TrainerConfig.z_dim or give the generator a `z_dim` attribute."
            )
        self.z_dim = z_dim

        # --- loss ---
        from course_lib.gan.losses import get_gan_loss  # imported here: the gan package imports nothing from train

        self.loss = get_gan_loss(config.loss)
        # relativistic losses compare fake with real logits in the generator step too
        self._g_needs_real = bool(getattr(self.loss, "needs_real_logits", False))

        # --- penalty: a registered name gives a fresh object; its paper weight unless the config sets one ---
        self.penalty: Callable[[nn.Module, Tensor, Tensor], Tensor] | None = None
        if config.penalty is not None:
            from course_lib.gan.penalties import get_penalty

            self.penalty = get_penalty(config.penalty)
        self.penalty_weight = (
            float(config.penalty_weight) if config.penalty_weight is not None
            else float(getattr(self.penalty, "default_weight", 1.0))
        )

        # --- data ---
        self._data = self._make_source(data)

        # --- optimizers ---
        if optimizers is None:
            self.opt_g = build_optimizer(
                config.optimizer, generator.parameters(), config.lr_g, config.betas, self.device
            )
            self.opt_d = build_optimizer(
                config.optimizer, discriminator.parameters(), config.lr_d, config.betas, self.device
            )
        else:
            self.opt_g, self.opt_d = self._check_optimizers(optimizers)

        # --- mixed precision ---
        self.amp_dtype, use_scaler = _resolve_amp(config.amp, self.device)
        self._autocast: Callable[[], ContextManager[Any]] | None = None
        if self.amp_dtype is not None:
            self._autocast = functools.partial(torch.autocast, device_type=self.device.type, dtype=self.amp_dtype)
        self.scaler_g = torch.amp.GradScaler(self.device.type) if use_scaler else None
        self.scaler_d = torch.amp.GradScaler(self.device.type) if use_scaler else None

        # --- the trainer's own random streams (never the global generator) ---
        self.data_rng = torch.Generator().manual_seed(config.seed)  # CPU: data order, sampler draws
        try:
            self.noise_rng = torch.Generator(device=self.device).manual_seed(config.seed + 1)  # z, on the device
        except RuntimeError:  # a device without its own generator: draw on the CPU and copy
            self.noise_rng = torch.Generator().manual_seed(config.seed + 1)
        self.sample_rng = torch.Generator().manual_seed(config.seed + 3)  # fresh noise for sample(n)
        fixed = torch.Generator().manual_seed(config.seed + 2)
        self.fixed_noise = torch.randn(config.n_samples, z_dim, generator=fixed, dtype=self.dtype).to(self.device)

        # --- state ---
        self.callbacks = list(callbacks)
        for cb in self.callbacks:
            if not isinstance(cb, Callback):
                raise TypeError(f"callbacks must be Callback objects, got {type(cb).__name__}.")
        self.after_d_step: list[Callable[[AdversarialTrainer], Any]] = list(after_d_step)
        for hook in self.after_d_step:
            if not callable(hook):
                raise TypeError(f"after_d_step hooks must be callables (trainer) -> None, got {type(hook).__name__}.")
        loss_hook = getattr(self.loss, "after_d_step", None)  # a stateful loss (BEGAN's k_t) updates itself first
        if callable(loss_hook):
            self.after_d_step.insert(0, loss_hook)
        self.step = 0
        self.elapsed = 0.0  # training seconds so far, summed over fit calls and resumes
        self.history: dict[str, list[float]] = {key: [] for key in HISTORY_KEYS}
        self.samples: list[tuple[int, Tensor]] = []
        self.nonfinite_skips = {"discriminator": 0, "generator": 0}
        self.stop_training = False  # a callback may set it to end fit after the current step
        self.last_logs: dict[str, float] = {}
        self._consistent = True  # False while a step is half done (then a checkpoint would not resume exactly)
        self._saved_step = -1
        # --- data parallelism (Appendix B): the modules called for each side's update, and the process group ---
        self.dist: Any = None
        self._G_step, self._D_step, self._penalty_step = self.G, self.D, self.penalty
        self._data_shards = self._noise_shards = 1
        if distributed is not None:
            self.distribute(distributed)

    def distribute(self, ctx: Any = True) -> "AdversarialTrainer":
        """Train data-parallel from now on (:func:`course_lib.train.distributed.attach`); returns ``self``.

        ``ctx``: a :class:`~course_lib.train.distributed.DistributedContext`, or ``True`` to join torchrun's
        process group. Call it on every rank, before :meth:`fit`. Callbacks then run on every rank (test
        ``trainer.is_main`` to print or save once); ``save_checkpoint`` and ``state_dict`` become collectives.
        """
        from course_lib.train.distributed import attach, init_distributed

        attach(self, init_distributed() if ctx is True else ctx)
        return self

    @property
    def is_main(self) -> bool:
        """Whether this process prints, samples and writes checkpoints (always, without ``distributed``)."""
        return self.dist is None or self.dist.is_main

    # ------------------------------------------------------------------------------------------------------------
    def _make_source(self, data: Any) -> Any:
        has_objective = self.objective is not None
        if isinstance(data, (tuple, list)) and any(isinstance(t, Tensor) for t in data):
            if not has_objective:
                raise ValueError(
                    "tuple data (x, y) or (a, b) needs an objective that uses every part: pass objective=... "
                    "(course_lib.train.Objective); for unconditional training pass the samples tensor alone."
                )
            return _TensorSource(tuple(data), self.config.batch_size, self.device, self.dtype)
        if isinstance(data, Tensor):
            return _TensorSource(data, self.config.batch_size, self.device, self.dtype)
        if isinstance(data, torch.utils.data.DataLoader):
            return _LoaderSource(data, self.device, self.dtype, keep_tuple=has_objective)
        if callable(data):
            return _SamplerSource(data, self.device, self.dtype, allow_tuple=has_objective)
        raise TypeError(
            "data must be a Tensor of real samples (N, ...), a callable sample(n, generator) -> Tensor, or a "
            f"torch DataLoader; got {type(data).__name__}."
        )

    def _check_optimizers(self, optimizers: Any) -> tuple[torch.optim.Optimizer, torch.optim.Optimizer]:
        if not isinstance(optimizers, (tuple, list)) or len(optimizers) != 2:
            raise TypeError("optimizers must be a pair (opt_g, opt_d).")
        opt_g, opt_d = optimizers
        for name, opt, model in (("opt_g", opt_g, self.G), ("opt_d", opt_d, self.D)):
            if not isinstance(opt, torch.optim.Optimizer):
                raise TypeError(f"{name} must be a torch.optim.Optimizer, got {type(opt).__name__}.")
            own = {id(p) for p in model.parameters()}
            if any(id(p) not in own for group in opt.param_groups for p in group["params"]):
                who = "generator" if name == "opt_g" else "discriminator"
                raise ValueError(
                    f"{name} holds parameters that are not the {who}'s: pass optimizers=(opt_g, opt_d) in that order."
                )
        return opt_g, opt_d

    def _noise(self, n: int) -> Tensor:
        """``z ~ N(0, I)``, ``Tensor[n, z_dim]`` on the models' device, from the trainer's noise generator."""
        w = self._noise_shards  # distributed: every rank draws the global (W n, z_dim) and keeps its slice
        z = torch.randn(n * w, self.z_dim, generator=self.noise_rng, device=self.noise_rng.device, dtype=self.dtype)
        z = z.to(self.device, non_blocking=True)
        return z if w == 1 else self.dist.shard(z)

    def _next_real(self) -> Tensor:
        real = self._data.next(self.config.batch_size * self._data_shards, self.data_rng)
        if self._data_shards > 1:
            real = self.dist.shard(real)  # this rank's slice of the global minibatch (same order on every rank)
        if isinstance(real, tuple):
            return real
        if self.config.channels_last and real.dim() == 4 and self.device.type == "cuda":
            real = real.contiguous(memory_format=torch.channels_last)
        return real

    def _guard(self, which: str, value: float) -> None:
        if math.isfinite(value):
            return
        step = self.step + 1
        if self.config.nonfinite == "raise":
            cfg = self.config
            hint = (
                f"Hints: lower the learning rates (lr_g={cfg.lr_g:g}, lr_d={cfg.lr_d:g}); check that the data are "
                "finite and scaled like the generator's output (e.g. [-1, 1] for tanh); use a loss written on logits; "
                "try amp='off' or max_grad_norm; or set TrainerConfig(nonfinite='skip') to skip such updates."
            )
            raise NonFiniteLossError(step, which, value, hint)
        if sum(self.nonfinite_skips.values()) == 0:
            warnings.warn(
                f"the {which} loss is {value} at step {step}: skipping that update (nonfinite='skip'); "
                "trainer.nonfinite_skips counts them.",
                RuntimeWarning,
                stacklevel=3,
            )
        self.nonfinite_skips[which] += 1

    def _objective_train_step(self) -> dict[str, float]:
        """Algorithm 1 with a pluggable objective: ``n_critic`` discriminator updates, then one generator update
        on the last minibatch with fresh noise."""
        from course_lib.train.objective import batch_size_of
        from course_lib.train.steps import objective_step

        cfg, obj = self.config, self.objective
        needs_noise = bool(getattr(obj, "needs_noise", True))
        for _ in range(cfg.n_critic):
            batch = self._next_real()
            z = self._noise(batch_size_of(batch)) if needs_noise else None
            d_logs = objective_step("discriminator", self.G, self._D_step, self.opt_d, obj, batch, z,
                                    scaler=self.scaler_d, autocast=self._autocast, max_grad_norm=cfg.max_grad_norm)
            self._guard("discriminator", d_logs["d_loss"])
            for hook in self.after_d_step:
                hook(self)
        z = self._noise(batch_size_of(batch)) if needs_noise else None
        g_logs = objective_step("generator", self._G_step, self.D, self.opt_g, obj, batch, z,
                                scaler=self.scaler_g, autocast=self._autocast, max_grad_norm=cfg.max_grad_norm)
        self._guard("generator", g_logs["g_loss"])
        return {**d_logs, **g_logs}

    def _train_step(self) -> dict[str, float]:
        """One generator update preceded by ``n_critic`` discriminator updates (Algorithm 1)."""
        if self.objective is not None:
            return self._objective_train_step()
        cfg = self.config
        for _ in range(cfg.n_critic):
            real = self._next_real()  # x ~ p_data, (m, ...)
            z = self._noise(real.shape[0])  # z ~ p_z, (m, z_dim)
            d_logs = discriminator_step(
                self.G, self._D_step, self.opt_d, real, z, self.loss,
                penalty=self._penalty_step, penalty_weight=self.penalty_weight,
                scaler=self.scaler_d, autocast=self._autocast, max_grad_norm=cfg.max_grad_norm,
            )
            self._guard("discriminator", d_logs["d_loss"])
            for hook in self.after_d_step:
                hook(self)
        z = self._noise(real.shape[0])  # a fresh noise minibatch for the generator
        g_logs = generator_step(
            self._G_step, self.D, self.opt_g, z, self.loss,
            real=real if self._g_needs_real else None,
            scaler=self.scaler_g, autocast=self._autocast, max_grad_norm=cfg.max_grad_norm,
        )
        self._guard("generator", g_logs["g_loss"])
        return {**d_logs, **g_logs}

    # ------------------------------------------------------------------------------------------------------------
    def fit(self, steps: int | None = None, resume: bool | str | os.PathLike = False) -> dict[str, list[float]]:
        """Train until ``steps`` generator updates have been done in total (``config.steps`` if ``None``).

        Args:
            steps: the total number of generator updates to reach (not a number to add): after ``fit(20)``,
                ``fit(40)`` does 20 more.
            resume: ``True``: first load the latest checkpoint of ``config.checkpoint_dir`` (if there is one);
                a path: load that checkpoint file (or the latest one in that folder).

        Returns:
            ``history``, a dict of lists with keys ``HISTORY_KEYS``, one entry every ``log_every`` steps.

        Raises:
            NonFiniteLossError: a loss was NaN/inf and ``config.nonfinite == "raise"``.
        """
        cfg = self.config
        target = cfg.steps if steps is None else steps
        if not isinstance(target, int) or isinstance(target, bool) or target <= 0:
            raise ValueError(f"steps must be a positive int (the total number of generator updates), got {target!r}.")
        show = cfg.progress and self.is_main  # distributed: rank 0 prints for all
        if resume:
            with self._collective_guard("while resuming"):
                self._resume(resume)
        if show:
            print(cfg)
        if self.step >= target:
            if show:
                print(f"Already at step {self.step} >= {target}: nothing to do (steps counts the total).")
            return self.history

        from tqdm.auto import tqdm

        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # fixed shapes: let cuDNN pick its fastest kernels once
        self.G.train()
        self.D.train()
        self.stop_training = False
        for cb in self.callbacks:
            cb.on_fit_start(self)
        bar = tqdm(total=target, initial=self.step, disable=not show, desc="training", unit="step")
        if cfg.sample_every and self.step == 0 and not self.samples and self.is_main:
            self.samples.append((0, self.sample().cpu()))  # the starting point, for "before/after" grids
        start, elapsed0 = time.perf_counter(), self.elapsed
        interrupted = False
        try:
            with self._collective_guard(), _deferred_interrupt() as interrupt:
                while self.step < target:
                    self._consistent = False
                    logs = self._train_step()
                    self.step += 1
                    self._consistent = True
                    self.elapsed = elapsed0 + time.perf_counter() - start
                    self._bookkeeping(logs, bar)
                    for cb in self.callbacks:
                        cb.on_step_end(self, self.step, logs)
                    requested, stop = interrupt["requested"], self.stop_training
                    if self.dist is not None:  # all ranks stop after the same step (else a collective would hang)
                        requested, stop = self.dist.agree(requested, stop)
                    if requested:
                        raise KeyboardInterrupt
                    if stop:
                        break
        except KeyboardInterrupt:
            interrupted = True
            self._on_interrupt(target)
        finally:
            bar.close()
        if not interrupted and cfg.checkpoint_dir is not None and self._saved_step != self.step:
            with self._collective_guard("while writing the last checkpoint"):
                self.save_checkpoint()
        for cb in self.callbacks:
            cb.on_fit_end(self)
        return self.history

    def _collective_guard(self, where: str | None = None) -> ContextManager[Any]:
        """Distributed: turn a failed collective (another rank died or hung) into a RankFailureError."""
        if self.dist is None:
            return contextlib.nullcontext()
        return self.dist.guard(lambda: where or f"during step {self.step + 1}")

    def _bookkeeping(self, logs: dict[str, float], bar: Any) -> None:
        cfg, step = self.config, self.step
        if self.dist is not None and step % cfg.log_every == 0:
            logs = self.dist.log_step(self, logs)  # the mean over ranks; checks that the ranks' weights agree
        self.last_logs = logs
        bar.update(1)
        if step % cfg.log_every == 0:
            for key in HISTORY_KEYS:  # an objective that does not report d_real/d_fake/penalty logs NaN there
                self.history[key].append(
                    step if key == "step" else self.elapsed if key == "seconds" else logs.get(key, math.nan)
                )
            for key in logs:  # an objective's own numbers (a reconstruction error, a class loss, ...)
                if key not in HISTORY_KEYS:
                    self.history.setdefault(key, []).append(logs[key])
            postfix = {"d_loss": f"{logs['d_loss']:.3f}", "g_loss": f"{logs['g_loss']:.3f}"}
            if "d_real" in logs and "d_fake" in logs:
                postfix.update(D_x=f"{logs['d_real']:.2f}", D_Gz=f"{logs['d_fake']:.2f}")
            bar.set_postfix(**postfix, refresh=False)
        if cfg.sample_every and step % cfg.sample_every == 0 and self.is_main:
            self.samples.append((step, self.sample().cpu()))
        if cfg.checkpoint_every and step % cfg.checkpoint_every == 0:
            self.save_checkpoint()

    def _on_interrupt(self, target: int) -> None:
        where = f"Training interrupted at step {self.step}/{target}."
        if self.config.checkpoint_dir is None:
            if self.is_main:
                print(f"{where} No checkpoint_dir is set, so nothing was saved; calling fit() again in this session "
                      "continues from here.")
            return
        with self._collective_guard("while writing the interrupt checkpoint"):
            path = self.save_checkpoint()  # distributed: every rank gets here after the same step (agreed)
        note = "" if self._consistent else (
            " (taken in the middle of a step: resuming works, but not bit for bit)"
        )
        if self.is_main:
            print(f"{where} Saved {path}{note}.\nTo resume: trainer.fit(resume=True), or after a restart rebuild the "
              "models and the trainer with the same config and call fit(resume=True).")

    # ------------------------------------------------------------------------------------------------------------
    @torch.no_grad()
    def sample(self, n: int | None = None, z: Tensor | None = None, batch: Any = None) -> Tensor:
        """Generate samples in eval mode (batch norm uses running statistics), restoring train mode after.

        Args:
            n: number of samples from fresh noise (the trainer's sampling generator, which training never uses).
            z: ``Tensor[N, z_dim]`` noise to use instead. With neither, the fixed noise ``fixed_noise`` is used.
            batch: with an objective, the conditioning minibatch given to ``objective.sample(G, z, batch)``
                (labels, input images); an objective that draws no noise gets ``z=None``, and ``n`` then keeps
                the first ``n`` of its outputs.

        Returns:
            ``Tensor[N, ...]`` on the models' device, detached.
        """
        if z is not None and n is not None:
            raise ValueError("give n or z, not both.")
        if batch is not None and self.objective is None:
            raise ValueError("batch= is for trainers with an objective (conditioning); this one samples G(z).")
        if self.objective is not None and not getattr(self.objective, "needs_noise", True) and z is None:
            if n is not None and (not isinstance(n, int) or isinstance(n, bool) or n <= 0):
                raise ValueError(f"n must be a positive int, got {n!r}.")
            out = self._sample_objective(None, batch)  # the objective's conditioning inputs (its fixed batch)
            if n is not None and n > out.shape[0]:
                raise ValueError(f"{type(self.objective).__name__} samples {out.shape[0]} outputs without noise "
                                 f"(one per conditioning input), fewer than n={n}: pass batch= with more inputs.")
            return out if n is None else out[:n]
        if z is None:
            if n is None:
                z = self.fixed_noise
            else:
                if not isinstance(n, int) or isinstance(n, bool) or n <= 0:
                    raise ValueError(f"n must be a positive int, got {n!r}.")
                z = torch.randn(n, self.z_dim, generator=self.sample_rng, dtype=self.dtype)
        if not isinstance(z, Tensor):
            raise TypeError(f"z must be a Tensor, got {type(z).__name__}.")
        if z.dim() != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"z must have shape (N, {self.z_dim}), got {tuple(z.shape)}.")
        if self.objective is not None:
            return self._sample_objective(z.to(self.device, self.dtype), batch)
        was_training = self.G.training
        self.G.eval()
        try:
            return self.G(z.to(self.device, self.dtype)).detach()
        finally:
            self.G.train(was_training)

    def _sample_objective(self, z: Tensor | None, batch: Any) -> Tensor:
        if isinstance(batch, Tensor):
            batch = batch.to(self.device)
        elif isinstance(batch, (tuple, list)):
            batch = tuple(t.to(self.device) if isinstance(t, Tensor) else t for t in batch)
        was_training = self.G.training
        self.G.eval()
        try:
            out = self.objective.sample(self.G, z, batch)
        finally:
            self.G.train(was_training)
        if not isinstance(out, Tensor):
            raise TypeError(f"{type(self.objective).__name__}.sample must return a Tensor, got {type(out).__name__}.")
        return out.detach()

    # ------------------------------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue exactly: models, optimizers, scalers, counters, logs and RNG states.

        Distributed, this is a collective (it gathers every rank's generator states): call it on every rank."""
        cuda_ready = torch.cuda.is_available() and torch.cuda.is_initialized()
        cuda_states = torch.cuda.get_rng_state_all() if cuda_ready else []
        return {
            "format": _CHECKPOINT_FORMAT,
            "step": self.step,
            "elapsed": self.elapsed,
            "config": self.config.to_dict(),
            "generator": self.G.state_dict(),
            "discriminator": self.D.state_dict(),
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "scaler_g": None if self.scaler_g is None else self.scaler_g.state_dict(),
            "scaler_d": None if self.scaler_d is None else self.scaler_d.state_dict(),
            "history": {k: list(v) for k, v in self.history.items()},
            "samples": [(int(s), t.cpu()) for s, t in self.samples],
            "fixed_noise": self.fixed_noise.cpu(),
            "nonfinite_skips": dict(self.nonfinite_skips),
            "data": self._data.state_dict(),
            "parts": {key: part.state_dict() for key, part in self._stateful_parts().items()},
            "rng": {
                "data": self.data_rng.get_state(),
                "noise": self.noise_rng.get_state(),
                "noise_device": self.noise_rng.device.type,
                "sample": self.sample_rng.get_state(),
                "torch_cpu": torch.get_rng_state(),
                "torch_cuda": list(cuda_states),
                "python": random.getstate(),
                "numpy": _numpy_state_to_torch(np.random.get_state()),
            },
            # distributed: every rank's global generators (a collective); None for a single process
            "ranks": None if self.dist is None else self.dist.rng_states(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned (the config of this trainer is kept; differences warn)."""
        if state.get("format") != _CHECKPOINT_FORMAT:
            raise ValueError(f"unknown checkpoint format {state.get('format')!r} (expected {_CHECKPOINT_FORMAT}).")
        mine, theirs = self.config.to_dict(), state["config"]
        ignore = {"steps", "progress", "checkpoint_dir", "checkpoint_every", "keep_last", "log_every", "sample_every",
                  "nonfinite"}
        changed = [k for k in mine if k not in ignore and k in theirs and mine[k] != theirs[k]]
        if changed:
            warnings.warn(
                "resuming with a config that differs from the checkpoint's in "
                + ", ".join(f"{k} ({theirs[k]!r} -> {mine[k]!r})" for k in changed),
                UserWarning,
                stacklevel=2,
            )
        for which, net, key in (("generator", self.G, "generator"), ("discriminator", self.D, "discriminator")):
            try:
                net.load_state_dict(state[key])
            except RuntimeError as err:  # missing/unexpected keys or size mismatches: another architecture
                first = str(err).strip().splitlines()
                raise ValueError(
                    f"the checkpoint's {which} does not fit this {which} (a different architecture or size?): "
                    f"{first[1].strip() if len(first) > 1 else first[0]} ... Resume with the same models, or use "
                    "another checkpoint_dir (or delete the old checkpoints) to start afresh."
                ) from err
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        for name in ("scaler_g", "scaler_d"):
            scaler = getattr(self, name)
            if scaler is not None and state[name] is not None:
                scaler.load_state_dict(state[name])
        self.step = int(state["step"])
        self.elapsed = float(state["elapsed"])
        self.history = {k: list(state["history"].get(k, [])) for k in HISTORY_KEYS}
        self.history.update({k: list(v) for k, v in state["history"].items() if k not in HISTORY_KEYS})
        self.samples = [(int(s), t) for s, t in state["samples"]]
        self.fixed_noise = state["fixed_noise"].to(self.device, self.dtype)
        self.nonfinite_skips = dict(state["nonfinite_skips"])
        self._data.load_state_dict(state["data"])
        saved_parts = state.get("parts", {})
        for key, part in self._stateful_parts().items():
            if key in saved_parts:
                part.load_state_dict(saved_parts[key])
        rng = state["rng"]
        self.data_rng.set_state(rng["data"])
        self.sample_rng.set_state(rng["sample"])
        if rng["noise_device"] == self.noise_rng.device.type:
            self.noise_rng.set_state(rng["noise"])
        else:
            warnings.warn(
                f"the checkpoint drew noise on {rng['noise_device']}, this trainer on {self.noise_rng.device.type}: "
                "the noise stream is re-seeded, so the run continues but not bit for bit.",
                UserWarning,
                stacklevel=2,
            )
            self.noise_rng.manual_seed(self.config.seed + 1 + self.step)
        torch.set_rng_state(rng["torch_cpu"])
        if rng["torch_cuda"] and torch.cuda.is_available() and len(rng["torch_cuda"]) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(rng["torch_cuda"])
        random.setstate(rng["python"])
        np.random.set_state(_numpy_state_from_torch(rng["numpy"]))
        if self.dist is not None:  # each rank gets its own global generators back (dropout masks differ per rank)
            self.dist.set_rng_state(state.get("ranks"), fallback_seed=self.config.seed + self.step)
        self._saved_step = self.step
        self._consistent = True

    def _stateful_parts(self) -> dict[str, Any]:
        """The loss, the penalty and the ``after_d_step`` hooks (or the objects of bound-method hooks) that carry
        state of their own (``state_dict``/``load_state_dict``): BEGAN's k_t, running averages, a generator."""
        parts: dict[str, Any] = {}
        seen: set[int] = set()
        candidates = [("loss", self.loss), ("penalty", self.penalty), ("objective", self.objective)]
        candidates += [(f"after_d_step.{i}", getattr(h, "__self__", h)) for i, h in enumerate(self.after_d_step)]
        for key, obj in candidates:
            if obj is None or id(obj) in seen or isinstance(obj, nn.Module):
                continue
            if callable(getattr(obj, "state_dict", None)) and callable(getattr(obj, "load_state_dict", None)):
                parts[key] = obj
                seen.add(id(obj))
        return parts

    def save_checkpoint(self, path: str | os.PathLike | None = None) -> Path:
        """Write a checkpoint atomically (a temporary file, then ``os.replace``) and return its path.

        Args:
            path: the file to write; ``None``: ``<checkpoint_dir>/ckpt_<step>.pt``, and older files beyond
                ``keep_last`` are deleted.
        """
        managed = path is None
        if managed:
            if self.config.checkpoint_dir is None:
                raise ValueError("save_checkpoint() without a path needs TrainerConfig.checkpoint_dir.")
            path = Path(self.config.checkpoint_dir) / f"ckpt_{self.step:08d}.pt"
        path = Path(path)
        state = self.state_dict()  # distributed: a collective (every rank's generator states), then rank 0 writes
        self._saved_step = self.step
        if not self.is_main:
            self.dist.barrier()  # return once rank 0 has written the file
            return path
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        torch.save(state, tmp)
        os.replace(tmp, path)  # atomic: a crash mid-write never leaves a truncated checkpoint behind
        if self.dist is not None:
            self.dist.barrier()
        if managed:
            found = sorted(
                (int(m.group(1)), p) for p in path.parent.iterdir() if (m := _CKPT_PATTERN.match(p.name))
            )
            for _, old in found[: -self.config.keep_last]:
                old.unlink(missing_ok=True)
        return path

    def load_checkpoint(self, path: str | os.PathLike) -> None:
        """Load a checkpoint written by :meth:`save_checkpoint` (weights-only unpickling: safe to load)."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no checkpoint file at {path}.")
        state = torch.load(path, map_location="cpu", weights_only=True)
        self.load_state_dict(state)

    def _resume(self, resume: bool | str | os.PathLike) -> None:
        if resume is True:
            if self.config.checkpoint_dir is None:
                raise ValueError("fit(resume=True) needs TrainerConfig.checkpoint_dir (or pass resume=<path>).")
            path = latest_checkpoint(self.config.checkpoint_dir)
            if path is None:
                if self.config.progress and self.is_main:
                    print(f"No checkpoint in {self.config.checkpoint_dir}: starting from step {self.step}.")
                return
        elif isinstance(resume, (str, os.PathLike)):
            path = Path(resume)
            if path.is_dir():
                found = latest_checkpoint(path)
                if found is None:
                    raise FileNotFoundError(f"no checkpoint ckpt_<step>.pt in {path}.")
                path = found
        else:
            raise TypeError(f"resume must be a bool or a path, got {type(resume).__name__}.")
        self.load_checkpoint(path)
        if self.config.progress and self.is_main:
            print(f"Resumed from {path} at step {self.step}.")
