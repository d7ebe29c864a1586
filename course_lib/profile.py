"""How big and how costly is a Keras model? Parameters, MACs, activation memory, bytes on disk.

Conventions (the ones papers use, so you can compare with them):

- **MACs** are multiply-accumulates for *one* sample. Convolutions and dense layers cost
  ``kernel_h * kernel_w * in_channels/groups * out_channels * out_h * out_w`` (dense: ``in * out``);
  biases, batch-norm (folded into the conv at inference), activations, pooling, padding, adds and
  concatenations are counted as 0 MACs. FLOPs are usually quoted as 2 x MACs.
- **Parameters** are all weights, trainable or not (batch-norm's moving statistics included).
- **Activation memory** sums every layer's output tensor for one sample, in bytes.

A layer type this module does not know raises :class:`UnsupportedLayerError` naming the layer;
teach it a new type with :func:`register_macs`.
"""
from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import keras
import numpy as np
import pandas as pd


class UnsupportedLayerError(TypeError):
    """count_macs does not know how to count this layer type."""


Shape = tuple[int | None, ...]
MacRule = Callable[[keras.layers.Layer, list[Shape], Shape], int]
_RULES: dict[type, MacRule] = {}


def register_macs(layer_type: type) -> Callable[[MacRule], MacRule]:
    """Decorator: register ``fn(layer, input_shapes, output_shape) -> MACs`` for ``layer_type``."""

    def wrap(fn: MacRule) -> MacRule:
        _RULES[layer_type] = fn
        return fn

    return wrap


def _spatial(shape: Shape) -> int:
    return int(np.prod([d for d in shape[1:-1]], dtype=np.int64)) if len(shape) > 2 else 1


@register_macs(keras.layers.Conv2D)
@register_macs(keras.layers.Conv1D)
@register_macs(keras.layers.Conv3D)
def _conv_macs(layer, in_shapes, out_shape) -> int:
    k = int(np.prod(layer.kernel_size))
    cin = in_shapes[0][-1]
    return k * (cin // layer.groups) * layer.filters * _spatial(out_shape)


@register_macs(keras.layers.Conv2DTranspose)
def _conv_transpose_macs(layer, in_shapes, out_shape) -> int:
    k = int(np.prod(layer.kernel_size))
    return k * in_shapes[0][-1] * layer.filters * _spatial(in_shapes[0])


@register_macs(keras.layers.DepthwiseConv2D)
def _depthwise_macs(layer, in_shapes, out_shape) -> int:
    k = int(np.prod(layer.kernel_size))
    return k * out_shape[-1] * _spatial(out_shape)


@register_macs(keras.layers.SeparableConv2D)
def _separable_macs(layer, in_shapes, out_shape) -> int:
    k = int(np.prod(layer.kernel_size))
    mid = in_shapes[0][-1] * layer.depth_multiplier
    return k * mid * _spatial(out_shape) + mid * layer.filters * _spatial(out_shape)


@register_macs(keras.layers.Dense)
def _dense_macs(layer, in_shapes, out_shape) -> int:
    # A Dense layer on an (H, W, C) tensor is applied at every position.
    positions = int(np.prod(in_shapes[0][1:-1], dtype=np.int64)) if len(in_shapes[0]) > 2 else 1
    return positions * in_shapes[0][-1] * layer.units


_FREE = (
    keras.layers.InputLayer, keras.layers.BatchNormalization, keras.layers.LayerNormalization,
    keras.layers.Activation, keras.layers.ReLU, keras.layers.LeakyReLU, keras.layers.PReLU,
    keras.layers.ELU, keras.layers.Softmax, keras.layers.Dropout, keras.layers.SpatialDropout2D,
    keras.layers.GaussianNoise, keras.layers.Flatten, keras.layers.Reshape, keras.layers.Permute,
    keras.layers.ZeroPadding2D, keras.layers.Cropping2D, keras.layers.MaxPooling2D,
    keras.layers.AveragePooling2D, keras.layers.GlobalAveragePooling2D, keras.layers.GlobalMaxPooling2D,
    keras.layers.MaxPooling1D, keras.layers.AveragePooling1D, keras.layers.GlobalAveragePooling1D,
    keras.layers.UpSampling2D, keras.layers.Add, keras.layers.Subtract, keras.layers.Multiply,
    keras.layers.Average, keras.layers.Maximum, keras.layers.Minimum, keras.layers.Concatenate,
    keras.layers.Rescaling, keras.layers.Normalization, keras.layers.Resizing, keras.layers.Identity,
    keras.layers.RandomFlip, keras.layers.RandomTranslation, keras.layers.RandomRotation,
    keras.layers.RandomZoom, keras.layers.RandomContrast,
)
for _cls in _FREE:
    _RULES[_cls] = lambda layer, in_shapes, out_shape: 0


def _rule_for(layer: keras.layers.Layer) -> MacRule:
    if hasattr(layer, "count_macs"):  # course_lib's own layers can say their cost themselves
        return lambda lyr, i, o: int(lyr.count_macs(i, o))
    for cls in type(layer).__mro__:
        if cls in _RULES:
            return _RULES[cls]
    raise UnsupportedLayerError(
        f"count_macs does not know layer '{layer.name}' of type {type(layer).__name__}. "
        f"Register a rule with course_lib.profile.register_macs({type(layer).__name__}).")


def _as_shape(t) -> Shape:
    return tuple(None if d is None else int(d) for d in t.shape)


def _is_model(layer) -> bool:
    return isinstance(layer, keras.Model)


def _check_model(model) -> None:
    if not isinstance(model, keras.Model):
        raise TypeError(f"model must be a Keras model, got {type(model).__name__}"
                        + (" (a layer: wrap it in keras.Sequential([keras.Input(...), layer]))"
                           if isinstance(model, keras.layers.Layer) else ""))


def _check_dtype_bytes(dtype_bytes) -> int:
    if isinstance(dtype_bytes, bool) or not isinstance(dtype_bytes, (int, np.integer)) or dtype_bytes < 1:
        raise ValueError(f"dtype_bytes must be a whole number of bytes >= 1 (4 for float32), got {dtype_bytes!r}")
    return int(dtype_bytes)


def _layer_calls(model: keras.Model):
    """Yield ``(layer, input_shapes, output_shapes)`` for every call of every layer in ``model``."""
    _check_model(model)
    graph = getattr(model, "_functional", None) or model
    if not getattr(graph, "_nodes", None):
        raise ValueError(f"Model '{model.name}' has no known input shape yet: build it with keras.Input "
                         f"(or call it once on data) before profiling it.")
    own_nodes = graph._nodes  # keys "<id(layer)>_ib-<node index>" of the nodes in this graph
    for layer in graph.layers:
        for index, node in enumerate(layer._inbound_nodes):
            if f"{id(layer)}_ib-{index}" not in own_nodes:
                continue
            ins = [_as_shape(t) for t in node.input_tensors]
            outs = [_as_shape(t) for t in node.output_tensors]
            unknown = [shape for shape in ins + outs if None in shape[1:]]
            if unknown and not isinstance(layer, keras.layers.InputLayer):
                raise ValueError(f"layer '{layer.name}' of '{model.name}' has an unknown (None) size in shape "
                                 f"{unknown[0]}: MACs and memory need fixed sizes. Build the model with a fixed "
                                 f"input shape, e.g. keras.Input((32, 32, 3)), to profile it.")
            yield layer, ins, outs


def layer_table(model: keras.Model, dtype_bytes: int = 4) -> pd.DataFrame:
    """One row per layer call: name, type, output shape, params, MACs, activation bytes.

    Nested models are expanded (their layers are listed as ``outer/inner``).
    """
    dtype_bytes = _check_dtype_bytes(dtype_bytes)
    rows = []
    for layer, ins, outs in _layer_calls(model):
        if _is_model(layer):
            inner = layer_table(layer, dtype_bytes)
            inner["layer"] = layer.name + "/" + inner["layer"]
            rows.extend(inner.to_dict("records"))
            continue
        if isinstance(layer, keras.layers.InputLayer):
            continue
        macs = _rule_for(layer)(layer, ins, outs[0])
        act = sum(int(np.prod(o[1:], dtype=np.int64)) for o in outs) * dtype_bytes
        rows.append({
            "layer": layer.name,
            "type": type(layer).__name__,
            "output shape": outs[0][1:] if len(outs) == 1 else [o[1:] for o in outs],
            "params": int(sum(np.prod(w.shape, dtype=np.int64) for w in layer.weights)),
            "MACs": int(macs),
            "activation bytes": int(act),
        })
    return pd.DataFrame(rows, columns=["layer", "type", "output shape", "params", "MACs", "activation bytes"])


def count_params(model: keras.Model, trainable_only: bool = False) -> int:
    """Number of weights in ``model`` (each shared weight once)."""
    _check_model(model)
    weights = model.trainable_weights if trainable_only else model.weights
    seen, total = set(), 0
    for w in weights:
        if id(w) not in seen:
            seen.add(id(w))
            total += int(np.prod(w.shape, dtype=np.int64))
    return total


def count_macs(model: keras.Model) -> int:
    """Multiply-accumulates for one sample (see the module docstring for the convention)."""
    return int(layer_table(model)["MACs"].sum())


def activation_memory(model: keras.Model, dtype_bytes: int = 4) -> dict[str, int]:
    """Bytes of activations for one sample: ``total`` (all outputs) and ``peak_layer`` (largest one).

    ``total`` is what training must keep for back-propagation; an inference engine that frees
    tensors early needs roughly the largest input+output pair, which ``peak_layer`` approximates.
    """
    table = layer_table(model, dtype_bytes)
    inputs = sum(int(np.prod(t.shape[1:], dtype=np.int64)) for t in model.inputs) * dtype_bytes
    return {"total": int(table["activation bytes"].sum()) + inputs,
            "peak_layer": int(max(table["activation bytes"].max(), inputs))}


def saved_size(model: keras.Model, path: str | Path | None = None, overwrite: bool = False) -> int:
    """Bytes of the model saved in Keras' ``.keras`` format (to ``path`` or a temporary file).

    An existing file at ``path`` is not replaced unless ``overwrite=True``.
    """
    _check_model(model)
    if path is not None:
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"path must be a file path (str or Path), got {type(path).__name__}")
        path = Path(path)
        if path.suffix != ".keras":
            raise ValueError(f"path must end in '.keras' (Keras' format), got '{path}'")
        if path.exists() and not overwrite:
            raise FileExistsError(f"{path} already exists; pass overwrite=True to replace it, or choose another path")
        if not path.parent.is_dir():
            raise FileNotFoundError(f"the folder of path '{path}' does not exist")
        model.save(path)
        return os.path.getsize(path)
    with tempfile.TemporaryDirectory() as tmp:
        file = Path(tmp) / "model.keras"
        model.save(file)
        return file.stat().st_size


def weight_bytes(model: keras.Model, bits: int = 32) -> int:
    """Bytes of the raw weights at ``bits`` per weight (32 for float32, 8 for int8, 1 for binary)."""
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)) or not 1 <= bits <= 64:
        raise ValueError(f"bits must be a whole number of bits per weight from 1 to 64, got {bits!r}")
    return math.ceil(count_params(model) * bits / 8)


def summary(model: keras.Model) -> dict[str, int]:
    """Params, MACs, activation memory and weight bytes of a model in one dictionary."""
    return {"params": count_params(model), "MACs": count_macs(model),
            "activation bytes": activation_memory(model)["total"], "weight bytes (fp32)": weight_bytes(model)}


def human(n: float, unit: str = "") -> str:
    """Format a count with k/M/G suffix, e.g. ``human(3.4e6) == '3.40 M'``."""
    if isinstance(n, (bool, str)) or not isinstance(n, (int, float, np.integer, np.floating)):
        raise TypeError(f"human: n must be a number, got {type(n).__name__} {n!r}")
    for factor, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= factor:
            return f"{n / factor:.2f} {suffix}{unit}"
    return f"{n:.0f} {unit}".rstrip()
