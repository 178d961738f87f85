"""Tests of course_lib.gan.regularizers: weight clipping (as a trainer hook), TTUR and WGAN recipes as config
overrides, one-sided label smoothing vs BCE, feature matching vs a hand computation (alone and inside the trainer),
minibatch discrimination vs a slow loop, historical averaging vs a hand-kept history."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_lib.gan import regularizers as R
from course_lib.gan.losses import d_loss_minimax, get_gan_loss, g_loss_saturating
from course_lib.gan.penalties import get_penalty
from course_lib.train import AdversarialTrainer, TrainerConfig, generator_step


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


class TinyG(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.z_dim = 3
        self.net = nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 2))

    def forward(self, z):
        return self.net(z)


class FeatureD(nn.Module):
    """A discriminator exposing `features`, the layers up to the last hidden one."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Linear(2, 6), nn.Tanh())
        self.head = nn.Linear(6, 1)

    def forward(self, x):
        return self.head(self.features(x))


DATA = torch.randn(64, 2, generator=torch.Generator().manual_seed(3)) + 1.0


def _cfg(**kw) -> TrainerConfig:
    base = dict(steps=6, batch_size=16, progress=False, sample_every=0, log_every=1)
    base.update(kw)
    return TrainerConfig(**base)


# ----------------------------------------------------------------------------------------------------------------
# weight clipping
# ----------------------------------------------------------------------------------------------------------------
def test_clip_weights_clamps_every_parameter():
    m = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 1))
    before = [p.detach().clone() for p in m.parameters()]
    assert R.clip_weights_(m, 0.05) is m
    for p, b in zip(m.parameters(), before):
        torch.testing.assert_close(p.detach(), b.clamp(-0.05, 0.05), rtol=0, atol=0)
    assert torch.equal(m[1].weight.detach(), torch.full((4,), 0.05))  # BN scale (init 1) clipped too, as in WGAN


def test_weight_clipping_hook_keeps_the_critic_in_the_box():
    torch.manual_seed(0)
    G, D = TinyG(), nn.Sequential(nn.Linear(2, 8), nn.LeakyReLU(0.2), nn.Linear(8, 1))
    seen = []
    tr = AdversarialTrainer(G, D, DATA, _cfg(**{**R.wgan_overrides(), "lr_d": 0.5}),
                            after_d_step=[R.WeightClipping(0.01), lambda t: seen.append(
                                max(p.abs().max().item() for p in t.D.parameters()))])
    tr.fit()
    assert len(seen) == 6 * 5 and max(seen) <= torch.tensor(0.01).item()  # n_critic = 5 from the WGAN recipe
    assert isinstance(tr.opt_d, torch.optim.RMSprop) and tr.opt_d.param_groups[0]["lr"] == 0.5
    with pytest.raises(TypeError, match="trainer"):
        R.WeightClipping()(42)
    with pytest.raises(ValueError, match="c must"):
        R.WeightClipping(0.0)


# ----------------------------------------------------------------------------------------------------------------
# recipes as TrainerConfig overrides
# ----------------------------------------------------------------------------------------------------------------
def test_ttur_and_wgan_gp_overrides_build_the_papers_optimizers():
    over = R.ttur_overrides()
    assert over == {"optimizer": "adam", "lr_d": 4e-4, "lr_g": 1e-4, "betas": (0.0, 0.9)}
    torch.manual_seed(0)
    tr = AdversarialTrainer(TinyG(), nn.Linear(2, 1), DATA, _cfg(**over))
    assert tr.opt_d.param_groups[0]["lr"] == 4e-4 and tr.opt_g.param_groups[0]["lr"] == 1e-4
    assert tr.opt_d.param_groups[0]["betas"] == (0.0, 0.9)
    cfg = _cfg(**R.wgan_gp_overrides())
    assert (cfg.loss, cfg.penalty, cfg.n_critic, cfg.lr_d, cfg.betas) == ("wgan", "wgan_gp", 5, 1e-4, (0.0, 0.9))
    with pytest.raises(ValueError, match="betas"):
        R.ttur_overrides(betas=(0.0, 1.0))
    with pytest.raises(ValueError, match="lr_d"):
        R.ttur_overrides(lr_d=-1.0)


# ----------------------------------------------------------------------------------------------------------------
# one-sided label smoothing
# ----------------------------------------------------------------------------------------------------------------
def test_one_sided_label_smoothing_losses():
    real = torch.randn(7, generator=torch.Generator().manual_seed(1))
    fake = torch.randn(5, generator=torch.Generator().manual_seed(2))
    loss = R.one_sided_label_smoothing()
    assert loss is get_gan_loss("non_saturating_ls")
    other = R.one_sided_label_smoothing(0.8, g_loss=g_loss_saturating)
    ref = F.binary_cross_entropy_with_logits(real, torch.full_like(real, 0.8)) + \
        F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake))
    torch.testing.assert_close(other.d_loss(real, fake), ref)
    assert other.g_loss is g_loss_saturating and other.name == "non_saturating_ls(0.8)"
    with pytest.raises(ValueError, match="real_label"):
        R.one_sided_label_smoothing(1.2)


# ----------------------------------------------------------------------------------------------------------------
# feature matching
# ----------------------------------------------------------------------------------------------------------------
def test_feature_matching_loss_by_hand():
    real = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    fake = torch.tensor([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0]], requires_grad=True)
    loss = R.feature_matching_loss(real, fake)  # means (2, 3) and (1, 1): 1 + 4
    assert loss.item() == 5.0
    loss.backward()
    torch.testing.assert_close(fake.grad, torch.full((3, 2), 0.0) + torch.tensor([-2 / 3, -4 / 3]))
    images = R.feature_matching_loss(torch.ones(2, 3, 2, 2), torch.zeros(4, 3, 2, 2))
    assert images.item() == 12.0
    with pytest.raises(ValueError, match="per-sample shape"):
        R.feature_matching_loss(torch.ones(2, 3), torch.ones(2, 4))


def test_feature_matching_inside_the_generator_step():
    torch.manual_seed(0)
    G, D = TinyG().double(), FeatureD().double()
    real, z = DATA[:8].double(), torch.randn(8, 3, dtype=torch.float64)
    G_ref = copy.deepcopy(G)
    ref = ((D.features(real).mean(0) - D.features(G_ref(z)).mean(0)) ** 2).sum()
    grads = torch.autograd.grad(ref, list(G_ref.parameters()))
    expected = [p.detach() - 0.1 * g for p, g in zip(G_ref.parameters(), grads)]

    loss = R.FeatureMatchingLoss(D.features)
    assert loss.needs_real_logits and loss.d_loss(torch.zeros(2), torch.zeros(2)) == d_loss_minimax(
        torch.zeros(2), torch.zeros(2))
    out = generator_step(G, D, torch.optim.SGD(G.parameters(), lr=0.1), z, loss, real=real)
    assert out["g_loss"] == pytest.approx(ref.item(), rel=1e-12)
    for p, e in zip(G.parameters(), expected):
        torch.testing.assert_close(p.detach(), e, rtol=1e-12, atol=1e-12)
    with pytest.raises(RuntimeError, match="features"):
        loss.g_loss(torch.zeros(2), torch.zeros(2))  # nothing captured since
    loss.remove()
    D(real)
    assert loss._captured == []


def test_feature_matching_trains_in_the_trainer():
    torch.manual_seed(0)
    G, D = TinyG(), FeatureD()
    tr = AdversarialTrainer(G, D, DATA, _cfg(loss=R.FeatureMatchingLoss(D.features)))
    tr.fit()
    assert tr.config.to_dict()["loss"] == "feature_matching"
    assert all(v >= 0 for v in tr.history["g_loss"])


# ----------------------------------------------------------------------------------------------------------------
# minibatch discrimination
# ----------------------------------------------------------------------------------------------------------------
def test_minibatch_discrimination_slow_loop():
    torch.manual_seed(0)
    layer = R.MinibatchDiscrimination(4, 3, 2).double()
    x = torch.randn(5, 4, dtype=torch.float64)
    out = layer(x)
    assert out.shape == (5, 4 + 3)
    torch.testing.assert_close(out[:, :4], x)
    T = layer.T.detach()
    for i in range(5):
        for b in range(3):
            m_i = x[i] @ T[:, b, :]  # (C,)
            total = sum(torch.exp(-(m_i - x[j] @ T[:, b, :]).abs().sum()) for j in range(5))
            assert out[i, 4 + b].item() == pytest.approx(total.item(), rel=1e-12)
    excl = R.MinibatchDiscrimination(4, 3, 2, exclude_self=True).double()
    excl.T.data.copy_(layer.T.data)
    torch.testing.assert_close(excl(x)[:, 4:], out[:, 4:] - 1)
    # a collapsed batch: every sample is close to all N samples
    same = layer(x[:1].expand(5, 4))
    torch.testing.assert_close(same[:, 4:], torch.full((5, 3), 5.0, dtype=torch.float64))
    out.sum().backward()
    assert torch.isfinite(layer.T.grad).all() and layer.T.grad.abs().sum() > 0
    with pytest.raises(ValueError, match=r"\(N, 4\)"):
        layer(torch.zeros(5, 3, dtype=torch.float64))
    with pytest.raises(ValueError, match="kernel_dims"):
        R.MinibatchDiscrimination(4, 3, 0)


# ----------------------------------------------------------------------------------------------------------------
# historical averaging
# ----------------------------------------------------------------------------------------------------------------
def test_historical_averaging_against_a_kept_history():
    torch.manual_seed(0)
    D = nn.Linear(3, 2).double()
    pen = get_penalty("historical_averaging", weight=0.5)
    assert isinstance(pen, R.HistoricalAveraging) and pen.default_weight == 0.5
    history = []
    for step in range(4):
        value = pen(D, None, None)
        params = [p.detach().clone() for p in D.parameters()]
        if not history:
            expected = 0.0
        else:
            means = [torch.stack([h[k] for h in history]).mean(0) for k in range(len(params))]
            expected = sum(((p - m) ** 2).sum() for p, m in zip(params, means)).item()
        assert value.item() == pytest.approx(expected, rel=1e-12, abs=1e-15)
        value.backward()  # differentiable even at step 0 (a zero gradient)
        history.append(params)
        with torch.no_grad():
            for p in D.parameters():
                p.add_(0.1 * (step + 1))
    # the state round-trips
    other = R.HistoricalAveraging()
    other.load_state_dict(pen.state_dict())
    assert other.count == 4 and torch.equal(other(D), pen(D))


def test_historical_averaging_of_the_generator_wraps_a_loss(tmp_path):
    torch.manual_seed(0)
    G, D = TinyG(), nn.Linear(2, 1)
    loss = R.HistoricalAveragingLoss("non_saturating", G, weight=2.0)
    fake = torch.randn(4)
    first = loss.g_loss(fake)  # no history yet: the plain loss
    torch.testing.assert_close(first, get_gan_loss("non_saturating").g_loss(fake))
    with torch.no_grad():
        for p in G.parameters():
            p.add_(1.0)
    n_params = sum(p.numel() for p in G.parameters())
    torch.testing.assert_close(loss.g_loss(fake), get_gan_loss("non_saturating").g_loss(fake) + 2.0 * n_params)
    tr = AdversarialTrainer(G, D, DATA, _cfg(loss=loss, checkpoint_dir=str(tmp_path)))
    tr.fit()
    state = torch.load(tmp_path / "ckpt_00000006.pt", weights_only=True)
    assert state["parts"]["loss"]["count"] == loss.average.count == 2 + 6
