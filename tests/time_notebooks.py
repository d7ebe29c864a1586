"""Run the notebooks the way nbval does (fresh kernel, top to bottom) and report how long each takes.

    python tests/time_notebooks.py                    # every notebook, fast and full mode, on copies
    python tests/time_notebooks.py --only 02 --fast   # one notebook, fast mode only
    python tests/time_notebooks.py --execute-in-place [--only 02]   # full mode, save outputs (make execute)

Copies are run in a temporary folder, so your notebooks are never modified unless you ask for
--execute-in-place. The ledger of a timing run goes to a temporary folder too.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"


def run(path: Path, fast: bool, save_to: Path | None, results_dir: str | None) -> float:
    nb = nbformat.read(path, as_version=4)
    env_backup = dict(os.environ)
    os.environ["COURSE_FAST"] = "1" if fast else "0"
    os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
    if results_dir:
        os.environ["COURSE_RESULTS_DIR"] = results_dir
    else:
        os.environ.pop("COURSE_RESULTS_DIR", None)
    try:
        client = NotebookClient(nb, timeout=1200, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}})
        start = time.perf_counter()
        client.execute()
        elapsed = time.perf_counter() - start
    finally:
        os.environ.clear()
        os.environ.update(env_backup)
    if save_to is not None:
        sys.path.insert(0, str(ROOT / "tools"))
        from shrink_outputs import shrink  # large photo-like PNG figures -> JPEG: each notebook stays <= 1 MB

        shrink(nb, min_kb=30)
        nbformat.write(nb, save_to)
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", action="append", default=[], help="notebook name prefix, e.g. 02 (repeatable)")
    parser.add_argument("--fast", action="store_true", help="fast mode only")
    parser.add_argument("--full", action="store_true", help="full mode only")
    parser.add_argument("--execute-in-place", action="store_true", help="run in full mode and save outputs into the notebooks")
    args = parser.parse_args()
    paths = sorted(p for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")
                   if not args.only or any(p.name.startswith(o) for o in args.only))
    if not paths:
        print("no notebooks matched", file=sys.stderr)
        return 1
    modes = [False] if args.execute_in_place or args.full else [True] if args.fast else [True, False]
    print(f"{'notebook':34s} " + " ".join(f"{'fast' if m else 'full':>8s}" for m in modes))
    for path in paths:
        times = []
        for fast in modes:
            with tempfile.TemporaryDirectory() as results:
                save = path if args.execute_in_place else None
                times.append(run(path, fast, save, None if args.execute_in_place else results))
        print(f"{path.name:34s} " + " ".join(f"{t:7.1f}s" for t in times), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
