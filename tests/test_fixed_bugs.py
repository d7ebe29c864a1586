"""The bugs of issue 11, each as a test: the fix must hold."""
import linecache

import keras
import numpy as np
import pytest
import tensorflow as tf

from course_lib import checks, ledger, models, prune, tflite
from course_lib import quantize as Q


@pytest.fixture(autouse=True)
def lenient(monkeypatch):
    monkeypatch.delenv("COURSE_STRICT_CHECKS", raising=False)


@pytest.fixture(scope="module")
def tiny():
    keras.utils.set_random_seed(0)
    model = models.small_cnn((12, 12, 1), 3, widths=(4, 8, 8), name="tiny")
    x = np.random.default_rng(0).uniform(0, 1, (24, 12, 12, 1)).astype(np.float32)
    return model, x


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_sensitivity_scan_restores_the_layer_when_evaluate_fails(tiny, error):
    model, _ = tiny
    before = [np.array(w) for w in model.get_weights()]

    def evaluate(m):
        raise error("stop")

    with pytest.raises(error):
        prune.sensitivity_scan(model, evaluate, [0.5, 0.9], layers=["conv2"])
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_read_int8_graph_with_flatten():
    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(4, 3, activation="relu"),
                              keras.layers.Flatten(), keras.layers.Dense(3)])
    fb = tflite.convert(model, "int8", representative_data=np.random.default_rng(0).uniform(0, 1, (16, 8, 8, 1)))
    graph = tflite.read_int8_graph(fb)
    assert [g["op"] for g in graph] == ["CONV_2D", "RESHAPE", "FULLY_CONNECTED"]
    assert graph[1]["input"] == graph[0]["output"] and graph[2]["input"] == graph[1]["output"]


def test_convert_accepts_generators_datasets_and_pairs(tiny):
    model, x = tiny
    shape = (12, 12, 1)
    for data in ((sample for sample in x), tf.data.Dataset.from_tensor_slices(x).batch(8),
                 tf.data.Dataset.from_tensor_slices((x, np.zeros(24))), [(x[i:i + 4], np.zeros(4)) for i in range(0, 24, 4)],
                 list(x)):
        np.testing.assert_array_equal(tflite._calibration_samples(data, shape, 200, "tiny"), x)  # noqa: SLF001
    assert len(tflite._calibration_samples((s for s in x), shape, 5, "tiny")) == 5  # noqa: SLF001
    via_generator = tflite.convert(model, "int8", representative_data=(sample for sample in x))
    np.testing.assert_allclose(tflite.run(via_generator, x[:4]),
                               tflite.run(tflite.convert(model, "int8", representative_data=x), x[:4]), atol=1e-6)


def test_run_checks_the_rows_it_gets(tiny):
    model, x = tiny
    fb = tflite.convert(model, "float32")
    assert tflite.run(fb, x[:5], batch_size=2).shape == (5, 3)


def test_ledger_keys_are_strings(results_dir):
    ledger.record("05", "cnn", "NA", params=1)
    ledger.record("5", "cnn", "NA", params=2)
    ledger.record("05", "cnn", "NA", params=3)   # updates the "05" row, not the "5" one
    table = ledger.read()
    assert len(table) == 2
    assert dict(zip(table["notebook"], table["params"])) == {"5": 2, "05": 3}
    assert set(table["technique"]) == {"NA"}


def test_ledger_is_not_rewritten_from_a_guess(results_dir):
    ledger.record("01", "cnn", "baseline", accuracy=0.9, notes="a, b")
    file = ledger.path()
    text = file.read_text() + "01,cnn,extra,comma,1,2,3,,0.5,,,,,fast,,,\n"
    file.write_text(text)
    with pytest.raises(ledger.LedgerError, match="fields but the header"):
        ledger.record("02", "cnn", "baseline")
    assert file.read_text() == text


def test_old_ledger_without_bytes_kind_is_read(results_dir):
    results_dir.mkdir(parents=True, exist_ok=True)
    columns = [c for c in ledger.COLUMNS if c != "bytes_kind"]
    (results_dir / "ledger.csv").write_text(",".join(columns) + "\n" + "01,cnn,b,1,2,3,0.5,1.0,0.1,2,litert,fast,cpu,t,\n")
    table = ledger.read()
    assert table.loc[0, "bytes_kind"] == "" and table.loc[0, "params"] == 1
    ledger.record("02", "m", "t", bytes=10, bytes_kind="flatbuffer")
    assert list(ledger.read()["bytes_kind"]) == ["", "flatbuffer"]


def _compile_cell(source: str, filename: str):
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    namespace = {}
    exec(compile(source, filename, "exec"), namespace)
    return namespace


def test_stale_exercise_function_is_reported(capsys, monkeypatch):
    reference_cell = "def my_double(x):\n    return 2 * x\n"
    fn = _compile_cell(reference_cell, "<cell-1>")["my_double"]
    broken_cell = "def my_double(x):\n    ### BEGIN SOLUTION\n"   # body deleted: a syntax error, old def kept
    history = ["import numpy", reference_cell, broken_cell, "checks.check_function(...)"]
    assert "not the one your cell defines now" in checks.stale_function(fn, history)
    assert checks.stale_function(fn, ["import numpy", reference_cell, "checks.check_function(...)"]) == ""
    monkeypatch.setattr(checks, "_input_history", lambda: history)  # what IPython would report
    assert not checks.check_function("my_double", fn, [((2,), 4)])
    assert "older definition" in capsys.readouterr().out
    monkeypatch.setattr(checks, "_input_history", lambda: history[:2] + history[3:])
    assert checks.check_function("my_double", fn, [((2,), 4)])
