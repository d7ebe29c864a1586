"""Knowledge distillation (course_lib.distill) and the 09 Ex5 checker (course_lib.exercises): the
losses are the documented formulas, the mixed target has the documented loss's gradients, alpha = 1
is exactly pose.train, the teacher runs once per image, and the checker fails the slips."""
import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import ops

from course_lib import checks, distill, exercises, pose

# 16x16 images, 4x4 heat maps of 4 joints
TINY = dict(input_shape=(16, 16, 3), joints=4, depth=1, features=8, stem_widths=(8, 8))


@pytest.fixture(autouse=True)
def lenient(monkeypatch):
    monkeypatch.delenv("COURSE_STRICT_CHECKS", raising=False)


@pytest.fixture(scope="module")
def batch():
    """Images (24, 16, 16, 3), poses (24, 4, 3) and stand-in teacher maps (24, 4, 4, 4)."""
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (24, 16, 16, 3)).astype(np.float32)
    poses = np.concatenate([rng.uniform(0, 16, (24, 4, 2)), np.ones((24, 4, 1))], -1)
    poses = poses.astype(np.float32)
    teacher = rng.uniform(0, 0.8, (24, 4, 4, 4)).astype(np.float32)
    return x, poses, teacher


def _maps(seed: int, shape=(3, 5, 5, 4)) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, 1, shape).astype(np.float32)


def _mse(a, b) -> float:
    return float(np.mean((np.asarray(a, np.float64) - b) ** 2))


def _random_heads(model: keras.Model, seed: int) -> keras.Model:
    """Random heat-map heads: the zero-initialised ones would make the gradient tests too easy."""
    for layer in model.layers:
        if layer.name.startswith("heatmaps"):
            layer.kernel.assign(np.random.default_rng(seed).normal(0, 0.3, layer.kernel.shape))
    return model


# --------------------------------------------------------------------------- classification
def test_soft_targets_are_a_softened_softmax():
    z = np.array([[2.0, 1.0, -1.0]])
    p1, p4 = distill.soft_targets(z, 1.0), distill.soft_targets(z, 4.0)
    assert np.allclose(p1, np.exp(z) / np.exp(z).sum())
    assert np.allclose(p4.sum(-1), 1) and np.array_equal(np.argsort(p4), np.argsort(p1))
    assert p4.max() < p1.max(), "a higher temperature gives softer probabilities"
    assert np.allclose(distill.soft_targets(np.array([[1000.0, 0.0]]), 1.0), [[1.0, 0.0]])  # stable


def test_kd_loss_is_hintons_mix():
    s, t, labels, T = np.array([[1.0, 0.5, -0.5]]), np.array([[3.0, 0.0, -1.0]]), np.array([1]), 2.0
    ce = -np.log(np.exp(s[0, 1]) / np.exp(s[0]).sum())
    ps, pt = np.exp(s / T) / np.exp(s / T).sum(), np.exp(t / T) / np.exp(t / T).sum()
    kl = np.sum(pt * np.log(pt / ps))
    assert np.isclose(distill.kd_loss(s, t, labels, T, 1.0), ce)
    assert np.isclose(distill.kd_loss(s, t, labels, T, 0.0), T ** 2 * kl)
    assert np.isclose(distill.kd_loss(s, t, labels, T, 0.25), 0.25 * ce + 0.75 * T ** 2 * kl)
    assert np.isclose(distill.kd_loss(t, t, labels, T, 0.0), 0.0, atol=1e-12)


# --------------------------------------------------------------------------- heat maps
def test_fpd_loss_is_the_documented_mix():
    s, t, g = _maps(1), _maps(2), _maps(3)
    for alpha in (0.0, 0.3, 0.5, 1.0):
        by_hand = alpha * _mse(s, g) + (1 - alpha) * _mse(s, t)
        assert np.isclose(distill.fpd_loss(s, t, g, alpha), by_hand, rtol=1e-12)
    assert distill.fpd_loss(s, t, g, 1.0) == pytest.approx(_mse(s, g), rel=1e-12)  # ground truth
    assert distill.fpd_loss(s, t, g, 0.0) == pytest.approx(_mse(s, t), rel=1e-12)  # teacher alone


def test_mixed_target_differs_from_the_loss_by_a_constant_only():
    s, t, g, alpha = _maps(1), _maps(2), _maps(3), 0.3
    m = distill.mixed_targets(t, g, alpha)
    constant = alpha * (1 - alpha) * _mse(g, t)
    assert np.isclose(distill.fpd_loss(s, t, g, alpha), _mse(s, m) + constant, rtol=1e-6)
    assert np.array_equal(distill.mixed_targets(t, g, 1.0), g)
    assert np.array_equal(distill.mixed_targets(t, g, 0.0), t)


def test_training_on_the_mixed_target_has_the_gradients_of_the_documented_loss(batch):
    """What train_student optimises (Keras' 'mse' to the mix, every stack) vs FPD's loss."""
    x, poses, teacher = batch
    keras.utils.set_random_seed(1)
    student = pose.stacked_hourglass(stacks=2, **TINY)
    _random_heads(student, seed=5)
    g, alpha = pose.heatmaps(poses, size=4, stride=4), 0.3
    m = distill.mixed_targets(teacher, g, alpha)
    mse = keras.losses.MeanSquaredError()

    def gradients(loss_fn):
        with tf.GradientTape() as tape:
            outs = student(x, training=False)
            loss = sum(loss_fn(out) for out in outs)
        return loss, tape.gradient(loss, student.trainable_variables)

    documented, g_doc = gradients(lambda s: alpha * ops.mean((s - g) ** 2)
                                  + (1 - alpha) * ops.mean((s - teacher) ** 2))
    mixed, g_mix = gradients(lambda s: mse(m, s))
    constant = 2 * alpha * (1 - alpha) * _mse(g, teacher)  # two stacks
    assert np.isclose(float(documented) - float(mixed), constant, rtol=1e-4)
    for a, b in zip(g_doc, g_mix):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-7)
    assert max(float(np.abs(np.asarray(a)).max()) for a in g_doc) > 1e-3, "gradients must not be 0"


def test_alpha_1_hands_the_step_exactly_what_pose_train_does(batch, monkeypatch):
    """Same images, bit-identical targets for every step, same learning rates (the cosine schedule),
    same Adam step counts, epochs, batch size and shuffling: alpha = 1 is pose.train, and equal epochs
    are an equal budget. (The compiled step is recorded, not run: on a busy CPU, TF did not give
    bit-identical weights run to run.)"""
    x, poses, teacher = batch
    calls = []

    def recording_trainer(model, batch_size, sparsity=False):
        calls.append([])
        return model, lambda *args: calls[-1].append([np.asarray(a) for a in args]) or np.float32(0.0)

    monkeypatch.setattr(pose, "_adam_trainer", recording_trainer)
    for train in (lambda m: pose.train(m, x, poses, epochs=3, batch_size=8, verbose=False),
                  lambda m: distill.train_student(m, teacher, x, poses, alpha=1.0, epochs=3,
                                                  batch_size=8, verbose=False)):
        np.random.seed(0)
        train(pose.stacked_hourglass(stacks=2, **TINY))
    plain, student = calls
    assert len(plain) == len(student) == 3 * (len(x) // 8)
    for a, b in zip(plain, student):
        assert all(np.array_equal(u, v) and u.dtype == v.dtype for u, v in zip(a, b))
    lrs = [float(step[2]) for step in plain]
    assert lrs[0] == pytest.approx(4e-3) and all(u > v for u, v in zip(lrs, lrs[1:])), "cosine decay"
    np.random.seed(0)
    distill.train_student(pose.stacked_hourglass(stacks=2, **TINY), teacher, x, poses, 0.5,
                          epochs=3, batch_size=8, verbose=False)
    mixed = distill.mixed_targets(teacher, pose.heatmaps(poses, size=teacher.shape[1], stride=x.shape[1] // teacher.shape[1]), 0.5)
    for xb, yb, *_ in calls[-1]:
        rows = [int(np.flatnonzero((x == image).all(axis=(1, 2, 3)))[0]) for image in xb]
        assert np.allclose(yb, mixed[rows]), "every step: the mix of its own images"


def test_pose_train_matches_keras_adam_on_one_step():
    """The fused step is Keras' Adam: one step from the same weights gives the same weights."""
    import tensorflow as tf

    x = np.random.default_rng(0).random((8, 16, 16, 3), np.float32)
    y = np.random.default_rng(1).random((8, 4, 4, 4), np.float32) * 0.1
    ours = pose.stacked_hourglass(stacks=1, **TINY)
    ref = keras.models.clone_model(ours)
    ref.set_weights(ours.get_weights())
    pose.train(ours, x, None, targets=y, epochs=1, batch_size=8, learning_rate=1e-3, verbose=False)
    opt = keras.optimizers.Adam(1e-3)
    with tf.GradientTape() as tape:
        out = ref(x, training=True)
        out = out if isinstance(out, (list, tuple)) else [out]
        loss = sum(ops.mean((o - y) ** 2) for o in out)
    opt.apply_gradients(zip(tape.gradient(loss, ref.trainable_variables), ref.trainable_variables))
    for a, b in zip(ours.get_weights(), ref.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_teacher_maps_are_its_last_stack_computed_once_per_image(batch, monkeypatch):
    """The student trains on arrays only (pose.train is recorded, not run): the teacher is no part
    of its graph, so it runs once per image whatever the epochs; its maps are its last stack's."""
    x, poses, _ = batch
    keras.utils.set_random_seed(6)
    teacher = _random_heads(pose.stacked_hourglass(stacks=3, **TINY), seed=7)
    last = np.asarray(teacher(x, training=False)[-1])
    forward, seen = pose.stack_outputs, []

    def counting(model, images, *args, **kwargs):
        seen.append((model.name, len(images), kwargs.get("stacks")))
        return forward(model, images, *args, **kwargs)

    calls = []
    monkeypatch.setattr(pose, "stack_outputs", counting)
    monkeypatch.setattr(pose, "train", lambda *a, **k: calls.append((a, k)))
    student = pose.stacked_hourglass(stacks=1, **TINY)
    distill.train_student(student, teacher, x, poses, alpha=0.0, epochs=5, batch_size=8,
                          verbose=False)
    assert seen == [(teacher.name, len(x), [-1])], "the teacher must see each image once, only its last stack kept"
    _, kwargs = calls[0]
    assert kwargs["epochs"] == 5 and isinstance(kwargs["targets"], np.ndarray)
    np.testing.assert_allclose(kwargs["targets"], last, rtol=1e-5, atol=1e-5)  # alpha = 0: the last stack


@pytest.mark.parametrize("alpha, error", [(1.5, r"in \[0, 1\]"), (-0.1, r"in \[0, 1\]"),
                                          (float("nan"), r"in \[0, 1\]"), (True, "number"),
                                          ("0.5", "number")])
def test_alpha_outside_0_1_is_refused(alpha, error):
    with pytest.raises((ValueError, TypeError), match=error):
        distill.fpd_loss(_maps(1), _maps(2), _maps(3), alpha)


def test_bad_maps_are_refused_with_both_shapes(batch):
    x, poses, teacher = batch
    with pytest.raises(ValueError, match=r"\(3, 5, 5, 4\).*\(3, 5, 5, 2\)"):
        distill.fpd_loss(_maps(1), _maps(2, (3, 5, 5, 2)), _maps(3), 0.5)
    bad = _maps(2)
    bad[0, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        distill.fpd_loss(_maps(1), bad, _maps(3), 0.5)
    student = pose.stacked_hourglass(stacks=1, **TINY)
    with pytest.raises(ValueError, match=r"\(24, 4, 4, 3\).*\(24, 4, 4, 4\)"):
        distill.train_student(student, teacher[..., :3], x, poses, 0.5, verbose=False)
    wide = pose.stacked_hourglass(**{**TINY, "joints": 5})
    with pytest.raises(ValueError, match=r"\(4, 4, 5\).*\(4, 4, 4\)"):
        distill.train_student(student, wide, x, poses, 0.5, verbose=False)
    with pytest.raises(ValueError, match="non-finite"):
        infinite = np.where(teacher > 0.7, np.inf, teacher)
        distill.train_student(student, infinite, x, poses, 0.5, verbose=False)
    with pytest.raises(ValueError, match="24 images but 23 poses"):
        distill.train_student(student, teacher, x, poses[:23], 0.5, verbose=False)


# --------------------------------------------------------------------------- 09 Ex5 checker
def _mean_sq(a, b, axis=None):
    return np.mean((a - b) ** 2, axis=axis)


def _fpd(s, teacher, g, alpha, err=_mean_sq, axis=None):
    return alpha * err(s, g, axis) + (1 - alpha) * err(s, teacher, axis)


def _reference(student, teacher_stacks, target, alpha):
    return float(alpha * np.mean((student - target) ** 2)
                 + (1 - alpha) * np.mean((student - teacher_stacks[-1]) ** 2))


WRONG = {
    "alpha on the teacher": lambda s, ts, g, a: _fpd(s, ts[-1], g, 1 - a),
    "sum, not mean": lambda s, ts, g, a: _fpd(s, ts[-1], g, a, lambda x, y, _: np.sum((x - y)**2)),
    "first stack": lambda s, ts, g, a: _fpd(s, ts[0], g, a),
    "second stack": lambda s, ts, g, a: _fpd(s, ts[1], g, a),
    "stacks averaged": lambda s, ts, g, a: _fpd(s, np.mean(ts, 0), g, a),
    "per-joint mean": lambda s, ts, g, a: _fpd(s, ts[-1], g, a, axis=(0, 1, 2)),
    "per-image mean": lambda s, ts, g, a: _fpd(s, ts[-1], g, a, axis=(1, 2, 3)),
    "MAE": lambda s, ts, g, a: _fpd(s, ts[-1], g, a, lambda x, y, _: np.mean(np.abs(x - y))),
    "alpha forgotten (0.5/0.5)": lambda s, ts, g, a: _fpd(s, ts[-1], g, 0.5),
    "MSE to the mixed target": lambda s, ts, g, a: np.mean((s - (a * g + (1 - a) * ts[-1])) ** 2),
    "no teacher term": lambda s, ts, g, a: np.mean((s - g) ** 2),
    "raises": lambda s, ts, g, a: s @ g,
    "returns a string": lambda s, ts, g, a: str(_reference(s, ts, g, a)),
    "returns None": lambda s, ts, g, a: None,
}


def test_fpd_checker_passes_the_reference_in_float32_and_as_a_tensor():
    assert exercises.check_fpd_loss(_reference)
    assert exercises.check_fpd_loss(lambda s, ts, g, a: np.float32(_reference(s, ts, g, a)))
    assert exercises.check_fpd_loss(lambda s, ts, g, a: a * ops.mean(ops.square(s - g))
                                    + (1 - a) * ops.mean(ops.square(s - ts[-1])))


@pytest.mark.parametrize("slip", WRONG)
def test_fpd_checker_fails_every_slip_without_a_traceback(slip, capsys):
    assert not exercises.check_fpd_loss(WRONG[slip])
    out = capsys.readouterr().out
    assert "❌" in out and "Traceback" not in out
    assert "teacher_stacks[-1]" not in out, "the message must not print the answer"


@pytest.mark.parametrize("slip, words", [
    ("alpha on the teacher", "wrong term"), ("sum, not mean", "sum"),
    ("first stack", "first stack"),
    ("second stack", "intermediate"), ("per-joint mean", "per joint"), ("MAE", "ABSOLUTE"),
    ("alpha forgotten (0.5/0.5)", "0.5 and 0.5"), ("MSE to the mixed target", "mixed target")])
def test_fpd_checker_names_the_slip(slip, words, capsys):
    exercises.check_fpd_loss(WRONG[slip])
    assert words in capsys.readouterr().out


def test_fpd_checker_refuses_a_missing_answer_and_raises_in_strict_mode(monkeypatch):
    assert not exercises.check_fpd_loss(None) and not exercises.check_fpd_loss(3.0)
    monkeypatch.setenv("COURSE_STRICT_CHECKS", "1")
    with pytest.raises(checks.ExerciseCheckFailed):
        exercises.check_fpd_loss(WRONG["first stack"])


def test_hints_are_a_nudge_then_the_formula():
    nudge, formula = exercises.HINTS["09 Ex5"]
    assert "teacher_stacks[-1]" not in nudge
    assert "teacher_stacks[-1]" in formula and "np.mean" in formula
