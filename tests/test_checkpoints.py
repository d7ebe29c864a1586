"""The capstone's checkpoints: every shipped one matches its recipe, the current dataset and its weights;
each recipe kind trains and builds the checkpoint's architecture; a corrupt, stale or missing checkpoint gets a
clear message (and is trained live, never over a shipped file)."""
from __future__ import annotations

import dataclasses
import json
import shutil

import numpy as np
import pytest

from course_lib import capstone, checkpoints, pose

SHIPPED = checkpoints.manifest()
FIELDS = {f.name for f in dataclasses.fields(checkpoints.Recipe)}


def recipe_of(entry: dict) -> checkpoints.Recipe:
    return checkpoints.Recipe(**{k: v for k, v in entry["recipe"].items() if k in FIELDS})


def test_checkpoints_are_shipped():
    assert SHIPPED, "checkpoints/manifest.json is missing or empty: run make checkpoints"
    assert {"baseline-s0", "baseline-s1", "baseline-s2", "teacher-4stacks"} <= set(SHIPPED)


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_checkpoint_matches_recipe_data_and_weights(name):
    entry = SHIPPED[name]
    recipe = recipe_of(entry)
    assert recipe.as_dict() == entry["recipe"], "the manifest's recipe is not what this course_lib would write"
    checkpoints.verify(recipe)                         # recipe, data sha256 and weights sha256
    assert len(entry["history"]["loss"]) == recipe.epochs
    for metric in ("val PCK@0.2", "val PCK@0.1", "val PCK@0.05"):
        assert len(entry["history"][metric]) == recipe.epochs
    assert entry["bytes"] < 2_000_000 and entry["seconds"] > 0 and entry["cpu"] and entry["date"]


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_checkpoint_weights_fit_their_architecture(name):
    entry = SHIPPED[name]
    model = pose.stacked_hourglass(**checkpoints._from_json(entry["architecture"]))
    with np.load(checkpoints.SHIPPED / f"{name}.npz") as arrays:
        shapes = [arrays[f"arr_{i}"].shape for i in range(len(arrays.files))]
    assert shapes == [tuple(w.shape) for w in model.weights]


def test_from_scratch_recipes_share_one_budget():
    scratch = [recipe_of(e) for e in SHIPPED.values() if e["recipe"]["start"] is None]
    assert {r.epochs for r in scratch} == {capstone.EPOCHS}
    tunes = [recipe_of(e) for e in SHIPPED.values() if e["recipe"]["start"] is not None]
    # a fine-tune and its control: the same extra epochs from the same start (Network Slimming: 2 + 2)
    by_start = {}
    for r in tunes:
        by_start.setdefault(r.start, []).append(r)
    for start, group in by_start.items():
        if SHIPPED[start]["recipe"]["gamma_l1"] or SHIPPED[start]["recipe"]["start"]:   # Network Slimming's second
            # half, or the second round of pruning in rounds: 2 + 2 epochs in all, like a one-shot fine-tune
            assert all(r.epochs + SHIPPED[start]["recipe"]["epochs"] == capstone.FT_EPOCHS for r in group)
        elif any(r.prune for r in group):
            assert any(r.name == f"{start}+ft" and r.epochs == capstone.FT_EPOCHS for r in group), start


# --------------------------------------------------------------------------- one epoch of each recipe kind
@pytest.fixture
def tiny(monkeypatch, tmp_path):
    """A tiny split, a tmp folder as 'shipped' and as results, so nothing real is touched."""
    full = checkpoints.split

    def small(fast=None):
        (a, b), (c, d), (e, f) = full(fast=False)
        return (a[:64], b[:64]), (c[:32], d[:32]), (e[:16], f[:16])

    monkeypatch.setattr(checkpoints, "split", small)
    monkeypatch.setattr(checkpoints, "SHIPPED", tmp_path / "shipped")
    monkeypatch.setenv("COURSE_RESULTS_DIR", str(tmp_path / "results"))
    checkpoints.forget()
    yield tmp_path
    checkpoints.forget()


TINY = dict(features=16, stem_widths=(8, 16), stacks=1, depth=2, block="residual")


def test_one_epoch_of_each_recipe_kind_builds_its_architecture(tiny):
    base = checkpoints.Recipe("tiny", TINY, 1)
    recipes = {"tiny": base}
    got = checkpoints.get(base, recipes, build=True, say=lambda m: None)
    kinds = [checkpoints.Recipe("tiny+prune", TINY, 1, 0, 1e-3, start="tiny",
                                prune={"fraction": 0.5, "criterion": "gamma"}),
             checkpoints.Recipe("tiny+slim", TINY, 1, 0, 1e-3, start="tiny", gamma_l1=1e-4),
             checkpoints.Recipe("tiny-fpd", TINY, 1, teacher="tiny")]
    for recipe in kinds:
        recipes[recipe.name] = recipe
        ckpt = checkpoints.get(recipe, recipes, build=True, say=lambda m: None)
        entry = checkpoints.verify(recipe, checkpoints.SHIPPED)
        rebuilt = pose.stacked_hourglass(**checkpoints._from_json(entry["architecture"]))
        assert [w.shape for w in rebuilt.weights] == [w.shape for w in ckpt.model.weights]
        assert recipe.kind in ("fine-tune", "distil")
    pruned = checkpoints.verify(kinds[0], checkpoints.SHIPPED)["architecture"]["hidden"]
    assert all(w == 4 for w in pruned.values()), "half of 8 hidden channels per block are kept"
    assert got.history["val PCK@0.1"] and got.source == "shipped"


def test_corrupt_stale_and_missing_checkpoints_get_clear_messages(tiny):
    recipe = checkpoints.Recipe("tiny", TINY, 1)
    checkpoints.get(recipe, {"tiny": recipe}, build=True, say=lambda m: None)
    folder = checkpoints.SHIPPED
    # stale: another recipe under the same name
    with pytest.raises(checkpoints.CheckpointError, match=r"another recipe \(differs in epochs\).*stale"):
        checkpoints.verify(dataclasses.replace(recipe, epochs=2), folder)
    # missing
    with pytest.raises(checkpoints.CheckpointError, match="no checkpoint 'other'.*make checkpoints"):
        checkpoints.verify(dataclasses.replace(recipe, name="other"), folder)
    # corrupt: one byte changed
    path = folder / "tiny.npz"
    shipped = path.read_bytes()
    path.write_bytes(shipped[:-1] + bytes([shipped[-1] ^ 1]))
    with pytest.raises(checkpoints.CheckpointError, match="tiny.npz does not match its manifest's sha256: it is corrupt"):
        checkpoints.verify(recipe, folder)
    # get(): says so, trains live into results/, and never writes over the shipped file
    checkpoints.forget()
    said = []
    ckpt = checkpoints.get(recipe, {"tiny": recipe}, say=said.append)
    assert ckpt.source == "live" and "corrupt" in said[0] and "training it live" in said[0]
    assert path.read_bytes() != shipped and path.read_bytes()[:-1] == shipped[:-1], "the shipped file was touched"
    assert (tiny / "results" / "checkpoints" / "tiny.npz").exists()
    # the next call finds the live result in results/
    checkpoints.forget()
    assert checkpoints.get(recipe, {"tiny": recipe}, say=said.append).source == "results"


def test_bad_manifest_and_bad_recipe_argument(tiny):
    folder = checkpoints.SHIPPED
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_text("{not json")
    with pytest.raises(checkpoints.CheckpointError, match="manifest.json is not valid JSON"):
        checkpoints.manifest(folder)
    with pytest.raises(TypeError, match="recipe must be a checkpoints.Recipe"):
        checkpoints.get({"name": "x"})


def test_plateau_gain():
    history = {"val PCK@0.1": [0.5, 0.8, 0.9, 0.92, 0.93, 0.931, 0.93, 0.932]}
    assert capstone.plateau_gain(history) == pytest.approx(100 * (0.932 - 0.931))
    assert np.isnan(capstone.plateau_gain({"val PCK@0.1": [0.5]}))
    assert json.loads(json.dumps(checkpoints.Recipe("x", {"stem_widths": (1, 2)}, 1).as_dict()))["builder"] == \
        {"stem_widths": [1, 2]}
