"""Tests of course_lib.detection.nms against torchvision.ops and slow references written as plain loops."""

from __future__ import annotations

import pytest
import torch
import torchvision.ops as tvops

from course_lib.detection import nms as N


# ----------------------------------------------------------------------------------------------------------------
# Slow references, written for clarity (plain Python floats and loops)
# ----------------------------------------------------------------------------------------------------------------
def ref_iou(a: list[float], b: list[float]) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else float("nan")


def ref_nms(boxes: torch.Tensor, scores: torch.Tensor, thr: float, classes: list[int] | None = None) -> list[int]:
    """Greedy NMS: visit by decreasing score; drop a box when a kept box of its class overlaps it with IoU > thr."""
    b = boxes.double().tolist()
    s = scores.double().tolist()
    order = sorted(range(len(b)), key=lambda i: -s[i])  # Python's sort is stable
    kept: list[int] = []
    for i in order:
        suppressed = any(
            ref_iou(b[k], b[i]) > thr and (classes is None or classes[k] == classes[i]) for k in kept
        )
        if not suppressed:
            kept.append(i)
    return kept


def ref_filter_then_nms(boxes, conf, probs, conf_thr, iou_thr):
    n, c = probs.shape
    cand = []
    for i in range(n):
        row = probs[i].tolist()
        best = max(range(c), key=lambda k: (row[k], -k))  # first maximum
        s = float(conf[i]) * row[best]
        if s > conf_thr:
            cand.append((i, best, s))
    idx = [i for i, _, _ in cand]
    kept = ref_nms(boxes[idx], torch.tensor([s for _, _, s in cand], dtype=torch.float64), iou_thr,
                   classes=[k for _, k, _ in cand])
    return [(idx[j], cand[j][1], cand[j][2]) for j in kept]


def ref_darknet(boxes, conf, probs, conf_thr, iou_thr):
    """darknet: threshold, per-class NMS zeroing suppressed scores (do_nms_sort), then each box's best class."""
    n, c = probs.shape
    b = boxes.double().tolist()
    score = [[float(conf[i]) * float(probs[i, k]) for k in range(c)] for i in range(n)]
    score = [[s if s > conf_thr else 0.0 for s in row] for row in score]
    for k in range(c):
        order = sorted(range(n), key=lambda i: -score[i][k])
        for pos, i in enumerate(order):
            if score[i][k] == 0:
                continue
            for j in order[pos + 1:]:
                if ref_iou(b[i], b[j]) > iou_thr:
                    score[j][k] = 0.0
    out = []
    for i in range(n):
        best = max(range(c), key=lambda k: (score[i][k], -k))
        if score[i][best] > conf_thr:
            out.append((i, best, score[i][best]))
    return sorted(out, key=lambda t: -t[2])


def random_boxes(n: int, gen: torch.Generator, img: float = 100.0, size: float = 30.0, dtype=torch.float32):
    xy = torch.rand(n, 2, generator=gen, dtype=torch.float64) * img
    wh = torch.rand(n, 2, generator=gen, dtype=torch.float64) * size + 0.5
    return torch.cat([xy, xy + wh], dim=1).to(dtype)


def distinct_scores(n: int, gen: torch.Generator, dtype=torch.float32) -> torch.Tensor:
    return (torch.randperm(n, generator=gen).to(torch.float64) / max(n, 1) + 0.001).to(dtype)


# ----------------------------------------------------------------------------------------------------------------
# nms
# ----------------------------------------------------------------------------------------------------------------
class TestNMS:
    @pytest.mark.parametrize("n", [1, 2, 10, 200, 1500])
    @pytest.mark.parametrize("thr", [0.0, 0.3, 0.5, 0.7, 1.0])
    def test_random_matches_torchvision(self, n, thr):
        gen = torch.Generator().manual_seed(n)
        b, s = random_boxes(n, gen), distinct_scores(n, gen)
        out = N.nms(b, s, thr)
        assert out.dtype == torch.int64
        torch.testing.assert_close(out, tvops.nms(b, s, thr), rtol=0, atol=0)

    @pytest.mark.parametrize("thr", [0.2, 0.5])
    def test_matches_slow_reference(self, thr):
        gen = torch.Generator().manual_seed(20)
        b, s = random_boxes(120, gen, dtype=torch.float64), distinct_scores(120, gen, torch.float64)
        assert N.nms(b, s, thr).tolist() == ref_nms(b, s, thr)

    @pytest.mark.parametrize("block", [1, 3, 7, 64])
    def test_block_boundaries(self, block):
        # the blocked computation must not depend on the block size
        gen = torch.Generator().manual_seed(21)
        b, s = random_boxes(150, gen, img=60.0), distinct_scores(150, gen)
        order = torch.sort(s, descending=True, stable=True).indices
        keep = N._greedy_keep(b[order], 0.4, block_size=block)
        assert order[keep].tolist() == ref_nms(b, s, 0.4)

    def test_long_suppression_chain(self):
        # boxes [0.4 k, 0.4 k + 1]: neighbours overlap with IoU 0.6 / 1.4 = 0.43 > 0.3, boxes two apart with
        # IoU 0.2 / 1.8 < 0.3. Greedy keeps every other box: each decision depends on the previous one.
        k = torch.arange(40, dtype=torch.float64)
        b = torch.stack([0.4 * k, torch.zeros_like(k), 0.4 * k + 1, torch.ones_like(k)], dim=1)
        s = 1.0 - k / 100
        out = N.nms(b, s, 0.3)
        assert out.tolist() == list(range(0, 40, 2)) == ref_nms(b, s, 0.3)
        torch.testing.assert_close(out, tvops.nms(b, s, 0.3))

    def test_empty(self):
        out = N.nms(torch.zeros(0, 4), torch.zeros(0), 0.5)
        assert out.shape == (0,) and out.dtype == torch.int64

    def test_all_identical_boxes(self):
        b = torch.tensor([[1.0, 2.0, 5.0, 7.0]]).repeat(6, 1)
        s = torch.tensor([0.1, 0.9, 0.3, 0.8, 0.2, 0.5])
        assert N.nms(b, s, 0.5).tolist() == [1] == tvops.nms(b, s, 0.5).tolist()
        # IoU = 1 is not > 1: threshold 1 keeps them all, by decreasing score
        assert N.nms(b, s, 1.0).tolist() == [1, 3, 5, 2, 4, 0] == tvops.nms(b, s, 1.0).tolist()

    def test_exactly_at_threshold(self):
        # [0,0,2,1] and [0,0,1,1]: IoU = 1 / 2 exactly in binary floating point
        b = torch.tensor([[0.0, 0.0, 2.0, 1.0], [0.0, 0.0, 1.0, 1.0]])
        s = torch.tensor([0.9, 0.8])
        assert N.nms(b, s, 0.5).tolist() == [0, 1] == tvops.nms(b, s, 0.5).tolist()  # equal is kept
        assert N.nms(b, s, 0.49).tolist() == [0] == tvops.nms(b, s, 0.49).tolist()

    def test_threshold_zero_keeps_touching_boxes(self):
        b = torch.tensor([[0.0, 0.0, 1.0, 1.0], [1.0, 0.0, 2.0, 1.0], [0.5, 0.5, 1.5, 1.5]])
        s = torch.tensor([0.9, 0.8, 0.7])
        assert N.nms(b, s, 0.0).tolist() == [0, 1] == tvops.nms(b, s, 0.0).tolist()

    def test_sorted_by_score_and_dtypes(self):
        gen = torch.Generator().manual_seed(22)
        b, s = random_boxes(100, gen, dtype=torch.float64), distinct_scores(100, gen, torch.float64)
        out = N.nms(b, s, 0.5)
        assert torch.all(s[out][1:] < s[out][:-1])
        torch.testing.assert_close(out, tvops.nms(b, s, 0.5))
        # half-precision boxes are compared in float32
        bh = b.half()
        assert N.nms(bh, s.half(), 0.5).tolist() == N.nms(bh.float(), s.half().float(), 0.5).tolist()

    def test_zero_area_boxes(self):
        b = torch.tensor([[1.0, 1.0, 1.0, 1.0], [1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 2.0, 2.0]])
        s = torch.tensor([0.9, 0.8, 0.7])
        # identical points: IoU 0/0 = NaN suppresses nothing, as in torchvision
        assert N.nms(b, s, 0.5).tolist() == [0, 1, 2] == tvops.nms(b, s, 0.5).tolist()

    def test_bad_inputs(self):
        b = torch.tensor([[0.0, 0.0, 1.0, 1.0], [0.0, 0.0, 2.0, 2.0]])
        s = torch.tensor([0.5, 0.4])
        with pytest.raises(ValueError, match=r"scores must have shape \[N\] = \[2\]"):
            N.nms(b, torch.tensor([0.5]), 0.5)
        with pytest.raises(ValueError, match="NaN"):
            N.nms(b, torch.tensor([0.5, float("nan")]), 0.5)
        with pytest.raises(TypeError, match="floating-point"):
            N.nms(b, torch.tensor([1, 2]), 0.5)
        with pytest.raises(ValueError, match=r"boxes\[1\]"):
            N.nms(torch.tensor([[0.0, 0.0, 1.0, 1.0], [3.0, 0.0, 2.0, 2.0]]), s, 0.5)
        with pytest.raises(ValueError, match=r"\[N, 4\]"):
            N.nms(b[None], s, 0.5)
        with pytest.raises(TypeError, match="iou_threshold"):
            N.nms(b, s, "0.5")
        with pytest.raises(ValueError, match="NaN"):
            N.nms(b, s, float("nan"))


# ----------------------------------------------------------------------------------------------------------------
# batched_nms
# ----------------------------------------------------------------------------------------------------------------
class TestBatchedNMS:
    @pytest.mark.parametrize("n", [5, 300, 1200])  # torchvision uses its offset trick up to 1000 boxes on a CPU
    @pytest.mark.parametrize("thr", [0.0, 0.5, 1.0])
    def test_random_matches_torchvision(self, n, thr):
        gen = torch.Generator().manual_seed(100 + n)
        b, s = random_boxes(n, gen), distinct_scores(n, gen)
        idxs = torch.randint(0, 4, (n,), generator=gen)
        torch.testing.assert_close(N.batched_nms(b, s, idxs, thr), tvops.batched_nms(b, s, idxs, thr), rtol=0, atol=0)

    def test_matches_per_class_reference(self):
        gen = torch.Generator().manual_seed(30)
        b, s = random_boxes(80, gen, dtype=torch.float64), distinct_scores(80, gen, torch.float64)
        idxs = torch.randint(0, 3, (80,), generator=gen)
        assert N.batched_nms(b, s, idxs, 0.4).tolist() == ref_nms(b, s, 0.4, classes=idxs.tolist())

    def test_negative_coordinates_stay_separated(self):
        # torchvision's offset (max + 1) lets classes overlap when coordinates go below -1; ours does not.
        b = torch.tensor([[-10.0, -10.0, 0.0, 0.0], [-9.0, -10.0, 1.0, 0.0]])
        s = torch.tensor([0.9, 0.8])
        idxs = torch.tensor([0, 1])
        assert N.batched_nms(b, s, idxs, 0.5).tolist() == [0, 1] == ref_nms(b, s, 0.5, classes=[0, 1])
        gen = torch.Generator().manual_seed(31)
        bb = random_boxes(60, gen, dtype=torch.float64) - 50.0
        ss = distinct_scores(60, gen, torch.float64)
        ii = torch.randint(-2, 3, (60,), generator=gen)  # negative category ids work too
        assert N.batched_nms(bb, ss, ii, 0.3).tolist() == ref_nms(bb, ss, 0.3, classes=ii.tolist())

    @pytest.mark.parametrize("strategy", ["offset", "per_class"])
    def test_strategies_agree(self, strategy):
        gen = torch.Generator().manual_seed(33)
        b, s = random_boxes(300, gen), distinct_scores(300, gen)
        idxs = torch.randint(0, 5, (300,), generator=gen)
        out = N.batched_nms(b, s, idxs, 0.45, strategy=strategy)
        assert out.tolist() == ref_nms(b, s, 0.45, classes=idxs.tolist())
        with pytest.raises(ValueError, match="strategy"):
            N.batched_nms(b, s, idxs, 0.45, strategy="vanilla")

    def test_same_class_is_plain_nms(self):
        gen = torch.Generator().manual_seed(32)
        b, s = random_boxes(50, gen), distinct_scores(50, gen)
        torch.testing.assert_close(N.batched_nms(b, s, torch.full((50,), 3), 0.5), N.nms(b, s, 0.5))

    def test_empty_and_bad(self):
        out = N.batched_nms(torch.zeros(0, 4), torch.zeros(0), torch.zeros(0, dtype=torch.int64), 0.5)
        assert out.shape == (0,) and out.dtype == torch.int64
        b = torch.tensor([[0.0, 0.0, 1.0, 1.0]])
        with pytest.raises(TypeError, match="integer"):
            N.batched_nms(b, torch.tensor([0.5]), torch.tensor([0.0]), 0.5)
        with pytest.raises(ValueError, match="idxs must have shape"):
            N.batched_nms(b, torch.tensor([0.5]), torch.tensor([0, 1]), 0.5)
        with pytest.raises(TypeError, match="idxs"):
            N.batched_nms(b, torch.tensor([0.5]), [0], 0.5)


# ----------------------------------------------------------------------------------------------------------------
# The two post-processing orders
# ----------------------------------------------------------------------------------------------------------------
def _as_tuples(d: dict[str, torch.Tensor], boxes: torch.Tensor) -> list[tuple[int, int, float]]:
    """(box index, label, score) for each detection, recovering the index from the box coordinates."""
    out = []
    for box, label, score in zip(d["boxes"], d["labels"].tolist(), d["scores"].tolist()):
        i = int(torch.nonzero((boxes == box).all(dim=1))[0, 0])
        out.append((i, label, score))
    return out


class TestOrders:
    @pytest.mark.parametrize("seed", [0, 1, 2])
    def test_against_references(self, seed):
        gen = torch.Generator().manual_seed(seed)
        n, c = 60, 4
        boxes = random_boxes(n, gen, img=50.0, dtype=torch.float64)
        conf = torch.rand(n, generator=gen, dtype=torch.float64)
        probs = torch.softmax(3 * torch.randn(n, c, generator=gen, dtype=torch.float64), dim=1)
        kw = dict(conf_threshold=0.1, iou_threshold=0.4)
        a = N.filter_then_nms(boxes, conf, probs, **kw)
        d = N.nms_then_classify(boxes, conf, probs, **kw)
        for out in (a, d):
            assert out["labels"].dtype == torch.int64 and out["boxes"].shape == (len(out["scores"]), 4)
            assert torch.all(out["scores"][1:] <= out["scores"][:-1])
        ref_a = ref_filter_then_nms(boxes, conf, probs, 0.1, 0.4)
        ref_d = ref_darknet(boxes, conf, probs, 0.1, 0.4)
        assert [(i, k) for i, k, _ in _as_tuples(a, boxes)] == [(i, k) for i, k, _ in ref_a]
        assert [(i, k) for i, k, _ in _as_tuples(d, boxes)] == [(i, k) for i, k, _ in ref_d]
        torch.testing.assert_close(a["scores"], torch.tensor([s for *_, s in ref_a], dtype=torch.float64))
        torch.testing.assert_close(d["scores"], torch.tensor([s for *_, s in ref_d], dtype=torch.float64))

    def test_orders_differ_example(self):
        ex = N.orders_differ_example()
        a = N.filter_then_nms(**ex)
        d = N.nms_then_classify(**ex)
        # filter_then_nms: B is a cat (0.48) and NMS among cats removes it -> only A (cat, 0.81)
        assert a["labels"].tolist() == [0]
        torch.testing.assert_close(a["scores"], torch.tensor([0.81], dtype=torch.float64))
        # darknet: B loses the cat list but keeps its dog score 0.32 -> A (cat, 0.81) and B (dog, 0.32)
        assert d["labels"].tolist() == [0, 1]
        torch.testing.assert_close(d["scores"], torch.tensor([0.81, 0.32], dtype=torch.float64))
        torch.testing.assert_close(d["boxes"], ex["boxes"])
        ref = ref_darknet(ex["boxes"], ex["confidences"], ex["class_probs"], 0.2, 0.5)
        assert [(i, k) for i, k, _ in ref] == [(0, 0), (1, 1)]
        assert [s for *_, s in ref] == pytest.approx([0.81, 0.32], abs=1e-15)

    def test_same_when_one_class(self):
        gen = torch.Generator().manual_seed(5)
        boxes = random_boxes(40, gen, img=40.0, dtype=torch.float64)
        conf = torch.rand(40, generator=gen, dtype=torch.float64)
        probs = torch.ones(40, 1, dtype=torch.float64)
        a = N.filter_then_nms(boxes, conf, probs, 0.2, 0.5)
        d = N.nms_then_classify(boxes, conf, probs, 0.2, 0.5)
        for key in ("boxes", "scores", "labels"):
            torch.testing.assert_close(a[key], d[key])

    def test_nothing_above_threshold(self):
        boxes = torch.tensor([[0.0, 0.0, 1.0, 1.0]])
        for fn in (N.filter_then_nms, N.nms_then_classify):
            out = fn(boxes, torch.tensor([0.1]), torch.tensor([[0.5, 0.5]]), 0.2, 0.5)
            assert out["boxes"].shape == (0, 4) and out["labels"].dtype == torch.int64

    def test_bad_inputs(self):
        boxes = torch.tensor([[0.0, 0.0, 1.0, 1.0], [0.0, 0.0, 2.0, 2.0]])
        conf = torch.tensor([0.9, 0.8])
        with pytest.raises(ValueError, match=r"class_probs must have shape \[N, C\] = \[2, C\]"):
            N.filter_then_nms(boxes, conf, torch.ones(3, 2), 0.2, 0.5)
        with pytest.raises(ValueError, match=r"confidences must have shape"):
            N.nms_then_classify(boxes, torch.tensor([0.9]), torch.ones(2, 2), 0.2, 0.5)
        with pytest.raises(ValueError, match="class_probs contains NaN"):
            N.nms_then_classify(boxes, conf, torch.tensor([[0.5, float("nan")], [1.0, 0.0]]), 0.2, 0.5)
        with pytest.raises(TypeError, match="conf_threshold"):
            N.filter_then_nms(boxes, conf, torch.ones(2, 2), None, 0.5)
