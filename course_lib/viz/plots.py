"""Plotting helpers for the GAN chapters (matplotlib).

Every function draws on the ``ax`` it is given (or on a new figure), gives the plot a title and labelled axes, and
returns the ``Axes`` (``ax.figure`` is the figure). None of them calls ``plt.show()``: a notebook shows the figure
itself, and tests use the Agg backend.

- :func:`image_grid` / :func:`make_grid_array`: a batch of images as one tiled picture;
- :func:`plot_density_1d`: the picture of Goodfellow et al. (2014), Figure 1 (data density, generator density,
  discriminator, and the mapping :math:`x = G(z)`);
- :func:`plot_samples_2d`: real and generated points of a 2-D toy distribution;
- :func:`plot_history`: loss curves from :attr:`AdversarialTrainer.history`;
- :func:`plot_d_contour_2d` / :func:`discriminator_grid_2d`: a discriminator's output over the plane;
- :func:`page_figsize`: a figure size that the book shows at a readable scale (:data:`PAGE_WIDTH_IN`).
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np
import torch
from torch import Tensor, nn

__all__ = [
    "make_grid_array",
    "image_grid",
    "plot_density_1d",
    "plot_samples_2d",
    "plot_history",
    "discriminator_grid_2d",
    "plot_d_contour_2d",
    "page_figsize",
    "PAGE_WIDTH_IN",
]

# The book's text column is about 757 px wide at a 1366-px screen, and figures are PNGs at matplotlib's 100 dpi. A
# figure wider than 12.4 in is shown below 0.6 of its size, where 10-pt text is under 8.3 px and 9-pt text under
# 7.5 px (tests/book/test_browser.py checks the scale). Wider figures go on two rows or shrink as a whole.
PAGE_WIDTH_IN = 12.4


def page_figsize(width: float, height: float, max_width: float = PAGE_WIDTH_IN) -> tuple[float, float]:
    """A figure size (inches) scaled down as a whole so that it is at most ``max_width`` wide.

    ``(w, h) -> (w, h)`` when ``w <= max_width``, else ``(max_width, h * max_width / w)``: the layout is the same and
    the text (in points) is relatively larger, so the book shows it at a readable scale. For a row of ``n`` panels
    write ``page_figsize(3.3 * n, 7.2)``.
    """
    for name, value in (("width", width), ("height", height), ("max_width", max_width)):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"page_figsize: {name} must be a number of inches, got {type(value).__name__}")
        if not math.isfinite(value) or value <= 0:
            raise ValueError(f"page_figsize: {name} must be positive and finite, got {value}")
    if width <= max_width:
        return float(width), float(height)
    return float(max_width), float(height) * max_width / float(width)


def _new_axes(ax: Any, figsize: tuple[float, float] = (6.0, 4.0)) -> Any:
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


def _to_numpy(x: Any, name: str) -> np.ndarray:
    if isinstance(x, Tensor):
        return x.detach().to("cpu", torch.float64).numpy()
    try:
        return np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{name} must be a Tensor or an array of numbers, got {type(x).__name__}.") from err


# ----------------------------------------------------------------------------------------------------------------
# Image grids
# ----------------------------------------------------------------------------------------------------------------
def make_grid_array(
    images: Tensor,
    nrow: int = 8,
    padding: int = 2,
    value_range: tuple[float, float] = (-1.0, 1.0),
    pad_value: float = 1.0,
) -> np.ndarray:
    """Tile a batch of images into one array, row by row, with ``padding`` pixels between and around tiles.

    Pixel values are mapped from ``value_range = (lo, hi)`` to :math:`[0, 1]` and clipped:
    :math:`v' = \\min(1, \\max(0, (v - lo) / (hi - lo)))`.

    Args:
        images: ``Tensor[N, C, H, W]`` with ``C`` in ``{1, 3}``, or ``Tensor[N, H, W]`` (grey), any device.
        nrow: tiles per row (the last row may be incomplete; the rest is filled with ``pad_value``).
        padding: pixels of ``pad_value`` between tiles and around the border.
        value_range: the ``(lo, hi)`` of the input: ``(-1, 1)`` for a tanh generator, ``(0, 1)`` for data in
            ``[0, 1]``.
        pad_value: the colour of the padding, in ``[0, 1]``.

    Returns:
        ``float32`` array, ``(rows * (H + p) + p, ncol * (W + p) + p)`` for grey images, with a trailing 3 for
        colour, where ``ncol = min(nrow, N)`` and ``rows = ceil(N / ncol)``.
    """
    if not isinstance(images, Tensor):
        raise TypeError(f"images must be a torch.Tensor, got {type(images).__name__}.")
    if images.dim() == 3:
        images = images.unsqueeze(1)  # (N, H, W) -> (N, 1, H, W)
    if images.dim() != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"images must be (N, C, H, W) with C in {{1, 3}} or (N, H, W), got {tuple(images.shape)}.")
    if images.shape[0] == 0:
        raise ValueError("images is an empty batch.")
    if not isinstance(nrow, int) or isinstance(nrow, bool) or nrow < 1:
        raise ValueError(f"nrow must be a positive int, got {nrow!r}.")
    if not isinstance(padding, int) or isinstance(padding, bool) or padding < 0:
        raise ValueError(f"padding must be a non-negative int, got {padding!r}.")
    lo, hi = (float(v) for v in value_range)
    if not hi > lo:
        raise ValueError(f"value_range must be (lo, hi) with hi > lo, got {value_range!r}.")
    x = images.detach().to("cpu", torch.float32)
    x = ((x - lo) / (hi - lo)).clamp(0.0, 1.0)  # (N, C, H, W) in [0, 1]
    n, c, h, w = x.shape
    ncol = min(nrow, n)
    rows = math.ceil(n / ncol)
    grid = torch.full((c, rows * (h + padding) + padding, ncol * (w + padding) + padding), float(pad_value))
    for i in range(n):
        r, col = divmod(i, ncol)
        top, left = padding + r * (h + padding), padding + col * (w + padding)
        grid[:, top : top + h, left : left + w] = x[i]
    out = grid.numpy()
    return out[0] if c == 1 else out.transpose(1, 2, 0)  # (H', W') or (H', W', 3)


def image_grid(
    images: Tensor,
    nrow: int = 8,
    ax: Any = None,
    title: str | None = None,
    value_range: tuple[float, float] = (-1.0, 1.0),
    padding: int = 2,
) -> Any:
    """Show a batch of images as one grid (see :func:`make_grid_array` for the shapes and the value mapping).

    Returns:
        the ``Axes``; its title defaults to ``"Samples"`` and its x label says how many images are shown.
    """
    grid = make_grid_array(images, nrow=nrow, padding=padding, value_range=value_range)
    ax = _new_axes(ax, figsize=(6.0, 6.0))
    if grid.ndim == 2:
        ax.imshow(grid, cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    else:
        ax.imshow(grid, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    n = images.shape[0]
    ax.set_xlabel(f"{n} images, {min(nrow, n)} per row")
    ax.set_ylabel("")
    ax.set_title(title if title is not None else "Samples")
    return ax


# ----------------------------------------------------------------------------------------------------------------
# 1-D: Goodfellow et al. (2014), Figure 1
# ----------------------------------------------------------------------------------------------------------------
def plot_density_1d(
    x: Any,
    p_data: Any,
    p_g: Any = None,
    d: Any = None,
    ax: Any = None,
    title: str | None = None,
    data_samples: Any = None,
    z_to_x: tuple[Any, Any] | None = None,
) -> Any:
    """The picture of Goodfellow et al. (2014), Figure 1, for a 1-D GAN.

    Draws on a grid ``x``: the data density :math:`p_{data}` (black, dotted), the generator density :math:`p_g`
    (green, solid), and the discriminator :math:`D(x) \\in [0, 1]` (blue, dashed, on a twin axis from 0 to 1).
    Optionally a histogram of ``data_samples``, and below the densities the mapping :math:`x = G(z)`: a lower line
    carries the points ``z`` (affinely rescaled onto the range of ``x`` so both lines have the same length), and an
    arrow goes from each ``z`` to its image ``G(z)`` on the line :math:`y = 0`.

    Args:
        x: ``(K,)`` grid of points.
        p_data: ``(K,)`` data density on the grid.
        p_g: optional ``(K,)`` generator density.
        d: optional ``(K,)`` discriminator output :math:`D(x)` (probabilities, not logits).
        ax: the axes to draw on (a new figure if ``None``).
        title: the title (default: a description of the figure).
        data_samples: optional ``(M,)`` samples from the data, drawn as a normalised histogram.
        z_to_x: optional pair ``(z, G(z))`` of ``(J,)`` arrays: the arrows of the mapping.

    Returns:
        the main ``Axes`` (the twin axis of :math:`D` is ``ax.figure.axes[-1]`` when ``d`` is given).
    """
    xs = _to_numpy(x, "x").reshape(-1)
    curves = {"p_data": _to_numpy(p_data, "p_data").reshape(-1)}
    if p_g is not None:
        curves["p_g"] = _to_numpy(p_g, "p_g").reshape(-1)
    if d is not None:
        curves["d"] = _to_numpy(d, "d").reshape(-1)
    for name, values in curves.items():
        if values.shape != xs.shape:
            raise ValueError(f"{name} must have one value per grid point ({xs.size}), got {values.size}.")
    if "d" in curves and (np.nanmin(curves["d"]) < 0 or np.nanmax(curves["d"]) > 1):
        raise ValueError("d must hold probabilities D(x) in [0, 1] (apply a sigmoid to logits first).")

    ax = _new_axes(ax, figsize=(7.0, 4.0))
    ax.plot(xs, curves["p_data"], color="black", linestyle=":", linewidth=2.0, label=r"$p_{data}$")
    top = float(np.nanmax(curves["p_data"]))
    if data_samples is not None:
        samples = _to_numpy(data_samples, "data_samples").reshape(-1)
        ax.hist(samples, bins=50, range=(xs.min(), xs.max()), density=True, color="0.85", label="data samples",
                zorder=0)
    if "p_g" in curves:
        ax.plot(xs, curves["p_g"], color="green", linestyle="-", linewidth=2.0, label=r"$p_g$")
        top = max(top, float(np.nanmax(curves["p_g"])))
    top = top if top > 0 else 1.0
    if z_to_x is not None:
        z_vals = _to_numpy(z_to_x[0], "z").reshape(-1)
        gz = _to_numpy(z_to_x[1], "G(z)").reshape(-1)
        if z_vals.shape != gz.shape:
            raise ValueError(f"z_to_x must be two arrays of equal length, got {z_vals.size} and {gz.size}.")
        z_lo, z_hi = float(z_vals.min()), float(z_vals.max())
        span = z_hi - z_lo if z_hi > z_lo else 1.0
        z_pos = xs.min() + (z_vals - z_lo) / span * (xs.max() - xs.min())  # z drawn on the x range
        y_z = -0.35 * top
        ax.hlines([0.0, y_z], xs.min(), xs.max(), colors="0.3", linewidth=1.0)
        for start, end in zip(z_pos, gz):
            ax.annotate("", xy=(end, 0.0), xytext=(start, y_z),
                        arrowprops={"arrowstyle": "->", "color": "0.4", "linewidth": 0.8})
        ax.text(xs.min(), y_z, "z", ha="left", va="bottom")
        ax.text(xs.min(), 0.0, "x", ha="left", va="bottom")
        ax.set_ylim(y_z - 0.1 * top, 1.15 * top)
        from matplotlib.ticker import MaxNLocator

        ax.set_yticks([t for t in MaxNLocator(5).tick_values(0.0, top) if 0.0 <= t <= 1.15 * top])  # densities
    ax.set_xlabel("x")
    ax.set_ylabel("density")
    handles, labels = ax.get_legend_handles_labels()
    if "d" in curves:
        ax_d = ax.twinx()
        line = ax_d.plot(xs, curves["d"], color="blue", linestyle="--", linewidth=2.0, label="$D(x)$")
        if z_to_x is None:
            ax_d.set_ylim(0.0, 1.05)
        else:  # the same vertical layout as the densities: D = 0 on the x line, D = 1 at the top density
            ax_d.set_ylim(-0.45, 1.15)
        ax_d.set_yticks([0.0, 0.5, 1.0])
        ax_d.set_ylabel("D(x)")
        handles, labels = handles + line, labels + ["$D(x)$"]
    # below the axes, so that it never hides a curve
    ax.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=len(handles), fontsize="small",
              frameon=False)
    ax.set_title(title if title is not None else "Data density, generator density and discriminator")
    return ax


# ----------------------------------------------------------------------------------------------------------------
# 2-D toys
# ----------------------------------------------------------------------------------------------------------------
def plot_samples_2d(
    real: Any,
    fake: Any,
    ax: Any = None,
    title: str | None = None,
    modes: Any = None,
) -> Any:
    """Scatter real (black) and generated (green) points of a 2-D distribution, and its modes (red crosses).

    Args:
        real: ``(N, 2)`` real samples.
        fake: ``(M, 2)`` generated samples.
        ax: the axes to draw on (a new figure if ``None``).
        title: the title (default ``"Real and generated samples"``).
        modes: optional ``(K, 2)`` mode centres.

    Returns:
        the ``Axes`` (equal aspect ratio, axes labelled :math:`x_1`, :math:`x_2`).
    """
    points = {"real": _to_numpy(real, "real"), "fake": _to_numpy(fake, "fake")}
    if modes is not None:
        points["modes"] = _to_numpy(modes, "modes")
    for name, p in points.items():
        if p.ndim != 2 or p.shape[1] != 2:
            raise ValueError(f"{name} must have shape (N, 2), got {p.shape}.")
    ax = _new_axes(ax, figsize=(5.0, 5.0))
    ax.scatter(points["real"][:, 0], points["real"][:, 1], s=4, color="black", alpha=0.5, label="real")
    ax.scatter(points["fake"][:, 0], points["fake"][:, 1], s=4, color="green", alpha=0.5, label="generated")
    if modes is not None:
        ax.scatter(points["modes"][:, 0], points["modes"][:, 1], s=40, color="red", marker="x", label="modes")
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    ax.legend(loc="upper right", fontsize="small", markerscale=2)
    ax.set_title(title if title is not None else "Real and generated samples")
    return ax


def plot_history(
    history: Mapping[str, Sequence[float]],
    keys: Sequence[str] = ("d_loss", "g_loss"),
    ax: Any = None,
    title: str | None = None,
) -> Any:
    """Plot logged values against the generator step (``history["step"]``), one line per key.

    Args:
        history: a dict of lists such as :attr:`AdversarialTrainer.history` (it must hold ``"step"``).
        keys: which entries to plot.
        ax: the axes to draw on (a new figure if ``None``).
        title: the title (default ``"Training curves"``).

    Returns:
        the ``Axes``.
    """
    if not isinstance(history, Mapping) or "step" not in history:
        raise ValueError("history must be a dict of lists with a 'step' entry (trainer.history).")
    if isinstance(keys, str):
        keys = (keys,)
    missing = [k for k in keys if k not in history]
    if missing:
        raise ValueError(f"history has no {missing}; it has {sorted(history)}.")
    steps = list(history["step"])
    for k in keys:
        if len(history[k]) != len(steps):
            raise ValueError(f"history[{k!r}] has {len(history[k])} values for {len(steps)} steps.")
    ax = _new_axes(ax)
    for k in keys:
        ax.plot(steps, list(history[k]), label=k)
    if not steps:
        ax.text(0.5, 0.5, "nothing logged yet", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel("generator step")
    ax.set_ylabel("loss" if all("loss" in k for k in keys) else "value")
    if keys:
        ax.legend(fontsize="small")
    ax.set_title(title if title is not None else "Training curves")
    return ax


@torch.no_grad()
def discriminator_grid_2d(
    D: nn.Module,
    xlim: tuple[float, float],
    ylim: tuple[float, float],
    n: int = 100,
    apply_sigmoid: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Evaluate a 2-D discriminator on an ``n x n`` grid, in eval mode (train mode is restored after).

    .. math:: V_{ij} = \\sigma(D(x_j, y_i)) \\quad (\\text{or the raw } D(x_j, y_i) \\text{ without the sigmoid})

    Args:
        D: maps ``Tensor[N, 2]`` to logits ``Tensor[N]`` or ``Tensor[N, 1]``; its first parameter (or buffer)
            gives the device and dtype of the grid.
        xlim, ylim: the ``(lo, hi)`` ranges of the two coordinates.
        n: grid points per axis, ``n >= 2``.
        apply_sigmoid: ``True`` for a GAN discriminator (probabilities), ``False`` for a WGAN critic (scores).

    Returns:
        ``(X, Y, V)``, three ``(n, n)`` float64 arrays as from ``np.meshgrid(xs, ys)``.
    """
    if not isinstance(D, nn.Module):
        raise TypeError(f"D must be a torch.nn.Module, got {type(D).__name__}.")
    if not isinstance(n, int) or isinstance(n, bool) or n < 2:
        raise ValueError(f"n must be an int >= 2, got {n!r}.")
    for name, lim in (("xlim", xlim), ("ylim", ylim)):
        if len(lim) != 2 or not float(lim[1]) > float(lim[0]):
            raise ValueError(f"{name} must be (lo, hi) with hi > lo, got {lim!r}.")
    ref = next(iter(D.parameters()), None)
    if ref is None:
        ref = next(iter(D.buffers()), torch.zeros(()))
    xs = np.linspace(float(xlim[0]), float(xlim[1]), n)
    ys = np.linspace(float(ylim[0]), float(ylim[1]), n)
    X, Y = np.meshgrid(xs, ys)  # (n, n): row i is y_i, column j is x_j
    points = torch.as_tensor(np.stack([X.ravel(), Y.ravel()], axis=1), device=ref.device, dtype=ref.dtype)  # (n*n, 2)
    was_training = D.training
    D.eval()
    try:
        out = D(points)
    finally:
        D.train(was_training)
    if out.dim() == 2 and out.shape[1] == 1:
        out = out[:, 0]  # (n*n, 1) -> (n*n,)
    if out.shape != (n * n,):
        raise ValueError(
            f"D must return one value per point, shape ({n * n},) or ({n * n}, 1), got {tuple(out.shape)}."
        )
    if apply_sigmoid:
        out = torch.sigmoid(out)
    return X, Y, out.to("cpu", torch.float64).numpy().reshape(n, n)


def plot_d_contour_2d(
    D: nn.Module,
    xlim: tuple[float, float],
    ylim: tuple[float, float],
    ax: Any = None,
    n: int = 100,
    title: str | None = None,
    apply_sigmoid: bool = True,
    real: Any = None,
    fake: Any = None,
) -> Any:
    """A filled contour plot of :math:`D(x) = \\sigma(\\text{logit})` over a rectangle, with optional points on top.

    Args:
        D, xlim, ylim, n, apply_sigmoid: as in :func:`discriminator_grid_2d`.
        ax: the axes to draw on (a new figure if ``None``).
        title: the title (default ``"Discriminator output D(x)"``).
        real, fake: optional ``(N, 2)`` points drawn over the contours (black / green).

    Returns:
        the ``Axes`` (with a colour bar).
    """
    X, Y, V = discriminator_grid_2d(D, xlim, ylim, n=n, apply_sigmoid=apply_sigmoid)
    ax = _new_axes(ax, figsize=(5.5, 4.5))
    levels = np.linspace(0.0, 1.0, 21) if apply_sigmoid else 20
    filled = ax.contourf(X, Y, V, levels=levels, cmap="coolwarm")
    ax.figure.colorbar(filled, ax=ax, label="D(x)" if apply_sigmoid else "critic value")
    for name, pts, color in (("real", real, "black"), ("fake", fake, "green")):
        if pts is not None:
            p = _to_numpy(pts, name)
            if p.ndim != 2 or p.shape[1] != 2:
                raise ValueError(f"{name} must have shape (N, 2), got {p.shape}.")
            ax.scatter(p[:, 0], p[:, 1], s=4, color=color, alpha=0.6, label=name)
    if real is not None or fake is not None:
        ax.legend(loc="upper right", fontsize="small", markerscale=3)
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    ax.set_title(title if title is not None else ("Discriminator output D(x)" if apply_sigmoid else "Critic output"))
    return ax
