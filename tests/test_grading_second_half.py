"""The second half of the blank student copies, graded as in test_grading.py (which grades the first half and the
worked example): a module of its own so that `make test`'s two workers grade the two halves side by side."""
from __future__ import annotations

import pytest
from test_grading import NOTEBOOKS, RUN_BLANK, check_blank_copy, check_student_copy_is_clean, graded_course

SECOND_HALF = [p for p in NOTEBOOKS if p not in RUN_BLANK]


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    return graded_course(tmp_path_factory, SECOND_HALF, graded_example=False)


def test_the_two_halves_grade_every_notebook_once():
    assert sorted(RUN_BLANK + SECOND_HALF) == sorted(NOTEBOOKS) and not set(RUN_BLANK) & set(SECOND_HALF)
    assert len(SECOND_HALF) >= 4 and len(RUN_BLANK) >= 3


@pytest.mark.slow
@pytest.mark.parametrize("path", SECOND_HALF, ids=[p.stem for p in SECOND_HALF])
def test_student_copy_is_clean(course, path):
    """Solutions replaced by the stub, no outputs, checker cells locked."""
    check_student_copy_is_clean(course, path)


@pytest.mark.slow
@pytest.mark.parametrize("path", SECOND_HALF, ids=[p.stem for p in SECOND_HALF])
def test_blank_student_copy_runs_to_the_end_and_scores_zero(course, path):
    """Run All on an untouched copy reaches the end; every checker fails (❌) without crashing; score 0."""
    check_blank_copy(course, path)
