"""Chapter 14 (YOLOv1): the lab's end-to-end training on MNISTDetection at its ``colab``/``full`` sizes."""

from __future__ import annotations

import time

import torch

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
    import matplotlib.pyplot as plt

    from course_lib.detection.datasets import DIGIT_CLASSES, MNISTDetection, normalize_target
    from course_lib.detection.metrics import mean_average_precision
    from course_lib.detection.train import InMemoryBatches, fit_detector
    from course_lib.detection.yolo_v1 import YoloV1Tiny, decode, encode_targets, yolo_v1_loss
    from course_lib.viz import draw_boxes

    S, B, C = 7, 2, 10
    size = ctx.size(tiny=56, colab=112)
    n_train, n_test = ctx.size(tiny=32, colab=12_000), ctx.size(tiny=16, colab=1_000)
    widths = ctx.size(tiny=(4, 8, 8, 8), colab=(32, 64, 128, 256, 256))
    head = ctx.size(tiny=16, colab=256)
    batch, steps = ctx.size(tiny=8, colab=64), ctx.size(tiny=5, colab=8_000, full=24_000)
    lr = ctx.size(tiny=2e-3, colab=1e-3)
    kwargs = dict(image_size=size, scale_range=ctx.size(tiny=(0.5, 1.0), colab=(0.8, 2.0)), max_digits=3)

    def render(ds: MNISTDetection) -> tuple[torch.Tensor, list[dict[str, torch.Tensor]]]:
        images = torch.empty(len(ds), 1, size, size, dtype=torch.uint8)
        targets = []
        for i in range(len(ds)):
            image, target = ds[i]                                  # (3, H, W) in [0, 1], boxes in pixels
            images[i, 0] = (image[0] * 255).round().to(torch.uint8)
            targets.append(normalize_target(target, size))
        return images, targets

    def as_float(images: torch.Tensor) -> torch.Tensor:            # uint8 (N, 1, H, W) -> float (N, 3, H, W)
        return images.float().div(255).expand(-1, 3, -1, -1)

    t0 = time.perf_counter()
    train_images, train_targets = render(MNISTDetection(n_images=n_train, seed=0, train=True, **kwargs))
    test_images, test_targets = render(MNISTDetection(n_images=n_test, seed=1, train=False, **kwargs))
    data_seconds = time.perf_counter() - t0
    encoded = torch.stack([encode_targets(t["boxes"], t["labels"], S, B, C) for t in train_targets])
    torch.manual_seed(ctx.seed)
    model = YoloV1Tiny(C=C, image_size=size, widths=widths, head_width=head).to(ctx.device)
    batches = InMemoryBatches(train_images, encoded, batch, seed=ctx.seed, transform=as_float, device=ctx.device)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    history = {"step": [], "loss": []}
    t0 = time.perf_counter()
    for n_steps, rate in [(steps - steps // 5, lr), (steps // 5, lr / 10)]:
        if n_steps == 0:
            continue
        for group in optimizer.param_groups:
            group["lr"] = rate
        done = history["step"][-1] if history["step"] else 0
        phase = fit_detector(model, batches, lambda p, t: yolo_v1_loss(p, t, S, B, C), steps=n_steps,
                             optimizer=optimizer, log_every=max(1, steps // 200), progress=False)
        history["step"] += [done + s for s in phase["step"]]
        history["loss"] += phase["loss"]
    seconds = time.perf_counter() - t0
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
    ctx.number("data_seconds", data_seconds)
    ctx.number("final_loss", history["loss"][-1])
    ctx.table("AP@0.5 per digit", ["digit", "AP"], [[c, result["ap"][c]] for c in range(C)])

    fig, ax = plt.subplots(figsize=(8, 4))
    ax.semilogy(history["step"], history["loss"])
    ax.axvline(steps - steps // 5, color="gray", linestyle=":", label="learning rate / 10")
    ax.set(xlabel="training step", ylabel="loss per image", title="YOLOv1 training loss")
    ax.legend(fontsize=9)
    ctx.figure(fig, "loss", "The YOLOv1 loss per image during training (log scale); the dotted line marks the "
                            "learning-rate drop.")
    shown = min(5, n_test)
    kept = decode(pred[:shown], S, B, C, conf_threshold=0.2, iou_threshold=0.4)
    fig, axes = plt.subplots(1, shown, figsize=(3.3 * shown, 3.8), squeeze=False)
    for col in range(shown):
        det = {k: v.cpu() for k, v in kept[col].items()}
        draw_boxes(test_float[col].cpu(), det["boxes"] * size, det["labels"], det["scores"], DIGIT_CLASSES,
                   ax=axes[0, col], title=f"{len(det['scores'])} detections")
    fig.tight_layout()
    ctx.figure(fig, "detections", f"Detections (score > 0.2, NMS at 0.4) on {shown} held-out images; "
                                  f"mAP@0.5 over all {n_test}: {result['map']:.3f}.")
