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


def _report(passed: bool, name: str, detail: str = "", hint: str = "", expected: str = "",
            reveal: bool = False) -> CheckResult:
    """Print and return a verdict. ``expected`` (the answer, as text) is shown on a failure only with
    ``reveal=True`` or once the learner has asked for hint 2 of this exercise (:func:`hint_rung_asked`)."""
    if passed:
        message = f"{PASS} {name}: correct. {detail}".rstrip()
    else:
        message = f"{FAIL} {name}: not yet. {detail}"
        if hint:
            message += f"\n   Hint: {hint}"
        if expected and (reveal or hint_rung_asked() >= REVEAL_FROM_RUNG):
            message += f"\n   The expected answer: {expected}"
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


REVEAL_FROM_RUNG = 2  #: a failed check shows the expected value once hint 2 of its exercise was shown


def hint_rung_asked() -> int:
    """The highest rung of the hint ladder shown for the exercise whose checker cell is running
    (``progress.hints_seen``); 0 outside an exercise's checker cell or when that cannot be told."""
    from . import practice, progress  # met in 00; neither imports checks

    try:
        cell = progress._running_cell()  # noqa: SLF001 - the same lookup progress.checked makes
        exercise = practice.exercise_of_cell(cell[0]) if cell else None
        return progress.hints_seen(exercise.id) if exercise is not None else 0
    except Exception:  # noqa: BLE001 - never let the progress file break a check
        return 0


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


def show_number(x) -> str:
    """A number for a message: a whole number as an integer with separators (``7,325,696``, never
    ``7.3257e+06``), any other with 6 significant digits, or more when they are needed to show it exactly."""
    v = float(x)
    if math.isfinite(v) and v.is_integer() and abs(v) < 1e16:
        return f"{int(v):,}"
    for digits in range(6, 16):  # 851,967.5 stays 851,967.5: a text rounded to a whole number could look right
        text = f"{v:,.{digits}g}"
        if not math.isfinite(v) or not float(text.replace(",", "")).is_integer():
            return text
    return text


def format_pair(expected, got) -> tuple[str, str]:
    """``expected`` and ``got`` as text with enough significant digits that unequal numbers look unequal
    (whole numbers as integers)."""
    e, g = float(expected), float(got)
    if all(math.isfinite(v) and v.is_integer() and abs(v) < 1e16 for v in (e, g)):
        return show_number(e), show_number(g)
    for digits in range(6, 18):
        es, gs = f"{e:,.{digits}g}", f"{g:,.{digits}g}"
        if es != gs or e == g:
            return es, gs
    return repr(e), repr(g)


def _fmt(x) -> str:
    return show_number(x)


# ------------------------------------------------------------------------------------------ diagnosing
def _decimals(value: float) -> int | None:
    """Decimal places of the shortest text of ``value`` (``0.356`` -> 3), None in exponent notation."""
    text = repr(float(value))
    if "e" in text or "inf" in text or "nan" in text:
        return None
    return len(text.split(".")[1].rstrip("0")) if "." in text else 0


def too_few_digits(value: float, expected: float) -> bool:
    """Whether ``value`` is ``expected`` rounded (or cut) to fewer digits: 7.9 for 7.8904, 0.356 for 0.35556."""
    v, e = float(value), float(expected)
    if v == e or v == 0 or not (math.isfinite(v) and math.isfinite(e)):
        return False
    near = lambda c: math.isclose(v, c, rel_tol=1e-12, abs_tol=1e-15)  # noqa: E731
    d = _decimals(v)
    if d is not None and d <= 6 and (near(round(e, d)) or near(math.trunc(e * 10 ** d) / 10 ** d)):
        return True
    return any(near(float(f"{e:.{k}g}")) for k in range(1, 7))


def relation(value: float, expected: float, factors: dict[float, str] | None = None) -> str:
    """How a wrong number stands to the expected one, in words that do not state it: "too large by a
    factor 2", "too small by a factor Df²" (a named factor of ``factors``), "the sign is wrong",
    "close, but too small", "too large"."""
    v, e = float(value), float(expected)
    side = "too large" if abs(v) > abs(e) else "too small"
    if e == 0 or v == 0:
        return "too large" if v > e else "too small"
    ratio = v / e
    if math.isclose(ratio, -1.0, rel_tol=1e-6):
        return "the sign is wrong"
    if ratio < 0:
        return f"the sign is wrong, and the size is {side}"
    big = max(ratio, 1 / ratio)
    for factor, label in (factors or {}).items():
        if math.isclose(big, float(factor), rel_tol=1e-6):
            return f"{side} by a factor {label}"
    if round(big) >= 2 and math.isclose(big, round(big), rel_tol=1e-9) and big <= 1e6:
        return f"{side} by a factor {round(big)}"
    if 0.8 < ratio < 1.25:
        return f"close, but {side}"
    return side


def _why_number(value: float, expected: float, factors: dict[float, str] | None = None) -> str:
    """"close: keep more digits" for a rounded answer, else :func:`relation`."""
    return "close: keep more digits" if too_few_digits(value, expected) else relation(value, expected, factors)


def _array_relation(got: np.ndarray, expected: np.ndarray) -> str:
    """One sentence for a pattern in a wrong array (every value rounded, scaled or negated), or ""."""
    g, e = got.astype(np.float64).ravel(), expected.astype(np.float64).ravel()
    if not np.all(np.isfinite(g)) or g.size < 2:
        return ""
    differ = g != e
    if differ.any() and all(too_few_digits(a, b) for a, b in zip(g[differ], e[differ])):
        return "close: keep more digits"
    nonzero = e != 0
    if nonzero.any() and np.allclose(g[~nonzero], 0):
        ratio = g[nonzero] / e[nonzero]
        if np.allclose(ratio, ratio[0], rtol=1e-6, atol=0):
            c = float(ratio[0])
            if c > 0:
                return f"every value is {relation(c, 1.0)}"
            size = "" if math.isclose(c, -1.0, rel_tol=1e-6) else f", and its size is {relation(-c, 1.0)}"
            return f"every value has the wrong sign{size}"
    if np.allclose(np.abs(g), np.abs(e), rtol=1e-6, atol=1e-12):
        return "the sizes are right, but some signs are not"
    return ""


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


def _transformed(source: str) -> str:
    """``source`` as IPython compiles it (line magics such as ``%time`` become ``get_ipython()`` calls)."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager

        return TransformerManager().transform_cell(source)
    except Exception:  # noqa: BLE001 - no IPython, or a cell it cannot transform: compare the text as it is
        return source


def _compiled_versions(entry: str) -> set[str]:
    """The texts a history entry (raw and parsed cell) may have compiled a function from, stripped.

    The cell itself, and, under a first-line cell magic such as ``%%capture``, which runs the rest of the
    cell as a cell of its own, that body as typed and as IPython transforms it (its line magics).
    """
    versions = set()
    for part in entry.split("\n\x00\n"):
        first, _, body = part.strip().partition("\n")
        versions.add(part.strip())
        if first.startswith("%%"):
            versions |= {body.strip(), _transformed(body).strip()}
    return versions


def stale_function(fn: Callable, history: list[str] | None = None) -> str:
    """Why ``fn`` is not the definition from the last run of its cell ("" when it is, or when unknown).

    When the last run of the cell that defines ``fn`` raised before the ``def`` (a syntax error
    after deleting a body, say), the kernel keeps the older function, often the reference solution.
    The source the function was compiled from is compared with the last cell run that defines it (its body
    when the cell starts with a cell magic such as ``%%capture``).
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
            if defining in _compiled_versions(entry):
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


def check_int(name: str, got, expected: int, hint: str = "", factor: bool = True,
              factors: dict[float, str] | None = None, reveal: bool = False) -> CheckResult:
    """Exact integer answer (counts: parameters, MACs, bytes; or an index / zero point with ``factor=False``).

    An integral float (``1000.0``) is accepted; strings, booleans, fractions and containers are not.
    A wrong count is told how it is off ("too large by a factor 4", or a factor named in ``factors``,
    e.g. ``{196: "Df² = 14²"}``) but not the expected count, which shows only with ``reveal=True`` or
    from hint 2 on; ``factor=False`` (indices, codes) says only that it is not the one asked for.
    """
    if (res := _missing(name, got)) is not None:
        return res
    expected = int(expected)
    answer = show_number(expected)
    value, problem = _number_problem(got, integer=True)
    if problem:
        return _report(False, name, problem, hint, answer, reveal)
    if value is None:  # a fraction
        return _report(False, name, f"You gave {show_number(float(_scalar(got)))}, which is not a whole number.",
                       hint or "Round, or use integer arithmetic (// instead of /).", answer, reveal)
    value = int(value)
    if value != expected:
        if not factor:
            why = f"You gave {value:,}, which is not the one asked for."
        elif too_few_digits(value, expected):
            why = f"You gave {value:,}: close, but rounded. Give the exact count."
        else:
            why = f"You gave {value:,}, which is {relation(value, expected, factors)}."
        return _report(False, name, why, hint, answer, reveal)
    return _report(True, name, answer)


def check_close(name: str, got, expected: float, rtol: float = 1e-6, atol: float = 0.0, hint: str = "",
                factors: dict[float, str] | None = None, reveal: bool = False) -> CheckResult:
    """A number equal to ``expected`` within ``rtol`` (relative) or ``atol`` (absolute).

    Set the tolerance to the precision the exercise asks for (``atol=0.005`` for "two decimals"). A
    wrong answer is told how it is off (:func:`relation`; "close: keep more digits" when it is the
    answer rounded too far), never the expected value, which shows only with ``reveal=True`` or from
    hint 2 on."""
    if (res := _missing(name, got)) is not None:
        return res
    answer = show_number(expected)
    value, problem = _number_problem(got)
    if problem:
        return _report(False, name, problem, hint, answer, reveal)
    if not np.isclose(float(value), float(expected), rtol=rtol, atol=atol):
        why = _why_number(value, expected, factors)
        return _report(False, name, f"You gave {show_number(value)}: {why}.", hint, answer, reveal)
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
    """"" when ``got`` matches ``expected``; otherwise a message saying how it differs (its type, shape,
    dtype, which values and how), never the expected values."""
    exp_arr = np.asarray(expected)
    if exp_arr.dtype.kind not in "biuf":
        exp_arr = exp_arr.astype(np.float64)
    got_arr, problem = as_array(got, exp_arr.dtype.kind)
    if problem:
        return problem
    if got_arr.shape != exp_arr.shape:
        what = "a single number" if exp_arr.ndim == 0 else f"shape {exp_arr.shape}"
        given = "a single number" if got_arr.ndim == 0 else f"shape {got_arr.shape}"
        turned = " (transposed?)" if got_arr.ndim > 1 and got_arr.shape == exp_arr.shape[::-1] else ""
        return f"Expected {what}, got {given}{turned}" + (f": {_show(got)}." if got_arr.size <= 12 else ".")
    if dtype is not None and got_arr.dtype != np.dtype(dtype):
        return (f"Expected {np.dtype(dtype)} values, got {got_arr.dtype} "
                f"({_show(got)}); the answer must be {np.dtype(dtype)} codes, not just their values.")
    g, e = got_arr.astype(np.float64), exp_arr.astype(np.float64)
    bad = ~np.isclose(g, e, rtol=rtol, atol=atol) | ~np.isfinite(g)
    bad &= ~(np.isnan(e) & np.isnan(g))
    if not bad.any():
        return ""
    if exp_arr.ndim == 0:
        return f"got {_fmt(g)}: {_why_number(g, e) if np.isfinite(g) else 'not a finite number'}."
    first = tuple(int(i) for i in np.argwhere(bad)[0])
    where = f"index {first if len(first) > 1 else first[0]}"
    for a in args:  # an input of the same shape (elementwise functions): show its value there
        if np.shape(a) == exp_arr.shape and np.asarray(a).dtype.kind in "iuf":
            where += f" (input {_fmt(np.asarray(a)[first])})"
            break
    value = g[first]
    why = _array_relation(g, e) or (_why_number(value, e[first]) if np.isfinite(value) else "not a finite number")
    shown = _fmt(value) if np.isfinite(value) else str(value)
    return f"{int(bad.sum())} of {bad.size} values differ; the first at {where}: you have {shown} ({why})."


def _expected_text(expected) -> str:
    """The expected answer of an array check as text (for ``reveal``): small arrays in full."""
    arr = np.asarray(expected)
    return _show(expected) if arr.size <= 12 else f"an array of shape {arr.shape} (too large to print)"


def check_array(name: str, got, expected, rtol: float = 1e-5, atol: float = 1e-6, hint: str = "",
                dtype=None, reveal: bool = False) -> CheckResult:
    """An array with the expected shape and values (within tolerances); with ``dtype``, also that dtype
    (e.g. ``np.int8`` where integer codes are asked for, so float values that happen to match fail).
    The expected values show only with ``reveal=True`` or from hint 2 on."""
    if (res := _missing(name, got)) is not None:
        return res
    problem = _compare_arrays(got, expected, rtol, atol, dtype)
    if problem:
        return _report(False, name, problem[0].upper() + problem[1:], hint, _expected_text(expected), reveal)
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
                   atol: float = 1e-9, hint: str = "", dtype=None, reveal: bool = False) -> CheckResult:
    """Call ``fn(*args)`` for each ``(args, expected)`` case; report the first case that fails with
    its input and what was wrong with the output. ``dtype`` requires results of that dtype. The
    expected output shows only with ``reveal=True`` or from hint 2 on."""
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
            return _report(False, name, f"Called with ({shown}): {problem}", hint,
                           f"{_expected_text(expected)} for ({shown})", reveal)
    return _report(True, name, f"all {len(cases)} test cases pass.")
