"""A hostile cell against the sandbox, on both sandboxed backends, with the driver as root.

Each test is one attack of issue 14 and checks that it is contained: who the kernel is
(uid, capabilities, mounts), host-wide settings under /proc/sys, the log-symlink trick,
setuid files, memory of every kind, processes, CPUs and the disk budget.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from dojo_nb.kernel import SandboxSpec, SyncKernelSession

from tests.docker_support import backend_param

from .conftest import TEMPLATE, assert_spawned, backend_or_skip, open_session, require_sandbox



@pytest.fixture(autouse=True)
def _root_sandbox() -> None:
    require_sandbox()


SANDBOXED = ["local", TEMPLATE, backend_param("docker")]


@pytest.fixture(params=SANDBOXED)
def sandboxed(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    return backend_or_skip(request.param, monkeypatch)


@pytest.fixture
def hostile(sandboxed: str, episode_root: Path) -> Iterator[SyncKernelSession]:
    spec = SandboxSpec(root=episode_root, memory_mb=768, pids=64, disk_mb=200, tmp_mb=128)
    s = open_session(spec, sandboxed)
    try:
        s.start()
        assert_spawned(s, sandboxed)
        yield s
    finally:
        s.close()


def run(s: SyncKernelSession, code: str, timeout: float = 120):
    return s.execute(textwrap.dedent(code), timeout=timeout)


def test_the_kernel_is_unprivileged_and_every_mount_is_nosuid(hostile: SyncKernelSession) -> None:
    r = run(hostile, """
        import os
        status = dict(l.split(':', 1) for l in open('/proc/self/status').read().splitlines() if ':' in l)
        caps = {k: int(status[k].strip(), 16) for k in ('CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb')}
        mounts = [l.split() for l in open('/proc/self/mountinfo')]
        writable = [m[4] for m in mounts if 'rw' in m[5].split(',')]
        nodes = ('/dev/null', '/dev/zero', '/dev/full', '/dev/random', '/dev/urandom', '/dev/tty', '/dev/console')
        writable = [m for m in writable if m not in nodes]
        lax = [m[4] for m in mounts if 'nosuid' not in m[5].split(',') and m[4] in writable]
        print(os.getuid(), os.geteuid(), os.getgid(), sorted(os.getgroups()))
        print(caps, status['NoNewPrivs'].strip())
        print('WRITABLE', writable)
        print('LAX', lax)
    """)
    assert r.status == "ok", r.text
    ids, caps, writable, lax = r.text.splitlines()[:4]
    uid, euid, gid = (int(x) for x in ids.split()[:3])
    assert uid != 0 and euid != 0 and gid != 0, ids
    assert uid != os.getuid(), "the kernel must not share the root driver's uid"
    assert "'CapEff': 0" in caps and "'CapPrm': 0" in caps and "'CapBnd': 0" in caps and caps.endswith(" 1"), caps
    # Only the episode's writable folders (forks/: its forked kernels' copies), the private /tmp and
    # /dev/shm (and /dev's own tmpfs) are rw.
    allowed = ("/episode/working", "/episode/submission", "/episode/forks", "/tmp", "/dev/shm", "/dev", "/dev/pts", "/dev/mqueue",
               "/", "/proc", "/etc/hostname", "/etc/hosts", "/etc/resolv.conf", "/sys/fs/cgroup")
    # (/proc/keys and the like: the engine masks them with a bind of /dev/null.)
    extra = [m for m in eval(writable.split(" ", 1)[1])
             if m not in allowed and not m.startswith(("/tmp/", "/proc/"))]
    assert not extra, f"writable mounts beyond the episode: {extra}"
    # Every writable mount is nosuid. The one exception, docker's bind of the socket folder (the
    # engine has no nosuid bind option), holds files of the kernel's own unprivileged uid only.
    socket_dir = str(hostile.session.km.provisioner.socket_dir)
    lax_mounts = [m for m in eval(lax.split(" ", 1)[1]) if m not in ("/", "/proc") and not m.startswith("/proc/")]
    assert lax_mounts in ([], [socket_dir]), lax


def test_no_host_wide_setting_under_proc_sys_can_be_written(hostile: SyncKernelSession) -> None:
    r = run(hostile, """
        import os
        accepted, tried = [], 0
        for folder, _, files in os.walk('/proc/sys'):
            for name in files:
                path = os.path.join(folder, name)
                try:
                    value = open(path).read()
                except OSError:
                    continue
                tried += 1
                try:  # write the current value back: harmless if it were ever accepted
                    with open(path, 'w') as fh:
                        fh.write(value)
                    accepted.append(path)
                except OSError:
                    pass
        print(tried, accepted[:5], len(accepted))
    """, timeout=180)
    assert r.status == "ok", r.text
    tried, *_, n = r.text.split()
    assert int(tried) > 100 and int(n) == 0, r.text


def test_symlinks_in_the_socket_folder_change_no_host_file(hostile: SyncKernelSession, tmp_path: Path) -> None:
    canary = tmp_path / "canary.txt"
    canary.write_text("untouched\n")
    before = canary.stat()
    provisioner = hostile.session.km.provisioner
    socket_dir = str(provisioner.socket_dir)
    r = run(hostile, f"""
        import os
        d = {socket_dir!r}
        done = []
        for name in os.listdir(d) + ['kernel.log', 'heartbeat', 'c.json', 'log']:
            p = os.path.join(d, name)
            try:
                os.unlink(p)
            except OSError:
                pass
            try:
                os.symlink({str(canary)!r}, p)
                done.append(name)
            except OSError:
                pass
        print(sorted(done))
    """)
    assert r.status == "ok", r.text
    replaced = {n for n in eval(r.text.strip().splitlines()[-1]) if n in ("c.json", "heartbeat") or n.startswith("s-")}
    if hostile.session.backend_name == "local":
        replaced.discard("heartbeat")  # no heartbeat there: a new name is just a file of the kernel's
    assert not replaced, f"the driver's files or the sealed sockets were replaced: {replaced}"
    hostile.restart()  # the driver rewrites its connection file and reopens its log
    run(hostile, "import os; os._exit(3)")  # and a crash makes it read the log
    assert hostile.execute("1 + 1", timeout=60).text == "2"
    assert canary.read_text() == "untouched\n" and canary.stat().st_mtime_ns == before.st_mtime_ns


def test_a_setuid_file_from_a_cell_means_nothing_on_the_host(hostile: SyncKernelSession, episode_root: Path) -> None:
    r = run(hostile, """
        import os, shutil, sys
        shutil.copy(sys.executable, 'py')
        os.chmod('py', 0o6755)
        print(oct(os.stat('py').st_mode))
    """)
    assert r.status == "ok", r.text
    host = episode_root / "working" / "py"
    st = host.lstat()
    assert st.st_uid != 0 and st.st_gid != 0, "a cell's file belongs to root on the host"
    # The host side of working/ is nosuid: even a set-id file there runs with the caller's ids.
    res = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", str(host), "-c",
                          "import os; print(os.geteuid(), os.getegid())"], capture_output=True, text=True)
    if res.returncode == 0:
        assert res.stdout.split() == ["65534", "65534"], res.stdout
    hostile.close()
    mode = (episode_root / "working" / "py").lstat().st_mode
    assert not mode & (stat.S_ISUID | stat.S_ISGID), oct(mode)


FILL = """
def fill(view, megabytes):
    chunk = b'x' * (1 << 20)
    for i in range(megabytes):
        view[i << 20:(i + 1) << 20] = chunk
"""

MEMORY_ATTACKS = {
    "shared-mmap": FILL + "import mmap\nm = mmap.mmap(-1, 2 << 30, flags=mmap.MAP_SHARED)\nfill(m, 2048)",
    "memfd": FILL + "import mmap, os\nfd = os.memfd_create('x')\nos.ftruncate(fd, 2 << 30)\nfill(mmap.mmap(fd, 2 << 30), 2048)",
    "dev-shm": "chunk = b'x' * (1 << 20)\nwith open('/dev/shm/big', 'wb') as f:\n    for _ in range(2048): f.write(chunk)",
}


@pytest.mark.parametrize("attack", sorted(MEMORY_ATTACKS))
def test_memory_of_every_kind_is_limited(sandboxed: str, episode_root: Path, attack: str) -> None:
    # /dev/shm as big as the disk budget: only the memory limit can stop it.
    spec = SandboxSpec(root=episode_root, memory_mb=512, tmp_mb=4096)
    with open_session(spec, sandboxed) as s:
        assert_spawned(s, sandboxed)
        r = s.execute(MEMORY_ATTACKS[attack], timeout=180)
        assert r.status in ("crashed", "error"), r.text
        if r.status == "crashed":
            assert "memory limit (512 MB" in r.text, r.text
        assert s.execute("1 + 1", timeout=60).text == "2"


def test_tmp_is_capped(hostile: SyncKernelSession) -> None:
    r = run(hostile, "chunk = b'x' * (1 << 20)\nwith open('/tmp/big', 'wb') as f:\n    for _ in range(400): f.write(chunk)")
    assert r.status == "error" and "No space left on device" in r.text, r.text


def test_processes_are_limited(hostile: SyncKernelSession) -> None:
    r = run(hostile, """
        import subprocess
        procs = []
        try:
            for _ in range(150):
                procs.append(subprocess.Popen(['sleep', '60']))
        except OSError as exc:
            print('stopped', len(procs), type(exc).__name__)
        finally:
            for p in procs:
                p.kill()
                p.wait()
    """)
    assert r.status == "ok" and r.text.startswith("stopped"), r.text
    assert int(r.text.split()[1]) < 64


def test_cpu_pinning_cannot_be_undone(sandboxed: str, episode_root: Path) -> None:
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("one CPU: nothing to pin")
    with open_session(SandboxSpec(root=episode_root, cpus=1), sandboxed) as s:
        assert_spawned(s, sandboxed)
        r = s.execute("import os\ntry:\n    os.sched_setaffinity(0, range(os.cpu_count()))\nexcept OSError as e:\n"
                      "    print(e)\nprint(len(os.sched_getaffinity(0)))", timeout=60)
        if sandboxed.startswith("local"):  # a cpuset: affinity cannot leave it
            assert r.text.splitlines()[-1] == "1", r.text
        else:  # the engine's CPU quota holds whatever the affinity
            container = s.session.km.provisioner.container
            container.reload()
            assert container.attrs["HostConfig"]["NanoCpus"] == 1_000_000_000


def test_the_disk_budget_holds_and_files_survive_the_kernel(sandboxed: str, episode_root: Path) -> None:
    spec = SandboxSpec(root=episode_root, disk_mb=100)
    with open_session(spec, sandboxed) as s:
        assert_spawned(s, sandboxed)
        r = s.execute("chunk = b'x' * (1 << 20)\nwith open('big', 'wb') as f:\n    for _ in range(3000): f.write(chunk)",
                      timeout=120)
        assert r.status == "error" and "No space left on device" in r.text, r.text
        s.execute("import os; os.remove('big'); open('kept.txt', 'w').write('kept')", timeout=30)
        s.execute(f"open({s.paths.submission_dir!r} + '/submission.csv', 'w').write('id,y\\n1,2\\n')", timeout=30)
        assert (episode_root / "working" / "kept.txt").read_text() == "kept"  # the host sees files live
    assert (episode_root / "working" / "kept.txt").read_text() == "kept"  # and after the kernel
    assert (episode_root / "submission" / "submission.csv").read_text() == "id,y\n1,2\n"
    with open("/proc/self/mountinfo") as fh:
        assert str(episode_root) not in fh.read(), "a disk stayed mounted after close"


DRIVER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from dojo_nb.kernel import SandboxSpec, SyncKernelSession
    from dojo_nb.kernel.template import KernelTemplate
    config = {"template": KernelTemplate(("numpy",)).start().template_id} if sys.argv[2] == "local-template" else {}
    s = SyncKernelSession(SandboxSpec(root=Path(sys.argv[1])), backend=sys.argv[2].split("-")[0],
                          provisioner_config=config).start()
    s.execute("open('f.txt', 'w').write('from the dead driver')", timeout=30)
    print("READY", s.session.km.provisioner.run_dir, flush=True)
    time.sleep(600)
""")


@pytest.mark.parametrize("backend_name", SANDBOXED)
def test_gc_cleans_up_after_a_killed_driver(backend_name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    backend_or_skip(backend_name, monkeypatch)
    from dojo_nb.kernel import gc

    root = tmp_path / "ep"
    driver = subprocess.Popen([sys.executable, "-c", DRIVER, str(root), backend_name], stdout=subprocess.PIPE, text=True)
    try:
        line = driver.stdout.readline().split()
        assert line and line[0] == "READY", line
        run_dir = Path(line[1])
        driver.kill()
        driver.wait(10)
        assert run_dir.is_dir()
    finally:
        if driver.poll() is None:
            driver.kill()
        done = gc.collect()
    # What is left is gone, whoever removed it (a test run beside this one may collect it first).
    assert not run_dir.exists(), done
    assert (root / "working" / "f.txt").read_text() == "from the dead driver"
    with open("/proc/self/mountinfo") as fh:
        assert str(root) not in fh.read()


def test_dojo_nb_itself_is_masked_where_a_bound_folder_holds_it(monkeypatch: pytest.MonkeyPatch,
                                                                 episode_root: Path) -> None:
    """A wheel install puts dojo_nb and its catalogue in site-packages, which the sandbox binds:
    bind the repository (package and catalogue inside) the same way, and no task code shows."""
    import dojo_nb
    import dojo_nb.kernel.bwrap as bw

    backend_or_skip("local", monkeypatch)
    repo = str(Path(dojo_nb.__file__).resolve().parent.parent)
    real = bw.python_dirs
    monkeypatch.setattr(bw, "python_dirs", lambda: sorted(set(real()) | {repo}))
    with SyncKernelSession(SandboxSpec(root=episode_root), backend="local") as s:
        r = s.execute(textwrap.dedent(f"""
            import os
            seen = []
            for folder, dirs, files in [w for top in ('dojo_nb', 'tasks') for w in os.walk(os.path.join({repo!r}, top))]:
                seen += [os.path.join(folder, f) for f in files if f in ('prepare.py', 'env.py', 'task.yaml')]
            try:
                import dojo_nb  # an empty masked folder can only be an empty namespace package
                if getattr(dojo_nb, '__file__', None) or hasattr(dojo_nb, 'make'):
                    print('IMPORTED', dojo_nb.__file__)
            except ImportError:
                pass
            print(len(seen), seen[:3])
        """), timeout=120)
    assert r.status == "ok", r.text
    assert "IMPORTED" not in r.text and r.text.strip().startswith("0 []"), r.text


def test_no_file_of_the_catalogue_or_of_dojo_nb_is_anywhere_in_the_sandbox(hostile: SyncKernelSession) -> None:
    """Walk the kernel's whole file system: no byte-for-byte copy of any task file (prepare.py,
    config), of dojo_nb's own modules, of a prepared task's answers or leaderboard, or of the
    installation's secret exists in it."""
    import hashlib

    import dojo_nb
    from dojo_nb import paths
    from dojo_nb.tasks import load_task, prepare_task
    from dojo_nb.tasks.secret import secret_path

    wanted: dict[int, set[str]] = {}
    private = prepare_task(load_task("synthetic-binary-logloss")).private_dir
    assert (private / "answers.csv").is_file() and (private / "leaderboard.csv").is_file()
    secret = secret_path().read_bytes()
    wanted[len(secret)] = {hashlib.sha256(secret).hexdigest()}
    roots = [paths.catalogue_dir(), Path(dojo_nb.__file__).resolve().parent, private]
    for root in roots:
        for path in root.rglob("*"):
            if path.is_file() and not path.is_symlink() and 64 <= path.stat().st_size <= 2_000_000 \
                    and "__pycache__" not in path.parts and path.name != "launcher.py":  # the kernel's own launcher
                wanted.setdefault(path.stat().st_size, set()).add(hashlib.sha256(path.read_bytes()).hexdigest())
    assert len(wanted) > 20
    r = run(hostile, f"""
        import hashlib, os
        wanted = {wanted!r}
        found = []
        for folder, dirs, files in os.walk('/'):
            if folder in ('/proc', '/sys', '/dev'):
                dirs[:] = []
                continue
            for name in files:
                path = os.path.join(folder, name)
                try:
                    size = os.lstat(path).st_size
                    if size in wanted and hashlib.sha256(open(path, 'rb').read()).hexdigest() in wanted[size]:
                        found.append(path)
                except OSError:
                    pass
        print(len(found), found[:5])
    """, timeout=300)
    assert r.status == "ok", r.text
    assert r.text.startswith("0 []"), r.text
