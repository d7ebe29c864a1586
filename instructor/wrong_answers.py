"""Common wrong answers to the exercises and what the course's checkers print for them.

    python instructor/wrong_answers.py          # every chapter, as markdown (pasted into instructor/NN_*.md)
    python instructor/wrong_answers.py 05       # one chapter

Each mistake calls the same checker as the notebook, with the same expected value or test cases,
for exercises whose expected answer does not depend on a training run. tests/test_grading.py runs
them all and requires every one to fail (a checker that let a common mistake pass would be a bug).
Exercises whose checker needs the notebook's trained models are described in the notes instead.
"""
from __future__ import annotations

import contextlib
import io
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from course_lib import checks, exercises  # noqa: E402

MISTAKES: list[tuple[str, str, Callable[[], object]]] = []  # (chapter, what the learner did, checker call)


def mistake(chapter: str, what: str):
    def register(fn):
        MISTAKES.append((chapter, what, fn))
        return fn
    return register


# ---- 01 ---------------------------------------------------------------------------------------------------
def timer(warm: bool, reduce, scale: float = 1000.0, clock=None):
    """A learner's timer for 01's exercise 4 (also used by the tests): ``warm`` runs the warm-up calls untimed
    (otherwise they are timed too), ``reduce`` turns the per-call times into one number (the right answer is
    ``statistics.median``), ``scale`` 1000 gives milliseconds, ``clock`` is the clock read around each call
    (default: ``time.perf_counter`` looked up at each call, as a learner's ``time.perf_counter()`` is, so the
    checker's virtual clock applies; a function bound earlier reads the real clock, whose oversleeping on a busy
    machine made the messages vary)."""
    clock = clock or (lambda: time.perf_counter())

    def learners_timer(fn, inputs, warmup, repeats):
        if warm:
            for i in range(warmup):
                fn(inputs[i % len(inputs)])
        times = []
        for i in range(repeats if warm else warmup + repeats):
            start = clock()
            fn(inputs[i % len(inputs)])
            times.append((clock() - start) * scale)
        return reduce(times)
    return learners_timer


@mistake("01", "Exercise 4: timer returns the mean (hiccups pull it up)")
def _():
    return exercises.check_timer("your timer", timer(True, statistics.mean))


@mistake("01", "Exercise 4: timer times the warm-up calls too")
def _():
    return exercises.check_timer("your timer", timer(False, statistics.median))


def _cnn():
    from course_lib import models
    return models.small_cnn(input_shape=(28, 28, 1), classes=10)


@mistake("01", "Exercise 1: conv2's MACs on the 28x28 input (forgot the pooling before conv2)")
def _():
    return exercises.check_conv2_macs(3 * 3 * 16 * 32 * 28 * 28, _cnn())


@mistake("01", "Exercise 1: forgot the kernel size (C_in*C_out*H*W)")
def _():
    return exercises.check_conv2_macs(16 * 32 * 14 * 14, _cnn())


@mistake("01", "Exercise 2: logits parameters without the biases")
def _():
    return exercises.check_logits_params(64 * 10, _cnn())


@mistake("01", "Exercise 3: one image instead of a batch of 32")
def _():
    return exercises.check_activation_bytes(28 * 28 * 16 * 4, _cnn(), batch=32)


@mistake("01", "Exercise 3: counted values, not bytes (forgot 4 bytes per float32)")
def _():
    return exercises.check_activation_bytes(28 * 28 * 16 * 32, _cnn(), batch=32)


@mistake("01", "Exercise 4: timer returns seconds")
def _():
    return exercises.check_timer("your timer", timer(True, statistics.median, scale=1.0))


# ---- 02 ---------------------------------------------------------------------------------------------------
@mistake("02", "Exercise 1: only the depthwise term")
def _():
    return exercises.check_separable_macs(lambda dk, m, n, df: dk * dk * m * df * df)


@mistake("02", "Exercise 1: the depthwise term multiplied by N (a standard convolution)")
def _():
    return exercises.check_separable_macs(lambda dk, m, n, df: dk * dk * m * n * df * df + m * n * df * df)


@mistake("02", "Exercise 2: a matrix product over the channels (sums them away) instead of a per-channel product")
def _():
    return exercises.check_equivalent_kernel(lambda d, p: d[..., 0] @ p[0, 0])


@mistake("02", "Exercise 4: the MAC ratio 1/N + 1/Dk² instead of the speed-up (its inverse)")
def _():
    return exercises.check_predicted_speedup(1 / 64 + 1 / 9)


@mistake("02", "Exercise 4: one decimal (7.9): two are asked for")
def _():
    return exercises.check_predicted_speedup(7.9)


# ---- 03 ---------------------------------------------------------------------------------------------------
@mistake("03", "Exercise 1: every term at 16x16 (ignored the stride)")
def _():
    return exercises.check_inverted_block_macs(16 * 16 * 24 * 144 + 16 * 16 * 9 * 144 + 16 * 16 * 144 * 32)


@mistake("03", "Exercise 1: expansion also at 8x8 (stride applied before the expansion)")
def _():
    return exercises.check_inverted_block_macs(8 * 8 * 24 * 144 + 8 * 8 * 9 * 144 + 8 * 8 * 144 * 32)


# ---- 04 ---------------------------------------------------------------------------------------------------
_filt = np.array([[0.2, -0.5, 0.1], [0.4, -0.3, -0.6], [0.0, 0.9, -0.2]])


@mistake("04", "Exercise 1: alpha = mean of the weights (signs cancel)")
def _():
    return exercises.check_binary_filter(_filt.mean(), _filt.mean() * np.where(_filt >= 0, 1.0, -1.0), _filt)


@mistake("04", "Exercise 1: np.sign for the binary filter (the 0.0 weight becomes 0, not +1)")
def _():
    alpha = np.abs(_filt).mean()
    return exercises.check_binary_filter(alpha, alpha * np.sign(_filt), _filt)


@mistake("04", "Exercise 3: XOR instead of XNOR")
def _():
    a, b = "10110010", "11100110"
    got = "".join("1" if p != q else "0" for p, q in zip(a, b))
    return exercises.check_xnor(got, 5, 2, a, b)


@mistake("04", "Exercise 3: dot product = number of agreements")
def _():
    return checks.check_int("binary dot product", 5, 2, factor=False,
                            hint="Each agreement adds +1 to a ±1 dot product; what does each disagreement add?")


@mistake("04", "Exercise 4: packed signs only, forgot the float32 alpha per filter")
def _():
    words = -(-(3 * 3 * 36) // 64)
    return exercises.check_binary_layer_bytes(128 * words * 8, 3 * 3 * 36 * 128 * 4 / (128 * words * 8),
                                           kernel_size=3, c_in=36, c_out=128)


@mistake("04", "Exercise 4: word count rounded to the nearest integer (5.06 -> 5) instead of rounded up")
def _():
    wrong = 128 * (round(3 * 3 * 36 / 64) * 8 + 4)
    return exercises.check_binary_layer_bytes(wrong, 3 * 3 * 36 * 128 * 4 / wrong, kernel_size=3, c_in=36, c_out=128)


# ---- 05 ---------------------------------------------------------------------------------------------------
def _w_ex():
    return np.random.default_rng(5).normal(0.0, 0.1, size=(3, 3, 16, 32)).astype(np.float32)


@mistake("05", "Exercise 1: off by one (sorted[k] instead of sorted[k - 1])")
def _():
    w = _w_ex()
    k = int(round(0.7 * w.size))
    return exercises.check_threshold(float(np.sort(np.abs(w).ravel())[k]), w, 0.7)


@mistake("05", "Exercise 1: threshold on the signed weights (forgot the absolute value)")
def _():
    w = _w_ex()
    k = int(round(0.7 * w.size))
    return exercises.check_threshold(float(np.sort(w.ravel())[k - 1]), w, 0.7)


@mistake("05", "Exercise 2: progress not clipped (before begin_step / after end_step)")
def _():
    def schedule(step, initial, final, begin_step, end_step, power=3):
        progress = (step - begin_step) / (end_step - begin_step)
        return final + (initial - final) * (1.0 - progress) ** power
    return exercises.check_schedule(schedule)


@mistake("05", "Exercise 2: returns 0 before begin_step (the initial sparsity is not always 0)")
def _():
    def schedule(step, initial, final, begin_step, end_step, power=3):
        if step < begin_step:
            return 0.0
        progress = min((step - begin_step) / (end_step - begin_step), 1.0)
        return final + (initial - final) * (1.0 - progress) ** power
    return exercises.check_schedule(schedule)


@mistake("05", "Exercise 1: one threshold per output channel (an array) instead of one for the tensor")
def _():
    w = _w_ex()
    per_channel = np.sort(np.abs(w).reshape(-1, 32), axis=0)[int(round(0.7 * 144)) - 1]
    return exercises.check_threshold(per_channel, w, 0.7)


@mistake("05", "Exercise 2: (progress) ** power instead of (1 - progress) ** power")
def _():
    def schedule(step, initial, final, begin_step, end_step, power=3):
        progress = min(max((step - begin_step) / (end_step - begin_step), 0.0), 1.0)
        return initial + (final - initial) * progress ** power
    return exercises.check_schedule(schedule)


@mistake("05", "Exercise 4: only C_out shrunk (C_in still conv1's 16 channels)")
def _():
    from course_lib import models, prune
    base = models.small_cnn((28, 28, 1), 10, name="small_cnn")
    small = prune.rebuild_pruned(base, prune.select_channels(base, 0.5))
    return exercises.check_pruned_macs(3 * 3 * 16 * 16 * 14 * 14, small)


# ---- 06 ---------------------------------------------------------------------------------------------------
@mistake("06", "Exercise 2: concatenated on axis 0")
def _():
    return exercises.check_crelu(lambda x: np.maximum(np.concatenate([x, -x], axis=0), 0))


@mistake("06", "Exercise 2: ReLU before negating: [relu(x), -relu(x)]")
def _():
    return exercises.check_crelu(lambda x: np.concatenate([np.maximum(x, 0), -np.maximum(x, 0)], axis=-1))


def _crelu_pair():
    from course_lib import pvanet
    # 06's models: shapes images 32x32x3, widths (32, 64, 96), CReLU in the first two stages
    return pvanet.crelu_pair((32, 32, 3), 10, widths=(32, 64, 96), crelu_stages=(0, 1))


@mistake("06", "Exercise 3: the plain conv's cost instead of the saving")
def _():
    return exercises.check_crelu_saving(3 * 3 * 32 * 64 * 16 * 16, *_crelu_pair(), conv="conv2",
                                        name="net MACs saved by CReLU in conv2")


@mistake("06", "Exercise 3: the half-width conv's saving, the CReLU layer's scale/shift taken as free")
def _():
    return exercises.check_crelu_saving(3 * 3 * 32 * 64 * 16 * 16 // 2, *_crelu_pair(), conv="conv2",
                                        name="net MACs saved by CReLU in conv2")


# ---- 07 ---------------------------------------------------------------------------------------------------
def _q():
    from course_lib import quantize
    return quantize


@mistake("07", "Exercise 1: divided the range by 256 instead of 255 steps")
def _():
    return exercises.check_qparams_function(lambda lo, hi: ((hi - lo) / 256, int(np.round(-128 - lo / ((hi - lo) / 256)))))


@mistake("07", "Exercise 1: zero point with the wrong sign (q_min + r_min / s)")
def _():
    return exercises.check_qparams_function(lambda lo, hi: ((hi - lo) / 255, int(np.round(-128 + lo / ((hi - lo) / 255)))))


def quantize_cases():
    """07's exercise 2 cases (also used by the tests): the checker's own, from course_lib.exercises."""
    return exercises.quantize_cases()


@mistake("07", "Exercise 2: zero point added before rounding (only shows on ties with a nonzero zero point)")
def _():
    Q = _q()
    return exercises.check_quantize(lambda x, s, z: np.clip(Q.round_half_away(np.asarray(x) / s + z), -128, 127)
                                    .astype(np.int8))


@mistake("07", "Exercise 2: no clipping (values outside the range wrap around in int8)")
def _():
    return exercises.check_quantize(lambda x, s, z: (np.round(np.asarray(x) / s) + z).astype(np.int8))


@mistake("07", "Exercise 2: np.round (round half to even) instead of rounding half away from zero")
def _():
    return exercises.check_quantize(lambda x, s, z: np.clip(np.round(np.asarray(x) / s) + z, -128, 127).astype(np.int8))


@mistake("07", "Exercise 3: ReLU clamped at 0 instead of at the zero point")
def _():
    Q = _q()
    acc = exercises.REQUANT_ACC
    return exercises.check_requantized(np.clip(Q.round_half_away(0.0016 * acc) - 20, 0, 127).astype(np.int8), acc)


@mistake("07", "Exercise 3: forgot the output zero point")
def _():
    Q = _q()
    acc = exercises.REQUANT_ACC
    return exercises.check_requantized(np.clip(Q.round_half_away(0.0016 * acc), -20, 127).astype(np.int8), acc)


# ---- 09 ---------------------------------------------------------------------------------------------------
def _ex():
    from course_lib import exercises
    return exercises


def _pose():
    from course_lib import pose
    return pose


def _decoder(swap=False, centre=0.5, towards_higher=True, border="newell"):
    def decode_one(m):
        h, w = m.shape
        r, c = np.unravel_index(np.argmax(m), m.shape)
        val = lambda rr, cc: m[rr, cc] if 0 <= rr < h and 0 <= cc < w else -np.inf  # noqa: E731
        sign = 1 if towards_higher else -1
        dx, dy = 0.25 * np.sign(val(r, c + 1) - val(r, c - 1)), 0.25 * np.sign(val(r + 1, c) - val(r - 1, c))
        if border == "newell" and not (0 < r < h - 1 and 0 < c < w - 1):
            dx = dy = 0.0
        x, y = (c + sign * dx + centre) * 4, (r + sign * dy + centre) * 4
        return (y, x) if swap else (x, y)
    return decode_one


@mistake("09", "Exercise 1: returned (row, column), i.e. (y, x)")
def _():
    return _ex().check_decode_one(_decoder(swap=True))


@mistake("09", "Exercise 1: forgot the +0.5 (cell corner instead of cell centre)")
def _():
    return _ex().check_decode_one(_decoder(centre=0.0))


@mistake("09", "Exercise 1: shifted towards the lower neighbour")
def _():
    return _ex().check_decode_one(_decoder(towards_higher=False))


@mistake("09", "Exercise 1: shifted on the border too (a neighbour off the map counted as -inf)")
def _():
    return _ex().check_decode_one(_decoder(border="inf"))


def _pck_parts():
    pred, true = _ex().pck_exercise_data()
    vis = true[..., 2] > 0
    dist = np.linalg.norm(pred - true[..., :2], axis=-1)
    extent = true[..., :2].max(1) - true[..., :2].min(1)
    return vis, dist, extent


@mistake("09", "Exercise 2: counted the hidden joint too")
def _():
    vis, dist, extent = _pck_parts()
    return _ex().check_pck_answer(float((dist <= 0.2 * extent.max(-1)[:, None]).mean()))


@mistake("09", "Exercise 2: normalised by the box height instead of its longer side")
def _():
    vis, dist, extent = _pck_parts()
    return _ex().check_pck_answer(float(((dist <= 0.2 * extent[:, 1][:, None]) & vis).sum() / vis.sum()))


@mistake("09", "Exercise 2: normalised by the box diagonal")
def _():
    vis, dist, extent = _pck_parts()
    diag = np.linalg.norm(extent, axis=-1)
    return _ex().check_pck_answer(float(((dist <= 0.2 * diag[:, None]) & vis).sum() / vis.sum()))


def _block_macs(features=32, expansion=4, full_depthwise=False):
    """Exercise 3's two counts on a 16x16 map, worked out by hand as the notebook's solution does: a residual
    module on ``features`` channels and a MobileNetV2 block on 32 channels with expansion ``expansion``
    (``full_depthwise``: its 3x3 counted as a full convolution over the expanded channels)."""
    f, c, t = features, 32, expansion
    residual = 16 * 16 * (f * (f // 2) + 9 * (f // 2) * (f // 2) + (f // 2) * f)
    inverted = 16 * 16 * (c * t * c + 9 * t * c * (t * c if full_depthwise else 1) + t * c * c)
    return residual, inverted


@mistake("09", "Exercise 3: the residual module at F = 64 (the old width) instead of F = 32")
def _():
    macs_residual, _ = _block_macs(features=64)
    _, macs_inverted = _block_macs()
    return _ex().check_block_macs(macs_residual, macs_inverted)


@mistake("09", "Exercise 3: the depthwise 3x3 counted as a full 3x3 convolution")
def _():
    macs_residual, macs_inverted = _block_macs(full_depthwise=True)
    return _ex().check_block_macs(macs_residual, macs_inverted)


def _rule_09():
    from course_lib import capstone, decide
    return decide.Rule(**capstone.RULE)


@mistake("09", "Exercise 4: the rule without the strict limit (PCK@0.05 not checked)")
def _():
    def keep_step(goal, before, after, noise):
        d1 = round(100 * (after["val PCK@0.1"] - before["val PCK@0.1"]), 9)
        ratio = round(after["MACs"] / before["MACs"], 9)
        if goal == "accuracy":
            return d1 > noise and ratio <= 1.15
        return round(1 - ratio, 9) >= 0.10 and d1 >= -max(2.0, noise)
    return _ex().check_keep_step(keep_step, rule=_rule_09())


@mistake("09", "Exercise 4: plain float comparisons at the limits (no rounding)")
def _():
    def keep_step(goal, before, after, noise):
        d1 = 100 * (after["val PCK@0.1"] - before["val PCK@0.1"])
        d2 = 100 * (after["val PCK@0.05"] - before["val PCK@0.05"])
        ratio = after["MACs"] / before["MACs"]
        if goal == "accuracy":
            return d1 > noise and ratio <= 1.15
        return 1 - ratio >= 0.10 and d1 >= -max(2.0, noise) and d2 >= -max(3.0, noise)
    return _ex().check_keep_step(keep_step, rule=_rule_09())


@mistake("09", "Exercise 5: alpha put on the teacher instead of the ground truth")
def _():
    def my_fpd_loss(student, teacher_stacks, target, alpha):
        return float((1 - alpha) * np.mean((student - target) ** 2) + alpha * np.mean((student - teacher_stacks[-1]) ** 2))
    return _ex().check_fpd_loss(my_fpd_loss)


@mistake("09", "Exercise 5: the teacher's first stack instead of its last")
def _():
    def my_fpd_loss(student, teacher_stacks, target, alpha):
        return float(alpha * np.mean((student - target) ** 2) + (1 - alpha) * np.mean((student - teacher_stacks[0]) ** 2))
    return _ex().check_fpd_loss(my_fpd_loss)


def run(chapter: str | None = None) -> list[tuple[str, str, str, bool]]:
    """Run the mistakes (of one chapter): (chapter, what, printed message, passed) for each."""
    rows = []
    for ch, what, fn in MISTAKES:
        if chapter and ch != chapter:
            continue
        out = io.StringIO()
        with checks.lenient(), contextlib.redirect_stdout(out):
            result = fn()
        rows.append((ch, what, out.getvalue().strip(), bool(result)))
    return rows


def markdown(chapter: str | None = None) -> str:
    lines = []
    for ch, what, message, _ in run(chapter):
        lines += [f"* {what}:", "  ```text", *("  " + line for line in message.splitlines()), "  ```"]
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown(sys.argv[1] if len(sys.argv) > 1 else None))
