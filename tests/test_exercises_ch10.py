"""Chapter 10's checks: the references pass on the notebook's cases and on grading seeds, stubs say "not implemented
yet", the classic mistakes fail and lose most of the points without the answer being printed. (The full set of
correct and wrong answers runs in tests/test_wrong_answers.py via wrong_answers/ch10.py.)"""

from __future__ import annotations

import re

import pytest

from course_lib.exercises import ch10, not_implemented
from course_lib.exercises.core import STARS
from course_lib.translation import PatchDiscriminator, UNetGenerator, patch_receptive_field, receptive_field
from course_lib.translation.pix2pix import conv_layers
from wrong_answers import ch10 as answers

SEEDS = (0, 1, 5, 11)


def test_exercise_table():
    assert sorted(ch10.EXERCISES) == sorted(ch10.SPECS) == ["10.1", "10.2", "10.3"]
    for key, ex in ch10.EXERCISES.items():
        assert ex.id == key and 10 <= ex.minutes <= 30
        assert ex.badge == f"{ex.points:g} points · difficulty {STARS[ex.difficulty]} · about {ex.minutes} min"


def test_the_references_pass(capsys):
    assert ch10.check_receptive_field(receptive_field).status == "passed"
    assert ch10.check_unet_skip(ch10.reference_skip_block, ch10.reference_decoder_widths).status == "passed"
    v = ch10.check_pix2pix_losses(ch10.reference_generator_loss, ch10.reference_discriminator_loss)
    assert v.status == "passed" and v.points == 3
    assert capsys.readouterr().out.count("PASSED") == 3


def test_references_agree_with_the_library_networks():
    for n in range(1, 6):
        assert receptive_field(conv_layers(PatchDiscriminator(6, 2, n))) == patch_receptive_field(n)
    for num_downs, c, out in ((8, 64, 3), (5, 4, 1), (6, 8, 2)):
        G = UNetGenerator(3, out, num_downs, c)
        ups = [(m.in_channels, m.out_channels) for b in reversed(G.blocks()) for m in b.model
               if m.__class__.__name__ == "ConvTranspose2d"]
        assert ups == ch10.reference_decoder_widths(num_downs, c, out)


@pytest.mark.parametrize("ex,fns", [
    ("10.1", (answers.rf_forward_jump,)), ("10.1", (answers.rf_closed_form,)),
    ("10.2", (answers.sb_new_empty, answers.dw_from_outside)),
    ("10.3", (answers.g_logsigmoid, answers.d_logsigmoid)),
])
def test_independent_correct_answers_pass_on_grading_seeds(ex, fns):
    for seed in (None, *SEEDS):
        v = ch10.SPECS[ex].check(*fns, quiet=True, seed=seed)
        assert v.status == "passed", (seed, str(v))


def test_stubs_say_not_implemented(capsys):
    def stub(*args, **kwargs):
        raise not_implemented("10.x")

    assert ch10.check_receptive_field(stub).status == "not implemented"
    assert ch10.check_unet_skip(stub, stub).status == "not implemented"
    assert ch10.check_pix2pix_losses(stub, stub).status == "not implemented"
    assert capsys.readouterr().out.count("not implemented yet") == 3


@pytest.mark.parametrize("ex,fns,fragment", [
    ("10.1", (answers.rf_ignore_strides,), "receptive field is"),
    ("10.1", (answers.rf_wrong_order,), "from the last layer"),
    ("10.2", (answers.sb_swapped, answers.dw_loop), "which comes first"),
    ("10.2", (answers.sb_added, answers.dw_loop), "shape"),
    ("10.2", (answers.sb_cat, answers.dw_no_doubling), "level 1 from the innermost"),
    ("10.3", (answers.g_lambda_on_gan, answers.d_bce), "relative error"),
    ("10.3", (answers.g_bce, answers.d_not_halved), "relative error"),
])
def test_classic_mistakes_lose_most_points(ex, fns, fragment):
    spec = ch10.SPECS[ex]
    for seed in (None, *SEEDS):
        v = spec.check(*fns, quiet=True, seed=seed)
        assert v.status == "failed" and v.points <= 0.4 * spec.exercise.points + 1e-9, (seed, str(v))
    v = spec.check(*fns, quiet=True)
    assert fragment in "\n".join(v.messages)


def test_failure_messages_do_not_print_the_answer():
    v = ch10.check_receptive_field(answers.rf_ignore_strides, quiet=True)
    assert "70" not in "\n".join(v.messages)
    v = ch10.check_unet_skip(answers.sb_cat, answers.dw_no_doubling, quiet=True)
    assert "1024" not in "\n".join(v.messages)
    v = ch10.check_pix2pix_losses(answers.g_lambda_on_gan, answers.d_bce, quiet=True)
    expected = float(ch10._reference_losses(ch10.SPECS["10.3"].cases(None)[0].inputs))
    assert f"{expected:.4g}" not in "\n".join(v.messages)
    assert len(re.findall(r"-?\d+\.\d+", "\n".join(v.messages))) <= 4
