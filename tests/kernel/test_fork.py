"""Forking a live kernel (`dojo_nb.kernel.fork`): the child has the parent's memory and files at the
fork, then its own; killing the parent spares the child; nothing is left once both close.

Both backends: ``local`` (bubblewrap) and ``docker`` (skipped only when docker is absent and
DOJO_REQUIRE_DOCKER is unset).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import psutil
import pytest

from dojo_nb.kernel import SandboxSpec, SyncKernelSession
from dojo_nb.kernel.fork import ForkUnsafe, fork_sync
from tests.kernel.conftest import backend_or_skip

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="forking needs a root driver")

FIT = """\
import os
import numpy as np
from sklearn.linear_model import LinearRegression
x = np.arange(10.0)
model = LinearRegression().fit(x[:, None], 3 * x + 1)
with open("notes.txt", "w") as f:
    f.write("parent")
"""


def _descendants() -> set[int]:
    return {p.pid for p in psutil.Process().children(recursive=True)}


def _containers_of(tmp_path: Path) -> list[str]:
    """This test's containers still there (its episode folders are bound into them)."""
    try:
        from dojo_nb.kernel.docker import docker_unavailable_reason, labelled_containers
    except ImportError:
        return []
    if docker_unavailable_reason():
        return []
    return [c.name for c in labelled_containers()
            if any(str(tmp_path) in (m.get("Source") or "") for m in c.attrs.get("Mounts", []))]


@pytest.fixture(params=["local", "local-nobwrap", "docker"])
def parent(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    backend = backend_or_skip(request.param, monkeypatch)
    before = _descendants()
    session = SyncKernelSession(SandboxSpec(root=tmp_path / "parent", memory_mb=2048), backend=backend).start()
    yield session, tmp_path, before
    session.close()


def _assert_nothing_left(before: set[int], tmp_path: Path) -> None:
    """No kernel process of this test and no container of its folders is left."""
    assert _descendants() - before == set()
    assert not _containers_of(tmp_path)


def test_fork_carries_memory_then_branches_stay_apart(parent) -> None:
    session, tmp_path, before = parent
    assert session.execute(FIT).status == "ok"
    child = fork_sync(session, tmp_path / "child")
    try:
        seen = child.execute("print(round(float(model.predict([[20.0]])[0]), 6), x.sum(), open('notes.txt').read())")
        assert seen.status == "ok", seen.text
        assert seen.text.split() == ["61.0", "45.0", "parent"]
        # memory: a change in one branch is not seen by the other
        assert child.execute("x[0] = 100.0").status == "ok"
        assert session.execute("print(x[0])").text.strip() == "0.0"
        assert session.execute("x[1] = -7.0").status == "ok"
        assert child.execute("print(x[0], x[1])").text.split() == ["100.0", "1.0"]
        # files: each branch writes its own copy
        assert child.execute("open('notes.txt', 'w').write('child'); open('only-child.txt', 'w').write('c')").status == "ok"
        assert session.execute("print(open('notes.txt').read(), os.path.exists('only-child.txt'))").text.split() \
            == ["parent", "False"]
        assert (tmp_path / "child" / "working" / "notes.txt").read_text() == "child"
        assert (tmp_path / "parent" / "working" / "notes.txt").read_text() == "parent"
        assert child.paths.working_dir != session.paths.working_dir
        # killing the parent's kernel does not kill the child
        os.kill(session.session.km.provisioner.kernel_pid, 9)
        assert child.execute("print('alive', x[0])").text.split() == ["alive", "100.0"]
        session.close()
        assert child.execute("print(model.coef_[0].round(3))").text.strip() == "3.0"
    finally:
        child.close()
    session.close()
    assert (tmp_path / "child" / "working" / "only-child.txt").read_text() == "c"
    assert not (tmp_path / "parent" / "forks").exists() or not any((tmp_path / "parent" / "forks").iterdir())
    psutil.wait_procs([psutil.Process(p) for p in _descendants() - before if psutil.pid_exists(p)], timeout=10)
    _assert_nothing_left(before, tmp_path)


def test_closing_the_child_first_leaves_the_parent_working(parent) -> None:
    session, tmp_path, before = parent
    assert session.execute("y = 41").status == "ok"
    child = fork_sync(session, tmp_path / "child")
    assert child.execute("y += 1; print(y)").text.strip() == "42"
    child.close()
    assert session.execute("print(y)").text.strip() == "41"
    grandchild = fork_sync(session, tmp_path / "again")
    assert grandchild.execute("print(y)").text.strip() == "41"
    grandchild.close()
    session.close()
    _assert_nothing_left(before, tmp_path)


def test_a_fork_of_a_fork_outlives_both_ancestors(parent) -> None:
    session, tmp_path, before = parent
    assert session.execute("z = [1]\nopen('f.txt', 'w').write('a')").status == "ok"
    child = fork_sync(session, tmp_path / "child")
    assert child.execute("z.append(2)\nopen('f.txt', 'w').write('ab')").status == "ok"
    grandchild = fork_sync(child, tmp_path / "grandchild")
    try:
        assert grandchild.execute("z.append(3); print(z, open('f.txt').read())").text.split() == ["[1,", "2,", "3]", "ab"]
        session.close()
        great = fork_sync(child, tmp_path / "great")  # the sandbox's first kernel is gone: still forks
        assert great.execute("print(len(z))").text.strip() == "2"
        great.close()
        child.close()
        assert grandchild.execute("print(len(z))").text.strip() == "3"
        assert (tmp_path / "child" / "working" / "f.txt").read_text() == "ab"
    finally:
        grandchild.close()
    assert (tmp_path / "grandchild" / "working" / "f.txt").read_text() == "ab"
    _assert_nothing_left(before, tmp_path)


def test_a_crashed_parent_restarts_apart_and_interrupts_stay_in_their_kernel(parent) -> None:
    session, tmp_path, before = parent
    assert session.execute("import time\nw = 'parent state'").status == "ok"
    child = fork_sync(session, tmp_path / "child")
    try:
        stopped = child.execute("time.sleep(60)", timeout=2)  # interrupted: the child's own group only
        assert stopped.status == "timeout" and not stopped.kernel_restarted, stopped.text
        assert session.execute("print(w)").text.strip() == "parent state"
        crashed = session.execute("import os; os._exit(3)")
        assert crashed.status == "crashed" and crashed.kernel_restarted
        assert session.execute("print('w' in dir())").text.strip() == "False"  # a fresh kernel
        assert child.execute("print(w)").text.strip() == "parent state"  # the fork lives on
        again = fork_sync(session, tmp_path / "again")  # the restarted kernel forks too
        assert again.execute("print('w' in dir())").text.strip() == "False"
        again.close()
    finally:
        child.close()
    session.close()
    psutil.wait_procs([psutil.Process(p) for p in _descendants() - before if psutil.pid_exists(p)], timeout=10)
    _assert_nothing_left(before, tmp_path)


def test_a_user_thread_refuses_the_fork(parent) -> None:
    session, tmp_path, _ = parent
    started = session.execute("import threading, time\nt = threading.Thread(target=time.sleep, args=(30,), daemon=True)\nt.start()")
    assert started.status == "ok"
    with pytest.raises(ForkUnsafe) as err:
        fork_sync(session, tmp_path / "child")
    assert "thread" in str(err.value)
    assert session.execute("print('parent fine')").text.strip() == "parent fine"
    assert not any((tmp_path / "child" / "working").iterdir())


def test_a_fork_stays_inside_its_parents_limits(tmp_path: Path) -> None:
    """Same cgroup (memory, pids, CPUs bound the family together), same uid, and its files count
    against the parent's disk budget."""
    from dojo_nb.kernel import disk

    if not shutil.which("bwrap") or disk.unavailable_reason():
        pytest.skip(f"needs the root sandbox with a disk budget ({disk.unavailable_reason()})")
    with SyncKernelSession(SandboxSpec(root=tmp_path / "p", disk_mb=40)).start() as session:
        ask = "import os; print(open('/proc/self/cgroup').read().strip(), os.getuid())"
        child = fork_sync(session, tmp_path / "child")
        try:
            assert child.execute(ask).text == session.execute(ask).text
            full = child.execute("open('big.bin', 'wb').write(b'0' * (80 * 2**20))")
            assert full.status == "error" and "No space left" in full.text, full.text
        finally:
            child.close()


DRIVER = """
import sys, time
from pathlib import Path
from dojo_nb.kernel import SandboxSpec, SyncKernelSession
from dojo_nb.kernel.fork import fork_sync
root = Path(sys.argv[1])
parent = SyncKernelSession(SandboxSpec(root=root / "p")).start()
child = fork_sync(parent, root / "c")
child.execute("open('kept.txt', 'w').write('fork')")
print("READY", flush=True)
time.sleep(600)
"""


def test_a_sigkilled_driver_takes_its_forks_and_gc_brings_their_files_home(tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys

    from dojo_nb.kernel import disk, gc

    if not shutil.which("bwrap") or disk.unavailable_reason():
        pytest.skip(f"needs the root sandbox with a disk budget ({disk.unavailable_reason()})")
    driver = subprocess.Popen([sys.executable, "-c", DRIVER, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert driver.stdout.readline().strip() == "READY"
        kernels = psutil.Process(driver.pid).children(recursive=True)
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait(10)
        gone, alive = psutil.wait_procs(kernels, timeout=20)
        assert not [p for p in alive if p.status() != psutil.STATUS_ZOMBIE], alive
    finally:
        if driver.poll() is None:
            driver.kill()
    gc.collect(docker=False)
    assert not [line for line in open("/proc/self/mountinfo") if str(tmp_path) in line]
    assert (tmp_path / "c" / "working" / "kept.txt").read_text() == "fork"
