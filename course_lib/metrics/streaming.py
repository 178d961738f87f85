r"""Gaussian statistics batch by batch: memory :math:`O(D^2)` whatever the number of samples.

:class:`GaussianAccumulator` keeps the count :math:`n`, the mean :math:`\mu` and the scatter matrix
:math:`M = \sum_i (x_i - \mu)(x_i - \mu)^\top` in float64, and merges each new batch :math:`B` (count :math:`n_B`,
mean :math:`\mu_B`, scatter :math:`M_B`) with the parallel update of Chan, Golub and LeVeque (1979):

.. math::
    \delta = \mu_B - \mu, \quad \mu \leftarrow \mu + \delta \frac{n_B}{n + n_B}, \quad
    M \leftarrow M + M_B + \delta\delta^\top \frac{n\, n_B}{n + n_B}, \quad n \leftarrow n + n_B,

which, unlike summing :math:`x x^\top` and subtracting :math:`n \mu\mu^\top` at the end, does not lose digits when
the features have a large mean. :meth:`~GaussianAccumulator.compute` returns :math:`(\mu, M / (n - 1))`, equal to
:func:`course_lib.metrics.gaussian_statistics` on all the rows at once.

:func:`streaming_statistics` feeds an accumulator from any iterable of batches: a Python generator, a list, or a
``torch.utils.data.DataLoader`` (``(x, y)`` batches use ``x``), optionally through a feature function, with a tqdm
bar on long runs. :func:`generated_batches` is such a generator for a GAN generator.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Iterator

import torch
from torch import Tensor

from course_lib.metrics._checks import as_matrix

__all__ = ["GaussianAccumulator", "streaming_statistics", "generated_batches"]

PROGRESS_MIN_BATCHES = 20  # progress="auto" shows a bar from this many batches on (when the length is known)


class GaussianAccumulator:
    """Running float64 mean and covariance of feature batches ``[B, D]`` (see the module docstring)."""

    def __init__(self) -> None:
        self.n = 0
        self.mean: Tensor | None = None  # (D,)
        self.scatter: Tensor | None = None  # (D, D)

    def update(self, features: Any) -> "GaussianAccumulator":
        """Add a batch ``[B, D]`` (``B >= 1``); returns ``self``."""
        x = as_matrix(features, "features")
        if self.mean is not None and x.shape[1] != self.mean.shape[0]:
            raise ValueError(f"this accumulator holds {self.mean.shape[0]}-d features, got a batch of "
                             f"{x.shape[1]}-d ones.")
        n_b = x.shape[0]
        mean_b = x.mean(dim=0)  # (D,)
        centred = x - mean_b
        scatter_b = centred.T @ centred  # (D, D)
        if self.mean is None:
            self.n, self.mean, self.scatter = n_b, mean_b, scatter_b
            return self
        x_dev = self.mean.device
        mean_b, scatter_b = mean_b.to(x_dev), scatter_b.to(x_dev)
        total = self.n + n_b
        delta = mean_b - self.mean
        self.mean = self.mean + delta * (n_b / total)
        self.scatter = self.scatter + scatter_b + torch.outer(delta, delta) * (self.n * n_b / total)
        self.n = total
        return self

    def compute(self) -> tuple[Tensor, Tensor]:
        """``(mu[D], sigma[D, D])`` of everything seen, float64, unbiased covariance; needs ``n >= 2``."""
        if self.mean is None or self.n < 2:
            raise ValueError(f"need at least 2 samples for a covariance, have {self.n}.")
        return self.mean.clone(), self.scatter / (self.n - 1)


def _batch_tensor(batch: Any) -> Tensor:
    if isinstance(batch, (tuple, list)) and batch and isinstance(batch[0], Tensor):
        return batch[0]  # (x, y) from a DataLoader
    if isinstance(batch, Tensor):
        return batch
    raise TypeError(f"each batch must be a tensor or an (x, y) pair, got {type(batch).__name__}.")


def streaming_statistics(batches: Iterable[Any], feature_fn: Callable[[Tensor], Tensor] | None = None, *,
                         max_samples: int | None = None, progress: bool | str = "auto",
                         desc: str = "statistics") -> tuple[Tensor, Tensor]:
    """Gaussian statistics of ``feature_fn(batch)`` (or of the batches themselves) over an iterable of batches.

    Args:
        batches: tensors ``[B, ...]`` or ``(x, y)`` pairs (a generator, a list, a ``DataLoader``).
        feature_fn: maps a batch to features ``[B, D]`` (e.g. ``FeatureExtractor().features``); ``None``: the
            batches already are ``[B, D]`` features.
        max_samples: stop after this many samples (the last batch is cut); ``None``: use everything.
        progress: ``True``/``False``, or ``"auto"``: a tqdm bar when the iterable has a length of at least
            ``PROGRESS_MIN_BATCHES`` batches.

    Returns:
        ``(mu[D], sigma[D, D])``, float64. Memory holds one batch and two ``D``-sized statistics, never the data.
    """
    if max_samples is not None and (isinstance(max_samples, bool) or not isinstance(max_samples, int)
                                    or max_samples < 2):
        raise ValueError(f"max_samples must be an int >= 2 or None, got {max_samples!r}.")
    if progress == "auto":
        try:
            progress = len(batches) >= PROGRESS_MIN_BATCHES  # type: ignore[arg-type]
        except TypeError:
            progress = False
    iterator: Iterable[Any] = batches
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(batches, desc=desc, leave=False)
    acc = GaussianAccumulator()
    with torch.no_grad():
        for batch in iterator:
            x = _batch_tensor(batch)
            if max_samples is not None:
                x = x[: max_samples - acc.n]
                if x.shape[0] == 0:
                    break
            acc.update(feature_fn(x) if feature_fn is not None else x)
            if max_samples is not None and acc.n >= max_samples:
                break
    return acc.compute()


def generated_batches(sample: Callable[[int], Tensor], n: int, batch_size: int = 500) -> Iterator[Tensor]:
    """Yield ``n`` samples of ``sample(b)`` (e.g. ``lambda b: G(torch.randn(b, z_dim))``) in batches of at most
    ``batch_size``, under ``torch.no_grad()``."""
    for name, value in (("n", n), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}.")
    done = 0
    while done < n:
        b = min(batch_size, n - done)
        with torch.no_grad():
            batch = sample(b)
        yield batch  # outside the no_grad block: a paused generator must not leave grad mode off for its caller
        done += b
