"""Offline unpaired data (photo <-> night/painterly), the MNIST-M-like domain and CycleGAN's dataset loader (with a
fake archive and a fake fetch: never the network)."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from course_lib.data import cyclegan_datasets as cds
from course_lib.data.mnistm import blend_digits, load_mnist_rgb, load_mnistm_like
from course_lib.data.unpaired import (apply_style, heldout_unpaired, to_night, to_painterly, unpaired_photos,
                                      unpaired_sampler)


def test_night_is_the_stated_pixel_map():
    x = torch.rand(2, 3, 4, 4)
    m = torch.tensor([[0.45, 0.25, 0.05], [0.15, 0.50, 0.15], [0.20, 0.30, 0.85]])
    expected = np.clip(np.einsum("oc,nchw->nohw", m.numpy(), x.numpy() ** 1.8), 0, 1)
    np.testing.assert_allclose(to_night(x).numpy(), expected, rtol=1e-5, atol=1e-6)


def test_painterly_against_scipy_blur():
    from scipy import ndimage

    x = torch.rand(1, 3, 6, 7, dtype=torch.float64)
    blurred = np.stack([ndimage.uniform_filter(x[0, c].numpy(), 3, mode="mirror") for c in range(3)])
    grey = blurred.mean(0, keepdims=True)
    vivid = np.clip(grey + 2 * (blurred - grey), 0, 1)
    expected = np.round(vivid * 5) / 5
    got = to_painterly(x)[0].numpy()
    assert np.mean(np.abs(got - expected) < 1e-9) > 0.98  # ties at the rounding boundary aside
    assert set(np.unique(np.round(got * 5, 6))) <= {0, 1, 2, 3, 4, 5}


def test_unpaired_photos_are_independent_crops_in_range():
    a, b = unpaired_photos(16, 32, "night", seed=0, verbose=False)
    assert a.shape == b.shape == (16, 3, 32, 32)
    assert a.min() >= -1 and a.max() <= 1 and b.min() >= -1 and b.max() <= 1
    # b[i] is not the styled a[i]: the crops are drawn independently
    assert (apply_style((a + 1) / 2, "night") * 2 - 1 - b).abs().mean() > 0.05
    a2, _ = unpaired_photos(16, 32, "night", seed=0, verbose=False)
    assert torch.equal(a, a2)


def test_heldout_pairs_carry_the_true_translation():
    a, sa = heldout_unpaired(8, 32, "painterly")
    torch.testing.assert_close(sa, apply_style((a + 1) / 2, "painterly") * 2 - 1)


def test_sampler_draws_fresh_minibatches():
    sample = unpaired_sampler(16, "night", scale=0.125)
    g = torch.Generator().manual_seed(0)
    a1, b1 = sample(4, g)
    a2, _ = sample(4, g)
    assert a1.shape == b1.shape == (4, 3, 16, 16) and not torch.equal(a1, a2)


def test_unpaired_bad_inputs():
    with pytest.raises(ValueError, match="style"):
        apply_style(torch.zeros(1, 3, 4, 4), "sepia")
    with pytest.raises(ValueError):
        to_night(torch.zeros(1, 1, 4, 4))
    with pytest.raises(TypeError):
        unpaired_photos(2.0, verbose=False)


def test_mnistm_like_blend_and_splits():
    d = torch.tensor([[[[0.0, 1.0]]]])
    p = torch.tensor([[[[0.2, 0.2]], [[0.9, 0.9]], [[0.5, 0.5]]]])
    torch.testing.assert_close(blend_digits(d, p), torch.tensor([[[[0.2, 0.8]], [[0.9, 0.1]], [[0.5, 0.5]]]]))
    x, y = load_mnistm_like(True, n=32, verbose=False)
    xt, yt = load_mnistm_like(False, n=32, verbose=False)
    xs, ys = load_mnist_rgb(True, n=32)
    assert x.shape == xt.shape == xs.shape == (32, 3, 28, 28) and torch.equal(y, ys)
    assert x.min() >= -1 and x.max() <= 1
    assert torch.equal(xs[:, 0], xs[:, 1])
    # the digits survive the blend: where the stroke is white, the colour is the photo's inverted
    digit01 = (xs[:, :1] + 1) / 2
    assert not torch.equal(x, xs) and ((x + 1) / 2 - digit01).abs().mean() > 0.1
    with pytest.raises(ValueError):
        blend_digits(torch.zeros(2, 1, 4, 4), torch.zeros(3, 3, 4, 4))


def _fake_archive(tmp_path, name="horse2zebra", splits=("trainA", "trainB", "testA", "testB")):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for split in splits:
            for k in range(3):
                img = Image.fromarray(np.full((20, 24, 3), 40 * k + (100 if "B" in split else 0), np.uint8))
                data = io.BytesIO()
                img.save(data, format="PNG")
                z.writestr(f"{name}/{split}/{k}.png", data.getvalue())
    return buf.getvalue()


def test_cyclegan_loader_with_a_fake_archive(tmp_path):
    payload = _fake_archive(tmp_path)
    calls = []

    def fetch(url, dest):
        calls.append(url)
        dest.write_bytes(payload)

    a, b = cds.load_cyclegan("horse2zebra", tmp_path, split="train", n=2, size=8, fetch=fetch)
    assert calls == [cds.CYCLEGAN_URL.format(name="horse2zebra")]
    assert a.shape == b.shape == (2, 3, 8, 8)
    assert b.mean() > a.mean()  # domain B's fake images are brighter
    assert (tmp_path / "horse2zebra.zip.sha256").read_text().strip() == cds.sha256_of(tmp_path / "horse2zebra.zip")
    # a second call reads the extracted folder, no download
    cds.load_cyclegan("horse2zebra", tmp_path, split="test", size=8, fetch=fetch)
    assert len(calls) == 1


def test_checksum_mismatch_and_layout_errors(tmp_path):
    payload = _fake_archive(tmp_path)
    (tmp_path / "horse2zebra.zip").write_bytes(payload)
    with pytest.raises(cds.DatasetError, match="SHA-256"):
        cds.download_archive("horse2zebra", tmp_path, download=False, expected_sha256="0" * 64)
    assert cds.download_archive("horse2zebra", tmp_path, download=False,
                                expected_sha256=cds.sha256_of(tmp_path / "horse2zebra.zip")).is_file()
    bad = tmp_path / "bad"
    (bad / "trainA").mkdir(parents=True)
    with pytest.raises(cds.DatasetError, match="trainB"):
        cds.check_layout(bad)
    with pytest.raises(ValueError, match="unknown"):
        cds.load_cyclegan("cat2dog", tmp_path)
    with pytest.raises(cds.DatasetError, match="download=False"):
        cds.download_archive("monet2photo", tmp_path, download=False)


def test_offline_fallback_in_one_line(tmp_path, capsys):
    def no_network(url, dest):
        raise OSError("no route to host")

    a, b, source = cds.load_cyclegan_or_offline("monet2photo", tmp_path, n=4, size=32, fetch=no_network)
    out = capsys.readouterr().out.strip().splitlines()
    assert source == "offline-night" and a.shape == b.shape == (4, 3, 32, 32)
    assert len(out) == 1 and "unavailable" in out[0] and "offline" in out[0]
