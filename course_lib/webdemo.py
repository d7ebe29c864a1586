"""Export the capstone's pose models for the live web page (``demo/``, run with LiteRT.js in the browser).

:func:`export_models` converts Keras heat-map models to LiteRT flatbuffers the page can load and writes
them, with one ``models.json`` that says where each file came from: its sha256 and size, its input and
output types and quantization, the PCK measured in the notebook, the notebook and the date.

- ``"float32"``: the plain float conversion (:func:`course_lib.tflite.convert`).
- ``"int8"``: full-integer weights and activations, but **float32 input and output**: the model itself
  starts with a QUANTIZE op and ends with a DEQUANTIZE op. LiteRT.js (the browser runtime) rejects int8
  input/output tensors, so the int8 file of notebook 08 (int8 in, int8 out) would not load in the page.

The page is drawn for 64x64x3 images in [0, 1] and 16 heat maps of 16x16 (stride 4), so the models must
have exactly that input and output. ``make demo`` serves the page; ``make site`` copies it into the site.
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import io
import json
import math
import warnings
from collections.abc import Mapping
from pathlib import Path

import keras
import numpy as np
import pandas as pd

from . import config, tflite
from .config import quiet_native_stderr

__all__ = ["DEMO_DIR", "DEMO_MODELS", "MODES", "INPUT_SHAPE", "OUTPUT_SHAPE", "MANIFEST", "convert_for_web",
           "fix_batch_size",
           "export_models", "read_manifest", "verify_models"]

DEMO_DIR: Path = config.REPO_ROOT / "demo"          #: the static page
DEMO_MODELS: Path = DEMO_DIR / "models"             #: where the page loads its models from
MANIFEST = "models.json"                            #: the provenance file the page reads
GENERATOR = "course_lib.webdemo.export_models"      #: marks a models.json (and its files) as ours
MODES = ("float32", "int8")                         #: one model per mode; the file is ``<mode>.tflite``
INPUT_SHAPE = (64, 64, 3)                           #: what the page feeds (an image in [0, 1])
OUTPUT_SHAPE = (16, 16, 16)                         #: what the page decodes (16 heat maps at stride 4)
LABELS = {"float32": "fp32", "int8": "int8"}


class ExportError(ValueError):
    """The models could not be exported as asked; the message says why and what to do."""


# --------------------------------------------------------------------------- conversion
def convert_for_web(model: keras.Model, mode: str, representative_data=None, num_calibration: int = 200) -> bytes:
    """A flatbuffer LiteRT.js can run: ``"float32"``, or ``"int8"`` with float32 input and output;
    batch size 1 (:func:`fix_batch_size`).

    The int8 conversion is :func:`course_lib.tflite.convert`'s, with one difference: the input and output
    stay float32 (QUANTIZE / DEQUANTIZE inside the model), because LiteRT.js refuses int8 I/O tensors.
    Every other operator must compute in int8 (checked as in ``tflite.convert``). LiteRT.js runs the
    model's one subgraph; it needs no signature (tested with files made both ways).
    """
    import tensorflow as tf

    if mode == "float32":
        return fix_batch_size(tflite.convert(model, "float32"))
    if mode != "int8":
        raise ExportError(f"mode must be one of {MODES}, not {mode!r}")

    if representative_data is None:
        raise ExportError("representative_data is needed for the int8 model: pass a few hundred training images, "
                          "e.g. representative_data=x_train[:200]")
    try:
        samples = tflite._calibration_samples(representative_data, tuple(model.inputs[0].shape[1:]),
                                              num_calibration, model.name)
    except tflite.ConversionError as exc:
        raise ExportError(f"representative_data: {exc}") from None
    tflite._check_finite_weights(model)
    converter = tflite._converter_for(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([s[None]] for s in samples)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    # inference_input_type / inference_output_type left at float32: the browser runtime needs that.
    with contextlib.redirect_stdout(io.StringIO()), quiet_native_stderr(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Statistics for quantized inputs")
        try:
            flatbuffer = bytes(converter.convert())
        except Exception as exc:
            raise tflite._conversion_error(model.name, "int8 (float I/O)", str(exc)) from exc
    flatbuffer = fix_batch_size(flatbuffer)
    tflite.check_integer_only(flatbuffer, name=model.name)
    return flatbuffer


def fix_batch_size(model_bytes: bytes) -> bytes:
    """The flatbuffer with its batch dimension fixed to 1 (-1 in the shape signature becomes 1).

    A Keras model converts with a dynamic batch (shape signature ``[-1, 64, 64, 3]``). The Python
    interpreter accepts that, LiteRT.js does not ("does not match expected ranked tensor type
    Float32[-1, 64, 64, 3]"); the page runs one image at a time, so nothing else changes.
    """
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model_from_bytearray(bytearray(model_bytes))
    for subgraph in model.subgraphs:
        for tensor in subgraph.tensors:
            signature = tensor.shapeSignature
            if signature is not None and len(signature) and signature[0] == -1:
                signature[0] = 1
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def _io_description(model_bytes: bytes) -> dict:
    """Input/output dtype, shape and quantization; for float I/O around an int8 model also the int8
    quantization right behind the input (first QUANTIZE) and before the output (last DEQUANTIZE)."""
    interp = tflite.make_interpreter(model_bytes, xnnpack=False)
    details = {t["index"]: t for t in interp.get_tensor_details()}

    def describe(d):
        scale, zero = d["quantization"]
        return {"dtype": np.dtype(d["dtype"]).name, "shape": [int(s) for s in d["shape"]],
                "quantization": {"scale": float(scale), "zero_point": int(zero)}}

    result = {"input": describe(interp.get_input_details()[0]), "output": describe(interp.get_output_details()[0])}
    ops = interp._get_ops_details()
    first_q = next((op for op in ops if op["op_name"] == "QUANTIZE"), None)
    last_dq = next((op for op in reversed(ops) if op["op_name"] == "DEQUANTIZE"), None)
    if first_q is not None and last_dq is not None:
        result["input"]["internal"] = describe(details[int(first_q["outputs"][0])])
        result["output"]["internal"] = describe(details[int(last_dq["inputs"][0])])
    return result


# --------------------------------------------------------------------------- validation
def _check_models(models) -> dict:
    if not isinstance(models, Mapping) or not models:
        raise ExportError(f"models must be a non-empty dict {{mode: Keras model}} with modes from {MODES}, "
                          f"e.g. {{'float32': pose.inference_model(baseline), 'int8': final_deploy}}; "
                          f"got {type(models).__name__}")
    for mode, model in models.items():
        if mode not in MODES:
            raise ExportError(f"models: the key {mode!r} is not a mode; use {MODES} (one model per mode)")
        if not isinstance(model, keras.Model):
            raise ExportError(f"models[{mode!r}] must be a Keras model, got {type(model).__name__}")
        if len(model.inputs) != 1 or len(model.outputs) != 1:
            raise ExportError(f"models[{mode!r}] ('{model.name}') has {len(model.outputs)} outputs; the page runs one "
                              "heat-map output: pass pose.inference_model(model) (the last stack only)")
        got_in, got_out = tuple(model.inputs[0].shape[1:]), tuple(model.outputs[0].shape[1:])
        if got_in != INPUT_SHAPE or got_out != OUTPUT_SHAPE:
            raise ExportError(f"models[{mode!r}] ('{model.name}') maps {got_in} to {got_out}; the page draws "
                              f"{INPUT_SHAPE} images and decodes {OUTPUT_SHAPE} heat maps")
    return dict(models)


def _check_provenance(provenance, modes) -> dict:
    if not isinstance(provenance, Mapping):
        raise ExportError(f"provenance must be a dict like {{'notebook': '09_capstone_hourglass.ipynb', 'pck': "
                          f"{{mode: {{'PCK@0.2': ...}}}}}}, got {type(provenance).__name__}")
    if not isinstance(provenance.get("notebook"), str) or not provenance["notebook"]:
        raise ExportError("provenance['notebook'] must name the notebook that trained the models, "
                          "e.g. '09_capstone_hourglass.ipynb'")
    pck = provenance.get("pck")
    if not isinstance(pck, Mapping) or set(pck) != set(modes):
        raise ExportError(f"provenance['pck'] must give the PCK measured for each exported mode {sorted(modes)}, "
                          "e.g. {'int8': {'PCK@0.2': 0.941, 'PCK@0.1': 0.794}, ...} (fractions, not percent)")
    for mode, scores in pck.items():
        if not isinstance(scores, Mapping) or not scores:
            raise ExportError(f"provenance['pck'][{mode!r}] must be a dict like {{'PCK@0.2': 0.94}}")
        for key, value in scores.items():
            if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)) \
                    or not math.isfinite(value) or not 0 <= value <= 1:
                raise ExportError(f"provenance['pck'][{mode!r}][{key!r}] = {value!r}: give a fraction in [0, 1]")
    labels = provenance.get("labels", {})
    if not isinstance(labels, Mapping) or not all(isinstance(v, str) and v for v in labels.values()):
        raise ExportError("provenance['labels'] must map modes to the names the page shows, "
                          "e.g. {'float32': 'fp32 baseline', 'int8': 'int8 final'}")
    clean = {**provenance, "pck": {m: {k: float(v) for k, v in s.items()} for m, s in pck.items()}}
    try:
        json.dumps(clean)
    except TypeError as exc:
        raise ExportError(f"provenance must hold only JSON values (str, numbers, lists, dicts): {exc}") from None
    return clean


def _check_out_dir(out_dir, modes) -> Path:
    """The folder, created if needed; refuse to overwrite any file this module did not write."""
    if not isinstance(out_dir, (str, Path)):
        raise ExportError(f"out_dir must be a folder path, got {type(out_dir).__name__}")
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ExportError(f"out_dir {out_dir} is a file, not a folder")
    ours = _files_we_wrote(out_dir)
    for name in [MANIFEST, *(f"{m}.tflite" for m in modes)]:
        path = out_dir / name
        if path.exists() and name not in ours:
            raise FileExistsError(f"{path} exists and was not written by {GENERATOR} (it is not listed in "
                                  f"{out_dir / MANIFEST}); move it away or choose another out_dir. "
                                  "Nothing was written.")
    out_dir.mkdir(parents=True, exist_ok=True)
    return out_dir


def _files_we_wrote(out_dir: Path) -> set[str]:
    try:
        manifest = json.loads((out_dir / MANIFEST).read_text())
    except (OSError, ValueError):
        return set()
    if not isinstance(manifest, dict) or manifest.get("generator") != GENERATOR:
        return set()
    return {MANIFEST, *(m.get("file", "") for m in manifest.get("models", []) if isinstance(m, dict))}


# --------------------------------------------------------------------------- export
def export_models(models: Mapping[str, keras.Model], representative_data, out_dir: str | Path = DEMO_MODELS,
                  provenance: Mapping | None = None) -> pd.DataFrame:
    """Convert and write the page's models, one ``<mode>.tflite`` per mode, and ``models.json``.

    Args:
        models: ``{"float32": keras_model, "int8": keras_model}`` (one or both); each is converted in that
            mode. Deployment models: 64x64x3 input, one (16, 16, 16) heat-map output.
        representative_data: typical inputs for the int8 calibration (e.g. ``x_train[:200]``).
        out_dir: the folder (default ``demo/models``). Files in it that this function did not write are
            never overwritten: you get a FileExistsError instead.
        provenance: ``{"notebook": "09_capstone_hourglass.ipynb", "pck": {mode: {"PCK@0.2": ..., ...}}}``
            plus anything else worth recording (JSON values); "date" defaults to now (UTC).

    Returns one row per model: file, bytes, sha256, input/output dtype and PCK.
    """
    models = _check_models(models)
    provenance = _check_provenance(provenance, models)
    if "int8" in models and representative_data is None:
        raise ExportError("representative_data is needed for the int8 model: pass e.g. x_train[:200]")
    out_dir = _check_out_dir(out_dir, models)
    flatbuffers = {mode: convert_for_web(model, mode, representative_data) for mode, model in models.items()}
    date = provenance.pop("date", None) or _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    labels = {**LABELS, **provenance.pop("labels", {})}
    pck = provenance.pop("pck")
    entries = [_entry(mode, model_bytes, labels[mode], models[mode].name, pck[mode], provenance["notebook"], date)
               for mode, model_bytes in flatbuffers.items()]
    stale = _files_we_wrote(out_dir) - {MANIFEST} - {e["file"] for e in entries}
    for mode, model_bytes in flatbuffers.items():
        (out_dir / f"{mode}.tflite").write_bytes(model_bytes)
    manifest = {"generator": GENERATOR, "input_shape": [1, *INPUT_SHAPE], "input_range": [0.0, 1.0],
                "output_shape": [1, *OUTPUT_SHAPE], "stride": INPUT_SHAPE[0] // OUTPUT_SHAPE[0],
                "models": entries, "provenance": {**provenance, "date": date}}
    tmp = out_dir / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=2) + "\n")
    tmp.replace(out_dir / MANIFEST)
    for name in stale:  # files an earlier export wrote that this one no longer lists
        with contextlib.suppress(OSError):
            (out_dir / name).unlink()
    return _table(entries)


def _entry(mode: str, model_bytes: bytes, label: str, keras_name: str, pck: dict, notebook: str, date: str) -> dict:
    """One model's record in models.json: what the file is, where it came from, how well it did."""
    return {"mode": mode, "label": label, "file": f"{mode}.tflite", "keras_model": keras_name,
            "bytes": len(model_bytes), "sha256": hashlib.sha256(model_bytes).hexdigest(),
            **_io_description(model_bytes), "pck": pck, "notebook": notebook, "date": date}


def _table(entries: list[dict]) -> pd.DataFrame:
    rows = [{"model": e["label"], "file": e["file"], "bytes": e["bytes"], "sha256": e["sha256"][:12],
             "input": e["input"]["dtype"], "output": e["output"]["dtype"],
             "int8 inside": "internal" in e["input"], **{k: v for k, v in e["pck"].items()}} for e in entries]
    return pd.DataFrame(rows).set_index("model")


def read_manifest(out_dir: str | Path = DEMO_MODELS) -> dict:
    """The ``models.json`` of a folder written by :func:`export_models`."""
    path = Path(out_dir) / MANIFEST
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist: run webdemo.export_models(...) (notebook 09's last cells)")
    manifest = json.loads(path.read_text())
    if manifest.get("generator") != GENERATOR:
        raise ExportError(f"{path} was not written by {GENERATOR}")
    return manifest


def verify_models(out_dir: str | Path = DEMO_MODELS) -> pd.DataFrame:
    """Check every model file against the sha256 and size in ``models.json``; one row per file."""
    out_dir = Path(out_dir)
    rows = []
    for entry in read_manifest(out_dir)["models"]:
        path = out_dir / entry["file"]
        data = path.read_bytes() if path.exists() else None
        rows.append({"file": entry["file"], "exists": data is not None,
                     "bytes ok": data is not None and len(data) == entry["bytes"],
                     "sha256 ok": data is not None and hashlib.sha256(data).hexdigest() == entry["sha256"]})
    return pd.DataFrame(rows).set_index("file")
