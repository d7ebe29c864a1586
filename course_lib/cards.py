"""Machine cards: one JSON file per CPU the course has been measured on (``benchmarks/<slug>.json``), written by
``make benchmark`` (``scripts/benchmark.py``), so a run can be shown beside other CPUs' measurements.

A card holds the machine (CPU model, instruction-set flags, cores), the software versions, the protocol, this
CPU's roofline (:mod:`course_lib.roofline`), every timed model (fp32 and int8, 1 and 2 threads), delegate coverage
and per-operator summaries (:mod:`course_lib.opprofile`). A card transcribed from a notebook's stored outputs
lists in ``missing`` the fields it could not fill; every other field must be present. Nothing is ever guessed.

- :func:`machine` / :func:`slug` describe this CPU; :func:`new_card`, :func:`write` (never over another
  machine's card), :func:`load_all`;
- :func:`validate` lists what is wrong with a card (empty list: valid), :func:`check` raises on the first;
- :func:`speedups` reads fp32/int8 ratios from a card; :func:`int8_sentences` turns cards and profiles into
  verdicts that state only what was measured.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import platform
import re
from pathlib import Path

import pandas as pd

from . import bench, config

SCHEMA = "course-machine-card/1"
#: Where the committed cards live.
CARDS_DIR = config.REPO_ROOT / "benchmarks"

#: Top-level fields of a card and their types (None allowed only where the field is listed in ``missing``).
FIELDS = {"schema": str, "slug": str, "source": str, "date": str, "machine": dict, "software": dict,
          "protocol": dict, "roofline": list, "models": list, "call_overhead_ms": dict, "missing": list}
MACHINE_FIELDS = {"cpu_model": str, "isa_level": str, "flags": dict, "cores": int, "fingerprint": str}
SOFTWARE_FIELDS = {"litert": str, "tensorflow": str, "keras": str, "python": str}
PROTOCOL_FIELDS = {"warmup": int, "repeats": int, "rounds": int, "statistic": str, "batch": int, "runtime": str}
MODEL_FIELDS = {"group": str, "model": str, "precision": str, "threads": int, "median_ms": float, "iqr_ms": float,
                "macs": int, "bytes": int}
ROOFLINE_FIELDS = {"probe": str, "op": str, "precision": str, "threads": int, "median_ms": float}
#: Fields that may be null without being listed in ``missing`` (not applicable: a convolution moves no
#: counted bytes, an ADD does no MACs), but must have their type when present.
NULLABLE = {"gmacs": float, "gbs": float, "fraction_of_peak": float, "speed_index": float}
PRECISIONS = ("fp32", "int8")
#: ISA levels, best first: the first flag a CPU has names its level (x86 int8 features decide int8 speed).
ISA_LEVELS = (("amx_int8", "amx"), ("avx512_vnni", "avx512vnni"), ("avx_vnni", "avxvnni"), ("avx512f", "avx512"),
              ("avx2", "avx2"), ("i8mm", "arm-i8mm"), ("asimddp", "arm-dotprod"))


# --- this machine ------------------------------------------------------------------------------------

def _cpuinfo() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            return f.read()
    except OSError:
        return ""


def isa_level(flags: dict) -> str:
    """The best instruction-set level among :data:`ISA_LEVELS` that ``flags`` ({flag: True/False}) has."""
    return next((level for flag, level in ISA_LEVELS if flags.get(flag)), "baseline")


def machine(cpuinfo: str | None = None) -> dict:
    """This CPU: model, the course's flags (:data:`bench.CPU_FEATURES`) as True/False, cores, ISA level, and a
    fingerprint (hash of the model, the full flag list and the core count) that tells two machines apart."""
    text = _cpuinfo() if cpuinfo is None else cpuinfo
    info = bench.cpu_features(text)
    all_flags = sorted({f for line in text.splitlines() if line.lower().startswith(("flags", "features"))
                        for f in line.split(":", 1)[1].split()})
    flags = {f: (f in info["found"]) if info["known"] else None for f in bench.CPU_FEATURES}
    cores = os.cpu_count() or 1
    digest = hashlib.sha1(f"{info['model']}|{' '.join(all_flags)}|{cores}".encode()).hexdigest()[:8]
    return {"cpu_model": info["model"], "isa_level": isa_level(flags), "flags": flags, "cores": cores,
            "fingerprint": digest}


def slug(mach: dict) -> str:
    """File name stem of a card: CPU model, ISA level and a short hash, e.g. ``amd-epyc-avx512vnni-1a2b3c4d``."""
    model = re.sub(r"\(.*?\)|\b(processor|cpu|with|radeon graphics)\b|@.*", "", mach["cpu_model"], flags=re.I)
    stem = re.sub(r"[^a-z0-9]+", "-", model.lower()).strip("-")[:40] or "cpu"
    return f"{stem}-{mach['isa_level']}-{mach['fingerprint'][:8]}"


def software() -> dict:
    """Versions of the runtime stack: LiteRT, TensorFlow, Keras, Python."""
    from importlib import metadata

    def version(dist: str):
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return None

    return {"litert": version("ai-edge-litert"), "tensorflow": version("tensorflow"), "keras": version("keras"),
            "python": platform.python_version()}


def new_card(protocol: dict, source: str = "measured by make benchmark (scripts/benchmark.py)") -> dict:
    """An empty card for this machine (roofline and models to be filled in)."""
    mach = machine()
    return {"schema": SCHEMA, "slug": slug(mach), "source": source,
            "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"), "machine": mach,
            "software": software(), "protocol": dict(protocol), "roofline": [], "models": [],
            "call_overhead_ms": {}, "missing": []}


# --- schema -------------------------------------------------------------------------------------------

def _type_ok(value, kind) -> bool:
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, kind)


def _check_fields(obj, fields: dict, where: str, missing: set, problems: list) -> None:
    """Each field present with its type; None (or absent) only if ``where.field`` is in ``missing``."""
    if not isinstance(obj, dict):
        problems.append(f"{where} must be an object, got {type(obj).__name__}")
        return
    for name, kind in fields.items():
        path = f"{where}.{name}" if where else name
        value = obj.get(name)
        if value is None:
            if path not in missing and not any(path.startswith(m + ".") for m in missing):
                problems.append(f"{path} is absent (list it in 'missing' if it is unknown)")
        elif not _type_ok(value, kind):
            problems.append(f"{path} must be {kind.__name__}, got {type(value).__name__} {value!r}")
    for name, kind in NULLABLE.items():
        value = obj.get(name)
        if value is not None and not _type_ok(value, kind):
            problems.append(f"{where}.{name} must be {kind.__name__} or null, got {type(value).__name__} {value!r}")


def _check_rows(rows, fields: dict, where: str, missing: set, problems: list) -> None:
    if not isinstance(rows, list):
        return
    for i, row in enumerate(rows):
        _check_fields(row, fields, f"{where}[{i}]", missing, problems)
        if isinstance(row, dict) and row.get("precision") not in PRECISIONS:
            problems.append(f"{where}[{i}].precision must be one of {PRECISIONS}, got {row.get('precision')!r}")
        if isinstance(row, dict) and row.get("threads") is not None and _type_ok(row["threads"], int) and row["threads"] < 1:
            problems.append(f"{where}[{i}].threads must be >= 1, got {row['threads']}")


def _row_missing(rows, where: str, missing: set) -> set:
    """Per-row gaps: a row may list its own unknown fields in ``row['missing']`` (e.g. an IQR never printed)."""
    out = set()
    for i, row in enumerate(rows if isinstance(rows, list) else []):
        if isinstance(row, dict):
            out |= {f"{where}[{i}].{m}" for m in row.get("missing", [])}
    return out


def validate(card) -> list[str]:
    """Everything wrong with ``card`` (a dict as loaded from JSON), as sentences naming the field; [] if valid."""
    if not isinstance(card, dict):
        return [f"a card must be a JSON object, got {type(card).__name__}"]
    problems: list[str] = []
    missing = set(card.get("missing") or [])
    if card.get("schema") != SCHEMA:
        problems.append(f"schema must be {SCHEMA!r}, got {card.get('schema')!r}")
    _check_fields(card, FIELDS, "", missing, problems)
    _check_fields(card.get("machine"), MACHINE_FIELDS, "machine", missing, problems)
    _check_fields(card.get("software"), SOFTWARE_FIELDS, "software", missing, problems)
    _check_fields(card.get("protocol"), PROTOCOL_FIELDS, "protocol", missing, problems)
    for where, fields in (("models", MODEL_FIELDS), ("roofline", ROOFLINE_FIELDS)):
        rows = card.get(where)
        _check_rows(rows, fields, where, missing | _row_missing(rows, where, missing), problems)
    if isinstance(card.get("models"), list) and not card["models"] and "models" not in missing:
        problems.append("models is empty: a card needs at least one timed model")
    if isinstance(card.get("roofline"), list) and not card["roofline"] and "roofline" not in missing:
        problems.append("roofline is empty (list 'roofline' in missing if it was not measured)")
    source = card.get("source", "")
    if isinstance(source, str) and source.startswith("transcribed") and not re.search(r"commit [0-9a-f]{7,40}", source):
        problems.append("a transcribed card's source must name the commit: 'transcribed from stored outputs of commit <sha>'")
    return problems


def check(card, name: str = "card") -> dict:
    """``card`` if :func:`validate` finds nothing, else a ValueError listing the problems (``name``: the file)."""
    problems = validate(card)
    if problems:
        raise ValueError(f"{name} is not a valid machine card ({len(problems)} problem(s)): " + "; ".join(problems[:8]))
    return card


# --- files --------------------------------------------------------------------------------------------

def write(card: dict, folder: Path | str | None = None) -> tuple[Path, str]:
    """Write ``card`` to ``<folder>/<slug>.json`` after :func:`check`; returns the path and what happened.

    A file of the same name that holds another machine (another fingerprint) is never overwritten: that
    raises FileExistsError. The same machine's older card is replaced, and the message says so."""
    check(card)
    folder = Path(folder) if folder is not None else CARDS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{card['slug']}.json"
    what = f"wrote {path}"
    if path.exists():
        old = json.loads(path.read_text())
        if old.get("machine", {}).get("fingerprint") != card["machine"]["fingerprint"]:
            raise FileExistsError(f"{path} holds another machine's card (fingerprint "
                                  f"{old.get('machine', {}).get('fingerprint')}); not overwriting it")
        what = f"overwrote this machine's earlier card {path} (dated {old.get('date')})"
    path.write_text(json.dumps(card, indent=1, sort_keys=False) + "\n")
    return path, what


def load_all(folder: Path | str | None = None) -> dict[str, dict]:
    """Every valid card in ``folder`` (default ``benchmarks/``), ``{slug: card}``; an invalid one raises,
    naming its file."""
    folder = Path(folder) if folder is not None else CARDS_DIR
    cards = {}
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            card = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path} is not valid JSON: {exc}") from None
        cards[card.get("slug", path.stem)] = check(card, str(path))
    return cards


# --- reading cards ------------------------------------------------------------------------------------

def models_table(card: dict) -> pd.DataFrame:
    """A card's timed models as a table: one row per group, model and threads, fp32 and int8 side by side."""
    rows = pd.DataFrame(card["models"])
    if rows.empty:
        return rows
    wide = rows.pivot_table(index=["group", "model", "threads"], columns="precision", values="median_ms",
                            aggfunc="first", sort=False)
    wide.columns = [f"{c} ms" for c in wide.columns]
    if {"fp32 ms", "int8 ms"} <= set(wide.columns):
        wide["int8 speed-up (x)"] = wide["fp32 ms"] / wide["int8 ms"]
    return wide


def speedups(card: dict, threads: int = 1) -> dict[tuple[str, str], float]:
    """``{(group, model): fp32 ms / int8 ms}`` at ``threads`` for every model timed in both precisions."""
    table = models_table(card)
    if table.empty or "int8 speed-up (x)" not in table:
        return {}
    sub = table.xs(threads, level="threads").dropna(subset=["int8 speed-up (x)"])
    return {k: float(v) for k, v in sub["int8 speed-up (x)"].items()}


def describe_isa(card: dict) -> str:
    """e.g. 'AVX-512 VNNI' or 'AVX2 only, no VNNI/AVX-512'; from the card's flags."""
    flags = card["machine"].get("flags") or {}
    names = {"amx_int8": "AMX", "avx512_vnni": "AVX-512 VNNI", "avx_vnni": "AVX-VNNI", "asimddp": "ARM dot product"}
    has = [n for f, n in names.items() if flags.get(f)]
    if has:
        return " and ".join(has)
    if flags.get("avx2"):
        return "AVX2 only, no VNNI" + ("" if flags.get("avx512f") else " or AVX-512")
    return "no int8 dot-product instructions reported"


def _ratio_words(r: float, margin: float = 0.05) -> str:
    if r > 1 + margin:
        return f"{r:.2f}x faster"
    if r < 1 / (1 + margin):
        return f"{r:.2f}x the speed (slower)"
    return f"{r:.2f}x (about equal)"


def int8_sentences(this: dict, others: dict[str, dict], models: list[tuple[str, str]], losses: pd.DataFrame | None = None,
                   threads: int = 1) -> list[str]:
    """Verdicts about int8 built from measurements only: how fast int8 ran each of ``models`` ((group, model)
    keys of :func:`speedups`) on this card and on the others, and, given :func:`opprofile.int8_losses`, which
    operator types lost in int8 on this CPU. Cross-card statements are associations between what each card
    measured and its flags, and say so; no cause is claimed that a profile or roofline did not measure."""
    lines = []
    mine = speedups(this, threads)
    for key in models:
        if key not in mine:
            continue
        parts = [f"On this CPU ({describe_isa(this)}) int8 ran {key[1]} ({key[0]}) {_ratio_words(mine[key])} than fp32"]
        for slug_, card in others.items():
            r = speedups(card, threads).get(key)
            if r is not None and slug_ != this.get("slug"):
                parts.append(f"on the {describe_isa(card)} card ({slug_}) it ran {_ratio_words(r)}")
        lines.append("; ".join(parts) + f" ({threads} thread(s), LiteRT + XNNPACK, batch 1).")
    if losses is not None and len(losses):
        lost = losses[losses["int8 is"] == "slower"]
        won = losses[losses["int8 is"] == "faster"]
        if len(lost):
            lines.append("Measured per operator on this CPU, the operator types that lost in int8 were " + ", ".join(
                f"{t} ({r['speed-up (x)']:.2f}x, +{1000 * r['int8 lost ms']:.1f} µs per invoke)" for t, r in lost.iterrows())
                + ".")
        else:
            lines.append("Measured per operator on this CPU, no operator type was slower in int8.")
        if len(won):
            lines.append("The types that gained were " + ", ".join(
                f"{t} ({r['speed-up (x)']:.2f}x, {-1000 * r['int8 lost ms']:.1f} µs saved)" for t, r in won.iterrows()) + ".")
        extra = losses[losses["int8 is"] == "int8 only"]
        if len(extra):
            lines.append("Only in the int8 graph: " + ", ".join(f"{t} ({1000 * r['int8 ms']:.1f} µs)" for t, r in extra.iterrows()) + ".")
    if others and models:
        key = models[0]
        faster = [describe_isa(c) for c in {**others, this["slug"]: this}.values() if speedups(c, threads).get(key, 0) > 1.05]
        slower = [describe_isa(c) for c in {**others, this["slug"]: this}.values()
                  if 0 < speedups(c, threads).get(key, 0) < 1 / 1.05]
        if faster and slower:
            lines.append(f"Across the cards, int8 paid for {key[1]} on {', '.join(sorted(set(faster)))} and did not on "
                         f"{', '.join(sorted(set(slower)))}: an association between the cards' measurements and their "
                         "flags (the machines differ in more than their instruction sets).")
    return lines


def from_timings(timings: dict, roofline_table: pd.DataFrame | None = None, call_overhead: dict | None = None,
                 source: str = "this run of a notebook (not committed)") -> dict:
    """A card of this run: ``timings`` is ``{(group, model, precision, threads): bench.Timing}`` (precision
    "fp32"/"int8"), ``roofline_table`` the output of :func:`course_lib.roofline.measure`, ``call_overhead``
    ``{threads: ms}``. Validated with :func:`check`, so it can stand beside the committed cards."""
    card = new_card({"warmup": 5, "repeats": max(t.repeats for t in timings.values()), "rounds": 3, "batch": 1,
                     "statistic": "median of the calmest interleaved round", "runtime": "LiteRT + XNNPACK"}, source)
    card["models"] = [{"group": g, "model": m, "precision": p, "threads": int(t), "median_ms": float(tm.median_ms),
                       "iqr_ms": float(tm.iqr_ms), "macs": None, "bytes": None, "missing": ["macs", "bytes"]}
                      for (g, m, p, t), tm in timings.items()]
    if roofline_table is not None:
        card["roofline"] = [{"probe": r["probe"], "op": r["op"], "precision": r["precision"], "threads": int(r["threads"]),
                             "median_ms": float(r["median ms"]), "gmacs": None if r["GMAC/s"] != r["GMAC/s"] else float(r["GMAC/s"]),
                             "gbs": None if r["GB/s"] != r["GB/s"] else float(r["GB/s"])} for _, r in roofline_table.iterrows()]
    else:
        card["missing"].append("roofline")
    card["call_overhead_ms"] = {str(k): float(v) for k, v in (call_overhead or {}).items()}
    return check(card, "this run's card")


def side_by_side(all_cards: dict[str, dict], keys: list[tuple[str, str]], threads: int = 1) -> pd.DataFrame:
    """int8 speed-up (fp32 ms / int8 ms) of each (group, model) in ``keys`` on every card: one column per card,
    headed by its ISA description; blank where a card did not time that model."""
    table = pd.DataFrame({f"{describe_isa(c)} · {s}": {f"{g} {m}": speedups(c, threads).get((g, m)) for g, m in keys}
                          for s, c in all_cards.items()})
    return table.astype(float)
