"""Tests of chapter 5's losses in course_lib.gan.losses: each against an independent reference (BCE, cross-entropy,
MSE, slow loops, closed forms), stability at extreme logits, gradients, bad inputs, the registry (with a smoke test
generated from it), BEGAN's k_t control and the stateful-loss plumbing of the trainer."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_lib.gan import losses as L


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _logits(n: int, seed: int, scale: float = 2.0, dtype=torch.float64) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return (scale * torch.randn(n, generator=gen, dtype=torch.float64)).to(dtype)


def _bce(logits: torch.Tensor, label: float) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, label))


# ----------------------------------------------------------------------------------------------------------------
# every loss against an independent reference
# ----------------------------------------------------------------------------------------------------------------
class TestAgainstReferences:
    def test_wasserstein(self):
        r, f = _logits(5, 0), _logits(7, 1)
        torch.testing.assert_close(L.d_loss_wasserstein(r, f), sum(f) / 7 - sum(r) / 5)
        torch.testing.assert_close(L.g_loss_wasserstein(f), -sum(f) / 7)

    def test_hinge_slow_loop(self):
        r, f = _logits(6, 2), _logits(4, 3)
        ref = sum(max(0.0, 1.0 - v) for v in r.tolist()) / 6 + sum(max(0.0, 1.0 + v) for v in f.tolist()) / 4
        assert L.d_loss_hinge(r, f).item() == pytest.approx(ref, rel=1e-12)
        torch.testing.assert_close(L.g_loss_hinge(f), -f.mean())

    def test_hinge_exactly_at_the_margin(self):
        # a real score of exactly 1 and a fake score of exactly -1 cost nothing
        assert L.d_loss_hinge(torch.tensor([1.0]), torch.tensor([-1.0])).item() == 0.0
        assert L.d_loss_hinge(torch.tensor([0.5]), torch.tensor([-0.5])).item() == 1.0

    @pytest.mark.parametrize("a, b, c", [(0.0, 1.0, 1.0), (-1.0, 1.0, 0.0), (0.3, 2.0, -1.5)])
    def test_least_squares_is_half_mse(self, a, b, c):
        r, f = _logits(5, 4), _logits(9, 5)
        ref_d = 0.5 * F.mse_loss(r, torch.full_like(r, b)) + 0.5 * F.mse_loss(f, torch.full_like(f, a))
        torch.testing.assert_close(L.d_loss_least_squares(r, f, a=a, b=b), ref_d)
        torch.testing.assert_close(L.g_loss_least_squares(f, c=c), 0.5 * F.mse_loss(f, torch.full_like(f, c)))

    def test_lsgan_registry_codings(self):
        r, f = _logits(5, 6), _logits(5, 7)
        std, pearson = L.get_gan_loss("lsgan"), L.get_gan_loss("lsgan_pearson")
        torch.testing.assert_close(std.d_loss(r, f), 0.5 * ((r - 1) ** 2).mean() + 0.5 * (f**2).mean())
        torch.testing.assert_close(std.g_loss(f), 0.5 * ((f - 1) ** 2).mean())
        torch.testing.assert_close(pearson.d_loss(r, f), 0.5 * ((r - 1) ** 2).mean() + 0.5 * ((f + 1) ** 2).mean())
        torch.testing.assert_close(pearson.g_loss(f), 0.5 * (f**2).mean())

    def test_rsgan_is_bce_of_differences(self):
        r, f = _logits(8, 8), _logits(8, 9)
        torch.testing.assert_close(L.d_loss_rsgan(r, f), _bce(r - f, 1.0))
        torch.testing.assert_close(L.g_loss_rsgan(f, r), _bce(f - r, 1.0))
        # by hand: equal logits give log 2 for both players
        z = torch.zeros(3)
        torch.testing.assert_close(L.d_loss_rsgan(z, z), torch.tensor(math.log(2.0)))

    def test_ragan_naive_formula(self):
        r, f = _logits(6, 10, scale=1.0), _logits(4, 11, scale=1.0)
        d_r = torch.sigmoid(r - f.mean())  # D~(x_r)
        d_f = torch.sigmoid(f - r.mean())  # D~(x_f)
        ref_d = -torch.log(d_r).mean() - torch.log(1 - d_f).mean()
        ref_g = -torch.log(d_f).mean() - torch.log(1 - d_r).mean()
        torch.testing.assert_close(L.d_loss_ragan(r, f), ref_d)
        torch.testing.assert_close(L.g_loss_ragan(f, r), ref_g)

    def test_softmax_gan_is_a_soft_target_cross_entropy(self):
        r, f = _logits(5, 12), _logits(3, 13)
        batch = torch.cat([r, f])[None]  # (1, 8): one "classification" over the batch
        target_d = torch.tensor([[0.2] * 5 + [0.0] * 3], dtype=torch.float64)
        target_g = torch.full((1, 8), 1 / 8, dtype=torch.float64)
        torch.testing.assert_close(L.d_loss_softmax_gan(r, f), F.cross_entropy(batch, target_d))
        torch.testing.assert_close(L.g_loss_softmax_gan(f, r), F.cross_entropy(batch, target_g))

    def test_softmax_gan_closed_forms(self):
        # equal logits: L_G = log|B| (its minimum); D sure of itself: L_D -> log|B+|
        c = torch.full((4,), 0.7)
        torch.testing.assert_close(L.g_loss_softmax_gan(c[:3], c), torch.tensor(math.log(7.0)))
        r, f = torch.full((4,), 100.0), torch.full((3,), -100.0)
        torch.testing.assert_close(L.d_loss_softmax_gan(r, f), torch.tensor(math.log(4.0)))

    def test_boundary_seeking_naive_formula(self):
        f = _logits(7, 14, scale=1.5)
        d = torch.sigmoid(f)
        ref = 0.5 * ((torch.log(d) - torch.log(1 - d)) ** 2).mean()
        torch.testing.assert_close(L.g_loss_boundary_seeking(f), ref)
        bgan = L.get_gan_loss("bgan")
        assert bgan.d_loss is L.d_loss_minimax and bgan.g_loss is L.g_loss_boundary_seeking

    def test_one_sided_smoothing_is_bce_with_target_alpha(self):
        r, f = _logits(6, 15), _logits(5, 16)
        torch.testing.assert_close(L.d_loss_one_sided_smoothing(r, f), _bce(r, 0.9) + _bce(f, 0.0))
        torch.testing.assert_close(L.d_loss_one_sided_smoothing(r, f, 0.75), _bce(r, 0.75) + _bce(f, 0.0))
        torch.testing.assert_close(L.d_loss_one_sided_smoothing(r, f, 1.0), L.d_loss_minimax(r, f))
        ls = L.get_gan_loss("non_saturating_ls")
        assert ls.d_loss is L.d_loss_one_sided_smoothing and ls.g_loss is L.g_loss_non_saturating

    def test_ebgan_slow_loop(self):
        r = _logits(5, 17).abs()
        f = torch.tensor([0.2, 1.0, 3.0, 0.0], dtype=torch.float64)  # one exactly at the margin m = 1
        ref = sum(r.tolist()) / 5 + (0.8 + 0.0 + 0.0 + 1.0) / 4
        assert L.d_loss_ebgan(r, f).item() == pytest.approx(ref, rel=1e-12)
        assert L.d_loss_ebgan(r, f, margin=2.0).item() == pytest.approx(sum(r.tolist()) / 5 + (1.8 + 1.0 + 2.0) / 4)
        torch.testing.assert_close(L.g_loss_ebgan(f), f.mean())
        other = L.ebgan_loss(margin=2.0)
        assert other.name == "ebgan(margin=2)"
        torch.testing.assert_close(other.d_loss(r, f), L.d_loss_ebgan(r, f, margin=2.0))

    def test_began_losses(self):
        r, f = _logits(5, 18).abs(), _logits(6, 19).abs()
        torch.testing.assert_close(L.d_loss_began(r, f, 0.3), r.mean() - 0.3 * f.mean())
        torch.testing.assert_close(L.d_loss_began(r, f), r.mean())  # k_0 = 0
        torch.testing.assert_close(L.g_loss_began(f), f.mean())


class TestGradients:
    def test_wasserstein_gradient_is_constant(self):
        r, f = _logits(4, 20).requires_grad_(), _logits(5, 21).requires_grad_()
        L.d_loss_wasserstein(r, f).backward()
        torch.testing.assert_close(r.grad, torch.full_like(r, -1 / 4))
        torch.testing.assert_close(f.grad, torch.full_like(f, 1 / 5))

    def test_hinge_gradient_is_zero_beyond_the_margin(self):
        r = torch.tensor([2.0, 0.0, -1.0], requires_grad=True)
        f = torch.tensor([-3.0, 0.5], requires_grad=True)
        L.d_loss_hinge(r, f).backward()
        torch.testing.assert_close(r.grad, torch.tensor([0.0, -1 / 3, -1 / 3]))
        torch.testing.assert_close(f.grad, torch.tensor([0.0, 1 / 2]))

    def test_ragan_generator_gradient_reaches_fakes_through_both_terms(self):
        # dL_G/df_j = [-(1 - s(f_j - mr))]/M + sum_i s(r_i - mf) * (-1/M) / N  (closed form)
        r, f = _logits(3, 22, 1.0), _logits(4, 23, 1.0).requires_grad_()
        L.g_loss_ragan(f, r).backward()
        fd = f.detach()
        expected = -(1 - torch.sigmoid(fd - r.mean())) / 4 - torch.sigmoid(r - fd.mean()).mean() / 4
        torch.testing.assert_close(f.grad, expected)

    def test_boundary_seeking_gradient(self):
        f = _logits(5, 24).requires_grad_()
        L.g_loss_boundary_seeking(f).backward()
        torch.testing.assert_close(f.grad, f.detach() / 5)  # d/dl 0.5 l^2 / M

    @pytest.mark.parametrize("name", ["rsgan", "ragan", "softmax_gan", "lsgan", "hinge"])
    def test_gradcheck(self, name):
        loss = L.get_gan_loss(name)
        r, f = _logits(4, 25).requires_grad_(), _logits(4, 26).requires_grad_()
        assert torch.autograd.gradcheck(lambda a, b: loss.d_loss(a, b), (r, f))
        assert torch.autograd.gradcheck(lambda b, a: loss.g_loss(b, a), (f, r))


class TestStability:
    @pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
    @pytest.mark.parametrize("name", ["rsgan", "ragan", "softmax_gan", "non_saturating_ls"])
    def test_extreme_logits(self, name, dtype):
        loss = L.get_gan_loss(name)
        r = torch.tensor([100.0, -100.0, 80.0], dtype=dtype, requires_grad=True)
        f = torch.tensor([-100.0, 100.0, 0.0], dtype=dtype, requires_grad=True)
        d, g = loss.d_loss(r, f), loss.g_loss(f, r)
        assert torch.isfinite(d) and torch.isfinite(g)
        (d + g).backward()
        assert torch.isfinite(r.grad).all() and torch.isfinite(f.grad).all()

    def test_rsgan_exact_at_extremes(self):
        r, f = torch.tensor([-100.0]), torch.tensor([100.0])
        torch.testing.assert_close(L.d_loss_rsgan(r, f), torch.tensor(200.0))  # -log sigmoid(-200)
        torch.testing.assert_close(L.g_loss_rsgan(f, r), torch.tensor(0.0))


class TestBadInputs:
    def test_paired_losses_need_equal_batches(self):
        with pytest.raises(ValueError, match="same batch size, got 3 and 4"):
            L.d_loss_rsgan(torch.zeros(3), torch.zeros(4))
        with pytest.raises(ValueError, match="same batch size"):
            L.g_loss_rsgan(torch.zeros(4), torch.zeros(3))

    @pytest.mark.parametrize("g", [L.g_loss_rsgan, L.g_loss_ragan, L.g_loss_softmax_gan])
    def test_relativistic_generator_losses_need_real_logits(self, g):
        with pytest.raises(ValueError, match="real_logits"):
            g(torch.zeros(3))

    @pytest.mark.parametrize(
        "call, err, match",
        [
            (lambda: L.d_loss_one_sided_smoothing(torch.zeros(2), torch.zeros(2), 0.0), ValueError, "real_label"),
            (lambda: L.d_loss_one_sided_smoothing(torch.zeros(2), torch.zeros(2), 1.5), ValueError, "real_label"),
            (lambda: L.d_loss_ebgan(torch.zeros(2), torch.zeros(2), margin=0), ValueError, "margin"),
            (lambda: L.d_loss_ebgan(torch.zeros(2), torch.zeros(2), margin="1"), TypeError, "margin"),
            (lambda: L.d_loss_least_squares(torch.zeros(2), torch.zeros(2), a=math.nan), ValueError, "a must"),
            (lambda: L.d_loss_began(torch.zeros(2), torch.zeros(2), k=1.5), ValueError, "k must"),
            (lambda: L.d_loss_hinge(torch.zeros(2, 2), torch.zeros(2)), ValueError, r"\(N,\) or \(N, 1\)"),
            (lambda: L.d_loss_wasserstein(torch.zeros(2), [0.0]), TypeError, "fake_logits"),
            (lambda: L.g_loss_hinge(torch.zeros(0)), ValueError, "empty"),
            (lambda: L.pulling_away_term(torch.zeros(1, 3)), ValueError, "N >= 2"),
            (lambda: L.autoencoder_energy(torch.zeros(2, 3), torch.zeros(2, 4)), ValueError, "same shape"),
            (lambda: L.autoencoder_energy(torch.zeros(2, 3), torch.zeros(2, 3), kind="l3"), ValueError, "kind"),
            (lambda: L.began_k_update(0.5, 1.0, 1.0, gamma=2.0), ValueError, "gamma"),
            (lambda: L.began_k_update(0.5, torch.zeros(2), 1.0), ValueError, "one-element"),
        ],
    )
    def test_clear_errors(self, call, err, match):
        with pytest.raises(err, match=match):
            call()


# ----------------------------------------------------------------------------------------------------------------
# EBGAN/BEGAN pieces
# ----------------------------------------------------------------------------------------------------------------
def test_pulling_away_term_slow_loop():
    s = torch.randn(5, 3, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    flat = s.reshape(5, -1)
    total = 0.0
    for i in range(5):
        for j in range(5):
            if i != j:
                cos = float(flat[i] @ flat[j] / (flat[i].norm() * flat[j].norm()))
                total += cos**2
    assert L.pulling_away_term(s).item() == pytest.approx(total / 20, rel=1e-12)
    # identical codes: 1; orthogonal codes: 0
    assert L.pulling_away_term(torch.ones(3, 4)).item() == pytest.approx(1.0)
    assert L.pulling_away_term(torch.eye(3)).item() == 0.0


def test_autoencoder_energy_and_wrapper():
    x = torch.tensor([[1.0, -2.0], [0.0, 3.0]])
    rec = torch.tensor([[0.0, 0.0], [0.0, -1.0]])
    torch.testing.assert_close(L.autoencoder_energy(x, rec, "l1"), torch.tensor([1.5, 2.0]))
    torch.testing.assert_close(L.autoencoder_energy(x, rec, "mse"), torch.tensor([2.5, 8.0]))
    torch.testing.assert_close(L.autoencoder_energy(x, rec, "l2"), torch.tensor([5**0.5, 4.0]))
    ae = nn.Linear(2, 2)
    D = L.AutoencoderEnergy(ae, kind="mse")
    with torch.no_grad():
        torch.testing.assert_close(D(x), ((ae(x) - x) ** 2).mean(1))
    images = torch.randn(3, 1, 4, 4)
    assert L.AutoencoderEnergy(nn.Identity())(images).tolist() == [0.0, 0.0, 0.0]


def test_began_k_update_closed_form_and_clipping():
    assert L.began_k_update(0.2, 1.0, 0.3, gamma=0.5, lambda_k=0.1) == pytest.approx(0.2 + 0.1 * (0.5 - 0.3))
    assert L.began_k_update(0.0, 0.0, 1.0) == 0.0  # clipped at 0
    assert L.began_k_update(0.999, 10.0, 0.0, gamma=1.0, lambda_k=1.0) == 1.0  # clipped at 1
    assert L.began_convergence(2.0, 0.5, gamma=0.5) == pytest.approx(2.0 + 0.5)
    assert L.began_k_update(0.2, torch.tensor(1.0), torch.tensor([0.3]), lambda_k=0.1) == pytest.approx(0.22)


def test_began_loss_object_updates_k_once_per_discriminator_loss():
    obj = L.BEGANLoss(gamma=0.5, lambda_k=0.1, k=0.0)
    r, f = torch.tensor([1.0, 3.0]), torch.tensor([0.2, 0.2])
    torch.testing.assert_close(obj.d_loss(r, f), torch.tensor(2.0))  # k = 0
    obj.after_d_step(None)
    assert obj.k == pytest.approx(0.1 * (0.5 * 2.0 - 0.2))
    assert obj.convergence == pytest.approx(2.0 + abs(1.0 - 0.2))
    k = obj.k
    obj.after_d_step(None)  # no new d_loss: nothing to update
    assert obj.k == k
    torch.testing.assert_close(obj.d_loss(r, f), torch.tensor(2.0 - k * 0.2))
    obj.d_loss(r, torch.tensor([float("nan"), 0.0]))
    obj.after_d_step(None)  # a non-finite step leaves k alone
    assert obj.k == k
    clone = L.BEGANLoss()
    clone.load_state_dict(obj.state_dict())
    assert (clone.k, clone.gamma, clone.lambda_k) == (obj.k, 0.5, 0.1)


# ----------------------------------------------------------------------------------------------------------------
# the registry, and a smoke test generated from it
# ----------------------------------------------------------------------------------------------------------------
EXPECTED = {
    "minimax", "non_saturating", "non_saturating_ls", "wgan", "hinge", "lsgan", "lsgan_pearson", "rsgan", "ragan",
    "softmax_gan", "bgan", "ebgan", "began",
}


def test_registry_contents_and_flags():
    assert EXPECTED <= set(L.list_gan_losses())
    for name in L.list_gan_losses():
        loss = L.get_gan_loss(name)
        assert callable(loss.d_loss) and callable(loss.g_loss)
        assert getattr(loss, "needs_real_logits", False) == (name in {"rsgan", "ragan", "softmax_gan"}), name


def test_factories_give_fresh_stateful_objects():
    a, b = L.get_gan_loss("began"), L.get_gan_loss("began")
    assert isinstance(a, L.BEGANLoss) and a is not b
    assert L.get_gan_loss(a) is a  # a loss object passes through
    with pytest.raises(ValueError, match="already registered"):
        L.register_gan_loss("began", L.d_loss_minimax, L.g_loss_saturating)
    with pytest.raises(ValueError, match="already registered"):
        L.register_gan_loss_factory("hinge", L.BEGANLoss)
    with pytest.raises(TypeError, match="factory must be callable"):
        L.register_gan_loss_factory("x", 3)
    with pytest.raises(ValueError, match="already registered"):
        L.register_gan_loss("rsgan", L.d_loss_rsgan, L.g_loss_rsgan, needs_real_logits=False)


def _smoke_inputs(name: str, shape_col: bool):
    energies = name in {"ebgan", "began"}
    r, f = _logits(6, 30), _logits(6, 31)
    if energies:
        r, f = r.abs(), f.abs()
    if shape_col:
        r, f = r[:, None], f[:, None]
    return r.requires_grad_(), f.requires_grad_()


@pytest.mark.parametrize("shape_col", [False, True], ids=["(N,)", "(N,1)"])
@pytest.mark.parametrize("name", L.list_gan_losses())
def test_smoke_every_registered_loss(name, shape_col):
    loss = L.get_gan_loss(name)
    r, f = _smoke_inputs(name, shape_col)
    d = loss.d_loss(r, f)
    assert d.shape == () and torch.isfinite(d)
    d.backward()
    assert r.grad is not None and torch.isfinite(r.grad).all() and r.grad.abs().sum() > 0
    assert f.grad is None or torch.isfinite(f.grad).all()
    r2, f2 = _smoke_inputs(name, shape_col)
    g = loss.g_loss(f2, r2.detach())
    assert g.shape == () and torch.isfinite(g)
    g.backward()
    assert f2.grad is not None and torch.isfinite(f2.grad).all() and f2.grad.abs().sum() > 0
    # the column shape gives the same numbers as the flat one
    r3, f3 = _smoke_inputs(name, not shape_col)
    fresh = L.get_gan_loss(name)
    assert fresh.d_loss(r3, f3).item() == pytest.approx(L.get_gan_loss(name).d_loss(r, f).item(), rel=1e-12)


# ----------------------------------------------------------------------------------------------------------------
# the trainer with relativistic and stateful losses
# ----------------------------------------------------------------------------------------------------------------
def _plain_models():
    torch.manual_seed(1)
    G = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 2)).double()
    D = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 1)).double()
    real = torch.randn(5, 2, dtype=torch.float64)
    z = torch.randn(5, 3, dtype=torch.float64)
    return G, D, real, z


@pytest.mark.parametrize("name", ["rsgan", "ragan", "softmax_gan"])
def test_generator_step_feeds_real_logits_to_relativistic_losses(name):
    import copy

    from course_lib.train import generator_step

    G, D, real, z = _plain_models()
    G_ref = copy.deepcopy(G)
    loss = L.get_gan_loss(name)
    ref = loss.g_loss(D(G_ref(z)).squeeze(1), D(real).squeeze(1).detach())
    grads = torch.autograd.grad(ref, list(G_ref.parameters()))
    expected = [p.detach() - 0.1 * g for p, g in zip(G_ref.parameters(), grads)]
    out = generator_step(G, D, torch.optim.SGD(G.parameters(), lr=0.1), z, loss, real=real)
    assert out["g_loss"] == pytest.approx(ref.item(), rel=1e-12)
    for p, e in zip(G.parameters(), expected):
        torch.testing.assert_close(p.detach(), e, rtol=1e-12, atol=1e-12)


def _energy_models(seed: int = 0):
    torch.manual_seed(seed)
    G = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 2))
    G.z_dim = 4
    D = L.AutoencoderEnergy(nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 2)), kind="l1")
    return G, D


DATA = torch.randn(64, 2, generator=torch.Generator().manual_seed(3)) * 0.5 + 1.0


def test_trainer_runs_the_losss_after_d_step_hook_and_resumes_k_exactly(tmp_path):
    from course_lib.train import AdversarialTrainer, TrainerConfig

    def config(**kw):
        return TrainerConfig(steps=12, batch_size=16, n_critic=2, loss="began", progress=False, sample_every=0,
                             log_every=1, lr_g=1e-2, lr_d=1e-2, **kw)

    calls = []
    straight = AdversarialTrainer(*_energy_models(), DATA, config(), after_d_step=[lambda t: calls.append(t.loss.k)])
    assert isinstance(straight.loss, L.BEGANLoss) and straight.after_d_step[0] == straight.loss.after_d_step
    straight.fit()
    assert len(calls) == 24 and straight.loss.k > 0.0  # updated before the user hook, 2 x 12 times
    assert calls[-1] == straight.loss.k

    first = AdversarialTrainer(*_energy_models(), DATA, config(checkpoint_dir=str(tmp_path)))
    first.fit(5)
    resumed = AdversarialTrainer(*_energy_models(7), DATA, config(checkpoint_dir=str(tmp_path)))
    assert resumed.loss.k == 0.0
    resumed.fit(12, resume=True)
    assert resumed.loss.k == straight.loss.k
    assert resumed.history["d_loss"] == straight.history["d_loss"]
    assert all(torch.equal(a, b) for a, b in zip(resumed.G.parameters(), straight.G.parameters()))
