"""``python -m course_lib.results run [CHAPTER ...] --profile colab|full --budget-minutes M [--out results/] [--tiny]``,
``python -m course_lib.results list`` and ``python -m course_lib.results index``."""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Sequence

from course_lib.results.record import default_out, read_records, run, write_all_indexes
from course_lib.results.registry import CHAPTERS, EXPERIMENTS, PROFILES, load_all, resolve_chapter, shown_in


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m course_lib.results",
                                description="Record every chapter's GPU results with their provenance.")
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="run chapters' experiments within a budget and record them")
    r.add_argument("chapters", nargs="*", help="chapter keys or numbers (4, 04, ch04, 04_dcgan), or 'benchmarks'; "
                                               "none: every chapter")
    r.add_argument("--profile", required=True, help="colab (a T4-class GPU) or full (a big GPU)")
    r.add_argument("--budget-minutes", type=float, required=True, help="wall-clock budget for the whole run")
    r.add_argument("--out", default=None, help=f"results folder (default {default_out()})")
    r.add_argument("--tiny", action="store_true", help="the CPU test mode: tiny sizes, seconds per experiment")
    r.add_argument("--device", default=None, help="cuda, cuda:1 or cpu (default: cuda when visible)")
    r.add_argument("--only", nargs="+", default=None, metavar="EXPERIMENT", help="run only these experiments")
    r.add_argument("--dry-run", action="store_true", help="print what would run within the budget; run nothing")
    ls = sub.add_parser("list", help="list the chapters, their experiments, estimates and what is recorded")
    ls.add_argument("--out", default=None)
    ix = sub.add_parser("index", help="regenerate every chapter's index.md from its JSON files")
    ix.add_argument("--out", default=None)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        load_all()
        if args.cmd == "run":
            if args.profile not in PROFILES:
                parser.error(f"--profile {args.profile!r}: use one of {', '.join(PROFILES)}")
            if args.budget_minutes < 0 or args.budget_minutes != args.budget_minutes:
                parser.error("--budget-minutes must be >= 0")
            for name in args.chapters:
                resolve_chapter(name)
            command = "python -m course_lib.results " + " ".join(shlex.quote(a) for a in argv)
            report = run(args.chapters, args.profile, args.budget_minutes, args.out, tiny=args.tiny,
                         device=args.device, command=command, only=args.only, dry_run=args.dry_run)
            return 130 if report.interrupted else 1 if report.failed else 0
        if args.cmd == "list":
            for key, chapter in CHAPTERS.items():
                recorded = read_records(key, args.out)
                print(f"{key}: {chapter.title}")
                for exp in EXPERIMENTS[key].values():
                    state = "recorded" if exp.name in recorded else "not recorded"
                    print(f"  {exp.name:<16} colab {exp.minutes['colab']:>5g} min, full {exp.minutes['full']:>5g} "
                          f"min, tiny {exp.tiny_seconds:>4g} s  [{state}]  {exp.title}")
                for exp in shown_in(key):
                    print(f"  (its page also shows {exp.chapter}/{exp.name})")
            every = [e for exps in EXPERIMENTS.values() for e in exps.values()]
            print(f"{len(every)} experiments; estimated {sum(e.minutes['colab'] for e in every):g} min in colab, "
                  f"{sum(e.minutes['full'] for e in every):g} min in full")
            return 0
        for path in write_all_indexes(args.out):
            print(path)
        return 0
    except ValueError as err:
        parser.error(str(err))
    return 2


if __name__ == "__main__":
    sys.exit(main())
