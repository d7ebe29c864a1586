"""A classroom on one machine: a real JupyterHub on loopback with simulated learners.

    python scripts/hub_smoke.py [--learners 3] [--notebook 01_measuring_models.ipynb] [--full]

Starts JupyterHub (DummyAuthenticator, SimpleLocalProcessSpawner, configurable-http-proxy from
node_modules/, installed by `npm ci`) on 127.0.0.1 in a temporary folder. Then all learners at once:
each is created through the hub's REST API, gets a single-user Jupyter server spawned by the hub,
starts a kernel on it *through the hub's proxy*, and executes every code cell of the notebook over the
kernel's websocket, as JupyterLab does. A sampler records each kernel's peak resident memory (RSS,
from /proc via psutil) and the single-user server's. Prints one row per learner and writes a JSON
report when --report is given. Fast mode (COURSE_FAST=1) unless --full. Everything stops by itself:
servers, hub and proxy are shut down at the end, and every step has a time limit.
"""
from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import nbformat
import psutil

REPO = Path(__file__).resolve().parent.parent
CHP = REPO / "node_modules" / ".bin" / "configurable-http-proxy"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Hub:
    """A JupyterHub process in its own folder, talked to through its REST API with a service token."""

    def __init__(self, workdir: Path, fast: bool = True, cpu_threads: int | None = None):
        if not CHP.exists():
            raise FileNotFoundError(f"{CHP} is missing: run `npm ci` in {REPO} (installs configurable-http-proxy)")
        self.dir = workdir
        self.port = _free_port()
        self.token = secrets.token_hex(24)
        self.url = f"http://127.0.0.1:{self.port}"
        env = {"COURSE_FAST": "1" if fast else "0", "COURSE_RESULTS_DIR": str(workdir / "results"),
               "PYTHONPATH": str(REPO), "MPLBACKEND": "Agg", "TF_CPP_MIN_LOG_LEVEL": "2"}
        if cpu_threads:
            env["OMP_NUM_THREADS"] = str(cpu_threads)
        singleuser = Path(sys.executable).parent / "jupyterhub-singleuser"
        args = ["--allow-root"] if os.geteuid() == 0 else []
        config = f"""
c = get_config()  # noqa
c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = {self.port}
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = {_free_port()}
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{_free_port()}"
c.ConfigurableHTTPProxy.command = [{str(CHP)!r}]
c.JupyterHub.authenticator_class = "dummy"
c.Authenticator.allow_all = True
c.JupyterHub.spawner_class = "simple"
c.SimpleLocalProcessSpawner.home_dir_template = {str(workdir / "home" / "{username}")!r}
c.Spawner.cmd = [{str(singleuser)!r}]
c.Spawner.args = {args!r}
c.Spawner.environment = {env!r}
c.Spawner.start_timeout = 180
c.Spawner.http_timeout = 180
c.JupyterHub.db_url = "sqlite:///{workdir / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = {str(workdir / 'cookie_secret')!r}
c.JupyterHub.pid_file = {str(workdir / 'jupyterhub.pid')!r}
c.JupyterHub.cleanup_servers = True
c.JupyterHub.services = [{{"name": "classroom-smoke", "api_token": {self.token!r}}}]
c.JupyterHub.load_roles = [{{"name": "classroom-smoke", "services": ["classroom-smoke"],
    "scopes": ["admin:users", "admin:servers", "access:servers", "read:users"]}}]
"""
        (workdir / "jupyterhub_config.py").write_text(config)
        self.log = open(workdir / "jupyterhub.log", "w")
        self.proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "jupyterhub"), "-f", str(workdir / "jupyterhub_config.py")],
            cwd=workdir, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            self._wait_up()
        except BaseException:
            self.stop()
            raise

    def _wait_up(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                self.api("GET", "")  # the hub's version, once the hub and its proxy route are up
                return
            except urllib.error.HTTPError as exc:
                if exc.code not in (404, 502, 503):  # the proxy answers these until the hub's route is set
                    raise
                time.sleep(0.5)
            except OSError:
                time.sleep(0.5)
        raise RuntimeError("JupyterHub did not start; its log:\n" + self.log_tail())

    def log_tail(self, chars: int = 4000) -> str:
        if not self.log.closed:
            self.log.flush()
        return (self.dir / "jupyterhub.log").read_text()[-chars:]

    def request(self, method: str, url: str, body: dict | None = None, timeout: float = 60):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(url, data=data, method=method,
                                     headers={"Authorization": f"token {self.token}",
                                              "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=timeout) as response:
            text = response.read()
            return json.loads(text) if text else None

    def api(self, method: str, path: str, body: dict | None = None):
        return self.request(method, f"{self.url}/hub/api{path}", body)

    def stop(self) -> None:
        """Stop the hub (it stops the servers it spawned) and anything left of its process tree."""
        try:
            family = psutil.Process(self.proc.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            family = []
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        for child in family:
            try:
                child.kill()
            except psutil.NoSuchProcess:
                pass
        self.log.close()


def _peak_rss(proc: psutil.Process) -> int:
    """The process's peak resident memory so far (Linux VmHWM), else its current RSS."""
    try:
        for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return proc.memory_info().rss


class MemorySampler(threading.Thread):
    """Peak RSS of every process under the hub (the kernel's own high-water mark, read every 0.2 s), by pid."""

    def __init__(self, root_pid: int):
        super().__init__(daemon=True)
        self.root = psutil.Process(root_pid)
        self.peak: dict[int, int] = {}
        self.cmdline: dict[int, str] = {}
        self.parent: dict[int, int] = {}
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            try:
                children = self.root.children(recursive=True)
            except psutil.NoSuchProcess:
                return
            for proc in children:
                try:
                    rss = _peak_rss(proc)
                    # every command line a pid had: a process forked by a server carries the server's until exec
                    text, seen = " ".join(proc.cmdline()), self.cmdline.get(proc.pid, "")
                    if text and text not in seen:
                        self.cmdline[proc.pid] = f"{seen} | {text}" if seen else text
                    self.parent.setdefault(proc.pid, proc.ppid())
                except psutil.Error:
                    continue
                self.peak[proc.pid] = max(rss, self.peak.get(proc.pid, 0))
            self.done.wait(0.2)

    def pids_of(self, needle: str) -> list[int]:
        return [pid for pid, cmdline in self.cmdline.items() if needle in cmdline]

    def peak_of(self, pids: list[int]) -> int:
        return max((self.peak.get(pid, 0) for pid in pids), default=0)


def run_cells(ws_url: str, token: str, cells: list[str], timeout: float) -> list[str]:
    """Execute code cells in order over a kernel websocket; return the error messages (none: all ran).

    ``timeout`` bounds each cell's run time (a deadline from the moment the cell is sent, not a wait for the
    next message). A kernel that dies (the server reports it restarting or dead, e.g. killed at its memory
    limit) is reported as such, with the cell it was running."""
    import websocket  # websocket-client, a jupyter_server dependency

    ws = websocket.create_connection(ws_url, header=[f"Authorization: token {token}"], timeout=30)
    session, errors = uuid.uuid4().hex, []
    try:
        for index, source in enumerate(cells):
            msg_id, started = uuid.uuid4().hex, time.monotonic()
            ws.send(json.dumps({
                "header": {"msg_id": msg_id, "msg_type": "execute_request", "session": session,
                           "username": "learner", "version": "5.3", "date": ""},
                "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
                "content": {"code": source, "silent": False, "store_history": True, "user_expressions": {},
                            "allow_stdin": False, "stop_on_error": True},
            }))
            while True:
                if time.monotonic() - started > timeout:
                    errors.append(f"cell {index}: still running after {timeout:.0f} s (time-out of this test)")
                    break
                try:
                    msg = json.loads(ws.recv())
                except websocket.WebSocketTimeoutException:
                    continue  # a long cell that prints nothing for a while
                state = msg.get("content", {}).get("execution_state") if msg.get("msg_type") == "status" else None
                if state in ("restarting", "dead"):
                    errors.append(f"cell {index}: the kernel died ({state}) after {time.monotonic() - started:.0f} s "
                                  "in this cell")
                    break
                if msg.get("parent_header", {}).get("msg_id") != msg_id:
                    continue
                if msg["msg_type"] == "error":
                    errors.append(f"cell {index}: {msg['content']['ename']}: {msg['content']['evalue']}")
                if msg["msg_type"] == "execute_reply":
                    break
            if errors:
                break
    finally:
        ws.close()
    return errors


def learner(hub: Hub, name: str, cells: list[str], cell_timeout: float, result: dict) -> None:
    """One learner: spawn a server through the hub, start a kernel through the proxy, run the notebook."""
    t0 = time.monotonic()
    try:
        hub.api("POST", f"/users/{name}")
        hub.api("POST", f"/users/{name}/server")
        deadline = time.monotonic() + 180
        while not (hub.api("GET", f"/users/{name}")["servers"].get("", {}) or {}).get("ready"):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{name}'s server was not ready after 180 s")
            time.sleep(0.5)
        result["spawn_s"] = time.monotonic() - t0
        base = f"{hub.url}/user/{name}"
        kernel = hub.request("POST", f"{base}/api/kernels", {"name": "python3"})
        result["kernel_id"] = kernel["id"]
        t1 = time.monotonic()
        ws_url = base.replace("http://", "ws://") + f"/api/kernels/{kernel['id']}/channels"
        result["errors"] = run_cells(ws_url, hub.token, cells, cell_timeout)
        result["run_s"] = time.monotonic() - t1
        hub.request("DELETE", f"{base}/api/kernels/{kernel['id']}")
        hub.api("DELETE", f"/users/{name}/server")
    except Exception as exc:  # reported per learner; the caller decides
        result.setdefault("errors", []).append(f"{type(exc).__name__}: {exc}")
    result["total_s"] = time.monotonic() - t0


def classroom(learners: int, notebook: str, fast: bool = True, cell_timeout: float = 600) -> dict:
    """Run ``learners`` simulated learners at once on a local hub; return the measurements."""
    from course_lib import data

    for name in data.available():  # generate once here, not by every learner's kernel at once
        data.ensure_generated(name)
    nb = nbformat.read(REPO / "notebooks" / notebook, as_version=4)
    cells = [c.source for c in nb.cells if c.cell_type == "code" and c.source.strip()]
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="hub-smoke-") as tmp:
        hub = Hub(Path(tmp), fast=fast)
        sampler = MemorySampler(hub.proc.pid)
        sampler.start()
        try:
            names = [f"learner{i + 1}" for i in range(learners)]
            results = {name: {} for name in names}
            t0 = time.monotonic()
            threads = [threading.Thread(target=learner, args=(hub, n, cells, cell_timeout, results[n]), daemon=True)
                       for n in names]
            for thread in threads:
                thread.start()
            for thread in threads:
                while thread.is_alive():  # short joins, so that Ctrl-C still reaches the clean-up below
                    thread.join(0.5)
            wall = time.monotonic() - t0
            sampler.done.set()
            sampler.join()
            for res in results.values():
                kernels = sampler.pids_of(res.get("kernel_id", "<no kernel>"))  # its connection file names it
                res["kernel_peak_mb"] = sampler.peak_of(kernels) / 2**20
                servers = {sampler.parent[pid] for pid in kernels} - set(kernels)
                res["server_peak_mb"] = sampler.peak_of(sorted(servers)) / 2**20
            log = hub.log_tail() if any(r.get("errors") for r in results.values()) else ""
        finally:
            sampler.done.set()
            hub.stop()
    return {"learners": learners, "notebook": notebook, "mode": "fast" if fast else "full",
            "cores": os.cpu_count(), "wall_s": wall, "load_before": load_before,
            "load_after": os.getloadavg()[0], "results": results, "hub_log_tail": log}


def report(measured: dict) -> str:
    lines = [f"{measured['learners']} learners at once, {measured['notebook']} ({measured['mode']} mode), "
             f"{measured['cores']} cores (load average {measured['load_before']:.1f} before, "
             f"{measured['load_after']:.1f} after), wall time {measured['wall_s']:.0f} s",
             f"{'learner':10s} {'spawn s':>8s} {'run s':>7s} {'total s':>8s} {'kernel peak MB':>15s} "
             f"{'server peak MB':>15s}  errors"]
    for name, r in measured["results"].items():
        lines.append(f"{name:10s} {r.get('spawn_s', float('nan')):8.1f} {r.get('run_s', float('nan')):7.1f} "
                     f"{r.get('total_s', float('nan')):8.1f} {r.get('kernel_peak_mb', 0):15.0f} "
                     f"{r.get('server_peak_mb', 0):15.0f}  {'; '.join(r.get('errors', [])) or '-'}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--learners", type=int, default=3)
    parser.add_argument("--notebook", default="01_measuring_models.ipynb")
    parser.add_argument("--full", action="store_true", help="full mode instead of fast mode")
    parser.add_argument("--report", type=Path, help="also write the measurements as JSON here")
    args = parser.parse_args(argv)
    if args.learners < 1:
        parser.error("--learners must be at least 1")
    if not (REPO / "notebooks" / args.notebook).exists():
        parser.error(f"--notebook: notebooks/{args.notebook} does not exist")
    # A cell may run for many minutes in full mode when learners share the cores (03's sweep: 5 min alone).
    measured = classroom(args.learners, args.notebook, fast=not args.full, cell_timeout=3600 if args.full else 600)
    print(report(measured))
    if args.report:
        args.report.write_text(json.dumps(measured, indent=1))
    failed = [n for n, r in measured["results"].items() if r.get("errors")]
    if failed:
        print(measured["hub_log_tail"])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
