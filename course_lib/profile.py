"""Run profiles: the same notebook on a laptop CPU, a Colab GPU and a big GPU.

``COURSE_PROFILE`` selects one of

- ``fast``:  CPU, CI, a laptop. Tiny configs and bundled data; a notebook finishes in at most 2 minutes on 2 cores.
- ``colab``: one T4-class GPU, about 15 minutes per notebook.
- ``full``:  one big GPU, the chapter's reported results.
- ``auto`` (or unset): ``colab`` when a CUDA GPU is visible, ``fast`` otherwise.

Notebooks pick their sizes with :func:`pick`::

    steps = pick(fast=300, colab=5_000, full=20_000)
"""

from __future__ import annotations

import os
from typing import TypeVar

import torch

PROFILES = ("fast", "colab", "full")
ENV_VAR = "COURSE_PROFILE"

T = TypeVar("T")


def get_profile() -> str:
    """Return the active profile name, resolving ``auto``.

    Raises:
        ValueError: if ``COURSE_PROFILE`` holds anything but ``fast``, ``colab``, ``full`` or ``auto``.
    """
    value = os.environ.get(ENV_VAR, "auto").strip().lower() or "auto"
    if value == "auto":
        return "colab" if torch.cuda.is_available() else "fast"
    if value not in PROFILES:
        raise ValueError(
            f"{ENV_VAR}={value!r} is not a profile; use one of {', '.join(PROFILES)} or 'auto'."
        )
    return value


def pick(*, fast: T, colab: T, full: T | None = None) -> T:
    """Return the value for the active profile (``full`` falls back to ``colab`` when not given)."""
    profile = get_profile()
    if profile == "fast":
        return fast
    if profile == "full" and full is not None:
        return full
    return colab


def describe() -> str:
    """One line saying which profile runs and why, for the top of every notebook."""
    raw = os.environ.get(ENV_VAR)
    profile = get_profile()
    why = f"{ENV_VAR}={raw}" if raw and raw.lower() != "auto" else (
        "auto: a CUDA GPU is visible" if profile == "colab" else "auto: no CUDA GPU"
    )
    return f"course profile: {profile} ({why})"
