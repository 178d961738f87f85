"""Tests of the offline paired tasks (course_lib.data.paired) against scikit-image and SciPy, their alignment under
random crops and mirrors, the held-out split, determinism and bad input. No network."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from course_lib.data.paired import (
    LABEL_PALETTE,
    PAIRED_TASKS,
    canny_edges,
    gaussian_blur,
    label_map,
    luminance,
    make_paired_task,
    to_unit,
)
from course_lib.data.photos import load_photos, random_crops


@pytest.fixture(scope="module")
def photo():
    return load_photos("test", scale=0.25)[0]


def test_luminance_and_canny_match_scikit_image(photo):
    from skimage.color import rgb2gray
    from skimage.feature import canny

    img = photo.permute(1, 2, 0).double().numpy()
    np.testing.assert_allclose(luminance(photo)[0].numpy(), rgb2gray(img), atol=1e-6)
    edges = canny_edges(photo, sigma=1.5)
    assert edges.shape == (1,) + photo.shape[-2:]
    ref = canny(rgb2gray(photo.permute(1, 2, 0).numpy()).astype(np.float64), sigma=1.5)
    np.testing.assert_array_equal(edges[0].numpy().astype(bool), ref)
    assert 0.01 < float(edges.mean()) < 0.5


@pytest.mark.parametrize("sigma", [0.7, 1.5, 2.2])
def test_gaussian_blur_matches_scipy(photo, sigma):
    from scipy.ndimage import gaussian_filter

    ours = gaussian_blur(photo.double(), sigma).numpy()
    ref = np.stack([gaussian_filter(c, sigma, mode="mirror", truncate=3.0) for c in photo.double().numpy()])
    np.testing.assert_allclose(ours, ref, atol=1e-10)


def test_label_map_is_the_nearest_centroid(photo):
    centroids = torch.tensor([[0.1, 0.1, 0.1], [0.5, 0.4, 0.3], [0.9, 0.9, 0.9]])
    labels, picture = label_map(photo, centroids, blur=0)
    g = torch.Generator().manual_seed(0)
    for _ in range(50):                                            # a slow check, pixel by pixel
        i = int(torch.randint(photo.shape[1], (1,), generator=g))
        j = int(torch.randint(photo.shape[2], (1,), generator=g))
        d = [float(((photo[:, i, j].double() - c.double()) ** 2).sum()) for c in centroids]
        assert int(labels[i, j]) == int(np.argmin(d))
        torch.testing.assert_close(picture[:, i, j], LABEL_PALETTE[labels[i, j]])
    assert set(labels.unique().tolist()) <= {0, 1, 2}


@pytest.mark.parametrize("name", list(PAIRED_TASKS))
def test_tasks_shapes_ranges_and_held_out_split(name):
    task = make_paired_task(name, n_train=24, n_test=8, size=24, scale=0.25, seed=3)
    (a, b), (ta, tb) = task.train, task.test
    assert a.shape == (24, task.in_channels, 24, 24) and b.shape == (24, 3, 24, 24)
    assert ta.shape == (8, task.in_channels, 24, 24) and tb.shape == (8, 3, 24, 24)
    assert task.in_channels == (1 if name in ("edges2photo", "grey2colour") else 3)
    for x in (a, b, ta, tb):
        assert x.dtype == torch.float32 and float(x.min()) >= -1 and float(x.max()) <= 1
    # the held-out targets are crops of the test photos, without augmentation, from seed + 1
    ref = random_crops(load_photos("test", 0.25), 8, 24, generator=torch.Generator().manual_seed(4), augment=False)
    torch.testing.assert_close(to_unit(tb), ref, atol=1e-6, rtol=0)
    # determinism
    again = make_paired_task(name, n_train=24, n_test=8, size=24, scale=0.25, seed=3)
    assert torch.equal(again.train[0], a) and torch.equal(again.test[1], tb)


def test_input_and_target_stay_aligned_under_crops_and_mirrors():
    task = make_paired_task("grey2colour", n_train=64, n_test=4, size=16, scale=0.25)
    a, b = task.sampler(64, torch.Generator().manual_seed(0))
    for x, y in ((a, b), task.train):
        # a is the luminance of b at every pixel (mirrored or not)
        y_lum = torch.stack([luminance(to_unit(t)) for t in y])
        torch.testing.assert_close(to_unit(x), y_lum, atol=1e-5, rtol=0)
    edges = make_paired_task("edges2photo", n_train=8, n_test=2, size=16, scale=0.25)
    assert set(edges.train[0].unique().tolist()) <= {-1.0, 1.0}


def test_labels_use_training_centroids_only():
    t1 = make_paired_task("labels2photo", n_train=8, n_test=8, size=16, scale=0.25, n_labels=6)
    colours = t1.test[0].permute(0, 2, 3, 1).reshape(-1, 3)
    palette = LABEL_PALETTE[:6] * 2 - 1
    assert bool(torch.cdist(colours, palette).min(1).values.max() < 1e-5)     # only the first 6 palette colours


def test_bad_input(photo):
    with pytest.raises(ValueError, match="unknown paired task"):
        make_paired_task("day2night")
    with pytest.raises(TypeError):
        make_paired_task(3)
    with pytest.raises(ValueError, match="n_train"):
        make_paired_task("grey2colour", n_train=0)
    with pytest.raises(ValueError, match="larger than"):
        make_paired_task("grey2colour", size=200, scale=0.25)
    with pytest.raises(ValueError, match="n_labels"):
        make_paired_task("labels2photo", n_labels=11)
    with pytest.raises(ValueError, match="sigma"):
        canny_edges(photo, sigma=0)
    with pytest.raises(ValueError):
        luminance(torch.zeros(1, 8, 8))
    with pytest.raises(ValueError, match="centroids"):
        label_map(photo, torch.zeros(3, 2))
