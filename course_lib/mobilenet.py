"""MobileNet builders: the inverted residual block, MobileNetV2, MobileNetV1, and a small V2 for 32x32.

- :func:`inverted_residual_block` is the MobileNetV2 building block (Sandler et al. 2018):
  expand with a 1x1 convolution + ReLU6, filter each channel with a 3x3 depthwise convolution +
  ReLU6, project back with a *linear* 1x1 convolution (no activation), and add the input when
  the shapes match (stride 1, same channel count).
- :func:`mobilenet_v2` and :func:`mobilenet_v1` follow the papers' tables. Their layer layout
  (layer types, output shapes, order) and parameter counts equal ``keras.applications.MobileNetV2``
  / ``keras.applications.MobileNet`` built with ``weights=None`` and the same ``input_shape``,
  ``alpha`` and ``classes`` (``tests/test_mobilenet.py`` checks this). The difference: the
  classifier outputs logits unless you ask for ``classifier_activation="softmax"``, because the
  course trains with ``from_logits=True``.
- :func:`mobilenet_v2_small` keeps the block and the width multiplier but fits 32x32 inputs: the
  stem has stride 1 and there are only three stride-2 steps, so the last feature map is 4x4
  instead of 1x1, and there are fewer blocks so it trains in seconds on the synthetic shapes.
- :func:`relu_roundtrip` is the "why a linear bottleneck" experiment of the paper's Figure 1.

This module never imports ``course_lib.models`` (which re-exports the builders from here).
"""
from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np

#: MobileNetV2's body, paper Table 2: (expansion t, output channels c, repeats n, first stride s).
V2_BLOCKS: tuple[tuple[int, int, int, int], ...] = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)

#: The small variant's body for 32x32 inputs (after a stride-2 stem): 16 -> 8 -> 4.
SMALL_BLOCKS: tuple[tuple[int, int, int, int], ...] = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 2, 2),
    (6, 64, 2, 1),
)

#: MobileNetV1's body, paper Table 1: (output channels of the pointwise conv, stride of the depthwise conv).
V1_BLOCKS: tuple[tuple[int, int], ...] = (
    (64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
    (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1),
)


def make_divisible(value: float, divisor: int = 8, min_value: int | None = None) -> int:
    """Round a channel count to a multiple of ``divisor`` (8), never dropping more than 10%.

    MobileNetV2 uses this for every width after the multiplier alpha, because hardware kernels
    are fastest on multiples of 8 channels. ``make_divisible(32 * 0.35) == 16``.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) or not value > 0:
        raise ValueError(f"make_divisible: value must be a positive number of channels, got {value!r}")
    if isinstance(divisor, bool) or not isinstance(divisor, (int, np.integer)) or divisor < 1:
        raise ValueError(f"make_divisible: divisor must be a whole number >= 1, got {divisor!r}")
    min_value = divisor if min_value is None else min_value
    new = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if new < 0.9 * value:  # rounding down must not lose more than 10%
        new += divisor
    return int(new)


def _stride2_padding(size: Sequence[int | None]) -> tuple[tuple[int, int], tuple[int, int]]:
    """Zero padding before a valid 3x3 stride-2 convolution, equal to TensorFlow's 'same' padding."""
    adjust = [1 if s is None else 1 - s % 2 for s in size]
    return ((1 - adjust[0], 1), (1 - adjust[1], 1))


def inverted_residual_block(x, expansion: int, filters: int, stride: int, alpha: float = 1.0,
                            name: str = "block", bn_momentum: float = 0.999, hidden: int | None = None,
                            norm: type = keras.layers.BatchNormalization):
    """The MobileNetV2 block: expand 1x1 (ReLU6) -> depthwise 3x3 (ReLU6) -> linear project 1x1 (+ input).

    Args:
        x: input tensor (batch, H, W, C_in).
        expansion: expansion factor t; the hidden width is ``t * C_in``. With t = 1 the expand
            convolution is skipped (as in the paper's first block).
        filters: output channels before the width multiplier; the block outputs
            ``make_divisible(int(filters * alpha), 8)`` channels.
        stride: 1 or 2, applied by the depthwise convolution.
        alpha: width multiplier.
        name: prefix of the layer names (``name + "_expand"``, ``"_depthwise"``, ``"_project"``, ...).
        bn_momentum: batch-norm momentum (Keras' MobileNetV2 uses 0.999; use ~0.9 for short trainings).
        hidden: the hidden width, if not ``t * C_in`` (a block whose expansion layer was channel-pruned).
        norm: the batch-norm layer class (the capstone passes :class:`course_lib.pose.FusedBatchNorm`).

    Every convolution has no bias (the batch norm after it has one). The residual ``Add`` is used
    only when ``stride == 1`` and the output width equals ``C_in``. A stride-2 depthwise conv gets an
    explicit ``ZeroPadding2D`` then 'valid' padding, like keras.applications (the same as 'same').
    """
    if stride not in (1, 2):
        raise ValueError(f"inverted_residual_block '{name}': stride must be 1 or 2, got {stride}")
    if isinstance(expansion, bool) or not isinstance(expansion, (int, np.integer)) or expansion < 1:
        raise ValueError(f"inverted_residual_block '{name}': expansion must be a whole number >= 1, got {expansion!r}")
    if isinstance(filters, bool) or not isinstance(filters, (int, np.integer)) or filters < 1:
        raise ValueError(f"inverted_residual_block '{name}': filters must be a whole number >= 1, got {filters!r}")
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float, np.integer, np.floating)) or not alpha > 0:
        raise ValueError(f"inverted_residual_block '{name}': alpha must be a number > 0, got {alpha!r}")
    if x.shape[-1] is None:
        raise ValueError(f"inverted_residual_block '{name}': the input needs a known channel count, got shape {x.shape}")
    in_channels = int(x.shape[-1])
    _check_alpha_width(f"inverted_residual_block '{name}'", alpha, int(filters), "int")
    out_channels = make_divisible(int(filters * alpha), 8)
    if hidden is not None and (expansion == 1 or int(hidden) < 1):
        raise ValueError(f"inverted_residual_block '{name}': hidden={hidden} needs expansion > 1 and hidden >= 1")
    inputs = x
    if expansion != 1:
        x = keras.layers.Conv2D(int(hidden or expansion * in_channels), 1, padding="same", use_bias=False, name=f"{name}_expand")(x)
        x = norm(epsilon=1e-3, momentum=bn_momentum, name=f"{name}_expand_BN")(x)
        x = keras.layers.ReLU(6.0, name=f"{name}_expand_relu")(x)
    if stride == 2:
        x = keras.layers.ZeroPadding2D(_stride2_padding(x.shape[1:3]), name=f"{name}_pad")(x)
    x = keras.layers.DepthwiseConv2D(3, strides=stride, padding="same" if stride == 1 else "valid",
                                     use_bias=False, name=f"{name}_depthwise")(x)
    x = norm(epsilon=1e-3, momentum=bn_momentum, name=f"{name}_depthwise_BN")(x)
    x = keras.layers.ReLU(6.0, name=f"{name}_depthwise_relu")(x)
    x = keras.layers.Conv2D(out_channels, 1, padding="same", use_bias=False, name=f"{name}_project")(x)
    x = norm(epsilon=1e-3, momentum=bn_momentum, name=f"{name}_project_BN")(x)
    # No activation here: the bottleneck is linear (a ReLU on few channels destroys information).
    if stride == 1 and in_channels == out_channels:
        x = keras.layers.Add(name=f"{name}_add")([inputs, x])
    return x


def inverted_residual_cost(h: int, w: int, c_in: int, c_out: int, expansion: int, stride: int = 1,
                           kernel: int = 3) -> dict[str, int]:
    """MACs and convolution weights of one inverted residual block on an ``h x w x c_in`` input.

    With hidden width ``m = t * c_in`` (no expand conv when t = 1) and output size
    ``h' = ceil(h / s)``, ``w' = ceil(w / s)``:

    - expand:    ``h * w * c_in * m``
    - depthwise: ``h' * w' * k^2 * m``
    - project:   ``h' * w' * m * c_out``

    ``params`` counts the convolution kernels only; ``bn_params`` the batch-norm weights
    (4 per channel: gamma, beta, moving mean, moving variance), which Keras' parameter count includes.
    """
    m = expansion * c_in
    ho, wo = -(-h // stride), -(-w // stride)
    expand = h * w * c_in * m if expansion != 1 else 0
    depthwise = ho * wo * kernel * kernel * m
    project = ho * wo * m * c_out
    conv_params = (c_in * m if expansion != 1 else 0) + kernel * kernel * m + m * c_out
    bn_channels = (m if expansion != 1 else 0) + m + c_out
    return {"expand MACs": expand, "depthwise MACs": depthwise, "project MACs": project,
            "MACs": expand + depthwise + project, "params": conv_params, "bn_params": 4 * bn_channels}


def _top(x, include_top: bool, classes: int, pooling: str | None, classifier_activation, dropout: float = 0.0):
    if include_top:
        x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
        if dropout:
            x = keras.layers.Dropout(dropout, name="dropout")(x)
        return keras.layers.Dense(classes, activation=classifier_activation, name="predictions")(x)
    if pooling == "avg":
        return keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    if pooling == "max":
        return keras.layers.GlobalMaxPooling2D(name="max_pool")(x)
    if pooling is not None:
        raise ValueError(f"pooling must be None, 'avg' or 'max', not {pooling!r}")
    return x


def _check_alpha_width(builder: str, alpha, narrowest: int, rounding: str) -> None:
    """A ValueError when the width multiplier rounds the narrowest layer (``narrowest`` channels) to 0."""
    if int(narrowest * alpha) < 1:
        raise ValueError(f"{builder}: alpha={alpha!r} rounds its narrowest layer ({narrowest} channels) to "
                         f"{rounding}({narrowest} * {alpha!r}) = 0 channels; alpha must be at least "
                         f"{1 / narrowest:.4g} (the paper uses 0.35 to 1.4).")


def _check_builder_args(builder: str, input_shape, alpha, classes) -> tuple[int, int]:
    """Validate the arguments every builder shares; return (height, width)."""
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float, np.integer, np.floating)) \
            or not np.isfinite(alpha) or alpha <= 0:
        raise ValueError(f"{builder}: alpha (the width multiplier) must be a number > 0, e.g. 0.35, 0.5, 1.0 or 1.4; "
                         f"got {alpha!r}")
    if isinstance(classes, bool) or not isinstance(classes, (int, np.integer)) or classes < 1:
        raise ValueError(f"{builder}: classes must be a whole number >= 1, got {classes!r}")
    shape = tuple(input_shape) if isinstance(input_shape, (tuple, list)) else None
    if shape is None or len(shape) != 3 or not all(isinstance(d, (int, np.integer)) and not isinstance(d, bool)
                                                    and d >= 1 for d in shape):
        raise ValueError(f"{builder}: input_shape must be (height, width, channels) of positive whole numbers, "
                         f"got {input_shape!r}")
    return int(shape[0]), int(shape[1])


def mobilenet_v2(input_shape: Sequence[int] = (224, 224, 3), alpha: float = 1.0, classes: int = 1000,
                 include_top: bool = True, pooling: str | None = None, classifier_activation=None,
                 bn_momentum: float = 0.999, name: str | None = None) -> keras.Model:
    """MobileNetV2 as in the paper (Table 2) and in ``keras.applications.MobileNetV2(weights=None)``.

    Stem: 3x3 conv, stride 2, ``make_divisible(32 * alpha)`` channels, BN, ReLU6. Body: the
    inverted residual blocks of :data:`V2_BLOCKS`, each stage's first block with stride s. Head: 1x1
    conv to 1280 channels (``make_divisible(1280 * alpha)`` when alpha > 1), BN, ReLU6, global average
    pooling, dense classifier (logits by default).
    """
    h, w = _check_builder_args("mobilenet_v2", input_shape, alpha, classes)
    _check_alpha_width("mobilenet_v2", alpha, min(c for _, c, _, _ in V2_BLOCKS), "int")
    if pooling not in (None, "avg", "max"):
        raise ValueError(f"pooling must be None, 'avg' or 'max', not {pooling!r}")
    if h < 32 or w < 32:
        raise ValueError(f"mobilenet_v2 needs inputs of at least 32x32 (five stride-2 steps), got {tuple(input_shape)}; "
                         f"use mobilenet_v2_small for tiny images")
    inputs = keras.Input(tuple(input_shape), name="input_layer")
    x = keras.layers.Conv2D(make_divisible(32 * alpha, 8), 3, strides=2, padding="same", use_bias=False, name="Conv1")(inputs)
    x = keras.layers.BatchNormalization(epsilon=1e-3, momentum=bn_momentum, name="bn_Conv1")(x)
    x = keras.layers.ReLU(6.0, name="Conv1_relu")(x)
    x = _body(x, V2_BLOCKS, alpha, bn_momentum, first_name="expanded_conv")
    last = make_divisible(1280 * alpha, 8) if alpha > 1.0 else 1280
    x = keras.layers.Conv2D(last, 1, use_bias=False, name="Conv_1")(x)
    x = keras.layers.BatchNormalization(epsilon=1e-3, momentum=bn_momentum, name="Conv_1_bn")(x)
    x = keras.layers.ReLU(6.0, name="out_relu")(x)
    outputs = _top(x, include_top, classes, pooling, classifier_activation)
    return keras.Model(inputs, outputs, name=name or f"mobilenet_v2_{alpha:0.2f}_{h}")


def _body(x, blocks, alpha: float, bn_momentum: float, first_name: str | None = None, expansion: int | None = None):
    """Stack inverted residual blocks from a (t, c, n, s) table; blocks are named block_0, block_1, ..."""
    index = 0
    for t, c, n, s in blocks:
        if expansion is not None and t != 1:
            t = expansion
        for i in range(n):
            name = first_name if (index == 0 and first_name) else f"block_{index}"
            x = inverted_residual_block(x, t, c, s if i == 0 else 1, alpha, name=name, bn_momentum=bn_momentum)
            index += 1
    return x


def mobilenet_v2_small(input_shape: Sequence[int] = (32, 32, 3), alpha: float = 1.0, classes: int = 10,
                       expansion: int = 6, blocks: Sequence[tuple[int, int, int, int]] = SMALL_BLOCKS,
                       last_channels: int = 256, stem_stride: int = 2, dropout: float = 0.0, bn_momentum: float = 0.9,
                       classifier_activation=None, name: str | None = None) -> keras.Model:
    """A MobileNetV2 for small images (32x32, or resized to 16-64 px): same block, fewer strides and blocks.

    Differences from :func:`mobilenet_v2`: only three stride-2 steps instead of five (the stem's and
    two in the body, :data:`SMALL_BLOCKS`), so a 32x32 image ends as a 4x4 feature map instead of
    1x1; 7 blocks instead of 17; the head conv has ``last_channels`` (256, scaled like 1280 when
    alpha > 1); batch norm uses momentum 0.9 so short trainings work. ``expansion`` replaces
    t = 6 in every block but the first. The classifier outputs logits.
    """
    h, w = _check_builder_args("mobilenet_v2_small", input_shape, alpha, classes)
    _check_alpha_width("mobilenet_v2_small", alpha, min(c for _, c, _, _ in blocks), "int")
    if h < 8 or w < 8:
        raise ValueError(f"mobilenet_v2_small needs inputs of at least 8x8, got {tuple(input_shape)}")
    inputs = keras.Input(tuple(input_shape), name="image")
    x = keras.layers.Conv2D(make_divisible(32 * alpha, 8), 3, strides=stem_stride, padding="same", use_bias=False, name="Conv1")(inputs)
    x = keras.layers.BatchNormalization(epsilon=1e-3, momentum=bn_momentum, name="bn_Conv1")(x)
    x = keras.layers.ReLU(6.0, name="Conv1_relu")(x)
    x = _body(x, blocks, alpha, bn_momentum, expansion=expansion)
    last = make_divisible(last_channels * alpha, 8) if alpha > 1.0 else last_channels
    x = keras.layers.Conv2D(last, 1, use_bias=False, name="Conv_1")(x)
    x = keras.layers.BatchNormalization(epsilon=1e-3, momentum=bn_momentum, name="Conv_1_bn")(x)
    x = keras.layers.ReLU(6.0, name="out_relu")(x)
    outputs = _top(x, True, classes, None, classifier_activation, dropout)
    return keras.Model(inputs, outputs, name=name or f"mobilenet_v2_small_{alpha:0.2f}_{h}")


def mobilenet_v1(input_shape: Sequence[int] = (224, 224, 3), alpha: float = 1.0, classes: int = 1000,
                 include_top: bool = True, pooling: str | None = None, dropout: float = 1e-3,
                 classifier_activation=None, depth_multiplier: int = 1, name: str | None = None) -> keras.Model:
    """MobileNetV1 (Howard et al. 2017, Table 1), laid out like ``keras.applications.MobileNet(weights=None)``.

    A 3x3 stride-2 conv, then 13 depthwise-separable blocks (depthwise 3x3 + BN + ReLU6, pointwise
    1x1 + BN + ReLU6) from :data:`V1_BLOCKS`; widths are ``int(c * alpha)``. The head pools to 1x1,
    applies dropout and a 1x1 conv (with bias) as the classifier, as Keras does; logits by default.
    """
    h, w = _check_builder_args("mobilenet_v1", input_shape, alpha, classes)
    _check_alpha_width("mobilenet_v1", alpha, 32, "int")
    if h < 32 or w < 32:
        raise ValueError(f"mobilenet_v1: input_shape={tuple(input_shape)} is too small: five stride-2 steps need "
                         f"at least 32x32.")
    inputs = keras.Input(tuple(input_shape), name="input_layer")
    x = keras.layers.Conv2D(int(32 * alpha), 3, strides=2, padding="same", use_bias=False, name="conv1")(inputs)
    x = keras.layers.BatchNormalization(name="conv1_bn")(x)
    x = keras.layers.ReLU(6.0, name="conv1_relu")(x)
    for i, (filters, stride) in enumerate(V1_BLOCKS, start=1):
        if stride == 2:
            x = keras.layers.ZeroPadding2D(((0, 1), (0, 1)), name=f"conv_pad_{i}")(x)
        x = keras.layers.DepthwiseConv2D(3, strides=stride, padding="same" if stride == 1 else "valid",
                                         depth_multiplier=depth_multiplier, use_bias=False, name=f"conv_dw_{i}")(x)
        x = keras.layers.BatchNormalization(name=f"conv_dw_{i}_bn")(x)
        x = keras.layers.ReLU(6.0, name=f"conv_dw_{i}_relu")(x)
        x = keras.layers.Conv2D(int(filters * alpha), 1, padding="same", use_bias=False, name=f"conv_pw_{i}")(x)
        x = keras.layers.BatchNormalization(name=f"conv_pw_{i}_bn")(x)
        x = keras.layers.ReLU(6.0, name=f"conv_pw_{i}_relu")(x)
    if include_top:
        x = keras.layers.GlobalAveragePooling2D(keepdims=True, name="avg_pool")(x)
        x = keras.layers.Dropout(dropout, name="dropout")(x)
        x = keras.layers.Conv2D(classes, 1, padding="same", name="conv_preds")(x)
        x = keras.layers.Reshape((classes,), name="reshape_2")(x)
        outputs = keras.layers.Activation(classifier_activation, name="predictions")(x)
    else:
        outputs = _top(x, False, classes, pooling, None)
    return keras.Model(inputs, outputs, name=name or f"mobilenet_v1_{alpha:0.2f}_{h}")


def layout(model: keras.Model) -> list[tuple[str, tuple]]:
    """The model's layers as (type name, output shape without batch) in order: compare two builders with it."""
    rows = []
    for layer in model.layers:
        shape = layer.output.shape if not isinstance(layer, keras.layers.InputLayer) else layer.batch_shape
        rows.append((type(layer).__name__, tuple(shape[1:])))
    return rows


# --------------------------------------------------------------------------- linear bottleneck experiment
def spiral(n_points: int = 600, turns: float = 2.0, seed: int = 0) -> np.ndarray:
    """A 2-D spiral, centred at 0, shape (n_points, 2): the "manifold of interest" of the paper's Figure 1."""
    if isinstance(n_points, bool) or not isinstance(n_points, (int, np.integer)) or n_points < 2:
        raise ValueError(f"n_points must be a whole number >= 2, got {n_points!r}")
    rng = np.random.default_rng(seed)
    t = np.sort(rng.uniform(0.0, 1.0, n_points))
    angle = 2 * np.pi * turns * t
    radius = 0.2 + 2.0 * t
    pts = np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=1)
    return (pts - pts.mean(0)).astype(np.float64)


def relu_roundtrip(points: np.ndarray, n_dims: int, seed: int = 0, activation: str = "relu",
                   decoder: str = "pinv") -> np.ndarray:
    """Embed 2-D points into ``n_dims`` with a random matrix T, apply ReLU, and map back to 2-D.

    ``decoder="pinv"`` maps back with T's pseudo-inverse, as in MobileNetV2's Figure 1.
    ``decoder="best"`` fits the best affine map (least squares) from the n-dim activations back to
    the points: what a following linear layer could at most recover. ``activation="linear"`` skips
    the ReLU (the round trip is then exact up to float error). Returns the recovered points.

    With few dimensions ReLU zeroes whole directions and the spiral is lost; with many dimensions
    enough of them stay positive for every point that the spiral can be recovered.
    """
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2:
        raise ValueError(f"points must have shape (n, d), got {points.shape}")
    if n_dims < 1:
        raise ValueError(f"n_dims must be >= 1, got {n_dims}")
    rng = np.random.default_rng(seed)
    T = rng.standard_normal((points.shape[1], n_dims))
    z = points @ T
    if activation == "relu":
        z = np.maximum(z, 0.0)
    elif activation != "linear":
        raise ValueError(f"activation must be 'relu' or 'linear', not {activation!r}")
    if decoder == "pinv":
        return z @ np.linalg.pinv(T)
    if decoder == "best":
        z1 = np.concatenate([z, np.ones((len(z), 1))], axis=1)
        W, *_ = np.linalg.lstsq(z1, points, rcond=None)
        return z1 @ W
    raise ValueError(f"decoder must be 'pinv' or 'best', not {decoder!r}")


def roundtrip_error(points: np.ndarray, n_dims: int, seeds: Sequence[int] = (0, 1, 2, 3, 4),
                    activation: str = "relu", decoder: str = "best") -> float:
    """Mean over ``seeds`` of the relative error ||x - x_rec|| / ||x|| of :func:`relu_roundtrip`.

    With the default ``decoder="best"`` it measures the information ReLU destroyed: 0 means a linear
    layer could recover the points exactly, values near 1 mean almost nothing is left.
    """
    points = np.asarray(points, dtype=np.float64)
    errs = [np.linalg.norm(points - relu_roundtrip(points, n_dims, s, activation, decoder)) / np.linalg.norm(points)
            for s in seeds]
    return float(np.mean(errs))


def calibrate_batch_norm(model: keras.Model, x: np.ndarray) -> keras.Model:
    """Set every BatchNormalization layer's moving mean and variance to the statistics of batch ``x``.

    An untrained network with calibrated batch norm computes well-scaled activations at inference,
    so it can be converted, quantized and timed like a trained one (its latency and size do not depend
    on the weights' values). One forward pass in training mode with momentum 0 does it; the
    layers' momenta are restored afterwards.
    """
    layers = [layer for layer in model._flatten_layers() if isinstance(layer, keras.layers.BatchNormalization)]
    if not layers:
        raise ValueError(f"model '{model.name}' has no BatchNormalization layer to calibrate")
    momenta = [layer.momentum for layer in layers]
    try:
        for layer in layers:
            layer.momentum = 0.0
        model(np.asarray(x, dtype=np.float32), training=True)
    finally:
        for layer, momentum in zip(layers, momenta):
            layer.momentum = momentum
    return model
