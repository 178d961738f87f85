"""ProGAN (course_lib.gan.progan): pixel norm and the minibatch standard deviation against written-out references,
the equalized learning rate (Adam moves every layer at the same relative speed), the fade-in, and the growing
schedule driven by the one trainer through a callback."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from course_lib.gan import progan
from course_lib.gan.progan import (
    EqualizedConv2d,
    EqualizedLinear,
    ProGANDiscriminator,
    ProGANGenerator,
    ProgressiveGrowing,
    growth_stage,
    minibatch_stddev,
    pixel_norm,
)
from course_lib.train import AdversarialTrainer, TrainerConfig


# --- pixel norm ------------------------------------------------------------------------------------------------
def test_pixel_norm_matches_the_formula_per_pixel():
    x = torch.randn(3, 5, 4, 2, dtype=torch.float64)
    out = pixel_norm(x)
    for n in range(3):
        for h in range(4):
            for w in range(2):
                a = x[n, :, h, w]
                expected = a / math.sqrt(float((a**2).sum()) / 5 + 1e-8)
                torch.testing.assert_close(out[n, :, h, w], expected, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(out.square().mean(dim=1), torch.ones(3, 4, 2, dtype=torch.float64), rtol=1e-6,
                               atol=0)


def test_pixel_norm_vectors_zeros_and_errors():
    z = torch.randn(4, 7)
    torch.testing.assert_close(pixel_norm(z).square().mean(dim=1), torch.ones(4), rtol=1e-5, atol=1e-6)
    assert torch.equal(pixel_norm(torch.zeros(2, 3, 2, 2)), torch.zeros(2, 3, 2, 2))
    with pytest.raises(TypeError):
        pixel_norm([1.0, 2.0])
    with pytest.raises(TypeError):
        pixel_norm(torch.ones(2, 3, dtype=torch.int64))
    with pytest.raises(ValueError):
        pixel_norm(torch.ones(3))


# --- minibatch standard deviation ------------------------------------------------------------------------------
def _mbstd_reference(x: torch.Tensor, group_size: int) -> torch.Tensor:
    """A loop: group m holds samples m, m + M, m + 2M, ... (M = N / G), the authors' reshape([G, -1, ...])."""
    n = x.shape[0]
    g = min(group_size, n)
    m_groups = n // g
    stat = torch.empty(n, dtype=x.dtype)
    for m in range(m_groups):
        members = [i * m_groups + m for i in range(g)]
        group = x[members]
        var = ((group - group.mean(dim=0)) ** 2).mean(dim=0)  # population variance
        s = torch.sqrt(var + 1e-8).mean()
        stat[members] = s
    extra = stat.view(n, 1, 1, 1).expand(n, 1, *x.shape[2:])
    return torch.cat([x, extra], dim=1)


@pytest.mark.parametrize("n,group", [(8, 4), (12, 4), (6, 2), (3, 4), (1, 4), (4, 1)])
def test_minibatch_stddev_matches_a_loop(n, group):
    x = torch.randn(n, 3, 4, 5, dtype=torch.float64)
    out = minibatch_stddev(x, group)
    assert out.shape == (n, 4, 4, 5)
    torch.testing.assert_close(out, _mbstd_reference(x, group), rtol=1e-12, atol=1e-14)


def test_minibatch_stddev_edges():
    x = torch.randn(4, 2, 3, 3)
    # a constant batch has zero deviation: the statistic is sqrt(1e-8) = 1e-4, not 0 (and its gradient is finite)
    c = torch.ones(4, 2, 3, 3, requires_grad=True)
    out = minibatch_stddev(c)
    torch.testing.assert_close(out[:, -1], torch.full((4, 3, 3), 1e-4))
    out[:, -1].sum().backward()
    assert torch.isfinite(c.grad).all()
    # invariant to a shift of the whole batch; scales with it
    torch.testing.assert_close(minibatch_stddev(x + 3.0)[:, -1], minibatch_stddev(x)[:, -1], rtol=1e-4, atol=1e-5)
    assert minibatch_stddev(torch.randn(4, 5))[:, -1].shape == (4,)
    with pytest.raises(ValueError, match="multiple"):
        minibatch_stddev(torch.randn(6, 2, 3, 3), 4)
    with pytest.raises(ValueError):
        minibatch_stddev(torch.randn(4, 2, 3))
    with pytest.raises(TypeError):
        minibatch_stddev(x, 2.0)


# --- equalized learning rate -----------------------------------------------------------------------------------
def test_equalized_layers_have_he_scale_at_run_time():
    torch.manual_seed(0)
    layer = EqualizedLinear(400, 300)
    assert layer.weight.std().item() == pytest.approx(1.0, rel=0.02)
    assert layer.effective_weight().std().item() == pytest.approx(math.sqrt(2 / 400), rel=0.02)
    conv = EqualizedConv2d(16, 32, 3)
    assert conv.effective_weight().std().item() == pytest.approx(math.sqrt(2 / (16 * 9)), rel=0.05)
    slow = EqualizedLinear(400, 300, lr_mul=0.01)
    assert slow.effective_weight().std().item() == pytest.approx(math.sqrt(2 / 400), rel=0.02)
    x = torch.randn(5, 400)
    torch.testing.assert_close(layer(x), x @ layer.effective_weight().T + layer.bias)


def _relative_step(layers: list[nn.Module], effective) -> list[float]:
    """One Adam step on a random loss; per layer, ||change of the effective weight|| / ||effective weight||."""
    params = [p for layer in layers for p in layer.parameters()]
    opt = torch.optim.Adam(params, lr=1e-3)
    before = [effective(layer).detach().clone() for layer in layers]
    loss = sum((layer(torch.randn(16, layer.in_features)) * torch.randn(16, layer.out_features)).sum()
               for layer in layers)
    opt.zero_grad()
    loss.backward()
    opt.step()
    return [float((effective(layer).detach() - b).norm() / b.norm()) for layer, b in zip(layers, before)]


def test_adam_adapts_every_equalized_layer_at_the_same_speed():
    torch.manual_seed(0)
    fan_ins = (8, 128, 2048)
    eq = _relative_step([EqualizedLinear(f, 64) for f in fan_ins], lambda m: m.effective_weight())
    plain_layers = []
    for f in fan_ins:  # the usual alternative: He's constant baked into the initial weights
        layer = nn.Linear(f, 64)
        nn.init.normal_(layer.weight, std=math.sqrt(2 / f))
        plain_layers.append(layer)
    plain = _relative_step(plain_layers, lambda m: m.weight)
    assert max(eq) / min(eq) < 1.1  # the same relative speed in every layer
    assert plain[-1] / plain[0] > 10  # with He init in the weights, wide layers move ~sqrt(2048/8) = 16x faster


# --- growing and fade-in ---------------------------------------------------------------------------------------
def _pair():
    torch.manual_seed(0)
    return ProGANGenerator(8, 1, 16, widths=(8, 8, 4), level=0), ProGANDiscriminator(1, 16, widths=(8, 8, 4), level=0)


def test_fade_in_starts_from_the_previous_resolution():
    G, D = _pair()
    z = torch.randn(4, 8)
    x = torch.randn(4, 1, 16, 16)
    for level in (1, 2):
        G.set_stage(level - 1, 1.0)
        D.set_stage(level - 1, 1.0)
        old_g, old_d = G(z), D(x)
        G.set_stage(level, 0.0)
        D.set_stage(level, 0.0)
        assert torch.equal(G(z), old_g)
        torch.testing.assert_close(D(x), old_d, rtol=1e-5, atol=1e-6)
        G.set_stage(level, 1.0)
        assert not torch.allclose(G(z), old_g)


def test_generator_output_is_blocky_at_low_resolution_and_shapes():
    G, D = _pair()
    G.set_stage(0)
    img = G(torch.randn(2, 8))
    assert img.shape == (2, 1, 16, 16)
    torch.testing.assert_close(img, img[:, :, ::4, ::4].repeat_interleave(4, 2).repeat_interleave(4, 3))
    # average pooling the upsampled fake gives the low-resolution fake back exactly
    torch.testing.assert_close(torch.nn.functional.avg_pool2d(img, 4), img[:, :, ::4, ::4])
    assert D(img).shape == (2,)
    with pytest.raises(ValueError):
        G.set_stage(3)
    with pytest.raises(ValueError):
        G.set_stage(1, 1.5)
    with pytest.raises(ValueError):
        D(torch.randn(2, 1, 8, 8))
    with pytest.raises(ValueError):
        ProGANGenerator(8, 1, 24)


def test_growth_stage_schedule():
    stages = [growth_stage(s, 3, 2, 3) for s in range(13)]
    assert stages[:3] == [(0, 1.0)] * 3
    assert stages[3:5] == [(1, 0.5), (1, 1.0)]
    assert stages[5:8] == [(1, 1.0)] * 3
    assert stages[8:10] == [(2, 0.5), (2, 1.0)]
    assert stages[12] == (2, 1.0)
    assert ProgressiveGrowing(2, 3).total_steps(3) == 13
    with pytest.raises(ValueError):
        ProgressiveGrowing(0, 0)


def test_the_one_trainer_grows_the_networks_through_the_callback(tmp_path):
    G, D = _pair()
    grow = ProgressiveGrowing(fade_steps=2, stable_steps=2)
    data = torch.rand(32, 1, 16, 16) * 2 - 1
    cfg = TrainerConfig(steps=10, batch_size=8, progress=False, sample_every=0, log_every=1,
                        checkpoint_dir=str(tmp_path), checkpoint_every=5)
    seen = []
    from course_lib.train import LambdaCallback

    watch = LambdaCallback(on_step_end=lambda t, step, logs: seen.append((t.G.level, t.G.alpha, t.D.level)))
    trainer = AdversarialTrainer(G, D, data, cfg, callbacks=[grow, watch])
    trainer.fit(5)
    # after step s the callback has set the stage of step s + 1
    assert seen == [(0, 1.0, 0), (1, 0.5, 1), (1, 1.0, 1), (1, 1.0, 1), (1, 1.0, 1)]
    assert all(torch.isfinite(torch.tensor(trainer.history["d_loss"])))
    # a fresh trainer resumed from the checkpoint continues in the right phase
    G2, D2 = _pair()
    resumed = AdversarialTrainer(G2, D2, data, cfg, callbacks=[ProgressiveGrowing(2, 2)])
    resumed.fit(10, resume=True)
    assert (G2.level, G2.alpha) == growth_stage(10, 3, 2, 2)
    assert [lvl for _, lvl, _ in grow.history] == [0, 1]
