"""Local JupyterHub smoke test: several simulated learners at once, each through the hub (scripts/hub_smoke.py).

A real JupyterHub on 127.0.0.1 (DummyAuthenticator, SimpleLocalProcessSpawner, configurable-http-proxy
from node_modules/, installed by `make install` through `npm ci`); each learner gets a server spawned by
the hub and executes 01 (fast mode) over a kernel websocket through the hub's proxy. The measured time
and peak memory per learner are printed (run pytest with -s to see them) and written to
build/test-hub/report.json.
"""
import importlib.util
import json
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LEARNERS = 3  # at once, on the 2-core reference machine


def _hub_smoke():
    spec = importlib.util.spec_from_file_location("hub_smoke", ROOT / "scripts" / "hub_smoke.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_classroom_on_a_local_hub():
    hub_smoke = _hub_smoke()
    if not hub_smoke.CHP.exists():
        message = f"{hub_smoke.CHP} is missing: run `npm ci` in the repository (make install does it when npm exists)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    measured = hub_smoke.classroom(LEARNERS, "01_measuring_models.ipynb", fast=True)
    print("\n" + hub_smoke.report(measured))
    out = ROOT / "build" / "test-hub"
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(measured, indent=1))
    results = measured["results"]
    assert len(results) == LEARNERS
    for name, r in results.items():
        assert not r.get("errors"), f"{name}: {r.get('errors')}\n{measured['hub_log_tail']}"
        assert r["spawn_s"] > 0 and r["run_s"] > 0
        # a kernel that imported TensorFlow and trained in fast mode: hundreds of MB, not a few
        assert 200 < r["kernel_peak_mb"] < 4000, r
        assert r["server_peak_mb"] > 20, r
