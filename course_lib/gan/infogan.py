r"""InfoGAN (Chen et al., NeurIPS 2016): a latent code :math:`c` whose mutual information with the sample is kept
high, through a variational lower bound estimated by an auxiliary network :math:`Q(c \mid x)` that shares the
discriminator's body.

For any :math:`Q`, :math:`I(c; G(z, c)) \ge L_I(G, Q) = \mathbb E_{c \sim p(c), x \sim G(z, c)}[\log Q(c \mid x)]
+ H(c)` (Lemma 5.1 of the paper; the chapter's theory page proves it), with equality when :math:`Q` is the true
posterior. The game is :math:`\min_{G, Q} \max_D V(D, G) - \lambda L_I(G, Q)`.

* :func:`categorical_mi_lower_bound`: a categorical code with prior :math:`p` (uniform by default),
  :math:`L_I = \frac1N \sum_n \sum_k c_{nk} \log \mathrm{softmax}(q_n)_k + H(p)`, :math:`H(p) = -\sum_k p_k
  \log p_k` (:math:`\log K` when uniform). The codes must be one-hot rows.
* :func:`gaussian_mi_lower_bound`: continuous codes :math:`c \sim U(a, b)^d`, a factored Gaussian :math:`Q`,
  :math:`L_I = \frac1N \sum_n \sum_j \log \mathcal N(c_{nj}; \mu_{nj}, \sigma_{nj}^2) + d \log (b - a)`.
* :class:`InfoGANGenerator` (``G([z; c_cat; c_cont])``), :class:`InfoGANDiscriminator` (one body, the source
  logit and Q's head), :class:`InfoGANObjective` (the one trainer: Q's loss in both players' losses, since Q's head
  lives in D and its body is shared) and :func:`code_purity` (how well a categorical code matches the labels).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from course_lib.gan.conditional import _float_tensor, _int, _SampleZ
from course_lib.registry import register_model
from course_lib.train.objective import Objective

__all__ = ["check_one_hot", "categorical_mi_lower_bound", "gaussian_mi_lower_bound", "sample_codes",
           "InfoGANGenerator", "InfoGANDiscriminator", "InfoGANObjective", "code_purity", "latent_traversal"]


def check_one_hot(codes: object, k: int | None = None, name: str = "codes") -> Tensor:
    """``codes`` must be a floating ``(N, K)`` tensor whose rows are one-hot (one entry 1, the others 0)."""
    codes = _float_tensor(codes, name, (2,))
    if k is not None and codes.shape[1] != k:
        raise ValueError(f"{name} must have {k} columns, got {codes.shape[1]}.")
    ok = ((codes == 0) | (codes == 1)).all() and bool((codes.sum(dim=1) == 1).all())
    if not ok:
        raise ValueError(f"{name} must be one-hot rows (a single 1 per row, zeros elsewhere); class indices or soft "
                         "probabilities are not codes drawn from a categorical prior.")
    return codes


def categorical_mi_lower_bound(logits: Tensor, codes: Tensor, prior: Tensor | None = None) -> Tensor:
    r"""InfoGAN's lower bound for a categorical code (a 0-d tensor, in nats, to *maximise*):

    .. math:: L_I = \frac1N \sum_{n} \sum_k c_{nk} \log \mathrm{softmax}(q_n)_k \; + \; H(p), \qquad
              H(p) = -\sum_k p_k \log p_k \; (0 \log 0 = 0)

    Args:
        logits: ``(N, K)`` Q's logits :math:`q_n` for the samples generated with the codes.
        codes: ``(N, K)`` one-hot codes :math:`c_n` (a ``ValueError`` otherwise).
        prior: ``(K,)`` the code's prior :math:`p` (non-negative, summing to 1); ``None``: uniform, :math:`H = \log K`.
    """
    logits = _float_tensor(logits, "logits", (2,))
    codes = check_one_hot(codes, logits.shape[1])
    if codes.shape[0] != logits.shape[0]:
        raise ValueError(f"codes has {codes.shape[0]} rows for {logits.shape[0]} logits.")
    k = logits.shape[1]
    if prior is None:
        entropy = torch.tensor(math.log(k), dtype=logits.dtype, device=logits.device)
    else:
        prior = _float_tensor(prior, "prior", (1,))
        if prior.shape[0] != k or bool((prior < 0).any()) or abs(float(prior.sum()) - 1.0) > 1e-5:
            raise ValueError(f"prior must be {k} non-negative probabilities summing to 1.")
        p = prior.to(logits.dtype)
        entropy = -torch.where(p > 0, p * torch.log(p.clamp_min(torch.finfo(p.dtype).tiny)), torch.zeros_like(p)).sum()
    log_q = (codes.to(logits.dtype) * F.log_softmax(logits, dim=1)).sum(dim=1)  # (N,) log Q(c_n | x_n)
    return log_q.mean() + entropy


def gaussian_mi_lower_bound(mean: Tensor, log_std: Tensor, codes: Tensor, low: float = -1.0,
                            high: float = 1.0) -> Tensor:
    r"""The lower bound for continuous codes :math:`c \sim U(a, b)^d` with a factored Gaussian :math:`Q`:

    .. math:: L_I = \frac1N \sum_n \sum_j \Big[-\tfrac12 \log 2\pi - \log\sigma_{nj}
              - \frac{(c_{nj} - \mu_{nj})^2}{2\sigma_{nj}^2}\Big] + d \log(b - a)

    Shapes: ``mean``, ``log_std``, ``codes`` ``(N, d)`` -> 0-d.
    """
    mean, log_std, codes = (_float_tensor(t, n, (2,)) for t, n in ((mean, "mean"), (log_std, "log_std"),
                                                                   (codes, "codes")))
    if not (mean.shape == log_std.shape == codes.shape):
        raise ValueError(f"mean, log_std and codes must have the same shape (N, d), got {tuple(mean.shape)}, "
                         f"{tuple(log_std.shape)}, {tuple(codes.shape)}.")
    if not high > low:
        raise ValueError(f"the prior U(low, high) needs high > low, got ({low}, {high}).")
    log_q = -0.5 * math.log(2 * math.pi) - log_std - (codes - mean) ** 2 / (2 * torch.exp(2 * log_std))
    return log_q.sum(dim=1).mean() + codes.shape[1] * math.log(high - low)


def sample_codes(n: int, n_categories: int, n_continuous: int, generator: torch.Generator | None = None,
                 device: torch.device | str | None = None, dtype: torch.dtype = torch.float32
                 ) -> tuple[Tensor, Tensor, Tensor]:
    """``(labels (n,) int64, one-hot (n, K), continuous (n, d) ~ U(-1, 1))`` drawn from ``generator`` (CPU)."""
    _int(n, "n", 0)
    _int(n_categories, "n_categories")
    _int(n_continuous, "n_continuous", 0)
    labels = torch.randint(n_categories, (n,), generator=generator)
    cont = torch.rand(n, n_continuous, generator=generator, dtype=dtype) * 2 - 1
    dev = device or "cpu"
    return labels.to(dev), F.one_hot(labels, n_categories).to(dtype).to(dev), cont.to(dev)


def _example_latent(model: nn.Module, n: int) -> Tensor:
    return torch.randn(n, model.input_dim, generator=torch.Generator().manual_seed(0))


@register_model("infogan_generator", kind="generator",
                example_kwargs={"z_dim": 6, "n_categories": 3, "n_continuous": 2, "image_size": 8, "base": 8},
                example_input=_example_latent, expected_shape=lambda m, n: (n, m.channels, m.image_size, m.image_size))
class InfoGANGenerator(_SampleZ, nn.Module):
    r"""DCGAN-style generator of :math:`[z; c_{cat}; c_{cont}]` (the input is one vector of ``input_dim`` =
    ``z_dim + K + d`` numbers): ``Linear -> BN -> ReLU -> ConvT 4/2/1 -> BN -> ReLU -> ConvT 4/2/1 -> tanh``.

    :meth:`sample_z` draws the *whole* input (noise then codes), so the plain trainer's sample grids work.
    """

    def __init__(self, z_dim: int = 32, n_categories: int = 10, n_continuous: int = 2, image_size: int = 28,
                 channels: int = 1, base: int = 32) -> None:
        super().__init__()
        self.noise_dim, self.n_categories = _int(z_dim, "z_dim"), _int(n_categories, "n_categories")
        self.n_continuous = _int(n_continuous, "n_continuous", 0)
        _int(image_size, "image_size", 4)
        if image_size % 4:
            raise ValueError(f"image_size must be a multiple of 4, got {image_size}.")
        self.image_size, self.channels, self.base, self.s0 = image_size, _int(channels, "channels"), base, image_size // 4
        self.input_dim = self.z_dim = z_dim + n_categories + self.n_continuous
        self.fc = nn.Sequential(nn.Linear(self.input_dim, 2 * base * self.s0 ** 2, bias=False),
                                nn.BatchNorm1d(2 * base * self.s0 ** 2, eps=1e-5, momentum=0.1), nn.ReLU())
        self.net = nn.Sequential(
            nn.ConvTranspose2d(2 * base, base, 4, 2, 1, bias=False), nn.BatchNorm2d(base, eps=1e-5, momentum=0.1),
            nn.ReLU(), nn.ConvTranspose2d(base, channels, 4, 2, 1), nn.Tanh())

    def sample_z(self, n: int, generator: torch.Generator | None = None,
                 device: torch.device | str | None = None) -> Tensor:
        p = next(self.parameters())
        z = torch.randn(n, self.noise_dim, generator=generator, dtype=p.dtype)
        _, cat, cont = sample_codes(n, self.n_categories, self.n_continuous, generator, dtype=p.dtype)
        return torch.cat([z, cat, cont], 1).to(device if device is not None else p.device)

    def latent(self, z: Tensor, cat: Tensor, cont: Tensor) -> Tensor:
        """``[z; c_cat; c_cont]``: ``(N, noise_dim)``, ``(N, K)`` one-hot, ``(N, d)`` -> ``(N, input_dim)``."""
        return torch.cat([z, check_one_hot(cat, self.n_categories, "cat"), cont], dim=1)

    def forward(self, latent: Tensor) -> Tensor:
        latent = _float_tensor(latent, "latent", (2,))
        if latent.shape[1] != self.input_dim:
            raise ValueError(f"the input must be [z; c_cat; c_cont] of {self.input_dim} numbers, got "
                             f"{tuple(latent.shape)}.")
        h = self.fc(latent).view(latent.shape[0], 2 * self.base, self.s0, self.s0)
        return self.net(h)


def _example_images(model: nn.Module, n: int) -> Tensor:
    return torch.rand(n, model.channels, model.image_size, model.image_size,
                      generator=torch.Generator().manual_seed(0)) * 2 - 1


@register_model("infogan_discriminator", kind="discriminator",
                example_kwargs={"n_categories": 3, "n_continuous": 2, "image_size": 8, "base": 8},
                example_input=_example_images, expected_shape=lambda m, n: (n, 1 + m.n_categories + 2 * m.n_continuous))
class InfoGANDiscriminator(nn.Module):
    r"""D and Q with one body (Chen et al., Appendix C): ``Conv 4/2/1 -> LReLU -> Conv 4/2/1 -> BN -> LReLU ->
    flatten``; a linear source logit, and Q's head ``Linear -> BN -> LReLU -> Linear`` to the categorical logits,
    the continuous means and log standard deviations.

    Shapes: ``(N, C, s, s) -> (N, 1 + K + 2d)``; :meth:`split` gives ``{"src", "cat", "mean", "log_std"}``.
    """

    def __init__(self, n_categories: int = 10, n_continuous: int = 2, image_size: int = 28, channels: int = 1,
                 base: int = 32, q_hidden: int = 64) -> None:
        super().__init__()
        self.n_categories, self.n_continuous = _int(n_categories, "n_categories"), _int(n_continuous, "n_continuous", 0)
        _int(image_size, "image_size", 4)
        if image_size % 4:
            raise ValueError(f"image_size must be a multiple of 4, got {image_size}.")
        self.image_size, self.channels = image_size, _int(channels, "channels")
        width = 2 * base * (image_size // 4) ** 2
        self.body = nn.Sequential(
            nn.Conv2d(channels, base, 4, 2, 1), nn.LeakyReLU(0.1),
            nn.Conv2d(base, 2 * base, 4, 2, 1, bias=False), nn.BatchNorm2d(2 * base, eps=1e-5, momentum=0.1),
            nn.LeakyReLU(0.1), nn.Flatten())
        self.src = nn.Linear(width, 1)
        self.q = nn.Sequential(nn.Linear(width, q_hidden, bias=False), nn.BatchNorm1d(q_hidden, eps=1e-5, momentum=0.1),
                               nn.LeakyReLU(0.1), nn.Linear(q_hidden, n_categories + 2 * self.n_continuous))

    def forward(self, x: Tensor) -> Tensor:
        x = _float_tensor(x, "x", (4,))
        h = self.body(x)
        return torch.cat([self.src(h), self.q(h)], dim=1)

    def split(self, out: Tensor) -> dict[str, Tensor]:
        k, d = self.n_categories, self.n_continuous
        return {"src": out[:, 0], "cat": out[:, 1:1 + k], "mean": out[:, 1 + k:1 + k + d],
                "log_std": out[:, 1 + k + d:].clamp(-5.0, 2.0)}


class InfoGANObjective(Objective):
    r"""InfoGAN on the one trainer (data: images, or ``(x, ...)`` tuples whose first entry is used).

    The trainer draws Gaussian noise of ``G.z_dim`` (= ``input_dim``) numbers; this objective keeps its first
    ``noise_dim`` entries and replaces the rest by codes from its own stream (one-hot categorical, uniform
    continuous). Both players minimise their GAN loss
    (non-saturating cross-entropy) minus :math:`\lambda_{cat} L_I^{cat} + \lambda_{cont} L_I^{cont}` on the fakes
    (Q's head lives in D, the body is shared, so Q learns in D's step and G in its own; the paper uses
    :math:`\lambda = 1` for discrete codes, smaller for continuous ones).
    """

    def __init__(self, n_categories: int = 10, n_continuous: int = 2, lambda_cat: float = 1.0,
                 lambda_cont: float = 0.1, seed: int = 0) -> None:
        self.n_categories, self.n_continuous = _int(n_categories, "n_categories"), _int(n_continuous, "n_continuous", 0)
        self.lambda_cat, self.lambda_cont = float(lambda_cat), float(lambda_cont)
        self.generator = torch.Generator().manual_seed(seed)

    def state_dict(self) -> dict[str, Any]:
        return {"code_rng": self.generator.get_state()}

    def load_state_dict(self, state) -> None:
        self.generator.set_state(state["code_rng"])

    def _latent(self, G: nn.Module, z: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        _, cat, cont = sample_codes(z.shape[0], self.n_categories, self.n_continuous, self.generator, z.device,
                                    z.dtype)
        return torch.cat([z[:, : G.noise_dim], cat, cont], dim=1), cat, cont

    def _info(self, heads: dict[str, Tensor], cat: Tensor, cont: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        l_cat = categorical_mi_lower_bound(heads["cat"], cat)
        l_cont = (gaussian_mi_lower_bound(heads["mean"], heads["log_std"], cont) if self.n_continuous
                  else torch.zeros((), device=cat.device))
        return self.lambda_cat * l_cat + self.lambda_cont * l_cont, l_cat, l_cont

    def d_loss(self, G, D, batch, z):
        x = batch[0] if isinstance(batch, (tuple, list)) else batch
        latent, cat, cont = self._latent(G, z)
        r, f = D.split(D(x)), D.split(D(G(latent)))
        info, l_cat, l_cont = self._info(f, cat, cont)
        adv = F.softplus(-r["src"]).mean() + F.softplus(f["src"]).mean()
        return adv - info, {"mi_cat": l_cat.detach(), "mi_cont": l_cont.detach()}

    def g_loss(self, G, D, batch, z):
        latent, cat, cont = self._latent(G, z)
        f = D.split(D(G(latent)))
        info, _, _ = self._info(f, cat, cont)
        return F.softplus(-f["src"]).mean() - info, {}

    def sample(self, G, z, batch=None):
        if z is None:
            raise ValueError("InfoGANObjective.sample needs noise z.")
        n, k = z.shape[0], self.n_categories
        cat = F.one_hot(torch.arange(n, device=z.device) % k, k).to(z.dtype)
        cont = torch.zeros(n, self.n_continuous, dtype=z.dtype, device=z.device)
        return G(torch.cat([z[:, : G.noise_dim], cat, cont], dim=1))


def latent_traversal(G: InfoGANGenerator, z: Tensor, *, category: bool = False, continuous: int | None = None,
                     values: Tensor | None = None, cat_index: int = 0) -> Tensor:
    r"""Images with one code varied and everything else fixed.

    ``category=True``: ``z`` ``(N, noise_dim)`` rows are each drawn with every category ``0..K-1`` (continuous codes
    0) -> ``(K * N, C, s, s)`` ordered category-major. ``continuous=j``: code ``j`` takes each of ``values``
    (default ``linspace(-2, 2, 7)``, beyond the prior's [-1, 1] as the paper does), category ``cat_index`` ->
    ``(len(values) * N, ...)``.
    """
    z = _float_tensor(z, "z", (2,))
    k, d = G.n_categories, G.n_continuous
    if bool(category) == (continuous is not None):
        raise ValueError("give exactly one of category=True or continuous=<index of a continuous code>.")
    rows = []
    if category:
        for c in range(k):
            cat = F.one_hot(torch.full((z.shape[0],), c, device=z.device), k).to(z.dtype)
            rows.append(torch.cat([z, cat, torch.zeros(z.shape[0], d, dtype=z.dtype, device=z.device)], 1))
    else:
        if not 0 <= continuous < d:
            raise ValueError(f"continuous must index one of the {d} continuous codes, got {continuous}.")
        vals = torch.linspace(-2, 2, 7) if values is None else values
        cat = F.one_hot(torch.full((z.shape[0],), cat_index, device=z.device), k).to(z.dtype)
        for v in vals.tolist():
            cont = torch.zeros(z.shape[0], d, dtype=z.dtype, device=z.device)
            cont[:, continuous] = v
            rows.append(torch.cat([z, cat, cont], 1))
    with torch.no_grad():
        return G(torch.cat(rows))


def code_purity(codes: Tensor, labels: Tensor) -> float:
    r"""Purity of a clustering: :math:`\frac1N \sum_{c} \max_y |\{n : \text{code}_n = c, \text{label}_n = y\}|`,
    the accuracy of the best many-to-one map from codes to labels (1 for a perfect match, about
    :math:`\max_y p(y)` for a code independent of the label). ``codes``, ``labels``: ``(N,)`` integers."""
    if not isinstance(codes, Tensor) or not isinstance(labels, Tensor):
        raise TypeError("codes and labels must be tensors of integers.")
    if codes.is_floating_point() or labels.is_floating_point():
        raise TypeError("codes and labels must be integer tensors (argmax the logits first).")
    if codes.shape != labels.shape or codes.dim() != 1 or codes.numel() == 0:
        raise ValueError(f"codes and labels must be non-empty (N,) tensors, got {tuple(codes.shape)} and "
                         f"{tuple(labels.shape)}.")
    codes, labels = codes.long().cpu(), labels.long().cpu()
    table = torch.zeros(int(codes.max()) + 1, int(labels.max()) + 1, dtype=torch.long)
    table.index_put_((codes, labels), torch.ones_like(codes), accumulate=True)
    return float(table.max(dim=1).values.sum()) / codes.numel()


# ----------------------------------------------------------------------------------------------------------------
# GAN zoo (Appendix A)
# ----------------------------------------------------------------------------------------------------------------
def _infogan_recipe(steps: int, seed: int, device: Any) -> Any:
    from course_lib.gan.conditional import digits8_with_labels, zoo_trainer

    torch.manual_seed(seed)
    x, _ = digits8_with_labels()
    G = InfoGANGenerator(z_dim=16, n_categories=10, n_continuous=2, image_size=8, base=32)
    D = InfoGANDiscriminator(n_categories=10, n_continuous=2, image_size=8, base=32)
    return zoo_trainer(G, D, x, InfoGANObjective(10, 2, seed=seed), steps=steps, seed=seed, device=device,
                       z_dim=G.z_dim)


def _register_zoo() -> None:
    from course_lib.gan.conditional import CHAPTER
    from course_lib.zoo import ZooEntry, register_variant

    name = "course_lib.gan.infogan."
    register_variant(ZooEntry(
        "infogan", "InfoGAN", "A lower bound on the mutual information between a latent code c and the sample "
        "makes the code's dimensions control interpretable factors, without labels.",
        r"\min_{G,Q}\max_D\; V(D, G) - \lambda\, L_I(G, Q),\quad L_I = \mathbb E_{c, x \sim G(z, c)}"
        r"[\log Q(c \mid x)] + H(c)",
        ("chen2016infogan",),
        (name + "categorical_mi_lower_bound", name + "gaussian_mi_lower_bound", name + "InfoGANGenerator",
         name + "InfoGANDiscriminator", name + "InfoGANObjective"),
        CHAPTER, _infogan_recipe))


_register_zoo()
