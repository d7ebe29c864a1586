"""A production model for scale: MediaPipe's BlazePose landmark models, measured like our own.

The capstone's Stacked Hourglass takes 64x64 images and finds 16 joints. The pose model that ships
in MediaPipe, BlazePose (Bazarevsky et al. 2020), takes a 256x256 crop around one person and returns
39 points. Its landmark models come in three sizes, ``lite``, ``full`` and ``heavy``, inside the npm
package ``@mediapipe/pose`` (Apache-2.0, pinned in ``package.json``, installed into
``node_modules/`` by ``make install``, which runs ``npm ci``).

- :func:`model_path` / :func:`load` find a model (``COURSE_NODE_MODULES`` overrides where
  ``node_modules`` is);
- :func:`describe` measures one flatbuffer: file bytes, weight format, parameters, MACs (counted
  from the file by :func:`course_lib.tflite.macs`), input/output shapes, where the bytes go
  (:func:`course_lib.tflite.size_breakdown`) and latency at 1 and 2 threads; :func:`table` lines up
  several descriptions;
- :func:`sample_photo`, :func:`body_crop` and :func:`landmarks` run a model on a real photograph
  (Grace Hopper, shipped with matplotlib); :func:`draw` shows the keypoints and one heat map.

What the landmark model returns (from MediaPipe's ``tensors_to_pose_landmarks_and_segmentation``
graph): ``Identity`` (1, 195) = 39 points x (x, y, z, visibility, presence), x and y in pixels of
the 256x256 crop, visibility and presence as logits; ``Identity_1`` (1, 1) the pose score (already
a probability); ``Identity_2`` a 256x256 segmentation mask (logits); ``Identity_3`` (1, 64, 64, 39)
one heat map per point (logits); ``Identity_4`` (1, 117) the 39 points in metres ("world").
The 39 points are the 33 body landmarks MediaPipe documents plus 6 auxiliary points: MediaPipe uses
points 33 and 34 to place the crop of the next video frame; the other four are not documented.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from . import bench, config, plots, tflite

#: The landmark models ``@mediapipe/pose`` ships, smallest first.
MODELS = ("lite", "full", "heavy")

#: Environment variable naming the ``node_modules`` folder (default: the repository's own).
ENV_VAR = "COURSE_NODE_MODULES"

#: Side of the square crop the landmark model takes, and of its heat maps.
INPUT_SIZE, HEATMAP_SIZE = 256, 64

#: The 33 documented landmarks, in the model's order ("left" is the person's left).
LANDMARKS = (
    "nose", "left eye (inner)", "left eye", "left eye (outer)", "right eye (inner)", "right eye",
    "right eye (outer)", "left ear", "right ear", "mouth (left)", "mouth (right)",
    "left shoulder", "right shoulder", "left elbow", "right elbow", "left wrist", "right wrist",
    "left pinky", "right pinky", "left index", "right index", "left thumb", "right thumb",
    "left hip", "right hip", "left knee", "right knee", "left ankle", "right ankle",
    "left heel", "right heel", "left foot index", "right foot index")

#: Lines of the BlazePose skeleton between the landmarks above (face, arms and hands, torso, legs).
CONNECTIONS = (
    (0, 1), (1, 2), (2, 3), (3, 7), (0, 4), (4, 5), (5, 6), (6, 8), (9, 10),
    (11, 13), (13, 15), (15, 17), (15, 19), (15, 21), (17, 19),
    (12, 14), (14, 16), (16, 18), (16, 20), (16, 22), (18, 20),
    (11, 12), (11, 23), (12, 24), (23, 24),
    (23, 25), (25, 27), (27, 29), (29, 31), (27, 31),
    (24, 26), (26, 28), (28, 30), (30, 32), (28, 32))


# --------------------------------------------------------------------------- finding the models
def model_dir() -> Path:
    """The folder holding the ``.tflite`` files: ``node_modules/@mediapipe/pose`` of the repository
    (or of the folder named by the ``COURSE_NODE_MODULES`` environment variable)."""
    node_modules = Path(os.environ.get(ENV_VAR, config.REPO_ROOT / "node_modules"))
    return node_modules / "@mediapipe" / "pose"


def model_path(name: str = "lite") -> Path:
    """Path of ``pose_landmark_<name>.tflite``; a clear error if the npm package is missing."""
    if name not in MODELS:
        raise ValueError(f"name must be one of {MODELS}, not {name!r}")
    path = model_dir() / f"pose_landmark_{name}.tflite"
    if not path.is_file():
        raise FileNotFoundError(f"BlazePose model not found at {path}: the npm package "
                                f"@mediapipe/pose is not installed. Run `make install` (npm ci) in "
                                f"the repository, or set {ENV_VAR} to a node_modules folder "
                                f"that has it.")
    return path


def load(name: str = "lite") -> bytes:
    """The flatbuffer bytes of the ``lite``, ``full`` or ``heavy`` landmark model."""
    return model_path(name).read_bytes()


# --------------------------------------------------------------------------- measuring a flatbuffer
@dataclass
class Description:
    """What one flatbuffer holds and costs (see :func:`describe`)."""

    name: str
    file_bytes: int
    weight_format: str
    params: int
    macs: int
    input_shape: tuple
    output_shapes: dict
    size: dict = field(repr=False)
    timings: dict = field(default_factory=dict, repr=False)  # threads -> bench.Timing

    def as_row(self) -> dict:
        """One table row: numbers stay numbers (bytes, counts, ms)."""
        row = {"model": self.name, "file bytes": self.file_bytes,
               "weight format": self.weight_format, "params": self.params, "MACs": self.macs,
               "input": self.input_shape}
        for threads, timing in self.timings.items():
            row[f"median ms ({threads} thr)"] = timing.median_ms
            row[f"IQR ms ({threads} thr)"] = timing.iqr_ms
        return row


def weight_format(model_bytes: bytes) -> str:
    """The number format of the stored conv/dense kernels, e.g. ``"float16"`` or ``"int8"``
    (several joined by ``+``, most bytes first)."""
    table = tflite.constants(model_bytes)
    kernels = table[table["role"] == "weights"].groupby("dtype")["bytes"].sum()
    return "+".join(kernels.sort_values(ascending=False).index) or "none"


def _shapes(model_bytes: bytes) -> tuple[tuple, dict]:
    """Input shape and ``{output name: shape}`` as the interpreter reports them."""
    interp = tflite.make_interpreter(model_bytes, xnnpack=False)
    shape = tuple(int(d) for d in interp.get_input_details()[0]["shape"])
    outputs = {d["name"]: tuple(int(s) for s in d["shape"]) for d in interp.get_output_details()}
    return shape, outputs


def time_threads(model_bytes: bytes, threads=(1, 2), repeats: int | None = None,
                 rounds: int = 3) -> dict:
    """Latency of ``model_bytes`` at each thread count, interleaved
    (:func:`course_lib.bench.interleaved`) so that load from elsewhere on the machine hits every
    setting alike. Returns ``{threads: bench.Timing}``."""
    timers = {t: (lambda t=t: bench.time_interpreter(model_bytes, num_threads=t, repeats=repeats))
              for t in threads}
    return bench.interleaved(timers, rounds=rounds) if timers else {}


def describe(model, name: str | None = None, threads=(1, 2), repeats: int | None = None,
             rounds: int = 3) -> Description:
    """Measure a flatbuffer: ``model`` is its bytes, a path, or one of :data:`MODELS`.

    ``params`` counts the numbers stored in conv/dense kernels and biases (batch norm is already
    folded into them); ``macs`` is :func:`course_lib.tflite.macs`. ``threads=()`` skips timing.
    """
    if isinstance(model, str) and model in MODELS:
        name, model = name or f"BlazePose {model}", load(model)
    elif isinstance(model, (str, os.PathLike)):
        name, model = name or Path(model).stem, Path(model).read_bytes()
    model = bytes(model)
    table = tflite.constants(model)
    input_shape, outputs = _shapes(model)
    return Description(
        name=name or "model", file_bytes=len(model), weight_format=weight_format(model),
        params=int(table.loc[table["role"].isin(["weights", "biases"]), "elements"].sum()),
        macs=tflite.macs(model), input_shape=input_shape, output_shapes=outputs,
        size=tflite.size_breakdown(model), timings=time_threads(model, threads, repeats, rounds))


def table(descriptions) -> pd.DataFrame:
    """Several :class:`Description` objects as one table, one row each."""
    return pd.DataFrame([d.as_row() for d in descriptions])


# ------------------------------------------------------------------------ running on a photograph
def sample_photo() -> np.ndarray:
    """Grace Hopper's portrait (600x512 RGB, uint8), shipped in matplotlib's sample data: a real
    photograph that needs no download."""
    from matplotlib import cbook
    from PIL import Image

    with Image.open(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)) as photo:
        return np.asarray(photo.convert("RGB"))


def body_crop(image: np.ndarray, body_height: float = 2.3) -> tuple[np.ndarray, tuple[int, int]]:
    """Place ``image`` at the top centre of a black square ``body_height`` times its height.

    The landmark model expects the crop MediaPipe's detector makes: a square around the *whole*
    body, person centred and upright. A head-and-shoulders portrait is only the top of that square,
    so the rest is left black, as if the body were hidden. Returns the square and the (x, y) offset
    of the photo in it, to map points back to the photo's pixels.
    """
    if body_height < 1:
        raise ValueError(f"body_height must be at least 1 (the square holds the photo), "
                         f"got {body_height}")
    h, w = image.shape[:2]
    side = max(int(round(body_height * h)), w)
    canvas = np.zeros((side, side, 3), image.dtype)
    left = (side - w) // 2
    canvas[:h, left:left + w] = image
    return canvas, (left, 0)


def to_input(square: np.ndarray) -> np.ndarray:
    """A square RGB image -> the model's input: (1, 256, 256, 3) float32 in [0, 1], as MediaPipe's
    ``ImageToTensorCalculator`` makes it (``output_tensor_float_range`` 0 to 1)."""
    from PIL import Image

    resized = Image.fromarray(np.asarray(square, np.uint8)).resize((INPUT_SIZE, INPUT_SIZE),
                                                                     Image.BILINEAR)
    return (np.asarray(resized, np.float32) / 255.0)[None]


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(x, np.float64)))


def _outputs_by_shape(interp) -> dict:
    """The landmark, pose-score and heat-map outputs, found by shape (they are named Identity_*)."""
    wanted = {"landmarks": (1, 195), "score": (1, 1),
              "heatmap": (1, HEATMAP_SIZE, HEATMAP_SIZE, 39)}
    found = {}
    for detail in interp.get_output_details():
        for key, shape in wanted.items():
            if tuple(int(d) for d in detail["shape"]) == shape:
                found[key] = interp.get_tensor(detail["index"])
    missing = set(wanted) - set(found)
    if missing:
        raise ValueError(f"not a BlazePose landmark model: no output of shape "
                         f"{[wanted[k] for k in sorted(missing)]}")
    return found


@dataclass
class Landmarks:
    """What the landmark model found (see :func:`landmarks`)."""

    points: np.ndarray      # (39, 2) x, y in pixels of the photo (may lie outside it)
    visibility: np.ndarray  # (39,) probability that the point is visible (not hidden)
    presence: np.ndarray    # (39,) probability that the point is inside the crop
    score: float            # probability that a person is in the crop
    heatmap: np.ndarray     # (64, 64, 39) heat maps as probabilities, over the 256x256 crop
    crop: np.ndarray        # (256, 256, 3) the model's input, float in [0, 1]
    photo_box: tuple        # (x0, y0, x1, y1): where the photo lies in the crop, in crop pixels
    image: np.ndarray = field(repr=False)

    def visible(self, threshold: float = 0.5) -> np.ndarray:
        """Indices of the 33 body landmarks with visibility above ``threshold``."""
        return np.flatnonzero(self.visibility[:33] > threshold)


def landmarks(model_bytes: bytes, image: np.ndarray | None = None, body_height: float = 2.3,
              num_threads: int = 1) -> Landmarks:
    """Run a BlazePose landmark model on a photo (default :func:`sample_photo`) placed by
    :func:`body_crop`; points are returned in the photo's pixels, heat maps as probabilities."""
    image = sample_photo() if image is None else np.asarray(image)
    square, (left, top) = body_crop(image, body_height)
    x = to_input(square)
    interp = tflite.make_interpreter(model_bytes, num_threads=num_threads)
    interp.set_tensor(interp.get_input_details()[0]["index"], x)
    interp.invoke()
    out = _outputs_by_shape(interp)
    raw = out["landmarks"].reshape(39, 5)
    scale = square.shape[0] / INPUT_SIZE  # photo pixels per crop pixel
    points = raw[:, :2] * scale - np.array([left, top])
    h, w = image.shape[:2]
    box = (left / scale, top / scale, (left + w) / scale, (top + h) / scale)
    return Landmarks(points=points, visibility=_sigmoid(raw[:, 3]), presence=_sigmoid(raw[:, 4]),
                     score=float(out["score"].item()), heatmap=_sigmoid(out["heatmap"][0]),
                     crop=x[0], photo_box=box, image=image)


def draw(result: Landmarks, heatmap_of: int = 0, threshold: float = 0.5, title: str = ""):
    """Left: the photo with the skeleton (points above ``threshold`` visibility as dots, the others
    as crosses). Right: the heat map of landmark ``heatmap_of`` (64x64, shown over the model's
    256x256 input, zoomed to the part where the photo lies)."""
    import matplotlib.pyplot as plt

    fig, (ax, ax_hm) = plt.subplots(1, 2, figsize=(10, 5.2))
    image, pts = result.image, result.points
    ax.imshow(image)
    for a, b in CONNECTIONS:
        ax.plot(pts[[a, b], 0], pts[[a, b], 1], color="white", lw=1.5, alpha=0.8)
    seen = result.visibility[:33] > threshold
    ax.scatter(*pts[:33][seen].T, s=18, color=plots.PALETTE[2], zorder=3,
               label=f"visibility > {threshold}")
    ax.scatter(*pts[:33][~seen].T, s=18, color=plots.PALETTE[3], marker="x", zorder=3,
               label="hidden (guessed)")
    ax.set_xlim(0, image.shape[1])
    ax.set_ylim(image.shape[0], 0)
    ax.legend(loc="lower left", fontsize=8, frameon=True)
    ax.set_title(title or f"33 landmarks in the photo (pose score {result.score:.2f})", fontsize=10)
    heat = result.heatmap[..., heatmap_of]
    ax_hm.imshow(result.crop, extent=(0, INPUT_SIZE, INPUT_SIZE, 0))
    ax_hm.imshow(heat, cmap="magma", alpha=0.85 * heat, vmin=0, vmax=1,
                 extent=(0, INPUT_SIZE, INPUT_SIZE, 0))
    x0, y0, x1, y1 = result.photo_box
    ax_hm.set_xlim(x0, x1)
    ax_hm.set_ylim(y1, y0)
    ax_hm.set_title(f"heat map of the {LANDMARKS[heatmap_of]} (max {heat.max():.2f})", fontsize=10)
    for axis in (ax, ax_hm):
        axis.set_xticks([])
        axis.set_yticks([])
        axis.grid(False)
    fig.tight_layout()
    return fig
