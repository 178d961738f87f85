"""README's chapter table and the book's intro say which chapters are written, and agree with ``_toc.yml``.

A chapter counts as written when its toc entry has a lab section (``chapters/NN_slug/lab``), or, for a page that has
no lab by design (the reading list), when its page is no longer the "being written" outline. When a chapter lands,
the lead adds its lab to ``_toc.yml`` and updates README.md's Status column and the "Chapters ... are written"
sentence of ``book/intro.md``; these tests fail with the exact text to write. Nothing here needs the built book.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
TABLE_HEADER = re.compile(r"^\|\s*Part\s*\|\s*Chapters\s*\|\s*Status\s*\|\s*$")
# Pages that are complete without a lab (no code runs there by design).
LABLESS = {"C"}
INTRO_SENTENCE = re.compile(r"^(?P<sentence>Chapters? (?P<list>[0-9A-Z][^;.]*?) (?:is|are) written)\b")


def _chapter_id(path: str) -> str | None:
    """``chapters/05_losses/theory`` -> ``"5"``; ``chapters/appendix_b_x/theory`` -> ``"B"``; else None."""
    match = re.match(r"chapters/(?:(?P<num>\d+)_|appendix_(?P<letter>[a-z])_)", path)
    if not match:
        return None
    return str(int(match["num"])) if match["num"] else match["letter"].upper()


def toc_chapters() -> dict[str, bool]:
    """{chapter id: written} for every chapter of ``_toc.yml``, in toc order."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    chapters: dict[str, bool] = {}
    for part in toc.get("parts", []):
        for entry in part.get("chapters", []):
            ident = _chapter_id(entry.get("file", ""))
            if ident is None:
                continue
            sections = [s.get("file", "") for s in entry.get("sections", []) or []]
            has_lab = any(s.startswith(f"{entry['file'].rsplit('/', 1)[0]}/") and s.endswith("/lab")
                          for s in sections)
            page = ROOT / f"{entry['file']}.md"
            outline = not page.exists() or "is being written" in page.read_text()
            chapters[ident] = has_lab or (not sections and not outline and ident in LABLESS)
    return chapters


def _sort_key(ident: str) -> tuple[int, int | str]:
    return (0, int(ident)) if ident.isdigit() else (1, ident)


def describe(ids: list[str]) -> str:
    """Runs of consecutive chapter numbers as ``a-b``, joined by commas and a final "and": ``1-5 and 13-14``."""
    ids = sorted(ids, key=_sort_key)
    runs: list[list[str]] = []
    for ident in ids:
        if runs and ident.isdigit() and runs[-1][-1].isdigit() and int(ident) == int(runs[-1][-1]) + 1:
            runs[-1].append(ident)
        else:
            runs.append([ident])
    parts = [run[0] if len(run) == 1 else f"{run[0]}-{run[-1]}" for run in runs]
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def parse_ids(text: str) -> set[str]:
    """The chapter ids named in ``"1-5, 13 and 14"`` (ranges, commas, "and")."""
    ids: set[str] = set()
    for token in re.split(r"\s*,\s*|\s+and\s+", text.strip()):
        if not token:
            continue
        span = re.fullmatch(r"(\d+)\s*[-\u2013]\s*(\d+)", token)
        if span:
            ids.update(str(n) for n in range(int(span[1]), int(span[2]) + 1))
        elif re.fullmatch(r"\d+|[A-Z]", token):
            ids.add(str(int(token)) if token.isdigit() else token)
        else:
            raise ValueError(f"cannot read a chapter number in {token!r} (of {text!r})")
    return ids


def expected_status(row_ids: list[str], written: set[str]) -> str:
    done = [i for i in row_ids if i in written]
    if len(done) == len(row_ids):
        return "written"
    if not done:
        return "coming"
    return f"{describe(done)} written"


def readme_rows() -> list[tuple[str, list[str], str]]:
    """``(part, [chapter ids], status)`` for each row of README.md's chapter table."""
    lines = (ROOT / "README.md").read_text().splitlines()
    start = next((k for k, line in enumerate(lines) if TABLE_HEADER.match(line)), None)
    assert start is not None, "README.md has no '| Part | Chapters | Status |' table"
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        assert len(cells) == 3, f"README.md table row without three cells: {line!r}"
        part, chapters, status = cells
        ids = []
        for item in chapters.split("·"):
            head = item.strip().split(" ", 1)[0]
            assert re.fullmatch(r"\d+|[A-Z]", head), f"README.md: {item.strip()!r} does not start with its number"
            ids.append(str(int(head)) if head.isdigit() else head)
        rows.append((part, ids, status))
    return rows


def test_the_toc_has_written_chapters():
    chapters = toc_chapters()
    assert chapters and any(chapters.values()), "no chapter of _toc.yml has a lab section"


def test_readme_table_lists_every_toc_chapter():
    in_readme = [i for _, ids, _ in readme_rows() for i in ids]
    in_toc = list(toc_chapters())
    assert sorted(in_readme, key=_sort_key) == sorted(in_toc, key=_sort_key), (
        f"README.md's chapter table lists chapters {describe(in_readme)}, _toc.yml has {describe(in_toc)}: "
        "add or remove rows' chapters so that they match")


def test_readme_status_column_matches_the_toc():
    written = {i for i, done in toc_chapters().items() if done}
    wrong = []
    for part, ids, status in readme_rows():
        want = expected_status(ids, written)
        if status != want:
            wrong.append(f"  row {part!r}: Status {status!r} -> {want!r}")
    assert not wrong, ("README.md's chapter table disagrees with _toc.yml (a chapter is written when its toc entry "
                       "has a lab section); change the Status column:\n" + "\n".join(wrong))


def test_intro_says_which_chapters_are_written():
    written = sorted((i for i, done in toc_chapters().items() if done), key=_sort_key)
    noun, verb = ("Chapter", "is") if len(written) == 1 else ("Chapters", "are")
    want = f"{noun} {describe(written)} {verb} written"
    text = (ROOT / "book" / "intro.md").read_text()
    found = [m for m in (INTRO_SENTENCE.match(line) for line in text.splitlines()) if m]
    assert len(found) == 1, (f"book/intro.md must have one line starting 'Chapters ... are written' "
                             f"(found {len(found)}); write: {want!r}")
    sentence = found[0]["sentence"]
    assert parse_ids(found[0]["list"]) == set(written), (
        f"book/intro.md says {sentence!r}, but _toc.yml has labs for chapters {describe(written)}: "
        f"replace it with {want!r}")


@pytest.mark.parametrize("ids, text", [
    (["1", "2", "3", "4", "5", "13", "14"], "1-5 and 13-14"),
    (["2"], "2"),
    (["1", "3", "4", "7"], "1, 3-4 and 7"),
    (["14", "13", "A"], "13-14 and A"),
])
def test_describe_and_parse_round_trip(ids, text):
    assert describe(ids) == text
    assert parse_ids(text) == set(ids)
    assert parse_ids("1-5, 13 and 14") == {"1", "2", "3", "4", "5", "13", "14"}
    with pytest.raises(ValueError, match="cannot read"):
        parse_ids("1 to 5")


def test_expected_status():
    row = ["4", "5", "6"]
    assert expected_status(row, {"4", "5", "6"}) == "written"
    assert expected_status(row, set()) == "coming"
    assert expected_status(row, {"4", "5", "13"}) == "4-5 written"
    assert expected_status(row, {"4", "6"}) == "4 and 6 written"
