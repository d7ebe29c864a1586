"""Knowledge distillation: a student network learns from a teacher's outputs, not only the labels.

Classification (Hinton et al. 2015). The teacher's logits ``z`` at a temperature ``T`` give *soft
targets* ``p_T = softmax(z / T)``: a large ``T`` spreads probability over the wrong classes, and how
the teacher spreads it ("this 7 looks a bit like a 1") is what the student learns from. The
student's loss is

    L = alpha * CE(labels, softmax(z_s)) + (1 - alpha) * T² * KL(p_T(z_t) || p_T(z_s))

The T² keeps the soft term's gradients the same size whatever ``T`` is (they scale as 1/T²).

Heat maps: Fast Pose Distillation (FPD, Zhang et al., CVPR 2019). The teacher's heat maps are soft
targets already: a blurred or double peak says where the teacher is unsure, and it places an
occluded joint where the ground truth only has a Gaussian at a position no pixel shows. Every stack
``s`` of the student learns from the ground truth ``g`` and from the teacher's *last* stack ``t``
(its final answer):

    L = alpha * MSE(s, g) + (1 - alpha) * MSE(s, t)       (MSE = mean over every element)

**Convention.** Here ``alpha`` is the weight on the *ground truth*, as in Hinton's loss above:
``alpha = 1`` is plain ground-truth training (:func:`course_lib.pose.train`), ``alpha = 0`` learns
from the teacher alone. FPD's reference code calls the weight on the *teacher* alpha
(``loss = (1 - KD.ALPHA) * pose_loss + KD.ALPHA * kd_pose_loss``, in ``lib/core/function.py`` of
github.com/ilovepose/fast-human-pose-estimation.pytorch): its ``KD.ALPHA`` is ``1 - alpha`` here.
Its MPII Hourglass setting, ``KD.ALPHA: 0.5``, is the same either way; for any other value, check
which term a paper's weight belongs to before comparing. (The reference code also halves each MSE
and zeroes unlabelled joints in both terms; the course's ground-truth training does neither, nor
does this module.)

Cost: one teacher forward pass per training image, paid once (:func:`teacher_maps` caches them). The
student's size and latency do not change.

Training on the mixture: because MSE is quadratic,

    alpha (s - g)² + (1 - alpha) (s - t)² = (s - m)² + alpha (1 - alpha) (g - t)²
    with the mixed target  m = alpha g + (1 - alpha) t

The last term does not depend on the student, so the gradients are those of plain MSE to the mixed
target ``m`` (:func:`mixed_targets`). :func:`train_student` trains on ``m`` with the settings of
:func:`course_lib.pose.train`, so equal epochs mean an equal training budget.
"""
from __future__ import annotations

import math

import keras
import numpy as np

from . import pose

__all__ = ["soft_targets", "kd_loss", "fpd_loss", "mixed_targets", "teacher_maps", "train_student"]


# --------------------------------------------------------------------------- input checks
def _check_alpha(alpha) -> float:
    number = isinstance(alpha, (int, float, np.integer, np.floating))
    if isinstance(alpha, (bool, np.bool_)) or not number:
        raise TypeError(f"alpha must be a number in [0, 1] (the weight on the ground truth), "
                        f"got {alpha!r}")
    alpha = float(alpha)
    if not 0.0 <= alpha <= 1.0:  # also rejects nan
        raise ValueError(f"alpha is the weight on the ground truth and must be in [0, 1], "
                         f"got {alpha}")
    return alpha


def _check_temperature(T) -> float:
    if isinstance(T, (bool, np.bool_)) or not isinstance(T, (int, float, np.integer, np.floating)) \
            or not math.isfinite(float(T)) or float(T) <= 0:
        raise ValueError(f"the temperature T must be a finite number > 0, got {T!r}")
    return float(T)


def _finite_array(name: str, values, ndim: int | None = None) -> np.ndarray:
    arr = np.asarray(values)
    if arr.dtype.kind not in "iuf":
        raise TypeError(f"{name} must be an array of numbers, got dtype {arr.dtype}")
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise ValueError(f"{name} has {bad} non-finite values (nan or inf)")
    return arr


def _same_shape(name_a: str, a: np.ndarray, name_b: str, b: np.ndarray) -> None:
    if a.shape != b.shape:
        raise ValueError(f"{name_a} has shape {a.shape} but {name_b} has shape {b.shape}: "
                         "they must match")


# --------------------------------------------------------------------------- classification (NumPy)
def soft_targets(logits, T: float = 1.0) -> np.ndarray:
    """Softmax of ``logits / T`` over the last axis: ``p_i = exp(z_i / T) / sum_j exp(z_j / T)``.

    ``T = 1`` is the usual softmax; a larger ``T`` gives softer probabilities (the same ranking,
    closer together). Computed stably (the largest logit is subtracted first).
    """
    T = _check_temperature(T)
    z = _finite_array("logits", logits).astype(np.float64) / T
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def kd_loss(student_logits, teacher_logits, labels, T: float, alpha: float) -> float:
    """Hinton's distillation loss, averaged over the batch (NumPy, for reading and checking):

        alpha * CE(labels, softmax(z_s)) + (1 - alpha) * T² * KL(p_T(z_t) || p_T(z_s))

    ``student_logits``, ``teacher_logits``: (N, classes); ``labels``: (N,) class indices;
    ``KL(p || q) = sum_i p_i (log p_i - log q_i)``; ``alpha`` is the weight on the labels.
    """
    alpha = _check_alpha(alpha)
    s = _finite_array("student_logits", student_logits, ndim=2)
    t = _finite_array("teacher_logits", teacher_logits, ndim=2)
    _same_shape("student_logits", s, "teacher_logits", t)
    labels = np.asarray(labels)
    if labels.shape != (len(s),) or labels.dtype.kind not in "iu" or labels.min(initial=0) < 0 \
            or labels.max(initial=0) >= s.shape[1]:
        raise ValueError(f"labels must be {len(s)} class indices in [0, {s.shape[1]}), "
                         f"got {labels!r}")
    log_p_s = np.log(soft_targets(s, 1.0))
    hard = -log_p_s[np.arange(len(s)), labels].mean()
    p_t, p_s = soft_targets(t, T), soft_targets(s, T)
    kl = np.sum(p_t * (np.log(np.maximum(p_t, 1e-300)) - np.log(p_s)), axis=-1).mean()
    return float(alpha * hard + (1 - alpha) * T ** 2 * kl)


# --------------------------------------------------------------------------- heat maps
def fpd_loss(student_maps, teacher_maps, target_maps, alpha: float) -> float:
    """FPD's loss for one stack of student heat maps (NumPy, for reading and checking):

        alpha * MSE(student, target) + (1 - alpha) * MSE(student, teacher)

    Each MSE is the MEAN of the squared differences over all elements (N x H x W x joints).
    ``teacher_maps`` are the teacher's LAST stack; ``alpha`` is the weight on the ground truth
    (1: ground truth alone, 0: teacher alone; FPD's paper writes 1 - alpha). A multi-stack student's
    loss is the sum of this over its stacks (intermediate supervision).
    """
    alpha = _check_alpha(alpha)
    s = _finite_array("student_maps", student_maps, ndim=4).astype(np.float64)
    t = _finite_array("teacher_maps", teacher_maps, ndim=4).astype(np.float64)
    g = _finite_array("target_maps", target_maps, ndim=4).astype(np.float64)
    _same_shape("student_maps", s, "teacher_maps", t)
    _same_shape("student_maps", s, "target_maps", g)
    return float(alpha * np.mean((s - g) ** 2) + (1 - alpha) * np.mean((s - t) ** 2))


def mixed_targets(teacher_maps, target_maps, alpha: float) -> np.ndarray:
    """``alpha * target + (1 - alpha) * teacher`` (float32): MSE to it has the gradients of
    :func:`fpd_loss`. At ``alpha = 1`` it is exactly the ground truth, at ``alpha = 0`` the
    teacher."""
    alpha = _check_alpha(alpha)
    t = _finite_array("teacher_maps", teacher_maps, ndim=4).astype(np.float32)
    g = _finite_array("target_maps", target_maps, ndim=4).astype(np.float32)
    _same_shape("teacher_maps", t, "target_maps", g)
    return (np.float32(alpha) * g + np.float32(1 - alpha) * t).astype(np.float32)


def teacher_maps(teacher: keras.Model, x: np.ndarray, batch_size: int = 100) -> np.ndarray:
    """The teacher's final answer, its LAST stack's heat maps for images ``x``, computed once.

    Only the last output is kept (:func:`course_lib.pose.stack_outputs` with ``stacks=[-1]``, the
    compiled forward pass that validation already traced for this architecture), so an
    8-stack teacher costs one stack's memory: 4000 images of 16x16x16 float32 maps take 65 MB. Call
    it once and pass the array to :func:`train_student` for every variant: the teacher then sees
    each training image exactly once, whatever the number of epochs and variants.
    """
    x = np.asarray(x, np.float32)
    expected = tuple(teacher.inputs[0].shape[1:])
    if tuple(x.shape[1:]) != expected:
        raise ValueError(f"teacher '{teacher.name}' takes images of shape {expected}, "
                         f"got {tuple(x.shape[1:])}")
    maps = np.asarray(pose.stack_outputs(teacher, x, batch_size, stacks=[-1])[0], np.float32)
    return _finite_array(f"the heat maps of teacher '{teacher.name}'", maps, ndim=4)


def _student_targets(student: keras.Model, teacher, x: np.ndarray,
                     poses) -> tuple[np.ndarray, np.ndarray]:
    """(ground-truth maps, teacher maps), both checked against the student's output shape."""
    expected = tuple(student.inputs[0].shape[1:])
    if tuple(x.shape[1:]) != expected:
        raise ValueError(f"student '{student.name}' takes images of shape {expected}, "
                         f"got {tuple(x.shape[1:])}")
    if len(poses) != len(x):
        raise ValueError(f"{len(x)} images but {len(poses)} poses: give one pose per image")
    _finite_array("images x", x)
    _finite_array("poses", poses)
    out_shape = tuple(student.outputs[0].shape[1:])
    if isinstance(teacher, keras.Model):
        t_shape = tuple(teacher.outputs[-1].shape[1:])
        if t_shape != out_shape:
            raise ValueError(f"teacher '{teacher.name}' outputs heat maps of shape {t_shape} but "
                             f"student '{student.name}' outputs {out_shape}: they must match")
        t_maps = teacher_maps(teacher, x)
    else:
        t_maps = _finite_array("teacher maps", teacher, ndim=4).astype(np.float32)
        if t_maps.shape != (len(x),) + out_shape:
            raise ValueError(f"teacher maps have shape {t_maps.shape} but student '{student.name}' "
                             f"needs {(len(x),) + out_shape} (one map per image, the student's "
                             "output shape)")
    size = out_shape[0]
    g_maps = pose.heatmaps(poses, size=size, stride=int(x.shape[1]) // size)
    return g_maps, t_maps


def train_student(student: keras.Model, teacher, x: np.ndarray, poses: np.ndarray, alpha: float,
                  epochs: int = 2, learning_rate: float = 4e-3, batch_size: int = 32,
                  verbose: bool = True, **train_options):
    """Train ``student`` with FPD's loss, every stack supervised (as :func:`course_lib.pose.train`).

    ``teacher``: a Keras model (its last stack's maps are computed once, by :func:`teacher_maps`) or
    those maps already computed, an array (N, H, W, joints) in the order of ``x``. ``alpha`` is the
    weight on the ground truth: 1 trains exactly like ``pose.train``, 0 on the teacher alone. Each
    stack learns MSE to :func:`mixed_targets`, which has the gradients of :func:`fpd_loss`; the
    printed loss is therefore FPD's loss minus ``alpha (1 - alpha) MSE(target, teacher)`` per stack.
    Optimiser, learning-rate schedule, batch size and shuffling are those of ``pose.train``: the
    same ``epochs`` is the same number of steps. Returns ``{"loss": [mean loss of each epoch]}``; other keyword
    arguments (``validation=``, ``on_epoch=``) go to ``pose.train``, whose history then holds the learning curve.
    """
    alpha = _check_alpha(alpha)
    x = np.asarray(x, np.float32)
    g_maps, t_maps = _student_targets(student, teacher, x, poses)
    target = mixed_targets(t_maps, g_maps, alpha)
    del g_maps, t_maps
    return pose.train(student, x, None, epochs=epochs, learning_rate=learning_rate,
                      batch_size=batch_size, verbose=verbose, targets=target, **train_options)
