r"""Chapter 5 exercises: losses, regularizers and stabilization.

Three graded exercises, each a declarative :class:`~course_lib.exercises.core.ExerciseSpec` checked on visible and
hidden cases:

- **5.1** :func:`check_gradient_penalty`: WGAN-GP's penalty
  :math:`\mathbb E[(\lVert\nabla_{\hat x} D(\hat x)\rVert_2 - 1)^2]` at :math:`\hat x = \epsilon x + (1-\epsilon)\tilde
  x`, with :math:`\epsilon` given (one per sample). Compared with a closed form on a linear critic and with
  :func:`course_lib.gan.penalties.gradient_penalty` (run with a ``torch.Generator`` that draws the same
  :math:`\epsilon`) on small MLP and convolutional critics, value and gradient with respect to the critic's parameters.
- **5.2** :func:`check_power_iteration`: the power-iteration estimate of the spectral norm, in the order of Miyato
  et al. (2018), Algorithm 1, and of PyTorch's parametrization; compared with
  :func:`course_lib.gan.spectral.spectral_norm_power_iteration` and, after many rounds, with the exact
  :math:`\sigma_1` of an SVD.
- **5.3** :func:`check_ragan_losses`: the relativistic average GAN losses on logits, values and gradients with
  respect to both batches, compared with :func:`course_lib.gan.losses.d_loss_ragan` and
  :func:`course_lib.gan.losses.g_loss_ragan`.

Every input is built from its own ``torch.Generator``; the critics of 5.1 are built from a *recipe* (a kind and a
seed) on both sides, so nothing depends on the notebook's random state. Messages say what is wrong (shape, dtype, a
non-finite value, a missing gradient, the learner's value and its relative error) without printing the answer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Callable

import torch
from torch import Tensor, nn

from course_lib.exercises.core import CaseInput, Exercise, ExerciseSpec, Raised, Verdict, capture, compare_tensors
from course_lib.exercises.core import gen as _gen, plain, randint as _randint, scalar_problem, sub_seed as _sub_seed
from course_lib.exercises.core import require_inputs as _require
from course_lib.gan.losses import d_loss_ragan as _ref_d_ragan
from course_lib.gan.losses import g_loss_ragan as _ref_g_ragan
from course_lib.gan.penalties import gradient_penalty as _ref_gradient_penalty
from course_lib.gan.spectral import spectral_norm_exact as _ref_sigma_exact
from course_lib.gan.spectral import spectral_norm_power_iteration as _ref_power_iteration

__all__ = [
    "EXERCISES",
    "SPECS",
    "check_gradient_penalty",
    "check_power_iteration",
    "check_ragan_losses",
    "make_critic",
]

EXERCISES: dict[str, Exercise] = {
    "5.1": Exercise("5.1", "The WGAN-GP gradient penalty", points=3, difficulty=2, minutes=20),
    "5.2": Exercise("5.2", "Spectral norm by power iteration", points=3, difficulty=2, minutes=20),
    "5.3": Exercise("5.3", "The relativistic average (RaGAN) losses", points=2, difficulty=1, minutes=15),
}


# ----------------------------------------------------------------------------------------------------------------------
# Helpers
# ----------------------------------------------------------------------------------------------------------------------
def _scalar_problem(got: Any, expected: float, *, what: str, dtype: torch.dtype, rtol: float,
                    atol: float) -> str | None:
    """A one-element real tensor of ``dtype`` close to ``expected``; see
    :func:`~course_lib.exercises.core.scalar_problem`."""
    return scalar_problem(got, expected, what=what, rtol=rtol, atol=atol, dtype=dtype)


def _tols(dtype: torch.dtype) -> tuple[float, float]:
    return (1e-9, 1e-11) if dtype == torch.float64 else (1e-5, 1e-6)


# ----------------------------------------------------------------------------------------------------------------------
# Exercise 5.1: the gradient penalty
# ----------------------------------------------------------------------------------------------------------------------
_CRITICS = ("linear", "mlp", "conv", "mlp_column")


class _Linear(nn.Module):
    """:math:`D(x) = w^\\top x + b` on ``(N, d)``, returning ``(N,)``; its input gradient is :math:`w` everywhere."""

    def __init__(self, w: Tensor, b: float) -> None:
        super().__init__()
        self.w = nn.Parameter(w.clone())
        self.b = nn.Parameter(torch.tensor(b, dtype=w.dtype))

    def forward(self, x: Tensor) -> Tensor:
        return x @ self.w + self.b  # (N, d) @ (d,) -> (N,)


def make_critic(kind: str, seed: int, dim: int, dtype: torch.dtype = torch.float32) -> nn.Module:
    """The critic of a case of exercise 5.1, built from its recipe without touching the global random state.

    ``kind``: ``"linear"`` (``(N, dim) -> (N,)``, the closed-form case), ``"mlp"`` (``dim -> 16 -> 16 -> 1``,
    tanh, output ``(N,)``), ``"mlp_column"`` (the same returning ``(N, 1)``) or ``"conv"`` (images ``(N, 1, dim,
    dim)`` -> ``(N,)``). Softplus/tanh activations keep the second derivatives non-zero, so that a penalty that
    is not differentiable with respect to the parameters is caught.
    """
    if kind not in _CRITICS:
        raise ValueError(f"kind must be one of {_CRITICS}, got {kind!r}.")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        if kind == "linear":
            g = _gen(seed)
            w = torch.randn(dim, generator=g, dtype=torch.float64)
            D: nn.Module = _Linear(w, 0.3)
        elif kind in ("mlp", "mlp_column"):
            layers: list[nn.Module] = [nn.Linear(dim, 16), nn.Tanh(), nn.Linear(16, 16), nn.Softplus(),
                                       nn.Linear(16, 1)]
            if kind == "mlp":
                layers.append(nn.Flatten(0))  # (N, 1) -> (N,)
            D = nn.Sequential(*layers)
        else:
            D = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.Tanh(), nn.Flatten(1), nn.Linear(4 * dim * dim, 1),
                              nn.Flatten(0))
    return D.to(dtype)


def _gp_case(name: str, kind: str, seed: int, n: int, dim: int, dtype: torch.dtype, eps_mode: str,
             hidden: bool) -> CaseInput:
    g = _gen(seed + 1)
    shape = (n, 1, dim, dim) if kind == "conv" else (n, dim)
    real = (torch.randn(shape, generator=g, dtype=torch.float64) + 1.0).to(dtype)
    fake = (0.7 * torch.randn(shape, generator=g, dtype=torch.float64) - 1.0).to(dtype)
    eps_seed = seed + 2
    if eps_mode == "random":  # the numbers course_lib's gradient_penalty draws with this generator
        eps = torch.rand((n,), generator=_gen(eps_seed), dtype=dtype)
    else:
        eps = torch.full((n,), 1.0 if eps_mode == "ones" else 0.0, dtype=dtype)
    return CaseInput(name, {"kind": kind, "seed": seed, "dtype": str(dtype).removeprefix("torch."), "real": real,
                            "fake": fake, "eps": eps, "eps_mode": eps_mode, "eps_seed": eps_seed}, hidden)


def _cases_gradient_penalty(seed: int | None = None) -> list[CaseInput]:
    """The cases of 5.1: a critic recipe, real and fake batches, and the weights :math:`\\epsilon`."""
    plan = [  # name, critic, n, dim, dtype, eps, hidden
        ("a linear critic (closed form)", "linear", 6, 3, torch.float64, "random", False),
        ("a small MLP critic", "mlp", 8, 2, torch.float32, "random", False),
        ("a linear critic in float32", "linear", 5, 4, torch.float32, "random", True),
        ("an MLP critic, float64, gradient with respect to its parameters", "mlp", 7, 3, torch.float64, "random",
         True),
        ("images (N, 1, 5, 5) and a convolutional critic", "conv", 4, 5, torch.float64, "random", True),
        ("eps = 1: the points are the real samples", "mlp", 6, 2, torch.float64, "ones", True),
        ("eps = 0, a critic returning (N, 1)", "mlp_column", 6, 2, torch.float64, "zeros", True),
    ]
    seeds = [51 + 10 * k for k in range(len(plan))] if seed is None else \
        [_randint(_gen(_sub_seed(seed, k)), 1_000, 10**8) for k in range(len(plan))]
    cases = []
    for k, (name, kind, n, dim, dtype, eps_mode, hidden) in enumerate(plan):
        if seed is not None:
            g = _gen(_sub_seed(seed, 100 + k))
            n = _randint(g, 3, 10)
            dim = _randint(g, 2, 5) if kind != "conv" else _randint(g, 3, 6)
            name = name.replace("(N, 1, 5, 5)", f"(N, 1, {dim}, {dim})")
        cases.append(_gp_case(name, kind, seeds[k], n, dim, dtype, eps_mode, hidden))
    return cases


def _gp_setup(inputs: Mapping[str, Any]) -> tuple[nn.Module, torch.dtype]:
    dtype = getattr(torch, inputs["dtype"])
    real = inputs["real"]
    dim = real.shape[-1]
    return make_critic(inputs["kind"], int(inputs["seed"]), dim, dtype), dtype


def _call_gradient_penalty(fns: Sequence[Callable[..., Any]], inputs: Mapping[str, Any]) -> Any:
    (fn,) = fns
    D, _ = _gp_setup(inputs)
    params = list(D.parameters())
    got = capture(fn, D, inputs["real"], inputs["fake"], inputs["eps"])
    if type(got) is Raised:
        return got
    record: dict[str, Any] = {"value": plain(got)}
    if type(got) is torch.Tensor and got.numel() == 1:
        record["requires_grad"] = bool(got.requires_grad)
        if got.requires_grad:
            grads = capture(torch.autograd.grad, got.sum(), params, allow_unused=True)
            record["grads"] = grads if type(grads) is Raised else [None if x is None else plain(x) for x in grads]
    return record


def _reference_gradient_penalty(inputs: Mapping[str, Any]) -> dict[str, Any]:
    D, dtype = _gp_setup(inputs)
    real, fake = inputs["real"], inputs["fake"]
    params = list(D.parameters())
    if inputs["eps_mode"] == "random":
        value = _ref_gradient_penalty(D, real, fake, generator=_gen(int(inputs["eps_seed"])))
    else:  # eps fixed at 0 or 1: the points are the fakes or the reals themselves
        from course_lib.gan.penalties import gradient_norms
        points = real if inputs["eps_mode"] == "ones" else fake
        value = (gradient_norms(D, points) - 1.0).square().mean()
    grads = torch.autograd.grad(value, params, allow_unused=True)  # a last bias does not reach the penalty
    grads = [torch.zeros_like(p) if x is None else x.detach() for p, x in zip(params, grads)]
    out = {"value": float(value.detach()), "grads": grads, "dtype": dtype}
    if inputs["kind"] == "linear":  # closed form: grad D = w everywhere, R = (||w|| - 1)^2
        w = D.w.detach().double()
        out["closed_form"] = float((torch.linalg.vector_norm(w) - 1.0) ** 2)
    return out


def _compare_gradient_penalty(record: Any, expected: Mapping[str, Any]) -> str | None:
    if type(record) is Raised:
        return record.problem()
    dtype = expected["dtype"]
    rtol, atol = _tols(dtype)
    target = expected.get("closed_form", expected["value"])
    problem = _scalar_problem(record["value"], target, what="penalty", dtype=dtype, rtol=rtol, atol=atol)
    if problem is not None:
        return problem
    if not record.get("requires_grad", False):
        return ("the penalty is not differentiable with respect to the critic's parameters (no grad_fn): the input "
                "gradient must be computed with create_graph=True")
    grads = record["grads"]
    if type(grads) is Raised:
        return grads.problem()
    g_rtol, g_atol = (1e-8, 1e-10) if dtype == torch.float64 else (1e-4, 1e-5)
    for i, (got, exp) in enumerate(zip(grads, expected["grads"])):
        if got is None and not bool(exp.any()):
            continue  # a parameter the penalty does not depend on (a last bias): None is right
        if got is None or (not bool(got.any()) and bool(exp.any())):
            return (f"the penalty does not reach the critic's parameter tensor #{i} in autograd's eyes: keep the "
                    "graph of the input gradient (create_graph=True) and do not detach it")
        problem = compare_tensors(got, exp, rtol=g_rtol, atol=g_atol,
                                  what=f"gradient of the penalty with respect to the critic's parameter tensor #{i}")
        if problem is not None:
            return problem
    return None


def _validate_gradient_penalty(inputs: Mapping[str, Any]) -> None:
    _require(inputs, {"kind": str, "seed": int, "dtype": str, "real": torch.Tensor, "fake": torch.Tensor,
                      "eps": torch.Tensor, "eps_mode": str, "eps_seed": int})
    if inputs["kind"] not in _CRITICS or inputs["dtype"] not in ("float32", "float64"):
        raise ValueError(f"kind must be one of {_CRITICS} and dtype float32 or float64.")
    if inputs["eps_mode"] not in ("random", "ones", "zeros"):
        raise ValueError("eps_mode must be 'random', 'ones' or 'zeros'.")
    real, fake, eps = inputs["real"], inputs["fake"], inputs["eps"]
    if real.shape != fake.shape or eps.shape != (real.shape[0],) or real.shape[0] < 1:
        raise ValueError("real and fake must share a shape (N, ...) and eps must have shape (N,).")


def check_gradient_penalty(fn: Callable[..., Tensor], *, quiet: bool = False) -> Verdict:
    r"""Check a learner's ``gradient_penalty(D, real, fake, eps) -> Tensor[]``, 7 cases (5 hidden).

    Expected: :math:`\operatorname{mean}_i (\lVert \nabla D(\hat x_i) \rVert_2 - 1)^2` with
    :math:`\hat x_i = \epsilon_i x_i + (1 - \epsilon_i) \tilde x_i` (the gradient of a sample flattened over all its
    entries), a 0-d tensor in the inputs' dtype, differentiable with respect to the critic's parameters. Compared with
    the closed form :math:`(\lVert w \rVert - 1)^2` on linear critics and with
    :func:`course_lib.gan.penalties.gradient_penalty` elsewhere (value and parameter gradients).
    """
    return SPECS["5.1"].check(fn, quiet=quiet)


# ----------------------------------------------------------------------------------------------------------------------
# Exercise 5.2: power iteration
# ----------------------------------------------------------------------------------------------------------------------
def _cases_power_iteration(seed: int | None = None) -> list[CaseInput]:
    """The cases of 5.2: a weight ``W``, a start vector ``u``, a number of rounds, and what is compared."""
    plan = [  # name, shape, n_iters, dtype, compare ("estimate": with the library; "exact": with the SVD), hidden
        ("one round on a 5 x 3 matrix", (5, 3), 1, torch.float64, "estimate", False),
        ("200 rounds converge to the top singular value", (6, 4), 200, torch.float64, "exact", False),
        ("a wide 3 x 7 matrix, 3 rounds, float32", (3, 7), 3, torch.float32, "estimate", True),
        ("gradient of sigma with respect to W", (4, 4), 2, torch.float64, "gradient", True),
        ("a conv kernel (4, 2, 3, 3) as a (4, 18) matrix", (4, 2, 3, 3), 2, torch.float64, "estimate", True),
        ("four rounds on a square 5 x 5 matrix", (5, 5), 4, torch.float64, "estimate", True),
    ]
    cases = []
    for k, (name, shape, n_iters, dtype, what, hidden) in enumerate(plan):
        g = _gen(520 + k if seed is None else _sub_seed(seed, k))
        if seed is not None and len(shape) == 2:
            shape = (_randint(g, 2, 8), _randint(g, 2, 8))
            if what == "exact":
                shape = (max(shape[0], 3), max(shape[1], 3))
            name = name.split(" on ")[0] if " on " in name else name
        W = torch.randn(shape, generator=g, dtype=torch.float64)
        if what == "exact":  # a clear gap between sigma_1 and sigma_2, so that 200 rounds reach 1e-9
            U, S, Vh = torch.linalg.svd(W, full_matrices=False)
            S = torch.linspace(3.0, 0.5, S.numel(), dtype=torch.float64)
            W = U @ torch.diag(S) @ Vh
        u = torch.randn(shape[0], generator=g, dtype=torch.float64)
        u = u / torch.linalg.vector_norm(u)  # a unit vector, as PyTorch stores it
        cases.append(CaseInput(name, {"W": W.to(dtype), "u": u.to(dtype), "n_iters": n_iters, "compare": what},
                               hidden))
    return cases


def _call_power_iteration(fns: Sequence[Callable[..., Any]], inputs: Mapping[str, Any]) -> Any:
    (fn,) = fns
    W = inputs["W"].clone().requires_grad_(inputs["compare"] == "gradient")
    got = capture(fn, W, inputs["u"], inputs["n_iters"])
    if type(got) is Raised:
        return got
    if type(got) is not tuple or len(got) != 3:
        return {"tuple": False, "type": type(got).__name__,
                "length": len(got) if type(got) in (tuple, list) else -1}
    sigma, u, v = got
    record: dict[str, Any] = {"tuple": True, "sigma": plain(sigma), "u": plain(u), "v": plain(v)}
    if inputs["compare"] == "gradient" and type(sigma) is torch.Tensor:
        record["requires_grad"] = bool(sigma.requires_grad)
        if sigma.requires_grad:
            grads = capture(torch.autograd.grad, sigma.sum(), W, allow_unused=True)
            record["grad"] = grads if type(grads) is Raised else plain(grads[0])
    return record


def miyato_power_iteration(W: Tensor, u: Tensor, n_iters: int) -> tuple[Tensor, Tensor, Tensor]:
    r"""The other accepted order, Miyato et al. (2018), Algorithm 1 (and ``torch.nn.utils.spectral_norm``):
    ``n_iters >= 1`` rounds of :math:`v \leftarrow N(W^\top u)`, :math:`u \leftarrow N(W v)`, then
    :math:`\sigma = u^\top W v` (differentiable in ``W`` only). After ``n`` rounds it returns :math:`(u_n, v_n)`
    where :func:`course_lib.gan.spectral.spectral_norm_power_iteration` returns :math:`(u_n, v_{n+1})`."""
    if n_iters < 1:
        raise ValueError("Algorithm 1 needs at least one round.")
    Wm = W.reshape(W.shape[0], -1)
    with torch.no_grad():
        for _ in range(n_iters):
            v = Wm.detach().mT @ u
            v = v / torch.linalg.vector_norm(v)
            u = Wm.detach() @ v
            u = u / torch.linalg.vector_norm(u)
    return u @ Wm @ v, u, v


def _reference_power_iteration(inputs: Mapping[str, Any]) -> dict[str, Any]:
    """Both accepted orders: PyTorch's parametrization (the statement's) and Miyato et al.'s Algorithm 1."""
    out: dict[str, Any] = {"dtype": inputs["W"].dtype, "compare": inputs["compare"],
                           "exact": float(_ref_sigma_exact(inputs["W"].detach().double())), "orders": []}
    orders = [_ref_power_iteration] + ([miyato_power_iteration] if inputs["n_iters"] >= 1 else [])
    for fn in orders:
        W = inputs["W"].clone().requires_grad_(True)
        sigma, u, v = fn(W, inputs["u"], inputs["n_iters"])
        (grad,) = torch.autograd.grad(sigma, W)
        out["orders"].append({"sigma": float(sigma.detach()), "u": u.detach(), "v": v.detach(), "grad": grad})
    return out


def _compare_power_iteration(record: Any, expected: Mapping[str, Any]) -> str | None:
    if type(record) is Raised:
        return record.problem()
    if not record["tuple"]:
        return f"the function should return a tuple (sigma, u, v), got {record['type']}" + (
            f" of length {record['length']}" if record["length"] >= 0 else "")
    dtype = expected["dtype"]
    rtol, atol = _tols(dtype)
    if expected["compare"] == "exact":
        problem = _scalar_problem(record["sigma"], expected["exact"], what="estimate sigma after many rounds",
                                  dtype=dtype, rtol=1e-8, atol=1e-10)
        if problem is not None:
            return problem + " (the estimate should reach the largest singular value)"
    # either order is right: the record must agree with one of them throughout (its first problem is reported)
    problems = [_order_problem(record, order, expected["compare"], dtype, rtol, atol) for order in expected["orders"]]
    return None if None in problems else problems[0]


def _order_problem(record: Mapping[str, Any], expected: Mapping[str, Any], compare: str, dtype: torch.dtype,
                   rtol: float, atol: float) -> str | None:
    """The record against one order's (sigma, u, v) and, in the gradient case, its gradient."""
    problem = _scalar_problem(record["sigma"], expected["sigma"], what="estimate sigma", dtype=dtype, rtol=rtol,
                              atol=atol)
    if problem is not None:
        return problem
    for key, what in (("u", "left vector u"), ("v", "right vector v")):
        problem = compare_tensors(record[key], expected[key], rtol=rtol * 10, atol=atol * 10, what=what)
        if problem is not None:
            return problem
    if compare == "gradient":
        if not record.get("requires_grad", False):
            return "sigma is not differentiable with respect to W (it has no grad_fn)"
        grad = record["grad"]
        if type(grad) is Raised:
            return grad.problem()
        if grad is None:
            return "sigma does not depend on W in autograd's eyes"
        return compare_tensors(grad, expected["grad"], rtol=1e-8, atol=1e-10,
                               what="gradient of sigma with respect to W (u and v should be constants)")
    return None


def _validate_power_iteration(inputs: Mapping[str, Any]) -> None:
    _require(inputs, {"W": torch.Tensor, "u": torch.Tensor, "n_iters": int, "compare": str})
    if inputs["compare"] not in ("estimate", "exact", "gradient"):
        raise ValueError("compare must be 'estimate', 'exact' or 'gradient'.")
    W, u = inputs["W"], inputs["u"]
    if W.ndim < 2 or u.shape != (W.shape[0],) or not 0 <= inputs["n_iters"] <= 10_000:
        raise ValueError("W must be at least 2-D, u of shape (W.shape[0],), n_iters in [0, 10000].")
    if not abs(float(torch.linalg.vector_norm(u.double())) - 1.0) < 1e-6:
        raise ValueError("u must be a unit vector.")


def check_power_iteration(fn: Callable[..., tuple[Tensor, Tensor, Tensor]], *, quiet: bool = False) -> Verdict:
    r"""Check a learner's ``spectral_norm_power_iteration(W, u, n_iters) -> (sigma, u, v)``, 6 cases (4 hidden).

    Expected (Miyato et al. 2018, Algorithm 1; PyTorch's order): with ``W`` as a matrix ``(out, -1)`` and
    :math:`N(a) = a / \lVert a \rVert`, first :math:`v = N(W^\top u)`; then ``n_iters`` times
    :math:`u \leftarrow N(W v)`, :math:`v \leftarrow N(W^\top u)`; then :math:`\sigma = u^\top W v`, differentiable
    in :math:`W` with :math:`u, v` held constant. Compared with
    :func:`course_lib.gan.spectral.spectral_norm_power_iteration` and, after 200 rounds, with the SVD's
    :math:`\sigma_1`.
    """
    return SPECS["5.2"].check(fn, quiet=quiet)


# ----------------------------------------------------------------------------------------------------------------------
# Exercise 5.3: RaGAN
# ----------------------------------------------------------------------------------------------------------------------
def _cases_ragan(seed: int | None = None) -> list[CaseInput]:
    """The cases of 5.3: real and fake logits."""
    g = _gen(530 if seed is None else _sub_seed(seed, 0))

    def n(default: int) -> int:
        return default if seed is None else _randint(g, 3, 16)

    cases = [
        ("moderate logits, equal batch sizes", 2.0 * torch.randn(n(8), generator=g),
         2.0 * torch.randn(n(8), generator=g) - 1.0, False),
        ("different batch sizes", torch.randn(n(10), generator=g), torch.randn(n(6), generator=g) + 0.5, False),
        ("a confident discriminator (reals near +30, fakes near -30)", 30.0 + torch.randn(n(6), generator=g),
         -30.0 + torch.randn(n(6), generator=g), True),
        ("extreme logits (+-120)", torch.tensor([120.0, -120.0, 100.0, 5.0]), torch.tensor([-120.0, 110.0, 0.0]),
         True),
        ("float64 logits of shape (N, 1)", torch.randn(n(7), 1, generator=g, dtype=torch.float64),
         torch.randn(n(5), 1, generator=g, dtype=torch.float64), True),
        ("all logits equal", torch.full((n(4),), 0.7), torch.full((n(5),), 0.7), True),
    ]
    return [CaseInput(name, {"real": r, "fake": f}, hidden) for name, r, f, hidden in cases]


def _ragan_record(fn: Callable[..., Tensor], first: Tensor, second: Tensor) -> Any:
    a = first.clone().requires_grad_(True)
    b = second.clone().requires_grad_(True)
    got = capture(fn, a, b)
    if type(got) is Raised:
        return got
    record: dict[str, Any] = {"value": plain(got)}
    if type(got) is torch.Tensor and got.numel() == 1 and got.requires_grad:
        grads = capture(torch.autograd.grad, got.sum(), [a, b], allow_unused=True)
        record["grads"] = grads if type(grads) is Raised else [None if x is None else plain(x) for x in grads]
    return record


def _call_ragan(fns: Sequence[Callable[..., Any]], inputs: Mapping[str, Any]) -> dict[str, Any]:
    d_loss, g_loss = fns
    real, fake = inputs["real"], inputs["fake"]
    return {"d": _ragan_record(d_loss, real, fake), "g": _ragan_record(g_loss, fake, real)}


def _reference_ragan(inputs: Mapping[str, Any]) -> dict[str, Any]:
    real, fake = inputs["real"], inputs["fake"]
    out: dict[str, Any] = {"dtype": real.dtype}
    for key, fn, first, second in (("d", _ref_d_ragan, real, fake), ("g", _ref_g_ragan, fake, real)):
        a = first.clone().requires_grad_(True)
        b = second.clone().requires_grad_(True)
        value = fn(a, b)
        grads = torch.autograd.grad(value, [a, b])
        out[key] = {"value": float(value.detach()), "grads": list(grads)}
    return out


def _ragan_problem(record: Any, expected: Mapping[str, Any], dtype: torch.dtype, who: str) -> str | None:
    if type(record) is Raised:
        return record.problem()
    rtol, atol = _tols(dtype)
    problem = _scalar_problem(record["value"], expected["value"], what=f"{who} loss", dtype=dtype, rtol=rtol,
                              atol=atol)
    if problem is not None:
        return problem
    if "grads" not in record:
        return f"the {who} loss is not differentiable with respect to the logits (it has no grad_fn)"
    grads = record["grads"]
    if type(grads) is Raised:
        return grads.problem()
    names = ("its first argument", "its second argument")
    for got, exp, name in zip(grads, expected["grads"], names):
        if got is None:
            return (f"the {who} loss does not depend on {name} in autograd's eyes: both terms of RaGAN depend on both "
                    "batches")
        if not bool(torch.isfinite(got).all()):
            return f"the gradient of the {who} loss with respect to {name} is not finite (NaN or inf)"
        problem = compare_tensors(got, exp, rtol=1e-4 if dtype == torch.float32 else 1e-9,
                                  atol=1e-7 if dtype == torch.float32 else 1e-13,
                                  what=f"gradient of the {who} loss with respect to {name}")
        if problem is not None:
            return problem
    return None


def _compare_ragan(record: Mapping[str, Any], expected: Mapping[str, Any]) -> str | None:
    dtype = expected["dtype"]
    return (_ragan_problem(record["d"], expected["d"], dtype, "discriminator")
            or _ragan_problem(record["g"], expected["g"], dtype, "generator"))


def _validate_ragan(inputs: Mapping[str, Any]) -> None:
    _require(inputs, {"real": torch.Tensor, "fake": torch.Tensor})
    for key in ("real", "fake"):
        x = inputs[key]
        bad_shape = x.ndim not in (1, 2) or (x.ndim == 2 and x.shape[1] != 1)
        if not x.is_floating_point() or bad_shape or x.numel() == 0 or not bool(torch.isfinite(x).all()):
            raise ValueError(f"{key} must be a non-empty finite floating tensor of shape (N,) or (N, 1).")
    if inputs["real"].dtype != inputs["fake"].dtype:
        raise ValueError("real and fake must share a dtype.")


def check_ragan_losses(d_loss: Callable[[Tensor, Tensor], Tensor], g_loss: Callable[[Tensor, Tensor], Tensor], *,
                       quiet: bool = False) -> Verdict:
    r"""Check a learner's ``d_loss_ragan(real_logits, fake_logits)`` and ``g_loss_ragan(fake_logits, real_logits)``,
    6 cases (4 hidden), both losses in every case.

    Expected (Jolicoeur-Martineau 2019), with :math:`\bar\ell` a batch mean:
    :math:`L_D = \operatorname{mean}\,\operatorname{softplus}(-(\ell_r - \bar\ell_f)) +
    \operatorname{mean}\,\operatorname{softplus}(\ell_f - \bar\ell_r)` and :math:`L_G` the same with real and fake
    swapped; 0-d tensors in the logits' dtype, finite for any finite logits, with the right gradients with respect
    to both batches. Compared with :mod:`course_lib.gan.losses`.
    """
    return SPECS["5.3"].check(d_loss, g_loss, quiet=quiet)


# ----------------------------------------------------------------------------------------------------------------------
# The specs
# ----------------------------------------------------------------------------------------------------------------------
SPECS: dict[str, ExerciseSpec] = {
    "5.1": ExerciseSpec(EXERCISES["5.1"], ("gradient_penalty",), _cases_gradient_penalty, _call_gradient_penalty,
                        _reference_gradient_penalty, _compare_gradient_penalty,
                        references=(_ref_gradient_penalty,), forbidden_modules=("course_lib.gan.penalties",),
                        validate=_validate_gradient_penalty, weights={3: 2, 4: 2, 6: 2}, keys=(3, 4, 6)),
    "5.2": ExerciseSpec(EXERCISES["5.2"], ("spectral_norm_power_iteration",), _cases_power_iteration,
                        _call_power_iteration, _reference_power_iteration, _compare_power_iteration,
                        references=(_ref_power_iteration, _ref_sigma_exact),
                        forbidden_modules=("course_lib.gan.spectral",), validate=_validate_power_iteration,
                        weights={3: 2, 4: 2}, keys=(3, 4)),
    "5.3": ExerciseSpec(EXERCISES["5.3"], ("d_loss_ragan", "g_loss_ragan"), _cases_ragan, _call_ragan,
                        _reference_ragan, _compare_ragan, references=(_ref_d_ragan, _ref_g_ragan),
                        forbidden_modules=("course_lib.gan.losses",), validate=_validate_ragan,
                        weights={2: 2, 3: 2}, keys=(2, 3)),
}
