"""Every exercise of notebooks 01-08: its checker passes the reference answer and fails at least two
plausible wrong answers drawn from the misconceptions the exercise is about (a checker that cannot
fail is a defect). The checks are called exactly as the notebooks call them."""
import statistics
import time

import keras
import numpy as np
import pandas as pd
import pytest
from keras import ops

from course_lib import binarize, checks, exercises, mobilenet, models, profile, prune, pvanet, separable, tflite
from course_lib import quantize as Q
import wrong_answers  # noqa: E402  (instructor/, put on sys.path by conftest.py)


@pytest.fixture(autouse=True)
def lenient(monkeypatch):
    monkeypatch.delenv("COURSE_STRICT_CHECKS", raising=False)


def passes(result) -> bool:
    return all(result) if isinstance(result, list) else bool(result)


def verdicts(check, right, *wrongs):
    assert passes(check(right)), "the reference answer must pass"
    for i, wrong in enumerate(wrongs):
        assert not passes(check(wrong)), f"wrong answer #{i} passed"


# ----------------------------------------------------------------------------------------------- 01
@pytest.fixture(scope="module")
def table01():
    return profile.layer_table(models.small_cnn(input_shape=(28, 28, 1), classes=10)).set_index("layer")


def test_01_ex1_conv2_macs(table01):
    check = lambda v: checks.check_int("MACs of conv2", v, table01.loc["conv2", "MACs"])  # noqa: E731
    verdicts(check, 3 * 3 * 16 * 32 * 14 * 14,
             3 * 3 * 16 * 32,                 # forgot the output positions
             3 * 3 * 16 * 32 * 28 * 28,       # input size instead of output size
             3 * 3 * 32 * 14 * 14,            # forgot C_in
             str(3 * 3 * 16 * 32 * 14 * 14))  # a string is not a number


def test_01_ex2_logits_params():
    model = models.small_cnn(input_shape=(28, 28, 1), classes=10)
    check = lambda v: checks.check_int("parameters of logits", v, model.get_layer("logits").count_params())  # noqa: E731
    verdicts(check, 64 * 10 + 10, 64 * 10, 64 * 10 + 64, True)


def test_01_ex3_activation_bytes(table01):
    check = lambda v: checks.check_int("bytes", v, table01.loc["conv1", "activation bytes"] * 32)  # noqa: E731
    verdicts(check, 28 * 28 * 16 * 4 * 32, 28 * 28 * 16 * 32, 28 * 28 * 16 * 4, 28 * 28 * 16 * 4 * 32 + 0.4)


_good_timer = wrong_answers.timer(True, statistics.median)


def test_01_ex4_timer(capsys):
    min_no_warmup = wrong_answers.timer(False, min)   # the example: it used to pass
    min_timed = wrong_answers.timer(True, min)
    mean = wrong_answers.timer(True, statistics.mean)
    no_warmup = wrong_answers.timer(False, statistics.median)

    def sorted_index(offset, clock=time.perf_counter):  # a median taken by hand, one element off
        return wrong_answers.timer(True, lambda times: sorted(times)[len(times) // 2 + offset], clock=clock)

    verdicts(lambda t: exercises.check_timer("timer", t), _good_timer,
             min_no_warmup, min_timed, mean, no_warmup,
             lambda fn, inputs, w, r: _good_timer(fn, inputs, w, r) / 1000,   # seconds
             lambda fn, inputs, w, r: _good_timer(fn, inputs[:1], w, r),       # one input only
             lambda fn, inputs, w, r: str(_good_timer(fn, inputs, w, r)),     # a string
             sorted_index(-1), sorted_index(+1),                               # the median one element low
             sorted_index(0, clock=time.process_time),                         # CPU time, not wall time
             sorted_index(0, clock=time.thread_time),
             lambda fn, inputs, w, r: max(_good_timer(fn, inputs, w, r) for _ in range(1)) + 10)   # off by 10 ms
    assert passes(exercises.check_timer("timer", sorted_index(0)))   # the median by hand, right index
    out = capsys.readouterr().out
    assert "fastest timed call (min)" in out and "mean" in out and "warm-up calls were timed" in out
    assert "just below the median" in out and "process_time" in out
    assert "median is 1" not in out and "median is 2" not in out   # the answer is not printed (nor a wrong one)


# ----------------------------------------------------------------------------------------------- 02
def test_02_ex1_separable_macs():
    cases = [((dk, m, n, df), separable.separable_conv_macs(dk, m, n, df))
             for dk, m, n, df in [(3, 32, 64, 56), (5, 8, 16, 14), (1, 3, 7, 9), (3, 512, 512, 14)]]
    check = lambda f: checks.check_function("my_separable_macs", f, cases)  # noqa: E731
    verdicts(check, lambda dk, m, n, df: dk * dk * m * df * df + m * n * df * df,
             lambda dk, m, n, df: dk * dk * m * n * df * df,          # a standard convolution
             lambda dk, m, n, df: dk * dk * m * df * df,              # the depthwise step only
             lambda dk, m, n, df: str(dk * dk * m * df * df + m * n * df * df))


def test_02_ex2_equivalent_kernel():
    rng = np.random.default_rng(0)
    dw, pw = rng.normal(size=(3, 3, 5, 1)), rng.normal(size=(1, 1, 5, 7))
    check = lambda f: checks.check_function("k", f, [((dw, pw), separable.equivalent_kernel(dw, pw))])  # noqa: E731
    verdicts(check, lambda dw, pw: dw[:, :, :, 0, None] * pw[0, 0][None, None, :, :],
             lambda dw, pw: (dw[:, :, :, 0, None] * pw[0, 0][None, None, :, :]).sum(axis=2),   # summed over channels
             lambda dw, pw: dw[:, :, :, 0, None] + pw[0, 0][None, None, :, :],                # added, not multiplied
             lambda dw, pw: (dw[:, :, :, 0, None] * pw[0, 0][None, None, :, :]).tolist()[:2])  # ragged/short


@pytest.fixture(scope="module")
def separable_setup():
    rng = np.random.default_rng(2)
    images = rng.normal(size=(2, 10, 10, 6)).astype("float32")
    reference = keras.layers.SeparableConv2D(9, 3, padding="same", bias_initializer="random_normal", name="reference")
    reference(images)
    ref_dw, ref_pw, ref_bias = reference.get_weights()
    depthwise = keras.layers.DepthwiseConv2D(3, padding="same", use_bias=False)
    pointwise = keras.layers.Conv2D(9, 1, use_bias=True)
    depthwise.build(images.shape)
    pointwise.build((*images.shape[:3], 6))
    depthwise.set_weights([ref_dw])
    pointwise.set_weights([ref_pw, ref_bias])
    return images, reference, depthwise, pointwise


def test_02_ex3_two_step(separable_setup):
    images, reference, depthwise, pointwise = separable_setup
    right = np.asarray(pointwise(depthwise(images)))
    assert exercises.check_two_step(depthwise, pointwise, right, reference, images)
    # the example: copy the reference's output, skipping the two layers
    assert not exercises.check_two_step(None, None, np.asarray(reference(images)), reference, images)
    assert not exercises.check_two_step(reference, pointwise, right, reference, images)   # not a DepthwiseConv2D
    no_bias = keras.layers.Conv2D(9, 1, use_bias=False)
    no_bias.build((*images.shape[:3], 6))
    no_bias.set_weights([reference.get_weights()[1]])
    assert not exercises.check_two_step(depthwise, no_bias, np.asarray(no_bias(depthwise(images))), reference, images)
    assert not exercises.check_two_step(depthwise, pointwise, right[::-1], reference, images)   # wrong output
    assert not exercises.check_two_step(depthwise, pointwise, None, reference, images)


def test_02_ex4_speedup():
    expected = separable.standard_conv_macs(3, 64, 64, 32) / separable.separable_conv_macs(3, 64, 64, 32)
    check = lambda v: checks.check_close("speed-up", v, expected, rtol=1e-3)  # noqa: E731
    verdicts(check, 1 / (1 / 64 + 1 / 3 ** 2), 3 ** 2, 64, 1 / 64 + 1 / 9, "7.9")


# ----------------------------------------------------------------------------------------------- 03
def test_03_ex1_block_macs():
    inp = keras.Input((16, 16, 24))
    ref = keras.Model(inp, mobilenet.inverted_residual_block(inp, 6, 32, 2, name="ex1"))
    check = lambda v: checks.check_int("block MACs", v, profile.count_macs(ref))  # noqa: E731
    right = 16 * 16 * 24 * 144 + 8 * 8 * 9 * 144 + 8 * 8 * 144 * 32
    verdicts(check, right,
             16 * 16 * 24 * 144 + 16 * 16 * 9 * 144 + 16 * 16 * 144 * 32,   # the stride ignored
             16 * 16 * 24 * 144 + 8 * 8 * 9 * 144 + 16 * 16 * 144 * 32)     # projection on the big map


def _block(x, expansion, filters, stride, relu_after_project=False, shortcut=True, relu_max=6.0):
    in_channels = x.shape[-1]
    y = x
    if expansion != 1:
        y = keras.layers.Conv2D(expansion * in_channels, 1, use_bias=False)(y)
        y = keras.layers.BatchNormalization()(y)
        y = keras.layers.ReLU(relu_max)(y)
    y = keras.layers.DepthwiseConv2D(3, strides=stride, padding="same", use_bias=False)(y)
    y = keras.layers.BatchNormalization()(y)
    y = keras.layers.ReLU(relu_max)(y)
    y = keras.layers.Conv2D(filters, 1, use_bias=False)(y)
    y = keras.layers.BatchNormalization()(y)
    if relu_after_project:
        y = keras.layers.ReLU(6.0)(y)
    if shortcut and stride == 1 and in_channels == filters:
        y = keras.layers.Add()([x, y])
    return y


def _residual_if_stride1(x, t, f, s):   # the example: a residual whenever stride is 1
    y = _block(x, t, f, s, shortcut=False)
    if s == 1:
        if x.shape[-1] != f:
            x = keras.layers.Conv2D(f, 1, use_bias=False)(x)
        y = keras.layers.Add()([x, y])
    return y


def _residual_if_same_channels(x, t, f, s):   # the stride forgotten in the shortcut's condition
    y = _block(x, t, f, s, shortcut=False)
    if x.shape[-1] == f:
        x = keras.layers.MaxPooling2D(s, padding="same")(x) if s != 1 else x
        y = keras.layers.Add()([x, y])
    return y


def _always_expand(x, t, f, s):   # the expansion layer kept for t = 1
    return _block(x, t, f, s) if t != 1 else _block_expand_t1(x, f, s)


def _block_expand_t1(x, f, s):
    c = x.shape[-1]
    y = keras.layers.Conv2D(c, 1, use_bias=False)(x)
    y = keras.layers.BatchNormalization()(y)
    y = keras.layers.ReLU(6.0)(y)
    y = keras.layers.DepthwiseConv2D(3, strides=s, padding="same", use_bias=False)(y)
    y = keras.layers.BatchNormalization()(y)
    y = keras.layers.ReLU(6.0)(y)
    y = keras.layers.Conv2D(f, 1, use_bias=False)(y)
    y = keras.layers.BatchNormalization()(y)
    return keras.layers.Add()([x, y]) if s == 1 and c == f else y


def test_03_ex2_block():
    verdicts(exercises.check_block, _block,
             lambda x, t, f, s: _block(x, t, f, s, relu_after_project=True),   # not a linear bottleneck
             lambda x, t, f, s: _block(x, t, f, s, shortcut=False),            # no residual
             lambda x, t, f, s: _block(x, t, f, s, relu_max=None),             # ReLU, not ReLU6
             lambda x, t, f, s: x,                                             # the body left out
             _residual_if_stride1, _residual_if_same_channels, _always_expand,
             lambda x, t, f, s: _block(x, 6, f, s),                            # t fixed at 6
             lambda x, t, f, s: _block(x, t, f, 1))                            # the stride ignored


def test_03_ex2_block_cases_tell_the_shortcut_rules_apart():
    cases = exercises.BLOCK_CASES
    assert any(s == 1 and shape[-1] != f for shape, t, f, s in cases)    # stride 1, channels change
    assert any(s != 1 and shape[-1] == f for shape, t, f, s in cases)    # stride 2, equal channels
    assert {t for _, t, _, _ in cases} >= {1, 6} and len({t for _, t, _, _ in cases}) >= 3


def _pick(rows):
    best = rows.sort_values(["accuracy", "latency ms"], ascending=[False, True]).iloc[0]
    return float(best["alpha"]), int(best["resolution"])


def _row(best):
    return best["alpha"], best["resolution"]


def test_03_ex3_budget_choice():
    table = pd.DataFrame({"alpha": [0.35, 0.5, 1.0], "resolution": [32, 32, 32],
                          "latency ms": [0.1, 0.2, 0.5], "accuracy": [0.6, 0.7, 0.8]})
    check = lambda c: exercises.check_budget_choice(c, table, 0.3)  # noqa: E731
    verdicts(check, (0.5, 32), (1.0, 32), (0.35, 32), ("a", 32), ("0.5", "32"), (0.5,), None, ...)


def test_03_ex3_budget_rule_on_a_two_row_sweep():
    # fast mode: two rows, the budget their median. Almost every rule picks the right row of *this* table, so
    # the checker tries the rule on its own tables first.
    table = pd.DataFrame({"alpha": [0.35, 1.0], "resolution": [32, 32], "MACs": [1e6, 4e6],
                          "latency ms": [0.1, 0.5], "accuracy": [0.6, 0.8]})
    budget = float(np.median(table["latency ms"]))
    check = lambda rule: exercises.check_budget_choice(rule, table, budget)  # noqa: E731
    wrongs = [lambda t, b: _pick(t[t["latency ms"] < b]),                              # < instead of <=
              lambda t, b: _row(t.sort_values("latency ms").iloc[0]),                  # the fastest row
              lambda t, b: _row(t[t["latency ms"] <= b].sort_values("latency ms").iloc[-1]),   # slowest within
              lambda t, b: _pick(t),                                                   # the budget ignored
              lambda t, b: _row(t[t["latency ms"] <= b].iloc[-1]),                     # the last row within
              lambda t, b: _row(t[t["latency ms"] <= b].iloc[0]),                      # the first row within
              lambda t, b: _row(t[t["latency ms"] <= b].sort_values("alpha").iloc[-1]),   # the widest within
              lambda t, b: _row(t.loc[(t["accuracy"] / t["latency ms"]).idxmax()]),    # accuracy per ms
              lambda t, b: (0.35, 32),                                                 # a constant
              lambda t, b: str(_pick(t[t["latency ms"] <= b])),                        # a string
              lambda t, b: t["latency ms"].nope]                                       # raises
    assert all(not passes(check(wrong)) for wrong in wrongs)
    assert passes(check(lambda t, b: _pick(t[t["latency ms"] <= b])))
    assert passes(check(lambda t, b: _row(t[t["latency ms"] <= b].nlargest(1, "accuracy").iloc[0])))  # ties: either
    # the same wrong rules pick the right row of the two-row table itself: only the test tables tell them apart
    assert sum(exercises.check_budget_choice(w(table, budget), table, budget).passed
               for w in wrongs[:8]) >= 5


# ----------------------------------------------------------------------------------------------- 04
def test_04_ex1_alpha_and_binary_filter():
    filt = np.array([[0.2, -0.5, 0.1], [0.4, -0.3, -0.6], [0.0, 0.9, -0.2]])
    verdicts(lambda a: checks.check_close("alpha", a, 3.2 / 9), np.abs(filt).mean(),
             filt.mean(), np.abs(filt).max(), np.abs(filt).sum())
    expected = (3.2 / 9) * np.array([[1, -1, 1], [1, -1, -1], [1, 1, -1]])
    verdicts(lambda b: checks.check_array("binary", b, expected),
             np.abs(filt).mean() * np.where(filt >= 0, 1.0, -1.0),
             np.abs(filt).mean() * np.sign(filt),          # sign(0) = 0
             np.where(filt >= 0, 1.0, -1.0),                # alpha forgotten
             filt >= 0)                                     # booleans


def _ste_right(x):
    hard = ops.where(x >= 0, 1.0, -1.0)
    inside = ops.stop_gradient(ops.cast(ops.abs(x) <= 1.0, x.dtype))
    soft = x * inside
    return soft + ops.stop_gradient(hard - soft)


def test_04_ex2_ste(capsys):
    def identity_gradient(x):   # no clipping of the gradient
        return x + ops.stop_gradient(ops.where(x >= 0, 1.0, -1.0) - x)

    def strict_inside(x):       # |x| < 1: the ends excluded
        hard = ops.where(x >= 0, 1.0, -1.0)
        soft = x * ops.stop_gradient(ops.cast(ops.abs(x) < 1.0, x.dtype))
        return soft + ops.stop_gradient(hard - soft)

    def sign_zero(x):           # ops.sign(0) = 0
        soft = x * ops.stop_gradient(ops.cast(ops.abs(x) <= 1.0, x.dtype))
        return soft + ops.stop_gradient(ops.sign(x) - soft)

    verdicts(lambda f: exercises.check_ste("my_ste_sign", f), _ste_right, identity_gradient, strict_inside, sign_zero)
    out = capsys.readouterr().out
    assert "(input 1)" in out or "(input -1)" in out   # the failing x is shown with the expected gradient


def test_04_ex3_xnor(capsys):
    a, b = "10110010", "11100110"
    right = "".join("1" if p == q else "0" for p, q in zip(a, b))
    n = right.count("1")
    assert passes(exercises.check_xnor(right, n, 2 * n - 8, a, b))
    assert not passes(exercises.check_xnor(right[::-1], n, 2 * n - 8, a, b))
    assert "reversed" in capsys.readouterr().out
    xor = "".join("0" if c == "1" else "1" for c in right)
    assert not passes(exercises.check_xnor(xor, 8 - n, 2 * (8 - n) - 8, a, b))
    assert not passes(exercises.check_xnor(right, n, n - 8, a, b))        # dot = agreements - n
    assert not passes(exercises.check_xnor(int(right), str(n), 2 * n - 8, a, b))


def test_04_ex4_binary_layer_bytes(capsys):
    # 3x3x36 = 324 signs = 5.06 words: rounding (or flooring) the word count gives 5, the ceiling 6. (With the old
    # 48 channels, 432 = 6.75 words, rounding gave the ceiling and passed.)
    n = 3 * 3 * 36
    check = lambda v: exercises.check_binary_layer_bytes(v[0], v[1], kernel_size=3, c_in=36, c_out=128)  # noqa: E731
    words = -(-n // 64)
    right = 128 * (words * 8 + 4)
    ratio = lambda b: n * 128 * 4 / b  # noqa: E731
    wrong_bytes = [int(128 * (n / 8 + 4)),         # no word padding
                   128 * words * 8,                # no alphas
                   128 * (round(n / 64) * 8 + 4),  # words rounded, not rounded up (the class)
                   128 * ((n // 64) * 8 + 4),      # words floored
                   128 * words * 8 + 4,            # one alpha per layer
                   128 * (words * 8 + 4) + 128 * 4,   # a bias too
                   128 * (words + 4)]              # a word is 8 bytes, not 1
    verdicts(check, (right, ratio(right)), *[(b, ratio(b)) for b in wrong_bytes],
             (right, right / (n * 128 * 4)),       # ratio inverted
             (right, ratio(right) * 32 / 32 + 1))  # ratio off
    assert passes(check((right, round(ratio(right), 2))))   # a ratio rounded to two decimals passes
    out = capsys.readouterr().out
    assert "not padded to whole 64-bit words" in out and "upside down" in out and "round up (ceil)" in out


# ----------------------------------------------------------------------------------------------- 05
def test_05_ex1_threshold(capsys):
    w = np.random.default_rng(5).normal(0.0, 0.1, size=(3, 3, 16, 32)).astype(np.float32)
    k = int(round(0.7 * w.size))
    check = lambda t: exercises.check_threshold(t, w, 0.7)  # noqa: E731
    mags = np.sort(np.abs(w).ravel())
    per_channel = np.sort(np.abs(w).reshape(-1, 32), axis=0)[int(round(0.7 * 144)) - 1]
    verdicts(check, float(mags[k - 1]), float(mags[k]), float(np.sort(w.ravel())[k - 1]), float(np.quantile(w, 0.7)),
             str(float(mags[k - 1])),         # a string (the traceback)
             per_channel,                     # one threshold per output channel (the traceback)
             [float(mags[k - 1])],            # a list of one number
             float(mags[int(round(0.3 * w.size)) - 1]),   # the 30% kept, not the 70% pruned
             -float(mags[k - 1]), None, True)
    assert passes(check(np.float32(mags[k - 1])))   # a NumPy float32 scalar is fine
    out = capsys.readouterr().out
    assert "One threshold for the whole tensor" in out and "remove the quotes" in out




def test_05_ex2_schedule():
    cases = [((t, 0.0, 0.9, 100, 1100), prune.polynomial_sparsity(t, 0.0, 0.9, 100, 1100))
             for t in (0, 100, 350, 600, 1000, 1100, 2000)]
    cases.append(((50, 0.2, 0.5, 0, 100, 1), prune.polynomial_sparsity(50, 0.2, 0.5, 0, 100, power=1)))
    cases += SCHEDULE_CASES_NONZERO_INITIAL

    def right(step, initial, final, begin_step, end_step, power=3):
        progress = min(max((step - begin_step) / (end_step - begin_step), 0.0), 1.0)
        return final + (initial - final) * (1.0 - progress) ** power

    def unclipped(step, initial, final, begin_step, end_step, power=3):
        progress = (step - begin_step) / (end_step - begin_step)
        return final + (initial - final) * (1.0 - progress) ** power

    def linear(step, initial, final, begin_step, end_step, power=3):
        return right(step, initial, final, begin_step, end_step, 1)

    def zero_before_begin(step, initial, final, begin_step, end_step, power=3):   # the example
        return 0.0 if step < begin_step else right(step, initial, final, begin_step, end_step, power)

    def no_initial(step, initial, final, begin_step, end_step, power=3):   # s_f * (1 - (1 - p)^3): s_i forgotten
        return right(step, 0.0, final, begin_step, end_step, power)

    def begin_ignored(step, initial, final, begin_step, end_step, power=3):   # progress = t / end
        return right(step, initial, final, 0, end_step, power)

    def power_ignored(step, initial, final, begin_step, end_step, power=3):
        return right(step, initial, final, begin_step, end_step, 3)

    def initial_after_end(step, initial, final, begin_step, end_step, power=3):
        return initial if step > end_step else right(step, initial, final, begin_step, end_step, power)

    def strict_begin(step, initial, final, begin_step, end_step, power=3):   # sparsity 0 at begin_step itself
        return 0.0 if step <= begin_step else right(step, initial, final, begin_step, end_step, power)

    verdicts(lambda f: checks.check_function("my_schedule", f, cases), right, unclipped, linear, zero_before_begin,
             no_initial, begin_ignored, power_ignored, initial_after_end, strict_begin)
    # the old cases alone (initial 0 before begin) could not tell zero_before_begin from the right answer
    assert passes(checks.check_function("my_schedule", zero_before_begin, cases[:8]))


SCHEDULE_CASES_NONZERO_INITIAL = [((t, 0.3, 0.8, 100, 600, 3), prune.polynomial_sparsity(t, 0.3, 0.8, 100, 600))
                                  for t in (50, 100, 350, 700)]


@pytest.fixture(scope="module")
def pruned05():
    base = models.small_cnn((28, 28, 1), 10, name="small_cnn")
    keep = prune.select_channels(base, 0.5)
    return base, keep, prune.rebuild_pruned(base, keep)


def test_05_ex3_conv2_kernel(pruned05):
    base, keep, small = pruned05
    w2 = np.asarray(base.get_layer("conv2").kernel)
    check = lambda k: checks.check_array("conv2 kernel", k, np.asarray(small.get_layer("conv2").kernel))  # noqa: E731
    verdicts(check, w2[:, :, keep["conv1"], :][:, :, :, keep["conv2"]],
             w2[:, :, :, keep["conv2"]],                                   # input channels not removed
             w2[:, :, keep["conv2"], :][:, :, :, keep["conv1"]] if len(keep["conv1"]) == len(keep["conv2"])
             else w2[:, :, keep["conv1"], :][:, :, :, keep["conv2"]].swapaxes(2, 3),   # axes mixed up
             w2[:, :, keep["conv1"], :][:, :, :, : len(keep["conv2"])])   # first channels, not the kept ones


def test_05_ex4_pruned_macs(pruned05):
    base, keep, small = pruned05
    table = profile.layer_table(small).set_index("layer")
    check = lambda v: checks.check_int("MACs", v, table.loc["conv2", "MACs"])  # noqa: E731
    c1, c2 = len(keep["conv1"]), len(keep["conv2"])
    verdicts(check, 3 * 3 * c1 * c2 * 14 * 14, 3 * 3 * 16 * c2 * 14 * 14, 3 * 3 * 16 * 32 * 14 * 14,
             3 * 3 * c1 * c2 * 14 * 14 / 1.5)


# ----------------------------------------------------------------------------------------------- 06
def _opposite(kernel, score):
    rows = kernel.reshape(-1, kernel.shape[-1]).T.astype(np.float64)
    values = score(rows)
    values[0] = np.inf
    return int(np.argmin(values))


def _cosine(rows):
    unit = rows / np.linalg.norm(rows, axis=1, keepdims=True)
    return unit @ unit[0]


def _pearson(rows):
    return np.corrcoef(rows)[0]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_06_ex1_opposite_filter(capsys, seed):
    raw = np.random.default_rng(seed).normal(size=(3, 3, 3, 32)).astype("float32")
    kernel = exercises.opposite_filter_kernel(pvanet.rescaled_filters(raw, index=0, seed=0))
    right = _opposite(kernel, _cosine)
    dots = _opposite(kernel, lambda r: r @ r[0])
    pearson = _opposite(kernel, _pearson)
    most_similar = _opposite(kernel, lambda r: -_cosine(r))
    columns = _opposite(kernel.reshape(-1, 32), lambda r: _cosine(r.reshape(-1, 27).T))   # filters as columns
    assert len({right, dots, pearson}) == 3   # the kernel separates cosine, dot product and Pearson on purpose
    verdicts(lambda j: exercises.check_opposite_filter(j, kernel), right,
             dots, most_similar, pearson, right + 1, float(right) + 0.5, str(right), 32, -1)
    out = capsys.readouterr().out
    assert "dot product" in out and "factor" not in out   # an index is not a count
    assert "correlation* (Pearson)" in out
    del columns


def test_06_ex1_every_matching_slip_is_named(capsys):
    """Two slips that give the same index both get their hint (a dict keyed by index kept only one)."""
    rows = np.array([[1.0, 0.0, 0.0], [-0.2, 0.1, 0.0], [-5.0, 5.0, 0.0], [0.9, 0.1, 0.0], [0.0, 0.0, 1.0]])
    kernel = rows.T.reshape(1, 1, 3, 5)
    right = _opposite(kernel, _cosine)
    exercises.check_opposite_filter(right + 1, kernel)
    out = capsys.readouterr().out
    assert "count from 0" in out and ";" in out.split("Hint:")[1]


def test_06_ex2_crelu():
    x_small = np.array([1.0, -2.0, 0.5])
    x_batch = np.random.default_rng(0).normal(size=(2, 4, 4, 3))
    cases = [((x_small,), pvanet.crelu(x_small)), ((x_batch,), pvanet.crelu(x_batch))]
    verdicts(lambda f: checks.check_function("my_crelu", f, cases),
             lambda x: np.maximum(np.concatenate([x, -x], axis=-1), 0.0),
             lambda x: np.maximum(np.concatenate([x, -x], axis=0), 0.0),     # wrong axis
             lambda x: np.maximum(x, 0.0),                                   # only ReLU
             lambda x: np.concatenate([np.maximum(x, 0), np.maximum(x, 0)], axis=-1))   # no negation


def test_06_ex3_crelu_saving(capsys):
    plain, crelu_model = pvanet.crelu_pair((32, 32, 3), 10, widths=(32, 64, 96), crelu_stages=(0, 1))
    plain_conv2 = 3 * 3 * 32 * 64 * 16 * 16
    crelu_conv2 = 3 * 3 * 32 * 32 * 16 * 16
    right = plain_conv2 - crelu_conv2 - 16 * 16 * 64
    verdicts(lambda v: exercises.check_crelu_saving(v, plain, crelu_model), right,
             plain_conv2 - crelu_conv2,          # "MACs saved" without the scale/shift ...
             crelu_conv2,                        # ... equals the CReLU conv's MACs: both fail now
             plain_conv2 - crelu_conv2 - 16 * 16 * 32)
    assert "scale/shift is not free" in capsys.readouterr().out


# ----------------------------------------------------------------------------------------------- 07
def test_07_ex1_qparams(capsys):
    import math

    def make(rounding, cast=int):
        def my_qparams(rmin, rmax):
            scale = (rmax - rmin) / 255
            return scale, cast(rounding(-128 - rmin / scale))
        return my_qparams

    def half_away(v):
        return math.copysign(math.floor(abs(v) + 0.5), v)

    verdicts(exercises.check_qparams_function, make(np.round),
             make(math.ceil), make(math.floor), make(lambda v: v),        # int() truncates
             make(np.round, cast=float),                                  # zero point as a float
             lambda rmin, rmax: ((rmax - rmin) / 256, int(np.round(-128 - rmin / ((rmax - rmin) / 256)))),
             lambda rmin, rmax: (rmax - rmin) / 255,                      # no zero point
             lambda rmin, rmax: ((rmax - rmin) / 255, int(np.round(-128 + rmin / ((rmax - rmin) / 255)))),   # sign
             lambda rmin, rmax: (max(abs(rmin), abs(rmax)) / 127, 0),     # symmetric
             lambda rmin, rmax: ((rmax - rmin) / 255, int(np.round(-rmin / ((rmax - rmin) / 255)))))   # uint8 zero point
    # a correct answer with another tie rule: half away from zero gives Z = -1 on [-1, 1], as the LiteRT converter
    assert passes(exercises.check_qparams_function(make(half_away)))
    assert passes(exercises.check_qparams_function(make(lambda v: math.floor(v + 0.5))))   # half up: Z = 0
    out = capsys.readouterr().out
    assert "that is ceil" in out and "that is floor" in out and "truncation" in out


def test_07_ex2_quantize():
    cases = wrong_answers.quantize_cases()   # the same cases as the instructor notes' mistakes
    check = lambda f: checks.check_function("my_quantize", f, cases, dtype=np.int8)  # noqa: E731
    verdicts(check, lambda x, s, z: np.clip(Q.round_half_away(np.asarray(x) / s) + z, -128, 127).astype(np.int8),
             lambda x, s, z: np.clip(Q.round_half_away(np.asarray(x) / s) + z, -128, 127),        # float codes
             lambda x, s, z: np.clip(np.round(np.asarray(x) / s) + z, -128, 127).astype(np.int8),  # ties to even
             lambda x, s, z: (Q.round_half_away(np.asarray(x) / s) + z).astype(np.int8),          # no clip: wraps
             lambda x, s, z: np.clip(Q.round_half_away(np.asarray(x) / s), -128, 127).astype(np.int8),  # no zero point
             # the zero point added before rounding: the same on the zero-point-0 ties, wrong with z = -3
             lambda x, s, z: np.clip(Q.round_half_away(np.asarray(x) / s + z), -128, 127).astype(np.int8),
             lambda x, s, z: np.clip(np.floor(np.asarray(x) / s + 0.5) + z, -128, 127).astype(np.int8),   # half up
             lambda x, s, z: np.clip(Q.round_half_away(np.asarray(x) / s) - z, -128, 127).astype(np.int8))  # minus z
    # the hole: with only zero point 0 among the ties, rounding after adding z passed
    late = lambda x, s, z: np.clip(Q.round_half_away(np.asarray(x) / s + z), -128, 127).astype(np.int8)  # noqa: E731
    assert passes(checks.check_function("my_quantize", late, cases[:4], dtype=np.int8))


def test_07_ex3_requantize():
    acc = np.array([-5000, -120, 0, 777, 3100, 29000, 250000], dtype=np.int32)
    m, s = Q.quantize_multiplier(0.02 * 0.004 / 0.05)
    expected = Q.requantize(acc, m, s, Q.QParams(np.float32(0.05), np.int64(-20)), "relu")
    check = lambda v: checks.check_array("requantized", v, expected, atol=0, dtype=np.int8)  # noqa: E731
    M = 0.02 * 0.004 / 0.05
    verdicts(check, np.clip(Q.round_half_away(M * acc) - 20, -20, 127).astype(np.int8),
             np.clip(Q.round_half_away(M * acc) - 20, -20, 127),                   # float codes (the case)
             np.clip(Q.round_half_away(M * acc) - 20, -128, 127).astype(np.int8),  # ReLU clamp forgotten
             np.clip(Q.round_half_away(M * acc), 0, 127).astype(np.int8))         # zero point forgotten


# ----------------------------------------------------------------------------------------------- 08
def _sine_model(activation_layer):
    inputs = keras.Input((12, 12, 3))
    x = keras.layers.Conv2D(8, 3, name="conv")(inputs)
    x = activation_layer(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(4, name="logits")(x), name="wave_net")


def test_08_ex1_integer_only():
    waves = np.random.default_rng(0).uniform(0, 1, (32, 12, 12, 3)).astype(np.float32)
    check = lambda m: exercises.check_integer_only_model(m, waves)  # noqa: E731
    verdicts(check, _sine_model(keras.layers.ReLU(6.0, name="relu6")),
             _sine_model(keras.layers.Lambda(lambda t: keras.ops.sin(t), name="sine")),   # still float
             _sine_model(keras.layers.Identity(name="identity")),                          # no activation
             _sine_model(keras.layers.Activation("linear", name="linear")),
             _sine_model(keras.layers.Rescaling(0.5, offset=1.0, name="affine")),           # affine, 8 channels
             _sine_model(keras.layers.Dense(8, name="mix")),                                # a linear layer
             keras.layers.ReLU(), None)


@pytest.mark.parametrize("channels", [4, 8, 16])
def test_08_ex1_linearity_probe_any_width(channels, capsys):
    """The issue's hole: a 4-channel probe raised on 8-channel layers and was skipped."""
    def model(activation):
        inputs = keras.Input((12, 12, 3))
        x = activation(keras.layers.Conv2D(channels, 3, name="conv")(inputs))
        x = keras.layers.GlobalAveragePooling2D()(x)
        return keras.Model(inputs, keras.layers.Dense(4, name="logits")(x))

    assert exercises._is_affine(model(keras.layers.Identity(name="identity")))
    assert exercises._is_affine(model(keras.layers.Rescaling(2.0, offset=-1.0, name="scale")))
    assert not exercises._is_affine(model(keras.layers.ReLU(name="relu")))
    assert not exercises._is_affine(model(keras.layers.Activation("hard_sigmoid", name="hs")))   # not linear
    assert "a function" not in capsys.readouterr().out


def test_08_ex1_hard_sigmoid_is_not_called_linear(capsys):
    waves = np.random.default_rng(0).uniform(0, 1, (32, 12, 12, 3)).astype(np.float32)
    exercises.check_integer_only_model(_sine_model(keras.layers.Activation("hard_sigmoid", name="hs")), waves)
    out = capsys.readouterr().out
    assert "linear" not in out   # passes, or fails for its float operators, but is never called linear


@pytest.fixture(scope="module")
def int8_cnn():
    config_model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(4, 3, activation="relu"),
                                     keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(3)])
    x = np.random.default_rng(0).uniform(0, 1, (32, 8, 8, 1)).astype(np.float32)
    return tflite.convert(config_model, "int8", representative_data=x), x[:1]


def test_08_ex2_quantize_input(int8_cnn):
    fb, image = int8_cnn
    detail = tflite.make_interpreter(fb).get_input_details()[0]
    scale, zero = detail["quantization"]
    check = lambda q: checks.check_array("q", q, tflite.quantize_input(image, detail), rtol=0, atol=0, dtype=np.int8)  # noqa: E731
    verdicts(check, np.clip(np.round(image / scale) + zero, -128, 127).astype(np.int8),
             np.clip(np.round(image / scale) + zero, -128, 127),              # float codes
             np.clip(np.round(image / scale), -128, 127).astype(np.int8),     # zero point forgotten
             np.clip(np.round(image * scale) + zero, -128, 127).astype(np.int8))


def test_08_ex3_dequantize_output(int8_cnn):
    fb, image = int8_cnn
    interp = tflite.make_interpreter(fb)
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    interp.set_tensor(inp["index"], tflite.quantize_input(image, inp))
    interp.invoke()
    raw = interp.get_tensor(out["index"])
    s, z = out["quantization"]
    check = lambda v: checks.check_array("scores", v, tflite.run(fb, image), rtol=1e-6, atol=1e-6)  # noqa: E731
    with np.errstate(over="ignore"):
        overflow = s * (raw - np.int8(z)).astype(np.float32)
    wrongs = [raw.astype(np.float32) - z, raw.astype(np.float32) * s]
    if not np.allclose(overflow, s * (raw.astype(np.float32) - z)):
        wrongs.append(overflow)
    verdicts(check, s * (raw.astype(np.float32) - z), *wrongs)


def test_08_ex4_tradeoff_row(capsys):
    row = pd.Series({"difference (pp)": 100 * (0.9123 - 0.9041), "size ratio (x)": 40321 / 11893,
                     "speed-up (x)": 0.2841 / 0.1377})
    d, r, s = row["difference (pp)"], row["size ratio (x)"], row["speed-up (x)"]
    check = lambda v: exercises.check_tradeoff_row(*v, row)  # noqa: E731
    assert passes(check((d, r, s)))
    assert passes(check((round(d, 2), round(r, 2), round(s, 2))))   # two decimals are fine
    assert not passes(check((d / 100, r, s)))                          # a fraction, not points
    assert not passes(check((-d, r, s)))                               # int8 minus float32
    assert not passes(check((d, 1 / r, s)))                            # inverted ratio
    assert not passes(check((d, r, 1 / s)))                            # inverted speed-up
    out = capsys.readouterr().out
    assert "multiply the difference by 100" in out and "upside down" in out and "reversed" in out
