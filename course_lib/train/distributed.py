"""The one trainer on several processes: data parallelism with ``torch.distributed`` (Appendix B).

Launched by ``torchrun --nproc_per_node=N -m course_lib.train.launch CONFIG``, every process (a *rank*) holds a full
copy of ``G`` and ``D``, trains on its own slice of each minibatch, and DistributedDataParallel (DDP, Li et al.
2020) averages the gradients during the backward pass, so every rank applies the same update:

.. math::
    g = \\frac{1}{W} \\sum_{r=0}^{W-1} \\nabla_\\theta \\frac{1}{b} \\sum_{i \\in B_r} \\ell_i
      = \\nabla_\\theta \\frac{1}{W b} \\sum_{i \\in B} \\ell_i ,

the gradient of the whole minibatch :math:`B = B_0 \\cup \\dots \\cup B_{W-1}` of :math:`W b` samples. Two ranks
with a batch of ``b`` each therefore follow one process with a batch of ``2 b`` (to float rounding), as long as the
loss is a mean over samples and the model treats samples independently (no batch norm, or
:class:`CrossRankBatchNorm` / ``nn.SyncBatchNorm``).

What this module provides (the trainer uses it through ``AdversarialTrainer(..., distributed=ctx)``):

- :func:`init_distributed`: reads torchrun's environment (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
  ``MASTER_ADDR``, ``MASTER_PORT``), picks ``gloo`` on CPU and ``nccl`` on CUDA (one GPU per process,
  ``cuda:LOCAL_RANK``), sets a timeout on every collective and returns a :class:`DistributedContext`;
- :meth:`DistributedContext.seed`: per-rank seeds of the global generators (dropout differs per rank, as each
  rank sees other samples), while the trainer's own generators keep ``config.seed`` on every rank;
- :meth:`DistributedContext.shard`: the rank's contiguous slice of a global minibatch. Every rank draws the *same*
  global minibatch (data order and noise from the trainer's generators, seeded identically) and keeps its slice,
  so a run is reproducible and does not depend on the number of processes;
- :meth:`DistributedContext.wrap`: DDP around a network (or, for a container such as ``nn.ModuleDict`` that has
  no ``forward`` of its own, gradient-averaging hooks on its parameters), after an optional conversion of batch
  norm to cross-rank batch norm;
- :class:`RankFailureError`: raised by a rank whose collective failed because another rank crashed or hung past
  the timeout, instead of waiting for ever.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import random
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np
import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.nn import functional as F

__all__ = [
    "DistributedContext",
    "RankFailureError",
    "CrossRankBatchNorm",
    "init_distributed",
    "attach",
    "launched_by_torchrun",
    "convert_batchnorm",
    "DEFAULT_TIMEOUT_S",
]

#: Seconds a collective waits for the other ranks before it fails (torch's own default is 30 minutes).
DEFAULT_TIMEOUT_S = 120.0
_ENV_KEYS = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")
_COMM_WORDS = ("gloo", "nccl", "connection", "timed out", "timeout", "closed by peer", "broken pipe",
               "reset by peer", "socket", "collective", "process group")


class RankFailureError(RuntimeError):
    """A collective operation failed on this rank because another rank stopped (crashed, killed, or hung).

    Attributes:
        rank, world_size: who raised it.
        where: when it happened (e.g. ``"during step 3"``).
    """

    def __init__(self, rank: int, world_size: int, where: str, timeout_s: float, cause: BaseException) -> None:
        self.rank, self.world_size, self.where = rank, world_size, where
        first = (str(cause).strip().splitlines() or [""])[0][:300]
        super().__init__(
            f"rank {rank} of {world_size}: a collective operation failed {where}: another rank has stopped "
            f"(it crashed, was killed, or did not answer within the {timeout_s:g} s timeout). This rank stops "
            f"too instead of waiting. The first traceback of the other ranks is the cause. "
            f"[{type(cause).__name__}: {first}]"
        )


def launched_by_torchrun() -> bool:
    """Whether the environment holds torchrun's variables (``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR/PORT``)."""
    return all(key in os.environ for key in _ENV_KEYS)


def _env_int(name: str, default: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None:
        if default is None:
            raise ValueError(f"the environment variable {name} is not set: start the processes with torchrun "
                             "(torchrun --nproc_per_node=N -m course_lib.train.launch CONFIG).")
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"the environment variable {name} must be an integer, got {raw!r}.") from None


def _looks_like_comm_error(err: BaseException) -> bool:
    dist_error = getattr(dist, "DistError", None)
    if dist_error is not None and isinstance(err, dist_error):
        return True
    text = str(err).lower()
    return isinstance(err, RuntimeError) and any(word in text for word in _COMM_WORDS)


# ----------------------------------------------------------------------------------------------------------------
# Batch norm across ranks (CPU-capable; nn.SyncBatchNorm is CUDA-only)
# ----------------------------------------------------------------------------------------------------------------
class CrossRankBatchNorm(nn.modules.batchnorm._BatchNorm):
    """Batch norm whose training statistics are those of the *global* minibatch (all ranks together).

    For an input ``Tensor[N, C, *]`` on each rank, with :math:`n = \\sum_r N_r \\prod *` values per channel,

    .. math::
        \\mu_c = \\frac1n \\sum_{r,i} x_{r,i,c}, \\qquad
        \\sigma_c^2 = \\frac1n \\sum_{r,i} x_{r,i,c}^2 - \\mu_c^2, \\qquad
        y = \\gamma_c \\frac{x - \\mu_c}{\\sqrt{\\sigma_c^2 + \\epsilon}} + \\beta_c ,

    the per-channel sums being added over ranks with a differentiable all-reduce
    (``torch.distributed.nn.functional.all_reduce``), so the backward pass is that of batch norm over the global
    batch too. Running statistics follow ``nn.BatchNorm`` (unbiased variance, ``momentum``). Without an initialised
    process group, or in eval mode, it is plain batch norm. PyTorch's ``nn.SyncBatchNorm`` does the same on CUDA
    only; :func:`convert_batchnorm` picks that one on GPUs.
    """

    def _check_input_dim(self, x: Tensor) -> None:
        if x.dim() < 2:
            raise ValueError(f"CrossRankBatchNorm expects an input (N, C, ...), got shape {tuple(x.shape)}.")

    def forward(self, x: Tensor) -> Tensor:
        self._check_input_dim(x)
        if x.numel() == 0:
            raise ValueError("CrossRankBatchNorm got an empty batch.")
        grouped = dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1
        if not (self.training and grouped):
            return super().forward(x)
        from torch.distributed.nn.functional import all_reduce as differentiable_all_reduce

        dims = [0] + list(range(2, x.dim()))
        count = torch.tensor([x.numel() / x.shape[1]], device=x.device, dtype=torch.float64)
        x64 = x.double()  # sums in float64: the difference E[x^2] - E[x]^2 loses no digits for float32 inputs
        packed = torch.cat([x64.sum(dims), (x64 * x64).sum(dims), count])  # (2C + 1,)
        total = differentiable_all_reduce(packed)  # sums over ranks, with its own backward
        c = x.shape[1]
        n = total[2 * c]  # values per channel over all ranks (> 1 when every rank's batch is non-empty and W > 1)
        mean = total[:c] / n
        var = (total[c : 2 * c] / n - mean * mean).clamp_min(0.0)  # biased, as batch norm normalises with it
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                momentum = (1.0 / float(self.num_batches_tracked)) if self.momentum is None else self.momentum
                unbiased = var * (n / (n - 1))
                self.running_mean.mul_(1 - momentum).add_(momentum * mean.to(self.running_mean.dtype))
                self.running_var.mul_(1 - momentum).add_(momentum * unbiased.to(self.running_var.dtype))
        shape = [1, c] + [1] * (x.dim() - 2)
        y = (x64 - mean.view(shape)) * torch.rsqrt(var.view(shape) + self.eps)
        y = y.to(x.dtype)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        return y


def convert_batchnorm(module: nn.Module, device: torch.device | None = None) -> nn.Module:
    """Replace every ``BatchNorm1d/2d/3d`` of ``module`` by batch norm over all ranks, keeping its parameters.

    On CUDA this is PyTorch's ``nn.SyncBatchNorm.convert_sync_batchnorm`` (the tool to use on GPUs); elsewhere
    :class:`CrossRankBatchNorm`. The same ``weight``/``bias`` Parameter objects are kept, so an optimizer built
    before the conversion still updates them. Returns the module (a new one only if ``module`` itself is a BN).
    """
    if not isinstance(module, nn.Module):
        raise TypeError(f"convert_batchnorm expects an nn.Module, got {type(module).__name__}.")
    if device is None:
        first = next(iter(module.parameters()), None)
        device = first.device if first is not None else torch.device("cpu")
    if device.type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(module)
    return _convert_cpu(module)


def _convert_cpu(module: nn.Module) -> nn.Module:
    out = module
    if isinstance(module, nn.modules.batchnorm._BatchNorm) and not isinstance(module, CrossRankBatchNorm):
        out = CrossRankBatchNorm(module.num_features, module.eps, module.momentum, module.affine,
                                 module.track_running_stats)
        if module.affine:
            out.weight, out.bias = module.weight, module.bias  # the same Parameters (optimizers keep working)
        if module.track_running_stats:
            out.running_mean, out.running_var = module.running_mean, module.running_var
            out.num_batches_tracked = module.num_batches_tracked
        out.train(module.training)
    for name, child in module.named_children():
        out.add_module(name, _convert_cpu(child))
    return out


class _DDP(nn.parallel.DistributedDataParallel):
    """DistributedDataParallel that also answers the wrapped network's attributes (``G.z_dim``, ...), so an
    objective written for a plain network reads them unchanged (its forward passes should call ``G(...)``)."""

    def __getattr__(self, name: str) -> Any:
        try:
            return super().__getattr__(name)
        except AttributeError:
            modules = self.__dict__.get("_modules", {})
            if "module" in modules:
                return getattr(modules["module"], name)
            raise


def _has_own_forward(module: nn.Module) -> bool:
    return type(module).forward is not nn.Module.forward  # ModuleDict/ModuleList have none


# ----------------------------------------------------------------------------------------------------------------
# The context
# ----------------------------------------------------------------------------------------------------------------
@dataclass
class DistributedContext:
    """Who this process is in a data-parallel run, and the collectives the trainer needs.

    Attributes:
        rank: this process's index, ``0 <= rank < world_size``; rank 0 logs, samples and writes checkpoints.
        world_size: the number of processes :math:`W`.
        local_rank: the index on this machine (``cuda:local_rank`` on GPUs).
        device: where this rank's models live.
        backend: ``"gloo"`` (CPU) or ``"nccl"`` (CUDA).
        timeout_s: seconds a collective waits for the others before failing.
        sync_batchnorm: convert batch norm to cross-rank batch norm when wrapping.
        bucket_cap_mb: DDP's gradient bucket size (MB); ``None``: DDP's default (25 MB).
        find_unused_parameters: let DDP search the graph for parameters that get no gradient in a step (needed
            when an objective leaves part of a network unused in its update; costs a graph traversal per step).
    """

    rank: int
    world_size: int
    local_rank: int
    device: torch.device
    backend: str
    timeout_s: float = DEFAULT_TIMEOUT_S
    sync_batchnorm: bool = False
    bucket_cap_mb: float | None = None
    find_unused_parameters: bool = False
    _hooks: list[Any] = field(default_factory=list, repr=False)

    @property
    def is_main(self) -> bool:
        """Whether this is rank 0 (the one that prints, samples and writes files)."""
        return self.rank == 0

    # --- seeds ------------------------------------------------------------------------------------------------
    def seed(self, seed: int) -> int:
        """Seed the global generators (PyTorch CPU/CUDA, NumPy, ``random``) with ``seed + rank``; return it.

        Rank 0 is then seeded like a single-process run with ``seed``. The trainer's own generators (data order,
        noise) are *not* touched: they keep ``config.seed`` on every rank so that all ranks draw the same global
        minibatch and keep their slice of it (:meth:`shard`).
        """
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ValueError(f"seed must be an int >= 0, got {seed!r}.")
        value = seed + self.rank
        torch.manual_seed(value)
        np.random.seed(value % 2**32)
        random.seed(value)
        return value

    # --- data -------------------------------------------------------------------------------------------------
    def shard(self, batch: Any) -> Any:
        """This rank's contiguous slice ``[rank * b, (rank + 1) * b)`` of a global minibatch of ``W b`` samples.

        Args:
            batch: ``Tensor[W b, ...]`` or a tuple/list of such tensors (sliced alike).

        Raises:
            ValueError: if the first dimension is not divisible by ``world_size``.
        """
        if isinstance(batch, (tuple, list)):
            return type(batch)(self.shard(t) for t in batch)
        if not isinstance(batch, Tensor) or batch.dim() == 0:
            raise TypeError(f"shard expects a Tensor (N, ...) or a tuple of them, got {type(batch).__name__}.")
        n = batch.shape[0]
        if n % self.world_size:
            raise ValueError(f"a global minibatch of {n} samples cannot be split evenly over {self.world_size} ranks.")
        b = n // self.world_size
        return batch[self.rank * b : (self.rank + 1) * b]

    # --- models -----------------------------------------------------------------------------------------------
    def prepare(self, module: nn.Module) -> nn.Module:
        """Move ``module`` to this rank's device and, with ``sync_batchnorm``, convert its batch norm layers."""
        module = module.to(self.device)
        if self.sync_batchnorm:
            module = convert_batchnorm(module, self.device)
        return module

    def wrap(self, module: nn.Module) -> nn.Module:
        """The module to call for the forward pass whose gradients must be averaged over ranks.

        A module with a ``forward`` of its own is wrapped in ``DistributedDataParallel`` (its parameters and
        buffers are broadcast from rank 0 at construction, so every rank starts from rank 0's weights; during
        backward the gradients are averaged bucket by bucket as they become ready). A container without
        ``forward`` (``nn.ModuleDict`` of several networks) cannot be called through DDP; its parameters are
        broadcast from rank 0 and each gets a hook that averages its gradient once it is accumulated, and the
        module itself is returned.
        """
        if not isinstance(module, nn.Module):
            raise TypeError(f"wrap expects an nn.Module, got {type(module).__name__}.")
        if self.world_size == 1 and not dist.is_initialized():
            return module
        if _has_own_forward(module):
            kwargs: dict[str, Any] = {}
            if self.bucket_cap_mb is not None:
                kwargs["bucket_cap_mb"] = self.bucket_cap_mb
            if self.find_unused_parameters:
                kwargs["find_unused_parameters"] = True
            if self.device.type == "cuda":
                kwargs["device_ids"] = [self.device.index]
            return _DDP(module, **kwargs)
        with torch.no_grad():
            for tensor in list(module.parameters()) + list(module.buffers()):
                dist.broadcast(tensor, src=0)
        world = self.world_size

        def average(param: Tensor) -> None:
            dist.all_reduce(param.grad)
            param.grad.div_(world)

        for p in module.parameters():
            if p.requires_grad:
                self._hooks.append(p.register_post_accumulate_grad_hook(average))
        return module

    # --- collectives ------------------------------------------------------------------------------------------
    def mean_logs(self, logs: Mapping[str, float]) -> dict[str, float]:
        """Average numeric logs over ranks (every rank must call it with the same keys, sorted here)."""
        keys = sorted(k for k, v in logs.items() if isinstance(v, (int, float)) and not isinstance(v, bool))
        if not keys or self.world_size == 1:
            return dict(logs)
        values = torch.tensor([float(logs[k]) for k in keys], dtype=torch.float64, device=self._comm_device())
        dist.all_reduce(values)
        out = dict(logs)
        out.update({k: v / self.world_size for k, v in zip(keys, values.tolist())})
        return out

    def agree(self, *flags: bool) -> tuple[bool, ...]:
        """Each flag true on every rank if it is true on at least one (one all-reduce): an interrupt or a
        callback's early stop on one rank stops all ranks after the same step."""
        if self.world_size == 1:
            return tuple(bool(f) for f in flags)
        value = torch.tensor([1.0 if f else 0.0 for f in flags], device=self._comm_device())
        dist.all_reduce(value, op=dist.ReduceOp.MAX)
        return tuple(bool(v > 0) for v in value.tolist())

    def log_step(self, trainer: Any, logs: Mapping[str, float]) -> dict[str, float]:
        """At a logging step: the logs averaged over ranks, after checking that every rank holds the same weights.

        Raises:
            RuntimeError: the ranks' weights differ (a forward pass bypassed the DDP wrapper, e.g. an objective
                that calls a submodule ``D.body(x)`` instead of ``D(x)``, so its gradients were not averaged).
        """
        if self.world_size == 1:
            return dict(logs)
        sums = []
        for module in (trainer.G, trainer.D):
            with torch.no_grad():
                sums.append(sum((p.detach().double().sum() for p in module.parameters()),
                                torch.zeros((), dtype=torch.float64, device=self.device)))
        mine = torch.stack(sums).to(self._comm_device())
        every = [torch.zeros_like(mine) for _ in range(self.world_size)]
        dist.all_gather(every, mine)
        table = torch.stack(every)  # (W, 2)
        spread = (table - table[0]).abs().amax(dim=0)
        scale = table[0].abs().clamp_min(1.0)
        for i, name in enumerate(("generator", "discriminator")):
            if spread[i] > 1e-5 * scale[i]:
                raise RuntimeError(
                    f"after step {trainer.step} the ranks' {name} weights differ (sums {table[:, i].tolist()}): its "
                    "gradients were not averaged. Call the network itself (G(z), D(x)) in the objective, not one of "
                    "its submodules, so that the forward pass goes through DistributedDataParallel."
                )
        return self.mean_logs(logs)

    def gather(self, obj: Any) -> list[Any]:
        """Every rank's ``obj`` (picklable), in rank order, on every rank."""
        if self.world_size == 1:
            return [obj]
        out: list[Any] = [None] * self.world_size
        dist.all_gather_object(out, obj)
        return out

    def barrier(self) -> None:
        """Wait until every rank gets here (after rank 0 wrote a file the others will read)."""
        if self.world_size > 1:
            dist.barrier()

    def _comm_device(self) -> torch.device:
        return self.device if self.backend == "nccl" else torch.device("cpu")

    @contextlib.contextmanager
    def guard(self, where: Callable[[], str]) -> Iterator[None]:
        """Turn the backend's error of a failed collective into a :class:`RankFailureError` naming the rank and
        ``where()`` (e.g. ``"during step 3"``); other exceptions pass unchanged."""
        try:
            yield
        except RankFailureError:
            raise
        except Exception as err:  # noqa: BLE001 (re-raised below unless it is a communication failure)
            if self.world_size > 1 and _looks_like_comm_error(err):
                raise RankFailureError(self.rank, self.world_size, where(), self.timeout_s, err) from err
            raise

    # --- RNG states of every rank (for checkpoints) -------------------------------------------------------------
    def rng_states(self) -> list[dict[str, Any]]:
        """The global generators' states of every rank (a collective: every rank must call it), in a form that
        ``torch.load(weights_only=True)`` reads back."""
        from course_lib.train.trainer import _numpy_state_to_torch

        mine = {
            "torch_cpu": torch.get_rng_state(),
            "python": random.getstate(),
            "numpy": _numpy_state_to_torch(np.random.get_state()),
        }
        return self.gather(mine)

    def set_rng_state(self, states: Sequence[dict[str, Any]] | None, fallback_seed: int) -> bool:
        """Restore this rank's entry of :meth:`rng_states`; with none for this world size, seed
        ``fallback_seed + rank`` instead. Returns whether the exact state was restored."""
        from course_lib.train.trainer import _numpy_state_from_torch

        if states is not None and len(states) == self.world_size:
            mine = states[self.rank]
            torch.set_rng_state(mine["torch_cpu"])
            random.setstate(tuple(mine["python"]))
            np.random.set_state(_numpy_state_from_torch(mine["numpy"]))
            return True
        if self.world_size > 1:
            warnings.warn(
                f"the checkpoint holds the generator states of {len(states) if states else 1} rank(s), this run has "
                f"{self.world_size}: the global generators are re-seeded per rank (models without dropout or other "
                "global randomness still resume exactly).", UserWarning, stacklevel=3)
        self.seed(fallback_seed)
        return False

    def close(self) -> None:
        """Remove the gradient hooks and destroy the process group (call once, at the end of the run)."""
        for hook in self._hooks:
            hook.remove()
        self._hooks.clear()
        if dist.is_initialized():
            dist.destroy_process_group()


def init_distributed(
    backend: str | None = None,
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    sync_batchnorm: bool = False,
    bucket_cap_mb: float | None = None,
    find_unused_parameters: bool = False,
    device: str | torch.device | None = None,
) -> DistributedContext:
    """Join the process group described by torchrun's environment variables and return this rank's context.

    Args:
        backend: ``None``: ``"nccl"`` when CUDA is available (one GPU per process, ``cuda:LOCAL_RANK``), else
            ``"gloo"`` (CPU). ``"gloo"`` or ``"nccl"`` to choose.
        timeout_s: seconds any collective waits for the other ranks before failing (a crashed or hung rank then
            stops the run with :class:`RankFailureError` instead of a hang).
        sync_batchnorm: convert batch norm to cross-rank batch norm when the trainer wraps the models.
        bucket_cap_mb: DDP's gradient bucket size; ``None``: DDP's default.
        find_unused_parameters: passed to DDP (see :class:`DistributedContext`).
        device: override the device (``"cpu"`` to run on CPUs on a GPU machine).

    Without torchrun's variables (a plain ``python`` run) the context is a single rank: ``world_size == 1`` and no
    process group, so the same script runs on one process unchanged.

    Raises:
        ValueError: an impossible backend, timeout, rank or world size in the environment.
    """
    if isinstance(timeout_s, bool) or not isinstance(timeout_s, (int, float)) or not timeout_s > 0:
        raise ValueError(f"timeout_s must be a positive number of seconds, got {timeout_s!r}.")
    if backend is not None and backend not in ("gloo", "nccl"):
        raise ValueError(f"backend must be 'gloo', 'nccl' or None, got {backend!r}.")
    if bucket_cap_mb is not None and not (isinstance(bucket_cap_mb, (int, float)) and bucket_cap_mb > 0):
        raise ValueError(f"bucket_cap_mb must be a positive number or None, got {bucket_cap_mb!r}.")
    cuda = torch.cuda.is_available() and (device is None or torch.device(device).type == "cuda")
    if backend is None:
        backend = "nccl" if cuda else "gloo"
    if backend == "nccl" and not cuda:
        raise ValueError("the nccl backend needs CUDA GPUs; use backend='gloo' on CPUs.")
    if not launched_by_torchrun():
        dev = torch.device(device) if device is not None else torch.device("cuda" if cuda else "cpu")
        return DistributedContext(0, 1, 0, dev, backend, float(timeout_s), bool(sync_batchnorm), bucket_cap_mb,
                                  bool(find_unused_parameters))
    rank, world = _env_int("RANK"), _env_int("WORLD_SIZE")
    local_rank = _env_int("LOCAL_RANK", rank)
    if world < 1 or not 0 <= rank < world:
        raise ValueError(f"RANK={rank} and WORLD_SIZE={world} are inconsistent (need 0 <= RANK < WORLD_SIZE).")
    if device is not None:
        dev = torch.device(device)
    elif backend == "nccl":
        dev = torch.device("cuda", local_rank)
    else:
        dev = torch.device("cpu")
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    if not dist.is_initialized():
        dist.init_process_group(backend=backend, rank=rank, world_size=world,
                                timeout=datetime.timedelta(seconds=float(timeout_s)))
    return DistributedContext(rank, world, local_rank, dev, backend, float(timeout_s), bool(sync_batchnorm),
                              bucket_cap_mb, bool(find_unused_parameters))


# ----------------------------------------------------------------------------------------------------------------
# Attaching a context to the trainer
# ----------------------------------------------------------------------------------------------------------------
class _PenaltyOnModule:
    """``penalty(D_ddp, real, fake)`` evaluated as ``penalty(D.module, real, fake)``.

    The gradient penalty's extra forward pass (at the interpolates, or at the reals for R1) runs on the
    underlying module, not through DDP: DDP then sees one forward per input of the step as usual, and the
    penalty's part of the gradient still reaches the same parameters before the single backward pass, whose
    hooks average the *total* gradient over ranks. (``static_graph=True`` is not used: in our measurement it
    averaged the wrong gradients for a step with a penalty; see Appendix B.)
    """

    def __init__(self, penalty: Callable[..., Tensor], module: nn.Module) -> None:
        self.penalty, self.module = penalty, module
        self.default_weight = getattr(penalty, "default_weight", 1.0)
        self.name = getattr(penalty, "name", None)

    def __call__(self, D: nn.Module, real: Tensor, fake: Tensor) -> Tensor:
        return self.penalty(self.module, real, fake)


def attach(trainer: Any, ctx: DistributedContext) -> None:
    """Make ``trainer`` (an :class:`~course_lib.train.AdversarialTrainer`, not yet fitted) data-parallel.

    - moves ``G``/``D`` to ``ctx.device`` and, with ``ctx.sync_batchnorm``, converts their batch norm layers;
    - wraps each in DDP (:meth:`DistributedContext.wrap`): the discriminator update calls ``D`` through DDP and
      ``G`` plain (under ``no_grad``), the generator update ``G`` through DDP and ``D`` plain (frozen), so each
      backward pass averages the gradients of the side being updated; the penalty runs on the plain ``D``;
    - tensor and sampler data: each rank draws the global minibatch of ``W * batch_size`` samples with the
      trainer's own generator (seeded ``config.seed`` on every rank) and keeps its slice, likewise the noise;
      a ``DataLoader`` must use a ``DistributedSampler`` (it shards by itself);
    - rank 0 alone prints, stores samples and writes checkpoints; logs are averaged over ranks.

    Raises:
        TypeError: ``ctx`` is not a :class:`DistributedContext`.
        ValueError: ``nonfinite="skip"`` (one rank skipping an update while the others wait in its all-reduce
            would hang), a ``DataLoader`` without ``DistributedSampler``, too little data for the global batch,
            or a trainer already fitted or already distributed.
    """
    if not isinstance(ctx, DistributedContext):
        raise TypeError(f"distributed must be a DistributedContext (init_distributed()) or True, got "
                        f"{type(ctx).__name__}.")
    if getattr(trainer, "dist", None) is not None:
        raise ValueError("this trainer is already distributed.")
    if trainer.step != 0:
        raise ValueError("distribute the trainer before fit(), or rebuild it and resume from a checkpoint.")
    if trainer.config.nonfinite != "raise":
        raise ValueError("TrainerConfig.nonfinite='skip' cannot be used with distributed training (a rank that "
                         "skips an update would leave the others waiting in its all-reduce); use 'raise'.")
    if trainer.device != ctx.device:
        raise ValueError(f"the trainer's models are on {trainer.device}, this rank's device is {ctx.device}: build "
                         "the trainer with device=ctx.device (or distributed=ctx, which does it).")
    source = trainer._data
    loader = getattr(source, "loader", None)
    if loader is not None:
        from torch.utils.data.distributed import DistributedSampler

        if ctx.world_size > 1 and not isinstance(loader.sampler, DistributedSampler):
            raise ValueError("a DataLoader for distributed training needs sampler=DistributedSampler(dataset) "
                             "(each rank then reads its own part); or pass a tensor, which the trainer shards.")
        shards = 1
    else:
        shards = ctx.world_size
        n = getattr(source, "n", None)
        if n is not None and trainer.config.batch_size * shards > n:
            raise ValueError(f"the global minibatch, {ctx.world_size} ranks x batch_size {trainer.config.batch_size}, "
                             f"is larger than the dataset ({n} samples); lower batch_size.")
    trainer.G = ctx.prepare(trainer.G)
    trainer.D = ctx.prepare(trainer.D)
    trainer._G_step = ctx.wrap(trainer.G)
    trainer._D_step = ctx.wrap(trainer.D)
    trainer._penalty_step = None if trainer.penalty is None else _PenaltyOnModule(trainer.penalty, trainer.D)
    trainer._data_shards, trainer._noise_shards = shards, ctx.world_size
    trainer.dist = ctx
