"""The assignment: the instructor's reference notebook, its exercises, and the cases a batch is graded with.

:func:`load_assignment` reads the reference (``solutions/NN_slug/lab.ipynb``, found from a chapter number such as
``"02"``, a folder name such as ``"02_original_gan"``, a folder holding ``lab.ipynb``, or a path to any executed
reference ``.ipynb``) and finds, per exercise (from the ``exercise-X.Y`` / ``check-X.Y`` cell tags of
CONTRIBUTING.md):

- the stub cell and the check cell, and the names the check passes to its ``check_*`` function;
- the learner stub (the reference cell with its solution regions replaced, as the learner notebook has it);
- the hints (the ``<details>`` blocks of the exercise's Markdown cell);
- the :class:`~course_lib.exercises.core.ExerciseSpec` from ``course_lib.exercises.chNN.SPECS``;
- the static :class:`~course_lib.grading.scan.Rules` of the exercise: which names in the notebook are the library's
  solution (found by importing what the notebook's own cells import and comparing objects).

:func:`grading_cases` draws a batch's cases: every spec's cases for a seed derived from the instructor's key and the
assignment's name (:func:`derive_seed`), plus the instructor's private cases (:func:`load_private_cases`).
"""

from __future__ import annotations

import ast
import hashlib
import importlib
import re
import runpy
import types
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
import torch

from course_lib.authoring import EXERCISE_HEADING, strip_code_solution
from course_lib.exercises.core import CaseInput, ExerciseSpec, not_implemented, use
from course_lib.grading.scan import Rules

__all__ = ["Assignment", "ExerciseInfo", "AssignmentError", "load_assignment", "derive_seed", "grading_cases",
           "load_private_cases", "exercise_tag", "check_tag"]

_DETAILS = re.compile(r"<details>\s*<summary>(?P<title>.*?)</summary>(?P<body>.*?)</details>", re.DOTALL)


class AssignmentError(ValueError):
    """The assignment or the private cases cannot be used (an instructor's mistake, reported before grading)."""


def exercise_tag(cell: Mapping[str, Any]) -> str | None:
    """The ``X.Y`` of a cell tagged ``exercise-X.Y`` (the first such tag), else ``None``."""
    return _tag(cell, "exercise-")


def check_tag(cell: Mapping[str, Any]) -> str | None:
    return _tag(cell, "check-")


def _tag(cell: Mapping[str, Any], prefix: str) -> str | None:
    metadata = cell.get("metadata") if isinstance(cell, Mapping) else None
    tags = metadata.get("tags") if isinstance(metadata, Mapping) else None
    if not isinstance(tags, list):
        return None
    for tag in tags:
        if isinstance(tag, str) and tag.startswith(prefix) and re.fullmatch(r"\d+\.\d+", tag[len(prefix):]):
            return tag[len(prefix):]
    return None


@dataclass
class ExerciseInfo:
    """One exercise of the assignment."""

    id: str
    spec: ExerciseSpec
    exercise_cell: int          # index of the stub cell in the reference's cells
    check_cell: int             # index of the check cell
    names: tuple[str, ...]      # the learner's functions the check receives
    stub: str                   # the learner stub's source
    hints: list[tuple[str, str]] = field(default_factory=list)  # (summary, body)
    rules: Rules = field(default_factory=Rules)

    @property
    def points(self) -> float:
        return float(self.spec.exercise.points)

    @property
    def title(self) -> str:
        return self.spec.exercise.title


@dataclass
class Assignment:
    """The reference notebook and what the grader derives from it."""

    name: str                   # "02_original_gan"
    path: Path                  # the reference .ipynb
    notebook: nbformat.NotebookNode
    module: str                 # "course_lib.exercises.ch02"
    exercises: dict[str, ExerciseInfo]

    @property
    def max_points(self) -> float:
        return sum(info.points for info in self.exercises.values())


def _repo_roots() -> list[Path]:
    roots = []
    for start in (Path.cwd(), Path(__file__).resolve().parent):
        for folder in (start, *start.parents):
            if (folder / "solutions").is_dir():
                roots.append(folder)
                break
    return roots


def resolve_reference(assignment: str) -> Path:
    """The reference ``.ipynb`` named by ``assignment`` (see the module docstring)."""
    path = Path(assignment).expanduser()
    if path.suffix == ".ipynb" and path.is_file():
        return path.resolve()
    if path.is_dir() and (path / "lab.ipynb").is_file():
        return (path / "lab.ipynb").resolve()
    for root in _repo_roots():
        solutions = root / "solutions"
        for folder in sorted(p for p in solutions.iterdir() if p.is_dir()):
            number = folder.name.split("_", 1)[0]
            if assignment in (folder.name, number) or (assignment.isdigit() and number.isdigit()
                                                        and int(assignment) == int(number)):
                if (folder / "lab.ipynb").is_file():
                    return (folder / "lab.ipynb").resolve()
    raise AssignmentError(f"cannot find the reference notebook for {assignment!r}: give a chapter ('02'), a folder "
                          "name under solutions/ ('02_original_gan') or a path to the reference .ipynb.")


def _check_call_names(source: str) -> tuple[str, ...] | None:
    """The argument names of the single ``chNN.check_*(...)`` call of a check cell."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr.startswith("check"):
            if all(isinstance(a, ast.Name) for a in node.args) and node.args:
                return tuple(a.id for a in node.args)  # type: ignore[attr-defined]
    return None


def _hints(markdown: str) -> list[tuple[str, str]]:
    return [(m.group("title").strip(), m.group("body").strip()) for m in _DETAILS.finditer(markdown)]


def _imported_objects(notebook: nbformat.NotebookNode, skip: set[int]) -> dict[str, Any]:
    """Name -> object for every import of the notebook's own code cells (imported here, in the grader)."""
    out: dict[str, Any] = {}
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code" or index in skip:
            continue
        from IPython.core.inputtransformer2 import TransformerManager

        try:
            tree = ast.parse(TransformerManager().transform_cell(cell.source))
        except Exception:  # noqa: BLE001 - a cell that cannot be parsed binds nothing we can see
            continue
        for node in ast.walk(tree):
            try:
                if isinstance(node, ast.Import):
                    for alias in node.names:
                        if alias.asname:
                            out[alias.asname] = importlib.import_module(alias.name)
                        else:
                            top = alias.name.split(".")[0]
                            out[top] = importlib.import_module(top)
                elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                    module = importlib.import_module(node.module)
                    for alias in node.names:
                        if alias.name == "*":
                            continue
                        value = getattr(module, alias.name, None)
                        if value is None:
                            value = importlib.import_module(f"{node.module}.{alias.name}")
                        out[alias.asname or alias.name] = value
            except Exception:  # noqa: BLE001 - an import that fails here cannot be a library alias
                continue
    return out


def _rules(spec: ExerciseSpec, imported: Mapping[str, Any]) -> Rules:
    references = [f for f in spec.references if isinstance(f, types.FunctionType)]
    solution_names = {f.__name__ for f in references}
    forbidden_functions = set(references)
    for module_name in spec.forbidden_modules:
        module = importlib.import_module(module_name)
        for value in vars(module).values():
            if isinstance(value, types.FunctionType) and value.__module__ == module_name:
                solution_names.add(value.__name__)
                forbidden_functions.add(value)
    solution_modules = set(spec.forbidden_modules) | {f.__module__ for f in references}
    library, forbidden, targets = set(), set(), []
    for alias, obj in imported.items():
        origin = obj.__name__ if isinstance(obj, types.ModuleType) else getattr(obj, "__module__", "") or ""
        if not origin.startswith("course_lib"):
            continue
        library.add(alias)
        targets.append((alias, origin if isinstance(obj, types.ModuleType)
                        else f"{origin}.{getattr(obj, '__name__', alias)}"))
        if obj is use or obj is not_implemented:  # the notebook's harmless helpers
            continue
        if (obj in forbidden_functions if isinstance(obj, types.FunctionType) else False) or \
                (isinstance(obj, types.ModuleType) and obj.__name__ in solution_modules) or \
                origin.startswith(("course_lib.exercises", "course_lib.grading")):
            forbidden.add(alias)
    return Rules(frozenset(solution_names), frozenset(spec.forbidden_modules), frozenset(forbidden),
                 frozenset(library), tuple(sorted(targets)))


def load_assignment(assignment: str) -> Assignment:
    """Read the reference notebook and describe its exercises (:class:`AssignmentError` when it breaks the
    exercise convention)."""
    path = resolve_reference(assignment)
    try:
        notebook = nbformat.read(path, as_version=4)
    except Exception as err:  # noqa: BLE001
        raise AssignmentError(f"cannot read the reference notebook {path}: {err}") from err
    stubs: dict[str, int] = {}
    checks: dict[str, int] = {}
    headings: dict[str, int] = {}
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "code":
            if (ex := exercise_tag(cell)) is not None:
                stubs[ex] = index
            if (ex := check_tag(cell)) is not None:
                checks[ex] = index
        elif cell.cell_type == "markdown":
            for line in cell.source.split("\n"):
                if (m := EXERCISE_HEADING.match(line)) is not None:
                    headings[m.group("id")] = index
    if not stubs:
        raise AssignmentError(f"{path} has no cell tagged exercise-X.Y: nothing to grade.")
    majors = {ex.split(".")[0] for ex in stubs}
    if len(majors) != 1:
        raise AssignmentError(f"{path} mixes exercises of chapters {sorted(majors)}.")
    module_name = f"course_lib.exercises.ch{int(majors.pop()):02d}"
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        raise AssignmentError(f"{path}: there is no {module_name} with the checks of its exercises.") from err
    specs: Mapping[str, ExerciseSpec] = getattr(module, "SPECS", {})
    imported = _imported_objects(notebook, set(stubs.values()))
    exercises: dict[str, ExerciseInfo] = {}
    for ex in sorted(stubs, key=lambda e: stubs[e]):
        if ex not in checks:
            raise AssignmentError(f"{path}: exercise {ex} has no check cell (tag check-{ex}).")
        if ex not in specs:
            raise AssignmentError(f"{path}: exercise {ex} has no spec in {module_name}.SPECS.")
        if not stubs[ex] < checks[ex]:
            raise AssignmentError(f"{path}: the check cell of exercise {ex} comes before its stub cell.")
        spec = specs[ex]
        names = _check_call_names(notebook.cells[checks[ex]].source) or spec.names
        if len(names) != len(spec.names):
            raise AssignmentError(f"{path}: the check of exercise {ex} passes {len(names)} function(s), the spec "
                                  f"expects {len(spec.names)}.")
        hints = _hints(notebook.cells[headings[ex]].source) if ex in headings else []
        exercises[ex] = ExerciseInfo(ex, spec, stubs[ex], checks[ex], tuple(names),
                                     strip_code_solution(notebook.cells[stubs[ex]].source, ex), hints,
                                     _rules(spec, imported))
    name = path.parent.name if path.name == "lab.ipynb" else path.stem
    return Assignment(name, path, notebook, module_name, exercises)


def derive_seed(key: str, assignment: str) -> int:
    """The batch's secret seed: 62 bits of SHA-256 of the instructor's key and the assignment's name."""
    digest = hashlib.sha256(f"course-grade\0{key}\0{assignment}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 2


def load_private_cases(folder: Path, assignment: Assignment) -> dict[str, list[CaseInput]]:
    """The instructor's private cases for ``assignment`` from ``folder``.

    Two forms, both trusted (they are the instructor's files):

    - a Python file ``*.py`` defining ``CASES = {"2.1": [{"name": "...", "p_data": ..., "p_g": ...}, ...], ...}``:
      each case is a dict of the spec's inputs, with an optional ``"name"``;
    - a file ``X.Y.pt`` holding a list of such dicts (``torch.save``; loaded with ``weights_only=True``).

    Cases of exercises that are not in the assignment are ignored; a malformed case raises
    :class:`AssignmentError` naming the file and the problem.
    """
    if not folder.is_dir():
        raise AssignmentError(f"--private-cases {folder} is not a folder.")
    found: dict[str, list[CaseInput]] = {ex: [] for ex in assignment.exercises}
    sources: list[tuple[str, Mapping[str, Any]]] = []
    for file in sorted(folder.iterdir()):
        if file.suffix == ".py":
            try:
                namespace = runpy.run_path(str(file))
            except Exception as err:  # noqa: BLE001
                raise AssignmentError(f"{file}: {type(err).__name__}: {err}") from err
            cases = namespace.get("CASES", {})
            if not isinstance(cases, Mapping):
                raise AssignmentError(f"{file}: CASES must be a dict from exercise id to a list of cases.")
            sources.append((str(file), cases))
        elif file.suffix == ".pt":
            try:
                cases = torch.load(file, map_location="cpu", weights_only=True)
            except Exception as err:  # noqa: BLE001
                raise AssignmentError(f"{file}: cannot be loaded ({err}).") from err
            sources.append((str(file), {file.stem: cases}))
    for where, cases in sources:
        for ex, items in cases.items():
            if ex not in assignment.exercises:
                continue
            if not isinstance(items, (list, tuple)):
                raise AssignmentError(f"{where}: the cases of exercise {ex} must be a list of dicts.")
            spec = assignment.exercises[ex].spec
            for k, item in enumerate(items):
                if not isinstance(item, Mapping):
                    raise AssignmentError(f"{where}: case {k} of exercise {ex} is not a dict.")
                inputs = {key: value for key, value in item.items() if key != "name"}
                try:
                    if spec.validate is not None:
                        spec.validate(inputs)
                    spec.reference(inputs)
                except Exception as err:  # noqa: BLE001
                    raise AssignmentError(f"{where}: case {k} of exercise {ex}: {err}") from err
                found[ex].append(CaseInput(str(item.get("name", f"private case {k + 1}")), inputs, hidden=True))
    return found


def grading_cases(assignment: Assignment, seed: int, private: Mapping[str, list[CaseInput]] | None = None
                  ) -> dict[str, list[CaseInput]]:
    """Per exercise: the spec's cases drawn from ``seed`` (same kinds as the notebook's, new numbers), then the
    private ones."""
    out = {}
    for ex, info in assignment.exercises.items():
        out[ex] = list(info.spec.cases(seed)) + list((private or {}).get(ex, []))
    return out
