"""Tests of course_lib.translation.pix2pix: the reference networks' parameter counts (FACTS.md) and an independent
count, shapes, the receptive field (recursion, closed form, and the support of a gradient), the skip block's
concatenation order against the reference's in-place computation, dropout, the objective against a hand
computation, a short training run through the one trainer, and bad input."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_lib.translation import (
    PATCH_SETTINGS,
    EncoderDecoderGenerator,
    PatchDiscriminator,
    Pix2PixObjective,
    UNetGenerator,
    UNetSkipBlock,
    count_parameters,
    dropout_active,
    patch_receptive_field,
    receptive_field,
)
from course_lib.translation.pix2pix import conv_layers


# ----------------------------------------------------------------------------------------------------------------------
# Parameter counts
# ----------------------------------------------------------------------------------------------------------------------
def test_reference_parameter_counts_of_facts():
    assert count_parameters(UNetGenerator(3, 3, num_downs=8, base_channels=64, norm="batch")) == 54_413_955
    assert count_parameters(PatchDiscriminator(6, 64, n_layers=3, norm="batch")) == 2_768_705
    assert count_parameters(PatchDiscriminator(3, 64, n_layers=3, norm="instance")) == 2_764_737


def _unet_count(cin: int, cout: int, n: int, c: int, norm: str, skip: bool = True) -> int:
    """An independent count, level by level: conv 4x4 down, convT 4x4 up, norms; bias only without batch norm."""
    bias = norm != "batch"
    affine = 2 if norm == "batch" else 0
    widths = [min(2 ** k, 8) * c for k in range(n)]
    total = 0
    for k in range(n):
        inner = widths[k]
        outer_in = cin if k == 0 else widths[k - 1]
        outer_out = cout if k == 0 else widths[k - 1]
        up_in = inner if (k == n - 1 or not skip) else 2 * inner
        total += outer_in * inner * 16 + (inner if bias else 0)                         # down conv
        total += up_in * outer_out * 16 + (outer_out if (bias or k == 0) else 0)       # up conv (outermost: bias)
        if 0 < k < n - 1:
            total += affine * inner                                                     # norm after down conv
        if k > 0:
            total += affine * outer_out                                                 # norm after up conv
    return total


@pytest.mark.parametrize("cin,cout,n,c,norm,skip", [(3, 3, 8, 64, "batch", True), (1, 3, 5, 8, "instance", True),
                                                   (3, 2, 6, 4, "batch", False), (2, 3, 3, 16, "none", True)])
def test_unet_count_matches_an_independent_count(cin, cout, n, c, norm, skip):
    G = UNetGenerator(cin, cout, num_downs=n, base_channels=c, norm=norm, skip=skip)
    assert count_parameters(G) == _unet_count(cin, cout, n, c, norm, skip)
    assert len(G.blocks()) == n


def _patch_count(cin: int, c: int, n_layers: int, norm: str) -> int:
    bias = norm != "batch"
    affine = 2 if norm == "batch" else 0
    total = cin * c * 16 + c
    mult = 1
    for n in range(1, n_layers + 1):
        prev, mult = mult, min(2 ** n, 8)
        total += c * prev * c * mult * 16 + (c * mult if bias else 0) + affine * c * mult
    return total + c * mult * 16 + 1


@pytest.mark.parametrize("n_layers", [1, 2, 3, 4, 5])
def test_patch_count_matches_an_independent_count(n_layers):
    for norm in ("batch", "instance"):
        assert count_parameters(PatchDiscriminator(6, 8, n_layers, norm)) == _patch_count(6, 8, n_layers, norm)


# ----------------------------------------------------------------------------------------------------------------------
# Shapes and the receptive field
# ----------------------------------------------------------------------------------------------------------------------
def test_shapes():
    G = UNetGenerator(1, 3, num_downs=5, base_channels=4)
    y = G(torch.randn(2, 1, 64, 32))
    assert y.shape == (2, 3, 64, 32) and float(y.detach().abs().max()) <= 1.0   # tanh output
    D = PatchDiscriminator(6, 64, 3)
    assert D.output_size(256, 256) == (30, 30)
    for n in range(6):
        d = PatchDiscriminator(4, 4, n)
        for side in (64, 100):
            if n == 5 and side == 64:
                continue
            assert d(torch.randn(1, 4, side, side)).shape[-2:] == d.output_size(side, side)
    assert PatchDiscriminator(6, 4, 0)(torch.randn(2, 6, 9, 7)).shape == (2, 1, 9, 7)     # PixelGAN: per pixel


def test_receptive_field_values_recursion_and_closed_form():
    assert [patch_receptive_field(n) for n in range(6)] == [1, 16, 34, 70, 142, 286]
    for n in range(1, 9):
        assert patch_receptive_field(n) == 9 * 2 ** n - 2
        assert receptive_field(conv_layers(PatchDiscriminator(3, 2, n))) == patch_receptive_field(n)
    assert receptive_field(conv_layers(PatchDiscriminator(3, 2, 0))) == 1
    assert {k: v[1] for k, v in PATCH_SETTINGS.items()} == {k: patch_receptive_field(v[0])
                                                            for k, v in PATCH_SETTINGS.items()}
    assert receptive_field([(3, 1), (3, 1)]) == 5 and receptive_field([(2, 2), (2, 2)]) == 4


@pytest.mark.parametrize("n_layers", [0, 1, 2, 3])
def test_receptive_field_is_the_support_of_the_gradient(n_layers):
    torch.manual_seed(n_layers)
    D = PatchDiscriminator(1, 4, n_layers, norm="none").double()
    side = 96
    x = torch.randn(1, 1, side, side, dtype=torch.float64, requires_grad=True)
    out = D(x)
    i, j = out.shape[-2] // 2, out.shape[-1] // 2
    out[0, 0, i, j].backward()
    rows = torch.nonzero(x.grad[0, 0].abs().sum(1)).flatten()
    cols = torch.nonzero(x.grad[0, 0].abs().sum(0)).flatten()
    assert int(rows[-1] - rows[0]) + 1 == patch_receptive_field(n_layers)
    assert int(cols[-1] - cols[0]) + 1 == patch_receptive_field(n_layers)


# ----------------------------------------------------------------------------------------------------------------------
# The skip block
# ----------------------------------------------------------------------------------------------------------------------
def test_skip_block_shapes_and_order_match_the_reference_in_place_computation():
    torch.manual_seed(0)
    inner = UNetSkipBlock(8, 8, innermost=True, norm="batch")
    block = UNetSkipBlock(4, 8, submodule=inner, norm="batch").eval()
    x = torch.randn(2, 4, 16, 16)
    y = block(x)
    assert y.shape == (2, 8, 16, 16)                       # 2 x outer: [skip, up]
    torch.testing.assert_close(y[:, :4], F.leaky_relu(x, 0.2))
    # the reference: the same layers with an in-place LeakyReLU and torch.cat([x, model(x)])
    layers = list(block.model)
    ref_model = nn.Sequential(nn.LeakyReLU(0.2, inplace=True), *layers[1:])
    x_ref = x.clone()
    ref = torch.cat([x_ref, ref_model(x_ref)], 1)
    torch.testing.assert_close(y, ref)
    # the innermost block: up path without a norm after the down conv; output (N, 2 * outer, ...)
    assert inner(torch.randn(2, 8, 8, 8)).shape == (2, 16, 8, 8)


def test_unet_skips_carry_fine_detail_that_the_bottleneck_cannot():
    torch.manual_seed(0)
    a = torch.zeros(1, 1, 32, 32)
    b = a.clone()
    b[..., 5, 7] = 1.0                                      # one pixel differs
    for skip, expect_local in ((True, True), (False, False)):
        G = UNetGenerator(1, 1, num_downs=5, base_channels=4, norm="none", dropout=False, skip=skip).eval()
        with torch.no_grad():
            diff = (G(a) - G(b)).abs()[0, 0]
        # with skips the outermost level sees the pixel directly: the largest change is at that pixel's block
        peak = divmod(int(diff.argmax()), 32)
        if expect_local:
            assert abs(peak[0] - 5) <= 1 and abs(peak[1] - 7) <= 1
        assert float(diff.sum()) > 0
    assert isinstance(EncoderDecoderGenerator(1, 1, 5, 4), UNetGenerator)
    assert not EncoderDecoderGenerator(1, 1, 5, 4).skip


def test_dropout_placement_and_test_time_dropout():
    G = UNetGenerator(3, 3, num_downs=8, base_channels=2)
    assert sum(isinstance(m, nn.Dropout) for m in G.modules()) == 3            # num_downs - 5
    assert sum(isinstance(m, nn.Dropout) for m in UNetGenerator(3, 3, 5, 2).modules()) == 0
    assert sum(isinstance(m, nn.Dropout) for m in UNetGenerator(3, 3, 8, 2, dropout=False).modules()) == 0
    G.eval()
    a = torch.randn(2, 3, 256, 256)
    with torch.no_grad():
        assert torch.equal(G(a), G(a))
        with dropout_active(G):
            y1, y2 = G(a), G(a)
            assert not G.training and all(m.training for m in G.modules() if isinstance(m, nn.Dropout))
        assert not torch.equal(y1, y2)
    assert not any(m.training for m in G.modules())


# ----------------------------------------------------------------------------------------------------------------------
# The objective
# ----------------------------------------------------------------------------------------------------------------------
class _G(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 3, 3, padding=1)

    def forward(self, a):
        return torch.tanh(self.conv(a))


def test_objective_against_a_hand_computation():
    torch.manual_seed(0)
    G, D = _G(), PatchDiscriminator(4, 4, 1, norm="none")
    a, b = torch.randn(3, 1, 16, 16), torch.rand(3, 3, 16, 16) * 2 - 1
    obj = Pix2PixObjective()
    d, d_logs = obj.d_loss(G, D, (a, b), None)
    g, g_logs = obj.g_loss(G, D, (a, b), None)
    fake = G(a)
    real_l, fake_l = D(torch.cat([a, b], 1)), D(torch.cat([a, fake], 1))
    bce = F.binary_cross_entropy_with_logits
    d_ref = 0.5 * (bce(real_l, torch.ones_like(real_l)) + bce(fake_l, torch.zeros_like(fake_l)))
    g_ref = bce(fake_l, torch.ones_like(fake_l)) + 100.0 * (fake - b).abs().mean()
    torch.testing.assert_close(d, d_ref)
    torch.testing.assert_close(g, g_ref)
    torch.testing.assert_close(g_logs["l1"], (fake - b).abs().mean())
    torch.testing.assert_close(d_logs["d_real"], torch.sigmoid(real_l).mean())
    # ablations: L1 only, cGAN only, unconditional D
    l1_only, _ = Pix2PixObjective(gan_weight=0.0).g_loss(G, D, (a, b), None)
    torch.testing.assert_close(l1_only, 100.0 * (fake - b).abs().mean())
    gan_only, _ = Pix2PixObjective(0.0).g_loss(G, D, (a, b), None)
    torch.testing.assert_close(gan_only, bce(fake_l, torch.ones_like(fake_l)))
    D3 = PatchDiscriminator(3, 4, 1, norm="none")
    uncond, _ = Pix2PixObjective(conditional=False).d_loss(G, D3, (a, b), None)
    r3, f3 = D3(b), D3(fake)
    torch.testing.assert_close(uncond, 0.5 * (bce(r3, torch.ones_like(r3)) + bce(f3, torch.zeros_like(f3))))
    assert Pix2PixObjective.needs_noise is False


def test_training_through_the_one_trainer_lowers_held_out_l1():
    from course_lib.data.paired import make_paired_task
    from course_lib.train import AdversarialTrainer, TrainerConfig

    torch.manual_seed(0)
    task = make_paired_task("grey2colour", n_train=128, n_test=32, size=16, scale=0.125, seed=0)
    G = UNetGenerator(1, 3, num_downs=4, base_channels=8)
    D = PatchDiscriminator(4, 8, 1)
    obj = Pix2PixObjective(sample_inputs=task.test[0])
    cfg = TrainerConfig(steps=60, batch_size=16, z_dim=1, sample_every=0, progress=False, amp="off",
                        lr_g=1e-3, log_every=10)
    trainer = AdversarialTrainer(G, D, task.train, cfg, objective=obj)
    before = (trainer.sample(batch=task.test) - task.test[1]).abs().mean()
    trainer.fit()
    after = (trainer.sample(batch=task.test) - task.test[1]).abs().mean()
    assert float(after) < 0.8 * float(before)
    assert "l1" in trainer.history and len(trainer.history["l1"]) > 0
    assert trainer.sample().shape == (32, 3, 16, 16)                            # the sample_inputs


def test_zoo_entry_replaces_the_placeholder_and_runs():
    from course_lib import zoo

    entry = zoo.get_variant("pix2pix")
    assert entry.runnable and entry.chapter == "chapters/10_pix2pix/theory"
    assert "Pix2PixObjective(100)" in zoo.render_card(entry)  # the recipe describes itself on the card
    run = zoo.run_variant("pix2pix", steps=3, n_samples=4)
    assert run.samples.shape == (4, 3, 16, 16) and run.finite


# ----------------------------------------------------------------------------------------------------------------------
# Bad input
# ----------------------------------------------------------------------------------------------------------------------
def test_bad_input():
    with pytest.raises(ValueError, match="norm"):
        UNetGenerator(norm="layer")
    with pytest.raises(TypeError, match="norm"):
        PatchDiscriminator(norm=None)
    with pytest.raises(ValueError, match="num_downs"):
        UNetGenerator(num_downs=1)
    with pytest.raises(TypeError, match="num_downs"):
        UNetGenerator(num_downs=8.0)
    with pytest.raises(ValueError, match="n_layers"):
        PatchDiscriminator(n_layers=-1)
    G = UNetGenerator(3, 3, num_downs=4, base_channels=2)
    with pytest.raises(ValueError, match="channels"):
        G(torch.randn(1, 1, 16, 16))
    with pytest.raises(ValueError, match="multiples"):
        G(torch.randn(1, 3, 24, 16))
    with pytest.raises(TypeError):
        G(torch.zeros(1, 3, 16, 16, dtype=torch.int64).numpy())
    with pytest.raises(ValueError, match="too small"):
        PatchDiscriminator(6, 2, 3)(torch.randn(1, 6, 16, 16))
    with pytest.raises(ValueError, match="lambda_l1"):
        Pix2PixObjective(-1.0)
    with pytest.raises(ValueError, match="both 0"):
        Pix2PixObjective(0.0, gan_weight=0.0)
    with pytest.raises(TypeError, match="paired"):
        Pix2PixObjective().d_loss(G, PatchDiscriminator(6, 2, 1), torch.randn(2, 3, 16, 16), None)
    with pytest.raises(ValueError, match="same N"):
        Pix2PixObjective().g_loss(G, PatchDiscriminator(6, 2, 1),
                                  (torch.randn(2, 3, 16, 16), torch.randn(3, 3, 16, 16)), None)
    with pytest.raises(TypeError):
        receptive_field([(4, 2), 3])
    with pytest.raises(ValueError, match="innermost"):
        UNetSkipBlock(4, 8)
