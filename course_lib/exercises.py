"""Exercise checkers, one per exercise, each tagged with its notebook and exercise ("09 Ex5").

A checker prints a verdict and returns a :class:`course_lib.checks.CheckResult` (truthy when passed),
built with the machinery of :mod:`course_lib.checks`. It names the plausible mistakes it recognises,
without printing the solution; ``tests/test_exercises.py`` feeds each checker right and wrong answers.
``HINTS`` holds two hints per exercise: a nudge, then the formula.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from . import checks, distill

__all__ = ["HINTS", "check_fpd_loss"]

HINTS: dict[str, tuple[str, str]] = {
    "09 Ex5": (
        "Two mean squared errors, one towards the ground truth and one towards the teacher, each with "
        "its weight. Which one does alpha weigh (what must alpha = 1 give)? And which of the teacher's "
        "stacks is its final answer?",
        "loss = alpha * MSE(student, target) + (1 - alpha) * MSE(student, teacher_stacks[-1]), where "
        "MSE(a, b) = np.mean((a - b) ** 2) over every element (no axis argument); return float(loss).",
    ),
}


# --------------------------------------------------------------------------- 09 Ex5: FPD's loss
def _fpd_cases() -> list[tuple[np.ndarray, list[np.ndarray], np.ndarray, float]]:
    """(student, teacher_stacks, target, alpha) for one batch of heat maps (N, H, W, joints).

    The first case separates every known mistake (alpha not 0.5, stacks that differ); the second has
    three teacher stacks, so "the second stack" is wrong too; then alpha = 1, 0 and 0.5.
    """
    rng = np.random.default_rng(20)
    cases = []
    for n, size, joints, stacks, alpha in ((3, 8, 16, 2, 0.3), (2, 6, 5, 3, 0.8), (2, 4, 3, 2, 1.0),
                                           (2, 4, 3, 2, 0.0), (1, 8, 4, 2, 0.5)):
        target = rng.uniform(0, 1, (n, size, size, joints)).astype(np.float32) ** 4   # peaked, in [0, 1]
        teacher = [(target + rng.normal(0, 0.4 / (k + 1), target.shape)).astype(np.float32)
                   for k in range(stacks)]                                          # later stacks: closer
        student = (target + rng.normal(0.05, 0.3, target.shape)).astype(np.float32)
        cases.append((student, teacher, target, alpha))
    return cases


def _mse(a, b) -> float:
    return float(np.mean((np.asarray(a, np.float64) - b) ** 2))


def _fpd_slips(student, teacher_stacks, target, alpha) -> list[tuple[float, str]]:
    """The value each plausible mistake gives on one case, with what to tell the learner."""
    s, g = np.asarray(student, np.float64), np.asarray(target, np.float64)
    t, first = teacher_stacks[-1], teacher_stacks[0]
    mix = lambda a, b, w: w * a + (1 - w) * b  # noqa: E731
    per_image = s[0].size
    slips = [
        (mix(_mse(s, g), _mse(s, t), 1 - alpha), "alpha weighs the wrong term: alpha is the weight on the "
         "ground truth (alpha = 1 must give plain ground-truth training), 1 - alpha the weight on the teacher."),
        (mix(_mse(s, g), _mse(s, t), 0.5), "the result does not depend on alpha as it should: "
         "were the two terms weighted 0.5 and 0.5?"),
        (mix(_mse(s, g), _mse(s, first), alpha), "the teacher term uses the teacher's first stack; FPD "
         "learns from the teacher's final answer."),
        *[(mix(_mse(s, g), _mse(s, mid), alpha), "the teacher term uses one of the teacher's intermediate "
           "stacks; FPD learns from the teacher's final answer, whatever the number of stacks.")
          for mid in teacher_stacks[1:-1]],
        (mix(_mse(s, g), _mse(s, np.mean(teacher_stacks, 0)), alpha), "the teacher term averages the "
         "teacher's stacks; FPD learns from the teacher's final answer only."),
        (mix(_mse(s, g), _mse(s, t), alpha) * s.size, "that is a sum of squared differences: MSE is the "
         "mean over every element (images x height x width x joints)."),
        (mix(_mse(s, g), _mse(s, t), alpha) * per_image, "that is a sum over each image's pixels and "
         "joints: MSE is the mean over every element, not only over the images."),
        (mix(float(np.mean(np.abs(s - g))), float(np.mean(np.abs(s - t))), alpha), "that is the mean "
         "ABSOLUTE error: FPD's loss squares the differences."),
        (mix(_mse(s, g) ** 0.5, _mse(s, t) ** 0.5, alpha), "those are root-mean-square errors: FPD's "
         "loss uses the mean squared error itself, no square root."),
        (_mse(s, mix(g, t, alpha)), "that is the MSE to the mixed target alpha*target + (1-alpha)*teacher: "
         "it has the same gradients, but a smaller value than the weighted sum of the two MSEs, "
         "which is what is asked for."),
        (0.5 * mix(_mse(s, g), _mse(s, t), alpha), "half the expected value: FPD's reference code halves "
         "each MSE, the course's loss does not."),
        (_mse(s, g), "only the ground-truth term: the teacher term is missing."),
        (_mse(s, t), "only the teacher term: the ground-truth term is missing."),
    ]
    return slips


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
    expected = distill.fpd_loss(student, teacher_stacks[-1], target, alpha)
    value, problem = checks._number_problem(got)
    if problem:
        shape = np.shape(got) if hasattr(got, "shape") or isinstance(got, (list, tuple)) else ()
        axes = {student.shape[-1]: "joint", student.shape[0]: "image"}
        if len(shape) == 1 and shape[0] in axes:
            problem += (f" One value per {axes[shape[0]]}? The loss is one number: the mean over every "
                        "element.")
        return f"{where}: {problem}"
    value = float(value)
    if np.isclose(value, expected, rtol=1e-5, atol=1e-9):
        return ""
    exp_s, got_s = checks.format_pair(expected, value)
    why = next((text for slip, text in _fpd_slips(*case) if np.isclose(value, slip, rtol=1e-5, atol=1e-9)), "")
    return f"{where}: expected about {exp_s}, got {got_s}." + (f" It looks like {why}" if why else "")


def check_fpd_loss(fn: Callable, name: str = "my_fpd_loss") -> checks.CheckResult:
    """09 Ex5: ``fn(student, teacher_stacks, target, alpha) -> float``, FPD's loss for one batch.

    ``student`` and ``target`` are heat maps (N, H, W, joints); ``teacher_stacks`` is the list of the
    teacher's per-stack heat maps, first stack first; ``alpha`` weighs the ground truth. The answer is
    :func:`course_lib.distill.fpd_loss` with the teacher's last stack, within float32 rounding. Named
    slips: alpha on the teacher, 0.5/0.5, a wrong or averaged stack, sums, MAE, RMSE, the mixed-target
    MSE, FPD's halved MSE, one term missing, a per-joint or per-image array.
    """
    if (res := checks._missing(name, fn)) is not None:
        return res
    if not callable(fn):
        return checks._report(False, name, f"Expected a function {name}(student, teacher_stacks, target, "
                              f"alpha), got {checks.describe(fn)}.")
    if (res := checks._stale(name, fn)) is not None:
        return res
    cases = _fpd_cases()
    for i, case in enumerate(cases, 1):
        problem = _fpd_case_problem(fn, case, i, len(cases))
        if problem:
            return checks._report(False, name, problem, HINTS["09 Ex5"][0])
    return checks._report(True, name, f"all {len(cases)} batches, alpha from 0 to 1.")
