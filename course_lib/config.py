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


def check_builder_shape(builder: str, input_shape, halvings: int = 0) -> tuple[int, int, int]:
    """Validate a model builder's ``input_shape``: (height, width, channels) of positive whole numbers,
    large enough for ``halvings`` stride-2 steps (each halves the map; below 1 pixel Keras fails deep
    inside a layer). Returns the shape; raises ValueError naming the argument, its value and the minimum."""
    shape = tuple(input_shape) if isinstance(input_shape, (tuple, list)) else None
    if shape is None or len(shape) != 3 or not all(isinstance(d, (int, np.integer)) and not isinstance(d, bool)
                                                    and d >= 1 for d in shape):
        raise ValueError(f"{builder}: input_shape must be (height, width, channels) of positive whole numbers, "
                         f"got {input_shape!r}")
    smallest = 2 ** halvings
    if shape[0] < smallest or shape[1] < smallest:
        raise ValueError(f"{builder}: input_shape={tuple(int(d) for d in shape)} is too small: the model halves "
                         f"the image {halvings} times, so height and width must be at least {smallest}.")
    return int(shape[0]), int(shape[1]), int(shape[2])


def check_widths(builder: str, widths, name: str = "widths") -> tuple[int, ...]:
    """Validate a builder's channel widths: a non-empty sequence of whole numbers >= 1."""
    values = tuple(widths) if isinstance(widths, (tuple, list)) else None
    if not values or not all(isinstance(w, (int, np.integer)) and not isinstance(w, bool) and w >= 1 for w in values):
        raise ValueError(f"{builder}: {name} must be a non-empty list of channel counts (whole numbers >= 1), "
                         f"got {widths!r}")
    return tuple(int(w) for w in values)

