"""Chapter 5 (losses and regularizers): the lab's mode-collapse experiment at its ``colab``/``full`` sizes."""

from __future__ import annotations

from course_lib.results.registry import Context, register, register_chapter

CHAPTER = "05_losses_regularizers"
register_chapter(CHAPTER, "Chapter 5: losses and regularizers")

COLAB_LOSSES = ["minimax", "non_saturating", "non_saturating_ls", "lsgan", "hinge", "wgan", "wgan_gp", "wgan_div",
                "dragan", "rsgan", "ragan", "softmax_gan", "bgan", "ebgan", "began"]


@register(CHAPTER, "mode_collapse", title="Mode collapse on a ring of eight Gaussians, every loss",
          minutes={"colab": 12, "full": 45}, tiny_seconds=5)
def mode_collapse(ctx: Context) -> None:
    """The lab's Table 5.1 and Figure 5.4: the same MLP GAN (same weights, data and noise from seed 0, Adam 1e-3,
    batch 128, one D step per G step) trained with each of 15 losses for 5,000 (colab) or 20,000 (full) generator
    steps on the ring of eight Gaussians; modes covered and high-quality fraction of 2,500 samples. The networks are
    tiny MLPs, launch-bound on a GPU: as in the lab, they run on the CPU with one thread in every profile."""
    from course_lib.data import ring_of_gaussians
    from course_lib.gan.experiments import mode_collapse_experiment, plot_samples_grid

    losses = ctx.size(tiny=["non_saturating", "hinge"], colab=COLAB_LOSSES)
    steps = ctx.size(tiny=20, colab=5_000, full=20_000)
    results = mode_collapse_experiment(losses, steps=steps, seed=ctx.seed, device="cpu",
                                       n_eval=ctx.size(tiny=500, colab=2500))
    ctx.table("modes covered per loss", ["loss", "modes covered", "of", "high-quality fraction", "final D loss",
                                         "final G loss", "seconds"],
              [[r["loss"], r["modes_covered"], r["n_modes"], r["high_quality_fraction"], r["final_d_loss"],
                r["final_g_loss"], r["seconds"]] for r in results])
    ctx.note("These MLPs trained on the recording machine's CPU with one thread (the device named above only "
             "hosted the run): a GPU does not speed up networks this small.")
    ctx.number("generator_steps_per_loss", steps)
    ctx.number("losses", len(results))
    ctx.number("losses_covering_all_modes", sum(r["modes_covered"] == r["n_modes"] for r in results))
    fig = plot_samples_grid(results, ring_of_gaussians(), ncols=3)
    ctx.figure(fig, "samples", f"The final samples of each loss over the eight modes after {steps} generator steps, "
                               "titled with the modes covered and the percentage of high-quality samples.")
