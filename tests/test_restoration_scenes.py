"""The damaged-photo scenes of the CAM -> inpainting pipeline, and the supervised fitting helper."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from course_lib.restoration import GAPClassifier, fit_supervised
from course_lib.restoration.scenes import damaged_photos


def test_damaged_photos_truth_boxes_and_determinism():
    d = damaged_photos(40, 32, split="train", seed=3)
    again = damaged_photos(40, 32, split="train", seed=3)
    assert torch.equal(d.images, again.images) and torch.equal(d.boxes, again.boxes)
    assert d.images.shape == d.clean.shape == (40, 3, 32, 32) and d.ink.shape == (40, 1, 32, 32)
    assert 0 < int(d.labels.sum()) < 40
    torch.testing.assert_close(d.images, d.clean * (1 - d.ink) + d.ink)  # white ink over the clean crop
    for i in range(40):
        if d.labels[i] == 0:
            assert torch.equal(d.images[i], d.clean[i]) and float(d.ink[i].abs().sum()) == 0
            assert d.boxes[i].tolist() == [0.0, 0.0, 0.0, 0.0]
        else:
            x0, y0, x1, y1 = (int(v) for v in d.boxes[i].tolist())
            inside = torch.zeros(32, 32, dtype=torch.bool)
            inside[y0:y1, x0:x1] = True
            ink = d.ink[i, 0] > 0.1
            assert bool(ink[inside].any()) and not bool(ink[~inside].any())  # tight: all ink inside, edges touched
            edges = (ink[y0], ink[y1 - 1], ink[:, x0], ink[:, x1 - 1])
            assert all(bool(e.any()) for e in edges)
    test = damaged_photos(10, 32, split="test", seed=0)
    assert not torch.equal(test.clean, damaged_photos(10, 32, split="train", seed=0).clean)


def test_damaged_photos_bad_inputs():
    with pytest.raises(ValueError):
        damaged_photos(4, 32, split="val")
    with pytest.raises(ValueError):
        damaged_photos(4, 16, digit_range=(12, 20))
    with pytest.raises(ValueError):
        damaged_photos(4, 32, p_damaged=1.5)


def test_fit_supervised_learns_and_rejects_bad_input():
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    x = torch.rand(64, 3, 8, 8, generator=g)
    y = (x[:, 0].mean(dim=(1, 2)) > 0.5).long()
    net = GAPClassifier(3, 2, widths=(4,))
    losses = fit_supervised(net, x, y, F.cross_entropy, steps=60, batch_size=16, lr=1e-2)
    assert len(losses) == 60 and sum(losses[-10:]) < sum(losses[:10]) and not net.training
    with pytest.raises(ValueError):
        fit_supervised(net, x, y[:10], F.cross_entropy)
    with pytest.raises(ValueError):
        fit_supervised(net, x, y, F.cross_entropy, steps=0)
