"""The capstone's pose helpers: dataset, heat-map targets and decoding, PCK, the Stacked Hourglass builder,
channel pruning of its MobileNetV2 blocks, and int8 conversion of the light model."""
import json

import keras
import numpy as np
import pytest

from course_lib import data, pose, profile, prune


# --------------------------------------------------------------------------- dataset
@pytest.fixture(scope="module")
def small_poses():
    return data._make_poses(120, np.random.default_rng(7))


def test_poses_are_deterministic_and_shaped(small_poses):
    x, p = small_poses
    x2, p2 = data._make_poses(120, np.random.default_rng(7))
    assert x.shape == (120, 64, 64, 3) and x.dtype == np.uint8
    assert p.shape == (120, 16, 3) and p.dtype == np.float32
    assert np.array_equal(x, x2) and np.array_equal(p, p2)


def test_visibility_flags(small_poses):
    _, p = small_poses
    outside = np.any((p[..., :2] < 0) | (p[..., :2] >= 64), -1)
    assert np.all(p[outside, 2] == 0), "a joint outside the image must be flagged invisible"
    occluded = (p[..., 2] == 0) & ~outside
    assert occluded.any(), "some joints should be hidden by occluders"
    assert 0.8 < p[..., 2].mean() < 0.98


def test_left_and_right_limbs_have_different_colours(small_poses):
    """Right limbs warm (red > blue), left limbs cool (blue > red), sampled at the middle of the shins."""
    x, p = small_poses
    img = x.astype(float) / 255
    diffs = {}
    for side, (a, b) in (("right", (0, 1)), ("left", (5, 4))):
        ok = (p[:, a, 2] > 0) & (p[:, b, 2] > 0)
        mid = ((p[ok, a, :2] + p[ok, b, :2]) / 2).astype(int)
        rgb = img[np.flatnonzero(ok), mid[:, 1], mid[:, 0]]
        diffs[side] = np.median(rgb[:, 0] - rgb[:, 2])
    assert diffs["right"] > 0.2 and diffs["left"] < -0.2, diffs


def test_generate_poses_writes_a_manifest_and_refuses_a_changed_file(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "POSE_SIZES", {"train": 40, "test": 10})
    path = data.generate("poses", data_dir=tmp_path)
    entry = json.loads((tmp_path / "manifest.json").read_text())["poses"]
    assert entry["sha256"] == data.sha256(path) and entry["sizes"] == {"train": 40, "test": 10}
    (x_tr, y_tr), (x_te, y_te) = data.load("poses", fast=False, data_dir=tmp_path)
    assert x_tr.shape == (40, 64, 64, 3) and y_tr.shape == (40, 16, 3) and y_tr.dtype == np.float32
    assert x_tr.max() <= 1.0 and x_te.shape[0] == 10
    with pytest.raises(data.DataError, match="already exists"):
        data.generate("poses", data_dir=tmp_path)
    with open(path, "ab") as handle:
        handle.write(b"tampered")
    with pytest.raises(data.DataError, match="does not match its manifest"):
        data.load("poses", data_dir=tmp_path)


# --------------------------------------------------------------------------- targets, decoding, PCK
def test_heatmap_peak_sits_on_the_joint():
    poses = np.array([[[10.0, 30.0, 1.0]] * 16], np.float32)
    maps = pose.heatmaps(poses)
    assert maps.shape == (1, 16, 16, 16)
    # x = 10 -> heat-map 10/4 - 0.5 = 2.0; y = 30 -> 7.0: the peak is exactly 1 there.
    assert maps[0, 7, 2, 0] == pytest.approx(1.0)
    assert np.unravel_index(maps[0, ..., 0].argmax(), (16, 16)) == (7, 2)


def test_joint_outside_the_image_gets_an_empty_map():
    poses = np.zeros((1, 16, 3), np.float32) + 20
    poses[0, 3, :2] = (-5, 20)
    maps = pose.heatmaps(poses)
    assert maps[0, ..., 3].max() == 0 and maps[0, ..., 2].max() > 0.5


def test_decode_round_trip_within_one_pixel_inside_and_half_a_cell_on_the_border():
    rng = np.random.default_rng(0)
    poses = np.concatenate([rng.uniform(2, 62, (200, 16, 2)), np.ones((200, 16, 1))], -1).astype(np.float32)
    coords, peaks = pose.decode(pose.heatmaps(poses))
    err = np.abs(coords - poses[..., :2])
    inner = np.all((poses[..., :2] > 8) & (poses[..., :2] < 56), -1)   # peak away from the map's border
    assert err[inner].max() <= 1.0 + 1e-5, err[inner].max()
    assert err.max() <= 2.0 + 1e-5, err.max()                         # no shift on the border: <= stride / 2
    assert peaks.min() > 0.5


def test_decode_quarter_shift_goes_towards_the_higher_neighbour():
    maps = np.zeros((1, 5, 5, 1), np.float32)
    maps[0, 2, 2, 0] = 1.0
    maps[0, 2, 3, 0] = 0.6   # right neighbour higher than left
    maps[0, 1, 2, 0] = 0.3   # upper neighbour higher than lower
    coords, _ = pose.decode(maps, stride=4)
    assert coords[0, 0].tolist() == [(2 + 0.25 + 0.5) * 4, (2 - 0.25 + 0.5) * 4]


def test_pck_hand_computed():
    true = np.zeros((1, 16, 3), np.float32)
    true[0, :, 0] = np.linspace(0, 50, 16)      # bounding box 50 wide, 0 high -> size 50
    true[0, :, 2] = 1
    true[0, 15, 2] = 0                          # one hidden joint: not counted
    pred = true[..., :2].copy()
    pred[0, 0, 0] += 9.0                         # 9 px off: correct at 0.2 (10 px), wrong at 0.1 (5 px)
    pred[0, 1, 1] += 11.0                        # 11 px off: wrong at both
    pred[0, 15, 0] += 40                         # hidden, ignored
    at2, at1 = pose.pck(pred, true, 0.2), pose.pck(pred, true, 0.1)
    assert at2["overall"] == pytest.approx(14 / 15)
    assert at1["overall"] == pytest.approx(13 / 15)
    assert at2["per_joint"][0] == 1 and at1["per_joint"][0] == 0 and at2["per_joint"][1] == 0
    table = pose.pck_table(pred, true)
    assert table.loc["all", "PCK@0.2 %"] == pytest.approx(93.3)


def test_pck_rejects_bad_shapes():
    with pytest.raises(ValueError, match="predictions have shape"):
        pose.pck(np.zeros((2, 15, 2)), np.zeros((2, 16, 3)))
    with pytest.raises(ValueError, match="visibility"):
        pose.pck(np.zeros((2, 16, 2)), np.zeros((2, 16, 2)))
    with pytest.raises(ValueError, match="alpha"):
        pose.pck(np.zeros((2, 16, 2)), np.zeros((2, 16, 3)), alpha=0)


def test_decode_follows_newells_border_rule():
    """pose-hg-train src/util/pose.lua: the quarter-pixel shift only when the argmax is inside the map on
    both axes; a peak on any border is not moved, on either axis. Non-square maps keep (x, y) = (column, row)."""
    maps = np.zeros((3, 4, 7, 1), np.float32)
    maps[0, 0, 3, 0], maps[0, 0, 4, 0], maps[0, 1, 3, 0] = 1.0, 0.6, 0.5   # top border: no shift in x either
    maps[1, 2, 6, 0], maps[1, 2, 5, 0], maps[1, 3, 6, 0] = 1.0, 0.9, 0.4   # right border
    maps[2, 2, 3, 0], maps[2, 2, 4, 0], maps[2, 1, 3, 0] = 1.0, 0.6, 0.5   # inside: shift right and up
    coords, peaks = pose.decode(maps, stride=4)
    assert coords[:, 0].tolist() == [[14, 2], [26, 10], [15, 9]] and peaks[:, 0].tolist() == [1, 1, 1]


def test_decode_takes_the_first_argmax_on_a_tie():
    maps = np.zeros((1, 5, 6, 1), np.float32)
    maps[0, 1, 4, 0] = maps[0, 3, 1, 0] = 1.0
    assert pose.decode(maps, stride=1)[0][0, 0].tolist() == [4.5, 1.5]


def test_decode_refuses_channels_first_empty_and_invalid_maps():
    with pytest.raises(ValueError, match="channels-first"):
        pose.decode(np.zeros((2, 16, 64, 64)))
    with pytest.raises(ValueError, match=r"channels first\? use maps.transpose"):
        pose.decode(np.zeros((2, 16, 32, 32)), joints=16)
    assert pose.decode(np.zeros((2, 16, 64, 64)), joints=64)[0].shape == (2, 64, 2)   # joints= overrides
    with pytest.raises(ValueError, match="no empty axis"):
        pose.decode(np.zeros((0, 16, 16, 16)))
    with pytest.raises(ValueError, match="NaN or inf"):
        pose.decode(np.full((1, 16, 16, 16), np.nan))
    for stride in (0, -4, np.nan, np.inf, True):
        with pytest.raises(ValueError, match="stride"):
            pose.decode(np.zeros((1, 16, 16, 16)), stride=stride)


@pytest.mark.parametrize("kwargs, message", [
    (dict(sigma=np.nan), "sigma"), (dict(sigma=np.inf), "sigma"), (dict(sigma=-1.0), "sigma"),
    (dict(stride=np.nan), "stride"), (dict(stride=-4), "stride"), (dict(stride=np.inf), "stride"),
    (dict(size=16.0), "size must be a whole number"), (dict(size=True), "size"), (dict(size=0), "size"),
])
def test_heatmaps_reject_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        pose.heatmaps(np.full((1, 16, 3), 20.0, np.float32), **kwargs)


def test_a_nan_joint_is_missing_not_poison():
    poses = np.full((2, 16, 3), 1.0, np.float32)
    poses[:, :, 0], poses[:, :, 1] = np.linspace(10, 50, 16), 30
    poses[0, 4, :2] = np.nan
    maps = pose.heatmaps(poses)
    assert np.isfinite(maps).all() and maps[0, ..., 4].max() == 0 and maps[0, ..., 3].max() > 0.5
    pred = poses[..., :2].copy()
    pred[0, 4] = 0
    res = pose.pck(pred, poses)
    assert res["overall"] == 1.0 and res["counted"] == 31 and not res["correct"][0, 4]
    assert pose.bbox_size(poses).tolist() == [40, 40]
    poses[0, 15, 0] = np.inf   # inf is missing too: it does not stretch the box to infinity
    assert pose.bbox_size(poses)[0] == pytest.approx(40 * 14 / 15, rel=1e-6)


def test_pck_without_visible_joints_is_nan_not_zero():
    poses = np.full((2, 16, 3), 1.0, np.float32)
    poses[:, :, 0] = np.linspace(10, 50, 16)
    poses[1, :, 2] = 0                           # figure 1 has no visible joint: excluded
    res = pose.pck(poses[..., :2], poses)
    assert res["overall"] == 1.0 and res["per_figure"][0] == 1.0 and np.isnan(res["per_figure"][1])
    poses[0, 3, 2] = 0                           # joint 3 visible nowhere
    assert np.isnan(pose.pck(poses[..., :2], poses)["per_joint"][3])
    poses[..., 2] = 0
    assert np.isnan(pose.pck(poses[..., :2], poses)["overall"])
    with pytest.raises(ValueError, match="empty"):
        pose.pck(np.zeros((0, 16, 2)), np.zeros((0, 16, 3)))


def test_pck_counts_a_joint_exactly_at_the_threshold():
    poses = np.zeros((1, 2, 3), np.float32)
    poses[0, 1, 0], poses[..., 2] = 40, 1        # box 40 x 0: threshold 8 at 0.2
    pred = poses[..., :2] + np.array([[8.0, 0.0], [0.0, 8.0]], np.float32)
    assert pose.pck(pred, poses, 0.2)["overall"] == 1.0


def test_pck_table_works_for_any_number_of_joints():
    poses = np.ones((3, 5, 3), np.float32)
    poses[:, :, 0] = np.arange(5) * 10
    pred = poses[..., :2].copy()
    pred[:, 2, 1] += 30
    table = pose.pck_table(pred, poses)
    assert list(table.index) == ["joint 0", "joint 1", "joint 2", "joint 3", "joint 4", "all"]
    assert table.loc["joint 2", "PCK@0.2 %"] == 0 and table.loc["all", "PCK@0.2 %"] == 80
    named = pose.pck_table(pred, poses, names=list("abcde"))
    assert list(named.index[:5]) == list("abcde")


# --------------------------------------------------------------------------- diagnostics
def _figure(n=1):
    """n figures: 16 visible joints on a 40 x 40 box (threshold 8 px at 0.2), left/right apart."""
    poses = np.ones((n, 16, 3), np.float32)
    poses[:, :, 0] = 10 + 40 * (np.arange(16) % 4) / 3
    poses[:, :, 1] = 10 + 40 * (np.arange(16) // 4) / 3
    return poses


def test_scores_and_pck_by_visibility():
    poses = _figure(2)
    poses[0, 0, 2] = 0                           # occluded (inside the image)
    poses[1, 1, :] = (70, 20, 0)                 # outside the image: neither visible nor occluded
    pred = poses[..., :2].copy()
    pred[0, 0] += 20                             # the occluded joint placed 20 px off
    pred[1, 2] += 20                             # one visible joint wrong
    assert pose.scores(pred, poses) == {"PCK@0.2": 29 / 30, "PCK@0.1": 29 / 30}
    assert pose.scores(pred, poses, alphas=(0.5,)) == {"PCK@0.5": 1.0}
    res = pose.pck_by_visibility(pred, poses)
    assert res == {"visible": 29 / 30, "visible joints": 30, "occluded": 0.0, "occluded joints": 1}
    assert np.isnan(pose.pck_by_visibility(pred, _figure(2))["occluded"])


def test_per_joint_table_puts_models_side_by_side():
    poses = _figure(2)
    good, bad = poses[..., :2].copy(), poses[..., :2].copy()
    bad[:, 9] += 20
    table = pose.per_joint_table({"baseline": good, "final": bad}, poses)
    assert list(table.columns) == ["baseline", "final"] and len(table) == 17
    assert table.loc["head_top"].tolist() == [100, 0] and table.loc["all", "final"] == pytest.approx(93.8)


def test_left_right_pairs_come_from_the_joint_names():
    assert pose.left_right_pairs() == [(3, 2), (4, 1), (5, 0), (13, 12), (14, 11), (15, 10)]
    assert pose.left_right_pairs(["l_eye", "nose", "r_eye", "l_ear"]) == [(0, 2)]


def test_swap_rate_hand_built():
    poses = _figure(2)
    pred = poses[..., :2].copy()
    pred[0, [3, 2]] = poses[0, [2, 3], :2]        # hips swapped exactly
    pred[1, 15] = poses[1, 10, :2] + [3, 0]       # left wrist near the right wrist, right wrist right:
    # the swapped assignment's right wrist is 18.9 px off (> 8): not a swap, just a wrong left wrist
    assert pose.swap_rate(pred, poses) == pytest.approx(1 / 12)
    poses[0, 3, 2] = 0                            # the swapped pair no longer counts (a hip hidden)
    assert pose.swap_rate(pred, poses) == 0.0
    poses[..., 2] = 0
    assert np.isnan(pose.swap_rate(pred, poses))
    with pytest.raises(ValueError, match="left/right"):
        pose.swap_rate(np.zeros((1, 3, 2)), np.ones((1, 3, 3)))


def test_worst_cases_rank_by_mean_normalised_error():
    poses = _figure(4)
    pred = poses[..., :2].copy()
    pred[1, :] += 4                               # every joint 5.7 px off
    pred[2, 0, 0] += 40                           # one joint 40 px off: mean 2.5 px
    pred[3, :] += 40
    poses[3, :, 2] = 0                            # ... but no visible joint: never chosen
    assert pose.worst_cases(pred, poses, 2).tolist() == [1, 2]
    assert pose.worst_cases(pred, poses, 10).tolist() == [1, 2, 0]
    err = pose.normalised_errors(pred, poses)
    assert err[2, 0] == pytest.approx(1.0) and err[0].max() == 0
    with pytest.raises(ValueError, match="k must be"):
        pose.worst_cases(pred, poses, 2.0)


# --------------------------------------------------------------------------- builder
def _trainable(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


def _residual_params(c_in, c_out):
    """Newell's residual module: BN (2 trainable per channel) + three convs with bias (+ 1x1 skip)."""
    m = c_out // 2
    p = 2 * c_in + (c_in * m + m) + 2 * m + (9 * m * m + m) + 2 * m + (m * c_out + c_out)
    return p + (c_in * c_out + c_out if c_in != c_out else 0)


def test_fused_batch_norm_matches_keras_batch_norm():
    """The hourglass's batch norm: the same output and gradients as Keras' layer in training; the moving
    variance is updated with the unbiased batch variance (n/(n-1)); inference is Keras' own path; one op."""
    import tensorflow as tf

    rng = np.random.default_rng(0)
    x = tf.constant(rng.normal(2, 3, (4, 6, 5, 8)).astype("float32"))
    upstream = tf.constant(rng.normal(size=x.shape).astype("float32"))
    plain, fused = keras.layers.BatchNormalization(momentum=0.9), pose.FusedBatchNorm(momentum=0.9)
    results = []
    for layer in (plain, fused):
        layer.build(x.shape)
        layer.gamma.assign(np.linspace(0.5, 1.5, 8))
        layer.beta.assign(np.linspace(-1, 1, 8))
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x, training=True)
            loss = tf.reduce_sum(y * upstream)
        grads = tape.gradient(loss, [x] + layer.trainable_variables)
        results.append([y, *grads, layer.moving_mean, layer.moving_variance])
    for name, a, b in zip(("output", "dx", "dgamma", "dbeta", "moving mean"), results[0], results[1]):
        np.testing.assert_allclose(np.asarray(b), np.asarray(a), atol=2e-5, err_msg=name)
    n = 4 * 6 * 5
    update_plain = np.asarray(results[0][-1]) - 0.9      # moving variance starts at 1: 0.1 * batch variance
    update_fused = np.asarray(results[1][-1]) - 0.9
    np.testing.assert_allclose(update_fused, update_plain * n / (n - 1), rtol=1e-5)
    twin = keras.layers.BatchNormalization(momentum=0.9)
    twin.build(x.shape)
    twin.set_weights(fused.get_weights())   # inference: Keras' arithmetic with the fused layer's statistics
    np.testing.assert_allclose(np.asarray(fused(x, training=False)), np.asarray(twin(x, training=False)), atol=1e-6)
    graph = tf.function(lambda z: fused(z, training=True)).get_concrete_function(x).graph
    assert [op.type for op in graph.get_operations()].count("FusedBatchNormV3") == 1
    frozen = pose.FusedBatchNorm(momentum=0.9)
    frozen.build(x.shape)
    frozen.trainable = False                 # a frozen layer normalises with its moving statistics
    np.testing.assert_allclose(np.asarray(frozen(x, training=True)), np.asarray(frozen(x, training=False)))


def test_hourglass_uses_fused_batch_norm_and_survives_from_config():
    model = pose.stacked_hourglass(stacks=1, depth=1, features=16, stem_widths=(8, 16), block="inverted", expansion=2)
    norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert norms and all(isinstance(layer, pose.FusedBatchNorm) for layer in norms)
    copy = keras.Model.from_config(model.get_config())
    assert all(isinstance(layer, pose.FusedBatchNorm) for layer in copy.layers
               if isinstance(layer, keras.layers.BatchNormalization))


def test_newell_settings_give_the_published_parameter_count():
    """8 stacks, 256 features, 256x256 input, 16 joints: 25,434,112 trainable parameters, as the layer list
    of Newell's Torch code gives. The Fast Pose Distillation reference code reports 25.59 M because its
    second stem module outputs 256 channels instead of 128: +160,512 parameters = 25,594,624."""
    model = pose.stacked_hourglass((256, 256, 3), 16, stacks=8, depth=4, features=256, stem_widths=(64, 128))
    assert _trainable(model) == 25_434_112
    assert len(model.outputs) == 8 and tuple(model.outputs[-1].shape) == (None, 64, 64, 16)
    wider_stem = (_residual_params(128, 256) + _residual_params(256, 256)
                  - _residual_params(128, 128) - _residual_params(128, 256))
    assert 25_434_112 + wider_stem == 25_594_624


def test_small_hourglass_shapes_and_hand_count():
    model = pose.stacked_hourglass()   # 64x64 input, 2 stacks, depth 3, 64 features, stem (32, 64)
    assert [tuple(o.shape) for o in model.outputs] == [(None, 16, 16, 16)] * 2
    f, j = 64, 16
    stem = 7 * 7 * 3 * 32 + 32 + 2 * 32 + _residual_params(32, 64) + 2 * _residual_params(64, 64)
    per_stack = (3 * 3 + 1 + 1) * _residual_params(f, f) + (f * f + f + 2 * f) + (f * j + j)
    between = (f * f + f) + (j * f + f)
    assert _trainable(model) == stem + 2 * per_stack + between


def test_each_option_changes_what_it_should():
    base = dict(features=64, block="inverted", expansion=2)
    plain = pose.stacked_hourglass(**base)
    assert {type(l).__name__ for l in plain.layers} >= {"DepthwiseConv2D", "NearestUpsample", "MaxPooling2D"}
    # CReLU stem: the 7x7 conv computes 16 channels instead of 32 (+ BN on 16, + scale/shift on 32).
    crelu = pose.stacked_hourglass(**base, crelu_stem=True)
    saved = (7 * 7 * 3 * 32 + 32 + 4 * 32) - (7 * 7 * 3 * 16 + 16 + 4 * 16 + 2 * 32)
    assert plain.count_params() - crelu.count_params() == saved
    # MACs: half the 7x7 conv's output channels (16 of 32 at 32x32), minus CReLU's scale/shift (one per output value).
    assert profile.count_macs(plain) - profile.count_macs(crelu) == 32 * 32 * 7 * 7 * 3 * 16 - 32 * 32 * 32
    # Hyper-feature head: per stack a 1x1 conv from 3 * 64 concatenated channels + BN.
    hyper = pose.stacked_hourglass(**base, hyper_head=True)
    assert hyper.count_params() - plain.count_params() == 2 * (3 * 64 * 64 + 64 + 4 * 64)
    assert any(l.name == "hg2_hyper_concat" for l in hyper.layers)
    one = pose.stacked_hourglass(**base, stacks=1)
    assert len(one.outputs) == 1


@pytest.mark.parametrize("kwargs, message", [
    (dict(block="dense"), "block must be"),
    (dict(stacks=0), "stacks must be >= 1"),
    (dict(input_shape=(60, 60, 3)), "divisible"),
    (dict(input_shape=(64, 60, 3)), "input width 60 must be divisible"),
    (dict(input_shape=(48, 64, 3), depth=3), "input height 48 must be divisible"),
    (dict(input_shape=(64.0, 64, 3)), "input_shape height must be a whole number"),
    (dict(features=64.0), "features must be a whole number"),
    (dict(stacks=True), "stacks must be a whole number"),
    (dict(depth=2.5), "depth must be a whole number"),
    (dict(joints=16.0), "joints must be a whole number"),
    (dict(expansion=4.0, block="inverted"), "expansion must be a whole number"),
    (dict(block="inverted", features=60), "multiples of 8"),
    (dict(stem_widths=(32,)), "stem_widths"),
])
def test_builder_rejects_bad_options(kwargs, message):
    with pytest.raises(ValueError, match=message):
        pose.stacked_hourglass(**kwargs)


# --------------------------------------------------------------------------- pruning
def test_prune_hidden_channels_is_exact_when_the_dropped_channels_are_silenced():
    config = dict(features=16, stem_widths=(16, 16), stacks=1, depth=2, block="inverted", expansion=4,
                  input_shape=(32, 32, 3))
    keras.utils.set_random_seed(0)
    model = pose.stacked_hourglass(**config)
    small, kept = pose.prune_hidden_channels(model, 0.5, config)
    assert all(w == 32 for w in pose.hidden_widths(small).values())
    assert profile.count_macs(small) < profile.count_macs(model)
    # Silence the dropped hidden channels in the original (zero their projection weights): same outputs.
    for block, (idx,) in kept.items():
        layer = model.get_layer(f"{block}_project")
        w = layer.get_weights()
        drop = np.setdiff1d(np.arange(w[0].shape[2]), idx)
        w[0][:, :, drop, :] = 0
        layer.set_weights(w)
    x = np.random.default_rng(0).random((2, 32, 32, 3)).astype(np.float32)
    np.testing.assert_allclose(small.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-4, atol=1e-4)


def test_prune_hidden_channels_of_residual_modules_is_exact_when_silenced():
    """Residual modules: both bottleneck layers lose channels (each ranked on its own); silencing the
    dropped channels' outgoing weights in the original gives the pruned model's output exactly."""
    config = dict(features=16, stem_widths=(16, 16), stacks=1, depth=2, input_shape=(32, 32, 3))
    keras.utils.set_random_seed(0)
    model = pose.stacked_hourglass(**config)
    for layer in model.layers:   # random batch-norm statistics, so every criterion ranks differently
        if isinstance(layer, keras.layers.BatchNormalization):
            rng = np.random.default_rng(len(layer.name))
            g, b, m, v = layer.get_weights()
            layer.set_weights([rng.normal(1, 0.5, g.shape), rng.normal(0, 0.2, b.shape), rng.normal(0, 0.2, m.shape),
                               rng.uniform(0.5, 2, v.shape)])
    for criterion in pose.PRUNING_CRITERIA:
        small, kept = pose.prune_hidden_channels(model, 0.5, config, criterion=criterion)
        assert all(w == 4 for w in pose.hidden_widths(small).values())
        assert profile.count_macs(small) < profile.count_macs(model)
        silenced = keras.models.clone_model(model)
        silenced.set_weights(model.get_weights())
        for block, (k1, k2) in kept.items():
            for conv, idx in ((f"{block}_conv2", k1), (f"{block}_conv3", k2)):
                w = silenced.get_layer(conv).get_weights()
                w[0][:, :, np.setdiff1d(np.arange(w[0].shape[2]), idx), :] = 0
                silenced.get_layer(conv).set_weights(w)
        x = np.random.default_rng(0).random((2, 32, 32, 3)).astype(np.float32)
        np.testing.assert_allclose(small.predict(x, verbose=0), silenced.predict(x, verbose=0), rtol=1e-4, atol=1e-4)


def test_channel_scores_gamma_ranks_by_batch_norm_scale_and_l1_is_scale_blind():
    config = dict(features=16, stem_widths=(16, 16), stacks=1, depth=2, input_shape=(32, 32, 3))
    keras.utils.set_random_seed(0)
    model = pose.stacked_hourglass(**config)
    bn = model.get_layer("hg1_bottom_bn2")
    g, b, m, v = bn.get_weights()
    g = np.linspace(0.1, 2.0, g.size).astype(np.float32)
    bn.set_weights([g, b, m, v])
    gamma = pose.channel_scores(model, "gamma")["hg1_bottom"][0]
    np.testing.assert_allclose(gamma, g, rtol=1e-6)
    # Doubling a conv1 filter doubles its L1 norm, but the batch norm after it cancels the scale.
    conv = model.get_layer("hg1_bottom_conv1")
    w = conv.get_weights()
    before = pose.channel_scores(model, "l1")["hg1_bottom"][0]
    w[0][..., 0] *= 2
    conv.set_weights(w)
    assert pose.channel_scores(model, "l1")["hg1_bottom"][0][0] == pytest.approx(2 * before[0])
    with pytest.raises(ValueError, match="criterion"):
        pose.channel_scores(model, "l2")


def test_truncate_stacks_keeps_the_first_stack_exactly():
    config = dict(features=16, stem_widths=(16, 16), stacks=2, depth=2, input_shape=(32, 32, 3), hyper_head=True)
    model = pose.stacked_hourglass(**config)
    one = pose.truncate_stacks(model, 1, config)
    x = np.random.default_rng(1).random((2, 32, 32, 3)).astype(np.float32)
    np.testing.assert_allclose(one.predict(x, verbose=0), model.predict(x, verbose=0)[0], rtol=1e-5, atol=1e-5)


def test_transfer_sliced_weights_names_a_mismatch():
    a = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, name="d")])
    b = keras.Sequential([keras.Input((4,)), keras.layers.Dense(6, name="d")])
    with pytest.raises(prune.PruningError, match="layer 'd'"):
        prune.transfer_sliced_weights(a, b, {})
    prune.transfer_sliced_weights(a, b, {"d": np.array([0, 1, 2, 3, 4, 7])})
    np.testing.assert_array_equal(b.get_layer("d").get_weights()[0], a.get_layer("d").get_weights()[0][:, [0, 1, 2, 3, 4, 7]])


# --------------------------------------------------------------------------- block MACs (09 Ex3's answers)
from course_lib import checks  # noqa: E402


def test_block_macs_exercise_values():
    residual = 16 * 16 * (64 * 32 + 9 * 32 * 32 + 32 * 64)
    inverted = 16 * 16 * (32 * 128 + 9 * 128 + 128 * 32)
    assert pose.block_macs("residual", 16, 64) == residual
    assert pose.block_macs("inverted", 16, 32, expansion=4) == inverted
    with checks.lenient():
        assert checks.check_int("residual", residual, pose.block_macs("residual", 16, 64))
        assert not checks.check_int("residual", 16 * 16 * (64 * 32 + 32 * 32 + 32 * 64), pose.block_macs("residual", 16, 64))
        assert not checks.check_int("residual", 16 * 16 * 9 * 64 * 64, pose.block_macs("residual", 16, 64))
        assert not checks.check_int("inverted", 16 * 16 * (32 * 128 + 128 * 32), inverted)   # depthwise forgotten
        assert not checks.check_int("inverted", 16 * 16 * (32 * 128 + 9 * 128 * 128 + 128 * 32), inverted)  # 3x3 as a full conv


def test_compare_models_runs_each_flatbuffer():
    from course_lib import tflite

    config = dict(features=16, stem_widths=(16, 16), stacks=1, depth=2, input_shape=(32, 32, 3))
    model = pose.inference_model(pose.stacked_hourglass(**config))
    fb = tflite.convert(model, "float32")
    image = np.random.default_rng(0).random((32, 32, 3)).astype(np.float32)
    res = pose.compare_models({"a": fb}, image, repeats=3)
    assert res["a"]["joints"].shape == (16, 2) and res["a"]["ms"] > 0
    with pytest.raises(ValueError, match="image must have shape"):
        pose.compare_models({"a": fb}, image[None])


def test_int8_conversion_of_the_final_model_is_integer_only_and_keeps_the_peaks():
    """The capstone's final architecture (MobileNetV2 blocks, CReLU stem, hyper-feature head, one stack,
    pruned hidden layers) converts to a full-integer flatbuffer whose upsampling is one int8
    RESIZE_NEAREST_NEIGHBOR op, and whose heat-map peaks sit where the float model's are (within a few
    quantization steps)."""
    from course_lib import tflite

    config = dict(features=16, stem_widths=(16, 16), stacks=1, depth=2, block="inverted", expansion=4,
                  crelu_stem=True, hyper_head=True, input_shape=(32, 32, 3))
    keras.utils.set_random_seed(1)
    model, _ = pose.prune_hidden_channels(pose.stacked_hourglass(**config), 0.5, config)
    head = model.get_layer("heatmaps1")   # zero-initialised for training; give it weights for the test
    head.set_weights([np.random.default_rng(0).normal(0, 0.3, w.shape).astype(np.float32) for w in head.get_weights()])
    x = np.random.default_rng(2).random((64, 32, 32, 3)).astype(np.float32)
    fb = tflite.convert(pose.inference_model(model), "int8", representative_data=x[:48])
    info = tflite.summary(fb)
    assert info.integer_only and info.input["dtype"] == "int8" and info.output["dtype"] == "int8"
    assert "RESIZE_NEAREST_NEIGHBOR" in info.operators and "TILE" not in info.operators, info.operators
    fp32 = model.predict(x[48:], verbose=0)
    q = tflite.run(fb, x[48:])
    scale = info.output["quantization"][0]
    flat32, flatq = fp32.reshape(16, -1, 16), q.reshape(16, -1, 16)
    at_int8_peak = np.take_along_axis(flat32, flatq.argmax(1)[:, None], 1)[:, 0]
    assert np.mean(at_int8_peak >= flat32.max(1) - 3 * scale) >= 0.95


def test_stack_outputs_match_the_model_and_follow_its_current_weights():
    """The compiled forward pass (shared per architecture) gives each model's own maps, padding a short
    last batch; ``stacks`` keeps only the asked stacks; an out-of-range stack is refused by name."""
    tiny = dict(input_shape=(16, 16, 3), joints=4, stacks=2, depth=1, features=8, stem_widths=(4, 8))
    keras.utils.set_random_seed(0)
    a, b = pose.stacked_hourglass(**tiny, name="a"), pose.stacked_hourglass(**tiny, name="b")
    for layer in b.layers:  # different weights, same architecture: the shared copy must not mix them up
        if layer.name.startswith("heatmaps"):
            layer.kernel.assign(np.random.default_rng(1).normal(0, 0.3, layer.kernel.shape))
    x = np.random.default_rng(2).uniform(0, 1, (7, 16, 16, 3)).astype(np.float32)
    for model in (a, b, a):
        want = [np.asarray(o) for o in model(x, training=False)]
        got = pose.stack_outputs(model, x, batch_size=3)
        assert len(got) == 2 and all(g.shape == w.shape for g, w in zip(got, want))
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)
        last = pose.stack_outputs(model, x, batch_size=3, stacks=[-1])
        assert len(last) == 1
        np.testing.assert_allclose(last[0], want[-1], rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="'a' has 2 stack output"):
        pose.stack_outputs(a, x, stacks=[2])
    for bad in (-1, [1.5], [True], "1"):
        with pytest.raises(ValueError, match="list of stack indices"):
            pose.stack_outputs(a, x, stacks=bad)


# --------------------------------------------------------------------------- bad arguments (issue #29)
TINY = dict(input_shape=(16, 16, 3), features=8, stem_widths=(8, 8), stacks=2, depth=1)


@pytest.fixture(scope="module")
def tiny():
    """A 2-stack hourglass on 16x16 images (4x4 maps), four images with their poses."""
    keras.utils.set_random_seed(0)
    model = pose.stacked_hourglass(**TINY)
    rng = np.random.default_rng(0)
    x = rng.random((4, 16, 16, 3)).astype(np.float32)
    poses = np.concatenate([rng.uniform(0, 16, (4, 16, 2)), np.ones((4, 16, 1))], -1).astype(np.float32)
    return model, x, poses


def _nan_at(array):
    bad = np.array(array, np.float32)
    bad.flat[0] = np.nan
    return bad


@pytest.mark.parametrize("kwargs, message", [
    (dict(learning_rate=-1e-3), "learning_rate must be a finite number > 0"),
    (dict(learning_rate=0), "learning_rate must be a finite number > 0"),
    (dict(learning_rate=float("nan")), "learning_rate must be a finite number > 0"),
    (dict(learning_rate=float("inf")), "learning_rate must be a finite number > 0"),
    (dict(learning_rate="1e-3"), "learning_rate must be a number"),
    (dict(alphas=0.2), "alphas must be a list"),
    (dict(alphas=()), "alphas is empty"),
])
def test_train_refuses_a_bad_learning_rate_or_alphas(tiny, kwargs, message):
    model, x, poses = tiny
    before = [w.copy() for w in model.get_weights()]
    with pytest.raises(ValueError, match=message):
        pose.train(model, x, poses, 1, batch_size=2, verbose=False, **kwargs)
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))


def test_train_refuses_non_finite_or_malformed_data(tiny):
    model, x, poses = tiny
    targets = pose.heatmaps(poses, size=4, stride=4)
    cases = [
        (dict(x=_nan_at(x)), r"x contains 1 NaN or inf"),
        (dict(poses=None, targets=_nan_at(targets)), r"targets contains 1 NaN or inf"),
        (dict(x=x[:0], poses=None, targets=targets[:0]), r"x is empty"),
        (dict(poses=poses[:, :15]), r"poses have 15 joints, model '.*' outputs 16"),
        (dict(x="images"), r"x must be an array of numbers, got str"),
        (dict(x=[[1.0, 2.0], [3.0]]), r"x must be an array of numbers, but its rows have different lengths"),
        (dict(poses="poses"), r"poses must be an array of numbers"),
        (dict(poses=None, targets="maps"), r"targets must be an array of numbers"),
        (dict(poses=None), r"one pose per image"),
    ]
    for change, message in cases:
        args = {"x": x, "poses": poses, **change}
        with pytest.raises(ValueError, match=message):
            pose.train(model, args.pop("x"), args.pop("poses"), 1, batch_size=2, verbose=False, **args)
    assert all(np.isfinite(w).all() for w in model.get_weights())


def test_decode_infers_joints_only_when_the_shape_is_unambiguous():
    with pytest.raises(ValueError, match=r"\(1, 16, 8, 12\) are not square.*pass joints="):
        pose.decode(np.zeros((1, 16, 8, 12)))
    assert pose.decode(np.zeros((1, 16, 8, 12)), joints=12)[0].shape == (1, 12, 2)
    assert pose.decode(np.zeros((1, 16, 16, 8)))[0].shape == (1, 8, 2)       # square maps: 8 joints
    assert pose.decode(np.zeros((1, 5, 6, 1)))[0].shape == (1, 1, 2)         # one joint
    with pytest.raises(ValueError, match="channels-first"):
        pose.decode(np.zeros((1, 8, 16, 16)))
    with pytest.raises(ValueError, match="maps must be an array of numbers, got str"):
        pose.decode("maps")
    with pytest.raises(ValueError, match="maps must be an array of numbers, but its rows"):
        pose.decode([[1, 2], [3]])


def test_pck_reports_a_box_of_size_zero_and_names_bad_arguments(tiny):
    _, _, poses = tiny
    pred = poses[..., :2]
    point = poses.copy()
    point[1, :, :2] = 5.0                                        # figure 1: every joint at one point
    with pytest.raises(ValueError, match=r"poses: figure\(s\) \[1\] have a bounding box of size 0"):
        pose.pck(pred, point)
    point[1, :, 2] = 0                                           # not visible: it counts for nothing
    assert pose.pck(pred, point)["overall"] == 1.0
    for call, message in [
        (lambda: pose.pck(pred, poses, alpha="0.2"), r"alpha must be a number in \(0, 1\], got '0.2'"),
        (lambda: pose.pck("pred", poses), r"pred must be an array of numbers"),
        (lambda: pose.pck(pred, [[[1, 2, 1]], [[1, 2]]]), r"poses must be an array of numbers, but its rows"),
        (lambda: pose.swap_rate(pred, poses, alpha="0.2"), r"alpha must be a number"),
        (lambda: pose.pck_by_visibility(pred, poses, alpha="0.2"), r"alpha must be a number"),
        (lambda: pose.heatmaps("poses"), r"poses must be an array of numbers"),
    ]:
        with pytest.raises(ValueError, match=message):
            call()


@pytest.mark.parametrize("alphas, message", [
    ((), "alphas is empty"), (0.2, "alphas must be a list"), ("0.2", "alphas must be a list"),
    ((0.2, "0.1"), r"alphas\[1\] must be a number"), ((0.2, 1.5), r"alphas\[1\] must be in"),
])
def test_scores_and_pck_table_refuse_bad_alphas(tiny, alphas, message):
    _, _, poses = tiny
    for fn in (pose.scores, pose.pck_table):
        with pytest.raises(ValueError, match=message):
            fn(poses[..., :2], poses, alphas=alphas)


@pytest.mark.parametrize("kwargs, message", [
    (dict(block="inverted", hidden={"stem_blok1": 8}), r"hidden names \['stem_blok1'\]"),
    (dict(block="inverted", hidden={"stem_block1": 2.5}), r"hidden\['stem_block1'\] must be a whole number"),
    (dict(hidden={"stem_block1": 2.5}), r"hidden\['stem_block1'\] must be a whole number"),
    (dict(hidden=2.5), r"hidden must be a dict"),
    (dict(stacks="1"), r"stacks must be a whole number"),
    (dict(input_shape=16), r"input_shape must be \(height, width, channels\), got 16"),
    (dict(input_shape="abc"), r"input_shape must be \(height, width, channels\)"),
    (dict(stem_widths=8), r"stem_widths must be two channel counts"),
])
def test_builder_refuses_misspelt_or_fractional_hidden_widths_and_bad_types(kwargs, message):
    with pytest.raises(ValueError, match=message):
        pose.stacked_hourglass(**{**TINY, **kwargs})


def test_a_config_that_does_not_match_the_model_is_refused_as_a_config(tiny):
    model = tiny[0]
    prune_with = lambda config: pose.prune_hidden_channels(model, 0.5, config)  # noqa: E731
    keep_one = lambda config: pose.truncate_stacks(model, 1, config)  # noqa: E731
    cases = [
        (prune_with, {**TINY, "stacks": 1}, r"config does not describe .*stacks=1 \(the model has 2\)"),
        (prune_with, {**TINY, "features": 16}, r"config does not describe .*other layers"),
        (prune_with, {**TINY, "stem_widths": (8, 16)}, r"config does not describe"),
        (prune_with, {**TINY, "featres": 16}, r"config has keys .*'featres'"),
        (prune_with, None, r"config must be the dict"),
        (keep_one, {**TINY, "input_shape": (32, 32, 3)}, r"config does not describe .*input_shape"),
        (keep_one, {**TINY, "features": 16}, r"config does not describe"),
    ]
    for call, config, message in cases:
        with pytest.raises(ValueError, match=message):
            call(config)
    with pytest.raises(ValueError, match=r"stacks must be a whole number"):
        pose.truncate_stacks(model, "1", TINY)
    small, _ = prune_with(TINY)                                  # the right config still works
    assert len(small.outputs) == 2


def test_other_arguments_get_errors_naming_them(tiny):
    model, x, _ = tiny
    for call, message in [
        (lambda: pose.inference_model(model, "1"), r"stack must be a whole number"),
        (lambda: pose.stack_outputs(model, "x"), r"x must be an array of numbers"),
        (lambda: pose.channel_scores(model, "random", seed="a"), r"seed must be a whole number"),
        (lambda: pose.block_macs("resid"), r"kind must be 'residual' or 'inverted'"),
        (lambda: pose.block_macs("residual", size="16"), r"size must be a whole number"),
    ]:
        with pytest.raises(ValueError, match=message):
            call()
