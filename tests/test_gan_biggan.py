"""BigGAN's parts: the truncation trick against SciPy's truncated normal, orthogonal regularization against its
closed-form gradient, conditional BN, the hierarchical latent, BigGAN-deep's block, the objective on the trainer."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats

from course_lib.exercises.ch08 import ks_distance
from course_lib.gan import biggan
from course_lib.gan.biggan import (BigGANDiscriminator, BigGANGenerator, BigGANObjective, DeepGBlock,
                                   LinearConditionalBatchNorm2d, orthogonal_regularization, truncated_noise)


# ----------------------------------------------------------------------------------------------------------------------
# truncation
# ----------------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("t", [0.3, 1.0, 2.5])
def test_truncated_noise_is_the_truncated_normal(t):
    z = truncated_noise(5000, 4, t, generator=torch.Generator().manual_seed(0))
    assert z.shape == (5000, 4) and z.dtype == torch.float32 and float(z.abs().max()) <= t
    res = stats.kstest(z.flatten().double().numpy(), stats.truncnorm(-t, t).cdf)
    assert res.pvalue > 1e-3
    assert ks_distance(z, t) == pytest.approx(res.statistic, abs=1e-6)
    var = 1 - 2 * t * stats.norm.pdf(t) / (2 * stats.norm.cdf(t) - 1)  # the theory page's v(t)
    assert float(z.double().var()) == pytest.approx(var, rel=0.05)
    assert var == pytest.approx(stats.truncnorm(-t, t).var(), rel=1e-9)


def test_truncated_normal_cdf_matches_scipy():
    x = torch.linspace(-2, 2, 41, dtype=torch.float64)
    np.testing.assert_allclose(biggan.truncated_normal_cdf(x, 1.5).numpy(), stats.truncnorm(-1.5, 1.5).cdf(x.numpy()),
                               atol=1e-12)


def test_truncated_noise_uses_the_generator():
    a = truncated_noise(10, 3, 0.5, generator=torch.Generator().manual_seed(4))
    b = truncated_noise(10, 3, 0.5, generator=torch.Generator().manual_seed(4))
    c = truncated_noise(10, 3, 0.5, generator=torch.Generator().manual_seed(5))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert truncated_noise(0, 3, 1.0).shape == (0, 3)


@pytest.mark.parametrize("args,err", [((3, 2, 0.0), ValueError), ((3, 2, -1.0), ValueError),
                                      ((3, 2, float("inf")), ValueError), ((3, 2, "1"), TypeError),
                                      ((3.0, 2, 1.0), TypeError), ((-1, 2, 1.0), ValueError)])
def test_truncated_noise_bad_input(args, err):
    with pytest.raises(err):
        truncated_noise(*args)
    with pytest.raises(TypeError):
        truncated_noise(2, 2, 1.0, generator=0)


# ----------------------------------------------------------------------------------------------------------------------
# orthogonal regularization
# ----------------------------------------------------------------------------------------------------------------------
def _loop_penalty(w: torch.Tensor) -> float:
    rows = w.reshape(w.shape[0], -1).double()
    return sum(float(rows[a] @ rows[b]) ** 2 for a in range(len(rows)) for b in range(len(rows)) if a != b)


@pytest.mark.parametrize("shape", [(5, 7), (9, 3), (6, 2, 3, 3)])
def test_orthogonal_regularization_value_and_gradient(shape):
    torch.manual_seed(0)
    w = torch.randn(*shape, dtype=torch.float64, requires_grad=True)
    r = orthogonal_regularization(w, beta=0.3)
    assert r.dim() == 0 and r.dtype == torch.float64
    assert r.item() == pytest.approx(0.3 * _loop_penalty(w.detach()), rel=1e-10)
    r.backward()
    m = w.detach().reshape(shape[0], -1)
    off = (m @ m.T) * (1 - torch.eye(shape[0], dtype=torch.float64))
    torch.testing.assert_close(w.grad.reshape(shape[0], -1), 0.3 * 4 * off @ m)  # Proposition (ii)


def test_orthogonal_rows_cost_nothing_whatever_their_norms():
    q, _ = torch.linalg.qr(torch.randn(6, 4, dtype=torch.float64))
    w = torch.tensor([0.1, 1.0, 5.0, 20.0], dtype=torch.float64)[:, None] * q.T
    assert float(orthogonal_regularization(w, 1.0)) < 1e-9
    full = float((w @ w.T - torch.eye(4, dtype=torch.float64)).square().sum())
    norms = float(((w.square().sum(1) - 1) ** 2).sum())
    assert full == pytest.approx(norms, rel=1e-9)  # Proposition (iii): the full penalty is only the norms here


def test_orthogonal_regularization_bad_input_and_model_sum():
    with pytest.raises(TypeError):
        orthogonal_regularization([[1.0]])
    with pytest.raises(ValueError):
        orthogonal_regularization(torch.randn(5))
    with pytest.raises(ValueError):
        orthogonal_regularization(torch.ones(2, 2, dtype=torch.int64))
    with pytest.raises(ValueError):
        orthogonal_regularization(torch.randn(2, 2), beta=-1.0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Conv2d(1, 2, 3), torch.nn.BatchNorm2d(2))
    total = biggan.model_orthogonal_regularization(net, 1e-2)
    expected = orthogonal_regularization(net[0].weight, 1e-2) + orthogonal_regularization(net[1].weight, 1e-2)
    torch.testing.assert_close(total, expected)
    with pytest.raises(ValueError):
        biggan.model_orthogonal_regularization(torch.nn.BatchNorm2d(2))


# ----------------------------------------------------------------------------------------------------------------------
# conditional BN, hierarchical latent, BigGAN-deep
# ----------------------------------------------------------------------------------------------------------------------
def test_conditional_bn_starts_as_plain_bn_and_then_depends_on_c():
    torch.manual_seed(0)
    cbn = LinearConditionalBatchNorm2d(4, 6)
    x, c = torch.randn(5, 4, 3, 3), torch.randn(5, 6)
    plain = torch.nn.functional.batch_norm(x, None, None, training=True, eps=1e-5)
    torch.testing.assert_close(cbn(x, c), plain)
    with torch.no_grad():
        cbn.gain.weight.normal_()
        cbn.bias.weight.normal_()
    gamma, beta = 1 + c @ cbn.gain.weight.T, c @ cbn.bias.weight.T
    torch.testing.assert_close(cbn(x, c), gamma[:, :, None, None] * plain + beta[:, :, None, None])
    with pytest.raises(ValueError):
        cbn(x, torch.randn(5, 5))


def test_hierarchical_latent_reaches_every_block():
    torch.manual_seed(0)
    G = BigGANGenerator(z_dim=12, n_classes=3, resolution=8, widths=8, n_blocks=2, embed_dim=4).eval()
    for cbn in G.modules():
        if isinstance(cbn, LinearConditionalBatchNorm2d):
            with torch.no_grad():
                cbn.gain.weight.normal_(std=0.5)
    z, y = torch.randn(2, 12), torch.tensor([0, 2])
    base = G(z, y)
    for chunk in range(3):  # the input chunk and one per block
        z2 = z.clone()
        z2[:, 4 * chunk: 4 * chunk + 4] += 1.0
        assert (G(z2, y) - base).abs().max() > 1e-4, chunk
    assert (G(z, torch.tensor([1, 1])) - base).abs().max() > 1e-4  # the class embedding matters
    assert [t.shape[1] for t in biggan.split_latent(z, 3)] == [4, 4, 4]
    with pytest.raises(ValueError, match="multiple"):
        BigGANGenerator(z_dim=10, n_blocks=2)
    with pytest.raises(ValueError):
        G(z, torch.tensor([0, 3]))
    with pytest.raises(ValueError):
        G(z, torch.tensor([0.0, 1.0]))


def test_deep_block_shapes_and_skip():
    torch.manual_seed(0)
    block = DeepGBlock(16, 8, cond_dim=5)
    assert block.mid == 4  # channels cut 4x
    x, c = torch.randn(3, 16, 4, 4), torch.randn(3, 5)
    assert block(x, c).shape == (3, 8, 8, 8)
    with torch.no_grad():
        block.conv4.weight.zero_()
        block.conv4.bias.zero_()
    up = torch.nn.functional.interpolate(x[:, :8], scale_factor=2, mode="nearest")
    torch.testing.assert_close(block(x, c), up)  # the skip keeps the first C_out channels, upsampled
    with pytest.raises(ValueError):
        DeepGBlock(8, 16, cond_dim=5)
    G = BigGANGenerator(z_dim=12, n_classes=3, resolution=8, widths=(16, 16, 8), n_blocks=2, deep=True)
    assert G(torch.randn(2, 12), torch.tensor([0, 1])).shape == (2, 1, 8, 8)


def test_objective_trains_on_labelled_data():
    from course_lib.train import AdversarialTrainer, TrainerConfig

    torch.manual_seed(0)
    x, y = torch.rand(64, 1, 8, 8) * 2 - 1, torch.randint(0, 3, (64,))
    G = BigGANGenerator(z_dim=6, n_classes=3, resolution=8, widths=8, n_blocks=1, embed_dim=4, attention_after=None)
    D = BigGANDiscriminator(resolution=8, widths=8, n_blocks=1, n_classes=3, attention_after=None)
    config = TrainerConfig(steps=3, batch_size=16, z_dim=6, progress=False, sample_every=0, log_every=1, amp="off")
    trainer = AdversarialTrainer(G, D, (x, y), config, objective=BigGANObjective(1e-3, n_classes=3))
    history = trainer.fit()
    assert all(np.isfinite(history["d_loss"])) and "ortho" in history
    assert trainer.sample(z=torch.randn(6, 6)).shape == (6, 1, 8, 8)
    with pytest.raises(ValueError):
        BigGANObjective(-1.0)
