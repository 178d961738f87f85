"""Image-to-image translation (Part IV): paired translation with pix2pix (chapter 10) and unpaired translation
(chapter 11).

- :mod:`course_lib.translation.pix2pix`: :class:`UNetGenerator`, :class:`EncoderDecoderGenerator`,
  :class:`PatchDiscriminator`, :func:`patch_receptive_field` and :class:`Pix2PixObjective` for the one trainer.
- :mod:`course_lib.translation.cyclegan`: :class:`ResnetGenerator`, :class:`ImagePool`, :class:`CycleGANObjective`
  and the linear decay (chapter 11); the family in :mod:`~course_lib.translation.stargan`,
  :mod:`~course_lib.translation.pixelda` and :mod:`~course_lib.translation.unpaired_family`.
"""

from course_lib.translation.pix2pix import (
    PATCH_SETTINGS,
    EncoderDecoderGenerator,
    PatchDiscriminator,
    Pix2PixObjective,
    UNetGenerator,
    UNetSkipBlock,
    count_parameters,
    dropout_active,
    patch_receptive_field,
    receptive_field,
)
from course_lib.translation.cyclegan import (
    CycleGANConfig,
    CycleGANObjective,
    ImagePool,
    LinearDecay,
    ResnetGenerator,
    cycle_identity_loss,
    pool_query,
)

__all__ = [
    "UNetGenerator",
    "UNetSkipBlock",
    "EncoderDecoderGenerator",
    "PatchDiscriminator",
    "patch_receptive_field",
    "receptive_field",
    "PATCH_SETTINGS",
    "Pix2PixObjective",
    "dropout_active",
    "count_parameters",
    "ResnetGenerator",
    "ImagePool",
    "pool_query",
    "cycle_identity_loss",
    "CycleGANConfig",
    "CycleGANObjective",
    "LinearDecay",
]
