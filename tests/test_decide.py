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


# --- exact at every limit (issue #29): just inside, exactly at, just outside ---------------------------
BASE = {"MACs": 1000, "val PCK@0.2": 0.75, "val PCK@0.1": 0.5}


def step(macs=500, d1=0.0, d2=0.0, base=BASE, keys=("val PCK@0.2", "val PCK@0.1")):
    """``base`` after a step to ``macs`` MACs that changes the two metrics by ``d1``, ``d2`` points."""
    return {"MACs": macs, keys[0]: round(base[keys[0]] + d1 / 100, 10), keys[1]: round(base[keys[1]] + d2 / 100, 10)}


@pytest.mark.parametrize("macs, kept", [(899, True), (900, True), (901, False)])
def test_min_saving_is_inclusive_and_exact(macs, kept):
    assert 1 - 900 / 1000 < 0.10  # the float trap the rule avoids
    assert decide.decide("MACs", BASE, step(macs), decide.Rule()).kept is kept


@pytest.mark.parametrize("macs, kept", [(1149, True), (1150, True), (1151, False)])
def test_max_cost_rise_is_inclusive_and_exact(macs, kept):
    base = {**BASE, "MACs": 100}
    gain = step(macs / 10, d1=2.0, base=base)
    assert decide.decide("accuracy", base, gain, decide.Rule()).kept is kept
    assert decide.decide("accuracy", BASE, step(macs, d1=2.0), decide.Rule()).kept is kept


def test_exactly_fifteen_percent_of_100_is_allowed():
    assert 1.15 * 100 < 115  # the float trap
    assert decide.decide("accuracy", {**BASE, "MACs": 100}, step(115, d1=2.0), decide.Rule()).kept


# (noise, limit of the first metric, limit of the strict metric): max(limit, noise), not limit + noise
NOISES = [(0.0, 1.0, 2.0), (0.3, 1.0, 2.0), (1.5, 1.5, 2.0), (2.5, 2.5, 2.5), (3.2, 3.2, 3.2)]


@pytest.mark.parametrize("noise, lim1, lim2", NOISES)
@pytest.mark.parametrize("offset, kept", [(-0.1, True), (0.0, True), (0.1, False)])
def test_first_metric_drop_limit_is_max_of_limit_and_noise(noise, lim1, lim2, offset, kept):
    rule = decide.Rule(noise=noise, noise_strict=noise)
    assert rule.limits() == (lim1, lim2)
    assert decide.decide("MACs", BASE, step(d1=-(lim1 + offset)), rule).kept is kept


@pytest.mark.parametrize("noise, lim1, lim2", NOISES)
@pytest.mark.parametrize("offset, kept", [(-0.1, True), (0.0, True), (0.1, False)])
def test_strict_metric_drop_limit_is_max_of_limit_and_noise(noise, lim1, lim2, offset, kept):
    rule = decide.Rule(noise=noise, noise_strict=noise)
    assert decide.decide("MACs", BASE, step(d2=-(lim2 + offset)), rule).kept is kept


@pytest.mark.parametrize("noise", [0.3, 1.5, 2.5])
def test_limit_plus_noise_is_not_the_limit(noise):
    rule = decide.Rule(noise=noise, noise_strict=noise)
    lim1, lim2 = rule.limits()
    between1 = (lim1 + 1.0 + noise) / 2  # between max(limit, noise) and limit + noise
    between2 = (lim2 + 2.0 + noise) / 2
    assert not decide.decide("MACs", BASE, step(d1=-between1), rule).kept
    assert not decide.decide("MACs", BASE, step(d2=-between2), rule).kept


def test_the_two_noises_are_separate():
    rule = decide.Rule(noise=0.2, noise_strict=2.6)
    assert decide.decide("MACs", BASE, step(d2=-2.6), rule).kept
    assert not decide.decide("MACs", BASE, step(d1=-1.2), rule).kept


@pytest.mark.parametrize("noise", [0.0, 0.5, 2.5])
@pytest.mark.parametrize("offset, kept", [(-0.1, False), (0.0, False), (0.1, True)])
def test_accuracy_step_must_gain_more_than_the_noise(noise, offset, kept):
    rule = decide.Rule(noise=noise, noise_strict=noise)
    assert decide.decide("accuracy", BASE, step(1000, d1=noise + offset), rule).kept is kept


@pytest.mark.parametrize("loss", [0.5, 2.0, 5.0])
def test_accuracy_step_that_loses_accuracy_is_dropped(loss):
    rule = decide.Rule(noise=0.3)
    d = decide.decide("accuracy", BASE, step(1000, d1=-loss, d2=+3.0), rule)
    assert not d.kept and "no gain" in d.reason


def test_exactly_at_the_limits_with_the_floats_of_the_issue():
    """1000 -> 900 MACs, PCK 0.75 -> 0.74 (-1.0 point exactly), PCK@0.1 0.5 -> 0.48 (-2.0)."""
    assert 100 * (0.74 - 0.75) < -1.0
    after_ = {"MACs": 900, "val PCK@0.2": 0.74, "val PCK@0.1": 0.48}
    d = decide.decide("MACs", BASE, after_, decide.Rule())
    assert d.kept and "-1.0" in d.reason and "-2.0" in d.reason


def test_numpy_and_exact_types_are_read_as_the_decimals_they_print():
    np = pytest.importorskip("numpy")
    from decimal import Decimal
    from fractions import Fraction
    assert decide.exact(np.float32(0.74)) == Fraction(74, 100)
    assert decide.exact(np.int64(900)) == 900 and decide.exact(Decimal("0.1")) == Fraction(1, 10)
    after_ = {"MACs": np.int64(900), "val PCK@0.2": np.float32(0.74), "val PCK@0.1": Fraction(12, 25)}
    assert decide.decide("MACs", BASE, after_, decide.Rule()).kept


# --- configurable metrics ------------------------------------------------------------------------
CAPSTONE = {"metric": "PCK@0.1", "metric_strict": "PCK@0.05"}
BASE2 = {"MACs": 1000, "val PCK@0.1": 0.6, "val PCK@0.05": 0.3}
KEYS2 = ("val PCK@0.1", "val PCK@0.05")


def test_rule_defaults_keep_the_old_metrics():
    rule = decide.Rule()
    assert (rule.metric, rule.metric_strict, rule.key, rule.key_strict) == (
        "PCK@0.2", "PCK@0.1", "val PCK@0.2", "val PCK@0.1")


def test_rule_reads_the_metrics_it_names_and_says_so():
    rule = decide.Rule(noise=0.4, noise_strict=2.4, **CAPSTONE)
    assert "PCK@0.1" in rule.describe() and "PCK@0.05" in rule.describe() and "PCK@0.2" not in rule.describe()
    kept = decide.decide("MACs", BASE2, step(900, d1=-1.0, d2=-2.4, base=BASE2, keys=KEYS2), rule)
    assert kept.kept and "PCK@0.1 -1.0, PCK@0.05 -2.4" in kept.reason
    assert not decide.decide("MACs", BASE2, step(900, d2=-2.5, base=BASE2, keys=KEYS2), rule).kept
    assert not decide.decide("MACs", BASE2, step(900, d1=-1.1, base=BASE2, keys=KEYS2), rule).kept


def test_accuracy_step_gains_on_the_first_metric_only():
    rule = decide.Rule(noise=0.5, **CAPSTONE)
    assert not decide.decide("accuracy", BASE2, step(1000, d1=0.5, d2=5.0, base=BASE2, keys=KEYS2), rule).kept
    d = decide.decide("accuracy", BASE2, step(1000, d1=0.6, d2=-5.0, base=BASE2, keys=KEYS2), rule)
    assert d.kept and "PCK@0.1 +0.6" in d.reason


def test_missing_metric_is_named():
    rule = decide.Rule(**CAPSTONE)
    with pytest.raises(ValueError, match=r"before has no 'val PCK@0.05'"):
        decide.decide("MACs", BASE, {**BASE, "MACs": 500}, rule)


@pytest.mark.parametrize("kw, match", [
    ({"metric": ""}, "Rule.metric"), ({"metric_strict": 1}, "Rule.metric_strict"),
    ({"metric": "PCK@0.1"}, "must differ"), ({"noise": -0.5}, "Rule.noise"),
    ({"max_drop": float("nan")}, "Rule.max_drop"), ({"min_saving": "10%"}, "Rule.min_saving"),
])
def test_bad_rule_fields_are_named(kw, match):
    with pytest.raises(ValueError, match=match):
        decide.Rule(**kw)


def test_bad_cost_values_are_named():
    with pytest.raises(ValueError, match="before has no 'MACs'"):
        decide.decide("MACs", {"val PCK@0.2": 0.5}, BASE, decide.Rule())
    with pytest.raises(ValueError, match="positive before"):
        decide.decide("MACs", {**BASE, "MACs": 0}, BASE, decide.Rule())
    with pytest.raises(ValueError, match=r"after\['MACs'\]"):
        decide.decide("MACs", BASE, {**BASE, "MACs": "900"}, decide.Rule())


def test_reasons_show_enough_digits_to_tell_the_side_of_a_limit():
    d = decide.decide("MACs", BASE, step(900, d1=-1.04), decide.Rule())
    assert not d.kept and "-1.04" in d.reason
    d = decide.decide("MACs", BASE, step(900.1), decide.Rule())
    assert not d.kept and "only 9.99% lower" in d.reason
    d = decide.decide("accuracy", {**BASE, "MACs": 100}, step(115.001, d1=2.0), decide.Rule())
    assert not d.kept and "+15.001%" in d.reason


# --- seed noise over any number of seeds ---------------------------------------------------------
def test_seed_noise_is_exact_and_takes_three_seeds():
    assert decide.seed_noise([0.951, 0.957], [0.93, 0.925]) == 0.6
    assert decide.seed_noise([0.70, 0.715, 0.706]) == 1.5
    runs = [{"val PCK@0.1": 0.70, "val PCK@0.05": 0.4}, {"val PCK@0.1": 0.72, "val PCK@0.05": 0.41},
            {"val PCK@0.1": 0.71, "val PCK@0.05": 0.38}]
    assert decide.seed_noise(runs, metric="PCK@0.1") == 2.0
    assert decide.seed_noise(runs, metric="PCK@0.05") == 3.0


@pytest.mark.parametrize("args, kw, match", [
    ((), {}, "at least one model"), (([0.9, 0.91], [0.8]), {}, "two seeds"),
    (("0.9",), {}, "model 0"), (([0.9, float("nan")],), {}, r"model 0\[1\]"),
    (([{"val PCK@0.1": 0.9}, {"val PCK@0.2": 0.9}],), {"metric": "PCK@0.1"}, r"model 0\[1\] has no"),
])
def test_seed_noise_bad_input(args, kw, match):
    with pytest.raises(ValueError, match=match):
        decide.seed_noise(*args, **kw)
