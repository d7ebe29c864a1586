"""Where the time of one ``invoke()`` goes: a per-operator profile of a LiteRT flatbuffer, and which
operators the XNNPACK delegate takes.

The pinned LiteRT Python interpreter has no operator profiler (its wrapper exposes no profiler hook; the
per-operator profiler lives in the C++ ``benchmark_model`` tool). So each operator is timed **as its own
single-operator flatbuffer**, cut out of the parsed file: the same operator code and options (fused
activation, strides, padding), the same tensor shapes, dtypes and quantization parameters, and the same
constant buffers (weights, biases). Rebuilding each layer in Keras and converting it again would need a
new calibration, so its int8 scales would differ, and a Keras layer is not one operator (batch norm is
folded, ReLU fused); cutting the file avoids both.

- :func:`single_op_models` cuts a flatbuffer into one model per operator.
- :func:`profile` times every operator (``invoke()`` alone, the runtime's fixed cost of one ``invoke()``
  removed from each) and the whole model, and reports whether the parts add up (:class:`Profile`).
- :func:`by_type` and :func:`int8_losses` group a profile by operator type; :func:`plot_time_split` draws
  where the time goes, fp32 beside int8.
- :func:`delegate_coverage` says how many of the graph's nodes XNNPACK replaced and which fell back to
  LiteRT's built-in kernels.
"""
from __future__ import annotations

import copy
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from . import bench, plots, tflite


@dataclass
class SingleOp:
    """One operator of a flatbuffer, cut out as a model of its own."""

    index: int            # position in the original graph's execution order
    op: str               # operator type, e.g. "CONV_2D"
    name: str             # its (first) output tensor's name, shortened
    shape: tuple          # that output's shape
    dtype: str            # that output's dtype
    macs: int             # multiply-accumulates (tflite.macs convention)
    model_bytes: bytes = field(repr=False)


def _flatbuffer_utils():
    try:
        from ai_edge_litert.tools import flatbuffer_utils
    except ImportError:  # pragma: no cover - exercised only where ai-edge-litert is not installed
        from tensorflow.lite.tools import flatbuffer_utils
    return flatbuffer_utils


def _short(name: bytes | str, parts: int = 2) -> str:
    """A tensor name without the converter's ';'-joined aliases, its last ``parts`` path components."""
    text = name.decode(errors="replace") if isinstance(name, bytes) else str(name)
    return "/".join(text.split(";")[0].split("/")[-parts:])


def _cut(model, op) -> bytes:
    """Flatbuffer bytes of a model holding only ``op`` of ``model`` (a ``ModelT``), its tensors renumbered;
    constant inputs keep their buffers, the other inputs become the model's inputs."""
    schema, graph = tflite._schema(), model.subgraphs[0]  # noqa: SLF001 (the module's own schema helper)
    used = [int(i) for i in op.inputs if i >= 0] + [int(i) for i in op.outputs]
    remap = {t: k for k, t in enumerate(dict.fromkeys(used))}
    buffers, tensors = [schema.BufferT()], []
    for t in remap:
        tensor = copy.copy(graph.tensors[t])
        source = model.buffers[tensor.buffer]
        constant = tensor.buffer > 0 and source.data is not None and len(source.data) > 0
        if constant:
            buffers.append(source)
        tensor.buffer = len(buffers) - 1 if constant else 0
        tensors.append(tensor)
    one = copy.copy(op)
    one.inputs = np.array([remap[int(i)] if i >= 0 else -1 for i in op.inputs], np.int32)
    one.outputs = np.array([remap[int(i)] for i in op.outputs], np.int32)
    code, one.opcodeIndex = one.opcodeIndex, 0
    sub = schema.SubGraphT()
    sub.tensors, sub.operators, sub.outputs = tensors, [one], one.outputs
    sub.inputs = np.array([remap[t] for t in dict.fromkeys(int(i) for i in op.inputs if i >= 0)
                           if tensors[remap[t]].buffer == 0], np.int32)
    new = schema.ModelT()
    new.version, new.operatorCodes, new.subgraphs, new.buffers = model.version, [model.operatorCodes[code]], [sub], buffers
    new.description = b"one operator cut out by course_lib.opprofile"
    return bytes(_flatbuffer_utils().convert_object_to_bytearray(new))


def single_op_models(model_bytes: bytes) -> list[SingleOp]:
    """One :class:`SingleOp` per operator of the flatbuffer's main subgraph, in execution order."""
    tflite._check_model_bytes(model_bytes)  # noqa: SLF001 (same validation and message as the rest of tflite)
    model = _flatbuffer_utils().convert_bytearray_to_object(bytearray(model_bytes))
    if len(model.subgraphs) != 1:
        raise ValueError(f"single_op_models handles flatbuffers with one subgraph; this one has {len(model.subgraphs)} "
                         "(control flow such as WHILE or IF)")
    names = tflite._op_names(model)  # noqa: SLF001
    graph, ops = model.subgraphs[0], []
    for index, op in enumerate(graph.operators):
        out = graph.tensors[int(op.outputs[0])]
        fb = _cut(model, op)
        ops.append(SingleOp(index=index, op=names[op.opcodeIndex], name=_short(out.name),
                            shape=tuple(int(d) for d in out.shape), dtype=tflite._tensor_type_name(out.type),  # noqa: SLF001
                            macs=tflite.macs(fb), model_bytes=fb))
    return ops


# --- what XNNPACK takes -------------------------------------------------------------------------------

@dataclass
class Coverage:
    """How many of a graph's nodes the XNNPACK delegate replaced (see :func:`delegate_coverage`)."""

    nodes: int                       # operators in the file's graph
    delegated: int                   # of them, replaced by a delegate node
    partitions: int                  # delegate nodes (each runs one connected run of operators)
    fallback: dict[str, int]         # operator type -> count of those left to the built-in kernels
    delegated_types: dict[str, int]  # operator type -> count of those XNNPACK took

    @property
    def share(self) -> float:
        """Delegated fraction of the nodes."""
        return self.delegated / self.nodes if self.nodes else 0.0

    def __str__(self) -> str:
        left = ", ".join(f"{k} x{v}" for k, v in self.fallback.items()) or "none"
        return (f"XNNPACK replaced {self.delegated} of {self.nodes} nodes ({self.share:.0%}) with {self.partitions} "
                f"delegate node(s); left to the built-in kernels: {left}")

    def as_dict(self) -> dict:
        return {"nodes": self.nodes, "delegated": self.delegated, "partitions": self.partitions,
                "fallback": dict(self.fallback)}


def delegated_nodes(interp) -> set[int]:
    """Indices of the original nodes that a delegate replaced, read from an interpreter's execution plan.

    The delegate's log line ("Replacing N out of M node(s) with delegate") is logged at VERBOSE level,
    which the Python package cannot switch on, so the partition is recovered from the graph: every DELEGATE
    node lists the tensors entering and leaving its partition; walking back from its outputs to its inputs
    through the producers of each tensor visits exactly the nodes it replaced."""
    ops = interp._get_ops_details()  # noqa: SLF001 (the interpreter's own listing of every node)
    producer = {int(t): op for op in ops if op["op_name"] != "DELEGATE" for t in op["outputs"]}
    replaced: set[int] = set()
    for node in (op for op in ops if op["op_name"] == "DELEGATE"):
        entering = {int(t) for t in node["inputs"]}
        stack = [int(t) for t in node["outputs"]]
        while stack:
            t = stack.pop()
            op = producer.get(t)
            if t in entering or op is None or op["index"] in replaced:
                continue
            replaced.add(op["index"])
            stack.extend(int(i) for i in op["inputs"] if i >= 0)
    return replaced


def delegate_coverage(model_bytes: bytes, num_threads: int = 1) -> Coverage:
    """Which operators XNNPACK takes (``make_interpreter(xnnpack=True)``) and which fall back."""
    interp = tflite.make_interpreter(model_bytes, num_threads=num_threads, xnnpack=True)
    ops = [op for op in interp._get_ops_details() if op["op_name"] != "DELEGATE"]  # noqa: SLF001
    replaced = delegated_nodes(interp)
    return Coverage(nodes=len(ops), delegated=len(replaced),
                    partitions=sum(op["op_name"] == "DELEGATE" for op in interp._get_ops_details()),  # noqa: SLF001
                    fallback=dict(Counter(op["op_name"] for op in ops if op["index"] not in replaced)),
                    delegated_types=dict(Counter(op["op_name"] for op in ops if op["index"] in replaced)))


# --- the profile ----------------------------------------------------------------------------------------

@dataclass
class Profile:
    """A per-operator profile: one row per operator (:data:`COLUMNS`), the whole model timed the same way,
    and the fixed cost of one ``invoke()`` that each single-operator timing also paid."""

    label: str
    table: pd.DataFrame
    whole: bench.Timing
    overhead: bench.Timing
    threads: int
    cpu: str

    @property
    def parts_ms(self) -> float:
        """The operators' net times summed, plus one invoke's fixed cost: what the whole should take."""
        return float(self.table["net ms"].sum()) + self.overhead.median_ms

    @property
    def residual_ms(self) -> float:
        """Whole minus parts (positive: the whole model took longer than its operators alone)."""
        return self.whole.median_ms - self.parts_ms

    def tolerance_ms(self) -> float:
        """How far parts and whole may differ: the spread (IQR) of the whole plus one call's overhead, or 10 % of
        the whole if larger (single-operator timings run with their data hot in the cache; the whole does not)."""
        return max(self.whole.iqr_ms + self.overhead.median_ms, 0.10 * self.whole.median_ms)

    @property
    def adds_up(self) -> bool:
        """True when the parts add up to the whole within :meth:`tolerance_ms`."""
        return abs(self.residual_ms) <= self.tolerance_ms()

    def check_line(self) -> str:
        """One sentence: the sum, the whole, the residual and whether it is within the tolerance."""
        return (f"{self.label}: operators sum to {self.parts_ms:.4f} ms (net of {len(self.table)} x the "
                f"{self.overhead.median_ms * 1000:.2f} µs fixed cost of an invoke, plus one), the whole model took "
                f"{self.whole.median_ms:.4f} ms (IQR {self.whole.iqr_ms:.4f}); residual {self.residual_ms:+.4f} ms "
                f"({100 * self.residual_ms / self.whole.median_ms:+.1f} %), "
                + ("within" if self.adds_up else "OUTSIDE") + f" the tolerance of {self.tolerance_ms():.4f} ms "
                f"({self.threads} thread(s), {self.cpu})")

    def summary(self) -> dict:
        """The numbers of :meth:`check_line` and the time per operator type, as plain JSON-able values."""
        types = by_type(self)
        return {"label": self.label, "threads": self.threads, "operators": len(self.table),
                "whole_ms": self.whole.median_ms, "parts_ms": self.parts_ms, "residual_ms": self.residual_ms,
                "invoke_overhead_ms": self.overhead.median_ms,
                "by_type_ms": {k: float(v) for k, v in types["net ms"].items()}}


#: The columns of :attr:`Profile.table`.
COLUMNS = ["operator", "type", "shape", "dtype", "MACs", "ms median", "IQR ms", "net ms", "share of total (%)",
           "GMAC/s", "delegated"]


def _op_timing(op: SingleOp, threads: int, repeats: int) -> tuple[bench.Timing, bool]:
    """invoke() time of one single-operator model, and whether XNNPACK took its operator."""
    timing = bench.invoke_time(op.model_bytes, num_threads=threads, repeats=repeats, warmup=3, label=op.name)
    interp = tflite.make_interpreter(op.model_bytes, num_threads=threads)
    return timing, bool(delegated_nodes(interp))


def profile(model_bytes: bytes, num_threads: int = 1, repeats: int | None = None, rounds: int = 2,
            label: str = "") -> Profile:
    """Time every operator as its own model and the whole model, ``rounds`` times in alternation (each keeps
    its calmest round), with XNNPACK, ``num_threads`` threads, batch as stored in the file.

    ``net ms`` is an operator's median minus the fixed cost of one invoke (:func:`bench.invoke_overhead`,
    floored at 0); its share and GMAC/s use that net time."""
    repeats = repeats or bench.default_repeats()
    rounds = bench._whole("rounds", rounds, 1)  # noqa: SLF001 (the same argument check as bench's own)
    ops = single_op_models(model_bytes)
    best: dict[int, tuple[bench.Timing, bool]] = {}
    whole = overhead = None
    for _ in range(rounds):
        w = bench.invoke_time(model_bytes, num_threads=num_threads, repeats=repeats, label=label or "whole model")
        o = bench.invoke_overhead(num_threads, repeats=max(repeats, 100))
        whole = w if whole is None or w.median_ms < whole.median_ms else whole
        overhead = o if overhead is None or o.median_ms < overhead.median_ms else overhead
        for op in ops:
            t, took = _op_timing(op, num_threads, repeats)
            if op.index not in best or t.median_ms < best[op.index][0].median_ms:
                best[op.index] = (t, took)
    rows = []
    for op in ops:
        t, took = best[op.index]
        net = max(t.median_ms - overhead.median_ms, 0.0)
        rows.append({"operator": op.name, "type": op.op, "shape": op.shape, "dtype": op.dtype, "MACs": op.macs,
                     "ms median": t.median_ms, "IQR ms": t.iqr_ms, "net ms": net,
                     "GMAC/s": op.macs / net / 1e6 if op.macs and net > 0 else np.nan, "delegated": took})
    table = pd.DataFrame(rows)
    table["share of total (%)"] = 100 * table["net ms"] / max(table["net ms"].sum(), 1e-12)
    return Profile(label=label, table=table[COLUMNS], whole=whole, overhead=overhead, threads=num_threads,
                   cpu=bench.cpu_model())


def by_type(prof: Profile) -> pd.DataFrame:
    """Net time per operator type: count, ms, share of the total, MACs and GMAC/s; largest first."""
    g = prof.table.groupby("type").agg(count=("type", "size"), **{"net ms": ("net ms", "sum")}, MACs=("MACs", "sum"))
    g["share (%)"] = 100 * g["net ms"] / max(g["net ms"].sum(), 1e-12)
    g["GMAC/s"] = np.where(g["MACs"] > 0, g["MACs"] / g["net ms"].clip(lower=1e-12) / 1e6, np.nan)
    return g.sort_values("net ms", ascending=False)


def int8_losses(fp32: Profile, int8: Profile, min_effect: float = 0.05, min_ms: float = 0.001) -> pd.DataFrame:
    """fp32 beside int8 per operator type: counts, net ms, speed-up (fp32 / int8) and what int8 did.

    ``int8 is`` reads "slower" or "faster" when the totals differ by more than ``min_effect`` (5 %) and by
    more than ``min_ms`` (1 µs), else "about equal"; "int8 only" / "fp32 only" for types that exist in one
    graph (QUANTIZE, or a batch norm the converter left as MUL and ADD in one of them). Sorted by what int8
    lost, largest first."""
    a, b = by_type(fp32), by_type(int8)
    table = pd.DataFrame({"fp32 count": a["count"], "int8 count": b["count"], "fp32 ms": a["net ms"],
                          "int8 ms": b["net ms"]}).fillna({"fp32 count": 0, "int8 count": 0})
    table[["fp32 count", "int8 count"]] = table[["fp32 count", "int8 count"]].astype(int)
    table["speed-up (x)"] = table["fp32 ms"] / table["int8 ms"]
    table["int8 lost ms"] = table["int8 ms"].fillna(0) - table["fp32 ms"].fillna(0)

    def outcome(row) -> str:
        if row["fp32 count"] == 0:
            return "int8 only"
        if row["int8 count"] == 0:
            return "fp32 only"
        if abs(row["int8 lost ms"]) <= min_ms or abs(np.log(row["speed-up (x)"])) <= np.log1p(min_effect):
            return "about equal"
        return "slower" if row["int8 lost ms"] > 0 else "faster"

    table["int8 is"] = table.apply(outcome, axis=1)
    return table.sort_values("int8 lost ms", ascending=False)


def plot_time_split(profiles: dict, ax=None, title: str | None = None):
    """Grouped horizontal bars: net ms per operator type for each profile (e.g. ``{"fp32": p32, "int8": p8}``)."""
    if not profiles:
        raise ValueError("plot_time_split needs at least one profile, e.g. {'fp32': p32, 'int8': p8}")
    totals = pd.DataFrame({k: by_type(p)["net ms"] for k, p in profiles.items()}).fillna(0.0)
    totals = totals.loc[totals.max(axis=1).sort_values().index]
    first = next(iter(profiles.values()))
    ax = plots.axes(title or f"Where the time goes ({first.threads} thread(s), host CPU)",
                    "time per invoke (ms, sum over the operators of a type)", "", ax=ax,
                    figsize=(7.0, 0.35 * len(totals) * len(profiles) + 1.5))
    height = 0.8 / len(profiles)
    y = np.arange(len(totals))
    for k, (key, column) in enumerate(totals.items()):
        p = profiles[key]
        ax.barh(y + (k - (len(profiles) - 1) / 2) * height, column.values, height, color=plots.PALETTE[k % 8],
                label=f"{key}: whole {p.whole.median_ms:.3f} ms")
    ax.set_yticks(y, totals.index)
    ax.legend(loc="lower right")
    return ax
