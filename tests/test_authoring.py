"""The learner-notebook generator and the sync check (one source of truth per notebook)."""

import textwrap

import jupytext
import nbformat
import pytest

from course_lib import authoring
from course_lib.authoring import AuthoringError, learner_version, strip_code_solution, strip_markdown_solution

SOURCE = textwrap.dedent('''\
    ---
    jupytext:
      text_representation:
        extension: .md
        format_name: myst
        format_version: 0.13
    kernelspec:
      display_name: Python 3
      language: python
      name: python3
    ---

    # Lab 9: Test

    ### Exercise 9.1: Squares
    **3 points · difficulty ★★☆ · about 10 min**

    Write it.

    ```{code-cell} ipython3
    :tags: [exercise-9.1]

    def square(x):
        """Return x * x."""
        # BEGIN SOLUTION
        y = x * x
        return y
        # END SOLUTION
    ```

    ```{code-cell} ipython3
    :tags: [check-9.1, nbval-check-output]

    print(square(3))
    ```

    Why? <!-- BEGIN SOLUTION -->Because.<!-- END SOLUTION -->

    ```{code-cell} ipython3
    :tags: [solution-only]

    print("secret")
    ```
    ''')


def test_strip_code_solution_keeps_indentation():
    src = "def f(x):\n    '''doc'''\n    # BEGIN SOLUTION\n    return x\n    # END SOLUTION\n"
    out = strip_code_solution(src, "9.1")
    assert out == ("def f(x):\n    '''doc'''\n    # YOUR CODE HERE\n"
                   "    raise NotImplementedError(\"Exercise 9.1 is not implemented yet.\")\n")
    compile(out, "<learner>", "exec")


@pytest.mark.parametrize("src, message", [
    ("# BEGIN SOLUTION\nx = 1\n# END SOLUTION", "inside a function body"),
    ("def f():\n    # BEGIN SOLUTION\n    return 1\n", "never closed"),
    ("def f():\n    return 1\n    # END SOLUTION", "without a BEGIN"),
    ("def f():\n    # BEGIN SOLUTION\n    # BEGIN SOLUTION\n", "inside another"),
])
def test_strip_code_solution_bad_markers(src, message):
    with pytest.raises(AuthoringError, match=message):
        strip_code_solution(src, "9.1")


def test_strip_markdown_solution():
    assert strip_markdown_solution("A <!-- BEGIN SOLUTION -->x\ny<!-- END SOLUTION --> B") == "A *Your answer here.* B"
    with pytest.raises(AuthoringError, match="unbalanced"):
        strip_markdown_solution("<!-- BEGIN SOLUTION --> x")


def test_learner_version_of_a_notebook():
    nb = jupytext.reads(SOURCE, fmt="md:myst")
    learner = learner_version(nb)
    text = jupytext.writes(learner, fmt="md:myst")
    assert "y = x * x" not in text and "secret" not in text and "Because" not in text
    assert 'raise NotImplementedError("Exercise 9.1 is not implemented yet.")' in text
    assert "*Your answer here.*" in text
    assert len(learner.cells) == len(nb.cells) - 1
    # the learner version of a learner version changes nothing more (idempotent)
    assert jupytext.writes(learner_version(learner), fmt="md:myst") == text


@pytest.fixture
def repo(tmp_path, monkeypatch):
    (tmp_path / "_toc.yml").write_text("format: jb-book\n")
    (tmp_path / "solutions" / "09_test").mkdir(parents=True)
    (tmp_path / "chapters").mkdir()
    (tmp_path / "solutions" / "09_test" / "lab.md").write_text(SOURCE)
    monkeypatch.chdir(tmp_path)
    # a fake exercise registry for chapter 09
    import sys
    import types

    from course_lib.exercises import Exercise
    module = types.ModuleType("course_lib.exercises.ch09")
    module.EXERCISES = {"9.1": Exercise("9.1", "Squares", 3, 2, 10)}
    monkeypatch.setitem(sys.modules, "course_lib.exercises.ch09", module)
    return tmp_path


def _fake_execute(source):
    nb = jupytext.read(source, fmt="md:myst")
    for i, cell in enumerate(c for c in nb.cells if c.cell_type == "code"):
        cell.execution_count = i + 1
    source.with_suffix(".ipynb").write_text(nbformat.writes(nb))


def test_generate_then_check_is_clean(repo):
    assert authoring.repo_root() == repo
    changed = authoring.generate(repo)
    assert {p.name for p in changed} == {"lab.md", "lab.ipynb"}
    learner = jupytext.read(repo / "chapters/09_test/lab.ipynb")
    assert learner.metadata["course"]["generated_from"] == "solutions/09_test/lab.md"
    assert all(not c.get("outputs") for c in learner.cells if c.cell_type == "code")
    assert authoring.generate(repo) == []  # nothing changes the second time
    _fake_execute(repo / "solutions/09_test/lab.md")
    assert authoring.check(repo) == []


def test_check_finds_stale_and_broken_files(repo):
    authoring.generate(repo)
    _fake_execute(repo / "solutions/09_test/lab.md")
    src = repo / "solutions/09_test/lab.md"
    src.write_text(SOURCE.replace("Write it.", "Write it well."))
    problems = authoring.check(repo)
    assert any("chapters/09_test/lab.md is stale" in p for p in problems)
    assert any("lab.ipynb does not match its source" in p for p in problems)
    authoring.generate(repo)
    _fake_execute(src)
    assert authoring.check(repo) == []
    (repo / "chapters/09_test/lab.md").write_text("edited by hand")
    assert any("stale" in p for p in authoring.check(repo))


@pytest.mark.parametrize("edit, message", [
    (("**3 points", "**2 points"), "badge line should be **3 points"),
    (("Exercise 9.1: Squares", "Exercise 9.1: Cubes"), "title 'Cubes' != 'Squares'"),
    ((":tags: [check-9.1, nbval-check-output]", ":tags: [check-9.1]"), "lacks the nbval-check-output tag"),
    ((":tags: [exercise-9.1]", ":tags: []"), "no cell tagged exercise-9.1"),
    (("### Exercise 9.1: Squares", "### Exercise 9.2: Squares"), "9.2 is not in course_lib.exercises.ch09"),
])
def test_check_exercise_convention(repo, edit, message):
    src = repo / "solutions/09_test/lab.md"
    src.write_text(SOURCE.replace(*edit))
    authoring.generate(repo)
    _fake_execute(src)
    assert any(message in p for p in authoring.check(repo)), authoring.check(repo)
