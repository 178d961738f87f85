"""StarGAN, PixelDA and CycleGAN's family (DiscoGAN, DualGAN, CSGAN, UNIT, MUNIT, BicycleGAN): shapes, losses
against hand computations or direct formulas, weight sharing, a few steps with the one trainer, bad inputs."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_lib.train import AdversarialTrainer, TrainerConfig
from course_lib.translation import pixelda, stargan
from course_lib.translation import unpaired_family as fam
from course_lib.translation.cyclegan import ResnetGenerator, lsgan_loss
from course_lib.translation.pix2pix import PatchDiscriminator


def test_stargan_networks_shapes_and_label_channels():
    G = stargan.StarGANGenerator(3, 4, 8, 2)
    x = torch.rand(3, 3, 16, 16) * 2 - 1
    c = torch.tensor([0, 3, 1])
    y = G(x, c)
    assert y.shape == x.shape and y.abs().max() <= 1
    torch.testing.assert_close(G(x, F.one_hot(c, 4)), y)  # labels or one-hot: the same input channels
    assert G.model[0].in_channels == 3 + 4
    D = stargan.StarGANDiscriminator(3, 4, 16, 8, 2)
    src, cls = D.both(x)
    assert src.shape == (3, 1, 4, 4) and cls.shape == (3, 4)
    with pytest.raises(ValueError, match="divisible"):
        stargan.StarGANDiscriminator(3, 4, 20, 8, 3)
    with pytest.raises(ValueError):
        G(x, torch.tensor([0, 4, 1]))
    assert stargan.translate_to_all_domains(G, x).shape == (3, 4, 3, 16, 16)


def test_stargan_losses_by_hand():
    cls_real = torch.tensor([[2.0, 0.0], [0.0, 1.0]])
    cls_fake = torch.tensor([[0.0, 3.0], [1.0, 1.0]])
    org, trg = torch.tensor([0, 1]), torch.tensor([1, 0])
    x, x_rec = torch.zeros(2, 1, 1, 2), torch.tensor([[[[1.0, -1.0]]], [[[0.5, 0.0]]]])
    d_cls, g_cls, g_rec = stargan.stargan_classification_losses(cls_real, cls_fake, org, trg, x, x_rec)
    lse = lambda v: math.log(sum(math.exp(t) for t in v))  # noqa: E731
    assert d_cls.item() == pytest.approx(((lse([2, 0]) - 2) + (lse([0, 1]) - 1)) / 2)
    assert g_cls.item() == pytest.approx(((lse([0, 3]) - 3) + (lse([1, 1]) - 1)) / 2)
    assert g_rec.item() == pytest.approx(2.5 / 4)
    with pytest.raises(TypeError):
        stargan.stargan_classification_losses(cls_real, cls_fake, org.float(), trg, x, x_rec)


@pytest.mark.parametrize("adversarial", ["lsgan", "wgan_gp"])
def test_stargan_objective_trains(adversarial):
    torch.manual_seed(0)
    x, y = torch.rand(12, 3, 8, 8) * 2 - 1, torch.arange(12) % 3
    obj = stargan.StarGANObjective(3, adversarial=adversarial, sample_images=x[:2])
    cfg = TrainerConfig(z_dim=1, steps=3, batch_size=4, progress=False, log_every=1, sample_every=0, amp="off")
    tr = AdversarialTrainer(stargan.StarGANGenerator(3, 3, 4, 1), stargan.StarGANDiscriminator(3, 3, 8, 4, 2),
                            (x, y), cfg, objective=obj)
    tr.fit()
    assert all(math.isfinite(v) for v in tr.history["g_loss"] + tr.history["d_cls"])
    targets = obj._targets(y)
    assert (targets != y).all()  # a target is always another domain
    with pytest.raises(ValueError):
        stargan.StarGANObjective(3, adversarial="hinge")


def test_pixelda_task_loss_and_networks():
    la, ls = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 2.0]])
    y = torch.tensor([1])
    expected = 0.5 * ((math.log(math.e + 1) - 0.0) + (math.log(1 + math.e ** 2) - 2.0))
    assert pixelda.task_loss(la, ls, y).item() == pytest.approx(expected)
    G = pixelda.PixelDAGenerator(3, 28, 10, 4, 1)
    x = torch.rand(2, 3, 28, 28) * 2 - 1
    assert G(x, torch.rand(2, 10)).shape == x.shape
    with pytest.raises(ValueError):
        G(x, torch.rand(2, 9))
    with pytest.raises(ValueError):
        pixelda.DigitClassifier(3, 10, 4)(torch.rand(2, 3, 32, 32))
    with pytest.raises(TypeError):
        pixelda.task_loss(la, ls, y.float())


def test_pixelda_objective_and_classifier_helpers():
    torch.manual_seed(0)
    xs, ys, xt = torch.rand(16, 3, 28, 28) * 2 - 1, torch.arange(16) % 10, torch.rand(16, 3, 28, 28) * 2 - 1
    G = nn.ModuleDict({"g": pixelda.PixelDAGenerator(3, 28, 10, 4, 1), "t": pixelda.DigitClassifier(3, 10, 4)})
    obj = pixelda.PixelDAObjective(alpha=1.0, beta=0.5, sample_images=xs[:4])
    z = torch.randn(16, 10)
    loss, logs = obj.g_loss(G, pixelda.PixelDADiscriminator(3, 4), (xs, ys, xt), z)
    assert loss.dim() == 0 and "task" in logs
    cfg = TrainerConfig(z_dim=10, steps=2, batch_size=8, progress=False, log_every=1, sample_every=0, amp="off")
    tr = AdversarialTrainer(G, pixelda.PixelDADiscriminator(3, 4), (xs, ys, xt), cfg, objective=obj)
    tr.fit()
    assert pixelda.adapt(G["g"], xs).shape == xs.shape
    clf = pixelda.train_classifier(xs, ys, steps=3, base_channels=4)
    acc = pixelda.accuracy(clf, xs, ys)
    assert 0.0 <= acc <= 1.0


def test_discogan_networks_and_losses():
    g = fam.DiscoGANGenerator(3, 4, 2)
    x = torch.rand(2, 3, 16, 16) * 2 - 1
    assert g(x).shape == x.shape
    assert not any(isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3) for m in g.modules())  # no residual blocks
    d = fam.DiscoGANDiscriminator(3, 4, 2)
    assert d(x).shape == (2, 1)
    G = nn.ModuleDict({"ab": g, "ba": fam.DiscoGANGenerator(3, 4, 2)})
    D = nn.ModuleDict({"a": d, "b": fam.DiscoGANDiscriminator(3, 4, 2)})
    a, b = x, torch.rand(2, 3, 16, 16) * 2 - 1
    loss, _ = fam.DiscoGANObjective().g_loss(G, D, (a, b), None)
    expected = (-F.logsigmoid(D["b"](G["ab"](a))).mean() - F.logsigmoid(D["a"](G["ba"](b))).mean()
                + F.mse_loss(G["ba"](G["ab"](a)), a) + F.mse_loss(G["ab"](G["ba"](b)), b))
    torch.testing.assert_close(loss, expected)


def test_dualgan_losses_and_clipping():
    torch.manual_seed(0)
    G = nn.ModuleDict({k: ResnetGenerator(3, 3, 4, 1) for k in ("ab", "ba")})
    D = nn.ModuleDict({k: PatchDiscriminator(3, 4, 1, "none") for k in ("a", "b")})
    a, b = torch.rand(2, 3, 8, 8) * 2 - 1, torch.rand(2, 3, 8, 8) * 2 - 1
    obj = fam.DualGANObjective(lambda_u=100.0, lambda_v=50.0)
    d, _ = obj.d_loss(G, D, (a, b), None)
    fb, fa = G["ab"](a), G["ba"](b)
    torch.testing.assert_close(d, D["b"](fb).mean() - D["b"](b).mean() + D["a"](fa).mean() - D["a"](a).mean())
    g, _ = obj.g_loss(G, D, (a, b), None)
    expected = (-D["b"](fb).mean() - D["a"](fa).mean() + 100 * (G["ba"](fb) - a).abs().mean()
                + 50 * (G["ab"](fa) - b).abs().mean())
    torch.testing.assert_close(g, expected)
    fam.clip_weights(D, 0.01)
    assert max(p.abs().max().item() for p in D.parameters()) <= 0.01


def test_cyclic_synthesized_loss_by_hand():
    G_ab, G_ba = (lambda x: x + 1), (lambda x: 2 * x)
    a, b = torch.zeros(1, 1, 1, 1), torch.ones(1, 1, 1, 1)
    # syn_a = G_ba(b) = 2, cyc_a = G_ba(G_ab(a)) = 2 -> 0; syn_b = G_ab(a) = 1, cyc_b = G_ab(G_ba(b)) = 3 -> 2
    assert fam.cyclic_synthesized_loss(G_ab, G_ba, a, b).item() == pytest.approx(2.0)


def test_unit_shares_layers_and_translates():
    net = fam.UNITNetworks(3, 4)
    x = torch.rand(2, 3, 16, 16) * 2 - 1
    z = net.encode(x, "a")
    assert z.shape == (2, 16, 4, 4) and net(x, "a", "b").shape == x.shape
    # the shared layers are one module for both domains; the private ones are two
    assert net.enc["a"] is not net.enc["b"] and net.dec["a"] is not net.dec["b"]
    names = {n.split(".")[0] for n, _ in net.named_parameters()}
    assert names == {"enc", "shared_enc", "shared_dec", "dec"}


def test_munit_style_changes_the_output_and_losses_run():
    torch.manual_seed(0)
    ae = fam.MUNITAutoencoder(3, 4, 8, 1)
    x = torch.rand(2, 3, 16, 16) * 2 - 1
    c, s = ae.encode(x)
    assert c.shape == (2, 16, 4, 4) and s.shape == (2, 8)
    y1, y2 = ae.decode(c, torch.randn(2, 8)), ae.decode(c, torch.randn(2, 8))
    assert y1.shape == x.shape and not torch.allclose(y1, y2)  # one content, many outputs
    G = nn.ModuleDict({"a": ae, "b": fam.MUNITAutoencoder(3, 4, 8, 1)})
    D = nn.ModuleDict({k: PatchDiscriminator(3, 4, 1, "instance") for k in ("a", "b")})
    loss, logs = fam.MUNITObjective().g_loss(G, D, (x, x.flip(0)), None)
    assert loss.dim() == 0 and {"rec_x", "rec_c", "rec_s"} <= set(logs)


def test_bicyclegan_kl_and_shapes():
    torch.manual_seed(0)
    G = nn.ModuleDict({"g": fam.BicycleGenerator(3, 8, 4), "e": fam.LatentEncoder(3, 8, 4)})
    D = nn.ModuleDict({k: PatchDiscriminator(3, 4, 1, "instance") for k in ("vae", "lr")})
    a, b = torch.rand(2, 3, 16, 16) * 2 - 1, torch.rand(2, 3, 16, 16) * 2 - 1
    z = torch.randn(2, 8)
    assert G["g"](a, z).shape == a.shape
    obj = fam.BicycleGANObjective(lambda_l1=0, lambda_kl=1, lambda_latent=0)
    with torch.no_grad():
        for p in G["e"].parameters():
            p.zero_()  # mu = 0, logvar = 0: the KL to N(0, I) is 0
    loss, logs = obj.g_loss(G, D, (a, b), z)
    assert logs["kl"].item() == pytest.approx(0.0, abs=1e-7)


@pytest.mark.parametrize("key", ["cyclegan", "discogan", "dualgan", "unit", "munit", "bicyclegan", "stargan",
                                 "pixelda"])
def test_zoo_recipes_build_and_step(key):
    from course_lib.zoo import build_trainer, get_variant

    entry = get_variant(key)
    assert entry.chapter == "chapters/11_unpaired_translation/theory" and entry.recipe.steps <= 200
    tr = build_trainer(key, steps=2)
    tr.fit()
    assert tr.step == 2 and tr.sample().shape[0] == 16


def test_csgan_objective_adds_its_two_terms():
    torch.manual_seed(0)
    G = nn.ModuleDict({k: ResnetGenerator(3, 3, 4, 1) for k in ("ab", "ba")})
    D = nn.ModuleDict({k: PatchDiscriminator(3, 4, 1, "instance") for k in ("a", "b")})
    a, b = torch.rand(2, 3, 8, 8) * 2 - 1, torch.rand(2, 3, 8, 8) * 2 - 1
    loss, logs = fam.CSGANObjective(lambda_syn=2.0, lambda_cs=3.0).g_loss(G, D, (a, b), None)
    adv = lsgan_loss(D["b"](G["ab"](a)), True) + lsgan_loss(D["a"](G["ba"](b)), True)
    cyc = 10 * ((G["ba"](G["ab"](a)) - a).abs().mean() + (G["ab"](G["ba"](b)) - b).abs().mean())
    syn = (G["ab"](a) - b).abs().mean() + (G["ba"](b) - a).abs().mean()
    cs = fam.cyclic_synthesized_loss(G["ab"], G["ba"], a, b)
    torch.testing.assert_close(loss, adv + cyc + 2 * syn + 3 * cs)
