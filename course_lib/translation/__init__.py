"""Image-to-image translation (Part IV): paired translation with pix2pix (chapter 10) and unpaired translation
(chapter 11).

- :mod:`course_lib.translation.pix2pix`: :class:`UNetGenerator`, :class:`EncoderDecoderGenerator`,
  :class:`PatchDiscriminator`, :func:`patch_receptive_field` and :class:`Pix2PixObjective` for the one trainer.
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
]
