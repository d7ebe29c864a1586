"""The set-up files agree with each other (pyproject, constraints, environment.yml, Makefile, CI)."""
import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def _pins():
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            pins[name.strip().lower().replace("_", "-")] = version.strip()
    return pins


def test_environment_yml_matches_pyproject():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    python = next(d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python"))
    assert python == "python=3.11" and project["requires-python"] == ">=3.11,<3.12"
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert "-c constraints.txt" in pip and "-e .[dev]" in pip
    assert "dev" in project["optional-dependencies"]


def test_constraints_satisfy_pyproject_ranges():
    from packaging.requirements import Requirement

    pins = _pins()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"])
    for extra, extra_reqs in project["optional-dependencies"].items():
        reqs += [r for r in extra_reqs if not r.startswith("course_lib[")]
    for text in reqs:
        req = Requirement(text)
        if req.name == project["name"]:  # dev = course_lib[lab,test] + ...
            continue
        name = req.name.lower().replace("_", "-")
        assert name in pins, f"{name} is required but not pinned in constraints.txt"
        assert req.specifier.contains(pins[name], prereleases=True), f"{name}=={pins[name]} violates {req.specifier}"


def test_forbidden_packages_absent():
    pins = _pins()
    for name in ("tensorflow-model-optimization", "larq", "tf-keras"):
        assert name not in pins


def test_makefile_and_ci_entry_points():
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^lab: install", makefile, re.M) and re.search(r"^test: install", makefile, re.M)
    assert "COURSE_FAST=1" in makefile and "--nbval-lax" in makefile
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_make_test_hands_out_the_longest_files_first():
    """conftest.py's LONGEST_FIRST names files that exist (a renamed notebook would silently fall to the end of the
    schedule), and make test keeps that order (xdist's default re-sorts the files by their number of tests)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("root_conftest", ROOT / "conftest.py")
    root_conftest = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(root_conftest)
    missing = [path for path in root_conftest.LONGEST_FIRST if not (ROOT / path).is_file()]
    assert not missing, f"conftest.LONGEST_FIRST names files that do not exist: {missing}"
    assert len(set(root_conftest.LONGEST_FIRST)) == len(root_conftest.LONGEST_FIRST)
    assert "--no-loadscope-reorder" in (ROOT / "Makefile").read_text()


def test_every_notebook_has_nbgrader_markers_balanced():
    import nbformat

    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        begins = sum(c.source.count("### BEGIN SOLUTION") for c in nb.cells if c.cell_type == "code")
        ends = sum(c.source.count("### END SOLUTION") for c in nb.cells if c.cell_type == "code")
        assert begins == ends, f"{path.name}: {begins} BEGIN vs {ends} END markers"
        for index, cell in enumerate(nb.cells):  # nbgrader treats these words as markers in any cell, text included
            if cell.cell_type != "code":
                assert "BEGIN SOLUTION" not in cell.source and "END SOLUTION" not in cell.source, \
                    f"{path.name} cell {index}: a {cell.cell_type} cell mentions a solution marker (nbgrader cannot process it)"
        if not path.name.startswith("00_"):
            assert begins >= 3, f"{path.name} has {begins} exercises; COURSE.md asks for at least 3"


def test_notebooks_are_committed_executed_in_full_mode_without_errors():
    import nbformat

    paths = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    assert paths, "no notebooks found"
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        code = [c for c in nb.cells if c.cell_type == "code" and c.source.strip()]
        assert all(c.execution_count is not None for c in code), f"{path.name} has unexecuted cells"
        outputs = [o for c in code for o in c.get("outputs", [])]
        assert not any(o.output_type == "error" for o in outputs), f"{path.name} was saved with an error"
        text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream").lower()
        assert "mode: full" in text, f"{path.name} was not saved from a full-mode run"
        assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# "), f"{path.name} needs a title"


def test_committed_figures_were_saved():
    """A cell that shows a figure keeps it as a PNG. (A run with MPLBACKEND=Agg saves none: execute notebooks
    with the inline backend, as tests/time_notebooks.py and make execute do.)"""
    import nbformat

    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        showing = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and "plt.show()" in c.source]
        without = [i for i in showing if not any({"image/png", "image/jpeg"} & set(o.get("data", {}))
                                                 for o in nb.cells[i].get("outputs", []))]
        assert len(without) <= len(showing) // 4, f"{path.name}: cells {without} show a figure but saved none"


def test_each_notebook_file_is_at_most_1_mb():
    """COURSE.md's budget: each notebook file <= 1 MB (make execute re-encodes photo-like figures as JPEG)."""
    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        assert path.stat().st_size <= 1_000_000, f"{path.name} is {path.stat().st_size / 1e3:.0f} kB (budget 1 MB)"


def test_no_failed_check_in_committed_outputs():
    """A ❌ in a saved notebook means its reference solution failed (00's lenient demo excepted)."""
    import nbformat

    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code" or "checks.lenient()" in cell.source:
                continue
            text = "".join(o.get("text", "") for o in cell.get("outputs", []) if o.output_type == "stream")
            assert "❌" not in text, f"{path.name} cell {index} saved a failed check: {text[:200]}"


def test_pinned_jupyter_packages_agree_with_each_other():
    """notebook and jupyterlab pins must be a pair pip accepts (repo2docker images carry both)."""
    from importlib.metadata import PackageNotFoundError, requires, version

    from packaging.requirements import Requirement

    pins = _pins()
    for package in ("notebook", "jupyterhub", "nbclient", "jupyter-server"):
        assert package in pins, f"{package} is not pinned in constraints.txt"
        try:
            installed = version(package)
        except PackageNotFoundError:
            continue
        assert installed == pins[package], f"{package} {installed} installed, constraints.txt pins {pins[package]}"
        for text in requires(package) or []:
            req = Requirement(text)
            name = req.name.lower().replace("_", "-")
            if req.marker is None and name in pins:
                assert req.specifier.contains(pins[name], prereleases=True), (
                    f"{package}=={pins[package]} needs {req}, but constraints.txt pins {name}=={pins[name]}")


def test_repo2docker_layout():
    """repo2docker reads environment.yml, postBuild and start from the root only while there is no binder/."""
    import os

    assert not (ROOT / "binder").exists() and not (ROOT / ".binder").exists()
    for script in ("postBuild", "start"):
        path = ROOT / script
        assert path.exists() and os.access(path, os.X_OK), f"{script} must exist and be executable"
    assert "data.ensure_generated" in (ROOT / "postBuild").read_text()
    # repo2docker's Python 3.11 base environment ships jupyterhub-singleuser 5.x: the hub pin must match it.
    assert _pins()["jupyterhub"].startswith("5."), "keep jupyterhub at 5.x (repo2docker, Zero to JupyterHub 4.x)"
    values = yaml.safe_load((ROOT / "hub" / "values.yaml").read_text())
    memory = values["singleuser"]["memory"]
    assert memory["guarantee"] and memory["limit"]
    # The guarantee covers a server plus the heaviest kernel measured (hub/README.md's table), the limit two kernels.
    import re

    gb = lambda v: float(str(v).rstrip("G"))  # noqa: E731  ("2.3G")
    rows = re.findall(r"^\| \d+ \| (\d\d) \((fast|full)\) \|.*\| (\d+)[–-](\d+) MB \| (\d+) MB \|$",
                      (ROOT / "hub" / "README.md").read_text(), re.M)
    assert any(mode == "full" for _, mode, *_ in rows), "hub/README.md needs a full-mode row"
    kernel, server = max(int(r[3]) for r in rows) / 1000, max(int(r[4]) for r in rows) / 1000
    assert gb(memory["guarantee"]) >= kernel + server, (memory, kernel, server)
    assert gb(memory["limit"]) >= 2 * kernel + server, (memory, kernel, server)


def test_installed_packages_carry_their_bytecode():
    """make install compiles the packages' bytecode (pip does; uv needs --compile-bytecode). Without the .pyc
    files every new process (each kernel, each test worker) compiled TensorFlow's modules again: importing
    TensorFlow and Keras took 13.8 s instead of 4.9 s, and make test ran a quarter slower."""
    import importlib.util

    import keras
    import tensorflow

    missing = [m.__name__ for m in (tensorflow, keras)
               if not Path(importlib.util.cache_from_source(m.__file__)).exists()]
    assert not missing, (f"no compiled bytecode for {missing}: reinstall with `rm -rf .venv && make install` "
                         "(uv pip install --compile-bytecode)")
