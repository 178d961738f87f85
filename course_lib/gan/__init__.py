"""GANs: the theory in closed form (:mod:`.theory`), the losses on logits (:mod:`.losses`) and the MLP models
(:mod:`.models`, registered with :mod:`course_lib.registry`)."""

from course_lib.gan.losses import (
    GANLoss,
    d_loss_minimax,
    g_loss_non_saturating,
    g_loss_saturating,
    generator_gradient_wrt_logit,
    get_gan_loss,
    list_gan_losses,
    register_gan_loss,
)
from course_lib.gan.models import MLPDiscriminator, MLPGenerator, init_weights_normal
from course_lib.gan.theory import (
    gan_value,
    js_divergence,
    kl_divergence,
    optimal_discriminator,
    reverse_kl,
    total_variation,
    virtual_training_criterion,
    wasserstein_1d,
)

__all__ = [
    # theory
    "optimal_discriminator",
    "kl_divergence",
    "reverse_kl",
    "js_divergence",
    "total_variation",
    "wasserstein_1d",
    "gan_value",
    "virtual_training_criterion",
    # losses
    "d_loss_minimax",
    "g_loss_saturating",
    "g_loss_non_saturating",
    "generator_gradient_wrt_logit",
    "GANLoss",
    "register_gan_loss",
    "get_gan_loss",
    "list_gan_losses",
    # models
    "MLPGenerator",
    "MLPDiscriminator",
    "init_weights_normal",
]
