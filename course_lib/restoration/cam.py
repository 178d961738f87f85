r"""Class activation maps (Zhou et al. 2016) and Grad-CAM (Selvaraju et al. 2017): where a classifier looks.

A classifier that ends with global average pooling (GAP) and one linear layer scores class :math:`c` as

.. math::  S_c = \sum_k w_{c,k} \frac{1}{hw}\sum_{x,y} f_k(x, y) = \frac{1}{hw}\sum_{x,y} M_c(x, y), \qquad
           M_c(x, y) = \sum_k w_{c,k} f_k(x, y),

so the class activation map :math:`M_c` says how much each position adds to the score
(:func:`class_activation_map`). To draw it, :func:`cam_heatmap` keeps the positive part, divides each map by its
maximum and upsamples it to the image size; :func:`cam_box` thresholds it (Zhou et al.: at 20% of the maximum) and
returns the box of the largest connected region. Grad-CAM (:func:`grad_cam`) replaces :math:`w_{c,k}` by the mean
gradient :math:`\alpha_k = \frac{1}{hw}\sum_{x,y} \partial S_c / \partial f_k(x, y)` and so works for any head; for
a GAP + linear head :math:`\alpha_k = w_{c,k} / (hw)` and Grad-CAM is the CAM up to that factor (a test checks it).
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from course_lib.registry import register_model

__all__ = ["class_activation_map", "cam_heatmap", "grad_cam", "cam_box", "pointing_hit", "GAPClassifier"]


def _check_cam_inputs(features: object, fc_weight: object, class_idx: object) -> tuple[Tensor, Tensor, Tensor]:
    if not isinstance(features, Tensor) or not isinstance(fc_weight, Tensor) or not isinstance(class_idx, Tensor):
        raise TypeError("features, fc_weight and class_idx must be tensors.")
    if features.dim() != 4:
        raise ValueError(f"features must be [B, K, h, w], got {tuple(features.shape)}.")
    if fc_weight.dim() != 2 or fc_weight.shape[1] != features.shape[1]:
        raise ValueError(f"fc_weight must be [C, K] with K = {features.shape[1]} (the feature channels), got "
                         f"{tuple(fc_weight.shape)}.")
    if class_idx.dtype not in (torch.int64, torch.int32) or class_idx.shape != (features.shape[0],):
        raise ValueError(f"class_idx must be an integer tensor [B] = [{features.shape[0]}], got "
                         f"{class_idx.dtype} {tuple(class_idx.shape)}.")
    if bool((class_idx < 0).any()) or bool((class_idx >= fc_weight.shape[0]).any()):
        raise ValueError(f"class_idx must lie in [0, {fc_weight.shape[0]}).")
    if not features.is_floating_point() or not fc_weight.is_floating_point():
        raise TypeError("features and fc_weight must be floating point.")
    return features, fc_weight, class_idx


def class_activation_map(features: Tensor, fc_weight: Tensor, class_idx: Tensor) -> Tensor:
    r"""``[B, K, h, w], [C, K], [B] -> [B, h, w]``: :math:`M_b(x, y) = \sum_k w_{c_b, k}\, f_{b,k}(x, y)`.

    The raw map at the features' resolution (no ReLU, no normalisation, no upsampling): its mean over positions
    plus the bias is the class logit.
    """
    features, fc_weight, class_idx = _check_cam_inputs(features, fc_weight, class_idx)
    w = fc_weight.to(features.dtype)[class_idx.long()]  # (B, K): the row of each sample's class
    return torch.einsum("bk,bkhw->bhw", w, features)


def _size(size: object) -> tuple[int, int]:
    if isinstance(size, int) and not isinstance(size, bool):
        size = (size, size)
    if not (isinstance(size, tuple) and len(size) == 2 and all(isinstance(s, int) and s > 0 for s in size)):
        raise ValueError(f"size must be a positive int or a pair (H, W), got {size!r}.")
    return size  # type: ignore[return-value]


def _normalise_up(cam: Tensor, size: tuple[int, int]) -> Tensor:
    m = F.relu(cam)
    peak = m.flatten(1).amax(dim=1).view(-1, 1, 1)
    m = torch.where(peak > 0, m / torch.where(peak > 0, peak, torch.ones_like(peak)), torch.zeros_like(m))
    return F.interpolate(m.unsqueeze(1), size=size, mode="bilinear", align_corners=False).squeeze(1)


def cam_heatmap(features: Tensor, fc_weight: Tensor, class_idx: Tensor, size: int | tuple[int, int]) -> Tensor:
    r"""The CAM as a picture: ``[B, K, h, w], [C, K], [B], (H, W) -> [B, H, W]`` in [0, 1].

    1. :math:`M_b = \sum_k w_{c_b,k} f_{b,k}` (:func:`class_activation_map`); 2. ReLU; 3. divide each map by its
    maximum (a map with no positive value stays 0); 4. bilinear upsampling to ``size`` (``align_corners=False``).
    """
    return _normalise_up(class_activation_map(features, fc_weight, class_idx), _size(size))


def grad_cam(features: Tensor, head: Callable[[Tensor], Tensor], class_idx: Tensor,
             size: int | tuple[int, int] | None = None) -> Tensor:
    r"""Grad-CAM: ``[B, K, h, w] -> [B, h, w]`` (or ``[B, H, W]`` in [0, 1] with ``size``).

    :math:`\alpha_{b,k} = \frac{1}{hw}\sum_{x,y} \partial S_{c_b} / \partial f_{b,k}(x, y)`,
    :math:`L_b = \mathrm{ReLU}(\sum_k \alpha_{b,k} f_{b,k})`, where ``head(features) -> [B, C]`` logits :math:`S`.
    Without ``size`` the map is returned as is (after the ReLU); with it, normalised and upsampled as
    :func:`cam_heatmap`.
    """
    if not isinstance(features, Tensor) or features.dim() != 4:
        raise ValueError("features must be a [B, K, h, w] tensor.")
    f = features.detach().requires_grad_(True)
    with torch.enable_grad():
        logits = head(f)
        if logits.dim() != 2 or logits.shape[0] != f.shape[0]:
            raise ValueError(f"head must return [B, C] logits, got {tuple(logits.shape)}.")
        score = logits.gather(1, class_idx.long().view(-1, 1).to(logits.device)).sum()
        (grad,) = torch.autograd.grad(score, f)
    alpha = grad.mean(dim=(2, 3))  # (B, K)
    raw = torch.einsum("bk,bkhw->bhw", alpha, f.detach())
    if size is None:
        return F.relu(raw)
    return _normalise_up(raw, _size(size))


def cam_box(heatmap: Tensor, threshold: float = 0.2) -> Tensor:
    r"""``[B, H, W] -> [B, 4]`` float32 xyxy boxes in pixels (pixel :math:`j` is :math:`[j, j+1)`).

    Zhou et al.'s localisation: keep the pixels above ``threshold`` times the map's maximum and box the largest
    connected region (8-connectivity, :func:`scipy.ndimage.label`). A map with no positive value gives the whole
    image.
    """
    from scipy import ndimage

    if not isinstance(heatmap, Tensor) or heatmap.dim() != 3:
        raise ValueError("heatmap must be a [B, H, W] tensor.")
    if not 0 <= threshold < 1:
        raise ValueError(f"threshold must lie in [0, 1), got {threshold}.")
    maps = heatmap.detach().double().cpu().numpy()
    boxes = []
    for m in maps:
        h, w = m.shape
        peak = m.max()
        if not peak > 0:
            boxes.append([0.0, 0.0, float(w), float(h)])
            continue
        labels, n = ndimage.label(m > threshold * peak, structure=np.ones((3, 3)))
        sizes = ndimage.sum(np.ones_like(m), labels, index=np.arange(1, n + 1))
        ys, xs = np.nonzero(labels == 1 + int(np.argmax(sizes)))
        boxes.append([float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)])
    return torch.tensor(boxes, dtype=torch.float32, device=heatmap.device)


def pointing_hit(heatmap: Tensor, boxes: Tensor) -> Tensor:
    r"""The pointing game: ``[B, H, W], [B, 4] -> [B]`` bool, whether the map's maximum lies inside the true box."""
    if heatmap.dim() != 3 or boxes.shape != (heatmap.shape[0], 4):
        raise ValueError("need heatmap [B, H, W] and boxes [B, 4].")
    flat = heatmap.flatten(1).argmax(dim=1)
    y = (flat // heatmap.shape[2]).to(boxes.dtype) + 0.5
    x = (flat % heatmap.shape[2]).to(boxes.dtype) + 0.5
    return (x >= boxes[:, 0]) & (x <= boxes[:, 2]) & (y >= boxes[:, 1]) & (y <= boxes[:, 3])


@register_model(
    "gap_classifier", kind="classifier", example_kwargs={"n_classes": 3, "widths": (4, 8)},
    example_input=lambda model, n: torch.rand(n, 3, 16, 16),
    expected_shape=lambda model, n: (n, 3),
)
class GAPClassifier(nn.Module):
    r"""A small CAM-ready classifier: ``conv body -> [B, K, h, w] -> GAP -> Linear(K, C)``.

    ``features(x)`` gives the last feature maps, ``fc`` the linear layer whose ``weight`` ``[C, K]`` the CAM uses.
    The body: ``(conv 3x3 -> BN -> ReLU) x 2`` per stage, max-pool between stages; ``widths`` sets the stages, so
    ``len(widths) - 1`` poolings (a 64x64 image and 3 stages give 16x16 maps).
    """

    def __init__(self, in_channels: int = 3, n_classes: int = 3, widths: tuple[int, ...] = (16, 32, 64)) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c = in_channels
        for i, width in enumerate(widths):
            if i:
                layers.append(nn.MaxPool2d(2))
            layers += [nn.Conv2d(c, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
                       nn.Conv2d(width, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU()]
            c = width
        self.body = nn.Sequential(*layers)
        self.fc = nn.Linear(c, n_classes)

    def features(self, x: Tensor) -> Tensor:
        return self.body(x)

    def head(self, features: Tensor) -> Tensor:
        """GAP then the linear layer: ``[B, K, h, w] -> [B, C]``."""
        return self.fc(features.mean(dim=(2, 3)))

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x))

    def cam(self, x: Tensor, class_idx: Tensor | None = None) -> Tensor:
        """The heat map ``[B, H, W]`` of ``class_idx`` (default: the predicted class) at the input's size."""
        f = self.features(x)
        if class_idx is None:
            class_idx = self.head(f).argmax(dim=1)
        return cam_heatmap(f, self.fc.weight, class_idx, tuple(x.shape[-2:]))
