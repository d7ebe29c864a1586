"""Pose estimation for the capstone: heat maps, decoding, PCK, diagnostics, a Stacked Hourglass.

Every position is ``(x, y)`` in image pixels: x to the right (a column), y down (a row). Poses are
(N, joints, 3) ``[x, y, visible]`` as in :mod:`course_lib.data`; heat maps are channels-last
(N, H, W, joints).

- :func:`heatmaps` turns joint positions into one Gaussian heat map per joint (σ = 1 heat-map
  pixel, Newell et al. 2016); :func:`decode` turns heat maps back into positions (argmax plus a
  quarter-pixel shift towards the higher neighbour, none when the argmax is on the map's border,
  as in Newell's evaluation code).
- :func:`pck` is the Percentage of Correct Keypoints: a predicted joint is correct when it lies
  within ``alpha`` times the figure's size of the truth. The size here is the longer side of the
  bounding box of the figure's true joints (MPII's PCKh uses the head segment instead, so the
  numbers do not compare with the papers'). Only visible joints count.
- Diagnostics: :func:`scores`, :func:`pck_table`, :func:`per_joint_table` (models side by side),
  :func:`pck_by_visibility` (visible vs occluded joints), :func:`swap_rate` (left/right swaps)
  and :func:`worst_cases`.
- Bad input (NaN joints, NaN or negative σ and stride, non-integer sizes, channels-first maps or maps
  whose joints axis is ambiguous, text or ragged lists, empty batches, figures with no visible joint
  or a box of size 0, a learning rate that is not positive and finite, non-finite training data, a
  ``config`` that does not describe the model) gets a ValueError naming the argument, or a
  documented NaN.
- :func:`stacked_hourglass` builds Newell's network and the light variants of the capstone: MobileNetV2
  blocks instead of residual modules (:func:`course_lib.mobilenet.inverted_residual_block`), a CReLU
  stem (:class:`course_lib.pvanet.CReLU`), a hyper-feature head, fewer stacks, and narrower
  hidden layers after channel pruning (``hidden=``).
- :func:`prune_hidden_channels` is structured pruning of the blocks' hidden channels (MobileNetV2
  expansion layers, residual-module bottlenecks), ranked by :func:`channel_scores` (L1, batch-norm γ or
  random), rebuilt as a smaller dense model (using :mod:`course_lib.prune`).
"""
from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence

import keras
import numpy as np
import pandas as pd

from . import mobilenet, prune, pvanet
from .data import JOINTS, LIMBS, LIMB_SIDES, POSE_SIZE

__all__ = ["JOINTS", "LIMBS", "FusedBatchNorm", "upsample_nearest", "heatmaps", "decode", "bbox_size",
           "normalised_errors", "pck", "pck_table", "scores", "pck_by_visibility",
           "per_joint_table", "left_right_pairs", "swap_rate", "worst_cases", "residual_module",
           "stacked_hourglass", "inference_model", "stack_outputs", "hidden_widths", "channel_scores",
           "prune_hidden_channels", "draw_pose", "show_heatmaps"]

STRIDE = 4   #: image pixels per heat-map pixel (64x64 images -> 16x16 heat maps)


# --------------------------------------------------------------------------- checking arguments
def _whole(value, name: str, minimum: int = 1) -> int:
    """``value`` as an int, or a ValueError naming ``name`` (floats, even 16.0, bools refused)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be a whole number (int), got {value!r} "
                         f"({type(value).__name__})")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def _positive(value, name: str) -> float:
    """``value`` as a finite float > 0, or a ValueError naming ``name`` (NaN, inf, <= 0 refused)."""
    number = (int, float, np.integer, np.floating)
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, number):
        raise ValueError(f"{name} must be a number, got {value!r} ({type(value).__name__})")
    if not (np.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)


def _index(value, name: str) -> int:
    """``value`` as an int that may be negative (an index such as ``stack=-1``), else a ValueError."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be a whole number (an index such as -1), got {value!r} "
                         f"({type(value).__name__})")
    return int(value)


def _alpha(alpha, name: str = "alpha") -> float:
    """A PCK threshold: a number in (0, 1], else a ValueError naming ``name``."""
    number = (int, float, np.integer, np.floating)
    if isinstance(alpha, (bool, np.bool_)) or not isinstance(alpha, number):
        raise ValueError(f"{name} must be a number in (0, 1], got {alpha!r} ({type(alpha).__name__})")
    if not 0 < alpha <= 1:
        raise ValueError(f"{name} must be in (0, 1], got {alpha!r}")
    return float(alpha)


def _is_list(value) -> bool:
    """A list, tuple or 1-D array (not text, not a dict, not one number)."""
    return isinstance(value, (Sequence, np.ndarray)) and not isinstance(value, (str, bytes))


def _alphas(alphas) -> list:
    """``alphas`` as a list if it is a non-empty list of PCK thresholds in (0, 1], such as (0.2, 0.1)
    (kept as given: they name the columns and keys)."""
    if not _is_list(alphas):
        raise ValueError(f"alphas must be a list of PCK thresholds such as (0.2, 0.1), got {alphas!r}")
    if len(alphas) == 0:
        raise ValueError("alphas is empty: give at least one PCK threshold, such as (0.2, 0.1)")
    for i, a in enumerate(alphas):
        _alpha(a, f"alphas[{i}]")
    return list(alphas)


def _floats(value, name: str) -> np.ndarray:
    """``value`` as a float32 array, or a ValueError naming ``name`` (text, ragged lists, None)."""
    if isinstance(value, (str, bytes)):
        raise ValueError(f"{name} must be an array of numbers, got {type(value).__name__} {value[:40]!r}")
    try:
        return np.asarray(value, np.float32)
    except (TypeError, ValueError) as err:
        why = ("its rows have different lengths (a ragged list)" if "inhomogeneous" in str(err)
               else f"it holds something that is not a number ({err})")
        raise ValueError(f"{name} must be an array of numbers, but {why}") from None


def _finite(array: np.ndarray, name: str) -> np.ndarray:
    """``array`` if every value is finite, else a ValueError saying how many are NaN or inf."""
    bad = int(np.size(array) - np.isfinite(array).sum())
    if bad:
        raise ValueError(f"{name} contains {bad} NaN or inf value(s): training on them would make every "
                         f"weight NaN")
    return array


def _check_poses(poses, name: str = "poses") -> np.ndarray:
    """A float32 copy of ``poses`` (N, J, 3) [x, y, visible] or (N, J, 2) [x, y].

    A joint with a non-finite coordinate (NaN, inf) is *missing*: its x and y become NaN and, with a
    visibility column, its flag becomes 0. Missing joints get all-zero heat maps, are not counted
    by PCK, and are left out of the bounding box.
    """
    poses = np.array(_floats(poses, name))
    if poses.ndim != 3 or poses.shape[-1] not in (2, 3) or poses.shape[1] < 1:
        raise ValueError(f"{name} must have shape (N, joints, 3) [x, y, visible] or "
                         f"(N, joints, 2) [x, y], got {poses.shape}")
    if len(poses) == 0:
        raise ValueError(f"{name} is empty (0 figures): there is nothing to compute")
    missing = ~np.isfinite(poses[..., :2]).all(-1)
    poses[missing, :2] = np.nan
    if poses.shape[-1] == 3:
        poses[..., 2] = np.where(missing | ~np.isfinite(poses[..., 2]), 0, poses[..., 2])
    return poses


def _flagged(poses, name: str = "poses") -> np.ndarray:
    """:func:`_check_poses`, and the visibility column is required."""
    poses = _check_poses(poses, name)
    if poses.shape[-1] != 3:
        raise ValueError(f"PCK needs the visibility flag: {name} must have shape (N, joints, 3) "
                         f"[x, y, visible]")
    return poses


def _check_pred(pred, poses: np.ndarray) -> np.ndarray:
    """``pred`` as float32 (N, J, 2), matching ``poses``, else a ValueError."""
    pred = _floats(pred, "pred")
    if pred.shape != poses.shape[:-1] + (2,):
        raise ValueError(f"predictions have shape {pred.shape}, expected {poses.shape[:-1] + (2,)} "
                         f"(one (x, y) per joint of each figure)")
    return pred


# --------------------------------------------------------------------------- targets and decoding
def heatmaps(poses, size: int = 16, stride: float = STRIDE, sigma: float = 1.0) -> np.ndarray:
    """Target heat maps (N, size, size, joints): a Gaussian of peak 1 at each joint in the image.

    ``poses`` (N, J, 2 or 3) hold (x, y[, visible]) in image pixels, x to the right, y down. Image
    pixel ``i`` covers ``[i, i + 1)``; heat-map pixel ``k`` covers image pixels
    ``[stride * k, stride * (k + 1))``, so a joint at image ``x`` sits at heat-map
    ``x / stride - 0.5``. A joint outside the image, or missing (NaN), gets an all-zero map (the
    network learns "not here"). Hidden joints inside the image get their Gaussian.
    """
    poses = _check_poses(poses)
    size, stride = _whole(size, "size"), _positive(stride, "stride")
    sigma = _positive(sigma, "sigma")
    centre = poses[..., :2] / stride - 0.5                          # (N, J, 2) in heat-map pixels
    grid = np.arange(size, dtype=np.float32)
    gx = np.exp(-((grid[None, None, :] - centre[..., 0:1]) ** 2) / (2 * sigma ** 2))  # (N, J, size)
    gy = np.exp(-((grid[None, None, :] - centre[..., 1:2]) ** 2) / (2 * sigma ** 2))
    maps = gy[:, :, :, None] * gx[:, :, None, :]                    # (N, J, y, x)
    xy = poses[..., :2]
    inside = np.all((xy >= 0) & (xy < size * stride), axis=-1)     # False for a missing joint
    maps = np.where(inside[..., None, None], maps, 0)               # NaN * 0 would stay NaN
    return maps.transpose(0, 2, 3, 1).astype(np.float32)


def _check_maps(maps, joints: int | None) -> np.ndarray:
    """Heat maps as float32 (N, H, W, J); refuses empty, non-finite and channels-first arrays, and,
    without ``joints``, any shape whose reading is ambiguous (maps not square as (N, H, W, joints))."""
    maps = _floats(maps, "maps")
    if maps.ndim != 4 or 0 in maps.shape:
        raise ValueError(f"maps must have shape (N, H, W, joints) with no empty axis, "
                         f"got {maps.shape}")
    n, a, b, c = maps.shape
    if joints is not None and c != _whole(joints, "joints"):
        first = " (channels first? use maps.transpose(0, 2, 3, 1))" if a == joints else ""
        raise ValueError(f"maps have {c} channels on the last axis, expected joints={joints}"
                         f"{first}")
    if joints is None and a != b and b == c:
        raise ValueError(f"maps of shape {maps.shape} look channels-first (N, joints, H, W): the "
                         f"last two axes are equal (square maps) and the middle two are not. Give (N, H, "
                         f"W, joints), e.g. maps.transpose(0, 2, 3, 1), or pass joints= to say how many "
                         f"joints the last axis holds")
    if joints is None and a != b and c > 1:   # (N, H, W, 1) is one joint: no map is 1 pixel wide
        raise ValueError(f"maps of shape {maps.shape} are not square maps read either way, (N, H, W, "
                         f"joints) or (N, joints, H, W): pass joints= (the number of joints, on the last "
                         f"axis) to read them as {a}x{b} maps of {c} joints")
    if not np.isfinite(maps).all():
        raise ValueError("maps contain NaN or inf: the network (or its conversion) produced "
                         "invalid outputs")
    return maps


def decode(maps, stride: float = STRIDE,
           joints: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Joint positions from heat maps (N, H, W, J): ``(coords (N, J, 2) as (x, y) in image pixels,
    peaks (N, J))``.

    Newell's decoding (``postprocess`` in pose-hg-train's ``src/util/pose.lua``): take the argmax
    (the first in row-major order on a tie, as ``np.argmax``). When it is *inside* the map (not on
    the first or last row or column) move it a quarter of a heat-map pixel towards the higher
    neighbour in x and in y (no move on an axis whose two neighbours are equal); on the border do
    not move it at all, on either axis. Then map back to image pixels:
    ``x = (column + shift + 0.5) * stride``, ``y = (row + shift + 0.5) * stride``.

    ``joints``: the number of joints on the last axis, when known. Without it the number of joints is
    inferred only from square maps (H == W) or a single joint (N, H, W, 1): (N, 16, 64, 64) is refused
    as channels-first, and a shape such as (N, 16, 8, 12), square neither way, asks for ``joints=`` (an
    all-equal shape such as (N, 16, 16, 16) cannot be told apart and is read channels-last, the
    course's layout).
    """
    maps = _check_maps(maps, joints)
    stride = _positive(stride, "stride")
    n, h, w, j = maps.shape
    m = maps.transpose(0, 3, 1, 2)                                   # (N, J, H, W)
    ys, xs = np.divmod(m.reshape(n, j, h * w).argmax(-1), w)
    b, k = np.meshgrid(np.arange(n), np.arange(j), indexing="ij")
    at = lambda yy, xx: m[b, k, np.clip(yy, 0, h - 1), np.clip(xx, 0, w - 1)]  # noqa: E731
    inside = (xs > 0) & (xs < w - 1) & (ys > 0) & (ys < h - 1)
    dx = np.where(inside, 0.25 * np.sign(at(ys, xs + 1) - at(ys, xs - 1)), 0.0)
    dy = np.where(inside, 0.25 * np.sign(at(ys + 1, xs) - at(ys - 1, xs)), 0.0)
    coords = np.stack([(xs + dx + 0.5) * stride, (ys + dy + 0.5) * stride], -1)
    return coords.astype(np.float32), at(ys, xs)


# --------------------------------------------------------------------------- PCK
def bbox_size(poses) -> np.ndarray:
    """The longer side of each figure's joint bounding box (N,), in pixels: PCK's normaliser.

    The box holds all the figure's known (x, y) joints, hidden ones included (their true positions
    are known); missing (NaN) joints are left out. A figure with no known joint gets NaN.
    """
    xy = _check_poses(poses)[..., :2]
    known = np.isfinite(xy)
    extent = (np.where(known, xy, -np.inf).max(1) - np.where(known, xy, np.inf).min(1)).max(-1)
    return np.where(known.any((1, 2)), extent, np.nan).astype(np.float32)


def normalised_errors(pred, poses) -> np.ndarray:
    """Distance of each predicted joint to the truth over the figure's :func:`bbox_size` (N, J).

    ``pred`` (N, J, 2) as (x, y); ``poses`` (N, J, 2 or 3) as (x, y[, visible]). NaN for a missing
    true joint or a NaN prediction. PCK@alpha counts a visible joint whose error is <= alpha.
    """
    poses = _check_poses(poses)
    dist = np.linalg.norm(_check_pred(pred, poses) - poses[..., :2], axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return dist / bbox_size(poses)[:, None]


def _sized(poses: np.ndarray, visible: np.ndarray) -> np.ndarray:
    """:func:`bbox_size` of ``poses``; a ValueError when a figure with a visible joint has a box of size 0."""
    size = bbox_size(poses)
    flat = np.flatnonzero((size == 0) & visible.any(1))
    if len(flat):
        raise ValueError(f"poses: figure(s) {flat[:5].tolist()} have a bounding box of size 0 (all their "
                         f"known joints at one point), so PCK's threshold alpha * size would be 0; PCK "
                         f"needs figures whose known joints are not all in one place")
    return size


def _share(correct: np.ndarray, counted: np.ndarray) -> np.ndarray:
    """``correct / counted``, NaN where nothing is counted."""
    return np.divide(correct, counted, out=np.full(np.shape(correct), np.nan), where=counted > 0)


def pck(pred, poses, alpha: float = 0.2) -> dict:
    """PCK@alpha: the fraction of *visible* joints predicted within ``alpha * bbox_size``.

    ``pred`` (N, J, 2) predicted (x, y); ``poses`` (N, J, 3) true (x, y, visible). A joint is
    correct when its distance is ``<= alpha * bbox_size`` (on the threshold counts, as in Newell's
    ``distAccuracy``). Only joints with visible > 0 count; a missing (NaN) joint counts as not
    visible; a NaN prediction counts as wrong.

    Returns ``{"overall": float, "per_joint": (J,), "per_figure": (N,), "correct": bool (N, J),
    "counted": int}``. Where nothing is counted the value is NaN, not 0: a joint never visible has
    a NaN ``per_joint``, a figure with no visible joint a NaN ``per_figure`` (it adds nothing to
    ``overall``), and ``overall`` is NaN when no joint of the batch is visible.
    """
    poses, alpha = _flagged(poses), _alpha(alpha)
    dist = np.linalg.norm(_check_pred(pred, poses) - poses[..., :2], axis=-1)
    visible = poses[..., 2] > 0
    size = _sized(poses, visible)
    correct = (dist <= np.float32(alpha) * size[:, None]) & visible
    return {"overall": float(_share(correct.sum(), visible.sum())),
            "per_joint": _share(correct.sum(0), visible.sum(0)),
            "per_figure": _share(correct.sum(1), visible.sum(1)),
            "correct": correct, "counted": int(visible.sum())}


def _joint_names(count: int, names: Sequence[str] | None = None) -> list[str]:
    """``names``, or the course's 16 JOINTS for 16 joints, or "joint 0", "joint 1", ..."""
    if names is None:
        return list(JOINTS) if count == len(JOINTS) else [f"joint {i}" for i in range(count)]
    if len(names) != count:
        raise ValueError(f"names has {len(names)} entries for {count} joints")
    return list(names)


def pck_table(pred, poses, alphas: Sequence[float] = (0.2, 0.1),
              names: Sequence[str] | None = None) -> pd.DataFrame:
    """PCK per joint (rows: each joint and "all") at each alpha, in percent. Any number of joints:
    rows are named by ``names``, else the course's JOINTS for 16 joints, else "joint 0", ..."""
    cols = {}
    for a in _alphas(alphas):
        res = pck(pred, poses, a)
        cols[f"PCK@{a} %"] = [*(100 * res["per_joint"]).round(1), round(100 * res["overall"], 1)]
    count = len(next(iter(cols.values()))) - 1
    return pd.DataFrame(cols, index=[*_joint_names(count, names), "all"])


# --------------------------------------------------------------------------- pose diagnostics
def scores(pred, poses, alphas: Sequence[float] = (0.2, 0.1)) -> dict[str, float]:
    """``{"PCK@0.2": ..., "PCK@0.1": ...}`` as fractions, on all visible joints (pred as (x, y))."""
    return {f"PCK@{a}": pck(pred, poses, a)["overall"] for a in _alphas(alphas)}


def pck_by_visibility(pred, poses, alpha: float = 0.2,
                      image_size: int = POSE_SIZE) -> dict[str, float]:
    """PCK@alpha on visible and on occluded joints separately, with how many joints each counts.

    The dataset flags a joint 0 when it is outside the image *or* under an occluder (see
    :mod:`course_lib.data`). Occluded here means flagged 0 but inside the ``image_size`` image: its
    true (x, y) is known, so PCK on these joints measures where the network places a joint it
    cannot see. Joints outside the image are in neither group. A group with no joint gets NaN.
    """
    poses = _flagged(poses)
    xy = poses[..., :2]
    inside = np.all((xy >= 0) & (xy < _whole(image_size, "image_size")), -1)
    out = {}
    groups = {"visible": poses[..., 2] > 0, "occluded": (poses[..., 2] == 0) & inside}
    for group, mask in groups.items():
        res = pck(pred, np.concatenate([xy, mask[..., None]], -1), alpha)
        out[group], out[f"{group} joints"] = res["overall"], res["counted"]
    return out


def per_joint_table(preds: Mapping[str, np.ndarray], poses, alpha: float = 0.2,
                    names: Sequence[str] | None = None) -> pd.DataFrame:
    """Per-joint PCK@alpha in percent of several models side by side: ``preds`` maps a model's
    name to its predictions (N, J, 2) as (x, y). Rows: the joints and "all"; a column per model."""
    if not preds:
        raise ValueError("preds is empty: give {model name: predictions (N, J, 2)}")
    return pd.DataFrame({name: pck_table(p, poses, (alpha,), names).iloc[:, 0]
                         for name, p in preds.items()})


def left_right_pairs(names: Sequence[str] = JOINTS) -> list[tuple[int, int]]:
    """(left index, right index) of every joint named ``l_<part>`` with an ``r_<part>`` twin."""
    index = {n: i for i, n in enumerate(names)}
    return [(i, index["r_" + n[2:]]) for i, n in enumerate(names)
            if n.startswith("l_") and "r_" + n[2:] in index]


def swap_rate(pred, poses, alpha: float = 0.2, names: Sequence[str] | None = None) -> float:
    """The share of left/right pairs (hips, knees, ankles, shoulders, elbows, wrists) that the
    network swapped. ``pred`` (N, J, 2) as (x, y); ``poses`` (N, J, 3); ``names`` name the J joints
    (the course's JOINTS by default for 16 joints); a pair is ``l_<part>`` with ``r_<part>``.

    A pair of one figure is counted when both its joints are visible. It is *swapped* when the
    swapped assignment explains the prediction within PCK's threshold and better than the true
    one: ``|pred_l - true_r|`` and ``|pred_r - true_l|`` are both ``<= alpha * bbox_size``, and
    their sum is smaller than ``|pred_l - true_l| + |pred_r - true_r|``. NaN when no pair counts.
    """
    poses = _flagged(poses)
    pred, pairs = _check_pred(pred, poses), left_right_pairs(_joint_names(poses.shape[1], names))
    if not pairs:
        raise ValueError("no left/right pairs: names must contain joints l_<part> and r_<part>")
    left, right = (np.array(side) for side in zip(*pairs))
    d = lambda a, b: np.linalg.norm(pred[:, a] - poses[:, b, :2], axis=-1)  # noqa: E731
    limit = _alpha(alpha) * bbox_size(poses)[:, None]
    counted = (poses[:, left, 2] > 0) & (poses[:, right, 2] > 0)
    closer = d(left, right) + d(right, left) < d(left, left) + d(right, right)
    swapped = (d(left, right) <= limit) & (d(right, left) <= limit) & closer & counted
    return float(_share(swapped.sum(), counted.sum()))


def worst_cases(pred, poses, k: int = 8) -> np.ndarray:
    """Indices of the ``k`` figures with the largest mean normalised error over their visible
    joints (:func:`normalised_errors`), worst first. Figures with no visible joint are never chosen
    (fewer than ``k`` indices come back when fewer figures have one); a NaN prediction is worst."""
    poses, k = _flagged(poses), _whole(k, "k")
    err = np.nan_to_num(normalised_errors(pred, poses), nan=np.inf)
    visible = poses[..., 2] > 0
    mean = np.where(visible, err, 0).sum(1) / np.maximum(visible.sum(1), 1)
    scored = np.flatnonzero(visible.any(1))
    return scored[np.argsort(-mean[scored], kind="stable")][:k]


# --------------------------------------------------------------------------- the network
@keras.saving.register_keras_serializable(package="course_lib")
class FusedBatchNorm(keras.layers.BatchNormalization):
    """Keras' ``BatchNormalization`` whose training pass is TensorFlow's fused batch-norm kernel: one op.

    Keras 3 builds batch norm in training from about ten small ops (the batch moments, the normalisation,
    two moving-average updates) and their gradients; in an hourglass these are half of the training
    step's graph. ``FusedBatchNormV3`` computes the same normalisation in one op with one gradient op, so
    the step traces about twice as fast and runs slightly faster on a CPU. The one difference in the
    arithmetic: the moving variance is updated with the unbiased batch variance (×n/(n−1), n = batch ×
    height × width), as TensorFlow's kernel does. Inference (``training=False``) and frozen layers use
    Keras' own path, so conversion to LiteRT sees the usual layer. Other layouts fall back to Keras."""

    def call(self, inputs, training=None, mask=None):
        import tensorflow as tf

        fusable = (training is True and self.trainable and mask is None and self.scale and self.center
                   and len(inputs.shape) == 4 and self.axis in (-1, 3) and inputs.dtype == "float32"
                   and keras.backend.backend() == "tensorflow")
        if not fusable:
            return super().call(inputs, training=training, mask=mask)
        y, mean, variance, *_ = tf.raw_ops.FusedBatchNormV3(
            x=inputs, scale=self.gamma.value, offset=self.beta.value, mean=self.moving_mean.value,
            variance=self.moving_variance.value, epsilon=self.epsilon, exponential_avg_factor=1.0 - self.momentum,
            data_format="NHWC", is_training=True)
        self.moving_mean.assign(mean)            # the kernel already mixed them: momentum·old + (1−momentum)·batch
        self.moving_variance.assign(variance)
        return y


def residual_module(x, filters: int, name: str, hidden: int | None = None):
    """Newell's residual module (pre-activation bottleneck): BN-ReLU-1x1 (filters/2), BN-ReLU-3x3
    (filters/2), BN-ReLU-1x1 (filters), plus the input (through a 1x1 convolution when the channel
    count changes). All convolutions have a bias, as in the original Torch code.

    ``hidden`` replaces the bottleneck width filters/2 of the two inner convolutions (a module whose
    hidden channels were pruned, :func:`prune_hidden_channels`)."""
    if hidden is None and filters % 2:
        raise ValueError(f"residual module '{name}': filters must be even (the bottleneck is filters/2), got {filters}")
    if hidden is not None and (isinstance(hidden, bool) or int(hidden) != hidden or hidden < 1):
        raise ValueError(f"residual module '{name}': hidden must be a whole number >= 1, got {hidden!r}")
    c_in = int(x.shape[-1])
    half = int(hidden) if hidden is not None else filters // 2
    y = x
    for i, (k, c) in enumerate(((1, half), (3, half), (1, filters))):
        y = FusedBatchNorm(momentum=0.9, name=f"{name}_bn{i + 1}")(y)
        y = keras.layers.ReLU(name=f"{name}_relu{i + 1}")(y)
        y = keras.layers.Conv2D(c, k, padding="same", name=f"{name}_conv{i + 1}")(y)
    skip = x if c_in == filters else keras.layers.Conv2D(filters, 1, name=f"{name}_skip")(x)
    return keras.layers.Add(name=f"{name}_add")([skip, y])


def _block(x, filters: int, name: str, block: str, expansion: int, hidden: Mapping[str, int]):
    if block == "residual":
        return residual_module(x, filters, name, hidden=hidden.get(name))
    return mobilenet.inverted_residual_block(x, expansion, filters, 1, name=name, bn_momentum=0.9,
                                             hidden=hidden.get(name), norm=FusedBatchNorm)


@keras.saving.register_keras_serializable(package="course_lib")
class NearestUpsample(keras.layers.Layer):
    """Nearest-neighbour upsampling by an integer ``factor``, written as an image resize.

    Keras 3's ``UpSampling2D`` computes the same values with repeat/tile ops, which the LiteRT converter
    turns into EXPAND_DIMS, TILE, SHAPE, STRIDED_SLICE, CONCATENATION and RESHAPE with dynamic shapes;
    this layer becomes one RESIZE_NEAREST_NEIGHBOR op, which LiteRT runs in int8.
    """

    def __init__(self, factor: int = 2, **kwargs):
        super().__init__(**kwargs)
        self.factor = int(factor)

    def call(self, x):
        h, w = x.shape[1], x.shape[2]
        return keras.ops.image.resize(x, (h * self.factor, w * self.factor), interpolation="nearest")

    def compute_output_shape(self, input_shape):
        n, h, w, c = input_shape
        return (n, None if h is None else h * self.factor, None if w is None else w * self.factor, c)

    def count_macs(self, input_shapes, output_shape) -> int:
        """A copy, no multiply-adds."""
        return 0

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


def upsample_nearest(x, factor: int, name: str):
    """Nearest-neighbour upsampling of ``x`` by ``factor`` (a :class:`NearestUpsample` layer)."""
    return NearestUpsample(factor, name=name)(x)


def _hourglass(x, depth: int, filters: int, name: str, make, taps: list):
    """Newell's recursive hourglass: a skip branch at this resolution, and a branch that max-pools,
    recurses (or applies one block at the bottom), and upsamples (nearest neighbour) to add back."""
    up1 = make(x, f"{name}_d{depth}_skip")
    low1 = keras.layers.MaxPooling2D(2, name=f"{name}_d{depth}_pool")(x)
    low1 = make(low1, f"{name}_d{depth}_down")
    low2 = _hourglass(low1, depth - 1, filters, name, make, taps) if depth > 1 else make(low1, f"{name}_bottom")
    low3 = make(low2, f"{name}_d{depth}_up")
    taps.append(low3)
    up2 = upsample_nearest(low3, 2, name=f"{name}_d{depth}_upsample")
    return keras.layers.Add(name=f"{name}_d{depth}_add")([up1, up2])


def _lin(x, filters: int, name: str):
    x = keras.layers.Conv2D(filters, 1, name=name)(x)
    x = FusedBatchNorm(momentum=0.9, name=f"{name}_bn")(x)
    return keras.layers.ReLU(name=f"{name}_relu")(x)


def _check_input_shape(input_shape: Sequence[int], depth: int) -> None:
    """Both spatial sides: whole numbers divisible by 4 * 2**depth (stride 4, depth halvings)."""
    if not _is_list(input_shape):
        raise ValueError(f"input_shape must be (height, width, channels), got {input_shape!r}")
    if len(input_shape) != 3:
        raise ValueError(f"input_shape must be (height, width, channels), got {tuple(input_shape)}")
    unit = 4 * 2 ** depth
    for side, value in zip(("height", "width", "channels"), input_shape):
        _whole(value, f"input_shape {side}")
        if side != "channels" and value % unit:
            raise ValueError(f"input {side} {value} must be divisible by 4 * 2**depth = {unit} "
                             f"(stride 4 to the heat maps, then {depth} halvings in the hourglass)")


def stacked_hourglass(input_shape: Sequence[int] = (64, 64, 3), joints: int = 16, stacks: int = 2,
                      depth: int = 3, features: int = 64, stem_widths: Sequence[int] = (32, 64),
                      block: str = "residual", expansion: int = 6, crelu_stem: bool = False,
                      hyper_head: bool = False, hidden: Mapping[str, int] | None = None,
                      name: str | None = None) -> keras.Model:
    """A Stacked Hourglass network (Newell et al. 2016) with one heat-map output per stack.

    Layout: 7x7 stride-2 conv (``stem_widths[0]`` channels) + BN + ReLU; a block to ``stem_widths[1]``;
    2x2 max-pool; a block; a block to ``features``. Then per stack: an hourglass of ``depth`` levels,
    a block, a 1x1 conv + BN + ReLU ("lin"), and a 1x1 conv to ``joints`` heat maps (an output,
    trained with intermediate supervision). Between stacks the features and the heat maps are mapped
    back by 1x1 convolutions and added to the stack's input. The heat maps are 1/4 of the input size.
    Newell's own network is ``stacked_hourglass((256, 256, 3), 16, stacks=8, depth=4, features=256,
    stem_widths=(64, 128))``.

    Options (each a technique of the course):
        block: ``"residual"`` (Newell's bottleneck module) or ``"inverted"`` (MobileNetV2 block with
            ``expansion``; ``features`` must then be a multiple of 8).
        crelu_stem: the 7x7 stem computes half its channels and a CReLU concatenates their negation.
        hyper_head: each stack's head also reads the hourglass's coarser levels (upsampled to the
            heat-map size) concatenated with its output (PVANet's hyper-feature concatenation).
        hidden: ``{block name: hidden width}`` for inverted blocks whose expansion layer was pruned.
    """
    if block not in ("residual", "inverted"):
        raise ValueError(f"block must be 'residual' or 'inverted', not {block!r}")
    stacks, depth = _whole(stacks, "stacks"), _whole(depth, "depth")
    joints = _whole(joints, "joints")
    features, expansion = _whole(features, "features", 2), _whole(expansion, "expansion")
    if not _is_list(stem_widths) or len(stem_widths) != 2:
        raise ValueError(f"stem_widths must be two channel counts (after the 7x7 conv, after the first block), "
                         f"got {stem_widths!r}")
    stem_widths = tuple(_whole(w, "stem_widths entries", 2) for w in stem_widths)
    _check_input_shape(input_shape, depth)
    if block == "inverted" and (features % 8 or any(w % 8 for w in stem_widths)):
        raise ValueError(f"MobileNetV2 blocks round channels to multiples of 8: use features and stem_widths "
                         f"that are multiples of 8 (got {features}, {tuple(stem_widths)})")
    hidden = _check_hidden(hidden)
    make = lambda x, block_name, f=features: _block(x, f, block_name, block, expansion, hidden)  # noqa: E731

    inputs = keras.Input(tuple(input_shape), name="image")
    c0, c1 = stem_widths
    if crelu_stem:
        if c0 % 2:
            raise ValueError(f"a CReLU stem needs an even stem width, got {c0}")
        x = keras.layers.Conv2D(c0 // 2, 7, strides=2, padding="same", name="stem_conv")(inputs)
        x = FusedBatchNorm(momentum=0.9, name="stem_bn")(x)
        x = pvanet.CReLU(scale_shift=True, name="stem_crelu")(x)
    else:
        x = keras.layers.Conv2D(c0, 7, strides=2, padding="same", name="stem_conv")(inputs)
        x = FusedBatchNorm(momentum=0.9, name="stem_bn")(x)
        x = keras.layers.ReLU(name="stem_relu")(x)
    x = make(x, "stem_block1", c1)
    x = keras.layers.MaxPooling2D(2, name="stem_pool")(x)
    x = make(x, "stem_block2", c1)
    inter = make(x, "stem_block3", features)

    outputs = []
    for s in range(1, stacks + 1):
        taps: list = []
        hg = _hourglass(inter, depth, features, f"hg{s}", make, taps)
        ll = make(hg, f"hg{s}_out")
        ll = _lin(ll, features, f"hg{s}_lin")
        head = ll
        if hyper_head:
            # Coarser levels of this hourglass (taps[-1] is the finest), upsampled to the heat-map size.
            maps = [ll] + [upsample_nearest(t, int(ll.shape[1]) // int(t.shape[1]), name=f"hg{s}_hyper_up{i + 1}")
                           for i, t in enumerate(reversed(taps[-2:]))]
            head = keras.layers.Concatenate(name=f"hg{s}_hyper_concat")(maps)
            head = _lin(head, features, f"hg{s}_hyper")
        # Zero-initialised: training starts from "no joint anywhere" instead of random heat maps.
        out = keras.layers.Conv2D(joints, 1, kernel_initializer="zeros", name=f"heatmaps{s}")(head)
        outputs.append(out)
        if s < stacks:
            back_f = keras.layers.Conv2D(features, 1, name=f"hg{s}_feat_back")(head)
            back_h = keras.layers.Conv2D(features, 1, name=f"hg{s}_heat_back")(out)
            inter = keras.layers.Add(name=f"hg{s}_next")([inter, back_f, back_h])
    default = f"hourglass{stacks}_{block}" + ("_crelu" if crelu_stem else "") + ("_hyper" if hyper_head else "")
    model = keras.Model(inputs, outputs, name=name or default)
    _unused_hidden(hidden, model)
    return model


def _check_hidden(hidden) -> dict[str, int]:
    """``hidden`` as ``{block name: whole width >= 1}``, else a ValueError naming the entry."""
    if hidden is None:
        return {}
    if not isinstance(hidden, Mapping):
        raise ValueError(f"hidden must be a dict {{block name: hidden width}}, such as hidden_widths(model) "
                         f"returns, got {hidden!r}")
    return {name: _whole(width, f"hidden[{name!r}]") for name, width in hidden.items()}


def _unused_hidden(hidden: Mapping[str, int], model: keras.Model) -> None:
    """A ValueError when a key of ``hidden`` names no block of ``model`` with hidden channels (a typo)."""
    blocks = hidden_widths(model)
    unknown = [name for name in hidden if name not in blocks]
    if unknown:
        raise ValueError(f"hidden names {unknown[:5]}, which are not blocks with hidden channels of this "
                         f"network (its blocks are {list(blocks)[:4]}, ...: see pose.hidden_widths)")


def stack_outputs(model: keras.Model, x: np.ndarray, batch_size: int = 100,
                  stacks: Sequence[int] | None = None) -> list[np.ndarray]:
    """Every stack's heat maps for images ``x`` (a list, first stack first), or only those of the
    stack indices in ``stacks`` (``[-1]``: the last), so unused stacks take no memory.

    The last batch is padded to a full one (and the padding cut off again), so the compiled forward
    pass is traced once per architecture and batch size, not again for a smaller last batch."""
    x = _floats(x, "x")
    batch_size = _whole(batch_size, "batch_size")
    if x.ndim == 0 or len(x) == 0:
        raise ValueError("x is empty: give at least one image")
    pad = -len(x) % batch_size if len(x) > batch_size else 0
    padded = np.concatenate([x, np.zeros((pad,) + x.shape[1:], np.float32)]) if pad else x
    batch = min(batch_size, len(x))
    forward = _forward(model, batch)
    n_out = len(model.outputs)
    if stacks is not None and (isinstance(stacks, (str, bytes)) or not isinstance(stacks, Sequence) or not all(
            isinstance(k, (int, np.integer)) and not isinstance(k, bool) for k in stacks)):
        raise ValueError(f"stacks must be a list of stack indices such as [-1] (the last), got {stacks!r}")
    keep = list(range(n_out)) if stacks is None else [int(k) for k in stacks]
    if not keep or any(not -n_out <= k < n_out for k in keep):
        raise ValueError(f"model '{model.name}' has {n_out} stack output(s); stacks={stacks} is out of range")
    chunks = [[np.asarray(out[k]) for k in keep] for out in
              (forward(padded[i:i + batch]) for i in range(0, len(padded), batch))]
    return [np.concatenate([c[j] for c in chunks])[: len(x)] for j in range(len(keep))]


def inference_model(model: keras.Model, stack: int = -1, name: str | None = None) -> keras.Model:
    """The model a phone would run: the same layers, only one stack's heat maps as output (the last by
    default). Intermediate outputs exist for training (intermediate supervision) only."""
    outs, stack = model.outputs, _index(stack, "stack")
    if not -len(outs) <= stack < len(outs):
        raise ValueError(f"model '{model.name}' has {len(outs)} heat-map outputs; stack={stack} does not exist")
    return keras.Model(model.inputs, outs[stack], name=name or f"{model.name}_deploy")


def truncate_stacks(model: keras.Model, stacks: int, config: Mapping) -> keras.Model:
    """A copy with only the first ``stacks`` stacks, its weights copied by layer name. ``config`` must be
    the builder's keyword arguments the model was built with (the same block, features, ...)."""
    stacks, config = _whole(stacks, "stacks"), _check_config(config)
    if not stacks <= len(model.outputs):
        raise ValueError(f"model '{model.name}' has {len(model.outputs)} stacks; cannot keep {stacks}")
    small = _build_from(model, config, subset=True, stacks=stacks, name=f"{model.name}_{stacks}stack")
    prune.transfer_sliced_weights(model, small, {})
    return small


def _check_config(config) -> dict:
    """``config`` as a dict of :func:`stacked_hourglass` keyword arguments, else a ValueError."""
    if not isinstance(config, Mapping):
        raise ValueError(f"config must be the dict of stacked_hourglass keyword arguments the model was "
                         f"built with, got {config!r}")
    allowed = set(inspect.signature(stacked_hourglass).parameters)
    unknown = [key for key in config if key not in allowed]
    if unknown:
        raise ValueError(f"config has keys stacked_hourglass does not take: {unknown} (it takes "
                         f"{sorted(allowed - {'name'})})")
    return dict(config)


def _weight_shapes(model: keras.Model) -> dict[str, list[tuple]]:
    return {layer.name: [tuple(w.shape) for w in layer.weights] for layer in model.layers}


def _config_claims(model: keras.Model, config: Mapping, stacks: bool = True) -> None:
    """A ValueError when ``config`` says another input shape, number of joints or (``stacks``) of
    stacks than ``model`` has (keys left out take the builder's defaults)."""
    said = {**{k: p.default for k, p in inspect.signature(stacked_hourglass).parameters.items()}, **config}
    actual = {"input_shape": tuple(model.inputs[0].shape[1:]), "joints": int(model.outputs[0].shape[-1])}
    if stacks:
        actual["stacks"] = len(model.outputs)
    as_said = lambda v: tuple(v) if isinstance(v, (list, tuple)) else v  # noqa: E731
    wrong = [f"{key}={said[key]!r} (the model has {value!r})" for key, value in actual.items()
             if as_said(said[key]) != value]
    if wrong:
        raise ValueError(f"config does not describe model '{model.name}': it says {', '.join(wrong)}. "
                         f"Pass the keyword arguments the model was built with")


def _build_from(model: keras.Model, config: Mapping, subset: bool = False, sliced: frozenset = frozenset(),
                **changes) -> keras.Model:
    """``stacked_hourglass(**config, **changes)``, refused with a message about ``config`` when it is not
    ``model``'s architecture: other input, joints or stacks, other layers (``subset``: fewer are fine),
    or other weight shapes outside the ``sliced`` layers (the pruned ones)."""
    _config_claims(model, config, stacks=not subset)
    try:
        built = stacked_hourglass(**{**config, **changes})
    except ValueError as err:
        raise ValueError(f"config does not describe model '{model.name}': {err}") from None
    ours, theirs = _weight_shapes(model), _weight_shapes(built)
    missing = [n for n in theirs if n not in ours]
    extra = [] if subset else [n for n in ours if n not in theirs]
    reshaped = [n for n in theirs if n in ours and n not in sliced and theirs[n] != ours[n]]
    if missing or extra or reshaped:
        differs = (f"other layers (only in the config's network: {missing[:3]}; only in the model: "
                   f"{extra[:3]})" if missing or extra else
                   f"other weight shapes in {len(reshaped)} layer(s), e.g. {reshaped[:3]}")
        raise ValueError(f"config does not describe model '{model.name}': it builds {differs}. Do "
                         f"features, stem_widths, depth, block or expansion differ? Pass the keyword "
                         f"arguments the model was built with")
    return built


# --------------------------------------------------------------------------- structured pruning
def hidden_widths(model: keras.Model) -> dict[str, int]:
    """``{block name: hidden width}`` of every block with hidden channels: the expansion layer of a
    MobileNetV2 block, or the bottleneck (first two convolutions) of a residual module."""
    widths = {}
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D) and layer.name.endswith("_expand"):
            widths[layer.name[: -len("_expand")]] = int(layer.filters)
        elif isinstance(layer, keras.layers.Conv2D) and layer.name.endswith("_conv1"):
            widths[layer.name[: -len("_conv1")]] = int(layer.filters)
    return widths


PRUNING_CRITERIA = ("l1", "gamma", "random")


def _hidden_layers(model: keras.Model, block: str) -> list[tuple[str, str, list[str]]]:
    """Per hidden layer of a block: (conv producing it, batch norm that normalises it, layers sliced)."""
    names = {layer.name for layer in model.layers}
    if f"{block}_expand" in names:
        return [(f"{block}_expand", f"{block}_expand_BN",
                 [f"{block}_expand", f"{block}_expand_BN", f"{block}_depthwise", f"{block}_depthwise_BN",
                  f"{block}_project"])]
    # Pre-activation residual module: conv1 -> bn2 -> relu -> conv2 (3x3) -> bn3 -> relu -> conv3.
    return [(f"{block}_conv1", f"{block}_bn2", [f"{block}_conv1", f"{block}_bn2"]),
            (f"{block}_conv2", f"{block}_bn3", [f"{block}_bn3", f"{block}_conv3"])]


def channel_scores(model: keras.Model, criterion: str = "l1", seed: int = 0) -> dict[str, list[np.ndarray]]:
    """How important each hidden channel looks, per block: ``{block: [scores of each hidden layer]}``.

    - ``"l1"``: L1 norm of the convolution filter that produces the channel. A batch norm follows that
      convolution and divides the channel by its own standard deviation, so the filter's scale
      cancels out: L1 measures the initialisation more than the channel's use (scale-blind).
    - ``"gamma"``: ``|γ|`` of that batch norm (Liu et al. 2017, Network Slimming): the scale the channel
      really leaves the layer with.
    - ``"random"``: a random score, the control any criterion must beat.
    """
    if criterion not in PRUNING_CRITERIA:
        raise ValueError(f"criterion must be one of {PRUNING_CRITERIA}, got {criterion!r}")
    rng = np.random.default_rng(_whole(seed, "seed", 0))
    scores = {}
    for block in hidden_widths(model):
        per_layer = []
        for conv, bn, _ in _hidden_layers(model, block):
            if criterion == "l1":
                per_layer.append(prune.filter_l1_norms(model.get_layer(conv)))
            elif criterion == "gamma":
                per_layer.append(np.abs(np.asarray(model.get_layer(bn).gamma, np.float64)))
            else:
                per_layer.append(rng.random(int(model.get_layer(conv).filters)))
        scores[block] = per_layer
    return scores


def prune_hidden_channels(model: keras.Model, fraction: float, config: Mapping, criterion: str = "l1",
                          seed: int = 0) -> tuple[keras.Model, dict]:
    """Channel pruning of the blocks' hidden layers, rebuilt as a smaller dense model.

    In every block drop the ``fraction`` of hidden channels with the lowest :func:`channel_scores`
    (``criterion`` ``"l1"``, ``"gamma"`` or ``"random"``), together with their batch-norm channels and
    the next convolution's matching input weights: the expansion layer of a MobileNetV2 block, or both
    bottleneck layers of a residual module (each ranked on its own).

    The hidden layers sit *inside* a block, so removing their channels never touches the skip
    connections (whose two branches would need the same channels removed). Returns
    ``(smaller dense model, {block: [kept indices of each hidden layer]})``; ``config`` is the builder's
    keyword arguments.
    """
    fraction = prune.check_sparsity(fraction, "fraction of hidden channels to remove")
    config = _check_config(config)
    scores = channel_scores(model, criterion, seed)
    if not scores:
        raise prune.PruningError(f"model '{model.name}' has no hidden layers to prune (no MobileNetV2 "
                                 f"expansion layer, no residual module)")
    keep_blocks, keep_layers = {}, {}
    for block, per_layer in scores.items():
        kept_list = [prune.keep_largest(s, max(1, int(round((1 - fraction) * len(s))))) for s in per_layer]
        keep_blocks[block] = kept_list
        for (_, _, sliced), kept in zip(_hidden_layers(model, block), kept_list):
            for layer_name in sliced:
                keep_layers[layer_name] = kept
        if len(kept_list) == 2:  # the 3x3 conv of a residual module loses inputs and outputs
            keep_layers[f"{block}_conv2"] = {-2: kept_list[0], -1: kept_list[1]}   # kernel (3, 3, in, out)
    widths = {b: len(k[0]) for b, k in keep_blocks.items()}
    if any(len(k) == 2 and len(k[0]) != len(k[1]) for k in keep_blocks.values()):
        raise prune.PruningError("both bottleneck layers of a residual module must keep the same width")
    small = _build_from(model, config, sliced=frozenset(keep_layers), hidden=widths,
                        name=f"{model.name}_pruned")
    prune.transfer_sliced_weights(model, small, keep_layers)
    return small, keep_blocks


# --------------------------------------------------------------------------- drawing
_SIDE_COLOURS = {"r": "#e8590c", "l": "#1c7ed6", "c": "#2b8a3e"}


def draw_pose(ax, image, true=None, pred=None, title: str = ""):
    """An image with the true skeleton (thin, white outline) and the predicted one (coloured by side:
    orange = right, blue = left, green = centre line). ``true`` (J, 3) and ``pred`` (J, 2) in pixels."""
    ax.imshow(np.clip(image, 0, 1), extent=(0, image.shape[1], image.shape[0], 0))
    for pose, style in ((true, "true"), (pred, "pred")):
        if pose is None:
            continue
        pose = np.asarray(pose)
        for (a, b), side in zip(LIMBS, LIMB_SIDES):
            xs, ys = pose[[a, b], 0], pose[[a, b], 1]
            if style == "true":
                ax.plot(xs, ys, color="white", lw=3.2, alpha=0.55, solid_capstyle="round")
            else:
                ax.plot(xs, ys, color=_SIDE_COLOURS[side], lw=1.6)
        if style == "true" and pose.shape[-1] == 3:
            hidden = pose[:, 2] == 0
            ax.scatter(pose[hidden, 0], pose[hidden, 1], marker="x", color="black", s=18, zorder=4)
        if style == "pred":
            ax.scatter(pose[:, 0], pose[:, 1], s=8, color="black", zorder=5)
    ax.set_xlim(0, image.shape[1])
    ax.set_ylim(image.shape[0], 0)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, fontsize=9)
    return ax


def show_heatmaps(maps, image=None, joints: Sequence[int] | None = None, ncols: int = 8, title: str = ""):
    """One panel per joint: the heat map of one figure (H, W, J), over the image when given."""
    import matplotlib.pyplot as plt

    maps = np.asarray(maps)
    joints = list(range(maps.shape[-1])) if joints is None else list(joints)
    nrows = -(-len(joints) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(1.6 * ncols, 1.7 * nrows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    vmax = max(float(maps.max()), 1e-6)
    for ax, j in zip(axes.flat, joints):
        if image is not None:
            ax.imshow(np.clip(image, 0, 1), extent=(0, maps.shape[1], maps.shape[0], 0))
            ax.imshow(maps[..., j], cmap="magma", alpha=0.6, vmin=0, vmax=vmax, extent=(0, maps.shape[1], maps.shape[0], 0))
        else:
            ax.imshow(maps[..., j], cmap="magma", vmin=0, vmax=vmax)
        ax.set_title(JOINTS[j], fontsize=8)
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- training and evaluation
_TWINS: dict[tuple, object] = {}   # (architecture, purpose, settings) -> a compiled copy (and its step)


def _architecture(model: keras.Model) -> tuple:
    """What makes two models interchangeable for a compiled step: layer types, weight shapes, outputs."""
    return tuple((type(layer).__name__, tuple(tuple(w.shape) for w in layer.weights))
                 for layer in model.layers) + (len(model.outputs),)


def _twin(model: keras.Model) -> keras.Model:
    """One copy of ``model`` per architecture, shared by the compiled forward pass and the training
    step (building and cloning a Keras model costs about a second: its variables are created one by one)."""
    key = (_architecture(model), "twin")
    if key not in _TWINS:
        _TWINS[key] = keras.models.clone_model(model)
    return _TWINS[key]


def _forward(model: keras.Model, batch_size: int):
    """A compiled inference pass (a list of every stack's maps) for ``model``'s architecture and one
    batch size, traced once per architecture and holding ``model``'s weights now (like ``_adam_trainer``'s copy)."""
    import tensorflow as tf

    key = (_architecture(model), "forward", batch_size)
    twin = _twin(model)
    if key not in _TWINS:
        spec = tf.TensorSpec((batch_size,) + tuple(twin.inputs[0].shape[1:]), tf.float32)
        _TWINS[key] = tf.function(lambda x: twin(x, training=False), input_signature=[spec], autograph=False)
    call = _TWINS[key]
    twin.set_weights(model.get_weights())
    return lambda x: (lambda out: list(out) if isinstance(out, (list, tuple)) else [out])(call(x))


def _adam_trainer(model: keras.Model, batch_size: int, sparsity: bool = False):
    """``(twin, step)`` for ``model``'s architecture: its shared copy (:func:`_twin`) holding ``model``'s
    weights, and a compiled training step (forward, summed MSE over the stacks, gradients, one fused
    Adam update per weight into Adam's two moment slots, which are reset here).

    Why not ``model.fit``: Keras traces its own training step once per model object, and for an
    hourglass that trace took about 50 s on 2 cores; this step traces in about a quarter of that, and
    models of the same architecture (two seeds, three pruning criteria, the distillation students)
    share it, their weights copied in and out. The arithmetic is Keras' Adam (same defaults)."""
    import tensorflow as tf

    key = (_architecture(model), "adam step", batch_size, sparsity)
    twin = _twin(model)
    if key not in _TWINS:
        weights = twin.trainable_variables
        gammas = [twin.get_layer(bn).gamma for block in hidden_widths(twin)
                  for _, bn, _ in _hidden_layers(twin, block)] if sparsity else []
        slots = [tf.Variable(tf.zeros(w.shape, w.dtype), trainable=False) for w in weights for _ in "mv"]
        spec = lambda shape: tf.TensorSpec((batch_size,) + tuple(shape[1:]), tf.float32)  # noqa: E731
        scalar = tf.TensorSpec((), tf.float32)

        @tf.function(input_signature=[spec(twin.inputs[0].shape), spec(twin.outputs[0].shape)] + [scalar] * 4,
                     autograph=False)
        def step(x, y, lr, beta1_power, beta2_power, l1):
            with tf.GradientTape() as tape:
                outs = twin(x, training=True)
                outs = outs if isinstance(outs, (list, tuple)) else [outs]
                loss = tf.add_n([tf.reduce_mean(tf.square(o - y)) for o in outs])
                total = loss + l1 * tf.add_n([tf.reduce_sum(tf.abs(g)) for g in gammas]) if gammas else loss
            for w, g, m, v in zip(weights, tape.gradient(total, weights), slots[0::2], slots[1::2]):
                tf.raw_ops.ResourceApplyAdam(var=w.value.handle, m=m.handle, v=v.handle, beta1_power=beta1_power,
                                             beta2_power=beta2_power, lr=lr, beta1=0.9, beta2=0.999,
                                             epsilon=1e-7, grad=g)
            return loss

        _TWINS[key] = (step, slots)
    step, slots = _TWINS[key]
    twin.set_weights(model.get_weights())
    for slot in slots:                       # a fresh Adam: no moments
        slot.assign(tf.zeros_like(slot))
    return twin, step


def _training_data(model: keras.Model, x, poses, targets) -> tuple[np.ndarray, np.ndarray]:
    """:func:`train`'s images and target maps, checked: numbers, not empty, finite, one pose (of the
    model's number of joints) per image, and targets of the model's output shape."""
    x = _floats(x, "x")
    if x.ndim == 0 or len(x) == 0:
        raise ValueError("x is empty (0 images): give at least one image to train on")
    expected, out = tuple(model.inputs[0].shape[1:]), tuple(model.outputs[0].shape[1:])
    if tuple(x.shape[1:]) != expected:
        raise ValueError(f"model '{model.name}' takes images of shape {expected}, got {tuple(x.shape[1:])}")
    _finite(x, "x")
    if targets is None:
        poses = None if poses is None else _check_poses(poses)
        if poses is None or len(poses) != len(x):
            raise ValueError(f"{len(x)} images but {None if poses is None else len(poses)} poses: "
                             f"give one pose per image")
        if poses.shape[1] != out[-1]:
            raise ValueError(f"poses have {poses.shape[1]} joints, model '{model.name}' outputs {out[-1]} "
                             f"heat maps: give poses of {out[-1]} joints")
        targets = heatmaps(poses, size=out[0], stride=int(x.shape[1]) // out[0])
    targets = _finite(_floats(targets, "targets"), "targets")
    if targets.shape != (len(x),) + out:
        raise ValueError(f"targets have shape {targets.shape}, model '{model.name}' needs {(len(x),) + out}")
    return x, targets


def train(model: keras.Model, x: np.ndarray, poses: np.ndarray | None, epochs: int = 2,
          learning_rate: float = 4e-3, batch_size: int = 32, verbose: bool = True,
          targets: np.ndarray | None = None, validation: tuple[np.ndarray, np.ndarray] | None = None,
          alphas: Sequence[float] = (0.2, 0.1, 0.05),
          on_epoch: Callable[[int, dict], None] | None = None, gamma_l1: float = 0.0) -> dict[str, list[float]]:
    """Train a heat-map model with intermediate supervision: every output learns the same target maps
    (mean squared error, summed over the stacks), Adam with a cosine decay of the learning rate to 0
    over the run. Returns ``{"loss": [mean training loss of each epoch]}``.

    ``targets`` (N, H, W, joints) replaces the Gaussian maps of ``poses`` (distillation's mixed
    targets, :func:`course_lib.distill.train_student`). The images are shuffled every epoch (NumPy's
    global seed, so ``config.seed_everything`` makes a run repeatable). Every step sees a full batch:
    the last ``len(x) % batch_size`` images of each shuffle are left out, because a smaller batch
    would need a second compiled step. The step is compiled once per architecture (``_adam_trainer``).

    ``validation=(x_val, poses_val)`` scores the last stack on those images after every epoch: the history
    then also holds ``"val PCK@a"`` for each ``a`` in ``alphas`` (the learning curve). ``on_epoch(epoch,
    history)`` is called after every epoch (a progress bar, say). ``gamma_l1 > 0`` adds Network Slimming's
    sparsity penalty ``gamma_l1 * sum |gamma|`` over the batch norms of every block's hidden layers (the
    channels :func:`prune_hidden_channels` cuts); the reported loss stays the heat-map MSE.
    """
    import tensorflow as tf

    x, targets = _training_data(model, x, poses, targets)
    epochs, batch_size = _whole(epochs, "epochs"), _whole(batch_size, "batch_size")
    learning_rate, alphas = _positive(learning_rate, "learning_rate"), _alphas(alphas)
    batch_size = min(batch_size, len(x))
    per_epoch = len(x) // batch_size
    steps = epochs * per_epoch
    if isinstance(gamma_l1, bool) or not isinstance(gamma_l1, (int, float)) or not np.isfinite(gamma_l1) or gamma_l1 < 0:
        raise ValueError(f"gamma_l1 must be a finite number >= 0, got {gamma_l1!r}")
    twin, step = _adam_trainer(model, batch_size, sparsity=gamma_l1 > 0)
    history, t = {"loss": []}, 0
    for epoch in range(epochs):
        order = np.random.permutation(len(x))
        losses = []
        for b in range(per_epoch):
            idx = np.sort(order[b * batch_size:(b + 1) * batch_size])
            lr = learning_rate * 0.5 * (1 + np.cos(np.pi * t / steps))   # keras' CosineDecay, alpha = 0
            t += 1
            loss = step(tf.constant(x[idx]), tf.constant(targets[idx]), tf.constant(lr, tf.float32),
                        tf.constant(0.9 ** t, tf.float32), tf.constant(0.999 ** t, tf.float32),
                        tf.constant(gamma_l1, tf.float32))
            losses.append(float(loss))
        history["loss"].append(float(np.mean(losses)))
        if validation is not None:
            model.set_weights(twin.get_weights())
            for key, value in scores(predict_joints(model, validation[0]), validation[1], alphas).items():
                history.setdefault(f"val {key}", []).append(value)
        if verbose:
            val = "".join(f", val {k[4:]} {v[-1]:.3f}" for k, v in history.items() if k.startswith("val "))
            print(f"epoch {epoch + 1}/{epochs}: loss {history['loss'][-1]:.4f}{val}")
        if on_epoch is not None:
            on_epoch(epoch, history)
    model.set_weights(twin.get_weights())
    return history


def predict_joints(model: keras.Model, x: np.ndarray, stack: int = -1, batch_size: int = 100) -> np.ndarray:
    """Decoded joints (N, 16, 2) in image pixels from one stack's heat maps (the last by default)."""
    maps = stack_outputs(model, x, batch_size, stacks=[stack])[0]
    return decode(maps, stride=int(x.shape[1]) // int(maps.shape[1]), joints=int(maps.shape[-1]))[0]


def block_macs(kind: str, size: int = 16, features: int = 64, expansion: int = 4) -> int:
    """MACs of one hourglass block on a ``size x size x features`` map, counted by the profiler."""
    if kind not in ("residual", "inverted"):
        raise ValueError(f"kind must be 'residual' or 'inverted', got {kind!r}")
    size, features = _whole(size, "size"), _whole(features, "features")
    expansion = _whole(expansion, "expansion")
    inp = keras.Input((size, size, features))
    if kind == "residual":
        out = residual_module(inp, features, "block")
    else:
        out = mobilenet.inverted_residual_block(inp, expansion, features, 1, name="block")
    from . import profile

    return profile.count_macs(keras.Model(inp, out))


def compare_models(flatbuffers: Mapping[str, bytes], image: np.ndarray, num_threads: int = 1,
                   repeats: int = 5) -> dict[str, dict]:
    """Run each LiteRT flatbuffer (heat-map models) on one image (H, W, 3) in [0, 1]: for each name,
    ``{"joints": (16, 2) decoded positions, "ms": median latency of one call}`` (the demo's pure core)."""
    from . import bench, tflite

    image = np.asarray(image, np.float32)
    if image.ndim != 3:
        raise ValueError(f"image must have shape (H, W, 3), got {image.shape}")
    results = {}
    for name, model_bytes in flatbuffers.items():
        interp = tflite.make_interpreter(model_bytes, num_threads=num_threads)
        inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
        x = tflite.quantize_input(image[None], inp)

        def call(x):
            interp.set_tensor(inp["index"], x)
            interp.invoke()
            return interp.get_tensor(out["index"])

        timing = bench.measure(call, [x], warmup=2, repeats=max(3, repeats), threads=num_threads)
        maps = tflite.dequantize_output(call(x), out)
        stride = image.shape[0] // maps.shape[1]
        joints = decode(maps, stride=stride, joints=int(maps.shape[-1]))[0][0]
        results[name] = {"joints": joints, "ms": timing.median_ms}
    return results
