"""The exercise checkers of every chapter, in notebook order, each tagged with its notebook and exercise
("02 Ex3", "09 Ex5"). Exercises checked by a single comparison call the generic checkers of
:mod:`course_lib.checks` (``check_int``, ``check_close``, ``check_array``, ``check_function``) directly.

A checker prints a verdict and returns a :class:`course_lib.checks.CheckResult` (truthy when
passed), built with the machinery of :mod:`course_lib.checks`. It names the plausible mistakes it
recognises, without printing the solution; the tests feed each checker right and wrong answers.
``HINTS`` are 09's hint ladders from :mod:`course_lib.hints` (a failed check prints the nudge).
"""
from __future__ import annotations

import contextlib
import copy
import math
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from . import checks, distill, hints, pose
from .checks import (CheckResult, CheckResults, _compare_arrays, _missing, _number_problem, _report, _scalar,  # noqa: F401
                     _show, _stale, check, check_close, check_int, describe, format_pair)


# ---------------------------------------------------------------------------- 00 · welcome
def check_weight_bytes(weight_bytes) -> CheckResult:
    """00 Ex0: the bytes of 1,000 float32 weights."""
    return check_int("bytes of 1,000 float32 weights", weight_bytes, 1000 * 4, factors={4: "4 (bytes per float32)"},
                     hint="How many bytes does one float32 number take?")


# ---------------------------------------------------------------------------- 01 · measuring models
@contextlib.contextmanager
def _virtual_clock(clock: list[float]) -> Iterator[None]:
    """Make Python's wall clocks read ``clock[0]`` seconds (plus a nanosecond per read), then restore them.

    Only wall clocks follow the fake model: ``time.process_time`` and ``time.thread_time`` measure CPU
    time, which a model waiting for its result does not use, so a timer built on them must not pass.
    """
    import time
    import timeit

    names = ["perf_counter", "monotonic", "time"]
    saved = {n: getattr(time, n) for n in names} | {n + "_ns": getattr(time, n + "_ns") for n in names}
    saved_timeit = timeit.default_timer
    reads = [0]

    def now() -> float:
        reads[0] += 1
        return clock[0] + reads[0] * 1e-9

    for n in names:
        setattr(time, n, now)
        setattr(time, n + "_ns", lambda: int(now() * 1e9))
    timeit.default_timer = now
    try:
        yield
    finally:
        for n, f in saved.items():
            setattr(time, n, f)
        timeit.default_timer = saved_timeit


TIMER_PATTERN_MS = [100, 100, 100, 14, 6, 90, 8, 80, 20, 30]


TIMER_WARMUP = 3


def _timer_slips(timed: list[float]) -> list[tuple[float, str]]:
    """Numbers that a slip in a timer returns on the fake model, with what the slip is."""
    everything = TIMER_PATTERN_MS
    n = len(timed)
    return [(timed[n // 2 - 1], "that is the element just below the median: with 7 sorted times the median is the "
                                "4th, index 3 (use statistics.median rather than indexing by hand)"),
            (timed[n // 2 + 1], "that is the element just above the median (use statistics.median)"),
            (min(timed), "that is the fastest timed call (min), not the median"),
            (float(np.mean(timed)), "that is the mean of the timed calls; slow hiccups pull a mean up"),
            (float(np.median(everything)), "that is the median of all 10 calls: the warm-up calls were timed too"),
            (float(np.mean(everything)), "that is the mean of all 10 calls, warm-up included"),
            (max(timed), "that is the slowest timed call (max)")]


#: The further runs of the timer check: (warm-up count, ms of each call in order, number of inputs). Their
#: counts differ from the first run's 3 and 7, so a timer that hard-codes them fails; their medians are odd-sized.
TIMER_MORE_RUNS = ((1, [40, 12, 3, 45, 7, 9], 3), (4, [30, 30, 30, 30, 5, 2, 25, 11, 4], 5))


def _run_timer(timer: Callable, warmup: int, pattern_ms: list[float], n_inputs: int) -> tuple[object, list[int]]:
    """Call ``timer`` on a fake model whose calls take ``pattern_ms`` in turn (wall clocks follow it
    exactly, and it really sleeps); return the timer's result and the input index of every call."""
    import time

    calls: list[int] = []
    clock = [1000.0]
    sleep = time.sleep

    def fake_model(x):
        calls.append(int(np.asarray(x).ravel()[0]))
        ms = pattern_ms[min(len(calls) - 1, len(pattern_ms) - 1)]
        clock[0] += ms / 1000
        sleep(ms / 1000)

    inputs = [np.full(3, i, np.float32) for i in range(n_inputs)]
    with _virtual_clock(clock):
        got = timer(fake_model, inputs, warmup, len(pattern_ms) - warmup)
    return got, calls


def _timer_calls_problem(calls: list[int], warmup: int, repeats: int, n_inputs: int) -> str:
    """What is wrong with the calls a timer made ("" when right): their number, or timed calls that do
    not go through the inputs in turn."""
    if len(calls) != warmup + repeats:
        return (f"With warmup={warmup} and repeats={repeats} the model was called {len(calls)} times; expected "
                f"{warmup} warm-up + {repeats} timed = {warmup + repeats} (use the arguments, not fixed numbers).")
    timed = calls[warmup:]
    if len(set(timed)) < min(repeats, n_inputs) or any(b != (a + 1) % n_inputs for a, b in zip(timed, timed[1:])):
        return (f"The timed calls used the inputs {timed} (of {n_inputs}): they must go through the inputs in "
                "turn, like the warm-up calls.")
    return ""


def _timer_error(name: str, exc: Exception, warmup: int, repeats: int) -> CheckResult:
    if isinstance(exc, NotImplementedError):
        return _report(False, name, "The function still raises NotImplementedError: write its body.")
    return _report(False, name, f"Calling timer(fn, inputs, warmup={warmup}, repeats={repeats}) raised "
                   f"{type(exc).__name__}: {exc}")


def check_timer(name: str, timer: Callable) -> CheckResult:
    """01 Ex4: a learner's ``timer(fn, inputs, warmup, repeats) -> median milliseconds``.

    The fake model's first 3 calls take 100 ms (like tracing/compilation); the 7 timed calls take
    14, 6, 90, 8, 80, 20 and 30 ms. Their median is 20 ms; the neighbours of the median (14, 30), the
    fastest call (6), the mean (35.4) and the median with the warm-up calls timed too (55) are all
    distinguishable. The wall clocks of ``time`` and ``timeit`` follow the fake model exactly during the
    check (no noise); the model also really sleeps, so a wall clock imported some other way gives nearly
    the same numbers (the window allows 2 ms of oversleeping), while CPU time (``process_time``) stays
    near zero and fails. Then :data:`TIMER_MORE_RUNS` call it with other warm-up and repeat counts and
    numbers of inputs: every timed call must go through the inputs in turn (``inputs[i % len(inputs)]``).
    """
    if (res := _not_a_function(timer, name, "fn, inputs, warmup, repeats")) is not None:
        return res
    repeats = len(TIMER_PATTERN_MS) - TIMER_WARMUP
    try:
        got, calls = _run_timer(timer, TIMER_WARMUP, TIMER_PATTERN_MS, 4)
    except Exception as exc:  # noqa: BLE001 - the learner's error, as a message
        return _timer_error(name, exc, TIMER_WARMUP, repeats)
    if problem := _timer_calls_problem(calls, TIMER_WARMUP, repeats, 4):
        return _report(False, name, problem, "call fn once per warm-up run and once per timed run, on "
                       "inputs[i % len(inputs)]")
    if (res := _timer_value(name, got)) is not None:
        return res
    for warmup, pattern, n_inputs in TIMER_MORE_RUNS:
        if (res := _timer_more_run(name, timer, warmup, pattern, n_inputs)) is not None:
            return res
    return _report(True, name, "warm-up excluded, median of the timed runs in ms, inputs in turn.")


def _timer_more_run(name: str, timer: Callable, warmup: int, pattern: list[float], n_inputs: int):
    """The failed check of one further run of :func:`check_timer`, or None when it passes."""
    repeats = len(pattern) - warmup
    try:
        got, calls = _run_timer(timer, warmup, pattern, n_inputs)
    except Exception as exc:  # noqa: BLE001
        return _timer_error(name, exc, warmup, repeats)
    hint = "use warmup and repeats as given, and cycle the inputs with inputs[i % len(inputs)]"
    if problem := _timer_calls_problem(calls, warmup, repeats, n_inputs):
        return _report(False, name, problem, hint)
    value, problem = _number_problem(got)
    median = float(np.median(pattern[warmup:]))
    if problem or not median - 0.5 <= float(value) <= median + 2.0:
        return _report(False, name, f"With warmup={warmup}, repeats={repeats}: it returned {describe(got)}, "
                       f"which is not the median of the timed calls ({pattern[warmup:]} ms).", hint)
    return None


def _timer_value(name: str, got) -> CheckResult | None:
    """The failed check when the first run's result is not the median in ms (naming the slip), else None."""
    value, problem = _number_problem(got)
    if problem:
        return _report(False, name, f"{problem} Expected the median in milliseconds.")
    value = float(value)
    timed = sorted(TIMER_PATTERN_MS[TIMER_WARMUP:])
    median = float(np.median(timed))
    shown = f"The timed calls took {TIMER_PATTERN_MS[TIMER_WARMUP:]} ms."
    steps = ("run the warm-up calls first without timing them, then return statistics.median of the timed "
             "runs in milliseconds")
    if median - 0.5 <= value <= median + 2.0:
        return None
    if abs(value * 1000 - median) <= 2.0:
        return _report(False, name, f"Got {value:.4g}: is it in seconds? {shown}",
                       "time.perf_counter() returns seconds: multiply by 1000")
    if value < 1.0:
        return _report(False, name, f"Got {value:.4g} ms, although every timed call took at least {min(timed)} ms: "
                       "does your timer read CPU time (time.process_time) instead of the wall clock?",
                       "a model that waits (for memory, for another thread) uses no CPU time: time each call with "
                       "time.perf_counter()")
    for reference, why in _timer_slips(timed):
        if abs(value - reference) <= 0.1 * reference:
            return _report(False, name, f"Got {value:.1f} ms: {why}. {shown}", steps)
    return _report(False, name, f"Got {value:.1f} ms, which is not the median of the timed calls. {shown}",
                   "(1) run the warm-up calls first and do not time them; (2) time each call with "
                   "time.perf_counter() and return the median (statistics.median) in milliseconds")


def _layer_row(model, layer: str):
    from . import profile

    return profile.layer_table(model).set_index("layer").loc[layer]


def check_conv2_macs(conv2_macs, model) -> CheckResult:
    """01 Ex1: the MACs of ``model``'s conv2 (3x3, 16 -> 32 channels, 14x14 output), counted by the profiler."""
    return check_int("MACs of conv2", conv2_macs, int(_layer_row(model, "conv2")["MACs"]),
                     factors={4: "4 (the 28x28 input instead of the 14x14 output?)", 9: "9 (the 3x3 kernel)",
                              16: "16 (the input channels)", 196: "196 (14x14 output positions)"},
                     hint="Which map size does conv2 produce, and which channel counts does it connect?")


def check_logits_params(logits_params, model) -> CheckResult:
    """01 Ex2: the parameters of ``model``'s logits layer (64 -> 10 dense)."""
    expected = int(model.get_layer("logits").count_params())
    hint = "A dense layer has a weight per input-output pair; is anything else stored per output?"
    return check_int("parameters of logits", logits_params, expected, hint=hint)


def check_activation_bytes(conv1_batch_bytes, model, batch: int = 32) -> CheckResult:
    """01 Ex3: the bytes of ``model``'s conv1 output for a float32 batch of ``batch`` images."""
    expected = int(_layer_row(model, "conv1")["activation bytes"]) * batch
    return check_int(f"bytes of conv1's output for a batch of {batch}", conv1_batch_bytes, expected,
                     factors={4: "4 (bytes per float32)", batch: f"{batch} (the batch size)"},
                     hint="Values per image, bytes per value, images per batch: three factors.")


# ---------------------------------------------------------------------------- 02 · depthwise-separable convolution
def check_two_step(depthwise, pointwise, two_step_output, reference, images, name: str = "two-step separable") -> CheckResult:
    """02 Ex3: a ``DepthwiseConv2D`` and a 1x1 ``Conv2D`` holding ``reference``'s weights, and their output.

    The layers themselves are checked (type, kernel size, weights equal to the SeparableConv2D's), and
    the checker runs ``pointwise(depthwise(images))`` itself, so copying ``reference(images)`` fails.
    """
    import keras

    for label, layer, kind in (("depthwise", depthwise, keras.layers.DepthwiseConv2D),
                               ("pointwise", pointwise, keras.layers.Conv2D)):
        if layer is None or layer is Ellipsis:
            return _report(False, name, f"`{label}` is not filled in yet (it is {describe(layer)}).",
                           f"Create `{label}` as a keras.layers.{kind.__name__}.")
        if not isinstance(layer, kind) or (label == "pointwise" and isinstance(layer, keras.layers.DepthwiseConv2D)):
            return _report(False, name, f"`{label}` should be a keras.layers.{kind.__name__}, got {describe(layer)}.")
    if tuple(pointwise.kernel_size) != (1, 1):
        return _report(False, name, f"`pointwise` has a {pointwise.kernel_size} kernel; the pointwise step is 1x1.")
    ref_dw, ref_pw, *ref_b = [np.asarray(w) for w in reference.get_weights()]
    got_dw = [np.asarray(w) for w in depthwise.get_weights()]
    got_pw = [np.asarray(w) for w in pointwise.get_weights()]
    if not got_dw or got_dw[0].shape != ref_dw.shape or not np.allclose(got_dw[0], ref_dw):
        return _report(False, name, "`depthwise` does not hold the reference's depthwise kernel "
                       f"(shape {ref_dw.shape}).", "depthwise.set_weights([reference.get_weights()[0]]) after build.")
    if len(got_dw) > 1 and np.any(got_dw[1]):
        return _report(False, name, "`depthwise` adds a bias; the separable layer's bias comes after the pointwise step.",
                       "DepthwiseConv2D(..., use_bias=False)")
    if not got_pw or got_pw[0].shape != ref_pw.shape or not np.allclose(got_pw[0], ref_pw):
        return _report(False, name, f"`pointwise` does not hold the reference's pointwise kernel (shape {ref_pw.shape}).")
    bias = got_pw[1] if len(got_pw) > 1 else np.zeros(ref_pw.shape[-1])
    if ref_b and not np.allclose(bias, ref_b[0]):
        return _report(False, name, "`pointwise` does not hold the reference's bias.", "pointwise.set_weights([kernel, bias])")
    if (res := _missing(name, two_step_output)) is not None:
        return res
    expected = np.asarray(reference(images))
    mine = np.asarray(pointwise(depthwise(images)))
    problem = _compare_arrays(mine, expected, 1e-4, 1e-5) or _compare_arrays(two_step_output, mine, 1e-4, 1e-5)
    if problem:
        return _report(False, name, "two_step_output is not pointwise(depthwise(test_images)): " + problem,
                       "Apply depthwise first, then pointwise, to test_images.")
    return _report(True, name, "DepthwiseConv2D + 1x1 Conv2D == SeparableConv2D.")



SEPARABLE_CASES = ((3, 32, 64, 56), (5, 8, 16, 14), (1, 3, 7, 9), (3, 512, 512, 14))  #: (Dk, M, N, Df)


def check_separable_macs(fn: Callable, name: str = "my_separable_macs") -> CheckResult:
    """02 Ex1: ``fn(dk, m, n, df)``, the MACs of a depthwise-separable layer, on :data:`SEPARABLE_CASES`."""
    from . import separable

    cases = [(args, separable.separable_conv_macs(*args)) for args in SEPARABLE_CASES]
    return checks.check_function(name, fn, cases, hint="The layer is two steps: is each one costed, "
                                 "with the channels it really connects?")


def check_equivalent_kernel(fn: Callable, name: str = "my_equivalent_kernel") -> CheckResult:
    """02 Ex2: ``fn(dw, pw)``, the standard (Dk, Dk, M, N) kernel equal to a depthwise + pointwise pair."""
    from . import separable

    rng = np.random.default_rng(0)
    dw, pw = rng.normal(size=(3, 3, 5, 1)), rng.normal(size=(1, 1, 5, 7))
    return checks.check_function(name, fn, [((dw, pw), separable.equivalent_kernel(dw, pw))],
                                 hint="Each input channel keeps its own spatial filter: nothing is summed over "
                                      "the channels, and the result has one entry per (y, x, c, o).")


def check_predicted_speedup(predicted_speedup, name: str = "predicted speed-up for Dk=3, M=N=64") -> CheckResult:
    """02 Ex4: standard / separable MACs for a 3x3 layer, M = N = 64, 32x32 map; two decimals pass."""
    from . import separable

    expected = separable.standard_conv_macs(3, 64, 64, 32) / separable.separable_conv_macs(3, 64, 64, 32)
    value = _scalar(predicted_speedup)
    hint = "Standard MACs divided by separable MACs: most factors cancel."
    if value is not None and value and np.isclose(1 / float(value), expected, rtol=1e-3):
        hint = "That is the ratio upside down: standard MACs on top (a speed-up is larger than 1)."
    return check_close(name, predicted_speedup, expected, rtol=0, atol=0.005 + 1e-9, hint=hint)


# ---------------------------------------------------------------------------- 03 · MobileNetV2
BLOCK_CASES = (((16, 16, 24), 6, 24, 1),   # stride 1, equal channels: the shortcut
               ((16, 16, 24), 6, 32, 2),   # stride 2: no shortcut
               ((16, 16, 16), 1, 16, 1),   # t = 1: no expansion layer, but a shortcut
               ((8, 8, 24), 4, 32, 1),     # stride 1 but the channels change: no shortcut
               ((16, 16, 24), 3, 24, 2))   # stride 2 with equal channels: no shortcut


def check_block(my_block: Callable, cases=BLOCK_CASES) -> CheckResults:
    """03 Ex2: ``my_block(x, expansion, filters, stride)`` against ``mobilenet.inverted_residual_block``:
    output shape, parameters, MACs, layer sequence, ReLU6, the shortcut and the linear bottleneck.

    The cases vary t (6, 1, 4, 3), the stride and whether the channels change, so that an expansion tied
    to one t, an expansion layer kept for t = 1, or a shortcut that looks only at the stride (or only at
    the channels) each fail a case. One line per case: what passed, or the first thing that differs.
    """
    import keras

    from . import mobilenet, profile

    if (res := _missing("my_block", my_block)) is not None:
        return CheckResults([res])
    if not callable(my_block):
        return CheckResults([_report(False, "my_block", f"Expected a function my_block(x, expansion, filters, stride), got {describe(my_block)}.")])
    if (res := _stale("my_block", my_block)) is not None:
        return CheckResults([res])
    results = []
    for (shape, t, filters, stride) in cases:
        what = f"block t={t}, {shape[-1]}->{filters}, stride {stride}"
        inp = keras.Input(shape)
        try:
            mine = keras.Model(inp, my_block(inp, t, filters, stride))
        except Exception as exc:  # noqa: BLE001 - a friendly message instead of a traceback
            results.append(check(False, what, f"my_block raised {type(exc).__name__}: {exc}",
                                 "Write the body of my_block so that it returns the block's output tensor."))
            continue
        ref = keras.Model(inp, mobilenet.inverted_residual_block(inp, t, filters, stride, name="ref"))
        problem = _block_difference(mine, ref, shape[-1], t, filters, stride, keras, mobilenet, profile)
        results.append(_report(False, what, problem[0] + ".", problem[1]) if problem else
                       _report(True, what, "shape, parameters, MACs, layers, ReLU6, shortcut, linear projection."))
    return CheckResults(results)


def _block_difference(mine, ref, in_channels, t, filters, stride, keras, mobilenet, profile) -> tuple[str, str] | None:
    """The first way ``mine`` differs from the reference block, as (what, hint), or None."""
    got_shape, want_shape = tuple(mine.output.shape), tuple(ref.output.shape)
    if got_shape != want_shape:
        return f"output shape {got_shape}, expected {want_shape}", "The stride belongs to the depthwise convolution."
    if mine.count_params() != ref.count_params():
        return (f"{mine.count_params():,} parameters, expected {ref.count_params():,}",
                f"The expansion has t * (input channels) filters; with t = 1 there is no expansion layer. "
                "Convolutions have no bias; each batch norm adds 4 numbers per channel.")
    if profile.count_macs(mine) != profile.count_macs(ref):
        return (f"{profile.count_macs(mine):,} MACs, expected {profile.count_macs(ref):,}",
                "The stride belongs to the depthwise convolution, so the projection runs on the small map.")
    # keras.applications pads explicitly (ZeroPadding2D + "valid") before a stride-2 depthwise; "same" is equivalent here
    def sequence(model) -> list:  # ReLU(6.0) and Activation("relu6") are the same layer; the Add is compared apart
        kinds = {"ZeroPadding2D", "Add"}
        return [("ReLU" if kind == "Activation" else kind, shape)
                for kind, shape in mobilenet.layout(model) if kind not in kinds]

    wants_add, has_add = _ends_with_add(ref, keras), _ends_with_add(mine, keras)
    if has_add != wants_add:
        why = "stride 1 but the channels change" if stride == 1 and in_channels != filters else \
              "stride 2" if stride != 1 else "stride 1 and equal channels"
        return (f"the block {'ends with' if has_add else 'has no'} Add ({why})",
                "Add the input only when stride == 1 and the input and output channel counts are equal.")
    relus = [layer for layer in mine.layers if isinstance(layer, (keras.layers.ReLU, keras.layers.Activation))]
    if not relus or not all(_relu6_like(layer, keras) for layer in relus):
        return "an activation is not ReLU6 (or there is none)", "ReLU6 caps the activation at 6."
    adds_layer = has_add and isinstance(mine.layers[-1], keras.layers.Add)
    tail = mine.layers[-2] if adds_layer and len(mine.layers) > 1 else mine.layers[-1]
    if not isinstance(tail, keras.layers.BatchNormalization):
        return (f"the projection's batch norm is followed by a {type(tail).__name__}",
                "Do not put an activation after the projection's batch norm (the bottleneck is linear).")
    if sequence(mine) != sequence(ref):
        return ("the layer types or output shapes differ from [expand 1x1 -> BN -> ReLU6 ->] depthwise 3x3 "
                "(stride) -> BN -> ReLU6 -> project 1x1 -> BN [-> Add]", "Follow the order in the exercise text exactly.")
    return None


def _budget_tables(table, keys: list[str], latency_col: str, accuracy_col: str):
    """Synthetic sweep tables, each with a budget and the set of right answers, that tell selection rules
    apart: the most accurate row overall is over the budget; a row sits exactly at the budget; the best
    row within the budget is neither the fastest, nor the slowest within it, nor the first or the last
    row, nor the widest; two rows tie on accuracy (either passes). Other columns of ``table`` are copied
    with the value of its first row, so a rule may read them without a KeyError."""
    rows = [  # (key values..., latency, accuracy); keys beyond two get the first row's value
        ([(1.0, 48, 0.9, 0.85), (0.35, 32, 0.1, 0.60), (0.75, 40, 0.3, 0.74), (0.5, 32, 0.25, 0.72),
          (1.4, 48, 1.5, 0.90)], 0.3, {(0.75, 40)}),
        ([(0.5, 64, 0.95, 0.70), (1.0, 32, 0.40, 0.74), (0.75, 48, 0.70, 0.80), (0.35, 64, 0.20, 0.65),
          (1.4, 64, 2.00, 0.95)], 1.0, {(0.75, 48)}),
        ([(0.35, 32, 0.50, 0.61), (0.5, 40, 0.35, 0.70), (0.75, 32, 0.60, 0.70), (1.0, 48, 0.90, 0.82)],
         0.6, {(0.5, 40), (0.75, 32)}),
    ]
    import pandas as pd

    tables = []
    for spec, budget, right in rows:
        frame = pd.DataFrame({keys[0]: [r[0] for r in spec], keys[1 % len(keys)]: [r[1] for r in spec],
                              latency_col: [r[2] for r in spec], accuracy_col: [r[3] for r in spec]})
        for col in table.columns:
            if col not in frame.columns:
                frame[col] = table[col].iloc[0] if len(table) else np.nan
        order = [c for c in table.columns] + [c for c in frame.columns if c not in table.columns]
        tables.append((frame[order], budget, right))
    return tables


def _as_choice(choice, keys: list[str]):
    """``(tuple of numbers, "")`` or ``(None, why not)``."""
    try:
        if isinstance(choice, (str, bytes, dict)):
            raise TypeError
        choice = tuple(choice)
    except TypeError:
        return None, f"Expected a tuple {tuple(keys)}, got {checks.describe(choice)}."
    if len(choice) != len(keys):
        return None, f"Expected a tuple of {len(keys)} values {tuple(keys)}, got {choice!r}."
    bad = [v for v in choice if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer, np.floating))]
    if bad:
        return None, f"Expected numbers {tuple(keys)}, got {choice!r} ({bad[0]!r} is not a number)."
    return tuple(float(v) for v in choice), ""


def check_budget_choice(choice, table, budget_ms: float, latency_col: str = "latency ms",
                        accuracy_col: str = "accuracy", key_cols: Sequence[str] = ("alpha", "resolution"),
                        name: str = "latency budget"):
    """03 Ex3 checker. ``choice`` is either a rule, ``choose(table, budget_ms) -> (alpha, resolution)``, or the
    tuple it chose. It must give the most accurate row whose latency is within the budget (``<=``).

    A rule is first tried on synthetic tables that tell the usual wrong rules apart (fastest row, slowest
    row within the budget, most accurate overall, ``<`` instead of ``<=``, first or last row), so the
    check does not depend on how many rows this run's sweep has; then on ``table`` itself. A tuple can
    only be checked against ``table`` (with a short sweep, several rules pick the same row). Ties in
    accuracy: any row with the best accuracy within the budget passes.
    """
    keys = list(key_cols)
    if choice is None or choice is Ellipsis:
        return checks.check(False, name, f"You have not filled this in yet (it is {checks.describe(choice)}).",
                            "Write the rule, then set choice = choose_within_budget(sweep, budget_ms).")
    if callable(choice):
        if (res := checks._stale(name, choice)) is not None:
            return res
        for i, (frame, budget, right) in enumerate(_budget_tables(table, keys, latency_col, accuracy_col), 1):
            try:
                got = choice(frame.copy(), budget)
            except Exception as exc:  # noqa: BLE001 - the learner's error, as a message
                return checks.check(False, name, f"On test table {i} (budget {budget} ms) your rule raised "
                                    f"{type(exc).__name__}: {exc}")
            picked, problem = _as_choice(got, keys)
            if problem:
                return checks.check(False, name, f"On test table {i} your rule returned something else: {problem}",
                                    f"Return the ({', '.join(keys)}) values of the chosen row as numbers.")
            if picked not in right:
                row = frame[np.isclose(frame[keys[0]], picked[0]) & np.isclose(frame[keys[1]], picked[1])]
                why = ("which is not a row of the table" if row.empty else
                       "which is over the budget" if float(row[latency_col].iloc[0]) > budget else
                       "but another row within the budget is more accurate")
                return checks.check(False, name, f"On a test table (budget {budget} ms) your rule picked {picked}, "
                                    f"{why}.\n{frame[keys + [latency_col, accuracy_col]].to_string(index=False)}",
                                    f"Keep the rows with {latency_col} <= budget (a row exactly at the budget "
                                    f"is within it), then take the one with the highest {accuracy_col}.")
        try:
            choice = choice(table.copy(), budget_ms)
        except Exception as exc:  # noqa: BLE001
            return checks.check(False, name, f"On this run's sweep your rule raised {type(exc).__name__}: {exc}")
    picked, problem = _as_choice(choice, keys)
    if problem:
        return checks.check(False, name, problem, f"Copy the ({', '.join(keys)}) values of a row as numbers, "
                            "without quotes.")
    choice = tuple(picked)
    match = np.ones(len(table), dtype=bool)
    for k, v in zip(keys, choice):
        match &= np.isclose(table[k].to_numpy(dtype=float), float(v))
    if not match.any():
        return checks.check(False, name, f"{choice} is not a row of the table.",
                            f"Pick one of the measured ({', '.join(keys)}) pairs.")
    row = table[match].iloc[0]
    within = table[table[latency_col] <= budget_ms]
    if row[latency_col] > budget_ms:
        return checks.check(False, name, f"{choice} takes {row[latency_col]:.3f} ms, over the {budget_ms:.3f} ms budget.",
                            f"Keep only rows with {latency_col} <= the budget.")
    best = within[accuracy_col].max()
    return checks.check(bool(np.isclose(row[accuracy_col], best)), name,
                        f"{choice} meets the budget but another row within it is more accurate.",
                        f"Among the rows within the budget, take the highest {accuracy_col}.")



def check_inverted_block_macs(block_macs, name: str = "MACs of the inverted residual block") -> CheckResult:
    """03 Ex1: the MACs of an inverted residual block, 16x16x24 input, t = 6, 32 filters, stride 2."""
    import keras

    from . import mobilenet, profile

    inp = keras.Input((16, 16, 24))
    expected = profile.count_macs(keras.Model(inp, mobilenet.inverted_residual_block(inp, 6, 32, 2, name="ex1")))
    return check_int(name, block_macs, expected, hint="Three convolutions: which map size does each one run "
                     "on, before or after the stride?")


def _relu6_like(layer, keras) -> bool:
    """Whether a layer is ReLU6: ``ReLU(6.0)`` or ``Activation('relu6')``."""
    if isinstance(layer, keras.layers.ReLU):
        return layer.max_value is not None and float(layer.max_value) == 6.0
    return isinstance(layer, keras.layers.Activation) and getattr(layer.activation, "__name__", "") == "relu6"


def _ends_with_add(model, keras) -> bool:
    """Whether the model's output adds its input (the shortcut): an ``Add`` layer, or ``x + y`` /
    ``ops.add`` (Keras 3 records those as an operation, not a layer)."""
    history = getattr(model.outputs[0], "_keras_history", None)
    op = getattr(history, "operation", None)
    if not (isinstance(op, keras.layers.Add) or type(op).__name__ == "Add"):
        return False
    try:
        inputs = op._inbound_nodes[history.node_index].input_tensors  # noqa: SLF001
    except (AttributeError, IndexError):
        return True
    return any(t is model.inputs[0] for t in inputs)


# ---------------------------------------------------------------------------- 04 · binarization
ALPHA_ATOL = 0.0005 + 1e-9  #: 04 Ex1 asks for alpha to three decimals (0.356 passes, 0.36 does not)


def check_binary_filter(my_alpha, my_binary_filter, filt) -> CheckResults:
    """04 Ex1: BWN's alpha (mean |w|) of ``filt`` and the binarized filter alpha * sign(filt), sign(0) = +1.
    Three decimals pass (:data:`ALPHA_ATOL`); fewer are told "close: keep more digits"."""
    filt = np.asarray(filt, np.float64)
    alpha = float(np.abs(filt).mean())
    signs = np.where(filt >= 0, 1.0, -1.0)
    first = check_close("alpha of the filter", my_alpha, alpha, rtol=0, atol=ALPHA_ATOL,
                        hint="alpha averages one quantity over all nine weights: which one keeps the signs "
                             "from cancelling?")
    arr, _ = checks.as_array(my_binary_filter)
    hint = "Every value should be +alpha or -alpha, with the sign of its weight."
    if arr is not None and arr.shape == filt.shape:
        if np.allclose(np.abs(arr), 1):
            hint = "The values are only the signs: scale them by alpha."
        elif not np.allclose(arr[filt == 0], alpha, atol=ALPHA_ATOL):
            hint = "Look at the weight that is exactly 0: in this course sign(0) = +1."
    second = checks.check_array("binarized filter", my_binary_filter, alpha * signs, rtol=0, atol=ALPHA_ATOL,
                                hint=hint)
    return CheckResults([first, second])


def check_ste(name: str, fn: Callable, x=(-2.5, -1.0, -0.7, 0.0, 0.2, 1.0, 1.01, 3.0)) -> CheckResult:
    """04 Ex2: forward value sign(x) (sign(0) = +1) and straight-through gradient 1 for |x| <= 1."""
    from . import binarize

    if (res := _not_a_function(fn, name, "x")) is not None:
        return res
    x = np.asarray(x, np.float32)
    want_v, want_g = binarize.forward_and_gradient(binarize.ste_sign, x)
    try:
        got_v, got_g = binarize.forward_and_gradient(fn, x)
    except NotImplementedError:
        return _report(False, name, "The function still raises NotImplementedError: write its body.")
    except Exception as exc:  # noqa: BLE001
        return _report(False, name, f"Calling it on x = {_show(x)} raised {type(exc).__name__}: {exc}")
    for what, got, want, hint in (
            ("forward value", got_v, want_v, "The value must be sign(x) with sign(0) = +1: ops.where(x >= 0, 1.0, -1.0)."),
            ("gradient", got_g, want_g, "The gradient must be 1 for |x| <= 1 (both ends included) and 0 outside.")):
        problem = _compare_arrays(got, want, 0.0, 1e-6, args=(x,))
        if problem:
            return _report(False, name, f"The {what} on x = {_show(x)}: {problem}", hint)
    return _report(True, name, "value sign(x), gradient 1 on [-1, 1].")


def check_xnor(my_xnor, my_agreements, my_dot, a_bits: str, b_bits: str) -> CheckResults:
    """04 Ex3: the XNOR bit string, its popcount and the ±1 dot product of two bit strings."""
    expected = "".join("1" if p == q else "0" for p, q in zip(a_bits, b_bits))
    results = []
    name = "XNOR bit string"
    if (res := _missing(name, my_xnor)) is not None:
        results.append(res)
    elif not isinstance(my_xnor, str):
        results.append(_report(False, name, f"Expected a string of {len(expected)} characters 0/1, "
                               f"got {describe(my_xnor)}.", "Build it with ''.join(...)."))
    elif my_xnor == expected:
        results.append(_report(True, name, expected))
    else:
        why = f"You gave {my_xnor!r}"
        if len(my_xnor) != len(expected):
            why += f" ({len(my_xnor)} characters instead of {len(expected)})"
        elif set(my_xnor) - {"0", "1"}:
            why += " (only the characters 0 and 1 are allowed)"
        elif my_xnor == expected[::-1]:
            why += " (that is the right string reversed: keep the bit order of a_bits and b_bits)"
        elif my_xnor == "".join("1" if c == "0" else "0" for c in expected):
            why += " (that is XOR, the complement: XNOR is 1 where the bits are equal)"
        else:
            diff = [i for i, (p, q) in enumerate(zip(my_xnor, expected)) if p != q]
            why += f" ({len(diff)} of {len(expected)} bits are wrong, the first at position {diff[0]})"
        results.append(_report(False, name, why + ".", "XNOR is 1 where the two bits are equal and 0 where they "
                               "differ.", repr(expected)))
    agreements = expected.count("1")
    results.append(check_int("agreements (popcount)", my_agreements, agreements, hint="Count the 1s in the XNOR string.",
                             factor=False))
    results.append(check_int("binary dot product", my_dot, 2 * agreements - len(a_bits),
                             hint="Each agreement adds +1 to a ±1 dot product; what does each disagreement add?",
                             factor=False))
    return CheckResults(results)


def check_binary_layer_bytes(my_layer_bytes, my_layer_ratio, kernel_size: int, c_in: int, c_out: int,
                             word_bits: int = 64) -> CheckResults:
    """04 Ex4: bytes of a binary conv layer (signs padded to whole words per filter + a float32 alpha per
    filter) and its float32/binary ratio. Diagnoses the usual slips by recomputing them."""
    from . import binarize
    import keras

    layer = keras.Sequential([keras.Input((8, 8, c_in)), binarize.BinaryConv2D(c_out, kernel_size, name="b")])
    expected = int(binarize.memory_report(layer)["deployed bytes"].sum())
    n = kernel_size * kernel_size * c_in
    words = -(-n // word_bits)
    rounded: dict[int, list[str]] = {}
    for w, how in ((n // word_bits, "rounded down"), (round(n / word_bits), "rounded to the nearest whole number")):
        if w != words:
            rounded.setdefault(w, []).append(how)
    slips = [(c_out * (w * word_bits // 8 + 4), f"the word count was {' or '.join(hows)}: a partly used last word "
              "is still stored, so round up (ceil)") for w, hows in rounded.items()]
    slips += [(c_out * (n / 8 + 4), "the signs were not padded to whole 64-bit words"),
              (c_out * n / 8, "the signs were not padded to whole words and the alphas are missing"),
              (c_out * words * word_bits // 8, "one float32 alpha per filter (4 bytes each) is missing"),
              (c_out * words * word_bits // 8 + 4, "alpha is per filter (one float32 for each of the filters), not one per layer"),
              (c_out * words, "a 64-bit word is 8 bytes, not 1")]
    results = []
    name = "bytes of the binary layer"
    value, problem = _number_problem(my_layer_bytes, integer=True) if my_layer_bytes not in (None, Ellipsis) else (None, "")
    slip = "; ".join(dict.fromkeys(why for b, why in slips if value is not None and float(value) == b and b != expected))
    results.append(check_int(name, my_layer_bytes, expected,
                             hint=slip or f"Work per filter: its signs in whole {word_bits}-bit words, and what "
                             "else each filter stores; then all the filters."))
    float_bytes = n * c_out * 4
    hint = "float32 bytes (4 per weight) divided by the binary layer's bytes."
    if isinstance(my_layer_ratio, (int, float)) and my_layer_ratio and not isinstance(my_layer_ratio, bool) \
            and np.isclose(1 / my_layer_ratio, float_bytes / expected, rtol=1e-6):
        hint = "the ratio is upside down: float32 bytes / binary bytes (larger than 1)."
    results.append(check_close("float32 / binary ratio", my_layer_ratio, float_bytes / expected, rtol=1e-6,
                               atol=0.005 + 1e-9, hint=hint))  # a ratio rounded to two decimals passes
    return CheckResults(results)



# ---------------------------------------------------------------------------- 05 · pruning
def check_threshold(threshold, weights, target: float, name: str = "threshold") -> CheckResults:
    """05 Ex1: the magnitude threshold t with a fraction ``target`` of the weights at ``|w| <= t``.

    Two checks: the value (``prune.magnitude_threshold``, k = round(s * n), the k-th smallest |w|) and
    the fraction of weights at or below it. One threshold for the whole tensor: a string, a per-channel
    array or a negative number gets a ❌ that says so, never a traceback.
    """
    from . import prune

    w = np.asarray(weights)
    label = f"{name} for {target:.0%} sparsity"
    hint = (f"Sort |w| (flattened), take the k-th smallest, k = round({target:g} * n). Python indexes from 0.")
    value = _scalar(threshold)
    if value is None and threshold is not None and threshold is not Ellipsis and np.ndim(threshold) >= 1 \
            and not isinstance(threshold, (str, bytes)):
        hint = (f"One threshold for the whole tensor, not {describe(threshold)}: flatten all {w.size} weights "
                "(np.abs(w).ravel()) before sorting.")
    if value is not None and float(value) < 0:
        hint = "A threshold on magnitudes is never negative: sort np.abs(w), not w."
    first = check_close(label, threshold, prune.magnitude_threshold(w, target), rtol=1e-6, hint=hint)
    fraction_name = "fraction of weights at or below your threshold"
    if value is None or not math.isfinite(float(value)):
        second = _report(False, fraction_name, "Not computed: the threshold above is not a single finite number.")
    else:
        second = check_close(fraction_name, float(np.mean(np.abs(w) <= float(value))), target, atol=0.5 / w.size)
    return CheckResults([first, second])



def schedule_cases() -> list[tuple[tuple, float]]:
    """05 Ex2's cases: Zhu & Gupta's schedule before, inside and after the window, power 1, and a nonzero
    initial sparsity (returned as it is before and at ``begin_step``)."""
    from . import prune

    cases = [((t, 0.0, 0.9, 100, 1100), prune.polynomial_sparsity(t, 0.0, 0.9, 100, 1100))
             for t in (0, 100, 350, 600, 1000, 1100, 2000)]
    cases.append(((50, 0.2, 0.5, 0, 100, 1), prune.polynomial_sparsity(50, 0.2, 0.5, 0, 100, power=1)))
    cases += [((t, 0.3, 0.8, 100, 600, 3), prune.polynomial_sparsity(t, 0.3, 0.8, 100, 600)) for t in (50, 100, 350, 700)]
    return cases


def check_schedule(fn: Callable, name: str = "my_schedule") -> CheckResult:
    """05 Ex2: ``fn(step, initial, final, begin_step, end_step, power=3)``, the polynomial sparsity schedule."""
    return checks.check_function(name, fn, schedule_cases(), hint="Outside the pruning window the progress "
                                 "stays at 0 or 1; inside, compare your curve with the formula above the exercise.")


def check_pruned_kernel(conv2_small, small, name: str = "conv2 kernel after channel pruning") -> CheckResult:
    """05 Ex3: conv2's kernel with conv1's and conv2's pruned channels removed, equal to ``small``'s conv2."""
    expected = np.asarray(small.get_layer("conv2").kernel)
    return checks.check_array(name, conv2_small, expected, hint="A conv kernel is (H, W, C_in, C_out): which "
                              "axis do conv1's kept channels index, and which conv2's own kept filters?")


def check_pruned_macs(macs_conv2_small, small, name: str = "MACs of the pruned conv2") -> CheckResult:
    """05 Ex4: the MACs of ``small``'s (the channel-pruned model's) conv2."""
    return check_int(name, macs_conv2_small, int(_layer_row(small, "conv2")["MACs"]),
                     hint="Pruning changed the channel counts on both sides of conv2.")


# ---------------------------------------------------------------------------- 06 · CReLU and hyper-features
def opposite_filter_kernel(kernel, index: int = 0):
    """06 Ex1's kernel: ``kernel`` (filters along the last axis) with its last filter replaced by a decoy.

    The decoy is the negated, mean-free filter ``index`` plus a large constant (a "brightness" part):
    its Pearson correlation with filter ``index`` is exactly -1, but its cosine is close to 0, so a
    learner who centres the filters (Pearson, ``np.corrcoef``) instead of taking the cosine picks it.
    """
    kernel = np.array(kernel, np.float32, copy=True)
    rows = kernel.reshape(-1, kernel.shape[-1]).T.astype(np.float64)
    f = rows[index]
    centred = f - f.mean()
    sign = 1.0 if f.mean() >= 0 else -1.0
    decoy = -centred + sign * 10.0 * np.linalg.norm(f) / np.sqrt(f.size)
    flat = kernel.reshape(-1, kernel.shape[-1])
    flat[:, -1 if index != kernel.shape[-1] - 1 else 0] = decoy
    return flat.reshape(kernel.shape)


def check_opposite_filter(opposite, kernel, index: int = 0, name: str = "opposite filter") -> CheckResult:
    """06 Ex1: the index j != ``index`` whose filter has the most negative *cosine* with filter ``index``.

    Common slips are recomputed and named: a raw dot product, argmax, indices from 1, Pearson correlation
    (centred filters; :func:`opposite_filter_kernel` makes it differ from the cosine), columns instead of
    rows. Several slips may give the same index; all of them are named.
    """
    rows = np.asarray(kernel, np.float64).reshape(-1, np.shape(kernel)[-1]).T
    n = len(rows)

    def argmin_excluding(scores, fn=np.argmin):
        scores = np.array(scores, np.float64)
        scores[index] = np.inf if fn is np.argmin else -np.inf
        return int(fn(scores))

    unit = rows / np.linalg.norm(rows, axis=1, keepdims=True)
    expected = argmin_excluding(unit @ unit[index])
    centred = rows - rows.mean(axis=1, keepdims=True)
    cunit = centred / np.linalg.norm(centred, axis=1, keepdims=True)
    slips = [(argmin_excluding(rows @ rows[index]), "that filter has the most negative *dot product*, but only because "
                                                   "it is long: normalise every filter to length 1 first (cosine, not "
                                                   "dot product)"),
             (argmin_excluding(unit @ unit[index], np.argmax), "that is the *most similar* filter (argmax); the opposite "
                                                              "one has the most negative cosine (argmin)"),
             (argmin_excluding(cunit @ cunit[index]), "that is the most negative *correlation* (Pearson): it subtracts "
                                                      "each filter's mean first, which a negated filter keeps; use the "
                                                      "cosine of the raw filters"),
             (expected + 1, "indices count from 0 in NumPy")]
    value = _scalar(opposite)
    slip = ""
    if value is not None and float(value).is_integer() and int(value) != expected:
        slip = "; or ".join(dict.fromkeys(why for j, why in slips if j == int(value) and j != expected))
        if not slip and not 0 <= int(value) < n:
            slip = f"the layer has {n} filters, indexed 0 to {n - 1}"
    return check_int(name, opposite, expected, factor=False,
                     hint=slip or "Compare the filters' directions, not their lengths, and leave the filter "
                                  "itself out.")


def check_crelu_saving(macs_saved, plain, crelu_model, conv: str = "conv2", name: str = "MACs saved by CReLU") -> CheckResult:
    """06 Ex3: the net MACs a CReLU block saves: plain conv minus (half-width conv + CReLU scale/shift)."""
    from . import profile

    t_plain = profile.layer_table(plain).set_index("layer")
    t_crelu = profile.layer_table(crelu_model).set_index("layer")
    conv_plain, conv_half = int(t_plain.loc[conv, "MACs"]), int(t_crelu.loc[conv, "MACs"])
    scale_shift = int(t_crelu.loc[f"{conv}_crelu", "MACs"])
    expected = conv_plain - conv_half - scale_shift
    slips = {conv_plain - conv_half: "the CReLU layer's scale/shift is not free: it costs one multiply-add per "
                                     "output value",
             conv_plain - conv_half - scale_shift // 2: "the scale/shift runs on the CReLU's output, which has all "
                                                        "the channels again",
             conv_plain: "that is the plain conv's cost, not the saving"}
    value = _scalar(macs_saved)
    slip = slips.get(int(value), "") if value is not None and float(value).is_integer() and int(value) != expected else ""
    return check_int(name, macs_saved, expected, hint=slip or "Three costs: the plain conv, the half-width conv "
                     "and the CReLU layer's scale/shift. What does the CReLU block save, net?")



def check_crelu(fn: Callable, name: str = "my_crelu") -> CheckResult:
    """06 Ex2: ``fn(x)``, CReLU on the last axis, on a vector and on a batch of feature maps."""
    from . import pvanet

    x_small = np.array([1.0, -2.0, 0.5])
    x_batch = np.random.default_rng(0).normal(size=(2, 4, 4, 3))
    cases = [((x_small,), pvanet.crelu(x_small)), ((x_batch,), pvanet.crelu(x_batch))]
    return checks.check_function(name, fn, cases, hint="CReLU doubles the channels (the last axis): what goes "
                                 "into the second half, and when is the ReLU applied?")


# ---------------------------------------------------------------------------- 07 · int8 quantization
def check_qparams_function(fn: Callable, name: str = "my_qparams") -> CheckResult:
    """07 Ex1: ``fn(rmin, rmax) -> (scale, zero_point)`` for asymmetric int8, the zero point a Python/NumPy int.

    The ranges are chosen so that ceil, floor and int() (truncation) each fail one of them. On an exact
    tie (``[-1, 1]``: q_min - r_min / s = -0.5) either neighbour passes: ``np.round`` gives 0 (half to
    even), rounding half away from zero gives -1, as the LiteRT converter does.
    """
    from . import quantize

    if (res := _not_a_function(fn, name, "rmin, rmax")) is not None:
        return res
    for lo, hi in ((-0.5, 1.5), (-0.3, 1.7), (-1.0, 1.0), (0.0, 6.0), (-3.0, 0.2)):
        ref = quantize.qparams_from_range(lo, hi)
        scale, zero = float(ref.scale), int(ref.zero_point)
        try:
            got = fn(lo, hi)
        except NotImplementedError:
            return _report(False, name, "The function still raises NotImplementedError: write its body.")
        except Exception as exc:  # noqa: BLE001
            return _report(False, name, f"my_qparams({lo}, {hi}) raised {type(exc).__name__}: {exc}")
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            return _report(False, name, f"my_qparams({lo}, {hi}) should return (scale, zero_point), got {describe(got)}.")
        g_scale, g_zero = got
        s, problem = _number_problem(g_scale)
        if problem or not np.isclose(float(s), scale, rtol=1e-5):
            why = problem or f"the scale {checks.show_number(s)} is {checks.relation(s, scale)}."
            return _report(False, name, f"For [{lo}, {hi}] {why}",
                           "The scale spreads the real range over the int8 codes: how many steps lie between "
                           "-128 and 127?", f"scale {scale:.6g}")
        if isinstance(g_zero, (bool, np.bool_)) or not isinstance(g_zero, (int, np.integer)):
            return _report(False, name, f"For [{lo}, {hi}] the zero point should be an integer, got "
                           f"{describe(g_zero)}.", "Convert it with int(...): a zero point is an integer code.")
        exact = -128 - lo / ((hi - lo) / 255)  # in float64: ref.scale is a float32
        tie = abs(abs(exact - math.floor(exact)) - 0.5) < 1e-9
        allowed = {math.floor(exact), math.ceil(exact)} if tie else {zero}
        if int(g_zero) not in allowed:
            names = [label for value, label in ((math.ceil(exact), "ceil"), (math.floor(exact), "floor"),
                                                (int(exact), "int() truncation")) if value == int(g_zero)]
            slip = ("that is " + " or ".join(names) + ", not the nearest integer") if names else ""
            return _report(False, name, f"For [{lo}, {hi}] the zero point {int(g_zero)} is not the code of real 0"
                           + (f" ({slip})." if slip else "."),
                           "The zero point is the code that real 0 maps to, rounded to the nearest integer.",
                           f"zero point {zero}")
    return _report(True, name, "scale and zero point right for 5 ranges.")



def quantize_cases() -> list[tuple[tuple, np.ndarray]]:
    """07 Ex2's cases: three ranges, ties at zero point 0 and ties at zero point -3."""
    from . import quantize as Q

    x = np.array([-3.0, -0.5, 0.0, 0.0235, 0.125, 1.0, 9.0])
    cases = []
    for lo, hi in ((-1.0, 1.0), (0.0, 6.0), (-0.5, 1.5)):
        qp = Q.qparams_from_range(lo, hi)
        cases.append(((x, float(qp.scale), int(qp.zero_point)), Q.quantize(x, qp)))
    # exact ties: rounding half away from zero, then (with z = -3) the zero point added after rounding
    cases.append(((np.array([0.5, -0.5, 1.5, 2.5]), 1.0, 0), Q.quantize(np.array([0.5, -0.5, 1.5, 2.5]),
                                                                          Q.QParams(np.float32(1.0), np.int64(0)))))
    ties = np.array([0.25, -0.25, 0.75, -1.25])
    cases.append(((ties, 0.5, -3), Q.quantize(ties, Q.QParams(np.float32(0.5), np.int64(-3)))))
    return cases


def check_quantize(fn: Callable, name: str = "my_quantize") -> CheckResult:
    """07 Ex2: ``fn(x, scale, zero_point)``, affine int8 quantization (ties away from zero), as int8 codes."""
    return checks.check_function(name, fn, quantize_cases(), dtype=np.int8,
                                 hint="Four steps, in order: scale, round, shift, clamp. Which ties does the "
                                      "course round away from zero, and is the result int8?")


REQUANT_ACC = np.array([-5000, -120, 0, 777, 3100, 29000, 250000], dtype=np.int32)  #: 07 Ex3's accumulators


def check_requantized(out_ex, acc_ex=REQUANT_ACC, name: str = "requantized outputs") -> CheckResult:
    """07 Ex3: ``acc_ex`` requantized with s_x = 0.02, s_w = 0.004, s_y = 0.05, z_y = -20, fused ReLU."""
    from . import quantize as Q

    m, shift = Q.quantize_multiplier(0.02 * 0.004 / 0.05)
    expected = Q.requantize(np.asarray(acc_ex), m, shift, Q.QParams(np.float32(0.05), np.int64(-20)), "relu")
    return checks.check_array(name, out_ex, expected, atol=0, dtype=np.int8,
                              hint="One multiplier from the three scales; where does real 0 land in the output "
                                   "codes, and what may the ReLU let below it?")


# ---------------------------------------------------------------------------- 08 · LiteRT deployment
def check_integer_only_model(model, representative_data, name: str = "integer-only model") -> CheckResult:
    """08 Ex1: a Keras model that converts to a fully int8 LiteRT model and keeps a nonlinear activation."""
    import keras

    from . import tflite

    if (res := _missing(name, model)) is not None:
        return res
    if not isinstance(model, keras.Model):
        return _report(False, name, f"Expected a Keras model (from sine_model(...)), got {describe(model)}.")
    act = next((layer for layer in model.layers if layer.name not in ("conv", "logits")
                and not isinstance(layer, (keras.layers.InputLayer, keras.layers.GlobalAveragePooling2D))), None)
    if _is_affine(model):
        what = f"the layer '{act.name}' is linear" if act is not None else "it has no activation layer"
        return _report(False, name, f"The model computes an affine function of its input ({what}): the model "
                       "lost its activation.", "Pass an activation layer such as keras.layers.ReLU().")
    try:
        summary = tflite.summary(tflite.convert(model, "int8", representative_data=representative_data,
                                                allow_float_fallback=True))
    except Exception as exc:  # noqa: BLE001
        return _report(False, name, f"Converting it raised {type(exc).__name__}: {exc}")
    if not summary.integer_only:
        return _report(False, name, f"it still has float32 operators: {[f['op'] for f in summary.float_ops]}.",
                       "keras.layers.ReLU() or keras.layers.ReLU(6.0) have int8 kernels (they fuse into the convolution).")
    return _report(True, name, "every operator runs in int8.")


def _is_affine(model, trials: int = 3) -> bool:
    """Whether ``model`` computes an affine function: f((a + b) / 2) == (f(a) + f(b)) / 2 on random inputs of
    the model's own input shape, large enough to leave the linear part of bounded activations (hard
    sigmoid is linear only on [-3, 3], ReLU6 on [0, 6]). Any number of channels; False if it cannot run."""
    shape = tuple(model.inputs[0].shape[1:]) if getattr(model, "inputs", None) else None
    if not shape or any(d is None for d in shape):
        return False
    rng = np.random.default_rng(0)
    try:
        for _ in range(trials):
            a, b = (rng.normal(0.0, 8.0, (1, *shape)).astype(np.float32) for _ in range(2))
            fa, fb, fm = (np.asarray(model(x), np.float64) for x in (a, b, (a + b) / 2))
            scale = max(np.abs(fa).max(), np.abs(fb).max(), 1e-6)
            if np.abs(fm - (fa + fb) / 2).max() > 1e-4 * scale:
                return False
    except Exception:  # noqa: BLE001 - a model that cannot run on a probe: leave it to the conversion
        return False
    return True


def check_tradeoff_row(difference_pp, size_ratio, speedup, row, name: str = "") -> CheckResults:
    """08 Ex4: accuracy difference in percentage points, size ratio and speed-up of one table row.

    Answers rounded to two decimals pass; a fraction instead of points, a reversed difference and an
    inverted ratio are named.
    """
    prefix = f"{name}: " if name else ""
    answers = (("difference (pp)", difference_pp, float(row["difference (pp)"]), "float32 minus int8 accuracy, in points"),
               ("size ratio", size_ratio, float(row["size ratio (x)"]), "len(float32 bytes) / len(int8 bytes)"),
               ("speed-up at 2 threads", speedup, float(row["speed-up (x)"]), "float32 latency / int8 latency"))
    results = []
    for label, got, expected, how in answers:
        hint = how
        value = _scalar(got)
        if value is not None and math.isfinite(float(value)):
            v = float(value)
            if label.startswith("difference") and expected and np.isclose(v * 100, expected, rtol=1e-6, atol=0.005):
                hint = "accuracies are fractions: multiply the difference by 100 to get percentage points."
            elif label.startswith("difference") and expected and np.isclose(-v, expected, rtol=1e-6, atol=0.005):
                hint = "the sign is reversed: float32 accuracy minus int8 accuracy."
            elif not label.startswith("difference") and v and np.isclose(1 / v, expected, rtol=1e-6, atol=0.005):
                hint = f"the ratio is upside down: {how}."
        results.append(check_close(prefix + label, got, expected, rtol=1e-6, atol=0.005 + 1e-9, hint=hint))
    return CheckResults(results)



def check_tradeoff_from_run(difference_pp, size_ratio, speedup, evals, flatbuffers, timings,
                            network: str = "separable_cnn", threads: int = 2) -> CheckResults:
    """08 Ex4 from the run's own data: the expected row (accuracy difference in points, size ratio, speed-up at
    ``threads``) is computed here from ``evals`` (a table with model, mode, accuracy), ``flatbuffers`` and
    ``timings`` (both keyed like notebook 08's), so the checker cell shows no answer."""
    acc = evals.set_index(["model", "mode"])["accuracy"]
    row = {"difference (pp)": 100 * (acc[network, "float32"] - acc[network, "int8"]),
           "size ratio (x)": len(flatbuffers[network, "float32"]) / len(flatbuffers[network, "int8"]),
           "speed-up (x)": timings[network, "float32", threads].median_ms / timings[network, "int8", threads].median_ms}
    return check_tradeoff_row(difference_pp, size_ratio, speedup, row)


def check_quantized_image(q_image, image, input_detail, name: str = "quantized image") -> CheckResult:
    """08 Ex2: ``image`` quantized with the int8 input tensor's (S, Z), as int8 codes."""
    from . import tflite

    return checks.check_array(name, q_image, tflite.quantize_input(image, input_detail), rtol=0, atol=0,
                              dtype=np.int8, hint="The input tensor's (S, Z) define the codes; the model "
                                                  "takes int8.")


def dequantize_cases() -> list[tuple[str, np.ndarray, float, int]]:
    """08 Ex3's test outputs ``(what, raw int8 codes, S, Z)``. Beside a notebook-like case, two where the
    subtraction ``raw - Z`` overflows int8 (it wraps around) unless ``raw`` is widened first."""
    return [("an output like the notebook's (Z = 7)", np.array([[-78, -3, 0, 7, 41, 94]], np.int8), 0.0391, 7),
            ("an output with Z = -100 (raw - Z reaches 227)", np.array([[127, 60, -20, -100, -128]], np.int8),
             0.0125, -100),
            ("an output with Z = 100 (raw - Z reaches -228)", np.array([[-128, -60, 0, 100, 127]], np.int8),
             0.02, 100)]


def _same_values(got, target: np.ndarray) -> bool:
    """Whether ``got`` is an array of ``target``'s shape and values (within 1e-6)."""
    arr, problem = checks.as_array(got)
    return not problem and arr.shape == target.shape and bool(np.allclose(arr.astype(np.float64), target, atol=1e-6))


def check_dequantize(fn: Callable, name: str = "my_dequantize") -> CheckResult:
    """08 Ex3: ``fn(raw, scale, zero_point) -> float32 scores``, r = S (q - Z), on :func:`dequantize_cases`.

    The zero points are plain Python ints, as LiteRT's ``quantization`` tuple gives them, so an unwidened
    ``raw - Z`` stays int8 and wraps around on the overflowing cases: that answer fails with a message about
    overflow."""
    if (res := _not_a_function(fn, name, "raw, scale, zero_point")) is not None:
        return res
    for what, raw, scale, zero in dequantize_cases():
        expected = (scale * (raw.astype(np.float64) - zero)).astype(np.float32)
        try:
            with np.errstate(over="ignore"):
                got = fn(raw.copy(), scale, zero)
        except Exception as exc:  # noqa: BLE001 - the learner's error, as a message
            return _report(False, name, f"On {what} it raised {type(exc).__name__}: {exc}")
        with np.errstate(over="ignore"):
            wrapped = scale * (raw - np.int8(zero)).astype(np.float32)
        problem = _compare_arrays(got, expected, 1e-6, 1e-6)
        if problem and _same_values(got, wrapped):
            return _report(False, name, f"On {what}: the int8 subtraction overflowed (raw - Z does not fit in "
                           "int8 and wrapped around).", "Widen the codes (to float32 or int32) before subtracting.")
        if problem:
            return _report(False, name, f"On {what}: {problem}", "r = S (q - Z), with the output tensor's S and Z.")
    return _report(True, name, f"all {len(dequantize_cases())} outputs, overflowing ones included.")


def check_dequantized_scores(scores, model_bytes: bytes, image: np.ndarray, name: str = "dequantized scores") -> CheckResult:
    """08 Ex3, second half: the scores of ``image`` dequantized by hand equal what :func:`tflite.run` returns."""
    from . import tflite

    return checks.check_array(name, scores, tflite.run(model_bytes, image), rtol=1e-6, atol=1e-6,
                              hint="Set the input, invoke, read the raw int8 output, then your my_dequantize with "
                                   "the output tensor's (S, Z).")


# ---------------------------------------------------------------------------- 09 · capstone
_DECODE_HINT = ("Find the first argmax (np.argmax on the flattened map, then row = y, column = x; "
                "the map is H rows by W columns). Inside the map move 0.25 towards the higher "
                "neighbour in x and in y (none when the two are equal); on the border (first or "
                "last row or column) do not move at all, on either axis. Then "
                "x_image = (column + shift + 0.5) * 4; return (x, y).")


def _decode_map(peak: tuple[int, int], others: dict[tuple[int, int], float]) -> np.ndarray:
    """A float32 6 x 9 map: low noise, 1.0 at ``peak`` (row, column), the given values elsewhere."""
    m = np.random.default_rng(peak[0] * 10 + peak[1]).uniform(0, 0.05, (6, 9)).astype(np.float32)
    for cell, value in others.items():
        m[cell] = value
    m[peak] = 1.0
    return m


def decode_cases() -> list[tuple[str, np.ndarray]]:
    """09 Ex1: the named (H, W) test maps of :func:`check_decode_one`, all 6 rows by 9 columns.

    They catch these slips: rows and columns (or H and W) swapped, the +0.5 forgotten, the shift the
    wrong way, a shift on the border (or a neighbour at index -1 that wraps to the other side), the
    last argmax taken on a tie.
    """
    return [
        ("peak inside, right and upper neighbours higher",
         _decode_map((2, 5), {(2, 6): 0.6, (2, 4): 0.2, (3, 5): 0.1, (1, 5): 0.5})),
        ("peak inside, equal left and right neighbours",
         _decode_map((3, 3), {(3, 4): 0.4, (3, 2): 0.4, (4, 3): 0.7, (2, 3): 0.3})),
        ("peak on the left border",
         _decode_map((3, 0), {(3, 1): 0.7, (3, 8): 0.3, (2, 0): 0.6, (4, 0): 0.2})),
        ("peak on the right border",
         _decode_map((2, 8), {(2, 7): 0.4, (2, 0): 0.8, (1, 8): 0.3, (3, 8): 0.6})),
        ("peak on the top border",
         _decode_map((0, 4), {(0, 5): 0.6, (0, 3): 0.2, (1, 4): 0.5, (5, 4): 0.8})),
        ("peak on the bottom border",
         _decode_map((5, 6), {(4, 6): 0.5, (0, 6): 0.9, (5, 7): 0.2, (5, 5): 0.6})),
        ("two cells tie for the maximum",
         _decode_map((1, 6), {(4, 2): 1.0, (1, 7): 0.3, (1, 5): 0.5, (2, 6): 0.6, (0, 6): 0.1,
                              (4, 3): 0.6, (4, 1): 0.2, (5, 2): 0.1, (3, 2): 0.5})),
    ]


def _decode_problem(fn: Callable, m: np.ndarray, expected: np.ndarray) -> str:
    """"" when ``fn(m)`` returns ``expected`` (x, y), else what went wrong (not the answer)."""
    try:
        got = fn(m.copy())
    except NotImplementedError:
        return "the function still raises NotImplementedError: write its body."
    except Exception as exc:  # a message, not a traceback
        return f"calling it raised {type(exc).__name__}: {exc}"
    arr, problem = checks.as_array(got)
    if problem:
        return problem
    if arr.shape != (2,):
        return f"it returned {checks.describe(got)}; expected two numbers (x, y)."
    if not np.allclose(arr.astype(np.float64), expected, rtol=0, atol=1e-4):
        shown = ", ".join(f"{float(v):g}" for v in arr)
        return f"it returned ({shown}), which is not the decoded (x, y)."
    return ""


def check_decode_one(fn: Callable, name: str = "decode_one") -> checks.CheckResult:
    """09 Ex1: ``fn(heatmap (H, W)) -> (x, y)`` in image pixels, stride 4, Newell's rule as in
    :func:`course_lib.pose.decode`.

    Runs every case of :func:`decode_cases` and reports the first that fails by its name, with what
    the function returned but not the expected position.
    """
    if fn is None or fn is Ellipsis or not callable(fn):
        why = f"Expected your function, got {checks.describe(fn)}."
        return checks.check(False, name, why, _DECODE_HINT)
    if stale := checks.stale_function(fn):
        return checks.check(False, name, stale, "Run the exercise cell without an error first.")
    for case, m in decode_cases():
        expected = pose.decode(m[None, :, :, None], stride=4, joints=1)[0][0, 0].astype(np.float64)
        if problem := _decode_problem(fn, m, expected):
            where = f"Case '{case}' ({m.shape[0]}x{m.shape[1]} map)"
            return checks.check(False, name, f"{where}: {problem}", _DECODE_HINT)
    return checks.check(True, name, "", "")


def pck_exercise_data() -> tuple[np.ndarray, np.ndarray]:
    """09 Ex2: two figures for the PCK exercise, ``(pred (2, 16, 2) as (x, y), true (2, 16, 3) as
    (x, y, visible))``, in pixels.

    The bounding box of all 16 true joints (hidden ones included) is 40 wide and 24 tall for
    figure 0, 24 wide and 50 tall for figure 1. Joint 5 of figure 0 is hidden. Prediction errors
    are spread around each threshold, and some sit exactly on it.
    """
    rng = np.random.default_rng(11)
    true = np.ones((2, 16, 3), np.float32)
    true[0, :, :2] = np.stack([rng.integers(12, 41, 16), rng.integers(22, 43, 16)], -1)
    true[1, :, :2] = np.stack([rng.integers(22, 43, 16), rng.integers(10, 57, 16)], -1)
    true[0, [0, 5, 1], 0] = 10, 50, 44               # figure 0: x from 10 to 50
    true[0, [9, 2], 1] = 20, 44                      # figure 0: y from 20 to 44
    true[1, [10, 15], 0] = 20, 44                    # figure 1: x from 20 to 44
    true[1, [9, 0], 1] = 8, 58                       # figure 1: y from 8 to 58
    true[0, 5, 2] = 0                                # hidden
    dist = np.array([[0.5, 1, 2, 3, 4, 0.5, 4.5, 5.5, 7, 7.5, 8, 9, 12, 15, 0.8, 2.5],
                     [0.5, 1, 2, 3, 5, 5.3, 6, 8, 10, 10.5, 11.5, 14, 0.7, 4, 2.2, 7]])
    angle = rng.uniform(0, 2 * np.pi, (2, 16))
    angle[0, [4, 10]], angle[1, [4, 8]] = 0.0, np.pi / 2   # exactly on a threshold: axis-aligned
    offset = np.round(np.stack([np.cos(angle), np.sin(angle)], -1) * dist[..., None], 12)
    return (true[..., :2] + offset).astype(np.float32), true


def pck_mistakes(alpha: float = 0.2) -> dict[str, float]:
    """09 Ex2: PCK of :func:`pck_exercise_data` with common mistakes: ``{mistake: value}``."""
    pred, true = pck_exercise_data()
    xy, vis = true[..., :2].astype(np.float64), true[..., 2] > 0
    dist = np.linalg.norm(pred - xy, axis=-1)
    extent = xy.max(1) - xy.min(1)
    shown = np.where(vis[..., None], xy, np.nan)
    longer, visible_box = extent.max(-1), (np.nanmax(shown, 1) - np.nanmin(shown, 1)).max(-1)

    def share(size, ok=vis, within=np.less_equal) -> float:
        return float((within(dist, alpha * size[:, None]) & ok).sum() / ok.sum())

    return {"counted the hidden joint": share(longer, np.ones_like(vis)),
            "divided by all 32 joints, not the visible ones": share(longer) * float(vis.mean()),
            "used the box's height instead of its longer side": share(extent[:, 1]),
            "used the box's width instead of its longer side": share(extent[:, 0]),
            "used the box's diagonal instead of its longer side": share(np.hypot(*extent.T)),
            "made the box from the visible joints only": share(visible_box),
            "used < instead of <= (a joint exactly at the threshold is correct)":
                share(longer, within=np.less)}


def check_pck_answer(answer, alpha: float = 0.2, name: str | None = None) -> checks.CheckResult:
    """09 Ex2: PCK@alpha of :func:`pck_exercise_data` computed by hand, as a fraction.

    Accepts a float32 computation (relative tolerance 1e-6). A wrong answer is told which common
    mistake it matches, if any, never the expected value.
    """
    name = name or f"PCK@{alpha}"
    hint = ("Count only visible joints; a joint is correct when its distance to the truth is at "
            f"most (<=) {alpha} x the LONGER side of that figure's bounding box of all 16 true "
            "joints.")
    if answer is None or answer is Ellipsis:
        return checks.check(False, name, "You have not filled this in yet.", hint)
    arr, problem = checks.as_array(answer)
    if problem or arr.ndim != 0 or not np.isfinite(arr):
        why = problem or f"Expected a single finite number, got {checks.describe(answer)}."
        return checks.check(False, name, why, hint)
    value, expected = float(arr), pose.pck(*pck_exercise_data(), alpha)["overall"]
    if np.isclose(value, expected, rtol=1e-6, atol=0):
        return checks.check(True, name, "", "")
    same = [m for m, v in pck_mistakes(alpha).items() if np.isclose(value, v, rtol=1e-6, atol=0)]
    why = f" It matches what you get if you {same[0]}." if same else ""
    if not same and np.isclose(value / 100, expected, rtol=1e-6):
        why = " Give a fraction, not a percentage."
    wrong = f"Your answer {value:.6g} is not this data's PCK@{alpha}.{why}"
    return checks.check(False, name, wrong, hint)


def _not_a_function(fn, name: str, signature: str) -> checks.CheckResult | None:
    """The failed check when ``fn`` is missing, not callable or a stale definition; else None."""
    if (res := checks._missing(name, fn)) is not None:
        return res
    if not callable(fn):
        return checks._report(False, name, f"Expected a function {name}({signature}), got {checks.describe(fn)}.")
    return checks._stale(name, fn)


HINTS = hints.HINTS_09   # the hint ladders (course_lib.hints); a failed check prints rung 1


def check_block_macs(macs_residual, macs_inverted, size: int = 16, width: int = 32,
                     expansion: int = 4) -> CheckResults:
    """09 Ex3: the MACs of one residual module (F = ``width``) and one MobileNetV2 block (C = ``width``,
    t = ``expansion``, stride 1) on a ``size`` x ``size`` map, counted by the profiler (``pose.block_macs``).
    A wrong count is told how it is off (a factor 4 for F/2 vs F, 9 for a depthwise counted as a full
    3x3 conv, 256 for per position), never the count."""
    factors = {size * size: f"{size * size} (per position: times {size}x{size})", 9: "9 (the 3x3 kernel)",
               4: "4"}
    residual = check_int(f"residual module MACs (F = {width})", macs_residual,
                         pose.block_macs("residual", size, width), factors=factors,
                         hint="Three convolutions: which channel counts does each connect, and on which map?")
    inverted = check_int(f"MobileNetV2 block MACs (C = {width}, t = {expansion})", macs_inverted,
                         pose.block_macs("inverted", size, width, expansion=expansion), factors=factors,
                         hint="A depthwise 3x3 conv filters each channel on its own: how many weights per channel?")
    return CheckResults([residual, inverted])


def _fpd_cases() -> list[tuple[np.ndarray, list[np.ndarray], np.ndarray, float]]:
    """(student, teacher_stacks, target, alpha) for one batch of heat maps (N, H, W, joints).

    The first case separates every known slip (alpha is not 0.5, the stacks differ); the second has
    three teacher stacks, so "the second stack" is wrong too; then alpha = 1, 0 and 0.5.
    """
    rng = np.random.default_rng(20)
    cases = []
    for n, size, joints, stacks, alpha in ((3, 8, 16, 2, 0.3), (2, 6, 5, 3, 0.8), (2, 4, 3, 2, 1.0),
                                           (2, 4, 3, 2, 0.0), (1, 8, 4, 2, 0.5)):
        shape = (n, size, size, joints)
        target = rng.uniform(0, 1, shape).astype(np.float32) ** 4       # peaked, in [0, 1]
        teacher = [(target + rng.normal(0, 0.4 / (k + 1), shape)).astype(np.float32)
                   for k in range(stacks)]                              # later stacks are closer
        student = (target + rng.normal(0.05, 0.3, shape)).astype(np.float32)
        cases.append((student, teacher, target, alpha))
    return cases


def _mse(a, b) -> float:
    return float(np.mean((np.asarray(a, np.float64) - b) ** 2))


def _mae(a, b) -> float:
    return float(np.mean(np.abs(np.asarray(a, np.float64) - b)))


_FINAL = "FPD learns from the teacher's final answer"


def _fpd_slips(student, teacher_stacks, target, alpha) -> list[tuple[float, str]]:
    """The value each plausible slip gives on one case, and what to tell the learner."""
    s, g = np.asarray(student, np.float64), np.asarray(target, np.float64)
    t = np.asarray(teacher_stacks[-1], np.float64)

    def mix(a: float, b: float, w: float = alpha) -> float:
        return w * a + (1 - w) * b

    right = mix(_mse(s, g), _mse(s, t))
    middle = [(mix(_mse(s, g), _mse(s, m)), "the teacher term uses one of the teacher's "
               f"intermediate stacks; {_FINAL}, whatever the number of stacks.")
              for m in teacher_stacks[1:-1]]
    return [
        (mix(_mse(s, g), _mse(s, t), 1 - alpha), "alpha weighs the wrong term: alpha is the weight "
         "on the ground truth (alpha = 1 must give plain ground-truth training), 1 - alpha the "
         "weight on the teacher."),
        (mix(_mse(s, g), _mse(s, t), 0.5), "the result does not depend on alpha as it should: were "
         "the two terms weighted 0.5 and 0.5?"),
        (mix(_mse(s, g), _mse(s, teacher_stacks[0])), f"the teacher term uses the teacher's first "
         f"stack; {_FINAL}."),
        *middle,
        (mix(_mse(s, g), _mse(s, np.mean(teacher_stacks, 0))), "the teacher term averages the "
         f"teacher's stacks; {_FINAL} only."),
        (right * s.size, "that is a sum of squared differences: MSE is the mean over every element "
         "(images x height x width x joints)."),
        (right * s[0].size, "that is a sum over each image's pixels and joints: MSE is the mean "
         "over every element, not only over the images."),
        (mix(_mae(s, g), _mae(s, t)), "that is the mean ABSOLUTE error: FPD's loss squares the "
         "differences."),
        (mix(_mse(s, g) ** 0.5, _mse(s, t) ** 0.5), "those are root-mean-square errors: FPD's loss "
         "uses the mean squared error itself, no square root."),
        (_mse(s, alpha * g + (1 - alpha) * t), "that is the MSE to the mixed target "
         "alpha*target + (1-alpha)*teacher: it has the same gradients, but a smaller value than "
         "the weighted sum of the two MSEs, which is what is asked for."),
        (0.5 * right, "half the expected value: FPD's reference code halves each MSE, the course's "
         "loss does not."),
        (_mse(s, g), "only the ground-truth term: the teacher term is missing."),
        (_mse(s, t), "only the teacher term: the ground-truth term is missing."),
    ]


def _fpd_case_problem(fn: Callable, case, index: int, total: int) -> str:
    """"" when ``fn`` gets this case right, else what went wrong (never the formula)."""
    student, teacher_stacks, target, alpha = case
    where = (f"Case {index} of {total} (alpha = {alpha}, {len(teacher_stacks)} teacher stacks, "
             f"maps of shape {student.shape})")
    try:  # copies: a function that changes its inputs in place cannot spoil the reference
        got = fn(student.copy(), [t.copy() for t in teacher_stacks], target.copy(), alpha)
    except NotImplementedError:
        return "The function still raises NotImplementedError: write its body."
    except Exception as exc:  # noqa: BLE001 - the learner's error, as a message
        return f"{where}: calling it raised {type(exc).__name__}: {exc}"
    if got is None or got is Ellipsis:
        return f"{where}: it returned {checks.describe(got)}. Is a `return` missing?"
    value, problem = checks._number_problem(got)
    if problem:
        return f"{where}: {problem}{_per_axis(got, student.shape)}"
    value, expected = float(value), distill.fpd_loss(student, teacher_stacks[-1], target, alpha)
    if np.isclose(value, expected, rtol=1e-5, atol=1e-9):
        return ""
    why = next((text for slip, text in _fpd_slips(*case)
                if np.isclose(value, slip, rtol=1e-5, atol=1e-9)), "")
    note = f" It looks like {why}" if why else f" It is {checks.relation(value, expected)}."
    return f"{where}: your loss {checks.show_number(value)} is not FPD's loss of this batch.{note}"


def _per_axis(got, shape: tuple) -> str:
    """A note when ``got`` has one value per joint or per image (a mean over too few axes)."""
    got_shape = np.shape(got) if hasattr(got, "shape") or isinstance(got, (list, tuple)) else ()
    axes = {shape[-1]: "joint", shape[0]: "image"}
    if len(got_shape) == 1 and got_shape[0] in axes:
        return (f" One value per {axes[got_shape[0]]}? The loss is one number: the mean over "
                "every element.")
    return ""


def check_fpd_loss(fn: Callable, name: str = "my_fpd_loss") -> checks.CheckResult:
    """09 Ex5: ``fn(student, teacher_stacks, target, alpha) -> float``, FPD's loss for one batch.

    ``student`` and ``target`` are heat maps (N, H, W, joints); ``teacher_stacks`` is the list of
    the teacher's per-stack heat maps, first stack first; ``alpha`` weighs the ground truth. The
    answer is :func:`course_lib.distill.fpd_loss` with the teacher's last stack, within float32
    rounding (rtol 1e-5). Named slips: alpha on the teacher, 0.5/0.5, a wrong or averaged stack,
    sums, MAE, RMSE, the mixed-target MSE, FPD's halved MSE, one term missing, and a per-joint or
    per-image array.
    """
    if (res := _not_a_function(fn, name, "student, teacher_stacks, target, alpha")) is not None:
        return res
    cases = _fpd_cases()
    for i, case in enumerate(cases, 1):
        problem = _fpd_case_problem(fn, case, i, len(cases))
        if problem:
            return checks._report(False, name, problem, HINTS["09 Ex5"][0])
    return checks._report(True, name, f"all {len(cases)} batches, alpha from 0 to 1.")


RULE_METRICS = ("PCK@0.2", "PCK@0.1")   #: 09 Ex4's metrics in today's notebook text (first, strict)


@dataclass(frozen=True)
class RuleCase:
    """One 09 Ex4 case: what it tests, the call's arguments, and whether it sits exactly at a limit."""
    label: str
    goal: str
    before: dict
    after: dict
    noise: float
    at_limit: bool = False

    def args(self) -> tuple:
        """Fresh deep copies of the call's arguments (the learner's function may change them)."""
        return self.goal, copy.deepcopy(self.before), copy.deepcopy(self.after), self.noise


def _decimal(value) -> float | int:
    """``value`` (a Fraction or float) as the number a learner would type: 90, 0.74, 89.5."""
    from fractions import Fraction
    value = round(Fraction(value), 10)
    return int(value) if value.denominator == 1 else float(value)


def _rule_case(rule, label: str, goal: str, macs, d1, d2, noise, at_limit: bool = False) -> RuleCase:
    """A step from 100 MACs to ``macs`` that changes the rule's two metrics by ``d1``, ``d2`` points."""
    before = {"MACs": 100, rule.key: 0.75, rule.key_strict: 0.5}
    after = {"MACs": _decimal(macs), rule.key: _decimal(0.75 + _exact(d1) / 100),
             rule.key_strict: _decimal(0.5 + _exact(d2) / 100)}
    return RuleCase(label, goal, before, after, float(_decimal(noise)), at_limit)


def _exact(value):
    """A number, or a decimal given as text ("0.005"), as an exact fraction (``decide.exact``)."""
    from fractions import Fraction

    from . import decide
    return Fraction(value) if isinstance(value, str) else decide.exact(value)


def _pct(share) -> str:
    """A share as the percentage a label states: 0.105 -> '10.5 %'."""
    return f"{float(round(_exact(share) * 100, 6)):g} %"


def _saving_cases(rule) -> list[RuleCase]:
    """Cost steps on both sides of the minimum saving (10 % by default)."""
    s, half = _exact(rule.min_saving), _exact("0.005")
    lose1, lose2 = -_exact(rule.max_drop) / 2, -_exact(rule.max_drop_strict) / 2
    rows = [("a cost step that saves 40 % at a small loss", 60, lose1, lose2, False),
            (f"a cost step that saves {_pct(s + half)}", 100 * (1 - s - half), 0, 0, False),
            (f"a cost step that saves only {_pct(s - half)}, however accurate", 100 * (1 - s + half), 1, 1, False),
            ("a cost step that RAISES the MACs, however accurate", 160, 3, 3, False),
            (f"a cost step that saves exactly {_pct(s)}", 100 * (1 - s), 0, 0, True)]
    return [_rule_case(rule, label, "MACs", macs, d1, d2, 0.3, at) for label, macs, d1, d2, at in rows]


def _noises(rule) -> tuple[float, float, float]:
    """Seed noises below the first limit, between the two limits and above both (0.3, 1.5, 2.5)."""
    lim1, lim2 = _exact(rule.max_drop), _exact(rule.max_drop_strict)
    noises = (lim1 * _exact("0.3"), (lim1 + lim2) / 2, max(lim1, lim2) + _exact("0.5"))
    return tuple(float(round(n, 1)) for n in noises)


def _drop_cases(rule, strict: bool) -> list[RuleCase]:
    """Cost steps losing points of one metric: around max(limit, noise), and between it and limit + noise."""
    limit = _exact(rule.max_drop_strict if strict else rule.max_drop)
    metric, tenth = rule.metric_strict if strict else rule.metric, _exact("0.1")
    cases = []
    for noise in _noises(rule):
        allowed = max(limit, _exact(noise))
        between = round(allowed + _exact("0.6") * (limit + _exact(noise) - allowed), 1)  # < limit + noise
        for loss, at in ((allowed - tenth, False), (allowed, True), (allowed + tenth, False), (between, False)):
            label = f"a cost step losing {'exactly ' * at}{float(loss):.1f} points of {metric} (noise {noise})"
            d1, d2 = (0, -loss) if strict else (-loss, 0)
            cases.append(_rule_case(rule, label, "MACs", 50, d1, d2, noise, at))
    return cases


def _accuracy_cases(rule) -> list[RuleCase]:
    """Accuracy steps around the noise (on the first metric only), losing accuracy, and around the
    allowed rise in MACs (15 % by default)."""
    m1, m2, high = rule.metric, rule.metric_strict, _exact(_noises(rule)[2])
    rise, far, p = _exact(rule.max_cost_rise), _exact(rule.max_drop_strict) + 3, _exact
    at_rise = lambda extra: (_pct(rise + p(extra) / 100), 100 * (1 + rise) + p(extra))  # noqa: E731
    (up5, macs5), (up1, macs1), (down3, macs3) = at_rise(5), at_rise(1), at_rise(-3)
    h = f"{float(high):g}"
    rows = [  # label, MACs after, change of the first and the strict metric, noise, exactly at a limit
        (f"gaining 0.8 points of {m1} above a noise of 0.5", 100, 0.8, 0, 0.5, False),
        (f"gaining 0.4 points of {m1}, inside a noise of 0.5", 100, 0.4, 2, 0.5, False),
        (f"gaining 3.0 points of {m2} only (noise 0.5)", 100, 0, 3, 0.5, False),
        (f"gaining 1.0 point of {m1} and losing {float(far):.1f} of {m2}", 100, 1, -far, 0.5, False),
        (f"LOSING 2.0 points of {m1} (noise 0.5)", 100, -2, 0, 0.5, False),
        (f"LOSING {float(high + p('0.5')):.1f} points of {m1} (noise {h})", 100, -high - p("0.5"), 3, high, False),
        (f"gaining {float(high + p('0.1')):.1f} points of {m1} above a noise of {h}", 100, high + p("0.1"), 0,
         high, False),
        (f"gaining 2 points at {up5} more MACs", macs5, 2, 2, 0.5, False),
        (f"gaining 2 points at {up1} more MACs", macs1, 2, 2, 0.5, False),
        (f"gaining 1 point at {down3} more MACs", macs3, 1, 0, 0.5, False),
        (f"gaining exactly the noise, 0.5 points of {m1}", 100, 0.5, 0.5, 0.5, True),
        (f"gaining exactly the noise, {h} points of {m1}", 100, high, 0, high, True),
        (f"gaining 2 points at exactly {_pct(rise)} more MACs", 100 * (1 + rise), 2, 2, 0.5, True),
    ]
    return [_rule_case(rule, f"an accuracy step {label}", "accuracy", macs, d1, d2, noise, at)
            for label, macs, d1, d2, noise, at in rows]


def _keep_step_rule(rule=None, metrics: Sequence[str] = RULE_METRICS):
    """The rule 09 Ex4 checks: ``rule`` (limits, metric names), else today's limits on ``metrics``."""
    from . import decide
    return rule if rule is not None else decide.Rule(metric=metrics[0], metric_strict=metrics[1])


def keep_step_cases(metrics: Sequence[str] = RULE_METRICS, rule=None) -> list[RuleCase]:
    """09 Ex4's cases for ``rule`` (a :class:`course_lib.decide.Rule`; default: today's limits on the
    two ``metrics``, first and strict): both sides of every limit (just inside, exactly at, just
    outside) with the noise below and above each limit, steps between max(limit, noise) and limit +
    noise, and accuracy steps that lose accuracy. Cases exactly at a limit come last, so a slip of
    logic is named before a slip of float rounding."""
    rule = _keep_step_rule(rule, metrics)
    cases = [*_saving_cases(rule), *_drop_cases(rule, False), *_drop_cases(rule, True),
             *_accuracy_cases(rule)]
    return sorted(cases, key=lambda case: case.at_limit)


def _rule_answer(case: RuleCase, metrics: Sequence[str] = RULE_METRICS, rule=None) -> bool:
    """The rule's decision on ``case`` (``course_lib.decide``, exact at its limits), from copies; the
    case's noise is the seed noise of both metrics."""
    import dataclasses

    from . import decide
    rule = dataclasses.replace(_keep_step_rule(rule, metrics), noise=case.noise, noise_strict=case.noise)
    goal, before, after, _ = case.args()
    return decide.decide(goal, before, after, rule).kept


AT_LIMIT_NOTE = (" Floats can land just past a limit (1 - 90 / 100 is 0.09999999999999998, 1.15 * 100 is "
                 "114.99999999999999): decide on exact numbers, e.g. round each quantity to 9 decimals or use "
                 "fractions.Fraction(str(x)).")


def _keep_step_problem(fn: Callable, case: RuleCase, expected: bool) -> str:
    """What is wrong with ``fn`` on ``case`` (it gets copies), or ``""``."""
    try:
        got = fn(*case.args())
    except Exception as err:  # noqa: BLE001 - a learner's function may raise anything
        return f"it raised {type(err).__name__}: {err} on {case.label}."
    if not isinstance(got, (bool, np.bool_)):
        return f"return True (keep) or False (drop), got {checks.describe(got)} on {case.label}."
    if bool(got) == expected:
        return ""
    label = case.label[0].upper() + case.label[1:]
    return f"{label} should be {'kept' if expected else 'dropped'}.{AT_LIMIT_NOTE if case.at_limit else ''}"


def check_keep_step(fn: Callable, name: str = "keep_step", metrics: Sequence[str] = RULE_METRICS,
                    rule=None) -> checks.CheckResult:
    """09 Ex4: ``fn(goal, before, after, noise) -> bool``, the capstone's keep/drop rule.

    ``rule`` (a :class:`course_lib.decide.Rule`) gives the limits and the two validation metrics (keys
    ``f"val {metric}"``); its noise fields are ignored: each case passes its own ``noise``, the seed
    noise of both metrics. Without ``rule``: today's notebook text, a 10 % saving, 1.0 and 2.0 points,
    15 % more MACs, on ``metrics`` (first, strict; PCK@0.2 and PCK@0.1).

    The cases (:func:`keep_step_cases`) sit on both sides of every limit: the saving (>=), a rise in
    MACs, each accuracy limit (>= max(limit, noise), noise below and above it) and steps between it
    and limit + noise, the strict metric alone failing, and the accuracy step's strict ``>`` gain on
    the first metric (also when it loses accuracy) and its cost allowance (<=). The expected decisions
    are worked out first, and ``fn`` gets copies, so converting to points in place is fine. A failure
    names the kind of case, not the table of answers."""
    if (res := _not_a_function(fn, name, "goal, before, after, noise")) is not None:
        return res
    cases = keep_step_cases(metrics, rule)
    expected = [_rule_answer(case, metrics, rule) for case in cases]
    for case, answer in zip(cases, expected):
        if problem := _keep_step_problem(fn, case, answer):
            return checks._report(False, name, problem, HINTS["09 Ex4"][0])
    return checks._report(True, name, f"all {len(cases)} cases, on both sides of every limit.")
