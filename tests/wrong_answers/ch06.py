"""Chapter 6's answers for the wrong-answer suite (see ``tests/exercise_suite.py``). The answer functions live in
``tests/test_exercises_ch06.py``, which tests them one by one; this module lists them for the shared suite."""

from __future__ import annotations

from exercise_suite import correct, wrong
from test_exercises_ch06 import _fid, _is, _is_numpy, _pr, _pr_loop

ANSWERS = {
    "6.1": [
        correct("eigenvalues of S1 S2, complex square root, real part", _fid("eigvals")),
        correct("symmetric square root of S1^1/2 S2 S1^1/2 with eigh", _fid("eigh")),
        correct("nuclear norm of S1^1/2 S2^1/2 (SVD)", _fid("svd")),
        correct("NumPy cov and scipy.linalg.sqrtm", _fid("numpy")),
        wrong("element-wise square root of the covariance product", _fid("elementwise")),
        wrong("element-wise square roots of each covariance", _fid("elementwise_product")),
        wrong("the mean term dropped", _fid("no_mean")),
        wrong("Tr (S1 + S2)^1/2 instead of the product", _fid("sum")),
        wrong("biased covariances (divide by N)", _fid("eigvals", biased=True)),
        wrong("real part, then square root: NaN on singular covariances", _fid("real_then_sqrt")),
    ],
    "6.2": [
        correct("KL with xlogy", _is("kl")),
        correct("exp(H(p(y)) - mean H(p(y|x)))", _is("entropy")),
        correct("NumPy array_split, masked logs", _is_numpy),
        wrong("KL in the wrong direction", _is("reverse")),
        wrong("one marginal over the whole set instead of each split", _is("whole_marginal")),
        wrong("sample standard deviation", _is("sample_std")),
        wrong("p log p without 0 log 0 = 0", _is("naive_log"), max_fraction=0.7),
    ],
    "6.3": [
        correct("cdist, diagonal to inf, kthvalue", _pr("cdist_kth")),
        correct("sorted rows, index k", _pr("sort")),
        correct("a slow loop over squared distances", _pr_loop),
        wrong("the k-th neighbour counting the point itself", _pr("self_counted")),
        wrong("radii of the other set (roles swapped)", _pr("swapped")),
        wrong("strict < at the ball's boundary", _pr("strict")),
    ],
}
