"""Test-wide settings: one intra-op thread per test process (pytest-xdist runs one process per core)."""

import os

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("COURSE_PROFILE", "fast")
os.environ.setdefault("COURSE_OFFLINE", "1")  # tests never touch the network

import torch  # noqa: E402

torch.set_num_threads(1)
