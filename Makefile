# Lightweight Deep Learning Lab: `make lab` to work, `make test` to check everything.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.install-stamp
PORT ?= 8888
# No display (a server, a container, SSH): do not try to open a browser, just print the URL.
# Root (containers, JupyterHub images) must say so explicitly to Jupyter.
ALLOW_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root,)
NO_BROWSER := $(if $(or $(DISPLAY),$(WAYLAND_DISPLAY),$(filter Darwin,$(shell uname -s))),,--no-browser)

.PHONY: install lab progress test unit nbval timings execute benchmark student autograde site demo hub-smoke checkpoints clean-venv help

help:
	@echo "make lab      install into .venv (first time) and open JupyterLab on your practice copies (my_notebooks/: exercises blank)"
	@echo "make lab COPY=reference   the same on reference copies, with the solutions (my_notebooks_reference/)"
	@echo "make progress your exercises: done, tried or not started, with the date of the last try"
	@echo "make test     install if needed, run the unit tests and nbval over every notebook (fast mode)"
	@echo "make timings  time every notebook in fast and full mode (copies; your notebooks are not touched)"
	@echo "make checkpoints  maintainers: train the capstone's checkpoints (checkpoints/; resumable, an up-to-date one is skipped)"
	@echo "make execute  maintainers: re-run every notebook in full mode and save its outputs"
	@echo "make benchmark  this machine's card: roofline, 08 and capstone models fp32/int8 at 1 and 2 threads (benchmarks/<cpu>.json; 71 s on the reference machine)"
	@echo "make student  instructors: student copies (solutions removed) in grading/release/ with nbgrader"
	@echo "make autograde  instructors: grade the submissions collected in grading/submitted/ (strict checks)"
	@echo "make site     build the executed notebooks into a static site (build/site/_build/html, offline)"
	@echo "make demo     serve the live demo (demo/: the capstone's models in the browser) on 127.0.0.1 and print its URL"
	@echo "make hub-smoke LEARNERS=4 NOTEBOOK=03_mobilenet_v2.ipynb  a local JupyterHub classroom, timed"

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "The course needs Python 3.11; found " + sys.version.split()[0] + ". Install python3.11 or run: make PYTHON=/path/to/python3.11 ...")'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@# uv installs the same pinned set as pip, several times faster (2-core machine, nothing cached: 35 s instead of
	@# 123 s). --compile-bytecode as pip does: without the .pyc files every new Python process (each kernel, each
	@# test worker) compiles TensorFlow's modules again (import 13.8 s instead of 4.9 s). uv does not read pip's
	@# settings (a company mirror in pip.conf, say): if it fails, pip (upgraded first) installs everything.
	@{ $(PY) -m pip install --quiet --disable-pip-version-check uv && \
	   $(VENV)/bin/uv pip install --quiet --compile-bytecode --python $(PY) -c constraints.txt -e ".[dev]"; } \
	  || { echo "uv could not install the course; installing with pip (a few minutes)"; \
	       $(PY) -m pip install --quiet --upgrade pip && \
	       $(PY) -m pip install --quiet -c constraints.txt -e ".[dev]"; }
	@touch $(STAMP)

# Node tools (package.json): configurable-http-proxy for the hub smoke test, MathJax for make site,
# LiteRT.js (@litertjs/core) for the live demo.
NODE_STAMP := node_modules/.install-stamp
$(NODE_STAMP): package.json package-lock.json
	@command -v npm >/dev/null || { echo "npm not found: install Node.js 20+ (apt-get install nodejs npm) for the hub smoke test and make site"; exit 1; }
	npm ci --no-audit --no-fund --loglevel=error
	@touch $(NODE_STAMP)

install: $(STAMP) $(NODE_STAMP)

# make lab: scripts/lab.py copies notebooks/ to $(LAB_DIR)/ (your working copies; notebooks/ itself is never
# changed), trusts them so stored widgets render, turns off JupyterLab's news pop-up, then starts JupyterLab.
# COPY=practice (default): exercises blank, as in nbgrader's student copies, in my_notebooks/;
# COPY=reference: the committed notebooks with their reference solutions, in my_notebooks_reference/.
# The browser test (tests/test_browser.py) starts JupyterLab through the same script.
COPY ?= practice
LAB_DIR ?= $(if $(filter reference,$(COPY)),my_notebooks_reference,my_notebooks)
lab: install
	@echo "Starting JupyterLab on $(LAB_DIR)/ (Ctrl-C to stop). Open the URL printed below."
	$(PY) scripts/lab.py --copy $(COPY) --workdir $(LAB_DIR) -- --port=$(PORT) $(NO_BROWSER) $(ALLOW_ROOT)

# make progress: what every checker run recorded in results/progress.json (the view of 00's last section).
progress: install
	@$(PY) scripts/lab.py --progress

# make test: unit tests + nbval (lax) over every notebook, in fast mode, with a throw-away results folder
# so your own ledger is never touched, and strict checks so a broken exercise solution fails the run.
# Two workers (pytest-xdist, TEST_WORKERS=0 for one process): much of a notebook's time is single-threaded
# (graph tracing, conversion, Python), so a second one overlaps it. --dist loadscope keeps each notebook's
# cells (and each test file) on one worker, in order; --no-loadscope-reorder hands the files out longest first
# (conftest.py's LONGEST_FIRST) instead of by number of tests, which left a 7-minute grading half for the end.
# The datasets are generated first, once, two at a time (data.ensure_all), not by the two test workers.
TEST_WORKERS ?= 2
test: install
	@$(PY) -c "from course_lib import data; data.ensure_all(workers=2)"
	@results=$$(mktemp -d); \
	COURSE_FAST=1 COURSE_STRICT_CHECKS=1 COURSE_RESULTS_DIR=$$results MPLBACKEND=Agg \
	  $(PY) -m pytest tests notebooks --nbval-lax --nbval-current-env --nbval-cell-timeout=600 \
	  --sanitize-with tests/nbval_sanitize.cfg -q -p no:cacheprovider -n $(TEST_WORKERS) --dist loadscope --no-loadscope-reorder; \
	status=$$?; rm -rf $$results; exit $$status

unit: install
	COURSE_FAST=1 $(PY) -m pytest tests -q -m "not slow"

timings: install
	$(PY) tests/time_notebooks.py

# make checkpoints: train every model the capstone's pipeline meets, to its recipe's budget, into checkpoints/
# (scripts/checkpoints.py; course_lib.checkpoints). Stop it any time: what is up to date is skipped next time.
checkpoints: install
	$(PY) scripts/checkpoints.py

execute: install
	@git diff --quiet -- notebooks || { echo "notebooks/ has uncommitted changes; commit or stash them first (make execute overwrites outputs)."; exit 1; }
	COURSE_EXPORT_DEMO=1 $(PY) tests/time_notebooks.py --execute-in-place

# make benchmark: one JSON card per machine in benchmarks/ (course_lib.cards; scripts/benchmark.py): CPU, flags,
# versions, the roofline probes, every model of 08 and the capstone in fp32 and int8 at 1 and 2 threads, the page's
# models, per-operator profiles. A card of another machine is never overwritten; this machine's is replaced.
# Run it on a quiet machine: the numbers are what other runs are compared with.
benchmark: install
	MPLBACKEND=Agg $(PY) scripts/benchmark.py

# Instructors (README, "Teaching with it"): nbgrader course directory grading/, one assignment per notebook.
student: install
	$(PY) tools/nbgrader_tag.py --check
	$(PY) tools/classroom.py student

autograde: install
	$(PY) tools/classroom.py autograde
# make site: Jupyter Book 1 in its own environment (.venv-site; it needs markdown-it-py 3, the course pins 4),
# pinned by site/constraints.txt; MathJax comes from node_modules (npm ci), so the site works offline.
SITE_VENV := .venv-site
SITE_STAMP := $(SITE_VENV)/.install-stamp
$(SITE_STAMP): site/requirements.txt site/constraints.txt
	@test -x $(SITE_VENV)/bin/python || $(PYTHON) -m venv $(SITE_VENV)
	$(SITE_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(SITE_VENV)/bin/python -m pip install --quiet -c site/constraints.txt -r site/requirements.txt
	@touch $(SITE_STAMP)

site: $(SITE_STAMP) $(NODE_STAMP)
	$(SITE_VENV)/bin/python site/build.py

# make demo: the capstone's models live in a static page (demo/), run by LiteRT.js from node_modules; a
# standard-library server on 127.0.0.1 (scripts/serve_demo.py, also used by tests/test_demo.py).
DEMO_PORT ?= 8000
demo: $(NODE_STAMP)
	$(PYTHON) scripts/serve_demo.py --port $(DEMO_PORT)

LEARNERS ?= 3
NOTEBOOK ?= 01_measuring_models.ipynb
hub-smoke: install
	$(PY) scripts/hub_smoke.py --learners $(LEARNERS) --notebook $(NOTEBOOK)

clean-venv:
	rm -rf $(VENV)
