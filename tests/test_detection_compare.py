"""The closing comparison (course_lib.detection.compare) and its FPS benchmark script, at toy sizes. Speeds and
mAPs are measured by running them (the chapter 17 lab, benchmarks/bench_yolo_fps.py), never asserted here."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import pytest
import torch

from course_lib.detection import compare

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _toy_data(n, seed):
    gen = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n, 1, 64, 64), dtype=torch.uint8, generator=gen)
    targets = []
    for _ in range(n):
        xy = torch.rand(2, 2, generator=gen) * 0.6
        targets.append({"boxes": torch.cat([xy, xy + 0.3], 1), "labels": torch.randint(0, 3, (2,), generator=gen)})
    return images, targets


def test_adapters_in_historical_order_and_each_one_trains_and_decodes():
    names = compare.available_adapters()
    assert names[0] == "YOLOv1" and "YOLOv4-tiny" in names
    order = [n for n in ("YOLOv1", "YOLOv2", "YOLOv3", "YOLOv4-tiny") if n in names]
    assert names[: len(order)] == order
    train, test = _toy_data(8, 0), _toy_data(4, 1)
    budget = compare.Budget(steps=2, batch_size=4, warmup_steps=1)
    rows = compare.compare_detectors(None, train, test, 64, 3, budget, fps_batch_sizes=(1, 2), fps_repeats=1,
                                     verbose=False)
    assert [r["name"] for r in rows] == names
    for r in rows:
        assert "error" not in r, r
        assert r["steps"] == 2 and r["params"] > 0
        assert all(math.isfinite(r[k]) for k in ("first_loss", "final_loss", "fps_b1", "fps_b2"))
        assert 0.0 <= r["map50"] <= 1.0 or math.isnan(r["map50"])
    table = compare.format_table(rows, (1, 2))
    assert table.count("\n") == len(rows) + 1 and "FPS batch 2" in table


def test_a_version_that_cannot_take_the_size_is_reported_not_raised():
    rows = compare.compare_detectors(["YOLOv1"], _toy_data(4, 0), _toy_data(2, 1), 72, 3,
                                     compare.Budget(steps=1, batch_size=2, warmup_steps=0), verbose=False)
    assert "error" in rows[0] and "n/a" in compare.format_table(rows)


def test_bad_inputs():
    with pytest.raises(ValueError):
        compare.Budget(steps=0)
    with pytest.raises(ValueError):
        compare.Budget(steps=5, warmup_steps=5)
    with pytest.raises(ValueError):
        compare.compare_detectors(["YOLOv9"], _toy_data(4, 0), _toy_data(2, 1), 64, 3, compare.Budget(steps=1))
    with pytest.raises(TypeError):
        compare.register_adapter("YOLOv1")
    with pytest.raises(ValueError):
        compare.measure_fps(torch.nn.Conv2d(3, 1, 1), 8, 0)


def test_measure_fps_counts_images():
    out = compare.measure_fps(torch.nn.Conv2d(3, 2, 3), 16, 4, repeats=3, warmup=0)
    assert out["batch_size"] == 4 and len(out["runs"]) == 3 and out["fps"] > 0 and out["ms_per_batch"] > 0


def test_bench_yolo_fps_runs(capsys):
    bench = _load("bench_yolo_fps")
    rows = bench.bench(torch.device("cpu"), 64, (1, 2), repeats=1, warmup=0, min_seconds=0.0,
                       names=["YOLOv4-tiny"])
    assert rows[0]["params"] > 0 and rows[0]["fps_b1"] > 0 and rows[0]["fps_b2"] > 0
    bench.main(["--device", "cpu", "--image-size", "64", "--batch-sizes", "1", "--repeats", "1", "--warmup", "0",
                "--versions", "YOLOv1", "YOLOv4-tiny"])
    out = capsys.readouterr().out
    assert "CPU threads" in out and "| YOLOv4-tiny | 64 x 64 |" in out
