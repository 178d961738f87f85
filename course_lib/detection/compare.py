"""The closing comparison of Part V: YOLOv1, v2, v3 and v4-tiny trained alike, evaluated alike, timed alike.

Every version is reached through a small :class:`DetectorAdapter` (build the CPU-sized model, encode a batch of
targets, the loss, the decoding), so that the loop, the data, the budget and the evaluation are literally the same
code for all of them:

- the **data**: :func:`make_detection_data`, in-memory :class:`~course_lib.detection.datasets.MNISTDetection` images
  (training digits from MNIST's training split, held-out images from its test split), boxes as fractions;
- the **budget**: :class:`Budget`, the same number of Adam steps, batch size, learning rate, warm-up + cosine schedule
  (:func:`~course_lib.detection.train.warmup_cosine_scheduler`) and gradient clipping for every model, through
  :func:`~course_lib.detection.train.fit_detector`; no augmentation (Mosaic would favour the one version designed
  around it);
- the **evaluation**: the same held-out images, decoded with the same score threshold (0.01: AP ranks, it does not
  threshold) and NMS threshold, VOC mAP@0.5 (:func:`~course_lib.detection.metrics.mean_average_precision`) and COCO
  mAP@[.5:.95] (:func:`~course_lib.detection.metrics.coco_map`);
- the **speed**: :func:`measure_fps`, the network's forward pass in inference mode (no NMS), median over repeats, at
  batch 1 and 32; the same function ``benchmarks/bench_yolo_fps.py`` runs.

:data:`ADAPTERS` holds the versions in order; adding one is one :func:`register_adapter` call.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import torch
from torch import Tensor, nn

from course_lib.detection.metrics import coco_map, mean_average_precision
from course_lib.detection.train import InMemoryBatches, fit_detector, warmup_cosine_scheduler

__all__ = [
    "DetectorAdapter",
    "ADAPTERS",
    "register_adapter",
    "available_adapters",
    "Budget",
    "make_detection_data",
    "images_as_float",
    "count_parameters",
    "measure_fps",
    "train_detector",
    "evaluate_detector",
    "compare_detectors",
    "format_table",
]

Targets = list[dict[str, Tensor]]


@dataclass(frozen=True)
class DetectorAdapter:
    """What the comparison needs of one YOLO version.

    Attributes:
        name: the row's label, e.g. ``"YOLOv4-tiny"``.
        build: ``build(image_size, num_classes) -> nn.Module``, the CPU-sized model (raises ``ValueError`` for an
            image size it cannot take).
        encode: ``encode(model, targets, device) -> encoded``: a batch's targets (a list of dicts, boxes as
            fractions of the image) in the form the loss takes.
        loss: ``loss(model, pred, encoded) -> scalar``.
        decode: ``decode(model, pred, conf_threshold, iou_threshold) -> list of {"boxes", "scores", "labels"}``
            (boxes xyxy fractions).
        note: one line on the variant (what differs from the paper).
    """

    name: str
    build: Callable[[int, int], nn.Module]
    encode: Callable[[nn.Module, Targets, torch.device], Any]
    loss: Callable[[nn.Module, Tensor, Any], Tensor]
    decode: Callable[[nn.Module, Tensor, float, float], list[dict[str, Tensor]]]
    note: str = ""


ADAPTERS: dict[str, DetectorAdapter] = {}


def register_adapter(adapter: DetectorAdapter) -> DetectorAdapter:
    """Add ``adapter`` to :data:`ADAPTERS` under its name (a later one of the same name replaces it)."""
    if not isinstance(adapter, DetectorAdapter):
        raise TypeError(f"adapter must be a DetectorAdapter, got {type(adapter).__name__}.")
    ADAPTERS[adapter.name] = adapter
    return adapter


# ----------------------------------------------------------------------------------------------------------------------
# The adapters, one per version
# ----------------------------------------------------------------------------------------------------------------------


def _v1_adapter() -> DetectorAdapter:
    from course_lib.detection import yolo_v1 as v1

    def build(image_size: int, C: int) -> nn.Module:
        if image_size % 16:
            raise ValueError(f"the YOLOv1 variant needs an image size that is a multiple of 16, got {image_size}.")
        return v1.YoloV1Tiny(S=image_size // 16, C=C, image_size=image_size, widths=(16, 32, 64, 128))

    def shape(m: nn.Module) -> tuple[int, int, int]:
        return m.S, m.B, m.C

    return DetectorAdapter(
        name="YOLOv1",
        build=build,
        encode=lambda m, t, device: v1.encode_batch(t, *shape(m)).to(device),
        loss=lambda m, p, e: v1.yolo_v1_loss(p, e, *shape(m)),
        decode=lambda m, p, conf, iou: v1.decode(p, *shape(m), conf_threshold=conf, iou_threshold=iou),
        note="YoloV1Tiny: 4 strided convs + conv head, S = image/16 cells of 16 px, B = 2, sigmoid/softmax outputs",
    )


def _v2_adapter() -> DetectorAdapter:
    from course_lib.detection import yolo_v2 as v2

    losses: dict[int, Any] = {}  # one YoloV2Loss per model: it counts the images seen (darknet's prior warm-up)

    def loss(m: nn.Module, pred: Tensor, targets: Any) -> Tensor:
        if id(m) not in losses:
            losses[id(m)] = v2.YoloV2Loss(m.anchors, record=False)
        return losses[id(m)](pred, targets)

    return DetectorAdapter(
        name="YOLOv2",
        build=lambda size, C: v2.YoloV2Tiny(image_size=size, C=C),
        encode=lambda m, t, device: [{k: v.to(device) for k, v in d.items()} for d in t],  # encoded in the loss
        loss=loss,
        decode=lambda m, p, conf, iou: v2.decode(p, m.anchors, conf_threshold=conf, iou_threshold=iou),
        note="YoloV2Tiny: batch norm, passthrough via reorg, stride 8, 3 anchors in grid units, region loss",
    )


def _v3_adapter() -> DetectorAdapter:
    from course_lib.detection import yolo_v3 as v3

    def geometry(m: nn.Module) -> dict[str, Any]:
        return {"anchors": m.anchors, "masks": m.masks, "strides": m.strides}

    return DetectorAdapter(
        name="YOLOv3",
        build=lambda size, C: v3.YoloV3Small(image_size=size, num_classes=C),
        encode=lambda m, t, device: {k: v.to(device) for k, v in v3.build_targets(
            t, m.config.image_size, m.config.num_classes, **geometry(m)).items()},
        loss=lambda m, p, e: v3.yolo_v3_loss(p, e, m.config.image_size, **geometry(m)),
        decode=lambda m, p, conf, iou: v3.decode(p, m.config.image_size, conf_threshold=conf, iou_threshold=iou,
                                                 **geometry(m)),
        note="YoloV3Small: Darknet-53 stages at 1/4 width, one residual block each, three scales, BCE classes",
    )


def _v4_tiny_adapter() -> DetectorAdapter:
    from course_lib.detection import yolo_v4_tiny as v4

    grids: dict[int, Any] = {}

    def grid(m: nn.Module, device: torch.device) -> Any:
        key = id(m)
        if key not in grids or grids[key].cell.device != device:
            grids[key] = m.grid(device=device)
        return grids[key]

    return DetectorAdapter(
        name="YOLOv4-tiny",
        build=lambda size, C: v4.YoloV4TinyCPU(image_size=size, C=C),
        encode=lambda m, t, device: v4.encode_batch(t, grid(m, device), m.anchors.to(device), m.config.C),
        loss=lambda m, p, e: v4.yolo_v4_tiny_loss(p, e, grid(m, p.device), label_smoothing=0.0),
        decode=lambda m, p, conf, iou: v4.decode(p, grid(m, p.device), conf_threshold=conf, iou_threshold=iou),
        note="YoloV4TinyCPU: darknet's layers at 1/4 width, anchors scaled to the image, CIoU + BCE",
    )


def _default_adapters() -> None:
    """Register the built-in adapters; a version whose module is not there (yet) is left out."""
    for make in (_v1_adapter, _v2_adapter, _v3_adapter, _v4_tiny_adapter):
        try:
            adapter = make()
        except ModuleNotFoundError as err:  # e.g. course_lib.detection.yolo_v3 not written yet
            if not (err.name or "").startswith("course_lib.detection.yolo_v"):
                raise
            continue
        ADAPTERS.setdefault(adapter.name, adapter)


_ORDER = ("YOLOv1", "YOLOv2", "YOLOv3", "YOLOv4-tiny")


def available_adapters() -> list[str]:
    """The registered versions, in historical order (v1, v2, v3, v4-tiny, then any other)."""
    _default_adapters()
    return sorted(ADAPTERS, key=lambda n: (_ORDER.index(n) if n in _ORDER else len(_ORDER), n))


# ----------------------------------------------------------------------------------------------------------------------
# Data, budget, training, evaluation, speed
# ----------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Budget:
    """The one training budget every version gets (Adam, warm-up then cosine annealing, gradient clipping)."""

    steps: int = 300  # optimizer steps
    batch_size: int = 16
    lr: float = 2e-3  # Adam's learning rate at the end of the warm-up
    warmup_steps: int = 20  # linear warm-up
    max_grad_norm: float = 10.0  # clip the global gradient norm (a young detector's loss spikes)
    time_limit: float | None = None  # seconds per model; None: all steps
    seed: int = 0  # the initial weights and the batch order

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
                raise ValueError(f"Budget.{name} must be a positive int, got {v!r}.")
        if not (isinstance(self.warmup_steps, int) and 0 <= self.warmup_steps < self.steps):
            raise ValueError(f"Budget.warmup_steps must be an int in [0, steps), got {self.warmup_steps!r}.")
        if not self.lr > 0 or not self.max_grad_norm > 0:
            raise ValueError("Budget.lr and Budget.max_grad_norm must be positive.")


def make_detection_data(n_images: int, image_size: int, *, train: bool, seed: int,
                        scale_range: tuple[float, float] = (0.5, 1.0), max_digits: int = 3,
                        verbose: bool = False) -> tuple[Tensor, Targets]:
    """``n_images`` :class:`MNISTDetection` images as uint8 ``(N, 1, S, S)`` (the digits are grey) and their targets
    (boxes as fractions of the image, labels), generated once."""
    from course_lib.detection.datasets import MNISTDetection, normalize_target

    ds = MNISTDetection(n_images=n_images, image_size=image_size, scale_range=scale_range, max_digits=max_digits,
                        seed=seed, train=train, verbose=verbose)
    images = torch.empty(n_images, 1, image_size, image_size, dtype=torch.uint8)
    targets = []
    for i in range(n_images):
        image, target = ds[i]
        images[i, 0] = (image[0] * 255).round().to(torch.uint8)
        targets.append(normalize_target(target, image_size))
    return images, targets


def images_as_float(images: Tensor) -> Tensor:
    """uint8 ``(N, 1, S, S)`` -> float ``(N, 3, S, S)`` in [0, 1] (a float input passes through)."""
    if images.dtype == torch.uint8:
        images = images.float().div(255)
    return images.expand(-1, 3, -1, -1) if images.shape[1] == 1 else images


def count_parameters(model: nn.Module) -> int:
    """Trainable parameters (batch-norm scales and shifts included, running statistics not)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def measure_fps(model: nn.Module, image_size: int, batch_size: int, *, repeats: int = 5, warmup: int = 1,
                device: torch.device | str | None = None, min_seconds: float = 0.0) -> dict[str, float]:
    """Images per second of the network's forward pass (inference mode, eval mode, no NMS), median of ``repeats``.

    Each repeat times one forward of a random ``(batch_size, 3, image_size, image_size)`` batch (several when
    ``min_seconds`` asks for a longer run), after ``warmup`` untimed forwards; on CUDA the device is synchronised
    before reading the clock.

    Returns:
        ``{"fps": median images/s, "ms_per_batch": median ms, "runs": [images/s of each repeat], "batch_size"}``.
    """
    for value, name in ((image_size, "image_size"), (batch_size, "batch_size"), (repeats, "repeats")):
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise ValueError(f"{name} must be a positive int, got {value!r}.")
    device = next(model.parameters()).device if device is None else torch.device(device)
    model = model.to(device).eval()
    x = torch.rand(batch_size, 3, image_size, image_size, device=device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    rates, times = [], []
    with torch.inference_mode():
        for _ in range(warmup):
            model(x)
        sync()
        for _ in range(repeats):
            n, start = 0, time.perf_counter()
            while True:
                model(x)
                n += 1
                sync()
                elapsed = time.perf_counter() - start
                if elapsed >= min_seconds:
                    break
            times.append(elapsed / n)
            rates.append(batch_size * n / elapsed)
    return {"fps": statistics.median(rates), "ms_per_batch": 1e3 * statistics.median(times), "runs": rates,
            "batch_size": batch_size}


def train_detector(adapter: DetectorAdapter, images: Tensor, targets: Targets, image_size: int, num_classes: int,
                   budget: Budget, *, device: torch.device | str = "cpu", progress: bool = False,
                   checkpoint_dir: str | None = None) -> tuple[nn.Module, dict[str, Any]]:
    """Build ``adapter``'s model and train it on ``(images, targets)`` with ``budget`` (:func:`fit_detector`)."""
    device = torch.device(device)
    torch.manual_seed(budget.seed)
    model = adapter.build(image_size, num_classes).to(device)
    batches = InMemoryBatches(images, targets, budget.batch_size, seed=budget.seed, transform=images_as_float,
                              device=device)
    optimizer = torch.optim.Adam(model.parameters(), lr=budget.lr)
    scheduler = warmup_cosine_scheduler(optimizer, budget.steps, budget.warmup_steps)

    def loss_fn(pred: Tensor, batch_targets: Targets) -> Tensor:
        return adapter.loss(model, pred, adapter.encode(model, batch_targets, pred.device))

    start = time.perf_counter()
    history = fit_detector(model, batches, loss_fn, budget.steps, optimizer, scheduler=scheduler,
                           max_grad_norm=budget.max_grad_norm, time_limit=budget.time_limit, log_every=10,
                           progress=progress, checkpoint_dir=checkpoint_dir, resume=checkpoint_dir is not None)
    history["train_seconds"] = time.perf_counter() - start
    return model, history


def evaluate_detector(adapter: DetectorAdapter, model: nn.Module, images: Tensor, targets: Targets, *,
                      conf_threshold: float = 0.01, iou_threshold: float = 0.45, batch_size: int = 64
                      ) -> dict[str, float]:
    """VOC mAP@0.5 and COCO mAP@[.5:.95] of ``model`` on the held-out ``(images, targets)``."""
    device = next(model.parameters()).device
    model.eval()
    detections: list[dict[str, Tensor]] = []
    with torch.no_grad():
        for k in range(0, images.shape[0], batch_size):
            pred = model(images_as_float(images[k : k + batch_size]).to(device))
            detections += [{key: v.cpu() for key, v in d.items()}
                           for d in adapter.decode(model, pred, conf_threshold, iou_threshold)]
    voc = mean_average_precision(detections, targets, iou_threshold=0.5, method="voc")
    coco = coco_map(detections, targets)
    return {"map50": float(voc["map"]), "coco_map": float(coco["map"]), "coco_map50": float(coco["map_50"])}


def compare_detectors(
    names: Sequence[str] | None,
    train_data: tuple[Tensor, Targets],
    test_data: tuple[Tensor, Targets],
    image_size: int,
    num_classes: int,
    budget: Budget,
    *,
    device: torch.device | str = "cpu",
    fps_batch_sizes: Sequence[int] = (1, 32),
    fps_repeats: int = 5,
    progress: bool = False,
    verbose: bool = True,
) -> list[dict[str, Any]]:
    """Train, evaluate and time every version in ``names`` (default: all of :func:`available_adapters`).

    Returns:
        one dict per version: ``name``, ``params``, ``steps`` (done), ``train_seconds``, ``final_loss``, ``map50``
        (VOC), ``coco_map``, ``coco_map50``, ``fps_b<k>`` for each batch size, ``note``; a version whose model
        cannot be built at ``image_size`` gets ``error`` instead.
    """
    names = available_adapters() if names is None else list(names)
    unknown = [n for n in names if n not in ADAPTERS and n not in available_adapters()]
    if unknown:
        raise ValueError(f"unknown version(s) {unknown}; registered: {available_adapters()}.")
    rows = []
    for name in names:
        adapter = ADAPTERS[name]
        try:
            model, history = train_detector(adapter, *train_data, image_size, num_classes, budget, device=device,
                                            progress=progress)
        except ValueError as err:
            rows.append({"name": name, "error": str(err), "note": adapter.note})
            continue
        row: dict[str, Any] = {"name": name, "params": count_parameters(model), "steps": history["step"][-1],
                               "train_seconds": history["train_seconds"], "first_loss": history["loss"][0],
                               "final_loss": history["loss"][-1], "note": adapter.note}
        row.update(evaluate_detector(adapter, model, *test_data))
        for b in fps_batch_sizes:
            row[f"fps_b{b}"] = measure_fps(model, image_size, b, repeats=fps_repeats, device=device)["fps"]
        rows.append(row)
        if verbose:
            print(f"{name}: {row['steps']} steps in {row['train_seconds']:.1f} s, loss {row['first_loss']:.2f} -> "
                  f"{row['final_loss']:.2f}, mAP@0.5 {row['map50']:.3f}, COCO mAP {row['coco_map']:.3f}")
    return rows


def format_table(rows: Sequence[dict[str, Any]], fps_batch_sizes: Sequence[int] = (1, 32)) -> str:
    """The comparison as a Markdown table (one row per version)."""
    head = ["version", "parameters", "steps", "train s", "mAP@0.5 (VOC)", "COCO mAP@[.5:.95]"]
    head += [f"FPS batch {b}" for b in fps_batch_sizes]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['name']} | " + " | ".join(["n/a"] * (len(head) - 1)) + " |")
            continue
        cells = [r["name"], f"{r['params']:,}", str(r["steps"]), f"{r['train_seconds']:.1f}", f"{r['map50']:.3f}",
                 f"{r['coco_map']:.3f}"]
        cells += [f"{r[f'fps_b{b}']:.0f}" if math.isfinite(r[f"fps_b{b}"]) else "n/a" for b in fps_batch_sizes]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
