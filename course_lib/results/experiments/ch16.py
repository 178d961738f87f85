"""Chapter 16 (YOLOv3): the lab's end-to-end training on MNISTDetection at its ``colab``/``full`` sizes."""

from __future__ import annotations

import torch

from course_lib.results.experiments._common import as_float, detection_loss_figure, detections_figure
from course_lib.results.experiments._common import fit_two_phases, render_detection
from course_lib.results.registry import Context, register, register_chapter

CHAPTER = "16_yolov3"
register_chapter(CHAPTER, "Chapter 16: YOLOv3")


@register(CHAPTER, "train", title="YOLOv3 (small) on MNISTDetection: mAP@0.5 on held-out digits",
          minutes={"colab": 15, "full": 50}, tiny_seconds=12)
def train(ctx: Context) -> None:
    """The lab's colab run: 192 x 192 canvases of 1-3 MNIST digits (scale 0.4-4.4), 12,000 training and 1,000
    held-out images, a ``YoloV3Small`` (base_channels 16, residual blocks 1, 2, 2, 2, 1, the paper's nine anchors
    scaled to the image), 6,000 (colab) or 18,000 (full) Adam steps at batch 64, learning rate 1e-3 and a tenth of
    it for the last fifth; VOC all-point mAP@0.5 over the ten digits."""
    from course_lib.detection import yolo_v3
    from course_lib.detection.metrics import mean_average_precision
    from course_lib.detection.train import InMemoryBatches
    from course_lib.detection.yolo_v3 import YoloV3Small

    C = 10
    size = ctx.size(tiny=96, colab=192)
    n_train, n_test = ctx.size(tiny=32, colab=12_000), ctx.size(tiny=16, colab=1_000)
    base, blocks = ctx.size(tiny=4, colab=16), ctx.size(tiny=(1, 1, 1, 1, 1), colab=(1, 2, 2, 2, 1))
    batch, steps = ctx.size(tiny=8, colab=64), ctx.size(tiny=5, colab=6_000, full=18_000)
    lr = ctx.size(tiny=3e-3, colab=1e-3)
    scale = ctx.size(tiny=(0.4, 2.2), colab=(0.4, 4.4))
    train_images, train_targets = render_detection(n_train, size, scale, train=True, seed=0)
    test_images, test_targets = render_detection(n_test, size, scale, train=False, seed=1)
    torch.manual_seed(ctx.seed)
    model = YoloV3Small(num_classes=C, image_size=size, base_channels=base, blocks=blocks).to(ctx.device)

    def loss_fn(pred: torch.Tensor, targets: list) -> torch.Tensor:
        built = yolo_v3.build_targets(targets, size, C, model.anchors)
        return yolo_v3.yolo_v3_loss(pred, built, size, model.anchors)

    batches = InMemoryBatches(train_images, train_targets, batch, seed=ctx.seed, transform=as_float,
                              device=ctx.device)
    history, seconds = fit_two_phases(model, batches, loss_fn, steps, lr, ctx.device)
    model.eval()
    test_float = as_float(test_images).to(ctx.device)
    with torch.no_grad():
        pred = torch.cat([model(test_float[k: k + 256]) for k in range(0, n_test, 256)])
    detections = [{k: v.cpu() for k, v in d.items()}
                  for d in yolo_v3.decode(pred, size, model.anchors, conf_threshold=0.01)]
    result = mean_average_precision(detections, test_targets, iou_threshold=0.5, method="voc")
    ctx.number("map50", result["map"])
    ctx.number("held_out_images", n_test)
    ctx.number("training_images", n_train)
    ctx.number("image_size", size)
    ctx.number("parameters", sum(p.numel() for p in model.parameters()))
    ctx.number("steps", steps)
    ctx.number("batch", batch)
    ctx.number("training_seconds", seconds)
    ctx.number("final_loss", history["loss"][-1])
    ctx.table("AP@0.5 per digit", ["digit", "AP"], [[c, result["ap"][c]] for c in range(C)])
    ctx.figure(detection_loss_figure(history, steps, "YOLOv3 training loss"), "loss",
               "The YOLOv3 loss per image during training (log scale); the dotted line marks the learning-rate drop.")
    shown = min(4, n_test)
    kept = yolo_v3.decode(pred[:shown], size, model.anchors, conf_threshold=0.25)
    ctx.figure(detections_figure(test_float[:shown], kept, size), "detections",
               f"Detections (score > 0.25) on {shown} held-out images; mAP@0.5 over all {n_test}: "
               f"{result['map']:.3f}.")
