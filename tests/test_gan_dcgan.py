"""Tests of course_lib.gan.dcgan: the layer lists against the pytorch/examples DCGAN, shapes for every supported
size, the paper's initialisation, train/eval forwards, the registry, and feature-map reading and dropping."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from course_lib.gan.dcgan import (
    DCGANDiscriminator,
    DCGANGenerator,
    dcgan_init_,
    drop_feature_maps,
    dropped_feature_maps,
    feature_maps,
    image_size_stages,
)
from course_lib.registry import create_model, get_entry, list_models

# The pytorch/examples DCGAN (nz = 100, ngf = ndf = 64, nc = 3), written out layer by layer:
# (c_in, c_out, kernel, stride, padding, followed by batch norm)
EXAMPLES_G = [
    (100, 512, 4, 1, 0, True),
    (512, 256, 4, 2, 1, True),
    (256, 128, 4, 2, 1, True),
    (128, 64, 4, 2, 1, True),
    (64, 3, 4, 2, 1, False),
]
EXAMPLES_D = [
    (3, 64, 4, 2, 1, False),
    (64, 128, 4, 2, 1, True),
    (128, 256, 4, 2, 1, True),
    (256, 512, 4, 2, 1, True),
    (512, 1, 4, 1, 0, False),
]


def _count(layers) -> int:
    """Parameters of bias-free convolutions plus (weight, bias) of each batch norm."""
    return sum(c_in * c_out * k * k + (2 * c_out if bn else 0) for c_in, c_out, k, _, _, bn in layers)


def _conv_specs(model: nn.Module, cls: type) -> list[tuple]:
    specs = []
    modules = list(model.modules())
    for i, m in enumerate(modules):
        if isinstance(m, cls):
            followed_by_bn = i + 1 < len(modules) and isinstance(modules[i + 1], nn.BatchNorm2d)
            specs.append((m.in_channels, m.out_channels, m.kernel_size[0], m.stride[0], m.padding[0], followed_by_bn))
    return specs


class TestArchitecture:
    def test_image_size_stages(self):
        assert image_size_stages(64) == (4, 4)
        assert image_size_stages(32) == (4, 3)
        assert image_size_stages(28) == (7, 2)
        assert image_size_stages(8) == (4, 1)
        assert image_size_stages(14) == (7, 1)
        assert image_size_stages(128) == (4, 5)

    @pytest.mark.parametrize("size", [30, 48, 4, 7, 1, 2048, 96])
    def test_bad_image_size_value(self, size):
        with pytest.raises(ValueError, match="image_size must be 4 \\* 2\\*\\*k or 7 \\* 2\\*\\*k"):
            DCGANGenerator(image_size=size)
        with pytest.raises(ValueError, match="image_size must be"):
            DCGANDiscriminator(image_size=size)

    @pytest.mark.parametrize("size, err", [(64.0, TypeError), ("64", TypeError), (True, TypeError), (0, ValueError)])
    def test_bad_image_size_type(self, size, err):
        with pytest.raises(err, match="image_size"):
            image_size_stages(size)

    def test_64_matches_pytorch_examples(self):
        G, D = DCGANGenerator(), DCGANDiscriminator()
        assert _conv_specs(G, nn.ConvTranspose2d) == EXAMPLES_G
        assert _conv_specs(D, nn.Conv2d) == EXAMPLES_D
        assert sum(p.numel() for p in G.parameters()) == _count(EXAMPLES_G) == 3_576_704
        assert sum(p.numel() for p in D.parameters()) == _count(EXAMPLES_D) == 2_765_568
        assert all(m.bias is None for m in G.modules() if isinstance(m, nn.ConvTranspose2d))
        assert all(m.bias is None for m in D.modules() if isinstance(m, nn.Conv2d))
        assert not any(isinstance(m, (nn.Linear, nn.MaxPool2d, nn.AvgPool2d, nn.Sigmoid)) for m in [*G.modules(),
                                                                                                   *D.modules()])

    def test_activations(self):
        G, D = DCGANGenerator(image_size=32, base=4), DCGANDiscriminator(image_size=32, base=4)
        assert sum(isinstance(m, nn.ReLU) for m in G.modules()) == 3 and isinstance(G.blocks[-1][-1], nn.Tanh)
        leaky = [m for m in D.modules() if isinstance(m, nn.LeakyReLU)]
        assert len(leaky) == 3 and all(m.negative_slope == 0.2 for m in leaky)
        assert not any(isinstance(m, nn.BatchNorm2d) for m in D.blocks[0])  # no BN on the input layer
        assert isinstance(D.blocks[-1], nn.Conv2d)  # the logit, no activation after it

    def test_mnist_variant_layers(self):
        G = DCGANGenerator(z_dim=10, image_size=28, channels=1, base=8)
        assert _conv_specs(G, nn.ConvTranspose2d) == [(10, 16, 7, 1, 0, True), (16, 8, 4, 2, 1, True),
                                                      (8, 1, 4, 2, 1, False)]
        D = DCGANDiscriminator(image_size=28, channels=1, base=8)
        assert _conv_specs(D, nn.Conv2d) == [(1, 8, 4, 2, 1, False), (8, 16, 4, 2, 1, True), (16, 1, 7, 1, 0, False)]

    def test_critic_without_batch_norm(self):
        D = DCGANDiscriminator(image_size=32, base=4, batch_norm=False)
        assert not any(isinstance(m, nn.BatchNorm2d) for m in D.modules())
        assert all(m.bias is not None for m in D.modules() if isinstance(m, nn.Conv2d))
        assert all(m.bias.abs().sum() == 0 for m in D.modules() if isinstance(m, nn.Conv2d))
        # per-sample: a sample's logit does not depend on the rest of the batch, even in training mode
        x = torch.randn(4, 3, 32, 32)
        D.train()
        torch.testing.assert_close(D(x)[:1], D(x[:1]))


class TestForward:
    @pytest.mark.parametrize("size, channels", [(28, 1), (32, 3), (64, 3), (16, 2)])
    def test_shapes(self, size, channels):
        torch.manual_seed(0)
        G = DCGANGenerator(z_dim=12, image_size=size, channels=channels, base=4)
        D = DCGANDiscriminator(image_size=size, channels=channels, base=4)
        x = G(torch.randn(3, 12))
        assert x.shape == (3, channels, size, size)
        assert x.abs().max() <= 1.0
        assert D(x).shape == (3,)
        # the intermediate sizes double from the projection size
        start, n_up = image_size_stages(size)
        h = torch.randn(2, 12)[:, :, None, None]
        sizes = []
        for block in G.blocks:
            h = block(h)
            sizes.append(h.shape[-1])
        assert sizes == [start * 2**i for i in range(n_up + 1)]

    def test_z_as_4d_and_bad_z(self):
        G = DCGANGenerator(z_dim=8, image_size=32, base=4).eval()
        z = torch.randn(2, 8)
        torch.testing.assert_close(G(z[:, :, None, None]), G(z))
        with pytest.raises(ValueError, match="z_dim = 8"):
            G(torch.randn(2, 9))
        with pytest.raises(ValueError, match="z must have shape"):
            G(torch.randn(8))
        with pytest.raises(TypeError, match="z must be a torch.Tensor"):
            G([0.0] * 8)

    def test_bad_images_for_d(self):
        D = DCGANDiscriminator(image_size=28, channels=1, base=4)
        with pytest.raises(ValueError, match="\\(N, 1, 28, 28\\)"):
            D(torch.randn(2, 1, 32, 32))
        with pytest.raises(ValueError, match="x must have shape"):
            D(torch.randn(1, 28, 28))

    def test_eval_and_train_modes(self):
        torch.manual_seed(1)
        G = DCGANGenerator(z_dim=8, image_size=32, base=4)
        D = DCGANDiscriminator(image_size=32, base=4)
        z = torch.randn(5, 8)
        G.train()
        train_out = G(z)
        G.eval()
        eval_out = G(z)
        assert torch.equal(eval_out, G(z))  # eval is deterministic
        assert not torch.allclose(train_out, eval_out)  # batch statistics vs running statistics
        torch.testing.assert_close(G(z[:1]), eval_out[:1])  # eval: a sample does not depend on its batch
        D.train()
        logits = D(train_out)
        logits.sum().backward()
        assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in D.parameters())

    def test_sample_z(self):
        G = DCGANGenerator(z_dim=7, image_size=28, channels=1, base=4)
        z = G.sample_z(3, generator=torch.Generator().manual_seed(0))
        assert z.shape == (3, 7) and z.dtype == torch.float32
        assert torch.equal(z, G.sample_z(3, generator=torch.Generator().manual_seed(0)))

    @pytest.mark.parametrize(
        "kwargs, err, match",
        [
            (dict(z_dim=0), ValueError, "z_dim"),
            (dict(channels=1.0), TypeError, "channels"),
            (dict(base=-2), ValueError, "base"),
        ],
    )
    def test_bad_constructor_args(self, kwargs, err, match):
        with pytest.raises(err, match=match):
            DCGANGenerator(image_size=32, **kwargs)

    def test_bad_batch_norm_flag(self):
        with pytest.raises(TypeError, match="batch_norm"):
            DCGANDiscriminator(batch_norm=1)


class TestInit:
    def test_paper_statistics(self):
        torch.manual_seed(0)
        G = DCGANGenerator()  # 3.5M conv weights: tight estimates
        w = torch.cat([m.weight.flatten() for m in G.modules() if isinstance(m, nn.ConvTranspose2d)])
        assert abs(w.mean().item()) < 1e-4 and abs(w.std().item() - 0.02) < 1e-4
        gamma = torch.cat([m.weight for m in G.modules() if isinstance(m, nn.BatchNorm2d)])
        assert gamma.numel() == 960
        assert abs(gamma.mean().item() - 1.0) < 0.003 and abs(gamma.std().item() - 0.02) < 0.003
        assert all(m.bias.abs().sum() == 0 for m in G.modules() if isinstance(m, nn.BatchNorm2d))

    def test_dcgan_init_is_the_shared_initialisation(self):
        D = DCGANDiscriminator(image_size=32, base=4, batch_norm=False)
        torch.manual_seed(3)
        assert dcgan_init_(D) is D
        state = {k: v.clone() for k, v in D.state_dict().items()}
        from course_lib.gan.models import init_weights_normal

        torch.manual_seed(3)
        init_weights_normal(D, std=0.02)
        assert all(torch.equal(state[k], v) for k, v in D.state_dict().items())
        assert all(m.bias.abs().sum() == 0 for m in D.modules() if isinstance(m, nn.Conv2d))


class TestRegistry:
    def test_registered(self):
        assert {"dcgan_generator", "dcgan_discriminator"} <= set(list_models())
        assert "dcgan_generator" in list_models(kind="generator")
        assert "dcgan_discriminator" in list_models(kind="discriminator")
        G = create_model("dcgan_generator", z_dim=4, image_size=28, channels=1, base=2)
        assert isinstance(G, DCGANGenerator) and G.image_size == 28
        entry = get_entry("dcgan_discriminator")
        D = create_model("dcgan_discriminator", **entry.example_kwargs)
        assert entry.expected_shape(D, 2) == (2,) and entry.example_input(D, 2).shape == (2, 1, 28, 28)


# ----------------------------------------------------------------------------------------------------------------
# feature maps
# ----------------------------------------------------------------------------------------------------------------
@pytest.fixture
def small_g() -> DCGANGenerator:
    torch.manual_seed(0)
    G = DCGANGenerator(z_dim=6, image_size=32, channels=3, base=4)
    for m in G.modules():  # calibrate the running statistics on one large batch (a cumulative average)
        if isinstance(m, nn.BatchNorm2d):
            m.momentum = None
    with torch.no_grad():
        G.train()(torch.randn(256, 6))
    return G.eval()


class TestFeatureMaps:
    def test_read_a_layer_three_ways(self, small_g):
        z = torch.randn(2, 6)
        with torch.no_grad():
            manual = small_g.blocks[:2](z[:, :, None, None])  # (2, 8, 8, 8)
            by_name = feature_maps(small_g, z, "blocks.1")
            by_index = feature_maps(small_g, z, 1)
            by_module = feature_maps(small_g, z, small_g.blocks[1])
        assert manual.shape == (2, 8, 8, 8)
        for out in (by_name, by_index, by_module):
            assert torch.equal(out, manual)
        assert not small_g.blocks[1]._forward_hooks  # the hook is gone

    def test_inner_module_by_name(self, small_g):
        z = torch.randn(2, 6)
        with torch.no_grad():
            pre_bn = feature_maps(small_g, z, "blocks.0.0")  # the projection's ConvTranspose2d
        assert pre_bn.shape == (2, 16, 4, 4)
        torch.testing.assert_close(pre_bn, small_g.blocks[0][0](z[:, :, None, None]))

    @pytest.mark.parametrize(
        "layer, err, match",
        [
            ("blocks.9", ValueError, "no layer named"),
            ("", ValueError, "no layer named"),
            (7, ValueError, "out of range"),
            (nn.ReLU(), ValueError, "not a submodule"),
            (1.0, TypeError, "layer must be"),
        ],
    )
    def test_bad_layer(self, small_g, layer, err, match):
        with pytest.raises(err, match=match):
            feature_maps(small_g, torch.randn(1, 6), layer)

    def test_int_layer_needs_blocks(self):
        with pytest.raises(TypeError, match="no `blocks`"):
            feature_maps(nn.Sequential(nn.Linear(2, 2)), torch.randn(1, 2), 0)


class TestDropFeatureMaps:
    def test_no_channel_is_identity(self, small_g):
        z = torch.randn(3, 6)
        with torch.no_grad():
            assert torch.equal(drop_feature_maps(small_g, z, "blocks.1", []), small_g(z))
            assert torch.equal(drop_feature_maps(small_g, z, 2, torch.tensor([], dtype=torch.int64)), small_g(z))

    @pytest.mark.parametrize("k", [0, 1, 2])
    def test_against_manual_masking(self, small_g, k):
        z = torch.randn(3, 6)
        channels = [0, 2]
        with torch.no_grad():
            h = small_g.blocks[: k + 1](z[:, :, None, None])
            h[:, channels] = 0.0
            expected = small_g.blocks[k + 1 :](h)
            out = drop_feature_maps(small_g, z, f"blocks.{k}", channels)
            assert torch.equal(out, expected)
            assert not torch.allclose(out, small_g(z))  # it changed something

    def test_only_the_chosen_maps_change(self, small_g):
        z = torch.randn(2, 6)
        with torch.no_grad():
            before = feature_maps(small_g, z, "blocks.1")
            earlier = feature_maps(small_g, z, "blocks.0")
            with dropped_feature_maps(small_g, "blocks.1", torch.tensor([1, 5])):
                after = feature_maps(small_g, z, "blocks.1")  # a later hook sees the masked output
                earlier_after = feature_maps(small_g, z, "blocks.0")
        assert torch.equal(earlier_after, earlier)  # layers before are untouched
        assert (after[:, [1, 5]] == 0).all()
        keep = [c for c in range(before.shape[1]) if c not in (1, 5)]
        assert torch.equal(after[:, keep], before[:, keep])
        assert before[:, [1, 5]].abs().sum() > 0
        assert not small_g.blocks[1]._forward_hooks

    def test_gradient_of_dropped_maps_is_zero(self, small_g):
        # the parameters that only feed the dropped maps get no gradient; the others do
        small_g.zero_grad()
        drop_feature_maps(small_g, torch.randn(4, 6), "blocks.1", [3]).square().sum().backward()
        conv, bn = small_g.blocks[1][0], small_g.blocks[1][1]
        assert conv.weight.grad[:, 3].abs().sum() == 0 and bn.weight.grad[3] == 0 and bn.bias.grad[3] == 0
        assert conv.weight.grad[:, 2].abs().sum() > 0 and bn.weight.grad[2] != 0

    def test_train_mode_uses_masked_batch_statistics(self, small_g):
        small_g.train()
        z = torch.randn(4, 6)
        with torch.no_grad():
            h = small_g.blocks[:1](z[:, :, None, None])
            h[:, [4]] = 0.0
            expected = small_g.blocks[1:](h)
        with torch.no_grad():
            out = drop_feature_maps(small_g, z, 0, [4])  # the next BN normalises with the masked batch's statistics
        torch.testing.assert_close(out, expected)

    @pytest.mark.parametrize(
        "channels, err, match",
        [
            ([8], ValueError, "channel 8 does not exist"),
            ([-1], ValueError, "non-negative"),
            (torch.tensor([0.0]), TypeError, "integer indices"),
            ([0.5], TypeError, "must contain ints"),
            ("0", TypeError, "sequence of ints"),
            (torch.tensor([[0]]), ValueError, "1-D"),
        ],
    )
    def test_bad_channels(self, small_g, channels, err, match):
        with pytest.raises(err, match=match):
            drop_feature_maps(small_g, torch.randn(1, 6), "blocks.1", channels)
        assert not small_g.blocks[1]._forward_hooks  # removed even on error


def test_trains_with_the_one_trainer():
    # the DCGAN pair plugs into AdversarialTrainer unchanged: a few steps on random 28x28 "images", finite losses
    from course_lib.train import AdversarialTrainer, TrainerConfig

    torch.manual_seed(0)
    G = DCGANGenerator(z_dim=8, image_size=28, channels=1, base=4)
    D = DCGANDiscriminator(image_size=28, channels=1, base=4)
    data = torch.rand(32, 1, 28, 28) * 2 - 1
    config = TrainerConfig(steps=3, batch_size=8, log_every=1, sample_every=0, progress=False, n_samples=4)
    history = AdversarialTrainer(G, D, data, config).fit()
    assert len(history["d_loss"]) == 3
    assert all(math.isfinite(v) for v in history["d_loss"] + history["g_loss"])
