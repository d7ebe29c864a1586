import keras
import numpy as np
import pytest

from course_lib import profile


def conv_model(k=3, cin=3, cout=8, size=16, stride=1, padding="same", groups=1):
    return keras.Sequential([keras.Input((size, size, cin)),
                             keras.layers.Conv2D(cout, k, strides=stride, padding=padding, groups=groups)])


@pytest.mark.parametrize("k, cin, cout, size, stride, padding, out", [
    (3, 3, 8, 16, 1, "same", 16), (3, 3, 8, 16, 1, "valid", 14), (5, 4, 6, 15, 2, "same", 8), (1, 16, 32, 7, 1, "same", 7)])
def test_conv_macs_match_hand_count(k, cin, cout, size, stride, padding, out):
    m = conv_model(k, cin, cout, size, stride, padding)
    assert profile.count_macs(m) == k * k * cin * cout * out * out
    assert profile.count_params(m) == k * k * cin * cout + cout


def test_grouped_conv():
    m = conv_model(3, 8, 8, 10, groups=4)
    assert profile.count_macs(m) == 3 * 3 * 2 * 8 * 10 * 10


def test_depthwise_separable_dense_bn_pool():
    inp = keras.Input((12, 12, 4))
    x = keras.layers.DepthwiseConv2D(3, padding="same", depth_multiplier=2)(inp)   # 9*8*144
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.ReLU()(x)
    x = keras.layers.SeparableConv2D(6, 3, padding="valid")(x)                      # 9*8*100 + 8*6*100
    x = keras.layers.ZeroPadding2D(1)(x)
    x = keras.layers.MaxPooling2D(2)(x)
    y = keras.layers.AveragePooling2D(2)(x)
    y = keras.layers.UpSampling2D(2)(y)
    x = keras.layers.Concatenate()([x, y])
    x = keras.layers.Add()([x, x])
    x = keras.layers.Flatten()(x)
    x = keras.layers.Reshape((-1,))(x)
    x = keras.layers.Dropout(0.1)(x)
    out = keras.layers.Dense(5)(x)                                                   # 6*6*12*5
    m = keras.Model(inp, out)
    expected = 9 * 8 * 144 + (9 * 8 * 100 + 8 * 6 * 100) + 6 * 6 * 12 * 5
    assert profile.count_macs(m) == expected
    table = profile.layer_table(m)
    assert list(table.columns) == ["layer", "type", "output shape", "params", "MACs", "activation bytes"]
    assert table["MACs"].sum() == expected
    assert table["params"].sum() == m.count_params() == profile.count_params(m)


def test_dense_on_feature_map_counts_every_position():
    m = keras.Sequential([keras.Input((4, 4, 3)), keras.layers.Dense(2)])
    assert profile.count_macs(m) == 4 * 4 * 3 * 2


def test_nested_models_are_expanded():
    inner = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 3, padding="same")], name="inner")
    outer = keras.Sequential([keras.Input((8, 8, 3)), inner, keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(2)])
    assert profile.count_macs(outer) == 9 * 3 * 4 * 64 + 4 * 2
    assert any(name.startswith("inner/") for name in profile.layer_table(outer)["layer"])


def test_shared_layer_counted_per_call():
    conv = keras.layers.Conv2D(3, 1)
    inp = keras.Input((5, 5, 3))
    out = conv(conv(inp))
    m = keras.Model(inp, out)
    assert profile.count_macs(m) == 2 * 3 * 3 * 25
    assert profile.count_params(m) == 12


def test_activation_memory():
    m = keras.Sequential([keras.Input((10, 10, 1)), keras.layers.Conv2D(4, 3, padding="same"),
                          keras.layers.MaxPooling2D(2)])
    mem = profile.activation_memory(m)
    assert mem["total"] == (100 + 400 + 100) * 4
    assert mem["peak_layer"] == 400 * 4
    assert profile.activation_memory(m, dtype_bytes=1)["total"] == 600


def test_unsupported_layer_names_layer_and_type():
    class Mystery(keras.layers.Layer):
        def call(self, x):
            return x * 2

    m = keras.Sequential([keras.Input((4,)), Mystery(name="mystery_box")])
    with pytest.raises(profile.UnsupportedLayerError, match="'mystery_box' of type Mystery"):
        profile.count_macs(m)


def test_custom_layer_can_count_itself_and_register():
    class Doubler(keras.layers.Layer):
        def call(self, x):
            return x * 2

        def count_macs(self, input_shapes, output_shape):
            return int(np.prod(output_shape[1:]))

    m = keras.Sequential([keras.Input((4, 3)), Doubler()])
    assert profile.count_macs(m) == 12

    class Other(keras.layers.Layer):
        def call(self, x):
            return x

    profile.register_macs(Other)(lambda layer, i, o: 7)
    assert profile.count_macs(keras.Sequential([keras.Input((2,)), Other()])) == 7


def test_unbuilt_model_gives_clear_error():
    m = keras.Sequential([keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="no known input shape"):
        profile.count_macs(m)


def test_saved_size_and_weight_bytes(tmp_path):
    m = conv_model()
    assert profile.weight_bytes(m) == profile.count_params(m) * 4
    assert profile.weight_bytes(m, bits=1) == -(-profile.count_params(m) // 8)
    size = profile.saved_size(m)
    assert size > profile.weight_bytes(m)
    assert profile.saved_size(m, tmp_path / "m.keras") == (tmp_path / "m.keras").stat().st_size


def test_human():
    assert profile.human(3.4e6) == "3.40 M"
    assert profile.human(999) == "999"
    assert profile.human(5.7e8, "MACs") == "570.00 MMACs"


# Published counts (REFERENCES.md): MobileNet 569 M mult-adds / 4.2 M params (Howard et al. 2017, Table 4),
# MobileNetV2 300 M / 3.4 M (Sandler et al. 2018, Table 4), ResNet-50 3.8 G FLOPs (He et al. 2016, Table 1,
# where "FLOPs" are multiply-adds). keras.applications' models include the 1000-class classifier.
@pytest.mark.parametrize("builder, paper_macs, paper_params, tol", [
    ("MobileNet", 569e6, 4.2e6, 0.01), ("MobileNetV2", 300e6, 3.4e6, 0.01), ("ResNet50", 3.8e9, 25.6e6, 0.03)])
def test_published_architectures(builder, paper_macs, paper_params, tol):
    model = getattr(keras.applications, builder)(weights=None, input_shape=(224, 224, 3))
    macs = profile.count_macs(model)
    assert abs(macs - paper_macs) / paper_macs < tol, f"{builder}: {macs:,} MACs vs paper {paper_macs:,.0f}"
    # keras' MobileNetV2 (3.54 M) counts the 1280-wide head; the paper rounds to 3.4 M.
    assert abs(profile.count_params(model) - paper_params) / paper_params < 0.05
