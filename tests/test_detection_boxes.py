"""Tests of course_lib.detection.boxes against torchvision.ops, closed forms worked by hand, and bad inputs."""

from __future__ import annotations

import math

import pytest
import torch
import torchvision.ops as tvops

from course_lib.detection import boxes as B

PAIRWISE = [
    (B.box_iou, tvops.box_iou),
    (B.generalized_box_iou, tvops.generalized_box_iou),
    (B.distance_box_iou, tvops.distance_box_iou),
    (B.complete_box_iou, tvops.complete_box_iou),
]
PAIRED = [
    (B.box_iou_pairwise, B.box_iou),
    (B.generalized_box_iou_pairwise, B.generalized_box_iou),
    (B.distance_box_iou_pairwise, B.distance_box_iou),
    (B.complete_box_iou_pairwise, B.complete_box_iou),
]
IDS = ["iou", "giou", "diou", "ciou"]


def random_boxes(n: int, gen: torch.Generator, dtype=torch.float32, scale: float = 10.0) -> torch.Tensor:
    """Valid xyxy boxes with corners in [0, scale] and sides in [0.01, scale / 2]."""
    xy = torch.rand(n, 2, generator=gen, dtype=torch.float64) * scale
    wh = torch.rand(n, 2, generator=gen, dtype=torch.float64) * (scale / 2) + 0.01
    return torch.cat([xy, xy + wh], dim=1).to(dtype)


def degenerate_boxes(dtype=torch.float64) -> torch.Tensor:
    """Zero-area, touching, disjoint, identical and nested boxes."""
    return torch.tensor(
        [
            [0.0, 0.0, 2.0, 2.0],  # 0: a square
            [0.0, 0.0, 2.0, 2.0],  # 1: identical to 0
            [2.0, 0.0, 4.0, 2.0],  # 2: touches 0 along an edge
            [2.0, 2.0, 3.0, 3.0],  # 3: touches 0 at a corner
            [5.0, 5.0, 6.0, 7.0],  # 4: disjoint from all
            [0.5, 0.5, 1.5, 1.5],  # 5: nested in 0
            [-1.0, -1.0, 8.0, 8.0],  # 6: encloses everything
            [1.0, 1.0, 1.0, 1.0],  # 7: a point inside 0 (zero area)
            [1.0, 0.0, 1.0, 2.0],  # 8: a vertical segment inside 0 (zero width)
            [0.0, 1.0, 4.0, 1.0],  # 9: a horizontal segment (zero height)
            [1.0, 1.0, 1.0, 1.0],  # 10: the same point as 7
        ],
        dtype=dtype,
    )


# ----------------------------------------------------------------------------------------------------------------
# box_convert and box_area
# ----------------------------------------------------------------------------------------------------------------
class TestConvertArea:
    @pytest.mark.parametrize("in_fmt", B.BOX_FORMATS)
    @pytest.mark.parametrize("out_fmt", B.BOX_FORMATS)
    def test_matches_torchvision(self, in_fmt, out_fmt):
        gen = torch.Generator().manual_seed(0)
        boxes = B.box_convert(random_boxes(50, gen, torch.float64), "xyxy", in_fmt)
        torch.testing.assert_close(
            B.box_convert(boxes, in_fmt, out_fmt), tvops.box_convert(boxes, in_fmt, out_fmt), rtol=1e-12, atol=1e-12
        )

    def test_known_values_and_round_trip(self):
        xyxy = torch.tensor([[1.0, 2.0, 5.0, 8.0]])
        torch.testing.assert_close(B.box_convert(xyxy, "xyxy", "xywh"), torch.tensor([[1.0, 2.0, 4.0, 6.0]]))
        torch.testing.assert_close(B.box_convert(xyxy, "xyxy", "cxcywh"), torch.tensor([[3.0, 5.0, 4.0, 6.0]]))
        torch.testing.assert_close(B.box_convert(torch.tensor([[3.0, 5.0, 4.0, 6.0]]), "cxcywh", "xywh"),
                                   torch.tensor([[1.0, 2.0, 4.0, 6.0]]))
        gen = torch.Generator().manual_seed(1)
        b = random_boxes(20, gen, torch.float64).reshape(4, 5, 4)  # leading dimensions are kept
        for fmt in B.BOX_FORMATS:
            torch.testing.assert_close(B.box_convert(B.box_convert(b, "xyxy", fmt), fmt, "xyxy"), b)

    def test_same_format_is_a_copy(self):
        b = torch.tensor([[0.0, 0.0, 1.0, 1.0]])
        out = B.box_convert(b, "xyxy", "xyxy")
        out[0, 0] = 5.0
        assert b[0, 0] == 0.0

    def test_convert_bad_inputs(self):
        with pytest.raises(ValueError, match="in_fmt"):
            B.box_convert(torch.zeros(2, 4), "xyzw", "xyxy")
        with pytest.raises(ValueError, match="out_fmt"):
            B.box_convert(torch.zeros(2, 4), "xyxy", "yolo")
        with pytest.raises(ValueError, match=r"\[\.\.\., 4\]"):
            B.box_convert(torch.zeros(2, 5), "xyxy", "xywh")
        with pytest.raises(TypeError, match="torch.Tensor"):
            B.box_convert([[0, 0, 1, 1]], "xyxy", "xywh")

    @pytest.mark.parametrize("fmt", B.BOX_FORMATS)
    def test_area_matches_torchvision(self, fmt):
        gen = torch.Generator().manual_seed(2)
        b = B.box_convert(random_boxes(30, gen, torch.float64), "xyxy", fmt)
        torch.testing.assert_close(B.box_area(b, fmt), tvops.box_area(b, fmt=fmt), rtol=1e-12, atol=1e-12)

    def test_area_dtypes(self):
        b16 = torch.tensor([[0.0, 0.0, 300.0, 300.0]], dtype=torch.float16)
        area = B.box_area(b16)
        assert area.dtype == torch.float32 and area.item() == 90000.0  # 90000 overflows float16 (max 65504)
        bi = torch.tensor([[0, 0, 3, 4]], dtype=torch.int32)
        ai = B.box_area(bi)
        assert ai.dtype == torch.int64 and ai.item() == 12
        big = torch.tensor([[0, 0, 100_000, 100_000]], dtype=torch.int32)
        assert B.box_area(big).item() == 10**10  # would overflow int32
        assert B.box_area(torch.tensor([[1.0, 1.0, 1.0, 5.0]])).item() == 0.0  # zero width

    def test_area_bad_boxes(self):
        with pytest.raises(ValueError, match=r"boxes\[1\].*x2 >= x1"):
            B.box_area(torch.tensor([[0.0, 0.0, 1.0, 1.0], [2.0, 0.0, 1.0, 1.0]]))
        with pytest.raises(ValueError, match=r"w >= 0"):
            B.box_area(torch.tensor([[0.0, 0.0, -1.0, 1.0]]), fmt="xywh")
        with pytest.raises(ValueError, match="unknown box format"):
            B.box_area(torch.zeros(1, 4), fmt="yolo")


# ----------------------------------------------------------------------------------------------------------------
# The IoU family, pairwise
# ----------------------------------------------------------------------------------------------------------------
class TestPairwise:
    @pytest.mark.parametrize("ours,ref", PAIRWISE, ids=IDS)
    @pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
    def test_random_matches_torchvision(self, ours, ref, dtype):
        gen = torch.Generator().manual_seed(3)
        b1, b2 = random_boxes(40, gen, dtype), random_boxes(30, gen, dtype)
        out = ours(b1, b2)
        assert out.shape == (40, 30) and out.dtype == dtype
        torch.testing.assert_close(out, ref(b1, b2), rtol=0, atol=1e-6 if dtype == torch.float32 else 1e-14)

    @pytest.mark.parametrize("ours,ref", PAIRWISE, ids=IDS)
    def test_degenerate_match_torchvision(self, ours, ref):
        d = degenerate_boxes()
        torch.testing.assert_close(ours(d, d), ref(d, d), rtol=0, atol=1e-14, equal_nan=True)

    def test_degenerate_values(self):
        d = degenerate_boxes()
        iou = B.box_iou(d, d)
        assert iou[0, 1] == 1.0  # identical
        assert iou[0, 2] == 0.0 and iou[0, 3] == 0.0  # touching: no common area
        assert iou[0, 4] == 0.0  # disjoint
        assert iou[0, 5] == 0.25  # nested: 1 / 4
        assert iou[0, 7] == 0.0 and iou[7, 0] == 0.0  # a point inside a box: 0 / 4
        assert torch.isnan(iou[7, 10])  # two identical points: 0 / 0, as torchvision
        giou = B.generalized_box_iou(d, d)
        assert giou[0, 2] == 0.0  # touching along an edge: C = A u B
        assert giou[0, 3] == pytest.approx(0.0 - (9.0 - 5.0) / 9.0)  # C = [0, 3]^2, |A u B| = 5
        assert giou[0, 0] == 1.0

    def test_hand_worked_square_pair(self):
        # A = [0,0,2,2], B = [1,1,3,3]: |A n B| = 1, |A u B| = 4 + 4 - 1 = 7, C = [0,3]^2 so |C| = 9.
        # Centres (1,1) and (2,2): rho^2 = 2; diagonal of C: c^2 = 9 + 9 = 18. Same aspect ratio: v = 0.
        a = torch.tensor([[0.0, 0.0, 2.0, 2.0]], dtype=torch.float64)
        b = torch.tensor([[1.0, 1.0, 3.0, 3.0]], dtype=torch.float64)
        eps = 1e-7
        assert B.box_iou(a, b).item() == pytest.approx(1 / 7, abs=1e-15)
        assert B.generalized_box_iou(a, b).item() == pytest.approx(1 / 7 - (9 - 7) / 9, abs=1e-15)
        assert B.distance_box_iou(a, b).item() == pytest.approx(1 / 7 - 2 / (18 + eps), abs=1e-15)
        assert B.complete_box_iou(a, b).item() == pytest.approx(1 / 7 - 2 / (18 + eps), abs=1e-15)

    def test_hand_worked_ciou_with_aspect_term(self):
        # A = [0,0,2,1] (w 2, h 1), B = [0,0,1,2] (w 1, h 2): |A n B| = 1, |A u B| = 3, IoU = 1/3.
        # C = [0,2]^2, c^2 = 8; centres (1, 0.5), (0.5, 1): rho^2 = 0.5.
        # v = 4/pi^2 (atan(1/2) - atan(2))^2, alpha = v / (1 - 1/3 + v).
        a = torch.tensor([[0.0, 0.0, 2.0, 1.0]], dtype=torch.float64)
        b = torch.tensor([[0.0, 0.0, 1.0, 2.0]], dtype=torch.float64)
        eps = 1e-7
        iou = 1 / 3
        diou = iou - 0.5 / (8 + eps)
        v = 4 / math.pi**2 * (math.atan(0.5) - math.atan(2.0)) ** 2
        alpha = v / (1 - iou + v + eps)
        assert B.distance_box_iou(a, b).item() == pytest.approx(diou, abs=1e-15)
        assert B.complete_box_iou(a, b).item() == pytest.approx(diou - alpha * v, abs=1e-15)
        loss = B.complete_box_iou_loss(a, b)
        iou_l = 1 / (3 + eps)
        alpha_l = v / (1 - iou_l + v + eps)
        assert loss.item() == pytest.approx(1 - iou_l + 0.5 / (8 + eps) + alpha_l * v, abs=1e-15)

    def test_giou_keeps_decreasing_when_apart(self):
        a = torch.tensor([[0.0, 0.0, 1.0, 1.0]])
        far = torch.tensor([[2.0, 0.0, 3.0, 1.0], [5.0, 0.0, 6.0, 1.0]])
        assert torch.all(B.box_iou(a, far) == 0)
        g = B.generalized_box_iou(a, far)[0]
        # C widths 3 and 6, |A u B| = 2: GIoU = -(3 - 2)/3 and -(6 - 2)/6
        torch.testing.assert_close(g, torch.tensor([-1 / 3, -2 / 3]))

    @pytest.mark.parametrize("ours,ref", PAIRWISE, ids=IDS)
    @pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
    def test_half_inputs_are_upcast(self, ours, ref, dtype):
        gen = torch.Generator().manual_seed(4)
        b1 = random_boxes(20, gen, dtype, scale=200.0)  # areas up to 1e4; products overflow nothing after upcast
        b2 = random_boxes(15, gen, dtype, scale=200.0)
        out = ours(b1, b2)
        assert out.dtype == torch.float32
        # the upcast happens before any arithmetic: identical to the float32 computation on the same values
        torch.testing.assert_close(out, ours(b1.float(), b2.float()), rtol=0, atol=0)
        torch.testing.assert_close(out, ref(b1.float(), b2.float()), rtol=0, atol=1e-6)

    def test_half_large_coordinates_do_not_overflow(self):
        b = torch.tensor([[0.0, 0.0, 400.0, 400.0]], dtype=torch.float16)  # area 160000 > float16 max
        c = torch.tensor([[200.0, 0.0, 600.0, 400.0]], dtype=torch.float16)
        assert B.box_iou(b, c).item() == pytest.approx(80000 / 240000)

    @pytest.mark.parametrize("ours,ref", PAIRWISE, ids=IDS)
    def test_integer_inputs(self, ours, ref):
        b1 = torch.tensor([[0, 0, 4, 4], [1, 2, 5, 9], [3, 3, 6, 4]])
        b2 = torch.tensor([[2, 2, 6, 6], [0, 0, 4, 4]])
        out = ours(b1, b2)
        assert out.dtype == torch.float32
        torch.testing.assert_close(out, ref(b1, b2), rtol=0, atol=1e-6)

    @pytest.mark.parametrize("ours,ref", PAIRWISE, ids=IDS)
    def test_leading_batch_dimensions(self, ours, ref):
        gen = torch.Generator().manual_seed(5)
        b1 = random_boxes(24, gen, torch.float64).reshape(3, 8, 4)
        b2 = random_boxes(15, gen, torch.float64).reshape(3, 5, 4)
        out = ours(b1, b2)
        assert out.shape == (3, 8, 5)
        torch.testing.assert_close(out, ref(b1, b2), rtol=0, atol=1e-14)

    @pytest.mark.parametrize("fmt", ["xywh", "cxcywh"])
    def test_box_iou_other_formats(self, fmt):
        gen = torch.Generator().manual_seed(13)
        b1, b2 = random_boxes(10, gen, torch.float64), random_boxes(7, gen, torch.float64)
        c1, c2 = B.box_convert(b1, "xyxy", fmt), B.box_convert(b2, "xyxy", fmt)
        torch.testing.assert_close(B.box_iou(c1, c2, fmt=fmt), tvops.box_iou(c1, c2, fmt=fmt), rtol=0, atol=1e-14)
        torch.testing.assert_close(B.box_iou(c1, c2, fmt=fmt), B.box_iou(b1, b2), rtol=0, atol=1e-14)
        with pytest.raises(ValueError, match="w >= 0"):
            B.box_iou(torch.tensor([[0.0, 0.0, -1.0, 1.0]]), c2, fmt=fmt)

    @pytest.mark.parametrize("ours,ref", PAIRWISE, ids=IDS)
    def test_empty_sets(self, ours, ref):
        b = torch.tensor([[0.0, 0.0, 1.0, 1.0]] * 3)
        assert ours(torch.zeros(0, 4), b).shape == (0, 3)
        assert ours(b, torch.zeros(0, 4)).shape == (3, 0)

    @pytest.mark.parametrize("ours,ref", PAIRWISE, ids=IDS)
    def test_symmetry_and_range(self, ours, ref):
        gen = torch.Generator().manual_seed(6)
        b1, b2 = random_boxes(25, gen, torch.float64), random_boxes(20, gen, torch.float64)
        torch.testing.assert_close(ours(b1, b2), ours(b2, b1).T, rtol=0, atol=1e-14)
        out = ours(b1, b2)
        low = 0.0 if ours is B.box_iou else -1.0
        assert out.min() >= low and out.max() <= 1.0

    @pytest.mark.parametrize("ours,ref", PAIRWISE, ids=IDS)
    def test_gradients_flow_and_match(self, ours, ref):
        gen = torch.Generator().manual_seed(7)
        b1, b2 = random_boxes(6, gen, torch.float64), random_boxes(5, gen, torch.float64)
        x = b1.clone().requires_grad_(True)
        y = b1.clone().requires_grad_(True)
        ours(x, b2).sum().backward()
        ref(y, b2).sum().backward()
        assert torch.isfinite(x.grad).all()
        torch.testing.assert_close(x.grad, y.grad, rtol=1e-10, atol=1e-12)


class TestPaired:
    @pytest.mark.parametrize("paired,pairwise", PAIRED, ids=IDS)
    def test_equals_diagonal(self, paired, pairwise):
        gen = torch.Generator().manual_seed(8)
        b1, b2 = random_boxes(30, gen, torch.float64), random_boxes(30, gen, torch.float64)
        torch.testing.assert_close(paired(b1, b2), pairwise(b1, b2).diagonal(), rtol=0, atol=0)

    @pytest.mark.parametrize("paired,pairwise", PAIRED, ids=IDS)
    def test_broadcasting(self, paired, pairwise):
        gen = torch.Generator().manual_seed(9)
        pred = random_boxes(2 * 3 * 2, gen, torch.float64).reshape(2, 3, 2, 4)  # e.g. (N, cells, B, 4)
        tgt = random_boxes(2 * 3, gen, torch.float64).reshape(2, 3, 1, 4)  # one target per cell
        out = paired(pred, tgt)
        assert out.shape == (2, 3, 2)
        ref = torch.stack(
            [torch.stack([pairwise(pred[n, c], tgt[n, c])[:, 0] for c in range(3)]) for n in range(2)]
        )
        torch.testing.assert_close(out, ref, rtol=0, atol=0)

    def test_degenerate(self):
        d = degenerate_boxes()
        e = d.flip(0)
        torch.testing.assert_close(B.box_iou_pairwise(d, e), tvops.box_iou(d, e).diagonal(), equal_nan=True)


# ----------------------------------------------------------------------------------------------------------------
# The CIoU loss
# ----------------------------------------------------------------------------------------------------------------
class TestCIoULoss:
    @pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
    @pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
    def test_matches_torchvision(self, reduction, dtype):
        gen = torch.Generator().manual_seed(10)
        b1, b2 = random_boxes(64, gen, dtype), random_boxes(64, gen, dtype)
        tol = dict(rtol=1e-6, atol=1e-6) if dtype == torch.float32 else dict(rtol=1e-13, atol=1e-13)
        torch.testing.assert_close(
            B.complete_box_iou_loss(b1, b2, reduction), tvops.complete_box_iou_loss(b1, b2, reduction), **tol
        )

    def test_degenerate_matches_torchvision(self):
        d = degenerate_boxes()
        i, j = torch.meshgrid(torch.arange(len(d)), torch.arange(len(d)), indexing="ij")
        keep = (d[:, 2] - d[:, 0] > 0) & (d[:, 3] - d[:, 1] > 0)  # boxes with an aspect ratio (v defined)
        pairs = keep[i.flatten()] & keep[j.flatten()]
        a, b = d[i.flatten()[pairs]], d[j.flatten()[pairs]]
        torch.testing.assert_close(B.complete_box_iou_loss(a, b), tvops.complete_box_iou_loss(a, b), rtol=0, atol=1e-14)
        # identical boxes: loss 1 - |A| / (|A| + eps), essentially 0
        assert B.complete_box_iou_loss(d[:1], d[1:2]).item() == pytest.approx(0.0, abs=1e-7)

    def test_gradient_matches_torchvision_and_is_finite(self):
        gen = torch.Generator().manual_seed(11)
        b1, b2 = random_boxes(32, gen, torch.float64), random_boxes(32, gen, torch.float64)
        b2[:4] = b1[:4]  # identical pairs
        b2[4] = b1[4] + 20.0  # a disjoint pair
        b2[5] = torch.tensor([b1[5, 0] - 1, b1[5, 1] - 1, b1[5, 2] + 1, b1[5, 3] + 1])  # nested
        x = b1.clone().requires_grad_(True)
        y = b1.clone().requires_grad_(True)
        B.complete_box_iou_loss(x, b2, "sum").backward()
        tvops.complete_box_iou_loss(y, b2, "sum").backward()
        assert torch.isfinite(x.grad).all()
        torch.testing.assert_close(x.grad, y.grad, rtol=1e-10, atol=1e-12)

    def test_alpha_is_constant_in_backward(self):
        # The analytic gradient equals the numerical gradient of the loss with alpha frozen at its current value.
        a = torch.tensor([0.3, 0.2, 2.1, 1.4], dtype=torch.float64)
        b = torch.tensor([0.0, 0.0, 1.0, 2.0], dtype=torch.float64)
        eps = 1e-7

        def frozen(x: torch.Tensor, alpha: float) -> torch.Tensor:
            inter = (torch.minimum(x[2], b[2]) - torch.maximum(x[0], b[0])).clamp(min=0) * (
                torch.minimum(x[3], b[3]) - torch.maximum(x[1], b[1])
            ).clamp(min=0)
            union = (x[2] - x[0]) * (x[3] - x[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
            iou = inter / (union + eps)
            c2 = (torch.maximum(x[2], b[2]) - torch.minimum(x[0], b[0])) ** 2 + (
                torch.maximum(x[3], b[3]) - torch.minimum(x[1], b[1])
            ) ** 2 + eps
            rho2 = ((x[0] + x[2]) / 2 - (b[0] + b[2]) / 2) ** 2 + ((x[1] + x[3]) / 2 - (b[1] + b[3]) / 2) ** 2
            v = 4 / math.pi**2 * (torch.atan((b[2] - b[0]) / (b[3] - b[1])) - torch.atan((x[2] - x[0]) / (x[3] - x[1]))) ** 2
            return 1 - iou + rho2 / c2 + alpha * v, iou, v

        _, iou0, v0 = frozen(a, 0.0)
        alpha0 = float(v0 / (1 - iou0 + v0 + eps))
        x = a.clone().requires_grad_(True)
        loss = B.complete_box_iou_loss(x, b)
        assert loss.item() == pytest.approx(frozen(a, alpha0)[0].item(), abs=1e-14)
        loss.backward()
        h = 1e-6
        numeric = torch.stack(
            [(frozen(a + h * e, alpha0)[0] - frozen(a - h * e, alpha0)[0]) / (2 * h) for e in torch.eye(4, dtype=torch.float64)]
        )
        torch.testing.assert_close(x.grad, numeric, rtol=1e-6, atol=1e-8)

    def test_half_and_empty(self):
        b1 = torch.tensor([[0.0, 0.0, 2.0, 1.0]], dtype=torch.float16)
        b2 = torch.tensor([[0.0, 0.0, 1.0, 2.0]], dtype=torch.float16)
        out = B.complete_box_iou_loss(b1, b2)
        assert out.dtype == torch.float32
        torch.testing.assert_close(out, tvops.complete_box_iou_loss(b1, b2))
        x = torch.zeros(0, 4, requires_grad=True)
        m = B.complete_box_iou_loss(x, torch.zeros(0, 4), "mean")
        assert m.item() == 0.0
        m.backward()
        assert x.grad.shape == (0, 4)

    def test_bad_inputs(self):
        good = torch.tensor([[0.0, 0.0, 1.0, 1.0]])
        with pytest.raises(ValueError, match="reduction"):
            B.complete_box_iou_loss(good, good, "max")
        with pytest.raises(ValueError, match=r"boxes1\[0\]"):
            B.complete_box_iou_loss(torch.tensor([[1.0, 0.0, 0.0, 1.0]]), good)
        # validate=False skips the value check (not the shape check)
        B.complete_box_iou_loss(torch.tensor([[1.0, 0.0, 0.0, 1.0]]), good, validate=False)
        with pytest.raises(ValueError, match=r"\[\.\.\., 4\]"):
            B.complete_box_iou_loss(torch.zeros(1, 3), good, validate=False)


# ----------------------------------------------------------------------------------------------------------------
# Validation and the small helpers
# ----------------------------------------------------------------------------------------------------------------
class TestValidation:
    @pytest.mark.parametrize("fn", [f for f, _ in PAIRWISE] + [f for f, _ in PAIRED], ids=IDS + [i + "_paired" for i in IDS])
    def test_bad_boxes_raise(self, fn):
        good = torch.tensor([[0.0, 0.0, 1.0, 1.0], [1.0, 1.0, 2.0, 3.0]])
        with pytest.raises(ValueError, match=r"boxes1\[1\] = \[2\.0, 1\.0, 1\.0, 3\.0\].*x2 >= x1"):
            fn(torch.tensor([[0.0, 0.0, 1.0, 1.0], [2.0, 1.0, 1.0, 3.0]]), good)
        with pytest.raises(ValueError, match=r"boxes2\[0\]"):
            fn(good, torch.tensor([[0.0, 1.0, 1.0, 0.5], [0.0, 0.0, 1.0, 1.0]]))  # y2 < y1
        with pytest.raises(ValueError, match=r"boxes2 contains NaN: boxes2\[1\]"):
            fn(good, torch.tensor([[0.0, 0.0, 1.0, 1.0], [0.0, float("nan"), 1.0, 1.0]]))
        with pytest.raises(ValueError, match=r"shape \[\.\.\., 4\]"):
            fn(torch.zeros(2, 5), good)
        with pytest.raises(ValueError, match=r"shape \[\.\.\., 4\]"):
            fn(torch.tensor(1.0), good)
        with pytest.raises(TypeError, match="torch.Tensor"):
            fn([[0.0, 0.0, 1.0, 1.0]], good)
        with pytest.raises(TypeError, match="dtype torch.bool"):
            fn(torch.ones(2, 4, dtype=torch.bool), good)

    def test_first_bad_row_in_batched_input(self):
        b = torch.tensor([[[0.0, 0.0, 1.0, 1.0], [0.0, 0.0, 1.0, 1.0]], [[0.0, 0.0, 1.0, 1.0], [3.0, 0.0, 1.0, 1.0]]])
        with pytest.raises(ValueError, match=r"boxes1\[1, 1\]"):
            B.box_iou(b, b)

    def test_validation_keeps_autograd(self):
        x = torch.tensor([[0.0, 0.0, 2.0, 2.0]], requires_grad=True)
        y = torch.tensor([[1.0, 1.0, 3.0, 3.0]])
        B.box_iou(x, y).sum().backward()
        # d IoU / d x2 at x2 = 2: inter = (x2 - 1)(1), union = 2 x2 + 4 - inter -> (1 * 7 - 1 * (2 - 1)) / 49
        assert x.grad[0, 2].item() == pytest.approx(6 / 49)
        assert B.check_boxes(x) is x

    def test_clip_matches_torchvision(self):
        b = torch.tensor([[-5.0, -2.0, 3.0, 4.0], [1.0, 2.0, 50.0, 60.0], [20.0, 30.0, 40.0, 45.0]])
        torch.testing.assert_close(B.clip_boxes_to_image(b, (30, 25)), tvops.clip_boxes_to_image(b, (30, 25)))
        with pytest.raises(ValueError, match="height, width"):
            B.clip_boxes_to_image(b, (30,))
        with pytest.raises(ValueError, match="positive"):
            B.clip_boxes_to_image(b, (0, 10))

    def test_remove_small_matches_torchvision(self):
        gen = torch.Generator().manual_seed(12)
        b = random_boxes(40, gen)
        out = B.remove_small_boxes(b, 2.0)
        assert out.dtype == torch.int64
        torch.testing.assert_close(out, tvops.remove_small_boxes(b, 2.0))
