"""Honest latency measurement: warm up, repeat, random inputs, median and interquartile range.

Every result carries the CPU model and the thread count, because a latency without them means
little. Host-CPU numbers are *this machine's*; never mix them with phone numbers from papers.

- :func:`measure` times any callable on a pool of random inputs.
- :func:`time_keras` times a Keras model (``mode="function"``: compiled with ``tf.function``, how you
  would serve it; ``"eager"``: a plain ``model(x)`` call; ``"predict"``: ``model.predict``).
- :func:`time_interpreter` times a LiteRT / TFLite flatbuffer with a chosen number of threads.
- :func:`interleaved` alternates configurations so background load hits them alike.
- :func:`call_overhead` measures a runtime's fixed cost per call (a one-operator model); print it beside
  latencies (:func:`overhead_table`), because for tiny models it can be a large share of them.
- :func:`cpu_features_line` / :func:`cache_sizes` say what the CPU offers (SIMD, int8 dot products, caches).
- :func:`verdict` / :func:`verdict_summary` turn two timings into a sentence that follows the numbers
  (faster, slower, or no clear difference given the spread); :func:`crossover` finds where a speed-up
  curve crosses 1. No conclusion about speed is written by hand: it holds on any CPU.
"""
from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from . import config


@dataclass
class Timing:
    """Latency of one configuration, in milliseconds per call."""

    label: str
    median_ms: float
    q1_ms: float
    q3_ms: float
    min_ms: float
    repeats: int
    warmup: int
    batch: int
    threads: int
    cpu: str
    samples_ms: list[float] = field(default_factory=list, repr=False)  # every timed run, for plots

    @property
    def iqr_ms(self) -> float:
        """Interquartile range (q3 - q1): the spread of the middle half of the runs."""
        return self.q3_ms - self.q1_ms

    def __str__(self) -> str:
        return (f"{self.label}: median {self.median_ms:.3f} ms (IQR {self.iqr_ms:.3f} ms, "
                f"{self.repeats} runs after {self.warmup} warm-up, batch {self.batch}, "
                f"{self.threads} thread(s), {self.cpu})")

    def as_row(self) -> dict:
        row = asdict(self)
        row.pop("samples_ms")
        row["iqr_ms"] = self.iqr_ms
        return row


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo on Linux) and the number of logical cores."""
    name = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    name = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{name} ({os.cpu_count()} logical cores)"


def tf_threads() -> int:
    """Threads TensorFlow uses inside one op (0 in TF's config means 'all cores')."""
    import tensorflow as tf

    n = tf.config.threading.get_intra_op_parallelism_threads()
    return n if n > 0 else (os.cpu_count() or 1)


def _whole(name: str, value, minimum: int) -> int:
    """``value`` as an int >= ``minimum``, or a ValueError naming the argument."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be a whole number >= {minimum}, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")
    return int(value)


def default_repeats() -> int:
    """Repeats used when none are given: 50 in full mode, 10 in fast mode."""
    return config.pick(full=50, fast=10)


def random_inputs(shape: Sequence[int], dtype=np.float32, count: int = 4, seed: int = 0,
                  low: float = 0.0, high: float = 1.0) -> list[np.ndarray]:
    """A small pool of random (never all-zero) inputs; integer dtypes cover their whole range."""
    count = _whole("count", count, 1)
    if isinstance(shape, (int, np.integer)):
        shape = (shape,)
    if not all(isinstance(d, (int, np.integer)) and not isinstance(d, bool) and d >= 1 for d in shape):
        raise ValueError(f"shape must be a tuple of whole numbers >= 1 (no None), got {tuple(shape)!r}")
    if not low < high:
        raise ValueError(f"low must be smaller than high, got low={low}, high={high}")
    rng = np.random.default_rng(seed)
    try:
        dtype = np.dtype(dtype)
    except TypeError:
        raise ValueError(f"dtype must be a NumPy dtype such as np.float32 or np.int8, got {dtype!r}") from None
    if dtype.kind not in "iuf":
        raise ValueError(f"dtype must be a numeric dtype (float or integer), got {dtype}")
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return [rng.integers(info.min, info.max, size=shape, endpoint=True).astype(dtype) for _ in range(count)]
    return [rng.uniform(low, high, size=shape).astype(dtype) for _ in range(count)]


def measure(fn: Callable[[np.ndarray], object], inputs: Sequence[np.ndarray], label: str = "",
            warmup: int = 5, repeats: int | None = None, threads: int | None = None, batch: int = 1) -> Timing:
    """Call ``fn`` on the inputs in turn: ``warmup`` untimed calls, then ``repeats`` timed ones."""
    if not callable(fn):
        raise TypeError(f"fn must be a function fn(x), got {type(fn).__name__}")
    if isinstance(inputs, np.ndarray) or not isinstance(inputs, Sequence) or not len(inputs):
        raise ValueError("measure needs a non-empty list of input arrays (inputs[i % len(inputs)] is passed to fn), "
                         f"got {type(inputs).__name__}" + (" (an array: wrap it in a list)" if isinstance(inputs, np.ndarray) else ""))
    repeats = default_repeats() if repeats is None else _whole("repeats", repeats, 3)
    warmup = _whole("warmup", warmup, 0)
    batch = _whole("batch", batch, 1)
    if threads is not None:
        threads = _whole("threads", threads, 1)
    for i in range(warmup):
        fn(inputs[i % len(inputs)])
    times = []
    for i in range(repeats):
        x = inputs[i % len(inputs)]
        start = time.perf_counter_ns()
        fn(x)
        times.append((time.perf_counter_ns() - start) / 1e6)
    q1, med, q3 = statistics.quantiles(times, n=4, method="inclusive")
    return Timing(label=label, median_ms=med, q1_ms=q1, q3_ms=q3, min_ms=min(times), repeats=repeats,
                  warmup=warmup, batch=batch, threads=threads or tf_threads(), cpu=cpu_model(), samples_ms=times)


def time_keras(model, batch_size: int = 1, mode: str = "function", warmup: int = 5,
               repeats: int | None = None, label: str | None = None, seed: int = 0) -> Timing:
    """Latency of a Keras model on random inputs of its input shape (one batch per call)."""
    import keras
    import tensorflow as tf

    if not isinstance(model, keras.Model):
        raise TypeError(f"model must be a Keras model, got {type(model).__name__}")
    batch_size = _whole("batch_size", batch_size, 1)
    if mode not in ("function", "eager", "predict"):
        raise ValueError(f"mode must be 'function', 'eager' or 'predict', not {mode!r}")
    shape = (batch_size, *model.inputs[0].shape[1:])
    if any(d is None for d in shape):
        raise ValueError(f"model '{model.name}' has an unknown input dimension {shape}; give it a fixed input shape")
    inputs = [tf.constant(x) for x in random_inputs(shape, seed=seed)]
    if mode == "function":
        compiled = tf.function(lambda x: model(x, training=False))
        fn = lambda x: compiled(x).numpy()  # noqa: E731  (.numpy() waits for the result)
    elif mode == "eager":
        fn = lambda x: model(x, training=False).numpy()  # noqa: E731
    elif mode == "predict":
        fn = lambda x: model.predict(x, verbose=0)  # noqa: E731
    else:
        raise ValueError(f"mode must be 'function', 'eager' or 'predict', not {mode!r}")
    return measure(fn, inputs, label=label or f"{model.name} (Keras, {mode})", warmup=warmup,
                   repeats=repeats, threads=tf_threads(), batch=batch_size)


def time_interpreter(model_bytes: bytes, num_threads: int = 1, warmup: int = 5, repeats: int | None = None,
                     label: str | None = None, seed: int = 0, xnnpack: bool = True) -> Timing:
    """Latency of one ``invoke()`` of a LiteRT flatbuffer with ``num_threads`` threads.

    ``xnnpack=True`` (the default, how you would deploy) uses the XNNPACK delegate; ``False`` times
    LiteRT's built-in kernels, so you can see what the delegate buys. Inputs are random tensors of the
    model's input dtype (int8 models get int8 inputs).
    """
    from .tflite import make_interpreter

    interp = make_interpreter(model_bytes, num_threads=num_threads, xnnpack=xnnpack)
    detail = interp.get_input_details()[0]
    inputs = random_inputs(tuple(detail["shape"]), dtype=detail["dtype"], seed=seed)
    out_index = interp.get_output_details()[0]["index"]

    def run(x):
        interp.set_tensor(detail["index"], x)
        interp.invoke()
        return interp.get_tensor(out_index)

    label = label or f"LiteRT ({'XNNPACK' if xnnpack else 'built-in kernels'}, {num_threads} thread(s))"
    return measure(run, inputs, label=label, warmup=warmup, repeats=repeats, threads=num_threads,
                   batch=int(detail["shape"][0]))


def interleaved(timers: dict, rounds: int = 3) -> dict:
    """Time several configurations fairly on a busy machine: call each zero-argument ``timer`` (one that
    returns a :class:`Timing`, e.g. ``lambda: time_keras(model)``) in turn, ``rounds`` times, and keep
    for each key the round with the lowest median. Alternating means a burst of load elsewhere hits
    every configuration alike instead of one of them."""
    rounds = _whole("rounds", rounds, 1)
    if not isinstance(timers, dict) or not timers:
        raise ValueError(f"timers must be a non-empty dict {{name: zero-argument function}}, got {timers!r}")
    bad = [k for k, t in timers.items() if not callable(t)]
    if bad:
        raise TypeError(f"timers[{bad[0]!r}] is not callable: give a zero-argument function, e.g. lambda: time_keras(model)")
    best: dict = {}
    for _ in range(rounds):
        for key, timer in timers.items():
            timing = timer()
            if key not in best or timing.median_ms < best[key].median_ms:
                best[key] = timing
    return best


def table(timings: Sequence[Timing]) -> pd.DataFrame:
    """Timings as a table (median, IQR, min in ms; threads; batch)."""
    rows = [{"what": t.label, "median ms": round(t.median_ms, 3), "IQR ms": round(t.iqr_ms, 3),
             "min ms": round(t.min_ms, 3), "runs": t.repeats, "batch": t.batch, "threads": t.threads}
            for t in timings]
    return pd.DataFrame(rows)


def machine_line() -> str:
    """One line to print beside every timing table: CPU, cores, TF threads, mode."""
    return (f"Host CPU: {cpu_model()}; TensorFlow intra-op threads: {tf_threads()}; "
            f"course mode: {config.mode_name()}. Figures are for this machine, not a phone.")


# --- what the CPU offers ------------------------------------------------------------------------

#: /proc/cpuinfo flags that decide how fast float32 and int8 kernels can be, with what each one gives.
CPU_FEATURES: dict[str, str] = {
    "avx2": "256-bit SIMD",
    "fma": "fused multiply-add, float32",
    "avx512f": "512-bit SIMD",
    "avx512_vnni": "int8 dot products, 512-bit (VNNI)",
    "avx_vnni": "int8 dot products, 256-bit (AVX-VNNI)",
    "amx_int8": "int8 matrix tiles (AMX)",
    "amx_tile": "AMX tile registers",
    "asimddp": "ARM int8 dot products (SDOT)",
    "i8mm": "ARM int8 matrix multiply",
}


def cpu_features(cpuinfo: str | None = None) -> dict:
    """The CPU model and which of :data:`CPU_FEATURES` it reports (from ``/proc/cpuinfo``, or the text given).

    Returns ``{"model": str, "found": [flags], "missing": [flags], "known": bool}``; ``known`` is
    False when no flag list could be read (not Linux), so "missing" then means "unknown".
    """
    if cpuinfo is None:
        try:
            with open("/proc/cpuinfo") as f:
                cpuinfo = f.read()
        except OSError:
            cpuinfo = ""
    flags: set[str] = set()
    model = platform.processor() or platform.machine()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key in ("flags", "features"):
            flags.update(value.split())
        elif key == "model name" and value.strip():
            model = value.strip()
    return {"model": model, "found": [f for f in CPU_FEATURES if f in flags],
            "missing": [f for f in CPU_FEATURES if f not in flags], "known": bool(flags)}


def cpu_features_line(cpuinfo: str | None = None) -> str:
    """One line for beside a timing table: the CPU and the SIMD / int8 features it has (and lacks)."""
    info = cpu_features(cpuinfo)
    if not info["known"]:
        return f"CPU: {info['model']}; instruction-set flags unknown (no /proc/cpuinfo on this system)."
    found = ", ".join(f"{f} ({CPU_FEATURES[f]})" for f in info["found"]) or "none of the listed ones"
    x86 = [f for f in info["missing"] if f not in ("asimddp", "i8mm")]
    return f"CPU: {info['model']}; has {found}; lacks {', '.join(x86) or 'none'} (of the x86 flags the course checks)."


def cache_sizes(root: str = "/sys/devices/system/cpu/cpu0/cache") -> dict[str, str]:
    """The CPU's data caches as the OS reports them, e.g. ``{"L1d": "48K", "L2": "2048K"}`` (empty if unknown)."""
    sizes: dict[str, str] = {}
    try:
        for index in sorted(os.listdir(root)):
            folder = os.path.join(root, index)
            if not index.startswith("index"):
                continue
            with open(os.path.join(folder, "level")) as f:
                level = f.read().strip()
            with open(os.path.join(folder, "type")) as f:
                kind = f.read().strip()
            with open(os.path.join(folder, "size")) as f:
                size = f.read().strip()
            if kind != "Instruction":
                sizes[f"L{level}{'d' if kind == 'Data' else ''}"] = size
    except OSError:
        pass
    return sizes


# --- fixed cost of one call -------------------------------------------------------------------------

_TRIVIAL: dict = {}


def _trivial_model():
    """A one-operator model (4 numbers in, ReLU, 4 out): timing it measures a runtime's cost per call."""
    if "keras" not in _TRIVIAL:
        import keras

        inputs = keras.Input((4,), name="x")
        _TRIVIAL["keras"] = keras.Model(inputs, keras.layers.ReLU(name="relu")(inputs), name="one_op")
    return _TRIVIAL["keras"]


def call_overhead(runtime: str = "litert", num_threads: int = 1, repeats: int | None = None,
                  xnnpack: bool = True) -> Timing:
    """Latency of a one-operator model: the fixed price of one call, paid whatever the model computes.

    ``runtime="litert"`` times ``set_tensor`` + ``invoke()`` + ``get_tensor`` as
    :func:`time_interpreter` does; ``"keras"`` times a ``tf.function`` call as :func:`time_keras`
    (``mode="function"``). Subtract it from a model's latency to see the part that shrinks when the
    model computes less (or in int8).
    """
    repeats = repeats or config.pick(full=200, fast=50)
    if runtime == "litert":
        if "litert" not in _TRIVIAL:
            from .tflite import convert

            _TRIVIAL["litert"] = convert(_trivial_model(), "float32")
        return time_interpreter(_TRIVIAL["litert"], num_threads=num_threads, repeats=repeats, xnnpack=xnnpack,
                                label=f"one-op model, LiteRT ({num_threads} thread(s))")
    if runtime == "keras":
        return time_keras(_trivial_model(), repeats=repeats, label="one-op model, Keras (tf.function)")
    raise ValueError(f"runtime must be 'litert' or 'keras', not {runtime!r}")


def overhead_table(timings: Sequence[Timing], overhead: Timing) -> pd.DataFrame:
    """Each timing beside the per-call overhead: median, overhead, what is left for the model's work, share."""
    rows = []
    for t in timings:
        work = max(t.median_ms - overhead.median_ms, 0.0)
        rows.append({"what": t.label, "median ms": t.median_ms, "IQR ms": t.iqr_ms,
                     "per-call overhead ms": overhead.median_ms, "median - overhead ms": work,
                     "overhead share (%)": 100 * min(overhead.median_ms / t.median_ms, 1.0), "threads": t.threads})
    return pd.DataFrame(rows)


# --- turning measured speed-ups into words ------------------------------------------------------

@dataclass
class Verdict:
    """How ``new`` compared with ``base``: ``outcome`` is "faster", "slower" or "no clear difference"."""

    new: str
    base: str
    ratio: float  # base median / new median: above 1 means new is faster
    outcome: str
    new_ms: float
    base_ms: float

    def __str__(self) -> str:
        numbers = f"median {self.new_ms:.4g} ms vs {self.base_ms:.4g} ms"
        if self.outcome == "faster":
            return f"{self.new} was {self.ratio:.2f}x faster than {self.base} ({numbers})"
        if self.outcome == "slower":
            return f"{self.new} was {1 / self.ratio:.2f}x slower than {self.base} ({numbers})"
        return (f"{self.new} and {self.base} showed no clear difference ({numbers}, ratio {self.ratio:.2f}x, "
                f"within the spread of the runs)")


def verdict(base: Timing, new: Timing, base_name: str = "float32", new_name: str = "int8",
            min_effect: float = 0.05) -> Verdict:
    """Compare two timings and say which was faster, or that the spread does not allow a call.

    A difference counts only if the interquartile ranges do not overlap *and* the medians differ by
    more than ``min_effect`` (5%). Otherwise the verdict is "no clear difference". The text is built
    from the numbers, so it stays true whichever way a re-run on another CPU turns out.
    """
    if base.median_ms <= 0 or new.median_ms <= 0:
        raise ValueError(f"medians must be positive, got {base.median_ms} ({base_name}) and {new.median_ms} ({new_name})")
    ratio = base.median_ms / new.median_ms
    if new.q3_ms < base.q1_ms and ratio > 1 + min_effect:
        outcome = "faster"
    elif new.q1_ms > base.q3_ms and ratio < 1 / (1 + min_effect):
        outcome = "slower"
    else:
        outcome = "no clear difference"
    return Verdict(new=new_name, base=base_name, ratio=ratio, outcome=outcome, new_ms=new.median_ms,
                   base_ms=base.median_ms)


def verdict_summary(verdicts: dict) -> str:
    """Count outcomes over several settings, e.g. ``{"mobilenet, 1 thread": Verdict, ...}``, as one sentence."""
    if not verdicts:
        raise ValueError("verdict_summary needs at least one verdict")
    first = next(iter(verdicts.values()))
    groups = {o: [k for k, v in verdicts.items() if v.outcome == o] for o in ("faster", "slower", "no clear difference")}
    parts = [f"{first.new} was faster than {first.base} in {len(groups['faster'])}",
             f"slower in {len(groups['slower'])}",
             f"not clearly different in {len(groups['no clear difference'])} of {len(verdicts)} settings"]
    details = "; ".join(f"{o}: {', '.join(map(str, keys))}" for o, keys in groups.items() if keys)
    return ", ".join(parts) + f" ({details})."


def crossover(macs: Sequence[float], speedups: Sequence[float]) -> dict:
    """Where int8 starts to win: the MAC count above which every measured speed-up is above 1.

    Interpolates (in log MACs) between the largest model where the speed-up was at most 1 and the
    next one. Returns ``{"macs": value or None, "kind": ...}`` with kind "crossover", "always" (int8
    won on every model: the crossover lies below the smallest one) or "never" (int8 won on none, or
    not on the largest).
    """
    if len(macs) != len(speedups) or not len(macs):
        raise ValueError(f"macs and speedups must be non-empty and of equal length, got {len(macs)} and {len(speedups)}")
    order = np.argsort(np.asarray(macs, dtype=float))
    m = np.asarray(macs, dtype=float)[order]
    s = np.asarray(speedups, dtype=float)[order]
    if s[-1] <= 1.0:
        return {"macs": None, "kind": "never"}
    losing = np.flatnonzero(s <= 1.0)
    if not len(losing):
        return {"macs": float(m[0]), "kind": "always"}
    i = losing[-1]
    lo, hi = np.log(m[i]), np.log(m[i + 1])
    frac = (1.0 - s[i]) / (s[i + 1] - s[i])
    return {"macs": float(np.exp(lo + frac * (hi - lo))), "kind": "crossover"}


# --- invoke() alone: the unit a per-operator profile adds up -----------------------------------------

def _filled_interpreter(model_bytes: bytes, num_threads: int, xnnpack: bool, seed: int = 0):
    """An interpreter whose every input tensor holds random values of its dtype (set once)."""
    from .tflite import make_interpreter

    interp = make_interpreter(model_bytes, num_threads=num_threads, xnnpack=xnnpack)
    for k, detail in enumerate(interp.get_input_details()):
        x = random_inputs(tuple(int(d) for d in detail["shape"]), dtype=detail["dtype"], count=1, seed=seed + k)[0]
        interp.set_tensor(detail["index"], x)
    return interp


def invoke_time(model_bytes: bytes, num_threads: int = 1, warmup: int = 5, repeats: int | None = None,
                label: str = "", xnnpack: bool = True) -> Timing:
    """Latency of ``invoke()`` alone (inputs set once, outputs not copied): the work of the graph plus the
    runtime's fixed cost of one invoke, which :func:`invoke_overhead` measures on a one-operator model.

    Unlike :func:`time_interpreter` this handles models with several inputs (or none), such as the
    single-operator models of :mod:`course_lib.opprofile`."""
    interp = _filled_interpreter(model_bytes, num_threads, xnnpack)
    return measure(lambda _: interp.invoke(), [None], label=label, warmup=warmup, repeats=repeats,
                   threads=num_threads)


def invoke_overhead(num_threads: int = 1, repeats: int | None = None, xnnpack: bool = True) -> Timing:
    """:func:`invoke_time` of the one-operator model of :func:`call_overhead` (a ReLU on 4 numbers): the
    fixed price of one ``invoke()``, paid again by every single-operator model of a profile."""
    if "litert" not in _TRIVIAL:
        from .tflite import convert

        _TRIVIAL["litert"] = convert(_trivial_model(), "float32")
    return invoke_time(_TRIVIAL["litert"], num_threads=num_threads, repeats=repeats or config.pick(full=300, fast=100),
                       xnnpack=xnnpack, label=f"one-op model, invoke() only ({num_threads} thread(s))")
