"""Evaluating GANs (chapter 6): FID, IS, precision/recall, KID, streaming statistics and the feature networks.

The names of ``SPEC.md`` section 8.1 (``gaussian_statistics``, ``frechet_distance``, ``fid_from_features``,
``inception_score``, ``precision_recall``) are fixed. Later chapters call :func:`course_fid` (or
:class:`FeatureExtractor`) on MNIST-like images ``[N, 1, 28, 28]`` in ``[-1, 1]``.
"""

from course_lib.metrics.frechet import fid_from_features, frechet_distance, gaussian_statistics, trace_sqrt_product
from course_lib.metrics.inception_score import inception_score
from course_lib.metrics.kid import kernel_inception_distance, mmd2_unbiased, polynomial_kernel
from course_lib.metrics.precision_recall import knn_radii, precision_recall
from course_lib.metrics.streaming import GaussianAccumulator, generated_batches, streaming_statistics
from course_lib.metrics.features import (
    FeatureExtractor,
    InceptionFeatures,
    MNISTFeatureNet,
    course_fid,
    course_inception_score,
    course_precision_recall,
    load_mnist_feature_net,
    train_mnist_feature_net,
)

__all__ = [
    "gaussian_statistics",
    "frechet_distance",
    "fid_from_features",
    "trace_sqrt_product",
    "inception_score",
    "precision_recall",
    "knn_radii",
    "kernel_inception_distance",
    "mmd2_unbiased",
    "polynomial_kernel",
    "GaussianAccumulator",
    "streaming_statistics",
    "generated_batches",
    "FeatureExtractor",
    "InceptionFeatures",
    "MNISTFeatureNet",
    "course_fid",
    "course_inception_score",
    "course_precision_recall",
    "load_mnist_feature_net",
    "train_mnist_feature_net",
]
