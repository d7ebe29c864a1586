"""One keep/drop rule for a compression pipeline, applied by code to every step.

A step is **kept** only if it buys what it is for, at a validation cost the rule allows:

- a *cost* step (its goal is ``"MACs"``, ``"bytes"`` or ``"params"``) must cut that metric by at least
  ``min_saving`` (10 % by default) against the model it starts from, and may lose at most
  ``max_drop`` points of validation PCK@0.2 and ``max_drop_strict`` points of PCK@0.1, or the measured
  seed noise if that is larger (a drop inside the noise is not evidence of a loss);
- an *accuracy* step (goal ``"accuracy"``: a better head, distillation) must gain more validation
  PCK@0.2 than the seed noise, and may not raise MACs or bytes by more than ``max_cost_rise``.

Decisions use validation numbers only (keys ``"val PCK@0.2"``, ``"val PCK@0.1"``); the test set is
used once, for the final table. A cost test that fails needs no training to decide: the step is
dropped before its accuracy is known (``decide`` accepts missing accuracy then).
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = ["Rule", "Decision", "seed_noise", "cost_test", "decide"]

GOALS = ("MACs", "bytes", "params", "accuracy")


@dataclass(frozen=True)
class Rule:
    """The numbers of the rule (points are percentage points of PCK)."""
    min_saving: float = 0.10
    max_drop: float = 1.0
    max_drop_strict: float = 2.0
    max_cost_rise: float = 0.15
    noise: float = 0.0          # seed spread of validation PCK@0.2, in points
    noise_strict: float = 0.0   # seed spread of validation PCK@0.1, in points

    def limits(self) -> tuple[float, float]:
        """The PCK@0.2 and PCK@0.1 drops (points) a cost step may cost."""
        return max(self.max_drop, self.noise), max(self.max_drop_strict, self.noise_strict)

    def describe(self) -> str:
        d02, d01 = self.limits()
        return (f"a cost step must cut its goal (MACs, bytes or params) by >= {self.min_saving:.0%} and may lose at "
                f"most {d02:.1f} points of validation PCK@0.2 and {d01:.1f} of PCK@0.1 (the larger of "
                f"{self.max_drop:.1f}/{self.max_drop_strict:.1f} and the measured seed noise "
                f"{self.noise:.1f}/{self.noise_strict:.1f}); an accuracy step must gain more than "
                f"{self.noise:.1f} points of validation PCK@0.2 at <= {self.max_cost_rise:.0%} more MACs and bytes")


@dataclass(frozen=True)
class Decision:
    kept: bool
    reason: str

    def __str__(self) -> str:
        return f"{'KEPT' if self.kept else 'dropped'}: {self.reason}"


def _points(value: float, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return float(value)


def seed_noise(*pairs: Sequence[float]) -> float:
    """Seed noise in points: the largest spread (max - min) of PCK fractions measured for one model
    trained from different seeds. ``seed_noise([0.951, 0.957], [0.93, 0.925])`` -> 0.6."""
    if not pairs or any(len(p) < 2 for p in pairs):
        raise ValueError("give at least one model measured with at least two seeds")
    return max(100 * (max(p) - min(p)) for p in pairs)


def cost_test(goal: str, before: Mapping, after: Mapping, rule: Rule) -> Decision | None:
    """The first half of the rule: ``None`` if the step buys enough of its goal, else the dropping
    :class:`Decision`. Accuracy steps pass here unless they raise MACs or bytes too much."""
    if goal not in GOALS:
        raise ValueError(f"goal must be one of {GOALS}, got {goal!r}")
    if goal == "accuracy":
        for metric in ("MACs", "bytes"):
            if metric in before and metric in after and after[metric] > before[metric] * (1 + rule.max_cost_rise):
                rise = after[metric] / before[metric] - 1
                return Decision(False, f"{metric} +{rise:.0%} (> {rule.max_cost_rise:.0%} allowed for an accuracy step)")
        return None
    saving = 1 - after[goal] / before[goal]
    if saving < rule.min_saving:
        how = f"{goal} {-saving:+.0%}" if saving < 0 else f"{goal} only {saving:.0%} lower"
        return Decision(False, f"{how} (needs >= {rule.min_saving:.0%} lower)")
    return None


def decide(goal: str, before: Mapping, after: Mapping, rule: Rule) -> Decision:
    """Keep or drop a step that turns model ``before`` into ``after`` (dicts with "MACs", "bytes",
    "params" and "val PCK@0.2", "val PCK@0.1" as fractions)."""
    failed = cost_test(goal, before, after, rule)
    if failed is not None:
        return failed
    d02 = 100 * (_points(after["val PCK@0.2"], "val PCK@0.2") - _points(before["val PCK@0.2"], "val PCK@0.2"))
    d01 = 100 * (_points(after["val PCK@0.1"], "val PCK@0.1") - _points(before["val PCK@0.1"], "val PCK@0.1"))
    change = f"validation PCK@0.2 {d02:+.1f}, PCK@0.1 {d01:+.1f} points"
    if goal == "accuracy":
        if d02 > rule.noise:
            return Decision(True, f"{change}: gain above the seed noise ({rule.noise:.1f})")
        return Decision(False, f"{change}: no gain above the seed noise ({rule.noise:.1f})")
    lim02, lim01 = rule.limits()
    saving = 1 - after[goal] / before[goal]
    if d02 < -lim02 or d01 < -lim01:
        return Decision(False, f"{goal} {saving:.0%} lower, but {change} (limits -{lim02:.1f} / -{lim01:.1f})")
    return Decision(True, f"{goal} {saving:.0%} lower at {change} (limits -{lim02:.1f} / -{lim01:.1f})")
