"""Tests of course_lib.gan.penalties: closed forms on linear and quadratic critics, the random points (per-sample
epsilon, DRAGAN's perturbation) rebuilt from the same generator, double-backward gradients against finite
differences, the registry (with a smoke test generated from it), and the trainer's use of penalties by name
(paper weights, exact resume)."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from course_lib.gan import penalties as P
from course_lib.gan.losses import get_gan_loss
from course_lib.train import AdversarialTrainer, TrainerConfig, discriminator_step


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _linear_critic(shape: tuple[int, ...], seed: int = 0) -> tuple[nn.Module, torch.Tensor]:
    """D(x) = w . flatten(x) + b, float64; returns the module and w."""
    torch.manual_seed(seed)
    lin = nn.Linear(math.prod(shape), 1).double()
    return nn.Sequential(nn.Flatten(), lin), lin.weight.detach()[0]


class Quadratic(nn.Module):
    """D(x) = 0.5 * s * ||x||^2 per sample, so grad D(x) = s x."""

    def __init__(self, s: float = 1.0) -> None:
        super().__init__()
        self.s = nn.Parameter(torch.tensor(s, dtype=torch.float64))

    def forward(self, x):
        return 0.5 * self.s * x.flatten(1).square().sum(1)


SHAPES = [(3,), (2, 4, 4)]  # vectors and images


def _batch(shape, seed, n=5):
    return torch.randn(n, *shape, generator=_gen(seed), dtype=torch.float64)


# ----------------------------------------------------------------------------------------------------------------
# closed forms
# ----------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", SHAPES)
def test_gradient_penalty_of_a_linear_critic(shape):
    D, w = _linear_critic(shape)
    real, fake = _batch(shape, 1), _batch(shape, 2)
    expected = (w.norm() - 1) ** 2  # grad D = w everywhere
    torch.testing.assert_close(P.gradient_penalty(D, real, fake), expected)
    torch.testing.assert_close(P.dragan_penalty(D, real, fake), expected)
    torch.testing.assert_close(P.wgan_div_penalty(D, real, fake), w.norm() ** 6)
    torch.testing.assert_close(P.wgan_div_penalty(D, real, fake, p=2.0, samples="real_and_fake"), w.norm() ** 2)
    torch.testing.assert_close(P.r1_penalty(D, real), 0.5 * w.norm() ** 2)
    torch.testing.assert_close(P.r2_penalty(D, real, fake), 0.5 * w.norm() ** 2)


def test_unit_gradient_gives_zero_penalty():
    D, w = _linear_critic((4,))
    with torch.no_grad():
        D[1].weight.copy_(torch.tensor([[0.6, 0.0, 0.8, 0.0]], dtype=torch.float64))  # ||w|| = 1
    assert P.gradient_penalty(D, _batch((4,), 1), _batch((4,), 2)).item() == pytest.approx(0.0, abs=1e-15)


@pytest.mark.parametrize("shape", SHAPES)
def test_gradient_penalty_interpolates_per_sample(shape):
    D = Quadratic(1.0)
    real, fake = _batch(shape, 3), _batch(shape, 4)
    eps = torch.rand(real.shape[0], generator=_gen(9), dtype=torch.float64)
    e = eps.view(-1, *([1] * len(shape)))
    x_hat = e * real + (1 - e) * fake  # eps = 1 is the real sample
    expected = ((x_hat.flatten(1).norm(dim=1) - 1) ** 2).mean()
    torch.testing.assert_close(P.gradient_penalty(D, real, fake, generator=_gen(9)), expected)
    torch.testing.assert_close(P.interpolate(real, fake, eps), x_hat)
    # wgan-div draws its interpolates the same way
    torch.testing.assert_close(P.wgan_div_penalty(D, real, fake, generator=_gen(9)),
                               (x_hat.flatten(1).norm(dim=1) ** 6).mean())
    # the global generator, seeded the same way, gives the same numbers
    torch.manual_seed(9)
    torch.testing.assert_close(P.gradient_penalty(D, real, fake), expected)


@pytest.mark.parametrize("shape", SHAPES)
def test_dragan_perturbation_matches_the_reference_recipe(shape):
    D = Quadratic(1.0)
    real = _batch(shape, 5)
    g = _gen(11)
    u = torch.rand(real.shape, generator=g, dtype=torch.float64)  # drawn first
    alpha = torch.rand(real.shape[0], generator=g, dtype=torch.float64).view(-1, *([1] * len(shape)))
    std = float(real.numpy().std())  # NumPy's population std over the whole batch, as in the reference code
    perturbed = real + 0.5 * std * u
    x_hat = real + alpha * (perturbed - real)
    expected = ((x_hat.flatten(1).norm(dim=1) - 1) ** 2).mean()
    torch.testing.assert_close(P.dragan_penalty(D, real, None, generator=_gen(11)), expected)


def test_r1_on_a_quadratic_critic():
    D = Quadratic(2.0)  # grad = 2 x
    real = _batch((3,), 6)
    torch.testing.assert_close(P.r1_penalty(D, real), 0.5 * (4 * real.square().sum(1)).mean())


# ----------------------------------------------------------------------------------------------------------------
# double backward
# ----------------------------------------------------------------------------------------------------------------
def test_linear_critic_parameter_gradient_closed_form():
    D, w = _linear_critic((3,))
    P.gradient_penalty(D, _batch((3,), 1), _batch((3,), 2)).backward()
    # d/dw (||w|| - 1)^2 = 2 (||w|| - 1) w / ||w||; the bias has no influence
    torch.testing.assert_close(D[1].weight.grad[0], 2 * (w.norm() - 1) * w / w.norm())
    assert D[1].bias.grad is None or D[1].bias.grad.abs().max() == 0


@pytest.mark.parametrize("name", ["wgan_gp", "dragan", "wgan_div", "r1", "r2"])
def test_double_backward_matches_finite_differences(name):
    torch.manual_seed(0)
    D = nn.Sequential(nn.Linear(2, 4), nn.Tanh(), nn.Linear(4, 1)).double()
    real, fake = _batch((2,), 7, n=4), _batch((2,), 8, n=4)
    kwargs = {"p": 3.0} if name == "wgan_div" else {}

    def value() -> torch.Tensor:
        rng = {"generator": _gen(5)} if name in ("wgan_gp", "dragan", "wgan_div") else {}
        return P.get_penalty(name, **rng, **kwargs)(D, real, fake)

    params = list(D.parameters())
    grads = torch.autograd.grad(value(), params, allow_unused=True)  # the last bias never matters
    grads = [torch.zeros_like(p) if g is None else g for p, g in zip(params, grads)]
    h = 1e-6

    def shifted(flat: torch.Tensor, i: int, new: float) -> float:
        with torch.no_grad():
            flat[i] = new
        return value().item()  # with autograd on: the penalty differentiates D inside

    for p, g in zip(params, grads):
        flat, gflat = p.detach().view(-1), g.reshape(-1)
        for i in range(flat.numel()):
            old = flat[i].item()
            up, down = shifted(flat, i, old + h), shifted(flat, i, old - h)
            shifted(flat, i, old)
            assert gflat[i].item() == pytest.approx((up - down) / (2 * h), rel=1e-5, abs=1e-8), (name, i)


def test_zero_gradient_is_finite():
    D = nn.Sequential(nn.Linear(2, 1)).double()
    with torch.no_grad():
        D[0].weight.zero_()
    value = P.gradient_penalty(D, _batch((2,), 1), _batch((2,), 2))
    assert value.item() == 1.0  # (0 - 1)^2
    value.backward()
    assert torch.isfinite(D[0].weight.grad).all()


# ----------------------------------------------------------------------------------------------------------------
# bad inputs
# ----------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "call, err, match",
    [
        (lambda D: P.gradient_penalty(D, torch.zeros(3, 2), torch.zeros(4, 2)), ValueError, "same shape"),
        (lambda D: P.gradient_penalty(D, [[0.0, 0.0]], torch.zeros(1, 2)), TypeError, "real must be"),
        (lambda D: P.gradient_penalty(D, torch.zeros(3, 2, dtype=torch.long), torch.zeros(3, 2)), TypeError,
         "floating"),
        (lambda D: P.gradient_penalty(D, torch.zeros(0, 2), torch.zeros(0, 2)), ValueError, "non-empty"),
        (lambda D: P.gradient_penalty(D, torch.zeros(3, 2), torch.zeros(3, 2), generator=1), TypeError,
         "generator"),
        (lambda D: P.wgan_div_penalty(D, torch.zeros(3, 2), torch.zeros(3, 2), samples="all"), ValueError,
         "samples"),
        (lambda D: P.wgan_div_penalty(D, torch.zeros(3, 2), torch.zeros(3, 2), p=0), ValueError, "p must"),
        (lambda D: P.dragan_penalty(D, torch.zeros(3, 2), c=-1.0), ValueError, "c must"),
        (lambda D: P.gradient_penalty("D", torch.zeros(3, 2), torch.zeros(3, 2)), TypeError, "callable"),
        (lambda D: P.gradient_penalty(nn.Linear(2, 2), torch.zeros(3, 2), torch.zeros(3, 2)), ValueError,
         "one value per sample"),
        (lambda D: P.interpolate(torch.zeros(3, 2), torch.zeros(3, 2), torch.zeros(2)), ValueError, r"\(3,\)"),
        (lambda D: P.get_penalty("wgan_gpp"), ValueError, "unknown penalty 'wgan_gpp'.*wgan_gp"),
        (lambda D: P.get_penalty(P.r1_penalty, weight=2.0), TypeError, "by name"),
        (lambda D: P.get_penalty(3), TypeError, "penalty name"),
        (lambda D: P.get_penalty("wgan_gp", weight=-1.0), ValueError, "weight"),
    ],
)
def test_bad_inputs(call, err, match):
    D = nn.Linear(2, 1)
    with pytest.raises(err, match=match):
        call(D)


# ----------------------------------------------------------------------------------------------------------------
# the registry and a smoke test generated from it
# ----------------------------------------------------------------------------------------------------------------
def test_registry_defaults():
    names = P.list_penalties()
    assert {"wgan_gp", "dragan", "wgan_div", "r1", "r2", "historical_averaging"} <= set(names)
    assert names == sorted(names)
    weights = {n: P.get_penalty(n).default_weight for n in ("wgan_gp", "dragan", "wgan_div", "r1")}
    assert weights == {"wgan_gp": 10.0, "dragan": 10.0, "wgan_div": 2.0, "r1": 10.0}
    a, b = P.get_penalty("wgan_gp"), P.get_penalty("wgan_gp", weight=5.0, target=0.5)
    assert a is not b and b.default_weight == 5.0 and b.kwargs == {"target": 0.5}
    assert "Gulrajani" in P.penalty_description("wgan_gp")
    with pytest.raises(ValueError, match="already registered"):
        P.register_penalty("r1", lambda **kw: None)


class _ColumnOutput(nn.Module):
    """Wraps a D returning (N,) into one returning (N, 1)."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x):
        return self.inner(x)[:, None]


def _smoke_D(shape, column: bool) -> nn.Module:
    torch.manual_seed(0)
    if len(shape) == 1:
        D = nn.Sequential(nn.Linear(shape[0], 8), nn.Tanh(), nn.Linear(8, 1), nn.Flatten(0))
    else:
        D = nn.Sequential(nn.Conv2d(shape[0], 3, 3), nn.Tanh(), nn.Flatten(), nn.Linear(3 * 2 * 2, 1), nn.Flatten(0))
    D = D.double()
    return _ColumnOutput(D) if column else D


@pytest.mark.parametrize("column", [False, True], ids=["(N,)", "(N,1)"])
@pytest.mark.parametrize("shape", SHAPES, ids=["vectors", "images"])
@pytest.mark.parametrize("name", P.list_penalties())
def test_smoke_every_registered_penalty(name, shape, column):
    penalty = P.get_penalty(name)
    D = _smoke_D(shape, column)
    real, fake = _batch(shape, 1, n=4), _batch(shape, 2, n=4)
    first = penalty(D, real, fake)
    assert first.shape == () and torch.isfinite(first) and first.item() >= 0
    with torch.no_grad():  # move D (so a history-based penalty has something to measure), then again
        for p in D.parameters():
            p.add_(0.1)
    value = penalty(D, real, fake)
    assert value.shape == () and torch.isfinite(value) and value.item() > 0
    value.backward()
    grads = [p.grad for p in D.parameters()]
    assert all(g is None or torch.isfinite(g).all() for g in grads)
    assert any(g is not None and g.abs().sum() > 0 for g in grads), "no gradient reaches D's parameters"


# ----------------------------------------------------------------------------------------------------------------
# the trainer
# ----------------------------------------------------------------------------------------------------------------
class TinyG(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.z_dim = 3
        self.net = nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 2))

    def forward(self, z):
        return self.net(z)


def _models(seed: int = 0):
    torch.manual_seed(seed)
    return TinyG(), nn.Sequential(nn.Linear(2, 8), nn.LeakyReLU(0.2), nn.Dropout(0.2), nn.Linear(8, 1))


DATA = torch.randn(64, 2, generator=_gen(3)) + 1.0


def _cfg(**kw) -> TrainerConfig:
    base = dict(steps=10, batch_size=16, loss="wgan", progress=False, sample_every=0, log_every=1)
    base.update(kw)
    return TrainerConfig(**base)


def test_config_takes_a_penalty_by_name_with_its_paper_weight():
    tr = AdversarialTrainer(*_models(), DATA, _cfg(penalty="wgan_gp"))
    assert isinstance(tr.penalty, P.Penalty) and tr.penalty.name == "wgan_gp" and tr.penalty_weight == 10.0
    assert AdversarialTrainer(*_models(), DATA, _cfg(penalty="r1", penalty_weight=0.5)).penalty_weight == 0.5
    assert AdversarialTrainer(*_models(), DATA, _cfg(penalty=P.r1_penalty)).penalty_weight == 1.0
    assert _cfg(penalty="wgan_gp").to_dict()["penalty"] == "wgan_gp"
    assert _cfg(penalty=P.get_penalty("dragan")).to_dict()["penalty"] == "dragan"
    with pytest.raises(ValueError, match="not a registered penalty.*wgan_gp"):
        _cfg(penalty="gradient_penalty")
    tr.fit()
    assert all(v > 0 for v in tr.history["penalty"])


def test_discriminator_step_adds_the_weighted_penalty():
    G, _ = _models()
    D, w = _linear_critic((2,))
    real, z = DATA[:8].double(), torch.randn(8, 3, dtype=torch.float64)
    G = G.double()
    loss = get_gan_loss("wgan")
    with torch.no_grad():
        plain = loss.d_loss(D(real).squeeze(1), D(G(z)).squeeze(1)).item()
    out = discriminator_step(G, D, torch.optim.SGD(D.parameters(), lr=0.0), real, z, loss,
                             penalty=P.get_penalty("wgan_gp"), penalty_weight=10.0)
    assert out["penalty"] == pytest.approx(((w.norm() - 1) ** 2).item(), rel=1e-12)
    assert out["d_loss"] == pytest.approx(plain + 10 * out["penalty"], rel=1e-12)


@pytest.mark.parametrize("with_generator", [False, True], ids=["global RNG", "own generator"])
def test_resume_with_a_penalty_is_bit_exact(tmp_path, with_generator):
    def penalty():
        return P.get_penalty("wgan_gp", generator=_gen(42)) if with_generator else "wgan_gp"

    torch.manual_seed(100)
    straight = AdversarialTrainer(*_models(), DATA, _cfg(penalty=penalty(), n_critic=2))
    straight.fit()
    torch.manual_seed(100)
    first = AdversarialTrainer(*_models(), DATA, _cfg(penalty=penalty(), n_critic=2, checkpoint_dir=str(tmp_path)))
    first.fit(4)
    torch.manual_seed(5)  # another session
    other = P.get_penalty("wgan_gp", generator=_gen(7)) if with_generator else "wgan_gp"
    resumed = AdversarialTrainer(*_models(3), DATA, _cfg(penalty=other, n_critic=2, checkpoint_dir=str(tmp_path)))
    resumed.fit(10, resume=True)
    assert resumed.history["penalty"] == straight.history["penalty"]
    assert resumed.history["d_loss"] == straight.history["d_loss"]
    for a, b in zip(resumed.D.parameters(), straight.D.parameters()):
        assert torch.equal(a, b)
