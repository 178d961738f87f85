"""course_lib.gan.conditional: conditional batch norm against nn.BatchNorm2d and a per-sample loop, the projection
logit against its definition, the CGAN networks, the conditional objective on the one trainer, bad inputs."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from course_lib.gan import conditional as C
from course_lib.train import AdversarialTrainer, TrainerConfig


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_one_hot_and_labels():
    y = torch.tensor([2, 0, 1])
    assert torch.equal(C.one_hot(y, 3), torch.eye(3)[[2, 0, 1]])
    with pytest.raises(TypeError, match="integer class labels"):
        C.one_hot(torch.tensor([0.0, 1.0]), 3)
    with pytest.raises(ValueError, match="0..2"):
        C.one_hot(torch.tensor([0, 3]), 3)
    with pytest.raises(ValueError, match=r"shape \(N,\)"):
        C.check_labels(torch.zeros(2, 3, dtype=torch.long), 3)
    assert torch.equal(C.class_grid_labels(3, 2), torch.tensor([0, 0, 1, 1, 2, 2]))
    u = C.uniform_labels(20000, 4, _gen())
    counts = torch.bincount(u, minlength=4).float() / 20000
    assert torch.allclose(counts, torch.full((4,), 0.25), atol=0.02)


def _cbn_loop(x, y, gain, bias, eps=1e-5):
    """Per channel, per sample: the slow, obvious version."""
    out = torch.empty_like(x)
    for c in range(x.shape[1]):
        vals = x[:, c].reshape(-1).double()
        mu = vals.mean()
        var = ((vals - mu) ** 2).mean()
        for n in range(x.shape[0]):
            out[n, c] = (gain[y[n], c] * (x[n, c].double() - mu) / torch.sqrt(var + eps) + bias[y[n], c]).to(x.dtype)
    return out


@pytest.mark.parametrize("shape", [(6, 3, 4, 4), (7, 5)])
def test_conditional_batch_norm_matches_loop(shape):
    g = _gen(1)
    x = torch.randn(*shape, generator=g) * 3 + 1
    y = torch.randint(4, (shape[0],), generator=g)
    gain, bias = torch.rand(4, shape[1], generator=g) + 0.5, torch.randn(4, shape[1], generator=g)
    torch.testing.assert_close(C.conditional_batch_norm(x, y, gain, bias), _cbn_loop(x, y, gain, bias),
                               rtol=1e-5, atol=1e-5)


def test_cbn_module_starts_as_batch_norm_and_uses_running_stats_in_eval():
    torch.manual_seed(0)
    cbn, bn = C.ConditionalBatchNorm2d(3, 5), torch.nn.BatchNorm2d(3)
    assert torch.equal(cbn.gain.weight, torch.ones(5, 3)) and torch.equal(cbn.bias.weight, torch.zeros(5, 3))
    x, y = torch.randn(8, 3, 4, 4), torch.randint(5, (8,))
    torch.testing.assert_close(cbn(x, y), bn(x))
    with torch.no_grad():
        cbn.gain.weight[2] = 2.0
        cbn.bias.weight[2] = -1.0
    out = cbn(x, y)
    bn(x)  # the same number of training-mode calls, so the same running statistics
    ref = C.conditional_batch_norm(x, y, cbn.gain.weight, cbn.bias.weight)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
    cbn.eval(), bn.eval()
    mask = (y != 2)
    torch.testing.assert_close(cbn(x, y)[mask], bn(x)[mask])
    with pytest.raises(ValueError, match="labels"):
        cbn(x, y[:3])


def test_conditional_batch_norm_bad_inputs():
    x, y = torch.randn(4, 3, 2, 2), torch.tensor([0, 1, 0, 1])
    with pytest.raises(ValueError, match=r"\(K, C\)"):
        C.conditional_batch_norm(x, y, torch.ones(2, 4), torch.zeros(2, 4))
    with pytest.raises(TypeError, match="floating"):
        C.conditional_batch_norm(x.long(), y, torch.ones(2, 3), torch.zeros(2, 3))
    with pytest.raises(ValueError, match="0..1"):
        C.conditional_batch_norm(x, torch.tensor([0, 1, 2, 0]), torch.ones(2, 3), torch.zeros(2, 3))


def test_projection_logit_is_psi_plus_inner_product():
    g = _gen(2)
    phi, E = torch.randn(5, 6, generator=g), torch.randn(3, 6, generator=g)
    w, b = torch.randn(1, 6, generator=g), torch.randn(1, generator=g)
    y = torch.tensor([0, 2, 1, 1, 0])
    expected = torch.stack([phi[n] @ w[0] + b[0] + E[y[n]] @ phi[n] for n in range(5)])
    torch.testing.assert_close(C.projection_logit(phi, y, w, b, E), expected)
    # the projection discriminator's log-ratio reading: changing the label changes the logit by <E_y - E_y', phi>
    d = C.projection_logit(phi, torch.zeros(5, dtype=torch.long), w, b, E) - C.projection_logit(
        phi, torch.ones(5, dtype=torch.long), w, b, E)
    torch.testing.assert_close(d, phi @ (E[0] - E[1]))
    with pytest.raises(ValueError, match="embed"):
        C.projection_logit(phi, y, w, b, torch.randn(3, 4))


def test_projection_discriminator_uses_its_layers():
    torch.manual_seed(0)
    D = C.ConditionalConvDiscriminator(num_classes=4, image_size=8, base=4, conditioning="projection")
    x, y = torch.randn(3, 1, 8, 8), torch.tensor([0, 3, 1])
    phi = D.features(x)
    expected = D.psi(phi).squeeze(1) + (D.embed.weight[y] * phi).sum(1)
    torch.testing.assert_close(D(x, y), expected)
    with pytest.raises(ValueError, match="needs the labels"):
        D(x)
    with pytest.raises(ValueError, match="conditioning"):
        C.ConditionalConvDiscriminator(conditioning="sum")


def test_concat_discriminator_sees_the_label_maps():
    torch.manual_seed(0)
    D = C.ConditionalConvDiscriminator(num_classes=3, image_size=8, base=4, conditioning="concat")
    assert D.conv1.in_channels == 1 + 3
    x = torch.randn(2, 1, 8, 8)
    assert not torch.allclose(D(x, torch.tensor([0, 0])), D(x, torch.tensor([1, 1])))


@pytest.mark.parametrize("mode", ["concat", "embed"])
def test_cgan_mlp_shapes_and_label_effect(mode):
    torch.manual_seed(0)
    G = C.CGANGenerator(z_dim=4, num_classes=3, out_shape=(1, 6, 6), hidden=(8,), conditioning=mode)
    D = C.CGANDiscriminator(num_classes=3, in_shape=(1, 6, 6), hidden=(8,), conditioning=mode)
    G.eval()
    z = torch.randn(5, 4)
    a, b = G(z, torch.zeros(5, dtype=torch.long)), G(z, torch.ones(5, dtype=torch.long))
    assert a.shape == (5, 1, 6, 6) and not torch.allclose(a, b)
    assert D(a, torch.zeros(5, dtype=torch.long)).shape == (5,)
    with pytest.raises(ValueError, match=r"shape \(N, 4\)"):
        G(torch.randn(5, 3), torch.zeros(5, dtype=torch.long))
    with pytest.raises(TypeError, match="integer"):
        G(z, torch.zeros(5))


def test_conditional_dcgan_generator_shapes():
    torch.manual_seed(0)
    for size in (8, 28):
        G = C.ConditionalDCGANGenerator(z_dim=6, num_classes=10, image_size=size, base=4)
        assert G(G.sample_z(3), torch.tensor([1, 2, 3])).shape == (3, 1, size, size)
    with pytest.raises(ValueError, match="multiple of 4"):
        C.ConditionalDCGANGenerator(image_size=10)


def test_conditional_objective_on_the_trainer_and_exact_resume(tmp_path):
    torch.manual_seed(0)
    x = torch.rand(64, 1, 8, 8) * 2 - 1
    y = torch.arange(64) % 4

    def build():
        torch.manual_seed(0)
        G = C.ConditionalDCGANGenerator(z_dim=4, num_classes=4, image_size=8, base=4)
        D = C.ConditionalConvDiscriminator(num_classes=4, image_size=8, base=4)
        return G, D

    def config(steps, **kw):
        return TrainerConfig(steps=steps, batch_size=16, z_dim=4, progress=False, sample_every=0, amp="off",
                             log_every=1, **kw)

    G, D = build()
    full = AdversarialTrainer(G, D, (x, y), config(6), objective=C.ConditionalObjective(4, seed=3))
    full.fit()
    assert len(full.history["d_real"]) == 6
    s = full.sample(z=full.fixed_noise[:8])
    assert s.shape == (8, 1, 8, 8)
    G, D = build()
    half = AdversarialTrainer(G, D, (x, y), config(3, checkpoint_dir=str(tmp_path)),
                              objective=C.ConditionalObjective(4, seed=3))
    half.fit()
    G, D = build()
    resumed = AdversarialTrainer(G, D, (x, y), config(6, checkpoint_dir=str(tmp_path)),
                                 objective=C.ConditionalObjective(4, seed=3))
    resumed.fit(resume=True)
    for a, b in zip(full.G.parameters(), resumed.G.parameters()):
        torch.testing.assert_close(a, b)


def test_conditional_objective_needs_labels():
    obj = C.ConditionalObjective(3)
    G = C.CGANGenerator(z_dim=2, num_classes=3, out_shape=(1, 2, 2), hidden=(4,))
    D = C.CGANDiscriminator(num_classes=3, in_shape=(1, 2, 2), hidden=(4,))
    with pytest.raises(TypeError, match=r"\(x, y\)"):
        obj.d_loss(G, D, torch.randn(4, 1, 2, 2), torch.randn(4, 2))
    with pytest.raises(ValueError, match="0..2"):
        obj.d_loss(G, D, (torch.randn(4, 1, 2, 2), torch.tensor([0, 1, 2, 5])), torch.randn(4, 2))
