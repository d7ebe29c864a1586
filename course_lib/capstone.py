"""The capstone's compression pipeline as code that notebook 09 and ``make checkpoints`` share.

Every model is a :class:`course_lib.checkpoints.Recipe`: from-scratch candidates all get one recipe and one
budget (:data:`EPOCHS` epochs, Adam with a cosine decay), fine-tunes (after pruning) get :data:`FT_EPOCHS`
more epochs from the model they start from, and each is compared with a **control** given the same extra
training from the same start. :class:`Pipeline` walks the steps in order, applies the rule
(:mod:`course_lib.decide`) on validation numbers measured in the run, and keeps a row per step. Which recipe
comes next depends on what the rule kept, so ``make checkpoints`` walks the same pipeline (in full and in
fast mode) and trains every recipe it meets.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from . import checkpoints, decide
from .checkpoints import Checkpoint, Recipe

BASE = dict(features=64, stem_widths=(32, 64), stacks=2, depth=3, block="residual")
EPOCHS = 16              #: every from-scratch model: 16 epochs of the 3,400 training images (1,696 steps)
FT_EPOCHS = 4            #: a fine-tune, and its control: 4 more epochs from the start model
FT_LEARNING_RATE = 1e-3  #: fine-tunes start a new cosine schedule from a quarter of the from-scratch rate
SEEDS = (0, 1, 2)
TEACHER = dict(BASE, stacks=4)   #: the distillation teacher: the baseline's hourglass, four stacks deep
METRICS = ("PCK@0.1", "PCK@0.05")
RULE = dict(metric="PCK@0.1", metric_strict="PCK@0.05", max_drop=2.0, max_drop_strict=3.0)
PRUNE_FRACTION = 0.5
ROUND_KEEP = 0.75        #: pruning in rounds: the first round keeps 75 % of the hidden channels, the second 2/3 of those
#: The plateau test: a model has finished learning when the last quarter of its epochs gained less validation PCK@0.1
#: than the larger of the seed noise and a quarter of the rule's limit (0.5 points): more of the same training could
#: not move it by more than a quarter of what the rule allows a step to lose.
PLATEAU_SHARE_OF_LIMIT = 0.25
GAMMA_L1 = 3e-5          #: Network Slimming's sparsity strength (lambda on sum |gamma|; the heat-map MSE is ~1e-3, not a cross-entropy ~1)


def scratch(name: str, builder: Mapping, seed: int = 0, teacher: str | None = None) -> Recipe:
    """A from-scratch recipe with the pipeline's one budget."""
    return Recipe(name, dict(builder), EPOCHS, seed, teacher=teacher, distill_alpha=0.5)


def fine_tune(name: str, start: Checkpoint, epochs: int = FT_EPOCHS, **extra) -> Recipe:
    """A fine-tune of ``start`` (its architecture as builder), at the fine-tune learning rate."""
    return Recipe(name, start.builder, epochs, start.recipe.seed, FT_LEARNING_RATE, start=start.recipe.name, **extra)


def plateau_gain(history: Mapping, metric: str = METRICS[0]) -> float:
    """Points of validation ``metric`` gained over the last quarter of the epochs (last value minus the value a
    quarter of the run before the end): the plateau criterion compares it with the seed noise."""
    curve = history[f"val {metric}"]
    back = max(1, len(curve) // 4)
    if len(curve) <= back:
        return float("nan")
    return 100 * (curve[-1] - curve[-1 - back])


def plateau_limit(rule: decide.Rule) -> float:
    """Points of the first metric the last quarter of a training may still gain for the model to count as trained
    to its plateau: max(seed noise, PLATEAU_SHARE_OF_LIMIT x the rule's limit)."""
    return max(rule.noise, PLATEAU_SHARE_OF_LIMIT * rule.max_drop)


def cost(model) -> dict:
    """Parameters and MACs of the model a phone would run (the last stack's output only)."""
    from . import pose, profile
    deploy = pose.inference_model(model)
    return {"params": int(deploy.count_params()), "MACs": int(profile.count_macs(deploy))}


def val_scores(model, x_val, y_val, stack: int = -1) -> dict:
    """Validation PCK@0.2/0.1/0.05 of one stack's output, as ``{"val PCK@a": fraction}``."""
    from . import pose
    pred = pose.predict_joints(model, x_val, stack=stack)
    return {f"val {k}": v for k, v in pose.scores(pred, y_val, (0.2, 0.1, 0.05)).items()}


class Pipeline:
    """The pipeline's state: rows (one per step), the checkpoints, the current model and the rule."""

    def __init__(self, x_val: np.ndarray, y_val: np.ndarray, get: Callable[[Recipe], Checkpoint] | None = None):
        self.x_val, self.y_val = x_val, y_val
        self.recipes: dict[str, Recipe] = {}
        self._get = get or (lambda r: checkpoints.get(r, self.recipes))
        self.rows: dict[str, dict] = {}
        self.ckpts: dict[str, Checkpoint] = {}
        self.scores: dict[str, dict] = {}
        self.current: str | None = None
        self.rule: decide.Rule | None = None

    # ---------------------------------------------------------------- plumbing
    def fit(self, recipe: Recipe) -> Checkpoint:
        """The checkpoint of ``recipe`` (loaded, or trained if missing) and its validation scores, measured now."""
        self.recipes[recipe.name] = recipe
        ckpt = self._get(recipe)
        self.ckpts[recipe.name] = ckpt
        self.scores[recipe.name] = val_scores(ckpt.model, self.x_val, self.y_val)
        return ckpt

    def record(self, name: str, technique: str, goal: str, ckpt: Checkpoint | None, verdict: decide.Decision,
               before: str | None, extra_epochs: str = "", model=None) -> dict:
        """One row of the pipeline table; a kept step becomes the model the next step starts from."""
        model = model if model is not None else ckpt.model
        epochs = "" if ckpt is None else (f"{ckpt.recipe.epochs}" if ckpt.recipe.start is None
                                          else f"+{ckpt.recipe.epochs} from {ckpt.recipe.start}")
        row = {"technique": technique, "goal": goal, **cost(model),
               **(self.scores.get(ckpt.recipe.name, {}) if ckpt is not None else {}),
               "epochs": extra_epochs or epochs, "decision": "kept" if verdict.kept else "tried, dropped",
               "why": verdict.reason, "before": before}
        self.rows[name] = row
        if verdict.kept:
            self.current = name
        return row

    # ---------------------------------------------------------------- steps
    def baseline(self, builder: Mapping = BASE) -> decide.Rule:
        """The baseline from three seeds; their spread is the rule's noise. Returns the rule."""
        runs = [self.fit(scratch(f"baseline-s{s}", builder, s)) for s in SEEDS]
        spread = {m: decide.seed_noise([self.scores[r.recipe.name][f"val {m}"] for r in runs]) for m in METRICS}
        self.rule = decide.Rule(noise=spread[METRICS[0]], noise_strict=spread[METRICS[1]], **RULE)
        row = self.record("0 baseline", "Newell's hourglass, scaled to 64x64", "", runs[0],
                          decide.Decision(True, "the start"), None)
        row["decision"], row["checkpoint"] = "start", runs[0].recipe.name
        self.current = "0 baseline"
        return self.rule

    def _decide(self, goal: str, candidate: dict, before: str) -> decide.Decision:
        return decide.decide(goal, self.rows[before], candidate, self.rule)

    def architecture_step(self, name: str, technique: str, goal: str, builder: Mapping,
                          slug: str) -> decide.Decision:
        """A from-scratch candidate: the cost test first (no training if it fails), then train and decide."""
        from . import pose
        before = self.current
        probe = pose.stacked_hourglass(**builder)
        verdict = decide.cost_test(goal, self.rows[before], cost(probe), self.rule)
        if verdict is not None:
            self.record(name, technique, goal, None, verdict, before, model=probe)
            return verdict
        ckpt = self.fit(scratch(slug, builder))
        verdict = self._decide(goal, {**cost(ckpt.model), **self.scores[slug]}, before)
        self.record(name, technique, goal, ckpt, verdict, before)["checkpoint"] = slug
        return verdict

    def labels(self) -> dict[str, str]:
        """Checkpoint name -> the row (step) it was loaded for, for legends."""
        return {r["checkpoint"]: n for n, r in self.rows.items() if "checkpoint" in r}

    def builder(self, name: str | None = None) -> dict:
        """The architecture (builder arguments) of a row's checkpoint (the current one by default)."""
        return dict(self.ckpts[self.rows[name or self.current]["checkpoint"]].builder)

    def expansion_step(self, name: str, expansions=(2, 4, 6)) -> decide.Decision:
        """MobileNetV2 blocks at the current width, the expansion factor t a choice: every t passing the cost test
        is trained; of those the rule keeps, the one with the fewest MACs is kept."""
        from . import pose
        before, base = self.current, self.builder()
        tried = {}
        for t in expansions:
            builder = dict(base, block="inverted", expansion=t)
            verdict = decide.cost_test("MACs", self.rows[before], cost(pose.stacked_hourglass(**builder)), self.rule)
            if verdict is None:
                slug = f"{self.rows[before]['checkpoint']}+mbv2-t{t}"
                ckpt = self.fit(scratch(slug, builder))
                tried[t] = (ckpt, self._decide("MACs", {**cost(ckpt.model), **self.scores[slug]}, before))
            else:
                tried[t] = (None, verdict)
        kept = [t for t, (_, v) in tried.items() if v.kept]
        best = min(kept, key=lambda t: cost(tried[t][0].model)["MACs"]) if kept else None
        for t, (ckpt, verdict) in tried.items():
            row_name = f"{name} (t={t})"
            if t != best and verdict.kept:
                verdict = decide.Decision(False, f"{verdict.reason}; t={best} needs fewer MACs")
            if ckpt is None:
                self.record(row_name, f"inverted residual blocks, expansion t={t}", "MACs", None, verdict, before,
                            model=pose.stacked_hourglass(**dict(base, block="inverted", expansion=t)))
            else:
                self.record(row_name, f"inverted residual blocks, expansion t={t}", "MACs", ckpt, verdict,
                            before)["checkpoint"] = ckpt.recipe.name
        if best is not None:
            self.current = f"{name} (t={best})"
        else:
            self.current = before
        return tried[best][1] if best is not None else decide.Decision(False, "no expansion factor was kept")

    def pruning_step(self, name: str = "7 pruning") -> dict[str, decide.Decision]:
        """Prune half of every block's hidden channels from the current model by four criteria (L1 of the filter,
        |gamma|, random, and Network Slimming: sparsity training with L1 on gamma, then |gamma|), each followed by
        a fine-tune, and compare each with the **control**: the current model given the same extra epochs."""
        before = self.current
        start = self.ckpts[self.rows[before]["checkpoint"]]
        prefix = start.recipe.name
        control = self.fit(fine_tune(f"{prefix}+ft", start))
        row = self.record(f"{name}: control", f"the current model, {FT_EPOCHS} more epochs (no pruning)", "",
                          control, decide.Decision(False, "the equal-budget control of the pruning rows"), before)
        row["decision"], row["checkpoint"] = "control", control.recipe.name
        cut = {"fraction": PRUNE_FRACTION}
        runs = {c: self.fit(fine_tune(f"{prefix}+prune-{c}", start, prune={**cut, "criterion": c}))
                for c in ("l1", "gamma", "random")}
        half = FT_EPOCHS // 2
        sparse = self.fit(fine_tune(f"{prefix}+slim-l1", start, epochs=half, gamma_l1=GAMMA_L1))
        runs["slimming"] = self.fit(fine_tune(f"{prefix}+slim-prune", sparse, epochs=FT_EPOCHS - half,
                                              prune={**cut, "criterion": "gamma"}))
        # In rounds: a quarter of the hidden channels, 2 epochs, then a third of what is left (half in all), 2 epochs.
        first = self.fit(fine_tune(f"{prefix}+prune-gamma-r1", start, epochs=half,
                                   prune={"fraction": 1 - ROUND_KEEP, "criterion": "gamma"}))
        runs["gamma, 2 rounds"] = self.fit(fine_tune(
            f"{prefix}+prune-gamma-r2", first, epochs=FT_EPOCHS - half,
            prune={"fraction": 1 - (1 - PRUNE_FRACTION) / ROUND_KEEP, "criterion": "gamma"}))
        verdicts = {c: self._decide("MACs", {**cost(r.model), **self.scores[r.recipe.name]}, f"{name}: control")
                    for c, r in runs.items()}
        kept = [c for c, v in verdicts.items() if v.kept]
        best = max(kept, key=lambda c: self.scores[runs[c].recipe.name][f"val {METRICS[0]}"]) if kept else None
        labels = {"l1": "L1 norm of the filter", "gamma": "|gamma| of its batch norm (no sparsity training)",
                  "random": "random channels (the control criterion)",
                  "slimming": f"Network Slimming: {half} epochs with L1 on gamma, then |gamma|",
                  "gamma, 2 rounds": f"|gamma| in two rounds ({1 - ROUND_KEEP:.0%}, then the rest), {half} epochs each"}
        for c, r in runs.items():
            verdict = verdicts[c]
            if c != best and verdict.kept:
                verdict = decide.Decision(False, f"{verdict.reason}; {best} scored higher")
            extra = {"slimming": f"+{half} (L1 on gamma) +{FT_EPOCHS - half} from {prefix}",
                     "gamma, 2 rounds": f"+{half} +{FT_EPOCHS - half} from {prefix}"}.get(c, "")
            self.record(f"{name} ({c})", f"{PRUNE_FRACTION:.0%} of hidden channels by {labels[c]}", "MACs", r,
                        verdict, f"{name}: control", extra_epochs=extra)["checkpoint"] = r.recipe.name
        self.current = f"{name} ({best})" if best else before
        return verdicts

    def distillation_step(self, name: str = "8 distillation") -> decide.Decision:
        """FPD: the current architecture trained from scratch three times with the teacher's maps mixed into the
        targets (alpha = 0.5), against the same architecture trained three times on ground truth alone (the
        control); an accuracy step judged on the mean over seeds."""
        before = self.current
        arch = self.builder()
        prefix = self.rows[before]["checkpoint"]
        teacher = self.fit(scratch("teacher-4stacks", TEACHER))
        self.rows["teacher"] = {"technique": "the baseline's hourglass with 4 stacks", "goal": "", **cost(teacher.model),
                                **self.scores["teacher-4stacks"], "epochs": str(EPOCHS), "decision": "teacher",
                                "why": "the distillation teacher, not a candidate", "before": None,
                                "checkpoint": "teacher-4stacks"}
        names = [prefix if self.ckpts[prefix].recipe.start is None and self.ckpts[prefix].recipe.seed == 0
                 and not self.ckpts[prefix].recipe.teacher else f"{prefix}-arch-s0"] + \
                [f"{prefix}-arch-s{s}" for s in SEEDS[1:]]
        controls = [self.fit(scratch(n, arch, s)) for n, s in zip(names, SEEDS)]
        students = [self.fit(scratch(f"{prefix}-fpd-s{s}", arch, s, teacher="teacher-4stacks")) for s in SEEDS]
        mean = lambda runs: {k: float(np.mean([self.scores[r.recipe.name][k] for r in runs]))  # noqa: E731
                             for k in self.scores[runs[0].recipe.name]}
        c_row = self.record(f"{name}: control", "the same architecture from scratch, ground truth only (mean of 3)",
                            "", controls[0], decide.Decision(False, "the equal-budget control of distillation"), before)
        c_row.update(mean(controls), decision="control", checkpoint=controls[0].recipe.name)
        verdict = self._decide("accuracy", {**cost(students[0].model), **mean(students)}, f"{name}: control")
        s_row = self.record(f"{name}: FPD student", "from scratch with the teacher's maps (alpha 0.5, mean of 3)",
                            "accuracy", students[0], verdict, f"{name}: control")
        s_row.update(mean(students), checkpoint=students[0].recipe.name)
        if not verdict.kept:
            self.current = before
        self.seed_runs = {"control": controls, "student": students}
        return verdict


#: The from-scratch steps after MobileNetV2: (row name, technique, goal, change to the current builder, slug tag).
ARCHITECTURE_STEPS = {
    "1 width 64→32": ("residual modules, 32 features instead of 64", "MACs", {"features": 32}, "w32"),
    "3 slim stem": ("stem widths (16, 32) instead of (32, 64)", "MACs", {"stem_widths": (16, 32)}, "stem16"),
    "4 CReLU stem": ("7x7 stem conv computes half its channels; CReLU adds their negation", "MACs",
                     {"crelu_stem": True}, "crelu"),
    "5 hyper-feature head": ("each head also reads the hourglass's coarser levels (PVANet)", "accuracy",
                             {"hyper_head": True}, "hyper"),
    "6 one stack": ("one hourglass instead of two, trained from scratch", "MACs", {"stacks": 1}, "1stack"),
}


def architecture_step(pipe: Pipeline, label: str) -> decide.Decision:
    """One of :data:`ARCHITECTURE_STEPS` on the pipeline's current model (trained from scratch if it passes the
    cost test); the checkpoint's name is the current one's plus the step's tag."""
    technique, goal, change, tag = ARCHITECTURE_STEPS[label]
    return pipe.architecture_step(label, technique, goal, dict(pipe.builder(), **change),
                                  f"{pipe.rows[pipe.current]['checkpoint']}+{tag}")


def walk(pipe: Pipeline, say: Callable[[str], None] = print) -> Pipeline:
    """Every step of the capstone in order (what ``make checkpoints`` runs; notebook 09 runs the same steps one
    section at a time)."""
    pipe.baseline()
    say(f"rule: {pipe.rule.describe()}")
    architecture_step(pipe, "1 width 64→32")
    pipe.expansion_step("2 MobileNetV2 blocks")
    for label in ("3 slim stem", "4 CReLU stem", "5 hyper-feature head", "6 one stack"):
        architecture_step(pipe, label)
        say(f"{label}: {pipe.rows[label]['decision']} ({pipe.rows[label]['why']})")
    pipe.pruning_step()
    pipe.distillation_step()
    return pipe


def checkpoint_table(pipe: Pipeline) -> "pd.DataFrame":
    """One row per checkpoint the pipeline used: where it came from, its recipe's budget, what its training took
    (quoted from the manifest), its validation metric at the end of training (manifest) and now (measured in this
    run), and the plateau test: the points gained over the last quarter of its epochs against the seed noise."""
    import pandas as pd
    limit = plateau_limit(pipe.rule)
    out = {}
    for name, ckpt in pipe.ckpts.items():
        r, e = ckpt.recipe, ckpt.entry
        gain = plateau_gain(e["history"])
        out[name] = {"source": ckpt.source, "kind": r.kind, "epochs": r.epochs if r.start is None else f"+{r.epochs}",
                     "trained (s, manifest)": e["seconds"],
                     f"val {METRICS[0]} at training (manifest)": 100 * e["history"][f"val {METRICS[0]}"][-1],
                     f"val {METRICS[0]} now": 100 * pipe.scores[name][f"val {METRICS[0]}"],
                     "last-quarter gain (points)": round(gain, 2), "plateau": bool(gain < limit)}
        for key in list(out[name]):
            if key.startswith("val "):
                out[name][key] = round(out[name][key], 2)
    return pd.DataFrame(out).T


def plot_curves(pipe: Pipeline, names, title: str, metric: str = METRICS[0], ax=None,
                labels: Mapping[str, str] | None = None):
    """Validation learning curves (from each checkpoint's manifest history) of the named checkpoints, labelled
    with ``labels[name]`` where given (else the checkpoint's name)."""
    from . import plots
    ax = ax or plots.axes(title, "epoch", f"validation {metric} (%)", figsize=(7, 3.4))
    for name in names:
        curve = 100 * np.asarray(pipe.ckpts[name].history[f"val {metric}"])
        ax.plot(np.arange(1, len(curve) + 1), curve, marker=".", lw=1, label=(labels or {}).get(name, name))
    ax.legend(fontsize=7)
    return ax
