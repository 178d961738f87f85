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
threshold) carry a larger weight and are marked ``key``: when a key case fails, the points are capped at
:data:`KEY_CAP` (40%) of the maximum, so that an answer that misses the point of the exercise loses most of its
points even where an exercise has two key cases about different things (no weights could make each of two disjoint
cases cost 60%). Each lab states the weights and the key cases in the exercise's statement
(:meth:`ExerciseSpec.weight_summary`). A stub raises ``NotImplementedError``; a check that meets it
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

import dataclasses
import functools
import math
from dataclasses import dataclass, field
from collections.abc import Mapping
from typing import Any, Callable, Sequence

import torch

from course_lib.exercises._random import gen, randint, sub_seed, uniform

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
    "record_call",
    "plain",
    "fresh",
    "spec_cases",
    "type_name",
    "require_inputs",
    "scalar_problem",
    "tolerances",
    "float_atol",
    "case_generators",
    "gen",
    "sub_seed",
    "uniform",
    "randint",
]

STARS = {1: "★☆☆", 2: "★★☆", 3: "★★★"}
KEY_CAP = 0.4  # the largest share of an exercise's points an answer that fails a key case can keep


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
    other cases' weights); a failed ``key`` case caps the points at :data:`KEY_CAP` of the maximum.
    """

    name: str
    run: Callable[[], str | None]
    hidden: bool = False
    weight: float = 1.0
    key: bool = False

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
    passed, earned, messages, key_failed = 0, 0.0, [], False
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
            continue
        key_failed = key_failed or case.key
        if len(messages) < show:
            messages.append(f"{label}: {problem}")
    total_weight = math.fsum(case.weight for case in cases)
    share = earned / total_weight
    if key_failed:
        share = min(share, KEY_CAP)
    points = round(exercise.points * share, 2) if passed < len(cases) else float(exercise.points)
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
    also: torch.Tensor | None = None,
) -> str | None:
    """``None`` if ``got`` is a real tensor equal (within tolerance) to ``expected``, else what is wrong.

    The explanation names the first mismatching index and both values there, the shape or the dtype: enough to
    debug, not the whole answer. ``also`` (same shape as ``expected``) is a second accepted value per entry: where
    two standard conventions differ (at ties), each entry may match either.
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
    if also is not None:
        a = also.detach().to("cpu", torch.float64)
        ok = ok | torch.where(torch.isfinite(a), (g - a).abs() <= atol + rtol * a.abs(), g == a)
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
    weight (its share of the points, relative to the other cases'; key cases weigh more, see the module docstring),
    and whether it is a key case (failing it caps the points at :data:`KEY_CAP`).

    ``inputs`` holds only tensors, numbers, strings, ``None`` and lists/tuples/dicts of them, so that it can be saved
    with ``torch.save`` and loaded with ``torch.load(weights_only=True)``.
    """

    name: str
    inputs: dict[str, Any]
    hidden: bool = False
    weight: float = 1.0
    key: bool = False

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
            cases). Left out, the default checks the types of ``input_types`` and that ``reference`` accepts the
            case (a ``TypeError``/``ValueError`` of the reference becomes the ``ValueError``).
        input_types: the inputs every case must have, with their exact types (see :func:`require_inputs`), used by
            the default ``validate``.
        weights: ``{position: weight}`` of the key cases, by their position in ``make_cases``'s list (the same kinds
            in the same order for every seed); the other cases keep their own weight (1 unless they say otherwise).
        keys: the positions of the key cases: failing one caps the points at :data:`KEY_CAP` of the maximum.
            :meth:`weight_summary` words the weights and the key cases for the exercise's statement.
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
    input_types: Mapping[str, type | tuple[type, ...]] = field(default_factory=dict)
    weights: Mapping[int, float] = field(default_factory=dict)
    keys: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if not self.names or not all(isinstance(n, str) and n.isidentifier() for n in self.names):
            raise ValueError(f"exercise {self.exercise.id}: names must be a non-empty tuple of identifiers.")
        for position, weight in self.weights.items():
            if type(position) is not int or position < 0:
                raise ValueError(f"exercise {self.exercise.id}: weights are keyed by case position, got {position!r}.")
            _check_weight(weight, f"#{position}")
        if any(type(k) is not int or k < 0 for k in self.keys):
            raise ValueError(f"exercise {self.exercise.id}: keys are case positions, got {self.keys!r}.")
        if self.validate is None:
            object.__setattr__(self, "validate", self._default_validate)

    def _default_validate(self, inputs: Mapping[str, Any]) -> None:
        """Types of ``input_types``, then the reference must accept the case."""
        if self.input_types:
            require_inputs(inputs, self.input_types)
        elif not isinstance(inputs, Mapping):
            raise ValueError(f"a case must be a dict of inputs, got {type(inputs).__name__}.")
        try:
            self.reference(inputs)
        except (TypeError, ValueError, KeyError) as err:
            raise ValueError(f"the reference rejects this case: {err}") from err

    def cases(self, seed: int | None = None) -> list[CaseInput]:
        """The cases for ``seed`` (``None``: the notebook's fixed ones), checked to be non-empty, key cases weighted."""
        cases = self.make_cases(seed)
        if not cases:
            raise ValueError(f"exercise {self.exercise.id} has no cases: a check that cannot fail is a defect.")
        marked = set(self.weights) | set(self.keys)
        if marked:
            if max(marked) >= len(cases):
                raise ValueError(f"exercise {self.exercise.id}: a weight or key for case #{max(marked)}, but only "
                                 f"{len(cases)} cases.")
            cases = [dataclasses.replace(c, weight=float(self.weights.get(k, c.weight)), key=c.key or k in self.keys)
                     for k, c in enumerate(cases)]
        return cases

    def weight_summary(self) -> str:
        """The grading of the notebook's cases in words, for the exercise's statement, e.g. ``"7 cases, 1 each except
        the key cases 'zero-density gap' and 'u = 0 and u = 1' (2 each); failing a key case caps the exercise at 40%
        of its points"``."""
        cases = self.cases(None)
        keys = [c for c in cases if c.key]
        heavy = [c for c in cases if c.weight != 1 and not c.key]

        def names(group: list[CaseInput]) -> str:
            quoted = [f"'{c.name}'" for c in group]
            return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]

        def weights(group: list[CaseInput]) -> str:
            ws = {c.weight for c in group}
            return f"{_fmt(ws.pop())} each" if len(ws) == 1 else "; ".join(f"{c.name}: {_fmt(c.weight)}" for c in group)

        parts = []
        if keys:
            parts.append(f"the key case{'s' if len(keys) > 1 else ''} {names(keys)} ({weights(keys)})")
        if heavy:
            parts.append(f"{names(heavy)} ({weights(heavy)})")
        text = f"{len(cases)} cases, 1 each" + (" except " + " and ".join(parts) if parts else "")
        if keys:
            text += f"; failing a key case caps the exercise at {_fmt(100 * KEY_CAP)}% of its points"
        return text

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

    return [Case(c.name, runner(c.inputs), c.hidden, c.weight, c.key) for c in cases]


# ----------------------------------------------------------------------------------------------------------------------
# Helpers the chapters' checks share
# ----------------------------------------------------------------------------------------------------------------------
def case_generators(seed: int | None, n: int, fixed: int) -> list[torch.Generator]:
    """One generator per case kind: seeded ``fixed + k`` for the notebook's cases (``seed=None``), else drawn from
    the grading seed (:func:`sub_seed`), so that the grader's cases are fresh but of the same kinds."""
    return [gen(fixed + k if seed is None else sub_seed(seed, k)) for k in range(n)]


def record_call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call ``fn`` the way a check does: what it raised (a :class:`Raised`), or its result made plain
    (:func:`plain`: tensors to CPU, containers rebuilt) for comparison."""
    out = capture(fn, *args, **kwargs)
    return out if type(out) is Raised else plain(out)


def tolerances(dtype: torch.dtype, *, loose: tuple[float, float] = (1e-5, 1e-6),
               tight: tuple[float, float] = (1e-9, 1e-12), inputs: Mapping[str, Any] | None = None
               ) -> tuple[float, float]:
    """``(rtol, atol)``: ``tight`` for float64, ``loose`` otherwise, unless the case gives ``rtol``/``atol``."""
    rtol, atol = tight if dtype == torch.float64 else loose
    if inputs is not None:
        rtol, atol = inputs.get("rtol", rtol), inputs.get("atol", atol)
    return float(rtol), float(atol)


def float_atol(dtype: torch.dtype, scale: float, ulps: float = 8.0) -> float:
    r"""An absolute tolerance of ``ulps`` units of round-off at magnitude ``scale`` in ``dtype``:
    ``ulps * torch.finfo(dtype).eps * scale``.

    For a result formed as a difference of terms of size ``scale`` (``sigmoid(l) - 1``, ``1 - D``), every correct
    formulation in ``dtype`` may lose the low bits: near saturation one returns exactly 0 where another keeps a
    value of ``1e-10``. Comparing with this absolute floor (and a relative tolerance above it) accepts all of them,
    and still separates results that differ by more than round-off at that scale.
    """
    return float(ulps * torch.finfo(dtype).eps * scale)


def scalar_problem(got: Any, expected: float, *, what: str, rtol: float, atol: float,
                   dtype: torch.dtype | None = None, numbers: bool = False, zero_d: bool = False,
                   nan_hint: str = "", inf_hint: str = "", finite_hint: str = "here") -> str | None:
    """``None`` if ``got`` is a single number close to ``expected``, else what is wrong.

    ``got`` must be a real tensor with one element (``zero_d``: a 0-d one), in ``dtype`` when given; ``numbers``
    accepts a Python ``float``/``int`` too. An infinite ``expected`` must be matched exactly. The message gives the
    learner's value and the relative error, never the expected value; ``nan_hint``/``inf_hint`` are appended to the
    NaN message and to the message for a finite value where the answer is infinite; ``finite_hint`` ends the message
    for an infinite value where the answer is finite.
    """
    if type(got) is Raised:
        return got.problem()
    if type(got) is torch.Tensor or type(got) is torch.nn.Parameter:
        if (got.dim() != 0) if zero_d else (got.numel() != 1):
            return f"the {what} should be a single number (a 0-d tensor), got shape {tuple(got.shape)}"
        if dtype is not None and got.dtype != dtype:
            return f"the {what} should have the inputs' dtype {dtype}, got {got.dtype}"
        if got.is_complex():
            return f"the {what} should be a real number, got dtype {got.dtype}"
        value = float(torch.Tensor.item(torch.Tensor.detach(got)))
    elif numbers and type(got) in (float, int):
        value = float(got)
    else:
        kind = "a number or a 0-d torch.Tensor" if numbers else "a torch.Tensor (0-d)"
        return f"the {what} should be {kind}, got {type_name(got)}"
    if math.isnan(value):
        return f"the {what} is NaN{nan_hint}"
    if math.isinf(expected):
        return None if value == expected else f"the {what} is {value:.6g}{inf_hint}"
    if math.isinf(value):
        return f"the {what} is {value}: it should be finite {finite_hint}"
    if abs(value - expected) > atol + rtol * abs(expected):
        rel = abs(value - expected) / max(abs(expected), 1e-12)
        return f"the {what} is wrong: got {value:.6g}, a relative error of {rel:.2g}"
    return None
