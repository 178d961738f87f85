"""Tests of the colour photo data (:mod:`course_lib.data.photos`): the split, the loader against scikit-image's own
loaders, crops against direct slicing, determinism, augmentation, and bad input. No network."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from course_lib.data.photos import PHOTO_NAMES, PHOTO_SPLIT, heldout_crops, load_photos, random_crops


def test_split_is_disjoint_and_covers_the_names():
    train, test = set(PHOTO_SPLIT["train"]), set(PHOTO_SPLIT["test"])
    assert train.isdisjoint(test)
    assert train | test == set(PHOTO_NAMES)
    assert len(test) >= 1 and len(train) >= 3


def test_photos_match_scikit_image_loaders():
    from skimage import data as d

    reference = {"astronaut": d.astronaut(), "chelsea": d.chelsea(), "coffee": d.coffee(), "rocket": d.rocket(),
                 "motorcycle_left": d.stereo_motorcycle()[0], "hubble_deep_field": d.hubble_deep_field(),
                 "immunohistochemistry": d.immunohistochemistry()}
    assert set(reference) == set(PHOTO_NAMES)
    photos = dict(zip(PHOTO_NAMES, load_photos("all")))
    for name, ref in reference.items():
        t = photos[name]
        assert t.dtype == torch.float32 and t.shape == (3, ref.shape[0], ref.shape[1]), name
        np.testing.assert_allclose(t.permute(1, 2, 0).numpy(), ref.astype(np.float32) / 255.0, atol=1e-7)
        assert 0.0 <= float(t.min()) and float(t.max()) <= 1.0


def test_split_order_and_scale(capsys):
    train = load_photos("train", verbose=True)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Photos (train): 5 colour photos")
    assert "astronaut 512x512" in lines[0]
    assert len(train) == len(PHOTO_SPLIT["train"])
    half = load_photos("train", scale=0.5)
    for full, small in zip(train, half):
        assert small.shape[-2:] == (round(full.shape[-2] / 2), round(full.shape[-1] / 2))
        assert 0.0 <= float(small.min()) and float(small.max()) <= 1.0
        # anti-aliased halving of a smooth photo: the mean colour is kept
        torch.testing.assert_close(small.mean((1, 2)), full.mean((1, 2)), atol=5e-3, rtol=0)
    # a returned tensor is a copy: editing it does not change the next load
    train[0].zero_()
    assert float(load_photos("train")[0].max()) > 0


def test_random_crops_are_slices_of_the_photos_and_deterministic():
    photos = load_photos("train", scale=0.25)
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    a = random_crops(photos, 40, 24, generator=g1)
    b = random_crops(photos, 40, 24, generator=g2)
    assert a.shape == (40, 3, 24, 24) and a.dtype == torch.float32
    assert torch.equal(a, b)
    c = random_crops(photos, 40, 24, generator=torch.Generator().manual_seed(4))
    assert not torch.equal(a, c)
    # every crop is found verbatim (possibly mirrored) in some photo: a slow exhaustive search over positions
    for crop in a[:8]:
        found = None
        for p in photos:
            windows = p.unfold(1, 24, 1).unfold(2, 24, 1)                  # (3, H-23, W-23, 24, 24)
            for cand, flipped in ((crop, False), (crop.flip(-1), True)):
                hit = (windows == cand[:, None, None]).all(-1).all(-1).all(0)
                if bool(hit.any()):
                    found = flipped
                    break
            if found is not None:
                break
        assert found is not None
    no_aug = random_crops(photos, 8, 24, generator=torch.Generator().manual_seed(3), augment=False)
    assert no_aug.shape == (8, 3, 24, 24)


def test_augment_mirrors_about_half_and_uses_every_photo():
    photos = [torch.arange(3 * 8 * 8, dtype=torch.float32).reshape(3, 8, 8) + 1000 * k for k in range(3)]
    crops = random_crops(photos, 2000, 8, generator=torch.Generator().manual_seed(0))
    which = (crops[:, 0, 0, 0] // 1000).long()
    assert torch.bincount(which, minlength=3).min() > 550                 # uniform over 3 photos
    mirrored = crops[:, 0, 0, 0] % 1000 == 7                              # full-size crop: the first pixel moves
    assert 0.45 < float(mirrored.float().mean()) < 0.55
    plain = random_crops(photos, 200, 8, generator=torch.Generator().manual_seed(0), augment=False)
    assert bool((plain[:, 0, 0, 0] % 1000 == 0).all())


def test_heldout_crops_come_from_test_photos_only_and_repeat():
    a = heldout_crops(6, 32, seed=1, scale=0.5)
    b = heldout_crops(6, 32, seed=1, scale=0.5)
    assert a.shape == (6, 3, 32, 32) and torch.equal(a, b)
    assert not torch.equal(a, heldout_crops(6, 32, seed=2, scale=0.5))
    ref = random_crops(load_photos("test", 0.5), 6, 32, generator=torch.Generator().manual_seed(1), augment=False)
    assert torch.equal(a, ref)


def test_bad_input():
    photos = load_photos("test", scale=0.25)
    g = torch.Generator().manual_seed(0)
    with pytest.raises(ValueError, match="split"):
        load_photos("validation")
    with pytest.raises(TypeError):
        load_photos(1)
    with pytest.raises(ValueError, match="scale"):
        load_photos("train", scale=0.0)
    with pytest.raises(ValueError, match="scale"):
        load_photos("train", scale=1.5)
    with pytest.raises(TypeError):
        random_crops(photos[0], 2, 8, generator=g)                       # a tensor, not a list
    with pytest.raises(TypeError):
        random_crops([], 2, 8, generator=g)
    with pytest.raises(ValueError, match="photos\\[0\\]"):
        random_crops([torch.zeros(16, 16)], 2, 8, generator=g)
    with pytest.raises(ValueError, match="same channels"):
        random_crops([torch.zeros(3, 16, 16), torch.zeros(4, 16, 16)], 2, 8, generator=g)
    with pytest.raises(ValueError, match="larger than"):
        random_crops(photos, 2, 10_000, generator=g)
    with pytest.raises(ValueError, match="n must be"):
        random_crops(photos, 0, 8, generator=g)
    with pytest.raises(TypeError, match="generator"):
        random_crops(photos, 2, 8, generator=0)
    with pytest.raises(TypeError, match="size"):
        random_crops(photos, 2, 8.0, generator=g)
    with pytest.raises(ValueError, match="seed"):
        heldout_crops(2, 8, seed=-1)
