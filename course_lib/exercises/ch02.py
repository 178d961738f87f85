"""Chapter 2 exercises: the original GAN (Goodfellow et al., *Generative Adversarial Nets*, NeurIPS 2014).

Three graded exercises, each checked on visible and hidden cases (see :mod:`course_lib.exercises.core` for the
declarative form of a check, :class:`~course_lib.exercises.core.ExerciseSpec`):

- **2.1** :func:`check_optimal_discriminator`: Proposition 1, :math:`D^*(x) = p_{data}(x) / (p_{data}(x) + p_g(x))`,
  elementwise, with :math:`1/2` outside both supports. Reference: :func:`course_lib.gan.theory.optimal_discriminator`.
- **2.2** :func:`check_generator_losses`: the saturating loss :math:`\\mathbb E \\log(1 - D(G(z)))` and the
  non-saturating loss :math:`-\\mathbb E \\log D(G(z))`, computed from logits without overflow, and their gradients
  with respect to the logits. References: :func:`course_lib.gan.losses.g_loss_saturating` and
  :func:`course_lib.gan.losses.g_loss_non_saturating`.
- **2.3** :func:`check_algorithm1_steps`: one discriminator update and one generator update of Algorithm 1, run on
  tiny float64 models and optimizers built inside the check and compared, parameter by parameter, with
  :func:`course_lib.train.steps.discriminator_step` and :func:`course_lib.train.steps.generator_step`.

Every input is built from its own ``torch.Generator``, so a verdict does not depend on the notebook's random state,
and failure messages say what is wrong (shape, dtype, a non-finite value, which parameter moved) without printing the
expected answer. A notebook's check runs the fixed cases (``make_cases(None)``); the grader draws fresh cases of the
same kinds from its secret seed. The cases of 2.3 are *recipes* (a seed for the models' weights, the optimizer, the
learning rate, the loss, the batch sizes): the learner's side and the reference's side each build their own models
from the recipe.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Callable

import torch
from torch import Tensor, nn

from course_lib.exercises.core import CaseInput, Exercise, ExerciseSpec, Raised, Verdict, capture, compare_tensors
from course_lib.exercises.core import float_atol, plain, scalar_problem
from course_lib.exercises.core import gen as _gen, randint as _randint, sub_seed as _sub_seed, uniform as _uniform
from course_lib.exercises.core import require_inputs as _require, type_name as _type_name
from course_lib.gan.losses import GANLoss, get_gan_loss
from course_lib.gan.losses import g_loss_non_saturating as _ref_g_ns
from course_lib.gan.losses import g_loss_saturating as _ref_g_sat
from course_lib.gan.theory import optimal_discriminator as _ref_optimal_discriminator
from course_lib.train.steps import discriminator_step as _ref_d_step
from course_lib.train.steps import generator_step as _ref_g_step

__all__ = [
    "EXERCISES",
    "SPECS",
    "check_optimal_discriminator",
    "check_generator_losses",
    "check_algorithm1_steps",
]

EXERCISES: dict[str, Exercise] = {
    "2.1": Exercise("2.1", "The optimal discriminator", points=2, difficulty=1, minutes=10),
    "2.2": Exercise("2.2", "Saturating and non-saturating generator losses", points=3, difficulty=2, minutes=20),
    "2.3": Exercise("2.3", "One iteration of Algorithm 1", points=4, difficulty=2, minutes=25),
}


# ----------------------------------------------------------------------------------------------------------------------
# Helpers shared by the checks
# ----------------------------------------------------------------------------------------------------------------------

def _is_tensor(x: Any) -> bool:
    """A real ``torch.Tensor`` (or ``nn.Parameter``), not a subclass that could lie about its values."""
    return type(x) is torch.Tensor or type(x) is nn.Parameter


def _scalar_problem(got: Any, expected: float, *, what: str, rtol: float, atol: float) -> str | None:
    """A number or a one-element tensor close to ``expected`` (:func:`~course_lib.exercises.core.scalar_problem`)."""
    return scalar_problem(got, expected, what=what, rtol=rtol, atol=atol, numbers=True,
                          finite_hint="(avoid forming log(0) from a sigmoid that rounded to 0 or 1)")


# ----------------------------------------------------------------------------------------------------------------------
# Exercise 2.1: the optimal discriminator
# ----------------------------------------------------------------------------------------------------------------------
def _gaussian_pdf(x: Tensor, mean: float, std: float) -> Tensor:
    return torch.exp(-0.5 * ((x - mean) / std) ** 2) / (std * math.sqrt(2.0 * math.pi))


def _cases_optimal_discriminator(seed: int | None = None) -> list[CaseInput]:
    """Every case of exercise 2.1 (p_data, p_g): the notebook's fixed ones (``seed=None``) or fresh ones."""
    cases: list[tuple[str, Tensor, Tensor, bool]] = []
    if seed is None:
        x = torch.linspace(-4.0, 4.0, 81)
        cases.append(("two Gaussians on a grid", _gaussian_pdf(x, 0.0, 1.0), _gaussian_pdf(x, 1.0, 0.5), False))
        p = torch.rand(12, generator=_gen(21))
        cases.append(("equal densities", p, p.clone(), False))
        # Disjoint supports: D* is exactly 1 on the data's support and exactly 0 on the generator's.
        cases.append(("disjoint supports", torch.tensor([0.2, 0.3, 0.5, 0.0, 0.0, 0.0]),
                      torch.tensor([0.0, 0.0, 0.0, 0.1, 0.4, 0.5]), True))
        # Points outside both supports (both densities 0): any D is optimal there; the convention is 1/2.
        cases.append(("outside both supports", torch.tensor([0.0, 0.5, 0.0, 0.5, 0.0]),
                      torch.tensor([0.0, 0.25, 0.5, 0.25, 0.0]), True))
        # Tiny but positive densities: an "eps" added to the denominator would swamp them.
        cases.append(("tiny densities", torch.tensor([1e-30, 3e-25, 2e-20, 5e-12]),
                      torch.tensor([3e-30, 1e-25, 2e-20, 1e-12]), True))
        # float64, 2-D: the result keeps the shape and the dtype.
        g = _gen(22)
        cases.append(("a float64 batch of shape (3, 4)", torch.rand(3, 4, generator=g, dtype=torch.float64),
                      torch.rand(3, 4, generator=g, dtype=torch.float64), True))
        return [CaseInput(name, {"p_data": p, "p_g": q}, hidden) for name, p, q, hidden in cases]

    gs = [_gen(_sub_seed(seed, k)) for k in range(6)]
    g = gs[0]
    x = torch.linspace(-4.0, 4.0, _randint(g, 41, 121))
    cases.append(("two Gaussians on a grid", _gaussian_pdf(x, _uniform(g, -1.0, 1.0), _uniform(g, 0.5, 1.5)),
                  _gaussian_pdf(x, _uniform(g, -1.0, 1.5), _uniform(g, 0.3, 1.0)), False))
    g = gs[1]
    p = torch.rand(_randint(g, 5, 20), generator=g)
    cases.append(("equal densities", p, p.clone(), False))
    g = gs[2]
    n = _randint(g, 5, 12)
    data_side = torch.rand(n, generator=g) < 0.5
    data_side[0], data_side[-1] = True, False                    # both supports non-empty
    values = torch.rand(n, generator=g) + 0.05
    cases.append(("disjoint supports", torch.where(data_side, values, 0.0), torch.where(data_side, 0.0, values), True))
    g = gs[3]
    n = _randint(g, 5, 12)
    outside = torch.rand(n, generator=g) < 0.4
    outside[0] = True                                            # at least one point outside both supports
    p, q = torch.rand(n, generator=g), torch.rand(n, generator=g)
    cases.append(("outside both supports", torch.where(outside, 0.0, p), torch.where(outside, 0.0, q), True))
    g = gs[4]
    n = _randint(g, 3, 8)
    exponents = -(10.0 + 20.0 * torch.rand(2, n, generator=g))   # densities between 1e-30 and 1e-10
    cases.append(("tiny densities", 10.0 ** exponents[0], 10.0 ** exponents[1], True))
    g = gs[5]
    shape = (_randint(g, 2, 4), _randint(g, 2, 5))
    cases.append((f"a float64 batch of shape {shape}", torch.rand(*shape, generator=g, dtype=torch.float64),
                  torch.rand(*shape, generator=g, dtype=torch.float64), True))
    return [CaseInput(name, {"p_data": p, "p_g": q}, hidden) for name, p, q, hidden in cases]


def _call_optimal_discriminator(fns: Sequence[Callable[..., Any]], inputs: Mapping[str, Any]) -> Any:
    (fn,) = fns
    return plain(fn(inputs["p_data"], inputs["p_g"]))


def _reference_optimal_discriminator(inputs: Mapping[str, Any]) -> Tensor:
    return _ref_optimal_discriminator(inputs["p_data"], inputs["p_g"])


def _compare_optimal_discriminator(got: Any, expected: Tensor) -> str | None:
    return compare_tensors(got, expected, rtol=1e-5, atol=1e-7, what="discriminator D*(x)")


def check_optimal_discriminator(fn: Callable[[Tensor, Tensor], Tensor], *, quiet: bool = False) -> Verdict:
    """Check a learner's ``optimal_discriminator(p_data, p_g) -> Tensor`` (Proposition 1), 6 cases (4 hidden).

    Expected: :math:`p_{data} / (p_{data} + p_g)` elementwise, :math:`1/2` where both are 0, the inputs' shape and
    dtype. Compared with :func:`course_lib.gan.theory.optimal_discriminator` (rtol 1e-5, atol 1e-7).
    """
    return SPECS["2.1"].check(fn, quiet=quiet)


# ----------------------------------------------------------------------------------------------------------------------
# Exercise 2.2: the two generator losses
# ----------------------------------------------------------------------------------------------------------------------
def _cases_generator_losses(seed: int | None = None) -> list[CaseInput]:
    """Every case of exercise 2.2 (logits, check the gradient?): the notebook's fixed ones or fresh ones."""
    if seed is None:
        g = _gen(23)
        moderate = 2.0 * torch.randn(16, generator=g)
        cases = [
            ("moderate logits", moderate, False, False),
            ("gradients with respect to the logits", moderate.clone(), True, False),
            # D(G(z)) near 0: the discriminator confidently rejects the fakes (early training).
            ("D(G(z)) near 0 (logits near -20)", -20.0 + 0.5 * torch.randn(8, generator=g), True, True),
            # D(G(z)) near 1: sigmoid(20) rounds to 1.0 in float32, so log(1 - sigmoid) would be log(0).
            ("D(G(z)) near 1 (logits near +20)", 20.0 + 0.5 * torch.randn(8, generator=g), True, True),
            ("extreme logits (+-100, +-150)", torch.tensor([-100.0, 100.0, -150.0, 150.0, 0.0, 3.0]), True, True),
            ("float64 logits of shape (N, 1)", torch.randn(10, 1, generator=g, dtype=torch.float64), True, True),
        ]
    else:
        gs = [_gen(_sub_seed(seed, k)) for k in range(6)]
        big = 100.0 + 100.0 * torch.rand(4, generator=gs[4])
        extreme = torch.cat([big * torch.tensor([-1.0, 1.0, -1.0, 1.0]), 3.0 * torch.randn(2, generator=gs[4])])
        cases = [
            ("moderate logits", 2.0 * torch.randn(_randint(gs[0], 8, 32), generator=gs[0]), False, False),
            ("gradients with respect to the logits", 2.0 * torch.randn(_randint(gs[1], 8, 32), generator=gs[1]),
             True, False),
            ("D(G(z)) near 0 (logits near -20)", -20.0 + 0.5 * torch.randn(_randint(gs[2], 4, 12), generator=gs[2]),
             True, True),
            ("D(G(z)) near 1 (logits near +20)", 20.0 + 0.5 * torch.randn(_randint(gs[3], 4, 12), generator=gs[3]),
             True, True),
            ("extreme logits (|l| between 100 and 200)", extreme[torch.randperm(6, generator=gs[4])], True, True),
            ("float64 logits of shape (N, 1)",
             torch.randn(_randint(gs[5], 5, 15), 1, generator=gs[5], dtype=torch.float64), True, True),
        ]
    return [CaseInput(name, {"logits": logits, "gradient": gradient}, hidden)
            for name, logits, gradient, hidden in cases]


def _loss_record(fn: Callable[[Tensor], Tensor], logits: Tensor, gradient: bool) -> Any:
    """What one learner loss did on ``logits``: its value, whether it has a graph, and its gradient."""
    leaf = logits.clone().requires_grad_(True)
    got = capture(fn, leaf)
    if type(got) is Raised:
        return got
    record: dict[str, Any] = {"value": plain(got, allow_parameter=True)}
    if _is_tensor(got):
        record["requires_grad"] = bool(got.requires_grad)
        if gradient and got.requires_grad:
            grads = capture(torch.autograd.grad, torch.Tensor.sum(got), leaf, allow_unused=True)
            record["grad"] = grads if type(grads) is Raised else plain(grads[0])
    return record


def _call_generator_losses(fns: Sequence[Callable[..., Any]], inputs: Mapping[str, Any]) -> dict[str, Any]:
    saturating, non_saturating = fns
    logits, gradient = inputs["logits"], bool(inputs["gradient"])
    return {"saturating": _loss_record(saturating, logits, gradient),
            "non-saturating": _loss_record(non_saturating, logits, gradient)}


def _reference_generator_losses(inputs: Mapping[str, Any]) -> dict[str, Any]:
    logits = inputs["logits"]
    out: dict[str, Any] = {"dtype": logits.dtype, "gradient": bool(inputs["gradient"]), "n": logits.numel()}
    for label, ref in (("saturating", _ref_g_sat), ("non-saturating", _ref_g_ns)):
        leaf = logits.clone().requires_grad_(True)
        value = ref(leaf)
        (grad,) = torch.autograd.grad(value, leaf)
        out[label] = {"value": float(value.detach()), "grad": grad}
    return out


def _loss_problem(record: Any, expected: Mapping[str, Any], label: str) -> str | None:
    """Compare one learner loss's record with the reference: value, dtype, and (optionally) its gradient."""
    if type(record) is Raised:
        return record.problem()
    dtype, gradient = expected["dtype"], expected["gradient"]
    rtol, atol = (1e-10, 1e-12) if dtype == torch.float64 else (1e-5, 1e-6)
    got = record["value"]
    if type(got) is not torch.Tensor:
        return f"the {label} loss should be a torch.Tensor, got {_type_name(got)}"
    if got.dtype != dtype:
        return f"the {label} loss should have the logits' dtype {dtype}, got {got.dtype}"
    problem = _scalar_problem(got, expected[label]["value"], what=f"{label} loss", rtol=rtol, atol=atol)
    if problem is not None or not gradient:
        return problem
    if not record["requires_grad"]:
        return f"the {label} loss is not differentiable with respect to the logits (it has no grad_fn)"
    grad = record["grad"]
    if type(grad) is Raised:
        return grad.problem()
    if grad is None:
        return f"the {label} loss does not depend on the logits in autograd's eyes"
    if bool(torch.isnan(grad).any()) or bool(torch.isinf(grad).any()):
        return f"the gradient of the {label} loss with respect to the logits is not finite (NaN or inf)"
    # Each entry of the gradient of a mean over M logits is a sigmoid (or 1 - sigmoid) over M, at most 1/M. Near
    # saturation a correct float32 formulation may compute it as sigmoid(l) - 1 and round it to exactly 0 (the
    # backward of F.binary_cross_entropy_with_logits at l = +20 does), against -2.6e-10 from the reference: the
    # absolute floor is a few units of round-off at the scale 1/M, and above it the comparison is relative.
    g_rtol = 1e-9 if dtype == torch.float64 else 1e-4
    g_atol = float_atol(dtype, 1.0 / max(int(expected.get("n", 1)), 1))
    return compare_tensors(grad, expected[label]["grad"], rtol=g_rtol, atol=g_atol,
                           what=f"gradient of the {label} loss with respect to the logits")


def _compare_generator_losses(record: Mapping[str, Any], expected: Mapping[str, Any]) -> str | None:
    # The non-saturating loss is judged only when the saturating one is right, as a learner reads the message.
    problem = _loss_problem(record["saturating"], expected, "saturating")
    if problem is None:
        problem = _loss_problem(record["non-saturating"], expected, "non-saturating")
    return problem


def _validate_generator_losses(inputs: Mapping[str, Any]) -> None:
    _require(inputs, {"logits": torch.Tensor, "gradient": bool})
    logits = inputs["logits"]
    if not logits.is_floating_point() or logits.dim() not in (1, 2) or logits.numel() == 0:
        raise ValueError("logits must be a non-empty floating tensor of shape (M,) or (M, 1).")
    if not bool(torch.isfinite(logits).all()):
        raise ValueError("logits must be finite.")


def check_generator_losses(saturating: Callable[[Tensor], Tensor], non_saturating: Callable[[Tensor], Tensor], *,
                           quiet: bool = False) -> Verdict:
    """Check a learner's two generator losses on logits, 6 cases (4 hidden), both losses in every case.

    Expected: ``saturating(l)`` :math:`= \\operatorname{mean} \\log(1 - \\sigma(l))` and ``non_saturating(l)``
    :math:`= -\\operatorname{mean} \\log \\sigma(l)`, 0-d tensors in the logits' dtype, finite for every finite logit,
    and (in five cases) their autograd gradients with respect to the logits, :math:`-\\sigma(l)/M` and
    :math:`-(1 - \\sigma(l))/M`. Compared with :mod:`course_lib.gan.losses`.
    """
    return SPECS["2.2"].check(saturating, non_saturating, quiet=quiet)


# ----------------------------------------------------------------------------------------------------------------------
# Exercise 2.3: one iteration of Algorithm 1
# ----------------------------------------------------------------------------------------------------------------------
_Z_DIM, _X_DIM = 3, 2


def _tiny_models(seed: int) -> tuple[nn.Module, nn.Module]:
    """A float64 generator ``(N, 3) -> (N, 2)`` and discriminator ``(N, 2) -> (N,)`` logits, seeded weights."""
    with torch.random.fork_rng(devices=[]):  # seeded init without touching the caller's global RNG state
        torch.manual_seed(seed)
        G = nn.Sequential(nn.Linear(_Z_DIM, 8), nn.Tanh(), nn.Linear(8, _X_DIM)).double()
        D = nn.Sequential(nn.Linear(_X_DIM, 8), nn.LeakyReLU(0.2), nn.Linear(8, 1), nn.Flatten(0)).double()
    return G, D


def _hinge_d(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """A loss other than the paper's, to see that a step uses the ``loss`` it is given."""
    return torch.relu(1.0 - real_logits.reshape(-1)).mean() + torch.relu(1.0 + fake_logits.reshape(-1)).mean()


def _hinge_g(fake_logits: Tensor, real_logits: Tensor | None = None) -> Tensor:
    return -fake_logits.reshape(-1).mean()


_HINGE = GANLoss("hinge (check only)", _hinge_d, _hinge_g)
_STEP_LOSSES = ("minimax", "non_saturating", "hinge")


def _step_loss(name: str) -> GANLoss:
    return _HINGE if name == "hinge" else get_gan_loss(name)


def _optimizers(G: nn.Module, D: nn.Module, optimizer: str, lr: float) -> tuple[torch.optim.Optimizer,
                                                                                torch.optim.Optimizer]:
    """(opt_d, opt_g) of the kind the recipe names."""
    if optimizer == "sgd":
        return torch.optim.SGD(D.parameters(), lr=lr), torch.optim.SGD(G.parameters(), lr=lr)
    return (torch.optim.Adam(D.parameters(), lr=lr, betas=(0.5, 0.999)),
            torch.optim.Adam(G.parameters(), lr=lr, betas=(0.5, 0.999)))


def _batches(seed: int, n_real: int, n_fake: int) -> tuple[Tensor, Tensor, Tensor]:
    g = _gen(seed)
    real = 0.5 * torch.randn(n_real, _X_DIM, generator=g, dtype=torch.float64) + 1.0
    z = torch.randn(n_fake, _Z_DIM, generator=g, dtype=torch.float64)
    z2 = torch.randn(n_fake, _Z_DIM, generator=g, dtype=torch.float64)
    return real, z, z2


def _snapshot(module: nn.Module) -> list[Tensor]:
    return [p.detach().clone() for p in module.parameters()]


def _stale_gradients(module: nn.Module, seed: int) -> None:
    """Put leftover gradients on ``module``, as a previous backward pass would have."""
    g = _gen(seed)
    for p in module.parameters():
        p.grad = torch.randn(p.shape, generator=g, dtype=p.dtype)


class _Setup:
    """One side's (G, D, opt_d, opt_g) and batches, built from a step recipe (see :func:`_cases_algorithm1`)."""

    def __init__(self, recipe: Mapping[str, Any]) -> None:
        seed = int(recipe["seed"])
        self.G, self.D = _tiny_models(seed)
        self.opt_d, self.opt_g = _optimizers(self.G, self.D, recipe["optimizer"], float(recipe["lr"]))
        self.loss = _step_loss(recipe["loss"])
        if recipe["step"] == "d":
            self.real, self.z, _ = _batches(seed + 1, int(recipe["n_real"]), int(recipe["n_fake"]))
            if recipe["stale"]:
                _stale_gradients(self.D, seed + 2)
        else:
            _, _, self.z = _batches(seed + 1, 4, int(recipe["n_fake"]))
            if recipe["stale"]:
                _stale_gradients(self.G, seed + 3)


def _mapping_record(result: Any, keys: tuple[str, ...]) -> dict[str, Any]:
    """The returned dict, as plain data: which keys are there and the value of each (tensors, numbers)."""
    if not isinstance(result, Mapping):
        return {"mapping": False, "type": type(result).__name__}
    values = {}
    for key in keys:
        if key in result:
            values[key] = plain(result[key], allow_parameter=True)
    return {"mapping": True, "values": values}


def _grad_record(module: nn.Module) -> list[Any]:
    return [None if p.grad is None else plain(p.grad) for p in module.parameters()]


def _d_record(d_step: Callable[..., Any], recipe: Mapping[str, Any]) -> Any:
    setup = _Setup(recipe)
    result: Any = None
    for _ in range(int(recipe["repeats"])):
        result = capture(d_step, setup.G, setup.D, setup.opt_d, setup.real.clone(), setup.z.clone(), setup.loss)
        if type(result) is Raised:
            return result
    return {"result": capture(_mapping_record, result, ("d_loss", "d_real", "d_fake")),
            "d_params": [plain(torch.Tensor.detach(p)) for p in setup.D.parameters()],
            "g_params": [plain(torch.Tensor.detach(p)) for p in setup.G.parameters()],
            "g_grads": _grad_record(setup.G)}


def _g_record(g_step: Callable[..., Any], recipe: Mapping[str, Any]) -> Any:
    setup = _Setup(recipe)
    result = capture(g_step, setup.G, setup.D, setup.opt_g, setup.z.clone(), setup.loss)
    if type(result) is Raised:
        return result
    return {"result": capture(_mapping_record, result, ("g_loss",)),
            "g_params": [plain(torch.Tensor.detach(p)) for p in setup.G.parameters()],
            "d_params": [plain(torch.Tensor.detach(p)) for p in setup.D.parameters()]}


def _d_reference(recipe: Mapping[str, Any]) -> dict[str, Any]:
    setup = _Setup(recipe)
    g_before = _snapshot(setup.G)
    result: dict[str, float] = {}
    for _ in range(int(recipe["repeats"])):
        result = _ref_d_step(setup.G, setup.D, setup.opt_d, setup.real.clone(), setup.z.clone(), setup.loss)
    return {"step": "d", "result": result, "d_params": _snapshot(setup.D), "g_before": g_before,
            "check_g_grad": bool(recipe["check_g_grad"])}


def _g_reference(recipe: Mapping[str, Any]) -> dict[str, Any]:
    setup = _Setup(recipe)
    d_before = _snapshot(setup.D)
    result = _ref_g_step(setup.G, setup.D, setup.opt_g, setup.z.clone(), setup.loss)
    return {"step": "g", "result": result, "g_params": _snapshot(setup.G), "d_before": d_before}


def _params_problem(params: Sequence[Any], expected: list[Tensor], who: str) -> str | None:
    """Compare a module's recorded parameters, in order, with ``expected`` (a list of tensors)."""
    if len(params) != len(expected):
        return f"the {who} should have {len(expected)} parameter tensors, it has {len(params)}"
    for i, (p, e) in enumerate(zip(params, expected)):
        problem = compare_tensors(p, e, rtol=1e-7, atol=1e-10, what=f"{who}'s parameter tensor #{i} after the step")
        if problem is not None:
            return problem
    return None


def _unchanged_problem(params: Sequence[Any], before: list[Tensor], who: str, step: str) -> str | None:
    for i, (p, b) in enumerate(zip(params, before)):
        if type(p) is not torch.Tensor or p.shape != b.shape or not torch.equal(p, b):
            return f"the {who} changed during the {step} step (parameter tensor #{i}); only the other network may move"
    return None


def _dict_problem(record: Any, expected: Mapping[str, float], keys: tuple[str, ...], step: str) -> str | None:
    """The step's return value: a dict with ``keys``, each a number close to the reference's."""
    if type(record) is Raised:
        return record.problem()
    if not record["mapping"]:
        return f"the {step} step should return a dict with keys {list(keys)}, got {record['type']}"
    for key in keys:
        if key not in record["values"]:
            return f"the dict returned by the {step} step has no key {key!r}"
        problem = _scalar_problem(record["values"][key], float(expected[key]), what=f"returned {key!r}",
                                  rtol=1e-7, atol=1e-10)
        if problem is not None:
            return problem
    return None


def _grads_are_empty(grads: Sequence[Any]) -> bool:
    return all(g is None or (type(g) is torch.Tensor and not bool(g.any())) for g in grads)


def _d_problem(record: Any, expected: Mapping[str, Any]) -> str | None:
    if type(record) is Raised:
        return record.problem()
    problem = _dict_problem(record["result"], expected["result"], ("d_loss", "d_real", "d_fake"), "discriminator")
    problem = problem or _params_problem(record["d_params"], expected["d_params"], "discriminator")
    problem = problem or _unchanged_problem(record["g_params"], expected["g_before"], "generator", "discriminator")
    if problem is None and expected["check_g_grad"] and not _grads_are_empty(record["g_grads"]):
        problem = ("the generator received gradients during the discriminator step: "
                   "G(z) should be cut from the graph (no gradient flows back into G here)")
    return problem


def _g_problem(record: Any, expected: Mapping[str, Any]) -> str | None:
    if type(record) is Raised:
        return record.problem()
    problem = _dict_problem(record["result"], expected["result"], ("g_loss",), "generator")
    problem = problem or _params_problem(record["g_params"], expected["g_params"], "generator")
    return problem or _unchanged_problem(record["d_params"], expected["d_before"], "discriminator", "generator")


def _d_recipe(seed: int, optimizer: str, lr: float, loss: str, n_real: int, n_fake: int, repeats: int = 1,
              stale: bool = False, check_g_grad: bool = False) -> dict[str, Any]:
    return {"step": "d", "seed": seed, "optimizer": optimizer, "lr": lr, "loss": loss, "n_real": n_real,
            "n_fake": n_fake, "repeats": repeats, "stale": stale, "check_g_grad": check_g_grad}


def _g_recipe(seed: int, optimizer: str, lr: float, loss: str, n_fake: int, stale: bool = False) -> dict[str, Any]:
    return {"step": "g", "seed": seed, "optimizer": optimizer, "lr": lr, "loss": loss, "n_fake": n_fake,
            "stale": stale}


def _cases_algorithm1(seed: int | None = None) -> list[CaseInput]:
    """Every case of exercise 2.3: ``{"steps": [recipe, ...]}``, the steps run one after the other.

    A recipe says which step (``"d"`` or ``"g"``), the seed of the models' weights (and of the batches), the
    optimizer (``"sgd"`` or ``"adam"``), its learning rate, the loss (``"minimax"``, ``"non_saturating"``, ``"hinge"``),
    the batch sizes, how many times to repeat a discriminator step, whether to leave stale gradients on the updated
    network first, and whether to require that no gradient reaches G in the discriminator step.
    """
    if seed is None:
        s = {"d1": 100, "g1": 200, "d3": 300, "d4": 400, "g5": 500, "d6": 600, "d7": 700, "g7": 800}
        lrs = {"d1": 0.1, "g1": 0.1, "d3": 0.05, "d4": 0.1, "g5": 0.2, "d6": 0.01, "d7": 0.1, "g7": 0.1}
        n = {"d1": (8, 8), "g1": 8, "d3": (6, 6), "d4": (8, 8), "g5": 8, "d6": (7, 5), "d7": (8, 8), "g7": 8}
    else:
        g = _gen(_sub_seed(seed, 0))
        s = {key: _randint(g, 1_000, 10**9) for key in ("d1", "g1", "d3", "d4", "g5", "d6", "d7", "g7")}
        lrs = {"d1": _uniform(g, 0.02, 0.2), "g1": _uniform(g, 0.02, 0.2), "d3": _uniform(g, 0.02, 0.2),
               "d4": _uniform(g, 0.02, 0.2), "g5": _uniform(g, 0.05, 0.3), "d6": _uniform(g, 0.002, 0.02),
               "d7": _uniform(g, 0.02, 0.2), "g7": _uniform(g, 0.02, 0.2)}
        n = {"d1": (_randint(g, 4, 12), _randint(g, 4, 12)), "g1": _randint(g, 4, 12),
             "d3": (_randint(g, 4, 12), _randint(g, 4, 12)), "d4": (_randint(g, 4, 12), _randint(g, 4, 12)),
             "g5": _randint(g, 4, 12), "d6": (_randint(g, 4, 12), _randint(g, 3, 12)),
             "d7": (_randint(g, 4, 12), _randint(g, 4, 12)), "g7": _randint(g, 4, 12)}
    cases = [
        ("discriminator step (SGD, minimax loss)", [_d_recipe(s["d1"], "sgd", lrs["d1"], "minimax", *n["d1"])], False),
        ("generator step (SGD, non-saturating loss)", [_g_recipe(s["g1"], "sgd", lrs["g1"], "non_saturating",
                                                                 n["g1"])], False),
        ("no gradient reaches G in the discriminator step",
         [_d_recipe(s["d3"], "sgd", lrs["d3"], "minimax", *n["d3"], check_g_grad=True)], True),
        ("discriminator step with gradients left over from a previous backward pass",
         [_d_recipe(s["d4"], "sgd", lrs["d4"], "non_saturating", *n["d4"], stale=True)], True),
        ("generator step with gradients left over, minimax (saturating) loss",
         [_g_recipe(s["g5"], "sgd", lrs["g5"], "minimax", n["g5"], stale=True)], True),
        ("three discriminator steps with Adam, batches of different sizes",
         [_d_recipe(s["d6"], "adam", lrs["d6"], "minimax", *n["d6"], repeats=3)], True),
        ("both steps use the loss object they are given",
         [_d_recipe(s["d7"], "sgd", lrs["d7"], "hinge", *n["d7"]), _g_recipe(s["g7"], "sgd", lrs["g7"], "hinge",
                                                                               n["g7"])], True),
    ]
    return [CaseInput(name, {"steps": steps}, hidden) for name, steps, hidden in cases]


def _call_algorithm1(fns: Sequence[Callable[..., Any]], inputs: Mapping[str, Any]) -> list[Any]:
    d_step, g_step = fns
    records = []
    for recipe in inputs["steps"]:
        record = _d_record(d_step, recipe) if recipe["step"] == "d" else _g_record(g_step, recipe)
        records.append(record)
        if type(record) is Raised:  # a step that raised ends the case, as it would in the learner's loop
            break
    return records


def _reference_algorithm1(inputs: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [_d_reference(r) if r["step"] == "d" else _g_reference(r) for r in inputs["steps"]]


def _compare_algorithm1(records: Sequence[Any], expected: Sequence[Mapping[str, Any]]) -> str | None:
    """The steps in order; the first problem is the case's (a later step is judged only if the earlier ones pass)."""
    if len(records) > len(expected):
        return "the record of this case has more steps than the case"
    for record, exp in zip(records, expected):
        problem = _d_problem(record, exp) if exp["step"] == "d" else _g_problem(record, exp)
        if problem is not None:
            return problem
    if len(records) < len(expected):
        return "the check stopped before every step had run"
    return None


def _validate_algorithm1(inputs: Mapping[str, Any]) -> None:
    _require(inputs, {"steps": (list, tuple)})
    if not inputs["steps"]:
        raise ValueError("a case of exercise 2.3 needs at least one step recipe.")
    for recipe in inputs["steps"]:
        if not isinstance(recipe, Mapping) or recipe.get("step") not in ("d", "g"):
            raise ValueError("each step recipe must be a dict with 'step' set to 'd' or 'g'.")
        common = {"seed": int, "optimizer": str, "lr": (float, int), "loss": str, "n_fake": int, "stale": bool}
        extra = {"n_real": int, "repeats": int, "check_g_grad": bool} if recipe["step"] == "d" else {}
        _require(recipe, {**common, **extra})
        if recipe["optimizer"] not in ("sgd", "adam"):
            raise ValueError(f"optimizer must be 'sgd' or 'adam', got {recipe['optimizer']!r}.")
        if recipe["loss"] not in _STEP_LOSSES:
            raise ValueError(f"loss must be one of {_STEP_LOSSES}, got {recipe['loss']!r}.")
        sizes = [recipe["n_fake"]] + ([recipe["n_real"]] if recipe["step"] == "d" else [])
        if min(sizes) < 1 or max(sizes) > 4096 or not 0 < float(recipe["lr"]) <= 10:
            raise ValueError("batch sizes must be in [1, 4096] and the learning rate in (0, 10].")
        if recipe["step"] == "d" and not 1 <= recipe["repeats"] <= 50:
            raise ValueError("repeats must be in [1, 50].")


def check_algorithm1_steps(discriminator_step: Callable[..., Any], generator_step: Callable[..., Any], *,
                           quiet: bool = False) -> Verdict:
    """Check a learner's two updates of Algorithm 1 against :mod:`course_lib.train.steps`, 7 cases (5 hidden).

    ``discriminator_step(G, D, opt_d, real, z, loss)`` must return a dict with ``d_loss``, ``d_real``, ``d_fake``
    and leave G untouched (no parameter change, no gradient); ``generator_step(G, D, opt_g, z, loss)`` must return a
    dict with ``g_loss`` and leave D's parameters untouched. Every case builds fresh float64 models (a 3 -> 8 -> 2
    generator and a 2 -> 8 -> 1 discriminator) and optimizers from a fixed seed, runs the learner's step on one copy
    and the reference on another, and compares the returned numbers and every parameter (rtol 1e-7).
    """
    return SPECS["2.3"].check(discriminator_step, generator_step, quiet=quiet)


# ----------------------------------------------------------------------------------------------------------------------
# The specs: what the notebook's checks run, and what the grader runs
# ----------------------------------------------------------------------------------------------------------------------
SPECS: dict[str, ExerciseSpec] = {
    "2.1": ExerciseSpec(EXERCISES["2.1"], ("optimal_discriminator",), _cases_optimal_discriminator,
                        _call_optimal_discriminator, _reference_optimal_discriminator, _compare_optimal_discriminator,
                        references=(_ref_optimal_discriminator,), forbidden_modules=("course_lib.gan.theory",),
                        input_types={"p_data": Tensor, "p_g": Tensor}, weights={2: 2, 3: 2, 4: 2}, keys=(2, 3, 4)),
    "2.2": ExerciseSpec(EXERCISES["2.2"], ("g_loss_saturating", "g_loss_non_saturating"), _cases_generator_losses,
                        _call_generator_losses, _reference_generator_losses, _compare_generator_losses,
                        references=(_ref_g_sat, _ref_g_ns), forbidden_modules=("course_lib.gan.losses",),
                        validate=_validate_generator_losses, weights={2: 2, 3: 2, 4: 2}, keys=(2, 3, 4)),
    "2.3": ExerciseSpec(EXERCISES["2.3"], ("discriminator_step", "generator_step"), _cases_algorithm1,
                        _call_algorithm1, _reference_algorithm1, _compare_algorithm1,
                        references=(_ref_d_step, _ref_g_step), validate=_validate_algorithm1,
                        weights={2: 2, 3: 2, 4: 2, 6: 2}, keys=(2, 3, 4, 6)),
}
