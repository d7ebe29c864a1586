"""Repository-wide pytest hook: where `make test`'s time goes, printed at the end of every run.

Each test file and each notebook is a *phase*; the summary lists every notebook's nbval time, then the
slowest phases and the total, so a regression against the budget (COURSE.md: each notebook <= 90 s in
fast mode, 09 <= 120 s; the whole `make test` <= 15 min) is seen at once.
"""
import time
from collections import defaultdict

_phase_seconds: dict[str, float] = defaultdict(float)
_start = time.perf_counter()
NOTEBOOK_BUDGET_S = {"09_capstone_hourglass": 120.0}
DEFAULT_NOTEBOOK_BUDGET_S = 90.0


# Longest first. `make test` runs two workers with --dist loadscope, which hands out whole files (a test module,
# a notebook); with --no-loadscope-reorder it takes them in collection order (xdist's default sorts them by number of
# tests, which put a 430 s grading half, 13 tests, near the end while the other worker ran out of work). These files,
# in this order, go first (their times in fresh-clone runs on the 2-core machine: the capstone 205-290 s, each
# grading half 430-450 s, 05/08/03 80-110 s, the browser, pose and hub tests 60-80 s); every other file keeps its
# place after them.
LONGEST_FIRST = (
    "notebooks/09_capstone_hourglass.ipynb", "tests/test_grading.py", "tests/test_grading_second_half.py",
    "notebooks/05_pruning.ipynb", "notebooks/08_tflite_deployment.ipynb", "notebooks/03_mobilenet_v2.ipynb",
    "tests/test_browser.py", "tests/test_pose.py", "tests/test_hub.py", "notebooks/07_int8_quantization.ipynb",
    "notebooks/06_crelu_hyperfeatures.ipynb", "notebooks/04_binarization.ipynb",
)


def pytest_collection_modifyitems(items):
    """Put the files of LONGEST_FIRST first, in that order (a stable sort: each file's tests and cells keep theirs)."""
    rank = {path: i for i, path in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(LONGEST_FIRST)))


def pytest_runtest_logreport(report):
    _phase_seconds[report.nodeid.split("::", 1)[0]] += report.duration


def _budget(path: str) -> float:
    stem = path.rsplit("/", 1)[-1].removesuffix(".ipynb")
    return NOTEBOOK_BUDGET_S.get(stem, DEFAULT_NOTEBOOK_BUDGET_S)


def pytest_terminal_summary(terminalreporter):
    if not _phase_seconds:
        return
    notebooks = {p: s for p, s in _phase_seconds.items() if p.endswith(".ipynb")}
    if notebooks:
        terminalreporter.section("notebook run times (nbval, fast mode)")
        for path, seconds in sorted(notebooks.items()):
            over = "  OVER BUDGET" if seconds > _budget(path) else ""
            terminalreporter.write_line(f"{path:45s} {seconds:7.1f} s  (budget {_budget(path):.0f} s){over}")
        terminalreporter.write_line(f"{'all notebooks':45s} {sum(notebooks.values()):7.1f} s")
    terminalreporter.section("slowest phases (test files and notebooks)")
    for path, seconds in sorted(_phase_seconds.items(), key=lambda kv: -kv[1])[:10]:
        terminalreporter.write_line(f"{path:45s} {seconds:7.1f} s")
    total = time.perf_counter() - _start
    terminalreporter.write_line(f"{'tests in all (wall clock, pytest)':45s} {total:7.1f} s = {total / 60:.1f} min")
