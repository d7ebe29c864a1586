"""Exercise checkers, one per exercise, each tagged with its notebook and exercise ("09 Ex5"): 03's budget rule
and 09's so far; the other chapters' checkers are still in :mod:`course_lib.checks` (moving them here is open).

A checker prints a verdict and returns a :class:`course_lib.checks.CheckResult` (truthy when
passed), built with the machinery of :mod:`course_lib.checks`. It names the plausible mistakes it
recognises, without printing the solution; the tests feed each checker right and wrong answers.
``HINTS`` are 09's hint ladders from :mod:`course_lib.hints` (a failed check prints the nudge).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from . import checks, distill, hints, pose


# ---------------------------------------------------------------------------- 03 Ex3: the budget
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




def _not_a_function(fn, name: str, signature: str) -> checks.CheckResult | None:
    """The failed check when ``fn`` is missing, not callable or a stale definition; else None."""
    if (res := checks._missing(name, fn)) is not None:
        return res
    if not callable(fn):
        return checks._report(False, name, f"Expected a function {name}({signature}), got {checks.describe(fn)}.")
    return checks._stale(name, fn)


HINTS = hints.HINTS_09   # the hint ladders (course_lib.hints); a failed check prints rung 1


# --------------------------------------------------------------------------- 09 Ex5: FPD's loss
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


# --------------------------------------------------------------------------- 09 Ex4: the rule


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
