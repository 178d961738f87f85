"""Small helpers the chapters' experiments share (figures and metrics only; the training is course_lib's)."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor


def samples_figure(images: Tensor, title: str, nrow: int = 8) -> Any:
    """One grid of images in [-1, 1], ``(N, C, H, W)``, with a title."""
    import matplotlib.pyplot as plt

    from course_lib.viz import image_grid

    fig, ax = plt.subplots(figsize=(6, 6.3))
    image_grid(images.detach().float().cpu(), nrow=nrow, ax=ax, title=title)
    return fig


def history_figure(history: dict, keys: tuple[str, ...], title: str) -> Any:
    """The trainer's logged ``keys`` against the generator step."""
    import matplotlib.pyplot as plt

    from course_lib.viz import plot_history

    fig, ax = plt.subplots(figsize=(8, 4))
    plot_history(history, keys=keys, ax=ax, title=title)
    ax.set_xlabel("generator step")
    ax.set_ylabel("value")
    return fig


def mnist_fid(real: Tensor, fake: Tensor, device: torch.device) -> float:
    """:func:`course_lib.metrics.course_fid` of two sets of digits in [-1, 1], ``(N, 1, H, W)`` with H = W = 28 or
    32 (32: the centre 28 x 28 crop, the padding of chapter 9 removed)."""
    from course_lib.metrics import course_fid

    def crop(x: Tensor) -> Tensor:
        x = x.detach().float().cpu().clamp(-1, 1)
        if x.shape[-1] == 32:
            x = x[..., 2:30, 2:30]
        if x.shape[-1] != 28:
            x = F.interpolate(x, size=(28, 28), mode="bilinear", align_corners=False)
        return x

    return float(course_fid(crop(real), crop(fake), device=device))


def bar_figure(labels: list[str], values: list[float], title: str, ylabel: str, log: bool = False) -> Any:
    """A labelled bar chart (benchmarks, per-loss numbers)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(max(5.0, 0.9 * len(labels) + 2), 4))
    ax.bar(range(len(labels)), values, color="tab:blue")
    ax.set_xticks(range(len(labels)), labels, rotation=30 if len(labels) > 4 else 0, ha="right" if len(labels) > 4
                  else "center", fontsize=9)
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    if log:
        ax.set_yscale("log")
    fig.tight_layout()
    return fig
