"""make benchmark: this machine's card, benchmarks/<slug>.json (course_lib.cards).

Builds every model notebook 08 times (its three deployed models, the MobileNetV2 family of section 10 and the
α = 1.4 small MobileNetV2) and the capstone's architectures (notebook 09's builder, course_lib.pose, one row per
architecture it converts), untrained: latency does not depend on the weights' values, but int8 needs activation
ranges, so batch norm is calibrated on course images (as notebook 08's family does) and int8 is calibrated on
32 of them. Adds the page's committed models (demo/models/). Times each in fp32 and int8 at 1 and 2 threads
(LiteRT + XNNPACK, batch 1, warm-up, repeats, the four configurations interleaved, median and IQR of the calmest
round), measures the roofline probes, the delegate's coverage and the per-operator profiles of the capstone's
baseline and one-stack model, and writes the card. Usage: python scripts/benchmark.py [--out DIR] [--speed-index F]
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from course_lib import bench, cards, config, data, mobilenet, models, opprofile, pose, roofline, tflite  # noqa: E402

WARMUP, ROUNDS = 5, 3
FAMILY = [(0.35, 32), (0.35, 96), (0.5, 128), (0.5, 224), (1.0, 32), (1.0, 96), (1.0, 160), (1.0, 224)]  # 08, section 10
BASE = dict(features=64, stem_widths=(32, 64), stacks=2, depth=3, block="residual")  # course_lib.capstone.BASE
CAPSTONE = {  # 09's rows that it converts to LiteRT (the steps dropped before training are never converted)
    "0 baseline": {}, "1 width 64→32": {"features": 32}, "3 slim stem": {"stem_widths": (16, 32)},
    "5 hyper-feature head": {"hyper_head": True}, "6 one stack": {"stacks": 1},
}
PROFILED = ("0 baseline", "6 one stack")


def repeats_for(ms: float) -> int:
    """More repeats for fast models, fewer for slow ones: about 100 ms of timed calls per configuration."""
    return int(min(200, max(20, 100 / max(ms, 1e-3))))


def resized(x, res):
    import tensorflow as tf

    return x if x.shape[1] == res else tf.image.resize(x, (res, res)).numpy()


def notebook_08_models(shapes, digits):
    """{name: (keras model, calibration images)} of notebook 08, in its order."""
    out = {"standard_cnn": (models.small_cnn((28, 28, 1), name="standard_cnn"), digits),
           "separable_cnn": (models.small_cnn((28, 28, 1), separable=True, name="separable_cnn"), digits)}
    for name, alpha in (("mobilenet_v2_small", 0.35), ("mobilenet_v2_small_1.4", 1.4)):
        m = mobilenet.mobilenet_v2_small((32, 32, 3), alpha=alpha, name=name.replace(".", "_"))
        out[name] = (mobilenet.calibrate_batch_norm(m, shapes), shapes)
    for alpha, res in FAMILY:
        calib = resized(shapes, res)
        m = mobilenet.mobilenet_v2((res, res, 3), alpha=alpha, classes=10)
        out[f"mobilenet_v2 a{alpha} {res}px"] = (mobilenet.calibrate_batch_norm(m, calib), calib)
    return out


def capstone_models(poses):
    """{row: (inference keras model, calibration images)} of the capstone, plus the 50 % channel-pruned one stack."""
    out = {}
    for name, change in CAPSTONE.items():
        cfg = dict(BASE, **change)
        out[name] = (mobilenet.calibrate_batch_norm(pose.inference_model(pose.stacked_hourglass(**cfg)), poses), poses)
    one = dict(BASE, stacks=1)
    pruned, _ = pose.prune_hidden_channels(pose.stacked_hourglass(**one), 0.5, one, criterion="l1")
    out["7 one stack, 50% hidden channels pruned"] = (
        mobilenet.calibrate_batch_norm(pose.inference_model(pruned), poses), poses)
    return out


def convert_all(built: dict, group: str, say) -> dict:
    """{(group, name, precision): flatbuffer}."""
    fbs = {}
    for name, (model, calib) in built.items():
        fbs[group, name, "fp32"] = tflite.convert(model, "float32")
        fbs[group, name, "int8"] = tflite.convert(model, "int8", representative_data=calib)
        say(f"  converted {group} {name}")
    return fbs


def page_models() -> dict:
    """The page's committed flatbuffers (demo/models/models.json), by their labels."""
    folder = ROOT / "demo" / "models"
    meta = json.loads((folder / "models.json").read_text())
    return {("page", f"{m['label']} ({m['file']})", "fp32" if m["mode"] == "float32" else "int8"):
            (folder / m["file"]).read_bytes() for m in meta["models"]}


def time_models(fbs: dict, threads=(1, 2)) -> list[dict]:
    """One row per flatbuffer and thread count; the configurations of one model are interleaved."""
    rows, by_model = [], {}
    for (group, name, precision), fb in fbs.items():
        by_model.setdefault((group, name), {})[precision] = fb
    for (group, name), pair in by_model.items():
        probe = bench.time_interpreter(next(iter(pair.values())), num_threads=1, warmup=2, repeats=5).median_ms
        reps = repeats_for(probe)
        timers = {(p, t): (lambda fb=fb, t=t: bench.time_interpreter(fb, num_threads=t, warmup=WARMUP, repeats=reps))
                  for p, fb in pair.items() for t in threads}
        for (p, t), timing in bench.interleaved(timers, rounds=ROUNDS).items():
            cov = opprofile.delegate_coverage(pair[p], num_threads=t)
            rows.append({"group": group, "model": name, "precision": p, "threads": t,
                         "median_ms": timing.median_ms, "iqr_ms": timing.iqr_ms, "repeats": reps,
                         "macs": tflite.macs(pair[p]), "bytes": len(pair[p]),
                         "xnnpack_nodes": cov.delegated, "graph_nodes": cov.nodes})
    return rows


def add_fraction_of_peak(card: dict) -> None:
    """Each model row's MACs per second (net of the call overhead) as a fraction of the conv peak."""
    table = __import__("pandas").DataFrame(card["roofline"]).rename(columns={"gmacs": "GMAC/s", "macs": "MACs"})
    for row in card["models"]:
        top = roofline.peak(table, row["precision"], row["threads"])
        over = card["call_overhead_ms"].get(str(row["threads"]), 0.0)
        row["fraction_of_peak"] = roofline.fraction_of_peak(row["macs"], row["median_ms"], over, top)


def clean(value):
    """NaN -> None, numpy scalars -> Python, recursively (JSON has no NaN)."""
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(cards.CARDS_DIR), help="folder of the cards (default benchmarks/)")
    parser.add_argument("--speed-index", type=float, default=None,
                        help="this machine's factor from ../shared/tools/speed_index.py, if you measured it")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", message="The structure of `inputs` doesn't match")  # Keras, harmless
    t0 = time.perf_counter()
    say = lambda msg: print(f"[{time.perf_counter() - t0:5.0f} s] {msg}", flush=True)  # noqa: E731
    config.seed_everything(0)
    card = cards.new_card({"warmup": WARMUP, "repeats": 200, "rounds": ROUNDS, "batch": 1, "runtime": "LiteRT + XNNPACK",
                           "statistic": "median (and IQR) of the calmest of 3 interleaved rounds of set_tensor + "
                                        "invoke + get_tensor; 'repeats' is the most per round: each model row says "
                                        "its own (about 100 ms of calls, 20 to 200)"})
    card["machine"]["speed_index"] = args.speed_index
    say(f"{card['machine']['cpu_model']} ({card['machine']['isa_level']}), {card['machine']['cores']} cores; card {card['slug']}")
    card["call_overhead_ms"] = {str(t): bench.call_overhead("litert", num_threads=t, repeats=300).median_ms for t in (1, 2)}
    probes = roofline.measure(threads=(1, 2))
    card["roofline"] = [{"probe": r["probe"], "op": r["op"], "precision": r["precision"], "threads": int(r["threads"]),
                         "median_ms": r["median ms"], "iqr_ms": r["IQR ms"], "macs": int(r["MACs"]), "gmacs": r["GMAC/s"],
                         "bytes_moved": int(r["bytes moved"]), "gbs": r["GB/s"], "xnnpack": bool(r["XNNPACK"])}
                        for _, r in probes.iterrows()]
    say("roofline measured")
    shapes = data.load("shapes", fast=True)[0][0][:32]
    digits = data.load("digits", fast=True)[0][0][:32]
    poses = data.load("poses", fast=True)[0][0][:32]
    fbs = convert_all(notebook_08_models(shapes, digits), "08", say)
    fbs.update(convert_all(capstone_models(poses), "09", say))
    fbs.update(page_models())
    say(f"{len(fbs)} flatbuffers ready; timing")
    card["models"] = time_models(fbs)
    add_fraction_of_peak(card)
    say("models timed; profiling")
    card["profiles"], card["int8_losses"] = [], {}
    for name in PROFILED:
        profs = {p: opprofile.profile(fbs["09", name, p], num_threads=1, repeats=30, label=f"09 {name} {p}")
                 for p in ("fp32", "int8")}
        card["profiles"] += [prof.summary() for prof in profs.values()]
        losses = opprofile.int8_losses(profs["fp32"], profs["int8"])
        card["int8_losses"][name] = {t: {k: r[k] for k in ("fp32 ms", "int8 ms", "speed-up (x)", "int8 is")}
                                     for t, r in losses.iterrows()}
        say(profs["int8"].check_line())
    card["elapsed_s"] = time.perf_counter() - t0
    card = clean(card)
    path, what = cards.write(card, args.out)
    say(what)
    for line in cards.int8_sentences(card, {}, [("09", "0 baseline"), ("09", "6 one stack")]):
        print(" ", line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
