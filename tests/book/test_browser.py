"""The built book in a real headless browser (Debian's Chromium over the DevTools protocol, offline, on loopback).

What a reader meets (issue 18): the table of contents opens on a phone and a tablet and the hamburger collapses it on
a desktop; no page logs a console error, throws, or requests a missing file; no page scrolls sideways on a phone and
no display equation is wider than the text column on a desktop; lab figures are real figures (caption, alt text),
are drawn at a readable scale and enlarge on a click.

Every page is loaded once at 1366 px and once at 390 px (``survey``), and the parametrized tests read the
measurements; the whole module takes well under two minutes. ``make test`` installs Chromium first
(``make chromium``); where it cannot be installed the module is skipped with the reason.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from chromium_cdp import Chromium, find_chromium, serve

ROOT = Path(__file__).resolve().parents[2]
HTML = Path(os.environ.get("BOOK_HTML", ROOT / "_build" / "html"))  # BOOK_HTML: another built copy
PAGES = sorted(p.relative_to(HTML).as_posix() for p in HTML.rglob("*.html")
               if not p.relative_to(HTML).parts[0].startswith("_")) if HTML.exists() else []
LAB_PAGES = [p for p in PAGES if p.startswith("chapters/") and p.endswith("/lab.html")]
THEORY_PAGE = "chapters/02_original_gan/theory.html"  # a long page: many sidebar and 'On this page' entries
if THEORY_PAGE not in PAGES:
    THEORY_PAGE = next((p for p in PAGES if p.endswith("/theory.html")), "")
DESKTOP, TABLET, PHONE = 1366, 900, 390

# A lab figure is a PNG at matplotlib's 100 dpi: 10-pt text is 13.9 px tall at scale 1. Below 0.6 of its size it
# is under 8.3 px, and 9-pt text (the course's smallest, STYLE.md) under 7.5 px: not readable at the page width.
MIN_FIGURE_SCALE = 0.6
# Labs whose figures were drawn before the readable-scale rule (issue 18, item 2) and are not redrawn yet: the test
# runs on them and must fail (strict), so that a redrawn lab is taken off this list.
NOT_YET_REDRAWN: set[str] = set()

if not HTML.exists():
    pytestmark = pytest.mark.skip(reason="the book is not built: run `make book` first")
elif find_chromium() is None:
    pytestmark = pytest.mark.skip(
        reason="NO BROWSER CHECKS: Chromium is not installed and could not be (`make chromium` needs root or sudo "
               "and Debian's packages); install it with `apt-get install -y chromium` and rerun")

# Waits until MathJax has typeset the page and the static widgets (if any) are drawn, then measures.
SETTLE = """(async () => {
  const sleep = ms => new Promise(r => setTimeout(r, ms));
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) await MathJax.startup.promise;
  if (document.querySelector('script[type="application/vnd.jupyter.widget-state+json"]')) {
    for (let i = 0; i < 100 && !document.querySelector('.jupyter-widgets.widget-slider, .widget-slider'); i++)
      await sleep(50);
  }
  await sleep(100);
  return true;
})()"""

MEASURE = """(() => {
  const doc = document.documentElement;
  const out = {hscroll: doc.scrollWidth - doc.clientWidth, wide: [], equations: [], figures: []};
  if (out.hscroll > 1) {
    for (const el of document.querySelectorAll('.bd-article *')) {
      const r = el.getBoundingClientRect();
      if (r.right > doc.clientWidth + 1 && r.width > 0 && !el.closest('.course-table-scroll, mjx-container'))
        out.wide.push(el.tagName.toLowerCase() + '.' + el.className + ': ' + (el.textContent || '').slice(0, 60));
      if (out.wide.length > 5) break;
    }
  }
  for (const eq of document.querySelectorAll('.bd-article mjx-container[display="true"]')) {
    if (eq.scrollWidth > eq.clientWidth + 1)
      out.equations.push([eq.scrollWidth, eq.clientWidth, (eq.querySelector('mjx-assistive-mml') || eq).textContent.slice(0, 60)]);
  }
  for (const img of document.querySelectorAll('.bd-article .cell_output img')) {
    if (img.closest('.jupyter-widgets')) continue;
    const fig = img.closest('figure');
    const cap = fig && fig.querySelector('figcaption');
    out.figures.push({src: img.src.split('/').pop(), natural: img.naturalWidth,
                      shown: img.getBoundingClientRect().width, alt: img.alt || '',
                      caption: cap ? cap.textContent.trim().slice(0, 40) : null,
                      zoom: img.classList.contains('course-zoomable')});
  }
  out.labels = Array.from(document.querySelectorAll('.widget-label')).map(
    l => [l.textContent, l.querySelector('mjx-container') !== null]);
  return out;
})()"""


def _visit(page, url: str) -> dict:
    page.events.clear()
    page.goto(url)
    for attempt in range(3):  # index.html sends the reader on to the start page (a meta refresh)
        try:
            page.evaluate(SETTLE, await_promise=True)
            break
        except RuntimeError as err:
            if "navigated" not in str(err) or attempt == 2:
                raise
            page.wait_event("Page.loadEventFired", since=len(page.events) - 1 if page.events else 0)
    page.pump(0.05)
    found = page.evaluate(MEASURE)
    found["problems"] = sorted(set(page.problems()))
    return found


@pytest.fixture(scope="module")
def site():
    with serve(HTML) as base:
        yield base


@pytest.fixture(scope="module")
def browser():
    with Chromium() as chromium:
        yield chromium


@pytest.fixture(scope="module")
def survey(site, browser):
    """Every page at desktop and phone width: {(width, page): measurements}."""
    start = time.monotonic()
    results: dict = {}
    for width, mobile in ((DESKTOP, False), (PHONE, True)):
        tab = browser.new_page(width=width, height=900, mobile=mobile)
        for rel in PAGES:
            results[(width, rel)] = _visit(tab, site + rel)
    results["seconds"] = time.monotonic() - start
    return results


def test_the_survey_is_fast_enough(survey):
    assert len(PAGES) >= 30, PAGES
    assert survey["seconds"] < 120, f"browser checks of {len(PAGES)} pages took {survey['seconds']:.0f} s"


@pytest.mark.parametrize("rel", PAGES)
def test_no_console_errors_or_missing_files(survey, rel):
    for width in (DESKTOP, PHONE):
        assert survey[(width, rel)]["problems"] == [], (width, rel)


def test_widget_labels_are_typeset_by_mathjax(survey):
    """The widget manager's MathJax-2 call reaches MathJax 3 (the shim of tools/fetch_widget_js.py)."""
    labels = [(key[1], text, typeset) for key, found in survey.items() if isinstance(key, tuple) and key[0] == DESKTOP
              for text, typeset in found["labels"]]
    assert labels, "no widget labels found (the chapter 4 and 13 sliders)"
    raw = [label for label in labels if ("\\(" in label[1] or "$" in label[1]) and not label[2]]
    assert not raw, f"labels left as TeX source: {raw}"
    assert any(typeset for _, _, typeset in labels), f"no label typeset: {labels}"


@pytest.mark.parametrize("rel", PAGES)
def test_no_sideways_scrolling_on_a_phone(survey, rel):
    found = survey[(PHONE, rel)]
    assert found["hscroll"] <= 1, f"{rel} scrolls {found['hscroll']} px sideways at {PHONE} px: {found['wide']}"


# Appendix A's theory page is written by `python -m course_lib.zoo` from the zoo entries' `loss_latex`, which the
# chapters' modules own: a page listed here would be one whose generated equations are known to be too wide (none
# now: the long formulas are split with `aligned` in their modules).
GENERATED_WIDE_EQUATIONS: set[str] = set()


@pytest.mark.parametrize("rel", [pytest.param(p, marks=pytest.mark.xfail(
    reason="generated from the zoo entries' loss_latex (course_lib.zoo): split them there")) if p in
    GENERATED_WIDE_EQUATIONS else p for p in PAGES])
def test_display_equations_fit_the_column_on_a_desktop(survey, rel):
    assert survey[(DESKTOP, rel)]["equations"] == [], f"equations wider than the column at {DESKTOP} px"


@pytest.mark.parametrize("rel", [pytest.param(p, marks=pytest.mark.xfail(
    strict=True, reason="figures drawn too wide, not redrawn yet (issue 18, item 2)")) if p in NOT_YET_REDRAWN
    else p for p in LAB_PAGES])
def test_lab_figures_are_readable_at_the_page_width(survey, rel):
    figures = survey[(DESKTOP, rel)]["figures"]
    assert figures, f"no figures found on {rel}"
    small = [(f["src"][:12], f["natural"], round(f["shown"] / f["natural"], 2)) for f in figures
             if f["natural"] and f["shown"] / f["natural"] < MIN_FIGURE_SCALE]
    assert not small, f"{len(small)} of {len(figures)} figures drawn below {MIN_FIGURE_SCALE}x at {DESKTOP} px: {small}"


@pytest.mark.parametrize("rel", LAB_PAGES)
def test_lab_figures_have_captions_alt_text_and_enlarge(survey, rel):
    figures = survey[(DESKTOP, rel)]["figures"]
    assert figures
    for figure in figures:  # the caption after the cell is the alt text (CONTRIBUTING.md's caption convention)
        assert figure["zoom"], figure
        assert figure["alt"].startswith("Figure"), f"no caption after the figure's cell (alt text {figure['alt']!r})"
    captioned = [f for f in figures if f["caption"]]
    assert captioned, "no <figure> with a <figcaption>"
    for figure in captioned:
        assert figure["caption"].startswith("Figure"), figure


def _buttons(tab, selector: str) -> list:
    return tab.evaluate(f"""Array.from(document.querySelectorAll('{selector}')).map(b => {{
        const r = b.getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2, r.width * r.height]; }})""")


def _click_visible(tab, selector: str) -> None:
    visible = [b for b in _buttons(tab, selector) if b[2] > 0]
    assert len(visible) == 1, f"{len(visible)} visible {selector} buttons"
    tab.click_at(visible[0][0], visible[0][1])
    tab.pump(0.4)


def _press_escape(tab) -> None:
    for kind in ("keyDown", "keyUp"):
        tab.send("Input.dispatchKeyEvent", type=kind, key="Escape", code="Escape", windowsVirtualKeyCode=27)
    tab.pump(0.3)


VISIBLE_LINKS = """Array.from(document.querySelectorAll('%s a')).filter(a => {
    const r = a.getBoundingClientRect(); return r.width > 0 && r.height > 0 && r.bottom > 0 && r.top < innerHeight;
}).length"""


@pytest.mark.parametrize("width", [PHONE, TABLET])
def test_table_of_contents_and_on_this_page_open_on_phone_and_tablet(site, browser, width):
    tab = browser.new_page(width=width, height=844, mobile=width < 500)
    tab.goto(site + THEORY_PAGE)
    assert tab.evaluate("document.querySelector('#pst-primary-sidebar-modal').open") is False
    _click_visible(tab, ".primary-toggle")
    assert tab.evaluate("document.querySelector('#pst-primary-sidebar-modal').open") is True, "the sidebar did not open"
    assert tab.evaluate(VISIBLE_LINKS % "#pst-primary-sidebar-modal") >= 5, "the table of contents is not shown"
    _press_escape(tab)
    assert tab.evaluate("document.querySelector('#pst-primary-sidebar-modal').open") is False
    _click_visible(tab, ".secondary-toggle")
    assert tab.evaluate("document.querySelector('#pst-secondary-sidebar-modal').open") is True, \
        "'On this page' did not open"
    assert tab.evaluate(VISIBLE_LINKS % "#pst-secondary-sidebar-modal") >= 3
    _press_escape(tab)
    assert tab.problems() == []


def test_hamburger_collapses_and_restores_the_sidebar_on_a_desktop(site, browser):
    tab = browser.new_page(width=DESKTOP, height=900)
    tab.goto(site + THEORY_PAGE)
    # the width of the sidebar that is on the screen (the theme slides a hidden one off it, or hides it)
    shown = """(() => { const s = document.querySelector('#pst-primary-sidebar'); const r = s.getBoundingClientRect();
        const st = getComputedStyle(s); if (st.display === 'none' || st.visibility === 'hidden') return 0;
        return Math.max(0, Math.min(r.right, innerWidth) - Math.max(r.left, 0)); })()"""
    assert tab.evaluate(shown) > 100
    _click_visible(tab, ".primary-toggle")
    assert tab.evaluate("document.querySelector('#pst-primary-sidebar').classList.contains('pst-sidebar-hidden')")
    tab.pump(0.6)  # the theme animates it
    assert tab.evaluate(shown) < 5, "the hamburger did not collapse the sidebar"
    _click_visible(tab, ".primary-toggle")
    tab.pump(0.6)
    assert tab.evaluate(shown) > 100
    assert tab.problems() == []


def test_a_figure_enlarges_on_click_and_closes_with_escape(site, browser):
    tab = browser.new_page(width=PHONE, height=844, mobile=True)
    tab.goto(site + LAB_PAGES[0])
    tab.evaluate(SETTLE, await_promise=True)
    where = tab.evaluate("""(() => { const img = document.querySelector('.bd-article .cell_output img.course-zoomable');
        img.scrollIntoView({block: 'center'}); const r = img.getBoundingClientRect();
        return [r.x + r.width / 2, r.y + r.height / 2, r.width, img.naturalWidth]; })()""")
    tab.pump(0.2)
    tab.click_at(where[0], where[1])
    tab.pump(0.3)
    state = tab.evaluate("""(() => { const d = document.querySelector('dialog.course-lightbox');
        return d && [d.open, d.querySelector('img').getBoundingClientRect().width, d.querySelector('img').alt]; })()""")
    assert state and state[0], "no dialog opened"
    assert state[1] >= min(where[3], 1.5 * where[2]) - 1, f"enlarged {state[1]} px, on the page {where[2]} px"
    assert state[2].startswith("Figure")
    _press_escape(tab)
    assert tab.evaluate("document.querySelector('dialog.course-lightbox').open") is False
    assert tab.problems() == []
