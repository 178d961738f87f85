"""LR/HR pairs: bicubic x4 against PIL-free references, held-out photos, the offline benchmark fallback."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from course_lib.data.photos import PHOTO_SPLIT, heldout_crops
from course_lib.data.superres import (
    bicubic_downsample,
    bicubic_upsample,
    heldout_photo_pair,
    heldout_sr_pairs,
    load_sr_benchmark,
    sr_pairs,
)


def test_bicubic_downsample_shapes_range_and_constant_images():
    hr = torch.rand(3, 3, 32, 24)
    lr = bicubic_downsample(hr, 4)
    assert lr.shape == (3, 3, 8, 6) and float(lr.min()) >= 0 and float(lr.max()) <= 1
    const = torch.full((1, 3, 16, 16), 0.3)
    torch.testing.assert_close(bicubic_downsample(const), torch.full((1, 3, 4, 4), 0.3))
    torch.testing.assert_close(bicubic_upsample(bicubic_downsample(const)), const)
    # anti-aliased: one lit column in four (far above the new Nyquist frequency) averages to its mean 1/4, where
    # plain bicubic sampling (between columns 1 and 2 of each block) misses the lit column 0
    stripes = (torch.arange(16) % 4 == 0).float().expand(1, 1, 16, 16)
    aa = bicubic_downsample(stripes)
    assert abs(float(aa.mean()) - 0.25) < 0.03 and float((aa - 0.25).abs().max()) < 0.1
    assert float((F.interpolate(stripes, size=(4, 4), mode="bicubic", align_corners=False) - 0.25).abs().max()) > 0.2


def test_pairs_are_deterministic_and_heldout():
    lr, hr = sr_pairs(6, 16, seed=3)
    lr2, hr2 = sr_pairs(6, 16, seed=3)
    assert torch.equal(hr, hr2) and torch.equal(lr, lr2)
    assert lr.shape == (6, 3, 4, 4) and hr.shape == (6, 3, 16, 16)
    torch.testing.assert_close(lr, bicubic_downsample(hr))
    tl, th = heldout_sr_pairs(5, 16, seed=1)
    assert torch.equal(th, heldout_crops(5, 16, 1, scale=0.25))
    assert set(PHOTO_SPLIT["train"]).isdisjoint(PHOTO_SPLIT["test"])
    plr, phr = heldout_photo_pair(0, max_side=64)
    assert phr.shape[-1] % 4 == 0 and phr.shape[-1] <= 64 and plr.shape[-1] * 4 == phr.shape[-1]


def test_benchmark_folder_and_fallback(tmp_path, capsys):
    lrs, hrs, source = load_sr_benchmark(None)
    assert "held-out" in source and len(lrs) == 2 and "instead" in capsys.readouterr().out
    import numpy as np
    from skimage import io

    io.imsave(str(tmp_path / "a.png"), (np.random.default_rng(0).random((18, 21, 3)) * 255).astype(np.uint8))
    lrs, hrs, source = load_sr_benchmark(tmp_path)
    assert hrs[0].shape == (1, 3, 16, 20) and lrs[0].shape == (1, 3, 4, 5) and source == str(tmp_path)


def test_bad_inputs():
    with pytest.raises(ValueError, match="multiples"):
        bicubic_downsample(torch.rand(1, 3, 10, 12), 4)
    with pytest.raises(TypeError):
        bicubic_downsample(torch.rand(1, 3, 8, 8).numpy())
    with pytest.raises(ValueError):
        bicubic_downsample(torch.rand(3, 8, 8))
    with pytest.raises(ValueError, match="multiple"):
        sr_pairs(2, 18)
    with pytest.raises(TypeError):
        sr_pairs(2, 16, scale=4.0)
    with pytest.raises(ValueError):
        heldout_photo_pair(5)


def test_div2k_fetch_uses_an_existing_folder_without_network(tmp_path):
    import numpy as np
    from skimage import io

    from course_lib.data.superres import fetch_div2k_valid

    folder = tmp_path / "DIV2K_valid_HR"
    folder.mkdir()
    io.imsave(str(folder / "0801.png"), (np.random.default_rng(1).random((12, 12, 3)) * 255).astype(np.uint8))
    assert fetch_div2k_valid(tmp_path) == folder  # already there: no download attempted
