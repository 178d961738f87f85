"""Benchmark: frames per second of the YOLO versions of the course, one script for all of them.

    python benchmarks/bench_yolo_fps.py                          # CPU, the CPU-sized variants at 96 x 96
    python benchmarks/bench_yolo_fps.py --threads 1 --repeats 9  # on a busy machine
    python benchmarks/bench_yolo_fps.py --device cuda --paper    # a GPU, and darknet's YOLOv4-tiny at 416 too

For every registered version (:func:`course_lib.detection.compare.available_adapters`) it builds the CPU-sized model
of the closing comparison at ``--image-size`` and times its forward pass with
:func:`course_lib.detection.compare.measure_fps` (inference mode, eval mode, random input, no NMS; ``--warmup``
untimed forwards, then the median of ``--repeats`` timed ones, each at least ``--min-seconds`` long; on CUDA the
device is synchronised before the clock is read) at each batch size of ``--batch-sizes`` (1 and 32 by default).
``--paper`` adds :class:`course_lib.detection.yolo_v4_tiny.YoloV4Tiny` as darknet defines it (80 classes, 416 x 416),
the network of the darknet README's "371 FPS" (GTX 1080 Ti); that figure is not comparable with a CPU's.

It prints the device, the PyTorch version, the number of CPU threads and one table of medians.
"""

from __future__ import annotations

import argparse
import platform
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Sequence

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from course_lib.detection.compare import ADAPTERS, available_adapters, count_parameters, measure_fps  # noqa: E402


def bench(device: torch.device, image_size: int, batch_sizes: Sequence[int], repeats: int, warmup: int,
          min_seconds: float, names: Sequence[str] | None = None, paper: bool = False,
          num_classes: int = 10) -> list[dict[str, object]]:
    """One row per model: name, input size, parameters and the median FPS at each batch size."""
    rows: list[dict[str, object]] = []
    models = []
    for name in (available_adapters() if names is None else names):
        torch.manual_seed(0)
        try:
            models.append((name, image_size, ADAPTERS[name].build(image_size, num_classes)))
        except ValueError as err:  # a version that cannot take this size
            rows.append({"name": name, "size": image_size, "error": str(err)})
    if paper:
        from course_lib.detection.yolo_v4_tiny import YoloV4Tiny

        models.append(("YOLOv4-tiny (darknet, 80 classes)", 416, YoloV4Tiny()))
    for name, size, model in models:
        row: dict[str, object] = {"name": name, "size": size, "params": count_parameters(model)}
        for b in batch_sizes:
            row[f"fps_b{b}"] = measure_fps(model.to(device), size, b, repeats=repeats, warmup=warmup, device=device,
                                           min_seconds=min_seconds)["fps"]
        rows.append(row)
    return rows


def main(argv: Sequence[str] | None = None) -> list[dict[str, object]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--image-size", type=int, default=96)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--min-seconds", type=float, default=0.0)
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (CPU)")
    parser.add_argument("--versions", nargs="+", default=None, help="a subset of the registered versions")
    parser.add_argument("--paper", action="store_true", help="also darknet's YOLOv4-tiny at 416, 80 classes")
    args = parser.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    what = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or platform.machine()
    print(f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, torch {torch.__version__}, device {device} ({what}), "
          f"{torch.get_num_threads()} CPU threads; forward only (eval, inference mode, no NMS), "
          f"median of {args.repeats} after {args.warmup} warm-up")
    rows = bench(device, args.image_size, args.batch_sizes, args.repeats, args.warmup, args.min_seconds,
                 args.versions, args.paper)
    head = ["model", "input", "parameters"] + [f"FPS batch {b}" for b in args.batch_sizes]
    print("| " + " | ".join(head) + " |")
    print("|" + "|".join("---" for _ in head) + "|")
    for r in rows:
        if "error" in r:
            print(f"| {r['name']} | {r['size']} | n/a ({r['error']}) |")
            continue
        fps = [f"{r[f'fps_b{b}']:.1f}" for b in args.batch_sizes]
        print(f"| {r['name']} | {r['size']} x {r['size']} | {r['params']:,} | " + " | ".join(fps) + " |")
    return rows


if __name__ == "__main__":
    main()
