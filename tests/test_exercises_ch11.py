"""Chapter 11's checks: the references pass on the notebook's cases and on grading seeds, stubs say "not implemented
yet", the classic mistakes fail and lose most of the points. (The full set of correct and wrong answers runs in
tests/test_wrong_answers.py via wrong_answers/ch11.py.)"""

from __future__ import annotations

import pytest
import torch

from course_lib.exercises import ch11, not_implemented
from course_lib.exercises.core import STARS
from course_lib.translation import cyclegan, stargan
from wrong_answers import ch11 as answers

SEEDS = (0, 1, 5, 11)


def test_exercise_table():
    assert sorted(ch11.EXERCISES) == sorted(ch11.SPECS) == ["11.1", "11.2", "11.3"]
    for key, ex in ch11.EXERCISES.items():
        assert ex.id == key and 10 <= ex.minutes <= 30
        assert ex.badge == f"{ex.points:g} points · difficulty {STARS[ex.difficulty]} · about {ex.minutes} min"


@pytest.mark.parametrize("check,ref", [
    (ch11.check_pool_query, cyclegan.pool_query),
    (ch11.check_cycle_identity_loss, cyclegan.cycle_identity_loss),
    (ch11.check_stargan_losses, stargan.stargan_classification_losses),
])
def test_the_library_passes(check, ref, capsys):
    v = check(ref)
    assert v.status == "passed" and v.points == 3
    assert "PASSED" in capsys.readouterr().out


@pytest.mark.parametrize("ex,fn", [
    ("11.1", answers.pool_loop), ("11.1", answers.pool_preallocated), ("11.2", answers.ci_per_direction),
    ("11.3", answers.sg_log_softmax_gather),
])
def test_independent_correct_answers_pass_on_grading_seeds(ex, fn):
    for seed in (None, *SEEDS):
        v = ch11.SPECS[ex].check(fn, quiet=True, seed=seed)
        assert v.status == "passed", (seed, str(v))


def test_stubs_say_not_implemented(capsys):
    def stub(*args, **kwargs):
        raise not_implemented("11.x")

    for check in (ch11.check_pool_query, ch11.check_cycle_identity_loss, ch11.check_stargan_losses):
        v = check(stub)
        assert v.status == "not implemented" and v.points == 0
    assert capsys.readouterr().out.count("not implemented yet") == 3


@pytest.mark.parametrize("ex,fn,fragment", [
    ("11.1", answers.pool_no_replace, "a full buffer"),
    ("11.1", answers.pool_never_swaps, "returned batch"),
    ("11.2", answers.ci_identity_swapped, "which domain should each generator leave unchanged"),
    ("11.2", answers.ci_cycle_wrong_order, "which generator undoes which"),
    ("11.3", answers.sg_g_original_label, "which label should a translated image be classified as"),
    ("11.3", answers.sg_naive_log_softmax, "log_softmax"),
])
def test_classic_mistakes_lose_most_points(ex, fn, fragment):
    spec = ch11.SPECS[ex]
    for seed in (None, *SEEDS):
        v = spec.check(fn, quiet=True, seed=seed)
        assert v.status == "failed" and v.points <= 0.4 * spec.exercise.points + 1e-9, (seed, str(v))
    v = spec.check(fn, quiet=True)
    assert fragment in "\n".join(v.messages)


def test_wrong_return_types_are_refused():
    v = ch11.check_cycle_identity_loss(lambda *a, **k: sum(cyclegan.cycle_identity_loss(*a, **k)), quiet=True)
    assert v.status == "failed" and v.points == 0 and "tuple" in v.messages[0]
    v = ch11.check_stargan_losses(lambda *a: [t.item() for t in stargan.stargan_classification_losses(*a)],
                                  quiet=True)
    assert v.status == "failed" and v.points == 0
    v = ch11.check_pool_query(lambda pool, x, *a: cyclegan.pool_query(pool, x, *a).tolist(), quiet=True)
    assert v.status == "failed" and "torch.Tensor" in v.messages[0]


def test_pool_cases_exercise_the_edges():
    cases = ch11.SPECS["11.1"].cases(None)
    full = cases[1].inputs
    assert len(full["pool"]) == full["size"] and (full["coins"] > 0.5).any() and (full["coins"] <= 0.5).any()
    twice = cases[4].inputs
    assert twice["slots"][0] == twice["slots"][1] and (twice["coins"][:2] > 0.5).all()
    assert ch11.SPECS["11.1"].weight_summary().startswith("7 cases")


def test_cycle_case_generators_differ():
    i = ch11.SPECS["11.2"].cases(None)[0].inputs
    assert not torch.allclose(i["w_ab"], i["w_ba"])
