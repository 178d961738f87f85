"""``course-grade``: grade a folder of submitted notebooks against the reference and write a gradebook.

Usage::

    course-grade --assignment 02 submissions/ --out grades.csv [--jobs 2] [--private-cases DIR] [--seed KEY]
                 [--timeout-cell 60] [--timeout-submission 900] [--memory-mb 4096] [--feedback-dir DIR]

``--assignment`` is a chapter (``02``), a folder name under ``solutions/`` (``02_original_gan``) or a path to a
reference ``.ipynb``. Submissions are ``.ipynb`` files or folders searched recursively. The student id is the file's
name without ``.ipynb`` (for files found in a folder: its path relative to that folder). The command writes the CSV,
its JSON twin (``--json``, default next to the CSV) and one Markdown feedback file per student (``--feedback-dir``,
default ``<csv name>_feedback/``). It exits with status 0 whenever it graded the batch, whatever the submissions
did, and 2 when it could not start (no reference, no submission, malformed private cases).

The grading cases are drawn from a seed derived from a secret key and the assignment's name: ``--seed``, else the
environment variable ``COURSE_GRADE_KEY``, else a random key created once in ``~/.config/course-grade/key``. The same
key grades the same submission the same way.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import time
from pathlib import Path

from course_lib.grading.assignment import AssignmentError, derive_seed, grading_cases, load_assignment, \
    load_private_cases
from course_lib.grading.report import write_csv, write_feedback, write_json
from course_lib.grading.runner import Batch, GradeOptions, SubmissionResult, grade_batch

__all__ = ["main", "collect_submissions"]


def collect_submissions(paths: list[Path]) -> list[tuple[str, Path]]:
    """(student id, file) for every ``.ipynb`` named or found in a named folder, ids made unique, in a stable order."""
    found: list[tuple[str, Path]] = []
    for path in paths:
        if path.is_dir() and not path.is_symlink():
            for file in sorted(_walk(path)):
                if ".ipynb_checkpoints" in file.parts:
                    continue
                found.append((file.relative_to(path).with_suffix("").as_posix(), file))
        else:
            found.append((path.stem, path))
    seen: dict[str, int] = {}
    out = []
    for student, file in found:
        seen[student] = seen.get(student, 0) + 1
        out.append((student if seen[student] == 1 else f"{student}-{seen[student]}", file))
    return out


def _walk(folder: Path) -> list[Path]:
    """Every ``*.ipynb`` entry under ``folder``, without following symbolic links to folders. Links and other
    non-regular entries are listed too: grading refuses them with a status (a link could name the solutions)."""
    out = []
    for root, dirs, files in os.walk(folder, followlinks=False):
        out += [Path(root) / f for f in files if f.endswith(".ipynb")]
        out += [Path(root) / d for d in dirs if d.endswith(".ipynb") and os.path.islink(os.path.join(root, d))]
    return out


def _key(seed: str | None) -> tuple[str, str]:
    if seed is not None:
        return seed, "--seed"
    if os.environ.get("COURSE_GRADE_KEY"):
        return os.environ["COURSE_GRADE_KEY"], "COURSE_GRADE_KEY"
    base = Path(os.environ.get("XDG_CONFIG_HOME", Path.home() / ".config")) / "course-grade"
    key_file = base / "key"
    if not key_file.exists():
        base.mkdir(parents=True, exist_ok=True)
        key_file.write_text(secrets.token_hex(16) + "\n")
        key_file.chmod(0o600)
        print(f"course-grade: created a secret grading key in {key_file} (keep it to grade reproducibly)",
              file=sys.stderr)
    return key_file.read_text().strip(), str(key_file)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="course-grade", description=__doc__.split("\n")[0])
    p.add_argument("--assignment", required=True, help="chapter ('02'), solutions folder name, or reference .ipynb")
    p.add_argument("submissions", nargs="+", type=Path, help="submitted .ipynb files or folders of them")
    p.add_argument("--out", required=True, type=Path, help="the gradebook CSV to write")
    p.add_argument("--json", type=Path, default=None, help="the JSON twin (default: the CSV's name with .json)")
    p.add_argument("--feedback-dir", type=Path, default=None, help="folder of per-student feedback (Markdown)")
    p.add_argument("--jobs", type=int, default=1, help="submissions graded at the same time (default 1)")
    p.add_argument("--private-cases", type=Path, default=None, help="folder of instructor-only cases")
    p.add_argument("--seed", default=None, help="the secret key the grading cases are drawn from")
    p.add_argument("--timeout-cell", type=float, default=60.0, help="seconds per exercise cell and per check")
    p.add_argument("--timeout-submission", type=float, default=900.0, help="seconds per submission in all")
    p.add_argument("--memory-mb", type=int, default=4096, help="memory limit of a submission's kernel (MiB)")
    p.add_argument("--run-all-cells", action="store_true",
                   help="run every reference cell up to the last check (default: only those the exercises need)")
    p.add_argument("--workdir", type=Path, default=None, help="where the per-submission folders go (a temp dir)")
    p.add_argument("--keep-workdir", action="store_true", help="keep the per-submission folders (debugging)")
    p.add_argument("--no-landlock", action="store_true", help="do not confine file access with Landlock")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.jobs < 1 or args.timeout_cell <= 0 or args.timeout_submission <= 0 or args.memory_mb < 256:
        print("course-grade: --jobs must be >= 1, the time limits > 0 and --memory-mb >= 256", file=sys.stderr)
        return 2
    try:
        assignment = load_assignment(args.assignment)
        private = load_private_cases(args.private_cases, assignment) if args.private_cases else None
    except AssignmentError as err:
        print(f"course-grade: {err}", file=sys.stderr)
        return 2
    missing = [p for p in args.submissions if not p.exists()]
    files = collect_submissions([p for p in args.submissions if p.exists()])
    for path in missing:
        print(f"course-grade: {path} does not exist (skipped)", file=sys.stderr)
    if not files:
        print("course-grade: no submission (.ipynb) found", file=sys.stderr)
        return 2
    key, key_source = _key(args.seed)
    # no process started from here on inherits the key; kernels cannot read this process's /proc entries either
    # (their /proc is narrowed to their own, see course_lib.grading.sandbox)
    os.environ.pop("COURSE_GRADE_KEY", None)
    if args.seed is not None:
        sys.argv[:] = ["--seed=***" if a.startswith("--seed=") else "***" if a == args.seed else a for a in sys.argv]
        args.seed = None
    cases = grading_cases(assignment, derive_seed(key, assignment.name), private)
    options = GradeOptions(cell_timeout=args.timeout_cell, submission_timeout=args.timeout_submission,
                           memory_mb=args.memory_mb, prune=not args.run_all_cells, landlock=not args.no_landlock,
                           keep_workdir=args.keep_workdir)
    batch = Batch(assignment, cases, options, args.workdir, private)
    if options.landlock and batch.landlock_abi == 0:
        print("course-grade: Landlock is not available on this system: submissions can write outside their folder. "
              "Grade untrusted notebooks in a container.", file=sys.stderr)
    done = [0]
    start = time.monotonic()

    def progress(result: SubmissionResult) -> None:
        done[0] += 1
        if not args.quiet:
            print(f"[{done[0]}/{len(files)}] {result.student}: {result.total:g}/{result.max_points:g} "
                  f"({result.status_text}) {result.seconds:.1f} s", flush=True)

    try:
        results = grade_batch(batch, files, jobs=args.jobs, progress=progress)
    finally:
        batch.close()
    seconds = time.monotonic() - start
    json_path = args.json or args.out.with_suffix(".json")
    feedback_dir = args.feedback_dir or args.out.with_name(args.out.stem + "_feedback")
    write_csv(results, assignment, args.out)
    write_json(results, assignment, json_path, {
        "cases": {ex: len(c) for ex, c in cases.items()}, "key_source": key_source,
        "private_cases": {ex: len(c) for ex, c in (private or {}).items()},
        "landlock_abi": batch.landlock_abi, "seconds": round(seconds, 1), "jobs": args.jobs})
    write_feedback(results, assignment, feedback_dir)
    if not args.quiet:
        print(f"graded {len(results)} submission(s) of {assignment.name} in {seconds:.1f} s with {args.jobs} job(s): "
              f"{args.out}, {json_path}, {feedback_dir}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
