"""The grader end to end: ``course-grade`` on a batch of adversarial submissions of chapter 2 (see
tests/grading_fixtures), graded once with two jobs; then the points, statuses and feedback of each submission.

One test function on purpose: the batch (about two minutes on two cores) runs once even under pytest-xdist, which
would otherwise run a module-scoped fixture once per worker. Failures are collected and reported together.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from course_lib.grading.report import safe_name
from course_lib.grading.sandbox import landlock_abi

sys.path.insert(0, str(Path(__file__).parent))
from grading_fixtures import EXPECTED, NAIVE_POINTS, PRIVATE, REPO, SLEEPER, SUBMISSIONS  # noqa: E402

KEY = "grading-tests"

PROTECTED = [REPO / "course_lib" / "gan" / "theory.py", REPO / "solutions" / "02_original_gan" / "lab.ipynb"]


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _processes(marker: bytes) -> list[int]:
    found = []
    for pid in os.listdir("/proc"):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                if marker in fh.read():
                    found.append(int(pid))
        except (OSError, ValueError):
            continue
    return found


def _launcher_processes(marker: str) -> list[int]:
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                cmd = fh.read()
        except OSError:
            continue
        if b"course_lib.grading.launcher" in cmd and marker.encode() in cmd:
            found.append(int(pid))
    return found


def _check(name: str, row: dict, exp: dict, problems: list[str]) -> None:
    points = {ex: r["points"] for ex, r in row["exercises"].items()}
    for ex, want in exp["points"].items():
        if abs(points[ex] - want) > 1e-9:
            problems.append(f"{name}: exercise {ex} got {points[ex]}, expected {want} "
                            f"({row['exercises'][ex]['status']}: {row['exercises'][ex]['reason'][:200]})")
    if "status" in exp and row["status"] != exp["status"]:
        problems.append(f"{name}: status {row['status']!r}, expected {exp['status']!r}")
    for word in exp.get("status_contains", []):
        if word not in row["status"]:
            problems.append(f"{name}: status {row['status']!r} lacks {word!r}")
    if "status_any" in exp and not any(word in row["status"] for word in exp["status_any"]):
        problems.append(f"{name}: status {row['status']!r} has none of {exp['status_any']}")
    for ex, status in exp.get("statuses", {}).items():
        if row["exercises"][ex]["status"] != status:
            problems.append(f"{name}: exercise {ex} status {row['exercises'][ex]['status']!r}, expected {status!r}")
    for ex, word in exp.get("reasons", {}).items():
        if word not in row["exercises"][ex]["reason"]:
            problems.append(f"{name}: exercise {ex} reason {row['exercises'][ex]['reason']!r} lacks {word!r}")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the grader's kernel limits need Linux")
def test_grade_a_batch_of_adversarial_submissions(tmp_path):
    subs = tmp_path / "submissions"
    subs.mkdir()
    for name, build in SUBMISSIONS.items():
        made = build()
        if isinstance(made, Path):   # a symbolic link to that file
            (subs / f"{name}.ipynb").symlink_to(made)
        else:
            (subs / f"{name}.ipynb").write_bytes(made)
    before = {p: _digest(p) for p in PROTECTED}
    work = tmp_path / "work"
    work.mkdir()
    out = tmp_path / "out" / "grades.csv"
    Path("/tmp/cg_pwned.txt").unlink(missing_ok=True)
    # the grader as the instructor runs it: its own process, the key on its command line and in its environment
    env = {**os.environ, "COURSE_GRADE_KEY": KEY}
    proc = subprocess.run([sys.executable, "-m", "course_lib.grading.cli", "--assignment", "02", str(subs),
                           "--out", str(out), "--jobs", "2", "--timeout-cell", "6", "--memory-mb", "1536",
                           "--seed", KEY, "--private-cases", str(PRIVATE), "--workdir", str(work), "--quiet"],
                          env=env, capture_output=True, text=True, timeout=1500)
    assert proc.returncode == 0, proc.stderr[-3000:]

    data = json.loads(out.with_suffix(".json").read_text())
    rows = {row["student"]: row for row in data["submissions"]}
    problems: list[str] = []
    assert sorted(rows) == sorted(SUBMISSIONS)            # a row for each, whatever it did
    for name, exp in EXPECTED.items():
        _check(name, rows[name], exp, problems)
    # the gradebook, its JSON twin and the feedback agree
    with open(out, newline="") as fh:
        table = list(csv.DictReader(fh))
    assert [r["student"] for r in table] == sorted(SUBMISSIONS)
    assert list(table[0]) == ["student", "ex_2.1", "ex_2.2", "ex_2.3", "total", "max", "status"]
    for r in table:
        row = rows[r["student"]]
        if float(r["total"]) != row["total"] or r["status"] != row["status"] or r["max"] != "9":
            problems.append(f"{r['student']}: CSV {r} disagrees with JSON")
    assert data["cases"] == {"2.1": 7, "2.2": 6, "2.3": 7} and data["private_cases"]["2.1"] == 1
    assert data["key_source"] == "--seed"
    feedback = out.parent / "grades_feedback"
    for name, exp in EXPECTED.items():
        text = (feedback / f"{safe_name(name)}.md").read_text()
        for word in exp.get("feedback", []):
            if word not in text:
                problems.append(f"{name}: feedback lacks {word!r}")
    partial = (feedback / "partial.md").read_text()
    assert f"**Total: {2 + NAIVE_POINTS:g} / 9 points**" in partial and "<summary>Hint 3</summary>" in partial
    assert "hidden case" in partial and "Why:" in partial
    # reproducible, and Colab's rewriting of the file changes nothing
    for twin in ("partial_colab", "partial_colab_no_tags"):
        if {k: v["points"] for k, v in rows[twin]["exercises"].items()} != \
                {k: v["points"] for k, v in rows["partial"]["exercises"].items()}:
            problems.append(f"{twin} graded differently from partial")
    # nothing outside the submissions' own folders was written, nothing is left running, the work folder is clean
    for path, digest in before.items():
        if _digest(path) != digest:
            problems.append(f"{path} was modified during grading")
    if landlock_abi() > 0 and Path("/tmp/cg_pwned.txt").exists():
        problems.append("a submission wrote /tmp/cg_pwned.txt")
    if _launcher_processes(str(work)):
        problems.append(f"kernels left running: {_launcher_processes(str(work))}")
    # the key and the private case reach no output: not the feedback, not the gradebook
    private_value = "0.3000"  # the private case's p_data[2], as torch prints it
    for file in [*feedback.iterdir(), out, out.with_suffix(".json")]:
        text = file.read_text()
        if KEY in text:
            problems.append(f"{file.name} quotes the grading key")
        if file.name.startswith("secrets_and_output") and private_value in text:
            problems.append(f"{file.name} quotes the private case")
    if len(list(feedback.iterdir())) != len(SUBMISSIONS):
        problems.append(f"{len(list(feedback.iterdir()))} feedback files for {len(SUBMISSIONS)} submissions")
    if _processes(SLEEPER.encode()):
        problems.append(f"a detached process outlived its grading: {_processes(SLEEPER.encode())}")
    if list(work.iterdir()):
        problems.append(f"the work folder was not cleaned: {list(work.iterdir())}")
    assert not problems, "\n".join(problems)
