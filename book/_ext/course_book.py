"""The book's own small Sphinx extension (``local_extensions`` in ``_config.yml``): fixes for what readers meet.

1. Each page declared ``const THEBE_JS_URL`` twice (a SyntaxError in the console) and set ``togglebuttonSelector``
   twice. Cause, in Sphinx 7.4 (the line Jupyter Book 1 allows): an inline script registered with
   ``app.add_js_file(None, body=...)`` after the builder's ``init()`` (sphinx-thebe does it at
   ``env-before-read-docs``, sphinx-togglebutton at ``builder-inited``) goes into the builder as filename ``None``;
   ``prepare_writing`` then re-adds every registered asset as filename ``''``, and ``None != ''`` defeats the
   builder's duplicate check. ``_dedupe_scripts`` drops the second copy from every page's ``script_files``.
2. ``book/_static``: ``course-book.js`` (sidebar toggles, click-to-enlarge figures, figure alt text and captions,
   scrollable wide tables) and ``course-book.css`` (figures, equations, inline code on phones), served by the book
   itself. They are registered here and not through a top-level ``_static/`` folder, because Jupyter Book would
   then add every ``.js`` of every static path to every page, the widget scripts of ``.widgets_js`` included.
3. Lab figures: a code cell's image output followed by the paragraph ``*Figure N.M: ...*`` (the course's caption
   convention, CONTRIBUTING.md) becomes one ``<figure>``: the image with the caption's text as its alt text (it was
   the file path) and the caption as its ``<figcaption>`` (it was a separate italic paragraph). When the cell draws
   several pictures, each gets the caption as alt text ("picture k of n") and the last one the figure.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from docutils import nodes

STATIC = Path(__file__).resolve().parents[1] / "_static"


def _script_key(script: Any) -> tuple:
    filename = getattr(script, "filename", script) or ""
    attributes = getattr(script, "attributes", {}) or {}
    return (str(filename), tuple(sorted((str(k), str(v)) for k, v in attributes.items())))


def dedupe(scripts: list) -> list:
    """The scripts in order, each (file name or inline body, attributes) once; ``None`` and ``''`` are one name."""
    seen: set[tuple] = set()
    kept = []
    for script in scripts:
        key = _script_key(script)
        if key in seen:
            continue
        seen.add(key)
        kept.append(script)
    return kept


def _dedupe_scripts(app: Any, pagename: str, templatename: str, context: dict, doctree: Any) -> None:
    if "script_files" in context:
        context["script_files"] = dedupe(list(context["script_files"]))


CAPTION = re.compile(r"Figure\s+(?:[A-Z]|\d+)\.\d+\s*:")


def _caption_paragraph(node: nodes.Node) -> nodes.paragraph | None:
    """``node`` when it is a caption paragraph: one emphasis whose text starts 'Figure N.M:'."""
    if not isinstance(node, nodes.paragraph):
        return None
    children = [c for c in node.children if not (isinstance(c, nodes.Text) and not c.astext().strip())]
    if len(children) != 1 or not isinstance(children[0], nodes.emphasis):
        return None
    return node if CAPTION.match(children[0].astext().strip()) else None


def _is_cell(node: nodes.Node) -> bool:
    return isinstance(node, nodes.container) and "cell" in node.get("classes", [])


def figures_with_captions(doctree: nodes.document) -> int:
    """Wrap each captioned lab figure in a figure node; return how many were wrapped."""
    done = 0
    for cell in list(doctree.findall(_is_cell)):
        parent = cell.parent
        if parent is None:
            continue
        images = [img for img in cell.findall(nodes.image)]
        if not images:
            continue
        index = parent.index(cell)
        following = parent.children[index + 1] if index + 1 < len(parent.children) else None
        paragraph = _caption_paragraph(following) if following is not None else None
        if paragraph is None:
            continue
        image = images[-1]   # a cell with several pictures: the caption goes under the last, each gets its text
        emphasis = next(c for c in paragraph.children if isinstance(c, nodes.emphasis))
        text = " ".join(emphasis.astext().split())
        for k, picture in enumerate(images, start=1):
            picture["alt"] = text if len(images) == 1 else f"{text} (picture {k} of {len(images)})"
        caption = nodes.caption("", "", *[child.deepcopy() for child in emphasis.children])
        figure = nodes.figure("", classes=["course-lab-figure"])
        # an id (HTML numfig warns on a figure without one; it is not in the numbering, the caption has its number)
        number = CAPTION.match(text).group(0)
        base = nodes.make_id(number.rstrip(":").replace(".", "-"))
        figure_id, n = base, 1
        while figure_id in doctree.ids:
            n += 1
            figure_id = f"{base}-{n}"
        figure["ids"] = [figure_id]
        doctree.ids[figure_id] = figure
        image.replace_self(figure)
        figure += image
        figure += caption
        parent.remove(paragraph)
        done += 1
    return done


def _figures(app: Any, doctree: nodes.document, docname: str) -> None:
    if app.builder.format == "html":
        figures_with_captions(doctree)


def _add_static_path(app: Any) -> None:
    if str(STATIC) not in app.config.html_static_path:
        app.config.html_static_path.append(str(STATIC))


def setup(app: Any) -> dict:
    app.connect("builder-inited", _add_static_path)
    app.add_css_file("course-book.css")
    app.add_js_file("course-book.js", loading_method="defer")
    # after the other extensions' page-context handlers (myst-nb adds the widget scripts there)
    app.connect("html-page-context", _dedupe_scripts, priority=900)
    app.connect("doctree-resolved", _figures)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "version": "1"}
