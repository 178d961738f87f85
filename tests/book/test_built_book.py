"""Checks of the built book (run by `make test` after `jupyter-book build`).

They read `_build/`: the HTML pages and the notebooks as the build executed them.
"""

import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
HTML = ROOT / "_build" / "html"
EXECUTED = ROOT / "_build" / "jupyter_execute"
LABS = sorted(p.relative_to(ROOT / "chapters").with_suffix("") for p in (ROOT / "chapters").glob("*/lab.md"))

pytestmark = pytest.mark.skipif(not HTML.exists(), reason="the book is not built: run `make book` first")


def _page(rel: str) -> str:
    return (HTML / rel).read_text(encoding="utf-8")


def test_there_are_labs():
    assert len(LABS) >= 2


@pytest.mark.parametrize("lab", LABS, ids=str)
def test_lab_has_colab_button_to_committed_ipynb(lab):
    html = _page(f"chapters/{lab}.html")
    links = re.findall(r'href="(https://colab\.research\.google\.com/[^"]+)"', html)
    assert links, "no Open in Colab link on the lab page"
    assert all(link.endswith(f"/blob/main/chapters/{lab}.ipynb") for link in links), links
    assert (ROOT / "chapters" / f"{lab}.ipynb").exists()


@pytest.mark.parametrize("lab", LABS, ids=str)
def test_lab_was_executed_with_figures_and_stub_verdicts(lab):
    nb = nbformat.read(EXECUTED / "chapters" / f"{lab}.ipynb", as_version=4)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    appendix = str(lab).startswith("appendix_")  # an appendix's lab runs demos; graded exercises are the chapters'
    figures = sum("image/png" in o.get("data", {}) for o in outputs)
    assert figures >= (1 if appendix else 3), f"a lab teaches with pictures (found {figures})"
    checks = [c for c in nb.cells if any(t.startswith("check-") for t in c.metadata.get("tags", []))]
    assert appendix or len(checks) >= 3, "at least three graded exercises per chapter"
    for cell in checks:
        text = "".join(o.get("text", "") for o in cell.outputs)
        assert re.fullmatch(r"\[Exercise \d+\.\d+\] .+: not implemented yet, 0/[\d.]+ points\n", text), text


def test_mathjax_is_self_hosted():
    html = _page("chapters/02_original_gan/theory.html")
    assert "_static/mathjax/tex-chtml.js" in html
    assert "cdn.jsdelivr.net/npm/mathjax" not in html and "cdnjs" not in html
    assert (HTML / "_static" / "mathjax" / "tex-chtml.js").exists()


def test_widgets_are_self_hosted():
    """Pages with static widgets (the latent-walk and NMS sliders) draw them with the book's own scripts."""
    pages = [p for p in HTML.rglob("*.html") if "application/vnd.jupyter.widget-state+json" in p.read_text("utf-8")]
    assert len(pages) >= 2, "the widget pages (chapters 4 and 13) lost their widget state"
    for page in pages:
        html = page.read_text(encoding="utf-8")
        scripts = [s.split("?")[0] for s in re.findall(r"<script[^>]*src=\"([^\"]+)\"", html)]
        assert any(s.endswith("_static/widgets/require.js") for s in scripts), page
        assert any(s.endswith("_static/widgets/embed-amd.js") for s in scripts), page
    for page in HTML.rglob("*.html"):   # no page loads a script or a style sheet from another site
        html = page.read_text(encoding="utf-8")
        remote = re.findall(r'<script[^>]*src="(https?:[^"]+)"', html) + \
            re.findall(r'<link[^>]*rel="stylesheet"[^>]*href="(https?:[^"]+)"', html)
        assert not remote, (page, remote)
    for name in ("require.js", "embed-amd.js"):
        assert (HTML / "_static" / "widgets" / name).stat().st_size > 10_000


def test_theory_pages_have_proofs_and_citations():
    for chapter in ("01_generative_models", "02_original_gan"):
        html = _page(f"chapters/{chapter}/theory.html")
        assert 'class="admonition proof"' in html or "proof" in html
        assert re.search(r'class="[^"]*(theorem|proposition)', html), chapter
        assert "bibliography.html#id" in html or 'href="../../book/bibliography.html' in html, "cites the papers"


def test_bibliography_lists_goodfellow():
    assert "Generative adversarial nets" in _page("book/bibliography.html")
