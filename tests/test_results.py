"""``python -m course_lib.results``: the registry, the runner's budget, the records' provenance and schema, the
figures, the generated index.md, and the committed "not recorded" indexes the theory pages include (CPU, tiny mode)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from course_lib.results import record, registry
from course_lib.results.__main__ import main
from course_lib.results.record import PROVENANCE_KEYS, render_index, validate_record
from course_lib.results.registry import CHAPTERS, EXPERIMENTS, Context, load_all, register, register_chapter

REPO = Path(__file__).resolve().parents[1]
PNG = b"\x89PNG\r\n\x1a\n"
STATE: dict = {}
INCLUDE = re.compile(r"```\{include\} \.\./\.\./results/([a-z0-9_]+)/index\.md\n:relative-images:\n```")


@pytest.fixture
def fake_chapter():
    """A throw-away chapter with a cheap experiment, a failing one and an expensive one (removed afterwards)."""
    load_all()
    key = "99_test_only"
    register_chapter(key, "Test chapter")

    @register(key, "cheap", title="cheap", minutes={"colab": 1, "full": 2}, tiny_seconds=0.5, seed=7)
    def cheap(ctx: Context) -> None:
        """Draws one number from the seeded generator."""
        import matplotlib.pyplot as plt

        ctx.number("draw", torch.rand(()).item())
        ctx.number("steps", ctx.size(tiny=1, colab=10, full=100))
        ctx.table("t", ["a", "b"], [[1, 2.5], ["x", None]])
        fig, ax = plt.subplots()
        ax.plot([0, 1], [0, 1])
        ctx.figure(fig, "line", "a line")

    @register(key, "broken", title="broken", minutes={"colab": 1, "full": 1}, tiny_seconds=0.5)
    def broken(ctx: Context) -> None:
        """Fails after making a figure."""
        import matplotlib.pyplot as plt

        ctx.figure(plt.figure(), "partial", "never kept")
        raise RuntimeError("boom")

    @register(key, "expensive", title="expensive", minutes={"colab": 500, "full": 900}, tiny_seconds=3000)
    def expensive(ctx: Context) -> None:
        """Must never run under a small budget."""
        raise AssertionError("the budget check should have skipped this experiment")

    @register(key, "flaky", title="flaky", minutes={"colab": 1, "full": 1}, tiny_seconds=0.5)
    def flaky(ctx: Context) -> None:
        """Succeeds, or fails (or is interrupted) after drawing its figure, as STATE says."""
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots()
        ax.set_title(f"attempt {STATE['attempt']}")
        ctx.figure(fig, "plot", f"attempt {STATE['attempt']}")
        ctx.number("attempt", STATE["attempt"])
        if STATE["mode"] == "fail":
            raise ValueError("flaky failed")
        if STATE["mode"] == "interrupt":
            raise KeyboardInterrupt

    @register(key, "later", title="later", minutes={"colab": 1, "full": 1}, tiny_seconds=0.5)
    def later(ctx: Context) -> None:
        """Registered after flaky: not started once a run is interrupted."""
        ctx.number("ran", True)

    STATE.update(attempt=0, mode="ok")
    yield key
    CHAPTERS.pop(key, None)
    EXPERIMENTS.pop(key, None)


def test_chapter_aliases_and_unknown_names():
    for alias in ("4", "04", "ch04", "dcgan", "04_dcgan", "results/04_dcgan/"):
        assert registry.resolve_chapter(alias) == "04_dcgan"
    assert registry.resolve_chapter("benchmarks") == "benchmarks"
    with pytest.raises(ValueError, match="unknown chapter '42'"):
        registry.resolve_chapter("42")


def test_registry_rejects_bad_declarations():
    load_all()
    with pytest.raises(ValueError, match="not declared"):
        register("77_nowhere", "x", title="x", minutes={"colab": 1, "full": 1})
    with pytest.raises(ValueError, match="needs an estimate"):
        register("04_dcgan", "x", title="x", minutes={"colab": 1})
    with pytest.raises(ValueError, match="lower-case"):
        register("04_dcgan", "Bad Name", title="x", minutes={"colab": 1, "full": 1})
    with pytest.raises(ValueError, match="positive"):
        register("04_dcgan", "x", title="x", minutes={"colab": 0, "full": 1})


def test_context_checks_what_it_records(tmp_path):
    ctx = Context(profile="full", tiny=False, device=torch.device("cpu"), seed=0, out_dir=tmp_path, name="e")
    assert ctx.size(tiny=1, colab=2, full=3) == 3 and ctx.size(tiny=1, colab=2) == 2
    ctx.number("t", torch.tensor(2.5))
    ctx.number("nan", float("nan"))
    assert ctx.numbers == {"t": 2.5, "nan": "nan"}
    with pytest.raises(ValueError, match="4 elements"):
        ctx.number("v", torch.zeros(4))
    with pytest.raises(TypeError, match="not a scalar"):
        ctx.number("l", [1, 2])
    with pytest.raises(ValueError, match="1 cells for 2 columns"):
        ctx.table("t", ["a", "b"], [[1]])
    with pytest.raises(ValueError, match="figure key"):
        ctx.figure(None, "Bad key", "x")


def test_index_says_not_recorded_before_anything_runs(tmp_path):
    text = render_index("14", tmp_path)
    assert "Not recorded yet" in text and "not been recorded" in text
    assert "python -m course_lib.results run 14_yolov1 --profile colab --budget-minutes" in text
    assert "| `14_yolov1/train` |" in text and text.count("| not recorded |") == 2   # its run and the loss benchmark
    assert "python -m course_lib.results run benchmarks --only yolo_loss" in text
    assert "{figure}" not in text                                                   # no figure before a record


def test_committed_indexes_are_current_and_included_by_the_theory_pages():
    load_all()
    for key in CHAPTERS:
        path = REPO / "results" / key / "index.md"
        assert path.exists(), f"{path} missing: run python -m course_lib.results index and commit it"
        assert path.read_text() == render_index(key, REPO / "results"), f"{path} is stale: regenerate it"
        tracked = subprocess.run(["git", "ls-files", "--error-unmatch", str(path)], cwd=REPO, capture_output=True)
        assert tracked.returncode == 0, f"{path} is not in git: the book build needs it"
    included = {}
    for page in sorted(REPO.glob("chapters/*/theory.md")):
        for key in INCLUDE.findall(page.read_text()):
            included[key] = page
            assert key in CHAPTERS, f"{page} includes results/{key}/index.md of no registered chapter"
            assert "Results on a GPU" in page.read_text()
    for key in ("02_original_gan", "04_dcgan", "05_losses_regularizers", "06_evaluating_gans",
                "09_progressive_and_style", "13_detection_fundamentals", "14_yolov1", "15_yolov2", "16_yolov3",
                "17_yolov4_tiny"):
        assert key in included, f"chapters/{key}/theory.md does not include its results index"


def test_tiny_run_records_numbers_provenance_figures_and_index(tmp_path, capsys):
    out = tmp_path / "results"
    profile_before = os.environ.get("COURSE_PROFILE")
    assert main(["run", "4", "--profile", "colab", "--budget-minutes", "5", "--tiny", "--out", str(out),
                 "--device", "cpu", "--only", "mnist"]) == 0
    printed = capsys.readouterr().out
    assert "recorded  04_dcgan/mnist" in printed and "skipped" not in printed
    assert os.environ.get("COURSE_PROFILE") == profile_before          # the run's own profile does not leak
    folder = out / "04_dcgan"
    rec = validate_record(json.loads((folder / "mnist.json").read_text()))
    prov = rec["provenance"]
    assert set(PROVENANCE_KEYS) <= set(prov)
    assert prov["command"] == ("python -m course_lib.results run 4 --profile colab --budget-minutes 5 --tiny --out "
                               f"{out} --device cpu --only mnist")
    assert prov["profile"] == "colab" and prov["tiny"] is True and prov["seed"] == 0
    assert prov["device_type"] == "cpu" and prov["device"].startswith("CPU")
    assert prov["torch"] == torch.__version__ and prov["cuda"] == torch.version.cuda
    assert re.fullmatch(r"[0-9a-f]{40}", prov["git_commit"]) and isinstance(prov["git_dirty"], bool)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", prov["date_utc"])
    assert 0 < prov["wall_seconds"] < 120
    nums = rec["numbers"]
    assert nums["generator_steps"] == 3 and nums["training_digits"] == 256 and nums["eval_samples"] == 64
    assert nums["course_fid_vs_test_digits"] > 0
    assert [f["file"] for f in rec["figures"]] == ["mnist_samples.png", "mnist_losses.png"]
    for fig in rec["figures"]:
        assert (folder / fig["file"]).read_bytes()[:8] == PNG
    index = (folder / "index.md").read_text()
    assert index == render_index("04_dcgan", out)
    assert "**DCGAN on MNIST**" in index and "A **tiny** CPU test run" in index
    assert "| generator_steps | 3 |" in index and "```{figure} /results/04_dcgan/mnist_samples.png" in index
    assert prov["command"] in index
    assert "Not recorded yet: some experiments" in index and "| `04_dcgan/faces` |" in index   # the rest: pending
    assert "| `04_dcgan/mnist` |" not in index


def test_benchmark_records_show_in_their_chapter(tmp_path, capsys):
    out = tmp_path / "r"
    report = record.run(["benchmarks"], "colab", 5, out, tiny=True, device="cpu", only=["nms"])
    assert report.recorded == ["benchmarks/nms"] and not report.failed
    rec = validate_record(json.loads((out / "benchmarks" / "nms.json").read_text()))
    assert rec["numbers"]["all_same_indices"] is True
    assert rec["tables"]["NMS timings"]["columns"][0] == "op"
    ch13 = (out / "13_detection_fundamentals" / "index.md").read_text()   # rewritten with the benchmark
    assert "**NMS against torchvision**" in ch13 and "```{figure} /results/benchmarks/nms_ratio.png" in ch13
    assert "Not recorded" not in ch13


def test_budget_of_zero_records_nothing_and_says_so(tmp_path, capsys):
    out = tmp_path / "r"
    assert main(["run", "04_dcgan", "benchmarks", "--profile", "full", "--budget-minutes", "0", "--tiny", "--out",
                 str(out), "--device", "cpu"]) == 0
    printed = capsys.readouterr().out
    assert "nothing recorded" in printed
    n = len(EXPERIMENTS["04_dcgan"]) + len(EXPERIMENTS["benchmarks"])
    assert printed.count("skip ") == n and f"skipped {n}:" in printed and "over budget" in printed
    assert not list(out.rglob("*.json")) and not list(out.rglob("*.png"))
    assert "Not recorded yet" in (out / "04_dcgan" / "index.md").read_text()


def test_budget_stops_what_does_not_fit_and_failures_are_reported(tmp_path, fake_chapter, capsys):
    out = tmp_path / "r"
    only = ["cheap", "broken", "expensive"]
    report = record.run([fake_chapter], "colab", 1.0, out, tiny=True, device="cpu", command="cmd", only=only)
    assert report.recorded == [f"{fake_chapter}/cheap"]
    assert [name for name, _ in report.failed] == [f"{fake_chapter}/broken"] and "boom" in report.failed[0][1]
    assert [name for name, _ in report.skipped] == [f"{fake_chapter}/expensive"]
    assert "estimated 50.00 min" in report.skipped[0][1]
    folder = out / fake_chapter
    assert sorted(p.name for p in folder.iterdir()) == ["cheap.json", "cheap_line.png", "index.md"]
    rec = json.loads((folder / "cheap.json").read_text())
    torch.manual_seed(7)
    assert rec["numbers"] == {"draw": torch.rand(()).item(), "steps": 1}      # seeded with the experiment's seed
    assert rec["tables"]["t"] == {"columns": ["a", "b"], "rows": [[1, 2.5], ["x", None]]}
    assert rec["provenance"]["seed"] == 7 and rec["provenance"]["command"] == "cmd"
    index = (folder / "index.md").read_text()
    assert "| `99_test_only/broken` |" in index and "| `99_test_only/expensive` |" in index
    assert "FAILED    99_test_only/broken: RuntimeError: boom" in capsys.readouterr().out
    # the command's exit status says that something failed
    assert main(["run", fake_chapter, "--profile", "colab", "--budget-minutes", "1", "--tiny", "--out", str(out),
                 "--device", "cpu", "--only", "cheap", "broken"]) == 1


def test_a_failed_or_interrupted_rerun_keeps_the_earlier_record(tmp_path, fake_chapter, capsys):
    folder = tmp_path / fake_chapter
    STATE.update(attempt=1, mode="ok")
    assert record.run([fake_chapter], "colab", 1, tmp_path, tiny=True, device="cpu", only=["flaky"]).recorded
    first_png = (folder / "flaky_plot.png").read_bytes()
    for attempt, mode in [(2, "fail"), (3, "interrupt")]:
        STATE.update(attempt=attempt, mode=mode)
        report = record.run([fake_chapter], "colab", 1, tmp_path, tiny=True, device="cpu", only=["flaky", "later"])
        if mode == "fail":          # a failure stops only itself
            assert report.recorded == [f"{fake_chapter}/later"] and report.failed and not report.interrupted
        else:                       # an interrupt stops the run
            assert report.recorded == [] and not report.failed and report.interrupted
        assert json.loads((folder / "flaky.json").read_text())["numbers"]["attempt"] == 1
        assert (folder / "flaky_plot.png").read_bytes() == first_png
        assert not list(folder.glob(".*partial"))
    assert report.interrupted == f"{fake_chapter}/flaky"
    assert report.skipped == [(f"{fake_chapter}/later", "interrupted")]           # the rest is not started
    (folder / "later.json").unlink()
    assert "interrupted (Ctrl-C) during 99_test_only/flaky" in capsys.readouterr().out
    assert main(["run", fake_chapter, "--profile", "colab", "--budget-minutes", "1", "--tiny", "--out", str(tmp_path),
                 "--device", "cpu", "--only", "flaky"]) == 130


def test_validate_record_rejects_bad_records(tmp_path, fake_chapter):
    record.run([fake_chapter], "colab", 1.0, tmp_path, tiny=True, device="cpu", only=["cheap"])
    good = json.loads((tmp_path / fake_chapter / "cheap.json").read_text())
    validate_record(good)
    for breaking, message in [
        (lambda r: r.pop("numbers"), "misses"),
        (lambda r: r["provenance"].pop("git_commit"), "provenance misses"),
        (lambda r: r["provenance"].update(profile="fast"), "profile"),
        (lambda r: r["numbers"].update(bad=[1]), "not a scalar"),
        (lambda r: r["figures"].append({"file": "x.jpg", "caption": ""}), "figure entry"),
        (lambda r: r.update(schema=2), "schema"),
    ]:
        bad = json.loads(json.dumps(good))
        breaking(bad)
        with pytest.raises(ValueError, match=message):
            validate_record(bad)
    (tmp_path / fake_chapter / "junk.json").write_text("{not json")
    with pytest.warns(UserWarning, match="junk.json: not a valid record"):
        assert set(record.read_records(fake_chapter, tmp_path)) == {"cheap"}   # invalid files are left out


def test_bad_arguments_give_clear_errors(tmp_path, capsys):
    for argv, message in [
        (["run", "42", "--profile", "colab", "--budget-minutes", "5"], "unknown chapter '42'"),
        (["run", "4", "--profile", "fast", "--budget-minutes", "5"], "--profile 'fast': use one of colab, full"),
        (["run", "4", "--profile", "colab", "--budget-minutes", "-1"], "--budget-minutes must be >= 0"),
        (["run", "4", "--profile", "colab"], "--budget-minutes"),
        (["run", "4", "--profile", "colab", "--budget-minutes", "5", "--only", "nope", "--out", str(tmp_path)],
         "unknown experiment"),
        (["run", "4", "--profile", "colab", "--budget-minutes", "5", "--tiny"], "a --tiny run needs --out"),
    ]:
        with pytest.raises(SystemExit) as err:
            main(argv)
        assert err.value.code == 2
        assert message in capsys.readouterr().err
    with pytest.raises(ValueError, match="unknown profile 'gpu'"):
        record.run(["4"], "gpu", 5, tmp_path)
    with pytest.raises(ValueError, match=">= 0"):
        record.run(["4"], "colab", -2, tmp_path)
    assert not list(tmp_path.rglob("*.json"))


def test_list_and_the_module_entry_point(tmp_path):
    done = subprocess.run([sys.executable, "-m", "course_lib.results", "list", "--out", str(tmp_path)], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "04_dcgan: Chapter 4: DCGAN" in done.stdout and "[not recorded]" in done.stdout
    assert "(its page also shows benchmarks/nms)" in done.stdout
    assert main(["index", "--out", str(tmp_path)]) == 0
    assert {p.parent.name for p in tmp_path.glob("*/index.md")} == set(CHAPTERS)


def test_dry_run_plans_within_the_budget_and_records_nothing(tmp_path, capsys):
    load_all()
    profile_before = os.environ.get("COURSE_PROFILE")
    colab = {f"{e.chapter}/{e.name}": e.minutes["colab"] for exps in EXPERIMENTS.values() for e in exps.values()}
    assert main(["run", "--profile", "colab", "--budget-minutes", "20", "--out", str(tmp_path), "--dry-run"]) == 0
    printed = capsys.readouterr().out
    would = re.findall(r"would run  (\S+)", printed)
    assert would and sum(colab[name] for name in would) <= 20
    assert set(would) | set(re.findall(r"would skip (\S+)", printed)) == set(colab)
    assert not list(tmp_path.iterdir())
    assert os.environ.get("COURSE_PROFILE") == profile_before

