"""A local Prefect server for one job: started on a free port of 127.0.0.1 with its own ``PREFECT_HOME``, analytics
off, waited for until ``/api/health`` answers, and stopped (its whole process group) when the job ends.

    with local_server(tmp / "prefect-home") as server:
        subprocess.run(["prefect", "deploy", "--all"], env=server.env)   # the CLI and workers use server.env
        ...                                                              # this process's client is pointed at it too

The deployment test and ``tools/dashboard_screenshot.py`` use it; ``make dashboard`` starts a long-lived one on
port 4200 instead.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator


@dataclass(frozen=True)
class LocalServer:
    port: int
    env: dict[str, str]  # os.environ plus PREFECT_HOME, PREFECT_API_URL and the analytics switches
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api(self) -> str:
        return f"{self.url}/api"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def local_server(home: Path, *, ui: bool = True, timeout: float = 120,
                 env: dict[str, str] | None = None) -> Iterator[LocalServer]:
    """Run ``prefect server start`` for the duration of the ``with`` block. ``home`` becomes its PREFECT_HOME (the
    server log is written beside it); ``env`` (default: os.environ) is the base of the environment it and
    ``LocalServer.env`` get. Raises RuntimeError, with the server's log, if it exits or does not answer in
    ``timeout`` seconds. Inside the block this process's Prefect client talks to it through a temporary settings
    context rather than os.environ: Prefect reads the environment once, and code after the block must not inherit
    a dead server."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    home.mkdir(parents=True, exist_ok=True)
    port = free_port()
    bindir = str(Path(sys.executable).parent)
    base = dict(os.environ if env is None else env)
    server_env = {**base, "PREFECT_HOME": str(home), "PREFECT_API_URL": f"http://127.0.0.1:{port}/api",
                  "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1", "DVC_NO_ANALYTICS": "1",
                  "GX_ANALYTICS_ENABLED": "false", "PREFECT_SERVER_UI_ENABLED": "true" if ui else "false",
                  "PATH": f"{bindir}{os.pathsep}{base.get('PATH', '')}"}
    server = LocalServer(port=port, env=server_env, log=home.parent / f"{home.name}-server.log")
    prefect = str(Path(bindir) / "prefect")
    with open(server.log, "w") as log:
        proc = subprocess.Popen([prefect, "server", "start", "--host", "127.0.0.1", "--port", str(port),
                                 "--analytics-off"], env=server_env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        try:
            _wait_healthy(proc, server, timeout)
            with temporary_settings(updates={PREFECT_API_URL: server.api}):
                yield server
        finally:
            _stop(proc)


def _wait_healthy(proc: subprocess.Popen, server: LocalServer, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"{server.api}/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        if proc.poll() is not None:
            raise RuntimeError(f"prefect server exited {proc.returncode}; its log ({server.log}):\n"
                               f"{server.log.read_text()}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"prefect server did not answer {server.api}/health in {timeout:.0f} s; its log "
                               f"({server.log}):\n{server.log.read_text()}")
        time.sleep(1)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
