"""The environment check of notebook 00: what is installed, what is missing, what to do about it."""
from __future__ import annotations

import importlib
import os
import platform
import sys

import pandas as pd

from .bench import cpu_model

_REQUIRED = [
    # (import name, what it is for, advice when missing)
    ("numpy", "arrays", "run `make lab` (it installs everything into .venv)"),
    ("tensorflow", "training and conversion", "run `make lab`; TensorFlow 2.21 needs Python 3.11 (64-bit)"),
    ("keras", "models (Keras 3)", "run `make lab`"),
    ("ai_edge_litert", "LiteRT interpreter", "`pip install ai-edge-litert`; without it the course falls back to tf.lite.Interpreter"),
    ("matplotlib", "plots", "run `make lab`"),
    ("pandas", "tables", "run `make lab`"),
    ("ipywidgets", "interactive demos", "run `make lab`; widgets then render in JupyterLab"),
]


def _version(module) -> str:
    return str(getattr(module, "__version__", "installed"))


def report() -> pd.DataFrame:
    """One row per component: status (ok / missing / problem), version, advice."""
    rows = [{"component": "Python", "status": "ok" if sys.version_info[:2] == (3, 11) else "problem",
             "version": platform.python_version(),
             "advice": "" if sys.version_info[:2] == (3, 11) else "the course is tested on Python 3.11"}]
    for name, purpose, advice in _REQUIRED:
        try:
            module = importlib.import_module(name)
            status, version, note = "ok", _version(module), ""
            if name == "keras" and not version.startswith("3"):
                status, note = "problem", f"Keras {version} is not Keras 3: unset TF_USE_LEGACY_KERAS and reinstall with `make lab`"
            if name == "ai_edge_litert":
                version = _litert_version()
        except ImportError:
            status, version, note = ("missing", "", advice)
        rows.append({"component": f"{name} ({purpose})", "status": status, "version": version, "advice": note})
    legacy = os.environ.get("TF_USE_LEGACY_KERAS", "")
    if legacy not in ("", "0"):
        rows.append({"component": "TF_USE_LEGACY_KERAS", "status": "problem", "version": legacy,
                     "advice": "unset it: the course uses Keras 3 (tf_keras / tfmot set it)"})
    rows.append({"component": "CPU", "status": "ok", "version": cpu_model(), "advice": ""})
    gpu = _gpus()
    rows.append({"component": "GPU", "status": "ok", "version": gpu or "none (not needed)", "advice": ""})
    return pd.DataFrame(rows, columns=["component", "status", "version", "advice"])


def _litert_version() -> str:
    try:
        from importlib.metadata import version

        return version("ai-edge-litert")
    except Exception:
        return "installed"


def _gpus() -> str:
    try:
        import tensorflow as tf

        return ", ".join(d.name for d in tf.config.list_physical_devices("GPU"))
    except Exception:
        return ""


def all_ok(table: pd.DataFrame) -> bool:
    """True when nothing is missing or a problem."""
    return bool((table["status"] == "ok").all())
