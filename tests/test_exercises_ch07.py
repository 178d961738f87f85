"""Chapter 7's checks: the references pass on the notebook's cases and on grading seeds, stubs say "not implemented
yet", the classic mistakes fail and lose most of the points without the answer being printed. (The full set of
correct and wrong answers runs in tests/test_wrong_answers.py via wrong_answers/ch07.py.)"""

from __future__ import annotations

import pytest

from course_lib.exercises import ch07, not_implemented
from course_lib.exercises.core import STARS
from course_lib.gan import acgan, conditional, infogan
from wrong_answers import ch07 as answers

SEEDS = (0, 1, 5, 11)


def test_exercise_table():
    assert sorted(ch07.EXERCISES) == sorted(ch07.SPECS) == ["7.1", "7.2", "7.3"]
    for key, ex in ch07.EXERCISES.items():
        assert ex.id == key and 10 <= ex.minutes <= 30
        assert ex.badge == f"{ex.points:g} points · difficulty {STARS[ex.difficulty]} · about {ex.minutes} min"


@pytest.mark.parametrize("check,refs", [
    (ch07.check_conditional_batch_norm, (conditional.conditional_batch_norm,)),
    (ch07.check_acgan_losses, (acgan.acgan_d_loss, acgan.acgan_g_loss)),
    (ch07.check_mi_lower_bound, (infogan.categorical_mi_lower_bound,)),
])
def test_the_library_passes(check, refs, capsys):
    v = check(*refs)
    assert v.status == "passed" and v.points == 3
    assert "PASSED" in capsys.readouterr().out


@pytest.mark.parametrize("ex,fns", [
    ("7.1", (answers.cbn_functional,)), ("7.1", (answers.cbn_module,)),
    ("7.2", (answers.ac_d_softplus, answers.ac_g_softplus)), ("7.3", (answers.mi_cross_entropy,)),
])
def test_independent_correct_answers_pass_on_grading_seeds(ex, fns):
    for seed in (None, *SEEDS):
        v = ch07.SPECS[ex].check(*fns, quiet=True, seed=seed)
        assert v.status == "passed", (seed, str(v))


def test_stubs_say_not_implemented(capsys):
    def stub(*args, **kwargs):
        raise not_implemented("7.x")

    for check, n in ((ch07.check_conditional_batch_norm, 1), (ch07.check_acgan_losses, 2),
                     (ch07.check_mi_lower_bound, 1)):
        v = check(*([stub] * n))
        assert v.status == "not implemented" and v.points == 0
    assert capsys.readouterr().out.count("not implemented yet") == 3


@pytest.mark.parametrize("ex,fns,fragment", [
    ("7.1", (answers.cbn_per_class_stats,), "should be"),
    ("7.1", (answers.cbn_no_eps,), "NaN"),
    ("7.2", (answers.ac_d_always_fakes, answers.ac_g_logsigmoid), "discriminator's loss"),
    ("7.2", (answers.ac_d_logsigmoid, answers.ac_g_no_class), "generator's loss"),
    ("7.3", (answers.mi_entropy_subtracted,), "lower bound is wrong"),
    ("7.3", (answers.mi_no_validation,), "not one-hot"),
    ("7.3", (answers.mi_naive_entropy,), "NaN"),
])
def test_classic_mistakes_fail_with_a_useful_message(ex, fns, fragment):
    v = ch07.SPECS[ex].check(*fns, quiet=True)
    assert v.status == "failed" and v.points <= 0.4 * 3 + 1e-9
    assert fragment in str(v)


def test_messages_do_not_print_the_expected_value():
    v = ch07.SPECS["7.3"].check(answers.mi_entropy_subtracted, quiet=True)
    expected = float(infogan.categorical_mi_lower_bound(*[ch07.SPECS["7.3"].cases(None)[0].inputs[k]
                                                          for k in ("logits", "codes", "prior")]))
    assert f"{expected:.6g}" not in str(v)


def test_grading_lines():
    for spec in ch07.SPECS.values():
        assert "key case" in spec.weight_summary()
