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
from course_lib.gan.theory import (  # chapter 3
    js_gradient_vs_separation,
    lsgan_generator_criterion,
    lsgan_optimal_discriminator,
    pearson_chi2,
    wasserstein_1d_cdf,
    wasserstein_1d_weighted,
    wgan_example1,
)
from course_lib.gan.dcgan import (  # chapter 4 (importing it registers the DCGAN models)
    DCGANDiscriminator,
    DCGANGenerator,
    dcgan_init_,
    drop_feature_maps,
    dropped_feature_maps,
    feature_maps,
)
from course_lib.gan.conv_arithmetic import (  # chapter 4
    checkerboard_pattern,
    conv_output_size,
    conv_transpose_output_size,
    fractionally_strided_conv,
)
from course_lib.gan.latent import interpolation_path, latent_walk_widget, lerp, slerp, vector_arithmetic  # chapter 4
from course_lib.gan.losses import AutoencoderEnergy, BEGANLoss, register_gan_loss_factory  # chapter 5: loss zoo
from course_lib.gan.penalties import get_penalty, list_penalties, register_penalty  # chapter 5
from course_lib.gan.regularizers import (  # chapter 5
    FeatureMatchingLoss,
    HistoricalAveraging,
    HistoricalAveragingLoss,
    MinibatchDiscrimination,
    WeightClipping,
    one_sided_label_smoothing,
    ttur_overrides,
    wgan_gp_overrides,
    wgan_overrides,
)
from course_lib.gan.spectral import (  # chapter 5
    SpectralNorm,
    SpectralNormLinear,
    apply_spectral_norm,
    spectral_norm_power_iteration,
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
    # theory, chapter 3
    "wasserstein_1d_cdf",
    "wasserstein_1d_weighted",
    "wgan_example1",
    "pearson_chi2",
    "lsgan_optimal_discriminator",
    "lsgan_generator_criterion",
    "js_gradient_vs_separation",
    # DCGAN, convolution arithmetic, latent walks (chapter 4)
    "DCGANGenerator",
    "DCGANDiscriminator",
    "dcgan_init_",
    "feature_maps",
    "drop_feature_maps",
    "dropped_feature_maps",
    "conv_output_size",
    "conv_transpose_output_size",
    "fractionally_strided_conv",
    "checkerboard_pattern",
    "lerp",
    "slerp",
    "interpolation_path",
    "vector_arithmetic",
    "latent_walk_widget",
    # losses
    "d_loss_minimax",
    "g_loss_saturating",
    "g_loss_non_saturating",
    "generator_gradient_wrt_logit",
    "GANLoss",
    "register_gan_loss",
    "get_gan_loss",
    "list_gan_losses",
    # chapter 5: losses, penalties, regularizers, spectral norm
    "register_gan_loss_factory",
    "AutoencoderEnergy",
    "BEGANLoss",
    "get_penalty",
    "list_penalties",
    "register_penalty",
    "WeightClipping",
    "ttur_overrides",
    "wgan_overrides",
    "wgan_gp_overrides",
    "one_sided_label_smoothing",
    "FeatureMatchingLoss",
    "MinibatchDiscrimination",
    "HistoricalAveraging",
    "HistoricalAveragingLoss",
    "spectral_norm_power_iteration",
    "SpectralNorm",
    "SpectralNormLinear",
    "apply_spectral_norm",
    # models
    "MLPGenerator",
    "MLPDiscriminator",
    "init_weights_normal",
]
