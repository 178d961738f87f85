"""Chapter 12's checks: the references pass on the notebook's cases and on grading seeds, stubs say "not implemented
yet", the classic mistakes fail and lose most of the points without the answer being printed. (The full set of
correct and wrong answers runs in tests/test_wrong_answers.py via wrong_answers/ch12.py.)"""

from __future__ import annotations

import re

import pytest
import torch
import torch.nn.functional as F

from course_lib.exercises import ch12, not_implemented
from course_lib.exercises.core import STARS
from course_lib.restoration import cam_heatmap, pixel_shuffle, psnr
from wrong_answers import ch12 as answers

SEEDS = (0, 1, 5, 11)


def test_exercise_table():
    assert sorted(ch12.EXERCISES) == sorted(ch12.SPECS) == ["12.1", "12.2", "12.3"]
    for key, ex in ch12.EXERCISES.items():
        assert ex.id == key and 10 <= ex.minutes <= 30
        assert ex.badge == f"{ex.points:g} points · difficulty {STARS[ex.difficulty]} · about {ex.minutes} min"


@pytest.mark.parametrize("check,ref,points", [
    (ch12.check_pixel_shuffle, pixel_shuffle, 2),
    (ch12.check_pixel_shuffle, F.pixel_shuffle, 2),
    (ch12.check_psnr, psnr, 2),
    (ch12.check_cam_heatmap, cam_heatmap, 3),
])
def test_the_library_passes(check, ref, points, capsys):
    v = check(ref)
    assert v.status == "passed" and v.points == points
    assert "PASSED" in capsys.readouterr().out


@pytest.mark.parametrize("ex,fn", [
    ("12.1", answers.ps_loop), ("12.2", answers.psnr_rmse), ("12.3", answers.cam_loop),
    ("12.3", answers.cam_upsample_first),
])
def test_independent_correct_answers_pass_on_grading_seeds(ex, fn):
    for seed in (None, *SEEDS):
        v = ch12.SPECS[ex].check(fn, quiet=True, seed=seed)
        assert v.status == "passed", (seed, str(v))


def test_stubs_say_not_implemented(capsys):
    def stub(*args, **kwargs):
        raise not_implemented("12.x")

    for check in (ch12.check_pixel_shuffle, ch12.check_psnr, ch12.check_cam_heatmap):
        v = check(stub)
        assert v.status == "not implemented" and v.points == 0
    assert capsys.readouterr().out.count("not implemented yet") == 3


@pytest.mark.parametrize("ex,fn,fragment", [
    ("12.1", answers.ps_channels_last_order, "should be"),
    ("12.1", answers.ps_no_permute, "should be"),
    ("12.2", answers.psnr_batch_mean_first, "should be"),
    ("12.2", answers.psnr_scalar, "one value per image"),
    ("12.2", answers.psnr_ignores_range, "should be"),
    ("12.3", answers.cam_predicted_class, "should be"),
    ("12.3", answers.cam_no_relu, "should be"),
    ("12.3", answers.cam_size_swapped, "shape"),
    ("12.3", answers.cam_no_zero_guard, "NaN"),
])
def test_classic_mistakes_lose_most_points(ex, fn, fragment):
    spec = ch12.SPECS[ex]
    for seed in (None, *SEEDS):
        v = spec.check(fn, quiet=True, seed=seed)
        assert v.status == "failed" and v.points <= 0.4 * spec.exercise.points + 1e-9, (seed, str(v))
    v = spec.check(fn, quiet=True)
    assert fragment in "\n".join(v.messages)


def test_failure_messages_do_not_print_the_whole_answer():
    v = ch12.check_cam_heatmap(answers.cam_no_normalisation, quiet=True)
    numbers = re.findall(r"-?\d+\.\d+", "\n".join(v.messages))
    assert len(numbers) <= 2


def test_look_alikes_and_wrong_types_are_refused():
    v = ch12.check_psnr(lambda x, y, data_range=1.0: psnr(x, y, data_range).tolist(), quiet=True)
    assert v.status == "failed" and "torch.Tensor" in v.messages[0]
    v = ch12.check_cam_heatmap(lambda *a: cam_heatmap(*a).double(), quiet=True)
    assert v.status == "failed" and "dtype" in v.messages[0]


def test_the_allowed_orders_are_all_accepted_and_differ():
    case = ch12.SPECS["12.3"].cases(None)[0].inputs
    main, relu_up, up_relu = ch12._reference_cam(case)
    assert not torch.allclose(main, up_relu, atol=1e-4)  # the orders really differ, so accepting each matters


def test_statements_weights_are_stated():
    assert "'images with very different errors'" in ch12.SPECS["12.2"].weight_summary()
    assert "'a map with no positive value'" in ch12.SPECS["12.3"].weight_summary()
