import time

import keras
import numpy as np
import pytest

from course_lib import bench, tflite


def test_measure_statistics_with_known_sleep():
    t = bench.measure(lambda x: time.sleep(0.002), [np.ones(1)], label="sleep", warmup=1, repeats=7, threads=1)
    assert 1.9 <= t.median_ms < 20
    assert t.q1_ms <= t.median_ms <= t.q3_ms and t.iqr_ms >= 0 and t.min_ms <= t.median_ms
    assert t.repeats == 7 and t.warmup == 1 and t.threads == 1
    assert "sleep: median" in str(t) and "thread" in str(t)


def test_measure_uses_all_inputs_and_warms_up():
    seen = []
    bench.measure(lambda x: seen.append(float(x[0])), [np.array([1.0]), np.array([2.0])], warmup=2, repeats=4)
    assert len(seen) == 6 and set(seen) == {1.0, 2.0}


def test_measure_rejects_bad_arguments():
    with pytest.raises(ValueError, match="non-empty list of input"):
        bench.measure(lambda x: x, [])
    with pytest.raises(ValueError, match="repeats must be at least 3, got 2"):
        bench.measure(lambda x: x, [np.ones(1)], repeats=2)


def test_random_inputs_are_random_and_typed():
    xs = bench.random_inputs((2, 3), count=3)
    assert all(x.dtype == np.float32 and x.any() for x in xs)
    assert not np.array_equal(xs[0], xs[1])
    ints = bench.random_inputs((100,), dtype=np.int8)[0]
    assert ints.dtype == np.int8 and ints.min() < -50 and ints.max() > 50


def test_time_keras_and_interpreter():
    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(4, 3), keras.layers.Flatten(),
                              keras.layers.Dense(2)])
    for mode in ("function", "eager", "predict"):
        t = bench.time_keras(model, mode=mode, warmup=1, repeats=3)
        assert t.median_ms > 0 and t.batch == 1 and t.threads >= 1
    with pytest.raises(ValueError, match="mode must be"):
        bench.time_keras(model, mode="fastest")
    t = bench.time_interpreter(tflite.convert(model), num_threads=2, warmup=1, repeats=3)
    assert t.threads == 2 and t.median_ms > 0
    table = bench.table([t])
    assert list(table.columns)[:3] == ["what", "median ms", "IQR ms"]


def test_machine_line_names_cpu_and_threads():
    line = bench.machine_line()
    assert "CPU" in line and "threads" in line and "not a phone" in line


def test_interleaved_alternates_and_keeps_the_calmest_round():
    calls = []
    medians = {"a": iter([5.0, 2.0, 3.0]), "b": iter([1.0, 4.0, 0.5])}

    def fake(key):
        def timer():
            calls.append(key)
            m = next(medians[key])
            return bench.Timing(key, m, m, m, m, 3, 0, 1, 1, "cpu")
        return timer

    best = bench.interleaved({"a": fake("a"), "b": fake("b")}, rounds=3)
    assert calls == ["a", "b", "a", "b", "a", "b"]
    assert best["a"].median_ms == 2.0 and best["b"].median_ms == 0.5
    with pytest.raises(ValueError, match="rounds"):
        bench.interleaved({}, rounds=0)


def _timing(median, spread=0.02, label="t"):
    return bench.Timing(label, median, median * (1 - spread), median * (1 + spread), median * 0.9, 20, 5, 1, 1, "cpu")


def test_verdict_follows_the_numbers_both_ways_and_ties():
    fast = bench.verdict(_timing(2.0), _timing(0.8))  # int8 2.5x faster
    assert fast.outcome == "faster" and abs(fast.ratio - 2.5) < 1e-9
    assert str(fast).startswith("int8 was 2.50x faster than float32")
    slow = bench.verdict(_timing(0.04), _timing(0.1))  # int8 2.5x slower
    assert slow.outcome == "slower" and str(slow).startswith("int8 was 2.50x slower than float32")
    tie = bench.verdict(_timing(1.0, spread=0.1), _timing(0.95, spread=0.1))  # overlapping spreads
    assert tie.outcome == "no clear difference" and "no clear difference" in str(tie)
    small = bench.verdict(_timing(1.0, spread=0.001), _timing(0.98, spread=0.001))  # below the 5% minimum effect
    assert small.outcome == "no clear difference"
    summary = bench.verdict_summary({"a 1": fast, "a 2": slow, "b 1": tie})
    assert "faster than float32 in 1" in summary and "slower in 1" in summary and "of 3 settings" in summary
    with pytest.raises(ValueError, match="positive"):
        bench.verdict(_timing(0.0), _timing(1.0))


def test_crossover_interpolates_and_names_the_edge_cases():
    c = bench.crossover([1e6, 1e7, 1e8], [0.5, 0.8, 2.0])
    assert c["kind"] == "crossover" and 1e7 < c["macs"] < 1e8
    assert bench.crossover([1e6, 1e7], [1.2, 1.5]) == {"macs": 1e6, "kind": "always"}
    assert bench.crossover([1e6, 1e7], [0.5, 0.9])["kind"] == "never"
    assert bench.crossover([1e7, 1e6], [2.0, 0.5])["kind"] == "crossover"  # order does not matter
    with pytest.raises(ValueError, match="equal length"):
        bench.crossover([1e6], [1.0, 2.0])


def test_cpu_features_from_cpuinfo_text():
    text = "model name\t: Test CPU\nflags\t\t: fpu avx2 fma avx512f avx512_vnni\n"
    info = bench.cpu_features(text)
    assert info["model"] == "Test CPU" and info["known"]
    assert info["found"] == ["avx2", "fma", "avx512f", "avx512_vnni"] and "amx_int8" in info["missing"]
    line = bench.cpu_features_line(text)
    assert "Test CPU" in line and "avx512_vnni" in line and "lacks" in line and "amx_int8" in line
    assert "unknown" in bench.cpu_features_line("")
    assert bench.cache_sizes("/nonexistent") == {}
    assert all(k.startswith("L") for k in bench.cache_sizes())


def test_call_overhead_is_small_and_below_a_real_model():
    lite = bench.call_overhead("litert", repeats=5)
    ker = bench.call_overhead("keras", repeats=5)
    assert 0 < lite.median_ms < ker.median_ms * 10 and ker.median_ms > 0
    table = bench.overhead_table([ker], lite)
    assert table["overhead share (%)"].between(0, 100).all()
    with pytest.raises(ValueError, match="runtime"):
        bench.call_overhead("onnx")
