"""The one adversarial trainer every chapter reuses (see STYLE.md, "One trainer, pluggable parts").

- :mod:`course_lib.train.steps`: one discriminator and one generator update, Algorithm 1 of Goodfellow et al. (2014);
- :mod:`course_lib.train.trainer`: :class:`TrainerConfig` and :class:`AdversarialTrainer` (the loop, logging,
  samples, the non-finite guard, checkpoints and exact resume);
- :mod:`course_lib.train.objective`: :class:`Objective`, what a step computes when it is more than
  ``loss(D(x), D(G(z)))`` (labels, paired images, several networks); the loop stays the same;
- :mod:`course_lib.train.distributed` and :mod:`course_lib.train.launch`: the same trainer data-parallel on several
  processes (``AdversarialTrainer(..., distributed=ctx)``, ``torchrun -m course_lib.train.launch CONFIG``; Appendix B);
- :mod:`course_lib.train.callbacks`: :class:`Callback`, :class:`PrintEvery`, :class:`LambdaCallback`.
"""

from course_lib.train.callbacks import Callback, LambdaCallback, PrintEvery
from course_lib.train.objective import Objective
from course_lib.train.steps import as_logits, discriminator_step, generator_step, objective_step
from course_lib.train.trainer import (
    HISTORY_KEYS,
    AdversarialTrainer,
    NonFiniteLossError,
    TrainerConfig,
    build_optimizer,
    latest_checkpoint,
)

__all__ = [
    "AdversarialTrainer",
    "TrainerConfig",
    "NonFiniteLossError",
    "HISTORY_KEYS",
    "build_optimizer",
    "latest_checkpoint",
    "discriminator_step",
    "generator_step",
    "objective_step",
    "Objective",
    "as_logits",
    "Callback",
    "PrintEvery",
    "LambdaCallback",
]
