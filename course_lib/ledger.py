"""The course ledger: one CSV row per measured model, shared by every notebook.

``record(...)`` adds or updates the row for (notebook, model, technique, mode) in
``results/ledger.csv`` (git-ignored; ``COURSE_RESULTS_DIR`` moves it, and ``make test`` points it
at a temporary folder so tests never touch your results). ``read()`` returns all rows as a table;
``missing(expected)`` says which expected rows are not there yet. Reading never fails because
rows are missing.
"""
from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from . import config

COLUMNS = ["notebook", "model", "technique", "params", "macs", "bytes", "bytes_kind", "accuracy", "latency_ms",
           "latency_iqr_ms", "threads", "runtime", "mode", "cpu", "recorded_at", "notes"]
KEY = ["notebook", "model", "technique", "mode"]
#: What ``bytes`` can measure. Sizes of different kinds do not compare: a zipped file hides zeros,
#: packed weights leave out the graph, a flatbuffer holds both.
BYTES_KINDS = ("flatbuffer", "gzip", "packed weights", "keras file", "float32 weights")
INT_COLUMNS = ["params", "macs", "bytes", "threads"]


def path() -> Path:
    """Where the ledger lives."""
    return config.results_dir() / "ledger.csv"


def read() -> pd.DataFrame:
    """All recorded rows (an empty table with the right columns if nothing was recorded)."""
    file = path()
    if not file.exists():
        return pd.DataFrame(columns=COLUMNS)
    try:
        table = pd.read_csv(file)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ValueError(f"{file} is not a readable ledger CSV ({exc}). Move it away (it is yours, "
                         f"so it is not replaced automatically) and re-run the notebooks.") from exc
    unknown = [c for c in table.columns if c not in COLUMNS]
    if unknown or "notebook" not in table.columns:
        raise ValueError(f"{file} has columns {list(table.columns)}, expected {COLUMNS}. Move it away "
                         f"(it is not overwritten automatically) and re-run the notebooks.")
    table = table.reindex(columns=COLUMNS)
    for column in INT_COLUMNS:  # whole numbers stay whole even when some rows leave them empty
        table[column] = pd.to_numeric(table[column], errors="coerce").round().astype("Int64")
    return table


def record(notebook: str, model: str, technique: str, *, params: int | None = None, macs: int | None = None,
           bytes: int | None = None, bytes_kind: str = "", accuracy: float | None = None, latency_ms: float | None = None,
           latency_iqr_ms: float | None = None, threads: int | None = None, runtime: str = "",
           cpu: str = "", notes: str = "") -> pd.Series:
    """Add (or update) one measured model. Accuracy is a fraction in [0, 1].

    ``bytes_kind`` says what ``bytes`` measures (one of :data:`BYTES_KINDS`: a LiteRT "flatbuffer",
    a "gzip"-compressed file, bit-"packed weights", ...); ``runtime`` says what timed the latency
    ("litert", "keras", "numpy", ...).
    """
    if not notebook or not model or not technique:
        raise ValueError("record needs a notebook, a model and a technique name")
    if accuracy is not None and not (0.0 <= accuracy <= 1.0 or math.isnan(accuracy)):
        raise ValueError(f"accuracy must be a fraction in [0, 1], got {accuracy} for model '{model}'")
    if bytes_kind and bytes_kind not in BYTES_KINDS:
        raise ValueError(f"bytes_kind must be one of {BYTES_KINDS}, got {bytes_kind!r} for model '{model}'")
    for field, value in (("params", params), ("macs", macs), ("bytes", bytes), ("latency_ms", latency_ms)):
        if value is not None and value < 0:
            raise ValueError(f"{field} must not be negative, got {value} for model '{model}'")
    row = {"notebook": notebook, "model": model, "technique": technique, "params": params, "macs": macs,
           "bytes": bytes, "bytes_kind": bytes_kind, "accuracy": accuracy, "latency_ms": latency_ms, "latency_iqr_ms": latency_iqr_ms,
           "threads": threads, "runtime": runtime, "mode": config.mode_name(), "cpu": cpu,
           "recorded_at": _dt.datetime.now().isoformat(timespec="seconds"), "notes": notes}
    table = read()
    if len(table):
        same = (table[KEY] == pd.Series({k: row[k] for k in KEY})).all(axis=1)
        table = table[~same]
    new = pd.DataFrame([row], columns=COLUMNS)
    table = new if table.empty else pd.concat([table, new], ignore_index=True)
    table.to_csv(path(), index=False)
    return pd.Series(row)


def missing(expected: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """Which ``(notebook, model)`` pairs have no row yet."""
    table = read()
    have = set(zip(table["notebook"], table["model"]))
    return [pair for pair in expected if pair not in have]
