"""Benchmark: course_lib's Fréchet distance (eigenvalues of S1 S2, float64, torch) against the SciPy ``sqrtm``
formula that pytorch-fid used, side by side in one run.

For each dimension D the script draws two feature sets of ``--samples-per-dim`` x D rows (correlated Gaussian
features, the second shifted and scaled), computes their statistics once, then times only the distance:

- ours: :func:`course_lib.metrics.frechet_distance` on ``--device`` (CPU, or CUDA when given and present);
- SciPy: ``||mu1 - mu2||^2 + Tr S1 + Tr S2 - 2 Tr(sqrtm(S1 @ S2)).real`` with ``scipy.linalg.sqrtm`` (CPU, NumPy).

It reports the median time over ``--repeats`` runs (after one warm-up run), the ratio SciPy / ours (> 1: ours is
faster), and the absolute and relative difference of the two values.

    python benchmarks/bench_fid.py                          # CPU, D = 64, 512, 2048
    python benchmarks/bench_fid.py --device cuda            # ours on the GPU (SciPy stays on the CPU)
    python benchmarks/bench_fid.py --dims 64 512 --repeats 7
    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python benchmarks/bench_fid.py --threads 1   # a shared 2-core machine

On a GPU, the target is >= 10x SciPy at D = 2048 with a relative difference below 1e-6.
"""

from __future__ import annotations

import argparse
import math
import platform
import statistics
import time
from collections.abc import Callable, Sequence

import numpy as np
import torch

from course_lib.metrics import frechet_distance, gaussian_statistics


def make_statistics(d: int, samples_per_dim: float, seed: int = 0) -> tuple[torch.Tensor, ...]:
    """Float64 ``(mu1, sigma1, mu2, sigma2)`` of two correlated feature sets with ``samples_per_dim * d`` rows."""
    g = torch.Generator().manual_seed(seed)
    n = max(2, int(samples_per_dim * d))
    mix = torch.randn(d, d, generator=g, dtype=torch.float64) / math.sqrt(d)
    a = torch.randn(n, d, generator=g, dtype=torch.float64) @ mix
    b = 0.1 + 1.2 * torch.randn(n, d, generator=g, dtype=torch.float64) @ mix
    return (*gaussian_statistics(a), *gaussian_statistics(b))


def scipy_frechet(mu1: np.ndarray, s1: np.ndarray, mu2: np.ndarray, s2: np.ndarray) -> float:
    import scipy.linalg

    root = scipy.linalg.sqrtm(s1 @ s2)
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2.0 * np.trace(root).real)


def median_time(fn: Callable[[], float], repeats: int, sync: Callable[[], None]) -> tuple[float, float]:
    """``(median seconds, last value)`` over ``repeats`` runs after one warm-up run."""
    value = fn()
    sync()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        value = fn()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times), value


def bench(dims: Sequence[int], device: torch.device, repeats: int = 3, samples_per_dim: float = 2.0
          ) -> list[dict[str, float]]:
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    rows = []
    for d in dims:
        mu1, s1, mu2, s2 = make_statistics(d, samples_per_dim)
        on_dev = [t.to(device) for t in (mu1, s1, mu2, s2)]
        as_np = [t.numpy() for t in (mu1, s1, mu2, s2)]
        t_ours, v_ours = median_time(lambda: frechet_distance(*on_dev), repeats, sync)
        t_scipy, v_scipy = median_time(lambda: scipy_frechet(*as_np), repeats, lambda: None)
        rows.append({"D": d, "ours_s": t_ours, "scipy_s": t_scipy, "ratio": t_scipy / t_ours, "ours": v_ours,
                     "scipy": v_scipy, "abs_diff": abs(v_ours - v_scipy),
                     "rel_diff": abs(v_ours - v_scipy) / max(abs(v_scipy), 1e-300)})
    return rows


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu", help="where ours runs: cpu or cuda")
    parser.add_argument("--dims", type=int, nargs="+", default=[64, 512, 2048])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--samples-per-dim", type=float, default=2.0)
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (on a shared machine 1 avoids OpenMP contention; set "
                             "OPENBLAS_NUM_THREADS/OMP_NUM_THREADS for SciPy to match)")
    args = parser.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda asked for, but CUDA is not available here.")
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or platform.machine()
    import scipy

    print(f"Frechet distance: ours (torch {torch.__version__}, {device}, {name}, {torch.get_num_threads()} threads) "
          f"vs SciPy {scipy.__version__} sqrtm (CPU); median of {args.repeats} runs")
    print("| D | ours (s) | SciPy sqrtm (s) | SciPy / ours | |ours - SciPy| | relative |")
    print("|--:|---------:|----------------:|-------------:|---------------:|---------:|")
    for r in bench(args.dims, device, args.repeats, args.samples_per_dim):
        print(f"| {r['D']} | {r['ours_s']:.4g} | {r['scipy_s']:.4g} | {r['ratio']:.2f}x | {r['abs_diff']:.3g} | "
              f"{r['rel_diff']:.3g} |")


if __name__ == "__main__":
    main()
