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
_conv2_hint = "Kh*Kw*C_in*C_out*H_out*W_out with C_in = 16, C_out = 32 and a 14x14 output"


@mistake("01", "Exercise 1: conv2's MACs on the 28x28 input (forgot the pooling before conv2)")
def _():
    return checks.check_int("MACs of conv2", 3 * 3 * 16 * 32 * 28 * 28, 903_168, hint=_conv2_hint)


@mistake("01", "Exercise 1: forgot the kernel size (C_in*C_out*H*W)")
def _():
    return checks.check_int("MACs of conv2", 16 * 32 * 14 * 14, 903_168, hint=_conv2_hint)


@mistake("01", "Exercise 2: logits parameters without the biases")
def _():
    return checks.check_int("parameters of logits", 64 * 10, 650, hint="n*m weights plus one bias per output unit")


@mistake("01", "Exercise 3: one image instead of a batch of 32")
def _():
    return checks.check_int("bytes of conv1's output for a batch of 32", 28 * 28 * 16 * 4, 1_605_632,
                            hint="H*W*C values per image, 4 bytes per float32, times the batch size")


@mistake("01", "Exercise 3: counted values, not bytes (forgot 4 bytes per float32)")
def _():
    return checks.check_int("bytes of conv1's output for a batch of 32", 28 * 28 * 16 * 32, 1_605_632,
                            hint="H*W*C values per image, 4 bytes per float32, times the batch size")


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


@mistake("01", "Exercise 4: timer returns seconds")
def _():
    return exercises.check_timer("your timer", timer(True, statistics.median, scale=1.0))


# ---- 02 ---------------------------------------------------------------------------------------------------
def _sep_cases():
    from course_lib import separable
    return [((dk, m, n, df), separable.separable_conv_macs(dk, m, n, df))
            for dk, m, n, df in [(3, 32, 64, 56), (5, 8, 16, 14), (1, 3, 7, 9), (3, 512, 512, 14)]]


@mistake("02", "Exercise 1: only the depthwise term")
def _():
    return checks.check_function("my_separable_macs", lambda dk, m, n, df: dk * dk * m * df * df, _sep_cases(),
                                 hint="Depthwise: Dk*Dk*M*Df*Df. Pointwise: M*N*Df*Df. Add them.")


@mistake("02", "Exercise 1: the depthwise term multiplied by N (a standard convolution)")
def _():
    return checks.check_function("my_separable_macs", lambda dk, m, n, df: dk * dk * m * n * df * df + m * n * df * df,
                                 _sep_cases(), hint="Depthwise: Dk*Dk*M*Df*Df. Pointwise: M*N*Df*Df. Add them.")


@mistake("02", "Exercise 2: a matrix product over the channels (sums them away) instead of a per-channel product")
def _():
    from course_lib import separable
    rng = np.random.default_rng(0)
    dw, pw = rng.normal(size=(3, 3, 5, 1)), rng.normal(size=(1, 1, 5, 7))
    return checks.check_function("my_equivalent_kernel", lambda d, p: d[..., 0] @ p[0, 0],
                                 [((dw, pw), separable.equivalent_kernel(dw, pw))],
                                 hint="K[y, x, c, o] = dw[y, x, c, 0] * pw[0, 0, c, o]; the result has shape (Dk, Dk, M, N).")


@mistake("02", "Exercise 4: the MAC ratio 1/N + 1/Dk² instead of the speed-up (its inverse)")
def _():
    from course_lib import separable
    expected = separable.standard_conv_macs(3, 64, 64, 32) / separable.separable_conv_macs(3, 64, 64, 32)
    return checks.check_close("predicted speed-up for Dk=3, M=N=64", 1 / 64 + 1 / 9, expected, rtol=1e-3,
                              hint="Speed-up = 1 / (1/N + 1/Dk²).")


# ---- 03 ---------------------------------------------------------------------------------------------------
_block_hint = "Three terms: the expansion at 16x16 (before the stride), the depthwise and the projection at 8x8."


@mistake("03", "Exercise 1: every term at 16x16 (ignored the stride)")
def _():
    return checks.check_int("MACs of the inverted residual block", 16 * 16 * 24 * 144 + 16 * 16 * 9 * 144 + 16 * 16 * 144 * 32,
                            1_262_592, hint=_block_hint)


@mistake("03", "Exercise 1: expansion also at 8x8 (stride applied before the expansion)")
def _():
    return checks.check_int("MACs of the inverted residual block", 8 * 8 * 24 * 144 + 8 * 8 * 9 * 144 + 8 * 8 * 144 * 32,
                            1_262_592, hint=_block_hint)


# ---- 04 ---------------------------------------------------------------------------------------------------
_filt = np.array([[0.2, -0.5, 0.1], [0.4, -0.3, -0.6], [0.0, 0.9, -0.2]])
_alpha_hint = "alpha is the mean of the absolute values of all 9 weights."


@mistake("04", "Exercise 1: alpha = mean of the weights (signs cancel)")
def _():
    return checks.check_close("alpha of the filter", _filt.mean(), 3.2 / 9, hint=_alpha_hint)


@mistake("04", "Exercise 1: np.sign for the binary filter (the 0.0 weight becomes 0, not +1)")
def _():
    alpha = np.abs(_filt).mean()
    return checks.check_array("binarized filter", alpha * np.sign(_filt),
                              (3.2 / 9) * np.array([[1, -1, 1], [1, -1, -1], [1, 1, -1]]),
                              hint="Multiply alpha by sign(filt), where the 0.0 weight counts as +1.")


@mistake("04", "Exercise 3: XOR instead of XNOR")
def _():
    got = "".join("1" if p != q else "0" for p, q in zip("10110010", "11100110"))
    return checks.check(got == "10101011", "XNOR bit string", f"Expected an 8-character string of 0/1, got {got!r}.",
                        hint="XNOR is 1 where the two bits are equal and 0 where they differ.")


@mistake("04", "Exercise 3: dot product = number of agreements")
def _():
    return checks.check_int("binary dot product", 5, 2, hint="dot = agreements - disagreements = 2 * agreements - n.")


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
    from course_lib import prune
    w = _w_ex()
    k = int(round(0.7 * w.size))
    return checks.check_close("threshold for 70% sparsity", float(np.sort(np.abs(w).ravel())[k]),
                              prune.magnitude_threshold(w, 0.7), rtol=1e-6,
                              hint="Sort |w| (flattened), take the k-th smallest, k = round(0.7 * n). Python indexes from 0.")


@mistake("05", "Exercise 1: threshold on the signed weights (forgot the absolute value)")
def _():
    from course_lib import prune
    w = _w_ex()
    k = int(round(0.7 * w.size))
    return checks.check_close("threshold for 70% sparsity", float(np.sort(w.ravel())[k - 1]),
                              prune.magnitude_threshold(w, 0.7), rtol=1e-6,
                              hint="Sort |w| (flattened), take the k-th smallest, k = round(0.7 * n). Python indexes from 0.")


def _schedule_cases():
    from course_lib import prune
    cases = [((t, 0.0, 0.9, 100, 1100), prune.polynomial_sparsity(t, 0.0, 0.9, 100, 1100))
             for t in (0, 100, 350, 600, 1000, 1100, 2000)]
    cases.append(((50, 0.2, 0.5, 0, 100, 1), prune.polynomial_sparsity(50, 0.2, 0.5, 0, 100, power=1)))
    cases += [((t, 0.3, 0.8, 100, 600, 3), prune.polynomial_sparsity(t, 0.3, 0.8, 100, 600)) for t in (50, 100, 350, 700)]
    return cases


_schedule_hint = ("progress = (t - t0) / (end - t0), clipped to [0, 1]; "
                  "s = s_f + (s_i - s_f) * (1 - progress) ** power")


@mistake("05", "Exercise 2: progress not clipped (before begin_step / after end_step)")
def _():
    def schedule(step, initial, final, begin_step, end_step, power=3):
        progress = (step - begin_step) / (end_step - begin_step)
        return final + (initial - final) * (1.0 - progress) ** power
    return checks.check_function("my_schedule", schedule, _schedule_cases(), hint=_schedule_hint)


@mistake("05", "Exercise 2: returns 0 before begin_step (the initial sparsity is not always 0)")
def _():
    def schedule(step, initial, final, begin_step, end_step, power=3):
        if step < begin_step:
            return 0.0
        progress = min((step - begin_step) / (end_step - begin_step), 1.0)
        return final + (initial - final) * (1.0 - progress) ** power
    return checks.check_function("my_schedule", schedule, _schedule_cases(), hint=_schedule_hint)


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
    return checks.check_function("my_schedule", schedule, _schedule_cases(), hint=_schedule_hint)


@mistake("05", "Exercise 4: only C_out shrunk (C_in still conv1's 16 channels)")
def _():
    return checks.check_int("MACs of the pruned conv2", 3 * 3 * 16 * 16 * 14 * 14, 225_792,
                            hint="Both C_in and C_out have shrunk: C_in is what conv1 kept.")


# ---- 06 ---------------------------------------------------------------------------------------------------
def _crelu_cases():
    from course_lib import pvanet
    x_small = np.array([1.0, -2.0, 0.5])
    x_batch = np.random.default_rng(0).normal(size=(2, 4, 4, 3))
    return [((x_small,), pvanet.crelu(x_small)), ((x_batch,), pvanet.crelu(x_batch))]


_crelu_hint = "np.concatenate([x, -x], axis=-1), then np.maximum(..., 0). Concatenate on the last axis."


@mistake("06", "Exercise 2: concatenated on axis 0")
def _():
    return checks.check_function("my_crelu", lambda x: np.maximum(np.concatenate([x, -x], axis=0), 0),
                                 _crelu_cases(), hint=_crelu_hint)


@mistake("06", "Exercise 2: ReLU before negating: [relu(x), -relu(x)]")
def _():
    return checks.check_function("my_crelu", lambda x: np.concatenate([np.maximum(x, 0), -np.maximum(x, 0)], axis=-1),
                                 _crelu_cases(), hint=_crelu_hint)


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
    Q = _q()
    ref = Q.qparams_from_range(-0.5, 1.5, bits=8)
    return checks.check_close("scale for [-0.5, 1.5]", 2.0 / 256, float(ref.scale), rtol=1e-5,
                              hint="s = (r_max - r_min) / (q_max - q_min) with q_min = -128, q_max = 127")


@mistake("07", "Exercise 1: zero point with the wrong sign (q_min + r_min / s)")
def _():
    Q = _q()
    ref = Q.qparams_from_range(-0.5, 1.5, bits=8)
    return checks.check_int("zero point for [-0.5, 1.5]", int(np.round(-128 + -0.5 / (2 / 255))), int(ref.zero_point),
                            hint="z = round(q_min - r_min / s): the code that represents real 0")


def quantize_cases():
    """07's exercise 2 cases: three ranges, ties at zero point 0 and ties at zero point -3 (also used by the tests)."""
    Q = _q()
    x = np.array([-3.0, -0.5, 0.0, 0.0235, 0.125, 1.0, 9.0])
    cases = []
    for lo, hi in ((-1.0, 1.0), (0.0, 6.0), (-0.5, 1.5)):
        qp = Q.qparams_from_range(lo, hi)
        cases.append(((x, float(qp.scale), int(qp.zero_point)), Q.quantize(x, qp)))
    cases.append(((np.array([0.5, -0.5, 1.5, 2.5]), 1.0, 0), np.array([1, -1, 2, 3], np.int8)))
    cases.append(((np.array([0.25, -0.25, 0.75, -1.25]), 0.5, -3), np.array([-2, -4, -1, -6], np.int8)))
    return cases


_quantize_hint = "divide by the scale, round, add the zero point, then clip to [-128, 127]"


@mistake("07", "Exercise 2: zero point added before rounding (only shows on ties with a nonzero zero point)")
def _():
    Q = _q()
    return checks.check_function("my_quantize", lambda x, s, z: np.clip(Q.round_half_away(np.asarray(x) / s + z), -128, 127)
                                 .astype(np.int8), quantize_cases(), dtype=np.int8, hint=_quantize_hint)


@mistake("07", "Exercise 2: no clipping (values outside the range wrap around in int8)")
def _():
    return checks.check_function("my_quantize", lambda x, s, z: (np.round(np.asarray(x) / s) + z).astype(np.int8),
                                 quantize_cases(), hint=_quantize_hint)


@mistake("07", "Exercise 2: np.round (round half to even) instead of rounding half away from zero")
def _():
    return checks.check_function("my_quantize", lambda x, s, z: np.clip(np.round(np.asarray(x) / s) + z, -128, 127).astype(np.int8),
                                 quantize_cases(), hint=_quantize_hint)


def _requant(out):
    Q = _q()
    acc = np.array([-5000, -120, 0, 777, 3100, 29000, 250000], dtype=np.int32)
    m, s = Q.quantize_multiplier(0.02 * 0.004 / 0.05)
    expected = Q.requantize(acc, m, s, Q.QParams(np.float32(0.05), np.int64(-20)), "relu")
    return checks.check_array("requantized outputs", out(acc), expected, atol=0,
                              hint="M = s_x * s_w / s_y; add the zero point after rounding; "
                                   "ReLU clamps at the zero point (-20)")


@mistake("07", "Exercise 3: ReLU clamped at 0 instead of at the zero point")
def _():
    Q = _q()
    return _requant(lambda acc: np.clip(Q.round_half_away(0.0016 * acc) - 20, 0, 127).astype(np.int8))


@mistake("07", "Exercise 3: forgot the output zero point")
def _():
    Q = _q()
    return _requant(lambda acc: np.clip(Q.round_half_away(0.0016 * acc), -20, 127).astype(np.int8))


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


@mistake("09", "Exercise 3: the residual module at F = 64 (the old width) instead of F = 32")
def _():
    return checks.check_int("residual module MACs (F = 32)", 16 * 16 * (64 * 32 + 9 * 32 * 32 + 32 * 64),
                            _pose().block_macs("residual", 16, 32),
                            hint="Three convolutions: 1x1 from F to F/2, 3x3 on F/2 channels (9 weights per pair), "
                                 "1x1 back to F.")


@mistake("09", "Exercise 3: the depthwise 3x3 counted as a full 3x3 convolution")
def _():
    return checks.check_int("MobileNetV2 block MACs (C = 32, t = 4)", 16 * 16 * (32 * 128 + 9 * 128 * 128 + 128 * 32),
                            _pose().block_macs("inverted", 16, 32, expansion=4),
                            hint="Expand 1x1 from C to tC, depthwise 3x3 (9 MACs per channel), project 1x1 from tC to C.")


@mistake("09", "Exercise 4: the rule without the PCK@0.1 limit")
def _():
    def keep_step(goal, before, after, noise):
        d02 = 100 * (after["val PCK@0.2"] - before["val PCK@0.2"])
        if goal == "accuracy":
            return d02 > noise and after["MACs"] <= 1.15 * before["MACs"]
        return 1 - after["MACs"] / before["MACs"] >= 0.10 and d02 >= -max(1.0, noise)
    return _ex().check_keep_step(keep_step)


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
