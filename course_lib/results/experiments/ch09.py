"""Chapter 9 (progressive growing and style): the lab's ProGAN and StyleGAN runs at its ``colab``/``full`` sizes."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from course_lib.results.experiments._common import history_figure, mnist_fid, samples_figure
from course_lib.results.registry import Context, register, register_chapter

CHAPTER = "09_progressive_and_style"
register_chapter(CHAPTER, "Chapter 9: progressive growing and style")


def _digits(ctx: Context, n: int | None) -> torch.Tensor:
    from course_lib.data import load_mnist

    digits, _ = load_mnist(train=True)
    digits = F.pad(digits, (2, 2, 2, 2), value=-1.0)                 # (N, 1, 32, 32) in [-1, 1]
    if n is not None:
        digits = digits[torch.randperm(digits.shape[0], generator=torch.Generator().manual_seed(0))[:n]]
    return digits


@register(CHAPTER, "progan", title="ProGAN growing from 4x4 to 32x32 on MNIST", minutes={"colab": 10, "full": 35},
          tiny_seconds=10)
def progan(ctx: Context) -> None:
    """The lab's ProGAN (widths 128, 128, 64, 32; z = 32; non-saturating loss; Adam 1e-3, betas (0, 0.99)) grown
    4 -> 8 -> 16 -> 32 with fade-ins, 1,500 (colab) or 6,000 (full) steps per phase, batch 64, on all MNIST training
    digits padded to 32 x 32; the course FID of 10,000 samples (centre 28 x 28) against the test digits."""
    from course_lib.gan.progan import ProGANDiscriminator, ProGANGenerator, ProgressiveGrowing
    from course_lib.train import AdversarialTrainer, TrainerConfig

    widths = ctx.size(tiny=(8, 8, 4, 4), colab=(128, 128, 64, 32))
    phase = ctx.size(tiny=1, colab=1_500, full=6_000)
    batch = ctx.size(tiny=8, colab=64)
    digits = _digits(ctx, ctx.size(tiny=256, colab=None))
    x_test = _digits_test(ctx)
    torch.manual_seed(ctx.seed)
    G = ProGANGenerator(z_dim=32, channels=1, max_resolution=32, widths=widths, level=0)
    D = ProGANDiscriminator(channels=1, max_resolution=32, widths=widths, level=0)
    grow = ProgressiveGrowing(fade_steps=phase, stable_steps=phase)
    steps = grow.total_steps(len(G.resolutions))
    cfg = TrainerConfig(steps=steps, batch_size=batch, lr_g=1e-3, lr_d=1e-3, betas=(0.0, 0.99), seed=ctx.seed,
                        log_every=max(1, steps // 200), sample_every=0, n_samples=64, progress=False)
    trainer = AdversarialTrainer(G, D, digits, cfg, callbacks=[grow], device=ctx.device)
    trainer.fit()
    n_eval = ctx.size(tiny=64, colab=10_000)
    fake = torch.cat([trainer.sample(n=min(1000, n_eval - k)).cpu() for k in range(0, n_eval, 1000)])
    ctx.number("steps_per_phase", phase)
    ctx.number("generator_steps", trainer.step)
    ctx.number("training_seconds", trainer.elapsed)
    ctx.number("course_fid_vs_test_digits", mnist_fid(x_test[:n_eval], fake, ctx.device))
    ctx.number("eval_samples", int(fake.shape[0]))
    ctx.figure(samples_figure(trainer.sample()[:64], f"ProGAN samples at 32x32 after {trainer.step} steps"),
               "samples", "64 samples of the grown ProGAN (the trainer's fixed noise).")
    ax_fig = history_figure(trainer.history, ("d_loss", "g_loss"), "ProGAN: losses while growing")
    for ax in ax_fig.axes:
        for step, _, _ in grow.history[1:]:
            ax.axvline(step, color="gray", linestyle=":")
    ctx.figure(ax_fig, "losses",
               "Discriminator and generator losses; dotted lines: a new resolution starts to fade in.")


def _digits_test(ctx: Context) -> torch.Tensor:
    from course_lib.data import load_mnist

    x, _ = load_mnist(train=False)
    return F.pad(x, (2, 2, 2, 2), value=-1.0)


@register(CHAPTER, "stylegan", title="StyleGAN at 32x32 on MNIST: samples, mixing, truncation",
          minutes={"colab": 12, "full": 45}, tiny_seconds=20)
def stylegan(ctx: Context) -> None:
    """The lab's StyleGAN generator (widths 128, 128, 64, 32; w = 128) against a ProGAN discriminator, 6,000 (colab)
    or 24,000 (full) steps at batch 64 on all MNIST digits padded to 32 x 32; the course FID of 10,000 samples at
    psi = 1 and psi = 0.7 (truncation in W), samples and a style-mixing grid."""
    import matplotlib.pyplot as plt

    from course_lib.gan.progan import ProGANDiscriminator
    from course_lib.gan.stylegan import StyleGANGenerator
    from course_lib.train import AdversarialTrainer, TrainerConfig
    from course_lib.viz import image_grid, page_figsize

    widths = ctx.size(tiny=(8, 8, 4, 4), colab=(128, 128, 64, 32))
    w_dim = ctx.size(tiny=8, colab=128)
    steps = ctx.size(tiny=3, colab=6_000, full=24_000)
    batch = ctx.size(tiny=8, colab=64)
    digits = _digits(ctx, ctx.size(tiny=256, colab=None))
    x_test = _digits_test(ctx)
    torch.manual_seed(ctx.seed + 1)
    G = StyleGANGenerator(z_dim=w_dim, w_dim=w_dim, channels=1, resolution=32, widths=widths)
    D = ProGANDiscriminator(channels=1, max_resolution=32, widths=widths)
    cfg = TrainerConfig(steps=steps, batch_size=batch, lr_g=1e-3, lr_d=1e-3, betas=(0.0, 0.99), seed=ctx.seed + 1,
                        log_every=max(1, steps // 200), sample_every=0, n_samples=64, progress=False)
    trainer = AdversarialTrainer(G, D, digits, cfg, device=ctx.device)
    trainer.fit()
    G.eval()
    n_eval = ctx.size(tiny=64, colab=10_000)
    gen = torch.Generator().manual_seed(123)
    fids = {}
    with torch.no_grad():
        for psi in (1.0, 0.7):
            parts = []
            for k in range(0, n_eval, 1000):
                z = G.sample_z(min(1000, n_eval - k), generator=gen).to(ctx.device)
                parts.append(G.generate(z, psi=psi).cpu() if psi != 1.0 else G.generate(z).cpu())
            fids[psi] = mnist_fid(x_test[:n_eval], torch.cat(parts), ctx.device)
        z_rows = G.sample_z(4, generator=torch.Generator().manual_seed(10)).to(ctx.device)
        z_cols = G.sample_z(5, generator=torch.Generator().manual_seed(11)).to(ctx.device)
        row_imgs, col_imgs = G.generate(z_rows).cpu(), G.generate(z_cols).cpu()
        groups = G.layer_ranges()
        fig, axes = plt.subplots(1, len(groups), figsize=page_figsize(5.2 * len(groups), 5.6))
        for ax, (name, layers) in zip(axes, groups.items()):
            tiles = [torch.full_like(row_imgs[0], 1.0)] + list(col_imgs)
            for r in range(4):
                tiles += [row_imgs[r]] + list(G.mix(z_rows[r: r + 1].expand(5, -1), z_cols, layers).cpu())
            image_grid(torch.stack(tiles), nrow=6, ax=ax, title=f"{name} styles from the column source")
    fig.tight_layout()
    ctx.number("generator_steps", trainer.step)
    ctx.number("training_seconds", trainer.elapsed)
    ctx.number("course_fid_psi_1", fids[1.0])
    ctx.number("course_fid_psi_0.7", fids[0.7])
    ctx.number("eval_samples", n_eval)
    ctx.figure(samples_figure(trainer.sample()[:64], f"StyleGAN samples after {trainer.step} steps"), "samples",
               "64 samples of the trained StyleGAN generator (the trainer's fixed noise, psi = 1).")
    ctx.figure(fig, "mixing", "Style mixing: row sources in the first column, column sources in the first row; every "
                              "other cell takes the coarse, middle or fine styles of its column source.")
