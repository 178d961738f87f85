"""Chapter 15 (YOLOv2): the lab's multi-scale training on MNISTDetection at its ``colab``/``full`` sizes."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from course_lib.results.experiments._common import as_float, detection_loss_figure, detections_figure
from course_lib.results.experiments._common import fit_two_phases, render_detection
from course_lib.results.registry import Context, register, register_chapter

CHAPTER = "15_yolov2"
register_chapter(CHAPTER, "Chapter 15: YOLOv2")


@register(CHAPTER, "train", title="YOLOv2 (tiny) with multi-scale training: mAP@0.5 at three input sizes",
          minutes={"colab": 12, "full": 40}, tiny_seconds=12)
def train(ctx: Context) -> None:
    """The lab's colab run: 128 x 128 canvases of 1-3 MNIST digits (scale 0.8-2.2), 12,000 training and 1,000
    held-out images, three k-means anchors of the training boxes, a ``YoloV2Tiny`` (first width 16, head 256,
    passthrough), a new input size from {96, ..., 160} every 10 batches, the prior warm-up for the first 12,800
    images, 6,000 (colab) or 18,000 (full) Adam steps at batch 64, learning rate 1e-3 and a tenth of it for the last
    fifth; mAP@0.5 on the held-out images resized to 96, 128 and 160. (The lab's mean-IoU curves on PASCAL VOC 2007
    need its download and are not part of this record.)"""
    from course_lib.detection import yolo_v2
    from course_lib.detection.anchors import kmeans_anchors, mean_best_iou
    from course_lib.detection.metrics import mean_average_precision
    from course_lib.detection.train import InMemoryBatches
    from course_lib.detection.yolo_v2 import MultiScaleBatches, YoloV2Loss, YoloV2Tiny

    C, stride = 10, 8
    size = ctx.size(tiny=64, colab=128)
    sizes = ctx.size(tiny=(48, 64), colab=(96, 112, 128, 144, 160))
    n_train, n_test = ctx.size(tiny=32, colab=12_000), ctx.size(tiny=16, colab=1_000)
    width, head = ctx.size(tiny=4, colab=16), ctx.size(tiny=16, colab=256)
    batch, steps = ctx.size(tiny=8, colab=64), ctx.size(tiny=5, colab=6_000, full=18_000)
    lr, warmup = ctx.size(tiny=2e-3, colab=1e-3), ctx.size(tiny=16, colab=12_800)
    scale = ctx.size(tiny=(0.5, 1.1), colab=(0.8, 2.2))
    train_images, train_targets = render_detection(n_train, size, scale, train=True, seed=0)
    test_images, test_targets = render_detection(n_test, size, scale, train=False, seed=1)
    grid = size // stride
    wh = torch.cat([t["boxes"][:, 2:] - t["boxes"][:, :2] for t in train_targets]).double() * grid   # in cells
    anchors = kmeans_anchors(wh, 3).float()
    stages = (((3, width),), ((3, 2 * width),), ((3, 4 * width), (1, 2 * width), (3, 4 * width)),
              ((3, 8 * width), (1, 4 * width), (3, 8 * width)))
    torch.manual_seed(ctx.seed)
    model = YoloV2Tiny(C=C, anchors=tuple(map(tuple, anchors.tolist())), image_size=size, stages=stages,
                       head_width=head, passthrough_reduce=2 * width).to(ctx.device)
    batches = MultiScaleBatches(InMemoryBatches(train_images, train_targets, batch, seed=ctx.seed, transform=as_float,
                                                device=ctx.device), sizes=sizes, every=10, seed=ctx.seed)
    loss_fn = YoloV2Loss(model.anchors, warmup_images=warmup)
    history, seconds = fit_two_phases(model, batches, loss_fn, steps, lr, ctx.device)
    model.eval()
    test_float = as_float(test_images).to(ctx.device)
    rows = []
    for side in dict.fromkeys((min(sizes), size, max(sizes))):
        inputs = F.interpolate(test_float, size=(side, side), mode="bilinear", align_corners=False)
        with torch.no_grad():
            pred = torch.cat([model(inputs[k: k + 100]) for k in range(0, n_test, 100)])
        detections = [{k: v.cpu() for k, v in d.items()}
                      for d in yolo_v2.decode(pred, model.anchors, conf_threshold=0.01, iou_threshold=0.4)]
        rows.append([side, f"{side // stride} x {side // stride}",
                     mean_average_precision(detections, test_targets, iou_threshold=0.5)["map"]])
        ctx.number(f"map50_at_{side}", rows[-1][2])
    ctx.table("mAP@0.5 at several input sizes", ["input", "grid", "mAP@0.5"], rows)
    ctx.number("anchors_mean_best_iou", mean_best_iou(wh, anchors.double()))
    ctx.number("input_sizes_used", " ".join(str(s) for s in sorted(set(batches.sizes_used))))
    ctx.number("held_out_images", n_test)
    ctx.number("training_images", n_train)
    ctx.number("steps", steps)
    ctx.number("batch", batch)
    ctx.number("training_seconds", seconds)
    ctx.number("final_loss", history["loss"][-1])
    ctx.figure(detection_loss_figure(history, steps, "YOLOv2 training loss (multi-scale)"), "loss",
               "The YOLOv2 loss per image during training (log scale); the dotted line marks the learning-rate drop.")
    shown = min(5, n_test)
    with torch.no_grad():
        kept = yolo_v2.decode(model(test_float[:shown]), model.anchors, conf_threshold=0.3, iou_threshold=0.4)
    ctx.figure(detections_figure(test_float[:shown], kept, size), "detections",
               f"Detections (score > 0.3, NMS at 0.4) on {shown} held-out images at {size} x {size}.")
