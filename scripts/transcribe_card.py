"""A partial machine card transcribed from the stored outputs of notebooks 08 and 09 at a commit (the committed
full-mode run on the AVX2-only machine, which never ran make benchmark). Every number is read from the outputs'
text; what they do not show (roofline, software versions, IQRs of 09's rows, the page's models) is listed in the
card's ``missing``. Usage: python scripts/transcribe_card.py COMMIT [--out DIR]
"""
from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from course_lib import bench, cards  # noqa: E402

NB08, NB09 = "notebooks/08_tflite_deployment.ipynb", "notebooks/09_capstone_hourglass.ipynb"
NUMBER = r"-?\d+(?:\.\d+)?"


def outputs(commit: str, path: str) -> list[tuple[str, str]]:
    """(cell source, output text) for every text output of the notebook at ``commit``."""
    nb = json.loads(subprocess.check_output(["git", "show", f"{commit}:{path}"], cwd=ROOT))
    found = []
    for cell in nb["cells"]:
        for out in cell.get("outputs", []):
            text = out.get("text") or out.get("data", {}).get("text/plain")
            if text:
                found.append(("".join(cell["source"]), "".join(text)))
    return found


def machine_from(text: str) -> dict:
    """The machine as the stored cpu_features_line and machine_line print it."""
    model = re.search(r"Host CPU: (.+?) \((\d+) logical cores\)", text)
    has = re.search(r"; has (.+?); lacks (.+?) \(of the x86", text)
    found = {f for f in bench.CPU_FEATURES if re.search(rf"\b{f}\b", has.group(1))}
    lacked = {f for f in bench.CPU_FEATURES if re.search(rf"\b{f}\b", has.group(2))}
    flags = {f: (True if f in found else False if f in lacked else None) for f in bench.CPU_FEATURES}
    fp = "t" + cards.hashlib.sha1(f"{model.group(1)}|{sorted(found)}|{model.group(2)}".encode()).hexdigest()[:7]
    return {"cpu_model": model.group(1), "isa_level": cards.isa_level(flags), "flags": flags,
            "cores": int(model.group(2)), "fingerprint": fp, "speed_index": None}


def rows_08(outs) -> list[dict]:
    """Section 8's latency table (float32 and int8 of the three models, 1 and 2 threads, median and IQR) and
    section 10's family table (median at 1 and 2 threads; no IQR printed)."""
    rows = []
    latency = next(t for s, t in outs if "latency.pivot_table" in s and "median ms" in t)
    model = None
    for line in latency.splitlines():
        m = re.match(rf"^(\w+)?\s+(float32|int8|dynamic|float16)\s+({NUMBER})\s+({NUMBER})\s+({NUMBER})\s+({NUMBER})\s*$", line)
        if m:
            model = m.group(1) or model
            if m.group(2) in ("float32", "int8"):
                for t, med, iqr in ((1, m.group(3), m.group(5)), (2, m.group(4), m.group(6))):
                    rows.append({"group": "08", "model": model, "precision": "fp32" if m.group(2) == "float32" else "int8",
                                 "threads": t, "median_ms": float(med), "iqr_ms": float(iqr), "macs": None, "bytes": None,
                                 "missing": ["macs", "bytes"]})
    family = next(t for s, t in outs if "family_rows" in s and "float32 ms, 1 thr." in t)
    head = re.compile(rf"^\d+\s+(mobilenet_v2 \(untrained, BN calibrated\)|mobilenet_v2_small \(trained\))\s+({NUMBER})\s+(\d+)\s+(\d+)\s*$")
    blocks = family.split("\n\n")
    meta = [head.match(line) for line in blocks[0].splitlines()]
    meta = [m for m in meta if m]
    table = {}
    for block in blocks[1:]:
        cols = [c for c in re.split(r"\s{2,}", block.splitlines()[0].strip().rstrip("\\").strip())
                if c and not c.startswith("int8 is")]  # the verdict columns hold words, not numbers
        for line in block.splitlines()[1:]:
            parts = line.split()
            if parts and parts[0].isdigit():
                nums = [p for p in parts[1:] if re.fullmatch(NUMBER, p)]
                table.setdefault(int(parts[0]), {}).update(dict(zip(cols, nums)) if len(nums) == len(cols) else {})
    for i, m in enumerate(meta):
        alpha, res, macs = float(m.group(2)), int(m.group(3)), int(m.group(4))
        name = "mobilenet_v2_small_1.4" if "small" in m.group(1) else f"mobilenet_v2 a{alpha} {res}px"
        for t in (1, 2):
            for p, col in (("fp32", f"float32 ms, {t} thr."), ("int8", f"int8 ms, {t} thr.")):
                if col in table.get(i, {}):
                    rows.append({"group": "08", "model": name, "precision": p, "threads": t,
                                 "median_ms": float(table[i][col]), "iqr_ms": None, "macs": macs, "bytes": None,
                                 "missing": ["iqr_ms", "bytes"]})
    return rows


def rows_09(outs) -> list[dict]:
    """The capstone's final table: fp32 and int8 ms of every converted row at 64x64, 1 thread (median only)."""
    final = next(t for s, t in outs if "shown.round(3)" in s and "fp32 ms" in t)
    blocks = final.split("\n\n")
    block = next(b for b in blocks if "fp32 ms" in b.splitlines()[0])
    rows = []
    for line in block.splitlines()[1:]:
        m = re.match(rf"^(\d+[a-z]? .+?)\s{{2,}}.*?({NUMBER}|NaN)\s+({NUMBER}|NaN)\s+({NUMBER}|NaN)\s*$", line)
        if not m or "NaN" in (m.group(2), m.group(3)) or m.group(1).startswith(("8", "9")):
            continue  # 8x and 9 are the one-stack architecture again
        name = {"7 channel-pruned": "7 one stack, 50% hidden channels pruned"}.get(m.group(1).strip(), m.group(1).strip())
        for p, value in (("fp32", m.group(2)), ("int8", m.group(3))):
            rows.append({"group": "09", "model": name, "precision": p, "threads": 1, "median_ms": float(value),
                         "iqr_ms": None, "macs": int(round(float(m.group(4)) * 1e6, -4)), "bytes": None,
                         "missing": ["iqr_ms", "bytes"], "note": "MACs as printed (M, 2 decimals)"})
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("commit")
    parser.add_argument("--out", default=str(cards.CARDS_DIR))
    args = parser.parse_args(argv)
    sha = subprocess.check_output(["git", "rev-parse", args.commit], cwd=ROOT, text=True).strip()
    o8, o9 = outputs(sha, NB08), outputs(sha, NB09)
    mach = machine_from(next(t for _, t in o8 if "lacks" in t and "Host CPU" in t))
    overhead = re.search(r"LiteRT ([\d.]+) µs at 1 thread\(s\), ([\d.]+) µs at 2 thread", "\n".join(t for _, t in o8))
    card = {"schema": cards.SCHEMA, "slug": f"{cards.slug(mach)}-transcribed", "source":
            f"transcribed from stored outputs of commit {sha} ({NB08}, {NB09}; full mode)",
            "date": subprocess.check_output(["git", "show", "-s", "--format=%cI", sha], cwd=ROOT, text=True).strip(),
            "machine": mach, "software": {"litert": None, "tensorflow": None, "keras": None, "python": None},
            "protocol": {"warmup": 5, "repeats": 200, "rounds": 3, "batch": 1, "runtime": "LiteRT + XNNPACK",
                         "statistic": "median of the calmest of 3 interleaved rounds (08 section 8: 200 runs; 08 "
                                      "section 10: 30 runs; 09: 40 runs)"},
            "roofline": [], "models": rows_08(o8) + rows_09(o9),
            "call_overhead_ms": {"1": float(overhead.group(1)) / 1000, "2": float(overhead.group(2)) / 1000},
            "missing": ["roofline", "software.litert", "software.tensorflow", "software.keras", "software.python",
                        "page models", "profiles"]}
    path, what = cards.write(card, args.out)
    print(what, f"({len(card['models'])} model rows)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
