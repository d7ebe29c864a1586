"""Give every exercise in notebooks/ the nbgrader cell metadata that student copies and grading need.

    python tools/nbgrader_tag.py            # write the metadata into notebooks/*.ipynb (only metadata changes)
    python tools/nbgrader_tag.py --check    # exit 1 and say what is missing or wrong (tests/test_grading.py)
    python tools/nbgrader_tag.py notebooks/09_capstone_hourglass.ipynb   # some notebooks only

The metadata is derived from the course's exercise convention, never written by hand:

* a code cell with a ``### BEGIN SOLUTION`` / ``### END SOLUTION`` region is an nbgrader **solution cell**;
* the code cell right after it calls a checker (``checks.check_int(...)``, ``mobilenet.check_budget_choice(...)``,
  any call of a ``check...`` function) and is the exercise's **checker**: an nbgrader
  autograder-test cell (``grade``, ``locked``) worth ``POINTS`` points, or a locked read-only cell in a
  notebook whose exercises are not graded (00's warm-up);
* the existing cell id is the grade id, so the ids in the gradebook stay stable when cells move;
* every other cell carries no nbgrader metadata (stale metadata is removed).

Re-run it after editing or merging notebooks; a notebook that breaks the convention (markers unbalanced, not
on lines of their own, in a markdown cell, or a solution not followed by a checker) is refused with a message
naming the notebook and cell. Sources and outputs are never changed.
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
# nbgrader's ClearSolutions matches these words anywhere in a line of any cell, markdown included.
DELIMITERS = ("BEGIN SOLUTION", "END SOLUTION")
CHECKER_CALL = re.compile(r"\bcheck\w*\(")  # checks.check_int(...), mobilenet.check_budget_choice(...)
SCHEMA_VERSION = 3
POINTS_PER_EXERCISE = 1
UNGRADED = {"00_welcome"}  # warm-up exercises: the checker is locked but worth no points


class ConventionError(ValueError):
    """A notebook does not follow the exercise convention, so its metadata cannot be derived."""


def _solution_region_ok(source: str, where: str) -> bool:
    """True when ``source`` has well-formed solution regions; raise if they are malformed."""
    depth, regions = 0, 0
    for line in source.split("\n"):
        stripped = line.strip()
        has_begin, has_end = DELIMITERS[0] in line, DELIMITERS[1] in line
        if not (has_begin or has_end):
            continue
        if stripped not in (BEGIN, END):
            raise ConventionError(f"{where}: a solution marker must stand alone on its line as "
                                  f"'{BEGIN}' or '{END}', found {stripped!r}")
        if stripped == BEGIN:
            if depth:
                raise ConventionError(f"{where}: nested '{BEGIN}'")
            depth, regions = 1, regions + 1
        else:
            if not depth:
                raise ConventionError(f"{where}: '{END}' without a '{BEGIN}' before it")
            depth = 0
    if depth:
        raise ConventionError(f"{where}: '{BEGIN}' without an '{END}'")
    return regions > 0


def expected_metadata(nb, name: str) -> list[dict | None]:
    """The nbgrader metadata each cell of ``nb`` must carry (None: no nbgrader metadata)."""
    graded = name not in UNGRADED
    wanted: list[dict | None] = [None] * len(nb.cells)
    for index, cell in enumerate(nb.cells):
        where = f"{name} cell {index} (id {cell.get('id')})"
        if cell.cell_type != "code":
            if any(d in cell.source for d in DELIMITERS):
                raise ConventionError(f"{where}: a {cell.cell_type} cell mentions a solution marker; nbgrader "
                                      "would treat it as a solution region. Rephrase it without the marker words.")
            continue
        if not _solution_region_ok(cell.source, where):
            continue
        if wanted[index] is not None:
            raise ConventionError(f"{where}: a checker cell (the cell after a solution) cannot hold a solution")
        if not cell.get("id"):
            raise ConventionError(f"{where}: the cell has no id (save the notebook with nbformat >= 4.5)")
        wanted[index] = {"grade": False, "grade_id": cell.id, "locked": False, "schema_version": SCHEMA_VERSION,
                         "solution": True, "task": False}
        following = index + 1
        checker = nb.cells[following] if following < len(nb.cells) else None
        if checker is None or checker.cell_type != "code" or not CHECKER_CALL.search(checker.source):
            raise ConventionError(f"{where}: a solution cell must be followed directly by a code cell that calls "
                                  "a checker (course_lib.checks or a check_... function): the exercise's checker")
        meta = {"grade": graded, "grade_id": checker.id, "locked": True, "schema_version": SCHEMA_VERSION,
                "solution": False, "task": False}
        if graded:
            meta["points"] = POINTS_PER_EXERCISE
        wanted[following] = dict(sorted(meta.items()))
    return wanted


def problems(path: Path) -> list[str]:
    """What is wrong with the nbgrader metadata of ``path`` (empty when it is right)."""
    nb = nbformat.read(path, as_version=4)
    found = []
    for index, (cell, meta) in enumerate(zip(nb.cells, expected_metadata(nb, path.stem))):
        have = cell.metadata.get("nbgrader")
        if have != meta:
            found.append(f"{path.name} cell {index} (id {cell.get('id')}): nbgrader metadata is {have}, expected {meta}")
    return found


def tag(path: Path) -> bool:
    """Write the expected metadata into ``path``; True when the file changed. Sources and outputs are untouched."""
    nb = nbformat.read(path, as_version=4)
    changed = False
    for cell, meta in zip(nb.cells, expected_metadata(nb, path.stem)):
        if cell.metadata.get("nbgrader") == meta:
            continue
        changed = True
        if meta is None:
            del cell.metadata["nbgrader"]
        else:
            cell.metadata["nbgrader"] = meta
    if changed:
        nbformat.write(nb, path)
    return changed


def notebook_paths(names: list[str] | None = None) -> list[Path]:
    """The course notebooks (``NN_name.ipynb``), or the ones named."""
    if names:
        return [Path(n).resolve() for n in names]
    return sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebooks", nargs="*", help="notebooks to tag (default: every notebooks/NN_*.ipynb)")
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if any metadata is missing or wrong")
    args = parser.parse_args(argv)
    status = 0
    for path in notebook_paths(args.notebooks):
        try:
            if args.check:
                for line in problems(path):
                    print(line)
                    status = 1
            elif tag(path):
                print(f"tagged {path.name}")
        except ConventionError as exc:
            print(f"error: {exc}", file=sys.stderr)
            status = 1
    if args.check and status:
        print("Run `python tools/nbgrader_tag.py` to fix the metadata.", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
