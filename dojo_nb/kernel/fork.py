"""Fork a live kernel: a second kernel made from the running one's memory (copy-on-write).

`fork_session(parent, child_root)` asks the parent kernel (through `launcher.request_fork`)
to ``os.fork()``; the child kernel starts a fresh ipykernel on its own connection file and
socket folder, around the parent's IPython shell, so every variable, frame and fitted model is
there without a cell being re-run. What the child shares with its parent, and what it does not:

- **the sandbox**: same namespaces (pid, mount, network), same uid, same cgroup, so the same
  limits bound parent and children *together* (a fork cannot leave them); the sandbox lives
  while any of its kernels lives (the launcher's supervisor is a subreaper), and is torn down
  with the last one (`Family`);
- **memory**: copied on write: a change in one kernel is never seen by the other;
- **files**: the child's ``working/`` and ``submission/`` are copies (at fork time, made by
  the parent kernel itself, confined) in ``<parent sandbox>/forks/<key>/`` (root's folders),
  seen by the child at ``/episode/forks/<key>/`` (its cwd) and on the host at
  ``child_root/working`` and ``child_root/submission`` (bind mounts, so a root driver); they
  are copied back into ``child_root`` when the child ends. The guarantee is by path: the
  parent's folder is still reachable by its absolute path from the child;
- **what cannot survive** (threads started by cells, network sockets, CUDA and other device
  contexts, files open in the episode's folders, child processes): the parent refuses to
  fork and `ForkUnsafe` lists them, so the caller can fall back to re-running cells.

A forked kernel that dies is not restarted in place (its state came from another process): its
session starts a cold kernel over the fork's own folders instead (`ForkProvisioner.restarts_cold`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import stat
import subprocess
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from jupyter_client.connect import KernelConnectionInfo
from jupyter_client.provisioning import KernelProvisionerBase

from dojo_nb.kernel import backends, sockets
from dojo_nb.kernel.disk import copy_tree
from dojo_nb.kernel.session import _LIVE, KernelSession, KernelSessionError, SyncKernelSession
from dojo_nb.kernel.spec import EPISODE_MOUNT, SandboxPaths, SandboxSpec

REFUSED = "dojo-fork-refused: "
FORKS = "forks"  # the folder of a sandbox's root (and of /episode) holding its forks' files


class ForkUnavailable(RuntimeError):
    """This kernel cannot be forked here (backend, driver rights); the message says why."""


class ForkUnsafe(ForkUnavailable):
    """The kernel holds something a fork would break; `problems` says what (one line each)."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("the kernel cannot be forked safely: " + "; ".join(problems))
        self.problems = problems


@dataclass
class Family:
    """The kernels of one sandbox: its first kernel's provisioner owns it, forks hold it open."""

    forks: set[Any] = field(default_factory=set)
    teardown: Callable[[], None] | None = None   # the owner's cleanup, deferred while forks live
    retired: list[Any] = field(default_factory=list)  # the owner's earlier sandbox processes
    on_empty: list[Callable[[], Any]] = field(default_factory=list)  # e.g. stop the owner's loop thread

    @property
    def busy(self) -> bool:
        return bool(self.forks)

    def release(self, fork: Any) -> None:
        self.forks.discard(fork)
        if not self.forks:
            for proc in self.retired:  # a Popen (bwrap) or a docker Container: both kill and wait
                with contextlib.suppress(Exception):
                    proc.kill()
                with contextlib.suppress(Exception):
                    proc.wait(timeout=10)
                with contextlib.suppress(Exception):
                    getattr(proc, "remove", lambda **kw: None)(force=True)
            self.retired.clear()
            if self.teardown is not None:
                teardown, self.teardown = self.teardown, None
                teardown()
            while self.on_empty:
                self.on_empty.pop()()


async def on_loop(loop: asyncio.AbstractEventLoop | None, coro: Any) -> Any:
    """Await `coro` on `loop` (where its client's sockets live), from any loop."""
    if loop is None or loop is asyncio.get_running_loop():
        return await coro
    return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, loop))


def ns_pid_to_host(root_pid: int, ns_pid: int, *, nested: bool = False) -> int | None:
    """The host pid of the descendant of `root_pid` whose innermost pid is `ns_pid`; with `nested`,
    of the init of a namespace nested in that one (pid 1 there) whose pid one level up is `ns_pid`."""
    import psutil

    try:
        procs = psutil.Process(root_pid).children(recursive=True)
    except psutil.Error:
        return None
    for proc in procs:
        try:
            with open(f"/proc/{proc.pid}/status") as fh:
                line = next((x for x in fh if x.startswith("NSpid:")), "")
        except OSError:
            continue
        ids = [int(x) for x in line.split()[1:]]
        if nested and len(ids) >= 3 and ids[-2] == ns_pid and ids[-1] == 1:
            return proc.pid
        if not nested and ids and ids[-1] == ns_pid:
            return proc.pid
    return None


def pid_alive(pid: int | None) -> bool:
    import psutil

    if pid is None:
        return False
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


class Forkable:
    """What a backend's provisioner adds to be forked: the family, and its kernel's own host pid."""

    can_fork = True
    family: Family | None = None
    kernel_pid: int | None = None   # learned before the first fork (the sandbox then outlives it)
    sandboxed_paths = True          # the kernel sees /episode/... (False: host paths)

    def sandbox_root_pids(self) -> list[int]:
        """Host pids whose descendants are every process of this kernel's sandboxes (bwrap, the
        container's init): the running one, and earlier ones still hosting forks."""
        raise NotImplementedError

    def forked(self) -> bool:
        """True while forks live in this kernel's sandbox (then only the kernel itself is signalled)."""
        return self.family is not None and self.family.busy

    def host_pid(self, ns_pid: int) -> int | None:
        """The host pid of the kernel of this sandbox that sees itself as `ns_pid`."""
        for root in self.sandbox_root_pids():
            found = ns_pid_to_host(root, ns_pid)
            if found is not None:
                return found
        return None

    async def pin_kernel(self, session: Any) -> None:
        if pid_alive(self.kernel_pid):
            return
        ns_pid = (await session.probe({"pid": "__import__('os').getpid()"}, timeout=10)).get("pid", "")
        self.kernel_pid = self.host_pid(int(ns_pid)) if ns_pid.isdigit() else None
        if self.kernel_pid is None:
            raise ForkUnavailable("the kernel's process was not found in its sandbox (is the engine on this host?)")

    def signal_kernel(self, signum: int) -> bool:
        """While forked: signal only this kernel and its cells' children (its group; forks have their own)."""
        if not self.forked() or self.kernel_pid is None:
            return False
        for send in (os.killpg, os.kill):
            with contextlib.suppress(OSError):
                send(self.kernel_pid, signum)
        return True


def _mount_bind(src: Path, dst: Path) -> None:
    res = subprocess.run(["mount", "--bind", str(src), str(dst)], capture_output=True, text=True)
    if res.returncode != 0:
        raise ForkUnavailable(f"could not bind the fork's files onto {dst}: {res.stderr.strip()[-200:]}")


def _unmount(path: Path) -> None:
    from dojo_nb.kernel.disk import _mounted

    while path.exists() and _mounted(path):
        if subprocess.run(["umount", "-l", str(path)], capture_output=True).returncode != 0:
            break


class ForkProvisioner(KernelProvisionerBase):  # type: ignore[misc]
    """The provisioner of a forked kernel: "launching" is asking the parent kernel to fork.

    It cannot restart a dead fork (its state came from another process): the session then
    starts a cold kernel over the fork's own folders instead (`restarts_cold`)."""

    restarts_cold = True
    exit_code_unknown = True  # its kernel is the sandbox's supervisor's child, not ours

    source: Any = None        # the parent's KernelSession
    owner: Any = None         # the provisioner owning the sandbox (the family's first kernel)
    key: str = ""
    child_spec: SandboxSpec | None = None
    socket_dir: Path | None = None
    files_dir: Path | None = None   # <owner root>/forks/<key> on the host
    kernel_cwd: str = ""
    kernel_paths: SandboxPaths | None = None
    source_loop: asyncio.AbstractEventLoop | None = None  # the parent session's loop (its client lives there)
    pid: int | None = None
    _exit_code: int | None = None
    _launched = False

    @property
    def has_process(self) -> bool:
        return self._launched and self._exit_code is None

    async def pre_launch(self, **kwargs: Any) -> dict[str, Any]:
        if self._launched:  # (the session starts a cold kernel instead: `restarts_cold`)
            raise KernelSessionError("a forked kernel cannot be restarted in place: its state came from another kernel")
        km = self.parent
        assert self.socket_dir is not None
        km.transport = "ipc"
        km.ip = str(self.socket_dir / "s")
        km.connection_file = str(self.socket_dir / "c.json")
        km.write_connection_file()
        os.chmod(km.connection_file, 0o644)
        self.connection_info = km.get_connection_info()
        kwargs["cmd"] = []
        return kwargs

    async def launch_kernel(self, cmd: list[str], **kwargs: Any) -> KernelConnectionInfo:
        self._launched = True
        kc = self.source.kc
        # The kernel copies the fork's files itself, confined: nothing it planted is followed by root.
        copies = [(src, dst) for src, dst in zip((self.source.paths.working_dir, self.source.paths.submission_dir),
                                                 (self.kernel_paths.working_dir, self.kernel_paths.submission_dir))]
        code = (f"__import__('_dojo_fork').request_fork({self.parent.connection_file!r}, {self.kernel_cwd!r}, "
                f"{copies!r})")
        reply = await on_loop(self.source_loop, kc.execute_interactive(
            code, silent=True, store_history=False, timeout=60, output_hook=lambda msg: None))
        content = (reply or {}).get("content") or {}
        if content.get("status") != "ok":
            why = str(content.get("evalue") or content.get("ename") or "no reply")
            if why.startswith(REFUSED):
                raise ForkUnsafe(why[len(REFUSED):].split(" | "))
            raise ForkUnavailable(f"the kernel did not fork: {why}")
        return self.connection_info

    async def poll(self) -> int | None:
        if self._exit_code is None and (self.pid is None or pid_alive(self.pid)):
            return None  # alive (or forked a moment ago: its pid is learned once it answers)
        self._exit_code = -9
        return self._exit_code

    async def wait(self) -> int | None:
        while await self.poll() is None:
            await asyncio.sleep(0.1)
        return self._exit_code

    async def send_signal(self, signum: int) -> None:
        if self.pid is not None:
            with contextlib.suppress(OSError):
                os.killpg(self.pid, signum)  # its own group (it called setsid): its cells' children too
            with contextlib.suppress(OSError):
                os.kill(self.pid, signum)

    async def kill(self, restart: bool = False) -> None:
        await self.send_signal(signal.SIGKILL)

    async def terminate(self, restart: bool = False) -> None:
        await self.send_signal(signal.SIGTERM)

    def seal_sockets(self) -> None:
        sockets.seal(self.socket_dir)

    def log_tail(self, max_lines: int = 5) -> str:
        return self.owner.log_tail(max_lines) if self.owner is not None else ""

    def limit_note(self) -> str | None:
        return self.owner.limit_note() if self.owner is not None else None

    async def cleanup(self, restart: bool = False) -> None:
        sockets.clear(self.socket_dir)
        if restart or self.owner is None:
            return
        if self.pid is not None:
            await self.kill()
            for _ in range(50):
                if not pid_alive(self.pid):
                    break
                await asyncio.sleep(0.05)
            self.pid = None
        self._bring_files_home()
        if self.socket_dir is not None:
            shutil.rmtree(self.socket_dir, ignore_errors=True)
            self.socket_dir = None
        family = getattr(self.owner, "family", None)
        self.owner = None
        if family is not None:
            family.release(self)

    def _bring_files_home(self) -> None:
        """The fork's files into its own episode folder (unbind, copy back), then off the owner's disk."""
        spec, files = self.child_spec, self.files_dir
        if spec is None or files is None:
            return
        for sub, host in (("working", spec.working_dir), ("submission", spec.submission_dir)):
            _unmount(host)
            if (files / sub).is_dir() and not (files / sub).is_symlink():
                with contextlib.suppress(OSError):
                    os.chown(files / sub, 0, 0)  # the family's kernels can no longer reach in
                    os.chmod(files / sub, 0o700)
                    copy_tree(files / sub, host, os.getuid(), os.getgid())
        shutil.rmtree(files, ignore_errors=True)
        self.files_dir = None


def _prepare_files(owner: Any, key: str, child: SandboxSpec) -> Path:
    """The fork's (empty) folders in the owner's forks/, bound onto the child's own; the parent kernel
    fills them. ``forks/`` and ``forks/<key>`` are root's, so no kernel can swap them for a link."""
    forks = owner.sandbox_spec().root / FORKS
    st = os.lstat(forks)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid():
        raise ForkUnavailable(f"{forks} is not the driver's folder; not forking")
    files = forks / key
    files.mkdir(mode=0o755)
    uid = owner.user.uid if owner.user is not None else os.getuid()
    gid = owner.user.gid if owner.user is not None else os.getgid()
    child.ensure_dirs()
    for sub, dst in (("working", child.working_dir), ("submission", child.submission_dir)):
        (files / sub).mkdir(mode=0o755)
        os.chown(files / sub, uid, gid)
        _mount_bind(files / sub, dst)
    return files


def _kernel_side(owner: Any, key: str) -> str:
    """Where the fork's working folder is, as the kernels of the owner's sandbox see it."""
    if getattr(owner, "sandboxed_paths", True):
        return f"{EPISODE_MOUNT}/{FORKS}/{key}/working"
    return str(owner.sandbox_spec().root / FORKS / key / "working")


async def fork_session(parent: KernelSession, child_root: Path, *, timeout: float = 60.0,
                       parent_loop: asyncio.AbstractEventLoop | None = None) -> KernelSession:
    """A started `KernelSession` whose kernel is a fork of `parent`'s, over `child_root`'s folders.

    Raises `ForkUnsafe` (what would break, nothing changed) or `ForkUnavailable`."""
    own = getattr(parent.km, "provisioner", None)
    owner = own.owner if isinstance(own, ForkProvisioner) else own  # a fork's forks live in the same sandbox
    if parent.kc is None or owner is None or not getattr(owner, "can_fork", False):
        raise ForkUnavailable(f"the {parent.backend_name} backend cannot fork this kernel")
    if os.geteuid() != 0:
        raise ForkUnavailable("forking needs a root driver (the fork's files are bind-mounted into its episode)")
    if own is owner:  # the sandbox's own kernel: learn its host pid (a fork's is known)
        await on_loop(parent_loop, owner.pin_kernel(parent))
    spec = SandboxSpec.from_dict({**parent.spec.to_dict(), "root": str(child_root)})
    key = uuid.uuid4().hex[:10]
    files = _prepare_files(owner, key, spec)
    child = KernelSession(spec, parent.backend_name, max_output_bytes=parent.max_output_bytes,
                          text_max_chars=parent.text_max_chars, startup_timeout=timeout,
                          interrupt_grace_s=parent.interrupt_grace_s)
    km = backends.make_kernel_manager(spec, parent.backend)
    prov = ForkProvisioner(kernel_id=str(uuid.uuid4()), kernel_spec=km.kernel_spec, parent=km)
    prov.source, prov.owner, prov.key, prov.child_spec, prov.files_dir = parent, owner, key, spec, files
    prov.kernel_cwd = _kernel_side(owner, key)
    base = prov.kernel_cwd.rsplit("/", 1)[0]
    prov.kernel_paths = SandboxPaths(parent.paths.input_dir, f"{base}/working", f"{base}/submission")
    prov.source_loop = parent_loop
    prov.socket_dir = owner.socket_dir / f"f{key}"
    prov.socket_dir.mkdir()
    os.chmod(prov.socket_dir, 0o1777)  # as the owner's: root-owned and sticky
    km.provisioner = prov
    owner.family.forks.add(prov)
    child.km = km
    _LIVE.add(child)
    try:
        await km.start_kernel()
        await child._connect()
        ns_pid = int((await child.probe({"pid": "__import__('os').getpid()"}, timeout=10)).get("pid", "0"))
        prov.pid = owner.host_pid(ns_pid)
        if prov.pid is None:
            raise ForkUnavailable("the forked kernel's process was not found in its sandbox")
    except BaseException:
        await child._shutdown()
        await prov.cleanup(restart=False)  # again: a start that failed early left the provisioner aside
        raise
    return child


def fork_sync(parent: SyncKernelSession, child_root: Path, *, timeout: float = 60.0) -> SyncKernelSession:
    """`fork_session` for blocking code: the child gets its own event-loop thread, like any session."""
    child = SyncKernelSession.__new__(SyncKernelSession)
    child._loop = asyncio.new_event_loop()
    child._thread = threading.Thread(target=child._loop.run_forever, name="dojo-nb-kernel", daemon=True)
    child._thread.start()
    try:
        coro = fork_session(parent.session, child_root, timeout=timeout, parent_loop=parent._loop)
        child._session = asyncio.run_coroutine_threadsafe(coro, child._loop).result(timeout + 30)
    except BaseException:
        child._loop.call_soon_threadsafe(child._loop.stop)
        child._thread.join(timeout=10)
        raise
    return child


def run_silent(session: SyncKernelSession, code: str, timeout: float = 30.0) -> str:
    """Run `code` with no execution count, history or outputs (the caller's set-up of a fork, say);
    returns the reply's status ("ok", "error")."""
    async def go() -> str:
        kc = session.session.kc
        if kc is None:
            return "error"
        reply = await kc.execute_interactive(code, silent=True, store_history=False, timeout=timeout,
                                             output_hook=lambda msg: None)
        return str(((reply or {}).get("content") or {}).get("status"))

    return session._run(go(), timeout=timeout + 5)


def paths_of(session: SyncKernelSession | KernelSession) -> SandboxPaths:
    """The folders as the kernel sees them: a fork's are its own (its cwd is its working folder)."""
    inner = session.session if isinstance(session, SyncKernelSession) else session
    prov = getattr(inner.km, "provisioner", None)
    if isinstance(prov, ForkProvisioner) and prov.kernel_paths is not None:
        return prov.kernel_paths
    return inner.paths
