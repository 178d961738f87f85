"""Tests of course_lib.gan.conv_arithmetic against PyTorch's own convolutions on many random configurations, a
slow counting loop for the checkerboard, and small cases by hand."""

from __future__ import annotations

import random

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_lib.gan.conv_arithmetic import (
    checkerboard_pattern,
    conv_as_matrix,
    conv_output_size,
    conv_transpose_output_size,
    fractionally_strided_conv,
    has_uneven_overlap,
    insert_zeros,
)


def _random_conv_configs(n: int, seed: int) -> list[tuple[int, int, int, int, int]]:
    """(n, k, s, p, d) with a kernel that fits the padded input."""
    rng = random.Random(seed)
    configs = []
    while len(configs) < n:
        k, s, d = rng.randint(1, 7), rng.randint(1, 4), rng.randint(1, 3)
        p = rng.randint(0, (d * (k - 1) + 1) // 2)  # PyTorch refuses padding above half the kernel extent
        size = rng.randint(1, 20)
        if size + 2 * p >= d * (k - 1) + 1:
            configs.append((size, k, s, p, d))
    return configs


class TestOutputSizes:
    @pytest.mark.parametrize("n, k, s, p, d", _random_conv_configs(150, seed=0))
    def test_conv_against_nn_conv2d(self, n, k, s, p, d):
        conv = nn.Conv2d(1, 1, k, stride=s, padding=p, dilation=d, bias=False)
        out = conv(torch.zeros(1, 1, n, n + 1))
        assert out.shape[2] == conv_output_size(n, k, s, p, d)
        assert out.shape[3] == conv_output_size(n + 1, k, s, p, d)

    @pytest.mark.parametrize("n, k, s, p, d", _random_conv_configs(150, seed=1))
    def test_transpose_against_nn_conv_transpose2d(self, n, k, s, p, d):
        for output_padding in range(max(s, d)):
            expected = (n - 1) * s - 2 * p + d * (k - 1) + output_padding + 1
            if expected < 1:
                with pytest.raises(ValueError, match="removes the whole output"):
                    conv_transpose_output_size(n, k, s, p, output_padding, d)
                continue
            conv = nn.ConvTranspose2d(1, 1, k, stride=s, padding=p, output_padding=output_padding, dilation=d)
            out = conv(torch.zeros(1, 1, n, n))
            assert out.shape[2] == conv_transpose_output_size(n, k, s, p, output_padding, d) == expected

    @pytest.mark.parametrize("n, k, s, p, d", _random_conv_configs(60, seed=2))
    def test_transpose_inverts_conv_sizes(self, n, k, s, p, d):
        # a convolution maps o, ..., o + s - 1 to the same size; output_padding picks which one to return to
        o = conv_output_size(n, k, s, p, d)
        back = conv_transpose_output_size(o, k, s, p, 0, d)
        assert back <= n < back + s
        if n - back < max(s, d):
            assert conv_transpose_output_size(o, k, s, p, n - back, d) == n

    def test_dcgan_sizes(self):
        assert conv_output_size(64, 4, 2, 1) == 32 and conv_output_size(4, 4, 1, 0) == 1
        assert conv_transpose_output_size(1, 4, 1, 0) == 4 and conv_transpose_output_size(32, 4, 2, 1) == 64
        assert conv_transpose_output_size(1, 7, 1, 0) == 7 and conv_transpose_output_size(7, 4, 2, 1) == 14
        assert conv_output_size(28, 3, 1, 1) == 28  # "same" padding

    @pytest.mark.parametrize(
        "args, err, match",
        [
            ((3, 5, 1, 0), ValueError, "larger than the padded input"),
            ((3, 3, 0, 0), ValueError, "s must be at least 1"),
            ((3, 3, 1, -1), ValueError, "p must be at least 0"),
            ((3.0, 3, 1, 0), TypeError, "n must be an int"),
            ((3, True, 1, 0), TypeError, "k must be an int"),
        ],
    )
    def test_conv_bad_inputs(self, args, err, match):
        with pytest.raises(err, match=match):
            conv_output_size(*args)

    def test_transpose_bad_inputs(self):
        with pytest.raises(ValueError, match="output_padding must be smaller"):
            conv_transpose_output_size(4, 3, 2, 0, output_padding=2)
        with pytest.raises(ValueError, match="removes the whole output"):
            conv_transpose_output_size(1, 1, 1, 1)
        with pytest.raises(ValueError, match="d must be at least 1"):
            conv_transpose_output_size(4, 3, 2, 0, d=0)


class TestFractionallyStrided:
    def test_insert_zeros_by_hand(self):
        x = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])
        expected = torch.tensor([[[[1.0, 0, 0, 2.0], [0, 0, 0, 0], [0, 0, 0, 0], [3.0, 0, 0, 4.0]]]])
        assert torch.equal(insert_zeros(x, 3), expected)
        assert insert_zeros(x, (1, 2)).shape == (1, 1, 2, 3)
        assert torch.equal(insert_zeros(x, 1), x)

    @pytest.mark.parametrize("seed", range(60))
    def test_equals_conv_transpose2d(self, seed):
        rng = random.Random(seed)
        gen = torch.Generator().manual_seed(seed)
        kh, kw = rng.randint(1, 5), rng.randint(1, 5)
        s = (rng.randint(1, 3), rng.randint(1, 3))
        d = (rng.randint(1, 2), rng.randint(1, 2))
        # p > d(k-1) makes the fractionally-strided route crop instead of pad
        p = (rng.randint(0, d[0] * (kh - 1) + 2), rng.randint(0, d[1] * (kw - 1) + 2))
        op = (rng.randint(0, max(s[0], d[0]) - 1), rng.randint(0, max(s[1], d[1]) - 1))
        c_in, c_out = rng.randint(1, 3), rng.randint(1, 3)
        x = torch.randn(2, c_in, rng.randint(2, 6), rng.randint(2, 6), generator=gen, dtype=torch.float64)
        w = torch.randn(c_in, c_out, kh, kw, generator=gen, dtype=torch.float64)
        b = torch.randn(c_out, generator=gen, dtype=torch.float64) if seed % 2 else None
        try:
            ref = F.conv_transpose2d(x, w, b, stride=s, padding=p, output_padding=op, dilation=d)
        except RuntimeError:  # PyTorch refuses configurations whose output would be empty; so must we
            with pytest.raises(ValueError):
                fractionally_strided_conv(x, w, s, p, op, d, b)
            return
        out = fractionally_strided_conv(x, w, s, p, op, d, b)
        assert out.shape == ref.shape and out.dtype == torch.float64
        torch.testing.assert_close(out, ref, rtol=1e-12, atol=1e-12)

    def test_dcgan_layer_and_gradients(self):
        layer = nn.ConvTranspose2d(8, 4, 4, stride=2, padding=1, bias=False).double()
        x = torch.randn(3, 8, 5, 5, dtype=torch.float64, requires_grad=True)
        ref = layer(x)
        out = fractionally_strided_conv(x, layer.weight, stride=2, padding=1)
        torch.testing.assert_close(out, ref, rtol=1e-12, atol=1e-12)
        g = torch.randn_like(ref)
        gx_ref, gw_ref = torch.autograd.grad(ref, (x, layer.weight), g)
        gx, gw = torch.autograd.grad(out, (x, layer.weight), g)
        torch.testing.assert_close(gx, gx_ref, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(gw, gw_ref, rtol=1e-12, atol=1e-12)

    def test_bad_inputs(self):
        x = torch.randn(1, 2, 4, 4)
        with pytest.raises(ValueError, match="input channels"):
            fractionally_strided_conv(x, torch.randn(3, 2, 3, 3))
        with pytest.raises(TypeError, match="weight must be"):
            fractionally_strided_conv(x, torch.randn(2, 2, 3))
        with pytest.raises(ValueError, match="x must have shape"):
            fractionally_strided_conv(torch.randn(2, 4, 4), torch.randn(2, 2, 3, 3))
        with pytest.raises(TypeError, match="floating-point"):
            fractionally_strided_conv(torch.ones(1, 2, 4, 4, dtype=torch.int64), torch.randn(2, 2, 3, 3))
        with pytest.raises(ValueError, match="output_padding must be smaller"):
            fractionally_strided_conv(x, torch.randn(2, 2, 3, 3), stride=2, output_padding=2)
        with pytest.raises(ValueError, match="pair"):
            fractionally_strided_conv(x, torch.randn(2, 2, 3, 3), stride=(1, 2, 3))


class TestConvAsMatrix:
    @pytest.mark.parametrize("size, k, s, p", [(5, 3, 1, 0), (6, 4, 2, 1), (7, 3, 2, 1), ((4, 6), 2, 2, 0)])
    def test_conv_is_c_and_transpose_is_c_transposed(self, size, k, s, p):
        gen = torch.Generator().manual_seed(0)
        h, w = (size, size) if isinstance(size, int) else size
        weight = torch.randn(k, k, generator=gen, dtype=torch.float64)
        C = conv_as_matrix(size, weight, s, p)
        ho, wo = conv_output_size(h, k, s, p), conv_output_size(w, k, s, p)
        assert C.shape == (ho * wo, h * w)
        x = torch.randn(1, 1, h, w, generator=gen, dtype=torch.float64)
        torch.testing.assert_close(C @ x.flatten(), F.conv2d(x, weight[None, None], stride=s, padding=p).flatten())
        y = torch.randn(1, 1, ho, wo, generator=gen, dtype=torch.float64)
        op = (h - conv_transpose_output_size(ho, k, s, p), w - conv_transpose_output_size(wo, k, s, p))
        transposed = F.conv_transpose2d(y, weight[None, None], stride=s, padding=p, output_padding=op)
        torch.testing.assert_close(C.T @ y.flatten(), transposed.flatten())
        # and the fractionally-strided route gives the same map
        fractional = fractionally_strided_conv(y, weight[None, None], s, p, op)
        torch.testing.assert_close(fractional.flatten(), C.T @ y.flatten())

    def test_bad_inputs(self):
        with pytest.raises(ValueError, match="too large"):
            conv_as_matrix(65, torch.ones(3, 3))
        with pytest.raises(ValueError, match="\\(k_h, k_w\\)"):
            conv_as_matrix(5, torch.ones(2, 1, 3, 3))
        with pytest.raises(ValueError, match="larger than the padded input"):
            conv_as_matrix(2, torch.ones(3, 3))


def _slow_counts(k: int, s: int, n: int, p: int) -> torch.Tensor:
    """Count, pixel by pixel, the (input pixel, kernel tap) pairs that land on each output pixel."""
    out = (n - 1) * s - 2 * p + k
    counts = torch.zeros(out, out, dtype=torch.int64)
    for i in range(n):
        for j in range(n):
            for a in range(k):
                for b in range(k):
                    u, v = i * s + a - p, j * s + b - p
                    if 0 <= u < out and 0 <= v < out:
                        counts[u, v] += 1
    return counts


class TestCheckerboard:
    @pytest.mark.parametrize("k, s, n, p", [(3, 2, 5, 0), (4, 2, 5, 0), (4, 2, 6, 1), (5, 3, 4, 1), (3, 1, 4, 0),
                                            (1, 2, 3, 0), (6, 4, 3, 2)])
    def test_against_slow_loop(self, k, s, n, p):
        counts = checkerboard_pattern(k, s, n, padding=p)
        assert counts.dtype == torch.int64
        assert torch.equal(counts, _slow_counts(k, s, n, p))

    def test_k3_s2_is_uneven_and_k4_s2_is_even(self):
        uneven = checkerboard_pattern(3, 2, 8)[2:-2, 2:-2]  # the interior, away from the borders
        assert set(uneven.unique().tolist()) == {1, 2, 4}
        assert torch.equal(uneven[0, :4], torch.tensor([4, 2, 4, 2]))  # alternating: a checkerboard
        even = checkerboard_pattern(4, 2, 8)[2:-2, 2:-2]
        assert (even == 4).all()
        assert has_uneven_overlap(3, 2) and not has_uneven_overlap(4, 2) and not has_uneven_overlap(4, 1)
        assert has_uneven_overlap(5, 2) and has_uneven_overlap(4, 3)

    @pytest.mark.parametrize("k, s", [(3, 2), (4, 2), (5, 2), (5, 3), (6, 3), (7, 4), (2, 3)])
    def test_interior_counts_follow_the_formula(self, k, s):
        counts = checkerboard_pattern(k, s, 10)
        out = counts.shape[0]
        c = [sum(1 for a in range(k) if (t - a) % s == 0) for t in range(out)]  # taps landing on t, no borders
        interior = list(range(k, out - k))
        expected = torch.tensor([[c[u] * c[v] for v in interior] for u in interior])
        assert torch.equal(counts[k : out - k, k : out - k], expected)
        assert {c[t] for t in interior} == ({k // s} if k % s == 0 else {k // s, -(-k // s)})

    def test_bad_inputs(self):
        with pytest.raises(ValueError, match="s must be at least 1"):
            checkerboard_pattern(3, 0, 4)
        with pytest.raises(TypeError, match="k must be an int"):
            checkerboard_pattern(3.0, 2, 4)
