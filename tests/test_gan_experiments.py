"""Tests of course_lib.gan.experiments: the mode-collapse experiment reproduces from its seed, leaves the caller's
random state alone, runs every kind of variant (plain, clipped, penalised, autoencoder energies), and its table and
figure are well formed."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pytest
import torch

from course_lib.data import mode_coverage, ring_of_gaussians
from course_lib.gan import experiments as E

TINY = dict(batch_size=32, z_dim=4, hidden=(16, 16), n_eval=300)


def test_the_experiment_reproduces_from_its_seed():
    torch.manual_seed(123)
    state = torch.get_rng_state()
    threads = torch.get_num_threads()
    a = E.mode_collapse_experiment(["hinge", "wgan_gp"], steps=30, seed=3, **TINY)
    assert torch.equal(torch.get_rng_state(), state)  # the caller's global RNG is untouched
    assert torch.get_num_threads() == threads
    b = E.mode_collapse_experiment(["hinge", "wgan_gp"], steps=30, seed=3, **TINY)
    assert [r["loss"] for r in a] == ["hinge", "wgan_gp"]
    for ra, rb in zip(a, b):
        assert torch.equal(ra["samples"], rb["samples"])
        for key in ("modes_covered", "n_modes", "high_quality_fraction", "counts", "final_d_loss", "final_g_loss"):
            assert ra[key] == rb[key], key
    c = E.mode_collapse_experiment(["hinge"], steps=30, seed=4, **TINY)
    assert not torch.equal(c[0]["samples"], a[0]["samples"])  # another seed, another run


def test_results_are_the_metric_of_the_samples():
    (row,) = E.mode_collapse_experiment(["non_saturating"], steps=20, seed=0, **TINY)
    assert row["samples"].shape == (300, 2) and row["samples"].device.type == "cpu"
    ref = mode_coverage(row["samples"], ring_of_gaussians())
    assert row["modes_covered"] == ref["modes_covered"] and row["counts"] == ref["counts"].tolist()
    assert row["high_quality_fraction"] == ref["high_quality_fraction"] and row["n_modes"] == 8
    assert row["steps"] == 20 and row["seconds"] > 0


@pytest.mark.parametrize("name", ["wgan", "ebgan", "began", "ragan", "r1"])
def test_every_kind_of_variant_runs(name):
    (row,) = E.mode_collapse_experiment([name], steps=5, seed=0, **TINY)
    assert torch.isfinite(row["samples"]).all() and row["nonfinite_skips"] == {"discriminator": 0, "generator": 0}
    assert row["description"]


def test_format_table_and_figure():
    rows = [
        {"loss": "hinge", "modes_covered": 8, "n_modes": 8, "high_quality_fraction": 0.7134, "seconds": 4.21,
         "samples": torch.zeros(3, 2)},
        {"loss": "minimax", "modes_covered": 1, "n_modes": 8, "high_quality_fraction": 0.05, "seconds": 12.0,
         "samples": torch.ones(3, 2)},
    ]
    assert E.format_table(rows).splitlines() == [
        "| loss | modes covered | high-quality samples (%) | time (s) |",
        "|:-----|:-------------:|-------------------------:|---------:|",
        "| hinge | 8 / 8 | 71.3 | 4.2 |",
        "| minimax | 1 / 8 | 5.0 | 12.0 |",
    ]
    fig = E.plot_samples_grid(rows, ncols=4)
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert len(axes) == 2 and axes[0].get_title().startswith("hinge: 8/8")
    with pytest.raises(ValueError, match="non-empty"):
        E.format_table([])
    with pytest.raises(ValueError, match="keys"):
        E.format_table([{"loss": "x"}])


@pytest.mark.parametrize(
    "kwargs, err, match",
    [
        ({"losses": []}, ValueError, "non-empty"),
        ({"losses": "hinge"}, ValueError, "list of names"),
        ({"losses": ["wasserstein"]}, ValueError, "unknown variant 'wasserstein'"),
        ({"losses": [3]}, TypeError, "name"),
        ({"losses": ["hinge"], "steps": 0}, ValueError, "steps"),
        ({"losses": ["hinge"], "seed": -1}, ValueError, "seed"),
        ({"losses": ["hinge"], "num_threads": 0}, ValueError, "num_threads"),
        ({"losses": ["hinge"], "mixture": "ring"}, TypeError, "GaussianMixture2D"),
    ],
)
def test_bad_inputs(kwargs, err, match):
    with pytest.raises(err, match=match):
        E.mode_collapse_experiment(**kwargs)
