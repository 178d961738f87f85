"""Chapter 8's checks: the references pass on the notebook's cases and on grading seeds, stubs say "not implemented
yet", the classic mistakes fail and lose most of the points without the answer being printed. (The full set of
correct and wrong answers runs in tests/test_wrong_answers.py via wrong_answers/ch08.py.)"""

from __future__ import annotations

import pytest
import torch

from course_lib.exercises import ch08, not_implemented
from course_lib.exercises.core import STARS
from course_lib.gan import attention, biggan
from wrong_answers import ch08 as answers

SEEDS = (0, 3)


def test_exercise_table():
    assert sorted(ch08.EXERCISES) == sorted(ch08.SPECS) == ["8.1", "8.2", "8.3"]
    for key, ex in ch08.EXERCISES.items():
        assert ex.id == key and 10 <= ex.minutes <= 30
        assert ex.badge == f"{ex.points:g} points · difficulty {STARS[ex.difficulty]} · about {ex.minutes} min"


@pytest.mark.parametrize("check,ref,points", [
    (ch08.check_self_attention, attention.SelfAttention2d, 4),
    (ch08.check_truncated_noise, biggan.truncated_noise, 2),
    (ch08.check_orthogonal_regularization, biggan.orthogonal_regularization, 3),
])
def test_the_library_passes(check, ref, points, capsys):
    v = check(ref)
    assert v.status == "passed" and v.points == points
    assert "PASSED" in capsys.readouterr().out


@pytest.mark.parametrize("ex,fn", [
    ("8.1", answers.SASdpa), ("8.2", answers.tn_inverse_cdf), ("8.3", answers.or_sum_minus_diag),
])
def test_independent_correct_answers_pass_on_grading_seeds(ex, fn):
    for seed in (None, *SEEDS):
        v = ch08.SPECS[ex].check(fn, quiet=True, seed=seed)
        assert v.status == "passed", (seed, str(v))


def test_stubs_say_not_implemented(capsys):
    def stub(*args, **kwargs):
        raise not_implemented("8.x")

    class Stub(torch.nn.Module):
        def __init__(self, channels):
            super().__init__()
            raise not_implemented("8.1")

    for check, fn in ((ch08.check_self_attention, Stub), (ch08.check_truncated_noise, stub),
                      (ch08.check_orthogonal_regularization, stub)):
        v = check(fn)
        assert v.status == "not implemented" and v.points == 0
    assert capsys.readouterr().out.count("not implemented yet") == 3


@pytest.mark.parametrize("ex,fn,fragment", [
    ("8.1", answers.SAWrongAxis, "should be"),
    ("8.1", answers.SAGammaOne, "gamma should start at 0"),
    ("8.1", answers.SAGammaBuffer, "nn.Parameter"),
    ("8.2", answers.tn_clip, "clipping"),
    ("8.2", answers.tn_resample_once, "outside [-t, t]"),
    ("8.2", answers.tn_uniform, "Kolmogorov-Smirnov"),
    ("8.3", answers.or_full, "penalty is wrong"),
    ("8.3", answers.or_detached, "differentiable"),
])
def test_classic_mistakes_lose_most_points(ex, fn, fragment):
    spec = ch08.SPECS[ex]
    for seed in (None, *SEEDS):
        v = spec.check(fn, quiet=True, seed=seed)
        assert v.status == "failed" and v.points <= 0.4 * spec.exercise.points + 1e-9, (seed, str(v))
    v = spec.check(fn, quiet=True)
    assert any(fragment in m for m in v.messages), v.messages


def test_wrong_structure_is_explained():
    class NoBias(answers.SAEinsum):
        def __init__(self, channels):
            super().__init__(channels)
            self.f = torch.nn.Conv2d(channels, channels // 8, 1, bias=False)

    v = ch08.check_self_attention(NoBias, quiet=True)
    assert v.status == "failed" and any("bias" in m for m in v.messages)

    class WideKeys(answers.SAEinsum):
        def __init__(self, channels):
            super().__init__(channels)
            self.f = torch.nn.Conv2d(channels, channels // 2, 1)
            self.g = torch.nn.Conv2d(channels, channels // 2, 1)

    v = ch08.check_self_attention(WideKeys, quiet=True)
    assert v.status == "failed" and any("shape" in m for m in v.messages)


def test_ks_distance_separates_clipping_from_resampling():
    g = torch.Generator().manual_seed(0)
    good = biggan.truncated_noise(4000, 8, 0.5, generator=g)
    clipped = torch.randn(4000, 8, generator=g).clamp(-0.5, 0.5)
    assert ch08.ks_distance(good, 0.5) < ch08.KS_THRESHOLD < ch08.ks_distance(clipped, 0.5)


def test_statements_weights_are_stated():
    assert "'a fresh module is the identity (gamma = 0)'" in ch08.SPECS["8.1"].weight_summary()
    assert "'the distribution for t = 0.5'" in ch08.SPECS["8.2"].weight_summary()
    assert "'orthogonal filters of different norms, beta = 1'" in ch08.SPECS["8.3"].weight_summary()
