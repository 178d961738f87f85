"""The wrong-answer suite's answers, one module per chapter (see ``tests/exercise_suite.py``)."""
