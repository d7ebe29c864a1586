"""PVANet's tricks as small Keras 3 building blocks: CReLU and hyper-feature concatenation.

**CReLU** (Shang et al. 2016; used in PVANet's early layers, Kim et al. 2016). Trained CNNs' first
layers tend to learn filters in opposite-phase pairs: for a filter ``w`` there is often another one
close to ``-w``. CReLU builds that pair in: compute only ``N/2`` filters ``y = W * x``, then output
``concat(y, -y)`` followed by the activation. The conv costs half the MACs and half the weights, and
the next layer still sees ``N`` channels.

- :class:`CReLU` the layer ``concat(x, -x)``, an optional per-channel scale and shift (PVANet's
  addition: lets each half have its own slope and threshold), then the activation.
- :func:`conv_block` one ``conv + batch-norm + ReLU`` stage, plain or CReLU, with the same output width.
- :func:`cnn` / :func:`crelu_pair` a small classifier and its CReLU twin (same output widths).
- :func:`most_negative_cosine` / :func:`opposite_partners` the observation behind CReLU: for each
  filter, its most negative cosine similarity with any other filter (and which filter that is).
- :func:`conv_cost` MACs and parameters of one convolution, plain or CReLU (the widget's function).

**Hyper-feature concatenation** (PVANet, after HyperNet): take feature maps from several depths,
resize them to one resolution (pool the fine ones, upsample the coarse ones), concatenate them and
feed one head, so the head sees fine detail *and* large context.

- :func:`hyper_feature_cnn` a classifier whose head reads several stages, or the last stage only.
- :func:`make_scale_task` a synthetic task where scale matters: find the small mark that lies
  inside the large shape (fine detail, large context and a fine output grid).

Everything here is made of standard Keras layers plus :class:`CReLU`, which tells
``course_lib.profile`` its own cost through ``count_macs``.
"""
from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np
from keras import ops


# --------------------------------------------------------------------------- CReLU
@keras.saving.register_keras_serializable(package="course_lib")
class CReLU(keras.layers.Layer):
    """Concatenated ReLU: ``activation(concat(x, -x) * scale + shift)`` along the channel axis.

    The output has twice the input's channels. With ``scale_shift=False`` it is exactly
    ``concat(relu(x), relu(-x))`` (Shang et al. 2016). With ``scale_shift=True`` (PVANet) a learned
    per-channel scale (init 1) and shift (init 0) sit between the concatenation and the activation:
    ``4 * C`` extra parameters for ``C`` input channels.
    """

    def __init__(self, scale_shift: bool = False, activation: str = "relu", **kwargs):
        super().__init__(**kwargs)
        self.scale_shift = bool(scale_shift)
        self.activation_name = activation
        self.activation = keras.activations.get(activation)

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is None:
            raise ValueError(f"CReLU layer '{self.name}' needs a known channel count, got input shape {input_shape}")
        if self.scale_shift:
            self.scale = self.add_weight(name="scale", shape=(2 * channels,), initializer="ones")
            self.shift = self.add_weight(name="shift", shape=(2 * channels,), initializer="zeros")

    def call(self, x):
        # -x as x * (-1): LiteRT has an int8 MUL kernel but no int8 NEG, so this keeps an int8 model integer-only.
        y = ops.concatenate([x, ops.multiply(x, -1.0)], axis=-1)
        if self.scale_shift:
            y = y * self.scale + self.shift
        return self.activation(y)

    def compute_output_shape(self, input_shape):
        channels = input_shape[-1]
        return (*input_shape[:-1], None if channels is None else 2 * channels)

    def count_macs(self, input_shapes, output_shape) -> int:
        """MACs per sample: 0 without scale/shift (a negation and a copy); with it, one
        multiply-add per output value. Unlike batch-norm it cannot be folded into the conv
        before it without turning the N/2 filters back into N."""
        if not self.scale_shift:
            return 0
        return int(np.prod([d for d in output_shape[1:]], dtype=np.int64))

    def get_config(self):
        config = super().get_config()
        config.update({"scale_shift": self.scale_shift, "activation": self.activation_name})
        return config


def crelu(x: np.ndarray) -> np.ndarray:
    """NumPy reference: ``concat(max(x, 0), max(-x, 0))`` along the last axis."""
    x = np.asarray(x)
    return np.maximum(np.concatenate([x, -x], axis=-1), 0)


def conv_block(x, filters: int, kernel_size: int = 3, use_crelu: bool = False, scale_shift: bool = True,
               name: str = "conv"):
    """One stage ``conv -> batch-norm -> ReLU`` with ``filters`` output channels.

    With ``use_crelu=True`` the conv computes ``filters // 2`` channels and a :class:`CReLU` layer
    doubles them back, so the output width is the same as the plain block's.
    """
    if filters < 1:
        raise ValueError(f"block '{name}': filters must be positive, got {filters}")
    if use_crelu:
        if filters % 2:
            raise ValueError(f"block '{name}': a CReLU block needs an even number of output channels "
                             f"(it computes filters/2 and concatenates their negation), got {filters}")
        x = keras.layers.Conv2D(filters // 2, kernel_size, padding="same", use_bias=False, name=name)(x)
        x = keras.layers.BatchNormalization(momentum=0.9, name=f"{name}_bn")(x)
        return CReLU(scale_shift=scale_shift, name=f"{name}_crelu")(x)
    x = keras.layers.Conv2D(filters, kernel_size, padding="same", use_bias=False, name=name)(x)
    x = keras.layers.BatchNormalization(momentum=0.9, name=f"{name}_bn")(x)
    return keras.layers.ReLU(name=f"{name}_relu")(x)


def cnn(input_shape: Sequence[int] = (32, 32, 3), classes: int = 10, widths: Sequence[int] = (32, 64, 96),
        crelu_stages: Sequence[int] = (), scale_shift: bool = True, name: str | None = None) -> keras.Model:
    """A small CNN like ``models.small_cnn``: per stage a 3x3 conv block, 2x2 max-pool between stages,
    global average pooling and a dense classifier. Stages listed in ``crelu_stages`` (0 = first)
    use a CReLU block with the same output width."""
    bad = [s for s in crelu_stages if not 0 <= s < len(widths)]
    if bad:
        raise ValueError(f"crelu_stages {tuple(crelu_stages)} name stages {bad} that do not exist; "
                         f"this model has stages 0..{len(widths) - 1} (widths {tuple(widths)})")
    inputs = keras.Input(tuple(input_shape), name="image")
    x = inputs
    for i, width in enumerate(widths):
        x = conv_block(x, width, use_crelu=i in crelu_stages, scale_shift=scale_shift, name=f"conv{i + 1}")
        if i < len(widths) - 1:
            x = keras.layers.MaxPooling2D(2, name=f"pool{i + 1}")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = keras.layers.Dense(classes, name="logits")(x)
    default = "crelu_cnn" if crelu_stages else "plain_cnn"
    return keras.Model(inputs, outputs, name=name or default)


def crelu_pair(input_shape: Sequence[int] = (32, 32, 3), classes: int = 10, widths: Sequence[int] = (32, 64, 96),
               crelu_stages: Sequence[int] = (0, 1), scale_shift: bool = True) -> tuple[keras.Model, keras.Model]:
    """``(plain, crelu)``: the same CNN twice, the second with CReLU blocks in ``crelu_stages``."""
    plain = cnn(input_shape, classes, widths, crelu_stages=(), name="plain_cnn")
    twin = cnn(input_shape, classes, widths, crelu_stages=crelu_stages, scale_shift=scale_shift, name="crelu_cnn")
    return plain, twin


def conv_cost(height: int, width: int, in_channels: int, out_channels: int, kernel_size: int = 3,
              use_crelu: bool = False, scale_shift: bool = False) -> dict[str, int]:
    """MACs and weights of one 'same'-padded, stride-1 conv producing ``out_channels`` channels
    at ``height x width``: plain, or as a CReLU block (``out_channels/2`` filters, then CReLU).

    Returns ``{"macs": ..., "params": ...}`` (conv weights, no bias; plus the CReLU scale/shift).
    """
    for label, value in (("height", height), ("width", width), ("in_channels", in_channels),
                         ("out_channels", out_channels), ("kernel_size", kernel_size)):
        if int(value) < 1:
            raise ValueError(f"conv_cost: {label} must be a positive integer, got {value}")
    if use_crelu and out_channels % 2:
        raise ValueError(f"conv_cost: a CReLU block needs an even out_channels, got {out_channels}")
    computed = out_channels // 2 if use_crelu else out_channels
    per_position = kernel_size * kernel_size * in_channels * computed
    macs = per_position * height * width
    params = kernel_size * kernel_size * in_channels * computed
    if use_crelu and scale_shift:
        macs += out_channels * height * width
        params += 2 * out_channels
    return {"macs": int(macs), "params": int(params)}


# --------------------------------------------------------------------------- the CReLU observation
def _filters_as_rows(kernel) -> np.ndarray:
    """A conv kernel (kh, kw, in, out) or a matrix (n_filters, dim) -> one row per filter."""
    k = np.asarray(kernel, dtype=np.float64)
    if k.ndim == 4:
        return k.reshape(-1, k.shape[-1]).T
    if k.ndim == 2:
        return k
    raise ValueError(f"expected a conv kernel of shape (kh, kw, in, out) or a (filters, dim) matrix, "
                     f"got an array of shape {k.shape}")


def cosine_matrix(kernel) -> np.ndarray:
    """Cosine similarity between every pair of filters: an (N, N) matrix with ones on the diagonal."""
    rows = _filters_as_rows(kernel)
    norms = np.linalg.norm(rows, axis=1)
    zero = np.flatnonzero(norms == 0)
    if zero.size:
        raise ValueError(f"filter(s) {zero.tolist()} are all zeros: their cosine similarity is undefined")
    unit = rows / norms[:, None]
    return np.clip(unit @ unit.T, -1.0, 1.0)


def opposite_partners(kernel) -> tuple[np.ndarray, np.ndarray]:
    """For each filter: its most negative cosine similarity with any *other* filter, and that filter's index.

    ``kernel`` is a Keras Conv2D kernel ``(kh, kw, in, out)`` (filters are the last axis) or a
    ``(filters, dim)`` matrix. A value near -1 means the layer contains (almost) the negated filter:
    the redundancy CReLU removes.
    """
    cos = cosine_matrix(kernel)
    if cos.shape[0] < 2:
        raise ValueError(f"need at least 2 filters to compare, got {cos.shape[0]}")
    np.fill_diagonal(cos, np.inf)
    partner = np.argmin(cos, axis=1)
    return cos[np.arange(len(cos)), partner], partner


def most_negative_cosine(kernel) -> np.ndarray:
    """For each filter, ``min_j cos(w_i, w_j)`` over the other filters ``j != i`` (Shang et al.'s histogram)."""
    return opposite_partners(kernel)[0]


def random_kernel_like(kernel, seed: int = 0) -> np.ndarray:
    """Gaussian random filters of the same shape: the baseline for the cosine histogram."""
    rng = np.random.default_rng(seed)
    return rng.normal(size=np.shape(kernel)).astype(np.float32)


def rescaled_filters(kernel, index: int = 0, seed: int = 0) -> np.ndarray:
    """A copy of a conv kernel with every filter multiplied by a positive factor (no cosine changes).

    The factors lie between 0.3 and 3 (like the spread batch-norm folding gives), except for one
    "decoy" filter that is made long enough to have the most negative *dot product* with filter
    ``index`` although another filter has the most negative *cosine*: an exercise on this kernel
    tells a normalised comparison from a raw one.
    """
    k = np.array(kernel, dtype=np.float64)
    if k.ndim != 4 or k.shape[-1] < 3:
        raise ValueError(f"rescaled_filters needs a conv kernel (kh, kw, in, out) with at least 3 filters, got shape {k.shape}")
    rows = _filters_as_rows(k)
    n = len(rows)
    if not 0 <= index < n:
        raise ValueError(f"index must be in [0, {n}), got {index}")
    cos = cosine_matrix(k)[index].copy()
    cos[index] = np.inf
    order = np.argsort(cos)
    decoys = [j for j in order[1:] if cos[j] < 0]
    if not decoys:
        raise ValueError("no second filter has a negative cosine with filter {index}; cannot build a decoy")
    partner, decoy = int(order[0]), int(decoys[0])
    factors = np.exp(np.random.default_rng(seed).uniform(np.log(0.3), np.log(3.0), n))
    norms = np.linalg.norm(rows, axis=1)
    reach = factors * norms * np.abs(np.where(np.isfinite(cos), cos, 0.0))  # |dot| / |filter index| per filter
    others = [j for j in range(n) if j not in (index, decoy)]
    factors[decoy] = 2.0 * max(reach[others]) / (norms[decoy] * abs(cos[decoy]))
    assert partner != decoy
    return (k * factors).astype(np.asarray(kernel).dtype)


# --------------------------------------------------------------------------- hyper-features
def _resize_to(x, size: int, name: str):
    """Max-pool (finer map) or bilinear-upsample (coarser map) a square feature map to ``size``."""
    current = int(x.shape[1])
    if current == size:
        return x
    if current > size:
        if current % size:
            raise ValueError(f"cannot pool a {current}x{current} map to {size}x{size} (not a divisor)")
        return keras.layers.MaxPooling2D(current // size, name=f"{name}_down{current // size}")(x)
    if size % current:
        raise ValueError(f"cannot upsample a {current}x{current} map to {size}x{size} (not a multiple)")
    return keras.layers.UpSampling2D(size // current, interpolation="bilinear", name=f"{name}_up{size // current}")(x)


def hyper_feature_cnn(input_shape: Sequence[int] = (32, 32, 1), classes: int = 6,
                      widths: Sequence[int] = (16, 32, 48, 64), taps: Sequence[int] | None = (1, 2, 3),
                      head_width: int = 64, target_stage: int | None = None, head: str = "classify",
                      name: str | None = None) -> keras.Model:
    """A CNN whose head reads the stages listed in ``taps`` (0 = first), resized to one resolution.

    The backbone is ``len(widths)`` conv blocks with 2x2 max-pooling between them. Each tapped
    stage's output is max-pooled or bilinearly upsampled to the resolution of ``target_stage``
    (default: the middle tap), the maps are concatenated, and one head follows: a 1x1 conv to
    ``head_width`` channels + batch-norm + ReLU, global average pooling and a dense classifier.

    ``head="classify"``: global average pooling and a dense layer to ``classes`` logits.
    ``head="locate"``: a 1x1 conv to one logit per position of the target map, flattened
    (``classes`` must equal the number of positions): "which cell holds the object".

    ``taps=(len(widths) - 1,)`` (or ``None``) gives the *last-layer* baseline with the same head.
    """
    if head not in ("classify", "locate"):
        raise ValueError(f"head must be 'classify' or 'locate', not {head!r}")
    last = len(widths) - 1
    taps = (last,) if taps is None else tuple(taps)
    if not taps:
        raise ValueError("taps must name at least one stage")
    bad = [t for t in taps if not 0 <= t <= last]
    if bad:
        raise ValueError(f"taps {taps} name stages {bad} that do not exist; this backbone has stages 0..{last}")
    if target_stage is None:
        target_stage = sorted(taps)[len(taps) // 2]
    if not 0 <= target_stage <= last:
        raise ValueError(f"target_stage {target_stage} does not exist; this backbone has stages 0..{last}")
    size = int(input_shape[0])
    if size % (2 ** last):
        raise ValueError(f"input size {size} must be divisible by 2**{last} for {len(widths)} stages")
    inputs = keras.Input(tuple(input_shape), name="image")
    x, stage_out = inputs, []
    for i, width in enumerate(widths):
        x = conv_block(x, width, name=f"conv{i + 1}")
        stage_out.append(x)
        if i < last:
            x = keras.layers.MaxPooling2D(2, name=f"pool{i + 1}")(x)
    target = size // 2 ** target_stage
    if head == "locate" and classes != target * target:
        raise ValueError(f"a 'locate' head on a {target}x{target} map has {target * target} outputs, "
                         f"but classes={classes}; pick target_stage so the map matches the label grid")
    maps = [_resize_to(stage_out[t], target, f"tap{t + 1}") for t in sorted(taps)]
    x = maps[0] if len(maps) == 1 else keras.layers.Concatenate(name="hyper_concat")(maps)
    x = keras.layers.Conv2D(head_width, 1, use_bias=False, name="head_conv")(x)
    x = keras.layers.BatchNormalization(momentum=0.9, name="head_bn")(x)
    x = keras.layers.ReLU(name="head_relu")(x)
    if head == "classify":
        x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
        outputs = keras.layers.Dense(classes, name="logits")(x)
    else:
        x = keras.layers.Conv2D(1, 1, name="cell_logit")(x)
        outputs = keras.layers.Flatten(name="logits")(x)
    default = "last_layer_head" if taps == (last,) else "hyper_feature_head"
    return keras.Model(inputs, outputs, name=name or default)


#: The large shapes and the small marks of :func:`make_scale_task`.
LARGE_SHAPES = ("disk", "ring", "square")
MARK_NAMES = ("plus", "x", "o")
_MARKS = np.array([
    [[0, 1, 0], [1, 1, 1], [0, 1, 0]],  # plus
    [[1, 0, 1], [0, 1, 0], [1, 0, 1]],  # x
    [[1, 1, 1], [1, 0, 1], [1, 1, 1]],  # o
], np.float32)


def make_scale_task(n: int, size: int = 32, cell: int = 4, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A synthetic task where scale matters: *find the mark that is inside the large shape*.

    Each image holds one large shape (disk, ring or square, radius 7-11 px) and two small 3x3
    marks (faint plus, x or o, strokes one pixel wide): one inside the shape's outline, one
    outside it. The label is the grid cell (``cell x cell`` pixels) holding the centre of the inside
    mark: ``(size // cell) ** 2`` classes, numbered row by row. Seeing the marks needs 1-pixel
    detail, telling inside from outside needs a receptive field as large as the shape, and naming
    the cell needs a fine output grid. A model that finds the marks but ignores the shape scores
    about 50%.

    Returns ``(x, y)``: float32 images ``(n, size, size, 1)`` in [0, 1] and int64 cell indices.
    """
    if n < 1 or size < 24 or size % cell:
        raise ValueError(f"make_scale_task needs n >= 1, size >= 24 and size divisible by cell, "
                         f"got n={n}, size={size}, cell={cell}")
    rng = np.random.default_rng(seed)
    grid = np.arange(size, dtype=np.float32) + 0.5
    yy, xx = np.meshgrid(grid, grid, indexing="ij")
    x = np.empty((n, size, size, 1), np.float32)
    y = np.empty(n, np.int64)
    for i in range(n):
        kind = rng.integers(len(LARGE_SHAPES))
        r = rng.uniform(7.0, 11.0)
        cy, cx = rng.uniform(r * 0.7, size - r * 0.7, 2)
        dy, dx = yy - cy, xx - cx
        dist = (np.maximum(np.abs(dy), np.abs(dx)) / 0.85 if kind == 2 else np.hypot(dy, dx)) / r
        level = np.abs(dist - 0.8) / 0.2 if kind == 1 else dist
        alpha = np.clip((1.0 - level) * r * 0.8 + 0.5, 0, 1)
        img = rng.uniform(0.0, 0.3) + rng.uniform(0.25, 0.45) * alpha
        # mark centres: one inside the outline (dist < 0.6), one clearly outside it (dist > 1.3)
        centre = dist[1:-1, 1:-1]  # a 3x3 mark centred at (row, col) must fit in the image
        for inside in (True, False):
            rows, cols = np.nonzero(centre < 0.6 if inside else centre > 1.3)
            k = rng.integers(len(rows))
            my, mx = rows[k], cols[k]  # top-left corner of the mark; its centre is (my + 1, mx + 1)
            img[my:my + 3, mx:mx + 3] += _MARKS[rng.integers(len(_MARKS))] * rng.uniform(0.3, 0.5)
            if inside:
                y[i] = ((my + 1) // cell) * (size // cell) + (mx + 1) // cell
        img = img + rng.normal(0, rng.uniform(0.03, 0.10), img.shape)
        x[i, :, :, 0] = np.clip(img, 0, 1)
    return x, y
