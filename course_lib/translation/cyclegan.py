r"""CycleGAN (Zhu et al., 2017): two generators between unpaired domains, each translation undone by the other.

Read top to bottom:

- :class:`ResnetGenerator`: the authors' ``resnet_9blocks`` generator layer for layer (``c7s1-64, d128, d256,
  R256 x 9, u128, u64, c7s1-3`` of the paper's appendix): reflection padding, instance norm, ReLU, a ``tanh`` output.
  With 3 channels, 64 base channels, 9 blocks and instance norm it has 11,378,179 parameters (FACTS.md).
- :func:`pool_query` / :class:`ImagePool`: the image history buffer of Shrivastava et al. (2017) as CycleGAN uses it:
  50 images; while it fills up each new image is stored and returned; once full, each image is, with probability 1/2,
  swapped for a stored one (the stored one is returned, the new one takes its slot), otherwise returned as it is.
- :func:`lsgan_loss`, :func:`cycle_identity_loss` and :class:`CycleGANObjective`: the full objective for the one
  trainer, with ``G = ModuleDict({"ab": G_AB, "ba": G_BA})`` and ``D = ModuleDict({"a": D_A, "b": D_B})``
  (``D_B`` judges domain B, so it sees ``G_AB``'s outputs):

  .. math::
     \mathcal L_G = \lVert D_B(G_{AB}(a)) - 1\rVert^2 + \lVert D_A(G_{BA}(b)) - 1\rVert^2
       + \lambda\,(\lVert G_{BA}(G_{AB}(a)) - a\rVert_1 + \lVert G_{AB}(G_{BA}(b)) - b\rVert_1)
       + \lambda_{id}\lambda\,(\lVert G_{AB}(b) - b\rVert_1 + \lVert G_{BA}(a) - a\rVert_1)

  with :math:`\lambda = 10`, :math:`\lambda_{id} = 0.5`, and each discriminator's least-squares loss halved,
  :math:`\tfrac12(\lVert D_B(b) - 1\rVert^2 + \lVert D_B(\mathrm{pool}(G_{AB}(a)))\rVert^2)`.
- :func:`linear_decay_factor` / :class:`LinearDecay`: the learning rate constant for the first phase (100 epochs in
  the paper), then decayed linearly towards zero (the next 100).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from course_lib.registry import register_model
from course_lib.train.callbacks import Callback
from course_lib.train.objective import Objective

__all__ = [
    "ResnetBlock",
    "ResnetGenerator",
    "pool_query",
    "ImagePool",
    "lsgan_loss",
    "cycle_identity_loss",
    "CycleGANConfig",
    "CycleGANObjective",
    "linear_decay_factor",
    "LinearDecay",
    "translate",
]


def _norm_layer(norm: str, channels: int) -> nn.Module:
    if norm == "instance":
        # the reference's InstanceNorm2d(affine=False, track_running_stats=False): no parameters
        return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)
    if norm == "batch":
        return nn.BatchNorm2d(channels, affine=True, track_running_stats=True)
    if norm == "none":
        return nn.Identity()
    raise ValueError(f"norm must be 'instance', 'batch' or 'none', got {norm!r}.")


def _check_int(value: Any, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}.")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}.")
    return value


def _check_images(x: Any, name: str, channels: int | None = None) -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a Tensor (N, C, H, W), got {type(x).__name__}.")
    if x.dim() != 4:
        raise ValueError(f"{name} must be (N, C, H, W), got shape {tuple(x.shape)}.")
    if channels is not None and x.shape[1] != channels:
        raise ValueError(f"{name} must have {channels} channels, got {x.shape[1]}.")
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a floating tensor, got {x.dtype}.")
    return x


class ResnetBlock(nn.Module):
    r"""One residual block of the ResNet generator: :math:`y = x + \mathrm{IN}(\mathrm{conv}(\mathrm{pad}(
    \mathrm{ReLU}(\mathrm{IN}(\mathrm{conv}(\mathrm{pad}(x)))))))` with 3x3 convolutions and reflection padding 1
    (the reference's ``ResnetBlock``; no ReLU after the addition). Shape preserved: ``(N, C, H, W)``."""

    def __init__(self, channels: int, norm: str = "instance", dropout: bool = False) -> None:
        super().__init__()
        bias = norm != "batch"  # a conv followed by batch norm needs no bias (the norm's shift replaces it)
        layers: list[nn.Module] = [nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3, bias=bias),
                                   _norm_layer(norm, channels), nn.ReLU(True)]
        if dropout:
            layers.append(nn.Dropout(0.5))
        layers += [nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3, bias=bias), _norm_layer(norm, channels)]
        self.block = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.block(x)


def _example_images(model: nn.Module, n: int) -> Tensor:
    return torch.rand(n, model.in_channels, 16, 16) * 2 - 1


@register_model(
    "resnet_generator",
    kind="translator",
    example_kwargs={"in_channels": 3, "out_channels": 3, "base_channels": 8, "n_blocks": 2},
    example_input=_example_images,
    expected_shape=lambda model, n: (n, model.out_channels, 16, 16),
)
class ResnetGenerator(nn.Module):
    r"""CycleGAN's ResNet generator, layer for layer the authors' ``ResnetGenerator`` (Johnson et al.'s
    architecture; Zhu et al. 2017, appendix 7.2):

    ``ReflectionPad(3) -> Conv7x7(C_in -> F) -> norm -> ReLU``, two stride-2 ``Conv3x3 -> norm -> ReLU`` (F -> 2F ->
    4F), ``n_blocks`` :class:`ResnetBlock` at 4F channels, two ``ConvTranspose3x3(stride 2, padding 1,
    output_padding 1) -> norm -> ReLU`` (4F -> 2F -> F), ``ReflectionPad(3) -> Conv7x7(F -> C_out) -> tanh``.

    ``(N, C_in, H, W) -> (N, C_out, H, W)`` in [-1, 1], H and W multiples of 4. Convolutions carry a bias except
    before batch norm (the reference drops the bias whenever the norm is not instance norm; here ``norm="none"``
    keeps it). ``n_blocks = 9`` for 256x256 images, 6 for 128x128 (the paper).
    """

    def __init__(self, in_channels: int = 3, out_channels: int = 3, base_channels: int = 64, n_blocks: int = 9,
                 norm: str = "instance", dropout: bool = False) -> None:
        super().__init__()
        _check_int(in_channels, "in_channels", 1)
        _check_int(out_channels, "out_channels", 1)
        _check_int(base_channels, "base_channels", 1)
        _check_int(n_blocks, "n_blocks", 0)
        _norm_layer(norm, 1)  # validates the name
        self.in_channels, self.out_channels = in_channels, out_channels
        self.base_channels, self.n_blocks, self.norm = base_channels, n_blocks, norm
        bias = norm != "batch"
        f = base_channels
        layers: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(in_channels, f, 7, bias=bias),
                                   _norm_layer(norm, f), nn.ReLU(True)]
        for mult in (1, 2):  # downsampling: F -> 2F -> 4F, H -> H/2 -> H/4
            layers += [nn.Conv2d(f * mult, f * mult * 2, 3, stride=2, padding=1, bias=bias),
                       _norm_layer(norm, f * mult * 2), nn.ReLU(True)]
        layers += [ResnetBlock(4 * f, norm, dropout) for _ in range(n_blocks)]  # (N, 4F, H/4, W/4)
        for mult in (4, 2):  # upsampling: 4F -> 2F -> F
            layers += [nn.ConvTranspose2d(f * mult, f * mult // 2, 3, stride=2, padding=1, output_padding=1,
                                          bias=bias),
                       _norm_layer(norm, f * mult // 2), nn.ReLU(True)]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(f, out_channels, 7), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        _check_images(x, "x", self.in_channels)
        if x.shape[-1] % 4 or x.shape[-2] % 4:
            raise ValueError(f"ResnetGenerator needs H and W divisible by 4, got {tuple(x.shape[-2:])}.")
        return self.model(x)


# ----------------------------------------------------------------------------------------------------------------------
# The image history buffer
# ----------------------------------------------------------------------------------------------------------------------
def pool_query(pool: list[Tensor], images: Tensor, size: int, coins: Tensor, slots: Tensor) -> Tensor:
    r"""One query of the image history buffer, with the random draws given (the reference's ``ImagePool.query``).

    For each image ``images[i]`` in order:

    - ``size == 0``: the buffer is off; the images are returned unchanged;
    - the buffer holds fewer than ``size`` images: store (a detached copy of) ``images[i]`` and return it;
    - the buffer is full: if ``coins[i] > 0.5`` return the stored image ``pool[slots[i]]`` and put ``images[i]`` in
      its slot; otherwise return ``images[i]`` and leave the buffer as it is.

    Args:
        pool: the stored images, each ``(C, H, W)``; modified in place.
        images: ``(N, C, H, W)``, the discriminator's new fakes.
        size: the buffer's capacity (50 in CycleGAN).
        coins: ``(N,)`` floats in [0, 1), one draw per image.
        slots: ``(N,)`` int64 in ``[0, size)``, the slot to swap with when the coin says so.

    Returns:
        ``(N, C, H, W)``, detached: what the discriminator sees as fakes.
    """
    if not isinstance(pool, list):
        raise TypeError(f"pool must be a list of tensors, got {type(pool).__name__}.")
    _check_int(size, "size", 0)
    if not isinstance(images, Tensor) or images.dim() < 1:
        raise TypeError("images must be a Tensor (N, ...).")
    if size == 0:
        return images
    n = images.shape[0]
    if not isinstance(coins, Tensor) or coins.shape != (n,):
        raise ValueError(f"coins must be a Tensor of shape ({n},), got {getattr(coins, 'shape', type(coins))}.")
    if not isinstance(slots, Tensor) or slots.shape != (n,) or slots.dtype != torch.int64:
        raise ValueError(f"slots must be an int64 Tensor of shape ({n},).")
    if len(pool) > size:
        raise ValueError(f"the pool holds {len(pool)} images, more than its size {size}.")
    out = []
    for i, image in enumerate(images.detach()):
        if len(pool) < size:  # filling up: store it and show it
            pool.append(image.clone())
            out.append(image)
        elif float(coins[i]) > 0.5:  # full, heads: show an old fake, keep the new one in its place
            k = int(slots[i])
            if not 0 <= k < size:
                raise ValueError(f"slots[{i}] = {k} is outside [0, {size}).")
            out.append(pool[k].clone())
            pool[k] = image.clone()
        else:  # full, tails: show the new fake
            out.append(image)
    return torch.stack(out)


class ImagePool:
    """CycleGAN's image history buffer (Shrivastava et al. 2017; Zhu et al. 2017, Sec. 4): the discriminator is
    updated with a mix of the newest fakes and fakes from earlier generators, so that it does not chase the
    generator's latest move alone.

    ``ImagePool(size=50).query(images)``: see :func:`pool_query`; the coins and slots are drawn from the pool's own
    ``torch.Generator`` (``seed``), so a run is reproducible and the pool's state can be checkpointed.
    """

    def __init__(self, size: int = 50, seed: int = 0) -> None:
        self.size = _check_int(size, "size", 0)
        self.images: list[Tensor] = []
        self.rng = torch.Generator().manual_seed(int(seed))

    def __len__(self) -> int:
        return len(self.images)

    def query(self, images: Tensor) -> Tensor:
        """``(N, C, H, W) -> (N, C, H, W)``: the images the discriminator should see (detached, same device)."""
        if not isinstance(images, Tensor) or images.dim() < 1:
            raise TypeError(f"images must be a Tensor (N, ...), got {type(images).__name__}.")
        if self.size == 0:
            return images
        n = images.shape[0]
        coins = torch.rand(n, generator=self.rng)
        slots = torch.randint(0, self.size, (n,), generator=self.rng)
        return pool_query(self.images, images, self.size, coins, slots)

    def state_dict(self) -> dict[str, Any]:
        return {"size": self.size, "images": [im.cpu() for im in self.images], "rng": self.rng.get_state()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        if state["size"] != self.size:
            raise ValueError(f"the saved pool has size {state['size']}, this one {self.size}.")
        self.images = [im.clone() for im in state["images"]]
        self.rng.set_state(state["rng"])


# ----------------------------------------------------------------------------------------------------------------------
# Losses
# ----------------------------------------------------------------------------------------------------------------------
def lsgan_loss(logits: Tensor, target_is_real: bool) -> Tensor:
    r"""The least-squares GAN loss of Mao et al. (2017) as CycleGAN uses it: :math:`\operatorname{mean}(D(x) - 1)^2`
    for real targets, :math:`\operatorname{mean} D(x)^2` for fake ones (``a = 0, b = c = 1``), over every patch."""
    if not isinstance(logits, Tensor) or not logits.is_floating_point():
        raise TypeError("logits must be a floating Tensor.")
    target = 1.0 if target_is_real else 0.0
    return (logits - target).square().mean()


def cycle_identity_loss(G_ab: Any, G_ba: Any, real_a: Tensor, real_b: Tensor, lambda_cyc: float = 10.0,
                        lambda_id: float = 0.5) -> tuple[Tensor, Tensor]:
    r"""CycleGAN's cycle-consistency and identity terms (Zhu et al. 2017, Eqs. 2 and Sec. 5.2).

    ``G_ab`` maps domain A to B, ``G_ba`` B to A.

    .. math::
       \mathcal L_{cyc} = \lambda\,(\operatorname{mean}|G_{BA}(G_{AB}(a)) - a| + \operatorname{mean}|G_{AB}(G_{BA}(b))
       - b|),\qquad
       \mathcal L_{id} = \lambda_{id}\lambda\,(\operatorname{mean}|G_{AB}(b) - b| + \operatorname{mean}|G_{BA}(a) - a|)

    The identity term feeds each generator an image of its *target* domain, which it should leave alone.

    Returns:
        ``(loss_cycle, loss_identity)``, two scalar tensors.
    """
    _check_images(real_a, "real_a")
    _check_images(real_b, "real_b")
    cycle = (G_ba(G_ab(real_a)) - real_a).abs().mean() + (G_ab(G_ba(real_b)) - real_b).abs().mean()
    identity = (G_ab(real_b) - real_b).abs().mean() + (G_ba(real_a) - real_a).abs().mean()
    return lambda_cyc * cycle, lambda_id * lambda_cyc * identity


# ----------------------------------------------------------------------------------------------------------------------
# The objective for the one trainer
# ----------------------------------------------------------------------------------------------------------------------
class CycleGANConfig:
    """CycleGAN's loss weights and buffer (paper defaults, Zhu et al. 2017, Sec. 4 and 5.2).

    Attributes:
        lambda_cyc: 10, the weight of the cycle-consistency terms.
        lambda_id: 0.5, the identity term's weight relative to ``lambda_cyc`` (0 turns it off).
        pool_size: 50 images per discriminator (0: no buffer).
    """

    def __init__(self, lambda_cyc: float = 10.0, lambda_id: float = 0.5, pool_size: int = 50) -> None:
        for name, value in (("lambda_cyc", lambda_cyc), ("lambda_id", lambda_id)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
                raise ValueError(f"{name} must be a number >= 0, got {value!r}.")
        self.lambda_cyc, self.lambda_id = float(lambda_cyc), float(lambda_id)
        self.pool_size = _check_int(pool_size, "pool_size", 0)

    def __repr__(self) -> str:
        return f"CycleGANConfig(lambda_cyc={self.lambda_cyc}, lambda_id={self.lambda_id}, pool_size={self.pool_size})"


def _pair(batch: Any) -> tuple[Tensor, Tensor]:
    if not isinstance(batch, (tuple, list)) or len(batch) != 2:
        raise TypeError("an unpaired minibatch must be a tuple (a, b) of image tensors.")
    return _check_images(batch[0], "a"), _check_images(batch[1], "b")


def _check_pairs(G: nn.Module, D: nn.Module, g_keys: tuple[str, str] = ("ab", "ba"),
                 d_keys: tuple[str, str] = ("a", "b")) -> None:
    for module, keys, side in ((G, g_keys, "G"), (D, d_keys, "D")):
        if not isinstance(module, nn.ModuleDict) or set(keys) - set(module.keys()):
            raise TypeError(f"{side} must be an nn.ModuleDict with keys {keys}, got {type(module).__name__}.")


class CycleGANObjective(Objective):
    r"""CycleGAN's losses for :class:`~course_lib.train.AdversarialTrainer`.

    ``G = nn.ModuleDict({"ab": G_AB, "ba": G_BA})``, ``D = nn.ModuleDict({"a": D_A, "b": D_B})`` (``D_A`` judges
    domain A, so it sees ``G_BA``'s outputs), data ``(a, b)``: two unpaired minibatches. No noise is drawn.

    - :meth:`d_loss`: :math:`\tfrac12[(D_B(b) - 1)^2 + D_B(\mathrm{pool}_B(G_{AB}(a)))^2] + \tfrac12[(D_A(a) - 1)^2 +
      D_A(\mathrm{pool}_A(G_{BA}(b)))^2]`, means over patches;
    - :meth:`g_loss`: :math:`(D_B(G_{AB}(a)) - 1)^2 + (D_A(G_{BA}(b)) - 1)^2 + \mathcal L_{cyc} + \mathcal L_{id}`
      (:func:`cycle_identity_loss`).

    The fakes for the discriminators are computed in :meth:`d_loss` (the trainer has frozen ``G`` there) and pass
    through the two :class:`ImagePool` buffers; :meth:`sample` translates ``a`` (or the fixed images given at
    construction) to B.
    """

    needs_noise = False

    def __init__(self, config: CycleGANConfig | None = None, seed: int = 0,
                 sample_images: Tensor | None = None) -> None:
        self.config = config or CycleGANConfig()
        self.pool_a = ImagePool(self.config.pool_size, seed=seed)
        self.pool_b = ImagePool(self.config.pool_size, seed=seed + 1)
        self.sample_images = sample_images

    def d_loss(self, G: nn.Module, D: nn.Module, batch: Any, z: Tensor | None) -> tuple[Tensor, dict[str, Any]]:
        _check_pairs(G, D)
        a, b = _pair(batch)
        with torch.no_grad():
            fake_b, fake_a = G["ab"](a), G["ba"](b)
        fake_b, fake_a = self.pool_b.query(fake_b), self.pool_a.query(fake_a)
        real_b_out, real_a_out = D["b"](b), D["a"](a)
        loss_b = 0.5 * (lsgan_loss(real_b_out, True) + lsgan_loss(D["b"](fake_b), False))
        loss_a = 0.5 * (lsgan_loss(real_a_out, True) + lsgan_loss(D["a"](fake_a), False))
        return loss_a + loss_b, {"d_a": loss_a.detach(), "d_b": loss_b.detach()}

    def g_loss(self, G: nn.Module, D: nn.Module, batch: Any, z: Tensor | None) -> tuple[Tensor, dict[str, Any]]:
        _check_pairs(G, D)
        a, b = _pair(batch)
        fake_b, fake_a = G["ab"](a), G["ba"](b)
        adv = lsgan_loss(D["b"](fake_b), True) + lsgan_loss(D["a"](fake_a), True)
        cyc = self.config.lambda_cyc * ((G["ba"](fake_b) - a).abs().mean() + (G["ab"](fake_a) - b).abs().mean())
        if self.config.lambda_id > 0:
            idt = self.config.lambda_id * self.config.lambda_cyc * (
                (G["ab"](b) - b).abs().mean() + (G["ba"](a) - a).abs().mean())
        else:
            idt = torch.zeros((), device=a.device, dtype=a.dtype)
        return adv + cyc + idt, {"g_adv": adv.detach(), "cycle": cyc.detach(), "identity": idt.detach()}

    def sample(self, G: nn.Module, z: Tensor | None, batch: Any = None) -> Tensor:
        if batch is not None:
            a = batch[0] if isinstance(batch, (tuple, list)) else batch
        elif self.sample_images is not None:
            a = self.sample_images
        else:
            raise ValueError("CycleGANObjective.sample needs images of domain A: pass batch=(a, b) or a, or give "
                             "sample_images when building the objective.")
        device = next(G.parameters()).device
        return G["ab"](a.to(device))

    def state_dict(self) -> dict[str, Any]:
        return {"pool_a": self.pool_a.state_dict(), "pool_b": self.pool_b.state_dict()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.pool_a.load_state_dict(state["pool_a"])
        self.pool_b.load_state_dict(state["pool_b"])

    def describe(self) -> str:
        return f"CycleGANObjective({self.config!r})"


# ----------------------------------------------------------------------------------------------------------------------
# The learning-rate schedule
# ----------------------------------------------------------------------------------------------------------------------
def linear_decay_factor(step: int, constant_steps: int, decay_steps: int) -> float:
    r"""The multiplier of the initial learning rate at ``step`` (the reference's ``lambda_rule``):
    :math:`1 - \max(0, t - T_c) / (T_d + 1)`: 1 for the first ``constant_steps``, then down by
    :math:`1 / (T_d + 1)` per step (per epoch in the paper: 100 constant, 100 decaying)."""
    for name, value in (("step", step), ("constant_steps", constant_steps), ("decay_steps", decay_steps)):
        _check_int(value, name, 0)
    return max(0.0, 1.0 - max(0, step - constant_steps) / float(decay_steps + 1))


class LinearDecay(Callback):
    """Sets both optimizers' learning rates to ``lr_0 * linear_decay_factor(step, constant_steps, decay_steps)``
    after every step (the factor of the *next* update; the trainer's step counter is the number of updates done)."""

    def __init__(self, constant_steps: int, decay_steps: int) -> None:
        self.constant_steps = _check_int(constant_steps, "constant_steps", 0)
        self.decay_steps = _check_int(decay_steps, "decay_steps", 0)
        self._base: list[list[float]] | None = None

    def on_fit_start(self, trainer: Any) -> None:
        if self._base is None:
            self._base = [[g.get("initial_lr", g["lr"]) for g in opt.param_groups]
                          for opt in (trainer.opt_g, trainer.opt_d)]
            for opt, base in zip((trainer.opt_g, trainer.opt_d), self._base):
                for g, lr in zip(opt.param_groups, base):
                    g["initial_lr"] = lr
        self._apply(trainer, trainer.step)

    def on_step_end(self, trainer: Any, step: int, logs: Mapping[str, float]) -> None:
        self._apply(trainer, trainer.step)

    def _apply(self, trainer: Any, step: int) -> None:
        factor = linear_decay_factor(int(step), self.constant_steps, self.decay_steps)
        for opt in (trainer.opt_g, trainer.opt_d):
            for g in opt.param_groups:
                g["lr"] = g["initial_lr"] * factor


@torch.no_grad()
def translate(G: nn.Module, images: Tensor, batch_size: int = 64) -> Tensor:
    """``G(images)`` in eval mode, in minibatches, without gradients (``(N, C, H, W) -> (N, C', H, W)``)."""
    _check_images(images, "images")
    was = G.training
    G.eval()
    try:
        device = next(G.parameters()).device
        return torch.cat([G(images[i:i + batch_size].to(device)) for i in range(0, images.shape[0], batch_size)])
    finally:
        G.train(was)


# ----------------------------------------------------------------------------------------------------------------------
# Appendix A: the zoo entry and a fast recipe (shared by the unpaired family)
# ----------------------------------------------------------------------------------------------------------------------
def _zoo_trainer(G: nn.Module, D: nn.Module, objective: Objective, data: Any, steps: int, seed: int, device: Any,
                 *, z_dim: int = 1, batch_size: int = 4, lr: float = 1e-3, **config: Any) -> Any:
    """The one trainer on a tiny translation recipe (used by this chapter's zoo entries)."""
    from course_lib.train import AdversarialTrainer, TrainerConfig

    cfg = TrainerConfig(steps=steps, batch_size=batch_size, z_dim=z_dim, seed=seed, lr_g=lr, lr_d=lr,
                        log_every=max(1, steps // 20), sample_every=0, n_samples=16, progress=False, amp="off",
                        **config)
    return AdversarialTrainer(G, D, data, cfg, objective=objective, device=device)


class _ZooRecipe:
    """A callable ``(steps, seed, device) -> AdversarialTrainer`` with the ``steps`` Appendix A runs and a
    ``describe()`` line for the card (this chapter's recipes are built by objectives, not a :class:`FastRecipe`)."""

    def __init__(self, fn: Any, steps: int, description: str) -> None:
        self.fn, self.steps, self.description = fn, steps, description
        self.__qualname__ = self.__name__ = getattr(fn, "__name__", "recipe")

    def describe(self) -> str:
        return f"{self.description}, {self.steps} steps"

    def __call__(self, steps: int, seed: int, device: Any) -> Any:
        return self.fn(steps, seed, device)


def _zoo_unpaired(size: int = 16) -> tuple[Any, Tensor]:
    from course_lib.data.unpaired import heldout_unpaired, unpaired_sampler

    return unpaired_sampler(size, "night", scale=0.125), heldout_unpaired(16, size, "night", scale=0.125)[0]


def _zoo_recipe(steps: int, seed: int, device: Any) -> Any:
    from course_lib.translation.pix2pix import PatchDiscriminator

    sampler, shown = _zoo_unpaired()
    G = nn.ModuleDict({k: ResnetGenerator(3, 3, 4, 1) for k in ("ab", "ba")})
    D = nn.ModuleDict({k: PatchDiscriminator(3, 8, n_layers=1, norm="instance") for k in ("a", "b")})
    objective = CycleGANObjective(CycleGANConfig(pool_size=50), seed=seed, sample_images=shown)
    return _zoo_trainer(G, D, objective, sampler, steps, seed, device)


def _register_zoo() -> None:
    from course_lib.zoo import ZooEntry, register_variant

    register_variant(ZooEntry(
        "cyclegan", "CycleGAN",
        "Two generators between unpaired domains, each translation undone by the other: the cycle-consistency loss "
        "replaces the missing pairs; LSGAN losses, an identity term and a buffer of 50 past fakes.",
        r"\begin{aligned} \mathcal L &= \mathcal L_{GAN}(G, D_Y) + \mathcal L_{GAN}(F, D_X) \\ &\quad + \lambda\,"
        r"(\mathbb E\lVert F(G(x)) - x\rVert_1 + \mathbb E\lVert G(F(y)) - y\rVert_1) + 0.5\lambda\,\mathcal L_{id},"
        r"\quad\lambda = 10 \end{aligned}",
        ("zhu2017cyclegan",),
        ("course_lib.translation.cyclegan.ResnetGenerator", "course_lib.translation.cyclegan.ImagePool",
         "course_lib.translation.cyclegan.CycleGANObjective", "course_lib.translation.cyclegan.LinearDecay"),
        "chapters/11_unpaired_translation/theory",
        _ZooRecipe(_zoo_recipe, 100, "objective `CycleGANObjective` (LSGAN, cycle 10, identity 5, buffer 50), "
                   "photo -> night 16x16 crops, ResnetGenerator width 4 with 1 block, PatchGAN n_layers 1, batch 4"),
    ))


_register_zoo()
