"""CycleGAN: the ResNet generator against the reference's layer list and parameter count (FACTS.md), the image pool
against a slow copy of the reference's semantics, the losses against hand computations, the objective through the
one trainer, the linear decay schedule, bad inputs."""

from __future__ import annotations

import random

import pytest
import torch
from torch import nn

from course_lib.train import AdversarialTrainer, TrainerConfig
from course_lib.translation.cyclegan import (
    CycleGANConfig,
    CycleGANObjective,
    ImagePool,
    LinearDecay,
    ResnetGenerator,
    cycle_identity_loss,
    linear_decay_factor,
    lsgan_loss,
    pool_query,
    translate,
)


def n_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def test_resnet_9blocks_has_the_reference_parameter_count():
    assert n_params(ResnetGenerator()) == 11_378_179  # FACTS.md: resnet_9blocks with instance norm


def test_parameter_count_in_closed_form():
    """c7s1-F, d2F, d4F, R4F x n, u2F, uF, c7s1-3: conv weights + biases (instance norm has no parameters)."""
    for f, n in ((8, 2), (16, 6), (64, 9)):
        conv = lambda cin, cout, k: cin * cout * k * k + cout  # noqa: E731
        expected = (conv(3, f, 7) + conv(f, 2 * f, 3) + conv(2 * f, 4 * f, 3) + n * 2 * conv(4 * f, 4 * f, 3)
                    + conv(4 * f, 2 * f, 3) + conv(2 * f, f, 3) + conv(f, 3, 7))
        assert n_params(ResnetGenerator(3, 3, f, n)) == expected


def test_layer_sequence_and_shapes():
    g = ResnetGenerator(3, 2, 8, 2)
    kinds = [type(m).__name__ for m in g.model]
    assert kinds[:4] == ["ReflectionPad2d", "Conv2d", "InstanceNorm2d", "ReLU"]
    assert kinds.count("ResnetBlock") == 2 and kinds.count("ConvTranspose2d") == 2
    assert kinds[-3:] == ["ReflectionPad2d", "Conv2d", "Tanh"]
    block = [m for m in g.model if type(m).__name__ == "ResnetBlock"][0]
    assert [type(m).__name__ for m in block.block] == ["ReflectionPad2d", "Conv2d", "InstanceNorm2d", "ReLU",
                                                       "ReflectionPad2d", "Conv2d", "InstanceNorm2d"]
    x = torch.rand(2, 3, 20, 28) * 2 - 1
    y = g(x)
    assert y.shape == (2, 2, 20, 28) and y.abs().max() <= 1
    # batch norm: no bias before the norm
    gb = ResnetGenerator(3, 3, 8, 1, norm="batch")
    assert gb.model[1].bias is None and gb.model[-2].bias is not None


def test_resnet_block_is_a_residual():
    g = ResnetGenerator(3, 3, 4, 1)
    block = [m for m in g.model if type(m).__name__ == "ResnetBlock"][0]
    for p in block.parameters():
        nn.init.zeros_(p)
    x = torch.randn(2, 16, 5, 5)
    torch.testing.assert_close(block(x), x)


def test_generator_bad_inputs():
    with pytest.raises(ValueError, match="norm"):
        ResnetGenerator(norm="layer")
    with pytest.raises(TypeError):
        ResnetGenerator(n_blocks=2.0)
    g = ResnetGenerator(3, 3, 4, 1)
    with pytest.raises(ValueError, match="divisible by 4"):
        g(torch.zeros(1, 3, 18, 16))
    with pytest.raises(ValueError, match="3 channels"):
        g(torch.zeros(1, 1, 16, 16))


def reference_pool(size, batches, seed):
    """The reference's ImagePool.query, written again with Python's random module as it does."""
    rng = random.Random(seed)
    stored, outs = [], []
    for images in batches:
        ret = []
        for image in images:
            if len(stored) < size:
                stored.append(image.clone())
                ret.append(image)
            elif rng.uniform(0, 1) > 0.5:
                k = rng.randint(0, size - 1)
                ret.append(stored[k].clone())
                stored[k] = image.clone()
            else:
                ret.append(image)
        outs.append(torch.stack(ret))
    return outs


def test_pool_query_matches_the_reference_semantics():
    batches = [torch.randn(3, 2, 2, 2) for _ in range(6)]
    size, seed = 5, 3
    rng = random.Random(seed)
    pool, outs = [], []
    for images in batches:  # the same draws, in the same order, given to pool_query
        coins, slots = [], []
        for i in range(images.shape[0]):
            if len(pool) + i < size:
                coins.append(0.0)
                slots.append(0)
            else:
                c = rng.uniform(0, 1)
                coins.append(c)
                slots.append(rng.randint(0, size - 1) if c > 0.5 else 0)
        outs.append(pool_query(pool, images, size, torch.tensor(coins), torch.tensor(slots)))
    for got, exp in zip(outs, reference_pool(size, batches, seed)):
        torch.testing.assert_close(got, exp)


def test_image_pool_semantics():
    pool = ImagePool(4, seed=0)
    x = torch.arange(3.0).view(3, 1, 1, 1)
    assert torch.equal(pool.query(x), x) and len(pool) == 3  # filling up: the new images
    y = torch.arange(10.0, 16.0).view(6, 1, 1, 1)
    out = pool.query(y)
    assert len(pool) == 4
    assert out[0].item() == 10.0  # the fourth slot was still free
    seen = set(out.flatten().tolist())
    stored = set(torch.stack(pool.images).flatten().tolist())
    # every image went either back out or into the buffer, and what came out is old or new
    assert set(range(0, 3)) | set(range(10, 16)) == seen | stored
    off = ImagePool(0)
    assert off.query(y) is y
    # p = 1/2 over many draws
    big = ImagePool(10, seed=1)
    big.query(torch.zeros(10, 1, 1, 1))
    swapped = (big.query(torch.ones(4000, 1, 1, 1)) == 0).float().mean().item()
    assert 0.0 < swapped < 0.01 + 10 / 4000  # old zeros come back only until they are all swapped out
    fresh = ImagePool(50, seed=2)
    fresh.query(-torch.ones(50, 1, 1, 1))
    new = torch.arange(4000.0).view(-1, 1, 1, 1)  # distinct images: out[i] != new[i] exactly when it was swapped
    frac = (fresh.query(new) != new).float().mean().item()
    assert abs(frac - 0.5) < 0.03  # each image swapped with probability 1/2


def test_image_pool_detaches_and_checkpoints():
    pool = ImagePool(2, seed=0)
    x = torch.randn(3, 1, 2, 2, requires_grad=True)
    out = pool.query(x * 2)
    assert not out.requires_grad
    state = pool.state_dict()
    other = ImagePool(2, seed=5)
    other.load_state_dict(state)
    y = torch.randn(8, 1, 2, 2)
    torch.testing.assert_close(pool.query(y), other.query(y))
    with pytest.raises(ValueError):
        ImagePool(3).load_state_dict(state)


def test_pool_query_bad_inputs():
    with pytest.raises(TypeError):
        pool_query((), torch.zeros(1, 1), 1, torch.zeros(1), torch.zeros(1, dtype=torch.int64))
    with pytest.raises(ValueError, match="coins"):
        pool_query([], torch.zeros(2, 1), 1, torch.zeros(3), torch.zeros(2, dtype=torch.int64))
    with pytest.raises(ValueError, match="slots"):
        pool_query([torch.zeros(1)], torch.zeros(1, 1), 1, torch.ones(1), torch.tensor([4]))
    with pytest.raises(ValueError):
        ImagePool(-1)


def test_lsgan_loss_by_hand():
    d = torch.tensor([[0.5, 2.0], [-1.0, 1.0]])
    assert lsgan_loss(d, True).item() == pytest.approx((0.25 + 1 + 4 + 0) / 4)
    assert lsgan_loss(d, False).item() == pytest.approx((0.25 + 4 + 1 + 1) / 4)


def test_cycle_identity_loss_by_hand():
    a = torch.full((1, 1, 2, 2), 0.5)
    b = torch.full((1, 1, 2, 2), -0.25)
    G_ab = lambda x: 2 * x  # noqa: E731
    G_ba = lambda x: x - 1  # noqa: E731
    cyc, idt = cycle_identity_loss(G_ab, G_ba, a, b, lambda_cyc=10.0, lambda_id=0.5)
    # G_ba(G_ab(a)) = 0 -> |0 - 0.5| = 0.5; G_ab(G_ba(b)) = -2.5 -> 2.25; G_ab(b) = -0.5 -> 0.25; G_ba(a) = -0.5 -> 1
    assert cyc.item() == pytest.approx(10 * (0.5 + 2.25))
    assert idt.item() == pytest.approx(5 * (0.25 + 1.0))


def small_models():
    torch.manual_seed(0)
    G = nn.ModuleDict({"ab": ResnetGenerator(3, 3, 4, 1), "ba": ResnetGenerator(3, 3, 4, 1)})
    D = nn.ModuleDict({k: nn.Sequential(nn.Conv2d(3, 4, 4, 2, 1), nn.LeakyReLU(0.2), nn.Conv2d(4, 1, 3, 1, 1))
                       for k in ("a", "b")})
    return G, D


def test_objective_losses_by_parts():
    G, D = small_models()
    a, b = torch.rand(2, 3, 8, 8) * 2 - 1, torch.rand(2, 3, 8, 8) * 2 - 1
    obj = CycleGANObjective(CycleGANConfig(pool_size=0))
    loss, logs = obj.g_loss(G, D, (a, b), None)
    cyc, idt = cycle_identity_loss(G["ab"], G["ba"], a, b)
    adv = lsgan_loss(D["b"](G["ab"](a)), True) + lsgan_loss(D["a"](G["ba"](b)), True)
    torch.testing.assert_close(loss, adv + cyc + idt)
    torch.testing.assert_close(logs["cycle"], cyc.detach())
    d, dlogs = obj.d_loss(G, D, (a, b), None)
    expected = 0.5 * (lsgan_loss(D["b"](b), True) + lsgan_loss(D["b"](G["ab"](a)), False)) + 0.5 * (
        lsgan_loss(D["a"](a), True) + lsgan_loss(D["a"](G["ba"](b)), False))
    torch.testing.assert_close(d, expected)
    with pytest.raises(TypeError, match="ModuleDict"):
        obj.g_loss(G["ab"], D, (a, b), None)
    with pytest.raises(TypeError, match="tuple"):
        obj.d_loss(G, D, a, None)
    with pytest.raises(ValueError):
        CycleGANConfig(lambda_cyc=-1)


def test_objective_trains_with_the_one_trainer_and_decays_the_lr():
    G, D = small_models()
    a, b = torch.rand(16, 3, 8, 8) * 2 - 1, torch.rand(16, 3, 8, 8) * 2 - 1
    obj = CycleGANObjective(CycleGANConfig(pool_size=4), sample_images=a[:3])
    cfg = TrainerConfig(z_dim=1, steps=6, batch_size=4, progress=False, log_every=1, sample_every=0, amp="off")
    tr = AdversarialTrainer(G, D, (a, b), cfg, objective=obj, callbacks=[LinearDecay(2, 4)])
    tr.fit()
    assert len(obj.pool_a) == 4 and len(obj.pool_b) == 4
    assert all(torch.isfinite(torch.tensor(tr.history[k])).all() for k in ("d_loss", "g_loss", "cycle"))
    assert tr.opt_g.param_groups[0]["lr"] == pytest.approx(2e-4 * linear_decay_factor(6, 2, 4))
    assert tr.opt_d.param_groups[0]["lr"] == pytest.approx(2e-4 * linear_decay_factor(6, 2, 4))
    assert tr.sample().shape == (3, 3, 8, 8)
    assert translate(G["ab"], a).shape == a.shape


def test_linear_decay_factor():
    assert [linear_decay_factor(t, 100, 100) for t in (0, 99, 100)] == [1.0, 1.0, 1.0]
    assert linear_decay_factor(150, 100, 100) == pytest.approx(1 - 50 / 101)
    assert linear_decay_factor(200, 100, 100) == pytest.approx(1 / 101)
    assert linear_decay_factor(500, 100, 100) == 0.0
    with pytest.raises(ValueError):
        linear_decay_factor(-1, 1, 1)
