"""SAGAN's self-attention block against a slow per-position loop, its identity start, attention maps, bad input."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from course_lib.gan.attention import SelfAttention2d, attention_map, recorded_inputs


@torch.no_grad()
def _loop_reference(block: SelfAttention2d, x: torch.Tensor) -> torch.Tensor:
    """y_j = gamma sum_i softmax_i(f(x_i).g(x_j)) h(x_i) + x_j, one position at a time (float64)."""
    b, c, h, w = x.shape
    xd = x.double()
    conv = lambda m, t: F.conv2d(t, m.weight.double(), m.bias.double())  # noqa: E731
    f, g, v = conv(block.f, xd).flatten(2), conv(block.g, xd).flatten(2), conv(block.h, xd).flatten(2)
    out = torch.empty(b, v.shape[1], h * w, dtype=torch.float64)
    for n in range(b):
        for j in range(h * w):
            scores = torch.tensor([float(f[n, :, i] @ g[n, :, j]) for i in range(h * w)], dtype=torch.float64)
            weights = torch.exp(scores - scores.max())
            weights = weights / weights.sum()
            out[n, :, j] = (v[n] * weights).sum(dim=1)
    o = out.view(b, -1, h, w)
    if block.v is not None:
        o = conv(block.v, o)
    return block.gamma.double() * o + xd


@pytest.mark.parametrize("channels,size,kw", [(16, (3, 5), {}), (8, (4, 4), {}),
                                                 (16, (2, 3), {"value_channels": 8, "out_conv": True})])
def test_matches_the_loop(channels, size, kw):
    torch.manual_seed(0)
    block = SelfAttention2d(channels, **kw)
    with torch.no_grad():
        block.gamma.fill_(0.8)
    x = torch.randn(2, channels, *size)
    torch.testing.assert_close(block(x).double(), _loop_reference(block, x), rtol=1e-4, atol=1e-5)


def test_starts_as_the_identity_and_gamma_learns():
    torch.manual_seed(1)
    block = SelfAttention2d(32)
    assert isinstance(block.gamma, torch.nn.Parameter) and block.gamma.item() == 0.0
    x = torch.randn(2, 32, 6, 6)
    y = block(x)
    assert torch.equal(y, x)
    y.square().sum().backward()
    assert block.gamma.grad is not None and block.gamma.grad.abs().item() > 0
    assert block.f.weight.grad is None or block.f.weight.grad.abs().sum() == 0  # no path through o at gamma = 0


def test_attention_rows_are_distributions_over_keys():
    torch.manual_seed(2)
    block = SelfAttention2d(16)
    x = torch.randn(3, 16, 4, 5)
    beta = block.attention(x)
    assert beta.shape == (3, 20, 20)
    torch.testing.assert_close(beta.sum(dim=-1), torch.ones(3, 20))
    m = attention_map(block, x, (1, 3))
    assert m.shape == (3, 4, 5)
    torch.testing.assert_close(m.reshape(3, -1), beta[:, 1 * 5 + 3])


def test_recorded_inputs_capture_the_features():
    block = SelfAttention2d(8)
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 8, 3, padding=1), block)
    x = torch.randn(2, 1, 4, 4)
    with recorded_inputs(block) as seen:
        net(x)
    assert len(seen) == 1 and seen[0].shape == (2, 8, 4, 4)
    net(x)
    assert len(seen) == 1  # the hook is gone


def test_bad_input():
    with pytest.raises(TypeError):
        SelfAttention2d(8.0)
    with pytest.raises(ValueError):
        SelfAttention2d(0)
    with pytest.raises(ValueError, match="out_conv"):
        SelfAttention2d(16, value_channels=8)
    block = SelfAttention2d(8)
    with pytest.raises(ValueError, match="shape"):
        block(torch.randn(2, 4, 3, 3))
    with pytest.raises(TypeError):
        block([1, 2])
    with pytest.raises(ValueError, match="outside"):
        attention_map(block, torch.randn(1, 8, 3, 3), (3, 0))
    with pytest.raises(TypeError):
        attention_map(block, torch.randn(1, 8, 3, 3), (0.5, 1))
    with pytest.raises(TypeError):
        attention_map(torch.nn.Identity(), torch.randn(1, 8, 3, 3), (0, 0))


def test_device_and_dtype_follow_the_module():
    block = SelfAttention2d(8).double()
    x = torch.randn(1, 8, 3, 3, dtype=torch.float64)
    assert block(x).dtype == torch.float64
