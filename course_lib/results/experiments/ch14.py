"""Chapter 14 (YOLOv1): the lab's end-to-end training on MNISTDetection at its ``colab``/``full`` sizes."""

from __future__ import annotations

import time

import torch

from course_lib.results.experiments._common import as_float, detection_loss_figure, detections_figure
from course_lib.results.experiments._common import fit_two_phases, render_detection
from course_lib.results.registry import Context, register, register_chapter

CHAPTER = "14_yolov1"
register_chapter(CHAPTER, "Chapter 14: YOLOv1")


@register(CHAPTER, "train", title="YOLOv1 (tiny backbone) on MNISTDetection: mAP@0.5 on held-out digits",
          minutes={"colab": 12, "full": 40}, tiny_seconds=12)
def train(ctx: Context) -> None:
    """The lab's colab run: 112 x 112 canvases of 1-3 MNIST digits (scale 0.8-2.0), 12,000 training and 1,000
    held-out images, a ``YoloV1Tiny`` (backbone widths 32, 64, 128, 256, 256; head 256; S = 7, B = 2, C = 10),
    8,000 (colab) or 24,000 (full) Adam steps at batch 64, learning rate 1e-3 and a tenth of it for the last fifth;
    VOC all-point mAP@0.5 over the ten digits, the loss curve and detections on held-out images."""
    from course_lib.detection.metrics import mean_average_precision
    from course_lib.detection.train import InMemoryBatches
    from course_lib.detection.yolo_v1 import YoloV1Tiny, decode, encode_targets, yolo_v1_loss

    S, B, C = 7, 2, 10
    size = ctx.size(tiny=56, colab=112)
    n_train, n_test = ctx.size(tiny=32, colab=12_000), ctx.size(tiny=16, colab=1_000)
    widths = ctx.size(tiny=(4, 8, 8, 8), colab=(32, 64, 128, 256, 256))
    head = ctx.size(tiny=16, colab=256)
    batch, steps = ctx.size(tiny=8, colab=64), ctx.size(tiny=5, colab=8_000, full=24_000)
    lr = ctx.size(tiny=2e-3, colab=1e-3)
    scale = ctx.size(tiny=(0.5, 1.0), colab=(0.8, 2.0))

    t0 = time.perf_counter()
    train_images, train_targets = render_detection(n_train, size, scale, train=True, seed=0)
    test_images, test_targets = render_detection(n_test, size, scale, train=False, seed=1)
    ctx.number("data_seconds", time.perf_counter() - t0)
    encoded = torch.stack([encode_targets(t["boxes"], t["labels"], S, B, C) for t in train_targets])
    torch.manual_seed(ctx.seed)
    model = YoloV1Tiny(C=C, image_size=size, widths=widths, head_width=head).to(ctx.device)
    batches = InMemoryBatches(train_images, encoded, batch, seed=ctx.seed, transform=as_float, device=ctx.device)
    history, seconds = fit_two_phases(model, batches, lambda p, t: yolo_v1_loss(p, t, S, B, C), steps, lr,
                                      ctx.device)
    model.eval()
    test_float = as_float(test_images).to(ctx.device)
    with torch.no_grad():
        pred = torch.cat([model(test_float[k: k + 256]) for k in range(0, n_test, 256)])
    detections = [{k: v.cpu() for k, v in d.items()}
                  for d in decode(pred, S, B, C, conf_threshold=0.01, iou_threshold=0.4)]
    result = mean_average_precision(detections, test_targets, iou_threshold=0.5, method="voc")
    ctx.number("map50", result["map"])
    ctx.number("held_out_images", n_test)
    ctx.number("training_images", n_train)
    ctx.number("image_size", size)
    ctx.number("steps", steps)
    ctx.number("batch", batch)
    ctx.number("training_seconds", seconds)
    ctx.number("final_loss", history["loss"][-1])
    ctx.table("AP@0.5 per digit", ["digit", "AP"], [[c, result["ap"][c]] for c in range(C)])
    ctx.figure(detection_loss_figure(history, steps, "YOLOv1 training loss"), "loss",
               "The YOLOv1 loss per image during training (log scale); the dotted line marks the learning-rate drop.")
    shown = min(5, n_test)
    kept = decode(pred[:shown], S, B, C, conf_threshold=0.2, iou_threshold=0.4)
    ctx.figure(detections_figure(test_float[:shown], kept, size), "detections",
               f"Detections (score > 0.2, NMS at 0.4) on {shown} held-out images; mAP@0.5 over all {n_test}: "
               f"{result['map']:.3f}.")
