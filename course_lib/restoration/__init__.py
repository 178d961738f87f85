"""Chapter 12: super-resolution (SRResNet, SRGAN, ESRGAN), inpainting (Context Encoder, CCGAN) and class
activation maps (CAM, Grad-CAM) as weak localisation feeding a restoration model.

- :mod:`~course_lib.restoration.subpixel`: PixelShuffle by reshapes, ICNR, the sub-pixel = transposed-conv identity;
- :mod:`~course_lib.restoration.srresnet`, :mod:`~course_lib.restoration.srgan`, :mod:`~course_lib.restoration.esrgan`:
  the networks, the SRGAN discriminator and the perceptual (content) loss;
- :mod:`~course_lib.restoration.metrics`: ``psnr`` (per image) and ``ssim`` (scikit-image's);
- :mod:`~course_lib.restoration.inpainting`: Context Encoder (channel-wise FC), the CCGAN discriminator, masks;
- :mod:`~course_lib.restoration.cam`: ``class_activation_map``, heat maps, Grad-CAM, CAM boxes, a GAP classifier;
- :mod:`~course_lib.restoration.objectives`: SRGAN, ESRGAN and inpainting objectives for the one trainer;
- :mod:`~course_lib.restoration.training`: supervised fitting (SRResNet-MSE, the CAM classifier);
- :mod:`~course_lib.restoration.recipes`: the zoo entries (imported by :mod:`course_lib.zoo`, not here).
"""

from course_lib.restoration.cam import (
    GAPClassifier,
    cam_box,
    cam_heatmap,
    class_activation_map,
    grad_cam,
    pointing_hit,
)
from course_lib.restoration.esrgan import RRDB, DenseBlock, RRDBNet
from course_lib.restoration.inpainting import (
    ChannelwiseFC,
    ContextEncoder,
    InpaintDiscriminator,
    box_mask,
    center_mask,
    composite,
    masked_input,
    random_block_masks,
)
from course_lib.restoration.metrics import psnr, ssim
from course_lib.restoration.srgan import ContentLoss, SRGANDiscriminator
from course_lib.restoration.srresnet import ResidualBlock, SRResNet
from course_lib.restoration.subpixel import (
    SubPixelConv2d,
    checkerboard_score,
    icnr_,
    pixel_shuffle,
    pixel_unshuffle,
    subpixel_to_transposed_weight,
)
from course_lib.restoration.training import fit_supervised

__all__ = [
    "pixel_shuffle", "pixel_unshuffle", "icnr_", "SubPixelConv2d", "subpixel_to_transposed_weight",
    "checkerboard_score", "ResidualBlock", "SRResNet", "SRGANDiscriminator", "ContentLoss", "DenseBlock", "RRDB",
    "RRDBNet", "psnr", "ssim", "ChannelwiseFC", "ContextEncoder", "InpaintDiscriminator", "center_mask",
    "random_block_masks", "composite", "masked_input", "box_mask", "class_activation_map", "cam_heatmap",
    "grad_cam", "cam_box", "pointing_hit", "GAPClassifier", "fit_supervised",
]
