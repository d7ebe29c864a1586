"""`make lab`'s command: prepare the learner's working copies, then start JupyterLab on them.

    python scripts/lab.py [--copy practice|reference] [--workdir DIR] [--prepare-only] [-- JUPYTER-LAB-OPTIONS...]
    python scripts/lab.py --progress          # make progress: the learner's progress view, in the terminal

What it does, every start (cheap and idempotent):

1. Working copies. The course's notebooks in ``notebooks/`` are never opened or saved by the lab: each is
   copied to ``DIR`` the first time, and the learner runs, edits and saves the copy. Two kinds:

   - ``--copy practice`` (the default, ``make lab``; ``DIR`` = ``my_notebooks/``): every exercise blank, made by
     ``course_lib.practice.blank_exercises``, the function nbgrader's student copies are made with (the solution
     replaced by ``pass  # YOUR CODE HERE``, the exercise cells' outputs cleared, checker cells read-only); the
     explanations, figures and tables of the other cells stay.
   - ``--copy reference`` (``make lab COPY=reference``; ``DIR`` = ``my_notebooks_reference/``): the course's
     notebooks as committed, reference solutions and outputs included (for presenters and for reading).

   A copy the learner has not changed is refreshed when the course's notebook changes (``git pull``); a copy
   the learner changed is never overwritten: the course's new version is written beside it, as
   ``NN_name.new.ipynb`` (``NN_name.new-2.ipynb`` when the learner changed that one too), and one line names
   it. ``DIR/.course-versions.json`` records the hash of what was written for each file.
2. Trust. Copies written by this script are *trusted* for this user (their signature goes into
   Jupyter's signature database, ``nbsignatures.db`` in the Jupyter data folder; the file itself is
   not modified), so stored widgets render as widgets rather than as text.
3. No news pop-up. ``jupyter/lab-overrides.json`` is installed as an ``overrides.d`` file of this
   environment's JupyterLab (``<prefix>/share/jupyter/lab/settings/overrides.d/``), which turns off
   the "Jupyter news" question and the update check (both would go to the internet).

``--workdir notebooks`` (maintainers editing the course) opens the originals: nothing is copied,
they are trusted in place (still without modifying them).
"""
from __future__ import annotations

import argparse
import hashlib
import importlib
import itertools
import json
import os
import sys
import types
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
COURSE_NOTEBOOKS = REPO / "notebooks"
OVERRIDES = REPO / "jupyter" / "lab-overrides.json"
OVERRIDES_NAME = "lightweight-dl-lab.json"
MANIFEST = ".course-versions.json"
COPIES = {"practice": "my_notebooks", "reference": "my_notebooks_reference"}  # kind -> default folder


def course_module(name: str):
    """``course_lib.<name>`` without running ``course_lib/__init__.py``, which imports TensorFlow (5-10 s).

    ``practice`` and ``progress`` need only the standard library, numpy and nbformat. When the package is not
    imported yet, a bare package object stands in while the module loads, and is removed again, so a later
    ``import course_lib`` (a test process) still runs the real ``__init__``.
    """
    if "course_lib" in sys.modules:
        return importlib.import_module(f"course_lib.{name}")
    package = types.ModuleType("course_lib")
    package.__path__ = [str(REPO / "course_lib")]
    sys.modules["course_lib"] = package
    try:
        return importlib.import_module(f"course_lib.{name}")
    finally:
        del sys.modules["course_lib"]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def install_lab_settings(prefix: Path | str = sys.prefix) -> Path:
    """Install the course's JupyterLab setting overrides into ``prefix``; return the file written."""
    target = Path(prefix) / "share" / "jupyter" / "lab" / "settings" / "overrides.d" / OVERRIDES_NAME
    wanted = OVERRIDES.read_text(encoding="utf-8")
    json.loads(wanted)  # a broken file would make JupyterLab ignore every override: fail here instead
    if not target.exists() or target.read_text(encoding="utf-8") != wanted:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(wanted, encoding="utf-8")
    return target


def trust(paths: list[Path]) -> None:
    """Sign notebooks in this user's Jupyter signature database (the files are not modified)."""
    import nbformat
    from nbformat.sign import NotebookNotary

    notary = NotebookNotary()
    for path in paths:
        nb = nbformat.read(path, as_version=nbformat.NO_CONVERT)
        if not notary.check_signature(nb):
            notary.sign(nb)


def copy_text(original: Path, kind: str) -> bytes:
    """The bytes of the working copy of ``original``: the notebook itself, or its practice copy."""
    if kind == "reference":
        return original.read_bytes()
    if kind == "practice":
        return course_module("practice").practice_copy_text(original).encode("utf-8")
    raise ValueError(f"unknown kind of copy {kind!r}; choose one of {sorted(COPIES)}")


def prepare_copies(workdir: Path, source: Path = COURSE_NOTEBOOKS,
                   kind: str = "reference") -> tuple[list[Path], list[str]]:
    """Create or refresh working copies (``kind``: "practice" or "reference") of the course's notebooks in ``workdir``.

    Returns the copies identical to the course's version (new, refreshed or untouched: the ones to
    trust; the ``.new.ipynb`` files among them) and messages for the learner. A copy whose content differs
    from the course version it was made from (the learner's work) is never overwritten: when the course
    changed it, its new version goes beside it (:func:`write_new_version`).
    """
    originals = sorted(source.glob("*.ipynb"))
    if not originals:
        raise FileNotFoundError(f"no notebooks found in {source}")
    workdir.mkdir(parents=True, exist_ok=True)
    manifest_path = workdir / MANIFEST
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    pristine, messages = [], []
    for original in originals:
        copy = workdir / original.name
        content = copy_text(original, kind)
        course_hash = hashlib.sha256(content).hexdigest()
        if copy.exists():
            copy_hash = _sha256(copy)
            recorded = manifest.get(original.name)
            if copy_hash == course_hash:
                manifest[original.name] = course_hash
                pristine.append(copy)
                continue
            if copy_hash != recorded:  # the learner's own work: keep it
                if recorded != course_hash:
                    new = write_new_version(workdir, copy.name, content, manifest)
                    pristine.append(new)
                    messages.append(new_version_message(copy.name, new))
                continue
        copy.write_bytes(content)
        manifest[original.name] = course_hash
        pristine.append(copy)
    manifest_path.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return pristine, messages


def new_version_names(name: str) -> Iterator[str]:
    """The names for the course's new version of copy ``name``: ``NN_x.new.ipynb``, ``NN_x.new-2.ipynb``, ..."""
    stem = Path(name).stem
    return (f"{stem}.new.ipynb" if n == 1 else f"{stem}.new-{n}.ipynb" for n in itertools.count(1))


def write_new_version(workdir: Path, name: str, content: bytes, manifest: dict) -> Path:
    """Write the course's new version of the copy ``name`` beside it (the copy is the learner's); return its path.

    It goes to ``NN_x.new.ipynb``, or, when that file is the learner's too (it differs from what this script
    wrote there), to the first of ``NN_x.new-2.ipynb``, ``-3``, ... that is free, already this content, or
    a file this script wrote and nobody changed since. No file the learner changed is ever overwritten.
    """
    course_hash = hashlib.sha256(content).hexdigest()
    for candidate in (workdir / n for n in new_version_names(name)):
        current = _sha256(candidate) if candidate.exists() else None
        if current in (None, course_hash, manifest.get(candidate.name)):
            if current != course_hash:
                candidate.write_bytes(content)
            manifest[candidate.name] = course_hash
            return candidate
    raise AssertionError("not reached: new_version_names never ends")


def new_version_message(name: str, new: Path) -> str:
    """The line saying where the course's new version of the learner's changed copy ``name`` is."""
    first = next(new_version_names(name))
    also = "" if new.name == first else f" ({first} has changes of yours too, so it is kept as well)"
    return (f"{name}: the course changed this notebook and you changed your copy, so your copy is kept as it is; "
            f"the course's new version is beside it, in {new.name}{also}.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--copy", choices=sorted(COPIES), default="practice",
                        help="practice: exercises blank (default); reference: with the reference solutions")
    parser.add_argument("--workdir", help="folder JupyterLab opens (default: my_notebooks for practice copies, "
                        "my_notebooks_reference for reference copies)")
    parser.add_argument("--progress", action="store_true", help="print your progress through the exercises and exit")
    parser.add_argument("--prepare-only", action="store_true", help="copy, trust and configure, do not start")
    parser.add_argument("lab_args", nargs=argparse.REMAINDER, help="options passed on to `jupyter lab` (after --)")
    args = parser.parse_args(argv)
    lab_args = [a for a in args.lab_args if a != "--"]

    if args.progress:
        course_module("progress").show()
        return 0
    workdir = Path(args.workdir or COPIES[args.copy])
    workdir = workdir if workdir.is_absolute() else (REPO / workdir)
    install_lab_settings()
    if workdir.resolve() == COURSE_NOTEBOOKS.resolve():
        trust(sorted(COURSE_NOTEBOOKS.glob("*.ipynb")))
        print("Opening the course's own notebooks/ (maintainer mode): your saves change the repository.")
    else:
        pristine, messages = prepare_copies(workdir, kind=args.copy)
        trust(pristine)
        what = "practice copies (exercises blank; make lab COPY=reference for the reference copies)" \
            if args.copy == "practice" else "reference copies (with the solutions; make lab for practice copies)"
        print(f"Your working copies are in {workdir}: {what}. notebooks/ itself is never changed.")
        for message in messages:
            print("  " + message)
    if args.prepare_only:
        return 0

    env = dict(os.environ)
    env.setdefault("JUPYTER_RUNTIME_DIR", str(Path(sys.prefix) / "share" / "jupyter" / "runtime"))
    command = [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={workdir}", *lab_args]
    sys.stdout.flush()
    os.execve(sys.executable, command, env)
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
