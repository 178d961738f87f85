"""Run registered experiments under a time budget, record their numbers with provenance, write each chapter's index.

Per chapter, under ``<out>/<chapter>/``:

- ``<experiment>.json``: ``{"schema": 1, "chapter", "experiment", "title", "numbers": {key: scalar},
  "tables": {key: {"columns": [...], "rows": [[...]]}}, "figures": [{"file", "caption"}], "notes": [...],
  "provenance": {...}}``, the provenance holding the exact command, the UTC date, the device name, the torch and
  CUDA versions, the git commit (and whether the tree had local changes), the profile, tiny or not, the wall time
  in seconds, the seed, the estimate the budget was checked against, Python's version and the host's platform;
- ``<experiment>_<figure>.png``: its figures;
- ``index.md``: generated from the JSON files, included by the chapter's theory page ("Results on a GPU"); it says
  "not recorded" and gives the command for every experiment without a JSON file.
"""

from __future__ import annotations

import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import time
import traceback
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

from course_lib.results.registry import CHAPTERS, EXPERIMENTS, PROFILES, Context, Experiment, load_all
from course_lib.results.registry import resolve_chapter, shown_in

SCHEMA = 1
REPO = Path(__file__).resolve().parents[2]
PROVENANCE_KEYS = ("command", "date_utc", "device", "device_type", "torch", "cuda", "cuda_available", "cudnn",
                   "git_commit", "git_dirty",
                   "profile", "tiny", "wall_seconds", "seed", "estimated_minutes", "python", "platform")
RECORD_KEYS = ("schema", "chapter", "experiment", "title", "numbers", "tables", "figures", "notes", "provenance")


def default_out() -> Path:
    """``results/`` of the repository checkout that holds this package (the folder the theory pages include from),
    or ``./results`` when course_lib is installed outside a checkout."""
    if (REPO / "_toc.yml").exists():
        return REPO / "results"
    return Path.cwd() / "results"


def device_name(device: torch.device) -> str:
    """``torch.cuda.get_device_name`` on CUDA; the CPU's model name (or the machine type) otherwise."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type == "cpu":
        try:
            for line in Path("/proc/cpuinfo").read_text().splitlines():
                if line.startswith("model name"):
                    return f"CPU: {line.split(':', 1)[1].strip()}"
        except OSError:
            pass
        return f"CPU: {platform.processor() or platform.machine()}"
    return str(device)


def git_state(repo: Path = REPO) -> tuple[str, bool | None]:
    """``(commit, dirty)`` of the checkout holding course_lib; ``("unknown", None)`` outside a git checkout.
    ``dirty``: tracked files differ from the commit (untracked files are ignored)."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, timeout=20,
                                check=True).stdout.strip()
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=repo,
                                capture_output=True, text=True, timeout=60, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return "unknown", None
    return commit, bool(status.strip())


def provenance(command: str, device: torch.device, profile: str, tiny: bool, wall_seconds: float, seed: int,
               estimated_minutes: float, git: tuple[str, bool | None] | None = None) -> dict[str, Any]:
    """The provenance block of one record (see the module docstring)."""
    commit, dirty = git if git is not None else git_state()
    return {
        "command": command,
        "date_utc": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "device": device_name(device),
        "device_type": device.type,
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cuda_available": torch.cuda.is_available(),
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "git_commit": commit,
        "git_dirty": dirty,
        "profile": profile,
        "tiny": tiny,
        "wall_seconds": round(wall_seconds, 3),
        "seed": seed,
        "estimated_minutes": round(estimated_minutes, 3),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def validate_record(record: Any) -> dict[str, Any]:
    """Check a record against the schema; return it.

    Raises:
        ValueError: a missing or mistyped field (the message names it).
    """
    if not isinstance(record, dict):
        raise ValueError(f"a record is a JSON object, got {type(record).__name__}.")
    missing = [k for k in RECORD_KEYS if k not in record]
    if missing:
        raise ValueError(f"record misses {missing}.")
    if record["schema"] != SCHEMA:
        raise ValueError(f"record schema {record['schema']!r}, expected {SCHEMA}.")
    prov = record["provenance"]
    if not isinstance(prov, dict) or [k for k in PROVENANCE_KEYS if k not in prov]:
        raise ValueError(f"provenance misses {[k for k in PROVENANCE_KEYS if k not in (prov or {})]}.")
    if prov["profile"] not in PROFILES:
        raise ValueError(f"provenance profile {prov['profile']!r} is not one of {PROFILES}.")
    if not isinstance(prov["wall_seconds"], (int, float)) or prov["wall_seconds"] < 0:
        raise ValueError("provenance wall_seconds must be a number >= 0.")
    datetime.strptime(prov["date_utc"], "%Y-%m-%dT%H:%M:%SZ")
    if not isinstance(record["numbers"], dict):
        raise ValueError("numbers must be an object.")
    for key, value in record["numbers"].items():
        if value is not None and not isinstance(value, (bool, int, float, str)):
            raise ValueError(f"number {key!r} is not a scalar.")
    for key, table in record["tables"].items():
        if set(table) != {"columns", "rows"} or any(len(r) != len(table["columns"]) for r in table["rows"]):
            raise ValueError(f"table {key!r} must have columns and rows of that length.")
    for fig in record["figures"]:
        if set(fig) != {"file", "caption"} or not str(fig["file"]).endswith(".png"):
            raise ValueError(f"figure entry {fig!r} must be {{'file': '*.png', 'caption': ...}}.")
    return record


@dataclass
class RunReport:
    """What :func:`run` did: ``recorded`` and ``failed`` as ``chapter/experiment``, ``skipped`` with the reason."""

    recorded: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    minutes_used: float = 0.0
    interrupted: str | None = None

    def summary(self) -> str:
        lines = [f"recorded {len(self.recorded)} experiment(s) in {self.minutes_used:.2f} min"
                 + (":" if self.recorded else ": nothing recorded.")]
        lines += [f"  recorded  {name}" for name in self.recorded]
        if self.skipped:
            lines.append(f"skipped {len(self.skipped)}:")
            lines += [f"  skipped   {name}: {why}" for name, why in self.skipped]
        if self.interrupted:
            lines.append(f"interrupted (Ctrl-C) during {self.interrupted}")
        if self.failed:
            lines.append(f"failed {len(self.failed)}:")
            lines += [f"  FAILED    {name}: {why}" for name, why in self.failed]
        return "\n".join(lines)


def record_command(chapter: str, profile: str = "colab", budget: float | None = None) -> str:
    """The command that records ``chapter`` (shown by the index while it is not recorded)."""
    exps = EXPERIMENTS[chapter].values()
    if budget is None:
        budget = max(5, int(sum(e.minutes[profile] for e in exps) * 1.5 + 4.999) // 5 * 5)
    return f"python -m course_lib.results run {chapter} --profile {profile} --budget-minutes {budget:g}"


def run(chapters: Sequence[str] | None, profile: str, budget_minutes: float, out: str | os.PathLike[str] | None = None,
        *, tiny: bool = False, device: str | torch.device | None = None, command: str | None = None,
        only: Sequence[str] | None = None, log: Any = None, dry_run: bool = False) -> RunReport:
    """Run the experiments of ``chapters`` (all when None or empty) within ``budget_minutes`` of wall time.

    Before each experiment its estimate for the profile (:attr:`Experiment.minutes`, or ``tiny_seconds``) is compared
    with what is left of the budget; one that does not fit is skipped (and the later ones that fit still run), so a
    budget of 0 records nothing. A failing experiment is reported with its error and writes nothing; the others go
    on; an interrupt (Ctrl-C) stops the run cleanly, keeping what was recorded. Each chapter's ``index.md`` is
    regenerated at the end of the chapter.

    Args:
        chapters: chapter keys or aliases (``4``, ``ch04``, ``dcgan``, ``benchmarks``).
        profile: ``"colab"`` or ``"full"``. budget_minutes: >= 0.
        out: the results folder (default :func:`default_out`). tiny: the CPU test sizes (needs ``out``).
        device: default CUDA when visible, else CPU. command: the command line recorded as provenance.
        only: experiment names to run (default: all of each chapter). log: a file for the progress lines
            (default stdout). dry_run: print the plan (each experiment assumed to take its estimate) and run,
            write and record nothing; the report's ``recorded`` then lists what would run.

    Raises:
        ValueError: an unknown chapter or experiment, a bad profile, a negative budget, tiny without ``out``.
    """
    from course_lib.runtime import get_device, seed_everything

    log = log or sys.stdout
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; use one of {', '.join(PROFILES)} (the 'fast' profile is the "
                         "notebooks' own CPU run; --tiny is this command's CPU test mode).")
    if not isinstance(budget_minutes, (int, float)) or budget_minutes != budget_minutes or budget_minutes < 0:
        raise ValueError(f"budget_minutes must be a number >= 0, got {budget_minutes!r}.")
    if tiny and out is None:
        raise ValueError("a --tiny run needs --out: tiny records test the command, they are not results for the "
                         "book's results/ folder.")
    load_all()
    keys = [resolve_chapter(c) for c in chapters] if chapters else list(CHAPTERS)
    keys = list(dict.fromkeys(keys))
    plan: list[Experiment] = []
    for key in keys:
        plan += list(EXPERIMENTS[key].values())
    if only:
        names = {e.name for e in plan}
        unknown = [n for n in only if n not in names]
        if unknown:
            raise ValueError(f"unknown experiment(s) {unknown} in {keys}; there are: {sorted(names)}.")
        plan = [e for e in plan if e.name in only]
    device = get_device(None if device is None else str(device))
    out_root = Path(out) if out is not None else default_out()
    command = command or "python -m course_lib.results run " + " ".join(shlex.quote(k) for k in keys) + \
        f" --profile {profile} --budget-minutes {budget_minutes:g}" + (" --tiny" if tiny else "")
    git = git_state()

    import matplotlib

    backend = matplotlib.get_backend()
    matplotlib.use("Agg")                 # figures go to files; the caller's backend comes back at the end
    report = RunReport()
    threads = torch.get_num_threads()
    start_all = time.perf_counter()
    print(f"course_lib.results: profile {profile}{' (tiny)' if tiny else ''}, device {device_name(device)}, "
          f"budget {budget_minutes:g} min, out {out_root}{' (dry run: nothing is run)' if dry_run else ''}",
          file=log, flush=True)
    if dry_run:
        left = float(budget_minutes)
        for exp in plan:
            label, estimate = f"{exp.chapter}/{exp.name}", exp.estimate_minutes(profile, tiny)
            if estimate > left:
                report.skipped.append((label, f"over budget (estimated {estimate:.2f} min, {left:.2f} min left)"))
            else:
                left -= estimate
                report.recorded.append(label)
            print(f"{'would run ' if report.recorded[-1:] == [label] else 'would skip'} {label} "
                  f"(estimated {estimate:.2f} min)", file=log, flush=True)
        print(f"dry run: {len(report.recorded)} would run in about {budget_minutes - left:.1f} min (estimates), "
              f"{len(report.skipped)} would be skipped", file=log, flush=True)
        matplotlib.use(backend)
        return report
    env_before = {k: os.environ.get(k) for k in ("COURSE_PROFILE",)}
    os.environ["COURSE_PROFILE"] = "fast" if tiny else profile   # the library's own pick()/download choices follow
    try:
        for key in keys:
            chapter_dir = out_root / key
            chapter_dir.mkdir(parents=True, exist_ok=True)
            for exp in [e for e in plan if e.chapter == key]:
                label = f"{exp.chapter}/{exp.name}"
                left = budget_minutes - (time.perf_counter() - start_all) / 60.0
                estimate = exp.estimate_minutes(profile, tiny)
                if estimate > left:
                    why = f"over budget (estimated {estimate:.2f} min, {max(left, 0):.2f} min left)"
                    report.skipped.append((label, why))
                    print(f"skip {label}: {why}", file=log, flush=True)
                    continue
                print(f"run  {label} (estimated {estimate:.2f} min, {left:.2f} min left)", file=log, flush=True)
                staging = chapter_dir / f".{exp.name}.partial"
                shutil.rmtree(staging, ignore_errors=True)
                ctx = Context(profile=profile, tiny=tiny, device=device, seed=exp.seed, out_dir=chapter_dir,
                              name=exp.name, staging=staging)
                seed_everything(exp.seed)
                if tiny and device.type == "cpu":
                    torch.set_num_threads(1)   # tiny networks: one thread is as fast, and much faster on a busy machine
                t0 = time.perf_counter()
                try:
                    exp.fn(ctx)
                except KeyboardInterrupt:
                    shutil.rmtree(staging, ignore_errors=True)
                    report.interrupted = label
                    print(f"interrupted during {label}: stopping, nothing of it recorded", file=log, flush=True)
                    break
                except Exception as err:  # noqa: BLE001 - one failing experiment must not stop the others
                    traceback.print_exc(file=log)
                    report.failed.append((label, f"{type(err).__name__}: {err}"))
                    shutil.rmtree(staging, ignore_errors=True)
                    continue
                finally:
                    torch.set_num_threads(threads)
                wall = time.perf_counter() - t0
                record = {
                    "schema": SCHEMA, "chapter": exp.chapter, "experiment": exp.name, "title": exp.title,
                    "numbers": ctx.numbers, "tables": ctx.tables, "figures": ctx.figures, "notes": ctx.notes,
                    "provenance": provenance(command, device, profile, tiny, wall, exp.seed, estimate, git),
                }
                validate_record(record)
                for fig in ctx.figures:
                    os.replace(staging / fig["file"], chapter_dir / fig["file"])
                shutil.rmtree(staging, ignore_errors=True)
                (chapter_dir / f"{exp.name}.json").write_text(json.dumps(record, indent=2) + "\n")
                report.recorded.append(label)
                print(f"done {label} in {wall:.1f} s", file=log, flush=True)
                if wall > 2 * 60 * estimate:
                    print(f"note {label}: took {wall / 60:.2f} min, more than twice its estimate of {estimate:.2f} "
                          f"min; raise its minutes= in course_lib/results/experiments/", file=log, flush=True)
            for other in dict.fromkeys([key] + [c for e in EXPERIMENTS[key].values() for c in e.shown_in]):
                if other in CHAPTERS:
                    write_index(other, out_root)
            if report.interrupted:
                break
        if report.interrupted:
            done = set(report.recorded) | {n for n, _ in report.failed} | {n for n, _ in report.skipped}
            done.add(report.interrupted)
            report.skipped += [(f"{e.chapter}/{e.name}", "interrupted") for e in plan
                               if f"{e.chapter}/{e.name}" not in done]
    finally:
        for k, v in env_before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        try:
            matplotlib.use(backend)
        except (ImportError, ValueError):  # a backend that cannot come back (no display): keep Agg
            pass
    report.minutes_used = (time.perf_counter() - start_all) / 60.0
    print(report.summary(), file=log, flush=True)
    return report


def read_records(chapter: str, out: str | os.PathLike[str] | None = None) -> dict[str, dict[str, Any]]:
    """The valid records of ``chapter`` under ``out``, by experiment name (invalid files are left out, with a
    warning)."""
    folder = (Path(out) if out is not None else default_out()) / chapter
    records = {}
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            records[path.stem] = validate_record(json.loads(path.read_text()))
        except (ValueError, json.JSONDecodeError) as err:
            warnings.warn(f"{path}: not a valid record, left out of the index ({err})", stacklevel=2)
    return records


def _fmt(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value).replace("|", "\\|")


def _oneline(text: str) -> str:
    return " ".join(text.replace("``", "`").split()).replace("|", "\\|")


def _table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(_fmt(c) for c in columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in rows]
    return lines


def render_index(chapter: str, out: str | os.PathLike[str] | None = None) -> str:
    """The Markdown (MyST) of ``chapter``'s index: recorded experiments with their numbers, figures and provenance,
    and "not recorded" with the command for the others."""
    load_all()
    chapter = resolve_chapter(chapter)
    out_root = Path(out) if out is not None else default_out()
    own = list(EXPERIMENTS[chapter].values())
    foreign = shown_in(chapter)
    records = {(chapter, name): r for name, r in read_records(chapter, out_root).items()}
    for exp in foreign:
        rec = read_records(exp.chapter, out_root).get(exp.name)
        if rec is not None:
            records[(exp.chapter, exp.name)] = rec
    lines = ["% Generated by `python -m course_lib.results` from the JSON files of this folder: do not edit.", ""]
    pending = [e for e in own + foreign if (e.chapter, e.name) not in records]
    if pending:
        lines += [":::{admonition} Not recorded yet" if len(pending) == len(own + foreign)
                  else ":::{admonition} Not recorded yet: some experiments", ":class: warning", ""]
        cmds = [record_command(chapter)] if own else []
        cmds += [f"python -m course_lib.results run {e.chapter} --only {e.name} --profile colab --budget-minutes "
                 f"{max(5, int(e.minutes['colab'] * 1.5 + 4.999) // 5 * 5)}" for e in foreign
                 if (e.chapter, e.name) not in records]
        lines.append("The runs below have **not been recorded** for this version of the book: no number or figure "
                     "from them is reported here, and none should be read into this section. "
                     + ("This command" if len(cmds) == 1 else "These commands")
                     + ", run on one GPU from the repository's root, record them with their provenance into "
                     "`results/` (the budget is checked against each run's estimate before it starts):")
        lines += ["", "```bash"] + cmds + ["```", ""]
        lines += ["| experiment | what it runs | minutes (colab / full), our estimate | status |", "|---|---|---|---|"]
        lines += [f"| `{e.chapter}/{e.name}` | {e.title}: {_oneline(e.description)} | {e.minutes['colab']:g} / "
                  f"{e.minutes['full']:g} | not recorded |" for e in pending]
        lines += [":::", ""]
    for exp in own + foreign:
        rec = records.get((exp.chapter, exp.name))
        if rec is None:
            continue
        prov = rec["provenance"]
        lines.append(f"**{rec['title']}** (`{exp.chapter}/{exp.name}`, profile `{prov['profile']}`)")
        lines.append("")
        if prov["tiny"]:
            lines += [":::{warning}", "A **tiny** CPU test run of the command, not a result: its sizes only check "
                      "that the experiment runs.", ":::", ""]
        lines.append(f"Recorded {prov['date_utc']} on {prov['device']} (torch {prov['torch']}, built for CUDA "
                     f"{prov['cuda'] or 'none'}), git commit `{str(prov['git_commit'])[:12]}`"
                     f"{' with local changes' if prov['git_dirty'] else ''}, seed {prov['seed']}, "
                     f"{prov['wall_seconds']:.0f} s of wall time (estimated {prov['estimated_minutes'] * 60:.0f} s), "
                     f"by `{prov['command']}`.")
        lines.append("")
        if rec["numbers"]:
            lines += _table(["quantity", "value"], [[k, v] for k, v in rec["numbers"].items()]) + [""]
        for key, table in rec["tables"].items():
            lines += [f"*{key}*", ""] + _table(table["columns"], table["rows"]) + [""]
        for note in rec["notes"]:
            lines += [note, ""]
        for fig in rec["figures"]:          # a path from the book's root: right from any page that includes this
            caption = " ".join(fig["caption"].split())
            lines += [f"```{{figure}} /results/{exp.chapter}/{fig['file']}", f":alt: {caption}", "",
                      f"*{exp.chapter}/{exp.name}*: {caption}", "```", ""]
    return "\n".join(lines).rstrip() + "\n"


def write_index(chapter: str, out: str | os.PathLike[str] | None = None) -> Path:
    """Write ``<out>/<chapter>/index.md`` (see :func:`render_index`); return its path."""
    chapter = resolve_chapter(chapter)
    folder = (Path(out) if out is not None else default_out()) / chapter
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "index.md"
    path.write_text(render_index(chapter, out))
    return path


def write_all_indexes(out: str | os.PathLike[str] | None = None) -> list[Path]:
    """Regenerate every registered chapter's index (the command ``index``)."""
    load_all()
    return [write_index(key, out) for key in CHAPTERS]
