"""Tests of course_lib.binarize: STE gradient, alpha / K scaling, layers, bit packing, xnor_matmul, memory."""
import math

import numpy as np
import pytest
import tensorflow as tf

import keras
from course_lib import binarize as B
from course_lib import profile


def pm1(x):
    return np.where(np.asarray(x) >= 0, 1, -1)


# --------------------------------------------------------------------------- STE
def test_ste_sign_forward_is_sign_with_zero_positive():
    x = np.array([-3.0, -1.0, -0.2, 0.0, 0.3, 1.0, 2.5], np.float32)
    y, _ = B.forward_and_gradient(B.ste_sign, x)
    np.testing.assert_array_equal(y, [-1, -1, -1, 1, 1, 1, 1])


def test_ste_gradient_is_one_inside_and_zero_outside():
    x = tf.constant([-2.0, -1.0001, -1.0, -0.5, 0.0, 0.5, 1.0, 1.0001, 3.0])
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = B.ste_sign(x)
    g = tape.gradient(y, x).numpy()
    np.testing.assert_array_equal(g, [0, 0, 1, 1, 1, 1, 1, 0, 0])


def test_ste_gradient_scales_upstream():
    x = tf.constant([0.5, 2.0, -0.25])
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = tf.reduce_sum(B.ste_sign(x) * tf.constant([3.0, 5.0, -7.0]))
    np.testing.assert_array_equal(tape.gradient(loss, x).numpy(), [3.0, 0.0, -7.0])


# --------------------------------------------------------------------------- alpha and K
def test_alpha_per_filter_per_layer_none():
    w = np.array([[0.5, -2.0], [-1.5, 1.0]], np.float32)  # 2 inputs x 2 filters
    np.testing.assert_allclose(np.asarray(B.alpha(w, "per-filter")), [1.0, 1.5])
    assert float(B.alpha(w, "per-layer")) == pytest.approx(1.25)
    assert float(B.alpha(w, "none")) == 1.0
    with pytest.raises(ValueError, match="scaling"):
        B.alpha(w, "per-pixel")


def test_alpha_is_the_least_squares_optimum():
    rng = np.random.default_rng(1)
    w = rng.normal(size=(3, 3, 4, 1))
    a = float(np.asarray(B.alpha(w, "per-filter"))[0])
    err = lambda s: np.sum((w - s * pm1(w)) ** 2)  # noqa: E731
    assert err(a) <= err(a * 1.01) and err(a) <= err(a * 0.99)


def _brute_K(x, kh, kw):
    """beta at every output position ('same' padding, stride 1): mean |I| over the kh x kw x C patch."""
    n, h, w, c = x.shape
    ph, pw = (kh - 1) // 2, (kw - 1) // 2
    xp = np.pad(np.abs(x), ((0, 0), (ph, kh - 1 - ph), (pw, kw - 1 - pw), (0, 0)))
    out = np.zeros((n, h, w, 1))
    for i in range(h):
        for j in range(w):
            out[:, i, j, 0] = xp[:, i:i + kh, j:j + kw, :].mean(axis=(1, 2, 3))
    return out


def test_input_scale_K_equals_patch_mean_of_abs_inputs():
    x = np.random.default_rng(2).normal(size=(2, 6, 5, 3)).astype(np.float32)
    k = np.asarray(B.input_scale_K(x, 3))
    assert k.shape == (2, 6, 5, 1)
    np.testing.assert_allclose(k, _brute_K(x, 3, 3), rtol=1e-5, atol=1e-6)


def test_xnor_conv_equals_binary_conv_scaled_by_K_and_alpha():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(1, 5, 5, 3)).astype(np.float32)
    layer = B.XNORConv2D(4, 3)
    y = np.asarray(layer(x))
    w = np.asarray(layer.kernel)
    a = np.abs(w).mean(axis=(0, 1, 2))
    xs = np.pad(pm1(x), ((0, 0), (1, 1), (1, 1), (0, 0)))  # zero padding, as in the float emulation
    K = _brute_K(x, 3, 3)
    expected = np.zeros((1, 5, 5, 4))
    for i in range(5):
        for j in range(5):
            patch = xs[0, i:i + 3, j:j + 3, :]
            expected[0, i, j] = np.tensordot(patch, pm1(w), axes=3) * a * K[0, i, j, 0]
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-5)


def test_bwn_conv_uses_alpha_sign_w_and_dense_too():
    x = np.random.default_rng(4).normal(size=(2, 4, 4, 3)).astype(np.float32)
    conv = B.BinaryConv2D(5, 3)
    y = np.asarray(conv(x))
    w = np.asarray(conv.kernel)
    ref = keras.ops.conv(x, (np.abs(w).mean(axis=(0, 1, 2)) * pm1(w)).astype(np.float32), padding="same")
    np.testing.assert_allclose(y, np.asarray(ref), rtol=1e-5, atol=1e-5)
    dense = B.BinaryDense(3, use_bias=False)
    v = np.random.default_rng(5).normal(size=(2, 7)).astype(np.float32)
    out = np.asarray(dense(v))
    wd = np.asarray(dense.kernel)
    np.testing.assert_allclose(out, v @ (np.abs(wd).mean(axis=0) * pm1(wd)), rtol=1e-5, atol=1e-5)


def test_latent_weights_get_ste_gradients_and_stay_clipped():
    model = B.binary_cnn("xnor", input_shape=(8, 8, 1), classes=3, widths=(4, 8, 8))
    x = np.random.default_rng(6).uniform(size=(16, 8, 8, 1)).astype(np.float32)
    y = np.arange(16) % 3
    layer = model.get_layer("xconv2")
    before = np.asarray(layer.kernel).copy()
    model.compile(optimizer=keras.optimizers.SGD(5.0), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    after = np.asarray(layer.kernel)
    assert not np.allclose(before, after), "latent weights did not move"
    assert np.abs(after).max() <= 1.0 + 1e-6


def test_count_macs_of_binary_layers_matches_float_layers():
    float_model, xnor_model = B.binary_cnn("float"), B.binary_cnn("xnor")
    assert profile.count_macs(float_model) == profile.count_macs(xnor_model)
    assert profile.count_params(float_model) == profile.count_params(xnor_model)
    inputs = keras.Input((5, 7, 6))
    model = keras.Model(inputs, B.BinaryDense(4)(inputs))
    assert profile.count_macs(model) == 5 * 7 * 6 * 4


# --------------------------------------------------------------------------- packing
@pytest.mark.parametrize("n", [1, 7, 8, 9, 63, 64, 65, 200])
def test_pack_bits_size_and_round_trip(n):
    x = np.random.default_rng(n).normal(size=(3, n))
    x[:, 0] = 0.0  # sign(0) = +1
    packed = B.pack_bits(x)
    assert packed.dtype == np.uint64 and packed.shape == (3, math.ceil(n / 64))
    assert packed.nbytes == 3 * 8 * math.ceil(math.ceil(n / 8) / 8)
    np.testing.assert_array_equal(B.unpack_bits(packed, n), pm1(x))
    bytes8 = B.pack_bits(x, word_bits=8)
    assert bytes8.shape == (3, math.ceil(n / 8))


def test_pack_bits_bit_order_and_padding_is_zero():
    packed = B.pack_bits(np.array([1.0, -1.0, 0.0]))  # bits 0 and 2 set
    assert packed.tolist() == [0b101]
    with pytest.raises(ValueError, match="NaN"):
        B.pack_bits(np.array([1.0, np.nan]))


# --------------------------------------------------------------------------- xnor_matmul
@pytest.mark.parametrize("m,k,n", [(1, 1, 1), (3, 5, 2), (4, 63, 3), (5, 64, 6), (2, 65, 7),
                                   (6, 127, 4), (3, 128, 3), (7, 200, 5), (33, 1000, 9)])
def test_xnor_matmul_equals_sign_product(m, k, n):
    rng = np.random.default_rng(m * 1000 + k)
    a, b = rng.normal(size=(m, k)), rng.normal(size=(k, n)).astype(np.float32)
    a[0, : min(k, 4)] = 0.0
    got = B.xnor_matmul(a, b)
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, pm1(a) @ pm1(b))


def test_xnor_matmul_small_blocks_give_same_result():
    rng = np.random.default_rng(9)
    a, b = rng.normal(size=(50, 70)), rng.normal(size=(70, 30))
    pa, pb = B.pack_bits(a), B.pack_bits(b.T)
    np.testing.assert_array_equal(B.xnor_popcount_matmul(pa, pb, 70, block_bytes=8), pm1(a) @ pm1(b))


def test_xnor_matmul_errors_name_both_shapes():
    with pytest.raises(ValueError, match=r"\(4, 5\).*\(6, 3\)"):
        B.xnor_matmul(np.ones((4, 5)), np.ones((6, 3)))
    with pytest.raises(ValueError, match=r"\(5,\).*\(5, 2\)"):
        B.xnor_matmul(np.ones(5), np.ones((5, 2)))


def test_blas_threads_sets_and_restores():
    from threadpoolctl import threadpool_info

    def blas_counts():
        return [p["num_threads"] for p in threadpool_info() if p.get("user_api") == "blas"]

    before = blas_counts()
    with B.blas_threads(1) as n:
        a = np.ones((64, 64), np.float32)
        assert np.array_equal(a @ a, np.full((64, 64), 64.0, np.float32))
        if n is None:
            pytest.skip("no BLAS library found by threadpoolctl")
        assert n == 1 and set(blas_counts()) == {1}
    assert blas_counts() == before


# --------------------------------------------------------------------------- memory and widget
def test_memory_report_packs_binary_layers_and_keeps_first_and_last_float():
    model = B.binary_cnn("bwn")
    table = B.memory_report(model).set_index("layer")
    assert table.loc["conv1", "stored as"] == "float32" and "first layer" in table.loc["conv1", "why"]
    assert table.loc["logits", "stored as"] == "float32" and "last layer" in table.loc["logits", "why"]
    # bconv3: 3*3*64 = 576 weights per filter = 9 words = 72 bytes, 128 filters, + 128 float32 alphas
    assert table.loc["bconv3", "deployed bytes"] == 128 * 72 + 128 * 4
    # bconv2: 3*3*32 = 288 weights per filter -> 5 words (40 bytes), padding included
    assert table.loc["bconv2", "deployed bytes"] == 64 * 40 + 64 * 4
    assert table.loc["bn2", "deployed bytes"] == 2 * 32 * 4  # folded: scale + shift per channel
    summary = B.memory_summary(model)
    assert summary["binary layers compression"] == pytest.approx((18432 + 73728) * 4 / (64 * 44 + 128 * 76))
    bn_params = sum(int(np.prod(w.shape)) for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)
                    for w in layer.weights)
    assert summary["float32 bytes"] == 4 * (profile.count_params(model) - bn_params // 2)
    assert 1 < summary["compression"] < 32
    float_summary = B.memory_summary(B.binary_cnn("float"))
    assert float_summary["binary params"] == 0 and float_summary["compression"] == 1.0


def test_binarization_view_errors_order_and_shapes():
    w = np.random.default_rng(7).normal(size=(3, 3, 8, 16)) * np.linspace(0.1, 2.0, 16)
    view = B.binarization_view(w, "per-filter")
    assert view["binarized"].shape == w.shape and view["alpha"].shape == (16,)
    np.testing.assert_allclose(np.abs(view["binarized"]), np.broadcast_to(np.abs(w).mean(axis=(0, 1, 2)), w.shape))
    e = view["errors"]
    assert e["per-filter"] <= e["per-layer"] <= e["none"] and view["error"] == e["per-filter"]
    single = B.binarization_view(np.array([0.5, -1.5]), "per-filter")
    np.testing.assert_allclose(single["binarized"], [1.0, -1.0])
    with pytest.raises(ValueError, match="scaling"):
        B.binarization_view(w, "bogus")


def test_plot_binarization_returns_figure():
    import matplotlib

    matplotlib.use("Agg")
    fig = B.plot_binarization(np.random.default_rng(8).normal(size=(3, 3, 2, 4)), "per-layer", "test")
    assert len(fig.axes) == 2
