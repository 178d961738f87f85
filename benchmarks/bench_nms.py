"""Benchmark: course_lib's vectorized NMS against torchvision.ops.nms, side by side in one run.

Boxes look like a detector's raw output: clusters of jittered boxes around a few objects (heavy overlap inside a
cluster) plus scattered boxes, in a 640 x 640 image, with distinct random scores. For each size the script checks
that both implementations keep the same indices, then reports the median time over ``--repeats`` runs (after
``--warmup`` runs) and the ratio ours / torchvision.

    python benchmarks/bench_nms.py                      # CPU, 1k and 10k boxes
    python benchmarks/bench_nms.py --device cuda        # on a GPU
    python benchmarks/bench_nms.py --sizes 1000 10000 30000 --repeats 11
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from collections.abc import Callable

import torch
import torchvision
import torchvision.ops as tvops

from course_lib.detection.nms import batched_nms, nms


def make_boxes(n: int, gen: torch.Generator, image: float = 640.0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``n`` xyxy boxes (80% in clusters around n/50 objects, 20% scattered), distinct scores, 20 class ids."""
    n_obj = max(1, n // 50)
    centre = torch.rand(n_obj, 2, generator=gen) * image
    size = torch.rand(n_obj, 2, generator=gen) * 120 + 20
    n_clustered = int(0.8 * n)
    owner = torch.randint(0, n_obj, (n_clustered,), generator=gen)
    c = centre[owner] + torch.randn(n_clustered, 2, generator=gen) * size[owner] * 0.15
    wh = size[owner] * (1 + 0.2 * torch.randn(n_clustered, 2, generator=gen)).clamp(min=0.3)
    scattered_c = torch.rand(n - n_clustered, 2, generator=gen) * image
    scattered_wh = torch.rand(n - n_clustered, 2, generator=gen) * 100 + 5
    c = torch.cat([c, scattered_c])
    wh = torch.cat([wh, scattered_wh])
    boxes = torch.cat([c - wh / 2, c + wh / 2], dim=1)
    scores = torch.randperm(n, generator=gen).float() / n  # distinct: no ties, so the outputs must be identical
    classes = torch.randint(0, 20, (n,), generator=gen)
    return boxes, scores, classes


def median_ms(fn: Callable[[], torch.Tensor], device: torch.device, repeats: int, warmup: int) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, or auto (cuda when available)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--iou", type=float, default=0.5, help="IoU threshold")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: leave the default)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    if args.device == "auto":
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda was asked for, but CUDA is not available on this machine.")
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or platform.machine()
    print(
        f"# NMS benchmark: torch {torch.__version__}, torchvision {torchvision.__version__}, device {device} ({name}), "
        f"{torch.get_num_threads()} CPU threads, IoU threshold {args.iou}, median of {args.repeats} runs"
    )
    header = f"{'op':<12} {'boxes':>7} {'kept':>6} {'same':>5} {'ours ms':>10} {'torchvision ms':>15} {'ours/tv':>8}"
    print(header)
    print("-" * len(header))
    gen = torch.Generator().manual_seed(args.seed)
    for n in args.sizes:
        boxes, scores, classes = (t.to(device) for t in make_boxes(n, gen))
        cases = [
            ("nms", lambda: nms(boxes, scores, args.iou), lambda: tvops.nms(boxes, scores, args.iou)),
            (
                "batched_nms",
                lambda: batched_nms(boxes, scores, classes, args.iou),
                lambda: tvops.batched_nms(boxes, scores, classes, args.iou),
            ),
        ]
        for op, ours, ref in cases:
            keep_ours, keep_ref = ours(), ref()
            same = torch.equal(keep_ours.cpu(), keep_ref.cpu())
            t_ours = median_ms(ours, device, args.repeats, args.warmup)
            t_ref = median_ms(ref, device, args.repeats, args.warmup)
            print(
                f"{op:<12} {n:>7} {len(keep_ref):>6} {'yes' if same else 'NO':>5} {t_ours:>10.2f} {t_ref:>15.2f} "
                f"{t_ours / t_ref:>8.1f}"
            )


if __name__ == "__main__":
    main()
