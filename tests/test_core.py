"""profile, runtime, registry and the exercise/check convention."""

import math

import pytest
import torch

from course_lib import profile, registry, runtime
from course_lib.exercises import Case, Exercise, compare_scalars, compare_tensors, not_implemented, run_check, use


# --- profile -------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["fast", "colab", "full", "FAST ", "Colab"])
def test_profile_explicit(monkeypatch, value):
    monkeypatch.setenv("COURSE_PROFILE", value)
    assert profile.get_profile() == value.strip().lower()


def test_profile_auto_follows_cuda(monkeypatch):
    monkeypatch.setenv("COURSE_PROFILE", "auto")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert profile.get_profile() == "fast"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert profile.get_profile() == "colab"
    monkeypatch.delenv("COURSE_PROFILE")
    assert profile.get_profile() == "colab"
    assert "auto" in profile.describe()


def test_profile_bad_value(monkeypatch):
    monkeypatch.setenv("COURSE_PROFILE", "turbo")
    with pytest.raises(ValueError, match="turbo.*fast, colab, full"):
        profile.get_profile()


def test_pick(monkeypatch):
    monkeypatch.setenv("COURSE_PROFILE", "fast")
    assert profile.pick(fast=1, colab=2, full=3) == 1
    monkeypatch.setenv("COURSE_PROFILE", "colab")
    assert profile.pick(fast=1, colab=2, full=3) == 2
    monkeypatch.setenv("COURSE_PROFILE", "full")
    assert profile.pick(fast=1, colab=2, full=3) == 3
    assert profile.pick(fast=1, colab=2) == 2  # full falls back to colab
    assert profile.describe() == "course profile: full (COURSE_PROFILE=full)"


# --- runtime -------------------------------------------------------------------------------------------------------

def test_seed_everything_reproducible():
    gen = runtime.seed_everything(123)
    a, b = torch.rand(5), torch.rand(5, generator=gen)
    gen = runtime.seed_everything(123)
    assert torch.equal(a, torch.rand(5)) and torch.equal(b, torch.rand(5, generator=gen))


@pytest.mark.parametrize("bad", [1.5, "1", True, None])
def test_seed_everything_bad(bad):
    with pytest.raises(TypeError, match="seed must be an int"):
        runtime.seed_everything(bad)


def test_get_device(monkeypatch):
    assert runtime.get_device("cpu") == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="CUDA is not available"):
        runtime.get_device("cuda")


# --- registry ------------------------------------------------------------------------------------------------------

def test_registry_register_and_create():
    @registry.register_model("_test_linear", kind="_test", example_kwargs={"n": 3})
    class Lin(torch.nn.Linear):
        def __init__(self, n):
            super().__init__(n, 1)

    assert "_test_linear" in registry.list_models("_test")
    assert registry.create_model("_test_linear", n=3).in_features == 3
    with pytest.raises(ValueError, match="already registered"):
        registry.register_model("_test_linear", kind="_test")(type("Other", (torch.nn.Module,), {}))
    with pytest.raises(KeyError, match="no model named 'nope'"):
        registry.create_model("nope")
    registry._REGISTRY.pop("_test_linear")


# --- exercises core ------------------------------------------------------------------------------------------------

EX = Exercise("9.1", "Squares", points=3, difficulty=2, minutes=10)


def _cases(fn):
    xs = [torch.tensor([1.0, 2.0]), torch.tensor([-3.0]), torch.zeros(0)]
    return [Case(f"x{i}", (lambda x=x: compare_tensors(fn(x), x * x)), hidden=i == 2) for i, x in enumerate(xs)]


def test_badge_and_validation():
    assert EX.badge == "3 points · difficulty ★★☆ · about 10 min"
    with pytest.raises(ValueError, match="difficulty"):
        Exercise("1.1", "t", 1, 4, 10)
    with pytest.raises(ValueError, match="positive"):
        Exercise("1.1", "t", 0, 1, 10)


def test_run_check_pass(capsys):
    v = run_check(EX, _cases(lambda x: x * x))
    assert (v.status, v.passed, v.points) == ("passed", 3, 3.0)
    assert capsys.readouterr().out == "[Exercise 9.1] Squares: PASSED 3/3 cases, 3/3 points\n"


def test_run_check_partial_and_message(capsys):
    v = run_check(EX, _cases(lambda x: x * x if x.numel() != 1 else x))
    assert (v.status, v.passed, v.points) == ("failed", 2, 2.0)
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "[Exercise 9.1] Squares: FAILED 2/3 cases, 2/3 points"
    assert out[1] == "    case 'x1': the result at index 0 should be 9, got -3"


def test_run_check_not_implemented(capsys):
    def stub(x):
        raise not_implemented("9.1")

    v = run_check(EX, _cases(stub))
    assert (v.status, v.points) == ("not implemented", 0.0)
    assert capsys.readouterr().out == "[Exercise 9.1] Squares: not implemented yet, 0/3 points\n"


def test_run_check_learner_exception_is_a_failure(capsys):
    v = run_check(EX, _cases(lambda x: 1 / 0))
    assert v.points == 0 and v.status == "failed"
    assert "raised ZeroDivisionError" in capsys.readouterr().out


def test_run_check_hidden_case_named_by_number(capsys):
    run_check(EX, _cases(lambda x: x * x if x.numel() else torch.ones(1)))
    assert "hidden case 3: the result should have shape (0,), got (1,)" in capsys.readouterr().out


def test_run_check_needs_cases():
    with pytest.raises(ValueError, match="cannot fail"):
        run_check(EX, [])


class _AlwaysEqual:
    def __eq__(self, other):
        return True

    shape = (2,)


class _LyingTensor(torch.Tensor):
    pass


def test_compare_refuses_forgeries():
    expected = torch.tensor([1.0, 2.0])
    assert "torch.Tensor" in compare_tensors(_AlwaysEqual(), expected)
    assert "torch.Tensor" in compare_tensors(expected.clone().as_subclass(_LyingTensor), expected)
    assert "number" in compare_scalars(_AlwaysEqual(), 1.0)


def test_compare_tensors_details():
    e = torch.tensor([[1.0, 2.0], [3.0, float("inf")]])
    assert compare_tensors(e.clone(), e) is None
    assert "shape (2, 2), got (4,)" in compare_tensors(e.flatten(), e)
    assert "dtype torch.float32, got torch.float64" in compare_tensors(e.double(), e)
    assert compare_tensors(e.double(), e, check_dtype=False) is None
    bad = e.clone()
    bad[1, 0] = 3.1
    assert compare_tensors(bad, e) == "the result at index (1, 0) should be 3, got 3.1"
    nan = e.clone()
    nan[0, 0] = float("nan")
    assert "got nan" in compare_tensors(nan, e)
    assert compare_tensors(torch.tensor(float("nan")), torch.tensor(float("nan")), equal_nan=True) is None


def test_compare_scalars():
    assert compare_scalars(1.0, 1.0) is None
    assert compare_scalars(torch.tensor(2.0), 2.0) is None
    assert compare_scalars(math.inf, math.inf) is None
    assert compare_scalars(1.0, math.inf) == "the result should be inf, got 1"
    assert compare_scalars(float("nan"), 0.0) == "the result should be 0, got nan"


def test_use_falls_back_once(capsys):
    def stub(x):
        raise NotImplementedError

    f = use(stub, fallback=lambda x: x + 1, exercise_id="9.1")
    assert f(1) == 2 and f(2) == 3
    assert capsys.readouterr().out.count("Exercise 9.1 is not done yet") == 1
    g = use(lambda x: x * 10, fallback=lambda x: x + 1, exercise_id="9.1")
    assert g(2) == 20


def test_compare_tensors_infinity_must_match_exactly():
    e = torch.tensor([1.0, float("inf")])
    assert compare_tensors(torch.tensor([1.0, 1e30]), e) == "the result at index 1 should be inf, got 1e+30"
    assert compare_tensors(torch.tensor([1.0, -float("inf")]), e) is not None
