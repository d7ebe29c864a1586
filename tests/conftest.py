"""Shared fixtures: unit tests never touch the repo's data/ or results/."""
import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# instructor/wrong_answers.py holds the wrong-answer factories the checker tests share with the instructor notes.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "instructor"))


@pytest.fixture
def results_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_RESULTS_DIR", str(tmp_path / "results"))
    return tmp_path / "results"


@pytest.fixture
def small_sizes(monkeypatch):
    """Make the generators produce tiny datasets so data tests run in a second."""
    from course_lib import data

    monkeypatch.setattr(data, "SIZES", {"train": 120, "test": 40})
    monkeypatch.setattr(data, "FAST_SIZES", {"train": 30, "test": 10})


@pytest.fixture(autouse=True)
def _lenient_checks_by_default(monkeypatch):
    """`make test` exports COURSE_STRICT_CHECKS=1 for nbval (a broken reference solution must fail the run).
    Unit tests that feed checkers wrong answers on purpose want the learner's behaviour (print ❌, return
    False); a test that needs strict mode sets it itself with monkeypatch.setenv."""
    monkeypatch.delenv("COURSE_STRICT_CHECKS", raising=False)
