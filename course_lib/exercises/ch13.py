"""Chapter 13 exercises: detection fundamentals (IoU, NMS, average precision, VOC matching).

Four graded exercises, each checked on visible and hidden cases (see :mod:`course_lib.exercises.core` for the
declarative form of a check, :class:`~course_lib.exercises.core.ExerciseSpec`):

- **13.1** :func:`check_box_iou`: the pairwise IoU matrix of two sets of ``xyxy`` boxes,
  :math:`\\mathrm{IoU}_{ij} = |A_i \\cap B_j| / |A_i \\cup B_j|`, ``[N, 4] x [M, 4] -> [N, M]``. Reference:
  :func:`course_lib.detection.boxes.box_iou`.
- **13.2** :func:`check_nms`: greedy non-maximum suppression with ``torchvision.ops.nms``'s semantics (suppress when
  IoU :math:`>` the threshold, int64 indices by decreasing score, equal scores visited in index order). Reference:
  :func:`course_lib.detection.nms.nms`.
- **13.3** :func:`check_average_precision`: AP of a precision/recall curve, PASCAL VOC 2007's 11-point rule
  (``"voc07"``) and the all-point area under the precision envelope (``"voc"``). Reference:
  :func:`course_lib.detection.metrics.average_precision`.
- **13.4** :func:`check_voc_match`: label the detections of one image true positive (1), false positive (0) or
  ignored (-1) by the PASCAL VOC rules. Reference: :func:`course_lib.detection.metrics.match_detections` with
  ``rule="voc"``.

Every input is built from its own ``torch.Generator`` (or written out), so a verdict does not depend on the notebook's
random state. A notebook's check runs the fixed cases (``make_cases(None)``); the grader draws fresh cases of the same
kinds from its secret seed. The edge cases keep their edge in fresh cases: an IoU exactly at the threshold is built
from integer coordinates (exact in floating point), a recall exactly at an 11-point threshold from counts. Failure
messages say what is wrong (shape, dtype, the first wrong entry, too high or too low) without printing the whole
expected answer.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Callable

import numpy as np
import torch
from torch import Tensor

from course_lib.detection.boxes import box_iou as _ref_box_iou
from course_lib.detection.metrics import FP, IGNORED, TP
from course_lib.detection.metrics import average_precision as _ref_average_precision
from course_lib.detection.metrics import match_detections as _ref_match_detections
from course_lib.detection.metrics import precision_recall_curve as _ref_pr_curve
from course_lib.detection.nms import batched_nms as _ref_batched_nms
from course_lib.detection.nms import nms as _ref_nms
from course_lib.exercises.core import CaseInput, Exercise, ExerciseSpec, Raised, Verdict, capture, compare_tensors
from course_lib.exercises.core import gen as _gen, plain, randint as _randint, sub_seed as _sub_seed
from course_lib.exercises.core import require_inputs as _require, type_name as _type_name, uniform as _uniform

__all__ = [
    "EXERCISES",
    "SPECS",
    "check_box_iou",
    "check_nms",
    "check_average_precision",
    "check_voc_match",
    "worked_example",
]

EXERCISES: dict[str, Exercise] = {
    "13.1": Exercise("13.1", "Pairwise IoU", points=2, difficulty=1, minutes=15),
    "13.2": Exercise("13.2", "Greedy non-maximum suppression", points=3, difficulty=2, minutes=25),
    "13.3": Exercise("13.3", "Average precision, 11-point and all-point", points=3, difficulty=2, minutes=20),
    "13.4": Exercise("13.4", "Matching detections by the VOC rules", points=3, difficulty=2, minutes=25),
}


# ----------------------------------------------------------------------------------------------------------------------
# Helpers shared by the checks
# ----------------------------------------------------------------------------------------------------------------------

def _random_boxes(n: int, g: torch.Generator, image: float = 100.0, size: float = 40.0,
                  dtype: torch.dtype = torch.float32) -> Tensor:
    """``n`` random xyxy boxes: top-left corner in [0, image)^2, sides in [1, 1 + size)."""
    xy = torch.rand(n, 2, generator=g, dtype=torch.float64) * image
    wh = torch.rand(n, 2, generator=g, dtype=torch.float64) * size + 1.0
    return torch.cat([xy, xy + wh], dim=1).to(dtype)  # (n, 4)


def _jittered(centres: Tensor, per: int, g: torch.Generator, side: float = 20.0, jitter: float = 3.0) -> Tensor:
    """``per`` boxes of side about ``side`` around each centre (cx, cy), jittered: ``(len(centres) * per, 4)``."""
    c = centres.to(torch.float64).repeat_interleave(per, dim=0)  # (K * per, 2)
    c = c + jitter * torch.randn(c.shape, generator=g, dtype=torch.float64)
    half = 0.5 * (side + jitter * torch.randn(c.shape, generator=g, dtype=torch.float64).abs())
    return torch.cat([c - half, c + half], dim=1).float()  # (K * per, 4)


def _tied_pairs(g: torch.Generator, pairs: int) -> tuple[Tensor, Tensor]:
    """``pairs`` pairs of 10 x 10 boxes (each pair overlapping with IoU 9/11, the pairs far apart) at shuffled
    indices: ``(boxes[2 * pairs, 4], partner[2 * pairs])``. With equal scores, visiting the boxes in index order
    (a stable sort) decides which box of each pair comes first; torch's default sort, ``argsort`` and ``topk``
    visit ties in other orders once there are more than a few (a sort that reverses or shuffles ties fails too)."""
    perm = torch.randperm(2 * pairs, generator=g)
    boxes = torch.zeros(2 * pairs, 4)
    partner = torch.zeros(2 * pairs, dtype=torch.int64)
    for k in range(pairs):
        x, y = 30.0 * (k % 6), 30.0 * (k // 6)
        first, second = perm[2 * k], perm[2 * k + 1]
        boxes[first] = torch.tensor([x, y, x + 10.0, y + 10.0])
        boxes[second] = torch.tensor([x + 1.0, y, x + 11.0, y + 10.0])
        partner[first], partner[second] = second, first
    return boxes, partner


def _runs(inputs: Mapping[str, Any], keys: Mapping[str, type | tuple[type, ...]]) -> list[Mapping[str, Any]]:
    """The non-empty list ``inputs["runs"]``, each run a dict with ``keys`` of the right types (``ValueError``)."""
    _require(inputs, {"runs": list})
    runs = inputs["runs"]
    if not runs:
        raise ValueError("a case needs at least one run.")
    for run in runs:
        _require(run, keys)
    return runs


def _validated_by_reference(reference: Callable[[Mapping[str, Any]], Any], inputs: Mapping[str, Any]) -> None:
    try:
        reference(inputs)
    except (TypeError, ValueError) as err:
        raise ValueError(f"the reference rejects this case: {err}") from err


# ----------------------------------------------------------------------------------------------------------------------
# Exercise 13.1: pairwise IoU
# ----------------------------------------------------------------------------------------------------------------------
_SQUARE = [0.0, 0.0, 10.0, 10.0]


def _special_boxes(g: torch.Generator | None) -> tuple[Tensor, Tensor]:
    """A box A, a box inside it, a box half over its edge; against A itself, a touching box, a corner-touching box
    and an enclosing box. ``g=None``: the 10 x 10 square at the origin; else a random box."""
    if g is None:
        x, y, w, h = 0.0, 0.0, 10.0, 10.0
    else:
        x, y = float(_randint(g, 0, 50)), float(_randint(g, 0, 50))
        w, h = float(_randint(g, 4, 30)), float(_randint(g, 4, 30))
    a = [x, y, x + w, y + h]
    first = torch.tensor([a, [x + w / 5, y + h / 5, x + 3 * w / 5, y + 3 * h / 5], [x + w / 2, y, x + 1.5 * w, y + h]])
    second = torch.tensor([
        a,                                            # identical: IoU 1
        [x + w, y, x + 2 * w, y + h],                 # shares A's right edge: touching, IoU 0
        [x + w, y + h, x + 1.2 * w, y + 1.2 * h],     # touches A at a corner only
        [x - w / 2, y - h / 2, x + 2.5 * w, y + 2.5 * h],  # contains everything
    ])
    return first, second  # (3, 4), (4, 4)


def _disjoint_boxes(g: torch.Generator | None) -> tuple[Tensor, Tensor]:
    """Boxes apart along both axes, along x only and along y only (the overlap widths are negative)."""
    if g is None:
        s, gap = 1.0, 4.0
    else:
        s, gap = _uniform(g, 0.5, 5.0), _uniform(g, 1.0, 10.0)
    first = torch.tensor([[0.0, 0.0, s, s], [0.0, 0.0, 2 * s, 2 * s]])
    far = 2 * s + gap
    second = torch.tensor([
        [far, far, far + s, far + s],          # apart on both axes: both overlap widths negative
        [0.0, far, s, far + 2 * s],            # overlaps in x, apart in y
        [far, 0.0, far + 5 * s, s],            # overlaps in y, apart in x
    ])
    return first, second


def _degenerate_boxes(g: torch.Generator | None) -> tuple[Tensor, Tensor]:
    """Zero-area boxes (a segment, a point) against boxes of positive area, never against each other."""
    if g is None:
        w, h = 8.0, 4.0
    else:
        w, h = float(_randint(g, 4, 40)), float(_randint(g, 4, 40))
    first = torch.tensor([[0.0, 0.0, w, h], [w / 8, h / 4, 3 * w / 8, 3 * h / 4]])
    second = torch.tensor([
        [w / 4, h / 4, w / 4, 3 * h / 4],      # a vertical segment (zero width) inside the first box
        [w / 2, h / 2, w / 2, h / 2],          # a single point
        [0.0, 0.0, w, h],                      # equal to the first box
    ])
    return first, second


def _cases_box_iou(seed: int | None = None) -> list[CaseInput]:
    """Every case of exercise 13.1 (boxes1, boxes2, both_ways): the notebook's fixed ones or fresh ones."""
    if seed is None:
        g = _gen(1301)
        gs: list[torch.Generator | None] = [None] * 3
        n, m = 5, 7
    else:
        g = _gen(_sub_seed(seed, 0))
        gs = [_gen(_sub_seed(seed, k)) for k in (1, 2, 3)]
        n, m = _randint(g, 3, 9), _randint(g, 3, 9)
        m = m + 1 if m == n else m
    n64 = _randint(g, 3, 5)  # float64 case: N x (N + 2) boxes that overlap (a transposed answer cannot pass)
    cases = [
        (f"random boxes, {n} x {m}", _random_boxes(n, g), _random_boxes(m, g), False, False),
        ("identical, nested, touching and enclosing boxes", *_special_boxes(gs[0]), False, False),
        ("disjoint boxes (no overlap on one or both axes)", *_disjoint_boxes(gs[1]), False, True),
        ("zero-area boxes (a segment, a point) against real boxes", *_degenerate_boxes(gs[2]), False, True),
        ("float64 boxes with large coordinates keep their dtype",
         _random_boxes(n64, g, image=3e4, size=3e4, dtype=torch.float64),
         _random_boxes(n64 + 2, g, image=3e4, size=3e4, dtype=torch.float64), False, True),
        ("one box against many, and many against one (N = 1, M = 1)", _random_boxes(1, g),
         _random_boxes(_randint(g, 5, 12), g), True, True),
        ("empty inputs: N = 0 or M = 0", torch.zeros(0, 4), _random_boxes(_randint(g, 1, 5), g), True, True),
    ]
    return [CaseInput(name, {"boxes1": b1, "boxes2": b2, "both_ways": both}, hidden)
            for name, b1, b2, both, hidden in cases]


def _call_box_iou(fns: Sequence[Callable[..., Any]], inputs: Mapping[str, Any]) -> list[Any]:
    (fn,) = fns
    b1, b2 = inputs["boxes1"], inputs["boxes2"]
    pairs = [(b1, b2), (b2, b1)] if inputs["both_ways"] else [(b1, b2)]
    return [plain(capture(fn, x.clone(), y.clone())) for x, y in pairs]  # a learner writing into x spoils nothing


def _reference_box_iou(inputs: Mapping[str, Any]) -> list[Tensor]:
    b1, b2 = inputs["boxes1"], inputs["boxes2"]
    pairs = [(b1, b2), (b2, b1)] if inputs["both_ways"] else [(b1, b2)]
    return [_ref_box_iou(x, y) for x, y in pairs]


def _compare_box_iou(records: list[Any], expected: list[Tensor]) -> str | None:
    for got, exp in zip(records, expected):
        if type(got) is Raised:
            return got.problem()
        tol = dict(rtol=1e-10, atol=1e-12) if exp.dtype == torch.float64 else dict(rtol=1e-5, atol=1e-6)
        problem = compare_tensors(got, exp, what=f"IoU matrix ({exp.shape[0]} x {exp.shape[1]})", **tol)
        if problem is not None:
            return problem
    return None


def _validate_box_iou(inputs: Mapping[str, Any]) -> None:
    _require(inputs, {"boxes1": torch.Tensor, "boxes2": torch.Tensor, "both_ways": bool})
    _validated_by_reference(_reference_box_iou, inputs)
    if any(bool(torch.isnan(e).any()) for e in _reference_box_iou(inputs)):
        raise ValueError("two zero-area boxes against each other have IoU 0/0: leave such pairs out of a case.")


def check_box_iou(fn: Callable[[Tensor, Tensor], Tensor], *, quiet: bool = False) -> Verdict:
    """Check a learner's ``box_iou(boxes1, boxes2) -> Tensor[N, M]``, 7 cases (5 hidden).

    Expected: :math:`\\mathrm{IoU}_{ij} = |A_i \\cap B_j| / (|A_i| + |B_j| - |A_i \\cap B_j|)` with the overlap
    widths clamped at 0, in the boxes' (floating) dtype, with shape ``[N, M]`` even when ``N`` or ``M`` is 0.
    Compared with :func:`course_lib.detection.boxes.box_iou` (rtol 1e-5 in float32, 1e-10 in float64). No case has
    two zero-area boxes against each other (their IoU is 0/0).
    """
    return SPECS["13.1"].check(fn, quiet=quiet)


# ----------------------------------------------------------------------------------------------------------------------
# Exercise 13.2: greedy NMS
# ----------------------------------------------------------------------------------------------------------------------
def _nms_run(boxes: Tensor, scores: Tensor, threshold: float) -> dict[str, Any]:
    return {"boxes": boxes, "scores": scores, "iou_threshold": float(threshold)}


def _at_threshold_boxes(a: float, x0: float) -> tuple[Tensor, Tensor]:
    """IoU exactly 0.5 (kept at threshold 0.5) next to an IoU a little above 0.5 (suppressed). With even integer
    sides every area below is an integer, so the IoUs are exact in floating point."""
    boxes = torch.tensor([[x0, 0.0, x0 + a, a], [x0, 0.0, x0 + a, a / 2],
                          [x0 + 2 * a, 0.0, x0 + 3 * a, a], [x0 + 2 * a, 0.0, x0 + 3 * a, a / 2 + 1]])
    return boxes, torch.tensor([0.9, 0.8, 0.7, 0.6])


def _chain_boxes(a: float, shift: float) -> Tensor:
    """Four a x a boxes in a row, each ``shift`` to the right of the previous one (a < 2 shift so that A and C
    overlap less than A and B)."""
    return torch.tensor([[k * shift, 0.0, k * shift + a, a] for k in range(4)])


def _cases_nms(seed: int | None = None) -> list[CaseInput]:
    """Every case of exercise 13.2 (a list of runs: boxes, scores, iou_threshold): fixed ones or fresh ones."""
    if seed is None:
        g = _gen(1302)
        centres = torch.tensor([[20.0, 20.0], [60.0, 30.0], [40.0, 70.0]])
        clusters = _jittered(centres, 4, g)  # (12, 4)
        clusters_scores = torch.rand(12, generator=g)
        at_threshold = _at_threshold_boxes(10.0, 0.0)
        chain, chain_thr = _chain_boxes(10.0, 4.0), 0.3  # IoU(A, B) = 6/14 > 0.3 > IoU(A, C) = 2/18
        tie_boxes, _ = _tied_pairs(_gen(1305), 16)
        disjoint = torch.tensor([[20.0 * k, 0.0, 20.0 * k + 10.0, 10.0] for k in range(6)])
        disjoint_scores = torch.tensor([0.3, 0.8, 0.1, 0.95, 0.5, 0.6])
        extreme = torch.tensor([[0.0, 0.0, 10.0, 10.0], [9.0, 0.0, 19.0, 10.0], [10.0, 0.0, 20.0, 10.0],
                                [0.0, 0.0, 10.0, 10.0]])
        extreme_scores = torch.tensor([0.9, 0.8, 0.7, 0.6])
        many = _random_boxes(200, g, image=200.0, size=50.0, dtype=torch.float64)
        many_scores = torch.rand(200, generator=g, dtype=torch.float64)
        clusters_name = "three clusters of overlapping boxes, threshold 0.5"
        many_name = "200 random float64 boxes, threshold 0.3"
        many_thr = 0.3
    else:
        gs = [_gen(_sub_seed(seed, k)) for k in range(8)]
        k = _randint(gs[0], 2, 4)
        centres = 15.0 + 70.0 * torch.rand(k, 2, generator=gs[0])
        per = _randint(gs[0], 3, 5)
        clusters = _jittered(centres, per, gs[0], side=_uniform(gs[0], 12.0, 25.0))
        clusters_scores = torch.rand(len(clusters), generator=gs[0])
        clusters_name = f"{k} clusters of overlapping boxes, threshold 0.5"
        n = _randint(gs[1], 4, 8)
        disjoint = torch.tensor([[20.0 * i, 0.0, 20.0 * i + _uniform(gs[1], 3.0, 15.0), 10.0] for i in range(n)])
        disjoint = disjoint[torch.randperm(n, generator=gs[1])]
        disjoint_scores = torch.rand(n, generator=gs[1])
        at_threshold = _at_threshold_boxes(float(2 * _randint(gs[2], 2, 20)), float(_randint(gs[2], 0, 30)))
        a = float(_randint(gs[3], 6, 20))
        shift = float(_randint(gs[3], int(a // 2) + 1, int(a) - 2))  # B overlaps A; C overlaps A less
        chain = _chain_boxes(a, shift)
        iou_ab, iou_ac = (a - shift) / (a + shift), max(a - 2 * shift, 0.0) / (a + 2 * shift)
        chain_thr = round(0.5 * (iou_ab + iou_ac), 4)  # between the two
        tie_boxes, _ = _tied_pairs(gs[4], _randint(gs[4], 14, 20))
        extreme = torch.tensor([[0.0, 0.0, 10.0, 10.0], [9.0, 0.0, 19.0, 10.0], [10.0, 0.0, 20.0, 10.0],
                                [0.0, 0.0, 10.0, 10.0]]) * _uniform(gs[5], 0.5, 4.0)
        extreme_scores = torch.sort(torch.rand(4, generator=gs[5]), descending=True).values
        n_many = _randint(gs[6], 100, 250)
        many = _random_boxes(n_many, gs[6], image=200.0, size=50.0, dtype=torch.float64)
        many_scores = torch.rand(n_many, generator=gs[6], dtype=torch.float64)
        many_thr = round(_uniform(gs[6], 0.2, 0.7), 3)
        many_name = f"{n_many} random float64 boxes, threshold {many_thr:g}"
    cases = [
        (clusters_name, [_nms_run(clusters, clusters_scores, 0.5)], False),
        ("disjoint boxes: all kept, in decreasing score order", [_nms_run(disjoint, disjoint_scores, 0.5)], False),
        ("IoU exactly at the threshold is kept", [_nms_run(*at_threshold, 0.5)], True),
        ("a suppressed box suppresses nothing (a chain of overlaps)",
         [_nms_run(chain, torch.tensor([0.9, 0.8, 0.7, 0.6]), chain_thr)], True),
        ("equal scores are visited in index order (a stable sort)",
         [_nms_run(torch.cat([tie_boxes, torch.tensor([[500.0, 500.0, 510.0, 510.0]])]),
                   torch.cat([torch.full((len(tie_boxes),), 0.7), torch.tensor([0.4])]), 0.5)], True),
        ("thresholds 1.0 and 0.0", [_nms_run(extreme, extreme_scores, 1.0), _nms_run(extreme, extreme_scores, 0.0)],
         True),
        ("no boxes at all", [_nms_run(torch.zeros(0, 4), torch.zeros(0), 0.5)], True),
        (many_name, [_nms_run(many, many_scores, many_thr)], True),
    ]
    return [CaseInput(name, {"runs": runs}, hidden) for name, runs, hidden in cases]


def _call_nms(fns: Sequence[Callable[..., Any]], inputs: Mapping[str, Any]) -> list[Any]:
    (fn,) = fns
    return [plain(capture(fn, run["boxes"], run["scores"], run["iou_threshold"])) for run in inputs["runs"]]


def _reference_nms(inputs: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [{"keep": _ref_nms(run["boxes"], run["scores"], run["iou_threshold"]),
             "threshold": run["iou_threshold"]} for run in inputs["runs"]]


def _compare_nms(records: list[Any], expected: list[dict[str, Any]]) -> str | None:
    for got, exp in zip(records, expected):
        if type(got) is Raised:
            return got.problem()
        keep = exp["keep"]
        if type(got) is torch.Tensor and got.dtype == torch.bool:
            return "return the kept indices (an int64 tensor), not a boolean mask"
        if (type(got) is torch.Tensor and got.shape == keep.shape and got.dtype == keep.dtype
                and not torch.equal(got, keep) and sorted(got.tolist()) == sorted(keep.tolist())):
            return "the right boxes are kept, but in the wrong order: sort them by decreasing score"
        problem = compare_tensors(got, keep, what=f"kept indices (threshold {exp['threshold']:g})")
        if problem is not None:
            return problem
    return None


def _validate_nms(inputs: Mapping[str, Any]) -> None:
    _runs(inputs, {"boxes": torch.Tensor, "scores": torch.Tensor, "iou_threshold": float})
    _validated_by_reference(_reference_nms, inputs)


def check_nms(fn: Callable[[Tensor, Tensor, float], Tensor], *, quiet: bool = False) -> Verdict:
    """Check a learner's ``nms(boxes, scores, iou_threshold) -> Tensor[K]``, 8 cases (6 hidden).

    Expected: the indices (int64) of the boxes that greedy NMS keeps, by decreasing score: visit the boxes by
    decreasing score, equal scores in index order; keep a box unless a box kept before it has IoU :math:`>`
    ``iou_threshold`` with it. Compared exactly with :func:`course_lib.detection.nms.nms` (the tie case has 14-20
    pairs of equal-score boxes, enough for torch's default sort to visit them out of index order).
    """
    return SPECS["13.2"].check(fn, quiet=quiet)


# ----------------------------------------------------------------------------------------------------------------------
# Exercise 13.3: average precision
# ----------------------------------------------------------------------------------------------------------------------
def worked_example() -> dict[str, Any]:
    """The worked example of the theory page: 8 ranked detections of one class, 5 ground-truth objects.

    Returns:
        ``{"scores": Tensor[8], "tp": Tensor[8] bool, "num_positives": 5}``. Its AP is :math:`107/154` by the
        11-point rule, :math:`93/140` all-point and :math:`472/707` by COCO's 101 points.
    """
    return {
        "scores": torch.tensor([0.95, 0.90, 0.85, 0.80, 0.70, 0.60, 0.50, 0.40], dtype=torch.float64),
        "tp": torch.tensor([1, 1, 0, 1, 0, 0, 1, 0], dtype=torch.bool),
        "num_positives": 5,
    }


def _curve(tp: list[int], num_positives: int) -> tuple[Tensor, Tensor]:
    """(recall, precision) float64 of detections already ranked best first, with TP flags ``tp``."""
    if not tp:
        return torch.zeros(0, dtype=torch.float64), torch.zeros(0, dtype=torch.float64)
    scores = torch.linspace(1.0, 0.01, len(tp), dtype=torch.float64)
    precision, recall, _ = _ref_pr_curve(scores, torch.tensor(tp, dtype=torch.bool), num_positives)
    return recall, precision


def _flags(g: torch.Generator, n: int, p_first: float, p_last: float) -> list[int]:
    """``n`` TP flags, TPs more likely at the top of the ranking (a detector whose scores mean something)."""
    return (torch.rand(n, generator=g) < torch.linspace(p_first, p_last, n)).int().tolist()


def _cases_average_precision(seed: int | None = None) -> list[CaseInput]:
    """Every case of exercise 13.3 (recall, precision): the notebook's fixed ones or fresh ones."""
    if seed is None:
        ex = worked_example()
        p, r, _ = _ref_pr_curve(ex["scores"], ex["tp"], ex["num_positives"])
        example = ("the worked example of the theory page", r, p)
        perfect = _curve([1, 1, 1, 1], 4)
        random_tp = _flags(_gen(1303), 40, 0.9, 0.1)
        noisy = _curve(random_tp, sum(random_tp) + 3)
        exact = _curve([1, 1, 1] + [0] * 7 + [1, 0, 1], 10)  # recall exactly 3/10 with precision 1
        short = _curve([1, 0, 1, 1, 0, 0, 1, 0, 0, 0], 9)    # recall stops at 4/9
        late = _curve([0, 0, 1, 1, 0, 1, 1, 0], 5)
    else:
        gs = [_gen(_sub_seed(seed, k)) for k in range(6)]
        flags = _flags(gs[0], _randint(gs[0], 6, 12), 0.9, 0.3)
        flags[0] = 1
        example = ("a short ranking, as in the worked example", *_curve(flags, sum(flags) + _randint(gs[0], 0, 2)))
        n = _randint(gs[1], 2, 10)
        perfect = _curve([1] * n, n)
        random_tp = _flags(gs[2], _randint(gs[2], 25, 60), 0.95, 0.05)
        noisy = _curve(random_tp, sum(random_tp) + _randint(gs[2], 1, 6))
        m = _randint(gs[3], 1, 3)  # P = 10 m objects; the first 3 m detections are TPs: recall exactly 0.3
        exact = _curve([1] * (3 * m) + [0] * _randint(gs[3], 3, 9) + _flags(gs[3], 6, 0.6, 0.3), 10 * m)
        p_short = _randint(gs[4], 8, 14)
        short_flags = _flags(gs[4], _randint(gs[4], 6, 12), 0.8, 0.2)
        while sum(short_flags) * 20 > 9 * p_short:  # keep the final recall below 0.45
            short_flags[short_flags.index(1)] = 0
        short = _curve(short_flags, p_short)
        late_flags = [0] * _randint(gs[5], 1, 3) + _flags(gs[5], _randint(gs[5], 5, 10), 0.8, 0.4)
        late = _curve(late_flags, max(1, sum(late_flags) + _randint(gs[5], 0, 2)))
    cases = [
        (*example, False),
        ("a perfect detector (every detection a TP, every object found)", *perfect, False),
        ("many detections, precision far from monotone", *noisy, True),
        ("recall exactly 0.3 at one point", *exact, True),
        ("no detections at all (an empty curve)", *_curve([], 1), True),
        ("recall never passes 0.45", *short, True),
        ("the best detections are false positives", *late, True),
    ]
    return [CaseInput(name, {"recall": r, "precision": p}, hidden) for name, r, p, hidden in cases]


_AP_METHODS = ("voc07", "voc")


def _number_record(x: Any) -> Any:
    """A NumPy float (what ``np.mean`` returns) as a Python float; anything else through :func:`plain`."""
    if type(x) in (np.float64, np.float32):
        return float(x)
    return plain(x)


def _call_average_precision(fns: Sequence[Callable[..., Any]], inputs: Mapping[str, Any]) -> dict[str, Any]:
    (fn,) = fns
    return {m: _number_record(capture(fn, inputs["recall"].clone(), inputs["precision"].clone(), m))
            for m in _AP_METHODS}


def _reference_average_precision(inputs: Mapping[str, Any]) -> dict[str, float]:
    return {m: _ref_average_precision(inputs["recall"], inputs["precision"], m) for m in _AP_METHODS}


def _ap_problem(got: Any, expected: float, method: str) -> str | None:
    """``None`` if ``got`` is a number (or a 0-d real tensor) close to ``expected``; else what is wrong, without
    the expected value (the message says whether the learner's value is too high or too low)."""
    if type(got) is Raised:
        return got.problem()
    what = f"AP (method={method!r})"
    if type(got) is torch.Tensor:
        if got.numel() != 1 or got.is_complex():
            return f"the {what} should be a single real number, got a tensor of shape {tuple(got.shape)}"
        got = float(got.reshape(()).to(torch.float64))
    elif type(got) not in (float, int):
        return f"the {what} should be a Python float, got {_type_name(got)}"
    value = float(got)
    if math.isnan(value):
        return f"the {what} is NaN"
    if abs(value - expected) <= 1e-9 + 1e-7 * abs(expected):
        return None
    return f"the {what} is {'too high' if value > expected else 'too low'}: got {value:.6g}"


def _compare_average_precision(records: Mapping[str, Any], expected: Mapping[str, float]) -> str | None:
    for method in _AP_METHODS:
        problem = _ap_problem(records[method], expected[method], method)
        if problem is not None:
            return problem
    return None


def _validate_average_precision(inputs: Mapping[str, Any]) -> None:
    _require(inputs, {"recall": torch.Tensor, "precision": torch.Tensor})
    for key in ("recall", "precision"):
        if inputs[key].dtype != torch.float64:
            raise ValueError(f"{key} must be float64 (as precision_recall_curve returns it).")
    _validated_by_reference(_reference_average_precision, inputs)


def check_average_precision(fn: Callable[[Tensor, Tensor, str], float], *, quiet: bool = False) -> Verdict:
    """Check a learner's ``average_precision(recall, precision, method) -> float``, 7 cases (5 hidden).

    Each case asks for ``method="voc07"`` (the mean over :math:`t = 0, 0.1, \\dots, 1` of the largest precision at
    recall :math:`\\ge t`, 0 when no point reaches :math:`t`; thresholds exactly :math:`k/10`) and ``method="voc"``
    (the area :math:`\\sum_k (r_k - r_{k-1})\\, p_{\\text{interp}}(r_k)` under the monotone envelope, with
    :math:`r_0 = 0`), both 0.0 for an empty curve. Compared with
    :func:`course_lib.detection.metrics.average_precision` (rtol 1e-7).
    """
    return SPECS["13.3"].check(fn, quiet=quiet)


# ----------------------------------------------------------------------------------------------------------------------
# Exercise 13.4: VOC matching
# ----------------------------------------------------------------------------------------------------------------------
_OUTCOME = {TP: "a TP (1)", FP: "a FP (0)", IGNORED: "ignored (-1)"}


def _match_run(det: Tensor, scores: Tensor, gt: Tensor, difficult: Tensor, threshold: float = 0.5) -> dict[str, Any]:
    return {"det_boxes": det, "det_scores": scores, "gt_boxes": gt, "gt_difficult": difficult,
            "iou_threshold": float(threshold)}


def _scene(g: torch.Generator, gt: Tensor, difficult: Tensor,
           noise: tuple[float, ...] = (1.5, 5.0, 1.5, 6.0, 2.0, 5.0)) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """A small scene: 3 objects (one difficult), detections jittered around them (two on objects 0 and 1, one on
    object 2, one loose one on object 0) and two strays; random scores."""
    base = gt[[0, 0, 1, 1, 2, 0]]  # (6, 4)
    dets = base + torch.tensor(noise)[:, None] * torch.randn(6, 4, generator=g)
    strays = torch.tensor([[60.0, 70.0, 80.0, 95.0], [0.0, 0.0, 8.0, 8.0]])
    dets = torch.cat([dets, strays])  # (8, 4)
    dets = torch.cat([torch.minimum(dets[:, :2], dets[:, 2:]), torch.maximum(dets[:, :2], dets[:, 2:])], dim=1)
    return dets, torch.rand(8, generator=g), gt, difficult


def _cases_voc_match(seed: int | None = None) -> list[CaseInput]:
    """Every case of exercise 13.4 (a list of runs): the notebook's fixed ones or fresh ones."""
    obj = torch.tensor([[0.0, 0.0, 10.0, 10.0]])
    no = torch.tensor([False])
    if seed is None:
        g = _gen(1304)
        scale, offset = 1.0, torch.zeros(4)
        no_gt_dets, no_gt_scores = _random_boxes(3, g), torch.rand(3, generator=g)
        gt = torch.tensor([[10.0, 10.0, 40.0, 50.0], [50.0, 20.0, 90.0, 60.0], [20.0, 60.0, 45.0, 90.0]])
        scene = _scene(g, gt, torch.tensor([False, False, True]))
    else:
        gs = [_gen(_sub_seed(seed, k)) for k in range(3)]
        scale = float(_randint(gs[0], 1, 8))
        offset = torch.tensor([float(_randint(gs[0], 0, 40)), float(_randint(gs[0], 0, 40))] * 2)
        n = _randint(gs[1], 1, 5)
        no_gt_dets, no_gt_scores = _random_boxes(n, gs[1]), torch.rand(n, generator=gs[1])
        corners = torch.tensor([[10.0, 10.0], [55.0, 15.0], [20.0, 60.0]]) + 8.0 * torch.rand(3, 2, generator=gs[2])
        sizes = 25.0 + 15.0 * torch.rand(3, 2, generator=gs[2])
        gt = torch.cat([corners, corners + sizes], dim=1)
        difficult = torch.zeros(3, dtype=torch.bool)
        difficult[_randint(gs[2], 0, 2)] = True
        scene = _scene(gs[2], gt, difficult)

    # many objects, each with two detections of equal score and equal IoU with it, at shuffled indices: which one is
    # the TP depends only on the order in which ties are visited
    tied, partner = _tied_pairs(_gen(1306) if seed is None else gs[1], 16 if seed is None else _randint(gs[1], 14, 20))
    firsts = [i for i in range(len(tied)) if i < int(partner[i])]
    tied_gt = torch.stack([0.5 * (tied[i] + tied[int(partner[i])]) for i in firsts])

    def place(boxes: Tensor) -> Tensor:
        """Scale and move a hand-made configuration (IoUs are unchanged; integer factors keep them exact)."""
        return boxes * scale + offset

    cases = [
        ("one object, two detections: the better-scored one is the TP",
         [_match_run(place(torch.tensor([[0.5, 0.0, 10.5, 10.0], [0.0, 0.0, 10.0, 9.0]])), torch.tensor([0.6, 0.9]),
                     place(obj), no)], False),
        ("a small scene (3 objects, one difficult; 8 detections), thresholds 0.5 and 0.7",
         [_match_run(*scene, 0.5), _match_run(*scene, 0.7)], False),
        # IoU exactly 0.5: a match by the devkit's >=, not by the paper's >; either is accepted. IoU 0.55 matches.
        ("IoU exactly 0.5 (either convention) and IoU 0.55",
         [_match_run(place(torch.tensor([[0.0, 0.0, 10.0, 5.0], [0.0, 0.0, 10.0, 5.5]])), torch.tensor([0.9, 0.8]),
                     place(obj), no)], True),
        ("detections on a difficult object are ignored, duplicates included",
         [_match_run(place(torch.tensor([[0.0, 0.0, 10.0, 10.0], [0.5, 0.5, 10.0, 10.0], [20.0, 0.0, 30.0, 10.0]])),
                     torch.tensor([0.9, 0.8, 0.7]),
                     place(torch.tensor([[0.0, 0.0, 10.0, 10.0], [20.0, 0.0, 30.0, 10.0]])),
                     torch.tensor([True, False]))], True),
        # The best object is already taken by a better detection: a FP under VOC, even though a second object
        # overlaps the detection by more than 0.5 (COCO's rule would match it there).
        ("a detection whose best object is already taken",
         [_match_run(place(torch.tensor([[0.0, 0.0, 10.0, 10.0], [0.5, 0.0, 10.5, 10.0]])), torch.tensor([0.9, 0.8]),
                     place(torch.tensor([[0.0, 0.0, 10.0, 10.0], [2.0, 0.0, 12.0, 10.0]])),
                     torch.tensor([False, False]))], True),
        ("scores not sorted in the input",
         [_match_run(place(torch.tensor([[1.0, 0.0, 11.0, 10.0], [30.0, 0.0, 40.0, 10.0], [0.0, 0.0, 10.0, 10.0]])),
                     torch.tensor([0.2, 0.5, 0.7]), place(obj), no)], True),
        ("equal scores: the earlier detection is visited first (a stable sort)",
         [_match_run(place(tied), torch.full((len(tied),), 0.7), place(tied_gt), torch.zeros(len(tied_gt),
                                                                                                dtype=torch.bool))],
         True),
        ("no ground truth, or no detections",
         [_match_run(no_gt_dets, no_gt_scores, torch.zeros(0, 4), torch.zeros(0, dtype=torch.bool)),
          _match_run(torch.zeros(0, 4), torch.zeros(0), place(obj), no)], True),
    ]
    return [CaseInput(name, {"runs": runs}, hidden) for name, runs, hidden in cases]


def _call_voc_match(fns: Sequence[Callable[..., Any]], inputs: Mapping[str, Any]) -> list[Any]:
    (fn,) = fns
    return [plain(capture(fn, run["det_boxes"], run["det_scores"], run["gt_boxes"], run["gt_difficult"],
                          run["iou_threshold"])) for run in inputs["runs"]]


def _reference_voc_match(inputs: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Per run, the outcomes by the paper's rule (IoU > threshold) and by the devkit's (IoU >= threshold: the same
    rule with the threshold moved down by one float64 ulp, the precision the IoUs are compared in)."""
    out = []
    for run in inputs["runs"]:
        args = (run["det_boxes"], run["det_scores"], run["gt_boxes"], run["gt_difficult"])
        threshold = run["iou_threshold"]
        out.append({"outcomes": _ref_match_detections(*args, threshold, rule="voc"),
                    "outcomes_ge": _ref_match_detections(*args, max(math.nextafter(threshold, -math.inf), 0.0),
                                                         rule="voc"),
                    "scores": run["det_scores"].tolist(), "threshold": threshold})
    return out


def _compare_voc_match(records: list[Any], expected: list[dict[str, Any]]) -> str | None:
    for got, exp in zip(records, expected):
        if type(got) is Raised:
            return got.problem()
        outcomes = exp["outcomes"]
        problem = compare_tensors(got, outcomes, what="outcomes")
        if problem is None or compare_tensors(got, exp.get("outcomes_ge", outcomes), what="outcomes") is None:
            continue
        if not problem.startswith("the outcomes at index"):
            return problem
        # A real int64 tensor of the right shape by now: say it in the exercise's words.
        values = got.tolist()
        first = next(i for i, (a, b) in enumerate(zip(values, outcomes.tolist())) if a != b)
        return (f"detection {first} (score {exp['scores'][first]:.2f}, threshold {exp['threshold']:g}) should be "
                f"{_OUTCOME[int(outcomes[first])]}, got {_OUTCOME.get(values[first], repr(values[first]))}")
    return None


def _validate_voc_match(inputs: Mapping[str, Any]) -> None:
    _runs(inputs, {"det_boxes": torch.Tensor, "det_scores": torch.Tensor, "gt_boxes": torch.Tensor,
                   "gt_difficult": torch.Tensor, "iou_threshold": float})
    _validated_by_reference(_reference_voc_match, inputs)


def check_voc_match(fn: Callable[..., Tensor], *, quiet: bool = False) -> Verdict:
    """Check a learner's ``voc_match(det_boxes, det_scores, gt_boxes, gt_difficult, iou_threshold) -> Tensor[D]``,
    8 cases (6 hidden).

    Expected, for each detection in the input order (int64): 1 (TP), 0 (FP) or -1 (ignored), by the PASCAL VOC
    rules: visit the detections by decreasing score (equal scores in index order); compare each with the object of
    highest IoU (among all objects, the first on ties); if that IoU exceeds the threshold, the detection is ignored
    when the object is difficult, a TP when the object is not yet matched (it becomes matched), and a FP (a
    duplicate) otherwise; if not, a FP. Compared exactly with :func:`course_lib.detection.metrics.match_detections`,
    by the paper's ``IoU > threshold`` or by the devkit's ``IoU >= threshold`` (each run may follow either); ties of
    scores must be visited in index order (a hidden case has a few dozen of them, which an unstable sort reorders)."""
    return SPECS["13.4"].check(fn, quiet=quiet)


# ----------------------------------------------------------------------------------------------------------------------
# The specs: what the notebook's checks run, and what the grader runs
# ----------------------------------------------------------------------------------------------------------------------
SPECS: dict[str, ExerciseSpec] = {
    "13.1": ExerciseSpec(EXERCISES["13.1"], ("box_iou",), _cases_box_iou, _call_box_iou, _reference_box_iou,
                         _compare_box_iou, references=(_ref_box_iou,),
                         forbidden_modules=("course_lib.detection.boxes",), validate=_validate_box_iou,
                         weights={1: 2, 2: 2}, keys=(1, 2)),
    "13.2": ExerciseSpec(EXERCISES["13.2"], ("nms",), _cases_nms, _call_nms, _reference_nms, _compare_nms,
                         references=(_ref_nms, _ref_batched_nms), forbidden_modules=("course_lib.detection.nms",),
                         validate=_validate_nms, weights={2: 2, 3: 2, 4: 2}, keys=(2, 3, 4)),
    "13.3": ExerciseSpec(EXERCISES["13.3"], ("average_precision",), _cases_average_precision,
                         _call_average_precision, _reference_average_precision, _compare_average_precision,
                         references=(_ref_average_precision,), forbidden_modules=("course_lib.detection.metrics",),
                         validate=_validate_average_precision, weights={2: 2, 3: 2, 5: 2}, keys=(2, 3, 5)),
    "13.4": ExerciseSpec(EXERCISES["13.4"], ("voc_match",), _cases_voc_match, _call_voc_match, _reference_voc_match,
                         _compare_voc_match, references=(_ref_match_detections,),
                         forbidden_modules=("course_lib.detection.metrics",), validate=_validate_voc_match,
                         weights={3: 2, 4: 2, 5: 2, 6: 2}, keys=(3, 4, 5, 6)),
}
