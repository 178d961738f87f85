"""Tests of course_lib.detection.yolo_v1: the networks, encode_targets, the loss of Eq. (3) and decoding.

The references here are written for clarity, with explicit Python loops over images, cells, predictors and classes:
``_encode_targets_reference``, ``_yolo_v1_loss_reference`` (also imported by benchmarks/bench_yolo_loss.py) and
``_decode_reference``. The IoU inside the loss reference is computed by hand from Python floats, independently of
course_lib.detection.boxes.
"""

from __future__ import annotations

import math

import pytest
import torch
import torchvision

from course_lib.detection import yolo_v1 as Y
from course_lib.detection.datasets import MNISTDetection, detection_collate
from course_lib.detection.yolo_v1 import (
    PAPER_ARCHITECTURE,
    YoloV1,
    YoloV1Config,
    YoloV1Tiny,
    YoloV1TinyConfig,
    decode,
    decode_predictions,
    encode_batch,
    encode_targets,
    fit_detector,
    signed_sqrt,
    yolo_v1_activation,
    yolo_v1_loss,
)
from course_lib.registry import get_entry, list_models

F64 = torch.float64


# ----------------------------------------------------------------------------------------------------------------------
# Slow references
# ----------------------------------------------------------------------------------------------------------------------
def _iou_by_hand(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    """IoU of two (cx, cy, w, h) boxes in image coordinates, from first principles; empty union -> 0."""
    ax1, ay1, ax2, ay2 = a[0] - a[2] / 2, a[1] - a[3] / 2, a[0] + a[2] / 2, a[1] + a[3] / 2
    bx1, by1, bx2, by2 = b[0] - b[2] / 2, b[1] - b[3] / 2, b[0] + b[2] / 2, b[1] + b[3] / 2
    iw = max(0.0, min(ax2, bx2) - max(ax1, bx1))
    ih = max(0.0, min(ay2, by2) - max(ay1, by1))
    inter = iw * ih
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def _ssqrt(v: torch.Tensor) -> torch.Tensor:
    """The documented square root of a (possibly negative) width, case by case: sqrt(v) for v >= 1e-8, -sqrt(-v) for
    v <= -1e-8, and the constant sign(v) 1e-4 (no gradient) in between."""
    if v.item() >= 1e-8:
        return torch.sqrt(v)
    if v.item() <= -1e-8:
        return -torch.sqrt(-v)
    return v.new_tensor(1e-4 * (v.item() > 0) - 1e-4 * (v.item() < 0))


def _yolo_v1_loss_reference(
    pred: torch.Tensor,
    target: torch.Tensor,
    S: int,
    B: int,
    C: int,
    lambda_coord: float = 5.0,
    lambda_noobj: float = 0.5,
    rescore: bool = True,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Eq. (3) of Redmon et al. (2016), one cell and one predictor at a time."""
    N = pred.shape[0]
    coord = conf_obj = conf_noobj = cls = pred.new_zeros(())
    for n in range(N):
        for row in range(S):
            for col in range(S):
                cell_p, cell_t = pred[n, row, col], target[n, row, col]
                has_object = cell_t[C].item() > 0
                responsible = -1
                ious = []
                if has_object:
                    tx, ty, tw, th = (cell_t[C + B + k].item() for k in range(4))
                    t_img = ((col + tx) / S, (row + ty) / S, tw, th)
                    for j in range(B):
                        px, py, pw, ph = (cell_p[C + B + 4 * j + k].item() for k in range(4))
                        p_img = ((col + px) / S, (row + py) / S, max(pw, 0.0), max(ph, 0.0))
                        ious.append(_iou_by_hand(p_img, t_img))
                    responsible = max(range(B), key=lambda j: (ious[j], -j))  # highest IoU, first on ties
                for j in range(B):
                    conf = cell_p[C + j]
                    if j == responsible:
                        x, y, w, h = (cell_p[C + B + 4 * j + k] for k in range(4))
                        tx, ty, tw, th = (cell_t[C + B + k] for k in range(4))
                        coord = coord + lambda_coord * ((x - tx) ** 2 + (y - ty) ** 2)
                        coord = coord + lambda_coord * ((_ssqrt(w) - _ssqrt(tw)) ** 2 + (_ssqrt(h) - _ssqrt(th)) ** 2)
                        conf_target = ious[j] if rescore else cell_t[C + j].item()
                        conf_obj = conf_obj + (conf - conf_target) ** 2
                    else:
                        conf_noobj = conf_noobj + lambda_noobj * conf**2
                if has_object:
                    for c in range(C):
                        cls = cls + (cell_p[c] - cell_t[c]) ** 2
    terms = {"coord": coord / N, "conf_obj": conf_obj / N, "conf_noobj": conf_noobj / N, "cls": cls / N}
    return sum(terms.values()), terms


def _encode_targets_reference(boxes: torch.Tensor, labels: torch.Tensor, S: int, B: int, C: int) -> torch.Tensor:
    """One box at a time; a later box replaces an earlier one in its cell only if strictly larger."""
    target = torch.zeros(S, S, C + 5 * B, dtype=boxes.dtype)
    area_in_cell: dict[tuple[int, int], float] = {}
    for (x1, y1, x2, y2), label in zip(boxes.tolist(), labels.tolist()):
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        col, row = min(int(math.floor(cx * S)), S - 1), min(int(math.floor(cy * S)), S - 1)
        area = (x2 - x1) * (y2 - y1)
        if (row, col) in area_in_cell and area <= area_in_cell[(row, col)]:
            continue
        area_in_cell[(row, col)] = area
        cell = torch.zeros(C + 5 * B, dtype=boxes.dtype)
        cell[label] = 1
        for j in range(B):
            cell[C + j] = 1
            box = [cx * S - col, cy * S - row, x2 - x1, y2 - y1]  # offsets in the cell, size in the image
            cell[C + B + 4 * j : C + B + 4 * j + 4] = torch.tensor(box, dtype=boxes.dtype)
        target[row, col] = cell
    return target


def _random_target(N: int, S: int, B: int, C: int, p_obj: float, gen: torch.Generator) -> torch.Tensor:
    """Targets in the layout, built directly (not with encode_targets): random object cells, boxes, classes."""
    target = torch.zeros(N, S, S, C + 5 * B, dtype=F64)
    obj = torch.rand(N, S, S, generator=gen, dtype=F64) < p_obj
    xy = torch.rand(N, S, S, 2, generator=gen, dtype=F64)  # (x, y) in the cell
    wh = 0.02 + 0.6 * torch.rand(N, S, S, 2, generator=gen, dtype=F64)  # (w, h) relative to the image
    box = torch.cat([xy, wh], dim=-1)
    label = torch.randint(C, (N, S, S), generator=gen)
    target[..., :C] = torch.nn.functional.one_hot(label, C).to(F64)
    target[..., C : C + B] = 1.0
    target[..., C + B :] = box.repeat(1, 1, 1, B)
    return target * obj[..., None]


def _random_pred(N: int, S: int, B: int, C: int, gen: torch.Generator, positive_wh: bool) -> torch.Tensor:
    head = torch.randn(N, S, S, C + B, generator=gen, dtype=F64)  # class scores and confidences
    xy = torch.rand(N, S, S, B, 2, generator=gen, dtype=F64)  # offsets in the cell
    if positive_wh:
        wh = 0.01 + 0.6 * torch.rand(N, S, S, B, 2, generator=gen, dtype=F64)
    else:
        wh = 0.4 * torch.randn(N, S, S, B, 2, generator=gen, dtype=F64)  # some negative widths and heights
    return torch.cat([head, torch.cat([xy, wh], dim=-1).flatten(-2)], dim=-1)  # (N, S, S, C + 5B)


# ----------------------------------------------------------------------------------------------------------------------
# Configuration and networks
# ----------------------------------------------------------------------------------------------------------------------
def test_config_defaults_are_the_papers():
    cfg = YoloV1Config()
    assert (cfg.S, cfg.B, cfg.C) == (7, 2, 20)
    assert (cfg.lambda_coord, cfg.lambda_noobj) == (5.0, 0.5)
    assert (cfg.image_size, cfg.fc_hidden, cfg.dropout, cfg.leaky_slope) == (448, 4096, 0.5, 0.1)


# Figure 3 of the paper, transcribed independently of the module: "k x k x channels [/ stride]" and "maxpool".
_FIGURE_3 = (
    ["7x7x64/2", "maxpool", "3x3x192", "maxpool", "1x1x128", "3x3x256", "1x1x256", "3x3x512", "maxpool"]
    + ["1x1x256", "3x3x512"] * 4
    + ["1x1x512", "3x3x1024", "maxpool"]
    + ["1x1x512", "3x3x1024"] * 2
    + ["3x3x1024", "3x3x1024/2", "3x3x1024", "3x3x1024"]
)


def _figure_3_parameter_count(S: int = 7, B: int = 2, C: int = 20) -> int:
    total, channels = 0, 3
    for layer in _FIGURE_3:
        if layer == "maxpool":
            continue
        k, _, out = layer.split("/")[0].split("x")
        total += int(k) * int(k) * channels * int(out) + int(out)  # weights + biases
        channels = int(out)
    total += 7 * 7 * 1024 * 4096 + 4096  # first FC
    total += 4096 * S * S * (C + 5 * B) + S * S * (C + 5 * B)  # final FC
    return total


def test_paper_network_has_24_convs_2_fcs_and_figure_3_parameters():
    assert sum(spec != "M" for spec in PAPER_ARCHITECTURE) == 24
    with torch.device("meta"):  # 272M parameters, no memory used
        model = YoloV1()
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    fcs = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert len(convs) == 24 and len(fcs) == 2
    transcribed = [x for x in _FIGURE_3 if x != "maxpool"]
    for conv, spec in zip(convs, transcribed):
        k, _, out = spec.split("/")[0].split("x")
        stride = int(spec.split("/")[1]) if "/" in spec else 1
        assert conv.kernel_size == (int(k), int(k)) and conv.out_channels == int(out) and conv.stride == (stride,) * 2
        assert conv.padding == (int(k) // 2,) * 2
    assert (fcs[0].in_features, fcs[0].out_features) == (7 * 7 * 1024, 4096)
    assert (fcs[1].in_features, fcs[1].out_features) == (4096, 7 * 7 * 30)
    assert sum(p.numel() for p in model.parameters()) == _figure_3_parameter_count() == 271_703_550


def test_paper_network_activations_dropout_and_linear_output():
    model = YoloV1(width_mult=1 / 32, fc_hidden=16)
    layers = list(model.features) + list(model.head)
    for i, layer in enumerate(layers):
        if isinstance(layer, (torch.nn.Conv2d,)):
            assert isinstance(layers[i + 1], torch.nn.LeakyReLU) and layers[i + 1].negative_slope == 0.1
        if isinstance(layer, torch.nn.BatchNorm2d):
            pytest.fail("YOLOv1 has no batch norm")
    fc1, fc2 = [m for m in model.head if isinstance(m, torch.nn.Linear)]
    after_fc1 = list(model.head)[list(model.head).index(fc1) + 1 :]
    assert isinstance(after_fc1[0], torch.nn.LeakyReLU) and after_fc1[0].negative_slope == 0.1
    assert isinstance(after_fc1[1], torch.nn.Dropout) and after_fc1[1].p == 0.5
    assert list(model.head)[-1] is fc2  # linear output: nothing after the last layer
    # the output is exactly the last Linear of the flattened features (no activation), reshaped [N, S, S, C + 5B]
    model.eval()
    x = torch.rand(2, 3, 448, 448)
    with torch.no_grad():
        out = model(x)
        flat = fc2(list(model.head)[2](fc1(model.features(x).flatten(1))))
    assert out.shape == (2, 7, 7, 30)
    torch.testing.assert_close(out, flat.view(2, 7, 7, 30), rtol=0, atol=0)
    assert (out < 0).any()  # linear output: raw values, not squashed


def test_paper_network_spatial_sizes():
    model = YoloV1(width_mult=1 / 32, fc_hidden=8, C=3, B=1, S=5, image_size=128)
    with torch.no_grad():
        features = model.features(torch.rand(1, 3, 128, 128))
        out = model(torch.rand(1, 3, 128, 128))
    assert features.shape[-2:] == (2, 2)  # total stride 64
    assert out.shape == (1, 5, 5, 3 + 5)


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"image_size": 100}, ValueError),
        ({"S": 0}, ValueError),
        ({"B": 1.5}, ValueError),
        ({"dropout": 1.0}, ValueError),
        ({"width_mult": 0.0}, ValueError),
        ({"no_such_field": 1}, TypeError),
    ],
)
def test_paper_network_bad_config(kwargs, error):
    with pytest.raises(error):
        with torch.device("meta"):
            YoloV1(**kwargs)


def test_paper_network_config_object_and_bad_input():
    with pytest.raises(TypeError, match="YoloV1Config"):
        YoloV1(config=YoloV1TinyConfig())
    model = YoloV1(YoloV1Config(C=4), width_mult=1 / 64, fc_hidden=4)
    assert model.config.C == 4 and model.config.width_mult == 1 / 64
    with pytest.raises(ValueError, match=r"\(N, 3, 448, 448\)"):
        model(torch.rand(1, 3, 224, 224))
    with pytest.raises(TypeError):
        model([1, 2, 3])


def test_tiny_network_output_ranges_and_shapes():
    torch.manual_seed(0)
    model = YoloV1Tiny().eval()
    cfg = model.config
    assert (cfg.S, cfg.B, cfg.C, cfg.image_size) == (7, 2, 10, 112)
    with torch.no_grad():
        out = model(torch.rand(3, 3, 112, 112))
    assert out.shape == (3, 7, 7, 20)
    torch.testing.assert_close(out[..., :10].sum(-1), torch.ones(3, 7, 7))  # class probabilities
    assert ((out[..., 10:] > 0) & (out[..., 10:] < 1)).all()  # confidences and boxes in (0, 1)
    linear = YoloV1Tiny(activation="linear", image_size=56, widths=(4, 4, 4)).eval()
    with torch.no_grad():
        raw = linear(torch.rand(2, 3, 56, 56))
    assert raw.shape == (2, 7, 7, 20) and (raw < 0).any()
    fc = YoloV1Tiny(head="fc", head_width=16, image_size=28, widths=(4, 8), S=7, B=3, C=2).eval()
    assert any(isinstance(m, torch.nn.Linear) for m in fc.head)
    with torch.no_grad():
        assert fc(torch.rand(2, 3, 28, 28)).shape == (2, 7, 7, 2 + 15)


def test_tiny_conv_head_is_the_same_predictor_in_every_cell():
    # the default head is convolutional: the output vector of cell (row, col) is the 1 x 1 conv of the features there
    model = YoloV1Tiny(activation="linear", image_size=56, widths=(4, 8, 8)).eval()
    x = torch.rand(1, 3, 56, 56)
    with torch.no_grad():
        features = model.head[:-1](model.features(x))  # (1, head_width, 7, 7)
        out = model(x)
        last = model.head[-1]
        cell = last.weight[:, :, 0, 0] @ features[0, :, 4, 2] + last.bias
    torch.testing.assert_close(out[0, 4, 2], cell)


@pytest.mark.parametrize(
    "kwargs",
    [{"image_size": 100}, {"image_size": 7 * 64, "widths": (4, 4)}, {"activation": "relu"}, {"widths": ()},
     {"dropout": -0.1}, {"head": "mlp"}, {"head_width": 0}],
)
def test_tiny_network_bad_config(kwargs):
    with pytest.raises(ValueError):
        YoloV1Tiny(**kwargs)


def test_activation_matches_its_formula():
    gen = torch.Generator().manual_seed(0)
    raw = torch.randn(2, 3, 3, 4 + 5 * 2, generator=gen)
    out = yolo_v1_activation(raw, S=3, B=2, C=4)
    torch.testing.assert_close(out[..., :4], torch.softmax(raw[..., :4], dim=-1))
    torch.testing.assert_close(out[..., 4:], 1 / (1 + torch.exp(-raw[..., 4:])))
    with pytest.raises(ValueError, match="shape"):
        yolo_v1_activation(raw, S=3, B=1, C=4)


def test_both_networks_are_registered_detectors():
    detectors = list_models(kind="detector")
    assert {"yolo_v1", "yolo_v1_tiny"} <= set(detectors)
    assert get_entry("yolo_v1").cls is YoloV1 and get_entry("yolo_v1_tiny").cls is YoloV1Tiny


# ----------------------------------------------------------------------------------------------------------------------
# Target encoding
# ----------------------------------------------------------------------------------------------------------------------
def test_encode_hand_worked_example():
    # S = 4, B = 2, C = 3. Box (0.1, 0.2, 0.5, 0.4): centre (0.3, 0.3) -> S c = (1.2, 1.2) -> row 1, col 1,
    # offsets (0.2, 0.2), size (0.4, 0.2). Box (0.6, 0.0, 1.0, 0.5): centre (0.8, 0.25) -> (3.2, 1.0): row 1
    # (a centre on a border goes to the cell below), col 3, offsets (0.2, 0.0), size (0.4, 0.5).
    boxes = torch.tensor([[0.1, 0.2, 0.5, 0.4], [0.6, 0.0, 1.0, 0.5]], dtype=F64)
    target = encode_targets(boxes, torch.tensor([2, 0]), S=4, B=2, C=3)
    assert target.shape == (4, 4, 13) and target.dtype == F64
    expected = torch.zeros(4, 4, 13, dtype=F64)
    expected[1, 1] = torch.tensor([0, 0, 1, 1, 1, 0.2, 0.2, 0.4, 0.2, 0.2, 0.2, 0.4, 0.2], dtype=F64)
    expected[1, 3] = torch.tensor([1, 0, 0, 1, 1, 0.2, 0.0, 0.4, 0.5, 0.2, 0.0, 0.4, 0.5], dtype=F64)
    torch.testing.assert_close(target, expected, rtol=0, atol=1e-12)


def test_encode_centre_on_the_last_edge_goes_to_the_last_cell():
    boxes = torch.tensor([[0.8, 0.9, 1.0, 1.0], [1.0, 1.0, 1.0, 1.0]])  # centres (0.9, 0.95) and (1.0, 1.0)
    target = encode_targets(boxes, torch.tensor([0, 1]), S=2, B=1, C=2)
    # the larger box wins the shared cell (1, 1): centre (0.9, 0.95) -> offsets (0.8, 0.9)
    torch.testing.assert_close(target[1, 1], torch.tensor([1, 0, 1, 0.8, 0.9, 0.2, 0.1]))
    alone = encode_targets(boxes[1:], torch.tensor([1]), S=2, B=1, C=2)
    torch.testing.assert_close(alone[1, 1], torch.tensor([0, 1, 1, 1.0, 1.0, 0.0, 0.0]))
    assert alone[:, :, 2].sum() == 1


def test_encode_two_objects_in_one_cell_largest_then_first_wins():
    # binary fractions, so that equal areas are exactly equal; all centres fall into cell (0, 0) of a 2 x 2 grid
    small = [0.125, 0.125, 0.25, 0.25]
    large = [0.0625, 0.0625, 0.3125, 0.3125]
    same_size = [0.1875, 0.125, 0.3125, 0.25]  # same area as `small`
    for order in ([small, large], [large, small]):
        labels = torch.tensor([0, 1]) if order[0] is small else torch.tensor([1, 0])
        target = encode_targets(torch.tensor(order), labels, S=2, B=2, C=2)
        assert target[0, 0, 1] == 1 and target[0, 0, 0] == 0  # the large box (label 1) wins either way
        torch.testing.assert_close(target[0, 0, 10:12], torch.tensor([0.25, 0.25]))  # its (w, h) in slot 2
    target = encode_targets(torch.tensor([small, same_size]), torch.tensor([0, 1]), S=2, B=2, C=2)
    assert target[0, 0, 0] == 1 and target[0, 0, 1] == 0  # equal areas: the first one wins


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("S, B, C", [(7, 2, 20), (3, 1, 1), (5, 3, 4)])
def test_encode_matches_loop_reference(seed, S, B, C):
    gen = torch.Generator().manual_seed(seed)
    M = 12  # many collisions on small grids
    xy = torch.rand(M, 2, generator=gen, dtype=F64)
    wh = torch.rand(M, 2, generator=gen, dtype=F64) * torch.minimum(xy, 1 - xy) * 2
    boxes = torch.cat([xy - wh / 2, xy + wh / 2], dim=1).clamp(0, 1)
    labels = torch.randint(C, (M,), generator=gen)
    torch.testing.assert_close(
        encode_targets(boxes, labels, S, B, C), _encode_targets_reference(boxes, labels, S, B, C), rtol=0, atol=1e-12
    )


def test_encode_empty_and_batch():
    empty = encode_targets(torch.zeros(0, 4), torch.zeros(0, dtype=torch.int64))
    assert empty.shape == (7, 7, 30) and (empty == 0).all()
    b1 = torch.tensor([[10.0, 20.0, 50.0, 60.0]])
    b2 = torch.tensor([[0.0, 0.0, 100.0, 50.0], [60.0, 60.0, 90.0, 95.0]])
    l1, l2 = torch.tensor([3]), torch.tensor([1, 9])
    batch = encode_batch([{"boxes": b1, "labels": l1}, {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0).long()},
                          (b2, l2)], S=7, B=2, C=10, image_size=100)
    assert batch.shape == (3, 7, 7, 20)
    torch.testing.assert_close(batch[0], encode_targets(b1 / 100, l1, 7, 2, 10))
    assert (batch[1] == 0).all()
    torch.testing.assert_close(batch[2], encode_targets(b2 / 100, l2, 7, 2, 10))
    rect = encode_batch([{"boxes": torch.tensor([[0, 0, 200, 50]]), "labels": l1}], 7, 2, 10, image_size=(100, 200))
    torch.testing.assert_close(rect[0], encode_targets(torch.tensor([[0.0, 0.0, 1.0, 0.5]]), l1, 7, 2, 10))


@pytest.mark.parametrize(
    "boxes, labels, error, match",
    [
        ([[0.1, 0.1, 1.2, 0.5]], [0], ValueError, r"\[0, 1\]"),
        ([[-0.1, 0.1, 0.2, 0.5]], [0], ValueError, r"\[0, 1\]"),
        ([[0.5, 0.1, 0.2, 0.5]], [0], ValueError, "x2 >= x1"),
        ([[0.1, 0.6, 0.2, 0.5]], [0], ValueError, "y2 >= y1"),
        ([[0.1, 0.1, 0.2, float("nan")]], [0], ValueError, "NaN"),
        ([[0.1, 0.1, 0.2, 0.5]], [20], ValueError, r"\[0, 20\)"),
        ([[0.1, 0.1, 0.2, 0.5]], [-1], ValueError, r"\[0, 20\)"),
        ([[0.1, 0.1, 0.2]], [0], ValueError, r"\(M, 4\)"),
        ([[0.1, 0.1, 0.2, 0.5]], [0, 1], ValueError, r"\(M,\)"),
    ],
)
def test_encode_bad_input(boxes, labels, error, match):
    with pytest.raises(error, match=match):
        encode_targets(torch.tensor(boxes), torch.tensor(labels))


def test_encode_bad_types():
    with pytest.raises(TypeError, match="integer"):
        encode_targets(torch.tensor([[0.1, 0.1, 0.2, 0.2]]), torch.tensor([1.0]))
    with pytest.raises(TypeError, match="floating"):
        encode_targets(torch.tensor([[0, 0, 1, 1]]), torch.tensor([1]))
    with pytest.raises(TypeError):
        encode_targets([[0.1, 0.1, 0.2, 0.2]], torch.tensor([1]))
    with pytest.raises(ValueError, match="S"):
        encode_targets(torch.tensor([[0.1, 0.1, 0.2, 0.2]]), torch.tensor([1]), S=0)
    with pytest.raises(ValueError, match="at least one"):
        encode_batch([])
    with pytest.raises(ValueError, match=r"targets\[1\]"):
        encode_batch([{"boxes": torch.zeros(0, 4), "labels": torch.zeros(0).long()},
                      {"boxes": torch.tensor([[0.0, 0.0, 2.0, 1.0]]), "labels": torch.tensor([0])}])


# ----------------------------------------------------------------------------------------------------------------------
# The loss
# ----------------------------------------------------------------------------------------------------------------------
def _hand_example() -> tuple[torch.Tensor, torch.Tensor]:
    """S = 2, B = 2, C = 2, one image, one object (class 1) in cell (row 0, col 1)."""
    S, B, C = 2, 2, 2
    target = torch.zeros(1, S, S, C + 5 * B, dtype=F64)
    # the object: offsets (0.5, 0.5) in cell (0, 1), size (0.25, 0.25): box (0.625, 0.125, 0.875, 0.375)
    target[0, 0, 1] = torch.tensor([0, 1, 1, 1, 0.5, 0.5, 0.25, 0.25, 0.5, 0.5, 0.25, 0.25], dtype=F64)
    pred = torch.zeros(1, S, S, C + 5 * B, dtype=F64)
    # predictor 0: same centre, w = 0.16: nested box, IoU = (0.16 * 0.25) / (0.25 * 0.25) = 0.64
    # predictor 1: centre moved left by one box width (x = 0.0): touching, IoU = 0   -> predictor 0 is responsible
    pred[0, 0, 1] = torch.tensor([0.2, 0.6, 0.8, 0.3, 0.5, 0.5, 0.16, 0.25, 0.0, 0.5, 0.25, 0.25], dtype=F64)
    # empty cells: only their confidences count (boxes and classes are ignored there)
    pred[0, 0, 0, :4] = torch.tensor([0.9, 0.9, 0.1, 0.2], dtype=F64)
    pred[0, 1, 1, :4] = torch.tensor([0.5, 0.5, 0.4, 0.0], dtype=F64)
    pred[0, 1, 0, 4:] = 0.7
    return pred, target


def test_loss_hand_worked_example():
    pred, target = _hand_example()
    loss, terms = yolo_v1_loss(pred, target, S=2, B=2, C=2, return_terms=True)
    # coord:      5 * [(0.5-0.5)^2 + (0.5-0.5)^2 + (sqrt 0.16 - sqrt 0.25)^2 + (sqrt 0.25 - sqrt 0.25)^2] = 5 * 0.01
    # conf_obj:   (0.8 - 0.64)^2                                       = 0.0256   (rescore: the target is the IoU)
    # conf_noobj: 0.5 * [0.3^2 (predictor 1, not responsible) + 0.1^2 + 0.2^2 + 0.4^2 + 0^2] = 0.5 * 0.30 = 0.15
    # cls:        (0.2 - 0)^2 + (0.6 - 1)^2                            = 0.2
    expected = {"coord": 0.05, "conf_obj": 0.0256, "conf_noobj": 0.15, "cls": 0.2}
    for key, value in expected.items():
        assert terms[key].item() == pytest.approx(value, abs=1e-12), key
    assert loss.item() == pytest.approx(0.4256, abs=1e-12)
    # without rescore the confidence target is 1: (0.8 - 1)^2 = 0.04
    assert yolo_v1_loss(pred, target, 2, 2, 2, rescore=False).item() == pytest.approx(0.44, abs=1e-12)
    # averaged over the batch: adding an image with no object and all-zero predictions halves the loss
    pred2, target2 = torch.cat([pred, torch.zeros_like(pred)]), torch.cat([target, torch.zeros_like(target)])
    two = yolo_v1_loss(pred2, target2, 2, 2, 2)
    assert two.item() == pytest.approx(0.2128, abs=1e-12)
    # the lambdas scale their terms only
    _, t2 = yolo_v1_loss(pred, target, 2, 2, 2, lambda_coord=1.0, lambda_noobj=1.0, return_terms=True)
    assert t2["coord"].item() == pytest.approx(0.01, abs=1e-12) and t2["conf_noobj"].item() == pytest.approx(0.3)


def test_loss_responsible_predictor_gets_the_box_gradient():
    pred, target = _hand_example()
    pred.requires_grad_(True)
    yolo_v1_loss(pred, target, 2, 2, 2).backward()
    g = pred.grad[0, 0, 1]
    # d/dw of 5 (sqrt w - 0.5)^2 at w = 0.16: 5 * 2 (0.4 - 0.5) / (2 * 0.4) = -1.25
    assert g[6].item() == pytest.approx(-1.25, abs=1e-12)
    assert (g[8:12] == 0).all()  # predictor 1's box: not responsible, no coordinate gradient
    assert g[3].item() == pytest.approx(0.5 * 2 * 0.3)  # its confidence is pushed to 0 with lambda_noobj
    assert g[2].item() == pytest.approx(2 * (0.8 - 0.64))  # the IoU target is a constant
    # swapping the two predictors swaps the responsibility
    swapped = pred.detach().clone()
    swapped[0, 0, 1, 4:8], swapped[0, 0, 1, 8:12] = pred[0, 0, 1, 8:12].detach(), pred[0, 0, 1, 4:8].detach()
    swapped[0, 0, 1, 2:4] = pred[0, 0, 1, 2:4].detach().flip(0)
    assert yolo_v1_loss(swapped, target, 2, 2, 2).item() == pytest.approx(0.4256, abs=1e-12)


def test_loss_no_gradient_through_the_choice_or_the_rescore_target():
    pred, target = _hand_example()
    pred.requires_grad_(True)
    # with lambda_coord = 0 and no class term contribution from boxes, the boxes get no gradient at all: neither the
    # argmax over IoUs nor the IoU used as the confidence target is differentiated
    yolo_v1_loss(pred, target, 2, 2, 2, lambda_coord=0.0).backward()
    assert (pred.grad[..., 4:] == 0).all()


def test_loss_ties_go_to_the_first_predictor():
    S, B, C = 1, 3, 1
    target = torch.tensor([[[[1, 1, 1, 1, 0.5, 0.5, 0.2, 0.2] + [0.5, 0.5, 0.2, 0.2] * 2]]], dtype=F64)
    pred = torch.zeros(1, 1, 1, C + 5 * B, dtype=F64)
    pred[..., 1:4] = 0.5
    pred[..., 4:] = torch.tensor([0.0, 0.0, 0.1, 0.1] * 3, dtype=F64)  # three identical boxes, IoU 0 with the object
    pred.requires_grad_(True)
    yolo_v1_loss(pred, target, S, B, C).backward()
    g = pred.grad[0, 0, 0]
    assert (g[4:8] != 0).any() and (g[8:] == 0).all()


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("B, C", [(1, 1), (2, 3), (3, 20), (2, 20)])
@pytest.mark.parametrize("positive_wh", [True, False])
def test_loss_matches_loop_reference_with_gradients(seed, B, C, positive_wh):
    S, N = 4, 2
    gen = torch.Generator().manual_seed(seed)
    pred = _random_pred(N, S, B, C, gen, positive_wh)
    target = _random_target(N, S, B, C, 0.5, gen)
    p1 = pred.clone().requires_grad_(True)
    p2 = pred.clone().requires_grad_(True)
    loss, terms = yolo_v1_loss(p1, target, S, B, C, lambda_coord=5.0, lambda_noobj=0.5, return_terms=True)
    ref, ref_terms = _yolo_v1_loss_reference(p2, target, S, B, C, 5.0, 0.5)
    for key in ("coord", "conf_obj", "conf_noobj", "cls"):
        torch.testing.assert_close(terms[key], ref_terms[key], rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(loss, ref, rtol=1e-12, atol=1e-12)
    loss.backward()
    ref.backward()
    torch.testing.assert_close(p1.grad, p2.grad, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("p_obj, name", [(0.0, "empty"), (1.0, "full")])
@pytest.mark.parametrize("rescore", [True, False])
def test_loss_matches_reference_empty_and_full_grids(p_obj, name, rescore):
    S, B, C, N = 7, 2, 20, 2
    gen = torch.Generator().manual_seed(7)
    pred = _random_pred(N, S, B, C, gen, positive_wh=True)
    target = _random_target(N, S, B, C, p_obj, gen)
    assert target[..., C].sum() == (0 if name == "empty" else N * S * S)
    p1, p2 = pred.clone().requires_grad_(True), pred.clone().requires_grad_(True)
    loss = yolo_v1_loss(p1, target, S, B, C, lambda_coord=3.0, lambda_noobj=0.25, rescore=rescore)
    ref, _ = _yolo_v1_loss_reference(p2, target, S, B, C, 3.0, 0.25, rescore=rescore)
    torch.testing.assert_close(loss, ref, rtol=1e-12, atol=1e-12)
    loss.backward()
    ref.backward()
    torch.testing.assert_close(p1.grad, p2.grad, rtol=1e-10, atol=1e-12)


def test_loss_of_the_target_itself_and_of_a_perfect_prediction():
    boxes = torch.tensor([[0.1, 0.2, 0.4, 0.7], [0.5, 0.5, 0.9, 0.6]])
    target = encode_batch([(boxes, torch.tensor([1, 2]))], S=7, B=2, C=3)
    # the target as a prediction: predictor 0 is responsible (IoU 1 for both, first on ties) and exact; predictor
    # 1 is not responsible, so its confidence 1 costs lambda_noobj * 1^2 per object: 0.5 * 2 objects = 1.0
    loss, terms = yolo_v1_loss(target.clone(), target, 7, 2, 3, return_terms=True)
    assert loss.dtype == torch.float32
    assert terms["conf_noobj"].item() == pytest.approx(1.0) and loss.item() == pytest.approx(1.0, abs=1e-6)
    perfect = target.clone()
    perfect[..., 3 + 1] = 0.0  # the non-responsible confidence at 0
    assert yolo_v1_loss(perfect, target, 7, 2, 3).item() == pytest.approx(0.0, abs=1e-6)


def test_signed_sqrt_values_and_finite_gradients():
    v = torch.tensor([0.25, 1e-8, 1.0, -0.04, 0.0, -1e-12, 1e-12], dtype=F64, requires_grad=True)
    out = signed_sqrt(v)
    torch.testing.assert_close(out[:4], torch.tensor([0.5, 1e-4, 1.0, -0.2], dtype=F64))
    assert out[4].item() == 0.0
    out.sum().backward()
    assert torch.isfinite(v.grad).all()
    assert v.grad[0].item() == pytest.approx(1.0) and v.grad[3].item() == pytest.approx(2.5)
    assert v.grad[4].item() == 0.0
    # the loss itself is finite with zero and negative predicted sizes
    pred, target = _hand_example()
    pred[..., 4:] = 0.0
    pred[0, 1, 1, 6:8] = -0.3
    pred.requires_grad_(True)
    loss = yolo_v1_loss(pred, target, 2, 2, 2)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(pred.grad).all()


def test_loss_low_precision_and_non_finite_predictions():
    pred, target = _hand_example()
    for dtype in (torch.float32, torch.bfloat16):
        loss = yolo_v1_loss(pred.to(dtype), target, 2, 2, 2)
        assert loss.dtype == dtype
        assert loss.item() == pytest.approx(0.4256, rel=1e-2 if dtype == torch.bfloat16 else 1e-6)
    bad = pred.clone()
    bad[0, 0, 1, 6] = float("nan")
    assert torch.isnan(yolo_v1_loss(bad, target, 2, 2, 2))  # NaN in, NaN out (fit_detector then stops)
    bad[0, 0, 1, 6] = float("inf")
    assert not torch.isfinite(yolo_v1_loss(bad, target, 2, 2, 2))


@pytest.mark.parametrize(
    "pred_shape, target_shape, kwargs, error",
    [
        ((1, 7, 7, 29), (1, 7, 7, 29), {}, ValueError),
        ((1, 7, 7, 30), (1, 7, 7, 30), {"S": 6}, ValueError),
        ((2, 7, 7, 30), (1, 7, 7, 30), {}, ValueError),
        ((0, 7, 7, 30), (0, 7, 7, 30), {}, ValueError),
        ((7, 7, 30), (7, 7, 30), {}, ValueError),
        ((1, 7, 7, 30), (1, 7, 7, 30), {"lambda_coord": -1.0}, ValueError),
    ],
)
def test_loss_bad_input(pred_shape, target_shape, kwargs, error):
    with pytest.raises(error):
        yolo_v1_loss(torch.zeros(pred_shape), torch.zeros(target_shape), **kwargs)


def test_loss_bad_types():
    with pytest.raises(TypeError, match="floating"):
        yolo_v1_loss(torch.zeros(1, 7, 7, 30, dtype=torch.long), torch.zeros(1, 7, 7, 30))
    with pytest.raises(TypeError):
        yolo_v1_loss(torch.zeros(1, 7, 7, 30).numpy(), torch.zeros(1, 7, 7, 30))


# ----------------------------------------------------------------------------------------------------------------------
# Decoding
# ----------------------------------------------------------------------------------------------------------------------
def _decode_reference(pred, S, B, C, conf_threshold, iou_threshold):
    """filter_then_nms with loops over cells and predictors, torchvision's batched_nms."""
    out = []
    for n in range(pred.shape[0]):
        boxes, scores, labels = [], [], []
        for row in range(S):
            for col in range(S):
                cell = pred[n, row, col]
                prob, label = cell[:C].max(0)
                for j in range(B):
                    x, y, w, h = cell[C + B + 4 * j : C + B + 4 * j + 4].tolist()
                    cx, cy, w, h = (col + x) / S, (row + y) / S, max(w, 0.0), max(h, 0.0)
                    box = [min(max(v, 0.0), 1.0) for v in (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)]
                    score = (cell[C + j] * prob).item()
                    if score > conf_threshold:
                        boxes.append(box), scores.append(score), labels.append(int(label))
        b = torch.tensor(boxes, dtype=pred.dtype).reshape(-1, 4)
        s, l = torch.tensor(scores, dtype=pred.dtype), torch.tensor(labels, dtype=torch.int64)
        keep = torchvision.ops.batched_nms(b, s, l, iou_threshold)
        out.append({"boxes": b[keep], "scores": s[keep], "labels": l[keep]})
    return out


@pytest.mark.parametrize("seed", range(3))
def test_decode_filter_then_nms_matches_loop_reference(seed):
    S, B, C = 5, 2, 4
    gen = torch.Generator().manual_seed(seed)
    raw = torch.randn(2, S, S, C + 5 * B, generator=gen, dtype=F64)
    pred = yolo_v1_activation(raw, S, B, C)
    got = decode(pred, S, B, C, conf_threshold=0.15, iou_threshold=0.4, strategy="filter_then_nms")
    ref = _decode_reference(pred, S, B, C, 0.15, 0.4)
    assert len(got) == 2
    for g, r in zip(got, ref):
        assert len(r["scores"]) > 0
        torch.testing.assert_close(g["scores"], r["scores"])
        torch.testing.assert_close(g["boxes"], r["boxes"])
        assert torch.equal(g["labels"], r["labels"]) and g["labels"].dtype == torch.int64


def test_decode_predictions_layout():
    S, B, C = 3, 2, 2
    pred = torch.zeros(1, S, S, C + 5 * B)
    pred[0, 2, 1] = torch.tensor([0.3, 0.7, 0.9, 0.4, 0.5, 0.5, 0.2, 0.3, 0.0, 1.0, -0.1, 0.3])
    boxes, conf, probs = decode_predictions(pred, S, B, C)
    assert boxes.shape == (1, S * S * B, 4) and conf.shape == (1, S * S * B) and probs.shape == (1, S * S * B, C)
    k = (2 * S + 1) * B  # predictor 0 of cell (row 2, col 1)
    # centre ((1 + 0.5) / 3, (2 + 0.5) / 3) = (0.5, 5/6), size (0.2, 0.3)
    torch.testing.assert_close(boxes[0, k], torch.tensor([0.4, 5 / 6 - 0.15, 0.6, 5 / 6 + 0.15]))
    # predictor 1: centre (1/3, 1), negative width -> 0, clipped to the image at the bottom
    torch.testing.assert_close(boxes[0, k + 1], torch.tensor([1 / 3, 1 - 0.15, 1 / 3, 1.0]))
    torch.testing.assert_close(conf[0, k : k + 2], torch.tensor([0.9, 0.4]))
    torch.testing.assert_close(probs[0, k + 1], torch.tensor([0.3, 0.7]))


@pytest.mark.parametrize("strategy", Y.DECODE_STRATEGIES)
def test_decode_of_encoded_targets_recovers_the_objects(strategy):
    boxes = torch.tensor([[0.05, 0.1, 0.3, 0.35], [0.5, 0.55, 0.95, 1.0], [0.6, 0.0, 0.7, 0.2], [0.3, 0.6, 0.45, 0.9]])
    labels = torch.tensor([4, 0, 7, 7])
    target = encode_batch([{"boxes": boxes, "labels": labels}, {"boxes": boxes[:1], "labels": labels[:1]}], 7, 2, 10)
    dets = decode(target, 7, 2, 10, conf_threshold=0.5, iou_threshold=0.5, strategy=strategy)
    for det, n in zip(dets, (4, 1)):
        assert len(det["boxes"]) == n  # the B identical copies of each box collapse to one under NMS
        assert torch.equal(det["scores"], torch.ones(n))
        order = torch.argsort(det["boxes"][:, 0])
        ref_order = torch.argsort(boxes[:n, 0])
        torch.testing.assert_close(det["boxes"][order], boxes[:n][ref_order], rtol=0, atol=1e-6)
        assert torch.equal(det["labels"][order], labels[:n][ref_order])


def test_decode_strategies_can_differ_and_bad_strategy():
    # one cell with two boxes that overlap (IoU 0.8); a cell's class probabilities are shared by its predictors,
    # so put them in two neighbouring cells: A sure cat, B cat-or-dog (course_lib.detection.nms's example)
    S, B, C = 2, 1, 2
    pred = torch.zeros(1, S, S, C + 5 * B)
    pred[0, 0, 0] = torch.tensor([0.9, 0.1, 0.9, 0.9, 0.9, 0.5, 0.5])  # box centre (0.45, 0.45)
    pred[0, 0, 1] = torch.tensor([0.6, 0.4, 0.8, 0.0, 0.9, 0.5, 0.5])  # box centre (0.5, 0.45): IoU 0.82
    a = decode(pred, S, B, C, 0.2, 0.5, "filter_then_nms")[0]
    b = decode(pred, S, B, C, 0.2, 0.5, "nms_then_classify")[0]
    assert a["labels"].tolist() == [0]
    assert sorted(b["labels"].tolist()) == [0, 1]  # B survives as a dog in darknet's order
    with pytest.raises(ValueError, match="strategy"):
        decode(pred, S, B, C, 0.2, 0.5, "nms_first")


# ----------------------------------------------------------------------------------------------------------------------
# Training
# ----------------------------------------------------------------------------------------------------------------------
def test_fit_detector_lowers_the_loss_on_mnist_digits():
    torch.manual_seed(0)
    data = MNISTDetection(n_images=8, image_size=56, scale_range=(0.8, 1.2), max_digits=2, seed=0, verbose=False)
    loader = torch.utils.data.DataLoader(data, batch_size=8, collate_fn=detection_collate)
    model = YoloV1Tiny(image_size=56, widths=(8, 16, 32), head_width=32)

    def loss_fn(pred, targets):
        return yolo_v1_loss(pred, encode_batch(targets, 7, 2, 10, image_size=56), 7, 2, 10)

    images, targets = next(iter(loader))
    model.eval()
    with torch.no_grad():
        before = loss_fn(model(images), targets).item()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    history = fit_detector(model, loader, loss_fn, steps=40, optimizer=opt, log_every=10, progress=False)
    assert history["step"] == [10, 20, 30, 40] and len(history["loss"]) == len(history["seconds"]) == 4
    model.eval()
    with torch.no_grad():
        after = loss_fn(model(images), targets).item()
    assert after < 0.5 * before, (before, after)


def test_fit_detector_stops_on_a_non_finite_loss():
    model = YoloV1Tiny(image_size=28, widths=(4, 4), head_width=8)
    loader = [(torch.rand(2, 3, 28, 28), None)]
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(FloatingPointError, match="step 1"):
        fit_detector(model, loader, lambda p, t: p.sum() * float("nan"), steps=3, optimizer=opt, progress=False)
    with pytest.raises(TypeError, match="optimizer"):
        fit_detector(model, loader, lambda p, t: p.sum(), steps=1, optimizer="adam", progress=False)
    with pytest.raises(ValueError, match="steps"):
        fit_detector(model, loader, lambda p, t: p.sum(), steps=0, optimizer=opt, progress=False)
    with pytest.raises(ValueError, match="time_limit"):
        fit_detector(model, loader, lambda p, t: p.sum(), steps=1, optimizer=opt, progress=False, time_limit=0)


def test_fit_detector_time_limit_and_epochs():
    model = YoloV1Tiny(image_size=28, widths=(4, 4), head_width=8)
    loader = [(torch.rand(2, 3, 28, 28), None)] * 3  # an "epoch" of 3 batches, iterated again when it runs out
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    history = fit_detector(model, loader, lambda p, t: p.square().mean(), steps=7, optimizer=opt, log_every=3,
                           progress=False)
    assert history["step"] == [3, 6, 7]
    history = fit_detector(model, loader, lambda p, t: p.square().mean(), steps=10_000, optimizer=opt,
                           log_every=10_000, progress=False, time_limit=1e-9)
    assert history["step"] == [1]  # stopped after the first step, which was recorded
