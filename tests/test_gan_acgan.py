"""course_lib.gan.acgan: ACGAN, TAC-GAN and ADC-GAN losses against their definitions written with probabilities,
the discriminator's heads, the objective's three modes on the one trainer, bad inputs."""

from __future__ import annotations

import math

import pytest
import torch

from course_lib.gan import acgan as A
from course_lib.gan.conditional import ConditionalDCGANGenerator
from course_lib.train import AdversarialTrainer, TrainerConfig


def _batch(seed=0, n=6, m=5, k=4, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(n, generator=g, dtype=dtype), torch.randn(m, generator=g, dtype=dtype),
            torch.randn(n, k, generator=g, dtype=dtype), torch.randn(m, k, generator=g, dtype=dtype),
            torch.randint(k, (n,), generator=g), torch.randint(k, (m,), generator=g))


def _log_sig(t):
    return math.log(1 / (1 + math.exp(-t)))


def _log_p(row, y):
    p = row.exp() / row.exp().sum()
    return math.log(float(p[y]))


def test_acgan_losses_equal_the_papers_likelihoods():
    sr, sf, cr, cf, yr, yf = _batch()
    L_S = (sum(_log_sig(float(t)) for t in sr) / len(sr) + sum(_log_sig(-float(t)) for t in sf) / len(sf))
    L_C_real = sum(_log_p(cr[i], yr[i]) for i in range(len(yr))) / len(yr)
    L_C_fake = sum(_log_p(cf[i], yf[i]) for i in range(len(yf))) / len(yf)
    assert A.acgan_d_loss(sr, sf, cr, cf, yr, yf).item() == pytest.approx(-(L_S + L_C_real + L_C_fake), rel=1e-10)
    assert A.acgan_d_loss(sr, sf, cr, cf, yr, yf, classify_fakes=False).item() == pytest.approx(
        -(L_S + L_C_real), rel=1e-10)
    g_src = -sum(_log_sig(float(t)) for t in sf) / len(sf)
    assert A.acgan_g_loss(sf, cf, yf).item() == pytest.approx(g_src - L_C_fake, rel=1e-10)


def test_tac_and_adc_losses():
    sr, sf, cr, cf, yr, yf = _batch(1)
    k = cr.shape[1]
    twin = torch.randn(len(yf), k, dtype=torch.float64)
    ce = lambda c, y: -sum(_log_p(c[i], y[i]) for i in range(len(y))) / len(y)  # noqa: E731
    base_d = A.acgan_d_loss(sr, sf, cr, cf, yr, yf, classify_fakes=False).item()
    assert A.tac_d_loss(sr, sf, cr, twin, yr, yf).item() == pytest.approx(base_d + ce(twin, yf), rel=1e-10)
    g_src = A.acgan_g_loss(sf, cf, yf).item() - ce(cf, yf)
    assert A.tac_g_loss(sf, cf, twin, yf).item() == pytest.approx(g_src + ce(cf, yf) - ce(twin, yf), rel=1e-10)
    c2r, c2f = torch.randn(len(yr), 2 * k, dtype=torch.float64), torch.randn(len(yf), 2 * k, dtype=torch.float64)
    d = A.adc_d_loss(sr, sf, c2r, c2f, yr, yf).item()
    assert d == pytest.approx(base_d - ce(cr, yr) + ce(c2r, yr) + ce(c2f, yf + k), rel=1e-10)
    # G's class term: -log C(y+|x) + log C(y-|x) = log-ratio of the fake and real versions of the label
    g = A.adc_g_loss(sf, c2f, yf).item()
    ratio = sum(float(c2f[i, yf[i] + k] - c2f[i, yf[i]]) for i in range(len(yf))) / len(yf)
    assert g == pytest.approx(g_src + ratio, rel=1e-10)


def test_losses_are_stable_for_large_logits():
    sr, sf, cr, cf, yr, yf = _batch(2, dtype=torch.float32)
    d = A.acgan_d_loss(sr * 100, sf * 100, cr * 100, cf * 100, yr, yf)
    assert torch.isfinite(d)


def test_bad_inputs():
    sr, sf, cr, cf, yr, yf = _batch()
    with pytest.raises(TypeError, match="bool"):
        A.acgan_d_loss(sr, sf, cr, cf, yr, yf, classify_fakes=1)
    with pytest.raises(ValueError, match="columns"):
        A.acgan_d_loss(sr, sf, cr, cf[:, :3], yr, yf)
    with pytest.raises(TypeError, match="integer"):
        A.acgan_g_loss(sf, cf, yf.double())
    with pytest.raises(ValueError, match="2K"):
        A.adc_g_loss(sf, torch.randn(len(yf), 5, dtype=torch.float64), yf)
    with pytest.raises(ValueError, match="mode"):
        A.AuxClassifierDiscriminator(mode="bgan")


@pytest.mark.parametrize("mode,outputs", [("acgan", 1 + 3), ("tac", 1 + 6), ("adc", 1 + 6)])
def test_objective_modes_train(mode, outputs):
    torch.manual_seed(0)
    D = A.AuxClassifierDiscriminator(num_classes=3, image_size=8, base=4, mode=mode)
    G = ConditionalDCGANGenerator(z_dim=4, num_classes=3, image_size=8, base=4)
    assert D(torch.randn(2, 1, 8, 8)).shape == (2, outputs)
    x, y = torch.rand(48, 1, 8, 8) * 2 - 1, torch.arange(48) % 3
    cfg = TrainerConfig(steps=3, batch_size=16, z_dim=4, progress=False, sample_every=0, amp="off", log_every=1)
    t = AdversarialTrainer(G, D, (x, y), cfg, objective=A.AuxClassifierObjective(3, mode=mode))
    h = t.fit()
    assert len(h["acc_real"]) == 3 and all(math.isfinite(v) for v in h["d_loss"] + h["g_loss"])
