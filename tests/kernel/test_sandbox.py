"""The local sandbox: what a cell can see and touch, and that no kernel outlives its driver."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import pytest

from dojo_nb.kernel import SandboxSpec, SyncKernelSession
from dojo_nb.kernel.bwrap import SandboxWarning

from tests.docker_support import backend_param

from .conftest import backend_or_skip, kernel_processes

SANDBOXED = ["local", backend_param("docker")]


@pytest.fixture(params=SANDBOXED)
def sandboxed(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    return backend_or_skip(request.param, monkeypatch)


def test_files_outside_the_episode_are_invisible(sandboxed: str, episode_root: Path, tmp_path: Path) -> None:
    secret = tmp_path / "secret-answers.csv"
    secret.write_text("id,target\n1,42\n")
    home_secret = Path.home() / f".dojo-test-secret-{os.getpid()}-{sandboxed}"
    home_secret.write_text("token")
    try:
        with SyncKernelSession(SandboxSpec(root=episode_root), backend=sandboxed) as s:
            for path in (secret, home_secret, episode_root.parent):
                r = s.execute(f"open({str(path)!r}).read()", timeout=30)
                assert r.status == "error", f"{path} readable: {r.text}"
            assert s.execute("open(INPUT + '/train.csv').read()".replace("INPUT", repr(s.paths.input_dir)),
                             timeout=30).status == "ok"
            r = s.execute(f"open({s.paths.input_dir!r} + '/new.txt', 'w').write('x')", timeout=30)
            assert r.status == "error" and r.error["ename"] in ("OSError", "PermissionError")
            r = s.execute(f"open({s.paths.working_dir!r} + '/w.txt', 'w').write('ok')", timeout=30)
            assert r.status == "ok"
            assert (episode_root / "working" / "w.txt").read_text() == "ok"
            r = s.execute("import socket\ns = socket.socket(); s.settimeout(2)\n"
                          "s.connect(('1.1.1.1', 53))", timeout=30)
            assert r.status == "error"
            r = s.execute("import os; sorted(k for k in os.environ if 'KEY' in k or 'TOKEN' in k or 'SECRET' in k)",
                          timeout=30)
            assert r.text == "[]"
    finally:
        home_secret.unlink(missing_ok=True)


def test_without_bwrap_it_runs_and_warns_once(monkeypatch: pytest.MonkeyPatch, episode_root: Path) -> None:
    import dojo_nb.kernel.bwrap as bw

    monkeypatch.setenv("DOJO_NB_NO_BWRAP", "1")
    monkeypatch.setattr(bw, "_warned", False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with SyncKernelSession(SandboxSpec(root=episode_root), backend="local") as s:
            r = s.execute("import os; os.getcwd()", timeout=30)
            assert r.status == "ok" and str(episode_root / "working") in r.text
        with SyncKernelSession(SandboxSpec(root=episode_root), backend="local") as s:
            assert s.execute("1", timeout=30).status == "ok"
    said = [w for w in caught if issubclass(w.category, SandboxWarning)]
    assert len(said) == 1 and "weaker" in str(said[0].message) or "bubblewrap" in str(said[0].message)


def _wait_gone(pids: set[int], seconds: float = 15) -> set[int]:
    import psutil

    deadline = time.monotonic() + seconds
    alive = set(pids)
    while alive and time.monotonic() < deadline:
        alive = {p for p in alive if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE}
        time.sleep(0.2)
    return alive


def test_twenty_sessions_leave_no_kernel(tmp_path: Path) -> None:
    before = {p.pid for p in kernel_processes(ours=True)}
    for i in range(20):
        root = tmp_path / f"ep{i}"
        with SyncKernelSession(SandboxSpec(root=root), backend="local") as s:
            assert s.execute("1", timeout=30).status == "ok"
    leftover = _wait_gone({p.pid for p in kernel_processes(ours=True)} - before)
    assert not leftover, f"kernel processes left: {leftover}"


DRIVER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from dojo_nb.kernel import SandboxSpec, SyncKernelSession
    s = SyncKernelSession(SandboxSpec(root=Path(sys.argv[1])), backend="local").start()
    s.execute("import os; open('pid', 'w').write(str(os.getpid()))", timeout=30)
    print("READY", flush=True)
    time.sleep(600)
""")


@pytest.mark.parametrize("no_bwrap", [False, True], ids=["bwrap", "no-bwrap"])
def test_sigkilled_driver_leaves_no_kernel(tmp_path: Path, no_bwrap: bool) -> None:
    import psutil

    env = dict(os.environ)
    if no_bwrap:
        env["DOJO_NB_NO_BWRAP"] = "1"
    driver = subprocess.Popen([sys.executable, "-c", DRIVER, str(tmp_path / "ep")], stdout=subprocess.PIPE,
                              text=True, env=env)
    started: set[int] = set()
    try:
        assert driver.stdout.readline().strip() == "READY"
        # Only this driver's own descendants: other test runs may have kernels of their own.
        started = {p.pid for p in psutil.Process(driver.pid).children(recursive=True)}
        assert started & {p.pid for p in kernel_processes()}, "the driver's kernel was not found"
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait(10)
        leftover = _wait_gone(started)
        assert not leftover, f"kernel outlived its SIGKILLed driver: {leftover}"
    finally:
        if driver.poll() is None:
            driver.kill()
        for pid in started:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        from dojo_nb.kernel import gc

        gc.collect(docker=False)  # the dead driver's socket folder, cgroup and mounted disk
