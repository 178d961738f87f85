"""Pieces the YOLO versions share: darknet's convolutional block and the unpacking of a batch's targets.

Kept private to :mod:`course_lib.detection`: each version's module re-exports what its readers use.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from torch import nn

__all__ = ["conv_bn_leaky", "unpack_targets"]


def conv_bn_leaky(c_in: int, c_out: int, kernel: int, stride: int = 1, slope: float = 0.1) -> nn.Sequential:
    """darknet's ``[convolutional] batch_normalize=1 activation=leaky``: a convolution without bias (the batch norm
    that follows has its own shift), batch norm, leaky ReLU with negative slope ``slope`` (darknet: 0.1).
    ``padding = kernel // 2`` keeps the size at stride 1 ("same" padding, darknet's ``pad=1``)."""
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, bias=False),
        nn.BatchNorm2d(c_out),
        nn.LeakyReLU(slope),
    )


def unpack_targets(targets: object) -> list[tuple[Any, Any]]:
    """A batch's targets as ``[(boxes, labels), ...]``, one pair per image, unchecked beyond their form.

    Args:
        targets: a non-empty sequence with one item per image, each a mapping with keys ``"boxes"`` and
            ``"labels"`` or a ``(boxes, labels)`` pair.

    Raises:
        TypeError: ``targets`` is not such a sequence, or an item is neither a mapping nor a pair.
        ValueError: ``targets`` is empty, or a mapping lacks one of the two keys.
    """
    if isinstance(targets, (str, bytes)) or not isinstance(targets, Sequence):
        raise TypeError(f"targets must be a list of dicts with 'boxes' and 'labels', got {type(targets).__name__}.")
    if len(targets) == 0:
        raise ValueError("targets must hold at least one image.")
    pairs = []
    for n, item in enumerate(targets):
        if isinstance(item, Mapping):
            if "boxes" not in item or "labels" not in item:
                raise ValueError(f"targets[{n}] must have keys 'boxes' and 'labels', got {sorted(item)}.")
            pairs.append((item["boxes"], item["labels"]))
        elif isinstance(item, (tuple, list)) and len(item) == 2:
            pairs.append((item[0], item[1]))
        else:
            raise TypeError(f"targets[{n}] must be a dict with 'boxes' and 'labels' or a (boxes, labels) pair.")
    return pairs
