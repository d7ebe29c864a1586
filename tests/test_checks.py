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
    assert "You gave 999" in out and "not filled this in" in out and "Expected 1,000" not in out


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
    out = capsys.readouterr().out
    assert "Called with (2, 3): got 5" in out and "6" not in out
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
    with pytest.raises(checks.ExerciseCheckFailed, match="You gave 3"):
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


# ------------------------------------------------------------------ issue 29: a failure never prints the answer
def _fails_quietly(result, out: str, *hidden: str) -> None:
    """A failed check: ❌, no traceback, none of the ``hidden`` texts (the expected value) in the message."""
    assert not result and out.startswith("❌") and "Traceback" not in out, out
    for text in hidden:
        assert text not in out, (text, out)


@pytest.mark.parametrize("got, says", [(3_328, "too small by a factor 256"), (851_968 * 2, "too large by a factor 2"),
                                       (851_969, "close, but too large"), (850_000, "close, but rounded"),
                                       (851_967.5, "not a whole number"), ("851968", "remove the quotes")])
def test_check_int_says_what_is_wrong_not_the_answer(got, says, capsys):
    _fails_quietly(checks.check_int("MACs", got, 851_968), out := capsys.readouterr().out, "851,968", "851968 ")
    assert says in out


def test_check_int_names_a_known_factor_and_reveals_only_when_asked(capsys):
    checks.check_int("MACs", 1_000, 196_000, factors={196: "Df² (14²)"})
    assert "too small by a factor Df² (14²)" in capsys.readouterr().out
    assert not checks.check_int("MACs", 3_328, 851_968, reveal=True)
    assert "The expected answer: 851,968" in capsys.readouterr().out
    assert not checks.check_int("index", 4, 3, factor=False)
    out = capsys.readouterr().out
    assert "not the one asked for" in out and "factor" not in out and "3" not in out.replace("4", "")


def test_integers_print_as_integers(capsys):
    checks.check_close("MACs", 7_325_696.0, 7_325_696.0 * 2, reveal=True)
    out = capsys.readouterr().out
    assert "e+06" not in out and "14,651,392" in out and "7,325,696" in out
    assert checks.format_pair(7_325_696.0, 7_325_697.0) == ("7,325,696", "7,325,697")


@pytest.mark.parametrize("got, expected", [(7.9, 7.8904), (0.36, 3.2 / 9), (0.355, 3.2 / 9), (8, 7.8904)])
def test_check_close_says_keep_more_digits(got, expected, capsys):
    _fails_quietly(checks.check_close("x", got, expected), out := capsys.readouterr().out, f"{expected:.4f}")
    assert "close: keep more digits" in out


@pytest.mark.parametrize("got, says", [(-0.3, "the sign is wrong"), (0.6, "too large by a factor 2"),
                                       (0.31, "close, but too large"), (5.0, "too large")])
def test_check_close_relation(got, says, capsys):
    _fails_quietly(checks.check_close("x", got, 0.3), out := capsys.readouterr().out, "0.3 ", "0.3.")
    assert says in out


def test_check_close_tolerance_is_inclusive_of_the_stated_precision():
    assert checks.check_close("x", 0.356, 3.2 / 9, rtol=0, atol=0.0005 + 1e-9)
    assert not checks.check_close("x", 0.3550, 3.2 / 9, rtol=0, atol=0.0005 + 1e-9)


def test_check_array_never_prints_the_expected_values(capsys):
    expected = np.array([[0.2512, -0.5, 1.5], [0.7538, 3.25, -2.125]])
    for wrong, says in ((2 * expected, "every value is too large by a factor 2"), (-2 * expected, "wrong sign, and"),
                        (np.round(expected, 2), "close: keep more digits")):
        _fails_quietly(checks.check_array("a", wrong, expected), out := capsys.readouterr().out, "0.7538", "0.2512")
        assert says in out
    assert not checks.check_array("a", expected.T, expected)   # the message shows the learner's own array
    assert "transposed" in capsys.readouterr().out
    assert not checks.check_array("a", -expected, expected)
    assert "every value has the wrong sign" in capsys.readouterr().out
    assert not checks.check_array("a", 2 * expected, expected, reveal=True)
    assert "0.7538" in capsys.readouterr().out


def test_check_function_reveals_the_expected_output_only_when_asked(capsys):
    assert not checks.check_function("mul", lambda a, b: a + b, [((2, 3), 6)], reveal=True)
    assert "The expected answer: 6 for (2, 3)" in capsys.readouterr().out


def test_the_answer_shows_from_hint_2_on(monkeypatch, capsys):
    monkeypatch.setattr(checks, "hint_rung_asked", lambda: 1)
    checks.check_int("n", 3, 2)
    assert "expected answer" not in capsys.readouterr().out
    monkeypatch.setattr(checks, "hint_rung_asked", lambda: 2)
    checks.check_int("n", 3, 2)
    assert "The expected answer: 2" in capsys.readouterr().out


def test_hint_rung_asked_is_0_outside_a_checker_cell():
    assert checks.hint_rung_asked() == 0
