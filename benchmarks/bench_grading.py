"""Benchmark: how long ``course-grade`` takes on a batch of chapter 2 submissions, with 1 and with 2 jobs.

The batch is a realistic mix made from the committed notebooks: 40% correct (the solution notebook's exercise
cells), 30% partly right (the naive losses of 2.2, exercise 2.3 left as the stub), 20% with one exercise wrong in
another way (a swapped D*, a discriminator step without ``zero_grad``), 10% untouched learner notebooks (these need
no kernel and cost almost nothing). Each run grades the same files through the command-line entry point, with the
default limits, and reports the wall-clock time, the time per submission, and the time for 100 submissions: measured
when ``--n 100``, else extrapolated linearly from ``--n`` (the cost is per submission: one pytest process and one
kernel each, so the time grows linearly with the batch).

    python benchmarks/bench_grading.py                  # n = 12, jobs 1 and 2, extrapolated to 100
    python benchmarks/bench_grading.py --n 100 --jobs 2 # the full 100 (about 10 minutes on 2 cores)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from course_lib.grading.cli import main as course_grade  # noqa: E402
from grading_fixtures import LEARNER, NAIVE_22, S21, S22, SOLUTION, SWAPPED_21, edit, load  # noqa: E402

NO_ZERO_GRAD_23 = '''
def discriminator_step(G, D, opt_d, real, z, loss):
    with torch.no_grad():
        fake = G(z)
    real_logits, fake_logits = D(real), D(fake)
    d_loss = loss.d_loss(real_logits, fake_logits)
    d_loss.backward()
    opt_d.step()
    return {"d_loss": d_loss.item(), "d_real": torch.sigmoid(real_logits).mean().item(),
            "d_fake": torch.sigmoid(fake_logits).mean().item()}


def generator_step(G, D, opt_g, z, loss):
    g_loss = loss.g_loss(D(G(z)), None)
    opt_g.zero_grad()
    g_loss.backward()
    opt_g.step()
    return {"g_loss": g_loss.item()}
'''


def make_batch(folder: Path, n: int) -> dict[str, int]:
    """Write ``n`` submissions to ``folder``; return how many of each kind."""
    learner = load(LEARNER)
    kinds = {
        "correct": lambda: SOLUTION.read_bytes(),
        "partial": lambda: json.dumps(edit(learner, {"2.1": S21, "2.2": NAIVE_22})).encode(),
        "swapped": lambda: json.dumps(edit(learner, {"2.1": SWAPPED_21, "2.2": S22, "2.3": NO_ZERO_GRAD_23})).encode(),
        "untouched": lambda: LEARNER.read_bytes(),
    }
    shares = [("correct", 0.4), ("partial", 0.3), ("swapped", 0.2), ("untouched", 0.1)]
    plan = [kind for kind, share in shares for _ in range(round(share * n))]
    plan = (plan + ["correct"] * n)[:n]
    for i, kind in enumerate(plan):
        (folder / f"student{i:03d}_{kind}.ipynb").write_bytes(kinds[kind]())
    return {kind: plan.count(kind) for kind, _ in shares}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=12, help="submissions in the batch (default 12)")
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2], help="values of --jobs to time")
    args = parser.parse_args()
    print(f"course-grade benchmark: chapter 2, {args.n} submissions; {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores, Python {platform.python_version()}")
    with tempfile.TemporaryDirectory(prefix="bench-grading-") as tmp:
        folder = Path(tmp) / "submissions"
        folder.mkdir()
        counts = make_batch(folder, args.n)
        print("batch:", ", ".join(f"{v} {k}" for k, v in counts.items()))
        print(f"{'jobs':>4} {'wall (s)':>9} {'s/submission':>13} {'100 submissions (min)':>22}")
        for jobs in args.jobs:
            out = Path(tmp) / f"grades-{jobs}.csv"
            start = time.perf_counter()
            code = course_grade(["--assignment", "02", str(folder), "--out", str(out), "--jobs", str(jobs),
                                 "--seed", "benchmark", "--quiet"])
            wall = time.perf_counter() - start
            if code != 0:
                raise SystemExit(f"course-grade exited with {code}")
            rows = json.loads(out.with_suffix(".json").read_text())["submissions"]
            graded = sum(1 for r in rows if r["status"] == "ok")
            per = wall / args.n
            label = "measured" if args.n == 100 else "extrapolated"
            print(f"{jobs:>4} {wall:>9.1f} {per:>13.2f} {100 * per / 60:>15.1f} ({label})   [{graded}/{args.n} ok]")


if __name__ == "__main__":
    main()
