r"""A mini "Are GANs Created Equal?" (Lucic et al. 2018) on MNIST: several losses, one architecture, one budget,
several seeds each, scored by FID in the course's MNIST feature space.

Lucic et al. trained each loss with many hyperparameter settings and random seeds under the same computational
budget and found that the spread *within* a loss (across seeds and settings) is as large as the differences
*between* losses: with enough budget and tuning, no loss consistently wins. Here the same experiment is shrunk to
what a notebook affords: :func:`loss_study` trains, for every loss and every seed, the *same* MLP GAN (the seed
fixes the initial weights, data order and noise) with :class:`~course_lib.train.trainer.AdversarialTrainer` for
the same number of generator updates, then measures ``n_eval`` samples against the bundled MNIST test digits with
:func:`course_lib.metrics.fid_from_features` and :func:`course_lib.metrics.precision_recall` on the features of
:class:`course_lib.metrics.FeatureExtractor`. One hyperparameter setting is shared by all losses (Adam 2e-4,
betas (0.5, 0.999), batch 64): unlike the paper, no loss gets its own search.

A loss is a registered GAN loss name or a key of :data:`course_lib.gan.experiments.VARIANTS` (``"wgan_gp"``,
``"dragan"``, ...): the same resolution as chapter 5's mode-collapse experiment.

:func:`study_table` summarises the runs (median, mean and spread of the FID over seeds), :func:`plot_study` draws
the box plot.
"""

from __future__ import annotations

import math
import statistics
import time
from typing import Any, Sequence

import torch
from torch import Tensor

from course_lib.gan.experiments import _rng_scope, _variant
from course_lib.gan.models import MLPDiscriminator, MLPGenerator
from course_lib.gan.regularizers import WeightClipping

__all__ = ["STUDY_LOSSES", "loss_study", "study_table", "plot_study", "real_baseline"]

STUDY_LOSSES = ("non_saturating", "lsgan", "wgan_gp", "hinge", "dragan")


def _check_positive(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name} must be a positive int, got {value!r}.")


def real_baseline(n_eval: int = 1000) -> dict[str, float]:
    """The metrics of ``n_eval`` real *training* digits against the test digits: the floor a perfect generator
    would reach with this many samples (FID is biased upwards at finite N, so it is not 0)."""
    from course_lib.data.mnist import load_bundled_mnist
    from course_lib.metrics import FeatureExtractor, fid_from_features, precision_recall

    fx = FeatureExtractor()
    x_train, _ = load_bundled_mnist(train=True)
    x_test, _ = load_bundled_mnist(train=False)
    f_test = fx.features(x_test[:n_eval])
    f_train = fx.features(x_train[:n_eval])
    pr = precision_recall(f_test, f_train)
    return {"fid": fid_from_features(f_test, f_train), **pr}


def loss_study(
    losses: Sequence[str] = STUDY_LOSSES,
    seeds: Sequence[int] = (0, 1, 2),
    steps: int = 1000,
    *,
    batch_size: int = 64,
    z_dim: int = 32,
    g_hidden: tuple[int, ...] = (128, 256),
    d_hidden: tuple[int, ...] = (256, 128),
    lr: float = 2e-4,
    betas: tuple[float, float] = (0.5, 0.999),
    n_eval: int = 1000,
    device: torch.device | str | None = None,
    num_threads: int | None = None,
    progress: bool = False,
) -> list[dict[str, Any]]:
    r"""Train the same MLP GAN on the MNIST training digits for every (loss, seed); score each with FID.

    Generator: ``z_dim`` -> ``g_hidden`` (batch norm, leaky ReLU) -> 784 -> tanh, reshaped to ``(1, 28, 28)``;
    discriminator: 784 -> ``d_hidden`` (leaky ReLU) -> 1 logit. Both networks use Adam(``lr``, ``betas``), one
    discriminator update per generator update, ``steps`` generator updates (the budget). The data are the 4,000
    bundled training digits in [-1, 1] (:func:`course_lib.data.mnist.load_bundled_mnist`) or, when ``n_train`` digits
    are on disk through torchvision, the same loader's training split. The global random state is forked.

    Returns:
        one dict per run, loss-major: ``loss``, ``seed``, ``fid``, ``precision``, ``recall`` (``n_eval`` samples
        against ``n_eval`` test digits, course features), ``seconds`` (training wall time), ``steps``,
        ``samples`` (``Tensor[64, 1, 28, 28]`` on the CPU, from the trainer's fixed noise), ``nonfinite_skips``.
    """
    from course_lib.data.mnist import load_mnist
    from course_lib.metrics import FeatureExtractor, fid_from_features, precision_recall
    from course_lib.train import AdversarialTrainer, TrainerConfig

    if isinstance(losses, str) or not isinstance(losses, Sequence) or len(losses) == 0:
        raise ValueError(f"losses must be a non-empty list of names, got {losses!r}.")
    variants = [(name, _variant(name)) for name in losses]
    for name, v in variants:
        if v.energy is not None:
            raise ValueError(f"{name!r} needs an autoencoder discriminator; this study uses one architecture.")
    if isinstance(seeds, (str, int)) or not isinstance(seeds, Sequence) or len(seeds) == 0:
        raise ValueError(f"seeds must be a non-empty list of ints, got {seeds!r}.")
    if not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds):
        raise ValueError(f"seeds must be ints >= 0, got {seeds!r}.")
    for name, value in (("steps", steps), ("batch_size", batch_size), ("z_dim", z_dim), ("n_eval", n_eval)):
        _check_positive(name, value)
    device = torch.device("cpu") if device is None else torch.device(device)

    x_train, _ = load_mnist(train=True, verbose=False)
    x_test, _ = load_mnist(train=False, verbose=False)
    if n_eval > x_test.shape[0]:
        raise ValueError(f"n_eval ({n_eval}) exceeds the {x_test.shape[0]} test digits.")
    fx = FeatureExtractor(device=device)
    f_real = fx.features(x_test[:n_eval])
    data = x_train.to(device)

    threads_before = torch.get_num_threads()
    if num_threads is not None:
        _check_positive("num_threads", num_threads)
        torch.set_num_threads(num_threads)
    results = []
    try:
        for name, variant in variants:
            for seed in seeds:
                with _rng_scope(device):
                    torch.manual_seed(seed)
                    G = MLPGenerator(z_dim, (1, 28, 28), hidden=tuple(g_hidden)).to(device)
                    D = MLPDiscriminator((1, 28, 28), hidden=tuple(d_hidden)).to(device)
                    config = TrainerConfig(
                        steps=steps, batch_size=batch_size, loss=variant.loss, penalty=variant.penalty,
                        optimizer="adam", lr_g=lr, lr_d=lr, betas=betas, seed=seed, log_every=max(1, steps // 20),
                        sample_every=0, progress=progress, nonfinite="skip", amp="off",
                    )
                    hooks = [] if variant.clip is None else [WeightClipping(variant.clip)]
                    trainer = AdversarialTrainer(G, D, data, config, after_d_step=hooks)
                    start = time.perf_counter()
                    trainer.fit()
                    seconds = time.perf_counter() - start
                    fake = trainer.sample(n=n_eval).float().cpu().clamp(-1, 1)  # (n_eval, 1, 28, 28)
                    grid = trainer.sample().float().cpu()[:64]
                f_fake = fx.features(fake)
                pr = precision_recall(f_real, f_fake)
                results.append({
                    "loss": name, "seed": seed, "fid": fid_from_features(f_real, f_fake),
                    "precision": pr["precision"], "recall": pr["recall"], "seconds": seconds, "steps": steps,
                    "samples": grid, "nonfinite_skips": dict(trainer.nonfinite_skips),
                })
    finally:
        torch.set_num_threads(threads_before)
    return results


def _by_loss(results: Sequence[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    if isinstance(results, dict) or not isinstance(results, Sequence) or len(results) == 0:
        raise ValueError("results must be a non-empty list of dicts from loss_study.")
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in results:
        if not isinstance(row, dict) or any(k not in row for k in ("loss", "seed", "fid")):
            raise ValueError(f"each result must be a dict with keys loss, seed, fid; got {row!r}.")
        groups.setdefault(row["loss"], []).append(row)
    return groups


def study_table(results: Sequence[dict[str, Any]]) -> str:
    """A Markdown table, one row per loss: seeds, median FID, mean ± population std, best and worst seed, mean
    precision and recall."""
    lines = ["| loss | seeds | median FID | mean ± std | best | worst | precision | recall |",
             "|:-----|------:|-----------:|-----------:|-----:|------:|----------:|-------:|"]
    for loss, rows in _by_loss(results).items():
        fids = [r["fid"] for r in rows]
        mean = statistics.fmean(fids)
        std = statistics.pstdev(fids) if len(fids) > 1 else 0.0
        prec = statistics.fmean(r.get("precision", math.nan) for r in rows)
        rec = statistics.fmean(r.get("recall", math.nan) for r in rows)
        lines.append(f"| {loss} | {len(rows)} | {statistics.median(fids):.2f} | {mean:.2f} ± {std:.2f} | "
                     f"{min(fids):.2f} | {max(fids):.2f} | {prec:.2f} | {rec:.2f} |")
    return "\n".join(lines)


def plot_study(results: Sequence[dict[str, Any]], baseline: float | None = None, title: str | None = None) -> Any:
    """Box plot of the FID over seeds, one box per loss, every run as a dot; ``baseline``: a dashed line (e.g. the
    real-vs-real FID of :func:`real_baseline`). Returns the matplotlib ``Figure``."""
    import matplotlib.pyplot as plt

    groups = _by_loss(results)
    names = list(groups)
    values = [[r["fid"] for r in groups[n]] for n in names]
    fig, ax = plt.subplots(figsize=(1.4 * len(names) + 2.5, 3.8))
    ax.boxplot(values, showfliers=False)
    ax.set_xticks(range(1, len(names) + 1), names)
    for i, v in enumerate(values, start=1):
        ax.scatter([i] * len(v), v, s=14, color="tab:blue", zorder=3)
    if baseline is not None:
        ax.axhline(baseline, ls="--", color="grey", lw=1, label="real vs real")
        ax.legend(fontsize=8)
    steps = groups[names[0]][0].get("steps", "?")
    ax.set(xlabel="loss", ylabel="FID (course MNIST features, lower is better)",
           title=title or f"FID per loss over {len(values[0])} seeds, {steps} generator steps each")
    fig.tight_layout()
    return fig
