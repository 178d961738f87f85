"""Walking the latent space of a generator: linear and spherical interpolation, vector arithmetic, a slider.

Radford et al. (2016, Section 6.1) walk between latent codes to show that a DCGAN has learned smooth transitions (a
room gaining a window, a TV turning into a window) rather than memorised images, and (Section 6.3.2) average the
codes of three samples per concept to do arithmetic: smiling woman - neutral woman + neutral man = smiling man.

Why spherical interpolation (the course draws Gaussian codes; the paper drew them uniformly from
:math:`[-1, 1]^{100}`, where the same argument holds with norms near :math:`\\sqrt{D/3}`): a code
:math:`z \\sim \\mathcal{N}(0, I_D)` has norm close to :math:`\\sqrt{D}` (the
mass of a high-dimensional Gaussian sits on a thin shell), while the midpoint of a straight line between two
independent codes has norm close to :math:`\\sqrt{D/2}`, a region the generator never saw in training. Slerp walks
along the great circle instead and keeps the norm when the endpoints have equal norms (White, *Sampling Generative
Networks*, 2016).

Interpolation parameters ``t`` must lie in :math:`[0, 1]`: a value outside is refused with a ``ValueError`` (it is
usually a step index passed by mistake, and slerp beyond the endpoints keeps circling). To extrapolate on purpose,
write :math:`z_0 + t (z_1 - z_0)` directly.
"""

from __future__ import annotations

import io
from typing import Any

import torch
from torch import Tensor, nn

from course_lib.viz.plots import make_grid_array

__all__ = [
    "lerp",
    "slerp",
    "interpolation_path",
    "vector_arithmetic",
    "latent_walk_frames",
    "latent_walk_widget",
]

#: Angles (radians) closer than this to 0 or to pi make slerp fall back to lerp: the great circle through two
#: (anti)parallel vectors is not defined, and near 0 the two interpolations agree to within angle**2.
PARALLEL_ANGLE: float = 1e-4


def _check_codes(z0: object, z1: object) -> tuple[Tensor, Tensor]:
    for z, name in ((z0, "z0"), (z1, "z1")):
        if not isinstance(z, Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(z).__name__}.")
        if not z.is_floating_point():
            raise TypeError(f"{name} must be a floating-point tensor, got dtype {z.dtype}.")
        if z.ndim not in (1, 2) or z.shape[-1] == 0:
            raise ValueError(f"{name} must have shape (D,) or (N, D) with D >= 1, got {tuple(z.shape)}.")
        if not torch.isfinite(z).all():
            raise ValueError(f"{name} contains a NaN or an infinite value.")
    if z0.shape != z1.shape:
        raise ValueError(f"z0 and z1 must have the same shape, got {tuple(z0.shape)} and {tuple(z1.shape)}.")
    if z0.device != z1.device:
        raise ValueError(f"z0 and z1 must be on the same device, got {z0.device} and {z1.device}.")
    dtype = torch.promote_types(z0.dtype, z1.dtype)
    return z0.to(dtype), z1.to(dtype)


def _check_t(t: object, like: Tensor) -> tuple[Tensor, bool]:
    """``t`` as a tensor in ``like``'s dtype and device, and whether it is a batch of steps (1-D)."""
    if isinstance(t, bool) or not isinstance(t, (int, float, Tensor)):
        raise TypeError(f"t must be a number or a tensor of numbers in [0, 1], got {type(t).__name__}.")
    if isinstance(t, Tensor):
        if t.is_complex() or t.dtype == torch.bool:
            raise TypeError(f"t must be a real tensor, got dtype {t.dtype}.")
        if t.ndim > 1:
            raise ValueError(f"t must be a number, a 0-d tensor or a 1-D tensor of steps, got shape {tuple(t.shape)}.")
        batched = t.ndim == 1
        t = t.to(device=like.device, dtype=like.dtype)
    else:
        batched = False
        t = torch.tensor(float(t), dtype=like.dtype, device=like.device)
    if not torch.isfinite(t).all():
        raise ValueError("t must be finite.")
    if ((t < 0) | (t > 1)).any():
        bad = t[(t < 0) | (t > 1)].reshape(-1)[0].item()
        raise ValueError(
            f"t must lie in [0, 1] (interpolation only), got {bad:g}; to extrapolate, compute z0 + t * (z1 - z0)."
        )
    return t, batched


def _broadcast_t(t: Tensor, batched: bool, z: Tensor) -> Tensor:
    """Shape ``t`` to broadcast against codes ``z`` with a leading steps axis when ``batched``."""
    if not batched:
        return t  # 0-d
    return t.reshape(-1, *([1] * z.ndim))  # (T, 1) for (D,) codes, (T, 1, 1) for (N, D)


def lerp(z0: Tensor, z1: Tensor, t: float | Tensor) -> Tensor:
    """Linear interpolation between latent codes.

    .. math:: \\operatorname{lerp}(z_0, z_1; t) = (1 - t)\\, z_0 + t\\, z_1, \\qquad t \\in [0, 1]

    Args:
        z0, z1: ``Tensor[D]`` or ``Tensor[N, D]`` of the same shape (``N`` pairs interpolated in parallel).
        t: a number or 0-d tensor (one step), or a ``Tensor[T]`` of steps, each in :math:`[0, 1]`.

    Returns:
        ``z0``'s shape for one step; ``(T, *z0.shape)`` for ``T`` steps. In the promoted dtype of the codes, on
        their device.
    """
    z0, z1 = _check_codes(z0, z1)
    t, batched = _check_t(t, z0)
    tt = _broadcast_t(t, batched, z0)
    return (1 - tt) * z0 + tt * z1  # (1 - t) z0 + t z1


def slerp(z0: Tensor, z1: Tensor, t: float | Tensor) -> Tensor:
    """Spherical linear interpolation (Shoemake 1985) between latent codes, as White (2016) proposes for GANs.

    .. math::
        \\operatorname{slerp}(z_0, z_1; t) = \\frac{\\sin((1 - t)\\,\\omega)}{\\sin \\omega}\\, z_0
                                            + \\frac{\\sin(t\\,\\omega)}{\\sin \\omega}\\, z_1,
        \\qquad \\omega = \\angle(z_0, z_1) = 2 \\operatorname{atan2}(\\|\\hat z_0 - \\hat z_1\\|,
        \\|\\hat z_0 + \\hat z_1\\|)

    with :math:`\\hat z = z / \\|z\\|` (this form of the angle stays accurate near 0 and :math:`\\pi`, where
    :math:`\\arccos` of a dot product does not). For equal norms the path stays on the sphere of that radius and
    moves at constant angular speed :math:`\\omega` per unit of :math:`t`; for unequal norms the norm varies
    smoothly between them. The endpoints are reproduced exactly up to rounding.

    Falls back to :func:`lerp` (per pair) when :math:`\\omega <` :data:`PARALLEL_ANGLE` or
    :math:`\\omega > \\pi -` :data:`PARALLEL_ANGLE` (nearly parallel or opposite codes, where the formula is 0/0 or
    the great circle is undefined), and when either code is the zero vector (no angle).

    Args:
        z0, z1: ``Tensor[D]`` or ``Tensor[N, D]`` of the same shape; each row is one pair.
        t: a number or 0-d tensor, or a ``Tensor[T]`` of steps, each in :math:`[0, 1]`.

    Returns:
        ``z0``'s shape for one step; ``(T, *z0.shape)`` for ``T`` steps; promoted dtype of the codes, their device.
        Differentiable, also at the fallback.
    """
    z0, z1 = _check_codes(z0, z1)
    t, batched = _check_t(t, z0)
    tt = _broadcast_t(t, batched, z0)
    n0 = torch.linalg.vector_norm(z0, dim=-1, keepdim=True)  # (..., 1)
    n1 = torch.linalg.vector_norm(z1, dim=-1, keepdim=True)
    degenerate = (n0 == 0) | (n1 == 0)  # (..., 1) no direction, no angle
    u0 = z0 / torch.where(degenerate, torch.ones_like(n0), n0)  # unit vectors (zero rows stay zero)
    u1 = z1 / torch.where(degenerate, torch.ones_like(n1), n1)
    omega = 2 * torch.atan2(
        torch.linalg.vector_norm(u0 - u1, dim=-1, keepdim=True), torch.linalg.vector_norm(u0 + u1, dim=-1, keepdim=True)
    )  # (..., 1) the angle between z0 and z1, in [0, pi]
    fallback = degenerate | (omega < PARALLEL_ANGLE) | (omega > torch.pi - PARALLEL_ANGLE)
    safe_sin = torch.where(fallback, torch.ones_like(omega), torch.sin(omega))  # no 0/0 in the unused branch
    a = torch.sin((1 - tt) * omega) / safe_sin  # weight of z0, (..., 1) or (T, ..., 1)
    b = torch.sin(tt * omega) / safe_sin  # weight of z1
    spherical = a * z0 + b * z1  # sin((1-t) w)/sin w z0 + sin(t w)/sin w z1
    linear = (1 - tt) * z0 + tt * z1
    return torch.where(fallback, linear, spherical)


_METHODS = {"lerp": lerp, "slerp": slerp}


def interpolation_path(z0: Tensor, z1: Tensor, steps: int, method: str = "slerp") -> Tensor:
    """``steps`` evenly spaced points from ``z0`` to ``z1`` (both included).

    .. math:: z^{(j)} = \\operatorname{interp}(z_0, z_1; t_j), \\qquad t_j = \\frac{j}{\\text{steps} - 1},\\
              j = 0, \\dots, \\text{steps} - 1

    Args:
        z0, z1: ``Tensor[D]`` or ``Tensor[N, D]``.
        steps: number of points, at least 2.
        method: ``"slerp"`` (default) or ``"lerp"``.

    Returns:
        ``Tensor[steps, D]`` or ``Tensor[steps, N, D]``; ``out[0]`` is ``z0`` and ``out[-1]`` is ``z1``.
    """
    if method not in _METHODS:
        raise ValueError(f"method must be one of {sorted(_METHODS)}, got {method!r}.")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 2:
        raise ValueError(f"steps must be an int of at least 2 (both endpoints), got {steps!r}.")
    z0, z1 = _check_codes(z0, z1)
    t = torch.linspace(0.0, 1.0, steps, dtype=z0.dtype, device=z0.device)  # (steps,)
    return _METHODS[method](z0, z1, t)


def vector_arithmetic(a: Tensor, b: Tensor, c: Tensor) -> Tensor:
    """Latent vector arithmetic with concept averages (Radford et al. 2016, Section 6.3.2, Figure 7).

    .. math:: z = \\bar z_a - \\bar z_b + \\bar z_c, \\qquad \\bar z_a = \\frac{1}{K_a} \\sum_{i=1}^{K_a} z_{a, i}

    e.g. :math:`a` = smiling woman, :math:`b` = neutral woman, :math:`c` = neutral man gives a smiling man. The paper
    averages :math:`K = 3` codes per concept, because arithmetic on single samples was unstable.

    Args:
        a, b, c: ``Tensor[K, D]`` codes of the samples showing each concept (``K`` may differ between them), or
            ``Tensor[D]`` for a single code.

    Returns:
        ``Tensor[D]`` in the promoted dtype, on the codes' device.
    """
    means = []
    for z, name in ((a, "a"), (b, "b"), (c, "c")):
        if not isinstance(z, Tensor) or not z.is_floating_point():
            raise TypeError(f"{name} must be a floating-point torch.Tensor of codes.")
        if z.ndim == 1:
            z = z[None]  # (D,) -> (1, D)
        if z.ndim != 2 or z.shape[0] == 0 or z.shape[1] == 0:
            raise ValueError(f"{name} must have shape (K, D) with K, D >= 1, or (D,), got {tuple(z.shape)}.")
        means.append(z.mean(dim=0))  # (D,) the concept's average code
    dims = {m.shape[0] for m in means}
    if len(dims) != 1:
        raise ValueError(f"a, b and c must have the same code dimension D, got {[m.shape[0] for m in means]}.")
    if len({m.device for m in means}) != 1:
        raise ValueError("a, b and c must be on the same device.")
    return means[0] - means[1] + means[2]  # mean(a) - mean(b) + mean(c)


# --------------------------------------------------------------------------------------------------------------
# The latent walk as pictures, and as a slider
# --------------------------------------------------------------------------------------------------------------
@torch.no_grad()
def latent_walk_frames(
    G: nn.Module, z0: Tensor, z1: Tensor, steps: int = 9, method: str = "slerp", batch_size: int = 256
) -> Tensor:
    """The generator's images along an interpolation path: ``G(interpolation_path(z0, z1, steps, method))``.

    Runs ``G`` in evaluation mode (batch norm uses its running statistics, so a frame does not depend on the
    others) and restores its previous mode afterwards.

    Args:
        G: a generator taking ``Tensor[B, D]``.
        z0, z1: ``Tensor[D]`` (one walk) or ``Tensor[N, D]`` (``N`` walks side by side), on ``G``'s device.
        steps: points per walk, at least 2; method: ``"slerp"`` or ``"lerp"``.
        batch_size: codes per forward pass.

    Returns:
        ``Tensor[steps, N, C, H, W]`` (``N = 1`` for a single walk), on the generator's output device.
    """
    if not isinstance(G, nn.Module):
        raise TypeError(f"G must be a torch.nn.Module, got {type(G).__name__}.")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}.")
    path = interpolation_path(z0, z1, steps, method)  # (steps, D) or (steps, N, D)
    if path.ndim == 2:
        path = path[:, None]  # (steps, 1, D)
    n_steps, n, d = path.shape
    flat = path.reshape(n_steps * n, d)  # (steps * N, D)
    was_training = G.training
    G.eval()
    try:
        images = torch.cat([G(chunk) for chunk in flat.split(batch_size)])  # (steps * N, C, H, W)
    finally:
        G.train(was_training)
    return images.reshape(n_steps, n, *images.shape[1:])  # (steps, N, C, H, W)


def _png_bytes(images: Tensor, value_range: tuple[float, float]) -> bytes:
    """One row of images as PNG bytes (matplotlib's image writer, no figure)."""
    from matplotlib import image as mpimg

    grid = make_grid_array(images, nrow=images.shape[0], value_range=value_range)  # (H', W') or (H', W', 3)
    buf = io.BytesIO()
    if grid.ndim == 2:
        mpimg.imsave(buf, grid, cmap="gray", vmin=0.0, vmax=1.0, format="png")
    else:
        mpimg.imsave(buf, grid, format="png")
    return buf.getvalue()


def latent_walk_widget(
    G: nn.Module,
    z0: Tensor,
    z1: Tensor,
    steps: int = 9,
    method: str = "slerp",
    value_range: tuple[float, float] = (-1.0, 1.0),
    width: int = 512,
    description: str = "frame",
) -> Any:
    """An ipywidgets slider over the latent walk from ``z0`` to ``z1`` that also works in the static book.

    All ``steps`` frames are rendered once (:func:`latent_walk_frames`), encoded as PNG into one
    ``ipywidgets.Image`` each, and stacked in an ``ipywidgets.Stack``; an ``IntSlider`` selects the frame through
    ``ipywidgets.jslink``, a link that runs in the browser, not in the kernel. So:

    - in Jupyter or on Colab the slider switches frames instantly;
    - in the rendered book (no kernel), the slider still works, because the frames live in the saved widget state.

    **Contract for the notebook author.** Make the widget the last expression of its cell (or ``display`` it), and
    let the notebook be executed by nbclient (``make notebooks`` and Jupyter Book's execution do this); nbclient
    stores the widget state in the notebook's metadata, and Jupyter Book 1 (myst-nb) embeds that state and loads
    the widget manager, so the slider and frames appear on the page. Keep ``steps`` modest (each frame is one PNG in
    the page). A notebook saved from JupyterLab needs "Save Widget State Automatically" turned on. Put a static
    figure (e.g. :func:`course_lib.viz.image_grid` of the frames) next to it for readers without JavaScript.

    Args:
        G: the generator; z0, z1: ``Tensor[D]`` or ``Tensor[N, D]`` (``N`` walks shown side by side).
        steps: frames, at least 2; method: ``"slerp"`` or ``"lerp"``.
        value_range: the generator's output range (``(-1, 1)`` for Tanh).
        width: display width of a frame, in pixels.
        description: the slider's label; its values are frame numbers ``0 .. steps - 1`` (the default label says
            so, "frame"; the tooltip gives the matching :math:`t`), not the interpolation weight itself.

    Returns:
        ``ipywidgets.VBox([slider, stack])``: ``box.children[0]`` is the ``IntSlider`` (values ``0 .. steps - 1``,
        frame ``j`` shows :math:`t = j / (\\text{steps} - 1)`), ``box.children[1]`` the ``Stack`` of ``Image``
        frames, and ``box.walk_link`` the ``jslink`` between them.
    """
    import ipywidgets as widgets  # lazy: only notebooks need it

    if isinstance(width, bool) or not isinstance(width, int) or width < 1:
        raise ValueError(f"width must be a positive int (pixels), got {width!r}.")
    frames = latent_walk_frames(G, z0, z1, steps, method)  # (steps, N, C, H, W)
    images = [
        widgets.Image(value=_png_bytes(frame, value_range), format="png", layout=widgets.Layout(width=f"{width}px"))
        for frame in frames
    ]
    stack = widgets.Stack(images, selected_index=0)
    slider = widgets.IntSlider(value=0, min=0, max=steps - 1, step=1, description=description, continuous_update=True,
                               tooltip=f"frame j of the walk shows t = j / {steps - 1}")
    link = widgets.jslink((slider, "value"), (stack, "selected_index"))  # runs in the browser: works without a kernel
    box = widgets.VBox([slider, stack])
    box.walk_link = link  # keep the link alive as long as the widget
    return box
