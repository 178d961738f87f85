"""Tests of the pix2pix dataset loader with tiny fake archives (never the network): download through a fake
downloader, cache, checksum, safe extraction, layout checks, the side of the input, and the offline fallback."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from course_lib.data.pix2pix_datasets import (
    Pix2PixDatasetError,
    check_layout,
    download_pix2pix,
    load_pix2pix,
    sha256_of,
    split_pair,
)


def _pair_image(k: int, h: int = 8) -> Image.Image:
    """Left half all (10k, 0, 0), right half all (0, 0, 200): which half came back as the input is visible."""
    arr = np.zeros((h, 2 * h, 3), dtype=np.uint8)
    arr[:, :h, 0] = 10 * k
    arr[:, h:, 2] = 200
    return Image.fromarray(arr)


def _archive(path: Path, name: str, splits: dict[str, int], extra: list[tuple[str, bytes]] = (), h: int = 8) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for split, count in splits.items():
            for k in range(count):
                buf = io.BytesIO()
                _pair_image(k + 1, h).save(buf, format="PNG")
                info = tarfile.TarInfo(f"{name}/{split}/{k + 1}.png")
                info.size = len(buf.getvalue())
                tar.addfile(info, io.BytesIO(buf.getvalue()))
        for member, data in extra:
            info = tarfile.TarInfo(member)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


class _Downloader:
    def __init__(self, source: Path):
        self.source, self.calls = source, []

    def __call__(self, url: str, dest: Path) -> None:
        self.calls.append(url)
        dest.write_bytes(self.source.read_bytes())


def test_download_extract_cache_and_direction(tmp_path, capsys):
    src = _archive(tmp_path / "src.tar.gz", "facades", {"train": 3, "val": 2, "test": 2})
    fetch = _Downloader(src)
    root = tmp_path / "cache"
    a, b = load_pix2pix("facades", "train", size=8, root=root, download=True, downloader=fetch)
    assert fetch.calls == ["http://efrosgans.eecs.berkeley.edu/pix2pix/datasets/facades.tar.gz"]
    assert a.shape == (3, 3, 8, 8) and b.shape == (3, 3, 8, 8)
    # facades go labels (right half) -> photo (left half)
    torch.testing.assert_close(a[:, 2], torch.full((3, 8, 8), 200 / 255 * 2 - 1))
    torch.testing.assert_close(b[:, 0, 0, 0], torch.tensor([10, 20, 30]) / 255 * 2 - 1)
    assert "pix2pix facades: 3 train pairs" in capsys.readouterr().out
    assert (root / "facades.tar.gz.sha256").read_text().strip() == sha256_of(src)
    # cached: no second download; a resize to 16
    a2, _ = load_pix2pix("facades", "val", size=16, n=1, root=root, download=True, downloader=fetch)
    assert len(fetch.calls) == 1 and a2.shape == (1, 3, 16, 16)
    # maps/edges2shoes: the left half is the input
    src2 = _archive(tmp_path / "src2.tar.gz", "edges2shoes", {"train": 2, "val": 1})
    a3, b3 = load_pix2pix("edges2shoes", "train", size=8, root=root, download=True, downloader=_Downloader(src2))
    torch.testing.assert_close(a3[:, 0, 0, 0], torch.tensor([10, 20]) / 255 * 2 - 1)


def test_checksum_mismatch_and_recorded_digest(tmp_path):
    src = _archive(tmp_path / "src.tar.gz", "maps", {"train": 1, "val": 1})
    root = tmp_path / "cache"
    with pytest.raises(Pix2PixDatasetError, match="SHA-256"):
        download_pix2pix("maps", root, sha256="0" * 64, downloader=_Downloader(src))
    download_pix2pix("maps", root, sha256=sha256_of(src), downloader=_Downloader(src))
    # a corrupted cache (folder removed, archive altered) is caught by the recorded digest
    import shutil

    shutil.rmtree(root / "maps")
    (root / "maps.tar.gz").write_bytes(b"truncated")
    with pytest.raises(Pix2PixDatasetError, match="SHA-256"):
        download_pix2pix("maps", root)


def test_unreadable_and_unsafe_archives(tmp_path):
    bad = tmp_path / "bad.tar.gz"
    bad.write_bytes(b"this is not gzip")
    with pytest.raises(Pix2PixDatasetError, match="not a readable"):
        download_pix2pix("maps", tmp_path / "c1", downloader=_Downloader(bad))
    evil = _archive(tmp_path / "evil.tar.gz", "maps", {"train": 1, "val": 1}, extra=[("maps/../../escape.txt", b"x")])
    with pytest.raises(Pix2PixDatasetError, match="outside"):
        download_pix2pix("maps", tmp_path / "c2", downloader=_Downloader(evil))
    assert not (tmp_path / "escape.txt").exists()


def test_layout_errors(tmp_path):
    missing = _archive(tmp_path / "m.tar.gz", "facades", {"train": 2, "val": 1})          # no test/
    with pytest.raises(Pix2PixDatasetError, match="test is missing"):
        download_pix2pix("facades", tmp_path / "c1", downloader=_Downloader(missing))
    folder = tmp_path / "maps"
    (folder / "train").mkdir(parents=True)
    (folder / "val").mkdir()
    with pytest.raises(Pix2PixDatasetError, match="no .jpg"):
        check_layout(folder, "maps")
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(folder / "train" / "1.png")
    Image.fromarray(np.zeros((8, 16, 3), np.uint8)).save(folder / "val" / "1.png")
    with pytest.raises(Pix2PixDatasetError, match="side by side"):
        check_layout(folder, "maps")


def test_offline_fallback_is_one_line_and_the_paired_task(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COURSE_OFFLINE", "1")

    def no_network(url, dest):
        raise AssertionError("must not download")

    a, b = load_pix2pix("facades", "train", size=32, n=16, root=tmp_path, downloader=no_network)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("pix2pix facades not available")
    assert "COURSE_OFFLINE=1" in lines[0] and "labels2photo" in lines[0]
    assert a.shape == (16, 3, 32, 32) and b.shape == (16, 3, 32, 32)
    # a failed download falls back too
    monkeypatch.delenv("COURSE_OFFLINE")

    def down(url, dest):
        raise OSError("no route to host")

    a, b = load_pix2pix("edges2shoes", "val", size=16, n=4, root=tmp_path, download=True, downloader=down)
    out = capsys.readouterr().out
    assert "download failed: OSError" in out and a.shape == (4, 1, 16, 16)


def test_bad_input():
    with pytest.raises(ValueError, match="unknown pix2pix dataset"):
        load_pix2pix("cityscapes")
    with pytest.raises(ValueError, match="splits"):
        load_pix2pix("maps", "test")
    with pytest.raises(ValueError, match="size"):
        load_pix2pix("maps", size=4)
    with pytest.raises(ValueError):
        split_pair(torch.zeros(3, 8, 9))
    with pytest.raises(ValueError, match="input_side"):
        split_pair(torch.zeros(3, 8, 16), "top")
