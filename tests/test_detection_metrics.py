"""Tests of course_lib.detection.metrics: hand-worked examples, a slow reference written as plain loops (the VOC
devkit's and pycocotools' procedures, re-expressed), and bad inputs.

pycocotools and torchmetrics are not installed in the course environment; the COCO path is checked against the
slow reference below, which follows pycocotools' ``evaluateImg``/``accumulate`` step by step.
"""

from __future__ import annotations

import math

import pytest
import torch

from course_lib.detection import metrics as M


# ----------------------------------------------------------------------------------------------------------------
# Slow reference
# ----------------------------------------------------------------------------------------------------------------
def ref_iou(a, b) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def ref_ap(rec: list[float], prec: list[float], method: str) -> float:
    if not rec:
        return 0.0
    if method == "voc07":
        total = 0.0
        for k in range(11):
            t = k / 10
            ps = [p for r, p in zip(rec, prec) if r >= t]
            total += max(ps) if ps else 0.0
        return total / 11
    if method == "voc":
        mrec = [0.0] + list(rec) + [1.0]
        mpre = [0.0] + list(prec) + [0.0]
        for i in range(len(mpre) - 2, -1, -1):
            mpre[i] = max(mpre[i], mpre[i + 1])
        return sum((mrec[i + 1] - mrec[i]) * mpre[i + 1] for i in range(len(mrec) - 1) if mrec[i + 1] != mrec[i])
    # coco: envelope, then for each recall threshold the first point reaching it
    pr = list(prec)
    for i in range(len(pr) - 1, 0, -1):
        if pr[i] > pr[i - 1]:
            pr[i - 1] = pr[i]
    total = 0.0
    for k in range(101):
        t = k / 100
        idx = next((i for i, r in enumerate(rec) if r >= t), None)
        total += pr[idx] if idx is not None else 0.0
    return total / 101


def ref_curve(outcomes: list[tuple[float, bool]], npos: int) -> tuple[list[float], list[float]]:
    """outcomes: (score, is_tp) of the non-ignored detections; stable sort by decreasing score."""
    ordered = sorted(outcomes, key=lambda o: -o[0])
    tp = fp = 0
    rec, prec = [], []
    for _, hit in ordered:
        tp += hit
        fp += not hit
        rec.append(tp / npos)
        prec.append(tp / (tp + fp))
    return rec, prec


def ref_match_voc(dets, gts, thr):
    """dets: list of (score, box); gts: list of (box, difficult). Returns outcome per det: 1, 0, -1."""
    order = sorted(range(len(dets)), key=lambda i: -dets[i][0])
    used = [False] * len(gts)
    out = [0] * len(dets)
    for i in order:
        best, jbest = -math.inf, -1
        for j, (g, _) in enumerate(gts):
            o = ref_iou(dets[i][1], g)
            if o > best:
                best, jbest = o, j
        if jbest >= 0 and best > thr:
            if gts[jbest][1]:
                out[i] = -1
            elif not used[jbest]:
                out[i], used[jbest] = 1, True
            else:
                out[i] = 0
        else:
            out[i] = 0
    return out


def ref_match_coco(dets, gts, thr):
    """pycocotools' evaluateImg for one threshold (no crowd; difficult = ignored), boxes sorted ignored-last."""
    order = sorted(range(len(dets)), key=lambda i: -dets[i][0])
    gorder = sorted(range(len(gts)), key=lambda j: gts[j][1])  # regular boxes first (stable)
    used = [False] * len(gts)
    out = [0] * len(dets)
    for i in order:
        best_iou, m = min(thr, 1 - 1e-10), -1
        for j in gorder:
            if used[j]:
                continue
            if m > -1 and not gts[m][1] and gts[j][1]:
                break
            o = ref_iou(dets[i][1], gts[j][0])
            if o < best_iou:
                continue
            best_iou, m = o, j
        if m > -1:
            used[m] = True
            out[i] = -1 if gts[m][1] else 1
    return out


def ref_map(detections, targets, thr, method, max_det=None):
    classes = set()
    for t in targets:
        classes |= set(t["labels"].tolist())
    for d in detections:
        classes |= set(d["labels"].tolist())
    aps = {}
    for c in sorted(classes):
        outcomes, npos = [], 0
        for det, tgt in zip(detections, targets):
            diff = tgt.get("difficult", torch.zeros(len(tgt["labels"]), dtype=torch.bool)).tolist()
            gts = [(b, d) for b, l, d in zip(tgt["boxes"].tolist(), tgt["labels"].tolist(), diff) if l == c]
            npos += sum(1 for _, d in gts if not d)
            ds = [(s, b) for b, s, l in zip(det["boxes"].tolist(), det["scores"].tolist(), det["labels"].tolist()) if l == c]
            if max_det is not None:
                ds = sorted(ds, key=lambda x: -x[0])[:max_det]
            res = (ref_match_coco if method == "coco" else ref_match_voc)(ds, gts, thr)
            outcomes += [(s, r == 1) for (s, _), r in zip(ds, res) if r != -1]
        if npos == 0:
            aps[c] = math.nan
            continue
        rec, prec = ref_curve(outcomes, npos)
        aps[c] = ref_ap(rec, prec, method)
    valid = [a for a in aps.values() if not math.isnan(a)]
    return (sum(valid) / len(valid) if valid else math.nan), aps


def random_dataset(gen: torch.Generator, n_images: int = 12, n_classes: int = 3, difficult: bool = True,
                   region: float = 80.0, jitter: float = 1.5):
    detections, targets = [], []
    for _ in range(n_images):
        g = int(torch.randint(1, 6, (1,), generator=gen))
        xy = torch.rand(g, 2, generator=gen, dtype=torch.float64) * region
        wh = torch.rand(g, 2, generator=gen, dtype=torch.float64) * 30 + 5
        gt = torch.cat([xy, xy + wh], dim=1)
        labels = torch.randint(0, n_classes, (g,), generator=gen)
        tgt = {"boxes": gt, "labels": labels}
        if difficult:
            tgt["difficult"] = torch.rand(g, generator=gen) < 0.2
        targets.append(tgt)
        # detections: jittered copies (some twice: duplicates), and random false alarms
        rep = torch.randint(0, 3, (g,), generator=gen)
        src = torch.repeat_interleave(torch.arange(g), rep)
        jit = gt[src] + torch.randn(len(src), 4, generator=gen, dtype=torch.float64) * jitter
        jit = torch.cat([jit[:, :2], torch.maximum(jit[:, 2:], jit[:, :2] + 1)], dim=1)
        f = int(torch.randint(0, 4, (1,), generator=gen))
        fxy = torch.rand(f, 2, generator=gen, dtype=torch.float64) * region
        false = torch.cat([fxy, fxy + torch.rand(f, 2, generator=gen, dtype=torch.float64) * 30 + 5], dim=1)
        dl = torch.cat([labels[src], torch.randint(0, n_classes, (f,), generator=gen)])
        flip = torch.rand(len(dl), generator=gen) < 0.1  # some wrong labels
        dl = torch.where(flip, (dl + 1) % n_classes, dl)
        boxes = torch.cat([jit, false])
        detections.append({"boxes": boxes, "scores": torch.rand(len(boxes), generator=gen, dtype=torch.float64),
                           "labels": dl})
    return detections, targets


# ----------------------------------------------------------------------------------------------------------------
# Hand-worked examples
# ----------------------------------------------------------------------------------------------------------------
class TestAveragePrecisionByHand:
    # Ranked detections TP, FP, TP, FP, FP, TP with P = 4 ground-truth boxes (one never found):
    #   precision 1, 1/2, 2/3, 1/2, 2/5, 1/2;  recall 1/4, 1/4, 1/2, 1/2, 1/2, 3/4
    #   monotone envelope of the precision: 1, 2/3, 2/3, 1/2, 1/2, 1/2
    SCORES = torch.tensor([0.9, 0.8, 0.7, 0.6, 0.5, 0.4])
    TP_FLAGS = torch.tensor([True, False, True, False, False, True])

    def curve(self):
        return M.precision_recall_curve(self.SCORES, self.TP_FLAGS, 4)

    def test_curve(self):
        precision, recall, scores = self.curve()
        torch.testing.assert_close(precision, torch.tensor([1, 1 / 2, 2 / 3, 1 / 2, 2 / 5, 1 / 2], dtype=torch.float64))
        torch.testing.assert_close(recall, torch.tensor([1 / 4, 1 / 4, 1 / 2, 1 / 2, 1 / 2, 3 / 4], dtype=torch.float64))
        torch.testing.assert_close(scores, self.SCORES.double())

    def test_voc_all_point(self):
        # area under the envelope: 1/4 * 1 + 1/4 * 2/3 + 1/4 * 1/2 = 13/24
        precision, recall, _ = self.curve()
        assert M.average_precision(recall, precision, "voc") == pytest.approx(13 / 24, abs=1e-15)

    def test_voc07_eleven_point(self):
        # t = 0, .1, .2 -> 1;  t = .3, .4, .5 -> 2/3;  t = .6, .7 -> 1/2;  t = .8, .9, 1 -> 0:  (3 + 2 + 1) / 11
        precision, recall, _ = self.curve()
        assert M.average_precision(recall, precision, "voc07") == pytest.approx(6 / 11, abs=1e-15)

    def test_coco_101_point(self):
        # t <= .25 (26 thresholds) -> 1;  .25 < t <= .5 (25) -> 2/3;  .5 < t <= .75 (25) -> 1/2;  t > .75 (25) -> 0
        precision, recall, _ = self.curve()
        assert M.average_precision(recall, precision, "coco") == pytest.approx((26 + 25 * 2 / 3 + 12.5) / 101, abs=1e-15)

    @pytest.mark.parametrize("method", M.AP_METHODS)
    def test_perfect_and_empty(self, method):
        assert M.average_precision(torch.tensor([0.5, 1.0]), torch.tensor([1.0, 1.0]), method) == pytest.approx(1.0)
        assert M.average_precision(torch.zeros(0), torch.zeros(0), method) == 0.0
        assert M.average_precision([0.0, 0.0], [0.0, 0.0], method) == 0.0  # only false positives

    def test_exact_recall_thresholds_are_reached(self):
        # recall exactly 0.3 and 0.07 reach the thresholds 0.3 and 0.07 (k/10, k/100 as exact ratios)
        r, p = torch.tensor([3 / 10]), torch.tensor([1.0])
        assert M.average_precision(r, p, "voc07") == pytest.approx(4 / 11, abs=1e-15)  # t = 0, .1, .2, .3
        r = torch.tensor([7 / 100])
        assert M.average_precision(r, p, "coco") == pytest.approx(8 / 101, abs=1e-15)  # t = 0, ..., .07

    @pytest.mark.parametrize("method", M.AP_METHODS)
    def test_against_reference_on_random_curves(self, method):
        gen = torch.Generator().manual_seed(0)
        for _ in range(5):
            d = int(torch.randint(1, 40, (1,), generator=gen))
            tp = torch.rand(d, generator=gen) < 0.5
            scores = torch.rand(d, generator=gen, dtype=torch.float64)
            npos = int(tp.sum()) + int(torch.randint(0, 5, (1,), generator=gen)) + 1
            precision, recall, _ = M.precision_recall_curve(scores, tp, npos)
            rec, prec = ref_curve(list(zip(scores.tolist(), tp.tolist())), npos)
            torch.testing.assert_close(precision, torch.tensor(prec, dtype=torch.float64))
            torch.testing.assert_close(recall, torch.tensor(rec, dtype=torch.float64))
            assert M.average_precision(recall, precision, method) == pytest.approx(ref_ap(rec, prec, method), abs=1e-12)


class TestMatchingByHand:
    # One image, one class. Ground truth: g0 = [0,0,10,10], g1 = [20,0,30,10] (difficult), g2 = [40,0,50,10].
    #   d0 (0.9) = g0                 IoU(g0) = 1                 -> TP
    #   d1 (0.8) = [0,0,10,9]         IoU(g0) = 0.9, g0 taken     -> FP (duplicate)
    #   d2 (0.7) = g1                 IoU(g1) = 1, difficult       -> ignored
    #   d3 (0.6) = [40,0,50,5]        IoU(g2) = 50/100 = 0.5       -> VOC: FP (must exceed 0.5); COCO: TP (>= 0.5)
    #   d4 (0.5) = [40,0,50,6]        IoU(g2) = 0.6                -> VOC: TP (g2 still free); COCO: FP (g2 taken)
    #   d5 (0.4) = [60,0,70,10]       no overlap                   -> FP
    GT = torch.tensor([[0.0, 0, 10, 10], [20, 0, 30, 10], [40, 0, 50, 10]])
    DIFFICULT = torch.tensor([False, True, False])
    DET = torch.tensor([[0.0, 0, 10, 10], [0, 0, 10, 9], [20, 0, 30, 10], [40, 0, 50, 5], [40, 0, 50, 6], [60, 0, 70, 10]])
    SCORES = torch.tensor([0.9, 0.8, 0.7, 0.6, 0.5, 0.4])

    def test_voc_outcomes(self):
        out = M.match_detections(self.DET, self.SCORES, self.GT, self.DIFFICULT, 0.5, "voc")
        assert out.tolist() == [M.TP, M.FP, M.IGNORED, M.FP, M.TP, M.FP]

    def test_coco_outcomes(self):
        out = M.match_detections(self.DET, self.SCORES, self.GT, self.DIFFICULT, 0.5, "coco")
        assert out.tolist() == [M.TP, M.FP, M.IGNORED, M.TP, M.FP, M.FP]

    def test_input_order_is_kept(self):
        perm = torch.tensor([3, 0, 5, 1, 4, 2])
        out = M.match_detections(self.DET[perm], self.SCORES[perm], self.GT, self.DIFFICULT, 0.5, "voc")
        assert out.tolist() == [M.FP, M.TP, M.FP, M.FP, M.TP, M.IGNORED]

    def test_voc_ap(self):
        # without d2: TP FP FP TP FP, P = 2: precision 1, 1/2, 1/3, 1/2, 2/5; recall 1/2, 1/2, 1/2, 1, 1
        # envelope 1, 1/2, 1/2, 1/2, 2/5: all-point AP = 1/2 * 1 + 1/2 * 1/2 = 3/4
        # 11-point: t <= .5 (6 thresholds) -> 1, t >= .6 (5) -> 1/2:  (6 + 2.5) / 11
        dets = [{"boxes": self.DET, "scores": self.SCORES, "labels": torch.zeros(6, dtype=torch.int64)}]
        tgts = [{"boxes": self.GT, "labels": torch.zeros(3, dtype=torch.int64), "difficult": self.DIFFICULT}]
        res = M.mean_average_precision(dets, tgts, 0.5, "voc")
        assert res["map"] == pytest.approx(3 / 4, abs=1e-15)
        assert res["num_positives"] == {0: 2}
        assert M.mean_average_precision(dets, tgts, 0.5, "voc07")["map"] == pytest.approx(8.5 / 11, abs=1e-15)
        # COCO order: TP FP TP FP FP: precision 1, 1/2, 2/3, 1/2, 2/5; recall 1/2, 1/2, 1, 1, 1
        # envelope 1, 2/3, 2/3, 1/2, 2/5: t <= .5 (51 thresholds) -> 1, t > .5 (50) -> 2/3
        assert M.mean_average_precision(dets, tgts, 0.5, "coco")["map"] == pytest.approx((51 + 100 / 3) / 101, abs=1e-15)

    def test_coco_prefers_regular_boxes(self):
        # one detection overlapping a difficult box (IoU 1) and a regular one (IoU 0.6): COCO takes the regular one
        gt = torch.tensor([[0.0, 0, 10, 10], [0, 0, 10, 6]])
        det = torch.tensor([[0.0, 0, 10, 10]])
        out = M.match_detections(det, torch.tensor([0.9]), gt, torch.tensor([True, False]), 0.5, "coco")
        assert out.tolist() == [M.TP]
        # VOC compares with the best box only, which is difficult: ignored
        out = M.match_detections(det, torch.tensor([0.9]), gt, torch.tensor([True, False]), 0.5, "voc")
        assert out.tolist() == [M.IGNORED]

    def test_voc_does_not_reroute_to_a_second_box(self):
        # d1's best box is g0, already taken by d0, so d1 is a FP even though it overlaps g1 enough (VOC rule);
        # COCO gives d1 the free box g1.
        gt = torch.tensor([[0.0, 0, 10, 10], [2, 0, 12, 10]])
        det = torch.tensor([[0.0, 0, 10, 10], [1, 0, 11, 10]])  # d1: IoU(g0) = IoU(g1) = 9/11, first max is g0
        s = torch.tensor([0.9, 0.8])
        assert M.match_detections(det, s, gt, None, 0.5, "voc").tolist() == [M.TP, M.FP]
        assert M.match_detections(det, s, gt, None, 0.5, "coco").tolist() == [M.TP, M.TP]

    def test_labels_restrict_matching(self):
        det = torch.tensor([[0.0, 0, 10, 10]])
        gt = torch.tensor([[0.0, 0, 10, 10]])
        out = M.match_detections(det, torch.tensor([0.9]), gt, det_labels=torch.tensor([1]), gt_labels=torch.tensor([2]))
        assert out.tolist() == [M.FP]

    def test_no_ground_truth_or_no_detections(self):
        assert M.match_detections(torch.tensor([[0.0, 0, 1, 1]]), torch.tensor([0.5]), torch.zeros(0, 4)).tolist() == [M.FP]
        assert M.match_detections(torch.zeros(0, 4), torch.zeros(0), self.GT).tolist() == []


class TestMeanAPByHand:
    # Image A: ground truth cat [0,0,10,10], dog [20,20,40,40]. Detections: cat [0,0,10,10] 0.9 (TP);
    #   dog [0,0,10,10] 0.8 (FP: no dog there); dog [21,21,40,40] 0.7 (IoU 19*19/400 = 0.9025: TP).
    # Image B: ground truth cat [5,5,15,15]. Detections: cat [5,5,15,15] 0.6 (TP); cat [30,30,40,40] 0.95 (FP);
    #   bird [0,0,5,5] 0.5 (no bird anywhere: AP undefined, left out of the mean).
    # cat: FP 0.95, TP 0.9, TP 0.6, P = 2: precision 0, 1/2, 2/3, recall 0, 1/2, 1; envelope 2/3 everywhere: AP = 2/3
    # dog: FP 0.8, TP 0.7, P = 1: precision 0, 1/2, recall 0, 1; envelope 1/2: AP = 1/2.  mAP = 7/12 (all methods).
    CAT, DOG, BIRD = 0, 1, 2

    def data(self):
        dets = [
            {"boxes": torch.tensor([[0.0, 0, 10, 10], [0, 0, 10, 10], [21, 21, 40, 40]]),
             "scores": torch.tensor([0.9, 0.8, 0.7]), "labels": torch.tensor([self.CAT, self.DOG, self.DOG])},
            {"boxes": torch.tensor([[5.0, 5, 15, 15], [30, 30, 40, 40], [0, 0, 5, 5]]),
             "scores": torch.tensor([0.6, 0.95, 0.5]), "labels": torch.tensor([self.CAT, self.CAT, self.BIRD])},
        ]
        tgts = [
            {"boxes": torch.tensor([[0.0, 0, 10, 10], [20, 20, 40, 40]]), "labels": torch.tensor([self.CAT, self.DOG])},
            {"boxes": torch.tensor([[5.0, 5, 15, 15]]), "labels": torch.tensor([self.CAT])},
        ]
        return dets, tgts

    @pytest.mark.parametrize("method", M.AP_METHODS)
    def test_map(self, method):
        res = M.mean_average_precision(*self.data(), iou_threshold=0.5, method=method)
        assert res["ap"][self.CAT] == pytest.approx(2 / 3, abs=1e-15)
        assert res["ap"][self.DOG] == pytest.approx(1 / 2, abs=1e-15)
        assert math.isnan(res["ap"][self.BIRD])
        assert res["map"] == pytest.approx(7 / 12, abs=1e-15)
        assert res["num_positives"] == {self.CAT: 2, self.DOG: 1, self.BIRD: 0}
        torch.testing.assert_close(res["recall"][self.CAT], torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64))

    def test_coco_map(self):
        # cat: IoU 1 everywhere -> 2/3 at every threshold. dog: IoU 0.9025 -> 1/2 up to 0.90, 0 at 0.95.
        res = M.coco_map(*self.data())
        assert res["ap"][self.DOG] == pytest.approx(9 * 0.5 / 10, abs=1e-15)
        assert res["map"] == pytest.approx((2 / 3 + 0.45) / 2, abs=1e-15)
        assert res["map_50"] == pytest.approx(7 / 12, abs=1e-15)
        assert res["map_75"] == pytest.approx(7 / 12, abs=1e-15)
        assert res["map_per_iou"][0.95] == pytest.approx(1 / 3, abs=1e-15)

    def test_higher_threshold(self):
        # at 0.95 the dog detection no longer matches: dog AP 0
        res = M.mean_average_precision(*self.data(), iou_threshold=0.95, method="voc")
        assert res["ap"][self.DOG] == 0.0

    def test_explicit_classes_and_max_detections(self):
        res = M.mean_average_precision(*self.data(), classes=[self.CAT])
        assert list(res["ap"]) == [self.CAT] and res["map"] == pytest.approx(2 / 3)
        # one detection per image and class: image B keeps only its 0.95 cat (FP); the 0.6 TP is dropped
        # cat: FP 0.95, TP 0.9, P = 2: precision 0, 1/2, recall 0, 1/2 -> VOC AP = 1/2 * 1/2 = 1/4
        res = M.mean_average_precision(*self.data(), max_detections=1)
        assert res["ap"][self.CAT] == pytest.approx(1 / 4, abs=1e-15)

    def test_no_ground_truth_at_all(self):
        dets = [{"boxes": torch.tensor([[0.0, 0, 1, 1]]), "scores": torch.tensor([0.5]), "labels": torch.tensor([0])}]
        tgts = [{"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.int64)}]
        assert math.isnan(M.mean_average_precision(dets, tgts)["map"])


# ----------------------------------------------------------------------------------------------------------------
# Against the slow reference on random data sets
# ----------------------------------------------------------------------------------------------------------------
class TestAgainstReference:
    @pytest.mark.parametrize("method", M.AP_METHODS)
    @pytest.mark.parametrize("thr", [0.5, 0.75])
    def test_map(self, method, thr):
        gen = torch.Generator().manual_seed(int(thr * 100) + len(method))
        dets, tgts = random_dataset(gen)
        res = M.mean_average_precision(dets, tgts, thr, method)
        ref_m, ref_aps = ref_map(dets, tgts, thr, method)
        assert res["map"] == pytest.approx(ref_m, abs=1e-12)
        assert set(res["ap"]) == set(ref_aps)
        for c, a in ref_aps.items():
            assert res["ap"][c] == pytest.approx(a, abs=1e-12, nan_ok=True)

    def test_coco_map(self):
        gen = torch.Generator().manual_seed(7)
        dets, tgts = random_dataset(gen, n_images=10)
        res = M.coco_map(dets, tgts, max_detections=2)  # a small cap, so that it matters
        per = [ref_map(dets, tgts, t, "coco", max_det=2)[0] for t in M.COCO_IOU_THRESHOLDS]
        assert res["map"] == pytest.approx(sum(per) / 10, abs=1e-12)
        for t, v in zip(M.COCO_IOU_THRESHOLDS, per):
            assert res["map_per_iou"][t] == pytest.approx(v, abs=1e-12)

    def test_match_rules(self):
        gen = torch.Generator().manual_seed(8)
        dets, tgts = random_dataset(gen, n_images=30, n_classes=1, region=25.0)  # crowded: the rules differ
        for det, tgt in zip(dets, tgts):
            ds = list(zip(det["scores"].tolist(), det["boxes"].tolist()))
            gts = list(zip(tgt["boxes"].tolist(), tgt["difficult"].tolist()))
            for rule, ref in (("voc", ref_match_voc), ("coco", ref_match_coco)):
                out = M.match_detections(det["boxes"], det["scores"], tgt["boxes"], tgt["difficult"], 0.5, rule)
                assert out.tolist() == ref(ds, gts, 0.5)


# ----------------------------------------------------------------------------------------------------------------
# Bad inputs
# ----------------------------------------------------------------------------------------------------------------
class TestBadInputs:
    def test_average_precision(self):
        with pytest.raises(ValueError, match="method"):
            M.average_precision([0.5], [1.0], "voc12")
        with pytest.raises(ValueError, match="non-decreasing"):
            M.average_precision([0.5, 0.4], [1.0, 1.0], "voc")
        with pytest.raises(ValueError, match=r"\[0, 1\]"):
            M.average_precision([0.5, 1.2], [1.0, 1.0], "voc")
        with pytest.raises(ValueError, match="same length"):
            M.average_precision([0.5, 1.0], [1.0], "voc")
        with pytest.raises(ValueError, match="NaN"):
            M.average_precision([0.5, float("nan")], [1.0, 1.0], "voc")
        with pytest.raises(ValueError, match="1-D"):
            M.average_precision(torch.zeros(2, 2), torch.zeros(2, 2), "voc")

    def test_precision_recall_curve(self):
        with pytest.raises(ValueError, match="at least 1"):
            M.precision_recall_curve(torch.tensor([0.5]), torch.tensor([True]), 0)
        with pytest.raises(ValueError, match="2 true positives"):
            M.precision_recall_curve(torch.tensor([0.5, 0.4]), torch.tensor([True, True]), 1)
        with pytest.raises(ValueError, match="same length"):
            M.precision_recall_curve(torch.tensor([0.5, 0.4]), torch.tensor([True]), 1)
        with pytest.raises(ValueError, match="0/1"):
            M.precision_recall_curve(torch.tensor([0.5]), torch.tensor([2]), 1)
        with pytest.raises(ValueError, match="0/1"):
            M.precision_recall_curve([0.5], [0.5], 1)
        with pytest.raises(TypeError, match="num_positives"):
            M.precision_recall_curve(torch.tensor([0.5]), torch.tensor([1]), 1.0)

    def test_ties_are_stable(self):
        precision, recall, _ = M.precision_recall_curve(torch.tensor([0.5, 0.5]), torch.tensor([False, True]), 1)
        torch.testing.assert_close(precision, torch.tensor([0.0, 0.5], dtype=torch.float64))

    def test_dataset_format(self):
        det = {"boxes": torch.tensor([[0.0, 0, 1, 1]]), "scores": torch.tensor([0.5]), "labels": torch.tensor([0])}
        tgt = {"boxes": torch.tensor([[0.0, 0, 1, 1]]), "labels": torch.tensor([0])}
        with pytest.raises(ValueError, match="one entry per image"):
            M.mean_average_precision([det], [tgt, tgt])
        with pytest.raises(ValueError, match=r"detections\[0\] is missing the key\(s\) \['scores'\]"):
            M.mean_average_precision([{"boxes": det["boxes"], "labels": det["labels"]}], [tgt])
        with pytest.raises(TypeError, match="dict"):
            M.mean_average_precision([det["boxes"]], [tgt])
        with pytest.raises(ValueError, match=r"image 0: scores must have one entry per detection"):
            M.mean_average_precision([{**det, "scores": torch.tensor([0.5, 0.4])}], [tgt])
        with pytest.raises(ValueError, match=r"image 0: ground-truth boxes\[0\]"):
            M.mean_average_precision([det], [{**tgt, "boxes": torch.tensor([[1.0, 0, 0, 1]])}])
        with pytest.raises(TypeError, match="integers"):
            M.mean_average_precision([{**det, "labels": torch.tensor([0.0])}], [tgt])
        with pytest.raises(ValueError, match="iou_threshold"):
            M.mean_average_precision([det], [tgt], iou_threshold=1.5)
        with pytest.raises(ValueError, match="difficult must have one entry"):
            M.mean_average_precision([det], [{**tgt, "difficult": torch.tensor([True, False])}])
        with pytest.raises(ValueError, match="rule"):
            M.match_detections(det["boxes"], det["scores"], tgt["boxes"], rule="pascal")
