"""profile, runtime, registry and the exercise/check convention."""

import math

import pytest
from pathlib import Path

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


def test_checkpoint_dir_by_profile_and_place(monkeypatch, tmp_path):
    monkeypatch.delenv("COURSE_CHECKPOINT_DIR", raising=False)
    monkeypatch.setattr(runtime, "COLAB_DRIVE", tmp_path / "no-drive")
    assert runtime.checkpoint_dir("ch04_mnist", profile="fast") is None        # CI: always from scratch
    monkeypatch.setenv("COURSE_PROFILE", "fast")
    assert runtime.checkpoint_dir("ch04_mnist") is None
    monkeypatch.setenv("COURSE_PROFILE", "colab")
    home = Path.home() / ".cache" / "course_lib" / "checkpoints" / "ch04_mnist"
    assert runtime.checkpoint_dir("ch04_mnist") == str(home)
    drive = tmp_path / "MyDrive"
    drive.mkdir()
    monkeypatch.setattr(runtime, "COLAB_DRIVE", drive)                          # Colab with Drive mounted
    assert runtime.checkpoint_dir("ch04_mnist", profile="full") == str(drive / "course_lib_checkpoints" / "ch04_mnist")
    monkeypatch.setenv("COURSE_CHECKPOINT_DIR", str(tmp_path / "mine"))         # the variable wins
    assert runtime.checkpoint_dir("run.1") == str(tmp_path / "mine" / "run.1")
    assert not (tmp_path / "mine").exists()                                     # nothing created


@pytest.mark.parametrize("name,err", [("", ValueError), ("a/b", ValueError), ("..", ValueError), (3, TypeError)])
def test_checkpoint_dir_bad_names(name, err):
    with pytest.raises(err, match="name must be"):
        runtime.checkpoint_dir(name, profile="colab")
    with pytest.raises(ValueError, match="profile must be one of"):
        runtime.checkpoint_dir("ok", profile="gpu")


def test_trainer_resumes_from_checkpoint_dir(monkeypatch, tmp_path):
    """The lab pattern: the same cell run twice with checkpoint_dir(...) continues instead of starting over, and
    ends where an uninterrupted run ends."""
    from course_lib.gan.models import MLPDiscriminator, MLPGenerator
    from course_lib.train import AdversarialTrainer, TrainerConfig

    monkeypatch.setenv("COURSE_CHECKPOINT_DIR", str(tmp_path))
    ckpt = runtime.checkpoint_dir("toy", profile="colab")
    data = torch.randn(64, 2)

    def trainer(steps, checkpoints):
        torch.manual_seed(0)
        G, D = MLPGenerator(z_dim=2, out_shape=(2,), hidden=(8,)), MLPDiscriminator(in_shape=(2,), hidden=(8,))
        cfg = TrainerConfig(steps=steps, batch_size=16, checkpoint_dir=checkpoints,
                            checkpoint_every=5 if checkpoints else 0,
                            sample_every=0, progress=False)
        return AdversarialTrainer(G, D, data, cfg)

    first = trainer(10, ckpt)
    first.fit(resume=ckpt is not None)
    assert first.step == 10 and any(Path(ckpt).iterdir())
    second = trainer(15, ckpt)                                                  # "re-run the cell" with more steps
    second.fit(resume=ckpt is not None)
    straight = trainer(15, None)
    straight.fit()
    assert second.step == 15
    assert all(torch.equal(a, b) for a, b in zip(straight.G.state_dict().values(), second.G.state_dict().values()))


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


# --- declarative checks (ExerciseSpec) --------------------------------------------------------------------------

from course_lib.exercises.core import (  # noqa: E402
    CaseInput, ExerciseSpec, Opaque, Raised, capture, fresh, plain, spec_cases,
)


def _square_spec(make_cases=None) -> ExerciseSpec:
    def cases(seed):
        g = torch.Generator().manual_seed(0 if seed is None else seed)
        return [CaseInput("a", {"x": torch.randn(3, generator=g)}), CaseInput("b", {"x": torch.zeros(0)}, True)]

    return ExerciseSpec(EX, ("square",), make_cases or cases, lambda fns, inp: plain(fns[0](inp["x"])),
                        lambda inp: inp["x"] * inp["x"], lambda got, exp: compare_tensors(got, exp))


def test_spec_check_matches_run_check(capsys):
    spec = _square_spec()
    v = spec.check(lambda x: x * x)
    assert (v.status, v.passed, v.points) == ("passed", 2, 3.0)
    assert capsys.readouterr().out == "[Exercise 9.1] Squares: PASSED 2/2 cases, 3/3 points\n"
    v = spec.check(lambda x: x * 2, quiet=True)
    assert v.passed == 1 and v.messages[0].startswith("case 'a': the result at index 0 should be")
    assert spec.check(lambda x: x.tolist(), quiet=True).messages == ["case 'a': the result should be a torch.Tensor, "
                                                                      "got list"]
    assert spec.check(lambda x: 1 / 0, quiet=True).messages[0] == "case 'a': raised ZeroDivisionError: division by zero"


def test_spec_fresh_seed_and_errors():
    spec = _square_spec()
    a, b = spec.cases(5), spec.cases(5)
    assert torch.equal(a[0].inputs["x"], b[0].inputs["x"]) and not torch.equal(a[0].inputs["x"],
                                                                              spec.cases(None)[0].inputs["x"])
    with pytest.raises(TypeError, match="takes 1 function"):
        spec.check(lambda x: x, lambda x: x)
    with pytest.raises(ValueError, match="no cases"):
        _square_spec(lambda seed: []).check(lambda x: x)
    with pytest.raises(ValueError, match="identifiers"):
        ExerciseSpec(EX, ("not a name",), spec.make_cases, spec.call, spec.reference, spec.compare)


def test_spec_cases_give_each_run_fresh_inputs():
    spec = _square_spec()

    def vandal(x):
        y = x * x
        x.fill_(100.0)  # writes into its input: neither the reference nor later cases see it
        return y

    assert spec.check(vandal, quiet=True).status == "passed"
    inputs = {"x": torch.ones(2), "nested": [torch.zeros(1), {"t": torch.ones(1)}], "n": 3}
    copy = fresh(inputs)
    copy["nested"][1]["t"] += 1
    assert inputs["nested"][1]["t"].item() == 1.0 and copy["n"] == 3


def test_capture_and_raised():
    assert capture(lambda a, b=1: a + b, 1, b=2) == 3
    r = capture(lambda: 1 / 0)
    assert r == Raised("ZeroDivisionError", "division by zero") and r.problem() == "raised ZeroDivisionError: " \
                                                                                  "division by zero"
    stub = capture(lambda: (_ for _ in ()).throw(not_implemented("9.1")))
    assert stub.not_implemented
    with pytest.raises(NotImplementedError):
        stub.problem()
    assert Raised("E", "x " * 200).problem().endswith("...")


def test_plain_records_and_opaque_descriptions():
    class F(float):
        pass

    assert type(plain(torch.ones(1, requires_grad=True))) is torch.Tensor
    assert plain(torch.nn.Parameter(torch.ones(1))) == Opaque("Parameter")
    assert plain(torch.ones(1).as_subclass(_LyingTensor)) == Opaque("_LyingTensor")
    assert plain(F(1.0)) == Opaque("F") and plain(True) is True and plain(None) is None
    assert compare_tensors(Opaque("Yes"), torch.ones(1)) == "the result should be a torch.Tensor, got Yes"
    assert spec_cases(_square_spec(), (lambda x: x,), [CaseInput("z", {"x": torch.ones(1)})])[0].name == "z"


def test_run_check_survives_an_unprintable_exception(capsys):
    class Weird(Exception):
        def __str__(self):
            raise RuntimeError("no")

    def raise_weird(x):
        raise Weird()

    v = run_check(EX, _cases(raise_weird))
    assert v.passed == 0 and "raised Weird: <message not printable>" in capsys.readouterr().out


def test_require_inputs_and_type_name():
    from course_lib.exercises.core import Opaque, require_inputs, type_name

    require_inputs({"x": torch.zeros(1), "k": 3}, {"x": torch.Tensor, "k": (int, float)})
    with pytest.raises(ValueError, match="a case must be a dict"):
        require_inputs([1], {"x": torch.Tensor})
    with pytest.raises(ValueError, match="has no input 'k'"):
        require_inputs({"x": torch.zeros(1)}, {"x": torch.Tensor, "k": int})
    with pytest.raises(ValueError, match="input 'k' must be a int or float, got bool"):
        require_inputs({"k": True}, {"k": (int, float)})
    assert type_name(Opaque("Parameter")) == "Parameter" and type_name(1.0) == "float"


def test_case_weights_decide_partial_credit():
    from course_lib.exercises.core import Case, CaseInput, Exercise, run_check
    ex = Exercise("9.9", "weights", points=4, difficulty=1, minutes=5)
    cases = [Case("easy", lambda: None), Case("easy 2", lambda: None), Case("key", lambda: "wrong", weight=6.0)]
    verdict = run_check(ex, cases, quiet=True)
    assert verdict.passed == 2 and verdict.points == 1.0  # 2 of 8 weight units
    assert run_check(ex, [Case("a", lambda: None, weight=3.0)], quiet=True).points == 4.0
    for bad in (0, -1.0, float("nan"), "2"):
        with pytest.raises(ValueError, match="weight"):
            CaseInput("x", {}, weight=bad)


def test_record_call_gives_what_was_raised_or_a_plain_result():
    from course_lib.exercises.core import Raised, record_call

    out = record_call(lambda x: x * 2, torch.ones(2))
    assert torch.equal(out, torch.full((2,), 2.0))
    assert type(record_call(lambda: (1, 2))).__name__ == "Opaque"  # what plain() cannot compare stays opaque
    raised = record_call(lambda: 1 / 0)
    assert type(raised) is Raised
