"""make checkpoints: train every recipe the capstone's pipeline meets, once, into checkpoints/.

The pipeline (course_lib.capstone.walk) decides which recipe comes next from what the rule kept, so it is
walked twice: with the full validation split (what notebook 09 reads in full mode) and with the fast-mode
one (its first 200 images), so both modes find every checkpoint they need. An up-to-date checkpoint (same
recipe, same data, intact weights) is loaded, not retrained: the command can be stopped and resumed.

    .venv/bin/python scripts/checkpoints.py            # train what is missing or stale
    .venv/bin/python scripts/checkpoints.py --list     # what is shipped, and whether it is up to date
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tqdm import tqdm  # noqa: E402

from course_lib import capstone, checkpoints  # noqa: E402


def _progress_get(recipes: dict):
    """checkpoints.get with a tqdm bar per trained recipe (epochs, with the validation metric)."""
    def get(recipe):
        try:
            checkpoints.verify(recipe)
            return checkpoints.get(recipe, recipes, build=True)
        except checkpoints.CheckpointError as exc:
            tqdm.write(f"training {recipe.name}: {exc}")
        bar = tqdm(total=recipe.epochs, desc=recipe.name, unit="epoch", leave=True)

        def tick(epoch, history):
            bar.update(1)
            bar.set_postfix({k[4:]: f"{v[-1]:.3f}" for k, v in history.items() if k.startswith("val PCK@0.")})

        try:
            return checkpoints.get(recipe, recipes, build=True, progress=tick, say=tqdm.write)
        finally:
            bar.close()
    return get


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--list", action="store_true", help="list the shipped checkpoints and their state")
    args = parser.parse_args()
    if args.list:
        for name, entry in sorted(checkpoints.manifest().items()):
            recipe = checkpoints.Recipe(**{k: v for k, v in entry["recipe"].items()
                                           if k in checkpoints.Recipe.__dataclass_fields__})
            try:
                checkpoints.verify(recipe)
                state = "up to date"
            except checkpoints.CheckpointError as exc:
                state = str(exc)
            print(f"{name}: {entry['bytes'] / 1e3:.0f} kB, {entry['seconds']:.0f} s, {state}")
        return 0
    t0 = time.perf_counter()
    for fast in (False, True):
        _, (x_val, y_val), _ = checkpoints.split(fast=fast)
        pipe = capstone.Pipeline(x_val, y_val)
        pipe._get = _progress_get(pipe.recipes)
        print(f"walking the pipeline with the {'fast' if fast else 'full'} validation split ({len(x_val)} images)")
        capstone.walk(pipe, say=tqdm.write)
        for name, row in pipe.rows.items():
            print(f"  {name}: {row['decision']} ({row['why']})")
    shipped = checkpoints.manifest()
    size = sum(e["bytes"] for e in shipped.values())
    print(f"{len(shipped)} checkpoints in {checkpoints.SHIPPED}/ ({size / 1e6:.1f} MB); "
          f"this run {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
