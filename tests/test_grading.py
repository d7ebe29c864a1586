"""Classroom delivery with nbgrader: exercise metadata, student copies (make student) and strict autograding.

The end-to-end test generates the student copies, autogrades each untouched (blank) copy, which runs it top
to bottom in fast mode, and autogrades notebook 01 three ways (this module grades 00, 01, 03 and 09, and
test_grading_second_half.py the others, so that make test's two workers grade side by side): the practice copy with every reference solution
revealed (full marks), the blank copy (zero) and the reference with one wrong answer (one exercise lost).
A student copy has the sources of ``make lab``'s practice copy (both come from ``practice.blank_exercises``), so the
run of each blank copy is also the practice copies' test: each checker prints ❌ with its hint and the line naming
its exercise's hint ladder, no other cell fails, and every try is recorded in the results folder. It takes a few minutes (marked slow;
`make unit` skips it, `make test` runs it).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from course_lib import practice

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import nbgrader_tag  # noqa: E402

NOTEBOOKS = nbgrader_tag.notebook_paths()
# Blank copies run to the end and autograded: every notebook, the capstone included (its blank copy is its practice
# copy's test too). They take about as long as nbval's runs, so they are graded in two halves of about equal time,
# one per test module (this one and test_grading_second_half.py): `make test`'s two workers (--dist loadscope)
# can then grade side by side instead of one worker grading all ten while the other runs nbval and the unit tests.
SECOND_HALF_PREFIXES = ("02", "04", "05", "06", "07", "08")   # graded by test_grading_second_half.py
RUN_BLANK = [p for p in NOTEBOOKS if not p.name.startswith(SECOND_HALF_PREFIXES)]
GRADED_EXAMPLE = "01_measuring_models"
# One wrong answer for GRADED_EXAMPLE: conv2's MACs counted on the 28x28 input instead of its 14x14 output.
WRONG_CELL, WRONG_SOURCE = "c3dd5400", "conv2_macs = 3 * 3 * 16 * 32 * 28 * 28\n"


def _graded(nb) -> list:
    return [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]


def _solutions(nb) -> list:
    return [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution")]


# ---------------------------------------------------------------------------------------------- metadata

@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_nbgrader_metadata_is_current(path):
    """Every solution and checker cell carries the metadata tools/nbgrader_tag.py derives (re-run it if not)."""
    from nbgrader.nbgraderformat import MetadataValidator

    assert nbgrader_tag.problems(path) == [], f"run `python tools/nbgrader_tag.py` ({path.name})"
    nb = nbformat.read(path, as_version=4)
    MetadataValidator().validate_nb(nb)  # nbgrader's own schema check (ids unique, points present, ...)
    solutions, graded = _solutions(nb), _graded(nb)
    assert solutions, f"{path.name} has no exercise"
    if path.stem in nbgrader_tag.UNGRADED:
        assert not graded
    else:
        assert len(graded) == len(solutions) >= 3 and all(c.metadata.nbgrader.points > 0 for c in graded)


def _notebook(*cells):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(s) if kind == "code" else nbformat.v4.new_markdown_cell(s) for kind, s in cells]
    return nb


SOLUTION = "x = None\n### BEGIN SOLUTION\nx = 1\n### END SOLUTION"
CHECKER = "checks.check_int('x', x, 1)"


@pytest.mark.parametrize("cells, message", [
    ((("code", SOLUTION), ("code", "print(x)")), "followed directly by a code cell that calls"),
    ((("code", SOLUTION), ("markdown", "text"), ("code", CHECKER)), "followed directly"),
    ((("code", SOLUTION),), "followed directly"),
    ((("markdown", "write it between ### BEGIN SOLUTION and ### END SOLUTION"), ("code", CHECKER)), "markdown cell"),
    ((("code", "x = 1  ### BEGIN SOLUTION\n### END SOLUTION"), ("code", CHECKER)), "stand alone on its line"),
    ((("code", "### BEGIN SOLUTION\nx = 1"), ("code", CHECKER)), "without an"),
    ((("code", "### END SOLUTION"), ("code", CHECKER)), "without a"),
])
def test_tagger_refuses_notebooks_that_break_the_convention(cells, message):
    with pytest.raises(nbgrader_tag.ConventionError, match=message):
        nbgrader_tag.expected_metadata(_notebook(*cells), "99_test")


def test_tagger_derives_metadata_from_markers_and_ids(tmp_path):
    nb = _notebook(("markdown", "# t"), ("code", SOLUTION), ("code", CHECKER), ("code", "print(1)"))
    nb.cells[3].metadata["nbgrader"] = {"grade": False, "solution": True, "locked": False, "grade_id": "stale"}
    path = tmp_path / "99_test.ipynb"
    nbformat.write(nb, path)
    assert nbgrader_tag.problems(path)
    assert nbgrader_tag.tag(path) and not nbgrader_tag.tag(path)  # idempotent
    assert nbgrader_tag.problems(path) == []
    tagged = nbformat.read(path, as_version=4)
    solution, checker = tagged.cells[1].metadata.nbgrader, tagged.cells[2].metadata.nbgrader
    assert solution.solution and not solution.grade and solution.grade_id == tagged.cells[1].id
    assert checker.grade and checker.locked and checker.points == 1 and checker.grade_id == tagged.cells[2].id
    assert "nbgrader" not in tagged.cells[3].metadata and "nbgrader" not in tagged.cells[0].metadata
    assert [c.source for c in tagged.cells] == [c.source for c in nb.cells]


# ------------------------------------------------------------------------------- student copies and grading

def _run_classroom(*args, course: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, COURSE_FAST="1", PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
               COURSE_RESULTS_DIR=str(course / "results"))
    env.pop("COURSE_STRICT_CHECKS", None)  # nbgrader_config.py must turn it on by itself
    done = subprocess.run([sys.executable, str(ROOT / "tools" / "classroom.py"), *args, "--course-dir", str(course)],
                          capture_output=True, text=True, env=env, timeout=3600)  # a hang guard only
    assert done.returncode == 0, f"classroom.py {' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-5000:]}"
    return done


def _revealed(stem: str):
    """The practice copy of a notebook with every exercise's solution revealed (hints.ask's last rung) and pasted."""
    nb = nbformat.reads(practice.practice_copy_text(ROOT / "notebooks" / f"{stem}.ipynb"), as_version=4)
    for exercise in (e for e in practice.exercises().values() if e.notebook == f"{stem}.ipynb"):
        cell = next(c for c in nb.cells if c.id == exercise.solution_cell)
        cell.source = practice.reveal(cell.source, practice.solution(exercise.id))
    return nb


def graded_course(tmp_path_factory, blank: list[Path], graded_example: bool) -> tuple[Path, dict]:
    """A course directory with the student copies of ``blank`` (and of the graded example) generated and
    autograded: each untouched copy, and, with ``graded_example``, GRADED_EXAMPLE's reference and one-wrong copies.
    Returns ``(course directory, {(assignment, student): score row})``."""
    course = tmp_path_factory.mktemp("course")
    shutil.copy(ROOT / "grading" / "nbgrader_config.py", course)
    stems = sorted({p.stem for p in blank} | ({GRADED_EXAMPLE} if graded_example else set()))
    only = [arg for stem in stems for arg in ("--only", stem[:2])]
    _run_classroom("student", *only, course=course)
    for path in blank:
        folder = course / "submitted" / "blank" / path.stem
        folder.mkdir(parents=True)
        shutil.copy(course / "release" / path.stem / path.name, folder)
    if graded_example:
        reference = nbformat.read(ROOT / "notebooks" / f"{GRADED_EXAMPLE}.ipynb", as_version=4)
        for student in ("reference", "one_wrong"):
            folder = course / "submitted" / student / GRADED_EXAMPLE
            folder.mkdir(parents=True)
            submission = _revealed(GRADED_EXAMPLE) if student == "reference" else reference
            if student == "one_wrong":
                cell = next(c for c in reference.cells if c.id == WRONG_CELL)
                cell.source = cell.source.split("### BEGIN SOLUTION")[0] + WRONG_SOURCE
            nbformat.write(submission, folder / f"{GRADED_EXAMPLE}.ipynb")
    done = _run_classroom("autograde", "--json", *only, course=course)
    scores = {}
    for line in done.stdout.splitlines():
        if line.startswith("{"):
            row = json.loads(line)
            scores[row["assignment"], row["student"]] = row
    print("\n".join(f"{a} {s}: {r['score']:g} / {r['max_score']:g}" for (a, s), r in sorted(scores.items())))
    return course, scores


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """This half's student copies generated and their submissions autograded (GRADED_EXAMPLE three ways)."""
    return graded_course(tmp_path_factory, RUN_BLANK, graded_example=True)


@pytest.mark.slow
@pytest.mark.parametrize("path", RUN_BLANK, ids=[p.stem for p in RUN_BLANK])
def test_student_copy_is_clean(course, path):
    """Solutions replaced by the stub, no outputs, checker cells locked."""
    check_student_copy_is_clean(course, path)


def check_student_copy_is_clean(course, path):
    root, _ = course
    source = nbformat.read(path, as_version=4)
    copy = nbformat.read(root / "release" / path.stem / path.name, as_version=4)
    assert [c.id for c in copy.cells] == [c.id for c in source.cells]
    practice_copy = nbformat.reads(practice.practice_copy_text(path), as_version=4)  # make lab's copy
    assert [(c.source, c.metadata.get("editable"), c.metadata.get("deletable")) for c in practice_copy.cells] == \
        [(c.source, c.metadata.get("editable"), c.metadata.get("deletable")) for c in copy.cells]
    for original, cell in zip(source.cells, copy.cells):
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{path.name} {cell.id}: outputs not cleared"
        if meta.get("solution"):
            solution = original.source.split("### BEGIN SOLUTION\n")[1].split("### END SOLUTION")[0]
            assert "pass  # YOUR CODE HERE" in cell.source and "SOLUTION" not in cell.source
            assert solution.strip() not in cell.source
        elif meta.get("locked"):
            assert cell.metadata.get("editable") is False and cell.metadata.get("deletable") is False
            assert cell.source == original.source
        else:
            assert cell.source == original.source


@pytest.mark.slow
@pytest.mark.parametrize("path", RUN_BLANK, ids=[p.stem for p in RUN_BLANK])
def test_blank_student_copy_runs_to_the_end_and_scores_zero(course, path):
    """Run All on an untouched copy reaches the end; every checker fails (❌) without crashing; score 0."""
    check_blank_copy(course, path)


def check_blank_copy(course, path):
    root, scores = course
    nb = nbformat.read(root / "autograded" / "blank" / path.stem / path.name, as_version=4)
    checkers = {c.id for c in nb.cells if c.metadata.get("nbgrader", {}).get("locked")
                and not c.metadata.nbgrader.get("solution")}
    assert checkers
    exercises = {e.checker_cell: e.id for e in practice.exercises().values() if e.notebook == path.name}
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        assert cell.execution_count is not None, f"{path.name} cell {index} did not run"
        errors = [o for o in cell.outputs if o.output_type == "error"]
        text = "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")
        if cell.id in checkers:
            assert "❌" in text and "✅" not in text, f"{path.name} checker {cell.id}: {text[:300]}"
            assert f'hints.ask("{exercises[cell.id]}")' in text, f"{path.name} {cell.id}: no hint ladder named: {text}"
            # strict grading: the failed check raised (and nothing else did)
            assert [e.ename for e in errors] == ["ExerciseCheckFailed"], f"{path.name} checker {cell.id}: {errors}"
        else:
            assert not errors, f"{path.name} cell {index} ({cell.id}) crashed on the stub: {errors[0].evalue[:300]}"
    recorded = json.loads((root / "results" / "progress.json").read_text())["exercises"]  # the grading's results folder
    assert all(recorded[e]["tries"] >= 1 for e in exercises.values()), f"{path.name}: tries not recorded {recorded}"
    row = scores[path.stem, "blank"]
    assert row["score"] == 0
    assert row["max_score"] == len(_graded(nbformat.read(path, as_version=4)))


@pytest.mark.slow
def test_autograde_reference_full_blank_zero_one_wrong_loses_one(course):
    _, scores = course
    reference, blank, wrong = (scores[GRADED_EXAMPLE, s] for s in ("reference", "blank", "one_wrong"))
    exercises = len(_graded(nbformat.read(ROOT / "notebooks" / f"{GRADED_EXAMPLE}.ipynb", as_version=4)))
    assert reference["max_score"] == blank["max_score"] == wrong["max_score"] == exercises
    assert reference["score"] == exercises
    assert blank["score"] == 0
    assert wrong["score"] == exercises - 1
    lost = [cell for cell, score in wrong["cells"].items() if score < 1]
    checker_after_wrong = "89c452c1"  # the checker cell of WRONG_CELL
    assert lost == [checker_after_wrong]


def test_common_wrong_answers_fail_their_checkers():
    """The mistakes quoted in the instructor notes really fail (a checker that passed one would be a bug)."""
    sys.path.insert(0, str(ROOT / "instructor"))
    import wrong_answers

    rows = wrong_answers.run()
    assert len(rows) >= 20
    passed = [what for _, what, _, ok in rows if ok]
    assert not passed, f"checkers accepted these mistakes: {passed}"
    assert all("❌" in message and "Hint:" in message for *_, message, _ in rows)   # a checker of two checks may pass one


def test_make_student_never_overwrites_an_edited_source_copy(tmp_path):
    import classroom

    notebook, target, stamps = tmp_path / "nb.ipynb", tmp_path / "source" / "nb.ipynb", tmp_path / ".make_student"
    target.parent.mkdir()
    notebook.write_text("v1")
    classroom._copy_source(notebook, target, stamps)
    notebook.write_text("v2")  # the course notebook changed: the untouched copy is refreshed
    classroom._copy_source(notebook, target, stamps)
    assert target.read_text() == "v2"
    target.write_text("edited by the instructor")
    notebook.write_text("v3")
    with pytest.raises(FileExistsError, match="was edited after"):
        classroom._copy_source(notebook, target, stamps)
    assert target.read_text() == "edited by the instructor"


def test_instructor_notes_quote_what_the_checkers_print_now():
    """Each note's "common wrong answers" block is `python instructor/wrong_answers.py NN`'s output, pasted: a checker
    whose message changed makes the note stale (paste the new output into instructor/NN_*.md)."""
    import wrong_answers

    import re

    numbers = lambda text: re.sub(r"\d+(\.\d+)?", "#", text)  # noqa: E731  (a timer's reading varies a little)
    chapters = sorted({ch for ch, _, _ in wrong_answers.MISTAKES})
    stale = [ch for ch in chapters if numbers(wrong_answers.markdown(ch))
             not in numbers(next((ROOT / "instructor").glob(f"{ch}_*.md")).read_text())]
    assert not stale, f"instructor notes with an outdated wrong-answer block: {stale}"
