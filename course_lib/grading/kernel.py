"""The grader's code inside the learner's kernel: run the submission's cells, record what its functions do.

The kernel runs against the grading build of the library (:mod:`course_lib.grading.build`): the solutions of the
assignment's exercises are absent from it, and the installed library is not readable from the sandbox, so nothing
here has to guard a solution. A graded notebook (see :mod:`course_lib.grading.notebook`) calls four functions:

- :func:`start` (the first cell, before any submission code): loads the chapter's
  :class:`~course_lib.exercises.core.ExerciseSpec` objects (from the build: their ``call`` is what a probe runs) and
  keeps a **snapshot** of the library (every ``course_lib`` module's attributes, functions' code, classes' methods),
  of ``builtins``, ``sys.stdout``/``sys.stderr`` and of ``torch.Tensor``/``nn.Module``;
- :func:`run_submission` (in place of each exercise cell): compiles the submission's code (already scanned and
  transformed by the grader) under the file name ``<submission-X.Y>`` and runs it in the notebook's namespace;
  the snapshot is compared before and after, and any change (a monkeypatched ``course_lib`` function, a replaced
  ``print`` or ``sys.stdout``, a reloaded module) is a violation of that exercise. This is a second line (and the
  source of clear feedback), not the defence: with the solutions absent, a patched library cannot forge a result;
- :func:`probe` (in place of each check cell): loads the exercise's grading cases, which the grader's nbval plugin
  writes into the kernel's folder right before this cell and removes right after (``torch.load`` with
  ``weights_only=True``), calls the learner's functions through the spec's ``call`` on each, with their printing and
  warnings silenced, and saves the records after every case (so that a crash or a time-out keeps the cases already
  done) with the violations seen so far and the probe's token (a random string sent only in the probe cell's own
  source: a results file without it is void). It then prints one fixed line, which nbval compares with the
  reference;
- :func:`restore` (a cell right after an exercise's check): puts back the library functions that were absent only
  to protect that exercise (another exercise's ``call`` may need them, e.g. the losses of 2.2 inside 2.3's loss
  objects); their source comes in the cell itself, once the exercise is graded.

Nothing here decides points: the grader loads the records in its own process and compares them there, with
expected values that never enter the kernel.
"""

from __future__ import annotations

import builtins
import contextlib
import importlib
import io
import os
import signal
import sys
import tempfile
import threading
import types
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from course_lib.exercises.core import ExerciseSpec, Raised, fresh
from course_lib.grading.records import encode

__all__ = ["start", "stop", "run_submission", "probe", "restore", "PROBE_LINE"]

PROBE_LINE = "[course-grade] exercise {id}: outputs recorded"
_SAVE = torch.save
_PRINT = builtins.print


class _Discard(io.TextIOBase):
    """A text stream that swallows everything (the learner's prints during a probe)."""

    def writable(self) -> bool:
        return True

    def write(self, s: str) -> int:
        return len(s)


@dataclass
class _State:
    specs: dict[str, ExerciseSpec]
    names: dict[str, tuple[str, ...]]
    cases_dir: Path
    results_dir: Path
    main_thread: int
    stdout: Any = None  # the kernel's own stdout when the grader started: the probes print their line there
    context: tuple[str, str] | None = None
    violations: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)

    def violate(self, exercise: str, kind: str, detail: str) -> None:
        self.violations.setdefault((exercise, detail), {"exercise": exercise, "kind": kind, "detail": detail})


_state: _State | None = None


# ----------------------------------------------------------------------------------------------------------------------
# Snapshot of what a submission must not change
# ----------------------------------------------------------------------------------------------------------------------
# Class attributes Python itself adds as caches: ``copyreg`` sets ``__slotnames__`` on a class the first time one of
# its objects is copied or pickled (``copy.copy(tensor)``, ``torch.save``): honest work, not tampering.
_CACHES = frozenset({"__slotnames__", "__abstractmethods__", "_abc_impl"})


def _snapshot() -> dict[tuple[str, ...], Any]:
    snap: dict[tuple[str, ...], Any] = {}
    for name, module in list(sys.modules.items()):
        if module is None or not (name == "course_lib" or name.startswith("course_lib.")):
            continue
        snap[("module", name)] = module
        for attr, value in list(vars(module).items()):
            if attr.startswith("_") and not isinstance(value, (types.FunctionType, type)):
                continue  # private caches may change legitimately
            snap[("attr", name, attr)] = value
            if isinstance(value, types.FunctionType) and value.__module__ == name:
                snap[("code", name, attr)] = value.__code__
                snap[("defaults", name, attr)] = value.__defaults__
            elif isinstance(value, type) and value.__module__ == name:
                for member, obj in list(vars(value).items()):
                    if member not in _CACHES:
                        snap[("class", name, attr, member)] = obj
    for attr, value in vars(builtins).items():
        if not attr.startswith("_"):
            snap[("builtins", attr)] = value
    snap[("sys", "stdout")] = sys.stdout
    snap[("sys", "stderr")] = sys.stderr
    for attr in ("save", "load", "equal", "Tensor", "is_tensor"):
        snap[("torch", attr)] = getattr(torch, attr)
    for cls, module, label in ((torch.Tensor, "torch", "Tensor"), (torch.nn.Module, "torch.nn", "Module")):
        for member, obj in list(vars(cls).items()):
            if member not in _CACHES:
                snap[("class", module, label, member)] = obj
    return snap


def _describe_change(key: tuple[str, ...]) -> str:
    kind = key[0]
    if kind == "module":
        return f"replaced the module {key[1]} in sys.modules"
    if kind in ("attr", "code", "defaults"):
        what = {"attr": "", "code": " (its code)", "defaults": " (its default arguments)"}[kind]
        return f"changed {key[1]}.{key[2]}{what}"
    if kind == "class":
        return f"changed {'.'.join(key[1:])}"
    if kind == "builtins":
        return f"replaced the built-in {key[1]}"
    return f"replaced {'.'.join(key)}"


def _changes(before: dict[tuple[str, ...], Any]) -> list[str]:
    """What changed since ``before``: replaced or removed entries, and attributes added to a library module
    (a submodule imported for the first time is not a change)."""
    after = _snapshot()
    changed = [k for k, v in before.items() if k not in after or after[k] is not v]
    modules = {k[1] for k in before if k[0] == "module"}
    changed += [k for k, v in after.items() if k[0] == "attr" and k not in before and k[1] in modules
                and not isinstance(v, types.ModuleType)]
    classes = {k[1:3] for k in before if k[0] == "class"}
    changed += [k for k in after if k[0] == "class" and k not in before and k[1:3] in classes]
    return [_describe_change(k) for k in changed[:5]]


# ----------------------------------------------------------------------------------------------------------------------
# The three entry points
# ----------------------------------------------------------------------------------------------------------------------
def start(config: dict[str, Any]) -> None:
    """Set up the grader's state in this kernel (first cell of a graded notebook)."""
    global _state
    module = importlib.import_module(config["module"])
    specs: dict[str, ExerciseSpec] = {k: module.SPECS[k] for k in config["exercises"]}
    names = {k: tuple(v) for k, v in config["names"].items()}
    if _state is not None:
        stop()
    st = _State(specs, names, Path(config["cases_dir"]), Path(config["results_dir"]), threading.get_ident(),
                sys.stdout)
    st.results_dir.mkdir(parents=True, exist_ok=True)
    # torch imports its compiler lazily the first time an optimizer is built (seconds): do it now, so that a
    # check's time limit measures the learner's code, not torch's imports
    torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    _state = st


def stop() -> None:
    """Forget the state of :func:`start` (a kernel never needs this; tests do)."""
    global _state
    _state = None


@contextlib.contextmanager
def _window(kind: str, exercise: str):
    """While the learner's code of ``exercise`` runs: set the context, and compare the snapshot before and after."""
    st = _state
    if st is None:
        raise RuntimeError("the grader's runtime was not started in this kernel")
    before = _snapshot()
    previous, st.context = st.context, (kind, exercise)
    try:
        yield st
    finally:
        st.context = previous
        for change in _changes(before):
            st.violate(exercise, "tampering", change)


def _user_namespace() -> dict[str, Any]:
    from IPython import get_ipython

    shell = get_ipython()
    return shell.user_ns if shell is not None else sys.modules["__main__"].__dict__


def run_submission(exercise: str, code: str, namespace: dict[str, Any] | None = None) -> None:
    """Run the submission's (scanned, IPython-transformed) code of ``exercise`` in the notebook's namespace
    (``namespace``, for tests; by default the kernel's user namespace)."""
    namespace = _user_namespace() if namespace is None else namespace
    compiled = compile(code, f"<submission-{exercise}>", "exec")
    with _window("cell", exercise):
        exec(compiled, namespace)  # noqa: S102 - the submission's own code, confined by the launcher


def _save(st: _State, exercise: str, token: str, cases: list[Any], total: int, missing: list[str], complete: bool,
          interrupted: bool) -> None:
    payload = {"format": 1, "exercise": exercise, "cases": cases, "n_cases": total, "missing": missing,
               "complete": complete, "interrupted": interrupted,
               "violations": [dict(v) for v in st.violations.values()]}
    payload["token"] = token
    final = st.results_dir / f"{exercise}.pt"
    fd, tmp = tempfile.mkstemp(prefix=f".{exercise}.", suffix=".tmp", dir=st.results_dir)  # a fresh name each time
    try:
        with os.fdopen(fd, "wb") as fh:
            _SAVE(payload, fh)
        os.replace(tmp, final)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def probe(exercise: str, token: str = "", namespace: dict[str, Any] | None = None) -> None:
    """Call the learner's functions of ``exercise`` on the grading cases and save what they return (with
    ``token``, which the grader sends in this cell only)."""
    st = _state
    if st is None:
        raise RuntimeError("the grader's runtime was not started in this kernel")
    namespace = _user_namespace() if namespace is None else namespace
    spec = st.specs[exercise]
    cases = torch.load(st.cases_dir / f"{exercise}.pt", map_location="cpu", weights_only=True)
    missing = [n for n in st.names[exercise] if n not in namespace]
    records: list[Any] = []
    if missing:
        _save(st, exercise, token, records, len(cases), missing, True, False)
        _PRINT(PROBE_LINE.format(id=exercise), file=st.stdout, flush=True)
        return
    fns = [namespace[n] for n in st.names[exercise]]
    previous_handler = signal.signal(signal.SIGINT, _on_interrupt)  # a time limit, told apart from learner code
    try:
        _probe_cases(st, exercise, token, spec, fns, cases, missing, records)
    finally:
        signal.signal(signal.SIGINT, previous_handler)
    _save(st, exercise, token, records, len(cases), missing, True, False)
    _PRINT(PROBE_LINE.format(id=exercise), file=st.stdout, flush=True)


class _TimeLimit(KeyboardInterrupt):
    """The interruption the grader's nbval run sends when a cell runs past its time limit."""


def _on_interrupt(signum: int, frame: Any) -> None:
    raise _TimeLimit()


def _probe_cases(st: _State, exercise: str, token: str, spec: ExerciseSpec, fns: list[Any], cases: list[Any],
                 missing: list[str], records: list[Any]) -> None:
    """Run the spec's ``call`` on each case, saving the records after each one."""
    for case in cases:
        try:
            with _window("probe", exercise), contextlib.redirect_stdout(_Discard()), \
                    contextlib.redirect_stderr(_Discard()), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                record = spec.call(fns, fresh(case["inputs"]))
        except _TimeLimit:  # the cell's time limit: keep what is done, let nbval see the interruption
            records.append(encode(Raised("TimeoutError", "the time limit for this check ran out in this case")))
            _save(st, exercise, token, records, len(cases), missing, False, True)
            raise KeyboardInterrupt from None  # the name nbval knows a time-out by
        except NotImplementedError as err:
            record = Raised(type(err).__name__, str(err)[:2000], not_implemented=True)
        except BaseException as err:  # noqa: BLE001 - SystemExit and friends from the learner's code: a failure
            try:
                message = str(err)
            except Exception:  # noqa: BLE001
                message = "<message not printable>"
            record = Raised(type(err).__name__, message[:2000])
        records.append(encode(record))
        _save(st, exercise, token, records, len(cases), missing, False, False)


def restore(functions: list[tuple[str, str, str]]) -> None:
    """Put back library functions of the grading build that were absent only while their exercise was graded.

    ``functions``: (module, name, source). The stub object is kept (a ``GANLoss`` or an alias may hold it) and gets
    the code of the function compiled from ``source`` in the module's namespace.
    """
    for module_name, name, source in functions:
        module = importlib.import_module(module_name)
        stub = getattr(module, name)
        namespace = dict(vars(module))
        exec(compile(source, f"<restored {module_name}>", "exec"), namespace)  # noqa: S102 - the grader's source
        fresh_fn = namespace[name]
        stub.__code__ = fresh_fn.__code__
        stub.__defaults__, stub.__kwdefaults__ = fresh_fn.__defaults__, fresh_fn.__kwdefaults__
