r"""Chapter 11 exercises: unpaired translation.

Three graded exercises, each a declarative :class:`~course_lib.exercises.core.ExerciseSpec` checked on visible and
hidden cases against :mod:`course_lib.translation`:

- **11.1** :func:`check_pool_query`: CycleGAN's image history buffer with its random draws given
  (``coins``, ``slots``). Both the returned images *and* the buffer afterwards are compared, so returning the stored
  image without putting the new one in its place fails, and so does a full buffer that never swaps. Key case: a full
  buffer with coins on both sides of 1/2.
- **11.2** :func:`check_cycle_identity_loss`: the cycle-consistency and identity terms, with two different
  generators (1x1 colour maps), so feeding a generator the wrong domain gives other numbers. Key case: two
  different generators with the paper's weights.
- **11.3** :func:`check_stargan_losses`: StarGAN's domain-classification terms (the discriminator's on real images
  with their own labels, the generator's on fakes with the target labels) and the reconstruction term. Key case:
  confident logits of size 100 (a cross-entropy through ``log(softmax)`` overflows; ``log_softmax`` does not).

Inputs are plain tensors built from per-case generators; the 1x1 generators of 11.2 are built from weight tensors by
the check, so a case can be saved and re-run by the grader. Messages say what is wrong without printing the answer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from course_lib.exercises._random import randint as _randint
from course_lib.exercises.core import (
    CaseInput,
    Exercise,
    ExerciseSpec,
    Raised,
    Verdict,
    capture,
    case_generators,
    compare_tensors,
    plain,
    scalar_problem,
    tolerances,
    type_name,
)
from course_lib.translation.cyclegan import cycle_identity_loss as _ref_cycle_identity_loss
from course_lib.translation.cyclegan import pool_query as _ref_pool_query
from course_lib.translation.stargan import stargan_classification_losses as _ref_stargan

__all__ = ["EXERCISES", "SPECS", "PixelMap", "check_pool_query", "check_cycle_identity_loss", "check_stargan_losses"]

EXERCISES: dict[str, Exercise] = {
    "11.1": Exercise("11.1", "The image history buffer", points=3, difficulty=2, minutes=20),
    "11.2": Exercise("11.2", "Cycle-consistency and identity losses", points=3, difficulty=2, minutes=15),
    "11.3": Exercise("11.3", "StarGAN's classification and reconstruction losses", points=3, difficulty=2,
                     minutes=15),
}


# ----------------------------------------------------------------------------------------------------------------------
# 11.1 the image pool
# ----------------------------------------------------------------------------------------------------------------------
def _cases_pool(seed: int | None = None) -> list[CaseInput]:
    gs = case_generators(seed, 7, fixed=1101)
    fixed = seed is None
    cases = []

    def imgs(g, n, dtype=torch.float32, shape=(2, 3, 3)):
        return torch.randn(n, *shape, generator=g, dtype=dtype)

    def full_case(g, size, n, dtype=torch.float32):
        pool = list(imgs(g, size, dtype))
        coins = torch.rand(n, generator=g)
        coins[0], coins[1] = 0.9, 0.1  # both sides of 1/2 in every full case
        slots = torch.randint(0, size, (n,), generator=g)
        return pool, imgs(g, n, dtype), size, coins, slots

    g = gs[0]
    size = 6 if fixed else _randint(g, 5, 8)
    n = 4 if fixed else _randint(g, 2, size - 1)
    cases.append(("filling up an empty buffer", [], imgs(g, n), size, torch.rand(n, generator=g),
                  torch.randint(0, size, (n,), generator=g), False))
    g = gs[1]
    pool, x, size, coins, slots = full_case(g, 5 if fixed else _randint(g, 4, 7), 6)
    cases.append(("a full buffer, coins on both sides of 1/2", pool, x, size, coins, slots, False))
    g = gs[2]
    size = 6
    pool = list(imgs(g, 4))
    coins = torch.tensor([0.2, 0.7, 0.8, 0.3, 0.95])  # the first two fill it up; the rest meet a full buffer
    cases.append(("the buffer fills up during the batch", pool, imgs(g, 5), size, coins,
                  torch.randint(0, size, (5,), generator=g), False))
    g = gs[3]
    cases.append(("size 0: no buffer", [], imgs(g, 3), 0, torch.rand(3, generator=g),
                  torch.zeros(3, dtype=torch.int64), False))
    g = gs[4]
    pool, x, size, _, _ = full_case(g, 4, 3)
    k = 2 if fixed else _randint(g, 0, 3)
    cases.append(("the same slot drawn twice", pool, x, size, torch.tensor([0.9, 0.8, 0.7]),
                  torch.tensor([k, k, (k + 1) % 4]), True))
    g = gs[5]
    pool, x, size, _, slots = full_case(g, 3, 3)
    cases.append(("a coin of exactly 1/2 (no swap)", pool, x, size, torch.tensor([0.5, 0.75, 0.5]), slots, True))
    g = gs[6]
    pool, x, size, coins, slots = full_case(g, 4, 5, torch.float64)
    cases.append(("float64 images", pool, x, size, coins, slots, True))
    return [CaseInput(name, {"pool": pool, "images": x, "size": size, "coins": c, "slots": s}, hidden)
            for name, pool, x, size, c, s, hidden in cases]


def _call_pool(fns: Sequence[Callable[..., Any]], inputs: Mapping[str, Any]) -> Any:
    pool = list(inputs["pool"])
    out = capture(fns[0], pool, inputs["images"], inputs["size"], inputs["coins"], inputs["slots"])
    if type(out) is Raised:
        return out
    return plain(out), [plain(p) for p in pool] if type(pool) is list else type_name(pool)


def _reference_pool(inputs: Mapping[str, Any]) -> tuple[Tensor, list[Tensor]]:
    pool = list(inputs["pool"])
    out = _ref_pool_query(pool, inputs["images"], inputs["size"], inputs["coins"], inputs["slots"])
    return out, pool


def _compare_pool(got: Any, expected: tuple[Tensor, list[Tensor]]) -> str | None:
    if type(got) is Raised:
        return got.problem()
    out, pool = got
    problem = compare_tensors(out, expected[0], rtol=0, atol=0, what="returned batch")
    if problem:
        return problem
    if type(pool) is not list:
        return f"the buffer should stay a list, got {pool}"
    if len(pool) != len(expected[1]):
        return f"the buffer should hold {len(expected[1])} images after the call, holds {len(pool)}"
    for k, (p, e) in enumerate(zip(pool, expected[1])):
        problem = compare_tensors(p, e, rtol=0, atol=0, what=f"stored image in slot {k}")
        if problem:
            return problem + " (what is stored after a swap?)"
    return None


def check_pool_query(fn: Callable[..., Tensor], *, quiet: bool = False) -> Verdict:
    r"""Check a learner's ``pool_query(pool, images, size, coins, slots)``: the returned ``(N, ...)`` batch and the
    list ``pool`` afterwards (7 cases, 3 hidden)."""
    return SPECS["11.1"].check(fn, quiet=quiet)


# ----------------------------------------------------------------------------------------------------------------------
# 11.2 cycle + identity
# ----------------------------------------------------------------------------------------------------------------------
class PixelMap(nn.Module):
    r"""A tiny stand-in generator: :math:`G(x) = \tanh(W x + b)` at every pixel (a 1x1 convolution), ``W[C, C]``."""

    def __init__(self, weight: Tensor, bias: Tensor) -> None:
        super().__init__()
        self.weight = nn.Parameter(weight.clone())
        self.bias = nn.Parameter(bias.clone())

    def forward(self, x: Tensor) -> Tensor:
        return torch.tanh(torch.einsum("oc,nchw->nohw", self.weight, x) + self.bias.view(1, -1, 1, 1))


def _cases_cycle(seed: int | None = None) -> list[CaseInput]:
    gs = case_generators(seed, 5, fixed=1121)
    fixed = seed is None
    cases = []

    def maps(g, c, dtype=torch.float32):
        w_ab = torch.eye(c, dtype=dtype) * 0.8 + 0.3 * torch.randn(c, c, generator=g, dtype=dtype)
        w_ba = torch.eye(c, dtype=dtype) * 1.2 - 0.3 * torch.randn(c, c, generator=g, dtype=dtype)
        return w_ab, 0.2 * torch.randn(c, generator=g, dtype=dtype), w_ba, -0.1 + 0.2 * torch.randn(
            c, generator=g, dtype=dtype)

    def images(g, n, c, h, w, dtype=torch.float32, shift=0.0):
        return (torch.rand(n, c, h, w, generator=g, dtype=dtype) * 1.6 - 0.8 + shift).clamp(-1, 1)

    g = gs[0]
    n = 3 if fixed else _randint(g, 2, 4)
    cases.append(("two different generators, lambda = 10, lambda_id = 0.5", *maps(g, 3),
                  images(g, n, 3, 4, 4, shift=0.3), images(g, n, 3, 4, 4, shift=-0.3), 10.0, 0.5, False))
    g = gs[1]
    cases.append(("other weights: lambda = 5, lambda_id = 0.2", *maps(g, 3), images(g, 2, 3, 5, 5),
                  images(g, 2, 3, 5, 5, shift=0.2), 5.0, 0.2, False))
    g = gs[2]
    cases.append(("identity term off (lambda_id = 0)", *maps(g, 3), images(g, 2, 3, 4, 4),
                  images(g, 2, 3, 4, 4), 10.0, 0.0, False))
    g = gs[3]
    w_ab, b_ab, w_ba, b_ba = maps(g, 1)
    cases.append(("one channel, non-square images", w_ab, b_ab, w_ba, b_ba, images(g, 3, 1, 3, 6),
                  images(g, 3, 1, 3, 6, shift=0.4), 10.0, 0.5, True))
    g = gs[4]
    cases.append(("float64", *maps(g, 3, torch.float64), images(g, 2, 3, 4, 4, torch.float64, 0.2),
                  images(g, 2, 3, 4, 4, torch.float64, -0.2), 10.0, 0.5, True))
    return [CaseInput(name, {"w_ab": wa, "b_ab": ba, "w_ba": wb, "b_ba": bb, "real_a": a, "real_b": b,
                             "lambda_cyc": lc, "lambda_id": li}, hidden)
            for name, wa, ba, wb, bb, a, b, lc, li, hidden in cases]


def _generators(inputs: Mapping[str, Any]) -> tuple[PixelMap, PixelMap]:
    return PixelMap(inputs["w_ab"], inputs["b_ab"]), PixelMap(inputs["w_ba"], inputs["b_ba"])


def _call_cycle(fns: Sequence[Callable[..., Any]], inputs: Mapping[str, Any]) -> Any:
    G_ab, G_ba = _generators(inputs)
    out = capture(fns[0], G_ab, G_ba, inputs["real_a"], inputs["real_b"], lambda_cyc=inputs["lambda_cyc"],
                  lambda_id=inputs["lambda_id"])
    if type(out) is Raised:
        return out
    if type(out) is not tuple or len(out) != 2:
        return type_name(out) if type(out) is not tuple else f"a tuple of {len(out)}"
    return plain(out[0]), plain(out[1]), inputs["real_a"].dtype


def _reference_cycle(inputs: Mapping[str, Any]) -> tuple[float, float]:
    G_ab, G_ba = _generators(inputs)
    with torch.no_grad():
        cyc, idt = _ref_cycle_identity_loss(G_ab, G_ba, inputs["real_a"], inputs["real_b"],
                                            lambda_cyc=inputs["lambda_cyc"], lambda_id=inputs["lambda_id"])
    return float(cyc), float(idt)


def _compare_cycle(got: Any, expected: tuple[float, float]) -> str | None:
    if type(got) is Raised:
        return got.problem()
    if type(got) is str:
        return f"return the tuple (loss_cycle, loss_identity), got {got}"
    cyc, idt, dtype = got
    rtol, atol = tolerances(dtype, loose=(2e-5, 1e-6), tight=(1e-9, 1e-12))
    problem = scalar_problem(cyc, expected[0], what="cycle-consistency loss", rtol=rtol, atol=atol, dtype=dtype)
    if problem:
        return problem + " (which generator undoes which?)" if "wrong" in problem else problem
    problem = scalar_problem(idt, expected[1], what="identity loss", rtol=rtol, atol=atol, dtype=dtype)
    if problem:
        return problem + " (which domain should each generator leave unchanged?)" if "wrong" in problem else problem
    return None


def check_cycle_identity_loss(fn: Callable[..., tuple[Tensor, Tensor]], *, quiet: bool = False) -> Verdict:
    r"""Check a learner's ``cycle_identity_loss(G_ab, G_ba, real_a, real_b, lambda_cyc=10.0, lambda_id=0.5)`` ->
    ``(loss_cycle, loss_identity)`` (5 cases, 2 hidden)."""
    return SPECS["11.2"].check(fn, quiet=quiet)


# ----------------------------------------------------------------------------------------------------------------------
# 11.3 StarGAN
# ----------------------------------------------------------------------------------------------------------------------
def _cases_stargan(seed: int | None = None) -> list[CaseInput]:
    gs = case_generators(seed, 5, fixed=1131)
    fixed = seed is None
    cases = []

    def make(g, n, k, scale=2.0, dtype=torch.float32, size=4):
        label_org = torch.randint(0, k, (n,), generator=g)
        label_trg = (label_org + torch.randint(1, k, (n,), generator=g)) % k  # always another domain
        x = torch.rand(n, 3, size, size, generator=g, dtype=dtype) * 2 - 1
        x_rec = (x + 0.3 * torch.randn(n, 3, size, size, generator=g, dtype=dtype)).clamp(-1, 1)
        return (scale * torch.randn(n, k, generator=g, dtype=dtype), scale * torch.randn(n, k, generator=g,
                dtype=dtype), label_org, label_trg, x, x_rec)

    g = gs[0]
    cases.append(("5 domains", *make(g, 6 if fixed else _randint(g, 4, 8), 5), False))
    g = gs[1]
    cases.append(("confident logits of size 100", *make(g, 4, 4, scale=100.0), False))
    g = gs[2]
    cases.append(("2 domains", *make(g, 5, 2), False))
    g = gs[3]
    cases.append(("a batch of one, 3 domains", *make(g, 1, 3), True))
    g = gs[4]
    cases.append(("float64", *make(g, 4, 3 if fixed else _randint(g, 3, 6), dtype=torch.float64), True))
    return [CaseInput(name, {"cls_real": cr, "cls_fake": cf, "label_org": lo, "label_trg": lt, "x_real": x,
                             "x_rec": xr}, hidden) for name, cr, cf, lo, lt, x, xr, hidden in cases]


def _call_stargan(fns: Sequence[Callable[..., Any]], inputs: Mapping[str, Any]) -> Any:
    out = capture(fns[0], inputs["cls_real"], inputs["cls_fake"], inputs["label_org"], inputs["label_trg"],
                  inputs["x_real"], inputs["x_rec"])
    if type(out) is Raised:
        return out
    if type(out) is not tuple or len(out) != 3:
        return type_name(out) if type(out) is not tuple else f"a tuple of {len(out)}"
    return tuple(plain(o) for o in out) + (inputs["x_real"].dtype,)


def _reference_stargan(inputs: Mapping[str, Any]) -> tuple[float, float, float]:
    return tuple(float(t) for t in _ref_stargan(inputs["cls_real"], inputs["cls_fake"], inputs["label_org"],
                                                inputs["label_trg"], inputs["x_real"], inputs["x_rec"]))


_STARGAN_HINTS = (
    ("discriminator's classification loss", " (which images, which labels, train D_cls?)"),
    ("generator's classification loss", " (which label should a translated image be classified as?)"),
    ("reconstruction loss", ""),
)


def _compare_stargan(got: Any, expected: tuple[float, float, float]) -> str | None:
    if type(got) is Raised:
        return got.problem()
    if type(got) is str:
        return f"return the tuple (d_cls, g_cls, g_rec), got {got}"
    *values, dtype = got
    rtol, atol = tolerances(dtype, loose=(2e-5, 2e-6), tight=(1e-9, 1e-12))
    for value, exp, (what, hint) in zip(values, expected, _STARGAN_HINTS):
        problem = scalar_problem(value, exp, what=what, rtol=rtol, atol=atol, dtype=dtype,
                                 nan_hint=": large logits overflow exp(); use log_softmax or F.cross_entropy",
                                 finite_hint="(large logits overflow exp(); use log_softmax or F.cross_entropy)")
        if problem:
            return problem + hint if "wrong" in problem else problem
    return None


def check_stargan_losses(fn: Callable[..., tuple[Tensor, Tensor, Tensor]], *, quiet: bool = False) -> Verdict:
    r"""Check a learner's ``stargan_losses(cls_real, cls_fake, label_org, label_trg, x_real, x_rec)`` ->
    ``(d_cls, g_cls, g_rec)`` (5 cases, 2 hidden)."""
    return SPECS["11.3"].check(fn, quiet=quiet)


# ----------------------------------------------------------------------------------------------------------------------
# The specs
# ----------------------------------------------------------------------------------------------------------------------
SPECS: dict[str, ExerciseSpec] = {
    "11.1": ExerciseSpec(EXERCISES["11.1"], ("pool_query",), _cases_pool, _call_pool, _reference_pool, _compare_pool,
                         references=(_ref_pool_query,), forbidden_modules=("course_lib.translation.cyclegan",),
                         input_types={"pool": list, "images": Tensor, "size": int, "coins": Tensor, "slots": Tensor},
                         weights={1: 3}, keys=(1,)),
    "11.2": ExerciseSpec(EXERCISES["11.2"], ("cycle_identity_loss",), _cases_cycle, _call_cycle, _reference_cycle,
                         _compare_cycle, references=(_ref_cycle_identity_loss,),
                         forbidden_modules=("course_lib.translation.cyclegan",),
                         input_types={"w_ab": Tensor, "b_ab": Tensor, "w_ba": Tensor, "b_ba": Tensor,
                                      "real_a": Tensor, "real_b": Tensor, "lambda_cyc": float, "lambda_id": float},
                         weights={0: 3}, keys=(0,)),
    "11.3": ExerciseSpec(EXERCISES["11.3"], ("stargan_losses",), _cases_stargan, _call_stargan, _reference_stargan,
                         _compare_stargan, references=(_ref_stargan,),
                         forbidden_modules=("course_lib.translation.stargan",),
                         input_types={"cls_real": Tensor, "cls_fake": Tensor, "label_org": Tensor,
                                      "label_trg": Tensor, "x_real": Tensor, "x_rec": Tensor},
                         weights={1: 2}, keys=(1,)),
}
