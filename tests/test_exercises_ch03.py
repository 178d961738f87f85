"""Chapter 3's checks: the references pass, stubs say "not implemented yet", wrong answers fail (with partial
credit) without the answer being printed, look-alike objects are refused, and fresh cases from a seed work."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch
from scipy.spatial.distance import jensenshannon
from scipy.stats import wasserstein_distance

from course_lib.exercises import ch03, not_implemented
from course_lib.exercises.core import STARS
from course_lib.gan import theory
from exercise_suite import rescored


def _numbers(text: str) -> list[str]:
    return re.findall(r"-?\d+\.\d+(?:e[-+]?\d+)?", text)


def _expected_values(spec, seed=None) -> set[str]:
    """Every expected value of a spec's cases, formatted as a message would print it."""
    out = set()
    for case in spec.cases(seed):
        ref = spec.reference(case.inputs)
        values = ref.values() if isinstance(ref, dict) else [ref]
        out |= {f"{float(v):.6g}" for v in values}
    return out


def _assert_no_leak(verdict, spec):
    message = re.sub(r"got -?[\d.e+-]+", "got", "\n".join(verdict.messages))  # the learner's own value is fine
    leaked = (_expected_values(spec) - {"0", "1"}) & set(_numbers(message))
    assert not leaked, message


# ----------------------------------------------------------------------------------------------------------------------
# The table, and the references against independent ones (SciPy, closed forms)
# ----------------------------------------------------------------------------------------------------------------------
def test_exercise_table():
    assert sorted(ch03.EXERCISES) == ["3.1", "3.2", "3.3"]
    for key, ex in ch03.EXERCISES.items():
        assert ex.id == key and 10 <= ex.minutes <= 30
        assert ex.badge == f"{ex.points:g} points · difficulty {STARS[ex.difficulty]} · about {ex.minutes} min"
        assert ch03.SPECS[key].exercise is ex


@pytest.mark.parametrize("seed", [None, 0, 7, 123])
def test_case_references_agree_with_scipy(seed):
    for case in ch03.SPECS["3.1"].cases(seed):
        p, q = case.inputs["p"].double().numpy(), case.inputs["q"].double().numpy()
        ref = ch03.SPECS["3.1"].reference(case.inputs)
        assert float(ref["JS divergence"]) == pytest.approx(jensenshannon(p, q) ** 2, abs=1e-6)
        assert float(ref["total variation"]) == pytest.approx(0.5 * np.abs(p - q).sum(), abs=1e-6)
        kl_slow = sum(math.inf if b == 0 else a * math.log(a / b) for a, b in zip(p, q) if a > 0)
        assert float(ref["KL divergence"]) == pytest.approx(kl_slow, rel=1e-5)
        ch03.SPECS["3.1"].validate(case.inputs)
    for case in ch03.SPECS["3.2"].cases(seed):
        x, y = case.inputs["x"].double().numpy(), case.inputs["y"].double().numpy()
        assert float(ch03.SPECS["3.2"].reference(case.inputs)) == pytest.approx(wasserstein_distance(x, y), abs=1e-5)
    for case in ch03.SPECS["3.3"].cases(seed):
        p, q = case.inputs["p"].double().numpy(), case.inputs["q"].double().numpy()
        slow = sum((math.inf if a > 0 else 0.0) if b == 0 else (a - b) ** 2 / b for a, b in zip(p, q))
        assert float(ch03.SPECS["3.3"].reference(case.inputs)) == pytest.approx(slow, rel=1e-5)


def test_fixed_cases_hit_the_edges():
    refs = [ch03.SPECS["3.1"].reference(c.inputs) for c in ch03.SPECS["3.1"].cases()]
    assert any(math.isinf(float(r["KL divergence"])) for r in refs)
    assert any(float(r["JS divergence"]) == pytest.approx(math.log(2))
               and float(r["total variation"]) == pytest.approx(1) for r in refs)
    assert any(float(ch03.SPECS["3.3"].reference(c.inputs)) == math.inf for c in ch03.SPECS["3.3"].cases())
    assert any(float(ch03.SPECS["3.2"].reference(c.inputs)) == 0.0 for c in ch03.SPECS["3.2"].cases())


def test_seeded_cases_are_deterministic_and_differ_from_fixed():
    a, b = ch03.SPECS["3.2"].cases(5), ch03.SPECS["3.2"].cases(5)
    assert all(torch.equal(x.inputs["x"], y.inputs["x"]) for x, y in zip(a, b))
    assert not torch.equal(a[1].inputs["x"][:5], ch03.SPECS["3.2"].cases()[1].inputs["x"][:5])


# ----------------------------------------------------------------------------------------------------------------------
# 3.1 KL, JS, TV
# ----------------------------------------------------------------------------------------------------------------------
def _kl_mine(p, q):
    return (torch.xlogy(p, p) - torch.xlogy(p, q)).sum()


def _js_mine(p, q):
    m = (p + q) / 2
    return 0.5 * _kl_mine(p, m) + 0.5 * _kl_mine(q, m)


def _tv_mine(p, q):
    return (p - q).abs().sum() / 2


def test_divergences_reference_and_independent_pass(capsys):
    v = ch03.check_divergences(theory.kl_divergence, theory.js_divergence, theory.total_variation)
    assert (v.status, v.passed, v.total, v.points) == ("passed", 6, 6, 3)
    assert capsys.readouterr().out.strip() == "[Exercise 3.1] KL, JS and total variation: PASSED 6/6 cases, 3/3 points"
    assert ch03.check_divergences(_kl_mine, _js_mine, _tv_mine, quiet=True).status == "passed"
    for seed in (1, 2, 3):
        assert ch03.SPECS["3.1"].check(_kl_mine, _js_mine, _tv_mine, quiet=True, seed=seed).status == "passed"


def test_divergences_stub():
    def stub(p, q):
        raise not_implemented("3.1")

    v = ch03.check_divergences(stub, stub, stub, quiet=True)
    assert v.status == "not implemented" and v.points == 0
    assert str(v) == "[Exercise 3.1] KL, JS and total variation: not implemented yet, 0/3 points"
    # only JS left to do: judged, and failed, with a message that says which one
    v = ch03.check_divergences(_kl_mine, stub, _tv_mine, quiet=True)
    assert v.status == "failed" and v.passed == 0 and "JS divergence is not implemented" in v.messages[0]


@pytest.mark.parametrize(
    "kl, js, tv, passed",
    [
        # naive p * log(p / q): 0 * log 0 = nan wherever p has a zero
        (lambda p, q: (p * torch.log(p / q)).sum(), _js_mine, _tv_mine, 4),
        # eps in the logarithm: finite where KL must be infinite
        (lambda p, q: (p * torch.log((p + 1e-10) / (q + 1e-10))).sum(), _js_mine, _tv_mine, 4),
        # TV without the 1/2
        (_kl_mine, _js_mine, lambda p, q: (p - q).abs().sum(), 1),
        # JS with log base 2
        (_kl_mine, lambda p, q: _js_mine(p, q) / math.log(2), _tv_mine, 1),
        # JS as the mean of the two KLs (no mixture)
        (_kl_mine, lambda p, q: 0.5 * (_kl_mine(p, q) + _kl_mine(q, p)), _tv_mine, 1),
    ],
)
def test_divergences_wrong(kl, js, tv, passed):
    v = ch03.check_divergences(kl, js, tv, quiet=True)
    assert v.status == "failed" and v.passed == passed
    assert v.points == rescored(ch03.SPECS["3.1"], kl, js, tv) <= 0.4 * 3  # a key case fails
    _assert_no_leak(v, ch03.SPECS["3.1"])


def test_divergences_refuse_look_alikes():
    class Sneaky(torch.Tensor):
        def __eq__(self, other):  # noqa: D105
            return True

    v = ch03.check_divergences(lambda p, q: _kl_mine(p, q).as_subclass(Sneaky), _js_mine, _tv_mine, quiet=True)
    assert v.passed == 0 and "torch.Tensor" in v.messages[0]
    v = ch03.check_divergences(lambda p, q: float(_kl_mine(p, q)), _js_mine, _tv_mine, quiet=True)
    assert v.passed == 0
    v = ch03.check_divergences(_kl_mine, _js_mine, lambda p, q: _tv_mine(p, q).reshape(1), quiet=True)
    assert v.passed == 0 and "0-d" in v.messages[0]


def test_divergences_dtype_matters():
    v = ch03.check_divergences(lambda p, q: _kl_mine(p, q).float(), _js_mine, _tv_mine, quiet=True)
    assert v.passed == 5 and "dtype" in v.messages[0]


# ----------------------------------------------------------------------------------------------------------------------
# 3.2 W1 from samples
# ----------------------------------------------------------------------------------------------------------------------
def _w1_mine(x, y):
    return (x.sort().values - y.sort().values).abs().mean()


def test_wasserstein_reference_and_independent_pass(capsys):
    v = ch03.check_wasserstein_1d(theory.wasserstein_1d)
    assert (v.status, v.passed, v.points) == ("passed", 6, 2)
    assert capsys.readouterr().out.strip() == "[Exercise 3.2] W1 between two 1-D samples: PASSED 6/6 cases, 2/2 points"
    assert ch03.check_wasserstein_1d(_w1_mine, quiet=True).status == "passed"
    assert ch03.check_wasserstein_1d(lambda x, y: theory.wasserstein_1d_weighted(x, y), quiet=True).status == "passed"
    for seed in (4, 5):
        assert ch03.SPECS["3.2"].check(_w1_mine, quiet=True, seed=seed).status == "passed"


def test_wasserstein_stub():
    def stub(x, y):
        raise not_implemented("3.2")

    v = ch03.check_wasserstein_1d(stub, quiet=True)
    assert str(v) == "[Exercise 3.2] W1 between two 1-D samples: not implemented yet, 0/2 points"


@pytest.mark.parametrize(
    "wrong, passed",
    [
        (lambda x, y: (x - y).abs().mean(), 1),  # pairs by index, without sorting
        (lambda x, y: (x.sort().values - y.sort().values).abs().sum(), 2),  # sum instead of mean
        (lambda x, y: (x.mean() - y.mean()).abs(), 4),  # the distance between the means
        (lambda x, y: ((x.sort().values - y.sort().values) ** 2).mean().sqrt(), 3),  # W2, not W1
    ],
)
def test_wasserstein_wrong(wrong, passed):
    v = ch03.check_wasserstein_1d(wrong, quiet=True)
    assert v.status == "failed" and v.passed == passed
    assert v.points == rescored(ch03.SPECS["3.2"], wrong)
    _assert_no_leak(v, ch03.SPECS["3.2"])


def test_wasserstein_refuses_look_alikes():
    class Yes:
        def __eq__(self, other):
            return True

        def __float__(self):
            return 0.0

    assert ch03.check_wasserstein_1d(lambda x, y: Yes(), quiet=True).passed == 0
    assert ch03.check_wasserstein_1d(lambda x, y: _w1_mine(x, y).item(), quiet=True).passed == 0


# ----------------------------------------------------------------------------------------------------------------------
# 3.3 Pearson chi^2
# ----------------------------------------------------------------------------------------------------------------------
def _chi2_mine(p, q):
    terms = torch.where(q > 0, (p - q) ** 2 / q.where(q > 0, torch.ones_like(q)),
                        torch.where(p > 0, math.inf, 0.0).to(p.dtype))
    return terms.sum()


def test_chi2_reference_and_independent_pass(capsys):
    v = ch03.check_pearson_chi2(theory.pearson_chi2)
    assert (v.status, v.passed, v.points) == ("passed", 6, 2)
    assert capsys.readouterr().out.strip() == ("[Exercise 3.3] The Pearson chi-squared divergence: "
                                               "PASSED 6/6 cases, 2/2 points")
    assert ch03.check_pearson_chi2(_chi2_mine, quiet=True).status == "passed"
    for seed in (8, 9):
        assert ch03.SPECS["3.3"].check(_chi2_mine, quiet=True, seed=seed).status == "passed"


def test_chi2_stub():
    def stub(p, q):
        raise not_implemented("3.3")

    v = ch03.check_pearson_chi2(stub, quiet=True)
    assert v.status == "not implemented" and v.points == 0


@pytest.mark.parametrize(
    "wrong, passed",
    [
        (lambda p, q: ((p - q) ** 2 / q).sum(), 5),  # 0/0 = nan outside both supports
        (lambda p, q: ((p - q) ** 2 / p).sum(), 1),  # Neyman's chi^2: the wrong denominator
        (lambda p, q: ((p - q) ** 2 / (q + 1e-8)).sum(), 5),  # eps: finite where it must be infinite
        (lambda p, q: (p**2 / q).nan_to_num(0.0).sum() - 1, 5),  # the expanded form, inf turned into a number
    ],
)
def test_chi2_wrong(wrong, passed):
    v = ch03.check_pearson_chi2(wrong, quiet=True)
    assert v.status == "failed" and v.passed == passed
    _assert_no_leak(v, ch03.SPECS["3.3"])


def test_learner_cannot_spoil_cases():
    def vandal(p, q):
        out = theory.pearson_chi2(p, q)
        p.zero_()
        return out

    assert ch03.check_pearson_chi2(vandal, quiet=True).status == "passed"


def test_validate_rejects_malformed_cases():
    with pytest.raises(ValueError):
        ch03.SPECS["3.1"].validate({"p": torch.tensor([0.5, 0.6]), "q": torch.tensor([0.5, 0.5])})
    with pytest.raises(ValueError):
        ch03.SPECS["3.2"].validate({"x": [1.0], "y": torch.tensor([1.0])})
    with pytest.raises(ValueError):
        ch03.SPECS["3.3"].validate({"p": torch.tensor([1.0])})
