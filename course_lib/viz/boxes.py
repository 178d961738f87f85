"""Drawing detection boxes and YOLO's grid (matplotlib).

The image is drawn with ``extent = (0, W, H, 0)``, so that pixel :math:`j` covers :math:`[j, j + 1)` on the axes,
the convention of the course's boxes (``xyxy`` in continuous pixel coordinates, as ``torchvision.ops``): a box
``(x1, y1, x2, y2)`` is drawn exactly on the border of the pixels it covers, and YOLO's cell boundaries
:math:`k W / S` fall on the axes where they are in the image.

- :func:`draw_boxes`: an image with its boxes, class names and scores;
- :func:`draw_grid`: the :math:`S \\times S` grid of YOLOv1 over an image;
- :func:`mark_cells`: shade the cells responsible for objects (those that contain a box centre).

Every function draws on the ``ax`` it is given (or on a new figure) and returns the ``Axes``; none calls
``plt.show()``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

__all__ = ["draw_boxes", "draw_grid", "mark_cells"]


def _new_axes(ax: Any, figsize: tuple[float, float] = (4.5, 4.5)) -> Any:
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


def _hw(image_size: object) -> tuple[int, int]:
    if isinstance(image_size, (int, np.integer)) and not isinstance(image_size, bool):
        image_size = (int(image_size), int(image_size))
    if (not isinstance(image_size, (tuple, list)) or len(image_size) != 2
            or not all(isinstance(s, (int, np.integer)) and not isinstance(s, bool) for s in image_size)):
        raise TypeError(f"image_size must be an int or a pair of ints (height, width), got {image_size!r}.")
    if image_size[0] < 1 or image_size[1] < 1:
        raise ValueError(f"image_size must be positive, got {tuple(image_size)}.")
    return int(image_size[0]), int(image_size[1])


def _check_s(S: object) -> int:
    if isinstance(S, bool) or not isinstance(S, (int, np.integer)):
        raise TypeError(f"S must be an int (cells per side), got {type(S).__name__}.")
    if S < 1:
        raise ValueError(f"S must be >= 1, got {S}.")
    return int(S)


def _image_array(image: object) -> np.ndarray:
    """``Tensor[3, H, W]``, ``[1, H, W]`` or ``[H, W]`` in [0, 1] -> an array ``imshow`` takes (clipped to [0, 1])."""
    if not isinstance(image, Tensor):
        raise TypeError(f"image must be a torch.Tensor [3, H, W] (or [1, H, W], [H, W]), got {type(image).__name__}.")
    img = image.detach().to("cpu", torch.float32)
    if img.ndim == 3 and img.shape[0] in (1, 3):
        img = img.permute(1, 2, 0)                                     # (H, W, C)
        if img.shape[-1] == 1:
            img = img[..., 0]
    elif img.ndim != 2:
        raise ValueError(f"image must have shape [3, H, W], [1, H, W] or [H, W], got {tuple(image.shape)}.")
    return img.clamp(0.0, 1.0).numpy()


def _class_colour(label: int) -> tuple[float, float, float, float]:
    """A distinct colour per class (matplotlib's ``tab20``, cycled)."""
    import matplotlib

    return matplotlib.colormaps["tab20"](int(label) % 20)


def draw_boxes(image: Tensor, boxes: Tensor, labels: Tensor | Sequence[int] | None = None,
               scores: Tensor | Sequence[float] | None = None, class_names: Sequence[str] | None = None,
               ax: Any = None, title: str | None = None, color: Any = None, linewidth: float = 2.0) -> Any:
    """Draw an image and its boxes, each with its class name and score.

    Box :math:`i` is the rectangle from :math:`(x_1, y_1)` to :math:`(x_2, y_2)` in pixel coordinates, labelled
    ``"name score"`` (``class_names[labels[i]]``, or the label number; the score with two decimals) at its top-left
    corner. Colours: ``color`` for every box if given, else one colour per class (``tab20``), else (no labels) red.

    Args:
        image: ``Tensor[3, H, W]`` (or ``[1, H, W]``, ``[H, W]``) in [0, 1], any device.
        boxes: ``Tensor[K, 4]`` xyxy in pixels (``K = 0`` draws the image alone).
        labels: ``K`` class indices, or None.
        scores: ``K`` confidences, or None.
        class_names: names of the classes, indexed by label.
        ax: the Axes to draw on; None makes a new figure.
        title: the title; default ``"K boxes"``.
        color: one matplotlib colour for all boxes, or None.
        linewidth: rectangle line width.

    Returns:
        The matplotlib ``Axes`` (image axes labelled in pixels, y pointing down).

    Raises:
        TypeError / ValueError: an image or boxes of the wrong type or shape, ``labels``/``scores`` whose length is
            not ``K``, or a label with no entry in ``class_names``.
    """
    from matplotlib.patches import Rectangle

    array = _image_array(image)
    h, w = array.shape[:2]
    if not isinstance(boxes, Tensor):
        raise TypeError(f"boxes must be a torch.Tensor [K, 4], got {type(boxes).__name__}.")
    if boxes.ndim != 2 or boxes.shape[-1] != 4:
        raise ValueError(f"boxes must have shape [K, 4] (xyxy pixels), got {tuple(boxes.shape)}.")
    b = boxes.detach().to("cpu", torch.float64).numpy()
    k = b.shape[0]
    lab = None if labels is None else [int(v) for v in (labels.tolist() if isinstance(labels, Tensor) else labels)]
    sco = None if scores is None else [float(v) for v in (scores.tolist() if isinstance(scores, Tensor) else scores)]
    for name, seq in (("labels", lab), ("scores", sco)):
        if seq is not None and len(seq) != k:
            raise ValueError(f"{name} has {len(seq)} entries but there are {k} boxes.")
    if class_names is not None and lab is not None:
        bad = [v for v in lab if not 0 <= v < len(class_names)]
        if bad:
            raise ValueError(f"label {bad[0]} has no name: class_names has {len(class_names)} entries.")

    ax = _new_axes(ax)
    ax.imshow(array, cmap="gray" if array.ndim == 2 else None, vmin=0.0, vmax=1.0, extent=(0, w, h, 0),
              interpolation="nearest")
    for i in range(k):
        x1, y1, x2, y2 = b[i]
        edge = color if color is not None else (_class_colour(lab[i]) if lab is not None else "red")
        ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, edgecolor=edge, linewidth=linewidth))
        parts = []
        if lab is not None:
            parts.append(class_names[lab[i]] if class_names is not None else str(lab[i]))
        if sco is not None:
            parts.append(f"{sco[i]:.2f}")
        if parts:
            inside = y1 < 0.08 * h                                     # no room above: write inside the box
            ax.text(x1, y1, " ".join(parts), color="white", fontsize=8, va="top" if inside else "bottom",
                    ha="left", clip_on=True, bbox=dict(facecolor=edge, edgecolor="none", pad=1.0, alpha=0.8))
    ax.set_xlim(0, w)
    ax.set_ylim(h, 0)
    ax.set_xlabel("x (pixels)")
    ax.set_ylabel("y (pixels)")
    ax.set_title(title if title is not None else f"{k} box{'es' if k != 1 else ''}")
    return ax


def draw_grid(ax: Any, image_size: int | tuple[int, int], S: int, color: Any = "white", linewidth: float = 0.8,
              alpha: float = 0.7) -> Any:
    r"""Draw YOLO's :math:`S \times S` grid: vertical lines at :math:`x = kW/S` and horizontal lines at
    :math:`y = kH/S` for :math:`k = 1, \dots, S - 1`. Cell ``(row, col)`` is :math:`[\text{col}\, W/S, (\text{col} +
    1) W/S) \times [\text{row}\, H/S, (\text{row} + 1) H/S)`.

    Args:
        ax: the Axes showing the image (e.g. from :func:`draw_boxes`).
        image_size: ``(H, W)`` or one int.
        S: cells per side.
        color, linewidth, alpha: line style.

    Returns:
        ``ax``.
    """
    h, w = _hw(image_size)
    S = _check_s(S)
    if ax is None:
        raise TypeError("ax must be a matplotlib Axes (draw the image first, e.g. with draw_boxes).")
    for k in range(1, S):
        ax.axvline(k * w / S, color=color, linewidth=linewidth, alpha=alpha)
        ax.axhline(k * h / S, color=color, linewidth=linewidth, alpha=alpha)
    return ax


def mark_cells(ax: Any, cells: Tensor | Sequence[tuple[int, int]], image_size: int | tuple[int, int], S: int,
               color: Any = "yellow", alpha: float = 0.35) -> Any:
    r"""Shade grid cells, e.g. the cells responsible for objects (the cell that contains a box centre:
    :math:`\text{row} = \lfloor S\, c_y / H \rfloor`, :math:`\text{col} = \lfloor S\, c_x / W \rfloor`).

    Args:
        ax: the Axes showing the image.
        cells: ``(row, col)`` pairs (a sequence or an integer ``Tensor[K, 2]``), or a boolean ``Tensor[S, S]``
            mask indexed ``[row, col]`` (e.g. the object mask of YOLOv1's target tensor).
        image_size: ``(H, W)`` or one int.
        S: cells per side.
        color, alpha: fill style.

    Returns:
        ``ax``.

    Raises:
        ValueError: a cell outside :math:`\{0, \dots, S - 1\}^2`, or a mask that is not ``S x S``.
    """
    from matplotlib.patches import Rectangle

    h, w = _hw(image_size)
    S = _check_s(S)
    if ax is None:
        raise TypeError("ax must be a matplotlib Axes (draw the image first, e.g. with draw_boxes).")
    if isinstance(cells, Tensor) and cells.dtype == torch.bool:
        if tuple(cells.shape) != (S, S):
            raise ValueError(f"a cell mask must have shape [S, S] = [{S}, {S}], got {tuple(cells.shape)}.")
        rc = cells.detach().cpu().nonzero().tolist()
    else:
        rc_raw = cells.detach().cpu().tolist() if isinstance(cells, Tensor) else list(cells)
        rc = [list(c) for c in rc_raw]
        if any(len(c) != 2 for c in rc):
            raise ValueError("cells must be (row, col) pairs.")
    for row, col in rc:
        if not (0 <= int(row) < S and 0 <= int(col) < S):
            raise ValueError(f"cell (row={row}, col={col}) is outside the {S} x {S} grid.")
        ax.add_patch(Rectangle((int(col) * w / S, int(row) * h / S), w / S, h / S, facecolor=color, alpha=alpha,
                               edgecolor=color, linewidth=1.0))
    return ax
