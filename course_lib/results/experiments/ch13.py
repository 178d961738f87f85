"""Chapter 13 (detection fundamentals): no training run of its own; its page shows the NMS benchmark
(``benchmarks/nms``) recorded on a GPU."""

from __future__ import annotations

from course_lib.results.registry import register_chapter

CHAPTER = "13_detection_fundamentals"
register_chapter(CHAPTER, "Chapter 13: detection fundamentals")
