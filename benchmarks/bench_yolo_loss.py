"""Benchmark: the vectorized YOLOv1 loss against the loop reference of the tests, side by side in one run.

    python benchmarks/bench_yolo_loss.py                      # CPU, batches 8 and 64, S=7, B=2, C=20
    python benchmarks/bench_yolo_loss.py --device cuda        # the same on the GPU
    python benchmarks/bench_yolo_loss.py --forward-only --batch-sizes 8 64 256

For each batch size it times :func:`course_lib.detection.yolo_v1.yolo_v1_loss` and ``_yolo_v1_loss_reference``
(tests/test_yolo_v1.py, loaded with importlib so that there is one reference, not a copy) on the same random
predictions and targets (about half of the cells hold an object), forward and backward by default (what a training
step pays), checks that both give the same loss (relative difference of the two values), and prints one table of
medians and the ratio. Times are wall-clock medians over ``--repeats`` runs after one warm-up (``--ref-repeats``
runs, no warm-up, for the reference: it takes seconds per run at batch 64), with ``torch.cuda.synchronize()`` around
each run on a GPU. On a busy machine pass ``--threads 1``: two OpenMP threads fighting other processes for two
cores made every small elementwise kernel several times slower in our runs.
"""

from __future__ import annotations

import argparse
import importlib.util
import platform
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from course_lib.detection.yolo_v1 import yolo_v1_loss  # noqa: E402


def load_reference() -> Callable[..., tuple[torch.Tensor, dict[str, torch.Tensor]]]:
    """``_yolo_v1_loss_reference`` from tests/test_yolo_v1.py (imported from the file, not copied)."""
    path = ROOT / "tests" / "test_yolo_v1.py"
    spec = importlib.util.spec_from_file_location("_test_yolo_v1_for_bench", path)
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module._yolo_v1_loss_reference


def make_inputs(N: int, S: int, B: int, C: int, device: torch.device, dtype: torch.dtype, seed: int = 0):
    """Random predictions (offsets in [0, 1], positive sizes) and targets with objects in about half of the cells."""
    gen = torch.Generator().manual_seed(seed)
    head = torch.randn(N, S, S, C + B, generator=gen)
    xy = torch.rand(N, S, S, B, 2, generator=gen)
    wh = 0.01 + 0.6 * torch.rand(N, S, S, B, 2, generator=gen)
    pred = torch.cat([head, torch.cat([xy, wh], dim=-1).flatten(-2)], dim=-1)  # (N, S, S, C + 5B)
    obj = (torch.rand(N, S, S, generator=gen) < 0.5).to(torch.float32)[..., None]
    box = torch.cat([torch.rand(N, S, S, 2, generator=gen), 0.02 + 0.6 * torch.rand(N, S, S, 2, generator=gen)], -1)
    label = torch.randint(C, (N, S, S), generator=gen)
    target = torch.cat(
        [torch.nn.functional.one_hot(label, C).float(), torch.ones(N, S, S, B), box.repeat(1, 1, 1, B)], dim=-1
    ) * obj  # (N, S, S, C + 5B)
    return pred.to(device, dtype), target.to(device, dtype)


def time_it(fn: Callable[[], torch.Tensor], repeats: int, device: torch.device, warmup: int = 1) -> tuple[float, float]:
    """Median wall time of ``fn()`` in milliseconds over ``repeats`` runs after ``warmup`` runs, and its last value."""

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    for _ in range(warmup):
        fn()
    sync()
    times = []
    for _ in range(repeats):
        sync()
        start = time.perf_counter()
        value = fn()
        sync()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times), float(value)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[8, 64])
    parser.add_argument("--S", type=int, default=7)
    parser.add_argument("--B", type=int, default=2)
    parser.add_argument("--C", type=int, default=20)
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    parser.add_argument("--repeats", type=int, default=50, help="timed runs of the vectorized loss")
    parser.add_argument("--ref-repeats", type=int, default=3, help="timed runs of the (slow) loop reference")
    parser.add_argument("--forward-only", action="store_true", help="time the loss alone, without backward")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (CPU)")
    args = parser.parse_args(argv)

    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda was asked for but CUDA is not available on this machine.")
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    dtype = getattr(torch, args.dtype)
    reference = load_reference()
    S, B, C = args.S, args.B, args.C
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or platform.machine()
    mode = "forward" if args.forward_only else "forward + backward"
    print(f"YOLOv1 loss, S={S} B={B} C={C}, {args.dtype}, {mode}; device {device} ({name}), "
          f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads; "
          f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC")
    print(f"medians of {args.repeats} (vectorized) and {args.ref_repeats} (loop reference) runs\n")
    header = f"{'batch':>6} | {'vectorized (ms)':>16} | {'loop reference (ms)':>20} | {'ratio':>8} | {'rel. diff':>9}"
    print(header)
    print("-" * len(header))
    for N in args.batch_sizes:
        pred, target = make_inputs(N, S, B, C, device, dtype)

        def run(loss_fn: Callable[[torch.Tensor], torch.Tensor]) -> Callable[[], torch.Tensor]:
            def step() -> torch.Tensor:
                p = pred.detach().requires_grad_(not args.forward_only)
                loss = loss_fn(p)
                if not args.forward_only:
                    loss.backward()
                return loss.detach()

            return step

        ours = run(lambda p: yolo_v1_loss(p, target, S, B, C))
        ref = run(lambda p: reference(p, target, S, B, C)[0])
        t_ours, v_ours = time_it(ours, args.repeats, device)
        t_ref, v_ref = time_it(ref, args.ref_repeats, device, warmup=0)  # seconds per run: no warm-up needed
        rel = abs(v_ours - v_ref) / abs(v_ref)
        print(f"{N:>6} | {t_ours:>16.3f} | {t_ref:>20.1f} | {t_ref / t_ours:>7.0f}x | {rel:>9.1e}")

if __name__ == "__main__":
    main()
