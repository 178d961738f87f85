"""Entry point for data-parallel training: ``torchrun --nproc_per_node=N -m course_lib.train.launch CONFIG``.

``torchrun`` starts ``N`` copies of this module (and ``--nnodes``/``--rdzv-backend c10d`` spread them over several
machines, Appendix B); each joins the process group (:func:`~course_lib.train.distributed.init_distributed`),
builds the same models from the same seed, trains its slice of every minibatch, and rank 0 prints, stores samples
and writes the checkpoints. Run without torchrun (``python -m course_lib.train.launch CONFIG``) it is one process.

``CONFIG`` is a JSON file or a Python file. JSON:

.. code-block:: json

    {"variant": "lsgan", "steps": 200, "seed": 0,
     "config": {"batch_size": 32, "checkpoint_dir": "runs/lsgan_ddp"},
     "distributed": {"sync_batchnorm": false, "timeout_s": 120}}

``variant`` names a zoo entry (Appendix A; its fast recipe builds models, data and config), or ``factory`` names
``"package.module:function"`` returning ``{"generator", "discriminator", "data"}`` and optionally ``"config"``
(a :class:`~course_lib.train.TrainerConfig` or a dict of its fields), ``"objective"``, ``"callbacks"``,
``"after_d_step"``; a factory with one parameter receives the :class:`~course_lib.train.distributed.
DistributedContext` (to build a ``DistributedSampler``, say). ``config`` fields override the recipe's.
A Python file sets the same keys as upper-case globals: ``VARIANT`` or ``FACTORY`` (a callable), ``CONFIG``,
``STEPS``, ``SEED``, ``RESUME``, ``DISTRIBUTED``.

Options: ``--steps N`` (total generator updates), ``--resume`` (continue from the latest checkpoint of
``checkpoint_dir``), ``--summary PATH`` (rank 0 writes a JSON of the history, the world size, the wall time and
the CPU time summed over ranks).
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import inspect
import json
import os
import runpy
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import torch

from course_lib.train.distributed import DistributedContext, RankFailureError, init_distributed

__all__ = ["load_spec", "build_from_spec", "main", "run_torchrun"]

_KEYS = ("variant", "factory", "config", "steps", "seed", "resume", "distributed")
_DIST_KEYS = ("sync_batchnorm", "timeout_s", "bucket_cap_mb", "find_unused_parameters", "backend")


def load_spec(path: str | Path) -> dict[str, Any]:
    """Read a launch CONFIG (``.json`` or ``.py``) into a dict with the keys ``variant``/``factory``, ``config``,
    ``steps``, ``seed``, ``resume``, ``distributed``.

    Raises:
        FileNotFoundError: no such file. ValueError: another suffix, unknown keys, neither or both of
        ``variant`` and ``factory``. TypeError: a field of the wrong type.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no launch config at {path}.")
    if path.suffix == ".json":
        raw = json.loads(path.read_text())
        if not isinstance(raw, dict):
            raise TypeError(f"{path}: a launch config is a JSON object, got {type(raw).__name__}.")
    elif path.suffix == ".py":
        namespace = runpy.run_path(str(path), run_name="course_lib_launch_config")
        raw = {k.lower(): v for k, v in namespace.items() if k.isupper() and k.lower() in _KEYS}
    else:
        raise ValueError(f"{path}: a launch config is a .json or a .py file.")
    unknown = sorted(set(raw) - set(_KEYS))
    if unknown:
        raise ValueError(f"{path}: unknown keys {unknown}; allowed: {list(_KEYS)}.")
    if ("variant" in raw) == ("factory" in raw):
        raise ValueError(f"{path}: give exactly one of 'variant' (a zoo key) and 'factory' (module:function).")
    spec = {"config": {}, "steps": None, "seed": 0, "resume": False, "distributed": {}, **raw}
    for key, kind in (("config", dict), ("distributed", dict), ("resume", bool)):
        if not isinstance(spec[key], kind):
            raise TypeError(f"{path}: '{key}' must be a {kind.__name__}, got {type(spec[key]).__name__}.")
    bad = sorted(set(spec["distributed"]) - set(_DIST_KEYS))
    if bad:
        raise ValueError(f"{path}: unknown 'distributed' keys {bad}; allowed: {list(_DIST_KEYS)}.")
    for key in ("steps", "seed"):
        value = spec[key]
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            raise TypeError(f"{path}: '{key}' must be a non-negative int, got {value!r}.")
    if isinstance(spec.get("factory"), str):
        spec["factory"] = _import_factory(spec["factory"])
    if "factory" in spec and not callable(spec["factory"]):
        raise TypeError(f"{path}: 'factory' must be 'module:function' or a callable.")
    return spec


def _import_factory(name: str) -> Callable[..., Any]:
    module, _, attr = name.partition(":")
    if not module or not attr:
        raise ValueError(f"factory must be written 'package.module:function', got {name!r}.")
    return getattr(importlib.import_module(module), attr)


def build_from_spec(spec: dict[str, Any], ctx: DistributedContext) -> Any:
    """The :class:`~course_lib.train.AdversarialTrainer` of a launch spec, distributed over ``ctx``'s ranks.

    Every rank seeds the global generator with ``seed`` before building the models (the same initial weights;
    DDP broadcasts rank 0's anyway), then :meth:`DistributedContext.seed` gives each rank ``seed + rank`` for what
    follows (dropout). The trainer's own generators keep ``config.seed`` on every rank.
    """
    from course_lib.train import AdversarialTrainer, TrainerConfig

    seed = int(spec.get("seed", 0))
    overrides = dict(spec.get("config", {}))
    torch.manual_seed(seed)
    if "variant" in spec:
        from course_lib.zoo import build_trainer

        trainer = build_trainer(spec["variant"], steps=spec.get("steps"), seed=seed, device=ctx.device,
                                progress=bool(overrides.get("progress", False)))
        if overrides:
            trainer.config = dataclasses.replace(trainer.config, **overrides)  # validated by __post_init__
        trainer.distribute(ctx)
    else:
        factory = spec["factory"]
        built = factory(ctx) if len(inspect.signature(factory).parameters) >= 1 else factory()
        if not isinstance(built, dict) or not {"generator", "discriminator", "data"} <= set(built):
            raise TypeError("a launch factory must return a dict with 'generator', 'discriminator' and 'data' "
                            "(and optionally 'config', 'objective', 'callbacks', 'after_d_step').")
        config = built.get("config") or {}
        if isinstance(config, TrainerConfig):
            config = dataclasses.replace(config, **overrides)
        else:
            config = TrainerConfig(**{**dict(config), **overrides})
        if spec.get("steps") is not None:
            config = dataclasses.replace(config, steps=int(spec["steps"]))
        trainer = AdversarialTrainer(
            built["generator"], built["discriminator"], built["data"], config,
            callbacks=built.get("callbacks", ()), after_d_step=built.get("after_d_step", ()),
            objective=built.get("objective"), distributed=ctx,
        )
    ctx.seed(seed)
    return trainer


def run_torchrun(config: str | Path, nproc: int, *args: str, timeout_s: float = 600.0,
                 threads_per_process: int = 1) -> dict[str, Any]:
    """Run ``torchrun --standalone --nproc_per_node=nproc -m course_lib.train.launch config *args`` and return
    rank 0's summary (the ``--summary`` JSON: history, world size, wall time, CPU time of every rank).

    ``--standalone`` keeps the rendezvous on this machine (a free local port); ``nproc=1`` runs one plain process
    instead. Each process gets ``threads_per_process`` intra-op threads (``OMP_NUM_THREADS``).

    Raises:
        ValueError: ``nproc < 1``. RuntimeError: the run failed (with the end of its output).
    """
    if isinstance(nproc, bool) or not isinstance(nproc, int) or nproc < 1:
        raise ValueError(f"nproc must be a positive int, got {nproc!r}.")
    with tempfile.TemporaryDirectory() as tmp:
        summary = Path(tmp) / "summary.json"
        if nproc == 1:
            cmd = [sys.executable, "-m", "course_lib.train.launch", str(config)]
        else:
            cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
                   "-m", "course_lib.train.launch", str(config)]
        cmd += [*args, "--summary", str(summary)]
        env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR",
                                                                 "MASTER_PORT")}
        env["OMP_NUM_THREADS"] = str(threads_per_process)
        res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout_s)
        if res.returncode != 0 or not summary.is_file():
            raise RuntimeError(f"{' '.join(cmd)} failed (exit {res.returncode}):\n{res.stderr[-3000:]}")
        out = json.loads(summary.read_text())
        out["command"] = " ".join(["torchrun", "--standalone", f"--nproc_per_node={nproc}", "-m",
                                   "course_lib.train.launch", Path(config).name, *args]) if nproc > 1 else \
            " ".join(["python", "-m", "course_lib.train.launch", Path(config).name, *args])
        return out


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m course_lib.train.launch",
                                     description="Train a GAN data-parallel (start it with torchrun).")
    parser.add_argument("config", help="a launch config, .json or .py")
    parser.add_argument("--steps", type=int, default=None, help="total generator updates (overrides the config)")
    parser.add_argument("--resume", action="store_true", help="continue from the latest checkpoint")
    parser.add_argument("--summary", default=None, help="rank 0 writes the history and timings here (JSON)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one launch (on every rank); returns the exit status (0 on success)."""
    args = _parse(argv)
    spec = load_spec(args.config)
    if args.steps is not None:
        spec["steps"] = args.steps
    opts = dict(spec.get("distributed", {}))
    ctx = init_distributed(opts.pop("backend", None), **opts)
    failed = False
    try:
        trainer = build_from_spec(spec, ctx)
        wall, cpu = time.perf_counter(), time.process_time()
        history = trainer.fit(steps=spec.get("steps"), resume=bool(args.resume or spec.get("resume")))
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        cpus = ctx.gather(cpu)
        if ctx.is_main:
            d = history["d_loss"][-1] if history["d_loss"] else float("nan")
            g = history["g_loss"][-1] if history["g_loss"] else float("nan")
            print(f"[rank 0 of {ctx.world_size}, {ctx.backend}] step {trainer.step}: d_loss {d:.4f} g_loss {g:.4f}; "
                  f"{wall:.2f} s wall, {sum(cpus):.2f} s CPU over all ranks")
            if args.summary:
                out = {
                    "world_size": ctx.world_size, "backend": ctx.backend, "device": str(ctx.device),
                    "steps": trainer.step, "batch_per_rank": trainer.config.batch_size,
                    "global_batch": trainer.config.batch_size * ctx.world_size,
                    "wall_s": wall, "cpu_s_per_rank": cpus, "history": history,
                    "torch": torch.__version__,
                }
                Path(args.summary).parent.mkdir(parents=True, exist_ok=True)
                Path(args.summary).write_text(json.dumps(out, indent=1, default=float))
        ctx.barrier()
    except RankFailureError as err:
        failed = True
        print(f"RankFailureError: {err}", file=sys.stderr, flush=True)
        return 1
    except BaseException:
        failed = True
        raise
    finally:
        if not failed:  # after a failure the group may be broken: destroying it could wait on the dead rank
            ctx.close()
    return 0


if __name__ == "__main__":
    from torch.distributed.elastic.multiprocessing.errors import record  # torchrun reports the failing rank's error

    sys.exit(record(main)())
