"""Notebook 09's exercise checkers (course_lib.exercises, section "09 · capstone"): the reference
solutions pass, every common wrong answer fails, and a failure names its case, not the answer."""
import numpy as np
import pytest

from course_lib import checks, exercises, pose


# ------------------------------------------------------------------------------------------ 09 Ex1
def _decoder(swap=False, hw_swap=False, centre=0.5, sign=1, border="newell", last_argmax=False):
    """A hand-written decode_one; the keywords make it commit one mistake.

    border: "newell" (no shift when the peak is on any border), "per_axis" (no shift only on the
    axis whose neighbour is missing), "minus_inf" (a missing neighbour counts as -inf), "wrap" (the
    neighbour at -1 or at the size wraps to the other side), "none" (never shift)."""
    def decode_one(m):
        h, w = m.shape
        if last_argmax:
            r, c = np.argwhere(m == m.max())[-1]
        else:
            r, c = divmod(int(np.argmax(m)), h if hw_swap else w)
        val = lambda rr, cc: m[rr, cc] if 0 <= rr < h and 0 <= cc < w else -np.inf  # noqa: E731
        if border == "wrap":
            val = lambda rr, cc: m[rr % h, cc % w]  # noqa: E731
        dx = 0.25 * np.sign(val(r, c + 1) - val(r, c - 1))
        dy = 0.25 * np.sign(val(r + 1, c) - val(r - 1, c))
        if border == "newell" and not (0 < r < h - 1 and 0 < c < w - 1):
            dx = dy = 0.0
        if border == "per_axis":
            dx, dy = (dx if 0 < c < w - 1 else 0.0), (dy if 0 < r < h - 1 else 0.0)
        if border == "none":
            dx = dy = 0.0
        x, y = (c + sign * dx + centre) * 4, (r + sign * dy + centre) * 4
        return (y, x) if swap else (x, y)
    return decode_one


def _naive_negative_index(m):
    """Neighbours read by plain indexing: index -1 wraps, the last column + 1 raises IndexError."""
    r, c = np.unravel_index(np.argmax(m), m.shape)
    dx = 0.25 * np.sign(m[r, c + 1] - m[r, c - 1])
    dy = 0.25 * np.sign(m[r + 1, c] - m[r - 1, c])
    return (c + dx + 0.5) * 4, (r + dy + 0.5) * 4


def test_decode_cases_are_non_square_with_peaks_on_every_border_and_one_tie():
    cases = dict(exercises.decode_cases())
    assert all(m.shape == (6, 9) and m.dtype == np.float32 for m in cases.values())
    peaks = [np.argwhere(m == m.max()) for m in cases.values()]
    rows = {int(p[0, 0]) for p in peaks}
    cols = {int(p[0, 1]) for p in peaks}
    assert {0, 5} <= rows and {0, 8} <= cols, "a peak on every border"
    assert sum(len(p) > 1 for p in peaks) == 1, "exactly one tie"


def test_decode_cases_hand_computed():
    """pose.decode on the cases, worked by hand with Newell's rule (stride 4)."""
    expected = {"peak inside, right and upper neighbours higher": (23, 9),  # 5.75+.5, 1.75+.5 (x4)
                "peak inside, equal left and right neighbours": (14, 15),   # no x shift, y down
                "peak on the left border": (2, 14),  # on a border: no shift
                "peak on the right border": (34, 10),
                "peak on the top border": (18, 2), "peak on the bottom border": (26, 22),
                "two cells tie for the maximum": (25, 7)}           # the first max: (1, 6)
    for name, m in exercises.decode_cases():
        assert tuple(pose.decode(m[None, ..., None], 4, joints=1)[0][0, 0]) == expected[name], name


def test_decode_reference_passes():
    with checks.lenient():
        assert exercises.check_decode_one(_decoder())
        assert exercises.check_decode_one(lambda m: np.array(_decoder()(m), np.float32))


@pytest.mark.parametrize("wrong, case", [
    (dict(swap=True), "peak inside, right"),
    (dict(hw_swap=True), "peak inside, right"),
    (dict(centre=0.0), "peak inside, right"),
    (dict(sign=-1), "peak inside, right"),
    (dict(border="none"), "peak inside, right"),
    (dict(border="minus_inf"), "left border"),
    (dict(border="wrap"), "left border"),
    (dict(border="per_axis"), "left border"),
    (dict(last_argmax=True), "tie"),
])
def test_decode_wrong_answers_fail_and_name_their_case(wrong, case, capsys):
    with checks.lenient():
        assert not exercises.check_decode_one(_decoder(**wrong))
    out = capsys.readouterr().out
    assert case in out and "Expected" not in out and "expected" not in out.split("Hint")[0], out


def test_decode_negative_index_wraps_then_raises_without_traceback(capsys):
    with checks.lenient():
        assert not exercises.check_decode_one(_naive_negative_index)
    out = capsys.readouterr().out
    assert "left border" in out and "Traceback" not in out


@pytest.mark.parametrize("bad", [lambda m: None, lambda m: 1 / 0, lambda m: "x, y",
                                 lambda m: (1.0, 2.0, 3.0), None, 42])
def test_decode_malformed_answers_fail_without_traceback(bad, capsys):
    with checks.lenient():
        assert not exercises.check_decode_one(bad)
    assert "Traceback" not in capsys.readouterr().out


def test_decode_checker_raises_in_strict_mode(monkeypatch):
    monkeypatch.setenv("COURSE_STRICT_CHECKS", "1")
    with pytest.raises(checks.ExerciseCheckFailed):
        exercises.check_decode_one(_decoder(swap=True))


# ------------------------------------------------------------------------------------------ 09 Ex2
def _pck_by_hand(alpha=0.2, dtype=np.float64, size="longer", visible_box=False, strict=False,
                 count_hidden=False, all_in_denominator=False):
    """PCK of the exercise data from the definition; the keywords make it commit one mistake."""
    pred, true = exercises.pck_exercise_data()
    xy, vis = true[..., :2].astype(dtype), true[..., 2] > 0
    box_xy = np.where(vis[..., None], xy, np.nan) if visible_box else xy
    extent = np.nanmax(box_xy, 1) - np.nanmin(box_xy, 1)
    norm = {"longer": extent.max(-1), "width": extent[:, 0], "height": extent[:, 1],
            "diagonal": np.sqrt((extent ** 2).sum(-1))}[size]
    dist = np.sqrt(((pred.astype(dtype) - xy) ** 2).sum(-1))
    threshold = dtype(alpha) * norm[:, None]
    ok = (dist < threshold) if strict else (dist <= threshold)
    counted = np.ones_like(vis) if count_hidden else vis
    return (ok & counted).sum() / (counted.size if all_in_denominator else counted.sum())


def test_pck_data_matches_its_docstring():
    pred, true = exercises.pck_exercise_data()
    assert pred.shape == (2, 16, 2) and true.shape == (2, 16, 3)
    extent = true[..., :2].max(1) - true[..., :2].min(1)
    assert extent.tolist() == [[40, 24], [24, 50]]
    assert np.flatnonzero(true[..., 2] == 0).tolist() == [5]
    dist = np.linalg.norm(pred - true[..., :2], axis=-1)
    assert (dist[0] == 8.0).sum() == 1 and (dist[1] == 10.0).sum() == 1, "one on each threshold"


MISTAKES = {"diagonal": dict(size="diagonal"), "width only": dict(size="width"),
            "height only": dict(size="height"), "visible-joints box": dict(visible_box=True),
            "strict <": dict(strict=True), "counted the hidden joint": dict(count_hidden=True),
            "all joints in denominator": dict(all_in_denominator=True)}


@pytest.mark.parametrize("alpha", [0.2, 0.1])
def test_pck_reference_passes_in_float64_and_float32(alpha):
    with checks.lenient():
        assert exercises.check_pck_answer(_pck_by_hand(alpha), alpha)
        answer32 = _pck_by_hand(alpha, dtype=np.float32)
        assert isinstance(answer32, np.floating) and exercises.check_pck_answer(answer32, alpha)
        assert exercises.check_pck_answer(float(np.float32(_pck_by_hand(alpha))), alpha)


def test_pck_mistakes_give_distinct_wrong_answers_at_0_2():
    right = _pck_by_hand()
    values = {name: _pck_by_hand(**kw) for name, kw in MISTAKES.items()}
    assert right not in values.values()
    assert len(set(values.values())) == len(values), values   # each mistake has its own value


@pytest.mark.parametrize("alpha", [0.2, 0.1])
@pytest.mark.parametrize("mistake", list(MISTAKES))
def test_pck_wrong_answers_fail_without_printing_the_answer(mistake, alpha, capsys):
    with checks.lenient():
        assert not exercises.check_pck_answer(_pck_by_hand(alpha, **MISTAKES[mistake]), alpha)
    out = capsys.readouterr().out
    right = _pck_by_hand(alpha)
    assert f"{right:.6g}" not in out and f"{right:.4g}" not in out and "Expected" not in out, out


def test_pck_diagnoses_the_mistake(capsys):
    with checks.lenient():
        exercises.check_pck_answer(_pck_by_hand(strict=True))
        exercises.check_pck_answer(_pck_by_hand(visible_box=True))
        exercises.check_pck_answer(100 * _pck_by_hand())
    out = capsys.readouterr().out
    assert "< instead of <=" in out and "visible joints only" in out and "percentage" in out


@pytest.mark.parametrize("bad", ["0.8", None, ..., True, [0.8], {"pck": 0.8}, float("nan")])
def test_pck_malformed_answers_fail(bad, capsys):
    with checks.lenient():
        assert not exercises.check_pck_answer(bad)
    assert "Traceback" not in capsys.readouterr().out


def test_pose_module_imports_no_checkers():
    import inspect

    source = inspect.getsource(pose)
    assert "checks" not in source and "exercises" not in source
