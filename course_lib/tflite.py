"""Convert Keras models to TensorFlow Lite / LiteRT flatbuffers and run them.

``convert(model, mode)`` with mode ``"float32"``, ``"dynamic"`` (int8 weights, float activations),
``"float16"`` (float16 weights) or ``"int8"`` (full integer, int8 inputs and outputs; needs a
representative dataset). ``run(model_bytes, x)`` feeds float inputs, quantizing them when the model
wants integers, and returns float outputs.

``evaluate(model_bytes, x, y)`` measures accuracy over a dataset (and, given reference scores, how
often the converted model agrees with them); ``summary(model_bytes)`` opens the flatbuffer: operators
and their counts, tensor types, quantization parameters and where the bytes go.

Two mistakes get a clear :class:`ConversionError`: asking for ``"int8"`` without representative data,
and an "int8" model in which some operator still computes in float (the converter silently keeps
float kernels for ops it cannot quantize, wrapped in QUANTIZE / DEQUANTIZE); the error names the op.

Inference uses the LiteRT interpreter (``ai_edge_litert``), falling back to ``tf.lite.Interpreter``
only when that package is missing.
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import re
import tempfile
import weakref
import warnings
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import keras
import numpy as np
import pandas as pd

from . import quantize as _q
from .config import quiet_native_stderr

try:  # LiteRT is the supported runtime; tf.lite.Interpreter is deprecated.
    from ai_edge_litert.interpreter import Interpreter as _Interpreter
    from ai_edge_litert.interpreter import OpResolverType as _OpResolverType

    RUNTIME = "ai_edge_litert"
except ImportError:  # pragma: no cover - exercised only where ai-edge-litert is not installed
    import tensorflow as _tf

    _Interpreter = _tf.lite.Interpreter
    _OpResolverType = _tf.lite.experimental.OpResolverType
    RUNTIME = "tf.lite"

MODES = ("float32", "dynamic", "float16", "int8")

#: Operators that only convert between number formats. In a full-integer model they may appear
#: (e.g. DEQUANTIZE of float16 weights), but any *other* op with float32 tensors computes in float.
CONVERSION_OPS = frozenset({"QUANTIZE", "DEQUANTIZE"})


class ConversionError(ValueError):
    """A model could not be converted as asked; the message says why."""


def _check_model_bytes(model_bytes) -> None:
    if not isinstance(model_bytes, (bytes, bytearray)):
        raise TypeError(f"model_bytes must be the flatbuffer bytes returned by convert(), not {type(model_bytes).__name__}")
    if len(model_bytes) < 8 or bytes(model_bytes[4:8]) != b"TFL3":
        raise ValueError(f"model_bytes ({len(model_bytes)} bytes) is not a LiteRT flatbuffer (it lacks the 'TFL3' "
                         "identifier): pass the bytes returned by convert()")


def _check_positive_int(name: str, value) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be a whole number >= 1, got {type(value).__name__} {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be at least 1, got {value}")
    return int(value)


def make_interpreter(model_bytes: bytes, num_threads: int = 1, xnnpack: bool = True):
    """A LiteRT interpreter for a flatbuffer, tensors allocated, using ``num_threads`` threads.

    ``xnnpack=True`` (the default, as on a phone) lets the XNNPACK delegate take the ops it supports;
    ``xnnpack=False`` runs LiteRT's own built-in kernels only (useful to see what XNNPACK buys, and
    to list the operators exactly as stored in the file).
    """
    _check_model_bytes(model_bytes)
    num_threads = _check_positive_int("num_threads", num_threads)
    kwargs = {} if xnnpack else {"experimental_op_resolver_type": _OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES}
    with quiet_native_stderr():  # "Created TensorFlow Lite XNNPACK delegate for CPU."
        interp = _Interpreter(model_content=bytes(model_bytes), num_threads=int(num_threads), **kwargs)
        _check_int8_additions(interp)
        interp.allocate_tensors()
    return interp


def _check_int8_additions(interp) -> None:
    """Raise instead of letting LiteRT abort the process (a dead Jupyter kernel, no message).

    An int8 ADD or SUB rescales its inputs to a common scale with 20 bits of headroom: its kernel needs
    2 * max(input scales) < 2**20 * output scale. A layer whose output was (almost) always zero on the
    calibration images (a dead layer of an under-trained model) gets a tiny output scale and breaks that
    condition; LiteRT then aborts in ``allocate_tensors``. Checked before allocation, from the scales."""
    tensors = {d["index"]: d for d in interp.get_tensor_details()}
    scale = lambda i: float(tensors[i]["quantization"][0])  # noqa: E731
    for op in interp._get_ops_details():  # noqa: SLF001  (names and tensor indices, before allocation)
        if op["op_name"] not in ("ADD", "SUB") or len(op["inputs"]) != 2:
            continue
        out, (a, b) = op["outputs"][0], op["inputs"]
        if tensors[out]["dtype"] != np.int8 or min(scale(a), scale(b), scale(out)) <= 0:
            continue
        if 2 * max(scale(a), scale(b)) >= (1 << 20) * scale(out):
            raise ConversionError(
                f"LiteRT cannot run this int8 model: the {op['op_name']} computing tensor "
                f"'{tensors[out]['name'].split(';')[0]}' has an output scale "
                f"({scale(out):.2g}) more than 2^19 times smaller than its inputs' ({max(scale(a), scale(b)):.2g}). "
                "On the calibration data that layer's output was (almost) always zero: a dead layer, typical of a "
                "model trained for very few steps. LiteRT would abort the whole process here. Train longer, or "
                "calibrate with more varied representative data.")


def convert(model, mode: str = "float32", representative_data: np.ndarray | Iterable | None = None,
            num_calibration: int = 200, allow_float_fallback: bool = False) -> bytes:
    """Convert a Keras model to a flatbuffer (``bytes``) in one of :data:`MODES`.

    For ``"int8"`` pass ``representative_data``: an array of typical inputs (a few hundred training
    images); the converter runs them through the model to choose activation ranges. An "int8"
    result in which an operator still computes in float raises :class:`ConversionError` naming it,
    unless you pass ``allow_float_fallback=True`` (then inspect it with :func:`summary`).
    """
    import keras
    import tensorflow as tf

    if not isinstance(model, keras.Model):
        raise TypeError(f"model must be a Keras model, got {type(model).__name__}")
    if not isinstance(mode, str) or mode not in MODES:
        raise ConversionError(f"mode must be one of {MODES}, not {mode!r}")
    num_calibration = _check_positive_int("num_calibration", num_calibration)
    _check_finite_weights(model)
    samples = None
    if mode == "int8":
        if representative_data is None:
            raise ConversionError(
                "int8 conversion needs representative_data: pass a few hundred typical inputs, e.g. "
                "convert(model, 'int8', representative_data=x_train[:200]). Without them the converter "
                "cannot choose the activations' scales and zero points.")
        samples = _calibration_samples(representative_data, tuple(model.inputs[0].shape[1:]), num_calibration,
                                       model.name)
    def run(converter):
        if mode in ("dynamic", "float16", "int8"):
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        if mode == "float16":
            converter.target_spec.supported_types = [tf.float16]
        if mode == "int8":
            converter.representative_dataset = lambda: ([sample[None]] for sample in samples)
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            converter.inference_input_type = tf.int8
            converter.inference_output_type = tf.int8
        # The converter prints its SavedModel signature (stdout), C++ progress lines (stderr) and, for
        # int8, a warning about input statistics that does not apply to Keras models.
        with contextlib.redirect_stdout(io.StringIO()), quiet_native_stderr(), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Statistics for quantized inputs")
            return bytes(converter.convert())

    try:
        flatbuffer = run(_converter_for(model))
    except Exception:
        # The fast path's log has lost the Keras layer names: convert through a SavedModel, whose log
        # names them, so the error can say which layer to fix (and if that works, use its result).
        try:
            flatbuffer = run(_converter_for(model, saved_model=True))
        except Exception as exc:
            raise _conversion_error(model.name, mode, str(exc)) from exc
    if mode == "int8" and not allow_float_fallback:
        check_integer_only(flatbuffer, name=model.name)
    check_one_sample(model, flatbuffer, mode, None if samples is None else samples[:1])
    return flatbuffer


#: How far a converted model's output may be from Keras's on one sample, relative to the output's size:
#: float32 only reorders arithmetic; the weight-quantized modes round the weights. int8 is compared by shape.
SAMPLE_TOLERANCE = {"float32": 1e-3, "float16": 0.05, "dynamic": 0.25}


def check_one_sample(model, flatbuffer: bytes, mode: str, sample: np.ndarray | None = None) -> None:
    """Run one sample through the converted model and through Keras; raise :class:`ConversionError`
    naming the model, the expected and the actual shape when the outputs' shapes differ (a layer the
    converter translated wrongly, e.g. ``[0, 2]`` from a Lambda with ``tf.math.lgamma``), or, except
    for int8, when the values differ beyond :data:`SAMPLE_TOLERANCE`. Models with several or
    variable-size inputs are not checked."""
    shape = tuple(model.inputs[0].shape[1:]) if len(model.inputs) == 1 else (None,)
    if any(d is None for d in shape):
        return
    x = sample if sample is not None else np.random.default_rng(0).uniform(0, 1, (1, *shape)).astype(np.float32)
    import warnings
    with warnings.catch_warnings():      # a model built with inputs=[...] warns that one tensor is not a list
        warnings.filterwarnings("ignore", message="The structure of `inputs` doesn't match", category=UserWarning)
        want = [np.asarray(y) for y in _as_list(model(x, training=False))]
    interp = make_interpreter(flatbuffer)
    inp = interp.get_input_details()[0]
    interp.set_tensor(inp["index"], _quantize_input(x, inp))
    interp.invoke()
    got = [dequantize_output(interp.get_tensor(o["index"]), o) for o in interp.get_output_details()]
    if sorted(w.shape for w in want) != sorted(g.shape for g in got):
        raise ConversionError(
            f"the {mode} conversion of '{model.name}' computes outputs of shape "
            f"{', '.join(str(list(g.shape)) for g in got)} for one sample, but the Keras model gives "
            f"{', '.join(str(list(w.shape)) for w in want)}: a layer was not translated faithfully (a Lambda "
            "or custom op?). Replace it with built-in Keras layers.")
    tolerance = SAMPLE_TOLERANCE.get(mode)
    if tolerance is None or len(want) != 1:
        return
    size = float(np.max(np.abs(want[0]))) if want[0].size else 0.0
    error = float(np.max(np.abs(got[0] - want[0]))) if want[0].size else 0.0
    if not np.isfinite(error) or error > tolerance * (size + 1e-3):
        raise ConversionError(
            f"the {mode} conversion of '{model.name}' gives outputs {error:.3g} away from the Keras model's on "
            f"one sample (outputs up to {size:.3g}; shape {list(want[0].shape)} both): a layer was not "
            "translated faithfully (a Lambda or custom op?).")


def _as_list(outputs) -> list:
    if isinstance(outputs, dict):
        return list(outputs.values())
    return list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]


def _check_finite_weights(model) -> None:
    """NaN or inf in a weight would make every scale meaningless: name the layer instead of converting."""
    for layer in model.layers:
        for weight in layer.weights:
            w = np.asarray(weight)
            if w.dtype.kind == "f" and not np.all(np.isfinite(w)):
                raise ConversionError(f"layer '{layer.name}' of '{model.name}' has {int((~np.isfinite(w)).sum())} "
                                      f"NaN/inf value(s) in its weight '{weight.name}' (training diverged?): "
                                      "fix the weights before converting")


def _calibration_samples(data, expected: tuple, limit: int, model_name: str) -> np.ndarray:
    """Up to ``limit`` float32 samples of shape ``expected`` from an array, a list, a generator or a
    ``tf.data.Dataset`` (items may be single samples, batches, or ``(x, y)`` pairs)."""
    import tensorflow as tf

    if isinstance(data, (str, bytes, dict)) or not (isinstance(data, (np.ndarray, tf.data.Dataset))
                                                     or hasattr(data, "__iter__")):
        raise ConversionError(f"representative_data must be an array of inputs, a list, a generator or a "
                              f"tf.data.Dataset, got {type(data).__name__}")
    if isinstance(data, tf.data.Dataset):
        data = data.as_numpy_iterator()
    if isinstance(data, np.ndarray):
        items = [data]
    else:
        items = data
    taken, count = [], 0
    for item in items:
        if isinstance(item, (tuple, list)) and len(item) and not np.isscalar(item[0]) and \
                np.ndim(item[0]) >= len(expected):
            item = item[0]  # (x, y) pairs or [x] lists: the input is the first element
        try:
            arr = np.asarray(item, dtype=np.float32)
        except (TypeError, ValueError) as exc:
            raise ConversionError(f"representative_data holds an item that is not numeric ({exc})") from None
        if arr.shape == expected:
            arr = arr[None]
        if arr.shape[1:] != expected:
            raise ConversionError(f"representative_data has samples of shape {arr.shape[1:]}, but model "
                                  f"'{model_name}' takes {expected}")
        taken.append(arr[: limit - count])
        count += len(taken[-1])
        if count >= limit:
            break
    if not count:
        raise ConversionError("representative_data is empty: int8 conversion needs typical inputs (a few hundred "
                              "training images) to choose the activations' scales")
    samples = np.concatenate(taken)
    bad = ~np.isfinite(samples)
    if bad.any():
        rows = np.flatnonzero(bad.reshape(len(samples), -1).any(axis=1))
        raise ConversionError(f"representative_data has NaN/inf values in {len(rows)} sample(s) (first: sample "
                              f"{int(rows[0])}): clean the inputs; calibration needs finite values")
    return samples


#: One traced-and-frozen graph (or SavedModel export) per live Keras model and state of its weights,
#: reused by every mode.
_EXPORTS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _weights_fingerprint(model) -> str:
    digest = hashlib.sha1()
    for weight in model.weights:
        digest.update(np.ascontiguousarray(keras.ops.convert_to_numpy(weight)).tobytes())
    return digest.hexdigest()


def _frozen_graph(model):
    """The model's inference pass (``training=False``, any batch size) traced once, with every weight
    folded in as a constant: the graph the converter turns into operators. Returned as the converter's own
    freezing step returns it (graph, inputs, outputs, function), so that step runs once per model, not once
    per conversion: freezing copies the graph op by op in Python, about 2 s for an hourglass."""
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2_as_graph

    specs = [tf.TensorSpec((None,) + tuple(t.shape[1:]), t.dtype, name=t.name.split(":")[0]) for t in model.inputs]
    call = tf.function(lambda *x: model(list(x) if len(x) > 1 else x[0], training=False))
    with contextlib.redirect_stdout(io.StringIO()), quiet_native_stderr():
        frozen_func, graph_def = convert_variables_to_constants_v2_as_graph(call.get_concrete_function(*specs),
                                                                            lower_control_flow=False)
    inputs = [t for t in frozen_func.inputs if t.dtype != tf.resource]
    return graph_def, inputs, frozen_func.outputs, frozen_func


def _frozen_converter(frozen):
    """``TFLiteConverter.from_concrete_functions`` for a graph :func:`_frozen_graph` already froze: the
    converter's own freezing step is replaced by the stored result (the graph it would compute itself; the
    flatbuffer is byte for byte the same, ``tests/test_tflite.py`` checks it)."""
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_concrete_functions([frozen[3]])
    converter._freeze_concrete_function = lambda: frozen  # noqa: SLF001  (TF 2.21's converter step, tested)
    return converter


def _saved_model(model):
    folder = tempfile.TemporaryDirectory(prefix="course_tflite_")
    with contextlib.redirect_stdout(io.StringIO()), quiet_native_stderr():
        model.export(folder.name, format="tf_saved_model", verbose=False)
    return folder


def _converter_for(model, saved_model: bool = False):
    """A converter for ``model``, prepared once while its weights are unchanged (converting one model
    in four modes prepares it once).

    By default the inference pass is traced and frozen (a few seconds). ``saved_model=True`` exports a
    SavedModel first, about four times slower, and the flatbuffer then carries the ``serving_default``
    signature with Keras' tensor names; its conversion log names the Keras layer of a failing op, which
    :func:`convert` uses for its error message. Either way, if the preparation fails,
    ``from_keras_model`` gets its chance."""
    import tensorflow as tf

    fingerprint = (_weights_fingerprint(model), saved_model)
    try:
        cached = _EXPORTS.get(model)
    except TypeError:  # not weak-referenceable
        cached = None
    if cached is None or cached[0] != fingerprint:
        try:
            cached = (fingerprint, _saved_model(model) if saved_model else _frozen_graph(model))
        except Exception:  # e.g. a model without a fixed input signature: let the converter try
            return tf.lite.TFLiteConverter.from_keras_model(model)
        with contextlib.suppress(TypeError):
            _EXPORTS[model] = cached
    if saved_model:
        return tf.lite.TFLiteConverter.from_saved_model(cached[1].name)
    return _frozen_converter(cached[1])


def _conversion_error(model_name: str, mode: str, log: str) -> ConversionError:
    """Turn the converter's MLIR log into a short message naming the op(s) and layer(s) at fault."""
    ops = list(dict.fromkeys(re.findall(r"'tf\.(\w+)' op", log) + re.findall(r'"tf\.(\w+)"\(', log)))
    layers = list(dict.fromkeys(
        re.sub(r"_\d+$", "", path.split("/")[-2])
        for path in re.findall(r'fused\["\w+:", "([^"@]+)@', log) if path.count("/") >= 2))
    if ops:
        where = f" (Keras layer {', '.join(repr(n) for n in layers)})" if layers else ""
        flex = " It needs the full TensorFlow runtime (Select TF ops / Flex), which phones usually do not ship." \
            if "FLEX" in log.upper() else ""
        message = (f"Converting '{model_name}' to {mode} failed: TensorFlow op(s) {', '.join(ops)}{where} have no "
                   f"LiteRT built-in kernel.{flex} Replace the op with one LiteRT supports, or remove the layer.")
    else:
        first = next((line.strip() for line in log.splitlines() if "error" in line.lower()), log.strip()[:300])
        message = f"Converting '{model_name}' to {mode} failed: {first[:500]}"
    error = ConversionError(message + " (The converter's full log is in the exception's .log attribute.)")
    error.log = log
    return error


def float_ops(model_bytes: bytes) -> list[dict]:
    """Operators that compute in float32 (any float32 input or output), other than QUANTIZE/DEQUANTIZE.

    Each entry: ``{"index", "op", "tensor"}`` (``tensor`` is the op's first output's name, which
    carries the Keras layer's name). Empty for a full-integer model.
    """
    interp = make_interpreter(model_bytes, xnnpack=False)
    names = {t["index"]: t["name"] for t in interp.get_tensor_details()}
    found = []
    for op in interp._get_ops_details():
        if op["op_name"] in CONVERSION_OPS:
            continue
        types = list(op["operand_types"]) + list(op["result_types"])
        if any(np.dtype(t) == np.float32 for t in types):
            out = [int(i) for i in op["outputs"] if i >= 0]
            found.append({"index": int(op["index"]), "op": op["op_name"], "tensor": names.get(out[0], "?") if out else "?"})
    return found


def check_integer_only(model_bytes: bytes, name: str = "model") -> None:
    """Raise :class:`ConversionError` if an "int8" flatbuffer still computes some operator in float.

    The converter does not fail when it cannot quantize an op: it keeps the float kernel and wraps it
    in DEQUANTIZE / QUANTIZE. On an integer-only accelerator (an NPU, a microcontroller) that model
    would not run, and on a CPU it pays for the conversions, so we stop and name the op.
    """
    fallbacks = float_ops(model_bytes)
    if fallbacks:
        listed = "; ".join(f"{f['op']} (op #{f['index']}, output tensor '{f['tensor']}')" for f in fallbacks[:5])
        more = f" and {len(fallbacks) - 5} more" if len(fallbacks) > 5 else ""
        raise ConversionError(
            f"'{name}' is not fully int8: {len(fallbacks)} op(s) fell back to float32: {listed}{more}. "
            f"The converter could not quantize them, so it kept their float kernels between "
            f"DEQUANTIZE and QUANTIZE ops. Replace those layers with int8-friendly ones (conv, dense, ReLU, "
            f"pooling, add, concatenation), or pass allow_float_fallback=True to accept a mixed model.")


def run(model_bytes: bytes, x: np.ndarray, num_threads: int = 1, batch_size: int = 1) -> np.ndarray:
    """Run a flatbuffer on float inputs ``x`` (N, ...) and return float outputs (N, ...).

    Integer inputs are quantized and integer outputs dequantized with the scale and zero point the
    model stores, so float and int8 models can be compared directly. Batches of ``batch_size``.
    """
    batch_size = _check_positive_int("batch_size", batch_size)
    interp = make_interpreter(model_bytes, num_threads)
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    expected = tuple(int(d) for d in inp["shape"][1:])
    if isinstance(x, (str, bytes, dict)):
        raise TypeError(f"x must be an array of inputs (N, ...), got {type(x).__name__}")
    try:
        x = np.asarray(x, np.float32)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"x must be a numeric array of inputs (N, ...): {exc}") from None
    if x.shape == expected:
        raise ValueError(f"x has the shape of one sample {x.shape}; run() takes a batch (N, ...): use x[None]")
    if x.shape[1:] != expected:
        raise ValueError(f"input has samples of shape {x.shape[1:]}, the model takes {expected}")
    if len(x) == 0:
        raise ValueError("x is empty (0 samples): give at least one input")
    bad = ~np.isfinite(x.reshape(len(x), -1)).all(axis=1)
    if bad.any():
        raise ValueError(f"x has NaN/inf values in {int(bad.sum())} sample(s) (first: sample {int(np.flatnonzero(bad)[0])}); "
                         "an int8 model would silently turn them into ordinary codes")
    warn_if_saturating(x, inp)
    if inp["shape"][0] != batch_size:
        interp.resize_tensor_input(inp["index"], [batch_size, *expected])
        interp.allocate_tensors()
        inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    results = []
    for start in range(0, len(x), batch_size):
        chunk = x[start:start + batch_size]
        n = len(chunk)
        if n < batch_size:  # pad the last batch
            chunk = np.concatenate([chunk, np.repeat(chunk[-1:], batch_size - n, 0)])
        interp.set_tensor(inp["index"], _quantize_input(chunk, inp))
        interp.invoke()
        y = interp.get_tensor(out["index"])
        if y.shape[0] != batch_size:
            raise RuntimeError(f"the interpreter returned {y.shape[0]} rows for a batch of {batch_size}")
        results.append(dequantize_output(y, out)[:n])
    return np.concatenate(results)


def _io_qparams(detail: dict):
    """The (scale, zero point) of an integer input/output tensor as :class:`course_lib.quantize.QParams`."""
    scale, zero = detail["quantization"]
    info = np.iinfo(detail["dtype"])
    return _q.QParams(np.asarray(scale, np.float32), np.asarray(zero, np.int64), 8 * np.dtype(detail["dtype"]).itemsize,
                   int(info.min), int(info.max), None)


class SaturationWarning(UserWarning):
    """Float inputs lie far outside the range an integer input tensor can represent: they saturate."""


def warn_if_saturating(x, detail: dict, margin: float = 0.25) -> bool:
    """Warn (:class:`SaturationWarning`) when float inputs ``x`` for an integer input tensor reach more than
    ``margin`` of its representable range beyond either end. That range, (q_min - Z)·S to (q_max - Z)·S,
    is what the model was calibrated on; values beyond it are clamped to q_min or q_max, so the model sees
    other inputs than you gave it (typically images in [0, 255] for a model calibrated on [0, 1]).
    Returns whether it warned. Float input tensors never warn."""
    if not np.issubdtype(detail["dtype"], np.integer):
        return False
    scale, zero = detail["quantization"]
    info = np.iinfo(detail["dtype"])
    lo, hi = (info.min - zero) * scale, (info.max - zero) * scale
    values = np.asarray(x, np.float64)
    if values.size == 0 or not np.isfinite(values).all() or not scale:
        return False
    width = hi - lo
    x_min, x_max = float(values.min()), float(values.max())
    if x_min >= lo - margin * width and x_max <= hi + margin * width:
        return False
    clipped = float(np.mean((values < lo) | (values > hi)))
    warnings.warn(f"input '{detail.get('name', 'input')}' has values in [{x_min:.4g}, {x_max:.4g}], but this "
                  f"{np.dtype(detail['dtype']).name} input (scale {scale:.4g}, zero point {zero}) represents only "
                  f"[{lo:.4g}, {hi:.4g}], the range it was calibrated on: {clipped:.1%} of the values saturate to "
                  f"{info.min} or {info.max}. Scale the inputs as in calibration (e.g. images / 255).",
                  SaturationWarning, stacklevel=3)
    return True


def quantize_input(x: np.ndarray, detail: dict) -> np.ndarray:
    """Float -> the input tensor's dtype, using its (scale, zero point) if it is an integer tensor
    (:func:`course_lib.quantize.quantize`: round half away from zero, clamp to the dtype's range).
    Inputs far outside the range the tensor represents give a :class:`SaturationWarning`."""
    warn_if_saturating(x, detail)
    return _quantize_input(x, detail)


def _quantize_input(x: np.ndarray, detail: dict) -> np.ndarray:
    if np.issubdtype(detail["dtype"], np.integer):
        return _q.quantize(x, _io_qparams(detail))
    return np.asarray(x).astype(detail["dtype"])


def dequantize_output(y: np.ndarray, detail: dict) -> np.ndarray:
    """Integer output tensor -> float, using its (scale, zero point); float outputs pass through."""
    if np.issubdtype(detail["dtype"], np.integer):
        return _q.dequantize(y, _io_qparams(detail))
    return np.asarray(y).astype(np.float32)


def accuracy(model_bytes: bytes, x: np.ndarray, y: np.ndarray, num_threads: int = 2, batch_size: int = 32) -> float:
    """Top-1 accuracy of a flatbuffer classifier on ``(x, y)``."""
    if len(np.asarray(y)) != len(np.asarray(x)):
        raise ValueError(f"x has {len(np.asarray(x))} samples but y has {len(np.asarray(y))} labels")
    scores = run(model_bytes, x, num_threads=num_threads, batch_size=batch_size)
    return float(np.mean(scores.argmax(-1) == np.asarray(y)))


@dataclass
class Evaluation:
    """Accuracy of a flatbuffer on a dataset, and (with reference scores) agreement with them."""

    accuracy: float
    samples: int
    agreement: float | None = None
    max_abs_diff: float | None = None

    def as_row(self) -> dict:
        return {"accuracy": self.accuracy, "samples": self.samples, "agreement": self.agreement,
                "max |diff|": self.max_abs_diff}


def evaluate(model_bytes: bytes, x: np.ndarray, y: np.ndarray, reference: np.ndarray | None = None,
             num_threads: int = 2, batch_size: int = 32) -> Evaluation:
    """Top-1 accuracy of a flatbuffer classifier over ``(x, y)``.

    With ``reference`` (scores of the same inputs from another model, e.g. the Keras float model)
    you also get ``agreement`` (fraction of inputs with the same top-1 class) and the largest
    absolute difference of the scores: how much the conversion changed the model, not only its accuracy.
    """
    y, x = np.asarray(y), np.asarray(x)
    if len(x) != len(y):
        raise ValueError(f"x has {len(x)} samples but y has {len(y)} labels")
    if len(x) == 0:
        raise ValueError("evaluate needs at least one sample")
    scores = run(model_bytes, x, num_threads=num_threads, batch_size=batch_size)
    result = Evaluation(accuracy=float(np.mean(scores.argmax(-1) == y)), samples=int(len(y)))
    if reference is not None:
        reference = np.asarray(reference, np.float32)
        if reference.shape != scores.shape:
            raise ValueError(f"reference scores have shape {reference.shape}, the model gives {scores.shape}")
        result.agreement = float(np.mean(scores.argmax(-1) == reference.argmax(-1)))
        result.max_abs_diff = float(np.abs(scores - reference).max())
    return result


def _dtype_name(t) -> str:
    return np.dtype(t).name


@dataclass
class ModelSummary:
    """What is inside a flatbuffer (see :func:`summary`)."""

    total_bytes: int
    operators: dict[str, int]
    tensor_types: dict[str, int]
    weight_bytes: dict[str, int]
    input: dict
    output: dict
    float_ops: list[dict]
    ops: pd.DataFrame = field(repr=False)
    tensors: pd.DataFrame = field(repr=False)

    @property
    def integer_only(self) -> bool:
        """True when no operator (other than QUANTIZE/DEQUANTIZE) computes in float32."""
        return not self.float_ops

    @property
    def quantized(self) -> pd.DataFrame:
        """The tensors that carry quantization parameters (scale, zero point)."""
        return self.tensors[self.tensors["scale"].notna()].reset_index(drop=True)

    def operators_table(self) -> pd.DataFrame:
        """One row per operator type: how many, and the number types it reads and writes."""
        rows = []
        for name, count in self.operators.items():
            sub = self.ops[self.ops["op"] == name]
            rows.append({"op": name, "count": count,
                         "input types": ", ".join(sorted(set(", ".join(sub["input types"]).split(", ")))),
                         "output types": ", ".join(sorted(set(", ".join(sub["output types"]).split(", "))))})
        return pd.DataFrame(rows)

    def __str__(self) -> str:
        ops = ", ".join(f"{k} x{v}" for k, v in self.operators.items())
        weights = ", ".join(f"{k} {v:,} B" for k, v in self.weight_bytes.items())
        io_ = f"input {self.input['dtype']} {self.input['shape']}, output {self.output['dtype']} {self.output['shape']}"
        return (f"{self.total_bytes:,} bytes; {io_}\n  operators: {ops}\n  constant (weight) bytes by type: {weights}"
                f"\n  float32 compute ops: {len(self.float_ops)}")


def _quant_columns(detail: dict) -> dict:
    q = detail.get("quantization_parameters") or {}
    scales = np.asarray(q.get("scales", []), np.float64)
    zeros = np.asarray(q.get("zero_points", []), np.int64)
    if scales.size == 0:
        return {"granularity": "", "scale": np.nan, "zero point": np.nan, "channels": 0}
    if scales.size == 1:
        return {"granularity": "per-tensor", "scale": float(scales[0]), "zero point": int(zeros[0]), "channels": 1}
    return {"granularity": f"per-channel (axis {q.get('quantized_dimension', 0)})", "scale": float(np.median(scales)),
            "zero point": int(zeros[0]) if np.all(zeros == zeros[0]) else -1, "channels": int(scales.size)}


def summary(model_bytes: bytes) -> ModelSummary:
    """Open a flatbuffer and list what it holds.

    - ``operators``: operator name -> how many (in execution order of first appearance);
    - ``tensor_types``: dtype -> number of tensors; ``weight_bytes``: dtype -> bytes of constant tensors
      (weights, biases, scales tables are not counted);
    - ``tensors``: a table of every tensor used by an op (name, dtype, shape, kind, bytes, and for
      quantized tensors granularity, scale (median over channels), zero point, channels);
    - ``ops``: a table of every operator with its input and output types;
    - ``input`` / ``output``: dtype, shape and (scale, zero point);
    - ``float_ops``: operators computing in float32 besides QUANTIZE/DEQUANTIZE (see :func:`float_ops`).

    Operators are read with LiteRT's built-in kernels (no XNNPACK), so you see the file's own graph.
    """
    interp = make_interpreter(model_bytes, xnnpack=False)
    details = {t["index"]: t for t in interp.get_tensor_details()}
    ops = interp._get_ops_details()
    produced = {int(i) for op in ops for i in op["outputs"] if i >= 0}
    used = {int(i) for op in ops for i in list(op["inputs"]) + list(op["outputs"]) if i >= 0}
    inputs = {d["index"] for d in interp.get_input_details()}
    op_rows = [{"index": int(op["index"]), "op": op["op_name"],
                "input types": ", ".join(_dtype_name(t) for t in op["operand_types"]),
                "output types": ", ".join(_dtype_name(t) for t in op["result_types"]),
                "output tensor": details[int(op["outputs"][0])]["name"] if len(op["outputs"]) else ""}
               for op in ops]
    tensor_rows = []
    for index in sorted(used):
        d = details[index]
        dtype = np.dtype(d["dtype"])
        kind = "input" if index in inputs else ("activation" if index in produced else "constant")
        tensor_rows.append({"index": index, "name": d["name"], "dtype": dtype.name, "shape": tuple(int(s) for s in d["shape"]),
                            "kind": kind, "bytes": int(np.prod(d["shape"], dtype=np.int64)) * dtype.itemsize,
                            **_quant_columns(d)})
    tensors = pd.DataFrame(tensor_rows)
    tensors["zero point"] = tensors["zero point"].astype("Int64")  # integers, blank where not quantized
    weights = tensors[tensors["kind"] == "constant"].groupby("dtype", sort=False)["bytes"].sum()

    def io(d):
        return {"dtype": np.dtype(d["dtype"]).name, "shape": tuple(int(s) for s in d["shape"]),
                "quantization": tuple(d["quantization"])}

    return ModelSummary(
        total_bytes=len(model_bytes),
        operators=dict(Counter(op["op_name"] for op in ops)),
        tensor_types=dict(Counter(tensors["dtype"])),
        weight_bytes={k: int(v) for k, v in weights.sort_values(ascending=False).items()},
        input=io(interp.get_input_details()[0]), output=io(interp.get_output_details()[0]),
        float_ops=float_ops(model_bytes), ops=pd.DataFrame(op_rows), tensors=tensors)


# --- reading the flatbuffer itself: where the bytes go, what the operators cost -------------
# The functions below parse the file with the LiteRT flatbuffer schema (the generated Python classes
# that ship with ai_edge_litert, or TensorFlow's copy), not with the interpreter: they see exactly
# what is stored, including float16 weights that the interpreter would dequantize.

#: Input slots (kernel, bias) of the operators that hold learned weights: CONV_2D's filter is
#: input 1 and its bias input 2; TRANSPOSE_CONV reads (output shape, filter, input, bias).
KERNEL_SLOTS: dict[str, tuple[int, int]] = {
    "CONV_2D": (1, 2), "DEPTHWISE_CONV_2D": (1, 2), "FULLY_CONNECTED": (1, 2),
    "TRANSPOSE_CONV": (1, 3),
}

#: The parts :func:`size_breakdown` splits a file into, in display order.
SIZE_PARTS = ("weights", "biases", "quantization", "other constants", "graph")


def _schema():
    """The flatbuffer schema's Python classes: ai_edge_litert's copy, else TensorFlow's."""
    try:
        from ai_edge_litert import schema_py_generated as schema
    except ImportError:  # pragma: no cover - exercised only where ai-edge-litert is not installed
        from tensorflow.lite.python import schema_py_generated as schema
    return schema


def parse(model_bytes: bytes):
    """The flatbuffer as Python objects (``schema_py_generated.ModelT``: subgraphs, tensors,
    buffers)."""
    _check_model_bytes(model_bytes)
    return _schema().ModelT.InitFromPackedBuf(bytes(model_bytes), 0)


def _op_names(model) -> list[str]:
    """Operator name per operator code (builtin codes above 127 live in ``builtinCode`` only)."""
    names = {v: k for k, v in vars(_schema().BuiltinOperator).items() if not k.startswith("_")}
    return [code.customCode.decode() if code.customCode else names.get(max(code.builtinCode,
            code.deprecatedBuiltinCode), "UNKNOWN") for code in model.operatorCodes]


def _tensor_type_name(type_code: int) -> str:
    names = {v: k for k, v in vars(_schema().TensorType).items() if not k.startswith("_")}
    return names.get(type_code, "UNKNOWN").lower()


def _roles(model, subgraph) -> dict[int, str]:
    """Tensor index -> "weights" or "biases": what conv/dense operators read as kernel or bias.

    A kernel stored compressed (float16, or int8 in some files) reaches the op through a DEQUANTIZE,
    so the role is traced back to the stored tensor."""
    names = _op_names(model)
    producer = {int(out): op for op in subgraph.operators
                for out in (op.outputs if op.outputs is not None else [])}
    roles: dict[int, str] = {}
    for op in subgraph.operators:
        for role, slot in zip(("weights", "biases"), KERNEL_SLOTS.get(names[op.opcodeIndex], ())):
            index = int(op.inputs[slot]) if slot < len(op.inputs) else -1
            while index in producer and names[producer[index].opcodeIndex] == "DEQUANTIZE":
                index = int(producer[index].inputs[0])
            if index >= 0:
                roles[index] = role
    return roles


def _buffer_bytes(buffer) -> int:
    """Bytes of one buffer: its data inside the flatbuffer, or ``size`` when stored after it."""
    if buffer.data is not None:
        return len(buffer.data)
    return int(buffer.size) if buffer.offset > 1 else 0


def constants(model_bytes: bytes) -> pd.DataFrame:
    """One row per constant buffer: the first tensor using it, dtype, shape, role, elements, bytes.

    ``role`` is "weights" (a conv/dense kernel), "biases", or "other" (shape vectors, paddings,
    lookup tables...). A buffer shared by several tensors is listed once.
    """
    return _constants_of(parse(model_bytes))


def _constants_of(model) -> pd.DataFrame:
    """:func:`constants` of a flatbuffer already parsed (parsing a file takes a fraction of a second)."""
    rows, seen = [], set()
    for subgraph in model.subgraphs:
        roles = _roles(model, subgraph)
        for index, tensor in enumerate(subgraph.tensors):
            size = _buffer_bytes(model.buffers[tensor.buffer])
            if size == 0 or tensor.buffer in seen:
                continue
            seen.add(tensor.buffer)
            shape = tuple(int(d) for d in (tensor.shape if tensor.shape is not None else ()))
            rows.append({"tensor": tensor.name.decode(errors="replace"),
                         "dtype": _tensor_type_name(tensor.type), "shape": shape,
                         "role": roles.get(index, "other"),
                         "elements": int(np.prod(shape, dtype=np.int64)), "bytes": size})
    return pd.DataFrame(rows, columns=["tensor", "dtype", "shape", "role", "elements", "bytes"])


def _quantization_bytes(model) -> int:
    """Bytes of all quantization tables (float32 scales, mins and maxes; int64 zero points)."""
    total = 0
    for subgraph in model.subgraphs:
        for tensor in subgraph.tensors:
            q = tensor.quantization
            if q is None:
                continue
            for values, itemsize in ((q.scale, 4), (q.min, 4), (q.max, 4), (q.zeroPoint, 8)):
                total += 0 if values is None else len(values) * itemsize
    return total


def size_breakdown(model_bytes: bytes) -> dict[str, int]:
    """Where a flatbuffer's bytes go: the parts (:data:`SIZE_PARTS`) sum to ``len(model_bytes)``.

    - ``weights``: conv/dense kernels (the numbers you quantize or prune);
    - ``biases``: their bias vectors (int32 in an int8 model, float otherwise);
    - ``quantization``: the per-tensor or per-channel tables (float32 scales, int64 zero points);
    - ``other constants``: every other constant tensor (reshape targets, paddings...);
    - ``graph``: the rest: operators, tensor descriptions and names, metadata, alignment padding.
    """
    model = parse(model_bytes)
    table = _constants_of(model)
    parts = {"weights": int(table.loc[table["role"] == "weights", "bytes"].sum()),
             "biases": int(table.loc[table["role"] == "biases", "bytes"].sum()),
             "quantization": _quantization_bytes(model),
             "other constants": int(table.loc[table["role"] == "other", "bytes"].sum())}
    parts["graph"] = len(model_bytes) - sum(parts.values())
    if parts["graph"] < 0:
        raise RuntimeError(f"size_breakdown counted {sum(parts.values())} bytes of constants in a "
                           f"{len(model_bytes)}-byte file: a buffer was counted twice")
    return parts


def _op_macs(name: str, op, tensors) -> int:
    """Multiply-accumulates of one conv/dense operator from its tensors' shapes (0 for others)."""
    if name not in KERNEL_SLOTS:
        return 0

    def shape(slot, outputs=False):
        return [int(d) for d in tensors[(op.outputs if outputs else op.inputs)[slot]].shape]

    kernel, out = shape(1), shape(0, outputs=True)
    if name == "CONV_2D":  # kernel (out_c, kh, kw, in_c / groups): kh*kw*in_c/groups per output
        return int(np.prod(out, dtype=np.int64)) * int(np.prod(kernel[1:], dtype=np.int64))
    if name == "DEPTHWISE_CONV_2D":  # kernel (1, kh, kw, out_c): per output value kh*kw
        return int(np.prod(out, dtype=np.int64)) * kernel[1] * kernel[2]
    if name == "FULLY_CONNECTED":  # kernel (units, in): per output value `in`
        return int(np.prod(out, dtype=np.int64)) * kernel[1]
    # TRANSPOSE_CONV: every input position spreads kh*kw*out_c values from each of its in_c channels
    return int(np.prod(shape(2)[:-1], dtype=np.int64)) * int(np.prod(kernel, dtype=np.int64))


def macs(model_bytes: bytes) -> int:
    """Multiply-accumulates of one ``invoke()``, counted from the file's CONV_2D, DEPTHWISE_CONV_2D,
    FULLY_CONNECTED and TRANSPOSE_CONV operators and their tensor shapes.

    Same convention as :func:`course_lib.profile.count_macs` (other operators count 0), so for a
    Keras model converted with batch size 1 the two numbers are equal. Works for any flatbuffer,
    including ones without a Keras model behind them.
    """
    model = parse(model_bytes)
    total = 0
    for subgraph in model.subgraphs:
        names = _op_names(model)
        total += sum(_op_macs(names[op.opcodeIndex], op, subgraph.tensors)
                     for op in subgraph.operators)
    return int(total)


# --------------------------------------------------------------------------------------------------
# Inside an int8 model: every operator's quantized data and output, for a numpy replay (notebook 07).
# The arithmetic lives in course_lib.quantize; running the interpreter lives here.
# --------------------------------------------------------------------------------------------------
def reference_interpreter(model_bytes: bytes):
    """A LiteRT interpreter with the built-in reference/optimized kernels (no XNNPACK delegate) that
    keeps every intermediate tensor readable (``experimental_preserve_all_tensors``). For inspection
    and debugging only: it is slower and uses more memory than :func:`make_interpreter`."""
    if not isinstance(model_bytes, (bytes, bytearray)):
        raise TypeError(f"model_bytes must be flatbuffer bytes, not {type(model_bytes).__name__}")
    if len(model_bytes) < 8 or bytes(model_bytes[4:8]) != b"TFL3":
        raise ValueError(f"model_bytes ({len(model_bytes)} bytes) is not a LiteRT flatbuffer (no 'TFL3' "
                         "identifier): pass the bytes returned by tflite.convert()")
    if RUNTIME == "ai_edge_litert":
        from ai_edge_litert.interpreter import OpResolverType
    else:  # pragma: no cover
        import tensorflow as tf

        OpResolverType = tf.lite.experimental.OpResolverType
    with warnings.catch_warnings(), quiet_native_stderr():
        warnings.simplefilter("ignore")  # "preserve_all_tensors is intended for debugging"
        interp = _Interpreter(model_content=bytes(model_bytes), experimental_preserve_all_tensors=True,
                              experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
        interp.allocate_tensors()
    return interp


def read_int8_graph(model_bytes: bytes) -> list[dict]:
    """The operators of an int8 flatbuffer in execution order, with what numpy needs to replay them.

    Each entry: ``op`` (e.g. "CONV_2D"), ``name`` (of its output tensor), ``input``/``output`` (tensor
    indices), ``input_qp``/``output_qp`` (:class:`course_lib.quantize.QParams`), and for CONV_2D / FULLY_CONNECTED the int8
    ``weights`` in Keras layout ((kh, kw, C_in, C_out) or (C_in, C_out)), their per-channel
    ``weight_qp`` (axis = last), and the int32 ``bias`` (or None). Strides, padding and the fused
    activation are not listed here: take them from the Keras model you converted.

    Operators that only compute shapes (the int32 SHAPE / STRIDED_SLICE / PACK that a Flatten or
    Reshape with a dynamic batch adds) carry no quantized data and are left out; an operator's
    ``input`` is its first quantized input (the data, not a shape tensor).
    """
    interp = reference_interpreter(model_bytes)
    details = {d["index"]: d for d in interp.get_tensor_details()}

    def quantized(i: int) -> bool:
        return len(details[i].get("quantization_parameters", {}).get("scales", [])) > 0

    graph = []
    for op in interp._get_ops_details():  # noqa: SLF001 (the interpreter's public op listing)
        ins = [int(i) for i in op["inputs"] if i >= 0]
        out = int(op["outputs"][0])
        if not quantized(out):
            if np.dtype(details[out]["dtype"]).kind == "f":
                raise ValueError(f"operator {op['op_name']} ('{details[out]['name']}') computes in float: this is "
                                 "not a fully int8 model (convert with mode='int8' without float fallback)")
            continue  # shape arithmetic (int32), no activations
        data = next((i for i in ins if quantized(i)), ins[0])
        entry = {"op": op["op_name"], "name": details[out]["name"], "input": data, "output": out,
                 "input_qp": _q.tensor_qparams(details[data]), "output_qp": _q.tensor_qparams(details[out])}
        if op["op_name"] in ("CONV_2D", "FULLY_CONNECTED"):
            w = interp.get_tensor(ins[1])
            wqp = _q.tensor_qparams(details[ins[1]])
            if op["op_name"] == "CONV_2D":  # LiteRT (C_out, kh, kw, C_in) -> Keras (kh, kw, C_in, C_out)
                w = w.transpose(1, 2, 3, 0)
            else:                           # (C_out, C_in) -> (C_in, C_out)
                w = w.T
            entry["weights"] = np.ascontiguousarray(w)
            entry["weight_qp"] = _q.QParams(wqp.scale, wqp.zero_point, wqp.bits, wqp.qmin + 1, wqp.qmax,
                                         None if wqp.axis is None else w.ndim - 1)
            entry["bias"] = interp.get_tensor(ins[2]) if len(ins) > 2 else None
        graph.append(entry)
    return graph


def reference_activations(model_bytes: bytes, x_q: np.ndarray) -> dict[int, np.ndarray]:
    """Run the reference interpreter sample by sample on int8 inputs ``x_q`` (N, ...) and return every
    operator's output, ``{tensor index: array (N, ...)}``."""
    interp = reference_interpreter(model_bytes)
    return _per_sample(interp, x_q, [int(op["outputs"][0]) for op in interp._get_ops_details()])  # noqa: SLF001


def _per_sample(interp, x_q: np.ndarray, tensors: Sequence[int]) -> dict[int, np.ndarray]:
    """Invoke ``interp`` on each int8 sample of ``x_q`` and stack the given tensors, ``{index: (N, ...)}``."""
    inp = interp.get_input_details()[0]
    if x_q.dtype != inp["dtype"]:
        raise TypeError(f"the model's input is {np.dtype(inp['dtype'])}, got {x_q.dtype}; quantize it first")
    collected: dict[int, list] = {int(t): [] for t in tensors}
    for sample in x_q:
        interp.set_tensor(inp["index"], sample[None])
        interp.invoke()
        for t in collected:
            collected[t].append(interp.get_tensor(t)[0].copy())
    return {t: np.stack(v) for t, v in collected.items()}


def with_outputs(model_bytes: bytes, tensors: Sequence[int]) -> bytes:
    """A copy of a flatbuffer whose main subgraph also outputs the given tensors (by index).

    A delegate such as XNNPACK computes a whole partition at once and keeps its intermediate results
    to itself; declaring them as model outputs makes it hand them back, so you can compare them layer
    by layer. Uses TensorFlow's own flatbuffer reader/writer (``tensorflow.lite.tools.flatbuffer_utils``).
    """
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(model_bytes))
    graph = model.subgraphs[0]
    n = len(graph.tensors)
    bad = [int(t) for t in tensors if not 0 <= int(t) < n]
    if bad:
        raise ValueError(f"tensor index(es) {bad} not in the model (it has {n} tensors)")
    outputs = [int(o) for o in graph.outputs]
    graph.outputs = np.array(outputs + [int(t) for t in tensors if int(t) not in outputs], dtype=np.int32)
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def delegate_activations(model_bytes: bytes, x_q: np.ndarray, tensors: Sequence[int]) -> dict[int, np.ndarray]:
    """Run the model with the XNNPACK delegate (as deployed) sample by sample on int8 inputs ``x_q`` and return the
    given intermediate tensors, ``{tensor index: array (N, ...)}`` (see :func:`with_outputs`)."""
    return _per_sample(make_interpreter(with_outputs(model_bytes, tensors), num_threads=1, xnnpack=True), x_q, tensors)
