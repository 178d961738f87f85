"""course_lib.gan.infogan: the lower bounds against closed forms (Q = the true posterior gives H(c), I(c; x) for a
deterministic code), torch.distributions, the networks, the objective, purity, bad inputs."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from course_lib.gan import infogan as I
from course_lib.train import AdversarialTrainer, TrainerConfig


def test_categorical_bound_closed_forms():
    k = 5
    codes = F.one_hot(torch.arange(10) % k, k).float()
    # Q knows the code exactly: the bound reaches H(c) = log K, the mutual information of a recoverable code
    assert I.categorical_mi_lower_bound(codes * 50.0, codes).item() == pytest.approx(math.log(k), abs=1e-6)
    # Q ignores x (uniform): the bound is log(1/K) + log K = 0, never above I = 0 of a useless code
    assert I.categorical_mi_lower_bound(torch.zeros(10, k), codes).item() == pytest.approx(0.0, abs=1e-6)
    prior = torch.tensor([0.5, 0.5, 0.0, 0.0, 0.0])
    assert I.categorical_mi_lower_bound(codes * 50.0, codes, prior).item() == pytest.approx(math.log(2), abs=1e-6)


def test_categorical_bound_matches_a_loop():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(7, 4, generator=g, dtype=torch.float64)
    idx = torch.randint(4, (7,), generator=g)
    prior = torch.tensor([0.1, 0.2, 0.3, 0.4], dtype=torch.float64)
    expected = sum(math.log(float(logits[n].softmax(0)[idx[n]])) for n in range(7)) / 7 - sum(
        float(p) * math.log(float(p)) for p in prior)
    assert I.categorical_mi_lower_bound(logits, F.one_hot(idx, 4).double(), prior).item() == pytest.approx(
        expected, rel=1e-12)


def test_gaussian_bound_matches_torch_distributions():
    g = torch.Generator().manual_seed(1)
    mean, log_std = torch.randn(6, 3, generator=g), torch.randn(6, 3, generator=g) * 0.3
    codes = torch.rand(6, 3, generator=g) * 2 - 1
    lp = torch.distributions.Normal(mean, log_std.exp()).log_prob(codes).sum(1).mean()
    torch.testing.assert_close(I.gaussian_mi_lower_bound(mean, log_std, codes), lp + 3 * math.log(2.0))


def test_bad_inputs():
    with pytest.raises(ValueError, match="one-hot"):
        I.categorical_mi_lower_bound(torch.randn(3, 3), torch.full((3, 3), 1 / 3))
    with pytest.raises(TypeError, match="floating"):
        I.categorical_mi_lower_bound(torch.randn(3, 3), torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match="probabilities"):
        I.categorical_mi_lower_bound(torch.randn(2, 2), torch.eye(2), torch.tensor([0.7, 0.7]))
    with pytest.raises(ValueError, match="same shape"):
        I.gaussian_mi_lower_bound(torch.zeros(2, 2), torch.zeros(2, 3), torch.zeros(2, 2))
    with pytest.raises(TypeError, match="integer"):
        I.code_purity(torch.tensor([0.0]), torch.tensor([0]))


def test_code_purity():
    labels = torch.tensor([0, 0, 1, 1, 2, 2])
    assert I.code_purity(torch.tensor([5, 5, 3, 3, 1, 1]), labels) == 1.0  # a relabelling is pure
    assert I.code_purity(torch.zeros(6, dtype=torch.long), labels) == pytest.approx(2 / 6)
    assert I.code_purity(torch.tensor([0, 0, 0, 1, 1, 1]), labels) == pytest.approx(4 / 6)


def test_networks_traversal_and_objective():
    torch.manual_seed(0)
    G = I.InfoGANGenerator(z_dim=4, n_categories=3, n_continuous=2, image_size=8, base=4)
    D = I.InfoGANDiscriminator(n_categories=3, n_continuous=2, image_size=8, base=4)
    assert G.z_dim == 4 + 3 + 2 and G.sample_z(5).shape == (5, 9)
    heads = D.split(D(torch.randn(4, 1, 8, 8)))
    assert heads["cat"].shape == (4, 3) and heads["mean"].shape == (4, 2) and heads["log_std"].shape == (4, 2)
    G.eval()
    z = torch.randn(2, 4)
    assert I.latent_traversal(G, z, category=True).shape == (3 * 2, 1, 8, 8)
    assert I.latent_traversal(G, z, continuous=1, values=torch.tensor([-1.0, 1.0])).shape == (4, 1, 8, 8)
    with pytest.raises(ValueError, match="continuous"):
        I.latent_traversal(G, z, continuous=2)
    with pytest.raises(ValueError, match="exactly one"):
        I.latent_traversal(G, z, category=True, continuous=0)
    x = torch.rand(32, 1, 8, 8) * 2 - 1
    cfg = TrainerConfig(steps=3, batch_size=16, z_dim=G.z_dim, progress=False, sample_every=0, amp="off", log_every=1)
    t = AdversarialTrainer(G, D, x, cfg, objective=I.InfoGANObjective(3, 2))
    h = t.fit()
    assert len(h["mi_cat"]) == 3 and all(v <= math.log(3) + 1e-6 for v in h["mi_cat"])
    assert t.sample(z=t.fixed_noise[:6]).shape == (6, 1, 8, 8)


def test_q_learns_the_code_when_trained_on_its_bound():
    """Maximising the bound over Q alone (fixed G) raises it towards H(c) = log K."""
    torch.manual_seed(0)
    G = I.InfoGANGenerator(z_dim=2, n_categories=3, n_continuous=0, image_size=8, base=4).eval()
    D = I.InfoGANDiscriminator(n_categories=3, n_continuous=0, image_size=8, base=4)
    opt = torch.optim.Adam(D.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(0)
    for _ in range(150):
        _, cat, _ = I.sample_codes(64, 3, 0, g)
        with torch.no_grad():
            x = G(torch.cat([torch.randn(64, 2, generator=g), cat], 1))
        loss = -I.categorical_mi_lower_bound(D.split(D(x))["cat"], cat)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert -loss.item() > 0.8 * math.log(3)
