"""Graded exercises: the convention shared by every chapter.

A learner notebook has, per exercise, a stub cell (tagged ``exercise-<id>``) and right after it a check cell
(tagged ``check-<id>`` and ``nbval-check-output``) that calls ``course_lib.exercises.chNN.check_<name>(fn)``.
The check prints one deterministic verdict line (nbval compares it with the solution's) and, on failure, one line
that says what is wrong without giving the answer away. See :mod:`course_lib.exercises.core`.
"""

from course_lib.exercises.core import (
    Case,
    Exercise,
    Verdict,
    compare_tensors,
    compare_scalars,
    not_implemented,
    run_check,
    use,
)

__all__ = [
    "Case",
    "Exercise",
    "Verdict",
    "compare_tensors",
    "compare_scalars",
    "not_implemented",
    "run_check",
    "use",
]
