"""The lab as a learner meets it, in a real browser (Playwright driving Debian's Chromium, on loopback).

JupyterLab is started through ``scripts/lab.py``, the command ``make lab`` runs, on practice copies (the
default: exercises blank) in a temporary folder with a temporary Jupyter data/config folder and results folder (a
new learner). The test checks that

- the stored widgets of 02 render as widgets, not as ``interactive(children=...`` text (copies trusted);
- no "Jupyter news" pop-up shows;
- after Run All (fast mode) no cell shows a traceback (the blank exercises' checkers print ❌), and moving the Dk
  slider changes the printed costs;
- in 00, after Run All, the warm-up's checker names its hint ladder; a cell the learner adds with
  ``hints.ask("00 Ex0")`` prints hint 1; the progress view lists 00's and 02's exercises as tried;
- the course's notebooks/ is unchanged afterwards.

A screenshot is saved to build/test-browser/ (git-ignored) for a person to look at.
Needs the ``playwright`` Python package (in the dev extra) and Chromium (``apt-get install chromium``);
Playwright's own browser download is not used.
"""
from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = "02_depthwise_separable.ipynb"
SCREENSHOTS = ROOT / "build" / "test-browser"
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]
HOW_TO_GET = (
    "The browser test needs Chromium and the playwright package: `apt-get install chromium` "
    "(Debian/Ubuntu; or set COURSE_CHROMIUM=/path/to/chromium) and `pip install -c constraints.txt -e .[dev]`."
)


def _chromium() -> str:
    for candidate in (os.environ.get("COURSE_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium"),
                      shutil.which("chromium-browser")):
        if candidate and Path(candidate).exists():
            return candidate
    return ""


def _missing(reason: str):
    # In CI a missing browser is a failure (.ci/run installs it); on a laptop, a visible skip with the fix.
    if os.environ.get("CI"):
        pytest.fail(f"{reason}. {HOW_TO_GET}")
    pytest.skip(f"{reason}. {HOW_TO_GET}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _git_status_notebooks() -> str:
    return subprocess.run(["git", "status", "--porcelain", "--", "notebooks"], cwd=ROOT,
                          capture_output=True, text=True, check=True).stdout


@pytest.fixture
def lab(tmp_path):
    """JupyterLab started by make lab's script on fresh working copies; yields (base URL, token, workdir)."""
    port, token = _free_port(), secrets.token_hex(16)
    env = dict(os.environ)
    for name in ("data", "config", "runtime"):
        (tmp_path / name).mkdir()
    env.update(JUPYTER_DATA_DIR=str(tmp_path / "data"), JUPYTER_CONFIG_DIR=str(tmp_path / "config"),
               JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"), COURSE_FAST="1",
               COURSE_RESULTS_DIR=str(tmp_path / "results"), PYTHONPATH=str(ROOT))
    env.pop("MPLBACKEND", None)  # the learner's kernel plots inline
    env.pop("COURSE_STRICT_CHECKS", None)  # (make test sets it) a learner's failed check prints, it does not raise
    workdir = tmp_path / "my_notebooks"
    command = [sys.executable, str(ROOT / "scripts" / "lab.py"), "--workdir", str(workdir), "--",
               "--no-browser", f"--port={port}", "--ServerApp.ip=127.0.0.1", f"--IdentityProvider.token={token}",
               "--ServerApp.port_retries=0"]
    if os.geteuid() == 0:
        command.append("--allow-root")
    log = open(tmp_path / "lab.log", "w")
    server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2)
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    log.flush()
                    pytest.fail("JupyterLab did not start:\n" + (tmp_path / "lab.log").read_text()[-3000:])
                time.sleep(0.5)
        yield base, token, workdir
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        log.close()


VISIBLE_PROMPTS = "document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell .jp-InputPrompt')"


def _run_all(page, notebook) -> None:
    """Run All through the menu, as a learner would, then wait until no cell of ``notebook`` is queued or running.

    Two races are closed here. Run All acts on the current notebook, and right after a page load JupyterLab may
    still be restoring another one: the notebook is clicked first, and only the visible notebook's prompts are
    watched. And JupyterLab clears a cell instead of running it when the notebook's kernel is not connected yet
    (``CodeCell.execute`` returns at once without ``session.kernel``): so Run All waits until the notebook's kernel
    indicator says idle. A learner sees the same thing: cells run before the kernel is up do nothing."""
    notebook.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").wait_for(timeout=120_000)
    notebook.locator(".jp-Cell").first.click()
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.locator(".lm-Menu-item:not(.lm-mod-disabled) .lm-Menu-itemLabel", has_text="Run All Cells").first.click()
    try:
        page.wait_for_function(
            f"""() => {{
                const prompts = [...{VISIBLE_PROMPTS}].map(e => e.textContent);
                return prompts.length > 0 && prompts.every(t => !t.includes('*'))
                    && prompts.some(t => /\\[\\d+\\]/.test(t));
            }}""",
            timeout=180_000,
        )
    except Exception:
        page.screenshot(path=str(SCREENSHOTS / "run_all_timed_out.png"))
        prompts = page.evaluate(f"() => [...{VISIBLE_PROMPTS}].map(e => e.textContent)")
        status = notebook.locator(".jp-Notebook-ExecutionIndicator").first.get_attribute("data-status")
        raise AssertionError(f"Run All did not finish within 180 s; kernel status {status!r}; prompts {prompts}")


def _hint_and_progress(page, base: str, token: str) -> None:
    """00's practice copy: the checker names the hint ladder, one call prints hint 1, the progress view shows tries."""
    page.goto(f"{base}/lab/tree/00_welcome.ipynb?token={token}")
    notebook = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)", has_text="Welcome to the Lightweight")
    notebook.locator(".jp-Cell").first.wait_for(timeout=60_000)
    _run_all(page, notebook)
    checker = notebook.locator(".jp-CodeCell", has_text="exercises.check_weight_bytes(weight_bytes)")
    checker.locator(".jp-OutputArea-output", has_text="❌").wait_for(timeout=30_000)
    checker.scroll_into_view_if_needed()
    checker_text = checker.locator(".jp-Cell-outputArea").text_content()
    assert "❌" in checker_text and 'hints.ask("00 Ex0")' in checker_text, checker_text

    # The learner adds a cell below the checker and asks for a hint: one call.
    checker.locator(".jp-InputArea").click()
    page.keyboard.press("Escape")
    page.keyboard.press("b")
    page.keyboard.press("Enter")
    page.keyboard.insert_text('from course_lib import hints; hints.ask("00 Ex0")')
    page.keyboard.press("Shift+Enter")
    asked = notebook.locator(".jp-CodeCell", has_text='hints.ask("00 Ex0")').filter(has_not_text="weight_bytes")
    asked.locator(".jp-OutputArea-output", has_text="Hint 1 of 2 for 00 Ex0").wait_for(timeout=60_000)
    asked.scroll_into_view_if_needed()
    page.screenshot(path=str(SCREENSHOTS / "hint_1.png"))

    # The progress view (00's section), run again after the hint: the tries of 00 and of 02's Run All.
    view = notebook.locator(".jp-CodeCell", has_text="progress.show()")
    view.locator(".jp-InputArea").click()
    page.keyboard.press("Escape")
    page.keyboard.press("Control+Enter")
    output = view.locator(".jp-OutputArea-output", has_text="1 hint")
    output.wait_for(timeout=60_000)
    view.scroll_into_view_if_needed()
    text = output.text_content()
    lines = {line.split()[1] + " " + line.split()[2]: line for line in text.splitlines() if " Ex" in line}
    assert "tried" in lines["00 Ex0"] and "last try" in lines["00 Ex0"], text
    assert all("tried" in lines[f"02 Ex{k}"] for k in range(1, 5)), text
    assert "not started" in lines["05 Ex1"], text
    view.scroll_into_view_if_needed()
    page.screenshot(path=str(SCREENSHOTS / "progress_view.png"))


def test_lab_in_chromium(lab):
    chromium = _chromium()
    if not chromium:
        _missing("Chromium was not found")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("The playwright package is not installed")
    before = _git_status_notebooks()
    base, token, workdir = lab
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"{base}/lab/tree/{NOTEBOOK}?token={token}")
            page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
            widget_cell = page.locator(".jp-CodeCell", has_text="widgets.interact(cost_view")
            widget_cell.scroll_into_view_if_needed()

            # Stored widgets render from the saved widget state (the copy is trusted).
            widget_cell.locator(".widget-slider").first.wait_for(timeout=30_000)
            assert widget_cell.locator(".widget-slider").count() >= 4
            assert "interactive(children=" not in widget_cell.locator(".jp-Cell-outputArea").inner_text()
            widget_cell.scroll_into_view_if_needed()
            widget_cell.screenshot(path=str(SCREENSHOTS / "stored_widgets.png"))

            # No "Jupyter news" question (it appears a moment after start-up when not turned off).
            page.wait_for_timeout(3000)
            assert page.get_by_text("Jupyter news").count() == 0, "the Jupyter news pop-up is showing"
            assert page.locator(".Toastify__toast").count() == 0, page.locator(".Toastify__toast").all_inner_texts()

            _run_all(page, page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)"))
            tracebacks = page.locator(".jp-OutputArea-output", has_text="Traceback")
            assert tracebacks.count() == 0, tracebacks.first.inner_text()[:2000]

            # The live widget: move the Dk slider one step with the keyboard; the printed costs follow.
            output = widget_cell.locator(".widget-output")
            page.wait_for_function(
                "(el) => el.innerText.includes('Dk=3,')", arg=output.first.element_handle(), timeout=30_000)
            before_text = output.first.inner_text()
            handle = widget_cell.locator(".widget-slider").first.locator(".noUi-handle")
            handle.focus()
            page.keyboard.press("ArrowRight")
            page.wait_for_function(
                "(el) => el.innerText.includes('Dk=5,')", arg=output.first.element_handle(), timeout=30_000)
            after_text = output.first.inner_text()
            assert after_text != before_text
            assert "Dk=5, M=32, N=64, Df=56" in after_text and "Dk=3, M=32, N=64, Df=56" in before_text
            widget_cell.scroll_into_view_if_needed()
            page.screenshot(path=str(SCREENSHOTS / "slider_moved.png"))

            _hint_and_progress(page, base, token)
        finally:
            browser.close()
    # The learner's run touched only the working copies.
    assert (workdir / NOTEBOOK).exists()
    assert _git_status_notebooks() == before, "the lab changed files in notebooks/"
