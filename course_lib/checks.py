"""Exercise checkers: a clear pass message, or what was expected, what was got, and a hint.

Each checker prints its verdict and returns a :class:`CheckResult` (truthy when passed). Under
``make test`` (``COURSE_STRICT_CHECKS=1``) a failed check also raises :class:`ExerciseCheckFailed`,
so a broken reference solution can never slip through nbval; a learner only sees the message.

A checker never passes a wrong answer and never crashes on a malformed one: types are compared
(a string is not a number, ``True`` is not the integer 1, float values are not int8 codes), and
``None``, ``...``, strings, dicts, ragged lists and wrong shapes become a ❌ that says what was
expected and what was given. Numbers are printed with as many digits as it takes to tell them apart.
A function exercise whose cell was last run with an error (so the kernel still holds an older
definition, perhaps the reference solution) is reported instead of being re-tested.
"""
from __future__ import annotations

import contextlib
import inspect
import linecache
import math
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from . import config

PASS, FAIL = "✅", "❌"
_lenient_depth = 0


@contextlib.contextmanager
def lenient() -> Iterator[None]:
    """Inside this block failed checks only print, even under ``make test`` (for demonstrating a failure)."""
    global _lenient_depth
    _lenient_depth += 1
    try:
        yield
    finally:
        _lenient_depth -= 1


class ExerciseCheckFailed(AssertionError):
    """Raised by a failed check in strict mode (make test)."""


@dataclass
class CheckResult:
    """Outcome of a check; truthy when it passed. Displays nothing itself (the checker printed)."""

    passed: bool
    message: str

    def __bool__(self) -> bool:
        return self.passed

    def _ipython_display_(self) -> None:  # the message is already printed
        pass


class CheckResults(list):
    """The results of a checker that makes several checks; truthy when every one passed. Like
    :class:`CheckResult` it displays nothing (each check printed its own line), so a checker cell shows
    only the messages, however the notebook is run."""

    def __bool__(self) -> bool:
        return len(self) > 0 and all(bool(r) for r in self)

    def _ipython_display_(self) -> None:
        pass


def _report(passed: bool, name: str, detail: str = "", hint: str = "") -> CheckResult:
    if passed:
        message = f"{PASS} {name}: correct. {detail}".rstrip()
    else:
        message = f"{FAIL} {name}: not yet. {detail}"
        if hint:
            message += f"\n   Hint: {hint}"
    if not _lenient_depth:  # a check run by an exercise's checker cell: record it (progress.checked)
        message += _record_progress(passed)
    print(message)
    if not passed and config.strict_checks() and not _lenient_depth:
        raise ExerciseCheckFailed(message)
    return CheckResult(passed, message)


def _record_progress(passed: bool) -> str:
    """Record this check in the learner's progress; on a failure, the line saying how to ask for a hint."""
    from . import progress  # met in 00 too; progress never imports checks

    return progress.checked(passed)


# ------------------------------------------------------------------------------------------ describing
def describe(value) -> str:
    """A short description of any answer: its type and (abridged) value, e.g. ``str '12'``."""
    if value is None:
        return "None"
    if value is Ellipsis:
        return "... (the placeholder)"
    if isinstance(value, np.ndarray):
        return f"an array of {value.dtype} with shape {value.shape}"
    if isinstance(value, (list, tuple)):
        return f"a {type(value).__name__} of {len(value)} items {_abridge(repr(value))}"
    if isinstance(value, dict):
        return f"a dict with keys {_abridge(repr(list(value)))}"
    if isinstance(value, np.generic):  # a NumPy scalar: np.float64(1.5), np.int8(3), np.bool_(True)
        return f"a NumPy {value.dtype} {_abridge(repr(value.item()))}"
    keras_kind = _keras_kind(value)
    if keras_kind:
        return keras_kind
    if isinstance(value, type):
        return f"the class {value.__name__} (not an instance of it: add the parentheses)"
    if inspect.isroutine(value):
        return f"a function {getattr(value, '__name__', type(value).__name__)!s}"
    if hasattr(value, "shape") and hasattr(value, "dtype"):  # a tensor
        shape, dtype = tuple(value.shape), getattr(value.dtype, "name", value.dtype)
        if shape == ():
            try:
                return f"a scalar {type(value).__name__} of {dtype} ({_abridge(repr(np.asarray(value).item()))})"
            except Exception:  # noqa: BLE001 - a symbolic tensor has no value
                return f"a scalar {type(value).__name__} of {dtype}"
        return f"a {type(value).__name__} of {dtype} with shape {shape}"
    if callable(value):
        return f"a callable {type(value).__name__} object"
    return f"{type(value).__name__} {_abridge(repr(value))}"


def _keras_kind(value) -> str:
    """"a Keras model 'cnn'" / "a Keras layer Dense 'logits'" for Keras objects, else ""."""
    if not type(value).__module__.startswith("keras"):
        return ""
    import keras

    if isinstance(value, keras.Model):
        return f"a Keras model {value.name!r}"
    if isinstance(value, keras.layers.Layer):
        return f"a Keras layer {type(value).__name__} {value.name!r}"
    return ""


def _abridge(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def format_pair(expected, got) -> tuple[str, str]:
    """``expected`` and ``got`` as text with enough significant digits that unequal numbers look unequal."""
    e, g = float(expected), float(got)
    for digits in range(6, 18):
        es, gs = f"{e:,.{digits}g}", f"{g:,.{digits}g}"
        if es != gs or e == g:
            return es, gs
    return repr(e), repr(g)


def _fmt(x) -> str:
    if isinstance(x, (int, np.integer)) and not isinstance(x, bool):
        return f"{int(x):,}"
    return f"{float(x):,.6g}"


# ------------------------------------------------------------------------------------------ coercion
def _missing(name: str, got) -> CheckResult | None:
    if got is None or got is Ellipsis:
        return _report(False, name, f"You have not filled this in yet (it is {describe(got)}).",
                       "Replace the placeholder in the exercise cell with your answer and run it again.")
    return None


def _scalar(got):
    """A plain Python/NumPy number from ``got`` (0-d arrays and 1-element tensors unwrap), else None."""
    if isinstance(got, (bool, np.bool_)):
        return None
    if isinstance(got, (int, float, np.integer, np.floating)):
        return got
    if hasattr(got, "shape") and hasattr(got, "dtype") and tuple(getattr(got, "shape")) == ():
        try:
            arr = np.asarray(got)
        except Exception:  # noqa: BLE001 - an exotic object: not a number
            return None
        if arr.dtype.kind in "iu":
            return arr.dtype.type(arr)
        if arr.dtype.kind == "f":
            return float(arr)
    return None


def _number_problem(got, integer: bool = False) -> tuple[float | int | None, str]:
    """``(value, "")`` for a real number, or ``(None, why not)``."""
    value = _scalar(got)
    if value is None:
        if isinstance(got, (bool, np.bool_)):
            return None, f"Expected a number, got the boolean {got!r} (True/False are not numbers here)."
        if isinstance(got, str):
            return None, f"Expected a number, got the string {got!r}: remove the quotes."
        return None, f"Expected a single number, got {describe(got)}."
    if isinstance(value, (float, np.floating)) and not math.isfinite(float(value)):
        return None, f"Expected a finite number, got {float(value)}."
    if integer and isinstance(value, (float, np.floating)) and not float(value).is_integer():
        return None, ""  # a non-integer: the caller reports it with the expected value
    return value, ""


def as_array(got, expected_kind: str = "f") -> tuple[np.ndarray | None, str]:
    """``(array, "")`` for a rectangular numeric array, or ``(None, why not)``.

    ``expected_kind`` is the NumPy dtype kind of the expected answer: booleans are accepted only
    where booleans are expected (``"b"``).
    """
    if isinstance(got, (str, bytes)):
        return None, f"Expected an array of numbers, got the string {_abridge(repr(got))}."
    if got is None:
        return None, "Expected an array of numbers, got None (is a `return` missing?)."
    if isinstance(got, (dict, set)) or callable(got):
        return None, f"Expected an array of numbers, got {describe(got)}."
    try:
        arr = np.asarray(got)
    except (ValueError, TypeError) as exc:
        return None, f"Expected a rectangular array of numbers, got {describe(got)} that NumPy cannot " \
                     f"turn into one ({_abridge(str(exc), 80)}): are some rows of different lengths?"
    if arr.dtype == object:
        return None, f"Expected a rectangular array of numbers, got {describe(got)} (rows of different " \
                     "lengths, or mixed types)."
    if arr.dtype.kind == "b" and expected_kind != "b":
        return None, f"Expected numbers, got an array of booleans (True/False) with shape {arr.shape}."
    if arr.dtype.kind not in "biuf":
        return None, f"Expected an array of numbers, got an array of {arr.dtype} with shape {arr.shape}."
    return arr, ""


# ------------------------------------------------------------------------------------------ stale cells
def _input_history() -> list[str] | None:
    """The cells run in this IPython session, oldest first (raw and transformed), or None outside IPython."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython is a dependency of the notebooks
        return None
    ip = get_ipython()
    if ip is None or getattr(ip, "history_manager", None) is None:
        return None
    hm = ip.history_manager
    return [f"{raw}\n\x00\n{parsed}" for raw, parsed in zip(hm.input_hist_raw, hm.input_hist_parsed)]


def stale_function(fn: Callable, history: list[str] | None = None) -> str:
    """Why ``fn`` is not the definition from the last run of its cell ("" when it is, or when unknown).

    When the last run of the cell that defines ``fn`` raised before the ``def`` (a syntax error
    after deleting a body, say), the kernel keeps the older function, often the reference solution.
    The source the function was compiled from is compared with the last cell run that defines it.
    """
    name = getattr(fn, "__name__", "")
    code = getattr(fn, "__code__", None)
    if not name.isidentifier() or code is None:
        return ""
    history = _input_history() if history is None else history
    if not history:
        return ""
    defining = "".join(linecache.getlines(code.co_filename)).strip()
    if not defining:
        return ""
    pattern = re.compile(rf"^\s*(def\s+{re.escape(name)}\s*\(|{re.escape(name)}\s*=(?!=))", re.M)
    for entry in reversed(history[:-1] if len(history) > 1 else history):  # not the checker's own cell
        if pattern.search(entry):
            if defining in (part.strip() for part in entry.split("\n\x00\n")):
                return ""
            return (f"`{name}` in the kernel is not the one your cell defines now: the last run of the cell "
                    f"that defines it did not reach the `def` (did it end with an error?), so an older "
                    f"definition is still in memory.")
    return ""


def _stale(name: str, fn: Callable) -> CheckResult | None:
    why = stale_function(fn)
    return _report(False, name, why, "Fix the exercise cell until it runs without an error, run it, "
                   "then run this check again.") if why else None


# ------------------------------------------------------------------------------------------ checkers
def check(condition: bool, name: str, failure: str, hint: str = "") -> CheckResult:
    """Pass when ``condition`` is true; otherwise print ``failure`` and the hint."""
    return _report(bool(condition), name, "" if condition else failure, hint)


def check_int(name: str, got, expected: int, hint: str = "", factor: bool = True) -> CheckResult:
    """Exact integer answer (counts: parameters, MACs, bytes; or an index / zero point with ``factor=False``).

    An integral float (``1000.0``) is accepted; strings, booleans, fractions and containers are not.
    ``factor`` adds "off by a factor" to the message, meaningful for counts only.
    """
    if (res := _missing(name, got)) is not None:
        return res
    expected = int(expected)
    value, problem = _number_problem(got, integer=True)
    if problem:
        return _report(False, name, problem, hint)
    if value is None:  # a fraction
        exp_s, got_s = format_pair(expected, float(_scalar(got)))
        return _report(False, name, f"Expected the whole number {exp_s}, got {got_s}, which is not a whole "
                       "number.", hint or "Round, or use integer arithmetic (// instead of /).")
    value = int(value)
    if value != expected:
        ratio = value / expected if expected else 0.0
        extra = ""
        if factor and expected and value and ratio > 0 and not 0.8 < ratio < 1.25:
            extra = f" (off by a factor {ratio:.3g})"
        elif abs(value - expected) < max(1, abs(expected)) * 0.25 or not factor:
            extra = f" (off by {value - expected:+,})"
        return _report(False, name, f"Expected {expected:,}, got {value:,}{extra}.", hint)
    return _report(True, name, f"{expected:,}")


def check_close(name: str, got, expected: float, rtol: float = 1e-6, atol: float = 0.0, hint: str = "") -> CheckResult:
    """A number equal to ``expected`` within ``rtol`` (relative) or ``atol`` (absolute)."""
    if (res := _missing(name, got)) is not None:
        return res
    value, problem = _number_problem(got)
    if problem:
        return _report(False, name, problem, hint)
    if not np.isclose(float(value), float(expected), rtol=rtol, atol=atol):
        exp_s, got_s = format_pair(expected, value)
        return _report(False, name, f"Expected about {exp_s}, got {got_s}.", hint)
    return _report(True, name)


def check_range(name: str, got, low: float, high: float, hint: str = "") -> CheckResult:
    """A number within ``[low, high]`` (for measured quantities that vary from run to run)."""
    if (res := _missing(name, got)) is not None:
        return res
    value, problem = _number_problem(got)
    if problem:
        return _report(False, name, problem, hint)
    if not (low <= float(value) <= high):
        return _report(False, name, f"Expected a value between {low:.4g} and {high:.4g}, got {float(value):.4g}.", hint)
    return _report(True, name)


def _show(a, limit: int = 12) -> str:
    """An argument or result in a message: small arrays in full, large ones by shape."""
    if callable(a):
        return getattr(a, "__name__", "a function")
    try:
        arr = np.asarray(a)
    except Exception:  # noqa: BLE001
        return _abridge(repr(a))
    if arr.dtype == object or arr.dtype.kind not in "biufU":
        return _abridge(repr(a))
    if arr.ndim == 0:
        return repr(a) if isinstance(a, str) else (_fmt(a) if arr.dtype.kind in "iuf" else repr(a))
    if arr.size <= limit:
        return np.array2string(arr, precision=6, separator=", ")
    return f"<array {arr.dtype} {arr.shape}>"


def _compare_arrays(got, expected, rtol: float, atol: float, dtype=None, args: Sequence = ()) -> str:
    """"" when ``got`` matches ``expected``; otherwise a message saying how it differs."""
    exp_arr = np.asarray(expected)
    if exp_arr.dtype.kind not in "biuf":
        exp_arr = exp_arr.astype(np.float64)
    got_arr, problem = as_array(got, exp_arr.dtype.kind)
    if problem:
        return problem
    if got_arr.shape != exp_arr.shape:
        what = "a single number" if exp_arr.ndim == 0 else f"shape {exp_arr.shape}"
        given = "a single number" if got_arr.ndim == 0 else f"shape {got_arr.shape}"
        return f"Expected {what}, got {given}" + (f": {_show(got)}." if got_arr.size <= 12 else ".")
    if dtype is not None and got_arr.dtype != np.dtype(dtype):
        return (f"Expected {np.dtype(dtype)} values, got {got_arr.dtype} "
                f"({_show(got)}); the answer must be {np.dtype(dtype)} codes, not just their values.")
    g, e = got_arr.astype(np.float64), exp_arr.astype(np.float64)
    bad = ~np.isclose(g, e, rtol=rtol, atol=atol) | ~np.isfinite(g)
    bad &= ~(np.isnan(e) & np.isnan(g))
    if not bad.any():
        return ""
    if exp_arr.ndim == 0:
        exp_s, got_s = format_pair(e, g)
        return f"expected {exp_s}, got {got_s}."
    first = tuple(int(i) for i in np.argwhere(bad)[0])
    exp_s, got_s = format_pair(e[first], g[first]) if np.isfinite(g[first]) else (_fmt(e[first]), str(g[first]))
    where = f"index {first if len(first) > 1 else first[0]}"
    for a in args:  # an input of the same shape (elementwise functions): show its value there
        if np.shape(a) == exp_arr.shape and np.asarray(a).dtype.kind in "iuf":
            where += f" (input {_fmt(np.asarray(a)[first])})"
            break
    whole = f" Expected {_show(exp_arr)}, got {_show(got_arr)}." if exp_arr.size <= 12 else ""
    return (f"{int(bad.sum())} of {bad.size} values differ; first at {where}: expected {exp_s}, got {got_s}."
            f"{whole}")


def check_array(name: str, got, expected, rtol: float = 1e-5, atol: float = 1e-6, hint: str = "",
                dtype=None) -> CheckResult:
    """An array with the expected shape and values (within tolerances); with ``dtype``, also that dtype
    (e.g. ``np.int8`` where integer codes are asked for, so float values that happen to match fail)."""
    if (res := _missing(name, got)) is not None:
        return res
    problem = _compare_arrays(got, expected, rtol, atol, dtype)
    if problem:
        return _report(False, name, problem[0].upper() + problem[1:], hint)
    return _report(True, name)


def check_shape(name: str, got_shape: Sequence[int | None], expected: Sequence[int | None], hint: str = "") -> CheckResult:
    """A shape (tuple of ints, None for the batch axis) equal to ``expected``."""
    if (res := _missing(name, got_shape)) is not None:
        return res
    exp_t = tuple(None if d is None else int(d) for d in expected)
    if isinstance(got_shape, (str, bytes, dict)) or not hasattr(got_shape, "__iter__"):
        return _report(False, name, f"Expected a shape such as {exp_t} (a tuple), got {describe(got_shape)}.", hint)
    got_t = tuple(got_shape)
    if not all(d is None or (isinstance(d, (int, np.integer)) and not isinstance(d, bool)) for d in got_t):
        return _report(False, name, f"Expected a shape such as {exp_t} (whole numbers or None), got {got_t!r}.", hint)
    got_t = tuple(None if d is None else int(d) for d in got_t)
    if got_t != exp_t:
        return _report(False, name, f"Expected shape {exp_t}, got {got_t}.", hint)
    return _report(True, name, f"shape {exp_t}")


def check_function(name: str, fn: Callable, cases: Sequence[tuple[tuple, object]], rtol: float = 1e-6,
                   atol: float = 1e-9, hint: str = "", dtype=None) -> CheckResult:
    """Call ``fn(*args)`` for each ``(args, expected)`` case; report the first case that fails with
    its input, the expected and the received output. ``dtype`` requires results of that dtype."""
    if (res := _missing(name, fn)) is not None:
        return res
    if not callable(fn):
        return _report(False, name, f"Expected a function, got {describe(fn)}.", hint)
    if (res := _stale(name, fn)) is not None:
        return res
    for args, expected in cases:
        shown = ", ".join(_show(a) for a in args)
        try:
            got = fn(*args)
        except NotImplementedError:
            return _report(False, name, "The function still raises NotImplementedError: write its body.", hint)
        except Exception as exc:  # show the learner's error as a message, not a traceback
            return _report(False, name, f"Calling it with ({shown}) raised {type(exc).__name__}: {exc}", hint)
        if got is None or got is Ellipsis:
            return _report(False, name, f"Called with ({shown}) it returned {describe(got)}: is a `return` "
                           "missing?", hint)
        problem = _compare_arrays(got, expected, rtol, atol, dtype, args)
        if problem:
            return _report(False, name, f"Called with ({shown}): {problem}", hint)
    return _report(True, name, f"all {len(cases)} test cases pass.")


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


# 3 slow warm-up calls, then 7 timed calls; sorted, the timed calls are 6, 8, 14, 20, 30, 80, 90 ms, so the
# median (20) is far from its neighbours (14 and 30), the fastest call, the mean (35.4) and the median of all 10 (55).
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

    if (res := _missing(name, timer)) is not None:
        return res
    if not callable(timer):
        return _report(False, name, f"Expected a function timer(fn, inputs, warmup, repeats), got {describe(timer)}.")
    if (res := _stale(name, timer)) is not None:
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


# ------------------------------------------------------------------------------------------ chapter exercises
# The exercise checkers that need more than one comparison live here, so that tests/test_exercises.py
# can feed each one right and wrong answers.

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


def check_ste(name: str, fn: Callable, x=(-2.5, -1.0, -0.7, 0.0, 0.2, 1.0, 1.01, 3.0)) -> CheckResult:
    """04 Ex2: forward value sign(x) (sign(0) = +1) and straight-through gradient 1 for |x| <= 1."""
    from . import binarize

    if (res := _missing(name, fn)) is not None:
        return res
    if not callable(fn):
        return _report(False, name, f"Expected a function, got {describe(fn)}.")
    if (res := _stale(name, fn)) is not None:
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


def check_qparams_function(fn: Callable, name: str = "my_qparams") -> CheckResult:
    """07 Ex1: ``fn(rmin, rmax) -> (scale, zero_point)`` for asymmetric int8, the zero point a Python/NumPy int.

    The ranges are chosen so that ceil, floor and int() (truncation) each fail one of them. On an exact
    tie (``[-1, 1]``: q_min - r_min / s = -0.5) either neighbour passes: ``np.round`` gives 0 (half to
    even), rounding half away from zero gives -1, as the LiteRT converter does.
    """
    from . import quantize

    if (res := _missing(name, fn)) is not None:
        return res
    if not callable(fn):
        return _report(False, name, f"Expected a function my_qparams(rmin, rmax), got {describe(fn)}.")
    if (res := _stale(name, fn)) is not None:
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
