"""The course's MNIST feature network (shipped weights, their recipe, the one-call API), the Inception fallback,
and the loss study at toy size."""

from __future__ import annotations

import math

import matplotlib
import pytest
import torch

from course_lib.data.mnist import load_bundled_mnist
from course_lib.metrics import FeatureExtractor, course_fid, course_inception_score, course_precision_recall
from course_lib.metrics import features as feat
from course_lib.metrics.study import loss_study, plot_study, real_baseline, study_table


def test_shipped_weights_are_the_recorded_file():
    assert feat.WEIGHTS_PATH.is_file()
    assert feat.WEIGHTS_PATH.stat().st_size < 300_000  # a few hundred KB at most
    assert feat.file_sha256(feat.WEIGHTS_PATH) == feat.WEIGHTS_SHA256


def test_shipped_weights_have_the_recorded_test_accuracy():
    assert feat.test_accuracy() == pytest.approx(feat.RECORDED_TEST_ACCURACY, abs=1e-12)
    assert feat.RECORDED_TEST_ACCURACY > 0.95


def test_the_recipe_is_deterministic_and_save_is_path_independent(tmp_path):
    """Two runs of the recipe (shortened here) give the same bits, and the file bytes do not depend on its name."""
    net_a, _ = feat.train_mnist_feature_net(seed=3, epochs=1, n_train=64)
    net_b, _ = feat.train_mnist_feature_net(seed=3, epochs=1, n_train=64)
    assert all(torch.equal(x, y) for x, y in zip(net_a.state_dict().values(), net_b.state_dict().values()))
    assert feat.save_weights(net_a, tmp_path / "one.pt") == feat.save_weights(net_b, tmp_path / "other_name.pt")


def test_feature_extractor_shapes_ranges_and_batches():
    x, _ = load_bundled_mnist(train=False)
    x = x[:120]
    fx = FeatureExtractor(batch_size=50)
    f = fx.features(x)
    assert f.shape == (120, 64) and f.dtype == torch.float32 and fx.dim == 64
    assert torch.allclose(FeatureExtractor(batch_size=1000).features(x), f, atol=1e-5)
    assert torch.allclose(fx.features((x + 1) / 2, value_range=(0, 1)), f, atol=1e-5)  # [0, 1] images
    assert torch.allclose(fx.features(x.reshape(120, 784)), f)
    p = fx.probabilities(x)
    assert p.shape == (120, 10) and torch.allclose(p.sum(1), torch.ones(120), atol=1e-5)


def test_feature_extractor_bad_inputs():
    fx = FeatureExtractor()
    with pytest.raises(ValueError, match="value_range"):
        fx.features(torch.rand(4, 1, 28, 28) * 255)
    with pytest.raises(ValueError, match="shape"):
        fx.features(torch.zeros(4, 3, 28, 28))
    with pytest.raises(TypeError, match="floating"):
        fx.features(torch.zeros(4, 1, 28, 28, dtype=torch.uint8))
    with pytest.raises(ValueError, match="NaN"):
        fx.features(torch.full((2, 1, 28, 28), float("nan")))
    with pytest.raises(ValueError, match="network"):
        FeatureExtractor("vgg")


def test_one_call_api_real_against_real_and_against_noise():
    real, _ = load_bundled_mnist(train=False)
    train, _ = load_bundled_mnist(train=True)
    noise = torch.rand(300, 1, 28, 28, generator=torch.Generator().manual_seed(0)) * 2 - 1
    close = course_fid(real[:300], train[:300])
    far = course_fid(real[:300], noise)
    assert 0 < close < far / 10
    mean, std = course_inception_score(real)
    assert 7.0 < mean <= 10.0 and std >= 0  # a 96 %-accurate classifier on balanced real digits
    pr = course_precision_recall(real[:300], noise)
    assert pr["precision"] == 0.0


def test_inception_unavailable_falls_back_with_one_line(capsys, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_pytorch_fid(name, *args, **kwargs):
        if name.startswith("pytorch_fid"):
            raise ImportError("no pytorch_fid here")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pytorch_fid)
    fx = FeatureExtractor("inception")
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and "Inception-FID unavailable" in out[0] and "not comparable" in out[0]
    assert fx.network == "mnist"
    with pytest.raises(RuntimeError, match="pytorch-fid"):
        FeatureExtractor("inception", fallback=False)


def test_loss_study_at_toy_size():
    matplotlib.use("Agg")
    rows = loss_study(losses=("hinge", "wgan_gp"), seeds=(0, 1), steps=2, n_eval=40, batch_size=16)
    assert [(r["loss"], r["seed"]) for r in rows] == [("hinge", 0), ("hinge", 1), ("wgan_gp", 0), ("wgan_gp", 1)]
    assert all(math.isfinite(r["fid"]) and 0 <= r["precision"] <= 1 for r in rows)
    assert rows[0]["samples"].shape == (64, 1, 28, 28)
    again = loss_study(losses=("hinge",), seeds=(0,), steps=2, n_eval=40, batch_size=16)
    assert again[0]["fid"] == rows[0]["fid"]  # one seed fixes everything
    table = study_table(rows)
    assert table.count("\n") == 3 and "| hinge | 2 |" in table
    fig = plot_study(rows, baseline=real_baseline(100)["fid"])
    assert fig.axes[0].get_ylabel().startswith("FID")
    with pytest.raises(ValueError, match="autoencoder"):
        loss_study(losses=("ebgan",), seeds=(0,), steps=1)
    with pytest.raises(ValueError, match="seeds"):
        loss_study(seeds=3)
