"""course_lib.gan.semi_supervised: the K-logit form equals the explicit K+1-class form (fake logit 0), the real
probability Z/(Z+1), feature matching, the objective and the baseline, bad inputs."""

from __future__ import annotations

import math

import pytest
import torch

from course_lib.gan import semi_supervised as S
from course_lib.gan.dcgan import DCGANGenerator
from course_lib.train import AdversarialTrainer, TrainerConfig


def test_real_probability_is_z_over_z_plus_one():
    logits = torch.tensor([[0.0, 0.0], [3.0, -1.0], [80.0, 79.0]], dtype=torch.float64)
    log_d, log_1md = S.real_log_prob(logits)
    z = logits.exp().sum(1)
    torch.testing.assert_close(log_d.exp(), z / (z + 1))
    torch.testing.assert_close(log_1md.exp(), 1 / (z + 1))
    assert torch.isfinite(log_1md).all()


def test_k_logits_equal_k_plus_one_with_fake_logit_zero():
    g = torch.Generator().manual_seed(0)
    lab, unl, fake = (torch.randn(n, 4, generator=g, dtype=torch.float64) for n in (5, 6, 7))
    y = torch.randint(4, (5,), generator=g)
    pad = lambda t: torch.cat([t, torch.zeros(len(t), 1, dtype=t.dtype)], 1)  # noqa: E731
    torch.testing.assert_close(S.ssgan_d_loss(lab, y, unl, fake), S.ssgan_d_loss_k_plus_one(pad(lab), y, pad(unl),
                                                                                            pad(fake)))
    # subtracting any f(x) from all K+1 logits changes nothing (the reason one logit may be fixed at 0)
    shift = lambda t: t - torch.randn(len(t), 1, generator=g, dtype=t.dtype)  # noqa: E731
    torch.testing.assert_close(S.ssgan_d_loss_k_plus_one(shift(pad(lab)), y, shift(pad(unl)), shift(pad(fake))),
                               S.ssgan_d_loss(lab, y, unl, fake))


def test_feature_matching_and_bad_inputs():
    a, b = torch.randn(8, 3), torch.randn(5, 3)
    assert S.feature_matching_loss(a, b).item() == pytest.approx(float(((a.mean(0) - b.mean(0)) ** 2).sum()))
    with pytest.raises(ValueError, match="0..3"):
        S.ssgan_d_loss(torch.randn(2, 4), torch.tensor([0, 4]), torch.randn(2, 4), torch.randn(2, 4))
    with pytest.raises(TypeError, match="floating"):
        S.feature_matching_loss(torch.ones(2, 2, dtype=torch.long), b)


def test_objective_and_baseline_run():
    torch.manual_seed(0)
    x = torch.rand(64, 1, 8, 8) * 2 - 1
    y = torch.arange(20) % 10
    D = S.SSGANDiscriminator(num_classes=10, image_size=8, base=4)
    G = DCGANGenerator(z_dim=4, image_size=8, channels=1, base=4)
    cfg = TrainerConfig(steps=3, batch_size=16, z_dim=4, progress=False, sample_every=0, amp="off", log_every=1)
    h = AdversarialTrainer(G, D, x, cfg, objective=S.SemiSupervisedObjective(x[:20], y, labelled_batch=8)).fit()
    assert len(h["acc_labelled"]) == 3 and all(math.isfinite(v) for v in h["d_loss"])
    net = S.SSGANDiscriminator(num_classes=2, image_size=8, base=4)
    xs = torch.cat([torch.full((16, 1, 8, 8), -1.0), torch.full((16, 1, 8, 8), 1.0)])
    ys = torch.arange(32) // 16
    losses = S.train_classifier(net, xs, ys, steps=60, batch_size=16, lr=3e-3)
    assert losses[-1] < losses[0] and S.accuracy(net, xs, ys) == 1.0
