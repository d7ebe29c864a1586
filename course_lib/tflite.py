"""Convert Keras models to TensorFlow Lite / LiteRT flatbuffers and run them.

``convert(model, mode)`` with mode ``"float32"``, ``"dynamic"`` (int8 weights, float activations),
``"float16"`` (float16 weights) or ``"int8"`` (full integer, int8 inputs and outputs; needs a
representative dataset). ``run(model_bytes, x)`` feeds float inputs, quantizing them when the model
wants integers, and returns float outputs.

Inference uses the LiteRT interpreter (``ai_edge_litert``), falling back to ``tf.lite.Interpreter``
only when that package is missing.
"""
from __future__ import annotations

import contextlib
import io
from collections.abc import Iterable

import numpy as np

from .config import quiet_native_stderr

try:  # LiteRT is the supported runtime; tf.lite.Interpreter is deprecated.
    from ai_edge_litert.interpreter import Interpreter as _Interpreter

    RUNTIME = "ai_edge_litert"
except ImportError:  # pragma: no cover - exercised only where ai-edge-litert is not installed
    import tensorflow as _tf

    _Interpreter = _tf.lite.Interpreter
    RUNTIME = "tf.lite"

MODES = ("float32", "dynamic", "float16", "int8")


class ConversionError(ValueError):
    """A model could not be converted as asked; the message says why."""


def make_interpreter(model_bytes: bytes, num_threads: int = 1):
    """A LiteRT interpreter for a flatbuffer, tensors allocated, using ``num_threads`` threads."""
    if not isinstance(model_bytes, (bytes, bytearray)):
        raise TypeError(f"model_bytes must be the flatbuffer bytes returned by convert(), not {type(model_bytes).__name__}")
    with quiet_native_stderr():  # "Created TensorFlow Lite XNNPACK delegate for CPU."
        interp = _Interpreter(model_content=bytes(model_bytes), num_threads=int(num_threads))
        interp.allocate_tensors()
    return interp


def convert(model, mode: str = "float32", representative_data: np.ndarray | Iterable | None = None,
            num_calibration: int = 200) -> bytes:
    """Convert a Keras model to a flatbuffer (``bytes``) in one of :data:`MODES`.

    For ``"int8"`` pass ``representative_data``: an array of typical inputs (a few hundred training
    images); the converter runs them through the model to choose activation ranges.
    """
    import tensorflow as tf

    if mode not in MODES:
        raise ConversionError(f"mode must be one of {MODES}, not {mode!r}")
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if mode in ("dynamic", "float16", "int8"):
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if mode == "float16":
        converter.target_spec.supported_types = [tf.float16]
    if mode == "int8":
        if representative_data is None:
            raise ConversionError(
                "int8 conversion needs representative_data: pass a few hundred typical inputs, e.g. "
                "convert(model, 'int8', representative_data=x_train[:200]). Without them the converter "
                "cannot choose the activations' scales and zero points.")
        samples = np.asarray(representative_data, dtype=np.float32)[:num_calibration]
        expected = tuple(model.inputs[0].shape[1:])
        if samples.shape[1:] != expected:
            raise ConversionError(f"representative_data has samples of shape {samples.shape[1:]}, but model "
                                  f"'{model.name}' takes {expected}")

        def gen():
            for sample in samples:
                yield [sample[None]]

        converter.representative_dataset = gen
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    with contextlib.redirect_stdout(io.StringIO()):  # the converter prints its SavedModel signature
        try:
            return bytes(converter.convert())
        except Exception as exc:
            raise ConversionError(f"Converting '{model.name}' to {mode} failed: {exc}") from exc


def run(model_bytes: bytes, x: np.ndarray, num_threads: int = 1, batch_size: int = 1) -> np.ndarray:
    """Run a flatbuffer on float inputs ``x`` (N, ...) and return float outputs (N, ...).

    Integer inputs are quantized and integer outputs dequantized with the scale and zero point the
    model stores, so float and int8 models can be compared directly. Batches of ``batch_size``.
    """
    interp = make_interpreter(model_bytes, num_threads)
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    expected = tuple(inp["shape"][1:])
    x = np.asarray(x, np.float32)
    if x.shape[1:] != expected:
        raise ValueError(f"input has samples of shape {x.shape[1:]}, the model takes {expected}")
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
        interp.set_tensor(inp["index"], quantize_input(chunk, inp))
        interp.invoke()
        results.append(dequantize_output(interp.get_tensor(out["index"]), out)[:n])
    return np.concatenate(results)


def quantize_input(x: np.ndarray, detail: dict) -> np.ndarray:
    """Float -> the input tensor's dtype, using its (scale, zero point) if it is an integer tensor."""
    dtype = detail["dtype"]
    if np.issubdtype(dtype, np.integer):
        scale, zero = detail["quantization"]
        info = np.iinfo(dtype)
        return np.clip(np.round(x / scale + zero), info.min, info.max).astype(dtype)
    return x.astype(dtype)


def dequantize_output(y: np.ndarray, detail: dict) -> np.ndarray:
    """Integer output tensor -> float, using its (scale, zero point); float outputs pass through."""
    if np.issubdtype(detail["dtype"], np.integer):
        scale, zero = detail["quantization"]
        return (y.astype(np.float32) - zero) * scale
    return y.astype(np.float32)


def accuracy(model_bytes: bytes, x: np.ndarray, y: np.ndarray, num_threads: int = 2, batch_size: int = 32) -> float:
    """Top-1 accuracy of a flatbuffer classifier on ``(x, y)``."""
    scores = run(model_bytes, x, num_threads=num_threads, batch_size=batch_size)
    return float(np.mean(scores.argmax(-1) == np.asarray(y)))
