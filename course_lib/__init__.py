"""course_lib: the tested PyTorch library behind "Generative Adversarial Networks and YOLO,
from derivation to GPU".

Sub-packages (one concept per module; see CONTRIBUTING.md):

- ``course_lib.profile``   the ``COURSE_PROFILE`` switch (``fast``/``colab``/``full``)
- ``course_lib.runtime``   device choice and reproducible seeding
- ``course_lib.data``      toy distributions, MNIST (with an offline fallback), LFW faces
- ``course_lib.gan``       GAN theory (closed forms), losses, models
- ``course_lib.train``     the one adversarial trainer every chapter reuses
- ``course_lib.viz``       plotting helpers
- ``course_lib.exercises`` the exercise/check convention and the per-chapter checks
"""

__version__ = "0.1.0"
