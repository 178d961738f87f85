"""course_lib.detection.anchors: wh_iou against box_iou of corner-aligned boxes and a loop, darknet's priors,
k-means with 1 - IoU (clean clusters found, restarts, empty clusters, sorted, seeded), mean_best_iou, bad inputs."""

from __future__ import annotations

import pytest
import torch

from course_lib.detection.anchors import (
    COCO_ANCHORS,
    VOC_ANCHORS,
    assign_to_anchors,
    kmeans_anchors,
    mean_best_iou,
    wh_iou,
)
from course_lib.detection.boxes import box_iou

F64 = torch.float64


def _close(got, expected, rtol=1e-6, atol=1e-9):
    """assert_close without torch.testing's slow first import: same shape, dtype and values within tolerance."""
    assert got.shape == expected.shape and got.dtype == expected.dtype, (got.shape, expected.shape, got.dtype)
    assert torch.allclose(got, expected, rtol=rtol, atol=atol), (got, expected)


def _wh_iou_loop(a, b):
    out = torch.empty(len(a), len(b), dtype=F64)
    for i, (w1, h1) in enumerate(a.tolist()):
        for j, (w2, h2) in enumerate(b.tolist()):
            inter = min(w1, w2) * min(h1, h2)
            out[i, j] = inter / (w1 * h1 + w2 * h2 - inter)
    return out


def test_darknet_priors_are_the_facts_values():
    assert VOC_ANCHORS.shape == (5, 2) and COCO_ANCHORS.shape == (5, 2)
    assert VOC_ANCHORS.dtype == F64
    assert VOC_ANCHORS[0].tolist() == [1.3221, 1.73145] and VOC_ANCHORS[4].tolist() == [11.2364, 10.0071]
    assert COCO_ANCHORS[0].tolist() == [0.57273, 0.677385] and COCO_ANCHORS[4].tolist() == [9.77052, 9.16828]
    # darknet lists them by increasing area, as kmeans_anchors sorts its output
    for a in (VOC_ANCHORS, COCO_ANCHORS):
        area = a.prod(1)
        assert torch.all(area[1:] > area[:-1])


def test_wh_iou_matches_box_iou_of_corner_aligned_boxes_and_a_loop():
    g = torch.Generator().manual_seed(0)
    a = 0.1 + 5 * torch.rand(7, 2, generator=g, dtype=F64)
    b = 0.1 + 5 * torch.rand(4, 2, generator=g, dtype=F64)
    corner = lambda wh: torch.cat([torch.zeros_like(wh), wh], dim=1)  # noqa: E731
    centred = lambda wh: torch.cat([-wh / 2, wh / 2], dim=1) + 3.0  # noqa: E731  same centre, anywhere
    expected = box_iou(corner(a), corner(b))
    _close(wh_iou(a, b), expected, rtol=1e-12, atol=1e-12)
    _close(wh_iou(a, b), box_iou(centred(a), centred(b)), rtol=1e-12, atol=1e-12)
    _close(wh_iou(a, b), _wh_iou_loop(a, b), rtol=1e-12, atol=1e-12)


def test_wh_iou_hand_values_and_dtypes():
    a = torch.tensor([[2.0, 2.0], [1.0, 4.0]])
    b = torch.tensor([[2.0, 2.0], [4.0, 1.0]])
    # a wide and a tall box (neither inside the other): inter 1, union 4 + 4 - 1
    _close(wh_iou(a, b), torch.tensor([[1.0, 1 / 3], [1 / 3, 1 / 7]]))
    assert wh_iou(a.double(), b).dtype == F64
    assert wh_iou(torch.tensor([[2, 2]]), torch.tensor([[1, 1]])).dtype == torch.get_default_dtype()
    assert wh_iou(a.half(), b.half()).dtype == torch.float32
    assert wh_iou(torch.zeros(0, 2), b).shape == (0, 2)
    assert torch.isnan(wh_iou(torch.zeros(1, 2), torch.zeros(1, 2))).all()  # 0/0, as torchvision's box_iou


@pytest.mark.parametrize("bad, err", [
    ([[1.0, 2.0]], TypeError),
    (torch.ones(3), ValueError),
    (torch.ones(3, 4), ValueError),
    (torch.tensor([[1.0, float("nan")]]), ValueError),
    (torch.tensor([[1.0, -2.0]]), ValueError),
    (torch.ones(2, 2, dtype=torch.bool), TypeError),
])
def test_wh_iou_bad_input(bad, err):
    with pytest.raises(err):
        wh_iou(bad, torch.ones(1, 2))


def _clusters(seed=0, n=600, noise=0.04):
    centres = torch.tensor([[0.6, 0.7], [3.0, 1.2], [1.5, 4.0], [6.0, 6.5], [9.0, 3.0]], dtype=F64)
    g = torch.Generator().manual_seed(seed)
    pick = torch.randint(len(centres), (n,), generator=g)
    return centres[pick] * torch.exp(noise * torch.randn(n, 2, generator=g, dtype=F64)), centres


def test_kmeans_finds_clean_clusters_sorted_by_area():
    wh, centres = _clusters()
    anchors = kmeans_anchors(wh, 5, seed=0)
    assert anchors.shape == (5, 2) and anchors.dtype == F64
    expected = centres[centres.prod(1).argsort()]
    _close(anchors, expected, rtol=0.03, atol=0.0)
    assert torch.all(anchors.prod(1)[1:] >= anchors.prod(1)[:-1])
    assert mean_best_iou(wh, anchors) > 0.9


def test_kmeans_is_a_fixed_point_of_its_two_steps():
    wh, _ = _clusters(seed=3, noise=0.3)
    anchors = kmeans_anchors(wh, 4, seed=1)
    assign = assign_to_anchors(wh, anchors)
    means = torch.stack([wh[assign == k].mean(0) for k in range(4)])
    _close(anchors, means, rtol=1e-10, atol=1e-12)  # centroid = the members' mean


def test_kmeans_seeded_reproducible_and_global_rng_untouched():
    wh, _ = _clusters(seed=1, noise=0.3)
    state = torch.random.get_rng_state()
    a = kmeans_anchors(wh, 5, seed=7)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert torch.equal(a, kmeans_anchors(wh, 5, seed=7))
    assert kmeans_anchors(wh.float(), 3).dtype == torch.float32


def test_restarts_never_hurt_and_iou_beats_euclidean_on_iou():
    wh, _ = _clusters(seed=2, noise=0.5)
    one = mean_best_iou(wh, kmeans_anchors(wh, 5, n_init=1, seed=4))
    many = mean_best_iou(wh, kmeans_anchors(wh, 5, n_init=8, seed=4))
    assert many >= one - 1e-12
    euclid = mean_best_iou(wh, kmeans_anchors(wh, 5, metric="euclidean", n_init=8))
    assert many > euclid  # the distance it optimises


def test_kmeans_empty_clusters_and_duplicates():
    # 3 distinct boxes repeated, k = 3: every run ends with three non-empty clusters, the boxes themselves
    wh = torch.tensor([[1.0, 1.0]] * 10 + [[5.0, 5.0]] * 10 + [[1.0, 8.0]] * 2, dtype=F64)
    anchors = kmeans_anchors(wh, 3, n_init=4)
    assert torch.allclose(anchors, torch.tensor([[1.0, 1.0], [1.0, 8.0], [5.0, 5.0]], dtype=F64))
    assert mean_best_iou(wh, anchors) == pytest.approx(1.0)
    # k = N: each box its own anchor; all boxes equal: k = 2 still returns 2 (equal) anchors
    assert kmeans_anchors(wh[[0, 10, 20]], 3).shape == (3, 2)
    same = kmeans_anchors(torch.ones(5, 2), 2)
    assert same.shape == (2, 2) and torch.all(same == 1)


def test_mean_best_iou_hand_value():
    wh = torch.tensor([[2.0, 2.0], [1.0, 4.0]])
    anchors = torch.tensor([[2.0, 2.0]])
    assert mean_best_iou(wh, anchors) == pytest.approx((1.0 + 1 / 3) / 2)
    assert assign_to_anchors(wh, torch.tensor([[4.0, 1.0], [1.0, 4.0]])).tolist() == [0, 1]


@pytest.mark.parametrize("kwargs, err", [
    (dict(k=0), ValueError),
    (dict(k=11), ValueError),
    (dict(k=2.0), ValueError),
    (dict(k=2, n_init=0), ValueError),
    (dict(k=2, metric="l1"), ValueError),
    (dict(k=2, seed=-1), ValueError),
])
def test_kmeans_bad_arguments(kwargs, err):
    wh = 1 + torch.rand(10, 2)
    with pytest.raises(err):
        kmeans_anchors(wh, **kwargs)


def test_kmeans_and_mean_iou_reject_zero_area():
    with pytest.raises(ValueError, match="positive"):
        kmeans_anchors(torch.tensor([[1.0, 0.0], [1.0, 1.0]]), 1)
    with pytest.raises(ValueError, match="empty"):
        mean_best_iou(torch.zeros(0, 2), VOC_ANCHORS)
