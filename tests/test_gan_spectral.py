"""Tests of course_lib.gan.spectral: the power iteration against the SVD and against PyTorch's parametrization
(bit for bit), the from-scratch modules against torch.nn.utils.parametrizations.spectral_norm, the gradient of
sigma, apply_spectral_norm, and the Lipschitz bound of a spectrally normalised MLP checked numerically."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import spectral_norm

from course_lib.gan import spectral as S


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _unit(n: int, seed: int, dtype=torch.float64) -> torch.Tensor:
    return F.normalize(torch.randn(n, generator=torch.Generator().manual_seed(seed), dtype=dtype), dim=0)


WEIGHTS = {
    "linear": (lambda: nn.Linear(7, 5), 0),
    "conv2d": (lambda: nn.Conv2d(3, 4, 3), 0),
    "conv_transpose2d": (lambda: nn.ConvTranspose2d(4, 3, 4), 1),
}


@pytest.mark.parametrize("kind", list(WEIGHTS))
def test_power_iteration_converges_to_the_largest_singular_value(kind):
    make, dim = WEIGHTS[kind]
    torch.manual_seed(0)
    W = make().weight.detach().double()
    W_mat = S.weight_as_matrix(W, dim)
    assert W_mat.shape[0] == (W.shape[1] if dim == 1 else W.shape[0])
    exact = torch.linalg.matrix_norm(W_mat, ord=2)
    torch.testing.assert_close(S.spectral_norm_exact(W, dim), exact)
    sigma, u, v = S.spectral_norm_power_iteration(W, _unit(W_mat.shape[0], 1), n_iters=500, dim=dim)
    torch.testing.assert_close(sigma, exact, rtol=1e-10, atol=0)
    # u, v are the top singular vectors (up to a common sign)
    U, s, Vh = torch.linalg.svd(W_mat)
    sign = torch.sign(u @ U[:, 0])
    torch.testing.assert_close(u, sign * U[:, 0], rtol=0, atol=1e-8)
    torch.testing.assert_close(v, sign * Vh[0], rtol=0, atol=1e-8)


def test_estimate_rises_to_sigma_from_below():
    torch.manual_seed(1)
    W = torch.randn(6, 9, dtype=torch.float64)
    exact = torch.linalg.matrix_norm(W, ord=2).item()
    estimates = [S.spectral_norm_power_iteration(W, _unit(6, 2), n)[0].item() for n in range(0, 8)]
    assert all(e <= exact * (1 + 1e-12) for e in estimates)
    # sigma_n = ||W^T u_n|| with u_n = N((W W^T)^n u_0): a PSD matrix's Rayleigh quotient never decreases
    assert all(b >= a - 1e-12 for a, b in zip(estimates, estimates[1:]))


def test_diagonal_matrix_closed_form():
    W = torch.diag(torch.tensor([3.0, 1.0, 0.5], dtype=torch.float64))
    u0 = torch.tensor([1.0, 1.0, 1.0], dtype=torch.float64)
    # v = N(W^T u) = (3, 1, .5)/|.|, then u = N(W v) ~ (9, 1, .25): the (sigma2/sigma1)^2 = 1/9 rate per round
    sigma, u, v = S.spectral_norm_power_iteration(W, u0, 1)
    a = torch.tensor([9.0, 1.0, 0.25], dtype=torch.float64)
    torch.testing.assert_close(u, a / a.norm())
    b = torch.tensor([27.0, 1.0, 0.125], dtype=torch.float64)
    torch.testing.assert_close(v, b / b.norm())
    torch.testing.assert_close(sigma, (W.T @ u).norm())


def test_one_iteration_equals_pytorchs_training_forward():
    torch.manual_seed(0)
    layer = spectral_norm(nn.Linear(7, 5))
    sn = layer.parametrizations.weight[0]
    W = layer.parametrizations.weight.original
    for step in range(3):
        u_before, v_before = sn._u.clone(), sn._v.clone()
        W_sn = layer.weight  # training mode: one power iteration, then W / sigma
        sigma, u, v = S.spectral_norm_power_iteration(W.detach(), u_before, 1, v=v_before)
        assert torch.equal(W.detach() / sigma, W_sn.detach())
        assert torch.equal(u, sn._u) and torch.equal(v, sn._v)
        if step == 0:  # right after registration v is N(W^T u): u alone suffices
            sigma_u_only, _, _ = S.spectral_norm_power_iteration(W.detach(), u_before, 1)
            assert torch.equal(sigma_u_only, sigma)
        with torch.no_grad():  # an optimizer step
            W.add_(0.05 * torch.randn_like(W))
    layer.eval()
    sigma0, _, _ = S.spectral_norm_power_iteration(W.detach(), sn._u, 0, v=sn._v)
    assert torch.equal(layer.weight.detach(), W.detach() / sigma0)  # eval: no iteration


def test_registration_runs_fifteen_plus_one_iterations():
    torch.manual_seed(0)
    layer = nn.Linear(7, 5)
    W = layer.weight.detach().clone()
    torch.manual_seed(1)
    spectral_norm(layer)
    torch.manual_seed(1)
    u0 = F.normalize(torch.empty(5).normal_(0, 1), dim=0)
    v0 = F.normalize(torch.empty(7).normal_(0, 1), dim=0)
    _, u, v = S.spectral_norm_power_iteration(W, u0, 16, v=v0)
    sn = layer.parametrizations.weight[0]
    assert torch.equal(u, sn._u) and torch.equal(v, sn._v)


@pytest.mark.parametrize("kind", list(WEIGHTS))
def test_scratch_parametrization_is_bit_identical_to_pytorchs(kind):
    make, _ = WEIGHTS[kind]
    torch.manual_seed(3)
    a = make()
    b = make()
    b.load_state_dict(a.state_dict())
    torch.manual_seed(4)
    spectral_norm(a)
    torch.manual_seed(4)
    S.spectral_norm_scratch(b)
    x = torch.randn(2, 7) if kind == "linear" else torch.randn(2, a.in_channels, 6, 6)
    opt_a = torch.optim.SGD(a.parameters(), lr=0.1)
    opt_b = torch.optim.SGD(b.parameters(), lr=0.1)
    for _ in range(3):  # train steps: forward, backward (through sigma), update
        out_a, out_b = a(x), b(x)
        assert torch.equal(out_a, out_b)
        out_a.square().sum().backward()
        out_b.square().sum().backward()
        ga = a.parametrizations.weight.original.grad
        gb = b.parametrizations.weight.original.grad
        assert torch.equal(ga, gb)
        opt_a.step(), opt_b.step()
        opt_a.zero_grad(), opt_b.zero_grad()
    a.eval(), b.eval()
    assert torch.equal(a(x), b(x))


def test_spectral_norm_linear_matches_pytorch():
    torch.manual_seed(5)
    mine = S.SpectralNormLinear(6, 4)
    torch.manual_seed(5)
    ref = spectral_norm(nn.Linear(6, 4))
    x = torch.randn(3, 6)
    for _ in range(3):
        assert torch.equal(mine(x), ref(x))
        with torch.no_grad():
            mine.weight.mul_(1.1)
            ref.parametrizations.weight.original.mul_(1.1)
    mine.eval(), ref.eval()
    assert torch.equal(mine(x), ref(x)) and torch.equal(mine(x), mine(x))
    torch.testing.assert_close(mine.sigma, torch.linalg.matrix_norm(mine.weight.detach(), 2), rtol=1e-3, atol=0)
    with pytest.raises(ValueError, match=r"\(\.\.\., 6\)"):
        mine(torch.zeros(3, 5))


def test_sigma_gradient_is_u_v_transpose():
    torch.manual_seed(0)
    W = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    sigma, u, v = S.spectral_norm_power_iteration(W, _unit(4, 0), 3)
    sigma.backward()
    torch.testing.assert_close(W.grad, torch.outer(u, v))  # d(u^T W v)/dW with u, v held constant


def test_apply_spectral_norm_covers_every_layer_once():
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.LeakyReLU(0.2), nn.ConvTranspose2d(4, 2, 2),
        nn.Flatten(), nn.Linear(2 * 5 * 5, 1), nn.Embedding(3, 2),
    )
    spectral_norm(model[5])  # already normalised: left alone
    inner = model[5].parametrizations.weight[0]
    assert S.apply_spectral_norm(model) is model
    for i in (0, 3, 5):
        assert parametrize.is_parametrized(model[i], "weight")
        assert len(model[i].parametrizations.weight) == 1
    assert model[5].parametrizations.weight[0] is inner
    assert not parametrize.is_parametrized(model[1]) and not parametrize.is_parametrized(model[6])
    assert model[3].parametrizations.weight[0].dim == 1  # PyTorch's choice for transposed convolutions
    norms = S.layer_spectral_norms(model)
    assert set(norms) == {"0", "3", "5"} and all(0.99 < s < 1.05 for s in norms.values())
    with pytest.raises(TypeError, match="Module"):
        S.apply_spectral_norm("model")


def test_spectrally_normalised_mlp_is_1_lipschitz():
    torch.manual_seed(0)
    mlp = nn.Sequential(nn.Linear(5, 32), nn.LeakyReLU(0.2), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 1))
    with torch.no_grad():
        for m in mlp:
            if isinstance(m, nn.Linear):
                m.weight.mul_(5.0)  # far from 1-Lipschitz to begin with
    x = torch.randn(256, 5)
    before = torch.autograd.functional.jacobian(lambda t: mlp(t).sum(), x).norm(dim=1).max()
    S.apply_spectral_norm(mlp, n_power_iterations=30)
    mlp(x)  # one training forward: 30 more rounds, the estimates have converged
    mlp.eval()
    # the bound: the product of the exact spectral norms of the effective weights
    bound = 1.0
    for s in S.layer_spectral_norms(mlp).values():
        bound *= s
    assert bound == pytest.approx(1.0, abs=1e-6)
    x = x.requires_grad_()
    grads = torch.autograd.grad(mlp(x).sum(), x)[0]  # (256, 5): per-sample gradients
    assert before > 2.0 and grads.norm(dim=1).max().item() <= bound + 1e-6
    y = torch.randn(256, 5)
    with torch.no_grad():
        ratios = (mlp(x) - mlp(y)).abs().squeeze(1) / (x - y).norm(dim=1)
    assert ratios.max().item() <= bound + 1e-6


@pytest.mark.parametrize(
    "call, err, match",
    [
        (lambda: S.spectral_norm_power_iteration(torch.zeros(3), torch.ones(3)), ValueError, "at least 2"),
        (lambda: S.spectral_norm_power_iteration(torch.ones(3, 2), torch.ones(2)), ValueError, r"\(3,\)"),
        (lambda: S.spectral_norm_power_iteration(torch.ones(3, 2), torch.zeros(3)), ValueError, "zero vector"),
        (lambda: S.spectral_norm_power_iteration(torch.ones(3, 2), torch.ones(3), -1), ValueError, "n_iters"),
        (lambda: S.spectral_norm_power_iteration(torch.ones(3, 2), torch.ones(3), v=torch.ones(3)), ValueError,
         r"\(2,\)"),
        (lambda: S.spectral_norm_power_iteration(torch.ones(3, 2, dtype=torch.long), torch.ones(3)), TypeError,
         "floating"),
        (lambda: S.weight_as_matrix(torch.ones(2, 2), dim=2), ValueError, "dim"),
        (lambda: S.SpectralNormLinear(0, 3), ValueError, "in_features"),
        (lambda: S.apply_spectral_norm(nn.Linear(2, 2), n_power_iterations=0), ValueError, "n_power_iterations"),
        (lambda: S.spectral_norm_scratch(nn.ReLU()), ValueError, "no tensor attribute"),
    ],
)
def test_bad_inputs(call, err, match):
    with pytest.raises(err, match=match):
        call()
