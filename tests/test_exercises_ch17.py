"""Chapter 17's checks: the references pass, independent correct solutions pass on the notebook's cases and on
grading seeds, stubs say "not implemented yet", and the classic wrong answers fail and lose most of the points."""

from __future__ import annotations

import math

import pytest
import torch

from course_lib.exercises import ch17, not_implemented

SEEDS = (0, 1, 7, 123)


def _stub(*args, **kwargs):
    raise not_implemented("17.x")


def _points(spec_id, *fns, seed=None):
    return ch17.SPECS[spec_id].check(*fns, quiet=True, seed=seed)


# ----------------------------------------------------------------------------------------------------------------------
# 17.1: route_split and the CSP block
# ----------------------------------------------------------------------------------------------------------------------
def split_chunk(x, groups, group_id):
    return torch.chunk(x, groups, dim=1)[group_id]


def split_narrow(x, groups, group_id):
    size = x.shape[1] // groups
    return x.narrow(1, group_id * size, size)


def split_index(x, groups, group_id):
    size = x.shape[1] // groups
    return x.index_select(1, torch.arange(group_id * size, (group_id + 1) * size))


def split_first_half(x, groups, group_id):  # the classic mistake: the first slice whatever group_id says
    return x[:, : x.shape[1] // groups]


def split_hard_coded(x, groups, group_id):  # always darknet's second half
    return x[:, x.shape[1] // 2 :]


def split_strided(x, groups, group_id):  # every groups-th channel: another layout
    return x[:, group_id::groups]


def block_with(split):
    def block(x, conv_a, conv_b, transition):
        a = conv_a(split(x, 2, 1))
        b = conv_b(a)
        t = transition(torch.cat((b, a), 1))
        return torch.cat((x, t), 1), t
    return block


def block_ab(x, conv_a, conv_b, transition):  # cat[a, b] instead of darknet's cat[b, a]
    a = conv_a(split_chunk(x, 2, 1))
    b = conv_b(a)
    t = transition(torch.cat((a, b), 1))
    return torch.cat((x, t), 1), t


def block_tx(x, conv_a, conv_b, transition):  # cat[t, x] instead of cat[x, t]
    a = conv_a(split_chunk(x, 2, 1))
    b = conv_b(a)
    t = transition(torch.cat((b, a), 1))
    return torch.cat((t, x), 1), t


@pytest.mark.parametrize("split", [split_chunk, split_narrow, split_index])
def test_17_1_correct_formulations_pass(split):
    assert _points("17.1", split, block_with(split)).status == "passed"
    for s in SEEDS:
        assert _points("17.1", split, block_with(split), seed=s).status == "passed", s


def test_17_1_reference_and_stub(capsys):
    from course_lib.detection.yolo_v4_tiny import route_split

    ch17.check_csp_block(route_split, ch17.reference_csp_block)
    assert "PASSED 7/7" in capsys.readouterr().out
    ch17.check_csp_block(_stub, _stub)
    assert "not implemented yet" in capsys.readouterr().out


@pytest.mark.parametrize("split,block", [
    (split_first_half, block_with(split_first_half)),
    (split_hard_coded, block_with(split_chunk)),
    (split_strided, block_with(split_strided)),
    (split_chunk, block_ab),
    (split_chunk, block_tx),
])
def test_17_1_classic_mistakes_lose_most_points(split, block):
    max_points = ch17.EXERCISES["17.1"].points
    for seed in (None, *SEEDS):
        verdict = _points("17.1", split, block, seed=seed)
        assert verdict.status == "failed" and verdict.points <= 0.4 * max_points, (seed, verdict)


def test_17_1_explains_the_first_half_mistake_without_the_answer():
    verdict = _points("17.1", split_first_half, block_with(split_first_half))
    assert "group_id" in " ".join(verdict.messages)


# ----------------------------------------------------------------------------------------------------------------------
# 17.2: Mosaic's boxes
# ----------------------------------------------------------------------------------------------------------------------
def mosaic_loop(boxes, labels, centre, size, min_size, variant=None):
    xc, yc = centre
    offsets = [(xc - size, yc - size), (xc, yc - size), (xc - size, yc), (xc, yc)]
    quads = [(0, 0, xc, yc), (xc, 0, size, yc), (0, yc, xc, size), (xc, yc, size, size)]
    if variant == "canvas":
        quads = [(0, 0, size, size)] * 4
    out, out_labels = [], []
    dtype = boxes[0].dtype
    for k in range(4):
        dx, dy = offsets[k]
        qx1, qy1, qx2, qy2 = quads[k]
        for box, label in zip(boxes[k].tolist(), labels[k].tolist()):
            x1, y1, x2, y2 = box[0] + dx, box[1] + dy, box[2] + dx, box[3] + dy
            if variant == "drop_first" and (x2 - x1 < min_size or y2 - y1 < min_size):
                continue
            if variant != "no_clip":
                x1, x2 = min(max(x1, qx1), qx2), min(max(x2, qx1), qx2)
                y1, y2 = min(max(y1, qy1), qy2), min(max(y2, qy1), qy2)
            w, h = x2 - x1, y2 - y1
            if variant == "strict":
                keep = w > min_size and h > min_size
            elif variant in ("no_drop", "drop_first"):
                keep = w > 0 and h > 0 if variant == "no_drop" else True
            elif variant == "area":
                keep = w * h >= min_size
            else:
                keep = w >= min_size and h >= min_size
            if keep:
                out.append([x1, y1, x2, y2])
                out_labels.append(label)
    return torch.tensor(out, dtype=dtype).reshape(-1, 4), torch.tensor(out_labels, dtype=torch.int64)


def mosaic_vectorized(boxes, labels, centre, size, min_size):
    """Every box at once, reversed order of the images (any order is accepted)."""
    xc, yc = centre
    parts, part_labels = [], []
    for k in (3, 2, 1, 0):
        right, below = k % 2, k // 2
        dx = xc if right else xc - size
        dy = yc if below else yc - size
        lo = torch.tensor([xc if right else 0, yc if below else 0] * 2, dtype=boxes[k].dtype)
        hi = torch.tensor([size if right else xc, size if below else yc] * 2, dtype=boxes[k].dtype)
        b = boxes[k] + torch.tensor([dx, dy, dx, dy], dtype=boxes[k].dtype)
        b = torch.max(torch.min(b, hi), lo)
        keep = ((b[:, 2:] - b[:, :2]) >= min_size).all(dim=1)
        parts.append(b[keep])
        part_labels.append(labels[k][keep])
    return torch.cat(parts), torch.cat(part_labels)


@pytest.mark.parametrize("fn", [lambda *a: mosaic_loop(*a), mosaic_vectorized])
def test_17_2_correct_formulations_pass(fn):
    assert _points("17.2", fn).status == "passed"
    for s in SEEDS:
        assert _points("17.2", fn, seed=s).status == "passed", s


def test_17_2_reference_and_stub(capsys):
    from course_lib.detection.mosaic import mosaic_boxes

    ch17.check_mosaic_boxes(lambda b, lb, c, s, m: mosaic_boxes(b, lb, c, s, min_size=m)[:2])
    assert "PASSED 7/7" in capsys.readouterr().out
    ch17.check_mosaic_boxes(_stub)
    assert "not implemented yet" in capsys.readouterr().out


@pytest.mark.parametrize("variant", ["no_clip", "canvas", "no_drop", "drop_first", "strict"])
def test_17_2_classic_mistakes_lose_most_points(variant):
    max_points = ch17.EXERCISES["17.2"].points
    for seed in (None, *SEEDS):
        verdict = _points("17.2", lambda *a: mosaic_loop(*a, variant=variant), seed=seed)
        assert verdict.status == "failed" and verdict.points <= 0.4 * max_points, (variant, seed, verdict)


# ----------------------------------------------------------------------------------------------------------------------
# 17.3: CIoU
# ----------------------------------------------------------------------------------------------------------------------
def ciou_written_out(pred, target, variant=None):
    px1, py1, px2, py2 = pred.unbind(-1)
    tx1, ty1, tx2, ty2 = target.unbind(-1)
    pw, ph, tw, th = px2 - px1, py2 - py1, tx2 - tx1, ty2 - ty1
    iw = (torch.min(px2, tx2) - torch.max(px1, tx1)).clamp(min=0)
    ih = (torch.min(py2, ty2) - torch.max(py1, ty1)).clamp(min=0)
    inter = iw * ih
    union = pw * ph + tw * th - inter
    iou = inter / union
    cw = torch.max(px2, tx2) - torch.min(px1, tx1)
    ch = torch.max(py2, ty2) - torch.min(py1, ty1)
    c2 = cw**2 + ch**2
    if variant == "enclosing_area":
        c2 = cw * ch
    rho2 = ((px1 + px2) / 2 - (tx1 + tx2) / 2) ** 2 + ((py1 + py2) / 2 - (ty1 + ty2) / 2) ** 2
    v = 4 / math.pi**2 * (torch.atan(tw / th) - torch.atan(pw / ph)) ** 2
    if variant == "atan_hw":  # atan(h / w) on both sides: the same v (the difference only changes sign)
        v = 4 / math.pi**2 * (torch.atan(th / tw) - torch.atan(ph / pw)) ** 2
    denominator = 1 - iou + v
    if variant == "alpha_with_grad":
        alpha = v / torch.where(denominator > 0, denominator, torch.ones_like(denominator))
    else:
        with torch.no_grad():
            alpha = torch.where(denominator > 0, v / denominator.clamp(min=1e-12), torch.zeros_like(v))
    if variant == "no_aspect":
        return 1 - iou + rho2 / c2
    if variant == "diou_sign":
        return 1 - iou - rho2 / c2 + alpha * v
    if variant == "giou_instead":
        area_c = cw * ch
        return 1 - (iou - (area_c - union) / area_c)
    return 1 - iou + rho2 / c2 + alpha * v


def ciou_torchvision(pred, target):
    from torchvision.ops import complete_box_iou_loss

    return complete_box_iou_loss(pred, target, reduction="none")


@pytest.mark.parametrize("fn", [ciou_written_out, lambda p, t: ciou_written_out(p, t, "atan_hw"), ciou_torchvision])
def test_17_3_correct_formulations_pass(fn):
    assert _points("17.3", fn).status == "passed"
    for s in SEEDS:
        assert _points("17.3", fn, seed=s).status == "passed", s


def test_17_3_reference_and_stub(capsys):
    from course_lib.detection.boxes import complete_box_iou_loss

    ch17.check_ciou_loss(lambda p, t: complete_box_iou_loss(p, t))
    assert "PASSED 6/6" in capsys.readouterr().out
    ch17.check_ciou_loss(_stub)
    assert "not implemented yet" in capsys.readouterr().out


@pytest.mark.parametrize("variant", ["no_aspect", "enclosing_area", "alpha_with_grad", "diou_sign", "giou_instead"])
def test_17_3_classic_mistakes_lose_most_points(variant):
    max_points = ch17.EXERCISES["17.3"].points
    for seed in (None, *SEEDS):
        verdict = _points("17.3", lambda p, t: ciou_written_out(p, t, variant), seed=seed)
        assert verdict.status == "failed" and verdict.points <= 0.4 * max_points, (variant, seed, verdict)


def test_17_3_detached_output_and_nan_are_explained():
    verdict = _points("17.3", lambda p, t: ciou_written_out(p, t).detach())
    assert verdict.status == "failed" and verdict.points <= 0.4 * ch17.EXERCISES["17.3"].points
    unguarded = _points("17.3", lambda p, t: ciou_written_out(p, t, "alpha_with_grad").detach() * 0 + float("nan"))
    assert "NaN" in " ".join(unguarded.messages)


def test_weight_summaries_name_the_key_cases():
    for k, spec in ch17.SPECS.items():
        text = spec.weight_summary()
        assert "key case" in text and "40%" in text, k
