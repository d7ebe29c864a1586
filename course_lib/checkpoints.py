"""Checkpoints: the capstone's models, trained to a plateau by the course's own code and shipped in
``checkpoints/``.

Twenty-odd hourglasses trained until their validation accuracy stops improving do not fit a live run on
a 2-core CPU, so ``make checkpoints`` trains each named :class:`Recipe` once (``scripts/checkpoints.py``)
and writes, per checkpoint, the weights (float16, ``checkpoints/<name>.npz``) and a manifest entry: the
recipe, the dataset's content sha256, the weights' sha256, the validation history of every epoch, the
seconds it took, the CPU, the library versions and the date.

A notebook loads a model with :func:`get`, which checks the recipe and both hashes. A missing, stale or
corrupt checkpoint gets a clear message and is trained live from its recipe; the result goes to
``results/checkpoints/`` (never over a shipped file). ``COURSE_RETRAIN=1`` trains everything live. Only
``make checkpoints`` (``build=True``) writes into ``checkpoints/``.

Recipes come in three kinds:

- **scratch**: build ``pose.stacked_hourglass(**builder)`` and train it for ``epochs`` with ``pose.train``;
- **fine-tune**: start from checkpoint ``start``, optionally prune (``prune={"fraction", "criterion"}``)
  or add an L1 penalty on batch-norm scales (``gamma_l1``, Network Slimming's sparsity training), then
  train ``epochs`` more with ground truth;
- **distil**: like a fine-tune, with FPD's mixed targets from the ``teacher`` checkpoint
  (``distill_alpha`` = weight on the ground truth).
"""
from __future__ import annotations

import dataclasses
import datetime
import hashlib
import io
import json
import os
import platform
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

from . import config, data

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "checkpoints"
N_VAL = 600          #: the validation split: the last 600 images of the poses training archive
STORE_DTYPE = np.float16

__all__ = ["Recipe", "Checkpoint", "CheckpointError", "split", "get", "train_recipe", "verify", "manifest"]


class CheckpointError(RuntimeError):
    """A checkpoint cannot be used; the message says which file and why."""


@dataclasses.dataclass(frozen=True)
class Recipe:
    """Everything that decides a trained model: re-running a recipe retrains the same model."""
    name: str
    builder: Mapping                 # pose.stacked_hourglass keyword arguments (scratch), or of the start
    epochs: int
    seed: int = 0
    learning_rate: float = 4e-3
    batch_size: int = 32
    start: str | None = None         # fine-tune / distil: the checkpoint it starts from
    prune: Mapping | None = None     # {"fraction": 0.5, "criterion": "gamma"} before training
    gamma_l1: float = 0.0            # L1 penalty on every hidden batch norm's gamma during training
    teacher: str | None = None       # distil: the teacher checkpoint
    distill_alpha: float = 0.5       # distil: weight on the ground truth
    data: str = "poses"

    @property
    def kind(self) -> str:
        return "distil" if self.teacher else ("fine-tune" if self.start else "scratch")

    def as_dict(self) -> dict:
        """The recipe as JSON-able data (what the manifest records and :func:`get` compares)."""
        d = dataclasses.asdict(self)
        d["builder"] = _jsonable(d["builder"])
        d["prune"] = _jsonable(d["prune"])
        d["data_version"] = data.generator_version(self.data)
        d["schedule"] = "Adam, cosine decay to 0 over the run (pose.train)"
        return d


@dataclasses.dataclass
class Checkpoint:
    """A loaded (or live-trained) model and what is known about its training."""
    model: object
    recipe: Recipe
    entry: dict                      # the manifest entry (history, seconds, cpu, ...)
    source: str                      # "shipped", "results" (trained live earlier) or "live"

    @property
    def history(self) -> dict[str, list[float]]:
        return self.entry["history"]

    @property
    def builder(self) -> dict:
        """The architecture's builder arguments (after pruning, the smaller widths)."""
        return _from_json(self.entry["architecture"])


def _jsonable(value):
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in sorted(value.items())}
    if isinstance(value, (tuple, list)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _from_json(builder: Mapping) -> dict:
    """Builder arguments from JSON: lists back to tuples where the builder takes tuples."""
    out = dict(builder)
    for key in ("stem_widths", "input_shape"):
        if isinstance(out.get(key), list):
            out[key] = tuple(out[key])
    return out


# --------------------------------------------------------------------------- data
def split(fast: bool | None = None):
    """``(x_train, y_train), (x_val, y_val), (x_test, y_test)`` of the poses dataset, the same images in both
    modes: training = the archive's first 3,400, validation = its last 600 (fast mode: the first 200 of them),
    test = the test archive (fast mode: its first 200). Checkpoints are trained on the full training split."""
    fast = config.is_fast() if fast is None else fast
    (x_all, y_all), (x_test, y_test) = data.load("poses", fast=False)
    x_tr, y_tr, x_val, y_val = x_all[:-N_VAL], y_all[:-N_VAL], x_all[-N_VAL:], y_all[-N_VAL:]
    if fast:
        x_val, y_val, x_test, y_test = x_val[:200], y_val[:200], x_test[:200], y_test[:200]
    return (x_tr, y_tr), (x_val, y_val), (x_test, y_test)


# --------------------------------------------------------------------------- files
def _dir(build: bool) -> Path:
    return SHIPPED if build else config.results_dir() / "checkpoints"


def manifest(folder: Path | None = None) -> dict:
    """The manifest of ``folder`` (the shipped checkpoints by default): ``{name: entry}``."""
    path = (folder or SHIPPED) / "manifest.json"
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{path} is not valid JSON ({exc}); restore it with git checkout {path}") from exc


def _write_entry(folder: Path, name: str, entry: dict) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    entries = manifest(folder)
    entries[name] = entry
    tmp = folder / f"manifest.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(dict(sorted(entries.items())), indent=1) + "\n")
    tmp.replace(folder / "manifest.json")


def _weights_bytes(model) -> bytes:
    buf = io.BytesIO()
    np.savez_compressed(buf, *[np.asarray(w, STORE_DTYPE) for w in model.get_weights()])
    return buf.getvalue()


def _sha(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def _build(builder: Mapping, name: str):
    import re
    from . import pose
    return pose.stacked_hourglass(**_from_json(builder), name=re.sub(r"[^A-Za-z0-9_.-]", "_", name))


def verify(recipe: Recipe, folder: Path | None = None) -> dict:
    """The manifest entry of ``recipe`` in ``folder`` (shipped by default) if its recipe, dataset and weights
    all match; otherwise :class:`CheckpointError` saying what differs."""
    folder = folder or SHIPPED
    entry = manifest(folder).get(recipe.name)
    path = folder / f"{recipe.name}.npz"
    if entry is None or not path.exists():
        raise CheckpointError(f"no checkpoint '{recipe.name}' in {folder}/ (make checkpoints trains it)")
    if entry.get("recipe") != recipe.as_dict():
        theirs, ours = entry.get("recipe", {}), recipe.as_dict()
        diff = sorted(k for k in set(theirs) | set(ours) if theirs.get(k) != ours.get(k))
        raise CheckpointError(f"checkpoint '{recipe.name}' in {folder}/ was trained from another recipe "
                              f"(differs in {', '.join(diff)}): it is stale")
    data_sha = data.content_sha256(recipe.data)
    if entry.get("data_sha256") != data_sha:
        raise CheckpointError(f"checkpoint '{recipe.name}' was trained on other '{recipe.data}' data (sha256 "
                              f"{str(entry.get('data_sha256'))[:12]}..., this data {data_sha[:12]}...): it is stale")
    if _sha(path.read_bytes()) != entry.get("weights_sha256"):
        raise CheckpointError(f"{path} does not match its manifest's sha256: it is corrupt or was changed "
                              f"(git checkout {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path} "
                              f"restores a shipped one)")
    return entry


def _load(recipe: Recipe, folder: Path, entry: dict):
    model = _build(entry["architecture"], recipe.name)
    try:
        with np.load(folder / f"{recipe.name}.npz") as arrays:
            weights = [arrays[f"arr_{i}"].astype(np.float32) for i in range(len(arrays.files))]
        model.set_weights(weights)
    except (ValueError, KeyError, OSError) as exc:
        raise CheckpointError(f"{folder / (recipe.name + '.npz')} does not fit the architecture of its "
                              f"manifest entry ({exc})") from exc
    return model


# --------------------------------------------------------------------------- training
def train_recipe(recipe: Recipe, get_start: Callable[[str], "Checkpoint"] | None = None,
                 progress: Callable[[int, dict], None] | None = None):
    """Train ``recipe`` from scratch or from its start checkpoint (``get_start(name)`` loads it). Returns
    ``(model, entry)``: the model holds the weights as stored (float16-rounded) and ``entry`` the manifest
    entry without the file hashes."""
    from . import distill, pose
    (x_tr, y_tr), (x_val, y_val), _ = split(fast=False)
    config.seed_everything(recipe.seed)
    t0 = time.perf_counter()
    if recipe.start is None:
        model = _build(recipe.builder, recipe.name)
    else:
        start = get_start(recipe.start)
        model = start.model
        if _jsonable(dict(recipe.builder)) != _jsonable(start.builder):
            raise CheckpointError(f"recipe '{recipe.name}' says its start '{recipe.start}' has builder "
                                  f"{dict(recipe.builder)}, the checkpoint has {start.builder}")
    architecture = dict(recipe.builder)
    if recipe.prune:
        model, _ = pose.prune_hidden_channels(model, recipe.prune["fraction"], _from_json(recipe.builder),
                                              criterion=recipe.prune["criterion"], seed=recipe.seed)
        architecture["hidden"] = pose.hidden_widths(model)
    kwargs = dict(epochs=recipe.epochs, learning_rate=recipe.learning_rate, batch_size=recipe.batch_size,
                  verbose=False, validation=(x_val, y_val), on_epoch=progress)
    if recipe.gamma_l1:
        kwargs["gamma_l1"] = recipe.gamma_l1
    if recipe.teacher:
        history = distill.train_student(model, get_start(recipe.teacher).model, x_tr, y_tr, recipe.distill_alpha,
                                        **kwargs)
    else:
        history = pose.train(model, x_tr, y_tr, **kwargs)
    seconds = time.perf_counter() - t0
    stored = _build(architecture, recipe.name)
    stored.set_weights([np.asarray(w, STORE_DTYPE).astype(np.float32) for w in model.get_weights()])
    final = pose.scores(pose.predict_joints(stored, x_val), y_val, (0.2, 0.1, 0.05))
    entry = {"recipe": recipe.as_dict(), "architecture": _jsonable(architecture), "data_sha256":
             data.content_sha256(recipe.data), "history": history, "val_stored": final,
             "seconds": round(seconds, 1), "cpu": _cpu(), "versions": _versions(),
             "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}
    return stored, entry


def _cpu() -> str:
    from . import bench
    return f"{bench.cpu_model()}, {os.cpu_count()} logical cores, {bench.cpu_features_line()}"


def _versions() -> dict:
    import keras
    import tensorflow as tf
    return {"python": platform.python_version(), "tensorflow": tf.__version__, "keras": keras.__version__,
            "numpy": np.__version__}


def _save(model, entry: dict, folder: Path, name: str) -> dict:
    raw = _weights_bytes(model)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.npz").write_bytes(raw)
    entry = {**entry, "weights_sha256": _sha(raw), "bytes": len(raw)}
    _write_entry(folder, name, entry)
    return entry


_LOADED: dict[str, Checkpoint] = {}


def get(recipe: Recipe, recipes: Mapping[str, Recipe] | None = None, build: bool = False,
        progress: Callable[[int, dict], None] | None = None, say: Callable[[str], None] = print) -> Checkpoint:
    """The trained model of ``recipe``: the shipped checkpoint if it matches (recipe, data and weights), else
    one trained live earlier in ``results/checkpoints/`` if that matches, else trained now from the recipe
    (saved to ``results/checkpoints/``; with ``build=True``, as ``make checkpoints`` does, to ``checkpoints/``).
    ``recipes`` names the recipes a fine-tune may start from. ``COURSE_RETRAIN=1`` skips the shipped ones."""
    if not isinstance(recipe, Recipe):
        raise TypeError(f"recipe must be a checkpoints.Recipe, got {type(recipe).__name__}")
    if recipe.name in _LOADED and _LOADED[recipe.name].recipe == recipe:
        return _LOADED[recipe.name]
    retrain = os.environ.get("COURSE_RETRAIN") == "1" and not build
    folders = ([] if retrain else [(SHIPPED, "shipped")]) + ([] if build else [(_dir(False), "results")])
    problems = []
    for folder, source in folders:
        try:
            entry = verify(recipe, folder)
            ckpt = Checkpoint(_load(recipe, folder, entry), recipe, entry, source)
            _LOADED[recipe.name] = ckpt
            return ckpt
        except CheckpointError as exc:
            problems.append(str(exc))
    if problems and not build:
        say(f"checkpoint '{recipe.name}': {problems[0]}; training it live from its recipe "
            f"({recipe.epochs} epochs, results go to {_dir(False)}/)")
    elif retrain:
        say(f"COURSE_RETRAIN=1: training '{recipe.name}' live ({recipe.epochs} epochs)")

    def start(name: str) -> Checkpoint:
        if not recipes or name not in recipes:
            raise CheckpointError(f"recipe '{recipe.name}' starts from '{name}', which is not among the recipes")
        return get(recipes[name], recipes, build, None, say)

    model, entry = train_recipe(recipe, start, progress)
    folder = _dir(build)
    entry = _save(model, entry, folder, recipe.name)
    ckpt = Checkpoint(model, recipe, entry, "shipped" if build else "live")
    _LOADED[recipe.name] = ckpt
    return ckpt


def forget() -> None:
    """Drop the in-process cache of loaded checkpoints (tests)."""
    _LOADED.clear()
