"""Serve the live demo (demo/) on 127.0.0.1 with the headers it wants, using only the standard library.

    python scripts/serve_demo.py [--port 8000]        (what `make demo` runs)

URL layout, the same as in the static site (make site):

    /demo/                          -> demo/ (index.html, demo.js, demo.css, models/)
    /demo/vendor/@litertjs/<pkg>/   -> node_modules/@litertjs/<pkg>/  (LiteRT.js and its WebAssembly; `npm ci`)

Every response carries Cross-Origin-Opener-Policy / Cross-Origin-Embedder-Policy, so the page is
cross-origin isolated and performance.now() is fine-grained enough to time sub-millisecond calls.
Only those two folders are served; nothing else of the repository. The tests (tests/test_demo.py)
start this script and read the URL from its first line of output.
"""
from __future__ import annotations

import argparse
import http.server
import posixpath
import sys
import urllib.parse
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "demo"
VENDOR = ROOT / "node_modules" / "@litertjs"
HEADERS = {
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Embedder-Policy": "require-corp",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Cache-Control": "no-cache",
}


class DemoHandler(http.server.SimpleHTTPRequestHandler):
    """Static files from demo/ and node_modules/@litertjs/, with isolation headers."""

    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map, ".wasm": "application/wasm",
                      ".js": "text/javascript", ".mjs": "text/javascript", ".json": "application/json",
                      ".tflite": "application/octet-stream", ".map": "application/json"}

    def __init__(self, *args, quiet: bool = True, **kwargs):
        self.quiet = quiet
        super().__init__(*args, directory=str(DEMO), **kwargs)

    def translate_path(self, path: str) -> str:
        path = posixpath.normpath(urllib.parse.unquote(urllib.parse.urlsplit(path).path))
        parts = [p for p in path.split("/") if p and p not in (".", "..")]
        if parts[:1] != ["demo"]:
            return str(DEMO / "__not_served__")
        if parts[1:3] == ["vendor", "@litertjs"]:
            return str(VENDOR.joinpath(*parts[3:]))
        return str(DEMO.joinpath(*parts[1:]))

    def do_GET(self):
        if urllib.parse.urlsplit(self.path).path in ("", "/"):
            self.send_response(302)
            self.send_header("Location", "/demo/")
            self.end_headers()
            return
        super().do_GET()

    def end_headers(self):
        for key, value in HEADERS.items():
            self.send_header(key, value)
        super().end_headers()

    def log_message(self, format, *args):
        if not self.quiet:
            super().log_message(format, *args)


def make_server(port: int = 8000, quiet: bool = True) -> http.server.ThreadingHTTPServer:
    """A server on 127.0.0.1:port (0 = any free port); call serve_forever() on it."""
    return http.server.ThreadingHTTPServer(("127.0.0.1", port), partial(DemoHandler, quiet=quiet))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8000, help="port on 127.0.0.1 (0: any free port)")
    parser.add_argument("--log", action="store_true", help="print one line per request")
    args = parser.parse_args(argv)
    missing = [p for p in (DEMO / "index.html", VENDOR / "core" / "wasm") if not p.exists()]
    if missing:
        print(f"missing: {', '.join(map(str, missing))}. Run `npm ci` in {ROOT} (make demo does).", file=sys.stderr)
        return 1
    try:
        server = make_server(args.port, quiet=not args.log)
    except OSError as exc:
        print(f"cannot listen on 127.0.0.1:{args.port} ({exc}); try `make demo DEMO_PORT=8001`", file=sys.stderr)
        return 1
    print(f"Live demo: http://127.0.0.1:{server.server_address[1]}/demo/  (Ctrl-C to stop)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
