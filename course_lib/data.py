"""The course's datasets: generated offline, deterministic, cached under ``data/`` with a manifest.

- ``digits``: 28x28x1 grey digits 0-9 rendered from the fonts matplotlib ships, with random affine
  warps, stroke width, blur, clutter and noise. Plays the role of MNIST.
- ``shapes``: 32x32x3 coloured shapes (10 classes) on textured backgrounds. Plays the role of CIFAR-10.
- ``poses``: 64x64x3 stick figures with 16 joints in MPII order (the capstone's pose dataset). Its
  "labels" are float32 poses (N, 16, 3): x and y in pixels and a visibility flag (0 = the joint is
  outside the image or hidden under an occluder).

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

GENERATOR_VERSION = 1   #: digits and shapes
#: poses: version 2 (the capstone's third edition) is harder than version 1, so that trained models differ:
#: figures from 0.5x to 1.08x the nominal height (was 0.72x), occluders in 60 % of images (one or two boxes),
#: distractor limbs drawn in the figure's colours in front of it, a blur and a noise level that vary per image.
POSE_GENERATOR_VERSION = 2

#: Sizes of the full datasets and of the fast-mode subsets.
SIZES = {"train": 20000, "test": 4000}
FAST_SIZES = {"train": 3000, "test": 1000}

CLASS_NAMES = {
    "digits": [str(d) for d in range(10)],
    "shapes": ["disk", "ring", "square", "frame", "triangle",
               "diamond", "plus", "cross", "half-disk", "flower"],
}
SEEDS = {"digits": 1234, "shapes": 5678, "poses": 2468}
REAL_DATASETS = ("mnist", "fashion_mnist", "cifar10")

# --------------------------------------------------------------------------- poses (capstone)
#: The 16 joints in MPII order (the order of every ``(N, 16, 3)`` pose array in the course).
JOINTS: tuple[str, ...] = (
    "r_ankle", "r_knee", "r_hip", "l_hip", "l_knee", "l_ankle", "pelvis", "thorax",
    "upper_neck", "head_top", "r_wrist", "r_elbow", "r_shoulder", "l_shoulder", "l_elbow", "l_wrist",
)
#: Limbs as (joint, joint) pairs, drawn as sticks.
LIMBS: tuple[tuple[int, int], ...] = (
    (0, 1), (1, 2), (2, 6), (3, 6), (3, 4), (4, 5), (6, 7), (7, 8), (8, 9),
    (10, 11), (11, 12), (12, 7), (13, 7), (13, 14), (14, 15),
)
#: Which side each limb is on: "r" (drawn in warm colours), "l" (cool colours) or "c" (centre line).
LIMB_SIDES: tuple[str, ...] = ("r", "r", "r", "l", "l", "l", "c", "c", "c", "r", "r", "r", "l", "l", "l")
POSE_SIZE = 64          # image side in pixels
POSE_SIZES = {"train": 4000, "test": 600}
POSE_FAST_SIZES = {"train": 800, "test": 200}   # 09 in fast mode: 600 training + 200 validation images


CLASS_NAMES["poses"] = list(JOINTS)  # for poses the "classes" are the 16 joints


_FONT_FILES = [
    "DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSans-Oblique.ttf", "DejaVuSans-BoldOblique.ttf",
    "DejaVuSansMono.ttf", "DejaVuSansMono-Bold.ttf", "DejaVuSerif.ttf", "DejaVuSerif-Bold.ttf",
    "DejaVuSerif-Italic.ttf", "STIXGeneral.ttf", "STIXGeneralBol.ttf", "STIXGeneralItalic.ttf",
    "cmr10.ttf", "cmss10.ttf", "cmtt10.ttf", "cmb10.ttf", "cmti10.ttf",
]


class DataError(RuntimeError):
    """A dataset could not be loaded; the message says what to do."""


ARRAYS = ("x_train", "y_train", "x_test", "y_test")  # what every dataset archive holds


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
        missing = [k for k in ARRAYS if k not in arrays.files]
        if missing:
            raise DataError(f"{path} has no array {', '.join(map(repr, missing))}: a dataset archive holds "
                            f"{', '.join(ARRAYS)} (it has {arrays.files}). Delete it to have it regenerated, or "
                            f"run course_lib.data.generate({name!r}, overwrite=True).")
        x_tr, y_tr, x_te, y_te = (arrays[k] for k in ARRAYS)
    if fast:
        sizes = POSE_FAST_SIZES if name == "poses" else FAST_SIZES
        x_tr, y_tr = x_tr[: sizes["train"]], y_tr[: sizes["train"]]
        x_te, y_te = x_te[: sizes["test"]], y_te[: sizes["test"]]
    to_float = lambda x: x.astype(np.float32) / np.float32(255.0)  # noqa: E731
    label_type = np.float32 if name == "poses" else np.int64
    return (to_float(x_tr), y_tr.astype(label_type)), (to_float(x_te), y_te.astype(label_type))


def ensure_generated(name: str, data_dir: Path | None = None) -> Path:
    """Return the path of the cached file, generating it if absent and verifying it if present."""
    _check_name(name)
    data_dir = _data_dir(data_dir)
    path = data_dir / f"{name}.npz"
    if not path.exists():
        return generate(name, data_dir=data_dir)
    entry = _read_manifest(data_dir).get(name) or {}
    old = entry.get("generator_version")
    if old is not None and old != generator_version(name) and entry.get("sha256") == sha256(path):
        # The course's own file from an older generator, unchanged since it was made: replace it, and say so.
        print(f"data/{path.name} was made by generator version {old}; this course_lib makes version "
              f"{generator_version(name)}: generating the new version (a few seconds).")
        return generate(name, data_dir=data_dir, overwrite=True)
    verify(name, data_dir)
    return path


def generator_version(name: str) -> int:
    """The version of the generator that makes dataset ``name`` (recorded in the manifest)."""
    return POSE_GENERATOR_VERSION if name == "poses" else GENERATOR_VERSION


def content_sha256(name: str, data_dir: Path | None = None) -> str:
    """sha256 of a dataset's arrays (not of the .npz file, whose zip headers carry a time stamp): what a
    checkpoint records to say which data it was trained on."""
    path = ensure_generated(name, data_dir)
    digest = hashlib.sha256(f"{name} v{generator_version(name)}".encode())
    with np.load(path) as arrays:
        for key in ARRAYS:
            digest.update(key.encode())
            digest.update(np.ascontiguousarray(arrays[key]).tobytes())
    return digest.hexdigest()


def ensure_all(data_dir: Path | None = None, workers: int = 2) -> list[Path]:
    """:func:`ensure_generated` for every dataset, ``workers`` at a time in separate processes (a fresh clone on
    the shared 2-core machine: 33-37 s two at a time, 45 s one after another; the manifest is written under a
    lock). ``workers=1`` stays in this process."""
    if workers <= 1:
        return [ensure_generated(name, data_dir) for name in available()]
    import concurrent.futures
    import multiprocessing

    with concurrent.futures.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        return list(pool.map(ensure_generated, available(), [data_dir] * len(available())))


def generate(name: str, data_dir: Path | None = None, overwrite: bool = False) -> Path:
    """Generate ``name`` into ``data_dir`` and record it in the manifest.

    An existing file is only replaced when ``overwrite=True``: the course never overwrites data
    silently.
    """
    _check_name(name)
    data_dir = _data_dir(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / f"{name}.npz"
    if path.exists() and not overwrite:
        raise DataError(f"{path} already exists; pass overwrite=True to replace it.")
    rng = np.random.default_rng(SEEDS[name])
    make = {"digits": _make_digits, "shapes": _make_shapes, "poses": _make_poses}[name]
    sizes = POSE_SIZES if name == "poses" else SIZES
    x_tr, y_tr = make(sizes["train"], rng)
    x_te, y_te = make(sizes["test"], rng)
    tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp.npz")  # unique: parallel kernels may race
    np.savez(tmp, x_train=x_tr, y_train=y_tr, x_test=x_te, y_test=y_te)
    tmp.replace(path)
    _record_in_manifest(data_dir, name, {
        "file": path.name,
        "generator_version": generator_version(name),
        "seed": SEEDS[name],
        "sizes": sizes,
        "shape": list(x_tr.shape[1:]),
        "classes": CLASS_NAMES[name],
        "sha256": sha256(path),
    })
    return path


def _record_in_manifest(data_dir: Path, name: str, entry: dict) -> None:
    """Add ``name``'s entry to ``manifest.json``, one writer at a time: two processes generating two datasets
    at once (make test's set-up, two learners' first kernels on a hub) would otherwise each write the manifest
    they read, and the second would drop the first one's entry."""
    import fcntl

    with open(data_dir / ".manifest.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            manifest = _read_manifest(data_dir)
            manifest[name] = entry
            tmp = data_dir / f"manifest.{os.getpid()}.{id(entry)}.tmp"
            tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
            tmp.replace(data_dir / "manifest.json")
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def verify(name: str, data_dir: Path | None = None) -> None:
    """Raise :class:`DataError` unless ``data/<name>.npz`` matches its manifest entry."""
    data_dir = _data_dir(data_dir)
    path = data_dir / f"{name}.npz"
    entry = _read_manifest(data_dir).get(name)
    fix = (f"Delete {path} to have it regenerated, or run "
           f"course_lib.data.generate({name!r}, overwrite=True).")
    if entry is None:
        raise DataError(f"{path} exists but data/manifest.json has no entry for it, so it cannot be "
                        f"checked. If you made this file, move it elsewhere; otherwise: {fix}")
    if entry.get("generator_version") != generator_version(name):
        raise DataError(f"{path} was made by generator version {entry.get('generator_version')}, "
                        f"this course_lib makes version {generator_version(name)}. {fix}")
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
def _data_dir(data_dir) -> Path:
    """``data_dir`` as a Path (the course's data/ by default); a DataError if it is not a folder path."""
    if data_dir is None or (isinstance(data_dir, str) and data_dir == ""):
        return Path(config.DATA_DIR)
    if not isinstance(data_dir, (str, os.PathLike)):
        raise DataError(f"data_dir must be a folder path (a str or pathlib.Path), got {type(data_dir).__name__} "
                        f"{data_dir!r}; leave it out to use the course's data/ folder.")
    path = Path(data_dir)
    if path.exists() and not path.is_dir():
        raise DataError(f"data_dir={str(path)!r} is a regular file, not a folder: pass the folder that holds (or "
                        f"should hold) the .npz files, or leave data_dir out to use the course's data/ folder.")
    return path


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
    # Every random number first, in one fixed order; the pixels are then computed 1,000 images at a time
    # (the same arithmetic on small arrays: several times faster than on 20,000 images at once, same bytes).
    labels = _balanced_labels(n, rng)
    fonts = rng.integers(0, n_fonts, n)
    stroke = rng.integers(0, 3, n)
    out = 28
    angle = rng.uniform(-0.3, 0.3, n)
    scale = rng.uniform(0.8, 1.05, n) * out / 26.0 * 0.8  # output px per template px, inverted below
    shear = rng.uniform(-0.3, 0.3, n)
    aspect = rng.uniform(0.8, 1.2, n)
    shift = rng.uniform(-2.5, 2.5, (n, 2))
    has_line = rng.random(n) < 0.1
    p0, p1 = rng.uniform(0, out, (n, 2)), rng.uniform(0, out, (n, 2))
    sigma_bin = rng.integers(0, 3, n)
    contrast = rng.uniform(0.65, 1.0, n)
    background = rng.uniform(0.0, 0.25, n)
    noise = rng.normal(0, 1, (n, out, out))
    noise_level = rng.uniform(0.02, 0.10, n)
    # Stroke width: each template in a thin, normal and thick version (min / max filter).
    shifted = [np.roll(np.roll(templates, dy, 2), dx, 3) for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
    variants = np.stack([np.min(shifted, 0) * 0.5 + templates * 0.5, templates, np.max(shifted, 0)])
    grid_y, grid_x = np.meshgrid(np.arange(out) - out / 2 + 0.5, np.arange(out) - out / 2 + 0.5, indexing="ij")
    images = np.empty((n, out, out, 1), np.uint8)
    for start in range(0, n, 1000):
        s = slice(start, min(start + 1000, n))
        src = variants[stroke[s], fonts[s], labels[s]]
        # Random affine warp: output pixel (28x28) -> template coordinate.
        yy, xx = grid_y[None] - shift[s, 0, None, None], grid_x[None] - shift[s, 1, None, None]
        cos, sin = np.cos(angle[s])[:, None, None], np.sin(angle[s])[:, None, None]
        u = (cos * xx + sin * yy) / (scale[s] * aspect[s])[:, None, None]
        v = (-sin * xx + cos * yy) / scale[s][:, None, None]
        u = u + shear[s][:, None, None] * v
        imgs = _sample_bilinear(src, v + size / 2 - 0.5, u + size / 2 - 0.5)
        # Clutter: a random stroke segment in a tenth of the images.
        a, d = p0[s], p1[s] - p0[s]
        t = np.clip(((yy + shift[s, 0, None, None] + out / 2 - 0.5 - a[:, 0, None, None]) * d[:, 0, None, None]
                     + (xx + shift[s, 1, None, None] + out / 2 - 0.5 - a[:, 1, None, None]) * d[:, 1, None, None])
                    / (d ** 2).sum(1)[:, None, None].clip(1e-6), 0, 1)
        py = a[:, 0, None, None] + t * d[:, 0, None, None]
        px = a[:, 1, None, None] + t * d[:, 1, None, None]
        dist = np.hypot(np.arange(out)[None, :, None] - py, np.arange(out)[None, None, :] - px)
        imgs = np.maximum(imgs, has_line[s, None, None] * np.clip(1.2 - dist, 0, 1) * 0.8)
        # Blur in three strengths, contrast, noise.
        for b, sigma in enumerate((0.0, 0.6, 1.0)):
            sel = sigma_bin[s] == b
            imgs[sel] = _blur(imgs[sel], sigma)
        imgs = (background[s, None, None] + contrast[s, None, None] * imgs
                + noise[s] * noise_level[s, None, None])
        images[s] = (np.clip(imgs, 0, 1)[..., None] * 255).round().astype(np.uint8)
    return images, labels


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


def pose_from_angles(lean=0.0, head=0.0, r_thigh=0.2, r_knee=0.3, l_thigh=0.2, l_knee=0.3,
                     r_arm=0.5, r_elbow=0.5, l_arm=0.5, l_elbow=0.5, rotation=0.0, height=42.0,
                     centre=(32.0, 32.0)) -> np.ndarray:
    """Joint positions (..., 16, 2) as (x, y) pixels from the kinematic tree of the stick figure.

    Angles are in radians; each limb angle is measured from "straight down" relative to the torso,
    positive away from the body's midline (so the same value bends both sides symmetrically).
    The figure faces the camera (its right side on the image's left) before ``rotation``;
    ``height`` is about the head-to-ankle size in pixels and ``centre`` where its bounding box is centred.
    Every argument may be an array (one figure per element).
    """
    a = np.broadcast_arrays(*map(np.asarray, (lean, head, r_thigh, r_knee, l_thigh, l_knee, r_arm, r_elbow,
                                                   l_arm, l_elbow, rotation, height)))
    lean, head, r_thigh, r_knee, l_thigh, l_knee, r_arm, r_elbow, l_arm, l_elbow, rotation, h = (v.astype(float) for v in a)
    down = lambda ang: np.stack([np.sin(ang), np.cos(ang)], -1)  # noqa: E731  unit vector at angle from down
    j = np.zeros(lean.shape + (16, 2))
    up = -down(lean)                                     # torso direction, pelvis -> thorax
    side = np.stack([up[..., 1], -up[..., 0]], -1)       # towards the figure's left (image right)
    L = lambda f: (f * h)[..., None]                     # noqa: E731
    j[..., 7, :] = j[..., 6, :] + L(0.30) * up
    j[..., 8, :] = j[..., 7, :] + L(0.07) * up
    j[..., 9, :] = j[..., 8, :] + L(0.15) * -down(lean + head)
    for hip, knee, ankle, sgn, thigh, bend in ((2, 1, 0, -1, r_thigh, r_knee), (3, 4, 5, 1, l_thigh, l_knee)):
        j[..., hip, :] = j[..., 6, :] + sgn * L(0.08) * side
        ang = lean + sgn * thigh
        j[..., knee, :] = j[..., hip, :] + L(0.24) * down(ang)
        j[..., ankle, :] = j[..., knee, :] + L(0.23) * down(ang - sgn * bend)
    for shoulder, elbow, wrist, sgn, arm, bend in ((12, 11, 10, -1, r_arm, r_elbow), (13, 14, 15, 1, l_arm, l_elbow)):
        j[..., shoulder, :] = j[..., 7, :] + sgn * L(0.11) * side
        ang = lean + sgn * arm
        j[..., elbow, :] = j[..., shoulder, :] + L(0.16) * down(ang)
        j[..., wrist, :] = j[..., elbow, :] + L(0.15) * down(ang + sgn * bend)
    c, s = np.cos(rotation)[..., None], np.sin(rotation)[..., None]
    j = np.stack([c * j[..., 0] - s * j[..., 1], s * j[..., 0] + c * j[..., 1]], -1)
    box_centre = (j.max(-2) + j.min(-2)) / 2
    return (j - box_centre[..., None, :] + np.asarray(centre, float)[..., None, :]).astype(np.float32)


def _pose_joints(n: int, rng: np.random.Generator, scale: tuple[float, float] = (0.72, 1.08)) -> np.ndarray:
    """Random poses (n, 16, 2): joint angles within human-like limits, scale (a factor of the nominal 42 px
    height, drawn uniformly from ``scale``), rotation, position."""
    u = lambda lo, hi: rng.uniform(lo, hi, n)  # noqa: E731
    height = 42.0 * u(*scale)
    lean, head = rng.normal(0, 0.15, n), rng.normal(0, 0.25, n)
    r_thigh, l_thigh = u(-0.35, 0.9), u(-0.35, 0.9)
    r_knee, l_knee = u(-0.1, 1.2), u(-0.1, 1.2)
    r_arm, l_arm = u(-0.3, 2.9), u(-0.3, 2.9)
    r_elbow, l_elbow = u(-0.4, 2.2), u(-0.4, 2.2)
    rotation = u(-0.6, 0.6)
    centre = POSE_SIZE / 2 + rng.normal(0, 4.5, (n, 2))
    return pose_from_angles(lean, head, r_thigh, r_knee, l_thigh, l_knee, r_arm, r_elbow, l_arm, l_elbow,
                            rotation, height, centre)


def _segment_distance(px: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distance from pixel centres ``px`` (P, 2) to segments a->b (n, 2): (n, P), float32."""
    a, d = a.astype(np.float32), (b - a).astype(np.float32)
    dx = px[None, :, 0] - a[:, :1]
    dy = px[None, :, 1] - a[:, 1:]
    t = (dx * d[:, :1] + dy * d[:, 1:]) / np.maximum((d ** 2).sum(-1, keepdims=True), 1e-6)
    np.clip(t, 0, 1, out=t)
    dx -= t * d[:, :1]
    dy -= t * d[:, 1:]
    return np.sqrt(dx * dx + dy * dy)


def _make_poses(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Stick figures on cluttered backgrounds: images (n, 64, 64, 3) uint8 and poses (n, 16, 3) float32.

    A pose row is (x, y, visible): visible is 0 for a joint outside the image or under an occluder.
    Right limbs are drawn in warm colours, left limbs in cool ones, the spine and head in green, so
    left and right can be told apart.
    """
    if POSE_GENERATOR_VERSION == 1:
        return render_poses(_pose_joints(n, rng), rng)
    images, poses = render_poses(_pose_joints(n, rng, scale=(0.5, 1.08)), rng)
    return harden(images, poses, rng)


def harden(images: np.ndarray, poses: np.ndarray, rng: np.random.Generator | int = 0,
           chunk: int = 500) -> tuple[np.ndarray, np.ndarray]:
    """Version 2's extra difficulty on rendered figures (uint8 images (n, 64, 64, 3), poses (n, 16, 3)):

    - **distractor limbs**: in 60 % of images one or two jointed two-segment "limbs" in the figure's own colours
      and width, with dark hinge dots, drawn in front of the figure (they look like an arm, but belong to no one);
    - **occluders**: in 60 % of images one textured box, in a third of those a second one; a joint under a box
      becomes hidden (visible = 0);
    - **blur and noise** that vary per image (a 3x3 blur of random strength, noise sigma 0.01 to 0.09).

    Returns new arrays; the inputs are not changed.
    """
    rng = np.random.default_rng(rng) if not isinstance(rng, np.random.Generator) else rng
    images, poses = np.asarray(images), np.array(poses, np.float32)
    n, size = len(images), images.shape[1]
    yy, xx = np.mgrid[0:size, 0:size]
    px = np.stack([xx.ravel() + 0.5, yy.ravel() + 0.5], -1).astype(np.float32)
    palette = np.array([[0.95, 0.35, 0.1], [0.15, 0.45, 0.95], [0.2, 0.85, 0.3]], np.float32)
    out = np.empty_like(images)
    for start in range(0, n, chunk):
        sl = slice(start, min(start + chunk, n))
        m, jm = sl.stop - sl.start, poses[sl, :, :2]
        img = images[sl].reshape(m, -1, 3).astype(np.float32) / 255
        scale = (jm.max(1) - jm.min(1)).max(-1, keepdims=True)             # (m, 1) figure size in px
        for k in range(2):
            on = rng.random((m, 1)) < (0.6 if k == 0 else 0.25)
            a = rng.uniform(4, size - 4, (m, 2)).astype(np.float32)
            bend = rng.uniform(0, 2 * np.pi, (m, 2))
            length = (scale * rng.uniform(0.12, 0.2, (m, 1))).astype(np.float32)
            b = a + length * np.stack([np.cos(bend[:, 0]), np.sin(bend[:, 0])], -1)
            c = b + length * np.stack([np.cos(bend[:, 1]), np.sin(bend[:, 1])], -1)
            colour = palette[rng.integers(0, 3, m)] * rng.uniform(0.75, 1.1, (m, 1)).astype(np.float32)
            width = rng.uniform(1.6, 2.4, (m, 1)).astype(np.float32)
            for p, q in ((a, b), (b, c)):
                alpha = np.clip(width - _segment_distance(px, p, q), 0, 1) * on
                img += alpha[..., None] * (colour[:, None] - img)
            for p in (a, b, c):
                alpha = 0.7 * np.clip(width * 0.9 + 0.3 - _segment_distance(px, p, p), 0, 1) * on
                img -= alpha[..., None] * img * 0.8
        for k in range(2):
            occ = rng.random(m) < (0.6 if k == 0 else 0.2)
            centre = jm[np.arange(m), rng.integers(0, 16, m)] + rng.normal(0, 3, (m, 2))
            half = rng.uniform(3, 8, (m, 2)) * (scale / 42)
            inside = np.all(np.abs(px[None] - centre[:, None]) < half[:, None], -1) & occ[:, None]
            box = (rng.uniform(0.1, 0.9, (m, 1, 3)).astype(np.float32)
                   + 0.08 * rng.standard_normal((m, size * size, 3), np.float32))
            img = np.where(inside[..., None], box, img)
            covered = np.all(np.abs(jm - centre[:, None]) < half[:, None], -1) & occ[:, None]
            poses[sl, :, 2] *= ~covered
        img = img.reshape(m, size, size, 3)
        w = rng.uniform(0, 0.12, (m, 1, 1, 1)).astype(np.float32)            # blur strength per image
        img = ((1 - 4 * w) * img + w * (np.roll(img, 1, 1) + np.roll(img, -1, 1) + np.roll(img, 1, 2)
                                       + np.roll(img, -1, 2))
               + rng.standard_normal(img.shape, np.float32) * rng.uniform(0.01, 0.09, (m, 1, 1, 1)).astype(np.float32))
        out[sl] = (np.clip(img, 0, 1) * 255).round().astype(np.uint8)
    return out, poses


def render_poses(joints: np.ndarray, rng: np.random.Generator | int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Draw stick figures with the given joints (n, 16, 2) on random cluttered backgrounds.

    Returns ``(images (n, 64, 64, 3) uint8, poses (n, 16, 3) float32)``: the poses add the visibility flag.
    ``rng`` (a Generator or a seed) draws the background, clutter, colours and occluders.
    """
    rng = np.random.default_rng(rng) if not isinstance(rng, np.random.Generator) else rng
    joints = np.asarray(joints, np.float32)
    if joints.ndim != 3 or joints.shape[1:] != (16, 2):
        raise ValueError(f"joints must have shape (n, 16, 2), got {joints.shape}")
    n = len(joints)
    size = POSE_SIZE
    yy, xx = np.mgrid[0:size, 0:size]
    px = np.stack([xx.ravel() + 0.5, yy.ravel() + 0.5], -1).astype(np.float32)
    out = np.empty((n, size, size, 3), np.uint8)
    visible = np.ones((n, 16), np.float32)
    palette = {"r": np.array([0.95, 0.35, 0.1]), "l": np.array([0.15, 0.45, 0.95]), "c": np.array([0.2, 0.85, 0.3])}
    for start in range(0, n, 500):
        sl = slice(start, min(start + 500, n))
        m = sl.stop - sl.start
        jm = joints[sl]
        # Background: base colour, low-frequency texture, noise.
        base = rng.uniform(0.15, 0.85, (m, 1, 3))
        coarse = rng.standard_normal((m, 6, 6, 3), np.float32)
        idx = np.linspace(0, 4.999, size)
        i0 = np.floor(idx).astype(int)
        f = (idx - i0)[None, :, None, None].astype(np.float32)
        rows = coarse[:, i0] * (1 - f) + coarse[:, i0 + 1] * f
        fc = f.transpose(0, 2, 1, 3)
        tex = rows[:, :, i0] * (1 - fc) + rows[:, :, i0 + 1] * fc
        img = (base[:, :, None] + 0.12 * tex).reshape(m, -1, 3).astype(np.float32)
        # Distractor strokes: random sticks, some in limb-like colours.
        for _ in range(3):
            a = rng.uniform(-8, size + 8, (m, 2))
            b = a + rng.normal(0, 12, (m, 2))
            colour = np.where(rng.random((m, 1)) < 0.5, rng.uniform(0, 1, (m, 3)),
                              np.stack(list(palette.values()))[rng.integers(0, 3, m)] * rng.uniform(0.6, 1.0, (m, 1)))
            alpha = np.clip(rng.uniform(0.8, 2.0, (m, 1)).astype(np.float32) - _segment_distance(px, a, b), 0, 1)
            alpha *= ((rng.random((m, 1)) < 0.7) * rng.uniform(0.5, 1.0, (m, 1))).astype(np.float32)
            img += alpha[..., None] * (colour[:, None].astype(np.float32) - img)
        # The figure: limbs in random depth order, head as a disc.
        width = rng.uniform(1.6, 2.4, (m, 1)).astype(np.float32)
        jitter = rng.uniform(0.75, 1.1, (m, 1))
        for limb in rng.permutation(len(LIMBS)):
            a, b = LIMBS[limb]
            colour = palette[LIMB_SIDES[limb]][None] * jitter
            alpha = np.clip(width - _segment_distance(px, jm[:, a], jm[:, b]), 0, 1)
            img += alpha[..., None] * (colour[:, None].astype(np.float32) - img)
        # Joints as dark dots (the "hinges" of the stick figure).
        for k in range(16):
            alpha = 0.7 * np.clip(width * 0.9 + 0.3 - _segment_distance(px, jm[:, k], jm[:, k]), 0, 1)
            img -= alpha[..., None] * img * 0.8
        head = (jm[:, 8] + jm[:, 9]) / 2
        radius = np.linalg.norm(jm[:, 9] - jm[:, 8], axis=-1)[:, None] * 0.55
        alpha = np.clip(radius + 0.5 - _segment_distance(px, head, head), 0, 1)
        img += 0.8 * alpha[..., None] * (palette["c"][None, None].astype(np.float32) - img)
        # Occluders: a textured box over some joints in a third of the images.
        occ = rng.random(m) < 0.35
        centre = jm[np.arange(m), rng.integers(0, 16, m)] + rng.normal(0, 3, (m, 2))
        half = rng.uniform(4, 9, (m, 2))
        inside = np.all(np.abs(px[None] - centre[:, None]) < half[:, None], -1) & occ[:, None]
        box = rng.uniform(0.1, 0.9, (m, 1, 3)).astype(np.float32) + 0.08 * rng.standard_normal((m, size * size, 3), np.float32)
        img = np.where(inside[..., None], box, img)
        covered = np.all(np.abs(jm - centre[:, None]) < half[:, None], -1) & occ[:, None]
        # Noise and a little blur.
        img = img.reshape(m, size, size, 3)
        img = (0.6 * img + 0.1 * (np.roll(img, 1, 1) + np.roll(img, -1, 1) + np.roll(img, 1, 2) + np.roll(img, -1, 2))
               + rng.standard_normal(img.shape, np.float32) * rng.uniform(0.02, 0.07, (m, 1, 1, 1)).astype(np.float32))
        out[sl] = (np.clip(img, 0, 1) * 255).round().astype(np.uint8)
        outside = np.any((jm < 0) | (jm >= size), -1)
        visible[sl] = (~(outside | covered)).astype(np.float32)
    poses = np.concatenate([joints, visible[..., None]], -1).astype(np.float32)
    return out, poses
