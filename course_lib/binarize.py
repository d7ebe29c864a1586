"""Binary networks: BinaryConnect / BWN and XNOR-Net (Rastegari et al., ECCV 2016), the straight-through
estimator, bit packing and an XNOR + popcount matrix product.

What is here, in the order notebook 04 uses it:

- :func:`ste_sign`: ``sign`` (with sign(0) = +1) whose gradient is the straight-through estimator:
  1 where ``|x| <= 1``, 0 elsewhere. :func:`forward_and_gradient` evaluates any such function and its
  gradient with ``tf.GradientTape``.
- :func:`alpha`: the BWN scale per output filter, ``alpha = mean(|W|)``; :func:`input_scale_K`: the
  XNOR-Net input scale ``K`` (mean of ``|I|`` over channels, averaged by a box filter of the kernel size).
- Keras 3 layers that keep *latent* float weights for training and use binary ones in the forward pass:
  :class:`BinaryConv2D` and :class:`BinaryDense` (binary weights, real inputs: BWN) and
  :class:`XNORConv2D` (binary weights *and* binary inputs). They only *emulate* binary arithmetic with
  float convolutions, so they are not faster in Keras; each has ``count_macs`` for ``course_lib.profile``.
- :func:`binary_cnn`: the same small architecture as a float, BWN or XNOR network (first and last layer float).
- :func:`pack_bits` / :func:`unpack_bits`: signs packed into 64-bit words (bit 1 means +1).
- :func:`xnor_matmul`: ``sign(a) @ sign(b)`` computed exactly with XNOR and popcount on packed words.
- :func:`memory_report` / :func:`memory_summary`: a model's weight memory at float32 vs with its binary
  layers bit-packed, saying which layers stay float and why.
- :func:`binarization_view` / :func:`plot_binarization`: the pure function (and its plot) behind the
  weight-histogram widget.
"""
from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Sequence

import keras
import numpy as np
import pandas as pd
from keras import ops

from . import config

WORD_BITS = 64
SCALINGS = ("none", "per-layer", "per-filter")


# --------------------------------------------------------------------------- sign and its gradient
def sign(x):
    """Binarize to {-1, +1} with sign(0) = +1 (so every value gets a bit). Works on tensors and arrays."""
    return ops.where(ops.greater_equal(x, 0), ops.ones_like(x), -ops.ones_like(x))


@ops.custom_gradient
def ste_sign(x):
    """``sign(x)`` forward (sign(0) = +1); straight-through gradient backward.

    The true derivative of sign is 0 almost everywhere, so nothing would train. The straight-through
    estimator (STE) pretends the forward function was ``clip(x, -1, 1)``: the incoming gradient passes
    unchanged where ``|x| <= 1`` and is cancelled (0) where ``|x| > 1`` (BinaryConnect, XNOR-Net).
    """
    mask = ops.cast(ops.less_equal(ops.abs(x), 1.0), x.dtype)

    def grad(*args, upstream=None):
        if upstream is None:
            (upstream,) = args
        return upstream * mask

    return sign(x), grad


def forward_and_gradient(fn: Callable, x) -> tuple[np.ndarray, np.ndarray]:
    """``(fn(x), d sum(fn(x)) / dx)`` as numpy arrays, with ``tf.GradientTape``.

    Summing the outputs makes the upstream gradient 1 everywhere, so the result is the
    element-wise derivative the function *reports* (for :func:`ste_sign`: the STE mask).
    """
    import tensorflow as tf

    x = tf.convert_to_tensor(np.asarray(x, dtype=np.float32))
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = fn(x)
        total = tf.reduce_sum(y)
    g = tape.gradient(total, x)
    g = tf.zeros_like(x) if g is None else g
    return np.asarray(y), np.asarray(g)


# --------------------------------------------------------------------------- the scales alpha and K
def alpha(kernel, scaling: str = "per-filter"):
    """BWN scale(s) for a kernel whose *last* axis is the output filters.

    ``"per-filter"``: one ``mean(|W|)`` per output filter (XNOR-Net's choice; shape ``(filters,)``);
    ``"per-layer"``: one ``mean(|W|)`` for the whole kernel; ``"none"``: 1 (plain sign, BinaryConnect).
    ``alpha * sign(W)`` is the closest binary kernel to ``W`` in squared error for that granularity.
    """
    if scaling == "per-filter":
        axes = tuple(range(len(kernel.shape) - 1))
        return ops.mean(ops.abs(kernel), axis=axes)
    if scaling == "per-layer":
        return ops.mean(ops.abs(kernel))
    if scaling == "none":
        return ops.ones(())
    raise ValueError(f"scaling must be one of {SCALINGS}, not {scaling!r}")


def input_scale_K(x, kernel_size: Sequence[int], strides: int | Sequence[int] = 1, padding: str = "same"):
    """XNOR-Net's input scale ``K`` for NHWC inputs ``x``: shape ``(N, H_out, W_out, 1)``.

    ``A = mean(|I|)`` over the channels, then ``K = A * k`` with ``k`` a box filter of the kernel size
    (every entry ``1 / (kh * kw)``), using the convolution's own strides and padding. So ``K`` at an
    output position is ``beta``, the mean ``|I|`` of the input patch that position sees.
    """
    kh, kw = _pair(kernel_size)
    a = ops.mean(ops.abs(x), axis=-1, keepdims=True)
    box = ops.ones((kh, kw, 1, 1), dtype=a.dtype) / float(kh * kw)
    return ops.conv(a, box, strides=strides, padding=padding)


def _pair(v) -> tuple[int, int]:
    if isinstance(v, int):
        return (v, v)
    v = tuple(int(i) for i in v)
    if len(v) != 2:
        raise ValueError(f"expected one int or a pair of ints, got {v}")
    return v


# --------------------------------------------------------------------------- Keras 3 layers
@keras.saving.register_keras_serializable(package="course_lib")
class ClipLatent(keras.constraints.Constraint):
    """Keep latent weights in ``[-limit, limit]`` after each update (BinaryConnect): outside, the STE
    gradient is 0, so a weight that wandered off could never change sign again."""

    def __init__(self, limit: float = 1.0):
        self.limit = float(limit)

    def __call__(self, w):
        return ops.clip(w, -self.limit, self.limit)

    def get_config(self):
        return {"limit": self.limit}


class _BinaryWeights:
    """Shared code: a latent float ``kernel`` (last axis = outputs) and its binarized version."""

    binary = True  # memory_report packs the kernel of layers with this flag
    scaling: str

    def binary_kernel(self):
        """``alpha * sign(W)`` with the STE, computed from the latent weights (used in the forward pass)."""
        w = ops.copy(self.kernel)  # read the variable into a tensor outside the custom-gradient function
        return alpha(w, self.scaling) * ste_sign(w)


@keras.saving.register_keras_serializable(package="course_lib")
class BinaryConv2D(_BinaryWeights, keras.layers.Layer):
    """Binary-weight 2-D convolution (BWN): ``y = I * (alpha sign(W))``, inputs stay real.

    The layer trains *latent* float weights ``W`` (clipped to [-1, 1]); the forward pass uses
    ``alpha * sign(W)`` with one ``alpha = mean(|W|)`` per output filter (``scaling="per-filter"``),
    and gradients reach ``W`` through the straight-through estimator.
    """

    def __init__(self, filters: int, kernel_size=3, strides=1, padding: str = "same", use_bias: bool = False,
                 scaling: str = "per-filter", kernel_initializer="glorot_uniform", clip: float | None = 1.0, **kwargs):
        super().__init__(**kwargs)
        if scaling not in SCALINGS:
            raise ValueError(f"layer '{self.name}': scaling must be one of {SCALINGS}, not {scaling!r}")
        self.filters = int(filters)
        self.kernel_size = _pair(kernel_size)
        self.strides = _pair(strides)
        self.padding = padding
        self.use_bias = use_bias
        self.scaling = scaling
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.clip = clip

    def build(self, input_shape):
        cin = input_shape[-1]
        if cin is None:
            raise ValueError(f"layer '{self.name}' needs a known number of input channels, got shape {input_shape}")
        self.kernel = self.add_weight(name="kernel", shape=(*self.kernel_size, int(cin), self.filters),
                                      initializer=self.kernel_initializer,
                                      constraint=ClipLatent(self.clip) if self.clip else None)
        self.bias = self.add_weight(name="bias", shape=(self.filters,), initializer="zeros") if self.use_bias else None

    def _conv(self, x, kernel):
        y = ops.conv(x, kernel, strides=self.strides, padding=self.padding)
        return y + self.bias if self.bias is not None else y

    def call(self, x):
        return self._conv(x, self.binary_kernel())

    def compute_output_shape(self, input_shape):
        n, h, w, _ = input_shape
        out = []
        for size, k, s in zip((h, w), self.kernel_size, self.strides):
            if size is None:
                out.append(None)
            elif self.padding == "same":
                out.append(-(-size // s))
            else:
                out.append((size - k) // s + 1)
        return (n, *out, self.filters)

    def count_macs(self, input_shapes, output_shape) -> int:
        """Multiply-accumulates of the convolution (each one a sign flip + add, or one XNOR-popcount bit)."""
        kh, kw = self.kernel_size
        return int(kh * kw * input_shapes[0][-1] * self.filters * output_shape[1] * output_shape[2])

    def get_config(self):
        config = super().get_config()
        config.update(filters=self.filters, kernel_size=self.kernel_size, strides=self.strides, padding=self.padding,
                      use_bias=self.use_bias, scaling=self.scaling, clip=self.clip,
                      kernel_initializer=keras.initializers.serialize(self.kernel_initializer))
        return config


@keras.saving.register_keras_serializable(package="course_lib")
class XNORConv2D(BinaryConv2D):
    """XNOR-Net convolution: binary weights *and* binary inputs.

    ``I * W  ~=  (sign(I) * sign(W)) . K alpha``: the convolution of two {-1, +1} tensors (XNOR +
    popcount on real hardware), scaled per output filter by ``alpha = mean(|W|)`` and per output
    position by ``K`` (:func:`input_scale_K`, the mean ``|I|`` of the patch). ``scale_inputs=False``
    drops ``K``. Put a BatchNormalization before this layer: sign of an all-positive input (after a
    ReLU) would be all +1 and carry no information.
    """

    def __init__(self, filters: int, kernel_size=3, strides=1, padding: str = "same", use_bias: bool = False,
                 scaling: str = "per-filter", scale_inputs: bool = True, **kwargs):
        super().__init__(filters, kernel_size, strides, padding, use_bias, scaling, **kwargs)
        self.scale_inputs = scale_inputs

    def call(self, x):
        y = self._conv(ste_sign(x), self.binary_kernel())
        if self.scale_inputs:
            y = y * input_scale_K(x, self.kernel_size, self.strides, self.padding)
        return y

    def get_config(self):
        config = super().get_config()
        config.update(scale_inputs=self.scale_inputs)
        return config


@keras.saving.register_keras_serializable(package="course_lib")
class BinaryDense(_BinaryWeights, keras.layers.Layer):
    """Binary-weight dense layer (BWN): ``y = x @ (alpha sign(W))`` with one ``alpha`` per output unit."""

    def __init__(self, units: int, use_bias: bool = True, scaling: str = "per-filter",
                 kernel_initializer="glorot_uniform", clip: float | None = 1.0, **kwargs):
        super().__init__(**kwargs)
        if scaling not in SCALINGS:
            raise ValueError(f"layer '{self.name}': scaling must be one of {SCALINGS}, not {scaling!r}")
        self.units = int(units)
        self.use_bias = use_bias
        self.scaling = scaling
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.clip = clip

    def build(self, input_shape):
        self.kernel = self.add_weight(name="kernel", shape=(int(input_shape[-1]), self.units),
                                      initializer=self.kernel_initializer,
                                      constraint=ClipLatent(self.clip) if self.clip else None)
        self.bias = self.add_weight(name="bias", shape=(self.units,), initializer="zeros") if self.use_bias else None

    def call(self, x):
        y = ops.matmul(x, self.binary_kernel())
        return y + self.bias if self.bias is not None else y

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)

    def count_macs(self, input_shapes, output_shape) -> int:
        positions = int(np.prod(input_shapes[0][1:-1], dtype=np.int64)) if len(input_shapes[0]) > 2 else 1
        return int(positions * input_shapes[0][-1] * self.units)

    def get_config(self):
        config = super().get_config()
        config.update(units=self.units, use_bias=self.use_bias, scaling=self.scaling, clip=self.clip,
                      kernel_initializer=keras.initializers.serialize(self.kernel_initializer))
        return config


BINARY_LAYERS = (BinaryConv2D, XNORConv2D, BinaryDense)
KINDS = ("float", "bwn", "xnor")


def binary_cnn(kind: str = "float", input_shape: Sequence[int] = (28, 28, 1), classes: int = 10,
               widths: Sequence[int] = (32, 64, 128), name: str | None = None) -> keras.Model:
    """One small CNN in three versions that differ only in the class of the middle convolutions.

    - stem (always float): Conv 3x3 -> BN -> ReLU -> MaxPool
    - each further stage (XNOR-Net's block order): BN -> [ReLU, not for XNOR] -> Conv 3x3 -> [MaxPool]
      with Conv = ``Conv2D`` (``"float"``), :class:`BinaryConv2D` (``"bwn"``) or :class:`XNORConv2D`
      (``"xnor"``, whose sign of the inputs replaces the ReLU)
    - head (always float): BN -> ReLU -> global average pooling -> Dense
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
    widths = config.check_widths("binary_cnn", widths)
    config.check_builder_shape("binary_cnn", input_shape, halvings=max(1, len(widths) - 1))
    inputs = keras.Input(tuple(input_shape), name="image")
    x = keras.layers.Conv2D(widths[0], 3, padding="same", use_bias=False, name="conv1")(inputs)
    x = keras.layers.BatchNormalization(momentum=0.9, name="bn1")(x)
    x = keras.layers.ReLU(name="relu1")(x)
    x = keras.layers.MaxPooling2D(2, name="pool1")(x)
    for i, width in enumerate(widths[1:], start=2):
        x = keras.layers.BatchNormalization(momentum=0.9, name=f"bn{i}")(x)
        if kind != "xnor":
            x = keras.layers.ReLU(name=f"relu{i}")(x)
        if kind == "float":
            conv = keras.layers.Conv2D(width, 3, padding="same", use_bias=False, name=f"conv{i}")
        elif kind == "bwn":
            conv = BinaryConv2D(width, 3, name=f"bconv{i}")
        else:
            conv = XNORConv2D(width, 3, name=f"xconv{i}")
        x = conv(x)
        if i < len(widths):
            x = keras.layers.MaxPooling2D(2, name=f"pool{i}")(x)
    x = keras.layers.BatchNormalization(momentum=0.9, name="bn_head")(x)
    x = keras.layers.ReLU(name="relu_head")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = keras.layers.Dense(classes, name="logits")(x)
    return keras.Model(inputs, outputs, name=name or f"{kind}_cnn")


# --------------------------------------------------------------------------- bit packing
def pack_bits(x, word_bits: int = WORD_BITS) -> np.ndarray:
    """Pack the signs of ``x`` along its last axis into unsigned words (bit 1 = +1, bit 0 = -1).

    ``sign(0)`` counts as +1. Value ``i`` of a row goes to bit ``i % word_bits`` of word
    ``i // word_bits``; unused bits of the last word (the padding) are 0. A row of ``n`` values takes
    ``ceil(n / word_bits)`` words: ``ceil(n / 8)`` bytes, rounded up to whole words.
    """
    if word_bits not in (8, 16, 32, 64):
        raise ValueError(f"word_bits must be 8, 16, 32 or 64, not {word_bits}")
    x = np.asarray(x)
    if x.ndim == 0:
        raise ValueError("pack_bits needs at least a 1-D array (it packs along the last axis), got a scalar")
    if np.issubdtype(x.dtype, np.floating) and np.isnan(x).any():
        raise ValueError(f"pack_bits got NaN in an array of shape {x.shape}: a NaN has no sign")
    n = x.shape[-1]
    words = max(1, math.ceil(n / word_bits))
    packed = np.packbits(x >= 0, axis=-1, bitorder="little")  # ceil(n/8) bytes, first value = lowest bit
    pad = words * (word_bits // 8) - packed.shape[-1]  # zero bytes up to a whole word
    if pad:
        packed = np.concatenate([packed, np.zeros((*packed.shape[:-1], pad), np.uint8)], axis=-1)
    return np.ascontiguousarray(packed).view(np.dtype(f"<u{word_bits // 8}"))


def unpack_bits(packed, n: int) -> np.ndarray:
    """Inverse of :func:`pack_bits`: the first ``n`` signs of each row as an int8 array of -1/+1."""
    packed = np.ascontiguousarray(packed)
    if packed.dtype.kind != "u":
        raise ValueError(f"unpack_bits needs the unsigned words from pack_bits, got dtype {packed.dtype}")
    total = packed.shape[-1] * packed.dtype.itemsize * 8
    if not 0 <= n <= total:
        raise ValueError(f"cannot unpack {n} values from {packed.shape[-1]} words ({total} bits)")
    as_bytes = packed.view(np.uint8)
    bits = np.unpackbits(as_bytes, axis=-1, bitorder="little")[..., :n]
    return bits.astype(np.int8) * 2 - 1


def _check_matmul_shapes(a: np.ndarray, b: np.ndarray) -> None:
    if a.ndim != 2 or b.ndim != 2:
        raise ValueError(f"xnor_matmul needs 2-D matrices a (m x k) and b (k x n); got a of shape {a.shape} "
                         f"and b of shape {b.shape}")
    if a.shape[1] != b.shape[0]:
        raise ValueError(f"xnor_matmul: a has shape {a.shape} and b has shape {b.shape}; the inner "
                         f"dimensions ({a.shape[1]} and {b.shape[0]}) must be equal")


def xnor_popcount_matmul(pa: np.ndarray, pb: np.ndarray, k: int, block_bytes: int = 1 << 18) -> np.ndarray:
    """The core on *packed* operands: ``pa`` (m, words) are the rows of a, ``pb`` (n, words) the
    columns of b, ``k`` the true length. Returns int64 (m, n) with ``sign(a) @ sign(b)``.

    For one word: ``XNOR`` sets a bit where the signs agree, ``popcount`` counts them. Over ``L`` bits
    with ``k`` real ones, agreements = popcount - (L - k) (the zero padding bits of both operands
    agree too), and dot = agreements - disagreements = 2 * agreements - k.
    """
    if pa.ndim != 2 or pb.ndim != 2 or pa.shape[1] != pb.shape[1]:
        raise ValueError(f"packed operands must be (m, words) and (n, words); got {pa.shape} and {pb.shape}")
    m, words = pa.shape
    n = pb.shape[0]
    length = words * pa.dtype.itemsize * 8
    if not 0 <= k <= length:
        raise ValueError(f"k={k} does not fit in {words} words of {pa.dtype.itemsize * 8} bits")
    out = np.empty((m, n), dtype=np.int64)
    rows = max(1, block_bytes // max(1, n * pa.dtype.itemsize))  # rows of a per block of work
    for start in range(0, m, rows):
        block = pa[start:start + rows]
        count = np.zeros((block.shape[0], n), dtype=np.int64)
        for w in range(words):  # one word column at a time keeps the temporaries small
            agree = np.invert(np.bitwise_xor(block[:, w, None], pb[None, :, w]))
            count += np.bitwise_count(agree)
        out[start:start + rows] = 2 * (count - (length - k)) - k
    return out


def xnor_matmul(a, b) -> np.ndarray:
    """``sign(a) @ sign(b)`` (sign(0) = +1) as an exact int64 matrix, computed with XNOR and popcount.

    ``a`` is (m, k) and ``b`` is (k, n), real or already +-1. Rows of ``a`` and columns of ``b`` are
    packed along k into 64-bit words (:func:`pack_bits`); any k works, including one that is not a
    multiple of 64 (the padding bits are subtracted out).
    """
    a, b = np.asarray(a), np.asarray(b)
    _check_matmul_shapes(a, b)
    return xnor_popcount_matmul(pack_bits(a), pack_bits(b.T), a.shape[1])


@contextlib.contextmanager
def blas_threads(n: int):
    """Limit numpy's BLAS to ``n`` threads inside a ``with`` block (restored afterwards).

    Yields the thread count in force (None when no BLAS library was found). Used to time a float32
    matmul on one thread, like the one-thread XNOR code. Uses ``threadpoolctl``.
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"blas_threads: n must be a whole number of threads >= 1, got {n!r}")
    from threadpoolctl import threadpool_info, threadpool_limits

    import numpy as _np  # make sure numpy (and its BLAS) is loaded

    _np.ones((2, 2)) @ _np.ones((2, 2))
    with threadpool_limits(limits=int(n), user_api="blas"):
        pools = [p for p in threadpool_info() if p.get("user_api") == "blas"]
        yield min(p["num_threads"] for p in pools) if pools else None


# --------------------------------------------------------------------------- memory of a model
def _packed_kernel_bytes(kernel: np.ndarray) -> int:
    """Bytes of a kernel (last axis = outputs) with each output's weights packed into 64-bit words."""
    per_output = np.moveaxis(np.asarray(kernel), -1, 0).reshape(kernel.shape[-1], -1)
    return int(pack_bits(per_output).nbytes)


def memory_report(model: keras.Model) -> pd.DataFrame:
    """Weight memory per layer: float32 vs deployed with the binary layers bit-packed.

    A binary layer stores its kernel packed (one bit per weight, each output filter padded to whole
    64-bit words) plus one float32 ``alpha`` per output filter (and its bias); a batch norm is counted
    folded (a float32 scale and shift per channel) in both columns; every other layer stays float32,
    and the ``why`` column says why. ``float32 bytes`` is the layer deployed all in float32. Latent weights are a training-time device: at
    inference only their signs and the alphas are kept.
    """
    if not isinstance(model, keras.Model):
        raise TypeError(f"memory_report: model must be a Keras model, got {type(model).__name__}")
    weighted = [layer for layer in _flat_layers(model) if layer.weights]
    convs = [layer for layer in weighted if hasattr(layer, "kernel") and not isinstance(layer, keras.layers.BatchNormalization)]
    first, last = (convs[0], convs[-1]) if convs else (None, None)
    rows = []
    for layer in weighted:
        params = int(sum(np.prod(w.shape, dtype=np.int64) for w in layer.weights))
        float_bytes = 4 * params
        if getattr(layer, "binary", False):
            kernel = np.asarray(layer.kernel)
            outputs = kernel.shape[-1]
            bias = int(np.prod(layer.bias.shape)) if getattr(layer, "bias", None) is not None else 0
            packed = _packed_kernel_bytes(kernel)
            deployed = packed + 4 * (outputs + bias)
            stored = "1-bit kernel + float32 alpha"
            why = f"binary layer: {kernel.size:,} signs in {packed:,} bytes + {outputs} alphas"
        elif isinstance(layer, keras.layers.BatchNormalization):
            channels = int(layer.weights[0].shape[-1])
            deployed = float_bytes = 4 * 2 * channels
            stored = "float32 (folded)"
            why = ("batch norm: at inference its 4 vectors fold into one scale and one shift per channel; "
                   "stays float (tiny)")
        else:
            deployed = float_bytes
            stored = "float32"
            if layer is first:
                why = "first layer: sees the raw image (few input channels), few weights, large accuracy cost if binary"
            elif layer is last:
                why = "last layer: produces the class scores, few weights, large accuracy cost if binary"
            else:
                why = "float layer (not binarized in this model)"
        rows.append({"layer": layer.name, "type": type(layer).__name__, "params": params,
                     "float32 bytes": float_bytes, "deployed bytes": deployed, "stored as": stored, "why": why})
    return pd.DataFrame(rows, columns=["layer", "type", "params", "float32 bytes", "deployed bytes", "stored as", "why"])


def memory_summary(model: keras.Model) -> dict:
    """Totals of :func:`memory_report`: float32 bytes, deployed bytes, their ratio, and the share of
    parameters that are binary (the ratio can only approach 32x when that share approaches 1)."""
    table = memory_report(model)
    binary = table["stored as"].str.startswith("1-bit")
    float_bytes, deployed = int(table["float32 bytes"].sum()), int(table["deployed bytes"].sum())
    params = int(table["params"].sum())
    bin_float, bin_deployed = int(table.loc[binary, "float32 bytes"].sum()), int(table.loc[binary, "deployed bytes"].sum())
    return {"float32 bytes": float_bytes, "deployed bytes": deployed,
            "compression": float_bytes / deployed if deployed else float("nan"),
            "binary layers compression": bin_float / bin_deployed if bin_deployed else 1.0,
            "binary params": int(table.loc[binary, "params"].sum()), "params": params,
            "binary share": float(table.loc[binary, "params"].sum() / params) if params else 0.0}


def _flat_layers(model: keras.Model):
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _flat_layers(layer)
        else:
            yield layer


def binary_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """The layers of ``model`` that use binary weights."""
    return [layer for layer in _flat_layers(model) if getattr(layer, "binary", False)]


# --------------------------------------------------------------------------- the widget's pure function
def binarization_view(weights, scaling: str = "per-filter") -> dict:
    """Binarize a kernel (last axis = output filters) and measure what was lost.

    Returns a dict with ``weights`` (float64 copy), ``binarized`` (``alpha * sign(W)``, same shape),
    ``alpha`` (array of shape (filters,), or one value), ``error`` (relative L2 error
    ``||W - alpha B|| / ||W||``) and ``errors`` (that error for every scaling in :data:`SCALINGS`).
    """
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim < 1 or w.size == 0:
        raise ValueError(f"binarization_view needs a non-empty kernel, got shape {w.shape}")
    if scaling not in SCALINGS:
        raise ValueError(f"scaling must be one of {SCALINGS}, not {scaling!r}")
    if w.ndim == 1:  # a single filter
        w = w[:, None]
    b = np.where(w >= 0, 1.0, -1.0)
    norm = np.linalg.norm(w) or 1.0
    errors, alphas = {}, {}
    for mode in SCALINGS:
        a = np.asarray(alpha(w, mode), dtype=np.float64)
        alphas[mode] = a
        errors[mode] = float(np.linalg.norm(w - a * b) / norm)
    shape = np.shape(weights)
    return {"weights": w.reshape(shape), "binarized": (alphas[scaling] * b).reshape(shape), "alpha": alphas[scaling],
            "error": errors[scaling], "errors": errors, "scaling": scaling}


def plot_binarization(weights, scaling: str = "per-filter", title: str = "", bins: int = 60):
    """Histogram of a kernel's weights, of its binarized version ``alpha * sign(W)``, and the
    reconstruction error of each scaling (the chosen one highlighted). Returns the figure."""
    import matplotlib.pyplot as plt

    from . import plots

    view = binarization_view(weights, scaling)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.6), gridspec_kw={"width_ratios": [2.2, 1]})
    w, wb = view["weights"].ravel(), view["binarized"].ravel()
    lim = max(np.abs(w).max(), np.abs(wb).max()) * 1.05
    edges = np.linspace(-lim, lim, bins + 1)
    ax1.hist(w, bins=edges, color=plots.PALETTE[0], alpha=0.7, label="latent / float weights W")
    ax1.hist(wb, bins=edges, color=plots.PALETTE[3], alpha=0.7, label=r"binarized $\alpha\,\mathrm{sign}(W)$")
    a = np.atleast_1d(view["alpha"])
    ax1.axvline(a.mean(), color="k", ls="--", lw=1, label=rf"mean $\alpha$ = {a.mean():.3g}")
    ax1.axvline(-a.mean(), color="k", ls="--", lw=1)
    plots.axes(f"{title} ({scaling})".strip(), "weight value", "number of weights", ax=ax1)
    ax1.legend(loc="upper right")
    names = list(view["errors"])
    colors = [plots.PALETTE[3] if n == scaling else plots.PALETTE[5] for n in names]
    ax2.bar(names, [view["errors"][n] for n in names], color=colors)
    for i, n in enumerate(names):
        ax2.annotate(f"{view['errors'][n]:.2f}", (i, view["errors"][n]), ha="center", va="bottom", fontsize=8)
    plots.axes("reconstruction error", "scaling", r"$\|W-\alpha B\| / \|W\|$", ax=ax2)
    fig.tight_layout()
    return fig
