r"""FID is biased in the sample size; Chong and Forsyth's (2020) extrapolation :math:`\overline{\mathrm{FID}}_\infty`.

The plug-in estimate :math:`\widehat{\mathrm{FID}}_N` (statistics of :math:`N` samples from each side) is biased
upwards: even two samples of the *same* distribution give a positive value, which shrinks roughly like
:math:`1/N`. The bias depends on the generator too, so comparing models at a fixed :math:`N` can reorder them.
Chong and Forsyth fit :math:`\widehat{\mathrm{FID}}_N \approx \mathrm{FID}_\infty + k / N` over several
:math:`N` and report the intercept, an estimate of the infinite-sample value.

:func:`fid_vs_n` measures the curve on features (random subsets, several repeats, one seeded generator);
:func:`fid_infinity` fits the line in :math:`1/N`; :func:`plot_fid_vs_n` draws both.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch

from course_lib.metrics._checks import as_matrix
from course_lib.metrics.frechet import fid_from_features

__all__ = ["fid_vs_n", "fid_infinity", "plot_fid_vs_n"]


def fid_vs_n(features_a: Any, features_b: Any, ns: Sequence[int], repeats: int = 3,
             seed: int = 0) -> dict[str, list[float]]:
    """FID between random subsets of ``n`` rows of each feature set, for each ``n`` in ``ns``.

    Returns ``{"n": [...], "mean": [...], "std": [...]}`` (population std over ``repeats`` draws without
    replacement, from a ``torch.Generator`` seeded with ``seed``)."""
    a = as_matrix(features_a, "features_a", min_rows=2)
    b = as_matrix(features_b, "features_b", min_rows=2)
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"repeats must be a positive int, got {repeats!r}.")
    ns = list(ns)
    if not ns or not all(isinstance(n, int) and not isinstance(n, bool) and 2 <= n <= min(len(a), len(b))
                         for n in ns):
        raise ValueError(f"ns must be ints in [2, {min(len(a), len(b))}] (the smaller set's size), got {ns!r}.")
    g = torch.Generator().manual_seed(int(seed))
    out: dict[str, list[float]] = {"n": [], "mean": [], "std": []}
    for n in ns:
        values = torch.tensor([
            fid_from_features(a[torch.randperm(len(a), generator=g)[:n]], b[torch.randperm(len(b), generator=g)[:n]])
            for _ in range(repeats)
        ], dtype=torch.float64)
        out["n"].append(n)
        out["mean"].append(float(values.mean()))
        out["std"].append(float(values.std(unbiased=False)))
    return out


def fid_infinity(ns: Sequence[int], fids: Sequence[float]) -> tuple[float, float]:
    r"""Least-squares fit :math:`\mathrm{FID}_N = \mathrm{FID}_\infty + k / N`; returns ``(FID_inf, k)``."""
    if len(ns) != len(fids) or len(ns) < 2:
        raise ValueError("need at least two (N, FID) pairs of equal length.")
    x = 1.0 / torch.tensor([float(n) for n in ns], dtype=torch.float64)  # (P,)
    y = torch.tensor([float(f) for f in fids], dtype=torch.float64)
    design = torch.stack([torch.ones_like(x), x], dim=1)  # (P, 2): [1, 1/N]
    coef = torch.linalg.lstsq(design, y.unsqueeze(1)).solution.squeeze(1)
    return float(coef[0]), float(coef[1])


def plot_fid_vs_n(curves: dict[str, dict[str, list[float]]], title: str = "FID depends on the sample size") -> Any:
    """One line per named curve of :func:`fid_vs_n` (mean ± std) against :math:`1/N`, with its fitted line and
    :math:`\\mathrm{FID}_\\infty` (at :math:`1/N = 0`). Returns the matplotlib ``Figure``."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.2, 3.8))
    for name, c in curves.items():
        inv = [1.0 / n for n in c["n"]]
        line = ax.errorbar(inv, c["mean"], yerr=c["std"], marker="o", ms=4, capsize=2, ls="none")
        f_inf, k = fid_infinity(c["n"], c["mean"])
        xs = [0.0, max(inv)]
        ax.plot(xs, [f_inf + k * v for v in xs], ls="--", color=line[0].get_color(),
                label=f"{name}: FID$_\\infty$ = {f_inf:.2f}")
    ax.set(xlabel="1 / N (N samples per side)", ylabel="FID (course features)", title=title)
    ax.set_xlim(left=0)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
