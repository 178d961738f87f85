"""Chapter 6 (evaluating GANs): the lab's mini "Are GANs created equal?" study at its ``colab``/``full`` sizes."""

from __future__ import annotations

from course_lib.results.registry import Context, register, register_chapter

CHAPTER = "06_evaluating_gans"
register_chapter(CHAPTER, "Chapter 6: evaluating GANs")


@register(CHAPTER, "loss_study", title="Five losses, several seeds, one budget: FID distributions",
          minutes={"colab": 25, "full": 90}, tiny_seconds=8)
def loss_study(ctx: Context) -> None:
    """The lab's Table 6.2 and Figures 6.5-6.6: the same MLP GAN on MNIST with the non-saturating, LSGAN, WGAN-GP,
    hinge and DRAGAN losses, 5 seeds each, 5,000 (colab) or 20,000 (full) generator steps at Adam 2e-4, scored by
    the course FID, precision and recall on 1,000 samples against 1,000 test digits."""
    import statistics

    from course_lib.metrics.study import STUDY_LOSSES, plot_study, real_baseline
    from course_lib.metrics.study import loss_study as run_study

    losses = ctx.size(tiny=["non_saturating", "hinge"], colab=list(STUDY_LOSSES))
    seeds = ctx.size(tiny=[0], colab=[0, 1, 2, 3, 4])
    steps = ctx.size(tiny=3, colab=5_000, full=20_000)
    n_eval = ctx.size(tiny=200, colab=1000)
    study = run_study(losses, seeds=seeds, steps=steps, lr=ctx.size(tiny=1e-3, colab=2e-4), n_eval=n_eval,
                      device=ctx.device)
    baseline = real_baseline(n_eval)
    ctx.table("every run", ["loss", "seed", "FID", "precision", "recall", "seconds"],
              [[r["loss"], r["seed"], r["fid"], r["precision"], r["recall"], r["seconds"]] for r in study])
    rows = []
    for name in losses:
        fids = [r["fid"] for r in study if r["loss"] == name]
        rows.append([name, len(fids), statistics.median(fids), statistics.fmean(fids),
                     statistics.pstdev(fids) if len(fids) > 1 else 0.0, min(fids), max(fids)])
    ctx.table("FID per loss over the seeds", ["loss", "seeds", "median", "mean", "population std", "best", "worst"],
              rows)
    ctx.number("generator_steps_per_run", steps)
    ctx.number("eval_samples", n_eval)
    ctx.number("real_vs_real_fid", baseline["fid"])
    fig = plot_study(study, baseline=baseline["fid"])
    ctx.figure(fig, "fid_boxes", "FID of every run, one box per loss (each dot a seed); the dashed line is the FID of "
                                 f"{n_eval} real training digits against the reference digits.")
    import matplotlib.pyplot as plt

    from course_lib.viz import page_figsize

    fig, axes = plt.subplots(1, len(losses), figsize=page_figsize(2.4 * len(losses), 2.9), squeeze=False)
    for ax, name in zip(axes[0], losses):
        run = next(r for r in study if r["loss"] == name and r["seed"] == seeds[0])
        grid = run["samples"][:16].reshape(4, 4, 28, 28).permute(0, 2, 1, 3).reshape(112, 112)
        ax.imshow(grid, cmap="gray", vmin=-1, vmax=1)
        ax.set_title(f"{name}\nFID {run['fid']:.0f}", fontsize=9)
        ax.set_xlabel(f"seed {seeds[0]}", fontsize=9)
        ax.set_xticks([]), ax.set_yticks([])
    fig.suptitle(f"Samples after {steps} generator steps")
    fig.tight_layout()
    ctx.figure(fig, "samples", "Sixteen samples of each loss (the first seed), titled with that run's FID.")
