"""course_lib.metrics against references: SciPy's sqrtm, NumPy's cov, closed forms for diagonal covariances, IS of
one-hot and uniform predictions, slow loops for precision/recall and KID; streaming vs all-at-once; bad inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg
import torch

from course_lib.metrics import (
    GaussianAccumulator,
    fid_from_features,
    frechet_distance,
    gaussian_statistics,
    generated_batches,
    inception_score,
    kernel_inception_distance,
    mmd2_unbiased,
    precision_recall,
    streaming_statistics,
)
from course_lib.metrics.bias import fid_infinity, fid_vs_n
from course_lib.metrics.precision_recall import inside_manifold, knn_radii


def _g(seed):
    return torch.Generator().manual_seed(seed)


def _features(seed, n, d, shift=0.0, scale=1.0):
    g = _g(seed)
    a = torch.randn(d, d, generator=g, dtype=torch.float64) / math.sqrt(d)
    return shift + scale * torch.randn(n, d, generator=g, dtype=torch.float64) @ a


def _scipy_fid(m1, s1, m2, s2):
    root = scipy.linalg.sqrtm(s1 @ s2)
    return float(((m1 - m2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(root).real)


# ----------------------------------------------------------------------------------------------------------------------
# Gaussian statistics and the Fréchet distance
# ----------------------------------------------------------------------------------------------------------------------
def test_gaussian_statistics_is_numpy_cov():
    x = _features(0, 50, 7, shift=3.0)
    mu, sigma = gaussian_statistics(x.float())
    assert mu.dtype == sigma.dtype == torch.float64 and sigma.shape == (7, 7)
    assert np.allclose(sigma.numpy(), np.cov(x.float().double().numpy(), rowvar=False), rtol=1e-12, atol=1e-12)
    assert np.allclose(mu.numpy(), x.float().double().numpy().mean(0))
    mu_np, sigma_np = gaussian_statistics(x.numpy())  # NumPy arrays are accepted
    assert torch.allclose(sigma_np, gaussian_statistics(x)[1])


@pytest.mark.parametrize("n_a, n_b, d", [(200, 150, 8), (60, 80, 32), (500, 400, 64)])
def test_frechet_distance_matches_scipy_sqrtm(n_a, n_b, d):
    a, b = _features(1, n_a, d), _features(2, n_b, d, shift=0.5, scale=1.3)
    (m1, s1), (m2, s2) = gaussian_statistics(a), gaussian_statistics(b)
    ours = frechet_distance(m1, s1, m2, s2)
    ref = _scipy_fid(m1.numpy(), s1.numpy(), m2.numpy(), s2.numpy())
    assert ours == pytest.approx(ref, rel=1e-8)
    assert fid_from_features(a, b) == pytest.approx(ours, rel=1e-12)


def test_frechet_distance_diagonal_closed_form():
    """Diagonal covariances commute: the distance is sum (mu1 - mu2)^2 + sum (sqrt(s1) - sqrt(s2))^2."""
    g = _g(3)
    s1, s2 = torch.rand(10, generator=g, dtype=torch.float64) + 0.1, torch.rand(10, generator=g, dtype=torch.float64)
    m1, m2 = torch.randn(10, generator=g, dtype=torch.float64), torch.randn(10, generator=g, dtype=torch.float64)
    expected = float(((m1 - m2) ** 2).sum() + ((s1.sqrt() - s2.sqrt()) ** 2).sum())
    assert frechet_distance(m1, torch.diag(s1), m2, torch.diag(s2)) == pytest.approx(expected, rel=1e-12)
    # one dimension: |m1 - m2|^2 + (sigma1 - sigma2)^2
    assert frechet_distance(torch.tensor([1.0]), torch.tensor([[4.0]]), torch.tensor([-1.0]),
                            torch.tensor([[9.0]])) == pytest.approx(4.0 + 1.0)


def test_frechet_distance_identical_and_singular():
    a = _features(4, 10, 40)  # 10 samples in 40 dimensions: rank-9 covariances
    m, s = gaussian_statistics(a)
    assert frechet_distance(m, s, m, s) == pytest.approx(0.0, abs=1e-9)
    b = _features(5, 12, 40, shift=0.3)
    value = fid_from_features(a, b)
    assert math.isfinite(value) and value > 0
    # the same value through the symmetric square root of S1^1/2 S2 S1^1/2
    (m1, s1), (m2, s2) = gaussian_statistics(a), gaussian_statistics(b)
    w, v = torch.linalg.eigh(s1)
    r1 = v @ torch.diag(w.clamp_min(0).sqrt()) @ v.T
    tr = torch.linalg.eigvalsh(r1 @ s2 @ r1).clamp_min(0).sqrt().sum()
    expected = float(((m1 - m2) ** 2).sum() + s1.trace() + s2.trace() - 2 * tr)
    assert value == pytest.approx(expected, rel=1e-7)


def test_frechet_distance_zero_covariance_and_float32_inputs():
    z = torch.zeros(3, 3)
    assert frechet_distance(torch.zeros(3), z, torch.ones(3), z) == pytest.approx(3.0)
    a, b = _features(6, 100, 5).float(), _features(7, 100, 5, shift=1.0).float()
    assert fid_from_features(a, b) == pytest.approx(fid_from_features(a.double(), b.double()), rel=1e-12)


@pytest.mark.parametrize("args, error, match", [
    ((torch.zeros(3), torch.eye(3), torch.zeros(4), torch.eye(4)), ValueError, "same length"),
    ((torch.zeros(3), torch.ones(3, 2), torch.zeros(3), torch.eye(3)), ValueError, "square"),
    ((torch.zeros(3), torch.eye(4), torch.zeros(3), torch.eye(3)), ValueError, "mean has 3"),
    ((torch.zeros(2), torch.tensor([[1.0, 0.5], [0.0, 1.0]]), torch.zeros(2), torch.eye(2)), ValueError, "symmetric"),
    ((torch.zeros(2), torch.eye(2) * float("nan"), torch.zeros(2), torch.eye(2)), ValueError, "NaN"),
    ((torch.zeros(2), -torch.eye(2), torch.zeros(2), torch.eye(2)), ValueError, "negative diagonal"),
    (([0.0, 0.0], torch.eye(2), torch.zeros(2), torch.eye(2)), TypeError, "torch.Tensor"),
    ((torch.zeros(2, dtype=torch.complex128), torch.eye(2), torch.zeros(2), torch.eye(2)), TypeError, "real"),
])
def test_frechet_distance_bad_inputs(args, error, match):
    with pytest.raises(error, match=match):
        frechet_distance(*args)


def test_statistics_bad_inputs():
    with pytest.raises(ValueError, match="2-D"):
        gaussian_statistics(torch.zeros(5))
    with pytest.raises(ValueError, match="at least 2"):
        gaussian_statistics(torch.zeros(1, 4))
    with pytest.raises(ValueError, match="NaN"):
        fid_from_features(torch.full((4, 2), float("inf")), torch.zeros(4, 2))
    with pytest.raises(ValueError, match="same dimension"):
        fid_from_features(torch.zeros(4, 2), torch.zeros(4, 3))


# ----------------------------------------------------------------------------------------------------------------------
# Inception Score
# ----------------------------------------------------------------------------------------------------------------------
def test_inception_score_bounds():
    onehot = torch.eye(10).repeat(20, 1)  # every class equally often, each sample certain: IS = K
    assert inception_score(onehot, splits=10) == pytest.approx((10.0, 0.0))
    assert inception_score(torch.full((50, 4), 0.25), splits=5) == pytest.approx((1.0, 0.0))
    one_class = torch.zeros(30, 5)
    one_class[:, 2] = 1.0  # certain but always the same class: IS = 1
    assert inception_score(one_class, splits=3)[0] == pytest.approx(1.0)
    p = torch.softmax(torch.randn(200, 10, generator=_g(8)), dim=1)
    mean, std = inception_score(p)
    assert 1.0 <= mean <= 10.0 and std >= 0


def test_inception_score_matches_a_loop_with_tensor_split_order():
    p = torch.softmax(3 * torch.randn(53, 6, generator=_g(9), dtype=torch.float64), dim=1)
    scores = []
    for part in np.array_split(p.numpy(), 5):  # sizes 11, 11, 11, 10, 10 as torch.tensor_split
        py = part.mean(0)
        scores.append(math.exp(np.mean([sum(q * math.log(q / m) for q, m in zip(row, py)) for row in part])))
    assert inception_score(p, splits=5) == pytest.approx((float(np.mean(scores)), float(np.std(scores))), rel=1e-10)


def test_inception_score_bad_inputs():
    logits = torch.randn(20, 5, generator=_g(10))
    with pytest.raises(ValueError, match="softmax"):
        inception_score(logits, splits=2)
    with pytest.raises(ValueError, match="sum to 1"):
        inception_score(torch.full((20, 5), 0.1), splits=2)
    with pytest.raises(ValueError, match="exceed"):
        inception_score(torch.full((4, 2), 0.5), splits=5)
    with pytest.raises(ValueError, match="splits"):
        inception_score(torch.full((4, 2), 0.5), splits=0)
    with pytest.raises(ValueError, match="NaN"):
        inception_score(torch.full((4, 2), float("nan")), splits=1)


# ----------------------------------------------------------------------------------------------------------------------
# Precision and recall
# ----------------------------------------------------------------------------------------------------------------------
def _slow_pr(real, fake, k):
    def radius(points, i):
        return sorted(math.dist(points[i], points[j]) for j in range(len(points)) if j != i)[k - 1]

    def share(points, centres):
        radii = [radius(centres, i) for i in range(len(centres))]
        return sum(any(math.dist(p, c) <= r for c, r in zip(centres, radii)) for p in points) / len(points)

    real, fake = real.tolist(), fake.tolist()
    return {"precision": share(fake, real), "recall": share(real, fake)}


@pytest.mark.parametrize("k", [1, 3, 5])
def test_precision_recall_matches_a_slow_loop(k):
    real = torch.randn(70, 4, generator=_g(11), dtype=torch.float64)
    fake = 0.4 + 0.8 * torch.randn(55, 4, generator=_g(12), dtype=torch.float64)
    assert precision_recall(real, fake, k) == pytest.approx(_slow_pr(real, fake, k), abs=1e-12)


def test_precision_recall_blocks_and_extremes():
    real = torch.randn(90, 3, generator=_g(13), dtype=torch.float64)
    fake = torch.randn(80, 3, generator=_g(14), dtype=torch.float64) + 0.5
    radii = knn_radii(real, 3)
    assert torch.equal(knn_radii(real, 3, block=7), radii)  # the distance blocks do not change the answer
    assert torch.equal(inside_manifold(fake, real, radii, block=7), inside_manifold(fake, real, radii))
    assert precision_recall(real, real) == {"precision": 1.0, "recall": 1.0}
    assert precision_recall(real, real + 100.0) == {"precision": 0.0, "recall": 0.0}


def test_precision_recall_bad_inputs():
    with pytest.raises(ValueError, match="k must"):
        precision_recall(torch.zeros(5, 2), torch.zeros(5, 2), k=0)
    with pytest.raises(ValueError, match="at least 4"):
        precision_recall(torch.zeros(3, 2), torch.zeros(5, 2), k=3)
    with pytest.raises(ValueError, match="same feature dimension"):
        precision_recall(torch.zeros(5, 2), torch.zeros(5, 3))


# ----------------------------------------------------------------------------------------------------------------------
# KID
# ----------------------------------------------------------------------------------------------------------------------
def test_mmd2_unbiased_matches_a_direct_loop():
    x = torch.randn(12, 3, generator=_g(15), dtype=torch.float64)
    y = torch.randn(9, 3, generator=_g(16), dtype=torch.float64) + 0.3

    def k(a, b):
        return (sum(p * q for p, q in zip(a, b)) / 3 + 1) ** 3

    xs, ys = x.tolist(), y.tolist()
    m, n = len(xs), len(ys)
    xx = sum(k(xs[i], xs[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(ys[i], ys[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    xy = sum(k(a, b) for a in xs for b in ys) / (m * n)
    assert float(mmd2_unbiased(x, y)) == pytest.approx(xx + yy - 2 * xy, rel=1e-12)


def test_kid_subsets_seeded_and_near_zero_for_one_distribution():
    a, b = _features(17, 400, 6), _features(18, 400, 6)
    same = torch.randn(800, 6, generator=_g(19), dtype=torch.float64)
    mean, std = kernel_inception_distance(same[:400], same[400:], subsets=20, subset_size=100)
    assert abs(mean) < 3 * std + 1e-3
    shifted = kernel_inception_distance(same[:400], same[400:] + 1.0, subsets=20, subset_size=100)
    assert shifted[0] > 10 * abs(mean)
    assert kernel_inception_distance(a, b, subsets=5, subset_size=50, seed=3) == \
        kernel_inception_distance(a, b, subsets=5, subset_size=50, seed=3)
    whole = kernel_inception_distance(a[:50], b[:50], subsets=3, subset_size=1000)  # subset = everything
    assert whole[0] == pytest.approx(float(mmd2_unbiased(a[:50], b[:50])), rel=1e-12) and whole[1] < 1e-12


def test_kid_bad_inputs():
    with pytest.raises(ValueError, match="subsets"):
        kernel_inception_distance(torch.zeros(5, 2), torch.zeros(5, 2), subsets=0)
    with pytest.raises(ValueError, match="same dimension"):
        kernel_inception_distance(torch.zeros(5, 2), torch.zeros(5, 3))


# ----------------------------------------------------------------------------------------------------------------------
# Streaming statistics
# ----------------------------------------------------------------------------------------------------------------------
def test_streaming_matches_all_at_once_even_with_a_large_mean():
    x = _features(20, 1000, 16, shift=1e4)  # a large mean: the naive sum of x x^T would lose digits
    mu, sigma = gaussian_statistics(x)
    s_mu, s_sigma = streaming_statistics(list(torch.split(x, 37)), progress=False)
    assert torch.allclose(s_mu, mu, rtol=1e-13, atol=0) and torch.allclose(s_sigma, sigma, rtol=1e-9, atol=1e-9)
    acc = GaussianAccumulator()
    for batch in torch.split(x.float(), 100):
        acc.update(batch)
    assert acc.n == 1000 and acc.compute()[1].dtype == torch.float64


def test_streaming_from_a_dataloader_a_feature_function_and_a_generator():
    x = torch.randn(300, 5, generator=_g(21))
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, torch.zeros(300)), batch_size=64)
    mu, sigma = streaming_statistics(loader, feature_fn=lambda b: 2 * b, progress=False)
    ref_mu, ref_sigma = gaussian_statistics(2 * x)
    assert torch.allclose(mu, ref_mu) and torch.allclose(sigma, ref_sigma, atol=1e-6)
    batches = generated_batches(lambda b: torch.ones(b, 3) * torch.arange(b).unsqueeze(1), n=250, batch_size=100)
    mu, _ = streaming_statistics(batches, max_samples=120, progress=False)
    assert torch.is_grad_enabled()  # the half-consumed generator left grad mode as it was
    assert torch.allclose(mu, torch.full((3,), (99 * 100 / 2 + 19 * 20 / 2) / 120, dtype=torch.float64))


def test_streaming_progress_bar_on_long_runs(capsys):
    x = torch.randn(200, 2, generator=_g(22))
    streaming_statistics(list(torch.split(x, 5)), progress="auto")  # 40 batches: a tqdm bar on stderr
    assert "statistics" in capsys.readouterr().err


def test_streaming_bad_inputs():
    acc = GaussianAccumulator().update(torch.zeros(3, 4))
    with pytest.raises(ValueError, match="4-d"):
        acc.update(torch.zeros(3, 5))
    with pytest.raises(ValueError, match="at least 2"):
        GaussianAccumulator().update(torch.zeros(1, 4)).compute()
    with pytest.raises(TypeError, match="batch"):
        streaming_statistics(["not a tensor"])


# ----------------------------------------------------------------------------------------------------------------------
# The bias in N and FID_inf
# ----------------------------------------------------------------------------------------------------------------------
def test_fid_shrinks_with_n_and_the_extrapolation_recovers_the_line():
    a, b = torch.randn(2000, 4, generator=_g(23)), torch.randn(2000, 4, generator=_g(24))
    curve = fid_vs_n(a, b, [50, 200, 1000], repeats=3)
    assert curve["mean"][0] > curve["mean"][1] > curve["mean"][2]
    f_inf, k = fid_infinity([100, 200, 400, 800], [3 + 50 / n for n in (100, 200, 400, 800)])
    assert f_inf == pytest.approx(3.0) and k == pytest.approx(50.0)
    with pytest.raises(ValueError, match="ns"):
        fid_vs_n(a, b, [1])
