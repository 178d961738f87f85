r"""An unpaired translation task that works offline: photos (domain A) and the same kind of photos in another style
(domain B), drawn as *independent* crops, so no image of A has its partner in B.

The styles are fixed, known maps :math:`s: [0, 1]^{3 \times H \times W} \to [0, 1]^{3 \times H \times W}` of the
bundled scikit-image photos (:mod:`course_lib.data.photos`):

- ``"night"``: day to night, :math:`s(x) = \mathrm{clip}(M x^{\gamma})` with :math:`\gamma = 1.8` (darker mid-tones),
  then a colour matrix :math:`M` that desaturates and shifts towards blue;
- ``"painterly"``: a 3x3 box blur (brush strokes smooth fine texture), saturation doubled around the pixel's grey
  value, then posterised to 6 levels per channel (flat colour areas).

Training never sees pairs, but because :math:`s` is known, held-out crops :math:`a` come with their true translation
:math:`s(a)`: :func:`heldout_unpaired` returns both, so a translator can be *measured* (L1 / PSNR against
:math:`s(a)`), which real unpaired datasets (horse -> zebra) cannot do. Images are returned in [-1, 1].
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from course_lib.data.photos import load_photos, random_crops

__all__ = ["STYLES", "to_night", "to_painterly", "apply_style", "unpaired_photos", "unpaired_sampler",
           "heldout_unpaired"]

# RGB -> RGB colour matrix of the "night" style: rows are output channels (desaturated, shifted to blue)
_NIGHT = torch.tensor([[0.45, 0.25, 0.05],
                       [0.15, 0.50, 0.15],
                       [0.20, 0.30, 0.85]])


def _check_unit_images(x: object, name: str = "x") -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a Tensor (N, 3, H, W) in [0, 1], got {type(x).__name__}.")
    if x.dim() != 4 or x.shape[1] != 3:
        raise ValueError(f"{name} must be (N, 3, H, W), got shape {tuple(x.shape)}.")
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a floating tensor, got {x.dtype}.")
    return x


def to_night(x: Tensor, gamma: float = 1.8) -> Tensor:
    r"""Day -> night: :math:`\mathrm{clip}_{[0,1]}(M\,x^{\gamma})` per pixel (``(N, 3, H, W)`` in [0, 1])."""
    x = _check_unit_images(x)
    m = _NIGHT.to(device=x.device, dtype=x.dtype)
    return torch.einsum("oc,nchw->nohw", m, x.clamp(0, 1) ** gamma).clamp(0, 1)


def to_painterly(x: Tensor, levels: int = 6, saturation: float = 2.0) -> Tensor:
    r"""A painterly style: 3x3 box blur (reflect padding), saturation :math:`g + k (x - g)` with :math:`g` the mean of
    the channels and :math:`k = 2`, then posterisation :math:`\lfloor x (L - 1) \rceil / (L - 1)` with :math:`L = 6`
    (``(N, 3, H, W)`` in [0, 1])."""
    x = _check_unit_images(x)
    if isinstance(levels, bool) or not isinstance(levels, int) or levels < 2:
        raise ValueError(f"levels must be an int >= 2, got {levels!r}.")
    blurred = F.avg_pool2d(F.pad(x, (1, 1, 1, 1), mode="reflect"), 3, stride=1)
    grey = blurred.mean(dim=1, keepdim=True)
    vivid = (grey + saturation * (blurred - grey)).clamp(0, 1)
    return torch.round(vivid * (levels - 1)) / (levels - 1)


STYLES: dict[str, Callable[[Tensor], Tensor]] = {"night": to_night, "painterly": to_painterly}


def apply_style(x01: Tensor, style: str) -> Tensor:
    """The style map of :data:`STYLES` applied to images in [0, 1]."""
    if style not in STYLES:
        raise ValueError(f"unknown style {style!r}; one of {sorted(STYLES)}.")
    return STYLES[style](x01)


def _check_positive(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}.")
    if value < 1:
        raise ValueError(f"{name} must be >= 1, got {value}.")
    return value


def unpaired_photos(n: int, size: int = 32, style: str = "night", *, seed: int = 0, scale: float = 0.25,
                    verbose: bool = True) -> tuple[Tensor, Tensor]:
    r"""``n`` crops of domain A (photos) and ``n`` *other* crops of domain B (styled photos), from the training
    photos, in [-1, 1]: ``(a[n, 3, size, size], b[n, 3, size, size])``.

    A's crops and B's crops are drawn independently (two generators seeded ``seed`` and ``seed + 1``; B's crops are
    styled after cropping), so ``a[i]`` and ``b[i]`` show different places: the task is unpaired. ``scale``
    resizes the photos first (0.25: a 512-pixel photo becomes 128 pixels, so a 32-pixel crop holds an object part).
    """
    n = _check_positive(n, "n")
    size = _check_positive(size, "size")
    apply_style(torch.zeros(1, 3, 4, 4), style)  # validates the name
    photos = load_photos("train", scale)
    a = random_crops(photos, n, size, generator=torch.Generator().manual_seed(seed))
    b = apply_style(random_crops(photos, n, size, generator=torch.Generator().manual_seed(seed + 1)), style)
    if verbose:
        print(f"Unpaired photos: {n} crops of {size}x{size} per domain from {len(photos)} training photos bundled in "
              f"scikit-image (scale {scale:g}), A = photo, B = {style} (independent crops, no pairs).")
    return a * 2 - 1, b * 2 - 1


def unpaired_sampler(size: int = 32, style: str = "night", *, scale: float = 0.25
                     ) -> Callable[[int, torch.Generator], tuple[Tensor, Tensor]]:
    """A sampler ``(n, generator) -> (a, b)`` for the trainer: fresh independent crops of A and B at every call
    (an endless supply of unpaired minibatches), in [-1, 1]."""
    size = _check_positive(size, "size")
    apply_style(torch.zeros(1, 3, 4, 4), style)
    photos = load_photos("train", scale)

    def sample(n: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        a = random_crops(photos, n, size, generator=generator)
        b = apply_style(random_crops(photos, n, size, generator=generator), style)
        return a * 2 - 1, b * 2 - 1

    return sample


def heldout_unpaired(n: int, size: int = 32, style: str = "night", *, seed: int = 0, scale: float = 0.25
                     ) -> tuple[Tensor, Tensor]:
    r"""Held-out crops :math:`a` of the test photos (never used for training) and their true translations
    :math:`s(a)`, in [-1, 1]: ``(a[n, 3, size, size], s_a[n, 3, size, size])``, for measuring a translator."""
    n = _check_positive(n, "n")
    size = _check_positive(size, "size")
    a = random_crops(load_photos("test", scale), n, size, generator=torch.Generator().manual_seed(seed),
                     augment=False)
    return a * 2 - 1, apply_style(a, style) * 2 - 1
