"""The grader's code inside the learner's kernel: run the submission's cells, record what its functions do.

A graded notebook (see :mod:`course_lib.grading.notebook`) calls three functions of this module:

- :func:`start` (the first cell, before any submission code): loads the chapter's
  :class:`~course_lib.exercises.core.ExerciseSpec` objects and sets **tripwires**: the code object of every library
  function that solves an exercise (``spec.references``, and every function of ``spec.forbidden_modules``) is
  swapped for a trampoline that checks the call and then runs the original. A call is a violation of exercise X
  when it happens while X's own submission cell or X's probe is running, or from a thread other than the kernel's
  main thread: the violation is recorded, and the call raises :class:`ReferenceRefused` instead of answering.
  Because the code object itself is swapped, every alias reaches the tripwire: ``from ... import``, a ``GANLoss``
  holding the function, a method of the library calling it. It also keeps a **snapshot** of the
  library (every ``course_lib`` module's attributes, functions' code, classes' methods), of ``builtins``,
  ``sys.stdout``/``sys.stderr`` and of ``torch.Tensor``/``nn.Module``;
- :func:`run_submission` (in place of each exercise cell): compiles the submission's code (already scanned and
  transformed by the grader) under the file name ``<submission-X.Y>`` and runs it in the notebook's namespace;
  the snapshot is compared before and after, and any change (a monkeypatched ``course_lib`` function, a replaced
  ``print`` or ``sys.stdout``, a reloaded module) is a violation of that exercise;
- :func:`probe` (in place of each check cell): loads the grading cases the grader wrote (``torch.load`` with
  ``weights_only=True``), calls the learner's functions through the spec's ``call`` on each, with their printing and
  warnings silenced, and saves the records after every case (so that a crash or a time-out keeps the cases already
  done) with the violations seen so far. It then prints one fixed line, which nbval compares with the reference.

Nothing here decides points: the grader loads the records in its own process and compares them there. This module
only makes cheating visible; it cannot make a forged record pass, because the expected values never enter the
kernel.
"""

from __future__ import annotations

import builtins
import contextlib
import importlib
import io
import os
import signal
import sys
import threading
import types
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from course_lib.exercises.core import ExerciseSpec, Raised, fresh
from course_lib.grading.records import encode

__all__ = ["start", "stop", "run_submission", "probe", "PROBE_LINE", "ReferenceRefused"]

PROBE_LINE = "[course-grade] exercise {id}: outputs recorded"
_TRIP = "__course_grade_trip__"
_SAVE = torch.save
_PRINT = builtins.print


class ReferenceRefused(BaseException):
    """Raised into the learner's code that calls the library's solution of the exercise being run.

    A ``BaseException`` (like ``KeyboardInterrupt``), so that ``except Exception`` in the learner's code does not
    swallow it.
    """


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
    originals: dict[int, tuple[types.FunctionType, frozenset[str], str]] = field(default_factory=dict)
    wired: list[types.FunctionType] = field(default_factory=list)
    context: tuple[str, str] | None = None
    violations: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)

    def violate(self, exercise: str, kind: str, detail: str) -> None:
        self.violations.setdefault((exercise, detail), {"exercise": exercise, "kind": kind, "detail": detail})


_state: _State | None = None


# ----------------------------------------------------------------------------------------------------------------------
# Tripwires
# ----------------------------------------------------------------------------------------------------------------------
def _trip(key: int, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """The trampoline's target: note a forbidden call, then run the original function."""
    st = _state
    assert st is not None
    original, owners, name = st.originals[key]
    other_thread = threading.get_ident() != st.main_thread
    current = st.context[1] if st.context else None
    refused = False
    for owner in owners:
        if owner == current or other_thread:
            where = "from another thread" if other_thread else f"while exercise {owner}'s code ran"
            st.violate(owner, "reference", f"called the library's solution {name} {where}")
            refused = True
    if refused:  # and the call gets nothing: even a submission that hid the record would have no answer
        raise ReferenceRefused(f"{name} is the library's solution of this exercise: it may not be used here")
    return original(*args, **kwargs)


def _wire(fn: types.FunctionType, owners: set[str], st: _State) -> None:
    """Swap ``fn``'s code for a trampoline through :func:`_trip` (functions with closures cannot be swapped)."""
    key = id(fn)
    if key in st.originals:
        original, old, name = st.originals[key]
        st.originals[key] = (original, old | frozenset(owners), name)
        return
    if fn.__closure__ is not None:
        return
    original = types.FunctionType(fn.__code__, fn.__globals__, fn.__name__, fn.__defaults__, None)
    original.__kwdefaults__ = fn.__kwdefaults__
    original.__dict__.update(fn.__dict__)
    name = f"{fn.__module__}.{fn.__qualname__}"
    st.originals[key] = (original, frozenset(owners), name)
    namespace: dict[str, Any] = {}
    exec(f"def _t(*args, **kwargs):\n    return {_TRIP}({key}, args, kwargs)\n", namespace)  # noqa: S102
    fn.__globals__[_TRIP] = _trip
    st.wired.append(fn)
    fn.__code__ = namespace["_t"].__code__.replace(co_name=fn.__code__.co_name, co_qualname=fn.__code__.co_qualname,
                                                  co_filename=fn.__code__.co_filename)


def _tripwires(st: _State) -> None:
    for ex_id, spec in st.specs.items():
        targets = [f for f in spec.references if isinstance(f, types.FunctionType)]
        for module_name in spec.forbidden_modules:
            module = importlib.import_module(module_name)
            targets += [v for v in vars(module).values()
                        if isinstance(v, types.FunctionType) and v.__module__ == module_name]
        for fn in targets:
            _wire(fn, {ex_id}, st)


# ----------------------------------------------------------------------------------------------------------------------
# Snapshot of what a submission must not change
# ----------------------------------------------------------------------------------------------------------------------
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
    _tripwires(st)
    _state = st


def stop() -> None:
    """Undo :func:`start`: give every wired function its own code back (a kernel never needs this; tests do)."""
    global _state
    st = _state
    if st is None:
        return
    for fn in list(st.wired):
        original, _, _ = st.originals[id(fn)]
        fn.__code__ = original.__code__
        fn.__globals__.pop(_TRIP, None)
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


def _save(st: _State, exercise: str, cases: list[Any], total: int, missing: list[str], complete: bool,
          interrupted: bool) -> None:
    payload = {"format": 1, "exercise": exercise, "cases": cases, "n_cases": total, "missing": missing,
               "complete": complete, "interrupted": interrupted,
               "violations": [dict(v) for v in st.violations.values()]}
    final = st.results_dir / f"{exercise}.pt"
    tmp = st.results_dir / f".{exercise}.pt.tmp"
    _SAVE(payload, tmp)
    os.replace(tmp, final)


def probe(exercise: str, namespace: dict[str, Any] | None = None) -> None:
    """Call the learner's functions of ``exercise`` on the grading cases and save what they return."""
    st = _state
    if st is None:
        raise RuntimeError("the grader's runtime was not started in this kernel")
    namespace = _user_namespace() if namespace is None else namespace
    spec = st.specs[exercise]
    cases = torch.load(st.cases_dir / f"{exercise}.pt", map_location="cpu", weights_only=True)
    missing = [n for n in st.names[exercise] if n not in namespace]
    records: list[Any] = []
    if missing:
        _save(st, exercise, records, len(cases), missing, True, False)
        _PRINT(PROBE_LINE.format(id=exercise), file=st.stdout, flush=True)
        return
    fns = [namespace[n] for n in st.names[exercise]]
    previous_handler = signal.signal(signal.SIGINT, _on_interrupt)  # a time limit, told apart from learner code
    try:
        _probe_cases(st, exercise, spec, fns, cases, missing, records)
    finally:
        signal.signal(signal.SIGINT, previous_handler)
    _save(st, exercise, records, len(cases), missing, True, False)
    _PRINT(PROBE_LINE.format(id=exercise), file=st.stdout, flush=True)


class _TimeLimit(KeyboardInterrupt):
    """The interruption the grader's nbval run sends when a cell runs past its time limit."""


def _on_interrupt(signum: int, frame: Any) -> None:
    raise _TimeLimit()


def _probe_cases(st: _State, exercise: str, spec: ExerciseSpec, fns: list[Any], cases: list[Any],
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
            _save(st, exercise, records, len(cases), missing, False, True)
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
        _save(st, exercise, records, len(cases), missing, False, False)
