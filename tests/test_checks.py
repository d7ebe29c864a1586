import numpy as np
import pytest

from course_lib import checks, exercises


@pytest.fixture(autouse=True)
def lenient(monkeypatch):
    monkeypatch.delenv("COURSE_STRICT_CHECKS", raising=False)


def test_check_int(capsys):
    assert checks.check_int("MACs", 1000, 1000)
    assert "✅ MACs: correct" in capsys.readouterr().out
    for wrong in (999, 1000.5, "1000x", None, [1000]):
        assert not checks.check_int("MACs", wrong, 1000)
    out = capsys.readouterr().out
    assert "Expected 1,000, got 999" in out and "not filled this in" in out


def test_check_int_reports_factor(capsys):
    checks.check_int("MACs", 2000, 1000, hint="did you count twice?")
    out = capsys.readouterr().out
    assert "factor 2" in out and "Hint: did you count twice?" in out


def test_check_close_and_range():
    assert checks.check_close("x", 0.1 + 0.2, 0.3)
    assert not checks.check_close("x", 0.31, 0.3)
    assert not checks.check_close("x", float("nan"), 0.3)
    assert not checks.check_close("x", "0.3", 0.4)
    assert checks.check_close("x", 0.31, 0.3, atol=0.02)
    assert checks.check_range("t", 5, 1, 10)
    assert not checks.check_range("t", 11, 1, 10)
    assert not checks.check_range("t", None, 1, 10)


def test_check_array(capsys):
    assert checks.check_array("a", np.ones((2, 3)), np.ones((2, 3)))
    assert not checks.check_array("a", np.ones((3, 2)), np.ones((2, 3)))
    assert "Expected shape (2, 3), got shape (3, 2)" in capsys.readouterr().out
    wrong = np.ones((2, 3))
    wrong[1, 2] = 5
    assert not checks.check_array("a", wrong, np.ones((2, 3)))
    assert "first at index (1, 2)" in capsys.readouterr().out
    assert not checks.check_array("a", np.array(["a", "b"]), np.ones(2))
    assert not checks.check_array("a", None, np.ones(2))


def test_check_shape():
    assert checks.check_shape("s", (None, 4), (None, 4))
    assert not checks.check_shape("s", (None, 5), (None, 4))
    assert not checks.check_shape("s", [4], (None, 4))


def test_check_function_catches_errors_and_wrong_values(capsys):
    cases = [((2, 3), 6), ((0, 5), 0)]
    assert checks.check_function("mul", lambda a, b: a * b, cases)
    assert not checks.check_function("mul", lambda a, b: a + b, cases)
    assert "Called with (2, 3): expected 6, got 5" in capsys.readouterr().out
    assert not checks.check_function("mul", lambda a, b: 1 / 0, cases)
    assert "ZeroDivisionError" in capsys.readouterr().out

    def todo(a, b):
        raise NotImplementedError()

    assert not checks.check_function("mul", todo, cases)
    assert "NotImplementedError" in capsys.readouterr().out
    assert not checks.check_function("mul", 42, cases)
    assert not checks.check_function("mul", lambda a, b: [a * b], cases)  # wrong shape


def test_check_condition():
    assert checks.check(True, "c", "never shown")
    assert not checks.check(False, "c", "it was false", hint="make it true")


def test_strict_mode_raises_after_printing(monkeypatch, capsys):
    monkeypatch.setenv("COURSE_STRICT_CHECKS", "1")
    with pytest.raises(checks.ExerciseCheckFailed, match="Expected 2"):
        checks.check_int("n", 3, 2)
    assert "❌ n: not yet" in capsys.readouterr().out
    assert checks.check_int("n", 2, 2)
    with checks.lenient():
        assert not checks.check_int("n", 3, 2)


def test_result_displays_nothing_extra():
    result = checks.check_int("n", 2, 2)
    assert result._ipython_display_() is None and result.passed


def test_check_timer_accepts_only_a_correct_timer():
    import statistics

    from wrong_answers import timer  # the learner-timer factory, written once (instructor/wrong_answers.py)

    good = timer(True, statistics.median)
    same_input = lambda fn, inputs, warmup, repeats: good(fn, inputs[:1], warmup, repeats)  # noqa: E731
    assert exercises.check_timer("timer", good)
    for wrong in (timer(False, statistics.median), timer(True, statistics.mean), timer(True, statistics.median, 1.0),
                  same_input, None):
        assert not exercises.check_timer("timer", wrong), wrong
