"""A learner's own path: practice copies, the hint ladder and the progress record (course_lib.practice, hints,
progress). Fast: no notebook is executed here. The practice copies are run top to bottom, with their checkers
printing ❌ and a hint and their progress recorded, by the grading tests' run of the blank student copies (tests/test_grading*.py),
which have the same sources (checked there); revealed solutions pass their checkers in its autograde of 01, and
for every notebook through the check below that a revealed cell is the reference cell that nbval runs.
"""
from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from course_lib import checks, hints, practice, progress

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def _marker_count(path: Path) -> int:
    nb = nbformat.read(path, as_version=4)
    return sum(c.cell_type == "code" and practice.BEGIN in c.source for c in nb.cells)


# ------------------------------------------------------------------------------------------- exercises, hints
def test_every_exercise_is_found_and_named_after_its_heading():
    found = practice.exercises()
    assert len(found) == sum(_marker_count(p) for p in NOTEBOOKS)
    for path in NOTEBOOKS:
        numbers = [int(e.id.split("Ex")[1]) for e in found.values() if e.notebook == path.name]
        start = 0 if path.stem == "00_welcome" else 1  # 00's warm-up is "Exercise 0"
        assert numbers == list(range(start, start + len(numbers))), f"{path.name}: exercise headings {numbers}"


def test_every_exercise_has_two_hints_and_hint_1_gives_nothing_away():
    found = practice.exercises()
    missing, unknown = sorted(set(found) - set(hints.ALL)), sorted(set(hints.ALL) - set(found))
    assert not missing and not unknown, f"no hints for {missing}; hints for no exercise {unknown}"
    assert not set(hints.HINTS) & set(hints.HINTS_09)
    for exercise_id, rungs in hints.ALL.items():
        assert len(rungs) == 2 and all(isinstance(r, str) and len(r) > 20 for r in rungs), exercise_id
        solution_lines = {line.strip() for line in found[exercise_id].solution.split("\n") if len(line.strip()) > 8}
        assert not any(line in rungs[0] for line in solution_lines), f"{exercise_id}: hint 1 quotes the solution"


def test_each_checker_cell_is_recognised_as_its_own_exercise():
    """The checker calls of every exercise are unique in the course, so a running cell finds its exercise."""
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        cells = {c.id: c.source for c in nb.cells}
        for exercise in (e for e in practice.exercises().values() if e.notebook == path.name):
            source = cells[exercise.checker_cell]
            assert practice.exercise_of_cell(source) == exercise
            # merged with its solution cell, or with a print added, it is still recognised
            assert practice.exercise_of_cell(cells[exercise.solution_cell] + "\n" + source + "\nprint(1)") == exercise
    assert practice.exercise_of_cell("print('hello')\nchecks.lenient()") is None


def test_hint_ladder_climbs_to_the_reference_solution_and_remembers(results_dir, capsys):
    for expected in ("Hint 1 of 2 for 03 Ex2", "Hint 2 of 2 for 03 Ex2", "Reference solution of 03 Ex2",
                     "Reference solution of 03 Ex2"):
        hints.ask("03 Ex2")
        assert capsys.readouterr().out.startswith(expected)
    assert practice.solution("03 Ex2") in hints.ladder("3 ex 2")[2]
    assert progress.hints_seen("03 Ex2") == 3 and (results_dir / "progress.json").exists()
    hints.ask("03 Ex2", 1)
    assert capsys.readouterr().out.startswith("Hint 1 of 2") and progress.hints_seen("03 Ex2") == 3


def test_instructor_can_stop_the_ladder_before_the_solution(results_dir, monkeypatch, capsys):
    monkeypatch.setenv("COURSE_SHOW_SOLUTIONS", "0")
    for _ in range(4):
        hints.ask("01 Ex1")
    assert "Reference solution" not in capsys.readouterr().out


# Every form a learner may type: ids (good, loose, unknown, not text), rungs (each, outside 1..3, not whole numbers)
ASK_FORMS = [("02 Ex2",), ("2 ex 2",), (None,), (None, 3), ("99 Ex1",), ("03 Ex9",), ("3",), (3,), (2.5,),
             (("02 Ex2",),), ("02 Ex2", None), ("02 Ex2", 1), ("02 Ex2", 2), ("02 Ex2", 3), ("02 Ex2", 4),
             ("02 Ex2", 0), ("02 Ex2", -1), ("02 Ex2", "2"), ("02 Ex2", "3"), ("02 Ex2", 2.0), ("02 Ex2", 3.0),
             ("02 Ex2", True), ("02 Ex2", "x")]
BAD_FORMS = {repr(args): says for args, says in [  # by repr: ("02 Ex2", True) == ("02 Ex2", 1) in Python
    (("99 Ex1",), "09 Ex1–Ex5"), (("03 Ex9",), "03 Ex1, 03 Ex2, 03 Ex3"), (("3",), "03 Ex1"), ((3,), "03 Ex1"),
    ((2.5,), "02 Ex1"), ((("02 Ex2",),), "00 Ex0"), (("02 Ex2", 0), "1 = hint 1"), (("02 Ex2", -1), "hint 2"),
    (("02 Ex2", 4), "hint 1"), (("02 Ex2", "2"), "hint 2"), (("02 Ex2", 2.0), "1 = hint 1"),
    (("02 Ex2", 3.0), "hint 1"), (("02 Ex2", True), "hint 1"), (("02 Ex2", "x"), "hint 1")]}


def _solution_in(text: str, exercise_id: str) -> bool:
    return "Reference solution" in text or practice.solution(exercise_id).strip() in text


@pytest.mark.parametrize("shown", ["1", "0"])
def test_every_form_of_ask_prints_a_line_never_raises_and_obeys_the_instructor(results_dir, monkeypatch, capsys,
                                                                               shown):
    monkeypatch.setenv("COURSE_SHOW_SOLUTIONS", shown)
    monkeypatch.setattr(progress, "_last_failed", ["02 Ex2"])  # hints.ask() alone: the exercise failed last
    for args in ASK_FORMS:
        for _ in range(4):  # asked again and again, past the top of the ladder
            hints.ask(*args)
            out = capsys.readouterr().out
            assert out.strip() and "Traceback" not in out, args
            if shown == "0":
                assert not _solution_in(out, "02 Ex2"), f"hints.ask{args} showed the solution: {out}"
            if repr(args) in BAD_FORMS:  # one line saying what is accepted, nothing more
                says = BAD_FORMS[repr(args)]
                assert out.count("\n") == 1 and says in out and "hints.ask(" in out, (args, out)
                assert not _solution_in(out, "02 Ex2")
    hints.ask("02 Ex2", 3)  # the control: the solution's text is recognised when it is shown
    assert _solution_in(capsys.readouterr().out, "02 Ex2") == (shown == "1")


def test_rung_0_and_below_are_not_the_last_rung(results_dir, capsys):
    for rung in (0, -1, -3):
        hints.ask("02 Ex2", rung)
        out = capsys.readouterr().out
        assert not _solution_in(out, "02 Ex2") and "1, 2 or 3" in out
    assert progress.hints_seen("02 Ex2") == 0  # a refused rung is not a hint seen


def test_no_exercise_shows_its_solution_when_the_instructor_turned_it_off(results_dir, monkeypatch, capsys):
    monkeypatch.setenv("COURSE_SHOW_SOLUTIONS", "0")
    for exercise_id in practice.exercises():
        assert not any(_solution_in(rung, exercise_id) for rung in hints.ladder(exercise_id))
        for args in [(exercise_id,)] * 4 + [(exercise_id, 3), (exercise_id, 4)]:
            hints.ask(*args)
        assert not _solution_in(capsys.readouterr().out, exercise_id), exercise_id


# ------------------------------------------------------------------------------------------- practice copies
def test_nbgrader_config_uses_the_same_stub():
    config = (ROOT / "grading" / "nbgrader_config.py").read_text()
    assert f'c.ClearSolutions.code_stub = {{"python": "{practice.CODE_STUB}"}}' in config


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_practice_copy_is_blank_keeps_the_rest_and_reveals_to_the_reference(path):
    reference = nbformat.read(path, as_version=4)
    copy = nbformat.reads(practice.practice_copy_text(path), as_version=4)
    nbformat.validate(copy)
    assert [c.id for c in copy.cells] == [c.id for c in reference.cells]
    exercises = {e.solution_cell: e for e in practice.exercises().values() if e.notebook == path.name}
    checkers = {e.checker_cell for e in exercises.values()}
    kept = 0
    for original, cell in zip(reference.cells, copy.cells):
        if cell.id in exercises:
            assert practice.CODE_STUB in cell.source and "SOLUTION" not in cell.source
            assert cell.outputs == [] and cell.execution_count is None
            marker_free = "\n".join(line for line in original.source.split("\n")
                                    if line.strip() not in (practice.BEGIN, practice.END))
            assert practice.reveal(cell.source, practice.solution(exercises[cell.id].id)) == marker_free
        elif cell.id in checkers:
            assert cell.source == original.source and cell.outputs == []
            assert cell.metadata.editable is False and cell.metadata.deletable is False
        else:
            assert cell.source == original.source
            if cell.cell_type == "code" and practice.LEARNER_STATE_TAG not in cell.metadata.get("tags", []):
                assert cell.outputs == original.outputs
                kept += bool(cell.outputs)
    assert kept, f"{path.name}: the practice copy should keep the figures and tables of the other cells"


# ------------------------------------------------------------------------------------------- progress
@pytest.fixture
def shell(results_dir):
    """An IPython shell in this process, as in a notebook's kernel (cleared afterwards)."""
    from IPython.core.interactiveshell import InteractiveShell

    ip = InteractiveShell.instance()
    ip.run_cell("from course_lib import checks, exercises")
    progress._runs.clear()
    yield ip
    InteractiveShell.clear_instance()
    progress._runs.clear()


def _run(ip, source: str) -> str:
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        result = ip.run_cell(source, store_history=True)  # as a kernel runs a cell: a new execution count
    assert result.error_in_exec is None, result.error_in_exec
    return out.getvalue()


CHECKER_00 = practice.find("00 Ex0")
CHECKER_04 = practice.find("04 Ex1")  # a checker cell that makes two checks


def _checker_source(exercise) -> str:
    nb = nbformat.read(ROOT / "notebooks" / exercise.notebook, as_version=4)
    return next(c.source for c in nb.cells if c.id == exercise.checker_cell)


def test_checks_in_a_checker_cell_are_recorded_under_the_results_folder(shell, results_dir, monkeypatch):
    monkeypatch.delenv("COURSE_STRICT_CHECKS", raising=False)
    checker = _checker_source(CHECKER_00)
    _run(shell, "weight_bytes = None")
    text = _run(shell, checker)
    assert "❌" in text and 'hints.ask("00 Ex0")' in text
    assert progress.load()["00 Ex0"]["last_result"] == "fail"
    assert progress.rows()[0]["status"] == progress.TRIED
    _run(shell, "weight_bytes = 4000")
    assert "✅" in _run(shell, checker) and progress.load()["00 Ex0"]["solved"]
    _run(shell, "weight_bytes = 3")
    _run(shell, checker)
    entry = progress.load()["00 Ex0"]
    assert entry["tries"] == 3 and entry["last_result"] == "fail" and entry["solved"]  # done stays done
    # nothing recorded in the repository, and a demonstration of a wrong answer is not a try
    _run(shell, "with checks.lenient():\n    " + checker.replace("\n", "\n    "))
    assert progress.load()["00 Ex0"]["tries"] == 3
    assert progress.path() == results_dir / "progress.json"

    # a fresh process (a restart) reads the same record; make progress shows it
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "lab.py"), "--progress"], capture_output=True,
                          text=True, check=True, env={**os.environ, "COURSE_RESULTS_DIR": str(results_dir)})
    line = next(row for row in done.stdout.splitlines() if "00 Ex0" in row)
    assert "done" in line and "last try" in line and "(fail)" in line


def test_the_checks_of_one_cell_run_are_one_try(shell, monkeypatch):
    monkeypatch.delenv("COURSE_STRICT_CHECKS", raising=False)
    checker = _checker_source(CHECKER_04)
    _run(shell, "import numpy as np\nfilt = np.array([[0.2, -0.5, 0.1], [0.4, -0.3, -0.6], [0.0, 0.9, -0.2]])\n"
                "my_alpha = 3.2 / 9\nmy_binary_filter = None")
    text = _run(shell, checker)
    assert text.count("✅") == 1 and text.count("❌") == 1 and text.count("Stuck?") == 1
    entry = progress.load()["04 Ex1"]
    assert entry["tries"] == 1 and entry["last_result"] == "fail" and "solved" not in entry
    _run(shell, "my_binary_filter = my_alpha * np.array([[1, -1, 1], [1, -1, -1], [1, 1, -1]])")
    _run(shell, checker)
    entry = progress.load()["04 Ex1"]
    assert entry["tries"] == 2 and entry["last_result"] == "pass" and entry["solved"]


def test_outside_a_notebook_nothing_is_recorded(results_dir, capsys):
    with checks.lenient():
        checks.check_int("x", 1, 2)
    checks.check_int("y", 2, 2)
    assert "Stuck?" not in capsys.readouterr().out and not (results_dir / "progress.json").exists()


@pytest.mark.parametrize("content, says", [
    ("{not json", "cannot be read"),
    (json.dumps({"format": 0, "exercises": {}}), "older version of the course"),
    (json.dumps({"format": 99, "exercises": {}}), "another version of the course"),
    (json.dumps([1, 2]), "not a progress file"),
])
def test_an_unusable_progress_file_is_reported_and_kept(results_dir, content, says, capsys):
    results_dir.mkdir(parents=True, exist_ok=True)
    file = results_dir / "progress.json"
    file.write_text(content)
    report = progress.report()
    assert says in report and "left as it is" in report
    assert file.read_text() == content  # the view changes nothing
    progress.record("01 Ex1", True, run="r1")
    kept = list(results_dir.glob("progress.unreadable-*.json"))
    assert len(kept) == 1 and kept[0].read_text() == content
    err = capsys.readouterr().err
    assert says in err and kept[0].name in err
    assert progress.load()["01 Ex1"]["solved"]


def test_progress_view_shows_the_solution_shown_as_its_own_state(results_dir):
    progress.record("02 Ex1", False, run="r1")
    progress.note_hint("02 Ex1", hints.RUNGS)  # the reference solution was shown
    progress.note_hint("02 Ex2", 2)
    rows = {r["exercise"]: r for r in progress.rows()}
    assert rows["02 Ex1"]["solution shown"] and not rows["02 Ex2"]["solution shown"]
    report = progress.report()
    lines = {ex: next(line for line in report.splitlines() if ex in line) for ex in ("02 Ex1", "02 Ex2", "02 Ex3")}
    assert lines["02 Ex1"].endswith("(fail), solution shown") and "hint" not in lines["02 Ex1"]
    assert lines["02 Ex2"].endswith("not started 2 hints") and "solution" not in lines["02 Ex2"]
    assert "hint" not in lines["02 Ex3"] and "solution" not in lines["02 Ex3"]
    assert "reference solution shown for 1." in report.splitlines()[0]


def test_exercise_titles_are_whole_and_the_view_shows_them_whole(results_dir):
    long = "a title that is much longer than forty characters, with words to the end"
    for heading, title in [(f"**Exercise 3 ({long}).**", long), (f"### Exercise 2 · {long}", long),
                           ("**Exercise 4.** Write your own timer: `timer(fn)` calls `fn`,", "Write your own timer"),
                           ("**Exercise 1.** `conv2` sees the map. How many MACs?", "conv2 sees the map")]:
        assert practice._title(practice.HEADING.search(heading), "") == title, heading
    lines = progress.report().splitlines()
    for exercise in practice.exercises().values():
        assert exercise.title and not exercise.title.endswith("...")
        first = next(i for i, line in enumerate(lines) if f" {exercise.id} " in line)
        block = [lines[first][12:12 + progress.TITLE_WIDTH]]  # the title column, then its continuation lines
        block += itertools.takewhile(lambda line: line.startswith(" " * 12), lines[first + 1:])
        assert " ".join(" ".join(block).split()) == exercise.title, lines[first:first + 3]
        assert all(len(part.strip()) <= progress.TITLE_WIDTH for part in block)


# ------------------------------------------------------------------------------------------- stale definitions
@pytest.mark.parametrize("magics", ["%%capture", "%%capture out --no-stderr\n%precision 3", "%precision 3", ""],
                         ids=["capture", "capture-and-line-magic", "line-magic", "none"])
def test_a_definition_in_a_cell_with_magics_is_not_stale_until_its_cell_fails(shell, magics):
    def stale() -> str:
        _run(shell, "why = checks.stale_function(my_double)")
        return shell.user_ns["why"]

    _run(shell, f"{magics}\ndef my_double(x):\n    %time y = 1\n    return 2 * x".lstrip())
    assert shell.user_ns["my_double"](2) == 4 and stale() == ""
    broken = f"{magics}\ndef my_double(x):\n    return (".lstrip()  # a syntax error: the old definition stays
    assert shell.run_cell(broken, store_history=True).error_before_exec or magics.startswith("%%")
    assert "older definition is still in memory" in stale()
