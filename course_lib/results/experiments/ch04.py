"""Chapter 4 (DCGAN): the lab's MNIST and face runs at the ``colab``/``full`` sizes of its notebook."""

from __future__ import annotations

import torch

from course_lib.results.experiments._common import history_figure, mnist_fid, samples_figure
from course_lib.results.registry import Context, register, register_chapter

CHAPTER = "04_dcgan"
register_chapter(CHAPTER, "Chapter 4: DCGAN")


@register(CHAPTER, "mnist", title="DCGAN on MNIST", minutes={"colab": 8, "full": 30}, tiny_seconds=4)
def mnist(ctx: Context) -> None:
    """The lab's MNIST DCGAN (28 x 28, base 64, z = 100, batch 128, Adam 2e-4, non-saturating loss) for 5,000
    (colab) or 20,000 (full) generator steps; samples, losses, and the course FID of 10,000 samples."""
    from course_lib.data import load_mnist
    from course_lib.gan.dcgan import DCGANDiscriminator, DCGANGenerator
    from course_lib.train import AdversarialTrainer, TrainerConfig

    n = ctx.size(tiny=256, colab=60_000)
    base, z_dim = ctx.size(tiny=4, colab=64), ctx.size(tiny=8, colab=100)
    steps = ctx.size(tiny=3, colab=5_000, full=20_000)
    batch, lr = ctx.size(tiny=16, colab=128), ctx.size(tiny=5e-4, colab=2e-4)
    n_eval = ctx.size(tiny=64, colab=10_000)
    x, _ = load_mnist(train=True)
    x_test, _ = load_mnist(train=False)
    x = x[:n].to(ctx.device)
    G = DCGANGenerator(z_dim=z_dim, image_size=28, channels=1, base=base).to(ctx.device)
    D = DCGANDiscriminator(image_size=28, channels=1, base=base).to(ctx.device)
    cfg = TrainerConfig(steps=steps, batch_size=batch, loss="non_saturating", lr_g=lr, lr_d=lr, betas=(0.5, 0.999),
                        log_every=max(1, steps // 200), sample_every=0, n_samples=64, progress=False, seed=ctx.seed)
    trainer = AdversarialTrainer(G, D, x, cfg, device=ctx.device)
    history = trainer.fit()
    fake = torch.cat([trainer.sample(n=min(1000, n_eval - k)).cpu() for k in range(0, n_eval, 1000)])
    ctx.number("training_digits", int(x.shape[0]))
    ctx.number("generator_steps", trainer.step)
    ctx.number("batch", batch)
    ctx.number("training_seconds", trainer.elapsed)
    ctx.number("real_images_per_second", trainer.step * batch / max(trainer.elapsed, 1e-9))
    ctx.number("course_fid_vs_test_digits", mnist_fid(x_test[:n_eval], fake, ctx.device))
    ctx.number("eval_samples", int(fake.shape[0]))
    ctx.number("final_d_loss", history["d_loss"][-1])
    ctx.number("final_g_loss", history["g_loss"][-1])
    ctx.figure(samples_figure(trainer.sample()[:64], f"DCGAN samples after {trainer.step} steps"), "samples",
               "64 samples of the trained MNIST DCGAN (the trainer's fixed noise).")
    ctx.figure(history_figure(history, ("d_loss", "g_loss"), "DCGAN on MNIST: losses"), "losses",
               "Discriminator and generator losses against the generator step.")


@register(CHAPTER, "faces", title="DCGAN on CelebA faces", minutes={"colab": 12, "full": 60}, tiny_seconds=4)
def faces(ctx: Context) -> None:
    """The paper's 64 x 64 DCGAN (base 64) on the first 50,000 CelebA training faces (the bundled LFW faces when
    CelebA cannot be had: the record says which) for 3,000 (colab) or 20,000 (full) steps; samples next to their
    nearest real face in pixel space."""
    import matplotlib.pyplot as plt

    from course_lib.data import load_celeba, load_lfw_faces
    from course_lib.gan.dcgan import DCGANDiscriminator, DCGANGenerator
    from course_lib.train import AdversarialTrainer, TrainerConfig
    from course_lib.viz import image_grid, page_figsize

    size, base = ctx.size(tiny=28, colab=64), ctx.size(tiny=4, colab=64)
    steps = ctx.size(tiny=3, colab=3_000, full=20_000)
    batch, lr = ctx.size(tiny=16, colab=128), ctx.size(tiny=1e-3, colab=2e-4)
    faces = load_lfw_faces(size=size) if ctx.tiny else load_celeba(size=size, n=50_000)
    data = "LFW (100 bundled faces)" if faces.shape[0] <= 100 else f"CelebA ({faces.shape[0]:,} faces)"
    if not ctx.tiny and faces.shape[0] <= 100:
        ctx.note("CelebA could not be loaded on the recording machine: this run trained on the 100 bundled LFW faces.")
    faces = faces.to(ctx.device) if faces.numel() * faces.element_size() <= 2**31 else faces
    G = DCGANGenerator(z_dim=100, image_size=size, channels=faces.shape[1], base=base).to(ctx.device)
    D = DCGANDiscriminator(image_size=size, channels=faces.shape[1], base=base).to(ctx.device)
    cfg = TrainerConfig(steps=steps, batch_size=min(batch, faces.shape[0]), loss="non_saturating", lr_g=lr, lr_d=lr,
                        log_every=max(1, steps // 200), sample_every=0, n_samples=32, progress=False, seed=ctx.seed)
    trainer = AdversarialTrainer(G, D, faces, cfg, device=ctx.device)
    trainer.fit()
    fake = trainer.sample()[:16].float()
    dist = torch.cdist(fake.flatten(1).to(faces.device), faces.flatten(1).float())   # (16, N) pixel distances
    nearest = faces[dist.argmin(dim=1)].float()
    ctx.number("data", data)
    ctx.number("image_size", size)
    ctx.number("generator_steps", trainer.step)
    ctx.number("training_seconds", trainer.elapsed)
    ctx.number("mean_nearest_pixel_distance", dist.min(dim=1).values.mean().item())
    fig, axes = plt.subplots(1, 3, figsize=page_figsize(15, 5.4))
    image_grid(faces[:16].float().cpu(), nrow=4, ax=axes[0], title="real faces")
    image_grid(fake.cpu(), nrow=4, ax=axes[1], title=f"generated after {trainer.step} steps")
    image_grid(nearest.cpu(), nrow=4, ax=axes[2], title="nearest real face to each sample")
    fig.tight_layout()
    ctx.figure(fig, "samples", f"Real faces ({data}), 16 samples, and the nearest real face to each in pixel space.")
