"""course_lib.tflite.size_breakdown / constants / macs: reading a flatbuffer with the schema.

One small CNN with every operator the MAC counter knows (conv, depthwise, separable, transposed
conv, dense), converted once per mode; every number is compared with what the Keras model says.
"""
import keras
import numpy as np
import pytest

from course_lib import profile, tflite

KERNEL_LAYERS = (keras.layers.Conv2D, keras.layers.DepthwiseConv2D, keras.layers.SeparableConv2D,
                 keras.layers.Conv2DTranspose, keras.layers.Dense)


@pytest.fixture(scope="module")
def cnn():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(8, 3, padding="same", use_bias=False, name="conv")(inputs)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.ReLU(name="relu")(x)
    x = keras.layers.DepthwiseConv2D(3, strides=2, padding="same", name="depthwise")(x)
    x = keras.layers.SeparableConv2D(16, 3, padding="same", name="separable")(x)
    x = keras.layers.Conv2DTranspose(8, 2, strides=2, name="up")(x)
    x = keras.layers.Conv2D(12, 1, name="pointwise")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    return keras.Model(inputs, keras.layers.Dense(5, name="logits")(x), name="breakdown_cnn")


@pytest.fixture(scope="module")
def flatbuffers(cnn):
    rep = np.random.default_rng(0).uniform(0, 1, (32, 16, 16, 3)).astype(np.float32)
    return {mode: tflite.convert(cnn, mode, representative_data=rep if mode == "int8" else None)
            for mode in ("float32", "float16", "int8")}


def kernel_params(model) -> int:
    """Elements of every conv/dense kernel (no biases, no batch norm): what "weights" holds."""
    return sum(int(np.prod(w.shape)) for layer in model.layers if isinstance(layer, KERNEL_LAYERS)
               for w in layer.weights if "kernel" in w.path)


@pytest.mark.parametrize("mode", ["float32", "float16", "int8"])
def test_parts_sum_to_the_file_size(flatbuffers, mode):
    parts = tflite.size_breakdown(flatbuffers[mode])
    assert tuple(parts) == tflite.SIZE_PARTS
    assert sum(parts.values()) == len(flatbuffers[mode])
    assert all(v >= 0 for v in parts.values())
    assert parts["graph"] > 0


@pytest.mark.parametrize("mode, bytes_per_weight", [("int8", 1), ("float16", 2), ("float32", 4)])
def test_weight_bytes_are_kernel_params_times_the_width(cnn, flatbuffers, mode, bytes_per_weight):
    parts = tflite.size_breakdown(flatbuffers[mode])
    assert parts["weights"] == bytes_per_weight * kernel_params(cnn)


def test_int8_stores_quantization_tables_and_int32_biases(flatbuffers):
    table = tflite.constants(flatbuffers["int8"])
    assert set(table.loc[table["role"] == "weights", "dtype"]) == {"int8"}
    assert set(table.loc[table["role"] == "biases", "dtype"]) == {"int32"}
    assert tflite.size_breakdown(flatbuffers["int8"])["quantization"] > 0
    assert tflite.size_breakdown(flatbuffers["float32"])["quantization"] == 0


def test_float16_kernels_are_found_behind_their_dequantize(flatbuffers):
    table = tflite.constants(flatbuffers["float16"])
    assert set(table.loc[table["role"] == "weights", "dtype"]) == {"float16"}


@pytest.mark.parametrize("mode", ["float32", "int8"])
def test_macs_match_the_keras_count_exactly(cnn, flatbuffers, mode):
    assert tflite.macs(flatbuffers[mode]) == profile.count_macs(cnn)


def test_macs_of_a_one_layer_model_by_hand():
    inputs = keras.Input((6, 6, 2))
    model = keras.Model(inputs, keras.layers.Conv2D(4, 3, name="c")(inputs))
    assert tflite.macs(tflite.convert(model)) == 4 * 4 * 4 * (3 * 3 * 2)  # out 4x4x4, 18 per output


def test_not_a_flatbuffer_is_rejected():
    with pytest.raises(ValueError, match="TFL3"):
        tflite.size_breakdown(b"not a model at all")
