"""Chapter 9's checks: the references pass on the notebook's cases and on grading seeds, stubs say "not implemented
yet", the classic mistakes fail and lose most of the points without the answer being printed, look-alikes are
refused. (The full set of correct and wrong answers runs in tests/test_wrong_answers.py via wrong_answers/ch09.py.)"""

from __future__ import annotations

import re

import pytest
import torch

from course_lib.exercises import ch09, not_implemented
from course_lib.exercises.core import STARS
from course_lib.gan import progan, stylegan
from wrong_answers import ch09 as answers

SEEDS = (0, 1, 5, 11)


def test_exercise_table():
    assert sorted(ch09.EXERCISES) == sorted(ch09.SPECS) == ["9.1", "9.2", "9.3"]
    for key, ex in ch09.EXERCISES.items():
        assert ex.id == key and 10 <= ex.minutes <= 30
        assert ex.badge == f"{ex.points:g} points · difficulty {STARS[ex.difficulty]} · about {ex.minutes} min"


@pytest.mark.parametrize("check,ref,points", [
    (ch09.check_pixel_norm, progan.pixel_norm, 2),
    (ch09.check_adain, stylegan.adain, 3),
    (ch09.check_modulated_conv2d, stylegan.modulated_conv2d, 4),
])
def test_the_library_passes(check, ref, points, capsys):
    v = check(ref)
    assert v.status == "passed" and v.points == points
    assert "PASSED" in capsys.readouterr().out


@pytest.mark.parametrize("ex,fn", [
    ("9.1", answers.pn_normalize), ("9.2", answers.adain_instance_norm), ("9.3", answers.mc_einsum_input_scaling),
    ("9.3", ch09.reference_modulated_conv2d_loop),
])
def test_independent_correct_answers_pass_on_grading_seeds(ex, fn):
    for seed in (None, *SEEDS):
        v = ch09.SPECS[ex].check(fn, quiet=True, seed=seed)
        assert v.status == "passed", (seed, str(v))


def test_stubs_say_not_implemented(capsys):
    def stub(*args, **kwargs):
        raise not_implemented("9.x")

    for check in (ch09.check_pixel_norm, ch09.check_adain, ch09.check_modulated_conv2d):
        v = check(stub)
        assert v.status == "not implemented" and v.points == 0
    assert capsys.readouterr().out.count("not implemented yet") == 3


@pytest.mark.parametrize("ex,fn,fragment", [
    ("9.1", answers.pn_no_eps, "NaN"),
    ("9.1", answers.pn_sum, "should be"),
    ("9.2", answers.adain_no_eps, "NaN"),
    ("9.2", answers.adain_unbiased, "should be"),
    ("9.3", answers.mc_no_eps, "epsilon"),
    ("9.3", answers.mc_modulate_outputs, ""),
    ("9.3", answers.mc_wrong_axes, "should be"),
])
def test_classic_mistakes_lose_most_points(ex, fn, fragment):
    spec = ch09.SPECS[ex]
    for seed in (None, *SEEDS):
        v = spec.check(fn, quiet=True, seed=seed)
        assert v.status == "failed" and v.points <= 0.4 * spec.exercise.points + 1e-9, (seed, str(v))
    v = spec.check(fn, quiet=True)
    assert fragment in "\n".join(v.messages)


def test_failure_messages_do_not_print_the_whole_answer():
    v = ch09.check_adain(answers.adain_unbiased, quiet=True)
    expected = ch09._reference_adain(ch09.SPECS["9.2"].cases(None)[0].inputs)
    numbers = re.findall(r"-?\d+\.\d+", "\n".join(v.messages))
    assert len(numbers) <= 2 < expected.numel()


def test_look_alikes_and_wrong_types_are_refused():
    class Fake(torch.Tensor):
        pass

    v = ch09.check_pixel_norm(lambda x: progan.pixel_norm(x).as_subclass(Fake), quiet=True)
    assert v.status == "failed" and v.points == 0
    v = ch09.check_modulated_conv2d(lambda *a, **k: stylegan.modulated_conv2d(*a, **k).tolist(), quiet=True)
    assert v.status == "failed" and "torch.Tensor" in v.messages[0]
    v = ch09.check_adain(lambda x, s, b: stylegan.adain(x, s, b).double(), quiet=True)
    assert v.status == "failed" and "dtype" in v.messages[0]


def test_the_loop_reference_equals_the_library():
    for case in ch09.SPECS["9.3"].cases(None):
        i = case.inputs
        torch.testing.assert_close(
            ch09.reference_modulated_conv2d_loop(i["x"], i["weight"], i["styles"], i["demodulate"], i["padding"]),
            ch09._reference_modconv(i), rtol=1e-5, atol=1e-5)


def test_statements_weights_are_stated():
    assert "key case 'a pixel whose features are all zero'" in ch09.SPECS["9.1"].weight_summary()
    assert "'a sample whose style is zero'" in ch09.SPECS["9.3"].weight_summary()
