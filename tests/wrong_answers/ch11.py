"""Chapter 11's answers for the wrong-answer suite (see ``tests/exercise_suite.py``)."""

from __future__ import annotations

import random

import torch
import torch.nn.functional as F

from exercise_suite import correct, wrong


# ----------------------------------------------------------------------------------------------------------------------
# 11.1 image pool
# ----------------------------------------------------------------------------------------------------------------------
def pool_loop(pool, images, size, coins, slots):
    if size == 0:
        return images
    out = []
    for i in range(images.shape[0]):
        image = images[i].detach().clone()
        if len(pool) < size:
            pool.append(image)
            out.append(image.clone())
        elif coins[i].item() > 0.5:
            j = slots[i].item()
            out.append(pool[j])
            pool[j] = image
        else:
            out.append(image)
    return torch.stack(out)


def pool_preallocated(pool, images, size, coins, slots):
    """The returned images gathered by index into a tensor filled in place."""
    if size == 0:
        return images.clone()
    result = images.detach().clone()
    for i, image in enumerate(images.detach()):
        if len(pool) < size:
            pool.append(image.clone())
        elif bool(coins[i] > 0.5):
            result[i] = pool[int(slots[i])]
            pool[int(slots[i])] = image.clone()
    return result


def pool_no_replace(pool, images, size, coins, slots):
    """Returns the stored image but keeps it in the buffer: the new one is thrown away."""
    if size == 0:
        return images
    out = []
    for i, image in enumerate(images):
        if len(pool) < size:
            pool.append(image.clone())
            out.append(image)
        elif coins[i] > 0.5:
            out.append(pool[int(slots[i])].clone())
        else:
            out.append(image)
    return torch.stack(out)


def pool_never_swaps(pool, images, size, coins, slots):
    """Fills the buffer, then never uses it."""
    for image in images:
        if len(pool) < size:
            pool.append(image.clone())
    return images


def pool_coin_inverted(pool, images, size, coins, slots):
    return pool_loop(pool, images, size, 1.0 - coins, slots)


def pool_python_random(pool, images, size, coins, slots):
    """Draws its own coins instead of the ones given (the reference code's random.uniform)."""
    rng = random.Random(0)
    drawn = torch.tensor([rng.uniform(0, 1) for _ in range(images.shape[0])])
    return pool_loop(pool, images, size, drawn, slots)


# ----------------------------------------------------------------------------------------------------------------------
# 11.2 cycle + identity
# ----------------------------------------------------------------------------------------------------------------------
def ci_l1_loss(G_ab, G_ba, real_a, real_b, lambda_cyc=10.0, lambda_id=0.5):
    fake_b, fake_a = G_ab(real_a), G_ba(real_b)
    cycle = F.l1_loss(G_ba(fake_b), real_a) + F.l1_loss(G_ab(fake_a), real_b)
    identity = F.l1_loss(G_ab(real_b), real_b) + F.l1_loss(G_ba(real_a), real_a)
    return lambda_cyc * cycle, lambda_cyc * lambda_id * identity


def ci_per_direction(G_ab, G_ba, real_a, real_b, lambda_cyc=10.0, lambda_id=0.5):
    """Four terms weighted one by one, as the reference code's lambda_A / lambda_B."""
    loss_cycle_a = (G_ba(G_ab(real_a)) - real_a).abs().mean() * lambda_cyc
    loss_cycle_b = (G_ab(G_ba(real_b)) - real_b).abs().mean() * lambda_cyc
    loss_idt_a = (G_ab(real_b) - real_b).abs().mean() * lambda_cyc * lambda_id
    loss_idt_b = (G_ba(real_a) - real_a).abs().mean() * lambda_cyc * lambda_id
    return loss_cycle_a + loss_cycle_b, loss_idt_a + loss_idt_b


def ci_identity_swapped(G_ab, G_ba, real_a, real_b, lambda_cyc=10.0, lambda_id=0.5):
    """Each generator fed its own input domain for the identity term."""
    cycle, _ = ci_l1_loss(G_ab, G_ba, real_a, real_b, lambda_cyc, lambda_id)
    identity = F.l1_loss(G_ab(real_a), real_a) + F.l1_loss(G_ba(real_b), real_b)
    return cycle, lambda_cyc * lambda_id * identity


def ci_cycle_wrong_order(G_ab, G_ba, real_a, real_b, lambda_cyc=10.0, lambda_id=0.5):
    """a through G_ba first, then G_ab: an image of A fed to the B -> A generator."""
    _, identity = ci_l1_loss(G_ab, G_ba, real_a, real_b, lambda_cyc, lambda_id)
    cycle = F.l1_loss(G_ab(G_ba(real_a)), real_a) + F.l1_loss(G_ba(G_ab(real_b)), real_b)
    return lambda_cyc * cycle, identity


def ci_identity_weight_alone(G_ab, G_ba, real_a, real_b, lambda_cyc=10.0, lambda_id=0.5):
    """lambda_id used as the identity weight itself, not relative to lambda_cyc."""
    cycle, identity = ci_l1_loss(G_ab, G_ba, real_a, real_b, lambda_cyc, lambda_id)
    return cycle, identity / lambda_cyc


def ci_l2(G_ab, G_ba, real_a, real_b, lambda_cyc=10.0, lambda_id=0.5):
    cycle = F.mse_loss(G_ba(G_ab(real_a)), real_a) + F.mse_loss(G_ab(G_ba(real_b)), real_b)
    identity = F.mse_loss(G_ab(real_b), real_b) + F.mse_loss(G_ba(real_a), real_a)
    return lambda_cyc * cycle, lambda_cyc * lambda_id * identity


def ci_against_fake(G_ab, G_ba, real_a, real_b, lambda_cyc=10.0, lambda_id=0.5):
    """The reconstruction compared with the translation instead of the input."""
    fake_b, fake_a = G_ab(real_a), G_ba(real_b)
    cycle = F.l1_loss(G_ba(fake_b), fake_b) + F.l1_loss(G_ab(fake_a), fake_a)
    _, identity = ci_l1_loss(G_ab, G_ba, real_a, real_b, lambda_cyc, lambda_id)
    return lambda_cyc * cycle, identity


# ----------------------------------------------------------------------------------------------------------------------
# 11.3 StarGAN
# ----------------------------------------------------------------------------------------------------------------------
def sg_cross_entropy(cls_real, cls_fake, label_org, label_trg, x_real, x_rec):
    return (F.cross_entropy(cls_real, label_org), F.cross_entropy(cls_fake, label_trg),
            F.l1_loss(x_rec, x_real))


def sg_log_softmax_gather(cls_real, cls_fake, label_org, label_trg, x_real, x_rec):
    d = -cls_real.log_softmax(1).gather(1, label_org[:, None]).mean()
    g = -F.log_softmax(cls_fake, dim=1)[torch.arange(len(label_trg)), label_trg].mean()
    return d, g, (x_real - x_rec).abs().mean()


def sg_nll_one_hot(cls_real, cls_fake, label_org, label_trg, x_real, x_rec):
    k = cls_real.shape[1]
    d = -(F.one_hot(label_org, k).to(cls_real.dtype) * torch.log_softmax(cls_real, 1)).sum(1).mean()
    g = F.nll_loss(torch.log_softmax(cls_fake, 1), label_trg)
    return d, g, torch.mean(torch.abs(x_rec - x_real))


def sg_g_original_label(cls_real, cls_fake, label_org, label_trg, x_real, x_rec):
    """The fake classified as the domain it came from."""
    return (F.cross_entropy(cls_real, label_org), F.cross_entropy(cls_fake, label_org),
            F.l1_loss(x_rec, x_real))


def sg_d_on_fakes(cls_real, cls_fake, label_org, label_trg, x_real, x_rec):
    """D's classifier trained on the fakes with their target labels."""
    return (F.cross_entropy(cls_fake, label_trg), F.cross_entropy(cls_fake, label_trg),
            F.l1_loss(x_rec, x_real))


def sg_swapped(cls_real, cls_fake, label_org, label_trg, x_real, x_rec):
    return (F.cross_entropy(cls_real, label_trg), F.cross_entropy(cls_fake, label_org),
            F.l1_loss(x_rec, x_real))


def sg_naive_log_softmax(cls_real, cls_fake, label_org, label_trg, x_real, x_rec):
    """log(softmax) through exp: overflows for large logits."""
    def ce(logits, labels):
        p = torch.exp(logits) / torch.exp(logits).sum(1, keepdim=True)
        return -torch.log(p[torch.arange(len(labels)), labels]).mean()
    return ce(cls_real, label_org), ce(cls_fake, label_trg), F.l1_loss(x_rec, x_real)


def sg_binary(cls_real, cls_fake, label_org, label_trg, x_real, x_rec):
    """Sigmoid per domain (CelebA's attribute loss) where the domains are exclusive."""
    k = cls_real.shape[1]
    d = F.binary_cross_entropy_with_logits(cls_real, F.one_hot(label_org, k).to(cls_real.dtype))
    g = F.binary_cross_entropy_with_logits(cls_fake, F.one_hot(label_trg, k).to(cls_fake.dtype))
    return d, g, F.l1_loss(x_rec, x_real)


def sg_l2_rec(cls_real, cls_fake, label_org, label_trg, x_real, x_rec):
    return (F.cross_entropy(cls_real, label_org), F.cross_entropy(cls_fake, label_trg),
            F.mse_loss(x_rec, x_real))


ANSWERS = {
    "11.1": [
        correct("a loop with .item()", pool_loop),
        correct("a copy of the batch, swapped entries written in place", pool_preallocated),
        wrong("returns the stored image without storing the new one", pool_no_replace),
        wrong("a full buffer that never swaps", pool_never_swaps),
        wrong("swaps when the coin is below 1/2", pool_coin_inverted),
        wrong("draws its own coins", pool_python_random),
    ],
    "11.2": [
        correct("F.l1_loss", ci_l1_loss),
        correct("four terms weighted one by one", ci_per_direction),
        wrong("identity: each generator fed its own input domain", ci_identity_swapped),
        wrong("cycle in the wrong order", ci_cycle_wrong_order),
        wrong("identity weighted by lambda_id alone", ci_identity_weight_alone),
        wrong("squared error instead of L1", ci_l2),
        wrong("reconstruction compared with the translation", ci_against_fake),
    ],
    "11.3": [
        correct("F.cross_entropy and F.l1_loss", sg_cross_entropy),
        correct("log_softmax and gather", sg_log_softmax_gather),
        correct("one-hot times log_softmax, nll_loss", sg_nll_one_hot),
        wrong("fakes classified as their original domain", sg_g_original_label),
        wrong("D's classifier trained on fakes", sg_d_on_fakes),
        wrong("labels swapped", sg_swapped),
        wrong("log(softmax) through exp (overflows)", sg_naive_log_softmax),
        wrong("a sigmoid per domain", sg_binary),
        wrong("squared-error reconstruction", sg_l2_rec),
    ],
}
