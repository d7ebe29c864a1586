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
import math
import re
from collections.abc import Callable, Iterator, Sequence

import numpy as np

from . import checks, distill, hints, pose
from .checks import (CheckResult, CheckResults, _compare_arrays, _missing, _number_problem, _report, _scalar,  # noqa: F401
                     _show, _stale, check, check_close, check_int, describe, format_pair)


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


def check_timer(name: str, timer: Callable) -> CheckResult:
    """01 Ex4: a learner's ``timer(fn, inputs, warmup, repeats) -> median milliseconds``.

    The fake model's first 3 calls take 100 ms (like tracing/compilation); the 7 timed calls take
    14, 6, 90, 8, 80, 20 and 30 ms. Their median is 20 ms; the neighbours of the median (14, 30), the
    fastest call (6), the mean (35.4) and the median with the warm-up calls timed too (55) are all
    distinguishable. The wall clocks of ``time`` and ``timeit`` follow the fake model exactly during the
    check (no noise); the model also really sleeps, so a wall clock imported some other way gives nearly
    the same numbers (the window allows 2 ms of oversleeping), while CPU time (``process_time``) stays
    near zero and fails.
    """
    import time

    if (res := _not_a_function(timer, name, "fn, inputs, warmup, repeats")) is not None:
        return res
    calls: list[int] = []
    clock = [1000.0]
    sleep = time.sleep

    def fake_model(x):
        calls.append(int(np.asarray(x).ravel()[0]))
        ms = TIMER_PATTERN_MS[min(len(calls) - 1, len(TIMER_PATTERN_MS) - 1)]
        clock[0] += ms / 1000
        sleep(ms / 1000)

    inputs = [np.full(3, i, np.float32) for i in range(1, 5)]
    repeats = len(TIMER_PATTERN_MS) - TIMER_WARMUP
    try:
        with _virtual_clock(clock):
            got = timer(fake_model, inputs, TIMER_WARMUP, repeats)
    except NotImplementedError:
        return _report(False, name, "The function still raises NotImplementedError: write its body.")
    except Exception as exc:  # noqa: BLE001 - the learner's error, as a message
        return _report(False, name, f"Calling timer(fn, inputs, warmup={TIMER_WARMUP}, repeats={repeats}) raised "
                       f"{type(exc).__name__}: {exc}")
    if len(calls) != len(TIMER_PATTERN_MS):
        return _report(False, name, f"The model was called {len(calls)} times; expected {TIMER_WARMUP} warm-up + "
                       f"{repeats} timed = {len(TIMER_PATTERN_MS)}.", "call fn once per warm-up run and once per timed run")
    if len(set(calls)) < 2:
        return _report(False, name, "Every call used the same input.", "cycle through the inputs (inputs[i % len(inputs)])")
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
        return _report(True, name, "warm-up excluded, median of the timed runs in ms.")
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
    sequence = lambda model: [row for row in mobilenet.layout(model) if row[0] != "ZeroPadding2D"]  # noqa: E731
    wants_add = isinstance(ref.layers[-1], keras.layers.Add)
    has_add = isinstance(mine.layers[-1], keras.layers.Add)
    if has_add != wants_add:
        why = "stride 1 but the channels change" if stride == 1 and in_channels != filters else \
              "stride 2" if stride != 1 else "stride 1 and equal channels"
        return (f"the block {'ends with' if has_add else 'has no'} Add ({why})",
                "Add the input only when stride == 1 and the input and output channel counts are equal.")
    relus = [layer for layer in mine.layers if isinstance(layer, keras.layers.ReLU)]
    if not relus or not all(layer.max_value is not None and float(layer.max_value) == 6.0 for layer in relus):
        return "an activation is not ReLU6 (or there is none)", "Use keras.layers.ReLU(6.0)."
    tail = mine.layers[-2] if has_add and len(mine.layers) > 1 else mine.layers[-1]
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



# ---------------------------------------------------------------------------- 04 · binarization
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
        results.append(_report(False, name, f"Expected a string of 0/1 such as {'0' * len(expected)!r}, "
                               f"got {describe(my_xnor)}.", "Build it with ''.join(...)."))
    elif my_xnor == expected:
        results.append(_report(True, name, expected))
    else:
        why = f"Expected {expected!r}, got {my_xnor!r}"
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
            why += f" (differs at positions {diff})"
        results.append(_report(False, name, why + ".", "XNOR is 1 where the two bits are equal and 0 where they differ."))
    agreements = expected.count("1")
    results.append(check_int("agreements (popcount)", my_agreements, agreements, hint="Count the 1s in the XNOR string.",
                             factor=False))
    results.append(check_int("binary dot product", my_dot, 2 * agreements - len(a_bits),
                             hint="dot = agreements - disagreements = 2 * agreements - n.", factor=False))
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
                             hint=slip + ("; " if slip else "") + f"each of the {c_out} filters: ceil({n}/{word_bits}) "
                             f"words of {word_bits // 8} bytes, plus 4 bytes for its alpha."))
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
                     hint=slip or "Normalise each row to length 1, take dot products with the row of the filter, "
                                  "exclude the filter itself, then argmin.")


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
    return check_int(name, macs_saved, expected, hint=slip or "K*K*M*N*H*W for the plain conv; the CReLU conv computes "
                     "N/2 filters; then add one multiply-add per output value of the CReLU layer. Subtract.")



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
            exp_s, got_s = format_pair(scale, float(s)) if not problem else (f"{scale:.6g}", describe(g_scale))
            return _report(False, name, f"For [{lo}, {hi}] the scale should be {exp_s}, got {got_s}.",
                           "s = (r_max - r_min) / (q_max - q_min) with q_min = -128, q_max = 127")
        if isinstance(g_zero, (bool, np.bool_)) or not isinstance(g_zero, (int, np.integer)):
            return _report(False, name, f"For [{lo}, {hi}] the zero point should be the integer {zero}, got "
                           f"{describe(g_zero)}.", "Convert it with int(...): a zero point is an integer code.")
        exact = -128 - lo / ((hi - lo) / 255)  # in float64: ref.scale is a float32
        tie = abs(abs(exact - math.floor(exact)) - 0.5) < 1e-9
        allowed = {math.floor(exact), math.ceil(exact)} if tie else {zero}
        if int(g_zero) not in allowed:
            names = [label for value, label in ((math.ceil(exact), "ceil"), (math.floor(exact), "floor"),
                                                (int(exact), "int() truncation")) if value == int(g_zero)]
            slip = ("that is " + " or ".join(names) + ", not the nearest integer") if names else ""
            return _report(False, name, f"For [{lo}, {hi}] q_min - r_min / s = {exact:.4g}, and the zero point "
                           f"should be the nearest integer; got {int(g_zero)}" + (f" ({slip})." if slip else "."),
                           "z = round(q_min - r_min / s): round to the nearest integer")
    return _report(True, name, "scale and zero point right for 5 ranges.")



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
    exp_s, got_s = checks.format_pair(expected, value)
    why = next((text for slip, text in _fpd_slips(*case)
                if np.isclose(value, slip, rtol=1e-5, atol=1e-9)), "")
    note = f" It looks like {why}" if why else ""
    return f"{where}: expected about {exp_s}, got {got_s}.{note}"


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


def _rule_case(goal: str, macs: float, d02: float, d01: float, noise: float) -> tuple:
    before = {"MACs": 100e6, "val PCK@0.2": 0.75, "val PCK@0.1": 0.5}
    after = {"MACs": macs * 1e6, "val PCK@0.2": 0.75 + d02 / 100, "val PCK@0.1": 0.5 + d01 / 100}
    return goal, before, after, noise


EXACT = 100 / 128   #: 0.78125 points: 0.75 + 1/128 is exact in binary, so "gain == noise" is exact


def keep_step_cases() -> list[tuple[str, tuple]]:
    """09 Ex4: (what the case tests, (goal, before, after, noise)); each separates one slip."""
    return [
        ("a cost step that saves 40 % at a small loss", _rule_case("MACs", 60, -0.5, -1.0, 0.3)),
        ("a cost step that saves 10.5 %", _rule_case("MACs", 89.5, 0.0, 0.0, 0.3)),
        ("a cost step that saves only 9.5 %", _rule_case("MACs", 90.5, +1.0, +1.0, 0.3)),
        ("a cost step that RAISES the MACs, however accurate", _rule_case("MACs", 160, +3.0, +3.0, 0.3)),
        ("a cost step losing 1.5 points of PCK@0.2", _rule_case("MACs", 50, -1.5, 0.0, 0.3)),
        ("a cost step losing 0.9 points of PCK@0.2 (allowed)", _rule_case("MACs", 50, -0.9, -1.9, 0.3)),
        ("a cost step fine on PCK@0.2 but losing 2.5 points of PCK@0.1", _rule_case("MACs", 50, -0.2, -2.5, 0.3)),
        ("a cost step losing 1.5 points when the noise is 1.8", _rule_case("MACs", 50, -1.5, -1.5, 1.8)),
        ("an accuracy step gaining 0.8 points above a noise of 0.5", _rule_case("accuracy", 100, 0.8, 0.0, 0.5)),
        ("an accuracy step gaining 0.4 points, inside a noise of 0.5", _rule_case("accuracy", 100, 0.4, 2.0, 0.5)),
        ("an accuracy step gaining exactly the noise (it must gain more)",
         _rule_case("accuracy", 100, EXACT, EXACT, EXACT)),
        ("an accuracy step gaining 2 points at 20 % more MACs", _rule_case("accuracy", 120, 2.0, 2.0, 0.5)),
        ("an accuracy step that needs no MAC saving", _rule_case("accuracy", 112, 1.0, 0.0, 0.5)),
    ]


def _rule_answer(goal: str, before: dict, after: dict, noise: float) -> bool:
    from . import decide
    rule = decide.Rule(noise=noise, noise_strict=noise)
    return decide.decide(goal, {**before, "bytes": 1}, {**after, "bytes": 1}, rule).kept


def check_keep_step(fn: Callable, name: str = "keep_step") -> checks.CheckResult:
    """09 Ex4: ``fn(goal, before, after, noise) -> bool``, the capstone's keep/drop rule.

    The cases (:func:`keep_step_cases`) sit on both sides of every limit: the 10 % saving (>=), a
    rise in MACs, each accuracy limit (>=) and the noise widening it, PCK@0.1 alone failing, and the
    accuracy step's strict ``>`` gain and its 15 % cost allowance. A failure names the case, not the
    answer it expected."""
    if (res := _not_a_function(fn, name, "goal, before, after, noise")) is not None:
        return res
    cases = keep_step_cases()
    for label, case in cases:
        try:
            got = fn(*case)
        except Exception as err:  # noqa: BLE001 - a learner's function may raise anything
            return checks._report(False, name, f"it raised {type(err).__name__}: {err} on {label}.",
                                  HINTS["09 Ex4"][0])
        if not isinstance(got, (bool, np.bool_)):
            return checks._report(False, name, f"return True (keep) or False (drop), got "
                                  f"{checks.describe(got)} on {label}.", HINTS["09 Ex4"][0])
        if bool(got) != _rule_answer(*case):
            return checks._report(False, name, f"wrong decision on {label}.", HINTS["09 Ex4"][0])
    return checks._report(True, name, f"all {len(cases)} cases, on both sides of every limit.")
