r"""SAGAN's self-attention block (Zhang et al. 2019, Section 3), and how to look at what it attends to.

For feature maps :math:`x \in \mathbb R^{C \times N}` (``N = H W`` positions), three 1x1 convolutions give
:math:`f(x) = W_f x`, :math:`g(x) = W_g x` (``C -> C/8``) and :math:`h(x) = W_h x` (``C -> C``). With
:math:`s_{ij} = f(x_i)^\top g(x_j)`,

.. math::

    \beta_{j,i} = \frac{\exp s_{ij}}{\sum_{i'=1}^{N} \exp s_{i'j}}, \qquad
    o_j = \sum_{i=1}^{N} \beta_{j,i}\, h(x_i), \qquad y_j = \gamma\, o_j + x_j,

so :math:`\beta_{j,\cdot}` is a distribution over the *key* positions :math:`i` for each *query* position
:math:`j` (the softmax runs over the keys). :math:`\gamma` is a learned scalar initialised to 0: the block starts as
the identity and the network learns to lean on non-local evidence gradually.

This follows the first version of the paper (arXiv:1805.08318v1, Eqs. 1-3: :math:`h` maps ``C -> C``, no output
convolution). The authors' code (and the paper's later version) instead maps :math:`h` to ``C/2`` channels and adds
an output 1x1 convolution :math:`v` back to ``C`` channels, :math:`o_j = v(\sum_i \beta_{j,i} h(x_i))`;
``value_channels`` and ``out_conv=True`` build that variant.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["SelfAttention2d", "attention_map", "recorded_inputs"]


def _positive_int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}.")
    if value <= 0:
        raise ValueError(f"{name} must be > 0, got {value}.")
    return value


class SelfAttention2d(nn.Module):
    r"""SAGAN's self-attention block: ``(B, C, H, W) -> (B, C, H, W)``, :math:`y = \gamma\, o + x` (module docstring).

    Args:
        channels: ``C``.
        key_channels: channels of ``f`` and ``g`` (default ``max(1, C // 8)``, the paper's :math:`\bar C = C/8`).
        value_channels: channels of ``h`` (default ``C``; the authors' code uses ``C // 2`` with ``out_conv``).
        out_conv: add the output 1x1 convolution ``v: value_channels -> C`` (needed when ``value_channels != C``).

    Attributes:
        f, g, h: the 1x1 convolutions (with bias); ``v`` the output one or ``None``.
        gamma: ``nn.Parameter`` of shape ``(1,)``, starting at 0.
    """

    def __init__(self, channels: int, key_channels: int | None = None, value_channels: int | None = None,
                 out_conv: bool = False) -> None:
        super().__init__()
        self.channels = _positive_int(channels, "channels")
        kc = max(1, channels // 8) if key_channels is None else _positive_int(key_channels, "key_channels")
        vc = channels if value_channels is None else _positive_int(value_channels, "value_channels")
        if not out_conv and vc != channels:
            raise ValueError(f"value_channels ({vc}) != channels ({channels}) needs out_conv=True.")
        self.key_channels, self.value_channels = kc, vc
        self.f = nn.Conv2d(channels, kc, 1)  # keys   f(x_i)
        self.g = nn.Conv2d(channels, kc, 1)  # queries g(x_j)
        self.h = nn.Conv2d(channels, vc, 1)  # values  h(x_i)
        self.v = nn.Conv2d(vc, channels, 1) if out_conv else None
        self.gamma = nn.Parameter(torch.zeros(1))

    def _check(self, x: object) -> Tensor:
        if not isinstance(x, Tensor):
            raise TypeError(f"x must be a Tensor, got {type(x).__name__}.")
        if x.dim() != 4 or x.shape[1] != self.channels:
            raise ValueError(f"x must have shape (B, {self.channels}, H, W), got {tuple(x.shape)}.")
        return x

    def attention(self, x: Tensor) -> Tensor:
        r"""The attention weights ``(B, N, N)`` indexed ``[b, j, i]`` = :math:`\beta_{j,i}` (query ``j``, key ``i``,
        positions in row-major order); every row sums to 1."""
        x = self._check(x)
        keys = self.f(x).flatten(2)  # (B, C', N): f(x_i)
        queries = self.g(x).flatten(2)  # (B, C', N): g(x_j)
        s = torch.bmm(queries.transpose(1, 2), keys)  # (B, N_j, N_i): s_ij = f(x_i)^T g(x_j)
        return F.softmax(s, dim=-1)  # normalised over the keys i

    def forward(self, x: Tensor) -> Tensor:
        """``(B, C, H, W) -> (B, C, H, W)``: :math:`y_j = \\gamma \\sum_i \\beta_{j,i} h(x_i) + x_j`."""
        beta = self.attention(x)  # (B, N_j, N_i)
        values = self.h(x).flatten(2)  # (B, C_v, N_i)
        o = torch.bmm(values, beta.transpose(1, 2)).view(x.shape[0], self.value_channels, *x.shape[2:])
        if self.v is not None:
            o = self.v(o)
        return self.gamma * o + x

    def extra_repr(self) -> str:
        return f"channels={self.channels}, key_channels={self.key_channels}, value_channels={self.value_channels}"


def attention_map(module: SelfAttention2d, x: Tensor, query: tuple[int, int]) -> Tensor:
    r"""Where the query pixel ``query = (row, col)`` looks: :math:`\beta_{j,\cdot}` reshaped to ``(B, H, W)`` (sums to 1
    over each map), for the block's input features ``x`` of shape ``(B, C, H, W)``."""
    if not isinstance(module, SelfAttention2d):
        raise TypeError(f"module must be a SelfAttention2d, got {type(module).__name__}.")
    x = module._check(x)
    if (not isinstance(query, (tuple, list)) or len(query) != 2
            or not all(isinstance(q, int) and not isinstance(q, bool) for q in query)):
        raise TypeError(f"query must be a (row, col) pair of ints, got {query!r}.")
    h, w = x.shape[2:]
    r, c = query
    if not (0 <= r < h and 0 <= c < w):
        raise ValueError(f"query {tuple(query)} lies outside the {h}x{w} feature map.")
    with torch.no_grad():
        beta = module.attention(x)  # (B, N, N)
    return beta[:, r * w + c].view(x.shape[0], h, w)


@contextmanager
def recorded_inputs(module: nn.Module) -> Iterator[list[Tensor]]:
    """Within the block, every input ``module`` receives is appended (detached) to the yielded list: the features a
    trained network feeds its attention block, for :func:`attention_map`."""
    seen: list[Tensor] = []
    handle = module.register_forward_pre_hook(lambda m, args: seen.append(args[0].detach()))
    try:
        yield seen
    finally:
        handle.remove()
