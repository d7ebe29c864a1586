"""This CPU's limits, measured with LiteRT + XNNPACK: the peak multiply-accumulate rate of a large 3×3
convolution (compute-bound) and the bandwidth of large element-wise operators (memory-bound), in fp32 and
int8, at a chosen number of threads. A model's own rate divided by the peak says how much of the CPU it uses.

- :func:`probe_models` builds the probe layers in Keras and converts them (fp32, and int8 calibrated on
  random data: the values do not change the speed);
- :func:`measure` times each probe operator as its own model (:mod:`course_lib.opprofile`) and returns one
  row per probe: GMAC/s for the convolutions, GB/s (bytes read + written) for ADD and RESIZE;
- :func:`peak` and :func:`fraction_of_peak` read those rows.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from . import bench, opprofile, tflite

#: The probes: name -> (input shape, what the Keras model does). The two convolutions have the same MACs
#: (151 M) at different shapes; ADD and RESIZE move megabytes and compute (almost) nothing.
PROBES = {
    "conv3x3 64x64x64->64": (64, 64, 64),
    "conv3x3 32x32x128->128": (32, 32, 128),
}
#: Which operator type of each probe model is timed, per probe.
PROBE_OPS = {"conv3x3 64x64x64->64": "CONV_2D", "conv3x3 32x32x128->128": "CONV_2D",
             "ADD 128x128x64": "ADD", "RESIZE_NEAREST 64x64x64->128x128x64": "RESIZE_NEAREST_NEIGHBOR"}


def _conv_model(shape: tuple[int, int, int]):
    """One 3×3 'same' convolution keeping the channel count, with ReLU (fused into CONV_2D)."""
    import keras

    inputs = keras.Input(shape)
    return keras.Model(inputs, keras.layers.Conv2D(shape[-1], 3, padding="same", activation="relu")(inputs),
                       name=f"probe_conv_{shape[0]}_{shape[-1]}")


def _memory_model():
    """64×64×64 -> nearest-neighbour ×2 (RESIZE_NEAREST_NEIGHBOR, 128×128×64) -> ADD with its ReLU: the
    resize writes 4 times what it reads, the ADD reads two 128×128×64 tensors and writes one."""
    import keras

    inputs = keras.Input((64, 64, 64))
    up = keras.layers.Resizing(128, 128, interpolation="nearest")(inputs)  # one op (UpSampling2D is six)
    return keras.Model(inputs, keras.layers.Add()([up, keras.layers.ReLU()(up)]), name="probe_memory")


def probe_models(seed: int = 0, calibration: int = 8) -> dict[tuple[str, str], bytes]:
    """``{(model name, precision): flatbuffer}`` for the two convolutions and the memory probe, fp32 and int8."""
    rng = np.random.default_rng(seed)
    built = {f"conv {s[0]}x{s[1]}x{s[2]}": _conv_model(s) for s in PROBES.values()}
    built["memory"] = _memory_model()
    out = {}
    for name, model in built.items():
        data = rng.uniform(0, 1, (calibration, *model.inputs[0].shape[1:])).astype(np.float32)
        out[name, "fp32"] = tflite.convert(model, "float32")
        out[name, "int8"] = tflite.convert(model, "int8", representative_data=data)
    return out


def _probe_ops(models: dict) -> dict[tuple[str, str], opprofile.SingleOp]:
    """The single-operator model of every probe, ``{(probe, precision): SingleOp}``."""
    chosen = {}
    for (name, precision), fb in models.items():
        ops = opprofile.single_op_models(fb)
        if name.startswith("conv"):
            h, w, c = (int(v) for v in name.split()[1].split("x"))
            chosen[f"conv3x3 {h}x{w}x{c}->{c}", precision] = next(o for o in ops if o.op == "CONV_2D")
        else:
            chosen["ADD 128x128x64", precision] = next(o for o in ops if o.op == "ADD")
            chosen["RESIZE_NEAREST 64x64x64->128x128x64", precision] = next(
                o for o in ops if o.op == "RESIZE_NEAREST_NEIGHBOR")
    return chosen


def _bytes_moved(op: opprofile.SingleOp) -> int:
    """Bytes an element-wise operator reads (its non-constant inputs) and writes (its output)."""
    interp = tflite.make_interpreter(op.model_bytes, xnnpack=False)
    details = interp.get_input_details() + interp.get_output_details()
    return int(sum(np.prod(d["shape"]) * np.dtype(d["dtype"]).itemsize for d in details))


def measure(threads=(1, 2), repeats: int | None = None, rounds: int = 3, models: dict | None = None) -> pd.DataFrame:
    """One row per probe, precision and thread count: median and IQR (ms, net of one invoke's fixed cost),
    MACs and GMAC/s (convolutions), bytes moved and GB/s (ADD, RESIZE). Each probe's fp32 and int8 timings
    at one thread count are interleaved, ``rounds`` rounds, calmest kept."""
    ops = _probe_ops(models or probe_models())
    rows = []
    for t in threads:
        over = bench.invoke_overhead(t).median_ms
        timers = {key: (lambda op=op, t=t: bench.invoke_time(op.model_bytes, num_threads=t, repeats=repeats or 30,
                                                             label=op.name))
                  for key, op in ops.items()}
        for (probe, precision), timing in bench.interleaved(timers, rounds=rounds).items():
            op = ops[probe, precision]
            net = max(timing.median_ms - over, 1e-9)
            moved = 0 if op.macs else _bytes_moved(op)
            took = bool(opprofile.delegated_nodes(tflite.make_interpreter(op.model_bytes, num_threads=t)))
            rows.append({"probe": probe, "op": op.op, "precision": precision, "threads": t, "XNNPACK": took,
                         "median ms": net, "IQR ms": timing.iqr_ms, "MACs": op.macs,
                         "GMAC/s": op.macs / net / 1e6 if op.macs else np.nan, "bytes moved": moved,
                         "GB/s": moved / net / 1e6 if moved else np.nan})
    return pd.DataFrame(rows)


def peak(table: pd.DataFrame, precision: str, threads: int) -> float:
    """The highest convolution GMAC/s measured for ``precision`` at ``threads`` (NaN if not measured)."""
    rows = table[(table["precision"] == precision) & (table["threads"] == threads) & (table["MACs"] > 0)]
    return float(rows["GMAC/s"].max()) if len(rows) else float("nan")


def fraction_of_peak(macs: int, median_ms: float, overhead_ms: float, peak_gmacs: float) -> float:
    """The share of the peak a model reaches: its MACs over (median − fixed call cost), divided by the peak."""
    if macs <= 0 or peak_gmacs != peak_gmacs or peak_gmacs <= 0:
        return float("nan")
    return macs / max(median_ms - overhead_ms, 1e-9) / 1e6 / peak_gmacs
