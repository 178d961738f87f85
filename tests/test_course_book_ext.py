"""The book's Sphinx extension (book/_ext/course_book.py) without a book build: script de-duplication and figures."""

import importlib.util
from pathlib import Path

import pytest
from docutils import nodes
from docutils.frontend import get_default_settings
from docutils.parsers.rst import Parser
from docutils.utils import new_document

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("course_book", ROOT / "book" / "_ext" / "course_book.py")
course_book = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(course_book)


def test_dedupe_treats_none_and_empty_file_names_as_one_inline_script():
    from sphinx.builders.html._assets import _JavaScript

    body = {"body": 'const THEBE_JS_URL = "x"'}
    scripts = [_JavaScript("_static/a.js"), _JavaScript(None, **body), _JavaScript("_static/b.js", defer="defer"),
               _JavaScript("", **body), _JavaScript("_static/a.js"), _JavaScript("", body="let other = 1")]
    assert _JavaScript(None, **body) != _JavaScript("", **body)  # Sphinx 7.4's duplicate check misses these
    kept = course_book.dedupe(scripts)
    assert [(s.filename, s.attributes.get("body")) for s in kept] == [
        ("_static/a.js", None), (None, body["body"]), ("_static/b.js", None), ("", "let other = 1")]


def _cell_with_image(uri: str, n_images: int = 1) -> nodes.container:
    output = nodes.container(classes=["cell_output"])
    for k in range(n_images):
        output += nodes.image(uri=f"{uri}{k}", alt=f"{uri}{k}")
    cell = nodes.container(classes=["cell"])
    cell += nodes.container(classes=["cell_input"])
    cell += output
    return cell


def _caption(text: str) -> nodes.paragraph:
    return nodes.paragraph("", "", nodes.emphasis(text, text))


def _document() -> nodes.document:
    return new_document("test", get_default_settings(Parser))


def test_captioned_lab_figures_become_figures_with_alt_text():
    doc = _document()
    section = nodes.section()
    doc += section
    section += _cell_with_image("_images/a.png")
    section += _caption("Figure 4.1: Left, the counts; right, the outputs.")
    section += nodes.paragraph("", "Body text.")
    section += _cell_with_image("_images/b.png")
    section += _caption("Figure A.1: Samples of every recipe.")
    section += _cell_with_image("_images/c.png")          # no caption after it: left alone
    section += nodes.paragraph("", "", nodes.emphasis("Not a caption", "Not a caption"))
    section += _cell_with_image("_images/d.png", n_images=2)   # two pictures, one caption: under the last one
    section += _caption("Figure 4.2: Two pictures.")

    assert course_book.figures_with_captions(doc) == 3
    figures = list(doc.findall(nodes.figure))
    assert [f["ids"] for f in figures] == [["figure-4-1"], ["figure-a-1"], ["figure-4-2"]]
    first = figures[0]
    assert first.children[0]["alt"] == "Figure 4.1: Left, the counts; right, the outputs."
    assert isinstance(first.children[1], nodes.caption)
    assert first.children[1].astext() == "Figure 4.1: Left, the counts; right, the outputs."
    assert isinstance(first.parent, nodes.container) and "cell_output" in first.parent["classes"]
    texts = [p.astext() for p in section.children if isinstance(p, nodes.paragraph)]
    assert texts == ["Body text.", "Not a caption"]  # the moved captions are gone
    assert [img["alt"] for img in doc.findall(nodes.image)][2:] == [
        "_images/c.png0", "Figure 4.2: Two pictures. (picture 1 of 2)", "Figure 4.2: Two pictures. (picture 2 of 2)"]
    assert figures[2].children[0]["uri"] == "_images/d.png1"
    assert not isinstance(next(doc.findall(lambda n: isinstance(n, nodes.image) and n["uri"] == "_images/d.png0"))
                          .parent, nodes.figure)


def test_a_repeated_figure_number_gets_a_unique_id():
    doc = _document()
    for _ in range(2):
        doc += _cell_with_image("_images/x.png")
        doc += _caption("Figure 2.3: The same number twice.")
    assert course_book.figures_with_captions(doc) == 2
    assert [f["ids"] for f in doc.findall(nodes.figure)] == [["figure-2-3"], ["figure-2-3-2"]]


@pytest.mark.parametrize("text", ["Figure 1: no chapter", "Table 4.1: a table", "figure 4.1: lower case"])
def test_other_paragraphs_are_not_captions(text):
    assert course_book._caption_paragraph(_caption(text)) is None
