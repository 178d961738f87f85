"""YOLOv3 (course_lib.detection.yolo_v3): the paper's constants, Darknet-53's layers, the head's layout, the scale
assignment and the target builder against loops written for clarity, the loss against a loop over every prediction
(values and gradients), decoding (targets decode back to their boxes, mAP 1 for a perfect prediction), bad inputs."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from course_lib.detection import yolo_v3 as Y
from course_lib.detection.metrics import mean_average_precision
from course_lib.detection.yolo_v1 import fit_detector

F64 = torch.float64


# ----------------------------------------------------------------------------------------------------------------------
# Constants
# ----------------------------------------------------------------------------------------------------------------------
def test_constants_are_the_papers():
    assert Y.YOLOV3_ANCHORS.shape == (9, 2) and Y.YOLOV3_ANCHORS.dtype == F64
    flat = [int(v) for v in Y.YOLOV3_ANCHORS.flatten().tolist()]
    assert flat == [10, 13, 16, 30, 33, 23, 30, 61, 62, 45, 59, 119, 116, 90, 156, 198, 373, 326]
    assert Y.YOLOV3_MASKS == ((6, 7, 8), (3, 4, 5), (0, 1, 2))
    assert Y.YOLOV3_STRIDES == (32, 16, 8)
    assert Y.YOLOV3_IGNORE_THRESH == 0.7
    area = Y.YOLOV3_ANCHORS.prod(1)
    assert bool((area[1:] >= area[:-1]).all())  # sorted by area: the largest three go to stride 32


def test_scale_anchors_is_proportional():
    a = Y.scale_anchors(96)
    torch.testing.assert_close(a, Y.YOLOV3_ANCHORS * 96 / 416)
    torch.testing.assert_close(Y.scale_anchors(416), Y.YOLOV3_ANCHORS)
    with pytest.raises(ValueError):
        Y.scale_anchors(0)
    with pytest.raises(TypeError):
        Y.scale_anchors(96, anchors=[[1, 2]])


# ----------------------------------------------------------------------------------------------------------------------
# assign_scales
# ----------------------------------------------------------------------------------------------------------------------
def _assign_loop(wh, anchors, masks):
    scales, slots = [], []
    for w, h in wh.tolist():
        ious = []
        for aw, ah in anchors.tolist():
            inter = min(w, aw) * min(h, ah)
            union = w * h + aw * ah - inter
            ious.append(inter / union if union > 0 else 0.0)
        best = max(range(len(ious)), key=lambda k: (ious[k], -k))  # first on ties
        found = next(((s, m.index(best)) for s, m in enumerate(masks) if best in m), (-1, -1))
        scales.append(found[0])
        slots.append(found[1])
    return torch.tensor(scales), torch.tensor(slots)


def test_assign_scales_worked_examples():
    wh = torch.tensor([[100.0, 80.0], [12.0, 12.0], [50.0, 50.0], [400.0, 400.0], [30.0, 60.0]])
    scale, slot = Y.assign_scales(wh)
    # 100 x 80 -> anchor 6 (116 x 90): stride 32 slot 0; 12 x 12 -> anchor 0: stride 8 slot 0;
    # 50 x 50 -> anchor 4 (62 x 45, IoU 2250 / (2500 + 2790 - 2250) = 0.740): stride 16 slot 1;
    # 400 x 400 -> anchor 8; 30 x 60 -> anchor 3 (30 x 61).
    assert scale.tolist() == [0, 2, 1, 0, 1] and slot.tolist() == [0, 0, 1, 2, 0]
    assert scale.dtype == torch.int64 and slot.dtype == torch.int64


@pytest.mark.parametrize("masks", [Y.YOLOV3_MASKS, ((0, 1, 2), (3, 4, 5), (6, 7, 8)),
                                   ((0, 3, 6), (1, 4, 7), (2, 5, 8))])
def test_assign_scales_matches_loop(masks):
    g = torch.Generator().manual_seed(0)
    wh = torch.exp(torch.rand(200, 2, generator=g, dtype=F64) * 6 + 1.5)  # 4.5 to 1800 pixels
    scale, slot = Y.assign_scales(wh, Y.YOLOV3_ANCHORS, masks)
    ref_scale, ref_slot = _assign_loop(wh, Y.YOLOV3_ANCHORS, masks)
    assert torch.equal(scale, ref_scale) and torch.equal(slot, ref_slot)
    best = torch.tensor([masks[s][j] for s, j in zip(scale.tolist(), slot.tolist())])
    assert torch.equal(Y.YOLOV3_ANCHORS[best], Y.YOLOV3_ANCHORS[best])  # every object has an anchor


def test_assign_scales_is_translation_free_and_unit_free():
    wh = torch.tensor([[20.0, 40.0], [70.0, 50.0]])
    s1 = Y.assign_scales(wh)
    s2 = Y.assign_scales(wh * 2.5, Y.YOLOV3_ANCHORS * 2.5)
    assert torch.equal(s1[0], s2[0]) and torch.equal(s1[1], s2[1])


def test_assign_scales_edges():
    s, j = Y.assign_scales(torch.zeros(0, 2))
    assert s.shape == (0,) and j.shape == (0,)
    # An anchor in no mask (darknet's YOLOv4-tiny drops anchor 0): scale and slot -1.
    s, j = Y.assign_scales(torch.tensor([[10.0, 13.0]]), Y.YOLOV3_ANCHORS, ((3, 4, 5), (1, 2, 3)))
    assert s.tolist() == [-1] and j.tolist() == [-1]
    # An anchor in two masks goes to the first.
    s, j = Y.assign_scales(torch.tensor([[30.0, 61.0]]), Y.YOLOV3_ANCHORS, ((3, 4, 5), (1, 2, 3)))
    assert s.tolist() == [0] and j.tolist() == [0]
    with pytest.raises(ValueError):
        Y.assign_scales(torch.ones(3, 3))
    with pytest.raises(ValueError):
        Y.assign_scales(torch.tensor([[1.0, -2.0]]))
    with pytest.raises(TypeError):
        Y.assign_scales([[1.0, 2.0]])
    with pytest.raises(ValueError):
        Y.assign_scales(torch.ones(1, 2), masks=((0, 1, 9),))


# ----------------------------------------------------------------------------------------------------------------------
# The networks
# ----------------------------------------------------------------------------------------------------------------------
def _convs(module):
    return [m for m in module.modules() if isinstance(m, nn.Conv2d)]


def _conv_bn_params(c_in, c_out, k):
    return k * k * c_in * c_out + 2 * c_out  # no bias (batch norm), BN weight and bias


def test_darknet53_layers():
    with torch.device("meta"):
        net = Y.Darknet53()
    convs = _convs(net)
    assert len(convs) == 52  # + the classifier's connected layer = 53
    assert net.blocks == (1, 2, 8, 8, 4)
    assert [sum(isinstance(m, Y._Residual) for m in stage.modules()) for stage in net.stages] == [1, 2, 8, 8, 4]
    assert [stage[0][0].stride for stage in net.stages] == [(2, 2)] * 5
    # The parameter count, layer by layer (Table 1): stem, then per stage a downsampling conv and the blocks.
    total, c = _conv_bn_params(3, 32, 3), 32
    for k, n in enumerate((1, 2, 8, 8, 4), start=1):
        out = 32 * 2**k
        block = _conv_bn_params(out, out // 2, 1) + _conv_bn_params(out // 2, out, 3)
        total += _conv_bn_params(c, out, 3) + n * block
        c = out
    assert sum(p.numel() for p in net.parameters()) == total
    assert 40e6 < total < 41e6
    with torch.device("meta"):
        clf = Y.Darknet53(num_classes=1000)
    assert sum(p.numel() for p in clf.parameters()) == total + 1024 * 1000 + 1000


def test_darknet53_feature_strides():
    net = Y.Darknet53(base_channels=4).eval()
    with torch.no_grad():
        c3, c4, c5 = net(torch.rand(1, 3, 64, 64))
    assert c3.shape == (1, 32, 8, 8) and c4.shape == (1, 64, 4, 4) and c5.shape == (1, 128, 2, 2)
    with torch.no_grad():
        assert net.__class__(base_channels=4, num_classes=7)(torch.rand(2, 3, 64, 64)).shape == (2, 7)


def test_paper_yolov3_layers_and_channels():
    with torch.device("meta"):
        model = Y.YoloV3()
    convs = _convs(model)
    assert len(convs) == 75  # yolov3.cfg: 52 in Darknet-53, 23 in the head
    heads = [model.pred5[1], model.pred4[1], model.pred3[1]]
    assert [h.out_channels for h in heads] == [255, 255, 255]  # 3 x (4 + 1 + 80)
    assert [model.set4[0][0].in_channels, model.set3[0][0].in_channels] == [768, 384]  # upsample + concat
    assert model.grids == (13, 26, 52) and model.num_predictions == 3 * (13**2 + 26**2 + 52**2) == 10647
    # The head layer by layer: three sets of 5 alternating convs, three 3x3 + linear 1x1 predictors, two laterals.
    head = 0
    for c_in, mid in ((1024, 512), (768, 256), (384, 128)):
        c = c_in
        for i in range(5):
            out, k = (mid, 1) if i % 2 == 0 else (2 * mid, 3)
            head += _conv_bn_params(c, out, k)
            c = out
        head += _conv_bn_params(mid, 2 * mid, 3) + 2 * mid * 255 + 255
    head += _conv_bn_params(512, 256, 1) + _conv_bn_params(256, 128, 1)
    backbone = sum(p.numel() for p in model.backbone.parameters())
    assert sum(p.numel() for p in model.parameters()) == backbone + head


def test_output_layout_is_darknets():
    torch.manual_seed(0)
    model = Y.YoloV3(base_channels=4, image_size=64, num_classes=3).eval()
    captured = []
    model.pred4.register_forward_hook(lambda m, i, o: captured.append(o))
    with torch.no_grad():
        out = model(torch.rand(2, 3, 64, 64))
    assert out.shape == (2, model.num_predictions, 8)
    scales = model.split_scales(out)
    assert [tuple(s.shape) for s in scales] == [(2, 3, 2, 2, 8), (2, 3, 4, 4, 8), (2, 3, 8, 8, 8)]
    raw = captured[0]  # (2, 3 * 8, 4, 4)
    n, a, r, c, k = 1, 2, 3, 1, 6
    assert scales[1][n, a, r, c, k] == raw[n, a * 8 + k, r, c]
    grid = Y.prediction_grid(64, model.anchors)
    p = 3 * 4 + (a * 4 + r) * 4 + c  # scale 1 starts after the 3 x 2 x 2 predictions of stride 32
    assert out[n, p, k] == raw[n, a * 8 + k, r, c]
    assert (grid["scale"][p], grid["slot"][p], grid["row"][p], grid["col"][p], grid["stride"][p]) == (1, a, r, c, 16)
    assert grid["anchor"][p] == Y.YOLOV3_MASKS[1][a]


def test_small_model_and_bad_inputs():
    model = Y.YoloV3Small()
    assert model.config.image_size == 96 and model.config.num_classes == 10
    torch.testing.assert_close(model.anchors, Y.scale_anchors(96).float())
    with pytest.raises(ValueError):
        model(torch.rand(1, 3, 64, 64))
    with pytest.raises(ValueError):
        Y.YoloV3Small(image_size=100)
    with pytest.raises(ValueError):
        Y.YoloV3Small(head_depth=2)
    with pytest.raises(TypeError):
        Y.YoloV3Small(depth=3)


# ----------------------------------------------------------------------------------------------------------------------
# Targets
# ----------------------------------------------------------------------------------------------------------------------
def _targets_loop(targets, size, C, anchors, masks, strides):
    grids = [size // s for s in strides]
    P = sum(len(m) * g * g for m, g in zip(masks, grids))
    out = torch.zeros(len(targets), P, 5 + C, dtype=F64)
    area_at = {}
    for n, t in enumerate(targets):
        for k in range(t["boxes"].shape[0]):
            x1, y1, x2, y2 = (v * size for v in t["boxes"][k].tolist())
            w, h = x2 - x1, y2 - y1
            s, j = (int(v[0]) for v in _assign_loop(torch.tensor([[w, h]], dtype=F64), anchors, masks))
            if s < 0:
                continue
            stride, G = strides[s], grids[s]
            aw, ah = anchors[masks[s][j]].tolist()
            cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
            col, row = min(math.floor(cx / stride), G - 1), min(math.floor(cy / stride), G - 1)
            p = sum(len(m) * g * g for m, g in zip(masks[:s], grids[:s])) + (j * G + row) * G + col
            if (n, p) in area_at and area_at[(n, p)] >= w * h:
                continue  # a larger (or equal, earlier) object holds this prediction
            area_at[(n, p)] = w * h
            out[n, p] = 0.0
            out[n, p, :5] = torch.tensor([cx / stride - col, cy / stride - row, math.log(w / aw), math.log(h / ah), 1],
                                        dtype=F64)
            out[n, p, 5 + int(t["labels"][k])] = 1.0
    return out


def _random_targets(g, N, C, max_objects=5, dtype=F64):
    items = []
    for _ in range(N):
        M = int(torch.randint(0, max_objects + 1, (), generator=g))
        wh = 0.02 + 0.6 * torch.rand(M, 2, generator=g, dtype=F64) ** 2
        xy = torch.rand(M, 2, generator=g, dtype=F64) * (1 - wh)
        items.append({"boxes": torch.cat([xy, xy + wh], 1).to(dtype), "labels": torch.randint(0, C, (M,), generator=g)})
    return items


@pytest.mark.parametrize("seed, size", [(0, 96), (1, 64), (2, 416)])
def test_build_targets_matches_loop(seed, size):
    g = torch.Generator().manual_seed(seed)
    targets = _random_targets(g, 4, 5)
    anchors = Y.scale_anchors(size)
    got = Y.build_targets(targets, size, 5, anchors)
    ref = _targets_loop(targets, size, 5, anchors, Y.YOLOV3_MASKS, Y.YOLOV3_STRIDES)
    torch.testing.assert_close(got["target"], ref, rtol=1e-12, atol=1e-12)
    M = max(t["boxes"].shape[0] for t in targets)
    assert got["boxes"].shape == (4, M, 4) and got["valid"].sum() == sum(t["boxes"].shape[0] for t in targets)


def test_build_targets_one_box_by_hand():
    # At 416: a 100 x 80 box centred at (200, 120) -> anchor 6 (116 x 90), stride 32, cell (row 3, col 6),
    # x^ = 200/32 - 6 = 0.25, y^ = 120/32 - 3 = 0.75, t^_w = log(100/116), t^_h = log(80/90).
    box = torch.tensor([[150.0, 80.0, 250.0, 160.0]], dtype=F64) / 416
    out = Y.build_targets([{"boxes": box, "labels": torch.tensor([2])}], 416, 80)["target"][0]
    p = (0 * 13 + 3) * 13 + 6
    assert int((out[:, 4] > 0).sum()) == 1 and out[p, 4] == 1
    torch.testing.assert_close(out[p, :4], torch.tensor([0.25, 0.75, math.log(100 / 116), math.log(80 / 90)],
                                                        dtype=F64))
    assert out[p, 5 + 2] == 1 and out[p, 5:].sum() == 1


def test_build_targets_collision_keeps_the_larger_box():
    # Two boxes of the same shape class, same cell, same anchor: the larger wins, whatever the order.
    small = [0.45 - 0.0675, 0.45 - 0.052, 0.45 + 0.0675, 0.45 + 0.052]  # 13 x 10 pixels at 96: anchor 4
    large = [0.45 - 0.078, 0.45 - 0.0575, 0.45 + 0.078, 0.45 + 0.0575]  # 15 x 11: anchor 4, same cell
    for order in ((small, large), (large, small)):
        t = [{"boxes": torch.tensor(order, dtype=F64), "labels": torch.tensor([0, 1])}]
        out = Y.build_targets(t, 96, 2)["target"][0]
        pos = (out[:, 4] > 0).nonzero().flatten()
        winner = 1 if order[1] is large else 0
        assert pos.numel() == 1 and out[pos[0], 5 + winner] == 1


def test_build_targets_bad_inputs():
    ok = {"boxes": torch.tensor([[0.1, 0.1, 0.4, 0.5]]), "labels": torch.tensor([1])}
    with pytest.raises(ValueError):
        Y.build_targets([{"boxes": torch.tensor([[0.1, 0.1, 0.1, 0.5]]), "labels": torch.tensor([1])}], 96, 3)
    with pytest.raises(ValueError):
        Y.build_targets([{"boxes": torch.tensor([[10.0, 10.0, 40.0, 50.0]]), "labels": torch.tensor([1])}], 96, 3)
    with pytest.raises(ValueError):
        Y.build_targets([{"boxes": ok["boxes"], "labels": torch.tensor([3])}], 96, 3)
    with pytest.raises(ValueError):
        Y.build_targets([ok], 100, 3)
    with pytest.raises(TypeError):
        Y.build_targets(ok, 96, 3)


# ----------------------------------------------------------------------------------------------------------------------
# The loss
# ----------------------------------------------------------------------------------------------------------------------
def _softplus(z):
    return max(z, 0.0) + math.log1p(math.exp(-abs(z)))


def _sig(z):
    return 1 / (1 + math.exp(-z))


def _loss_loop(pred, built, size, anchors, masks, strides, ignore_thresh):
    """Every term written out, prediction by prediction, in float64 Python arithmetic."""
    grid = Y.prediction_grid(size, anchors, masks, strides, dtype=F64)
    target, gt, valid = built["target"], built["boxes"], built["valid"]
    N, P, D = pred.shape
    terms = dict.fromkeys(Y.LOSS_TERMS, 0.0)
    for n in range(N):
        for p in range(P):
            z = pred[n, p].tolist()
            t = target[n, p].tolist()
            stride, col, row = grid["stride"][p].item(), grid["col"][p].item(), grid["row"][p].item()
            aw, ah = grid["anchor_w"][p].item(), grid["anchor_h"][p].item()
            if t[4] > 0:
                w_hat, h_hat = aw * math.exp(t[2]) / size, ah * math.exp(t[3]) / size
                scale = 2 - w_hat * h_hat
                terms["xy"] += scale * ((_sig(z[0]) - t[0]) ** 2 + (_sig(z[1]) - t[1]) ** 2)
                terms["wh"] += scale * ((z[2] - t[2]) ** 2 + (z[3] - t[3]) ** 2)
                terms["obj"] += _softplus(-z[4])
                terms["cls"] += sum(_softplus(z[5 + c]) - t[5 + c] * z[5 + c] for c in range(D - 5))
                continue
            cx, cy = (col + _sig(z[0])) * stride, (row + _sig(z[1])) * stride
            w, h = aw * math.exp(z[2]), ah * math.exp(z[3])
            box = [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]
            best = 0.0
            for m in range(gt.shape[1]):
                if not valid[n, m]:
                    continue
                b = [v * size for v in gt[n, m].tolist()]
                iw = max(0.0, min(box[2], b[2]) - max(box[0], b[0]))
                ih = max(0.0, min(box[3], b[3]) - max(box[1], b[1]))
                inter = iw * ih
                best = max(best, inter / (w * h + (b[2] - b[0]) * (b[3] - b[1]) - inter))
            if best <= ignore_thresh:
                terms["noobj"] += _softplus(z[4])
    return {k: v / N for k, v in terms.items()}


def _near(built, g, spread=0.3):
    """Raw predictions: random, but near the targets where there are objects (so some IoUs are high)."""
    t = built["target"]
    pred = torch.randn(t.shape, generator=g, dtype=F64)
    obj = t[..., 4:5] > 0
    xy = torch.logit(t[..., :2].clamp(0.02, 0.98))
    near = torch.cat([xy, t[..., 2:4]], -1) + spread * torch.randn(t[..., :4].shape, generator=g, dtype=F64)
    pred[..., :4] = torch.where(obj, near, pred[..., :4])
    return pred


@pytest.mark.parametrize("seed, size", [(0, 64)])
def test_loss_matches_loop_values_and_gradient(seed, size):
    g = torch.Generator().manual_seed(seed)
    anchors = Y.scale_anchors(size)
    built = Y.build_targets(_random_targets(g, 3, 4), size, 4, anchors)
    pred = _near(built, g)
    # Predictions that copy a ground-truth box exactly from a neighbouring anchor: IoU 1 > 0.7, so ignored.
    leaf = pred.clone().requires_grad_(True)
    loss, terms = Y.yolo_v3_loss(leaf, built, size, anchors, return_terms=True)
    ref = _loss_loop(pred, built, size, anchors, Y.YOLOV3_MASKS, Y.YOLOV3_STRIDES, 0.7)
    for key in Y.LOSS_TERMS:
        assert math.isclose(float(terms[key].detach()), ref[key], rel_tol=1e-9, abs_tol=1e-12), key
    torch.testing.assert_close(loss, sum(terms.values()))
    (grad,) = torch.autograd.grad(loss, leaf)
    # The gradient, by finite differences of the loop on a few entries (objectness and class: sigma(z) - y).
    obj = built["target"][..., 4] > 0
    entries = [obj.nonzero()[0].tolist() + [k] for k in (0, 2, 4, 5)] + [(~obj).nonzero()[0].tolist() + [4]]
    flat = [int(torch.tensor(e) @ torch.tensor([pred.shape[1] * pred.shape[2], pred.shape[2], 1])) for e in entries]
    for i in flat:
        e = torch.zeros(grad.numel(), dtype=F64)
        e[i] = 1e-6
        plus = sum(_loss_loop(pred + e.view_as(pred), built, size, anchors, Y.YOLOV3_MASKS, Y.YOLOV3_STRIDES,
                              0.7).values())
        minus = sum(_loss_loop(pred - e.view_as(pred), built, size, anchors, Y.YOLOV3_MASKS, Y.YOLOV3_STRIDES,
                               0.7).values())
        assert math.isclose(float(grad.flatten()[i]), (plus - minus) / 2e-6, rel_tol=1e-4, abs_tol=1e-7)


def test_loss_ignore_rule_and_box_scale():
    size = 96
    box = torch.tensor([[0.30, 0.30, 0.55, 0.60]], dtype=F64)
    built = Y.build_targets([{"boxes": box, "labels": torch.tensor([0])}], size, 2)
    grid = Y.prediction_grid(size, dtype=F64)
    pred = torch.full(built["target"].shape, -8.0, dtype=F64)
    pos = int((built["target"][0, :, 4] > 0).nonzero()[0, 0])
    # A second prediction of the same cell's scale that predicts the object's box exactly (IoU 1): ignored.
    other = next(p for p in range(pred.shape[1]) if grid["scale"][p] == grid["scale"][pos]
                 and grid["row"][p] == grid["row"][pos] and grid["col"][p] == grid["col"][pos] and p != pos)
    cx, cy = 0.425 * size, 0.45 * size
    s = grid["stride"][other]
    pred[0, other, 0] = torch.logit(cx / s - grid["col"][other])
    pred[0, other, 1] = torch.logit(cy / s - grid["row"][other])
    pred[0, other, 2] = math.log(0.25 * size / grid["anchor_w"][other])
    pred[0, other, 3] = math.log(0.30 * size / grid["anchor_h"][other])
    pred[0, other, 4] = 3.0  # a confident non-responsible prediction...
    _, with_ignore = Y.yolo_v3_loss(pred, built, size, return_terms=True)
    _, without = Y.yolo_v3_loss(pred, built, size, ignore_thresh=1.0, return_terms=True)
    # ...costs nothing with the ignore rule, softplus(3) more without it.
    assert math.isclose(float(without["noobj"] - with_ignore["noobj"]), _softplus(3.0), rel_tol=1e-9)
    # The box terms carry 2 - w h = 2 - 0.25 * 0.30.
    pred2 = pred.clone()
    pred2[0, pos, :4] = 0.0
    _, terms = Y.yolo_v3_loss(pred2, built, size, return_terms=True)
    t = built["target"][0, pos]
    expected_wh = (2 - 0.25 * 0.30) * float(t[2] ** 2 + t[3] ** 2)
    assert math.isclose(float(terms["wh"]), expected_wh, rel_tol=1e-9)


def test_loss_empty_images_and_bad_inputs():
    size = 64
    built = Y.build_targets([{"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.long)}] * 2, size, 3)
    pred = torch.zeros(built["target"].shape)
    loss, terms = Y.yolo_v3_loss(pred, built, size, return_terms=True)
    assert math.isclose(float(loss), built["target"].shape[1] * math.log(2), rel_tol=1e-6)  # only noobj: log 2 each
    assert float(terms["obj"] + terms["cls"] + terms["xy"] + terms["wh"]) == 0.0
    with pytest.raises(ValueError):
        Y.yolo_v3_loss(pred[:, :10], built, size)
    with pytest.raises(TypeError):
        Y.yolo_v3_loss(pred, built["target"], size)
    with pytest.raises(ValueError):
        Y.yolo_v3_loss(pred, built, size, ignore_thresh=1.5)


# ----------------------------------------------------------------------------------------------------------------------
# Decoding
# ----------------------------------------------------------------------------------------------------------------------
def _perfect_prediction(built):
    """Raw outputs that say exactly what the target says (logits of +-30)."""
    t = built["target"]
    obj = t[..., 4:5] > 0
    pred = torch.full(t.shape, -30.0, dtype=t.dtype)
    box = torch.cat([torch.logit(t[..., :2].clamp(1e-9, 1 - 1e-9)), t[..., 2:4]], -1)
    pred[..., :4] = torch.where(obj, box, torch.zeros_like(box))
    pred[..., 4:] = torch.where(obj, 60.0 * t[..., 4:] - 30.0, pred[..., 4:])
    return pred


def test_decode_gives_the_boxes_back_and_map_one():
    g = torch.Generator().manual_seed(3)
    size = 96
    targets = [{"boxes": torch.tensor([[0.05, 0.1, 0.2, 0.3], [0.5, 0.5, 0.95, 0.9], [0.3, 0.6, 0.4, 0.7]], dtype=F64),
                "labels": torch.tensor([1, 0, 2])}, _random_targets(g, 1, 3, max_objects=0)[0]]
    built = Y.build_targets(targets, size, 3)
    dets = Y.decode(_perfect_prediction(built), size, conf_threshold=0.5, iou_threshold=0.45)
    assert len(dets) == 2 and dets[1]["boxes"].shape == (0, 4)
    order = dets[0]["boxes"][:, 0].argsort()
    truth = targets[0]["boxes"][targets[0]["boxes"][:, 0].argsort()]
    torch.testing.assert_close(dets[0]["boxes"][order], truth, atol=1e-7, rtol=0)
    assert dets[0]["labels"][order].tolist() == [1, 2, 0] and dets[0]["labels"].dtype == torch.int64
    assert mean_average_precision(dets, targets)["map"] == 1.0
    for strategy in Y.DECODE_STRATEGIES:
        assert len(Y.decode(_perfect_prediction(built), size, strategy=strategy)[0]["scores"]) == 3
    with pytest.raises(ValueError):
        Y.decode(_perfect_prediction(built), size, strategy="nms_first")


def test_decode_pools_the_scales():
    """One object predicted by two scales: NMS over the pooled predictions keeps one."""
    size = 64
    built = Y.build_targets([{"boxes": torch.tensor([[0.2, 0.2, 0.6, 0.6]], dtype=F64),
                              "labels": torch.tensor([0])}], size, 1)
    pred = _perfect_prediction(built)
    grid = Y.prediction_grid(size, dtype=F64)
    pos = int((built["target"][0, :, 4] > 0).nonzero()[0, 0])
    other = int(((grid["scale"] != grid["scale"][pos]) & (grid["scale"] >= 0)).nonzero()[0, 0])
    b = built["target"][0, pos]
    # The same box from a prediction of another scale, scored a bit lower.
    cx, cy = 0.4 * size, 0.4 * size
    s = grid["stride"][other]
    col, row = math.floor(cx / s), math.floor(cy / s)
    other = int(((grid["scale"] == grid["scale"][other]) & (grid["col"] == col) & (grid["row"] == row)
                 & (grid["slot"] == 0)).nonzero()[0, 0])
    pred[0, other, :4] = torch.tensor([math.log((cx / s - col) / (1 - (cx / s - col))),
                                       math.log((cy / s - row) / (1 - (cy / s - row))),
                                       math.log(0.4 * size / grid["anchor_w"][other]),
                                       math.log(0.4 * size / grid["anchor_h"][other])])
    pred[0, other, 4:] = torch.tensor([2.0, 30.0])
    assert b[4] == 1
    dets = Y.decode(pred, size, conf_threshold=0.5)[0]
    assert dets["scores"].shape == (1,)


# ----------------------------------------------------------------------------------------------------------------------
# Training: the loss falls on a fixed batch
# ----------------------------------------------------------------------------------------------------------------------
def test_small_model_overfits_one_batch():
    torch.manual_seed(0)
    size = 64
    model = Y.YoloV3Small(image_size=size, base_channels=4, num_classes=3)
    g = torch.Generator().manual_seed(0)
    targets = [t for t in _random_targets(g, 4, 3, max_objects=3, dtype=torch.float32)]
    images = torch.rand(4, 3, size, size, generator=g)
    loader = [(images, targets)]
    history = fit_detector(model, loader, lambda p, t: Y.yolo_v3_loss(p, Y.build_targets(t, size, 3, model.anchors),
                                                                      size, model.anchors),
                           steps=40, optimizer=torch.optim.Adam(model.parameters(), lr=3e-3), progress=False,
                           log_every=5)
    assert history["loss"][-1] < 0.5 * history["loss"][0]
