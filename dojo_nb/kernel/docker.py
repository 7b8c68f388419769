"""The ``docker`` backend: one container per kernel, no network, answers out of reach.

The container sees only the episode (``input/`` read-only at /episode/input, ``working/``
and ``submission/`` writable) and the kernel's socket folder, bound at the same path as on
the host so the connection file's ZeroMQ ``ipc`` addresses are valid on both sides: no port
is published. It runs as a non-root user (under a root driver, the kernel's own sandbox uid
from `dojo_nb.kernel.users`; else uid 1000) with all capabilities dropped, no-new-privileges,
a read-only root file system, size-capped /tmp and /dev/shm, memory (the container's
cgroup: every kind), CPU and pid limits, and the disk budget of `dojo_nb.kernel.disk` for
``working/`` and ``submission/``. Interrupts go by message.

Every container carries the label ``dojo-nb`` (the sandbox name) plus the driver's pid and
host, so `gc` can remove the containers of drivers that are gone; the driver also touches a
heartbeat file that the in-container watchdog (kernels/watchdog.py) checks, so a SIGKILLed
driver's kernels stop by themselves within `HEARTBEAT_MAX_AGE_S`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import socket
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from jupyter_client.connect import KernelConnectionInfo
from jupyter_client.provisioning import KernelProvisionerBase
from traitlets import Dict

from dojo_nb import paths
from dojo_nb.kernel import backends, disk, sockets, users
from dojo_nb.kernel.disk import EpisodeDisk
from dojo_nb.kernel.fork import FORKS, Family, Forkable, pid_alive
from dojo_nb.kernel.spec import SandboxPaths, SandboxSpec
from dojo_nb.kernel.users import SandboxUser

IMAGE = os.environ.get("DOJO_NB_DOCKER_IMAGE", "dojo-nb/kernel:latest")
LABEL = "dojo-nb"
KERNEL_UID = 1000
HEARTBEAT_EVERY_S = 5.0
HEARTBEAT_MAX_AGE_S = 30.0
SOCKET_DIR_PREFIX = "d"  # under paths.runtime_dir(); kept short (ipc socket paths cap near 100 bytes)


_said: set[str] = set()


def _say_once(msg: str) -> None:
    """Warn once per process that a limit does not hold here, instead of pretending."""
    if msg not in _said:
        _said.add(msg)
        from dojo_nb.kernel.bwrap import say

        say(msg, stacklevel=3)


def _client():
    import docker

    return docker.from_env(timeout=30)


def docker_unavailable_reason() -> str | None:
    """None when containers can start here (engine reachable, kernel image built), else why not."""
    try:
        import docker  # noqa: F401
    except ImportError:
        return "the docker Python package is not installed"
    try:
        client = _client()
        client.ping()
    except Exception as exc:  # noqa: BLE001
        return f"no Docker engine answers ({type(exc).__name__}); start dockerd"
    try:
        client.images.get(IMAGE)
    except Exception:  # noqa: BLE001
        return f"the kernel image {IMAGE} is missing: run `dojo-nb kernel build`"
    return None


@backends.register
class DockerBackend(backends.Backend):
    """A kernel in its own container, from the image built from kernels/."""

    name = "docker"
    provisioner_name = "dojo-docker"

    def unavailable_reason(self) -> str | None:
        return docker_unavailable_reason()

    def paths(self, spec: SandboxSpec) -> SandboxPaths:
        return SandboxSpec.mounted_paths()


def _container_name(episode: str) -> str:
    """A unique container name; docker allows only [a-zA-Z0-9][a-zA-Z0-9_.-] (the label keeps the real name)."""
    safe = re.sub(r"[^a-zA-Z0-9_.-]+", "-", episode).strip("-.")[:40] or "episode"
    return f"dojo-nb-{safe}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def _labels(name: str) -> dict[str, str]:
    return {LABEL: name, f"{LABEL}.driver-pid": str(os.getpid()), f"{LABEL}.host": socket.gethostname()}


class DockerSandboxProvisioner(Forkable, KernelProvisionerBase):  # type: ignore[misc]
    """jupyter_client provisioner ``dojo-docker``: ipykernel in a locked-down container."""

    sandbox = Dict(config=True, help="The SandboxSpec (as a dict) this kernel runs in.")

    container: Any = None
    run_dir: Path | None = None
    socket_dir: Path | None = None
    user: SandboxUser | None = None
    disk: EpisodeDisk | None = None
    _oom_killed = False
    _spec: SandboxSpec | None = None
    _heartbeat_task: asyncio.Task | None = None
    _exit_code: int | None = None
    _loop: asyncio.AbstractEventLoop | None = None
    _kept_beats: list[asyncio.Task] | None = None  # heartbeats of containers that host forks

    def sandbox_spec(self, cwd: str | None = None) -> SandboxSpec:
        if self._spec is None:
            self._spec = (SandboxSpec.from_dict(dict(self.sandbox)) if self.sandbox
                          else backends.named_start_spec(DockerBackend(), cwd))
        return self._spec

    @property
    def has_process(self) -> bool:
        return self.container is not None

    def _prepare_once(self, spec: SandboxSpec) -> None:
        """Per-kernel state kept across restarts: folders, uid, disk (clients stay connected).

        ``run_dir`` is the driver's; only its ``s/`` is bound into the container: root-owned
        and sticky, so the kernel's user makes its ipc sockets there but cannot unlink or
        replace the connection file or the heartbeat the driver wrote.
        """
        km = self.parent
        self.run_dir = Path(tempfile.mkdtemp(prefix=f"{SOCKET_DIR_PREFIX}{os.getpid()}-", dir=paths.runtime_dir()))
        os.chmod(self.run_dir, 0o711)
        self.socket_dir = self.run_dir / "s"
        self.socket_dir.mkdir()
        os.chmod(self.socket_dir, 0o1777)
        self.user = users.allocate()
        uid = self.user.uid if self.user else KERNEL_UID
        if spec.disk_mb and disk.unavailable_reason() is None:
            self.disk = EpisodeDisk.new(spec.disk_mb, uid, uid)
            self.disk.attach(spec.working_dir, spec.submission_dir, spec.root / FORKS)
        else:
            if spec.disk_mb:
                _say_once(f"dojo-nb docker sandbox: the {spec.disk_mb} MB disk budget for working/ is not "
                          f"enforced ({disk.unavailable_reason()})")
            for sub in (spec.working_dir, spec.submission_dir):
                try:
                    os.chown(sub, uid, uid)
                except PermissionError:
                    os.chmod(sub, 0o777)
        km.transport = "ipc"
        km.ip = str(self.socket_dir / "s")
        km.connection_file = str(self.socket_dir / "c.json")
        self.family, self._kept_beats = Family(), []
        (spec.root / FORKS).mkdir(mode=0o755, exist_ok=True)  # the driver's: forks' files (on the disk)
        launcher = self.socket_dir / sockets.LAUNCHER  # bound with the sockets: the kernel cannot replace it
        shutil.copyfile(Path(__file__).with_name("launcher.py"), launcher)
        os.chmod(launcher, 0o644)

    @property
    def kernel_uid(self) -> int:
        return self.user.uid if self.user else KERNEL_UID

    async def pre_launch(self, **kwargs: Any) -> dict[str, Any]:
        spec = self.sandbox_spec(kwargs.get("cwd"))
        spec.ensure_dirs()
        km = self.parent
        if self.run_dir is None:
            self._prepare_once(spec)
        if spec.gpus is not None:
            from dojo_nb.kernel import gpus

            gpus.require_gpus(spec.gpus)
        km.write_connection_file()
        os.chmod(km.connection_file, 0o644)  # readable by the kernel's user inside
        self.connection_info = km.get_connection_info()
        kwargs["cmd"] = km.format_kernel_cmd(extra_arguments=kwargs.get("extra_arguments"))
        kwargs = await super().pre_launch(**kwargs)
        cmd = list(kwargs["cmd"])
        if cmd and cmd[0] in ("python", "python3", sys.executable):
            cmd[0] = "/opt/venv/bin/python"
        if cmd[1:3] == ["-m", "ipykernel_launcher"] and self.socket_dir is not None:  # a supervisor; forks
            cmd[1:3] = [str(self.socket_dir / sockets.LAUNCHER), "supervise"]
        kwargs["cmd"] = cmd
        return kwargs

    async def launch_kernel(self, cmd: list[str], **kwargs: Any) -> KernelConnectionInfo:
        spec = self.sandbox_spec()
        assert self.socket_dir is not None
        heartbeat = self.socket_dir / "heartbeat"
        heartbeat.touch()
        mounted = SandboxSpec.mounted_paths()
        volumes = {
            str(spec.input_dir): {"bind": mounted.input_dir, "mode": "ro"},
            str(spec.working_dir): {"bind": mounted.working_dir, "mode": "rw"},
            str(spec.submission_dir): {"bind": mounted.submission_dir, "mode": "rw"},
            str(self.socket_dir): {"bind": str(self.socket_dir), "mode": "rw"},
            str(spec.root / FORKS): {"bind": f"{mounted.input_dir.rsplit('/', 1)[0]}/{FORKS}", "mode": "rw"},
        }
        run: dict[str, Any] = dict(
            command=["/opt/venv/bin/python", "/opt/dojo/watchdog.py", str(heartbeat), str(HEARTBEAT_MAX_AGE_S), "--", *cmd],
            detach=True, network_mode="none" if not spec.network else "bridge",
            user=f"{self.kernel_uid}:{self.kernel_uid}", group_add=[], cap_drop=["ALL"],
            security_opt=["no-new-privileges"], read_only=True,
            tmpfs={"/tmp": f"size={int(spec.tmp_mb or 1024)}m,mode=1777,nosuid,nodev"},
            shm_size=f"{int(spec.tmp_mb or 64)}m", volumes=volumes,
            working_dir=mounted.working_dir, labels=_labels(spec.root.name), environment=self._environment(spec),
            name=_container_name(spec.root.name),
        )
        if spec.memory_mb:
            run["mem_limit"] = f"{int(spec.memory_mb)}m"
            run["memswap_limit"] = f"{int(spec.memory_mb)}m"
        if spec.cpus:
            run["nano_cpus"] = int(float(spec.cpus) * 1e9)
        if spec.pids:
            run["pids_limit"] = int(spec.pids)
        if spec.gpus is not None:
            from dojo_nb.kernel import gpus

            run["device_requests"] = gpus.docker_device_requests(spec.gpus)
        client = _client()
        self.container = await asyncio.to_thread(client.containers.run, IMAGE, **run)
        self._exit_code = None
        self._loop = asyncio.get_running_loop()
        self._heartbeat_task = asyncio.create_task(self._beat(heartbeat))
        return self.connection_info

    @staticmethod
    def _environment(spec: SandboxSpec) -> dict[str, str]:
        env = dict(spec.env)
        if spec.gpus is not None:
            from dojo_nb.kernel import gpus

            env = {**gpus.nvidia_visible(spec.gpus), **env}
        return env

    async def _beat(self, heartbeat: Path) -> None:
        while True:
            try:
                os.utime(heartbeat)
            except OSError:
                return
            await asyncio.sleep(HEARTBEAT_EVERY_S)

    def sandbox_root_pids(self) -> list[int]:
        """The containers' inits on this host (the driver must share the engine's host to fork)."""
        pids = []
        for container in ([self.container] if self.container is not None else []) + list(
                self.family.retired if self.family is not None else []):
            try:
                container.reload()
            except Exception:  # noqa: BLE001 - gone: nothing of it to find
                continue
            pid = int(container.attrs.get("State", {}).get("Pid") or 0)
            if pid:
                pids.append(pid)
        return pids

    async def poll(self) -> int | None:
        if self.forked() and self.kernel_pid is not None:
            return None if pid_alive(self.kernel_pid) else -9
        if self.container is None:
            return self._exit_code if self._exit_code is not None else 0
        try:
            await asyncio.to_thread(self.container.reload)
        except Exception:  # noqa: BLE001 - removed from under us: it is not running
            return self._exit_code if self._exit_code is not None else -9
        state = self.container.attrs.get("State", {})
        if state.get("Running"):
            return None
        code = int(state.get("ExitCode", -1))
        if state.get("OOMKilled"):
            code = -9
            self._oom_killed = True
        self._exit_code = code
        return code if code != 0 else 0

    async def wait(self) -> int | None:
        while (code := await self.poll()) is None:
            await asyncio.sleep(0.1)
        return code

    def seal_sockets(self) -> None:
        """Called once the kernel answers: its socket files become the driver's (see `sockets`)."""
        sockets.seal(self.socket_dir)

    def limit_note(self) -> str | None:
        """Which limit ended the kernel, when one did (read after it died)."""
        if self._oom_killed:
            return (f"the container's memory limit ({self.sandbox_spec().memory_mb} MB, counting shared "
                    "memory and /tmp) was reached")
        return None

    def log_tail(self, max_lines: int = 5) -> str:
        """The container's last output lines (why the kernel died or did not start)."""
        container = self.container
        if container is None:
            return ""
        try:
            return container.logs(tail=max_lines).decode(errors="replace").strip()
        except Exception:  # noqa: BLE001
            return ""

    async def send_signal(self, signum: int) -> None:
        if self.signal_kernel(signum):
            return
        if self.container is not None:
            try:
                await asyncio.to_thread(self.container.kill, signum)
            except Exception:  # noqa: BLE001
                pass

    async def kill(self, restart: bool = False) -> None:
        await self.send_signal(9)

    async def terminate(self, restart: bool = False) -> None:
        await self.send_signal(15)

    async def cleanup(self, restart: bool = False) -> None:
        sockets.clear(self.socket_dir)
        if self.forked() and self.family is not None:  # the container hosts forks: it goes with the last
            if self.container is not None:
                self.family.retired.append(self.container)
            if self._heartbeat_task is not None and self._kept_beats is not None:
                self._kept_beats.append(self._heartbeat_task)  # its watchdog must keep seeing the driver
            self.container, self._heartbeat_task, self.kernel_pid = None, None, None
            if not restart:
                self.family.teardown = self._release_after_forks
            return
        if self._heartbeat_task is not None:
            self._heartbeat_task.cancel()
            self._heartbeat_task = None
        if self.container is not None:
            container, self.container = self.container, None
            try:
                await asyncio.to_thread(container.remove, force=True)
            except Exception:  # noqa: BLE001
                pass
        if not restart and self.run_dir is not None:
            if self.disk is not None:
                spec = self.sandbox_spec()
                try:
                    self.disk.detach(spec.working_dir, spec.submission_dir, spec.root / FORKS)
                except OSError:
                    pass
                self.disk = None
            if self.user is not None:
                self.user.release()
                self.user = None
            with contextlib.suppress(OSError):  # a sandbox that never forked looks as it did
                (self.sandbox_spec().root / FORKS).rmdir()
            shutil.rmtree(self.run_dir, ignore_errors=True)
            self.run_dir = self.socket_dir = None

    def _release_after_forks(self) -> None:
        """The deferred end of a sandbox that hosted forks (the containers went in `Family.release`)."""
        loop, beats = self._loop, list(self._kept_beats or [])
        for task in beats:
            if loop is not None and not loop.is_closed():
                loop.call_soon_threadsafe(task.cancel)
        spec = self.sandbox_spec()
        if self.disk is not None:
            with contextlib.suppress(OSError):
                self.disk.detach(spec.working_dir, spec.submission_dir, spec.root / FORKS)
            self.disk = None
        if self.user is not None:
            self.user.release()
            self.user = None
        if self.run_dir is not None:
            with contextlib.suppress(OSError):  # a sandbox that never forked looks as it did
                (self.sandbox_spec().root / FORKS).rmdir()
            shutil.rmtree(self.run_dir, ignore_errors=True)
            self.run_dir = self.socket_dir = None

    async def get_provisioner_info(self) -> dict[str, Any]:
        info = await super().get_provisioner_info()
        info["container_id"] = getattr(self.container, "id", None)
        return info


def gc(all_hosts: bool = False) -> list[str]:
    """Remove labelled containers whose driver process is gone; return their names."""
    import psutil
    from docker.errors import NotFound

    host = socket.gethostname()
    removed = []
    for container in _client().containers.list(all=True, filters={"label": LABEL}):
        labels = container.labels or {}
        try:
            pid = int(labels.get(f"{LABEL}.driver-pid", "0"))
        except ValueError:
            pid = 0
        same_host = labels.get(f"{LABEL}.host") == host
        if same_host and pid and psutil.pid_exists(pid):
            continue
        if not same_host and not all_hosts:
            continue
        try:
            container.remove(force=True)
        except NotFound:  # removed meanwhile (by its driver's close, or another gc)
            continue
        removed.append(container.name)
    _remove_stale_socket_dirs()
    return removed


def _remove_stale_socket_dirs() -> None:
    """Remove socket folders left by killed drivers: their heartbeat stopped (kernel long gone)."""
    now = time.time()
    for folder in paths.runtime_dir().glob(f"{SOCKET_DIR_PREFIX}*"):
        beat = folder / "s" / "heartbeat"
        try:
            age = now - (beat.stat().st_mtime if beat.exists() else folder.stat().st_mtime)
        except OSError:
            continue
        if folder.is_dir() and age > 2 * HEARTBEAT_MAX_AGE_S:
            shutil.rmtree(folder, ignore_errors=True)


def labelled_containers() -> list[Any]:
    return _client().containers.list(all=True, filters={"label": LABEL})
