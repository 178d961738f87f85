"""The exercise/check convention.

An :class:`Exercise` carries its id (``"2.1"``), title, points, difficulty (1-3) and an estimated time.
A check is a list of :class:`Case` objects, each a name and a function that runs the learner's code on one input
and returns ``None`` when the result is right or a short explanation when it is not. :func:`run_check` runs the
cases, prints one verdict line, and returns a :class:`Verdict`.

Verdict lines are deterministic, so that nbval can compare a learner's check output with the solution's::

    [Exercise 2.1] The optimal discriminator: PASSED 6/6 cases, 3/3 points
    [Exercise 2.1] The optimal discriminator: FAILED 4/6 cases, 2/3 points
        case 'disjoint supports': at index 3 expected 1.0, got 0.5
    [Exercise 2.1] The optimal discriminator: not implemented yet, 0/3 points

Partial credit is proportional to the *weight* of the cases passed (every case weighs 1 unless it says otherwise).
The key cases of an exercise (the edge case the exercise is about: ``0 log 0``, a ``0/0`` guard, a tie exactly at a
threshold) carry a larger weight, so that an answer that misses the point of the exercise loses most of its points;
each lab states the weights in the exercise's statement. A stub raises ``NotImplementedError``; a check that meets it
reports "not implemented yet" instead of raising, so an untouched learner notebook runs end to end.

Comparisons refuse look-alikes: a result must be a real ``torch.Tensor`` (not a subclass, not an object whose
``__eq__`` always says yes) or a real ``float``/``int``, and values are compared by this module's own arithmetic.

**Declarative checks.** Each chapter's checks are written as :class:`ExerciseSpec` objects, which split a check into
four pure steps so that the same check can run in two places:

- ``make_cases(seed)``: the inputs, as plain data (tensors, numbers, strings, lists and dicts of them). ``seed=None``
  gives the fixed cases a notebook's check runs; an ``int`` draws fresh cases of the same kinds from that seed (the
  grader does this, so the cases it grades with are ones the learner never saw);
- ``call(fns, inputs)``: runs the learner's functions on one case and *records* what they did as plain data: real
  tensors (detached, on the CPU), numbers, strings, and two markers, :class:`Opaque` (a result that was not plain data,
  kept as its type name only) and :class:`Raised` (an exception, kept as its type name and message);
- ``reference(inputs)``: the expected record, computed with the library;
- ``compare(outputs, expected)``: ``None`` when they agree, else the explanation that the verdict prints.

In a notebook, ``chNN.check_name(fn)`` runs the four steps in the learner's own process (:meth:`ExerciseSpec.check`).
The grader (:mod:`course_lib.grading`) runs only ``call`` inside the learner's kernel, saves the record with
``torch.save``, loads it back with ``torch.load(weights_only=True)`` in its own process, and runs ``reference`` and
``compare`` there: a fake object can only come back as an :class:`Opaque` type name, and nothing the learner's code
does to its own process changes the comparison.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from collections.abc import Mapping
from typing import Any, Callable, Sequence

import torch

__all__ = [
    "Exercise",
    "Case",
    "Verdict",
    "run_check",
    "compare_tensors",
    "compare_scalars",
    "not_implemented",
    "use",
    "CaseInput",
    "ExerciseSpec",
    "Opaque",
    "Raised",
    "capture",
    "plain",
    "fresh",
    "spec_cases",
    "type_name",
    "require_inputs",
]

STARS = {1: "★☆☆", 2: "★★☆", 3: "★★★"}


@dataclass(frozen=True)
class Exercise:
    """Metadata of one graded exercise."""

    id: str  # "2.1": chapter.number
    title: str
    points: float
    difficulty: int  # 1 easy, 2 medium, 3 hard
    minutes: int  # estimated time

    def __post_init__(self) -> None:
        if self.difficulty not in STARS:
            raise ValueError(f"difficulty must be 1, 2 or 3, got {self.difficulty!r}.")
        if self.points <= 0 or self.minutes <= 0:
            raise ValueError("points and minutes must be positive.")

    @property
    def badge(self) -> str:
        """The line a notebook shows under the exercise title."""
        return f"{_fmt(self.points)} points · difficulty {STARS[self.difficulty]} · about {self.minutes} min"


@dataclass(frozen=True)
class Case:
    """One input the learner's code is run on.

    ``run`` returns ``None`` when the learner's result is right, else a short explanation (never the answer).
    A ``hidden`` case is reported by number only. ``weight`` is the case's share of the points (relative to the
    other cases' weights).
    """

    name: str
    run: Callable[[], str | None]
    hidden: bool = False
    weight: float = 1.0

    def __post_init__(self) -> None:
        _check_weight(self.weight, self.name)


def _check_weight(weight: Any, name: str) -> None:
    if type(weight) not in (int, float) or not math.isfinite(weight) or weight <= 0:
        raise ValueError(f"case {name!r}: weight must be a positive finite number, got {weight!r}.")


@dataclass
class Verdict:
    exercise: Exercise
    status: str  # "passed", "failed", "not implemented"
    passed: int
    total: int
    points: float
    messages: list[str] = field(default_factory=list)

    def _ipython_display_(self) -> None:
        """Show nothing more in a notebook: :func:`run_check` has already printed the verdict."""

    def __str__(self) -> str:
        head = f"[Exercise {self.exercise.id}] {self.exercise.title}: "
        maxp = _fmt(self.exercise.points)
        if self.status == "not implemented":
            line = head + f"not implemented yet, 0/{maxp} points"
        else:
            word = "PASSED" if self.status == "passed" else "FAILED"
            line = head + f"{word} {self.passed}/{self.total} cases, {_fmt(self.points)}/{maxp} points"
        return "\n".join([line, *("    " + m for m in self.messages)])


def _fmt(x: float) -> str:
    return f"{x:g}"


def run_check(exercise: Exercise, cases: Sequence[Case], *, show: int = 1, quiet: bool = False) -> Verdict:
    """Run ``cases``, print the verdict (unless ``quiet``) and return it.

    ``show`` is how many failure explanations are printed (the first ones). A ``NotImplementedError`` raised by the
    learner's code in any case makes the verdict "not implemented yet".
    """
    if not cases:
        raise ValueError(f"exercise {exercise.id} has no cases: a check that cannot fail is a defect.")
    passed, earned, messages = 0, 0.0, []
    for i, case in enumerate(cases, start=1):
        label = f"hidden case {i}" if case.hidden else f"case {case.name!r}"
        try:
            problem = case.run()
        except NotImplementedError:
            verdict = Verdict(exercise, "not implemented", 0, len(cases), 0.0)
            if not quiet:
                print(verdict)
            return verdict
        except Exception as err:  # the learner's code raised: report it as this case's failure
            problem = f"raised {type(err).__name__}: {_short(_safe_str(err))}"
        if problem is None:
            passed += 1
            earned += case.weight
        elif len(messages) < show:
            messages.append(f"{label}: {problem}")
    total_weight = math.fsum(case.weight for case in cases)
    points = round(exercise.points * earned / total_weight, 2) if passed < len(cases) else float(exercise.points)
    status = "passed" if passed == len(cases) else "failed"
    verdict = Verdict(exercise, status, passed, len(cases), points, messages)
    if not quiet:
        print(verdict)
    return verdict


def _short(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _describe(x: Any) -> str:
    if type(x) is torch.Tensor:
        return f"Tensor(shape={tuple(x.shape)}, dtype={x.dtype})"
    if type(x) is Opaque:
        return x.type_name
    return type(x).__name__


def compare_tensors(
    got: Any,
    expected: torch.Tensor,
    *,
    rtol: float = 1e-5,
    atol: float = 1e-6,
    check_dtype: bool = True,
    equal_nan: bool = False,
    what: str = "result",
) -> str | None:
    """``None`` if ``got`` is a real tensor equal (within tolerance) to ``expected``, else what is wrong.

    The explanation names the first mismatching index and both values there, the shape or the dtype: enough to
    debug, not the whole answer.
    """
    if type(got) is not torch.Tensor:
        return f"the {what} should be a torch.Tensor, got {_describe(got)}"
    if tuple(got.shape) != tuple(expected.shape):
        return f"the {what} should have shape {tuple(expected.shape)}, got {tuple(got.shape)}"
    if check_dtype and got.dtype != expected.dtype:
        return f"the {what} should have dtype {expected.dtype}, got {got.dtype}"
    g = torch.Tensor.detach(got).to("cpu", torch.float64)
    e = expected.detach().to("cpu", torch.float64)
    g_nan, e_nan = torch.isnan(g), torch.isnan(e)
    finite = torch.isfinite(e)
    close = (g - e).abs() <= atol + rtol * e.abs()
    ok = torch.where(finite, close, g == e)  # an infinite expected value must be matched exactly
    ok = ok | (g_nan & e_nan) if equal_nan else ok & ~g_nan
    if bool(ok.all()):
        return None
    bad = torch.nonzero(~ok)[0].tolist()
    index = tuple(bad) if len(bad) != 1 else bad[0]
    at = f" at index {index}" if got.dim() > 0 else ""
    return f"the {what}{at} should be {e[tuple(bad)].item():.6g}, got {g[tuple(bad)].item():.6g}"


def compare_scalars(got: Any, expected: float, *, rtol: float = 1e-5, atol: float = 1e-6, what: str = "result") -> str | None:
    """Like :func:`compare_tensors` for a Python number (a 0-d tensor is accepted too)."""
    if type(got) is torch.Tensor and got.dim() == 0:
        got = torch.Tensor.item(got)
    if type(got) not in (float, int):
        return f"the {what} should be a number (float), got {_describe(got)}"
    value = float(got)
    if math.isinf(expected):
        return None if value == expected else f"the {what} should be {expected:.6g}, got {value:.6g}"
    if math.isnan(value) or abs(value - expected) > atol + rtol * abs(expected):
        return f"the {what} should be {expected:.6g}, got {value:.6g}"
    return None


def not_implemented(exercise_id: str) -> NotImplementedError:
    """The error a stub raises: ``raise not_implemented("2.1")``."""
    return NotImplementedError(f"Exercise {exercise_id} is not implemented yet: replace the `raise` line with your code.")


def use(fn: Callable, fallback: Callable, exercise_id: str) -> Callable:
    """Return ``fn`` if the learner implemented it, else ``fallback`` (with a one-line note, printed once).

    Later cells of a notebook call the returned function, so an untouched learner notebook still runs end to end
    on the library's reference implementation.
    """
    announced = False

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        nonlocal announced
        try:
            return fn(*args, **kwargs)
        except NotImplementedError:
            if not announced:
                print(f"(Exercise {exercise_id} is not done yet: using course_lib's reference version instead.)")
                announced = True
            return fallback(*args, **kwargs)

    return wrapper


# ----------------------------------------------------------------------------------------------------------------------
# Declarative checks: cases as plain data, recorded outputs, comparison apart from the learner's code
# ----------------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CaseInput:
    """One case of an :class:`ExerciseSpec`: a name, its inputs as plain data, whether the learner sees it, and its
    weight (its share of the points, relative to the other cases'; key cases weigh more, see the module docstring).

    ``inputs`` holds only tensors, numbers, strings, ``None`` and lists/tuples/dicts of them, so that it can be saved
    with ``torch.save`` and loaded with ``torch.load(weights_only=True)``.
    """

    name: str
    inputs: dict[str, Any]
    hidden: bool = False
    weight: float = 1.0

    def __post_init__(self) -> None:
        _check_weight(self.weight, self.name)


@dataclass(frozen=True)
class Opaque:
    """A learner's result that is not plain data (an object, a tensor subclass, a list...), kept as its type name.

    A comparison meets only the name: whatever the object's ``__eq__``, ``__float__`` or ``shape`` would have said,
    it fails with "should be a torch.Tensor, got <name>".
    """

    type_name: str


@dataclass(frozen=True)
class Raised:
    """An exception raised by the learner's code while a case ran, kept as its type name and message."""

    type_name: str
    message: str
    not_implemented: bool = False

    def problem(self) -> str:
        """The explanation :func:`run_check` prints for it; a stub (``NotImplementedError``) re-raises instead."""
        if self.not_implemented:
            raise NotImplementedError(self.message)
        return f"raised {self.type_name}: {_short(self.message)}"


def capture(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)``, or a :class:`Raised` record of the ``Exception`` it raised.

    ``call`` functions use it where a later step of the comparison must not run when an earlier one failed: the
    record keeps the order of events, and ``compare`` decides what to report.
    """
    try:
        return fn(*args, **kwargs)
    except NotImplementedError as err:
        return Raised(type(err).__name__, str(err)[:2000], not_implemented=True)
    except Exception as err:  # the learner's code raised: recorded, judged by compare
        return Raised(type(err).__name__, _safe_str(err)[:2000])


def _safe_str(err: BaseException) -> str:
    try:
        return str(err)
    except Exception:  # an exception whose __str__ raises
        return "<message not printable>"


def plain(x: Any, *, allow_parameter: bool = False) -> Any:
    r"""The record of one value a learner's function returned: plain data, or :class:`Opaque`.

    - a real, dense ``torch.Tensor`` (with ``allow_parameter``, an ``nn.Parameter`` too) becomes a detached CPU copy
      with the same shape and dtype (a sparse tensor is :class:`Opaque`);
    - ``float``, ``int``, ``bool``, ``str`` and ``None`` stay as they are (exact types only: a ``float`` subclass
      is :class:`Opaque`);
    - a :class:`Raised` record stays;
    - anything else (tensor subclasses, lists, dicts, arbitrary objects) becomes ``Opaque(type name)``.

    ``call`` functions build their records from it and never keep a reference to the learner's objects.
    """
    t = type(x)
    if t is torch.Tensor or (allow_parameter and t is torch.nn.Parameter):
        y = torch.Tensor.detach(x)
        if y.layout != torch.strided:  # sparse or other layouts: not the dense result a check asks for
            return Opaque(f"Tensor with layout {y.layout}")
        return y.to("cpu").clone()
    if t in (float, int, bool, str) or x is None or t is Raised:
        return x
    return Opaque(t.__name__)


def type_name(x: Any) -> str:
    """The name of ``x``'s type, or of the object a record replaced (:class:`Opaque`)."""
    return x.type_name if type(x) is Opaque else type(x).__name__


def require_inputs(inputs: Mapping[str, Any], spec: Mapping[str, type | tuple[type, ...]]) -> None:
    """``ValueError`` unless every key of ``spec`` is in ``inputs`` with one of the exact types it names."""
    if not isinstance(inputs, Mapping):
        raise ValueError(f"a case must be a dict of inputs, got {type(inputs).__name__}.")
    for key, types in spec.items():
        if key not in inputs:
            raise ValueError(f"the case has no input {key!r} (it needs {', '.join(spec)}).")
        allowed = types if isinstance(types, tuple) else (types,)
        if type(inputs[key]) not in allowed:
            names = " or ".join(t.__name__ for t in allowed)
            raise ValueError(f"input {key!r} must be a {names}, got {type(inputs[key]).__name__}.")


def fresh(inputs: Any) -> Any:
    """A deep copy of ``inputs`` with every tensor cloned, so that code writing into its inputs spoils nothing."""
    if type(inputs) is torch.Tensor:
        return inputs.clone()
    if isinstance(inputs, Mapping):
        return {k: fresh(v) for k, v in inputs.items()}
    if isinstance(inputs, (list, tuple)):
        return type(inputs)(fresh(v) for v in inputs)
    return inputs


@dataclass(frozen=True)
class ExerciseSpec:
    r"""A check written as data and four pure steps (see the module docstring).

    Attributes:
        exercise: the :class:`Exercise` (id, title, points).
        names: the names of the learner's functions, in the order ``call`` takes them (the names the notebook's
            stub cell defines, e.g. ``("g_loss_saturating", "g_loss_non_saturating")``).
        make_cases: ``seed -> list[CaseInput]``; ``None`` gives the notebook's fixed cases.
        call: ``(fns, inputs) -> record``: runs the learner's code, returns plain data.
        reference: ``inputs -> expected record``.
        compare: ``(record, expected) -> str | None``; raises ``NotImplementedError`` for a stub.
        references: the library functions that solve the exercise. The grader sets tripwires on them in the
            learner's kernel: a call from the learner's code of this exercise costs the exercise its points.
        forbidden_modules: modules whose functions the learner's code of this exercise must not call at all
            (every function defined there gets a tripwire), e.g. ``"course_lib.gan.losses"`` for the losses exercise.
        validate: ``inputs -> None``, raising ``ValueError`` on a malformed case (used for instructors' private
            cases).
    """

    exercise: Exercise
    names: tuple[str, ...]
    make_cases: Callable[[int | None], list[CaseInput]]
    call: Callable[[Sequence[Callable[..., Any]], Mapping[str, Any]], Any]
    reference: Callable[[Mapping[str, Any]], Any]
    compare: Callable[[Any, Any], str | None]
    references: tuple[Callable[..., Any], ...] = ()
    forbidden_modules: tuple[str, ...] = ()
    validate: Callable[[Mapping[str, Any]], None] | None = None

    def __post_init__(self) -> None:
        if not self.names or not all(isinstance(n, str) and n.isidentifier() for n in self.names):
            raise ValueError(f"exercise {self.exercise.id}: names must be a non-empty tuple of identifiers.")

    def cases(self, seed: int | None = None) -> list[CaseInput]:
        """The cases for ``seed`` (``None``: the notebook's fixed ones), checked to be non-empty."""
        cases = self.make_cases(seed)
        if not cases:
            raise ValueError(f"exercise {self.exercise.id} has no cases: a check that cannot fail is a defect.")
        return cases

    def check(self, *fns: Callable[..., Any], quiet: bool = False, seed: int | None = None) -> Verdict:
        """Run the check in this process on the learner's functions, print the verdict (unless ``quiet``)."""
        if len(fns) != len(self.names):
            raise TypeError(f"the check of exercise {self.exercise.id} takes {len(self.names)} function(s) "
                            f"({', '.join(self.names)}), got {len(fns)}.")
        return run_check(self.exercise, spec_cases(self, fns, self.cases(seed)), quiet=quiet)


def spec_cases(spec: ExerciseSpec, fns: Sequence[Callable[..., Any]], cases: Sequence[CaseInput]) -> list[Case]:
    """:class:`Case` objects that run ``spec`` on ``fns`` in this process: call, reference, compare."""

    def runner(inputs: Mapping[str, Any]) -> Callable[[], str | None]:
        def run() -> str | None:
            outputs = spec.call(fns, fresh(inputs))
            if type(outputs) is Raised:
                return outputs.problem()
            return spec.compare(outputs, spec.reference(fresh(inputs)))
        return run

    return [Case(c.name, runner(c.inputs), c.hidden, c.weight) for c in cases]
