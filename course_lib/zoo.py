r"""The GAN zoo: one entry per GAN variant of the course, from which Appendix A is generated (beside the model
registry, :mod:`course_lib.registry`).

An entry (:class:`ZooEntry`) says in one sentence what the variant changes, gives its loss in LaTeX, the paper
(bibtex keys of ``book/references.bib``), the ``course_lib`` names that implement it, the chapter that teaches it,
and a *fast recipe*: what :class:`course_lib.train.AdversarialTrainer` needs to train it for a few hundred steps
in seconds on a CPU. A variant whose chapter is not written yet has a *card-only* entry: ``recipe=None`` and
``taught_in`` saying which chapter will teach it (no fake runnable cell).

.. code-block:: python

    from course_lib.zoo import FastRecipe, ZooEntry, register_variant, get_variant, variants, run_variant

    register_variant(ZooEntry(
        key="lsgan", name="LSGAN", idea="Least squares instead of cross-entropy ...",
        loss_latex=r"L_D = \tfrac12 \mathbb E[(D(x) - 1)^2] + ...", paper=("mao2017lsgan",),
        names=("course_lib.gan.losses.d_loss_least_squares",), chapter="chapters/05_losses_regularizers/theory",
        recipe=FastRecipe(models=mlp_models, loss="lsgan"),
    ))
    run = run_variant("lsgan")            # trains the recipe with the one trainer; run.samples, run.history

A recipe is either a declarative :class:`FastRecipe` (models, loss, penalty, data, steps, trainer overrides, hooks,
callbacks) or a callable ``recipe(steps, seed, device) -> AdversarialTrainer`` that builds (but does not fit) a
trainer, for variants that need more (ProGAN's growing schedule is a callback, so even it fits a ``FastRecipe``).

A new variant appears in the appendix by registering it: the cards page ``chapters/appendix_a_gan_zoo/theory.md``
is written by :func:`write_page` (``python -m course_lib.zoo``), and a test checks that the committed page is what
the generator writes (``python -m course_lib.zoo --check``). The entries themselves live next to the code they
describe: :mod:`course_lib.gan.zoo_entries` (chapters 2-5 and the card-only entries of the chapters not written
yet), and the chapter modules that register their own (:mod:`course_lib.gan.progan`, ...): :func:`_import_all`
lists them. An entry registered under the key of a card-only placeholder (a chapter landing) replaces it; any other
duplicate key is an error.
"""

from __future__ import annotations

import functools
import importlib
import math
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import torch
from torch import Tensor, nn

__all__ = [
    "FastRecipe",
    "ZooEntry",
    "ZooRun",
    "PYTORCH_GAN_NAMES",
    "DATASETS",
    "register_variant",
    "register_planned",
    "variants",
    "get_variant",
    "runnable_variants",
    "recipe_steps",
    "describe_recipe",
    "zoo_data",
    "build_trainer",
    "run_variant",
    "run_zoo",
    "plot_zoo_samples",
    "render_card",
    "render_page",
    "write_page",
    "PAGE_PATH",
]

#: The implementations of the classic PyTorch-GAN collection (eriklindernoren/PyTorch-GAN): each is a zoo key.
PYTORCH_GAN_NAMES: tuple[str, ...] = (
    "aae", "acgan", "began", "bgan", "bicyclegan", "ccgan", "cgan", "cluster_gan", "cogan", "context_encoder",
    "cyclegan", "dcgan", "discogan", "dragan", "dualgan", "ebgan", "esrgan", "gan", "infogan", "lsgan", "munit",
    "pix2pix", "pixelda", "relativistic_gan", "sgan", "softmax_gan", "srgan", "stargan", "unit", "wgan", "wgan_div",
    "wgan_gp",
)

#: The data a fast recipe can name: a sentence each (shown on the cards).
DATASETS: dict[str, str] = {
    "digits8": "the 1,797 8x8 digits of scikit-learn in [-1, 1], shape (1, 8, 8)",
    "ring": "a ring of 8 Gaussians in the plane (radius 2, std 0.02), an endless sampler",
}

#: Where the generated cards page lives, relative to the repository root.
PAGE_PATH = "chapters/appendix_a_gan_zoo/theory.md"

_KEY = re.compile(r"^[a-z][a-z0-9_]*$")
_DOTTED = re.compile(r"^course_lib(\.[A-Za-z_][A-Za-z0-9_]*)+$")
_BIBKEY = re.compile(r"^[A-Za-z][A-Za-z0-9_:-]*$")
_CHAPTER = re.compile(r"^(chapters|book)/[a-z0-9_]+(/[a-z0-9_]+)?$")
# TrainerConfig fields a recipe may override through `config` (the others have fields of their own or are fixed)
_CONFIG_KEYS = ("n_critic", "optimizer", "lr_g", "lr_d", "betas", "penalty_weight", "max_grad_norm", "nonfinite")


def _text(value: object, name: str, who: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise TypeError(f"{who}: {name} must be a non-empty str, got {value!r}.")
    return value


def _positive_int(value: object, name: str, who: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{who}: {name} must be an int, got {type(value).__name__}.")
    if value <= 0:
        raise ValueError(f"{who}: {name} must be positive, got {value}.")
    return value


# ----------------------------------------------------------------------------------------------------------------
# Entries
# ----------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FastRecipe:
    """What the one trainer needs to train a variant in seconds on a CPU (the ``fast`` recipe of its card).

    Attributes:
        models: ``(sample_shape, z_dim) -> (G, D)``, fresh networks (the runner seeds the global generator first).
        loss: a registered GAN loss name (:func:`course_lib.gan.losses.list_gan_losses`).
        penalty: a registered penalty name (:func:`course_lib.gan.penalties.list_penalties`) or ``None``.
        data: a key of :data:`DATASETS`.
        steps: generator updates of the recipe (a few hundred at most: the zoo shares one small budget).
        z_dim: noise dimension.
        batch_size: minibatch size.
        config: overrides of :class:`~course_lib.train.TrainerConfig` fields among ``n_critic``, ``optimizer``,
            ``lr_g``, ``lr_d``, ``betas``, ``penalty_weight``, ``max_grad_norm``, ``nonfinite``.
        after_d_step: ``() -> list of hooks`` run after each discriminator update (WGAN's weight clipping).
        callbacks: ``(steps) -> list of Callback`` (ProGAN's growing schedule), given the number of steps to run.
        note: one line about what the recipe changes from the paper's settings, and why (shown on the card).
    """

    models: Callable[[tuple[int, ...], int], tuple[nn.Module, nn.Module]]
    loss: str = "non_saturating"
    penalty: str | None = None
    data: str = "digits8"
    steps: int = 200
    z_dim: int = 16
    batch_size: int = 64
    config: Mapping[str, Any] = field(default_factory=dict)
    after_d_step: Callable[[], Sequence[Callable[[Any], Any]]] | None = None
    callbacks: Callable[[int], Sequence[Any]] | None = None
    note: str = ""

    def __post_init__(self) -> None:
        who = "FastRecipe"
        if not callable(self.models):
            raise TypeError(f"{who}: models must be a callable (sample_shape, z_dim) -> (G, D), got "
                            f"{type(self.models).__name__}.")
        _text(self.loss, "loss", who)
        if self.penalty is not None:
            _text(self.penalty, "penalty", who)
        if self.data not in DATASETS:
            raise ValueError(f"{who}: data must be one of {sorted(DATASETS)}, got {self.data!r}.")
        for name in ("steps", "z_dim", "batch_size"):
            _positive_int(getattr(self, name), name, who)
        if self.steps > 2_000:
            raise ValueError(f"{who}: steps={self.steps} is not a fast recipe (the zoo shares one small budget; "
                             "keep it to a few hundred).")
        if not isinstance(self.config, Mapping):
            raise TypeError(f"{who}: config must be a dict of TrainerConfig overrides, got "
                            f"{type(self.config).__name__}.")
        unknown = sorted(set(self.config) - set(_CONFIG_KEYS))
        if unknown:
            raise ValueError(f"{who}: config may only set {', '.join(_CONFIG_KEYS)}; got {', '.join(unknown)} "
                             "(loss, penalty, steps, batch_size and z_dim are fields of the recipe).")
        for name in ("after_d_step", "callbacks"):
            value = getattr(self, name)
            if value is not None and not callable(value):
                raise TypeError(f"{who}: {name} must be a callable factory or None, got {type(value).__name__}.")
        if not isinstance(self.note, str):
            raise TypeError(f"{who}: note must be a str, got {type(self.note).__name__}.")
        object.__setattr__(self, "config", dict(self.config))

    def describe(self) -> str:
        """One line for the card: ``loss wgan, penalty wgan_gp, n_critic 5, 8x8 digits, 150 steps``."""
        parts = [f"loss `{self.loss}`"]
        if self.penalty is not None:
            parts.append(f"penalty `{self.penalty}`")
        parts += [f"{k} `{v!r}`" if not isinstance(v, str) else f"{k} `{v}`" for k, v in self.config.items()]
        if self.after_d_step is not None:
            parts.append("after-D-step hooks")
        if self.callbacks is not None:
            parts.append("a schedule callback")
        parts.append(f"data `{self.data}`, batch {self.batch_size}, z of {self.z_dim} dims, {self.steps} steps")
        return ", ".join(parts)


@dataclass(frozen=True)
class ZooEntry:
    """One GAN variant: its card in Appendix A and, unless card-only, its fast recipe.

    Attributes:
        key: the registry key, lower case with underscores (``"wgan_gp"``; the PyTorch-GAN name where there is one).
        name: the display name (``"WGAN-GP"``).
        idea: what the variant changes, in one sentence.
        loss_latex: its objective in LaTeX (display math, without ``$$``).
        paper: bibtex keys of ``book/references.bib`` (a str is one key).
        names: dotted ``course_lib`` names that implement it (``"course_lib.gan.penalties.gradient_penalty"``);
            may be empty for a card-only entry.
        chapter: the document of the chapter that teaches it, from the book's root without suffix
            (``"chapters/05_losses_regularizers/theory"``).
        recipe: a :class:`FastRecipe`, a callable ``(steps, seed, device) -> AdversarialTrainer``, or ``None``
            (card only).
        taught_in: for a card-only entry, a sentence saying which chapter will teach it (required then).
    """

    key: str
    name: str
    idea: str
    loss_latex: str
    paper: tuple[str, ...]
    names: tuple[str, ...]
    chapter: str
    recipe: FastRecipe | Callable[..., Any] | None = None
    taught_in: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.key, str) or not _KEY.match(self.key):
            raise ValueError(f"ZooEntry: key must be lower case letters, digits and underscores, starting with a "
                             f"letter, got {self.key!r}.")
        who = f"ZooEntry {self.key!r}"
        _text(self.name, "name", who)
        _text(self.idea, "idea", who)
        if not self.idea.rstrip().endswith("."):
            raise ValueError(f"{who}: idea must be one sentence ending with a full stop, got {self.idea!r}.")
        _text(self.loss_latex, "loss_latex", who)
        if "$$" in self.loss_latex:
            raise ValueError(f"{who}: loss_latex is display math without the $$ delimiters.")
        paper = (self.paper,) if isinstance(self.paper, str) else self.paper
        if not isinstance(paper, (tuple, list)) or not paper or \
                not all(isinstance(k, str) and _BIBKEY.match(k) for k in paper):
            raise ValueError(f"{who}: paper must be one or more bibtex keys, got {self.paper!r}.")
        object.__setattr__(self, "paper", tuple(paper))
        names = (self.names,) if isinstance(self.names, str) else self.names
        if not isinstance(names, (tuple, list)) or not all(isinstance(n, str) and _DOTTED.match(n) for n in names):
            raise ValueError(f"{who}: names must be dotted course_lib names (course_lib.gan.losses.d_loss_wasserstein),"
                             f" got {self.names!r}.")
        object.__setattr__(self, "names", tuple(names))
        if not isinstance(self.chapter, str) or not _CHAPTER.match(self.chapter):
            raise ValueError(f"{who}: chapter must be a document path such as chapters/05_losses_regularizers/theory "
                             f"(no suffix), got {self.chapter!r}.")
        if self.recipe is not None and not isinstance(self.recipe, FastRecipe) and not callable(self.recipe):
            raise TypeError(f"{who}: recipe must be a FastRecipe, a callable (steps, seed, device) -> "
                            f"AdversarialTrainer, or None, got {type(self.recipe).__name__}.")
        if self.recipe is None:
            if not isinstance(self.taught_in, str) or not self.taught_in.strip():
                raise ValueError(f"{who}: a card-only entry (recipe=None) needs taught_in, the chapter that will "
                                 "teach it.")
        elif self.taught_in is not None:
            raise ValueError(f"{who}: taught_in is for card-only entries; this one has a recipe.")
        if not names and self.recipe is not None:
            raise ValueError(f"{who}: an entry with a recipe must name the course_lib code it runs.")

    @property
    def runnable(self) -> bool:
        """Whether the entry has a fast recipe."""
        return self.recipe is not None


_ENTRIES: dict[str, ZooEntry] = {}
_PLANNED: dict[str, ZooEntry] = {}  # card-only placeholders, replaced when a chapter registers the key


def _check_entry(entry: object) -> ZooEntry:
    if not isinstance(entry, ZooEntry):
        raise TypeError(f"expected a ZooEntry, got {type(entry).__name__}.")
    return entry


def register_variant(entry: ZooEntry) -> ZooEntry:
    """Register ``entry`` and return it. Registering an equal entry again is a no-op (a module re-imported);
    another entry under a registered key raises ``ValueError``. It replaces a card-only placeholder of
    :func:`register_planned` under its key (the chapter that teaches it has landed)."""
    entry = _check_entry(entry)
    old = _ENTRIES.get(entry.key)
    if old is not None and old != entry:
        raise ValueError(f"a zoo variant {entry.key!r} is already registered ({old.name}, {old.chapter}); pick "
                         "another key or edit that entry.")
    _ENTRIES[entry.key] = entry
    return entry


def register_planned(entry: ZooEntry) -> ZooEntry:
    """Register a card-only placeholder (``recipe=None``) for a variant whose chapter is not written yet."""
    entry = _check_entry(entry)
    if entry.recipe is not None:
        raise ValueError(f"register_planned is for card-only entries; {entry.key!r} has a recipe: use "
                         "register_variant.")
    old = _PLANNED.get(entry.key)
    if old is not None and old != entry:
        raise ValueError(f"a planned zoo card {entry.key!r} is already registered.")
    _PLANNED[entry.key] = entry
    return entry


#: Modules that register zoo entries (imported on first use; no import-time side effects elsewhere).
_ENTRY_MODULES = (
    "course_lib.gan.zoo_entries",
    "course_lib.gan.progan",
    "course_lib.gan.lapgan",
    "course_lib.gan.stylegan",
    "course_lib.gan.conditional",
    "course_lib.gan.acgan",
    "course_lib.gan.semi_supervised",
    "course_lib.gan.infogan",
    "course_lib.gan.aae",
    "course_lib.gan.clustergan",
    "course_lib.gan.cogan",
    "course_lib.gan.sagan",
    "course_lib.gan.biggan",
    "course_lib.gan.bigan",
    "course_lib.gan.logan",
    "course_lib.gan.unet_gan",
    "course_lib.translation.pix2pix",
    "course_lib.translation.cyclegan",
    "course_lib.translation.unpaired_family",
    "course_lib.translation.stargan",
    "course_lib.translation.pixelda",
    "course_lib.restoration.recipes",
)


def _import_all() -> None:
    for module in _ENTRY_MODULES:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as err:  # a module not written yet
            if err.name != module:
                raise


def variants() -> list[ZooEntry]:
    """Every entry, sorted by chapter, then key: registered ones, and the card-only placeholders not replaced."""
    _import_all()
    merged = {**_PLANNED, **_ENTRIES}
    return sorted(merged.values(), key=lambda e: (e.chapter, e.key))


def runnable_variants() -> list[ZooEntry]:
    """The entries with a fast recipe, in the order of :func:`variants`."""
    return [e for e in variants() if e.runnable]


def get_variant(key: str) -> ZooEntry:
    """The entry registered under ``key`` (``KeyError`` listing the keys if there is none)."""
    if not isinstance(key, str):
        raise TypeError(f"key must be a str, got {type(key).__name__}.")
    _import_all()
    if key in _ENTRIES:
        return _ENTRIES[key]
    if key in _PLANNED:
        return _PLANNED[key]
    raise KeyError(f"no zoo variant {key!r}; registered: {', '.join(e.key for e in variants())}.")


# ----------------------------------------------------------------------------------------------------------------
# Running recipes with the one trainer
# ----------------------------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=None)
def _digits8() -> Tensor:
    from course_lib.data import load_digits_8x8

    return load_digits_8x8(verbose=False)[0]


def zoo_data(name: str) -> Tensor | Callable[[int, torch.Generator], Tensor]:
    """The data of a recipe: a tensor of samples (``"digits8"``) or a sampler ``(n, generator) -> Tensor``
    (``"ring"``), see :data:`DATASETS`."""
    if name == "digits8":
        return _digits8()
    if name == "ring":
        from course_lib.data import ring_of_gaussians

        mixture = ring_of_gaussians()
        return lambda n, generator: mixture.sample(n, generator=generator)
    raise ValueError(f"unknown zoo data {name!r}; one of {sorted(DATASETS)}.")


def _sample_shape(data: Tensor | Callable[[int, torch.Generator], Tensor]) -> tuple[int, ...]:
    if isinstance(data, Tensor):
        return tuple(data.shape[1:])
    return tuple(data(1, torch.Generator().manual_seed(0)).shape[1:])


#: Generator steps of a callable recipe that does not say how many it runs (a ``steps`` attribute).
DEFAULT_CALLABLE_STEPS = 200


def recipe_steps(key_or_entry: str | ZooEntry) -> int:
    """The generator steps a variant's fast recipe runs by default: a :class:`FastRecipe`'s ``steps``, a callable
    recipe's ``steps`` attribute, else :data:`DEFAULT_CALLABLE_STEPS`."""
    recipe = _entry(key_or_entry).recipe
    steps = getattr(recipe, "steps", DEFAULT_CALLABLE_STEPS)
    if isinstance(steps, bool) or not isinstance(steps, int) or steps <= 0:
        raise ValueError(f"the recipe of {_entry(key_or_entry).key!r} has steps={steps!r}; it must be a positive int.")
    return steps


def describe_recipe(key_or_entry: str | ZooEntry) -> str:
    """One line saying what a variant's fast recipe trains: :meth:`FastRecipe.describe`, a callable recipe's own
    ``describe()``, or the first line of its docstring with its steps."""
    entry = _entry(key_or_entry)
    recipe = entry.recipe
    describe = getattr(recipe, "describe", None)
    if callable(describe):
        return str(describe())
    paragraph = " ".join((getattr(recipe, "__doc__", None) or "").strip().split("\n\n")[0].split())
    name = f"{getattr(recipe, '__module__', '?')}.{getattr(recipe, '__qualname__', type(recipe).__name__)}"
    what = paragraph.split(". ")[0].rstrip(".") if paragraph else f"a trainer built by `{name}`"
    return f"{what}; {recipe_steps(entry)} steps"


def _entry(key_or_entry: str | ZooEntry) -> ZooEntry:
    entry = get_variant(key_or_entry) if isinstance(key_or_entry, str) else _check_entry(key_or_entry)
    if entry.recipe is None:
        raise ValueError(f"zoo variant {entry.key!r} is card only ({entry.taught_in}); it has no recipe to run.")
    return entry


def build_trainer(key_or_entry: str | ZooEntry, *, steps: int | None = None, seed: int = 0,
                  device: torch.device | str | None = None, progress: bool = False) -> Any:
    """The :class:`~course_lib.train.AdversarialTrainer` of a variant's recipe, built (not fitted) from ``seed``.

    The global generator is seeded with ``seed`` before the models are built, so two calls build the same
    weights. ``steps`` overrides the recipe's. ``device``: ``None`` is the CPU.
    """
    from course_lib.train import AdversarialTrainer, TrainerConfig

    entry = _entry(key_or_entry)
    recipe = entry.recipe
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be an int >= 0, got {seed!r}.")
    device = torch.device("cpu") if device is None else torch.device(device)
    n_steps = recipe_steps(entry) if steps is None else steps
    _positive_int(n_steps, "steps", f"zoo variant {entry.key!r}")
    torch.manual_seed(seed)
    if not isinstance(recipe, FastRecipe):
        trainer = recipe(steps=n_steps, seed=seed, device=device)
        if not isinstance(trainer, AdversarialTrainer):
            raise TypeError(f"the recipe of {entry.key!r} must return an AdversarialTrainer, got "
                            f"{type(trainer).__name__}.")
        return trainer
    data = zoo_data(recipe.data)
    G, D = recipe.models(_sample_shape(data), recipe.z_dim)
    config = TrainerConfig(
        steps=n_steps, batch_size=recipe.batch_size, z_dim=recipe.z_dim, loss=recipe.loss, penalty=recipe.penalty,
        seed=seed, log_every=max(1, n_steps // 20), sample_every=0, n_samples=64, progress=progress, amp="off",
        **recipe.config,
    )
    hooks = list(recipe.after_d_step()) if recipe.after_d_step is not None else []
    callbacks = list(recipe.callbacks(n_steps)) if recipe.callbacks is not None else []
    return AdversarialTrainer(G, D, data, config, callbacks=callbacks, device=device, after_d_step=hooks)


@dataclass
class ZooRun:
    """What :func:`run_variant` returns: the trained trainer, its final samples (CPU), its losses, its time."""

    key: str
    name: str
    trainer: Any
    samples: Tensor
    history: dict[str, list[float]]
    seconds: float
    cpu_seconds: float

    @property
    def finite(self) -> bool:
        """Whether every logged loss is finite."""
        return all(math.isfinite(v) for k in ("d_loss", "g_loss") for v in self.history[k])


def run_variant(key_or_entry: str | ZooEntry, *, steps: int | None = None, seed: int = 0,
                device: torch.device | str | None = None, n_samples: int = 32, progress: bool = False) -> ZooRun:
    """Train a variant's recipe with the one trainer and return its run (the caller's random state is kept).

    Args:
        key_or_entry: a zoo key or entry with a recipe.
        steps: generator updates (``None``: the recipe's).
        seed: the one seed behind weights, data order and noise.
        device: ``None``: the CPU (these are tiny models, launch-bound on a GPU).
        n_samples: final samples drawn (from the trainer's fixed noise).
    """
    entry = _entry(key_or_entry)
    _positive_int(n_samples, "n_samples", "run_variant")
    dev = torch.device("cpu") if device is None else torch.device(device)
    with torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else []):
        trainer = build_trainer(entry, steps=steps, seed=seed, device=dev, progress=progress)
        wall, cpu = time.perf_counter(), time.process_time()
        history = trainer.fit()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        z = trainer.fixed_noise[:n_samples]
        samples = trainer.sample(z=z).float().cpu()
    return ZooRun(entry.key, entry.name, trainer, samples, {k: list(v) for k, v in history.items()}, wall, cpu)


def run_zoo(keys: Sequence[str] | None = None, *, steps: int | None = None, seed: int = 0,
            device: torch.device | str | None = None, verbose: bool = True) -> list[ZooRun]:
    """:func:`run_variant` for every runnable entry (or ``keys``), printing one line per variant."""
    entries = runnable_variants() if keys is None else [_entry(k) for k in keys]
    runs = []
    for entry in entries:
        run = run_variant(entry, steps=steps, seed=seed, device=device)
        runs.append(run)
        if verbose:
            d, g = run.history["d_loss"], run.history["g_loss"]
            print(f"{entry.key:<18} {run.trainer.step:4d} steps  {run.seconds:5.1f} s  "
                  f"d_loss {d[0]:+.3f} -> {d[-1]:+.3f}  g_loss {g[0]:+.3f} -> {g[-1]:+.3f}")
    return runs


def plot_zoo_samples(runs: Sequence[ZooRun], n: int = 16, columns: int = 5, title: str = "") -> Any:
    """One figure: per run, a 4x4 grid of its images (or a scatter of its 2-D samples). Returns the figure."""
    import matplotlib.pyplot as plt

    if not runs:
        raise ValueError("no runs to plot.")
    rows = math.ceil(len(runs) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(2.6 * columns, 2.8 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, run in zip(axes.flat, runs):
        x = run.samples[:n]
        if x.dim() == 2 and x.shape[1] == 2:
            ax.axis("on")
            ax.scatter(x[:, 0], x[:, 1], s=4)
            ax.set_xlim(-3, 3)
            ax.set_ylim(-3, 3)
            ax.set_xlabel("$x_1$")
            ax.set_ylabel("$x_2$")
        else:
            from course_lib.viz.plots import make_grid_array

            grid = make_grid_array(x, nrow=math.isqrt(x.shape[0]), padding=1)  # values in [-1, 1] -> [0, 1]
            ax.imshow(grid, cmap="gray", vmin=0, vmax=1)
        ax.set_title(f"{run.name}\n{run.trainer.step} steps, {run.seconds:.1f} s", fontsize=9)
    if title:
        fig.suptitle(title)
        fig.tight_layout(rect=(0, 0, 1, 1 - 0.45 / fig.get_figheight()))  # keep the title clear of the first row
    else:
        fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------------------------------------------
# The cards page
# ----------------------------------------------------------------------------------------------------------------
def _label(key: str) -> str:
    return "zoo-" + key.replace("_", "-")


def _chapter_caption(chapter: str) -> str:
    """``chapters/05_losses_regularizers/theory`` -> ``Chapter 5``; an appendix or book page by its folder."""
    match = re.match(r"^chapters/(\d+)_", chapter)
    if match:
        return f"Chapter {int(match.group(1))}"
    return chapter.split("/")[1].replace("_", " ").capitalize()


def render_card(entry: ZooEntry) -> str:
    """The MyST Markdown card of one entry: idea, loss, names, chapter link, paper citation, recipe or plan."""
    entry = _check_entry(entry)
    cites = ", ".join(f"{{cite:t}}`{k}`" for k in entry.paper)
    lines = [
        f"({_label(entry.key)})=",
        f"### {entry.name} (`{entry.key}`)",
        "",
        f"**Idea.** {entry.idea.strip()}",
        "",
        "$$",
        entry.loss_latex.strip(),
        "$$",
        "",
    ]
    if entry.names:
        lines.append("**In `course_lib`:** " + ", ".join(f"`{n}`" for n in entry.names) + ".")
    else:
        lines.append("**In `course_lib`:** nothing yet.")
    lines += ["", f"**Chapter:** {{doc}}`/{entry.chapter}`. **Paper:** {cites}.", ""]
    if isinstance(entry.recipe, FastRecipe):
        line = f"**Fast recipe** (run in the {{doc}}`lab`): {entry.recipe.describe()}."
        if entry.recipe.note:
            line += f" {entry.recipe.note.strip()}"
        lines.append(line)
    elif entry.recipe is not None:
        lines.append(f"**Fast recipe** (run in the {{doc}}`lab`): {describe_recipe(entry).rstrip('.')}.")
    else:
        lines.append(f"**Card only:** {entry.taught_in.strip()} No runnable cell until then.")
    return "\n".join(lines) + "\n"


_PAGE_HEADER = """\
# Appendix A: The GAN zoo

```{{note}}
This page is generated from the zoo registry, `course_lib.zoo`: do not edit it by hand. Register a variant with
`course_lib.zoo.register_variant` and run `python -m course_lib.zoo` to rewrite it; a test fails when the page is
stale.
```

Every GAN variant of the course, and every implementation of the classic PyTorch-GAN collection, has a card here:
the idea in one sentence, the loss, the `course_lib` names that implement it, the chapter that teaches it and the
paper. A variant with a **fast recipe** is trained by the one trainer of the course,
`course_lib.train.AdversarialTrainer`, in the {{doc}}`lab` of this appendix: all of them under one small shared
budget, a few hundred steps each, their samples side by side. A variant whose chapter is not written yet has a
**card only**, which says where it will be taught.

The zoo holds {n_total} variants: {n_run} with a fast recipe and {n_card} with a card only. Of the
{n_pg} PyTorch-GAN implementations, {n_pg_run} have a fast recipe here.

| Variant | Key | Chapter | Fast recipe |
|---|---|---|---|
{table}
"""


def render_page() -> str:
    """The whole cards page (what :data:`PAGE_PATH` must hold)."""
    entries = variants()
    rows = []
    for e in entries:
        rows.append(f"| {{ref}}`{e.name} <{_label(e.key)}>` | `{e.key}` | {{doc}}`/{e.chapter}` | "
                    f"{'yes' if e.runnable else 'card only'} |")
    keys = {e.key: e for e in entries}
    header = _PAGE_HEADER.format(
        n_total=len(entries), n_run=sum(e.runnable for e in entries), n_card=sum(not e.runnable for e in entries),
        n_pg=len(PYTORCH_GAN_NAMES), n_pg_run=sum(1 for k in PYTORCH_GAN_NAMES if k in keys and keys[k].runnable),
        table="\n".join(rows),
    )
    parts = [header]
    chapter = None
    for e in entries:
        if e.chapter != chapter:
            chapter = e.chapter
            parts.append(f"## {_chapter_caption(chapter)}\n")
        parts.append(render_card(e))
    return "\n".join(parts)


def write_page(root: str | Path | None = None, check: bool = False) -> bool:
    """Write the cards page under ``root`` (the repository root; ``None``: this checkout). With ``check``, write
    nothing and return whether the page on disk is up to date; otherwise return whether the file changed."""
    root = Path(__file__).resolve().parent.parent if root is None else Path(root)
    path = root / PAGE_PATH
    text = render_page()
    current = path.read_text() if path.exists() else None
    if check:
        return current == text
    if current != text:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return True
    return False


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m course_lib.zoo [--check]``: write the cards page, or check that it is fresh (exit status 1)."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m course_lib.zoo", description="write Appendix A's cards page")
    parser.add_argument("--check", action="store_true", help="only check that the committed page is fresh")
    args = parser.parse_args(argv)
    if args.check:
        fresh = write_page(check=True)
        print(f"{PAGE_PATH} is {'up to date' if fresh else 'stale: run python -m course_lib.zoo'}")
        return 0 if fresh else 1
    changed = write_page()
    print(f"{PAGE_PATH} {'written' if changed else 'already up to date'}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    # run the imported module's main: the entries register themselves in course_lib.zoo, not in __main__
    from course_lib.zoo import main as _main

    raise SystemExit(_main())
