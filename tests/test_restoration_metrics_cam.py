"""PSNR (per image, data range) against scikit-image, SSIM through scikit-image, CAM and Grad-CAM."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from course_lib.restoration import (
    GAPClassifier,
    cam_box,
    cam_heatmap,
    class_activation_map,
    grad_cam,
    pointing_hit,
    psnr,
    ssim,
)
from course_lib.restoration.metrics import masked_psnr


@pytest.mark.parametrize("data_range", [1.0, 2.0, 255.0])
def test_psnr_per_image_matches_skimage(data_range):
    g = torch.Generator().manual_seed(1)
    x = torch.rand(4, 3, 8, 9, generator=g, dtype=torch.float64) * data_range
    noise = torch.tensor([0.01, 0.05, 0.2, 0.5], dtype=torch.float64).view(4, 1, 1, 1) * data_range
    y = (x + noise * torch.randn(x.shape, generator=g, dtype=torch.float64)).clamp(0, data_range)
    got = psnr(x, y, data_range=data_range)
    assert got.shape == (4,) and got.dtype == torch.float64
    expected = [peak_signal_noise_ratio(x[i].numpy(), y[i].numpy(), data_range=data_range) for i in range(4)]
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-12)
    # the mean PSNR is not the PSNR of the mean MSE (one bad image would dominate)
    pooled = 10 * math.log10(data_range**2 / float((x - y).square().mean()))
    assert abs(float(got.mean()) - pooled) > 1.0


def test_psnr_edges_and_errors():
    x = torch.rand(2, 1, 4, 4)
    out = psnr(x, x.clone())
    assert out.dtype == torch.float32 and torch.isinf(out).all() and (out > 0).all()
    with pytest.raises(ValueError, match="one shape"):
        psnr(x, x[:1])
    with pytest.raises(ValueError, match=r"\[B, C, H, W\]"):
        psnr(x[0], x[0])
    with pytest.raises(TypeError):
        psnr(x.numpy(), x)
    with pytest.raises(TypeError):
        psnr(x, x, data_range="1")
    with pytest.raises(ValueError, match="positive"):
        psnr(x, x, data_range=0.0)
    with pytest.raises(ValueError, match="finite"):
        psnr(x, torch.full_like(x, float("nan")))


def test_ssim_is_skimage_per_image():
    g = torch.Generator().manual_seed(2)
    x = torch.rand(3, 3, 16, 16, generator=g)
    y = (x + 0.1 * torch.randn(x.shape, generator=g)).clamp(0, 1)
    got = ssim(x, y)
    expected = [structural_similarity(x[i].double().numpy(), y[i].double().numpy(), data_range=1.0, channel_axis=0)
                for i in range(3)]
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-12)
    assert torch.allclose(ssim(x, x), torch.ones(3, dtype=torch.float64))
    assert bool((got < 1).all())
    with pytest.raises(ValueError, match="7x7"):
        ssim(torch.rand(1, 1, 5, 5), torch.rand(1, 1, 5, 5))


def test_class_activation_map_loop_and_gap_identity():
    g = torch.Generator().manual_seed(3)
    f = torch.randn(3, 5, 4, 6, generator=g, dtype=torch.float64)
    w = torch.randn(7, 5, generator=g, dtype=torch.float64)
    c = torch.tensor([6, 0, 3])
    cam = class_activation_map(f, w, c)
    assert cam.shape == (3, 4, 6)
    for b in range(3):
        loop = sum(w[c[b], k] * f[b, k] for k in range(5))
        torch.testing.assert_close(cam[b], loop)
    # the mean of the CAM over positions is the class score of a GAP + linear head (without bias)
    scores = f.mean(dim=(2, 3)) @ w.T
    torch.testing.assert_close(cam.mean(dim=(1, 2)), scores[torch.arange(3), c])


def test_cam_heatmap_and_grad_cam_agree_for_a_gap_head():
    torch.manual_seed(0)
    net = GAPClassifier(3, 4, widths=(4, 8)).eval()
    x = torch.rand(2, 3, 16, 12)
    f = net.features(x).detach()
    c = torch.tensor([1, 3])
    raw = class_activation_map(f, net.fc.weight.detach(), c)
    gc = grad_cam(f, net.head, c)
    hw = f.shape[2] * f.shape[3]
    torch.testing.assert_close(gc, F.relu(raw) / hw, rtol=1e-5, atol=1e-7)
    heat = cam_heatmap(f, net.fc.weight.detach(), c, (16, 12))
    assert heat.shape == (2, 16, 12) and float(heat.min()) >= 0 and float(heat.max()) <= 1 + 1e-6
    torch.testing.assert_close(grad_cam(f, net.head, c, size=(16, 12)), heat, rtol=1e-4, atol=1e-5)
    assert torch.allclose(net.cam(x, c), heat.detach(), atol=1e-6)


def test_cam_heatmap_all_negative_is_zero_not_nan():
    f = torch.ones(1, 2, 3, 3)
    w = torch.tensor([[-1.0, -2.0]])
    heat = cam_heatmap(f, w, torch.tensor([0]), 6)
    assert torch.equal(heat, torch.zeros(1, 6, 6))


def test_cam_box_and_pointing():
    heat = torch.zeros(2, 10, 12)
    heat[0, 2:5, 3:8] = 1.0
    heat[0, 8, 10] = 0.9  # a smaller separate blob: not the largest region
    heat[1, 6:9, 1:3] = 0.5
    boxes = cam_box(heat, 0.2)
    assert boxes.tolist() == [[3.0, 2.0, 8.0, 5.0], [1.0, 6.0, 3.0, 9.0]]
    truth = torch.tensor([[2.0, 1.0, 9.0, 6.0], [5.0, 0.0, 9.0, 4.0]])
    assert pointing_hit(heat, truth).tolist() == [True, False]
    assert cam_box(torch.zeros(1, 4, 5)).tolist() == [[0.0, 0.0, 5.0, 4.0]]


def test_cam_bad_inputs():
    f = torch.randn(2, 3, 4, 4)
    w = torch.randn(5, 3)
    with pytest.raises(ValueError, match=r"\[C, K\]"):
        class_activation_map(f, torch.randn(5, 4), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="class_idx"):
        class_activation_map(f, w, torch.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match="class_idx"):
        class_activation_map(f, w, torch.tensor([0, 5]))
    with pytest.raises(ValueError, match=r"\[B, K, h, w\]"):
        class_activation_map(f[0], w, torch.tensor([0]))
    with pytest.raises(TypeError):
        class_activation_map(f.numpy(), w, torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="size"):
        cam_heatmap(f, w, torch.tensor([0, 1]), (0, 3))


def test_masked_psnr_counts_only_the_mask():
    x = torch.zeros(2, 3, 4, 4, dtype=torch.float64)
    y = x.clone()
    y[:, :, :2, :2] = 0.1  # error 0.1 inside the mask
    y[:, :, 3, 3] = 0.9  # a large error outside it
    m = torch.zeros(2, 1, 4, 4)
    m[:, :, :2, :2] = 1
    torch.testing.assert_close(masked_psnr(x, y, m), torch.full((2,), 20.0, dtype=torch.float64))
    torch.testing.assert_close(masked_psnr(x, y, torch.ones(2, 1, 4, 4)), psnr(x, y))
    m[1] = 0
    assert torch.isnan(masked_psnr(x, y, m)[1])
    with pytest.raises(ValueError):
        masked_psnr(x, y, m[:, :, :2])
