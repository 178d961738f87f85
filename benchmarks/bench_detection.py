"""The detection benchmark of chapters 13-14 in one run: the vectorized YOLOv1 loss against its loop reference, and
our NMS against ``torchvision.ops.nms``, on the CPU and, when one is visible, on the GPU.

    python benchmarks/bench_detection.py [--quick] [--threads 1]

Each part prints its own table of medians and ratios (see ``bench_yolo_loss.py`` and ``bench_nms.py``).
"""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, HERE / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes (batch 8 only; 1k boxes only)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = parser.parse_args(argv)
    loss_bench, nms_bench = _load("bench_yolo_loss"), _load("bench_nms")
    threads = [] if args.threads is None else ["--threads", str(args.threads)]
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    for device in devices:
        print(f"\n=== {device}: YOLOv1 loss, vectorized vs loop reference ===")
        loss_bench.main(["--device", device, *threads, *(["--batch-sizes", "8"] if args.quick else [])])
        print(f"\n=== {device}: NMS, course_lib vs torchvision.ops ===")
        nms_bench.main(["--device", device, *threads, *(["--sizes", "1000"] if args.quick else [])])


if __name__ == "__main__":
    main()
