import keras
import numpy as np
import pytest

from course_lib import config, envcheck, models, profile


def test_fast_mode_switch(monkeypatch):
    monkeypatch.setenv("COURSE_FAST", "1")
    assert config.is_fast() and config.pick(full=10, fast=1) == 1 and config.mode_name() == "fast"
    monkeypatch.setenv("COURSE_FAST", "0")
    assert not config.is_fast() and config.pick(full=10, fast=1) == 10
    monkeypatch.delenv("COURSE_FAST")
    assert not config.is_fast()


def test_results_dir_follows_env(results_dir):
    assert config.results_dir() == results_dir and results_dir.is_dir()


def test_small_cnn_shapes_and_separable_is_cheaper():
    std = models.small_cnn((28, 28, 1))
    sep = models.small_cnn((28, 28, 1), separable=True)
    assert std.output_shape == (None, 10) and sep.output_shape == (None, 10)
    assert profile.count_macs(sep) < profile.count_macs(std) / 3
    assert isinstance(sep.get_layer("sepconv2"), keras.layers.SeparableConv2D)


def test_fit_learns_a_trivial_task_and_checks_shapes():
    config.seed_everything(0)
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 256)
    x = np.zeros((256, 8, 8, 1), np.float32) + y[:, None, None, None] + rng.normal(0, 0.1, (256, 8, 8, 1)).astype(np.float32)
    model = models.small_cnn((8, 8, 1), classes=2, widths=(4, 8))
    models.fit(model, x, y, epochs=3, batch_size=32, verbose=False)
    assert models.accuracy(model, x, y) > 0.9
    with pytest.raises(ValueError, match="takes inputs of shape"):
        models.fit(model, np.zeros((4, 9, 9, 1)), np.zeros(4), epochs=1)


def test_envcheck_reports_everything_ok_here():
    table = envcheck.report()
    assert {"component", "status", "version", "advice"} <= set(table.columns)
    assert envcheck.all_ok(table), table.to_string()
    assert any("keras" in c for c in table["component"])


def test_quiet_native_stderr_restores_fd():
    import os

    with config.quiet_native_stderr():
        os.write(2, b"hidden\n")
    assert os.fstat(2)
