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

Partial credit is proportional to the cases passed. A stub raises ``NotImplementedError``; a check that meets it
reports "not implemented yet" instead of raising, so an untouched learner notebook runs end to end.

Comparisons refuse look-alikes: a result must be a real ``torch.Tensor`` (not a subclass, not an object whose
``__eq__`` always says yes) or a real ``float``/``int``, and values are compared by this module's own arithmetic.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
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
    A ``hidden`` case is reported by number only.
    """

    name: str
    run: Callable[[], str | None]
    hidden: bool = False


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
    passed, messages = 0, []
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
            problem = f"raised {type(err).__name__}: {_short(str(err))}"
        if problem is None:
            passed += 1
        elif len(messages) < show:
            messages.append(f"{label}: {problem}")
    points = round(exercise.points * passed / len(cases), 2)
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
