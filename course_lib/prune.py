"""Pruning with plain Keras 3: magnitude masks, the polynomial schedule, and channel pruning.

Unstructured (magnitude) pruning sets the smallest weights to zero:

- :func:`magnitude_threshold` / :func:`magnitude_mask`: the mask that zeroes a fraction ``sparsity``
  of one weight array (the smallest ``|w|``).
- :func:`layer_masks` (the same sparsity in every layer) and :func:`global_masks` (one threshold
  over all layers) return ``{layer name: mask}``; :func:`apply_masks` multiplies them in.
- :class:`PruningCallback` keeps pruned weights at exactly zero while you fine-tune (it re-applies
  the masks after every training batch) and, given a schedule, raises the sparsity gradually.
- :func:`polynomial_sparsity` is the schedule of Zhu & Gupta (2017).
- :func:`strip_masks` gives a plain copy with the zeros made permanent; :func:`sparsity_report`
  lists each layer's sparsity; :func:`evaluate_masked` scores masks without copying the model;
  :func:`sensitivity_scan` prunes one layer at a time.
- :func:`gzip_size` / :func:`compressed_weights_size`: what the zeros buy on disk once compressed.

Structured (channel) pruning removes whole filters, so the model really becomes smaller:

- :func:`filter_l1_norms` ranks a conv layer's filters; :func:`select_channels` picks the ones to keep.
- :func:`mask_channels` zeroes the removed filters (and the next layer's matching input weights) in a
  copy of the model; :func:`rebuild_pruned` builds the smaller dense model that computes the same thing.

No tensorflow-model-optimization: masks live in a callback, so the model stays an ordinary Keras model.
"""
from __future__ import annotations

import gzip
import io
from collections.abc import Callable, Iterable, Mapping, Sequence

import keras
import numpy as np
import pandas as pd


class PruningError(ValueError):
    """A pruning request that cannot be carried out; the message names the layer or value at fault."""


# --------------------------------------------------------------------------- checks and helpers
def check_sparsity(sparsity: float, what: str = "sparsity") -> float:
    """Return ``sparsity`` as a float if it lies in [0, 1); raise :class:`PruningError` otherwise."""
    if isinstance(sparsity, (str, bytes, bool, np.bool_)):
        raise PruningError(f"{what} must be a number in [0, 1), got {type(sparsity).__name__} {sparsity!r}")
    try:
        value = float(sparsity)
    except (TypeError, ValueError):
        raise PruningError(f"{what} must be a number in [0, 1), got {sparsity!r}") from None
    if not (0.0 <= value < 1.0) or np.isnan(value):
        extra = " (1.0 would remove every weight)" if value >= 1.0 else ""
        raise PruningError(f"{what} must be in [0, 1), got {sparsity!r}{extra}")
    return value


def _kernel(layer: keras.layers.Layer):
    """The weight variable magnitude pruning acts on (``kernel``), or None if the layer has none."""
    kernel = getattr(layer, "kernel", None)
    if kernel is None or not hasattr(kernel, "assign"):
        return None
    return kernel


def prunable_layers(model: keras.Model) -> list[str]:
    """Names of the layers with a ``kernel`` (Conv, Dense, DepthwiseConv2D): what magnitude pruning prunes.

    Biases and batch-norm parameters are left alone: they are few and matter a lot.
    """
    return [layer.name for layer in model.layers if _kernel(layer) is not None]


def _check_model(model, what: str = "model") -> None:
    if not isinstance(model, keras.Model):
        raise TypeError(f"{what} must be a Keras model, got {type(model).__name__}")


def _resolve_layers(model: keras.Model, layers: Iterable[str] | None) -> list[keras.layers.Layer]:
    _check_model(model)
    names = prunable_layers(model)
    if layers is None:
        if not names:
            raise PruningError(f"model '{model.name}' has no prunable layer (no Conv/Dense kernel): "
                               f"its layers are {[layer.name for layer in model.layers]}")
        return [model.get_layer(n) for n in names]
    if isinstance(layers, (str, bytes)) or not isinstance(layers, Iterable):
        raise PruningError(f"layers must be a list of layer names, got {type(layers).__name__} {layers!r}"
                           + (f"; write ['{layers}']" if isinstance(layers, str) else ""))
    out = []
    all_names = [layer.name for layer in model.layers]
    for name in layers:
        if name not in all_names:
            raise PruningError(f"model '{model.name}' has no layer '{name}'; its layers are {all_names}")
        if name not in names:
            kind = type(model.get_layer(name)).__name__
            raise PruningError(f"layer '{name}' ({kind}) cannot be pruned: it has no kernel. "
                               f"Prunable layers of '{model.name}': {names}")
        out.append(model.get_layer(name))
    return out


# --------------------------------------------------------------------------- magnitude pruning
def _weights_array(weights) -> np.ndarray:
    """``weights`` as a float array; refuse non-numeric, empty or NaN weights by name."""
    try:
        w = np.asarray(weights, dtype=np.float64)
    except (TypeError, ValueError):
        raise PruningError(f"weights must be an array of numbers, got {type(weights).__name__}") from None
    if w.size == 0:
        raise PruningError(f"weights is empty (shape {w.shape}): there is nothing to prune")
    if np.isnan(w).any():
        raise PruningError(f"weights contain {int(np.isnan(w).sum())} NaN value(s): a NaN has no magnitude")
    return w


def magnitude_threshold(weights: np.ndarray, sparsity: float) -> float:
    """The magnitude ``t`` such that a fraction ``sparsity`` of the weights has ``|w| <= t``.

    With ``n`` weights, ``k = round(sparsity * n)`` of them are pruned; ``t`` is the k-th smallest
    ``|w|`` (0.0 when ``k == 0``: nothing is pruned).
    """
    sparsity = check_sparsity(sparsity)
    magnitudes = np.sort(np.abs(_weights_array(weights)).ravel())
    k = int(round(sparsity * magnitudes.size))
    return 0.0 if k == 0 else float(magnitudes[k - 1])


def magnitude_mask(weights: np.ndarray, sparsity: float) -> np.ndarray:
    """A 0/1 float32 mask of ``weights``' shape that zeroes exactly ``round(sparsity * n)`` smallest ``|w|``.

    Ties are broken by position, so the count is exact even when many weights are already zero.
    """
    sparsity = check_sparsity(sparsity)
    w = _weights_array(weights)
    k = int(round(sparsity * w.size))
    mask = np.ones(w.size, dtype=np.float32)
    if k:
        order = np.argsort(np.abs(w).ravel(), kind="stable")
        mask[order[:k]] = 0.0
    return mask.reshape(w.shape)


def layer_masks(model: keras.Model, sparsity: float | Mapping[str, float],
                layers: Iterable[str] | None = None) -> dict[str, np.ndarray]:
    """Layer-wise masks: each layer loses the same fraction of its own weights.

    ``sparsity`` is one number for all ``layers`` (default: every prunable layer) or a dictionary
    ``{layer name: sparsity}`` (then only those layers are pruned).
    """
    if isinstance(sparsity, Mapping):
        chosen = _resolve_layers(model, sparsity.keys())
        levels = {layer.name: check_sparsity(sparsity[layer.name], f"sparsity of layer '{layer.name}'")
                  for layer in chosen}
    else:
        value = check_sparsity(sparsity)
        chosen = _resolve_layers(model, layers)
        levels = {layer.name: value for layer in chosen}
    return {layer.name: magnitude_mask(np.asarray(_kernel(layer)), levels[layer.name]) for layer in chosen}


def global_masks(model: keras.Model, sparsity: float, layers: Iterable[str] | None = None) -> dict[str, np.ndarray]:
    """Global masks: one magnitude threshold over all ``layers`` together.

    Layers with many small weights lose more, layers with few large weights lose less; the total
    fraction of zeros over the chosen layers is ``sparsity``.
    """
    sparsity = check_sparsity(sparsity)
    chosen = _resolve_layers(model, layers)
    arrays = [np.asarray(_kernel(layer)) for layer in chosen]
    flat = np.concatenate([a.ravel() for a in arrays]) if arrays else np.zeros(0)
    mask = magnitude_mask(flat, sparsity)
    out, start = {}, 0
    for layer, a in zip(chosen, arrays):
        out[layer.name] = mask[start:start + a.size].reshape(a.shape)
        start += a.size
    return out


def make_masks(model: keras.Model, sparsity: float, method: str = "layer",
               layers: Iterable[str] | None = None) -> dict[str, np.ndarray]:
    """``layer_masks`` (``method="layer"``) or ``global_masks`` (``method="global"``)."""
    if method == "layer":
        return layer_masks(model, sparsity, layers)
    if method == "global":
        return global_masks(model, sparsity, layers)
    raise PruningError(f"method must be 'layer' or 'global', not {method!r}")


def apply_masks(model: keras.Model, masks: Mapping[str, np.ndarray]) -> keras.Model:
    """Multiply each named layer's kernel by its mask, in place; returns the model."""
    for name, mask in masks.items():
        layer = _resolve_layers(model, [name])[0]
        kernel = _kernel(layer)
        if tuple(kernel.shape) != tuple(np.shape(mask)):
            raise PruningError(f"mask for layer '{name}' has shape {np.shape(mask)}, its kernel {tuple(kernel.shape)}")
        kernel.assign(np.asarray(kernel) * np.asarray(mask, dtype=np.float32))
    return model


def polynomial_sparsity(step, initial_sparsity: float, final_sparsity: float, begin_step: int, end_step: int,
                        power: float = 3):
    """Zhu & Gupta (2017): ``s_t = s_f + (s_i - s_f) * (1 - (t - t0) / (t_end - t0)) ** power``.

    Before ``begin_step`` the sparsity is ``initial_sparsity``, after ``end_step`` it is
    ``final_sparsity``. Pruning is fast at first, while there are many redundant weights, and slows
    down near the end. ``step`` may be a number (returns a float) or an array (returns an array).
    """
    s_i = check_sparsity(initial_sparsity, "initial_sparsity")
    s_f = check_sparsity(final_sparsity, "final_sparsity")
    if end_step <= begin_step:
        raise PruningError(f"end_step ({end_step}) must be larger than begin_step ({begin_step})")
    if power <= 0:
        raise PruningError(f"power must be positive, got {power}")
    t = np.asarray(step, dtype=np.float64)
    progress = np.clip((t - begin_step) / (end_step - begin_step), 0.0, 1.0)
    s = s_f + (s_i - s_f) * (1.0 - progress) ** power
    return float(s) if s.ndim == 0 else s


class PruningCallback(keras.callbacks.Callback):
    """Keep pruned weights at exactly zero while training, optionally raising the sparsity gradually.

    - ``PruningCallback(masks=...)``: fixed masks (one-shot pruning, then fine-tuning).
    - ``PruningCallback(schedule=fn, update_every=n)``: every ``n`` training steps the masks are
      recomputed from the current weights at sparsity ``fn(step)`` (e.g. a
      :func:`polynomial_sparsity` with its arguments bound), ``method`` ``"layer"`` or ``"global"``.

    The masks are applied before training starts and again after every training batch, so the
    optimizer's update of a pruned weight is undone at once. ``history`` lists ``(step, sparsity)``
    each time the masks change. The step counter continues across several ``fit`` calls.
    """

    def __init__(self, masks: Mapping[str, np.ndarray] | None = None,
                 schedule: Callable[[int], float] | None = None, update_every: int = 10,
                 method: str = "layer", layers: Iterable[str] | None = None):
        super().__init__()
        if (masks is None) == (schedule is None):
            raise PruningError("give PruningCallback either masks (fixed) or a schedule (gradual), not both or neither")
        if update_every < 1:
            raise PruningError(f"update_every must be at least 1, got {update_every}")
        self.masks = dict(masks) if masks is not None else {}
        self.schedule = schedule
        self.update_every = int(update_every)
        self.method = method
        self.layers = list(layers) if layers is not None else None
        self.step = 0
        self.current_sparsity: float | None = None
        self.history: list[tuple[int, float]] = []
        self._pairs = None

    def _bind(self) -> None:
        self._pairs = [(_kernel(_resolve_layers(self.model, [n])[0]), np.asarray(m, np.float32))
                       for n, m in self.masks.items()]

    def _apply(self) -> None:
        if self._pairs is None:
            self._bind()
        for kernel, mask in self._pairs:
            kernel.assign(kernel.value * mask)

    def _update_masks(self) -> None:
        target = check_sparsity(self.schedule(self.step), f"schedule({self.step})")
        if self.current_sparsity is not None and np.isclose(target, self.current_sparsity):
            return
        self.masks = make_masks(self.model, target, self.method, self.layers)
        self.current_sparsity = target
        self.history.append((self.step, target))
        self._bind()

    def on_train_begin(self, logs=None):
        if self.schedule is not None:
            self._update_masks()
        self._bind()
        self._apply()

    def on_train_batch_begin(self, batch, logs=None):
        if self.schedule is not None and self.step % self.update_every == 0:
            self._update_masks()
            self._apply()

    def on_train_batch_end(self, batch, logs=None):
        self._apply()
        self.step += 1


def strip_masks(model: keras.Model, masks: Mapping[str, np.ndarray] | None = None) -> keras.Model:
    """A plain copy of ``model`` (no optimizer, no callback) with the masks, if given, made permanent.

    With tensorflow-model-optimization you would call ``strip_pruning`` to remove wrapper layers;
    here the masks live in the callback, so stripping is just copying the zeroed weights.
    """
    try:  # from_config gives an uncompiled copy (clone_model would copy the compile state too)
        copy = type(model).from_config(model.get_config())
    except Exception:  # a subclassed model without a usable config
        copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    if masks:
        apply_masks(copy, masks)
    return copy


def sparsity_report(model: keras.Model, layers: Iterable[str] | None = None) -> pd.DataFrame:
    """Per prunable layer: number of kernel weights, zeros, and sparsity; plus a ``total`` row."""
    rows = []
    for layer in _resolve_layers(model, layers):
        w = np.asarray(_kernel(layer))
        zeros = int(np.count_nonzero(w == 0))
        rows.append({"layer": layer.name, "type": type(layer).__name__, "weights": int(w.size),
                     "zeros": zeros, "sparsity": zeros / w.size})
    total_w = sum(r["weights"] for r in rows)
    total_z = sum(r["zeros"] for r in rows)
    rows.append({"layer": "total", "type": "", "weights": total_w, "zeros": total_z,
                 "sparsity": total_z / total_w if total_w else 0.0})
    return pd.DataFrame(rows)


def evaluate_masked(model: keras.Model, masks: Mapping[str, np.ndarray], evaluate: Callable[[keras.Model], float]) -> float:
    """``evaluate(model)`` with the masks applied, then the original weights put back.

    Cheaper than copying the model for every trial: the model (and its compiled predict function) is reused.
    """
    saved = {name: np.array(_kernel(_resolve_layers(model, [name])[0])) for name in masks}
    try:
        apply_masks(model, masks)
        return float(evaluate(model))
    finally:
        for name, value in saved.items():
            _kernel(model.get_layer(name)).assign(value)


def sensitivity_scan(model: keras.Model, evaluate: Callable[[keras.Model], float], sparsities: Sequence[float],
                     layers: Iterable[str] | None = None) -> pd.DataFrame:
    """Prune one layer at a time to each sparsity (no fine-tuning) and call ``evaluate(model)``.

    The model's weights are restored after each trial. Returns one row per (layer, sparsity) with
    the metric, so you can see which layers tolerate pruning and which do not.
    """
    if not callable(evaluate):
        raise TypeError(f"evaluate must be a function evaluate(model) -> float, got {type(evaluate).__name__}")
    if isinstance(sparsities, (int, float, str)) or not len(list(sparsities)):
        raise PruningError(f"sparsities must be a non-empty list of numbers in [0, 1), got {sparsities!r}")
    levels = [check_sparsity(s) for s in sparsities]
    rows = []
    for layer in _resolve_layers(model, layers):
        kernel = _kernel(layer)
        saved = np.array(kernel)
        try:  # the layer gets its weights back even if evaluate raises or the kernel is interrupted
            for s in levels:
                kernel.assign(saved * magnitude_mask(saved, s))
                metric = evaluate(model)
                try:
                    metric = float(metric)
                except (TypeError, ValueError):
                    raise TypeError(f"evaluate(model) must return a number, got {type(metric).__name__}") from None
                rows.append({"layer": layer.name, "sparsity": s, "metric": metric})
        finally:
            kernel.assign(saved)
    return pd.DataFrame(rows)


def tolerated_sparsity(scan: pd.DataFrame, baseline: float, max_drop: float) -> dict[str, float]:
    """For each layer of a :func:`sensitivity_scan`, the largest sparsity reached before its metric first falls more
    than ``max_drop`` below ``baseline`` (linear interpolation between the scanned levels, starting at 0 = baseline).

    This reads the whole curve, not only its last point: a layer that stays flat up to 90% and collapses at 98% is
    less sensitive than one that drops steadily from 50%.
    """
    if max_drop < 0:
        raise PruningError(f"max_drop must be >= 0, got {max_drop}")
    missing = {"layer", "sparsity", "metric"} - set(scan.columns)
    if missing:
        raise PruningError(f"scan is missing column(s) {sorted(missing)}; pass the table sensitivity_scan returns")
    result = {}
    for name, group in scan.groupby("layer", sort=False):
        group = group.sort_values("sparsity")
        s = np.concatenate([[0.0], group["sparsity"].to_numpy(float)])
        m = np.concatenate([[baseline], group["metric"].to_numpy(float)])
        floor = baseline - max_drop
        reached = s[-1]
        for i in range(1, len(s)):
            if m[i] < floor:  # crosses the floor between s[i-1] and s[i]
                reached = s[i - 1] + (s[i] - s[i - 1]) * (m[i - 1] - floor) / (m[i - 1] - m[i]) if m[i - 1] >= floor else s[i - 1]
                break
        result[name] = float(reached)
    return result


def allocate_sparsity(scan: pd.DataFrame, baseline: float, sizes: Mapping[str, int], target: float) -> dict[str, float]:
    """Per-layer sparsities chosen from a sensitivity scan, reaching ``target`` overall (weighted by ``sizes``,
    each layer's number of weights).

    Every layer gets the sparsity it tolerates for one common accuracy drop (:func:`tolerated_sparsity`); the drop
    is found by bisection so that the weighted overall sparsity equals ``target`` exactly (the last step
    interpolates between the two closest drops). Flat layers get more zeros, sensitive ones fewer.
    """
    target = check_sparsity(target, "target")
    names = list(dict.fromkeys(scan["layer"]))
    if set(names) - set(sizes):
        raise PruningError(f"sizes has no entry for layer(s) {sorted(set(names) - set(sizes))}")
    weight = np.array([sizes[n] for n in names], dtype=float)

    def levels(drop):
        tol = tolerated_sparsity(scan, baseline, drop)
        return np.array([tol[n] for n in names])

    def overall(v):
        return float((weight * v).sum() / weight.sum())

    lo, hi = 0.0, max(baseline - float(scan["metric"].min()), 0.0) + 1e-6
    if overall(levels(hi)) < target:
        raise PruningError(f"target sparsity {target:.0%} is above what the scan covers (every layer at its largest "
                           f"scanned sparsity gives {overall(levels(hi)):.1%}); scan higher sparsities")
    if overall(levels(lo)) >= target:
        hi = lo
    for _ in range(60):
        if hi - lo < 1e-9:
            break
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if overall(levels(mid)) < target else (lo, mid)
    v_lo, v_hi = levels(lo), levels(hi)
    a, b = overall(v_lo), overall(v_hi)
    t = 1.0 if b - a < 1e-12 else (target - a) / (b - a)
    chosen = v_lo + t * (v_hi - v_lo)
    return {n: float(np.clip(v, 0.0, 0.999)) for n, v in zip(names, chosen)}


# --------------------------------------------------------------------------- size on disk
def gzip_size(data: bytes, level: int = 9) -> int:
    """Bytes of ``data`` after gzip compression (what a zipped download would weigh)."""
    return len(gzip.compress(bytes(data), compresslevel=level, mtime=0))


def weights_bytes(model: keras.Model) -> bytes:
    """All of the model's weight arrays, concatenated as raw little-endian bytes."""
    buf = io.BytesIO()
    for w in model.get_weights():
        buf.write(np.ascontiguousarray(w).astype(w.dtype.newbyteorder("<")).tobytes())
    return buf.getvalue()


def compressed_weights_size(model: keras.Model, level: int = 9) -> int:
    """gzip size of the model's raw weights: zeros compress, so sparse models shrink on disk."""
    return gzip_size(weights_bytes(model), level)


# --------------------------------------------------------------------------- structured (channel) pruning
_PASS_THROUGH = (
    keras.layers.InputLayer, keras.layers.Activation, keras.layers.ReLU, keras.layers.LeakyReLU,
    keras.layers.ELU, keras.layers.Softmax, keras.layers.Dropout, keras.layers.SpatialDropout2D,
    keras.layers.MaxPooling2D, keras.layers.AveragePooling2D, keras.layers.GlobalAveragePooling2D,
    keras.layers.GlobalMaxPooling2D, keras.layers.ZeroPadding2D, keras.layers.Cropping2D,
    keras.layers.UpSampling2D, keras.layers.Identity, keras.layers.GaussianNoise,
)


def _is_channel_producer(layer) -> bool:
    if isinstance(layer, keras.layers.Conv2D) and not isinstance(
            layer, (keras.layers.DepthwiseConv2D, keras.layers.SeparableConv2D, keras.layers.Conv2DTranspose)):
        return getattr(layer, "groups", 1) == 1
    return isinstance(layer, keras.layers.Dense)


def filter_l1_norms(kernel_or_layer) -> np.ndarray:
    """L1 norm of each output filter (sum of ``|w|`` over all axes but the last): one number per channel."""
    kernel = _kernel(kernel_or_layer) if isinstance(kernel_or_layer, keras.layers.Layer) else kernel_or_layer
    if kernel is None:
        raise PruningError(f"layer '{kernel_or_layer.name}' has no kernel to rank")
    k = np.abs(np.asarray(kernel, dtype=np.float64))
    return k.reshape(-1, k.shape[-1]).sum(axis=0)


def keep_largest(norms: np.ndarray, n_keep: int) -> np.ndarray:
    """Indices (ascending) of the ``n_keep`` largest norms."""
    order = np.argsort(-np.asarray(norms), kind="stable")
    return np.sort(order[:n_keep])


def _chain(model: keras.Model) -> list[keras.layers.Layer]:
    """The model's layers if they form one plain chain (each layer feeds only the next)."""
    layers = [layer for layer in model.layers]
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise PruningError(f"channel pruning supports single-input, single-output chains; '{model.name}' is not one")
    prev = None
    for layer in layers:
        if isinstance(layer, keras.layers.InputLayer):
            prev = layer
            continue
        nodes = layer._inbound_nodes
        if len(nodes) != 1 or len(nodes[0].input_tensors) != 1:
            raise PruningError(f"layer '{layer.name}' ({type(layer).__name__}) has several inputs or is used "
                               f"several times: channel pruning here supports plain chains only (no skip "
                               f"connections, whose two branches would need the same channels removed)")
        source = nodes[0].input_tensors[0]._keras_history[0]
        if prev is not None and source is not prev:
            raise PruningError(f"layer '{layer.name}' does not take the previous layer's output: channel pruning "
                               f"here supports plain chains only")
        prev = layer
    return layers


def select_channels(model: keras.Model, fraction: float | Mapping[str, float],
                    layers: Iterable[str] | None = None) -> dict[str, np.ndarray]:
    """Which filters to keep: in each chosen conv layer, drop the ``fraction`` with the smallest L1 norm.

    ``fraction`` is one number for ``layers`` (default: every standard Conv2D) or ``{layer: fraction}``.
    Returns ``{layer name: kept channel indices (ascending)}``. Raises :class:`PruningError` naming
    the layer when a layer would keep no channel, cannot be channel-pruned, or produces the output.
    """
    chain = _chain(model)
    out_layer = chain[-1].name
    if isinstance(fraction, Mapping):
        plan = dict(fraction)
    else:
        names = list(layers) if layers is not None else [
            layer.name for layer in chain if _is_channel_producer(layer) and isinstance(layer, keras.layers.Conv2D)]
        plan = {n: fraction for n in names}
    keep = {}
    for name, frac in plan.items():
        frac = check_sparsity(frac, f"fraction of channels to remove in layer '{name}'")
        try:
            layer = model.get_layer(name)
        except ValueError:
            raise PruningError(f"model '{model.name}' has no layer '{name}'") from None
        if not _is_channel_producer(layer):
            raise PruningError(f"layer '{name}' ({type(layer).__name__}) cannot be channel-pruned: only standard "
                               f"Conv2D (groups=1) and Dense layers produce channels that can be removed")
        if name == out_layer:
            raise PruningError(f"layer '{name}' produces the model's output: removing its channels would "
                               f"change what the model predicts")
        norms = filter_l1_norms(layer)
        n_keep = int(round((1.0 - frac) * norms.size))
        if n_keep < 1:
            raise PruningError(f"removing {frac:.0%} of the {norms.size} channels of layer '{name}' leaves "
                               f"{n_keep}: a layer needs at least one channel")
        keep[name] = keep_largest(norms, n_keep)
    return keep


def _weight_plan(layer, in_keep, out_keep, input_shape) -> tuple[list[tuple[int, int, np.ndarray]], object]:
    """How each weight of ``layer`` is sliced: a list of (weight index, axis, kept indices); and the
    channels alive in the layer's output (None = all)."""
    plan = []
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        if out_keep is not None:
            raise PruningError(f"layer '{layer.name}' (DepthwiseConv2D) cannot be channel-pruned by itself: its "
                               f"channels follow its input; prune the layer that feeds it")
        if in_keep is not None:
            if layer.depth_multiplier != 1:
                raise PruningError(f"layer '{layer.name}': depth_multiplier {layer.depth_multiplier} is not "
                                   f"supported by channel pruning (only 1)")
            plan.append((0, 2, in_keep))
            if layer.use_bias:
                plan.append((1, 0, in_keep))
        return plan, in_keep
    if isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense)):
        if not _is_channel_producer(layer):
            raise PruningError(f"layer '{layer.name}' ({type(layer).__name__}) is not supported by channel pruning")
        rank = len(layer.kernel.shape)
        if in_keep is not None:
            plan.append((0, rank - 2, in_keep))
        if out_keep is not None:
            plan.append((0, rank - 1, out_keep))
            if layer.use_bias:
                plan.append((1, 0, out_keep))
        return plan, out_keep
    if isinstance(layer, keras.layers.BatchNormalization):
        if layer.axis not in (-1, len(input_shape) - 1) and list(np.atleast_1d(layer.axis)) != [len(input_shape) - 1]:
            raise PruningError(f"layer '{layer.name}': batch norm over axis {layer.axis} is not supported (only the last)")
        if in_keep is not None:
            plan.extend((i, 0, in_keep) for i in range(len(layer.weights)))
        return plan, in_keep
    if isinstance(layer, keras.layers.Flatten):
        if in_keep is None:
            return plan, None
        channels = int(input_shape[-1])
        positions = int(np.prod(input_shape[1:-1]))
        flat = (np.arange(positions)[:, None] * channels + np.asarray(in_keep)[None, :]).ravel()
        return plan, flat
    if isinstance(layer, _PASS_THROUGH):
        return plan, in_keep
    raise PruningError(f"layer '{layer.name}' ({type(layer).__name__}) is not supported by channel pruning")


def _check_keep(layer, kept) -> np.ndarray:
    """The sorted channel indices ``kept`` for ``layer``: whole numbers, distinct, within its channels."""
    raw = np.asarray(kept)
    if raw.ndim != 1 or (raw.size and raw.dtype.kind not in "iu"):
        raise PruningError(f"keep['{layer.name}'] must be a 1-d list of channel indices (integers), got "
                           f"{raw.dtype} with shape {raw.shape}")
    if raw.size < 1:
        raise PruningError(f"layer '{layer.name}' would keep no channel: a layer needs at least one")
    channels = int(layer.output.shape[-1])
    bad = raw[(raw < 0) | (raw >= channels)]
    if bad.size:
        raise PruningError(f"keep['{layer.name}'] has indices {bad.tolist()} outside 0..{channels - 1} "
                           f"(the layer has {channels} channels)")
    if len(np.unique(raw)) != raw.size:
        dup = sorted({int(v) for v in raw if (raw == v).sum() > 1})
        raise PruningError(f"keep['{layer.name}'] lists channel(s) {dup} more than once")
    return np.sort(raw.astype(np.int64))


def _walk(model: keras.Model, keep: Mapping[str, np.ndarray]):
    """Yield (layer, plan, out_keep, input_shape) along the chain."""
    _check_model(model)
    if not isinstance(keep, Mapping):
        raise PruningError(f"keep must be a dict {{layer name: channel indices}}, got {type(keep).__name__}")
    chain = _chain(model)
    unknown = set(keep) - {layer.name for layer in chain}
    if unknown:
        raise PruningError(f"model '{model.name}' has no layer(s) {sorted(unknown)}")
    current = None
    for layer in chain:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        out_keep = keep.get(layer.name)
        if out_keep is not None:
            out_keep = _check_keep(layer, out_keep)
        input_shape = tuple(layer._inbound_nodes[0].input_tensors[0].shape)
        plan, next_keep = _weight_plan(layer, current, out_keep, input_shape)
        yield layer, plan, out_keep, input_shape
        current = next_keep


def mask_channels(model: keras.Model, keep: Mapping[str, np.ndarray]) -> keras.Model:
    """A copy of ``model`` whose removed channels are zeroed: the producer's filters (and bias, batch-norm
    scale and shift) and the next layer's matching input weights. Same shapes, same cost: this is
    what channel pruning computes before the model is rebuilt smaller."""
    copy = strip_masks(model)
    for layer, plan, _, _ in _walk(model, keep):
        if not plan:
            continue
        target = copy.get_layer(layer.name)
        weights = [np.array(w) for w in target.get_weights()]
        for index, axis, kept in plan:
            w = weights[index]
            if "moving" in target.weights[index].path:
                continue  # batch norm's moving mean/variance stay: scale 0 and shift 0 already give 0
            drop = np.setdiff1d(np.arange(w.shape[axis]), kept)
            idx = [slice(None)] * w.ndim
            idx[axis] = drop
            w[tuple(idx)] = 0.0
        target.set_weights(weights)
    return copy


def rebuild_pruned(model: keras.Model, keep: Mapping[str, np.ndarray], name: str | None = None) -> keras.Model:
    """The smaller dense model: the kept filters only, the matching batch-norm channels, and the next
    layer's matching input channels. It computes what :func:`mask_channels` computes, with fewer MACs."""
    _check_model(model)
    inp = model.inputs[0]
    x = new_in = keras.Input(tuple(inp.shape[1:]), name=model.layers[0].name, dtype=inp.dtype)
    for layer, plan, out_keep, _ in _walk(model, keep):
        cfg = layer.get_config()
        if out_keep is not None:
            cfg["filters" if isinstance(layer, keras.layers.Conv2D) else "units"] = int(out_keep.size)
        new = type(layer).from_config(cfg)
        x = new(x)
        weights = [np.array(w) for w in layer.get_weights()]
        for index, axis, kept in plan:
            weights[index] = np.take(weights[index], kept, axis=axis)
        if weights:
            new.set_weights(weights)
    return keras.Model(new_in, x, name=name or f"{model.name}_channel_pruned")


def channel_table(model: keras.Model, pruned: keras.Model) -> pd.DataFrame:
    """Per conv/dense layer: channels before and after channel pruning."""
    rows = []
    for layer in model.layers:
        if _is_channel_producer(layer) or isinstance(layer, keras.layers.DepthwiseConv2D):
            after = pruned.get_layer(layer.name)
            rows.append({"layer": layer.name, "channels before": int(layer.output.shape[-1]),
                         "channels after": int(after.output.shape[-1])})
    return pd.DataFrame(rows)


def transfer_sliced_weights(source: keras.Model, target: keras.Model,
                            keep: Mapping[str, np.ndarray | Mapping[int, np.ndarray]]) -> keras.Model:
    """Copy weights from ``source`` into a smaller ``target`` built with the same layer names.

    For a layer listed in ``keep`` every weight axis that is shorter in ``target`` takes the source's
    entries at ``keep[layer name]`` (the kept channels); other weights are copied as they are. When a
    layer loses channels on two axes (a convolution between two pruned layers), give
    ``{axis: indices}`` with negative axes, e.g. ``{-2: kept inputs, -1: kept outputs}``: axis -1 is
    then also the bias's only axis. This is how a channel-pruned model is rebuilt as a smaller *dense*
    model when the network is not a plain chain: the builder makes the narrower layers, this fills
    them. Raises :class:`PruningError` naming the layer when a weight cannot be matched.
    """
    for layer in target.layers:
        if not layer.weights:
            continue
        try:
            src = source.get_layer(layer.name)
        except ValueError:
            raise PruningError(f"layer '{layer.name}' of '{target.name}' has no counterpart in '{source.name}'") from None
        kept = keep.get(layer.name)
        new = []
        for w_src, w_dst in zip(src.get_weights(), layer.get_weights()):
            for axis, (a, b) in enumerate(zip(w_src.shape, w_dst.shape)):
                if a == b:
                    continue
                idx = kept.get(axis - w_src.ndim) if isinstance(kept, Mapping) else kept
                if idx is None or len(idx) != b:
                    raise PruningError(f"layer '{layer.name}': weight of shape {w_src.shape} must become "
                                       f"{w_dst.shape}, but keep gives {None if idx is None else len(idx)} "
                                       f"indices for axis {axis}")
                w_src = np.take(w_src, np.asarray(idx), axis=axis)
            if w_src.shape != w_dst.shape:
                raise PruningError(f"layer '{layer.name}': cannot match weight shapes {w_src.shape} and {w_dst.shape}")
            new.append(w_src)
        layer.set_weights(new)
    return target
