"""nbgrader configuration of the course (read when nbgrader runs in this folder; see the README, "Teaching with it").

This folder is nbgrader's course directory. Only this file is committed; `make student` fills source/ (copies
of ../notebooks/) and release/ (the student copies), and grading fills submitted/, autograded/, feedback/ and
gradebook.db, all git-ignored.
"""
import os
from pathlib import Path

c = get_config()  # noqa: F821 (provided by nbgrader when it loads this file)
here = Path(__file__).resolve().parent

c.CourseDirectory.root = str(here)
c.CourseDirectory.course_id = "lightweight-dl-lab"

# Student copies: a solution region becomes `pass`, so Run All reaches the end and every checker prints ❌
# (nbgrader's default stub raises NotImplementedError and stops Run All at the first exercise).
c.ClearSolutions.code_stub = {"python": "pass  # YOUR CODE HERE"}
c.ClearSolutions.enforce_metadata = True  # every solution region sits in a cell tagged by tools/nbgrader_tag.py

# Grading: checkers raise on a wrong answer (COURSE_STRICT_CHECKS=1), so an autograder cell loses its points;
# without it they only print ❌ and every copy would get full marks. Fast mode by default: the checkers compare
# with values computed in the same run, so grading needs no full-length training (COURSE_FAST=0 to override).
os.environ["COURSE_STRICT_CHECKS"] = "1"
os.environ.setdefault("COURSE_FAST", "1")
os.environ.setdefault("COURSE_RESULTS_DIR", str(here / "results"))  # graded runs never touch your ledger
c.Execute.timeout = 1200  # seconds per cell (nbgrader's default of 30 is too short for a training cell)
