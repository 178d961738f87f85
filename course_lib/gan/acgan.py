r"""Auxiliary-classifier GANs: ACGAN (Odena, Olah & Shlens 2017), TAC-GAN (Gong et al. 2019) and ADC-GAN (Hou et
al. 2022), three ways of adding a classifier to the discriminator of a conditional GAN.

Notation: :math:`D` has a source (real/fake) logit :math:`s(x)` and class logits :math:`c(x)`; :math:`\mathrm{CE}(c,
y) = -\log \mathrm{softmax}(c)_y`; fakes are :math:`\tilde x = G(z, \tilde y)`.

* **ACGAN** (Section 3 of the paper): :math:`L_S` is the usual source log-likelihood and :math:`L_C = \mathbb E
  \log P(C = y \mid x_{\text{real}}) + \mathbb E \log P(C = \tilde y \mid \tilde x)`; D maximises
  :math:`L_S + L_C`, G maximises :math:`L_C - L_S`. In minimisation form (:func:`acgan_d_loss`,
  :func:`acgan_g_loss`):

  .. math::
     L_D = \ell_D(s(x), s(\tilde x)) + \mathrm{CE}(c(x), y) + [\text{classify\_fakes}]\,
     \mathrm{CE}(c(\tilde x), \tilde y), \qquad L_G = \ell_G(s(\tilde x)) + \mathrm{CE}(c(\tilde x), \tilde y).

  ``classify_fakes=True`` is the paper's loss; ``False`` trains the classifier on real data only, a common variant
  that keeps the classifier from learning to recognise the generator's early, wrong "classes".
* **TAC-GAN**: ACGAN's classifier pushes G towards samples that are easy to classify (away from the class
  boundaries: less diversity; Gong et al. show ACGAN minimises a KL divergence plus the conditional entropy
  :math:`H(y \mid \tilde x)`). A *twin* classifier :math:`c^{mi}`, trained on fakes only, estimates that entropy
  term and G maximises its loss: :math:`L_G = \ell_G + \mathrm{CE}(c(\tilde x), \tilde y) -
  \mathrm{CE}(c^{mi}(\tilde x), \tilde y)`, :math:`L_D = \ell_D + \mathrm{CE}(c(x), y) + \mathrm{CE}(c^{mi}(\tilde x),
  \tilde y)`.
* **ADC-GAN**: one classifier over :math:`2K` classes, real class :math:`y` is label :math:`y^+ = y` and fake class
  :math:`\tilde y` is label :math:`\tilde y^- = K + \tilde y`, so the classifier is also a discriminator:
  :math:`L_D = \ell_D + \mathrm{CE}(c(x), y^+) + \mathrm{CE}(c(\tilde x), \tilde y^-)`, :math:`L_G = \ell_G +
  \mathrm{CE}(c(\tilde x), \tilde y^+) - \mathrm{CE}(c(\tilde x), \tilde y^-)` (G raises
  :math:`\log C(\tilde y^+ \mid \tilde x) - \log C(\tilde y^- \mid \tilde x)`).

:class:`AuxClassifierDiscriminator` is one convolutional body with the heads a mode needs, and
:class:`AuxClassifierObjective` trains any of the three with the one trainer on ``(x, y)`` data.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from course_lib.gan.conditional import _LabelStream, _float_tensor, _int, _xy, check_labels
from course_lib.registry import register_model
from course_lib.train.objective import Objective

__all__ = ["acgan_d_loss", "acgan_g_loss", "tac_d_loss", "tac_g_loss", "adc_d_loss", "adc_g_loss",
           "AuxClassifierDiscriminator", "AuxClassifierObjective", "MODES"]

#: The three auxiliary-classifier objectives.
MODES = ("acgan", "tac", "adc")


def _logits(x: object, name: str) -> Tensor:
    x = _float_tensor(x, name, (1,))
    return x


def _class_logits(c: object, y: object, name: str, n: int, k: int | None = None) -> None:
    c = _float_tensor(c, name, (2,))
    if c.shape[0] != n:
        raise ValueError(f"{name} has {c.shape[0]} rows for {n} samples.")
    if k is not None and c.shape[1] != k:
        raise ValueError(f"{name} must have {k} columns, got {c.shape[1]}.")
    check_labels(y, c.shape[1], n, name="labels of " + name)


def _bce(logits: Tensor, target: float) -> Tensor:
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))


def acgan_d_loss(src_real: Tensor, src_fake: Tensor, cls_real: Tensor, cls_fake: Tensor, y_real: Tensor,
                 y_fake: Tensor, classify_fakes: bool = True) -> Tensor:
    r"""ACGAN's discriminator loss (to minimise), with the standard cross-entropy source loss:

    .. math::
        L_D = \underbrace{\mathrm{BCE}(s(x), 1) + \mathrm{BCE}(s(\tilde x), 0)}_{-L_S}
        + \underbrace{\mathrm{CE}(c(x), y) + [\text{classify\_fakes}]\, \mathrm{CE}(c(\tilde x), \tilde y)}_{-L_C}

    each term a mean over its minibatch.

    Args:
        src_real, src_fake: ``(N,)``, ``(M,)`` source logits of reals and fakes.
        cls_real, cls_fake: ``(N, K)``, ``(M, K)`` class logits.
        y_real, y_fake: ``(N,)``, ``(M,)`` int64 labels (the data's and the ones fakes were generated with).
        classify_fakes: include the class term of fakes (the paper's :math:`L_C`) or not (real data only).
    """
    if not isinstance(classify_fakes, bool):
        raise TypeError(f"classify_fakes must be a bool, got {type(classify_fakes).__name__}.")
    src_real, src_fake = _logits(src_real, "src_real"), _logits(src_fake, "src_fake")
    _class_logits(cls_real, y_real, "cls_real", src_real.shape[0])
    _class_logits(cls_fake, y_fake, "cls_fake", src_fake.shape[0], cls_real.shape[1])
    loss = _bce(src_real, 1.0) + _bce(src_fake, 0.0) + F.cross_entropy(cls_real, y_real)
    if classify_fakes:
        loss = loss + F.cross_entropy(cls_fake, y_fake)
    return loss


def acgan_g_loss(src_fake: Tensor, cls_fake: Tensor, y_fake: Tensor) -> Tensor:
    r"""ACGAN's generator loss, non-saturating source term: :math:`L_G = \mathrm{BCE}(s(\tilde x), 1) +
    \mathrm{CE}(c(\tilde x), \tilde y)` (shapes as in :func:`acgan_d_loss`)."""
    src_fake = _logits(src_fake, "src_fake")
    _class_logits(cls_fake, y_fake, "cls_fake", src_fake.shape[0])
    return _bce(src_fake, 1.0) + F.cross_entropy(cls_fake, y_fake)


def tac_d_loss(src_real: Tensor, src_fake: Tensor, cls_real: Tensor, twin_fake: Tensor, y_real: Tensor,
               y_fake: Tensor) -> Tensor:
    r"""TAC-GAN's discriminator side: :math:`\mathrm{BCE}(s(x),1) + \mathrm{BCE}(s(\tilde x),0) + \mathrm{CE}(c(x),
    y) + \mathrm{CE}(c^{mi}(\tilde x), \tilde y)`: the classifier learns on reals, its twin on fakes."""
    src_real, src_fake = _logits(src_real, "src_real"), _logits(src_fake, "src_fake")
    _class_logits(cls_real, y_real, "cls_real", src_real.shape[0])
    _class_logits(twin_fake, y_fake, "twin_fake", src_fake.shape[0], cls_real.shape[1])
    return (_bce(src_real, 1.0) + _bce(src_fake, 0.0) + F.cross_entropy(cls_real, y_real)
            + F.cross_entropy(twin_fake, y_fake))


def tac_g_loss(src_fake: Tensor, cls_fake: Tensor, twin_fake: Tensor, y_fake: Tensor) -> Tensor:
    r"""TAC-GAN's generator loss: :math:`\mathrm{BCE}(s(\tilde x), 1) + \mathrm{CE}(c(\tilde x), \tilde y) -
    \mathrm{CE}(c^{mi}(\tilde x), \tilde y)`."""
    src_fake = _logits(src_fake, "src_fake")
    _class_logits(cls_fake, y_fake, "cls_fake", src_fake.shape[0])
    _class_logits(twin_fake, y_fake, "twin_fake", src_fake.shape[0], cls_fake.shape[1])
    return _bce(src_fake, 1.0) + F.cross_entropy(cls_fake, y_fake) - F.cross_entropy(twin_fake, y_fake)


def _adc_k(cls: Tensor) -> int:
    if cls.shape[1] % 2:
        raise ValueError(f"ADC-GAN's classifier has 2K outputs (K real and K fake classes), got {cls.shape[1]}.")
    return cls.shape[1] // 2


def adc_d_loss(src_real: Tensor, src_fake: Tensor, cls_real: Tensor, cls_fake: Tensor, y_real: Tensor,
               y_fake: Tensor) -> Tensor:
    r"""ADC-GAN's discriminator loss: :math:`\mathrm{BCE}(s(x),1) + \mathrm{BCE}(s(\tilde x),0) +
    \mathrm{CE}(c(x), y) + \mathrm{CE}(c(\tilde x), K + \tilde y)`, with ``cls_*`` of shape ``(N, 2K)``."""
    src_real, src_fake = _logits(src_real, "src_real"), _logits(src_fake, "src_fake")
    _float_tensor(cls_real, "cls_real", (2,))
    k = _adc_k(cls_real)
    check_labels(y_real, k, src_real.shape[0], "y_real")
    check_labels(y_fake, k, src_fake.shape[0], "y_fake")
    _class_logits(cls_fake, y_fake, "cls_fake", src_fake.shape[0], 2 * k)
    return (_bce(src_real, 1.0) + _bce(src_fake, 0.0) + F.cross_entropy(cls_real, y_real)
            + F.cross_entropy(cls_fake, y_fake + k))


def adc_g_loss(src_fake: Tensor, cls_fake: Tensor, y_fake: Tensor) -> Tensor:
    r"""ADC-GAN's generator loss: :math:`\mathrm{BCE}(s(\tilde x), 1) + \mathrm{CE}(c(\tilde x), \tilde y) -
    \mathrm{CE}(c(\tilde x), K + \tilde y)`."""
    src_fake = _logits(src_fake, "src_fake")
    _float_tensor(cls_fake, "cls_fake", (2,))
    k = _adc_k(cls_fake)
    check_labels(y_fake, k, src_fake.shape[0], "y_fake")
    return _bce(src_fake, 1.0) + F.cross_entropy(cls_fake, y_fake) - F.cross_entropy(cls_fake, y_fake + k)


def _example_images(model: nn.Module, n: int) -> Tensor:
    return torch.rand(n, model.channels, model.image_size, model.image_size,
                      generator=torch.Generator().manual_seed(0)) * 2 - 1


@register_model("aux_classifier_discriminator", kind="discriminator",
                example_kwargs={"num_classes": 3, "image_size": 8, "base": 8, "mode": "tac"},
                example_input=_example_images, expected_shape=lambda m, n: (n, m.n_outputs))
class AuxClassifierDiscriminator(nn.Module):
    r"""One convolutional body, ``Conv 4/2/1 -> LReLU(0.2) -> Conv 4/2/1 -> BN -> LReLU -> flatten``, and one linear
    layer giving every head at once: ``[s | c | c_mi]`` with :math:`1 + K` outputs (``"acgan"``), :math:`1 + 2K`
    (``"tac"``: class logits then the twin's) or :math:`1 + 2K` (``"adc"``: the 2K-way classifier).

    Shapes: ``x`` ``(N, C, s, s)`` -> ``(N, n_outputs)``; :meth:`split` cuts it into the heads.
    """

    def __init__(self, num_classes: int = 10, image_size: int = 28, channels: int = 1, base: int = 32,
                 mode: str = "acgan") -> None:
        super().__init__()
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}.")
        self.num_classes, self.mode = _int(num_classes, "num_classes"), mode
        _int(image_size, "image_size", 4)
        if image_size % 4:
            raise ValueError(f"image_size must be a multiple of 4, got {image_size}.")
        self.image_size, self.channels = image_size, _int(channels, "channels")
        self.body = nn.Sequential(
            nn.Conv2d(channels, base, 4, 2, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(base, 2 * base, 4, 2, 1, bias=False), nn.BatchNorm2d(2 * base, eps=1e-5, momentum=0.1),
            nn.LeakyReLU(0.2), nn.Flatten(),
        )
        self.n_outputs = 1 + (num_classes if mode == "acgan" else 2 * num_classes)
        self.head = nn.Linear(2 * base * (image_size // 4) ** 2, self.n_outputs)

    def forward(self, x: Tensor) -> Tensor:
        x = _float_tensor(x, "x", (4,))
        if tuple(x.shape[1:]) != (self.channels, self.image_size, self.image_size):
            raise ValueError(f"x must have shape (N, {self.channels}, {self.image_size}, {self.image_size}), got "
                             f"{tuple(x.shape)}.")
        return self.head(self.body(x))

    def split(self, out: Tensor) -> dict[str, Tensor]:
        """``{"src": (N,), "cls": (N, K) or (N, 2K) for adc, "twin": (N, K) for tac}``."""
        k = self.num_classes
        heads = {"src": out[:, 0]}
        if self.mode == "tac":
            heads["cls"], heads["twin"] = out[:, 1:1 + k], out[:, 1 + k:]
        else:
            heads["cls"] = out[:, 1:]
        return heads


class AuxClassifierObjective(_LabelStream, Objective):
    r"""ACGAN, TAC-GAN or ADC-GAN on the one trainer. ``D`` is an :class:`AuxClassifierDiscriminator` (or anything
    with the same ``split``), ``G`` a conditional generator ``G(z, y)``; data ``(x, y)``; fake labels uniform.

    ``class_weight`` scales the class terms (1 in the papers' basic form); ``classify_fakes`` is ACGAN's option
    (see :func:`acgan_d_loss`). Logs ``acc_real``: the accuracy of the (first K) class logits on the real batch.
    """

    def __init__(self, num_classes: int = 10, mode: str = "acgan", class_weight: float = 1.0,
                 classify_fakes: bool = True, seed: int = 0) -> None:
        super().__init__(num_classes, seed)
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}.")
        self.mode, self.class_weight, self.classify_fakes = mode, float(class_weight), classify_fakes

    def describe(self) -> str:
        return f"AuxClassifierObjective(mode={self.mode}, K={self.num_classes}, class_weight={self.class_weight})"

    def _heads(self, D: nn.Module, x: Tensor) -> dict[str, Tensor]:
        return D.split(D(x))

    def d_loss(self, G, D, batch, z):
        x, y = _xy(batch, self.num_classes)
        y_f = self.draw(x.shape[0], x.device)
        r, f = self._heads(D, x), self._heads(D, G(z, y_f))
        adv = _bce(r["src"], 1.0) + _bce(f["src"], 0.0)
        if self.mode == "acgan":
            cls = F.cross_entropy(r["cls"], y) + (F.cross_entropy(f["cls"], y_f) if self.classify_fakes else 0.0)
        elif self.mode == "tac":
            cls = F.cross_entropy(r["cls"], y) + F.cross_entropy(f["twin"], y_f)
        else:
            cls = F.cross_entropy(r["cls"], y) + F.cross_entropy(f["cls"], y_f + self.num_classes)
        acc = (r["cls"][:, : self.num_classes].argmax(1) == y).float().mean()
        return adv + self.class_weight * cls, {"d_adv": adv.detach(), "d_cls": torch.as_tensor(cls).detach(),
                                               "acc_real": acc}

    def g_loss(self, G, D, batch, z):
        x, _ = _xy(batch, self.num_classes)
        y_f = self.draw(x.shape[0], x.device)
        f = self._heads(D, G(z, y_f))
        adv = _bce(f["src"], 1.0)
        cls = F.cross_entropy(f["cls"], y_f)
        if self.mode == "tac":
            cls = cls - F.cross_entropy(f["twin"], y_f)
        elif self.mode == "adc":
            cls = cls - F.cross_entropy(f["cls"], y_f + self.num_classes)
        return adv + self.class_weight * cls, {"g_cls": cls.detach()}

    def sample(self, G, z, batch=None):
        if z is None:
            raise ValueError("AuxClassifierObjective.sample needs noise z.")
        y = _xy(batch, self.num_classes)[1][: z.shape[0]] if batch is not None else \
            torch.arange(z.shape[0], device=z.device) % self.num_classes
        return G(z, y)


# ----------------------------------------------------------------------------------------------------------------
# GAN zoo (Appendix A)
# ----------------------------------------------------------------------------------------------------------------
def _recipe(mode: str):
    def recipe(steps: int, seed: int, device: Any) -> Any:
        from course_lib.gan.conditional import ConditionalDCGANGenerator, digits8_with_labels, zoo_trainer

        torch.manual_seed(seed)
        x, y = digits8_with_labels()
        G = ConditionalDCGANGenerator(z_dim=16, num_classes=10, image_size=8, base=32)
        D = AuxClassifierDiscriminator(num_classes=10, image_size=8, base=32, mode=mode)
        return zoo_trainer(G, D, (x, y), AuxClassifierObjective(10, mode=mode, seed=seed), steps=steps, seed=seed,
                           device=device, z_dim=16)
    recipe.__name__ = f"{mode}_recipe"
    return recipe


def _register_zoo() -> None:
    from course_lib.gan.conditional import CHAPTER
    from course_lib.zoo import ZooEntry, register_variant

    name = "course_lib.gan.acgan."
    common = (name + "AuxClassifierDiscriminator", name + "AuxClassifierObjective")
    register_variant(ZooEntry(
        "acgan", "Auxiliary Classifier GAN", "The discriminator also predicts the class of real and fake samples, "
        "and both networks maximise the log-likelihood of the right class.",
        r"\begin{aligned} L_S &= \mathbb E[\log P(S{=}\text{real} \mid x)] + \mathbb E[\log P(S{=}\text{fake} \mid "
        r"\tilde x)], \\ L_C &= \mathbb E[\log P(C{=}y \mid x)] + \mathbb E[\log P(C{=}\tilde y \mid \tilde x)]; \\ "
        r"& D: \max L_S + L_C,\ G: \max L_C - L_S \end{aligned}",
        ("odena2017acgan",), (name + "acgan_d_loss", name + "acgan_g_loss", *common), CHAPTER, _recipe("acgan")))
    register_variant(ZooEntry(
        "tac_gan", "Twin Auxiliary Classifiers GAN", "A twin classifier trained on fakes only estimates the "
        "conditional entropy that ACGAN's classifier term makes the generator lower, and the generator raises its "
        "loss, undoing ACGAN's pull towards easily classified samples.",
        r"\begin{aligned} L_G &= \ell_G(s(\tilde x)) + \mathrm{CE}(c(\tilde x), \tilde y) - \mathrm{CE}(c^{mi}(\tilde x), "
        r"\tilde y), \\ L_D &= \ell_D + \mathrm{CE}(c(x), y) + \mathrm{CE}(c^{mi}(\tilde x), \tilde y) \end{aligned}",
        ("gong2019tacgan",), (name + "tac_d_loss", name + "tac_g_loss", *common), CHAPTER, _recipe("tac")))
    register_variant(ZooEntry(
        "adc_gan", "Auxiliary Discriminative Classifier GAN", "One classifier over 2K classes, the real and the "
        "fake version of each label, is also a discriminator, so the generator learns the class-conditional "
        "distribution instead of easily classified samples.",
        r"L_D = \ell_D + \mathrm{CE}(c(x), y^+) + \mathrm{CE}(c(\tilde x), \tilde y^-),\ "
        r"L_G = \ell_G + \mathrm{CE}(c(\tilde x), \tilde y^+) - \mathrm{CE}(c(\tilde x), \tilde y^-)",
        ("hou2022adcgan",), (name + "adc_d_loss", name + "adc_g_loss", *common), CHAPTER, _recipe("adc")))


_register_zoo()
