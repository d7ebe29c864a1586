"""course_lib.tflite: conversion modes, running, evaluation, the flatbuffer summary and the error cases.

Tiny models only; every conversion is done once per module (fixtures) so the file runs in seconds.
"""
import keras
import numpy as np
import pytest

from course_lib import bench, models, tflite


@pytest.fixture(scope="module")
def dense_model():
    """A model whose bytes are almost all weights (~100k parameters), so size ratios approach 4x / 2x."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((16, 16, 1))
    x = keras.layers.Flatten()(inputs)
    x = keras.layers.Dense(256, activation="relu")(x)
    x = keras.layers.Dense(128, activation="relu")(x)
    return keras.Model(inputs, keras.layers.Dense(10)(x), name="dense_net")


@pytest.fixture(scope="module")
def calib():
    return np.random.default_rng(0).uniform(0, 1, (64, 16, 16, 1)).astype(np.float32)


@pytest.fixture(scope="module")
def converted(dense_model, calib):
    return {mode: tflite.convert(dense_model, mode, representative_data=calib if mode == "int8" else None)
            for mode in tflite.MODES}


@pytest.fixture(scope="module")
def cnn():
    keras.utils.set_random_seed(1)
    return models.small_cnn((12, 12, 1), classes=4, widths=(4, 8), name="tiny_cnn")


@pytest.fixture(scope="module")
def cnn_int8(cnn):
    rep = np.random.default_rng(1).uniform(0, 1, (32, 12, 12, 1)).astype(np.float32)
    return tflite.convert(cnn, "int8", representative_data=rep)


def _sine_model():
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3)(inputs)
    x = keras.layers.Lambda(lambda t: keras.ops.sin(t), name="sine")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(3)(x), name="sine_net")


# --- conversion modes -------------------------------------------------------------------------------

@pytest.mark.parametrize("mode, in_dtype, out_dtype", [
    ("float32", np.float32, np.float32), ("dynamic", np.float32, np.float32),
    ("float16", np.float32, np.float32), ("int8", np.int8, np.int8)])
def test_input_and_output_dtypes(converted, mode, in_dtype, out_dtype):
    interp = tflite.make_interpreter(converted[mode])
    assert interp.get_input_details()[0]["dtype"] == in_dtype
    assert interp.get_output_details()[0]["dtype"] == out_dtype


def test_size_ratios(converted):
    size = {mode: len(b) for mode, b in converted.items()}
    assert 3.5 <= size["float32"] / size["dynamic"] <= 4.05
    assert 3.5 <= size["float32"] / size["int8"] <= 4.05
    assert 1.85 <= size["float32"] / size["float16"] <= 2.02
    assert size["float32"] > 4 * 100_000  # ~100k float32 weights


def test_bad_mode_is_rejected(dense_model):
    with pytest.raises(tflite.ConversionError, match="mode must be one of"):
        tflite.convert(dense_model, "int4")


# --- running ----------------------------------------------------------------------------------------

def test_run_matches_keras_in_every_mode(dense_model, converted, calib):
    x = calib[:16]
    ref = dense_model.predict(x, verbose=0)
    spread = float(ref.max() - ref.min())
    np.testing.assert_allclose(tflite.run(converted["float32"], x), ref, atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(tflite.run(converted["float16"], x), ref, atol=0.01 * spread)
    np.testing.assert_allclose(tflite.run(converted["dynamic"], x), ref, atol=0.05 * spread)
    out = tflite.make_interpreter(converted["int8"]).get_output_details()[0]
    scale = out["quantization"][0]
    assert scale > 0
    diff = np.abs(tflite.run(converted["int8"], x) - ref)
    assert diff.max() <= 6 * scale, f"int8 differs from Keras by {diff.max() / scale:.1f} quantization steps"


def test_run_batches_and_threads_give_the_same_result(converted, calib):
    one = tflite.run(converted["int8"], calib[:7])
    assert one.shape == (7, 10) and one.dtype == np.float32
    np.testing.assert_array_equal(tflite.run(converted["int8"], calib[:7], batch_size=4, num_threads=2), one)


def test_run_rejects_wrong_shapes_and_types(converted):
    with pytest.raises(ValueError, match=r"shape \(8, 8, 1\).*\(16, 16, 1\)"):
        tflite.run(converted["float32"], np.zeros((2, 8, 8, 1), np.float32))
    with pytest.raises(TypeError, match="flatbuffer bytes"):
        tflite.make_interpreter("model.tflite")


def test_interpreter_without_xnnpack_gives_the_same_float_output(converted, calib):
    ref = tflite.run(converted["float32"], calib[:2])
    interp = tflite.make_interpreter(converted["float32"], xnnpack=False)
    detail = interp.get_input_details()[0]
    interp.set_tensor(detail["index"], calib[:1])
    interp.invoke()
    got = interp.get_tensor(interp.get_output_details()[0]["index"])
    np.testing.assert_allclose(got, ref[:1], atol=1e-5)


def test_quantize_input_round_trip():
    detail = {"dtype": np.int8, "quantization": (0.5, -3)}
    x = np.array([-100.0, -1.0, 0.0, 1.24, 100.0], np.float32)
    with pytest.warns(tflite.SaturationWarning, match="40.0% of the values saturate"):  # -100 and 100 are outside
        q = tflite.quantize_input(x, detail)
    assert q.dtype == np.int8 and q.tolist() == [-128, -5, -3, -1, 127]
    np.testing.assert_allclose(tflite.dequantize_output(q, detail), [-62.5, -1.0, 0.0, 1.0, 65.0])


# --- evaluation -------------------------------------------------------------------------------------

def test_evaluate_accuracy_and_agreement(converted, calib):
    x = calib[:20]
    scores = tflite.run(converted["float32"], x)
    y = scores.argmax(-1)
    y_half = y.copy()
    y_half[:10] = (y_half[:10] + 1) % 10
    result = tflite.evaluate(converted["float32"], x, y_half, reference=scores)
    assert result.accuracy == pytest.approx(0.5) and result.samples == 20
    assert result.agreement == 1.0 and result.max_abs_diff < 1e-5
    assert result.accuracy == pytest.approx(tflite.accuracy(converted["float32"], x, y_half))
    assert set(result.as_row()) == {"accuracy", "samples", "agreement", "max |diff|"}
    q = tflite.evaluate(converted["int8"], x, y, reference=scores)
    assert 0.0 <= q.agreement <= 1.0 and q.max_abs_diff > 0
    with pytest.raises(ValueError, match="20 samples but y has 3"):
        tflite.evaluate(converted["float32"], x, y[:3])


# --- summary ----------------------------------------------------------------------------------------

def test_summary_of_an_int8_cnn(cnn_int8):
    s = tflite.summary(cnn_int8)
    assert s.total_bytes == len(cnn_int8)
    assert s.operators["CONV_2D"] == 2 and s.operators["FULLY_CONNECTED"] == 1
    assert s.operators["MAX_POOL_2D"] == 1 and "MEAN" in s.operators
    assert s.integer_only and s.float_ops == []
    assert s.input["dtype"] == "int8" and s.output["dtype"] == "int8"
    assert s.input["shape"] == (1, 12, 12, 1) and s.input["quantization"][0] > 0
    assert set(s.tensor_types) <= {"int8", "int32"}
    assert set(s.weight_bytes) == {"int8", "int32"}
    # conv kernels: (4*3*3*1 + 8*3*3*4) int8 weights, dense: 8*4
    assert s.weight_bytes["int8"] == 36 + 288 + 32
    kernels = s.quantized[s.quantized["name"].str.contains("conv2")]
    kernel = kernels[kernels["dtype"] == "int8"].iloc[0]
    assert kernel["granularity"].startswith("per-channel") and kernel["channels"] == 8 and kernel["zero point"] == 0
    acts = s.quantized[s.quantized["kind"] == "activation"]
    assert (acts["granularity"] == "per-tensor").all() and (acts["scale"] > 0).all()
    ops = s.operators_table()
    assert list(ops.columns) == ["op", "count", "input types", "output types"]
    assert ops.set_index("op").loc["CONV_2D", "output types"] == "int8"
    assert "CONV_2D x2" in str(s) and "float32 compute ops: 0" in str(s)


def test_summary_of_float_modes(converted):
    f32 = tflite.summary(converted["float32"])
    assert not f32.integer_only and f32.quantized.empty
    assert f32.operators == {"RESHAPE": 1, "FULLY_CONNECTED": 3} or f32.operators["FULLY_CONNECTED"] == 3
    assert f32.weight_bytes["float32"] >= 4 * (256 * 256 + 256 * 128 + 128 * 10)
    f16 = tflite.summary(converted["float16"])
    assert f16.operators.get("DEQUANTIZE", 0) >= 3  # float16 weights are expanded to float32 at load time
    assert f16.weight_bytes["float16"] >= 2 * (256 * 256 + 256 * 128 + 128 * 10)
    dyn = tflite.summary(converted["dynamic"])
    assert dyn.weight_bytes["int8"] >= 256 * 256 + 256 * 128 + 128 * 10
    assert dyn.input["dtype"] == "float32" and not dyn.integer_only  # int8 weights, float activations


# --- error cases ------------------------------------------------------------------------------------

def test_int8_without_representative_data_is_a_clear_error(cnn):
    with pytest.raises(tflite.ConversionError, match="representative_data"):
        tflite.convert(cnn, "int8")


def test_int8_with_wrong_representative_shape(cnn):
    with pytest.raises(tflite.ConversionError, match=r"\(28, 28, 1\).*'tiny_cnn' takes \(12, 12, 1\)"):
        tflite.convert(cnn, "int8", representative_data=np.zeros((4, 28, 28, 1), np.float32))


def test_float_fallback_in_int8_names_the_op():
    model = _sine_model()
    rep = np.random.default_rng(2).uniform(0, 1, (16, 8, 8, 3)).astype(np.float32)
    with pytest.raises(tflite.ConversionError, match=r"'sine_net' is not fully int8.*SIN .*sine"):
        tflite.convert(model, "int8", representative_data=rep)
    mixed = tflite.convert(model, "int8", representative_data=rep, allow_float_fallback=True)
    s = tflite.summary(mixed)
    assert not s.integer_only and [f["op"] for f in s.float_ops] == ["SIN"]
    assert "sine" in s.float_ops[0]["tensor"]
    with pytest.raises(tflite.ConversionError, match="SIN"):
        tflite.check_integer_only(mixed)


def test_unsupported_tensorflow_op_names_the_op_and_layer():
    import tensorflow as tf

    inputs = keras.Input((4, 4, 1))
    x = keras.layers.Reshape((4, 4))(inputs)
    x = keras.layers.Lambda(lambda t: tf.linalg.det(t)[:, None], name="determinant")(x)
    model = keras.Model(inputs, keras.layers.Dense(2)(x), name="det_net")
    with pytest.raises(tflite.ConversionError, match=r"MatrixDeterminant \(Keras layer 'determinant'\)") as info:
        tflite.convert(model, "float32")
    assert "tf.MatrixDeterminant" in info.value.log and len(str(info.value)) < 600


@pytest.mark.parametrize("xnnpack", [True, False])
def test_latency_with_and_without_xnnpack(converted, xnnpack):
    t = bench.time_interpreter(converted["int8"], num_threads=1, xnnpack=xnnpack, warmup=1, repeats=5)
    assert t.threads == 1 and t.repeats == 5 and t.batch == 1 and 0 < t.median_ms < 1000
    assert ("XNNPACK" in t.label) == xnnpack


def test_conversion_follows_weight_changes():
    """convert() reuses one SavedModel export per model, but never a stale one after training/pruning."""
    keras.utils.set_random_seed(3)
    model = models.small_cnn((8, 8, 1), classes=3, widths=(4,), name="changing")
    x = np.random.default_rng(3).uniform(0, 1, (4, 8, 8, 1)).astype(np.float32)
    before = tflite.run(tflite.convert(model, "float32"), x)
    model.get_layer("logits").kernel.assign(model.get_layer("logits").kernel * 3.0)
    after = tflite.run(tflite.convert(model, "float32"), x)
    np.testing.assert_allclose(after, model.predict(x, verbose=0), atol=1e-5)
    assert not np.allclose(before, after)


@pytest.mark.parametrize("mode", tflite.MODES)
def test_freezing_once_gives_the_converters_own_flatbuffer(cnn, monkeypatch, mode):
    """convert() freezes a model's graph once and hands it to TFLiteConverter in place of the converter's own
    freezing step (a private step of TF's converter: if a TensorFlow update changes it, this test says so).
    The flatbuffer must be byte for byte what the stock converter makes from the same function."""
    import tensorflow as tf

    rep = np.random.default_rng(4).uniform(0, 1, (16, 12, 12, 1)).astype(np.float32)
    kwargs = {"representative_data": rep} if mode == "int8" else {}
    ours = tflite.convert(cnn, mode, **kwargs)
    tflite._EXPORTS.pop(cnn, None)  # noqa: SLF001  (freeze again, through the stock converter)
    monkeypatch.setattr(tflite, "_frozen_converter",
                        lambda frozen: tf.lite.TFLiteConverter.from_concrete_functions([frozen[3]]))
    assert tflite.convert(cnn, mode, **kwargs) == ours


def test_an_int8_addition_litert_would_abort_on_is_a_clear_error():
    """Two branches that cancel out (b = -a, up to 1e-6): the ADD's output is ~1e-6 of its inputs, so its int8
    kernel cannot rescale it and LiteRT would abort the process in allocate_tensors. convert() must raise first,
    naming the layer."""
    keras.utils.set_random_seed(5)
    inputs = keras.Input((4, 4, 2))
    a = keras.layers.Conv2D(3, 1, use_bias=False, name="branch_a")(inputs)
    b = keras.layers.Conv2D(3, 1, use_bias=False, name="branch_b")(inputs)
    x = keras.layers.ReLU(name="after_sum")(keras.layers.Add(name="cancelling_sum")([a, b]))
    model = keras.Model(inputs, keras.layers.Conv2D(2, 1, name="head")(x), name="cancel")
    kernel = model.get_layer("branch_a").kernel
    model.get_layer("branch_b").kernel.assign(-kernel * (1 - 1e-6))
    rep = np.random.default_rng(5).uniform(0, 1, (16, 4, 4, 2)).astype(np.float32)
    with pytest.raises(tflite.ConversionError, match="ADD computing tensor .*after_sum.*dead layer"):
        tflite.convert(model, "int8", representative_data=rep)
