"""Unit tests of course_lib.grading: each piece on its own, in this process (the kernel runtime, the records, the
scan, reading submissions, the graded notebook, scoring, reports, the CLI's plumbing), plus two small subprocess
tests (the sandbox, and the nbval plugin on a tiny notebook). The whole grader on adversarial submissions is in
tests/test_grading.py."""

from __future__ import annotations

import io
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import torch
from torch import nn

from course_lib.exercises import ch01, ch02
from course_lib.exercises.core import Opaque, Raised, fresh, plain
from course_lib.gan import losses, theory
from course_lib.grading import kernel, records
from course_lib.grading.assignment import (AssignmentError, derive_seed, grading_cases, load_assignment,
                                           load_private_cases, resolve_reference)
from course_lib.grading.cli import collect_submissions, main
from course_lib.grading.notebook import Plan, build_graded_notebook
from course_lib.grading.report import feedback_markdown, next_hint, safe_name, write_csv
from course_lib.grading.runner import SubmissionResult
from course_lib.grading.sandbox import landlock_abi
from course_lib.grading.scan import free_names, prepare
from course_lib.grading.scoring import ExerciseResult, score_exercise
from course_lib.grading.submission import read_submission

sys.path.insert(0, str(Path(__file__).parent))
from grading_fixtures import LEARNER, S21, S22, S23, SOLUTION, colabify, edit, load  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def ch2():
    return load_assignment("02")


@pytest.fixture(scope="module")
def ch1():
    return load_assignment("01_generative_models")


# ----------------------------------------------------------------------------------------------------------------------
# records
# ----------------------------------------------------------------------------------------------------------------------
def test_records_round_trip_and_markers(tmp_path):
    rec = {"a": torch.arange(3.0), "b": [1, 2.5, "x", None, True, Opaque("Yes"), Raised("ValueError", "bad")],
           "c": Raised("NotImplementedError", "stub", not_implemented=True)}
    path = tmp_path / "r.pt"
    torch.save({"format": 1, "cases": [records.encode(rec)], "missing": [], "violations": []}, path)
    payload = records.load_payload(path, 10 << 20)
    back = records.decode(payload["cases"][0])
    assert torch.equal(back["a"], torch.arange(3.0)) and type(back["a"]) is torch.Tensor
    assert back["b"][:5] == [1, 2.5, "x", None, True]
    assert back["b"][5] == Opaque("Yes") and back["b"][6] == Raised("ValueError", "bad")
    assert back["c"].not_implemented


class _SubTensor(torch.Tensor):
    """A tensor subclass defined at module level, so that torch.save can pickle it."""


def test_records_refuse_objects_and_subclasses(tmp_path):
    assert records.decode(nn.Parameter(torch.ones(2))) == Opaque("Parameter")
    assert records.encode(object()) == {"__opaque__": "object"}
    assert records.encode(torch.ones(2).to_sparse()) == {"__opaque__": "Tensor with layout torch.sparse_coo"}
    assert "too large" in records.encode(torch.zeros(records.MAX_RECORD_ELEMENTS + 1))["__opaque__"]
    with pytest.raises(records.RecordError, match="key that is not a string"):
        records.decode({1: 2})
    with pytest.raises(records.RecordError, match="holds a set"):
        records.decode({1, 2})
    bad = tmp_path / "sub.pt"
    torch.save({"format": 1, "cases": [torch.ones(2).as_subclass(_SubTensor)]}, bad)
    with pytest.raises(records.RecordError, match="cannot be read"):  # weights_only refuses the class
        records.load_payload(bad, 10 << 20)
    big = tmp_path / "big.pt"
    torch.save({"format": 1, "cases": [torch.zeros(1000)]}, big)
    with pytest.raises(records.RecordError, match="over the limit"):
        records.load_payload(big, 100)
    other = tmp_path / "other.pt"
    torch.save([1, 2], other)
    with pytest.raises(records.RecordError, match="not a payload"):
        records.load_payload(other, 10 << 20)


def test_plain_keeps_only_exact_types():
    class F(float):
        pass

    t = torch.ones(2, requires_grad=True) * 2
    p = plain(t)
    assert type(p) is torch.Tensor and not p.requires_grad and torch.equal(p, torch.full((2,), 2.0))
    assert plain(nn.Parameter(torch.ones(1))) == Opaque("Parameter")
    assert type(plain(nn.Parameter(torch.ones(1)), allow_parameter=True)) is torch.Tensor
    assert plain(F(1.0)) == Opaque("F") and plain(1.5) == 1.5 and plain([1]) == Opaque("list")
    x = {"a": [torch.zeros(1)]}
    y = fresh(x)
    y["a"][0] += 1
    assert x["a"][0].item() == 0.0


# ----------------------------------------------------------------------------------------------------------------------
# scan
# ----------------------------------------------------------------------------------------------------------------------
def _solution_cells(chapter: str) -> dict[str, str]:
    nb = load(REPO / "solutions" / chapter / "lab.ipynb")
    out = {}
    for cell in nb["cells"]:
        for tag in cell["metadata"].get("tags", []):
            if tag.startswith("exercise-"):
                out[tag[len("exercise-"):]] = "".join(cell["source"])
    return out


@pytest.mark.parametrize("chapter", ["01_generative_models", "02_original_gan"])
def test_scan_accepts_the_solutions_and_the_stubs(chapter):
    assignment = load_assignment(chapter)
    for ex, source in _solution_cells(chapter).items():
        result = prepare(source, assignment.exercises[ex].rules)
        assert result.violations == [] and result.syntax_error is None, (ex, result.violations)
        assert prepare(assignment.exercises[ex].stub, assignment.exercises[ex].rules).violations == []


@pytest.mark.parametrize("source, ex, expected", [
    ("from course_lib.gan.theory import optimal_discriminator as f", "2.1", "solution"),
    ("def optimal_discriminator(p, q):\n    return theory.optimal_discriminator(p, q)", "2.1", "theory"),
    ("import course_lib.gan.theory as t\nf = t.optimal_discriminator", "2.1", "holds this exercise's solution"),
    ("import course_lib\nf = course_lib.gan.theory.optimal_discriminator", "2.1", "solution"),
    ("import course_lib\nm = course_lib.gan\nf = m.losses", "2.2", "course_lib.gan.losses"),
    ("f = reference_losses.g_loss_saturating", "2.2", "reference_losses"),
    ("def g(l):\n    return get_gan_loss('minimax').g_loss(l)", "2.2", "get_gan_loss"),
    ("x = reference_steps.discriminator_step", "2.3", "discriminator_step"),
    ("ch02.check_optimal_discriminator = print", "2.1", "monkeypatching"),
    ("from course_lib.exercises import ch02", "2.1", "off limits"),
    ("import importlib\nimportlib.reload(torch)", "2.1", "importlib"),
    ("import sys\nm = sys.modules", "2.1", "sys.modules"),
    ("import sys as s\ns.stdout = None", "2.1", "monkeypatching"),
    ("import os\nos._exit(0)", "2.1", "os._exit"),
    ("from os import system", "2.1", "os.system"),
    ("import ctypes", "2.1", "ctypes"),
    ("import threading", "2.1", "threading"),
    ("x = eval('1')", "2.1", "eval"),
    ("x = locals()", "2.1", "locals"),
    ("f = (lambda: 0).__globals__", "2.1", "__globals__"),
    ("getattr(torch, 'o' + 'nes')", "2.1", "computed"),
    ("from functools import reduce\nreduce(getattr, ['a'], torch)", "2.1", "passes getattr"),
    ("torch.Tensor.__eq__ = lambda a, b: True", "2.1", "monkeypatching torch"),
    ("!ls", "2.1", "shell command"),
    ("%%bash\nls", "2.1", "%%bash"),
    ("%run other.py", "2.1", "%run"),
    ("exit()", "2.1", "exit"),
    ("x = __course_grade__", "2.1", "grader"),
    ("import IPython\nIPython.get_ipython().user_ns", "2.1", "IPython"),
    ("from course_lib.gan.theory import kl_divergence", "1.2", "solution"),
    ("y = kl_reference(p, q)", "1.2", "kl_reference"),
    ("y = ch01.conditional_mean", "1.3", "ch01"),
    ("import os\nf = getattr(os, 'fork')", "2.1", "os.fork (through getattr)"),
    ("import sys\nm = getattr(sys, 'modules')", "2.1", "sys.modules (through getattr)"),
    ("setattr(MLPDiscriminator, 'forward', None)", "2.3", "setattr on MLPDiscriminator (monkeypatching)"),
    ("setattr(torch, 'equal', None)", "2.1", "monkeypatching"),
    ("import torch.multiprocessing as mp", "2.1", "torch.multiprocessing"),
    ("p = torch.multiprocessing.Process(target=print)", "2.1", "torch.multiprocessing"),
    ("m = torch.hub.load('a/b', 'c')", "2.1", "torch.hub"),
    ("from torch.utils.cpp_extension import load_inline", "2.1", "cpp_extension"),
    ("h = getattr(torch, 'hub')", "2.1", "torch.hub (through getattr)"),
])
def test_scan_flags(source, ex, expected, ch1, ch2):
    assignment = ch1 if ex.startswith("1.") else ch2
    violations = prepare(source, assignment.exercises[ex].rules).violations
    assert violations and any(expected in v for v in violations), violations


def test_scan_allows_legitimate_code(ch2):
    rules = ch2.exercises["2.2"].rules
    for source in ["%%time\nimport torch.nn.functional as F\ndef g_loss_saturating(l):\n"
                   "    return -F.softplus(l).mean()",
                   "%time x = 1\n%matplotlib inline\nimport math\ny = getattr(math, 'pi')",
                   "def g_loss_non_saturating(l):\n    '''see torch.nn.functional.softplus'''\n"
                   "    return F.softplus(-l).mean()",
                   "torch.backends.cudnn.benchmark = True\nimport os\np = os.path.join('a', 'b')",
                   "from torch.distributions import kl_divergence\nimport numpy as np"]:
        assert prepare(source, rules).violations == [], source


def test_scan_syntax_errors_and_free_names(ch2):
    result = prepare("%%time\nx = 1\ndef f(:\n    pass", ch2.exercises["2.1"].rules)
    assert result.code is None and result.syntax_error.startswith("SyntaxError at line 3")
    nul = prepare("x = 1\0", ch2.exercises["2.1"].rules)
    assert nul.code is None and nul.syntax_error
    names = free_names("import math\ndef f(G, z):\n    y = G(z) + helper(LIMIT) + torch.pi\n"
                       "    return [t for t in y]\n")
    assert {"helper", "LIMIT", "torch"} <= names and not {"G", "z", "y", "t"} & names


# ----------------------------------------------------------------------------------------------------------------------
# reading submissions
# ----------------------------------------------------------------------------------------------------------------------
NAMES = {"2.1": ("optimal_discriminator",), "2.2": ("g_loss_saturating", "g_loss_non_saturating"),
         "2.3": ("discriminator_step", "generator_step")}


def _write(tmp_path, name, data) -> Path:
    path = tmp_path / name
    path.write_bytes(data if isinstance(data, bytes) else json.dumps(data).encode())
    return path


def test_read_submission_jupyter_and_colab_agree(tmp_path):
    nb = edit(load(LEARNER), {"2.1": S21, "2.2": S22})
    a = read_submission(_write(tmp_path, "a.ipynb", nb), "a", NAMES)
    b = read_submission(_write(tmp_path, "b.ipynb", colabify(nb)), "b", NAMES)
    c = read_submission(_write(tmp_path, "c.ipynb", colabify(nb, drop_tags=True)), "c", NAMES)
    assert a.problem is None and a.cells == b.cells == c.cells
    assert a.cells["2.1"] == S21 and not a.notes and not b.notes
    assert all("no cell is tagged" in c.notes[ex][0] for ex in NAMES)
    assert a.chapters == {"2"}


def test_read_submission_duplicates_and_nbformat3(tmp_path):
    nb = load(LEARNER)
    cell = next(c for c in nb["cells"] if "exercise-2.1" in c["metadata"].get("tags", []))
    first, last = dict(cell, source="def optimal_discriminator(p, q):\n    return 1\n"), dict(cell, source=S21)
    nb["cells"] = [first] + nb["cells"] + [last]
    sub = read_submission(_write(tmp_path, "d.ipynb", nb), "d", NAMES)
    assert sub.cells["2.1"] == S21 and "the last one was graded" in sub.notes["2.1"][0]
    v3 = {"nbformat": 3, "worksheets": [{"cells": [{"cell_type": "code", "input": ["def optimal_discriminator",
                                                                                     "(p, q):\n    return p\n"],
                                                    "metadata": {"tags": ["exercise-2.1"]}}]}]}
    sub = read_submission(_write(tmp_path, "v3.ipynb", v3), "v3", NAMES)
    assert sub.cells == {"2.1": "def optimal_discriminator(p, q):\n    return p\n"}


@pytest.mark.parametrize("data, problem", [
    (b'{"cells": [', "not valid notebook JSON"),
    (b"\xff\xfe\x00garbage", "not UTF-8"),
    (b"[1, 2, 3]", "not a Jupyter notebook"),
    (b'{"cells": {"a": 1}}', "not a Jupyter notebook"),
    (b"[" * 100_000 + b"]" * 100_000, "not valid notebook JSON"),
])
def test_read_submission_malformed(tmp_path, data, problem):
    sub = read_submission(_write(tmp_path, "m.ipynb", data), "m", NAMES)
    assert sub.problem is not None and problem in sub.problem and not sub.cells


def test_read_submission_ignores_use_cells_in_fallback(tmp_path):
    nb = {"cells": [{"cell_type": "code", "metadata": {}, "source": "optimal_discriminator = use(f, fallback=g)"}]}
    assert read_submission(_write(tmp_path, "u.ipynb", nb), "u", NAMES).cells == {}


# ----------------------------------------------------------------------------------------------------------------------
# the assignment and its cases
# ----------------------------------------------------------------------------------------------------------------------
def test_load_assignment(ch2):
    assert ch2.name == "02_original_gan" and ch2.module == "course_lib.exercises.ch02" and ch2.max_points == 9
    assert list(ch2.exercises) == ["2.1", "2.2", "2.3"]
    learner = load(LEARNER)
    for ex, info in ch2.exercises.items():
        assert info.names == ch02.SPECS[ex].names
        assert [h[0] for h in info.hints] == ["Hint 1", "Hint 2", "Hint 3"]
        stub = next("".join(c["source"]) for c in learner["cells"] if f"exercise-{ex}" in c["metadata"].get("tags", []))
        assert info.stub == stub
    for name in ("2", "02", "02_original_gan", str(SOLUTION), str(SOLUTION.parent)):
        assert resolve_reference(name) == SOLUTION.resolve()
    with pytest.raises(AssignmentError, match="cannot find"):
        load_assignment("99_nope")


def test_seed_and_cases_are_reproducible(ch2):
    assert derive_seed("k", "02_original_gan") == derive_seed("k", "02_original_gan")
    assert len({derive_seed("k", "a"), derive_seed("k", "b"), derive_seed("j", "a")}) == 3
    a, b = grading_cases(ch2, 5), grading_cases(ch2, 5)
    c = grading_cases(ch2, 6)
    assert [len(a[ex]) for ex in a] == [6, 6, 7]
    assert torch.equal(a["2.1"][0].inputs["p_data"], b["2.1"][0].inputs["p_data"])
    assert not torch.equal(a["2.2"][0].inputs["logits"][:4], c["2.2"][0].inputs["logits"][:4])
    public = ch02.SPECS["2.1"].cases(None)
    assert [x.name for x in public][:2] == ["two Gaussians on a grid", "equal densities"]


def test_private_cases(tmp_path, ch2):
    (tmp_path / "mine.py").write_text(
        "import torch\nCASES = {'2.1': [{'name': 'all zero', 'p_data': torch.zeros(3), 'p_g': torch.zeros(3)}],\n"
        "         '2.3': [{'steps': [{'step': 'g', 'seed': 9, 'optimizer': 'adam', 'lr': 0.01, 'loss': 'hinge',"
        " 'n_fake': 5, 'stale': False}]}],\n         '9.9': [1]}\n")
    torch.save([{"logits": torch.tensor([1e3, -1e3]), "gradient": True}], tmp_path / "2.2.pt")
    private = load_private_cases(tmp_path, ch2)
    assert [len(private[ex]) for ex in ("2.1", "2.2", "2.3")] == [1, 1, 1]
    assert private["2.1"][0].name == "all zero" and private["2.1"][0].hidden
    cases = grading_cases(ch2, 1, private)
    assert len(cases["2.1"]) == 7 and cases["2.1"][-1].name == "all zero"
    # the reference passes its private cases, through the very path the grader uses
    for ex, fns in (("2.1", (theory.optimal_discriminator,)),
                    ("2.2", (losses.g_loss_saturating, losses.g_loss_non_saturating))):
        spec = ch2.exercises[ex].spec
        assert spec.compare(spec.call(fns, fresh(private[ex][0].inputs)), spec.reference(private[ex][0].inputs)) is None
    (tmp_path / "bad.py").write_text("import torch\nCASES = {'2.1': [{'p_data': torch.ones(2)}]}\n")
    with pytest.raises(AssignmentError, match="bad.py: case 0 of exercise 2.1: the case has no input 'p_g'"):
        load_private_cases(tmp_path, ch2)


# ----------------------------------------------------------------------------------------------------------------------
# the graded notebook
# ----------------------------------------------------------------------------------------------------------------------
def test_graded_notebook_layout_and_pruning(ch2):
    from nbval.plugin import find_comment_markers

    code = "# NBVAL_SKIP\n# NBVAL_RAISES_EXCEPTION\n" + S21
    plan = Plan({"2.1": code, "2.3": S23}, {"2.1": free_names(code), "2.3": free_names(S23) | {"toy_generator"}},
                {"2.1", "2.3"})
    nb, info = build_graded_notebook(ch2, plan, {"module": ch2.module}, cell_timeout=5, reference_timeout=50)
    kinds = [info[i].kind for i in range(len(nb.cells))]
    assert kinds[0] == "prelude" and kinds.count("probe") == 2 and kinds.count("submission") == 2
    assert kinds.count("stub") == 1  # 2.2: the learner stub, no probe
    refs = [info[i].reference_cell for i in range(len(nb.cells)) if info[i].kind == "reference"]
    defines_toy = next(i for i, c in enumerate(ch2.notebook.cells) if "def toy_generator" in c.source)
    assert defines_toy in refs and len(refs) == 3  # the two set-up cells and the one 2.3 needs
    probe = next(c for i, c in enumerate(nb.cells) if info[i].kind == "probe")
    assert probe.metadata["tags"] == ["nbval-check-output"] and probe.execution_count == 1
    assert probe.outputs[0]["text"] == "[course-grade] exercise 2.1: outputs recorded\n"
    submission = next(c for i, c in enumerate(nb.cells) if info[i].kind == "submission")
    assert dict(find_comment_markers(submission.source)) == {} and submission.source.count("\n") == 0
    assert all(info[i].timeout == (5 if info[i].kind in ("submission", "probe") else 50) for i in info)
    full, full_info = build_graded_notebook(ch2, plan, {}, prune=False, cell_timeout=5, reference_timeout=50)
    last_probe = ch2.exercises["2.3"].check_cell
    special = {e.exercise_cell for e in ch2.exercises.values()} | {e.check_cell for e in ch2.exercises.values()}
    every = [i for i, c in enumerate(ch2.notebook.cells[:last_probe]) if c.cell_type == "code" and i not in special]
    assert [full_info[i].reference_cell for i in full_info if full_info[i].kind == "reference"] == every
    nbformat.validate(nb)


# ----------------------------------------------------------------------------------------------------------------------
# the runtime inside the kernel (run here, in this process)
# ----------------------------------------------------------------------------------------------------------------------
@pytest.fixture()
def runtime(tmp_path, ch2):
    cases = grading_cases(ch2, 3)
    (tmp_path / "cases").mkdir()
    for ex, cs in cases.items():
        torch.save([{"name": c.name, "inputs": c.inputs} for c in cs], tmp_path / "cases" / f"{ex}.pt")
    original = theory.optimal_discriminator.__code__
    kernel.start({"module": ch2.module, "exercises": list(ch2.exercises),
                  "names": {ex: list(i.names) for ex, i in ch2.exercises.items()},
                  "cases_dir": str(tmp_path / "cases"), "results_dir": str(tmp_path / "results")})
    namespace = {"torch": torch, "nn": nn, "F": torch.nn.functional, "theory": theory}
    try:
        yield namespace, tmp_path, cases
    finally:
        kernel.stop()
    assert theory.optimal_discriminator.__code__ is original


def _payload(tmp_path, ex):
    return records.load_payload(tmp_path / "results" / f"{ex}.pt", 10 << 20)


def test_runtime_probe_records_and_scores(runtime, ch2):
    namespace, tmp_path, cases = runtime
    kernel._state.stdout = io.StringIO()  # the kernel's stdout, where the probe prints its fixed line
    kernel.run_submission("2.2", S22 + "\nprint('noise')", namespace)
    kernel.probe("2.2", "t22", namespace)
    assert kernel._state.stdout.getvalue() == "[course-grade] exercise 2.2: outputs recorded\n"
    payload = _payload(tmp_path, "2.2")
    assert payload["complete"] and payload["violations"] == [] and len(payload["cases"]) == 6
    expected = [ch2.exercises["2.2"].spec.reference(fresh(c.inputs)) for c in cases["2.2"]]
    result = score_exercise(ch2.exercises["2.2"], cases["2.2"], expected, payload)
    assert (result.status, result.points, result.passed) == ("passed", 3.0, 6)
    kernel.probe("2.3", "t23", namespace)  # never defined
    result = score_exercise(ch2.exercises["2.3"], cases["2.3"], [None] * 7, _payload(tmp_path, "2.3"))
    assert result.points == 0 and "discriminator_step, generator_step are not defined" in result.reason


def test_runtime_slotnames_copy_and_save_are_not_tampering(runtime):
    """torch.save / copy.copy of a tensor make copyreg cache torch.Tensor.__slotnames__: honest work."""
    namespace, tmp_path, _ = runtime
    had = "__slotnames__" in vars(torch.Tensor)
    if had:
        del torch.Tensor.__slotnames__
    target = (tmp_path / "x.pt").as_posix()  # inside the test's folder, not the working directory
    kernel.run_submission("2.1", "import copy\n_c = copy.copy(torch.ones(2))\n"
                          f"torch.save(torch.ones(2), {target!r})\n" + S21, namespace)
    kernel.probe("2.1", "tok", namespace)
    payload = _payload(tmp_path, "2.1")
    assert payload["violations"] == [] and payload["token"] == "tok"


def test_runtime_restore_puts_a_solution_back(runtime):
    """restore() gives a stub the code of a function compiled from its source; the same object keeps working for
    whoever holds it (a GANLoss, an alias)."""
    namespace, tmp_path, _ = runtime
    holder = {"fn": theory.optimal_discriminator}
    original = theory.optimal_discriminator.__code__
    try:
        source = "def optimal_discriminator(p_data, p_g):\n    return p_data * 0 + 7\n"
        kernel.restore([("course_lib.gan.theory", "optimal_discriminator", source)])
        assert holder["fn"] is theory.optimal_discriminator
        assert torch.equal(holder["fn"](torch.ones(2), torch.ones(2)), torch.full((2,), 7.0))
    finally:
        theory.optimal_discriminator.__code__ = original


def _try(fn):
    try:
        fn()
        return "ok"
    except BaseException as err:  # noqa: BLE001
        return type(err).__name__


def test_runtime_snapshot_catches_tampering(runtime):
    namespace, tmp_path, _ = runtime
    saved = ch02.check_generator_losses
    try:
        kernel.run_submission("2.2", "import course_lib.exercises.ch02 as c\nc.check_generator_losses = print\n"
                                     "import sys\nsys.stdout = sys.stdout\n", namespace)
    finally:
        ch02.check_generator_losses = saved
    kernel.run_submission("2.3", "import course_lib.gan.models as m\nm.MLPDiscriminator.extra = 1\n", namespace)
    del sys.modules["course_lib.gan.models"].MLPDiscriminator.extra
    kernel.run_submission("2.1", "import course_lib.gan.conv_arithmetic\n", namespace)  # a first import: no change
    kernel.probe("2.1", "t21", namespace)
    violations = _payload(tmp_path, "2.1")["violations"]
    assert {v["exercise"] for v in violations} == {"2.2", "2.3"}
    assert any("check_generator_losses" in v["detail"] for v in violations)
    assert any("MLPDiscriminator.extra" in v["detail"] for v in violations)


# ----------------------------------------------------------------------------------------------------------------------
# scoring and reports
# ----------------------------------------------------------------------------------------------------------------------
def test_score_exercise_partial_and_stopped(ch2):
    info = ch2.exercises["2.1"]
    cases = grading_cases(ch2, 11)["2.1"]
    expected = [info.spec.reference(fresh(c.inputs)) for c in cases]
    swapped = (lambda p, q: q / (p + q),)
    recs = [records.encode(info.spec.call(swapped, fresh(c.inputs))) for c in cases]
    full = score_exercise(info, cases, expected, {"cases": recs})
    # 'equal densities' (weight 1) passes; the key cases weigh 2: 1 / 9 of the points
    assert full.status == "failed" and full.passed == 1 and full.points == round(2 / 9, 2)
    assert full.verdict.startswith("[Exercise 2.1] The optimal discriminator: FAILED 1/6 cases")
    stopped = score_exercise(info, cases, expected, {"cases": recs[:3]}, "the check stopped here: time")
    assert stopped.passed == 1 and stopped.total == 6
    stub = [records.encode(Raised("NotImplementedError", "x", True))]
    assert score_exercise(info, cases, expected, {"cases": stub}).status == "not implemented"
    forged = score_exercise(info, cases, expected, {"cases": [{"x": {1: 2}}] + recs[1:]})
    assert forged.passed == 1 and "RecordError" in full.verdict + forged.verdict


def test_next_hint_and_feedback(ch2):
    hints = ch2.exercises["2.2"].hints
    r = ExerciseResult("2.2", "t", 3, 0, "failed", 0, 6)
    assert next_hint(r, hints) == hints[0]
    r.passed = 4
    assert next_hint(r, hints) == hints[2]
    r.status = "passed"
    assert next_hint(r, hints) is None
    result = SubmissionResult("alice/lab", Path("x"), {
        "2.1": ExerciseResult("2.1", "The optimal discriminator", 2, 2, "passed", 6, 6, "[v]"),
        "2.2": ExerciseResult("2.2", "Losses", 3, 1, "failed", 2, 6, "[v2]", "case 'x': wrong", ["a note"]),
        "2.3": ExerciseResult("2.3", "Steps", 4, 0, "violation", 0, 0, "", "broke the rules")})
    text = feedback_markdown(result, ch2)
    assert "**Total: 3 / 9 points**" in text and "Why: case 'x': wrong" in text and "- Note: a note" in text
    assert "<summary>Hint 2</summary>" in text and text.count("<details>") == 1
    assert safe_name("alice/lab").startswith("alice__lab-") and safe_name("../..").startswith("submission-")
    assert safe_name("bob") == "bob"
    # ids are unique, so are their file names (the id "baseline_honest_" once overwrote "baseline_honest.md")
    ids = ["baseline_honest", "baseline_honest_", "baseline_honest.", "Alice", "alice", "a/b", "a__b", "a b", "a_b"]
    assert len({safe_name(i).lower() for i in ids}) == len(ids)


def test_write_csv(tmp_path, ch2):
    result = SubmissionResult("bob", Path("b"), {ex: ExerciseResult(ex, "", i.points, 1.5, "failed")
                                                 for ex, i in ch2.exercises.items()}, ["timeout: 2.3"])
    write_csv([result], ch2, tmp_path / "g.csv")
    lines = (tmp_path / "g.csv").read_text().splitlines()
    assert lines == ["student,ex_2.1,ex_2.2,ex_2.3,total,max,status", "bob,1.5,1.5,1.5,4.5,9,timeout: 2.3"]


# ----------------------------------------------------------------------------------------------------------------------
# CLI plumbing (no grading)
# ----------------------------------------------------------------------------------------------------------------------
def test_collect_submissions(tmp_path):
    for rel in ("a/lab.ipynb", "b/lab.ipynb", "c.ipynb", "a/.ipynb_checkpoints/lab-checkpoint.ipynb", "d.txt"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("{}")
    found = collect_submissions([tmp_path, tmp_path / "c.ipynb"])
    assert [s for s, _ in found] == ["a/lab", "b/lab", "c", "c-2"]


def test_cli_refuses_to_start(tmp_path, capsys):
    assert main(["--assignment", "77", str(tmp_path), "--out", str(tmp_path / "g.csv")]) == 2
    assert "cannot find the reference" in capsys.readouterr().err
    assert main(["--assignment", "02", str(tmp_path), "--out", str(tmp_path / "g.csv")]) == 2
    assert "no submission" in capsys.readouterr().err
    (tmp_path / "bad.py").write_text("CASES = {'2.1': 5}\n")
    assert main(["--assignment", "02", str(tmp_path), "--out", str(tmp_path / "g.csv"),
                 "--private-cases", str(tmp_path)]) == 2
    assert "must be a list" in capsys.readouterr().err
    assert not (tmp_path / "g.csv").exists()


def test_cli_grades_without_a_kernel_and_creates_a_key(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("COURSE_GRADE_KEY", raising=False)
    (tmp_path / "subs").mkdir()
    (tmp_path / "subs" / "untouched.ipynb").write_bytes(LEARNER.read_bytes())
    (tmp_path / "subs" / "broken.ipynb").write_text("{")
    assert main(["--assignment", "02", str(tmp_path / "subs"), "--out", str(tmp_path / "g.csv"), "--quiet"]) == 0
    key = (tmp_path / "config" / "course-grade" / "key")
    assert key.exists() and oct(key.stat().st_mode & 0o777) == "0o600"
    data = json.loads((tmp_path / "g.json").read_text())
    assert [(s["student"], s["total"], s["status"]) for s in data["submissions"]] == [
        ("broken", 0, "unreadable notebook"), ("untouched", 0, "ok")]
    assert data["key_source"].endswith("key") and key.read_text().strip() not in json.dumps(data)
    assert sorted(p.name for p in (tmp_path / "g_feedback").iterdir()) == ["broken.md", "untouched.md"]


# ----------------------------------------------------------------------------------------------------------------------
# the sandbox and the nbval plugin (subprocesses)
# ----------------------------------------------------------------------------------------------------------------------
@pytest.mark.skipif(landlock_abi() == 0, reason="no Landlock on this system")
def test_confine_limits_writes_reads_and_signals(tmp_path):
    work, other = tmp_path / "work", tmp_path / "work" / "other"
    mine = work / "mine"
    for d in (mine, other):
        d.mkdir(parents=True)
    (other / "secret").write_text("s")
    script = f"""
import os, resource
from pathlib import Path
from course_lib.grading.sandbox import confine, python_readable
r = confine(memory_mb=2048, file_mb=1, readable=python_readable(), writable=[Path({str(mine)!r})])
assert r.landlock and resource.getrlimit(resource.RLIMIT_DATA)[0] == 2048 << 20, r
def attempt(f):
    try:
        f()
        return "ok"
    except OSError as err:
        return type(err).__name__
print(attempt(lambda: open({str(mine / 'x')!r}, 'w').write('x')),
      attempt(lambda: open({str(tmp_path / 'outside')!r}, 'w').write('x')),
      attempt(lambda: open({str(other / 'secret')!r}).read()),
      attempt(lambda: open('/etc/hostname').read()),
      attempt(lambda: open({str(mine / 'big')!r}, 'wb').write(b'0' * (2 << 20))),
      attempt(lambda: os.kill(os.getppid(), 0)),
      attempt(lambda: open({str(Path.home() / '.bashrc')!r}).read()),
      attempt(lambda: open({str(REPO / 'solutions' / '02_original_gan' / 'lab.md')!r}).read()),
      attempt(lambda: open(os.__file__).read()),
      attempt(lambda: __import__('torch').ones(1)))
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    words = out.stdout.split()
    assert words[:5] == ["ok", "PermissionError", "PermissionError", "ok", "OSError"]
    if landlock_abi() >= 6:
        assert words[5] == "PermissionError"
    home = "PermissionError" if (Path.home() / ".bashrc").exists() else "FileNotFoundError"
    assert words[6:] == [home, "PermissionError", "ok", "ok"]  # no home, no solutions; Python and torch work
    assert not (tmp_path / "outside").exists()


def test_nbval_plugin_on_a_tiny_notebook(tmp_path):
    nb = nbformat.v4.new_notebook()
    checked = nbformat.v4.new_code_cell("import sys, warnings\nprint('hello')\nprint('noise', file=sys.stderr)\n"
                                        "warnings.warn('careful')")
    checked.metadata["tags"] = ["nbval-check-output"]
    checked.outputs = [nbformat.v4.new_output("stream", name="stdout", text="hello\n")]
    checked.execution_count = 1
    flood = nbformat.v4.new_code_cell("print('x' * 3_000_000)")
    slow = nbformat.v4.new_code_cell("import time\ntime.sleep(30)")
    die = nbformat.v4.new_code_cell("import os\nos._exit(3)")
    after = nbformat.v4.new_code_cell("1 + 1")
    nb.cells = [checked, flood, slow, die, after]
    (tmp_path / "t.ipynb").write_text(nbformat.writes(nb))
    (tmp_path / "results").mkdir()
    config = {"report": str(tmp_path / "report.jsonl"), "default_timeout": 60, "output_cap_bytes": 100_000,
              "watchdog_bytes": 8 << 30, "results_src": str(tmp_path / "results"),
              "results_dst": str(tmp_path / "moved"), "results_max_bytes": 1 << 20,
              "cells": {"2": {"kind": "submission", "exercise": "9.9", "timeout": 2}}}
    (tmp_path / "plugin.json").write_text(json.dumps(config))
    (tmp_path / "pytest.ini").write_text("[pytest]\naddopts =\n")
    env = {**os.environ, "COURSE_GRADE_PLUGIN": str(tmp_path / "plugin.json"), "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "nbval.plugin",
                           "-p", "course_lib.grading.nbval_plugin", "--nbval-lax", "--nbval-current-env", "-q",
                           "-c", str(tmp_path / "pytest.ini"),
                           "--rootdir", str(tmp_path), str(tmp_path / "t.ipynb")],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240)
    events = [json.loads(line) for line in (tmp_path / "report.jsonl").read_text().splitlines()]
    results = {e["cell"]: e for e in events if e["event"] == "result"}
    assert results[0]["outcome"] == "passed", proc.stdout[-3000:]           # stderr and warnings are not compared
    assert results[1]["outcome"] == "passed" and results[1]["truncated"]     # a flood is cut, not fatal
    assert results[2]["category"] == "timeout" and results[2]["duration"] < 20
    assert results[3]["category"] == "kernel-died" and results[3]["duration"] < 20
    assert results[4]["category"] == "kernel-dead"
    assert [e["cell"] for e in events if e["event"] == "start"] == [0, 1, 2, 3, 4]


# ----------------------------------------------------------------------------------------------------------------------
# random cases: the notebook's solutions pass any seed (a quick version of the sweep reported in the PR)
# ----------------------------------------------------------------------------------------------------------------------
def _solution_functions(chapter: str, ex: str) -> tuple:
    namespace = {"torch": torch, "nn": nn, "F": torch.nn.functional, "math": math,
                 "numeric_cdf": __import__("course_lib.data", fromlist=["numeric_cdf"]).numeric_cdf,
                 "GANLoss": losses.GANLoss}
    exec(_solution_cells(chapter)[ex], namespace)  # noqa: S102 - the course's own solution
    spec = (ch01.SPECS if ex.startswith("1.") else ch02.SPECS)[ex]
    return tuple(namespace[n] for n in spec.names)


@pytest.mark.parametrize("chapter, ex", [("01_generative_models", "1.1"), ("01_generative_models", "1.2"),
                                         ("01_generative_models", "1.3"), ("02_original_gan", "2.1"),
                                         ("02_original_gan", "2.2"), ("02_original_gan", "2.3")])
def test_solutions_pass_fresh_cases(chapter, ex):
    spec = (ch01.SPECS if ex.startswith("1.") else ch02.SPECS)[ex]
    fns = _solution_functions(chapter, ex)
    for seed in (derive_seed("test", chapter), 1, 2**61 + 12345):
        verdict = spec.check(*fns, quiet=True, seed=seed)
        assert verdict.status == "passed", (seed, str(verdict))


# ----------------------------------------------------------------------------------------------------------------------
# issue 10: the pieces of "cannot be forged by construction", one by one
# ----------------------------------------------------------------------------------------------------------------------
def test_graded_notebook_restores_a_solution_only_after_its_check(ch2):
    plan = Plan({"2.1": S21, "2.2": S22, "2.3": S23}, {"2.1": set(), "2.2": set(), "2.3": free_names(S23)},
                {"2.1", "2.2", "2.3"})
    restore = {"2.2": [("course_lib.gan.losses", "g_loss_saturating", "def g_loss_saturating(x):\n    return x * 1234567\n")],
               "2.3": [("course_lib.train.steps", "generator_step", "def generator_step():\n    pass\n")]}
    tokens = {"2.1": "a" * 32, "2.2": "b" * 32, "2.3": "c" * 32}
    nb, info = build_graded_notebook(ch2, plan, {}, cell_timeout=5, reference_timeout=50, tokens=tokens,
                                     restore=restore)
    kinds = [(info[i].kind, info[i].exercise) for i in range(len(nb.cells))]
    assert kinds.index(("restore", "2.2")) == kinds.index(("probe", "2.2")) + 1
    assert kinds.index(("restore", "2.2")) < kinds.index(("submission", "2.3"))
    assert ("restore", "2.3") not in kinds   # nothing runs after the last check
    assert "1234567" not in "".join(c.source for c in nb.cells[:kinds.index(("restore", "2.2"))])
    probes = [c.source for i, c in enumerate(nb.cells) if info[i].kind == "probe"]
    assert probes == [f"__course_grade__.probe({ex!r}, {tokens[ex]!r})" for ex in ("2.1", "2.2", "2.3")]


def test_decoding_a_bomb_is_bounded(tmp_path):
    """Shared references: 8 levels of 50 copies of the same list is a tiny file and 50**8 nodes to walk."""
    import time

    bomb: list = [0]
    for _ in range(8):
        bomb = [bomb] * 50
    path = tmp_path / "bomb.pt"
    torch.save({"format": 1, "cases": [bomb], "missing": [], "violations": []}, path)
    assert path.stat().st_size < 100_000
    payload = records.load_payload(path, 10 << 20)
    start = time.monotonic()
    with pytest.raises(records.RecordError, match="parts"):
        records.decode(payload["cases"][0])
    assert time.monotonic() - start < 5
    budget = records.Budget(nodes=10**9, seconds=0.2)
    with pytest.raises(records.RecordError, match="too long"):
        records.decode(payload["cases"][0], budget=budget)


def test_scan_timeit_options_and_config(ch2):
    rules = ch2.exercises["2.1"].rules
    for line in ("%timeit -n 3 -r 1 sum(range(10))", "%timeit -n3 -r1 -q sum(range(10))", "%time x = 1",
                 "%timeit -o [i for i in range(3)]"):
        assert prepare(S21 + "\n" + line + "\n", rules).violations == [], line
    assert any("%config" in v for v in prepare("%config Application.log_level = 1\n" + S21, rules).violations)
    assert prepare(S21 + "\n%timeit -n 3 eval('1')\n", rules).violations  # the statement itself is scanned


def test_symlinks_and_special_files_are_refused(tmp_path):
    real = tmp_path / "real.ipynb"
    real.write_text(json.dumps(load(SOLUTION)))
    (tmp_path / "subs").mkdir()
    (tmp_path / "subs" / "link.ipynb").symlink_to(real)
    os.mkfifo(tmp_path / "subs" / "pipe.ipynb")
    (tmp_path / "subs" / "dir.ipynb").symlink_to(tmp_path, target_is_directory=True)
    found = dict(collect_submissions([tmp_path / "subs"]))
    assert sorted(found) == ["dir", "link", "pipe"]
    for student, path in found.items():
        sub = read_submission(path, student, {"2.1": ("optimal_discriminator",)})
        assert sub.problem is not None and "refused" in sub.problem and not sub.cells, (student, sub.problem)


def test_private_cases_are_reported_without_the_submissions_text(ch2):
    info = ch2.exercises["2.1"]
    cases = grading_cases(ch2, 5)["2.1"]
    expected = [info.spec.reference(fresh(c.inputs)) for c in cases]
    secret = Raised("ValueError", "the inputs were tensor([0.3000, 0.7000])")
    payload = {"cases": [records.encode(secret)] * len(cases), "missing": []}
    result = score_exercise(info, cases, expected, payload, private=set(range(len(cases))))
    assert "0.3000" not in result.verdict + result.reason and "private case" in result.reason
    assert "0.3000" in score_exercise(info, cases, expected, payload).reason  # an ordinary case quotes it


def test_kernel_readable_hides_the_installed_library(tmp_path):
    from course_lib.grading.build import package_dir
    from course_lib.grading.runner import _hidden_folders
    from course_lib.grading.sandbox import kernel_readable

    build = tmp_path / "library"
    build.mkdir()
    paths = [Path(p) for p in kernel_readable([build], _hidden_folders())]
    assert build.resolve() in paths and Path(sys.prefix).resolve() in paths
    hidden = [package_dir(), REPO / "solutions", REPO / "tests"]
    assert not [p for p in paths for h in hidden if p == h or h in p.parents]
    assert not [p for p in paths if p in REPO.parents or p == REPO]
