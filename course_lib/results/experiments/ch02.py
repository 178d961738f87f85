"""Chapter 2 (the original GAN): the lab's ring-of-Gaussians and MNIST runs at its ``colab``/``full`` sizes."""

from __future__ import annotations

import torch

from course_lib.results.experiments._common import history_figure, mnist_fid, samples_figure
from course_lib.results.registry import Context, register, register_chapter

CHAPTER = "02_original_gan"
register_chapter(CHAPTER, "Chapter 2: the original GAN")


@register(CHAPTER, "ring", title="Algorithm 1 on a ring of eight Gaussians", minutes={"colab": 4, "full": 4},
          tiny_seconds=4)
def ring(ctx: Context) -> None:
    """The lab's Figures 2.7-2.8 at the colab size: MLP G (z = 2) and D of width 256, non-saturating loss, Adam 1e-3,
    batch 256, 10,000 generator steps on the ring of eight Gaussians; modes covered and the high-quality fraction
    of 2,000 samples."""
    import matplotlib.pyplot as plt

    from course_lib.data import mode_coverage, ring_of_gaussians
    from course_lib.gan.models import MLPDiscriminator, MLPGenerator
    from course_lib.train import AdversarialTrainer, TrainerConfig
    from course_lib.viz import plot_samples_2d

    width, steps = ctx.size(tiny=16, colab=256), ctx.size(tiny=5, colab=10_000)
    mixture = ring_of_gaussians()
    G = MLPGenerator(z_dim=2, out_shape=(2,), hidden=(width, width), out_activation=None,
                     batch_norm=False).to(ctx.device)
    D = MLPDiscriminator((2,), hidden=(width, width)).to(ctx.device)
    cfg = TrainerConfig(steps=steps, batch_size=256, loss="non_saturating", lr_g=1e-3, lr_d=1e-3,
                        log_every=max(1, steps // 200), sample_every=0, progress=False, seed=ctx.seed)
    trainer = AdversarialTrainer(G, D, mixture.sample, cfg, device=ctx.device)
    history = trainer.fit()
    fake = trainer.sample(2_000).float().cpu()
    cov = mode_coverage(fake, mixture)
    ctx.number("generator_steps", trainer.step)
    ctx.number("training_seconds", trainer.elapsed)
    ctx.number("modes_covered", cov["modes_covered"])
    ctx.number("n_modes", cov["n_modes"])
    ctx.number("high_quality_fraction", cov["high_quality_fraction"])
    ctx.table("samples per mode", ["mode", "samples"], [[k, c] for k, c in enumerate(cov["counts"].tolist())])
    fig, ax = plt.subplots(figsize=(5.5, 5))
    real = mixture.sample(1_000, generator=torch.Generator().manual_seed(0))
    plot_samples_2d(real, fake, ax=ax, modes=mixture.modes, title=f"Samples after {trainer.step} steps")
    ctx.figure(fig, "samples", "2,000 samples of the final generator (green) over real points (black) and the eight "
                               "modes (red crosses).")
    ctx.figure(history_figure(history, ("d_loss", "g_loss"), "Ring of Gaussians: losses"), "losses",
               "Discriminator and generator losses against the generator step.")


@register(CHAPTER, "mnist", title="An MLP GAN on MNIST", minutes={"colab": 10, "full": 30}, tiny_seconds=4)
def mnist(ctx: Context) -> None:
    """The lab's Figures 2.9-2.11 at the colab (full) size: MLP G (z = 64, hidden 256, 512, 1024) and D (reversed),
    non-saturating loss, Adam 2e-4, batch 128, 20,000 (60,000) generator steps on the 60,000 MNIST training
    digits; samples, losses and the course FID of 10,000 samples against the test digits."""
    from course_lib.data import load_mnist
    from course_lib.gan.models import MLPDiscriminator, MLPGenerator
    from course_lib.train import AdversarialTrainer, TrainerConfig

    hidden = ctx.size(tiny=(16, 32), colab=(256, 512, 1024))
    steps = ctx.size(tiny=3, colab=20_000, full=60_000)
    batch, lr = ctx.size(tiny=16, colab=128), ctx.size(tiny=1e-3, colab=2e-4)
    n_eval = ctx.size(tiny=64, colab=10_000)
    x, _ = load_mnist(train=True)
    x_test, _ = load_mnist(train=False)
    x = x[:ctx.size(tiny=256, colab=60_000)].to(ctx.device)
    G = MLPGenerator(z_dim=64, out_shape=(1, 28, 28), hidden=hidden).to(ctx.device)
    D = MLPDiscriminator((1, 28, 28), hidden=tuple(reversed(hidden))).to(ctx.device)
    cfg = TrainerConfig(steps=steps, batch_size=batch, loss="non_saturating", lr_g=lr, lr_d=lr, betas=(0.5, 0.999),
                        log_every=max(1, steps // 200), sample_every=0, n_samples=64, progress=False, seed=ctx.seed)
    trainer = AdversarialTrainer(G, D, x, cfg, device=ctx.device)
    history = trainer.fit()
    fake = torch.cat([trainer.sample(n=min(1000, n_eval - k)).cpu() for k in range(0, n_eval, 1000)])
    ctx.number("training_digits", int(x.shape[0]))
    ctx.number("generator_steps", trainer.step)
    ctx.number("training_seconds", trainer.elapsed)
    ctx.number("course_fid_vs_test_digits", mnist_fid(x_test[:n_eval], fake, ctx.device))
    ctx.number("eval_samples", int(fake.shape[0]))
    ctx.figure(samples_figure(trainer.sample()[:64], f"Generated digits after {trainer.step} steps"), "samples",
               "64 digits from the final generator (the trainer's fixed noise).")
    ctx.figure(history_figure(history, ("d_real", "d_fake"), "MNIST: D on real and on generated digits"), "d_outputs",
               "The discriminator's mean output on real digits and on generated ones during training.")
