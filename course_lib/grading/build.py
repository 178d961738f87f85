"""The grading build: a copy of ``course_lib`` in which the solutions of the assignment's exercises are absent.

A graded kernel never imports the installed library. :func:`build_library` copies the ``course_lib`` package into the
batch's work folder and rewrites, in the copy:

- every function of every exercise's ``ExerciseSpec.references`` (the library's solutions, e.g.
  ``course_lib.gan.theory.optimal_discriminator``): its body becomes a ``raise`` of :data:`ABSENT` (the name and the
  signature stay, so that modules importing it still import);
- in the chapter's own ``course_lib/exercises/chNN.py``: the functions the grader alone needs (each spec's
  ``make_cases``, ``reference`` and ``compare``), and every function defined in that module whose source mentions a
  solution (the ``_reference_*`` helpers);
- every other chapter's exercise module, all its functions (they hold other chapters' references and checks).

The rest of the library stays as it is, so the notebook's set-up cells and each spec's ``call`` (what a probe runs)
work. The sandbox (:mod:`course_lib.grading.sandbox`) puts this copy first on the kernel's path and gives the kernel
no read access to the installed package, the repository's ``solutions/`` or anything else outside the copy and the
Python installation: neither the kernel, nor a process it starts, nor a file it copies can reach a solution. The
expected values are computed only in the grader's own process.

Some references are needed after their own exercise: chapter 2's exercise 2.3 hands the learner's steps a loss object
whose generator loss is exercise 2.2's solution. :func:`restore_sources` gives, per exercise, the source of the
references it owns; the graded notebook runs it (:func:`course_lib.grading.kernel.restore`) in a cell placed right
after that exercise's check, so a solution enters the kernel only once its exercise has been graded, and only
through a cell the grader sends at that moment.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import shutil
import textwrap
import types
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import course_lib
from course_lib.exercises.core import ExerciseSpec

__all__ = ["ABSENT", "LibraryBuild", "build_library", "package_dir", "restore_sources", "stub_targets"]

ABSENT = "is not available while an exercise is graded (the grader's copy of the library has no solutions)"


def package_dir() -> Path:
    """The folder of the installed ``course_lib`` package (the real one, never readable by a graded kernel)."""
    return Path(course_lib.__file__).resolve().parent


@dataclass
class LibraryBuild:
    """A grading build on disk."""

    root: Path                                  # the folder to put first on the kernel's path (holds course_lib/)
    stubbed: dict[str, set[str]] = field(default_factory=dict)   # module -> qualnames replaced by a raise
    restore: dict[str, list[tuple[str, str, str]]] = field(default_factory=dict)  # exercise -> (module, name, source)


def _functions(specs: Iterable[ExerciseSpec]) -> list[types.FunctionType]:
    return [f for spec in specs for f in spec.references if isinstance(f, types.FunctionType)]


def stub_targets(module_name: str, specs: dict[str, ExerciseSpec]) -> dict[str, set[str]]:
    """Module -> names of the functions to replace for an assignment whose checks live in ``module_name``."""
    targets: dict[str, set[str]] = {}
    for fn in _functions(specs.values()):
        targets.setdefault(fn.__module__, set()).add(fn.__qualname__)
    own = targets.setdefault(module_name, set())
    for spec in specs.values():
        for fn in (spec.make_cases, spec.reference, spec.compare):
            if isinstance(fn, types.FunctionType) and fn.__module__ == module_name:
                own.add(fn.__qualname__)
    # helpers of the chapter's module that call a solution (the reference side of a check)
    module = importlib.import_module(module_name)
    solution_aliases = {alias for alias, value in vars(module).items()
                        if isinstance(value, types.FunctionType) and value in _functions(specs.values())}
    for name, value in vars(module).items():
        if isinstance(value, types.FunctionType) and value.__module__ == module_name:
            names = set(value.__code__.co_names)
            if names & solution_aliases or name.startswith(("_reference", "reference_")):
                own.add(value.__qualname__)
    return targets


class _Stubber(ast.NodeTransformer):
    """Replace the bodies of the functions named (by qualified name) with a ``raise``."""

    def __init__(self, module: str, names: set[str] | None) -> None:
        self.module, self.names, self.scope = module, names, []  # names None: every function
        self.done: set[str] = set()

    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> ast.AST:
        qualname = ".".join([*self.scope, node.name])
        if self.names is None or qualname in self.names:
            message = f"{self.module}.{qualname} {ABSENT}"
            node.body = [ast.Raise(ast.Call(ast.Name("RuntimeError", ast.Load()), [ast.Constant(message)], []), None)]
            node.decorator_list = [d for d in node.decorator_list if _harmless_decorator(d)]
            self.done.add(qualname)
            return node
        self.scope += [node.name, "<locals>"]
        self.generic_visit(node)
        del self.scope[-2:]
        return node

    visit_FunctionDef = _function
    visit_AsyncFunctionDef = _function

    def visit_ClassDef(self, node: ast.ClassDef) -> ast.AST:
        self.scope.append(node.name)
        self.generic_visit(node)
        self.scope.pop()
        return node


def _harmless_decorator(node: ast.expr) -> bool:
    """Decorators kept on a stub (they change how it is called, not what it computes)."""
    name = node.attr if isinstance(node, ast.Attribute) else node.id if isinstance(node, ast.Name) else ""
    return name in ("staticmethod", "classmethod", "property", "overload")


def _rewrite(path: Path, module: str, names: set[str] | None) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    stubber = _Stubber(module, names)
    tree = ast.fix_missing_locations(stubber.visit(tree))
    header = f"# course-grade: grading build of {module}; some functions are absent (see course_lib.grading.build)\n"
    path.write_text(header + ast.unparse(tree) + "\n", encoding="utf-8")
    return stubber.done


def _module_file(root: Path, module: str) -> Path:
    parts = module.split(".")
    file = root.joinpath(*parts).with_suffix(".py")
    return file if file.is_file() else root.joinpath(*parts, "__init__.py")


def restore_sources(specs: dict[str, ExerciseSpec], order: list[str]) -> dict[str, list[tuple[str, str, str]]]:
    """Per exercise: (module, name, source) of the solutions that may enter the kernel once it is graded.

    A function shared by several exercises is restored after the last of them (in ``order``)."""
    owner: dict[types.FunctionType, str] = {}
    for ex in order:
        for fn in _functions([specs[ex]]):
            owner[fn] = ex
    out: dict[str, list[tuple[str, str, str]]] = {}
    for fn, ex in owner.items():
        if fn.__closure__ is not None or "." in fn.__qualname__:
            continue  # a closure or a method cannot be rebuilt from its source: it stays absent
        source = textwrap.dedent(inspect.getsource(fn))
        if source.lstrip().startswith("@"):
            continue
        out.setdefault(ex, []).append((fn.__module__, fn.__name__, source))
    return out


def build_library(module_name: str, specs: dict[str, ExerciseSpec], order: list[str], dest: Path) -> LibraryBuild:
    """Write the grading build for the exercises ``specs`` (checks in ``module_name``) under ``dest``."""
    src = package_dir()
    root = Path(dest)
    target = root / "course_lib"
    shutil.copytree(src, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo"))
    build = LibraryBuild(root)
    for module, names in stub_targets(module_name, specs).items():
        if not module.startswith("course_lib."):
            continue
        done = _rewrite(_module_file(root, module), module, names)
        missing = names - done
        if missing:
            raise RuntimeError(f"grading build: cannot find {sorted(missing)} in {module}")
        build.stubbed[module] = done
    for file in sorted((target / "exercises").glob("ch*.py")):
        module = f"course_lib.exercises.{file.stem}"
        if module != module_name:
            build.stubbed[module] = _rewrite(file, module, None)
    build.restore = restore_sources(specs, order)
    return build
