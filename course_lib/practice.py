"""The course's exercises as a learner meets them: found in notebooks/, blanked for practice, revealed on request.

An exercise (README, "Working on the exercises") is a code cell with the reference solution between the lines
``### BEGIN SOLUTION`` and ``### END SOLUTION``, followed by a cell that calls a checker. This module

- finds every exercise of the course's notebooks and names it ``"NN ExK"``: ``NN`` the notebook's number, ``K`` the
  number of the "Exercise K" heading above it (``"03 Ex2"``; 00's warm-up is ``"00 Ex0"``);
- makes the blank copy of a notebook (:func:`blank_exercises`): each solution replaced by :data:`CODE_STUB` with
  nbgrader's own preprocessor, the exercise cells' outputs cleared and the checker cells locked. ``make lab``'s
  practice copies and ``make student``'s nbgrader student copies both come from this one function;
- gives the reference solution of an exercise (:func:`solution`), read from the committed notebook;
- tells which exercise a running cell checks (:func:`exercise_of_cell`): the checker calls of every exercise's
  checker cell (the lines that call ``check...(``) are unique in the course, and a practice copy's checker cells are
  the course's, locked.

It imports nothing else from ``course_lib`` (only the standard library and nbformat; nbgrader when blanking), so
``scripts/lab.py`` and ``tools/classroom.py`` load it without importing TensorFlow.
"""
from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from pathlib import Path

NOTEBOOKS: Path = Path(__file__).resolve().parent.parent / "notebooks"
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
# What a solution region becomes in practice and student copies: `pass`, so Run All reaches the end and every
# checker prints ❌ (nbgrader's default stub raises NotImplementedError and stops at the first exercise).
# grading/nbgrader_config.py sets the same stub for nbgrader's command line (a test keeps the two equal).
CODE_STUB = "pass  # YOUR CODE HERE"
CHECKER_CALL = re.compile(r"\bcheck\w*\(")  # checks.check_int(...), exercises.check_budget_choice(...)
HEADING = re.compile(r"Exercise (\d+)\b\s*(?:\(([^)]*)\)|[·:]\s*([^\n*]+)|[.*]+\s*([^\n]*))?")
# A cell tagged so shows the learner's own state (00's progress view): practice copies clear its stored output.
LEARNER_STATE_TAG = "learner-state"


@dataclass(frozen=True)
class Exercise:
    """One exercise: its id ("03 Ex2"), where it is, its reference solution and its checker's calls."""

    id: str
    notebook: str          # file name in notebooks/, e.g. "03_mobilenet_v2.ipynb"
    title: str             # from the exercise's heading, whole (its first sentence when it is one)
    solution_cell: str     # cell ids
    checker_cell: str
    solution: str          # the code between the markers, as indented in the cell
    checker_calls: tuple[str, ...]  # the checker cell's lines that call a checker, stripped

    @property
    def chapter(self) -> str:
        return self.notebook[:2]


def _title(match: re.Match | None, text: str) -> str:
    """An exercise's title from its heading, whole: the heading's title, or the first sentence of its task."""
    if match is None:
        return ""
    title = next((g for g in match.groups()[1:] if g and g.strip()), "")
    title = re.sub(r"[`*$\\]", "", title).strip()
    if match.group(4):  # "**Exercise 1.** A sentence. More.": its first sentence, or what precedes its colon
        title = re.split(r"(?<=[.?!])\s|:\s", title, maxsplit=1)[0]
    return title.strip(" .,;:")


def solution_region(source: str) -> str:
    """The lines between the solution markers of a cell's source (empty when it has none)."""
    lines, inside, region = source.split("\n"), False, []
    for line in lines:
        if line.strip() == BEGIN:
            inside = True
        elif line.strip() == END:
            inside = False
        elif inside:
            region.append(line)
    return "\n".join(region)


def checker_calls(source: str) -> tuple[str, ...]:
    """The stripped lines of ``source`` that call a checker (comments left out)."""
    lines = (line.strip() for line in source.split("\n"))
    return tuple(line for line in lines if line and not line.startswith("#") and CHECKER_CALL.search(line))


def notebook_exercises(path: Path) -> list[Exercise]:
    """The exercises of one notebook, in order."""
    cells = json.loads(Path(path).read_text(encoding="utf-8"))["cells"]  # plain JSON: 10x faster than nbformat
    sources = ["".join(c["source"]) if isinstance(c["source"], list) else c["source"] for c in cells]
    found: list[Exercise] = []
    heading = None
    for index, (cell, source) in enumerate(zip(cells, sources)):
        if cell["cell_type"] == "markdown":
            heading = next(reversed(list(HEADING.finditer(source))), heading)
            continue
        if cell["cell_type"] != "code" or not any(line.strip() == BEGIN for line in source.split("\n")):
            continue
        number = int(heading.group(1)) if heading else (int(found[-1].id.split("Ex")[1]) + 1 if found else 1)
        checker = sources[index + 1] if index + 1 < len(cells) else ""
        found.append(Exercise(
            id=f"{path.name[:2]} Ex{number}", notebook=path.name, title=_title(heading, source),
            solution_cell=cell.get("id", ""), checker_cell=cells[index + 1].get("id", "") if checker else "",
            solution=solution_region(source), checker_calls=checker_calls(checker)))
        heading = None
    return found


_cache: dict = {}


def exercises(folder: Path = NOTEBOOKS) -> dict[str, Exercise]:
    """Every exercise of the course's notebooks, by id, in course order (re-read when a notebook changes)."""
    paths = sorted(Path(folder).glob("[0-9][0-9]_*.ipynb"))
    stamp = (str(folder), tuple((p.name, p.stat().st_mtime_ns) for p in paths))
    if _cache.get("stamp") != stamp:
        _cache["stamp"] = stamp
        _cache["exercises"] = {e.id: e for p in paths for e in notebook_exercises(p)}
    return _cache["exercises"]


def find(exercise_id: str) -> Exercise:
    """The exercise called ``exercise_id`` ("03 Ex2"; "3 ex 2" and "03Ex2" are understood too)."""
    match = re.fullmatch(r"\s*(\d{1,2})\s*ex(?:ercise)?\s*(\d+)\s*", str(exercise_id), re.I)
    known = exercises()
    key = f"{int(match.group(1)):02d} Ex{int(match.group(2))}" if match else str(exercise_id)
    if key not in known:
        raise KeyError(f"no exercise {exercise_id!r} in the course; exercises are named like "
                       f"{next(iter(known), '01 Ex1')!r}: {', '.join(known)}")
    return known[key]


def solution(exercise_id: str) -> str:
    """The reference solution of an exercise: the code between its markers in the committed notebook."""
    return find(exercise_id).solution


def exercise_of_cell(source: str) -> Exercise | None:
    """The exercise whose checker ``source`` (a cell being run) calls, or None.

    An exercise matches when every checker call of its checker cell appears in ``source`` (so a learner who
    merged the solution and checker cells, or added a print, is still recognised); the longest match wins.
    """
    lines = {line.strip() for line in source.split("\n")}
    best = None
    for exercise in exercises().values():
        calls = exercise.checker_calls
        if calls and all(call in lines for call in calls) and (best is None or len(calls) > len(best.checker_calls)):
            best = exercise
    return best


def reveal(blank_source: str, solution_code: str) -> str:
    """A practice copy's exercise cell with its stub replaced by ``solution_code`` (what a learner pastes)."""
    lines = blank_source.split("\n")
    for index, line in enumerate(lines):
        if line.strip() == CODE_STUB:
            return "\n".join(lines[:index] + solution_code.split("\n") + lines[index + 1:])
    raise ValueError(f"no {CODE_STUB!r} line in this cell")


def _is_exercise_cell(cell) -> bool:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return bool(meta.get("solution") or meta.get("locked"))


def blank_exercises(nb, clear_all_outputs: bool = False):
    """A copy of notebook ``nb`` with blank exercises: the practice copy, or the core of nbgrader's student copy.

    nbgrader's own ``LockCells`` and ``ClearSolutions`` (with :data:`CODE_STUB`) do what nbgrader does to make a
    student copy: solution regions become the stub, checker cells read-only. Then the outputs of the exercise
    cells (solution and checker: a stored ✅ would give the answer away) and of cells tagged
    :data:`LEARNER_STATE_TAG` are cleared; the other cells keep theirs (explanations, figures, tables), unless
    ``clear_all_outputs``. nbgrader's generate_assignment runs this function in place of its own two steps
    (tools/classroom.py) and clears every output after it.
    """
    from nbgrader.preprocessors import ClearSolutions, LockCells

    nb = copy.deepcopy(nb)
    resources: dict = {}
    nb, resources = LockCells().preprocess(nb, resources)
    nb, resources = ClearSolutions(code_stub={"python": CODE_STUB}, enforce_metadata=True).preprocess(nb, resources)
    for cell in nb.cells:
        tags = cell.get("metadata", {}).get("tags", [])
        if cell.cell_type == "code" and (clear_all_outputs or _is_exercise_cell(cell) or LEARNER_STATE_TAG in tags):
            cell.outputs = []
            cell.execution_count = None
    return nb


def practice_copy_text(path: Path) -> str:
    """The practice copy of the notebook at ``path``, as the text of an .ipynb file."""
    import nbformat

    return nbformat.writes(blank_exercises(nbformat.read(path, as_version=4)))
