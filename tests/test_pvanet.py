"""Tests for course_lib.pvanet: CReLU layer and blocks, their cost, the cosine observation, hyper-features."""
import keras
import numpy as np
import pytest

from course_lib import profile, pvanet


def _table(model):
    return profile.layer_table(model).set_index("layer")


# --------------------------------------------------------------------------- CReLU layer
def test_crelu_layer_values_and_shape():
    x = np.array([[[[1.0, -2.0, 0.5]]]], np.float32)  # (1, 1, 1, 3)
    out = np.asarray(pvanet.CReLU()(x))
    assert out.shape == (1, 1, 1, 6)
    np.testing.assert_allclose(out[0, 0, 0], [1.0, 0.0, 0.5, 0.0, 2.0, 0.0])
    np.testing.assert_allclose(out, pvanet.crelu(x))


def test_crelu_scale_shift_starts_as_identity_and_has_4c_params():
    layer = pvanet.CReLU(scale_shift=True)
    x = np.random.default_rng(0).normal(size=(2, 4, 4, 5)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(layer(x)), pvanet.crelu(x), atol=1e-6)
    assert sum(int(np.prod(w.shape)) for w in layer.weights) == 4 * 5


def test_numpy_crelu_reference():
    np.testing.assert_array_equal(pvanet.crelu([3.0, -1.0]), [3.0, 0.0, 0.0, 1.0])


def test_crelu_layer_serialises():
    inp = keras.Input((4, 4, 2))
    model = keras.Model(inp, pvanet.CReLU(scale_shift=True, name="c")(inp))
    clone = keras.Model.from_config(model.get_config())
    assert clone.get_layer("c").scale_shift is True
    assert clone.output_shape == (None, 4, 4, 4)


# --------------------------------------------------------------------------- blocks and the twin CNNs
@pytest.mark.parametrize("scale_shift", [False, True])
def test_crelu_twin_has_same_output_widths(scale_shift):
    plain, twin = pvanet.crelu_pair((16, 16, 3), 5, widths=(8, 16, 24), crelu_stages=(0, 1), scale_shift=scale_shift)
    for name in ("pool1", "pool2", "conv3_relu", "logits"):
        assert plain.get_layer(name).output.shape == twin.get_layer(name).output.shape
    assert twin.get_layer("conv1").filters == 4 and twin.get_layer("conv2").filters == 8
    assert twin.get_layer("conv3").filters == 24  # stage 2 is plain
    x = np.zeros((2, 16, 16, 3), np.float32)
    assert np.asarray(twin(x)).shape == (2, 5)


def test_crelu_halves_conv_macs_and_params():
    plain, twin = pvanet.crelu_pair((16, 16, 3), 5, widths=(8, 16, 24), crelu_stages=(0, 1), scale_shift=True)
    tp, tc = _table(plain), _table(twin)
    for conv in ("conv1", "conv2"):
        assert tc.loc[conv, "MACs"] * 2 == tp.loc[conv, "MACs"]
        assert tc.loc[conv, "params"] * 2 == tp.loc[conv, "params"]
    assert tc.loc["conv3", "MACs"] == tp.loc["conv3", "MACs"]
    # the scale/shift costs one multiply-add per output value and 4 weights per computed channel
    assert tc.loc["conv1_crelu", "MACs"] == 16 * 16 * 8
    assert tc.loc["conv1_crelu", "params"] == 4 * 4
    assert profile.count_macs(twin) < profile.count_macs(plain)


def test_crelu_without_scale_costs_nothing_extra():
    _, twin = pvanet.crelu_pair((16, 16, 3), 5, widths=(8, 16), crelu_stages=(0,), scale_shift=False)
    assert _table(twin).loc["conv1_crelu", "MACs"] == 0


def test_conv_cost_matches_profiler():
    for use_crelu, scale in ((False, False), (True, False), (True, True)):
        inp = keras.Input((16, 16, 8))
        out = pvanet.conv_block(inp, 12, use_crelu=use_crelu, scale_shift=scale, name="c")
        model = keras.Model(inp, out)
        table = _table(model)
        expected = pvanet.conv_cost(16, 16, 8, 12, 3, use_crelu=use_crelu, scale_shift=scale)
        crelu_row = ("c_crelu",) if use_crelu else ()
        assert table.loc[["c", *crelu_row], "MACs"].sum() == expected["macs"]
        params = table.loc["c", "params"] + (table.loc["c_crelu", "params"] if use_crelu else 0)
        assert params == expected["params"]
    assert pvanet.conv_cost(8, 8, 4, 6, 3)["macs"] == 9 * 4 * 6 * 64
    assert pvanet.conv_cost(8, 8, 4, 6, 3, use_crelu=True)["macs"] == 9 * 4 * 3 * 64


def test_crelu_errors_are_clear():
    inp = keras.Input((8, 8, 3))
    with pytest.raises(ValueError, match="even number"):
        pvanet.conv_block(inp, 7, use_crelu=True, name="odd")
    with pytest.raises(ValueError, match="stages \\[5\\]"):
        pvanet.cnn((8, 8, 3), 2, widths=(4, 8), crelu_stages=(5,))
    with pytest.raises(ValueError, match="even out_channels"):
        pvanet.conv_cost(8, 8, 3, 5, use_crelu=True)
    with pytest.raises(ValueError, match="height"):
        pvanet.conv_cost(0, 8, 3, 4)


# --------------------------------------------------------------------------- the cosine observation
def test_opposite_partners_hand_example():
    filters = np.array([[1.0, 0.0], [-2.0, 0.0], [0.0, 1.0], [1.0, 1.0]])  # (4 filters, dim 2)
    cos, partner = pvanet.opposite_partners(filters)
    # filter 2 = (0, 1) is orthogonal to filters 0 and 1 and at 45 degrees to filter 3: its minimum is 0
    np.testing.assert_allclose(cos, [-1.0, -1.0, 0.0, -np.sqrt(0.5)], atol=1e-12)
    assert partner.tolist() == [1, 0, 0, 1]
    np.testing.assert_allclose(pvanet.most_negative_cosine(filters), cos)


def test_cosine_of_conv_kernel_uses_last_axis_as_filters():
    rng = np.random.default_rng(0)
    kernel = rng.normal(size=(3, 3, 2, 4))
    kernel[..., 3] = -0.5 * kernel[..., 1]  # filter 3 is filter 1 negated (and scaled)
    cos, partner = pvanet.opposite_partners(kernel)
    assert partner[3] == 1 and partner[1] == 3
    np.testing.assert_allclose(cos[[1, 3]], -1.0, atol=1e-12)
    assert cos.shape == (4,) and np.all(cos >= -1) and np.all(cos <= 1)


def test_cosine_errors_are_clear():
    with pytest.raises(ValueError, match="all zeros"):
        pvanet.opposite_partners(np.array([[1.0, 0.0], [0.0, 0.0]]))
    with pytest.raises(ValueError, match="at least 2 filters"):
        pvanet.opposite_partners(np.ones((1, 3)))
    with pytest.raises(ValueError, match="shape \\(3,\\)"):
        pvanet.opposite_partners(np.ones(3))


def test_random_kernel_like():
    k = pvanet.random_kernel_like(np.zeros((3, 3, 1, 8)), seed=1)
    assert k.shape == (3, 3, 1, 8) and k.std() > 0.5


# --------------------------------------------------------------------------- hyper-features
def test_hyper_feature_model_concatenates_resized_stages():
    model = pvanet.hyper_feature_cnn((32, 32, 1), 6, widths=(4, 8, 12, 16), taps=(1, 2, 3), head_width=8)
    concat = model.get_layer("hyper_concat")
    assert concat.output.shape == (None, 8, 8, 8 + 12 + 16)
    assert model.get_layer("tap2_down2").output.shape == (None, 8, 8, 8)
    assert model.get_layer("tap4_up2").output.shape == (None, 8, 8, 16)
    assert model.output.shape == (None, 6)
    profile.count_macs(model)  # every layer is countable


def test_last_layer_head_is_the_same_head_on_one_map():
    last = pvanet.hyper_feature_cnn((32, 32, 1), 6, widths=(4, 8, 12, 16), taps=None, head_width=8)
    hyper = pvanet.hyper_feature_cnn((32, 32, 1), 6, widths=(4, 8, 12, 16), taps=(1, 2, 3), head_width=8)
    assert last.name == "last_layer_head" and hyper.name == "hyper_feature_head"
    assert last.get_layer("head_conv").input.shape == (None, 4, 4, 16)
    # same backbone and head, the hyper head reads 8 + 12 more channels at 4x the positions
    extra = profile.count_params(hyper) - profile.count_params(last)
    assert extra == (8 + 12) * 8


def test_hyper_feature_errors_are_clear():
    with pytest.raises(ValueError, match="stages \\[7\\]"):
        pvanet.hyper_feature_cnn((32, 32, 1), 6, widths=(4, 8), taps=(0, 7))
    with pytest.raises(ValueError, match="divisible"):
        pvanet.hyper_feature_cnn((30, 30, 1), 6, widths=(4, 8, 12, 16))
    with pytest.raises(ValueError, match="at least one"):
        pvanet.hyper_feature_cnn((32, 32, 1), 6, taps=())


def test_scale_task_is_deterministic_and_labels_the_inside_mark():
    x, y = pvanet.make_scale_task(40, seed=3)
    x2, y2 = pvanet.make_scale_task(40, seed=3)
    np.testing.assert_array_equal(x, x2)
    np.testing.assert_array_equal(y, y2)
    assert x.shape == (40, 32, 32, 1) and x.dtype == np.float32 and y.dtype == np.int64
    assert 0.0 <= x.min() and x.max() <= 1.0
    assert y.min() >= 0 and y.max() < 64 and len(np.unique(y)) > 10
    with pytest.raises(ValueError, match="size >= 24"):
        pvanet.make_scale_task(5, size=16)


def test_locate_head_gives_one_logit_per_cell():
    model = pvanet.hyper_feature_cnn((32, 32, 1), 64, widths=(4, 8, 12, 16), taps=(1, 2, 3), head_width=8,
                                     target_stage=2, head="locate")
    assert model.output.shape == (None, 64)
    last = pvanet.hyper_feature_cnn((32, 32, 1), 64, widths=(4, 8, 12, 16), taps=None, head_width=8,
                                    target_stage=2, head="locate")
    assert last.get_layer("tap4_up2").output.shape == (None, 8, 8, 16)
    with pytest.raises(ValueError, match="64 outputs"):
        pvanet.hyper_feature_cnn((32, 32, 1), 10, widths=(4, 8, 12, 16), target_stage=2, head="locate")
    with pytest.raises(ValueError, match="'classify' or 'locate'"):
        pvanet.hyper_feature_cnn((32, 32, 1), 64, head="segment")
