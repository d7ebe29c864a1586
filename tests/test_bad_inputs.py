"""A catalogue of bad inputs across the public API of course_lib.

Each case calls one public function with one bad argument and states what must happen:
``raises``: an exception of the given type, raised inside course_lib (not deep in TensorFlow or
NumPy), whose message matches a pattern naming the problem; ``warns``: a warning of the given class,
issued by course_lib, whose message names the argument, its value and what is allowed (the call goes on);
``fails``: a checker prints ❌ with a message matching the pattern (checkers never raise on a malformed
answer). The last test prints the fraction handled, per module, and requires at least 99%.
"""
from __future__ import annotations

import json
import math
import re
import warnings
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import keras
import numpy as np
import pandas as pd
import pytest

from course_lib import (bench, binarize, checks, data, exercises, ledger, mobilenet, models, profile, prune, pvanet,
                        tflite)
from course_lib import quantize as Q

COURSE_LIB = str(Path(checks.__file__).parent)


@dataclass
class Case:
    module: str
    what: str
    call: Callable  # call(env) -> anything
    error: type | tuple | None  # None: a checker that must return a failed CheckResult
    pattern: str


CASES: list[Case] = []


def raises(module, what, error, pattern):
    def add(fn):
        CASES.append(Case(module, what, fn, error, pattern))
        return fn
    return add


def case(module, what, call, error, pattern):
    CASES.append(Case(module, what, call, error, pattern))


def fails(what, call, pattern):
    CASES.append(Case("checks", what, call, None, pattern))


def warns(module, what, call, category, pattern):
    CASES.append(Case(module, what, call, category, pattern))


class Env:
    """Tiny models and files, built once for the whole catalogue."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        keras.utils.set_random_seed(0)
        self.cnn = models.small_cnn((12, 12, 1), 3, widths=(4, 8, 8), name="tiny_cnn")
        self.no_kernel = keras.Sequential([keras.Input((4,)), keras.layers.ReLU()], name="no_kernel")
        self.unknown = keras.Sequential([keras.Input((None, None, 3)), keras.layers.Conv2D(2, 3, name="conv")],
                                        name="unknown_size")
        self.x = np.random.default_rng(0).uniform(0, 1, (16, 12, 12, 1)).astype(np.float32)
        self.y = np.zeros(16, np.int64)
        self.fb = tflite.convert(self.cnn, "float32")
        self.fb8 = tflite.convert(self.cnn, "int8", representative_data=self.x)
        nan_model = models.small_cnn((12, 12, 1), 3, widths=(4, 8, 8), name="nan_cnn")
        w = nan_model.get_layer("logits").get_weights()
        w[0][0, 0] = np.nan
        nan_model.get_layer("logits").set_weights(w)
        self.nan_model = nan_model
        self.qp = Q.qparams_from_range(-1.0, 1.0)
        self.existing = tmp / "mine.keras"
        self.existing.write_text("my own file")


# ------------------------------------------------------------------------------------------------ data
case("data", "load an unknown dataset", lambda e: data.load("nope"), data.DataError, r"Unknown dataset 'nope'")
case("data", "load a number", lambda e: data.load(5), data.DataError, r"must be a string.*5")
case("data", "load a real dataset without download", lambda e: data.load("cifar10"), data.DataError, r"cifar10.*download|download.*cifar10|Unknown dataset")
case("data", "class names of an unknown dataset", lambda e: data.class_names("nope"), data.DataError, r"'nope'")
case("data", "generate over an existing file", lambda e: (e.tmp.joinpath("d").mkdir(exist_ok=True),
     e.tmp.joinpath("d", "digits.npz").write_bytes(b"x"), data.generate("digits", data_dir=e.tmp / "d")),
     data.DataError, r"already exists; pass overwrite=True")
case("data", "verify a file with no manifest", lambda e: (e.tmp.joinpath("v").mkdir(exist_ok=True),
     e.tmp.joinpath("v", "shapes.npz").write_bytes(b"x"), data.verify("shapes", data_dir=e.tmp / "v")),
     data.DataError, r"manifest")
case("data", "load_real unknown", lambda e: data.load_real("nope"), data.DataError, r"Unknown real dataset 'nope'")
case("data", "ensure_generated unknown", lambda e: data.ensure_generated("x"), data.DataError, r"Unknown dataset 'x'")

# ------------------------------------------------------------------------------------------------ profile
for fn_name in ("count_macs", "count_params", "layer_table", "activation_memory", "summary", "weight_bytes"):
    case("profile", f"{fn_name}(None)", lambda e, f=fn_name: getattr(profile, f)(None), TypeError, r"model must be a Keras model, got NoneType")
case("profile", "count_macs of a layer", lambda e: profile.count_macs(keras.layers.Dense(3)), TypeError, r"a layer: wrap it")
case("profile", "count_macs of a string", lambda e: profile.count_macs("cnn"), TypeError, r"got str")
case("profile", "count_macs with None spatial sizes", lambda e: profile.count_macs(e.unknown), ValueError, r"unknown \(None\) size.*fixed input shape")
for bad in (0, -4, 2.5, True):
    case("profile", f"layer_table dtype_bytes={bad!r}", lambda e, b=bad: profile.layer_table(e.cnn, dtype_bytes=b), ValueError, r"dtype_bytes must be")
case("profile", "activation_memory dtype_bytes=0", lambda e: profile.activation_memory(e.cnn, dtype_bytes=0), ValueError, r"dtype_bytes")
for bad in (-8, 0, 2.5, True, 65):
    case("profile", f"weight_bytes bits={bad!r}", lambda e, b=bad: profile.weight_bytes(e.cnn, bits=b), ValueError, r"bits must be .*got")
case("profile", "saved_size over an existing file", lambda e: profile.saved_size(e.cnn, e.existing), FileExistsError, r"already exists; pass overwrite=True")
case("profile", "saved_size to a .h5 path", lambda e: profile.saved_size(e.cnn, e.tmp / "m.h5"), ValueError, r"must end in '.keras'")
case("profile", "saved_size into a missing folder", lambda e: profile.saved_size(e.cnn, e.tmp / "no" / "m.keras"), FileNotFoundError, r"folder")
case("profile", "saved_size path=123", lambda e: profile.saved_size(e.cnn, 123), TypeError, r"path must be a file path")
case("profile", "human('abc')", lambda e: profile.human("abc"), TypeError, r"n must be a number")


class _NoRule(keras.layers.Layer):
    def call(self, x):
        return x


case("profile", "a layer with no MAC rule", lambda e: profile.count_macs(keras.Sequential([keras.Input((3,)), _NoRule(name="mystery")])),
     profile.UnsupportedLayerError, r"_NoRule|mystery")

# ------------------------------------------------------------------------------------------------ mobilenet
for builder in ("mobilenet_v2", "mobilenet_v2_small", "mobilenet_v1"):
    shape = (32, 32, 3)
    for bad in (0, -1, "1", True, float("nan")):
        case("mobilenet", f"{builder}(alpha={bad!r})", lambda e, b=builder, a=bad, s=shape: getattr(mobilenet, b)(s, alpha=a),
             ValueError, r"alpha.*must be a number > 0")
    case("mobilenet", f"{builder}(classes=0)", lambda e, b=builder: getattr(mobilenet, b)((32, 32, 3), classes=0), ValueError, r"classes must be")
    case("mobilenet", f"{builder}(input_shape=(32, 32))", lambda e, b=builder: getattr(mobilenet, b)((32, 32)), ValueError, r"input_shape must be \(height, width, channels\)")
case("mobilenet", "mobilenet_v2 classes=2.5", lambda e: mobilenet.mobilenet_v2((32, 32, 3), classes=2.5), ValueError, r"classes must be a whole number")
case("mobilenet", "mobilenet_v2 16x16 input", lambda e: mobilenet.mobilenet_v2((16, 16, 3)), ValueError, r"at least 32x32")
case("mobilenet", "mobilenet_v2 negative channels", lambda e: mobilenet.mobilenet_v2((32, 32, -3)), ValueError, r"positive whole numbers")
case("mobilenet", "mobilenet_v2 input_shape='224'", lambda e: mobilenet.mobilenet_v2("224"), ValueError, r"input_shape")
case("mobilenet", "mobilenet_v2 pooling='sum'", lambda e: mobilenet.mobilenet_v2((32, 32, 3), include_top=False, pooling="sum"), ValueError, r"pooling must be None, 'avg' or 'max'")
case("mobilenet", "mobilenet_v2_small 4x4 input", lambda e: mobilenet.mobilenet_v2_small((4, 4, 3)), ValueError, r"at least 8x8")
for bad in (0, -8, "16"):
    case("mobilenet", f"make_divisible({bad!r})", lambda e, b=bad: mobilenet.make_divisible(b), ValueError, r"value must be a positive number")
case("mobilenet", "make_divisible divisor=0", lambda e: mobilenet.make_divisible(16, divisor=0), ValueError, r"divisor must be")


def _block(**kw):
    args = dict(expansion=6, filters=16, stride=1) | kw
    return mobilenet.inverted_residual_block(keras.Input((8, 8, 16)), **args)


for kw, pattern in (({"stride": 3}, r"stride must be 1 or 2, got 3"), ({"expansion": 0}, r"expansion must be"),
                    ({"expansion": 1.5}, r"expansion must be a whole number"), ({"filters": 0}, r"filters must be"),
                    ({"filters": "16"}, r"filters must be"), ({"alpha": 0}, r"alpha must be a number > 0")):
    case("mobilenet", f"inverted_residual_block {kw}", lambda e, k=kw: _block(**k), ValueError, pattern)
case("mobilenet", "relu_roundtrip on 1-d points", lambda e: mobilenet.relu_roundtrip(np.ones(5), 3), ValueError, r"points must have shape \(n, d\)")
case("mobilenet", "relu_roundtrip n_dims=0", lambda e: mobilenet.relu_roundtrip(mobilenet.spiral(10), 0), ValueError, r"n_dims must be >= 1")
case("mobilenet", "relu_roundtrip activation='tanh'", lambda e: mobilenet.relu_roundtrip(mobilenet.spiral(10), 3, activation="tanh"), ValueError, r"activation must be 'relu' or 'linear'")
case("mobilenet", "relu_roundtrip decoder='x'", lambda e: mobilenet.relu_roundtrip(mobilenet.spiral(10), 3, decoder="x"), ValueError, r"decoder must be")
case("mobilenet", "spiral(n_points=0)", lambda e: mobilenet.spiral(0), ValueError, r"n_points must be")

# ------------------------------------------------------------------------------------------------ binarize
case("binarize", "alpha scaling='bad'", lambda e: binarize.alpha(np.ones((3, 3, 2, 4)), scaling="bad"), ValueError, r"scaling must be one of")
case("binarize", "BinaryConv2D scaling='x'", lambda e: binarize.BinaryConv2D(8, 3, scaling="x"), ValueError, r"scaling must be one of")
case("binarize", "BinaryDense scaling='x'", lambda e: binarize.BinaryDense(4, scaling="x"), ValueError, r"scaling must be one of")
case("binarize", "binary_cnn kind='x'", lambda e: binarize.binary_cnn("x"), ValueError, r"kind must be one of")
case("binarize", "pack_bits of a scalar", lambda e: binarize.pack_bits(np.float32(1.0)), ValueError, r"at least a 1-D array")
case("binarize", "pack_bits word_bits=12", lambda e: binarize.pack_bits(np.ones(8), word_bits=12), ValueError, r"word_bits must be 8, 16, 32 or 64")
case("binarize", "pack_bits with NaN", lambda e: binarize.pack_bits(np.array([1.0, np.nan])), ValueError, r"NaN")
case("binarize", "unpack_bits of floats", lambda e: binarize.unpack_bits(np.ones(2), 3), ValueError, r"unsigned words")
case("binarize", "unpack_bits n too large", lambda e: binarize.unpack_bits(binarize.pack_bits(np.ones(8)), 100), ValueError, r"cannot unpack 100")
case("binarize", "xnor_matmul 1-d a", lambda e: binarize.xnor_matmul(np.ones(3), np.ones((3, 2))), ValueError, r"2-D matrices")
case("binarize", "xnor_matmul inner mismatch", lambda e: binarize.xnor_matmul(np.ones((2, 3)), np.ones((4, 2))), ValueError, r"inner")
case("binarize", "xnor_popcount_matmul k too big", lambda e: binarize.xnor_popcount_matmul(
    binarize.pack_bits(np.ones((2, 8))), binarize.pack_bits(np.ones((2, 8))), 1000), ValueError, r"k=1000 does not fit")
case("binarize", "binarization_view empty", lambda e: binarize.binarization_view(np.zeros((0,))), ValueError, r"non-empty kernel")
case("binarize", "binarization_view scaling='x'", lambda e: binarize.binarization_view(np.ones((3, 3, 1, 2)), scaling="x"), ValueError, r"scaling must be")
case("binarize", "memory_report(None)", lambda e: binarize.memory_report(None), TypeError, r"model must be a Keras model")
case("binarize", "blas_threads(0)", lambda e: binarize.blas_threads(0).__enter__(), ValueError, r"n must be a whole number of threads")
case("binarize", "input_scale_K bad kernel size", lambda e: binarize.input_scale_K(np.ones((1, 4, 4, 1), np.float32), (3, 3, 3)), ValueError, r"one int or a pair")

# ------------------------------------------------------------------------------------------------ prune
for bad, pattern in ((1.0, r"would remove every weight"), (-0.1, r"in \[0, 1\)"), ("0.5", r"got str '0.5'"),
                     (True, r"got bool"), (float("nan"), r"in \[0, 1\)"), (None, r"must be a number")):
    case("prune", f"check_sparsity({bad!r})", lambda e, b=bad: prune.check_sparsity(b), prune.PruningError, pattern)
case("prune", "magnitude_threshold sparsity 1.5", lambda e: prune.magnitude_threshold(np.ones(4), 1.5), prune.PruningError, r"sparsity must be in")
case("prune", "magnitude_threshold of []", lambda e: prune.magnitude_threshold([], 0.5), prune.PruningError, r"weights is empty")
case("prune", "magnitude_threshold with NaN", lambda e: prune.magnitude_threshold([np.nan, 1.0], 0.5), prune.PruningError, r"NaN")
case("prune", "magnitude_mask of a string", lambda e: prune.magnitude_mask("abc", 0.5), prune.PruningError, r"array of numbers")
case("prune", "layer_masks unknown layer", lambda e: prune.layer_masks(e.cnn, 0.5, layers=["nope"]), prune.PruningError, r"has no layer 'nope'")
case("prune", "layer_masks layers='conv1'", lambda e: prune.layer_masks(e.cnn, 0.5, layers="conv1"), prune.PruningError, r"list of layer names.*\['conv1'\]")
case("prune", "layer_masks non-prunable layer", lambda e: prune.layer_masks(e.cnn, 0.5, layers=["pool1"]), prune.PruningError, r"cannot be pruned: it has no kernel")
case("prune", "layer_masks on a model with no kernels", lambda e: prune.layer_masks(e.no_kernel, 0.5), prune.PruningError, r"no prunable layer")
case("prune", "global_masks on a model with no kernels", lambda e: prune.global_masks(e.no_kernel, 0.5), prune.PruningError, r"no prunable layer")
case("prune", "layer_masks {'conv1': 2}", lambda e: prune.layer_masks(e.cnn, {"conv1": 2}), prune.PruningError, r"sparsity of layer 'conv1'")
case("prune", "global_masks sparsity 1.2", lambda e: prune.global_masks(e.cnn, 1.2), prune.PruningError, r"sparsity must be in")
case("prune", "make_masks method='random'", lambda e: prune.make_masks(e.cnn, 0.5, method="random"), prune.PruningError, r"method must be 'layer' or 'global'")
case("prune", "apply_masks wrong shape", lambda e: prune.apply_masks(e.cnn, {"conv1": np.ones((2, 2))}), prune.PruningError, r"mask for layer 'conv1' has shape")
case("prune", "apply_masks unknown layer", lambda e: prune.apply_masks(e.cnn, {"nope": np.ones(2)}), prune.PruningError, r"no layer 'nope'")
case("prune", "layer_masks(None)", lambda e: prune.layer_masks(None, 0.5), TypeError, r"model must be a Keras model")
case("prune", "polynomial_sparsity end <= begin", lambda e: prune.polynomial_sparsity(5, 0.0, 0.5, 10, 10), prune.PruningError, r"end_step \(10\) must be larger")
case("prune", "polynomial_sparsity power=0", lambda e: prune.polynomial_sparsity(5, 0.0, 0.5, 0, 10, power=0), prune.PruningError, r"power must be positive")
case("prune", "polynomial_sparsity final 1.0", lambda e: prune.polynomial_sparsity(5, 0.0, 1.0, 0, 10), prune.PruningError, r"every weight|\[0, 1\)")
case("prune", "PruningCallback with neither", lambda e: prune.PruningCallback(), prune.PruningError, r"either masks .* or a schedule")
case("prune", "sensitivity_scan evaluate not callable", lambda e: prune.sensitivity_scan(e.cnn, "acc", [0.5]), TypeError, r"evaluate must be a function")
case("prune", "sensitivity_scan no sparsities", lambda e: prune.sensitivity_scan(e.cnn, lambda m: 1.0, []), prune.PruningError, r"non-empty list")
case("prune", "sensitivity_scan sparsity 1.5", lambda e: prune.sensitivity_scan(e.cnn, lambda m: 1.0, [1.5]), prune.PruningError, r"sparsity must be in")
case("prune", "sensitivity_scan evaluate returns a string", lambda e: prune.sensitivity_scan(e.cnn, lambda m: "good", [0.5], layers=["conv1"]), TypeError, r"must return a number, got str")
for keep, pattern in (({"conv1": [0, 0, 1]}, r"lists channel\(s\) \[0\] more than once"),
                      ({"conv1": [-1, 2]}, r"indices \[-1\] outside 0\.\.3"),
                      ({"conv1": [0, 99]}, r"indices \[99\] outside"),
                      ({"conv1": [0.5, 1.0]}, r"channel indices \(integers\)"),
                      ({"conv1": []}, r"would keep no channel"),
                      ({"nope": [0]}, r"no layer\(s\) \['nope'\]"),
                      ([1, 2], r"keep must be a dict")):
    case("prune", f"rebuild_pruned keep={keep!r}", lambda e, k=keep: prune.rebuild_pruned(e.cnn, k), prune.PruningError, pattern)
    case("prune", f"mask_channels keep={keep!r}", lambda e, k=keep: prune.mask_channels(e.cnn, k), prune.PruningError, pattern)
case("prune", "rebuild_pruned('model')", lambda e: prune.rebuild_pruned("model", {}), TypeError, r"model must be a Keras model")

# ------------------------------------------------------------------------------------------------ pvanet
case("pvanet", "conv_block filters=0", lambda e: pvanet.conv_block(keras.Input((8, 8, 3)), 0), ValueError, r"filters must be positive")
case("pvanet", "CReLU block with odd filters", lambda e: pvanet.conv_block(keras.Input((8, 8, 3)), 5, use_crelu=True), ValueError, r"even number of output channels")
case("pvanet", "cnn crelu_stages=(5,)", lambda e: pvanet.cnn((16, 16, 3), 3, crelu_stages=(5,)), ValueError, r"stages \[5\] that do not exist")
case("pvanet", "conv_cost odd out_channels", lambda e: pvanet.conv_cost(8, 8, 3, 5, use_crelu=True), ValueError, r"even out_channels")
case("pvanet", "cosine_matrix with a zero filter", lambda e: pvanet.cosine_matrix(np.zeros((3, 3, 1, 2))), ValueError, r"all zeros")
case("pvanet", "cosine_matrix of a 3-d array", lambda e: pvanet.cosine_matrix(np.ones((3, 3, 2))), ValueError, r"expected a conv kernel")
case("pvanet", "opposite_partners one filter", lambda e: pvanet.opposite_partners(np.ones((3, 3, 1, 1))), ValueError, r"at least 2 filters")
case("pvanet", "rescaled_filters of a matrix", lambda e: pvanet.rescaled_filters(np.ones((4, 4))), ValueError, r"needs a conv kernel")
case("pvanet", "rescaled_filters index out of range", lambda e: pvanet.rescaled_filters(np.random.default_rng(0).normal(size=(3, 3, 3, 8)), index=9), ValueError, r"index must be in \[0, 8\)")
case("pvanet", "make_scale_task n=0", lambda e: pvanet.make_scale_task(0), ValueError, r"n >= 1")
case("pvanet", "CReLU on unknown channels", lambda e: pvanet.CReLU().build((None, 4, 4, None)), ValueError, r"known channel count")

# ------------------------------------------------------------------------------------------------ quantize
for bad in (1, 40, True, 8.0):
    case("quantize", f"qrange({bad!r})", lambda e, b=bad: Q.qrange(b), ValueError, r"bits must be an integer between 2 and 32")
case("quantize", "qparams_from_range(2, 1)", lambda e: Q.qparams_from_range(2, 1), ValueError, r"rmin must not exceed rmax.*swapped")
case("quantize", "qparams_from_range('a', 1)", lambda e: Q.qparams_from_range("a", 1), TypeError, r"rmin must be a number")
case("quantize", "qparams_from_range(nan, 1)", lambda e: Q.qparams_from_range(np.nan, 1.0), ValueError, r"finite")
case("quantize", "qparams_from_range(0, inf)", lambda e: Q.qparams_from_range(0.0, np.inf), ValueError, r"finite")
case("quantize", "qparams_from_range bits=1", lambda e: Q.qparams_from_range(-1, 1, bits=1), ValueError, r"bits must be")
case("quantize", "per-channel range without axis", lambda e: Q.qparams_from_range(np.array([-1, -2]), np.array([1, 2])), ValueError, r"axis")
case("quantize", "choose_qparams of []", lambda e: Q.choose_qparams([]), ValueError, r"empty tensor")
case("quantize", "choose_qparams axis=5", lambda e: Q.choose_qparams(np.ones((2, 3)), axis=5), ValueError, r"axis 5 is out of range")
case("quantize", "choose_qparams of strings", lambda e: Q.choose_qparams(["a", "b"]), TypeError, r"x must be an array of numbers")
case("quantize", "quantize with qp='s'", lambda e: Q.quantize(np.ones(3), "s"), TypeError, r"qp must be QParams")
case("quantize", "quantize NaN", lambda e: Q.quantize(np.array([np.nan, 1.0]), e.qp), ValueError, r"NaN value\(s\)")
case("quantize", "quantize a string", lambda e: Q.quantize("abc", e.qp), TypeError, r"x must be an array of numbers")
case("quantize", "quantize per-channel mismatch", lambda e: Q.quantize(np.ones((2, 3)), Q.choose_qparams(np.ones((2, 4)), axis=1)), ValueError, r"per-channel parameters")
case("quantize", "dequantize floats", lambda e: Q.dequantize(np.ones(3), e.qp), TypeError, r"q must hold integer codes")
case("quantize", "dequantize qp=None", lambda e: Q.dequantize(np.ones(3, np.int8), None), TypeError, r"qp must be QParams")
case("quantize", "quantize_multiplier(-1)", lambda e: Q.quantize_multiplier(-1.0), ValueError, r"finite and >= 0")
case("quantize", "rounding_divide_by_pot exponent 40", lambda e: Q.rounding_divide_by_pot(np.array([4]), 40), ValueError, r"exponent must be in \[0, 31\]")
case("quantize", "activation_bounds 'gelu'", lambda e: Q.activation_bounds(e.qp, "gelu"), ValueError, r"activation must be None, 'relu' or 'relu6'")
case("quantize", "int_conv2d 3-d input", lambda e: Q.int_conv2d(np.ones((4, 4, 1), np.int8), 0, np.ones((3, 3, 1, 2), np.int8)), ValueError, r"needs x \(N, H, W, C\)")
case("quantize", "int_conv2d channel mismatch", lambda e: Q.int_conv2d(np.ones((1, 4, 4, 2), np.int8), 0, np.ones((3, 3, 1, 2), np.int8)), ValueError, r"input has 2 channels")
case("quantize", "int_conv2d padding='full'", lambda e: Q.int_conv2d(np.ones((1, 4, 4, 1), np.int8), 0, np.ones((3, 3, 1, 2), np.int8), padding="full"), ValueError, r"padding must be")
case("quantize", "int_conv2d float input", lambda e: Q.int_conv2d(np.ones((1, 4, 4, 1)), 0, np.ones((3, 3, 1, 2), np.int8)), TypeError, r"must hold integers")
case("quantize", "int_dense mismatch", lambda e: Q.int_dense(np.ones((1, 3), np.int8), 0, np.ones((4, 2), np.int8)), ValueError, r"input has 3 features")
case("quantize", "int_max_pool2d odd size", lambda e: Q.int_max_pool2d(np.ones((1, 3, 3, 1), np.int8)), ValueError, r"divisible by 2")
case("quantize", "tensor_qparams of a float tensor", lambda e: Q.tensor_qparams({"name": "t", "dtype": np.float32, "quantization_parameters": {"scales": []}}), ValueError, r"tensor 't' is not quantized")
case("tflite", "reference_interpreter('x')", lambda e: tflite.reference_interpreter("x"), TypeError, r"model_bytes must be flatbuffer bytes")
case("tflite", "reference_interpreter(garbage)", lambda e: tflite.reference_interpreter(b"garbage bytes"), ValueError, r"not a LiteRT flatbuffer")
case("tflite", "read_int8_graph of a float model", lambda e: tflite.read_int8_graph(e.fb), ValueError, r"computes in float")
case("tflite", "reference_activations float input", lambda e: tflite.reference_activations(e.fb8, e.x[:1]), TypeError, r"quantize it first")
case("quantize", "FakeQuant momentum 1.5", lambda e: Q.FakeQuant(momentum=1.5), ValueError, r"momentum must be in \[0, 1\)")
case("quantize", "calibrate_fake_quant without FakeQuant", lambda e: Q.calibrate_fake_quant(e.cnn, e.x), ValueError, r"no FakeQuant layers")

# ------------------------------------------------------------------------------------------------ tflite
case("tflite", "make_interpreter('x')", lambda e: tflite.make_interpreter("x"), TypeError, r"model_bytes must be the flatbuffer bytes")
case("tflite", "make_interpreter(b'abc')", lambda e: tflite.make_interpreter(b"abc"), ValueError, r"not a LiteRT flatbuffer")
for bad, err in ((0, ValueError), (-2, ValueError), (1.5, TypeError), (True, TypeError)):
    case("tflite", f"make_interpreter num_threads={bad!r}", lambda e, b=bad: tflite.make_interpreter(e.fb, num_threads=b), err, r"num_threads must be")
case("tflite", "convert(None)", lambda e: tflite.convert(None), TypeError, r"model must be a Keras model")
case("tflite", "convert mode='int4'", lambda e: tflite.convert(e.cnn, "int4"), tflite.ConversionError, r"mode must be one of")
case("tflite", "convert mode=8", lambda e: tflite.convert(e.cnn, 8), tflite.ConversionError, r"mode must be one of")
case("tflite", "int8 without data", lambda e: tflite.convert(e.cnn, "int8"), tflite.ConversionError, r"needs representative_data")
case("tflite", "int8 with an empty array", lambda e: tflite.convert(e.cnn, "int8", representative_data=e.x[:0]), tflite.ConversionError, r"representative_data is empty")
case("tflite", "int8 with an empty list", lambda e: tflite.convert(e.cnn, "int8", representative_data=[]), tflite.ConversionError, r"representative_data is empty")
case("tflite", "int8 with an empty generator", lambda e: tflite.convert(e.cnn, "int8", representative_data=(s for s in [])), tflite.ConversionError, r"representative_data is empty")
case("tflite", "int8 with NaN data", lambda e: tflite.convert(e.cnn, "int8", representative_data=np.where(e.x > 0.5, np.nan, e.x)), tflite.ConversionError, r"NaN/inf values in \d+ sample")
case("tflite", "int8 with wrong sample shape", lambda e: tflite.convert(e.cnn, "int8", representative_data=np.ones((4, 8, 8, 1), np.float32)), tflite.ConversionError, r"samples of shape \(8, 8, 1\)")
case("tflite", "int8 with a string", lambda e: tflite.convert(e.cnn, "int8", representative_data="images"), tflite.ConversionError, r"must be an array of inputs.*got str")
case("tflite", "int8 with a dict", lambda e: tflite.convert(e.cnn, "int8", representative_data={"x": e.x}), tflite.ConversionError, r"got dict")
case("tflite", "num_calibration=0", lambda e: tflite.convert(e.cnn, "int8", representative_data=e.x, num_calibration=0), ValueError, r"num_calibration must be at least 1")
case("tflite", "NaN weights", lambda e: tflite.convert(e.nan_model, "float32"), tflite.ConversionError, r"layer 'logits' .* NaN/inf")
case("tflite", "NaN weights, int8", lambda e: tflite.convert(e.nan_model, "int8", representative_data=e.x), tflite.ConversionError, r"layer 'logits'")
case("tflite", "run on an empty x", lambda e: tflite.run(e.fb, e.x[:0]), ValueError, r"x is empty")
case("tflite", "run on []", lambda e: tflite.run(e.fb, []), ValueError, r"samples of shape|empty")
for bad, err in ((0, ValueError), (-1, ValueError), (1.5, TypeError), (None, TypeError)):
    case("tflite", f"run batch_size={bad!r}", lambda e, b=bad: tflite.run(e.fb, e.x, batch_size=b), err, r"batch_size must be")
case("tflite", "run num_threads=0", lambda e: tflite.run(e.fb, e.x, num_threads=0), ValueError, r"num_threads must be at least 1")
case("tflite", "run a NaN sample on int8", lambda e: tflite.run(e.fb8, np.where(e.x > 0.9, np.nan, e.x)), ValueError, r"NaN/inf values")
case("tflite", "run a single sample", lambda e: tflite.run(e.fb, e.x[0]), ValueError, r"one sample.*x\[None\]")
case("tflite", "run wrong shape", lambda e: tflite.run(e.fb, np.ones((2, 8, 8, 1))), ValueError, r"samples of shape \(8, 8, 1\), the model takes \(12, 12, 1\)")
case("tflite", "run a string", lambda e: tflite.run(e.fb, "images"), TypeError, r"x must be an array")
case("tflite", "run a ragged list", lambda e: tflite.run(e.fb, [[1.0], [1.0, 2.0]]), TypeError, r"numeric array")
case("tflite", "accuracy with fewer labels", lambda e: tflite.accuracy(e.fb, e.x, e.y[:3]), ValueError, r"16 samples but y has 3 labels")
case("tflite", "evaluate with fewer labels", lambda e: tflite.evaluate(e.fb, e.x, e.y[:3]), ValueError, r"16 samples but y has 3")
case("tflite", "evaluate on nothing", lambda e: tflite.evaluate(e.fb, e.x[:0], e.y[:0]), ValueError, r"at least one sample")
case("tflite", "evaluate reference of wrong shape", lambda e: tflite.evaluate(e.fb, e.x, e.y, reference=np.ones((16, 5))), ValueError, r"reference scores have shape")
case("tflite", "summary('x')", lambda e: tflite.summary("x"), TypeError, r"model_bytes must be")
case("tflite", "float_ops(b'junk')", lambda e: tflite.float_ops(b"junkjunkjunk"), ValueError, r"not a LiteRT flatbuffer")


# ------------------------------------------------------------------------------------------------ ledger
def _record(e, **kw):
    args = dict(notebook="01", model="m", technique="t") | kw
    return ledger.record(**args)


for kw, err, pattern in (
        ({"notebook": ""}, ledger.LedgerError, r"non-empty notebook"),
        ({"notebook": 5}, ledger.LedgerError, r"notebook must be a string, got int 5; write it as '5'"),
        ({"model": None}, ledger.LedgerError, r"model must be a string, got NoneType"),
        ({"technique": "  "}, ledger.LedgerError, r"non-empty technique"),
        ({"accuracy": 95.0}, ledger.LedgerError, r"accuracy must be a fraction in \[0, 1\], got 95"),
        ({"accuracy": "0.9"}, ledger.LedgerError, r"accuracy must be a number, got str"),
        ({"accuracy": True}, ledger.LedgerError, r"accuracy must be a number, got bool"),
        ({"params": -1}, ledger.LedgerError, r"params must not be negative"),
        ({"params": 1.5}, ledger.LedgerError, r"params must be a whole number, got 1.5"),
        ({"params": "10"}, ledger.LedgerError, r"params must be a whole number, got str"),
        ({"macs": True}, ledger.LedgerError, r"macs must be a whole number, got bool"),
        ({"bytes": -3}, ledger.LedgerError, r"bytes must not be negative"),
        ({"latency_ms": -1.0}, ledger.LedgerError, r"latency_ms must be in"),
        ({"latency_ms": "fast"}, ledger.LedgerError, r"latency_ms must be a number"),
        ({"threads": 0}, ledger.LedgerError, r"threads must be at least 1"),
        ({"notes": 5}, ledger.LedgerError, r"notes must be a string"),
        ({"bytes_kind": 3}, ledger.LedgerError, r"bytes_kind must be a string"),
        ({"runtime": None}, ledger.LedgerError, r"runtime must be a string")):
    case("ledger", f"record {kw}", lambda e, k=kw: _record(e, **k), err, pattern)

GOOD_HEADER = ",".join(ledger.COLUMNS)
GOOD_ROW = "01,cnn,baseline,10,100,40,flatbuffer,0.9,1.5,0.1,2,litert,fast,cpu,2026-01-01T00:00:00,"
for label, text, pattern in (
        ("an extra unquoted comma", f"{GOOD_HEADER}\n{GOOD_ROW}\n01,cnn,x,y,10,100,40,flatbuffer,0.9,1.5,0.1,2,litert,fast,cpu,t,\n", r"line 3 has 17 fields but the header has 16"),
        ("an unknown header", "a,b\n1,2\n", r"unknown: \['a', 'b'\]"),
        ("accuracy 1.5 in the file", f"{GOOD_HEADER}\n{GOOD_ROW.replace(',0.9,', ',1.5,')}\n", r"line 2 has accuracy 1.5"),
        ("params that are not a number", f"{GOOD_HEADER}\n{GOOD_ROW.replace(',10,', ',ten,')}\n", r"line 2, column 'params' holds 'ten'"),
        ("params that are fractions", f"{GOOD_HEADER}\n{GOOD_ROW.replace(',10,', ',10.5,')}\n", r"not a whole number"),
        ("an empty file", "", r"it is empty"),
        ("a duplicated column", f"{GOOD_HEADER},notes\n", r"header"),
        ("a row with an empty model", f"{GOOD_HEADER}\n{GOOD_ROW.replace('01,cnn,', '01,,')}\n", r"empty notebook, model or technique")):
    def _corrupt(e, text=text):
        folder = e.tmp / "results"
        folder.mkdir(exist_ok=True)
        (folder / "ledger.csv").write_text(text)
        try:
            _record(e)
        finally:
            assert (folder / "ledger.csv").read_text() == text, "the user's file was changed"
    case("ledger", f"read a file with {label}", _corrupt, ledger.LedgerError, pattern)


def _binary_ledger(e):
    folder = e.tmp / "results"
    folder.mkdir(exist_ok=True)
    (folder / "ledger.csv").write_bytes(b"\xff\xfe\x00garbage")
    ledger.read()


case("ledger", "read a binary file", _binary_ledger, ledger.LedgerError, r"not valid CSV")

# ------------------------------------------------------------------------------------------------ bench
_fn = lambda x: x  # noqa: E731
case("bench", "measure no inputs", lambda e: bench.measure(_fn, []), ValueError, r"non-empty list of input arrays")
case("bench", "measure an array instead of a list", lambda e: bench.measure(_fn, np.ones(3)), ValueError, r"wrap it in a list")
case("bench", "measure a non-callable", lambda e: bench.measure("f", [np.ones(1)]), TypeError, r"fn must be a function")
for kw, pattern in (({"repeats": 0}, r"repeats must be at least 3, got 0"), ({"repeats": 2}, r"repeats must be at least 3"),
                    ({"repeats": 2.5}, r"repeats must be a whole number"), ({"warmup": -3}, r"warmup must be at least 0, got -3"),
                    ({"warmup": True}, r"warmup must be a whole number"), ({"batch": 0}, r"batch must be at least 1"),
                    ({"threads": 0}, r"threads must be at least 1")):
    case("bench", f"measure {kw}", lambda e, k=kw: bench.measure(_fn, [np.ones(1)], **k), ValueError, pattern)
case("bench", "random_inputs with None", lambda e: bench.random_inputs((None, 3)), ValueError, r"no None")
case("bench", "random_inputs count=0", lambda e: bench.random_inputs((2, 3), count=0), ValueError, r"count must be at least 1")
case("bench", "random_inputs dtype=str", lambda e: bench.random_inputs((2, 3), dtype=str), ValueError, r"numeric dtype")
case("bench", "random_inputs low >= high", lambda e: bench.random_inputs((2, 3), low=1.0, high=0.0), ValueError, r"low must be smaller than high")
case("bench", "time_keras(None)", lambda e: bench.time_keras(None), TypeError, r"model must be a Keras model")
case("bench", "time_keras batch_size=0", lambda e: bench.time_keras(e.cnn, batch_size=0), ValueError, r"batch_size must be at least 1")
case("bench", "time_keras mode='x'", lambda e: bench.time_keras(e.cnn, mode="x"), ValueError, r"mode must be 'function', 'eager' or 'predict'")
case("bench", "time_keras unknown size", lambda e: bench.time_keras(e.unknown), ValueError, r"unknown input dimension")
case("bench", "time_interpreter('x')", lambda e: bench.time_interpreter("x"), TypeError, r"model_bytes must be")
case("bench", "time_interpreter num_threads=0", lambda e: bench.time_interpreter(e.fb, num_threads=0), ValueError, r"num_threads must be at least 1")
case("bench", "interleaved({})", lambda e: bench.interleaved({}), ValueError, r"non-empty dict")
case("bench", "interleaved non-callable", lambda e: bench.interleaved({"a": 1}), TypeError, r"timers\['a'\] is not callable")
case("bench", "interleaved rounds=0", lambda e: bench.interleaved({"a": lambda: None}, rounds=0), ValueError, r"rounds must be at least 1")

# ------------------------------------------------------------------------------------------------ checks
for bad, pattern in (("12", r"got the string '12'"), (True, r"boolean True"), (None, r"not filled this in"),
                     (..., r"not filled this in"), ([12], r"single number, got a list"), ({"a": 12}, r"dict"),
                     (12.5, r"not a whole number"), (float("nan"), r"finite"), (np.array([12, 12]), r"single number")):
    fails(f"check_int({bad!r}, 12)", lambda e, b=bad: checks.check_int("n", b, 12), pattern)
fails("check_int 903168.4 vs 903168", lambda e: checks.check_int("n", 903168.4, 903168), r"903,168\.4")
fails("check_int -64.25 vs -64", lambda e: checks.check_int("z", -64.25, -64, factor=False), r"-64\.25")
fails("check_int an index is not a count", lambda e: checks.check_int("i", 4, 2, factor=False), r"You gave 4, which is not")
for bad, pattern in (("3.14", r"string '3.14'"), (False, r"boolean"), (None, r"not filled"), (float("inf"), r"finite"),
                     ([3.14], r"single number")):
    fails(f"check_close({bad!r}, 3.14)", lambda e, b=bad: checks.check_close("x", b, 3.14), pattern)
fails("check_close shows the digits that differ", lambda e: checks.check_close("x", 1.0000001, 1.0000002, rtol=1e-9),
      r"You gave 1\.0000001: close, but too small")
fails("check_range of a string", lambda e: checks.check_range("t", "5", 1, 10), r"string")
for bad, pattern in (([True, False], r"booleans"), ([[1], [1, 2]], r"different lengths"), ("abc", r"string"),
                     ({"a": 1}, r"dict"), (None, r"not filled"), (np.ones(3), r"Expected shape \(2,\), got shape \(3,\)"),
                     (5, r"Expected shape \(2,\), got a single number"), (np.array(["1", "0"]), r"array of <U1")):
    fails(f"check_array({bad!r})", lambda e, b=bad: checks.check_array("a", b, [1, 0]), pattern)
fails("check_array float codes where int8 asked", lambda e: checks.check_array("q", np.array([1.0, 2.0]), np.array([1, 2], np.int8), dtype=np.int8), r"Expected int8 values, got float64")
for bad, pattern in ((5, r"got int 5"), ("abc", r"got str"), ((5.5,), r"whole numbers or None"), ((True,), r"whole numbers")):
    fails(f"check_shape({bad!r}, (5,))", lambda e, b=bad: checks.check_shape("s", b, (5,)), pattern)
for label, fn, pattern in (("a string", lambda x: "abc", r"string 'abc'"), ("...", lambda x: ..., r"returned \.\.\."),
                           ("a dict", lambda x: {"a": 1}, r"dict"), ("ragged", lambda x: [[1], [1, 2]], r"different lengths"),
                           ("None", lambda x: None, r"return` missing"), ("an error", lambda x: 1 / 0, r"ZeroDivisionError"),
                           ("a wrong shape", lambda x: [x, x], r"single number, got shape \(2,\)")):
    fails(f"check_function returning {label}", lambda e, f=fn: checks.check_function("f", f, [((1.0,), 2.0)]), pattern)
fails("check_function on a number", lambda e: checks.check_function("f", 42, [((1,), 2)]), r"Expected a function, got int 42")
fails("check_function shows the input of an elementwise failure", lambda e: checks.check_function(
    "g", lambda x: (np.abs(x) < 1).astype(float), [((np.array([-2.0, -1.0, 0.0]),), np.array([0.0, 1.0, 1.0]))]),
    r"index 1 \(input -1\): you have 0 \(too small\)")
fails("check_timer(5)", lambda e: exercises.check_timer("timer", 5), r"Expected a function")
fails("check_budget_choice(('a', 32))", lambda e: exercises.check_budget_choice(
    ("a", 32), pd.DataFrame({"alpha": [0.5], "resolution": [32], "latency ms": [0.1], "accuracy": [0.5]}), 1.0), r"'a' is not a number")
fails("check_budget_choice('0.5, 32')", lambda e: exercises.check_budget_choice(
    "0.5, 32", pd.DataFrame({"alpha": [0.5], "resolution": [32], "latency ms": [0.1], "accuracy": [0.5]}), 1.0), r"Expected a tuple")


# ------------------------------------------------------------------------------------------------ issue 19 classes
# builders given an input too small for their strides, or a width multiplier that rounds a layer to 0 channels
for label, call, pattern in (
        ("small_cnn 2x2 input", lambda e: models.small_cnn((2, 2, 1)), r"input_shape=\(2, 2, 1\) is too small.*at least 4"),
        ("small_cnn 1x1 input, 4 stages", lambda e: models.small_cnn((4, 4, 1), widths=(4, 4, 4, 4)), r"halves the image 3 times.*at least 8"),
        ("small_cnn separable 3x3", lambda e: models.small_cnn((3, 3, 1), separable=True), r"too small"),
        ("small_cnn widths=(0, 8, 8)", lambda e: models.small_cnn((28, 28, 1), widths=(0, 8, 8)), r"widths must be .*got \(0, 8, 8\)"),
        ("small_cnn widths=()", lambda e: models.small_cnn((28, 28, 1), widths=()), r"widths must be a non-empty"),
        ("small_cnn classes=0", lambda e: models.small_cnn((28, 28, 1), classes=0), r"classes must be a whole number >= 1, got 0"),
        ("binary_cnn 2x2 input", lambda e: binarize.binary_cnn("xnor", (2, 2, 1)), r"binary_cnn: input_shape=\(2, 2, 1\) is too small"),
        ("binary_cnn widths=(8, 0)", lambda e: binarize.binary_cnn("bwn", widths=(8, 0)), r"widths must be"),
        ("binary_cnn input_shape=(28, 28)", lambda e: binarize.binary_cnn("float", (28, 28)), r"input_shape must be \(height, width, channels\)"),
        ("mobilenet_v1 8x8 input", lambda e: mobilenet.mobilenet_v1((8, 8, 3)), r"mobilenet_v1: input_shape=\(8, 8, 3\) is too small.*32x32"),
        ("mobilenet_v1 alpha=0.01", lambda e: mobilenet.mobilenet_v1((32, 32, 3), alpha=0.01), r"alpha=0.01 rounds .*0 channels.*at least 0.03125"),
        ("mobilenet_v2 alpha=0.01", lambda e: mobilenet.mobilenet_v2((32, 32, 3), alpha=0.01), r"alpha=0.01 rounds .*16 channels.*at least 0.0625"),
        ("mobilenet_v2_small alpha=0.05", lambda e: mobilenet.mobilenet_v2_small((32, 32, 3), alpha=0.05), r"mobilenet_v2_small: alpha=0.05 rounds"),
        ("inverted_residual_block alpha=0.01", lambda e: mobilenet.inverted_residual_block(keras.Input((8, 8, 16)), 6, 16, 1, alpha=0.01, name="b"),
         r"inverted_residual_block 'b': alpha=0.01 rounds")):
    case("mobilenet" if "mobilenet" in label or "residual" in label else "models" if "small_cnn" in label else "binarize",
         label, call, ValueError, pattern)


def _archive_without(env, name, drop):
    """A data folder whose digits archive lacks one array, with a manifest that matches it (sha256)."""
    folder = env.tmp / f"no_{drop}"
    folder.mkdir(exist_ok=True)
    arrays = {k: np.zeros((2, 28, 28, 1) if k.startswith("x") else 2, np.uint8) for k in data.ARRAYS if k != drop}
    np.savez(folder / f"{name}.npz", **arrays)
    (folder / "manifest.json").write_text(json.dumps({name: {"file": f"{name}.npz", "generator_version": data.GENERATOR_VERSION,
                                                             "sha256": data.sha256(folder / f"{name}.npz")}}))
    return folder


# a data folder argument that is a regular file; an archive missing an array its manifest promises
for fn_name, call in (("load", lambda e, f: data.load("digits", data_dir=f)),
                      ("generate", lambda e, f: data.generate("digits", data_dir=f)),
                      ("verify", lambda e, f: data.verify("digits", data_dir=f)),
                      ("ensure_generated", lambda e, f: data.ensure_generated("digits", data_dir=f))):
    case("data", f"{fn_name} with data_dir a regular file", lambda e, c=call: c(e, e.existing), data.DataError,
         r"data_dir='.*mine.keras' is a regular file, not a folder")
case("data", "load with data_dir=5", lambda e: data.load("digits", data_dir=5), data.DataError, r"data_dir must be a folder path.*int 5")
case("data", "load an archive without x_test", lambda e: data.load("digits", data_dir=_archive_without(e, "digits", "x_test")),
     data.DataError, r"has no array 'x_test'.*holds x_train, y_train, x_test, y_test")
case("data", "load an archive without y_train", lambda e: data.load("digits", data_dir=_archive_without(e, "digits", "y_train")),
     data.DataError, r"has no array 'y_train'")

# non-finite metrics written to the ledger: inf refused, NaN written with a warning, both naming the column
for column in ("accuracy", "latency_ms", "latency_iqr_ms"):
    case("ledger", f"record {column}=inf", lambda e, c=column: _record(e, **{c: math.inf}), ledger.LedgerError,
         rf"{column} must be a finite number, got inf.*None")
    warns("ledger", f"record {column}=nan", lambda e, c=column: _record(e, **{c: float("nan")}), ledger.LedgerWarning,
          rf"{column} is NaN.*{column}=None")
case("ledger", "record latency_ms=-inf", lambda e: _record(e, latency_ms=-math.inf), ledger.LedgerError, r"latency_ms must be a finite number")

# int8 inputs far outside the calibrated range: they saturate, with a warning naming the input and both ranges
warns("tflite", "run an int8 model on images in [0, 255]", lambda e: tflite.run(e.fb8, e.x * 255), tflite.SaturationWarning,
      r"input '.*' has values in \[.*, 2\d\d(\.\d*)?\].*represents only \[.*\].*calibrated.*saturate")
warns("tflite", "run an int8 model on inputs in [-1, 1]", lambda e: tflite.run(e.fb8, 2 * e.x - 1), tflite.SaturationWarning,
      r"values in \[-\d.*saturate")
warns("tflite", "quantize_input far outside", lambda e: tflite.quantize_input(
      e.x[:1] * 100, tflite.make_interpreter(e.fb8).get_input_details()[0]), tflite.SaturationWarning, r"saturate to -128 or 127")


# ------------------------------------------------------------------------------------------------ running
@pytest.fixture(scope="module")
def env(tmp_path_factory):
    return Env(tmp_path_factory.mktemp("bad_inputs"))


OUTCOMES: dict[str, bool] = {}


def _run(case: Case, env: Env, capsys) -> str:
    """"" if the case is handled as required, else what went wrong."""
    if case.error is None:
        result = case.call(env)
        out = capsys.readouterr().out
        if result or "❌" not in out:
            return f"the checker passed or printed no ❌: {out!r}"
        if not re.search(case.pattern, out, re.S):
            return f"message {out!r} does not match {case.pattern!r}"
        return ""
    if isinstance(case.error, type) and issubclass(case.error, Warning):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            case.call(env)
        mine = [w for w in caught if issubclass(w.category, case.error)]
        if not mine:
            return f"no {case.error.__name__} was issued (got {[str(w.message)[:80] for w in caught]})"
        if not re.search(case.pattern, str(mine[0].message), re.S):
            return f"message {str(mine[0].message)!r} does not match {case.pattern!r}"
        return ""
    try:
        case.call(env)
    except case.error as exc:
        tb = exc.__traceback__
        while tb.tb_next is not None:
            tb = tb.tb_next
        origin = tb.tb_frame.f_code.co_filename
        if not origin.startswith(COURSE_LIB):
            return f"{type(exc).__name__} raised in {origin}, not by course_lib: {exc}"
        if not re.search(case.pattern, str(exc), re.S):
            return f"message {str(exc)!r} does not match {case.pattern!r}"
        return ""
    except Exception as exc:  # noqa: BLE001
        return f"raised {type(exc).__name__} instead of {case.error}: {exc}"
    return "no error was raised"


@pytest.mark.parametrize("case", CASES, ids=[f"{c.module}: {c.what}" for c in CASES])
def test_bad_input(case, env, capsys, monkeypatch):
    monkeypatch.delenv("COURSE_STRICT_CHECKS", raising=False)
    monkeypatch.setenv("COURSE_RESULTS_DIR", str(env.tmp / "results"))
    ledger_file = env.tmp / "results" / "ledger.csv"
    if case.module == "ledger" and ledger_file.exists():
        ledger_file.unlink()
    problem = _run(case, env, capsys)
    OUTCOMES[f"{case.module}: {case.what}"] = not problem
    assert not problem, problem


def test_catalogue_summary(capsys):
    if len(OUTCOMES) < len(CASES):
        pytest.skip("only part of the catalogue ran")
    by_module = Counter(c.module for c in CASES)
    handled = Counter(c.module for c in CASES if OUTCOMES[f"{c.module}: {c.what}"])
    with capsys.disabled():
        print(f"\nbad-input catalogue: {sum(handled.values())} of {len(CASES)} handled "
              f"({sum(handled.values()) / len(CASES):.1%})")
        for module in sorted(by_module):
            print(f"  {module:10s} {handled[module]:3d} / {by_module[module]:3d}")
    assert len(CASES) >= 150
    assert sum(handled.values()) / len(CASES) >= 0.99
