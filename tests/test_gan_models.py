"""Tests of course_lib.gan.models: architecture, shapes, sampling, argument checks and the DCGAN initialisation."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from course_lib.gan.models import MLPDiscriminator, MLPGenerator, init_weights_normal
from course_lib.registry import create_model, get_entry


class TestGenerator:
    def test_layers_and_batchnorm_arguments(self):
        G = MLPGenerator(z_dim=16, out_shape=(1, 28, 28))
        linears = [m for m in G.modules() if isinstance(m, nn.Linear)]
        assert [(m.in_features, m.out_features) for m in linears] == [(16, 256), (256, 512), (512, 1024), (1024, 784)]
        assert [m.bias is None for m in linears] == [True, True, True, False]  # BN makes hidden biases redundant
        bns = [m for m in G.modules() if isinstance(m, nn.BatchNorm1d)]
        assert [m.num_features for m in bns] == [256, 512, 1024]
        assert all(m.eps == 1e-5 and m.momentum == 0.1 for m in bns)  # not BatchNorm1d(c, 0.8)
        acts = [m for m in G.modules() if isinstance(m, nn.LeakyReLU)]
        assert len(acts) == 3 and all(m.negative_slope == 0.2 for m in acts)
        assert isinstance(G.net[-1], nn.Tanh)

    def test_forward_shape_and_range(self):
        G = MLPGenerator(z_dim=8, out_shape=(1, 6, 6), hidden=(16,))
        out = G(torch.randn(5, 8))
        assert out.shape == (5, 1, 6, 6)
        assert out.abs().max() <= 1.0

    def test_toy_generator_unbounded_output_and_no_bn(self):
        G = MLPGenerator(z_dim=2, out_shape=(2,), hidden=(8, 8), out_activation=None, batch_norm=False)
        assert not any(isinstance(m, (nn.BatchNorm1d, nn.Tanh, nn.Sigmoid)) for m in G.modules())
        assert all(m.bias is not None for m in G.modules() if isinstance(m, nn.Linear))
        with torch.no_grad():
            G.net[-1].bias.fill_(10.0)
        out = G(torch.zeros(1, 2))  # batch of one is fine without BN
        assert out.shape == (1, 2) and (out > 1).all()

    def test_affine_generator_is_exact(self):
        # hidden=() gives G(z) = W z + b: check against the explicit product
        G = MLPGenerator(z_dim=3, out_shape=(2, 2), hidden=(), out_activation=None)
        lin = G.net[0]
        z = torch.randn(4, 3)
        torch.testing.assert_close(G(z), (z @ lin.weight.T + lin.bias).view(4, 2, 2))

    def test_sigmoid_output(self):
        G = MLPGenerator(z_dim=4, out_shape=(3,), hidden=(8,), out_activation="sigmoid")
        out = G(torch.randn(4, 4))
        assert ((out > 0) & (out < 1)).all()

    def test_sample_z(self):
        G = MLPGenerator(z_dim=5, out_shape=(2,), hidden=(4,))
        z = G.sample_z(7)
        assert z.shape == (7, 5) and z.dtype == torch.float32 and z.device.type == "cpu"
        z1 = G.sample_z(3, generator=torch.Generator().manual_seed(0))
        z2 = G.sample_z(3, generator=torch.Generator().manual_seed(0))
        assert torch.equal(z1, z2)
        assert torch.equal(z1, torch.randn(3, 5, generator=torch.Generator().manual_seed(0)))
        assert G.double().sample_z(2).dtype == torch.float64
        assert G.sample_z(0).shape == (0, 5)

    def test_sample_z_statistics(self):
        G = MLPGenerator(z_dim=4, out_shape=(2,), hidden=(4,))
        z = G.sample_z(20000, generator=torch.Generator().manual_seed(1))
        assert z.mean().abs() < 0.02 and (z.std() - 1).abs() < 0.02

    def test_registry_builds_it(self):
        G = create_model("mlp_generator", z_dim=3, out_shape=(2,), hidden=(4,), out_activation=None)
        assert isinstance(G, MLPGenerator) and G.z_dim == 3
        assert get_entry("mlp_generator").kind == "generator"

    @pytest.mark.parametrize(
        "kwargs, err, match",
        [
            (dict(z_dim=0, out_shape=(2,)), ValueError, "z_dim"),
            (dict(z_dim=-1, out_shape=(2,)), ValueError, "z_dim"),
            (dict(z_dim=2.5, out_shape=(2,)), ValueError, "z_dim"),
            (dict(z_dim=2, out_shape=()), ValueError, "out_shape must not be empty"),
            (dict(z_dim=2, out_shape=(2, 0)), ValueError, "positive"),
            (dict(z_dim=2, out_shape="2"), TypeError, "out_shape"),
            (dict(z_dim=2, out_shape=(2,), hidden=(8, -1)), ValueError, "hidden"),
            (dict(z_dim=2, out_shape=(2,), hidden=8), TypeError, "hidden"),
            (dict(z_dim=2, out_shape=(2,), out_activation="relu"), ValueError, "out_activation"),
            (dict(z_dim=2, out_shape=(2,), batch_norm="yes"), TypeError, "batch_norm"),
        ],
    )
    def test_bad_args(self, kwargs, err, match):
        with pytest.raises(err, match=match):
            MLPGenerator(**kwargs)

    def test_int_out_shape_accepted(self):
        assert MLPGenerator(z_dim=2, out_shape=3, hidden=(4,)).out_shape == (3,)

    @pytest.mark.parametrize(
        "z, err, match",
        [
            (torch.zeros(4, 3), ValueError, r"\(N, 5\)"),
            (torch.zeros(5), ValueError, r"\(N, 5\)"),
            ([0.0] * 5, TypeError, "torch.Tensor"),
        ],
    )
    def test_bad_forward_input(self, z, err, match):
        G = MLPGenerator(z_dim=5, out_shape=(2,), hidden=(4,))
        with pytest.raises(err, match=match):
            G(z)

    def test_sample_z_bad_n(self):
        G = MLPGenerator(z_dim=5, out_shape=(2,), hidden=(4,))
        with pytest.raises(ValueError, match="n must be"):
            G.sample_z(-1)


class TestDiscriminator:
    def test_layers(self):
        D = MLPDiscriminator(in_shape=(1, 28, 28), dropout=0.3)
        linears = [m for m in D.modules() if isinstance(m, nn.Linear)]
        assert [(m.in_features, m.out_features) for m in linears] == [(784, 512), (512, 256), (256, 1)]
        assert [m.p for m in D.modules() if isinstance(m, nn.Dropout)] == [0.3, 0.3]
        assert not any(isinstance(m, (nn.Sigmoid, nn.BatchNorm1d)) for m in D.modules())
        assert MLPDiscriminator(in_shape=(2,)).dropout == 0.0
        assert not any(isinstance(m, nn.Dropout) for m in MLPDiscriminator(in_shape=(2,)).modules())

    def test_logits_match_manual_forward(self):
        D = MLPDiscriminator(in_shape=(2, 3), hidden=(4,)).double()
        x = torch.randn(5, 2, 3, dtype=torch.float64)
        l1, l2 = [m for m in D.modules() if isinstance(m, nn.Linear)]
        h = torch.nn.functional.leaky_relu(x.reshape(5, 6) @ l1.weight.T + l1.bias, 0.2)
        expected = (h @ l2.weight.T + l2.bias)[:, 0]
        out = D(x)
        assert out.shape == (5,)
        torch.testing.assert_close(out, expected)

    def test_unbounded_logits(self):
        D = MLPDiscriminator(in_shape=(1,), hidden=())
        with torch.no_grad():
            D.net[-1].weight.fill_(10.0)
            D.net[-1].bias.zero_()
        assert torch.equal(D(torch.tensor([[5.0], [-5.0]])), torch.tensor([50.0, -50.0]))

    def test_dropout_only_in_training(self):
        D = MLPDiscriminator(in_shape=(4,), hidden=(64,), dropout=0.5)
        x = torch.randn(3, 4)
        D.eval()
        assert torch.equal(D(x), D(x))
        D.train()
        torch.manual_seed(0)
        assert not torch.equal(D(x), D(x))

    @pytest.mark.parametrize(
        "kwargs, err, match",
        [
            (dict(in_shape=()), ValueError, "in_shape must not be empty"),
            (dict(in_shape=(0, 3)), ValueError, "positive"),
            (dict(in_shape=(2,), hidden=(0,)), ValueError, "hidden"),
            (dict(in_shape=(2,), dropout=1.0), ValueError, "dropout"),
            (dict(in_shape=(2,), dropout=-0.1), ValueError, "dropout"),
            (dict(in_shape=(2,), dropout="0.1"), ValueError, "dropout"),
        ],
    )
    def test_bad_args(self, kwargs, err, match):
        with pytest.raises(err, match=match):
            MLPDiscriminator(**kwargs)

    @pytest.mark.parametrize(
        "x", [torch.zeros(4, 1, 28), torch.zeros(4, 784), torch.zeros(1, 28, 28), torch.zeros(4, 1, 28, 27)]
    )
    def test_bad_forward_input(self, x):
        D = MLPDiscriminator(in_shape=(1, 28, 28), hidden=(4,))
        with pytest.raises(ValueError, match=r"\(N, 1, 28, 28\)"):
            D(x)

    def test_gan_pair_end_to_end(self):
        G = create_model("mlp_generator", z_dim=4, out_shape=(1, 4, 4), hidden=(8,))
        D = create_model("mlp_discriminator", in_shape=(1, 4, 4), hidden=(8,))
        logits = D(G(G.sample_z(6)))
        assert logits.shape == (6,)
        logits.sum().backward()
        assert all(p.grad is not None for p in G.parameters())


class TestInitWeightsNormal:
    def test_statistics_and_biases(self):
        torch.manual_seed(0)
        model = nn.Sequential(
            nn.Linear(200, 300),
            nn.Conv2d(16, 32, 5),
            nn.ConvTranspose2d(32, 16, 4),
            nn.BatchNorm2d(2000),
            nn.BatchNorm1d(2000),
            nn.GroupNorm(4, 2000),
            nn.LayerNorm(10),
            nn.InstanceNorm2d(3),
        )
        out = init_weights_normal(model, std=0.05)
        assert out is model
        for m in model[:3]:
            assert abs(m.weight.mean().item()) < 0.005 and abs(m.weight.std().item() - 0.05) < 0.003
            assert torch.equal(m.bias, torch.zeros_like(m.bias))
        for m in model[3:6]:
            assert abs(m.weight.mean().item() - 1) < 0.005 and abs(m.weight.std().item() - 0.05) < 0.005
            assert torch.equal(m.bias, torch.zeros_like(m.bias))
        assert torch.equal(model[6].weight, torch.ones(10))  # LayerNorm untouched

    def test_default_std_on_generator(self):
        torch.manual_seed(1)
        G = init_weights_normal(MLPGenerator(z_dim=100, out_shape=(784,)))
        w = G.net[6].weight  # Linear(512, 1024): 524,288 weights
        assert abs(w.std().item() - 0.02) < 2e-4 and abs(w.mean().item()) < 2e-4
        assert torch.equal(G.net[-2].bias, torch.zeros(784))

    def test_spectral_norm_original_weight(self):
        torch.manual_seed(2)
        lin = nn.utils.parametrizations.spectral_norm(nn.Linear(400, 400))
        init_weights_normal(lin)
        original = lin.parametrizations.weight.original
        assert abs(original.std().item() - 0.02) < 5e-4
        assert torch.equal(lin.bias, torch.zeros(400))

    def test_apply_style_also_works(self):
        model = nn.Sequential(nn.Linear(3, 3))
        model.apply(init_weights_normal)
        assert torch.equal(model[0].bias, torch.zeros(3))

    @pytest.mark.parametrize(
        "module, std, err",
        [
            ("net", 0.02, TypeError),
            (nn.Linear(2, 2), 0.0, ValueError),
            (nn.Linear(2, 2), -1.0, ValueError),
            (nn.Linear(2, 2), math.nan, ValueError),
        ],
    )
    def test_bad_args(self, module, std, err):
        with pytest.raises(err):
            init_weights_normal(module, std=std)
