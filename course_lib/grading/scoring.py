"""Points from recorded outputs, computed in the grader's own process.

:func:`score_exercise` takes what a probe saved (loaded by :func:`course_lib.grading.records.load_payload`), the
grading cases and the expected records the grader computed itself with the library, and runs the spec's
``compare`` on each case through :func:`course_lib.exercises.core.run_check`: the verdict line and the partial credit
are exactly those a notebook's check prints (points proportional to the weight of the cases passed, capped when a
key case fails). A record that does not decode
fails its case; cases the probe never reached (a crash or a time limit in the middle) fail with the reason.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence, Set
from dataclasses import dataclass, field
from typing import Any

from course_lib.exercises.core import Case, CaseInput, Raised, Verdict, run_check
from course_lib.grading.assignment import ExerciseInfo
from course_lib.grading.records import Budget, RecordError, decode

__all__ = ["ExerciseResult", "score_exercise", "zero"]


@dataclass
class ExerciseResult:
    """The outcome of one exercise for one submission."""

    id: str
    title: str
    max_points: float
    points: float = 0.0
    status: str = "not run"      # passed, failed, not implemented, missing, violation, error, not run
    passed: int = 0
    total: int = 0
    verdict: str = ""            # the verdict line(s), as a notebook's check prints them
    reason: str = ""             # why it lost points, in one sentence (first failing case, violation, crash...)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "points": self.points, "max_points": self.max_points,
                "status": self.status, "cases_passed": self.passed, "cases_total": self.total,
                "verdict": self.verdict, "reason": self.reason, "notes": list(self.notes)}


def zero(info: ExerciseInfo, status: str, reason: str, notes: Sequence[str] = ()) -> ExerciseResult:
    """A result with no points (the exercise did not run, or it is void)."""
    return ExerciseResult(info.id, info.title, info.points, 0.0, status, 0, 0, "", reason, list(notes))


def _case_runner(record: Any, expected: Any, compare: Callable[[Any, Any], str | None]) -> Callable[[], str | None]:
    """A :class:`Case` body comparing one recorded output with its expected value."""

    def run() -> str | None:
        if type(record) is Raised:
            return record.problem()
        return compare(record, expected)
    return run


PRIVATE_FAILED = "the output is not right on this case (an instructor's private case: no details are given)"


def _private_runner(run: Callable[[], str | None]) -> Callable[[], str | None]:
    """A case body whose failure message says nothing the submission wrote (its values, its exception's text)."""

    def private() -> str | None:
        return None if run() is None else PRIVATE_FAILED
    return private


def score_exercise(info: ExerciseInfo, cases: Sequence[CaseInput], expected: Sequence[Any],
                   payload: dict[str, Any], stopped: str | None = None, private: Set[int] = frozenset()
                   ) -> ExerciseResult:
    """Score one exercise from its probe's payload; ``stopped`` says why the probe ended early, if it did.

    ``private``: the indices of the instructor's private cases, whose failure messages never quote the submission.
    Decoding the records is bounded (:class:`course_lib.grading.records.Budget`): in nodes and in time.
    """
    spec = info.spec
    missing = [str(n) for n in payload.get("missing", [])]
    if missing:
        names, verb = ", ".join(missing), "are" if len(missing) > 1 else "is"
        return zero(info, "failed", f"{names} {verb} not defined after your exercise cell ran (only the exercise "
                                    "cell is graded: everything it needs must be in it)")
    records = payload.get("cases", [])
    runs: list[Case] = []
    budget = Budget()
    for k, case in enumerate(cases):
        if k < len(records):
            try:
                record = decode(records[k], budget=budget)
            except RecordError as err:
                record = Raised("RecordError", f"the recorded output cannot be used ({err})")
            run = _case_runner(record, expected[k], spec.compare)
            runs.append(Case(case.name, _private_runner(run) if k in private else run, case.hidden, case.weight,
                             case.key))
        else:
            why = stopped or "the check stopped before this case"
            runs.append(Case(case.name, (lambda why=why: why), case.hidden, case.weight, case.key))
    verdict: Verdict = run_check(spec.exercise, runs, quiet=True)
    status = verdict.status
    result = ExerciseResult(info.id, info.title, info.points, float(verdict.points), status, verdict.passed,
                            verdict.total, str(verdict), verdict.messages[0] if verdict.messages else "")
    if status == "not implemented":
        result.reason = "not implemented yet (a stub raised NotImplementedError)"
    return result
