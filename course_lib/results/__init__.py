"""One command that records every chapter's GPU results with their provenance.

    python -m course_lib.results run [CHAPTER ...] --profile colab|full --budget-minutes M [--out results/] [--tiny]
    python -m course_lib.results list
    python -m course_lib.results index        # regenerate every results/<chapter>/index.md from its JSON files

Each chapter registers its experiments (the runs of its notebook's ``colab``/``full`` profiles that make the figures
and tables of its "Results on a GPU" section) in ``course_lib/results/experiments/<chapter>.py`` with
:func:`register`; the runner (:mod:`course_lib.results.record`) checks the time budget before each, runs it, and
writes ``results/<chapter>/<experiment>.json`` (numbers and provenance), its PNG figures and the chapter's
``index.md``, which the theory page includes. See CONTRIBUTING.md, "Recorded GPU results".
"""

from course_lib.results.record import RunReport, read_records, render_index, run, validate_record, write_index
from course_lib.results.registry import CHAPTERS, EXPERIMENTS, Context, Experiment, register, register_chapter

__all__ = ["CHAPTERS", "EXPERIMENTS", "Context", "Experiment", "RunReport", "read_records", "register",
           "register_chapter", "render_index", "run", "validate_record", "write_index"]
