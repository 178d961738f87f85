"""Chapter 5's checks: the references pass, stubs say "not implemented yet", plausible wrong answers fail (with
partial credit) without the answer being printed, and look-alike objects are refused."""

from __future__ import annotations

import re

import pytest
import torch
import torch.nn.functional as F

from course_lib.exercises import ch05, not_implemented
from course_lib.exercises.core import STARS
from course_lib.gan import losses, penalties, spectral
from exercise_suite import rescored


def _verdict(check, *fns):
    return check(*fns, quiet=True)


def _numbers(text: str) -> list[str]:
    return re.findall(r"-?\d+\.\d+(?:e[-+]?\d+)?", text)


def test_exercise_table():
    assert sorted(ch05.EXERCISES) == ["5.1", "5.2", "5.3"]
    for key, ex in ch05.EXERCISES.items():
        assert ex.id == key and 10 <= ex.minutes <= 30
        assert ex.badge == f"{ex.points:g} points · difficulty {STARS[ex.difficulty]} · about {ex.minutes} min"
    assert sorted(ch05.SPECS) == ["5.1", "5.2", "5.3"]


# ----------------------------------------------------------------------------------------------------------------------
# 5.1 the gradient penalty
# ----------------------------------------------------------------------------------------------------------------------
def _gp(kind: str = "right"):
    """A from-scratch penalty (``right``) or one of its plausible slips."""

    def gp(D, real, fake, eps):
        e = eps.view(-1, *([1] * (real.ndim - 1)))  # (N, 1, ..., 1)
        if kind == "swapped":
            e = 1 - e
        x = real if kind == "at_reals" else e * real + (1 - e) * fake
        x = x.detach().requires_grad_(True)
        (g,) = torch.autograd.grad(D(x).sum(), x, create_graph=kind != "no_graph")
        if kind == "batch_norm":  # one norm over the whole batch
            return (g.norm() - 1).square()
        if kind == "one_sided":
            return F.relu(g.flatten(1).norm(dim=1) - 1).square().mean()
        if kind == "last_dim":  # per-row norm of an image: forgets to flatten each sample
            return (g.norm(dim=-1) - 1).square().mean()
        return (g.flatten(1).norm(dim=1) - 1).square().mean()

    return gp


def test_gradient_penalty_from_scratch_passes(capsys):
    v = ch05.check_gradient_penalty(_gp())
    assert (v.status, v.passed, v.total, v.points) == ("passed", 7, 7, 3)
    assert capsys.readouterr().out.strip() == "[Exercise 5.1] The WGAN-GP gradient penalty: PASSED 7/7 cases, 3/3 points"


def test_gradient_penalty_library_with_given_eps_passes():
    def lib(D, real, fake, eps):
        return (penalties.gradient_norms(D, penalties.interpolate(real, fake, eps)) - 1).square().mean()

    assert _verdict(ch05.check_gradient_penalty, lib).status == "passed"


def test_gradient_penalty_cases_match_the_library_generator():
    """The visible eps are exactly the numbers course_lib's gradient_penalty draws with the case's generator."""
    for case in ch05.SPECS["5.1"].cases():
        if case.inputs["eps_mode"] == "random":
            g = torch.Generator().manual_seed(case.inputs["eps_seed"])
            eps = torch.rand((case.inputs["real"].shape[0],), generator=g, dtype=case.inputs["real"].dtype)
            assert torch.equal(eps, case.inputs["eps"])


def test_gradient_penalty_linear_closed_form():
    D = ch05.make_critic("linear", 3, 4, torch.float64)
    real, fake = torch.randn(5, 4, dtype=torch.float64), torch.randn(5, 4, dtype=torch.float64)
    value = penalties.gradient_penalty(D, real, fake, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(value, (D.w.detach().norm() - 1) ** 2, rtol=1e-12, atol=0)


def test_gradient_penalty_stub():
    def stub(D, real, fake, eps):
        raise not_implemented("5.1")

    v = _verdict(ch05.check_gradient_penalty, stub)
    assert v.status == "not implemented" and v.points == 0


@pytest.mark.parametrize(
    "kind, passed",
    [
        ("swapped", 2),  # eps and 1 - eps swapped: right only where the gradient is constant (linear critics)
        ("at_reals", 3),  # the gradient at the real points: right on linear critics and at eps = 1
        ("no_graph", 0),  # create_graph=False: not differentiable with respect to the critic
        ("batch_norm", 0),  # one norm over the batch instead of one per sample
        ("one_sided", 2),  # max(0, ||g|| - 1)^2: the two-sided penalty pulls small gradients up too
        ("last_dim", 6),  # images: the norm of each row, not of each sample
    ],
)
def test_gradient_penalty_wrong(kind, passed):
    v = _verdict(ch05.check_gradient_penalty, _gp(kind))
    assert v.status == "failed" and v.passed == passed
    assert v.points == rescored(ch05.SPECS["5.1"], _gp(kind))
    assert len(_numbers("\n".join(v.messages))) <= 2  # the learner's value and an error size, never the answer


def test_gradient_penalty_message_does_not_leak():
    v = _verdict(ch05.check_gradient_penalty, _gp("batch_norm"))
    case = ch05.SPECS["5.1"].cases()[0]
    expected = ch05.SPECS["5.1"].reference(case.inputs)["closed_form"]
    assert f"{expected:.6g}" not in v.messages[0] and f"{expected:.4g}" not in v.messages[0]


def test_gradient_penalty_refuses_look_alikes():
    class Sneaky(torch.Tensor):
        def __eq__(self, other):
            return True

    v = _verdict(ch05.check_gradient_penalty, lambda D, r, f, e: _gp()(D, r, f, e).as_subclass(Sneaky))
    assert v.passed == 0
    v = _verdict(ch05.check_gradient_penalty, lambda D, r, f, e: float(_gp()(D, r, f, e).detach()))
    assert v.passed == 0 and "torch.Tensor" in v.messages[0]


def test_gradient_penalty_survives_anything():
    v = _verdict(ch05.check_gradient_penalty, lambda D, r, f, e: 1 / 0)
    assert v.passed == 0 and "ZeroDivisionError" in v.messages[0]

    def vandal(D, real, fake, eps):  # writes into its inputs and the critic after computing the right answer
        out = _gp()(D, real, fake, eps)
        real.zero_()
        eps.fill_(0.5)
        return out

    assert _verdict(ch05.check_gradient_penalty, vandal).status == "passed"


def test_gradient_penalty_graded_cases_differ_and_pass():
    fixed = ch05.SPECS["5.1"].cases()
    fresh = ch05.SPECS["5.1"].cases(seed=12345)
    assert not torch.equal(fixed[1].inputs["real"], fresh[1].inputs["real"]) or fixed[1].inputs["real"].shape != \
        fresh[1].inputs["real"].shape
    assert ch05.SPECS["5.1"].check(_gp(), quiet=True, seed=12345).status == "passed"
    for case in fresh:
        ch05.SPECS["5.1"].validate(case.inputs)


# ----------------------------------------------------------------------------------------------------------------------
# 5.2 power iteration
# ----------------------------------------------------------------------------------------------------------------------
def _pi(kind: str = "right"):
    def pi(W, u, n_iters):
        Wm = W if kind == "no_flatten" else W.flatten(1)  # (out, -1)
        with torch.enable_grad() if kind == "grad_through_uv" else torch.no_grad():
            v = Wm.mT @ u
            v = v / v.norm()
            for _ in range(n_iters):
                u = Wm @ v
                if kind != "unnormalised_u":
                    u = u / u.norm()
                v = Wm.mT @ u
                v = v / v.norm()
        if kind == "exact":
            return torch.linalg.matrix_norm(Wm, ord=2), u, v
        if kind == "norm_Wv":
            return (Wm @ v).norm(), u, v
        return u @ Wm @ v, u, v

    return pi


def test_power_iteration_from_scratch_passes(capsys):
    v = ch05.check_power_iteration(_pi())
    assert (v.status, v.passed, v.total, v.points) == ("passed", 6, 6, 3)
    assert "PASSED 6/6 cases, 3/3 points" in capsys.readouterr().out


def test_power_iteration_library_passes():
    v = _verdict(ch05.check_power_iteration, lambda W, u, n: spectral.spectral_norm_power_iteration(W, u, n))
    assert v.status == "passed"


def test_power_iteration_converges_to_svd():
    W = torch.randn(6, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    sigma, _, _ = _pi()(W, torch.ones(6, dtype=torch.float64), 500)
    assert abs(float(sigma) - float(torch.linalg.svdvals(W)[0])) < 1e-9


def test_power_iteration_stub():
    def stub(W, u, n_iters):
        raise not_implemented("5.2")

    assert _verdict(ch05.check_power_iteration, stub).status == "not implemented"


@pytest.mark.parametrize(
    "kind, passed",
    [
        ("grad_through_uv", 5),  # u and v depend on W in autograd: the gradient of sigma is not u v^T
        ("unnormalised_u", 0),  # u not normalised: sigma is scaled
        ("exact", 1),  # the SVD's answer, not the estimate after n rounds
        ("norm_Wv", 1),  # ||W v||: another estimate, equal only in the limit
        ("no_flatten", 5),  # a convolution kernel is not reshaped to (out, -1)
    ],
)
def test_power_iteration_wrong(kind, passed):
    v = _verdict(ch05.check_power_iteration, _pi(kind))
    assert v.status == "failed" and v.passed == passed
    assert v.points == rescored(ch05.SPECS["5.2"], _pi(kind))


def test_power_iteration_wrong_return_type():
    v = _verdict(ch05.check_power_iteration, lambda W, u, n: _pi()(W, u, n)[0])
    assert v.passed == 0 and "tuple" in v.messages[0]
    v = _verdict(ch05.check_power_iteration, lambda W, u, n: list(_pi()(W, u, n)))
    assert v.passed == 0 and "tuple" in v.messages[0]


def test_power_iteration_fresh_cases_pass():
    for seed in (1, 2):
        assert ch05.SPECS["5.2"].check(_pi(), quiet=True, seed=seed).status == "passed"
        for case in ch05.SPECS["5.2"].cases(seed):
            ch05.SPECS["5.2"].validate(case.inputs)


# ----------------------------------------------------------------------------------------------------------------------
# 5.3 RaGAN
# ----------------------------------------------------------------------------------------------------------------------
def _d_scratch(real, fake):
    r, f = real.reshape(-1), fake.reshape(-1)
    return -F.logsigmoid(r - f.mean()).mean() - F.logsigmoid(-(f - r.mean())).mean()


def _g_scratch(fake, real):
    return _d_scratch(fake, real)


def test_ragan_from_scratch_passes(capsys):
    v = ch05.check_ragan_losses(_d_scratch, _g_scratch)
    assert (v.status, v.passed, v.total, v.points) == ("passed", 6, 6, 2)
    assert "PASSED 6/6 cases, 2/2 points" in capsys.readouterr().out
    assert _verdict(ch05.check_ragan_losses, losses.d_loss_ragan, losses.g_loss_ragan).status == "passed"


def test_ragan_stub():
    def stub(a, b):
        raise not_implemented("5.3")

    assert _verdict(ch05.check_ragan_losses, stub, _g_scratch).status == "not implemented"
    assert _verdict(ch05.check_ragan_losses, _d_scratch, stub).status == "not implemented"


def _naive_d(r, f):
    r, f = r.reshape(-1), f.reshape(-1)
    return -torch.log(torch.sigmoid(r - f.mean())).mean() - torch.log(1 - torch.sigmoid(f - r.mean())).mean()


@pytest.mark.parametrize(
    "d, g, passed",
    [
        (_naive_d, lambda f, r: _naive_d(f, r), 4),  # log of a rounded sigmoid: inf for confident discriminators
        (_d_scratch, lambda f, r: F.softplus(-(f.reshape(-1) - r.reshape(-1).mean())).mean(), 0),  # one term of L_G
        (lambda r, f: _d_scratch(r, f.detach()), _g_scratch, 0),  # no gradient to the fakes
        (lambda r, f: losses.d_loss_rsgan(r, f) if r.shape == f.shape else _d_scratch(r, f), _g_scratch, 5),  # RSGAN
        (lambda r, f: _d_scratch(r.float(), f.float()), _g_scratch, 5),  # float64 comes back as float32
        (lambda r, f: 8 * _d_scratch(r, f), _g_scratch, 1),  # scaled (a sum instead of a mean)
    ],
)
def test_ragan_wrong(d, g, passed):
    v = _verdict(ch05.check_ragan_losses, d, g)
    assert v.status == "failed" and v.passed == passed
    assert v.points == rescored(ch05.SPECS["5.3"], d, g)


def test_ragan_message_does_not_leak():
    case = ch05.SPECS["5.3"].cases()[0]
    expected = float(losses.g_loss_ragan(case.inputs["fake"], case.inputs["real"]))
    v = _verdict(ch05.check_ragan_losses, _d_scratch, lambda f, r: 2 * _g_scratch(f, r))
    assert "generator loss is wrong" in v.messages[0]
    assert f"{expected:.6g}" not in v.messages[0] and f"{expected:.4g}" not in v.messages[0]


def test_ragan_refuses_look_alikes():
    class Sneaky(torch.Tensor):
        pass

    v = _verdict(ch05.check_ragan_losses, lambda r, f: _d_scratch(r, f).as_subclass(Sneaky), _g_scratch)
    assert v.passed == 0
    v = _verdict(ch05.check_ragan_losses, lambda r, f: _d_scratch(r, f).item(), _g_scratch)
    assert v.passed == 0


def test_ragan_fresh_cases_pass():
    for seed in (3, 4):
        assert ch05.SPECS["5.3"].check(_d_scratch, _g_scratch, quiet=True, seed=seed).status == "passed"
        for case in ch05.SPECS["5.3"].cases(seed):
            ch05.SPECS["5.3"].validate(case.inputs)


# ----------------------------------------------------------------------------------------------------------------------
# Case validation (for instructors' private cases) and the critic recipes
# ----------------------------------------------------------------------------------------------------------------------
def test_make_critic_is_deterministic_and_leaves_the_global_rng_alone():
    state = torch.random.get_rng_state()
    a, b = ch05.make_critic("mlp", 11, 3), ch05.make_critic("mlp", 11, 3)
    assert torch.equal(state, torch.random.get_rng_state())
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    with pytest.raises(ValueError, match="kind"):
        ch05.make_critic("transformer", 0, 3)


def test_validators_reject_malformed_cases():
    good = ch05.SPECS["5.1"].cases()[0].inputs
    with pytest.raises(ValueError):
        ch05.SPECS["5.1"].validate({**good, "eps": good["eps"][:-1]})
    with pytest.raises(ValueError):
        ch05.SPECS["5.1"].validate({k: v for k, v in good.items() if k != "real"})
    good = ch05.SPECS["5.2"].cases()[0].inputs
    with pytest.raises(ValueError):
        ch05.SPECS["5.2"].validate({**good, "u": 2 * good["u"]})  # not a unit vector
    with pytest.raises(ValueError):
        ch05.SPECS["5.2"].validate({**good, "compare": "svd"})
    good = ch05.SPECS["5.3"].cases()[0].inputs
    with pytest.raises(ValueError):
        ch05.SPECS["5.3"].validate({**good, "real": torch.tensor([1.0, float("inf")])})
    with pytest.raises(ValueError):
        ch05.SPECS["5.3"].validate({**good, "fake": torch.zeros(2, 3)})
