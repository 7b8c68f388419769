"""The docker backend beyond the shared battery: limits, clean-up, gc, and papermill by kernel name.

Skipped (with the reason) when no Docker engine or kernel image is available, unless
DOJO_REQUIRE_DOCKER=1, which `.ci/run` sets after building the image.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import nbformat
import pytest

from dojo_nb.kernel import SandboxSpec, SyncKernelSession
from tests.docker_support import skip_without_docker


pytestmark = pytest.mark.docker


@pytest.fixture(autouse=True)
def docker_ready() -> None:
    skip_without_docker()


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "episode"
    SandboxSpec(root=root).ensure_dirs()
    return root


def _mine() -> list:
    from dojo_nb.kernel.docker import labelled_containers

    return [c for c in labelled_containers() if c.labels.get("dojo-nb.driver-pid") == str(os.getpid())]


def test_memory_bomb_is_crashed_and_host_survives(root: Path) -> None:
    with SyncKernelSession(SandboxSpec(root=root, memory_mb=256), backend="docker") as s:
        r = s.execute("blocks = []\nwhile True:\n    blocks.append(bytearray(50_000_000))", timeout=60)
        assert r.status == "crashed" and r.kernel_restarted
        assert s.execute("1 + 1", timeout=30).text == "2"


def test_fork_bomb_is_stopped_by_the_pid_limit(root: Path) -> None:
    with SyncKernelSession(SandboxSpec(root=root, pids=64), backend="docker") as s:
        r = s.execute("import os\nn = 0\ntry:\n    while True:\n        if os.fork() == 0:\n"
                      "            import time; time.sleep(30); os._exit(0)\n        n += 1\n"
                      "except OSError as exc:\n    print('stopped after', n, type(exc).__name__)", timeout=60)
        assert "stopped after" in r.text, r.text
        assert s.execute("2 + 2", timeout=60).status in ("ok", "timeout", "crashed")


def test_no_labelled_container_left_after_close(root: Path) -> None:
    with SyncKernelSession(SandboxSpec(root=root), backend="docker") as s:
        assert s.execute("1", timeout=30).status == "ok"
        assert len(_mine()) == 1
    assert _mine() == []


def test_any_episode_folder_name_starts(tmp_path: Path) -> None:
    # Docker container names allow only [a-zA-Z0-9_.-]; the episode's folder name may hold anything.
    with SyncKernelSession(SandboxSpec(root=tmp_path / "my episode ü!"), backend="docker") as s:
        assert s.execute("1 + 1", timeout=30).text == "2"


DRIVER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from dojo_nb.kernel import SandboxSpec, SyncKernelSession
    s = SyncKernelSession(SandboxSpec(root=Path(sys.argv[1])), backend="docker").start()
    s.execute("1", timeout=60)
    print("READY", flush=True)
    time.sleep(600)
""")


def test_sigkilled_driver_then_gc_leaves_nothing(tmp_path: Path) -> None:
    from dojo_nb.kernel.docker import labelled_containers

    driver = subprocess.Popen([sys.executable, "-c", DRIVER, str(tmp_path / "ep")], stdout=subprocess.PIPE, text=True)
    try:
        assert driver.stdout.readline().strip() == "READY"
        theirs = [c for c in labelled_containers() if c.labels.get("dojo-nb.driver-pid") == str(driver.pid)]
        assert len(theirs) == 1
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait(10)
        res = subprocess.run([sys.executable, "-m", "dojo_nb.cli", "kernel", "gc"], capture_output=True, text=True)
        assert res.returncode == 0, res.stdout + res.stderr
        left = [c for c in labelled_containers() if c.labels.get("dojo-nb.driver-pid") == str(driver.pid)]
        assert left == []
    finally:
        if driver.poll() is None:
            driver.kill()
        subprocess.run([sys.executable, "-m", "dojo_nb.cli", "kernel", "gc"], capture_output=True)


def test_gc_removes_socket_folders_whose_heartbeat_stopped() -> None:
    from dojo_nb import paths
    from dojo_nb.kernel.docker import HEARTBEAT_MAX_AGE_S, SOCKET_DIR_PREFIX, gc

    stale = Path(tempfile.mkdtemp(prefix=SOCKET_DIR_PREFIX, dir=paths.runtime_dir()))
    fresh = Path(tempfile.mkdtemp(prefix=SOCKET_DIR_PREFIX, dir=paths.runtime_dir()))
    try:
        for folder in (stale, fresh):
            (folder / "s").mkdir()
            (folder / "s" / "heartbeat").touch()
        old = time.time() - 10 * HEARTBEAT_MAX_AGE_S
        os.utime(stale / "s" / "heartbeat", (old, old))
        gc()
        assert not stale.exists() and fresh.exists()
    finally:
        shutil.rmtree(stale, ignore_errors=True)
        shutil.rmtree(fresh, ignore_errors=True)


def test_papermill_by_kernel_name(tmp_path: Path) -> None:
    data = tmp_path / "jupyter"
    env = {**os.environ, "JUPYTER_DATA_DIR": str(data), "JUPYTER_PATH": str(data)}
    res = subprocess.run([sys.executable, "-m", "dojo_nb.cli", "kernel", "install", "--prefix", str(data)],
                         capture_output=True, text=True, env=env)
    assert res.returncode == 0, res.stdout + res.stderr
    spec = json.loads((data / "kernels" / "dojo-docker" / "kernel.json").read_text())
    assert spec["metadata"]["kernel_provisioner"]["provisioner_name"] == "dojo-docker"
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "import os, socket\nprint(os.getcwd(), os.getuid())\nopen('made-in-docker.txt', 'w').write('ok')")])
    nb.metadata["kernelspec"] = {"name": "dojo-docker", "display_name": "dojo docker", "language": "python"}
    src, out = tmp_path / "in.ipynb", tmp_path / "out.ipynb"
    nbformat.write(nb, src)
    work = tmp_path / "sandbox"
    (work / "working").mkdir(parents=True)
    spec_file = tmp_path / "spec.json"
    SandboxSpec(root=work).write_json(spec_file)
    env["DOJO_NB_SANDBOX_SPEC"] = str(spec_file)
    res = subprocess.run([sys.executable, "-m", "papermill", "-k", "dojo-docker", str(src), str(out)],
                         capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    text = "".join(o.get("text", "") for o in nbformat.read(out, 4).cells[-1].outputs)
    cwd, uid = text.split()
    from dojo_nb.kernel.users import BASE_UID

    # Never root: under a root driver the kernel's own sandbox uid, else the image's uid 1000.
    assert cwd == "/episode/working" and int(uid) == (1000 if os.geteuid() else int(uid)) and int(uid) >= min(BASE_UID, 1000)
    assert (work / "working" / "made-in-docker.txt").read_text() == "ok"


def test_baseline_episode_runs_and_replays_in_docker(tmp_path: Path) -> None:
    from dojo_nb.runners.episodes import run_episode

    outcome = run_episode("iris-species", "baseline", out_dir=tmp_path / "ep", backend="docker", replay=True)
    assert outcome.error is None and outcome.valid, outcome
    replay = json.loads((outcome.episode_dir / "replay.json").read_text())
    assert replay["backend"] == "docker" and replay["reproduced"], replay
    assert _mine() == []
