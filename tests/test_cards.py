"""Machine cards, per-operator profiles, delegate coverage and the roofline probes, on tiny models (seconds)."""
import copy
import json

import keras
import numpy as np
import pytest

from course_lib import bench, cards, opprofile, roofline, tflite


@pytest.fixture(scope="module")
def tiny():
    inputs = keras.Input((16, 16, 8))
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(inputs)
    x = keras.layers.Add()([x, inputs])
    x = keras.layers.DepthwiseConv2D(3, padding="same")(x)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Resizing(16, 16, interpolation="nearest")(x)
    model = keras.Model(inputs, x, name="tiny")
    calib = np.random.default_rng(0).uniform(0, 1, (8, 16, 16, 8)).astype(np.float32)
    return {"fp32": tflite.convert(model, "float32"), "int8": tflite.convert(model, "int8", representative_data=calib)}


def valid_card():
    card = cards.new_card({"warmup": 5, "repeats": 20, "rounds": 3, "statistic": "median", "batch": 1,
                           "runtime": "LiteRT + XNNPACK"})
    card["roofline"] = [{"probe": "conv", "op": "CONV_2D", "precision": "fp32", "threads": 1, "median_ms": 1.0,
                         "gmacs": 100.0, "gbs": None}]
    card["models"] = [{"group": "09", "model": "0 baseline", "precision": p, "threads": 1, "median_ms": ms,
                       "iqr_ms": 0.01, "macs": 1000, "bytes": 10} for p, ms in (("fp32", 0.5), ("int8", 0.25))]
    card["call_overhead_ms"] = {"1": 0.001}
    return card


def test_single_op_models_keep_shapes_types_and_macs(tiny):
    for precision, fb in tiny.items():
        ops = opprofile.single_op_models(fb)
        assert [o.op for o in ops] == list(tflite.summary(fb).ops["op"])
        assert sum(o.macs for o in ops) == tflite.macs(fb)
        for o in ops:
            assert tflite.make_interpreter(o.model_bytes).get_output_details()[0]["shape"].tolist() == list(o.shape)


def test_profile_parts_add_up_to_the_whole(tiny):
    prof = opprofile.profile(tiny["int8"], num_threads=1, repeats=20, rounds=2, label="tiny int8")
    assert list(prof.table.columns) == opprofile.COLUMNS
    assert abs(prof.table["share of total (%)"].sum() - 100) < 1e-6
    assert prof.adds_up, prof.check_line()
    assert "residual" in prof.check_line() and "thread" in prof.check_line()
    losses = opprofile.int8_losses(opprofile.profile(tiny["fp32"], repeats=20, rounds=1), prof)
    assert {"speed-up (x)", "int8 is"} <= set(losses.columns) and "CONV_2D" in losses.index


def test_delegate_coverage_counts_nodes(tiny):
    cov = opprofile.delegate_coverage(tiny["fp32"])
    assert cov.nodes == len(tflite.summary(tiny["fp32"]).ops)
    assert 0 < cov.delegated <= cov.nodes and cov.partitions >= 1
    assert cov.delegated + sum(cov.fallback.values()) == cov.nodes
    assert f"{cov.delegated} of {cov.nodes} nodes" in str(cov)
    # The built-in resolver has no delegate: nothing is replaced.
    assert not opprofile.delegated_nodes(tflite.make_interpreter(tiny["fp32"], xnnpack=False))


def test_invoke_time_and_overhead():
    over = bench.invoke_overhead(1, repeats=20)
    assert 0 < over.median_ms < 1 and over.threads == 1


def test_roofline_peak_and_fraction():
    import pandas as pd

    table = pd.DataFrame([{"precision": "int8", "threads": 1, "MACs": 10, "GMAC/s": 400.0},
                          {"precision": "int8", "threads": 1, "MACs": 10, "GMAC/s": 500.0},
                          {"precision": "fp32", "threads": 1, "MACs": 0, "GMAC/s": float("nan")}])
    assert roofline.peak(table, "int8", 1) == 500.0
    assert np.isnan(roofline.peak(table, "fp32", 2))
    assert roofline.fraction_of_peak(50_000_000, 1.001, 0.001, 100.0) == pytest.approx(0.5)


def test_valid_card_passes_and_roundtrips(tmp_path):
    card = valid_card()
    assert cards.validate(card) == []
    path, what = cards.write(card, tmp_path)
    assert path.name == f"{card['slug']}.json" and what.startswith("wrote")
    _, again = cards.write(card, tmp_path)
    assert again.startswith("overwrote this machine's")
    assert list(cards.load_all(tmp_path)) == [card["slug"]]
    assert cards.speedups(card) == {("09", "0 baseline"): 2.0}


def test_another_machines_card_is_never_overwritten(tmp_path):
    card = valid_card()
    cards.write(card, tmp_path)
    other = copy.deepcopy(card)
    other["machine"]["fingerprint"] = "00000000"
    with pytest.raises(FileExistsError, match="another machine"):
        cards.write(other, tmp_path)


@pytest.mark.parametrize("breakage, message", [
    (lambda c: c.pop("machine"), "machine is absent"),
    (lambda c: c["models"][0].update(median_ms="fast"), r"models\[0\].median_ms must be float"),
    (lambda c: c["models"][0].update(precision="fp16"), "precision must be one of"),
    (lambda c: c["models"][0].pop("iqr_ms"), r"models\[0\].iqr_ms is absent"),
    (lambda c: c.update(models=[]), "models is empty"),
    (lambda c: c.update(schema="v0"), "schema must be"),
    (lambda c: c.update(source="transcribed from somewhere"), "must name the commit"),
])
def test_invalid_cards_are_named(breakage, message):
    card = valid_card()
    breakage(card)
    problems = cards.validate(card)
    assert any(__import__("re").search(message, p) for p in problems), problems
    with pytest.raises(ValueError, match="not a valid machine card"):
        cards.check(card)


def test_missing_fields_are_allowed_only_when_listed():
    card = valid_card()
    card["software"]["litert"] = None
    card["models"][0]["iqr_ms"] = None
    assert len(cards.validate(card)) == 2
    card["missing"].append("software.litert")
    card["models"][0]["missing"] = ["iqr_ms"]
    assert cards.validate(card) == []


def test_committed_cards_are_valid():
    found = cards.load_all()
    assert found, "benchmarks/ holds no card"
    assert any(c["source"].startswith("measured") for c in found.values())


def test_sentences_follow_the_numbers():
    mine, old = valid_card(), copy.deepcopy(valid_card())
    mine["machine"]["flags"] = {"avx2": True, "avx512_vnni": True}
    old.update(slug="old")
    old["machine"]["flags"] = {"avx2": True, "avx512_vnni": False}
    old["models"][1]["median_ms"] = 1.0
    lines = cards.int8_sentences(mine, {"old": old}, [("09", "0 baseline")])
    assert "2.00x faster" in lines[0] and "0.50x the speed (slower)" in lines[0]
    assert "AVX-512 VNNI" in lines[0] and "AVX2 only" in lines[0]
    assert "association" in lines[-1]
    json.dumps(lines)


def test_isa_level_and_slug():
    assert cards.isa_level({"avx2": True, "avx512_vnni": True}) == "avx512vnni"
    assert cards.isa_level({"avx2": True}) == "avx2"
    mach = cards.machine("model name\t: AMD EPYC 9R45 Processor\nflags\t\t: fpu avx2 fma avx512f avx512_vnni\n")
    assert mach["flags"]["avx512_vnni"] and cards.slug(mach).startswith("amd-epyc-9r45-avx512vnni-")
