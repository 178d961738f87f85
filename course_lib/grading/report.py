"""The grader's outputs: the gradebook (CSV and its JSON twin) and one feedback page per student (Markdown).

- ``grades.csv``: one row per submission: ``student``, one column ``ex_X.Y`` per exercise (points earned),
  ``total``, ``max`` and ``status`` (``ok``, or what went wrong, e.g. ``violation: 2.1; timeout: 2.3``);
- ``grades.json``: the same rows with everything the feedback says (per exercise: status, cases passed, the verdict
  line, the reason, notes), plus the assignment's exercises and maximum;
- ``feedback/<student>.md``: per exercise, passed or not, why (the first failing case's message, which never states
  the answer), the notes (a crash, a dropped tag, a duplicated cell...) and the hint to open next: none when the
  exercise passed, else the first hint when nothing passed and a later one the more cases passed.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from course_lib.grading.assignment import Assignment
from course_lib.grading.runner import SubmissionResult
from course_lib.grading.scoring import ExerciseResult

__all__ = ["write_csv", "write_json", "write_feedback", "feedback_markdown", "next_hint", "safe_name"]


def _fmt(x: float) -> str:
    return f"{x:g}"


def safe_name(student: str) -> str:
    """A file name for a student id (``alice/lab`` -> ``alice__lab-<hash>``), different for different ids.

    An id that is already a plain file name (letters, digits, ``-``, ``_``, inner dots) is kept as it is; any other
    gets a short hash of the id appended, so that two ids never share a feedback file (``baseline_honest`` and
    ``baseline_honest_``, ``Alice`` and ``alice`` on a case-insensitive disk)."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", student.replace("/", "__").replace("\\", "__")).strip("._")[:100]
    if name == student and name.lower() == name and name:
        return name
    return f"{name or 'submission'}-{hashlib.sha256(student.encode()).hexdigest()[:10]}"


def write_csv(results: Sequence[SubmissionResult], assignment: Assignment, path: Path) -> None:
    """The gradebook: one row per submission."""
    exercises = list(assignment.exercises)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["student", *(f"ex_{ex}" for ex in exercises), "total", "max", "status"])
        for r in results:
            writer.writerow([r.student, *(_fmt(r.exercises[ex].points) for ex in exercises), _fmt(r.total),
                             _fmt(r.max_points), r.status_text])


def write_json(results: Sequence[SubmissionResult], assignment: Assignment, path: Path,
               meta: dict[str, Any] | None = None) -> None:
    """The gradebook's JSON twin, with the details of every exercise."""
    data = {"assignment": assignment.name, "reference": str(assignment.path),
            "exercises": {ex: {"title": info.title, "points": info.points}
                          for ex, info in assignment.exercises.items()},
            "max": assignment.max_points, **(meta or {}),
            "submissions": [r.to_dict() for r in results]}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def next_hint(result: ExerciseResult, hints: Sequence[tuple[str, str]]) -> tuple[str, str] | None:
    """The hint to open next: none for a passed exercise; the first when no case passed; later ones as more pass.

    With :math:`n` hints and a fraction :math:`f` of the cases passed, hint number
    :math:`\\min(n, 1 + \\lfloor f n \\rfloor)`.
    """
    if not hints or result.status == "passed" or result.status == "violation":
        return None
    fraction = result.passed / result.total if result.total else 0.0
    index = min(len(hints), 1 + int(fraction * len(hints)))
    return hints[index - 1]


_STATUS_WORDS = {
    "passed": "passed",
    "failed": "failed",
    "not implemented": "not implemented",
    "missing": "missing",
    "violation": "no points: grading rules broken",
    "error": "did not run",
    "not run": "not run",
}


def feedback_markdown(result: SubmissionResult, assignment: Assignment) -> str:
    """One student's feedback page."""
    lines = [f"# Feedback on {assignment.name}: {result.student}", "",
             f"**Total: {_fmt(result.total)} / {_fmt(result.max_points)} points**", ""]
    if result.status:
        lines += [f"Status: {result.status_text}.", ""]
    for note in result.notes:
        lines += [f"> {note.strip()}", ""]
    lines += ["| Exercise | Points | Result |", "|---|---|---|"]
    for ex, r in result.exercises.items():
        lines.append(f"| {ex} {r.title} | {_fmt(r.points)} / {_fmt(r.max_points)} | "
                     f"{_STATUS_WORDS.get(r.status, r.status)} |")
    lines.append("")
    for ex, r in result.exercises.items():
        info = assignment.exercises[ex]
        lines += [f"## Exercise {ex}: {r.title} ({_fmt(r.points)} / {_fmt(r.max_points)} points)", ""]
        if r.status == "passed":
            lines.append(f"Passed: all {r.total} cases, hidden ones included.")
        elif r.status == "failed":
            lines.append(f"Failed {r.total - r.passed} of {r.total} cases (partial credit for the {r.passed} that "
                         "passed).")
        if r.reason:
            lines.append(f"Why: {r.reason}")
        if r.verdict:
            lines += ["", "```text", r.verdict, "```"]
        if r.notes:
            lines.append("")
        for note in r.notes:
            lines.append(f"- Note: {note}")
        hint = next_hint(r, info.hints)
        if hint is not None:
            title, body = hint
            lines += ["", "The hint to look at next:", "", f"<details><summary>{title}</summary>", "", body, "",
                      "</details>"]
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def write_feedback(results: Sequence[SubmissionResult], assignment: Assignment, folder: Path) -> list[Path]:
    """One Markdown file per submission in ``folder``; returns the paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for r in results:
        path = folder / f"{safe_name(r.student)}.md"
        path.write_text(feedback_markdown(r, assignment), encoding="utf-8")
        paths.append(path)
    return paths
