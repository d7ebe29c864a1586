"""Tests of course_lib.quantize: scales and zero points, round trips, per-channel vs per-tensor,
fixed-point requantization against a float reference, integer layers against LiteRT, fake quant."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from course_lib import profile, quantize as Q, tflite


# ---------------------------------------------------------------- scale and zero point
def test_qrange():
    assert Q.qrange(8) == (-128, 127)
    assert Q.qrange(8, narrow_range=True) == (-127, 127)
    assert Q.qrange(4) == (-8, 7)
    assert Q.qrange(2) == (-2, 1)


def test_asymmetric_range_maps_ends_and_zero_exactly():
    qp = Q.qparams_from_range(-1.0, 3.0, bits=8)
    assert qp.scale == pytest.approx(4.0 / 255)
    assert int(qp.zero_point) == round(-128 + 1.0 / (4.0 / 255))  # -64
    assert Q.quantize(np.array([0.0]), qp)[0] == qp.zero_point      # real 0 is exact
    assert Q.dequantize(Q.quantize(np.array([0.0]), qp), qp)[0] == 0.0
    q = Q.quantize(np.array([-1.0, 3.0]), qp)
    assert q.tolist() == [-128, 127]


def test_range_is_widened_to_contain_zero():
    qp = Q.qparams_from_range(2.0, 6.0, bits=8)     # [2, 6] -> [0, 6]
    assert int(qp.zero_point) == -128
    assert qp.scale == pytest.approx(6.0 / 255)


def test_symmetric_has_zero_point_zero_and_narrow_range():
    qp = Q.qparams_from_range(-0.5, 2.0, bits=8, symmetric=True)
    assert int(qp.zero_point) == 0
    assert qp.scale == pytest.approx(2.0 / 127)
    assert (qp.qmin, qp.qmax) == (-127, 127)


@pytest.mark.parametrize("bits", [8, 4, 2])
@pytest.mark.parametrize("symmetric", [False, True])
def test_round_trip_error_is_at_most_half_a_step(bits, symmetric):
    rng = np.random.default_rng(bits)
    x = rng.normal(size=(64, 16)).astype(np.float32)
    qp = Q.choose_qparams(x, bits, symmetric)
    q = Q.quantize(x, qp)
    assert q.dtype == np.int8
    assert q.min() >= qp.qmin and q.max() <= qp.qmax
    err = np.abs(Q.dequantize(q, qp) - x)
    assert err.max() <= qp.scale / 2 * (1 + 1e-5)


def test_codes_round_trip_exactly():
    qp = Q.qparams_from_range(-2.0, 5.0)
    codes = np.arange(-128, 128, dtype=np.int8)
    assert np.array_equal(Q.quantize(Q.dequantize(codes, qp), qp), codes)


def test_values_outside_the_range_are_clipped():
    qp = Q.qparams_from_range(-1.0, 1.0)
    assert Q.quantize(np.array([-10.0, 10.0]), qp).tolist() == [-128, 127]


def test_round_half_away_from_zero():
    assert Q.round_half_away(np.array([0.5, 1.5, -0.5, -2.5, 2.4])).tolist() == [1, 2, -1, -3, 2]


def test_all_zero_tensor_is_quantized_without_nan():
    qp = Q.choose_qparams(np.zeros((3, 3)))
    assert np.isfinite(qp.scale) and qp.scale > 0
    assert np.array_equal(Q.dequantize(Q.quantize(np.zeros(3), qp), qp), np.zeros(3))


# ---------------------------------------------------------------- per-channel vs per-tensor
def test_per_channel_params_shape_and_axis():
    w = np.random.default_rng(0).normal(size=(3, 3, 4, 8))
    qp = Q.choose_qparams(w, symmetric=True, axis=-1)
    assert qp.per_channel and qp.axis == 3 and qp.scale.shape == (8,)
    np.testing.assert_allclose(qp.scale, np.abs(w).max(axis=(0, 1, 2)) / 127, rtol=1e-6)


def test_per_channel_beats_per_tensor_when_channel_ranges_differ():
    rng = np.random.default_rng(1)
    w = rng.normal(size=(3, 3, 16)) * np.logspace(-2, 0, 16)   # depthwise-like: ranges span 100x
    for bits in (8, 4):
        pt = Q.quantization_error(w, bits, symmetric=True, axis=None)
        pc = Q.quantization_error(w, bits, symmetric=True, axis=-1)
        assert pc["sqnr_db"] > pt["sqnr_db"] + 3
        assert pc["mse"] < pt["mse"]


def test_sqnr_grows_about_6db_per_bit():
    x = np.random.default_rng(2).uniform(-1, 1, size=20000)
    s8 = Q.quantization_error(x, 8)["sqnr_db"]
    s4 = Q.quantization_error(x, 4)["sqnr_db"]
    assert 20 < s8 - s4 < 28   # 4 bits x ~6.02 dB


def test_error_table_rows():
    w = np.random.default_rng(3).normal(size=(3, 3, 2, 4))
    table = Q.error_table({"conv/kernel": (w, -1)}, bits=(8, 4))
    assert len(table) == 4
    assert set(table["granularity"]) == {"per-tensor", "per-channel"}


def test_weight_tensors_finds_depthwise_and_conv():
    inp = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, name="c")(inp)
    x = keras.layers.DepthwiseConv2D(3, depth_multiplier=2, name="dw")(x)
    x = keras.layers.SeparableConv2D(5, 3, name="sep")(keras.layers.ZeroPadding2D(2)(x))
    m = keras.Model(inp, keras.layers.Dense(2, name="d")(x))
    t = Q.weight_tensors(m)
    assert set(t) == {"c/kernel", "dw/depthwise", "sep/depthwise", "sep/pointwise", "d/kernel"}
    assert t["dw/depthwise"][0].shape == (3, 3, 8)


def test_histogram_view():
    v = Q.histogram_view(np.linspace(-1, 1, 101), bits=2, symmetric=True)
    assert v["levels"] <= 3 and v["xq"].shape == (101,)


def test_errors_are_clear():
    with pytest.raises(ValueError, match="bits"):
        Q.qrange(1)
    with pytest.raises(ValueError, match="axis"):
        Q.choose_qparams(np.ones((2, 3)), axis=5)
    with pytest.raises(ValueError, match="empty"):
        Q.choose_qparams(np.array([]))
    with pytest.raises(ValueError, match="finite"):
        Q.choose_qparams(np.array([1.0, np.inf]))
    qp = Q.choose_qparams(np.ones((2, 3)), axis=1)
    with pytest.raises(ValueError, match="channels"):
        Q.quantize(np.ones((2, 4)), qp)
    with pytest.raises(TypeError, match="integers"):
        Q.int_dense(np.ones((1, 3)), 0, np.ones((3, 2), np.int8))
    with pytest.raises(ValueError, match="channels"):
        Q.int_conv2d(np.zeros((1, 4, 4, 3), np.int8), 0, np.zeros((3, 3, 2, 1), np.int8))
    with pytest.raises(ValueError, match="activation"):
        Q.activation_bounds(Q.qparams_from_range(0, 1), "gelu")


# ---------------------------------------------------------------- fixed-point requantization
@pytest.mark.parametrize("m", [0.0003, 0.25, 0.5, 0.7071, 0.999999, 1.0, 3.7])
def test_quantize_multiplier_represents_m(m):
    mult, shift = Q.quantize_multiplier(m)
    assert 2 ** 30 <= int(mult) < 2 ** 31
    assert int(mult) * 2.0 ** (int(shift) - 31) == pytest.approx(m, rel=1e-9)


def test_srdhm_and_rounding_shift_match_definitions():
    assert Q.saturating_rounding_doubling_high_mul(2 ** 30, 2 ** 30) == 2 ** 29
    assert Q.saturating_rounding_doubling_high_mul(-2 ** 31, -2 ** 31) == 2 ** 31 - 1   # saturates
    assert Q.rounding_divide_by_pot(np.array([5, 6, 7, -5, -6, -7]), 2).tolist() == [1, 2, 2, -1, -2, -2]


def test_requantization_matches_float_reference():
    rng = np.random.default_rng(4)
    acc = rng.integers(-2 ** 20, 2 ** 20, size=5000)
    for m in (1.3e-5, 0.0007, 0.042, 0.8):
        mult, shift = Q.quantize_multiplier(m)
        got = Q.multiply_by_quantized_multiplier(acc, mult, shift)
        exact = acc * m
        # gemmlowp rounds twice (high multiply, then shift): near a tie it may land on the other side
        # so the error is at most half a step plus half a step of the intermediate (2^-right_shift)
        right = max(-int(shift), 0)
        slack = 0.5 ** (right + 1) if right else 0.0
        assert np.abs(got - exact).max() <= 0.5 + slack + 1e-9
        # away from ties it is exactly round-to-nearest
        frac = np.abs(exact - np.floor(exact) - 0.5)
        clear = frac > slack + 1e-6
        assert np.array_equal(got[clear], np.round(exact[clear]).astype(np.int64))


def test_requantize_clamps_for_fused_relu():
    out_qp = Q.qparams_from_range(-2.0, 6.0)          # zero point -64
    mult, shift = Q.quantize_multiplier(0.5)
    acc = np.array([-1000, -10, 0, 10, 1000])
    relu = Q.requantize(acc, mult, shift, out_qp, "relu")
    assert relu.min() == out_qp.zero_point and relu.dtype == np.int8
    plain = Q.requantize(acc, mult, shift, out_qp)
    assert plain.tolist() == [-128, -69, -64, -59, 127]


def test_quantized_dense_matches_float_layer():
    rng = np.random.default_rng(5)
    x = rng.uniform(0, 1, size=(32, 20)).astype(np.float32)
    w = rng.normal(size=(20, 6)).astype(np.float32) * 0.3
    b = rng.normal(size=6).astype(np.float32) * 0.1
    y = np.maximum(x @ w + b, 0)
    x_qp = Q.choose_qparams(x)
    w_qp = Q.choose_qparams(w, symmetric=True, axis=-1)
    out_qp = Q.choose_qparams(y)
    b_q = Q.quantize_bias(b, x_qp.scale, w_qp.scale)
    y_q = Q.quantized_dense(Q.quantize(x, x_qp), x_qp, Q.quantize(w, w_qp), w_qp, b_q, out_qp, "relu")
    err = np.abs(Q.dequantize(y_q, out_qp) - y)
    assert err.max() < 6 * out_qp.scale      # a few steps from input/weight rounding


def test_int_conv2d_matches_keras_conv_on_integers():
    rng = np.random.default_rng(6)
    x = rng.integers(-128, 128, size=(2, 7, 7, 3)).astype(np.int8)
    w = rng.integers(-127, 128, size=(3, 3, 3, 4)).astype(np.int8)
    for stride, padding in ((1, "same"), (2, "same"), (1, "valid"), (2, "valid")):
        acc = Q.int_conv2d(x, -5, w, 0, stride, padding)
        ref = tf.nn.conv2d((x.astype(np.float64) + 5)[..., :], w.astype(np.float64), stride, padding.upper()).numpy()
        assert acc.dtype == np.int32
        assert np.array_equal(acc, ref.astype(np.int64)), (stride, padding)


# ---------------------------------------------------------------- against the LiteRT interpreter
@pytest.fixture(scope="module")
def tiny_int8():
    keras.utils.set_random_seed(0)
    inp = keras.Input((8, 8, 1), name="image")
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv1")(inp)
    x = keras.layers.MaxPooling2D(2, name="pool1")(x)
    x = keras.layers.Conv2D(6, 3, padding="same", activation="relu", name="conv2")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    out = keras.layers.Dense(3, bias_initializer="ones", name="logits")(x)
    model = keras.Model(inp, out)
    rng = np.random.default_rng(0)
    data = rng.uniform(0, 1, size=(40, 8, 8, 1)).astype(np.float32)
    return model, tflite.convert(model, "int8", representative_data=data), data


def test_numpy_int8_inference_matches_litert(tiny_int8):
    model, flat, data = tiny_int8
    graph = tflite.read_int8_graph(flat)
    assert [g["op"] for g in graph] == ["CONV_2D", "MAX_POOL_2D", "CONV_2D", "MEAN", "FULLY_CONNECTED"]
    x_q = Q.quantize(data[:10], graph[0]["input_qp"])
    refs = tflite.reference_activations(flat, x_q)
    a = x_q
    for g in graph:
        if g["op"] == "CONV_2D":
            a = Q.quantized_conv2d(a, g["input_qp"], g["weights"], g["weight_qp"], g["bias"], g["output_qp"],
                                   1, "same", "relu")
        elif g["op"] == "MAX_POOL_2D":
            a = Q.int_max_pool2d(a)
        elif g["op"] == "MEAN":
            a = Q.quantized_mean(a, g["input_qp"], g["output_qp"])
        else:
            a = Q.quantized_dense(a, g["input_qp"], g["weights"], g["weight_qp"], g["bias"], g["output_qp"])
        assert np.abs(a.astype(int) - refs[g["output"]].astype(int)).max() <= 1, g["op"]
    # and the default (XNNPACK) interpreter through course_lib.tflite: within one step
    out = tflite.run(flat, data[:10])
    out_qp = graph[-1]["output_qp"]
    assert np.abs(Q.dequantize(a, out_qp) - out).max() <= out_qp.scale * 1.01


def test_tensor_qparams_reads_per_channel(tiny_int8):
    _, flat, _ = tiny_int8
    interp = tflite.make_interpreter(flat)
    per_channel = [Q.tensor_qparams(d) for d in interp.get_tensor_details()
                   if len(d["quantization_parameters"]["scales"]) > 1]
    assert per_channel and all(qp.axis is not None for qp in per_channel)
    with pytest.raises(ValueError, match="not quantized"):
        Q.tensor_qparams({"name": "t", "dtype": np.float32, "quantization_parameters": {"scales": []}})


# ---------------------------------------------------------------- fake quantization and QAT layers
def test_fake_quant_range_forward_and_straight_through_gradient():
    x = tf.constant(np.linspace(-2, 3, 51), tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = Q.fake_quant_range(x, -1.0, 2.0, bits=4)
    grad = tape.gradient(y, x).numpy()
    y = y.numpy()
    assert len(np.unique(y)) <= 16
    inside = (x.numpy() > -0.99) & (x.numpy() < 1.99)
    assert np.all(grad[inside] == 1.0)          # straight through inside the range
    assert np.all(grad[x.numpy() < -1.2] == 0.0) and np.all(grad[x.numpy() > 2.2] == 0.0)  # clipped
    assert np.abs(y[inside] - x.numpy()[inside]).max() <= 3.0 / 15 / 2 + 1e-6


def test_fake_quant_weights_matches_numpy_per_channel():
    w = np.random.default_rng(7).normal(size=(3, 3, 2, 5)).astype(np.float32)
    got = Q.fake_quant_weights(tf.constant(w), bits=4).numpy()
    np.testing.assert_allclose(got, Q.fake_quantize(w, 4, symmetric=True, axis=-1), atol=1e-6)
    with tf.GradientTape() as tape:
        wv = tf.Variable(w)
        loss = tf.reduce_sum(Q.fake_quant_weights(wv, bits=4) * 2.0)
    np.testing.assert_allclose(tape.gradient(loss, wv).numpy(), 2.0)


def test_fakequant_layer_tracks_ema_and_passes_through_before_training():
    layer = Q.FakeQuant(bits=8, momentum=0.5)
    x = np.array([[-1.0, 0.3, 2.0]], np.float32)
    np.testing.assert_allclose(layer(x, training=False).numpy(), x)         # not calibrated yet
    layer(x, training=True)
    assert float(layer.range_min.numpy()) == -1.0 and float(layer.range_max.numpy()) == 2.0
    layer(x * 3, training=True)                                            # EMA with momentum 0.5
    assert float(layer.range_max.numpy()) == pytest.approx(0.5 * 2.0 + 0.5 * 6.0)
    y = layer(x, training=False).numpy()
    assert np.abs(y - x).max() <= (4.0 + 8.0) / 255
    with pytest.raises(ValueError, match="momentum"):
        Q.FakeQuant(momentum=1.0)


def test_qat_model_trains_counts_macs_and_transfers_to_float():
    from course_lib import models

    keras.utils.set_random_seed(0)
    qat = Q.qat_small_cnn((12, 12, 1), 3, widths=(4, 8), weight_bits=4)
    plain = models.small_cnn((12, 12, 1), 3, widths=(4, 8))
    assert profile.count_macs(qat) == profile.count_macs(plain)
    assert Q.transfer_weights(plain, qat)                 # start QAT from float weights
    x = np.random.default_rng(0).uniform(size=(16, 12, 12, 1)).astype(np.float32)
    y = np.arange(16) % 3
    models.fit(qat, x, y, epochs=1, batch_size=8, verbose=False)
    assert float(qat.get_layer("fq1").range_max.numpy()) > 0
    copied = Q.transfer_weights(qat, plain, bake_quantized=True)
    assert "conv1" in copied and "logits" in copied
    kernel = plain.get_layer("conv1").get_weights()[0]
    assert all(len(np.unique(kernel[..., c])) <= 15 for c in range(kernel.shape[-1]))  # 4-bit grid
    # same prediction as the QAT graph without activation fake quant is not expected; shapes are
    assert plain.predict(x, verbose=0).shape == (16, 3)


def test_transfer_weights_errors():
    a = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, name="d")])
    b = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="d")])
    c = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, name="other")])
    with pytest.raises(ValueError, match="do not fit"):
        Q.transfer_weights(a, b)
    with pytest.raises(KeyError, match="namesake"):
        Q.transfer_weights(a, c)


def test_qconv2d_get_config_round_trip():
    layer = Q.QConv2D(4, 3, weight_bits=6, name="q")
    clone = Q.QConv2D.from_config(layer.get_config())
    assert clone.weight_bits == 6 and clone.filters == 4


def test_calibrate_fake_quant_sets_ranges():
    qat = Q.qat_small_cnn((8, 8, 1), 2, widths=(4,))
    x = np.random.default_rng(1).uniform(size=(10, 8, 8, 1)).astype(np.float32)
    ranges = Q.calibrate_fake_quant(qat, x)
    assert ranges["fq_input"][1] == pytest.approx(float(x.max()))
    assert float(qat.get_layer("fq_input").seen.numpy()) == 1.0
    with pytest.raises(ValueError, match="no FakeQuant"):
        Q.calibrate_fake_quant(keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)]), np.ones((1, 2)))


def test_batchnorm_fold_factors():
    bn = keras.layers.BatchNormalization(epsilon=0.0)
    bn.build((None, 3))
    bn.set_weights([np.array([1.0, 2.0, -1.0]), np.zeros(3), np.zeros(3), np.array([4.0, 1.0, 0.25])])
    np.testing.assert_allclose(Q.batchnorm_fold_factors(bn), [0.5, 2.0, -2.0])
    with pytest.raises(TypeError, match="BatchNormalization"):
        Q.batchnorm_fold_factors(keras.layers.Dense(2))


def test_delegate_activations_exposes_every_layer_without_changing_the_output(tiny_int8):
    model, flat, data = tiny_int8
    graph = tflite.read_int8_graph(flat)
    x_q = Q.quantize(data[:6], graph[0]["input_qp"])
    acts = tflite.delegate_activations(flat, x_q, [g["output"] for g in graph])
    assert set(acts) == {g["output"] for g in graph}
    assert acts[graph[0]["output"]].shape == (6, 8, 8, 4)
    interp = tflite.make_interpreter(flat)
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    for i in range(6):
        interp.set_tensor(inp["index"], x_q[i:i + 1])
        interp.invoke()
        np.testing.assert_array_equal(interp.get_tensor(out["index"])[0], acts[graph[-1]["output"]][i])
    refs = tflite.reference_activations(flat, x_q)
    for g in graph:  # the delegate implements the same int8 spec: within a few steps of the built-in kernels
        assert np.abs(acts[g["output"]].astype(int) - refs[g["output"]].astype(int)).max() <= 3, g["op"]
    with pytest.raises(ValueError, match="not in the model"):
        tflite.with_outputs(flat, [10_000])
    with pytest.raises(TypeError, match="quantize it first"):
        tflite.delegate_activations(flat, data[:2], [graph[0]["output"]])
