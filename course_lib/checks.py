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


def _report(passed: bool, name: str, detail: str = "", hint: str = "") -> CheckResult:
    if passed:
        message = f"{PASS} {name}: correct. {detail}".rstrip()
    else:
        message = f"{FAIL} {name}: not yet. {detail}"
        if hint:
            message += f"\n   Hint: {hint}"
    print(message)
    if not passed and config.strict_checks() and not _lenient_depth:
        raise ExerciseCheckFailed(message)
    return CheckResult(passed, message)


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
    if callable(value):
        return f"a function {getattr(value, '__name__', type(value).__name__)!s}"
    if hasattr(value, "shape") and hasattr(value, "dtype"):  # a tensor
        return f"a {type(value).__name__} of {value.dtype} with shape {tuple(value.shape)}"
    return f"{type(value).__name__} {_abridge(repr(value))}"


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
    pattern = re.compile(rf"^\s*(def\s+{re.escape(name)}\s*\(|{re.escape(name)}\s*=)", re.M)
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
    """Make Python's clocks read ``clock[0]`` seconds (plus a nanosecond per read), then restore them."""
    import time
    import timeit

    names = ["perf_counter", "monotonic", "time", "process_time"]
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


TIMER_PATTERN_MS = [100, 100, 100, 10, 6, 60, 8, 60, 12, 14]  # 3 slow warm-up calls, then 7 timed


def check_timer(name: str, timer: Callable) -> CheckResult:
    """Check a learner's ``timer(fn, inputs, warmup, repeats) -> median milliseconds``.

    The fake model's first 3 calls take 100 ms (like tracing/compilation); the 7 timed calls take
    10, 6, 60, 8, 60, 12 and 14 ms. Their median is 10 ms; the fastest call (6), the mean (24.3),
    and the median with the warm-up calls timed too (37) are all distinguishable. The clocks of
    ``time`` and ``timeit`` follow the fake model exactly during the check (no noise); the model
    also really sleeps, so a clock imported some other way gives nearly the same numbers.
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
    try:
        with _virtual_clock(clock):
            got = timer(fake_model, inputs, 3, 7)
    except NotImplementedError:
        return _report(False, name, "The function still raises NotImplementedError: write its body.")
    except Exception as exc:  # noqa: BLE001 - the learner's error, as a message
        return _report(False, name, f"Calling timer(fn, inputs, warmup=3, repeats=7) raised {type(exc).__name__}: {exc}")
    if len(calls) != 10:
        return _report(False, name, f"The model was called {len(calls)} times; expected 3 warm-up + 7 timed = 10.",
                       "call fn once per warm-up run and once per timed run")
    if len(set(calls)) < 2:
        return _report(False, name, "Every call used the same input.", "cycle through the inputs (inputs[i % len(inputs)])")
    value, problem = _number_problem(got)
    if problem:
        return _report(False, name, f"{problem} Expected the median in milliseconds.")
    value = float(value)
    timed = sorted(TIMER_PATTERN_MS[3:])
    diagnoses = [(min(timed), "that is the fastest timed call (min), not the median"),
                 (float(np.mean(timed)), "that is the mean of the timed calls; slow hiccups pull a mean up"),
                 (float(np.median(TIMER_PATTERN_MS)), "that is the median of all 10 calls: the warm-up calls were timed too"),
                 (float(np.mean(TIMER_PATTERN_MS)), "that is the mean of all 10 calls, warm-up included"),
                 (max(timed), "that is the slowest timed call (max)")]
    if 9.5 <= value <= 12.5:
        return _report(True, name, "warm-up excluded, median of the timed runs in ms.")
    if value < 1.0:
        return _report(False, name, f"Got {value:.4g}: is it in seconds? The median timed call takes 10 ms.",
                       "time.perf_counter() returns seconds: multiply by 1000")
    for reference, why in diagnoses:
        if abs(value - reference) <= 0.15 * reference:
            return _report(False, name, f"Got {value:.1f} ms: {why}. The timed calls took {timed} ms; their median "
                           "is 10 ms.", "run the warm-up calls first without timing them, then return "
                           "statistics.median of the timed runs")
    return _report(False, name, f"Got {value:.1f} ms; the timed calls took {timed} ms, whose median is 10 ms.",
                   "(1) run the warm-up calls first and do not time them; (2) time each call with "
                   "time.perf_counter() and return the median (statistics.median) in milliseconds")
