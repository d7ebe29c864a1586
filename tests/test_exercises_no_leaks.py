"""Issue 29: the checkers the notebooks call now (``exercises.check_...``) pass the right answer, fail wrong ones
on both sides of every limit with a friendly message (no traceback, never the expected value), and close the
01-08 holes: a timer with fixed counts or one timed input, 03 Ex2's ``x + y`` and ``Activation('relu6')``, 08 Ex3's
unwidened subtraction, tolerances at the precision the text asks for, and ``tflite.convert``'s silent shape change."""
import statistics

import keras
import numpy as np
import pytest
import tensorflow as tf

from course_lib import exercises, models, prune, pvanet, tflite
from course_lib import quantize as Q
import wrong_answers  # noqa: E402  (instructor/, on sys.path by conftest.py)


@pytest.fixture(autouse=True)
def lenient(monkeypatch):
    monkeypatch.delenv("COURSE_STRICT_CHECKS", raising=False)


def ok(result) -> bool:
    return all(result) if isinstance(result, list) else bool(result)


def fails_quietly(result, out: str, *hidden: str) -> None:
    assert not ok(result) and "❌" in out and "Traceback" not in out, out
    for text in hidden:
        assert text not in out, (text, out)


@pytest.fixture(scope="module")
def cnn():
    return models.small_cnn(input_shape=(28, 28, 1), classes=10)


# ------------------------------------------------------------------------------------------- 00, 01
@pytest.mark.parametrize("wrong", [1000, 1000 * 8, 1000 * 4 + 1, "4000", 4000.5])
def test_00_weight_bytes(wrong, capsys):
    assert exercises.check_weight_bytes(4000)
    capsys.readouterr()
    fails_quietly(exercises.check_weight_bytes(wrong), capsys.readouterr().out, "4,000\n", "4,000 ", "4000 ")


@pytest.mark.parametrize("wrong, says", [(3 * 3 * 16 * 32 * 28 * 28, "factor 4 (the 28x28"), (16 * 32 * 14 * 14, "factor 9"),
                                         (3 * 3 * 16 * 32, "factor 196"), (903_168 + 1, "close")])
def test_01_ex1_conv2_macs(cnn, wrong, says, capsys):
    assert exercises.check_conv2_macs(3 * 3 * 16 * 32 * 14 * 14, cnn)
    capsys.readouterr()
    fails_quietly(exercises.check_conv2_macs(wrong, cnn), out := capsys.readouterr().out, "903,168", "903168")
    assert says in out


def test_01_ex2_ex3(cnn, capsys):
    assert exercises.check_logits_params(650, cnn) and exercises.check_activation_bytes(28 * 28 * 16 * 4 * 32, cnn)
    capsys.readouterr()
    for check in (lambda: exercises.check_logits_params(640, cnn), lambda: exercises.check_logits_params(651, cnn),
                  lambda: exercises.check_activation_bytes(28 * 28 * 16 * 4, cnn),
                  lambda: exercises.check_activation_bytes(28 * 28 * 16 * 32, cnn)):
        fails_quietly(check(), capsys.readouterr().out, "650", "1,605,632")


_good_timer = wrong_answers.timer(True, statistics.median)


def test_01_ex4_timer_must_use_its_arguments_and_cycle_the_timed_inputs(capsys):
    import time

    def fixed_counts(fn, inputs, warmup, repeats):       # the example: 3 and 7 hard-coded
        return _good_timer(fn, inputs, 3, 7)

    def first_input_timed(fn, inputs, warmup, repeats):  # the example: only the warm-ups cycle
        for i in range(warmup):
            fn(inputs[i % len(inputs)])
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            fn(inputs[0])
            times.append((time.perf_counter() - start) * 1000)
        return statistics.median(times)

    def continues_the_cycle(fn, inputs, warmup, repeats):   # right too: the timed calls go on from the warm-ups
        for i in range(warmup):
            fn(inputs[i % len(inputs)])
        times = []
        for i in range(warmup, warmup + repeats):
            start = time.perf_counter()
            fn(inputs[i % len(inputs)])
            times.append((time.perf_counter() - start) * 1000)
        return statistics.median(times)

    assert exercises.check_timer("timer", _good_timer) and exercises.check_timer("timer", continues_the_cycle)
    capsys.readouterr()
    assert not exercises.check_timer("timer", fixed_counts)
    assert "use the arguments" in capsys.readouterr().out
    assert not exercises.check_timer("timer", first_input_timed)
    assert "go through the inputs in turn" in capsys.readouterr().out


# ------------------------------------------------------------------------------------------- 02
def test_02_ex1_separable_macs(capsys):
    assert exercises.check_separable_macs(lambda dk, m, n, df: dk * dk * m * df * df + m * n * df * df)
    capsys.readouterr()
    for wrong in (lambda dk, m, n, df: dk * dk * m * n * df * df, lambda dk, m, n, df: dk * dk * m * df * df,
                  lambda dk, m, n, df: m * n * df * df, None):
        fails_quietly(exercises.check_separable_macs(wrong), out := capsys.readouterr().out, "Add them", "7,325,696")
        assert "Dk*Dk*M" not in out


def test_02_ex2_equivalent_kernel(capsys):
    assert exercises.check_equivalent_kernel(lambda dw, pw: dw[:, :, :, 0, None] * pw[0, 0][None, None, :, :])
    capsys.readouterr()
    fails_quietly(exercises.check_equivalent_kernel(lambda dw, pw: dw[..., 0] @ pw[0, 0]), capsys.readouterr().out)


@pytest.mark.parametrize("value, passes", [(7.8904, True), (7.89, True), (7.895, True), (7.886, True),
                                           (7.9, False), (7.88, False), (7.8, False), (1 / 64 + 1 / 9, False),
                                           (9, False), (64, False)])
def test_02_ex4_speedup_two_decimals(value, passes, capsys):
    assert bool(exercises.check_predicted_speedup(value)) is passes
    out = capsys.readouterr().out
    if not passes:
        fails_quietly(False, out, "7.8904", "7.890")
    if value == 7.9:
        assert "close: keep more digits" in out
    if value == 1 / 64 + 1 / 9:
        assert "upside down" in out


# ------------------------------------------------------------------------------------------- 03
def test_03_ex1_block_macs(capsys):
    right = 16 * 16 * 24 * 144 + 8 * 8 * 9 * 144 + 8 * 8 * 144 * 32
    assert exercises.check_inverted_block_macs(right)
    capsys.readouterr()
    for wrong in (16 * 16 * 24 * 144 + 16 * 16 * 9 * 144 + 16 * 16 * 144 * 32, right + 1, right - 1):
        fails_quietly(exercises.check_inverted_block_macs(wrong), capsys.readouterr().out, "1,262,592")


def _block(x, expansion, filters, stride, add_op=False, act=lambda: keras.layers.ReLU(6.0)):
    in_channels = x.shape[-1]
    y = x
    if expansion != 1:
        y = keras.layers.Conv2D(expansion * in_channels, 1, use_bias=False)(y)
        y = act()(keras.layers.BatchNormalization()(y))
    y = keras.layers.DepthwiseConv2D(3, strides=stride, padding="same", use_bias=False)(y)
    y = act()(keras.layers.BatchNormalization()(y))
    y = keras.layers.BatchNormalization()(keras.layers.Conv2D(filters, 1, use_bias=False)(y))
    if stride == 1 and in_channels == filters:
        y = x + y if add_op else keras.layers.Add()([x, y])
    return y


def test_03_ex2_accepts_x_plus_y_and_activation_relu6(capsys):
    assert ok(exercises.check_block(lambda x, t, f, s: _block(x, t, f, s, add_op=True)))
    assert ok(exercises.check_block(lambda x, t, f, s: _block(x, t, f, s, act=lambda: keras.layers.Activation("relu6"))))
    assert ok(exercises.check_block(lambda x, t, f, s: _block(x, t, f, s, add_op=True,
                                                             act=lambda: keras.layers.Activation(keras.activations.relu6))))
    assert "has no Add" not in capsys.readouterr().out
    assert not ok(exercises.check_block(lambda x, t, f, s: _block(x, t, f, s, act=lambda: keras.layers.Activation("relu"))))
    assert not ok(exercises.check_block(lambda x, t, f, s: _block(x, t, f, 1, add_op=True)))   # stride ignored
    assert not ok(exercises.check_block(lambda x, t, f, s: (lambda y: y + 1.0)(_block(x, t, f, s))))   # not a shortcut


# ------------------------------------------------------------------------------------------- 04
FILT = np.array([[0.2, -0.5, 0.1], [0.4, -0.3, -0.6], [0.0, 0.9, -0.2]])
SIGNS = np.where(FILT >= 0, 1.0, -1.0)


@pytest.mark.parametrize("alpha, passes", [(3.2 / 9, True), (0.356, True), (0.3556, True), (0.3560005, True),
                                           (0.36, False), (0.355, False), (0.3550, False), (0.357, False),
                                           (FILT.mean(), False), (np.abs(FILT).max(), False)])
def test_04_ex1_alpha_to_three_decimals(alpha, passes, capsys):
    result = exercises.check_binary_filter(alpha, alpha * SIGNS, FILT)
    out = capsys.readouterr().out
    assert ok(result) is passes, out
    if not passes:
        fails_quietly(result, out, "0.35555", "0.355556", "0.3556 ")
        assert "9 of 9 values differ" not in out or "keep more digits" in out or "every value" in out
    if alpha in (0.36, 0.355):
        assert "close: keep more digits" in out


def test_04_ex1_filter_mistakes(capsys):
    alpha = np.abs(FILT).mean()
    for wrong, says in ((alpha * np.sign(FILT), "exactly 0"), (SIGNS, "scale them by alpha"), (FILT >= 0, "booleans")):
        fails_quietly(exercises.check_binary_filter(alpha, wrong, FILT), out := capsys.readouterr().out, "0.355556")
        assert says in out


def test_04_ex3_xnor_never_prints_the_string(capsys):
    a, b = "10110010", "11100110"
    right = "".join("1" if p == q else "0" for p, q in zip(a, b))
    wrong = right[:3] + ("0" if right[3] == "1" else "1") + right[4:]
    fails_quietly(exercises.check_xnor(wrong, 5, 2, a, b), capsys.readouterr().out, right)


# ------------------------------------------------------------------------------------------- 05, 06, 07
def test_05_schedule_kernel_and_macs(capsys):
    def right(step, initial, final, begin_step, end_step, power=3):
        p = min(max((step - begin_step) / (end_step - begin_step), 0.0), 1.0)
        return final + (initial - final) * (1.0 - p) ** power

    assert exercises.check_schedule(right)
    base = models.small_cnn((28, 28, 1), 10, name="small_cnn")
    keep = prune.select_channels(base, 0.5)
    small = prune.rebuild_pruned(base, keep)
    w2 = np.asarray(base.get_layer("conv2").kernel)
    c1, c2 = len(keep["conv1"]), len(keep["conv2"])
    assert exercises.check_pruned_kernel(w2[:, :, keep["conv1"], :][:, :, :, keep["conv2"]], small)
    assert exercises.check_pruned_macs(3 * 3 * c1 * c2 * 14 * 14, small)
    capsys.readouterr()
    for check in (lambda: exercises.check_schedule(lambda s, i, f, b, e, p=3: right(s, 0.0, f, b, e, p)),
                  lambda: exercises.check_pruned_kernel(w2[:, :, :, keep["conv2"]], small),
                  lambda: exercises.check_pruned_macs(3 * 3 * 16 * c2 * 14 * 14, small),
                  lambda: exercises.check_pruned_macs(3 * 3 * c1 * c2 * 14 * 14 + 1, small)):
        fails_quietly(check(), capsys.readouterr().out, f"{3 * 3 * c1 * c2 * 14 * 14:,}")


def test_06_ex2_crelu(capsys):
    assert exercises.check_crelu(lambda x: np.maximum(np.concatenate([x, -x], axis=-1), 0.0))
    capsys.readouterr()
    for wrong in (lambda x: np.maximum(np.concatenate([x, -x], axis=0), 0.0), lambda x: np.maximum(x, 0.0),
                  lambda x: np.concatenate([np.maximum(x, 0), -np.maximum(x, 0)], axis=-1)):
        fails_quietly(exercises.check_crelu(wrong), out := capsys.readouterr().out)
        assert "np.concatenate" not in out


def test_07_quantize_and_requantize(capsys):
    assert exercises.check_quantize(lambda x, s, z: np.clip(Q.round_half_away(np.asarray(x) / s) + z, -128, 127)
                                    .astype(np.int8))
    assert [c[1].tolist() for c in exercises.quantize_cases()[3:]] == [[1, -1, 2, 3], [-2, -4, -1, -6]]
    M = 0.02 * 0.004 / 0.05
    acc = exercises.REQUANT_ACC
    assert exercises.check_requantized(np.clip(Q.round_half_away(M * acc) - 20, -20, 127).astype(np.int8), acc)
    capsys.readouterr()
    for check in (lambda: exercises.check_quantize(lambda x, s, z: np.clip(np.round(np.asarray(x) / s) + z, -128, 127)
                                                   .astype(np.int8)),
                  lambda: exercises.check_requantized(np.clip(Q.round_half_away(M * acc), 0, 127).astype(np.int8), acc)):
        fails_quietly(check(), capsys.readouterr().out, "[1, -1, 2, 3]", "[-2, -4, -1, -6]")


def test_07_ex1_qparams_never_prints_the_scale_or_zero_point(capsys):
    exercises.check_qparams_function(lambda lo, hi: ((hi - lo) / 256, int(np.round(-128 - lo / ((hi - lo) / 255)))))
    exercises.check_qparams_function(lambda lo, hi: ((hi - lo) / 255, int(np.ceil(-128 - lo / ((hi - lo) / 255)))))
    out = capsys.readouterr().out
    assert "0.00784314" not in out and "should be" not in out and "-64" not in out and "that is ceil" in out


# ------------------------------------------------------------------------------------------- 08
def test_08_ex3_unwidened_subtraction_fails_on_overflowing_data(capsys):
    assert exercises.check_dequantize(lambda raw, s, z: s * (raw.astype(np.float32) - z))
    assert exercises.check_dequantize(lambda raw, s, z: s * (raw.astype(np.int32) - z))
    capsys.readouterr()
    raw = exercises.dequantize_cases()[0][1]
    assert raw.min() == -78 and raw.max() == 94   # the notebook's case alone cannot tell the slip apart
    for wrong, says in ((lambda raw, s, z: s * (raw - z), "overflowed"),
                        (lambda raw, s, z: (s * (raw - z)).astype(np.float32), "overflowed"),
                        (lambda raw, s, z: s * raw.astype(np.float32), "values differ"),
                        (lambda raw, s, z: raw.astype(np.float32) - z, "values differ"),
                        (lambda raw, s, z: 1 / 0, "ZeroDivisionError"), (None, "not filled")):
        fails_quietly(exercises.check_dequantize(wrong), out := capsys.readouterr().out)
        assert says in out


def test_08_ex2_quantized_image(capsys):
    m = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(4, 3, activation="relu"),
                          keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(3)])
    x = np.random.default_rng(0).uniform(0, 1, (32, 8, 8, 1)).astype(np.float32)
    detail = tflite.make_interpreter(tflite.convert(m, "int8", representative_data=x)).get_input_details()[0]
    s, z = detail["quantization"]
    image = x[:1]
    assert exercises.check_quantized_image(np.clip(np.round(image / s) + z, -128, 127).astype(np.int8), image, detail)
    assert not exercises.check_quantized_image(np.clip(np.round(image / s), -128, 127).astype(np.int8), image, detail)


# ------------------------------------------------------------------------------------------- 09
def test_09_ex3_block_macs(capsys):
    residual = 16 * 16 * (32 * 16 + 9 * 16 * 16 + 16 * 32)
    inverted = 16 * 16 * (32 * 128 + 9 * 128 + 128 * 32)
    assert ok(exercises.check_block_macs(residual, inverted))
    capsys.readouterr()
    for wrong in ((residual // 256, inverted), (residual, 16 * 16 * (32 * 128 + 9 * 128 * 128 + 128 * 32)),
                  (residual + 1, inverted), (residual, inverted - 1), ("x", None)):
        result = exercises.check_block_macs(*wrong)
        hidden = [f"{v:,}" for v, got in ((residual, wrong[0]), (inverted, wrong[1])) if got != v]
        fails_quietly(result, capsys.readouterr().out, *hidden)


def test_09_ex5_never_prints_the_expected_loss(capsys):
    from course_lib import distill

    student, teacher, target, alpha = exercises._fpd_cases()[0]
    right = distill.fpd_loss(student, teacher[-1], target, alpha)
    exercises.check_fpd_loss(lambda s, t, g, a: 1.01 * float(np.mean((s - g) ** 2)))
    out = capsys.readouterr().out
    assert f"{right:.4g}" not in out and "expected about" not in out and "❌" in out


# ------------------------------------------------------------------------------------------- tflite.convert
def test_convert_raises_on_a_changed_output_shape():
    inp = keras.Input((4,))
    model = keras.Model(inp, keras.layers.Lambda(lambda t: tf.math.lgamma(t[:, :2]))(inp), name="lgamma_net")
    with pytest.raises(tflite.ConversionError, match=r"'lgamma_net'.*\[0, 2\].*\[1, 2\]"):
        tflite.convert(model)


def test_convert_checks_one_sample_for_every_mode():
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(5, activation="relu"), keras.layers.Dense(2)],
                             name="tiny")
    x = np.random.default_rng(0).uniform(0, 1, (16, 6)).astype(np.float32)
    for mode in ("float32", "dynamic", "float16"):
        assert tflite.convert(model, mode)[4:8] == b"TFL3"
    assert tflite.convert(model, "int8", representative_data=x)[4:8] == b"TFL3"


def test_a_checker_cell_reveals_the_answer_once_hint_2_was_asked(results_dir):
    """In a kernel: the 00 Ex0 checker cell hides 4,000 until hints.ask has shown rung 2 of 00 Ex0."""
    import contextlib
    import io

    from IPython.core.interactiveshell import InteractiveShell

    from course_lib import progress

    ip = InteractiveShell.instance()
    try:
        ip.run_cell("from course_lib import exercises\nweight_bytes = 3")

        def run() -> str:
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                ip.run_cell("exercises.check_weight_bytes(weight_bytes);", store_history=True)
            return out.getvalue()

        assert "❌" in (first := run()) and "4,000" not in first
        progress.note_hint("00 Ex0", 1)
        assert "4,000" not in run()
        progress.note_hint("00 Ex0", 2)
        assert "The expected answer: 4,000" in run()
    finally:
        InteractiveShell.clear_instance()
        progress._runs.clear()


def test_08_ex3_dequantized_scores_against_the_interpreter(capsys):
    m = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(4, 3, activation="relu"),
                          keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(3)])
    x = np.random.default_rng(1).uniform(0, 1, (32, 8, 8, 1)).astype(np.float32)
    fb = tflite.convert(m, "int8", representative_data=x)
    right = tflite.run(fb, x[:1])
    assert exercises.check_dequantized_scores(right, fb, x[:1])
    capsys.readouterr()
    for wrong in (right * 1.01, right[:, :2], None, "scores"):
        fails_quietly(exercises.check_dequantized_scores(wrong, fb, x[:1]), capsys.readouterr().out)


def test_08_ex4_tradeoff_row_is_computed_from_the_run(capsys):
    import pandas as pd
    from course_lib import bench

    evals = pd.DataFrame([{"model": "net", "mode": "float32", "accuracy": 0.9321},
                          {"model": "net", "mode": "int8", "accuracy": 0.9250}])
    flatbuffers = {("net", "float32"): b"x" * 4000, ("net", "int8"): b"x" * 1250}
    timings = {("net", "float32", 2): bench.Timing("a", 0.50, 0.49, 0.51, 0.48, 10, 1, 1, 2, "cpu"),
               ("net", "int8", 2): bench.Timing("b", 0.20, 0.19, 0.21, 0.18, 10, 1, 1, 2, "cpu")}
    args = (evals, flatbuffers, timings, "net")
    assert exercises.check_tradeoff_from_run(0.71, 3.2, 2.5, *args)
    assert exercises.check_tradeoff_from_run(0.714, 3.2, 2.499, *args)       # two decimals pass
    capsys.readouterr()
    for wrong in ((0.0071, 3.2, 2.5), (-0.71, 3.2, 2.5), (0.71, 1 / 3.2, 2.5), (0.71, 3.2, 0.4)):
        fails_quietly(exercises.check_tradeoff_from_run(*wrong, *args), capsys.readouterr().out)
    fails_quietly(exercises.check_tradeoff_from_run(0.75, 1.5, 1.0, *args), capsys.readouterr().out, "0.71", "3.2", "2.5")
