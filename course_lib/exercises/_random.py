"""Small seeded-randomness helpers shared by the chapters' checks (course_lib/exercises/chNN.py).

Checks never touch the global RNG: every case draws from its own ``torch.Generator``, so a verdict is the same
whatever the notebook did before, and the grader can draw fresh cases from a grading seed.
"""

from __future__ import annotations

import torch

__all__ = ["gen", "sub_seed", "uniform", "randint"]


def gen(seed: int) -> torch.Generator:
    """A CPU generator seeded with ``seed``."""
    return torch.Generator().manual_seed(seed)


def sub_seed(seed: int, k: int) -> int:
    """A seed for the ``k``-th case drawn from a grading seed (distinct per case, stable across runs)."""
    return (int(seed) * 1_000_033 + 104_729 * (k + 1)) % (2**62)


def uniform(g: torch.Generator, low: float, high: float) -> float:
    """A float drawn uniformly from ``[low, high)``."""
    return low + (high - low) * float(torch.rand((), generator=g, dtype=torch.float64))


def randint(g: torch.Generator, low: int, high: int) -> int:
    """An integer in ``[low, high]`` (both included)."""
    return int(torch.randint(low, high + 1, (), generator=g))
