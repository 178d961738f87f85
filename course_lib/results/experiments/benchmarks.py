"""The benchmarks of ``benchmarks/`` as recorded experiments (``results run benchmarks``).

Each experiment loads its script from the checkout's ``benchmarks/`` folder (one implementation, not a copy) and
calls its measuring function at the sizes of the script's GPU command; a chapter page that quotes a benchmark shows
its record too (``shown_in``).
"""

from __future__ import annotations

import importlib.util
import statistics
from pathlib import Path
from types import ModuleType

from course_lib.results.experiments._common import bar_figure
from course_lib.results.registry import Context, register, register_chapter

CHAPTER = "benchmarks"
BENCH = Path(__file__).resolve().parents[3] / "benchmarks"
register_chapter(CHAPTER, "Benchmarks (benchmarks/)")


def load_bench(name: str) -> ModuleType:
    """Import ``benchmarks/<name>.py`` of the checkout.

    Raises:
        FileNotFoundError: outside a checkout of the course repository (the scripts are not installed).
    """
    path = BENCH / f"{name}.py"
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: the benchmarks run from a checkout of the course repository.")
    spec = importlib.util.spec_from_file_location(f"course_bench_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@register(CHAPTER, "dcgan", title="DCGAN training throughput", minutes={"colab": 3, "full": 3}, tiny_seconds=4,
          shown_in=("04_dcgan",))
def dcgan(ctx: Context) -> None:
    """``benchmarks/bench_dcgan.py``: the paper's 64 x 64 DCGAN trained by ``AdversarialTrainer`` and by a plain fp32
    eager loop, alternating, batch 128 (colab) or 128 and 512 (full), median images per second of 5 repeats."""
    bench = load_bench("bench_dcgan")
    cuda = ctx.device.type == "cuda"
    batches = ctx.size(tiny=[4], colab=[128], full=[128, 512])
    rows, labels, values = [], [], []
    for batch in batches:
        rates = bench.bench(ctx.device, batch=batch, steps=ctx.size(tiny=1, colab=50),
                            warmup=ctx.size(tiny=1, colab=10),
                            repeats=ctx.size(tiny=2, colab=5), size=ctx.size(tiny=32, colab=64),
                            base=ctx.size(tiny=8, colab=64), channels_last=cuda, n_images=max(4 * batch, 512))
        med = {who: statistics.median(v) for who, v in rates.items()}
        ratio = med["AdversarialTrainer"] / med["plain fp32 eager"]
        rows.append([batch, med["plain fp32 eager"], med["AdversarialTrainer"], ratio])
        ctx.number(f"ratio_trainer_over_plain_b{batch}", ratio)
        for who, m in med.items():
            labels.append(f"{who}\nbatch {batch}")
            values.append(m)
    ctx.table("median images per second", ["batch", "plain fp32 eager", "AdversarialTrainer", "ratio"], rows)
    ctx.figure(bar_figure(labels, values, "DCGAN training throughput", "median images / s",
                          "contender and batch size"), "throughput",
               "Median images per second of the plain loop and of the trainer (channels_last on CUDA).")


@register(CHAPTER, "fid", title="Frechet distance against SciPy", minutes={"colab": 4, "full": 4}, tiny_seconds=3,
          shown_in=("06_evaluating_gans",))
def fid(ctx: Context) -> None:
    """``benchmarks/bench_fid.py``: course_lib's Frechet distance on the device against SciPy's ``sqrtm`` formula
    (CPU) at D = 64, 512, 2048, median of 3 runs; the target on a GPU is >= 10x SciPy at D = 2048."""
    bench = load_bench("bench_fid")
    dims = ctx.size(tiny=[16, 32], colab=[64, 512, 2048])
    rows = bench.bench(dims, ctx.device, repeats=ctx.size(tiny=1, colab=3))
    ctx.table("Frechet distance timings", ["D", "ours (s)", "SciPy sqrtm (s)", "SciPy / ours", "relative difference"],
              [[r["D"], r["ours_s"], r["scipy_s"], r["ratio"], r["rel_diff"]] for r in rows])
    for r in rows:
        ctx.number(f"scipy_over_ours_D{r['D']}", r["ratio"])
    ctx.figure(bar_figure([f"D={r['D']}" for r in rows], [r["ratio"] for r in rows],
                          "Frechet distance: SciPy time / ours", "speed-up (x)",
                          "feature dimension"), "speedup",
               "SciPy's sqrtm time divided by ours, per feature dimension D.")


@register(CHAPTER, "nms", title="NMS against torchvision", minutes={"colab": 2, "full": 2}, tiny_seconds=3,
          shown_in=("13_detection_fundamentals",))
def nms(ctx: Context) -> None:
    """``benchmarks/bench_nms.py``'s boxes (clusters of a detector's raw output): our ``nms``/``batched_nms`` against
    ``torchvision.ops`` at 1,000 / 10,000 / 30,000 boxes, same kept indices checked, median of 7 runs."""
    import torch
    import torchvision.ops as tvops

    from course_lib.detection.nms import batched_nms, nms as our_nms

    bench = load_bench("bench_nms")
    gen = torch.Generator().manual_seed(ctx.seed)
    rows = []
    for n in ctx.size(tiny=[200], colab=[1000, 10000, 30000]):
        boxes, scores, classes = (t.to(ctx.device) for t in bench.make_boxes(n, gen))
        cases = [("nms", lambda: our_nms(boxes, scores, 0.5), lambda: tvops.nms(boxes, scores, 0.5)),
                 ("batched_nms", lambda: batched_nms(boxes, scores, classes, 0.5),
                  lambda: tvops.batched_nms(boxes, scores, classes, 0.5))]
        for op, ours, ref in cases:
            same = torch.equal(ours().cpu(), ref().cpu())
            repeats, warmup = ctx.size(tiny=1, colab=7), ctx.size(tiny=0, colab=2)
            t_ours = bench.median_ms(ours, ctx.device, repeats, warmup)
            t_ref = bench.median_ms(ref, ctx.device, repeats, warmup)
            rows.append([op, n, same, t_ours, t_ref, t_ours / t_ref])
    ctx.table("NMS timings", ["op", "boxes", "same indices", "ours (ms)", "torchvision (ms)", "ours / torchvision"],
              rows)
    ctx.number("all_same_indices", all(r[2] for r in rows))
    ctx.figure(bar_figure([f"{r[0]}\n{r[1]}" for r in rows], [r[5] for r in rows], "NMS: our time / torchvision's",
                          "ratio (lower is faster)",
                          "operation and number of boxes"), "ratio", "Our NMS time divided by torchvision's, per case.")


@register(CHAPTER, "yolo_loss", title="Vectorized YOLOv1 loss against its loop reference",
          minutes={"colab": 3, "full": 3}, tiny_seconds=4, shown_in=("14_yolov1",))
def yolo_loss(ctx: Context) -> None:
    """``benchmarks/bench_yolo_loss.py``: the vectorized YOLOv1 loss (forward and backward) against the loop reference
    of the tests, S = 7, B = 2, C = 20, batches 8 and 64, medians of 50 (vectorized) and 3 (reference) runs."""
    import torch

    from course_lib.detection.yolo_v1 import yolo_v1_loss

    bench = load_bench("bench_yolo_loss")
    reference = bench.load_reference()
    S, B, C = 7, 2, 20
    rows = []
    for n in ctx.size(tiny=[2], colab=[8, 64]):
        pred, target = bench.make_inputs(n, S, B, C, ctx.device, torch.float32)

        def step(fn):
            def run() -> torch.Tensor:
                p = pred.detach().requires_grad_(True)
                loss = fn(p)
                loss.backward()
                return loss.detach()
            return run

        t_ours, v_ours = bench.time_it(step(lambda p: yolo_v1_loss(p, target, S, B, C)), ctx.size(tiny=2, colab=50),
                                       ctx.device)
        t_ref, v_ref = bench.time_it(step(lambda p: reference(p, target, S, B, C)[0]), ctx.size(tiny=1, colab=3),
                                     ctx.device, warmup=0)
        rows.append([n, t_ours, t_ref, t_ref / t_ours, abs(v_ours - v_ref) / abs(v_ref)])
    ctx.table("YOLOv1 loss timings",
              ["batch", "vectorized (ms)", "loop reference (ms)", "ratio", "relative difference"], rows)
    ctx.figure(bar_figure([f"batch {r[0]}" for r in rows], [r[3] for r in rows], "YOLOv1 loss: reference / vectorized",
                          "speed-up (x)", "batch size",
                          log=True), "speedup", "Loop reference time divided by the vectorized loss's.")


@register(CHAPTER, "yolo_fps", title="Frames per second of the course's YOLO versions",
          minutes={"colab": 3, "full": 4}, tiny_seconds=6, shown_in=("17_yolov4_tiny",))
def yolo_fps(ctx: Context) -> None:
    """``benchmarks/bench_yolo_fps.py``: forward FPS of every registered YOLO version at 96 x 96, batches 1 and 32,
    and darknet's YOLOv4-tiny at 416 x 416 (80 classes; ``full`` only)."""
    bench = load_bench("bench_yolo_fps")
    batch_sizes = ctx.size(tiny=[1], colab=[1, 32])
    rows = bench.bench(ctx.device, ctx.size(tiny=64, colab=96), batch_sizes, repeats=ctx.size(tiny=1, colab=7),
                       warmup=ctx.size(tiny=0, colab=2), min_seconds=ctx.size(tiny=0.0, colab=0.2),
                       names=None, paper=ctx.size(tiny=False, colab=False, full=True))
    columns = ["model", "input", "parameters"] + [f"FPS batch {b}" for b in batch_sizes]
    ok = [r for r in rows if "error" not in r]
    ctx.table("forward FPS", columns, [[r["name"], r["size"], r["params"]] + [r[f"fps_b{b}"] for b in batch_sizes]
                                       for r in ok])
    for r in rows:
        if "error" in r:
            ctx.note(f"{r['name']} at {r['size']}: {r['error']}")
    ctx.figure(bar_figure([str(r["name"]) for r in ok], [r[f"fps_b{batch_sizes[-1]}"] for r in ok],
                          f"Forward FPS at batch {batch_sizes[-1]}", "frames / s", "YOLO version",
                          log=True), "fps",
               f"Forward frames per second of each version at batch {batch_sizes[-1]} (no NMS).")
