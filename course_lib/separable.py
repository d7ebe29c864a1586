"""Depthwise-separable convolution (MobileNets): costs, parameters, the factorization, a latency sweep.

Notation of the MobileNets paper (Howard et al. 2017), used everywhere in this module:

- ``dk``: kernel size (a ``dk x dk`` kernel),
- ``m``: input channels, ``n``: output channels,
- ``df``: spatial size of the (square) output feature map (stride 1, "same" padding: equal to the input).

A standard convolution costs ``dk^2 * m * n * df^2`` multiply-accumulates (MACs). A depthwise
convolution (one ``dk x dk`` filter per input channel) costs ``dk^2 * m * df^2``; the pointwise
(1x1) convolution that mixes channels afterwards costs ``m * n * df^2``. Their ratio is
``1/n + 1/dk^2``.

The functions here are pure and tested; the notebook ``02_depthwise_separable`` builds on them.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

# --------------------------------------------------------------------------- costs by formula


def _check_positive(**values: int) -> None:
    for name, value in values.items():
        if int(value) != value or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")


def standard_conv_macs(dk: int, m: int, n: int, df: int) -> int:
    """MACs of a standard ``dk x dk`` convolution, ``m`` -> ``n`` channels, on a ``df x df`` output."""
    _check_positive(dk=dk, m=m, n=n, df=df)
    return int(dk) ** 2 * int(m) * int(n) * int(df) ** 2


def depthwise_conv_macs(dk: int, m: int, df: int) -> int:
    """MACs of a depthwise ``dk x dk`` convolution: one filter per input channel (``m`` of them)."""
    _check_positive(dk=dk, m=m, df=df)
    return int(dk) ** 2 * int(m) * int(df) ** 2


def pointwise_conv_macs(m: int, n: int, df: int) -> int:
    """MACs of a pointwise (1x1) convolution, ``m`` -> ``n`` channels, on a ``df x df`` map."""
    _check_positive(m=m, n=n, df=df)
    return int(m) * int(n) * int(df) ** 2


def separable_conv_macs(dk: int, m: int, n: int, df: int) -> int:
    """MACs of a depthwise-separable convolution: depthwise ``dk^2*m*df^2`` + pointwise ``m*n*df^2``."""
    return depthwise_conv_macs(dk, m, df) + pointwise_conv_macs(m, n, df)


def cost_ratio(dk: int, m: int, n: int, df: int) -> float:
    """Separable / standard MACs, computed from the two counts (equals ``1/n + 1/dk^2``)."""
    return separable_conv_macs(dk, m, n, df) / standard_conv_macs(dk, m, n, df)


def cost_ratio_formula(dk: int, n: int) -> float:
    """The closed form ``1/n + 1/dk^2`` of the MobileNets paper (independent of ``m`` and ``df``)."""
    _check_positive(dk=dk, n=n)
    return 1.0 / n + 1.0 / dk ** 2


def standard_conv_params(dk: int, m: int, n: int, bias: bool = False) -> int:
    """Weights of a standard convolution: ``dk^2 * m * n`` (+ ``n`` biases)."""
    _check_positive(dk=dk, m=m, n=n)
    return dk * dk * m * n + (n if bias else 0)


def separable_conv_params(dk: int, m: int, n: int, bias: bool = False) -> int:
    """Weights of a depthwise-separable convolution: ``dk^2 * m`` + ``m * n`` (+ ``n`` biases)."""
    _check_positive(dk=dk, m=m, n=n)
    return dk * dk * m + m * n + (n if bias else 0)


def cost_summary(dk: int, m: int, n: int, df: int) -> dict[str, float]:
    """Everything the slider widget shows, as numbers: MACs of each part, params, ratio, speed-up.

    >>> cost_summary(3, 32, 64, 56)["ratio"]  # doctest: +ELLIPSIS
    0.1267...
    """
    std = standard_conv_macs(dk, m, n, df)
    dw, pw = depthwise_conv_macs(dk, m, df), pointwise_conv_macs(m, n, df)
    return {
        "standard MACs": std,
        "depthwise MACs": dw,
        "pointwise MACs": pw,
        "separable MACs": dw + pw,
        "ratio": (dw + pw) / std,
        "ratio formula": cost_ratio_formula(dk, n),
        "MAC reduction (x)": std / (dw + pw),
        "depthwise share": dw / (dw + pw),
        "standard params": standard_conv_params(dk, m, n),
        "separable params": separable_conv_params(dk, m, n),
    }


def describe_costs(dk: int, m: int, n: int, df: int) -> str:
    """The widget's text: both costs, the ratio and its closed form, for one setting of the sliders."""
    s = cost_summary(dk, m, n, df)
    return "\n".join([
        f"Dk={dk}, M={m}, N={n}, Df={df}",
        f"standard  : Dk²·M·N·Df²          = {s['standard MACs']:>15,} MACs, {s['standard params']:>9,} params",
        f"separable : Dk²·M·Df² + M·N·Df²  = {s['separable MACs']:>15,} MACs, {s['separable params']:>9,} params",
        f"            depthwise {s['depthwise MACs']:,} + pointwise {s['pointwise MACs']:,} "
        f"(depthwise share {s['depthwise share']:.1%})",
        f"ratio separable/standard = {s['ratio']:.4f} = 1/N + 1/Dk² = 1/{n} + 1/{dk * dk} "
        f"= {s['ratio formula']:.4f}  ->  {s['MAC reduction (x)']:.2f}x fewer MACs",
    ])


def plot_costs(dk: int, m: int, n: int, df: int, ax=None):
    """Bar chart of standard vs depthwise + pointwise MACs (stacked) for one setting of the sliders."""
    import matplotlib.pyplot as plt

    from . import plots

    s = cost_summary(dk, m, n, df)
    if ax is None:
        _, ax = plt.subplots(figsize=(5.2, 3.2))
    plots.axes(f"Dk={dk}, M={m}, N={n}, Df={df}: {s['MAC reduction (x)']:.1f}x fewer MACs",
               "", "MACs (millions)", ax=ax)
    ax.bar(["standard"], [s["standard MACs"] / 1e6], color=plots.PALETTE[0], label="standard")
    ax.bar(["separable"], [s["depthwise MACs"] / 1e6], color=plots.PALETTE[1], label="depthwise")
    ax.bar(["separable"], [s["pointwise MACs"] / 1e6], bottom=[s["depthwise MACs"] / 1e6],
           color=plots.PALETTE[2], label="pointwise")
    ax.legend(loc="upper right")
    return ax


# --------------------------------------------------------------------------- the factorization


def equivalent_kernel(depthwise_kernel: np.ndarray, pointwise_kernel: np.ndarray) -> np.ndarray:
    """The standard-conv kernel that computes exactly what depthwise-then-pointwise computes.

    Keras shapes: ``depthwise_kernel`` is ``(dk, dk, m, d)`` (``d`` = depth multiplier, usually 1),
    ``pointwise_kernel`` is ``(1, 1, m*d, n)``. Depthwise output channel ``c*d + j`` comes from input
    channel ``c``, so ``K[y, x, c, o] = sum_j D[y, x, c, j] * P[0, 0, c*d + j, o]``: for every input
    channel, the ``dk x dk x n`` block of ``K`` is a spatial filter times a channel-mixing vector
    (an outer product, rank 1 when ``d = 1``). Returns shape ``(dk, dk, m, n)``.
    """
    dw = np.asarray(depthwise_kernel)
    pw = np.asarray(pointwise_kernel)
    if dw.ndim != 4:
        raise ValueError(f"depthwise_kernel must have shape (dk, dk, m, depth_multiplier), got {dw.shape}")
    if pw.ndim != 4 or pw.shape[:2] != (1, 1):
        raise ValueError(f"pointwise_kernel must have shape (1, 1, m*depth_multiplier, n), got {pw.shape}")
    kh, kw, m, d = dw.shape
    if pw.shape[2] != m * d:
        raise ValueError(f"pointwise_kernel has {pw.shape[2]} input channels but the depthwise kernel "
                         f"{dw.shape} produces m*depth_multiplier = {m * d}")
    p = pw[0, 0].reshape(m, d, pw.shape[3])  # (m, d, n): row c*d + j -> [c, j]
    return np.einsum("yxcj,cjn->yxcn", dw, p)


def rank1_energy(kernel: np.ndarray) -> np.ndarray:
    """For each input channel ``c``: the share of ``kernel[:, :, c, :]``'s energy (squared Frobenius
    norm) captured by its best rank-1 approximation, i.e. ``s1^2 / sum(s^2)`` of its singular values.

    A depthwise-separable layer (depth multiplier 1) can only make kernels where this is 1.0 for
    every channel; a general standard kernel scores lower. Channels with an all-zero block score 1.
    """
    k = np.asarray(kernel, dtype=np.float64)
    if k.ndim != 4:
        raise ValueError(f"kernel must have shape (dk, dk, m, n), got {k.shape}")
    kh, kw, m, n = k.shape
    out = np.ones(m)
    for c in range(m):
        s = np.linalg.svd(k[:, :, c, :].reshape(kh * kw, n), compute_uv=False)
        total = float(np.sum(s ** 2))
        if total > 0:
            out[c] = s[0] ** 2 / total
    return out


def best_separable_approximation(kernel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The depthwise ``(dk, dk, m, 1)`` and pointwise ``(1, 1, m, n)`` kernels whose equivalent kernel
    is closest (least squares) to a standard ``(dk, dk, m, n)`` kernel: a rank-1 SVD per input channel.
    For a kernel that is already separable, ``equivalent_kernel`` of the result reproduces it.
    """
    k = np.asarray(kernel, dtype=np.float64)
    if k.ndim != 4:
        raise ValueError(f"kernel must have shape (dk, dk, m, n), got {k.shape}")
    kh, kw, m, n = k.shape
    dw = np.zeros((kh, kw, m, 1))
    pw = np.zeros((1, 1, m, n))
    for c in range(m):
        u, s, vt = np.linalg.svd(k[:, :, c, :].reshape(kh * kw, n), full_matrices=False)
        dw[:, :, c, 0] = (u[:, 0] * s[0]).reshape(kh, kw)
        pw[0, 0, c, :] = vt[0]
    dtype = np.asarray(kernel).dtype if np.issubdtype(np.asarray(kernel).dtype, np.floating) else np.float64
    return dw.astype(dtype), pw.astype(dtype)


# --------------------------------------------------------------------------- layers and models


def conv_layer_model(kind: str, dk: int, m: int, n: int, df: int, seed: int = 0):
    """A one-layer Keras model on a ``(df, df, m)`` input (stride 1, "same" padding, no bias).

    ``kind`` is ``"standard"`` (Conv2D), ``"separable"`` (SeparableConv2D), ``"depthwise"``
    (DepthwiseConv2D alone) or ``"pointwise"`` (1x1 Conv2D alone). Weights are random (seeded).
    """
    import keras

    _check_positive(dk=dk, m=m, n=n, df=df)
    init = keras.initializers.GlorotUniform(seed=seed)
    if kind == "standard":
        layer = keras.layers.Conv2D(n, dk, padding="same", use_bias=False, kernel_initializer=init, name="conv")
    elif kind == "separable":
        layer = keras.layers.SeparableConv2D(n, dk, padding="same", use_bias=False, depthwise_initializer=init,
                                             pointwise_initializer=init, name="sepconv")
    elif kind == "depthwise":
        layer = keras.layers.DepthwiseConv2D(dk, padding="same", use_bias=False, depthwise_initializer=init,
                                             name="depthwise")
    elif kind == "pointwise":
        layer = keras.layers.Conv2D(n, 1, use_bias=False, kernel_initializer=init, name="pointwise")
    else:
        raise ValueError(f"kind must be 'standard', 'separable', 'depthwise' or 'pointwise', not {kind!r}")
    inputs = keras.Input((df, df, m), name="x")
    return keras.Model(inputs, layer(inputs), name=f"{kind}_k{dk}_m{m}_n{n}_df{df}")


def formula_vs_profile(configs: Iterable[Sequence[int]]) -> pd.DataFrame:
    """For each ``(dk, m, n, df)``: MACs and params from the formulas and from ``course_lib.profile``
    on real Keras layers, with a column saying whether they are equal."""
    from . import profile

    rows = []
    for dk, m, n, df in configs:
        std = conv_layer_model("standard", dk, m, n, df)
        sep = conv_layer_model("separable", dk, m, n, df)
        rows.append({
            "Dk": dk, "M": m, "N": n, "Df": df,
            "standard MACs (formula)": standard_conv_macs(dk, m, n, df),
            "standard MACs (profile)": profile.count_macs(std),
            "separable MACs (formula)": separable_conv_macs(dk, m, n, df),
            "separable MACs (profile)": profile.count_macs(sep),
            "standard params (formula)": standard_conv_params(dk, m, n),
            "standard params (Keras)": profile.count_params(std),
            "separable params (formula)": separable_conv_params(dk, m, n),
            "separable params (Keras)": profile.count_params(sep),
        })
    table = pd.DataFrame(rows)
    table["all equal"] = (
        (table["standard MACs (formula)"] == table["standard MACs (profile)"])
        & (table["separable MACs (formula)"] == table["separable MACs (profile)"])
        & (table["standard params (formula)"] == table["standard params (Keras)"])
        & (table["separable params (formula)"] == table["separable params (Keras)"]))
    return table


# --------------------------------------------------------------------------- latency


def arithmetic_intensity(kind: str, dk: int, m: int, n: int, df: int, dtype_bytes: int = 4) -> float:
    """MACs per byte of memory traffic (input + output + weights, each read or written once).

    A rough roofline measure: below a few MACs per byte a CPU waits on memory rather than on its
    multipliers, so fewer MACs need not mean proportionally less time. Depthwise layers sit at about
    ``dk^2 / (2 * dtype_bytes)``; standard and pointwise layers grow with the channel counts.
    """
    if kind == "standard":
        macs, weights, cout = standard_conv_macs(dk, m, n, df), dk * dk * m * n, n
    elif kind == "depthwise":
        macs, weights, cout = depthwise_conv_macs(dk, m, df), dk * dk * m, m
    elif kind == "pointwise":
        macs, weights, cout = pointwise_conv_macs(m, n, df), m * n, n
    elif kind == "separable":  # the intermediate map is written and read once more
        macs = separable_conv_macs(dk, m, n, df)
        weights, cout = dk * dk * m + m * n, n + 2 * m
    else:
        raise ValueError(f"kind must be 'standard', 'separable', 'depthwise' or 'pointwise', not {kind!r}")
    traffic = (df * df * (m + cout) + weights) * dtype_bytes
    return macs / traffic


def latency_sweep(configs: Iterable[Sequence[int]], kinds: Sequence[str] = ("standard", "separable"),
                  runtimes: Sequence[str] = ("keras", "litert"), litert_threads: int = 1,
                  repeats: int | None = None, warmup: int = 5) -> pd.DataFrame:
    """Time one-layer models for every ``(dk, m, n, df)`` in ``configs``, every kind and runtime.

    Keras runs the layer compiled with ``tf.function`` (TensorFlow's own thread pool); LiteRT runs
    the float32 flatbuffer with ``litert_threads`` threads. Returns one row per measurement with
    MACs, median, IQR and fastest run in ms, and the achieved GMAC/s at the median and at the
    fastest run. On a busy machine the fastest run is the better estimate of what the layer itself
    costs: other processes only ever add time, and long calls are interrupted more often.
    """
    from . import bench, tflite

    rows = []
    for dk, m, n, df in configs:
        for kind in kinds:
            model = conv_layer_model(kind, dk, m, n, df)
            macs = {"standard": standard_conv_macs(dk, m, n, df), "separable": separable_conv_macs(dk, m, n, df),
                    "depthwise": depthwise_conv_macs(dk, m, df), "pointwise": pointwise_conv_macs(m, n, df)}[kind]
            for runtime in runtimes:
                if runtime == "keras":
                    t = bench.time_keras(model, warmup=warmup, repeats=repeats, label=model.name)
                elif runtime == "litert":
                    t = bench.time_interpreter(tflite.convert(model, "float32"), num_threads=litert_threads,
                                               warmup=warmup, repeats=repeats, label=model.name)
                else:
                    raise ValueError(f"runtime must be 'keras' or 'litert', not {runtime!r}")
                rows.append({"Dk": dk, "M": m, "N": n, "Df": df, "kind": kind, "runtime": runtime,
                             "MACs": macs, "median ms": t.median_ms, "IQR ms": t.iqr_ms, "min ms": t.min_ms,
                             "threads": t.threads, "GMAC/s": macs / (t.median_ms * 1e-3) / 1e9,
                             "GMAC/s (best run)": macs / (t.min_ms * 1e-3) / 1e9})
    return pd.DataFrame(rows)


def speedup_table(sweep: pd.DataFrame) -> pd.DataFrame:
    """From :func:`latency_sweep` rows: per configuration and runtime, the measured speed-up
    (standard ms / separable ms, from the medians and from the fastest runs) beside the theoretical
    one (standard MACs / separable MACs)."""
    keys = ["Dk", "M", "N", "Df", "runtime"]
    std = sweep[sweep["kind"] == "standard"].set_index(keys)
    sep = sweep[sweep["kind"] == "separable"].set_index(keys)
    both = std.index.intersection(sep.index)
    out = pd.DataFrame({
        "standard ms": std.loc[both, "median ms"],
        "separable ms": sep.loc[both, "median ms"],
        "measured speed-up (x)": std.loc[both, "median ms"] / sep.loc[both, "median ms"],
        "speed-up, best runs (x)": std.loc[both, "min ms"] / sep.loc[both, "min ms"],
        "MAC reduction (x)": std.loc[both, "MACs"] / sep.loc[both, "MACs"],
    }).reset_index()
    out["measured / theoretical"] = out["measured speed-up (x)"] / out["MAC reduction (x)"]
    return out


# --------------------------------------------------------------------------- the picture


def _cuboid(ax, x, y, w, h, depth, color, alpha=0.9, lw=0.8, dx=0.45, dy=0.3):
    """Draw a box of width ``w``, height ``h`` and ``depth`` (drawn obliquely) at (x, y)."""
    from matplotlib.patches import Polygon

    ox, oy = depth * dx, depth * dy
    front = [(x, y), (x + w, y), (x + w, y + h), (x, y + h)]
    top = [(x, y + h), (x + w, y + h), (x + w + ox, y + h + oy), (x + ox, y + h + oy)]
    side = [(x + w, y), (x + w + ox, y + oy), (x + w + ox, y + h + oy), (x + w, y + h)]
    for pts, shade in ((side, 0.75), (top, 0.9), (front, 1.0)):
        ax.add_patch(Polygon(pts, closed=True, facecolor=_shade(color, shade), edgecolor="black",
                             lw=lw, alpha=alpha))


def _shade(color, factor):
    from matplotlib.colors import to_rgb

    return tuple(min(1.0, c * factor) for c in to_rgb(color))


def _stack(ax, x, y, size, channels, colors, dx=0.45, dy=0.3, slab=0.3, step=0.9):
    """A feature map / kernel drawn as ``channels`` coloured slabs one behind the other."""
    for c in reversed(range(channels)):
        _cuboid(ax, x + c * step * dx, y + c * step * dy, size, size, slab, colors[c % len(colors)], dx=dx, dy=dy)


def draw_convolutions(m: int = 3, n: int = 4):
    """Figure: (a) a standard convolution, (b) a depthwise convolution, (c) a pointwise convolution.

    Each row shows the input (``m`` channels, one colour each), the filters, and the output. In
    (a) each of the ``n`` filters spans all ``m`` input channels; in (b) each of the ``m`` filters
    sees one channel only (same colour); in (c) each of the ``n`` filters is 1x1 but spans all ``m``.
    """
    import matplotlib.pyplot as plt

    from . import plots

    in_colors = [plots.PALETTE[i] for i in (0, 1, 2, 4, 5)]
    out_colors = ["#999999", "#BBBBBB", "#DDDDDD", "#777777"]
    fig, axs = plt.subplots(3, 1, figsize=(9.5, 8.4))
    rows = [
        ("(a) standard convolution: N filters, each Dk×Dk×M", "standard"),
        ("(b) depthwise convolution: M filters, each Dk×Dk×1 (one per input channel)", "depthwise"),
        ("(c) pointwise convolution: N filters, each 1×1×M  ((b) then (c) = depthwise-separable)", "pointwise"),
    ]
    for ax, (title, kind) in zip(axs, rows):
        ax.set_title(title, loc="left", fontsize=11)
        ax.set_xlim(0, 20)
        ax.set_ylim(-1.6, 4.4)
        ax.set_aspect("equal")
        ax.axis("off")
        # input feature map: Df x Df x M
        _stack(ax, 0.3, 0.3, 2.6, m, in_colors)
        ax.text(1.9, -0.6, "input\nDf×Df×M", ha="center", va="top", fontsize=9)
        ax.annotate("", xy=(5.0, 1.6), xytext=(3.9, 1.6), arrowprops=dict(arrowstyle="->", lw=1.2))
        x0 = 5.4
        if kind == "standard":
            for f in range(n):
                _stack(ax, x0 + f * 1.9, 0.9, 1.0, m, in_colors, step=0.6)
            label = "N filters, Dk×Dk×M each"
            out_ch, out_cols = n, out_colors
        elif kind == "depthwise":
            for f in range(m):
                _cuboid(ax, x0 + f * 1.9, 0.9, 1.0, 1.0, 0.35, in_colors[f % len(in_colors)])
            label = "M filters, Dk×Dk×1 each"
            out_ch, out_cols = m, in_colors
        else:
            for f in range(n):
                _stack(ax, x0 + f * 1.9, 1.2, 0.35, m, in_colors, step=0.6)
            label = "N filters, 1×1×M each"
            out_ch, out_cols = n, out_colors
        count = n if kind != "depthwise" else m
        ax.text(x0 + (count - 1) * 0.95 + 0.6, -0.6, label, ha="center", va="top", fontsize=9)
        xa = x0 + count * 1.9 + 0.2
        ax.annotate("", xy=(xa + 1.1, 1.6), xytext=(xa, 1.6), arrowprops=dict(arrowstyle="->", lw=1.2))
        _stack(ax, xa + 1.5, 0.3, 2.6, out_ch, out_cols)
        out_label = "output\nDf×Df×N" if kind != "depthwise" else "output\nDf×Df×M"
        ax.text(xa + 2.9, -0.6, out_label, ha="center", va="top", fontsize=9)
    fig.tight_layout()
    return fig
