import keras
import numpy as np
import pytest

from course_lib import profile, prune


def tiny_cnn(flatten=False, bias=False):
    inp = keras.Input((8, 8, 2))
    x = keras.layers.Conv2D(6, 3, padding="same", use_bias=bias, name="conv1")(inp)
    x = keras.layers.BatchNormalization(name="bn1")(x)
    x = keras.layers.ReLU(name="relu1")(x)
    x = keras.layers.MaxPooling2D(2, name="pool1")(x)
    x = keras.layers.Conv2D(8, 3, padding="same", use_bias=bias, name="conv2")(x)
    x = keras.layers.BatchNormalization(name="bn2")(x)
    x = keras.layers.ReLU(name="relu2")(x)
    if flatten:
        x = keras.layers.Flatten(name="flat")(x)
        x = keras.layers.Dense(5, activation="relu", name="fc")(x)
    else:
        x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    out = keras.layers.Dense(3, name="logits")(x)
    return keras.Model(inp, out, name="tiny")


def randomize_bn(model, seed=0):
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.set_weights([rng.uniform(0.5, 1.5, w.shape).astype("float32") for w in layer.get_weights()])


# ---------------------------------------------------------------- schedule
def zhu_gupta(t, si, sf, t0, t1, p=3):
    if t <= t0:
        return si
    if t >= t1:
        return sf
    return sf + (si - sf) * (1 - (t - t0) / (t1 - t0)) ** p


@pytest.mark.parametrize("step", [0, 10, 25, 50, 75, 99, 100, 150])
def test_polynomial_sparsity_matches_formula(step):
    assert prune.polynomial_sparsity(step, 0.1, 0.9, 10, 100) == pytest.approx(zhu_gupta(step, 0.1, 0.9, 10, 100))
    assert prune.polynomial_sparsity(step, 0.0, 0.5, 0, 100, power=1) == pytest.approx(zhu_gupta(step, 0, 0.5, 0, 100, 1))


def test_polynomial_sparsity_arrays_monotone():
    s = prune.polynomial_sparsity(np.arange(0, 200), 0.0, 0.8, 0, 100)
    assert s.shape == (200,) and s[0] == 0.0 and s[-1] == pytest.approx(0.8)
    assert np.all(np.diff(s) >= -1e-12)
    # fast at first: half-way the schedule has done 7/8 of the work (power 3)
    assert s[50] == pytest.approx(0.8 * (1 - 0.5 ** 3))


@pytest.mark.parametrize("bad", [-0.1, 1.0, 1.5, float("nan"), "x"])
def test_sparsity_outside_range_raises(bad):
    with pytest.raises(prune.PruningError, match=r"\[0, 1\)"):
        prune.check_sparsity(bad)
    with pytest.raises(prune.PruningError):
        prune.polynomial_sparsity(5, 0.0, bad, 0, 10)


def test_schedule_bad_steps():
    with pytest.raises(prune.PruningError, match="end_step"):
        prune.polynomial_sparsity(5, 0.0, 0.5, 10, 10)


# ---------------------------------------------------------------- magnitude masks
def test_magnitude_mask_and_threshold():
    w = np.array([[0.5, -0.1], [0.05, -2.0], [0.3, 0.0]], dtype=np.float32)
    m = prune.magnitude_mask(w, 0.5)
    assert m.shape == w.shape and m.sum() == 3
    assert np.array_equal(m, np.array([[1, 0], [0, 1], [1, 0]], dtype=np.float32))
    assert prune.magnitude_threshold(w, 0.5) == pytest.approx(0.1)
    assert prune.magnitude_threshold(w, 0.0) == 0.0
    assert np.all(np.abs(w[m == 0]) <= prune.magnitude_threshold(w, 0.5))


def test_layer_and_global_masks():
    m = tiny_cnn()
    assert prune.prunable_layers(m) == ["conv1", "conv2", "logits"]
    lm = prune.layer_masks(m, 0.75)
    for name, mask in lm.items():
        assert abs((mask == 0).mean() - 0.75) < 0.5 / mask.size + 1e-9, name
    # make conv1 large so a global threshold spares it
    k = m.get_layer("conv1").kernel
    k.assign(np.asarray(k) * 100)
    gm = prune.global_masks(m, 0.5)
    total = sum(v.size for v in gm.values())
    zeros = sum(int((v == 0).sum()) for v in gm.values())
    assert zeros == round(0.5 * total)
    assert (gm["conv1"] == 0).mean() < 0.1 < (gm["conv2"] == 0).mean()
    prune.apply_masks(m, gm)
    report = prune.sparsity_report(m).set_index("layer")
    assert report.loc["total", "zeros"] == zeros
    assert report.loc["conv2", "sparsity"] == pytest.approx((gm["conv2"] == 0).mean())


def test_unprunable_layer_is_named():
    m = tiny_cnn()
    with pytest.raises(prune.PruningError, match="'bn1'.*cannot be pruned"):
        prune.layer_masks(m, 0.5, layers=["bn1"])
    with pytest.raises(prune.PruningError, match="no layer 'nope'"):
        prune.layer_masks(m, {"nope": 0.5})
    with pytest.raises(prune.PruningError):
        prune.layer_masks(m, 1.0)


def test_masks_stay_zero_through_training():
    keras.utils.set_random_seed(0)
    m = tiny_cnn()
    masks = prune.layer_masks(m, 0.6)
    m.compile(optimizer=keras.optimizers.Adam(0.05), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x = np.random.default_rng(0).random((64, 8, 8, 2)).astype("float32")
    y = np.random.default_rng(1).integers(0, 3, 64)
    before = {n: np.array(m.get_layer(n).kernel) for n in masks}
    m.fit(x, y, epochs=2, batch_size=16, verbose=0, callbacks=[prune.PruningCallback(masks=masks)])
    for name, mask in masks.items():
        w = np.asarray(m.get_layer(name).kernel)
        assert np.all(w[mask == 0] == 0.0), name           # exactly zero
        assert not np.allclose(w[mask == 1], before[name][mask == 1])  # the rest did train
    stripped = prune.strip_masks(m)
    assert not stripped.compiled  # a fresh copy: fine-tuning it starts a new optimizer
    assert prune.sparsity_report(stripped).set_index("layer").loc["conv2", "sparsity"] == pytest.approx(0.6, abs=1 / 432)


def test_gradual_callback_follows_schedule():
    keras.utils.set_random_seed(0)
    m = tiny_cnn()
    m.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x = np.random.default_rng(0).random((80, 8, 8, 2)).astype("float32")
    y = np.random.default_rng(1).integers(0, 3, 80)
    sched = lambda t: prune.polynomial_sparsity(t, 0.0, 0.8, 0, 8)  # noqa: E731
    cb = prune.PruningCallback(schedule=sched, update_every=2)
    m.fit(x, y, epochs=2, batch_size=8, verbose=0, callbacks=[cb])   # 20 steps
    assert cb.step == 20
    steps = [s for s, _ in cb.history]
    assert steps[0] == 0 and all(b > a for a, b in zip(steps, steps[1:]))
    assert cb.history[-1][1] == pytest.approx(0.8)
    rep = prune.sparsity_report(m).set_index("layer")
    assert rep.loc["conv2", "sparsity"] == pytest.approx(0.8, abs=1 / 432)


def test_sensitivity_scan_restores_weights():
    m = tiny_cnn()
    before = [w.copy() for w in m.get_weights()]
    table = prune.sensitivity_scan(m, lambda model: float((np.asarray(model.get_layer("conv2").kernel) == 0).mean()),
                                   [0.0, 0.5], layers=["conv1", "conv2"])
    assert len(table) == 4
    assert table.query("layer == 'conv2' and sparsity == 0.5")["metric"].item() == pytest.approx(0.5, abs=0.01)
    assert table.query("layer == 'conv1'")["metric"].max() == 0.0
    for a, b in zip(before, m.get_weights()):
        assert np.array_equal(a, b)


def test_evaluate_masked_restores_weights():
    m = tiny_cnn()
    before = [w.copy() for w in m.get_weights()]
    masks = prune.global_masks(m, 0.7)
    zeros = prune.evaluate_masked(m, masks, lambda model: prune.sparsity_report(model).iloc[-1]["sparsity"])
    assert zeros == pytest.approx(0.7, abs=0.01)
    for a, b in zip(before, m.get_weights()):
        assert np.array_equal(a, b)


def test_compressed_size_shrinks_with_sparsity():
    m = keras.Sequential([keras.Input((64,)), keras.layers.Dense(256, name="d")])
    dense = prune.compressed_weights_size(m)
    assert len(prune.weights_bytes(m)) == profile.count_params(m) * 4
    prune.apply_masks(m, prune.layer_masks(m, 0.8))
    assert prune.compressed_weights_size(m) < 0.5 * dense
    assert prune.gzip_size(b"\0" * 10000) < 100


# ---------------------------------------------------------------- channel pruning
@pytest.mark.parametrize("flatten, bias", [(False, False), (True, True)])
def test_rebuilt_model_equals_channel_masked_model(flatten, bias):
    keras.utils.set_random_seed(1)
    m = tiny_cnn(flatten, bias)
    randomize_bn(m)
    names = ["conv1", "conv2"] + (["fc"] if flatten else [])
    keep = prune.select_channels(m, 0.5, layers=names)
    assert [len(keep[n]) for n in names] == [3, 4] + ([2] if flatten else [])
    norms = prune.filter_l1_norms(m.get_layer("conv2"))
    assert set(keep["conv2"]) == set(np.argsort(norms)[-4:])
    masked = prune.mask_channels(m, keep)
    small = prune.rebuild_pruned(m, keep)
    x = np.random.default_rng(2).random((5, 8, 8, 2)).astype("float32")
    a, b = masked.predict(x, verbose=0), small.predict(x, verbose=0)
    assert np.allclose(a, b, atol=1e-5)
    assert not np.allclose(a, m.predict(x, verbose=0), atol=1e-3)  # pruning did change something
    assert profile.count_macs(small) < profile.count_macs(m)
    assert small.get_layer("conv2").kernel.shape == (3, 3, 3, 4)
    assert np.array_equal(np.asarray(small.get_layer("conv2").kernel),
                          np.asarray(m.get_layer("conv2").kernel)[:, :, keep["conv1"], :][..., keep["conv2"]])
    table = prune.channel_table(m, small).set_index("layer")
    assert table.loc["conv2", "channels after"] == 4


def test_channel_errors_name_the_layer():
    m = tiny_cnn()
    with pytest.raises(prune.PruningError, match="'conv1'.*at least one channel"):
        prune.select_channels(m, {"conv1": 0.95})
    with pytest.raises(prune.PruningError, match="'bn1'"):
        prune.select_channels(m, {"bn1": 0.5})
    with pytest.raises(prune.PruningError, match="'logits'.*output"):
        prune.select_channels(m, {"logits": 0.5})
    with pytest.raises(prune.PruningError, match=r"\[0, 1\)"):
        prune.select_channels(m, 1.0)
    with pytest.raises(prune.PruningError, match="'conv2'.*no channel"):
        prune.rebuild_pruned(m, {"conv2": []})


def test_skip_connection_rejected():
    inp = keras.Input((8, 8, 4))
    x = keras.layers.Conv2D(4, 3, padding="same", name="c")(inp)
    x = keras.layers.Add(name="add")([x, inp])
    m = keras.Model(inp, keras.layers.GlobalAveragePooling2D()(x))
    with pytest.raises(prune.PruningError, match="'add'"):
        prune.select_channels(m, 0.5)


def test_tolerated_and_allocated_sparsity_follow_the_curves():
    import pandas as pd
    from course_lib import prune as pr

    scan = pd.DataFrame({"layer": ["a"] * 3 + ["b"] * 3, "sparsity": [0.5, 0.9, 0.98] * 2,
                         "metric": [0.90, 0.89, 0.10, 0.80, 0.50, 0.20]})
    tol = pr.tolerated_sparsity(scan, baseline=0.9, max_drop=0.05)
    assert tol["a"] > 0.9 and tol["b"] < 0.5  # 'a' is flat until 90%, 'b' drops from the start
    sizes = {"a": 100, "b": 100}
    alloc = pr.allocate_sparsity(scan, 0.9, sizes, target=0.6)
    assert abs((alloc["a"] * 100 + alloc["b"] * 100) / 200 - 0.6) < 1e-6
    assert alloc["a"] > alloc["b"]
    with pytest.raises(pr.PruningError, match="above what the scan covers"):
        pr.allocate_sparsity(scan, 0.9, sizes, target=0.99)
    with pytest.raises(pr.PruningError, match="no entry"):
        pr.allocate_sparsity(scan, 0.9, {"a": 1}, target=0.5)
