r"""The Inception Score (Salimans et al. 2016).

For class probabilities :math:`p(y \mid x)` of generated samples, with the marginal :math:`p(y) = \mathbb E_x
p(y \mid x)`,

.. math::
    \mathrm{IS} = \exp\Big(\mathbb E_x\, \mathrm{KL}\big(p(y \mid x) \,\Vert\, p(y)\big)\Big) \in [1, K].

It is high (up to :math:`K`) when each sample is classified confidently *and* the classes are used evenly, 1 when
every sample gets the same prediction. Higher is better. As in the paper's code, the samples are cut into
``splits`` groups (``torch.tensor_split`` order: consecutive rows), the score is computed in each group with that
group's own marginal, and the mean and the (population) standard deviation over the groups are reported.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from course_lib.metrics._checks import as_matrix

__all__ = ["inception_score", "check_probabilities"]

SUM_ATOL = 1e-3  # |sum_y p(y|x) - 1| allowed (softmax in float16/float32 sums to 1 within ~1e-3)


def check_probabilities(probs: Any, name: str = "probs") -> Tensor:
    """``probs`` as float64 ``[N, K]`` rows of probabilities; ``ValueError`` if entries leave [0, 1] or a row's sum
    is not 1 (within ``SUM_ATOL``) - typically logits passed instead of ``softmax(logits)``."""
    p = as_matrix(probs, name)
    if p.shape[1] < 2:
        raise ValueError(f"{name} needs at least 2 classes (columns), got {p.shape[1]}.")
    if bool((p < 0).any()) or bool((p > 1 + SUM_ATOL).any()):
        raise ValueError(f"{name} has entries outside [0, 1]: pass probabilities (softmax of the logits), not logits.")
    worst = float((p.sum(dim=1) - 1).abs().max())
    if worst > SUM_ATOL:
        raise ValueError(f"the rows of {name} must sum to 1 (one distribution p(y|x) per sample); the worst row is "
                         f"off by {worst:.3g}. Did you forget the softmax?")
    return p


def inception_score(probs: Any, splits: int = 10) -> tuple[float, float]:
    r"""Inception Score of ``probs`` (``Tensor[N, K]``, row ``i`` is :math:`p(y \mid x_i)`), as ``(mean, std)``.

    Per split :math:`S` (``torch.tensor_split(probs, splits)``):

    .. math::
        p_S(y) = \frac{1}{|S|} \sum_{i \in S} p(y \mid x_i), \qquad
        \mathrm{IS}_S = \exp\Big(\frac{1}{|S|} \sum_{i \in S} \sum_y p(y \mid x_i)
        \big(\log p(y \mid x_i) - \log p_S(y)\big)\Big)

    with :math:`0 \log 0 = 0`. Returns the mean of the :math:`\mathrm{IS}_S` and their population standard
    deviation (``unbiased=False``), as Python floats. Needs ``1 <= splits <= N``.
    """
    if isinstance(splits, bool) or not isinstance(splits, int) or splits < 1:
        raise ValueError(f"splits must be a positive int, got {splits!r}.")
    p = check_probabilities(probs)
    if splits > p.shape[0]:
        raise ValueError(f"splits ({splits}) cannot exceed the number of samples ({p.shape[0]}).")
    scores = []
    for part in torch.tensor_split(p, splits, dim=0):  # consecutive rows, sizes differ by at most 1
        marginal = part.mean(dim=0, keepdim=True)  # (1, K): p_S(y)
        # KL(p(y|x) || p_S(y)) per row; xlogy gives 0 log 0 = 0, and p > 0 implies p_S > 0
        kl = (torch.xlogy(part, part) - torch.xlogy(part, marginal)).sum(dim=1)  # (|S|,)
        scores.append(torch.exp(kl.mean()))
    s = torch.stack(scores)
    return float(s.mean()), float(s.std(unbiased=False)) if splits > 1 else 0.0
