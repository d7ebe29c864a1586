"""Your progress: every checker run records pass or fail for its exercise; :func:`show` lists where you are.

The record is ``progress.json`` in your results folder (``config.results_dir()``: ``results/``, git-ignored, or
``COURSE_RESULTS_DIR``), never in the course's files. Per exercise it keeps the last try (date, pass or fail),
the number of tries, when it was first solved and how far up the hint ladder you went (``hints.ask``).

How a checker knows its exercise: :func:`checked` (called by every check, ``checks._report``) finds the notebook
cell being run, the frame of the kernel's user namespace, and reads its source; the exercise is the one whose
checker calls that cell contains (``practice.exercise_of_cell``). Nothing is added to the notebooks, and it works
the same under JupyterLab, nbval, nbgrader and any renamed copy. Outside a notebook (tests, scripts) and inside
``checks.lenient()`` (a demonstration of a wrong answer) nothing is recorded.

All the checks one cell run makes count as one try: solved when every one passed. A file that cannot be read, or
that an older or newer version of the course wrote, is never silently reset: the view says so and leaves it; the
next checker run moves it aside (``progress.unreadable-<date>.json``, next to it) and says where.
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import sys
from pathlib import Path

from . import config, practice

FORMAT = 1          # bump when the file's layout changes (and teach :func:`load` to read the older one)
FILE_NAME = "progress.json"
DONE, TRIED, NOT_STARTED = "done", "tried", "not started"
_MARK = {DONE: "✅", TRIED: "✎", NOT_STARTED: "·"}
SOLUTION_RUNG = 3   # the hint ladder's last rung, the reference solution (hints.RUNGS)
SOLUTION_SHOWN = "solution shown"
TITLE_WIDTH = 44    # the view's title column; a longer title goes on over the next lines, whole words
_runs: dict[str, dict] = {}     # this kernel's current cell run per exercise (several checks = one try)
_last_failed: list[str] = []    # the exercise whose check failed last in this kernel (hints.ask() without id)


class ProgressFileError(ValueError):
    """The progress file cannot be used (not JSON, not the course's, or another course version's layout)."""


def path() -> Path:
    """Where the progress is recorded: ``<results folder>/progress.json``."""
    return config.results_dir() / FILE_NAME


def _shown(p: Path) -> str:
    try:
        return str(p.relative_to(config.REPO_ROOT))
    except ValueError:
        return str(p)


def load(file: Path | None = None) -> dict:
    """The recorded progress ``{exercise id: entry}`` ({} before the first check); raise ProgressFileError."""
    file = path() if file is None else file
    if not file.exists():
        return {}
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProgressFileError(f"{_shown(file)} cannot be read ({type(exc).__name__}: {exc})") from exc
    if not isinstance(data, dict) or not isinstance(data.get("exercises"), dict):
        raise ProgressFileError(f"{_shown(file)} is not a progress file of this course")
    if data.get("format") != FORMAT:
        which = "an older" if isinstance(data.get("format"), int) and data["format"] < FORMAT else "another"
        raise ProgressFileError(f"{_shown(file)} was written by {which} version of the course "
                                f"(format {data.get('format')!r}; this version reads format {FORMAT})")
    return data["exercises"]


def _save(entries: dict, file: Path) -> None:
    tmp = file.with_name(f".{file.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"format": FORMAT, "course": "lightweight-dl-lab", "exercises": entries},
                              indent=1, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, file)  # atomic: a crash never leaves half a file


def _set_aside(file: Path, problem: ProgressFileError) -> Path:
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    kept = file.with_name(f"progress.unreadable-{stamp}.json")
    file.rename(kept)
    print(f"⚠️ Your progress file {problem}. It is kept as {_shown(kept)}; a new {file.name} starts now.",
          file=sys.stderr)
    return kept


@contextlib.contextmanager
def _locked(file: Path):
    """Read-modify-write under a lock file, so two kernels recording at once do not lose a try."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows without WSL: no lock
        yield
        return
    with open(file.with_name(f".{file.name}.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _update(exercise_id: str, change) -> None:
    file = path()
    with _locked(file):
        try:
            entries = load(file)
        except ProgressFileError as problem:
            _set_aside(file, problem)
            entries = {}
        entry = entries.setdefault(exercise_id, {})
        change(entry)
        _save(entries, file)


def _now() -> str:
    return _dt.datetime.now().isoformat(timespec="seconds")


def record(exercise_id: str, passed: bool, run: str | None = None) -> None:
    """Record one check of an exercise. Checks made in the same ``run`` (one cell run) are one try."""
    state = _runs.get(exercise_id)
    if state is None or run is None or state["run"] != run:
        state = _runs[exercise_id] = {"run": run, "passed": True, "solved_before": None, "first": True}
    state["passed"] = state["passed"] and bool(passed)

    def change(entry: dict) -> None:
        if state["first"]:
            state["solved_before"] = entry.get("solved")
            entry["tries"] = int(entry.get("tries", 0)) + 1
        entry["last_try"] = _now()
        entry["last_result"] = "pass" if state["passed"] else "fail"
        entry["solved"] = state["solved_before"] or (entry["last_try"] if state["passed"] else None)
        if entry["solved"] is None:
            del entry["solved"]

    _update(exercise_id, change)
    state["first"] = False


def note_hint(exercise_id: str, rung: int) -> None:
    """Remember the highest rung of the hint ladder shown for an exercise (so asking again goes on)."""
    def change(entry: dict) -> None:
        entry["hints"] = max(int(entry.get("hints", 0)), rung)

    _update(exercise_id, change)


def hints_seen(exercise_id: str) -> int:
    """How many rungs of an exercise's hint ladder were shown (0 when none, or when the file is unreadable)."""
    try:
        return int(load().get(exercise_id, {}).get("hints", 0))
    except ProgressFileError:
        return 0


def last_failed() -> str | None:
    """The exercise whose check failed last in this kernel."""
    return _last_failed[-1] if _last_failed else None


# ------------------------------------------------------------------------------------- the checkers' hook
def _running_cell() -> tuple[str, str] | None:
    """(source, run token) of the notebook cell being run in this IPython kernel, or None outside one."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    if shell is None:
        return None
    import linecache

    run = f"{os.getpid()}:{id(shell)}:{shell.execution_count}"  # the cell run (its number in the kernel)
    frame = sys._getframe(1)
    while frame is not None:  # the cell's top level runs in the user namespace
        if frame.f_globals is shell.user_ns and frame.f_code.co_name == "<module>":
            lines = linecache.getlines(frame.f_code.co_filename)
            if lines:
                return "".join(lines), f"{run}:{frame.f_code.co_filename}"
        frame = frame.f_back
    history = getattr(getattr(shell, "history_manager", None), "input_hist_raw", None)
    return (history[-1], run) if history else None


_warned: list[str] = []


def checked(passed: bool) -> str:
    """Record a check run from an exercise's checker cell; return the line to add to its message.

    Called by every check (``checks._report``). A failure gets one line per cell run saying how to ask for a hint.
    Never raises: a problem with the progress file is reported once and the check's own message is unchanged.
    """
    try:
        cell = _running_cell()
        exercise = practice.exercise_of_cell(cell[0]) if cell else None
        if exercise is None:
            return ""
        record(exercise.id, passed, run=cell[1])
    except Exception as exc:  # noqa: BLE001 - progress must never break a check
        if not _warned:
            _warned.append(str(exc))
            print(f"⚠️ Your progress could not be recorded ({type(exc).__name__}: {exc}).", file=sys.stderr)
        return ""
    if passed:
        return ""
    _last_failed.append(exercise.id)
    if _runs[exercise.id].get("noted"):  # one line per cell run, however many checks failed
        return ""
    _runs[exercise.id]["noted"] = True
    return f'\n   Stuck? Ask for a hint: from course_lib import hints; hints.ask("{exercise.id}")'


# ------------------------------------------------------------------------------------------- the view
def status(entry: dict | None) -> str:
    """done (solved at least once), tried (checked, never solved) or not started."""
    if not entry or not entry.get("tries"):
        return NOT_STARTED
    return DONE if entry.get("solved") else TRIED


def rows() -> list[dict]:
    """One row per exercise of the course, in order: chapter, exercise, title, status, last try, hints seen
    (the number of rungs) and whether the reference solution was shown (the last rung)."""
    entries = load()
    table = []
    for exercise in practice.exercises().values():
        entry = entries.get(exercise.id, {})
        last = entry.get("last_try")
        table.append({"chapter": exercise.notebook.removesuffix(".ipynb"), "exercise": exercise.id,
                      "title": exercise.title, "status": status(entry),
                      "last try": last.replace("T", " ")[:16] if last else "",
                      "result": entry.get("last_result", ""), "hints": int(entry.get("hints", 0)),
                      "solution shown": int(entry.get("hints", 0)) >= SOLUTION_RUNG})
    return table


def _help_seen(row: dict) -> str:
    """How much of the hint ladder a row's exercise used, for the view: "", "1 hint", "2 hints", "solution shown"."""
    if row["solution shown"]:
        return SOLUTION_SHOWN
    return f"{row['hints']} hint{'s' if row['hints'] != 1 else ''}" if row["hints"] else ""


def _row_lines(row: dict) -> list[str]:
    """A row of the view; its full title, wrapped at whole words onto further lines when it is long."""
    import textwrap

    title = textwrap.wrap(row["title"], TITLE_WIDTH) or [""]
    when = f"last try {row['last try']} ({row['result']})" if row["last try"] else ""
    notes = ", ".join(note for note in (when, _help_seen(row)) if note)
    first = f"  {_MARK[row['status']]} {row['exercise']:7s} {title[0]:{TITLE_WIDTH}s} {row['status']:11s} {notes}"
    return [first.rstrip()] + [f"{'':12s}{more}" for more in title[1:]]


def report() -> str:
    """The progress view as text: each chapter's exercises as done, tried or not started, with the last try and
    the hints seen ("2 hints", or "solution shown" once the reference solution was shown)."""
    file = path()
    try:
        table = rows()
    except ProgressFileError as problem:
        return (f"⚠️ Your progress file {problem}.\nIt is left as it is. Move it away to start afresh; otherwise "
                f"the next exercise check moves it aside (to progress.unreadable-<date>.json) and starts a new one.")
    counts = {s: sum(r["status"] == s for r in table) for s in (DONE, TRIED, NOT_STARTED)}
    solutions = sum(r["solution shown"] for r in table)
    lines = [f"Your progress ({_shown(file)}): {counts[DONE]} of {len(table)} exercises done, "
             f"{counts[TRIED]} tried, {counts[NOT_STARTED]} not started"
             + (f"; reference solution shown for {solutions}." if solutions else ".")]
    chapter = None
    for r in table:
        if r["chapter"] != chapter:
            chapter = r["chapter"]
            lines.append(f"\n{chapter}")
        lines.extend(_row_lines(r))
    return "\n".join(lines)


def show() -> None:
    """Print the progress view (00's last section; ``make progress``)."""
    print(report())
