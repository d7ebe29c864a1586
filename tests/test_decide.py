import pytest

from course_lib import decide

BEFORE = {"MACs": 100e6, "bytes": 1000, "params": 10, "val PCK@0.2": 0.95, "val PCK@0.1": 0.85}


def after(**kw):
    return {**BEFORE, **kw}


def test_cost_step_kept_when_it_saves_and_costs_little():
    d = decide.decide("MACs", BEFORE, after(MACs=60e6, **{"val PCK@0.2": 0.945}), decide.Rule())
    assert d.kept and "40% lower" in d.reason


def test_cost_step_dropped_without_accuracy_when_it_does_not_save():
    d = decide.decide("MACs", BEFORE, {"MACs": 163e6, "bytes": 900}, decide.Rule())
    assert not d.kept and "+63%" in d.reason
    d = decide.decide("MACs", BEFORE, {"MACs": 95e6}, decide.Rule())
    assert not d.kept and "only 5% lower" in d.reason


def test_cost_step_dropped_when_either_metric_falls_too_far():
    assert not decide.decide("MACs", BEFORE, after(MACs=50e6, **{"val PCK@0.2": 0.93}), decide.Rule()).kept
    assert not decide.decide("MACs", BEFORE, after(MACs=50e6, **{"val PCK@0.1": 0.82}), decide.Rule()).kept


def test_noise_widens_the_limits_and_raises_the_bar_for_accuracy_steps():
    step = after(MACs=50e6, **{"val PCK@0.2": 0.935})
    assert not decide.decide("MACs", BEFORE, step, decide.Rule()).kept
    assert decide.decide("MACs", BEFORE, step, decide.Rule(noise=2.0)).kept
    gain = after(**{"val PCK@0.2": 0.958})
    assert decide.decide("accuracy", BEFORE, gain, decide.Rule(noise=0.5)).kept
    assert not decide.decide("accuracy", BEFORE, gain, decide.Rule(noise=1.0)).kept
    assert not decide.decide("accuracy", BEFORE, after(MACs=120e6, **{"val PCK@0.2": 0.99}), decide.Rule()).kept


def test_seed_noise_and_bad_input():
    assert decide.seed_noise([0.951, 0.957], [0.93, 0.925]) == pytest.approx(0.6)
    with pytest.raises(ValueError, match="two seeds"):
        decide.seed_noise([0.9])
    with pytest.raises(ValueError, match="goal"):
        decide.decide("latency", BEFORE, BEFORE, decide.Rule())
    with pytest.raises(ValueError, match="val PCK@0.2"):
        decide.decide("MACs", BEFORE, after(MACs=1, **{"val PCK@0.2": float("nan")}), decide.Rule())
