r"""The zoo entries (:mod:`course_lib.zoo`) of chapters 2-5, and card-only placeholders for the variants of the
chapters not written yet (6-8 and 10-12), so that Appendix A covers every PyTorch-GAN implementation today.

The fast recipes share one setting, so that their samples can be compared side by side: the 8x8 digits of
scikit-learn, noise of 16 dimensions, batches of 64, and small networks (an MLP 16 -> 128 -> 128 -> 64 generator
with batch norm and a 64 -> 128 -> 128 -> 1 discriminator, or DCGAN's convolutions at 8x8); each recipe states where
it departs from its paper's settings and why (a budget of a few hundred steps, not the papers' hundreds of
thousands). A chapter that teaches a card-only variant replaces its placeholder by registering the same key with
:func:`course_lib.zoo.register_variant` (and adding its module to ``course_lib.zoo._ENTRY_MODULES``).
"""

from __future__ import annotations

from torch import nn

from course_lib.zoo import FastRecipe, ZooEntry, register_planned, register_variant

__all__ = ["mlp_models", "dcgan_models", "autoencoder_models", "critic_models"]

_HIDDEN = (128, 128)


def mlp_models(sample_shape: tuple[int, ...], z_dim: int) -> tuple[nn.Module, nn.Module]:
    """The shared MLP pair: generator with batch norm and tanh, discriminator with leaky ReLU (one logit)."""
    from course_lib.gan.models import MLPDiscriminator, MLPGenerator

    return (MLPGenerator(z_dim, sample_shape, hidden=_HIDDEN, out_activation="tanh"),
            MLPDiscriminator(sample_shape, hidden=_HIDDEN))


def critic_models(sample_shape: tuple[int, ...], z_dim: int) -> tuple[nn.Module, nn.Module]:
    """The MLP pair for gradient penalties: no batch norm in either network (a per-sample penalty needs it)."""
    from course_lib.gan.models import MLPDiscriminator, MLPGenerator

    return (MLPGenerator(z_dim, sample_shape, hidden=_HIDDEN, out_activation="tanh", batch_norm=False),
            MLPDiscriminator(sample_shape, hidden=_HIDDEN))


def dcgan_models(sample_shape: tuple[int, ...], z_dim: int) -> tuple[nn.Module, nn.Module]:
    """DCGAN's all-convolutional pair at the data's size (8x8: one stride-2 stage after a 4x4 projection)."""
    from course_lib.gan.dcgan import DCGANDiscriminator, DCGANGenerator

    channels, size = sample_shape[0], sample_shape[-1]
    return (DCGANGenerator(z_dim=z_dim, image_size=size, channels=channels, base=32),
            DCGANDiscriminator(image_size=size, channels=channels, base=32))


class _Flat(nn.Module):
    """An MLP autoencoder on images: flatten, encode to ``code`` dims, decode, reshape (EBGAN/BEGAN's D)."""

    def __init__(self, sample_shape: tuple[int, ...], code: int = 32) -> None:
        super().__init__()
        import math

        n = math.prod(sample_shape)
        self.shape = tuple(sample_shape)
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(n, 128), nn.LeakyReLU(0.2), nn.Linear(128, code),
                                 nn.LeakyReLU(0.2), nn.Linear(code, 128), nn.LeakyReLU(0.2), nn.Linear(128, n))

    def forward(self, x):
        return self.net(x).view(x.shape[0], *self.shape)  # (N, prod) -> (N, *shape)


def autoencoder_models(kind: str):
    """A factory of (MLP generator, autoencoder energy discriminator) pairs with the energy ``kind``."""

    def build(sample_shape: tuple[int, ...], z_dim: int) -> tuple[nn.Module, nn.Module]:
        from course_lib.gan.losses import AutoencoderEnergy
        from course_lib.gan.models import MLPGenerator

        return (MLPGenerator(z_dim, sample_shape, hidden=_HIDDEN, out_activation="tanh"),
                AutoencoderEnergy(_Flat(sample_shape), kind=kind))

    build.__qualname__ = build.__name__ = f"autoencoder_models_{kind}"
    return build


def _clipping():
    from course_lib.gan.regularizers import WeightClipping

    return [WeightClipping(0.01)]


_CH2 = "chapters/02_original_gan/theory"
_CH3 = "chapters/03_divergences_wasserstein/theory"
_CH4 = "chapters/04_dcgan/theory"
_CH5 = "chapters/05_losses_regularizers/theory"
_L = "course_lib.gan.losses."
_P = "course_lib.gan.penalties."

_FAST = {"lr_g": 1e-3, "lr_d": 1e-3}  # Adam at 1e-3 (DCGAN's beta1 0.5): five times DCGAN's 2e-4
_FAST_NOTE = "Adam at 1e-3, five times DCGAN's 2e-4, to move in a few hundred steps."
_WGAN_ADAM = {"n_critic": 5, "optimizer": "adam", "lr_d": 1e-4, "lr_g": 1e-4, "betas": (0.0, 0.9)}

# --- chapters 2-5 ------------------------------------------------------------------------------------------------
for _entry in (
    ZooEntry(
        "gan", "GAN", "A generator and a discriminator play a minimax game whose value, at the best discriminator, "
        "is -log 4 plus twice the Jensen-Shannon divergence between the data and the model.",
        r"\min_G \max_D\; \mathbb E_{x}[\log D(x)] + \mathbb E_{z}[\log(1 - D(G(z)))],"
        r"\qquad L_G^{\text{ns}} = -\mathbb E_z[\log D(G(z))]",
        ("goodfellow2014gan",),
        (_L + "d_loss_minimax", _L + "g_loss_non_saturating", "course_lib.gan.models.MLPGenerator",
         "course_lib.gan.models.MLPDiscriminator"),
        _CH2, FastRecipe(mlp_models, loss="non_saturating", steps=200, config=_FAST, note=_FAST_NOTE),
    ),
    ZooEntry(
        "lsgan", "LSGAN", "Least squares replace the cross-entropy, so fakes far on the right side of the boundary "
        "still get a gradient, and the game minimises a Pearson chi-squared divergence.",
        r"L_D = \tfrac12\mathbb E_x[(D(x) - 1)^2] + \tfrac12\mathbb E_z[D(G(z))^2],"
        r"\qquad L_G = \tfrac12\mathbb E_z[(D(G(z)) - 1)^2]",
        ("mao2017lsgan",),
        (_L + "d_loss_least_squares", _L + "g_loss_least_squares", _L + "d_loss_lsgan_pearson"),
        _CH3, FastRecipe(mlp_models, loss="lsgan", steps=200, config=_FAST, note=_FAST_NOTE),
    ),
    ZooEntry(
        "dcgan", "DCGAN", "All-convolutional networks (strided and fractionally-strided convolutions, batch norm, "
        "ReLU/tanh in G and leaky ReLU in D) make the original GAN train on images.",
        r"\begin{aligned} &\min_G \max_D\; \mathbb E_{x}[\log D(x)] + \mathbb E_{z}[\log(1 - D(G(z)))] \\ "
        r"&\text{(non-saturating G, Adam } 2\cdot10^{-4}, \beta_1 = 0.5) \end{aligned}",
        ("radford2016dcgan",),
        ("course_lib.gan.dcgan.DCGANGenerator", "course_lib.gan.dcgan.DCGANDiscriminator",
         "course_lib.gan.dcgan.dcgan_init_"),
        _CH4, FastRecipe(dcgan_models, loss="non_saturating", steps=150, config=_FAST,
                         note="Two stages (4x4 to 8x8) instead of the paper's four at 64x64; " + _FAST_NOTE),
    ),
    ZooEntry(
        "wgan", "WGAN", "A critic without sigmoid or log estimates the Wasserstein-1 distance through "
        "Kantorovich-Rubinstein duality, its Lipschitz bound enforced by clipping the weights.",
        r"\min_G \max_{\lVert f \rVert_L \le 1}\; \mathbb E_x[f(x)] - \mathbb E_z[f(G(z))],"
        r"\qquad w \leftarrow \operatorname{clip}(w, -c, c),\ c = 0.01",
        ("arjovsky2017wgan",),
        (_L + "d_loss_wasserstein", _L + "g_loss_wasserstein", "course_lib.gan.regularizers.WeightClipping",
         "course_lib.gan.regularizers.wgan_overrides"),
        _CH5, FastRecipe(critic_models, loss="wgan", steps=60, after_d_step=_clipping,
                         config={"n_critic": 5, "optimizer": "rmsprop", "lr_d": 5e-4, "lr_g": 5e-4},
                         note="RMSProp at 5e-4, ten times the paper's 5e-5, to move in 60 steps."),
    ),
    ZooEntry(
        "wgan_gp", "WGAN-GP", "The critic's Lipschitz bound is enforced softly by pulling its gradient norm to 1 on "
        "random interpolates between real and fake samples, instead of clipping weights.",
        r"L_D = \mathbb E_z[f(G(z))] - \mathbb E_x[f(x)] + \lambda\,\mathbb E_{\hat x}"
        r"\big[(\lVert\nabla_{\hat x} f(\hat x)\rVert_2 - 1)^2\big],\quad \hat x = \epsilon x + (1-\epsilon)G(z)",
        ("gulrajani2017wgangp",),
        (_P + "gradient_penalty", _L + "d_loss_wasserstein", "course_lib.gan.regularizers.wgan_gp_overrides"),
        _CH5, FastRecipe(critic_models, loss="wgan", penalty="wgan_gp", steps=60, config=_WGAN_ADAM,
                         note="The paper's Adam(1e-4, (0, 0.9)), lambda = 10 and n_critic = 5."),
    ),
    ZooEntry(
        "wgan_div", "WGAN-div", "A power of the critic's gradient norm, with no target of 1, turns the critic's "
        "objective into a true divergence without any Lipschitz constraint.",
        r"L_D = \mathbb E_z[f(G(z))] - \mathbb E_x[f(x)] + k\,\mathbb E_{\hat x}"
        r"\big[\lVert\nabla f(\hat x)\rVert_2^{\,p}\big],\quad k = 2,\ p = 6",
        ("wu2018wgandiv",), (_P + "wgan_div_penalty", _L + "d_loss_wasserstein"),
        _CH5, FastRecipe(critic_models, loss="wgan", penalty="wgan_div", steps=60, config=_WGAN_ADAM),
    ),
    ZooEntry(
        "dragan", "DRAGAN", "A gradient penalty on noisy points around the real data keeps the discriminator "
        "smooth where sharp local equilibria (and mode collapse) arise.",
        r"L_D = L_D^{\text{GAN}} + \lambda\,\mathbb E\big[(\lVert\nabla D(\hat x)\rVert_2 - 1)^2\big],"
        r"\quad \hat x = x + \alpha\, c\, \sigma_x u,\ u \sim U[0,1)",
        ("kodali2017dragan",), (_P + "dragan_penalty",),
        _CH5, FastRecipe(critic_models, loss="non_saturating", penalty="dragan", steps=120, config=_FAST, note=_FAST_NOTE),
    ),
    ZooEntry(
        "hinge_gan", "Hinge GAN", "A margin loss for the discriminator and a linear one for the generator, the "
        "loss of SN-GAN, SAGAN and BigGAN.",
        r"L_D = \mathbb E_x[\max(0, 1 - D(x))] + \mathbb E_z[\max(0, 1 + D(G(z)))],"
        r"\qquad L_G = -\mathbb E_z[D(G(z))]",
        ("lim2017geometric", "miyato2018spectral"), (_L + "d_loss_hinge", _L + "g_loss_hinge"),
        _CH5, FastRecipe(mlp_models, loss="hinge", steps=200, config=_FAST, note=_FAST_NOTE),
    ),
    ZooEntry(
        "relativistic_gan", "Relativistic GAN (RaGAN)", "The discriminator estimates how much more real a real "
        "sample is than the average fake, so the generator also pulls the real scores down.",
        r"L_D = -\mathbb E_x[\log\sigma(C(x) - \mathbb E_z C(G(z)))] - \mathbb E_z[\log(1 - \sigma(C(G(z)) - "
        r"\mathbb E_x C(x)))]",
        ("jolicoeur2019relativistic",),
        (_L + "d_loss_ragan", _L + "g_loss_ragan", _L + "d_loss_rsgan", _L + "g_loss_rsgan"),
        _CH5, FastRecipe(mlp_models, loss="ragan", steps=200, config=_FAST, note=_FAST_NOTE),
    ),
    ZooEntry(
        "softmax_gan", "Softmax GAN", "A softmax over the whole batch of real and fake samples: the discriminator "
        "puts the mass on the reals, the generator asks for a uniform distribution over all of them.",
        r"L_D = \sum_{x \in B_+} \tfrac{1}{|B_+|}\, E(x) + \log Z_B,\qquad "
        r"L_G = \sum_{x \in B} \tfrac{1}{|B|}\, E(x) + \log Z_B,\quad Z_B = \sum_{x\in B} e^{-E(x)}",
        ("lin2017softmax",), (_L + "d_loss_softmax_gan", _L + "g_loss_softmax_gan"),
        _CH5, FastRecipe(mlp_models, loss="softmax_gan", steps=200, config=_FAST, note=_FAST_NOTE),
    ),
    ZooEntry(
        "bgan", "Boundary-seeking GAN", "The generator aims at the decision boundary, where D = 1/2, which is where "
        "the optimal discriminator sits when the model matches the data.",
        r"L_G = \tfrac12\,\mathbb E_z\big[(\log D(G(z)) - \log(1 - D(G(z))))^2\big] = \tfrac12\,\mathbb E_z[\ell^2]",
        ("hjelm2018bgan",), (_L + "g_loss_boundary_seeking",),
        _CH5, FastRecipe(mlp_models, loss="bgan", steps=200, config=_FAST, note=_FAST_NOTE),
    ),
    ZooEntry(
        "ebgan", "EBGAN", "The discriminator is an autoencoder whose reconstruction error is an energy: low on "
        "data, pushed above a margin on fakes.",
        r"L_D = E(x) + \max(0, m - E(G(z))),\qquad L_G = E(G(z)),\quad E(x) = \lVert x - \mathrm{AE}(x)\rVert^2",
        ("zhao2017ebgan",),
        (_L + "d_loss_ebgan", _L + "g_loss_ebgan", _L + "pulling_away_term", _L + "AutoencoderEnergy"),
        _CH5, FastRecipe(autoencoder_models("mse"), loss="ebgan", steps=200, config=_FAST, note=_FAST_NOTE),
    ),
    ZooEntry(
        "began", "BEGAN", "An autoencoder discriminator and a proportional controller k_t that keeps the "
        "reconstruction loss of fakes a fixed fraction gamma of that of reals.",
        r"L_D = \mathcal L(x) - k_t\,\mathcal L(G(z)),\quad L_G = \mathcal L(G(z)),\quad "
        r"k_{t+1} = k_t + \lambda_k(\gamma\,\mathcal L(x) - \mathcal L(G(z)))",
        ("berthelot2017began",),
        (_L + "BEGANLoss", _L + "d_loss_began", _L + "g_loss_began", _L + "began_convergence"),
        _CH5, FastRecipe(autoencoder_models("l1"), loss="began", steps=200, config=_FAST, note=_FAST_NOTE),
    ),
):
    register_variant(_entry)


# --- card-only placeholders: the chapters that will teach them -----------------------------------------------------
_CH6 = "chapters/06_evaluating_gans/theory"
_CH7 = "chapters/07_conditional_gans/theory"
_CH8 = "chapters/08_attention_and_scale/theory"
_CH10 = "chapters/10_pix2pix/theory"
_CH11 = "chapters/11_unpaired_translation/theory"
_CH12 = "chapters/12_superres_inpainting_cam/theory"
_T7 = "Chapter 7 (conditional and representation GANs) will teach it."
_T8 = "Chapter 8 (attention and scale) will teach it."
_T10 = "Chapter 10 (pix2pix) will teach it."
_T11 = "Chapter 11 (unpaired translation) will teach it."
_T12 = "Chapter 12 (super-resolution, inpainting and localization) will teach it."

for _entry in (
    ZooEntry("cgan", "Conditional GAN", "Both networks receive the label, so the generator learns p(x | y) and "
             "one can ask it for a given class.",
             r"\min_G\max_D\; \mathbb E_{x,y}[\log D(x \mid y)] + \mathbb E_{z,y}[\log(1 - D(G(z \mid y) \mid y))]",
             ("mirza2014cgan",), (), _CH7, taught_in=_T7),
    ZooEntry("acgan", "Auxiliary Classifier GAN", "The discriminator also predicts the class of real and fake "
             "samples, and both networks maximise the log-likelihood of the right class.",
             r"L_S = \mathbb E[\log P(S = \text{real} \mid x)] + \mathbb E[\log P(S = \text{fake} \mid x_f)],\quad "
             r"L_C = \mathbb E[\log P(C = c \mid x)]",
             ("odena2017acgan",), (), _CH7, taught_in=_T7),
    ZooEntry("sgan", "Semi-supervised GAN", "The discriminator is a classifier with N + 1 outputs, the N classes "
             "and 'fake', so unlabelled and generated data help it learn the classes.",
             r"L_D = -\mathbb E_{x,y}[\log p(y \mid x)] - \mathbb E_x[\log(1 - p(N{+}1 \mid x))] "
             r"- \mathbb E_z[\log p(N{+}1 \mid G(z))]",
             ("odena2016semi",), (), _CH7, taught_in=_T7),
    ZooEntry("infogan", "InfoGAN", "A lower bound on the mutual information between a latent code c and the "
             "sample makes the code's dimensions control interpretable factors, without labels.",
             r"\min_{G,Q}\max_D\; V(D, G) - \lambda\, L_I(G, Q),\quad L_I = \mathbb E_{c, x \sim G(z, c)}"
             r"[\log Q(c \mid x)] + H(c)",
             ("chen2016infogan",), (), _CH7, taught_in=_T7),
    ZooEntry("aae", "Adversarial Autoencoder", "An autoencoder whose code distribution is matched to a prior by a "
             "discriminator on the codes instead of a KL term.",
             r"\min_{\text{enc},\text{dec}}\ \mathbb E\lVert x - \text{dec}(\text{enc}(x))\rVert^2,\quad "
             r"\min_{\text{enc}}\max_D\ \mathbb E_{z\sim p(z)}[\log D(z)] + \mathbb E_x[\log(1 - D(\text{enc}(x)))]",
             ("makhzani2016aae",), (), _CH7, taught_in=_T7),
    ZooEntry("cluster_gan", "ClusterGAN", "A latent space mixing a one-hot and a continuous part, with an encoder "
             "trained to recover both, makes the generator's modes clusters of the data.",
             r"\min_{G,E}\max_D\; V(D, G) + \beta_n \mathbb E\lVert z_n - E(G(z))_n\rVert^2 + \beta_c\, "
             r"\mathbb E\, \mathrm{CE}(z_c, E(G(z))_c)",
             ("mukherjee2019clustergan",), (), _CH7, taught_in=_T7),
    ZooEntry("cogan", "Coupled GAN", "Two GANs share the weights of their first generator layers and last "
             "discriminator layers, so they learn a joint distribution of two domains without paired data.",
             r"\min_{G_1,G_2}\max_{D_1,D_2}\; V(D_1, G_1) + V(D_2, G_2)\quad\text{(shared high-level layers)}",
             ("liu2016cogan",), (), _CH7, taught_in=_T7),
    ZooEntry("sagan", "Self-attention GAN", "Self-attention layers in both networks let distant parts of an "
             "image agree, with spectral norm in both networks and the hinge loss.",
             r"o = \gamma\, \operatorname{softmax}(f(x)^\top g(x))\, h(x) + x,\quad \gamma_0 = 0",
             ("zhang2019sagan",), (), _CH8, taught_in=_T8),
    ZooEntry("biggan", "BigGAN", "Large batches, wide networks, class-conditional batch norm, orthogonal "
             "regularisation and the truncation trick scale GANs to ImageNet.",
             r"R_\beta(W) = \beta\,\lVert W^\top W \odot (\mathbf 1 - I)\rVert_F^2,\quad z \sim "
             r"\mathcal N(0, I)\ \text{resampled outside } [-t, t]",
             ("brock2019biggan",), (), _CH8, taught_in=_T8),
    ZooEntry("pix2pix", "pix2pix", "A conditional GAN on paired images, a U-Net generator, a PatchGAN "
             "discriminator and an L1 term that gets the low frequencies right.",
             r"G^* = \arg\min_G\max_D\; \mathcal L_{cGAN}(G, D) + \lambda\,\mathbb E\lVert y - G(x)\rVert_1,"
             r"\quad\lambda = 100",
             ("isola2017pix2pix",), (), _CH10, taught_in=_T10),
    ZooEntry("cyclegan", "CycleGAN", "Two generators between unpaired domains, each translation undone by the "
             "other: the cycle-consistency loss replaces the missing pairs.",
             r"\mathcal L = \mathcal L_{GAN}(G, D_Y) + \mathcal L_{GAN}(F, D_X) + \lambda\,(\mathbb E\lVert F(G(x)) "
             r"- x\rVert_1 + \mathbb E\lVert G(F(y)) - y\rVert_1),\quad\lambda = 10",
             ("zhu2017cyclegan",), (), _CH11, taught_in=_T11),
    ZooEntry("discogan", "DiscoGAN", "Two coupled GANs with a reconstruction loss in each direction discover "
             "relations between unpaired domains.",
             r"L_G = L_{GAN_B} + L_{CONST_A} + L_{GAN_A} + L_{CONST_B},\quad L_{CONST_A} = d(G_{BA}(G_{AB}(x_A)), "
             r"x_A)",
             ("kim2017discogan",), (), _CH11, taught_in=_T11),
    ZooEntry("dualgan", "DualGAN", "Dual learning: a primal and a dual translator trained with WGAN critics and "
             "reconstruction errors in both directions.",
             r"l_g = \lambda_U\lVert u - G_B(G_A(u))\rVert_1 + \lambda_V\lVert v - G_A(G_B(v))\rVert_1 - "
             r"D_V(G_A(u)) - D_U(G_B(v))",
             ("yi2017dualgan",), (), _CH11, taught_in=_T11),
    ZooEntry("unit", "UNIT", "Two VAE-GANs with a shared latent space: an image of either domain is encoded to a "
             "common code and decoded into the other.",
             r"\min_{E,G}\max_D\; \mathcal L_{VAE_1} + \mathcal L_{GAN_1} + \mathcal L_{CC_1} + \mathcal L_{VAE_2} "
             r"+ \mathcal L_{GAN_2} + \mathcal L_{CC_2}",
             ("liu2017unit",), (), _CH11, taught_in=_T11),
    ZooEntry("munit", "MUNIT", "Images split into a shared content code and a domain-specific style code, so one "
             "input translates into many outputs.",
             r"\mathcal L = \mathcal L_{GAN}^{x_1} + \mathcal L_{GAN}^{x_2} + \lambda_x(\mathcal L_{recon}^{x_1} + "
             r"\mathcal L_{recon}^{x_2}) + \lambda_c(\mathcal L_{recon}^{c}) + \lambda_s(\mathcal L_{recon}^{s})",
             ("huang2018munit",), (), _CH11, taught_in=_T11),
    ZooEntry("bicyclegan", "BicycleGAN", "A latent code tied to the output in both directions (cVAE-GAN and "
             "cLR-GAN) makes paired translation multimodal without mode collapse.",
             r"G^* = \arg\min_{G,E}\max_D\; \mathcal L_{GAN}^{VAE} + \lambda\mathcal L_1^{VAE} + \mathcal L_{GAN} "
             r"+ \lambda_{latent}\mathcal L_1^{latent} + \lambda_{KL}\mathcal L_{KL}",
             ("zhu2017bicyclegan",), (), _CH11, taught_in=_T11),
    ZooEntry("stargan", "StarGAN", "One generator conditioned on a target domain label translates between many "
             "domains, with a domain classifier in the discriminator and a cycle loss.",
             r"\mathcal L_D = -\mathcal L_{adv} + \lambda_{cls}\mathcal L^r_{cls},\quad \mathcal L_G = \mathcal "
             r"L_{adv} + \lambda_{cls}\mathcal L^f_{cls} + \lambda_{rec}\mathcal L_{rec}",
             ("choi2018stargan",), (), _CH11, taught_in=_T11),
    ZooEntry("pixelda", "PixelDA", "A generator translates labelled source images so that they look like the "
             "target domain, and a classifier trained on them works on the target.",
             r"\min_{G,T}\max_D\; \alpha\,\mathcal L_d(D, G) + \beta\,\mathcal L_t(G, T)",
             ("bousmalis2017pixelda",), (), _CH11, taught_in=_T11),
    ZooEntry("srgan", "SRGAN", "A residual network upsamples 4x with sub-pixel convolutions, trained with a VGG "
             "content loss plus a small adversarial loss: a perceptual loss.",
             r"l^{SR} = l^{SR}_{\text{VGG}} + 10^{-3}\, l^{SR}_{Gen},\quad l^{SR}_{Gen} = \sum_n -\log "
             r"D(G(I^{LR}_n))",
             ("ledig2017srgan",), (), _CH12, taught_in=_T12),
    ZooEntry("esrgan", "ESRGAN", "Residual-in-residual dense blocks without batch norm, a relativistic average "
             "discriminator and VGG features taken before the activation.",
             r"L_G = L_{\text{percep}} + \lambda L_G^{Ra} + \eta L_1",
             ("wang2018esrgan",), (), _CH12, taught_in=_T12),
    ZooEntry("context_encoder", "Context Encoder", "An encoder-decoder fills a missing region of an image, "
             "trained with a reconstruction loss plus an adversarial loss.",
             r"\mathcal L = \lambda_{rec}\lVert \hat M \odot (x - F((1 - \hat M)\odot x))\rVert_2^2 + "
             r"\lambda_{adv}\mathcal L_{adv}",
             ("pathak2016context",), (), _CH12, taught_in=_T12),
    ZooEntry("ccgan", "Context-conditional GAN", "A generator in-paints a masked region and a discriminator "
             "judges the whole image, which regularises a semi-supervised classifier.",
             r"\min_G\max_D\; \mathbb E_x[\log D(x)] + \mathbb E_{x,m}[\log(1 - D(m \odot x + (1 - m)\odot "
             r"G(m\odot x)))]",
             ("denton2016ccgan",), (), _CH12, taught_in=_T12),
):
    register_planned(_entry)

del _entry
