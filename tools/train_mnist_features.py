"""Rebuild (``train``) or check (``verify``) the course's MNIST feature weights, course_lib/metrics/mnist_features.pt.

    .venv/bin/python tools/train_mnist_features.py train     # writes the file, prints accuracy and sha256
    .venv/bin/python tools/train_mnist_features.py verify    # retrains and compares with the shipped file

The recipe is ``course_lib.metrics.features.RECIPE`` (seed 0); see that module's docstring.
"""

import sys

from course_lib.metrics.features import main

if __name__ == "__main__":
    sys.exit(main())
