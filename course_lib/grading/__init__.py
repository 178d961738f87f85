"""Instructor grading: ``course-grade`` runs submitted notebooks against the reference with nbval.

The pieces, in the order a submission meets them:

- :mod:`~course_lib.grading.assignment`: the reference notebook, its exercises, the batch's cases;
- :mod:`~course_lib.grading.submission`: reading a submitted notebook (Jupyter, Colab, broken files);
- :mod:`~course_lib.grading.scan`: static checks of each exercise cell;
- :mod:`~course_lib.grading.notebook`: the graded notebook (reference cells, the submission's exercise cells,
  probes in place of the checks);
- :mod:`~course_lib.grading.launcher` and :mod:`~course_lib.grading.sandbox`: the confined kernel;
- :mod:`~course_lib.grading.kernel`: the grader's code inside that kernel (tripwires, probes);
- :mod:`~course_lib.grading.nbval_plugin`: the pytest plugin of the nbval run (reports, limits);
- :mod:`~course_lib.grading.records` and :mod:`~course_lib.grading.scoring`: recorded outputs and points, in the
  grader's own process;
- :mod:`~course_lib.grading.runner`: one submission, with re-runs after a crash, and a batch in parallel;
- :mod:`~course_lib.grading.report` and :mod:`~course_lib.grading.cli`: the gradebook, the feedback, the command.

See ``book/instructor_guide.md`` for how to use it and what it does and does not protect against.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Assignment": "assignment", "AssignmentError": "assignment", "ExerciseInfo": "assignment",
    "derive_seed": "assignment", "grading_cases": "assignment", "load_assignment": "assignment",
    "load_private_cases": "assignment", "Batch": "runner", "GradeOptions": "runner", "SubmissionResult": "runner",
    "grade_batch": "runner", "grade_submission": "runner", "ExerciseResult": "scoring",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    """Import lazily: the learner's kernel imports :mod:`course_lib.grading.kernel` and nothing else of the grader."""
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"course_lib.grading.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'course_lib.grading' has no attribute {name!r}")
