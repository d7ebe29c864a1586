"""One keep/drop rule for a compression pipeline, applied by code to every step.

A step is **kept** only if it buys what it is for, at a validation cost the rule allows:

- a *cost* step (its goal is ``"MACs"``, ``"bytes"`` or ``"params"``) must cut that metric by at least
  ``min_saving`` (10 % by default) against the model it starts from, and may lose at most
  ``max_drop`` points of the first validation metric (``Rule.metric``, PCK@0.2 by default) and
  ``max_drop_strict`` points of the strict one (``Rule.metric_strict``, PCK@0.1), or the measured
  seed noise of that metric if it is larger: ``max(limit, noise)``, not ``limit + noise`` (a drop
  inside the noise is not evidence of a loss);
- an *accuracy* step (goal ``"accuracy"``: a better head, distillation) must gain **more** than the
  seed noise on the first metric, and may not raise MACs or bytes by more than ``max_cost_rise``.

Every limit is inclusive: a step exactly at it passes ("at least 10 %", "at most 1.0 point", "at most
15 % more"); only the accuracy step's gain is strict.

**Exact arithmetic.** Floats would drop steps exactly at a limit (``1 - 900 / 1000`` is
0.09999999999999998, ``100 * (0.74 - 0.75)`` is -1.0000000000000009, ``1.15 * 100`` is
114.99999999999999). So every number is read as the decimal it prints as, ``Fraction(str(x))`` (0.74
is 74/100; ints, ``Fraction`` and ``Decimal`` are taken as they are), and every saving, rise, change
in points and limit is computed and compared on those fractions, without rounding. Rounding each
derived quantity to 9 decimals before comparing gives the same decisions on measured numbers.

Decisions use validation numbers only (keys ``f"val {metric}"``, e.g. ``"val PCK@0.2"``); the test
set is used once, for the final table. A cost test that fails needs no training to decide: the step
is dropped before its accuracy is known (``decide`` accepts missing accuracy then).
"""
from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from decimal import Decimal
from fractions import Fraction

__all__ = ["Rule", "Decision", "exact", "seed_noise", "cost_test", "decide"]

GOALS = ("MACs", "bytes", "params", "accuracy")


def exact(value, name: str = "value") -> Fraction:
    """``value`` as an exact fraction of the decimal it prints as: ``exact(0.74) == Fraction(74, 100)``.

    Raises ``ValueError`` naming ``name`` for anything but a finite real number (bools included)."""
    if isinstance(value, (bool, str)) or not isinstance(value, (numbers.Real, Decimal)):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if isinstance(value, numbers.Integral):
        return Fraction(int(value))
    if isinstance(value, numbers.Rational):
        return Fraction(value.numerator, value.denominator)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"{name} must be a finite number, got {value!r}")
        return Fraction(value)
    if not math.isfinite(float(value)):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return Fraction(str(value))  # str: the shortest decimal that reads back as this float (or float32)


def _points_text(points: Fraction, sign: str = "+") -> str:
    """Points with two decimals, one trailing zero dropped (-2.5, -1.04, +0.0); ``sign=""``: no +."""
    text = f"{float(points):{sign}.2f}"
    return text[:-1] if text.endswith("0") else text


def _percent(share: Fraction, limit: float) -> str:
    """``share`` as a whole percentage, with more decimals (up to 6) where it would read as ``limit``."""
    for digits in range(7):
        text = f"{float(share):.{digits}%}"
        if share == exact(limit) or text != f"{limit:.{digits}%}":
            return text
    return text


@dataclass(frozen=True)
class Rule:
    """The numbers of the rule (points are percentage points of the metric) and its two metrics.

    ``noise`` and ``noise_strict`` are the seed spreads of ``metric`` and ``metric_strict`` in points
    (:func:`seed_noise`). The metrics are read from the keys ``f"val {metric}"``."""
    min_saving: float = 0.10
    max_drop: float = 1.0
    max_drop_strict: float = 2.0
    max_cost_rise: float = 0.15
    noise: float = 0.0          # seed spread of the validation metric, in points
    noise_strict: float = 0.0   # seed spread of the strict validation metric, in points
    metric: str = "PCK@0.2"
    metric_strict: str = "PCK@0.1"

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if field.name.startswith("metric"):
                if not isinstance(value, str) or not value.strip():
                    raise ValueError(f"Rule.{field.name} must be a metric name such as 'PCK@0.1', got {value!r}")
            elif exact(value, f"Rule.{field.name}") < 0:
                raise ValueError(f"Rule.{field.name} must be >= 0, got {value!r}")
        if self.metric == self.metric_strict:
            raise ValueError(f"Rule.metric and Rule.metric_strict must differ, both are {self.metric!r}")

    @property
    def key(self) -> str:
        """The dict key of the first metric, e.g. ``"val PCK@0.2"``."""
        return f"val {self.metric}"

    @property
    def key_strict(self) -> str:
        """The dict key of the strict metric, e.g. ``"val PCK@0.1"``."""
        return f"val {self.metric_strict}"

    def exact_limits(self) -> tuple[Fraction, Fraction]:
        """The drops (points) of the two metrics a cost step may cost: max(limit, noise), exactly."""
        return (max(exact(self.max_drop), exact(self.noise)),
                max(exact(self.max_drop_strict), exact(self.noise_strict)))

    def limits(self) -> tuple[float, float]:
        """The drops (points) of ``metric`` and ``metric_strict`` a cost step may cost."""
        first, strict = self.exact_limits()
        return float(first), float(strict)

    def describe(self) -> str:
        """The rule in one sentence, with its numbers and metric names."""
        d1, d2 = self.limits()
        m1, m2 = self.metric, self.metric_strict
        return (f"a cost step must cut its goal (MACs, bytes or params) by >= {self.min_saving:.0%} and may lose at "
                f"most {d1:.1f} points of validation {m1} and {d2:.1f} of {m2} (the larger of "
                f"{self.max_drop:.1f}/{self.max_drop_strict:.1f} and the measured seed noise "
                f"{self.noise:.2f}/{self.noise_strict:.2f}); an accuracy step must gain more than "
                f"{self.noise:.2f} points of validation {m1} at <= {self.max_cost_rise:.0%} more MACs and bytes")


@dataclass(frozen=True)
class Decision:
    kept: bool
    reason: str

    def __str__(self) -> str:
        return f"{'KEPT' if self.kept else 'dropped'}: {self.reason}"


def _series(values, metric: str | None, where: str) -> list[Fraction]:
    """One model's measurements over seeds as fractions (from result dicts if ``metric`` is given)."""
    if isinstance(values, (str, bytes, Mapping)) or not hasattr(values, "__iter__"):
        raise ValueError(f"{where} must be a list of one model's measurements over seeds, got {values!r}")
    values = list(values)
    if metric is not None:
        values = [_get(run, f"val {metric}", f"{where}[{i}]") for i, run in enumerate(values)]
    return [exact(v, f"{where}[{i}]") for i, v in enumerate(values)]


def seed_noise(*per_model: Sequence, metric: str | None = None) -> float:
    """Seed noise in points: the largest spread (max - min, over any number of seeds) of one model's
    validation fractions, over the models given. Computed exactly; ``seed_noise([0.951, 0.957],
    [0.93, 0.925])`` -> 0.6. With ``metric="PCK@0.1"`` each model is a list of result dicts (one per
    seed) and the values are read from ``"val PCK@0.1"``. With three seeds the spread of 3 runs is a
    rough, not a statistical, bound: a drop inside it is not evidence of a loss."""
    if not per_model:
        raise ValueError("give at least one model measured with at least two seeds")
    series = [_series(values, metric, f"model {i}") for i, values in enumerate(per_model)]
    if any(len(s) < 2 for s in series):
        raise ValueError("give at least one model measured with at least two seeds (each model needs two)")
    return float(max(100 * (max(s) - min(s)) for s in series))


def _get(values: Mapping, key: str, which: str):
    """``values[key]``, or a ValueError naming the dict and the keys it has."""
    if not isinstance(values, Mapping):
        raise ValueError(f"{which} must be a dict of measurements, got {type(values).__name__}")
    if key not in values:
        raise ValueError(f"{which} has no {key!r} (it has {', '.join(map(repr, values)) or 'nothing'})")
    return values[key]


def _ratio(goal: str, before: Mapping, after: Mapping) -> Fraction:
    """after / before of ``goal``, exactly; ``before`` must be positive."""
    old = exact(_get(before, goal, "before"), f"before[{goal!r}]")
    new = exact(_get(after, goal, "after"), f"after[{goal!r}]")
    if old <= 0 or new < 0:
        raise ValueError(f"{goal} must be >= 0 and positive before the step, got {old} -> {new}")
    return new / old


def cost_test(goal: str, before: Mapping, after: Mapping, rule: Rule) -> Decision | None:
    """The first half of the rule: ``None`` if the step buys enough of its goal, else the dropping
    :class:`Decision`. Accuracy steps pass here unless they raise MACs or bytes too much."""
    if goal not in GOALS:
        raise ValueError(f"goal must be one of {GOALS}, got {goal!r}")
    if goal == "accuracy":
        allowed = exact(rule.max_cost_rise, "Rule.max_cost_rise")
        for metric in ("MACs", "bytes"):
            if metric in before and metric in after and _ratio(metric, before, after) - 1 > allowed:
                rise = _percent(_ratio(metric, before, after) - 1, rule.max_cost_rise)
                return Decision(False, f"{metric} +{rise} (> {rule.max_cost_rise:.0%} allowed for an accuracy step)")
        return None
    saving = 1 - _ratio(goal, before, after)
    if saving < exact(rule.min_saving, "Rule.min_saving"):
        how = (f"{goal} +{_percent(-saving, 0)}" if saving < 0
               else f"{goal} only {_percent(saving, rule.min_saving)} lower")
        return Decision(False, f"{how} (needs >= {rule.min_saving:.0%} lower)")
    return None


def _change(key: str, before: Mapping, after: Mapping) -> Fraction:
    """The change of one validation metric in points, exactly."""
    old = exact(_get(before, key, "before"), key)
    return 100 * (exact(_get(after, key, "after"), key) - old)


def decide(goal: str, before: Mapping, after: Mapping, rule: Rule) -> Decision:
    """Keep or drop a step that turns model ``before`` into ``after`` (dicts with "MACs", "bytes",
    "params" and the rule's two validation metrics, e.g. "val PCK@0.2", "val PCK@0.1", as fractions)."""
    failed = cost_test(goal, before, after, rule)
    if failed is not None:
        return failed
    d1, d2 = _change(rule.key, before, after), _change(rule.key_strict, before, after)
    change = (f"validation {rule.metric} {_points_text(d1)}, {rule.metric_strict} {_points_text(d2)} "
              "points")
    if goal == "accuracy":
        noise = exact(rule.noise, "Rule.noise")
        if d1 > noise:
            return Decision(True, f"{change}: gain above the seed noise ({rule.noise:.2f})")
        return Decision(False, f"{change}: no gain above the seed noise ({rule.noise:.2f})")
    lim1, lim2 = rule.exact_limits()
    saving = float(1 - _ratio(goal, before, after))
    limits = f"limits -{_points_text(lim1, '')} / -{_points_text(lim2, '')}"
    if d1 < -lim1 or d2 < -lim2:
        return Decision(False, f"{goal} {saving:.0%} lower, but {change} ({limits})")
    return Decision(True, f"{goal} {saving:.0%} lower at {change} ({limits})")
