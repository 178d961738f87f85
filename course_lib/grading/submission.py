"""Reading a submitted notebook: whatever its author or their editor did to it, find its exercise cells.

:func:`read_submission` never raises on a bad file. It accepts what Jupyter, JupyterLab, VS Code and Colab write:
``source`` as one string or a list of lines, cells with or without ``id``, any ``nbformat_minor``, Colab's extra
metadata (``colab``, ``outputId``, ``executionInfo``...), outputs in any form (they are never read), and the old
nbformat 3 layout (``worksheets``). What it keeps of a submission is the source of its exercise cells:

- a code cell tagged ``exercise-X.Y`` is exercise X.Y's cell. When several cells carry the same tag (a copied cell),
  the **last** one counts: it is the one whose definitions a top-to-bottom run of the notebook would leave behind;
- when no cell carries the tag (an editor that dropped cell tags), the last code cell that defines all of the
  exercise's function names at top level (``def name`` or ``name = ...``, not ``name = use(...)``) is taken, and the
  feedback says so;
- everything else (the learner's other cells, outputs, metadata) is ignored: the grader runs the reference's cells.

A file that is not UTF-8 JSON, not a notebook, or larger than the size limit is reported as malformed; a symbolic
link or anything that is not a regular file is refused (a link could name the reference solution).
"""

from __future__ import annotations

import ast
import json
import os
import re
import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Submission", "read_submission", "MAX_NOTEBOOK_BYTES"]

MAX_NOTEBOOK_BYTES = 50 * 2**20
_TAG = re.compile(r"(exercise|check)-(\d+\.\d+)")


@dataclass
class Submission:
    """What the grader keeps of one submitted file."""

    student: str
    path: Path
    cells: dict[str, str] = field(default_factory=dict)       # exercise id -> source
    notes: dict[str, list[str]] = field(default_factory=dict)  # exercise id -> remarks for the feedback
    problem: str | None = None                                 # why the file could not be read at all
    chapters: set[str] = field(default_factory=set)            # chapters whose exercise tags it carries

    def note(self, exercise: str, text: str) -> None:
        self.notes.setdefault(exercise, []).append(text)


def _text(source: Any) -> str | None:
    if isinstance(source, str):
        return source
    if isinstance(source, Sequence) and all(isinstance(s, str) for s in source):
        return "".join(source)
    return None


def _cells(nb: Mapping[str, Any]) -> list[Mapping[str, Any]] | None:
    cells = nb.get("cells")
    if cells is None and isinstance(nb.get("worksheets"), list):  # nbformat 3
        cells = [c for ws in nb["worksheets"] if isinstance(ws, Mapping) for c in ws.get("cells", [])]
    if not isinstance(cells, list):
        return None
    return [c for c in cells if isinstance(c, Mapping)]


def _tags(cell: Mapping[str, Any]) -> list[str]:
    metadata = cell.get("metadata")
    tags = metadata.get("tags") if isinstance(metadata, Mapping) else None
    return [t for t in tags if isinstance(t, str)] if isinstance(tags, list) else []


def _defines_all(source: str, names: Sequence[str]) -> bool:
    """True when ``source`` binds every one of ``names`` at top level (a def, a class or a plain assignment)."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager

        tree = ast.parse(TransformerManager().transform_cell(source))
    except Exception:  # noqa: BLE001 - an unparsable cell cannot be identified by its definitions
        return False
    bound = set()
    for stmt in tree.body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(stmt.name)
        elif isinstance(stmt, ast.Assign) and not (isinstance(stmt.value, ast.Call) and isinstance(stmt.value.func,
                                                   ast.Name) and stmt.value.func.id == "use"):
            bound |= {t.id for t in stmt.targets if isinstance(t, ast.Name)}
    return all(name in bound for name in names)


def read_submission(path: Path, student: str, exercises: Mapping[str, Sequence[str]]) -> Submission:
    """Read ``path`` and find the cells of ``exercises`` (id -> the function names the exercise defines)."""
    sub = Submission(student, path)
    try:
        info = path.lstat()
        if stat.S_ISLNK(info.st_mode):
            sub.problem = "the file is a symbolic link: refused (submit the notebook itself)"
            return sub
        if not stat.S_ISREG(info.st_mode):
            sub.problem = "not a regular file: refused"
            return sub
        size = path.stat().st_size
        if size > MAX_NOTEBOOK_BYTES:
            sub.problem = f"the file is {size / 2**20:.0f} MiB, over the limit of {MAX_NOTEBOOK_BYTES >> 20} MiB"
            return sub
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as fh:
            if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
                sub.problem = "not a regular file: refused"
                return sub
            raw = fh.read(MAX_NOTEBOOK_BYTES + 1)
    except OSError as err:
        sub.problem = f"the file cannot be read ({err.strerror or err})"
        return sub
    try:
        nb = json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError:
        sub.problem = "the file is not a notebook (not UTF-8 text)"
        return sub
    except (json.JSONDecodeError, RecursionError) as err:
        where = f" at line {err.lineno}, column {err.colno}" if isinstance(err, json.JSONDecodeError) else ""
        sub.problem = f"the file is not valid notebook JSON{where}"
        return sub
    cells = _cells(nb) if isinstance(nb, Mapping) else None
    if cells is None:
        sub.problem = "the file is JSON but not a Jupyter notebook (no list of cells)"
        return sub
    code = [(i, c) for i, c in enumerate(cells) if c.get("cell_type") == "code"]
    tagged: dict[str, list[str]] = {}
    for _, cell in code:
        source = _text(cell.get("source", cell.get("input", "")))
        for tag in _tags(cell):
            m = _TAG.fullmatch(tag)
            if m is None:
                continue
            sub.chapters.add(m.group(2).split(".")[0])
            if m.group(1) == "exercise" and source is not None:
                tagged.setdefault(m.group(2), []).append(source)
    for ex, names in exercises.items():
        if ex in tagged:
            sub.cells[ex] = tagged[ex][-1]
            if len(tagged[ex]) > 1:
                sub.note(ex, f"{len(tagged[ex])} cells are tagged exercise-{ex}: the last one was graded")
            continue
        candidates = [s for _, c in code if (s := _text(c.get("source", c.get("input", "")))) is not None
                      and not any(_TAG.fullmatch(t) for t in _tags(c)) and _defines_all(s, names)]
        if candidates:
            sub.cells[ex] = candidates[-1]
            sub.note(ex, f"no cell is tagged exercise-{ex} (an editor may have dropped the tags): the last cell "
                         f"defining {', '.join(names)} was graded")
    return sub
