"""An instructor-only case for the grader's tests (``course-grade --private-cases tests/grading_fixtures/private``).

Exercise 2.1 gets a seventh case: one point inside both supports among points outside both (D* = 1/2 there).
"""

import torch

CASES = {
    "2.1": [
        {"name": "one shared point", "p_data": torch.tensor([0.0, 0.0, 0.3, 0.0]),
         "p_g": torch.tensor([0.0, 0.0, 0.7, 0.0])},
    ],
}
