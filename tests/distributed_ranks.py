"""Spawning torch.distributed ranks for the tests: loopback only, one thread each, bounded in time.

Shared by ``tests/test_distributed.py`` (the adversarial trainer's launcher) and
``tests/test_distributed_detector.py`` (``fit_detector``).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Sequence

import pytest

ROOT = Path(__file__).resolve().parents[1]
_TORCHRUN_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


def free_port() -> int:
    """A TCP port free on the loopback interface now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rank_env(rank: int, world: int, port: int) -> dict[str, str]:
    """torchrun's variables for ``rank`` of ``world`` on 127.0.0.1, one thread, gloo on ``lo``, the repo importable."""
    env = dict(os.environ, OMP_NUM_THREADS="1", GLOO_SOCKET_IFNAME="lo",
               PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    for key in _TORCHRUN_VARS:
        env.pop(key, None)
    env.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world), MASTER_ADDR="127.0.0.1",
               MASTER_PORT=str(port))
    return env


def spawn_ranks(args_of: Callable[[int], Sequence[str]], world: int, timeout: float) -> list[subprocess.CompletedProcess]:
    """Start ``world`` processes ``python <args_of(rank)>`` as the ranks of one job and wait at most ``timeout`` s
    for all of them; a rank still running then fails the test as a hang (every process is killed)."""
    port = free_port()
    procs = [subprocess.Popen([sys.executable, *args_of(rank)], cwd=ROOT, env=rank_env(rank, world, port),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for rank in range(world)]
    deadline = time.monotonic() + timeout
    results = []
    try:
        for rank, proc in enumerate(procs):
            try:
                out, err = proc.communicate(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pytest.fail(f"rank {rank} did not finish within {timeout} s (a hang)")
            results.append(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return results


def assert_ranks_ok(results: Sequence[subprocess.CompletedProcess]) -> None:
    """Every rank exited with 0 (else its stderr's tail)."""
    for rank, res in enumerate(results):
        assert res.returncode == 0, f"rank {rank} failed:\n{res.stderr[-3000:]}"
