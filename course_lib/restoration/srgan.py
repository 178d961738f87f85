r"""SRGAN (Ledig et al. 2017): the discriminator and the perceptual loss.

**Discriminator** (Figure 4): ``conv 3x3 (64) -> LReLU(0.2)``, then seven ``conv 3x3 -> BN -> LReLU`` blocks whose
channels go 64, 128, 128, 256, 256, 512, 512 with strides 2, 1, 2, 1, 2, 1, 2, then ``Dense(1024) -> LReLU ->
Dense(1)`` (a logit). The paper flattens a fixed 96x96 crop; :class:`SRGANDiscriminator` averages the last feature
maps over positions first (``AdaptiveAvgPool2d(1)``), so that it accepts any crop size (the course's crops are
small), and ``channels`` / ``n_blocks`` shrink it for a CPU.

**Perceptual loss** (Eq. 3): :math:`l^{SR} = l^{SR}_X + 10^{-3} l^{SR}_{Gen}`, the content loss

.. math::  l^{SR}_{VGG/i,j} = \frac{1}{W_{ij} H_{ij}} \sum_{x,y} \big(\phi_{i,j}(I^{HR})_{x,y} -
           \phi_{i,j}(G(I^{LR}))_{x,y}\big)^2

compares the features of the *super-resolved* image with those of the *high-resolution* one (not of the
low-resolution input), and :math:`l^{SR}_{Gen} = \sum_n -\log D(G(I^{LR}_n))`. :class:`ContentLoss` offers

- ``"vgg19"`` (Colab): torchvision's ImageNet VGG19, :math:`\phi_{5,4}`, the feature map of the 4th convolution
  before the 5th max-pool, after its ReLU for SRGAN (``features[:36]``) and before it for ESRGAN
  (``features[:35]``); ImageNet normalisation, and the paper's rescaling of the features by 1/12.75. The weights
  are downloaded on first use;
- ``"course"`` (offline): the course's MNIST feature network of chapter 6
  (:func:`course_lib.metrics.load_mnist_feature_net`), applied to each colour channel as a grey image, its second
  convolution after (SRGAN) or before (ESRGAN) the ReLU: a small stand-in that measures edges, not ImageNet
  semantics;
- ``"pixel"``: the plain MSE on pixels (SRResNet-MSE).
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from course_lib.registry import register_model

__all__ = ["SRGANDiscriminator", "ContentLoss", "SRGAN_ADVERSARIAL_WEIGHT", "VGG19_LAYERS"]

#: The weight of the adversarial term in SRGAN's perceptual loss (Ledig et al. 2017, Eq. 3).
SRGAN_ADVERSARIAL_WEIGHT = 1e-3
#: torchvision ``vgg19().features`` prefixes: phi_5,4 after the ReLU (SRGAN) and before it (ESRGAN).
VGG19_LAYERS = {"after_activation": 36, "before_activation": 35}


@register_model(
    "srgan_discriminator", kind="discriminator", example_kwargs={"channels": 8, "n_blocks": 3, "hidden": 16},
    example_input=lambda model, n: torch.rand(n, 3, 24, 24),
    expected_shape=lambda model, n: (n,),
)
class SRGANDiscriminator(nn.Module):
    r"""``[B, C, H, W] -> [B]`` logits.

    Args:
        in_channels: image channels.
        channels: width of the first block (64 in the paper); doubled every two blocks.
        n_blocks: strided/unstrided ``conv -> BN -> LReLU`` blocks after the first conv (7 in the paper).
        hidden: width of the dense layer (1024 in the paper).
    """

    def __init__(self, in_channels: int = 3, channels: int = 64, n_blocks: int = 7, hidden: int = 1024) -> None:
        super().__init__()
        if n_blocks < 0:
            raise ValueError(f"n_blocks must be >= 0, got {n_blocks}.")
        layers: list[nn.Module] = [nn.Conv2d(in_channels, channels, 3, padding=1), nn.LeakyReLU(0.2)]
        c = channels
        for i in range(n_blocks):
            out = channels * 2 ** ((i + 1) // 2)
            stride = 2 if i % 2 == 0 else 1
            layers += [nn.Conv2d(c, out, 3, stride=stride, padding=1), nn.BatchNorm2d(out), nn.LeakyReLU(0.2)]
            c = out
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, hidden), nn.LeakyReLU(0.2),
                                  nn.Linear(hidden, 1))

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 4:
            raise ValueError(f"x must be [B, C, H, W], got {tuple(x.shape)}.")
        return self.head(self.features(x)).squeeze(1)


class _CourseFeatures(nn.Module):
    """The chapter 6 MNIST net's first two convolution stages on each colour channel (frozen)."""

    def __init__(self, before_activation: bool) -> None:
        super().__init__()
        from course_lib.metrics import load_mnist_feature_net

        body = load_mnist_feature_net("cpu").body
        # body: conv 0, relu 1, pool 2, conv 3, relu 4, ...: conv2 before (:4) or after (:5) its ReLU
        import copy

        self.net = copy.deepcopy(body[: 4 if before_activation else 5])
        for p in self.net.parameters():
            p.requires_grad_(False)

    def forward(self, x: Tensor) -> Tensor:
        b, c, h, w = x.shape
        grey = (x * 2 - 1).reshape(b * c, 1, h, w)  # each channel as a digit-like image in [-1, 1]
        f = self.net(grey)
        return f.reshape(b, c * f.shape[1], *f.shape[2:])


class _VGGFeatures(nn.Module):
    def __init__(self, before_activation: bool) -> None:
        super().__init__()
        from torchvision.models import VGG19_Weights, vgg19  # weights downloaded on first use

        end = VGG19_LAYERS["before_activation" if before_activation else "after_activation"]
        self.net = vgg19(weights=VGG19_Weights.IMAGENET1K_V1).features[:end].eval()
        for p in self.net.parameters():
            p.requires_grad_(False)
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))

    def forward(self, x: Tensor) -> Tensor:
        return self.net((x - self.mean) / self.std) / 12.75  # SRGAN rescales the VGG losses by 1/12.75


class ContentLoss(nn.Module):
    r"""``(sr [B, C, H, W], hr [B, C, H, W]) -> scalar``: :math:`\operatorname{mean}(\phi(sr) - \phi(hr))^2`.

    Args:
        network: ``"course"`` (offline), ``"vgg19"`` (downloads torchvision's weights) or ``"pixel"`` (MSE).
        before_activation: features before the ReLU (ESRGAN) instead of after it (SRGAN).
        fallback: when ``"vgg19"`` cannot be loaded, say so in one line and use ``"course"``.
    """

    def __init__(self, network: str = "course", before_activation: bool = False, *, fallback: bool = True) -> None:
        super().__init__()
        if network not in ("course", "vgg19", "pixel"):
            raise ValueError(f"network must be 'course', 'vgg19' or 'pixel', got {network!r}.")
        self.before_activation = bool(before_activation)
        self.phi: nn.Module | None = None
        if network == "vgg19":
            try:
                self.phi = _VGGFeatures(self.before_activation)
            except Exception as err:  # no network for the weights, mostly
                if not fallback:
                    raise
                print(f"VGG19 unavailable ({type(err).__name__}): content loss on the course's feature network.")
                network = "course"
        if network == "course":
            self.phi = _CourseFeatures(self.before_activation)
        self.network = network

    def train(self, mode: bool = True) -> "ContentLoss":
        super().train(mode)
        if self.phi is not None:
            self.phi.eval()  # the feature network stays frozen in eval mode
        return self

    def features(self, x: Tensor) -> Tensor:
        """:math:`\\phi(x)` (the pixels themselves for ``"pixel"``)."""
        return x if self.phi is None else self.phi(x)

    def forward(self, sr: Tensor, hr: Tensor) -> Tensor:
        if not isinstance(sr, Tensor) or not isinstance(hr, Tensor):
            raise TypeError("sr and hr must be tensors.")
        if sr.shape != hr.shape or sr.dim() != 4:
            raise ValueError(f"sr and hr must be [B, C, H, W] of one shape, got {tuple(sr.shape)} and "
                             f"{tuple(hr.shape)}.")
        if self.phi is not None:
            self.phi.to(sr.device)
        with torch.no_grad():
            target = self.features(hr)
        return F.mse_loss(self.features(sr), target)
