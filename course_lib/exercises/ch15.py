"""Chapter 15 exercises: YOLOv2 (Redmon & Farhadi, *YOLO9000: Better, Faster, Stronger*, CVPR 2017).

Three graded exercises, each checked on visible and hidden cases (see :mod:`course_lib.exercises.core` for the
declarative form of a check, :class:`~course_lib.exercises.core.ExerciseSpec`). The key case of each, the edge the
exercise is about, weighs most, so that an answer that misses the point loses most of the points:

- **15.1** :func:`check_wh_iou`: the IoU of boxes aligned at a corner (only w and h count), pairwise
  ``[N, 2] x [K, 2] -> [N, K]``. Key case (weight 3): a wide box against a tall one, where neither contains the
  other (an area ratio is then wrong). Reference: :func:`course_lib.detection.anchors.wh_iou`.
- **15.2** :func:`check_decode_offsets`: direct location prediction, ``(sigma(t_x) + c_x, sigma(t_y) + c_y,
  p_w e^{t_w}, p_h e^{t_h})``. Key case (weight 3): large raw offsets, whose centres must stay in their cell.
  Reference: :func:`course_lib.detection.yolo_v2.decode_offsets`.
- **15.3** :func:`check_reorg`: darknet's reorg layer (its element order, not ``pixel_unshuffle``'s). Key cases
  (weight 2 each): the smallest input (1 x 4 x 2 x 2) and a stride of 3 on a non-square map. Reference:
  :func:`course_lib.detection.yolo_v2.reorg`.

Inputs come from their own ``torch.Generator`` (never the global RNG); ``make_cases(seed)`` with an ``int`` draws
fresh cases of the same kinds for the grader, each keeping its edge.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Callable

import torch
from torch import Tensor

from course_lib.detection.anchors import VOC_ANCHORS
from course_lib.detection.anchors import wh_iou as _ref_wh_iou
from course_lib.detection.yolo_v2 import darknet_reorg_loop as _ref_reorg_loop
from course_lib.detection.yolo_v2 import decode_offsets as _ref_decode_offsets
from course_lib.detection.yolo_v2 import grid_cells
from course_lib.detection.yolo_v2 import reorg as _ref_reorg
from course_lib.exercises._random import gen as _gen, randint as _randint, sub_seed as _sub_seed, uniform as _uniform
from course_lib.exercises.core import CaseInput, Exercise, ExerciseSpec, Raised, Verdict, capture, compare_tensors, plain
from course_lib.exercises.core import require_inputs as _require

__all__ = ["EXERCISES", "SPECS", "check_wh_iou", "check_decode_offsets", "check_reorg"]

EXERCISES: dict[str, Exercise] = {
    "15.1": Exercise("15.1", "The IoU of two box shapes", points=2, difficulty=1, minutes=15),
    "15.2": Exercise("15.2", "Direct location prediction", points=3, difficulty=2, minutes=15),
    "15.3": Exercise("15.3", "Darknet's reorg layer", points=3, difficulty=3, minutes=25),
}


def _compare(got: Any, expected: Tensor, what: str) -> str | None:
    if type(got) is Raised:
        return got.problem()
    tol = 1e-10 if expected.dtype == torch.float64 else 1e-5
    return compare_tensors(got, expected, rtol=tol, atol=tol, what=what)


def _validated(reference: Callable[[Mapping[str, Any]], Any], inputs: Mapping[str, Any]) -> None:
    try:
        reference(inputs)
    except (TypeError, ValueError) as err:
        raise ValueError(f"the reference rejects this case: {err}") from err


# ----------------------------------------------------------------------------------------------------------------------
# 15.1 wh_iou
# ----------------------------------------------------------------------------------------------------------------------
def _wh(g: torch.Generator, n: int, lo: float = 0.2, hi: float = 6.0, dtype: torch.dtype = torch.float32) -> Tensor:
    return (lo + (hi - lo) * torch.rand(n, 2, generator=g, dtype=torch.float64)).to(dtype)


def _cases_wh_iou(seed: int | None = None) -> list[CaseInput]:
    """Cases of exercise 15.1: (wh_a, wh_b)."""
    if seed is None:
        g = [_gen(1501 + k) for k in range(5)]
        hand = (torch.tensor([[2.0, 2.0], [1.0, 4.0]]), torch.tensor([[2.0, 2.0], [4.0, 1.0], [3.0, 3.0]]))
        w, h = 4.0, 1.0
    else:
        g = [_gen(_sub_seed(seed, k)) for k in range(5)]
        s = float(_randint(g[0], 1, 4))
        hand = (torch.tensor([[s, s], [s / 2, 2 * s]]), torch.tensor([[s, s], [2 * s, s / 2], [1.5 * s, 1.5 * s]]))
        w, h = _uniform(g[2], 3.0, 6.0), _uniform(g[2], 0.5, 1.5)
    # wide boxes against tall boxes: neither contains the other
    wide = torch.tensor([[w, h], [w * 0.8, h * 1.1], [w * 1.2, h * 0.7]])
    tall = torch.tensor([[h, w], [h * 1.3, w * 0.9]])
    pixels = _wh(g[3], 4, 10.0, 300.0, torch.float64)  # pixels, float64
    return [
        CaseInput("two boxes against three (2 x 3)", {"wh_a": hand[0], "wh_b": hand[1]}),
        CaseInput("random shapes (5 x 3)", {"wh_a": _wh(g[1], 5), "wh_b": _wh(g[1], 3)}),
        CaseInput("wide boxes against tall boxes", {"wh_a": wide, "wh_b": tall}, hidden=True, weight=3.0),
        CaseInput("float64 sizes in pixels (4 x 6)", {"wh_a": pixels, "wh_b": _wh(g[3], 6, 10.0, 300.0,
                                                                                   torch.float64)}, hidden=True),
        CaseInput("one box against one anchor set (1 x 5)", {"wh_a": _wh(g[4], 1, 0.5, 12.0),
                                                            "wh_b": VOC_ANCHORS.float()}, hidden=True),
    ]


def _call_wh_iou(fns: Sequence[Callable[..., Any]], inputs: Mapping[str, Any]) -> Any:
    (fn,) = fns
    return plain(capture(fn, inputs["wh_a"].clone(), inputs["wh_b"].clone()))


def _reference_wh_iou(inputs: Mapping[str, Any]) -> Tensor:
    return _ref_wh_iou(inputs["wh_a"], inputs["wh_b"])


def _validate_wh_iou(inputs: Mapping[str, Any]) -> None:
    _require(inputs, {"wh_a": Tensor, "wh_b": Tensor})
    for key in ("wh_a", "wh_b"):
        if inputs[key].dtype not in (torch.float32, torch.float64) or not bool((inputs[key] > 0).all()):
            raise ValueError(f"{key} must be float32/float64 with positive widths and heights.")
    _validated(_reference_wh_iou, inputs)


def check_wh_iou(fn: Callable[..., Tensor], *, quiet: bool = False) -> Verdict:
    """Check a learner's ``wh_iou(wh_a, wh_b) -> Tensor [N, K]`` (5 cases, 3 hidden; the wide-vs-tall case weighs 3).

    Compared with :func:`course_lib.detection.anchors.wh_iou` (rtol 1e-5 in float32, 1e-10 in float64), dtype
    included (that of the inputs).
    """
    return SPECS["15.1"].check(fn, quiet=quiet)


# ----------------------------------------------------------------------------------------------------------------------
# 15.2 decode_offsets
# ----------------------------------------------------------------------------------------------------------------------
def _cases_decode(seed: int | None = None) -> list[CaseInput]:
    """Cases of exercise 15.2: (t, cell_xy, anchor_wh)."""
    g = [_gen(1510 + k) if seed is None else _gen(_sub_seed(seed, k)) for k in range(5)]
    if seed is None:
        one = (torch.zeros(4), torch.tensor([3.0, 5.0]), torch.tensor([1.3221, 1.73145]))
        H, W = 4, 6
    else:
        one = (torch.zeros(4), torch.tensor([float(_randint(g[0], 0, 12)), float(_randint(g[0], 0, 12))]),
               VOC_ANCHORS[_randint(g[0], 0, 4)].float())
        H, W = _randint(g[3], 3, 5), _randint(g[3], 6, 8)
    grid13 = grid_cells(13, 13)  # (13, 13, 1, 2)
    t13 = torch.randn(13, 13, 5, 4, generator=g[1])
    wild = 8.0 * torch.randn(2, 13, 13, 5, 4, generator=g[2])  # |t| up to ~25
    t64 = torch.randn(2, H, W, 3, 4, generator=g[3], dtype=torch.float64)
    anchors3 = torch.tensor([[0.5, 0.8], [2.0, 1.0], [3.0, 4.5]], dtype=torch.float64)
    small = torch.randn(7, 4, generator=g[4]) - torch.tensor([0.0, 0.0, 2.0, 2.0])  # boxes smaller than their anchor
    cells7 = torch.randint(0, 13, (7, 2), generator=g[4]).float()
    return [
        CaseInput("t = 0: the cell's centre, the anchor's size", {"t": one[0], "cell_xy": one[1], "anchor_wh": one[2]}),
        CaseInput("a 13 x 13 grid with the VOC anchors", {"t": t13, "cell_xy": grid13, "anchor_wh": VOC_ANCHORS.float()}),
        CaseInput("large raw offsets (centres must stay in their cell)", {"t": wild, "cell_xy": grid13,
                                                                          "anchor_wh": VOC_ANCHORS.float()},
                  hidden=True, weight=3.0),
        CaseInput(f"float64, a {H} x {W} grid (rows != columns)", {"t": t64, "cell_xy": grid_cells(H, W, dtype=torch.float64),
                                                                  "anchor_wh": anchors3}, hidden=True, weight=2.0),
        CaseInput("negative t_w, t_h (boxes smaller than their anchor)", {"t": small, "cell_xy": cells7,
                                                                          "anchor_wh": VOC_ANCHORS[:1].float()},
                  hidden=True),
    ]


def _call_decode(fns: Sequence[Callable[..., Any]], inputs: Mapping[str, Any]) -> Any:
    (fn,) = fns
    return plain(capture(fn, inputs["t"].clone(), inputs["cell_xy"].clone(), inputs["anchor_wh"].clone()))


def _reference_decode(inputs: Mapping[str, Any]) -> Tensor:
    return _ref_decode_offsets(inputs["t"], inputs["cell_xy"], inputs["anchor_wh"])


def _compare_decode(got: Any, expected: Tensor) -> str | None:
    problem = _compare(got, expected, "box")
    if problem is None or type(got) is not torch.Tensor or got.shape != expected.shape:
        return problem
    cells = expected[..., :2].floor()
    g = got.detach().to(torch.float64)
    if bool(((g[..., :2] < cells) | (g[..., :2] > cells + 1)).any()):
        return problem + " (some centres leave their cell)"
    return problem


def _validate_decode(inputs: Mapping[str, Any]) -> None:
    _require(inputs, {"t": Tensor, "cell_xy": Tensor, "anchor_wh": Tensor})
    _validated(_reference_decode, inputs)


def check_decode_offsets(fn: Callable[..., Tensor], *, quiet: bool = False) -> Verdict:
    """Check a learner's ``decode_offsets(t, cell_xy, anchor_wh) -> Tensor [..., 4]`` (5 cases, 3 hidden; large
    offsets weigh 3, a non-square float64 grid 2). Compared with :func:`course_lib.detection.yolo_v2.decode_offsets`
    (shape after broadcasting, dtype, values)."""
    return SPECS["15.2"].check(fn, quiet=quiet)


# ----------------------------------------------------------------------------------------------------------------------
# 15.3 reorg
# ----------------------------------------------------------------------------------------------------------------------
def _cases_reorg(seed: int | None = None) -> list[CaseInput]:
    """Cases of exercise 15.3: (x, stride)."""
    g = [_gen(1520 + k) if seed is None else _gen(_sub_seed(seed, k)) for k in range(5)]
    if seed is None:
        c8, hw = 8, (4, 4)
        small = torch.arange(16.0).reshape(1, 4, 2, 2)
        s3 = (1, 18, 6, 9)
    else:
        c8 = 4 * _randint(g[0], 2, 4)
        hw = (2 * _randint(g[0], 2, 3), 2 * _randint(g[0], 2, 3))
        small = torch.randperm(16, generator=g[2]).float().reshape(1, 4, 2, 2)
        s3 = (1, 9 * _randint(g[3], 1, 2), 3 * _randint(g[3], 1, 2), 3 * _randint(g[3], 2, 3))
    return [
        CaseInput(f"(1, {c8}, {hw[0]}, {hw[1]}), stride 2", {"x": torch.randn(1, c8, *hw, generator=g[0]), "stride": 2}),
        CaseInput("(2, 4, 6, 6), stride 2", {"x": torch.randn(2, 4, 6, 6, generator=g[1]), "stride": 2}),
        CaseInput("the smallest input (1, 4, 2, 2)", {"x": small, "stride": 2}, hidden=True, weight=2.0),
        CaseInput(f"stride 3 on {s3}", {"x": torch.randn(*s3, generator=g[3]), "stride": 3}, hidden=True, weight=2.0),
        CaseInput("float64, batch 3, (3, 16, 4, 8)", {"x": torch.randn(3, 16, 4, 8, generator=g[4],
                                                                       dtype=torch.float64), "stride": 2},
                  hidden=True),
    ]


def _call_reorg(fns: Sequence[Callable[..., Any]], inputs: Mapping[str, Any]) -> Any:
    (fn,) = fns
    return plain(capture(fn, inputs["x"].clone(), inputs["stride"]))


def _reference_reorg(inputs: Mapping[str, Any]) -> Tensor:
    return _ref_reorg(inputs["x"], inputs["stride"])


def _compare_reorg(got: Any, expected: Tensor) -> str | None:
    problem = _compare(got, expected, "output")
    if problem is None or type(got) is not torch.Tensor or got.shape != expected.shape:
        return problem
    same_numbers = torch.equal(got.detach().flatten().sort().values.to(expected.dtype),
                               expected.flatten().sort().values)
    return problem + (" (the right numbers in another order)" if same_numbers else "")


def _validate_reorg(inputs: Mapping[str, Any]) -> None:
    _require(inputs, {"x": Tensor, "stride": int})
    _validated(_reference_reorg, inputs)


def check_reorg(fn: Callable[..., Tensor], *, quiet: bool = False) -> Verdict:
    """Check a learner's ``reorg(x, stride) -> Tensor [B, C s^2, H/s, W/s]`` in darknet's order (5 cases, 3 hidden;
    the smallest input and stride 3 weigh 2 each). Compared with :func:`course_lib.detection.yolo_v2.reorg` exactly
    (a permutation moves numbers without arithmetic)."""
    return SPECS["15.3"].check(fn, quiet=quiet)


SPECS: dict[str, ExerciseSpec] = {
    "15.1": ExerciseSpec(EXERCISES["15.1"], ("wh_iou",), _cases_wh_iou, _call_wh_iou, _reference_wh_iou,
                         lambda got, expected: _compare(got, expected, "IoU matrix"), references=(_ref_wh_iou,),
                         forbidden_modules=("course_lib.detection.anchors",), validate=_validate_wh_iou),
    "15.2": ExerciseSpec(EXERCISES["15.2"], ("decode_offsets",), _cases_decode, _call_decode, _reference_decode,
                         _compare_decode, references=(_ref_decode_offsets,),
                         forbidden_modules=("course_lib.detection.yolo_v2",), validate=_validate_decode),
    "15.3": ExerciseSpec(EXERCISES["15.3"], ("reorg",), _cases_reorg, _call_reorg, _reference_reorg, _compare_reorg,
                         references=(_ref_reorg, _ref_reorg_loop), forbidden_modules=("course_lib.detection.yolo_v2",),
                         validate=_validate_reorg),
}
