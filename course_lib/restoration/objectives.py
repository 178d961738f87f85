r"""Objectives for the one trainer (:class:`course_lib.train.AdversarialTrainer`): SRGAN, ESRGAN, inpainting.

Each consumes the paired minibatch the trainer draws from tuple data and computes the two losses; the loop (the
optimizers, ``n_critic``, logs, checkpoints, resume) stays the trainer's. The generators take no noise: the
low-resolution image or the masked image is the input, and the ``z`` the trainer draws (``z_dim = 1`` is enough) is
ignored by the losses; :meth:`sample` uses it only to know how many images to return.

- :class:`SRGANObjective`: batch ``(lr, hr)``; D: the non-saturating GAN loss, ``D(hr)`` real, ``D(G(lr))`` fake;
  G: :math:`l_X(G(lr), hr) + 10^{-3}\,(-\log D(G(lr)))` (Ledig et al. 2017, Eq. 3).
- :class:`ESRGANObjective`: batch ``(lr, hr)``; the relativistic average losses of :mod:`course_lib.gan.losses`;
  G: :math:`L_{percep} + \lambda L_G^{Ra} + \eta \lVert G(lr) - hr\rVert_1` (Wang et al. 2018).
- :class:`InpaintingObjective`: batch ``(x, mask)``; ``mode="context_encoder"`` (D judges the missing region,
  :math:`\hat M \odot x` vs :math:`\hat M \odot G`) or ``"ccgan"`` (D judges the inpainted image in its context);
  G: :math:`\lambda_{rec}\,\mathrm{MSE}_{hole} + \lambda_{adv}\,(-\log D(\cdot))`.

``sample(G, z, batch)`` returns the restored images mapped to [-1, 1] (the course's display convention for samples:
the zoo's grids); without a batch it uses the ``sample_batch`` given to the constructor, as many images as ``z``
has rows.
"""

from __future__ import annotations

from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from course_lib.gan.losses import d_loss_minimax, d_loss_ragan, g_loss_non_saturating, g_loss_ragan
from course_lib.restoration.esrgan import ESRGAN_ETA, ESRGAN_LAMBDA
from course_lib.restoration.inpainting import PATHAK_LAMBDA_ADV, PATHAK_LAMBDA_REC, composite
from course_lib.restoration.metrics import psnr
from course_lib.restoration.srgan import SRGAN_ADVERSARIAL_WEIGHT, ContentLoss
from course_lib.train.objective import Objective

__all__ = ["SRGANObjective", "ESRGANObjective", "InpaintingObjective", "hole_mse"]


def _pair(batch: Any, what: str) -> tuple[Tensor, Tensor]:
    if not isinstance(batch, (tuple, list)) or len(batch) != 2:
        raise TypeError(f"the minibatch must be a pair {what}; give the trainer tuple data.")
    return batch[0], batch[1]


def _first(batch: Any, stored: Any, n: int, what: str) -> Any:
    if batch is None:
        batch = stored
    if batch is None:
        raise ValueError(f"sample needs a batch {what} (or a sample_batch given to the objective).")
    return tuple(t[:n] if n else t for t in batch)


class _RestorationObjective(Objective):
    # The generator takes no noise; z is still drawn (and ignored by the losses) so that trainer.sample(n=...)
    # returns n images: sample() uses as many stored inputs as z has rows.
    needs_noise = True

    def __init__(self, sample_batch: tuple[Tensor, Tensor] | None = None) -> None:
        self.sample_batch = sample_batch

    def restore(self, G: nn.Module, batch: tuple[Tensor, Tensor]) -> Tensor:
        raise NotImplementedError

    def sample(self, G: nn.Module, z: Tensor | None, batch: Any = None) -> Tensor:
        n = 0 if z is None else int(z.shape[0])
        pair = _first(batch, self.sample_batch, n, "(input, target)")
        device = next(G.parameters()).device
        pair = tuple(t.to(device) for t in pair)
        return self.restore(G, pair).clamp(0, 1) * 2 - 1


class SRGANObjective(_RestorationObjective):
    r"""SRGAN's perceptual loss on ``(lr, hr)`` minibatches.

    Args:
        content: a :class:`~course_lib.restoration.srgan.ContentLoss` (default: the course features after the
            activation); ``ContentLoss("pixel")`` gives SRResNet-MSE plus the adversarial term.
        adversarial_weight: :math:`10^{-3}` in the paper.
        sample_batch: ``(lr, hr)`` used by :meth:`sample` when no batch is given.
    """

    def __init__(self, content: nn.Module | None = None, adversarial_weight: float = SRGAN_ADVERSARIAL_WEIGHT,
                 sample_batch: tuple[Tensor, Tensor] | None = None) -> None:
        super().__init__(sample_batch)
        self.content = ContentLoss("course") if content is None else content
        if adversarial_weight < 0:
            raise ValueError(f"adversarial_weight must be >= 0, got {adversarial_weight}.")
        self.adversarial_weight = float(adversarial_weight)

    def restore(self, G: nn.Module, batch: tuple[Tensor, Tensor]) -> Tensor:
        return G(batch[0])

    def d_loss(self, G: nn.Module, D: nn.Module, batch: Any, z: Tensor | None) -> tuple[Tensor, Mapping[str, Any]]:
        lr, hr = _pair(batch, "(lr, hr)")
        with torch.no_grad():
            sr = G(lr)
        real, fake = D(hr), D(sr)
        loss = d_loss_minimax(real, fake)
        return loss, {"d_real": torch.sigmoid(real).mean(), "d_fake": torch.sigmoid(fake).mean()}

    def g_loss(self, G: nn.Module, D: nn.Module, batch: Any, z: Tensor | None) -> tuple[Tensor, Mapping[str, Any]]:
        lr, hr = _pair(batch, "(lr, hr)")
        sr = G(lr)
        content = self.content(sr, hr)
        adversarial = g_loss_non_saturating(D(sr))
        loss = content + self.adversarial_weight * adversarial
        return loss, {"content": content, "adversarial": adversarial,
                      "psnr": psnr(sr.detach().clamp(0, 1), hr).mean()}

    def describe(self) -> str:
        return f"SRGANObjective(content={self.content.network}, adversarial_weight={self.adversarial_weight:g})"


class ESRGANObjective(_RestorationObjective):
    r"""ESRGAN's generator and relativistic average discriminator losses on ``(lr, hr)`` minibatches.

    Args:
        content: the perceptual loss (default: the course features *before* the activation).
        lam: weight of :math:`L_G^{Ra}` (:math:`5 \cdot 10^{-3}`). eta: weight of the L1 loss (:math:`10^{-2}`).
    """

    def __init__(self, content: nn.Module | None = None, lam: float = ESRGAN_LAMBDA, eta: float = ESRGAN_ETA,
                 sample_batch: tuple[Tensor, Tensor] | None = None) -> None:
        super().__init__(sample_batch)
        self.content = ContentLoss("course", before_activation=True) if content is None else content
        if lam < 0 or eta < 0:
            raise ValueError(f"lam and eta must be >= 0, got {lam}, {eta}.")
        self.lam, self.eta = float(lam), float(eta)

    def restore(self, G: nn.Module, batch: tuple[Tensor, Tensor]) -> Tensor:
        return G(batch[0])

    def d_loss(self, G: nn.Module, D: nn.Module, batch: Any, z: Tensor | None) -> tuple[Tensor, Mapping[str, Any]]:
        lr, hr = _pair(batch, "(lr, hr)")
        with torch.no_grad():
            sr = G(lr)
        real, fake = D(hr), D(sr)
        return d_loss_ragan(real, fake), {"d_real": torch.sigmoid(real - fake.mean()).mean(),
                                          "d_fake": torch.sigmoid(fake - real.mean()).mean()}

    def g_loss(self, G: nn.Module, D: nn.Module, batch: Any, z: Tensor | None) -> tuple[Tensor, Mapping[str, Any]]:
        lr, hr = _pair(batch, "(lr, hr)")
        sr = G(lr)
        percep = self.content(sr, hr)
        adversarial = g_loss_ragan(D(sr), D(hr))  # both terms: real logits are compared with the fake average
        l1 = F.l1_loss(sr, hr)
        loss = percep + self.lam * adversarial + self.eta * l1
        return loss, {"content": percep, "adversarial": adversarial, "l1": l1,
                      "psnr": psnr(sr.detach().clamp(0, 1), hr).mean()}

    def describe(self) -> str:
        return f"ESRGANObjective(content={self.content.network}, lambda={self.lam:g}, eta={self.eta:g})"


def hole_mse(out: Tensor, x: Tensor, mask: Tensor) -> Tensor:
    r"""Mean squared error over the missing pixels: :math:`\sum \hat M (out - x)^2 / (C \sum \hat M)`."""
    m = mask.to(x.dtype)
    return ((out - x).square() * m).sum() / (m.sum() * x.shape[1]).clamp_min(1.0)


class InpaintingObjective(_RestorationObjective):
    r"""Context Encoder / CCGAN training on ``(x, mask)`` minibatches (mask 1 on the missing pixels).

    Args:
        mode: ``"context_encoder"`` (D judges the missing region) or ``"ccgan"`` (D judges the inpainted image in
            context).
        lambda_rec, lambda_adv: 0.999 and 0.001 (Pathak et al. 2016).
    """

    def __init__(self, mode: str = "context_encoder", lambda_rec: float = PATHAK_LAMBDA_REC,
                 lambda_adv: float = PATHAK_LAMBDA_ADV, sample_batch: tuple[Tensor, Tensor] | None = None) -> None:
        super().__init__(sample_batch)
        if mode not in ("context_encoder", "ccgan"):
            raise ValueError(f"mode must be 'context_encoder' or 'ccgan', got {mode!r}.")
        if lambda_rec < 0 or lambda_adv < 0:
            raise ValueError("lambda_rec and lambda_adv must be >= 0.")
        self.mode, self.lambda_rec, self.lambda_adv = mode, float(lambda_rec), float(lambda_adv)

    def restore(self, G: nn.Module, batch: tuple[Tensor, Tensor]) -> Tensor:
        x, mask = batch
        return composite(x, G(x, mask), mask)

    def _judged(self, x: Tensor, out: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """(real, fake) images shown to D."""
        if self.mode == "context_encoder":
            m = mask.to(x.dtype)
            return x * m, out * m  # the missing region only
        return x, composite(x, out, mask)  # the whole image, the hole filled in context

    def d_loss(self, G: nn.Module, D: nn.Module, batch: Any, z: Tensor | None) -> tuple[Tensor, Mapping[str, Any]]:
        x, mask = _pair(batch, "(x, mask)")
        with torch.no_grad():
            out = G(x, mask)
        real_img, fake_img = self._judged(x, out, mask)
        real, fake = D(real_img), D(fake_img)
        return d_loss_minimax(real, fake), {"d_real": torch.sigmoid(real).mean(),
                                            "d_fake": torch.sigmoid(fake).mean()}

    def g_loss(self, G: nn.Module, D: nn.Module, batch: Any, z: Tensor | None) -> tuple[Tensor, Mapping[str, Any]]:
        x, mask = _pair(batch, "(x, mask)")
        out = G(x, mask)
        rec = hole_mse(out, x, mask)
        adversarial = g_loss_non_saturating(D(self._judged(x, out, mask)[1]))
        return self.lambda_rec * rec + self.lambda_adv * adversarial, {"reconstruction": rec,
                                                                       "adversarial": adversarial}

    def describe(self) -> str:
        return f"InpaintingObjective({self.mode}, lambda_rec={self.lambda_rec:g}, lambda_adv={self.lambda_adv:g})"
