"""The learner notebooks as Colab and plain Jupyter show them (issue 18, item 6).

The book reads ``chapters/*/lab.md`` (MyST: real citations and cross-references); Colab opens ``chapters/*/lab.ipynb``,
whose Markdown must be plain: no MyST role, target or directive left, no book-only math macro, citations written out
from ``book/references.bib`` with a References cell. These checks need no built book.
"""

import re
from pathlib import Path

import jupytext
import nbformat
import pytest
import yaml

from course_lib.authoring import _generated, find_sources, learner_version
from course_lib.plain_markdown import ROLE, BookIndex, PlainMarkdownError, parse_bibtex, plain_markdown, plain_notebook

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "chapters").glob("*/lab.ipynb"))
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
BOOK_MACROS = sorted(CONFIG["sphinx"]["config"]["mathjax3_config"]["tex"]["macros"])
CITE = re.compile(r"\{cite(?::[a-z]+)?\}`([^`]*)`")


def _prose(markdown: str) -> str:
    """A Markdown cell without its fenced code blocks."""
    return re.sub(r"^([ \t]*)(`{3,}|~{3,}).*?^\1\2[ \t]*$", "", markdown, flags=re.M | re.S)


@pytest.fixture(scope="module")
def index():
    return BookIndex.load(ROOT)


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 10 and BOOK_MACROS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.parent.name)
def test_colab_notebook_has_plain_markdown(path, index):
    nb = nbformat.read(path, as_version=4)
    source_md = (path.with_suffix(".md")).read_text()
    problems = []
    for number, cell in enumerate(nb.cells):
        if cell.cell_type != "markdown":
            continue
        prose = _prose(cell.source)
        for role in ROLE.finditer(prose):
            problems.append(f"cell {number}: MyST role {role.group(0)!r}")
        for line in prose.split("\n"):
            if re.match(r"^\([A-Za-z0-9_.:-]+\)=\s*$", line) or re.search(r"\$\$\s*\([\w.:-]+\)\s*$", line):
                problems.append(f"cell {number}: MyST target/label {line.strip()!r}")
            if re.match(r"^\s*(:{3,}|`{3,}\s*\{)", line):
                problems.append(f"cell {number}: MyST directive {line.strip()!r}")
        for macro in BOOK_MACROS:
            if re.search(rf"\\{macro}(?![A-Za-z])", prose):
                problems.append(f"cell {number}: book-only macro \\{macro}")
    assert not problems, "\n".join(problems)
    # what the source cites is in the bibliography, and listed in the References cell
    keys = {k.strip() for body in CITE.findall(source_md) for k in body.split(",") if k.strip()}
    assert keys <= set(index.bib), f"unknown citation keys: {sorted(keys - set(index.bib))}"
    last = nb.cells[-1]
    if keys:
        assert last.cell_type == "markdown" and last.source.startswith("## References")
        assert len(re.findall(r"^- ", last.source, flags=re.M)) == len(keys)
        for key in keys:  # each cited work's title is in the list
            title = re.sub(r"[{}]", "", index.bib[key]["title"]).split("\\")[0][:25]
            assert title in last.source, (key, title)
    else:
        assert "references" not in last.get("metadata", {}).get("tags", [])


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.parent.name)
def test_book_page_keeps_its_roles(path):
    """The .md the book reads keeps the real citations and cross-references of its source."""
    md = path.with_suffix(".md").read_text()
    learner = learner_version(jupytext.read(ROOT / "solutions" / path.parent.name / "lab.md", fmt="md:myst"))
    roles = [r.group(0) for c in learner.cells if c.cell_type == "markdown" for r in ROLE.finditer(c.source)]
    assert [r.group(0) for r in ROLE.finditer(md)] == roles


def test_every_source_generates_a_plain_notebook():
    for source in find_sources(ROOT):
        files = _generated(ROOT, source)
        nb = nbformat.reads(next(text for p, text in files.items() if p.suffix == ".ipynb"), as_version=4)
        assert not [c for c in nb.cells if c.cell_type == "markdown" and ROLE.search(_prose(c.source))], source


# --- the pieces --------------------------------------------------------------------------------------------------


BIB = r"""
@inproceedings{one2020solo, author = {Huszár, Ferenc and {\"O}zt{\"u}rk, Ay{\c c}a}, title = {A {GAN}}, year = {2020},
  eprint = {2001.00001}}
@article{many2019, author = {Bottou, L{\'e}on and Miko{\l}aj Bi{\'n}kowski and van den Oord, A{\"a}ron},
  title = "Many", journal = {J}, year = 2019, doi = {10.1/x}}
@misc{solo2018, author = {Devroye, Luc}, title = {Solo}, year = {2018}}
"""


def _index(tmp_path, baseurl=None):
    index = BookIndex(root=tmp_path, bib=parse_bibtex(BIB), baseurl=baseurl,
                      macros={"E": ("\\mathbb{E}", 0), "norm": ("\\lVert #1 \\rVert", 1)})
    (tmp_path / "chapters" / "04_x").mkdir(parents=True)
    (tmp_path / "chapters" / "04_x" / "theory.md").write_text(
        "# Chapter 4: X\n\n:::{prf:theorem} T\n:label: ch4-t\n:::\n\n:::{prf:lemma} L\n:label: ch4-l\n:::\n\n"
        ":::{prf:theorem} U\n:label: ch4-u\n:::\n\n$$\na\n$$ (ch4-eq)\n\n(ch4-sec)=\n## Results\n")
    index._scan(tmp_path / "chapters" / "04_x" / "theory.md")
    return index


def test_bibtex_names_and_accents(tmp_path):
    bib = parse_bibtex(BIB)
    assert set(bib) == {"one2020solo", "many2019", "solo2018"} and bib["many2019"]["year"] == "2019"
    text, _ = plain_markdown("{cite:p}`many2019` and {cite:t}`one2020solo`", _index(tmp_path), "chapters/04_x/lab")
    assert text == "(Bottou et al., 2019) and Huszár and Öztürk (2020)"


def test_citation_styles(tmp_path):
    index = _index(tmp_path)
    here = "chapters/04_x/lab"
    assert plain_markdown("{cite}`solo2018`", index, here)[0] == "(Devroye, 2018)"
    assert plain_markdown("{cite:p}`solo2018,many2019`", index, here)[0] == "(Devroye, 2018; Bottou et al., 2019)"
    assert plain_markdown("{cite:t}`solo2018`", index, here)[0] == "Devroye (2018)"
    with pytest.raises(PlainMarkdownError, match="nosuchkey"):
        plain_markdown("{cite:p}`nosuchkey`", index, here)


def test_references_cell_and_links(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("See {cite:p}`many2019,one2020solo`.")])
    out = plain_notebook(nb, _index(tmp_path), "chapters/04_x/lab")
    refs = out.cells[-1].source
    assert "Léon Bottou, Mikołaj Bińkowski, Aäron van den Oord (2019). *Many*. J. <https://doi.org/10.1/x>" in refs
    assert "<https://arxiv.org/abs/2001.00001>" in refs and refs.index("Bottou") < refs.index("Huszár")
    assert nb.cells[0].source == "See {cite:p}`many2019,one2020solo`."  # the input is not modified


def test_cross_references(tmp_path):
    index = _index(tmp_path)
    here = "chapters/04_x/lab"
    md = lambda s: plain_markdown(s, index, here)[0]  # noqa: E731
    assert md("{prf:ref}`ch4-u` says") == "Theorem 2 of the theory page says"
    assert md("({prf:ref}`ch4-l` on the theory page)") == "(Lemma 1 on the theory page)"
    assert md("equation {eq}`ch4-eq`") == "equation (1) of the theory page"
    assert md("{ref}`the results <ch4-sec>`, {ref}`ch4-sec`") == "the results, Results of the theory page"
    assert md("{doc}`theory`") == "*Chapter 4: X*"
    assert md("{math}`\\alpha`") == "$\\alpha$"
    linked = _index(tmp_path / "b", baseurl="https://book.example/")
    assert plain_markdown("{doc}`theory`", linked, here)[0] == "[Chapter 4: X](https://book.example/chapters/04_x/theory.html)"
    assert plain_markdown("{prf:ref}`ch4-t`", linked, here)[0] == (
        "[Theorem 1](https://book.example/chapters/04_x/theory.html#ch4-t) of the theory page")
    with pytest.raises(PlainMarkdownError, match="unknown label"):
        md("{ref}`nowhere`")
    with pytest.raises(PlainMarkdownError, match="role"):
        md("{term}`GAN`")
    with pytest.raises(PlainMarkdownError, match="directive"):
        md(":::{note}\nhi\n:::")


def test_macros_expanded_outside_code(tmp_path):
    index = _index(tmp_path)
    text, _ = plain_markdown("$\\E_x \\norm{v}^2$, `\\E` stays\n\n```python\n\\E\n```\n(lbl)=\n$$\nx\n$$ (lbl2)",
                             index, "chapters/04_x/lab")
    assert text == "${\\mathbb{E}}_x {\\lVert v \\rVert}^2$, `\\E` stays\n\n```python\n\\E\n```\n$$\nx\n$$"
    assert not plain_markdown("\\Expected", index, "x")[0].startswith("{")
