"""Template kernels (`dojo_nb.kernel.template`): the stack imported once, each kernel spawned from
it into a sandbox of its own. What is shared is memory (copy-on-write) and nothing else: each
kernel has its own namespaces, uid, folders and limits, cannot reach the template or another
kernel, and outlives the template; nothing is left once all are closed.

The attacks of `test_attacks.py` also run on spawned kernels (its ``local-template`` case).
Needs the root-driver sandbox (bwrap, root), as CI has.
"""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import psutil
import pytest

from dojo_nb.kernel import SandboxSpec, SyncKernelSession
from dojo_nb.kernel.fork import fork_sync
from dojo_nb.kernel.pool import KernelPool
from dojo_nb.kernel.template import KernelTemplate, SpawnedProcess, TemplateError, unavailable_reason

from .conftest import TEMPLATE, backend_or_skip, kernel_processes


@pytest.fixture(autouse=True)
def _template_can_run(monkeypatch: pytest.MonkeyPatch) -> None:
    backend_or_skip(TEMPLATE, monkeypatch)


@pytest.fixture
def template():
    t = KernelTemplate(("numpy", "pandas")).start()
    try:
        yield t
    finally:
        t.close()


def _spec(root: Path, **limits) -> SandboxSpec:
    spec = SandboxSpec(root=root, **limits)
    spec.ensure_dirs()
    (spec.input_dir / "train.csv").write_text("a,b\n1,2\n")
    return spec


def _spawn(template: KernelTemplate, root: Path, **limits) -> SyncKernelSession:
    session = SyncKernelSession(_spec(root, **limits), "local",
                                provisioner_config={"template": template.template_id}).start()
    assert isinstance(session.session.km.provisioner.process, SpawnedProcess), "started cold, not spawned"
    return session


def _run(session: SyncKernelSession, code: str, timeout: float = 60) -> str:
    r = session.execute(textwrap.dedent(code), timeout=timeout)
    assert r.status == "ok", r.text
    return r.text


WHO = """
import json, os, socket, sys
status = dict(l.split(':', 1) for l in open('/proc/self/status').read().splitlines() if ':' in l)
print(json.dumps({
    'preloaded': 'pandas' in sys.modules,
    'uid': os.getuid(), 'caps': status['CapEff'].strip(), 'bnd': status['CapBnd'].strip(),
    'nonewprivs': status['NoNewPrivs'].strip(), 'pids': sorted(int(p) for p in os.listdir('/proc') if p.isdigit()),
    'init_fds': sorted(os.listdir('/proc/1/fd')), 'host': socket.gethostname(), 'cwd': os.getcwd(),
    'tmp': sorted(os.listdir('/tmp')), 'input': os.listdir(os.environ['DOJO_INPUT_DIR']),
    'ifaces': [name for _, name in socket.if_nameindex()],
}))
"""


def test_a_spawned_kernel_has_the_stack_loaded_and_a_sandbox_of_its_own(template: KernelTemplate,
                                                                        tmp_path: Path) -> None:
    with _spawn(template, tmp_path / "a") as a, _spawn(template, tmp_path / "b") as b:
        seen_a = json.loads(_run(a, WHO))
        seen_b = json.loads(_run(b, WHO))
    for seen in (seen_a, seen_b):
        assert seen["preloaded"], "the template's imports are not in the kernel"
        assert seen["uid"] != 0 and seen["caps"] == "0000000000000000" and seen["bnd"] == "0000000000000000"
        assert seen["nonewprivs"] == "1"
        # Its own pid namespace: its supervisor (1), its kernel, and what the cell runs; no template.
        assert seen["pids"][:2] == [1, 2] and len(seen["pids"]) <= 4, seen["pids"]
        assert seen["init_fds"] == ["0", "1", "2"], "the supervisor holds a descriptor it should not"
        assert seen["host"] == "dojo" and seen["cwd"] == "/episode/working"
        assert seen["input"] == ["train.csv"] and seen["ifaces"] == ["lo"]
        assert ".ipython" in seen["tmp"] and len(seen["tmp"]) <= 3, seen["tmp"]  # a fresh /tmp
    assert seen_a["uid"] != seen_b["uid"], "two episodes share a uid"


def test_kernels_of_one_template_share_no_memory_or_file(template: KernelTemplate, tmp_path: Path) -> None:
    with _spawn(template, tmp_path / "a") as a, _spawn(template, tmp_path / "b") as b:
        _run(a, "import os, pandas\npandas.marker = 'a'\nopen('secret.txt', 'w').write('only a')\n"
                "open('/tmp/t.txt', 'w').write('a')\nopen('/dev/shm/s', 'w').write('a')\npty = os.openpty()")
        assert _run(b, "import os; print(sorted(os.listdir('/dev/pts')))").strip() == "['ptmx']"
        found = _run(b, """
            import os, pandas
            hits = []
            for top in ('/episode', '/tmp', '/dev', '/run', '/var', '/etc', '/home', '/root'):
                for folder, _dirs, files in os.walk(top):
                    hits += [os.path.join(folder, f) for f in files if f in ('secret.txt', 't.txt', 's')]
            print(getattr(pandas, 'marker', None), hits)
        """)
        assert found.strip() == "None []", found
        assert (tmp_path / "a" / "working" / "secret.txt").read_text() == "only a"
        assert not (tmp_path / "b" / "working" / "secret.txt").exists()


def test_no_descriptor_of_a_kernel_reaches_the_template(template: KernelTemplate, tmp_path: Path) -> None:
    """The template's control socket (and any of its descriptors) is in none of a kernel's processes."""
    with _spawn(template, tmp_path / "a") as a:
        init = psutil.Process(a.session.km.provisioner.process.pid)
        procs = [init, *init.children(recursive=True)]
        sandbox = psutil.Process(template._process.pid)
        spawned = {p.pid for p in procs}
        theirs = set()
        for proc in [sandbox, *sandbox.children(recursive=True)]:
            if proc.pid in spawned:
                continue
            for fd in os.listdir(f"/proc/{proc.pid}/fd"):
                link = os.readlink(f"/proc/{proc.pid}/fd/{fd}")
                if link.startswith("socket:"):
                    theirs.add(link)
        assert theirs, "the template's control socket was not found"
        for proc in procs:
            links = {os.readlink(f"/proc/{proc.pid}/fd/{fd}") for fd in os.listdir(f"/proc/{proc.pid}/fd")}
            assert not links & theirs, f"{proc.pid} holds the template's {links & theirs}"


def test_limits_of_the_episode_bind_a_spawned_kernel(template: KernelTemplate, tmp_path: Path) -> None:
    with _spawn(template, tmp_path / "a", memory_mb=400, pids=32) as a:
        r = a.execute("x = bytearray(900 << 20)\nx[::4096] = b'x' * len(x[::4096])", timeout=120)
        assert r.status in ("crashed", "error"), r.text
        if r.status == "crashed":
            assert "memory limit (400 MB" in r.text, r.text
        first = a.session.km.provisioner.process.pid
        r = a.execute("import os; os._exit(3)", timeout=60)
        assert r.status == "crashed", r.text
        # The restarted kernel is spawned from the template again, in the same sandbox.
        again = a.session.km.provisioner.process
        assert isinstance(again, SpawnedProcess) and again.pid != first
        assert _run(a, "import sys; print('pandas' in sys.modules)").strip() == "True"


def test_the_template_may_go_first_and_nothing_is_left(tmp_path: Path) -> None:
    t = KernelTemplate(("numpy",)).start()
    sandbox = t._process
    a = _spawn(t, tmp_path / "a")
    try:
        t.close()
        assert _run(a, "print(6 * 7)").strip() == "42"  # its kernels live on in the template's sandbox
        assert sandbox.poll() is None
        # Once the template is gone a restart starts the kernel cold, in the same sandbox.
        a.restart()
        assert not isinstance(a.session.km.provisioner.process, SpawnedProcess)
        assert _run(a, "import os; print(os.getcwd())").strip() == "/episode/working"
    finally:
        a.close()
    sandbox.wait(timeout=20)  # the last kernel gone, the template's sandbox goes
    assert not kernel_processes(ours=True)


def test_a_bad_request_is_refused_and_the_template_serves_on(template: KernelTemplate, tmp_path: Path) -> None:
    with pytest.raises(TemplateError, match="could not spawn"):
        template.spawn({"argv": []}, [])
    null = os.open("/dev/null", os.O_WRONLY)
    try:  # a request for a root kernel: it never gets one
        with pytest.raises(TemplateError, match="not dropped"):
            template.spawn({"argv": [], "env": {}, "cwd": "/", "uid": 0, "gid": 0, "mounts": [], "log": 0,
                            "socket_dir": "/nonexistent"}, [null])
    finally:
        os.close(null)
    with _spawn(template, tmp_path / "a") as a:
        assert _run(a, "print(1)").strip() == "1"


def test_a_spawned_kernel_can_be_forked(template: KernelTemplate, tmp_path: Path) -> None:
    with _spawn(template, tmp_path / "parent") as parent:
        _run(parent, "import numpy as np\nv = np.arange(5)")
        child = fork_sync(parent, tmp_path / "child")
        try:
            assert _run(child, "print(int(v.sum()))").strip() == "10"
        finally:
            child.close()


def test_the_pool_spawns_from_a_template_and_its_kernels_outlive_it(tmp_path: Path) -> None:
    pool = KernelPool("local", 2, staging_dir=tmp_path, imports=("numpy", "pandas")).start()
    try:
        assert pool.wait_ready(timeout=180) == 2
        assert pool.template is not None and pool.template_note is None
        assert pool.stats.from_template == 2 and pool.stats.template_ready_s is not None
        session = pool.acquire(tmp_path / "episode")
        assert session is not None
    finally:
        pool.close()
    try:
        r = session.execute("import sys; print('pandas' in sys.modules)", timeout=60)
        assert r.status == "ok" and r.text.strip() == "True" and r.execution_count == 1, r
    finally:
        session.close()
    assert not kernel_processes(ours=True)


def test_where_no_template_can_run_each_pooled_kernel_imports_itself(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    assert "docker" in (unavailable_reason("docker") or "")
    pool = KernelPool("local", 1, staging_dir=tmp_path, imports=("numpy",), use_template=False).start()
    try:
        assert pool.wait_ready(timeout=180) == 1
        assert pool.template is None and "imports numpy itself" in (pool.template_note or "")
        session = pool.acquire(tmp_path / "episode")
    finally:
        pool.close()
    with session:
        r = session.execute("import sys; print('numpy' in sys.modules)", timeout=60)
        assert r.text.strip() == "True" and r.execution_count == 1, r


MOUNTS = """
import os, re
rows = set()
for line in open('/proc/self/mountinfo'):
    f = line.split()
    opts = ','.join(o for o in f[5].split(',') if o in ('ro', 'rw', 'nosuid', 'nodev'))
    rows.add(re.sub(r'/k[0-9]+-[a-z0-9_]+/s$', '/SOCKETS', f[4]) + ' ' + opts)
print('\\n'.join(sorted(rows)))
"""


def test_a_spawned_kernels_mount_table_is_a_cold_kernels(template: KernelTemplate, tmp_path: Path) -> None:
    """Same mounts with the same flags, the template's own gone (its /proc, /tmp, passwd, sockets)."""
    with _spawn(template, tmp_path / "a") as spawned, \
            SyncKernelSession(_spec(tmp_path / "b"), "local").start() as cold:
        theirs = set(_run(spawned, MOUNTS).splitlines())
        ours = set(_run(cold, MOUNTS).splitlines())
    runtime = {row for row in theirs - ours if row.split()[0].endswith(f"/dojo-nb-{os.getuid()}")}
    assert theirs - runtime == ours, (sorted(theirs - ours), sorted(ours - theirs))
