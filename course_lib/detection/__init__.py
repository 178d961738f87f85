"""Detection: box maths (:mod:`.boxes`), non-maximum suppression (:mod:`.nms`) and evaluation (:mod:`.metrics`).

The YOLO models and the detection data live in their own modules (``course_lib.detection.yolo_v1``,
``course_lib.detection.datasets``), imported by name when needed.

Every public function of the three modules is re-exported here except the function ``nms`` itself: the name
``course_lib.detection.nms`` is the *module* (``from course_lib.detection import nms; nms.nms(...)`` and
``from course_lib.detection.nms import nms`` both work). Use ``nms.nms`` or import it from the module.
"""

from course_lib.detection import boxes, metrics, nms  # the modules themselves
from course_lib.detection.boxes import (
    BOX_FORMATS,
    box_area,
    box_convert,
    box_iou,
    box_iou_pairwise,
    check_boxes,
    clip_boxes_to_image,
    complete_box_iou,
    complete_box_iou_loss,
    complete_box_iou_pairwise,
    distance_box_iou,
    distance_box_iou_pairwise,
    generalized_box_iou,
    generalized_box_iou_pairwise,
    remove_small_boxes,
)
from course_lib.detection.metrics import (
    average_precision,
    coco_map,
    match_detections,
    mean_average_precision,
    precision_recall_curve,
)
from course_lib.detection.nms import batched_nms, filter_then_nms, nms_then_classify, orders_differ_example

__all__ = [
    # boxes
    "BOX_FORMATS",
    "check_boxes",
    "box_convert",
    "box_area",
    "box_iou",
    "generalized_box_iou",
    "distance_box_iou",
    "complete_box_iou",
    "box_iou_pairwise",
    "generalized_box_iou_pairwise",
    "distance_box_iou_pairwise",
    "complete_box_iou_pairwise",
    "complete_box_iou_loss",
    "clip_boxes_to_image",
    "remove_small_boxes",
    # modules
    "boxes",
    "nms",
    "metrics",
    # nms (the function nms is course_lib.detection.nms.nms)
    "batched_nms",
    "filter_then_nms",
    "nms_then_classify",
    "orders_differ_example",
    # metrics
    "precision_recall_curve",
    "average_precision",
    "match_detections",
    "mean_average_precision",
    "coco_map",
]
