"""course_lib.gan.aae, clustergan, cogan and icgan: the small representation systems of chapter 7 (shapes, shared
weights, the losses they compute, short runs on the one trainer that lower what they should)."""

from __future__ import annotations

import math

import pytest
import torch

from course_lib.gan import aae, clustergan, cogan, icgan
from course_lib.gan.conditional import CGANGenerator
from course_lib.gan.models import MLPDiscriminator, MLPGenerator
from course_lib.train import AdversarialTrainer, TrainerConfig


def _cfg(steps, z, bs=16, **kw):
    return TrainerConfig(steps=steps, batch_size=bs, z_dim=z, progress=False, sample_every=0, amp="off",
                         log_every=1, **kw)


def test_aae_trains_reconstruction_down():
    torch.manual_seed(0)
    x = torch.rand(64, 1, 4, 4) * 2 - 1
    G = aae.AdversarialAutoencoder(aae.AAEEncoder((1, 4, 4), 3, 32), aae.AAEDecoder((1, 4, 4), 3, 32))
    D = aae.LatentDiscriminator(3, 16)
    h = AdversarialTrainer(G, D, x, _cfg(60, 3, lr_g=3e-3), objective=aae.AAEObjective()).fit()
    assert h["recon"][-1] < h["recon"][0]
    assert G(torch.randn(2, 3)).shape == (2, 1, 4, 4)
    with pytest.raises(ValueError, match="z_dim"):
        aae.AdversarialAutoencoder(aae.AAEEncoder((1, 4, 4), 3), aae.AAEDecoder((1, 4, 4), 4))


def test_clustergan_latent_and_objective():
    z, z_n, c = clustergan.clustergan_latent(2000, 4, 5, sigma=0.1, generator=torch.Generator().manual_seed(0))
    assert z.shape == (2000, 9) and torch.equal(z[:, 4:].argmax(1), c)
    assert z_n.std().item() == pytest.approx(0.1, rel=0.05)
    torch.manual_seed(0)
    G = clustergan.ClusterGAN(MLPGenerator(9, (1, 4, 4), hidden=(16,)), clustergan.ClusterGANEncoder((1, 4, 4), 4, 5, 16))
    D = MLPDiscriminator((1, 4, 4), hidden=(16,))
    x = torch.rand(64, 1, 4, 4) * 2 - 1
    t = AdversarialTrainer(G, D, x, _cfg(40, 9, lr_g=3e-3), objective=clustergan.ClusterGANObjective(4, 5))
    h = t.fit()
    assert sum(h["rec_c"][-5:]) < 0.5 * sum(h["rec_c"][:5])  # the encoder learns to recover the cluster
    assert G.encoder.cluster(x).shape == (64,)
    with pytest.raises(ValueError, match="z_dim"):
        clustergan.ClusterGAN(MLPGenerator(8, (1, 4, 4)), clustergan.ClusterGANEncoder((1, 4, 4), 4, 5))


def test_cogan_shares_the_right_layers():
    torch.manual_seed(0)
    G, D = cogan.CoupledGenerators(4, (1, 4, 4), hidden=8), cogan.CoupledDiscriminators((1, 4, 4), hidden=8)
    z = torch.randn(3, 4)
    out = G(z)
    a, b = G.pair(z)
    assert out.shape == (3, 2, 1, 4, 4) and torch.equal(out[:, 0], a) and torch.equal(out[:, 1], b)
    # one trunk feeds both heads: its gradient collects from both domains
    a.sum().backward(retain_graph=True)
    g_a = G.shared[0].weight.grad.clone()
    b.sum().backward()
    assert not torch.allclose(G.shared[0].weight.grad, g_a)
    assert G.heads[0][0].weight is not G.heads[1][0].weight
    assert D(out).shape == (3, 2)
    d, g = cogan.cogan_losses(D, out.detach(), out.detach())
    assert math.isfinite(d.item()) and math.isfinite(g.item())
    stack = cogan.unpaired_stack(torch.arange(6.0).view(6, 1), -torch.arange(6.0).view(6, 1))
    assert stack.shape == (6, 2, 1) and torch.equal(stack[:, 0, 0], torch.arange(6.0))
    assert sorted(stack[:, 1, 0].tolist()) == sorted((-torch.arange(6.0)).tolist())
    with pytest.raises(ValueError, match="same shape"):
        cogan.unpaired_stack(torch.zeros(2, 1), torch.zeros(3, 1))


def test_icgan_encoders_invert_the_generator():
    torch.manual_seed(0)
    G = CGANGenerator(z_dim=4, num_classes=3, out_shape=(1, 8, 8), hidden=(32,))
    E_z, E_y = icgan.IcGANEncoder((1, 8, 8), 4, 8), icgan.IcGANEncoder((1, 8, 8), 3, 8)
    x = torch.cat([torch.full((20, 1, 8, 8), v) for v in (-1.0, 0.0, 1.0)]) + 0.05 * torch.randn(60, 1, 8, 8)
    y = torch.arange(60) // 20
    h = icgan.train_icgan_encoders(G, E_z, E_y, x, y, steps=80, batch_size=32, lr=3e-3)
    assert h["z_mse"][-1] < 0.5 * h["z_mse"][0] and h["y_ce"][-1] < 0.5 * h["y_ce"][0]
    edited = icgan.icgan_edit(G, E_z, x[:5], torch.full((5,), 2))
    assert edited.shape == (5, 1, 8, 8)
    assert icgan.icgan_reconstruct(G, E_z, E_y, x[:5]).shape == (5, 1, 8, 8)
    with pytest.raises(ValueError, match="new_labels"):
        icgan.icgan_edit(G, E_z, x[:5], torch.full((4,), 2))
