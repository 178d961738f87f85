"""course_lib.detection.yolo_v2 and .wordtree: reorg against a port of darknet's reorg_cpu (and the FACTS.md vector),
its relation to pixel_unshuffle and space_to_depth; decode_offsets; the target encoding inverts it; the loss against
a loop over cells and anchors written from darknet's region layer (values and gradients = darknet's deltas);
Darknet-19's layer count and operations; the detectors' shapes; decode; multi-scale; the WordTree."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from course_lib.detection import yolo_v2 as Y
from course_lib.detection.anchors import VOC_ANCHORS, wh_iou
from course_lib.detection.metrics import mean_average_precision
from course_lib.detection.wordtree import WordTree, digit_wordtree, yolo9000_loss

F64 = torch.float64


def _close(got, expected, rtol=1e-6, atol=1e-9):
    """assert_close without torch.testing's slow first import: same shape, dtype and values within tolerance."""
    assert got.shape == expected.shape and got.dtype == expected.dtype, (got.shape, expected.shape, got.dtype)
    assert torch.allclose(got, expected, rtol=rtol, atol=atol), (got, expected)
FACTS_VECTOR = [0, 2, 8, 10, 1, 3, 9, 11, 4, 6, 12, 14, 5, 7, 13, 15]


# ----------------------------------------------------------------------------------------------------------------------
# reorg
# ----------------------------------------------------------------------------------------------------------------------
def test_reorg_facts_vector():
    x = torch.arange(16.0).reshape(1, 4, 2, 2)
    assert Y.reorg(x).flatten().tolist() == FACTS_VECTOR
    assert Y.darknet_reorg_loop(x).flatten().tolist() == FACTS_VECTOR


@pytest.mark.parametrize("shape, stride", [((2, 8, 4, 6), 2), ((1, 16, 8, 8), 2), ((3, 18, 6, 9), 3), ((1, 4, 2, 2), 1)])
def test_reorg_equals_the_darknet_loop(shape, stride):
    x = torch.randn(shape, generator=torch.Generator().manual_seed(0), dtype=F64)
    out = Y.reorg(x, stride)
    assert out.shape == (shape[0], shape[1] * stride**2, shape[2] // stride, shape[3] // stride)
    assert torch.equal(out, Y.darknet_reorg_loop(x, stride))


def test_reorg_is_not_pixel_unshuffle_and_the_maps_between_them():
    x = torch.randn(2, 8, 6, 4, generator=torch.Generator().manual_seed(1))
    s, (B, C, H, W) = 2, x.shape
    pu = F.pixel_unshuffle(x, s)
    tf = Y.space_to_depth_tf(x, s)
    dk = Y.reorg(x, s)
    assert not torch.equal(dk, pu) and not torch.equal(dk, tf) and not torch.equal(tf, pu)
    # TF space_to_depth = pixel_unshuffle with the channels permuted: TF channel (i s + j) C + c = PU c s^2 + i s + j
    perm = torch.tensor([c * s * s + k for k in range(s * s) for c in range(C)])
    assert torch.equal(tf, pu[:, perm])
    # darknet = TF's space_to_depth of the buffer read as (C / s^2, H s, W s), read back as (C s^2, H / s, W / s)
    assert torch.equal(dk, Y.space_to_depth_tf(x.reshape(B, C // 4, H * 2, W * 2), 2).reshape(B, 4 * C, H // 2, W // 2))
    # FACTS.md's formula
    assert torch.equal(dk, x.reshape(B, C // 4, H, 2, W, 2).permute(0, 3, 5, 1, 2, 4).reshape(B, 4 * C, H // 2, W // 2))
    # same multiset of numbers
    assert torch.equal(dk.flatten().sort().values, x.flatten().sort().values)


def test_reorg_gradient_and_passthrough_shape():
    x = torch.randn(1, 512, 26, 26, requires_grad=True)
    out = Y.reorg(x)
    assert out.shape == (1, 2048, 13, 13)  # FACTS.md: 26 x 26 x 512 -> 13 x 13 x 2048
    out.sum().backward()
    assert torch.all(x.grad == 1)


@pytest.mark.parametrize("shape, stride", [((1, 6, 4, 4), 2), ((1, 8, 5, 4), 2), ((8, 4, 4), 2), ((1, 4, 2, 2), 0)])
def test_reorg_bad_input(shape, stride):
    with pytest.raises(ValueError):
        Y.reorg(torch.zeros(shape), stride)
    with pytest.raises(TypeError):
        Y.reorg([[1.0]])


# ----------------------------------------------------------------------------------------------------------------------
# decode_offsets and the target encoding
# ----------------------------------------------------------------------------------------------------------------------
def test_decode_offsets_formula_and_centres_stay_in_their_cell():
    g = torch.Generator().manual_seed(2)
    t = 20 * torch.randn(1000, 4, generator=g, dtype=F64)  # wild raw outputs
    cell = torch.randint(0, 13, (1000, 2), generator=g).to(F64)
    anchor = VOC_ANCHORS[torch.randint(0, 5, (1000,), generator=g)]
    b = Y.decode_offsets(t, cell, anchor)
    expected = torch.stack([1 / (1 + torch.exp(-t[:, 0])) + cell[:, 0], 1 / (1 + torch.exp(-t[:, 1])) + cell[:, 1],
                            anchor[:, 0] * torch.exp(t[:, 2]), anchor[:, 1] * torch.exp(t[:, 3])], dim=1)
    _close(b, expected, rtol=1e-12, atol=1e-12)
    assert torch.all(b[:, :2] >= cell) and torch.all(b[:, :2] <= cell + 1)
    zero = Y.decode_offsets(torch.zeros(4), torch.tensor([3.0, 5.0]), torch.tensor([2.0, 1.5]))
    assert zero.tolist() == [3.5, 5.5, 2.0, 1.5]  # t = 0: the centre of the cell, the anchor's size


def test_decode_offsets_broadcasts_and_checks():
    t = torch.zeros(2, 4, 5, 3, 4)
    out = Y.decode_offsets(t, Y.grid_cells(4, 5), torch.ones(3, 2))
    assert out.shape == (2, 4, 5, 3, 4)
    assert out[0, 2, 3, 1].tolist() == [3.5, 2.5, 1.0, 1.0]  # (c_x, c_y) = (col, row)
    with pytest.raises(ValueError):
        Y.decode_offsets(torch.zeros(3), torch.zeros(2), torch.zeros(2))
    with pytest.raises(TypeError):
        Y.decode_offsets(torch.zeros(4, dtype=torch.long), torch.zeros(2), torch.ones(2))
    with pytest.raises(ValueError):
        Y.decode_offsets(torch.zeros(3, 4), torch.zeros(2, 2), torch.ones(2))


def _random_targets(g, n, max_objects=4, dtype=torch.float32):
    out = []
    for _ in range(n):
        m = int(torch.randint(0, max_objects + 1, (), generator=g))
        wh = 0.05 + 0.5 * torch.rand(m, 2, generator=g, dtype=F64)
        xy = torch.rand(m, 2, generator=g, dtype=F64) * (1 - wh)
        out.append({"boxes": torch.cat([xy, xy + wh], 1).to(dtype), "labels": torch.randint(0, 4, (m,), generator=g)})
    return out


def test_encoding_inverts_decode_offsets_at_the_best_anchor():
    g = torch.Generator().manual_seed(3)
    targets = _random_targets(g, 6, dtype=F64)
    anchors = torch.tensor([[0.8, 0.9], [2.0, 1.2], [1.4, 3.0], [4.0, 4.0]], dtype=F64)
    H, W = 7, 9
    enc = Y.encode_batch(targets, anchors, (H, W), C=4)
    for n, t in enumerate(targets):
        for box, label in zip(t["boxes"], t["labels"]):
            cx, cy = (box[0] + box[2]) / 2 * W, (box[1] + box[3]) / 2 * H
            w, h = (box[2] - box[0]) * W, (box[3] - box[1]) * H
            col, row = min(int(cx), W - 1), min(int(cy), H - 1)
            a = int(wh_iou(torch.stack([w, h])[None], anchors).argmax())
            if not enc["obj"][n, row, col, a] or enc["labels"][n, row, col, a] != label:
                continue  # lost its slot to a larger box: checked below
            raw = torch.cat([torch.logit(enc["xy"][n, row, col, a]), enc["twh"][n, row, col, a]])
            back = Y.decode_offsets(raw, torch.tensor([col, row], dtype=F64), anchors[a])
            _close(back, torch.stack([cx, cy, w, h]), rtol=1e-9, atol=1e-9)
            assert enc["scale"][n, row, col, a] == pytest.approx(float(2 - (box[2] - box[0]) * (box[3] - box[1])))
    assert int(enc["obj"].sum()) <= sum(len(t["labels"]) for t in targets)
    assert int(enc["gt_mask"].sum()) == sum(len(t["labels"]) for t in targets)


def test_encoding_shared_slot_largest_wins_and_empty_images():
    anchors = torch.tensor([[1.0, 1.0]])
    boxes = torch.tensor([[0.30, 0.30, 0.40, 0.40], [0.20, 0.20, 0.50, 0.50], [0.26, 0.26, 0.44, 0.44]])
    enc = Y.encode_batch([{"boxes": boxes, "labels": torch.tensor([0, 1, 2])},
                          {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.long)}], anchors, 2, 3)
    assert int(enc["obj"].sum()) == 1 and enc["labels"][0, 0, 0, 0] == 1  # the largest box
    assert enc["gt"].shape == (2, 3, 4) and enc["gt_mask"].tolist() == [[True] * 3, [False] * 3]
    empty = Y.encode_batch([{"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.long)}], anchors, 3, 2)
    assert not empty["obj"].any() and empty["gt"].shape == (1, 1, 4)


@pytest.mark.parametrize("targets, err", [
    ([{"boxes": torch.tensor([[0.1, 0.1, 1.5, 0.5]]), "labels": torch.tensor([0])}], ValueError),
    ([{"boxes": torch.tensor([[0.5, 0.1, 0.4, 0.5]]), "labels": torch.tensor([0])}], ValueError),
    ([{"boxes": torch.tensor([[0.1, 0.1, 0.4, 0.5]]), "labels": torch.tensor([5])}], ValueError),
    ([{"boxes": torch.tensor([[0.1, 0.1, 0.4, 0.5]])}], ValueError),
    (torch.zeros(1, 4), TypeError),
    ([], ValueError),
])
def test_encoding_bad_input(targets, err):
    with pytest.raises(err):
        Y.encode_batch(targets, torch.ones(2, 2), 4, 3)


def test_encoding_pixel_boxes():
    t = [{"boxes": torch.tensor([[8.0, 8.0, 24.0, 40.0]]), "labels": torch.tensor([1])}]
    a = Y.encode_batch(t, torch.ones(2, 2), 4, 3, image_size=64)
    b = Y.encode_batch([{"boxes": t[0]["boxes"] / 64, "labels": t[0]["labels"]}], torch.ones(2, 2), 4, 3)
    assert all(torch.equal(a[k], b[k]) for k in a)


# ----------------------------------------------------------------------------------------------------------------------
# The loss against a loop written from darknet's forward_region_layer
# ----------------------------------------------------------------------------------------------------------------------
def _sig(v):
    return 1 / (1 + math.exp(-v))


def _iou_cxcywh(a, b):
    ax1, ay1, ax2, ay2 = a[0] - a[2] / 2, a[1] - a[3] / 2, a[0] + a[2] / 2, a[1] + a[3] / 2
    bx1, by1, bx2, by2 = b[0] - b[2] / 2, b[1] - b[3] / 2, b[0] + b[2] / 2, b[1] + b[3] / 2
    inter = max(0.0, min(ax2, bx2) - max(ax1, bx1)) * max(0.0, min(ay2, by2) - max(ay1, by1))
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def _loss_loop(pred, targets, anchors, lc=1.0, lo=5.0, ln=1.0, lk=1.0, lp=0.01, thresh=0.6, warmup=False,
               rescore=True):
    """darknet's region layer as a loop (cells, anchors, objects), returning the loss and the deltas' loss."""
    N, H, W, A, D = pred.shape
    p = pred.tolist()
    an = anchors.tolist()
    total = {"coord": 0.0, "obj": 0.0, "noobj": 0.0, "prior": 0.0, "cls": 0.0}
    for n in range(N):
        truths = []
        for box, label in zip(targets[n]["boxes"].tolist(), targets[n]["labels"].tolist()):
            x1, y1, x2, y2 = box
            truths.append(((x1 + x2) / 2 * W, (y1 + y2) / 2 * H, (x2 - x1) * W, (y2 - y1) * H, (x2 - x1) * (y2 - y1),
                           label))
        # which slot each truth takes (largest first, first of equal areas keeps it)
        slots = {}
        for k in sorted(range(len(truths)), key=lambda k: -truths[k][4]):
            gx, gy, gw, gh, _, _ = truths[k]
            col, row = min(int(gx), W - 1), min(int(gy), H - 1)
            ious = [min(gw, aw) * min(gh, ah) / (gw * gh + aw * ah - min(gw, aw) * min(gh, ah)) for aw, ah in an]
            a = max(range(A), key=lambda i: (ious[i], -i))
            slots.setdefault((row, col, a), k)
        for row in range(H):
            for col in range(W):
                for a in range(A):
                    v = p[n][row][col][a]
                    box = (_sig(v[0]) + col, _sig(v[1]) + row, an[a][0] * math.exp(v[2]), an[a][1] * math.exp(v[3]))
                    conf = _sig(v[4])
                    if (row, col, a) in slots:
                        gx, gy, gw, gh, area, label = truths[slots[(row, col, a)]]
                        s = 2 - area
                        d = ((_sig(v[0]) - (gx - col)) ** 2 + (_sig(v[1]) - (gy - row)) ** 2
                             + (v[2] - math.log(gw / an[a][0])) ** 2 + (v[3] - math.log(gh / an[a][1])) ** 2)
                        total["coord"] += 0.5 * lc * s * d
                        target = _iou_cxcywh(box, (gx, gy, gw, gh)) if rescore else 1.0
                        total["obj"] += 0.5 * lo * (conf - target) ** 2
                        logits = v[5:]
                        m = max(logits)
                        lse = m + math.log(sum(math.exp(z - m) for z in logits))
                        total["cls"] += lk * (lse - logits[label])
                        continue
                    best = max([_iou_cxcywh(box, t[:4]) for t in truths], default=0.0)
                    if best <= thresh:
                        total["noobj"] += 0.5 * ln * conf**2
                    if warmup:
                        total["prior"] += 0.5 * lp * ((_sig(v[0]) - 0.5) ** 2 + (_sig(v[1]) - 0.5) ** 2 + v[2] ** 2
                                                      + v[3] ** 2)
    return {k: v / N for k, v in total.items()}


@pytest.mark.parametrize("seed, warmup, rescore", [(0, False, True), (1, True, True), (2, True, False)])
def test_loss_equals_the_region_layer_loop(seed, warmup, rescore):
    g = torch.Generator().manual_seed(seed)
    N, H, W, A, C = 3, 4, 5, 3, 4
    anchors = torch.tensor([[0.7, 0.8], [1.5, 1.0], [2.5, 3.0]], dtype=F64)
    targets = _random_targets(g, N, dtype=F64)
    pred = torch.randn(N, H, W, A, 5 + C, generator=g, dtype=F64)
    # make some predictions overlap objects well, so that the ignore rule matters
    enc = Y.encode_batch(targets, anchors, (H, W), C)
    near = torch.cat([torch.logit(enc["xy"].clamp(0.05, 0.95)), enc["twh"]], -1)
    shifted = torch.roll(near, 1, dims=3)  # another anchor of the same cell predicts the object too
    pred[..., :4] = torch.where(torch.roll(enc["obj"], 1, dims=3)[..., None], shifted + 0.05, pred[..., :4])
    loss, terms = Y.yolo_v2_loss(pred, targets, anchors, prior_warmup=warmup, rescore=rescore, return_terms=True)
    expected = _loss_loop(pred, targets, anchors, warmup=warmup, rescore=rescore)
    for key in Y.LOSS_TERMS:
        assert terms[key].item() == pytest.approx(expected[key], rel=1e-9, abs=1e-12), key
    assert loss.item() == pytest.approx(sum(expected.values()), rel=1e-9)
    assert loss.dtype == F64


def test_loss_gradients_are_darknets_deltas():
    g = torch.Generator().manual_seed(5)
    anchors = torch.tensor([[1.0, 1.0], [2.0, 3.0]], dtype=F64)
    targets = [{"boxes": torch.tensor([[0.1, 0.2, 0.4, 0.6]], dtype=F64), "labels": torch.tensor([2])}]
    pred = torch.randn(1, 3, 3, 2, 8, generator=g, dtype=F64, requires_grad=True)
    Y.yolo_v2_loss(pred, targets, anchors, ignore_thresh=1.0).backward()
    enc = Y.encode_batch(targets, anchors, 3, 3)
    (n, r, c, a), = enc["obj"].nonzero().tolist()
    v = pred.detach()[n, r, c, a]
    s = float(enc["scale"][n, r, c, a])
    # darknet: delta[t_w] = scale (t^_w - t_w), and the loss's gradient is minus the delta
    assert pred.grad[n, r, c, a, 2].item() == pytest.approx(-s * (float(enc["twh"][n, r, c, a, 0]) - v[2].item()))
    # class: delta = onehot - softmax, on the logits
    expected = torch.softmax(v[5:], 0) - F.one_hot(torch.tensor(2), 3).to(F64)
    _close(pred.grad[n, r, c, a, 5:], expected)
    # objectness of an empty anchor: delta = noobject_scale (0 - sigma), through the sigmoid
    o = torch.sigmoid(pred.detach()[0, 0, 2, 1, 4]).item()
    assert pred.grad[0, 0, 2, 1, 4].item() == pytest.approx(o * o * (1 - o))


def test_loss_ignore_rule_and_warmup_class():
    anchors = torch.tensor([[1.0, 1.0]])
    # an object of one cell, centred at x = 0.95 cells: cell (0, 0) is responsible; cell (0, 1) predicts a box
    # centred just right of the border, IoU 0.95 / 1.05 > 0.6 with it: ignored, not pushed to 0
    targets = [{"boxes": torch.tensor([[0.45 / 2, 0.0, 1.45 / 2, 0.5]]), "labels": torch.tensor([0])}]
    pred = torch.zeros(1, 2, 2, 1, 7)
    pred[..., 4] = 3.0
    pred[0, 0, 1, 0, 0] = -12.0
    conf = torch.sigmoid(torch.tensor(3.0)).item()
    base = Y.yolo_v2_loss(pred, targets, anchors, return_terms=True)[1]["noobj"]
    none_ignored = Y.yolo_v2_loss(pred, targets, anchors, ignore_thresh=1.0, return_terms=True)[1]["noobj"]
    all_ignored = Y.yolo_v2_loss(pred, targets, anchors, ignore_thresh=0.0, return_terms=True)[1]["noobj"]
    assert base.item() == pytest.approx(0.5 * 2 * conf**2)  # 2 of the 3 empty anchors
    assert none_ignored.item() == pytest.approx(0.5 * 3 * conf**2)
    assert all_ignored.item() == pytest.approx(0.5 * 2 * conf**2)  # IoU 0 is not > 0: still punished
    fn = Y.YoloV2Loss(anchors, warmup_images=2)
    p = torch.randn(1, 2, 2, 1, 7)
    fn(p, targets), fn(p, targets), fn(p, targets)
    assert [h["prior"] > 0 for h in fn.history] == [True, True, False] and fn.seen == 3


def test_loss_bad_input():
    a = torch.ones(2, 2)
    t = [{"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.long)}]
    with pytest.raises(ValueError):
        Y.yolo_v2_loss(torch.zeros(1, 2, 2, 3, 7), t, a)  # 3 anchors in pred, 2 given
    with pytest.raises(ValueError):
        Y.yolo_v2_loss(torch.zeros(1, 2, 2, 2, 5), t, a)  # no class
    with pytest.raises(ValueError):
        Y.yolo_v2_loss(torch.zeros(2, 2, 2, 2, 7), t, a)  # 2 images, 1 target
    with pytest.raises(ValueError):
        Y.yolo_v2_loss(torch.zeros(1, 2, 2, 2, 7), t, a, lambda_obj=-1.0)
    with pytest.raises(TypeError):
        Y.yolo_v2_loss(torch.zeros(1, 2, 2, 2, 7, dtype=torch.long), t, a)
    with pytest.raises(ValueError):
        Y.yolo_v2_loss(torch.zeros(1, 2, 2, 2, 7), t, torch.tensor([[1.0, -1.0], [1.0, 1.0]]))


# ----------------------------------------------------------------------------------------------------------------------
# Networks
# ----------------------------------------------------------------------------------------------------------------------
def _count(model, kind):
    return sum(isinstance(m, kind) for m in model.modules())


def test_darknet19_is_19_convs_5_maxpools_and_5_58_billion_operations():
    with torch.device("meta"):
        net = Y.Darknet19()
    assert _count(net, torch.nn.Conv2d) == 19 == Y.DARKNET19_CLASSIFIER_CONVS
    assert _count(net, torch.nn.MaxPool2d) == 5
    assert _count(net, torch.nn.BatchNorm2d) == 18  # every conv but the linear classifier
    # multiply-adds at 224 x 224, counted from the layer table (2 operations each): the paper's 5.58 billion
    size, c, macs = 224, 3, 0
    for k, stage in enumerate(Y.DARKNET19_STAGES):
        size //= 2 if k else 1
        for kernel, filters in stage:
            macs += size * size * kernel * kernel * c * filters
            c = filters
    macs += size * size * c * 1000
    assert round(2 * macs / 1e9, 2) == 5.58
    small = Y.Darknet19(num_classes=10, width_mult=1 / 16)
    assert small(torch.rand(2, 3, 64, 64)).shape == (2, 10)


def test_yolov2_paper_network_passthrough_and_output():
    with torch.device("meta"):  # the layers without their 67 million parameters' memory
        net = Y.YoloV2()
    slim = Y.YoloV2(width_mult=1 / 32).eval()  # the same layers, 1/32 of the channels, run for real
    with torch.no_grad():
        out, big = slim(torch.rand(1, 3, 416, 416)), slim(torch.rand(1, 3, 608, 608))
    assert big.shape == (1, 19, 19, 5, 25)  # fully convolutional: the grid follows the input
    assert out.shape == (1, 13, 13, 5, 25)  # 5 x (5 + 20) = 125 channels
    assert _count(net, torch.nn.Conv2d) == 22  # 18 of Darknet-19 + 3 x 3 x 1024 three times + the 1 x 1
    assert net.head2[0].in_channels == 3072  # 13 x 13 x (2048 + 1024)
    assert net.out.out_channels == 125


def test_tiny_any_multiple_of_8_and_bad_sizes():
    m = Y.YoloV2Tiny(C=3, anchors=((1.0, 1.0), (2.0, 1.0)))
    assert m(torch.rand(2, 3, 48, 72)).shape == (2, 6, 9, 2, 8)
    with pytest.raises(ValueError):
        m(torch.rand(1, 3, 50, 64))
    with pytest.raises(ValueError):
        Y.YoloV2Tiny(anchors=((1.0, -1.0),))
    with pytest.raises(TypeError):
        Y.YoloV2Tiny(nonsense=1)


# ----------------------------------------------------------------------------------------------------------------------
# Decoding, multi-scale, and a short training run
# ----------------------------------------------------------------------------------------------------------------------
def _perfect_prediction(enc, C, big=12.0):
    obj = enc["obj"]
    pred = torch.full((*obj.shape, 5 + C), -big, dtype=enc["xy"].dtype)
    pred[..., :2] = torch.logit(enc["xy"].clamp(1e-6, 1 - 1e-6))
    pred[..., 2:4] = enc["twh"]
    pred[..., 4] = torch.where(obj, big, -big)
    pred[..., 5:] = torch.where(obj[..., None], F.one_hot(enc["labels"].clamp(min=0), C) * 2 * big - big, 0.0)
    return pred


def test_decode_a_perfect_prediction_gives_the_objects_back():
    g = torch.Generator().manual_seed(7)
    targets = [t for t in _random_targets(g, 8, max_objects=2, dtype=F64) if len(t["labels"])]
    anchors = torch.tensor([[1.0, 1.0], [2.5, 2.0], [4.0, 4.0]], dtype=F64)
    enc = Y.encode_batch(targets, anchors, 13, 4)
    kept = [{"boxes": t["boxes"][:0], "labels": t["labels"][:0]} for t in targets]
    dets = Y.decode(_perfect_prediction(enc, 4), anchors, conf_threshold=0.5, iou_threshold=0.5)
    assert len(dets) == len(targets)
    for d, t in zip(dets, targets):
        assert d["boxes"].shape[1] == 4 and d["labels"].dtype == torch.int64
        assert torch.all(d["scores"][1:] <= d["scores"][:-1])
    result = mean_average_precision(dets, targets)
    assert result["map"] > 0.99
    for strategy in Y.DECODE_STRATEGIES:
        assert len(Y.decode(_perfect_prediction(enc, 4), anchors, 0.5, 0.5, strategy)) == len(targets)
    with pytest.raises(ValueError):
        Y.decode(_perfect_prediction(enc, 4), anchors, strategy="nope")
    del kept


def test_multiscale_changes_size_every_10_batches():
    batches = [(torch.rand(2, 3, 64, 64), [None, None])] * 35
    ms = Y.MultiScaleBatches(batches, sizes=[32, 48, 64, 80], every=10, seed=0)
    shapes = [images.shape[-1] for images, _ in ms]
    assert len(shapes) == 35
    for k in range(0, 35, 10):
        assert len(set(shapes[k : k + 10])) == 1
    assert len(set(shapes)) > 1
    assert Y.PAPER_MULTI_SCALE_SIZES[0] == 320 and Y.PAPER_MULTI_SCALE_SIZES[-1] == 608
    assert all(s % 32 == 0 for s in Y.PAPER_MULTI_SCALE_SIZES) and len(Y.PAPER_MULTI_SCALE_SIZES) == 10
    with pytest.raises(ValueError):
        Y.MultiScaleBatches(batches, sizes=[])


def test_training_overfits_a_tiny_batch_with_fit_detector():
    from course_lib.detection.yolo_v1 import fit_detector

    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    targets = [t for t in _random_targets(g, 6, max_objects=2) if len(t["labels"])][:2]
    images = torch.zeros(len(targets), 3, 32, 32)
    for n, t in enumerate(targets):  # draw each box as a bright rectangle whose brightness says its class
        for box, label in zip((t["boxes"] * 32).round().long().tolist(), t["labels"].tolist()):
            images[n, label % 3, box[1] : box[3], box[0] : box[2]] = 1.0
    model = Y.YoloV2Tiny(C=4, anchors=((1.0, 1.0), (2.0, 2.0)), image_size=32,
                         stages=(((3, 4),), ((3, 8),), ((3, 8),), ((3, 16),)), head_width=16, passthrough_reduce=4)
    fn = Y.YoloV2Loss(model.anchors, warmup_images=40)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    history = fit_detector(model, [(images, targets)], fn, steps=80, optimizer=opt, progress=False, log_every=20)
    assert history["loss"][-1] < 0.2 * history["loss"][0]


# ----------------------------------------------------------------------------------------------------------------------
# WordTree / YOLO9000
# ----------------------------------------------------------------------------------------------------------------------
def test_wordtree_hierarchical_softmax_and_path_products():
    tree, digit_node = digit_wordtree()
    assert len(tree) == 13 and sorted(digit_node.tolist()) == list(range(3, 13))
    logits = torch.randn(5, 13, generator=torch.Generator().manual_seed(0), dtype=F64)
    cond = tree.conditional(logits)
    for gid in range(tree.n_groups):  # each sibling group sums to one: softmax over siblings
        members = (tree.group == gid).nonzero()[:, 0]
        _close(cond[:, members].sum(1), torch.ones(5, dtype=F64))
        _close(cond[:, members], logits[:, members].softmax(1))
    absolute = tree.absolute(cond)
    for k in range(13):  # the product down the path
        expected = torch.ones(5, dtype=F64)
        for j in tree.path(k):
            expected = expected * cond[:, j]
        _close(absolute[:, k], expected)
    _close(absolute[:, digit_node].sum(1), torch.ones(5, dtype=F64))  # the leaves: a distribution
    # a parent's probability is the sum of its children's
    _close(absolute[:, 0], absolute[:, digit_node[[0, 6, 8, 9]]].sum(1))


def test_wordtree_loss_is_the_path_cross_entropy_and_predict():
    tree, digit_node = digit_wordtree()
    logits = torch.randn(3, 13, generator=torch.Generator().manual_seed(1), dtype=F64, requires_grad=True)
    labels = torch.tensor([int(digit_node[8]), 1, int(digit_node[2])])  # a leaf, an internal node, a leaf
    loss = tree.loss(logits, labels)
    cond = tree.conditional(logits)
    for b in range(3):
        expected = -sum(math.log(cond[b, j].item()) for j in tree.path(int(labels[b])))
        assert loss[b].item() == pytest.approx(expected)
    loss[1].backward()  # a coarse label trains only the top level: no gradient into the digits
    assert torch.all(logits.grad[1, 3:] == 0) and torch.any(logits.grad[1, :3] != 0)
    sure = torch.full((2, 13), -10.0, dtype=F64)
    sure[0, 0], sure[0, int(digit_node[8])] = 10.0, 10.0  # "closed loop", then "8"
    sure[1, 1] = 10.0  # "straight strokes", then unsure among 1, 4, 7
    node, prob = tree.predict(tree.conditional(sure), threshold=0.5)
    assert node.tolist() == [int(digit_node[8]), 1] and prob[0] > 0.99
    with pytest.raises(ValueError):
        WordTree([0], ["a"])  # its own parent
    with pytest.raises(ValueError):
        tree.loss(logits, torch.tensor([13, 0, 0]))


def test_joint_training_rule():
    tree, digit_node = digit_wordtree()
    anchors = torch.tensor([[1.0, 1.0], [2.0, 2.0]])
    pred = torch.randn(3, 4, 4, 2, 5 + 13, generator=torch.Generator().manual_seed(2), requires_grad=True)
    targets = [
        {"boxes": torch.tensor([[0.1, 0.1, 0.5, 0.5]]), "labels": torch.tensor([int(digit_node[3])])},
        {"boxes": torch.zeros(0, 4), "labels": torch.tensor([int(digit_node[7])]), "detection": False},
        {"boxes": torch.zeros(0, 4), "labels": torch.tensor([2]), "detection": False},
    ]
    loss, terms = yolo9000_loss(pred, targets, anchors, tree, return_terms=True)
    loss.backward()
    for n in (1, 2):  # classification images: the class slots of exactly one anchor, nothing else
        touched = (pred.grad[n].abs().sum(-1) > 0).nonzero()
        assert len(touched) == 1
        r, c, a = touched[0].tolist()
        assert torch.all(pred.grad[n, r, c, a, :5] == 0)
        with torch.no_grad():
            p = torch.sigmoid(pred[n, ..., 4]) * tree.absolute(tree.conditional(pred[n, ..., 5:]))[..., int(
                targets[n]["labels"][0])]
        assert (r, c, a) == tuple(int(i) for i in torch.unravel_index(p.argmax(), p.shape))
    assert pred.grad[0, ..., :5].abs().sum() > 0  # the detection image trains boxes and objectness
    assert terms["cls_classification"] > 0 and terms["cls"] > terms["cls_classification"]
