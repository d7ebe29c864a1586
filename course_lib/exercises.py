"""Exercise checkers, one per exercise, each tagged with its notebook and exercise ("09 Ex5").

A checker prints a verdict and returns a :class:`course_lib.checks.CheckResult` (truthy when
passed), built with the machinery of :mod:`course_lib.checks`. It names the plausible mistakes it
recognises, without printing the solution; the tests feed each checker right and wrong answers.
``HINTS`` holds two hints per exercise: a nudge, then the formula.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from . import checks, distill

__all__ = ["HINTS", "check_fpd_loss"]

HINTS: dict[str, tuple[str, str]] = {
    "09 Ex5": (
        "Two mean squared errors, one towards the ground truth and one towards the teacher, each "
        "with its weight. Which one does alpha weigh (what must alpha = 1 give)? And which of the "
        "teacher's stacks is its final answer?",
        "loss = alpha * MSE(student, target) + (1 - alpha) * MSE(student, teacher_stacks[-1]), "
        "where MSE(a, b) = np.mean((a - b) ** 2) over every element (no axis argument); "
        "return float(loss).",
    ),
}


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
    if (res := checks._missing(name, fn)) is not None:
        return res
    if not callable(fn):
        return checks._report(False, name, f"Expected a function {name}(student, teacher_stacks, "
                              f"target, alpha), got {checks.describe(fn)}.")
    if (res := checks._stale(name, fn)) is not None:
        return res
    cases = _fpd_cases()
    for i, case in enumerate(cases, 1):
        problem = _fpd_case_problem(fn, case, i, len(cases))
        if problem:
            return checks._report(False, name, problem, HINTS["09 Ex5"][0])
    return checks._report(True, name, f"all {len(cases)} batches, alpha from 0 to 1.")
