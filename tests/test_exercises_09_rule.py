"""09 Ex4 (the keep/drop rule): right answers pass, each plausible slip fails with a message."""
from fractions import Fraction

import numpy as np
import pytest

from course_lib import decide, exercises

CAPSTONE = ("PCK@0.1", "PCK@0.05")   # the metrics the capstone moves to
CAPSTONE_RULE = decide.Rule(metric="PCK@0.1", metric_strict="PCK@0.05", max_drop=2.0, max_drop_strict=3.0)
CAPSTONE_KEYS = ("val PCK@0.1", "val PCK@0.05")


def make(keys=("val PCK@0.2", "val PCK@0.1"), limits=(0.10, 1.0, 2.0, 0.15), exact=lambda x: round(x, 9),
         **slip):
    """A keep_step on the metric keys ``keys`` with ``limits`` (saving, drop, strict drop, rise): right,
    or with one ``slip``; ``exact`` rounds each derived quantity (to 9 decimals by default)."""
    k1, k2 = keys
    min_saving, drop1, drop2, max_rise = limits

    def keep_step(goal, before, after, noise):
        d1 = exact(100 * (after[k1] - before[k1]))
        d2 = exact(100 * (after[k2] - before[k2]))
        ratio = exact(after["MACs"] / before["MACs"])
        lim1 = drop1 + noise if slip.get("limit_plus_noise") else drop1 if slip.get("no_noise") else max(drop1, noise)
        lim2 = (drop2 + noise if slip.get("limit_plus_noise") else
                drop2 if slip.get("no_noise") or slip.get("no_noise_strict") else max(drop2, noise))
        if goal == "accuracy":
            gain = abs(d1) if slip.get("abs_gain") else d1
            ok_gain = gain >= noise if slip.get("acc_ge") else gain > noise
            rise = exact(ratio - 1)
            ok_cost = rise < max_rise if slip.get("lt_rise") else rise <= max_rise
            return bool(ok_gain and (slip.get("acc_no_cost") or ok_cost))
        saving = ratio if slip.get("ratio") else exact(1 - ratio)
        ok_saving = saving > min_saving if slip.get("strict_saving") else saving >= min_saving
        ok1 = d1 > -lim1 if slip.get("strict_drop") else d1 >= -lim1
        ok2 = True if slip.get("ignore_strict") else d2 > -lim2 if slip.get("strict_drop_strict") else d2 >= -lim2
        return bool((slip.get("no_saving_test") or ok_saving) and ok1 and ok2)
    return keep_step


def with_fractions(goal, before, after, noise):
    """A right answer on exact fractions of the decimals (as course_lib.decide does)."""
    f = {k: {key: Fraction(str(v)) for key, v in d.items()} for k, d in (("b", before), ("a", after))}
    b, a, noise = f["b"], f["a"], Fraction(str(noise))
    d1 = 100 * (a["val PCK@0.2"] - b["val PCK@0.2"])
    d2 = 100 * (a["val PCK@0.1"] - b["val PCK@0.1"])
    if goal == "accuracy":
        return d1 > noise and a["MACs"] <= Fraction(115, 100) * b["MACs"]
    return a["MACs"] <= Fraction(9, 10) * b["MACs"] and d1 >= -max(1, noise) and d2 >= -max(2, noise)


def in_place(goal, before, after, noise):
    """A right answer that converts the dicts to points in place (the checker must not mind)."""
    for d in (before, after):
        for key in ("val PCK@0.2", "val PCK@0.1"):
            d[key] = round(d[key] * 100, 9)
    d1, d2 = after["val PCK@0.2"] - before["val PCK@0.2"], after["val PCK@0.1"] - before["val PCK@0.1"]
    d1, d2 = round(d1, 9), round(d2, 9)
    if goal == "accuracy":
        return d1 > noise and after["MACs"] * 100 <= 115 * before["MACs"]
    return after["MACs"] * 10 <= 9 * before["MACs"] and d1 >= -max(1.0, noise) and d2 >= -max(2.0, noise)


def floats(goal, before, after, noise):
    """Today's notebook reference: right logic in plain floats, which rounds past the limits."""
    d02 = 100 * (after["val PCK@0.2"] - before["val PCK@0.2"])
    d01 = 100 * (after["val PCK@0.1"] - before["val PCK@0.1"])
    if goal == "accuracy":
        return d02 > noise and after["MACs"] <= 1.15 * before["MACs"]
    return 1 - after["MACs"] / before["MACs"] >= 0.10 and d02 >= -max(1.0, noise) and d01 >= -max(2.0, noise)


@pytest.mark.parametrize("right", [make(), with_fractions, in_place], ids=["round9", "fractions", "in_place"])
def test_right_answers_pass(right, capsys):
    assert exercises.check_keep_step(right)
    assert "correct" in capsys.readouterr().out


def test_right_answer_on_other_metrics_passes():
    keys = tuple(f"val {m}" for m in CAPSTONE)
    assert exercises.check_keep_step(make(keys), metrics=CAPSTONE)


def test_an_answer_for_the_old_metrics_fails_on_the_new_ones(capsys):
    assert not exercises.check_keep_step(make(), metrics=CAPSTONE)
    out = capsys.readouterr().out
    assert "raised KeyError" in out and "Traceback" not in out


SLIPS = {  # slip: the words the first failure must contain
    "strict_saving": "saves exactly 10 %",
    "strict_drop": "losing exactly 1.0 points of PCK@0.2",
    "strict_drop_strict": "losing exactly 2.0 points of PCK@0.1",
    "lt_rise": "exactly 15 % more MACs",
    "no_noise_strict": "points of PCK@0.1 (noise 2.5)",
    "limit_plus_noise": "points of PCK@0.2 (noise 0.3)",
    "abs_gain": "LOSING",
    "ratio": "cost step",
    "no_noise": "(noise 1.5)",
    "acc_ge": "exactly the noise",
    "acc_no_cost": "more MACs",
    "no_saving_test": "saves only 9.5 %",
    "ignore_strict": "points of PCK@0.1",
}


@pytest.mark.parametrize("wrong", SLIPS)
def test_slips_fail_naming_the_kind_of_case(wrong, capsys):
    assert not exercises.check_keep_step(make(**{wrong: True}))
    out = capsys.readouterr().out
    assert SLIPS[wrong] in out and out.count("should be") == 1, out
    assert "Traceback" not in out


@pytest.mark.parametrize("wrong", SLIPS)
def test_slips_fail_on_other_metrics_too(wrong, capsys):
    keys = tuple(f"val {m}" for m in CAPSTONE)
    assert not exercises.check_keep_step(make(keys, **{wrong: True}), metrics=CAPSTONE)
    assert "should be" in capsys.readouterr().out


def test_the_capstone_rule_right_answer_passes(capsys):
    capstone = make(CAPSTONE_KEYS, (0.10, 2.0, 3.0, 0.15))
    assert exercises.check_keep_step(capstone, rule=CAPSTONE_RULE)
    assert not exercises.check_keep_step(make(CAPSTONE_KEYS), rule=CAPSTONE_RULE)   # today's limits
    assert "should be" in capsys.readouterr().out


@pytest.mark.parametrize("wrong", SLIPS)
def test_slips_fail_under_the_capstone_rule(wrong, capsys):
    slipped = make(CAPSTONE_KEYS, (0.10, 2.0, 3.0, 0.15), **{wrong: True})
    assert not exercises.check_keep_step(slipped, rule=CAPSTONE_RULE)
    out = capsys.readouterr().out
    assert "should be" in out and "Traceback" not in out


def test_float_rounding_at_a_limit_fails_with_a_note(capsys):
    assert not exercises.check_keep_step(floats)
    out = capsys.readouterr().out
    assert "saves exactly 10 % should be kept" in out and "0.09999999999999998" in out


def test_limit_notes_only_for_cases_at_a_limit(capsys):
    assert not exercises.check_keep_step(make(ratio=True))
    assert "Floats can land" not in capsys.readouterr().out


def test_the_checker_works_on_copies():
    seen = []

    def spy(goal, before, after, noise):
        seen.append((before, after))
        before.clear()
        return False
    exercises.check_keep_step(spy)
    case = exercises.keep_step_cases()[0]
    assert case.before and seen[0][0] is not case.before


def test_bad_answers_get_messages_not_tracebacks(capsys):
    assert not exercises.check_keep_step(lambda *a: 1 / 0)
    assert not exercises.check_keep_step(lambda *a: "keep")
    assert not exercises.check_keep_step(None)
    assert not exercises.check_keep_step(lambda *a: np.float64(1.0))
    assert not exercises.check_keep_step(lambda goal, before, after: True)
    out = capsys.readouterr().out
    assert "raised ZeroDivisionError" in out and "True (keep) or False (drop)" in out
    assert "raised TypeError" in out and "Traceback" not in out


@pytest.mark.parametrize("metrics", [exercises.RULE_METRICS, CAPSTONE])
def test_every_case_matches_the_rule_module(metrics):
    keys = tuple(f"val {m}" for m in metrics)
    for case in exercises.keep_step_cases(metrics):
        assert make(keys)(*case.args()) == exercises._rule_answer(case, metrics), case.label
    right = make(CAPSTONE_KEYS, (0.10, 2.0, 3.0, 0.15))
    for case in exercises.keep_step_cases(rule=CAPSTONE_RULE):
        assert right(*case.args()) == exercises._rule_answer(case, rule=CAPSTONE_RULE), case.label


def test_cases_cover_every_limit_on_both_sides():
    labels = [case.label for case in exercises.keep_step_cases()]
    for words in ("exactly 10 %", "9.5 %", "10.5 %", "exactly 15 %", "16 %", "12 %", "LOSING"):
        assert any(words in label for label in labels), words
    for noise in (0.3, 1.5, 2.5):
        for metric in ("PCK@0.2", "PCK@0.1"):
            assert sum(label.startswith("a cost step losing") and f"{metric} (noise {noise})" in label
                       for label in labels) == 4
