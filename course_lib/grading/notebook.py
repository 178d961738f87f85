"""The graded notebook: the reference notebook with the submission's exercise cells in place and probes for checks.

:func:`build_graded_notebook` starts from the instructor's reference notebook and changes only three kinds of cells:

- a first cell is added: it imports :mod:`course_lib.grading.kernel` and starts it (tripwires, snapshot) before any
  submission code runs;
- each exercise cell becomes ``__course_grade__.run_submission("X.Y", <code>)`` with the submission's scanned code
  as a string literal (so nothing in it can act as an nbval comment marker), or the learner stub when the exercise
  is not run (missing, unchanged, refused by the scan, or left out of a re-run);
- each check cell of a probed exercise becomes ``__course_grade__.probe("X.Y", TOKEN)``, tagged
  ``nbval-check-output``, with the fixed line :data:`~course_lib.grading.kernel.PROBE_LINE` as its reference output.
  The checks of exercises not probed are left out. Right after the place of each check, a
  ``__course_grade__.restore(...)`` cell puts back the library functions that were absent from the grading build only
  while that exercise was graded (see :mod:`course_lib.grading.build`).

Every other cell is the reference's own (its outputs are dropped: nbval's lax mode only compares tagged cells). Cells
after the last probe cannot change any points and are left out. By default the cells in between are pruned too: a
reference cell is kept only if it is one of the notebook's first two code cells (installation and imports, by the
course's convention), if it cannot be analysed, or if it binds a name that a kept later cell (an exercise cell
included) reads. Grading then costs the imports and the exercises, not the notebook's training runs;
``prune=False`` (``--run-all-cells``) keeps every cell up to the last probe.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import nbformat

from course_lib.grading.assignment import Assignment
from course_lib.grading.kernel import PROBE_LINE
from course_lib.grading.scan import names_used

__all__ = ["Plan", "CellInfo", "build_graded_notebook", "RUNTIME_NAME"]

RUNTIME_NAME = "__course_grade__"
SETUP_CELLS = 2


@dataclass
class Plan:
    """What the graded notebook does for each exercise of one run."""

    code: dict[str, str] = field(default_factory=dict)        # exercise -> submission code (run_submission)
    uses: dict[str, set[str]] = field(default_factory=dict)   # exercise -> names that code reads
    probes: set[str] = field(default_factory=set)             # exercises whose check becomes a probe


@dataclass(frozen=True)
class CellInfo:
    """What one code cell of the graded notebook is, for the report and the time limits."""

    kind: str                 # "prelude", "reference", "submission", "stub", "probe", "restore"
    exercise: str | None
    timeout: float
    reference_cell: int | None  # its index in the reference notebook


def _needed(assignment: Assignment, plan: Plan, last: int) -> set[int]:
    """Indices of the reference's code cells (before ``last``) that the run needs (see the module docstring)."""
    cells = assignment.notebook.cells
    exercise_cells = {info.exercise_cell: ex for ex, info in assignment.exercises.items()}
    check_cells = {info.check_cell for info in assignment.exercises.values()}
    code_indices = [i for i, c in enumerate(cells[:last]) if c.cell_type == "code"]
    setup = set(code_indices[:SETUP_CELLS])
    keep: set[int] = set()
    needed: set[str] = set()
    for index in reversed(code_indices):
        if index in check_cells:
            continue
        if index in exercise_cells:
            ex = exercise_cells[index]
            needed |= plan.uses.get(ex, set())
            if ex not in plan.code:  # a stub: what it reads is the reference's business, but keep it simple
                analysed = names_used(assignment.exercises[ex].stub)
                needed |= analysed[0] if analysed else set()
            continue
        analysed = names_used(cells[index].source)
        if index in setup or analysed is None or analysed[1] & needed:
            keep.add(index)
            if analysed is not None:
                needed |= analysed[0]
    return keep


def _code_cell(source: str, tags: list[str] | None = None, outputs: list[Any] | None = None,
               execution_count: int | None = None) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(source)
    cell.metadata = {"tags": list(tags or [])}
    cell.outputs = [nbformat.from_dict(o) for o in (outputs or [])]
    cell.execution_count = execution_count
    return cell


def build_graded_notebook(assignment: Assignment, plan: Plan, config: Mapping[str, Any], *, prune: bool = True,
                          cell_timeout: float, reference_timeout: float,
                          tokens: Mapping[str, str] | None = None,
                          restore: Mapping[str, list[tuple[str, str, str]]] | None = None
                          ) -> tuple[nbformat.NotebookNode, dict[int, CellInfo]]:
    """The notebook nbval runs for one submission, and what each of its code cells is (by nbval's cell number).

    ``config`` is passed to :func:`course_lib.grading.kernel.start` in the first cell (the chapter's module, the
    exercises and the learner's function names, the folders of the cases and the results). ``tokens``: per probed
    exercise, the string its probe writes into its results (sent only in the probe's own cell). ``restore``: per
    exercise, the library functions (module, name, source) put back right after its check
    (:func:`course_lib.grading.kernel.restore`), when a later cell of the run may need them.
    """
    reference = assignment.notebook
    checks = {info.check_cell: ex for ex, info in assignment.exercises.items()}
    exercise_cells = {info.exercise_cell: ex for ex, info in assignment.exercises.items()}
    probed = [assignment.exercises[ex].check_cell for ex in plan.probes]
    last = max(probed) + 1 if probed else max(exercise_cells) + 1
    keep = _needed(assignment, plan, last) if prune else {i for i, c in enumerate(reference.cells[:last])
                                                          if c.cell_type == "code"}
    nb = nbformat.v4.new_notebook()
    nb.metadata = {"kernelspec": {"name": "course-grade", "display_name": "course-grade", "language": "python"},
                   "language_info": {"name": "python"}}
    cells: list[nbformat.NotebookNode] = []
    info: dict[int, CellInfo] = {}

    def add(cell: nbformat.NotebookNode, what: CellInfo) -> None:
        info[len(cells)] = what
        cells.append(cell)

    add(_code_cell(f"import course_lib.grading.kernel as {RUNTIME_NAME}\n{RUNTIME_NAME}.start({dict(config)!r})"),
        CellInfo("prelude", None, reference_timeout, None))
    for index, cell in enumerate(reference.cells[:last]):
        if cell.cell_type != "code":
            continue
        if index in exercise_cells:
            ex = exercise_cells[index]
            if ex in plan.code:
                add(_code_cell(f"{RUNTIME_NAME}.run_submission({ex!r}, {plan.code[ex]!r})"),
                    CellInfo("submission", ex, cell_timeout, index))
            else:
                add(_code_cell(assignment.exercises[ex].stub), CellInfo("stub", ex, reference_timeout, index))
        elif index in checks:
            ex = checks[index]
            if ex in plan.probes:
                line = PROBE_LINE.format(id=ex) + "\n"
                token = (tokens or {}).get(ex, "")
                add(_code_cell(f"{RUNTIME_NAME}.probe({ex!r}, {token!r})", ["nbval-check-output"],
                               [{"output_type": "stream", "name": "stdout", "text": line}], execution_count=1),
                    CellInfo("probe", ex, cell_timeout, index))
            if (restore or {}).get(ex) and index < last - 1:
                add(_code_cell(f"{RUNTIME_NAME}.restore({list(restore[ex])!r})"),  # type: ignore[index]
                    CellInfo("restore", ex, reference_timeout, index))
        elif index in keep:
            source = copy.deepcopy(cell.source)
            add(_code_cell(source), CellInfo("reference", None, reference_timeout, index))
    nb.cells = cells
    return nb, info
