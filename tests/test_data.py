import hashlib
import json

import numpy as np
import pytest

from course_lib import data


@pytest.mark.parametrize("name, shape", [("digits", (28, 28, 1)), ("shapes", (32, 32, 3))])
def test_load_layout_and_ranges(tmp_path, small_sizes, name, shape):
    (x, y), (xt, yt) = data.load(name, fast=False, data_dir=tmp_path)
    assert x.shape == (120, *shape) and xt.shape == (40, *shape)
    assert x.dtype == np.float32 and y.dtype == np.int64
    assert 0.0 <= x.min() and x.max() <= 1.0 and x.std() > 0.05
    assert set(np.unique(y)) == set(range(10))
    assert (tmp_path / "manifest.json").exists()


def test_fast_mode_is_a_prefix_of_the_full_data(tmp_path, small_sizes):
    (x, y), (xt, yt) = data.load("digits", fast=False, data_dir=tmp_path)
    (xf, yf), (xtf, ytf) = data.load("digits", fast=True, data_dir=tmp_path)
    assert len(xf) == 30 and len(xtf) == 10
    np.testing.assert_array_equal(xf, x[:30])
    np.testing.assert_array_equal(ytf, yt[:10])


@pytest.mark.parametrize("name", ["digits", "shapes"])
def test_generation_is_deterministic(tmp_path, small_sizes, name):
    a = data.generate(name, data_dir=tmp_path / "a")
    b = data.generate(name, data_dir=tmp_path / "b")
    assert data.sha256(a) == data.sha256(b)


def test_generator_output_is_pinned():
    """Same seed, same bytes on any machine with the pinned numpy/matplotlib. If you change the
    generator on purpose, bump data.GENERATOR_VERSION and update these hashes."""
    digits, labels = data._make_digits(64, np.random.default_rng(0))
    shapes, slabels = data._make_shapes(64, np.random.default_rng(0))
    # 2,500 digits cross the generator's 1,000-image chunks: chunking must not change a byte.
    many, many_labels = data._make_digits(2500, np.random.default_rng(0))
    got = {"digits": hashlib.sha256(digits.tobytes() + labels.tobytes()).hexdigest()[:16],
           "digits 2500": hashlib.sha256(many.tobytes() + many_labels.tobytes()).hexdigest()[:16],
           "shapes": hashlib.sha256(shapes.tobytes() + slabels.tobytes()).hexdigest()[:16]}
    assert got == PINNED, f"generator output changed: {got}"


POSES_V2 = "538e0526002fc1b1"
PINNED = {"digits": "5a768f719eda0044", "digits 2500": "4a7287f71423a171", "shapes": "51a56607819cd399"}


def test_classes_are_distinguishable_by_a_trivial_statistic_only_partly(tmp_path, small_sizes):
    """Sanity: the mean brightness of a class differs, but not so much that it gives the label away."""
    (x, y), _ = data.load("digits", fast=False, data_dir=tmp_path)
    means = np.array([x[y == c].mean() for c in range(10)])
    assert means.std() < 0.1


def test_unknown_name_lists_the_choices(tmp_path):
    with pytest.raises(data.DataError, match="digits.*shapes"):
        data.load("cifar100", data_dir=tmp_path)


def test_real_name_points_to_load_real(tmp_path):
    with pytest.raises(data.DataError, match="load_real"):
        data.load("mnist", data_dir=tmp_path)


def test_load_real_unknown_name():
    with pytest.raises(data.DataError, match="mnist"):
        data.load_real("imagenet")


def test_load_real_offline_gives_clear_message(monkeypatch):
    import keras

    def no_network():
        raise OSError("Name or service not known")

    monkeypatch.setattr(keras.datasets.mnist, "load_data", no_network)
    with pytest.raises(data.DataError, match="offline.*load\\('digits'\\)"):
        data.load_real("mnist")


def test_corrupted_file_is_refused_and_kept(tmp_path, small_sizes):
    path = data.generate("digits", data_dir=tmp_path)
    raw = bytearray(path.read_bytes())
    raw[-10] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(data.DataError, match="does not match its manifest.*overwrite=True"):
        data.load("digits", data_dir=tmp_path)
    assert path.read_bytes() == bytes(raw), "a corrupted file must not be silently regenerated"


def test_file_without_manifest_entry_is_refused(tmp_path, small_sizes):
    np.savez(tmp_path / "digits.npz", x_train=np.zeros(1))
    with pytest.raises(data.DataError, match="no entry"):
        data.load("digits", data_dir=tmp_path)


def test_generate_never_overwrites_without_permission(tmp_path, small_sizes):
    data.generate("shapes", data_dir=tmp_path)
    with pytest.raises(data.DataError, match="overwrite=True"):
        data.generate("shapes", data_dir=tmp_path)
    data.generate("shapes", data_dir=tmp_path, overwrite=True)


def test_old_generator_version_is_regenerated_only_when_untouched(tmp_path, small_sizes, capsys):
    """The course's own file from an older generator, unchanged since (its sha256 matches the manifest), is
    replaced by the new version with a message; a file that was changed as well is refused, never overwritten."""
    data.generate("digits", data_dir=tmp_path)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    manifest["digits"]["generator_version"] = 0
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    data.load("digits", data_dir=tmp_path)
    assert "made by generator version 0" in capsys.readouterr().out
    assert json.loads((tmp_path / "manifest.json").read_text())["digits"]["generator_version"] == data.GENERATOR_VERSION
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    manifest["digits"]["generator_version"] = 0
    manifest["digits"]["sha256"] = "0" * 64            # the file no longer matches: someone changed it
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    before = (tmp_path / "digits.npz").read_bytes()
    with pytest.raises(data.DataError, match="generator version 0"):
        data.load("digits", data_dir=tmp_path)
    assert (tmp_path / "digits.npz").read_bytes() == before


def test_pose_generator_version_2_is_harder_and_pinned():
    """Version 2 of the poses: smaller figures, more occluders, distractor limbs (pinned so a change is seen)."""
    rng = np.random.default_rng(0)
    images, poses = data.harden(*data.render_poses(data._pose_joints(64, rng, scale=(0.5, 1.08)), rng), rng)
    assert data.generator_version("poses") == 2 and data.generator_version("digits") == 1
    assert images.shape == (64, 64, 64, 3) and images.dtype == np.uint8 and poses.shape == (64, 16, 3)
    assert 0.6 < poses[..., 2].mean() < 0.95          # occluders hide a share of the joints
    digest = hashlib.sha256(images.tobytes() + poses.tobytes()).hexdigest()[:16]
    assert digest == POSES_V2, f"poses v2 changed: {digest}"


def test_broken_manifest_is_reported(tmp_path, small_sizes):
    data.generate("digits", data_dir=tmp_path)
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(data.DataError, match="manifest.json is not valid JSON"):
        data.load("digits", data_dir=tmp_path)


def test_manifest_keeps_every_entry_when_datasets_are_generated_at_once(tmp_path):
    """Two processes generating two datasets at once each add their entry: the manifest is updated under a
    lock (without it, each wrote back the manifest it had read and one entry was lost)."""
    import threading

    names = [f"set{i}" for i in range(12)]
    start = threading.Barrier(len(names))

    def record(name):
        start.wait()
        data._record_in_manifest(tmp_path, name, {"file": f"{name}.npz"})

    threads = [threading.Thread(target=record, args=(n,)) for n in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert sorted(manifest) == sorted(names)
    assert not list(tmp_path.glob("manifest.*.tmp"))


def test_ensure_all_generates_every_dataset_once(tmp_path, small_sizes, monkeypatch):
    monkeypatch.setattr(data, "POSE_SIZES", {"train": 40, "test": 10})
    paths = data.ensure_all(tmp_path, workers=1)
    assert [p.name for p in paths] == [f"{n}.npz" for n in data.available()]
    assert sorted(json.loads((tmp_path / "manifest.json").read_text())) == data.available()
    assert data.ensure_all(tmp_path, workers=1) == paths   # present and verified: not generated again
