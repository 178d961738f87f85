"""Tests of course_lib.train: the two update steps against hand-written references, the trainer's loop, guard,
bookkeeping and checkpoints, and the bit-for-bit resume requirement."""

from __future__ import annotations

import copy
import os
import signal
import sys

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_lib.gan.losses import get_gan_loss
from course_lib.train import (
    HISTORY_KEYS,
    AdversarialTrainer,
    Callback,
    LambdaCallback,
    NonFiniteLossError,
    PrintEvery,
    TrainerConfig,
    discriminator_step,
    generator_step,
    latest_checkpoint,
)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny models: OpenMP threads only add contention (and 100x slowdowns on a loaded 2-core machine)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# ----------------------------------------------------------------------------------------------------------------
# tiny models
# ----------------------------------------------------------------------------------------------------------------
class TinyG(nn.Module):
    """z (N, 4) -> x (N, 2), with batch norm."""

    def __init__(self, z_dim: int = 4) -> None:
        super().__init__()
        self.z_dim = z_dim
        self.net = nn.Sequential(nn.Linear(z_dim, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 2))

    def forward(self, z):
        return self.net(z)


class TinyD(nn.Module):
    """x (N, 2) -> logits (N, 1), with batch norm and dropout (global RNG)."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(2, 16), nn.BatchNorm1d(16), nn.LeakyReLU(0.2), nn.Dropout(0.3), nn.Linear(16, 1)
        )

    def forward(self, x):
        return self.net(x)


class NaND(nn.Module):
    """A discriminator that returns NaN logits once `poisoned` is set."""

    def __init__(self, poisoned: bool = True) -> None:
        super().__init__()
        self.lin = nn.Linear(2, 1)
        self.poisoned = poisoned

    def forward(self, x):
        out = self.lin(x).squeeze(1)
        return out * float("nan") if self.poisoned else out


def models(seed: int = 0) -> tuple[nn.Module, nn.Module]:
    torch.manual_seed(seed)
    return TinyG(), TinyD()


DATA = torch.randn(100, 2, generator=torch.Generator().manual_seed(5)) + torch.tensor([2.0, -1.0])  # (100, 2)


def gauss_sampler(n: int, generator: torch.Generator) -> torch.Tensor:
    return torch.tensor([2.0, -1.0]) + 0.5 * torch.randn(n, 2, generator=generator)


def cfg(**kw) -> TrainerConfig:
    base = dict(steps=40, batch_size=16, log_every=5, sample_every=10, n_samples=8, progress=False)
    base.update(kw)
    return TrainerConfig(**base)


def full_state(tr: AdversarialTrainer) -> dict[str, torch.Tensor]:
    out = {f"G.{k}": v for k, v in tr.G.state_dict().items()}
    out.update({f"D.{k}": v for k, v in tr.D.state_dict().items()})
    for name, opt in (("opt_g", tr.opt_g), ("opt_d", tr.opt_d)):
        for i, st in opt.state_dict()["state"].items():
            for k, v in st.items():
                out[f"{name}.{i}.{k}"] = torch.as_tensor(v)
    return out


def assert_same_run(a: AdversarialTrainer, b: AdversarialTrainer) -> None:
    sa, sb = full_state(a), full_state(b)
    assert sa.keys() == sb.keys()
    different = [k for k in sa if not torch.equal(sa[k], sb[k])]
    assert not different, f"differ after resume: {different}"
    assert a.step == b.step
    for key in HISTORY_KEYS:
        if key != "seconds":
            assert a.history[key] == b.history[key], key
    assert [s for s, _ in a.samples] == [s for s, _ in b.samples]
    assert all(torch.equal(x, y) for (_, x), (_, y) in zip(a.samples, b.samples))


# ----------------------------------------------------------------------------------------------------------------
# the two steps, against hand-written references
# ----------------------------------------------------------------------------------------------------------------
def _plain_models():
    torch.manual_seed(1)
    G = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 2)).double()
    D = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 1)).double()
    real = torch.randn(6, 2, dtype=torch.float64)
    z = torch.randn(5, 3, dtype=torch.float64)
    return G, D, real, z


def test_discriminator_step_matches_manual_sgd():
    G, D, real, z = _plain_models()
    D_ref = copy.deepcopy(D)
    g_before = [p.clone() for p in G.parameters()]
    lr = 0.1
    # reference: L_D = mean softplus(-D(x)) + mean softplus(D(G(z))), then one plain SGD step
    fake = G(z).detach()
    real_logits, fake_logits = D_ref(real).squeeze(1), D_ref(fake).squeeze(1)
    ref_loss = F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()
    grads = torch.autograd.grad(ref_loss, list(D_ref.parameters()))
    expected = [p.detach() - lr * g for p, g in zip(D_ref.parameters(), grads)]

    out = discriminator_step(G, D, torch.optim.SGD(D.parameters(), lr=lr), real, z, get_gan_loss("minimax"))
    assert set(out) == {"d_loss", "d_real", "d_fake", "penalty"}
    assert all(isinstance(v, float) for v in out.values())
    assert out["d_loss"] == pytest.approx(ref_loss.item(), rel=1e-12)
    assert out["d_real"] == pytest.approx(torch.sigmoid(real_logits).mean().item(), rel=1e-12)
    assert out["d_fake"] == pytest.approx(torch.sigmoid(fake_logits).mean().item(), rel=1e-12)
    assert out["penalty"] == 0.0
    for p, e in zip(D.parameters(), expected):
        torch.testing.assert_close(p.detach(), e, rtol=1e-12, atol=1e-12)
    for p, before in zip(G.parameters(), g_before):  # the generator is held fixed
        assert torch.equal(p, before) and p.grad is None


@pytest.mark.parametrize("name", ["minimax", "non_saturating"])
def test_generator_step_matches_manual_sgd(name):
    G, D, _, z = _plain_models()
    G_ref = copy.deepcopy(G)
    d_before = [p.clone() for p in D.parameters()]
    lr = 0.05
    logits = D(G_ref(z)).squeeze(1)
    # minimax: L_G = mean log(1 - sigmoid(l)) = -mean softplus(l); non-saturating: mean softplus(-l)
    ref_loss = -F.softplus(logits).mean() if name == "minimax" else F.softplus(-logits).mean()
    grads = torch.autograd.grad(ref_loss, list(G_ref.parameters()))
    expected = [p.detach() - lr * g for p, g in zip(G_ref.parameters(), grads)]
    D.zero_grad(set_to_none=True)

    out = generator_step(G, D, torch.optim.SGD(G.parameters(), lr=lr), z, get_gan_loss(name))
    assert out["g_loss"] == pytest.approx(ref_loss.item(), rel=1e-12)
    for p, e in zip(G.parameters(), expected):
        torch.testing.assert_close(p.detach(), e, rtol=1e-12, atol=1e-12)
    for p, before in zip(D.parameters(), d_before):  # D unchanged, no gradient left on it, still trainable
        assert torch.equal(p, before) and p.grad is None and p.requires_grad


def test_penalty_is_added_to_the_discriminator_loss():
    G, D, real, z = _plain_models()
    D2 = copy.deepcopy(D)
    D_before = copy.deepcopy(D)
    seen = {}

    def penalty(D_, r, f):  # R = mean D(x)^2, depends on D so it changes the update too
        seen["dtypes"] = (r.dtype, f.dtype)
        return D_(r).pow(2).mean()

    loss = get_gan_loss("non_saturating")
    plain = discriminator_step(G, D, torch.optim.SGD(D.parameters(), lr=0.1), real, z, loss)
    with_pen = discriminator_step(
        G, D2, torch.optim.SGD(D2.parameters(), lr=0.1), real, z, loss, penalty=penalty, penalty_weight=2.5
    )
    r_value = D_before(real).pow(2).mean().item()  # R before the update
    assert with_pen["penalty"] == pytest.approx(r_value, rel=1e-12)
    assert with_pen["d_loss"] - plain["d_loss"] == pytest.approx(2.5 * r_value, rel=1e-10)
    assert not all(torch.equal(a, b) for a, b in zip(D.parameters(), D2.parameters()))  # the update differs
    assert seen["dtypes"] == (torch.float64, torch.float64)  # the inputs' precision (float32 at least)


def test_max_grad_norm_clips_like_a_manual_clip():
    G, D, real, z = _plain_models()
    D_ref = copy.deepcopy(D)
    fake = G(z).detach()
    ref_loss = F.softplus(-D_ref(real)).mean() + F.softplus(D_ref(fake)).mean()
    grads = torch.autograd.grad(ref_loss, list(D_ref.parameters()))
    norm = torch.sqrt(sum(g.pow(2).sum() for g in grads))
    assert norm > 1e-3  # so the clip is active
    scale = 1e-3 / (norm + 1e-6)  # torch's clip_grad_norm_: max_norm / (total_norm + 1e-6)
    expected = [p.detach() - g * scale for p, g in zip(D_ref.parameters(), grads)]  # SGD, lr 1
    discriminator_step(G, D, torch.optim.SGD(D.parameters(), lr=1.0), real, z, get_gan_loss("minimax"),
                       max_grad_norm=1e-3)
    for p, e in zip(D.parameters(), expected):
        torch.testing.assert_close(p.detach(), e, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("max_grad_norm", [None, 1e-2])
def test_a_grad_scaler_gives_the_same_update(max_grad_norm):
    """The float16 path (scale, unscale, step) run on the CPU: scaling by a power of 2 is exact, so the updates
    must be identical to the unscaled ones."""
    G, D, real, z = _plain_models()
    G, D, real, z = G.float(), D.float(), real.float(), z.float()
    loss = get_gan_loss("non_saturating")
    out = {}
    for use_scaler in (False, True):
        G_, D_ = copy.deepcopy(G), copy.deepcopy(D)
        scaler = torch.amp.GradScaler("cpu", init_scale=2.0**10) if use_scaler else None
        d = discriminator_step(G_, D_, torch.optim.Adam(D_.parameters()), real, z, loss, scaler=scaler,
                               max_grad_norm=max_grad_norm)
        g = generator_step(G_, D_, torch.optim.Adam(G_.parameters()), z, loss, scaler=scaler,
                           max_grad_norm=max_grad_norm)
        out[use_scaler] = (d, g, [p.detach().clone() for p in [*G_.parameters(), *D_.parameters()]])
    assert out[False][:2] == out[True][:2]
    assert all(torch.equal(a, b) for a, b in zip(out[False][2], out[True][2]))


def test_step_rejects_a_discriminator_with_the_wrong_output_shape():
    G, _, real, z = _plain_models()
    D = nn.Linear(2, 2).double()  # (N, 2): two scores per sample
    with pytest.raises(ValueError, match=r"one logit per sample.*\(6, 2\)"):
        discriminator_step(G, D, torch.optim.SGD(D.parameters(), lr=0.1), real, z, get_gan_loss("minimax"))


def test_nonfinite_loss_is_not_applied_by_the_steps():
    G, _, real, z = _plain_models()
    D = NaND().double()
    before = [p.clone() for p in D.parameters()]
    out = discriminator_step(G, D, torch.optim.SGD(D.parameters(), lr=0.1), real, z, get_gan_loss("minimax"))
    assert out["d_loss"] != out["d_loss"]  # NaN
    assert all(torch.equal(p, b) for p, b in zip(D.parameters(), before))


# ----------------------------------------------------------------------------------------------------------------
# exact resume (the requirement)
# ----------------------------------------------------------------------------------------------------------------
def _straight_and_resumed(tmp_path, data, n_critic, split_by="checkpoint"):
    torch.manual_seed(123)
    G, D = models(0)
    straight = AdversarialTrainer(G, D, data, cfg(n_critic=n_critic))
    straight.fit(40)
    rng_after_straight = torch.get_rng_state()

    ckdir = tmp_path / "ck"
    torch.manual_seed(123)
    G, D = models(0)
    first = AdversarialTrainer(G, D, data, cfg(n_critic=n_critic, checkpoint_dir=str(ckdir), checkpoint_every=10))
    first.fit(20)
    del first
    torch.manual_seed(999)  # the new session's global RNG is somewhere else entirely
    G2, D2 = models(7)  # and the new models start from other weights
    resumed = AdversarialTrainer(G2, D2, data, cfg(n_critic=n_critic, checkpoint_dir=str(ckdir)))
    resumed.fit(40, resume=True)
    assert torch.equal(torch.get_rng_state(), rng_after_straight)
    return straight, resumed


@pytest.mark.parametrize("n_critic", [1, 2])
def test_resume_is_bit_exact_with_tensor_data_across_epochs(tmp_path, n_critic):
    straight, resumed = _straight_and_resumed(tmp_path, DATA, n_critic)
    # 100 samples, batch 16 -> 6 batches per epoch; 40 * n_critic batches cross many epoch boundaries
    assert straight._data.epoch == resumed._data.epoch == -(-40 * n_critic // 6)
    assert_same_run(straight, resumed)
    init = full_state(AdversarialTrainer(*models(0), DATA, cfg()))
    assert not torch.equal(init["G.net.0.weight"], full_state(straight)["G.net.0.weight"])  # it did train


def test_resume_is_bit_exact_with_a_sampler(tmp_path):
    straight, resumed = _straight_and_resumed(tmp_path, gauss_sampler, 1)
    assert_same_run(straight, resumed)


def test_two_fit_calls_equal_one(tmp_path):
    torch.manual_seed(3)
    a = AdversarialTrainer(*models(0), DATA, cfg())
    a.fit(40)
    torch.manual_seed(3)
    b = AdversarialTrainer(*models(0), DATA, cfg())
    b.fit(25)
    b.fit(40)
    assert_same_run(a, b)


def test_keyboard_interrupt_saves_a_checkpoint_and_returns(tmp_path, capsys):
    torch.manual_seed(11)
    straight = AdversarialTrainer(*models(0), DATA, cfg(n_critic=2))
    straight.fit(40)

    def stop_at_15(trainer, step, logs):
        if step == 15:
            raise KeyboardInterrupt

    torch.manual_seed(11)
    ckdir = tmp_path / "ck"
    tr = AdversarialTrainer(*models(0), DATA, cfg(n_critic=2, checkpoint_dir=str(ckdir)),
                            callbacks=[LambdaCallback(on_step_end=stop_at_15)])
    history = tr.fit(40)  # no traceback
    assert history is tr.history and tr.step == 15 and history["step"][-1] == 15
    assert latest_checkpoint(ckdir).name == "ckpt_00000015.pt"
    assert "fit(resume=True)" in capsys.readouterr().out
    resumed = AdversarialTrainer(*models(4), DATA, cfg(n_critic=2, checkpoint_dir=str(ckdir)))
    resumed.fit(40, resume=True)
    assert_same_run(straight, resumed)


def test_an_interrupt_in_the_middle_of_a_step_still_saves(tmp_path, capsys):
    class InterruptingD(TinyD):
        calls = 0

        def forward(self, x):
            InterruptingD.calls += 1
            if InterruptingD.calls == 3 * 7 + 1:  # 3 forwards per step (real, fake; G step): inside step 8
                raise KeyboardInterrupt
            return super().forward(x)

    tr = AdversarialTrainer(TinyG(), InterruptingD(), DATA, cfg(checkpoint_dir=str(tmp_path), sample_every=0))
    tr.fit(40)
    assert tr.step == 7 and latest_checkpoint(tmp_path).name == "ckpt_00000007.pt"
    assert "not bit for bit" in capsys.readouterr().out


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_sigint_lets_the_step_finish_then_stops(tmp_path, capsys):
    def interrupt_at_12(trainer, step, logs):
        if step == 12:
            os.kill(os.getpid(), signal.SIGINT)

    tr = AdversarialTrainer(*models(0), DATA, cfg(checkpoint_dir=str(tmp_path)),
                            callbacks=[LambdaCallback(on_step_end=interrupt_at_12)])
    handler_before = signal.getsignal(signal.SIGINT)
    tr.fit(40)
    assert tr.step == 12
    assert latest_checkpoint(tmp_path).name == "ckpt_00000012.pt"
    assert signal.getsignal(signal.SIGINT) is handler_before  # the handler is restored
    assert "Interrupt received" in capsys.readouterr().out


# ----------------------------------------------------------------------------------------------------------------
# learning, counting, bookkeeping
# ----------------------------------------------------------------------------------------------------------------
def test_learns_the_mean_of_a_gaussian():
    class Affine(nn.Module):
        def __init__(self):
            super().__init__()
            self.z_dim = 2
            self.lin = nn.Linear(2, 2)

        def forward(self, z):
            return self.lin(z)

    torch.manual_seed(0)
    G = Affine()
    D = nn.Sequential(nn.Linear(2, 32), nn.LeakyReLU(0.2), nn.Linear(32, 1))
    tr = AdversarialTrainer(G, D, gauss_sampler, cfg(steps=200, batch_size=128, lr_g=1e-2, lr_d=1e-2, sample_every=0))
    mu = torch.tensor([2.0, -1.0])
    assert (tr.sample(4000).mean(0) - mu).norm() > 2.0
    tr.fit()
    assert (tr.sample(4000).mean(0) - mu).norm() < 0.3


def test_n_critic_discriminator_updates_per_generator_update():
    order: list[str] = []
    tr = AdversarialTrainer(
        *models(0), DATA, cfg(n_critic=3, batch_size=8, sample_every=0),
        after_d_step=[lambda t: order.append("D")],
        callbacks=[LambdaCallback(on_step_end=lambda t, s, l: order.append("G"))],
    )
    tr.fit(5)
    assert order == ["D", "D", "D", "G"] * 5
    assert all(int(s["step"]) == 15 for s in tr.opt_d.state_dict()["state"].values())  # Adam's step counters
    assert all(int(s["step"]) == 5 for s in tr.opt_g.state_dict()["state"].values())
    # 15 data batches of 8 from 100 samples: 12 per epoch, so the second epoch is 3 batches in
    assert (tr._data.epoch, tr._data.pos) == (2, 24)


def test_history_samples_and_callbacks_bookkeeping():
    seen: list[tuple[int, float]] = []
    events: list[str] = []
    lines: list[str] = []
    G, D = models(0)
    tr = AdversarialTrainer(
        G, D, DATA, cfg(steps=25, log_every=5, sample_every=25, n_samples=6),
        callbacks=[
            LambdaCallback(
                on_fit_start=lambda t: events.append("start"),
                on_step_end=lambda t, s, logs: seen.append((s, logs["d_loss"])),
                on_fit_end=lambda t: events.append("end"),
            ),
            PrintEvery(10, print_fn=lines.append),
        ],
    )
    history = tr.fit()
    assert set(history) == set(HISTORY_KEYS)
    assert history["step"] == [5, 10, 15, 20, 25]
    assert all(len(v) == 5 for v in history.values())
    assert history["d_loss"] == [d for s, d in seen if s % 5 == 0]
    assert history["penalty"] == [0.0] * 5
    assert all(0.0 < v < 1.0 for v in history["d_real"] + history["d_fake"])
    assert history["seconds"] == sorted(history["seconds"]) and history["seconds"][0] >= 0
    assert events == ["start", "end"]
    assert [line.split("|")[0].strip() for line in lines] == ["step    10", "step    20"]
    # samples at step 0 and 25: G(fixed noise) in eval mode, on the CPU
    assert [s for s, _ in tr.samples] == [0, 25]
    G.eval()
    with torch.no_grad():
        expected = G(tr.fixed_noise)
    G.train()
    assert tr.samples[-1][1].device.type == "cpu" and tr.samples[-1][1].shape == (6, 2)
    assert torch.equal(tr.samples[-1][1], expected)
    assert not torch.equal(tr.samples[0][1], expected)


def test_sample_uses_eval_mode_and_restores_train_mode():
    G, D = models(0)
    tr = AdversarialTrainer(G, D, DATA, cfg())
    G.train()
    out = tr.sample(n=5)
    assert out.shape == (5, 2) and G.training
    z = torch.randn(3, 4)
    G.eval()
    with torch.no_grad():
        ref = G(z)
    assert torch.equal(tr.sample(z=z), ref) and not G.training  # eval stays eval
    assert torch.equal(tr.sample(), tr.sample())  # fixed noise
    with pytest.raises(ValueError, match=r"\(N, 4\)"):
        tr.sample(z=torch.randn(3, 5))
    with pytest.raises(ValueError, match="n must be"):
        tr.sample(n=0)


def test_stop_training_from_a_callback():
    class StopAt(Callback):
        def on_step_end(self, trainer, step, logs):
            if step == 7:
                trainer.stop_training = True

    tr = AdversarialTrainer(*models(0), DATA, cfg(), callbacks=[StopAt()])
    tr.fit(40)
    assert tr.step == 7


def test_a_penalty_in_the_config_reaches_the_loss_in_float32_outside_autocast():
    seen = []

    def penalty(D, real, fake):
        seen.append((torch.is_autocast_enabled("cpu"), real.dtype, fake.dtype))
        return torch.tensor(0.25)

    torch.manual_seed(0)
    a = AdversarialTrainer(*models(0), DATA, cfg(steps=5, log_every=1, sample_every=0, amp="bf16"))
    a.fit()
    torch.manual_seed(0)
    b = AdversarialTrainer(*models(0), DATA, cfg(steps=5, log_every=1, sample_every=0, amp="bf16",
                                                 penalty=penalty, penalty_weight=4.0))
    b.fit()
    assert seen == [(False, torch.float32, torch.float32)] * 5
    assert b.history["penalty"] == [0.25] * 5
    # a constant penalty changes no gradient: same run, d_loss shifted by exactly 4 * 0.25
    assert [y - x for x, y in zip(a.history["d_loss"], b.history["d_loss"])] == pytest.approx([1.0] * 5, abs=1e-6)
    assert a.history["g_loss"] == b.history["g_loss"]


def test_optimizers_passed_in_are_used():
    G, D = models(0)
    opt_g = torch.optim.SGD(G.parameters(), lr=0.0)  # a frozen generator
    opt_d = torch.optim.SGD(D.parameters(), lr=0.1)
    g0 = [p.clone() for p in G.parameters()]
    d0 = [p.clone() for p in D.parameters()]
    tr = AdversarialTrainer(G, D, DATA, cfg(steps=3, sample_every=0), optimizers=(opt_g, opt_d))
    assert tr.opt_g is opt_g and tr.opt_d is opt_d
    tr.fit()
    assert all(torch.equal(p, q) for p, q in zip(G.parameters(), g0))
    assert not all(torch.equal(p, q) for p, q in zip(D.parameters(), d0))
    with pytest.raises(ValueError, match="in that order"):
        AdversarialTrainer(G, D, DATA, cfg(), optimizers=(opt_d, opt_g))


def test_default_optimizers_follow_the_config():
    tr = AdversarialTrainer(*models(0), DATA, cfg(lr_g=1e-4, lr_d=4e-4))
    assert isinstance(tr.opt_g, torch.optim.Adam)
    assert tr.opt_g.param_groups[0]["lr"] == 1e-4 and tr.opt_d.param_groups[0]["lr"] == 4e-4
    assert tr.opt_d.param_groups[0]["betas"] == (0.5, 0.999)
    assert isinstance(AdversarialTrainer(*models(0), DATA, cfg(optimizer="rmsprop")).opt_d, torch.optim.RMSprop)
    assert isinstance(AdversarialTrainer(*models(0), DATA, cfg(optimizer="sgd")).opt_g, torch.optim.SGD)


def test_dataloader_data_runs_epoch_after_epoch():
    ds = torch.utils.data.TensorDataset(DATA, torch.zeros(100))
    loader = torch.utils.data.DataLoader(ds, batch_size=32, shuffle=True, drop_last=True)  # 3 batches per epoch
    tr = AdversarialTrainer(*models(0), loader, cfg(steps=7, sample_every=0))
    tr.fit()
    assert tr.step == 7 and tr._data.epoch == 3


# ----------------------------------------------------------------------------------------------------------------
# the non-finite guard
# ----------------------------------------------------------------------------------------------------------------
def test_nonfinite_raise_names_the_step_and_the_loss():
    G = TinyG()
    D = NaND(poisoned=False)

    def poison_after_2(trainer, step, logs):
        if step == 2:
            D.poisoned = True

    tr = AdversarialTrainer(G, D, DATA, cfg(sample_every=0), callbacks=[LambdaCallback(on_step_end=poison_after_2)])
    with pytest.raises(NonFiniteLossError, match=r"discriminator loss is nan at step 3.*Hints") as info:
        tr.fit(10)
    assert (info.value.step, info.value.which) == (3, "discriminator")
    assert tr.step == 2
    assert all(torch.isfinite(p).all() for p in D.parameters())  # the NaN never reached the weights


def test_nonfinite_skip_counts_and_leaves_weights_alone():
    G, D = TinyG(), NaND()
    g0 = [p.clone() for p in G.parameters()]
    d0 = [p.clone() for p in D.parameters()]
    tr = AdversarialTrainer(G, D, DATA, cfg(n_critic=2, sample_every=0, nonfinite="skip"))
    with pytest.warns(RuntimeWarning, match="skipping"):
        tr.fit(4)
    assert tr.step == 4
    assert tr.nonfinite_skips == {"discriminator": 8, "generator": 4}
    assert all(torch.equal(p, q) for p, q in zip(G.parameters(), g0))
    assert all(torch.equal(p, q) for p, q in zip(D.parameters(), d0))


# ----------------------------------------------------------------------------------------------------------------
# checkpoints
# ----------------------------------------------------------------------------------------------------------------
def test_checkpoints_keep_the_last_ones_and_load_safely(tmp_path):
    config = cfg(steps=20, checkpoint_every=5, keep_last=2, checkpoint_dir=str(tmp_path))
    tr = AdversarialTrainer(*models(0), DATA, config)
    tr.fit()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt_00000015.pt", "ckpt_00000020.pt"]  # no .tmp left
    state = torch.load(latest_checkpoint(tmp_path), weights_only=True)  # plain data only
    assert state["step"] == 20 and state["config"]["checkpoint_every"] == 5
    other = AdversarialTrainer(*models(1), DATA, cfg())
    other.load_checkpoint(tmp_path / "ckpt_00000015.pt")
    assert other.step == 15 and other.history["step"][-1] == 15
    explicit = other.save_checkpoint(tmp_path / "mine.pt")
    assert explicit.is_file() and latest_checkpoint(tmp_path).name == "ckpt_00000020.pt"
    from_path = AdversarialTrainer(*models(2), DATA, cfg(sample_every=0))
    from_path.fit(16, resume=str(explicit))  # resume=<file>: 15 -> 16
    assert from_path.step == 16 and from_path.history["step"][-1] == 15


def test_resume_without_a_checkpoint_starts_fresh_and_bad_resumes_fail(tmp_path):
    tr = AdversarialTrainer(*models(0), DATA, cfg(steps=3, sample_every=0, checkpoint_dir=str(tmp_path / "empty")))
    tr.fit(resume=True)
    assert tr.step == 3
    plain = AdversarialTrainer(*models(0), DATA, cfg(steps=3))
    with pytest.raises(ValueError, match="checkpoint_dir"):
        plain.fit(resume=True)
    with pytest.raises(FileNotFoundError):
        plain.load_checkpoint(tmp_path / "nope.pt")
    with pytest.raises(ValueError, match="n=100"):  # other data than the checkpoint's
        AdversarialTrainer(*models(0), DATA[:50], cfg()).load_checkpoint(latest_checkpoint(tmp_path / "empty"))


def test_resume_into_other_models_says_so(tmp_path):
    AdversarialTrainer(*models(0), DATA, cfg(steps=2, sample_every=0, checkpoint_dir=str(tmp_path))).fit()
    G, _ = models(0)
    other_d = nn.Sequential(nn.Linear(2, 8), nn.LeakyReLU(0.2), nn.Linear(8, 1))   # another architecture
    with pytest.raises(ValueError, match="checkpoint's discriminator does not fit this discriminator.*another "
                                         "checkpoint_dir"):
        AdversarialTrainer(G, other_d, DATA, cfg(steps=3, checkpoint_dir=str(tmp_path))).fit(resume=True)


# ----------------------------------------------------------------------------------------------------------------
# configuration and bad inputs
# ----------------------------------------------------------------------------------------------------------------
def test_config_summary_lists_every_field_and_is_printed(capsys):
    c = cfg(progress=True, steps=2, sample_every=0)
    text = str(c)
    for name in ("steps", "batch_size", "n_critic", "lr_g", "lr_d", "betas", "loss", "amp", "nonfinite"):
        assert f"{name} " in text
    AdversarialTrainer(*models(0), DATA, c).fit()
    assert "n_critic         = 1" in capsys.readouterr().out


@pytest.mark.parametrize(
    "kwargs, err, match",
    [
        ({"steps": 0}, ValueError, "steps"),
        ({"steps": -5}, ValueError, "steps"),
        ({"batch_size": 2.5}, TypeError, "batch_size"),
        ({"n_critic": 0}, ValueError, "n_critic"),
        ({"betas": (1.0, 0.9)}, ValueError, "betas"),
        ({"optimizer": "adagrad"}, ValueError, "optimizer"),
        ({"amp": "fp8"}, ValueError, "amp"),
        ({"nonfinite": "ignore"}, ValueError, "nonfinite"),
        ({"lr_d": 0.0}, ValueError, "lr_d"),
        ({"penalty": 3.0}, TypeError, "penalty"),
        ({"checkpoint_every": 5}, ValueError, "checkpoint_dir"),
    ],
)
def test_bad_config_values(kwargs, err, match):
    with pytest.raises(err, match=match):
        cfg(**kwargs)


def test_bad_trainer_inputs():
    G, D = models(0)
    with pytest.raises(TypeError, match="data must be"):
        AdversarialTrainer(G, D, [[0.0, 1.0]] * 100, cfg())
    with pytest.raises(TypeError, match="floating-point"):
        AdversarialTrainer(G, D, torch.ones(100, 2, dtype=torch.int64), cfg())
    with pytest.raises(ValueError, match="larger than the dataset"):
        AdversarialTrainer(G, D, DATA[:10], cfg(batch_size=16))
    with pytest.raises(ValueError, match="unknown GAN loss"):
        AdversarialTrainer(G, D, DATA, cfg(loss="wassersteinish"))
    with pytest.raises(ValueError, match="noise dimension"):
        AdversarialTrainer(nn.Linear(4, 2), D, DATA, cfg())
    with pytest.raises(ValueError, match="fp16"):
        AdversarialTrainer(G, D, DATA, cfg(amp="fp16"))
    with pytest.raises(TypeError, match="Module"):
        AdversarialTrainer(G, "D", DATA, cfg())
    tr = AdversarialTrainer(G, D, DATA, cfg())
    with pytest.raises(ValueError, match="steps must be a positive int"):
        tr.fit(steps=0)
    with pytest.raises(ValueError, match=r"one logit per sample.*\(16, 2\)"):
        AdversarialTrainer(G, nn.Linear(2, 2), DATA, cfg()).fit(1)
    with pytest.raises(ValueError, match="asked for 16 samples"):
        AdversarialTrainer(G, D, lambda n, g: torch.randn(n + 1, 2, generator=g), cfg()).fit(1)
