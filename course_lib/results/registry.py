"""The registry of recorded experiments: each chapter's GPU runs, as plain functions of a :class:`Context`.

A chapter registers its experiments from its own module in ``course_lib/results/experiments/`` (one module per
chapter, listed in :data:`course_lib.results.experiments.MODULES`)::

    from course_lib.results.registry import Context, register_chapter, register

    register_chapter("04_dcgan", "Chapter 4: DCGAN")

    @register("04_dcgan", "mnist", title="DCGAN on MNIST", minutes={"colab": 6, "full": 25}, tiny_seconds=3)
    def mnist(ctx: Context) -> None:
        steps = ctx.size(tiny=2, colab=5_000, full=20_000)
        ...                              # call course_lib: the trainer, the metrics
        ctx.number("fid", fid)           # numbers go to results/04_dcgan/mnist.json
        ctx.figure(fig, "samples", "Samples after training.")   # results/04_dcgan/mnist_samples.png

The runner (:mod:`course_lib.results.record`) seeds, times and records each one with its provenance.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import torch

T = TypeVar("T")

PROFILES = ("colab", "full")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_]*$")


@dataclass(frozen=True)
class Chapter:
    """A chapter (or the ``benchmarks`` pseudo-chapter) that records results.

    Attributes:
        key: the folder name, e.g. ``"04_dcgan"``; results go to ``<out>/<key>/``.
        title: shown by ``list`` and in the generated index.
    """

    key: str
    title: str


@dataclass(frozen=True)
class Experiment:
    """One recorded run: ``fn(ctx)`` trains/measures at the profile's size and reports numbers and figures.

    Attributes:
        chapter: the chapter key. name: the experiment's name (file stem of its JSON and figures).
        title: one line. description: what it runs, for the index.
        fn: the function; it reads sizes with ``ctx.size(...)`` and reports with ``ctx.number/table/figure``.
        minutes: estimated wall minutes on one GPU for each profile (``colab``: a T4-class GPU; ``full``: a big
            one); the runner checks them against the budget before starting.
        tiny_seconds: the estimated seconds of the CPU ``tiny`` mode (the test's mode).
        seed: the seed the runner passes to :func:`course_lib.runtime.seed_everything` first.
        shown_in: other chapter keys whose index shows this experiment too (a benchmark in its chapter).
    """

    chapter: str
    name: str
    title: str
    fn: Callable[[Context], None]
    minutes: dict[str, float]
    tiny_seconds: float = 5.0
    description: str = ""
    seed: int = 0
    shown_in: tuple[str, ...] = ()

    def estimate_minutes(self, profile: str, tiny: bool) -> float:
        """Estimated wall minutes of this experiment in ``profile`` (or in tiny mode)."""
        if tiny:
            return self.tiny_seconds / 60.0
        return float(self.minutes[profile])


@dataclass
class Context:
    """What an experiment function receives: the profile, the device, and where its results go.

    Attributes:
        profile: ``"colab"`` or ``"full"`` (the sizes of the chapter's notebook profiles).
        tiny: the CPU test mode: every size is the ``tiny`` one, seconds in total.
        device: where to train. seed: the experiment's seed (already applied).
        out_dir: ``<out>/<chapter>/``. name: the experiment's name, the prefix of its figure files.
    """

    profile: str
    tiny: bool
    device: torch.device
    seed: int
    out_dir: Path
    name: str
    numbers: dict[str, Any] = field(default_factory=dict)
    tables: dict[str, dict[str, Any]] = field(default_factory=dict)
    figures: list[dict[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    staging: Path | None = None

    def size(self, *, tiny: T, colab: T, full: T | None = None) -> T:
        """The value for this run: ``tiny`` in tiny mode, else the profile's (``full`` falls back to ``colab``)."""
        if self.tiny:
            return tiny
        if self.profile == "full" and full is not None:
            return full
        return colab

    def number(self, key: str, value: Any) -> None:
        """Record one scalar (int, float, bool, str or None) under ``key``."""
        if not isinstance(key, str) or not key:
            raise ValueError(f"a number's key must be a non-empty string, got {key!r}.")
        self.numbers[key] = _scalar(value, key)

    def table(self, key: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """Record a table: column names and rows of scalars (each row as long as ``columns``)."""
        columns = [str(c) for c in columns]
        clean = []
        for row in rows:
            row = list(row)
            if len(row) != len(columns):
                raise ValueError(f"table {key!r}: a row has {len(row)} cells for {len(columns)} columns.")
            clean.append([_scalar(v, key) for v in row])
        self.tables[key] = {"columns": columns, "rows": clean}

    def figure(self, fig: Any, key: str, caption: str) -> Path:
        """Save a matplotlib figure as ``<out_dir>/<name>_<key>.png`` (and close it); return the path.

        The runner stages the files of a run (``staging``) and moves them into ``out_dir`` only when the run succeeds,
        so that a failing run leaves the figures of an earlier record alone."""
        if not _NAME.match(key):
            raise ValueError(f"figure key {key!r}: use lower-case letters, digits and underscores.")
        import matplotlib.pyplot as plt

        folder = self.staging if self.staging is not None else self.out_dir
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{self.name}_{key}.png"
        fig.savefig(path, dpi=110, bbox_inches="tight")
        plt.close(fig)
        self.figures.append({"file": path.name, "caption": caption})
        return path

    def note(self, text: str) -> None:
        """A sentence for the index (e.g. which data set the run fell back to)."""
        self.notes.append(str(text))


def _scalar(value: Any, key: str) -> Any:
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise ValueError(f"{key!r}: a tensor of {value.numel()} elements is not a number.")
        value = value.item()
    if hasattr(value, "item") and not isinstance(value, (int, float, str, bool)):  # NumPy scalars
        value = value.item()
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)   # JSON has no NaN/inf
    raise TypeError(f"{key!r}: {type(value).__name__} is not a scalar (int, float, bool, str or None).")


CHAPTERS: dict[str, Chapter] = {}
EXPERIMENTS: dict[str, dict[str, Experiment]] = {}


def register_chapter(key: str, title: str) -> Chapter:
    """Declare a chapter that records results (idempotent for the same title)."""
    if not isinstance(key, str) or not re.match(r"^[a-z0-9][a-z0-9_]*$", key):
        raise ValueError(f"chapter key {key!r}: use the chapter's folder name, e.g. '04_dcgan'.")
    chapter = Chapter(key, title)
    CHAPTERS[key] = chapter
    EXPERIMENTS.setdefault(key, {})
    return chapter


def register(chapter: str, name: str, *, title: str, minutes: dict[str, float], tiny_seconds: float = 5.0,
             description: str = "", seed: int = 0,
             shown_in: Sequence[str] = ()) -> Callable[[Callable[[Context], None]], Callable[[Context], None]]:
    """Decorator: register ``fn(ctx)`` as experiment ``name`` of ``chapter`` (see :class:`Experiment`)."""
    if chapter not in CHAPTERS:
        raise ValueError(f"chapter {chapter!r} is not declared; call register_chapter({chapter!r}, title) first.")
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"experiment name {name!r}: use lower-case letters, digits and underscores.")
    missing = [p for p in PROFILES if p not in minutes]
    if missing:
        raise ValueError(f"{chapter}/{name}: minutes needs an estimate for {missing}.")
    if any(not isinstance(m, (int, float)) or m <= 0 for m in minutes.values()) or tiny_seconds <= 0:
        raise ValueError(f"{chapter}/{name}: the estimates must be positive numbers.")

    def decorate(fn: Callable[[Context], None]) -> Callable[[Context], None]:
        EXPERIMENTS[chapter][name] = Experiment(
            chapter=chapter, name=name, title=title, fn=fn, minutes=dict(minutes), tiny_seconds=float(tiny_seconds),
            description=description or (fn.__doc__ or "").strip().split("\n\n")[0].replace("\n", " "),
            seed=seed, shown_in=tuple(shown_in))
        return fn

    return decorate


def load_all() -> None:
    """Import every chapter's experiment module (they register themselves)."""
    from course_lib.results import experiments

    experiments.load()


def resolve_chapter(name: str) -> str:
    """The chapter key for ``name``: the key itself, its number (``4``, ``04``, ``ch04``) or its slug (``dcgan``).

    Raises:
        ValueError: for a name that matches no registered chapter (the message lists them).
    """
    load_all()
    raw = str(name).strip().lower().rstrip("/")
    raw = raw.split("/")[-1]
    if raw in CHAPTERS:
        return raw
    number = raw[2:] if raw.startswith("ch") else raw
    matches = []
    for key in CHAPTERS:
        prefix, _, slug = key.partition("_")
        if number.isdigit() and prefix.isdigit() and int(prefix) == int(number):
            matches.append(key)
        elif slug == raw:
            matches.append(key)
    if len(matches) == 1:
        return matches[0]
    raise ValueError(f"unknown chapter {name!r}; chapters with recorded experiments: {', '.join(CHAPTERS)}.")


def experiments_of(chapter: str) -> list[Experiment]:
    """The experiments registered by ``chapter``, in registration order."""
    return list(EXPERIMENTS[resolve_chapter(chapter)].values())


def shown_in(chapter: str) -> list[Experiment]:
    """The experiments of other chapters that ``chapter``'s index shows too (``shown_in``)."""
    return [e for key, exps in EXPERIMENTS.items() if key != chapter for e in exps.values() if chapter in e.shown_in]
