"""A real `dojo-nb serve` process on a free port, stopped (with every process it started) at teardown."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import pytest

TASK = os.environ.get("DOJO_NB_ENV_TEST_TASK", "penguins-species")
TOKEN = f"test-token-{os.getpid()}"  # one value however often this module is imported
MAX_CONCURRENT = 2
MAX_STEPS = 40


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


@dataclass
class Server:
    """The server process; `kernels()` lists its live kernels and remembers every one it saw."""

    proc: subprocess.Popen
    url: str
    out_dir: Path
    log: Path
    seen_kernels: set[int] = field(default_factory=set)

    def descendants(self) -> list[psutil.Process]:
        try:
            return psutil.Process(self.proc.pid).children(recursive=True)
        except psutil.Error:
            return []

    def kernels(self) -> set[int]:
        """One pid per kernel: the outermost of its sandbox processes (bwrap, ipykernel)."""
        found: dict[int, int] = {}
        for p in self.descendants():
            try:
                if p.status() != psutil.STATUS_ZOMBIE and any(k in " ".join(p.cmdline()) for k in ("ipykernel", "bwrap")):
                    found[p.pid] = p.ppid()
            except psutil.Error:
                continue
        self.seen_kernels |= set(found)
        return {pid for pid, parent in found.items() if parent not in found}

    def wait_kernels(self, n: int, timeout: float = 90.0) -> set[int]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.kernels()) == n:
                return self.kernels()
            time.sleep(0.5)
        raise AssertionError(f"expected {n} kernel processes under the server, found {sorted(self.kernels())}")


def start_server(tmp: Path, extra: list[str] | None = None) -> Server:
    import httpx

    port = free_port()
    log = tmp / "server.log"
    env = {**os.environ, "DOJO_NB_SERVE_TOKEN": TOKEN, "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "dojo_nb.cli", "serve", "--task", TASK, "--port", str(port),
           "--max-concurrent", str(MAX_CONCURRENT), "--out", str(tmp / "served"), "--max-steps", str(MAX_STEPS),
           "--cell-timeout", "120", *(extra or [])]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    server = Server(proc, f"http://127.0.0.1:{port}", tmp / "served", log)
    deadline = time.monotonic() + 240  # importing openenv-core alone takes ~25 s on a busy 2-core machine
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the server exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{server.url}/health", timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    stop_server(server)
    raise AssertionError(f"the server did not answer /health in time:\n{log.read_text()[-3000:]}")


def stop_server(server: Server) -> list[int]:
    """SIGTERM (the server closes its sessions), then SIGKILL; returns kernels that outlived it."""
    server.kernels()
    family = [p.pid for p in server.descendants()]
    if server.proc.poll() is None:
        server.proc.send_signal(signal.SIGTERM)
        try:
            server.proc.wait(timeout=90)
        except subprocess.TimeoutExpired:
            server.proc.kill()
            server.proc.wait(timeout=30)
    time.sleep(1.0)
    survivors = [pid for pid in server.seen_kernels if _alive(pid)]
    for pid in set(family) | set(survivors):  # never leave anything behind, even on failure
        if _alive(pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
    return survivors


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(tmp_path_factory.mktemp("serve"))
    try:
        yield srv
    finally:
        survivors = stop_server(srv)
        assert not survivors, f"kernel processes outlived the server: {survivors}"
        log = srv.log.read_text(errors="replace")
        assert "Exception in ASGI application" not in log, log[-4000:]
