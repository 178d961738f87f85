r"""The chapter's zoo entries (Appendix A): SRGAN, ESRGAN, Context Encoder and CCGAN, each with a fast recipe.

A recipe is a callable ``(steps, seed, device) -> AdversarialTrainer`` (the data are pairs, so the objective of
:mod:`course_lib.restoration.objectives` is needed); its ``steps`` attribute is the number of generator updates the
appendix runs. Sizes are tiny on purpose (8x8 -> 32x32 crops of the training photos, 32x32 crops with an 12-pixel
hole): each adds about a second or two on a CPU.
"""

from __future__ import annotations

from typing import Any, Callable

import torch

from course_lib.data.photos import load_photos, random_crops
from course_lib.data.superres import sr_pairs
from course_lib.restoration.esrgan import RRDBNet
from course_lib.restoration.inpainting import ContextEncoder, InpaintDiscriminator, random_block_masks
from course_lib.restoration.objectives import ESRGANObjective, InpaintingObjective, SRGANObjective
from course_lib.restoration.srgan import ContentLoss, SRGANDiscriminator
from course_lib.restoration.srresnet import SRResNet

__all__ = ["srgan_recipe", "esrgan_recipe", "context_encoder_recipe", "ccgan_recipe"]

_N_PAIRS = 256


def _config(steps: int, seed: int, batch_size: int = 16) -> Any:
    from course_lib.train import TrainerConfig

    return TrainerConfig(steps=steps, batch_size=batch_size, z_dim=1, seed=seed, log_every=max(1, steps // 10),
                         sample_every=0, n_samples=16, progress=False, amp="off", lr_g=1e-3, lr_d=1e-3)


def _sr_trainer(steps: int, seed: int, device: Any, esrgan: bool) -> Any:
    from course_lib.train import AdversarialTrainer

    lr, hr = sr_pairs(_N_PAIRS, 32, seed=seed)
    if esrgan:
        G = RRDBNet(nf=16, nb=1, gc=8)
        objective = ESRGANObjective(ContentLoss("course", before_activation=True), sample_batch=(lr[:16], hr[:16]))
    else:
        G = SRResNet(channels=16, n_blocks=2)
        objective = SRGANObjective(ContentLoss("course"), sample_batch=(lr[:16], hr[:16]))
    D = SRGANDiscriminator(channels=16, n_blocks=3, hidden=64)
    return AdversarialTrainer(G, D, (lr, hr), _config(steps, seed), device=device, objective=objective)


def _inpaint_trainer(steps: int, seed: int, device: Any, mode: str) -> Any:
    from course_lib.train import AdversarialTrainer

    g = torch.Generator().manual_seed(seed)
    x = random_crops(load_photos("train", 0.25), _N_PAIRS, 32, generator=g)
    m = random_block_masks(_N_PAIRS, 32, 12, generator=g)
    G = ContextEncoder(image_size=32, channels=16, channelwise=mode == "context_encoder")
    D = InpaintDiscriminator(channels=16, n_layers=3)
    objective = InpaintingObjective(mode, sample_batch=(x[:16], m[:16]))
    return AdversarialTrainer(G, D, (x, m), _config(steps, seed), device=device, objective=objective)


def _recipe(fn: Callable[[int, int, Any], Any], steps: int) -> Callable[..., Any]:
    def recipe(steps: int = steps, seed: int = 0, device: Any = None) -> Any:
        return fn(steps, seed, device)

    recipe.steps = steps  # type: ignore[attr-defined]  # what Appendix A runs
    recipe.__name__ = fn.__name__
    return recipe


def _srgan(steps: int, seed: int, device: Any) -> Any:
    return _sr_trainer(steps, seed, device, esrgan=False)


def _esrgan(steps: int, seed: int, device: Any) -> Any:
    return _sr_trainer(steps, seed, device, esrgan=True)


def _context_encoder(steps: int, seed: int, device: Any) -> Any:
    return _inpaint_trainer(steps, seed, device, "context_encoder")


def _ccgan(steps: int, seed: int, device: Any) -> Any:
    return _inpaint_trainer(steps, seed, device, "ccgan")


srgan_recipe = _recipe(_srgan, 30)
esrgan_recipe = _recipe(_esrgan, 25)
context_encoder_recipe = _recipe(_context_encoder, 60)
ccgan_recipe = _recipe(_ccgan, 60)


def _register() -> None:
    from course_lib.zoo import ZooEntry, register_variant

    ch = "chapters/12_superres_inpainting_cam/theory"
    register_variant(ZooEntry(
        "srgan", "SRGAN", "A residual network upsamples 4x with sub-pixel convolutions, trained with a content loss "
        "on pretrained features plus a small adversarial loss: a perceptual loss.",
        r"l^{SR} = \frac{1}{WH}\sum_{x,y}\big(\phi(I^{HR})_{x,y} - \phi(G(I^{LR}))_{x,y}\big)^2 + 10^{-3} "
        r"\sum_n -\log D(G(I^{LR}_n))",
        ("ledig2017srgan",),
        ("course_lib.restoration.srresnet.SRResNet", "course_lib.restoration.srgan.SRGANDiscriminator",
         "course_lib.restoration.srgan.ContentLoss", "course_lib.restoration.objectives.SRGANObjective"),
        ch, recipe=srgan_recipe))
    register_variant(ZooEntry(
        "esrgan", "ESRGAN", "Residual-in-residual dense blocks without batch norm, a relativistic average "
        "discriminator and features taken before the activation.",
        r"L_G = L_{\text{percep}} + \lambda L_G^{Ra} + \eta \lVert G(x_i) - y\rVert_1,\quad "
        r"\lambda = 5\cdot 10^{-3},\ \eta = 10^{-2}",
        ("wang2018esrgan",),
        ("course_lib.restoration.esrgan.RRDBNet", "course_lib.gan.losses.d_loss_ragan",
         "course_lib.restoration.objectives.ESRGANObjective"),
        ch, recipe=esrgan_recipe))
    register_variant(ZooEntry(
        "context_encoder", "Context Encoder", "An encoder with a channel-wise fully connected bottleneck and a "
        "decoder fill a missing region, trained with a reconstruction loss plus an adversarial loss on that region.",
        r"\mathcal L = 0.999\,\lVert \hat M \odot (x - F((1 - \hat M)\odot x))\rVert_2^2 + "
        r"0.001\,\mathcal L_{adv}",
        ("pathak2016context",),
        ("course_lib.restoration.inpainting.ContextEncoder", "course_lib.restoration.inpainting.ChannelwiseFC",
         "course_lib.restoration.objectives.InpaintingObjective"),
        ch, recipe=context_encoder_recipe))
    register_variant(ZooEntry(
        "ccgan", "Context-conditional GAN", "A generator in-paints a masked region and the discriminator judges the "
        "whole inpainted image in its context.",
        r"\min_G\max_D\; \mathbb E_x[\log D(x)] + \mathbb E_{x,m}[\log(1 - D((1 - m)\odot x + m\odot "
        r"G((1 - m)\odot x)))]",
        ("denton2016ccgan",),
        ("course_lib.restoration.inpainting.ContextEncoder", "course_lib.restoration.inpainting.InpaintDiscriminator",
         "course_lib.restoration.objectives.InpaintingObjective"),
        ch, recipe=ccgan_recipe))


_register()
