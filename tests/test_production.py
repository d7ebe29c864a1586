"""course_lib.production: BlazePose landmark models of node_modules/@mediapipe/pose (make install).

Only the lite model is run (about 0.1 s per call); latency is timed with a handful of repeats.
"""
import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from course_lib import production, tflite  # noqa: E402


@pytest.fixture(scope="module")
def lite():
    return production.load("lite")


@pytest.fixture(scope="module")
def found(lite):
    return production.landmarks(lite)


def test_every_model_is_installed():
    for name in production.MODELS:
        path = production.model_path(name)
        assert path.name == f"pose_landmark_{name}.tflite" and path.stat().st_size > 1_000_000


def test_missing_package_names_the_path_and_the_fix(monkeypatch, tmp_path):
    monkeypatch.setenv(production.ENV_VAR, str(tmp_path))
    with pytest.raises(FileNotFoundError) as error:
        production.load("lite")
    message = str(error.value)
    assert str(tmp_path / "@mediapipe" / "pose" / "pose_landmark_lite.tflite") in message
    assert "make install" in message and "npm ci" in message


def test_unknown_model_name_is_rejected():
    with pytest.raises(ValueError, match="lite"):
        production.model_path("medium")


def test_describe_is_self_consistent(lite):
    d = production.describe("lite", threads=(1, 2), repeats=3, rounds=1)
    assert d.file_bytes == len(lite) == production.model_path("lite").stat().st_size
    assert d.weight_format == "float16"
    assert sum(d.size.values()) == d.file_bytes
    assert d.size["weights"] + d.size["biases"] == 2 * d.params  # float16: 2 bytes per number
    assert d.macs == tflite.macs(lite) > d.params > 0
    assert d.input_shape == (1, 256, 256, 3)
    assert sorted(d.output_shapes.values()) == sorted([(1, 195), (1, 1), (1, 256, 256, 1),
                                                       (1, 64, 64, 39), (1, 117)])
    assert set(d.timings) == {1, 2} and all(t.median_ms > 0 for t in d.timings.values())
    row = production.table([d]).iloc[0]
    assert row["params"] == d.params and row["median ms (1 thr)"] == d.timings[1].median_ms


def test_describe_accepts_bytes_without_timing(lite):
    d = production.describe(lite, name="lite bytes", threads=())
    assert d.name == "lite bytes" and d.timings == {} and d.macs > 0


def test_input_is_in_zero_one(found):
    assert found.crop.shape == (256, 256, 3)
    assert 0.0 <= found.crop.min() and found.crop.max() <= 1.0


def test_visible_keypoints_fall_inside_the_photo(found):
    h, w = found.image.shape[:2]
    assert found.score > 0.5 and found.points.shape == (39, 2)
    face = found.points[:11]  # nose, eyes, ears, mouth: in the face (middle half, second quarter)
    assert np.all((face[:, 0] > w / 4) & (face[:, 0] < 3 * w / 4))
    assert np.all((face[:, 1] > h / 4) & (face[:, 1] < h / 2))
    shoulders = found.points[[11, 12]]
    assert np.all((shoulders >= 0) & (shoulders < [w, h]))
    assert shoulders[0, 0] > shoulders[1, 0]  # the person's left shoulder is on the image's right
    assert set(range(11)) <= set(found.visible())


def test_heatmap_peaks_near_the_regressed_nose(found):
    assert found.heatmap.shape == (64, 64, 39)
    assert 0 <= found.heatmap.min() and found.heatmap.max() <= 1
    row, col = np.unravel_index(found.heatmap[..., 0].argmax(), (64, 64))
    scale = (found.photo_box[2] - found.photo_box[0]) / found.image.shape[1]  # crop px per photo px
    nose = np.array(found.photo_box[:2]) + found.points[0] * scale  # in crop pixels (256x256)
    expected = nose / 4  # in heat-map pixels (64x64)
    assert abs(col + 0.5 - expected[0]) <= 3 and abs(row + 0.5 - expected[1]) <= 3  # 5% of the crop


def test_draw_makes_two_panels(found):
    fig = production.draw(found)
    assert len(fig.axes) == 2
    matplotlib.pyplot.close(fig)


def test_body_crop_keeps_the_photo_at_the_top_centre():
    photo = np.full((60, 40, 3), 200, np.uint8)
    square, (left, top) = production.body_crop(photo, body_height=2.0)
    assert square.shape == (120, 120, 3) and (left, top) == (40, 0)
    assert square[:60, 40:80].min() == 200 and square[60:].max() == 0
    with pytest.raises(ValueError, match="body_height"):
        production.body_crop(photo, body_height=0.5)
