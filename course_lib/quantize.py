"""Affine (int8) quantization: scales and zero points, fake quantization for training, integer layers.

A real number r is stored as an integer q with a *scale* s and a *zero point* z (Jacob et al. 2018):

    r ≈ s · (q − z),        q = clamp(round(r / s) + z, q_min, q_max)

- :func:`choose_qparams` picks (s, z) for a tensor or a range: symmetric (z = 0, what LiteRT uses for
  weights) or asymmetric (activations), per tensor or per channel (``axis``); :class:`QParams` holds them.
- :func:`quantize`, :func:`dequantize`, :func:`fake_quantize` (quantize then dequantize, in numpy) and
  :func:`quantization_error` / :func:`error_table` measure what rounding and clipping cost.
- Integer arithmetic of a quantized layer, exactly as LiteRT's reference kernels do it:
  int8 × int8 products summed in int32 (:func:`int_conv2d`, :func:`int_dense`), an int32 bias at
  scale s_in·s_w (:func:`quantize_bias`), then *requantization* of the int32 accumulator to int8 with
  a fixed-point multiplier (:func:`quantize_multiplier`, :func:`multiply_by_quantized_multiplier`,
  :func:`requantize`). :func:`quantized_conv2d`, :func:`quantized_dense` and :func:`quantized_mean`
  put the pieces together; :func:`tensor_qparams` reads (s, z) of a LiteRT tensor,
  :func:`read_int8_graph` lists a converted model's operators with their int8 weights, int32 biases,
  scales and zero points, and :func:`reference_activations` returns every intermediate tensor of
  LiteRT's built-in kernels, to compare with layer by layer.
- :func:`batchnorm_fold_factors`: the per-channel factor a converter folds into a conv's kernel.
- For quantization-aware training (Keras 3): :func:`fake_quant_range` and :func:`fake_quant_weights`
  (straight-through gradient), the layers :class:`FakeQuant` (activation range tracked with an
  exponential moving average), :class:`QConv2D` and :class:`QDense` (weights fake-quantized per
  output channel), :func:`qat_small_cnn` (the QAT twin of ``models.small_cnn``),
  :func:`calibrate_fake_quant` (post-training calibration of the fake-quant ranges), and
  :func:`transfer_weights` to copy trained weights into a plain float model.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import keras
import numpy as np
import pandas as pd
from keras import ops

INT32_MIN, INT32_MAX = -(2 ** 31), 2 ** 31 - 1


# --------------------------------------------------------------------------------------------------
# Scale and zero point
# --------------------------------------------------------------------------------------------------
def _real_array(name: str, x) -> np.ndarray:
    """``x`` as a float64 array, or a TypeError naming ``name`` when it is not numeric."""
    if isinstance(x, (str, bytes, dict)):
        raise TypeError(f"{name} must be an array of numbers, got {type(x).__name__}")
    try:
        return np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be an array of numbers (rectangular, numeric): {exc}") from None


def qrange(bits: int = 8, narrow_range: bool = False) -> tuple[int, int]:
    """Smallest and largest signed integer with ``bits`` bits: (-128, 127) for 8 bits.

    ``narrow_range`` drops the most negative value, (-127, 127), so that the range is symmetric
    around 0; LiteRT stores symmetric int8 weights this way.
    """
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)) or not 2 <= bits <= 32:
        raise ValueError(f"bits must be an integer between 2 and 32, got {bits!r}")
    qmin, qmax = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    return (qmin + 1 if narrow_range else qmin), qmax


@dataclass(frozen=True)
class QParams:
    """Scale(s) and zero point(s) of a quantized tensor.

    ``scale`` and ``zero_point`` are numpy arrays: 0-d for per-tensor quantization, 1-d (one value per
    channel along ``axis``) for per-channel quantization.
    """

    scale: np.ndarray
    zero_point: np.ndarray
    bits: int = 8
    qmin: int = -128
    qmax: int = 127
    axis: int | None = None

    @property
    def per_channel(self) -> bool:
        return self.axis is not None

    @property
    def dtype(self):
        """The smallest numpy integer type that holds the codes (int8 up to 8 bits, int16, int32)."""
        return np.int8 if self.bits <= 8 else np.int16 if self.bits <= 16 else np.int32

    def broadcast(self, ndim: int) -> tuple[np.ndarray, np.ndarray]:
        """Scale and zero point shaped to broadcast against a tensor with ``ndim`` dimensions."""
        if self.axis is None:
            return self.scale, self.zero_point
        shape = [1] * ndim
        shape[self.axis] = -1
        return self.scale.reshape(shape), self.zero_point.reshape(shape)


def qparams_from_range(rmin, rmax, bits: int = 8, symmetric: bool = False, narrow_range: bool | None = None,
                       axis: int | None = None) -> QParams:
    """Scale and zero point that map the real range [rmin, rmax] onto the integers of ``bits`` bits.

    Asymmetric: s = (rmax − rmin) / (q_max − q_min), z = round(q_min − rmin / s). The range is first
    widened to contain 0, so that real 0 (zero padding, ReLU's output) is exactly representable.
    Symmetric: z = 0 and s = max(|rmin|, |rmax|) / q_max (narrow range by default, as LiteRT's weights).
    ``rmin``/``rmax`` may be arrays (one entry per channel; give ``axis``).
    """
    for label, v in (("rmin", rmin), ("rmax", rmax)):
        if isinstance(v, (str, bytes, bool, np.bool_)):
            raise TypeError(f"{label} must be a number (or per-channel array), got {type(v).__name__} {v!r}")
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)) or not 2 <= bits <= 32:
        raise ValueError(f"bits must be a whole number from 2 to 32, got {bits!r}")
    raw_min, raw_max = np.asarray(rmin, dtype=np.float64), np.asarray(rmax, dtype=np.float64)
    if raw_min.shape == raw_max.shape and np.any(raw_min > raw_max):
        raise ValueError(f"rmin must not exceed rmax, got rmin={rmin}, rmax={rmax} (swapped?)")
    rmin = np.minimum(raw_min, 0.0)
    rmax = np.maximum(raw_max, 0.0)
    if rmin.shape != rmax.shape:
        raise ValueError(f"rmin and rmax must have the same shape, got {rmin.shape} and {rmax.shape}")
    if not (np.all(np.isfinite(rmin)) and np.all(np.isfinite(rmax))):
        raise ValueError("the range must be finite (got inf or nan); clip or clean the tensor first")
    if rmin.ndim > 1:
        raise ValueError(f"rmin/rmax must be scalars or 1-d (per channel), got shape {rmin.shape}")
    if rmin.ndim == 1 and axis is None:
        raise ValueError("per-channel ranges (1-d rmin/rmax) need the channel axis: pass axis=...")
    narrow = symmetric if narrow_range is None else narrow_range
    qmin, qmax = qrange(bits, narrow)
    if symmetric:
        scale = np.maximum(-rmin, rmax) / qmax
        zero = np.zeros_like(scale, dtype=np.int64)
    else:
        scale = (rmax - rmin) / (qmax - qmin)
    scale = np.where(scale > 0, scale, 1.0)  # an all-zero tensor: any scale represents it exactly
    if not symmetric:
        zero = np.clip(np.round(qmin - rmin / scale), qmin, qmax).astype(np.int64)
    return QParams(scale.astype(np.float32), zero.astype(np.int64), int(bits), qmin, qmax,
                   None if scale.ndim == 0 else axis)


def choose_qparams(x: np.ndarray, bits: int = 8, symmetric: bool = False, axis: int | None = None,
                   narrow_range: bool | None = None) -> QParams:
    """Scale and zero point for tensor ``x`` from its min and max.

    ``axis=None``: one (s, z) for the whole tensor (per-tensor). ``axis=k``: one per index along
    dimension ``k`` (per-channel), e.g. ``axis=-1`` for the output channels of a Keras Conv2D kernel
    (kh, kw, c_in, c_out).
    """
    x = _real_array("x", x)
    if x.size == 0:
        raise ValueError("cannot choose quantization parameters for an empty tensor")
    if axis is None:
        return qparams_from_range(x.min(), x.max(), bits, symmetric, narrow_range)
    if not -x.ndim <= axis < x.ndim:
        raise ValueError(f"axis {axis} is out of range for a tensor of shape {x.shape}")
    axis = axis % x.ndim
    others = tuple(i for i in range(x.ndim) if i != axis)
    return qparams_from_range(x.min(axis=others), x.max(axis=others), bits, symmetric, narrow_range, axis)


def quantize(x: np.ndarray, qp: QParams) -> np.ndarray:
    """Real values -> integer codes: clamp(round(x / s) + z, q_min, q_max) (round half away from zero)."""
    if not isinstance(qp, QParams):
        raise TypeError(f"qp must be QParams (from qparams_from_range or choose_qparams), got {type(qp).__name__}")
    x = _real_array("x", x)
    if np.isnan(x).any():
        raise ValueError(f"x has {int(np.isnan(x).sum())} NaN value(s): a NaN has no integer code")
    if qp.axis is not None and (qp.axis >= x.ndim or x.shape[qp.axis] != qp.scale.size):
        raise ValueError(f"per-channel parameters with {qp.scale.size} channels on axis {qp.axis} do not fit "
                         f"a tensor of shape {x.shape}")
    scale, zero = qp.broadcast(x.ndim)
    q = round_half_away(x / scale) + zero
    return np.clip(q, qp.qmin, qp.qmax).astype(qp.dtype)


def dequantize(q: np.ndarray, qp: QParams) -> np.ndarray:
    """Integer codes -> real values: s · (q − z), as float32."""
    if not isinstance(qp, QParams):
        raise TypeError(f"qp must be QParams (from qparams_from_range or choose_qparams), got {type(qp).__name__}")
    q = np.asarray(q)
    if q.dtype.kind not in "iu":
        raise TypeError(f"q must hold integer codes, got dtype {q.dtype}")
    scale, zero = qp.broadcast(q.ndim)
    return ((q.astype(np.float64) - zero) * scale).astype(np.float32)


def fake_quantize(x: np.ndarray, bits: int = 8, symmetric: bool = False, axis: int | None = None) -> np.ndarray:
    """Quantize ``x`` with parameters from its own range and dequantize it again (numpy)."""
    qp = choose_qparams(x, bits, symmetric, axis)
    return dequantize(quantize(x, qp), qp)


def round_half_away(x: np.ndarray) -> np.ndarray:
    """Round to nearest, ties away from zero (C's ``round``, used by LiteRT), not numpy's ties-to-even."""
    x = np.asarray(x)
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


# --------------------------------------------------------------------------------------------------
# Quantization error
# --------------------------------------------------------------------------------------------------
def quantization_error(x: np.ndarray, bits: int = 8, symmetric: bool = False, axis: int | None = None) -> dict:
    """How much quantizing ``x`` costs: mean squared error, max |error|, and SQNR in dB.

    SQNR (signal-to-quantization-noise ratio) = 10·log10(mean(x²) / mean((x − x̂)²)); each extra bit
    adds about 6 dB. Returns a dict with keys ``mse``, ``max_abs``, ``sqnr_db``, ``rel_rmse``.
    """
    x = np.asarray(x, dtype=np.float64)
    err = fake_quantize(x, bits, symmetric, axis).astype(np.float64) - x
    mse = float(np.mean(err ** 2))
    power = float(np.mean(x ** 2))
    sqnr = float("inf") if mse == 0 else 10 * np.log10(power / mse) if power > 0 else float("-inf")
    return {"mse": mse, "max_abs": float(np.max(np.abs(err))), "sqnr_db": sqnr,
            "rel_rmse": float(np.sqrt(mse / power)) if power > 0 else 0.0}


def error_table(tensors: dict[str, tuple[np.ndarray, int]], bits: Sequence[int] = (8, 4, 2),
                symmetric: bool = True) -> pd.DataFrame:
    """Quantization error of several tensors, per tensor vs per channel, for each bit width.

    ``tensors`` maps a name to ``(array, channel_axis)``. One row per (tensor, bits, granularity)
    with the SQNR (dB, higher is better) and the relative RMS error.
    """
    rows = []
    for name, (arr, axis) in tensors.items():
        for b in bits:
            for gran, ax in (("per-tensor", None), ("per-channel", axis)):
                e = quantization_error(arr, b, symmetric, ax)
                rows.append({"tensor": name, "bits": b, "granularity": gran, "sqnr_db": e["sqnr_db"],
                             "rel_rmse": e["rel_rmse"]})
    return pd.DataFrame(rows)


def weight_tensors(model: keras.Model) -> dict[str, tuple[np.ndarray, int]]:
    """The kernels of a Keras model's conv/dense layers with their output-channel axis.

    Depthwise kernels (kh, kw, c_in, multiplier) are reshaped to (kh, kw, c_in·multiplier) so that
    the last axis is the channel, as LiteRT quantizes them. Returns ``{"layer/kernel": (array, axis)}``.
    """
    out = {}
    for layer in model.layers:
        if isinstance(layer, keras.layers.SeparableConv2D):
            dw = np.asarray(layer.depthwise_kernel)
            out[f"{layer.name}/depthwise"] = (dw.reshape(*dw.shape[:2], -1), -1)
            out[f"{layer.name}/pointwise"] = (np.asarray(layer.pointwise_kernel), -1)
        elif isinstance(layer, keras.layers.DepthwiseConv2D):
            dw = np.asarray(layer.kernel)
            out[f"{layer.name}/depthwise"] = (dw.reshape(*dw.shape[:2], -1), -1)
        elif isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense)):
            out[f"{layer.name}/kernel"] = (np.asarray(layer.kernel), -1)
    return out


def batchnorm_fold_factors(bn_layer: keras.layers.BatchNormalization) -> np.ndarray:
    """Per-channel factors γ / sqrt(σ² + ε) that a converter multiplies into the preceding conv's
    kernel when it folds an inference-mode batch norm (the shift goes into the bias)."""
    if not isinstance(bn_layer, keras.layers.BatchNormalization):
        raise TypeError(f"expected a BatchNormalization layer, got {type(bn_layer).__name__} '{bn_layer.name}'")
    gamma = np.asarray(bn_layer.gamma) if bn_layer.scale else 1.0
    var = np.asarray(bn_layer.moving_variance)
    return (gamma / np.sqrt(var + bn_layer.epsilon)).astype(np.float32)


def histogram_view(x: np.ndarray, bits: int = 4, symmetric: bool = True, per_channel: bool = False,
                   axis: int = -1) -> dict:
    """What a widget shows: the values, their fake-quantized version, and the error statistics."""
    xq = fake_quantize(x, bits, symmetric, axis if per_channel else None)
    stats = quantization_error(x, bits, symmetric, axis if per_channel else None)
    levels = np.unique(xq).size
    return {"x": np.asarray(x, np.float32).ravel(), "xq": xq.ravel(), "levels": int(levels), **stats}


# --------------------------------------------------------------------------------------------------
# Fixed-point requantization (gemmlowp / LiteRT reference kernels)
# --------------------------------------------------------------------------------------------------
def quantize_multiplier(real_multiplier) -> tuple[np.ndarray, np.ndarray]:
    """Write a positive real multiplier M as an int32 ``multiplier`` and a power-of-two ``shift``.

    M = multiplier · 2^(shift − 31), with multiplier in [2^30, 2^31): a Q0.31 fixed-point number
    between 0.5 and 1. ``shift`` < 0 means a right shift (M < 0.5, the usual case). Works on arrays
    (one multiplier per channel). Same as LiteRT's ``QuantizeMultiplier``.
    """
    m = np.asarray(real_multiplier, dtype=np.float64)
    if np.any(~np.isfinite(m)) or np.any(m < 0):
        raise ValueError(f"the real multiplier must be finite and >= 0, got {m}")
    frac, exp = np.frexp(m)                      # m = frac · 2^exp, frac in [0.5, 1)
    q = round_half_away(frac * 2.0 ** 31).astype(np.int64)
    carry = q == 2 ** 31                          # rounding reached 1.0: renormalise
    q = np.where(carry, q // 2, q)
    exp = np.where(carry, exp + 1, exp)
    tiny = exp < -31                              # too small to represent: multiplier 0
    q = np.where(tiny | (m == 0), 0, q)
    exp = np.where(tiny | (m == 0), 0, exp)
    return q.astype(np.int64), exp.astype(np.int64)


def saturating_rounding_doubling_high_mul(a, b) -> np.ndarray:
    """The high 32 bits of 2·a·b, rounded to nearest: (a·b + 2^30) >> 31 (gemmlowp's SRDHM).

    a and b are int32 values (held in int64 arrays); the only overflow case, a = b = −2^31,
    saturates to 2^31 − 1.
    """
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    overflow = (a == INT32_MIN) & (b == INT32_MIN)
    ab = a * b
    nudge = np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    s = ab + nudge
    # C integer division truncates toward zero; numpy's >> floors, so handle negatives separately
    high = np.where(s >= 0, s >> 31, -((-s) >> 31))
    return np.where(overflow, INT32_MAX, high).astype(np.int64)


def rounding_divide_by_pot(x, exponent) -> np.ndarray:
    """x / 2^exponent rounded to nearest, ties away from zero (gemmlowp's RoundingDivideByPOT)."""
    x = np.asarray(x, dtype=np.int64)
    exponent = np.asarray(exponent, dtype=np.int64)
    if np.any(exponent < 0) or np.any(exponent > 31):
        raise ValueError(f"exponent must be in [0, 31], got {exponent}")
    mask = (np.int64(1) << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (x < 0)
    return (x >> exponent) + (remainder > threshold)


def multiply_by_quantized_multiplier(x, multiplier, shift) -> np.ndarray:
    """x · M for an int32 accumulator x and M given as (multiplier, shift) from :func:`quantize_multiplier`.

    Integer-only: a left shift (if shift > 0), a rounding doubling high multiply, and a rounding
    right shift, as in LiteRT's ``MultiplyByQuantizedMultiplier`` (Jacob et al. 2018, section 2.2).
    """
    x = np.asarray(x, dtype=np.int64)
    shift = np.asarray(shift, dtype=np.int64)
    left = np.maximum(shift, 0)
    right = np.maximum(-shift, 0)
    shifted = np.clip(x * (np.int64(1) << left), INT32_MIN, INT32_MAX)
    return rounding_divide_by_pot(saturating_rounding_doubling_high_mul(shifted, multiplier), right)


def activation_bounds(out_qp: QParams, activation: str | None = None) -> tuple[int, int]:
    """Integer clamp range of a fused activation: ReLU clamps at the code of 0.0 (the zero point),
    ReLU6 also at the code of 6.0; no activation keeps the full range."""
    zero = int(out_qp.zero_point)
    scale = float(out_qp.scale)
    if activation in (None, "linear", "none"):
        return out_qp.qmin, out_qp.qmax
    if activation == "relu":
        return max(out_qp.qmin, zero), out_qp.qmax
    if activation == "relu6":
        return max(out_qp.qmin, zero), min(out_qp.qmax, zero + int(round_half_away(6.0 / scale)))
    raise ValueError(f"activation must be None, 'relu' or 'relu6', got {activation!r}")


def requantize(acc, multiplier, shift, out_qp: QParams, activation: str | None = None) -> np.ndarray:
    """int32 accumulator -> int8 output: (acc · M) + z_out, clamped to the activation's range.

    ``multiplier``/``shift`` may be per output channel (they broadcast along the last axis).
    """
    lo, hi = activation_bounds(out_qp, activation)
    out = multiply_by_quantized_multiplier(acc, multiplier, shift) + int(out_qp.zero_point)
    return np.clip(out, lo, hi).astype(out_qp.dtype)


def quantize_bias(bias: np.ndarray, input_scale: float, weight_scale) -> np.ndarray:
    """Float bias -> int32 at scale s_in·s_w (zero point 0), so it adds straight onto the accumulator."""
    s = np.float64(input_scale) * np.asarray(weight_scale, dtype=np.float64)
    q = round_half_away(np.asarray(bias, dtype=np.float64) / s)
    return np.clip(q, INT32_MIN, INT32_MAX).astype(np.int32)


# --------------------------------------------------------------------------------------------------
# Integer layers
# --------------------------------------------------------------------------------------------------
def _check_int(name: str, a: np.ndarray, kinds=("i",)) -> np.ndarray:
    a = np.asarray(a)
    if a.dtype.kind not in kinds:
        raise TypeError(f"{name} must hold integers (the int8 codes), got dtype {a.dtype}")
    return a


def _same_padding(size: int, k: int, stride: int) -> tuple[int, int, int]:
    out = -(-size // stride)
    total = max((out - 1) * stride + k - size, 0)
    return out, total // 2, total - total // 2


def int_conv2d(x_q: np.ndarray, x_zero_point: int, w_q: np.ndarray, w_zero_point: int = 0,
               strides: int | tuple[int, int] = 1, padding: str = "same") -> np.ndarray:
    """Integer 2-D convolution: Σ (x_q − z_x)·(w_q − z_w) in int32 (no bias, no rescaling).

    ``x_q``: (N, H, W, C_in) int8; ``w_q``: (kh, kw, C_in, C_out) int8 (Keras layout; LiteRT stores
    (C_out, kh, kw, C_in), use ``w.transpose(1, 2, 3, 0)``). "same" padding pads with the zero point
    z_x, i.e. with real 0. Products are summed in float64 BLAS, which is exact for integers below
    2^53, then returned as int32 (an overflow of int32 raises).
    """
    x_q = _check_int("x_q", x_q)
    w_q = _check_int("w_q", w_q)
    if x_q.ndim != 4 or w_q.ndim != 4:
        raise ValueError(f"int_conv2d needs x (N, H, W, C) and w (kh, kw, C_in, C_out), got {x_q.shape} and {w_q.shape}")
    if x_q.shape[-1] != w_q.shape[2]:
        raise ValueError(f"input has {x_q.shape[-1]} channels but the kernel expects {w_q.shape[2]} (kernel {w_q.shape})")
    sh, sw = (strides, strides) if isinstance(strides, int) else strides
    kh, kw = w_q.shape[:2]
    x = x_q.astype(np.float64) - x_zero_point
    if padding == "same":
        oh, top, bottom = _same_padding(x.shape[1], kh, sh)
        ow, left, right = _same_padding(x.shape[2], kw, sw)
        x = np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))  # 0 after subtracting z_x
    elif padding != "valid":
        raise ValueError(f"padding must be 'same' or 'valid', got {padding!r}")
    win = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(1, 2))[:, ::sh, ::sw]
    # win: (N, OH, OW, C_in, kh, kw)
    w = w_q.astype(np.float64) - w_zero_point
    acc = np.tensordot(win, w.transpose(2, 0, 1, 3), axes=([3, 4, 5], [0, 1, 2]))
    return _to_int32(acc)


def int_dense(x_q: np.ndarray, x_zero_point: int, w_q: np.ndarray, w_zero_point: int = 0) -> np.ndarray:
    """Integer matrix product Σ (x_q − z_x)·(w_q − z_w) in int32. ``w_q``: (C_in, C_out) (Keras layout;
    LiteRT's FULLY_CONNECTED stores (C_out, C_in), use ``w.T``)."""
    x_q = _check_int("x_q", x_q)
    w_q = _check_int("w_q", w_q)
    if x_q.shape[-1] != w_q.shape[0]:
        raise ValueError(f"input has {x_q.shape[-1]} features but the weights expect {w_q.shape[0]} (weights {w_q.shape})")
    acc = (x_q.astype(np.float64) - x_zero_point) @ (w_q.astype(np.float64) - w_zero_point)
    return _to_int32(acc)


def _to_int32(acc: np.ndarray) -> np.ndarray:
    if acc.size and (acc.max() > INT32_MAX or acc.min() < INT32_MIN):
        raise OverflowError("the accumulator overflowed int32; the layer has too many inputs per output")
    return np.rint(acc).astype(np.int32)


def _layer(acc, x_qp: QParams, w_qp: QParams, bias_q, out_qp: QParams, activation):
    if bias_q is not None:
        acc = acc.astype(np.int64) + _check_int("bias_q", bias_q)
    real = np.float64(x_qp.scale) * w_qp.scale.astype(np.float64) / np.float64(out_qp.scale)
    multiplier, shift = quantize_multiplier(real)
    return requantize(acc, multiplier, shift, out_qp, activation)


def quantized_conv2d(x_q: np.ndarray, x_qp: QParams, w_q: np.ndarray, w_qp: QParams, bias_q: np.ndarray | None,
                     out_qp: QParams, strides: int | tuple[int, int] = 1, padding: str = "same",
                     activation: str | None = None) -> np.ndarray:
    """A whole int8 Conv2D: int32 accumulate, add int32 bias, requantize per output channel to int8.

    The real multiplier of channel c is M_c = s_x · s_w[c] / s_out, applied in fixed point.
    ``w_qp`` must be symmetric (zero point 0), per tensor or per output channel, as LiteRT stores it.
    """
    if np.any(w_qp.zero_point != 0):
        raise ValueError("weights must be quantized symmetrically (zero point 0), as LiteRT does")
    acc = int_conv2d(x_q, int(x_qp.zero_point), w_q, 0, strides, padding)
    return _layer(acc, x_qp, w_qp, bias_q, out_qp, activation)


def quantized_dense(x_q: np.ndarray, x_qp: QParams, w_q: np.ndarray, w_qp: QParams, bias_q: np.ndarray | None,
                    out_qp: QParams, activation: str | None = None) -> np.ndarray:
    """A whole int8 Dense / FULLY_CONNECTED layer (``w_q`` in Keras layout (C_in, C_out))."""
    if np.any(w_qp.zero_point != 0):
        raise ValueError("weights must be quantized symmetrically (zero point 0), as LiteRT does")
    acc = int_dense(x_q, int(x_qp.zero_point), w_q, 0)
    return _layer(acc, x_qp, w_qp, bias_q, out_qp, activation)


def int_max_pool2d(x_q: np.ndarray, pool: int = 2) -> np.ndarray:
    """2x2 (``pool``) max pooling, stride = pool, on int8 codes. No arithmetic: the scale and zero
    point stay the same, and the max of the codes is the code of the max."""
    x_q = _check_int("x_q", x_q)
    n, h, w, c = x_q.shape
    if h % pool or w % pool:
        raise ValueError(f"int_max_pool2d needs height and width divisible by {pool}, got {x_q.shape}")
    return x_q.reshape(n, h // pool, pool, w // pool, pool, c).max(axis=(2, 4))


def quantized_mean(x_q: np.ndarray, x_qp: QParams, out_qp: QParams, axis=(1, 2)) -> np.ndarray:
    """int8 mean over ``axis`` (global average pooling), integer-only, as LiteRT's MEAN kernel does it.

    Sum the codes in int32, subtract z_in once per element, and multiply by M = s_in / (n·s_out)
    in fixed point, where the division by the count n is folded into the multiplier
    (multiplier · 2^k // n with 2^k <= n); then add z_out and clamp.
    """
    x_q = _check_int("x_q", x_q)
    count = int(np.prod([x_q.shape[a] for a in np.atleast_1d(axis)]))
    shifted_sum = x_q.astype(np.int64).sum(axis=axis) - int(x_qp.zero_point) * count
    multiplier, shift = (int(v) for v in quantize_multiplier(float(x_qp.scale) / float(out_qp.scale)))
    k = min(count.bit_length() - 1, 32, 31 + shift)
    multiplier = (multiplier << k) // count
    out = multiply_by_quantized_multiplier(shifted_sum, multiplier, shift - k) + int(out_qp.zero_point)
    return np.clip(out, out_qp.qmin, out_qp.qmax).astype(out_qp.dtype)


def tensor_qparams(detail: dict) -> QParams:
    """QParams of a LiteRT tensor from ``interpreter.get_tensor_details()`` (or input/output details).

    Per-channel tensors (several scales) get ``axis`` = the tensor's ``quantized_dimension``.
    """
    qp = detail.get("quantization_parameters", {})
    scales = np.asarray(qp.get("scales", []), dtype=np.float32)
    zeros = np.asarray(qp.get("zero_points", []), dtype=np.int64)
    if scales.size == 0:
        raise ValueError(f"tensor '{detail.get('name')}' is not quantized (no scales); it is {detail.get('dtype')}")
    dtype = np.dtype(detail["dtype"])
    bits = 8 * dtype.itemsize
    qmin, qmax = int(np.iinfo(dtype).min), int(np.iinfo(dtype).max)
    if scales.size == 1:
        return QParams(scales[0], zeros[0], bits, qmin, qmax, None)
    return QParams(scales, zeros, bits, qmin, qmax, int(qp.get("quantized_dimension", 0)))


# --------------------------------------------------------------------------------------------------
# Fake quantization for quantization-aware training (Keras 3)
# --------------------------------------------------------------------------------------------------
def fake_quant_range(x, rmin, rmax, bits: int = 8):
    """Asymmetric fake quantization of ``x`` to the range [rmin, rmax] (widened to contain 0).

    Forward: round to the nearest of the 2^bits levels (values outside are clipped). Backward:
    the straight-through estimator, gradient 1 inside the range and 0 where the value was clipped.
    """
    qmin, qmax = qrange(bits)
    rmin = ops.minimum(ops.cast(rmin, x.dtype), 0.0)
    rmax = ops.maximum(ops.cast(rmax, x.dtype), 0.0)
    scale = ops.maximum((rmax - rmin) / (qmax - qmin), 1e-8)
    zero = ops.clip(ops.round(qmin - rmin / scale), qmin, qmax)
    lo, hi = (qmin - zero) * scale, (qmax - zero) * scale
    lo, hi = ops.stop_gradient(lo), ops.stop_gradient(hi)
    scale = ops.stop_gradient(scale)
    clipped = ops.clip(x, lo, hi)
    return clipped + ops.stop_gradient(ops.round(clipped / scale) * scale - clipped)


def fake_quant_weights(w, bits: int = 8, per_channel: bool = True):
    """Symmetric (narrow-range) fake quantization of a kernel, per output channel (last axis) or per
    tensor, as LiteRT quantizes weights. Straight-through gradient (identity)."""
    _, qmax = qrange(bits, narrow_range=True)
    absw = ops.abs(w)
    if per_channel:
        amax = ops.max(absw, axis=tuple(range(len(w.shape) - 1)), keepdims=True)
    else:
        amax = ops.max(absw)
    scale = ops.stop_gradient(ops.maximum(amax / qmax, 1e-12))
    q = ops.clip(ops.round(w / scale), -qmax, qmax)
    return w + ops.stop_gradient(q * scale - w)


class FakeQuant(keras.layers.Layer):
    """Fake-quantize an activation to ``bits`` bits with a range learned from the data.

    While training, the range [min, max] follows an exponential moving average of each batch's
    min and max (``momentum``); at inference the stored range is used. Before it has seen any
    training batch the layer passes values through unchanged. Gradient: straight-through.
    """

    def __init__(self, bits: int = 8, momentum: float = 0.99, **kwargs):
        super().__init__(**kwargs)
        qrange(bits)  # validates bits
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"momentum must be in [0, 1), got {momentum}")
        self.bits = int(bits)
        self.momentum = float(momentum)

    def build(self, input_shape):
        self.range_min = self.add_weight(name="range_min", shape=(), initializer="zeros", trainable=False)
        self.range_max = self.add_weight(name="range_max", shape=(), initializer="zeros", trainable=False)
        self.seen = self.add_weight(name="seen", shape=(), initializer="zeros", trainable=False)

    def call(self, x, training=None):
        if training:
            bmin = ops.cast(ops.min(x), "float32")
            bmax = ops.cast(ops.max(x), "float32")
            first = ops.equal(self.seen, 0.0)
            m = self.momentum
            new_min = ops.where(first, bmin, m * self.range_min + (1 - m) * bmin)
            new_max = ops.where(first, bmax, m * self.range_max + (1 - m) * bmax)
            self.range_min.assign(new_min)
            self.range_max.assign(new_max)
            self.seen.assign(1.0)
            return fake_quant_range(x, new_min, new_max, self.bits)
        quantized = fake_quant_range(x, self.range_min, self.range_max, self.bits)
        return ops.where(ops.greater(self.seen, 0.0), quantized, x)

    def compute_output_shape(self, input_shape):
        return input_shape

    def count_macs(self, input_shapes, output_shape) -> int:
        """Fake quantization is an element-wise op: no multiply-accumulates."""
        return 0

    def get_config(self):
        return {**super().get_config(), "bits": self.bits, "momentum": self.momentum}


class QConv2D(keras.layers.Conv2D):
    """A Conv2D whose kernel is fake-quantized (symmetric, per output channel) in every forward pass.

    It has exactly the weights of a Conv2D (kernel, bias), so trained weights can be copied into a
    plain Conv2D with :func:`transfer_weights`.
    """

    def __init__(self, *args, weight_bits: int = 8, **kwargs):
        super().__init__(*args, **kwargs)
        qrange(weight_bits)
        self.weight_bits = int(weight_bits)

    def call(self, inputs):
        kernel = fake_quant_weights(self.kernel, self.weight_bits, per_channel=True)
        outputs = self.convolution_op(inputs, kernel)
        if self.use_bias:
            outputs = ops.add(outputs, ops.reshape(self.bias, (1,) * (self.rank + 1) + (self.filters,)))
        if self.activation is not None:
            outputs = self.activation(outputs)
        return outputs

    def quantized_kernel(self) -> np.ndarray:
        """The kernel as the forward pass uses it: fake-quantized (dequantized values), numpy."""
        return np.asarray(fake_quant_weights(self.kernel, self.weight_bits, per_channel=True))

    def count_macs(self, input_shapes, output_shape) -> int:
        """Same cost as a Conv2D: kh·kw·(C_in/groups)·C_out per output position."""
        k = int(np.prod(self.kernel_size))
        spatial = int(np.prod(output_shape[1:-1]))
        return k * (input_shapes[0][-1] // self.groups) * self.filters * spatial

    def get_config(self):
        return {**super().get_config(), "weight_bits": self.weight_bits}


class QDense(keras.layers.Dense):
    """A Dense layer whose kernel is fake-quantized (symmetric, per output unit by default)."""

    def __init__(self, *args, weight_bits: int = 8, per_channel: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        qrange(weight_bits)
        self.weight_bits = int(weight_bits)
        self.per_channel = bool(per_channel)

    def call(self, inputs, training=None):
        kernel = fake_quant_weights(self.kernel, self.weight_bits, self.per_channel)
        x = ops.matmul(inputs, kernel)
        if self.bias is not None:
            x = ops.add(x, self.bias)
        if self.activation is not None:
            x = self.activation(x)
        return x

    def quantized_kernel(self) -> np.ndarray:
        """The kernel as the forward pass uses it: fake-quantized (dequantized values), numpy."""
        return np.asarray(fake_quant_weights(self.kernel, self.weight_bits, self.per_channel))

    def count_macs(self, input_shapes, output_shape) -> int:
        """Same cost as a Dense layer: C_in·C_out per position."""
        positions = int(np.prod(input_shapes[0][1:-1])) if len(input_shapes[0]) > 2 else 1
        return positions * input_shapes[0][-1] * self.units

    def get_config(self):
        return {**super().get_config(), "weight_bits": self.weight_bits, "per_channel": self.per_channel}


def transfer_weights(source: keras.Model, target: keras.Model, bake_quantized: bool = False,
                     skip: Iterable[type] = (FakeQuant,)) -> list[str]:
    """Copy weights layer by layer, matched by name, from ``source`` into ``target``.

    Use it to start a QAT model from a trained float model, and to move a QAT model's trained
    weights into a plain float model of the same architecture before converting it. With
    ``bake_quantized=True`` the kernels of :class:`QConv2D`/:class:`QDense` layers are copied
    *fake-quantized* (the values the QAT forward pass used), not the float "shadow" weights the
    optimizer updates; this matters when the QAT bit width is below 8. Layers of the types in
    ``skip`` are ignored. Returns the names of the layers copied; raises if a layer is missing or
    the shapes differ.
    """
    skip = tuple(skip)
    src = {layer.name: layer for layer in source.layers}
    copied = []
    for layer in target.layers:
        if not layer.weights or isinstance(layer, skip):
            continue
        if layer.name not in src:
            raise KeyError(f"layer '{layer.name}' of '{target.name}' has no namesake in '{source.name}'")
        source_layer = src[layer.name]
        weights = source_layer.get_weights()
        if bake_quantized and hasattr(source_layer, "quantized_kernel"):
            weights[0] = source_layer.quantized_kernel()
        expected = [tuple(w.shape) for w in layer.weights]
        if [tuple(w.shape) for w in weights] != expected:
            raise ValueError(f"layer '{layer.name}': source weights {[w.shape for w in weights]} do not fit "
                             f"target weights {expected}")
        layer.set_weights(weights)
        copied.append(layer.name)
    return copied


def qat_small_cnn(input_shape: Sequence[int] = (28, 28, 1), classes: int = 10, widths: Sequence[int] = (16, 32, 64),
                  weight_bits: int = 8, activation_bits: int = 8, name: str = "qat_cnn") -> keras.Model:
    """The quantization-aware twin of ``models.small_cnn`` (standard convs): same layer names and
    weights, plus :class:`FakeQuant` on the input, after every ReLU, after pooling and on the logits,
    and :class:`QConv2D` / :class:`QDense` whose kernels are fake-quantized per output channel.

    Weight quantization per channel commutes with folding the batch norm into the conv (each
    channel is only rescaled), so fake-quantizing the unfolded kernel is what the converter will see.
    """
    def fq(x, label):
        return FakeQuant(activation_bits, name=label)(x)

    inputs = keras.Input(tuple(input_shape), name="image")
    x = fq(inputs, "fq_input")
    for i, width in enumerate(widths):
        x = QConv2D(width, 3, padding="same", use_bias=False, weight_bits=weight_bits, name=f"conv{i + 1}")(x)
        x = keras.layers.BatchNormalization(momentum=0.9, name=f"bn{i + 1}")(x)
        x = keras.layers.ReLU(name=f"relu{i + 1}")(x)
        x = fq(x, f"fq{i + 1}")
        if i < len(widths) - 1:
            x = keras.layers.MaxPooling2D(2, name=f"pool{i + 1}")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    x = fq(x, "fq_gap")
    x = QDense(classes, weight_bits=weight_bits, name="logits")(x)
    outputs = fq(x, "fq_logits")
    return keras.Model(inputs, outputs, name=name)


def calibrate_fake_quant(model: keras.Model, x: np.ndarray, batch_size: int = 256) -> dict[str, tuple[float, float]]:
    """Set every :class:`FakeQuant` layer's range to the min and max its input takes on ``x``.

    This is post-training calibration inside a fake-quantized Keras model (no weights change, batch
    norm untouched): use it to simulate post-training quantization at any bit width. Returns
    ``{layer name: (min, max)}``.
    """
    layers = [layer for layer in model.layers if isinstance(layer, FakeQuant)]
    if not layers:
        raise ValueError(f"model '{model.name}' has no FakeQuant layers to calibrate")
    probe = keras.Model(model.inputs, [layer.input for layer in layers])
    outs = probe.predict(x, batch_size=batch_size, verbose=0)
    outs = outs if isinstance(outs, (list, tuple)) else [outs]
    ranges = {}
    for layer, values in zip(layers, outs):
        lo, hi = float(np.min(values)), float(np.max(values))
        layer.range_min.assign(lo)
        layer.range_max.assign(hi)
        layer.seen.assign(1.0)
        ranges[layer.name] = (lo, hi)
    return ranges
