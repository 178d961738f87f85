"""The trainer's pluggable objective: same loop, other losses (labels, paired data, several networks)."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from course_lib.train import AdversarialTrainer, Objective, TrainerConfig


def _models(z_dim: int = 4, dim: int = 3, seed: int = 0) -> tuple[nn.Module, nn.Module]:
    torch.manual_seed(seed)
    G = nn.Sequential(nn.Linear(z_dim, 8), nn.ReLU(), nn.Linear(8, dim))
    D = nn.Sequential(nn.Linear(dim, 8), nn.LeakyReLU(0.2), nn.Linear(8, 1))
    return G, D


def _config(**kw) -> TrainerConfig:
    base = dict(steps=6, batch_size=8, z_dim=4, progress=False, log_every=1, sample_every=0, n_samples=5, amp="off")
    base.update(kw)
    return TrainerConfig(**base)


class NonSaturating(Objective):
    """Algorithm 1 with the non-saturating loss, written independently of course_lib.gan.losses."""

    def d_loss(self, G, D, batch, z):
        real_logits = D(batch).reshape(-1)
        fake_logits = D(G(z)).reshape(-1)
        loss = F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()  # -log s(D(x)) - log(1 - s(D(G z)))
        return loss, {"d_real": torch.sigmoid(real_logits).mean(), "d_fake": torch.sigmoid(fake_logits).mean()}

    def g_loss(self, G, D, batch, z):
        return F.softplus(-D(G(z)).reshape(-1)).mean(), {}  # -log s(D(G(z)))


def test_an_objective_reproduces_algorithm_1():
    data = torch.randn(40, 3)
    G1, D1 = _models()
    G2, D2 = _models()
    t1 = AdversarialTrainer(G1, D1, data, _config(loss="non_saturating"))
    t2 = AdversarialTrainer(G2, D2, data, _config(), objective=NonSaturating())
    t1.fit()
    t2.fit()
    for a, b in zip(list(G1.parameters()) + list(D1.parameters()), list(G2.parameters()) + list(D2.parameters())):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)
    for key in ("d_loss", "g_loss", "d_real", "d_fake"):
        assert t1.history[key] == pytest.approx(t2.history[key], rel=1e-5, abs=1e-7)
    assert all(math.isnan(v) for v in t2.history["penalty"])  # the objective reports no penalty


class Conditional(Objective):
    """A conditional GAN: G(z, y), D(x, y), with labels taken from the real minibatch."""

    def __init__(self, n_classes: int):
        self.n_classes = n_classes
        self.seen: list[torch.Tensor] = []

    def d_loss(self, G, D, batch, z):
        x, y = batch
        assert y.dtype == torch.int64 and x.dtype == torch.float32
        self.seen.append(torch.stack([x[:, 0], y.float()], 1))
        real = D(torch.cat([x, F.one_hot(y, self.n_classes).float()], 1))
        fake = D(torch.cat([G(torch.cat([z, F.one_hot(y, self.n_classes).float()], 1)),
                            F.one_hot(y, self.n_classes).float()], 1))
        return F.softplus(-real).mean() + F.softplus(fake).mean(), {"label_mean": y.float().mean()}

    def g_loss(self, G, D, batch, z):
        _, y = batch
        onehot = F.one_hot(y, self.n_classes).float()
        return F.softplus(-D(torch.cat([G(torch.cat([z, onehot], 1)), onehot], 1))).mean(), {}

    def sample(self, G, z, batch=None):
        y = torch.arange(z.shape[0]) % self.n_classes if batch is None else batch
        return G(torch.cat([z, F.one_hot(y, self.n_classes).float()], 1))


def test_tuple_data_stays_paired_and_labels_stay_integers():
    n, k = 48, 3
    y = torch.arange(n) % k
    x = torch.randn(n, 3)
    x[:, 0] = y.float() * 10 + torch.arange(n) / 100  # x remembers its label
    torch.manual_seed(0)
    G = nn.Sequential(nn.Linear(4 + k, 8), nn.ReLU(), nn.Linear(8, 3))
    D = nn.Sequential(nn.Linear(3 + k, 8), nn.LeakyReLU(0.2), nn.Linear(8, 1))
    obj = Conditional(k)
    trainer = AdversarialTrainer(G, D, (x, y), _config(steps=8), objective=obj)
    trainer.fit()
    pairs = torch.cat(obj.seen)
    assert torch.equal(torch.floor(pairs[:, 0] / 10), pairs[:, 1])  # every x came with its own y
    assert len(trainer.history["label_mean"]) == 8  # the objective's own log is recorded
    s = trainer.sample(z=torch.zeros(6, 4), batch=torch.tensor([0, 1, 2, 0, 1, 2]))
    assert s.shape == (6, 3) and not s.requires_grad
    assert trainer.sample().shape == (5, 3)  # the fixed noise, labels from the objective's default


class Frozen(Objective):
    """Records which parameters require gradients inside each loss."""

    def __init__(self):
        self.flags: dict[str, tuple[bool, bool]] = {}

    def _flags(self, G, D):
        return (all(p.requires_grad for p in G.parameters()), all(p.requires_grad for p in D.parameters()))

    def d_loss(self, G, D, batch, z):
        self.flags["d"] = self._flags(G, D)
        return F.softplus(-D(batch)).mean() + F.softplus(D(G(z))).mean(), {}

    def g_loss(self, G, D, batch, z):
        self.flags["g"] = self._flags(G, D)
        return F.softplus(-D(G(z))).mean(), {}


def test_the_other_side_is_frozen_and_unchanged():
    G, D = _models()
    obj = Frozen()
    trainer = AdversarialTrainer(G, D, torch.randn(16, 3), _config(steps=1), objective=obj)
    g_before = [p.detach().clone() for p in G.parameters()]
    batch, z = trainer._next_real(), trainer._noise(8)
    from course_lib.train import objective_step

    objective_step("discriminator", G, D, trainer.opt_d, obj, batch, z)
    assert obj.flags["d"] == (False, True)
    assert all(torch.equal(a, b) for a, b in zip(g_before, G.parameters()))  # G unchanged by D's update
    d_before = [p.detach().clone() for p in D.parameters()]
    objective_step("generator", G, D, trainer.opt_g, obj, batch, z)
    assert obj.flags["g"] == (True, False)
    assert all(torch.equal(a, b) for a, b in zip(d_before, D.parameters()))
    assert all(p.requires_grad for p in list(G.parameters()) + list(D.parameters()))  # flags restored


class Paired(Objective):
    """pix2pix-like: no noise, G(a) judged against b, with a counter saved in checkpoints."""

    needs_noise = False

    def __init__(self):
        self.calls = 0

    def d_loss(self, G, D, batch, z):
        assert z is None
        a, b = batch
        self.calls += 1
        return F.softplus(-D(b)).mean() + F.softplus(D(G(a))).mean(), {}

    def g_loss(self, G, D, batch, z):
        a, b = batch
        fake = G(a)
        l1 = (fake - b).abs().mean()
        return F.softplus(-D(fake)).mean() + 10 * l1, {"l1": l1}

    def sample(self, G, z, batch=None):
        if batch is None:
            raise ValueError("Paired.sample needs the input images: trainer.sample(batch=a).")
        return G(batch)

    def state_dict(self):
        return {"calls": self.calls}

    def load_state_dict(self, state):
        self.calls = int(state["calls"])


def test_noise_free_objective_resumes_exactly(tmp_path):
    a = torch.randn(32, 3)
    b = 2 * a + 1
    torch.manual_seed(1)
    G, D = nn.Linear(3, 3), nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 1))
    full = AdversarialTrainer(G, D, (a, b), _config(steps=10, z_dim=1, lr_g=0.05), objective=Paired())
    full.fit()
    torch.manual_seed(1)
    G2, D2 = nn.Linear(3, 3), nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 1))
    cfg = _config(steps=10, z_dim=1, lr_g=0.05, checkpoint_dir=str(tmp_path))
    first = AdversarialTrainer(G2, D2, (a, b), cfg, objective=Paired())
    first.fit(5)
    torch.manual_seed(7)
    G3, D3 = nn.Linear(3, 3), nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 1))
    obj3 = Paired()
    resumed = AdversarialTrainer(G3, D3, (a, b), cfg, objective=obj3)
    resumed.fit(resume=True)
    assert obj3.calls == 10  # the objective's state came back with the checkpoint
    for p, q in zip(G.parameters(), G3.parameters()):
        torch.testing.assert_close(p, q, rtol=0, atol=0)
    assert resumed.history["l1"] == pytest.approx(full.history["l1"])
    assert full.history["l1"][-1] < full.history["l1"][0]  # the L1 term is being minimised
    out = full.sample(batch=a[:4])
    assert out.shape == (4, 3)
    assert full.sample(n=2, batch=a[:4]).shape == (2, 3)  # without noise, n keeps the first n outputs
    torch.testing.assert_close(full.sample(n=2, batch=a[:4]), out[:2])
    with pytest.raises(ValueError, match="fewer than n=5"):
        full.sample(n=5, batch=a[:4])
    no_z = AdversarialTrainer(nn.Linear(3, 3), D, (a, b), _config(steps=1, z_dim=None), objective=Paired())
    assert no_z.fit()["g_loss"]  # no noise dimension needed when the objective draws no noise
    with pytest.raises(ValueError, match="needs the input images"):
        full.sample()


def test_sampler_and_loader_pass_tuples_with_an_objective():
    def sample(n, gen):
        x = torch.randn(n, 3, generator=gen)
        return x, (x[:, 0] > 0).long()

    torch.manual_seed(0)
    G = nn.Sequential(nn.Linear(4 + 2, 8), nn.ReLU(), nn.Linear(8, 3))
    D = nn.Sequential(nn.Linear(3 + 2, 8), nn.LeakyReLU(0.2), nn.Linear(8, 1))
    AdversarialTrainer(G, D, sample, _config(steps=2), objective=Conditional(2)).fit()
    ds = torch.utils.data.TensorDataset(torch.randn(32, 3), torch.randint(0, 2, (32,)))
    loader = torch.utils.data.DataLoader(ds, batch_size=8, drop_last=True)
    obj = Conditional(2)
    AdversarialTrainer(G, D, loader, _config(steps=2), objective=obj).fit()
    assert len(obj.seen) == 2


def test_bad_input_gives_clear_errors():
    G, D = _models()
    x, y = torch.randn(16, 3), torch.arange(16) % 2
    with pytest.raises(ValueError, match="needs an objective"):
        AdversarialTrainer(G, D, (x, y), _config())
    with pytest.raises(TypeError, match="lacks"):
        AdversarialTrainer(G, D, x, _config(), objective=object())
    with pytest.raises(ValueError, match="penalty"):
        AdversarialTrainer(G, D, x, _config(penalty="wgan_gp"), objective=NonSaturating())
    with pytest.raises(ValueError, match="same number of samples"):
        AdversarialTrainer(G, D, (x, y[:10]), _config(), objective=NonSaturating())
    with pytest.raises(TypeError, match="floating-point"):
        AdversarialTrainer(G, D, (y, x), _config(), objective=NonSaturating())
    with pytest.raises(TypeError, match="tensors only"):
        AdversarialTrainer(G, D, (x, [1, 2]), _config(), objective=NonSaturating())
    with pytest.raises(ValueError, match="batch= is for trainers with an objective"):
        AdversarialTrainer(G, D, x, _config()).sample(batch=x)

    class NotScalar(NonSaturating):
        def d_loss(self, G, D, batch, z):
            return D(batch), {}

    t = AdversarialTrainer(G, D, x, _config(steps=1), objective=NotScalar())
    with pytest.raises(TypeError, match="scalar loss"):
        t.fit()

    class NoLogs(NonSaturating):
        def g_loss(self, G, D, batch, z):
            return F.softplus(-D(G(z))).mean()

    t = AdversarialTrainer(G, D, x, _config(steps=1), objective=NoLogs())
    with pytest.raises(TypeError, match=r"must return \(loss, logs\)"):
        t.fit()
    with pytest.raises(NotImplementedError, match="must implement d_loss"):
        Objective().d_loss(G, D, x, None)


def test_nonfinite_objective_loss_is_guarded():
    class Nan(NonSaturating):
        def d_loss(self, G, D, batch, z):
            loss, logs = super().d_loss(G, D, batch, z)
            return loss * float("nan"), logs

    G, D = _models()
    before = [p.detach().clone() for p in D.parameters()]
    t = AdversarialTrainer(G, D, torch.randn(16, 3), _config(steps=2, nonfinite="skip"), objective=Nan())
    with pytest.warns(RuntimeWarning, match="skipping"):
        t.fit()
    assert t.nonfinite_skips["discriminator"] == 2
    assert all(torch.equal(a, b) for a, b in zip(before, D.parameters()))
