"""Chapter 2's checks: the references pass, stubs say "not implemented yet", wrong answers fail without the answer
being printed, and look-alike objects are refused."""

from __future__ import annotations

import io
import re

import pytest
import torch
import torch.nn.functional as F

from course_lib.exercises import ch02, not_implemented
from course_lib.exercises.core import STARS
from course_lib.gan import losses, theory
from course_lib.train import steps


def _verdict(check, *fns):
    return check(*fns, quiet=True)


def _numbers(text: str) -> list[str]:
    return re.findall(r"-?\d+\.\d+(?:e[-+]?\d+)?", text)


# ----------------------------------------------------------------------------------------------------------------------
# The exercise table
# ----------------------------------------------------------------------------------------------------------------------
def test_exercise_table():
    assert sorted(ch02.EXERCISES) == ["2.1", "2.2", "2.3"]
    for key, ex in ch02.EXERCISES.items():
        assert ex.id == key
        assert 10 <= ex.minutes <= 30
        assert ex.badge == f"{ex.points:g} points · difficulty {STARS[ex.difficulty]} · about {ex.minutes} min"


# ----------------------------------------------------------------------------------------------------------------------
# 2.1 the optimal discriminator
# ----------------------------------------------------------------------------------------------------------------------
def test_optimal_discriminator_reference_passes(capsys):
    v = ch02.check_optimal_discriminator(theory.optimal_discriminator)
    assert (v.status, v.passed, v.total, v.points) == ("passed", 6, 6, 2)
    assert capsys.readouterr().out.strip() == "[Exercise 2.1] The optimal discriminator: PASSED 6/6 cases, 2/2 points"


def test_optimal_discriminator_independent_formula_passes():
    """A correct solution written differently (nan_to_num of the plain ratio) gets full points too."""

    def mine(p, q):
        return torch.nan_to_num(p / (p + q), nan=0.5)

    assert _verdict(ch02.check_optimal_discriminator, mine).status == "passed"


def test_optimal_discriminator_stub():
    def stub(p, q):
        raise not_implemented("2.1")

    v = _verdict(ch02.check_optimal_discriminator, stub)
    assert v.status == "not implemented" and v.points == 0
    assert str(v) == "[Exercise 2.1] The optimal discriminator: not implemented yet, 0/2 points"


@pytest.mark.parametrize(
    "wrong, passed, points",
    [
        (lambda p, q: p / (p + q), 5, 0.8),  # NaN outside both supports (a key case: capped at 40%)
        (lambda p, q: p / (p + q + 1e-8), 3, 0.8),  # eps swamps tiny densities, 0 (not 1/2) outside the supports
        (lambda p, q: q / (p + q), 1, 0.22),  # swapped: the probability of "fake"
        (lambda p, q: (p / (p + q)).nan_to_num(0.5).float(), 5, 1.78),  # float64 comes back as float32 (8/9)
    ],
)
def test_optimal_discriminator_wrong(wrong, passed, points):
    v = _verdict(ch02.check_optimal_discriminator, wrong)
    assert v.status == "failed" and v.passed == passed
    assert v.points == points
    message = "\n".join(v.messages)
    assert len(_numbers(message)) <= 2  # one expected value at most, never the whole answer


def test_optimal_discriminator_message_does_not_leak_the_answer():
    v = _verdict(ch02.check_optimal_discriminator, lambda p, q: q / (p + q))
    x = torch.linspace(-4.0, 4.0, 81)
    expected = theory.optimal_discriminator(ch02._gaussian_pdf(x, 0.0, 1.0), ch02._gaussian_pdf(x, 1.0, 0.5))
    message = "\n".join(v.messages)
    assert "case 'two Gaussians on a grid'" in message
    shown = {f"{value:.6g}" for value in expected.tolist()} & set(_numbers(message))
    assert len(shown) <= 1  # the first wrong value at most, not the 81 values of the answer


def test_optimal_discriminator_refuses_look_alikes():
    class Sneaky(torch.Tensor):
        def __eq__(self, other):  # noqa: D105 - an object that claims to equal everything
            return True

    class Yes:
        shape = (81,)

        def __eq__(self, other):
            return True

    v = _verdict(ch02.check_optimal_discriminator,
                 lambda p, q: torch.zeros_like(p).as_subclass(Sneaky))
    assert v.passed == 0 and "torch.Tensor" in v.messages[0]
    assert _verdict(ch02.check_optimal_discriminator, lambda p, q: Yes()).passed == 0
    assert _verdict(ch02.check_optimal_discriminator, lambda p, q: (p / (p + q)).tolist()).passed == 0


def test_optimal_discriminator_learner_cannot_spoil_cases():
    """A function that writes into its inputs (and returns the right thing first) cannot change later cases."""

    def vandal(p, q):
        out = theory.optimal_discriminator(p, q)
        p.zero_()
        q.fill_(7.0)
        return out

    assert _verdict(ch02.check_optimal_discriminator, vandal).status == "passed"


def test_check_survives_anything_the_learner_raises():
    def boom(p, q):
        raise ZeroDivisionError("boom")

    v = _verdict(ch02.check_optimal_discriminator, boom)
    assert v.status == "failed" and v.passed == 0 and "ZeroDivisionError" in v.messages[0]
    v = _verdict(ch02.check_optimal_discriminator, None)  # not even a function
    assert v.status == "failed" and v.passed == 0


# ----------------------------------------------------------------------------------------------------------------------
# 2.2 the generator losses
# ----------------------------------------------------------------------------------------------------------------------
def test_generator_losses_reference_passes(capsys):
    v = ch02.check_generator_losses(losses.g_loss_saturating, losses.g_loss_non_saturating)
    assert (v.status, v.passed, v.total, v.points) == ("passed", 6, 6, 3)
    assert "PASSED 6/6 cases, 3/3 points" in capsys.readouterr().out


def test_generator_losses_logsigmoid_solution_passes():
    v = _verdict(ch02.check_generator_losses, lambda l: F.logsigmoid(-l).mean(), lambda l: -F.logsigmoid(l).mean())
    assert v.status == "passed"


def test_generator_losses_stub():
    def stub(l):
        raise not_implemented("2.2")

    assert _verdict(ch02.check_generator_losses, stub, losses.g_loss_non_saturating).status == "not implemented"
    assert _verdict(ch02.check_generator_losses, losses.g_loss_saturating, stub).status == "not implemented"


@pytest.mark.parametrize(
    "sat, ns, passed",  # each fails a key case (saturation): at most 40% of the points
    [
        # naive: log of a sigmoid that rounds to 0 or 1
        (lambda l: torch.log(1 - torch.sigmoid(l)).mean(), lambda l: -torch.log(torch.sigmoid(l)).mean(), 4),
        # BCE on probabilities: PyTorch clamps its logs at -100, so logits beyond 100 come out wrong (its gradient
        # vanishes where sigmoid rounds to 1, at logit +20, but so does that of F.binary_cross_entropy_with_logits:
        # within float32 round-off of the right one, that case passes)
        (losses.g_loss_saturating, lambda l: F.binary_cross_entropy(torch.sigmoid(l), torch.ones_like(l)), 5),
        # sign slip: the discriminator's fake term -log(1 - D) instead of log(1 - D)
        # (its gradient near logit -20, 1e-10, is within round-off of the right one, so that case passes)
        (lambda l: F.softplus(l).mean(), losses.g_loss_non_saturating, 1),
        # sum instead of mean
        (losses.g_loss_saturating, lambda l: F.softplus(-l).sum(), 1),
        # not differentiable: a Python float goes through .item()
        (lambda l: torch.tensor(losses.g_loss_saturating(l).item()), losses.g_loss_non_saturating, 1),
    ],
)
def test_generator_losses_wrong(sat, ns, passed):
    v = _verdict(ch02.check_generator_losses, sat, ns)
    assert v.status == "failed" and v.passed == passed
    assert v.points <= 0.4 * 3


def test_generator_losses_messages_do_not_leak_the_answer():
    moderate = 2.0 * torch.randn(16, generator=torch.Generator().manual_seed(23))  # the visible case's logits
    expected = float(losses.g_loss_saturating(moderate))
    v = _verdict(ch02.check_generator_losses, lambda l: F.softplus(l).mean(), losses.g_loss_non_saturating)
    message = "\n".join(v.messages)
    assert message.startswith("case 'moderate logits': the saturating loss is wrong")
    assert f"{expected:.6g}" not in message and f"{expected:.4g}" not in message
    assert f"{-expected:.6g}" in message  # what the learner returned is shown


def test_generator_losses_refuse_look_alikes():
    class Sneaky(torch.Tensor):
        pass

    v = _verdict(ch02.check_generator_losses,
                 lambda l: losses.g_loss_saturating(l).as_subclass(Sneaky), losses.g_loss_non_saturating)
    assert v.passed == 0
    v = _verdict(ch02.check_generator_losses, lambda l: losses.g_loss_saturating(l).detach().item(),
                 losses.g_loss_non_saturating)
    assert v.passed == 0


def test_generator_losses_wrong_dtype():
    v = _verdict(ch02.check_generator_losses, lambda l: losses.g_loss_saturating(l).float(),
                 losses.g_loss_non_saturating)
    assert v.passed == 5 and "dtype" in v.messages[0]


# ----------------------------------------------------------------------------------------------------------------------
# 2.3 one iteration of Algorithm 1
# ----------------------------------------------------------------------------------------------------------------------
def _d_step_written_out(G, D, opt_d, real, z, loss):
    """A correct discriminator step written independently of course_lib.train.steps."""
    fake = G(z).detach()
    real_logits, fake_logits = D(real), D(fake)
    d_loss = loss.d_loss(real_logits, fake_logits)
    opt_d.zero_grad()
    d_loss.backward()
    opt_d.step()
    return {"d_loss": d_loss.item(), "d_real": torch.sigmoid(real_logits).mean().item(),
            "d_fake": torch.sigmoid(fake_logits).mean().item()}


def _g_step_written_out(G, D, opt_g, z, loss):
    g_loss = loss.g_loss(D(G(z)), None)
    opt_g.zero_grad()
    g_loss.backward()
    opt_g.step()
    return {"g_loss": g_loss.item()}


def test_algorithm1_reference_passes(capsys):
    v = ch02.check_algorithm1_steps(steps.discriminator_step, steps.generator_step)
    assert (v.status, v.passed, v.total, v.points) == ("passed", 7, 7, 4)
    assert "PASSED 7/7 cases, 4/4 points" in capsys.readouterr().out


def test_algorithm1_independent_solution_passes():
    assert _verdict(ch02.check_algorithm1_steps, _d_step_written_out, _g_step_written_out).status == "passed"


def test_algorithm1_tensor_results_are_accepted():
    def d_step(*args):
        return {k: torch.tensor(v, dtype=torch.float64) for k, v in _d_step_written_out(*args).items()}

    assert _verdict(ch02.check_algorithm1_steps, d_step, _g_step_written_out).status == "passed"


def test_algorithm1_stub():
    def stub(*args):
        raise not_implemented("2.3")

    assert _verdict(ch02.check_algorithm1_steps, stub, _g_step_written_out).status == "not implemented"
    assert _verdict(ch02.check_algorithm1_steps, _d_step_written_out, stub).status == "not implemented"


def _d_no_detach(G, D, opt_d, real, z, loss):
    fake = G(z)  # gradients flow back into G
    real_logits, fake_logits = D(real), D(fake)
    d_loss = loss.d_loss(real_logits, fake_logits)
    opt_d.zero_grad()
    d_loss.backward()
    opt_d.step()
    return {"d_loss": d_loss.item(), "d_real": torch.sigmoid(real_logits).mean().item(),
            "d_fake": torch.sigmoid(fake_logits).mean().item()}


def _d_no_zero_grad(G, D, opt_d, real, z, loss):
    with torch.no_grad():
        fake = G(z)
    real_logits, fake_logits = D(real), D(fake)
    d_loss = loss.d_loss(real_logits, fake_logits)
    d_loss.backward()  # accumulates into whatever .grad held
    opt_d.step()
    return {"d_loss": d_loss.item(), "d_real": torch.sigmoid(real_logits).mean().item(),
            "d_fake": torch.sigmoid(fake_logits).mean().item()}


def _d_swapped(G, D, opt_d, real, z, loss):
    fake = G(z).detach()
    real_logits, fake_logits = D(fake), D(real)  # real and fake mixed up
    d_loss = loss.d_loss(real_logits, fake_logits)
    opt_d.zero_grad()
    d_loss.backward()
    opt_d.step()
    return {"d_loss": d_loss.item(), "d_real": torch.sigmoid(real_logits).mean().item(),
            "d_fake": torch.sigmoid(fake_logits).mean().item()}


def _d_hard_coded_bce(G, D, opt_d, real, z, loss):
    fake = G(z).detach()
    real_logits, fake_logits = D(real), D(fake)
    d_loss = losses.d_loss_minimax(real_logits, fake_logits)  # ignores `loss`
    opt_d.zero_grad()
    d_loss.backward()
    opt_d.step()
    return {"d_loss": d_loss.item(), "d_real": torch.sigmoid(real_logits).mean().item(),
            "d_fake": torch.sigmoid(fake_logits).mean().item()}


def _d_reports_after_update(G, D, opt_d, real, z, loss):
    out = _d_step_written_out(G, D, opt_d, real, z, loss)
    with torch.no_grad():
        out["d_real"] = torch.sigmoid(D(real)).mean().item()  # measured after the update
    return out


def _g_no_zero_grad(G, D, opt_g, z, loss):
    g_loss = loss.g_loss(D(G(z)), None)
    g_loss.backward()
    opt_g.step()
    return {"g_loss": g_loss.item()}


def _g_uses_d_loss(G, D, opt_g, z, loss):
    fake_logits = D(G(z))
    g_loss = -loss.d_loss(fake_logits, fake_logits)  # "maximise D's loss": not the generator's loss
    opt_g.zero_grad()
    g_loss.backward()
    opt_g.step()
    return {"g_loss": g_loss.item()}


def _g_moves_d_too(G, D, opt_g, z, loss):
    out = _g_step_written_out(G, D, opt_g, z, loss)
    with torch.no_grad():
        for p in D.parameters():  # a hand-made SGD step on D as well
            p -= 0.1 * p.grad
    return out


@pytest.mark.parametrize(
    "d_step, g_step, passed, first",
    [
        (_d_no_detach, _g_step_written_out, 6, "hidden case 3: the generator received gradients"),
        (_d_no_zero_grad, _g_step_written_out, 5, "hidden case 4:"),
        (_d_swapped, _g_step_written_out, 2, "case 'discriminator step (SGD, minimax loss)'"),
        (_d_hard_coded_bce, _g_step_written_out, 6, "hidden case 7:"),
        (_d_reports_after_update, _g_step_written_out, 2, "case 'discriminator step (SGD, minimax loss)'"),
        (_d_step_written_out, _g_no_zero_grad, 6, "hidden case 5:"),
        (_d_step_written_out, _g_uses_d_loss, 4, "case 'generator step (SGD, non-saturating loss)'"),
        (_d_step_written_out, _g_moves_d_too, 4, "case 'generator step (SGD, non-saturating loss)': the discriminator"),
    ],
)
def test_algorithm1_wrong(d_step, g_step, passed, first):
    v = _verdict(ch02.check_algorithm1_steps, d_step, g_step)
    assert v.status == "failed" and v.passed == passed, v
    assert v.points <= 0.4 * 4  # each fails a key case
    assert v.messages[0].startswith(first), v.messages


def test_algorithm1_bad_return_values():
    v = _verdict(ch02.check_algorithm1_steps, lambda *a: (_d_step_written_out(*a), None)[1], _g_step_written_out)
    assert v.passed == 2 and "should return a dict" in v.messages[0]  # the two generator-only cases pass

    def missing_key(*args):
        out = _d_step_written_out(*args)
        del out["d_fake"]
        return out

    v = _verdict(ch02.check_algorithm1_steps, missing_key, _g_step_written_out)
    assert v.passed == 2 and "'d_fake'" in v.messages[0]

    class Liar(float):
        def __eq__(self, other):
            return True

    def lying(*args):
        return {k: Liar(0.0) for k in _d_step_written_out(*args)}

    assert _verdict(ch02.check_algorithm1_steps, lying, _g_step_written_out).passed == 2


def test_checks_leave_the_global_rng_alone():
    state = torch.get_rng_state()
    ch02.check_algorithm1_steps(steps.discriminator_step, steps.generator_step, quiet=True)
    ch02.check_generator_losses(losses.g_loss_saturating, losses.g_loss_non_saturating, quiet=True)
    ch02.check_optimal_discriminator(theory.optimal_discriminator, quiet=True)
    assert torch.equal(state, torch.get_rng_state())


def test_verdicts_are_deterministic():
    wrong = (_d_no_zero_grad, _g_uses_d_loss)
    first = str(_verdict(ch02.check_algorithm1_steps, *wrong))
    assert first == str(_verdict(ch02.check_algorithm1_steps, *wrong))


# ----------------------------------------------------------------------------------------------------------------------
# The specs: fresh cases for the grader, and the same verdicts through recorded outputs
# ----------------------------------------------------------------------------------------------------------------------
from course_lib.exercises.core import fresh  # noqa: E402
from course_lib.grading import records  # noqa: E402

SEEDS = (0, 12345, 2**61 - 1)


def test_specs_cover_the_exercises_and_their_names():
    assert sorted(ch02.SPECS) == sorted(ch02.EXERCISES)
    assert ch02.SPECS["2.2"].names == ("g_loss_saturating", "g_loss_non_saturating")
    assert ch02.SPECS["2.1"].references == (theory.optimal_discriminator,)
    assert set(ch02.SPECS["2.3"].references) == {steps.discriminator_step, steps.generator_step}


@pytest.mark.parametrize("ex", ["2.1", "2.2", "2.3"])
def test_fresh_cases_have_the_notebooks_structure(ex):
    spec = ch02.SPECS[ex]
    public = spec.cases(None)
    for seed in SEEDS:
        drawn = spec.cases(seed)
        assert [c.hidden for c in drawn] == [c.hidden for c in public]
        again = spec.cases(seed)
        assert repr([c.inputs for c in drawn]) == repr([c.inputs for c in again])  # deterministic
    assert repr(spec.cases(SEEDS[0])) != repr(spec.cases(SEEDS[1])) != repr(public)


@pytest.mark.parametrize("ex, fns", [
    ("2.1", (theory.optimal_discriminator,)),
    ("2.1", (lambda p, q: torch.nan_to_num(p / (p + q), nan=0.5),)),
    ("2.2", (losses.g_loss_saturating, losses.g_loss_non_saturating)),
    ("2.2", (lambda l: F.logsigmoid(-l).mean(), lambda l: -F.logsigmoid(l).mean())),
    ("2.3", (steps.discriminator_step, steps.generator_step)),
    ("2.3", (_d_step_written_out, _g_step_written_out)),
])
def test_correct_solutions_pass_fresh_cases(ex, fns):
    for seed in SEEDS:
        v = ch02.SPECS[ex].check(*fns, quiet=True, seed=seed)
        assert v.status == "passed", (seed, str(v))


@pytest.mark.parametrize("ex, fns, passed", [
    # the partial credit the grader's tests rely on (tests/grading_fixtures): the same for every seed
    ("2.1", (lambda p, q: q / (p + q),), 1),
    ("2.2", (lambda l: torch.log(1 - torch.sigmoid(l)).mean(), lambda l: -torch.log(torch.sigmoid(l)).mean()), 4),
    ("2.3", (lambda *a: {k: _Liar(0.0) for k in _d_step_written_out(*a)}, _g_step_written_out), 2),
    ("2.3", (_d_no_detach, _g_step_written_out), 6),
])
def test_wrong_solutions_fail_fresh_cases_alike(ex, fns, passed):
    for seed in SEEDS:
        assert ch02.SPECS[ex].check(*fns, quiet=True, seed=seed).passed == passed


class _Liar(float):
    def __eq__(self, other):
        return True

    __hash__ = float.__hash__


@pytest.mark.parametrize("ex, fns", [
    ("2.1", (lambda p, q: q / (p + q),)),
    ("2.1", (lambda p, q: (p / (p + q)).tolist(),)),
    ("2.2", (lambda l: F.softplus(l).mean(), losses.g_loss_non_saturating)),
    ("2.2", (lambda l: torch.tensor(losses.g_loss_saturating(l).item()), losses.g_loss_non_saturating)),
    ("2.3", (_d_no_zero_grad, _g_uses_d_loss)),
    ("2.3", (lambda *a: {k: _Liar(0.0) for k in _d_step_written_out(*a)}, _g_moves_d_too)),
])
def test_records_give_the_notebooks_verdict(ex, fns):
    """What the grader does (call in the kernel, save, load with weights_only, compare in its own process) gives the
    very messages the notebook's check prints."""
    spec = ch02.SPECS[ex]
    for case in spec.cases(None):
        in_process = spec.compare(spec.call(fns, fresh(case.inputs)), spec.reference(fresh(case.inputs)))
        buffer = io.BytesIO()
        torch.save(records.encode(spec.call(fns, fresh(case.inputs))), buffer)
        buffer.seek(0)
        loaded = records.decode(torch.load(buffer, weights_only=True))
        assert spec.compare(loaded, spec.reference(fresh(case.inputs))) == in_process


def test_validate_private_cases():
    with pytest.raises(ValueError, match="no input 'p_g'"):
        ch02.SPECS["2.1"].validate({"p_data": torch.ones(2)})
    with pytest.raises(ValueError, match="must be a bool"):
        ch02.SPECS["2.2"].validate({"logits": torch.ones(2), "gradient": 1})
    with pytest.raises(ValueError, match="finite"):
        ch02.SPECS["2.2"].validate({"logits": torch.tensor([float("inf")]), "gradient": True})
    recipe = {"step": "d", "seed": 1, "optimizer": "rmsprop", "lr": 0.1, "loss": "minimax", "n_real": 4,
              "n_fake": 4, "stale": False, "repeats": 1, "check_g_grad": False}
    with pytest.raises(ValueError, match="optimizer must be"):
        ch02.SPECS["2.3"].validate({"steps": [recipe]})
    ch02.SPECS["2.3"].validate({"steps": [{**recipe, "optimizer": "adam"}]})
