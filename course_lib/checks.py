"""Exercise checkers: a clear pass message, or what was expected, what was got, and a hint.

Each checker prints its verdict and returns a :class:`CheckResult` (truthy when passed). Under
``make test`` (``COURSE_STRICT_CHECKS=1``) a failed check also raises :class:`ExerciseCheckFailed`,
so a broken reference solution can never slip through nbval; a learner only sees the message.
A checker never passes a wrong answer: shapes, types and values are all compared.
"""
from __future__ import annotations

import contextlib
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


def _missing(name: str, got) -> CheckResult | None:
    if got is None or got is Ellipsis:
        return _report(False, name, "You have not filled this in yet (it is None).",
                       "Replace the placeholder in the exercise cell with your answer and run it again.")
    return None


def _number(name: str, got, hint: str) -> tuple[float, CheckResult | None]:
    """``got`` as a float, or a failed CheckResult saying why it is not a number."""
    if (res := _missing(name, got)) is not None:
        return 0.0, res
    try:
        return float(got), None
    except (TypeError, ValueError):
        return 0.0, _report(False, name, f"Expected a number, got {type(got).__name__} {got!r}.", hint)


def check(condition: bool, name: str, failure: str, hint: str = "") -> CheckResult:
    """Pass when ``condition`` is true; otherwise print ``failure`` and the hint."""
    return _report(bool(condition), name, "" if condition else failure, hint)


def check_int(name: str, got, expected: int, hint: str = "") -> CheckResult:
    """Exact integer answer (counts: parameters, MACs, bytes)."""
    value, problem = _number(name, got, hint)
    if problem is not None:
        return problem
    if value != int(expected):
        off = f" (off by a factor {value / expected:.3g})" if expected and value else ""
        return _report(False, name, f"Expected {int(expected):,}, got {value:,.0f}{off}.", hint)
    return _report(True, name, f"{int(expected):,}")


def check_close(name: str, got, expected: float, rtol: float = 1e-6, atol: float = 0.0, hint: str = "") -> CheckResult:
    """A number equal to ``expected`` within ``rtol`` (relative) or ``atol`` (absolute)."""
    value, problem = _number(name, got, hint)
    if problem is not None:
        return problem
    if not np.isfinite(value) or not np.isclose(value, expected, rtol=rtol, atol=atol):
        return _report(False, name, f"Expected about {expected:.6g}, got {value:.6g}.", hint)
    return _report(True, name)


def check_range(name: str, got, low: float, high: float, hint: str = "") -> CheckResult:
    """A number within ``[low, high]`` (for measured quantities that vary from run to run)."""
    value, problem = _number(name, got, hint)
    if problem is not None:
        return problem
    if not (low <= value <= high):
        return _report(False, name, f"Expected a value between {low:.4g} and {high:.4g}, got {value:.4g}.", hint)
    return _report(True, name)


def check_array(name: str, got, expected, rtol: float = 1e-5, atol: float = 1e-6, hint: str = "") -> CheckResult:
    """An array with the expected shape and values (within tolerances)."""
    if (res := _missing(name, got)) is not None:
        return res
    got_arr = np.asarray(got)
    exp_arr = np.asarray(expected)
    if got_arr.shape != exp_arr.shape:
        return _report(False, name, f"Expected shape {exp_arr.shape}, got shape {got_arr.shape}.", hint)
    if not np.issubdtype(got_arr.dtype, np.number) and got_arr.dtype != bool:
        return _report(False, name, f"Expected numbers, got an array of {got_arr.dtype}.", hint)
    diff = np.abs(got_arr.astype(np.float64) - exp_arr.astype(np.float64))
    bad = ~np.isclose(got_arr.astype(np.float64), exp_arr.astype(np.float64), rtol=rtol, atol=atol)
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        return _report(False, name, f"{int(bad.sum())} of {bad.size} values differ (largest difference "
                       f"{diff.max():.4g}); first at index {first}: expected {exp_arr[first]:.6g}, "
                       f"got {got_arr[first]:.6g}.", hint)
    return _report(True, name)


def check_shape(name: str, got_shape: Sequence[int | None], expected: Sequence[int | None], hint: str = "") -> CheckResult:
    """A shape (tuple of ints, None for the batch axis) equal to ``expected``."""
    if (res := _missing(name, got_shape)) is not None:
        return res
    got_t, exp_t = tuple(got_shape), tuple(expected)
    if got_t != exp_t:
        return _report(False, name, f"Expected shape {exp_t}, got {got_t}.", hint)
    return _report(True, name, f"shape {exp_t}")


def check_function(name: str, fn: Callable, cases: Sequence[tuple[tuple, object]], rtol: float = 1e-6,
                   atol: float = 1e-9, hint: str = "") -> CheckResult:
    """Call ``fn(*args)`` for each ``(args, expected)`` case; report the first case that fails."""
    if (res := _missing(name, fn)) is not None:
        return res
    if not callable(fn):
        return _report(False, name, f"Expected a function, got {type(fn).__name__}.", hint)
    for args, expected in cases:
        shown = ", ".join(repr(a) if np.ndim(a) == 0 else f"<array {np.shape(a)}>" for a in args)
        try:
            got = fn(*args)
        except NotImplementedError:
            return _report(False, name, "The function still raises NotImplementedError: write its body.", hint)
        except Exception as exc:  # show the learner's error as a message, not a traceback
            return _report(False, name, f"Calling it with ({shown}) raised {type(exc).__name__}: {exc}", hint)
        got_arr, exp_arr = np.asarray(got, dtype=np.float64), np.asarray(expected, dtype=np.float64)
        if got_arr.shape != exp_arr.shape:
            return _report(False, name, f"With ({shown}) expected shape {exp_arr.shape}, got {got_arr.shape}.", hint)
        if not np.allclose(got_arr, exp_arr, rtol=rtol, atol=atol):
            exp_s = f"{float(exp_arr):.6g}" if exp_arr.ndim == 0 else "a different array"
            got_s = f"{float(got_arr):.6g}" if got_arr.ndim == 0 else f"max difference {np.abs(got_arr - exp_arr).max():.3g}"
            return _report(False, name, f"With ({shown}) expected {exp_s}, got {got_s}.", hint)
    return _report(True, name, f"all {len(cases)} test cases pass.")


def check_timer(name: str, timer: Callable) -> CheckResult:
    """Check a learner's ``timer(fn, inputs, warmup, repeats) -> median milliseconds``.

    It is given a fake model whose first 3 calls are slow (like tracing/compilation) and whose
    timed calls take 2 ms except for three 40 ms hiccups: only a timer that warms up, calls the
    model exactly ``warmup + repeats`` times on the inputs and returns the *median* gets ~2 ms.
    """
    import time

    if (res := _missing(name, timer)) is not None:
        return res
    calls: list[int] = []
    pattern = [80, 80, 80, 2, 40, 2, 40, 2, 40, 2]  # ms per call: 3 slow warm-up calls, then 7 timed

    def fake_model(x):
        calls.append(int(np.asarray(x).ravel()[0]))
        time.sleep(pattern[min(len(calls) - 1, len(pattern) - 1)] / 1000)

    inputs = [np.full(3, i, np.float32) for i in range(1, 5)]
    try:
        got = timer(fake_model, inputs, 3, 7)
    except NotImplementedError:
        return _report(False, name, "The function still raises NotImplementedError: write its body.")
    except Exception as exc:
        return _report(False, name, f"Calling timer(fn, inputs, warmup=3, repeats=7) raised {type(exc).__name__}: {exc}")
    if len(calls) != 10:
        return _report(False, name, f"The model was called {len(calls)} times; expected 3 warm-up + 7 timed = 10.",
                       "call fn once per warm-up run and once per timed run")
    if len(set(calls)) < 2:
        return _report(False, name, "Every call used the same input.", "cycle through the inputs (inputs[i % len(inputs)])")
    try:
        value = float(got)
    except (TypeError, ValueError):
        return _report(False, name, f"Expected a number of milliseconds, got {type(got).__name__}.")
    if value > 10.0:
        return _report(False, name, f"Got {value:.1f} ms; the fake model's typical timed call takes about 2 ms.",
                       "(1) run the warm-up calls first and do not time them; (2) return the median of the "
                       "timed runs (statistics.median), not the mean, so rare slow hiccups do not pull it up")
    if value < 1.0:
        return _report(False, name, f"Got {value:.3f}: is it in seconds? Expected milliseconds.",
                       "time.perf_counter() returns seconds: multiply by 1000")
    return _report(True, name, "warm-up excluded, median of the timed runs in ms.")
