"""A template kernel: the usual stack imported once, every pooled kernel spawned from it by fork.

A cold kernel spends its first seconds, and about 190 MB of its own memory, importing numpy,
pandas and scikit-learn. `KernelTemplate` starts one process that imports them (and the
kernel's own modules) once, in a sandbox of its own with no episode in it, and then, on each
request, forks a kernel that enters *its own* sandbox: its own cgroups, mount, pid, network,
uts, ipc and cgroup namespaces, its own /proc, /tmp and /dev/shm, its episode's folders and
socket folder (passed as file descriptors, never as paths the template would resolve), its own
uid with no capability left and no_new_privs. The kernel then starts ipykernel as a cold one
would, but its ``import pandas`` finds the module already loaded, in memory shared
copy-on-write with the template and every other kernel spawned from it.

What the template is trusted with: it runs as root with CAP_SYS_ADMIN (and the uid
capabilities) inside its sandbox, because it sets up each kernel's namespaces before that
kernel drops to its uid; it only ever runs the imports the driver names, never a cell, and
no kernel can reach it (another pid namespace, no socket to it, a different uid).

Needs: the ``local`` backend with bubblewrap and a root driver (as CI runs), no GPUs and no
network for the kernel. Anything else (`unavailable_reason`) and the pool starts cold kernels
instead, and says why. The in-sandbox side is `dojo_nb.kernel.template_launcher`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from dojo_nb import paths
from dojo_nb.kernel import sockets
from dojo_nb.kernel.bwrap import bwrap_argv, bwrap_path, setpriv_path
from dojo_nb.kernel.fork import ns_pid_to_host, pid_alive
from dojo_nb.kernel.spec import SandboxSpec

log = logging.getLogger(__name__)

#: What a template imports by default: what nearly every episode's first cell imports.
DEFAULT_IMPORTS = ("numpy", "pandas", "sklearn", "sklearn.model_selection", "sklearn.linear_model",
                   "sklearn.ensemble", "sklearn.metrics", "sklearn.preprocessing")

#: The template's program (`template_launcher.py`), copied beside the kernel launcher it imports.
TEMPLATE_LAUNCHER = "dojo_ipykernel_launcher_template.py"

_TEMPLATES: dict[str, KernelTemplate] = {}


class TemplateError(RuntimeError):
    """The template could not start or spawn a kernel; the message says why."""


def unavailable_reason(backend: str, spec: SandboxSpec | None = None) -> str | None:
    """None when kernels of `backend` (and `spec`) can be spawned from a template here, else why not."""
    if backend != "local":
        return f"the {backend} backend has no template kernels (only local with bubblewrap)"
    if bwrap_path() is None:
        return "no bubblewrap: a template kernel needs it to give each kernel its own sandbox"
    if os.geteuid() != 0:
        return "a template kernel needs a root driver (each kernel gets its own uid and namespaces)"
    if setpriv_path() is None:
        return "setpriv (util-linux) is missing"
    if spec is not None and spec.gpus is not None:
        return "kernels with GPUs start cold (a template holds no device)"
    if spec is not None and spec.network:
        return "kernels with network access start cold (the template has no network)"
    return None


_OPEN_TREE, _OPEN_TREE_CLONE, _AT_RECURSIVE = 428, 1, 0x8000  # the same number on x86_64 and arm64


def clone_mount(path: str | os.PathLike[str], recursive: bool = False) -> int:
    """A detached copy of the bind mount of `path` (open_tree(2) OPEN_TREE_CLONE), as a file
    descriptor: a kernel spawned in another mount namespace attaches it there (move_mount(2));
    a plain descriptor of the folder could not be bound across namespaces."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    flags = _OPEN_TREE_CLONE | os.O_CLOEXEC | (_AT_RECURSIVE if recursive else 0)
    fd = libc.syscall(_OPEN_TREE, -100, os.fsencode(os.fspath(path)), flags)  # -100: AT_FDCWD
    if fd < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"open_tree {path}: {os.strerror(err)}")
    return int(fd)


def get(template_id: str) -> KernelTemplate | None:
    """The live template of this id (the provisioner's config names it), or None."""
    template = _TEMPLATES.get(template_id)
    return template if template is not None and template.alive() else None


# --- one long-lived thread starts every template sandbox -------------------------------------
# bwrap's --die-with-parent (PR_SET_PDEATHSIG) fires when the *thread* that started it ends, and
# a template's sandbox must outlive the pool that started it (its kernels live in it) until this
# process ends. So templates are started from this thread, which never ends.
_starts: queue.Queue[tuple[Callable[[], Any], queue.Queue[Any]]] = queue.Queue()
_starter: threading.Thread | None = None
_starter_lock = threading.Lock()


def _run_starts() -> None:
    while True:
        job, answer = _starts.get()
        try:
            answer.put((job(), None))
        except BaseException as exc:  # noqa: BLE001 - handed back to the caller
            answer.put((None, exc))


def _on_starter(job: Callable[[], Any]) -> Any:
    global _starter
    with _starter_lock:
        if _starter is None:
            _starter = threading.Thread(target=_run_starts, name="dojo-nb-template-starter", daemon=True)
            _starter.start()
    answer: queue.Queue[Any] = queue.Queue()
    _starts.put((job, answer))
    result, exc = answer.get()
    if exc is not None:
        raise exc
    return result


@dataclass
class SpawnedProcess:
    """A kernel sandbox spawned by a template, seen as a `subprocess.Popen` by the provisioner:
    its init is the template's sandbox's child, not ours, so it is watched by pid."""

    pid: int
    returncode: int | None = None  # -9 once gone, whatever the code (the template's sandbox reaped it)
    exit_code_unknown = True
    stdin: Any = None
    stdout: Any = None
    stderr: Any = None

    def poll(self) -> int | None:
        if self.returncode is None and not pid_alive(self.pid):
            self.returncode = -9
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(f"pid {self.pid}", timeout or 0)
            time.sleep(0.05)
        return int(self.returncode or 0)

    def send_signal(self, signum: int) -> None:
        if self.poll() is None:
            with contextlib.suppress(OSError):
                os.kill(self.pid, signum)

    def kill(self) -> None:
        import signal

        self.send_signal(signal.SIGKILL)  # the init of its pid namespace: every process there goes

    def terminate(self) -> None:
        self.kill()


@dataclass
class KernelTemplate:
    """One template process and its sandbox: `start`, then `spawn` kernels, then `close`."""

    imports: tuple[str, ...] = DEFAULT_IMPORTS
    cpus: float | None = 1.0
    template_id: str = field(default_factory=lambda: os.urandom(4).hex())
    ready_seconds: float | None = None
    failed_imports: dict[str, str] = field(default_factory=dict)
    spawned: int = 0
    _process: subprocess.Popen[bytes] | None = None
    _control: socket.socket | None = None
    _run_dir: Path | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _kernels: list[SpawnedProcess] = field(default_factory=list)

    def start(self, timeout: float = 180.0) -> KernelTemplate:
        """Start the template's sandbox and wait until its imports are done."""
        why = unavailable_reason("local")
        if why:
            raise TemplateError(why)
        from dojo_nb.kernel.limits import thread_env

        self._run_dir = Path(tempfile.mkdtemp(prefix=f"t{os.getpid()}-", dir=paths.runtime_dir()))  # gc knows its driver
        socket_dir = self._run_dir / "s"
        socket_dir.mkdir()
        os.chmod(self._run_dir, 0o711)
        for source, name in (("launcher.py", sockets.LAUNCHER), ("template_launcher.py", TEMPLATE_LAUNCHER)):
            shutil.copyfile(Path(__file__).with_name(source), socket_dir / name)
            os.chmod(socket_dir / name, 0o644)
        launcher = socket_dir / TEMPLATE_LAUNCHER
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        bwrap = bwrap_path()
        assert bwrap is not None
        spec = SandboxSpec(root=self._run_dir / "none", cpus=self.cpus, tmp_mb=64)
        cmd = bwrap_argv(bwrap, spec, socket_dir, template=True) + [
            "--", sys.executable, str(launcher), str(theirs.fileno()), *self.imports]
        python_bin = os.path.dirname(sys.executable)
        env = {"PATH": f"{python_bin}:/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": "/tmp",
               "TMPDIR": "/tmp", "PYTHONDONTWRITEBYTECODE": "1", "MPLCONFIGDIR": "/tmp/.matplotlib",
               **thread_env(self.cpus)}
        if "VIRTUAL_ENV" in os.environ:
            env["VIRTUAL_ENV"] = sys.prefix
        log_path = self._run_dir / "template.log"

        def launch() -> subprocess.Popen[bytes]:
            with open(log_path, "wb") as log_file:
                return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log_file, stderr=log_file, env=env,
                                        cwd="/", start_new_session=True, pass_fds=(theirs.fileno(),))

        try:
            self._process = _on_starter(launch)
        finally:
            theirs.close()
        self._control = ours
        ours.settimeout(timeout)
        try:
            hello = json.loads(ours.recv(1 << 20) or b"{}")
        except (OSError, ValueError) as exc:
            self.close()
            raise TemplateError(f"the template kernel did not start: {exc}; {self.log_tail()}") from exc
        if not hello.get("ready"):
            self.close()
            raise TemplateError(f"the template kernel did not start: {self.log_tail() or 'no word from it'}")
        if hello.get("threads"):
            self.close()
            raise TemplateError(f"importing {self.imports} started threads ({hello['threads']}), which a "
                                "spawned kernel would lack; leave those modules out")
        self.ready_seconds = float(hello.get("seconds") or 0.0)
        self.failed_imports = dict(hello.get("failed") or {})
        if self.failed_imports:
            log.warning("template kernel: could not import %s", ", ".join(self.failed_imports))
        _TEMPLATES[self.template_id] = self
        return self

    def alive(self) -> bool:
        return self._control is not None and self._process is not None and self._process.poll() is None

    def spawn(self, request: dict[str, Any], fds: list[int], timeout: float = 60.0) -> SpawnedProcess:
        """A kernel in its own sandbox (see `template_launcher` for `request`); the
        host pid of that sandbox's init. `fds` are the request's file descriptors (kept by the caller)."""
        with self._lock:
            if not self.alive() or self._control is None or self._process is None:
                raise TemplateError("the template kernel is not running")
            self._control.settimeout(timeout)
            try:
                socket.send_fds(self._control, [json.dumps(request).encode()], fds)
                answer = json.loads(self._control.recv(1 << 16) or b"{}")
            except (OSError, ValueError) as exc:
                raise TemplateError(f"the template kernel did not answer: {exc}") from exc
            if "pid" not in answer:
                raise TemplateError(f"the template could not spawn a kernel: {answer.get('error', answer)}")
            # The spawned sandbox's init: pid 1 in its own namespace, nested in the template's.
            host = ns_pid_to_host(self._process.pid, int(answer["pid"]), nested=True)
            if host is None:
                raise TemplateError("the spawned kernel's process was not found")
            self.spawned += 1
            kernel = SpawnedProcess(host)
            self._kernels = [k for k in self._kernels if k.poll() is None] + [kernel]
            return kernel

    def log_tail(self, max_lines: int = 8) -> str:
        if self._run_dir is None:
            return ""
        with contextlib.suppress(OSError):
            return "\n".join((self._run_dir / "template.log").read_text(errors="replace").splitlines()[-max_lines:])
        return ""

    def close(self, timeout: float = 10.0) -> None:
        """Stop serving: the template process ends; its sandbox stays while kernels it spawned
        live (they are inside it), and goes with the last (or with this process). With none
        left, this waits (up to `timeout`) until the sandbox is gone."""
        _TEMPLATES.pop(self.template_id, None)
        with self._lock:
            if self._control is not None:
                with contextlib.suppress(OSError):
                    self._control.close()
                self._control = None
        if self._process is not None and not any(k.poll() is None for k in self._kernels):
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._process.wait(timeout)
        _RETIRED.append(self)
        reap()

    def _finished(self) -> bool:
        if self._process is not None and self._process.poll() is None:
            return False
        if self._run_dir is not None:
            shutil.rmtree(self._run_dir, ignore_errors=True)
            self._run_dir = None
        return True

    def __enter__(self) -> KernelTemplate:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


_RETIRED: list[KernelTemplate] = []


def reap() -> None:
    """Forget closed templates whose sandbox has ended (the last kernel in it is gone)."""
    _RETIRED[:] = [t for t in _RETIRED if not t._finished()]
