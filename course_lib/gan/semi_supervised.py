r"""The semi-supervised GAN: the discriminator is a classifier over :math:`K + 1` classes, the :math:`K` real ones
and "fake" (Odena 2016, *Semi-Supervised Learning with Generative Adversarial Networks*; Salimans et al. 2016,
*Improved Techniques for Training GANs*, Section 5).

With class logits :math:`l_1, \dots, l_K` and the fake class's logit fixed at 0 (Salimans et al.: the softmax is
unchanged by subtracting a function of :math:`x` from every logit, so one of the :math:`K + 1` may be set to 0),

.. math::
    p(\text{real} \mid x) = \frac{Z(x)}{Z(x) + 1},\quad Z(x) = \sum_k e^{l_k(x)},\qquad
    \log D(x) = \mathrm{lse}(l) - \mathrm{softplus}(\mathrm{lse}(l)),\quad
    \log(1 - D(x)) = -\mathrm{softplus}(\mathrm{lse}(l)).

The discriminator minimises the supervised cross-entropy on the few labelled images plus the unsupervised GAN loss
:math:`-\log D(x_u) - \log(1 - D(G(z)))` on unlabelled and generated images (:func:`ssgan_d_loss`); the generator
matches the mean features of an intermediate layer (feature matching, Salimans et al.'s choice for
semi-supervised learning; :func:`feature_matching_loss`). Test accuracy is the argmax of the :math:`K` logits.
:func:`ssgan_d_loss_k_plus_one` writes the same loss with an explicit :math:`(K+1)`-th logit, Odena's form.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from course_lib.gan.conditional import _float_tensor, _int, check_labels
from course_lib.registry import register_model
from course_lib.train.objective import Objective

__all__ = ["real_log_prob", "ssgan_d_loss", "ssgan_d_loss_k_plus_one", "feature_matching_loss",
           "SSGANDiscriminator", "SemiSupervisedObjective", "train_classifier", "accuracy"]


def real_log_prob(logits: Tensor) -> tuple[Tensor, Tensor]:
    r"""``(log D(x), log(1 - D(x)))`` from ``(N, K)`` class logits, fake logit 0:
    :math:`\log D = \mathrm{lse}(l) - \mathrm{softplus}(\mathrm{lse}(l))`, :math:`\log(1 - D) =
    -\mathrm{softplus}(\mathrm{lse}(l))`. Both ``(N,)``, stable for large logits."""
    logits = _float_tensor(logits, "logits", (2,))
    lse = torch.logsumexp(logits, dim=1)
    return lse - F.softplus(lse), -F.softplus(lse)


def ssgan_d_loss(logits_labelled: Tensor, y: Tensor, logits_unlabelled: Tensor, logits_fake: Tensor,
                 unsupervised_weight: float = 1.0) -> Tensor:
    r""":math:`L_D = \mathrm{CE}(l(x_l), y) + w\,[-\overline{\log D(x_u)} - \overline{\log(1 - D(G(z)))}]`
    (means over each batch). Shapes: ``(N_l, K)``, ``(N_l,)``, ``(N_u, K)``, ``(N_f, K)``."""
    _float_tensor(logits_labelled, "logits_labelled", (2,))
    check_labels(y, logits_labelled.shape[1], logits_labelled.shape[0])
    log_d_u, _ = real_log_prob(logits_unlabelled)
    _, log_1md_f = real_log_prob(logits_fake)
    return F.cross_entropy(logits_labelled, y) + unsupervised_weight * (-log_d_u.mean() - log_1md_f.mean())


def ssgan_d_loss_k_plus_one(logits_labelled: Tensor, y: Tensor, logits_unlabelled: Tensor, logits_fake: Tensor,
                            unsupervised_weight: float = 1.0) -> Tensor:
    r"""The same loss written with :math:`K + 1` logits (class :math:`K` = fake), for ``(N, K+1)`` inputs:
    supervised :math:`-\log p(y \mid x_l, y < K)`, unsupervised :math:`-\log(1 - p(K \mid x_u)) - \log p(K \mid
    G(z))`. With the last logit fixed at 0 it equals :func:`ssgan_d_loss` on the first :math:`K` logits."""
    for t, n in ((logits_labelled, "logits_labelled"), (logits_unlabelled, "logits_unlabelled"),
                 (logits_fake, "logits_fake")):
        _float_tensor(t, n, (2,))
    k = logits_labelled.shape[1] - 1
    check_labels(y, k, logits_labelled.shape[0])
    sup = F.cross_entropy(logits_labelled[:, :k], y)  # conditioned on "real": the K real classes only
    log_p_fake_u = F.log_softmax(logits_unlabelled, 1)[:, k]
    unsup_real = -torch.log1p(-log_p_fake_u.exp().clamp(max=1 - 1e-7)).mean()
    unsup_fake = -F.log_softmax(logits_fake, 1)[:, k].mean()
    return sup + unsupervised_weight * (unsup_real + unsup_fake)


def feature_matching_loss(features_real: Tensor, features_fake: Tensor) -> Tensor:
    r""":math:`\| \mathbb E f(x) - \mathbb E f(G(z)) \|_2^2` over a minibatch (Salimans et al., Section 3.1).
    Shapes ``(N, F)``, ``(M, F)`` -> 0-d."""
    features_real = _float_tensor(features_real, "features_real", (2,))
    features_fake = _float_tensor(features_fake, "features_fake", (2,))
    return (features_real.mean(0) - features_fake.mean(0)).square().sum()


def _example_images(model: nn.Module, n: int) -> Tensor:
    return torch.rand(n, model.channels, model.image_size, model.image_size,
                      generator=torch.Generator().manual_seed(0)) * 2 - 1


@register_model("ssgan_discriminator", kind="discriminator",
                example_kwargs={"num_classes": 3, "image_size": 8, "base": 8},
                example_input=_example_images, expected_shape=lambda m, n: (n, m.num_classes))
class SSGANDiscriminator(nn.Module):
    r"""A small convolutional classifier, used both as the semi-supervised discriminator and as the plain
    baseline: ``Dropout(0.2) -> Conv 4/2/1 -> LReLU -> Dropout -> Conv 4/2/1 -> LReLU -> flatten (f(x)) ->
    Linear`` to ``K`` logits (no batch norm: the labelled, unlabelled and fake batches would share statistics).
    Shapes: ``(N, C, s, s) -> (N, K)``; :meth:`features` gives ``f(x)`` ``(N, 2b (s/4)^2)``."""

    def __init__(self, num_classes: int = 10, image_size: int = 28, channels: int = 1, base: int = 32,
                 dropout: float = 0.3) -> None:
        super().__init__()
        self.num_classes, self.image_size = _int(num_classes, "num_classes"), _int(image_size, "image_size", 4)
        self.channels = _int(channels, "channels")
        self.body = nn.Sequential(
            nn.Dropout(0.2), nn.Conv2d(channels, base, 4, 2, 1), nn.LeakyReLU(0.2), nn.Dropout(dropout),
            nn.Conv2d(base, 2 * base, 4, 2, 1), nn.LeakyReLU(0.2), nn.Flatten())
        self.fc = nn.Linear(2 * base * (image_size // 4) ** 2, num_classes)

    def features(self, x: Tensor) -> Tensor:
        x = _float_tensor(x, "x", (4,))
        return self.body(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.features(x))


class SemiSupervisedObjective(Objective):
    r"""The semi-supervised GAN on the one trainer. The trainer's data are the *unlabelled* images; the few labelled
    ones are held here (``x_labelled``, ``y_labelled``) and a minibatch of them (``labelled_batch``) is drawn from the
    objective's own stream at every discriminator step. D: :func:`ssgan_d_loss`; G: :func:`feature_matching_loss`
    on D's features (``feature_matching=False``: the non-saturating :math:`-\log D(G(z))`)."""

    def __init__(self, x_labelled: Tensor, y_labelled: Tensor, labelled_batch: int = 32,
                 unsupervised_weight: float = 1.0, feature_matching: bool = True, seed: int = 0) -> None:
        _float_tensor(x_labelled, "x_labelled", (4,))
        self.num_classes = int(y_labelled.max()) + 1 if y_labelled.numel() else 1
        check_labels(y_labelled, self.num_classes, x_labelled.shape[0], "y_labelled")
        self.x_labelled, self.y_labelled = x_labelled, y_labelled
        self.labelled_batch = _int(labelled_batch, "labelled_batch")
        self.unsupervised_weight, self.feature_matching = float(unsupervised_weight), bool(feature_matching)
        self.generator = torch.Generator().manual_seed(seed)

    def state_dict(self) -> dict[str, Any]:
        return {"labelled_rng": self.generator.get_state()}

    def load_state_dict(self, state) -> None:
        self.generator.set_state(state["labelled_rng"])

    def d_loss(self, G, D, batch, z):
        x_u = batch[0] if isinstance(batch, (tuple, list)) else batch
        idx = torch.randint(self.x_labelled.shape[0], (self.labelled_batch,), generator=self.generator)
        x_l = self.x_labelled[idx].to(device=x_u.device, dtype=x_u.dtype)
        y_l = self.y_labelled[idx].to(x_u.device)
        logits_l, logits_u, logits_f = D(x_l), D(x_u), D(G(z))
        loss = ssgan_d_loss(logits_l, y_l, logits_u, logits_f, self.unsupervised_weight)
        return loss, {"acc_labelled": (logits_l.argmax(1) == y_l).float().mean()}

    def g_loss(self, G, D, batch, z):
        x_u = batch[0] if isinstance(batch, (tuple, list)) else batch
        fake = G(z)
        if self.feature_matching:
            return feature_matching_loss(D.features(x_u).detach(), D.features(fake)), {}
        log_d, _ = real_log_prob(D(fake))
        return -log_d.mean(), {}


def train_classifier(net: nn.Module, x: Tensor, y: Tensor, steps: int = 300, batch_size: int = 32,
                     lr: float = 2e-4, seed: int = 0) -> list[float]:
    """The baseline: ``net`` trained by Adam on cross-entropy over the labelled images only (supervised learning,
    no GAN), minibatches drawn with replacement from ``seed``. Returns the loss per step."""
    _float_tensor(x, "x")
    check_labels(y, int(y.max()) + 1, x.shape[0])
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(net.parameters(), lr=lr, betas=(0.5, 0.999))
    net.train()
    losses = []
    for _ in range(_int(steps, "steps")):
        idx = torch.randint(x.shape[0], (batch_size,), generator=g)
        loss = F.cross_entropy(net(x[idx]), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    return losses


@torch.no_grad()
def accuracy(net: nn.Module, x: Tensor, y: Tensor, batch_size: int = 500) -> float:
    """Test accuracy of ``argmax net(x)`` over the first K logits (eval mode; the mode is restored)."""
    was = net.training
    net.eval()
    correct = 0
    for i in range(0, x.shape[0], batch_size):
        correct += int((net(x[i:i + batch_size]).argmax(1) == y[i:i + batch_size]).sum())
    net.train(was)
    return correct / x.shape[0]


# ----------------------------------------------------------------------------------------------------------------
# GAN zoo (Appendix A)
# ----------------------------------------------------------------------------------------------------------------
def _sgan_recipe(steps: int, seed: int, device: Any) -> Any:
    from course_lib.gan.conditional import digits8_with_labels, zoo_trainer
    from course_lib.gan.dcgan import DCGANGenerator

    torch.manual_seed(seed)
    x, y = digits8_with_labels()
    few = torch.cat([torch.nonzero(y == k)[:10, 0] for k in range(10)])  # 10 labelled digits per class
    G = DCGANGenerator(z_dim=16, image_size=8, channels=1, base=32)
    D = SSGANDiscriminator(num_classes=10, image_size=8, base=32)
    return zoo_trainer(G, D, x, SemiSupervisedObjective(x[few], y[few], seed=seed), steps=steps, seed=seed,
                       device=device, z_dim=16)


def _register_zoo() -> None:
    from course_lib.gan.conditional import CHAPTER
    from course_lib.zoo import ZooEntry, register_variant

    name = "course_lib.gan.semi_supervised."
    register_variant(ZooEntry(
        "sgan", "Semi-supervised GAN", "The discriminator is a classifier with K + 1 outputs, the K classes and "
        "'fake', so unlabelled and generated data help it learn the classes from a few labels.",
        r"L_D = -\mathbb E_{x,y}[\log p(y \mid x, y{\le}K)] - \mathbb E_x[\log(1 - p(K{+}1 \mid x))] "
        r"- \mathbb E_z[\log p(K{+}1 \mid G(z))]",
        ("odena2016semi", "salimans2016improved"),
        (name + "ssgan_d_loss", name + "ssgan_d_loss_k_plus_one", name + "feature_matching_loss",
         name + "SSGANDiscriminator", name + "SemiSupervisedObjective"),
        CHAPTER, _sgan_recipe))


_register_zoo()
