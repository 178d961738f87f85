"""Chapter 17 exercises: YOLOv4-tiny (darknet's ``yolov4-tiny.cfg``; Bochkovskiy et al. 2020; Zheng et al. 2020).

Three graded exercises, each checked on visible and hidden cases (:class:`~course_lib.exercises.core.ExerciseSpec`):

- **17.1** :func:`check_csp_block`: darknet's ``[route] groups/group_id`` (``route_split``: the ``group_id``-th of
  ``groups`` equal slices of the channels, the second half for ``groups=2 group_id=1``) and the CSP block of
  CSPDarknet53-tiny wired with it (``out = cat[x, t]``, ``t = transition(cat[b, a])``, ``a = conv_a(split(x))``,
  ``b = conv_b(a)``). Reference: :func:`course_lib.detection.yolo_v4_tiny.route_split` and
  :class:`~course_lib.detection.yolo_v4_tiny.CSPTinyBlock`'s forward.
- **17.2** :func:`check_mosaic_boxes`: the boxes of a Mosaic (shift each image's boxes, clip them to **its
  quadrant**, drop those thinner than ``min_size``). Reference: :func:`course_lib.detection.mosaic.mosaic_boxes`.
- **17.3** :func:`check_ciou_loss`: the CIoU loss per pair and its gradient with :math:`\\alpha` held constant.
  Reference: :func:`course_lib.detection.boxes.complete_box_iou_loss` (``reduction="none"``).

Every input comes from its own ``torch.Generator`` (or is written out); fresh cases for the grader keep each kind's
edge (the second half, four groups, boxes across the centre lines, a sliver exactly ``min_size`` wide, disjoint
boxes, concentric boxes of other shapes).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from course_lib.detection.boxes import complete_box_iou as _ref_ciou
from course_lib.detection.boxes import complete_box_iou_loss as _ref_ciou_loss
from course_lib.detection.boxes import complete_box_iou_pairwise as _ref_ciou_pairwise
from course_lib.detection.mosaic import mosaic_boxes as _ref_mosaic_boxes
from course_lib.detection.yolo_v4_tiny import route_split as _ref_route_split
from course_lib.exercises._random import gen as _gen, randint as _randint, sub_seed as _sub_seed
from course_lib.exercises.core import (
    CaseInput,
    Exercise,
    ExerciseSpec,
    Raised,
    Verdict,
    capture,
    compare_tensors,
    plain,
)

__all__ = [
    "EXERCISES",
    "SPECS",
    "reference_csp_block",
    "check_csp_block",
    "check_mosaic_boxes",
    "check_ciou_loss",
]

EXERCISES: dict[str, Exercise] = {
    "17.1": Exercise("17.1", "route_split and the CSP block", points=3, difficulty=1, minutes=15),
    "17.2": Exercise("17.2", "Mosaic's boxes: shift, clip to the quadrant, drop the slivers", points=3, difficulty=2,
                     minutes=25),
    "17.3": Exercise("17.3", "The CIoU loss and its gradient", points=4, difficulty=2, minutes=25),
}


def _gens(seed: int | None, n: int, fixed: int) -> list[torch.Generator]:
    return [_gen(fixed + k) if seed is None else _gen(_sub_seed(seed, k)) for k in range(n)]


# ----------------------------------------------------------------------------------------------------------------------
# Exercise 17.1: route_split and the CSP block
# ----------------------------------------------------------------------------------------------------------------------
def _conv_fn(weight: Tensor) -> Callable[[Tensor], Tensor]:
    """A convolution with "same" padding followed by leaky ReLU 0.1 (batch norm left out: it changes no shape)."""
    k = weight.shape[-1]
    return lambda h: F.leaky_relu(F.conv2d(h, weight, padding=k // 2), 0.1)


def reference_csp_block(x: Tensor, conv_a: Callable[[Tensor], Tensor], conv_b: Callable[[Tensor], Tensor],
                        transition: Callable[[Tensor], Tensor]) -> tuple[Tensor, Tensor]:
    """darknet's CSP block of YOLOv4-tiny: ``a = conv_a(route_split(x, 2, 1))``, ``b = conv_b(a)``,
    ``t = transition(cat[b, a])`` (``[route] layers=-1,-2``), ``out = cat[x, t]`` (``[route] layers=-6,-1``)."""
    a = conv_a(_ref_route_split(x, 2, 1))
    b = conv_b(a)
    t = transition(torch.cat([b, a], dim=1))
    return torch.cat([x, t], dim=1), t


def _cases_csp(seed: int | None = None) -> list[CaseInput]:
    gs = _gens(seed, 7, 1710)
    cases = []
    splits = [("darknet's groups=2 group_id=1", 2, 1, 8), ("groups=2 group_id=0", 2, 0, 6),
              ("four groups, group_id=2", 4, 2, 12), ("one group (the identity)", 1, 0, 5)]
    for k, (name, groups, gid, c) in enumerate(splits):
        if seed is not None:
            c = groups * _randint(gs[k], 1, 5)
        n, h, w = (2, 3, 3) if seed is None else (_randint(gs[k], 1, 3), _randint(gs[k], 1, 4), _randint(gs[k], 1, 4))
        x = torch.randn(n, c, h, w, generator=gs[k])
        cases.append(CaseInput(name, {"part": "split", "x": x, "groups": groups, "group_id": gid}, hidden=k == 3))
    x = torch.randn(3, 6, generator=gs[4], dtype=torch.float64)  # (N, C): channels in dimension 1, no H, W
    cases.append(CaseInput("a 2-D float64 input, groups=3 group_id=2", {"part": "split", "x": x, "groups": 3,
                                                                        "group_id": 2}, hidden=True))
    for k, (name, c, hidden) in enumerate([("the CSP block on 8 channels", 8, False),
                                           ("the CSP block on 4 channels, batch 3", 4, True)], start=5):
        if seed is not None:
            c = 2 * _randint(gs[k], 2, 5)
        g = gs[k]
        x = torch.randn(3 if hidden else 2, c, 5, 5, generator=g)
        wa = 0.4 * torch.randn(c // 2, c // 2, 3, 3, generator=g)
        wb = 0.4 * torch.randn(c // 2, c // 2, 3, 3, generator=g)
        wt = 0.4 * torch.randn(c, c, 1, 1, generator=g)
        cases.append(CaseInput(name, {"part": "block", "x": x, "wa": wa, "wb": wb, "wt": wt}, hidden=hidden))
    return cases


def _call_csp(fns: Sequence[Callable[..., Any]], inputs: Mapping[str, Any]) -> Any:
    split, block = fns
    if inputs["part"] == "split":
        return {"out": plain(capture(split, inputs["x"], inputs["groups"], inputs["group_id"]))}
    got = capture(block, inputs["x"], _conv_fn(inputs["wa"]), _conv_fn(inputs["wb"]), _conv_fn(inputs["wt"]))
    if type(got) is Raised:
        return {"out": got}
    if type(got) not in (tuple, list) or len(got) != 2:
        return {"out": None, "pair": False, "type": type(got).__name__}
    return {"out": plain(got[0]), "t": plain(got[1]), "pair": True}


def _reference_csp(inputs: Mapping[str, Any]) -> dict[str, Tensor]:
    if inputs["part"] == "split":
        return {"out": _ref_route_split(inputs["x"], inputs["groups"], inputs["group_id"]).clone()}
    out, t = reference_csp_block(inputs["x"], _conv_fn(inputs["wa"]), _conv_fn(inputs["wb"]), _conv_fn(inputs["wt"]))
    return {"out": out, "t": t}


def _compare_csp(record: Any, expected: Mapping[str, Tensor]) -> str | None:
    got = record["out"]
    if type(got) is Raised:
        return got.problem()
    if "t" not in expected:
        problem = compare_tensors(got, expected["out"], rtol=0, atol=0, what="slice of the channels")
        if problem and type(got) is torch.Tensor and got.shape == expected["out"].shape:
            problem += " (which slice of the channels does group_id pick, counting from 0?)"
        return problem
    if not record.get("pair", False):
        return f"the block should return a pair (out, t), got {record.get('type')}"
    if type(record["t"]) is torch.Tensor and record["t"].shape != expected["t"].shape:
        return f"t should have shape {tuple(expected['t'].shape)}, got {tuple(record['t'].shape)}"
    problem = compare_tensors(record["t"], expected["t"], rtol=1e-5, atol=1e-6, what="transition output t")
    if problem:
        return problem + " (check the half that goes through the convolutions, and the order of cat[b, a])"
    problem = compare_tensors(got, expected["out"], rtol=1e-5, atol=1e-6, what="block output")
    return None if problem is None else problem + " (the output is cat[x, t], in that order)"


def _validate_csp(inputs: Mapping[str, Any]) -> None:
    if inputs.get("part") not in ("split", "block") or type(inputs.get("x")) is not torch.Tensor:
        raise ValueError("a 17.1 case needs part 'split' or 'block' and a tensor x.")
    _reference_csp(inputs)


def check_csp_block(route_split: Callable[..., Tensor], csp_tiny_block: Callable[..., Any], *,
                    quiet: bool = False) -> Verdict:
    """Check ``route_split(x, groups, group_id)`` and ``csp_tiny_block(x, conv_a, conv_b, transition) -> (out, t)``,
    7 cases (3 hidden): exact channel slices, then the block's two outputs (rtol 1e-5)."""
    return SPECS["17.1"].check(route_split, csp_tiny_block, quiet=quiet)


# ----------------------------------------------------------------------------------------------------------------------
# Exercise 17.2: Mosaic's box transform
# ----------------------------------------------------------------------------------------------------------------------
def _random_boxes(g: torch.Generator, k: int, size: int, dtype: torch.dtype = torch.float32) -> Tensor:
    xy = torch.rand(k, 2, generator=g, dtype=torch.float64) * (size - 4)
    wh = 2 + torch.rand(k, 2, generator=g, dtype=torch.float64) * size / 2
    return torch.cat([xy, (xy + wh).clamp(max=size)], 1).round().to(dtype)


def _cases_mosaic(seed: int | None = None) -> list[CaseInput]:
    gs = _gens(seed, 7, 1720)
    size = 64
    cases: list[CaseInput] = []

    def add(name: str, boxes: list[Tensor], centre: tuple[float, float], min_size: float = 2.0,
            hidden: bool = False) -> None:
        labels = [torch.arange(len(b), dtype=torch.int64) + 10 * k for k, b in enumerate(boxes)]
        cases.append(CaseInput(name, {"boxes": boxes, "labels": labels, "centre": list(centre), "size": size,
                                      "min_size": float(min_size)}, hidden=hidden))

    # 0: boxes that land inside their quadrants (no clipping): the shifts alone
    c = (32, 32) if seed is None else (_randint(gs[0], 28, 36), _randint(gs[0], 28, 36))
    add("boxes that stay inside their quadrants", [
        torch.tensor([[40.0, 40, 56, 60]]), torch.tensor([[2.0, 36, 20, 60]]),
        torch.tensor([[40.0, 2, 60, 24]]), torch.tensor([[4.0, 4, 20, 26]])], c)
    # 1 (key): boxes cut by the centre lines: each must be clipped to its own quadrant, not to the canvas
    c = (40, 24) if seed is None else (_randint(gs[1], 20, 44), _randint(gs[1], 20, 44))
    add("boxes across the centre lines (clip to the quadrant)", [
        torch.tensor([[10.0, 30, 60, 60], [30.0, 50, 64, 64]]), torch.tensor([[0.0, 40, 30, 64]]),
        torch.tensor([[20.0, 0, 64, 30]]), torch.tensor([[0.0, 0, 40, 44], [10.0, 10, 20, 20]])], c)
    # 2 (key): slivers: what remains of a box is thinner than min_size in width or height
    c = (30, 34) if seed is None else (_randint(gs[2], 26, 38), _randint(gs[2], 26, 38))
    xc, yc = c
    add("slivers thinner than min_size are dropped", [
        torch.tensor([[float(64 - xc - 5), 10.0, float(64 - xc + 1), 40.0],  # 1 px wide after clipping
                      [10.0, 10.0, 50.0, 50.0]]),
        torch.tensor([[5.0, float(64 - yc + 2), 40.0, 64.0]]),  # lands inside its quadrant: kept
        torch.tensor([[20.0, 20.0, 60.0, float(20 + 1)]]),  # 1 px tall
        torch.tensor([[0.0, 0.0, 3.0, 30.0], [0.0, 0.0, 30.0, 1.5]])], c, min_size=2.0)
    # 3 (key): exactly min_size wide after clipping: kept (the rule is >=)
    c = (32, 32) if seed is None else (_randint(gs[3], 26, 38), _randint(gs[3], 26, 38))
    xc, yc = c
    m = 3.0
    add("a box exactly min_size wide after clipping is kept", [
        torch.tensor([[float(64 - m), 30.0, float(64 + 10), 60.0]]),  # right edge cut at the centre: width m
        torch.tensor([[10.0, 50.0, 30.0, float(64 + 4)]]),
        torch.tensor([[40.0, 5.0, 70.0, 30.0]]),
        torch.tensor([[0.0, 0.0, float(m), 20.0]])], c, min_size=m)
    # 4: an image without boxes
    c = (20, 44) if seed is None else (_randint(gs[4], 16, 48), _randint(gs[4], 16, 48))
    add("an image without boxes", [torch.zeros(0, 4), _random_boxes(gs[4], 3, size), torch.zeros(0, 4),
                                   _random_boxes(gs[4], 2, size)], c, hidden=True)
    # 5, 6: random boxes (one case in float64), random centre and min_size
    for k in (5, 6):
        g = gs[k]
        dtype = torch.float64 if k == 6 else torch.float32
        c = (_randint(g, 12, 52), _randint(g, 12, 52))
        boxes = [_random_boxes(g, _randint(g, 1, 6), size, dtype) for _ in range(4)]
        add(f"random boxes{' in float64' if k == 6 else ''}", boxes, c, min_size=float(_randint(g, 1, 4)), hidden=True)
    return cases


def _call_mosaic(fns: Sequence[Callable[..., Any]], inputs: Mapping[str, Any]) -> Any:
    (fn,) = fns
    got = capture(fn, [b.clone() for b in inputs["boxes"]], [lb.clone() for lb in inputs["labels"]],
                  tuple(inputs["centre"]), inputs["size"], inputs["min_size"])
    if type(got) is Raised:
        return got
    if type(got) not in (tuple, list) or len(got) != 2:
        return {"pair": False, "type": type(got).__name__}
    return {"pair": True, "boxes": plain(got[0]), "labels": plain(got[1])}


def _reference_mosaic(inputs: Mapping[str, Any]) -> dict[str, Tensor]:
    boxes, labels, _ = _ref_mosaic_boxes(inputs["boxes"], inputs["labels"], tuple(inputs["centre"]), inputs["size"],
                                         min_size=inputs["min_size"])
    return {"boxes": boxes, "labels": labels}


def _sorted_rows(boxes: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
    """Rows ordered by (label, x1, y1, x2, y2), so that any order of the output is accepted."""
    keys = [(int(lb), *[float(v) for v in b]) for b, lb in zip(boxes.tolist(), labels.tolist())]
    order = sorted(range(len(keys)), key=lambda i: keys[i])
    idx = torch.tensor(order, dtype=torch.int64)
    return boxes[idx], labels[idx]


def _compare_mosaic(record: Any, expected: Mapping[str, Tensor]) -> str | None:
    if type(record) is Raised:
        return record.problem()
    if not record["pair"]:
        return f"the result should be a pair (boxes, labels), got {record['type']}"
    boxes, labels = record["boxes"], record["labels"]
    for value, name in ((boxes, "boxes"), (labels, "labels")):
        if type(value) is not torch.Tensor:
            return f"{name} should be a torch.Tensor, got {type(value).__name__}"
    e_boxes, e_labels = expected["boxes"], expected["labels"]
    if boxes.ndim != 2 or boxes.shape[-1] != 4:
        return f"boxes should have shape (M, 4), got {tuple(boxes.shape)}"
    if boxes.shape[0] != e_boxes.shape[0] or labels.shape != e_labels.shape:
        kept, want = boxes.shape[0], e_boxes.shape[0]
        more = "more" if kept > want else "fewer"
        return (f"{kept} boxes kept, {more} than expected ({want}): are the boxes clipped to their own quadrant "
                "before the min_size rule (width and height >= min_size) is applied?")
    if boxes.dtype != e_boxes.dtype:
        return f"boxes should keep the input dtype {e_boxes.dtype}, got {boxes.dtype}"
    if labels.dtype == torch.bool or labels.is_floating_point():
        return f"labels should be an integer tensor, got {labels.dtype}"
    b, lb = _sorted_rows(boxes, labels)
    eb, elb = _sorted_rows(e_boxes, e_labels)
    problem = compare_tensors(lb, elb, rtol=0, atol=0, check_dtype=False, what="labels (sorted)")
    if problem:
        return problem + ": each kept box keeps its own label"
    problem = compare_tensors(b, eb, rtol=1e-6, atol=1e-4, what="boxes (sorted by label)")
    return None if problem is None else problem + " (shift by the image's corner offset, then clip to its quadrant)"


def _validate_mosaic(inputs: Mapping[str, Any]) -> None:
    for key in ("boxes", "labels", "centre", "size", "min_size"):
        if key not in inputs:
            raise ValueError(f"a 17.2 case needs {key!r}.")
    _reference_mosaic(inputs)


def check_mosaic_boxes(fn: Callable[..., Any], *, quiet: bool = False) -> Verdict:
    """Check ``mosaic_boxes(boxes, labels, centre, size, min_size) -> (boxes, labels)``, 7 cases (3 hidden), in any
    order of the kept boxes (atol 1e-4 pixels)."""
    return SPECS["17.2"].check(fn, quiet=quiet)


# ----------------------------------------------------------------------------------------------------------------------
# Exercise 17.3: the CIoU loss
# ----------------------------------------------------------------------------------------------------------------------
def _boxes_from(cx: Tensor, cy: Tensor, w: Tensor, h: Tensor) -> Tensor:
    return torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], dim=-1)


def _cases_ciou(seed: int | None = None) -> list[CaseInput]:
    gs = _gens(seed, 6, 1730)
    cases = []

    def rand(g: torch.Generator, m: int, lo: float, hi: float, dtype: torch.dtype = torch.float32) -> Tensor:
        return lo + (hi - lo) * torch.rand(m, generator=g, dtype=torch.float64).to(dtype)

    # 0: overlapping boxes (pixels)
    g = gs[0]
    m = 5
    cx, cy, w, h = rand(g, m, 40, 60), rand(g, m, 40, 60), rand(g, m, 10, 40), rand(g, m, 10, 40)
    target = _boxes_from(cx, cy, w, h)
    pred = _boxes_from(cx + rand(g, m, -8, 8), cy + rand(g, m, -8, 8), w * rand(g, m, 0.6, 1.5), h * rand(g, m, 0.6, 1.5))
    cases.append(("overlapping boxes", pred, target, False))
    # 1 (key): same centre, other aspect ratios: the distance term is 0, the aspect term alpha v is not
    g = gs[1]
    cx, cy = rand(g, 4, 30, 70), rand(g, 4, 30, 70)
    w = rand(g, 4, 10, 30)
    target = _boxes_from(cx, cy, w, w * rand(g, 4, 1.5, 3.0))
    pred = _boxes_from(cx, cy, w * rand(g, 4, 1.2, 2.0), w * rand(g, 4, 0.5, 0.9))
    cases.append(("concentric boxes of other shapes (the aspect term)", pred, target, False))
    # 2 (key): disjoint boxes: IoU 0, the loss grows with the distance between the centres
    g = gs[2]
    cx, cy, w, h = rand(g, 4, 20, 30), rand(g, 4, 20, 30), rand(g, 4, 5, 15), rand(g, 4, 5, 15)
    target = _boxes_from(cx, cy, w, h)
    pred = _boxes_from(cx + rand(g, 4, 30, 60), cy + rand(g, 4, -20, 40), h, w)
    cases.append(("disjoint boxes (the distance term)", pred, target, False))
    # 3 (key): the gradient, with alpha constant in the backward pass (checked on overlapping boxes)
    g = gs[3]
    cx, cy, w, h = rand(g, 6, 40, 60), rand(g, 6, 40, 60), rand(g, 6, 10, 40), rand(g, 6, 10, 40)
    target = _boxes_from(cx, cy, w, h)
    pred = _boxes_from(cx + rand(g, 6, -6, 6), cy + rand(g, 6, -6, 6), w * rand(g, 6, 0.5, 1.6),
                       h * rand(g, 6, 0.5, 1.6))
    cases.append(("the gradient (alpha held constant)", pred, target, True))
    # 4: identical boxes: loss exactly 0 within round-off (alpha's 0 / 0 guarded)
    g = gs[4]
    target = _boxes_from(rand(g, 3, 20, 80), rand(g, 3, 20, 80), rand(g, 3, 5, 30), rand(g, 3, 5, 30))
    cases.append(("identical boxes", target.clone(), target, True))
    # 5: float64, mixed: gradient too
    g = gs[5]
    d = torch.float64
    cx, cy, w, h = rand(g, 8, 20, 80, d), rand(g, 8, 20, 80, d), rand(g, 8, 5, 40, d), rand(g, 8, 5, 40, d)
    target = _boxes_from(cx, cy, w, h)
    pred = _boxes_from(cx + rand(g, 8, -30, 30, d), cy + rand(g, 8, -30, 30, d), rand(g, 8, 5, 40, d),
                       rand(g, 8, 5, 40, d))
    cases.append(("float64 boxes, value and gradient", pred, target, True))
    out = []
    for k, (name, pred, target, hidden) in enumerate(cases):
        weights = torch.rand(pred.shape[0], generator=gs[k], dtype=torch.float64).to(pred.dtype) + 0.5
        out.append(CaseInput(name, {"pred": pred, "target": target, "grad": k in (3, 5), "w": weights},
                             hidden=hidden))
    return out


def _call_ciou(fns: Sequence[Callable[..., Any]], inputs: Mapping[str, Any]) -> Any:
    (fn,) = fns
    pred = inputs["pred"].clone().requires_grad_(inputs["grad"])
    got = capture(fn, pred, inputs["target"].clone())
    if type(got) is Raised:
        return got
    record: dict[str, Any] = {"loss": plain(got)}
    if inputs["grad"] and type(got) is torch.Tensor and got.shape == (pred.shape[0],) and got.requires_grad:
        done = capture(lambda: (got * inputs["w"]).sum().backward())
        record["grad"] = done if type(done) is Raised else plain(pred.grad)
    elif inputs["grad"]:
        record["grad"] = None
    return record


def _reference_ciou(inputs: Mapping[str, Any]) -> dict[str, Tensor]:
    pred = inputs["pred"].clone().requires_grad_(inputs["grad"])
    loss = _ref_ciou_loss(pred, inputs["target"], reduction="none")
    out = {"loss": loss.detach()}
    if inputs["grad"]:
        (loss * inputs["w"]).sum().backward()
        out["grad"] = pred.grad.detach()
    return out


def _compare_ciou(record: Any, expected: Mapping[str, Tensor]) -> str | None:
    if type(record) is Raised:
        return record.problem()
    loss = record["loss"]
    if type(loss) is Raised:
        return loss.problem()
    tight = expected["loss"].dtype == torch.float64
    rtol, atol = (1e-7, 1e-9) if tight else (1e-4, 1e-5)
    if type(loss) is torch.Tensor and bool(torch.isnan(loss).any()):
        return "the loss contains NaN: guard alpha = v / (1 - IoU + v) against 0 / 0 (identical boxes)"
    problem = compare_tensors(loss, expected["loss"], rtol=rtol, atol=atol, what="loss per pair")
    if problem:
        return problem
    if "grad" in expected:
        grad = record.get("grad")
        if type(grad) is Raised:
            return grad.problem()
        if grad is None:
            return "the loss should be a (M,) tensor with a gradient (build it from pred with torch operations)"
        problem = compare_tensors(grad, expected["grad"], rtol=1e-3 if not tight else 1e-6,
                                  atol=1e-5 if not tight else 1e-9, what="gradient with respect to pred")
        if problem:
            return problem + " (alpha is a constant in the backward pass: compute it without gradient)"
    return None


def _validate_ciou(inputs: Mapping[str, Any]) -> None:
    for key in ("pred", "target", "grad", "w"):
        if key not in inputs:
            raise ValueError(f"a 17.3 case needs {key!r}.")
    _reference_ciou(inputs)


def check_ciou_loss(fn: Callable[..., Tensor], *, quiet: bool = False) -> Verdict:
    """Check ``ciou_loss(pred, target) -> (M,)``, 6 cases (3 hidden): values (rtol 1e-4 in float32) and, in two
    cases, the gradient of a weighted sum with respect to ``pred`` (rtol 1e-3)."""
    return SPECS["17.3"].check(fn, quiet=quiet)


SPECS: dict[str, ExerciseSpec] = {
    "17.1": ExerciseSpec(EXERCISES["17.1"], ("route_split", "csp_tiny_block"), _cases_csp, _call_csp, _reference_csp,
                         _compare_csp, references=(_ref_route_split,), validate=_validate_csp,
                         weights={0: 3, 2: 2, 5: 3}, keys=(0, 2, 5)),
    "17.2": ExerciseSpec(EXERCISES["17.2"], ("mosaic_boxes",), _cases_mosaic, _call_mosaic, _reference_mosaic,
                         _compare_mosaic, references=(_ref_mosaic_boxes,),
                         forbidden_modules=("course_lib.detection.mosaic",), validate=_validate_mosaic,
                         weights={1: 3, 2: 3, 3: 2}, keys=(1, 2, 3)),
    "17.3": ExerciseSpec(EXERCISES["17.3"], ("ciou_loss",), _cases_ciou, _call_ciou, _reference_ciou, _compare_ciou,
                         references=(_ref_ciou_loss, _ref_ciou, _ref_ciou_pairwise), validate=_validate_ciou,
                         weights={1: 2, 2: 2, 3: 3}, keys=(1, 2, 3)),
}

