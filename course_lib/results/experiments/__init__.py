"""Every chapter's recorded experiments, one module per chapter (each registers itself on import).

A new chapter adds its module here (one line in :data:`MODULES`)."""

from __future__ import annotations

import importlib

MODULES = (
    "course_lib.results.experiments.ch02",
    "course_lib.results.experiments.ch04",
    "course_lib.results.experiments.ch05",
    "course_lib.results.experiments.ch06",
    "course_lib.results.experiments.ch09",
    "course_lib.results.experiments.ch13",
    "course_lib.results.experiments.ch14",
    "course_lib.results.experiments.ch15",
    "course_lib.results.experiments.ch16",
    "course_lib.results.experiments.ch17",
    "course_lib.results.experiments.benchmarks",
)


def load() -> None:
    """Import every module of :data:`MODULES` (idempotent)."""
    for name in MODULES:
        importlib.import_module(name)
