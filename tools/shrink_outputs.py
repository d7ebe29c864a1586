"""Keep executed notebooks under the course's 1 MB per file: re-encode large PNG figures as JPEG.

Figures of photographs and noisy synthetic images (the pose figures of 09, BlazePose on a photo) compress
badly as PNG (several hundred kB each) and well as JPEG. Line plots stay PNG, with a 256-colour palette instead of
full RGBA when that is at most 60 % of the size (a plot has few colours: the palette loses nothing visible). Only an
image output larger than ``--min-kb`` is touched, keeping the same width and height metadata.
Nothing else in the notebook changes. ``make execute`` (tests/time_notebooks.py --execute-in-place) runs it
on every notebook it saves.

    python tools/shrink_outputs.py notebooks/09_capstone_hourglass.ipynb [--min-kb 50] [--quality 85]
"""
from __future__ import annotations

import argparse
import base64
import io
import sys
from pathlib import Path

import nbformat
from PIL import Image


def _outputs(nb):
    """Every output of the notebook: the cells', and those stored in the widget state (an interact's figure)."""
    for cell in nb.cells:
        yield from cell.get("outputs", [])
    state = nb.metadata.get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {}).get("state", {})
    for widget in state.values():
        yield from widget.get("state", {}).get("outputs", []) or []


def shrink(nb, min_kb: float = 50.0, quality: int = 85) -> int:
    """Re-encode large PNG outputs of ``nb`` in place; returns how many were replaced."""
    replaced = 0
    for output in _outputs(nb):
        data = output.get("data", {})
        png = data.get("image/png")
        if not png or len(png) * 3 / 4 < min_kb * 1000:
            continue
        image = Image.open(io.BytesIO(base64.b64decode(png)))
        palette = io.BytesIO()
        image.convert("RGB").quantize(256, method=Image.Quantize.MEDIANCUT).save(palette, format="PNG", optimize=True)
        if len(image.convert("RGB").getcolors(1 << 16) or ()) and palette.tell() <= 0.6 * len(png) * 3 / 4:
            data["image/png"] = base64.b64encode(palette.getvalue()).decode("ascii")   # a plot: few colours
            replaced += 1
            continue
        background = Image.new("RGB", image.size, "white")
        background.paste(image.convert("RGBA"), mask=image.convert("RGBA").split()[-1])
        buffer = io.BytesIO()
        background.save(buffer, format="JPEG", quality=quality, optimize=True)
        if buffer.tell() > 0.6 * len(png) * 3 / 4:   # not worth the JPEG artefacts
            continue
        del data["image/png"]
        data["image/jpeg"] = base64.b64encode(buffer.getvalue()).decode("ascii")
        replaced += 1
    return replaced


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("paths", nargs="+", type=Path)
    parser.add_argument("--min-kb", type=float, default=50.0)
    parser.add_argument("--quality", type=int, default=85)
    args = parser.parse_args()
    for path in args.paths:
        nb = nbformat.read(path, as_version=4)
        before = path.stat().st_size
        n = shrink(nb, args.min_kb, args.quality)
        if n:
            nbformat.write(nb, path)
        print(f"{path}: {n} figure(s) re-encoded, {before / 1e3:.0f} -> {path.stat().st_size / 1e3:.0f} kB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
