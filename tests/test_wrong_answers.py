"""Every exercise check against its wrong-answer suite (``tests/wrong_answers/chNN.py``, see
``tests/exercise_suite.py``): correct answers pass on the notebook's cases and on every grading seed; classic wrong
answers fail everywhere and keep at most ~40% of the points."""

from __future__ import annotations

from pathlib import Path

import pytest

from exercise_suite import answers, chapters, problems, specs

REPO = Path(__file__).resolve().parents[1]
PARAMS = [pytest.param(chapter, ex, answer, id=f"{ex} {answer.id}")
          for chapter in chapters() for ex, listed in answers(chapter).items() for answer in listed]


@pytest.mark.parametrize("chapter, ex, answer", PARAMS)
def test_answer(chapter, ex, answer):
    found = problems(specs(chapter)[ex], answer)
    assert not found, "\n".join(found)


@pytest.mark.parametrize("chapter", chapters())
def test_every_exercise_of_the_chapter_has_its_suite(chapter):
    listed, known = answers(chapter), specs(chapter)
    assert set(listed) == set(known), f"{chapter}: answers for {sorted(listed)}, exercises {sorted(known)}"
    for ex, group in listed.items():
        assert sum(a.right for a in group) >= 1, f"{ex}: no correct answer"
        assert sum(not a.right for a in group) >= 2, f"{ex}: fewer than two wrong answers"


def _statement(ex: str) -> str:
    """The Markdown of exercise ``ex``'s statement in its solution source (from its title to its stub cell)."""
    (lab,) = (REPO / "solutions").glob(f"{int(ex.split('.')[0]):02d}_*/lab.md")
    text = lab.read_text()
    start = text.index(f"### Exercise {ex}:")
    return text[start:text.index("```{code-cell}", start)]


@pytest.mark.parametrize("chapter", chapters())
def test_statements_state_the_grading(chapter):
    """Each statement says how its cases are weighted and which are key cases, as the spec grades them."""
    for ex, spec in specs(chapter).items():
        statement = " ".join(_statement(ex).split())
        assert f"**Grading:** {spec.weight_summary()}." in statement, f"exercise {ex}: the statement's grading line"
