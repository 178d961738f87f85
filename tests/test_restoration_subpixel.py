"""Sub-pixel convolution: PixelShuffle by reshapes against torch, the transposed-convolution identity, ICNR."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from course_lib.restoration import (
    SRResNet,
    SubPixelConv2d,
    checkerboard_score,
    icnr_,
    pixel_shuffle,
    pixel_unshuffle,
    subpixel_to_transposed_weight,
)


@pytest.mark.parametrize("c,r,h,w", [(1, 2, 3, 4), (3, 2, 5, 5), (2, 3, 4, 2), (4, 4, 2, 3)])
def test_pixel_shuffle_matches_torch_and_inverts(c, r, h, w):
    x = torch.randn(2, c * r * r, h, w, dtype=torch.float64)
    y = pixel_shuffle(x, r)
    assert torch.equal(y, F.pixel_shuffle(x, r))
    assert torch.equal(pixel_unshuffle(y, r), x)
    assert torch.equal(pixel_unshuffle(y, r), F.pixel_unshuffle(y, r))


def test_pixel_shuffle_layout_by_hand():
    # channel c r^2 + i r + j of pixel (h, w) goes to (c, r h + i, r w + j)
    x = torch.arange(2 * 4 * 2 * 2, dtype=torch.float32).reshape(1, 8, 2, 2)
    y = pixel_shuffle(x, 2)
    for c in range(2):
        for i in range(2):
            for j in range(2):
                for hh in range(2):
                    for ww in range(2):
                        assert y[0, c, 2 * hh + i, 2 * ww + j] == x[0, c * 4 + i * 2 + j, hh, ww]


@pytest.mark.parametrize("r,k,c_in,c", [(2, 3, 3, 2), (3, 3, 2, 1), (2, 5, 1, 3), (4, 1, 2, 2)])
def test_subpixel_equals_transposed_convolution(r, k, c_in, c):
    g = torch.Generator().manual_seed(r * 10 + k)
    x = torch.randn(2, c_in, 5, 6, generator=g, dtype=torch.float64)
    weight = torch.randn(c * r * r, c_in, k, k, generator=g, dtype=torch.float64)
    sub = pixel_shuffle(F.conv2d(x, weight, padding=k // 2), r)
    t, pad = subpixel_to_transposed_weight(weight, r)
    assert t.shape == (c_in, c, k * r, k * r)
    tr = F.conv_transpose2d(x, t, stride=r, padding=pad)
    assert tr.shape == sub.shape
    torch.testing.assert_close(tr, sub, rtol=1e-12, atol=1e-12)


def test_icnr_repeats_kernels_and_kills_the_checkerboard():
    torch.manual_seed(0)
    w = torch.empty(3 * 4, 5, 3, 3)
    icnr_(w, 2)
    for c in range(3):
        for s in range(4):
            assert torch.equal(w[4 * c + s], w[4 * c])
    layer = SubPixelConv2d(5, 3, upscale=2, icnr=True)
    x = torch.randn(4, 5, 6, 6)
    y = layer(x)
    # each 2x2 block is constant: the output is a nearest-neighbour upsampling of one convolution
    blocks = y.reshape(4, 3, 6, 2, 6, 2)
    assert torch.allclose(blocks, blocks[:, :, :, :1, :, :1].expand_as(blocks))
    assert float(checkerboard_score(y.detach(), 2).max()) < 1e-6
    torch.manual_seed(0)
    plain = SubPixelConv2d(5, 3, upscale=2, icnr=False)
    assert float(checkerboard_score(plain(x).detach(), 2).mean()) > 1e-3


def test_checkerboard_score_of_nearest_upsampling_is_zero():
    x = torch.rand(2, 3, 4, 4)
    assert float(checkerboard_score(F.interpolate(x, scale_factor=2, mode="nearest"), 2).abs().max()) < 1e-7


def test_bad_inputs():
    with pytest.raises(ValueError, match="multiple of upscale"):
        pixel_shuffle(torch.zeros(1, 6, 2, 2), 2)
    with pytest.raises(ValueError, match=r"\[B, C, H, W\]"):
        pixel_shuffle(torch.zeros(4, 2, 2), 2)
    with pytest.raises(TypeError):
        pixel_shuffle(torch.zeros(1, 4, 2, 2), 2.0)
    with pytest.raises(TypeError):
        pixel_shuffle([[1.0]], 2)
    with pytest.raises(ValueError):
        pixel_unshuffle(torch.zeros(1, 1, 3, 4), 2)
    with pytest.raises(ValueError, match="odd"):
        SubPixelConv2d(3, 3, 2, kernel_size=4)
    with pytest.raises(ValueError, match="power of two"):
        SRResNet(upscale=3)


def test_srresnet_shapes_and_no_pooling():
    net = SRResNet(channels=8, n_blocks=2, upscale=4)
    assert net(torch.rand(2, 3, 6, 5)).shape == (2, 3, 24, 20)
    assert not any(isinstance(m, (torch.nn.MaxPool2d, torch.nn.AvgPool2d)) for m in net.modules())
    with pytest.raises(ValueError):
        net(torch.rand(3, 6, 5))
