"""Fast mode, paths and seeding: the one place that reads the course's environment variables.

``COURSE_FAST=1`` (set by ``make test``) shrinks data and epochs; the code path stays the same.
``COURSE_RESULTS_DIR`` moves the ledger and the progress file (``make test`` points it at a temporary
folder so a test run never touches your own results).
"""
from __future__ import annotations

import contextlib
import os
import random
import sys
from pathlib import Path
from typing import TypeVar

import numpy as np

T = TypeVar("T")

REPO_ROOT: Path = Path(__file__).resolve().parent.parent
DATA_DIR: Path = Path(os.environ.get("COURSE_DATA_DIR", REPO_ROOT / "data"))


def is_fast() -> bool:
    """True when the course runs in fast mode (``COURSE_FAST=1``)."""
    return os.environ.get("COURSE_FAST", "0").strip().lower() in {"1", "true", "yes", "on"}


FAST: bool = is_fast()


def pick(full: T, fast: T) -> T:
    """Return ``fast`` in fast mode and ``full`` otherwise, e.g. ``epochs = pick(full=8, fast=1)``."""
    return fast if is_fast() else full


def mode_name() -> str:
    """``"fast"`` or ``"full"``: printed by notebooks so every output says how it was made."""
    return "fast" if is_fast() else "full"


def results_dir() -> Path:
    """Folder of the course ledger and other results (git-ignored); created on first use."""
    path = Path(os.environ.get("COURSE_RESULTS_DIR", REPO_ROOT / "results"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def strict_checks() -> bool:
    """True when a failed exercise check must raise (``make test``), not only print a message."""
    return os.environ.get("COURSE_STRICT_CHECKS", "0") == "1"


def solutions_shown() -> bool:
    """False when an instructor has turned off the last rung of the hint ladder (``COURSE_SHOW_SOLUTIONS=0``):
    ``hints.ask`` then stops at hint 2 instead of showing the reference solution."""
    return os.environ.get("COURSE_SHOW_SOLUTIONS", "1") != "0"


def seed_everything(seed: int = 0) -> None:
    """Seed Python, NumPy and Keras/TensorFlow so a run is repeatable (up to thread scheduling)."""
    random.seed(seed)
    np.random.seed(seed)
    try:
        import keras

        keras.utils.set_random_seed(seed)
    except ImportError:  # pragma: no cover - keras is a dependency
        pass


@contextlib.contextmanager
def quiet_native_stderr():
    """Silence what C++ libraries (TensorFlow, LiteRT) write straight to the process's stderr.

    Python-level errors and warnings are not affected: they do not go through file descriptor 2
    inside Jupyter. Used around TensorFlow's import and interpreter creation, whose start-up
    messages ("oneDNN custom operations are on", "Created TensorFlow Lite XNNPACK delegate") are
    noise for a learner.
    """
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):  # no real fd 2 (some embedded consoles)
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def import_tensorflow():
    """Import TensorFlow quietly (no C++ start-up chatter, Python logger at ERROR) and return it."""
    with quiet_native_stderr():
        import tensorflow as tf

        tf.config.list_physical_devices()  # device discovery prints its CUDA messages here
    tf.get_logger().setLevel("ERROR")
    try:
        from absl import logging as absl_logging

        absl_logging.set_verbosity(absl_logging.ERROR)
    except ImportError:  # pragma: no cover
        pass
    return tf
