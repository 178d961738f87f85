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

    ```{code-cell} ipython3
    import sys
    if "google.colab" in sys.modules:  # on Colab: install course_lib (everything else is preinstalled)
        %pip install -q "course-lib @ git+{{ repository.url }}@{{ repository.branch }}"
    ```

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


CONFIG = "title: test\nrepository:\n  url: {url}\n  path_to_book: \"\"\n  branch: main\n"


@pytest.fixture
def repo(tmp_path, monkeypatch):
    (tmp_path / "_toc.yml").write_text("format: jb-book\n")
    (tmp_path / "_config.yml").write_text(CONFIG.format(url="https://github.com/gans-yolo-course/course"))
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
    nb = authoring._source_notebook(source.parents[2], source)  # as `execute` runs it: install cell filled in
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


# --- the Colab install cell comes from _config.yml ------------------------------------------------------------------

INSTALL_LINE = '    %pip install -q "course-lib @ git+{}@main"'


def _install_source(nb):
    return next(c for c in nb.cells if c.cell_type == "code").source


def test_install_cell_is_filled_in_from_the_config(repo):
    authoring.generate(repo)
    src = repo / "solutions/09_test/lab.md"
    _fake_execute(src)
    new = "https://example.org/someone/gan-course"
    for path in (repo / "chapters/09_test/lab.md", repo / "chapters/09_test/lab.ipynb", src.with_suffix(".ipynb")):
        assert INSTALL_LINE.format("https://github.com/gans-yolo-course/course") in _install_source(jupytext.read(path))
    # publishing under another URL: one line of _config.yml, then generate (no re-execution needed)
    (repo / "_config.yml").write_text(CONFIG.format(url=new))
    problems = authoring.check(repo)
    assert sum("its install cell does not match _config.yml" in p for p in problems) == 3, problems
    assert all("make notebooks" in p for p in problems)
    changed = authoring.generate(repo)
    assert {p.relative_to(repo).as_posix() for p in changed} == {
        "chapters/09_test/lab.md", "chapters/09_test/lab.ipynb", "solutions/09_test/lab.ipynb"}
    assert authoring.check(repo) == []
    for path in (repo / "chapters/09_test/lab.md", repo / "chapters/09_test/lab.ipynb", src.with_suffix(".ipynb")):
        assert _install_source(jupytext.read(path)) == authoring.install_cell(repo)
        assert INSTALL_LINE.format(new) in _install_source(jupytext.read(path))
    executed = nbformat.read(src.with_suffix(".ipynb"), as_version=4)
    assert all(c.execution_count for c in executed.cells if c.cell_type == "code")  # the outputs were kept
    assert "{{" not in (repo / "chapters/09_test/lab.md").read_text()  # no placeholder reaches a learner
    assert authoring.generate(repo) == []


@pytest.mark.parametrize("install, message", [
    # an old copy with the URL written by hand (even the right one) is reported: the next URL change would miss it
    ('    %pip install -q "course-lib @ git+https://github.com/gans-yolo-course/course@main"',
     "the first code cell writes the repository URL by hand"),
    ('    %pip install -q "course-lib @ git+https://github.com/elsewhere/course@main"',
     "the first code cell writes the repository URL by hand"),
    ('    %pip install -q course-lib', "the first code cell is not the Colab install cell"),
])
def test_check_reports_a_source_without_the_install_template(repo, install, message):
    src = repo / "solutions/09_test/lab.md"
    src.write_text(SOURCE.replace('    %pip install -q "course-lib @ git+{{ repository.url }}@{{ repository.branch }}"',
                                  install))
    authoring.generate(repo)
    _fake_execute(src)
    problems = authoring.check(repo)
    assert any(p.startswith(f"solutions/09_test/lab.md: {message}") and authoring.INSTALL_TEMPLATE in p
               for p in problems), problems
    if "by hand" in message:  # the generated notebooks follow the config all the same
        assert _install_source(jupytext.read(repo / "chapters/09_test/lab.ipynb")) == authoring.install_cell(repo)


@pytest.mark.parametrize("config, message", [
    ("title: x\n", "repository.url must be an https:// URL"),
    ("repository:\n  url: git@github.com:a/b\n", "repository.url must be an https:// URL"),
    ("repository:\n  url: https://github.com/a/b\n  branch: 'a b'\n", "repository.branch must be a branch name"),
])
def test_bad_repository_config(repo, config, message):
    (repo / "_config.yml").write_text(config)
    with pytest.raises(AuthoringError, match=message):
        authoring.install_cell(repo)
    assert any(message in p for p in authoring.check(repo))


def test_repository_url_forms(repo):
    (repo / "_config.yml").write_text("repository:\n  url: https://github.com/a/b.git/\n")
    assert authoring.repository(repo) == ("https://github.com/a/b", "main")
    (repo / "_config.yml").unlink()
    with pytest.raises(AuthoringError, match="_config.yml not found"):
        authoring.repository(repo)


# --- the real course: every lab's install line agrees with _config.yml ---------------------------------------------

ROOT = authoring.repo_root()


def _config():
    import yaml

    return yaml.safe_load((ROOT / "_config.yml").read_text())


@pytest.mark.parametrize("source", authoring.find_sources(ROOT), ids=lambda p: p.parent.name)
def test_every_lab_install_line_agrees_with_the_config(source):
    repo_cfg = _config()["repository"]
    line = f'%pip install -q "course-lib @ git+{repo_cfg["url"].rstrip("/")}@{repo_cfg.get("branch", "main")}"'
    assert _install_source(jupytext.read(source, fmt="md:myst")).rstrip() == authoring.INSTALL_TEMPLATE, (
        f"{source.relative_to(ROOT)}: its first code cell must be exactly authoring.INSTALL_TEMPLATE")
    md, ipynb = authoring._learner_paths(ROOT, source)
    for path in (md, ipynb, source.with_suffix(".ipynb")):
        assert path.exists(), f"{path.relative_to(ROOT)} is missing: run `make notebooks`"
        got = _install_source(jupytext.read(path)).split("\n")[-1].strip()
        assert got == line, (f"{path.relative_to(ROOT)} installs from {got!r}, but _config.yml says {line!r}: "
                             "run `make notebooks`")


def test_book_pages_take_the_repository_url_from_the_config():
    config = _config()
    url = config["repository"]["url"]
    assert config["parse"]["myst_substitutions"]["repository_url"] == url
    pages = [*ROOT.glob("book/*.md"), *ROOT.glob("chapters/*/theory.md")]
    hard_coded = [p.relative_to(ROOT).as_posix() for p in pages if url.rstrip("/") in p.read_text()]
    assert not hard_coded, (f"{hard_coded} write the repository URL by hand: use {{{{ repository_url }}}} "
                            "(a MyST substitution from _config.yml) instead")
