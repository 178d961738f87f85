"""One source of truth per notebook: make the learner notebooks from the solved sources, and check they are fresh.

The source of a chapter's lab is ``solutions/NN_slug/lab.md`` (MyST Markdown, jupytext). From it this module makes

- ``chapters/NN_slug/lab.md``: the learner notebook, with every solution region replaced by a stub;
- ``chapters/NN_slug/lab.ipynb``: its jupytext pair (no outputs), which the book's Colab button opens; its Markdown
  cells are made plain (citations, cross-references and math macros of the book written out, see
  :mod:`course_lib.plain_markdown`), since Colab and plain Jupyter know no MyST; the book itself reads the ``.md``;
- ``solutions/NN_slug/lab.ipynb``: the source executed in the ``fast`` profile, whose check outputs are the reference
  that nbval compares against (``execute``).

Commands (``python -m course_lib.authoring CMD`` or ``course-sync CMD``):

- ``generate``: write the learner ``.md``/``.ipynb`` of every source;
- ``execute [SOURCE ...]``: execute sources and write their ``solutions/.../lab.ipynb``;
- ``check``: exit 1 when a generated file is stale, a solution ``.ipynb`` does not match its source, or an
  exercise's heading, badge, stub cell or check cell breaks the convention of CONTRIBUTING.md.

Markers (see CONTRIBUTING.md): ``# BEGIN SOLUTION`` / ``# END SOLUTION`` inside a function body;
``<!-- BEGIN SOLUTION -->`` / ``<!-- END SOLUTION -->`` in Markdown; the ``solution-only`` cell tag.

The Colab install cell: the first code cell of every source is exactly :data:`INSTALL_TEMPLATE`, whose
``{{ repository.url }}`` and ``{{ repository.branch }}`` this module fills in from ``_config.yml`` in the learner
notebooks and the executed references. The repository URL is written in ``_config.yml`` only: publishing the course
under another URL is a change of ``repository.url`` there, then ``make notebooks`` (``generate`` rewrites the install
cell of the learner notebooks and of the executed references; that cell does nothing outside Colab, so its recorded
output stays valid and nothing is re-executed). ``check`` reports a source whose install cell is not the template.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import importlib
import os
import re
import sys
import time
from pathlib import Path

import nbformat

from course_lib.plain_markdown import BookIndex, PlainMarkdownError, plain_notebook

__all__ = [
    "learner_version",
    "strip_code_solution",
    "strip_markdown_solution",
    "find_sources",
    "INSTALL_TEMPLATE",
    "repository",
    "install_cell",
    "generate",
    "execute",
    "check",
    "main",
]

CODE_BEGIN = re.compile(r"^(?P<indent>[ \t]*)# BEGIN SOLUTION[ \t]*$")
CODE_END = re.compile(r"^[ \t]*# END SOLUTION[ \t]*$")
MD_REGION = re.compile(r"<!-- BEGIN SOLUTION -->.*?<!-- END SOLUTION -->", re.DOTALL)
EXERCISE_HEADING = re.compile(r"^### Exercise (?P<id>\d+\.\d+): (?P<title>.+?)\s*$")
MYST_FMT = "md:myst"
CONFIG_FILE = "_config.yml"

#: The first code cell of every source, verbatim; ``{{ repository.url }}`` and ``{{ repository.branch }}`` are filled
#: in from ``_config.yml`` (see :func:`install_cell`). New chapters copy it from any existing source.
INSTALL_TEMPLATE = (
    "import sys\n"
    'if "google.colab" in sys.modules:  # on Colab: install course_lib (everything else is preinstalled)\n'
    '    %pip install -q "course-lib @ git+{{ repository.url }}@{{ repository.branch }}"'
)
# an install cell in any state: the template, or filled in with some URL (an old copy, or a URL written by hand)
_INSTALL_CELL = re.compile(
    r'\Aimport sys\nif "google\.colab" in sys\.modules:.*\n[ \t]+%pip install -q "course-lib @ git\+\S+@[^"\s]+"\s*\Z'
)


class AuthoringError(ValueError):
    """A source notebook breaks the authoring convention."""


def _tags(cell) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def _exercise_id(cell) -> str | None:
    for tag in _tags(cell):
        if tag.startswith("exercise-"):
            return tag[len("exercise-") :]
    return None


def strip_code_solution(source: str, exercise_id: str | None, where: str = "cell") -> str:
    """Replace each ``# BEGIN SOLUTION`` ... ``# END SOLUTION`` region by a ``raise NotImplementedError``.

    The ``raise`` keeps the indentation of the ``BEGIN`` line. Unbalanced markers raise :class:`AuthoringError`.
    """
    out: list[str] = []
    inside = False
    label = f"Exercise {exercise_id}" if exercise_id else "This exercise"
    for number, line in enumerate(source.split("\n"), start=1):
        begin, end = CODE_BEGIN.match(line), CODE_END.match(line)
        if begin:
            if inside:
                raise AuthoringError(f"{where}, line {number}: '# BEGIN SOLUTION' inside another solution region.")
            if not begin.group("indent"):
                raise AuthoringError(
                    f"{where}, line {number}: a solution region must be inside a function body (indented), so that "
                    "the learner notebook still runs."
                )
            inside = True
            indent = begin.group("indent")
            out.append(f"{indent}# YOUR CODE HERE")
            out.append(f'{indent}raise NotImplementedError("{label} is not implemented yet.")')
        elif end:
            if not inside:
                raise AuthoringError(f"{where}, line {number}: '# END SOLUTION' without a BEGIN.")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise AuthoringError(f"{where}: '# BEGIN SOLUTION' is never closed.")
    return "\n".join(out)


def strip_markdown_solution(source: str) -> str:
    """Replace each ``<!-- BEGIN SOLUTION -->`` ... ``<!-- END SOLUTION -->`` region by a prompt."""
    if source.count("<!-- BEGIN SOLUTION -->") != source.count("<!-- END SOLUTION -->"):
        raise AuthoringError("unbalanced <!-- BEGIN SOLUTION --> / <!-- END SOLUTION --> markers in a Markdown cell.")
    return MD_REGION.sub("*Your answer here.*", source)


def learner_version(nb: nbformat.NotebookNode, where: str = "notebook") -> nbformat.NotebookNode:
    """The learner notebook made from a solved source notebook (outputs dropped)."""
    learner = copy.deepcopy(nb)
    cells = []
    for index, cell in enumerate(nb.cells):
        if "solution-only" in _tags(cell):
            continue
        new = copy.deepcopy(cell)
        if cell.cell_type == "code":
            new.source = strip_code_solution(cell.source, _exercise_id(cell), f"{where}, cell {index}")
            new.outputs = []
            new.execution_count = None
        elif cell.cell_type == "markdown":
            new.source = strip_markdown_solution(cell.source)
        cells.append(new)
    learner.cells = cells
    return learner


# --- files ---------------------------------------------------------------------------------------------------------


def repo_root() -> Path:
    """The repository root: the folder holding ``_toc.yml`` above the current directory (or this package)."""
    for start in (Path.cwd(), Path(__file__).resolve().parent):
        for folder in (start, *start.parents):
            if (folder / "_toc.yml").exists() and (folder / "solutions").is_dir():
                return folder
    raise AuthoringError("cannot find the repository root (a folder with _toc.yml and solutions/).")


def find_sources(root: Path) -> list[Path]:
    """Every solved source notebook: ``solutions/*/*.md`` in MyST notebook format."""
    return sorted(p for p in (root / "solutions").glob("*/*.md") if "format_name: myst" in p.read_text()[:400])


def _read_source(path: Path) -> nbformat.NotebookNode:
    import jupytext

    return jupytext.read(path, fmt=MYST_FMT)


# --- the Colab install cell, from _config.yml ------------------------------------------------------------------------


def repository(root: Path) -> tuple[str, str]:
    """``(url, branch)`` of the course repository, from ``_config.yml``'s ``repository.url`` and ``.branch``."""
    import yaml

    path = root / CONFIG_FILE
    if not path.exists():
        raise AuthoringError(f"{CONFIG_FILE} not found in {root}: it holds repository.url, used by the install cell.")
    config = yaml.safe_load(path.read_text()) or {}
    repo = config.get("repository") or {}
    url, branch = repo.get("url"), repo.get("branch", "main")
    if not isinstance(url, str) or not re.fullmatch(r"https://\S+", url.strip()):
        raise AuthoringError(f"{CONFIG_FILE}: repository.url must be an https:// URL, got {url!r}.")
    if not isinstance(branch, str) or not re.fullmatch(r"[^\s\"@]+", branch.strip()):
        raise AuthoringError(f"{CONFIG_FILE}: repository.branch must be a branch name, got {branch!r}.")
    url = url.strip().rstrip("/")
    return url[: -len(".git")] if url.endswith(".git") else url, branch.strip()


def install_cell(root: Path) -> str:
    """The install cell of every learner notebook and executed reference: the template with ``_config.yml``'s values."""
    url, branch = repository(root)
    return INSTALL_TEMPLATE.replace("{{ repository.url }}", url).replace("{{ repository.branch }}", branch)


def _first_code_cell(nb: nbformat.NotebookNode):
    return next((cell for cell in nb.cells if cell.cell_type == "code"), None)


def _is_install_cell(cell) -> bool:
    return cell is not None and (cell.source.rstrip() == INSTALL_TEMPLATE or bool(_INSTALL_CELL.match(cell.source)))


def _fill_install_cell(nb: nbformat.NotebookNode, root: Path) -> bool:
    """Write :func:`install_cell` into the notebook's install cell (its first code cell); True when it changed.

    An install cell filled in with another URL (an old copy) is rewritten too, so the generated notebooks always follow
    ``_config.yml``; ``check`` reports the source itself.
    """
    cell = _first_code_cell(nb)
    if not _is_install_cell(cell):
        return False
    wanted = install_cell(root)
    if cell.source == wanted:
        return False
    cell.source = wanted
    return True


def _source_notebook(root: Path, path: Path) -> nbformat.NotebookNode:
    """A source as it is executed and turned into the learner notebook: its install cell filled in."""
    nb = _read_source(path)
    _fill_install_cell(nb, root)
    return nb


def _check_install_cell(root: Path, source: Path, nb: nbformat.NotebookNode) -> list[str]:
    """A problem when the source's first code cell is not exactly :data:`INSTALL_TEMPLATE` (read, not filled)."""
    cell = _first_code_cell(nb)
    if cell is not None and cell.source.rstrip() == INSTALL_TEMPLATE:
        return []
    where = source.relative_to(root).as_posix()
    what = ("writes the repository URL by hand" if _is_install_cell(cell)
            else "is not the Colab install cell")
    return [
        f"{where}: the first code cell {what}; it must be exactly these three lines (copy them from any other source; "
        f"`make notebooks` fills in repository.url and repository.branch from {CONFIG_FILE}):\n{INSTALL_TEMPLATE}"
    ]


def _learner_paths(root: Path, source: Path) -> tuple[Path, Path]:
    rel = source.relative_to(root / "solutions")
    md = root / "chapters" / rel
    return md, md.with_suffix(".ipynb")


def _ipynb_text(nb: nbformat.NotebookNode) -> str:
    import jupytext

    nb = copy.deepcopy(nb)
    nb.metadata.pop("jupytext", None)  # the pair is made by this tool; Colab needs no jupytext metadata
    _stable_ids(nb)
    return jupytext.writes(nb, fmt="ipynb")


def _stable_ids(nb: nbformat.NotebookNode) -> None:
    """Cell ids derived from position and content, so that regenerating an unchanged notebook changes nothing."""
    for index, cell in enumerate(nb.cells):
        digest = hashlib.sha1(f"{cell.cell_type}\n{cell.source}".encode()).hexdigest()[:8]
        cell["id"] = f"c{index:03d}-{digest}"


def _generated(root: Path, source: Path) -> dict[Path, str]:
    """The learner files a source makes, as {path: text}."""
    import jupytext

    nb = _source_notebook(root, source)
    learner = learner_version(nb, where=str(source.relative_to(root)))
    md_path, ipynb_path = _learner_paths(root, source)
    # say where it comes from in the notebook's metadata (the .md's YAML header and the .ipynb alike)
    learner.metadata["course"] = {
        "generated_from": source.relative_to(root).as_posix(),
        "note": "GENERATED by `make notebooks`: do not edit; edit the source.",
    }
    md_text = jupytext.writes(learner, fmt=MYST_FMT)
    # the book reads the .md (its roles and macros are the book's); Colab opens the .ipynb: plain Markdown there
    here = md_path.relative_to(root).with_suffix("").as_posix()
    try:
        colab = plain_notebook(learner, BookIndex.load(root), here, where=str(source.relative_to(root)))
    except PlainMarkdownError as err:
        raise AuthoringError(str(err)) from err
    return {md_path: md_text, ipynb_path: _ipynb_text(colab)}


def _write_executed(nb: nbformat.NotebookNode, path: Path) -> None:
    _stable_ids(nb)
    path.write_text(nbformat.writes(nb) + "\n")


def generate(root: Path) -> list[Path]:
    """Write every learner ``.md``/``.ipynb``; return the paths that changed.

    Also brings the install cell of each executed reference ``solutions/.../NAME.ipynb`` up to date with
    ``_config.yml`` (that cell does nothing outside Colab: its recorded output does not depend on the URL).
    """
    changed = []
    for source in find_sources(root):
        for path, text in _generated(root, source).items():
            if not path.exists() or path.read_text() != text:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text)
                changed.append(path)
        executed = source.with_suffix(".ipynb")
        if executed.exists():
            ref = nbformat.read(executed, as_version=4)
            if _fill_install_cell(ref, root):
                _write_executed(ref, executed)
                changed.append(executed)
    return changed


def execute(root: Path, sources: list[Path], timeout: int = 600) -> None:
    """Execute each source in the ``fast`` profile and write ``solutions/.../NAME.ipynb`` with its outputs."""
    from nbclient import NotebookClient

    for source in sources:
        nb = _source_notebook(root, source)
        nb.metadata.pop("jupytext", None)
        env_before = os.environ.get("COURSE_PROFILE")
        os.environ["COURSE_PROFILE"] = "fast"
        start = time.perf_counter()
        try:
            NotebookClient(nb, timeout=timeout, kernel_name="python3",
                           resources={"metadata": {"path": str(source.parent)}}).execute()
        finally:
            if env_before is None:
                os.environ.pop("COURSE_PROFILE", None)
            else:
                os.environ["COURSE_PROFILE"] = env_before
        out = source.with_suffix(".ipynb")
        _write_executed(nb, out)
        print(f"executed {source.relative_to(root)} in {time.perf_counter() - start:.1f} s -> {out.relative_to(root)}")


def _cell_key(cell) -> tuple[str, str, tuple[str, ...]]:
    return (cell.cell_type, cell.source.rstrip("\n"), tuple(_tags(cell)))


def _check_exercises(root: Path, source: Path, nb: nbformat.NotebookNode) -> list[str]:
    """Problems with the exercise convention in one source notebook."""
    problems: list[str] = []
    where = source.relative_to(root).as_posix()
    chapter = source.parent.name.split("_", 1)[0]
    try:
        module = importlib.import_module(f"course_lib.exercises.ch{chapter}")
    except ModuleNotFoundError:
        module = None
    registry = getattr(module, "EXERCISES", {}) if module else {}
    headings: dict[str, int] = {}
    stubs: dict[str, int] = {}
    checks: dict[str, int] = {}
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown":
            lines = cell.source.split("\n")
            for k, line in enumerate(lines):
                match = EXERCISE_HEADING.match(line)
                if not match:
                    continue
                ex_id, title = match.group("id"), match.group("title")
                headings[ex_id] = index
                exercise = registry.get(ex_id)
                if exercise is None:
                    problems.append(f"{where}: cell {index}: Exercise {ex_id} is not in course_lib.exercises.ch{chapter}.EXERCISES")
                    continue
                if title != exercise.title:
                    problems.append(f"{where}: cell {index}: Exercise {ex_id} title {title!r} != {exercise.title!r}")
                badge = next((l for l in lines[k + 1 :] if l.strip()), "")
                if badge.strip() != f"**{exercise.badge}**":
                    problems.append(f"{where}: cell {index}: Exercise {ex_id} badge line should be **{exercise.badge}**")
        elif cell.cell_type == "code":
            tags = _tags(cell)
            ex_id = _exercise_id(cell)
            if ex_id:
                stubs[ex_id] = index
                if not any(CODE_BEGIN.match(l) for l in cell.source.split("\n")):
                    problems.append(f"{where}: cell {index}: exercise-{ex_id} cell has no '# BEGIN SOLUTION' region")
            for tag in tags:
                if tag.startswith("check-"):
                    checks[tag[len("check-") :]] = index
                    if "nbval-check-output" not in tags:
                        problems.append(f"{where}: cell {index}: {tag} cell lacks the nbval-check-output tag")
    for ex_id in sorted(set(registry) | set(headings) | set(stubs) | set(checks)):
        if ex_id not in headings:
            problems.append(f"{where}: Exercise {ex_id} has no '### Exercise {ex_id}: ...' heading")
        if ex_id not in stubs:
            problems.append(f"{where}: Exercise {ex_id} has no cell tagged exercise-{ex_id}")
        if ex_id not in checks:
            problems.append(f"{where}: Exercise {ex_id} has no cell tagged check-{ex_id}")
        if ex_id in headings and ex_id in stubs and ex_id in checks and not headings[ex_id] < stubs[ex_id] < checks[ex_id]:
            problems.append(f"{where}: Exercise {ex_id}: heading, stub and check cells must come in that order")
    return problems


def check(root: Path) -> list[str]:
    """Every problem found (an empty list when all is fresh and well-formed)."""
    problems: list[str] = []
    sources = find_sources(root)
    if not sources:
        problems.append("no source notebooks found under solutions/")
    for source in sources:
        rel = source.relative_to(root).as_posix()
        try:
            raw = _read_source(source)
            nb = _source_notebook(root, source)
            generated = _generated(root, source)
        except AuthoringError as err:
            problems.append(str(err))
            continue
        problems.extend(_check_install_cell(root, source, raw))
        install_stale = f"its install cell does not match {CONFIG_FILE}'s repository.url and repository.branch"
        url_mark = "git+{}@{}".format(*repository(root))  # in the .md and (JSON-escaped) in the .ipynb alike
        for path, text in generated.items():
            if not path.exists():
                problems.append(f"{path.relative_to(root)} is missing: run `make notebooks`")
            elif path.read_text() != text:
                why = install_stale if url_mark not in path.read_text() else f"its source {rel} changed"
                problems.append(f"{path.relative_to(root)} is stale ({why}): run `make notebooks`")
        executed = source.with_suffix(".ipynb")
        if not executed.exists():
            problems.append(f"{executed.relative_to(root)} is missing: run `make notebooks`")
        else:
            ref = nbformat.read(executed, as_version=4)
            wanted_keys = [_cell_key(c) for c in nb.cells]
            if [_cell_key(c) for c in ref.cells] != wanted_keys:
                install_only = _fill_install_cell(ref, root) and [_cell_key(c) for c in ref.cells] == wanted_keys
                why = f"is stale ({install_stale})" if install_only else f"does not match its source {rel}"
                problems.append(f"{executed.relative_to(root)} {why}: run `make notebooks`")
            elif any(c.cell_type == "code" and c.source.strip() and c.execution_count is None for c in ref.cells):
                problems.append(f"{executed.relative_to(root)} has unexecuted cells: run `make notebooks`")
        problems.extend(_check_exercises(root, source, nb))
    # no learner notebook without a source
    for md in sorted((root / "chapters").glob("*/lab.md")):
        src = root / "solutions" / md.relative_to(root / "chapters")
        if not src.exists():
            problems.append(f"{md.relative_to(root)} has no source {src.relative_to(root)}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="course-sync", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("generate", help="write the learner notebooks from the sources")
    ex = sub.add_parser("execute", help="execute sources in the fast profile and write their reference .ipynb")
    ex.add_argument("sources", nargs="*", type=Path, help="source .md files (default: all)")
    ex.add_argument("--stale-only", action="store_true", help="only those whose .ipynb does not match the source")
    sub.add_parser("check", help="fail when a generated file is stale or a convention is broken")
    args = parser.parse_args(argv)
    root = repo_root()
    if args.command == "generate":
        changed = generate(root)
        print(f"{len(changed)} learner file(s) written" + "".join(f"\n  {p.relative_to(root)}" for p in changed))
        return 0
    if args.command == "execute":
        sources = [s.resolve() for s in args.sources] or find_sources(root)
        if args.stale_only:
            sources = [s for s in sources if not s.with_suffix(".ipynb").exists() or
                       [_cell_key(c) for c in nbformat.read(s.with_suffix(".ipynb"), as_version=4).cells]
                       != [_cell_key(c) for c in _source_notebook(root, s).cells]]
        execute(root, sources)
        return 0
    problems = check(root)
    for problem in problems:
        print(problem, file=sys.stderr)
    print("notebooks in sync" if not problems else f"{len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
