"""Build the course's static site with Jupyter Book 1 (`make site`; runs in .venv-site, not the course env).

Stages a book in build/site-src/ (site/_config.yml, site/intro.md, the executed notebooks/*.ipynb, a table
of contents generated from them, MathJax 3 copied from node_modules/mathjax so math renders offline), then
runs `jupyter-book build` without executing anything. The HTML ends up in build/site/_build/html/.
The live demo (demo/: the capstone's models run by LiteRT.js) is copied to html/demo/ with the LiteRT.js
files it loads (vendor/@litertjs/..., from node_modules), so a static host serves it too.

Each page has a download button for its .ipynb (the runnable notebook). With SITE_REPOSITORY_URL set (and
optionally SITE_BRANCH, SITE_BINDERHUB_URL, SITE_JUPYTERHUB_URL), pages also get launch buttons that open
the notebook on Binder or the class's JupyterHub.
"""
from __future__ import annotations

import json
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
DEMO = REPO / "demo"
LITERT = REPO / "node_modules" / "@litertjs"
#: What the demo page loads from LiteRT.js: its modules and the two single-threaded WebAssembly builds
#: (relaxed SIMD, and "compat" for browsers without it). The threaded and JSPI builds are not used.
LITERT_FILES = ["core/package.json", "core/dist/index.js", "wasm-utils/package.json", "wasm-utils/dist/index.js",
                *(f"core/wasm/litert_wasm{v}_internal.{ext}" for v in ("", "_compat") for ext in ("js", "wasm"))]
DEMO_LINK = """

## The live demo

<a href="demo/index.html">Pose it yourself</a>: the capstone's fp32 and int8 pose models running in your browser
(LiteRT.js, WebAssembly, nothing leaves this page). Drag the stick figure's joints and watch both models follow.
"""


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
    if DEMO.exists():
        with open(STAGE / "intro.md", "a", encoding="utf-8") as intro:
            intro.write(DEMO_LINK)
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


def copy_demo(html: Path) -> Path:
    """demo/ and the LiteRT.js files it loads into html/demo/; check that everything it needs is there."""
    missing = [name for name in LITERT_FILES if not (LITERT / name).exists()]
    if missing:
        raise SystemExit(f"make site: node_modules/@litertjs lacks {missing}: run `npm ci` (make site does)")
    target = html / "demo"
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(DEMO, target, ignore=shutil.ignore_patterns("vendor", "*.tmp"))
    for name in LITERT_FILES:
        (target / "vendor" / "@litertjs" / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(LITERT / name, target / "vendor" / "@litertjs" / name)
    manifest = json.loads((target / "models" / "models.json").read_text())
    problems = [f"demo/models/{m['file']} is missing" for m in manifest["models"]
                if not (target / "models" / m["file"]).exists()]
    text = (target / "index.html").read_text(encoding="utf-8")
    loaded = re.findall(r'<(?:script|link|img)[^>]+(?:src|href)="([^"]+)"', text) + re.findall(r'": "([^"]+)"', text)
    remote = [src for src in loaded if src.startswith(("http:", "https:", "//"))]
    if remote:
        problems.append(f"demo/index.html loads from the internet: {remote}")
    if problems:
        raise SystemExit("make site: " + "; ".join(problems))
    return target


def main() -> int:
    pages = stage()
    jupyter_book = Path(sys.executable).parent / "jupyter-book"
    subprocess.run([str(jupyter_book), "build", str(STAGE), "--path-output", str(OUT), "--builder", "html"],
                   check=True)
    html = check(pages)
    print(f"Site: {html / 'index.html'} ({len(pages)} notebooks; math, figures and downloads work offline)")
    if DEMO.exists():
        demo = copy_demo(html)
        print(f"Live demo: {demo / 'index.html'} (LiteRT.js and the models copied in; serve the folder over http, "
              "e.g. `python -m http.server -d build/site/_build/html`, then open /demo/)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
