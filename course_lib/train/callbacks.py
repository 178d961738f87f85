"""Callbacks: small objects the trainer calls at fixed points of :meth:`AdversarialTrainer.fit`.

A callback never changes how the networks are updated (that is :mod:`course_lib.train.steps`); it watches, prints,
plots, or asks the trainer to stop by setting ``trainer.stop_training = True``. Non-finite losses need no callback:
the trainer's own guard handles them (``TrainerConfig.nonfinite``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Mapping

if TYPE_CHECKING:  # pragma: no cover - only for type hints
    from course_lib.train.trainer import AdversarialTrainer

__all__ = ["Callback", "PrintEvery", "LambdaCallback"]


class Callback:
    """Base class: override any of the three hooks; the defaults do nothing.

    * ``on_fit_start(trainer)``: once, before the first step of a :meth:`~AdversarialTrainer.fit` call;
    * ``on_step_end(trainer, step, logs)``: after every generator update; ``step`` counts generator updates from 1
      and ``logs`` holds that step's ``d_loss``, ``g_loss``, ``d_real``, ``d_fake`` and ``penalty`` (floats);
    * ``on_fit_end(trainer)``: once, when ``fit`` finishes or is interrupted (not when it raises).
    """

    def on_fit_start(self, trainer: "AdversarialTrainer") -> None:
        """Called once before training starts."""

    def on_step_end(self, trainer: "AdversarialTrainer", step: int, logs: Mapping[str, float]) -> None:
        """Called after each generator update (``step`` = number of generator updates so far)."""

    def on_fit_end(self, trainer: "AdversarialTrainer") -> None:
        """Called once when training stops."""


class PrintEvery(Callback):
    """Print one line of losses every ``n`` generator updates, e.g.
    ``step   200 | d_loss 1.2871 | g_loss 0.8123 | D(x) 0.531 | D(G(z)) 0.447``.

    Args:
        n: the period in generator updates, ``n >= 1``.
        print_fn: where the line goes (``print`` by default; a list's ``append`` collects the lines).
    """

    def __init__(self, n: int, print_fn: Callable[[str], Any] = print) -> None:
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise ValueError(f"n must be a positive int, got {n!r}.")
        if not callable(print_fn):
            raise TypeError(f"print_fn must be callable, got {type(print_fn).__name__}.")
        self.n = n
        self.print_fn = print_fn

    def on_step_end(self, trainer: "AdversarialTrainer", step: int, logs: Mapping[str, float]) -> None:
        if step % self.n == 0:
            line = (
                f"step {step:5d} | d_loss {logs['d_loss']:.4f} | g_loss {logs['g_loss']:.4f} | "
                f"D(x) {logs['d_real']:.3f} | D(G(z)) {logs['d_fake']:.3f}"
            )
            if logs.get("penalty", 0.0):
                line += f" | penalty {logs['penalty']:.4f}"
            self.print_fn(line)


class LambdaCallback(Callback):
    """A callback made of plain functions, for one-off needs in a notebook::

        LambdaCallback(on_step_end=lambda trainer, step, logs: losses.append(logs["g_loss"]))

    Args:
        on_fit_start: optional ``(trainer) -> None``.
        on_step_end: optional ``(trainer, step, logs) -> None``.
        on_fit_end: optional ``(trainer) -> None``.
    """

    def __init__(
        self,
        on_fit_start: Callable[["AdversarialTrainer"], Any] | None = None,
        on_step_end: Callable[["AdversarialTrainer", int, Mapping[str, float]], Any] | None = None,
        on_fit_end: Callable[["AdversarialTrainer"], Any] | None = None,
    ) -> None:
        for name, fn in (("on_fit_start", on_fit_start), ("on_step_end", on_step_end), ("on_fit_end", on_fit_end)):
            if fn is not None and not callable(fn):
                raise TypeError(f"{name} must be callable or None, got {type(fn).__name__}.")
        self._start, self._step, self._end = on_fit_start, on_step_end, on_fit_end

    def on_fit_start(self, trainer: "AdversarialTrainer") -> None:
        if self._start is not None:
            self._start(trainer)

    def on_step_end(self, trainer: "AdversarialTrainer", step: int, logs: Mapping[str, float]) -> None:
        if self._step is not None:
            self._step(trainer, step, logs)

    def on_fit_end(self, trainer: "AdversarialTrainer") -> None:
        if self._end is not None:
            self._end(trainer)
