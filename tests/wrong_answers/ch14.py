"""Chapter 14's answers for the wrong-answer suite (see ``tests/exercise_suite.py``).

The implementations are the loops written out in ``tests/test_exercises_ch14.py`` (independent of
``course_lib.detection.yolo_v1``), each mistake a ``variant`` of them, plus vectorized correct ones written here.
"""

from __future__ import annotations

from functools import partial

import torch

from exercise_suite import correct, wrong
from test_exercises_ch14 import _decode_written_out, _encode_loop, _responsible_loop, _terms_written_out


def _as(fn, **kw):
    out = partial(fn, **kw)
    out.__name__ = f"{fn.__name__}({kw})"
    return out


def responsible_vectorized(pred, target, S, B, C):
    """All cells at once: boxes to the image frame, pairwise IoU with the cell's target box, argmax (first on ties)."""
    rows = torch.arange(S, dtype=pred.dtype).view(1, S, 1, 1)
    cols = torch.arange(S, dtype=pred.dtype).view(1, 1, S, 1)

    def xyxy(box):  # (N, S, S, K, 4) cell offsets and image-relative sizes
        cx, cy = (box[..., 0] + cols) / S, (box[..., 1] + rows) / S
        w, h = box[..., 2].clamp(min=0), box[..., 3].clamp(min=0)
        return torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], -1)

    p = xyxy(pred[..., C + B:].unflatten(-1, (B, 4)).detach())
    t = xyxy(target[..., C + B:C + B + 4].unsqueeze(-2).to(pred.dtype))
    wh = (torch.minimum(p[..., 2:], t[..., 2:]) - torch.maximum(p[..., :2], t[..., :2])).clamp(min=0)
    inter = wh[..., 0] * wh[..., 1]
    area = lambda b: (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])  # noqa: E731
    union = area(p) + area(t) - inter
    iou = torch.where(union > 0, inter / torch.where(union > 0, union, torch.ones_like(union)), torch.zeros_like(union))
    best = iou.argmax(-1, keepdim=True)
    resp = torch.zeros_like(iou, dtype=torch.bool).scatter(-1, best, True) & (target[..., C] > 0).unsqueeze(-1)
    return resp, iou


ANSWERS = {
    "14.1": [
        correct("a loop over the objects", _encode_loop),
        wrong("the last box of a cell wins", _as(_encode_loop, variant="last_wins")),
        wrong("the first box of a cell wins", _as(_encode_loop, variant="first_wins")),
        wrong("the cell by rounding", _as(_encode_loop, variant="round")),
        wrong("x and y swapped (row, col)", _as(_encode_loop, variant="swap")),
        wrong("centres relative to the image", _as(_encode_loop, variant="image_centre")),
        wrong("square roots of w, h in the target", _as(_encode_loop, variant="sqrt")),
        wrong("the box in the first slot only", _as(_encode_loop, variant="first_slot_only")),
    ],
    "14.2": [
        correct("a loop over the cells", _responsible_loop),
        correct("vectorized over cells", responsible_vectorized),
        wrong("the boxes compared in the cell's frame", _as(_responsible_loop, variant="cell_frame")),
        wrong("no guard for an empty union", _as(_responsible_loop, variant="no_guard")),
        wrong("a responsible predictor in every cell", _as(_responsible_loop, variant="every_cell")),
        wrong("the last predictor on ties", _as(_responsible_loop, variant="last_on_ties")),
    ],
    "14.3": [
        correct("the terms written out", _terms_written_out),
        wrong("torch.sqrt (NaN on negative widths)", _as(_terms_written_out, variant="plain_sqrt")),
        wrong("the paper's weights hard-coded", _as(_terms_written_out, variant="hard_coded")),
        wrong("no square roots", _as(_terms_written_out, variant="no_sqrt")),
        wrong("confidence target 1 instead of the IoU", _as(_terms_written_out, variant="no_rescore")),
        wrong("no-object term on empty cells only", _as(_terms_written_out, variant="empty_cells_only")),
        wrong("the class term per predictor", _as(_terms_written_out, variant="cls_per_predictor")),
        wrong("summed over the batch", _as(_terms_written_out, variant="no_batch_mean")),
    ],
    "14.4": [
        correct("the decode written out", _decode_written_out),
        wrong("the confidence alone as the score", _as(_decode_written_out, variant="confidence_only")),
        wrong("scores >= threshold kept", _as(_decode_written_out, variant="at_least")),
        wrong("class-agnostic NMS", _as(_decode_written_out, variant="class_agnostic")),
        wrong("not sorted by score (not the point of the exercise)", _as(_decode_written_out, variant="unsorted"),
              max_fraction=0.6),
    ],
}
