"""Chapter 17 (YOLOv4-tiny): the lab's closing comparison of the four YOLO versions at its ``colab``/``full`` sizes
(the FPS benchmark of every version, ``benchmarks/yolo_fps``, is shown on the same page)."""

from __future__ import annotations

import math

from course_lib.results.registry import Context, register, register_chapter

CHAPTER = "17_yolov4_tiny"
register_chapter(CHAPTER, "Chapter 17: YOLOv4-tiny")


@register(CHAPTER, "compare", title="Four YOLOs, one budget: mAP and FPS", minutes={"colab": 25, "full": 80},
          tiny_seconds=20)
def compare(ctx: Context) -> None:
    """The lab's Section 17.8 in the colab profile: YOLOv1, v2, v3 and v4-tiny (their CPU-sized variants) trained
    alike by ``course_lib.detection.compare`` on 10,000 MNISTDetection images at 96 x 96 (1-2 digits), 4,000
    (colab) or 12,000 (full) Adam steps of batch 64, learning rate 1e-3 with 200 warm-up steps and a cosine; VOC
    mAP@0.5 and COCO mAP@[.5:.95] on 1,000 held-out images, forward FPS at batches 1 and 32."""
    import matplotlib.pyplot as plt

    from course_lib.detection import compare as cmp
    from course_lib.viz import page_figsize

    size = ctx.size(tiny=64, colab=96)
    train = cmp.make_detection_data(ctx.size(tiny=32, colab=10_000), size, train=True, seed=10, max_digits=2)
    test = cmp.make_detection_data(ctx.size(tiny=16, colab=1_000), size, train=False, seed=11, max_digits=2)
    budget = cmp.Budget(steps=ctx.size(tiny=2, colab=4_000, full=12_000), batch_size=ctx.size(tiny=8, colab=64),
                        lr=ctx.size(tiny=3e-3, colab=1e-3), warmup_steps=ctx.size(tiny=1, colab=200))
    rows = cmp.compare_detectors(None, train, test, size, 10, budget, device=ctx.device,
                                 fps_repeats=ctx.size(tiny=1, colab=7), progress=False)
    ok = [r for r in rows if "error" not in r]
    ctx.table("comparison", ["version", "parameters", "steps", "train s", "mAP@0.5 (VOC)", "COCO mAP@[.5:.95]",
                             "FPS batch 1", "FPS batch 32"],
              [[r["name"], r["params"], r["steps"], r["train_seconds"], r["map50"], r["coco_map"],
                r["fps_b1"] if math.isfinite(r["fps_b1"]) else None,
                r["fps_b32"] if math.isfinite(r["fps_b32"]) else None] for r in ok])
    for r in rows:
        if "error" in r:
            ctx.note(f"{r['name']} could not be built at {size} x {size}: {r['error']}")
    ctx.number("image_size", size)
    ctx.number("steps_per_model", budget.steps)
    ctx.number("batch", budget.batch_size)
    fig, (ax_map, ax_fps) = plt.subplots(1, 2, figsize=page_figsize(13, 4))
    names = [r["name"] for r in ok]
    ax_map.bar(names, [r["map50"] for r in ok], label="mAP@0.5 (VOC)")
    ax_map.bar(names, [r["coco_map"] for r in ok], label="COCO mAP@[.5:.95]", alpha=0.8)
    ax_map.set(xlabel="YOLO version", ylabel="mAP on the held-out images",
               title=f"Accuracy after {budget.steps} steps")
    ax_map.legend(fontsize=9)
    ax_fps.scatter([r["params"] for r in ok], [r["fps_b32"] for r in ok])
    for r in ok:
        ax_fps.annotate(r["name"], (r["params"], r["fps_b32"]), fontsize=9)
    ax_fps.set(xscale="log", xlabel="parameters", ylabel="images / s (batch 32)", title=f"Speed on {ctx.device.type}")
    fig.tight_layout()
    ctx.figure(fig, "comparison", "Left: held-out mAP@0.5 and COCO mAP per version; right: forward throughput at "
                                  "batch 32 against the number of parameters.")
