"""SRGAN / ESRGAN networks and losses, inpainting networks, the objectives on the one trainer, the zoo recipes."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_lib.gan.losses import d_loss_ragan, g_loss_ragan
from course_lib.restoration import (
    ChannelwiseFC,
    ContentLoss,
    ContextEncoder,
    InpaintDiscriminator,
    RRDBNet,
    SRGANDiscriminator,
    SRResNet,
    box_mask,
    center_mask,
    composite,
    random_block_masks,
)
from course_lib.restoration.esrgan import DenseBlock
from course_lib.restoration.objectives import ESRGANObjective, InpaintingObjective, SRGANObjective, hole_mse
from course_lib.train import AdversarialTrainer, TrainerConfig


def test_rrdbnet_has_no_batch_norm_and_upscales():
    net = RRDBNet(nf=8, nb=2, gc=4, upscale=4)
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in net.modules())
    assert net(torch.rand(2, 3, 5, 6)).shape == (2, 3, 20, 24)


def test_dense_block_residual_scaling():
    block = DenseBlock(nf=4, gc=2, beta=0.2)
    x = torch.randn(1, 4, 3, 3)
    for conv in block.convs:  # F = 0 apart from the last conv's bias: the block adds 0.2 * bias
        nn.init.zeros_(conv.weight)
        nn.init.zeros_(conv.bias)
    nn.init.constant_(block.convs[-1].bias, 1.0)
    torch.testing.assert_close(block(x), x + 0.2)


def test_srgan_discriminator_paper_layout_and_any_size():
    d = SRGANDiscriminator()
    convs = [m for m in d.features if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [64, 64, 128, 128, 256, 256, 512, 512]
    assert [c.stride[0] for c in convs] == [1, 2, 1, 2, 1, 2, 1, 2]
    small = SRGANDiscriminator(channels=8, n_blocks=3, hidden=16)
    assert small(torch.rand(3, 3, 32, 32)).shape == (3,) and small(torch.rand(2, 3, 20, 28)).shape == (2,)


@pytest.mark.parametrize("before", [False, True])
def test_content_loss_compares_sr_with_hr_features(before):
    loss = ContentLoss("course", before_activation=before)
    hr = torch.rand(2, 3, 16, 16)
    assert float(loss(hr, hr)) == 0.0
    sr = (hr + 0.1 * torch.randn_like(hr)).requires_grad_(True)
    value = loss(sr, hr)
    value.backward()
    assert float(value.detach()) > 0 and sr.grad is not None and float(sr.grad.abs().sum()) > 0
    f = loss.features(hr)
    assert f.shape == (2, 3 * 32, 8, 8)
    assert bool((f < 0).any()) == before  # before the ReLU some features are negative, after it none
    torch.testing.assert_close(ContentLoss("pixel")(sr.detach(), hr), F.mse_loss(sr.detach(), hr))
    with pytest.raises(ValueError):
        loss(hr, hr[:, :, :8])
    with pytest.raises(ValueError):
        ContentLoss("alexnet")


def test_channelwise_fc_is_one_linear_per_channel():
    fc = ChannelwiseFC(3, 4)
    x = torch.randn(2, 3, 4, 4)
    y = fc(x)
    for c in range(3):
        ref = F.linear(x[:, c].flatten(1), fc.weight[c], fc.bias[c]).view(2, 4, 4)
        torch.testing.assert_close(y[:, c], ref)
    x.requires_grad_(True)
    fc(x)[:, 0].sum().backward()  # output channel 0 depends on input channel 0 only
    assert float(x.grad[:, 1:].abs().sum()) == 0 and float(x.grad[:, 0].abs().sum()) > 0
    with pytest.raises(ValueError):
        fc(torch.randn(2, 3, 5, 5))


def test_context_encoder_shapes_and_masks():
    net = ContextEncoder(image_size=32, channels=8, bottleneck_size=4)
    x = torch.rand(2, 3, 32, 32)
    m = center_mask(2, 32, 16)
    assert float(m.sum()) == 2 * 16 * 16 and m[0, 0, 8, 8] == 1 and m[0, 0, 7, 7] == 0
    out = net(x, m)
    assert out.shape == x.shape and float(out.detach().min()) >= 0 and float(out.detach().max()) <= 1
    # the network never sees the pixels of the hole
    x2 = x.clone()
    x2[m.expand_as(x) > 0] = 0.5
    torch.testing.assert_close(net.eval()(x, m), net(x2, m))
    filled = composite(x, out, m)
    assert torch.equal(filled[m.expand_as(x) == 0], x[m.expand_as(x) == 0])
    with pytest.raises(ValueError):
        net(x, m[:, :, :16])
    with pytest.raises(ValueError):
        ContextEncoder(image_size=24, bottleneck_size=4)
    g = torch.Generator().manual_seed(0)
    r = random_block_masks(5, 16, (3, 6), generator=g)
    sides = r.sum(dim=(1, 2, 3)).sqrt()
    assert bool(((sides >= 3) & (sides <= 6)).all())
    b = box_mask(torch.tensor([[2.0, 1.0, 5.0, 3.0]]), (4, 6))
    assert b[0, 0].tolist() == [[0, 0, 0, 0, 0, 0], [0, 0, 1, 1, 1, 0], [0, 0, 1, 1, 1, 0], [0, 0, 0, 0, 0, 0]]
    assert InpaintDiscriminator(channels=8)(x).shape == (2,)


def test_hole_mse():
    x = torch.zeros(1, 3, 4, 4)
    out = torch.ones(1, 3, 4, 4)
    m = torch.zeros(1, 1, 4, 4)
    m[..., :2, :2] = 1
    assert float(hole_mse(out, x, m)) == 1.0
    out2 = out.clone()
    out2[..., 2:, 2:] = 100.0  # errors outside the hole do not count
    assert float(hole_mse(out2, x, m)) == 1.0


def _tiny_sr_data(n=32):
    from course_lib.data.superres import sr_pairs

    return sr_pairs(n, 16, seed=0)


def test_esrgan_objective_uses_ragan_and_l1():
    lr, hr = _tiny_sr_data(4)
    torch.manual_seed(0)
    G, D = RRDBNet(nf=4, nb=1, gc=2), SRGANDiscriminator(channels=4, n_blocks=1, hidden=8)
    obj = ESRGANObjective(ContentLoss("pixel"), lam=0.5, eta=2.0)
    loss, logs = obj.g_loss(G, D, (lr, hr), None)
    sr = G(lr)
    expected = F.mse_loss(sr, hr) + 0.5 * g_loss_ragan(D(sr), D(hr)) + 2.0 * F.l1_loss(sr, hr)
    torch.testing.assert_close(loss, expected)
    d, _ = obj.d_loss(G, D, (lr, hr), None)
    torch.testing.assert_close(d, d_loss_ragan(D(hr), D(sr.detach())))


@pytest.mark.parametrize("objective", ["srgan", "esrgan", "context_encoder", "ccgan"])
def test_objectives_train_on_the_one_trainer(objective):
    torch.manual_seed(0)
    if objective in ("srgan", "esrgan"):
        lr, hr = _tiny_sr_data()
        data = (lr, hr)
        G = SRResNet(channels=4, n_blocks=1) if objective == "srgan" else RRDBNet(nf=4, nb=1, gc=2)
        D = SRGANDiscriminator(channels=4, n_blocks=1, hidden=8)
        obj = (SRGANObjective if objective == "srgan" else ESRGANObjective)(sample_batch=(lr[:4], hr[:4]))
    else:
        x = torch.rand(32, 3, 16, 16)
        m = random_block_masks(32, 16, 6, generator=torch.Generator().manual_seed(0))
        data = (x, m)
        G = ContextEncoder(image_size=16, channels=4, channelwise=objective == "context_encoder")
        D = InpaintDiscriminator(channels=4, n_layers=2)
        obj = InpaintingObjective(objective, sample_batch=(x[:4], m[:4]))
    cfg = TrainerConfig(steps=3, batch_size=8, z_dim=1, sample_every=0, log_every=1, progress=False, amp="off")
    trainer = AdversarialTrainer(G, D, data, cfg, objective=obj)
    history = trainer.fit()
    assert len(history["g_loss"]) == 3
    key = "psnr" if objective in ("srgan", "esrgan") else "reconstruction"
    assert len(history[key]) == 3
    s = trainer.sample(z=torch.zeros(3, 1))
    assert s.shape[0] == 3 and float(s.min()) >= -1 and float(s.max()) <= 1


def test_objective_bad_inputs():
    with pytest.raises(ValueError):
        InpaintingObjective("pix2pix")
    with pytest.raises(ValueError):
        SRGANObjective(ContentLoss("pixel"), adversarial_weight=-1)
    obj = SRGANObjective(ContentLoss("pixel"))
    with pytest.raises(TypeError, match="pair"):
        obj.g_loss(SRResNet(channels=4, n_blocks=0), SRGANDiscriminator(channels=4, n_blocks=0), torch.rand(2, 3, 4, 4),
                   None)
    with pytest.raises(ValueError, match="sample_batch"):
        obj.sample(SRResNet(channels=4, n_blocks=0), None, None)


def test_zoo_entries_replace_the_placeholders():
    from course_lib import zoo

    for key in ("srgan", "esrgan", "context_encoder", "ccgan"):
        entry = zoo.get_variant(key)
        assert entry.runnable and entry.chapter == "chapters/12_superres_inpainting_cam/theory"
        assert 0 < entry.recipe.steps <= 100
    trainer = zoo.build_trainer("ccgan", steps=2)
    trainer.fit()
    assert trainer.step == 2


def test_bicubic_skip_starts_as_bicubic():
    from course_lib.restoration.srresnet import bicubic_residual_base

    x = torch.rand(2, 3, 6, 5)
    for net in (SRResNet(channels=4, n_blocks=1, bicubic_skip=True), RRDBNet(nf=4, nb=1, gc=2, bicubic_skip=True)):
        torch.testing.assert_close(net(x), bicubic_residual_base(x, 4))
        torch.testing.assert_close(bicubic_residual_base(x, 4), F.interpolate(x, scale_factor=4, mode="bicubic"))


def test_context_encoder_mean_skip_starts_as_a_flat_fill():
    net = ContextEncoder(image_size=16, channels=4, mean_skip=True)
    x = torch.rand(2, 3, 16, 16)
    m = center_mask(2, 16, 6)
    ctx = 1 - m
    mean = (x * ctx).sum(dim=(2, 3), keepdim=True) / ctx.sum(dim=(2, 3), keepdim=True)
    torch.testing.assert_close(net(x, m), mean.expand_as(x))


def test_content_loss_vgg19_falls_back_offline_in_one_line(monkeypatch, capsys):
    from course_lib.restoration import srgan

    def no_weights(before_activation):
        raise RuntimeError("no network")

    monkeypatch.setattr(srgan, "_VGGFeatures", no_weights)  # what an offline machine sees, without touching the network
    loss = srgan.ContentLoss("vgg19")
    out = capsys.readouterr().out
    assert loss.network == "course" and out.count("\n") == 1 and "VGG19 unavailable" in out
    with pytest.raises(RuntimeError):
        srgan.ContentLoss("vgg19", fallback=False)
