"""Start an `mlflow server` on loopback for local sweeps, and the command for `raylab ui`.

SQLite takes one writer at a time, so concurrent Tune trials log through one server process in
front of it. The server binds 127.0.0.1 only and is stopped by whoever started it.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


def _store(workdir: Path) -> tuple[str, str]:
    workdir = workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{workdir / 'mlflow.db'}", str(workdir / "mlartifacts")


def _mlflow_cli() -> list[str]:
    return [sys.executable, "-m", "mlflow"]


def ui_command(workdir: Path, *, port: int) -> list[str]:
    store, artifacts = _store(workdir)
    return [*_mlflow_cli(), "ui", "--backend-store-uri", store, "--default-artifact-root",
            Path(artifacts).as_uri(), "--host", "127.0.0.1", "--port", str(port)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LocalServer:
    """`with LocalServer(workdir) as uri:` -> http://127.0.0.1:<port>, stopped on exit."""

    def __init__(self, workdir: Path, *, timeout_s: float = 90.0) -> None:
        self.workdir = workdir
        self.timeout_s = timeout_s
        self.proc: subprocess.Popen | None = None
        self.uri = ""

    def __enter__(self) -> str:
        store, artifacts = _store(self.workdir)
        port = free_port()
        log = open(self.workdir.resolve() / "mlflow-server.log", "ab")
        self.proc = subprocess.Popen(
            [*_mlflow_cli(), "server", "--backend-store-uri", store, "--default-artifact-root",
             Path(artifacts).as_uri(), "--host", "127.0.0.1", "--port", str(port),
             "--workers", "1"],
            stdout=log, stderr=subprocess.STDOUT)
        self.uri = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + self.timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mlflow server exited; see {self.workdir}/mlflow-server.log")
            try:
                with urllib.request.urlopen(self.uri + "/health", timeout=2) as r:
                    if r.status == 200:
                        return self.uri
            except OSError:
                time.sleep(0.5)
        self.__exit__()
        raise RuntimeError(f"mlflow server did not answer on {self.uri} in {self.timeout_s:.0f} s")

    def __exit__(self, *exc) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
