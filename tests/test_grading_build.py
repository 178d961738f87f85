"""The grading build and the kernel's sandbox, by construction: from a process confined as a graded kernel is (the
launcher's Landlock rules, its own /proc only, no TCP), no route reaches a solution of the assignment, the key or the
cases; and the exercises' ``call`` (what a probe runs) still works.

Each route of issue 10 has its own line in the attack script below: importing the library, ``pkgutil.resolve_name``,
reading or copying the installed source, a child Python (with the kernel's path, and isolated with ``-I``), the
repository's solutions and the private cases, other processes' ``/proc`` entries, a TCP listener on localhost.
"""

from __future__ import annotations

import ast
import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from course_lib.grading.assignment import load_assignment
from course_lib.grading.build import ABSENT, build_library, package_dir
from course_lib.grading.runner import _hidden_folders
from course_lib.grading.sandbox import kernel_readable, landlock_abi

REPO = Path(__file__).resolve().parents[1]
CHAPTERS = ["01", "02", "03", "04", "05", "13", "14"]


def _build(chapter: str, dest: Path):
    a = load_assignment(chapter)
    specs = {ex: info.spec for ex, info in a.exercises.items()}
    return a, build_library(a.module, specs, list(a.exercises), dest)


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_build_has_no_solution_of_the_assignment(tmp_path, chapter):
    """In the build's source files, every reference of the assignment is a bare ``raise`` (so is the chapter's
    reference/compare side and every other chapter's exercise module), and the rest of the library is intact."""
    a, build = _build(chapter, tmp_path)
    for spec in (info.spec for info in a.exercises.values()):
        for fn in spec.references:
            file = build.root.joinpath(*fn.__module__.split(".")).with_suffix(".py")
            tree = ast.parse(file.read_text())
            node = next(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == fn.__name__)
            assert len(node.body) == 1 and isinstance(node.body[0], ast.Raise), (fn.__module__, fn.__name__)
            assert ABSENT in ast.unparse(node)
        assert spec.reference.__name__ in build.stubbed[a.module]
    others = [f for f in (build.root / "course_lib" / "exercises").glob("ch*.py") if f.stem != a.module[-4:]]
    for file in others:
        for node in ast.walk(ast.parse(file.read_text())):
            if isinstance(node, ast.FunctionDef):
                assert isinstance(node.body[0], ast.Raise), (file.name, node.name)
    # modules without a reference are copied unchanged
    assert (build.root / "course_lib" / "gan" / "models.py").read_text() == \
        (package_dir() / "gan" / "models.py").read_text()


ATTACKS = r'''
import json, os, sys, socket, pkgutil, shutil
from pathlib import Path
cfg = json.loads(sys.argv[1])
from course_lib.grading.sandbox import confine, restrict_network
rep = confine(memory_mb=None, file_mb=None, readable=cfg["readable"], writable=[Path(cfg["kernel"])],
              private_proc=True)
restrict_network(rep)
out = {"landlock": rep.landlock, "problems": rep.problems}

def attempt(name, fn):
    try:
        out[name] = "REACHED: " + str(fn())[:200]
    except BaseException as err:
        out[name] = f"{type(err).__name__}: {err}"[:300]

import torch
mod, fname = cfg["target"]
import importlib
attempt("import", lambda: getattr(importlib.import_module(mod), fname)(*cfg["args"]))
attempt("resolve_name", lambda: pkgutil.resolve_name(f"{mod}:{fname}")(*cfg["args"]))
attempt("read_source", lambda: open(cfg["real_source"]).read()[:50])
attempt("copy_source", lambda: shutil.copy(cfg["real_source"], Path(cfg["kernel"]) / "copy.py"))
sub = pkgutil.resolve_name("sub" + "process")
child = f"import {mod} as m; print('SOLVED', m.{fname}(*{cfg['args']!r}))"
def run_child(*flags):
    proc = sub.run([sys.executable, *flags, "-c", child], capture_output=True, text=True, timeout=60)
    return "child: " + proc.stdout[-200:] + proc.stderr[-300:]
out["child"] = run_child()
out["child_isolated"] = run_child("-I")
attempt("solutions", lambda: os.listdir(cfg["solutions"]))
attempt("private_cases", lambda: open(cfg["private"]).read()[:50])
attempt("parent_cmdline", lambda: open(f"/proc/{os.getppid()}/cmdline", "rb").read()[:100])
attempt("parent_environ", lambda: open(f"/proc/{os.getppid()}/environ", "rb").read()[:100])
attempt("tcp_connect", lambda: socket.create_connection(("127.0.0.1", cfg["port"]), timeout=5))
attempt("tcp_bind", lambda: socket.create_server(("127.0.0.1", 0)))
attempt("own_proc", lambda: len(open("/proc/self/status").read()))
chapter = importlib.import_module(cfg["module"])
spec = chapter.SPECS[cfg["exercise"]]
cases = torch.load(cfg["cases"], weights_only=True)
attempt("reference", lambda: spec.reference(cases[0]["inputs"]))
attempt("call", lambda: type(spec.call([lambda *a, **k: 0.5] * len(spec.names), cases[0]["inputs"])).__name__)
print(json.dumps(out))
'''


def _attack(tmp_path: Path, chapter: str, exercise: str, target: tuple[str, str], args: list) -> dict:
    import torch

    a, build = _build(chapter, tmp_path / "library")
    kernel = tmp_path / "kernel"
    kernel.mkdir()
    spec = a.exercises[exercise].spec
    cases = [{"name": c.name, "inputs": c.inputs} for c in spec.cases(None)]
    torch.save(cases, tmp_path / "cases.pt")
    listener = socket.create_server(("127.0.0.1", 0))
    try:
        readable = kernel_readable([build.root], _hidden_folders()) + [str(tmp_path / "cases.pt")]
        cfg = {"readable": readable, "kernel": str(kernel), "target": list(target), "args": args,
               "real_source": str(package_dir().joinpath(*target[0].split(".")[1:]).with_suffix(".py")),
               "solutions": str(REPO / "solutions"), "private": str(REPO / "tests" / "grading_fixtures" / "private" /
                                                                     "extra_cases.py"),
               "port": listener.getsockname()[1], "module": a.module, "exercise": exercise,
               "cases": str(tmp_path / "cases.pt")}
        env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(build.root), "HOME": str(kernel),
               "PYTHONDONTWRITEBYTECODE": "1"}
        proc = subprocess.run([sys.executable, "-c", ATTACKS, json.dumps(cfg)], capture_output=True, text=True,
                              env=env, cwd=kernel, timeout=300)
    finally:
        listener.close()
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(landlock_abi() < 4, reason="needs Landlock with network rules (ABI 4, Linux 6.7)")
@pytest.mark.parametrize("chapter,exercise,target,args", [
    ("02", "2.1", ("course_lib.gan.theory", "optimal_discriminator"), [[0.5], [0.5]]),
    ("13", "13.2", ("course_lib.detection.nms", "nms"), [[[0, 0, 1, 1]], [1.0], 0.5]),
])
def test_no_route_from_a_confined_kernel_reaches_a_solution(tmp_path, chapter, exercise, target, args):
    out = _attack(tmp_path, chapter, exercise, target, args)
    assert out["landlock"] and not out["problems"], out
    for route in ("import", "resolve_name", "child", "reference"):
        assert ABSENT in out[route] and "SOLVED" not in out[route], (route, out[route])
    # a child without the kernel's path finds the installed package through its editable finder: unreadable
    assert "SOLVED" not in out["child_isolated"] and "PermissionError" in out["child_isolated"], out["child_isolated"]
    for route in ("read_source", "copy_source", "solutions", "private_cases", "parent_cmdline", "parent_environ",
                  "tcp_connect", "tcp_bind"):
        assert out[route].startswith("PermissionError"), (route, out[route])
    assert out["own_proc"].startswith("REACHED") and out["call"].startswith("REACHED"), out


def test_restore_sources_are_the_real_functions():
    """What the restore cell after exercise 2.2 sends is the library's own source of its references, and nothing
    is restored for an exercise before it has been graded (2.3's steps come back only after 2.3)."""
    from course_lib.gan import losses
    from course_lib.grading.build import restore_sources

    a = load_assignment("02")
    restore = restore_sources({ex: info.spec for ex, info in a.exercises.items()}, list(a.exercises))
    names = {ex: [n for _, n, _ in items] for ex, items in restore.items()}
    assert names == {"2.1": ["optimal_discriminator"], "2.2": ["g_loss_saturating", "g_loss_non_saturating"],
                     "2.3": ["discriminator_step", "generator_step"]}
    source = dict((n, s) for _, n, s in restore["2.2"])["g_loss_saturating"]
    namespace = dict(vars(losses))
    exec(compile(textwrap.dedent(source), "<t>", "exec"), namespace)  # noqa: S102
    import torch

    logits = torch.tensor([-30.0, 0.5, 2.0, 40.0])
    assert torch.equal(namespace["g_loss_saturating"](logits), losses.g_loss_saturating(logits))
