r"""Paired image-to-image tasks built offline from the colour photos of scikit-image (chapter 10, pix2pix).

Each task maps an input image :math:`a` to a target :math:`b` (the photo) of the same crop. The input is computed
from the whole (scaled) photo first and stacked with it, so that one random crop and one mirror cut both alike:

=================  ===================================================================  ==========
``edges2photo``    Canny edges (scikit-image, ``sigma``) of the grey photo, 1 channel     1 -> 3
``grey2colour``    the luminance :math:`Y = 0.2125 R + 0.7154 G + 0.0721 B` (``rgb2gray``)  1 -> 3
``labels2photo``   a "semantic-like" label map: each pixel's nearest of ``K`` colour       3 -> 3
                   centroids (k-means on the *training* photos, after a Gaussian blur),
                   painted in a fixed palette, as facades' label maps are
``blur2sharp``     the photo blurred by a Gaussian of std ``sigma`` pixels                  3 -> 3
=================  ===================================================================  ==========

Values are in [-1, 1] (:math:`2v - 1`; edges: +1 on an edge, -1 elsewhere). ``train`` crops come from
:data:`course_lib.data.photos.PHOTO_SPLIT` ``["train"]`` with random mirroring; ``test`` crops from the held-out
photos, without augmentation, from their own seed: no test crop shares a pixel with a training photo.
:meth:`PairedTask.sampler` draws fresh training crops for the trainer (``(n, generator) -> (a, b)``).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from course_lib.data.photos import load_photos, random_crops

__all__ = ["PAIRED_TASKS", "PairedTask", "make_paired_task", "canny_edges", "luminance", "label_map",
           "gaussian_blur", "LABEL_PALETTE", "to_unit"]

PAIRED_TASKS: dict[str, str] = {
    "edges2photo": "Canny edges of the grey photo -> the colour photo",
    "grey2colour": "the luminance -> the colour photo",
    "labels2photo": "a k-means colour label map -> the photo",
    "blur2sharp": "the photo blurred by a Gaussian -> the sharp photo",
}

#: The label map's palette: K <= 10 distinct colours (matplotlib's tab10), in [0, 1].
LABEL_PALETTE = torch.tensor([
    [0.122, 0.467, 0.706], [1.000, 0.498, 0.055], [0.173, 0.627, 0.173], [0.839, 0.153, 0.157],
    [0.580, 0.404, 0.741], [0.549, 0.337, 0.294], [0.890, 0.467, 0.761], [0.498, 0.498, 0.498],
    [0.737, 0.741, 0.133], [0.090, 0.745, 0.812]])

_RGB2GRAY = (0.2125, 0.7154, 0.0721)   # scikit-image's rgb2gray (ITU-R BT.709)


def _photo(x: object, name: str = "photo") -> Tensor:
    if not isinstance(x, Tensor) or x.dim() != 3 or x.shape[0] != 3 or not x.is_floating_point():
        raise ValueError(f"{name} must be a floating (3, H, W) tensor in [0, 1], got "
                         f"{tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__}.")
    return x


def _positive(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}.")
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be finite and > 0, got {value}.")
    return float(value)


def _int(value: object, name: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}.")
    if value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}.")
    return value


def luminance(photo: Tensor) -> Tensor:
    r"""``(3, H, W) -> (1, H, W)``: :math:`Y = 0.2125 R + 0.7154 G + 0.0721 B`, scikit-image's ``rgb2gray``."""
    photo = _photo(photo)
    w = torch.tensor(_RGB2GRAY, dtype=photo.dtype, device=photo.device)
    return (photo * w[:, None, None]).sum(0, keepdim=True)


def canny_edges(photo: Tensor, sigma: float = 1.0) -> Tensor:
    """``(3, H, W)`` in [0, 1] -> ``(1, H, W)`` in {0, 1}: ``skimage.feature.canny`` of :func:`luminance` with
    Gaussian std ``sigma`` (scikit-image's default hysteresis thresholds: 10% and 20% of the dtype's range)."""
    from skimage.feature import canny

    photo = _photo(photo)
    sigma = _positive(sigma, "sigma")
    grey = luminance(photo)[0].detach().cpu().double().numpy()
    edges = canny(grey, sigma=sigma)
    return torch.from_numpy(edges).to(photo.dtype).to(photo.device)[None]


def gaussian_blur(photo: Tensor, sigma: float) -> Tensor:
    r"""``(C, H, W)`` blurred by a separable Gaussian of std ``sigma``: kernel radius
    :math:`r = \lfloor 3\sigma + 1/2 \rfloor`, weights :math:`\propto e^{-t^2 / 2\sigma^2}` normalised to 1, the
    border mirrored without repeating the edge pixel; this is ``scipy.ndimage.gaussian_filter(x, sigma,
    mode='mirror', truncate=3)`` per channel."""
    if not isinstance(photo, Tensor) or photo.dim() != 3 or not photo.is_floating_point():
        raise ValueError("photo must be a floating (C, H, W) tensor.")
    sigma = _positive(sigma, "sigma")
    r = int(3 * sigma + 0.5)
    t = torch.arange(-r, r + 1, dtype=torch.float64)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    k = (k / k.sum()).to(photo.dtype).to(photo.device)
    x = photo[None]
    c = x.shape[1]
    pad_h, pad_w = min(r, x.shape[-2] - 1), min(r, x.shape[-1] - 1)
    if pad_h < r or pad_w < r:
        raise ValueError(f"the photo ({tuple(photo.shape[-2:])}) is too small for sigma={sigma}.")
    x = F.pad(x, (r, r, 0, 0), mode="reflect")
    x = F.conv2d(x, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    x = F.pad(x, (0, 0, r, r), mode="reflect")
    x = F.conv2d(x, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)
    return x[0]


def _sq_dist(p: Tensor, c: Tensor) -> Tensor:
    """``(P, D), (K, D) -> (P, K)`` squared Euclidean distances, :math:`|p|^2 - 2 p \\cdot c + |c|^2`."""
    return ((p * p).sum(1, keepdim=True) - 2 * p @ c.T + (c * c).sum(1)).clamp_min(0)


def _kmeans(points: Tensor, k: int, iters: int = 20, seed: int = 0) -> Tensor:
    """Lloyd's k-means on ``(P, D)`` float64 points, k-means++ seeding from ``seed``; returns ``(k, D)`` centroids
    sorted by their first coordinate (so labels do not depend on the seeding order)."""
    g = torch.Generator().manual_seed(seed)
    centres = [points[torch.randint(len(points), (1,), generator=g)].squeeze(0)]
    for _ in range(1, k):
        d2 = _sq_dist(points, torch.stack(centres)).min(1).values
        centres.append(points[torch.multinomial(d2 / d2.sum(), 1, generator=g)].squeeze(0))
    c = torch.stack(centres)
    for _ in range(iters):
        assign = _sq_dist(points, c).argmin(1)
        for j in range(k):
            members = points[assign == j]
            if len(members):
                c[j] = members.mean(0)
    return c[torch.argsort(c[:, 0])]


@functools.lru_cache(maxsize=8)
def _label_centroids(k: int, scale: float, blur: float) -> Tensor:
    """k-means colour centroids of the blurred *training* photos (every 16th pixel), cached."""
    pts = []
    for p in load_photos("train", scale):
        q = gaussian_blur(p, blur) if blur > 0 else p
        pts.append(q.reshape(3, -1).T[::16])
    return _kmeans(torch.cat(pts).double(), k)


def label_map(photo: Tensor, centroids: Tensor, blur: float = 1.5) -> tuple[Tensor, Tensor]:
    r"""The label of each pixel, :math:`\arg\min_j \lVert \tilde p - c_j \rVert` for the Gaussian-blurred photo
    :math:`\tilde p` (std ``blur``; 0: none), and its picture in :data:`LABEL_PALETTE`.

    Returns:
        ``labels`` int64 ``(H, W)`` in ``[0, K)`` and ``picture`` ``(3, H, W)`` in [0, 1].
    """
    photo = _photo(photo)
    if not isinstance(centroids, Tensor) or centroids.dim() != 2 or centroids.shape[1] != 3:
        raise ValueError("centroids must be a (K, 3) tensor.")
    if not 1 <= centroids.shape[0] <= len(LABEL_PALETTE):
        raise ValueError(f"K must be in [1, {len(LABEL_PALETTE)}], got {centroids.shape[0]}.")
    q = gaussian_blur(photo, blur) if blur > 0 else photo
    pix = q.reshape(3, -1).T.double()
    labels = _sq_dist(pix, centroids.double().to(pix.device)).argmin(1).reshape(photo.shape[-2:])
    picture = LABEL_PALETTE.to(photo.device, photo.dtype)[labels].permute(2, 0, 1)
    return labels, picture


def to_unit(x: Tensor) -> Tensor:
    """[-1, 1] -> [0, 1] (for display and for PSNR with ``data_range=1``)."""
    return (x.clamp(-1, 1) + 1) / 2


@dataclass
class PairedTask:
    """A paired task: training and held-out pairs ``(a, b)`` in [-1, 1] and the stacks to draw fresh crops from.

    Attributes:
        name: a key of :data:`PAIRED_TASKS`.
        train: ``(a, b)``, ``a`` float32 ``(n_train, in_channels, size, size)``, ``b`` ``(n_train, 3, size, size)``.
        test: the same from the held-out photos.
        in_channels, out_channels: channels of ``a`` and of ``b``.
        size, scale: the crop side and the photos' resize factor.
        stacks: the training photos with the input stacked on top, ``(in + 3, H, W)`` in [0, 1] each.
    """

    name: str
    train: tuple[Tensor, Tensor]
    test: tuple[Tensor, Tensor]
    in_channels: int
    out_channels: int
    size: int
    scale: float
    stacks: list[Tensor] = field(repr=False)

    @property
    def description(self) -> str:
        return PAIRED_TASKS[self.name]

    def split(self, crops: Tensor) -> tuple[Tensor, Tensor]:
        """Stacked crops ``(n, in + 3, s, s)`` in [0, 1] -> ``(a, b)`` in [-1, 1]."""
        a, b = crops[:, : self.in_channels], crops[:, self.in_channels:]
        return (a * 2 - 1).contiguous(), (b * 2 - 1).contiguous()

    def sampler(self, n: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """Fresh augmented training pairs: the trainer's sampler ``(n, generator) -> (a, b)``."""
        return self.split(random_crops(self.stacks, n, self.size, generator=generator, augment=True))


def _input_of(name: str, photo: Tensor, canny_sigma: float, blur_sigma: float, centroids: Tensor | None) -> Tensor:
    if name == "edges2photo":
        return canny_edges(photo, canny_sigma)
    if name == "grey2colour":
        return luminance(photo)
    if name == "labels2photo":
        return label_map(photo, centroids)[1]
    return gaussian_blur(photo, blur_sigma).clamp(0, 1)


def make_paired_task(name: str = "edges2photo", *, n_train: int = 512, n_test: int = 64, size: int = 32,
                     scale: float = 0.25, seed: int = 0, canny_sigma: float = 1.0, blur_sigma: float = 1.5,
                     n_labels: int = 8, verbose: bool = False) -> PairedTask:
    """Build a paired task (see the module docstring): ``n_train`` augmented crops of the training photos (from
    ``seed``) and ``n_test`` crops of the held-out photos (from ``seed + 1``, no augmentation), side ``size``, the
    photos resized by ``scale`` first.

    Raises:
        ValueError / TypeError: unknown ``name``; non-positive sizes; a crop larger than a scaled photo.
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a string, got {type(name).__name__}.")
    if name not in PAIRED_TASKS:
        raise ValueError(f"unknown paired task {name!r}; valid: {', '.join(PAIRED_TASKS)}.")
    n_train, n_test = _int(n_train, "n_train", 1), _int(n_test, "n_test", 1)
    size, seed = _int(size, "size", 4), _int(seed, "seed", 0)
    canny_sigma, blur_sigma = _positive(canny_sigma, "canny_sigma"), _positive(blur_sigma, "blur_sigma")
    n_labels = _int(n_labels, "n_labels", 2)
    if n_labels > len(LABEL_PALETTE):
        raise ValueError(f"n_labels must be <= {len(LABEL_PALETTE)}, got {n_labels}.")
    centroids = _label_centroids(n_labels, float(scale), 1.5) if name == "labels2photo" else None

    def stacks(split: str) -> list[Tensor]:
        return [torch.cat([_input_of(name, p, canny_sigma, blur_sigma, centroids), p]) for p in
                load_photos(split, scale)]

    train_stacks, test_stacks = stacks("train"), stacks("test")
    in_channels = train_stacks[0].shape[0] - 3
    task = PairedTask(name, (torch.empty(0),) * 2, (torch.empty(0),) * 2, in_channels, 3, size, float(scale),
                      train_stacks)
    g_train, g_test = torch.Generator().manual_seed(seed), torch.Generator().manual_seed(seed + 1)
    task.train = task.split(random_crops(train_stacks, n_train, size, generator=g_train, augment=True))
    task.test = task.split(random_crops(test_stacks, n_test, size, generator=g_test, augment=False))
    if verbose:
        print(f"Paired task {name} ({PAIRED_TASKS[name]}): {n_train} training crops {size}x{size} of "
              f"{len(train_stacks)} photos, {n_test} held-out crops of {len(test_stacks)} other photos, scale "
              f"{scale:g}, in [-1, 1] (scikit-image, no download)")
    return task
