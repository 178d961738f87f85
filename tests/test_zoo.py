"""The GAN zoo (course_lib.zoo), tested from the registry itself: every recipe builds and trains a handful of steps
on the CPU with finite losses, every card renders with what it must show, the committed Appendix A page is what the
generator writes, and bad entries are refused with clear errors."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest
import torch

from course_lib import zoo
from course_lib.zoo import FastRecipe, ZooEntry

ROOT = Path(__file__).resolve().parent.parent
ENTRIES = zoo.variants()
RUNNABLE = [e.key for e in ENTRIES if e.runnable]
BIB_KEYS = set(re.findall(r"^@\w+\{([^,]+),", (ROOT / "book" / "references.bib").read_text(), flags=re.M))


def _resolve(dotted: str):
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr)
        return obj
    raise ImportError(dotted)


def test_coverage_every_pytorch_gan_name_and_every_chapter_variant():
    keys = {e.key for e in ENTRIES}
    assert set(zoo.PYTORCH_GAN_NAMES) <= keys
    chapters_2_to_5 = {"gan", "dcgan", "wgan", "wgan_gp", "wgan_div", "lsgan", "dragan", "relativistic_gan",
                       "softmax_gan", "bgan", "ebgan", "began"}
    chapter_9 = {"lapgan", "progan", "stylegan", "stylegan2"}
    assert chapters_2_to_5 | chapter_9 <= set(RUNNABLE)
    assert len(keys) == len(ENTRIES)  # no key twice


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.key)
def test_entry_fields_point_at_real_things(entry):
    assert set(entry.paper) <= BIB_KEYS, f"{entry.key}: unknown bibtex keys {set(entry.paper) - BIB_KEYS}"
    assert (ROOT / f"{entry.chapter}.md").is_file(), f"{entry.key}: no page {entry.chapter}.md"
    for name in entry.names:
        assert _resolve(name) is not None
    if entry.runnable:
        assert entry.taught_in is None and entry.names
    else:
        assert "hapter" in entry.taught_in


@pytest.mark.parametrize("key", RUNNABLE)
def test_every_recipe_builds_and_trains_a_few_steps_with_finite_losses(key):
    trainer = zoo.build_trainer(key, steps=3, seed=0)
    history = trainer.fit()
    assert trainer.step == 3
    losses = torch.tensor(history["d_loss"] + history["g_loss"])
    assert losses.numel() > 0 and torch.isfinite(losses).all()
    samples = trainer.sample(n=4)
    assert torch.isfinite(samples).all() and samples.shape[0] == 4


def test_run_variant_returns_samples_and_keeps_the_global_random_state():
    state = torch.get_rng_state()
    run = zoo.run_variant("gan", steps=4, n_samples=9)
    assert torch.equal(torch.get_rng_state(), state)
    assert run.samples.shape == (9, 1, 8, 8) and run.finite and run.trainer.step == 4
    again = zoo.run_variant("gan", steps=4, n_samples=9)
    assert torch.equal(run.samples, again.samples)  # one seed behind everything


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.key)
def test_every_card_renders(entry):
    card = zoo.render_card(entry)
    assert card.startswith(f"(zoo-{entry.key.replace('_', '-')})=\n### {entry.name}")
    assert entry.idea in card and entry.loss_latex in card
    assert f"{{doc}}`/{entry.chapter}`" in card
    assert all(f"{{cite:t}}`{k}`" in card for k in entry.paper)
    assert all(f"`{n}`" in card for n in entry.names)
    if entry.runnable:
        assert "**Fast recipe**" in card and "Card only" not in card
    else:
        assert "**Card only:**" in card and entry.taught_in in card and "Fast recipe" not in card


def test_the_committed_page_is_what_the_generator_writes():
    assert (ROOT / zoo.PAGE_PATH).read_text() == zoo.render_page(), "stale: run python -m course_lib.zoo"
    assert zoo.write_page(check=True)


# --- the registry's errors -------------------------------------------------------------------------------------
def _entry(**changes):
    fields = dict(key="test_variant", name="Test", idea="A test variant.", loss_latex="L = 0", paper=("goodfellow2014gan",),
                  names=("course_lib.gan.losses.d_loss_minimax",), chapter="chapters/02_original_gan/theory",
                  recipe=None, taught_in="Chapter 2 will teach it.")
    fields.update(changes)
    return ZooEntry(**fields)


@pytest.fixture
def clean_registry():
    entries, planned = dict(zoo._ENTRIES), dict(zoo._PLANNED)
    yield
    zoo._ENTRIES.clear()
    zoo._ENTRIES.update(entries)
    zoo._PLANNED.clear()
    zoo._PLANNED.update(planned)


def test_duplicates_unknown_keys_and_replacing_a_placeholder(clean_registry):
    with pytest.raises(KeyError, match="no zoo variant 'nope'"):
        zoo.get_variant("nope")
    with pytest.raises(ValueError, match="already registered"):
        zoo.register_variant(_entry(key="gan"))
    same = zoo.get_variant("lsgan")
    assert zoo.register_variant(same) is same  # re-registering the same entry is a no-op
    # two card-only placeholders of a chapter "not written yet" (every real one has been replaced by now)
    key, other = "test_card_a", "test_card_b"
    for k in (key, other):
        zoo.register_planned(_entry(key=k, name=f"Card {k}"))
    with pytest.raises(ValueError, match="already registered"):
        zoo.register_planned(_entry(key=key, name="Another card"))
    placeholder = zoo.get_variant(key)
    assert not placeholder.runnable
    recipe = FastRecipe(zoo.get_variant("gan").recipe.models, steps=2)
    taught = _entry(key=key, name=placeholder.name, recipe=recipe, taught_in=None)
    zoo.register_variant(taught)  # the chapter landed: the placeholder is replaced, no error
    assert zoo.get_variant(key) is taught
    assert sum(e.key == key for e in zoo.variants()) == 1
    with pytest.raises(ValueError, match="card only"):
        zoo.run_variant(other)
    with pytest.raises(ValueError, match="register_variant"):
        zoo.register_planned(taught)


@pytest.mark.parametrize("changes,error,match", [
    ({"key": "Bad Key"}, ValueError, "key"),
    ({"name": ""}, TypeError, "name"),
    ({"idea": "no full stop"}, ValueError, "sentence"),
    ({"loss_latex": "$$L$$"}, ValueError, "delimiters"),
    ({"paper": ()}, ValueError, "bibtex"),
    ({"names": ("torch.nn.Linear",)}, ValueError, "dotted"),
    ({"chapter": "chapters/02_original_gan/theory.md"}, ValueError, "suffix"),
    ({"taught_in": None}, ValueError, "taught_in"),
    ({"recipe": 3, "taught_in": None}, TypeError, "recipe"),
])
def test_bad_entries_are_refused(changes, error, match):
    with pytest.raises(error, match=match):
        _entry(**changes)


def test_bad_recipes_are_refused():
    models = zoo.get_variant("gan").recipe.models
    with pytest.raises(ValueError, match="config may only set"):
        FastRecipe(models, config={"steps": 3})
    with pytest.raises(ValueError, match="data"):
        FastRecipe(models, data="imagenet")
    with pytest.raises(ValueError, match="fast recipe"):
        FastRecipe(models, steps=100_000)
    with pytest.raises(TypeError, match="models"):
        FastRecipe("mlp")
    with pytest.raises(TypeError):
        zoo.register_variant("gan")


def test_callable_recipes_say_their_steps_and_what_they_train(clean_registry):
    def recipe(steps, seed, device):
        """Trains the plain GAN of chapter 2. More text that the one-line description leaves out."""
        return zoo.build_trainer("gan", steps=steps, seed=seed, device=device)

    recipe.steps = 7
    zoo.register_variant(_entry(key="test_callable", recipe=recipe, taught_in=None))
    assert zoo.recipe_steps("test_callable") == 7
    assert zoo.describe_recipe("test_callable") == "Trains the plain GAN of chapter 2; 7 steps"
    run = zoo.run_variant("test_callable", n_samples=4)
    assert run.trainer.step == 7  # the recipe's own steps, not a default
    assert "Trains the plain GAN of chapter 2; 7 steps." in zoo.render_card(zoo.get_variant("test_callable"))

    def bare(steps, seed, device):
        return zoo.build_trainer("gan", steps=steps, seed=seed, device=device)

    zoo.register_variant(_entry(key="test_bare", recipe=bare, taught_in=None))
    assert zoo.recipe_steps("test_bare") == zoo.DEFAULT_CALLABLE_STEPS
    assert zoo.describe_recipe("test_bare").startswith("a trainer built by `")
    bare.steps = 0
    with pytest.raises(ValueError, match="positive int"):
        zoo.recipe_steps("test_bare")


def test_plot_zoo_samples_draws_one_panel_per_run_with_a_clear_title():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = [zoo.run_variant(k, steps=2, n_samples=4) for k in ("gan", "cogan")]
    fig = zoo.plot_zoo_samples(runs, n=4, columns=4, title="two recipes")
    shown = [ax for ax in fig.axes if ax.images]
    assert len(shown) == 2 and fig.get_figwidth() == pytest.approx(4 * 2.6)
    top_of_axes = max(ax.get_position().y1 for ax in fig.axes)
    assert top_of_axes < 1 - 0.3 / fig.get_figheight()  # room left for the suptitle
    plt.close(fig)
    with pytest.raises(ValueError, match="no runs"):
        zoo.plot_zoo_samples([])
