"""Chapter 2 exercises: the original GAN (Goodfellow et al., *Generative Adversarial Nets*, NeurIPS 2014).

Three graded exercises, each checked on visible and hidden cases built here with fixed seeds:

- **2.1** :func:`check_optimal_discriminator`: Proposition 1, :math:`D^*(x) = p_{data}(x) / (p_{data}(x) + p_g(x))`,
  elementwise, with :math:`1/2` outside both supports. Reference: :func:`course_lib.gan.theory.optimal_discriminator`.
- **2.2** :func:`check_generator_losses`: the saturating loss :math:`\\mathbb E \\log(1 - D(G(z)))` and the
  non-saturating loss :math:`-\\mathbb E \\log D(G(z))`, computed from logits without overflow, and their gradients
  with respect to the logits. References: :func:`course_lib.gan.losses.g_loss_saturating` and
  :func:`course_lib.gan.losses.g_loss_non_saturating`.
- **2.3** :func:`check_algorithm1_steps`: one discriminator update and one generator update of Algorithm 1, run on
  tiny float64 models and optimizers built inside the check and compared, parameter by parameter, with
  :func:`course_lib.train.steps.discriminator_step` and :func:`course_lib.train.steps.generator_step`.

Every input is built inside the check from its own ``torch.Generator``, so a verdict does not depend on the
notebook's random state, and failure messages say what is wrong (shape, dtype, a non-finite value, which parameter
moved) without printing the expected answer.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from typing import Any, Callable

import torch
from torch import Tensor, nn

from course_lib.exercises.core import Case, Exercise, Verdict, compare_tensors, run_check
from course_lib.gan.losses import GANLoss, get_gan_loss
from course_lib.gan.losses import g_loss_non_saturating as _ref_g_ns
from course_lib.gan.losses import g_loss_saturating as _ref_g_sat
from course_lib.gan.theory import optimal_discriminator as _ref_optimal_discriminator
from course_lib.train.steps import discriminator_step as _ref_d_step
from course_lib.train.steps import generator_step as _ref_g_step

__all__ = [
    "EXERCISES",
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
def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _is_tensor(x: Any) -> bool:
    """A real ``torch.Tensor`` (or ``nn.Parameter``), not a subclass that could lie about its values."""
    return type(x) is torch.Tensor or type(x) is nn.Parameter


def _scalar_problem(got: Any, expected: float, *, what: str, rtol: float, atol: float) -> str | None:
    """``None`` if ``got`` is a real number or a one-element real tensor close to ``expected``, else what is wrong.

    The message gives the learner's value and the relative error, never the expected value itself.
    """
    if _is_tensor(got):
        if got.numel() != 1:
            return f"the {what} should be a single number (a 0-d tensor), got shape {tuple(got.shape)}"
        value = float(torch.Tensor.item(torch.Tensor.detach(got)))
    elif type(got) in (float, int):
        value = float(got)
    else:
        return f"the {what} should be a number or a 0-d torch.Tensor, got {type(got).__name__}"
    if math.isnan(value):
        return f"the {what} is NaN"
    if math.isinf(value) and not math.isinf(expected):
        return (f"the {what} is {value}: it should be finite "
                "(avoid forming log(0) from a sigmoid that rounded to 0 or 1)")
    if abs(value - expected) > atol + rtol * abs(expected):
        rel = abs(value - expected) / max(abs(expected), 1e-12)
        return f"the {what} is wrong: got {value:.6g}, a relative error of {rel:.2g}"
    return None


# ----------------------------------------------------------------------------------------------------------------------
# Exercise 2.1: the optimal discriminator
# ----------------------------------------------------------------------------------------------------------------------
def _gaussian_pdf(x: Tensor, mean: float, std: float) -> Tensor:
    return torch.exp(-0.5 * ((x - mean) / std) ** 2) / (std * math.sqrt(2.0 * math.pi))


def _cases_optimal_discriminator() -> list[tuple[str, Tensor, Tensor, bool]]:
    """(name, p_data, p_g, hidden) for every case of exercise 2.1."""
    cases = []
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
    return cases


def check_optimal_discriminator(fn: Callable[[Tensor, Tensor], Tensor], *, quiet: bool = False) -> Verdict:
    """Check a learner's ``optimal_discriminator(p_data, p_g) -> Tensor`` (Proposition 1), 6 cases (4 hidden).

    Expected: :math:`p_{data} / (p_{data} + p_g)` elementwise, :math:`1/2` where both are 0, the inputs' shape and
    dtype. Compared with :func:`course_lib.gan.theory.optimal_discriminator` (rtol 1e-5, atol 1e-7).
    """
    cases = []
    for name, p_data, p_g, hidden in _cases_optimal_discriminator():
        expected = _ref_optimal_discriminator(p_data, p_g)

        def run(p_data: Tensor = p_data, p_g: Tensor = p_g, expected: Tensor = expected) -> str | None:
            got = fn(p_data.clone(), p_g.clone())  # clones: a learner writing into its inputs cannot spoil a case
            return compare_tensors(got, expected, rtol=1e-5, atol=1e-7, what="discriminator D*(x)")

        cases.append(Case(name, run, hidden))
    return run_check(EXERCISES["2.1"], cases, quiet=quiet)


# ----------------------------------------------------------------------------------------------------------------------
# Exercise 2.2: the two generator losses
# ----------------------------------------------------------------------------------------------------------------------
def _cases_generator_losses() -> list[tuple[str, Tensor, bool, bool]]:
    """(name, logits, check_gradient, hidden) for every case of exercise 2.2."""
    g = _gen(23)
    moderate = 2.0 * torch.randn(16, generator=g)
    return [
        ("moderate logits", moderate, False, False),
        ("gradients with respect to the logits", moderate.clone(), True, False),
        # D(G(z)) near 0: the discriminator confidently rejects the fakes (early training).
        ("D(G(z)) near 0 (logits near -20)", -20.0 + 0.5 * torch.randn(8, generator=g), True, True),
        # D(G(z)) near 1: sigmoid(20) rounds to 1.0 in float32, so log(1 - sigmoid) would be log(0).
        ("D(G(z)) near 1 (logits near +20)", 20.0 + 0.5 * torch.randn(8, generator=g), True, True),
        ("extreme logits (+-100, +-150)", torch.tensor([-100.0, 100.0, -150.0, 150.0, 0.0, 3.0]), True, True),
        ("float64 logits of shape (N, 1)", torch.randn(10, 1, generator=g, dtype=torch.float64), True, True),
    ]


def _loss_problem(fn: Callable[[Tensor], Tensor], ref: Callable[[Tensor], Tensor], logits: Tensor, gradient: bool,
                  label: str) -> str | None:
    """Compare one learner loss with the reference on ``logits``: value, dtype, and (optionally) its gradient."""
    rtol, atol = (1e-10, 1e-12) if logits.dtype == torch.float64 else (1e-5, 1e-6)
    leaf = logits.clone().requires_grad_(True)
    expected = ref(leaf)
    (expected_grad,) = torch.autograd.grad(expected, leaf)
    mine = logits.clone().requires_grad_(True)
    got = fn(mine)
    if not _is_tensor(got):
        return f"the {label} loss should be a torch.Tensor, got {type(got).__name__}"
    if got.dtype != logits.dtype:
        return f"the {label} loss should have the logits' dtype {logits.dtype}, got {got.dtype}"
    problem = _scalar_problem(got, float(expected.detach()), what=f"{label} loss", rtol=rtol, atol=atol)
    if problem is not None or not gradient:
        return problem
    if not got.requires_grad:
        return f"the {label} loss is not differentiable with respect to the logits (it has no grad_fn)"
    (grad,) = torch.autograd.grad(torch.Tensor.sum(got), mine, allow_unused=True)
    if grad is None:
        return f"the {label} loss does not depend on the logits in autograd's eyes"
    if bool(torch.isnan(grad).any()) or bool(torch.isinf(grad).any()):
        return f"the gradient of the {label} loss with respect to the logits is not finite (NaN or inf)"
    # Gradients near saturation are tiny (about 1e-10 at |logit| = 20), so they are compared relatively: an
    # absolute tolerance like the values' would let a sign error through there.
    g_rtol, g_atol = (1e-9, 1e-15) if logits.dtype == torch.float64 else (1e-4, 1e-12)
    return compare_tensors(grad, expected_grad, rtol=g_rtol, atol=g_atol,
                           what=f"gradient of the {label} loss with respect to the logits")


def check_generator_losses(saturating: Callable[[Tensor], Tensor], non_saturating: Callable[[Tensor], Tensor], *,
                           quiet: bool = False) -> Verdict:
    """Check a learner's two generator losses on logits, 6 cases (4 hidden), both losses in every case.

    Expected: ``saturating(l)`` :math:`= \\operatorname{mean} \\log(1 - \\sigma(l))` and ``non_saturating(l)``
    :math:`= -\\operatorname{mean} \\log \\sigma(l)`, 0-d tensors in the logits' dtype, finite for every finite logit,
    and (in five cases) their autograd gradients with respect to the logits, :math:`-\\sigma(l)/M` and
    :math:`-(1 - \\sigma(l))/M`. Compared with :mod:`course_lib.gan.losses`.
    """
    cases = []
    for name, logits, gradient, hidden in _cases_generator_losses():

        def run(logits: Tensor = logits, gradient: bool = gradient) -> str | None:
            problem = _loss_problem(saturating, _ref_g_sat, logits, gradient, "saturating")
            if problem is None:
                problem = _loss_problem(non_saturating, _ref_g_ns, logits, gradient, "non-saturating")
            return problem

        cases.append(Case(name, run, hidden))
    return run_check(EXERCISES["2.2"], cases, quiet=quiet)


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


class _StepSetup:
    """Two identical copies of (G, D, opt_d, opt_g): one for the learner, one for the reference."""

    def __init__(self, seed: int, optimizer: str, lr: float) -> None:
        G, D = _tiny_models(seed)
        self.models = {"learner": (G, D), "reference": (copy.deepcopy(G), copy.deepcopy(D))}
        self.opts: dict[str, tuple[torch.optim.Optimizer, torch.optim.Optimizer]] = {}
        for who, (g, d) in self.models.items():
            if optimizer == "sgd":
                self.opts[who] = (torch.optim.SGD(d.parameters(), lr=lr), torch.optim.SGD(g.parameters(), lr=lr))
            else:
                self.opts[who] = (torch.optim.Adam(d.parameters(), lr=lr, betas=(0.5, 0.999)),
                                  torch.optim.Adam(g.parameters(), lr=lr, betas=(0.5, 0.999)))


def _batches(seed: int, n_real: int, n_fake: int) -> tuple[Tensor, Tensor, Tensor]:
    g = _gen(seed)
    real = 0.5 * torch.randn(n_real, _X_DIM, generator=g, dtype=torch.float64) + 1.0
    z = torch.randn(n_fake, _Z_DIM, generator=g, dtype=torch.float64)
    z2 = torch.randn(n_fake, _Z_DIM, generator=g, dtype=torch.float64)
    return real, z, z2


def _snapshot(module: nn.Module) -> list[Tensor]:
    return [p.detach().clone() for p in module.parameters()]


def _params_problem(module: nn.Module, expected: list[Tensor], who: str) -> str | None:
    """Compare a module's parameters, in order, with ``expected`` (a list of tensors)."""
    params = list(module.parameters())
    if len(params) != len(expected):
        return f"the {who} should have {len(expected)} parameter tensors, it has {len(params)}"
    for i, (p, e) in enumerate(zip(params, expected)):
        problem = compare_tensors(torch.Tensor.detach(p), e, rtol=1e-7, atol=1e-10,
                                  what=f"{who}'s parameter tensor #{i} after the step")
        if problem is not None:
            return problem
    return None


def _unchanged_problem(module: nn.Module, before: list[Tensor], who: str, step: str) -> str | None:
    for i, (p, b) in enumerate(zip(module.parameters(), before)):
        if not torch.equal(p.detach(), b):
            return f"the {who} changed during the {step} step (parameter tensor #{i}); only the other network may move"
    return None


def _dict_problem(result: Any, expected: Mapping[str, float], keys: tuple[str, ...], step: str) -> str | None:
    """The step's return value: a dict with ``keys``, each a number close to the reference's."""
    if not isinstance(result, Mapping):
        return f"the {step} step should return a dict with keys {list(keys)}, got {type(result).__name__}"
    for key in keys:
        if key not in result:
            return f"the dict returned by the {step} step has no key {key!r}"
        problem = _scalar_problem(result[key], float(expected[key]), what=f"returned {key!r}", rtol=1e-7, atol=1e-10)
        if problem is not None:
            return problem
    return None


def _grads_are_empty(module: nn.Module) -> bool:
    return all(p.grad is None or not bool(p.grad.any()) for p in module.parameters())


def _stale_gradients(module: nn.Module, seed: int) -> None:
    """Put leftover gradients on ``module``, as a previous backward pass would have."""
    g = _gen(seed)
    for p in module.parameters():
        p.grad = torch.randn(p.shape, generator=g, dtype=p.dtype)


def _d_case(d_step: Callable[..., Any], *, seed: int, optimizer: str, lr: float, loss: GANLoss, n_real: int,
            n_fake: int, repeats: int = 1, stale: bool = False, check_g_grad: bool = False) -> Callable[[], str | None]:
    def run() -> str | None:
        setup = _StepSetup(seed, optimizer, lr)
        real, z, _ = _batches(seed + 1, n_real, n_fake)
        (G_l, D_l), (G_r, D_r) = setup.models["learner"], setup.models["reference"]
        if stale:
            _stale_gradients(D_l, seed + 2)
            _stale_gradients(D_r, seed + 2)
        g_before = _snapshot(G_l)
        expected: dict[str, float] = {}
        results: list[Any] = []
        for _ in range(repeats):
            expected = _ref_d_step(G_r, D_r, setup.opts["reference"][0], real.clone(), z.clone(), loss)
            results.append(d_step(G_l, D_l, setup.opts["learner"][0], real.clone(), z.clone(), loss))
        problem = _dict_problem(results[-1], expected, ("d_loss", "d_real", "d_fake"), "discriminator")
        problem = problem or _params_problem(D_l, _snapshot(D_r), "discriminator")
        problem = problem or _unchanged_problem(G_l, g_before, "generator", "discriminator")
        if problem is None and check_g_grad and not _grads_are_empty(G_l):
            problem = ("the generator received gradients during the discriminator step: "
                       "G(z) should be cut from the graph (no gradient flows back into G here)")
        return problem
    return run


def _g_case(g_step: Callable[..., Any], *, seed: int, optimizer: str, lr: float, loss: GANLoss, n_fake: int,
            stale: bool = False) -> Callable[[], str | None]:
    def run() -> str | None:
        setup = _StepSetup(seed, optimizer, lr)
        _, _, z = _batches(seed + 1, 4, n_fake)
        (G_l, D_l), (G_r, D_r) = setup.models["learner"], setup.models["reference"]
        if stale:
            _stale_gradients(G_l, seed + 3)
            _stale_gradients(G_r, seed + 3)
        d_before = _snapshot(D_l)
        expected = _ref_g_step(G_r, D_r, setup.opts["reference"][1], z.clone(), loss)
        result = g_step(G_l, D_l, setup.opts["learner"][1], z.clone(), loss)
        problem = _dict_problem(result, expected, ("g_loss",), "generator")
        problem = problem or _params_problem(G_l, _snapshot(G_r), "generator")
        return problem or _unchanged_problem(D_l, d_before, "discriminator", "generator")
    return run


def check_algorithm1_steps(discriminator_step: Callable[..., Any], generator_step: Callable[..., Any], *,
                           quiet: bool = False) -> Verdict:
    """Check a learner's two updates of Algorithm 1 against :mod:`course_lib.train.steps`, 7 cases (5 hidden).

    ``discriminator_step(G, D, opt_d, real, z, loss)`` must return a dict with ``d_loss``, ``d_real``, ``d_fake``
    and leave G untouched (no parameter change, no gradient); ``generator_step(G, D, opt_g, z, loss)`` must return a
    dict with ``g_loss`` and leave D's parameters untouched. Every case builds fresh float64 models (a 3 -> 8 -> 2
    generator and a 2 -> 8 -> 1 discriminator) and optimizers from a fixed seed, runs the learner's step on one copy
    and the reference on another, and compares the returned numbers and every parameter (rtol 1e-7).
    """
    minimax, non_saturating = get_gan_loss("minimax"), get_gan_loss("non_saturating")
    d, g = discriminator_step, generator_step
    cases = [
        Case("discriminator step (SGD, minimax loss)",
             _d_case(d, seed=100, optimizer="sgd", lr=0.1, loss=minimax, n_real=8, n_fake=8)),
        Case("generator step (SGD, non-saturating loss)",
             _g_case(g, seed=200, optimizer="sgd", lr=0.1, loss=non_saturating, n_fake=8)),
        Case("no gradient reaches G in the discriminator step",
             _d_case(d, seed=300, optimizer="sgd", lr=0.05, loss=minimax, n_real=6, n_fake=6, check_g_grad=True),
             hidden=True),
        Case("discriminator step with gradients left over from a previous backward pass",
             _d_case(d, seed=400, optimizer="sgd", lr=0.1, loss=non_saturating, n_real=8, n_fake=8, stale=True),
             hidden=True),
        Case("generator step with gradients left over, minimax (saturating) loss",
             _g_case(g, seed=500, optimizer="sgd", lr=0.2, loss=minimax, n_fake=8, stale=True), hidden=True),
        Case("three discriminator steps with Adam, batches of different sizes",
             _d_case(d, seed=600, optimizer="adam", lr=0.01, loss=minimax, n_real=7, n_fake=5, repeats=3),
             hidden=True),
        Case("both steps use the loss object they are given",
             lambda: _d_case(d, seed=700, optimizer="sgd", lr=0.1, loss=_HINGE, n_real=8, n_fake=8)()
             or _g_case(g, seed=800, optimizer="sgd", lr=0.1, loss=_HINGE, n_fake=8)(), hidden=True),
    ]
    return run_check(EXERCISES["2.3"], cases, quiet=quiet)
