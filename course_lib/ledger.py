"""The course ledger: one CSV row per measured model, shared by every notebook.

``record(...)`` adds or updates the row for (notebook, model, technique, mode) in
``results/ledger.csv`` (git-ignored; ``COURSE_RESULTS_DIR`` moves it, and ``make test`` points it
at a temporary folder so tests never touch your results). ``read()`` returns all rows as a table;
``missing(expected)`` says which expected rows are not there yet. Reading never fails because
rows are missing.

The file is parsed strictly: the header must name known columns, every row must have exactly as
many fields as the header, keys stay strings (``"05"`` is not ``5``, ``"NA"`` is a name), and
numbers must parse. A file that cannot be read exactly is refused with a message saying what to
do; it is never rewritten from a guess.
"""
from __future__ import annotations

import csv
import datetime as _dt
import math
import os
import warnings
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
FLOAT_COLUMNS = ["accuracy", "latency_ms", "latency_iqr_ms"]
OPTIONAL_COLUMNS = ["bytes_kind", "runtime"]  # files written before these existed are still read


class LedgerError(ValueError):
    """The ledger file cannot be read exactly, or a value given to ``record`` is not allowed."""


class LedgerWarning(UserWarning):
    """A value given to ``record`` is written, but probably not what was meant (a NaN metric)."""


def path() -> Path:
    """Where the ledger lives."""
    return config.results_dir() / "ledger.csv"


def _refuse(file: Path, why: str) -> LedgerError:
    return LedgerError(f"{file} is not a ledger this course can read exactly: {why}. It is yours, so it is not "
                       f"changed or replaced. Move it away (or fix that line) and re-run the notebooks.")


def _parse_number(file: Path, line: int, column: str, text: str):
    if text == "":
        return pd.NA
    try:
        value = float(text)
    except ValueError:
        raise _refuse(file, f"line {line}, column '{column}' holds {text!r}, which is not a number") from None
    if column in INT_COLUMNS:
        if not value.is_integer():
            raise _refuse(file, f"line {line}, column '{column}' holds {text!r}, which is not a whole number")
        return int(value)
    return value


def read() -> pd.DataFrame:
    """All recorded rows (an empty table with the right columns if nothing was recorded)."""
    file = path()
    if not file.exists():
        return _typed(pd.DataFrame(columns=COLUMNS))
    try:
        with open(file, newline="", encoding="utf-8") as fh:
            rows = list(csv.reader(fh, strict=True))
    except (csv.Error, UnicodeDecodeError) as exc:
        raise _refuse(file, f"it is not valid CSV ({exc})") from exc
    if not rows:
        raise _refuse(file, "it is empty (not even a header line)")
    header = rows[0]
    unknown = [c for c in header if c not in COLUMNS]
    missing = [c for c in COLUMNS if c not in header and c not in OPTIONAL_COLUMNS]
    if unknown or missing or len(set(header)) != len(header):
        raise _refuse(file, f"its header is {header}; expected the columns {COLUMNS}"
                      + (f" (unknown: {unknown})" if unknown else "") + (f" (missing: {missing})" if missing else ""))
    records = []
    for line, fields in enumerate(rows[1:], start=2):
        if not fields:
            continue
        if len(fields) != len(header):
            raise _refuse(file, f"line {line} has {len(fields)} fields but the header has {len(header)} "
                          "(an unquoted comma?)")
        row = dict(zip(header, fields))
        for column in INT_COLUMNS + FLOAT_COLUMNS:
            row[column] = _parse_number(file, line, column, row.get(column, ""))
        acc = row["accuracy"]
        if acc is not pd.NA and not (0.0 <= acc <= 1.0 or math.isnan(acc)):
            raise _refuse(file, f"line {line} has accuracy {acc}, outside [0, 1]")
        if not all(row[k] for k in ("notebook", "model", "technique")):
            raise _refuse(file, f"line {line} has an empty notebook, model or technique")
        records.append(row)
    return _typed(pd.DataFrame(records, columns=COLUMNS))


def _typed(table: pd.DataFrame) -> pd.DataFrame:
    table = table.reindex(columns=COLUMNS)
    for column in INT_COLUMNS:  # whole numbers stay whole even when some rows leave them empty
        table[column] = pd.array(table[column].tolist(), dtype="Int64")
    for column in FLOAT_COLUMNS:
        table[column] = pd.to_numeric(table[column].astype(object).where(table[column].notna(), None),
                                      errors="raise").astype("float64")
    for column in COLUMNS:
        if column not in INT_COLUMNS + FLOAT_COLUMNS:
            table[column] = table[column].fillna("").astype(str)
    return table


def _check_text(name: str, value, required: bool = False) -> str:
    if not isinstance(value, str):
        raise LedgerError(f"{name} must be a string, got {type(value).__name__} {value!r}"
                          + (f"; write it as '{value}'" if isinstance(value, int) and not isinstance(value, bool) else ""))
    if required and not value.strip():
        raise LedgerError(f"record needs a non-empty {name}, got {value!r} (a notebook, a model and a technique name)")
    return value


def _check_count(name: str, value) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) and not hasattr(value, "__index__"):
        raise LedgerError(f"{name} must be a whole number, got {type(value).__name__} {value!r}")
    if isinstance(value, float) and not value.is_integer():
        raise LedgerError(f"{name} must be a whole number, got {value!r}")
    if value < 0:
        raise LedgerError(f"{name} must not be negative, got {value}")
    return int(value)


def _check_real(name: str, value, low: float = 0.0, high: float = math.inf) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or isinstance(value, str):
        raise LedgerError(f"{name} must be a number, got {type(value).__name__} {value!r}")
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise LedgerError(f"{name} must be a number, got {type(value).__name__} {value!r}") from None
    if math.isnan(value):
        warnings.warn(f"ledger.record: {name} is NaN (not a number); the row is written with {name} empty. "
                      f"Pass {name}=None when it was not measured, or check the measurement.", LedgerWarning,
                      stacklevel=3)
        return value
    if math.isinf(value):
        raise LedgerError(f"{name} must be a finite number, got {value}: a measurement went wrong (a division by "
                          f"zero?). Pass {name}=None when it was not measured.")
    if not low <= value <= high:
        if name == "accuracy":
            raise LedgerError(f"accuracy must be a fraction in [0, 1], got {value}")
        raise LedgerError(f"{name} must be in [{low}, {high}] (not negative), got {value}")
    return value


def record(notebook: str, model: str, technique: str, *, params: int | None = None, macs: int | None = None,
           bytes: int | None = None, bytes_kind: str = "", accuracy: float | None = None,
           latency_ms: float | None = None, latency_iqr_ms: float | None = None, threads: int | None = None,
           runtime: str = "", cpu: str = "", notes: str = "") -> pd.Series:
    """Add (or update) one measured model. Accuracy is a fraction in [0, 1]; bytes on disk, and
    ``bytes_kind`` says what ``bytes`` measures (one of :data:`BYTES_KINDS`: a LiteRT "flatbuffer",
    a "gzip"-compressed file, bit-"packed weights", ...); ``runtime`` says what timed the latency."""
    row = {"notebook": _check_text("notebook", notebook, True), "model": _check_text("model", model, True),
           "technique": _check_text("technique", technique, True),
           "params": _check_count("params", params), "macs": _check_count("macs", macs),
           "bytes": _check_count("bytes", bytes), "bytes_kind": _check_text("bytes_kind", bytes_kind),
           "accuracy": _check_real("accuracy", accuracy, 0.0, 1.0),
           "latency_ms": _check_real("latency_ms", latency_ms),
           "latency_iqr_ms": _check_real("latency_iqr_ms", latency_iqr_ms),
           "threads": _check_count("threads", threads), "runtime": _check_text("runtime", runtime),
           "mode": config.mode_name(), "cpu": _check_text("cpu", cpu),
           "recorded_at": _dt.datetime.now().isoformat(timespec="seconds"), "notes": _check_text("notes", notes)}
    if bytes_kind and bytes_kind not in BYTES_KINDS:
        raise LedgerError(f"bytes_kind must be one of {BYTES_KINDS}, got {bytes_kind!r} for model '{model}'")
    if threads is not None and row["threads"] < 1:
        raise LedgerError(f"threads must be at least 1, got {threads}")
    table = read()  # refuses (and so never rewrites) a file it cannot read exactly
    if len(table):
        same = (table[KEY].astype(str) == pd.Series({k: row[k] for k in KEY})).all(axis=1)
        table = table[~same]
    new = _typed(pd.DataFrame([row], columns=COLUMNS))
    table = new if table.empty else pd.concat([table, new], ignore_index=True)
    tmp = path().with_name(f".{path().name}.{os.getpid()}.tmp")   # one per process: two kernels may record at once
    table.to_csv(tmp, index=False)
    tmp.replace(path())
    return pd.Series(row)


def missing(expected: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """Which ``(notebook, model)`` pairs have no row yet."""
    table = read()
    have = set(zip(table["notebook"], table["model"]))
    return [pair for pair in expected if pair not in have]
