"""Device choice, reproducible seeding, and where long runs keep their checkpoints."""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import torch


def get_device(prefer: str | None = None) -> torch.device:
    """Return ``prefer`` if given, else CUDA when available, else Apple MPS, else CPU."""
    if prefer is not None:
        device = torch.device(prefer)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"device {prefer!r} was asked for but CUDA is not available on this machine.")
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def seed_everything(seed: int, deterministic: bool = False) -> torch.Generator:
    """Seed Python, NumPy and PyTorch (all devices) and return a CPU ``torch.Generator`` seeded with ``seed``.

    With ``deterministic=True`` PyTorch is also asked for deterministic kernels (slower on a GPU).
    """
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}.")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
    gen = torch.Generator()
    gen.manual_seed(seed)
    return gen


CHECKPOINT_ENV = "COURSE_CHECKPOINT_DIR"
COLAB_DRIVE = Path("/content/drive/MyDrive")


def checkpoint_dir(name: str, profile: str | None = None) -> str | None:
    """The folder where a lab's long training run keeps its checkpoints, or None where it should keep none.

    A lab passes it to ``TrainerConfig(checkpoint_dir=...)`` and calls ``fit(resume=...)``: after a Colab
    disconnect, re-running the cell continues from the last checkpoint instead of starting again.

    - the ``fast`` profile (CI, a laptop run of a minute): None, so every run starts from scratch;
    - ``$COURSE_CHECKPOINT_DIR/<name>`` when that variable is set;
    - on Colab with Google Drive mounted (``/content/drive/MyDrive`` exists):
      ``/content/drive/MyDrive/course_lib_checkpoints/<name>``, which survives the end of the Colab session;
    - else ``~/.cache/course_lib/checkpoints/<name>``.

    The folder is not created here (the trainer creates it when it writes).

    Args:
        name: a short identifier of the run (letters, digits, ``-``, ``_``, ``.``), e.g. ``"ch04_mnist"``.
        profile: the profile to decide for; None: the active one.

    Raises:
        TypeError / ValueError: ``name`` is not such an identifier.
    """
    from course_lib.profile import PROFILES, get_profile

    if profile is not None and profile not in PROFILES:
        raise ValueError(f"profile must be one of {', '.join(PROFILES)} or None, got {profile!r}.")
    if not isinstance(name, str):
        raise TypeError(f"name must be a string, got {type(name).__name__}.")
    if not name or name in (".", "..") or any(not (ch.isalnum() or ch in "-_.") for ch in name):
        raise ValueError(f"name must be a non-empty identifier of letters, digits, '-', '_' and '.', got {name!r}.")
    if (profile or get_profile()) == "fast":
        return None
    base = os.environ.get(CHECKPOINT_ENV, "").strip()
    if base:
        return str(Path(base).expanduser() / name)
    if COLAB_DRIVE.is_dir():
        return str(COLAB_DRIVE / "course_lib_checkpoints" / name)
    return str(Path.home() / ".cache" / "course_lib" / "checkpoints" / name)
