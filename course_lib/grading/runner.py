"""Grading one submission, and a batch of them in parallel.

For each submission (:func:`grade_submission`), in a folder of its own under the batch's work folder:

1. read it (:mod:`~course_lib.grading.submission`) and scan each exercise cell (:mod:`~course_lib.grading.scan`): a
   missing or unchanged cell, a syntax error or a violation settles that exercise at once, with no points, and its
   cell is replaced by the learner stub;
2. build the graded notebook (:mod:`~course_lib.grading.notebook`) and run it with nbval in a subprocess, the kernel
   confined by :mod:`~course_lib.grading.launcher` and watched by :mod:`~course_lib.grading.nbval_plugin`, under a
   wall-clock limit;
3. read the report: a probe that produced a results file settles its exercise (scored by
   :mod:`~course_lib.grading.scoring`). When the kernel died or a cell ran out of time before some probes ran, the
   exercise whose cell or probe did it is settled (no points, with the reason) and the notebook runs again with every
   settled exercise replaced by its stub, so that the remaining exercises are still graded: a crash costs only the
   exercises it touches. Each run must settle at least one exercise; all runs share the submission's time limit;
4. violations recorded in the kernel (tripwires, tampering) void the exercises they name.

:class:`Batch` holds what every submission of a batch shares: the assignment, the cases drawn from the batch's seed,
and the expected records, computed once in this process. :func:`grade_batch` grades a list of files with ``jobs``
submissions at a time (each one a pytest process and a kernel process); a failure of the grader itself on one
submission becomes that submission's "grader error" row and never stops the batch.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
import torch

from course_lib.exercises.core import CaseInput, fresh
from course_lib.grading.assignment import Assignment
from course_lib.grading.notebook import Plan, build_graded_notebook
from course_lib.grading.records import RecordError, load_payload
from course_lib.grading.build import build_library, package_dir
from course_lib.grading.sandbox import kernel_readable, landlock_abi
from course_lib.grading.nbval_plugin import kill_tree
from course_lib.grading.scan import prepare
from course_lib.grading.scoring import ExerciseResult, score_exercise, zero
from course_lib.grading.submission import Submission, read_submission

__all__ = ["GradeOptions", "Batch", "SubmissionResult", "grade_submission", "grade_batch"]

FATAL = ("kernel-died", "timeout", "memory")
FORGED = "the results file was not written by the check (it lacks the check's token): the exercise is void"


@dataclass
class GradeOptions:
    """Limits and switches of a batch (the command line's options)."""

    cell_timeout: float = 60.0           # seconds per submission cell and per probe
    submission_timeout: float = 900.0    # seconds per submission, all runs together
    memory_mb: int = 4096                # the kernel's RLIMIT_DATA; its resident memory is watched too
    file_mb: int = 256                   # the largest file the kernel may write
    output_cap_bytes: int = 1 << 20      # output kept per cell
    results_max_bytes: int = 256 << 20  # the largest results file accepted
    prune: bool = True                   # run only the reference cells the exercises need
    landlock: bool = True
    keep_workdir: bool = False

    @property
    def reference_timeout(self) -> float:
        """The time limit of the notebook's own cells (imports, set-up): ten cell limits, at least ten minutes."""
        return max(10 * self.cell_timeout, 600.0)


@dataclass
class SubmissionResult:
    """One row of the gradebook, and its feedback."""

    student: str
    path: Path
    exercises: dict[str, ExerciseResult]
    status: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    runs: int = 0
    seconds: float = 0.0

    @property
    def total(self) -> float:
        return round(sum(r.points for r in self.exercises.values()), 2)

    @property
    def max_points(self) -> float:
        return round(sum(r.max_points for r in self.exercises.values()), 2)

    @property
    def status_text(self) -> str:
        return "; ".join(self.status) if self.status else "ok"

    def to_dict(self) -> dict[str, Any]:
        return {"student": self.student, "file": str(self.path), "total": self.total, "max": self.max_points,
                "status": self.status_text, "exercises": {k: r.to_dict() for k, r in self.exercises.items()},
                "notes": list(self.notes), "runs": self.runs, "seconds": round(self.seconds, 1)}


class Batch:
    """What all submissions of a batch share: the assignment, the cases, the expected records, the options."""

    def __init__(self, assignment: Assignment, cases: Mapping[str, Sequence[CaseInput]], options: GradeOptions,
                 work_root: Path | None = None, private: Mapping[str, Sequence[CaseInput]] | None = None) -> None:
        self.assignment = assignment
        self.cases = {ex: list(cases[ex]) for ex in assignment.exercises}
        self.options = options
        self.expected = {ex: [info.spec.reference(fresh(c.inputs)) for c in self.cases[ex]]
                         for ex, info in assignment.exercises.items()}
        # the instructor's private cases (CaseInput objects not drawn by the spec): no learner text quoted for them
        self.private = {ex: {k for k, c in enumerate(self.cases[ex])
                             if any(c is p for p in (private or {}).get(ex, []))} for ex in self.cases}
        self.own_root = work_root is None
        self.work_root = Path(tempfile.mkdtemp(prefix="course-grade-", dir=work_root)).resolve()
        self.landlock_abi = landlock_abi() if options.landlock else 0
        specs = {ex: info.spec for ex, info in assignment.exercises.items()}
        self.library = build_library(assignment.module, specs, list(assignment.exercises), self.work_root / "library")
        self.readable = [p for p in kernel_readable([self.library.root], _hidden_folders())
                         if not _under(Path(p), self.work_root) or _under(Path(p), self.library.root)]

    def new_folder(self, student: str) -> Path:
        """A fresh folder for one submission under the work folder."""
        safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in student)[:60] or "submission"
        return Path(tempfile.mkdtemp(prefix=f"{safe}-", dir=self.work_root))

    def close(self) -> None:
        if not self.options.keep_workdir:
            shutil.rmtree(self.work_root, ignore_errors=True)


# ----------------------------------------------------------------------------------------------------------------------
# One nbval run
# ----------------------------------------------------------------------------------------------------------------------
@dataclass
class _Run:
    """What one nbval run reported."""

    cells: dict[int, dict[str, Any]]        # cell number -> result event
    started: list[int]                      # cells in the order they started
    info: dict[int, Any]                    # cell number -> CellInfo
    payloads: dict[str, dict[str, Any]]     # exercise -> probe payload
    payload_errors: dict[str, str]
    wall_timeout: bool
    seconds: float
    children: dict[int, int] = field(default_factory=dict)  # probe cell -> processes of the kernel it had to kill


def _under(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _hidden_folders() -> list[Path]:
    """What a graded kernel must not read: the installed ``course_lib`` and, for a checkout (editable install), the
    whole repository it lives in (``solutions/``, ``tests/``...), its virtual environment excepted."""
    package = package_dir()
    hidden = [package]
    root = package.parent
    if (root / "pyproject.toml").is_file() or (root / "solutions").is_dir() or (root / ".git").exists():
        hidden.append(root)
    return hidden


# The only variables of the grader's environment a kernel sees (no credentials, no COURSE_GRADE_KEY): with the
# feedback quoting error messages, anything a kernel can read could end up in a student's feedback.
ENV_PASSED = ("PATH", "LANG", "LANGUAGE", "LC_ALL", "LC_CTYPE", "TZ", "VIRTUAL_ENV", "CONDA_PREFIX",
              "LD_LIBRARY_PATH", "CUDA_VISIBLE_DEVICES", "CUDA_HOME", "SYSTEMROOT")


def _normalised(source: str) -> str:
    return "\n".join(line.rstrip() for line in source.strip().splitlines())


def _write_kernel_files(batch: Batch, folder: Path) -> tuple[Path, Path]:
    private, kernel = folder / "private", folder / "kernel"
    for path in (private, kernel, kernel / "cases", kernel / "results", kernel / "tmp", kernel / "home",
                 private / "results", private / "cases", private / "jupyter" / "kernels" / "course-grade"):
        path.mkdir(parents=True, exist_ok=True)
    # the cases stay in the grader's private folder: the nbval plugin copies an exercise's cases into the kernel's
    # folder right before its probe and removes them right after, so no other cell can read them
    for ex, cases in batch.cases.items():
        torch.save([{"name": c.name, "inputs": c.inputs} for c in cases], private / "cases" / f"{ex}.pt")
    return private, kernel


def _kill_kernel(pid: int | None, marker: str) -> None:
    """Kill a kernel left behind, after checking from its command line that it is this submission's."""
    if not pid:
        return
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            if marker.encode() not in fh.read():
                return
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass


def _run_notebook(batch: Batch, folder: Path, plan: Plan, budget: float, attempt: int) -> _Run:
    options, assignment = batch.options, batch.assignment
    private, kernel = folder / "private", folder / "kernel"
    run_dir = private / f"run{attempt}"
    run_dir.mkdir()
    for stale in (kernel / "results").glob("*"):
        stale.unlink(missing_ok=True)
    config = {"module": assignment.module, "exercises": list(assignment.exercises),
              "names": {ex: list(info.names) for ex, info in assignment.exercises.items()},
              "cases_dir": str(kernel / "cases"), "results_dir": str(kernel / "results")}
    tokens = {ex: secrets.token_hex(16) for ex in plan.probes}
    nb, info = build_graded_notebook(assignment, plan, config, prune=options.prune,
                                     cell_timeout=options.cell_timeout, reference_timeout=options.reference_timeout,
                                     tokens=tokens, restore=batch.library.restore)
    notebook_path = run_dir / "graded.ipynb"
    notebook_path.write_text(nbformat.writes(nb))
    launcher = {"kernel_dir": str(kernel), "readable": batch.readable, "memory_mb": options.memory_mb,
                "file_mb": options.file_mb, "landlock": options.landlock}
    launcher_path = private / "launcher.json"
    launcher_path.write_text(json.dumps(launcher))
    spec_dir = private / "jupyter" / "kernels" / "course-grade"
    (spec_dir / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "course_lib.grading.launcher", "--config", str(launcher_path),
                 "-f", "{connection_file}"],
        "display_name": "course-grade", "language": "python"}))
    report_path = run_dir / "report.jsonl"
    plugin = {"report": str(report_path), "cells": {str(k): {"kind": v.kind, "exercise": v.exercise,
                                                             "timeout": v.timeout} for k, v in info.items()},
              "default_timeout": options.reference_timeout, "output_cap_bytes": options.output_cap_bytes,
              "watchdog_bytes": int((options.memory_mb + 1024) * 2**20),  # + the shared libraries' pages
              "results_src": str(kernel / "results"), "results_dst": str(private / "results"),
              "cases_src": str(private / "cases"), "cases_dst": str(kernel / "cases"),
              "results_max_bytes": options.results_max_bytes, "pytest_memory_mb": options.memory_mb + 2048}
    plugin_path = run_dir / "plugin.json"
    plugin_path.write_text(json.dumps(plugin))
    (run_dir / "pytest.ini").write_text("[pytest]\naddopts =\n")
    env = {k: v for k, v in os.environ.items() if k in ENV_PASSED}
    env.update({
        "PYTHONPATH": str(batch.library.root),  # the grading build, before the installed library
        "COURSE_GRADE_PLUGIN": str(plugin_path), "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
        "JUPYTER_PATH": str(private / "jupyter"), "JUPYTER_RUNTIME_DIR": str(kernel / ".runtime"),
        "JUPYTER_PLATFORM_DIRS": "1", "HOME": str(kernel / "home"), "IPYTHONDIR": str(kernel / "home" / ".ipython"),
        "MPLCONFIGDIR": str(kernel / "home" / ".matplotlib"), "XDG_CACHE_HOME": str(kernel / "home" / ".cache"),
        "TORCH_HOME": str(kernel / "home" / ".torch"), "TMPDIR": str(kernel / "tmp"),
        "COURSE_PROFILE": "fast", "COURSE_OFFLINE": "1", "MPLBACKEND": "Agg", "PYTHONHASHSEED": "0",
        "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1",
    })
    cmd = [sys.executable, "-m", "pytest", "-p", "nbval.plugin", "-p", "course_lib.grading.nbval_plugin",
           "-p", "no:cacheprovider", "--nbval-lax", "--nbval-kernel-name", "course-grade",
           "--nbval-kernel-startup-timeout", str(min(120.0, max(budget, 1.0))), "-q", "-c", str(run_dir / "pytest.ini"),
           "--rootdir", str(run_dir), str(notebook_path)]
    start = time.monotonic()
    wall_timeout = False
    with open(run_dir / "pytest.log", "wb") as log:
        proc = subprocess.Popen(cmd, cwd=run_dir, env=env, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            proc.wait(timeout=max(budget, 1.0))
        except subprocess.TimeoutExpired:
            wall_timeout = True
            kill_tree(proc.pid)  # the kernel and every process it left (pytest is their subreaper), then pytest
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except OSError:
                pass
            proc.wait()
    seconds = time.monotonic() - start
    cells: dict[int, dict[str, Any]] = {}
    started: list[int] = []
    children: dict[int, int] = {}
    kernel_pid = None
    if report_path.exists():
        for line in report_path.read_text(errors="replace").splitlines():
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue
            if event.get("event") == "start":
                started.append(int(event["cell"]))
            elif event.get("event") == "result":
                cells[int(event["cell"])] = event
            elif event.get("event") == "kernel":
                kernel_pid = event.get("pid")
            elif event.get("event") == "memory" and event.get("cell") is not None:
                cells.setdefault(int(event["cell"]), {"outcome": "failed", "category": "memory"})
            elif event.get("event") == "children":
                children[int(event["cell"])] = int(event.get("count", 0))
    _kill_kernel(kernel_pid, str(launcher_path))
    payloads, errors = {}, {}
    for ex in plan.probes:
        path = private / "results" / f"{ex}.pt"
        if path.is_file() and not path.is_symlink():
            try:
                payload = load_payload(path, options.results_max_bytes)
            except (RecordError, OSError) as err:
                errors[ex] = str(err)
                continue
            if payload.get("token") != tokens[ex]:
                errors[ex] = FORGED
            else:
                payloads[ex] = payload
    # A kernel that died between cells (exit(), quit(), a crash after the cell returned): the first cell that found
    # it dead is a victim; the cell before it is the culprit.
    if not any(e.get("category") in FATAL for e in cells.values()):
        victims = [k for k in started if cells.get(k, {}).get("category") == "kernel-dead"]
        if victims and started.index(victims[0]) > 0:
            before = started[started.index(victims[0]) - 1]
            cells[before] = {**cells.get(before, {}), "outcome": "failed", "category": "kernel-died",
                             "died_after": True}
    return _Run(cells, started, info, payloads, errors, wall_timeout, seconds, children)


# ----------------------------------------------------------------------------------------------------------------------
# One submission
# ----------------------------------------------------------------------------------------------------------------------
_REASONS = {
    "kernel-died": "the kernel died (a crash, os._exit, or the process was killed)",
    "timeout": "the cell ran past its time limit",
    "memory": "the kernel used more memory than allowed and was stopped",
}


def _cell_problem(event: Mapping[str, Any] | None) -> str:
    if event is None:
        return "it did not run"
    category = event.get("category", "error")
    if event.get("died_after"):
        return "the kernel died right after it ran (exit(), quit() or a crash)"
    if category in _REASONS:
        return _REASONS[category]
    error = event.get("error") or {}
    if category == "exception" and error.get("ename"):
        return f"it raised {error['ename']}: {str(error.get('evalue', ''))[:300]}"
    if category == "output-mismatch":
        return "its output was not the check's fixed line (print, sys.stdout or the check was tampered with)"
    return "it failed (" + str(event.get("message", ""))[-300:].strip() + ")"


def _settle_plan(batch: Batch, sub: Submission, results: dict[str, ExerciseResult], plan: Plan,
                 status: list[str]) -> None:
    """Settle what needs no kernel (missing, unchanged, unparsable, refused cells); fill ``plan`` with the rest."""
    assignment = batch.assignment
    for ex, info in assignment.exercises.items():
        notes = list(sub.notes.get(ex, []))
        if ex not in sub.cells:
            results[ex] = zero(info, "missing", f"no cell tagged exercise-{ex} was found in the notebook", notes)
            continue
        source = sub.cells[ex]
        if _normalised(source) == _normalised(info.stub):
            results[ex] = zero(info, "not implemented", "not implemented yet (the stub is unchanged)", notes)
            continue
        scan = prepare(source, info.rules)
        if scan.syntax_error is not None:
            results[ex] = zero(info, "error", f"the exercise cell does not run: {scan.syntax_error}", notes)
            status.append(f"syntax error: {ex}")
            continue
        if scan.violations:
            results[ex] = zero(info, "violation", "the exercise cell breaks the grading rules: "
                               + "; ".join(scan.violations[:3]), notes)
            status.append(f"violation: {ex}")
            continue
        assert scan.code is not None
        plan.code[ex] = scan.code
        plan.uses[ex] = scan.uses
        results[ex] = zero(info, "not run", "", notes)


def grade_submission(batch: Batch, path: Path, student: str) -> SubmissionResult:
    """Grade one file (see the module docstring); never raises on anything the submission does."""
    start = time.monotonic()
    assignment, options = batch.assignment, batch.options
    names = {ex: info.names for ex, info in assignment.exercises.items()}
    sub = read_submission(path, student, names)
    results: dict[str, ExerciseResult] = {}
    out = SubmissionResult(student, path, results)
    if sub.problem is not None:
        for ex, info in assignment.exercises.items():
            results[ex] = zero(info, "error", f"the notebook could not be read: {sub.problem}")
        out.status.append("refused file" if "refused" in sub.problem else "unreadable notebook")
        out.notes.append(sub.problem)
        return out
    chapter = assignment.module[-2:]
    if not sub.cells:
        other = sorted(c for c in sub.chapters if int(c) != int(chapter))
        if other:
            out.status.append(f"wrong notebook (chapter {', '.join(other)})")
            out.notes.append(f"This notebook carries the exercises of chapter {', '.join(other)}, not of "
                             f"{assignment.name}: nothing in it could be graded for this assignment.")
        else:
            out.status.append("no exercise cells")
            out.notes.append("No exercise cell of this assignment was found in the notebook.")
    plan = Plan()
    _settle_plan(batch, sub, results, plan, out.status)
    if plan.code:
        folder = batch.new_folder(student)
        try:
            _write_kernel_files(batch, folder)
            _grade_in_kernel(batch, folder, plan, results, out, start)
        finally:
            if not options.keep_workdir:
                shutil.rmtree(folder, ignore_errors=True)
    missing = [ex for ex, r in results.items() if r.status == "missing"]
    if missing and sub.cells:
        out.status.append("missing: " + ", ".join(missing))
    out.seconds = time.monotonic() - start
    return out


def _grade_in_kernel(batch: Batch, folder: Path, plan: Plan, results: dict[str, ExerciseResult],
                     out: SubmissionResult, start: float) -> None:
    assignment, options = batch.assignment, batch.options
    pending = dict(plan.code)
    violations: dict[str, list[str]] = {}
    cell_notes: dict[str, list[str]] = {}
    attempt = 0
    while pending:
        attempt += 1
        budget = options.submission_timeout - (time.monotonic() - start)
        if budget <= 1.0:
            for ex in pending:
                results[ex].status, results[ex].reason = "error", "not graded: the submission's time limit ran out"
            out.status.append("time limit")
            break
        run_plan = Plan({ex: pending[ex] for ex in pending}, {ex: plan.uses[ex] for ex in pending}, set(pending))
        run = _run_notebook(batch, folder, run_plan, budget, attempt)
        out.runs = attempt
        by_exercise = {(v.kind, v.exercise): k for k, v in run.info.items() if v.exercise is not None}
        fatal = [k for k in run.started if run.cells.get(k, {}).get("category") in FATAL]
        cut = run.started[-1] if run.started and run.started[-1] not in run.cells else None
        if cut is not None:  # the run itself was cut (wall-clock limit or a dead pytest) while this cell ran
            fatal.append(cut)
        settled = []

        def settle_unfinished(ex: str, event: dict[str, Any] | None, what: str) -> None:
            """No points for ``ex``: ``what`` (its exercise cell, or its check) died or ran out of time or memory."""
            why = _cell_problem(event) if event else "the submission's time limit ran out"
            results[ex] = zero(assignment.exercises[ex], "error", f"{what} did not finish: {why}",
                               results[ex].notes + cell_notes.get(ex, []))
            out.status.append(f"{(event or {}).get('category', 'time limit')}: {ex}")
            settled.append(ex)

        for ex in list(pending):
            info = assignment.exercises[ex]
            sub_cell, probe_cell = by_exercise.get(("submission", ex)), by_exercise.get(("probe", ex))
            sub_event = run.cells.get(sub_cell) if sub_cell is not None else None
            probe_event = run.cells.get(probe_cell) if probe_cell is not None else None
            if sub_event and sub_event.get("outcome") == "failed" and sub_event.get("category") not in FATAL \
                    and sub_event.get("category") != "kernel-dead":
                cell_notes.setdefault(ex, []).append(f"your exercise cell raised an error when it ran: "
                                                     f"{_cell_problem(sub_event)}")
            if sub_cell is not None and sub_cell in fatal:
                settle_unfinished(ex, sub_event, "your exercise cell")
            elif ex in run.payloads:
                payload = run.payloads[ex]
                if run.children.get(probe_cell):
                    violations.setdefault(ex, []).append(
                        f"{run.children[probe_cell]} process(es) started by the submission were still running when "
                        "this check began")
                for v in payload.get("violations", []):
                    if isinstance(v, Mapping) and v.get("exercise") in assignment.exercises:
                        violations.setdefault(str(v["exercise"]), []).append(str(v.get("detail", "")))
                stopped = None
                if probe_event is None or probe_event.get("outcome") != "passed":
                    why = _cell_problem(probe_event) if probe_event else "the submission's time limit ran out"
                    stopped = f"the check stopped here: {why}"
                res = score_exercise(info, batch.cases[ex], batch.expected[ex], payload, stopped,
                                     private=batch.private.get(ex, set()))
                res.notes = results[ex].notes + cell_notes.get(ex, [])
                category = (probe_event or {}).get("category")
                if category == "output-mismatch":
                    res.points, res.status = 0.0, "violation"
                    res.reason = ("the check's output was altered (print, sys.stdout or the check itself was "
                                  "replaced): the exercise earns nothing")
                    out.status.append(f"violation: {ex}")
                elif stopped is not None:
                    res.notes.append(f"the check did not finish: {stopped[len('the check stopped here: '):]}")
                    if category in FATAL:
                        out.status.append(f"{category}: {ex}")
                    elif probe_event is None:
                        out.status.append(f"time limit: {ex}")
                results[ex] = res
                settled.append(ex)
            elif ex in run.payload_errors:
                if run.payload_errors[ex] == FORGED:
                    results[ex] = zero(info, "violation", FORGED, results[ex].notes)
                    out.status.append(f"violation: {ex}")
                else:
                    results[ex] = zero(info, "error", f"the check's recorded outputs cannot be used: "
                                       f"{run.payload_errors[ex]}", results[ex].notes)
                settled.append(ex)
            elif probe_cell is not None and probe_cell in fatal:
                settle_unfinished(ex, probe_event, "the check of your functions")
            elif probe_event is not None and probe_event.get("category") != "kernel-dead":
                results[ex] = zero(info, "error", f"the check could not run: {_cell_problem(probe_event)}",
                                   results[ex].notes + cell_notes.get(ex, []))
                out.status.append(f"error: {ex}")
                settled.append(ex)
        culprit = fatal[0] if fatal else None
        for ex in settled:
            pending.pop(ex, None)
        if pending and culprit is not None and run.info.get(culprit) is not None and \
                run.info[culprit].kind in ("reference", "prelude", "stub"):
            out.notes.append(f"Cell {culprit} of the graded notebook (one of the notebook's own cells) did not "
                             f"finish: {_cell_problem(run.cells.get(culprit))}. The exercises not yet graded were "
                             "graded again in a fresh kernel.")
        if pending and not settled:
            why = _cell_problem(run.cells.get(culprit)) if culprit is not None else "the run ended early"
            if run.wall_timeout:
                why = "the submission's time limit ran out"
            for ex in pending:
                results[ex] = zero(assignment.exercises[ex], "error", f"not graded: {why}",
                                   results[ex].notes + cell_notes.get(ex, []))
            out.status.append("grader error" if not run.wall_timeout else "time limit")
            break
    for ex, details in violations.items():
        res = results[ex]
        unique = list(dict.fromkeys(d for d in details if d))
        res.points, res.status = 0.0, "violation"
        res.reason = "the code of this exercise broke the grading rules: " + "; ".join(unique[:3])
        out.status.append(f"violation: {ex}")


def grade_batch(batch: Batch, files: Sequence[tuple[str, Path]], jobs: int = 1,
                progress: Callable[[SubmissionResult], None] | None = None) -> list[SubmissionResult]:
    """Grade ``files`` ((student, path) pairs), ``jobs`` at a time; results in the order of ``files``."""

    def one(item: tuple[str, Path]) -> SubmissionResult:
        student, path = item
        try:
            result = grade_submission(batch, path, student)
        except Exception as err:  # noqa: BLE001 - a bug of the grader must not stop the batch
            result = SubmissionResult(student, path, {
                ex: zero(info, "error", f"grader error: {type(err).__name__}: {err}")
                for ex, info in batch.assignment.exercises.items()}, ["grader error"],
                [traceback.format_exc(limit=5)])
        if progress is not None:
            progress(result)
        return result

    if jobs <= 1:
        return [one(item) for item in files]
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        return list(pool.map(one, files))
