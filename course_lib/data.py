"""The course's datasets: generated offline, deterministic, cached under ``data/`` with a manifest.

- ``digits``: 28x28x1 grey digits 0-9 rendered from the fonts matplotlib ships, with random affine
  warps, stroke width, blur, clutter and noise. Plays the role of MNIST.
- ``shapes``: 32x32x3 coloured shapes (10 classes) on textured backgrounds. Plays the role of CIFAR-10.

``load(name)`` returns ``(x_train, y_train), (x_test, y_test)``: float32 images in [0, 1] and
int64 labels. In fast mode (``COURSE_FAST=1``) it returns the first few thousand samples of the
same data. The first call generates the file (a few seconds) and records its sha256 in
``data/manifest.json``; later calls check the file against the manifest and refuse to use, or to
overwrite, a file that differs.

``load_real(name)`` is the opt-in loader for MNIST, Fashion-MNIST and CIFAR-10 (needs internet).
"""
from __future__ import annotations

import hashlib
import os
import json
from pathlib import Path

import numpy as np

from . import config

GENERATOR_VERSION = 1

#: Sizes of the full datasets and of the fast-mode subsets.
SIZES = {"train": 20000, "test": 4000}
FAST_SIZES = {"train": 3000, "test": 1000}

CLASS_NAMES = {
    "digits": [str(d) for d in range(10)],
    "shapes": ["disk", "ring", "square", "frame", "triangle",
               "diamond", "plus", "cross", "half-disk", "flower"],
}
SEEDS = {"digits": 1234, "shapes": 5678}
REAL_DATASETS = ("mnist", "fashion_mnist", "cifar10")

_FONT_FILES = [
    "DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSans-Oblique.ttf", "DejaVuSans-BoldOblique.ttf",
    "DejaVuSansMono.ttf", "DejaVuSansMono-Bold.ttf", "DejaVuSerif.ttf", "DejaVuSerif-Bold.ttf",
    "DejaVuSerif-Italic.ttf", "STIXGeneral.ttf", "STIXGeneralBol.ttf", "STIXGeneralItalic.ttf",
    "cmr10.ttf", "cmss10.ttf", "cmtt10.ttf", "cmb10.ttf", "cmti10.ttf",
]


class DataError(RuntimeError):
    """A dataset could not be loaded; the message says what to do."""


# --------------------------------------------------------------------------- public API
def available() -> list[str]:
    """Names accepted by :func:`load`."""
    return sorted(CLASS_NAMES)


def class_names(name: str) -> list[str]:
    """Human-readable class names of a dataset."""
    _check_name(name)
    return list(CLASS_NAMES[name])


def load(name: str, fast: bool | None = None, data_dir: Path | None = None):
    """Load a synthetic dataset as ``(x_train, y_train), (x_test, y_test)``.

    Images are float32 in [0, 1] with shape (N, H, W, C); labels are int64 class indices.
    ``fast=None`` follows the course's fast mode; ``data_dir`` defaults to the repo's ``data/``.
    """
    _check_name(name)
    fast = config.is_fast() if fast is None else fast
    path = ensure_generated(name, data_dir)
    with np.load(path) as arrays:
        x_tr, y_tr, x_te, y_te = (arrays[k] for k in ("x_train", "y_train", "x_test", "y_test"))
    if fast:
        x_tr, y_tr = x_tr[: FAST_SIZES["train"]], y_tr[: FAST_SIZES["train"]]
        x_te, y_te = x_te[: FAST_SIZES["test"]], y_te[: FAST_SIZES["test"]]
    to_float = lambda x: x.astype(np.float32) / np.float32(255.0)  # noqa: E731
    return (to_float(x_tr), y_tr.astype(np.int64)), (to_float(x_te), y_te.astype(np.int64))


def ensure_generated(name: str, data_dir: Path | None = None) -> Path:
    """Return the path of the cached file, generating it if absent and verifying it if present."""
    _check_name(name)
    data_dir = Path(data_dir or config.DATA_DIR)
    path = data_dir / f"{name}.npz"
    if not path.exists():
        return generate(name, data_dir=data_dir)
    verify(name, data_dir)
    return path


def generate(name: str, data_dir: Path | None = None, overwrite: bool = False) -> Path:
    """Generate ``name`` into ``data_dir`` and record it in the manifest.

    An existing file is only replaced when ``overwrite=True``: the course never overwrites data
    silently.
    """
    _check_name(name)
    data_dir = Path(data_dir or config.DATA_DIR)
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / f"{name}.npz"
    if path.exists() and not overwrite:
        raise DataError(f"{path} already exists; pass overwrite=True to replace it.")
    rng = np.random.default_rng(SEEDS[name])
    make = _make_digits if name == "digits" else _make_shapes
    x_tr, y_tr = make(SIZES["train"], rng)
    x_te, y_te = make(SIZES["test"], rng)
    tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp.npz")  # unique: parallel kernels may race
    np.savez(tmp, x_train=x_tr, y_train=y_tr, x_test=x_te, y_test=y_te)
    tmp.replace(path)
    manifest = _read_manifest(data_dir)
    manifest[name] = {
        "file": path.name,
        "generator_version": GENERATOR_VERSION,
        "seed": SEEDS[name],
        "sizes": SIZES,
        "shape": list(x_tr.shape[1:]),
        "classes": CLASS_NAMES[name],
        "sha256": sha256(path),
    }
    (data_dir / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return path


def verify(name: str, data_dir: Path | None = None) -> None:
    """Raise :class:`DataError` unless ``data/<name>.npz`` matches its manifest entry."""
    data_dir = Path(data_dir or config.DATA_DIR)
    path = data_dir / f"{name}.npz"
    entry = _read_manifest(data_dir).get(name)
    fix = (f"Delete {path} to have it regenerated, or run "
           f"course_lib.data.generate({name!r}, overwrite=True).")
    if entry is None:
        raise DataError(f"{path} exists but data/manifest.json has no entry for it, so it cannot be "
                        f"checked. If you made this file, move it elsewhere; otherwise: {fix}")
    if entry.get("generator_version") != GENERATOR_VERSION:
        raise DataError(f"{path} was made by generator version {entry.get('generator_version')}, "
                        f"this course_lib makes version {GENERATOR_VERSION}. {fix}")
    actual = sha256(path)
    if actual != entry.get("sha256"):
        raise DataError(f"{path} does not match its manifest (sha256 {actual[:12]}... instead of "
                        f"{str(entry.get('sha256'))[:12]}...): it is corrupted or was changed. {fix}")


def sha256(path: Path) -> str:
    """Hex sha256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_real(name: str):
    """Opt-in: load MNIST, Fashion-MNIST or CIFAR-10 through ``keras.datasets`` (needs internet).

    Returns the same layout as :func:`load` (float32 in [0, 1], channel axis, int64 labels).
    """
    if name not in REAL_DATASETS:
        raise DataError(f"Unknown real dataset {name!r}; choose one of {', '.join(REAL_DATASETS)}.")
    import keras

    try:
        (x_tr, y_tr), (x_te, y_te) = getattr(keras.datasets, name).load_data()
    except Exception as exc:  # network errors come in many types
        stand_in = "shapes" if name == "cifar10" else "digits"
        raise DataError(
            f"Could not download {name!r} ({type(exc).__name__}: {exc}). You are probably offline. "
            f"The course runs offline on synthetic data: use course_lib.data.load({stand_in!r}).") from exc
    fix = lambda x: (x[..., None] if x.ndim == 3 else x).astype(np.float32) / 255.0  # noqa: E731
    return (fix(x_tr), y_tr.reshape(-1).astype(np.int64)), (fix(x_te), y_te.reshape(-1).astype(np.int64))


# --------------------------------------------------------------------------- helpers
def _check_name(name: str) -> None:
    if not isinstance(name, str):
        raise DataError(f"the dataset name must be a string such as 'digits', got {type(name).__name__} {name!r}")
    if name in REAL_DATASETS:
        raise DataError(f"{name!r} is a real dataset that needs a download: use "
                        f"course_lib.data.load_real({name!r}) when online. Synthetic names: {available()}.")
    if name not in CLASS_NAMES:
        raise DataError(f"Unknown dataset {name!r}. Available synthetic datasets: {available()}; "
                        f"real ones (online only) via load_real: {list(REAL_DATASETS)}.")


def _read_manifest(data_dir: Path) -> dict:
    path = data_dir / "manifest.json"
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise DataError(f"{path} is not valid JSON ({exc}). Fix or delete it, and delete the .npz "
                        f"files beside it so they are regenerated.") from exc


def _balanced_labels(n: int, rng: np.random.Generator) -> np.ndarray:
    return rng.permutation(np.arange(n) % 10).astype(np.uint8)


def _sample_bilinear(img: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """Sample images ``img`` (N, H, W) at float coordinates (N, h, w); outside counts as 0."""
    n, h, w = img.shape
    padded = np.zeros((n, h + 2, w + 2), img.dtype)
    padded[:, 1:-1, 1:-1] = img
    ys = np.clip(ys + 1, 0, h + 0.999)
    xs = np.clip(xs + 1, 0, w + 0.999)
    y0, x0 = np.floor(ys).astype(int), np.floor(xs).astype(int)
    y1, x1 = np.minimum(y0 + 1, h + 1), np.minimum(x0 + 1, w + 1)
    fy, fx = ys - y0, xs - x0
    idx = np.arange(n)[:, None, None]
    top = padded[idx, y0, x0] * (1 - fx) + padded[idx, y0, x1] * fx
    bottom = padded[idx, y1, x0] * (1 - fx) + padded[idx, y1, x1] * fx
    return top * (1 - fy) + bottom * fy


def _blur(imgs: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian blur over axes 1 and 2 of (N, H, W[, C])."""
    if sigma <= 0:
        return imgs
    radius = int(np.ceil(2.5 * sigma))
    t = np.arange(-radius, radius + 1)
    k = np.exp(-0.5 * (t / sigma) ** 2)
    k /= k.sum()
    out = imgs
    for axis in (1, 2):
        pad = [(0, 0)] * imgs.ndim
        pad[axis] = (radius, radius)
        padded = np.pad(out, pad)
        length = out.shape[axis]
        out = sum(w * np.take(padded, np.arange(i, i + length), axis=axis) for i, w in enumerate(k))
    return out


def _glyph_templates(size: int = 40) -> np.ndarray:
    """Digits 0-9 from each bundled font, centred on a ``size`` x ``size`` canvas: (fonts, 10, size, size)."""
    import matplotlib
    from matplotlib.ft2font import FT2Font

    font_dir = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    out = np.zeros((len(_FONT_FILES), 10, size, size), np.float32)
    for f, fname in enumerate(_FONT_FILES):
        font = FT2Font(str(font_dir / fname))
        for d in range(10):
            font.set_size(26, 72)
            font.set_text(str(d))
            font.draw_glyphs_to_bitmap(antialiased=True)
            glyph = np.asarray(font.get_image(), np.float32) / 255.0
            ys, xs = np.nonzero(glyph > 0.05)
            glyph = glyph[ys.min(): ys.max() + 1, xs.min(): xs.max() + 1]
            gh, gw = glyph.shape
            if max(gh, gw) > size - 2:  # very large glyphs: shrink by striding
                step = int(np.ceil(max(gh, gw) / (size - 2)))
                glyph = glyph[::step, ::step]
                gh, gw = glyph.shape
            top, left = (size - gh) // 2, (size - gw) // 2
            out[f, d, top: top + gh, left: left + gw] = glyph
    return out


def _make_digits(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    templates = _glyph_templates()  # (F, 10, 40, 40), digit height about 26 px
    n_fonts, size = templates.shape[0], templates.shape[-1]
    labels = _balanced_labels(n, rng)
    fonts = rng.integers(0, n_fonts, n)
    # Stroke width: each template in a thin, normal and thick version (min / max filter).
    shifted = [np.roll(np.roll(templates, dy, 2), dx, 3) for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
    variants = np.stack([np.min(shifted, 0) * 0.5 + templates * 0.5, templates, np.max(shifted, 0)])
    stroke = rng.integers(0, 3, n)
    src = variants[stroke, fonts, labels]
    # Random affine warp: output pixel (28x28) -> template coordinate.
    out = 28
    angle = rng.uniform(-0.3, 0.3, n)
    scale = rng.uniform(0.8, 1.05, n) * out / 26.0 * 0.8  # output px per template px, inverted below
    shear = rng.uniform(-0.3, 0.3, n)
    aspect = rng.uniform(0.8, 1.2, n)
    shift = rng.uniform(-2.5, 2.5, (n, 2))
    yy, xx = np.meshgrid(np.arange(out) - out / 2 + 0.5, np.arange(out) - out / 2 + 0.5, indexing="ij")
    yy, xx = yy[None] - shift[:, 0, None, None], xx[None] - shift[:, 1, None, None]
    cos, sin = np.cos(angle)[:, None, None], np.sin(angle)[:, None, None]
    u = (cos * xx + sin * yy) / (scale * aspect)[:, None, None]
    v = (-sin * xx + cos * yy) / scale[:, None, None]
    u = u + shear[:, None, None] * v
    imgs = _sample_bilinear(src, v + size / 2 - 0.5, u + size / 2 - 0.5)
    # Clutter: a random stroke segment in a tenth of the images.
    has_line = rng.random(n) < 0.1
    p0, p1 = rng.uniform(0, out, (n, 2)), rng.uniform(0, out, (n, 2))
    d = p1 - p0
    t = np.clip(((yy + shift[:, 0, None, None] + out / 2 - 0.5 - p0[:, 0, None, None]) * d[:, 0, None, None]
                 + (xx + shift[:, 1, None, None] + out / 2 - 0.5 - p0[:, 1, None, None]) * d[:, 1, None, None])
                / (d ** 2).sum(1)[:, None, None].clip(1e-6), 0, 1)
    py = p0[:, 0, None, None] + t * d[:, 0, None, None]
    px = p0[:, 1, None, None] + t * d[:, 1, None, None]
    dist = np.hypot(np.arange(out)[None, :, None] - py, np.arange(out)[None, None, :] - px)
    imgs = np.maximum(imgs, has_line[:, None, None] * np.clip(1.2 - dist, 0, 1) * 0.8)
    # Blur in three strengths, contrast, noise.
    sigma_bin = rng.integers(0, 3, n)
    for b, sigma in enumerate((0.0, 0.6, 1.0)):
        sel = sigma_bin == b
        imgs[sel] = _blur(imgs[sel], sigma)
    contrast = rng.uniform(0.65, 1.0, n)[:, None, None]
    background = rng.uniform(0.0, 0.25, n)[:, None, None]
    imgs = background + contrast * imgs + rng.normal(0, 1, (n, out, out)) * rng.uniform(0.02, 0.10, n)[:, None, None]
    return (np.clip(imgs, 0, 1)[..., None] * 255).round().astype(np.uint8), labels


def _shape_level(label: np.ndarray, u: np.ndarray, v: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Level function per class in rotated coordinates: the shape is where the value is below 1."""
    rho = np.hypot(u, v) / r
    au, av = np.abs(u) / r, np.abs(v) / r
    theta = np.arctan2(v, u)
    sq = np.maximum(au, av)
    levels = [
        rho,                                                        # disk
        np.abs(rho - 0.78) / 0.22,                                  # ring
        sq * 1.1,                                                   # square
        np.abs(sq - 0.8) / 0.2,                                     # frame
        np.maximum.reduce([-v, 0.5 * v + 0.866 * u, 0.5 * v - 0.866 * u]) / (0.5 * r),  # triangle
        au + av,                                                    # diamond
        np.minimum(np.maximum(au / 0.3, av), np.maximum(au, av / 0.3)),  # plus
        np.minimum(np.maximum(np.abs(u + v) / r / 0.42, np.abs(u - v) / r / 1.4),
                   np.maximum(np.abs(u - v) / r / 0.42, np.abs(u + v) / r / 1.4)),  # cross (X)
        np.maximum(rho, 1.0 - 4.0 * v / r),                        # half-disk
        rho / (0.62 + 0.38 * np.cos(5 * theta)),                    # flower
    ]
    stacked = np.stack(levels, 0)
    return np.take_along_axis(stacked, label[None, :, None, None].astype(int), 0)[0]


def _random_colours(n: int, rng: np.random.Generator) -> np.ndarray:
    return rng.uniform(0, 1, (n, 3)).astype(np.float32)


def _make_shapes(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    size = 32
    labels = _balanced_labels(n, rng)
    out = np.empty((n, size, size, 3), np.uint8)
    grid = np.arange(size) - size / 2 + 0.5
    yy, xx = np.meshgrid(grid, grid, indexing="ij")
    for start in range(0, n, 1000):
        sl = slice(start, min(start + 1000, n))
        m = sl.stop - sl.start
        lab = labels[sl]
        # Background: a base colour, low-frequency texture and fine noise.
        base = _random_colours(m, rng)
        coarse = rng.normal(0, 1, (m, 5, 5, 3)).astype(np.float32)
        cy = np.linspace(0, 3.999, size)
        ci = np.floor(cy).astype(int)
        cf = (cy - ci)[:, None]
        rows = coarse[:, ci] * (1 - cf[None, :, :, None]) + coarse[:, ci + 1] * cf[None, :, :, None]
        tex = rows[:, :, ci] * (1 - cf.T[None, :, :, None]) + rows[:, :, ci + 1] * cf.T[None, :, :, None]
        bg = base[:, None, None, :] + tex * rng.uniform(0.05, 0.22, m)[:, None, None, None]
        bg = bg + rng.normal(0, 1, bg.shape) * rng.uniform(0.02, 0.08, m)[:, None, None, None]
        # Foreground shape: colour far enough from the background, random pose.
        fg = _random_colours(m, rng)
        too_close = np.abs(fg - base).sum(1) < 0.6
        fg[too_close] = 1.0 - base[too_close]
        r = rng.uniform(6.0, 11.0, m)[:, None, None]
        ang = rng.uniform(-0.35, 0.35, m)[:, None, None]  # small: square vs diamond, plus vs cross
        cy_, cx_ = (rng.uniform(-5, 5, (2, m))[:, :, None, None])
        dy, dx = yy[None] - cy_, xx[None] - cx_
        u = np.cos(ang) * dx + np.sin(ang) * dy
        v = -np.sin(ang) * dx + np.cos(ang) * dy
        level = _shape_level(lab, u, v, r)
        alpha = np.clip((1.0 - level) * r * 0.9 + 0.5, 0, 1)[..., None]
        alpha = alpha * rng.uniform(0.6, 1.0, m)[:, None, None, None]  # some shapes are faint
        img = bg * (1 - alpha) + fg[:, None, None, :] * alpha
        img = img + rng.normal(0, 1, img.shape) * rng.uniform(0.01, 0.06, m)[:, None, None, None]
        out[sl] = (np.clip(img, 0, 1) * 255).round().astype(np.uint8)
    return out, labels
