"""YOLOv4-tiny (course_lib.detection.yolo_v4_tiny) and Mosaic (course_lib.detection.mosaic), against slow loop
references written from darknet's formulas, with bad inputs."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from course_lib.detection import yolo_v4_tiny as v4
from course_lib.detection.boxes import complete_box_iou_loss
from course_lib.detection.mosaic import MosaicDataset, mosaic, mosaic_boxes, quadrants


# ----------------------------------------------------------------------------------------------------------------------
# constants and route_split
# ----------------------------------------------------------------------------------------------------------------------
def test_constants_are_darknets():
    assert v4.YOLOV4_TINY_ANCHORS.shape == (6, 2)
    assert v4.YOLOV4_TINY_ANCHORS.flatten().tolist() == [10, 14, 23, 27, 37, 58, 81, 82, 135, 169, 344, 319]
    assert v4.YOLOV4_TINY_MASKS == ((3, 4, 5), (1, 2, 3))
    assert v4.YOLOV4_TINY_STRIDES == (32, 16)
    assert v4.YOLOV4_TINY_SCALE_X_Y == 1.05


def _route_split_loop(x, groups, group_id):
    size = x.shape[1] // groups
    return torch.stack([x[:, group_id * size + k] for k in range(size)], dim=1)


@pytest.mark.parametrize("groups,group_id", [(2, 1), (2, 0), (4, 2), (1, 0), (3, 2)])
def test_route_split_matches_darknets_channel_slice(groups, group_id):
    x = torch.randn(2, 12, 3, 5)
    out = v4.route_split(x, groups, group_id)
    assert torch.equal(out, _route_split_loop(x, groups, group_id))
    assert out.data_ptr() == x[:, (12 // groups) * group_id :].data_ptr()  # a view, no copy


def test_route_split_default_is_the_second_half():
    x = torch.arange(8.0).view(1, 8, 1, 1)
    assert v4.route_split(x).flatten().tolist() == [4, 5, 6, 7]


@pytest.mark.parametrize("kwargs,err", [
    (dict(groups=3), ValueError), (dict(groups=2, group_id=2), ValueError), (dict(groups=0), ValueError),
    (dict(groups=2, group_id=-1), ValueError), (dict(groups=2.0), ValueError),
])
def test_route_split_bad_inputs(kwargs, err):
    with pytest.raises(err):
        v4.route_split(torch.zeros(1, 4, 2, 2), **kwargs)
    with pytest.raises(TypeError):
        v4.route_split([1, 2])
    with pytest.raises(ValueError):
        v4.route_split(torch.zeros(4))


def test_csp_block_shapes_and_wiring():
    torch.manual_seed(0)
    block = v4.CSPTinyBlock(8).eval()
    x = torch.randn(2, 8, 6, 6)
    out, t = block(x)
    assert out.shape == (2, 16, 6, 6) and t.shape == (2, 8, 6, 6)
    assert torch.equal(out[:, :8], x)  # route -6,-1: the block's input first
    a = block.conv_a(x[:, 4:])  # the second half goes through the convolutions
    b = block.conv_b(a)
    assert torch.allclose(t, block.transition(torch.cat([b, a], 1)))  # route -1,-2: b before a
    with pytest.raises(ValueError):
        v4.CSPTinyBlock(7)


# ----------------------------------------------------------------------------------------------------------------------
# the network
# ----------------------------------------------------------------------------------------------------------------------
def test_paper_network_parameter_count_and_output_shapes():
    model = v4.YoloV4Tiny()
    n = sum(p.numel() for p in model.parameters())
    assert n == 6_056_606  # 6.06 M with the batch-norm scales and shifts (FACTS.md: 6.05 M)
    out13, out26 = model.feature_maps(torch.zeros(1, 3, 416, 416))
    assert out13.shape == (1, 255, 13, 13) and out26.shape == (1, 255, 26, 26)
    assert model.num_predictions == 3 * (13 * 13 + 26 * 26) == 2535


def test_forward_flattens_in_grid_order():
    torch.manual_seed(0)
    model = v4.YoloV4TinyCPU().eval()
    x = torch.rand(2, 3, 96, 96)
    raw = model(x)
    maps = model.feature_maps(x)
    grid = model.grid()
    C = model.config.C
    for p in [0, 5, 26, 27, 40, 80, 134]:  # spot checks against the definition of the grid
        s, j = int(grid.scale[p]), int(grid.slot[p])
        col, row = (int(v) for v in grid.cell[p])
        assert torch.equal(raw[:, p], maps[s][:, j * (5 + C) : (j + 1) * (5 + C), row, col])
        assert int(grid.anchor[p]) == v4.YOLOV4_TINY_MASKS[s][j]
    assert grid.offsets == (0, 27, 135)


def test_cpu_variant_and_bad_configs():
    model = v4.YoloV4TinyCPU()
    assert model.config.image_size == 96 and model.config.C == 10
    assert torch.allclose(model.anchors.double(), v4.YOLOV4_TINY_ANCHORS * 96 / 416, atol=1e-5)
    with pytest.raises(ValueError):
        v4.YoloV4Tiny(image_size=100)
    with pytest.raises(TypeError):
        v4.YoloV4Tiny(colour=1)
    with pytest.raises(ValueError):
        v4.YoloV4Tiny(masks=((0, 1, 6), (1, 2)))
    with pytest.raises(ValueError):
        model(torch.zeros(1, 3, 64, 64))


# ----------------------------------------------------------------------------------------------------------------------
# decoding, targets and the loss against loops
# ----------------------------------------------------------------------------------------------------------------------
def _grid():
    return v4.prediction_grid(64, v4.YOLOV4_TINY_ANCHORS.float() * 64 / 416)  # 2 x 2 and 4 x 4 heads


def test_decode_boxes_matches_darknets_formula():
    grid = _grid()
    raw = torch.randn(1, grid.num_predictions, 7)
    boxes = v4.decode_boxes(raw, grid)
    for p in range(grid.num_predictions):
        g = grid.size[p, 0].item()
        cx, cy = grid.cell[p].tolist()
        tx, ty, tw, th = raw[0, p, :4].tolist()
        sig = lambda v: 1 / (1 + math.exp(-v))  # noqa: E731
        bx = (1.05 * sig(tx) - 0.025 + cx) / g
        by = (1.05 * sig(ty) - 0.025 + cy) / g
        bw = grid.anchor_wh[p, 0].item() * math.exp(tw) / 64
        bh = grid.anchor_wh[p, 1].item() * math.exp(th) / 64
        assert boxes[0, p].tolist() == pytest.approx([bx - bw / 2, by - bh / 2, bx + bw / 2, by + bh / 2], abs=1e-5)


def _encode_loop(targets, grid, anchors):
    """Darknet's rule object by object, head by head."""
    P = grid.num_predictions
    obj = torch.zeros(len(targets), P, dtype=torch.bool)
    boxes = torch.zeros(len(targets), P, 4)
    labels = torch.full((len(targets), P), -1)
    for n, t in enumerate(targets):
        for box, label in zip(t["boxes"], t["labels"]):
            w, h = float(box[2] - box[0]) * grid.image_size, float(box[3] - box[1]) * grid.image_size
            ious = []
            for aw, ah in anchors.tolist():
                inter = min(w, aw) * min(h, ah)
                ious.append(inter / (w * h + aw * ah - inter))
            best = max(range(len(ious)), key=lambda a: (ious[a], -a))
            for s, mask in enumerate(grid.masks):
                if best not in mask:
                    continue
                j = mask.index(best)
                g = int(grid.size[grid.offsets[s], 0])
                cx, cy = float(box[0] + box[2]) / 2, float(box[1] + box[3]) / 2
                col, row = min(int(cx * g), g - 1), min(int(cy * g), g - 1)
                p = grid.offsets[s] + (j * g + row) * g + col
                obj[n, p], boxes[n, p], labels[n, p] = True, box, label
    return obj, boxes, labels


def _random_targets(gen, n_images, C, max_boxes=5):
    out = []
    for _ in range(n_images):
        k = int(torch.randint(0, max_boxes + 1, (1,), generator=gen))
        xy = torch.rand(k, 2, generator=gen) * 0.7
        wh = torch.rand(k, 2, generator=gen) * 0.3 + 0.01
        out.append({"boxes": torch.cat([xy, xy + wh], 1), "labels": torch.randint(0, C, (k,), generator=gen)})
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_encode_batch_matches_the_loop(seed):
    grid = _grid()
    anchors = v4.YOLOV4_TINY_ANCHORS.float() * 64 / 416
    targets = _random_targets(torch.Generator().manual_seed(seed), 4, 3)
    enc = v4.encode_batch(targets, grid, anchors, C=3)
    obj, boxes, labels = _encode_loop(targets, grid, anchors)
    assert torch.equal(enc["obj"], obj)
    assert torch.equal(enc["labels"], labels)
    assert torch.allclose(enc["boxes"], boxes)
    assert enc["gt_valid"].sum() == sum(len(t["labels"]) for t in targets)


def test_encode_batch_both_heads_for_anchor_3_and_none_for_anchor_0():
    grid = v4.prediction_grid(416, v4.YOLOV4_TINY_ANCHORS.float())
    anchors = v4.YOLOV4_TINY_ANCHORS.float()
    w3 = torch.tensor([81, 82]) / 416  # exactly anchor 3: responsible in the 13 x 13 and in the 26 x 26 head
    w0 = torch.tensor([10, 14]) / 416  # exactly anchor 0: in no mask, darknet learns nothing
    t = [{"boxes": torch.cat([0.5 - w3 / 2, 0.5 + w3 / 2])[None], "labels": torch.tensor([0])},
         {"boxes": torch.cat([0.3 - w0 / 2, 0.3 + w0 / 2])[None], "labels": torch.tensor([0])}]
    enc = v4.encode_batch(t, grid, anchors, C=1)
    assert enc["obj"][0].sum() == 2 and set(grid.scale[enc["obj"][0]].tolist()) == {0, 1}
    assert enc["obj"][1].sum() == 0


def _loss_loop(raw, targets, grid, anchors, eps, ignore):
    obj, tboxes, tlabels = _encode_loop(targets, grid, anchors)
    N, P, D = raw.shape
    C = D - 5
    boxes = v4.decode_boxes(raw, grid)
    bce = lambda z, y: float(F.binary_cross_entropy_with_logits(torch.tensor(z), torch.tensor(y)))  # noqa: E731
    box = o = no = cl = 0.0
    for n in range(N):
        gts = targets[n]["boxes"]
        for p in range(P):
            if obj[n, p]:
                box += float(complete_box_iou_loss(boxes[n, p], tboxes[n, p]))
                o += bce(raw[n, p, 4].item(), 1.0)
                for c in range(C):
                    y = (1 - eps) * (c == tlabels[n, p]) + eps / C
                    cl += bce(raw[n, p, 5 + c].item(), float(y))
            else:
                best = 0.0
                for g in gts:
                    b = boxes[n, p]
                    iw = max(0.0, min(b[2], g[2]) - max(b[0], g[0]))
                    ih = max(0.0, min(b[3], g[3]) - max(b[1], g[1]))
                    inter = iw * ih
                    union = (b[2] - b[0]) * (b[3] - b[1]) + (g[2] - g[0]) * (g[3] - g[1]) - inter
                    best = max(best, float(inter / union))
                if best <= ignore:
                    no += bce(raw[n, p, 4].item(), 0.0)
    return {"box": box / N, "obj": o / N, "noobj": no / N, "cls": cl / N}


@pytest.mark.parametrize("seed,eps,ignore", [(0, 0.0, 0.7), (1, 0.1, 0.7), (2, 0.2, 0.3)])
def test_loss_matches_the_loop(seed, eps, ignore):
    gen = torch.Generator().manual_seed(seed)
    grid = _grid()
    anchors = v4.YOLOV4_TINY_ANCHORS.float() * 64 / 416
    targets = _random_targets(gen, 3, 4)
    raw = torch.randn(3, grid.num_predictions, 9, generator=gen, dtype=torch.float64)
    grid64 = v4.prediction_grid(64, anchors.double(), dtype=torch.float64)
    enc = v4.encode_batch(targets, grid64, anchors, C=4)
    loss, terms = v4.yolo_v4_tiny_loss(raw, enc, grid64, label_smoothing=eps, ignore_thresh=ignore,
                                       return_terms=True)
    ref = _loss_loop(raw, targets, grid64, anchors, eps, ignore)
    for key in ref:
        assert float(terms[key]) == pytest.approx(ref[key], rel=1e-6, abs=1e-9), key
    assert float(loss) == pytest.approx(sum(ref.values()), rel=1e-6)


def test_loss_gradient_is_finite_and_rejects_bad_targets():
    model = v4.YoloV4TinyCPU()
    grid = model.grid()
    targets = _random_targets(torch.Generator().manual_seed(3), 2, 10)
    enc = v4.encode_batch(targets, grid, model.anchors, C=10)
    raw = model(torch.rand(2, 3, 96, 96))
    v4.yolo_v4_tiny_loss(raw, enc, grid, label_smoothing=0.1).backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
    with pytest.raises(ValueError):
        v4.encode_batch([{"boxes": torch.tensor([[10.0, 10, 20, 20]]), "labels": torch.tensor([0])}], grid,
                        model.anchors, C=10)  # pixels, not fractions
    with pytest.raises(ValueError):
        v4.encode_batch([{"boxes": torch.tensor([[0.1, 0.1, 0.2, 0.2]]), "labels": torch.tensor([10])}], grid,
                        model.anchors, C=10)
    with pytest.raises(ValueError):
        v4.yolo_v4_tiny_loss(raw[:, :10], enc, grid)


def test_smooth_labels():
    q = v4.smooth_labels(torch.tensor([0, 2]), 4, 0.2)
    assert torch.allclose(q, torch.tensor([[0.85, 0.05, 0.05, 0.05], [0.05, 0.05, 0.85, 0.05]]))
    assert torch.allclose(q.sum(1), torch.ones(2))
    assert torch.equal(v4.smooth_labels(torch.tensor([1]), 3, 0.0), torch.tensor([[0.0, 1.0, 0.0]]))
    with pytest.raises(ValueError):
        v4.smooth_labels(torch.tensor([0]), 3, 1.5)
    with pytest.raises(TypeError):
        v4.smooth_labels(torch.tensor([0.0]), 3, 0.1)


def test_decode_returns_yolo_v1_style_dicts():
    grid = _grid()
    raw = torch.full((2, grid.num_predictions, 7), -10.0)
    raw[0, 3, :4] = 0.0
    raw[0, 3, 4] = 10.0  # one confident prediction of class 1
    raw[0, 3, 6] = 10.0
    dets = v4.decode(raw, grid, conf_threshold=0.25)
    assert len(dets) == 2 and set(dets[0]) == {"boxes", "scores", "labels"}
    assert dets[0]["labels"].tolist() == [1] and dets[1]["boxes"].shape == (0, 4)
    assert bool((dets[0]["boxes"] >= 0).all() and (dets[0]["boxes"] <= 1).all())
    with pytest.raises(ValueError):
        v4.decode(raw, grid, strategy="soft")


# ----------------------------------------------------------------------------------------------------------------------
# Mosaic against a slow reference
# ----------------------------------------------------------------------------------------------------------------------
def _mosaic_reference(images, targets, centre, size, min_size):
    """Pixel by pixel and box by box."""
    xc, yc = centre
    canvas = torch.zeros(images[0].shape[0], size, size)
    offsets = [(xc - size, yc - size), (xc, yc - size), (xc - size, yc), (xc, yc)]
    for y in range(size):
        for x in range(size):
            k = (1 if x >= xc else 0) + (2 if y >= yc else 0)
            dx, dy = offsets[k]
            canvas[:, y, x] = images[k][:, y - dy, x - dx]
    quads = [(0, 0, xc, yc), (xc, 0, size, yc), (0, yc, xc, size), (xc, yc, size, size)]
    boxes, labels = [], []
    for k in range(4):
        dx, dy = offsets[k]
        qx1, qy1, qx2, qy2 = quads[k]
        for box, label in zip(targets[k]["boxes"].tolist(), targets[k]["labels"].tolist()):
            x1 = min(max(box[0] + dx, qx1), qx2)
            x2 = min(max(box[2] + dx, qx1), qx2)
            y1 = min(max(box[1] + dy, qy1), qy2)
            y2 = min(max(box[3] + dy, qy1), qy2)
            if x2 - x1 >= min_size and y2 - y1 >= min_size:
                boxes.append([x1, y1, x2, y2])
                labels.append(label)
    return canvas, torch.tensor(boxes).reshape(-1, 4), torch.tensor(labels, dtype=torch.int64)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_mosaic_matches_the_slow_reference(seed):
    gen = torch.Generator().manual_seed(seed)
    size = 16
    images = [torch.rand(3, size, size, generator=gen) for _ in range(4)]
    targets = []
    for _ in range(4):
        k = int(torch.randint(0, 6, (1,), generator=gen))
        xy = torch.randint(0, size - 2, (k, 2), generator=gen).float()
        wh = torch.randint(1, 9, (k, 2), generator=gen).float()
        targets.append({"boxes": torch.cat([xy, (xy + wh).clamp(max=size)], 1),
                        "labels": torch.randint(0, 10, (k,), generator=gen)})
    centre = tuple(int(v) for v in torch.randint(3, size - 3, (2,), generator=gen))
    image, target = mosaic(images, targets, centre, min_size=2.0)
    ref_image, ref_boxes, ref_labels = _mosaic_reference(images, targets, centre, size, 2.0)
    assert torch.equal(image, ref_image)
    assert torch.equal(target["boxes"], ref_boxes) and torch.equal(target["labels"], ref_labels)


def test_mosaic_boxes_clips_to_the_quadrant_and_drops_slivers():
    size, centre = 100, (40, 60)
    assert quadrants(centre, size)[1] == (40.0, 0.0, 100.0, 60.0)
    boxes = [torch.tensor([[50.0, 50, 90, 90]]),  # image 0 shifted by (-60, -40): (-10, 10, 30, 50) -> (0, 10, 30, 50)
             torch.tensor([[0.0, 90, 30, 99]]),  # image 1 shifted by (40, -40): (40, 50, 70, 59): kept
             torch.tensor([[0.0, 0, 61, 10]]),  # image 2 shifted by (-60, 60): (-60, 60, 1, 70) -> width 1: dropped
             torch.tensor([[0.0, 0, 80, 80]])]  # image 3 by (40, 60): (40, 60, 120, 140) -> (40, 60, 100, 100)
    labels = [torch.tensor([k]) for k in range(4)]
    out, lab, src = mosaic_boxes(boxes, labels, centre, size, min_size=2.0)
    assert out.tolist() == [[0, 10, 30, 50], [40, 50, 70, 59], [40, 60, 100, 100]]
    assert lab.tolist() == [0, 1, 3] and src.tolist() == [0, 1, 3]
    with pytest.raises(ValueError):
        mosaic_boxes(boxes[:3], labels[:3], centre, size)
    with pytest.raises(ValueError):
        mosaic_boxes(boxes, labels, (0, 50), size)
    with pytest.raises(ValueError):
        mosaic_boxes(boxes, labels, centre, size, min_size=0)


def test_mosaic_dataset_is_reproducible_and_carries_labels():
    class Tiny(torch.utils.data.Dataset):
        def __len__(self):
            return 5

        def __getitem__(self, i):
            return torch.full((3, 32, 32), float(i)), {"boxes": torch.tensor([[4.0, 4, 28, 28]]),
                                                       "labels": torch.tensor([i])}

    ds = MosaicDataset(Tiny(), seed=3)
    a, b = ds[2], ds[2]
    assert torch.equal(a[0], b[0]) and torch.equal(a[1]["boxes"], b[1]["boxes"])
    assert a[0].shape == (3, 32, 32) and 2 in a[1]["labels"].tolist()
    ds.set_epoch(1)
    assert len(ds) == 5
    assert MosaicDataset(Tiny(), p=0.0)[1][1]["labels"].tolist() == [1]
    with pytest.raises(ValueError):
        MosaicDataset(Tiny(), centre_range=(0.0, 0.5))
