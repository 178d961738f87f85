r"""Chapter 5's mode-collapse experiment: every loss, the same small MLPs, the same budget, a ring of 8 Gaussians.

For each GAN variant, :func:`mode_collapse_experiment` trains the *same* generator and discriminator (same
architecture, same initial weights, same data stream and noise stream: everything comes from one seed) with
:class:`~course_lib.train.trainer.AdversarialTrainer` for the same number of generator updates, then draws samples
and measures them with :func:`course_lib.data.mode_coverage`, the metric of the unrolled-GAN and VEEGAN papers:

- **modes covered**: how many of the 8 modes received at least one *high-quality* sample (within 3 standard
  deviations, i.e. 0.06, of the mode's centre);
- **high-quality fraction**: the share of samples that are high quality.

A variant is a registered loss name (``"hinge"``, ``"ragan"``, ...; :func:`course_lib.gan.losses.list_gan_losses`)
or one of :data:`VARIANTS`, which adds the Lipschitz machinery some losses need (``"wgan"`` with weight clipping,
``"wgan_gp"`` with the gradient penalty, ...). Everything else (optimizer, learning rates, batch size, number of
critic steps) is shared, which is the point of the exercise: Lucic et al., *Are GANs Created Equal? A Large-Scale
Study*, NeurIPS 2018, found that with a fixed budget the choice of loss matters less than the hyperparameters.

:func:`format_table` turns the results into a Markdown table; :func:`plot_samples_grid` draws the final samples of
every variant over the modes.

Budget (measured on the course's 2-core CPU machine while other jobs shared it, load average about 4, defaults:
batch 128, MLPs 64-64, Adam 1e-3): about 6-9 ms of CPU time per generator update for the plain losses, roughly
twice that with a gradient penalty. Six losses (minimax, non-saturating, LSGAN, hinge, WGAN-GP, RaGAN) took 55 s of
CPU time for 1,000 steps each and 105 s for 2,000 steps each (wall time was 2-3x that on the shared machine). A
``fast`` profile of about a minute therefore affords 6 losses x 1,000 steps: the modes covered already separate the
losses (8, 8, 6, 6, 1 and 8 of 8 with seed 0), while the samples are still spread along the ring (2-4 % high
quality); 2,000 steps bring 14-22 %.
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass
from typing import Any, Sequence

import torch
from torch import Tensor, nn

from course_lib.data.toy import GaussianMixture2D, mode_coverage, ring_of_gaussians
from course_lib.gan.losses import AutoencoderEnergy, list_gan_losses
from course_lib.gan.models import MLPDiscriminator, MLPGenerator
from course_lib.gan.regularizers import WeightClipping

__all__ = ["Variant", "VARIANTS", "mode_collapse_experiment", "format_table", "plot_samples_grid"]


@dataclass(frozen=True)
class Variant:
    """A GAN variant of the experiment: a registered loss plus what it needs to work.

    Attributes:
        loss: a registered GAN loss name.
        penalty: a registered penalty name (``course_lib.gan.penalties``) or ``None``.
        clip: weight-clipping bound :math:`c` for the discriminator (WGAN), or ``None``.
        energy: ``None`` for a plain discriminator, or ``"l1"``/``"mse"``: an autoencoder discriminator returning
            that reconstruction energy (EBGAN, BEGAN).
        description: one line for the table's caption.
    """

    loss: str
    penalty: str | None = None
    clip: float | None = None
    energy: str | None = None
    description: str = ""


VARIANTS: dict[str, Variant] = {
    "wgan": Variant("wgan", clip=0.01, description="WGAN critic loss with weight clipping, c = 0.01"),
    "wgan_gp": Variant("wgan", penalty="wgan_gp", description="WGAN critic loss + gradient penalty, lambda = 10"),
    "wgan_div": Variant("wgan", penalty="wgan_div", description="WGAN critic loss + WGAN-div term, k = 2, p = 6"),
    "dragan": Variant("non_saturating", penalty="dragan", description="non-saturating loss + DRAGAN penalty"),
    "r1": Variant("non_saturating", penalty="r1", description="non-saturating loss + R1, gamma = 10"),
    "ebgan": Variant("ebgan", energy="mse", description="EBGAN, autoencoder D (MSE energy), margin 1"),
    "began": Variant("began", energy="l1", description="BEGAN, autoencoder D (L1 energy), gamma 0.5"),
}


def _variant(name: str) -> Variant:
    if not isinstance(name, str):
        raise TypeError(f"each loss must be a name (str), got {type(name).__name__}.")
    if name in VARIANTS:
        return VARIANTS[name]
    if name in list_gan_losses():
        return Variant(name)
    raise ValueError(
        f"unknown variant {name!r}: use a registered GAN loss ({', '.join(list_gan_losses())}) or one of "
        f"{', '.join(sorted(VARIANTS))}."
    )


def _mlp(width_in: int, hidden: Sequence[int], width_out: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for h in hidden:
        layers += [nn.Linear(width_in, h), nn.LeakyReLU(0.2)]
        width_in = h
    layers.append(nn.Linear(width_in, width_out))
    return nn.Sequential(*layers)


def _build_models(variant: Variant, z_dim: int, hidden: tuple[int, ...]) -> tuple[nn.Module, nn.Module]:
    G = MLPGenerator(z_dim, (2,), hidden=hidden, out_activation=None, batch_norm=False)
    if variant.energy is None:
        D: nn.Module = MLPDiscriminator((2,), hidden=hidden)
    else:  # an autoencoder 2 -> hidden -> 2 whose reconstruction error is the energy
        D = AutoencoderEnergy(_mlp(2, hidden, 2), kind=variant.energy)
    return G, D


def _rng_scope(device: torch.device) -> contextlib.AbstractContextManager[Any]:
    """Fork the global generators (CPU, and the CUDA device if used) so the caller's state is left untouched."""
    devices = [device] if device.type == "cuda" else []
    return torch.random.fork_rng(devices=devices)


def mode_collapse_experiment(
    losses: Sequence[str],
    steps: int = 2000,
    seed: int = 0,
    device: torch.device | str | None = None,
    *,
    batch_size: int = 128,
    z_dim: int = 16,
    hidden: tuple[int, ...] = (64, 64),
    lr: float = 1e-3,
    betas: tuple[float, float] = (0.5, 0.999),
    n_critic: int = 1,
    n_eval: int = 2500,
    mixture: GaussianMixture2D | None = None,
    progress: bool = False,
    num_threads: int | None = 1,
) -> list[dict[str, Any]]:
    r"""Train the same MLP GAN on a 2-D mixture with each loss under one budget; measure mode coverage.

    For every name in ``losses``: seed the global generator with ``seed`` and build the generator (``z_dim`` ->
    ``hidden`` -> 2, leaky ReLU, no batch norm) and the discriminator (2 -> ``hidden`` -> 1), so every variant starts
    from the same weights; train for ``steps`` generator updates with Adam(``lr``, ``betas``) for both networks,
    batches of ``batch_size`` from ``mixture`` and ``n_critic`` discriminator updates per generator update; then
    draw ``n_eval`` samples from fresh noise (the trainer's seeded sampling generator) and apply
    :func:`course_lib.data.mode_coverage`. The global random state is forked, so the caller's is unchanged, and two
    calls with the same arguments on the same machine return identical results.

    Args:
        losses: variant names: registered GAN losses or keys of :data:`VARIANTS`.
        steps: generator updates per variant (the budget).
        seed: the one seed behind weights, data, noise and penalties.
        device: where to train (``None``: CPU; tiny MLPs are launch-bound on a GPU).
        batch_size, z_dim, hidden, lr, betas, n_critic: the shared configuration.
        n_eval: samples drawn for the metric.
        mixture: the data (default: :func:`course_lib.data.ring_of_gaussians`, 8 modes on a circle of radius 2,
            standard deviation 0.02).
        progress: show the trainer's progress bar and printed config.
        num_threads: CPU threads during the run (restored after); 1 is the fastest for these tiny MLPs and makes
            the numbers independent of the machine's core count (a different thread count may change the results
            in the last bits, and GAN training amplifies such differences). ``None``: leave it alone.

    Returns:
        one dict per variant, in order: ``loss`` (the name), ``description``, ``modes_covered`` (int),
        ``n_modes``, ``high_quality_fraction`` (float), ``counts`` (list of high-quality samples per mode),
        ``samples`` (``Tensor[n_eval, 2]`` on the CPU), ``seconds`` (training wall time), ``steps``,
        ``final_d_loss``, ``final_g_loss``, ``nonfinite_skips``.
    """
    if isinstance(losses, str) or not isinstance(losses, Sequence) or len(losses) == 0:
        raise ValueError(f"losses must be a non-empty list of names, got {losses!r}.")
    variants = [(name, _variant(name)) for name in losses]
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be an int >= 0, got {seed!r}.")
    for name, value in (("steps", steps), ("n_eval", n_eval), ("z_dim", z_dim), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ValueError(f"{name} must be a positive int, got {value!r}.")
    mixture = ring_of_gaussians() if mixture is None else mixture
    if not isinstance(mixture, GaussianMixture2D):
        raise TypeError(f"mixture must be a GaussianMixture2D, got {type(mixture).__name__}.")
    device = torch.device("cpu") if device is None else torch.device(device)
    hidden = tuple(hidden)

    if num_threads is not None and (isinstance(num_threads, bool) or not isinstance(num_threads, int)
                                    or num_threads <= 0):
        raise ValueError(f"num_threads must be a positive int or None, got {num_threads!r}.")
    threads_before = torch.get_num_threads()
    if num_threads is not None:
        torch.set_num_threads(num_threads)
    try:
        return [_run_variant(name, variant, steps, seed, device, batch_size, z_dim, hidden, lr, betas, n_critic,
                             n_eval, mixture, progress) for name, variant in variants]
    finally:
        torch.set_num_threads(threads_before)


def _run_variant(name: str, variant: Variant, steps: int, seed: int, device: torch.device, batch_size: int,
                 z_dim: int, hidden: tuple[int, ...], lr: float, betas: tuple[float, float], n_critic: int,
                 n_eval: int, mixture: GaussianMixture2D, progress: bool) -> dict[str, Any]:
    """Train and measure one variant (see :func:`mode_collapse_experiment`)."""
    from course_lib.train import AdversarialTrainer, TrainerConfig

    def sample_data(n: int, generator: torch.Generator) -> Tensor:
        return mixture.sample(n, generator=generator)

    with _rng_scope(device):
        torch.manual_seed(seed)
        G, D = _build_models(variant, z_dim, hidden)
        G.to(device)
        D.to(device)
        config = TrainerConfig(
            steps=steps, batch_size=batch_size, n_critic=n_critic, loss=variant.loss, penalty=variant.penalty,
            optimizer="adam", lr_g=lr, lr_d=lr, betas=betas, seed=seed, log_every=max(1, steps // 20),
            sample_every=0, progress=progress, nonfinite="skip", amp="off",
        )
        hooks = [] if variant.clip is None else [WeightClipping(variant.clip)]
        trainer = AdversarialTrainer(G, D, sample_data, config, after_d_step=hooks)
        if variant.clip is not None:
            WeightClipping(variant.clip)(D)  # start inside the clipping box, as after any update
        start = time.perf_counter()
        trainer.fit()
        seconds = time.perf_counter() - start
        samples = trainer.sample(n=n_eval).float().cpu()  # (n_eval, 2)
    cover = mode_coverage(samples, mixture)
    return {
        "loss": name,
        "description": variant.description or getattr(trainer.loss, "description", ""),
        "modes_covered": cover["modes_covered"],
        "n_modes": cover["n_modes"],
        "high_quality_fraction": cover["high_quality_fraction"],
        "counts": cover["counts"].tolist(),
        "samples": samples,
        "seconds": seconds,
        "steps": steps,
        "final_d_loss": trainer.last_logs.get("d_loss", math.nan),
        "final_g_loss": trainer.last_logs.get("g_loss", math.nan),
        "nonfinite_skips": dict(trainer.nonfinite_skips),
    }


def format_table(results: Sequence[dict[str, Any]]) -> str:
    """A Markdown table of :func:`mode_collapse_experiment`'s results: loss, modes covered, high-quality samples
    (percent), training time (s).

    Example row: ``| hinge | 8 / 8 | 71.3 | 4.2 |``.
    """
    if isinstance(results, dict) or not isinstance(results, Sequence) or len(results) == 0:
        raise ValueError("results must be a non-empty list of dicts from mode_collapse_experiment.")
    needed = ("loss", "modes_covered", "n_modes", "high_quality_fraction", "seconds")
    lines = [
        "| loss | modes covered | high-quality samples (%) | time (s) |",
        "|:-----|:-------------:|-------------------------:|---------:|",
    ]
    for row in results:
        if not isinstance(row, dict) or any(k not in row for k in needed):
            raise ValueError(f"each result must be a dict with keys {needed}, got {row!r}.")
        lines.append(
            f"| {row['loss']} | {row['modes_covered']} / {row['n_modes']} | "
            f"{100 * row['high_quality_fraction']:.1f} | {row['seconds']:.1f} |"
        )
    return "\n".join(lines)


def plot_samples_grid(results: Sequence[dict[str, Any]], mixture: GaussianMixture2D | None = None,
                      ncols: int = 4, limit: float = 3.0) -> Any:
    """One scatter plot per variant: its final samples (green) over the true modes (red crosses), titled with the
    loss and its coverage. Returns the matplotlib ``Figure``."""
    import matplotlib.pyplot as plt

    if isinstance(results, dict) or not isinstance(results, Sequence) or len(results) == 0:
        raise ValueError("results must be a non-empty list of dicts from mode_collapse_experiment.")
    if isinstance(ncols, bool) or not isinstance(ncols, int) or ncols <= 0:
        raise ValueError(f"ncols must be a positive int, got {ncols!r}.")
    mixture = ring_of_gaussians() if mixture is None else mixture
    modes = mixture.means.cpu().numpy()
    n = len(results)
    ncols = min(ncols, n)
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.6 * ncols, 2.6 * nrows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    for ax, row in zip(axes.flat, results):
        pts = row["samples"].numpy()
        ax.scatter(pts[:, 0], pts[:, 1], s=2, color="green", alpha=0.4)
        ax.scatter(modes[:, 0], modes[:, 1], s=30, color="red", marker="x")
        ax.set_xlim(-limit, limit)
        ax.set_ylim(-limit, limit)
        ax.set_aspect("equal")
        ax.set_title(f"{row['loss']}: {row['modes_covered']}/{row['n_modes']}, "
                     f"{100 * row['high_quality_fraction']:.0f}% HQ", fontsize=9)
        ax.set_xlabel("$x_1$", fontsize=8)
        ax.set_ylabel("$x_2$", fontsize=8)
        ax.tick_params(labelsize=7)
    fig.suptitle("Final samples (green) and the 8 modes (red) per loss")
    fig.tight_layout()
    return fig
