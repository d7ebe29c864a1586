"""Build the course's static site with Jupyter Book 1 (`make site`; runs in .venv-site, not the course env).

Stages a book in build/site-src/ (site/_config.yml, site/intro.md, the executed notebooks/*.ipynb, a table
of contents generated from them, MathJax 3 copied from node_modules/mathjax so math renders offline), then
runs `jupyter-book build` without executing anything. The HTML ends up in build/site/_build/html/.

Each page has a download button for its .ipynb (the runnable notebook). With SITE_REPOSITORY_URL set (and
optionally SITE_BRANCH, SITE_BINDERHUB_URL, SITE_JUPYTERHUB_URL), pages also get launch buttons that open
the notebook on Binder or the class's JupyterHub.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
SITE = REPO / "site"
STAGE = REPO / "build" / "site-src"
OUT = REPO / "build" / "site"
MATHJAX = REPO / "node_modules" / "mathjax" / "es5"


def stage() -> list[str]:
    """Lay out the book's sources in build/site-src; return the notebook page names."""
    if not MATHJAX.exists():
        raise SystemExit(f"{MATHJAX} is missing: run `npm ci` in {REPO} (make site does)")
    notebooks = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    if not notebooks:
        raise SystemExit("no notebooks/NN_*.ipynb found")
    if STAGE.exists():
        shutil.rmtree(STAGE)
    (STAGE / "notebooks").mkdir(parents=True)
    for nb in notebooks:
        shutil.copyfile(nb, STAGE / "notebooks" / nb.name)
    shutil.copyfile(SITE / "intro.md", STAGE / "intro.md")
    shutil.copytree(MATHJAX, STAGE / "_static" / "mathjax")

    config = yaml.safe_load((SITE / "_config.yml").read_text())
    repository = os.environ.get("SITE_REPOSITORY_URL")
    if repository:
        config["repository"] = {"url": repository, "branch": os.environ.get("SITE_BRANCH", "main")}
        config["launch_buttons"] = {"notebook_interface": "jupyterlab"}
        for variable, key in (("SITE_BINDERHUB_URL", "binderhub_url"), ("SITE_JUPYTERHUB_URL", "jupyterhub_url")):
            if os.environ.get(variable):
                config["launch_buttons"][key] = os.environ[variable]
    (STAGE / "_config.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    pages = [f"notebooks/{nb.stem}" for nb in notebooks]
    toc = {"format": "jb-book", "root": "intro", "chapters": [{"file": page} for page in pages]}
    (STAGE / "_toc.yml").write_text(yaml.safe_dump(toc, sort_keys=False))
    return pages


def check(pages: list[str]) -> Path:
    """The built HTML has every page, uses the bundled MathJax and offers each .ipynb for download."""
    html = OUT / "_build" / "html"
    problems = []
    for page in ["intro", *pages]:
        path = html / f"{page}.html"
        if not path.exists():
            problems.append(f"{path} was not built")
            continue
        text = path.read_text(encoding="utf-8")
        if "_static/mathjax/tex-chtml.js" not in text:
            problems.append(f"{path.name} does not load the bundled MathJax")
        remote = [src for src in re.findall(r'<script[^>]+src="([^"]+)"', text) if src.startswith(("http:", "https:", "//"))]
        if remote:
            problems.append(f"{path.name} loads scripts from the internet: {remote}")
        if page != "intro":
            if f"{Path(page).name}.ipynb" not in text:
                problems.append(f"{path.name} has no link to its .ipynb")
            if not (html / "_sources" / f"{page}.ipynb").exists():
                problems.append(f"_sources/{page}.ipynb (the download) is missing")
    if problems:
        raise SystemExit("make site: " + "; ".join(problems))
    return html


def main() -> int:
    pages = stage()
    jupyter_book = Path(sys.executable).parent / "jupyter-book"
    subprocess.run([str(jupyter_book), "build", str(STAGE), "--path-output", str(OUT), "--builder", "html"],
                   check=True)
    html = check(pages)
    print(f"Site: {html / 'index.html'} ({len(pages)} notebooks; math, figures and downloads work offline)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
