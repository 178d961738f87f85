r"""IcGAN, the Invertible conditional GAN (Perarnau, van de Weijer, Raducanu & Alvarez, NeurIPS 2016 workshop on
adversarial training): a conditional generator :math:`G(z, y)` and two encoders that invert it, so that a *real*
image can be edited by changing its attributes.

* :math:`E_z: x \mapsto z`, trained on generated pairs: :math:`\min \mathbb E_{z, y} \| z - E_z(G(z, y)) \|_2^2`;
* :math:`E_y: x \mapsto y`, trained on labelled real images (the paper's best choice), here a classifier with
  cross-entropy (the attributes of the paper are binary; MNIST's label is one of ten);
* editing: :math:`\hat x = G(E_z(x), y')` for a new condition :math:`y'`; reconstruction: :math:`G(E_z(x), E_y(x))`.

The encoders are trained *after* the cGAN (plain supervised regression/classification, no adversarial loop):
:func:`train_icgan_encoders`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from course_lib.gan.conditional import _float_tensor, _int, check_labels
from course_lib.registry import register_model

__all__ = ["IcGANEncoder", "train_icgan_encoders", "icgan_edit", "icgan_reconstruct"]


def _example_x(model: nn.Module, n: int) -> Tensor:
    return torch.rand(n, *model.in_shape, generator=torch.Generator().manual_seed(0)) * 2 - 1


@register_model("icgan_encoder", kind="encoder", example_kwargs={"in_shape": (1, 8, 8), "out_dim": 5, "base": 4},
                example_input=_example_x, expected_shape=lambda m, n: (n, m.out_dim))
class IcGANEncoder(nn.Module):
    """Convolutional encoder ``(N, C, s, s) -> (N, out_dim)``: ``Conv 4/2/1 -> BN -> LReLU`` twice, then a linear
    layer (``E_z`` with ``out_dim = z_dim``, ``E_y`` with ``out_dim = K`` logits)."""

    def __init__(self, in_shape: tuple[int, int, int] = (1, 28, 28), out_dim: int = 32, base: int = 32) -> None:
        super().__init__()
        self.in_shape, self.out_dim = tuple(in_shape), _int(out_dim, "out_dim")
        c, s, _ = self.in_shape
        if s % 4:
            raise ValueError(f"the image side must be a multiple of 4, got {s}.")
        bn = lambda k: nn.BatchNorm2d(k, eps=1e-5, momentum=0.1)  # noqa: E731
        self.net = nn.Sequential(nn.Conv2d(c, base, 4, 2, 1, bias=False), bn(base), nn.LeakyReLU(0.2),
                                 nn.Conv2d(base, 2 * base, 4, 2, 1, bias=False), bn(2 * base), nn.LeakyReLU(0.2),
                                 nn.Flatten(), nn.Linear(2 * base * (s // 4) ** 2, out_dim))

    def forward(self, x: Tensor) -> Tensor:
        return self.net(_float_tensor(x, "x", (4,)))


def train_icgan_encoders(G: nn.Module, E_z: IcGANEncoder, E_y: IcGANEncoder, x: Tensor, y: Tensor, *,
                         steps: int = 200, batch_size: int = 64, lr: float = 1e-3, seed: int = 0
                         ) -> dict[str, list[float]]:
    r"""Train :math:`E_z` on :math:`(G(z, y), z)` pairs (MSE, G frozen, eval mode) and :math:`E_y` on the labelled
    real images (cross-entropy), ``steps`` Adam steps each. Returns ``{"z_mse": [...], "y_ce": [...]}``."""
    _float_tensor(x, "x", (4,))
    k = G.num_classes
    check_labels(y, k, x.shape[0])
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(list(E_z.parameters()) + list(E_y.parameters()), lr=lr, betas=(0.5, 0.999))
    G.eval()
    E_z.train(), E_y.train()
    hist: dict[str, list[float]] = {"z_mse": [], "y_ce": []}
    for _ in range(_int(steps, "steps")):
        z = torch.randn(batch_size, G.z_dim, generator=g).to(x)
        yf = torch.randint(k, (batch_size,), generator=g).to(x.device)
        with torch.no_grad():
            fake = G(z, yf)
        idx = torch.randint(x.shape[0], (batch_size,), generator=g)
        z_mse = (E_z(fake) - z).square().sum(1).mean()
        y_ce = F.cross_entropy(E_y(x[idx]), y[idx])
        opt.zero_grad(set_to_none=True)
        (z_mse + y_ce).backward()
        opt.step()
        hist["z_mse"].append(float(z_mse.detach()))
        hist["y_ce"].append(float(y_ce.detach()))
    E_z.eval(), E_y.eval()
    return hist


@torch.no_grad()
def icgan_edit(G: nn.Module, E_z: nn.Module, x: Tensor, new_labels: Tensor) -> Tensor:
    """:math:`G(E_z(x), y')`: the images' latent kept, their condition replaced. ``x`` ``(N, C, s, s)``,
    ``new_labels`` ``(N,)`` -> ``(N, C, s, s)``."""
    check_labels(new_labels, G.num_classes, x.shape[0], "new_labels")
    return G(E_z(x), new_labels)


@torch.no_grad()
def icgan_reconstruct(G: nn.Module, E_z: nn.Module, E_y: nn.Module, x: Tensor) -> Tensor:
    """:math:`G(E_z(x), \\arg\\max E_y(x))`."""
    return G(E_z(x), E_y(x).argmax(1))
