"""The ``local`` backend: ipykernel as a child process, inside bubblewrap when available.

The kernel talks to the host over ZeroMQ's ipc transport: its connection file and sockets
live in a short per-kernel folder under `dojo_nb.paths.runtime_dir()` (ipc socket paths
must stay under ~100 bytes), bound into the sandbox at the same path. Under a root driver
the kernel runs as its own unprivileged uid (`dojo_nb.kernel.users`) in its own cgroups
(`dojo_nb.kernel.cgroups`: memory of every kind, pids, cpuset), with a size-capped disk for
``working/`` and ``submission/`` (`dojo_nb.kernel.disk`); the rlimits of
`dojo_nb.kernel.limits` apply as well, and are all that is left for a non-root driver (a
warning at start says which limits are weaker then). The file-system and network
confinement is `dojo_nb.kernel.bwrap`. Without bwrap the kernel still runs (with the
rlimits, in the episode's working folder, with a minimal environment) and a warning says
once that the sandbox is weaker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from jupyter_client.connect import KernelConnectionInfo
from jupyter_client.provisioning import LocalProvisioner
from traitlets import Dict, Unicode

from dojo_nb import paths
from dojo_nb.kernel import backends, cgroups, disk, sockets, users
from dojo_nb.kernel.bwrap import bwrap_argv, bwrap_path, episode_binds, no_bwrap_reason, warn_no_bwrap
from dojo_nb.kernel.bwrap import say as bwrap_say
from dojo_nb.kernel.disk import EpisodeDisk
from dojo_nb.kernel.fork import FORKS, Family, Forkable, pid_alive
from dojo_nb.kernel.limits import make_preexec, pick_cpus, thread_env
from dojo_nb.kernel.spec import SandboxPaths, SandboxSpec
from dojo_nb.kernel.users import SandboxUser

log = logging.getLogger(__name__)

_PYTHON_NAMES = {"python", "python3", "{python}", "{sys.executable}"}


@backends.register
class LocalBackend(backends.Backend):
    """A kernel process on this machine (bubblewrap sandbox when ``bwrap`` is installed)."""

    name = "local"
    provisioner_name = "dojo-local"

    def isolation_gap(self) -> str | None:
        return None if bwrap_path() else no_bwrap_reason()

    def paths(self, spec: SandboxSpec) -> SandboxPaths:
        return SandboxSpec.mounted_paths() if bwrap_path() else spec.host_paths()


def kernel_env(spec: SandboxSpec, kernel_paths: SandboxPaths, home: str, extra: dict[str, str]) -> dict[str, str]:
    """The kernel's whole environment: minimal, so no host secret leaks into a cell."""
    python_bin = os.path.dirname(sys.executable)
    env = {
        "PATH": f"{python_bin}:/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "HOME": home,
        "TMPDIR": "/tmp",
        "IPYTHONDIR": f"{home}/.ipython",
        "MPLCONFIGDIR": f"{home}/.matplotlib",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYDEVD_DISABLE_FILE_VALIDATION": "1",
        "DOJO_INPUT_DIR": kernel_paths.input_dir,
        "DOJO_WORKING_DIR": kernel_paths.working_dir,
        "DOJO_SUBMISSION_DIR": kernel_paths.submission_dir,
    }
    if "VIRTUAL_ENV" in os.environ:
        env["VIRTUAL_ENV"] = sys.prefix
    env.update(thread_env(spec.cpus))
    if spec.gpus is not None:
        from dojo_nb.kernel import gpus

        env.update(gpus.nvidia_visible(spec.gpus))
    env.update(extra)
    env.update(spec.env)
    return env


class LocalSandboxProvisioner(Forkable, LocalProvisioner):  # type: ignore[misc]
    """jupyter_client provisioner ``dojo-local``: starts ipykernel in the local sandbox.

    The sandbox comes from the ``sandbox`` config (a `SandboxSpec` dict, as written by
    `LocalBackend.kernelspec`), else from the JSON file named by ``$DOJO_NB_SANDBOX_SPEC``,
    else the current folder is the episode root.

    Files: ``run_dir`` (driver-only, never in the sandbox) holds the kernel's log and the
    sandbox user's passwd/group files; its ``s/`` (root-owned, sticky, bound into the
    sandbox) holds the connection file and the kernel's ipc sockets, so the kernel can make
    sockets but cannot replace anything the driver wrote.
    """

    sandbox = Dict(config=True, help="The SandboxSpec (as a dict) this kernel runs in.")
    template = Unicode("", config=True, help="The id of a live `KernelTemplate` to spawn this kernel "
                       "from (its imports already loaded); a cold start when it is gone.")

    run_dir: Path | None = None
    socket_dir: Path | None = None
    user: SandboxUser | None = None
    cgroup: cgroups.KernelCgroup | None = None
    disk: EpisodeDisk | None = None
    cpu_set: set[int] | None = None
    _oom_base = 0
    _spec: SandboxSpec | None = None

    def sandbox_spec(self, cwd: str | None = None) -> SandboxSpec:
        if self._spec is None:
            self._spec = (SandboxSpec.from_dict(dict(self.sandbox)) if self.sandbox
                          else backends.named_start_spec(LocalBackend(), cwd))
        return self._spec

    def _prepare_once(self, spec: SandboxSpec, sandboxed: bool) -> None:
        """Per-kernel state kept across restarts: folders, uid, disk (clients stay connected)."""
        km = self.parent
        self.run_dir = Path(tempfile.mkdtemp(prefix=f"k{os.getpid()}-", dir=paths.runtime_dir()))
        self.socket_dir = self.run_dir / "s"
        self.socket_dir.mkdir()
        self.user = users.allocate() if sandboxed else None
        if self.user is not None:
            os.chmod(self.socket_dir, 0o1777)  # sticky: the kernel cannot unlink the driver's files
            os.chmod(self.run_dir, 0o711)
            if spec.disk_mb and disk.unavailable_reason() is None:
                self.disk = EpisodeDisk.new(spec.disk_mb, self.user.uid, self.user.gid)
                self.disk.attach(spec.working_dir, spec.submission_dir, spec.root / FORKS)
            else:
                for sub in (spec.working_dir, spec.submission_dir):
                    os.chown(sub, self.user.uid, self.user.gid)
        km.transport = "ipc"
        km.ip = str(self.socket_dir / "s")
        km.connection_file = str(self.socket_dir / "c.json")
        self.family = Family()
        # The driver's (each fork's folder in it is made by `fork.py`); on the disk when there is
        # one, so forks share the parent's budget.
        (spec.root / FORKS).mkdir(mode=0o755, exist_ok=True)
        launcher = self.socket_dir / sockets.LAUNCHER  # the driver's file: the kernel cannot replace it
        shutil.copyfile(Path(__file__).with_name("launcher.py"), launcher)
        os.chmod(launcher, 0o644)

    async def pre_launch(self, **kwargs: Any) -> dict[str, Any]:
        spec = self.sandbox_spec(kwargs.get("cwd"))
        spec.ensure_dirs()
        km = self.parent
        if km is None:
            raise RuntimeError("the dojo-local provisioner needs a kernel manager as its parent")
        bwrap = bwrap_path()
        if spec.gpus is not None:
            from dojo_nb.kernel import gpus

            gpus.require_gpus(spec.gpus)
            if not bwrap:
                raise RuntimeError("gpus need the bubblewrap sandbox on the local backend")
        if self.run_dir is None:
            self._prepare_once(spec, sandboxed=bool(bwrap))
        assert self.run_dir is not None and self.socket_dir is not None
        say_weak_limits(spec)
        kwargs = await super().pre_launch(**kwargs)
        if self.user is not None:
            os.chmod(km.connection_file, 0o644)  # the kernel's uid reads it; only the driver writes it

        cmd = list(kwargs.pop("cmd"))
        if cmd and cmd[0] in _PYTHON_NAMES:
            cmd[0] = sys.executable
        if cmd[1:3] == ["-m", "ipykernel_launcher"]:  # our launcher: a supervisor, and forks on request
            cmd[1:3] = [str(self.socket_dir / sockets.LAUNCHER), "supervise"]
            self._kernel_argv = cmd[3:]
        self.sandboxed_paths = bool(bwrap)
        if bwrap:
            kernel_paths = SandboxSpec.mounted_paths()
            home = "/tmp"
            cmd = bwrap_argv(bwrap, spec, self.socket_dir, self.user, self._identity_files()) + ["--"] + cmd
        else:
            warn_no_bwrap()
            kernel_paths = spec.host_paths()
            home = str(self.run_dir / "home")
        kwargs["env"] = kernel_env(spec, kernel_paths, home, dict(self.kernel_spec.env or {}))
        kwargs["cwd"] = str(spec.working_dir)
        kwargs["cmd"] = cmd
        return kwargs

    def _identity_files(self) -> dict[str, Path]:
        """/etc/passwd and /etc/group with the sandbox user in them (getpass, pip, torch ask)."""
        if self.user is None or self.run_dir is None:
            return {}
        files = {}
        for name, line in (("passwd", f"dojo:x:{self.user.uid}:{self.user.gid}:dojo-nb sandbox:/tmp:/usr/sbin/nologin"),
                           ("group", f"dojo:x:{self.user.gid}:")):
            try:
                base = Path(f"/etc/{name}").read_text()
            except OSError:
                base = ""
            path = self.run_dir / name
            path.write_text(base.rstrip("\n") + "\n" + line + "\n")
            os.chmod(path, 0o644)
            files[f"/etc/{name}"] = path
        return files

    async def launch_kernel(self, cmd: list[str], **kwargs: Any) -> KernelConnectionInfo:
        spec = self.sandbox_spec()
        assert self.run_dir is not None
        if self.cpu_set is None:  # kept across restarts: the cpuset cgroup is made for it
            self.cpu_set = pick_cpus(spec.cpus) or set()
        cpu_set = self.cpu_set or None
        procs_files: list[str] = []
        if self.user is not None and cgroups.unavailable_reason() is None:
            if self.cgroup is None:
                self.cgroup = cgroups.KernelCgroup.create(f"{os.getpid()}-{self.run_dir.name}", spec.memory_mb,
                                                          spec.pids, cpu_set)
            if not self.forked():
                self.cgroup.kill_all()  # what a previous kernel left (a daemonised child) goes first
            self._oom_base = self.cgroup.oom_kills()
            procs_files = self.cgroup.procs_files()
        log_fd = os.open(self.run_dir / "kernel.log",
                         os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        template = self._usable_template(spec)
        if template is not None:
            try:
                self.process = self._spawn_from(template, spec, kwargs, cpu_set, log_fd)
            finally:
                os.close(log_fd)
            self.pid, self.pgid, self.cwd = self.process.pid, None, kwargs["cwd"]
            return self.connection_info
        with os.fdopen(log_fd, "wb") as log:  # this kernel's own stderr: shown when it crashes
            self.process = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env=kwargs["env"],
                cwd=kwargs["cwd"],
                start_new_session=True,
                close_fds=True,
                preexec_fn=make_preexec(spec.memory_mb, cpu_set, spec.pids, procs_files),
            )
        self.pid = self.process.pid
        try:
            self.pgid = os.getpgid(self.pid)
        except OSError:
            self.pgid = None
        self.cwd = kwargs["cwd"]
        return self.connection_info

    def _usable_template(self, spec: SandboxSpec) -> Any:
        """The template to spawn from, when one is named, alive, and this kernel may use it."""
        if not self.template or self.user is None or getattr(self, "_kernel_argv", None) is None:
            return None
        from dojo_nb.kernel import template as templates

        if templates.unavailable_reason("local", spec):
            return None
        return templates.get(self.template)

    def _spawn_from(self, template: Any, spec: SandboxSpec, kwargs: dict[str, Any], cpu_set: set[int] | None,
                    log_fd: int) -> Any:
        """This kernel, spawned by the template into a sandbox equal to a cold one's (same
        mounts, uid, cgroups, limits); the descriptors it needs are opened here, by the driver."""
        from dojo_nb.kernel import template as templates

        assert self.user is not None and self.socket_dir is not None
        mounted = SandboxSpec.mounted_paths()
        binds = episode_binds(spec) + [(self.socket_dir, str(self.socket_dir), False)]
        binds += [(path, target, True) for target, path in self._identity_files().items()]
        fds: list[int] = []
        try:
            mounts = []
            for src, target, readonly in binds:
                fds.append(templates.clone_mount(src))
                mounts.append([len(fds) - 1, target, readonly])
            groups = []
            for procs in (self.cgroup.procs_files() if self.cgroup is not None else []):
                fds.append(os.open(procs, os.O_WRONLY | os.O_CLOEXEC))
                groups.append(len(fds) - 1)
            fds.append(log_fd)
            request = {"argv": self._kernel_argv, "env": kwargs["env"], "cwd": mounted.working_dir,
                       "uid": self.user.uid, "gid": self.user.gid, "mounts": mounts, "cgroups": groups,
                       "log": len(fds) - 1, "socket_dir": str(self.socket_dir), "tmp_mb": spec.tmp_mb,
                       "memory_mb": spec.memory_mb, "pids": spec.pids,
                       "cpus": sorted(cpu_set) if cpu_set else None, "network": False}
            return template.spawn(request, fds)
        finally:
            for fd in fds[:-1]:  # the last is the log, closed by the caller
                os.close(fd)

    def sandbox_root_pids(self) -> list[int]:
        retired = self.family.retired if self.family is not None else []
        return [p.pid for p in ([self.process] if self.process is not None else []) + retired]

    async def poll(self) -> int | None:
        if self.forked() and self.kernel_pid is not None:
            return None if pid_alive(self.kernel_pid) else -9
        return await super().poll()

    async def wait(self) -> int | None:
        if self.forked():
            while await self.poll() is None:
                await asyncio.sleep(0.05)
            return -9
        return await super().wait()

    async def send_signal(self, signum: int) -> None:
        if not self.signal_kernel(signum):
            await super().send_signal(signum)

    async def kill(self, restart: bool = False) -> None:
        if not self.forked() and self.process is not None:
            _kill_descendants(self.process.pid)  # without bwrap the kernel has its own group
        await super().kill(restart=restart)

    def log_tail(self, max_lines: int = 5) -> str:
        """The last lines the kernel process (or bwrap) wrote to its stderr: why it died, often."""
        if self.run_dir is None:
            return ""
        try:
            fd = os.open(self.run_dir / "kernel.log", os.O_RDONLY | os.O_NOFOLLOW)
            with os.fdopen(fd, "rb") as fh:
                fh.seek(0, os.SEEK_END)
                fh.seek(max(0, fh.tell() - 8192))
                lines = fh.read().decode(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(lines[-max_lines:])

    def seal_sockets(self) -> None:
        """Called once the kernel answers: its socket files become the driver's (see `sockets`)."""
        sockets.seal(self.socket_dir)

    def limit_note(self) -> str | None:
        """Which limit ended the kernel, when one did (read after it died)."""
        spec = self.sandbox_spec()
        if self.cgroup is not None and self.cgroup.oom_kills() > self._oom_base:
            return f"the sandbox's memory limit ({spec.memory_mb} MB, counting shared memory and /tmp) was reached"
        return None

    async def cleanup(self, restart: bool = False) -> None:
        await super().cleanup(restart=restart)
        if self.forked():  # the sandbox hosts forks: it goes with the last of them
            sockets.clear(self.socket_dir)
            if self.process is not None and self.family is not None:
                self.family.retired.append(self.process)
            self.process, self.kernel_pid = None, None
            if not restart and self.family is not None:
                self.family.teardown = lambda: self._release(restart=False)
            return
        self._release(restart)

    def _release(self, restart: bool) -> None:
        """Remove what this kernel's sandbox held: sockets, cgroup, and at the end disk, uid, folders."""
        sockets.clear(self.socket_dir)
        if self.cgroup is not None:
            if restart:
                self.cgroup.kill_all()
            else:
                self.cgroup.remove()
                self.cgroup = None
        if not restart and self.run_dir is not None:
            if self.disk is not None:
                spec = self.sandbox_spec()
                try:
                    self.disk.detach(spec.working_dir, spec.submission_dir, spec.root / FORKS)
                except OSError as exc:
                    log.warning("dojo-nb: could not detach the disk of %s: %s", spec.root, exc)
                self.disk = None
            if self.user is not None:
                self.user.release()
                self.user = None
            with contextlib.suppress(OSError):  # a sandbox that never forked looks as it did
                (self.sandbox_spec().root / FORKS).rmdir()
            shutil.rmtree(self.run_dir, ignore_errors=True)
            self.run_dir = self.socket_dir = None


def _kill_descendants(pid: int) -> None:
    import psutil

    try:
        procs = psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            proc.kill()


_said: set[str] = set()


def weak_limits(spec: SandboxSpec) -> list[str]:
    """One line per limit of `spec` this machine cannot enforce for local kernels (empty: all hold)."""
    lines = []
    if not bwrap_path():
        return ["no bubblewrap: no file-system, network or uid isolation; memory is RLIMIT_DATA (heap only), "
                "no disk budget"]
    if os.geteuid() == 0:
        if cgroups.unavailable_reason():
            lines.append(f"memory counts the heap only (RLIMIT_DATA), pids and CPUs are per-uid rlimits and "
                         f"affinity: no cgroups ({cgroups.unavailable_reason()})")
        if spec.disk_mb and disk.unavailable_reason():
            lines.append(f"the {spec.disk_mb} MB disk budget for working/ is not enforced ({disk.unavailable_reason()})")
    else:
        lines.append("memory counts the heap only (RLIMIT_DATA), pids (RLIMIT_NPROC) count all of this user's "
                     "processes, CPU pinning can be undone by a cell: these need cgroups, so a root driver")
        if spec.disk_mb:
            lines.append(f"the {spec.disk_mb} MB disk budget for working/ is not enforced (needs a root driver)")
    return lines


def say_weak_limits(spec: SandboxSpec) -> None:
    """Warn once per process and message which limits do not hold here, instead of pretending."""
    if not bwrap_path():
        return  # warn_no_bwrap says it, louder
    for line in weak_limits(spec):
        if line not in _said:
            _said.add(line)
            bwrap_say(f"dojo-nb local sandbox: {line}", stacklevel=4)
