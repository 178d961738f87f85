"""Chapter 6's checks: every standard correct formulation passes (notebook cases and grading seeds), the classic
wrong answers fail and lose most of the points, stubs say "not implemented yet", messages do not leak the answer."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch

from course_lib.exercises import ch06, not_implemented
from course_lib.exercises.core import STARS

SEEDS = (1, 7, 2024, 99_999)


def _verdict(exercise_id, fn, seed=None):
    return ch06.SPECS[exercise_id].check(fn, quiet=True, seed=seed)


def test_exercise_table():
    assert sorted(ch06.EXERCISES) == ["6.1", "6.2", "6.3"] == sorted(ch06.SPECS)
    for key, ex in ch06.EXERCISES.items():
        assert ex.id == key and 10 <= ex.minutes <= 30
        assert ex.badge == f"{ex.points:g} points · difficulty {STARS[ex.difficulty]} · about {ex.minutes} min"


def _assert_all_pass(exercise_id, fn):
    assert _verdict(exercise_id, fn).status == "passed", _verdict(exercise_id, fn).messages
    for s in SEEDS:
        v = _verdict(exercise_id, fn, seed=s)
        assert v.status == "passed", (s, v.messages)
        for case in ch06.SPECS[exercise_id].cases(seed=s):
            ch06.SPECS[exercise_id].validate(case.inputs)


def _assert_fails(exercise_id, fn, max_share=0.4):
    max_points = ch06.EXERCISES[exercise_id].points
    for s in (None, *SEEDS):
        v = _verdict(exercise_id, fn, seed=s)
        assert v.status == "failed", s
        assert v.points <= max_share * max_points + 1e-9, (s, v.points, v.passed)


# ----------------------------------------------------------------------------------------------------------------------
# 6.1 FID
# ----------------------------------------------------------------------------------------------------------------------
def _stats(x, biased=False):
    mu = x.mean(0)
    c = x - mu
    return mu, c.T @ c / (x.shape[0] - (0 if biased else 1))


def _fid(kind="eigvals", biased=False):
    def fid(a, b):
        if kind == "numpy":
            a_, b_ = a.numpy(), b.numpy()
            m1, m2 = a_.mean(0), b_.mean(0)
            s1, s2 = np.cov(a_, rowvar=False), np.cov(b_, rowvar=False)
            root = scipy.linalg.sqrtm(s1 @ s2)
            return float(((m1 - m2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(root).real)
        m1, s1 = _stats(a, biased)
        m2, s2 = _stats(b, biased)
        mean_term = ((m1 - m2) ** 2).sum()
        if kind == "eigvals":  # the FACTS.md form: complex square roots, real part
            tr = torch.linalg.eigvals(s1 @ s2).sqrt().real.sum()
        elif kind == "eigh":  # symmetric square root: Tr sqrt(S1^1/2 S2 S1^1/2)
            w, v = torch.linalg.eigh(s1)
            r1 = v @ torch.diag(w.clamp_min(0).sqrt()) @ v.T
            tr = torch.linalg.eigvalsh(r1 @ s2 @ r1).clamp_min(0).sqrt().sum()
        elif kind == "svd":  # nuclear norm of S1^1/2 S2^1/2
            def root(s):
                w, v = torch.linalg.eigh(s)
                return v @ torch.diag(w.clamp_min(0).sqrt()) @ v.T
            tr = torch.linalg.svdvals(root(s1) @ root(s2)).sum()
        elif kind == "real_then_sqrt":  # unstable: tiny negative eigenvalues give NaN
            tr = torch.linalg.eigvals(s1 @ s2).real.sqrt().sum()
        elif kind == "elementwise":
            tr = torch.trace((s1 * s2).abs().sqrt())
        elif kind == "elementwise_product":
            tr = torch.trace(s1.abs().sqrt() * s2.abs().sqrt())
        elif kind == "sum":
            tr = torch.linalg.eigvalsh(s1 + s2).clamp_min(0).sqrt().sum()
        if kind == "no_mean":
            tr = torch.linalg.eigvals(s1 @ s2).sqrt().real.sum()
            mean_term = 0.0
        return float(mean_term + torch.trace(s1) + torch.trace(s2) - 2 * tr)

    return fid


@pytest.mark.parametrize("kind", ["eigvals", "eigh", "svd", "numpy"])
def test_fid_correct_formulations_pass(kind):
    _assert_all_pass("6.1", _fid(kind))


def test_fid_float32_roundoff_passes():
    """Features cast to float32 once and back: the statistics in float64 stay within the tolerance."""
    ref = _fid("eigvals")
    assert _verdict("6.1", lambda a, b: ref(a, b)).status == "passed"
    v = _verdict("6.1", lambda a, b: torch.tensor(ref(a, b), dtype=torch.float64))  # a 0-d tensor is accepted
    assert v.status == "passed"


@pytest.mark.parametrize("kind, biased", [("elementwise", False), ("elementwise_product", False), ("no_mean", False),
                                          ("sum", False), ("eigvals", True), ("real_then_sqrt", False)])
def test_fid_wrong_answers_fail(kind, biased):
    _assert_fails("6.1", _fid(kind, biased))


def test_fid_matches_scipy_closed_form_on_a_case():
    case = ch06.SPECS["6.1"].cases()[0]
    assert abs(ch06.SPECS["6.1"].reference(case.inputs) - _fid("numpy")(case.inputs["features_a"], case.inputs["features_b"])) < 1e-8


def test_fid_stub_and_messages(capsys):
    v = ch06.check_fid(lambda a, b: (_ for _ in ()).throw(not_implemented("6.1")))
    assert v.status == "not implemented" and v.points == 0
    assert "not implemented yet" in capsys.readouterr().out
    v = _verdict("6.1", _fid("eigvals", biased=True))
    expected = ch06.SPECS["6.1"].reference(ch06.SPECS["6.1"].cases()[0].inputs)
    assert f"{expected:.6g}" not in v.messages[0] and "relative error" in v.messages[0]
    assert "number" in _verdict("6.1", lambda a, b: [1.0]).messages[0]
    assert "NaN" in _verdict("6.1", lambda a, b: float("nan")).messages[0]


# ----------------------------------------------------------------------------------------------------------------------
# 6.2 Inception Score
# ----------------------------------------------------------------------------------------------------------------------
def _is(kind="kl"):
    def inception_score(probs, splits):
        scores = []
        parts = torch.tensor_split(probs, splits) if kind != "whole_marginal" else torch.tensor_split(probs, splits)
        whole = probs.mean(0)
        for part in parts:
            py = whole if kind == "whole_marginal" else part.mean(0)
            if kind == "entropy":  # IS = exp(H(p(y)) - E_x H(p(y|x)))
                h_marg = -torch.special.xlogy(py, py).sum()
                h_cond = -torch.special.xlogy(part, part).sum(1).mean()
                scores.append(torch.exp(h_marg - h_cond))
                continue
            if kind == "reverse":
                kl = (torch.special.xlogy(py, py) - py * torch.log(part)).sum(1)
            elif kind == "naive_log":
                kl = (part * (torch.log(part) - torch.log(py))).sum(1)
            else:
                kl = (torch.special.xlogy(part, part) - torch.special.xlogy(part, py)).sum(1)
            scores.append(torch.exp(kl.mean()))
        s = torch.stack(scores)
        if kind == "loop":
            return float(np.mean([float(x) for x in s])), float(np.std([float(x) for x in s]))
        std = s.std() if kind == "sample_std" else s.std(unbiased=False)
        return float(s.mean()), float(std)

    return inception_score


def _is_numpy(probs, splits):
    """A from-scratch NumPy version with array_split (the same order as torch.tensor_split)."""
    p = probs.numpy()
    out = []
    for part in np.array_split(p, splits):
        py = part.mean(0)
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = np.where(part > 0, part * (np.log(part) - np.log(py)), 0.0)
        out.append(np.exp(terms.sum(1).mean()))
    return float(np.mean(out)), float(np.std(out))


@pytest.mark.parametrize("fn", [_is("kl"), _is("entropy"), _is("loop"), _is_numpy])
def test_inception_score_correct_formulations_pass(fn):
    _assert_all_pass("6.2", fn)


@pytest.mark.parametrize("kind", ["reverse", "whole_marginal", "sample_std"])
def test_inception_score_wrong_answers_fail(kind):
    _assert_fails("6.2", _is(kind))


def test_inception_score_log_of_zero_loses_the_zero_cases():
    """p log p without the 0 log 0 = 0 convention: NaN on one-hot rows and exact zeros."""
    _assert_fails("6.2", _is("naive_log"), max_share=0.7)  # a lesser slip: a third of the points


def test_inception_score_closed_forms():
    assert ch06.SPECS["6.2"].reference({"probs": torch.eye(10, dtype=torch.float64).repeat(4, 1), "splits": 4}) == \
        pytest.approx((10.0, 0.0))
    assert ch06.SPECS["6.2"].reference({"probs": torch.full((30, 7), 1 / 7, dtype=torch.float64), "splits": 3}) == \
        pytest.approx((1.0, 0.0))


def test_inception_score_stub_and_shape():
    assert _verdict("6.2", lambda p, s: (_ for _ in ()).throw(not_implemented("6.2"))).status == "not implemented"
    v = _verdict("6.2", lambda p, s: 3.0)
    assert v.passed == 0 and "tuple" in v.messages[0]


# ----------------------------------------------------------------------------------------------------------------------
# 6.3 precision and recall
# ----------------------------------------------------------------------------------------------------------------------
def _pr(kind="cdist_kth"):
    def precision_recall(real, fake, k):
        def radii(x):
            d = torch.cdist(x, x)
            if kind == "self_counted":
                return d.kthvalue(k, dim=1).values
            if kind == "sort":
                return d.sort(dim=1).values[:, k]  # index 0 is the point itself (distance 0)
            d.fill_diagonal_(float("inf"))
            return d.kthvalue(k, dim=1).values

        def inside(points, centres, r):
            d = torch.cdist(points, centres)
            return (d < r if kind == "strict" else d <= r).any(1).double().mean()

        if kind == "loop":
            return _pr_loop(real, fake, k)
        if kind == "swapped":
            return {"precision": float(inside(fake, real, radii(fake))), "recall": float(inside(real, fake, radii(real)))}
        return {"precision": float(inside(fake, real, radii(real))), "recall": float(inside(real, fake, radii(fake)))}

    return precision_recall


def _pr_loop(real, fake, k):
    """A slow loop written for clarity: squared distances compared, the k-th other point by sorting a list."""
    def radius(points, i):
        others = sorted(float(((points[i] - points[j]) ** 2).sum()) for j in range(len(points)) if j != i)
        return others[k - 1]

    def share(points, centres):
        r2 = [radius(centres, i) for i in range(len(centres))]
        hits = 0
        for p in points:
            hits += any(float(((p - c) ** 2).sum()) <= r2[i] for i, c in enumerate(centres))
        return hits / len(points)

    return {"precision": share(fake, real), "recall": share(real, fake)}


@pytest.mark.parametrize("kind", ["cdist_kth", "sort"])
def test_precision_recall_correct_formulations_pass(kind):
    _assert_all_pass("6.3", _pr(kind))


def test_precision_recall_slow_loop_passes_the_notebook_cases():
    assert _verdict("6.3", _pr_loop).status == "passed"
    assert _verdict("6.3", _pr_loop, seed=7).status == "passed"


@pytest.mark.parametrize("kind", ["self_counted", "swapped"])
def test_precision_recall_wrong_answers_fail(kind):
    _assert_fails("6.3", _pr(kind))


def test_precision_recall_strict_inequality_loses_the_grid_cases():
    v = _verdict("6.3", _pr("strict"))
    assert v.status == "failed" and v.points < ch06.EXERCISES["6.3"].points


def test_precision_recall_stub_and_type():
    assert _verdict("6.3", lambda r, f, k: (_ for _ in ()).throw(not_implemented("6.3"))).status == "not implemented"
    v = _verdict("6.3", lambda r, f, k: (1.0, 1.0))
    assert v.passed == 0 and "dict" in v.messages[0]
