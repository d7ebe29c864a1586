"""Every notebook's exercise checkers, a section per notebook; each docstring names its exercise."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from . import checks, pose


# ---------------------------------------------------------------------------------- 09 · capstone
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
