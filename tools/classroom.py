"""Student copies and autograding with nbgrader, one assignment per notebook (see the README, "Teaching with it").

    python tools/classroom.py student                   # make student: grading/release/NN_name/NN_name.ipynb
    python tools/classroom.py student --only 01 --only 04
    python tools/classroom.py autograde [--only 01]     # grade grading/submitted/<student>/NN_name/ and print scores

``student`` copies each notebook to ``<course-dir>/source/NN_name/`` (a generated folder: edit notebooks/,
not the copy) and runs nbgrader's generate_assignment, which writes the student copy to
``<course-dir>/release/NN_name/``: solutions replaced by ``pass  # YOUR CODE HERE``, outputs cleared, checker
cells locked, checksums recorded. The blanking is ``course_lib.practice.blank_exercises``, the function ``make lab``'s
practice copies are made with (it runs nbgrader's LockCells and ClearSolutions), put in place of those two steps of
nbgrader's pipeline, so student and practice copies cannot drift apart.
``autograde`` runs nbgrader's autograde on every collected submission and
prints the score of each. The settings (stub, strict checks while grading, fast mode, cell timeout) are in
``<course-dir>/nbgrader_config.py``; ``--course-dir`` (default ``grading/``) must contain a copy of it.
Everything runs in this process through nbgrader's Python API, so the whole course takes seconds, not a
nbgrader start-up per notebook.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import nbgrader_tag  # noqa: E402  (the metadata must be right before nbgrader reads it)

sys.path.insert(0, str(ROOT / "scripts"))
from lab import course_module  # noqa: E402  (course_lib.practice without importing TensorFlow)

practice = course_module("practice")

COURSE_DIR = ROOT / "grading"


def api(course_dir: Path = COURSE_DIR):
    """An ``NbGraderAPI`` configured from ``course_dir/nbgrader_config.py`` (which also sets the grading env)."""
    from nbgrader.apps import NbGraderAPI
    from traitlets.config.loader import PyFileConfigLoader

    course_dir = Path(course_dir).resolve()
    if not (course_dir / "nbgrader_config.py").exists():
        raise FileNotFoundError(f"{course_dir}/nbgrader_config.py is missing: the course directory needs the course's "
                                f"nbgrader configuration (copy {COURSE_DIR / 'nbgrader_config.py'})")
    # nbgrader runs `alembic` from PATH for its gradebook: make it this environment's, also without `activate`
    os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    config = PyFileConfigLoader("nbgrader_config.py", path=str(course_dir)).load_config()
    config.CourseDirectory.root = str(course_dir)
    config.GenerateAssignment.preprocessors = generate_preprocessors()
    return NbGraderAPI(config=config)


def generate_preprocessors() -> list:
    """nbgrader's generate_assignment pipeline with its LockCells + ClearSolutions replaced by the course's
    ``practice.blank_exercises`` (which runs those two); everything after it (clear all outputs, checksums,
    metadata checks) is nbgrader's, so autograding is unchanged."""
    from nbgrader.converters import GenerateAssignment
    from nbgrader.preprocessors import ClearSolutions, LockCells, NbGraderPreprocessor

    class BlankExercises(NbGraderPreprocessor):
        """``practice.blank_exercises`` as an nbgrader step."""

        def preprocess(self, nb, resources):
            return practice.blank_exercises(nb), resources

    steps = []
    for step in GenerateAssignment.class_traits()["preprocessors"].default():
        if step is LockCells:
            steps.append(BlankExercises)
        elif step is not ClearSolutions:
            steps.append(step)
    if BlankExercises not in steps:
        raise RuntimeError("nbgrader's generate_assignment no longer has a LockCells step: update classroom.py")
    return steps


def _run(result: dict, what: str) -> None:
    if not result.get("success"):
        raise RuntimeError(f"nbgrader {what} failed:\n{result.get('log', '')}\n{result.get('error', '')}")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _copy_source(notebook: Path, target: Path, stamps: Path) -> None:
    """Copy ``notebook`` to nbgrader's source folder, refusing to overwrite a copy someone edited there."""
    stamps.mkdir(exist_ok=True)
    stamp = stamps / f"{target.name}.sha256"  # hash of what this tool last copied (outside source/: nbgrader
    #                                            would release any extra file of an assignment folder)
    if target.exists() and _sha256(target) != _sha256(notebook):
        if not stamp.exists() or stamp.read_text().strip() != _sha256(target):
            raise FileExistsError(f"{target} was edited after `make student` copied it there, so it is not "
                                  f"overwritten. Edit notebooks/{notebook.name} instead: move or delete {target} "
                                  "(keeping your changes elsewhere) and run make student again.")
    shutil.copy2(notebook, target)
    stamp.write_text(_sha256(target) + "\n")


def generate(paths: list[Path], course_dir: Path = COURSE_DIR) -> list[Path]:
    """Generate the student copy of each notebook in ``paths``; return the paths of the copies."""
    wrong = [line for path in paths for line in nbgrader_tag.problems(path)]
    if wrong:
        raise ValueError("nbgrader metadata is missing or stale; run `python tools/nbgrader_tag.py` first:\n"
                         + "\n".join(wrong))
    grader = api(course_dir)
    root = Path(grader.coursedir.root)
    copies = []
    for path in paths:
        assignment = path.stem
        source = root / "source" / assignment
        source.mkdir(parents=True, exist_ok=True)
        _copy_source(path, source / path.name, root / ".make_student")
        _run(grader.generate_assignment(assignment, force=True), f"generate_assignment {assignment}")
        copies.append(root / "release" / assignment / path.name)
    return copies


def autograde(assignments: list[str], course_dir: Path = COURSE_DIR) -> list[dict]:
    """Autograde every submission of ``assignments`` found in ``submitted/``; one row per submission."""
    from nbgrader.api import Gradebook

    grader = api(course_dir)
    root = Path(grader.coursedir.root)
    rows = []
    for assignment in assignments:
        for folder in sorted(root.glob(f"submitted/*/{assignment}")):
            student = folder.parent.name
            _run(grader.autograde(assignment, student, force=True, create=True), f"autograde {assignment} {student}")
            with Gradebook(grader.coursedir.db_url, grader.coursedir.course_id) as gradebook:
                submission = gradebook.find_submission(assignment, student)
                cells = {g.name: g.score for nb in submission.notebooks for g in nb.grades}
                rows.append({"assignment": assignment, "student": student, "score": submission.score,
                             "max_score": submission.max_score, "cells": cells})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["student", "autograde"])
    parser.add_argument("--only", action="append", default=[], help="notebook name prefix, e.g. 01 (repeatable)")
    parser.add_argument("--course-dir", type=Path, default=COURSE_DIR, help="nbgrader course directory (default: grading/)")
    parser.add_argument("--json", action="store_true", help="autograde: print the scores as JSON lines (tests)")
    args = parser.parse_args(argv)
    paths = [p for p in nbgrader_tag.notebook_paths() if not args.only or any(p.name.startswith(o) for o in args.only)]
    if not paths:
        print("no notebooks matched", file=sys.stderr)
        return 1
    try:
        if args.command == "student":
            for copy in generate(paths, args.course_dir):
                print(f"student copy: {copy.relative_to(ROOT) if copy.is_relative_to(ROOT) else copy}")
            return 0
        rows = autograde([p.stem for p in paths], args.course_dir)
    except (OSError, ValueError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if not rows:
        print(f"no submissions in {args.course_dir}/submitted/<student>/<assignment>/ (nbgrader collect puts them there)")
    for row in rows:
        print(json.dumps(row) if args.json else
              f"{row['assignment']:28s} {row['student']:20s} {row['score']:g} / {row['max_score']:g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
