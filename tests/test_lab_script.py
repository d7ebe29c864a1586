"""scripts/lab.py (make lab's command): working copies, trust, settings; the course's notebooks untouched."""
import importlib.util
import json
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def lab(monkeypatch, tmp_path):
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path / "jupyter-data"))
    spec = importlib.util.spec_from_file_location("lab_script", ROOT / "scripts" / "lab.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _course(tmp_path, text="one"):
    source = tmp_path / "course"
    source.mkdir(exist_ok=True)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(text)])
    nbformat.write(nb, source / "01_x.ipynb")
    return source


def test_copies_are_made_refreshed_and_never_overwrite_the_learners_work(lab, tmp_path):
    source, work = _course(tmp_path), tmp_path / "work"
    pristine, messages = lab.prepare_copies(work, source)
    assert [p.name for p in pristine] == ["01_x.ipynb"] and not messages
    assert (work / "01_x.ipynb").read_bytes() == (source / "01_x.ipynb").read_bytes()

    _course(tmp_path, "two")  # the course changes; the copy is untouched: it follows
    lab.prepare_copies(work, source)
    assert "two" in (work / "01_x.ipynb").read_text()

    (work / "01_x.ipynb").write_text((work / "01_x.ipynb").read_text().replace("two", "my answer"))
    _course(tmp_path, "three")  # the course changes again; the learner's copy is kept, with a message
    pristine, messages = lab.prepare_copies(work, source)
    assert pristine == [work / "01_x.new.ipynb"] and "my answer" in (work / "01_x.ipynb").read_text()
    assert (work / "01_x.new.ipynb").read_bytes() == (source / "01_x.ipynb").read_bytes()
    assert len(messages) == 1 and "your copy is kept" in messages[0] and "in 01_x.new.ipynb." in messages[0]


def test_trust_signs_without_modifying_the_file(lab, tmp_path):
    from nbformat.sign import NotebookNotary

    path = _course(tmp_path) / "01_x.ipynb"
    before = path.read_bytes()
    nb = nbformat.read(path, as_version=4)
    assert not NotebookNotary().check_signature(nb)
    lab.trust([path])
    assert NotebookNotary().check_signature(nbformat.read(path, as_version=4))
    assert path.read_bytes() == before


def test_lab_settings_turn_off_the_news_question(lab, tmp_path):
    target = lab.install_lab_settings(tmp_path / "prefix")
    assert target.parent.name == "overrides.d"
    settings = json.loads(target.read_text())["@jupyterlab/apputils-extension:notification"]
    assert settings["fetchNews"] == "false" and settings["checkForUpdates"] is False


def test_course_notebooks_are_trusted_in_place_unchanged(lab, tmp_path, monkeypatch):
    from nbformat.sign import NotebookNotary

    monkeypatch.setattr(lab, "install_lab_settings", lambda: tmp_path / "unused")
    paths = sorted((ROOT / "notebooks").glob("*.ipynb"))
    before = {p: p.read_bytes() for p in paths}
    assert lab.main(["--prepare-only", "--workdir", "notebooks"]) == 0
    assert {p: p.read_bytes() for p in paths} == before
    assert all(NotebookNotary().check_signature(nbformat.read(p, as_version=4)) for p in paths)


def _exercise_course(tmp_path, answer="x = 1"):
    """A course of one notebook with one exercise (solution cell, checker cell, tagged as nbgrader_tag does)."""
    import sys

    sys.path.insert(0, str(ROOT / "tools"))
    import nbgrader_tag

    source = tmp_path / "course"
    source.mkdir(exist_ok=True)
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("**Exercise 1.** Set x."),
        nbformat.v4.new_code_cell(f"x = None\n### BEGIN SOLUTION\n{answer}\n### END SOLUTION",
                                  outputs=[nbformat.v4.new_output("stream", text="solution ran\n")]),
        nbformat.v4.new_code_cell("checks.check_int('x', x, 1)",
                                  outputs=[nbformat.v4.new_output("stream", text="✅ x: correct.\n")]),
        nbformat.v4.new_code_cell("print('a table')", outputs=[nbformat.v4.new_output("stream", text="a table\n")]),
    ])
    path = source / "01_x.ipynb"
    nbformat.write(nb, path)
    nbgrader_tag.tag(path)
    return source


def test_practice_copies_are_blank_follow_the_course_and_keep_the_learners_work(lab, tmp_path):
    source, work = _exercise_course(tmp_path), tmp_path / "work"
    pristine, messages = lab.prepare_copies(work, source, kind="practice")
    copy = nbformat.read(work / "01_x.ipynb", as_version=4)
    assert pristine == [work / "01_x.ipynb"] and not messages
    assert copy.cells[1].source == "x = None\npass  # YOUR CODE HERE" and copy.cells[1].outputs == []
    assert copy.cells[2].outputs == [] and copy.cells[2].metadata.editable is False  # no stored ✅
    assert copy.cells[3].outputs[0].text == "a table\n"  # the other cells keep their outputs

    _exercise_course(tmp_path, answer="x = 2 - 1")  # the course changes; the untouched copy follows
    assert lab.prepare_copies(work, source, kind="practice")[0] == [work / "01_x.ipynb"]

    copy.cells[1].source = "x = None\nx = 1"  # the learner's answer
    nbformat.write(copy, work / "01_x.ipynb")
    _exercise_course(tmp_path, answer="x = 3 - 2")
    pristine, messages = lab.prepare_copies(work, source, kind="practice")
    assert pristine == [work / "01_x.new.ipynb"] and "x = 1" in (work / "01_x.ipynb").read_text()
    new = nbformat.read(work / "01_x.new.ipynb", as_version=4)  # the course's new practice copy, blank
    assert new.cells[1].source == "x = None\npass  # YOUR CODE HERE" and "3 - 2" not in json.dumps(new)
    assert len(messages) == 1 and "01_x.ipynb: " in messages[0] and "in 01_x.new.ipynb." in messages[0]

    reference = tmp_path / "reference"  # make lab COPY=reference: the notebook itself, in its own folder
    lab.prepare_copies(reference, source, kind="reference")
    assert (reference / "01_x.ipynb").read_bytes() == (source / "01_x.ipynb").read_bytes()


def test_the_courses_new_version_goes_beside_the_learners_copy_and_never_over_a_changed_file(lab, tmp_path):
    source, work = _course(tmp_path), tmp_path / "work"
    lab.prepare_copies(work, source)
    mine = (work / "01_x.ipynb").read_text().replace("one", "my answer")
    (work / "01_x.ipynb").write_text(mine)
    assert lab.prepare_copies(work, source) == ([], [])  # the course has not changed: nothing to say

    _course(tmp_path, "two")
    pristine, messages = lab.prepare_copies(work, source)
    new = work / "01_x.new.ipynb"
    assert pristine == [new] and "two" in new.read_text() and (work / "01_x.ipynb").read_text() == mine
    assert messages == [lab.new_version_message("01_x.ipynb", new)] and "\n" not in messages[0]
    assert lab.prepare_copies(work, source) == ([new], messages)  # every start says it again, changes nothing

    _course(tmp_path, "three")  # an untouched .new.ipynb (the script's own) follows the course
    assert lab.prepare_copies(work, source)[0] == [new] and "three" in new.read_text()

    edited_new = new.read_text().replace("three", "my notes")  # the learner works in the .new copy too
    new.write_text(edited_new)
    _course(tmp_path, "four")
    pristine, messages = lab.prepare_copies(work, source)
    second = work / "01_x.new-2.ipynb"
    assert pristine == [second] and "four" in second.read_text() and new.read_text() == edited_new
    assert "in 01_x.new-2.ipynb (01_x.new.ipynb has changes of yours too" in messages[0]
    assert (work / "01_x.ipynb").read_text() == mine

    second.write_text("my own file")  # and in that one: the next free name, every changed file kept
    _course(tmp_path, "five")
    pristine, _ = lab.prepare_copies(work, source)
    assert pristine == [work / "01_x.new-3.ipynb"] and second.read_text() == "my own file"
    assert new.read_text() == edited_new and (work / "01_x.ipynb").read_text() == mine
