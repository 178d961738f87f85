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


def bar_figure(labels: list[str], values: list[float], title: str, ylabel: str, xlabel: str,
               log: bool = False) -> Any:
    """A labelled bar chart (benchmarks, per-loss numbers)."""
    import matplotlib.pyplot as plt

    from course_lib.viz import page_figsize

    fig, ax = plt.subplots(figsize=page_figsize(max(5.0, 0.9 * len(labels) + 2), 4))
    ax.bar(range(len(labels)), values, color="tab:blue")
    ax.set_xticks(range(len(labels)), labels, rotation=30 if len(labels) > 4 else 0, ha="right" if len(labels) > 4
                  else "center", fontsize=9)
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    ax.set_xlabel(xlabel)
    if log:
        ax.set_yscale("log")
    fig.tight_layout()
    return fig


def render_detection(n_images: int, image_size: int, scale_range: tuple[float, float], train: bool, seed: int,
                     max_digits: int = 3) -> tuple[Tensor, list[dict[str, Tensor]]]:
    """``MNISTDetection`` rendered once: uint8 ``(N, 1, S, S)`` images (grey) and targets with boxes relative to
    the image (what the labs of chapters 14-16 keep in memory)."""
    from course_lib.detection.datasets import MNISTDetection, normalize_target

    ds = MNISTDetection(n_images=n_images, seed=seed, train=train, image_size=image_size, scale_range=scale_range,
                        max_digits=max_digits)
    images = torch.empty(len(ds), 1, image_size, image_size, dtype=torch.uint8)
    targets = []
    for i in range(len(ds)):
        image, target = ds[i]                                      # (3, H, W) in [0, 1], boxes in pixels
        images[i, 0] = (image[0] * 255).round().to(torch.uint8)
        targets.append(normalize_target(target, image_size))
    return images, targets


def as_float(images: Tensor) -> Tensor:
    """uint8 ``(N, 1, H, W)`` -> float ``(N, 3, H, W)`` in [0, 1], the detectors' input."""
    return images.float().div(255).expand(-1, 3, -1, -1)


def fit_two_phases(model: torch.nn.Module, batches: Any, loss_fn: Any, steps: int, lr: float,
                   device: torch.device) -> tuple[dict[str, list[float]], float]:
    """The labs' schedule with :func:`course_lib.detection.train.fit_detector`: Adam at ``lr``, then ``lr / 10`` for
    the last fifth of ``steps``. Returns the history (``step``, ``loss``) and the training seconds."""
    import time

    from course_lib.detection.train import fit_detector

    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    history: dict[str, list[float]] = {"step": [], "loss": []}
    start = time.perf_counter()
    for n_steps, rate in [(steps - steps // 5, lr), (steps // 5, lr / 10)]:
        if n_steps == 0:
            continue
        for group in optimizer.param_groups:
            group["lr"] = rate
        done = history["step"][-1] if history["step"] else 0
        phase = fit_detector(model, batches, loss_fn, steps=n_steps, optimizer=optimizer, device=device,
                             log_every=max(1, steps // 200), progress=False)
        history["step"] += [done + s for s in phase["step"]]
        history["loss"] += phase["loss"]
    return history, time.perf_counter() - start


def detection_loss_figure(history: dict[str, list[float]], steps: int, title: str) -> Any:
    """The training loss per step (log scale), the learning-rate drop dotted."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4))
    ax.semilogy(history["step"], history["loss"])
    ax.axvline(steps - steps // 5, color="gray", linestyle=":", label="learning rate / 10")
    ax.set(xlabel="training step", ylabel="loss per image", title=title)
    ax.legend(fontsize=9)
    return fig


def detections_figure(images: Tensor, detections: list[dict[str, Tensor]], image_size: int) -> Any:
    """Held-out images with their detections (boxes relative to the image)."""
    import matplotlib.pyplot as plt

    from course_lib.detection.datasets import DIGIT_CLASSES
    from course_lib.viz import draw_boxes, page_figsize

    n = len(detections)
    fig, axes = plt.subplots(1, n, figsize=page_figsize(3.3 * n, 3.8), squeeze=False)
    for col, det in enumerate(detections):
        det = {k: v.cpu() for k, v in det.items()}
        draw_boxes(images[col].cpu(), det["boxes"] * image_size, det["labels"], det["scores"], DIGIT_CLASSES,
                   ax=axes[0, col], title=f"{len(det['scores'])} detections")
    fig.tight_layout()
    return fig
