"""Training detectors: :func:`fit_detector` (progress bar, checkpoints, exact resume, Ctrl-C), the batches it resumes
exactly (:class:`InMemoryBatches`) and the learning-rate schedule of YOLOv4 (cosine annealing after a warm-up).

A detector's loop is the plain supervised one, forward, loss, backward, step; what it shares with the GAN trainer
(:mod:`course_lib.train.trainer`) is the bookkeeping around it, reused from there: atomic ``ckpt_<step>.pt`` files
(:func:`course_lib.train.latest_checkpoint` finds the last), the interrupt handling (a first Ctrl-C finishes the step,
saves, prints how to resume and returns; a second stops at once), and the RNG states saved with every checkpoint.

.. code-block:: python

    ckpt = course_lib.runtime.checkpoint_dir("ch17_yolov4_tiny")   # None in fast, Drive on Colab
    history = fit_detector(model, batches, loss_fn, steps=5_000, optimizer=opt, scheduler=sched,
                           checkpoint_dir=ckpt, checkpoint_every=500, resume=True)

``steps`` is the **total** number of optimizer steps of the run: a fresh run does ``steps`` steps, a resumed one
continues from the checkpoint's step up to ``steps``. On a CPU, a run interrupted and resumed ends bit for bit where
the uninterrupted run ends, provided the batches come from a loader with ``state_dict``/``load_state_dict`` that
records its place in the epoch (:class:`InMemoryBatches` does; a ``DataLoader`` does not, and a resumed run then
starts a new pass over it, with a warning).

Data-parallel (Appendix B): ``distributed=init_distributed()`` on every rank of a ``torchrun`` launch. The loader
yields the same *global* batch on every rank (:class:`InMemoryBatches` with the same seed does); each rank keeps its
slice of the images and of the targets, DDP averages the gradients, the logged loss is the mean over ranks, and rank 0
alone prints and writes the checkpoints (which any number of ranks can resume from).
"""

from __future__ import annotations

import math
import os
import random
import time
import warnings
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from course_lib.train.trainer import (
    _CKPT_PATTERN,
    _deferred_interrupt,
    _numpy_state_from_torch,
    _numpy_state_to_torch,
    latest_checkpoint,
)

__all__ = [
    "fit_detector",
    "InMemoryBatches",
    "save_detector_checkpoint",
    "load_detector_checkpoint",
    "warmup_cosine_factor",
    "warmup_cosine_scheduler",
    "HISTORY_KEYS",
]

HISTORY_KEYS = ("step", "loss", "seconds")
_FORMAT = 1


def _positive_int(value: object, name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"{name} must be a positive int, got {value!r}.")
    return value


def _shard_batch(ctx: Any, images: Tensor, targets: Any) -> tuple[Tensor, Any]:
    """Rank ``r``'s contiguous slice ``[r b, (r + 1) b)`` of a global batch of ``W b`` images and of its targets.

    ``targets`` is a tensor ``(W b, ...)`` (sliced alike) or a list/tuple of ``W b`` per-image targets (the same
    slice of the list). Raises ``ValueError`` when ``W b`` is not divisible by ``W`` or the lengths differ.
    """
    if not isinstance(images, Tensor) or images.dim() == 0:
        raise TypeError(f"distributed fit_detector needs image batches as a tensor (N, ...), got "
                        f"{type(images).__name__}.")
    n, world = images.shape[0], ctx.world_size
    if n % world:
        raise ValueError(f"a global batch of {n} images cannot be split evenly over {world} ranks; use a batch "
                         f"size divisible by {world}.")
    if not isinstance(targets, (Tensor, list, tuple)) or len(targets) != n:
        raise ValueError(f"distributed fit_detector slices the targets per image: they must be a tensor or a list "
                         f"with one entry per image ({n}), got {type(targets).__name__}"
                         f"{'' if not hasattr(targets, '__len__') else f' of length {len(targets)}'}.")
    b = n // world
    lo, hi = ctx.rank * b, (ctx.rank + 1) * b
    return images[lo:hi], targets[lo:hi]


def _to_device(obj: Any, device: torch.device) -> Any:
    """Move the tensors of ``obj`` (also inside dicts, lists and tuples) to ``device``."""
    if isinstance(obj, Tensor):
        return obj.to(device, non_blocking=True)
    if isinstance(obj, dict):
        return {k: _to_device(v, device) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_to_device(v, device) for v in obj)
    return obj


# ----------------------------------------------------------------------------------------------------------------------
# Batches that resume exactly
# ----------------------------------------------------------------------------------------------------------------------


class InMemoryBatches:
    """Shuffled mini-batches of in-memory data, one pass per iteration, that a checkpoint can resume mid-epoch.

    Each pass draws a permutation from the object's own ``torch.Generator`` (seeded with ``seed``) and yields
    ``(transform(images[idx]), targets[idx])`` for consecutive slices ``idx`` of ``batch_size`` (the incomplete last
    slice dropped). :meth:`state_dict` records the generator's state at the start of the current pass and how many
    batches of it were yielded, so that after :meth:`load_state_dict` the next pass continues with the very next
    batch of the same permutation.

    Args:
        images: ``(N, ...)`` tensor.
        targets: ``(N, ...)`` tensor or a sequence of ``N`` per-image targets (a list of dicts is returned as a list).
        batch_size: images per batch (``<= N``).
        seed: the permutation generator's seed.
        transform: optional ``f(images_batch) -> tensor`` (e.g. uint8 to float), applied per batch.
        device: where to put the images and tensor targets once (default: where they are).
    """

    def __init__(self, images: Tensor, targets: Tensor | Sequence[Any], batch_size: int, *, seed: int = 0,
                 transform: Callable[[Tensor], Tensor] | None = None,
                 device: torch.device | str | None = None) -> None:
        if not isinstance(images, Tensor) or images.ndim < 1 or images.shape[0] == 0:
            raise TypeError("images must be a non-empty tensor (N, ...).")
        if len(targets) != images.shape[0]:
            raise ValueError(f"there are {images.shape[0]} images but {len(targets)} targets.")
        self.batch_size = _positive_int(batch_size, "batch_size")
        if self.batch_size > images.shape[0]:
            raise ValueError(f"batch_size {batch_size} is larger than the {images.shape[0]} images.")
        if transform is not None and not callable(transform):
            raise TypeError("transform must be callable or None.")
        dev = None if device is None else torch.device(device)
        self.images = images if dev is None else images.to(dev)
        self.targets = targets.to(dev) if isinstance(targets, Tensor) and dev is not None else targets
        self.transform = transform
        self.generator = torch.Generator().manual_seed(int(seed))
        self._epoch_state = self.generator.get_state()
        self._position = 0  # batches yielded in the current pass
        self._resume_at: int | None = None

    def __len__(self) -> int:
        return self.images.shape[0] // self.batch_size

    def __iter__(self) -> Iterator[tuple[Tensor, Any]]:
        if self._resume_at is None:  # a new pass: remember where the generator was, then draw the permutation
            self._epoch_state = self.generator.get_state()
            start = 0
        else:  # continue the checkpointed pass: the same permutation, from the next batch
            self.generator.set_state(self._epoch_state)
            start, self._resume_at = self._resume_at, None
        order = torch.randperm(self.images.shape[0], generator=self.generator)
        self._position = start
        for k in range(start, len(self)):
            idx = order[k * self.batch_size : (k + 1) * self.batch_size]
            self._position = k + 1
            images = self.images[idx.to(self.images.device)]
            if self.transform is not None:
                images = self.transform(images)
            if isinstance(self.targets, Tensor):
                targets: Any = self.targets[idx.to(self.targets.device)]
            else:
                targets = [self.targets[i] for i in idx.tolist()]
            yield images, targets

    def state_dict(self) -> dict[str, Any]:
        return {"epoch_state": self._epoch_state.clone(), "position": self._position}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._epoch_state = state["epoch_state"].clone()
        self._position = int(state["position"])
        self._resume_at = self._position


# ----------------------------------------------------------------------------------------------------------------------
# The learning-rate schedule
# ----------------------------------------------------------------------------------------------------------------------


def warmup_cosine_factor(step: int, total_steps: int, warmup_steps: int = 0, min_factor: float = 0.0,
                         warmup_power: float = 1.0) -> float:
    """The learning-rate multiplier at ``step`` (0-based): a warm-up, then cosine annealing (Loshchilov & Hutter).

    .. math::
        f(t) = \\begin{cases} \\big((t + 1) / T_w\\big)^{k} & t < T_w \\\\
        f_\\min + \\tfrac{1 - f_\\min}{2}\\Big(1 + \\cos\\big(\\pi \\tfrac{t - T_w}{T - T_w}\\big)\\Big) & t \\ge T_w
        \\end{cases}

    with :math:`T` = ``total_steps``, :math:`T_w` = ``warmup_steps`` and :math:`k` = ``warmup_power`` (1: linear;
    darknet's ``burn_in`` raises the ratio to a power). YOLOv4 lists the cosine annealing scheduler among its bag of
    freebies; the warm-up keeps the first steps of a freshly initialised detector from diverging.
    """
    total = _positive_int(total_steps, "total_steps")
    if not isinstance(warmup_steps, int) or isinstance(warmup_steps, bool) or not 0 <= warmup_steps < total:
        raise ValueError(f"warmup_steps must be an int in [0, total_steps), got {warmup_steps!r}.")
    if not 0.0 <= min_factor <= 1.0:
        raise ValueError(f"min_factor must be in [0, 1], got {min_factor!r}.")
    if not warmup_power > 0:
        raise ValueError(f"warmup_power must be positive, got {warmup_power!r}.")
    if step < warmup_steps:
        return ((step + 1) / warmup_steps) ** warmup_power
    progress = min(1.0, (step - warmup_steps) / max(1, total - warmup_steps))
    return min_factor + (1.0 - min_factor) * 0.5 * (1.0 + math.cos(math.pi * progress))


def warmup_cosine_scheduler(optimizer: torch.optim.Optimizer, total_steps: int, warmup_steps: int = 0,
                            min_factor: float = 0.0, warmup_power: float = 1.0) -> torch.optim.lr_scheduler.LambdaLR:
    """A ``LambdaLR`` applying :func:`warmup_cosine_factor` per optimizer step (``fit_detector(scheduler=...)``)."""
    warmup_cosine_factor(0, total_steps, warmup_steps, min_factor, warmup_power)  # validate once
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda t: warmup_cosine_factor(t, total_steps, warmup_steps, min_factor, warmup_power)
    )


# ----------------------------------------------------------------------------------------------------------------------
# Checkpoints
# ----------------------------------------------------------------------------------------------------------------------


def _rng_state() -> dict[str, Any]:
    cuda_ready = torch.cuda.is_available() and torch.cuda.is_initialized()
    return {
        "torch_cpu": torch.get_rng_state(),
        "torch_cuda": list(torch.cuda.get_rng_state_all()) if cuda_ready else [],
        "python": random.getstate(),
        "numpy": _numpy_state_to_torch(np.random.get_state()),
    }


def _set_rng_state(rng: dict[str, Any]) -> None:
    torch.set_rng_state(rng["torch_cpu"])
    if rng["torch_cuda"] and torch.cuda.is_available() and len(rng["torch_cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(rng["torch_cuda"])
    random.setstate(rng["python"])
    np.random.set_state(_numpy_state_from_torch(rng["numpy"]))


def save_detector_checkpoint(path: str | os.PathLike, state: dict[str, Any]) -> Path:
    """Write ``state`` atomically (a temporary file, then ``os.replace``): a crash never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)
    return path


def load_detector_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Read a checkpoint of :func:`fit_detector` (weights-only unpickling: safe to load)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint file at {path}.")
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict) or state.get("kind") != "detector" or state.get("format") != _FORMAT:
        raise ValueError(f"{path} is not a fit_detector checkpoint (format {_FORMAT}).")
    return state


def _resolve_resume(resume: bool | str | os.PathLike, checkpoint_dir: str | None) -> Path | None:
    if resume is False:
        return None
    if resume is True:
        if checkpoint_dir is None:
            return None  # nothing to resume from (the fast profile's checkpoint_dir is None): start afresh
        return latest_checkpoint(checkpoint_dir)
    if isinstance(resume, (str, os.PathLike)):
        path = Path(resume)
        if path.is_dir():
            found = latest_checkpoint(path)
            if found is None:
                raise FileNotFoundError(f"no checkpoint ckpt_<step>.pt in {path}.")
            return found
        return path
    raise TypeError(f"resume must be a bool or a path, got {type(resume).__name__}.")


# ----------------------------------------------------------------------------------------------------------------------
# The loop
# ----------------------------------------------------------------------------------------------------------------------


def fit_detector(
    model: nn.Module,
    loader: Iterable[tuple[Tensor, Any]],
    loss_fn: Callable[[Tensor, Any], Tensor],
    steps: int,
    optimizer: torch.optim.Optimizer,
    *,
    device: torch.device | str | None = None,
    log_every: int = 10,
    progress: bool = True,
    max_grad_norm: float | None = None,
    time_limit: float | None = None,
    scheduler: Any = None,
    checkpoint_dir: str | os.PathLike | None = None,
    checkpoint_every: int | None = None,
    keep_last: int = 2,
    resume: bool | str | os.PathLike = False,
    distributed: Any = None,
) -> dict[str, list[float]]:
    """Train a detector up to ``steps`` optimizer steps: forward, loss, backward, step, with a progress bar.

    .. math::
        \\theta \\leftarrow \\operatorname{opt}\\big(\\theta, \\nabla_\\theta\\, \\ell(f_\\theta(x), t)\\big)

    The loader is iterated again from the start whenever it runs out (epochs).

    Args:
        model: the network; put in training mode here, left in training mode.
        loader: an iterable of ``(images, targets)`` batches (:class:`InMemoryBatches`, a ``DataLoader``, ...);
            tensors in ``targets`` (also in dicts/lists) are moved to ``device``.
        loss_fn: ``loss_fn(model(images), targets) -> scalar``.
        steps: the total number of optimizer steps (>= 1); a resumed run continues up to it.
        optimizer: built on ``model.parameters()``.
        device: where to train; default: the device of the model's parameters.
        log_every: record the loss every this many steps (and at the last step).
        progress: show a tqdm progress bar with the running loss.
        max_grad_norm: clip the gradients' global norm to this value (``None``: no clipping).
        time_limit: stop after the first step that ends more than this many seconds after this call started
            (recorded); ``None``: run to ``steps``. Useful for a fixed CPU budget.
        scheduler: an LR scheduler stepped after every optimizer step (e.g. :func:`warmup_cosine_scheduler`).
        checkpoint_dir: where to write ``ckpt_<step>.pt`` (``None``: no checkpoints, as in the ``fast`` profile;
            :func:`course_lib.runtime.checkpoint_dir` gives the right folder per profile).
        checkpoint_every: also write one every this many steps (a checkpoint is always written at the end and on
            an interrupt when ``checkpoint_dir`` is set).
        keep_last: how many checkpoint files to keep.
        resume: ``True``: continue from the latest checkpoint of ``checkpoint_dir`` if there is one; a path: from
            that file (or the latest one in that folder).
        distributed: a :class:`~course_lib.train.distributed.DistributedContext` (or ``True``: from torchrun's
            environment, :func:`~course_lib.train.distributed.init_distributed`); ``None``: one process. Call
            fit_detector on every rank with a loader that yields the same global batch of ``W b`` images on every
            rank (e.g. :class:`InMemoryBatches` with the same seed; not a ``DistributedSampler``, which shards by
            itself); rank ``r`` trains on images ``[r b, (r + 1) b)`` and the same slice of the targets. The model
            (moved to the rank's device, batch norm converted with ``sync_batchnorm``) is wrapped in
            DistributedDataParallel, which broadcasts rank 0's weights and averages the gradients, so for a loss
            that is a mean over images and a model without batch norm, ``W`` ranks match one process with the
            whole batch. The logged loss is averaged over ranks; rank 0 alone prints and writes checkpoints (the
            others wait at a barrier); a checkpoint resumes on any number of ranks (exactly on as many as wrote
            it). A failed collective (another rank crashed or hung) raises
            :class:`~course_lib.train.distributed.RankFailureError`.

    Returns:
        the history, ``{"step": [...], "loss": [...], "seconds": [...]}`` (the loss of the recorded step's batch and
        the training time since the run started, summed over resumed sessions), including what a resumed
        checkpoint had recorded.

    Raises:
        FloatingPointError: the loss became NaN or infinite (the step it happened is in the message; distributed:
            on any rank, and every rank raises it).
        RankFailureError: distributed, a collective operation failed because another rank stopped.
    """
    from tqdm.auto import tqdm

    steps = _positive_int(steps, "steps")
    log_every = _positive_int(log_every, "log_every")
    keep_last = _positive_int(keep_last, "keep_last")
    if checkpoint_every is not None:
        checkpoint_every = _positive_int(checkpoint_every, "checkpoint_every")
    if time_limit is not None and (isinstance(time_limit, bool) or not isinstance(time_limit, (int, float))
                                   or not time_limit > 0):
        raise ValueError(f"time_limit must be a positive number of seconds or None, got {time_limit!r}.")
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(f"optimizer must be a torch.optim.Optimizer, got {type(optimizer).__name__}.")
    if scheduler is not None and not callable(getattr(scheduler, "step", None)):
        raise TypeError("scheduler must have a step() method (a torch.optim.lr_scheduler object) or be None.")
    ctx = None
    if distributed is not None:
        from course_lib.train.distributed import DistributedContext, init_distributed

        ctx = init_distributed() if distributed is True else distributed
        if not isinstance(ctx, DistributedContext):
            raise TypeError(f"distributed must be a DistributedContext (init_distributed()), True or None, got "
                            f"{type(distributed).__name__}.")
        from torch.utils.data.distributed import DistributedSampler

        if isinstance(getattr(loader, "sampler", None), DistributedSampler):
            raise ValueError("distributed fit_detector slices every global batch by rank itself: give every rank a "
                             "loader of the same global batches (InMemoryBatches with the same seed), not a "
                             "DistributedSampler, which would shard a second time.")
        if device is None:
            device = ctx.device
    ckpt_dir = None if checkpoint_dir is None else Path(checkpoint_dir)
    device = next(model.parameters()).device if device is None else torch.device(device)
    if ctx is not None:
        if device != ctx.device:
            raise ValueError(f"device {device} is not this rank's device {ctx.device}.")
        prepared = ctx.prepare(model)  # on the rank's device; batch norm across ranks with sync_batchnorm
        if prepared is not model:
            raise ValueError("the model is itself a batch norm layer: wrap it in a module before training.")
    is_main = ctx is None or ctx.is_main
    show = progress and is_main

    def guard(where: Callable[[], str]) -> Any:
        import contextlib

        return contextlib.nullcontext() if ctx is None else ctx.guard(where)
    resumable_loader = callable(getattr(loader, "state_dict", None)) and callable(
        getattr(loader, "load_state_dict", None))

    history: dict[str, list[float]] = {k: [] for k in HISTORY_KEYS}
    done, elapsed0 = 0, 0.0
    path = _resolve_resume(resume, None if ckpt_dir is None else str(ckpt_dir))
    if path is not None:
        state = load_detector_checkpoint(path)
        try:
            model.load_state_dict(state["model"])
        except RuntimeError as err:
            first = str(err).strip().splitlines()[0]
            raise ValueError(f"the checkpoint {path} does not fit this model (another architecture or size?): "
                             f"{first}. Use another checkpoint_dir to start afresh.") from err
        optimizer.load_state_dict(state["optimizer"])
        if scheduler is not None and state.get("scheduler") is not None:
            scheduler.load_state_dict(state["scheduler"])
        done, elapsed0 = int(state["step"]), float(state["elapsed"])
        history = {k: list(state["history"].get(k, [])) for k in HISTORY_KEYS}
        if state.get("loader") is not None and resumable_loader:
            loader.load_state_dict(state["loader"])  # type: ignore[attr-defined]
        else:
            warnings.warn("the loader has no state_dict/load_state_dict: the resumed run starts a new pass over the "
                          "data, so it continues, but not bit for bit (use InMemoryBatches for an exact resume).",
                          UserWarning, stacklevel=2)
        ranks = state.get("ranks")
        if ctx is None or (ctx.world_size == 1 and not ranks):
            _set_rng_state(state["rng"])
        else:  # every rank its own generators back (a checkpoint of another world size: re-seeded, with a warning)
            ctx.set_rng_state(ranks, fallback_seed=done)
        if show:
            print(f"Resumed from {path} at step {done}.")
    elif is_main and ckpt_dir is not None and latest_checkpoint(ckpt_dir) is not None and resume is False:
        warnings.warn(f"{ckpt_dir} already holds checkpoints; this run starts from step 0 and overwrites them as it "
                      "goes (pass resume=True to continue instead).", UserWarning, stacklevel=2)

    def snapshot(step: int, elapsed: float) -> dict[str, Any]:
        return {
            "format": _FORMAT, "kind": "detector", "step": step, "elapsed": elapsed,
            "model": model.state_dict(), "optimizer": optimizer.state_dict(),
            "scheduler": None if scheduler is None else scheduler.state_dict(),
            "history": {k: list(v) for k, v in history.items()},
            "loader": loader.state_dict() if resumable_loader else None,  # type: ignore[attr-defined]
            "rng": _rng_state(),
            # distributed: every rank's global generators (a collective); None for a single process
            "ranks": None if ctx is None else ctx.rng_states(),
        }

    def save(step: int, elapsed: float) -> Path:
        assert ckpt_dir is not None
        out = ckpt_dir / f"ckpt_{step:08d}.pt"
        with guard(lambda: f"while writing the checkpoint of step {step}"):
            state = snapshot(step, elapsed)  # distributed: a collective on every rank, then rank 0 writes
            if is_main:
                save_detector_checkpoint(out, state)
                found = sorted((int(m.group(1)), p) for p in ckpt_dir.iterdir()
                               if (m := _CKPT_PATTERN.match(p.name)))
                for _, old in found[:-keep_last]:
                    old.unlink(missing_ok=True)
            if ctx is not None:
                ctx.barrier()  # every rank returns once rank 0 has written the file
        return out

    if done >= steps:
        if show:
            print(f"Already at step {done} >= {steps}: nothing to do (steps counts the total).")
        return history

    model.train()
    net: nn.Module = model
    if ctx is not None:
        with guard(lambda: "while wrapping the model in DistributedDataParallel"):
            net = ctx.wrap(model)  # DDP: rank 0's weights broadcast now, gradients averaged in every backward
    start = time.perf_counter()
    batches = iter(loader)
    completed, saved_at = done, done if path is not None else -1  # the last step finished, the last one saved
    interrupted = False
    with tqdm(total=steps, initial=done, disable=not show, desc="training", unit="step") as bar:
        with _deferred_interrupt() as interrupt:
            try:
                for step in range(done + 1, steps + 1):
                    try:
                        images, targets = next(batches)
                    except StopIteration:  # a new epoch
                        batches = iter(loader)
                        images, targets = next(batches)
                    if ctx is not None:
                        images, targets = _shard_batch(ctx, images, targets)  # this rank's part of the batch
                    images, targets = _to_device(images, device), _to_device(targets, device)
                    with guard(lambda: f"during step {step}"):
                        loss = loss_fn(net(images), targets)
                        finite = bool(torch.isfinite(loss))
                        if ctx is not None:  # all ranks raise together (else the others would wait in backward)
                            (bad,) = ctx.agree(not finite)
                            finite = not bad
                        if not finite:
                            raise FloatingPointError(f"the loss is {loss.item()} at step {step}"
                                                     f"{'' if ctx is None else f' on rank {ctx.rank} or another'}; "
                                                     "lower the learning rate (or add a warm-up, or clip the "
                                                     "gradients).")
                        optimizer.zero_grad(set_to_none=True)
                        loss.backward()  # distributed: DDP averages the gradients over ranks here
                        if max_grad_norm is not None:
                            nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
                        optimizer.step()
                        if scheduler is not None:
                            scheduler.step()
                        now = time.perf_counter() - start
                        out_of_time = time_limit is not None and now > time_limit
                        if ctx is not None:  # every rank stops after the same step (else a collective would hang)
                            out_of_time, requested = ctx.agree(out_of_time, interrupt["requested"])
                            interrupt["requested"] = requested
                    if step % log_every == 0 or step == steps or out_of_time or interrupt["requested"]:
                        value = loss.item()
                        if ctx is not None:
                            with guard(lambda: f"while averaging the loss of step {step}"):
                                value = ctx.mean_logs({"loss": value})["loss"]  # the mean over ranks
                        history["step"].append(step)
                        history["loss"].append(value)
                        history["seconds"].append(elapsed0 + now)
                        bar.set_postfix(loss=f"{value:.4f}")
                    bar.update(1)
                    completed = step
                    if ckpt_dir is not None and checkpoint_every is not None and step % checkpoint_every == 0:
                        save(step, elapsed0 + now)
                        saved_at = step
                    if interrupt["requested"]:
                        raise KeyboardInterrupt
                    if out_of_time:
                        break
            except KeyboardInterrupt:
                interrupted = True
    elapsed = elapsed0 + time.perf_counter() - start
    if interrupted:
        where = f"Training interrupted after step {completed}/{steps}."
        if ckpt_dir is None:
            if is_main:
                print(f"{where} No checkpoint_dir was given, so nothing was saved; the model keeps its weights.")
        else:
            out = save(completed, elapsed) if saved_at != completed else ckpt_dir / f"ckpt_{completed:08d}.pt"
            if is_main:
                print(f"{where} Saved {out}.\nTo resume: call fit_detector again with the same arguments and "
                      f"checkpoint_dir={str(ckpt_dir)!r}, resume=True (after a restart, rebuild the model, optimizer, "
                      "scheduler and batches first).")
    elif ckpt_dir is not None and saved_at != completed:
        save(completed, elapsed)
    return history
