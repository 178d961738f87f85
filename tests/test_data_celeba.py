"""Tests of the CelebA loader on a small fake copy in CelebA's layout (random JPEG photos of 178 x 218), and of its
LFW fallback. Nothing here touches the network: downloads are forbidden or replaced."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

import course_lib.data.celeba as celeba_mod
from course_lib.data import CelebAMissing, default_celeba_root, load_celeba, load_lfw_faces

PARTS = [0, 0, 0, 1, 0, 2, 1, 0]          # the split of each fake photo, in file order


@pytest.fixture
def fake_root(tmp_path) -> Path:
    """ROOT/celeba/{img_align_celeba/*.jpg, list_eval_partition.txt} with 8 photos, as PNG-exact pixels saved as
    quality-100 JPEGs (the tests compare with the decoded files, so JPEG loss does not matter)."""
    folder = tmp_path / "celeba"
    (folder / "img_align_celeba").mkdir(parents=True)
    rng = np.random.default_rng(0)
    lines = []
    for i, part in enumerate(PARTS, 1):
        name = f"{i:06d}.jpg"
        arr = rng.integers(0, 256, size=(218, 178, 3), dtype=np.uint8)
        Image.fromarray(arr).save(folder / "img_align_celeba" / name, quality=100)
        lines.append(f"{name} {part}")
    (folder / "list_eval_partition.txt").write_text("\n".join(lines) + "\n")
    return tmp_path


def _reference(root: Path, names: list[str], crop: int, size: int) -> torch.Tensor:
    """An independent computation: decode, slice the centred square with NumPy, resize with F.interpolate."""
    out = []
    for name in names:
        arr = np.asarray(Image.open(root / "celeba" / "img_align_celeba" / name).convert("RGB"))
        h, w = arr.shape[:2]
        top, left = (h - crop) // 2, (w - crop) // 2
        sq = torch.from_numpy(arr[top:top + crop, left:left + crop].copy()).permute(2, 0, 1)[None].double()
        if size != crop:
            sq = F.interpolate(sq, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
        out.append(sq.clamp(0, 255).round()[0])
    return (torch.stack(out) - 127.5) / 127.5


def test_reads_the_layout_crops_and_resizes(fake_root, capsys):
    x = load_celeba(size=32, root=fake_root, download=False, fallback=False)
    train = [f"{i:06d}.jpg" for i, p in enumerate(PARTS, 1) if p == 0]
    assert x.shape == (len(train), 3, 32, 32) and x.dtype == torch.float32
    assert float(x.min()) >= -1.0 and float(x.max()) <= 1.0
    # uint8 rounding of the resize: at most one grey level apart from the float64 reference
    assert (x.double() - _reference(fake_root, train, 178, 32)).abs().max() <= 1 / 127.5 + 1e-6
    assert "CelebA: 5 train faces" in capsys.readouterr().out


def test_crop_without_resize_is_exact(fake_root):
    x = load_celeba(size=108, crop=108, split="test", root=fake_root, download=False, fallback=False, verbose=False)
    levels = (x.double() * 127.5 + 127.5).round()            # back to the integer grey levels: exact equality
    assert torch.equal(levels, (_reference(fake_root, ["000006.jpg"], 108, 108) * 127.5 + 127.5).round())
    assert (x.double() - _reference(fake_root, ["000006.jpg"], 108, 108)).abs().max() < 1e-7


@pytest.mark.parametrize("split,count", [("train", 5), ("valid", 2), ("test", 1), ("all", 8)])
def test_splits_and_n(fake_root, split, count):
    x = load_celeba(size=16, split=split, root=fake_root, download=False, verbose=False)
    assert x.shape[0] == count
    first = load_celeba(size=16, split=split, n=1, root=fake_root, download=False, verbose=False)
    assert torch.equal(first, x[:1])
    with pytest.raises(ValueError, match="larger than CelebA"):
        load_celeba(size=16, split=split, n=count + 1, root=fake_root, download=False, verbose=False)


def test_cache_is_written_and_reused(fake_root, monkeypatch, capsys):
    a = load_celeba(size=16, root=fake_root, download=False)
    cached = list((fake_root / "celeba" / "course_lib_cache").glob("*.pt"))
    assert len(cached) == 1 and "(decoded)" in capsys.readouterr().out
    monkeypatch.setattr(celeba_mod, "_decode", lambda *a, **k: pytest.fail("the cache should be used"))
    b = load_celeba(size=16, root=fake_root, download=False)
    assert torch.equal(a, b) and "(cached)" in capsys.readouterr().out
    torch.save(torch.zeros(2, 3), cached[0])                  # a foreign file under the cache's name: decoded again
    monkeypatch.undo()
    assert torch.equal(load_celeba(size=16, root=fake_root, download=False, verbose=False), a)
    load_celeba(size=16, root=fake_root, download=False, cache=False, verbose=False)


def test_fallback_to_lfw_when_offline(tmp_path, capsys):
    x = load_celeba(size=32, root=tmp_path, download=False)
    out = capsys.readouterr().out
    assert "CelebA not available" in out and "list_eval_partition.txt is missing" in out and "download=False" in out
    lfw = load_lfw_faces(size=32, verbose=False)
    assert x.shape == (100, 3, 32, 32) and all(torch.equal(x[:, c:c + 1], lfw) for c in range(3))
    assert load_celeba(size=32, n=10, root=tmp_path, download=False, verbose=False).shape[0] == 10


def test_no_fallback_raises_with_the_folder(tmp_path):
    with pytest.raises(CelebAMissing, match="Put the files in"):
        load_celeba(root=tmp_path, download=False, fallback=False)


def test_default_decision_follows_the_profile(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(celeba_mod, "_download", lambda root: pytest.fail("must not download offline"))
    monkeypatch.setenv("COURSE_OFFLINE", "1")
    load_celeba(size=8, root=tmp_path, n=2)
    assert "COURSE_OFFLINE=1" in capsys.readouterr().out


def test_failed_download_falls_back_and_says_why(tmp_path, monkeypatch, capsys):
    def refuse(root):
        raise RuntimeError("Too many users have viewed or downloaded this file recently\nmore")

    monkeypatch.setattr(celeba_mod, "_download", refuse)
    x = load_celeba(size=8, root=tmp_path, download=True, n=3)
    out = capsys.readouterr().out
    assert x.shape == (3, 3, 8, 8) and "the download failed (RuntimeError: Too many users" in out


def test_successful_download_is_read(tmp_path, fake_root, monkeypatch):
    def fake_download(root):                   # what torchvision leaves behind: the layout under root/celeba
        import shutil
        shutil.copytree(fake_root / "celeba", Path(root) / "celeba")

    monkeypatch.setattr(celeba_mod, "_download", fake_download)
    x = load_celeba(size=16, root=tmp_path / "new", download=True, fallback=False, verbose=False)
    assert x.shape == (5, 3, 16, 16)


def test_incomplete_copy_is_named(fake_root):
    (fake_root / "celeba" / "img_align_celeba" / "000008.jpg").unlink()
    with pytest.raises(CelebAMissing, match="lacks 000008.jpg"):
        load_celeba(size=16, root=fake_root, download=False, verbose=False)


def test_malformed_partition_file(fake_root):
    (fake_root / "celeba" / "list_eval_partition.txt").write_text("000001.jpg 0\n000002.jpg train\n")
    with pytest.raises(ValueError, match="line 2"):
        load_celeba(size=16, root=fake_root, download=False, verbose=False)


def test_crop_larger_than_photo(fake_root):
    with pytest.raises(ValueError, match="crop=200 is larger"):
        load_celeba(size=16, crop=200, root=fake_root, download=False, verbose=False)


@pytest.mark.parametrize("kwargs,err,match", [
    ({"size": 0}, ValueError, "size must be >= 1"),
    ({"size": 64.0}, TypeError, "size must be an int"),
    ({"split": "val"}, ValueError, "split must be one of"),
    ({"n": 0}, ValueError, "n must be >= 1"),
    ({"n": True}, TypeError, "n must be an int"),
    ({"download": "yes"}, TypeError, "download must be"),
    ({"fallback": 1}, TypeError, "fallback must be a bool"),
    ({"root": 3}, TypeError, "root must be a path"),
])
def test_bad_arguments(tmp_path, kwargs, err, match):
    with pytest.raises(err, match=match):
        load_celeba(**{"root": tmp_path, "download": False, **kwargs})


def test_default_root(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    assert default_celeba_root() == tmp_path
    monkeypatch.delenv("COURSE_DATA_DIR")
    assert default_celeba_root() == Path.home() / ".cache" / "course_lib"
