"""The wrong-answer suite of the exercise checks, one module per chapter in ``tests/wrong_answers/chNN.py``.

Each chapter module defines ``ANSWERS``: for every exercise of ``course_lib.exercises.chNN.SPECS``, a list of
:func:`correct` answers (independent implementations, every standard formulation, written differently from the
reference) and :func:`wrong` ones (the classic mistakes of the kind). ``tests/test_wrong_answers.py`` runs every
answer through the check on the notebook's cases and on the grading seeds :data:`SEEDS` (0-5):

- a correct answer must pass everywhere (full points);
- a wrong answer must fail everywhere and keep at most ``max_fraction`` of the points (by default
  :data:`MAX_WRONG_FRACTION`, 40%: missing the point of an exercise costs most of its points). A mistake that is not
  the point of the exercise (a dtype, a shape) may be listed with a higher ``max_fraction``; it must still fail.

A new chapter adds ``tests/wrong_answers/chNN.py`` with its ``ANSWERS`` and is picked up; the suite also checks that
every exercise of a chapter it covers has at least one correct and two wrong answers. :func:`case_pattern` prints
which cases an answer fails, to choose the key cases' weights.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from course_lib.exercises.core import ExerciseSpec, Verdict

SEEDS: tuple[int, ...] = tuple(range(6))
MAX_WRONG_FRACTION = 0.4
ANSWER_DIR = Path(__file__).resolve().parent / "wrong_answers"


@dataclass(frozen=True)
class Answer:
    """One learner's answer to an exercise: its functions (in the spec's order), right or wrong."""

    label: str
    fns: tuple[Callable, ...]
    right: bool
    max_fraction: float = MAX_WRONG_FRACTION

    @property
    def id(self) -> str:
        return ("correct: " if self.right else "wrong: ") + self.label


def correct(label: str, *fns: Callable) -> Answer:
    """A correct answer: it must pass on every case of every seed."""
    return Answer(label, fns, True)


def wrong(label: str, *fns: Callable, max_fraction: float = MAX_WRONG_FRACTION) -> Answer:
    """A wrong answer: it must fail on every seed and keep at most ``max_fraction`` of the points."""
    return Answer(label, fns, False, max_fraction)


def verdicts(spec: ExerciseSpec, answer: Answer, seeds: Iterable[int] = SEEDS) -> list[tuple[int | None, Verdict]]:
    """The verdicts on the notebook's cases (seed ``None``) and on each grading seed."""
    return [(seed, spec.check(*answer.fns, quiet=True, seed=seed)) for seed in (None, *seeds)]


def problems(spec: ExerciseSpec, answer: Answer, seeds: Iterable[int] = SEEDS) -> list[str]:
    """What is wrong with how the check treats ``answer`` (empty: as it should)."""
    out = []
    maximum = spec.exercise.points
    for seed, v in verdicts(spec, answer, seeds):
        where = "the notebook's cases" if seed is None else f"seed {seed}"
        if answer.right and v.status != "passed":
            out.append(f"{where}: a correct answer got {v}")
        elif not answer.right and v.status != "failed":
            out.append(f"{where}: a wrong answer got {v}")
        elif not answer.right and v.points > answer.max_fraction * maximum + 1e-9:
            out.append(f"{where}: a wrong answer kept {v.points:g} of {maximum:g} points: {v}")
    return out


def chapters() -> list[str]:
    """The chapters that have a wrong-answer module (``"ch01"``, ...)."""
    return sorted(p.stem for p in ANSWER_DIR.glob("ch[0-9][0-9].py"))


def answers(chapter: str) -> dict[str, list[Answer]]:
    return importlib.import_module(f"wrong_answers.{chapter}").ANSWERS


def specs(chapter: str) -> dict[str, ExerciseSpec]:
    return importlib.import_module(f"course_lib.exercises.{chapter}").SPECS


def case_pattern(spec: ExerciseSpec, answer: Answer, seeds: Iterable[int] = SEEDS) -> str:
    """One line per seed: ``.`` for a case passed, ``x`` for a case failed, then the points (a diagnosis aid)."""
    from course_lib.exercises.core import spec_cases

    lines = []
    for seed in (None, *seeds):
        cases = spec.cases(seed)
        marks = []
        for case in spec_cases(spec, answer.fns, cases):
            try:
                marks.append("." if case.run() is None else "x")
            except Exception as err:  # noqa: BLE001 - a diagnosis aid: show what the case raised
                marks.append(type(err).__name__[0])
        v = spec.check(*answer.fns, quiet=True, seed=seed)
        lines.append(f"{str(seed):>4} {''.join(marks)} {v.points:g}/{spec.exercise.points:g}")
    return "\n".join(lines)


def rescored(spec: ExerciseSpec, *fns: Callable, seed: int | None = None) -> float:
    """The points of ``fns`` recomputed from the rule the statements state, case by case: the weights of the cases
    passed over the total weight, at most ``KEY_CAP`` of the points when a key case fails, all the points only when
    every case passes (an independent check of :func:`course_lib.exercises.core.run_check`'s arithmetic)."""
    from course_lib.exercises.core import KEY_CAP, spec_cases

    cases = spec.cases(seed)
    passed = []
    for case in spec_cases(spec, fns, cases):
        try:
            passed.append(case.run() is None)
        except NotImplementedError:
            return 0.0
        except Exception:  # noqa: BLE001 - the learner's code raised: the case fails
            passed.append(False)
    if all(passed):
        return float(spec.exercise.points)
    share = sum(c.weight for c, ok in zip(cases, passed) if ok) / sum(c.weight for c in cases)
    if any(c.key and not ok for c, ok in zip(cases, passed)):
        share = min(share, KEY_CAP)
    return round(spec.exercise.points * share, 2)
