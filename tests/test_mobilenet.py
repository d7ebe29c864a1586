"""The MobileNet builders match keras.applications; the block, cost formula and experiment behave."""
import warnings

import keras
import numpy as np
import pandas as pd
import pytest

from course_lib import checks, exercises, mobilenet as mb, profile


def _keras_v2(shape, alpha, classes):
    with warnings.catch_warnings():  # keras warns for non-standard input sizes
        warnings.simplefilter("ignore")
        return keras.applications.MobileNetV2(input_shape=shape, alpha=alpha, weights=None, classes=classes)


def _keras_v1(shape, alpha, classes):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return keras.applications.MobileNet(input_shape=shape, alpha=alpha, weights=None, classes=classes)


@pytest.mark.parametrize("shape, alpha, classes", [
    ((224, 224, 3), 1.0, 1000),
    ((96, 96, 3), 0.35, 10),
    ((96, 96, 3), 0.5, 10),
    ((96, 96, 3), 0.75, 100),
    ((128, 128, 3), 1.3, 10),
    ((75, 75, 3), 1.4, 10),
])
def test_mobilenet_v2_equals_keras_applications(shape, alpha, classes):
    ours, ref = mb.mobilenet_v2(shape, alpha, classes), _keras_v2(shape, alpha, classes)
    assert ours.count_params() == ref.count_params()
    assert mb.layout(ours) == mb.layout(ref)


def test_mobilenet_v2_paper_size():
    model = mb.mobilenet_v2((224, 224, 3))
    assert 3.4e6 < model.count_params() < 3.6e6  # paper Table 4: 3.4 M (3.5 M with batch-norm statistics)
    assert 290e6 < profile.count_macs(model) < 310e6  # paper: 300 M multiply-adds


def test_mobilenet_v2_headless_and_pooling():
    ours = mb.mobilenet_v2((96, 96, 3), 0.5, include_top=False, pooling="avg")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = keras.applications.MobileNetV2(input_shape=(96, 96, 3), alpha=0.5, weights=None,
                                             include_top=False, pooling="avg")
    assert ours.count_params() == ref.count_params()
    assert tuple(ours.output.shape) == tuple(ref.output.shape)
    with pytest.raises(ValueError, match="at least 32x32"):
        mb.mobilenet_v2((16, 16, 3))


@pytest.mark.parametrize("shape, alpha", [((224, 224, 3), 1.0), ((128, 128, 3), 0.5), ((96, 96, 3), 0.25)])
def test_mobilenet_v1_equals_keras_applications(shape, alpha):
    ours, ref = mb.mobilenet_v1(shape, alpha, 1000), _keras_v1(shape, alpha, 1000)
    assert ours.count_params() == ref.count_params()
    assert mb.layout(ours) == mb.layout(ref)


def test_make_divisible():
    assert mb.make_divisible(32 * 0.35) == 16
    assert mb.make_divisible(16 * 0.35) == 8
    assert mb.make_divisible(1280 * 1.4) == 1792
    assert all(mb.make_divisible(v) % 8 == 0 for v in np.linspace(1, 500, 50))


@pytest.mark.parametrize("c_in, filters, t, stride, hw", [(16, 16, 6, 1, 8), (16, 24, 6, 2, 8), (24, 24, 1, 1, 7),
                                                          (8, 16, 4, 2, 9)])
def test_block_matches_cost_formula(c_in, filters, t, stride, hw):
    inp = keras.Input((hw, hw, c_in))
    out = mb.inverted_residual_block(inp, t, filters, stride, name="b")
    model = keras.Model(inp, out)
    expected_hw = -(-hw // stride)
    assert tuple(out.shape[1:]) == (expected_hw, expected_hw, filters)
    cost = mb.inverted_residual_cost(hw, hw, c_in, filters, t, stride)
    assert profile.count_macs(model) == cost["MACs"]
    assert model.count_params() == cost["params"] + cost["bn_params"]
    has_add = any(isinstance(layer, keras.layers.Add) for layer in model.layers)
    assert has_add == (stride == 1 and c_in == filters)
    assert not any(isinstance(layer, keras.layers.ReLU) for layer in model.layers
                   if layer.name.endswith("project") or layer.name.endswith("add"))


def test_block_rejects_bad_arguments():
    inp = keras.Input((8, 8, 4))
    with pytest.raises(ValueError, match="stride"):
        mb.inverted_residual_block(inp, 6, 8, 3)
    with pytest.raises(ValueError, match="expansion"):
        mb.inverted_residual_block(inp, 0, 8, 1)


@pytest.mark.parametrize("res", [16, 24, 32, 48])
def test_small_variant_shapes(res):
    model = mb.mobilenet_v2_small((res, res, 3), alpha=0.5, classes=10)
    assert tuple(model.output.shape) == (None, 10)
    last_conv = model.get_layer("Conv_1")
    assert last_conv.output.shape[1] == -(-res // 8)  # three stride-2 steps
    x = np.random.default_rng(0).uniform(size=(2, res, res, 3)).astype("float32")
    assert model(x).shape == (2, 10)


def test_small_variant_width_scales_cost():
    a = mb.mobilenet_v2_small(alpha=0.5)
    b = mb.mobilenet_v2_small(alpha=1.0)
    assert a.count_params() < b.count_params()
    assert profile.count_macs(a) < profile.count_macs(b)


def test_relu_roundtrip():
    pts = mb.spiral(200)
    assert pts.shape == (200, 2)
    np.testing.assert_allclose(mb.relu_roundtrip(pts, 5, activation="linear"), pts, atol=1e-9)
    np.testing.assert_allclose(mb.relu_roundtrip(pts, 2, activation="linear", decoder="best"), pts, atol=1e-9)
    errors = [mb.roundtrip_error(pts, n) for n in (2, 3, 5, 15, 30)]
    assert errors[0] > 0.3 and errors[-1] < 0.05
    assert errors[0] > errors[2] > errors[-1]
    assert mb.roundtrip_error(pts, 2, activation="linear") < 1e-9
    assert mb.relu_roundtrip(pts, 30, decoder="pinv").shape == pts.shape
    with pytest.raises(ValueError):
        mb.relu_roundtrip(pts, 0)
    with pytest.raises(ValueError):
        mb.relu_roundtrip(pts, 3, decoder="magic")


def test_check_budget_choice(monkeypatch):
    monkeypatch.setenv("COURSE_STRICT_CHECKS", "0")
    table = pd.DataFrame({"alpha": [0.35, 0.5, 1.0], "resolution": [32, 32, 32],
                          "accuracy": [0.7, 0.8, 0.9], "latency ms": [0.1, 0.2, 0.5]})
    assert exercises.check_budget_choice((0.5, 32), table, 0.3)
    assert not exercises.check_budget_choice((1.0, 32), table, 0.3)  # over budget
    assert not exercises.check_budget_choice((0.35, 32), table, 0.3)  # not the best within budget
    assert not exercises.check_budget_choice((0.6, 32), table, 0.3)  # not in the table
    assert not exercises.check_budget_choice(None, table, 0.3)
    assert isinstance(exercises.check_budget_choice((0.5, 32), table, 0.3), checks.CheckResult)


def test_reexported_from_models():
    from course_lib import models

    assert models.mobilenet_v2_small is mb.mobilenet_v2_small
    assert models.mobilenet_v2 is mb.mobilenet_v2


def test_calibrate_batch_norm_sets_moving_statistics():
    import numpy as np
    from course_lib.mobilenet import calibrate_batch_norm, mobilenet_v2_small

    model = mobilenet_v2_small((16, 16, 3), alpha=0.35)
    x = np.random.default_rng(0).uniform(0, 1, (8, 16, 16, 3)).astype("float32")
    calibrate_batch_norm(model, x)
    bn = model.get_layer("bn_Conv1")
    conv = keras.Model(model.input, model.get_layer("Conv1").output)(x).numpy()
    np.testing.assert_allclose(bn.moving_mean.numpy(), conv.mean(axis=(0, 1, 2)), rtol=1e-4, atol=1e-5)
    assert bn.momentum == 0.9
    with pytest.raises(ValueError, match="no BatchNormalization"):
        calibrate_batch_norm(keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)]), x[:, 0, 0, :2])
