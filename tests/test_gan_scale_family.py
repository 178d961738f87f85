"""Chapter 8's other modules: ResNet blocks, the SAGAN recipe and networks, LOGAN's step (against the damped
Gauss-Newton solve), U-Net GAN's CutMix and consistency, IC-GAN's neighbourhoods (against a brute-force sort),
self-modulation, BiGAN on the one trainer; bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from course_lib.gan import instance_conditioning as ic
from course_lib.gan import logan, unet_gan
from course_lib.gan.bigan import BiGANDiscriminator, BiGANGenerator, BiGANObjective
from course_lib.gan.resnet_blocks import DBlock, GBlock
from course_lib.gan.sagan import SAGAN_RECIPE, SAGANDiscriminator, SAGANGenerator, sagan_config
from course_lib.gan.self_modulation import SelfModulatedBatchNorm2d, SelfModulatedGenerator


# ----------------------------------------------------------------------------------------------------------------------
# ResNet blocks and SAGAN
# ----------------------------------------------------------------------------------------------------------------------
def test_blocks_shapes_and_shortcuts():
    torch.manual_seed(0)
    g = GBlock(8, 4)
    assert g(torch.randn(2, 8, 3, 3)).shape == (2, 4, 6, 6)
    assert isinstance(GBlock(4, 4, upsample=False).shortcut, nn.Identity)
    d = DBlock(1, 8, preactivation=False)
    x = torch.randn(2, 1, 8, 8)
    assert d(x).shape == (2, 8, 4, 4)
    with torch.no_grad():  # residual branch off: the optimized block pools, then convolves
        d.conv2.weight.zero_()
        d.conv2.bias.zero_()
    torch.testing.assert_close(d(x), d.shortcut(nn.functional.avg_pool2d(x, 2)))
    with pytest.raises(ValueError):
        g(torch.randn(2, 4, 3, 3))
    with pytest.raises(TypeError):
        GBlock(8.0, 4)


def test_sagan_recipe_is_the_papers():
    assert SAGAN_RECIPE == {"loss": "hinge", "lr_d": 4e-4, "lr_g": 1e-4, "betas": (0.0, 0.9), "n_critic": 1}
    config = sagan_config(steps=5, batch_size=8)
    assert (config.loss, config.lr_d, config.lr_g, config.betas, config.steps) == ("hinge", 4e-4, 1e-4, (0.0, 0.9), 5)


def test_sagan_networks_have_spectral_norm_and_attention():
    torch.manual_seed(0)
    G, D = SAGANGenerator(16, 1, 16, widths=8, n_blocks=2), SAGANDiscriminator(1, 16, widths=8, n_blocks=2,
                                                                                 n_classes=3)
    for net in (G, D):
        convs = [m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
        assert convs and all(nn.utils.parametrize.is_parametrized(m, "weight") for m in convs)
        assert net.attention is not None and net.attention.gamma.item() == 0.0
    x = G(torch.randn(4, 16)).detach()
    assert x.shape == (4, 1, 16, 16) and float(x.abs().max()) <= 1
    y = torch.tensor([0, 1, 2, 0])
    D.eval()  # no power iteration between the calls: the same normalised weights
    with torch.no_grad():
        phi = D.features(x)
        torch.testing.assert_close(D(x, y), D(x) + (D.embed(y) * phi).sum(1))  # the projection term
    with pytest.raises(ValueError):
        SAGANGenerator(16, 1, 10, n_blocks=2)
    with pytest.raises(ValueError):
        SAGANDiscriminator(1, 16, n_blocks=2)(x, y)
    with pytest.raises(ValueError):
        G(torch.randn(4, 15))


# ----------------------------------------------------------------------------------------------------------------------
# LOGAN
# ----------------------------------------------------------------------------------------------------------------------
class _Quadratic(nn.Module):
    """D(x) = -||x - c||^2 / 2 on flattened inputs (a smooth score with a known gradient)."""

    def __init__(self, c):
        super().__init__()
        self.c = c

    def forward(self, x):
        return -0.5 * (x.reshape(x.shape[0], -1) - self.c).square().sum(1)


def test_natural_step_is_the_damped_gauss_newton_solve():
    torch.manual_seed(0)
    G = nn.Linear(5, 3).double()
    D = _Quadratic(torch.randn(3, dtype=torch.float64))
    z = torch.randn(4, 5, dtype=torch.float64)
    _, g = logan.latent_gradient(G, D, z)
    z2 = logan.latent_step(G, D, z, step_size=0.7, natural=True, damping=2.0)
    for n in range(4):
        solve = torch.linalg.solve(2.0 * torch.eye(5, dtype=torch.float64) + torch.outer(g[n], g[n]), g[n])
        torch.testing.assert_close(z2[n] - z[n], 0.7 * solve)
        assert float((z2[n] - z[n]).norm()) <= 0.7 / (2 * math.sqrt(2.0)) + 1e-12  # the proposition's bound
    plain = logan.latent_step(G, D, z, step_size=0.01, natural=False)
    torch.testing.assert_close(plain - z, 0.01 * g)
    assert G.weight.grad is None  # the networks get no gradient


def test_a_small_step_raises_the_score():
    torch.manual_seed(1)
    G = nn.Sequential(nn.Linear(4, 6), nn.Tanh())
    D = _Quadratic(torch.zeros(6) + 0.3)
    z = torch.randn(16, 4)
    rep = logan.step_report(G, D, z, natural=True, step_size=0.5, damping=1.0)
    assert rep["score_after"] > rep["score_before"] and rep["step_norm"] > 0
    assert float(logan.latent_step(G, D, z, natural=False, step_size=10.0, clip=1.0).abs().max()) <= 1.0
    with pytest.raises(ValueError):
        logan.latent_step(G, D, z, step_size=0.0)
    with pytest.raises(ValueError):
        logan.latent_step(G, D, z, damping=0.0)
    with pytest.raises(ValueError):
        logan.latent_gradient(G, D, torch.randn(4))


# ----------------------------------------------------------------------------------------------------------------------
# U-Net GAN
# ----------------------------------------------------------------------------------------------------------------------
class _Pointwise(nn.Module):
    """A 'discriminator' whose decoder acts pixel by pixel: mixing commutes with it, so the consistency loss is 0."""

    def both(self, x):
        return x.mean(dim=(1, 2, 3)), 2 * x[:, 0] - 0.5


def test_cutmix_and_consistency():
    g = torch.Generator().manual_seed(0)
    m = unet_gan.cutmix_mask(64, 8, 8, generator=g)
    assert m.shape == (64, 8, 8) and set(m.unique().tolist()) <= {0.0, 1.0}
    assert 0.2 < float(m.mean()) < 0.8  # both parts occur
    real, fake = torch.randn(64, 2, 8, 8), torch.randn(64, 2, 8, 8)
    mixed = unet_gan.cutmix(real, fake, m)
    torch.testing.assert_close(mixed, torch.where(m[:, None].bool(), real, fake))
    assert float(unet_gan.consistency_loss(_Pointwise(), real, fake, m)) < 1e-12
    torch.manual_seed(0)
    D = unet_gan.UNetDiscriminator(channels=2, resolution=8, width=4, depth=2)
    img, pix = D.both(real)
    assert img.shape == (64,) and pix.shape == (64, 8, 8)
    assert unet_gan.consistency_loss(D, real, fake, m).item() > 0  # a real U-Net does not commute by itself
    loss, logs = unet_gan.unet_d_loss(D, real, fake, m)
    loss.backward()
    assert math.isfinite(loss.item()) and {"d_enc", "d_dec", "d_mix", "consistency"} <= set(logs)
    assert math.isfinite(unet_gan.unet_g_loss(D, fake).item())
    with pytest.raises(ValueError):
        unet_gan.cutmix(real, fake[:, :1], m)
    with pytest.raises(ValueError):
        unet_gan.UNetDiscriminator(resolution=10, depth=2)


# ----------------------------------------------------------------------------------------------------------------------
# IC-GAN
# ----------------------------------------------------------------------------------------------------------------------
def test_knn_by_cosine_similarity_matches_brute_force():
    torch.manual_seed(0)
    feats = torch.randn(40, 6, dtype=torch.float64)
    scaled = feats * torch.rand(40, 1, dtype=torch.float64).mul(10).add(0.1)  # norms must not matter
    nb = ic.knn_neighbourhoods(scaled, 5, chunk=7)
    unit = feats.numpy() / np.linalg.norm(feats.numpy(), axis=1, keepdims=True)
    sims = unit @ unit.T
    for i in range(40):
        order = np.argsort(-sims[i], kind="stable")[:5]
        assert nb[i, 0] == i
        assert set(nb[i].tolist()) == set(order.tolist())
    i, j = ic.sample_instance_pairs(nb, 100, generator=torch.Generator().manual_seed(1))
    assert all(int(jj) in nb[int(ii)].tolist() for ii, jj in zip(i, j))
    with pytest.raises(ValueError):
        ic.knn_neighbourhoods(feats, 41)
    with pytest.raises(ValueError):
        ic.knn_neighbourhoods(torch.randn(3), 1)
    with pytest.raises(TypeError):
        ic.knn_neighbourhoods(feats.numpy(), 2)
    with pytest.raises(ValueError):
        ic.knn_neighbourhoods(torch.tensor([[float("nan"), 1.0]]), 1)


# ----------------------------------------------------------------------------------------------------------------------
# self-modulation
# ----------------------------------------------------------------------------------------------------------------------
def test_self_modulation_starts_as_bn_and_uses_z():
    torch.manual_seed(0)
    sm = SelfModulatedBatchNorm2d(4, 6, hidden=8)
    x, z = torch.randn(5, 4, 3, 3), torch.randn(5, 6)
    torch.testing.assert_close(sm(x, z), nn.functional.batch_norm(x, None, None, training=True))
    with torch.no_grad():
        sm.gamma[2].weight.normal_()
    assert (sm(x, z) - sm(x, z.flip(0))).abs().max() > 1e-3
    G = SelfModulatedGenerator(z_dim=8, resolution=8, widths=8, n_blocks=2, hidden=8)
    assert G(torch.randn(3, 8)).shape == (3, 1, 8, 8)
    with pytest.raises(ValueError):
        sm(x, torch.randn(5, 5))


# ----------------------------------------------------------------------------------------------------------------------
# BiGAN
# ----------------------------------------------------------------------------------------------------------------------
def test_bigan_trains_with_the_one_trainer():
    from course_lib.train import AdversarialTrainer, TrainerConfig

    torch.manual_seed(0)
    x = torch.rand(64, 1, 8, 8) * 2 - 1
    G, D = BiGANGenerator(6, (1, 8, 8), 16), BiGANDiscriminator(6, (1, 8, 8), 16)
    assert G.encode(x).shape == (64, 6)
    enc_before = [p.detach().clone() for p in G.encoder.parameters()]
    config = TrainerConfig(steps=3, batch_size=16, z_dim=6, progress=False, sample_every=0, log_every=1, amp="off")
    history = AdversarialTrainer(G, D, x, config, objective=BiGANObjective()).fit()
    assert all(math.isfinite(v) for v in history["d_loss"]) and "recon_l1" in history
    assert any(not torch.equal(a, b) for a, b in zip(enc_before, G.encoder.parameters()))  # E is trained with G
    with pytest.raises(ValueError):
        D(torch.randn(2, 10))
    with pytest.raises(ValueError):
        G.encode(torch.randn(2, 1, 4, 4))


def test_unet_gan_and_logan_objectives_train_and_resume_state():
    from course_lib.gan.logan import LOGANObjective
    from course_lib.gan.unet_gan import UNetDiscriminator, UNetGANObjective
    from course_lib.train import AdversarialTrainer, TrainerConfig

    torch.manual_seed(0)
    x = torch.rand(64, 1, 8, 8) * 2 - 1
    config = TrainerConfig(steps=2, batch_size=16, z_dim=8, progress=False, sample_every=0, log_every=1, amp="off")
    objective = UNetGANObjective(mix_prob=1.0)
    G = SAGANGenerator(8, 1, 8, widths=4, n_blocks=1, attention_after=None)
    history = AdversarialTrainer(G, UNetDiscriminator(1, 8, width=4, depth=2), x, config, objective=objective).fit()
    assert "consistency" in history and all(math.isfinite(v) for v in history["d_loss"])
    state = objective.state_dict()
    other = UNetGANObjective()
    other.load_state_dict(state)
    assert torch.equal(other.generator.get_state(), objective.generator.get_state())
    G2 = SAGANGenerator(8, 1, 8, widths=4, n_blocks=1, attention_after=None)
    D2 = SAGANDiscriminator(1, 8, widths=4, n_blocks=1, attention_after=None)
    history = AdversarialTrainer(G2, D2, x, config, objective=LOGANObjective()).fit()
    assert history["step_norm"] and all(0 < v <= 0.9 / (2 * math.sqrt(5)) + 1e-6 for v in history["step_norm"])
    with pytest.raises(ValueError):
        UNetGANObjective(mix_prob=2.0)
